"""Dataset forward kinematics (FineDance 315-d 6-D rotations, AIST++ axis-angle + scaling),
joint templates given by path, file readers and resampling."""
import pickle
from pathlib import Path

import numpy as np
import pytest

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.motion import fk
from dancemosaic_core.motion.representation import (
    features_to_joints,
    joints_to_features,
)
from dancemosaic_core.motion.rotations import axis_angle_to_matrix, matrix_to_rot6d
from dancemosaic_core.motion.skeleton import NUM_JOINTS, PARENTS, rest_pose

IDENTITY_6D_ROWS = np.array([1.0, 0, 0, 0, 1, 0])
# R_z(-90 deg): in the T-pose the left arm points +x; this turns it to -y (hanging down).
ARM_DOWN = np.array([[0.0, 1, 0], [-1, 0, 0], [0, 0, 1]])
LEFT_SHOULDER, LEFT_ELBOW, LEFT_WRIST = 16, 18, 20


def _template(rows):
    """Rest-pose joints like SMPL's: pelvis away from the origin, extra rows past the body."""
    body = rest_pose() + np.array([0.003, -0.35, 0.012])
    extra = body[20] + 0.01 * np.arange(1, rows - NUM_JOINTS + 1)[:, None] * np.array([1.0, 0.2, 0.1])
    return np.concatenate([body, extra])


def _finedance(frames, rng, rot6d=None):
    motion = np.zeros((frames, fk.FINEDANCE_WIDTH))
    motion[:, :3] = rng.normal(size=(frames, 3))
    motion[:, 3:] = np.tile(IDENTITY_6D_ROWS, fk.FINEDANCE_JOINTS) if rot6d is None else rot6d
    return motion


def _subtree(root):
    out = {root}
    for j in range(NUM_JOINTS):
        if PARENTS[j] in out:
            out.add(j)
    return out


def test_finedance_identity_rotations_give_template_plus_translation():
    rng = np.random.default_rng(0)
    template = _template(55)
    motion = _finedance(5, rng)
    joints = fk.finedance_to_joints(motion, template)
    assert joints.shape == (5, NUM_JOINTS, 3) and joints.dtype == np.float32
    np.testing.assert_allclose(joints, template[None, :NUM_JOINTS] + motion[:, None, :3], atol=1e-6)
    with_contacts = np.concatenate([np.ones((5, 4)), motion], axis=1)      # motion_fea319
    np.testing.assert_allclose(fk.finedance_to_joints(with_contacts, template), joints)


def test_left_shoulder_quarter_turn_drops_the_arm_in_both_formats():
    rng = np.random.default_rng(1)
    template = _template(55)
    rot6d = np.tile(IDENTITY_6D_ROWS, (1, fk.FINEDANCE_JOINTS))
    rot6d[:, LEFT_SHOULDER * 6:(LEFT_SHOULDER + 1) * 6] = ARM_DOWN[:2].reshape(6)   # first two rows
    motion = _finedance(1, rng, rot6d)
    motion[:, :3] = 0
    joints = fk.finedance_to_joints(motion, template)[0]
    rest = template[:NUM_JOINTS]
    for j in (LEFT_ELBOW, LEFT_WRIST):
        np.testing.assert_allclose(joints[j] - joints[LEFT_SHOULDER], ARM_DOWN @ (rest[j] - rest[LEFT_SHOULDER]), atol=1e-6)
    assert joints[LEFT_WRIST, 1] < joints[LEFT_SHOULDER, 1] - 0.45                 # hangs down
    assert abs(joints[LEFT_WRIST, 0] - joints[LEFT_SHOULDER, 0]) < 0.05
    moved = _subtree(LEFT_ELBOW)
    untouched = [j for j in range(NUM_JOINTS) if j not in moved]
    np.testing.assert_allclose(joints[untouched], rest[untouched], atol=1e-6)
    # the same pose as AIST++ axis-angle gives the same joints
    poses = np.zeros((1, 72))
    poses[0, LEFT_SHOULDER * 3 + 2] = -np.pi / 2
    aist = fk.aist_to_joints({"smpl_poses": poses, "smpl_trans": np.zeros((1, 3)), "smpl_scaling": np.ones(1)},
                             _template(24))
    np.testing.assert_allclose(aist[0], joints, atol=1e-6)


def test_aist_scaling_divides_translation_not_body():
    rng = np.random.default_rng(2)
    template = _template(24)
    poses = 0.3 * rng.normal(size=(4, 72))
    shift = rng.normal(size=(4, 3))
    small = fk.aist_to_joints({"smpl_poses": poses, "smpl_trans": shift, "smpl_scaling": np.array([1.0])}, template)
    big = fk.aist_to_joints({"smpl_poses": poses, "smpl_trans": 93.7 * shift, "smpl_scaling": np.array([93.7])}, template)
    np.testing.assert_allclose(big, small, atol=1e-5)
    still = fk.aist_to_joints({"smpl_poses": np.zeros((4, 72)), "smpl_trans": 2.0 * shift,
                               "smpl_scaling": np.array([2.0])}, template)
    np.testing.assert_allclose(still, template[None, :NUM_JOINTS] + shift[:, None], atol=1e-5)


