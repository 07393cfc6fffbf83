"""Training configuration: typed dataclasses, read ONCE from YAML files plus `--key=value` overrides.

A stage file (config/train/music.yaml) names its base (`base: base.yaml`, relative to itself) and
holds only what differs; `model:` names a model-size file (config/model/*.yaml, relative to the
current directory or to the file that names it) or holds the sizes inline. Overrides use dotted
keys (`--optim.lr=1e-4 --data.cache=/data/cache --model=config/model/tiny.yaml
--model.transformer.dropout=0.0`) and win over the YAML; a `--model=FILE` override replaces the
sizes before any `--model.*` override applies.

Precedence: dataclass defaults < base.yaml < stage file < overrides. Unknown keys and values of
the wrong type raise DanceMosaicError naming the key and what is allowed. Every checkpoint stores
its `StageConfig` as `train_config` in config.json (like nanoGPT's saved config), and
`StageConfig.from_checkpoint` rebuilds it.
"""
from __future__ import annotations

import copy
import types
import typing
from dataclasses import MISSING, asdict, dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, Mapping

import yaml

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.models.checkpoint import read_config
from dancemosaic_core.models.mask_transformer import TransformerConfig
from dancemosaic_core.models.tokenizer import TokenizerConfig
from dancemosaic_core.models.towers import TowerConfig

STAGES = ("tokenizer", "t2m", "music", "pose")


@dataclass
class DataConfig:
    cache: str                          # `dancemosaic data prepare --out DIR`
    window_frames: int                  # training window (frames at 20 fps)
    split: str = "train"
    random_crop: bool = True
    text_mode: str = "mixed"            # data.dataset.TEXT_MODES
    genres: list[str] | None = None     # only clips of these genres (None: all)
    num_workers: int = 0


@dataclass
class OptimConfig:
    """AdamW with linear warm-up, then cosine decay to min_lr_ratio * lr (trainer.lr_lambda)."""
    lr: float
    warmup_steps: int
    max_steps: int
    betas: tuple[float, float] = (0.9, 0.99)
    weight_decay: float = 0.0
    min_lr_ratio: float = 0.0
    grad_clip: float = 0.0              # 0: no clipping


@dataclass
class TokenizerLoss:
    """Eq. 1: L1 reconstruction + commit * commitment + vel * velocity reconstruction."""
    commit: float
    vel: float


@dataclass
class T2MLoss:
    residual: float = 1.0               # weight of the residual transformer's CE


@dataclass
class MusicLoss:
    """L_MT = CE + lambda_pos L_pos + lambda_vel L_vel + lambda_acc L_acc + lambda_foot L_foot
    (+ lambda_rhythm (L_rhythm + rhythm_energy_weight L_energy), motion/rhythm.py, beyond the
    paper); music_drop_prob: fraction of rows trained with the music tower off (classifier-free
    guidance's music-unconditional branch)."""
    lambda_pos: float
    lambda_vel: float
    lambda_acc: float
    lambda_foot: float
    gumbel_tau: float = 1.0
    lambda_rhythm: float = 0.0
    rhythm_energy_weight: float = 1.0
    music_drop_prob: float = 0.0

    def __post_init__(self):
        if not 0.0 <= self.music_drop_prob < 1.0:
            raise DanceMosaicError(f"loss.music_drop_prob must be in [0, 1), got {self.music_drop_prob}")


@dataclass
class PoseLoss:
    """L_PT = CE + lambda_D D(P, P_hat) (eq. 5) on random sparse constraints."""
    lambda_D: float
    max_joints: int = 5
    keyframe_prob: float = 0.1
    gumbel_tau: float = 1.0


LOSSES: dict[str, type] = {"tokenizer": TokenizerLoss, "t2m": T2MLoss, "music": MusicLoss, "pose": PoseLoss}


@dataclass
class ModelSizes:
    """The models' own configs. Fields a stage takes from earlier checkpoints (the transformer's
    codebook size and text width, the T2M a tower copies) are replaced by the stage with the
    values it used, so the saved config describes the trained model."""
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    transformer: TransformerConfig = field(default_factory=TransformerConfig)
    tower: TowerConfig = field(default_factory=TowerConfig)


