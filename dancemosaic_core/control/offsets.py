"""Feedback offsets on a reference joint plan, kept inside the joint limits.

    offsets = OffsetLimiter(limits, rate=1.0, max_offset=0.2)      # limits: JointLimits
    offset = offsets.step(wanted, dt)                               # once per control tick
    positions, velocities = offsets.apply(ref_positions, ref_velocities)

Each tick the offset moves toward the wanted one by at most `rate` rad/s and stays within
`max_offset`, so a command differs from the one sent a tick before by the reference's own motion
plus rate x dt. The offset is the same on every point of the plan (the reference's velocities
stand); positions are clipped into the position limits (which only shortens steps between
points) and velocities into the velocity limits. Wanted offsets of 0 (stale sensors) bring the
plan back to the reference at that rate.
"""
from __future__ import annotations

import numpy as np

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.control.limits import JointLimits


class OffsetLimiter:
    def __init__(self, limits: JointLimits, rate: float, max_offset: float):
        if not (rate > 0 and max_offset >= 0):
            raise DanceMosaicError(f"offset rate {rate} must be > 0 and max_offset {max_offset} >= 0")
        self.limits, self.rate, self.max_offset = limits, float(rate), float(max_offset)
        self.offset = np.zeros(len(limits.lower))
        self.clamps = 0             # points whose position or velocity the limits changed

    def reset(self) -> None:
        self.offset[:] = 0.0

    def step(self, wanted: np.ndarray, dt: float) -> np.ndarray:
        wanted = np.clip(np.nan_to_num(np.asarray(wanted, np.float64)), -self.max_offset, self.max_offset)
        change = self.rate * max(float(dt), 0.0)
        self.offset = self.offset + np.clip(wanted - self.offset, -change, change)
        return self.offset.copy()

    def apply(self, positions: np.ndarray, velocities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(k, n) positions and velocities of the reference plan with the offset, inside the limits."""
        shifted = np.asarray(positions, np.float64) + self.offset
        clipped = self.limits.clip(shifted)
        velocities = np.asarray(velocities, np.float64)
        bounded = self.limits.clip_velocity(velocities)
        self.clamps += int(np.any((clipped != shifted) | (bounded != velocities), axis=-1).sum())
        return clipped, bounded
