"""The stabilizer's law streamed (reference in pieces) and batch agree; the base-state estimator
recovers a posed G1 from joint states and an IMU; the offset limiter keeps commands in limits."""
from types import SimpleNamespace

import numpy as np
import pinocchio as pin
import pytest

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.control import JointLimits
from dancemosaic_core.control.offsets import OffsetLimiter
from dancemosaic_core.retarget.estimator import BaseEstimator, EstimatorOptions
from dancemosaic_core.retarget.stabilizer import Stabilizer, StabilizerOptions, StreamingStabilizer


def disturbed(g1, reference, t, rng):
    """A measured state near the reference's frame at t: joints, base pose and velocity moved."""
    i = int(t * reference.fps)
    base = reference.base[i].copy()
    base[:3] += rng.normal(0, 0.01, 3)
    base[3:] = pin.Quaternion(pin.XYZQUATToSE3(base).rotation @ pin.rpy.rpyToMatrix(0, 0.04, 0)).coeffs()
    return reference.q[i] + rng.normal(0, 0.01, g1.num_joints), base, rng.normal(0, 0.05, g1.num_joints + 6)


def test_streamed_pieces_give_the_batch_correction(g1, squat):
    batch = Stabilizer(g1, squat)
    height = 9.81 / batch.omega ** 2
    live = StreamingStabilizer(g1, squat.fps, StabilizerOptions(com_height=height), keep_seconds=10.0)
    cuts = [0, 7, 12, len(squat.q)]
    for a, b in zip(cuts, cuts[1:]):
        live.extend(a / squat.fps, squat.q[a:b + 3], squat.base[a:b + 3])   # overlaps are replaced
    live.extend(12 / squat.fps, squat.q[12:], squat.base[12:])
    assert np.allclose(live.ref_com, batch.ref_com) and np.array_equal(live.contacts, batch.contacts)
    rng = np.random.default_rng(0)
    for t in (0.1, 0.33, 0.72):
        state = disturbed(g1, squat, t, rng)
        offsets = batch.correction(t, *state)
        assert np.abs(offsets).max() > 1e-3
        assert np.allclose(live.correction(t, *state), offsets, atol=1e-9)
    one_piece = StreamingStabilizer(g1, squat.fps)
    one_piece.extend(0.0, squat.q, squat.base)
    assert one_piece.omega == batch.omega


def test_streamed_reference_stays_bounded_and_restarts_off_its_grid(g1):
    live = StreamingStabilizer(g1, 20.0, keep_seconds=0.5)
    q, base = np.repeat(g1.neutral_q[None], 4, 0), np.tile([0, 0, g1.standing_height, 0, 0, 0, 1.0], (4, 1))
    for k in range(10):
        live.extend(0.2 * k, q, base, now=0.2 * k)
    assert len(live.q) <= 0.5 * 20 + 1 + 4 and live.end_time == pytest.approx(1.8 + 0.15)
    live.extend(5.013, q, base)                                  # off the grid: a new reference
    assert live.t0 == 5.013 and len(live.q) == 4
    with pytest.raises(DanceMosaicError, match="NaN"):
        live.extend(5.2, q * np.nan, base)
    assert len(live.q) == 4


def test_a_state_on_the_reference_needs_no_correction(g1):
    standing = SimpleNamespace(q=np.repeat(g1.neutral_q[None], 10, 0), fps=20.0,
                               base=np.tile([0.3, -0.2, g1.standing_height, 0, 0, 0, 1.0], (10, 1)))
    live = StreamingStabilizer(g1, 20.0)
    live.extend(3.0, standing.q, standing.base)
    v = np.zeros(g1.num_joints + 6)
    assert np.allclose(live.correction(3.2, g1.neutral_q, standing.base[0], v), 0, atol=1e-9)
    assert np.allclose(Stabilizer(g1, standing).correction(0.2, g1.neutral_q, standing.base[0], v), 0, atol=1e-9)


