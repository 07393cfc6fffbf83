"""Sparse pose constraints P with validity mask I (paper eq. 5), from files or messages.

A constraint pins one joint to a position at one time: (time in seconds, joint name, xyz in
metres, weight). Positions are in the frame of the generated dance (y up; a dance generated
from scratch starts with the root above the origin, facing +Z). `dense()` turns them into the
(frames, 22, 3) pose signal and (frames, 22) mask the pose tower and ITTO consume.

JSON file format (`dancemosaic generate --constraints c.json`):

    {"constraints": [{"time": 1.5, "joint": "left_wrist", "position": [0.3, 1.6, 0.2]},
                     {"frame": 40, "joint": "pelvis", "position": [0, 0.9, 0], "weight": 2.0}]}
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.motion.skeleton import JOINT_NAMES, MOTION_FPS, NUM_JOINTS

# Magnitudes a constraint may have: beyond them ITTO's loss overflows (or the dense signal
# would be sized by the count), so they are refused where they enter (file, message).
MAX_CONSTRAINTS = 1000
MAX_CONSTRAINT_POSITION = 10.0          # metres, each coordinate
MAX_CONSTRAINT_WEIGHT = 100.0
MAX_CONSTRAINT_TIME = 2 * 60 * 60.0     # seconds: the longest song `generate` takes


@dataclass
class PoseConstraints:
    times: np.ndarray                        # (N,) seconds from the start of the dance
    joints: list[str]                        # (N,) joint names of skeleton.JOINT_NAMES
    positions: np.ndarray                    # (N, 3) metres
    weights: np.ndarray = field(default=None)  # (N,) >= 0; default all 1

    def __post_init__(self):
        self.times = np.asarray(self.times, dtype=np.float64).reshape(-1)
        self.positions = np.asarray(self.positions, dtype=np.float64).reshape(-1, 3)
        self.joints = list(self.joints)
        n = len(self.times)
        if n > MAX_CONSTRAINTS:
            raise DanceMosaicError(f"{n} pose constraints; give at most {MAX_CONSTRAINTS}")
        self.weights = (np.ones(n) if self.weights is None
                        else np.asarray(self.weights, dtype=np.float64).reshape(-1))
        if not (len(self.joints) == len(self.positions) == len(self.weights) == n):
            raise DanceMosaicError(f"pose constraints: {n} times, {len(self.joints)} joints, "
                                   f"{len(self.positions)} positions and {len(self.weights)} weights; "
                                   "give one of each per constraint")
        unknown = sorted({j for j in self.joints if j not in JOINT_NAMES})
        if unknown:
            raise DanceMosaicError(f"pose constraints name unknown joints {unknown}; valid joint names: "
                                   f"{', '.join(JOINT_NAMES)}")
        for what, arr in (("times", self.times), ("positions", self.positions), ("weights", self.weights)):
            if not np.isfinite(arr).all():
                raise DanceMosaicError(f"pose constraints have NaN or infinite {what}; remove or fix those entries")
        if ((self.times < 0) | (self.times > MAX_CONSTRAINT_TIME)).any():
            raise DanceMosaicError(f"pose constraints have times outside 0..{MAX_CONSTRAINT_TIME:g} s; times count "
                                   "seconds from the dance start")
        if (np.abs(self.positions) > MAX_CONSTRAINT_POSITION).any():
            raise DanceMosaicError(f"pose constraints have positions beyond {MAX_CONSTRAINT_POSITION:g} m from the "
                                   "origin; give metres in the dance's frame (y up)")
        if ((self.weights < 0) | (self.weights > MAX_CONSTRAINT_WEIGHT)).any():
            raise DanceMosaicError(f"pose constraints have weights outside 0..{MAX_CONSTRAINT_WEIGHT:g}")

    def __len__(self) -> int:
        return len(self.times)

    @classmethod
    def empty(cls) -> "PoseConstraints":
        return cls(np.zeros(0), [], np.zeros((0, 3)))

    @classmethod
    def from_dict(cls, data: dict, fps: float = MOTION_FPS) -> "PoseConstraints":
        items = data.get("constraints") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise DanceMosaicError('constraints file must be {"constraints": [{"time" or "frame", "joint", '
                                   '"position": [x, y, z], "weight" (optional)}, ...]}')
        times, joints, positions, weights = [], [], [], []
        for i, item in enumerate(items):
            try:
                times.append(float(item["time"]) if "time" in item else float(item["frame"]) / fps)
                joints.append(str(item["joint"]))
                positions.append([float(v) for v in item["position"]])
                weights.append(float(item.get("weight", 1.0)))
            except (KeyError, TypeError, ValueError) as exc:
                raise DanceMosaicError(f"constraint {i}: {exc!r}; each needs 'time' (s) or 'frame', 'joint' "
                                       "and 'position' [x, y, z]") from None
            if len(positions[-1]) != 3:
                raise DanceMosaicError(f"constraint {i}: position has {len(positions[-1])} values, expected 3")
        return cls(np.array(times), joints, np.array(positions).reshape(-1, 3), np.array(weights))

    @classmethod
    def load(cls, path, fps: float = MOTION_FPS) -> "PoseConstraints":
        path = Path(path)
        if not path.is_file():
            raise DanceMosaicError(f"constraints file {path} does not exist")
        try:
            data = json.loads(path.read_text())
        except ValueError as exc:
            raise DanceMosaicError(f"constraints file {path} is not valid JSON ({exc})") from None
        return cls.from_dict(data, fps)

    @classmethod
    def from_motion(cls, joints: np.ndarray, joint_names, fps: float = MOTION_FPS) -> "PoseConstraints":
        """Every frame of the named joints of a reference motion (body-part editing)."""
        idx = [JOINT_NAMES.index(j) for j in joint_names]
        frames = np.arange(len(joints))
        t = np.repeat(frames / fps, len(idx))
        return cls(t, [JOINT_NAMES[i] for _ in frames for i in idx], joints[:, idx].reshape(-1, 3))

    def window(self, start: float, seconds: float) -> "PoseConstraints":
        """The constraints with times in [start, start + seconds), re-timed from `start` (a
        segment, a streaming chunk's window)."""
        keep = (self.times >= start - 1e-9) & (self.times < start + seconds)
        return PoseConstraints(np.maximum(self.times[keep] - start, 0.0),
                               [j for j, k in zip(self.joints, keep) if k], self.positions[keep], self.weights[keep])

    def dense(self, frames: int, fps: float = MOTION_FPS, *, strict: bool = True
              ) -> tuple[np.ndarray, np.ndarray]:
        """(P (frames, 22, 3) float32, weight mask (frames, 22) float32; > 0 where constrained).
        strict: a constraint past the last frame is an error (else it is dropped)."""
        P = np.zeros((frames, NUM_JOINTS, 3), np.float32)
        W = np.zeros((frames, NUM_JOINTS), np.float32)
        f = np.round(self.times * fps).astype(int)
        late = f >= frames
        if strict and late.any():
            raise DanceMosaicError(f"a pose constraint at {self.times[late].max():.2f} s is past the end of the "
                                   f"dance ({frames / fps:.2f} s); generate a longer dance or drop it")
        for fi, j, p, w in zip(f[~late], np.array(self.joints, dtype=object)[~late],
                               self.positions[~late], self.weights[~late]):
            P[fi, JOINT_NAMES.index(j)] = p
            W[fi, JOINT_NAMES.index(j)] = w
        return P, W
