"""Feasibility measure: support polygon geometry, the ZMP of Pinocchio's centroidal dynamics
against the cart-table formula, contacts from foot height and speed, and the margin's summary."""
import numpy as np
import pytest

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.retarget import Retargeter, load_robot
from dancemosaic_core.retarget.balance import GRAVITY, convex_hull, signed_distance, zmp_margin
from dancemosaic_core.retarget.synthetic import planted_squat

FPS = 20.0


@pytest.fixture(scope="module")
def g1():
    return load_robot("g1")


def standing(robot, frames: int):
    q = np.repeat(robot.neutral_q[None], frames, 0)
    base = np.tile([0, 0, robot.standing_height, 0, 0, 0, 1.0], (frames, 1))
    return q, base


def test_hull_and_signed_distance_of_a_square():
    square = convex_hull(np.array([[0, 0], [1, 0], [1, 1], [0, 1], [0.5, 0.5], [1, 0]]))
    assert len(square) == 4
    assert signed_distance([0.5, 0.5], square) == pytest.approx(0.5)
    assert signed_distance([0.9, 0.5], square) == pytest.approx(0.1)
    assert signed_distance([1.3, 0.5], square) == pytest.approx(-0.3)
    assert signed_distance([2.0, 2.0], square) == pytest.approx(-np.sqrt(2))     # nearest is the corner
    assert np.isnan(signed_distance([0, 0], np.zeros((0, 2))))
    segment = convex_hull(np.array([[0, 0], [1, 0]]))                           # a toe line: never inside
    assert signed_distance([0.5, 0.2], segment) == pytest.approx(-0.2)


def test_standing_robot_has_its_zmp_under_the_com_inside_both_feet(g1):
    q, base = standing(g1, 10)
    report = zmp_margin(g1, q, base, FPS)
    assert report.contacts.all() and report.success
    assert np.allclose(report.momentum_rate, 0, atol=1e-6)
    assert np.allclose(report.zmp, report.com[:, :2], atol=1e-9)
    assert np.allclose(report.margin, signed_distance(report.com[0, :2], report.polygons[0]))
    assert 0.03 < report.margin.min() and np.allclose(report.margin_window, report.margin)
    summary = report.summary()
    assert summary["zmp_margin_window_negative_fraction"] == 0.0 and summary["flight_fraction"] == 0.0
    assert "ZMP margin (0.25 s)" in report.table()


def test_swaying_base_moves_the_zmp_like_the_cart_table(g1):
    # pure translation: no angular momentum, p_x = c_x - c_z / g * c_x''
    T, amplitude, omega = 60, 0.03, 2 * np.pi * 1.5
    q, base = standing(g1, T)
    t = np.arange(T) / FPS
    base[:, 0] = amplitude * np.sin(omega * t)
    report = zmp_margin(g1, q, base, FPS)
    com = report.com
    expected = com[:, 0] + com[:, 2] / GRAVITY * amplitude * omega ** 2 * np.sin(omega * t)
    inner = slice(2, -2)
    assert np.abs(report.zmp[inner, 0] - expected[inner]).max() < 0.01
    assert np.allclose(report.zmp[:, 1], com[:, 1], atol=1e-6)
    sliding = np.abs(np.gradient(base[:, 0], 1 / FPS)) > 0.3      # feet skating on the floor support nothing
    assert not report.contacts[1:-1][sliding[1:-1]].any()


def test_a_lifted_foot_leaves_the_other_as_support(g1):
    q, base = standing(g1, 10)
    left_knee = [i for i, n in enumerate(g1.joint_names) if n == "left_knee_joint"][0]
    left_hip = [i for i, n in enumerate(g1.joint_names) if n == "left_hip_pitch_joint"][0]
    q[:, left_knee] += 0.6
    q[:, left_hip] -= 0.3
    report = zmp_margin(g1, q, base, FPS)
    assert not report.contacts[:, 0].any() and report.contacts[:, 1].all()
    assert (report.margin < 0).all()              # the CoM sits between the feet, off the right sole
    assert report.polygons[0][:, 1].max() < 0     # right foot only


def test_retargeted_squat_is_feasible(g1):
    result = Retargeter(robot=g1).retarget(planted_squat(1.5))
    report = zmp_margin(g1, result.q, result.base, result.fps)
    assert report.contacts.all() and report.success and report.margin.min() > 0.02


def test_bad_input_names_the_problem(g1):
    q, base = standing(g1, 10)
    with pytest.raises(DanceMosaicError, match="floating-base"):
        zmp_margin(g1, q, None, FPS)
    with pytest.raises(DanceMosaicError, match=r"base \(T, 7\)"):
        zmp_margin(g1, q, base[:5], FPS)


def test_chunk_by_chunk_margin_continues_across_the_joints(g1):
    from dancemosaic_core.retarget.balance import ChunkMargin
    result = Retargeter(robot=g1).retarget(planted_squat(3.0), fps=FPS)
    whole = zmp_margin(g1, result.q, result.base, FPS)
    margins = ChunkMargin(g1, FPS)
    chunks = [margins.update(result.q[a:a + 20], result.base[a:a + 20]) for a in (0, 20, 40)]
    raw = np.concatenate([c.margin for c in chunks])
    # only a chunk's last frame misses its successor (one-sided differences there)
    inner = np.ones(60, bool)
    inner[[19, 39]] = False
    np.testing.assert_allclose(raw[inner], whole.margin[inner], atol=1e-9)
    np.testing.assert_allclose(np.concatenate([c.margin_window for c in chunks]), whole.margin_window, atol=5e-3)
    assert all(len(c.margin) == 20 for c in chunks) and "cm min" in chunks[-1].brief()
    margins.reset()
    assert margins.update(result.q[:2], result.base[:2]) is None          # too short to differentiate


def test_interpolated_base_poses_hold_the_ends_and_take_the_short_arc():
    from dancemosaic_core.retarget.io import interpolate_poses
    half = np.sin(np.pi / 8)
    poses = np.array([[0, 0, 1, 0, 0, 0, 1.0], [2, 0, 1, 0, 0, -half, -np.cos(np.pi / 8)]])   # yaw 45 deg, as -q
    out = interpolate_poses([0.0, 1.0], poses, [-1.0, 0.5, 2.0])
    np.testing.assert_allclose(out[0], poses[0])
    np.testing.assert_allclose(out[2, :3], poses[1, :3])
    np.testing.assert_allclose(out[2, 3:], -poses[1, 3:])        # the same turn
    np.testing.assert_allclose(out[1, :3], [1, 0, 1])
    assert np.linalg.norm(out[1, 3:]) == pytest.approx(1.0)
    assert 2 * np.degrees(np.arctan2(out[1, 5], out[1, 6])) == pytest.approx(22.5, abs=0.5)
    with pytest.raises(DanceMosaicError, match="poses"):
        interpolate_poses([0.0], np.zeros((2, 7)), 0.0)
