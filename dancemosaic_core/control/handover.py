"""Taking a robot over from where it stands and giving it back at rest, gently.

A real robot is standing, crouched or mid-gesture when the dance starts, and it is moving when an
e-stop, a divergence or silence stops the dance. `MotionBudget` plans both moves within a
fraction of the joints' velocity and acceleration limits:

- `MotionBudget.handover`: a `Handover` blends from the measured (or held) pose into the dance,
  q(t) = q0 + s(t) (dance(t) - q0) with s the cosine ramp of limits.ramp_fraction. Its duration
  starts from what a rest-to-rest cosine over the largest distance needs (peak speed pi d / 2T,
  peak acceleration pi^2 d / 2T^2) and grows until every sampled step of the blend stays within
  the fraction of the limits, or within what the dance itself does at that moment (the dance was
  already limited by the retargeter; the blend never adds speed beyond the fraction).
- `MotionBudget.stop`: a cubic Hermite from the planned state (q0, v0) to rest at a target (the
  measured pose, the neutral pose) or, without one, constant braking to where the motion stops.
  Its duration is the shortest on the frame grid with |acceleration| <= fraction x limit and
  |velocity| <= max(fraction x limit, |v0|) along the whole curve.

The position and velocity clamps stay in SafetyFilter (limits.py), which every point still passes.
No ROS client library here.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.control.limits import JointLimits, ramp_fraction

# Relative slack of the limit checks (float rounding of the sampled curves).
TOLERANCE = 1e-9
# Longest plan either move may take before the planner gives up growing it.
MAX_SECONDS = 120.0


@dataclass
class Handover:
    """Blend from `start_q` (at rest at `start_time`) into the dance over `seconds`."""
    start_q: np.ndarray
    start_time: float
    seconds: float

    def weight(self, times: np.ndarray) -> np.ndarray:
        """How much of the dance is in the command at `times` (0 before the start, 1 after the end)."""
        return ramp_fraction((np.asarray(times, dtype=np.float64) - self.start_time) / self.seconds)

    def apply(self, times: np.ndarray, dance: np.ndarray) -> np.ndarray:
        """The commanded positions (N, n) for dance positions (N, n) at absolute `times` (N,)."""
        s = self.weight(times)[:, None]
        return self.start_q + s * (np.asarray(dance, dtype=np.float64) - self.start_q)

    def done(self, t: float) -> bool:
        return t >= self.start_time + self.seconds


def _differences(times: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Finite-difference velocities (N-1, n) and accelerations (N-2, n) of points at `times`."""
    v = np.diff(q, axis=0) / np.diff(times)[:, None]
    mid = 0.5 * (times[1:] + times[:-1])
    a = np.diff(v, axis=0) / np.diff(mid)[:, None]
    return v, a


