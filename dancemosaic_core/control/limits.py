"""Joint limits and the two filters that hold them: the one place where joint positions are
clamped, velocities capped and accelerations bounded.

`JointLimits` checks the limit vectors once and owns the clamps. On top of it:

`SafetyFilter`, the last gate before a joint command leaves the process, keeps the state of
what was last sent and turns any requested joint chunk into one that (1) never leaves the
position limits, (2) never steps faster than the velocity limits from the previously sent
point, including across chunk joins, and (3) counts every clamp. It also makes the fallback
motions: easing to the neutral pose (audio lost or silent), holding (e-stop), and extending
the last motion smoothly to rest when the generator misses its deadline.

`LimitFilter`, the causal smoothing after the retargeting IK, adds acceleration limits. Per
joint and frame it follows the IK reference with its finite-difference velocity plus a
catch-up term that brakes within the acceleration limit (no overshoot after a lag), then clips
the change of velocity to the acceleration limit, the velocity to the velocity limit and the
speed toward a position limit to what can still stop there. Position and velocity limits are
guaranteed (the last clip into the box only shortens the step); acceleration is honoured
except where a position or velocity limit forces a harder stop. A reference that respects all
limits passes through unchanged. The same object runs frame by frame (live) and over a clip.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dancemosaic_core.common.errors import DanceMosaicError

# The longest fallback motion (ease, hold, extension) one call makes: its points are computed at
# once, so a longer request is refused rather than allocated (docs/ros.md, "Bounds").
MAX_FALLBACK_SECONDS = 60.0


def ramp_fraction(x: np.ndarray) -> np.ndarray:
    """How far along a cosine ramp is at x in [0, 1] of its duration: (1 - cos(pi x)) / 2, at
    rest at both ends. Over distance d and duration T its peak speed is pi d / (2 T) and its peak
    acceleration pi^2 d / (2 T^2)."""
    return 0.5 - 0.5 * np.cos(np.pi * np.clip(x, 0.0, 1.0))


def cosine_ramp(start: np.ndarray, end: np.ndarray, n: int) -> np.ndarray:
    """(n, joints) points after `start` up to `end`, at rest at both ends: point k of 1..n is at
    ramp_fraction(k / n) of the way."""
    s = ramp_fraction(np.arange(1, n + 1) / n)
    return start + s[:, None] * (end - start)


@dataclass
class JointLimits:
    lower: np.ndarray                 # (n,) position limits, rad
    upper: np.ndarray
    velocity: np.ndarray              # (n,) |dq/dt| limits, rad/s
    dt: float                         # seconds between points

    def __post_init__(self) -> None:
        self.lower = np.asarray(self.lower, dtype=np.float64)
        self.upper = np.asarray(self.upper, dtype=np.float64)
        self.velocity = np.asarray(self.velocity, dtype=np.float64)
        self.dt = float(self.dt)
        if not (self.lower.shape == self.upper.shape == self.velocity.shape) or self.lower.ndim != 1:
            raise DanceMosaicError("joint limits must be vectors of the same length "
                                   f"(got {self.lower.shape}, {self.upper.shape}, {self.velocity.shape})")
        if np.any(self.lower > self.upper) or np.any(self.velocity <= 0) or self.dt <= 0:
            raise DanceMosaicError("joint limits are inconsistent: need lower <= upper (after any "
                                   "margin), positive velocity limits and a positive dt")

    @property
    def max_step(self) -> np.ndarray:
        """Largest move of each joint in one dt."""
        return self.velocity * self.dt

    def clip(self, q: np.ndarray) -> np.ndarray:
        """Positions moved back inside the limits."""
        return np.clip(q, self.lower, self.upper)

    def clip_velocity(self, v: np.ndarray) -> np.ndarray:
        return np.clip(v, -self.velocity, self.velocity)

    def clip_step(self, step: np.ndarray) -> np.ndarray:
        """Moves over one dt shortened to the velocity limits."""
        return np.clip(step, -self.max_step, self.max_step)

    def velocities(self, q: np.ndarray, times: np.ndarray | None = None) -> np.ndarray:
        """Finite-difference velocities of points q (N, n), dt apart or at `times` (central
        inside, one-sided ends), clipped to the limits so the controller's cubic interpolation
        never exceeds them."""
        spacing = self.dt if times is None else times
        v = np.gradient(q, spacing, axis=0) if len(q) > 1 else np.zeros_like(q)
        return self.clip_velocity(v)


@dataclass
class FilterReport:
    position_clamps: int = 0          # samples moved back inside position limits
    velocity_clamps: int = 0          # samples slowed down to the velocity limits
    nonfinite: int = 0                # samples replaced because they were NaN / inf


@dataclass
class SafetyFilter(JointLimits):
    margin: float = 0.0               # radians kept inside each position limit
    last: np.ndarray | None = None    # last sent point; None before the first
    report: FilterReport = field(default_factory=FilterReport)

    def __post_init__(self) -> None:
        self.lower = np.asarray(self.lower, dtype=np.float64) + self.margin
        self.upper = np.asarray(self.upper, dtype=np.float64) - self.margin
        super().__post_init__()

    def _points(self, seconds: float, what: str) -> int:
        """Number of dt-spaced points of a fallback motion `seconds` long (at least one)."""
        if not (np.isfinite(seconds) and 0 <= seconds <= MAX_FALLBACK_SECONDS):
            raise DanceMosaicError(f"{what} of {seconds} s: give 0..{MAX_FALLBACK_SECONDS:g} s")
        return max(1, int(np.ceil(seconds / self.dt)))

    def reset(self, q: np.ndarray) -> None:
        """Start from the robot's measured position (clamped inside the limits)."""
        self.last = self.clip(np.asarray(q, dtype=np.float64))

    def filter(self, chunk: np.ndarray, spacing: np.ndarray | None = None) -> np.ndarray:
        """Make a requested chunk (N, n) safe to send after `last`. `spacing` (N,): seconds from
        each point's predecessor when they are not dt apart; a point closer than dt steps at most
        the velocity limit times its spacing (a chunk's grid a fraction of a microsecond off the
        plan's read 1.000006 x the limit), a farther one still at most max_step."""
        chunk = np.array(chunk, dtype=np.float64, copy=True)
        if chunk.ndim != 2 or chunk.shape[1] != self.lower.shape[0]:
            raise DanceMosaicError(f"joint chunk has shape {chunk.shape}; expected (points, "
                                   f"{self.lower.shape[0]}) in the controller's joint order")
        max_steps = np.broadcast_to(self.max_step, chunk.shape) if spacing is None else \
            self.velocity * np.minimum(np.asarray(spacing, dtype=np.float64), self.dt)[:, None]
        out = np.empty_like(chunk)
        prev = self.last if self.last is not None else self.clip(chunk[0])
        for i, q in enumerate(chunk):
            bad = ~np.isfinite(q)
            if bad.any():
                self.report.nonfinite += 1
                q = np.where(bad, prev, q)
            clipped = self.clip(q)
            self.report.position_clamps += int(np.any(clipped != q))
            step = np.clip(clipped - prev, -max_steps[i], max_steps[i])
            self.report.velocity_clamps += int(np.any(step != clipped - prev))
            # prev is inside the box and the box is convex: prev + step stays inside.
            prev = self.clip(prev + step)
            out[i] = prev
        self.last = prev.copy()
        return out

    def ease_to(self, target: np.ndarray, seconds: float) -> np.ndarray:
        """A smooth (cosine-ramp) move from `last` to `target`, at least `seconds` long and
        long enough to respect the velocity limits."""
        if self.last is None:
            raise DanceMosaicError("cannot ease before the first point was sent; call reset() "
                                   "with the robot's measured position first")
        target = self.clip(np.asarray(target, dtype=np.float64))
        # Peak speed of a cosine ramp of length T over distance d is pi d / (2 T).
        needed = float(np.max(np.pi * np.abs(target - self.last) / (2 * self.velocity)))
        n = self._points(max(seconds, min(needed, MAX_FALLBACK_SECONDS)), "an ease")
        return self.filter(cosine_ramp(self.last, target, n))

    def hold(self, seconds: float) -> np.ndarray:
        """Points that keep the last sent position (e-stop)."""
        if self.last is None:
            raise DanceMosaicError("cannot hold before the first point was sent")
        n = self._points(seconds, "a hold")
        return np.repeat(self.last[None], n, axis=0)

    def extend(self, last_velocity: np.ndarray, seconds: float) -> np.ndarray:
        """Generator deadline missed: keep moving with the last velocity, decaying linearly to
        rest over `seconds`, instead of jumping or stopping dead."""
        if self.last is None:
            raise DanceMosaicError("cannot extend before the first point was sent")
        n = self._points(seconds, "an extension")
        decay = 1.0 - np.arange(1, n + 1) / n
        steps = self.clip_velocity(np.asarray(last_velocity)) * self.dt
        return self.filter(self.last + np.cumsum(decay[:, None] * steps[None], axis=0))


