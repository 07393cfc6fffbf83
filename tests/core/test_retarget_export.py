"""BeyondMimic motion file: read back with numpy as its MotionLoader does; shapes, frame rate,
Isaac Lab's breadth-first joint order, the resampled path through the source frames, and
velocities that are the finite differences of the positions."""
import numpy as np
import pinocchio as pin
import pytest

from dancemosaic_core.cli import main
from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.motion.io import Motion, save_motion
from dancemosaic_core.retarget import Retargeter, load_robot
from dancemosaic_core.retarget.export import beyondmimic_motion, save_beyondmimic
from dancemosaic_core.retarget.io import load_trajectory
from dancemosaic_core.retarget.synthetic import groove

# the articulation order of the G1 in Isaac Lab, as BeyondMimic's G1 deployments list it
ISAAC_G1_FIRST = ["left_hip_pitch_joint", "right_hip_pitch_joint", "waist_yaw_joint", "left_hip_roll_joint",
                  "right_hip_roll_joint", "waist_roll_joint", "left_hip_yaw_joint", "right_hip_yaw_joint",
                  "waist_pitch_joint", "left_knee_joint", "right_knee_joint", "left_shoulder_pitch_joint"]


@pytest.fixture(scope="module")
def g1():
    return load_robot("g1")


def test_cli_writes_a_motion_file_that_reads_back(tmp_path, g1, capsys):
    dance = save_motion(tmp_path / "dance.npz", Motion(joints=groove(2.0, energy=0.5)))
    assert main(["retarget", str(dance), "--no-balance", "--out", str(tmp_path / "g1.npz"),
                 "--export-beyondmimic", str(tmp_path / "motion.npz")]) == 0
    assert "BeyondMimic motion, 98 frames at 50 fps, 29 joints, 30 bodies" in capsys.readouterr().out
    trajectory = load_trajectory(tmp_path / "g1.npz")
    data = np.load(tmp_path / "motion.npz")                  # no pickle, as MotionLoader loads it
    T = len(np.arange(0.0, 39 / 20.0, 1 / 50))
    assert data["fps"].tolist() == [50] and T == 98
    assert data["joint_pos"].shape == data["joint_vel"].shape == (T, 29)
    for key in ("body_pos_w", "body_lin_vel_w", "body_ang_vel_w"):
        assert data[key].shape == (T, 30, 3) and data[key].dtype == np.float32
    assert data["body_quat_w"].shape == (T, 30, 4)
    np.testing.assert_allclose(np.linalg.norm(data["body_quat_w"], axis=-1), 1.0, atol=1e-5)
    names = list(data["joint_names"])
    assert names[:12] == ISAAC_G1_FIRST and sorted(names) == sorted(g1.joint_names)
    assert data["body_names"][0] == "pelvis" and "torso_link" in data["body_names"]
    # every 5th output frame (0.1 s) is every 2nd source frame: the path goes through them
    order = [list(g1.joint_names).index(n) for n in names]
    np.testing.assert_allclose(data["joint_pos"][::5], trajectory.q[::2][:20, order], atol=1e-6)
    np.testing.assert_allclose(data["body_pos_w"][::5, 0], trajectory.base[::2][:20, :3], atol=1e-6)
    w, x, y, z = data["body_quat_w"][::5, 0].T
    np.testing.assert_allclose(np.abs((np.stack([x, y, z, w], 1) * trajectory.base[::2][:20, 3:]).sum(1)), 1.0,
                               atol=1e-6)
    assert main(["export", str(tmp_path / "g1.npz"), "--out", str(tmp_path / "again.npz")]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "again.npz")["body_pos_w"], data["body_pos_w"])


def test_velocities_are_finite_differences_of_the_positions(g1):
    result = Retargeter(robot=g1).retarget(groove(1.5, energy=0.5), fps=20.0)
    m = beyondmimic_motion(g1, result, fps=50)
    dt = 1 / 50
    central = lambda x: (x[2:] - x[:-2]) / (2 * dt)  # noqa: E731
    np.testing.assert_allclose(m["joint_vel"][1:-1], central(m["joint_pos"].astype(np.float64)), atol=1e-3)
    # the pelvis: its centre of mass moves with the link's velocity plus omega x lever
    lever = g1.model(floating=True).inertias[1].lever
    w, x, y, z = m["body_quat_w"][:, 0].T.astype(np.float64)
    R = np.array([pin.Quaternion(*q).toRotationMatrix() for q in zip(w, x, y, z)])
    com = m["body_pos_w"][:, 0].astype(np.float64) + R @ lever
    np.testing.assert_allclose(m["body_lin_vel_w"][1:-1, 0], central(com), atol=1e-3)
    turn = np.array([pin.log3(R[t + 1] @ R[t - 1].T) for t in range(1, len(R) - 1)]) / (2 * dt)
    np.testing.assert_allclose(m["body_ang_vel_w"][1:-1, 0], turn, atol=0.05)
    assert np.abs(m["joint_vel"]).max() > 0.1                 # it dances


def test_bad_exports_name_the_problem(tmp_path, g1):
    fixed = Retargeter(robot=g1, floating_base=False).retarget(groove(0.5), fps=20.0)
    with pytest.raises(DanceMosaicError, match="floating-base pose"):
        beyondmimic_motion(g1, fixed)
    floating = Retargeter(robot=g1).retarget(groove(0.5), fps=20.0)
    with pytest.raises(DanceMosaicError, match="integer in 1..1000"):
        beyondmimic_motion(g1, floating, fps=0)
    with pytest.raises(DanceMosaicError, match="ends in .npz"):
        save_beyondmimic(tmp_path / "m.csv", beyondmimic_motion(g1, floating))
