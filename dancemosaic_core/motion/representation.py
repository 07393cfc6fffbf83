"""HumanML3D's 263-d motion features from 22-joint positions, and joint recovery from them.

Follows the reference recipe (Guo et al. 2022, HumanML3D `motion_representation.ipynb`
`process_file`; identical in MoMask `utils/motion_process.py`), per frame t of T input frames:

    root rotation velocity (1)  root linear velocity XZ (2)  root height (1)
    ric: root-relative, heading-free joint positions 1..21 (21*3)
    rot: 6-D rotations of joints 1..21 from IK (21*6)
    local joint velocities (22*3)   foot contacts l_ankle, l_toe, r_ankle, r_toe (4)

giving (T-1, 263) features. Steps: (optional) scale to a target skeleton, put on the floor, root
XZ to the origin, face +Z at frame 0, foot contacts, IK to per-joint quaternions with a
Gaussian-smoothed facing direction, then the feature groups. Recovery (`recover_from_ric` in the
reference) integrates the root rotation and velocity and un-rotates ric; it uses neither the
6-D rotations nor the local velocities.

Frame of the recovered joints: the features do not see where the dancer stood or which way it
faced at the start, so `features_to_joints` returns the motion on the floor with the root XZ
at the origin at frame 0, turned so that the *smoothed* facing direction of frame 0 is +Z. The
`CanonicalFrame` returned by `joints_to_features(..., return_frame=True)` is that rigid
transform: `frame.invert(features_to_joints(f))` gives back the original joints[:-1].

Deliberate differences from the reference (each changes nothing where the reference is right):
- the rotation velocity is computed from the relative root quaternion made w >= 0 first; the
  reference takes arcsin of its y part as is, which flips the sign of the turn rate on the one
  frame where a turning dancer's heading crosses -Z;
- `qbetween` of opposite directions is a half turn instead of NaN;
- `uniform_skeleton` (the reference's first step) is optional and off by default: it changes
  bone lengths, so with it no round trip returns the input joints.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.ndimage import gaussian_filter1d

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.motion.io import check_joints
from dancemosaic_core.motion.rotations import qbetween, qinv, qmul, qrot, quat_to_rot6d
from dancemosaic_core.motion.skeleton import (
    FACE_JOINTS,
    FEATURE_DIM,
    KINEMATIC_CHAINS,
    LEFT_FOOT_JOINTS,
    NUM_JOINTS,
    PARENTS,
    RAW_OFFSETS,
    REST_OFFSETS,
    RIGHT_FOOT_JOINTS,
)

# Recipe constants of the reference `process_file` / `Skeleton.inverse_kinematics_np`.
FOOT_CONTACT_THRESHOLD = 0.002   # squared per-frame displacement (m^2) below which a foot joint is in contact
FORWARD_SMOOTH_SIGMA = 20        # frames; Gaussian smoothing of the facing direction in the IK
MIN_FACING_NORM = 1e-6          # m; shorter horizontal hip+shoulder lines leave the facing undefined
LEG_BONES = (5, 8)               # right shin and right foot bones set the `uniform_skeleton` scale

# --- feature layout ---------------------------------------------------------------------------
ROOT_ROT_VEL = slice(0, 1)
ROOT_LIN_VEL = slice(1, 3)
ROOT_Y = slice(3, 4)
RIC = slice(4, 4 + (NUM_JOINTS - 1) * 3)
ROT6D = slice(RIC.stop, RIC.stop + (NUM_JOINTS - 1) * 6)
LOCAL_VEL = slice(ROT6D.stop, ROT6D.stop + NUM_JOINTS * 3)
FOOT_CONTACT = slice(LOCAL_VEL.stop, LOCAL_VEL.stop + 4)
assert FOOT_CONTACT.stop == FEATURE_DIM

_SLICES = {"root_rot_vel": ROOT_ROT_VEL, "root_lin_vel": ROOT_LIN_VEL, "root_y": ROOT_Y, "ric": RIC,
           "rot6d": ROT6D, "local_vel": LOCAL_VEL, "foot_contact": FOOT_CONTACT}


def feature_slices() -> dict[str, slice]:
    """Name -> slice of each feature group in the 263-d vector, in order."""
    return dict(_SLICES)


def _as_float64_joints(joints) -> np.ndarray:
    """Validated (T, 22, 3) joints in float64 (check_joints would round to float32)."""
    check_joints(joints)
    return np.asarray(joints, dtype=np.float64)


# --- the canonical frame ----------------------------------------------------------------------
def _yaw_quat(yaw):
    """Quaternion of a rotation by `yaw` radians about +y."""
    yaw = np.asarray(yaw, dtype=np.float64)
    zero = np.zeros_like(yaw)
    return np.stack([np.cos(yaw / 2), zero, np.sin(yaw / 2), zero], axis=-1)


@dataclass(frozen=True)
class CanonicalFrame:
    """Rigid y-up transform x -> R_y(yaw) (x + offset) from original to canonical coordinates."""
    yaw: float
    offset: np.ndarray   # (3,)

    def apply(self, joints: np.ndarray) -> np.ndarray:
        return qrot(_yaw_quat(self.yaw), np.asarray(joints, dtype=np.float64) + self.offset)

    def invert(self, joints: np.ndarray) -> np.ndarray:
        return qrot(_yaw_quat(-self.yaw), np.asarray(joints, dtype=np.float64)) - self.offset


def _facing(joints: np.ndarray, hips_flipped: bool) -> np.ndarray:
    """Horizontal unit facing direction per frame from the hip and shoulder lines.

    The reference computes it twice with a difference: `process_file` uses the hip line
    right - left, while `Skeleton.inverse_kinematics_np` unpacks FACE_JOINTS as (l_hip, r_hip,
    ...) and so uses left - right; the shoulders (wider) dominate both. `hips_flipped` reproduces
    the IK's version, which defines the root rotation inside the features."""
    r_hip, l_hip, r_sdr, l_sdr = FACE_JOINTS
    hips = joints[..., r_hip, :] - joints[..., l_hip, :]
    across = (-hips if hips_flipped else hips) + joints[..., r_sdr, :] - joints[..., l_sdr, :]
    forward = np.cross(np.array([0.0, 1.0, 0.0]), across)
    norm = np.linalg.norm(forward, axis=-1)
    valid = norm > MIN_FACING_NORM
    if not valid.any():
        raise DanceMosaicError("cannot find the facing direction in any frame: the hip and shoulder "
                               "lines are vertical or zero; check the joint order (SMPL 22, y up)")
    if not valid.all():
        # Vertical shoulder lines happen (head spins, cartwheels), where the reference gives NaN:
        # keep the last defined facing, or the first one for leading frames.
        index = np.maximum.accumulate(np.where(valid, np.arange(len(valid)), -1))
        index[index < 0] = np.flatnonzero(valid)[0]
        forward, norm = forward[index], norm[index]
    return forward / norm[:, None]


