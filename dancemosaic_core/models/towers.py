"""Music and pose guidance towers and the multi-tower model (paper section 3.2, ControlNet-style).

A tower is a trainable copy of the T2M transformer's embedding and blocks (`Tower.from_base`
deep-copies them). Its condition encoder maps per-frame signals to token rate (x4 down by two
stride-2 convs) and adds them token-wise to the motion token embeddings inside the tower. After
each tower block, a zero-initialised linear layer phi_i maps the tower's hidden state into a
residual added to the output of the matching frozen T2M block, so a fresh tower leaves the
T2M's logits exactly unchanged.

Conditions: music (B, N, 35 + 6) at 20 fps, the 35 features then the beat grid's rhythm channels
(audio.features.music_condition); the tower normalises the 35 features with the training data's
per-column mean/std (`set_music_stats`, stored as music_mean.npy / music_std.npy beside the
checkpoint) and reads the first `config.in_channels` columns, so a tower from before the rhythm
channels (rhythm_channels 0) sees only the features, and one without stored statistics sees
them raw (identity normalisation), exactly as it was trained. Pose: P (B, N, J, 3) joint
positions (metres, the frame of `features_to_joints`) with a validity mask I (B, N, J) (eq. 5):
invalid entries are zeroed, and the mask itself is an input channel so "joint at the origin"
differs from "free".
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn as nn

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.models.mask_transformer import (
    MaskTransformer,
    TransformerConfig,
    embed_sequence,
    key_mask,
)
from dancemosaic_core.motion.rhythm import RHYTHM_CHANNELS
from dancemosaic_core.motion.skeleton import (
    MUSIC_FEATURE_DIM,
    NUM_JOINTS,
    TOKEN_DOWNSAMPLE,
)

TOWER_KINDS = ("music", "pose")
# Joint positions enter the pose encoder in units of 0.2 m, the typical excursion of a joint in
# a dance, so they vary on the same unit scale as the validity channel and the (normalised)
# music features; in metres the pose tower learned several times slower in our tests.
POSE_INPUT_SCALE = 5.0


@dataclass
class TowerConfig:
    kind: str = "music"
    encoder_width: int = 256
    # music: beat-phase channels read after the 35 features; checkpoints written before them
    # have no such field and load with 0 (models/checkpoint.build_model)
    rhythm_channels: int = RHYTHM_CHANNELS

    def __post_init__(self):
        if self.kind not in TOWER_KINDS:
            raise DanceMosaicError(f"unknown tower kind {self.kind!r}; use one of {TOWER_KINDS}")
        if self.rhythm_channels not in (0, RHYTHM_CHANNELS):
            raise DanceMosaicError(f"tower rhythm_channels must be 0 (features only) or {RHYTHM_CHANNELS} "
                                   f"(motion.rhythm.rhythm_channels), got {self.rhythm_channels}")

    @property
    def in_channels(self) -> int:
        return MUSIC_FEATURE_DIM + self.rhythm_channels if self.kind == "music" else NUM_JOINTS * 4


class ConditionEncoder(nn.Module):
    """Per-frame signal (B, N, C) -> token-rate latent tokens (B, N/4, dim)."""

    def __init__(self, in_channels: int, width: int, dim: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv1d(in_channels, width, 3, padding=1), nn.GELU(),
            nn.Conv1d(width, width, 4, stride=2, padding=1), nn.GELU(),
            nn.Conv1d(width, width, 4, stride=2, padding=1), nn.GELU(),
            nn.Conv1d(width, dim, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.transpose(1, 2)).transpose(1, 2)


def pose_signal(pose: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """(B, N, J, 3) positions + (B, N, J) validity -> (B, N, J*4) encoder input."""
    v = valid.to(pose.dtype).unsqueeze(-1)
    return torch.cat([pose * v * POSE_INPUT_SCALE, v], dim=-1).flatten(2)


class Tower(nn.Module):
    def __init__(self, *, config: TowerConfig, base_config: TransformerConfig):
        super().__init__()
        self.config, self.base_config = config, base_config
        template = MaskTransformer(config=base_config)
        self.token_emb, self.input_proj, self.cond_proj = template.token_emb, template.input_proj, template.cond_proj
        self.drop, self.blocks = template.drop, template.blocks
        self.encoder = ConditionEncoder(config.in_channels, config.encoder_width, base_config.dim)
        self.zero_proj = nn.ModuleList(nn.Linear(base_config.dim, base_config.dim) for _ in self.blocks)
        for lin in self.zero_proj:
            nn.init.zeros_(lin.weight)
            nn.init.zeros_(lin.bias)
        # music feature statistics: not in model.safetensors (their own .npy files), identity
        # until set, so a checkpoint without them behaves as before they existed
        self.register_buffer("music_mean", torch.zeros(MUSIC_FEATURE_DIM), persistent=False)
        self.register_buffer("music_std", torch.ones(MUSIC_FEATURE_DIM), persistent=False)

    def set_music_stats(self, mean, std) -> None:
        """Per-column mean/std of the 35 music features the tower was trained on."""
        mean = torch.as_tensor(mean, dtype=torch.float32).reshape(-1)
        std = torch.as_tensor(std, dtype=torch.float32).reshape(-1)
        if mean.numel() != MUSIC_FEATURE_DIM or std.numel() != MUSIC_FEATURE_DIM:
            raise DanceMosaicError(f"music statistics need {MUSIC_FEATURE_DIM} values each, got "
                                   f"{mean.numel()} and {std.numel()}; recompute them from the training cache")
        if not (torch.isfinite(mean).all() and torch.isfinite(std).all() and (std > 0).all()):
            raise DanceMosaicError("music statistics must be finite with std > 0; recompute them from the training cache")
        self.music_mean.copy_(mean)
        self.music_std.copy_(std)

    def condition_input(self, signal: torch.Tensor) -> torch.Tensor:
        """The encoder's input from a condition (B, N, >= in_channels): the columns this tower
        was built for, music features normalised."""
        need = self.config.in_channels
        if signal.shape[-1] < need:
            raise DanceMosaicError(f"{self.config.kind} condition has {signal.shape[-1]} channels, this tower "
                                   f"reads {need}; build music input with audio.features.music_condition")
        signal = signal[..., :need]
        if self.config.kind != "music":
            return signal
        feats = (signal[..., :MUSIC_FEATURE_DIM] - self.music_mean) / self.music_std
        return torch.cat([feats.to(signal.dtype), signal[..., MUSIC_FEATURE_DIM:]], dim=-1)

    @classmethod
    def from_base(cls, t2m: MaskTransformer, *, config: TowerConfig) -> "Tower":
        """A tower whose copied parts start as exact copies of the T2M's weights."""
        tower = cls(config=config, base_config=t2m.config)
        for name in ("token_emb", "input_proj", "cond_proj", "blocks"):
            getattr(tower, name).load_state_dict(copy.deepcopy(getattr(t2m, name).state_dict()))
        return tower

    def forward(self, ids: torch.Tensor, text_emb: torch.Tensor, signal: torch.Tensor, *,
                lengths: torch.Tensor | None = None, text_on: torch.Tensor | None = None
                ) -> list[torch.Tensor]:
        """Per-block residuals [(B, 1+n, d)] for the frozen T2M; signal (B, N, C), N = 4n."""
        if signal.shape[1] != ids.shape[1] * TOKEN_DOWNSAMPLE:
            raise DanceMosaicError(f"{self.config.kind} condition has {signal.shape[1]} frames for "
                                   f"{ids.shape[1]} tokens; expected {ids.shape[1] * TOKEN_DOWNSAMPLE}")
        x = embed_sequence(self, ids, text_emb, text_on, extra=self.encoder(self.condition_input(signal)))
        attend = key_mask(lengths, ids.shape[0], ids.shape[1], ids.device)
        out = []
        for block, phi in zip(self.blocks, self.zero_proj):
            x = block(x, attend)
            out.append(phi(x))
        return out