@dataclass
class TextEncoderConfig:
    kind: str = "minilm"                # text.TEXT_ENCODER_KINDS
    weights: str | None = None          # clip: local ViT-B-32.pt
    model_dir: str | None = None        # minilm: a local sentence-transformers directory
    prompts: list[str] | None = None    # table: fixed prompts (None: the dataset's captions)

    def spec(self) -> dict:
        """The dict text.build_text_encoder reads."""
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass
class StageConfig:
    stage: str                          # tokenizer | t2m | music | pose
    out_dir: str                        # metrics, TensorBoard and <out_dir>/checkpoint
    data: DataConfig
    optim: OptimConfig
    loss: TokenizerLoss | T2MLoss | MusicLoss | PoseLoss
    batch_size: int                     # global batch, split over DDP processes
    model: ModelSizes = field(default_factory=ModelSizes)
    text_encoder: TextEncoderConfig = field(default_factory=TextEncoderConfig)
    tokenizer: str | None = None        # stage-1 checkpoint (stages t2m, music, pose)
    t2m: str | None = None              # stage-2 checkpoint (stages music, pose)
    seed: int = 0
    device: str = "auto"                # cuda when available, else cpu
    bf16: bool = True                   # autocast on GPU only
    save_every: int = 1000
    log_every: int = 10
    tensorboard: bool = True
    progress: bool = True
    eval_split: str | None = None       # tokenizer: reconstruction error on this split at the end
    resume: bool = False                # continue from <out_dir>/checkpoint

    def __post_init__(self):
        if self.stage not in STAGES:
            raise DanceMosaicError(f"unknown training stage {self.stage!r}; use one of {STAGES}")
        if not isinstance(self.loss, LOSSES[self.stage]):
            raise DanceMosaicError(f"stage {self.stage} needs a {LOSSES[self.stage].__name__} loss, "
                                   f"got {type(self.loss).__name__}")
        needs = {"t2m": ("tokenizer",), "music": ("tokenizer", "t2m"), "pose": ("tokenizer", "t2m")}
        for key in needs.get(self.stage, ()):
            if not getattr(self, key):
                raise DanceMosaicError(f"stage {self.stage} needs `{key}` (the {key} stage's checkpoint "
                                       f"directory); set it in the YAML or pass --{key}=RUN/{key}/checkpoint")
        if not self.data.cache:
            raise DanceMosaicError("training config lacks `data.cache`; set it in the YAML or pass --data.cache=...")

    def to_dict(self) -> dict:
        """What a checkpoint stores as `train_config` (resume is an action, not a setting)."""
        return asdict(replace(self, resume=False))

    @classmethod
    def from_dict(cls, data: Mapping, where: str = "training config") -> "StageConfig":
        data = dict(data)
        stage = data.get("stage")
        if stage not in STAGES:
            raise DanceMosaicError(f"{where}: `stage` must be one of {STAGES}, got {stage!r}")
        return _build(cls, data, "", where, {"loss": LOSSES[stage]})

    @classmethod
    def from_checkpoint(cls, path) -> "StageConfig":
        """The config a checkpoint directory was trained with (its config.json `train_config`)."""
        saved = read_config(path)
        where = f"{Path(path) / 'config.json'} train_config"
        if not isinstance(saved.get("train_config"), dict):
            raise DanceMosaicError(f"{where} is missing: the checkpoint was not written by `dancemosaic train`")
        data = dict(saved["train_config"])
        data.setdefault("stage", saved["kind"])
        if "model_sizes" in data:
            # written before the typed config: sizes under model_sizes, `model` the size file's name
            data["model"] = data.pop("model_sizes")
        for part in ("tower", "transformer"):        # written before the beat-grid inputs: none
            sizes = (data.get("model") or {}).get(part)
            if isinstance(sizes, dict):
                sizes.setdefault("rhythm_channels", 0)
        return cls.from_dict(data, where)


# --- typed reading ------------------------------------------------------------------------------