def _posed_g1(g1):
    """A posed G1 (joints q, base pose), its foot positions and a yawed, rotated IMU on its pelvis."""
    model = g1.model(floating=True)
    data = model.createData()
    rng = np.random.default_rng(1)
    q = g1.neutral_q + rng.normal(0, 0.05, g1.num_joints)
    true_R = pin.rpy.rpyToMatrix(0.05, -0.08, 0.7)
    base = np.concatenate([[0.2, -0.1, 0.74], pin.Quaternion(true_R).coeffs()])
    config = g1.configuration(model, q, base)
    pin.framesForwardKinematics(model, data, config)
    feet = np.array([data.oMf[model.getFrameId(g1.feet[s].frame)].translation for s in ("left", "right")])
    mount = pin.rpy.rpyToMatrix(0.0, 0.0, np.pi)             # IMU turned about z on the pelvis
    imu_R = pin.rpy.rpyToMatrix(0, 0, -1.1) @ true_R @ mount   # world <- IMU; the IMU's yaw is its own
    return SimpleNamespace(model=model, data=data, config=config, q=q, base=base, R=true_R, feet=feet, mount=mount,
                           imu_q=pin.Quaternion(imu_R).coeffs(), imu_R=imu_R)


def test_estimator_recovers_a_posed_g1_from_joints_and_a_tilted_mounted_imu(g1):
    g = _posed_g1(g1)
    rng = np.random.default_rng(2)
    omega, qd = np.array([0.3, -0.2, 0.1]), rng.normal(0, 0.3, g1.num_joints)   # base axes; joints
    # the left foot holds still: the base's linear velocity cancels what the gyro and the joints give it
    true_v = np.zeros(g.model.nv)
    true_v[3:6], true_v[g1.joint_v_index(g.model)] = omega, qd
    left = g.model.getFrameId(g1.feet["left"].frame)
    J = pin.computeFrameJacobian(g.model, g.data, g.config, left, pin.ReferenceFrame.LOCAL_WORLD_ALIGNED)[:3]
    true_v[:3] = -np.linalg.solve(J[:, :3], J[:, 3:] @ true_v[3:])
    at_rest = g.imu_R.T @ np.array([0.0, 0.0, 9.81])          # specific force of an unaccelerated IMU
    estimator = BaseEstimator(g1, EstimatorOptions(0.03, tuple(pin.Quaternion(g.mount).coeffs())))
    drift = np.array([0.2, 0.05, 0.0])                       # the reference's feet wander; the real ones stay
    for k in range(60):
        t = 0.01 * k
        est_base, v = estimator.update(t, g.q, qd, g.imu_q, g.mount.T @ omega, np.array([True, False]),
                                       g.feet + drift * t, g.base, at_rest)
    assert np.allclose(est_base[:3], g.base[:3], atol=1e-9)   # the foot stays where it touched down
    assert np.allclose(pin.XYZQUATToSE3(est_base).rotation, g.R, atol=1e-9)
    assert np.allclose(v[:3], true_v[:3], atol=1e-9) and np.allclose(v[3:6], omega, atol=1e-12)
    with pytest.raises(DanceMosaicError, match="norm"):
        estimator.update(1.0, g.q, None, 2 * g.imu_q, omega, np.array([True, True]), g.feet, g.base)
    with pytest.raises(DanceMosaicError, match="linear acceleration"):
        estimator.update(1.0, g.q, None, g.imu_q, omega, np.array([True, True]), g.feet, g.base, [0.0, np.nan, 9.8])


