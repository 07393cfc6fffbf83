"""TrajectoryStreamer without DDS: what the retarget node sends, on adversarial input."""
import numpy as np
import pytest

from dancemosaic_core.control import SafetyFilter, TrajectoryStreamer
from dancemosaic_core.control.streamer import Segment
from tests.ros.trajectory_checks import check_message, check_timeline, executed_timeline

N = 4
DT = 0.05
LOWER, UPPER = -np.ones(N), np.array([1.0, 1.0, 2.0, 0.5])
VELOCITY = np.array([1.0, 2.0, 4.0, 0.5])
LEAD = 0.1


def make_streamer():
    safety = SafetyFilter(lower=LOWER, upper=UPPER, velocity=VELOCITY, dt=DT)
    return TrajectoryStreamer(safety=safety, neutral=np.zeros(N))


class Recorder:
    def __init__(self):
        self.messages = []

    def __call__(self, seg):
        if seg is not None:
            check_message(seg.times, seg.positions, seg.velocities, seg.stamp,
                          lower=LOWER, upper=UPPER, velocity=VELOCITY)
            self.messages.append((seg.stamp, seg.times, seg.positions))
        return seg

    def timeline(self):
        t, q = executed_timeline(self.messages)
        check_timeline(t, q, lower=LOWER, upper=UPPER, velocity=VELOCITY, min_dt=DT)
        return t, q


def chunk_times(start, n=40):
    return start + DT * np.arange(n)


def smooth_chunk(start, n=40):
    t = chunk_times(start, n)
    return 0.3 * np.sin(2 * np.pi * 0.5 * t)[:, None] * np.array([1, 0.5, 0.2, 0.4])


def test_contiguous_chunks_pass_through_exactly_when_within_limits():
    streamer, rec = make_streamer(), Recorder()
    t0 = 100.0
    first = smooth_chunk(t0)
    rec(streamer.add_chunk(chunk_times(t0), first, now=t0 - 0.5, lead=LEAD))
    rec(streamer.add_chunk(chunk_times(t0 + 2.0), smooth_chunk(t0 + 2.0), now=t0 + 0.5, lead=LEAD))
    times, q = rec.timeline()
    # a rest point at neutral, then both chunks untouched: no clamps
    np.testing.assert_allclose(times[1:], chunk_times(t0, 80), atol=1e-9)
    want = np.vstack([first, smooth_chunk(t0 + 2.0)])
    np.testing.assert_allclose(q[1:], want, atol=1e-12)
    assert streamer.safety.report.position_clamps == streamer.safety.report.velocity_clamps == 0
    # the second message repeats the unplayed rest of the first at the same absolute times
    stamp, t, _ = rec.messages[1]
    assert stamp == t0 + 0.5 and t[0] == pytest.approx(t0 + 0.55)


def test_a_chunk_a_fraction_of_a_microsecond_off_the_grid_still_steps_within_the_limits():
    """The next chunk's times 0.3 us early against the plan's grid (a stamp rounded on another
    clock): its first point is slightly closer than dt to the plan's last and every step of a
    too-fast chunk is capped on the spacing it really has (not at 1.000006 x the limit)."""
    streamer = make_streamer()
    t0 = 100.0
    fast = lambda t: 3.0 * (t - t0)[:, None] * np.ones(N)             # faster than every limit
    first = streamer.add_chunk(chunk_times(t0, 20), fast(chunk_times(t0, 20)), now=t0 - 0.5, lead=LEAD)
    times = chunk_times(t0 + 20 * DT, 20) - 3e-7
    second = streamer.add_chunk(times, fast(times), now=t0 + 0.5, lead=LEAD)
    t, q = executed_timeline([(first.stamp, first.times, first.positions), (second.stamp, second.times, second.positions)])
    assert np.min(np.diff(t)) < DT
    speed = np.abs(np.diff(q, axis=0)) / np.diff(t)[:, None]
    assert np.max(speed / VELOCITY) <= 1 + 1e-9


@pytest.mark.parametrize("seed", range(3))
def test_adversarial_chunks_never_leave_limits_or_step_too_fast(seed):
    rng = np.random.default_rng(seed)
    streamer, rec = make_streamer(), Recorder()
    now, start = 10.0, 10.0
    for k in range(12):
        chunk = rng.normal(scale=5.0, size=(40, N))
        chunk[rng.random(chunk.shape) < 0.05] = np.nan
        chunk[rng.random(chunk.shape) < 0.02] = np.inf
        # chunks early, late (overlapping), and with gaps, at random
        start += rng.choice([2.0, 1.3, 2.7])
        now = max(now, start - rng.uniform(-0.5, 1.5))
        rec(streamer.add_chunk(chunk_times(start), chunk, now=now, lead=LEAD))
        if rng.random() < 0.3:
            now += rng.uniform(0.0, 1.0)
            rec(streamer.extend(0.5, now=now, lead=LEAD))
        if rng.random() < 0.2:
            now += rng.uniform(0.0, 0.5)
            rec(streamer.hold(now=now, lead=LEAD))
        if rng.random() < 0.2:
            now += rng.uniform(0.0, 0.5)
            rec(streamer.ease_to(np.full(N, 3.0), 1.0, now=now, lead=LEAD))
    rec.timeline()
    report = streamer.safety.report
    assert report.position_clamps > 0 and report.velocity_clamps > 0 and report.nonfinite > 0


