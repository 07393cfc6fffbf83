"""Tokenizer and robot metrics: MPJPE, joint-position and joint-velocity limit violations of
retargeted trajectories, and the balance rate of simulated playbacks. Generic inputs: arrays
and report records, so they work with any retargeter or simulator."""
from __future__ import annotations

import numpy as np

from dancemosaic_core.common.errors import DanceMosaicError


def mpjpe(pred: np.ndarray, target: np.ndarray, *, align_root: bool = False) -> float:
    """Mean per-joint position error (same units as the input) over frames and joints;
    align_root subtracts each frame's root (joint 0) from both first."""
    a, b = np.asarray(pred, dtype=np.float64), np.asarray(target, dtype=np.float64)
    if a.shape != b.shape or a.ndim < 2 or a.shape[-1] != 3:
        raise DanceMosaicError(f"MPJPE needs two (..., joints, 3) arrays of equal shape, got "
                               f"{a.shape} and {b.shape}")
    if align_root:
        a, b = a - a[..., :1, :], b - b[..., :1, :]
    return float(np.linalg.norm(a - b, axis=-1).mean())


def _limits(q: np.ndarray, *limits: np.ndarray, what: str):
    q = np.asarray(q, dtype=np.float64)
    if q.ndim != 2:
        raise DanceMosaicError(f"{what}: q must be (frames, dofs), got {q.shape}")
    out = []
    for lim in limits:
        lim = np.broadcast_to(np.asarray(lim, dtype=np.float64), (q.shape[1],))
        out.append(lim)
    return q, out


def _violation_summary(excess: np.ndarray) -> dict:
    """excess (frames, dofs) >= 0: how far beyond the limit each value is."""
    bad = excess > 0
    return {"frame_rate": float(bad.any(axis=1).mean()) if len(bad) else 0.0,
            "value_rate": float(bad.mean()) if bad.size else 0.0,
            "max_excess": float(excess.max()) if excess.size else 0.0,
            "dofs": np.flatnonzero(bad.any(axis=0)).tolist()}


def joint_limit_violations(q: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                           *, tolerance: float = 0.0) -> dict:
    """Position-limit violations of q (frames, dofs): fraction of frames with any dof outside
    [lower - tol, upper + tol], fraction of (frame, dof) values outside, largest excess, and
    the dofs that ever violate."""
    q, (lo, hi) = _limits(q, lower, upper, what="joint limits")
    excess = np.maximum(lo - tolerance - q, 0) + np.maximum(q - hi - tolerance, 0)
    return _violation_summary(excess)


def velocity_limit_violations(q: np.ndarray, fps: float, velocity_limit: np.ndarray,
                              *, tolerance: float = 0.0) -> dict:
    """Velocity-limit violations of q (frames, dofs) sampled at fps: finite-difference speeds
    against |velocity_limit| + tolerance (same summary as joint_limit_violations, per
    frame-to-frame step)."""
    q, (vmax,) = _limits(q, velocity_limit, what="velocity limits")
    if not fps > 0:
        raise DanceMosaicError(f"fps must be positive, got {fps}")
    qd = np.abs(np.diff(q, axis=0)) * fps
    return _violation_summary(np.maximum(qd - np.abs(vmax) - tolerance, 0))


def balance_rate(reports) -> float | None:
    """Fraction of simulated playbacks that did not fall; each report is a mapping or object
    with a boolean `fell`. None for no reports."""
    falls = []
    for i, r in enumerate(reports):
        fell = r.get("fell") if isinstance(r, dict) else getattr(r, "fell", None)
        if fell is None:
            raise DanceMosaicError(f"sim report {i} has no 'fell' flag; pass the reports written "
                                   "by `dancemosaic sim`")
        falls.append(bool(fell))
    return float(1.0 - np.mean(falls)) if falls else None
