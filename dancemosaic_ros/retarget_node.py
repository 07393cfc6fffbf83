"""Retarget node: MotionChunk -> robot joints (Retargeter.step) -> SafetyFilter -> JointTrajectory.

Publishes `/<controller>/joint_trajectory` (trajectory_msgs/JointTrajectory) under the
joint_trajectory_controller contract (docs/ros.md, of the same name): every controller joint in the
robot's order, positions and velocities, `time_from_start` strictly increasing from a stamp on
the music clock, each message the whole remaining future (the controller replaces its
trajectory with every message; dancemosaic_core.control.streamer). Also `dance/joint_states`
(sensor_msgs/JointState, for visualisation), `dance/base_pose` (geometry_msgs/PoseStamped: the
floating-base reference pose at now, frame `world`) and `dance/status` (DanceStatus; its message
ends with the last chunk's ZMP margin).

Safety: no point outside the position limits (minus position_margin), no step over the velocity
limits; silence or lost audio for `silence_timeout` (told by the audio node's `audio/level`, a few
messages a second: this node takes no samples) eases to the neutral pose; a chunk that is not
there when the plan runs out extends the motion smoothly to rest (a deadline miss); services
`dance/estop` (hold position) and `dance/resume` (std_srvs/Trigger); `balance_guard` refuses a
chunk whose windowed ZMP margin falls below `min_zmp_margin` (dancemosaic_core.retarget.balance).
With `stabilized` the plan goes to the stabilizer node instead (`dance/reference`, and the
floating-base plan as trajectory_msgs/MultiDOFJointTrajectory on `dance/base_reference`), which
corrects it with the robot's measured balance and sends it on (dancemosaic_ros/stabilizer_node.py).

Hand-over (docs/ros.md, "First time on a real robot"): the measured joint state (`state_topic`,
sensor_msgs/JointState) is where the dance starts, ramping in within `handover_fraction` of the
velocity and acceleration limits (dancemosaic_core.control.handover); without a fresh one the node
refuses to start unless `start_without_state`. E-stop, silence and divergence (measured behind
the command by `divergence_threshold`) stop to rest within the same budget, at the measured pose
when it is fresh; harder (up to the full acceleration limit, logged) only where the budget would
carry a joint past its position limit. At start-up the controller hand-shake reports whether the
controller listens.
"""
from __future__ import annotations

import time
from collections import deque

import numpy as np
from dancemosaic.msg import AudioLevel, DanceStatus, MotionChunk
from geometry_msgs.msg import PoseStamped
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.qos import QoSProfile, qos_profile_services_default
from sensor_msgs.msg import JointState
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory, MultiDOFJointTrajectory

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.control import MotionBudget, SafetyFilter, TrajectoryStreamer
from dancemosaic_core.control.controller_check import (
    ControllerInfo,
    manager_report,
    subscriber_report,
)
from dancemosaic_core.control.dance_stream import NEUTRAL, DanceStream
from dancemosaic_core.motion.skeleton import MOTION_FPS
from dancemosaic_core.retarget.balance import ChunkMargin
from dancemosaic_core.retarget.io import interpolate_poses
from dancemosaic_core.retarget.streaming_balance import StreamingBalance
from dancemosaic_ros.convert import (
    base_pose_msg,
    base_trajectory_msg,
    joint_trajectory_msg,
    motion_joints,
)
from dancemosaic_ros.dance_node import DanceNode
from dancemosaic_ros.params import Param, integer, number
from dancemosaic_ros.run import run_nodes

# Requests of dance/estop and dance/resume queued at once: a storm of callers is served, not dropped.
SERVICE_QUEUE_DEPTH = 256
# Sent messages the divergence watch also accepts the robot to follow (a late one is still
# followed until the next arrives): about 3 s of 0.4 s chunks.
SENT_KEPT = 8
# With stabilized:=true the plan goes to the stabilizer node on these instead of the controller.
REFERENCE_TOPIC, BASE_REFERENCE_TOPIC = "dance/reference", "dance/base_reference"

