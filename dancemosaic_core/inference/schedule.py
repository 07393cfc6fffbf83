"""The cosine masking schedule of MaskGIT / MoMask, shared by training and inference.

gamma(r) = cos(pi r / 2) maps a uniform r in [0, 1] to the fraction of tokens masked. Training
draws r ~ U(0, 1) per sequence (MoMask `cosine_schedule`); decoding iteration t of T re-masks
n_M = L cos(pi t / 2T) tokens (paper section 3.4), i.e. gamma(t / T).
"""
from __future__ import annotations

import math

import torch


def cosine_schedule(r: torch.Tensor | float) -> torch.Tensor | float:
    """Fraction of masked tokens at progress r in [0, 1]."""
    if isinstance(r, torch.Tensor):
        return torch.cos(r * math.pi * 0.5)
    return math.cos(r * math.pi * 0.5)


def num_masked(length: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """Masked token count per sequence for training: round(L gamma(r)), at least 1 (MoMask)."""
    return torch.round(length.float() * cosine_schedule(r)).long().clamp(min=1)


def remask_count(num_free: torch.Tensor, t: int, steps: int) -> torch.Tensor:
    """Decoding: n_M = ceil(L cos(pi t / 2T)), at least 1 where anything is free."""
    n = torch.ceil(num_free.float() * cosine_schedule(t / steps)).long()
    return torch.where(num_free > 0, n.clamp(min=1), n)
