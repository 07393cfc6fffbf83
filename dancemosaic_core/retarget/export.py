"""A floating-base robot trajectory as a BeyondMimic motion file (HybridRobotics/whole_body_tracking,
the RL tracking policies real G1 dances run on).

    motion = beyondmimic_motion(robot, trajectory, fps=50)     # dict of arrays
    save_beyondmimic("dance_motion.npz", motion)               # what its MotionLoader reads

Its `scripts/csv_to_npz.py` resamples a motion (base pose + joint positions) to the output rate
(joints and positions linearly, the base rotation by slerp, on the grid 0, 1/fps, ... below the
duration), plays it kinematically in Isaac Lab and saves, per frame,
  fps             (1,) int      the output rate
  joint_pos       (T, J)        rad, in the simulator's articulation order
  joint_vel       (T, J)        rad/s, np.gradient of joint_pos
  body_pos_w      (T, B, 3)     m, each body's link frame, world
  body_quat_w     (T, B, 4)     w x y z, world
  body_lin_vel_w  (T, B, 3)     m/s of each body's centre of mass, world
  body_ang_vel_w  (T, B, 3)     rad/s, world
and `MotionLoader` (`tasks/tracking/mdp/commands.py`) reads exactly these keys, picking bodies by
index. Isaac Lab orders the joints and bodies of an articulation breadth-first through the
kinematic tree, with links on fixed joints merged into their parent (the URDF importer's
default), so that is the order written here; `joint_names` and `body_names` are added to check
it against `robot.joint_names` / `robot.body_names` of the Isaac Lab asset (MotionLoader ignores
extra keys). Velocities are finite differences of the resampled path, as csv_to_npz computes the
ones it writes into the simulator.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pinocchio as pin

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.retarget.robot import RobotConfig

BEYONDMIMIC_FPS = 50          # csv_to_npz's default --output_fps
KEYS = ("joint_pos", "joint_vel", "body_pos_w", "body_quat_w", "body_lin_vel_w", "body_ang_vel_w")


def breadth_first_joints(model: pin.Model, names: list[str]) -> list[int]:
    """Pinocchio joint ids of `names` in breadth-first order of the kinematic tree (children in
    the URDF's order), the order of an Isaac Lab articulation."""
    wanted = {model.getJointId(n) for n in names}
    children = {j: [] for j in range(model.njoints)}
    for j in range(1, model.njoints):
        children[model.parents[j]].append(j)
    order, queue = [], [0]
    while queue:
        j = queue.pop(0)
        if j in wanted:
            order.append(j)
        queue.extend(children[j])
    return order


def _resample(q: np.ndarray, base: np.ndarray, fps: float, out_fps: float) -> tuple[np.ndarray, np.ndarray]:
    """q and base on the grid 0, 1/out_fps, ... < duration: linear, the rotation by slerp."""
    duration = (len(q) - 1) / fps
    times = np.arange(0.0, duration, 1.0 / out_fps)
    x = times * fps
    i = np.minimum(x.astype(int), len(q) - 2)
    a = (x - i)[:, None]
    q_out = (1 - a) * q[i] + a * q[i + 1]
    position = (1 - a) * base[i, :3] + a * base[i + 1, :3]
    quats = [pin.Quaternion(*base[k, [6, 3, 4, 5]]) for k in range(len(base))]       # w x y z
    rotation = np.array([quats[k].slerp(float(s), quats[k + 1]).coeffs() for k, s in zip(i, a[:, 0])])   # x y z w
    return q_out, np.concatenate([position, rotation], axis=1)


def beyondmimic_motion(robot: RobotConfig, trajectory, fps: int = BEYONDMIMIC_FPS) -> dict[str, np.ndarray]:
    """The motion file's arrays for a floating-base trajectory (q (T, n) in robot.joint_names
    order, base (T, 7) x y z qx qy qz qw, fps), resampled to `fps` frames per second."""
    if trajectory.base is None:
        raise DanceMosaicError("a BeyondMimic motion needs the floating-base pose; retarget without --fixed-base")
    q, base = np.asarray(trajectory.q, np.float64), np.asarray(trajectory.base, np.float64)
    if len(q) < 2 or not np.isfinite(q).all() or not np.isfinite(base).all():
        raise DanceMosaicError(f"the trajectory has {len(q)} frame(s) or non-finite values; a motion file needs "
                               "at least 2 finite frames")
    if not (isinstance(fps, (int, np.integer)) and 1 <= fps <= 1000):
        raise DanceMosaicError(f"BeyondMimic frame rate {fps!r}: give an integer in 1..1000 (its default is 50)")
    q, base = _resample(q, base, float(trajectory.fps), fps)
    if len(q) < 3:
        raise DanceMosaicError(f"the trajectory lasts {(len(trajectory.q) - 1) / trajectory.fps:.3f} s: under 3 "
                               f"frames at {fps} fps; a motion file needs velocities")
    model = robot.model(floating=True)
    data = model.createData()
    joints = breadth_first_joints(model, list(robot.joint_names))
    column = {n: k for k, n in enumerate(robot.joint_names)}
    joint_order = [column[model.names[j]] for j in joints]
    bodies = [1] + joints                                      # the root link, then each joint's child link
    frames = [next(f for f, frame in enumerate(model.frames) if frame.parentJoint == j and
                   frame.type == pin.FrameType.BODY) for j in bodies]
    T, dt = len(q), 1.0 / fps
    pos, quat, com, rot = (np.empty((T, len(bodies)) + s) for s in ((3,), (4,), (3,), (3, 3)))
    for t in range(T):
        pin.framesForwardKinematics(model, data, robot.configuration(model, q[t], base[t]))
        for b, (j, f) in enumerate(zip(bodies, frames)):
            placement = data.oMf[f]
            pos[t, b], rot[t, b] = placement.translation, placement.rotation
            x, y, z, w = pin.Quaternion(placement.rotation).coeffs()
            quat[t, b] = [w, x, y, z]
            com[t, b] = data.oMi[j].act(model.inertias[j].lever)
    # world angular velocity: central differences on SO(3), one-sided at the ends (np.gradient's scheme)
    step = np.array([[pin.log3(rot[t + 1, b] @ rot[t, b].T) for b in range(len(bodies))] for t in range(T - 1)]) / dt
    angular = np.concatenate([step[:1], (step[:-1] + step[1:]) / 2, step[-1:]])
    joint_pos = q[:, joint_order]
    return {"fps": np.array([fps], dtype=np.int64), "joint_pos": joint_pos.astype(np.float32),
            "joint_vel": np.gradient(joint_pos, dt, axis=0).astype(np.float32),
            "body_pos_w": pos.astype(np.float32), "body_quat_w": quat.astype(np.float32),
            "body_lin_vel_w": np.gradient(com, dt, axis=0).astype(np.float32),
            "body_ang_vel_w": angular.astype(np.float32),
            "joint_names": np.array([model.names[j] for j in joints], dtype=str),
            "body_names": np.array([model.frames[f].name for f in frames], dtype=str)}


def save_beyondmimic(path: str | Path, motion: dict[str, np.ndarray]) -> Path:
    """Write the arrays as an uncompressed .npz (what csv_to_npz writes and np.load reads)."""
    path = Path(path)
    if path.suffix != ".npz":
        raise DanceMosaicError(f"{path}: a BeyondMimic motion file ends in .npz")
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **motion)
    return path