class MultiTowerModel(nn.Module):
    """Frozen T2M + optional music and pose towers. One forward serves a batch whose rows use
    different condition sets (classifier-free guidance runs every branch in one call)."""

    def __init__(self, *, t2m: MaskTransformer, music: Tower | None = None, pose: Tower | None = None):
        super().__init__()
        self.t2m = t2m
        self.towers = nn.ModuleDict({k: v for k, v in (("music", music), ("pose", pose)) if v is not None})
        for p in self.t2m.parameters():
            p.requires_grad_(False)

    @property
    def mask_id(self) -> int:
        return self.t2m.mask_id

    def train(self, mode: bool = True):
        super().train(mode)
        self.t2m.eval()          # frozen backbone: no dropout, as ControlNet's locked copy
        return self

    def forward(self, ids: torch.Tensor, text_emb: torch.Tensor, *, lengths: torch.Tensor | None = None,
                text_on: torch.Tensor | None = None, music: torch.Tensor | None = None,
                music_on: torch.Tensor | None = None, pose: torch.Tensor | None = None,
                pose_valid: torch.Tensor | None = None, pose_on: torch.Tensor | None = None,
                rhythm: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (B, n, K). music (B, N, 41) (audio.features.music_condition) / pose (B, N, J, 3)
        + pose_valid (B, N, J): None turns that tower off for every row; *_on (B,) bool turns it
        on for some rows only. rhythm (B, N, 6): the beat-grid channels for the frozen T2M's own
        rhythm input (every row, whatever its towers; ignored by a T2M without one)."""
        signals = {}
        if music is not None:
            signals["music"] = (music, music_on)
        if pose is not None:
            if pose_valid is None:
                raise DanceMosaicError("pose constraints need a validity mask (frames x joints)")
            signals["pose"] = (pose_signal(pose, pose_valid), pose_on)
        residuals = None
        for kind, (signal, on) in signals.items():
            if kind not in self.towers:
                raise DanceMosaicError(f"this model has no {kind} tower (trained towers: "
                                       f"{', '.join(self.towers) or 'none'}); load its checkpoint")
            rows = None if on is None else on.nonzero().flatten()
            if rows is not None and rows.numel() == 0:
                continue
            pick = (lambda t: t) if rows is None else (lambda t: None if t is None else t[rows])
            res = self.towers[kind](pick(ids), pick(text_emb), pick(signal), lengths=pick(lengths),
                                    text_on=pick(text_on))
            if rows is not None:
                res = [torch.zeros(ids.shape[0], *r.shape[1:], dtype=r.dtype, device=r.device).index_copy(0, rows, r)
                       for r in res]
            residuals = res if residuals is None else [a + b for a, b in zip(residuals, res)]
        return self.t2m(ids, text_emb, lengths=lengths, text_on=text_on, residuals=residuals, rhythm=rhythm)