def test_deadline_miss_extends_smoothly_then_the_late_chunk_takes_over_without_a_jump():
    streamer, rec = make_streamer(), Recorder()
    t0 = 0.0
    ramp = np.linspace(0, 0.8, 40)[:, None] * np.array([1, 1, 1, 0.5])   # constant velocity 0.41/s
    rec(streamer.add_chunk(chunk_times(t0), ramp, now=t0 - 0.2, lead=LEAD))
    end = streamer.end_time
    seg = rec(streamer.extend(0.5, now=end - 0.2, lead=LEAD))
    ext = seg.positions[seg.times > end]
    steps = np.diff(np.vstack([ramp[-1], ext]), axis=0)
    # keeps moving the same way, slowing down monotonically to rest
    assert np.all(steps[:, 0] >= -1e-12) and steps[0, 0] > 0
    assert np.all(np.diff(steps[:, 0]) <= 1e-12) and abs(steps[-1, 0]) < 1e-12
    assert seg.velocities[-1] == pytest.approx(np.zeros(N))
    # the late chunk (starts at the old end) replaces the extension from now + lead
    late_now = end + 0.1
    rec(streamer.add_chunk(chunk_times(end + DT), np.full((40, N), 0.2), now=late_now, lead=LEAD))
    times, q = rec.timeline()
    assert times[-1] == pytest.approx(end + 40 * DT)
    assert q[-1] == pytest.approx(np.full(N, 0.2))


def test_ease_to_neutral_ends_at_rest_at_neutral_and_hold_stops_in_place():
    streamer, rec = make_streamer(), Recorder()
    rec(streamer.add_chunk(chunk_times(0.0), np.full((40, N), 0.4), now=0.0, lead=LEAD))
    seg = rec(streamer.ease_to(streamer.neutral, 1.0, now=1.0, lead=LEAD))
    assert seg.positions[-1] == pytest.approx(np.zeros(N))
    assert seg.times[-1] - 1.0 >= 1.0 and seg.velocities[-1] == pytest.approx(np.zeros(N))
    times, _ = rec.timeline()
    assert times[-1] == seg.times[-1]
    # a hold in the middle of a motion keeps the point planned at now + lead
    streamer2, rec2 = make_streamer(), Recorder()
    rec2(streamer2.add_chunk(chunk_times(0.0), smooth_chunk(0.0), now=-0.2, lead=LEAD))
    planned = streamer2.state_at(0.5 + LEAD)[0]
    seg = rec2(streamer2.hold(now=0.5, lead=LEAD))
    assert seg.positions[-1] == pytest.approx(seg.positions[-2])
    assert seg.velocities[-1] == pytest.approx(np.zeros(N))
    assert np.abs(seg.positions[-1] - planned).max() <= DT * VELOCITY.max()
    assert streamer2.end_time <= 0.5 + LEAD + 2 * DT
    rec2.timeline()


def test_gap_before_a_chunk_is_bridged_on_the_frame_grid():
    streamer, rec = make_streamer(), Recorder()
    rec(streamer.add_chunk(chunk_times(0.0, 10), np.zeros((10, N)), now=-0.5, lead=LEAD))
    rec(streamer.add_chunk(chunk_times(1.0, 10), np.full((10, N), 0.3), now=0.2, lead=LEAD))
    times, q = rec.timeline()
    np.testing.assert_allclose(np.diff(times[1:]), DT, atol=1e-9)
    assert np.all(np.diff(q[:, 0]) >= -1e-12)            # a monotone bridge 0 -> 0.3
    assert q[-1] == pytest.approx(np.full(N, 0.3))


@pytest.mark.parametrize("ahead", [30.0, 1e4, 1e8])
def test_a_chunk_far_ahead_is_bridged_by_a_bounded_ramp(ahead):
    """A gap of any length costs a rest point and a ramp of at most MAX_BRIDGE_SECONDS."""
    from dancemosaic_core.control.streamer import MAX_BRIDGE_SECONDS
    streamer, rec = make_streamer(), Recorder()
    rec(streamer.add_chunk(chunk_times(0.0, 10), np.zeros((10, N)), now=-0.5, lead=LEAD))
    seg = rec(streamer.add_chunk(chunk_times(ahead, 10), np.full((10, N), 0.3), now=0.2, lead=LEAD))
    assert len(seg.times) <= 10 + 10 + MAX_BRIDGE_SECONDS / DT + 2
    times, q = rec.timeline()
    assert np.all(np.diff(q[:, 0]) >= -1e-12)
    assert q[-1] == pytest.approx(np.full(N, 0.3))


@pytest.mark.parametrize("seconds", [1e4, float("inf"), float("nan")])
def test_fallback_motions_refuse_unbounded_lengths(seconds):
    from dancemosaic_core.common.errors import DanceMosaicError
    streamer = make_streamer()
    streamer.add_chunk(chunk_times(0.0, 10), np.zeros((10, N)), now=-0.5, lead=LEAD)
    for fallback in (lambda: streamer.ease_to(np.zeros(N), seconds, now=0.0, lead=LEAD),
                     lambda: streamer.extend(seconds, now=0.0, lead=LEAD)):
        with pytest.raises(DanceMosaicError, match="give 0..60 s"):
            fallback()


def test_nothing_to_send_after_the_plan_ended():
    streamer = make_streamer()
    streamer.add_chunk(chunk_times(0.0, 4), np.zeros((4, N)), now=-1.0, lead=LEAD)
    assert streamer.segment(now=5.0) is None
    assert streamer.remaining(5.0) == 0.0


def test_segment_position_is_what_that_message_alone_commands():
    seg = Segment(0.0, np.array([1.0, 2.0, 3.0]), np.array([[0.0], [1.0], [3.0]]), np.zeros((3, 1)))
    assert seg.position_at(0.5) is None                        # before its first point: an older message rules
    np.testing.assert_allclose(seg.position_at(1.5), [0.5])
    np.testing.assert_allclose(seg.position_at(2.25), [1.5])
    np.testing.assert_allclose(seg.position_at(9.0), [3.0])    # after its end: its last point
