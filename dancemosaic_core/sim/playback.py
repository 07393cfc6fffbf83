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
import pinocchio as pin

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.retarget.balance import GRAVITY
from dancemosaic_core.retarget.robot import RobotConfig
from dancemosaic_core.sim.model import FLOOR_GROUP, SimModel, build_sim_model
from dancemosaic_core.retarget.estimator import BaseEstimator
from dancemosaic_core.retarget.feedforward import FeedforwardOptions, contact_torques
from dancemosaic_core.retarget.io import frame_at
from dancemosaic_core.retarget.stabilizer import Stabilizer

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
    # with estimated_state: error of the estimated base (position m, linear velocity m/s, tilt rad)
    estimate_error: dict | None = None

    def summary(self) -> dict:
        return {**({"estimate_error": self.estimate_error} if self.estimate_error else {}),"fell": self.fell, "fall_time_s": self.fall_time, "seconds": self.seconds,
                "foot_contact_fraction": self.foot_contact_fraction, "foot_slip_m_per_s": self.foot_slip,
                "tracking_error_rad": self.tracking_error, "tracking_error_max_rad": self.tracking_error_max,
                "limit_hits": self.limit_hits, "real_time_factor": self.real_time_factor,
                "min_pelvis_height_m": float(self.pelvis_height.min())}

    def verdict(self) -> str:
        """Whether the robot stayed up, and for how long."""
        return (f"fell at {self.fall_time:.2f} s of {self.seconds:.2f} s" if self.fell
                else f"stayed up for all {self.seconds:.2f} s")

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
    i, a = frame_at(t * fps, len(q))
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


