"""The hand-over ramp into the dance and the stop to rest (MotionBudget), and the controller
hand-shake verdict, without DDS."""
import numpy as np
import pytest

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.control import ControllerInfo, MotionBudget, SafetyFilter, TrajectoryStreamer
from dancemosaic_core.control.controller_check import manager_report, subscriber_report
from dancemosaic_core.control.handover import AT_LIMIT, FULL_ACCELERATION
from tests.ros.trajectory_checks import check_gentle, check_timeline, executed_timeline

N = 4
DT = 0.05
LOWER, UPPER = np.array([-1.0, -2.0, -0.5, 0.0]), np.array([1.0, 2.0, 2.0, 2.5])
VELOCITY = np.array([1.0, 2.0, 4.0, 0.5])
ACCELERATION = np.array([5.0, 10.0, 20.0, 3.0])
FRACTION = 0.5
LEAD = 0.1


def make_budget():
    safety = SafetyFilter(lower=LOWER, upper=UPPER, velocity=VELOCITY, dt=DT)
    return MotionBudget(safety, ACCELERATION, FRACTION), TrajectoryStreamer(safety=safety, neutral=np.zeros(N))


def slow_dance(times):
    """A dance well inside the budget near the middle of the range."""
    return 0.5 * (LOWER + UPPER) + 0.1 * np.sin(2 * np.pi * 0.3 * times)[:, None] * np.ones(N)


def test_ramp_seconds_is_the_cosine_bound():
    budget, _ = make_budget()
    d = np.array([0.0, 0.0, 0.0, 1.0])
    # joint 3: pi d / (2 f v) = pi / 0.5 = 6.28 s beats pi sqrt(d / (2 f a)) = pi sqrt(1/3)
    assert budget.ramp_seconds(d) == pytest.approx(np.pi * 1.0 / (2 * FRACTION * 0.5))
    assert budget.ramp_seconds(2 * d) > budget.ramp_seconds(d)
    faster = MotionBudget(budget.limits, ACCELERATION, 1.0)
    assert faster.ramp_seconds(d) < budget.ramp_seconds(d)
    with pytest.raises(DanceMosaicError, match="fraction"):
        MotionBudget(budget.limits, ACCELERATION, 0.0)


@pytest.mark.parametrize("share", [0.3, 0.9, 0.05])
def test_handover_from_far_away_stays_within_the_budget_and_meets_the_dance(share):
    """The robot rests `share` into each joint's range; the first streamed points ramp into the
    dance with every step within the fraction of the velocity and acceleration limits."""
    budget, streamer = make_budget()
    start_q = LOWER + share * (UPPER - LOWER)
    now, t0 = 10.0, 10.0 + LEAD
    times = t0 + DT * np.arange(1, 401)
    dance = slow_dance(times)
    handover = budget.handover(start_q, t0, times, dance)
    streamer.rest_at(start_q, t0)
    seg = streamer.add_chunk(times, handover.apply(times, dance), now, LEAD)
    t, q = executed_timeline([(seg.stamp, seg.times, seg.positions)])
    check_timeline(t, q, lower=LOWER, upper=UPPER, velocity=VELOCITY, min_dt=DT)
    np.testing.assert_allclose(q[0], start_q)
    # from rest (one frame before the start) through the whole ramp
    check_gentle(np.concatenate([[t0 - DT], t]), np.vstack([start_q, q]),
                 velocity=FRACTION * VELOCITY + 1e-12, acceleration=FRACTION * ACCELERATION)
    assert handover.seconds >= budget.ramp_seconds(dance[0] - start_q) - 1e-9
    after = t > t0 + handover.seconds
    assert after.any()
    np.testing.assert_allclose(q[after], dance[after[1:]], atol=1e-12)


def test_handover_never_moves_faster_than_the_dance_or_the_budget():
    """A dance faster than the budget: the blend adds no speed beyond it."""
    budget, _ = make_budget()
    t0 = 0.0
    times = DT * np.arange(1, 81)
    dance = np.sin(1.2 * times)[:, None] * np.array([0.8, 1.5, 1.0, 0.3]) + np.array([0, 0, 0.5, 1.0])
    start_q = LOWER + 0.3 * (UPPER - LOWER)
    handover = budget.handover(start_q, t0, times, dance)
    q = np.vstack([start_q, start_q, handover.apply(times, dance)])
    t = np.concatenate([[-DT, 0.0], times])
    v = np.diff(q, axis=0) / DT
    own = np.diff(np.vstack([dance[:1], dance[:1], dance]), axis=0) / DT
    assert np.all(np.abs(v) <= np.maximum(FRACTION * VELOCITY, np.abs(own)) + 1e-9)
    assert handover.done(t[-1]) == (t[-1] >= handover.seconds)


