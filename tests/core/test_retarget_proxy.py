"""The joint-limit proxy: zero where the robot reaches, positive and growing where it cannot,
finite gradients, and descending it makes a pose easier for the IK."""
import numpy as np
import pytest
import torch

from dancemosaic_core.motion.skeleton import JOINT_INDEX, rest_pose
from dancemosaic_core.retarget import (
    Retargeter,
    RetargetOptions,
    joint_limit_proxy,
    load_robot,
    robot_joints,
    robot_rest_joints,
)
from dancemosaic_core.retarget.proxy import descend, rotate_bones
from dancemosaic_core.retarget.synthetic import axis_angle, pose


@pytest.fixture(scope="module")
def g1():
    return load_robot("g1")


@pytest.fixture(scope="module")
def proxy(g1):
    return joint_limit_proxy(g1)


def penalty(proxy, joints) -> float:
    return float(proxy(torch.as_tensor(np.asarray(joints), dtype=torch.float32).reshape(1, -1, 22, 3)))


def test_zero_on_reachable_poses(g1, proxy):
    assert penalty(proxy, rest_pose()) == 0.0
    assert penalty(proxy, robot_rest_joints(g1)) == 0.0
    rng = np.random.default_rng(0)
    q = g1.neutral_q + rng.uniform(-0.6, 0.6, (60, g1.num_joints)) * (g1.upper - g1.lower) / 2
    motion = robot_joints(g1, np.clip(q, g1.lower, g1.upper))
    apart = motion[:, JOINT_INDEX["left_ankle"], 0] - motion[:, JOINT_INDEX["right_ankle"], 0] > 0.15
    assert apart.sum() > 20         # crossed feet are a collision, not a joint limit: left out
    terms = proxy.terms(torch.as_tensor(motion[apart]))
    assert {k: float(v.max()) for k, v in terms.items()} == {k: 0.0 for k in terms}


@pytest.mark.parametrize("joint, axis, term", [("left_knee", [1, 0, 0], "left_knee"),
                                              ("spine3", [1, 0, 0], "torso_bend"),
                                              ("left_hip", [0, 0, 1], "left_hip")])
def test_grows_with_the_violation(proxy, joint, axis, term):
    """Knee bent backwards, chest bent back beyond the waist's 30 degrees, thigh swung in past
    the hip roll limit: the term is zero first, then grows with the angle."""
    angles = -np.linspace(0.0, 1.4, 8)
    poses = np.concatenate([pose({joint: axis_angle(axis, np.array([a]))}, 1) for a in angles])
    values = proxy.terms(torch.as_tensor(poses))[term].numpy()
    assert values[0] == 0.0 and values[-1] > 0.1
    assert np.all(np.diff(values) >= 0)
    assert penalty(proxy, poses[-1]) > penalty(proxy, poses[0]) == 0.0


def test_feet_closer_than_the_robot_allows(proxy):
    crossed = pose({"left_hip": axis_angle([0, 0, 1], np.array([-0.1])),
                    "right_hip": axis_angle([0, 0, 1], np.array([0.1]))}, 1)
    terms = proxy.terms(torch.as_tensor(crossed))
    assert float(terms["foot_distance"].max()) > 0


def test_batch_shape_and_finite_gradients(proxy):
    x = torch.randn(3, 5, 22, 3) * 0.3
    x[1] = 0.0                                           # a collapsed skeleton
    x.requires_grad_(True)
    out = proxy(x)
    assert out.shape == (3,) and torch.isfinite(out).all()
    out.sum().backward()
    assert torch.isfinite(x.grad).all()
    with pytest.raises(ValueError, match="batch, frames, 22, 3"):
        proxy(torch.zeros(5, 22, 3))


def test_rotate_bones_keeps_lengths():
    joints = torch.as_tensor(rest_pose())
    turned = rotate_bones(joints, torch.randn(22, 3, dtype=torch.float64) * 0.5)
    from dancemosaic_core.motion.skeleton import bone_lengths
    assert np.allclose(bone_lengths(turned.numpy()), bone_lengths(rest_pose()), atol=1e-6)
    assert torch.allclose(rotate_bones(joints, torch.zeros(22, 3, dtype=torch.float64)), joints, atol=1e-6)


def test_descending_the_proxy_lowers_the_ik_residual(g1, proxy):
    """A pose past the G1's limits (knee bent backwards, leg crossed in, chest bent far back):
    gradient descent of the proxy makes it reachable, and the IK's clamping residual (what the
    position limits add to its error) drops."""
    bad = pose({"left_knee": axis_angle([1, 0, 0], np.array([-0.8])),
                "left_hip": axis_angle([0, 0, 1], np.array([-0.9])),
                "spine3": axis_angle([1, 0, 0], np.array([-0.9]))}, 1)
    fixed = descend(proxy, bad, steps=80)
    assert penalty(proxy, bad) > 0.05 and penalty(proxy, fixed) < 0.1 * penalty(proxy, bad)
    free = RetargetOptions()
    free.ik.limits = False

    def clamping(joints):     # residual the position limits cause: with them minus without
        bounded = Retargeter(robot=g1).retarget(joints[None]).residual[0]
        return bounded, bounded - Retargeter(robot=g1, options=free).retarget(joints[None]).residual[0]

    (before, clamp_before), (after, clamp_after) = clamping(bad[0]), clamping(fixed[0])
    assert clamp_before > 0.01 and clamp_after < 0.5 * clamp_before
    assert after < 0.75 * before