class Playback:
    """One simulation run, stepped frame by frame: iterate `frames()` (rendered images, or None
    without a render size) to the end, then read `report()`. Rendering streams this way, so a
    long dance never holds all its frames in memory."""

    def __init__(self, trajectory, robot: RobotConfig, *, fixed_base: bool = False,
                 render_size: tuple[int, int] | None = None, camera_distance: float = 3.0,
                 timestep: float = 0.002, stabilize: bool = False,
                 push: tuple[float, float, np.ndarray] | None = None, estimated_state: bool = False,
                 feedforward: FeedforwardOptions | None = None):
        """stabilize: close the balance loop (retarget/stabilizer.py) on the simulated state at every
        physics step; needs a free-standing robot and a trajectory with a base path.
        estimated_state: the stabilizer sees what a real G1 measures instead of the simulated base:
        the base state of retarget/estimator.py from the pelvis IMU (orientation, angular rate,
        specific force from the pelvis velocity change over a physics step) and the joint encoders,
        as the ROS stabilizer node does.
        push: (start s, duration s, world force (3,) N) applied to the root link.
        feedforward: add the reference's inverse-dynamics torques (retarget/feedforward.py) for the
        feet holding the robot (the stabilizer's stance, else the reference's schedule), sent as a
        shift tau / kp of the position targets: the PD actuator then gives tau + kp (q_des - q) - kd q'
        as a G1's motor does with its tau field."""
        q = np.asarray(trajectory.q, dtype=np.float64)
        base = None if trajectory.base is None else np.asarray(trajectory.base, dtype=np.float64)
        if q.ndim != 2 or q.shape[1] != robot.num_joints or len(q) == 0:
            raise DanceMosaicError(f"trajectory q has shape {q.shape}; expected (frames, {robot.num_joints}) in "
                                   f"the joint order of robot {robot.name!r} (retarget with --robot {robot.name})")
        if not np.isfinite(q).all() or (base is not None and not np.isfinite(base).all()):
            raise DanceMosaicError("trajectory has NaN or infinite values; retarget the motion again")
        if base is not None and base.shape != (len(q), 7):
            raise DanceMosaicError(f"trajectory base has shape {base.shape}; expected ({len(q)}, 7)")
        self.robot, self.q, self.base, self.fps = robot, q, base, float(trajectory.fps)
        self.fixed_base, self.timestep = fixed_base, timestep
        self.sim = build_sim_model(robot, fixed_base=fixed_base, timestep=timestep)
        self.data = mujoco.MjData(self.sim.model)
        self.render_size, self.camera_distance = render_size, camera_distance
        if stabilize and (fixed_base or base is None):
            raise DanceMosaicError("the stabilizer needs a free-standing robot and a floating-base trajectory; "
                                   "drop --fixed-base or retarget without --fixed-base")
        self.stabilizer = Stabilizer(robot, trajectory) if stabilize else None
        if estimated_state and not stabilize:
            raise DanceMosaicError("the estimated state feeds the stabilizer; it needs stabilize (drop --no-stabilize)")
        self.estimator = BaseEstimator(robot) if estimated_state else None
        if feedforward is not None and (fixed_base or base is None):
            raise DanceMosaicError("the torque feed-forward needs a free-standing robot and a floating-base "
                                   "trajectory; drop --fixed-base (or --no-feedforward)")
        self.feedforward = None if feedforward is None else contact_torques(robot, q, base, self.fps, feedforward)
        self.kp = self.sim.model.actuator_gainprm[self.sim.actuators, 0].copy()   # the position actuators' kp
        self.estimate_errors = []          # per physics step: position, velocity, tilt error
        self.last_base_velocity = None     # world, m/s: the simulated accelerometer differences it
        self.push = None if push is None else (float(push[0]), float(push[1]), np.asarray(push[2], np.float64))
        self.log = {"height": [], "contacts": [], "q": [], "feet": []}
        self.physics_seconds = 0.0
        self.done = False

    def _start(self) -> None:
        sim, model, data, q = self.sim, self.sim.model, self.data, self.q
        if not self.fixed_base:
            if self.base is None:
                pos, quat = np.array([0.0, 0.0, self.robot.standing_height]), np.array([1.0, 0, 0, 0])
            else:
                pos, quat = _base_pose(self.base, 0.0, self.fps)
            adr = model.jnt_qposadr[model.body_jntadr[sim.root_body]]
            data.qpos[adr:adr + 3], data.qpos[adr + 3:adr + 7] = pos, quat
        elif self.base is not None:
            model.body_pos[sim.root_body], model.body_quat[sim.root_body] = _base_pose(self.base, 0.0, self.fps)
        data.qpos[sim.joint_qpos] = q[0]
        data.ctrl[sim.actuators] = q[0]
        mujoco.mj_forward(model, data)

    def _advance(self, f: int) -> None:
        """Step the physics from frame f - 1 to frame f."""
        sim, model, data = self.sim, self.sim.model, self.data
        steps = max(1, round(1.0 / (self.fps * self.timestep)))
        start = time.perf_counter()
        for s in range(steps):
            t = (f - 1 + (s + 1) / steps) / self.fps
            target = _interpolate(self.q, t, self.fps)
            if self.stabilizer is not None:
                # the feedback stays clear of the limits the reference itself keeps away from
                lower = np.minimum(target, self.robot.lower + 2 * LIMIT_MARGIN)
                upper = np.maximum(target, self.robot.upper - 2 * LIMIT_MARGIN)
                state = self._state() if self.estimator is None else self._estimated_state(t)
                target = np.clip(target + self.stabilizer.correction(t, *state), lower, upper)
            if self.feedforward is not None:
                stance = self.stabilizer.stance if self.stabilizer is not None else None
                target = target + self.feedforward.at(t, stance) / self.kp
            data.ctrl[sim.actuators] = target
            if self.push is not None:
                begin, duration, force = self.push
                data.xfrc_applied[sim.root_body, :3] = force if begin <= t < begin + duration else 0.0
            if self.fixed_base and self.base is not None:
                model.body_pos[sim.root_body], model.body_quat[sim.root_body] = _base_pose(self.base, t, self.fps)
            mujoco.mj_step(model, data)
        self.physics_seconds += time.perf_counter() - start

    def _state(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Simulated joints, base pose (x y z qx qy qz qw) and Pinocchio velocity (base twist in
        the base frame, then the joints in the order of the stabilizer's model)."""
        sim, model, data = self.sim, self.sim.model, self.data
        joint = model.body_jntadr[sim.root_body]
        qa, va = model.jnt_qposadr[joint], model.jnt_dofadr[joint]
        w, x, y, z = data.qpos[qa + 3:qa + 7]
        base = np.array([*data.qpos[qa:qa + 3], x, y, z, w])
        R = data.xmat[sim.root_body].reshape(3, 3)
        v = np.zeros(self.stabilizer.model.nv)
        v[:3] = R.T @ data.qvel[va:va + 3]       # MuJoCo: world linear, body angular velocity
        v[3:6] = data.qvel[va + 3:va + 6]
        v[self.stabilizer.jv] = data.qvel[sim.joint_dof]
        return data.qpos[sim.joint_qpos].copy(), base, v

    def _estimated_state(self, t: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The state from the pelvis IMU and the encoders (retarget/estimator.py); its error against
        the simulated state is logged."""
        q, base, v = self._state()
        sim, data = self.sim, self.data
        w, x, y, z = data.xquat[sim.root_body]
        rate = v[3:6]                              # gyro: the pelvis angular velocity, pelvis axes
        R = pin.XYZQUATToSE3(base).rotation
        # accelerometer: the specific force of the pelvis over the last physics step, pelvis axes
        velocity = R @ v[:3]
        acceleration = np.zeros(3) if self.last_base_velocity is None else \
            (velocity - self.last_base_velocity) / self.timestep
        self.last_base_velocity = velocity
        specific_force = R.T @ (acceleration + np.array([0.0, 0.0, GRAVITY]))
        reference = self.stabilizer.reference_at(t)
        estimated, v_est = self.estimator.update(t, q, v[self.stabilizer.jv], np.array([x, y, z, w]), rate,
                                                 reference.contacts, reference.feet, reference.base, specific_force)
        R_est = pin.XYZQUATToSE3(estimated).rotation
        self.estimate_errors.append((np.linalg.norm(estimated[:3] - base[:3]),
                                     np.linalg.norm(R_est @ v_est[:3] - R @ v[:3]),
                                     np.linalg.norm(pin.log3(R_est @ R.T)[:2])))
        return q, estimated, v_est

    def _measure(self) -> None:
        sim, model, data = self.sim, self.sim.model, self.data
        pairs = data.contact.geom[:data.ncon]
        floor = sim.floor_geom
        other = np.where(pairs[:, 0] == floor, pairs[:, 1], pairs[:, 0])[(pairs == floor).any(axis=1)]
        touched = set(model.geom_bodyid[other].tolist())
        self.log["height"].append(data.xpos[sim.root_body][2])
        self.log["contacts"].append([b in touched for b in sim.foot_bodies])
        self.log["feet"].append(data.xpos[sim.foot_bodies][:, :2].copy())
        self.log["q"].append(data.qpos[sim.joint_qpos].copy())

    def frames(self):
        """Simulate the whole trajectory, yielding one rendered frame (or None) per trajectory frame."""
        camera = _Camera(self.sim, self.render_size, self.camera_distance) if self.render_size else None
        try:
            self._start()
            for f in range(len(self.q)):
                if f > 0:
                    self._advance(f)
                self._measure()
                yield camera.render(self.data) if camera else None
            self.done = True
        finally:
            if camera:
                camera.close()

    def report(self, frames: np.ndarray | None = None) -> SimReport:
        if not self.done:
            raise DanceMosaicError("the playback has not run to the end; iterate frames() first")
        robot, q, fps = self.robot, self.q, self.fps
        heights, contacts, sim_q, feet = (np.asarray(self.log[k]) for k in ("height", "contacts", "q", "feet"))
        fall_height = float(robot.sim.get("fall_height", 0.5 * robot.standing_height))
        fallen = np.flatnonzero(heights < fall_height)
        staying = contacts[1:] & contacts[:-1]
        slip = np.linalg.norm(np.diff(feet, axis=0), axis=-1) * fps
        error = np.abs(sim_q - q)
        near_limit = (sim_q <= robot.lower + LIMIT_MARGIN) | (sim_q >= robot.upper - LIMIT_MARGIN)
        seconds = (len(q) - 1) / fps
        return SimReport(
            fell=bool(len(fallen)), fall_time=float(fallen[0] / fps) if len(fallen) else None, seconds=seconds,
            foot_contact_fraction=float(contacts.any(axis=1).mean()),
            foot_slip=float(slip[staying].mean()) if staying.any() else 0.0,
            tracking_error=float(error.mean()), tracking_error_max=float(error.max()),
            limit_hits=int(near_limit.sum()),
            real_time_factor=seconds / self.physics_seconds if self.physics_seconds > 0 else float("inf"),
            pelvis_height=heights, contacts=contacts, frames=frames,
            estimate_error=self._estimate_error(int(fallen[0]) if len(fallen) else None))

    def _estimate_error(self, fall_frame: int | None) -> dict | None:
        """Mean and max error of the estimated base until the fall (None without an estimator)."""
        if self.estimator is None or not self.estimate_errors:
            return None
        steps = max(1, round(1.0 / (self.fps * self.timestep)))
        errors = np.asarray(self.estimate_errors)[:None if fall_frame is None else fall_frame * steps]
        errors = errors if len(errors) else np.asarray(self.estimate_errors)
        return {f"{name}_{k}": float(f(errors[:, i])) for i, name in
                enumerate(("position_m", "velocity_m_per_s", "tilt_rad")) for k, f in (("mean", np.mean), ("max", np.max))}


def play(trajectory, robot: RobotConfig, *, fixed_base: bool = False, render_size: tuple[int, int] | None = None,
         camera_distance: float = 3.0, timestep: float = 0.002, stabilize: bool = False,
         push: tuple[float, float, np.ndarray] | None = None, estimated_state: bool = False,
         feedforward: FeedforwardOptions | None = None) -> SimReport:
    """Simulate `trajectory` (anything with q (T, n) in robot.joint_names order, base (T, 7) or
    None, and fps: a RetargetResult or a loaded trajectory file) and report; with `render_size`
    (width, height) the report holds the rendered frames (N, H, W, 3) uint8."""
    run = Playback(trajectory, robot, fixed_base=fixed_base, render_size=render_size,
                   camera_distance=camera_distance, timestep=timestep, stabilize=stabilize, push=push,
                   estimated_state=estimated_state, feedforward=feedforward)
    frames = [f for f in run.frames() if f is not None]
    return run.report(np.stack(frames) if frames else None)