try:  # the controller manager's interfaces are not among this repository's wheels
    from controller_manager_msgs.srv import ListControllers
except ImportError:
    ListControllers = None

PARAMS = {
    "robot": Param("g1", "robot: a name of config/robots/ (e.g. g1) or a robot YAML path", read_only=True),
    "controller": Param("joint_trajectory_controller", "publishes /<controller>/joint_trajectory", read_only=True),
    "floating_base": Param(True, "retarget with a free-floating pelvis (else the pelvis is fixed)", read_only=True),
    "fps": Param(float(MOTION_FPS), "frame rate of the motion chunks and of the trajectory points",
                 number(1, 240),
                 read_only=True),
    "position_margin": Param(0.02, "radians kept inside every joint's position limits", number(0, 0.5),
                             read_only=True),
    "command_lead": Param(0.1, "seconds ahead of now before which sent points are never changed (transport "
                               "and controller latency)", number(0, 2)),
    "silence_timeout": Param(2.0, "seconds of silent or lost audio before easing to the neutral pose",
                             number(0, 60, above=True)),
    "silence_rms": Param(1e-3, "audio RMS below this is silence (1e-3: -60 dBFS); compared with the loudest "
                               "block of each audio/level interval", number(0, 1)),
    "ease_seconds": Param(1.5, "duration of the ease to the neutral pose (longer if the velocity limits need it)",
                          number(0, 10, above=True)),
    "deadline_margin": Param(0.1, "extend the motion when less than this is planned ahead and no chunk came",
                             number(0, 2)),
    "extend_seconds": Param(0.5, "length of one deadline-miss extension (decays to rest)",
                            number(0, 5, above=True)),
    "joint_state_rate": Param(30.0, "Hz of dance/joint_states", number(0, 1000, above=True),
                             read_only=True),
    "status_rate": Param(2.0, "Hz of dance/status (also sent with every chunk)", number(0, 100, above=True),
                        read_only=True),
    "max_ahead_seconds": Param(10.0, "a chunk stamped further ahead of now than this is refused (a clock "
                                     "jump or a wrong stamp)", number(0, 60, above=True)),
    "state_topic": Param("/joint_states", "the robot's measured joint state (sensor_msgs/JointState)", read_only=True),
    "state_timeout": Param(0.5, "seconds after which a measured joint state is stale", number(0, 60, above=True)),
    "start_without_state": Param(False, "with no measured joint state, start from the neutral pose (no robot, "
                                        "e.g. a demo) instead of refusing to start"),
    "handover_fraction": Param(0.25, "fraction of the velocity and acceleration limits that the ramp into the "
                                     "dance and the stops to rest may use", number(0, 1, above=True), read_only=True),
    "divergence_threshold": Param(0.5, "radians the measured position may be away from the command before "
                                       "the node holds (0 = no divergence watch)", number(0, 10)),
    "divergence_seconds": Param(0.3, "how long the divergence must last before the node holds",
                                number(0, 60, above=True)),
    "balance_guard": Param(False, "refuse a chunk whose ZMP margin (averaged over 0.25 s) falls below "
                                  "min_zmp_margin: its reference would tip a free-standing robot (floating base)"),
    "min_zmp_margin": Param(0.0, "metres: the least windowed ZMP margin balance_guard lets through (negative: "
                                 "outside the support polygon)", number(-0.5, 0.5)),
    "stream_frames": Param(0, "IK streaming: solve and send a chunk this many frames at a time, each group as "
                              "soon as it is solved (0: the whole chunk in one message); not with balance_plan "
                              "or balance_guard, which need the whole chunk", integer(0, 240), read_only=True),
    "balance_plan": Param(False, "balance-aware retargeting of the stream (floating base; retarget/streaming_balance.py): "
                                 "the CoM moves onto the stance foot before a lift-off; about 2.5x the IK time",
                          read_only=True),
    "balance_replan": Param(0.4, "seconds at the end of each chunk that the next chunk plans again, knowing what "
                                 "follows (with balance_plan)", number(0, 2), read_only=True),
    "stabilized": Param(False, "send the plan to the stabilizer node (dance/reference, and the base plan on "
                               "dance/base_reference) instead of the controller", read_only=True),
    "controller_timeout": Param(5.0, "seconds the start-up hand-shake waits for the controller to subscribe",
                                number(0, 600, above=True), read_only=True),
}