def test_template_file_loading(tmp_path):
    missing = tmp_path / "nowhere" / "smplx_neu_J_1.npy"
    with pytest.raises(DanceMosaicError) as err:
        fk.load_joint_template(missing, "smplx")
    assert str(missing) in str(err.value) and "(55, 3)" in str(err.value) and "J_regressor" in str(err.value)
    with pytest.raises(DanceMosaicError, match=str(missing).replace("\\", "\\\\")):
        fk.finedance_to_joints(np.zeros((2, 315)), missing)
    path = tmp_path / "smplx_neu_J_1.npy"
    np.save(path, _template(55)[None])                                 # (1, 55, 3) is accepted too
    np.testing.assert_allclose(fk.load_joint_template(path, "smplx"), _template(55))
    joints = fk.finedance_to_joints(_finedance(2, np.random.default_rng(3)), path)
    assert joints.shape == (2, NUM_JOINTS, 3)
    np.save(path, _template(30))
    with pytest.raises(DanceMosaicError, match=r"shape \(30, 3\)"):
        fk.load_joint_template(path, "smplx")
    with pytest.raises(DanceMosaicError, match="kind"):
        fk.load_joint_template(path, "mano")
    degenerate = tmp_path / "flat.npy"
    np.save(degenerate, np.zeros((24, 3)))
    with pytest.raises(DanceMosaicError, match="zero-length"):
        fk.load_joint_template(degenerate, "smpl")


def test_bad_motion_shapes_and_values():
    template = _template(55)
    with pytest.raises(DanceMosaicError, match="315"):
        fk.finedance_to_joints(np.zeros((10, 300)), template)
    nan = _finedance(6, np.random.default_rng(4))
    nan[3, 10] = np.nan
    with pytest.raises(DanceMosaicError, match="frame 3"):
        fk.finedance_to_joints(nan, template)
    good = {"smpl_poses": np.zeros((3, 72)), "smpl_trans": np.zeros((3, 3)), "smpl_scaling": np.ones(1)}
    cases = [({k: v for k, v in good.items() if k != "smpl_trans"}, "smpl_trans"),
             ({**good, "smpl_poses": np.zeros((3, 70))}, "smpl_poses"),
             ({**good, "smpl_trans": np.zeros((4, 3))}, "smpl_trans"),
             ({**good, "smpl_scaling": np.array([-1.0])}, "smpl_scaling")]
    for motion, field in cases:
        with pytest.raises(DanceMosaicError, match=field):
            fk.aist_to_joints(motion, _template(24))
    with pytest.raises(DanceMosaicError, match="N >= 22"):
        fk.aist_to_joints(good, np.zeros((10, 3)))


def test_file_readers(tmp_path):
    motion = {"smpl_poses": np.zeros((3, 72)), "smpl_trans": np.ones((3, 3)), "smpl_scaling": np.array([2.0]),
              "smpl_loss": np.float64(0.1)}
    good = tmp_path / "gBR_sBM_cAll_d04_mBR0_ch01.pkl"
    for protocol in (2, 4, 5):
        good.write_bytes(pickle.dumps(motion, protocol=protocol))
        loaded = fk.load_aist_motion(good)
        np.testing.assert_array_equal(loaded["smpl_trans"], motion["smpl_trans"])
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps({"smpl_poses": Path("/etc/passwd")}))
    with pytest.raises(DanceMosaicError, match="refusing"):
        fk.load_aist_motion(evil)
    npy = tmp_path / "001.npy"
    np.save(npy, _finedance(4, np.random.default_rng(5)))
    assert fk.load_finedance_motion(npy).shape == (4, 315)
    with pytest.raises(DanceMosaicError, match="cannot read"):
        fk.load_finedance_motion(tmp_path / "002.npy")


def test_resample():
    ramp = np.arange(31, dtype=np.float64)[:, None, None] * np.ones((1, NUM_JOINTS, 3))
    out = fk.resample(ramp, 30, 20)
    assert out.shape == (21, NUM_JOINTS, 3)
    np.testing.assert_allclose(out[:, 0, 0], np.arange(21) * 1.5)
    sixty = np.random.default_rng(6).normal(size=(61, 5)).astype(np.float32)
    thirds = fk.resample(sixty, 60, 20)
    np.testing.assert_allclose(thirds, sixty[::3], atol=1e-6)
    assert thirds.dtype == np.float32
    np.testing.assert_array_equal(fk.resample(sixty, 20, 20), sixty)
    with pytest.raises(DanceMosaicError, match="positive"):
        fk.resample(sixty, 0, 20)


def test_finedance_to_features_round_trip():
    """FineDance-like clip: smooth random rotations, FK, 30 -> 20 fps, features, recovery."""
    rng = np.random.default_rng(7)
    frames = 61
    t = np.arange(frames)[:, None] / fk.FINEDANCE_FPS
    aa = 0.4 * np.sin(2 * np.pi * rng.uniform(0.2, 1.0, (1, fk.SMPL_JOINTS * 3)) * t + rng.uniform(0, 6, (1, 72)))
    rows = matrix_to_rot6d(axis_angle_to_matrix(aa.reshape(frames, 24, 3)), layout="rows")
    rot6d = np.tile(IDENTITY_6D_ROWS, (frames, fk.FINEDANCE_JOINTS))
    rot6d[:, :NUM_JOINTS * 6] = rows[:, :NUM_JOINTS].reshape(frames, -1)
    motion = _finedance(frames, rng, rot6d)
    motion[:, :3] = np.concatenate([np.sin(t), 0.9 + 0.05 * t, 0.5 * t], axis=1)
    joints = fk.resample(fk.finedance_to_joints(motion, _template(55)), fk.FINEDANCE_FPS, 20)
    features, frame = joints_to_features(joints, return_frame=True)
    assert np.abs(frame.invert(features_to_joints(features)) - joints[:-1]).max() < 1e-4
