"""Retarget node with real DDS and the configured robot (G1): the joint_trajectory_controller
contract, safety on adversarial chunks, bad messages, e-stop/resume, silence, deadline misses."""
import numpy as np
import pytest

pytestmark = pytest.mark.ros

try:
    from dancemosaic.msg import AudioLevel, DanceStatus, MotionChunk
except ImportError as exc:
    pytest.skip(f"dancemosaic.msg is not generated ({exc}); run `make install`", allow_module_level=True)


from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import QoSProfile, qos_profile_services_default  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402
from trajectory_msgs.msg import JointTrajectory  # noqa: E402

from dancemosaic_core.motion.skeleton import MOTION_FPS  # noqa: E402
from dancemosaic_ros.retarget_node import SERVICE_QUEUE_DEPTH  # noqa: E402
from tests.core.test_train_fixtures import synthetic_joints  # noqa: E402
from tests.ros.ros_helpers import call_service, ros_session, wait_for  # noqa: E402
from tests.ros.trajectory_checks import check_message, check_timeline, executed_timeline  # noqa: E402

DT = 1.0 / MOTION_FPS
TOPIC = "/joint_trajectory_controller/joint_trajectory"
FRAMES = 20
MARGIN = 0.02


def chunk_msg(joints, start_time, origin_ns, index, fps=MOTION_FPS):
    joints = np.asarray(joints, dtype=np.float32)
    msg = MotionChunk(start_time=float(start_time), fps=float(fps), index=index, num_frames=joints.shape[0],
                      num_joints=joints.shape[1], audio_time=float(start_time) - 1.0)
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(origin_ns + int(round(start_time * 1e9)), 10**9)
    msg.positions = joints.reshape(-1)
    return msg


def points(msg: JointTrajectory, origin_ns: int):
    """(stamp, point times) in seconds after origin_ns (integer ns: exact), positions, velocities."""
    stamp_ns = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
    times = np.array([stamp_ns - origin_ns + p.time_from_start.sec * 10**9 + p.time_from_start.nanosec
                      for p in msg.points]) * 1e-9
    return ((stamp_ns - origin_ns) * 1e-9, times, np.array([p.positions for p in msg.points]),
            np.array([p.velocities for p in msg.points]))


class Rig:
    """A retarget node and a probe that records its outputs and feeds it chunks and audio."""

    def __init__(self, ros, **params):
        from dancemosaic_ros.retarget_node import RetargetNode
        self.node = ros.add(RetargetNode, **{"status_rate": 20.0, "start_without_state": True, **params})
        self.robot = self.node.robot
        self.trajectories, self.statuses = [], []
        probe = self.probe = ros.probe()
        probe.create_subscription(JointTrajectory, TOPIC, self.trajectories.append, 50)
        probe.create_subscription(DanceStatus, "dance/status", self.statuses.append, 50)
        self.motion = probe.create_publisher(MotionChunk, "motion", 10)
        self.audio = probe.create_publisher(AudioLevel, "audio/level", 100)
        self.origin_ns = self.node.get_clock().now().nanoseconds
        self.audio_sample = 0
        ros.start()
        assert wait_for(lambda: self.motion.get_subscription_count() > 0
                        and self.probe.count_publishers(TOPIC) > 0, 5.0)

    def now(self):
        """Seconds after origin_ns."""
        return (self.node.get_clock().now().nanoseconds - self.origin_ns) * 1e-9

    def send(self, joints, start_time, index, **kw):
        self.motion.publish(chunk_msg(joints, start_time, self.origin_ns, index, **kw))

    def sound(self, seconds, amplitude, sr=8000, dropouts=0):
        """What the audio node's level meter says of `seconds` of a sine of `amplitude`."""
        wave = amplitude * np.sin(2 * np.pi * 440 * np.arange(int(seconds * sr)) / sr)
        msg = AudioLevel(sample_rate=sr, first_sample=self.audio_sample, num_samples=len(wave),
                         loudest_rms=float(np.sqrt(np.mean(np.square(wave)))), dropouts=dropouts)
        self.audio_sample += len(wave)
        self.audio.publish(msg)

    def check(self):
        """Every message and the timeline the controller executes obey the contract and limits."""
        lower = self.robot.lower + MARGIN
        upper = self.robot.upper - MARGIN
        merged = []
        for msg in self.trajectories:
            assert list(msg.joint_names) == list(self.robot.joint_names)
            stamp, times, q, v = points(msg, self.origin_ns)
            assert q.shape == v.shape == (len(times), len(self.robot.joint_names))
            check_message(times, q, v, stamp, lower=lower, upper=upper, velocity=self.robot.velocity)
            merged.append((stamp, times, q))
        times, q = executed_timeline(merged)
        check_timeline(times, q, lower=lower, upper=upper, velocity=self.robot.velocity, min_dt=DT)
        return times, q