class RetargetNode(DanceNode):
    def __init__(self, **kwargs):
        super().__init__("retarget_node", PARAMS, "dance/status", **kwargs)
        p = self.params
        from dancemosaic_core.retarget import Retargeter, load_robot
        self.robot = load_robot(p["robot"])
        self.retargeter = Retargeter(robot=self.robot, floating_base=p["floating_base"])
        self.joint_names = list(self.robot.joint_names)
        self.dt = 1.0 / p["fps"]
        safety = SafetyFilter(lower=self.robot.lower, upper=self.robot.upper, velocity=self.robot.velocity,
                              dt=self.dt, margin=p["position_margin"])
        self.streamer = TrajectoryStreamer(safety=safety, neutral=self.robot.neutral_q)
        # chunks joined to the plan, ramped in from where the robot is at every start
        self.dance = DanceStream(self.streamer, MotionBudget(safety, self.robot.acceleration,
                                                             p["handover_fraction"]))
        self.margins = ChunkMargin(self.robot, p["fps"]) if p["floating_base"] else None
        self.balancer = StreamingBalance(self.retargeter, replan=p["balance_replan"]) \
            if p["balance_plan"] and p["floating_base"] else None
        self.balance_text = ""                  # the last chunk's ZMP margin, for the status message
        self.base_plan = None                   # (times, poses (k, 7)) of the retargeted base, for dance/base_pose

        # streamer times are seconds after this ROS time: float64 stays exact to well under 1 ns
        self.epoch_ns = self.get_clock().now().nanoseconds
        # self._lock (DanceNode) also guards the streamer and these counts: chunks vs timers/services
        self.counts = dict(deadline_misses=0, audio_dropouts=0)
        self.last_chunk = None                  # (msg, end time) of the last chunk used
        self.latency = self.compute = 0.0
        self.last_audio = self.last_sound = None
        self._next_audio_sample = None
        # measured joint positions, when each arrived and when it was measured (its header stamp
        # when plausible, else its arrival), streamer seconds, in the robot's order
        self._joint_index = {name: i for i, name in enumerate(self.joint_names)}
        self.measured = np.full(len(self.joint_names), np.nan)
        self.measured_at = np.full(len(self.joint_names), -np.inf)
        self.measured_stamp = np.full(len(self.joint_names), -np.inf)
        self.diverged_since = None
        self.sent: deque = deque(maxlen=SENT_KEPT)   # recent messages (divergence watch)
        self.refusing_start = False
        self.controller_report = None
        self.started = self._now()

        topic = self.trajectory_topic = REFERENCE_TOPIC if p["stabilized"] else \
            f"/{p['controller'].strip('/')}/joint_trajectory"
        self.trajectory_publisher = self.create_publisher(JointTrajectory, topic, 10)
        self.base_plan_publisher = self.create_publisher(MultiDOFJointTrajectory, BASE_REFERENCE_TOPIC, 10) \
            if p["stabilized"] else None
        self.joint_state_publisher = self.create_publisher(JointState, "dance/joint_states", 10)
        self.base_publisher = self.create_publisher(PoseStamped, "dance/base_pose", 10)
        # the services have a group of their own: they answer whatever the chunk and timer callbacks
        # are doing (those hold the lock only for bounded work: filtering one bounded chunk)
        heavy, light, safety = (MutuallyExclusiveCallbackGroup(), MutuallyExclusiveCallbackGroup(),
                                ReentrantCallbackGroup())
        self.create_subscription(MotionChunk, "motion", self._on_motion, 10, callback_group=heavy)
        self.create_subscription(AudioLevel, "audio/level", self._on_audio_level, 10, callback_group=light)
        service_qos = QoSProfile(depth=SERVICE_QUEUE_DEPTH, reliability=qos_profile_services_default.reliability,
                                 durability=qos_profile_services_default.durability)
        self.create_service(Trigger, "dance/estop", self._on_estop, qos_profile=service_qos, callback_group=safety)
        self.create_service(Trigger, "dance/resume", self._on_resume, qos_profile=service_qos,
                            callback_group=safety)
        self.create_timer(self.dt, self._watchdog, callback_group=light)
        self.create_timer(1.0 / p["joint_state_rate"], self._publish_joint_state, callback_group=light)
        self.create_timer(1.0 / p["status_rate"], self.publish_status, callback_group=light)
        self.create_subscription(JointState, p["state_topic"], self._on_joint_state, 10,
                                 callback_group=MutuallyExclusiveCallbackGroup())
        self._controller_timer = self.create_timer(0.25, self._check_controller, callback_group=light)
        self.get_logger().info(f"{self.robot.name}: {len(self.joint_names)} joints -> {topic}")

    def _now(self) -> float:
        return (self.get_clock().now().nanoseconds - self.epoch_ns) * 1e-9

    def _seconds(self, stamp) -> float:
        """A message stamp in streamer seconds."""
        return (stamp.sec * 1_000_000_000 + stamp.nanosec - self.epoch_ns) * 1e-9

    def _send(self, segment) -> None:
        if segment is not None:
            self.trajectory_publisher.publish(joint_trajectory_msg(segment, self.joint_names, self.epoch_ns))
            self.sent.append(segment)

    # --- motion --------------------------------------------------------------------------------
    def _on_motion(self, msg: MotionChunk) -> None:
        try:
            joints = motion_joints(msg, self.params["fps"])
        except DanceMosaicError as exc:
            self.refuse("motion", str(exc))
            return
        t0 = self._seconds(msg.header.stamp)
        now = self._now()
        limit = self.params["max_ahead_seconds"]
        if not -limit - len(joints) * self.dt <= t0 - now <= limit:
            # a wrong or jumped clock: never bridge (or wait) that far
            self.refuse("motion", f"motion chunk {msg.index} is stamped {t0 - now:+.3g} s from now; chunks "
                        f"must play within max_ahead_seconds ({limit:g} s): check the music clock")
            return
        with self._lock:
            if self.state == DanceStatus.STATE_HOLDING or self._silent(now):
                return
            contiguous = self.last_chunk is not None and abs(self.last_chunk[1] - t0) < 0.5 * self.dt
        if not contiguous:
            self.retargeter.reset()                # a new stream: no warm start from another pose
            if self.balancer is not None:
                self.balancer.reset()
            if self.margins is not None:
                self.margins.reset()
        guarded = self.params["balance_guard"] and self.margins is not None
        whole = guarded or self.balancer is not None or not self.params["stream_frames"]
        size = len(joints) if whole else self.params["stream_frames"]
        started, reference = time.perf_counter(), []
        for first in range(0, len(joints), size):
            part = self._join_part(msg, joints[first:first + size], t0 + first * self.dt, guarded, started)
            if part is None:
                return
            reference.append(part)
        # the margin costs ~1 ms a frame: before the send only when the guard needs it
        if not guarded and self.margins is not None:
            self._measure_balance(msg.index, *(np.concatenate(x) for x in zip(*reference)))
        self.publish_status()

    def _join_part(self, msg: MotionChunk, joints: np.ndarray, t0: float, guarded: bool, started: float):
        """Retarget frames of a chunk (all of it, or a group of stream_frames) starting at t0 and
        join them to the plan; returns their own frames' (q, base), or None when the chunk is
        not used (refused, holding, or the retargeting failed)."""
        try:
            times, q, base = self._retarget(joints, t0, self._now())
        except Exception as exc:  # IK failure on a pathological pose: keep the current plan
            self.refuse("motion", f"retargeting chunk {msg.index} failed: {exc}")
            return None
        ik_seconds = time.perf_counter() - started
        new = times >= t0 - 0.5 * self.dt      # the chunk's own frames (not those it planned again)
        reference = (q[new], base[new])        # the retargeted frames, before the take-over trims them
        if guarded and self._refused_for_balance(self._measure_balance(msg.index, *reference)):
            return None
        with self._lock:
            now = self._now()
            if self.state == DanceStatus.STATE_HOLDING:
                return None
            end = t0 + self.dt * len(joints)
            # at the start, and after a deadline miss or a stop eased the plan to rest away from
            # the dance, the chunk ramps in from where the robot is (else it would jump, capped
            # only at the velocity limits). A chunk that is history by now (late, or retargeted
            # slowly) sends nothing and starts nothing: the next one takes over.
            joined = self.dance.join(times, q, now, self.params["command_lead"], self._measured(now),
                                     float(np.min(self.measured_stamp)), self.params["start_without_state"])
            if joined.refused:
                self._refuse_start()
                return None
            if joined.ramp_from is not None:
                self.refusing_start = False
                source = joined.ramp_from + (" (start_without_state)" if joined.ramp_from == NEUTRAL else "")
                self.message = f"taking over from {source}: {self.dance.handover.seconds:.2f} s ramp into the dance"
                self.get_logger().info(self.message)
            if joined.sent:
                self.state = DanceStatus.STATE_DANCING
                self._send(joined.segment)
                self._plan_base(times, base, now)
                if self.base_plan_publisher is not None and self.base_plan is not None:
                    self.base_plan_publisher.publish(base_trajectory_msg(*self.base_plan, now, self.epoch_ns))
            self.last_chunk = (msg, end)
            self.latency = self._now() - (self._seconds(msg.header.stamp) - msg.start_time + msg.audio_time)
            self.compute = msg.compute_seconds + ik_seconds
        return reference

    def _retarget(self, joints: np.ndarray, t0: float, now: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Times, joints and base poses of the frames the plan can still take (the rest is history
        by the time this is sent). With balance_plan the balancer also returns the last chunk's open
        frames, planned again: they replace the plan from their time on."""
        first = now + self.params["command_lead"] - self.dt
        if self.balancer is None:
            times = t0 + self.dt * np.arange(len(joints))
            use = times >= first
            return (times[use], *self.retargeter.steps(joints[use]))
        q, base = self.balancer.chunk(joints)  # every frame: the stream's schedule needs them all
        times = t0 + self.dt * np.arange(len(joints) - len(q), len(joints))
        use = times >= first
        return times[use], q[use], base[use]

    def _measure_balance(self, index: int, q: np.ndarray, base: np.ndarray):
        """The chunk's ZMP margin (BalanceReport or None under 3 frames), kept for the status message."""
        report = self.margins.update(q, base)
        if report is not None:
            with self._lock:
                self.balance_text = f"chunk {index}: {report.brief()}"
        return report

    def _refused_for_balance(self, report) -> bool:
        """True when balance_guard refuses the chunk of `report` (nothing is sent: the plan extends
        to rest as for a late chunk)."""
        if report is None:
            return False
        lowest = float(np.nan_to_num(report.margin_window, nan=-np.inf).min())
        if lowest < self.params["min_zmp_margin"]:
            self.refuse("balance", f"{self.balance_text}: below min_zmp_margin ({100 * self.params['min_zmp_margin']:g} "
                                   "cm), refused by balance_guard; the motion extends to rest")
            return True
        return False

    def _plan_base(self, times: np.ndarray, base: np.ndarray, now: float) -> None:
        """Keep the chunk's base poses for dance/base_pose: they replace the plan from their first
        time on; poses more than a second old are dropped (called with the lock held)."""
        if self.margins is None or not len(times):
            return
        if self.base_plan is not None:
            old_times, old_poses = self.base_plan
            keep = (old_times < times[0]) & (old_times >= now - 1.0)
            times, base = np.concatenate([old_times[keep], times]), np.concatenate([old_poses[keep], base])
        self.base_plan = (times, base)

    def _refuse_start(self) -> None:
        """No measured joint state and nothing commanded yet (called with self._lock held)."""
        self.state = DanceStatus.STATE_ERROR
        self.message = (f"no measured joint state on {self.params['state_topic']} within state_timeout "
                        f"({self.params['state_timeout']} s): refusing to start; publish the robot's joint "
                        "states (joint_state_broadcaster) or set start_without_state:=true to start from "
                        "the neutral pose")
        if not self.refusing_start:
            self.get_logger().error(self.message)
        self.refusing_start = True

    # --- measured state ----------------------------------------------------------------------
    def _on_joint_state(self, msg: JointState) -> None:
        pairs = [(self._joint_index[name], i) for i, name in enumerate(msg.name) if name in self._joint_index]
        if not pairs:
            return
        if len(msg.position) != len(msg.name):
            self.refuse("joint_state", f"joint state with {len(msg.name)} names but {len(msg.position)} "
                                       "positions; the publisher must give one position per name")
            return
        joints, columns = zip(*pairs)
        values = np.asarray(msg.position, dtype=np.float64)[list(columns)]
        if not np.isfinite(values).all():
            self.refuse("joint_state", "joint state holds NaN or infinite positions; the robot's state "
                                       "publisher is broken")
            return
        now = self._now()
        # joint_state_broadcaster stamps when it read the joints: the divergence watch compares
        # with the command of that moment, not of the arrival (transport and a busy executor
        # delay it by tens of ms, 0.1 s and more under load: a false divergence on a fast joint).
        # An unstamped state, or one stamped in the future or older than state_timeout (another
        # clock), counts from its arrival.
        stamp = self._seconds(msg.header.stamp)
        measured_stamp = stamp if now - self.params["state_timeout"] <= stamp <= now else now
        with self._lock:
            self.measured[list(joints)] = values
            self.measured_at[list(joints)] = now
            self.measured_stamp[list(joints)] = measured_stamp
            if self.refusing_start and self.state == DanceStatus.STATE_ERROR:
                self.state, self.refusing_start = DanceStatus.STATE_IDLE, False
                self.message = "measured joint state received: ready to start"

    def _measured(self, now: float) -> np.ndarray | None:
        """The measured pose when every joint was heard within state_timeout, else None."""
        if np.all(now - self.measured_at <= self.params["state_timeout"]):
            return self.measured.copy()
        return None

    def _stop(self, now: float, target: np.ndarray | None, min_seconds: float = 0.0):
        """Replace the future by a stop to rest at `target` (None: where the motion stops) within
        the hand-over budget; with nothing planned yet, rest at the target (called with the lock)."""
        segment, stop = self.dance.stop(target, now, self.params["command_lead"], min_seconds)
        if stop is not None and not stop.within_budget:
            self.get_logger().warning(f"stopping {stop.braking}")
        return segment

    # --- audio: silence and loss -----------------------------------------------------------
    def _on_audio_level(self, msg: AudioLevel) -> None:
        """One interval of audio summed up by the audio node: lost audio is counted (the blocks it
        flagged, and a jump of first_sample: levels lost on the way), sound restarts the clock of
        the silence watch."""
        if not (np.isfinite(msg.loudest_rms) and msg.loudest_rms >= 0.0):
            self.refuse("audio", f"audio level with loudest_rms {msg.loudest_rms}: must be a finite RMS >= 0; "
                                 "the audio node's level is broken")
            return
        now = self._now()
        with self._lock:
            lost = self._next_audio_sample is not None and msg.first_sample != self._next_audio_sample
            self.counts["audio_dropouts"] += msg.dropouts + lost
            self._next_audio_sample = msg.first_sample + msg.num_samples
            self.last_audio = now
            if msg.num_samples and msg.loudest_rms >= self.params["silence_rms"]:
                self.last_sound = now

    def _silent(self, now: float) -> bool:
        """Audio was heard once and has been silent or absent for silence_timeout since."""
        if self.last_audio is None:
            return False                       # no audio topic: dance on chunks alone
        return self.last_sound is None or now - self.last_sound > self.params["silence_timeout"]

    # --- the watchdog: silence, deadline misses ----------------------------------------------
    def _watchdog(self) -> None:
        now = self._now()
        lead = self.params["command_lead"]
        with self._lock:
            if self.state == DanceStatus.STATE_DANCING and self._silent(now):
                self.state = DanceStatus.STATE_EASING
                self.message = "music lost or silent: easing to the neutral pose"
                self.get_logger().info(self.message)
                self._send(self._stop(now, self.streamer.neutral, self.params["ease_seconds"]))
            elif self.state == DanceStatus.STATE_EASING and self.streamer.remaining(now) == 0.0:
                self.state = DanceStatus.STATE_IDLE
            elif self.state == DanceStatus.STATE_DANCING and self._diverged(now):
                self.state = DanceStatus.STATE_HOLDING
                self.get_logger().error(self.message)
                self._send(self._stop(now, self._measured(now)))
            elif self.state == DanceStatus.STATE_IDLE and self.streamer.end_time is None and \
                    not self.params["start_without_state"] and self._measured(now) is None and \
                    now - self.started > self.params["state_timeout"]:
                self._refuse_start()
            elif self.state == DanceStatus.STATE_DANCING and \
                    self.streamer.remaining(now) < self.params["deadline_margin"] + lead:
                self.counts["deadline_misses"] += 1
                self.message = "no motion chunk in time: extending the last motion to rest"
                self.get_logger().warning(f"{self.message} (misses so far: {self.counts['deadline_misses']})")
                self._send(self.dance.extend(self.params["extend_seconds"], now, lead))

    def _diverged(self, now: float) -> bool:
        """The measured pose has been farther than divergence_threshold from the command for
        divergence_seconds (then self.message says where). Called with the lock held."""
        threshold = self.params["divergence_threshold"]
        measured = self._measured(now)
        if threshold <= 0 or measured is None:
            self.diverged_since = None
            return False
        # the robot may still follow a message the latest one replaced (it arrives late under
        # load): it diverges only when it is far from every command sent lately
        stamp = float(np.min(self.measured_stamp))
        commands = [self.streamer.state_at(stamp)[0]]
        commands += [q for q in (seg.position_at(stamp) for seg in self.sent) if q is not None]
        error = min((np.abs(measured - q) for q in commands), key=np.max)
        worst = int(np.argmax(error))
        if error[worst] <= threshold:
            self.diverged_since = None
            return False
        if self.diverged_since is None:
            self.diverged_since = now
        if now - self.diverged_since < self.params["divergence_seconds"]:
            return False
        self.message = (f"divergence: {self.joint_names[worst]} is {error[worst]:.2f} rad from the command "
                        f"(divergence_threshold {threshold}) for {now - self.diverged_since:.2f} s: the robot is "
                        "blocked, fell or the controller rejected the goal; holding at the measured pose "
                        "until dance/resume")
        self.diverged_since = None
        return True

    # --- controller hand-shake -----------------------------------------------------------------
    def _check_controller(self) -> None:
        """Once the controller subscribes (or controller_timeout passed): report what was found,
        and ask the controller manager about it when its interfaces are importable."""
        waited = self._now() - self.started
        subscribers = self.trajectory_publisher.get_subscription_count()
        if subscribers == 0 and waited < self.params["controller_timeout"]:
            return
        self._controller_timer.cancel()
        report = subscriber_report(self.trajectory_topic, subscribers, waited)
        if not report.ok:
            self._report_controller(report.ok, report.text)
        elif ListControllers is None:
            self._report_controller(None, f"{report.text}; controller state not checked: no controller_manager_msgs")
        else:
            client = self.create_client(ListControllers, "/controller_manager/list_controllers")
            if not client.service_is_ready():
                self._report_controller(None, f"{report.text}; controller state not checked: no "
                                              "/controller_manager/list_controllers service")
                return
            future = client.call_async(ListControllers.Request())
            future.add_done_callback(lambda done: self._on_controllers(done, report.text))

    def _on_controllers(self, future, subscribed: str) -> None:
        listed = [ControllerInfo(c.name, c.state, list(c.claimed_interfaces)) for c in future.result().controller]
        verdict = manager_report(self.params["controller"].strip("/"), listed, self.joint_names)
        self._report_controller(verdict.ok, f"{subscribed}; {verdict.text}")

    def _report_controller(self, ok: bool | None, text: str) -> None:
        """One log line and the status message: what the hand-shake found."""
        with self._lock:
            self.controller_report = (ok, text)
            self.message = f"controller hand-shake: {text}"
        log = self.get_logger()
        (log.warning if ok is False else log.info)(self.message)
        self.publish_status()

    # --- e-stop ------------------------------------------------------------------------------
    def _on_estop(self, request, response):
        with self._lock:
            if self.state == DanceStatus.STATE_HOLDING:
                # Already stopped: answer at once. Re-planning the stop for every caller of a storm
                # would hold the lock for each of them in turn and leave the later ones unanswered.
                response.success, response.message = True, self.message
                return response
            now = self._now()
            measured = self._measured(now)
            segment = self._stop(now, measured)
            self.state = DanceStatus.STATE_HOLDING
            self.message = (f"e-stop: holding at the {'measured' if measured is not None else 'last commanded'} "
                            "pose until dance/resume")
        self._send(segment)
        self.publish_status()                  # at once: a stabilizer_node forwards the stop uncorrected
        self.get_logger().warning(self.message)
        response.success, response.message = True, self.message
        return response

    def _on_resume(self, request, response):
        with self._lock:
            if self.state != DanceStatus.STATE_HOLDING:
                response.success, response.message = False, f"not holding (state {self.state}); nothing to resume"
                return response
            self.state, self.message = DanceStatus.STATE_IDLE, "resumed: dancing from the next chunk"
        self.get_logger().info(self.message)
        response.success, response.message = True, self.message
        return response

    # --- outputs -----------------------------------------------------------------------------
    def _publish_joint_state(self) -> None:
        now = self._now()
        with self._lock:
            q, v = self.streamer.state_at(now)
            plan = self.base_plan
        msg = JointState(name=self.joint_names, position=q.tolist(), velocity=v.tolist())
        msg.header.stamp = self.get_clock().now().to_msg()
        self.joint_state_publisher.publish(msg)
        if plan is not None:
            self.base_publisher.publish(base_pose_msg(interpolate_poses(*plan, now), msg.header.stamp, "world"))

    def status_fields(self, msg: DanceStatus) -> None:
        if self.last_chunk is not None:
            chunk = self.last_chunk[0]
            msg.tempo_bpm, msg.beat_phase = chunk.tempo_bpm, chunk.beat_phase
            msg.chunk_index, msg.chunk_seconds = chunk.index, chunk.num_frames / chunk.fps
        msg.latency_s, msg.compute_s = float(self.latency), float(self.compute)
        report = self.streamer.safety.report
        msg.limit_clamps = report.position_clamps + report.velocity_clamps + report.nonfinite
        msg.deadline_misses = self.counts["deadline_misses"]
        msg.audio_dropouts = self.counts["audio_dropouts"]
        if self.balance_text:
            msg.message = f"{msg.message}; {self.balance_text}" if msg.message else self.balance_text


def main(args=None) -> int:
    return run_nodes([RetargetNode], args)


if __name__ == "__main__":
    raise SystemExit(main())
