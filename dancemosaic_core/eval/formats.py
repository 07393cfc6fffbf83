"""Motion files other tools write, read as (T, 22, 3) y-up joint positions for `dancemosaic eval`.

- `.npz`: dancemosaic motion files (`dancemosaic_core.motion.io`), their own fps;
- `.npy` holding a (T, 22, 3) array: plain joint positions in metres, y up, at `--fps`;
- Bailando results (lisiyao21/Bailando `utils/functional.py` `write2pkl`: `np.save(name + '.pkl',
  {"pred_position": (T, 72)})`, so files end in `.pkl.npy` or, renamed, `.pkl`/`.npy`): the 24
  SMPL joints of AIST++, y up, at 60 fps (`--fps` overrides); the first 22 are ours;
- EDGE results (Stanford-TML/EDGE `model/diffusion.py` `render_sample(fk_out=...)`: a pickle
  {"smpl_poses", "smpl_trans", "full_pose": (T, 24, 3)}): z up (EDGE rotates AIST++ by +90
  degrees about x, `dataset/dance_dataset.py`), at 30 fps (`eval/eval_pfc.py` DT = 1/30;
  `--fps` overrides); turned back to y up as (x, z, -y), first 22 joints.
Pickles are read with an unpickler that builds numpy arrays and plain containers only; any
other object in the file is refused.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.motion.io import check_joints, load_motion
from dancemosaic_core.motion.skeleton import NUM_JOINTS

MOTION_SUFFIXES = (".npz", ".npy", ".pkl")
BAILANDO_FPS = 60.0
EDGE_FPS = 30.0
SMPL_JOINTS = 24
EXPECTED = (f"expected a (frames, {NUM_JOINTS}, 3) joint array in metres with y up (.npy, give --fps), "
            "a Bailando result ({'pred_position': (frames, 72)}) or an EDGE result pickle "
            "({'full_pose': (frames, 24, 3)})")
_NUMPY_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("collections", "OrderedDict"),
}


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _NUMPY_GLOBALS:
            return super().find_class(module, name)
        raise DanceMosaicError(f"refusing to unpickle {module}.{name}: only numpy arrays and plain "
                               "containers are read from result files")


def _unpickle(stream):
    try:
        return _ArrayUnpickler(stream).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as exc:
        raise DanceMosaicError(f"cannot unpickle: {exc}") from None


def _read(path: Path):
    """The array or object a .npy/.pkl file holds (numpy header sniffed, not the suffix)."""
    with open(path, "rb") as f:
        if f.read(6) == b"\x93NUMPY":
            f.seek(0)
            version = np.lib.format.read_magic(f)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, _, dtype = read_header(f)
            if not dtype.hasobject:
                f.seek(0)
                return np.load(f, allow_pickle=False)
            obj = _unpickle(f)
            return obj.item() if isinstance(obj, np.ndarray) and obj.shape == () else obj
        f.seek(0)
        return _unpickle(f)


def motion_stem(path: Path) -> str:
    """File name without its motion suffixes (Bailando's `x.pkl.npy` -> `x`)."""
    name = path.name
    while Path(name).suffix in MOTION_SUFFIXES:
        name = Path(name).stem
    return name


def load_joints_file(path, fps: float | None = None) -> tuple[np.ndarray, float]:
    """(joints (T, 22, 3) y-up float32, fps) of one .npy/.pkl result file."""
    path = Path(path)
    try:
        data = _read(path)
    except DanceMosaicError as exc:
        raise DanceMosaicError(f"{path}: {exc}; {EXPECTED}") from None
    except (OSError, ValueError) as exc:
        raise DanceMosaicError(f"cannot read {path}: {exc}; {EXPECTED}") from None
    if isinstance(data, dict) and "pred_position" in data:
        pos = np.asarray(data["pred_position"], dtype=np.float64)
        if pos.ndim != 2 or pos.shape[1] != SMPL_JOINTS * 3:
            raise DanceMosaicError(f"{path}: Bailando pred_position has shape {pos.shape}; expected "
                                   f"(frames, {SMPL_JOINTS * 3}) = 24 SMPL joints x 3, y up")
        joints, rate = pos.reshape(len(pos), SMPL_JOINTS, 3)[:, :NUM_JOINTS], fps or BAILANDO_FPS
    elif isinstance(data, dict) and "full_pose" in data:
        pose = np.asarray(data["full_pose"], dtype=np.float64)
        if pose.ndim != 3 or pose.shape[1:] != (SMPL_JOINTS, 3):
            raise DanceMosaicError(f"{path}: EDGE full_pose has shape {pose.shape}; expected "
                                   f"(frames, {SMPL_JOINTS}, 3) SMPL joints, z up")
        joints = np.stack([pose[..., 0], pose[..., 2], -pose[..., 1]], axis=-1)[:, :NUM_JOINTS]
        rate = fps or EDGE_FPS
    elif isinstance(data, np.ndarray) and data.dtype.kind in "fiu":
        if data.ndim != 3 or data.shape[1:] != (NUM_JOINTS, 3):
            raise DanceMosaicError(f"{path}: array of shape {data.shape}; {EXPECTED}")
        if fps is None:
            raise DanceMosaicError(f"{path}: a plain joint array carries no frame rate; give --fps "
                                   "(e.g. --fps 30)")
        joints, rate = data, fps
    else:
        kind = f"dict with keys {sorted(map(str, data))}" if isinstance(data, dict) else type(data).__name__
        raise DanceMosaicError(f"{path}: holds a {kind}; {EXPECTED}")
    if not rate > 0:
        raise DanceMosaicError(f"--fps must be positive, got {rate}")
    return check_joints(joints, str(path)), float(rate)


def motion_files(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_file() and p.suffix in MOTION_SUFFIXES)


def load_any(path: Path, fps: float | None):
    """(joints, fps, music, genre, music_offset) of a motion file of any supported kind."""
    if path.suffix == ".npz":
        m = load_motion(path)
        return m.joints, m.fps, m.music, m.genre, m.music_offset
    joints, rate = load_joints_file(path, fps)
    return joints, rate, "", "", 0.0
