"""The 22-joint SMPL body used everywhere in the project: the one source of joint names,
parents, rest offsets, frame rates and feature sizes.

Coordinates are y-up metres; the body faces +z and its left side is +x (SMPL convention).
"""
from __future__ import annotations

import numpy as np

# --- joints -------------------------------------------------------------------------------
JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck",
    "left_collar", "right_collar", "head", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist",
)
NUM_JOINTS = len(JOINT_NAMES)  # 22
JOINT_INDEX: dict[str, int] = {name: i for i, name in enumerate(JOINT_NAMES)}
PARENTS: tuple[int, ...] = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19)

# Rest-pose offsets of each joint from its parent (metres) of the SMPL neutral body, as
# published in EDGE's visualisation code (Tseng et al. 2023, `vis.py`, first 22 rows).
REST_OFFSETS = np.array([
    [0.0, 0.0, 0.0],
    [0.05858135, -0.08228004, -0.01766408],
    [-0.06030973, -0.09051332, -0.01354254],
    [0.00443945, 0.12440352, -0.03838522],
    [0.04345142, -0.38646945, 0.008037],
    [-0.04325663, -0.38368791, -0.00484304],
    [0.00448844, 0.1379564, 0.02682033],
    [-0.01479032, -0.42687458, -0.037428],
    [0.01905555, -0.4200455, -0.03456167],
    [-0.00226458, 0.05603239, 0.00285505],
    [0.04105436, -0.06028581, 0.12204243],
    [-0.03483987, -0.06210566, 0.13032329],
    [-0.0133902, 0.21163553, -0.03346758],
    [0.07170245, 0.11399969, -0.01889817],
    [-0.08295366, 0.11247234, -0.02370739],
    [0.01011321, 0.08893734, 0.05040987],
    [0.12292141, 0.04520509, -0.019046],
    [-0.11322832, 0.04685326, -0.00847207],
    [0.2553319, -0.01564902, -0.02294649],
    [-0.26012748, -0.01436928, -0.03126873],
    [0.26570925, 0.01269811, -0.00737473],
    [-0.26910836, 0.00679372, -0.00602676],
], dtype=np.float64)

# HumanML3D's kinematic chains (Guo et al. 2022, `paramUtil.t2m_kinematic_chain`): used for
# drawing and for the rotation IK of the feature representation.
KINEMATIC_CHAINS: tuple[tuple[int, ...], ...] = (
    (0, 2, 5, 8, 11), (0, 1, 4, 7, 10), (0, 3, 6, 9, 12, 15),
    (9, 14, 17, 19, 21), (9, 13, 16, 18, 20),
)
# HumanML3D's unit rest directions per joint (`paramUtil.t2m_raw_offsets`).
RAW_OFFSETS = np.array([
    [0, 0, 0], [1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, -1, 0], [0, 1, 0],
    [0, -1, 0], [0, -1, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1], [0, 1, 0], [1, 0, 0],
    [-1, 0, 0], [0, 0, 1], [0, -1, 0], [0, -1, 0], [0, -1, 0], [0, -1, 0], [0, -1, 0],
    [0, -1, 0],
], dtype=np.float64)

