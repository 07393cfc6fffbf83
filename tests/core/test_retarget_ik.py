"""The IK core: the bounded QP is optimal, the solver recovers the robot's own forward
kinematics, and whole retargeting round trips robot FK -> 22 joints -> robot."""
import numpy as np
import pinocchio as pin
import pytest

from dancemosaic_core.motion.skeleton import JOINT_NAMES
from dancemosaic_core.retarget import (
    Retargeter,
    load_robot,
    robot_joints,
    robot_rest_joints,
)
from dancemosaic_core.retarget.ik import IKOptions, IKSolver, solve_box_qp
from dancemosaic_core.retarget.robot import KEYPOINT_FRAME


@pytest.fixture(scope="module")
def g1():
    return load_robot("g1")


def random_q(robot, rng, spread):
    """Joints around the neutral pose, `spread` of the half range, inside the limits."""
    q = robot.neutral_q + rng.uniform(-spread, spread, robot.num_joints) * (robot.upper - robot.lower) / 2
    return np.clip(q, robot.lower, robot.upper)


@pytest.mark.parametrize("seed", range(20))
def test_box_qp_satisfies_kkt(seed):
    rng = np.random.default_rng(seed)
    n = 8
    A = rng.normal(size=(12, n))
    H = A.T @ A + 1e-3 * np.eye(n)
    g = rng.normal(size=n) * 3
    lo, hi = -rng.uniform(0.1, 1, n), rng.uniform(0.1, 1, n)
    lo[:2], hi[:2] = -np.inf, np.inf                          # unbounded like the free-flyer
    x, active = solve_box_qp(H, g, lo, hi)
    grad = H @ x - g
    assert np.all(x >= lo - 1e-12) and np.all(x <= hi + 1e-12)
    free = (x > lo + 1e-9) & (x < hi - 1e-9)
    assert np.allclose(grad[free], 0, atol=1e-8)              # stationary inside the box
    assert np.all(grad[x <= lo + 1e-9] >= -1e-8)              # pushing outward at a lower bound
    assert np.all(grad[x >= hi - 1e-9] <= 1e-8)
    assert not active[free].any()


@pytest.mark.parametrize("floating", [True, False])
def test_ik_recovers_forward_kinematics(g1, floating):
    """Targets placed by FK at random feasible q are reached from the neutral pose (within 30 %
    of the joint ranges of it: from farther away a 29-DoF IK may settle in another branch)."""
    model = g1.model(floating=floating)
    data = model.createData()
    rng = np.random.default_rng(1)
    names = [k for k in g1.keypoints if g1.keypoints[k].weight > 0]
    frames = [model.getFrameId(KEYPOINT_FRAME.format(n)) for n in names]
    orient = [model.getFrameId(o.frame) for o in g1.orientations.values()]
    solver = IKSolver(model=model, position_frames=frames, orientation_frames=orient,
                      joint_v=g1.joint_v_index(model), joint_q=g1.joint_q_index(model), neutral=g1.neutral_q,
                      sole_frames=[], soles=[], ground_z=-10.0, options=IKOptions(posture=0.0))
    for _ in range(3):
        base = np.array([0.2, -0.1, 0.8, *pin.Quaternion(pin.rpy.rpyToMatrix(0.1, -0.2, 1.0)).coeffs()])
        truth = g1.configuration(model, random_q(g1, rng, 0.3), base)
        pin.framesForwardKinematics(model, data, truth)
        pos = np.array([data.oMf[f].translation for f in frames])
        rot = np.array([data.oMf[f].rotation for f in orient])
        q, _ = solver.solve(g1.configuration(model, g1.neutral_q), pos, np.ones(len(pos)), rot,
                            np.ones(len(rot)), iterations=200)
        pin.framesForwardKinematics(model, data, q)
        assert max(np.linalg.norm(data.oMf[f].translation - p) for f, p in zip(frames, pos)) < 1e-3
        assert max(np.linalg.norm(pin.log3(data.oMf[f].rotation @ r.T)) for f, r in zip(orient, rot)) < 1e-2
        assert np.all(q[g1.joint_q_index(model)] >= g1.lower) and np.all(q[g1.joint_q_index(model)] <= g1.upper)


def test_round_trip_fixed_base(g1):
    """Robot FK -> 22 joints -> retarget (robot calibration) comes back within the mapping's
    approximation (the G1's hip and shoulder axes do not meet in one point)."""
    rng = np.random.default_rng(2)
    q = np.stack([random_q(g1, rng, 0.4) for _ in range(6)])
    motion = robot_joints(g1, q)
    rt = Retargeter(robot=g1, floating_base=False, reference=robot_rest_joints(g1))
    mapped = [i for i, n in enumerate(JOINT_NAMES) if n in g1.keypoints]
    for t in range(len(q)):       # independent poses: one retarget each
        res = rt.retarget(motion[t:t + 1])
        assert res.residual[0] < 0.03
        back = robot_joints(g1, res.q)[0]
        error = np.linalg.norm(back[mapped] - motion[t, mapped], axis=-1)
        assert error.mean() < 0.02 and error.max() < 0.05


def test_round_trip_floating_base(g1):
    """Upper body and waist random, feet flat: the base yaw and the arms come back."""
    rng = np.random.default_rng(3)
    upper = np.array([not any(k in n for k in ("hip", "knee", "ankle")) for n in g1.joint_names])
    rt = Retargeter(robot=g1, floating_base=True, reference=robot_rest_joints(g1))
    for _ in range(4):
        q = g1.neutral_q.copy()
        q[upper] = random_q(g1, rng, 0.4)[upper]
        yaw = rng.uniform(-np.pi, np.pi)
        base = np.array([0.3, -0.2, g1.standing_height, *pin.Quaternion(pin.rpy.rpyToMatrix(0, 0, yaw)).coeffs()])
        res = rt.retarget(robot_joints(g1, q[None], base[None]))
        assert res.residual[0] < 0.015
        got = pin.Quaternion(res.base[0, 3:]).toRotationMatrix()
        assert np.linalg.norm(pin.log3(got @ pin.rpy.rpyToMatrix(0, 0, yaw).T)) < 0.05
        assert abs(res.base[0, 2] - g1.standing_height) < 0.01
