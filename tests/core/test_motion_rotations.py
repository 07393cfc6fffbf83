"""Rotation helpers: conversions round-trip, agree with scipy, and numpy and torch agree."""
import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from dancemosaic_core.motion import rotations as R


def _random_quats(rng, shape):
    q = rng.normal(size=shape + (4,))
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    return np.where(q[..., :1] < 0, -q, q)


def test_quaternion_matrix_round_trip_and_scipy():
    rng = np.random.default_rng(1)
    q = _random_quats(rng, (6, 5))
    m = R.quat_to_matrix(q)
    scipy_m = Rotation.from_quat(q.reshape(-1, 4)[:, [1, 2, 3, 0]]).as_matrix().reshape(m.shape)
    np.testing.assert_allclose(m, scipy_m, atol=1e-12)
    np.testing.assert_allclose(R.matrix_to_quat(m), q, atol=1e-12)


def test_matrix_to_quat_near_half_turns():
    # trace near -1 is where the naive w-based formula breaks down
    for axis in np.eye(3):
        m = Rotation.from_rotvec(axis * (np.pi - 1e-7)).as_matrix()
        np.testing.assert_allclose(R.quat_to_matrix(R.matrix_to_quat(m)), m, atol=1e-9)


def test_qmul_qrot_qinv_match_matrices():
    rng = np.random.default_rng(2)
    q, r = _random_quats(rng, (10,)), _random_quats(rng, (10,))
    v = rng.normal(size=(10, 3))
    np.testing.assert_allclose(R.quat_to_matrix(R.qmul(q, r)), R.quat_to_matrix(q) @ R.quat_to_matrix(r), atol=1e-12)
    np.testing.assert_allclose(R.qrot(q, v), np.einsum("nij,nj->ni", R.quat_to_matrix(q), v), atol=1e-12)
    np.testing.assert_allclose(R.qrot(R.qinv(q), R.qrot(q, v)), v, atol=1e-12)
    # broadcasting: one quaternion, many vectors
    np.testing.assert_allclose(R.qrot(q[0], v), np.einsum("ij,nj->ni", R.quat_to_matrix(q[0]), v), atol=1e-12)


def test_qbetween_rotates_v0_onto_v1_including_opposite():
    rng = np.random.default_rng(3)
    v0, v1 = rng.normal(size=(50, 3)), rng.normal(size=(50, 3))
    out = R.qrot(R.qbetween(v0, v1), v0)
    np.testing.assert_allclose(out / np.linalg.norm(out, axis=-1, keepdims=True),
                               v1 / np.linalg.norm(v1, axis=-1, keepdims=True), atol=1e-12)
    opposite = np.array([[0.0, 0, -1], [0, -1, 0], [0.3, 0.2, -0.1]])
    q = R.qbetween(opposite, -opposite)
    assert np.isfinite(q).all()
    np.testing.assert_allclose(R.qrot(q, opposite), -opposite, atol=1e-12)
    # a horizontal heading turned around stays a rotation about +y
    np.testing.assert_allclose(q[0], [0, 0, 1, 0], atol=1e-12)


def test_rot6d_layouts():
    rng = np.random.default_rng(4)
    m = R.quat_to_matrix(_random_quats(rng, (7,)))
    cols, rows = R.matrix_to_rot6d(m, layout="columns"), R.matrix_to_rot6d(m, layout="rows")
    np.testing.assert_allclose(cols, np.concatenate([m[:, :, 0], m[:, :, 1]], axis=-1))
    np.testing.assert_allclose(rows, m[:, :2, :].reshape(7, 6))     # pytorch3d's matrix_to_rotation_6d
    np.testing.assert_allclose(R.rot6d_to_matrix(cols, layout="columns"), m, atol=1e-12)
    np.testing.assert_allclose(R.rot6d_to_matrix(rows, layout="rows"), m, atol=1e-12)
    # reading one layout as the other gives the inverse rotation
    np.testing.assert_allclose(R.rot6d_to_matrix(rows, layout="columns"), np.swapaxes(m, -1, -2), atol=1e-12)
    # Gram-Schmidt makes any non-degenerate 6-vector a rotation
    noisy = R.rot6d_to_matrix(cols + 0.1 * rng.normal(size=cols.shape))
    np.testing.assert_allclose(noisy @ np.swapaxes(noisy, -1, -2), np.broadcast_to(np.eye(3), noisy.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(noisy), 1.0, atol=1e-12)
    with pytest.raises(ValueError, match="layout"):
        R.rot6d_to_matrix(cols, layout="diagonal")


def test_axis_angle_round_trip_and_small_angles():
    rng = np.random.default_rng(5)
    axis = rng.normal(size=(40, 3))
    axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
    aa = axis * rng.uniform(0, np.pi - 1e-3, size=(40, 1))
    aa[0] = 0.0
    aa[1] = [1e-9, 0, 0]
    m = R.axis_angle_to_matrix(aa)
    np.testing.assert_allclose(m, Rotation.from_rotvec(aa).as_matrix(), atol=1e-12)
    np.testing.assert_allclose(R.matrix_to_axis_angle(m), aa, atol=1e-9)
    t = torch.tensor(aa, requires_grad=True)
    R.matrix_to_axis_angle(R.axis_angle_to_matrix(t)).sum().backward()
    assert torch.isfinite(t.grad).all()


def test_numpy_and_torch_agree_and_keep_dtype():
    rng = np.random.default_rng(6)
    q = _random_quats(rng, (3, 4)).astype(np.float32)
    v = rng.normal(size=(3, 4, 3)).astype(np.float32)
    d6 = rng.normal(size=(3, 4, 6)).astype(np.float32)
    for name, args in [("qrot", (q, v)), ("qmul", (q, q[::-1])), ("quat_to_matrix", (q,)),
                       ("rot6d_to_matrix", (d6,)), ("axis_angle_to_matrix", (v,)), ("qbetween", (v, v[::-1]))]:
        fn = getattr(R, name)
        out_np = fn(*args)
        out_t = fn(*(torch.from_numpy(a.copy()) for a in args))
        assert isinstance(out_np, np.ndarray) and out_np.dtype == np.float32, name
        assert isinstance(out_t, torch.Tensor) and out_t.dtype == torch.float32, name
        np.testing.assert_allclose(out_t.numpy(), out_np, atol=1e-5, err_msg=name)


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="last dimension 4"):
        R.qmul(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"\(\.\.\., 3, 3\)"):
        R.matrix_to_quat(np.zeros((2, 9)))
