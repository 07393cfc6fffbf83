"""Stabilizer node: balance feedback for a real G1 between the retarget node and the controller.

    retarget_node (stabilized:=true) --dance/reference (JointTrajectory)------------> stabilizer_node
                                     --dance/base_reference (MultiDOFJointTrajectory)-^   |
    robot: /joint_states (sensor_msgs/JointState), /imu (sensor_msgs/Imu) ---------------^   |
    stabilizer_node --/<controller>/joint_trajectory (JointTrajectory) at `rate` Hz ---------v

The reference is what the retarget node would have sent the controller (the whole remaining plan)
and the floating-base plan of the same chunks; both are resampled on one grid (`reference_fps`)
into dancemosaic_core.retarget.stabilizer.StreamingStabilizer. The robot's base state comes from
dancemosaic_core.retarget.estimator.BaseEstimator (pelvis IMU orientation, rate and linear
acceleration, leg odometry on the reference's stance feet: a G1 has no foot force sensors).
Every tick the correction (leg-joint offsets, the law the MuJoCo playback runs) moves the offset
at most `offset_rate` rad/s toward its new value (control.offsets.OffsetLimiter), and the
stabilizer publishes the reference's remaining plan from now + command_lead on, shifted by the
offset, clipped into the position (minus position_margin) and velocity limits: the
joint_trajectory_controller contract of docs/ros.md (the whole remaining future in every message).
Each point's effort holds the reference's torque feed-forward (retarget/feedforward.py; the first
point's for the feet the law holds the robot on, the later ones' for the reference's schedule),
which a G1 low-level bridge sends as tau beside q, kp and kd (`feedforward:=false`: no efforts).

Safety: joint state or IMU older than their timeouts -> the wanted offset is 0 (the plan returns
to the reference at offset_rate, then passes through unchanged; counted as stale ticks); bad
messages are refused, counted and logged, and the node keeps its last good input; while the
retarget node reports STATE_HOLDING (dance/estop) the stabilizer sends nothing of its own: it
forwards the retarget node's plan (the stop) unchanged, at once and on every new message.
"""
from __future__ import annotations

import threading

import numpy as np
from dancemosaic.msg import DanceStatus
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from sensor_msgs.msg import Imu, JointState
from trajectory_msgs.msg import JointTrajectory, MultiDOFJointTrajectory

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.control import JointLimits, Segment
from dancemosaic_core.control.offsets import OffsetLimiter
from dancemosaic_core.retarget.estimator import BaseEstimator, EstimatorOptions, rotation_of
from dancemosaic_core.retarget.feedforward import FeedforwardOptions, contact_torques
from dancemosaic_core.retarget.io import interpolate_poses
from dancemosaic_core.retarget.stabilizer import StabilizerOptions, StreamingStabilizer
from dancemosaic_ros.convert import base_trajectory_poses, joint_trajectory_msg, joint_trajectory_points
from dancemosaic_ros.dance_node import DanceNode
from dancemosaic_ros.params import Param, number
from dancemosaic_ros.run import run_nodes


def _unit_quaternion(value) -> str | None:
    try:
        rotation_of(list(value), "imu_orientation")
    except (DanceMosaicError, TypeError, ValueError) as exc:
        return str(exc)
    return None