def canonicalize(joints: np.ndarray) -> tuple[np.ndarray, CanonicalFrame]:
    """Put the motion on the floor (lowest joint of the clip at y=0), root XZ of frame 0 at the
    origin, and turn it so frame 0 faces +Z. Returns (canonical joints float64, frame)."""
    joints = _as_float64_joints(joints)
    floor = joints[..., 1].min()
    offset = np.array([-joints[0, 0, 0], -floor, -joints[0, 0, 2]])
    forward = _facing(joints, hips_flipped=False)[0]
    yaw = -np.arctan2(forward[0], forward[2])
    frame = CanonicalFrame(yaw=float(yaw), offset=offset)
    return frame.apply(joints), frame


# --- inverse kinematics -----------------------------------------------------------------------
def inverse_kinematics(joints: np.ndarray, smooth_forward: bool = False) -> np.ndarray:
    """Per-joint local quaternions (T, 22, 4) whose FK over RAW_OFFSETS directions gives every bone
    its direction (twist is not observable from positions and is left at the shortest arc).
    Joint 0 holds the root (heading) rotation that maps the facing direction to +Z."""
    forward = _facing(joints, hips_flipped=True)
    if smooth_forward:
        forward = gaussian_filter1d(forward, FORWARD_SMOOTH_SIGMA, axis=0, mode="nearest")
        forward = forward / np.linalg.norm(forward, axis=-1, keepdims=True)
    root = qbetween(forward, np.array([0.0, 0.0, 1.0]))
    quats = np.zeros(joints.shape[:-1] + (4,))
    quats[:, 0] = root
    for chain in KINEMATIC_CHAINS:
        world = root
        for parent, child in zip(chain[:-1], chain[1:]):
            bone = joints[:, child] - joints[:, parent]
            global_rot = qbetween(RAW_OFFSETS[child], bone)
            quats[:, child] = qmul(qinv(world), global_rot)
            world = qmul(world, quats[:, child])
    return quats


