"""HumanML3D 263-d features: layout, exact recovery of the original joints on realistic motion
(turning through every heading, a foot-contact hold), invariances, torch path, bad input."""
import numpy as np
import pytest
import torch

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.motion import representation as rep
from dancemosaic_core.motion.rotations import (
    axis_angle_to_quat,
    qinv,
    qmul,
    qrot,
    rot6d_to_matrix,
)
from dancemosaic_core.motion.skeleton import (
    FEATURE_DIM,
    KINEMATIC_CHAINS,
    MOTION_FPS,
    NUM_JOINTS,
    PARENTS,
    RAW_OFFSETS,
    REST_OFFSETS,
    bone_lengths,
)

HOLD = (30, 45)


def dance(frames=120, seed=0, turns=1.5, hold=HOLD, offsets=REST_OFFSETS):
    """Forward kinematics of smooth random joint rotations on the SMPL rest offsets, with a
    wandering, bobbing root that turns `turns` times, and the whole body frozen during `hold` (when the clip is long enough)."""
    rng = np.random.default_rng(seed)
    s = np.arange(frames) / MOTION_FPS
    if frames > hold[1]:
        s[hold[0]:hold[1]] = s[hold[0]]
        s[hold[1]:] -= s[hold[1]] - s[hold[0]]
    freq = rng.uniform(0.3, 1.2, size=(NUM_JOINTS, 3))
    phase = rng.uniform(0, 2 * np.pi, size=(NUM_JOINTS, 3))
    amp = rng.uniform(0.1, 0.6, size=(NUM_JOINTS, 3))
    local = axis_angle_to_quat(amp * np.sin(2 * np.pi * freq * s[:, None, None] + phase))
    yaw = 2 * np.pi * turns * s / s[-1] + rng.uniform(-np.pi, np.pi)
    heading = np.stack([np.cos(yaw / 2), 0 * yaw, np.sin(yaw / 2), 0 * yaw], -1)
    local[:, 0] = qmul(heading, axis_angle_to_quat(0.2 * amp[0] * np.sin(2 * np.pi * freq[0] * s[:, None] + phase[0])))
    world = np.zeros((frames, NUM_JOINTS, 4))
    joints = np.zeros((frames, NUM_JOINTS, 3))
    world[:, 0] = local[:, 0]
    joints[:, 0] = np.stack([1.5 * np.sin(0.8 * s) + 0.3 * s + 2.0, 0.95 + 0.05 * np.sin(3 * s), np.cos(0.6 * s) - 1.0], -1)
    for j in range(1, NUM_JOINTS):
        p = PARENTS[j]
        world[:, j] = qmul(world[:, p], local[:, j])
        joints[:, j] = joints[:, p] + qrot(world[:, p], offsets[j])
    return joints


def test_layout_and_slices():
    slices = rep.feature_slices()
    assert list(slices) == ["root_rot_vel", "root_lin_vel", "root_y", "ric", "rot6d", "local_vel", "foot_contact"]
    sizes = [s.stop - s.start for s in slices.values()]
    assert sizes == [1, 2, 1, (NUM_JOINTS - 1) * 3, (NUM_JOINTS - 1) * 6, NUM_JOINTS * 3, 4]
    starts = [s.start for s in slices.values()]
    assert starts == list(np.cumsum([0] + sizes[:-1])) and sum(sizes) == FEATURE_DIM == 263
    f = rep.joints_to_features(dance(40))
    assert f.shape == (39, FEATURE_DIM) and f.dtype == np.float32


def test_round_trip_returns_original_joints():
    joints = dance()
    features, frame = rep.joints_to_features(joints, return_frame=True)
    recovered = rep.features_to_joints(features)
    assert recovered.shape == (len(joints) - 1, NUM_JOINTS, 3)
    assert np.abs(frame.invert(recovered) - joints[:-1]).max() < 1e-4
    # the recovered motion stands on the floor, starting at the XZ origin
    assert abs(recovered[..., 1].min()) < 1e-4 and np.abs(recovered[0, 0, [0, 2]]).max() < 1e-6


