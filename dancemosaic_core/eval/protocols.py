"""Evaluation protocols: how motions are resampled, cropped and made root-relative before
the metrics, with each reference's constants (in seconds where they are times).

`finedance`: the LODGE table that DanceMosaic reports (LODGE `metric/metrics_finedance.py`,
`metric/beat_align_score.py`, `metric/foot_skating.py`): 30 fps; features on the first 1024
frames of the 22 joints, the first frame's root subtracted from every joint, then joints
1..21 made relative to the root of their own frame (joint 0 keeps the root trajectory);
ground truth = all dataset motions; BAS sigma 3 frames at 30 fps = 0.1 s, speed smoothing
5 frames = 1/6 s, on the whole motion with the first frame's root subtracted.
`aistpp`: Bailando (`utils/metrics_new.py`, `utils/beat_align_score.py`): 60 fps; features on
the first 1200 frames (20 s), the first frame's root subtracted only; BAS sigma 3 frames at
60 fps = 0.05 s, smoothing 5 frames = 1/12 s.
Both: kinetic frame time 1/60 s and geometric 1/120 s, the values the reference hard-codes;
the reference's energy-expenditure term with its operator-precedence quirk (`eval/kinetic.py`);
per-motion features rounded to float32 as the reference stores them (np.save of float32
arrays) and normalised, FID'd and Div'd in float32 as its `normalize` / `calc_fid` /
`calculate_avg_distance` do on those arrays; AIST++ motion->music score (mint) sigma 0.05 s
and minimum spacing 1/6 s.
`finedance_physical`, `aistpp_physical`: the same with the physically correct expenditure
(second difference) in float64; their FID_k / Div_k are NOT comparable with published tables
and the report says so.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.eval import geometric, kinetic
from dancemosaic_core.eval.foot import SLIDE_SPEED
from dancemosaic_core.motion.fk import resample


@dataclass(frozen=True)
class Protocol:
    name: str
    fps: float                      # rate every metric runs at
    feature_frames: int | None      # crop for kinetic/geometric features (None: whole motion)
    root_relative_per_frame: bool   # joints 1..J-1 minus the root of their frame (LODGE)
    kinetic_frame_time: float
    geometric_frame_time: float
    bas_sigma_s: float              # music->motion BAS Gaussian sigma
    bas_smooth_s: float             # Gaussian smoothing of the speed before motion beats
    m2m_sigma_s: float              # motion->music (AIST++) sigma
    m2m_order_s: float              # motion->music minimum search half-window
    fsr_slide_speed: float          # m/s
    reference: str
    kinetic_energy: str = "reference"   # expenditure term: "reference" (quirk) or "physical"
    feature_dtype: str = "float32"      # per-motion features as the reference stores them
    comparable: bool = True             # FID/Div comparable with the published tables

    def as_dict(self) -> dict:
        return asdict(self)


PROTOCOLS: dict[str, Protocol] = {
    "finedance": Protocol(
        name="finedance", fps=30.0, feature_frames=1024, root_relative_per_frame=True,
        kinetic_frame_time=kinetic.REFERENCE_FRAME_TIME,
        geometric_frame_time=geometric.REFERENCE_FRAME_TIME,
        bas_sigma_s=3 / 30, bas_smooth_s=5 / 30, m2m_sigma_s=3 / 60, m2m_order_s=10 / 60,
        fsr_slide_speed=SLIDE_SPEED,
        reference="LODGE metric/{metrics_finedance,beat_align_score,foot_skating}.py; EDGE eval/eval_pfc.py"),
    "aistpp": Protocol(
        name="aistpp", fps=60.0, feature_frames=1200, root_relative_per_frame=False,
        kinetic_frame_time=kinetic.REFERENCE_FRAME_TIME,
        geometric_frame_time=geometric.REFERENCE_FRAME_TIME,
        bas_sigma_s=3 / 60, bas_smooth_s=5 / 60, m2m_sigma_s=3 / 60, m2m_order_s=10 / 60,
        fsr_slide_speed=SLIDE_SPEED,
        reference="Bailando utils/{metrics_new,beat_align_score}.py; mint tools/calculate_beat_scores.py"),
}
for _name in ("finedance", "aistpp"):
    PROTOCOLS[f"{_name}_physical"] = replace(
        PROTOCOLS[_name], name=f"{_name}_physical", kinetic_energy="physical", feature_dtype="float64",
        comparable=False)


def get_protocol(name: str) -> Protocol:
    if name not in PROTOCOLS:
        raise DanceMosaicError(f"unknown evaluation protocol {name!r}; choose one of {', '.join(PROTOCOLS)}")
    return PROTOCOLS[name]


def to_protocol_rate(joints: np.ndarray, fps: float, protocol: Protocol) -> np.ndarray:
    """Linear resampling (dancemosaic_core.motion.fk.resample) to the protocol's rate."""
    return resample(np.asarray(joints, dtype=np.float64), fps, protocol.fps)


def subtract_first_root(joints: np.ndarray) -> np.ndarray:
    return joints - joints[:1, :1, :]


def feature_input(joints: np.ndarray, protocol: Protocol) -> np.ndarray:
    """Joints already at the protocol rate -> the array the feature extractors see."""
    p = subtract_first_root(np.asarray(joints, dtype=np.float64))
    if protocol.feature_frames is not None:
        p = p[:protocol.feature_frames]
    if protocol.root_relative_per_frame:
        p = p.copy()
        p[:, 1:] -= p[:, :1]
    return p


def motion_features(joints: np.ndarray, protocol: Protocol) -> tuple[np.ndarray, np.ndarray]:
    """(kinetic 66-d, geometric 32-d) of joints at the protocol rate, in the protocol's
    feature dtype."""
    p = feature_input(joints, protocol)
    kin = kinetic.kinetic_features(p, protocol.kinetic_frame_time, energy=protocol.kinetic_energy)
    geo = geometric.geometric_features(p, protocol.geometric_frame_time)
    return kin.astype(protocol.feature_dtype), geo.astype(protocol.feature_dtype)