def test_contiguous_chunks_follow_the_trajectory_contract():
    with ros_session() as ros:
        rig = Rig(ros)
        # slack for a slow machine's first retargeting (its first chunk must not become history)
        start = rig.now() + 1.5
        joints = synthetic_joints(3 * FRAMES, 0)
        for k in range(3):
            rig.send(joints[k * FRAMES:(k + 1) * FRAMES], start + k * FRAMES * DT, k)
        assert wait_for(lambda: len(rig.trajectories) >= 3, 20.0)
        times, q = rig.check()
        # the three chunks arrive whole and joined on the frame grid (plus the rest point)
        np.testing.assert_allclose(np.diff(times[-3 * FRAMES:]), DT, atol=1e-6)
        assert times[-1] == pytest.approx(start + (3 * FRAMES - 1) * DT, abs=1e-6)
        assert wait_for(lambda: rig.statuses and rig.statuses[-1].chunk_index == 2, 5.0)
        assert rig.statuses[-1].generator_state == DanceStatus.STATE_DANCING


def test_stream_frames_sends_each_group_as_it_is_solved_and_keeps_the_plan():
    """stream_frames: a chunk's frames are retargeted and sent a group at a time (the first
    points go out after a group's IK, not the chunk's); the executed timeline is the one the
    whole chunks give, within the contract."""
    joints = synthetic_joints(3 * FRAMES, 0)
    timelines = []
    for stream_frames in (0, 8):
        with ros_session() as ros:
            rig = Rig(ros, stream_frames=stream_frames)
            start = rig.now() + 1.5
            for k in range(3):
                rig.send(joints[k * FRAMES:(k + 1) * FRAMES], start + k * FRAMES * DT, k)
                groups = 1 if not stream_frames else -(-FRAMES // stream_frames)
                assert wait_for(lambda: len(rig.trajectories) >= (k + 1) * groups, 20.0)
            times, q = rig.check()
            timelines.append((times - start, q, len(rig.trajectories)))
    (t_whole, q_whole, n_whole), (t_stream, q_stream, n_stream) = timelines
    assert (n_whole, n_stream) == (3, 9)
    # the last messages carry the dance frames on the grid; after the start ramp both plans agree
    np.testing.assert_allclose(t_stream[-3 * FRAMES:], t_whole[-3 * FRAMES:], atol=1e-6)
    tail = slice(-FRAMES, None)
    np.testing.assert_allclose(q_stream[tail], q_whole[tail], atol=1e-6)


def test_balance_plan_replans_the_open_frames_and_keeps_the_contract():
    with ros_session() as ros:
        rig = Rig(ros, balance_plan=True, balance_replan=0.2)
        start = rig.now() + 2.0
        joints = synthetic_joints(3 * FRAMES, 0)
        for k in range(3):
            rig.send(joints[k * FRAMES:(k + 1) * FRAMES], start + k * FRAMES * DT, k)
            assert wait_for(lambda: len(rig.trajectories) >= k + 1, 20.0)
        times, q = rig.check()
        np.testing.assert_allclose(np.diff(times[-3 * FRAMES:]), DT, atol=1e-6)
        assert times[-1] == pytest.approx(start + (3 * FRAMES - 1) * DT, abs=1e-6)
        # the second and third messages begin with the 0.2 s (4 frames) the chunk before left open
        firsts = [points(m, rig.origin_ns)[1] for m in rig.trajectories[-2:]]
        for k, t in zip((1, 2), firsts):
            assert np.any(np.abs(t - (start + (k * FRAMES - 4) * DT)) < 1e-6)
        assert rig.node.balancer is not None and rig.node.balancer.last_plan is not None


def test_adversarial_chunks_never_leave_the_limits():
    rng = np.random.default_rng(1)
    with ros_session() as ros:
        rig = Rig(ros)
        start = rig.now() + 0.3
        for k in range(3):
            wild = synthetic_joints(FRAMES, k) + rng.normal(scale=0.6, size=(FRAMES, 22, 3))
            wild[FRAMES // 2:] += rng.normal(scale=1.5, size=(1, 22, 3))   # a teleport mid-chunk
            rig.send(wild, start + k * FRAMES * DT - (0.4 if k == 2 else 0.0), k)  # the last overlaps
        assert wait_for(lambda: len(rig.trajectories) >= 3, 20.0)
        rig.check()
        assert wait_for(lambda: rig.statuses and rig.statuses[-1].limit_clamps > 0, 5.0)


def test_bad_chunks_are_counted_and_change_nothing():
    with ros_session() as ros:
        rig = Rig(ros)
        start = rig.now() + 0.5
        good = synthetic_joints(2 * FRAMES, 3)
        rig.send(good[:FRAMES], start, 0)
        assert wait_for(lambda: len(rig.trajectories) == 1, 10.0)
        nan = good[FRAMES:].copy()
        nan[3, 5, 1] = np.nan
        short = chunk_msg(good[FRAMES:], start + FRAMES * DT, rig.origin_ns, 1)
        short.positions = np.asarray(short.positions)[:-3]
        rig.motion.publish(short)
        rig.send(good[FRAMES:, :21], start + FRAMES * DT, 1)                 # 21 joints
        rig.send(nan, start + FRAMES * DT, 1)
        rig.send(good[FRAMES:], start + FRAMES * DT, 1, fps=30.0)
        assert wait_for(lambda: rig.node.bad_messages == 4, 10.0)
        assert len(rig.trajectories) == 1
        refused = rig.node.set_parameters([Parameter("silence_timeout", value=-1.0)])[0]
        assert not refused.successful and "silence_timeout" in refused.reason
        assert rig.node.get_parameter("silence_timeout").value == 2.0
        rig.send(good[FRAMES:], start + FRAMES * DT, 1)                       # still listening
        assert wait_for(lambda: len(rig.trajectories) == 2, 10.0)
        rig.check()
        assert wait_for(lambda: rig.statuses and rig.statuses[-1].bad_messages == 5, 5.0)


def test_chunks_stamped_far_from_now_and_unbounded_parameters_are_refused():
    """A chunk 1e8 s or 1e4 s ahead (or long past) is refused, counted, never bridged; the e-stop
    still answers; ease_seconds must lie in its range, not only be positive."""
    with ros_session() as ros:
        rig = Rig(ros)
        good = synthetic_joints(FRAMES, 3)
        for offset in (1e8, 1e4, 11.0, -1e8):
            rig.send(good, rig.now() + offset, 0)
        assert wait_for(lambda: rig.node.refused["motion"] == 4, 10.0)
        assert rig.trajectories == []
        assert call_service(rig.probe, Trigger, "dance/estop").success
        for name, value in (("ease_seconds", 1e4), ("extend_seconds", 1e4), ("command_lead", 1e9)):
            assert not rig.node.set_parameters([Parameter(name, value=value)])[0].successful
        assert rig.node.bad_messages == 7


def test_a_chunk_already_played_sends_nothing_and_the_next_one_starts():
    """A chunk stamped in the past but within max_ahead_seconds (late, or retargeted slowly) has no
    frame left to play: nothing is sent, the node keeps serving (the e-stop answers), and the next
    chunk in time starts the dance from the neutral pose."""
    with ros_session() as ros:
        rig = Rig(ros)
        rig.send(synthetic_joints(FRAMES, 1), rig.now() - 1.5, 0)
        assert not wait_for(lambda: rig.trajectories, 1.0)
        assert rig.node.refused["motion"] == 0 and rig.node.state == DanceStatus.STATE_IDLE
        assert call_service(rig.probe, Trigger, "dance/estop").success
        assert call_service(rig.probe, Trigger, "dance/resume").success
        rig.send(synthetic_joints(FRAMES, 1), rig.now() + 0.5, 1)
        assert wait_for(lambda: rig.trajectories, 10.0)
        _, _, q, _ = points(rig.trajectories[0], rig.origin_ns)
        neutral = np.clip(rig.robot.neutral_q, rig.robot.lower + MARGIN, rig.robot.upper - MARGIN)
        np.testing.assert_allclose(q[0], neutral, atol=1e-9)
        rig.check()


def test_estop_holds_and_resume_continues():
    with ros_session() as ros:
        rig = Rig(ros)
        start = rig.now() + 0.3
        joints = synthetic_joints(4 * FRAMES, 4)
        rig.send(joints[:2 * FRAMES], start, 0)
        assert wait_for(lambda: len(rig.trajectories) == 1, 10.0)
        response = call_service(rig.probe, Trigger, "dance/estop")
        assert response.success
        assert wait_for(lambda: len(rig.trajectories) == 2, 5.0)
        _, times, q, v = points(rig.trajectories[-1], rig.origin_ns)
        assert np.allclose(q[-1], q[-2]) and np.allclose(v[-1], 0.0)     # resting
        assert times[-1] < start + 2 * FRAMES * DT - 0.5   # the rest of the chunk was dropped
        rig.send(joints[2 * FRAMES:3 * FRAMES], start + 2 * FRAMES * DT, 1)
        assert not wait_for(lambda: len(rig.trajectories) > 2, 1.0)     # held: chunks ignored
        assert rig.statuses[-1].generator_state == DanceStatus.STATE_HOLDING
        assert call_service(rig.probe, Trigger, "dance/resume").success
        assert not call_service(rig.probe, Trigger, "dance/resume").success  # not holding any more
        later = rig.now() + 0.3
        rig.send(joints[3 * FRAMES:], later, 2)
        assert wait_for(lambda: len(rig.trajectories) == 3, 10.0)
        rig.check()


def test_a_storm_of_estop_callers_is_served_while_chunks_arrive():
    """50 clients call dance/estop at once while chunks keep the chunk callback busy: every one
    gets an answer (the issue: only 10 were served)."""
    with ros_session() as ros:
        rig = Rig(ros)
        good = synthetic_joints(2 * FRAMES, 3)
        start = rig.now() + 0.5
        rig.send(good[:FRAMES], start, 0)
        # Fast DDS hands every client all 50 responses; a client's default history (10) drops
        # its own when its executor is slow to take them, so the callers keep a deeper one
        deep = QoSProfile(depth=SERVICE_QUEUE_DEPTH, reliability=qos_profile_services_default.reliability,
                          durability=qos_profile_services_default.durability)
        clients = [rig.probe.create_client(Trigger, "dance/estop", qos_profile=deep) for _ in range(50)]
        assert all(client.wait_for_service(timeout_sec=5.0) for client in clients)
        rig.send(good[FRAMES:], start + FRAMES * DT, 1)
        futures = [client.call_async(Trigger.Request()) for client in clients]
        assert wait_for(lambda: all(future.done() for future in futures), 20.0)
        assert all(future.result().success for future in futures)
        assert rig.node.state == DanceStatus.STATE_HOLDING
        for client in clients:
            rig.probe.destroy_client(client)


def test_silence_eases_to_the_neutral_pose():
    with ros_session() as ros:
        rig = Rig(ros, silence_timeout=0.4, ease_seconds=0.5)
        rig.sound(0.2, 0.3)
        start = rig.now() + 0.2
        rig.send(synthetic_joints(2 * FRAMES, 5), start, 0)
        assert wait_for(lambda: len(rig.trajectories) >= 1, 10.0)
        rig.sound(0.2, 0.0)                                              # silence from here on
        assert wait_for(lambda: rig.statuses and rig.statuses[-1].generator_state == DanceStatus.STATE_EASING, 5.0)
        _, _, q, v = points(rig.trajectories[-1], rig.origin_ns)
        neutral = np.clip(rig.robot.neutral_q, rig.robot.lower + MARGIN, rig.robot.upper - MARGIN)
        np.testing.assert_allclose(q[-1], neutral, atol=1e-9)
        assert np.allclose(v[-1], 0.0)
        rig.check()
        assert wait_for(lambda: rig.statuses[-1].generator_state == DanceStatus.STATE_IDLE, 5.0)


def test_lost_audio_is_counted_from_the_level_messages():
    with ros_session() as ros:
        rig = Rig(ros)
        rig.sound(0.1, 0.3)
        rig.sound(0.1, 0.3, dropouts=2)                 # blocks the audio node saw lost, overrun or late
        rig.audio_sample += 800                         # a level message lost on the way
        rig.sound(0.1, 0.3)
        assert wait_for(lambda: rig.statuses and rig.statuses[-1].audio_dropouts == 3, 5.0)


def test_deadline_miss_extends_the_motion_instead_of_stopping():
    with ros_session() as ros:
        rig = Rig(ros, deadline_margin=0.2, extend_seconds=0.5)
        start = rig.now() + 0.3
        ramp = synthetic_joints(FRAMES, 6)
        rig.send(ramp, start, 0)
        end = start + (FRAMES - 1) * DT
        assert wait_for(lambda: len(rig.trajectories) >= 2, 10.0)        # the chunk, then an extension
        _, times, _, v = points(rig.trajectories[1], rig.origin_ns)
        assert times[-1] > end + 0.4 and np.allclose(v[-1], 0.0)
        rig.check()
        assert wait_for(lambda: rig.statuses and rig.statuses[-1].deadline_misses >= 1, 5.0)


def test_status_reports_the_zmp_margin_and_the_base_pose_is_published():
    from geometry_msgs.msg import PoseStamped

    from dancemosaic_core.retarget.synthetic import planted_squat
    with ros_session() as ros:
        rig = Rig(ros)
        poses = []
        rig.probe.create_subscription(PoseStamped, "dance/base_pose", poses.append, 50)
        start = rig.now() + 0.5
        joints = planted_squat(2 * FRAMES * DT)          # both feet down: a margin, not "in flight"
        for k in range(2):
            rig.send(joints[k * FRAMES:(k + 1) * FRAMES], start + k * FRAMES * DT, k)
        assert wait_for(lambda: any("chunk 1: ZMP margin (0.25 s)" in s.message and "cm min" in s.message
                                    for s in rig.statuses), 20.0)
        assert wait_for(lambda: len(poses) >= 5, 5.0)
        p = poses[-1].pose
        quaternion = np.array([p.orientation.x, p.orientation.y, p.orientation.z, p.orientation.w])
        assert poses[-1].header.frame_id == "world" and np.linalg.norm(quaternion) == pytest.approx(1.0)
        # the pelvis of a standing dance, above the floor
        assert 0.5 * rig.robot.standing_height < p.position.z < 1.2 * rig.robot.standing_height


def test_balance_guard_refuses_chunks_below_the_margin():
    with ros_session() as ros:
        # no reference keeps its ZMP 0.5 m inside the feet: every chunk is refused
        rig = Rig(ros, balance_guard=True, min_zmp_margin=0.5)
        start = rig.now() + 0.5
        rig.send(synthetic_joints(FRAMES, 0), start, 0)
        assert wait_for(lambda: rig.node.refused["balance"] == 1, 20.0)
        assert wait_for(lambda: any("refused by balance_guard" in s.message for s in rig.statuses), 5.0)
        assert not rig.trajectories
        assert rig.node.set_parameters([Parameter("min_zmp_margin", value=0.6)])[0].successful is False