@dataclass
class LimitFilter(JointLimits):
    acceleration: np.ndarray          # (n,) |d2q/dt2| limits, rad/s^2

    def __post_init__(self) -> None:
        super().__post_init__()
        self.acceleration = np.asarray(self.acceleration, dtype=np.float64)
        if self.acceleration.shape != self.lower.shape or np.any(self.acceleration <= 0):
            raise DanceMosaicError(f"acceleration limits must be {self.lower.shape[0]} positive values "
                                   f"(got shape {self.acceleration.shape})")
        self.reset()

    def reset(self) -> None:
        """Forget the stream: the next reference starts it, at rest."""
        self.q = None            # last output
        self.v = None            # last output velocity
        self.ref = None          # last reference
        self.velocity_clamps = 0      # joint samples slowed to a limit
        self.acceleration_clamps = 0

    def _stopping_speed(self, distance: np.ndarray) -> np.ndarray:
        """Largest speed from which braking at the acceleration limit stops within `distance`
        (v dt + v^2 / 2a <= d, the step taken before braking included)."""
        a, dt = self.acceleration, self.dt
        return a * (np.sqrt(dt * dt + 2 * np.maximum(distance, 0.0) / a) - dt)

    def step(self, ref: np.ndarray) -> np.ndarray:
        ref = np.asarray(ref, float)
        if self.q is None:
            self.q = self.clip(ref)
            self.v = np.zeros_like(self.q)
            self.ref = ref.copy()
            return self.q.copy()
        dt, a = self.dt, self.acceleration
        lag = self.ref - self.q
        catch_up = np.sign(lag) * np.minimum(np.abs(lag) / dt, np.sqrt(2 * a * np.abs(lag)))
        wanted = (ref - self.ref) / dt + catch_up
        v = np.clip(wanted, self.v - a * dt, self.v + a * dt)
        accel_limited = v != wanted
        v = self.clip_velocity(v)
        v = np.minimum(v, self._stopping_speed(self.upper - self.q))
        v = np.maximum(v, -self._stopping_speed(self.q - self.lower))
        q = self.clip(self.q + v * dt)
        v_out = (q - self.q) / dt
        self.velocity_clamps += int(np.count_nonzero(np.abs(wanted) > self.velocity))
        self.acceleration_clamps += int(np.count_nonzero(accel_limited))
        self.q, self.v, self.ref = q, v_out, ref.copy()
        return q.copy()
