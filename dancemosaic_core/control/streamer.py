"""The future a joint_trajectory_controller was told, and how to change it without a jump.

ROS 2's joint_trajectory_controller replaces its whole trajectory with every message it gets
(no splicing, unlike ROS 1), so each message here carries every point still ahead of the
robot plus the new ones, all on one absolute clock (the music clock, in ROS time seconds). The
stamp is the publication time and `time_from_start` counts from it, so a point keeps its
absolute time in every message that repeats it: nothing is re-sent at a fixed offset.

Every new point passes the SafetyFilter (limits.py), continuing from the point it follows in
time, so the sent timeline never leaves the position limits and never steps faster than the
velocity limits, whatever the generator produced, across chunk joins, deadline-miss extensions,
eases and holds; the filter also makes those fallback motions. Points are `dt` apart or more.
No ROS client library here: the ROS side converts a Segment to a JointTrajectory (tests run it without DDS).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dancemosaic_core.control.handover import MotionBudget, Stop
from dancemosaic_core.control.limits import SafetyFilter, cosine_ramp

# Two times closer than this share a trajectory point (float seconds of ROS time: ~1e-7 s).
TIME_EPS = 1e-6
# A gap before a chunk is bridged by a ramp of at most this long, ending at the chunk; the robot
# rests before it. The work stays bounded whatever the gap (a chunk stamped far ahead).
MAX_BRIDGE_SECONDS = 2.0


@dataclass
class Segment:
    """One message's worth: absolute point times (strictly increasing, all > stamp)."""
    stamp: float                      # header stamp, seconds
    times: np.ndarray                 # (M,) absolute seconds
    positions: np.ndarray             # (M, n)
    velocities: np.ndarray            # (M, n)
    efforts: np.ndarray | None = None  # (M, n) N m torque feed-forward, or none

    def position_at(self, t: float) -> np.ndarray | None:
        """The position this message alone commands at time t (linear between points, the last
        point after the end); None before its first point (a controller was still on an older one)."""
        if len(self.times) == 0 or t < self.times[0]:
            return None
        if t >= self.times[-1]:
            return self.positions[-1].copy()
        i = int(np.searchsorted(self.times, t, side="right")) - 1
        w = (t - self.times[i]) / (self.times[i + 1] - self.times[i])
        return (1 - w) * self.positions[i] + w * self.positions[i + 1]


