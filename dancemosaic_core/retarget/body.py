"""Human body geometry shared by the retargeter (NumPy) and the joint-limit proxy (torch).

Axes: the motion is y-up with the body facing +z and its left side +x (skeleton.py); robots are
z-up facing +x with their left side +y (REP 103). `to_robot_axes` is the proper rotation that
maps one onto the other. Body frames are rotation matrices whose columns are the body's
forward, left and up axes in robot axes; every function here works on NumPy arrays and torch
tensors alike, with any leading batch shape.
"""
from __future__ import annotations

import sys

import numpy as np

from dancemosaic_core.motion.skeleton import JOINT_INDEX, REST_OFFSETS, rest_pose

J = JOINT_INDEX


def to_robot_axes(points):
    """(..., 3) y-up human axes -> z-up robot axes: (x, y, z) -> (z, x, y)."""
    return points[..., [2, 0, 1]]


def to_human_axes(points):
    """Inverse of to_robot_axes."""
    return points[..., [1, 2, 0]]


def _xp(a):
    return np if isinstance(a, np.ndarray) else sys.modules["torch"]


def normalize(v, eps: float = 1e-12):
    return v / ((v * v).sum(-1)[..., None] + eps) ** 0.5


def cross(a, b):
    xp = _xp(a)
    return xp.stack([a[..., 1] * b[..., 2] - a[..., 2] * b[..., 1],
                     a[..., 2] * b[..., 0] - a[..., 0] * b[..., 2],
                     a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]], -1)


def dot(a, b):
    return (a * b).sum(-1)


def _frame(x, y, z):
    return _xp(x).stack([x, y, z], -1)


def _lateral_up_frame(lateral, up):
    """Frame whose left axis is `lateral` and whose up axis is `up` made orthogonal to it."""
    y = normalize(lateral)
    z = normalize(up - dot(up, y)[..., None] * y)
    return _frame(cross(y, z), y, z)


def _foot_frame(ankle, toe, knee):
    """Forward along the foot, left across it (perpendicular to foot and shank)."""
    x = normalize(toe - ankle)
    y = normalize(cross(knee - ankle, x))
    return _frame(x, y, cross(x, y))


def body_frames(p) -> dict:
    """Body frames (..., 3, 3) of pelvis, torso and feet from joints (..., 22, 3) in robot axes."""
    return {
        "pelvis": _lateral_up_frame(p[..., J["left_hip"], :] - p[..., J["right_hip"], :],
                                    p[..., J["spine1"], :] - p[..., J["pelvis"], :]),
        "torso": _lateral_up_frame(p[..., J["left_shoulder"], :] - p[..., J["right_shoulder"], :],
                                   p[..., J["neck"], :] - p[..., J["spine3"], :]),
        "left_foot": _foot_frame(p[..., J["left_ankle"], :], p[..., J["left_foot"], :], p[..., J["left_knee"], :]),
        "right_foot": _foot_frame(p[..., J["right_ankle"], :], p[..., J["right_foot"], :], p[..., J["right_knee"], :]),
    }


def rest_joints_robot_axes() -> np.ndarray:
    """SMPL rest pose (22, 3) in robot axes, feet on z = 0."""
    p = to_robot_axes(rest_pose())
    return p - np.array([0.0, 0.0, p[[J["left_foot"], J["right_foot"], J["left_ankle"], J["right_ankle"]], 2].min()])


def rest_offset(joint: str) -> np.ndarray:
    """The SMPL rest offset of a joint from its parent, in robot axes."""
    return to_robot_axes(REST_OFFSETS[J[joint]])


# Joints the robot layout places from rest offsets when the config maps no robot point to them:
# spine1 turns with the pelvis, the others with the torso. Configs leave spine1 unmapped so the
# robot's pelvis frame (hips + spine1) is tilted exactly like the SMPL rest pose's.
UNMAPPED_BODY = {name: ("pelvis" if name == "spine1" else "torso") for name in
                 ("spine1", "spine2", "spine3", "neck", "left_collar", "right_collar", "head")}
