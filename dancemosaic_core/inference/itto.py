"""Inference-time token optimisation, ITTO (paper eqs. 5-7).

With every network frozen, the continuous token embeddings Z are moved by gradient steps on

    D(P, P_hat) = sum_ij I(i,j) ||P_hat_ij - P_ij||^2 / sum_ij I(i,j)          (eq. 5)

where P_hat are the joints decoded from Z; a robot joint-limit term (a differentiable callable of
the decoded joints, zero where the robot can follow) may be added to the objective. Eq. 7 is plain
gradient descent; we take Adam steps instead, because the scale of D in metres^2 makes a fixed
unit step either stall or diverge depending on the tokenizer. The optimised embeddings re-enter
the classifier as logits over the codebook (`code_logits`) to re-weight sampling.

Beyond the paper, a rhythm term (motion/rhythm.py: the joint speed dips on the music's beats,
with an energy floor) joins the objective when a beat grid is given: beat-aware ITTO. Tokens
marked `frozen` (streaming context, already-optimised neighbours) keep their embeddings.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import torch

from dancemosaic_core.motion.rhythm import RhythmTarget
from dancemosaic_core.motion.skeleton import MOTION_FPS

# Beat-aware ITTO as the CLI, the benches, the evaluation and the generator node run it (beyond
# the paper; the pipeline's own defaults are the paper's method). The terms were chosen on three
# outside grooves (docs/inference.md, "Beat-aware ITTO"): the rhythm term at 5, the energy floor
# (the corpus's dance speed for the genre) held at 10, the planted feet held at 10. 30 Adam
# steps at lr 0.3 reach what 100 steps at lr 0.1 did on the held-out songs (BAS - chance +0.297
# vs +0.298, BAS 0.865 vs 0.871, FID_g 35.7 vs 35.4) in under a third of the time, which whole
# songs need (docs/inference.md, "Whole songs").
BEAT_ITTO = {"rhythm_weight": 5.0, "energy_weight": 10.0, "foot_weight": 10.0, "itto_steps": 30, "itto_lr": 0.3}
# Streaming affords 20 steps per 0.4 s chunk; the floor is held harder to reach the energy in
# them (docs/inference.md, "Short chunks": demo song, 40 s streamed offline). 17 run when the
# chunk is drafted, ahead of its music; the last 3 refine it on the beat grid of everything heard
# just before it is due (StreamingDancer.prepare / next_chunk), which is what its latency counts
# (3 instead of 5: ~30 ms less latency; the rhythm is the same within the spread between runs:
# BAS - chance on three songs +0.165 vs +0.130 over 40 s each, +0.137 vs +0.140 over 80 s;
# docs/inference.md, "Drafted ahead").
STREAMING_BEAT_ITTO = {**BEAT_ITTO, "itto_steps": 17, "refine_steps": 3, "energy_weight": 30.0}
# Masked decoding iterations of the CLI, the benches and the evaluation: the paper's T is 10; 5
# score the same (bench rhythm, 8 outside grooves: BAS - chance +0.314 vs +0.315 at 30 ITTO
# steps) at half the transformer cost.
OFFLINE_DECODE_STEPS = 5

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
    rhythm_before: torch.Tensor       # rhythm objective per item (zeros without a beat grid)
    rhythm_after: torch.Tensor
    joints: torch.Tensor              # decode_fn(embeddings) (B, T, 22, 3), detached
    state: dict                       # Adam's moments of Z: pass as `state` to continue the run
    steps: int = 0                    # steps taken (fewer than asked when the deadline came)


def optimize_tokens(z0: torch.Tensor, decode_fn: DecodeFn, *, target: torch.Tensor | None = None,
                    valid: torch.Tensor | None = None, limit_fn: LimitFn | None = None,
                    limit_weight: float = 1.0, rhythm: RhythmTarget | None = None,
                    frozen: torch.Tensor | None = None, steps: int = 50, lr: float = 0.05,
                    state: dict | None = None, deadline: float | None = None, min_steps: int = 1) -> ITTOResult:
    """Minimise D (and the limit and rhythm terms) over Z with the decoder frozen (its
    parameters untouched). frozen (B, n) bool keeps those tokens' embeddings at z0. state: a
    previous result's `state` (with its embeddings as z0) continues that run's Adam steps
    instead of starting new moments, e.g. on an updated objective (streaming refinement).
    deadline: a time.perf_counter() value after which no step starts once min_steps are taken
    (a live generator's budget: fewer steps rather than a late chunk)."""
    if target is None and limit_fn is None and rhythm is None:
        raise ValueError("ITTO needs pose constraints, a joint-limit term or a beat grid")
    batch = z0.shape[0]
    z0 = z0.detach()
    keep = None if frozen is None else frozen.to(torch.bool).unsqueeze(-1)

    def objective(z: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if keep is not None:
            z = torch.where(keep, z0, z)
        joints = decode_fn(z)
        zeros = joints.new_zeros(batch)
        d = constraint_error(joints, target, valid) if target is not None else zeros
        lim = limit_fn(joints).reshape(batch, -1).mean(dim=1) if limit_fn is not None else zeros
        rhy = rhythm.total(joints, MOTION_FPS) if rhythm is not None else zeros
        return d + limit_weight * lim + rhy, d, lim, rhy, joints

    z = z0.clone().requires_grad_(True)
    opt = Adam(z, lr=lr, state=state)
    before, taken = None, 0
    for taken in range(steps + 1):
        if taken == steps or (deadline is not None and taken >= min_steps and time.perf_counter() >= deadline):
            break
        total, *terms = objective(z)
        if before is None:      # the first step is taken at z0: its terms are the "before" values
            before = [t.detach() for t in terms[:3]]
        # Only Z is optimised: autograd.grad leaves the frozen networks' .grad untouched.
        (grad,) = torch.autograd.grad(total.sum(), [z])
        opt.step(grad)
    with torch.no_grad():
        _, d1, l1, r1, joints = objective(z)
        z_out = z if keep is None else torch.where(keep, z0, z)
    d0, l0, r0 = before if before is not None else (d1, l1, r1)
    return ITTOResult(z_out.detach(), d0, d1, l0, l1, r0, r1, joints.detach(), opt.moments(), taken)


class Adam:
    """torch.optim.Adam's update of one tensor, term for term as its single-tensor path computes
    it (the same numbers: tested), without torch.optim: the first torch optimiser of a process
    imports torch._dynamo, ~1.7 s on a 2-core CPU, which a whole-song CLI run or a live
    generator's warm-up would pay. `state` / `moments()`: torch's keys (step, exp_avg,
    exp_avg_sq), so a run continues from another's moments."""

    def __init__(self, param: torch.Tensor, *, lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, state: dict | None = None):
        self.param, self.lr, self.betas, self.eps = param, float(lr), betas, float(eps)
        if state:
            self.state = {k: v.clone() for k, v in state.items()}
        else:
            self.state = {"step": torch.tensor(0.0), "exp_avg": torch.zeros_like(param, memory_format=torch.preserve_format),
                          "exp_avg_sq": torch.zeros_like(param, memory_format=torch.preserve_format)}

    @torch.no_grad()
    def step(self, grad: torch.Tensor) -> None:
        beta1, beta2 = self.betas
        state = self.state
        state["step"] += 1
        state["exp_avg"].lerp_(grad, 1 - beta1)
        state["exp_avg_sq"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        step = state["step"].item()
        bias_correction1 = 1 - beta1 ** step
        bias_correction2 = 1 - beta2 ** step
        denom = (state["exp_avg_sq"].sqrt() / bias_correction2 ** 0.5).add_(self.eps)
        self.param.addcdiv_(state["exp_avg"], denom, value=-(self.lr / bias_correction1))

    def moments(self) -> dict:
        return {k: v.detach().clone() for k, v in self.state.items()}


def code_logits(z: torch.Tensor, codebook: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Logits over codes from squared distances: z (B, n, d), codebook (K, d) -> (B, n, K)."""
    d2 = (z.pow(2).sum(-1, keepdim=True) - 2 * z @ codebook.t() + codebook.pow(2).sum(-1))
    return -d2 / max(temperature, 1e-8)
