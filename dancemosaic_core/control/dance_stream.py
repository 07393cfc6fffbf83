"""The retarget node's command stream without ROS: chunks joined to the plan a controller was
sent (TrajectoryStreamer), each start of the dance ramped in from where the robot is (MotionBudget).

The dance starts with a ramp (`take_over`) at the first chunk and again after every break of the
plan: a deadline-miss extension (`extend`: the plan eased to rest away from the dance) and a stop
(`stop`: e-stop, divergence, silence). Until a ramp has started, `ramp_pending` stays set: a chunk
whose frames all lie before the ramp could start (a late chunk after an extension) sends nothing
and leaves the next chunk to take over, never to join the eased plan with a jump. Later chunks of
a ramp are blended in from what was commanded (MotionBudget.blend). Every point still passes the
SafetyFilter in the streamer. The node adds only messages, state and logging around these calls.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from dancemosaic_core.control.handover import (
    TIME_STEP_SLACK,
    Handover,
    MotionBudget,
    Stop,
)
from dancemosaic_core.control.streamer import TIME_EPS, Segment, TrajectoryStreamer

MEASURED, COMMANDED, NEUTRAL = "the measured pose", "the last commanded pose", "the neutral pose"


@dataclass
class Joined:
    """What `DanceStream.join` did with a chunk."""
    segment: Segment | None = None    # the message to send
    sent: bool = False                # some of the chunk's frames joined the plan
    ramp_from: str | None = None      # a ramp into the dance started here, from this pose
    refused: bool = False             # a ramp was due and there is no pose to start it from


class DanceStream:
    def __init__(self, streamer: TrajectoryStreamer, budget: MotionBudget):
        self.streamer, self.budget = streamer, budget
        self.handover: Handover | None = None      # the latest ramp into the dance (None after a stop)
        self.ramp_pending = True                    # the next chunk starts with a ramp

    def join(self, times: np.ndarray, q: np.ndarray, now: float, lead: float, measured: np.ndarray | None = None,
             measured_at: float = -np.inf, from_neutral: bool = False) -> Joined:
        """A chunk's positions q (N, n) at `times` (N,) into the plan: when a ramp is pending it
        starts from `start_pose` (the robot's pose `measured`, measured at `measured_at`), then the
        frames after its start are blended in and sent (`add_chunk`)."""
        joined = Joined()
        if self.ramp_pending and len(times):
            start = self.start_pose(measured, measured_at, from_neutral)
            if start is None:
                return Joined(refused=True)
            times, q = self.take_over(times, q, start[0], now, lead)
            joined.ramp_from = None if self.ramp_pending else start[1]
        if len(times):
            joined.segment, joined.sent = self.add_chunk(times, q, now, lead), True
        return joined

    def start_pose(self, measured: np.ndarray | None, measured_at: float,
                   from_neutral: bool) -> tuple[np.ndarray, str] | None:
        """Where the next ramp starts, and its name: the measured pose when it was measured after
        the plan came to rest (or nothing was planned: the robot's first move); else the pose the
        plan rests at (the robot may still be on its way there: a measurement from before would
        pull the plan back); else the neutral pose when `from_neutral`; else None (no start)."""
        end = self.streamer.end_time
        if measured is not None and (end is None or end <= measured_at):
            return np.asarray(measured, dtype=np.float64).copy(), MEASURED
        if end is not None:
            return self.streamer.positions[-1].copy(), COMMANDED
        if from_neutral:
            return self.streamer.neutral.copy(), NEUTRAL
        return None

    def take_over(self, times: np.ndarray, q: np.ndarray, start_q: np.ndarray, now: float,
                  lead: float) -> tuple[np.ndarray, np.ndarray]:
        """Plan the ramp from `start_q` (at rest) into the chunk's positions q (N, n) at `times`:
        it starts at now + lead, one frame before the chunk, or where the plan ends, whichever is
        last. Returns the chunk's frames after the ramp's start (none: no ramp yet, still pending)."""
        end = self.streamer.end_time
        start_time = max(now + lead, times[0] - self.streamer.dt, -np.inf if end is None else end)
        keep = times >= start_time + self.streamer.dt - TIME_EPS
        if keep.any():
            self.handover = self.budget.handover(start_q, start_time, times[keep], q[keep])
            self.streamer.rest_at(start_q, start_time)
            self.ramp_pending = False
        return times[keep], q[keep]

    def add_chunk(self, times: np.ndarray, q: np.ndarray, now: float, lead: float) -> Segment | None:
        """Join the chunk's positions to the plan, blended while a ramp runs (after `take_over`
        when `ramp_pending`). A chunk that comes before the controller may have begun the ramp
        (its start at or after now + lead) has the ramp planned again on all the dance known by
        then: a later chunk joined inside a ramp planned on a few frames, in its acceleration-bound
        second half, leaves no continuation within the budget (MotionBudget.blend takes the least
        excessive: 1.09 x the acceleration fraction was seen)."""
        plan = self.handover
        # blended while the ramp runs at the join (the point before the chunk): a chunk starting
        # just after the ramp's end changes the step the ramp ends with
        if plan is not None and not plan.done(times[0] - (1 + TIME_STEP_SLACK) * self.streamer.dt):
            if plan.start_time >= now + lead - TIME_EPS:
                known = self._commanded_between(plan, plan.start_time, times[0])
                times, q = np.concatenate([plan.times[known], times]), np.vstack([plan.dance[known], q])
                self.handover = self.budget.handover(plan.start_q, plan.start_time, times, q)
                q = self.budget.blend(self.handover, times, q)
            else:
                times, q = self._blend(plan, times, q, now + lead)
        return self.streamer.add_chunk(times, q, now, lead)

    def _blend(self, plan: Handover, times: np.ndarray, q: np.ndarray, not_before: float):
        """MotionBudget.blend from the chunk's start; where no continuation of the ramp fits
        there (a later dance farther from the start asks for a slower weight than one frame of
        the acceleration budget can turn to), the same from the first point the controller may
        not have begun (after `not_before`), re-blending the commanded frames from there: more
        time to turn. The better of the two; returns the times and commands to join."""
        joined = copy.copy(plan)
        commanded = self.budget.blend(joined, times, q)
        changeable = self._commanded_between(plan, not_before, times[0])
        if joined.excess > 1 and changeable.any():
            earlier = copy.copy(plan)
            earlier_times = np.concatenate([plan.times[changeable], times])
            earlier_commanded = self.budget.blend(earlier, earlier_times, np.vstack([plan.dance[changeable], q]))
            if earlier.excess < joined.excess:
                self.handover = earlier
                return earlier_times, earlier_commanded
        self.handover = joined
        return times, commanded

    def _commanded_between(self, plan: Handover, after: float, before: float) -> np.ndarray:
        """Which frames the ramp commanded lie after `after` and before a chunk starting at `before`."""
        return (plan.times > after + TIME_EPS) & (plan.times < before - TIME_STEP_SLACK * self.streamer.dt)

    def extend(self, seconds: float, now: float, lead: float) -> Segment | None:
        """Deadline miss: the plan brakes to rest within the budget (TrajectoryStreamer.extend);
        the next chunk ramps in from there."""
        self.ramp_pending = True
        return self.streamer.extend(seconds, now, lead, self.budget)

    def stop(self, target: np.ndarray | None, now: float, lead: float,
             min_seconds: float = 0.0) -> tuple[Segment | None, Stop | None]:
        """Come to rest at `target` (None: where the motion stops) within the budget
        (TrajectoryStreamer.stop); with nothing planned yet, rest at the target (Stop None)."""
        self.handover, self.ramp_pending = None, True
        if self.streamer.end_time is None:
            if target is None:
                return None, None
            self.streamer.rest_at(target, now + lead)
            return self.streamer.segment(now), None
        return self.streamer.stop(self.budget, target, now, lead, min_seconds)
