"""The robot trajectory file (`g1.npz`) written by `dancemosaic retarget` and read by `sim`.

Arrays: q (T, n) rad in the controller's joint order, joint_names (n,), base (T, 7) x y z qx qy
qz qw (absent for a fixed base), residual (T,) m, contacts (T, 2); scalars: fps, robot, motion
(the source motion file). Loading never unpickles objects.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dancemosaic_core.common.errors import DanceMosaicError


@dataclass
class RobotTrajectory:
    q: np.ndarray
    base: np.ndarray | None
    fps: float
    joint_names: tuple[str, ...]
    robot: str
    residual: np.ndarray | None = None
    contacts: np.ndarray | None = None
    motion: str = ""


def save_trajectory(path: str | Path, result, *, motion: str = "") -> Path:
    """Write a RetargetResult (or RobotTrajectory) to `path` (.npz)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {"q": np.asarray(result.q, np.float64), "joint_names": np.array(result.joint_names, dtype=str),
              "fps": np.float64(result.fps), "robot": np.str_(result.robot), "motion": np.str_(motion)}
    for name in ("base", "residual", "contacts"):
        value = getattr(result, name, None)
        if value is not None:
            arrays[name] = np.asarray(value)
    np.savez_compressed(path, **arrays)
    return path


def load_trajectory(path: str | Path) -> RobotTrajectory:
    path = Path(path)
    if not path.is_file():
        raise DanceMosaicError(f"trajectory file {path} does not exist; make one with "
                               f"`dancemosaic retarget dance.npz --robot g1 --out {path}`")
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in ("q", "joint_names", "fps", "robot") if k not in data]
            if missing:
                raise DanceMosaicError(f"{path} lacks {', '.join(missing)}: not a robot trajectory (a human "
                                       "motion? retarget it first with `dancemosaic retarget`)")
            return RobotTrajectory(
                q=data["q"], base=data.get("base"), fps=float(data["fps"]),
                joint_names=tuple(str(n) for n in data["joint_names"]), robot=str(data["robot"]),
                residual=data.get("residual"), contacts=data.get("contacts"),
                motion=str(data["motion"]) if "motion" in data else "")
    except (OSError, ValueError) as exc:
        raise DanceMosaicError(f"cannot read trajectory file {path}: {exc}") from None


def frame_at(x: float, count: int) -> tuple[int, float]:
    """Where fractional frame x lies on a grid of `count` frames, clamped to its ends: (i, a) with
    the value (1 - a) v[i] + a v[i + 1] (a = 0, i = 0 on a one-frame grid)."""
    x = min(max(x, 0.0), count - 1.0)
    i = min(int(x), count - 2) if count > 1 else 0
    return i, x - i


def interpolate_poses(times: np.ndarray, poses: np.ndarray, at: np.ndarray | float) -> np.ndarray:
    """Base poses x y z qx qy qz qw at the times `at` from poses (k, 7) at increasing `times` (k,):
    positions linearly, quaternions normalised-linearly along the shorter arc; held before the
    first and after the last pose."""
    times, poses = np.asarray(times, np.float64), np.array(poses, np.float64)
    if len(times) == 0 or poses.shape != (len(times), 7):
        raise DanceMosaicError(f"interpolate_poses needs times (k,) and poses (k, 7) with k >= 1; got "
                               f"{times.shape} and {poses.shape}")
    for i in range(1, len(poses)):                 # q and -q are the same turn: keep neighbours alike
        if poses[i, 3:] @ poses[i - 1, 3:] < 0:
            poses[i, 3:] *= -1
    at = np.asarray(at, np.float64)
    out = np.stack([np.interp(at, times, poses[:, k]) for k in range(7)], axis=-1)
    out[..., 3:] /= np.linalg.norm(out[..., 3:], axis=-1, keepdims=True)
    return out


def load_trajectory_for(path: str | Path, robot: str | None = None):
    """(RobotTrajectory, RobotConfig) of a trajectory file and the robot it plays on (default: its
    own); a robot with other joints is an error naming the fix."""
    from dancemosaic_core.retarget.robot import load_robot
    trajectory = load_trajectory(path)
    config = load_robot(robot or trajectory.robot)
    if tuple(trajectory.joint_names) != tuple(config.joint_names):
        raise DanceMosaicError(f"{path} was retargeted to {trajectory.robot!r} with other joints than robot "
                               f"{config.name!r}; pass --robot {trajectory.robot} or retarget again")
    return trajectory, config
