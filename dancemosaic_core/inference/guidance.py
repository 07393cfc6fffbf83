"""Multimodal classifier-free logits guidance (paper section 3.4, after Ho & Salimans 2022).

All branches run as ONE batched forward: the batch is tiled once per branch (unconditional,
text, music, pose), each copy with only its own condition switched on, and the logits are mixed

    l = l_uncond + w_T (l_text - l_uncond) + w_A (l_music - l_uncond) + w_P (l_pose - l_uncond)

so every weight at 0 gives exactly the unconditional model, and a modality whose weight is 0 is
left out of the batch altogether.
"""
from __future__ import annotations

from dataclasses import dataclass

import math

import torch

from dancemosaic_core.common.errors import DanceMosaicError

BRANCHES = ("text", "music", "pose")
# Weights beyond this push the mixed logits to inf (every chunk then fails in sampling); the
# paper's useful range is 0..10 (table 5).
MAX_GUIDANCE_WEIGHT = 50.0


@dataclass(frozen=True)
class GuidanceWeights:
    text: float = 4.0      # MoMask's default guidance scale
    music: float = 1.0     # paper table 5: w_A = 1 is best
    pose: float = 1.0

    def __post_init__(self) -> None:
        for name in BRANCHES:
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and 0 <= value <= MAX_GUIDANCE_WEIGHT):
                raise DanceMosaicError(f"{name} guidance weight {value!r}: give a finite number in "
                                       f"[0, {MAX_GUIDANCE_WEIGHT:g}] (0 switches the modality off)")

    def active(self) -> tuple[str, ...]:
        return tuple(b for b in BRANCHES if getattr(self, b) != 0.0)


def branch_plan(weights: GuidanceWeights, available: set[str]) -> tuple[str, ...]:
    """Branches to run, unconditional first; modalities without a condition are dropped."""
    return ("uncond",) + tuple(b for b in weights.active() if b in available)


def mix_logits(logits: torch.Tensor, plan: tuple[str, ...], weights: GuidanceWeights) -> torch.Tensor:
    """logits (len(plan) * B, L, K) from the tiled batch -> guided logits (B, L, K)."""
    chunks = logits.chunk(len(plan), dim=0)
    uncond = chunks[0]
    out = uncond.clone()
    for name, chunk in zip(plan[1:], chunks[1:]):
        out = out + getattr(weights, name) * (chunk - uncond)
    return out
