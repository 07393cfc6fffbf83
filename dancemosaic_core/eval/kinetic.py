"""Kinetic features (FID_k, Div_k): per joint, average horizontal kinetic energy, vertical
kinetic energy and energy expenditure -> (3 * joints,) = 66-d for the 22-joint body.

Reference: Bailando `utils/features/kinetic.py` + `utils/features/utils.py` (fairmotion, BSD),
used unchanged by LODGE `metric/metrics_finedance.py`:
- velocity at frame i (i = 1..T-1) = mean of the displacements p[k] - p[k-1] for k in i-2..i+2
  that exist, divided by the frame time; "kinetic energy" = squared speed (no 1/2, no mass),
  averaged over the T-1 frames; horizontal = (x, z) with y up, vertical = y;
- energy expenditure = |mean of the second differences p[k+1] - 2 p[k] + p[k-1] for k in
  i-2..i+2 that exist| / frame_time^2, averaged over the same T-1 frames.
The reference hard-codes frame_time = 1/60 whatever the data's rate (LODGE feeds 30 fps data
through it). Here it is a parameter whose default is that reference value. Because FID and Div
normalise each feature dimension by the ground-truth std, frame_time only rescales each
dimension and changes neither FID_k nor Div_k; it matters only for the raw feature values.
Some copies of fairmotion's utils divide only p[k-1] by frame_time in the acceleration
(operator-precedence bug); Bailando's copy, which this follows, does not.
"""
from __future__ import annotations

import numpy as np

from dancemosaic_core.common.errors import DanceMosaicError

REFERENCE_FRAME_TIME = 1.0 / 60.0   # Bailando/LODGE KineticFeatures(frame_time=1./60)
SLIDING_WINDOW = 2                  # velocities averaged over +-2 frames (reference default)


def _window_sums(x: np.ndarray, first: int, last: int, centres: np.ndarray, half: int):
    """Sum and count of x[k - first] over k in [c-half, c+half] clipped to [first, last]."""
    csum = np.concatenate([np.zeros((1,) + x.shape[1:]), np.cumsum(x, axis=0)])
    lo = np.maximum(centres - half, first)
    hi = np.minimum(centres + half, last)
    count = (hi - lo + 1).astype(np.float64)
    total = csum[hi - first + 1] - csum[lo - first]
    return total, count.reshape((-1,) + (1,) * (x.ndim - 1))


def kinetic_features(positions: np.ndarray, frame_time: float = REFERENCE_FRAME_TIME,
                     sliding_window: int = SLIDING_WINDOW) -> np.ndarray:
    """(T, J, 3) y-up positions -> (3 J,) float64: [horizontal KE, vertical KE, expenditure]
    per joint, joint-major (the reference's order)."""
    p = np.asarray(positions, dtype=np.float64)
    if p.ndim != 3 or p.shape[2] != 3:
        raise DanceMosaicError(f"kinetic features want (frames, joints, 3) positions, got {p.shape}")
    if len(p) < 3:
        raise DanceMosaicError(f"kinetic features need at least 3 frames, got {len(p)}")
    if not frame_time > 0:
        raise DanceMosaicError(f"frame_time must be positive, got {frame_time}")
    t = len(p)
    frames = np.arange(1, t)
    disp = p[1:] - p[:-1]                                   # k = 1..T-1
    vsum, vcount = _window_sums(disp, 1, t - 1, frames, sliding_window)
    vel = vsum / (vcount * frame_time)                      # (T-1, J, 3)
    ke_h = (vel[..., 0] ** 2 + vel[..., 2] ** 2).mean(axis=0)
    ke_v = (vel[..., 1] ** 2).mean(axis=0)
    acc2 = p[2:] - 2 * p[1:-1] + p[:-2]                     # k = 1..T-2
    asum, acount = _window_sums(acc2, 1, t - 2, frames, sliding_window)
    expenditure = np.linalg.norm(asum / acount, axis=-1).mean(axis=0) / frame_time ** 2
    return np.stack([ke_h, ke_v, expenditure], axis=1).reshape(-1)
