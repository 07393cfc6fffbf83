"""Inference-time token optimisation, ITTO (paper eqs. 5-7).

With every network frozen, the continuous token embeddings Z are moved by gradient steps on

    D(P, P_hat) = sum_ij I(i,j) ||P_hat_ij - P_ij||^2 / sum_ij I(i,j)          (eq. 5)

where P_hat are the joints decoded from Z; a robot joint-limit term (a differentiable callable of
the decoded joints, zero where the robot can follow) may be added to the objective. Eq. 7 is plain
gradient descent; we take Adam steps instead, because the scale of D in metres^2 makes a fixed
unit step either stall or diverge depending on the tokenizer. The optimised embeddings re-enter
the classifier as logits over the codebook (`code_logits`) to re-weight sampling.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

DecodeFn = Callable[[torch.Tensor], torch.Tensor]         # Z (B, n, d) -> joints (B, T, 22, 3)
LimitFn = Callable[[torch.Tensor], torch.Tensor]          # joints (..., 22, 3) -> penalty (...)


def constraint_error(joints: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """D(P, P_hat) of eq. 5 per batch item: joints/target (B, T, J, 3), valid (B, T, J)."""
    frames = min(joints.shape[1], target.shape[1])
    sq = ((joints[:, :frames] - target[:, :frames]) ** 2).sum(-1)
    w = valid[:, :frames].to(sq.dtype)
    return (sq * w).sum(dim=(1, 2)) / w.sum(dim=(1, 2)).clamp(min=1.0)


@dataclass
class ITTOResult:
    embeddings: torch.Tensor          # optimised Z (B, n, d)
    error_before: torch.Tensor        # D per item before, metres^2
    error_after: torch.Tensor
    limit_before: torch.Tensor        # joint-limit penalty per item (zeros without a limit term)
    limit_after: torch.Tensor


def optimize_tokens(z0: torch.Tensor, decode_fn: DecodeFn, *, target: torch.Tensor | None = None,
                    valid: torch.Tensor | None = None, limit_fn: LimitFn | None = None,
                    limit_weight: float = 1.0, steps: int = 50, lr: float = 0.05) -> ITTOResult:
    """Minimise D (and the limit term) over Z with the decoder frozen (its parameters untouched)."""
    if target is None and limit_fn is None:
        raise ValueError("ITTO needs pose constraints or a joint-limit term")
    batch = z0.shape[0]

    def objective(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        joints = decode_fn(z)
        d = constraint_error(joints, target, valid) if target is not None else joints.new_zeros(batch)
        lim = (limit_fn(joints).reshape(batch, -1).mean(dim=1) if limit_fn is not None
               else joints.new_zeros(batch))
        return d + limit_weight * lim, d, lim

    z = z0.detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    with torch.no_grad():
        _, d0, l0 = objective(z)
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        total, _, _ = objective(z)
        # Only Z is optimised: autograd.grad leaves the frozen networks' .grad untouched.
        (grad,) = torch.autograd.grad(total.sum(), [z])
        z.grad = grad
        opt.step()
    with torch.no_grad():
        _, d1, l1 = objective(z)
    return ITTOResult(z.detach(), d0, d1, l0, l1)


def code_logits(z: torch.Tensor, codebook: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Logits over codes from squared distances: z (B, n, d), codebook (K, d) -> (B, n, K)."""
    d2 = (z.pow(2).sum(-1, keepdim=True) - 2 * z @ codebook.t() + codebook.pow(2).sum(-1))
    return -d2 / max(temperature, 1e-8)
