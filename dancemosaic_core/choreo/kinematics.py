"""Rotations, forward kinematics and analytic leg IK on the 22-joint rest skeleton.

A pose is a local rotation per joint (applied in the parent's frame, on the rest offsets of
skeleton.REST_OFFSETS) plus the pelvis position; joint positions come from forward kinematics,
so every bone keeps its rest length exactly. The rest pose has identity orientation everywhere,
so local axes are body axes at rest: x = the body's left, y = up, z = forward.

Legs are placed by two-bone IK (hip, knee) to put each ankle where the choreography plants the
foot; the knee is a hinge about the thigh's x axis and points over the toes.
"""
from __future__ import annotations

import numpy as np

from dancemosaic_core.motion.skeleton import (
    JOINT_INDEX,
    NUM_JOINTS,
    PARENTS,
    REST_OFFSETS,
)

MIRROR = np.diag([-1.0, 1.0, 1.0])       # reflection x -> -x: left-side rotations -> right side
MIN_KNEE_BEND = np.deg2rad(3.0)          # the IK never straightens a knee fully (a singularity)

LEGS = {
    "L": (JOINT_INDEX["left_hip"], JOINT_INDEX["left_knee"], JOINT_INDEX["left_ankle"], JOINT_INDEX["left_foot"]),
    "R": (JOINT_INDEX["right_hip"], JOINT_INDEX["right_knee"], JOINT_INDEX["right_ankle"], JOINT_INDEX["right_foot"]),
}


def _elementary(angle, axis: int) -> np.ndarray:
    a = np.asarray(angle, dtype=np.float64)
    c, s = np.cos(a), np.sin(a)
    out = np.zeros(a.shape + (3, 3))
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    out[..., axis, axis] = 1.0
    out[..., i, i] = c
    out[..., j, j] = c
    out[..., i, j] = -s
    out[..., j, i] = s
    return out


def rot_x(angle) -> np.ndarray:
    return _elementary(angle, 0)


def rot_y(angle) -> np.ndarray:
    return _elementary(angle, 1)


def rot_z(angle) -> np.ndarray:
    return _elementary(angle, 2)


def axis_angle(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rodrigues: rotation matrices (..., 3, 3) about unit axes (..., 3) by angles (...)."""
    k = np.asarray(axis, dtype=np.float64)
    a = np.asarray(angle, dtype=np.float64)[..., None, None]
    kx = np.zeros(k.shape[:-1] + (3, 3))
    kx[..., 0, 1], kx[..., 0, 2] = -k[..., 2], k[..., 1]
    kx[..., 1, 0], kx[..., 1, 2] = k[..., 2], -k[..., 0]
    kx[..., 2, 0], kx[..., 2, 1] = -k[..., 1], k[..., 0]
    return np.eye(3) + np.sin(a) * kx + (1.0 - np.cos(a)) * (kx @ kx)


def rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation taking unit vectors a to b (..., 3)."""
    cross = np.cross(a, b)
    sin = np.linalg.norm(cross, axis=-1)
    cos = np.clip((a * b).sum(-1), -1.0, 1.0)
    axis = np.where(sin[..., None] > 1e-9, cross / np.maximum(sin, 1e-12)[..., None], [1.0, 0.0, 0.0])
    return axis_angle(axis, np.arctan2(sin, cos))


def mirror(rotations: np.ndarray) -> np.ndarray:
    """A left-side rotation reflected onto the right side of the body."""
    return MIRROR @ rotations @ MIRROR


def matvec(m: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.einsum("...ij,...j->...i", m, v)


def forward_kinematics(local: np.ndarray, root: np.ndarray) -> np.ndarray:
    """Joint positions (T, 22, 3) of local rotations (T, 22, 3, 3) and pelvis positions (T, 3)."""
    glob = np.empty_like(local)
    pos = np.empty(local.shape[:-2] + (3,))
    glob[:, 0], pos[:, 0] = local[:, 0], root
    for j in range(1, NUM_JOINTS):
        p = PARENTS[j]
        glob[:, j] = glob[:, p] @ local[:, j]
        pos[:, j] = pos[:, p] + matvec(glob[:, p], REST_OFFSETS[j])
    return pos


def leg_reach(side: str) -> float:
    """Hip-to-ankle distance with the knee at MIN_KNEE_BEND (the IK's longest leg)."""
    _, knee, ankle, _ = LEGS[side]
    return float(np.linalg.norm(REST_OFFSETS[knee] + matvec(rot_x(MIN_KNEE_BEND), REST_OFFSETS[ankle])))


def _knee_angle(o_knee: np.ndarray, o_ankle: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """Knee flexion (about x) that makes |o_knee + Rx(angle) o_ankle| = dist, clamped to the
    reachable range: |.|^2 = P + Q cos + S sin = P + M cos(angle - phi)."""
    kx, ky, kz = o_knee
    ax, ay, az = o_ankle
    p = kx * kx + ky * ky + kz * kz + ax * ax + ay * ay + az * az + 2 * kx * ax
    q, s = 2 * (ky * ay + kz * az), 2 * (kz * ay - ky * az)
    m, phi = np.hypot(q, s), np.arctan2(s, q)
    cos = np.clip((dist ** 2 - p) / m, -0.99, 1.0)
    return np.maximum(phi + np.arccos(cos), MIN_KNEE_BEND)


def leg_ik(side: str, hip_pos: np.ndarray, pelvis_rot: np.ndarray, ankle_target: np.ndarray,
           foot_rot: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Local rotations (hip, knee, ankle), each (T, 3, 3), that put the ankle at ankle_target
    (T, 3) with the foot's global orientation foot_rot (T, 3, 3); the knee points the way the
    foot does. An unreachable target leaves the leg as long as it goes toward it."""
    _, knee, ankle, _ = LEGS[side]
    o_knee, o_ankle = REST_OFFSETS[knee], REST_OFFSETS[ankle]
    to_ankle = matvec(np.swapaxes(pelvis_rot, -1, -2), ankle_target - hip_pos)   # pelvis frame
    dist = np.linalg.norm(to_ankle, axis=-1)
    knee_rot = rot_x(_knee_angle(o_knee, o_ankle, dist))
    leg = o_knee + matvec(knee_rot, o_ankle)
    want = to_ankle / np.maximum(dist, 1e-9)[..., None]
    align = rotation_between(leg / np.linalg.norm(leg, axis=-1, keepdims=True), want)
    # twist about the hip-ankle line so the hip's forward axis (and the knee) faces the toes
    fwd_now = align[..., :, 2]
    fwd_want = matvec(np.swapaxes(pelvis_rot, -1, -2), foot_rot[..., :, 2])
    fwd_now = fwd_now - (fwd_now * want).sum(-1, keepdims=True) * want
    fwd_want = fwd_want - (fwd_want * want).sum(-1, keepdims=True) * want
    twist = np.arctan2((np.cross(fwd_now, fwd_want) * want).sum(-1), (fwd_now * fwd_want).sum(-1))
    # a leg pointing along the foot's forward (a high kick) has no twist to match: fade it out
    weight = np.clip((np.linalg.norm(fwd_want, axis=-1) - 0.1) / 0.3, 0.0, 1.0)
    hip_rot = axis_angle(want, weight * twist) @ align
    ankle_rot = np.swapaxes(pelvis_rot @ hip_rot @ knee_rot, -1, -2) @ foot_rot
    return hip_rot, knee_rot, ankle_rot
