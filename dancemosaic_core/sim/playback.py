"""Play a robot joint trajectory in MuJoCo and report how the robot fared.

    report = play(result, robot, fixed_base=False, render_size=(480, 480))
    print(report.table()); frames = report.frames      # (N, H, W, 3) uint8 or None

The PD position actuators follow the trajectory, linearly interpolated between its frames; a
free-standing robot starts at the first base pose and is on its own after that (open loop), so
`fell` says whether the dance is physically plausible for it. `fixed_base` pins the root link
to the trajectory's base path (or to the standing height when it has none): a display mode
that cannot fall. Measured at each trajectory frame: pelvis height, foot-floor contacts, foot
slip (horizontal speed of a foot that stays on the floor), tracking error, joints at a limit.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import mujoco
import numpy as np

from dancemosaic_core.errors import DanceMosaicError
from dancemosaic_core.retarget.robot import RobotConfig
from dancemosaic_core.sim.model import FLOOR_GROUP, SimModel, build_sim_model

LIMIT_MARGIN = 0.01     # rad: a joint this close to a limit counts as a limit hit


@dataclass
class SimReport:
    fell: bool
    fall_time: float | None            # s into the trajectory
    seconds: float                     # simulated time
    foot_contact_fraction: float       # frames with at least one foot on the floor
    foot_slip: float                   # m/s, mean horizontal speed of feet staying on the floor
    tracking_error: float              # rad, mean |q_sim - q_ref|
    tracking_error_max: float
    limit_hits: int                    # (frame, joint) samples within LIMIT_MARGIN of a limit
    real_time_factor: float            # simulated seconds per wall second (physics only)
    pelvis_height: np.ndarray = field(repr=False)      # (N,) m at each frame
    contacts: np.ndarray = field(repr=False)           # (N, 2) bool left/right foot on the floor
    frames: np.ndarray | None = field(default=None, repr=False)   # (N, H, W, 3) uint8

    def summary(self) -> dict:
        return {"fell": self.fell, "fall_time_s": self.fall_time, "seconds": self.seconds,
                "foot_contact_fraction": self.foot_contact_fraction, "foot_slip_m_per_s": self.foot_slip,
                "tracking_error_rad": self.tracking_error, "tracking_error_max_rad": self.tracking_error_max,
                "limit_hits": self.limit_hits, "real_time_factor": self.real_time_factor,
                "min_pelvis_height_m": float(self.pelvis_height.min())}

    def table(self) -> str:
        rows = [("fell", "yes" + (f" at {self.fall_time:.2f} s" if self.fall_time is not None else "") if self.fell else "no"),
                ("simulated", f"{self.seconds:.2f} s"),
                ("foot contact", f"{100 * self.foot_contact_fraction:.1f} % of frames"),
                ("foot slip", f"{self.foot_slip:.3f} m/s"),
                ("tracking error", f"{self.tracking_error:.3f} rad mean, {self.tracking_error_max:.3f} max"),
                ("limit hits", f"{self.limit_hits} joint-frames"),
                ("min pelvis height", f"{self.pelvis_height.min():.3f} m"),
                ("real-time factor", f"{self.real_time_factor:.1f}x")]
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def _interpolate(q: np.ndarray, t: float, fps: float) -> np.ndarray:
    x = min(max(t * fps, 0.0), len(q) - 1.0)
    i = min(int(x), len(q) - 2) if len(q) > 1 else 0
    a = x - i
    return q[i] if len(q) == 1 else (1 - a) * q[i] + a * q[i + 1]


def _base_pose(base: np.ndarray, t: float, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """Position and MuJoCo (w x y z) quaternion of an x y z qx qy qz qw base path at time t."""
    pose = _interpolate(base, t, fps)
    quat = np.array([pose[6], pose[3], pose[4], pose[5]])
    return pose[:3], quat / np.linalg.norm(quat)


class _Camera:
    def __init__(self, sim: SimModel, size: tuple[int, int], distance: float):
        width, height = size
        self.renderer = mujoco.Renderer(sim.model, height=height, width=width)
        self.camera = mujoco.MjvCamera()
        self.camera.type = mujoco.mjtCamera.mjCAMERA_FREE
        self.camera.distance, self.camera.azimuth, self.camera.elevation = distance, 150.0, -12.0
        self.option = mujoco.MjvOption()
        self.option.geomgroup[:] = 0
        self.option.geomgroup[1] = self.option.geomgroup[FLOOR_GROUP] = 1   # visual meshes + floor
        self.root = sim.root_body
        # Software GL (llvmpipe) spends most of a frame on shadows and reflections.
        for flag in (mujoco.mjtRndFlag.mjRND_SHADOW, mujoco.mjtRndFlag.mjRND_REFLECTION, mujoco.mjtRndFlag.mjRND_SKYBOX):
            self.renderer.scene.flags[flag] = False

    def render(self, data: mujoco.MjData) -> np.ndarray:
        self.camera.lookat[:] = [data.xpos[self.root][0], data.xpos[self.root][1], 0.6 * data.xpos[self.root][2]]
        self.renderer.update_scene(data, self.camera, self.option)
        return self.renderer.render().copy()

    def close(self) -> None:
        self.renderer.close()


def play(trajectory, robot: RobotConfig, *, fixed_base: bool = False, render_size: tuple[int, int] | None = None,
         camera_distance: float = 3.0, timestep: float = 0.002) -> SimReport:
    """Simulate `trajectory` (anything with q (T, n) in robot.joint_names order, base (T, 7) or
    None, and fps: a RetargetResult or a loaded trajectory file) and report."""
    q = np.asarray(trajectory.q, dtype=np.float64)
    base = None if trajectory.base is None else np.asarray(trajectory.base, dtype=np.float64)
    fps = float(trajectory.fps)
    if q.ndim != 2 or q.shape[1] != robot.num_joints or len(q) == 0:
        raise DanceMosaicError(f"trajectory q has shape {q.shape}; expected (frames, {robot.num_joints}) in "
                               f"the joint order of robot {robot.name!r} (retarget with --robot {robot.name})")
    if not np.isfinite(q).all() or (base is not None and not np.isfinite(base).all()):
        raise DanceMosaicError("trajectory has NaN or infinite values; retarget the motion again")
    sim = build_sim_model(robot, fixed_base=fixed_base, timestep=timestep)
    model = sim.model
    data = mujoco.MjData(model)
    if not fixed_base:
        if base is None:
            pos, quat = np.array([0.0, 0.0, robot.standing_height]), np.array([1.0, 0, 0, 0])
        else:
            pos, quat = _base_pose(base, 0.0, fps)
        adr = model.jnt_qposadr[model.body_jntadr[sim.root_body]]
        data.qpos[adr:adr + 3], data.qpos[adr + 3:adr + 7] = pos, quat
    data.qpos[sim.joint_qpos] = q[0]
    data.ctrl[sim.actuators] = q[0]
    mujoco.mj_forward(model, data)

    camera = _Camera(sim, render_size, camera_distance) if render_size else None
    frames, heights, contacts, sim_q, feet_xy = [], [], [], [], []
    steps_per_frame = max(1, int(round(1.0 / (fps * timestep))))
    physics_seconds = 0.0
    floor = sim.floor_geom
    for f in range(len(q)):
        if f > 0:
            start = time.perf_counter()
            for s in range(steps_per_frame):
                t = (f - 1 + (s + 1) / steps_per_frame) / fps
                data.ctrl[sim.actuators] = _interpolate(q, t, fps)
                if fixed_base and base is not None:
                    model.body_pos[sim.root_body], model.body_quat[sim.root_body] = _base_pose(base, t, fps)
                mujoco.mj_step(model, data)
            physics_seconds += time.perf_counter() - start
        elif fixed_base and base is not None:
            model.body_pos[sim.root_body], model.body_quat[sim.root_body] = _base_pose(base, 0.0, fps)
            mujoco.mj_forward(model, data)
        heights.append(data.xpos[sim.root_body][2])
        pairs = data.contact.geom[:data.ncon]
        other = np.where(pairs[:, 0] == floor, pairs[:, 1], pairs[:, 0])[(pairs == floor).any(axis=1)]
        touched_bodies = set(model.geom_bodyid[other].tolist())
        contacts.append([b in touched_bodies for b in sim.foot_bodies])
        feet_xy.append(data.xpos[sim.foot_bodies][:, :2].copy())
        sim_q.append(data.qpos[sim.joint_qpos].copy())
        if camera:
            frames.append(camera.render(data))
    if camera:
        camera.close()

    heights, contacts, sim_q, feet_xy = map(np.asarray, (heights, contacts, sim_q, feet_xy))
    fall_height = float(robot.sim.get("fall_height", 0.5 * robot.standing_height))
    fallen = np.flatnonzero(heights < fall_height)
    staying = contacts[1:] & contacts[:-1]
    slip = np.linalg.norm(np.diff(feet_xy, axis=0), axis=-1) * fps
    error = np.abs(sim_q - q)
    near_limit = (sim_q <= robot.lower + LIMIT_MARGIN) | (sim_q >= robot.upper - LIMIT_MARGIN)
    seconds = (len(q) - 1) / fps
    return SimReport(
        fell=bool(len(fallen)), fall_time=float(fallen[0] / fps) if len(fallen) else None, seconds=seconds,
        foot_contact_fraction=float(contacts.any(axis=1).mean()),
        foot_slip=float(slip[staying].mean()) if staying.any() else 0.0,
        tracking_error=float(error.mean()), tracking_error_max=float(error.max()),
        limit_hits=int(near_limit.sum()),
        real_time_factor=seconds / physics_seconds if physics_seconds > 0 else float("inf"),
        pelvis_height=heights, contacts=contacts,
        frames=np.stack(frames) if frames else None)