def drifting_dance(times, t0):
    """A dance that walks away from the start as it goes: each later chunk lies farther from the
    start pose than the first chunk the ramp was planned on."""
    return slow_dance(times) + 0.04 * (times - t0)[:, None] * np.array([1.0, -1.0, 1.0, 0.2])


@pytest.mark.parametrize("share", [0.3, 0.9, 0.05])
def test_blend_across_short_chunks_stays_within_the_budget(share):
    """Short chunks (as the node gets them) through MotionBudget.handover on the first and
    MotionBudget.blend on each: every step and acceleration of the whole blend, point by point,
    within the fraction of the limits or the dance's own step there."""
    budget, streamer = make_budget()
    start_q = LOWER + share * (UPPER - LOWER)
    now, t0, frames = 10.0, 10.0 + LEAD, 8
    times = t0 + DT * np.arange(1, 40 * frames + 1)
    dance = drifting_dance(times, t0)
    chunks = [slice(k, k + frames) for k in range(0, len(times), frames)]
    handover = budget.handover(start_q, t0, times[chunks[0]], dance[chunks[0]])
    # the ramp as planned on the first chunk alone leaves the budget on the later ones
    alone = np.vstack([start_q, start_q, handover.apply(times, dance)])
    allowance_t = np.concatenate([[t0 - DT, t0], times])
    own = np.vstack([dance[:1], dance[:1], dance])
    assert budget._excess(allowance_t, alone, own) > 1.01
    streamer.rest_at(start_q, t0)
    messages = []
    for chunk in chunks:
        if handover.done(times[chunk][0]):
            commanded = dance[chunk]
        else:
            commanded = budget.blend(handover, times[chunk], dance[chunk])
        seg = streamer.add_chunk(times[chunk], commanded, now, LEAD)
        messages.append((seg.stamp, seg.times, seg.positions))
        now = times[chunk][0] - LEAD - 0.3 * DT        # the next chunk comes as this one starts, off the frame grid
    assert len(handover.pieces) >= 1 and handover.end < times[-1] - 1.0
    t, q = executed_timeline(messages)
    check_timeline(t, q, lower=LOWER, upper=UPPER, velocity=VELOCITY, min_dt=DT)
    np.testing.assert_allclose(q[0], start_q)
    np.testing.assert_allclose(q[1:], handover.apply(times, dance), atol=1e-12)
    # from rest (one frame before the start) through the blend and past its end, point by point
    t, q = np.concatenate([[t0 - DT], t]), np.vstack([start_q, q])
    own_v, own_a = np.abs(np.diff(own, axis=0)) / DT, np.abs(np.diff(own, 2, axis=0)) / DT ** 2
    check_gentle(t, q, velocity=np.maximum(FRACTION * VELOCITY, own_v) + 1e-12,
                 acceleration=np.maximum(FRACTION * ACCELERATION, own_a) + 1e-9)
    after = t > handover.end
    np.testing.assert_allclose(q[after], dance[after[2:]], atol=1e-12)


