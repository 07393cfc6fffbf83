"""The motion file every tool reads and writes (`dance.npz`): 22-joint positions plus metadata.

Arrays: `joints` (T, 22, 3) float32 y-up metres; scalars: `fps`; optional `music` (path of the
audio it was made for), `genre`, `text`, `music_offset` (seconds into the music of frame 0).
Loading never unpickles objects.
"""
from __future__ import annotations

import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.motion.skeleton import MOTION_FPS, NUM_JOINTS


@dataclass
class Motion:
    joints: np.ndarray                      # (T, 22, 3) y-up metres
    fps: float = MOTION_FPS
    music: str = ""
    genre: str = ""
    text: str = ""
    music_offset: float = 0.0
    extra: dict[str, np.ndarray] = field(default_factory=dict)   # e.g. tokens, constraints

    @property
    def seconds(self) -> float:
        return len(self.joints) / self.fps


def check_joints(joints: np.ndarray, what: str = "joints") -> np.ndarray:
    """Validate a (T, 22, 3) joint array: shape and finiteness, with a clear error."""
    joints = np.asarray(joints)
    if joints.ndim != 3 or joints.shape[1:] != (NUM_JOINTS, 3):
        raise DanceMosaicError(f"{what} has shape {joints.shape}; expected (frames, {NUM_JOINTS}, 3) "
                               "joint positions in metres (y up)")
    if len(joints) == 0:
        raise DanceMosaicError(f"{what} has no frames")
    bad = ~np.isfinite(joints).all(axis=(1, 2))
    if bad.any():
        frames = np.flatnonzero(bad)
        raise DanceMosaicError(f"{what} has NaN or infinite values in {len(frames)} frame(s), first at "
                               f"frame {frames[0]}; clean or interpolate those frames first")
    return joints.astype(np.float32)


def save_motion(path: str | Path, motion: Motion) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {f"extra_{k}": np.asarray(v) for k, v in motion.extra.items()}
    np.savez_compressed(path, joints=check_joints(motion.joints), fps=np.float64(motion.fps),
                        music=np.str_(motion.music), genre=np.str_(motion.genre),
                        text=np.str_(motion.text), music_offset=np.float64(motion.music_offset),
                        **arrays)
    return path


def load_motion(path: str | Path) -> Motion:
    path = Path(path)
    if not path.is_file():
        raise DanceMosaicError(f"motion file {path} does not exist; make one with "
                               f"`dancemosaic generate ... --out {path}`")
    try:
        with np.load(path, allow_pickle=False) as data:
            if "joints" not in data:
                raise DanceMosaicError(f"{path} has no 'joints' array; expected a dancemosaic motion "
                                       f".npz (joints (T, {NUM_JOINTS}, 3), fps)")
            return Motion(
                joints=check_joints(data["joints"], f"{path}: joints"),
                fps=float(data["fps"]) if "fps" in data else MOTION_FPS,
                music=str(data["music"]) if "music" in data else "",
                genre=str(data["genre"]) if "genre" in data else "",
                text=str(data["text"]) if "text" in data else "",
                music_offset=float(data["music_offset"]) if "music_offset" in data else 0.0,
                extra={k[6:]: data[k] for k in data.files if k.startswith("extra_")},
            )
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:   # truncated or damaged
        raise DanceMosaicError(f"cannot read motion file {path}: {exc or type(exc).__name__}; "
                               "regenerate it") from None
