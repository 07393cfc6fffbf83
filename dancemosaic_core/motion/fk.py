"""Forward kinematics of the rotation-based dance datasets to the 22 body joints, and resampling.

FineDance `motion/*.npy` (30 fps): (T, 315) = root translation (3) + 52 SMPL-X joints x 6-D
rotation, in the layout of its tooling (`data/code/pre_motion.py`, LODGE `smplfk.py`):
pytorch3d `rotation_6d_to_matrix`, i.e. the FIRST TWO ROWS of each local rotation matrix
(`rotations.rot6d_to_matrix(..., layout="rows")`). The preprocessed `motion_fea319` files put
4 foot contacts in front; both widths are accepted. Joints = rest-pose joints of the template
posed by the local rotations (pelvis at template[0]), plus the translation, y-up metres
(LODGE's `SMPLX_Skeleton.forward`, whose template is FineDance's `smplx_neu_J_1.npy`, (55, 3)).

AIST++ `motions/*.pkl` (60 fps): smpl_poses (T, 72) axis-angle of the 24 SMPL joints,
smpl_trans (T, 3), smpl_scaling (1,). The AIST++ API computes joints as
`SMPL(...).forward(global_orient, body_pose, transl=smpl_trans / smpl_scaling)` with the SMPL
body at its own (unscaled) size: joints = FK(poses, template) + smpl_trans / smpl_scaling,
y-up metres. The template is SMPL's rest-pose joints (`J_regressor @ v_template`, (24, 3); the
API uses the MALE model).

Only the 22 body joints are posed: hand, jaw and eye rotations do not move them.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.motion.rotations import axis_angle_to_matrix, rot6d_to_matrix
from dancemosaic_core.motion.skeleton import NUM_JOINTS, PARENTS

FINEDANCE_FPS = 30
AIST_FPS = 60
FINEDANCE_JOINTS = 52
FINEDANCE_WIDTH = 3 + FINEDANCE_JOINTS * 6          # 315
FINEDANCE_FEA_WIDTH = 4 + FINEDANCE_WIDTH           # 319: foot contacts first (motion_fea319)
SMPL_JOINTS = 24

_TEMPLATE_ROWS = {"smplx": (55, 52), "smpl": (SMPL_JOINTS,)}
_TEMPLATE_HELP = {
    "smplx": "rest-pose joint locations of the SMPL-X neutral body, shape (55, 3), as FineDance's "
             "smplx_neu_J_1.npy (compute it from the SMPL-X model as `J_regressor @ v_template`)",
    "smpl": "rest-pose joint locations of the SMPL body, shape (24, 3) (compute it from the SMPL "
            "model file as `J_regressor @ v_template`; AIST++ uses the MALE model)",
}


def load_joint_template(path: str | Path, kind: str) -> np.ndarray:
    """Rest-pose joints (N, 3) float64 from a `.npy` file ((N, 3) or (1, N, 3)); `kind` is
    "smplx" (FineDance, N = 55 or 52) or "smpl" (AIST++, N = 24)."""
    if kind not in _TEMPLATE_ROWS:
        raise DanceMosaicError(f"unknown joint-template kind {kind!r}; use one of {sorted(_TEMPLATE_ROWS)}")
    path = Path(path)
    if not path.is_file():
        raise DanceMosaicError(f"joint-template file {path} does not exist; put there the "
                               f"{_TEMPLATE_HELP[kind]}")
    try:
        template = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DanceMosaicError(f"cannot read joint-template file {path} ({exc}); it must be a .npy "
                               f"array: the {_TEMPLATE_HELP[kind]}") from None
    if template.ndim == 3 and template.shape[0] == 1:
        template = template[0]
    if template.ndim != 2 or template.shape[1] != 3 or template.shape[0] not in _TEMPLATE_ROWS[kind]:
        raise DanceMosaicError(f"joint-template file {path} has shape {template.shape}; expected the "
                               f"{_TEMPLATE_HELP[kind]}")
    return check_template(template, str(path))


def check_template(template, what: str = "joint template") -> np.ndarray:
    template = np.asarray(template, dtype=np.float64)
    if template.ndim != 2 or template.shape[1] != 3 or template.shape[0] < NUM_JOINTS:
        raise DanceMosaicError(f"{what} has shape {template.shape}; expected (N >= {NUM_JOINTS}, 3) "
                               "rest-pose joint locations (load it with load_joint_template)")
    if not np.isfinite(template).all():
        raise DanceMosaicError(f"{what} contains NaN or infinite values")
    bones = np.linalg.norm(template[1:NUM_JOINTS] - template[list(PARENTS[1:])], axis=-1)
    if (bones < 1e-4).any():
        raise DanceMosaicError(f"{what} has zero-length body bones (joints {np.flatnonzero(bones < 1e-4) + 1}); "
                               "it is not a rest-pose joint template")
    return template


def body_fk(local_rotmats: np.ndarray, template: np.ndarray, root_trans: np.ndarray) -> np.ndarray:
    """Joints (T, 22, 3) from local rotation matrices (T, >=22, 3, 3) of the SMPL kinematic tree,
    rest-pose joints `template` (>=22, 3) and a root translation (T, 3) added to all joints."""
    rest = template[:NUM_JOINTS]
    frames = len(local_rotmats)
    world = np.empty((frames, NUM_JOINTS, 3, 3))
    joints = np.empty((frames, NUM_JOINTS, 3))
    world[:, 0] = local_rotmats[:, 0]
    joints[:, 0] = rest[0] + root_trans
    for j in range(1, NUM_JOINTS):
        p = PARENTS[j]
        world[:, j] = world[:, p] @ local_rotmats[:, j]
        joints[:, j] = joints[:, p] + world[:, p] @ (rest[j] - rest[p])
    return joints


def _check_finite(array: np.ndarray, what: str) -> None:
    bad = ~np.isfinite(array.reshape(len(array), -1)).all(axis=1)
    if bad.any():
        raise DanceMosaicError(f"{what} has NaN or infinite values in {bad.sum()} frame(s), first at "
                               f"frame {np.flatnonzero(bad)[0]}")


def finedance_to_joints(motion: np.ndarray, template, what: str = "FineDance motion") -> np.ndarray:
    """FineDance (T, 315) or motion_fea319 (T, 319) array -> (T, 22, 3) float32 joints (30 fps).
    `template`: array from load_joint_template(path, "smplx") or the path of the .npy file."""
    if isinstance(template, (str, Path)):
        template = load_joint_template(template, "smplx")
    template = check_template(template)
    motion = np.asarray(motion)
    if motion.ndim != 2 or motion.shape[1] not in (FINEDANCE_WIDTH, FINEDANCE_FEA_WIDTH) or len(motion) == 0:
        raise DanceMosaicError(f"{what} has shape {motion.shape}; expected (frames, {FINEDANCE_WIDTH}) = "
                               f"translation 3 + {FINEDANCE_JOINTS} joints x 6-D rotation (or the "
                               f"{FINEDANCE_FEA_WIDTH}-wide motion_fea319 with 4 foot contacts first)")
    motion = motion[:, -FINEDANCE_WIDTH:].astype(np.float64)
    _check_finite(motion, what)
    d6 = motion[:, 3:3 + NUM_JOINTS * 6].reshape(len(motion), NUM_JOINTS, 6)
    rotmats = rot6d_to_matrix(d6, layout="rows")
    return body_fk(rotmats, template, motion[:, :3]).astype(np.float32)


def aist_to_joints(motion: dict, template, what: str = "AIST++ motion") -> np.ndarray:
    """AIST++ motion dict (smpl_poses, smpl_trans, smpl_scaling) -> (T, 22, 3) float32 joints
    (60 fps). `template`: array from load_joint_template(path, "smpl") or the .npy path."""
    if isinstance(template, (str, Path)):
        template = load_joint_template(template, "smpl")
    template = check_template(template)
    missing = [k for k in ("smpl_poses", "smpl_trans", "smpl_scaling") if k not in motion]
    if missing:
        raise DanceMosaicError(f"{what} lacks {', '.join(missing)}; expected an AIST++ motions/*.pkl dict "
                               "with smpl_poses (T, 72), smpl_trans (T, 3), smpl_scaling (1,)")
    poses = np.asarray(motion["smpl_poses"], dtype=np.float64)
    trans = np.asarray(motion["smpl_trans"], dtype=np.float64)
    scaling = np.asarray(motion["smpl_scaling"], dtype=np.float64).reshape(-1)
    if poses.ndim == 3 and poses.shape[1:] == (SMPL_JOINTS, 3):
        poses = poses.reshape(len(poses), -1)
    if poses.ndim != 2 or poses.shape[1] != SMPL_JOINTS * 3 or len(poses) == 0:
        raise DanceMosaicError(f"{what}: smpl_poses has shape {poses.shape}; expected (frames, 72) "
                               "axis-angle of the 24 SMPL joints")
    if trans.shape != (len(poses), 3):
        raise DanceMosaicError(f"{what}: smpl_trans has shape {trans.shape}; expected ({len(poses)}, 3) "
                               "to match smpl_poses")
    if scaling.shape != (1,) or not np.isfinite(scaling).all() or scaling[0] <= 0:
        raise DanceMosaicError(f"{what}: smpl_scaling is {scaling}; expected one positive number")
    _check_finite(np.concatenate([poses, trans], axis=1), what)
    rotmats = axis_angle_to_matrix(poses[:, :NUM_JOINTS * 3].reshape(len(poses), NUM_JOINTS, 3))
    return body_fk(rotmats, template, trans / scaling[0]).astype(np.float32)


# --- file readers ---------------------------------------------------------------------------
def load_finedance_motion(path: str | Path) -> np.ndarray:
    """Read a FineDance motion .npy (never unpickled) as float32; shape is checked by
    finedance_to_joints."""
    path = Path(path)
    try:
        return np.load(path, allow_pickle=False).astype(np.float32)
    except (OSError, ValueError) as exc:
        raise DanceMosaicError(f"cannot read FineDance motion {path}: {exc}") from None


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """AIST++ ships pickled dicts of numpy arrays; refuse every other global so a crafted .pkl
    cannot run code."""
    _ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
                ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
                ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def load_aist_motion(path: str | Path) -> dict:
    """Read an AIST++ motions/*.pkl (numpy arrays only) as a dict."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            data = _NumpyOnlyUnpickler(fh, encoding="latin1").load()
    except (OSError, pickle.UnpicklingError, EOFError, ValueError, AttributeError, ImportError) as exc:
        raise DanceMosaicError(f"cannot read AIST++ motion {path}: {exc}") from None
    if not isinstance(data, dict):
        raise DanceMosaicError(f"AIST++ motion {path} holds a {type(data).__name__}, expected a dict "
                               "with smpl_poses, smpl_trans, smpl_scaling")
    return data


# --- resampling -------------------------------------------------------------------------------
def resample(array: np.ndarray, src_fps: float, dst_fps: float) -> np.ndarray:
    """Linear interpolation along axis 0 from src_fps to dst_fps, keeping frame 0's time and
    stopping at the last input frame's time (so T frames give floor((T-1) dst/src) + 1)."""
    if not (src_fps > 0 and dst_fps > 0):
        raise DanceMosaicError(f"frame rates must be positive, got {src_fps} -> {dst_fps}")
    array = np.asarray(array)
    if array.ndim == 0 or len(array) == 0:
        raise DanceMosaicError("cannot resample an empty motion")
    if src_fps == dst_fps:
        return array.copy()
    count = int(np.floor((len(array) - 1) * dst_fps / src_fps + 1e-9)) + 1
    t = np.arange(count) * (src_fps / dst_fps)
    lo = np.minimum(np.floor(t).astype(int), len(array) - 1)
    hi = np.minimum(lo + 1, len(array) - 1)
    w = (t - lo).reshape((-1,) + (1,) * (array.ndim - 1))
    out = array[lo] * (1 - w) + array[hi] * w
    return out.astype(array.dtype) if np.issubdtype(array.dtype, np.floating) else out
