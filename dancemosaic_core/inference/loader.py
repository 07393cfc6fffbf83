"""A trained DanceMosaic model for inference: the four stage checkpoints read from one directory.

    MODEL_DIR/tokenizer/   RVQ-VAE (stage 1)             required
    MODEL_DIR/t2m/         T2M + residual transformer     required
    MODEL_DIR/music/       music tower (stage 3)          optional
    MODEL_DIR/pose/        pose tower (stage 4)           optional
    MODEL_DIR/motion_stats.json   the training corpus's dance speed per genre (data/stats.py;
                                  beat-aware ITTO's energy floor)   optional
    MODEL_DIR/prompt_embeddings.pt  the genre prompts' text embeddings (text/prompt_cache.py: the
                                  text encoder is loaded only for other prompts)   optional

Each is a checkpoint directory as `dancemosaic train` writes it (<out_dir>/checkpoint); the
directory may also hold those run directories (MODEL_DIR/tokenizer/checkpoint/...).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.models.checkpoint import MOTION_STATS_FILE, load_checkpoint, load_normalizer
from dancemosaic_core.models.mask_transformer import T2MModel
from dancemosaic_core.models.tokenizer import MotionTokenizer
from dancemosaic_core.models.towers import MultiTowerModel
from dancemosaic_core.motion.bones import project_bone_lengths
from dancemosaic_core.motion.normalize import Normalizer
from dancemosaic_core.motion.representation import features_to_joints
from dancemosaic_core.motion.skeleton import TOKEN_DOWNSAMPLE
from dancemosaic_core.text import TextEncoder
from dancemosaic_core.text.prompt_cache import LazyTextEncoder, read_prompt_embeddings
from dancemosaic_core.text.prompts import genre_prompt

# the shipped model (scripts/train_default.sh), used when no model directory is given
DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[1] / "weights" / "default"
PARTS = ("tokenizer", "t2m", "music", "pose")
MOMASK_WINDOW_TOKENS = 49     # MoMask's longest training motion: 196 frames, 9.8 s


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DanceMosaicError(f"device {device} asked for but CUDA is not available; use --device cpu or auto")
    return device


def _part_dir(model_dir: Path, part: str) -> Path | None:
    for cand in (model_dir / part, model_dir / part / "checkpoint"):
        if (cand / "config.json").is_file():
            return cand
    return None


def trained_window_tokens(t2m_config: dict, default: int = MOMASK_WINDOW_TOKENS) -> int:
    """Tokens per training window of the T2M (train_config.data.window_frames / 4); 49 (MoMask's
    196 frames) for checkpoints that do not record it. Sinusoidal positions past the trained
    length are never seen in training, so inference windows stay within it."""
    frames = (t2m_config.get("train_config") or {}).get("data", {}).get("window_frames")
    return int(frames) // TOKEN_DOWNSAMPLE if frames else default


@dataclass
class DanceModel:
    tokenizer: MotionTokenizer
    t2m: T2MModel
    multi_tower: MultiTowerModel           # base transformer + music and pose towers (logits)
    text_encoder: TextEncoder
    normalizer: Normalizer
    genres: list[str]
    device: torch.device
    max_tokens: int = MOMASK_WINDOW_TOKENS   # the longest window the transformers were trained on
    source: str = ""
    dance_speed: dict[str, float] = field(default_factory=dict)   # corpus m/s: "all" and per genre

    @classmethod
    def from_pretrained(cls, model_dir, *, device: str | torch.device = "auto") -> "DanceModel":
        model_dir = Path(model_dir)
        if not model_dir.is_dir():
            raise DanceMosaicError(f"model directory {model_dir} does not exist; train one (docs/model.md) or "
                                   "give the directory holding tokenizer/, t2m/, music/, pose/")
        device = resolve_device(device)
        paths = {p: _part_dir(model_dir, p) for p in PARTS}
        for need in ("tokenizer", "t2m"):
            if paths[need] is None:
                raise DanceMosaicError(f"{model_dir} has no {need}/ checkpoint (config.json); a model directory "
                                       f"holds {', '.join(PARTS)} (music and pose optional)")
        tokenizer, _ = load_checkpoint(paths["tokenizer"], kind="tokenizer", device=device)
        t2m, t2m_cfg = load_checkpoint(paths["t2m"], kind="t2m", device=device)
        if (t2m.config.num_codes, t2m.config.num_quantizers) != (tokenizer.num_codes, tokenizer.num_quantizers):
            raise DanceMosaicError(f"{paths['t2m']} was trained for {t2m.config.num_codes} codes x "
                                   f"{t2m.config.num_quantizers} quantizers but the tokenizer has "
                                   f"{tokenizer.num_codes} x {tokenizer.num_quantizers}; use checkpoints of one run")
        towers, genres = {}, set()
        for kind in ("music", "pose"):
            if paths[kind] is None:
                continue
            tower, cfg = load_checkpoint(paths[kind], kind=kind, device=device)
            if asdict(tower.base_config) != asdict(t2m.config):
                raise DanceMosaicError(f"{paths[kind]} was built on a different T2M than {paths['t2m']}; "
                                       "use the towers trained on this T2M")
            towers[kind] = tower
            genres.update(cfg.get("genres", []))
        for p in list(tokenizer.parameters()) + list(t2m.parameters()) + [q for t in towers.values()
                                                                         for q in t.parameters()]:
            p.requires_grad_(False)
        multi_tower = MultiTowerModel(t2m=t2m.base, **towers).eval()
        return cls(tokenizer=tokenizer.eval(), t2m=t2m.eval(), multi_tower=multi_tower,
                   text_encoder=LazyTextEncoder(t2m_cfg["text_encoder"],
                                                read_prompt_embeddings(model_dir, t2m_cfg["text_encoder"])),
                   normalizer=load_normalizer(paths["tokenizer"]), genres=sorted(genres),
                   device=device, max_tokens=trained_window_tokens(t2m_cfg), source=str(model_dir),
                   dance_speed=_read_dance_speed(model_dir / MOTION_STATS_FILE))

    @property
    def has_music(self) -> bool:
        return "music" in self.multi_tower.towers

    @property
    def has_pose(self) -> bool:
        return "pose" in self.multi_tower.towers

    @property
    def num_quantizers(self) -> int:
        return self.tokenizer.num_quantizers

    def prompt(self, genre: str | None, text: str | None) -> str:
        """The text condition: free text wins; else the paper's genre template."""
        if text:
            return text
        if genre:
            if self.genres and genre not in self.genres:
                raise DanceMosaicError(f"unknown genre {genre!r}; this model knows: {', '.join(self.genres)}")
            return genre_prompt(genre)
        return ""

    def corpus_dance_speed(self, genre: str | None) -> float:
        """The training corpus's median mean joint speed (m/s) for `genre` (all dances when the
        genre is unknown or None); 0 when the model directory has no motion_stats.json."""
        return float(self.dance_speed.get(genre or "", self.dance_speed.get("all", 0.0)))

    def text_embedding(self, prompt: str) -> torch.Tensor:
        return self.text_encoder.encode([prompt]).to(self.device)

    def features_from_embeddings(self, z: torch.Tensor) -> torch.Tensor:
        """Denormalised motion features (B, 4n, 263) from code embeddings (B, n, d)."""
        return self.normalizer.denormalize(self.tokenizer.decode_from_embeddings(z).float())

    def joints_from_embeddings(self, z: torch.Tensor) -> torch.Tensor:
        """Joints (B, 4n, 22, 3) in the decode frame with constant bone lengths over the clip
        (motion/bones.py), differentiable in z (ITTO)."""
        return project_bone_lengths(features_to_joints(self.features_from_embeddings(z)))

    def joints_from_ids(self, ids: torch.Tensor) -> np.ndarray:
        with torch.no_grad():
            return self.joints_from_embeddings(self.tokenizer.embed(ids)).cpu().numpy()

    def encode_joints(self, joints: np.ndarray) -> torch.Tensor:
        """Token ids (1, n, Q) of a reference motion (T, 22, 3) (editing, inpainting)."""
        from dancemosaic_core.motion.representation import joints_to_features
        feats = joints_to_features(np.asarray(joints, dtype=np.float64))
        n = len(feats) // 4 * 4
        if n < 4:
            raise DanceMosaicError(f"reference motion has {len(joints)} frames; need at least 5")
        x = torch.as_tensor(self.normalizer.normalize(feats[:n].astype(np.float32)), device=self.device)
        return self.tokenizer.encode(x[None])


def _read_dance_speed(path: Path) -> dict[str, float]:
    if not path.is_file():
        return {}
    try:
        speeds = json.loads(path.read_text(encoding="utf-8"))["dance_speed_mps"]
        out = {str(k): float(v) for k, v in speeds.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DanceMosaicError(f"cannot read {path}: {exc!r}; rebuild it with `dancemosaic train assemble` "
                               "or delete it (beat-aware ITTO then keeps each dance's own energy)") from None
    bad = {k: v for k, v in out.items() if not (np.isfinite(v) and 0.0 <= v <= 10.0)}
    if bad:
        raise DanceMosaicError(f"{path}: dance speeds {bad} are not in [0, 10] m/s; rebuild it with "
                               "`dancemosaic train assemble`")
    return out
