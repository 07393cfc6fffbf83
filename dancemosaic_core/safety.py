"""The last gate before a joint command leaves the process.

`SafetyFilter` keeps the state of what was last sent and turns any requested joint chunk into
one that (1) never leaves the position limits, (2) never steps faster than the velocity limits
from the previously sent point, including across chunk joins, and (3) counts every clamp. It also
makes the fallback motions: easing to the neutral pose (audio lost or silent), holding (e-stop),
and extending the last motion smoothly to rest when the generator misses its deadline.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dancemosaic_core.common.errors import DanceMosaicError


@dataclass
class FilterReport:
    position_clamps: int = 0          # samples moved back inside position limits
    velocity_clamps: int = 0          # samples slowed down to the velocity limits
    nonfinite: int = 0                # samples replaced because they were NaN / inf


@dataclass
class SafetyFilter:
    lower: np.ndarray                 # (n,) position limits
    upper: np.ndarray
    velocity: np.ndarray              # (n,) |dq/dt| limits
    dt: float                         # seconds between trajectory points
    margin: float = 0.0               # radians kept inside each position limit
    last: np.ndarray | None = None    # last sent point; None before the first
    report: FilterReport = field(default_factory=FilterReport)

    def __post_init__(self) -> None:
        self.lower = np.asarray(self.lower, dtype=np.float64) + self.margin
        self.upper = np.asarray(self.upper, dtype=np.float64) - self.margin
        self.velocity = np.asarray(self.velocity, dtype=np.float64)
        if not (self.lower.shape == self.upper.shape == self.velocity.shape) or self.lower.ndim != 1:
            raise DanceMosaicError("safety limits must be three vectors of the same length "
                                   f"(got {self.lower.shape}, {self.upper.shape}, {self.velocity.shape})")
        if np.any(self.lower > self.upper) or np.any(self.velocity <= 0) or self.dt <= 0:
            raise DanceMosaicError("safety limits are inconsistent: need lower <= upper (after the "
                                   "margin), positive velocity limits and a positive dt")

    @property
    def max_step(self) -> np.ndarray:
        return self.velocity * self.dt

    def reset(self, q: np.ndarray) -> None:
        """Start from the robot's measured position (clamped inside the limits)."""
        self.last = np.clip(np.asarray(q, dtype=np.float64), self.lower, self.upper)

    def filter(self, chunk: np.ndarray) -> np.ndarray:
        """Make a requested chunk (N, n) safe to send after `last`."""
        chunk = np.array(chunk, dtype=np.float64, copy=True)
        if chunk.ndim != 2 or chunk.shape[1] != self.lower.shape[0]:
            raise DanceMosaicError(f"joint chunk has shape {chunk.shape}; expected (points, "
                                   f"{self.lower.shape[0]}) in the controller's joint order")
        out = np.empty_like(chunk)
        prev = self.last if self.last is not None else np.clip(chunk[0], self.lower, self.upper)
        for i, q in enumerate(chunk):
            bad = ~np.isfinite(q)
            if bad.any():
                self.report.nonfinite += 1
                q = np.where(bad, prev, q)
            clipped = np.clip(q, self.lower, self.upper)
            self.report.position_clamps += int(np.any(clipped != q))
            step = np.clip(clipped - prev, -self.max_step, self.max_step)
            self.report.velocity_clamps += int(np.any(step != clipped - prev))
            # prev is inside the box and the box is convex: prev + step stays inside.
            prev = np.clip(prev + step, self.lower, self.upper)
            out[i] = prev
        self.last = prev.copy()
        return out

    def velocities(self, chunk: np.ndarray) -> np.ndarray:
        """Finite-difference velocities for a filtered chunk (central inside, one-sided ends),
        clipped to the limits so the controller's cubic interpolation never exceeds them."""
        v = np.gradient(chunk, self.dt, axis=0) if len(chunk) > 1 else np.zeros_like(chunk)
        return np.clip(v, -self.velocity, self.velocity)

    def ease_to(self, target: np.ndarray, seconds: float) -> np.ndarray:
        """A smooth (cosine-ramp) move from `last` to `target`, at least `seconds` long and
        long enough to respect the velocity limits."""
        if self.last is None:
            raise DanceMosaicError("cannot ease before the first point was sent; call reset() "
                                   "with the robot's measured position first")
        target = np.clip(np.asarray(target, dtype=np.float64), self.lower, self.upper)
        # Peak speed of a cosine ramp of length T over distance d is pi d / (2 T).
        needed = float(np.max(np.pi * np.abs(target - self.last) / (2 * self.velocity)))
        n = max(1, int(np.ceil(max(seconds, needed) / self.dt)))
        s = 0.5 - 0.5 * np.cos(np.pi * np.arange(1, n + 1) / n)
        return self.filter(self.last + s[:, None] * (target - self.last))

    def hold(self, seconds: float) -> np.ndarray:
        """Points that keep the last sent position (e-stop)."""
        if self.last is None:
            raise DanceMosaicError("cannot hold before the first point was sent")
        n = max(1, int(np.ceil(seconds / self.dt)))
        return np.repeat(self.last[None], n, axis=0)

    def extend(self, last_velocity: np.ndarray, seconds: float) -> np.ndarray:
        """Generator deadline missed: keep moving with the last velocity, decaying linearly to
        rest over `seconds`, instead of jumping or stopping dead."""
        if self.last is None:
            raise DanceMosaicError("cannot extend before the first point was sent")
        n = max(1, int(np.ceil(seconds / self.dt)))
        decay = 1.0 - np.arange(1, n + 1) / n
        steps = np.clip(np.asarray(last_velocity), -self.velocity, self.velocity) * self.dt
        return self.filter(self.last + np.cumsum(decay[:, None] * steps[None], axis=0))