def test_round_trip_covers_heading_wrap_and_contacts():
    """The motion must turn the root heading through -Z (where the reference's arcsin rotation
    velocity flips sign) and hold still (contacts) for the round trip above to mean something."""
    joints = dance()
    positions, _ = rep.canonicalize(joints)
    heading = rep.inverse_kinematics(positions, smooth_forward=True)[:, 0]
    assert (qmul(heading[1:], qinv(heading[:-1]))[:, 0] < 0).any()
    contacts = rep.joints_to_features(joints)[:, rep.FOOT_CONTACT]
    assert (contacts[HOLD[0]:HOLD[1] - 1] == 1).all()
    assert contacts.min() == 0 and set(np.unique(contacts)) == {0.0, 1.0}


def test_features_ignore_start_position_and_heading():
    joints = dance(60, seed=3)
    turn = np.array([np.cos(0.45), 0, np.sin(0.45), 0])       # 0.9 rad about +y
    moved = qrot(turn, joints) + np.array([3.0, 0.2, -7.0])
    f1, f2 = rep.joints_to_features(joints), rep.joints_to_features(moved)
    np.testing.assert_allclose(f1, f2, atol=2e-5)
    _, frame = rep.joints_to_features(moved, return_frame=True)
    assert np.abs(frame.invert(rep.features_to_joints(f2)) - moved[:-1]).max() < 1e-4


def test_canonicalize_floor_origin_facing():
    joints = dance(30, seed=4)
    canon, frame = rep.canonicalize(joints)
    assert abs(canon[..., 1].min()) < 1e-12 and np.abs(canon[0, 0, [0, 2]]).max() < 1e-12
    r_hip, l_hip, r_sdr, l_sdr = (2, 1, 17, 16)
    across = canon[0, r_hip] - canon[0, l_hip] + canon[0, r_sdr] - canon[0, l_sdr]
    forward = np.cross([0, 1, 0], across)
    np.testing.assert_allclose(forward / np.linalg.norm(forward), [0, 0, 1], atol=1e-12)
    np.testing.assert_allclose(frame.invert(canon), joints, atol=1e-12)


def test_rot6d_block_matches_bone_directions():
    """The 6-D rotations (IK) must reproduce every bone's direction up to a heading: its
    vertical component equals that of the ric bone, and angles between bones agree."""
    joints = dance(40, seed=5)
    f = rep.joints_to_features(joints).astype(np.float64)
    mats = rot6d_to_matrix(f[:, rep.ROT6D].reshape(len(f), NUM_JOINTS - 1, 6))
    ric = np.concatenate([np.zeros((len(f), 1, 3)), f[:, rep.RIC].reshape(len(f), NUM_JOINTS - 1, 3)], axis=1)
    ric[:, 0, 1] = f[:, rep.ROOT_Y.start]
    from_rot = np.zeros((len(f), NUM_JOINTS, 3))
    from_ric = np.zeros((len(f), NUM_JOINTS, 3))
    for chain in KINEMATIC_CHAINS:
        world = np.broadcast_to(np.eye(3), (len(f), 3, 3))
        for parent, child in zip(chain[:-1], chain[1:]):
            world = world @ mats[:, child - 1]
            from_rot[:, child] = world @ RAW_OFFSETS[child]
            bone = ric[:, child] - ric[:, parent]
            from_ric[:, child] = bone / np.linalg.norm(bone, axis=-1, keepdims=True)
    np.testing.assert_allclose(from_rot[:, 1:, 1], from_ric[:, 1:, 1], atol=1e-5)
    gram_rot = np.einsum("tid,tjd->tij", from_rot[:, 1:], from_rot[:, 1:])
    gram_ric = np.einsum("tid,tjd->tij", from_ric[:, 1:], from_ric[:, 1:])
    np.testing.assert_allclose(gram_rot, gram_ric, atol=1e-5)


