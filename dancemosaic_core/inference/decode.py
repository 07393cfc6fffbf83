"""The one masked decoding loop (paper section 3.4; MaskGIT / MoMask decoding).

Generation, editing, inpainting and streaming continuation are all this loop: they differ only
in which tokens start fixed (`fixed_mask`) and what the logits callable conditions on.

Iteration t = 0..T-1 re-masks the n_M = ceil(L_free * cos(pi t / 2T)) least confident free
tokens (at t = 0 every free token is masked), samples them from the logits, and keeps the rest.
Fixed tokens are never re-masked and never change; padding beyond each sequence's length is
treated as fixed.
"""
from __future__ import annotations

from typing import Callable, Sequence, Union

import torch

from dancemosaic_core.inference.schedule import remask_count

LogitsFn = Callable[[torch.Tensor], torch.Tensor]            # ids (B, L) -> logits (B, L, K)
ResidualLogitsFn = Callable[[torch.Tensor, int], torch.Tensor]  # ids (B, L, q), layer q -> (B, L, K)
# One generator for the batch, or one per batch row: a row then samples exactly what it would
# alone, whatever it is batched with (whole songs sample their windows in batches).
Generators = Union[torch.Generator, Sequence[torch.Generator], None]


def top_k_filter(logits: torch.Tensor, top_k: int | None) -> torch.Tensor:
    if top_k is None or top_k <= 0 or top_k >= logits.shape[-1]:
        return logits
    kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def sample_tokens(logits: torch.Tensor, *, temperature: float, top_k: int | None,
                  generator: Generators) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample ids from logits (B, L, K); returns (ids, probability of each sampled id).
    Temperature 0 is greedy."""
    probs_full = torch.softmax(logits.float(), dim=-1)
    if temperature <= 0:
        ids = logits.argmax(dim=-1)
    else:
        filtered = torch.softmax(top_k_filter(logits.float(), top_k) / temperature, dim=-1)
        if isinstance(generator, Sequence):
            if len(generator) != len(filtered):
                raise ValueError(f"{len(generator)} generators for a batch of {len(filtered)}")
            ids = torch.stack([torch.multinomial(row.reshape(-1, row.shape[-1]), 1, generator=g).reshape(row.shape[:-1])
                               for row, g in zip(filtered, generator)])
        else:
            flat = filtered.reshape(-1, filtered.shape[-1])
            ids = torch.multinomial(flat, 1, generator=generator).reshape(logits.shape[:-1])
    return ids, probs_full.gather(-1, ids.unsqueeze(-1)).squeeze(-1)


def masked_decode(logits_fn: LogitsFn, *, batch: int, length: int, mask_id: int, steps: int = 10,
                  lengths: torch.Tensor | None = None, fixed_ids: torch.Tensor | None = None,
                  fixed_mask: torch.Tensor | None = None, temperature: float = 1.0,
                  top_k: int | None = None, generator: Generators = None,
                  device: torch.device | str = "cpu") -> torch.Tensor:
    """Decode base-layer token ids (B, L).

    fixed_ids / fixed_mask (B, L): tokens kept as given (editing, inpainting, continuation).
    lengths (B,): valid token counts; positions past a length are returned as mask_id.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    device = torch.device(device)
    pos = torch.arange(length, device=device).expand(batch, length)
    valid = pos < (lengths.to(device).view(-1, 1) if lengths is not None else length)
    fixed = torch.zeros(batch, length, dtype=torch.bool, device=device)
    ids = torch.full((batch, length), mask_id, dtype=torch.long, device=device)
    if fixed_mask is not None:
        fixed = fixed_mask.to(device).bool() & valid
        ids = torch.where(fixed, fixed_ids.to(device).long(), ids)
    free = valid & ~fixed
    num_free = free.sum(dim=1)
    # Confidence of the current value at each position; fixed and padding are never re-masked.
    scores = torch.zeros(batch, length, device=device)
    for t in range(steps):
        n_mask = remask_count(num_free, t, steps)
        ranked = torch.where(free, scores, torch.full_like(scores, float("inf")))
        order = ranked.argsort(dim=1).argsort(dim=1)          # rank 0 = least confident
        is_mask = free & (order < n_mask.view(-1, 1))
        ids = torch.where(is_mask, torch.full_like(ids, mask_id), ids)
        logits = logits_fn(ids)[..., :mask_id]                # the mask id itself is never sampled
        new_ids, conf = sample_tokens(logits, temperature=temperature, top_k=top_k, generator=generator)
        ids = torch.where(is_mask, new_ids, ids)
        scores = torch.where(is_mask, conf, scores)
    return torch.where(valid, ids, torch.full_like(ids, mask_id))


def residual_decode(residual_fn: ResidualLogitsFn, base_ids: torch.Tensor, *, num_quantizers: int,
                    fixed_ids: torch.Tensor | None = None, fixed_mask: torch.Tensor | None = None,
                    temperature: float = 1.0, top_k: int | None = None,
                    generator: Generators = None) -> torch.Tensor:
    """Predict residual layers 1..Q-1 one after another (MoMask's residual transformer).
    Returns all layers (B, L, Q). fixed_ids (B, L, Q) / fixed_mask (B, L) keep whole columns."""
    layers = [base_ids]
    for q in range(1, num_quantizers):
        logits = residual_fn(torch.stack(layers, dim=-1), q)
        ids, _ = sample_tokens(logits, temperature=temperature, top_k=top_k, generator=generator)
        if fixed_mask is not None:
            ids = torch.where(fixed_mask.bool(), fixed_ids[..., q].long(), ids)
        layers.append(ids)
    return torch.stack(layers, dim=-1)
