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


def random_mask(lengths: torch.Tensor, max_len: int, *, generator: torch.Generator | None = None
                ) -> torch.Tensor:
    """Training mask (B, max_len) bool: per sequence r ~ U(0,1), round(L cos(pi r / 2)) random
    valid positions masked. Positions past a sequence's length are never masked."""
    batch = lengths.shape[0]
    device = lengths.device
    r = torch.rand(batch, device=device, generator=generator)
    n = num_masked(lengths, r)
    scores = torch.rand(batch, max_len, device=device, generator=generator)
    valid = torch.arange(max_len, device=device)[None] < lengths[:, None]
    scores = scores.masked_fill(~valid, 2.0)          # padding sorts last
    rank = scores.argsort(dim=1).argsort(dim=1)
    return (rank < n[:, None]) & valid


def remask_count(num_free: torch.Tensor, t: int, steps: int) -> torch.Tensor:
    """Decoding: n_M = ceil(L cos(pi t / 2T)), at least 1 where anything is free."""
    n = torch.ceil(num_free.float() * cosine_schedule(t / steps)).long()
    return torch.where(num_free > 0, n.clamp(min=1), n)
