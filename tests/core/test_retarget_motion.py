"""Retargeting whole motions: hard invariants on random and adversarial input (position and
velocity limits, nothing below the floor), planted feet, both base modes, streaming, the limit
filter, and bad input."""
import numpy as np
import pinocchio as pin
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.control import LimitFilter
from dancemosaic_core.motion.skeleton import JOINT_INDEX, rest_pose
from dancemosaic_core.retarget import Retargeter, load_robot
from dancemosaic_core.retarget.layout import RobotSkeleton
from dancemosaic_core.retarget.robot import sole_points
from dancemosaic_core.retarget.synthetic import axis_angle, groove, planted_squat, pose

ROBOTS = {name: load_robot(name) for name in ("g1", "talos")}


def adversarial(kind: str, rng: np.random.Generator, frames: int = 12) -> np.ndarray:
    """Motions no dancer makes: noise, jumps between poses, giants, collapsed skeletons, teleports."""
    rest = rest_pose() + [0, 0.95, 0]
    base = groove(frames / 20, seed=int(rng.integers(1000)))
    if kind == "noise":
        return rest + rng.normal(0, 0.3, (frames, 22, 3))
    if kind == "jumps":
        return np.where((np.arange(frames) % 2)[:, None, None] == 1, base, base[::-1] * [1, 0.5, -1])
    if kind == "giant":
        return base * 3.0
    if kind == "tiny":
        return base * 0.2
    if kind == "collapsed":
        out = base.copy()
        out[frames // 2:] = out[frames // 2:, :1]
        return out
    if kind == "teleport":
        return base + np.arange(frames)[:, None, None] * [5.0, 0.0, -3.0]
    return base


def soles_min_z(robot, result) -> float:
    model = robot.model(floating=True)
    data = model.createData()
    low = np.inf
    for q, b in zip(result.q, result.base):
        pin.framesForwardKinematics(model, data, robot.configuration(model, q, b))
        low = min(low, sole_points(robot, model, data)[..., 2].min())
    return low


def check_limits(robot, result):
    assert np.isfinite(result.q).all() and np.isfinite(result.residual).all()
    assert np.all(result.q >= robot.lower) and np.all(result.q <= robot.upper)
    step = np.abs(np.diff(result.q, axis=0)) * result.fps
    assert np.all(step <= robot.velocity * (1 + 1e-9))


@settings(max_examples=14, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(robot=st.sampled_from(sorted(ROBOTS)), seed=st.integers(0, 10_000),
       kind=st.sampled_from(["groove", "noise", "jumps", "giant", "tiny", "collapsed", "teleport"]),
       floating=st.booleans())
def test_limits_hold_on_any_motion(robot, seed, kind, floating):
    robot = ROBOTS[robot]
    motion = adversarial(kind, np.random.default_rng(seed))
    result = Retargeter(robot=robot, floating_base=floating).retarget(motion)
    check_limits(robot, result)
    if floating:
        assert result.base.shape == (len(motion), 7) and np.isfinite(result.base).all()
        assert soles_min_z(robot, result) >= -1e-9
    else:
        assert result.base is None


def test_energetic_dance_on_the_slow_robot_is_velocity_filtered():
    robot = ROBOTS["talos"]
    result = Retargeter(robot=robot).retarget(groove(3.0, energy=1.5, seed=4))
    check_limits(robot, result)
    assert result.velocity_clamps > 0 and result.acceleration_clamps > 0


def test_planted_feet_stay_still_and_on_the_floor():
    robot = ROBOTS["g1"]
    result = Retargeter(robot=robot).retarget(planted_squat(2.0))
    assert result.contacts.all() and result.success
    skeleton = RobotSkeleton(robot)
    ankles = np.array([skeleton.joints(q, b)[[JOINT_INDEX["left_ankle"], JOINT_INDEX["right_ankle"]]]
                       for q, b in zip(result.q, result.base)])
    assert np.abs(ankles - ankles[0]).max() < 0.005                      # stance feet held in place
    assert abs(soles_min_z(robot, result)) < 0.005                       # on the floor, not above or below
    assert result.base[:, 2].max() - result.base[:, 2].min() > 0.05      # while the pelvis squats


def test_fixed_base_step_returns_the_pinned_pose():
    robot = ROBOTS["g1"]
    rt = Retargeter(robot=robot, floating_base=False)
    q, base, residual = rt.step(rest_pose())
    assert q.shape == (robot.num_joints,) and residual < 0.05
    assert np.allclose(base, [0, 0, robot.standing_height, 0, 0, 0, 1])


def test_streaming_steps_warm_start_and_reset():
    robot = ROBOTS["g1"]
    motion = groove(1.0, seed=2)
    rt = Retargeter(robot=robot)
    first = [rt.step(frame) for frame in motion]
    assert all(np.all((q >= robot.lower) & (q <= robot.upper)) for q, _, _ in first)
    assert max(r for _, _, r in first) < 0.06
    rt.reset()
    again = [rt.step(frame) for frame in motion]
    assert np.allclose(np.array([q for q, _, _ in first]), np.array([q for q, _, _ in again]))


def test_unreachable_pose_is_best_effort_with_a_residual():
    """Torso bent back 90 degrees and a knee bent the wrong way: the output stays inside the
    limits, the joints that stop it are reported, and the residual says how far off it is."""
    bad = pose({"spine1": axis_angle([1, 0, 0], np.array([-0.9])), "spine3": axis_angle([1, 0, 0], np.array([-0.7])),
                "left_knee": axis_angle([1, 0, 0], np.array([-1.0]))}, 1)
    rt = Retargeter(robot=ROBOTS["g1"], floating_base=False)
    bad_result = rt.retarget(np.repeat(bad, 3, axis=0))
    good_result = rt.retarget(np.repeat(pose({}, 1), 3, axis=0))
    check_limits(ROBOTS["g1"], bad_result)
    assert bad_result.clamped[-1].any()
    assert bad_result.residual[-1] > 2 * good_result.residual[-1]


@pytest.mark.parametrize("frames, message", [
    (np.full((3, 22, 3), np.nan), "NaN or infinite"),
    (np.zeros((3, 21, 3)), "expected \\(frames, 22, 3\\)"),
    (np.zeros((0, 22, 3)), "no frames"),
])
def test_bad_motions_raise_clear_errors(frames, message):
    with pytest.raises(DanceMosaicError, match=message):
        Retargeter(robot=ROBOTS["g1"]).retarget(frames)


def test_bad_stream_frames_raise_clear_errors():
    rt = Retargeter(robot=ROBOTS["g1"])
    frame = rest_pose()
    frame[3, 1] = np.inf
    with pytest.raises(DanceMosaicError, match="NaN or infinite"):
        rt.step(frame)
    with pytest.raises(DanceMosaicError, match="expected \\(22, 3\\)"):
        rt.step(np.zeros(66))
    with pytest.raises(DanceMosaicError, match="fps must be positive"):
        rt.retarget(groove(0.5), fps=0)


def test_filter_passes_a_feasible_reference_unchanged():
    t = np.arange(40) / 20
    ref = np.stack([0.5 * np.sin(2 * np.pi * t), 0.2 * np.cos(np.pi * t)], -1)
    f = LimitFilter(lower=[-1, -1], upper=[1, 1], velocity=[10, 10], acceleration=[100, 100], dt=0.05)
    out = np.array([f.step(r) for r in ref])
    assert np.allclose(out, ref) and f.velocity_clamps == 0 and f.acceleration_clamps == 0


def test_filter_limits_a_jump_and_catches_up_without_overshoot():
    vmax, amax, dt = 2.0, 20.0, 0.05
    f = LimitFilter(lower=[-3], upper=[3], velocity=[vmax], acceleration=[amax], dt=dt)
    ref = np.concatenate([np.zeros(5), np.full(60, 2.5)])[:, None]
    out = np.array([f.step(r) for r in ref])[:, 0]
    v = np.diff(out) / dt
    assert np.all(np.abs(v) <= vmax + 1e-12)
    assert np.all(np.abs(np.diff(v)) / dt <= amax + 1e-9)
    assert out.max() <= 2.5 + 1e-9 and abs(out[-1] - 2.5) < 1e-9
