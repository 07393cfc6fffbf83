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
  `MotionBudget.blend` applies it chunk by chunk and checks each later chunk again from what was
  commanded, re-planning the rest of the blend slower where the later dance would leave the budget.
- `MotionBudget.stop`: a cubic Hermite from the planned state (q0, v0) to rest at a target (the
  measured pose, the neutral pose) or, without one, constant braking to where the motion stops.
  Its duration is the shortest on the frame grid with |acceleration| <= fraction x limit and
  |velocity| <= max(fraction x limit, |v0|) along the whole curve, and every point inside the
  position limits. A joint moving fast toward its limit may not stop inside it within the
  fraction: it then brakes per joint at constant deceleration, the gentlest that stops inside
  (v0^2 / 2 x room, up to the full acceleration limit), and at the limit with the full
  acceleration when even that does not suffice; a target is reached afterwards from rest. The
  returned `Stop` says which braking it took.

The position and velocity clamps stay in SafetyFilter (limits.py), which every point still passes.
No ROS client library here.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.control.limits import JointLimits, ramp_fraction

# Relative slack of the limit checks (float rounding of the sampled curves).
TOLERANCE = 1e-9
# Points of a later chunk within this share of a frame of a commanded one replace it.
TIME_STEP_SLACK = 0.5
# Longest plan either move may take before the planner gives up growing it.
MAX_SECONDS = 120.0
# blend's re-plan tries durations 5 % apart up to this multiple of the plan's remaining time
FINE_SEARCH = 3.0

# How a `Stop` brakes: within the fraction of the acceleration limits; beyond it (up to the full
# limit) to stay inside the position limits; or at a position limit, braking at the full limit
# from too close to stop before it (the robot's limits leave nothing better; SafetyFilter stays
# the last gate).
WITHIN_BUDGET = "within the hand-over fraction"
FULL_ACCELERATION = ("beyond the hand-over fraction, up to the full acceleration limit, to stay inside the "
                     "position limits")
AT_LIMIT = "at a position limit with the full acceleration limit (too close to the limit to stop before it)"