@pytest.mark.parametrize("target", [None, "measured"])
def test_stop_decelerates_within_the_budget_and_rests(target):
    budget, streamer = make_budget()
    now = 5.0
    times = now + DT * np.arange(1, 61)
    moving = 0.2 + 0.4 * np.sin(1.5 * times)[:, None] * np.array([1.0, 1.0, 1.0, 0.3]) + np.array([0, 0, 0, 1.0])
    first = streamer.add_chunk(times, moving, now - 0.5, LEAD)
    stop_now = now + 1.0
    planned, v0 = streamer.state_at(stop_now + LEAD)
    assert np.any(np.abs(v0) > 0.1)
    measured = planned - 0.05 * np.sign(v0)                  # the robot lags its command a little
    seg, stop = streamer.stop(budget, measured if target else None, stop_now, LEAD)
    assert stop.within_budget
    assert np.allclose(seg.velocities[-1], 0.0) and np.allclose(seg.positions[-1], seg.positions[-2])
    if target:
        np.testing.assert_allclose(seg.positions[-1], measured, atol=1e-12)
    t, q = executed_timeline([(first.stamp, first.times, first.positions), (seg.stamp, seg.times, seg.positions)])
    check_timeline(t, q, lower=LOWER, upper=UPPER, velocity=VELOCITY, min_dt=DT)
    stopping = t >= stop_now + LEAD - DT - 1e-9
    # from the last planned step on: acceleration within the budget, never faster than before
    speed_before = np.abs(np.diff(q[stopping][:2], axis=0)[0]) / DT
    check_gentle(t[stopping], q[stopping], velocity=np.maximum(FRACTION * VELOCITY, speed_before) + 1e-9,
                 acceleration=FRACTION * ACCELERATION + 1e-9)


@pytest.mark.parametrize("target", [None, "measured"])
def test_stop_from_a_hard_acceleration_keeps_the_join_within_the_budget(target):
    """A plan accelerating at 0.8 of the full limits (a dance's own steps, beyond the fraction)
    stopped at any moment: the change of step at the point the stop continues from, and every one
    after it, stays within the fraction. (Starting the stop with the central-difference velocity
    there added half the plan's acceleration to the join: 1.1 x the fraction was measured.)"""
    budget, streamer = make_budget()
    now = 5.0
    times = now + DT * np.arange(1, 81)
    rate = ACCELERATION / VELOCITY
    middle = 0.5 * (LOWER + UPPER)
    moving = middle + 0.8 * VELOCITY ** 2 / ACCELERATION * np.sin(rate * (times[:, None] - now))
    first = streamer.add_chunk(times, moving, now - 0.5, LEAD)
    worst = 0.0
    for stop_now in now + 0.5 + np.linspace(0.0, 1.0, 23):                     # on and off the frame grid
        planned = TrajectoryStreamer(safety=streamer.safety, neutral=np.zeros(N))
        planned.times, planned.positions, planned.velocities = streamer.times, streamer.positions, streamer.velocities
        measured = planned.state_at(stop_now + LEAD)[0] - 0.02
        seg, stop = planned.stop(budget, measured if target else None, stop_now, LEAD)
        assert stop.within_budget
        t, q = executed_timeline([(first.stamp, first.times, first.positions), (seg.stamp, seg.times, seg.positions)])
        base = int(np.sum(t <= stop_now + LEAD + 1e-9)) - 1               # the last point kept of the plan
        window_t, window_q = t[base - 1:], q[base - 1:]
        into_base = np.abs(window_q[1] - window_q[0]) / DT
        check_gentle(window_t, window_q, velocity=np.maximum(FRACTION * VELOCITY, into_base) + 1e-9,
                     acceleration=FRACTION * ACCELERATION + 1e-9)
        a = np.diff(window_q, 2, axis=0) / DT ** 2
        worst = max(worst, float(np.max(np.abs(a) / (FRACTION * ACCELERATION))))
    assert worst > 0.5                                                      # the stops do brake hard


def test_stop_from_rest_to_a_target_uses_the_ease_length_at_least():
    budget, _ = make_budget()
    q0, target = np.zeros(N), np.array([0.5, -0.5, 1.0, 0.5])
    points = budget.stop(q0, np.zeros(N), target, min_seconds=2.0).points
    assert len(points) * DT >= 2.0 - 1e-9
    np.testing.assert_allclose(points[-1], target)
    check_gentle(DT * np.arange(len(points) + 2), np.vstack([q0, q0, points]),
                 velocity=FRACTION * VELOCITY + 1e-9, acceleration=FRACTION * ACCELERATION + 1e-9)


