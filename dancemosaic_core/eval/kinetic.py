"""Kinetic features (FID_k, Div_k): per joint, average horizontal kinetic energy, vertical
kinetic energy and energy expenditure -> (3 * joints,) = 66-d for the 22-joint body.

Reference, read in the public repositories (identical code in each):
google/aistplusplus_api `aist_plusplus/features/kinetic.py` + `aist_plusplus/features/utils.py`
(fairmotion, BSD), copied into lisiyao21/Bailando `utils/features/{kinetic,utils}.py` (and
`tpami_bailandopp/utils/features/`), and into li-ronghui/LODGE `metric/features/` which
`metric/metrics_finedance.py` imports:
- velocity at frame i (i = 1..T-1) = sum of the displacements p[k] - p[k-1] for k in i-2..i+2
  with k >= 1 and k <= T-1, divided by (count * frame_time); "kinetic energy" = squared speed
  (no 1/2, no mass), averaged over the T-1 frames; horizontal = (x, z) with y up, vertical = y;
- energy expenditure = |sum of accelerations a[k] for k in i-2..i+2, 1 <= k <= T-2| / count,
  averaged over the same T-1 frames, where `calc_average_acceleration` computes
      v2 = (p[k+1] - p[k]) / frame_time
      v1 = (p[k] - p[k-1] / frame_time)        # operator precedence: only p[k-1] is divided
      a[k] = (v2 - v1) / frame_time
  so a[k] = (p[k+1] - p[k] + p[k-1]) / frame_time^2 - p[k] / frame_time, which depends on the
  absolute position and on frame_time. Every published FID_k / Div_k (AIST++, Bailando,
  EDGE-era tables, LODGE/FineDance, the DanceMosaic paper's Table 2) was computed with it, so
  `energy="reference"` (that formula) is the default. `energy="physical"` is the intended
  second difference (p[k+1] - 2 p[k] + p[k-1]) / frame_time^2; its FID_k / Div_k are NOT
  comparable with published tables.
- the reference hard-codes frame_time = 1/60 whatever the data's rate (LODGE feeds 30 fps
  data through it); here it is a parameter with that default. With the reference term it
  changes FID_k / Div_k (the expenditure mixes 1/frame_time and 1/frame_time^2 terms); with
  the physical term it only rescales each dimension, which the GT normalisation removes.
- `extract_kinetic_features` returns float32; the protocols (`eval/protocols.py`) apply that
  rounding, this function returns float64.
The window sums below add the same terms in the same order as the reference loop (zeros for
missing neighbours), so the result equals a loop port to round-off (tested to 1e-9).
"""
from __future__ import annotations

import numpy as np

from dancemosaic_core.common.errors import DanceMosaicError

REFERENCE_FRAME_TIME = 1.0 / 60.0   # KineticFeatures(frame_time=1./60) in every reference copy
SLIDING_WINDOW = 2                  # velocities averaged over +-2 frames (reference default)
ENERGY_TERMS = ("reference", "physical")


def _window_sums(x: np.ndarray, first: int, t: int, half: int) -> tuple[np.ndarray, np.ndarray]:
    """For centres i = 1..t-1: sum of x[k - first] over k in [i-half, i+half] that exist
    (first <= k < first + len(x)), added in increasing k as the reference loop does, and the
    count of those k."""
    centres = np.arange(1, t)
    total = np.zeros((t - 1,) + x.shape[1:])
    count = np.zeros(t - 1)
    for offset in range(-half, half + 1):
        k = centres + offset
        valid = (k >= first) & (k < first + len(x))
        total[valid] += x[k[valid] - first]
        count += valid
    return total, count.reshape((-1,) + (1,) * (x.ndim - 1))


def acceleration_terms(p: np.ndarray, frame_time: float, energy: str = "reference") -> np.ndarray:
    """Per-frame acceleration a[k], k = 1..T-2, of (T, J, 3) positions: the reference's
    operator-precedence form or the physical second difference (see the module docstring)."""
    if energy not in ENERGY_TERMS:
        raise DanceMosaicError(f"unknown energy term {energy!r}; choose one of {', '.join(ENERGY_TERMS)}")
    v2 = (p[2:] - p[1:-1]) / frame_time
    if energy == "reference":
        v1 = p[1:-1] - p[:-2] / frame_time
    else:
        v1 = (p[1:-1] - p[:-2]) / frame_time
    return (v2 - v1) / frame_time


def kinetic_features(positions: np.ndarray, frame_time: float = REFERENCE_FRAME_TIME,
                     sliding_window: int = SLIDING_WINDOW, energy: str = "reference") -> np.ndarray:
    """(T, J, 3) y-up positions -> (3 J,) float64: [horizontal KE, vertical KE, expenditure]
    per joint, joint-major (the reference's order). energy: "reference" (published tables,
    default) or "physical" (not comparable with published tables)."""
    p = np.asarray(positions, dtype=np.float64)
    if p.ndim != 3 or p.shape[2] != 3:
        raise DanceMosaicError(f"kinetic features want (frames, joints, 3) positions, got {p.shape}")
    if len(p) < 3:
        raise DanceMosaicError(f"kinetic features need at least 3 frames, got {len(p)}")
    if not frame_time > 0:
        raise DanceMosaicError(f"frame_time must be positive, got {frame_time}")
    t = len(p)
    vsum, vcount = _window_sums(p[1:] - p[:-1], 1, t, sliding_window)      # k = 1..T-1
    vel = vsum / (vcount * frame_time)                                      # (T-1, J, 3)
    ke_h = np.linalg.norm(vel[..., [0, 2]], axis=-1) ** 2
    ke_v = np.abs(vel[..., 1]) ** 2
    asum, acount = _window_sums(acceleration_terms(p, frame_time, energy), 1, t, sliding_window)
    expenditure = np.linalg.norm(asum / acount, axis=-1)
    per_frame = np.stack([ke_h, ke_v, expenditure], axis=-1)               # (T-1, J, 3)
    return (per_frame.sum(axis=0) / (t - 1.0)).reshape(-1)
