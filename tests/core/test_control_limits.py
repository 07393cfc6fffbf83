"""The safety filter never lets a point leave the limits, whatever it is asked to send; the
limit checks and the cosine ramp the filters share."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.control import LimitFilter, SafetyFilter, cosine_ramp

N = 5
LOWER, UPPER = -np.linspace(1.0, 2.0, N), np.linspace(0.5, 2.5, N)
VEL = np.linspace(1.0, 4.0, N)
DT = 0.05


def make():
    return SafetyFilter(lower=LOWER, upper=UPPER, velocity=VEL, dt=DT)


def assert_safe(f, seq, start):
    full = np.vstack([start[None], seq])
    assert np.all(seq >= LOWER - 1e-12) and np.all(seq <= UPPER + 1e-12)
    assert np.all(np.abs(np.diff(full, axis=0)) <= VEL * DT + 1e-12)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.floats(-1e3, 1e3) | st.sampled_from([np.nan, np.inf, -np.inf]),
                         min_size=N, max_size=N), min_size=1, max_size=30),
       st.integers(1, 4))
def test_filter_is_safe_across_chunks_for_adversarial_input(points, chunks):
    f = make()
    f.reset(np.zeros(N))
    data = np.array(points, dtype=np.float64)
    prev = f.last.copy()
    for part in np.array_split(data, chunks):
        if len(part) == 0:
            continue
        out = f.filter(part)
        assert np.all(np.isfinite(out))
        assert_safe(f, out, prev)
        prev = out[-1]


def test_feasible_chunk_passes_unchanged_and_counts_clamps():
    f = make()
    f.reset(np.zeros(N))
    t = np.arange(20)[:, None] * DT
    smooth = 0.2 * np.sin(t * VEL[None] / 0.4)
    out = f.filter(smooth)
    assert np.allclose(out, smooth) and f.report.velocity_clamps == 0
    f.filter(np.full((3, N), 10.0))
    assert f.report.position_clamps == 3 and f.report.velocity_clamps >= 1
    v = f.velocities(out)
    assert np.all(np.abs(v) <= VEL + 1e-12)


def test_ease_hold_extend_are_smooth_and_end_where_expected():
    f = make()
    f.reset(np.full(N, 0.4))
    start = f.last.copy()
    eased = f.ease_to(np.zeros(N), 1.0)
    assert_safe(f, eased, start)
    assert np.allclose(eased[-1], 0.0) and len(eased) >= int(1.0 / DT)
    held = f.hold(0.5)
    assert np.allclose(held, 0.0) and len(held) == 10
    f.reset(np.zeros(N))
    ext = f.extend(VEL * 0.5, 1.0)
    steps = np.diff(np.vstack([np.zeros((1, N)), ext]), axis=0)
    assert np.all(steps[-1] == 0.0) and np.all(np.abs(steps[0]) > 0)
    assert np.all(np.abs(np.diff(steps, axis=0)) <= np.abs(steps[0]) / 10 + 1e-12)  # no jerk jump


def test_bad_configuration_and_shapes_are_clear_errors():
    with pytest.raises(DanceMosaicError, match="inconsistent"):
        SafetyFilter(lower=UPPER, upper=LOWER, velocity=VEL, dt=DT)
    f = make()
    with pytest.raises(DanceMosaicError, match="expected"):
        f.filter(np.zeros((3, N + 1)))
    with pytest.raises(DanceMosaicError, match="reset"):
        f.ease_to(np.zeros(N), 1.0)


def test_cosine_ramp_starts_and_ends_at_rest():
    ramp = cosine_ramp(np.zeros(N), UPPER, 20)
    steps = np.diff(np.vstack([np.zeros((1, N)), ramp]), axis=0)
    assert np.allclose(ramp[-1], UPPER) and np.all(steps >= 0)
    assert np.all(steps[0] < steps[10]) and np.all(steps[-1] < steps[10])


def test_limit_filter_rejects_missing_or_non_positive_acceleration_limits():
    with pytest.raises(DanceMosaicError, match="acceleration limits"):
        LimitFilter(lower=LOWER, upper=UPPER, velocity=VEL, acceleration=np.zeros(N), dt=DT)
    with pytest.raises(DanceMosaicError, match="acceleration limits"):
        LimitFilter(lower=LOWER, upper=UPPER, velocity=VEL, acceleration=np.ones(N + 1), dt=DT)
    with pytest.raises(DanceMosaicError, match="inconsistent"):
        LimitFilter(lower=LOWER, upper=UPPER, velocity=-VEL, acceleration=np.ones(N), dt=DT)