def stop_toward_the_limit(speed, room, target_offset=None):
    """Joint 2 (limit 2.0, 4 rad/s, 20 rad/s^2) at `speed` toward its upper limit `room` away,
    joint 0 slowly (0.2 rad/s) the other way; the stop passes the SafetyFilter as in the streamer.
    Returns the stop, the filtered points with the two before it, and the filter."""
    budget, _ = make_budget()
    q0 = np.array([0.0, 0.5, UPPER[2] - room, 1.0])
    v0 = np.array([-0.2, 0.0, speed, 0.0])
    target = None if target_offset is None else q0 - target_offset
    stop = budget.stop(q0, v0, target)
    safety = budget.limits
    safety.reset(q0)
    safe = safety.filter(stop.points)
    return stop, np.vstack([q0 - v0 * DT, q0, safe]), safety


@pytest.mark.parametrize("target_offset", [None, np.array([0.0, 0.0, 0.05, 0.0])])
def test_fast_joint_toward_its_limit_stops_inside_within_the_full_acceleration(target_offset):
    """At 4 rad/s, 0.6 rad before the limit: the budget's 10 rad/s^2 needs 0.8 rad, the full
    20 rad/s^2 only 0.4: the stop brakes harder than the fraction and stays inside the limits,
    with nothing for the SafetyFilter to clamp; a target behind is reached afterwards."""
    stop, q, safety = stop_toward_the_limit(4.0, 0.6, target_offset)
    assert not stop.within_budget and stop.braking == FULL_ACCELERATION
    assert safety.report.position_clamps == 0 and safety.report.velocity_clamps == 0
    np.testing.assert_array_equal(q[2:], stop.points)
    assert np.all(q >= LOWER) and np.all(q <= UPPER)
    t = DT * np.arange(len(q))
    check_gentle(t, q, velocity=VELOCITY + 1e-9, acceleration=ACCELERATION + 1e-9)
    # the slow joint still brakes within the fraction
    check_gentle(t, q[:, :1], velocity=FRACTION * VELOCITY[:1] + 1e-9, acceleration=FRACTION * ACCELERATION[:1] + 1e-9)
    assert np.allclose(q[-1], q[-2])
    if target_offset is not None:
        np.testing.assert_allclose(q[-1], q[1] - target_offset, atol=1e-12)


def test_joint_too_close_to_its_limit_stops_at_it_with_the_full_acceleration():
    """0.3 rad before the limit at 4 rad/s (full braking needs 0.4): braking at the full limit
    until the joint reaches the limit, where it rests; no point leaves the limits."""
    stop, q, safety = stop_toward_the_limit(4.0, 0.3)
    assert stop.braking == AT_LIMIT
    assert safety.report.position_clamps == 0 and safety.report.velocity_clamps == 0
    assert np.all(q <= UPPER) and q[-1, 2] == UPPER[2]
    reached = int(np.argmax(q[:, 2] >= UPPER[2]))
    check_gentle(DT * np.arange(reached), q[:reached], velocity=VELOCITY + 1e-9, acceleration=ACCELERATION + 1e-9)


def test_braking_toward_a_limit_without_a_target_rests_for_min_seconds():
    """The deadline-miss extension's length (min_seconds) holds on the braking path too: it ends
    at rest, the braking kept as it was (it once returned only the 0.4 s of braking)."""
    budget, _ = make_budget()
    q0, v0 = np.array([0.0, 0.5, UPPER[2] - 0.6, 1.0]), np.array([-0.2, 0.0, 4.0, 0.0])
    braking = budget.stop(q0, v0)
    stop = budget.stop(q0, v0, min_seconds=1.0)
    assert stop.braking == braking.braking == FULL_ACCELERATION and len(braking.points) * DT < 1.0
    assert (len(stop.points) - 1) * DT >= 1.0 - 1e-9
    np.testing.assert_array_equal(stop.points[:len(braking.points)], braking.points)
    assert np.all(stop.points[len(braking.points):] == braking.points[-1])


def test_slow_joint_toward_its_limit_stops_within_the_fraction():
    stop, q, safety = stop_toward_the_limit(1.0, 0.6)
    assert stop.within_budget
    assert safety.report.position_clamps == 0 and np.all(q <= UPPER)
    check_gentle(DT * np.arange(len(q)), q, velocity=np.maximum(FRACTION * VELOCITY, np.abs(q[1] - q[0]) / DT) + 1e-9,
                 acceleration=FRACTION * ACCELERATION + 1e-9)


