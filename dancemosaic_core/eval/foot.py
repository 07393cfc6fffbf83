"""Foot metrics: Foot Skating Ratio (LODGE) and Physical Foot Contact score (EDGE).

FSR, LODGE `metric/foot_skating.py` (`set_on_ground_139`, `calc_foot_skating_ratio`):
- ground from the first frame: the body is shifted vertically so that the first frame's toes
  (their mean if they differ by < 2 cm, else the lower one) are at height 0;
- contact at frame t: ankle height <= 0.08 m and toe height <= 0.05 m;
- displacement at frame t = p[t+1] - p[t] (0 for the last frame), kept on contact frames;
- a contact frame slides when, for the ankle or the toe, |mean(dx, dz)| (the mean of the two
  SIGNED horizontal components: the reference's definition, kept) exceeds 0.01 m per frame
  at 30 fps; the threshold is held here as a speed, 0.3 m/s, so it means the same at any rate;
- ratio = sliding frames / contact frames per foot; over a set, the mean of the left ratios
  and the mean of the right ratios are averaged. A foot that never touches the ground has no
  ratio (the reference divides by zero); it is left out of the means.
PFC, EDGE `eval/eval_pfc.py`: root acceleration by double finite differences (upward part
clamped at >= 0, vertical axis y here as EDGE's z), its norm divided by its maximum; per-frame
horizontal displacement of each foot joint; per side the smaller of ankle and toe; score =
mean over frames of left * right * root_acc, times 10^4, averaged over motions. EDGE runs at
30 fps; the per-frame displacements make PFC depend on the rate, so protocols fix it.
"""
from __future__ import annotations

import numpy as np

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.motion.skeleton import LEFT_FOOT_JOINTS, RIGHT_FOOT_JOINTS

ANKLE_HEIGHT = 0.08           # m, contact threshold of the ankle
TOE_HEIGHT = 0.05             # m, contact threshold of the toe
SLIDE_SPEED = 0.01 * 30       # m/s: LODGE's 0.01 m/frame at FineDance's 30 fps
TOE_PAIR_TOLERANCE = 0.02     # m, toes at "the same height" in set_on_ground_139
PFC_SCALE = 10000.0           # EDGE prints mean(scores) * 10000


def _check(joints: np.ndarray, what: str) -> np.ndarray:
    p = np.asarray(joints, dtype=np.float64)
    if p.ndim != 3 or p.shape[2] != 3 or len(p) < 3:
        raise DanceMosaicError(f"{what} needs (frames >= 3, 22, 3) positions, got {p.shape}")
    return p


def ground_from_first_frame(joints: np.ndarray) -> np.ndarray:
    """Copy of joints shifted vertically so the first frame's toes stand at height 0."""
    p = np.array(joints, dtype=np.float64)
    lt, rt = p[0, LEFT_FOOT_JOINTS[1], 1], p[0, RIGHT_FOOT_JOINTS[1], 1]
    height = (lt + rt) / 2 if abs(lt - rt) < TOE_PAIR_TOLERANCE else min(lt, rt)
    p[..., 1] -= height
    return p


def foot_skating(joints: np.ndarray, fps: float, *, slide_speed: float = SLIDE_SPEED) -> dict:
    """{"left", "right": ratio or None, "left_contact", "right_contact": frame counts}."""
    p = ground_from_first_frame(_check(joints, "foot skating ratio"))
    threshold = slide_speed / fps
    out = {}
    for side, (ankle, toe) in (("left", LEFT_FOOT_JOINTS), ("right", RIGHT_FOOT_JOINTS)):
        feet = p[:, [ankle, toe]]                                # (T, 2, 3)
        contact = (feet[:, 0, 1] <= ANKLE_HEIGHT) & (feet[:, 1, 1] <= TOE_HEIGHT)
        disp = np.zeros_like(feet)
        disp[:-1] = feet[1:] - feet[:-1]
        tangent = np.abs(disp[..., [0, 2]].mean(axis=-1))        # (T, 2)
        sliding = contact & (tangent > threshold).any(axis=1)
        n_contact = int(contact.sum())
        out[side] = float(sliding.sum() / n_contact) if n_contact else None
        out[f"{side}_contact"] = n_contact
    return out


def foot_skating_ratio(per_motion: list[dict]) -> float | None:
    """Set-level FSR: (mean left ratio + mean right ratio) / 2 over motions with contact."""
    sides = []
    for side in ("left", "right"):
        vals = [m[side] for m in per_motion if m.get(side) is not None]
        if vals:
            sides.append(float(np.mean(vals)))
    return float(np.mean(sides)) if sides else None


def physical_foot_contact(joints: np.ndarray, fps: float) -> float:
    """EDGE's PFC of one motion (already times 10^4); lower is more physical."""
    p = _check(joints, "PFC")
    dt = 1.0 / fps
    root_v = (p[1:, 0] - p[:-1, 0]) / dt
    root_a = (root_v[1:] - root_v[:-1]) / dt
    root_a[:, 1] = np.maximum(root_a[:, 1], 0)
    root_a = np.linalg.norm(root_a, axis=-1)
    scale = root_a.max()
    if scale <= 0:
        return 0.0      # no root acceleration at all: nothing to support (EDGE would divide by 0)
    root_a = root_a / scale
    feet = p[:, [LEFT_FOOT_JOINTS[0], LEFT_FOOT_JOINTS[1], RIGHT_FOOT_JOINTS[0], RIGHT_FOOT_JOINTS[1]]]
    foot_v = np.linalg.norm(feet[2:][..., [0, 2]] - feet[1:-1][..., [0, 2]], axis=-1)
    left = np.minimum(foot_v[:, 0], foot_v[:, 1])
    right = np.minimum(foot_v[:, 2], foot_v[:, 3])
    return float((left * right * root_a).mean() * PFC_SCALE)