def _type_name(tp) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(tp, value, key: str, where: str):
    """`value` as type `tp` (the annotations used above), or DanceMosaicError naming the key."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    optional = origin in (typing.Union, types.UnionType) and type(None) in args
    if value is None:
        if optional:
            return None
        raise DanceMosaicError(f"{where} lacks `{key}` (it is null); set it in the YAML or pass --{key}=...")
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return _convert(inner[0], value, key, where)
    if is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise DanceMosaicError(f"{where}: `{key}` must be a mapping of {_field_names(tp)}, got {value!r}")
        return _build(tp, value, key + ".", where)
    if origin is list and isinstance(value, (list, tuple)):
        return [_convert(args[0], v, f"{key}[{i}]", where) for i, v in enumerate(value)]
    if origin is tuple and isinstance(value, (list, tuple)) and len(value) == len(args):
        return tuple(_convert(a, v, f"{key}[{i}]", where) for i, (a, v) in enumerate(zip(args, value)))
    if tp is float and isinstance(value, str):
        try:
            return float(value)          # YAML 1.1 reads `1e-4` as text
        except ValueError:
            pass
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if tp in (int, bool, str) and isinstance(value, tp) and not (tp is int and isinstance(value, bool)):
        return value
    raise DanceMosaicError(f"{where}: `{key}` must be {_type_name(tp)}, got {value!r} ({type(value).__name__})")


def _field_names(cls) -> str:
    return ", ".join(f.name for f in fields(cls))


def _build(cls, data: Mapping, prefix: str, where: str, types_: Mapping[str, type] | None = None):
    hints = {**typing.get_type_hints(cls), **(types_ or {})}
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise DanceMosaicError(f"{where}: unknown key `{prefix}{unknown[0]}`; the keys of "
                               f"`{prefix.rstrip('.') or 'the stage config'}` are: {_field_names(cls)}")
    kwargs = {}
    for f in fields(cls):
        if f.name in data:
            kwargs[f.name] = _convert(hints[f.name], data[f.name], prefix + f.name, where)
        elif f.default is MISSING and f.default_factory is MISSING:
            raise DanceMosaicError(f"{where} lacks `{prefix}{f.name}`; set it in the YAML or pass "
                                   f"--{prefix}{f.name}=...")
    return cls(**kwargs)


# --- YAML files and overrides -----------------------------------------------------------------------

def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise DanceMosaicError(f"config file {path} not found") from None
    except yaml.YAMLError as exc:
        raise DanceMosaicError(f"config file {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise DanceMosaicError(f"config file {path} must hold a mapping at the top level")
    return data


def deep_merge(base: dict, delta: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in delta.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def _model_sizes_file(name: str, relative_to: Path) -> dict:
    """A model-size YAML named from the current directory, else from the naming file's directory."""
    path = Path(name)
    if not path.is_absolute() and not path.exists():
        path = relative_to / name
    return load_yaml_chain(path)


def load_yaml_chain(path) -> dict:
    """A YAML file merged over its `base:` chain. `model:` naming a file reads it in place and
    replaces the base's sizes; `model:` holding a mapping merges into them."""
    path = Path(path)
    data = _read_yaml(path)
    sizes_file = isinstance(data.get("model"), str)
    if sizes_file:
        data["model"] = _model_sizes_file(data["model"], path.parent)
    base = data.pop("base", None)
    if base is None:
        return data
    merged = load_yaml_chain(path.parent / base)
    if sizes_file:
        merged.pop("model", None)
    return deep_merge(merged, data)


def load_model_sizes(path) -> ModelSizes:
    """A model-size file (config/model/*.yaml) as the models' configs."""
    return _build(ModelSizes, load_yaml_chain(path), "model.", f"model sizes {path}")


def apply_overrides(raw: dict, overrides: Mapping[str, Any], relative_to: Path) -> dict:
    """Dotted `key: value` overrides over a raw config mapping: a mapping value merges into the
    section, `model: FILE` replaces the sizes and applies first."""
    out = copy.deepcopy(raw)
    items = sorted(overrides.items(), key=lambda kv: kv[0] != "model")
    for key, value in items:
        *path, last = key.split(".")
        node = out
        for part in path:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        if key == "model" and isinstance(value, str):
            node[last] = _model_sizes_file(value, relative_to)
        elif isinstance(value, dict) and isinstance(node.get(last), dict):
            node[last] = deep_merge(node[last], value)
        else:
            node[last] = value
    return out


def load_config(path, stage: str, overrides: Mapping[str, Any] | None = None) -> StageConfig:
    """The StageConfig of `stage` from a stage YAML (and its base chain) and dotted overrides."""
    path = Path(path)
    raw = apply_overrides(load_yaml_chain(path), overrides or {}, path.parent)
    raw["stage"] = stage
    return StageConfig.from_dict(raw, where=f"training config ({path} and overrides)")


# Set by the stage from the data and earlier checkpoints (and recorded in the saved config), so
# no command-line option: the feature width, the codebook and text sizes, the tower kind.
DERIVED_KEYS = ("stage", "resume", "model.tokenizer.input_dim", "model.transformer.num_codes",
                "model.transformer.num_quantizers", "model.transformer.text_dim", "model.tower.kind")


def override_keys(stage: str) -> dict[str, type]:
    """Every dotted key a `--key=value` option may set for `stage`, with its type."""
    out: dict[str, type] = {}

    def walk(cls, prefix: str, types_: Mapping[str, type] | None = None):
        hints = {**typing.get_type_hints(cls), **(types_ or {})}
        for f in fields(cls):
            if prefix + f.name in DERIVED_KEYS:
                continue
            if is_dataclass(hints[f.name]):
                walk(hints[f.name], f"{prefix}{f.name}.")
            else:
                out[prefix + f.name] = hints[f.name]

    walk(StageConfig, "", {"loss": LOSSES[stage]})
    out["model"] = str          # a model-size YAML (config/model/*.yaml)
    return out