@dataclass
class MotionBudget:
    limits: JointLimits               # position box, velocity limits and dt (the SafetyFilter)
    acceleration: np.ndarray          # (n,) rad/s^2
    fraction: float                   # of the velocity and acceleration limits the moves may use

    def __post_init__(self) -> None:
        self.acceleration = np.asarray(self.acceleration, dtype=np.float64)
        if self.acceleration.shape != self.limits.velocity.shape or np.any(self.acceleration <= 0):
            raise DanceMosaicError(f"acceleration limits must be {self.limits.velocity.shape[0]} positive values "
                                   f"(got shape {self.acceleration.shape})")
        if not 0.0 < self.fraction <= 1.0:
            raise DanceMosaicError(f"the hand-over fraction of the limits is {self.fraction}; it must be in (0, 1]")

    @property
    def velocity(self) -> np.ndarray:
        return self.fraction * self.limits.velocity

    @property
    def accel(self) -> np.ndarray:
        return self.fraction * self.acceleration

    def ramp_seconds(self, distance: np.ndarray) -> float:
        """Shortest rest-to-rest cosine ramp over `distance` (per joint) within the budget."""
        d = np.abs(np.asarray(distance, dtype=np.float64))
        return float(max(np.max(np.pi * d / (2 * self.velocity)), np.max(np.pi * np.sqrt(d / (2 * self.accel)))))

    # --- into the dance -----------------------------------------------------------------------
    def handover(self, start_q: np.ndarray, start_time: float, times: np.ndarray, dance: np.ndarray) -> Handover:
        """The blend from `start_q` at rest at `start_time` into the dance positions (N, n) at
        `times` (N,), all after start_time: long enough that every step of the blended points
        (the start at rest included) is within the budget or the dance's own step there."""
        start_q = self.limits.clip(np.asarray(start_q, dtype=np.float64))
        times, dance = np.asarray(times, dtype=np.float64), np.asarray(dance, dtype=np.float64)
        if len(times) == 0 or times[0] <= start_time:
            raise DanceMosaicError("the hand-over needs dance points after its start time")
        seconds = max(self.ramp_seconds(np.max(np.abs(dance - start_q), axis=0)), self.limits.dt)
        # the robot rests at start_q one frame before the start: the first steps start from rest
        t = np.concatenate([[start_time - self.limits.dt, start_time], times])
        own_v, own_a = _differences(t, np.vstack([dance[:1], dance[:1], dance]))
        v_allowed = np.maximum(self.velocity, np.abs(own_v)) * (1 + TOLERANCE)
        a_allowed = np.maximum(self.accel, np.abs(own_a)) * (1 + TOLERANCE)
        while True:
            plan = Handover(start_q, float(start_time), seconds)
            q = np.vstack([start_q, start_q, plan.apply(times, dance)])
            v, a = _differences(t, q)
            if np.all(np.abs(v) <= v_allowed) and np.all(np.abs(a) <= a_allowed):
                return plan
            if seconds > MAX_SECONDS:
                raise DanceMosaicError(f"no hand-over ramp within {MAX_SECONDS} s fits {self.fraction} of the "
                                       "joint limits; check the robot config's velocity and acceleration limits")
            seconds *= 1.05

    # --- to rest ------------------------------------------------------------------------------
    def stop(self, q0: np.ndarray, v0: np.ndarray, target: np.ndarray | None = None,
             min_seconds: float = 0.0) -> np.ndarray:
        """Points (M, n) after q0, dt apart, from velocity v0 to rest at `target` (clipped into
        the position box); without a target, braking at constant deceleration to where the motion
        stops by itself. The last two points are the rest pose."""
        q0 = np.asarray(q0, dtype=np.float64)
        v0 = self.limits.clip_velocity(np.asarray(v0, dtype=np.float64))
        dt = self.limits.dt
        v_allowed = np.maximum(self.velocity, np.abs(v0)) * (1 + TOLERANCE)
        a_allowed = self.accel * (1 + TOLERANCE)
        if target is not None:
            target = self.limits.clip(np.asarray(target, dtype=np.float64))
            lower = max(self.ramp_seconds(target - q0), float(np.max(np.abs(v0) / self.accel)))
        else:
            lower = float(np.max(np.abs(v0) / self.accel))
        n = max(1, int(np.ceil(max(lower, min_seconds) / dt - TOLERANCE)))
        s = np.linspace(0.0, 1.0, 201)[:, None]
        while True:
            T = n * dt
            # braking at constant deceleration v0 / T covers v0 T / 2 (the Hermite's quadratic case)
            d = (target - q0) if target is not None else 0.5 * v0 * T
            v = 6 * d * (s - s * s) / T + v0 * (3 * s * s - 4 * s + 1)
            a = (6 * d * (1 - 2 * s) / T + v0 * (6 * s - 4)) / T
            if np.all(np.abs(v) <= v_allowed) and np.all(np.abs(a) <= a_allowed):
                break
            if T > MAX_SECONDS:
                raise DanceMosaicError(f"no stop within {MAX_SECONDS} s fits {self.fraction} of the joint limits; "
                                       "check the robot config's velocity and acceleration limits")
            n = max(n + 1, int(np.ceil(n * 1.1)))
        k = (np.arange(1, n + 1) / n)[:, None]
        # cubic Hermite basis: q0 + h10 T v0 + h01 d; the rest pose once more: it holds there
        points = q0 + (k ** 3 - 2 * k ** 2 + k) * T * v0 + (3 * k ** 2 - 2 * k ** 3) * d
        return np.vstack([points, points[-1:]])