# --- joint groups ---------------------------------------------------------------------------
# Right hip, left hip, right shoulder, left shoulder: defines the facing direction.
FACE_JOINTS: tuple[int, int, int, int] = (2, 1, 17, 16)
LEFT_FOOT_JOINTS: tuple[int, int] = (7, 10)    # ankle, toe
RIGHT_FOOT_JOINTS: tuple[int, int] = (8, 11)
FOOT_JOINTS: tuple[int, ...] = LEFT_FOOT_JOINTS + RIGHT_FOOT_JOINTS
HAND_JOINTS: tuple[int, int] = (20, 21)
LOWER_BODY: tuple[int, ...] = (0, 1, 2, 4, 5, 7, 8, 10, 11)
UPPER_BODY: tuple[int, ...] = tuple(j for j in range(NUM_JOINTS) if j not in LOWER_BODY)
BODY_PARTS: dict[str, tuple[int, ...]] = {
    "upper": UPPER_BODY,
    "lower": LOWER_BODY,
    "left_arm": (13, 16, 18, 20),
    "right_arm": (14, 17, 19, 21),
    "left_leg": (1, 4, 7, 10),
    "right_leg": (2, 5, 8, 11),
    "spine": (0, 3, 6, 9, 12, 15),
}
# Mirror pairs (left <-> right) for data augmentation.
MIRROR: tuple[int, ...] = (0, 2, 1, 3, 5, 4, 6, 8, 7, 9, 11, 10, 12, 14, 13, 15, 17, 16, 19, 18, 21, 20)

# --- source skeletons -----------------------------------------------------------------------
# SMPL-X (55 joints; FineDance stores 52 = 55 without jaw and eyes) and SMPL (24 joints) both
# begin with the same 22 body joints in the same order.
SMPLX52_TO_BODY22: tuple[int, ...] = tuple(range(NUM_JOINTS))
SMPL24_TO_BODY22: tuple[int, ...] = tuple(range(NUM_JOINTS))
SMPLX52_PARENTS: tuple[int, ...] = PARENTS + (
    20, 22, 23, 20, 25, 26, 20, 28, 29, 20, 31, 32, 20, 34, 35,   # left hand (15 joints)
    21, 37, 38, 21, 40, 41, 21, 43, 44, 21, 46, 47, 21, 49, 50,   # right hand (15 joints)
)
SMPL24_PARENTS: tuple[int, ...] = PARENTS + (20, 21)

# --- rates and sizes ------------------------------------------------------------------------
MOTION_FPS = 20            # the model's frame rate (HumanML3D, the paper's FineDance down-sampling)
FEATURE_DIM = 4 + (NUM_JOINTS - 1) * 3 + (NUM_JOINTS - 1) * 6 + NUM_JOINTS * 3 + 4  # 263
MUSIC_FEATURE_DIM = 35     # onset env 1 + MFCC 20 + chroma_cens 12 + onset peaks 1 + beats 1
TOKEN_DOWNSAMPLE = 4       # motion frames per token (MoMask)


def joint_ids(names_or_ids) -> list[int]:
    """Map joint names (or indices, or a body-part name) to indices; unknown names raise
    ValueError listing the valid ones."""
    if isinstance(names_or_ids, str):
        names_or_ids = BODY_PARTS.get(names_or_ids, [names_or_ids])
    out = []
    for item in names_or_ids:
        if isinstance(item, (int, np.integer)):
            if not 0 <= int(item) < NUM_JOINTS:
                raise ValueError(f"joint index {item} is outside 0..{NUM_JOINTS - 1}")
            out.append(int(item))
        elif item in JOINT_INDEX:
            out.append(JOINT_INDEX[item])
        elif item in BODY_PARTS:
            out.extend(BODY_PARTS[item])
        else:
            raise ValueError(f"unknown joint or body part {item!r}; valid joints: "
                             f"{', '.join(JOINT_NAMES)}; body parts: {', '.join(BODY_PARTS)}")
    return sorted(set(out))


def rest_pose() -> np.ndarray:
    """Rest-pose joint positions (22, 3), pelvis at the origin."""
    pos = np.zeros((NUM_JOINTS, 3))
    for j in range(1, NUM_JOINTS):
        pos[j] = pos[PARENTS[j]] + REST_OFFSETS[j]
    return pos


def bone_lengths(joints: np.ndarray) -> np.ndarray:
    """Bone lengths (..., 21) of joint positions (..., 22, 3), bone j-1 ends at joint j."""
    parents = np.array(PARENTS[1:])
    return np.linalg.norm(joints[..., 1:, :] - joints[..., parents, :], axis=-1)