def test_estimator_velocity_follows_the_accelerometer_and_only_slowly_the_legs(g1):
    g = _posed_g1(g1)
    at_rest = g.imu_R.T @ np.array([0.0, 0.0, 9.81])
    both, none = np.array([True, True]), np.array([False, False])
    estimator = BaseEstimator(g1, EstimatorOptions(0.2, tuple(pin.Quaternion(g.mount).coeffs())))
    still = np.zeros(g1.num_joints)
    estimator.update(0.0, g.q, still, g.imu_q, np.zeros(3), both, g.feet, g.base, at_rest)
    # one tick of fast joint motion with the feet rocking instead of the body moving: the
    # accelerometer feels nothing, so the estimate moves by dt / (time constant + dt) of the legs'
    kick = np.zeros(g1.num_joints)
    kick[list(g1.joint_names).index("left_knee_joint")] = kick[list(g1.joint_names).index("right_knee_joint")] = 2.0
    _, v = estimator.update(0.002, g.q, kick, g.imu_q, np.zeros(3), both, g.feet, g.base, at_rest)
    fresh = BaseEstimator(g1, EstimatorOptions(0.2, tuple(pin.Quaternion(g.mount).coeffs())))
    _, legs = fresh.update(0.0, g.q, kick, g.imu_q, np.zeros(3), both, g.feet, g.base, at_rest)
    assert np.linalg.norm(legs[:3]) > 0.1
    assert np.allclose(v[:3], 0.002 / 0.202 * legs[:3], atol=1e-12)
    # in flight (no stance foot) the velocity is the accelerometer's integral: free fall
    start, _ = estimator.update(0.01, g.q, still, g.imu_q, np.zeros(3), none, g.feet, g.base, at_rest)
    for k in range(1, 11):
        base, v = estimator.update(0.01 + 0.01 * k, g.q, still, g.imu_q, np.zeros(3), none, g.feet, g.base,
                                   np.zeros(3))
    world = g.R @ v[:3]
    assert np.isclose(world[2] - (g.R @ legs[:3] * 0.002 / 0.202)[2], -0.981, atol=1e-9)
    assert base[2] < start[2]


def test_offsets_move_at_their_rate_and_commands_stay_inside_the_limits(g1):
    limits = JointLimits(g1.lower + 0.02, g1.upper - 0.02, g1.velocity, 0.01)
    offsets = OffsetLimiter(limits, rate=1.0, max_offset=0.2)
    wanted = np.full(g1.num_joints, 0.5)
    steps = [offsets.step(wanted, 0.01).copy() for _ in range(15)]
    assert np.allclose(np.diff(steps, axis=0), 0.01) and np.allclose(offsets.step(wanted, 1.0), 0.2)
    plan = np.stack([g1.upper - 0.05, g1.neutral_q, g1.lower + 0.03])
    q, v = offsets.apply(plan, np.stack([2 * g1.velocity, 0 * g1.velocity, -g1.velocity]))
    assert np.all(q <= limits.upper) and np.all(q >= limits.lower) and np.all(np.abs(v) <= g1.velocity)
    assert np.allclose(q[1], np.clip(g1.neutral_q + 0.2, limits.lower, limits.upper)) and offsets.clamps == 1
    for _ in range(25):                                       # stale state: back to the reference
        offsets.step(np.zeros(g1.num_joints), 0.01)
    assert np.allclose(offsets.offset, 0) and np.array_equal(offsets.apply(plan[1:2], plan[1:2] * 0)[0], plan[1:2])


def test_ankle_roll_offsets_stay_within_what_the_narrow_sole_holds(g1, squat):
    rng = np.random.default_rng(1)
    q, base, v = disturbed(g1, squat, 0.3, rng)
    base[3:] = pin.Quaternion(pin.XYZQUATToSE3(base).rotation @ pin.rpy.rpyToMatrix(0.2, 0, 0)).coeffs()
    roll = [k for k, name in enumerate(g1.joint_names) if "ankle_roll" in name]
    free = Stabilizer(g1, squat, StabilizerOptions(joint_max_offset=())).correction(0.3, q, base, v)
    assert np.abs(free[roll]).max() > 0.05
    limited = Stabilizer(g1, squat).correction(0.3, q, base, v)
    assert np.abs(limited[roll]).max() <= 0.05 + 1e-12
    others = [k for k in range(g1.num_joints) if k not in roll]
    assert np.allclose(limited[others], free[others])