def test_joint_toward_its_limit_with_a_target_behind_brakes_within_the_fraction():
    """1 rad/s, 0.06 rad before the limit, the target 0.5 rad behind: the Hermite to the target
    would swing past the limit, braking at the fraction (0.05 rad) stops inside; then back to the
    target from rest, all within the fraction, and the stop says so."""
    stop, q, safety = stop_toward_the_limit(1.0, 0.06, np.array([0.0, 0.0, 0.5, 0.0]))
    assert stop.within_budget
    assert safety.report.position_clamps == 0 and np.all(q <= UPPER)
    check_gentle(DT * np.arange(len(q)), q, velocity=np.maximum(FRACTION * VELOCITY, np.abs(q[1] - q[0]) / DT) + 1e-9,
                 acceleration=FRACTION * ACCELERATION + 1e-9)
    np.testing.assert_allclose(q[-1], q[1] - np.array([0.0, 0.0, 0.5, 0.0]), atol=1e-12)


def test_controller_verdicts():
    joints = ["a", "b"]
    assert subscriber_report("/c/joint_trajectory", 1, 0.5).ok
    missing = subscriber_report("/c/joint_trajectory", 0, 2.0)
    assert missing.ok is False and "nothing subscribes" in missing.text
    active = ControllerInfo("c", "active", ["a/position", "b/position", "a/velocity"])
    assert manager_report("c", [active], joints).ok
    assert "lists no controller `c`" in manager_report("c", [ControllerInfo("x", "active", [])], joints).text
    assert "inactive" in manager_report("c", [ControllerInfo("c", "inactive", [])], joints).text
    partial = manager_report("c", [ControllerInfo("c", "active", ["a/position", "b/velocity"])], joints)
    assert partial.ok is False and "b" in partial.text



def _runaway_joins(monkeypatch, fine_search, g1):
    """The retarget node's joins (DanceStream, the G1's limits, the node's hand-over fraction)
    of 0.4 s chunks of a dance that swings faster than the start ramp's budget: each plan's
    pieces, end and excess, and how many candidate sets blend evaluated."""
    import dancemosaic_core.control.handover as handover_module
    from dancemosaic_core.control import DanceStream
    monkeypatch.setattr(handover_module, "FINE_SEARCH", fine_search)
    safety = SafetyFilter(lower=g1.lower, upper=g1.upper, velocity=g1.velocity, dt=DT, margin=0.02)
    budget = MotionBudget(safety, g1.acceleration, 0.25)
    calls = []
    excess = budget._excess
    monkeypatch.setattr(budget, "_excess", lambda *a, **k: calls.append(1) or excess(*a, **k))
    stream = DanceStream(TrajectoryStreamer(safety=safety, neutral=g1.neutral_q), budget)
    middle, swing = 0.5 * (g1.lower + g1.upper), 0.3 * np.clip(g1.upper - g1.lower, 0.0, 2.0)
    plans = []
    for k in range(12):
        times = 1.0 + DT * np.arange(8 * k, 8 * k + 8)
        dance = middle + swing * np.sin(2 * np.pi * 1.5 * times)[:, None]
        now = times[0] - 0.8
        stream.join(times, dance, now, LEAD, g1.neutral_q, now - 0.03)
        plan = stream.handover
        plans.append((len(plan.pieces), plan.end, plan.excess))
    return plans, len(calls)


def test_blend_replan_of_a_runaway_dance_is_bounded_and_keeps_the_plan(monkeypatch, g1):
    """Where no piece follows the dance within the budget, blend takes the least excessive. Trying
    durations 5 % apart all the way to MAX_SECONDS (the exhaustive grid) cost ~100 durations x
    101 rates per join, up to 0.23 s live; 5 % steps up to 3x the ramp's remaining time and 25 %
    beyond pick the same pieces here with a fraction of the evaluations."""
    bounded, bounded_calls = _runaway_joins(monkeypatch, 3.0, g1)
    exhaustive, exhaustive_calls = _runaway_joins(monkeypatch, np.inf, g1)
    # several re-plans found no piece within the budget and tried every duration (~100 each)
    assert exhaustive_calls > 400
    assert [p for p, _, _ in bounded] == [p for p, _, _ in exhaustive]
    np.testing.assert_allclose([(end, e) for _, end, e in bounded], [(end, e) for _, end, e in exhaustive],
                               rtol=1e-9)
    assert bounded_calls < 0.6 * exhaustive_calls