@dataclass
class Handover:
    """Blend from `start_q` (at rest at `start_time`) into the dance: the cosine ramp over
    `seconds`, then any slower continuations `MotionBudget.blend` planned as later chunks came."""
    start_q: np.ndarray
    start_time: float
    seconds: float
    # (join time, weight there, weight rate there, seconds): a cubic Hermite from there to 1 at rest
    pieces: list = field(default_factory=list)
    # what the blend commanded so far (the rest before the start included): times, commands, dance
    times: np.ndarray = None
    commanded: np.ndarray = None
    dance: np.ndarray = None
    # the largest ratio to the budget of the steps the last blend commanded (above 1: the least
    # excessive continuation was taken)
    excess: float = 0.0

    @property
    def end(self) -> float:
        join, _, _, seconds = self.pieces[-1] if self.pieces else (self.start_time, 0.0, 0.0, self.seconds)
        return join + seconds

    def weight_and_rate(self, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The weight of the dance at `times` and its rate of change (1/s)."""
        t = np.asarray(times, dtype=np.float64)
        x = (t - self.start_time) / self.seconds
        w = ramp_fraction(x)
        rate = np.where((x > 0) & (x < 1), 0.5 * np.pi * np.sin(np.pi * np.clip(x, 0.0, 1.0)) / self.seconds, 0.0)
        for join, w0, r0, seconds in self.pieces:
            k = np.clip((t - join) / seconds, 0.0, 1.0)
            h, dh = _to_one(k, w0, r0 * seconds)
            after = t >= join
            w, rate = np.where(after, h, w), np.where(after & (k < 1), dh / seconds, rate)
        return w, rate

    def weight(self, times: np.ndarray) -> np.ndarray:
        """How much of the dance is in the command at `times` (0 before the start, 1 after the end)."""
        return self.weight_and_rate(times)[0]

    def apply(self, times: np.ndarray, dance: np.ndarray) -> np.ndarray:
        """The commanded positions (N, n) for dance positions (N, n) at absolute `times` (N,)."""
        s = self.weight(times)[:, None]
        return self.start_q + s * (np.asarray(dance, dtype=np.float64) - self.start_q)

    def done(self, t: float) -> bool:
        return t >= self.end


@dataclass
class Stop:
    """A planned stop: points (M, n), dt apart after the start, the last two at the rest pose."""
    points: np.ndarray
    braking: str                      # WITHIN_BUDGET, FULL_ACCELERATION or AT_LIMIT

    @property
    def within_budget(self) -> bool:
        return self.braking == WITHIN_BUDGET


def _to_one(k: np.ndarray, w0: float, slope: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The cubic Hermite from w0 (slope `slope` per unit k) to 1 at rest, at k in [0, 1]
    (w0 h00 + slope h10 + h01), and its derivative in k. `slope` (C, 1) gives (C, len(k))."""
    h = w0 * (2 * k ** 3 - 3 * k ** 2 + 1) + slope * (k ** 3 - 2 * k ** 2 + k) + 3 * k ** 2 - 2 * k ** 3
    dh = w0 * (6 * k ** 2 - 6 * k) + slope * (3 * k ** 2 - 4 * k + 1) + 6 * k - 6 * k ** 2
    return h, dh


def _differences(times: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Finite-difference velocities (..., N-1, n) and accelerations (..., N-2, n) of points
    (..., N, n) at `times` (N,)."""
    v = np.diff(q, axis=-2) / np.diff(times)[:, None]
    mid = 0.5 * (times[1:] + times[:-1])
    a = np.diff(v, axis=-2) / np.diff(mid)[:, None]
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
        rest_t = np.array([start_time - self.limits.dt, start_time])
        t = np.concatenate([rest_t, times])
        # no dance at the rest points: the steps from rest are held to the budget alone (the
        # dance's first point repeated there once lent the first point an "own" acceleration of
        # its speed / dt, 20x its speed at 20 fps)
        own = np.vstack([np.full((2, dance.shape[1]), np.nan), dance])
        while True:
            plan = Handover(start_q, float(start_time), seconds, times=rest_t, commanded=np.vstack([start_q, start_q]),
                            dance=own[:2])
            if self._excess(t, np.vstack([start_q, start_q, plan.apply(times, dance)]), own) <= 1:
                return plan
            if seconds > MAX_SECONDS:
                raise DanceMosaicError(f"no hand-over ramp within {MAX_SECONDS} s fits {self.fraction} of the "
                                       "joint limits; check the robot config's velocity and acceleration limits")
            seconds *= 1.05

    def blend(self, plan: Handover, times: np.ndarray, dance: np.ndarray) -> np.ndarray:
        """The commands (N, n) for a chunk's dance positions (N, n) at `times` during the hand-over.
        The ramp was planned against the first chunk's dance; a later chunk's dance may lie farther
        from the start, so every step from what the blend already commanded is checked again and,
        where one leaves the budget (or the dance's own step), the rest of the blend is re-planned
        slower: a cubic Hermite in the weight from the last commanded point (its rate there kept or
        lowered) to 1 at rest, the first on the shortest duration that fits (durations 5 % apart up to
        FINE_SEARCH x the ramp's remaining time, 25 % beyond; `plan.pieces` grows).
        Where none fits, the least excessive is taken (the dance moved away faster than one frame
        of the acceleration budget can follow)."""
        times, dance = np.asarray(times, dtype=np.float64), np.asarray(dance, dtype=np.float64)
        past = plan.times < times[0] - TIME_STEP_SLACK * self.limits.dt
        before_t, before_q, before_d = plan.times[past][-2:], plan.commanded[past][-2:], plan.dance[past][-2:]
        t, own = np.concatenate([before_t, times]), np.vstack([before_d, dance])

        # checked as sent: inside the position limits, as the SafetyFilter will clip them
        def excess() -> float:
            return self._excess(t, np.vstack([before_q, self.limits.clip(plan.apply(times, dance))]), own)

        if excess() > 1 and plan.end > before_t[-1]:
            join = float(before_t[-1])
            w0, rate = (float(x[0]) for x in plan.weight_and_rate([join]))
            rates = rate * np.linspace(1.0, 0.0, 101)          # kept, or lowered at the join
            best, best_excess, allowed = None, np.inf, self._allowed(t, own)
            seconds = shortest = max(plan.end - join, self.limits.dt)
            while best_excess > 1 and seconds <= MAX_SECONDS:
                # steeper than 3 (1 - w0) / T at the join, the weight would overshoot 1
                r0 = rates[rates * seconds <= 3 * (1 - w0) * (1 + TOLERANCE)]
                if len(r0):
                    w = _to_one(np.clip((times - join) / seconds, 0.0, 1.0), w0, r0[:, None] * seconds)[0]
                    q = self.limits.clip(plan.start_q + w[:, :, None] * (dance - plan.start_q))
                    found = self._excess(t, np.concatenate([np.broadcast_to(before_q, (len(r0),) + before_q.shape), q],
                                                           axis=1), own, allowed)
                    i = int(np.argmax(found <= 1)) if np.any(found <= 1) else int(np.argmin(found))
                    if found[i] < best_excess:
                        best, best_excess = (join, w0, float(r0[i]), seconds), found[i]
                # 5 % steps near the plan's end, where a fit usually is; farther out the pieces
                # differ little over a chunk (the weight is nearly linear there), and 5 % steps all
                # the way to MAX_SECONDS (~100 durations x 101 rates when none fits) held the
                # ramp's joins up to 0.2 s live
                seconds *= 1.05 if seconds < FINE_SEARCH * shortest else 1.25
            if best is not None:
                plan.pieces = plan.pieces + [best]
        commanded = self.limits.clip(plan.apply(times, dance))
        plan.excess = float(self._excess(t, np.vstack([before_q, commanded]), own))
        plan.times = np.concatenate([plan.times[past], times])
        plan.commanded = np.vstack([plan.commanded[past], commanded])
        plan.dance = np.vstack([plan.dance[past], dance])
        return commanded

    def _allowed(self, t: np.ndarray, dance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per step, the velocity and acceleration the budget allows: the fraction of the
        limits or the dance's own step; the limits alone where the dance is NaN (a rest point)."""
        own_v, own_a = (np.nan_to_num(np.abs(x)) for x in _differences(t, dance))
        return np.maximum(self.velocity, own_v) * (1 + TOLERANCE), np.maximum(self.accel, own_a) * (1 + TOLERANCE)

    def _excess(self, t: np.ndarray, q: np.ndarray, dance: np.ndarray, allowed=None):
        """The largest ratio of a step (acceleration) of points `q` (N, n), or of each of (C, N, n)
        candidates, at `t` to what the budget allows there (`_allowed` of the dance, or given)."""
        v_allowed, a_allowed = self._allowed(t, dance) if allowed is None else allowed
        v, a = _differences(t, q)
        worst = np.maximum(np.max(np.abs(v) / v_allowed, axis=(-2, -1), initial=0.0),
                           np.max(np.abs(a) / a_allowed, axis=(-2, -1), initial=0.0))
        return worst if worst.ndim else float(worst)

    # --- to rest ------------------------------------------------------------------------------
    def stop(self, q0: np.ndarray, v0: np.ndarray, target: np.ndarray | None = None,
             min_seconds: float = 0.0) -> Stop:
        """Points after q0, dt apart, from velocity v0 to rest at `target` (clipped into the
        position box); without a target, braking at constant deceleration to where the motion
        stops by itself. Every point stays inside the position box (see the module docstring
        for what a joint too fast for its limit does)."""
        q0 = np.asarray(q0, dtype=np.float64)
        v0 = self.limits.clip_velocity(np.asarray(v0, dtype=np.float64))
        if target is not None:
            target = self.limits.clip(np.asarray(target, dtype=np.float64))
        points = self._hermite(q0, v0, target, min_seconds)
        if points is not None:
            return Stop(points, WITHIN_BUDGET)
        points, braking = self._brake(q0, v0)
        if target is not None:
            # from rest inside the box to a target inside it: the rest-to-rest Hermite is a
            # convex blend of the two, so it stays inside and this call always returns points
            back = self._hermite(points[-1], np.zeros_like(v0), target,
                                 max(0.0, min_seconds - len(points) * self.limits.dt))
            points = np.vstack([points, back])
        else:
            # at rest where the braking ends, for min_seconds at least (as the Hermite stops last)
            rest = int(np.ceil(min_seconds / self.limits.dt - TOLERANCE)) + 1 - len(points)
            points = np.vstack([points, np.repeat(points[-1:], max(rest, 0), axis=0)])
        return Stop(points, braking)

    def _hermite(self, q0: np.ndarray, v0: np.ndarray, target: np.ndarray | None,
                 min_seconds: float) -> np.ndarray | None:
        """The cubic Hermite stop within the budget (the last two points the rest pose), or None
        when its points would leave the position box."""
        dt = self.limits.dt
        v_allowed = np.maximum(self.velocity, np.abs(v0)) * (1 + TOLERANCE)
        a_allowed = self.accel * (1 + TOLERANCE)
        if target is not None:
            lower = max(self.ramp_seconds(target - q0), float(np.max(np.abs(v0) / self.accel)))
        else:
            lower = float(np.max(np.abs(v0) / self.accel))
        n = max(1, int(np.ceil(max(lower, min_seconds) / dt - TOLERANCE)))
        s = np.linspace(0.0, 1.0, 201)[:, None]
        while True:
            T = n * dt
            # braking at constant deceleration v0 / T covers v0 T / 2 (the Hermite's quadratic case)
            d = (target - q0) if target is not None else 0.5 * v0 * T
            k = (np.arange(1, n + 1) / n)[:, None]
            # cubic Hermite basis: q0 + h10 T v0 + h01 d
            points = q0 + (k ** 3 - 2 * k ** 2 + k) * T * v0 + (3 * k ** 2 - 2 * k ** 3) * d
            if not self._inside(points):
                # every term grows with T along v0 (h10 >= 0; the braking distance v0 T / 2):
                # a longer stop only goes farther past the limit
                return None
            v = 6 * d * (s - s * s) / T + v0 * (3 * s * s - 4 * s + 1)
            a = (6 * d * (1 - 2 * s) / T + v0 * (6 * s - 4)) / T
            if np.all(np.abs(v) <= v_allowed) and np.all(np.abs(a) <= a_allowed):
                break
            if T > MAX_SECONDS:
                raise DanceMosaicError(f"no stop within {MAX_SECONDS} s fits {self.fraction} of the joint limits; "
                                       "check the robot config's velocity and acceleration limits")
            n = max(n + 1, int(np.ceil(n * 1.1)))
        # within TOLERANCE of the box: clip the rounding so SafetyFilter has nothing to clamp;
        # the rest pose once more: it holds there
        points = self.limits.clip(points)
        return np.vstack([points, points[-1:]])

    def _inside(self, points: np.ndarray) -> bool:
        span = np.maximum(1.0, np.abs(self.limits.upper - self.limits.lower)) * TOLERANCE
        return bool(np.all(points >= self.limits.lower - span) and np.all(points <= self.limits.upper + span))

    def _brake(self, q0: np.ndarray, v0: np.ndarray) -> tuple[np.ndarray, str]:
        """Each joint brakes at its own constant deceleration to rest inside the box: the
        fraction of its limit, or what stops it just at the limit (v0^2 / 2 room) up to the full
        limit; beyond that at the full limit, the points clipped at the limit. (M, n) points, the
        last two the rest pose, and which braking it took (WITHIN_BUDGET when no joint needed more
        than the fraction)."""
        dt = self.limits.dt
        speed = np.abs(v0)
        room = np.maximum(np.where(v0 > 0, self.limits.upper - q0, q0 - self.limits.lower), 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            needed = np.where(speed > 0, speed ** 2 / (2 * room), 0.0)
        at_limit = bool(np.any(needed > self.acceleration * (1 + TOLERANCE)))
        decel = np.clip(needed, self.accel, self.acceleration)
        seconds = speed / decel
        n = max(1, int(np.ceil(float(np.max(seconds)) / dt - TOLERANCE)))
        t = np.minimum(dt * np.arange(1, n + 1)[:, None], seconds)
        # q0 + v0 t - a t^2 / 2 along v0 until the joint rests at t = |v0| / a
        points = self.limits.clip(q0 + np.sign(v0) * (speed * t - 0.5 * decel * t * t))
        # braking at the fraction can be needed without more: the Hermite to a target behind the
        # joint swings past the limit first, where braking then turning back stays inside
        within = bool(np.all(needed <= self.accel * (1 + TOLERANCE)))
        return np.vstack([points, points[-1:]]), AT_LIMIT if at_limit else WITHIN_BUDGET if within else FULL_ACCELERATION