def test_torch_recovery_batched_differentiable_equals_numpy():
    f = rep.joints_to_features(dance(30, seed=6))
    expect = rep.features_to_joints(f)
    x = torch.tensor(np.stack([f, f[::-1].copy()]), dtype=torch.float64, requires_grad=True)
    out = rep.features_to_joints(x)
    assert out.shape == (2, len(f), NUM_JOINTS, 3) and out.dtype == torch.float64
    np.testing.assert_allclose(out[0].detach().numpy(), expect, atol=1e-5)
    np.testing.assert_allclose(out[1].detach().numpy(), rep.features_to_joints(f[::-1].copy()), atol=1e-5)
    # the gradient agrees with a finite difference along a random direction
    direction = torch.randn_like(x)
    weights = torch.randn_like(out)
    (out * weights).sum().backward()
    eps = 1e-6
    with torch.no_grad():
        numeric = ((rep.features_to_joints(x + eps * direction) - rep.features_to_joints(x - eps * direction))
                   * weights).sum() / (2 * eps)
    assert torch.isclose((x.grad * direction).sum(), numeric, rtol=1e-5)
    f32 = rep.features_to_joints(torch.from_numpy(f))
    assert f32.dtype == torch.float32


def test_uniform_skeleton_sets_bone_lengths_keeps_directions():
    joints = dance(30, seed=7, offsets=REST_OFFSETS * 1.15)
    target = bone_lengths(dance(2, seed=8)[0]) * 0.9
    out = rep.uniform_skeleton(joints, target)
    np.testing.assert_allclose(bone_lengths(out), np.broadcast_to(target, (30, NUM_JOINTS - 1)), atol=1e-9)
    parents = list(PARENTS[1:])
    unit = lambda j: (j[:, 1:] - j[:, parents]) / np.linalg.norm(j[:, 1:] - j[:, parents], axis=-1, keepdims=True)
    np.testing.assert_allclose(unit(out), unit(joints), atol=1e-9)
    features, frame = rep.joints_to_features(joints, uniform=True, target_lengths=target, return_frame=True)
    assert np.abs(frame.invert(rep.features_to_joints(features)) - out[:-1]).max() < 1e-4


def test_undefined_facing_frames_do_not_break_features():
    """Frames whose hip and shoulder joints are stacked vertically (head spins, cartwheels) have
    no facing: the reference gives NaN; here they keep a neighbour's facing (frame 0 included)
    and the round trip stays exact."""
    joints = dance(40, seed=9)
    for t in (0, 17, 18):
        joints[t, [1, 2, 16, 17], 0] = joints[t, 0, 0]
        joints[t, [1, 2, 16, 17], 2] = joints[t, 0, 2]
    features, frame = rep.joints_to_features(joints, return_frame=True)
    assert np.isfinite(features).all()
    assert np.abs(frame.invert(rep.features_to_joints(features)) - joints[:-1]).max() < 1e-4
    with pytest.raises(DanceMosaicError, match="facing direction"):
        rep.joints_to_features(np.zeros((5, NUM_JOINTS, 3)))


def test_bad_input_is_a_clear_error():
    good = dance(10)
    with pytest.raises(DanceMosaicError, match=r"\(frames, 22, 3\)"):
        rep.joints_to_features(good[:, :21])
    bad = good.copy()
    bad[4, 3, 0] = np.nan
    with pytest.raises(DanceMosaicError, match="frame 4"):
        rep.joints_to_features(bad)
    with pytest.raises(DanceMosaicError, match="at least 2 frames"):
        rep.joints_to_features(good[:1])
    with pytest.raises(DanceMosaicError, match="263"):
        rep.features_to_joints(np.zeros((5, 251)))
    with pytest.raises(DanceMosaicError, match="bone lengths"):
        rep.uniform_skeleton(good, np.ones(20))