GAINS = StabilizerOptions()
FEEDFORWARD_AHEAD_S = 4.0      # s of reference the torque feed-forward is computed for at a time
PARAMS = {
    "robot": Param("g1", "robot: a name of config/robots/ (e.g. g1) or a robot YAML path", read_only=True),
    "controller": Param("joint_trajectory_controller", "publishes /<controller>/joint_trajectory", read_only=True),
    "reference_topic": Param("dance/reference", "the retarget node's plan (JointTrajectory, stabilized:=true)",
                             read_only=True),
    "base_reference_topic": Param("dance/base_reference", "the retarget node's floating-base plan "
                                  "(MultiDOFJointTrajectory)", read_only=True),
    "dance_status_topic": Param("dance/status", "the retarget node's DanceStatus (e-stop: STATE_HOLDING)",
                                read_only=True),
    "state_topic": Param("/joint_states", "the robot's measured joint state (sensor_msgs/JointState)", read_only=True),
    "imu_topic": Param("/imu", "the pelvis IMU (sensor_msgs/Imu: orientation x y z w, angular velocity in IMU axes)",
                       read_only=True),
    "imu_orientation": Param([0.0, 0.0, 0.0, 1.0], "x y z w: the IMU's axes in the pelvis frame (identity: "
                             "aligned)", _unit_quaternion, read_only=True),
    "rate": Param(100.0, "Hz of the corrected commands (the controller rate or below)", number(1, 1000),
                  read_only=True),
    "reference_fps": Param(20.0, "grid of the reference the law reads (the retarget node's fps)", number(1, 240),
                           read_only=True),
    "command_lead": Param(0.02, "seconds ahead of now of the first corrected point", number(0, 1)),
    "state_timeout": Param(0.05, "seconds after which the joint state is stale (then: pass through)",
                           number(0, 5, above=True)),
    "imu_timeout": Param(0.05, "seconds after which the IMU is stale (then: pass through)", number(0, 5, above=True)),
    "position_margin": Param(0.02, "radians kept inside every joint's position limits", number(0, 0.5),
                             read_only=True),
    "max_offset": Param(0.2, "radians: largest correction of one joint target", number(0, 0.5), read_only=True),
    "offset_rate": Param(1.0, "rad/s: fastest change of a correction", number(0, 10, above=True), read_only=True),
    "com_gain": Param(GAINS.com_gain, "m of CoM correction per m of capture-point error", number(0, 20)),
    "tilt_gain": Param(GAINS.tilt_gain, "rad of correction per rad of base roll / pitch error", number(0, 20)),
    "tilt_damping": Param(GAINS.tilt_damping, "rad of correction per rad/s of base roll / pitch rate", number(0, 5)),
    "velocity_time_constant": Param(0.2, "s: how fast the base velocity follows the stance legs' velocity rather "
                                         "than the integrated IMU acceleration", number(0, 1), read_only=True),
    "feedforward": Param(True, "send the reference's inverse-dynamics joint torques (for the feet holding the "
                         "robot) in each point's effort: a G1's tau command", read_only=True),
    "feedforward_scale": Param(FeedforwardOptions().scale, "fraction of the feed-forward torque", number(0, 2),
                               read_only=True),
    "keep_seconds": Param(2.0, "seconds of past reference kept", number(0.5, 30), read_only=True),
    "status_rate": Param(2.0, "Hz of stabilizer/status", number(0, 100, above=True), read_only=True),
}