def forward_kinematics(quats: np.ndarray, root_pos: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Inverse of `inverse_kinematics` for given bone offsets (22, 3) along RAW_OFFSETS."""
    joints = np.zeros(quats.shape[:-1] + (3,))
    joints[:, 0] = root_pos
    for chain in KINEMATIC_CHAINS:
        world = quats[:, 0]
        for parent, child in zip(chain[:-1], chain[1:]):
            world = qmul(world, quats[:, child])
            joints[:, child] = qrot(world, offsets[child]) + joints[:, parent]
    return joints


def uniform_skeleton(joints: np.ndarray, target_lengths: np.ndarray | None = None) -> np.ndarray:
    """Re-target the motion to a skeleton with `target_lengths` (21 bone lengths, bone j-1 ends at
    joint j; default: the SMPL neutral body of skeleton.REST_OFFSETS), keeping every bone
    direction and scaling the root trajectory by the leg-length ratio (reference
    `uniform_skeleton`; its target is HumanML3D subject 000021, which is not available here)."""
    joints = _as_float64_joints(joints)
    if target_lengths is None:
        target_lengths = np.linalg.norm(REST_OFFSETS[1:], axis=-1)
    target_lengths = np.asarray(target_lengths, dtype=np.float64)
    if target_lengths.shape != (NUM_JOINTS - 1,):
        raise DanceMosaicError(f"target bone lengths have shape {target_lengths.shape}; expected "
                               f"({NUM_JOINTS - 1},) (bone j-1 ends at joint j)")
    parents = np.array(PARENTS[1:])
    src_lengths = np.linalg.norm(joints[0, 1:] - joints[0, parents], axis=-1)
    legs = [b - 1 for b in LEG_BONES]
    scale = target_lengths[legs].sum() / src_lengths[legs].sum()
    offsets = RAW_OFFSETS * np.concatenate([[0.0], target_lengths])[:, None]
    quats = inverse_kinematics(joints)
    return forward_kinematics(quats, joints[:, 0] * scale, offsets)


# --- joints -> features -------------------------------------------------------------------------
def foot_contacts(joints: np.ndarray, threshold: float = FOOT_CONTACT_THRESHOLD) -> np.ndarray:
    """(T-1, 4) float32: 1 where a foot joint (l_ankle, l_toe, r_ankle, r_toe) moves less than
    sqrt(threshold) metres to the next frame."""
    feet = list(LEFT_FOOT_JOINTS + RIGHT_FOOT_JOINTS)
    disp2 = ((joints[1:, feet] - joints[:-1, feet]) ** 2).sum(-1)
    return (disp2 < threshold).astype(np.float32)


def joints_to_features(joints: np.ndarray, *, feet_threshold: float = FOOT_CONTACT_THRESHOLD,
                       uniform: bool = False, target_lengths: np.ndarray | None = None,
                       return_frame: bool = False):
    """(T, 22, 3) y-up metres -> (T-1, 263) float32 HumanML3D features (at the input's frame rate;
    HumanML3D uses skeleton.MOTION_FPS = 20, and the contact threshold assumes it).

    With `return_frame=True` also returns the `CanonicalFrame` mapping the input joints to the
    frame of `features_to_joints` (see the module docstring). With `uniform=True` the motion is
    first re-targeted by `uniform_skeleton` and the frame refers to the re-targeted joints."""
    joints = _as_float64_joints(joints)
    if len(joints) < 2:
        raise DanceMosaicError(f"need at least 2 frames to compute motion features, got {len(joints)}")
    if uniform:
        joints = uniform_skeleton(joints, target_lengths)
    positions, frame = canonicalize(joints)
    contacts = foot_contacts(positions, feet_threshold)

    quats = inverse_kinematics(positions, smooth_forward=True)
    rot6d = quat_to_rot6d(quats[:, 1:], layout="columns")      # HumanML3D's cont6d: 2 columns
    r_rot = quats[:, 0]

    root_vel = qrot(r_rot[1:], positions[1:, 0] - positions[:-1, 0])
    r_vel = qmul(r_rot[1:], qinv(r_rot[:-1]))
    r_vel = np.where(r_vel[:, :1] < 0, -r_vel, r_vel)
    # Half-angle of the heading change, as the reference's arcsin(q_y); recovery integrates it.
    rot_vel = np.arctan2(r_vel[:, 2], r_vel[:, 0])

    ric = positions.copy()
    ric[..., [0, 2]] -= positions[:, :1, [0, 2]]
    ric = qrot(r_rot[:, None], ric)
    # The reference rotates frame t's velocity by frame t's heading here (but by t+1's for the root).
    local_vel = qrot(r_rot[:-1, None], positions[1:] - positions[:-1])

    features = np.concatenate([
        rot_vel[:, None], root_vel[:, [0, 2]], positions[:-1, 0, 1:2],
        ric[:-1, 1:].reshape(len(ric) - 1, -1),
        rot6d[:-1].reshape(len(rot6d) - 1, -1),
        local_vel.reshape(len(local_vel), -1),
        contacts,
    ], axis=-1).astype(np.float32)
    if not return_frame:
        return features
    # Recovery starts from heading 0 where the features had r_rot[0]: it returns the canonical
    # motion turned by r_rot[0] (a yaw of 2*atan2(q_y, q_w)).
    yaw0 = 2 * np.arctan2(r_rot[0, 2], r_rot[0, 0])
    return features, CanonicalFrame(yaw=frame.yaw + float(yaw0), offset=frame.offset)


# --- features -> joints -------------------------------------------------------------------------
def _unturn(angle: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """qrot(qinv(q), v) for the heading quaternions q = (cos a, 0, sin a, 0) of `angle` a
    (..., T), v (..., T, [J,] 3): v turned by -2a about y, as four products instead of the
    general quaternion rotation (ITTO differentiates through this on every step)."""
    c, s = torch.cos(2 * angle), torch.sin(2 * angle)
    if v.ndim == angle.ndim + 2:                       # (..., T, J, 3): one heading per frame
        c, s = c[..., None], s[..., None]
    x, y, z = v.unbind(-1)
    return torch.stack([c * x - s * z, y, s * x + c * z], dim=-1)


def _recover_root(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Heading angles a (..., T) (the heading quaternion is (cos a, 0, sin a, 0)) and root
    positions (..., T, 3) integrated from the root rotation velocity and the root-frame linear
    velocity (reference `recover_root_rot_pos`)."""
    rot_vel = features[..., ROOT_ROT_VEL.start]
    angle = torch.cumsum(torch.cat([torch.zeros_like(rot_vel[..., :1]), rot_vel[..., :-1]], dim=-1), dim=-1)
    lin = features[..., :-1, ROOT_LIN_VEL]
    step = torch.stack([lin[..., 0], torch.zeros_like(lin[..., 0]), lin[..., 1]], dim=-1)
    step = torch.cat([torch.zeros_like(step[..., :1, :]), step], dim=-2)
    root = torch.cumsum(_unturn(angle, step), dim=-2)
    root = torch.stack([root[..., 0], features[..., ROOT_Y.start], root[..., 2]], dim=-1)
    return angle, root


def features_to_joints(features):
    """(..., T, 263) -> (..., T, 22, 3) joint positions (reference `recover_from_ric`).

    Torch input stays torch (same dtype and device, differentiable); numpy input is computed in
    float64 and returned as float32."""
    is_numpy = not isinstance(features, torch.Tensor)
    x = torch.from_numpy(np.asarray(features, dtype=np.float64)) if is_numpy else features
    if x.ndim < 2 or x.shape[-1] != FEATURE_DIM:
        raise DanceMosaicError(f"motion features have shape {tuple(x.shape)}; expected (..., frames, "
                               f"{FEATURE_DIM}) HumanML3D features (denormalise them first)")
    angle, root = _recover_root(x)
    ric = _unturn(angle, x[..., RIC].reshape(x.shape[:-1] + (NUM_JOINTS - 1, 3)))
    ric = ric + torch.stack([root[..., 0], torch.zeros_like(root[..., 0]), root[..., 2]], dim=-1)[..., None, :]
    joints = torch.cat([root[..., None, :], ric], dim=-2)
    return joints.numpy().astype(np.float32) if is_numpy else joints