class TrajectoryStreamer:
    """Plan of sent points; `add_chunk`, `extend`, `ease_to` and `hold` change its future and
    return the Segment to publish (None when nothing is left to send)."""

    def __init__(self, *, safety: SafetyFilter, neutral: np.ndarray, keep_seconds: float = 2.0):
        self.safety = safety
        self.dt = float(safety.dt)
        self.neutral = safety.clip(np.asarray(neutral, dtype=np.float64))
        self.keep_seconds = keep_seconds           # past points kept for state_at()
        n = len(self.neutral)
        self.times = np.zeros(0)
        self.positions = np.zeros((0, n))
        self.velocities = np.zeros((0, n))

    # --- what was sent ----------------------------------------------------------------------
    @property
    def end_time(self) -> float | None:
        return float(self.times[-1]) if len(self.times) else None

    def remaining(self, now: float) -> float:
        """Seconds of sent motion still ahead of `now` (0 when the plan is over or empty)."""
        return max(0.0, self.end_time - now) if len(self.times) else 0.0

    def state_at(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """(position, velocity) the plan commands at time t (linear between points; at rest
        outside the plan: neutral before the first point, the last point after the end)."""
        if len(self.times) == 0:
            return self.neutral.copy(), np.zeros_like(self.neutral)
        if t >= self.times[-1]:
            return self.positions[-1].copy(), np.zeros_like(self.neutral)
        if t <= self.times[0]:
            return self.positions[0].copy(), self.velocities[0].copy()
        i = int(np.searchsorted(self.times, t, side="right")) - 1
        w = (t - self.times[i]) / (self.times[i + 1] - self.times[i])
        q = (1 - w) * self.positions[i] + w * self.positions[i + 1]
        v = (1 - w) * self.velocities[i] + w * self.velocities[i + 1]
        return q, v

    # --- changing the future -----------------------------------------------------------------
    def _base(self, not_before: float) -> tuple[float, np.ndarray]:
        """Drop the planned points after `not_before` (still changeable) and return the
        (time, position) new points continue from: the last kept point when it is less than a
        frame before `not_before`, else `not_before` itself at the position planned there."""
        planned = self.state_at(not_before)[0]
        self._truncate(int(np.sum(self.times <= not_before + TIME_EPS)))
        if len(self.times) and self.times[-1] > not_before - self.dt + TIME_EPS:
            return float(self.times[-1]), self.positions[-1].copy()
        return not_before, planned

    def _truncate(self, n: int) -> None:
        self.times, self.positions, self.velocities = self.times[:n], self.positions[:n], self.velocities[:n]

    def _append(self, base_time: float, base_q: np.ndarray, times: np.ndarray, requested: np.ndarray,
                now: float, *, at_rest: bool = False) -> Segment | None:
        """Filter `requested` (positions at `times`, all >= base_time + dt) from base_q and add them."""
        if len(times) == 0:
            return self.segment(now)
        self.safety.reset(base_q)
        base_q = self.safety.last.copy()
        safe = self.safety.filter(requested, np.diff(np.concatenate([[base_time], times])))
        rest_point = len(self.times) == 0 or self.times[-1] < base_time - TIME_EPS
        if rest_point:
            # the robot rests at base_q from the plan's end until base_time: say so explicitly
            self.times = np.append(self.times, base_time)
            self.positions = np.vstack([self.positions, base_q[None]])
            self.velocities = np.vstack([self.velocities, np.zeros((1, len(base_q)))])
        base = len(self.times) - 1
        self.times = np.concatenate([self.times, times])
        self.positions = np.vstack([self.positions, safe])
        # velocities from the point before the base on (central differences across the join);
        # a rest point keeps its zero velocity
        start = max(0, base - 1)
        v = self.safety.velocities(self.positions[start:], self.times[start:])[base - start + int(rest_point):]
        if at_rest:
            v[-1] = 0.0
        self.velocities = np.vstack([self.velocities[:base + int(rest_point)], v])
        return self.segment(now)

    def add_chunk(self, times: np.ndarray, requested: np.ndarray, now: float, lead: float) -> Segment | None:
        """Join a chunk of requested positions (N, n) at absolute `times` (N,) to the plan.

        Points the controller may already be executing (before now + lead) stay; a chunk that
        overlaps the plan replaces it from there, a contiguous one appends, and a gap before
        the chunk is bridged by a cosine ramp. Frames closer than dt after the base are dropped."""
        times = np.asarray(times, dtype=np.float64)
        # overlap: replace the plan from the chunk's start; gap: bridge from the plan's end
        start = times[0] - self.dt if self.end_time is None else min(times[0] - self.dt, self.end_time)
        base_time, base_q = self._base(max(now + lead, start))
        keep = times >= base_time + self.dt - TIME_EPS
        times, requested = times[keep], np.asarray(requested, dtype=np.float64)[keep]
        if len(times) == 0:
            return self.segment(now)
        gap = int(np.floor((times[0] - base_time) / self.dt + TIME_EPS)) - 1
        if gap > 0:
            ramp = min(gap, int(np.ceil(MAX_BRIDGE_SECONDS / self.dt)))
            if ramp < gap:
                # a long gap: the robot rests at base_q and ramps only over the last frames
                self._append(base_time, base_q, np.array([times[0] - (ramp + 1) * self.dt]), base_q[None], now,
                             at_rest=True)
                base_time = float(self.times[-1])
            ramp_t = base_time + self.dt * np.arange(1, ramp + 1)
            bridge = cosine_ramp(base_q, requested[0], ramp + 1)[:-1]    # the last is the chunk's first
            times, requested = np.concatenate([ramp_t, times]), np.vstack([bridge, requested])
        return self._append(base_time, base_q, times, requested, now)

    def extend(self, seconds: float, now: float, lead: float, budget: MotionBudget | None = None) -> Segment | None:
        """Deadline miss: continue after the plan's end with its last velocity, decaying to
        rest over `seconds` (SafetyFilter.extend), instead of stopping dead or jumping. With a
        `budget`, from the step into the end, braking constantly within the budget's fraction of
        the acceleration limits over `seconds` or longer (MotionBudget.stop without a target)."""
        end = self.end_time
        if end is None or end < now:
            base_time, base_q = self._base(now + lead)
            velocity = np.zeros_like(base_q)
        else:
            # the plan's end is still ahead of the robot: points after it change nothing sent
            # (before, an end less than command_lead ahead made the plan stop dead there)
            base_time, base_q = end, self.positions[-1].copy()
            velocity = self.velocities[-1]
            if budget is not None and len(self.times) > 1:
                # as in stop: the central-difference velocity at the end would add half the plan's
                # last change of step to the extension's first
                velocity = (base_q - self.positions[-2]) / (base_time - self.times[-2])
        self.safety.reset(base_q)
        points = self.safety.extend(velocity, seconds) if budget is None else \
            budget.stop(base_q, velocity, None, seconds).points
        times = base_time + self.dt * np.arange(1, len(points) + 1)
        return self._append(base_time, base_q, times, points, now, at_rest=True)

    def ease_to(self, target: np.ndarray, seconds: float, now: float, lead: float) -> Segment | None:
        """Replace the future after now + lead by a smooth move to `target` (the neutral pose on
        silence), long enough for the velocity limits (SafetyFilter.ease_to)."""
        base_time, base_q = self._base(now + lead)
        self.safety.reset(base_q)
        points = self.safety.ease_to(target, seconds)
        times = base_time + self.dt * np.arange(1, len(points) + 1)
        return self._append(base_time, base_q, times, points, now, at_rest=True)

    def hold(self, now: float, lead: float) -> Segment | None:
        """E-stop: drop the future after now + lead and rest at the position planned there
        (SafetyFilter.hold for one frame)."""
        base_time, base_q = self._base(now + lead)
        self.safety.reset(base_q)
        points = self.safety.hold(self.dt)
        times = base_time + self.dt * np.arange(1, len(points) + 1)
        return self._append(base_time, base_q, times, points, now, at_rest=True)

    def stop(self, budget: MotionBudget, target: np.ndarray | None, now: float, lead: float,
             min_seconds: float = 0.0) -> tuple[Segment | None, Stop]:
        """Replace the future after now + lead by a move from the planned state there to rest at
        `target` (the measured pose on e-stop or divergence, the neutral pose on silence; None:
        brake to where the motion stops), within the budget's fraction of the velocity and
        acceleration limits, or harder where only that stays inside the position limits
        (MotionBudget.stop). Returns the Segment to publish and the Stop (how it brakes)."""
        velocity = self.state_at(now + lead)[1]
        base_time, base_q = self._base(now + lead)
        before = self.times < base_time - TIME_EPS
        if before.any():
            # the stop continues the step into its base, so the change of step there is the stop's
            # own braking; the central-difference velocity at the base would add half the plan's
            # acceleration there to it (up to 1.1 x the fraction when the dance's own was beyond it)
            velocity = (base_q - self.positions[before][-1]) / (base_time - self.times[before][-1])
        stop = budget.stop(base_q, velocity, target, min_seconds)
        times = base_time + self.dt * np.arange(1, len(stop.points) + 1)
        return self._append(base_time, base_q, times, stop.points, now, at_rest=True), stop

    def rest_at(self, q: np.ndarray, time: float) -> None:
        """The robot rests at `q` (its measured or held pose) from `time` on: planned points from
        `time` on are dropped, and the next chunk starts from there."""
        self._truncate(int(np.sum(self.times < time - TIME_EPS)))
        self.times = np.append(self.times, time)
        self.positions = np.vstack([self.positions, self.safety.clip(np.asarray(q, dtype=np.float64))[None]])
        self.velocities = np.vstack([self.velocities, np.zeros((1, len(self.neutral)))])

    def reset(self) -> None:
        """Forget the plan (a new robot session); the next chunk starts from the neutral pose."""
        self._truncate(0)

    def segment(self, now: float) -> Segment | None:
        """The message to send now: every planned point after `now`."""
        old = self.times < now - self.keep_seconds
        if old.any():
            k = int(old.sum())
            self.times, self.positions, self.velocities = self.times[k:], self.positions[k:], self.velocities[k:]
        ahead = self.times > now + TIME_EPS
        if not ahead.any():
            return None
        return Segment(stamp=now, times=self.times[ahead].copy(), positions=self.positions[ahead].copy(),
                       velocities=self.velocities[ahead].copy())