class StabilizerNode(DanceNode):
    def __init__(self, **kwargs):
        super().__init__("stabilizer_node", PARAMS, "stabilizer/status", **kwargs)
        p = self.params
        from dancemosaic_core.retarget import load_robot
        self.robot = load_robot(p["robot"])
        self.joint_names = list(self.robot.joint_names)
        self._joint_index = {name: i for i, name in enumerate(self.joint_names)}
        options = StabilizerOptions(com_gain=p["com_gain"], tilt_gain=p["tilt_gain"], tilt_damping=p["tilt_damping"],
                                    max_offset=p["max_offset"])
        self.law = StreamingStabilizer(self.robot, p["reference_fps"], options, p["keep_seconds"])
        self.estimator = BaseEstimator(self.robot, EstimatorOptions(p["velocity_time_constant"],
                                                                    tuple(p["imu_orientation"])))
        margin = p["position_margin"]
        limits = JointLimits(self.robot.lower + margin, self.robot.upper - margin, self.robot.velocity, 1.0 / p["rate"])
        self.offsets = OffsetLimiter(limits, p["offset_rate"], p["max_offset"])
        self.feedforward = FeedforwardOptions(scale=p["feedforward_scale"]) if p["feedforward"] else None
        self.torques = None                    # (t0, ContactTorques) of the reference from just before now on
        self.epoch_ns = self.get_clock().now().nanoseconds
        self.plan = None                       # (msg, times, positions, velocities) of the latest reference
        self.base_plan = None                  # (times, poses) of the base reference
        self.measured = np.full(len(self.joint_names), np.nan)
        self.measured_velocity = np.full(len(self.joint_names), np.nan)
        self.measured_at = np.full(len(self.joint_names), -np.inf)
        self.imu = None                        # (time, quaternion x y z w, rate, acceleration or None)
        self.holding = False
        self.counts = dict(stale_ticks=0, corrected_ticks=0)
        # the tick has a callback group of its own and shares the state above with the input
        # callbacks under this lock: in one mutually exclusive group, a tick that takes longer than
        # its period (tens of ms on a loaded machine) is ready again whenever the group frees, and
        # rclpy's executor then never serves the inputs (the e-stop status and the sensors starved
        # for seconds; seen as bad messages never counted in the ROS tests)
        self._control = threading.Lock()

        topic = f"/{p['controller'].strip('/')}/joint_trajectory"
        self.command_publisher = self.create_publisher(JointTrajectory, topic, 10)
        inputs = MutuallyExclusiveCallbackGroup()      # the inputs change the law and the plan in turn
        self.create_subscription(JointTrajectory, p["reference_topic"], self._on_reference, 10, callback_group=inputs)
        self.create_subscription(MultiDOFJointTrajectory, p["base_reference_topic"], self._on_base_reference, 10,
                                 callback_group=inputs)
        self.create_subscription(DanceStatus, p["dance_status_topic"], self._on_dance_status, 10,
                                 callback_group=inputs)
        self.create_subscription(JointState, p["state_topic"], self._on_joint_state, 10, callback_group=inputs)
        self.create_subscription(Imu, p["imu_topic"], self._on_imu, 50, callback_group=inputs)
        self.create_timer(1.0 / p["rate"], self._tick, callback_group=MutuallyExclusiveCallbackGroup())
        self.create_timer(1.0 / p["status_rate"], self.publish_status, callback_group=MutuallyExclusiveCallbackGroup())
        self.get_logger().info(f"{self.robot.name}: stabilizing {p['reference_topic']} -> {topic} at {p['rate']:g} Hz")

    def _now(self) -> float:
        return (self.get_clock().now().nanoseconds - self.epoch_ns) * 1e-9

    def parameters_changed(self, names: set[str]) -> None:
        with self._control:
            for name in {"com_gain", "tilt_gain", "tilt_damping"} & names:
                setattr(self.law.options, name, self.params[name])

    # --- the reference -------------------------------------------------------------------------
    def _on_reference(self, msg: JointTrajectory) -> None:
        try:
            times, positions, velocities = joint_trajectory_points(msg, self.joint_names, self.epoch_ns)
        except DanceMosaicError as exc:
            self.refuse("reference", f"reference trajectory refused: {exc}")
            return
        with self._control:
            self._replan(msg, times, positions, velocities)
        self._update_feedforward()

    def _replan(self, msg: JointTrajectory, times: np.ndarray, positions: np.ndarray, velocities: np.ndarray) -> None:
        if self.plan is not None:   # the retarget node never changes the points before a message's first
            _, old_times, old_positions, old_velocities = self.plan
            keep = (old_times < times[0]) & (old_times >= self._now() - 1.0)
            times = np.concatenate([old_times[keep], times])
            positions = np.concatenate([old_positions[keep], positions])
            velocities = np.concatenate([old_velocities[keep], velocities])
        self.plan = (msg, times, positions, velocities)
        if self.holding:
            self.command_publisher.publish(msg)        # e-stop: the retarget node's plan, untouched
            return
        self._rebuild()

    def _on_base_reference(self, msg: MultiDOFJointTrajectory) -> None:
        try:
            times, poses = base_trajectory_poses(msg, self.epoch_ns)
        except DanceMosaicError as exc:
            self.refuse("reference", f"base reference refused: {exc}")
            return
        with self._control:
            if self.base_plan is not None:        # the new poses replace the plan from their first time on
                old_times, old_poses = self.base_plan
                keep = (old_times < times[0]) & (old_times >= self._now() - self.params["keep_seconds"])
                times, poses = np.concatenate([old_times[keep], times]), np.concatenate([old_poses[keep], poses])
            self.base_plan = (times, poses)
            self._rebuild()
        self._update_feedforward()

    def _rebuild(self) -> None:
        """The plan and the base plan resampled on the reference grid, into the law."""
        if self.plan is None or self.base_plan is None:
            return
        _, times, positions, _ = self.plan
        fps = self.params["reference_fps"]
        grid = np.arange(np.ceil(times[0] * fps - 1e-6), np.floor(times[-1] * fps + 1e-6) + 1) / fps
        if not len(grid):
            grid = np.array([np.round(times[-1] * fps) / fps])
        q = np.stack([np.interp(grid, times, positions[:, j]) for j in range(positions.shape[1])], axis=-1)
        try:
            self.law.extend(float(grid[0]), q, interpolate_poses(*self.base_plan, grid), now=self._now())
        except DanceMosaicError as exc:
            self.refuse("reference", f"reference refused: {exc}")

    def _feedforward_inputs(self) -> tuple | None:
        """(t0, q, base) of the held reference from the frame before now on, FEEDFORWARD_AHEAD_S of it
        (the past is never sent; a long plan is covered piece by piece), copied; None when off."""
        law = self.law
        if self.feedforward is None or len(law.q) < 2:
            return None
        first = min(max(int(np.floor((self._now() - law.t0) * law.fps)) - 1, 0), len(law.q) - 2)
        last = first + max(2, int(round(FEEDFORWARD_AHEAD_S * law.fps)))
        return law.t0 + first / law.fps, law.q[first:last].copy(), law.base[first:last].copy()

    def _torques(self, inputs: tuple | None):
        return None if inputs is None else \
            (inputs[0], contact_torques(self.robot, inputs[1], inputs[2], self.law.fps, self.feedforward))

    def _update_feedforward(self) -> None:
        """The feed-forward of a new reference, computed outside the control lock (~0.7 ms a frame:
        the ticks go on meanwhile with the torques before it)."""
        with self._control:
            inputs = self._feedforward_inputs()
        torques = self._torques(inputs)
        with self._control:
            self.torques = torques

    def _feedforward_covers(self, now: float) -> bool:
        """The torques held cover the next half of FEEDFORWARD_AHEAD_S (or the reference's end)."""
        if self.torques is None:
            return self.feedforward is None or len(self.law.q) < 2
        t0, torques = self.torques
        end = t0 + (len(torques.torques) - 1) / torques.fps
        return end >= min(now + FEEDFORWARD_AHEAD_S / 2, self.law.end_time - 1e-9)

    def _efforts(self, times: np.ndarray, measured: bool) -> np.ndarray | None:
        """Feed-forward (M, n) at the command's point times: the first for the feet the law holds the
        robot on now (when it saw the state), the later ones for the reference's schedule."""
        if self.torques is None:
            return None
        t0, torques = self.torques
        stance = self.law.stance if measured else None
        return np.stack([torques.at(t - t0, stance if i == 0 else None) for i, t in enumerate(times)])

    def _on_dance_status(self, msg: DanceStatus) -> None:
        with self._control:
            self._follow_dance_state(msg)

    def _follow_dance_state(self, msg: DanceStatus) -> None:
        holding = msg.generator_state == DanceStatus.STATE_HOLDING
        if holding and not self.holding:
            self.message = "the dance stack holds (e-stop): forwarding its plan uncorrected until it resumes"
            self.get_logger().warning(self.message)
            if self.plan is not None:
                self.command_publisher.publish(self.plan[0])
        elif self.holding and not holding:
            self.message = "the dance stack resumed: stabilizing again"
            self.get_logger().info(self.message)
        if holding:
            self.offsets.reset()
            self.estimator.reset()
        self.holding = holding

    # --- the robot's state ---------------------------------------------------------------------
    def _on_joint_state(self, msg: JointState) -> None:
        pairs = [(self._joint_index[name], i) for i, name in enumerate(msg.name) if name in self._joint_index]
        if not pairs:
            self.refuse("joint_state", f"joint state names none of {self.robot.name}'s joints (got "
                                       f"{list(msg.name)[:3]}...); publish the robot's joint names")
            return
        if len(msg.position) != len(msg.name) or len(msg.velocity) not in (0, len(msg.name)):
            self.refuse("joint_state", f"joint state with {len(msg.name)} names, {len(msg.position)} positions and "
                                       f"{len(msg.velocity)} velocities; give one position (and velocity) per name")
            return
        joints, columns = (list(x) for x in zip(*pairs))
        values = np.asarray(msg.position, np.float64)[columns]
        speeds = np.asarray(msg.velocity, np.float64)[columns] if len(msg.velocity) else np.full(len(columns), np.nan)
        if not np.isfinite(values).all() or np.isinf(speeds).any():
            self.refuse("joint_state", "joint state holds NaN or infinite values; the robot's state publisher is broken")
            return
        with self._control:
            self.measured[joints], self.measured_velocity[joints] = values, speeds
            self.measured_at[joints] = self._now()

    def _on_imu(self, msg: Imu) -> None:
        o, w, a = msg.orientation, msg.angular_velocity, msg.linear_acceleration
        quaternion, rate = np.array([o.x, o.y, o.z, o.w]), np.array([w.x, w.y, w.z])
        # no accelerometer (covariance[0] = -1): the base velocity falls back to the low-passed legs'
        acceleration = None if msg.linear_acceleration_covariance[0] == -1.0 else np.array([a.x, a.y, a.z])
        try:
            if msg.orientation_covariance[0] == -1.0:
                raise DanceMosaicError("the IMU reports no orientation (orientation_covariance[0] = -1); the "
                                       "stabilizer needs the IMU's fused orientation")
            rotation_of(quaternion)
            if not np.isfinite(rate).all():
                raise DanceMosaicError("IMU angular velocity holds NaN or infinite values")
            if acceleration is not None and not np.isfinite(acceleration).all():
                raise DanceMosaicError("IMU linear acceleration holds NaN or infinite values")
        except DanceMosaicError as exc:
            self.refuse("imu", f"IMU message refused: {exc}")
            return
        with self._control:
            self.imu = (self._now(), quaternion, rate, acceleration)

    # --- the control tick --------------------------------------------------------------------
    def _wanted(self, now: float) -> np.ndarray | None:
        """The law's offsets for the measured state, or None when the state is stale."""
        p = self.params
        if self.imu is None or now - self.imu[0] > p["imu_timeout"] or \
                np.any(now - self.measured_at > p["state_timeout"]) or self.law.end_time is None:
            return None
        reference = self.law.reference_at(now)
        velocity = None if np.isnan(self.measured_velocity).any() else self.measured_velocity
        try:
            base, v = self.estimator.update(now, self.measured, velocity, self.imu[1], self.imu[2],
                                            reference.contacts, reference.feet, reference.base, self.imu[3])
            return self.law.correction(now, self.measured, base, v)
        except DanceMosaicError as exc:
            self.refuse("state", f"state estimate failed: {exc}")
            return None

    def _tick(self) -> None:
        with self._control:
            self._command()

    def _command(self) -> None:
        """Step the offsets toward the law's correction and send the shifted plan (with the lock)."""
        if self.holding or self.plan is None:
            return
        now = self._now()
        wanted = self._wanted(now)
        measured = wanted is not None
        if wanted is None:
            self.counts["stale_ticks"] += 1
            self.estimator.reset()
            wanted = np.zeros(len(self.joint_names))
        else:
            self.counts["corrected_ticks"] += 1
        self.offsets.step(wanted, 1.0 / self.params["rate"])
        if not self._feedforward_covers(now):     # a plan longer than the torques held: the next piece
            self.torques = self._torques(self._feedforward_inputs())
        _, times, positions, velocities = self.plan
        start = now + self.params["command_lead"]
        ahead = times > start + 1e-6
        first = np.array([np.interp(start, times, positions[:, j]) for j in range(positions.shape[1])])
        first_velocity = np.array([np.interp(start, times, velocities[:, j]) for j in range(velocities.shape[1])]) \
            if ahead.any() else np.zeros(len(first))
        q, v = self.offsets.apply(np.vstack([first, positions[ahead]]), np.vstack([first_velocity, velocities[ahead]]))
        point_times = np.concatenate([[start], times[ahead]])
        segment = Segment(stamp=now, times=point_times, positions=q, velocities=v,
                          efforts=self._efforts(point_times, measured))
        self.command_publisher.publish(joint_trajectory_msg(segment, self.joint_names, self.epoch_ns))

    def status_fields(self, msg: DanceStatus) -> None:
        msg.generator_state = DanceStatus.STATE_HOLDING if self.holding else \
            DanceStatus.STATE_DANCING if self.plan is not None else DanceStatus.STATE_IDLE
        msg.limit_clamps = self.offsets.clamps
        counts = (f"{self.counts['corrected_ticks']} corrected ticks, {self.counts['stale_ticks']} stale ticks "
                  f"passed through, largest offset {float(np.abs(self.offsets.offset).max()):.3f} rad")
        msg.message = f"{msg.message}; {counts}" if msg.message else counts


def main(args=None) -> int:
    return run_nodes([StabilizerNode], args)


if __name__ == "__main__":
    raise SystemExit(main())
