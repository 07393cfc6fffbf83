"""Channels -> joint positions: local rotations on the rest skeleton, leg IK, forward kinematics.

Feet come first: each toe is placed where its channels say (height = lift, so a planted toe
sits on the floor, y = 0) with the foot's yaw and heel raise, which fixes the ankle. The pelvis
follows the feet (above their midpoint, plus sway and lean), as high as the style's knee bend
allows but never so high that a planted foot is out of reach; the legs then reach their
ankles by IK. Chest and head counter-rotate the pelvis tilt so the upper body stays upright.
"""
from __future__ import annotations

import numpy as np

from dancemosaic_core.choreo.genres import GenreStyle
from dancemosaic_core.choreo.kinematics import (
    LEGS,
    forward_kinematics,
    leg_ik,
    leg_reach,
    matvec,
    mirror,
    rot_x,
    rot_y,
    rot_z,
)
from dancemosaic_core.motion.skeleton import (
    JOINT_INDEX,
    NUM_JOINTS,
    REST_OFFSETS,
    rest_pose,
)

J = JOINT_INDEX
_REST = rest_pose()
# pelvis relative to the midpoint of the toes in the rest pose (y: standing height)
PELVIS_OVER_TOES = -(_REST[J["left_foot"]] + _REST[J["right_foot"]]) / 2
PLANTED_REACH = 0.995                 # share of the IK's longest leg a planted foot may use
LIFT_SLACK = 2.0                      # a lifted foot's reach limit relaxes by this x its lift
SOFTMIN_M = 0.01                      # smoothing of the pelvis height limit (m)


def arm_rotation(abd, flex, hadd, twist) -> np.ndarray:
    """Shoulder rotation of the left arm (rest: straight out along +x)."""
    return rot_y(-hadd) @ rot_x(-flex) @ rot_z(abd - np.pi / 2) @ rot_x(twist)


def _softmin(values: list[np.ndarray], k: float) -> np.ndarray:
    v = np.stack(values)
    m = v.min(axis=0)
    return m - k * np.log(np.exp(-(v - m) / k).sum(axis=0))


def _trunk(yaw, pitch, roll, parts: int) -> np.ndarray:
    return rot_y(yaw / parts) @ rot_x(pitch / parts) @ rot_z(roll / parts)


def pose_joints(ch: dict[str, np.ndarray], style: GenreStyle) -> np.ndarray:
    """Joint positions (T, 22, 3) of sampled channels (timeline.CHANNELS, each (T,))."""
    T = len(ch["sway"])
    local = np.tile(np.eye(3), (T, NUM_JOINTS, 1, 1))

    # feet: toe on its spot, foot orientation from yaw and heel raise, ankle from both
    foot_rot, ankle_target = {}, {}
    for side in ("L", "R"):
        toe_joint = LEGS[side][3]
        foot_rot[side] = rot_y(ch[f"{side}_yaw"]) @ rot_x(ch[f"{side}_heel"])
        toe = np.stack([ch[f"{side}_toe_x"], ch[f"{side}_lift"], ch[f"{side}_toe_z"]], axis=-1)
        ankle_target[side] = toe - matvec(foot_rot[side], REST_OFFSETS[toe_joint])

    # pelvis: above the feet, turned their way (smoothly, see timeline.FACING), limited in
    # height by the planted feet
    pelvis_rot = rot_y(ch["facing"] + ch["hip_twist"]) @ rot_x(ch["hip_pitch"]) @ rot_z(ch["hip_roll"])
    heading = rot_y(ch["facing"])
    mid = np.stack([(ch["L_toe_x"] + ch["R_toe_x"]) / 2, np.zeros(T), (ch["L_toe_z"] + ch["R_toe_z"]) / 2], -1)
    offset = np.stack([PELVIS_OVER_TOES[0] + ch["sway"], np.zeros(T), PELVIS_OVER_TOES[2] + ch["lean"]], -1)
    root = mid + matvec(heading, offset)
    limits = [PELVIS_OVER_TOES[1] - style.knee_bend - ch["drop"]]
    for side in ("L", "R"):
        hip = LEGS[side][0]
        hip_off = matvec(pelvis_rot, REST_OFFSETS[hip])
        horiz = np.hypot(*(ankle_target[side] - root - hip_off)[:, [0, 2]].T)
        reach = PLANTED_REACH * leg_reach(side)
        room = np.sqrt(np.maximum(reach ** 2 - horiz ** 2, 0.0))
        limits.append(ankle_target[side][:, 1] + room - hip_off[:, 1] + LIFT_SLACK * ch[f"{side}_lift"])
    root[:, 1] = _softmin(limits, SOFTMIN_M)
    local[:, 0] = pelvis_rot

    for side in ("L", "R"):
        hip, knee, ankle, _ = LEGS[side]
        hip_pos = root + matvec(pelvis_rot, REST_OFFSETS[hip])
        local[:, hip], local[:, knee], local[:, ankle] = leg_ik(side, hip_pos, pelvis_rot,
                                                                ankle_target[side], foot_rot[side])

    # trunk and head: the chest keeps most of its own orientation against the pelvis tilt
    spine = _trunk(ch["chest_twist"] - 0.6 * ch["hip_twist"], ch["chest_pitch"] - 0.6 * ch["hip_pitch"],
                   ch["chest_roll"] - 0.7 * ch["hip_roll"], 3)
    for name in ("spine1", "spine2", "spine3"):
        local[:, J[name]] = spine
    head = _trunk(ch["head_yaw"], ch["head_pitch"], ch["head_roll"], 2)
    local[:, J["neck"]] = head
    local[:, J["head"]] = head

    # arms: the left-arm formulas, reflected for the right
    for side, prefix, flip in (("L", "left", False), ("R", "right", True)):
        c = {name: ch[f"{side}_{name}"] for name in ("abd", "flex", "hadd", "twist", "elbow", "wrist", "shrug")}
        rots = {"collar": rot_z(c["shrug"]),
                "shoulder": arm_rotation(c["abd"], c["flex"], c["hadd"], c["twist"]),
                "elbow": rot_y(-c["elbow"]), "wrist": rot_z(c["wrist"])}
        for joint, rot in rots.items():
            local[:, J[f"{prefix}_{joint}"]] = mirror(rot) if flip else rot
    return forward_kinematics(local, root)
