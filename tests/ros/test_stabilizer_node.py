"""Stabilizer node with real DDS and the G1: synthetic joint states, a pelvis IMU and a standing
reference in; corrected, limit-respecting commands out; bad messages refused; stale sensors pass
the reference through; e-stop (the retarget node holding) silences its own commands."""
import threading

import numpy as np
import pinocchio as pin
import pytest

pytestmark = pytest.mark.ros

try:
    from dancemosaic.msg import DanceStatus
except ImportError as exc:
    pytest.skip(f"dancemosaic.msg is not generated ({exc}); run `make install`", allow_module_level=True)

from sensor_msgs.msg import Imu, JointState  # noqa: E402
from trajectory_msgs.msg import JointTrajectory, MultiDOFJointTrajectory  # noqa: E402

from dancemosaic_core.control import Segment  # noqa: E402
from dancemosaic_core.retarget.feedforward import CONTACT_SETS, contact_torques  # noqa: E402
from dancemosaic_ros.convert import base_trajectory_msg, joint_trajectory_msg  # noqa: E402
from tests.ros.ros_helpers import ros_session, wait_for  # noqa: E402

TOPIC = "/joint_trajectory_controller/joint_trajectory"
MARGIN = 0.02


def test_stabilizer_corrects_within_limits_refuses_bad_input_and_yields_to_estop():
    from dancemosaic_ros.stabilizer_node import StabilizerNode
    with ros_session() as ros:
        node = ros.add(StabilizerNode, rate=50.0, state_timeout=0.2, imu_timeout=0.2, status_rate=20.0)
        robot, names = node.robot, node.joint_names
        probe = ros.probe()
        commands, statuses = [], []
        probe.create_subscription(JointTrajectory, TOPIC, commands.append, 100)
        probe.create_subscription(DanceStatus, "stabilizer/status", statuses.append, 50)
        reference = probe.create_publisher(JointTrajectory, "dance/reference", 10)
        base_reference = probe.create_publisher(MultiDOFJointTrajectory, "dance/base_reference", 10)
        joint_states = probe.create_publisher(JointState, "/joint_states", 10)
        imu = probe.create_publisher(Imu, "/imu", 10)
        dance_status = probe.create_publisher(DanceStatus, "dance/status", 10)
        ros.start()
        assert wait_for(lambda: reference.get_subscription_count() and imu.get_subscription_count(), 10.0)

        # a standing reference for 4 s, on the node's clock
        now = node._now()
        times = now + 0.1 + np.arange(80) / 20.0
        plan = np.repeat(robot.neutral_q[None], len(times), 0)
        pose = np.array([0.0, 0.0, robot.standing_height, 0, 0, 0, 1.0])
        base_reference.publish(base_trajectory_msg(times, np.tile(pose, (len(times), 1)), now, node.epoch_ns))
        reference.publish(joint_trajectory_msg(Segment(now, times, plan, 0 * plan), names, node.epoch_ns))

        # the robot: the reference's joints, the pelvis leaning 0.05 rad forward
        leaning = pin.Quaternion(pin.rpy.rpyToMatrix(0.0, 0.05, 0.0)).coeffs()
        at_rest = pin.rpy.rpyToMatrix(0.0, 0.05, 0.0).T @ np.array([0.0, 0.0, 9.81])    # specific force, IMU axes
        sensing = threading.Event()
        sensing.set()

        def sense():
            if not sensing.is_set():
                return
            js = JointState(name=names, position=robot.neutral_q.tolist(), velocity=[0.0] * len(names))
            js.header.stamp = node.get_clock().now().to_msg()
            joint_states.publish(js)
            sample = Imu()
            sample.orientation.x, sample.orientation.y, sample.orientation.z, sample.orientation.w = leaning
            sample.linear_acceleration.x, sample.linear_acceleration.y, sample.linear_acceleration.z = at_rest
            imu.publish(sample)
        probe.create_timer(0.01, sense)

        def corrected():
            return [m for m in commands if np.abs(np.array([p.positions for p in m.points]) - robot.neutral_q).max() > 1e-3]
        assert wait_for(lambda: len(corrected()) >= 5, 10.0), "no corrected command"
        lower, upper = robot.lower + MARGIN - 1e-9, robot.upper - MARGIN + 1e-9
        for m in commands:
            q = np.array([p.positions for p in m.points])
            v = np.array([p.velocities for p in m.points])
            assert list(m.joint_names) == names and np.all((q >= lower) & (q <= upper))
            assert np.all(np.abs(v) <= robot.velocity + 1e-9)
        ankles = [names.index(n) for n in names if "ankle_pitch" in n]
        assert np.all(np.array(corrected()[-1].points[0].positions)[ankles] != robot.neutral_q[ankles])
        # every point carries the torque feed-forward of the standing reference on both feet
        expected = contact_torques(robot, plan[:3], np.tile(pose, (3, 1)), 20.0).torques[1, CONTACT_SETS.index((0, 1))]
        for point in corrected()[-1].points:
            assert len(point.effort) == len(names)
            assert np.allclose(point.effort, expected, atol=0.5)
        knees = [names.index(n) for n in names if "knee" in n]
        assert np.all(np.abs(expected[knees]) > 2.0)        # about 4.9 N m each

        # bad messages: refused, counted, the node keeps commanding (the 100 Hz sensor stream
        # pauses meanwhile: on a loaded machine it would push them out of the depth-10 queues
        # before the node reads them)
        sensing.clear()
        broken = Imu()
        broken.orientation.w = 2.0

        def send_bad():   # sent again until counted: a message lost in transit is not the node's fault
            imu.publish(broken)
            joint_states.publish(JointState(name=names, position=[float("nan")] * len(names)))
            joint_states.publish(JointState(name=["not_a_joint"], position=[0.0]))
            return statuses and statuses[-1].bad_messages >= 3
        assert wait_for(send_bad, 5.0, poll=0.2), \
            f"bad messages counted: {statuses[-1].bad_messages if statuses else None}; status: " \
            f"{statuses[-1].message if statuses else None!r}"
        sensing.set()
        count = len(commands)
        assert wait_for(lambda: len(commands) > count + 5, 5.0)

        # stale sensors: back to the reference at offset_rate, then passed through unchanged
        sensing.clear()
        assert wait_for(lambda: np.allclose(commands[-1].points[0].positions, robot.neutral_q, atol=1e-12), 5.0)
        assert "stale ticks" in statuses[-1].message

        # e-stop: the retarget node holds; its plan is forwarded as it is and nothing else is sent
        sensing.set()
        assert wait_for(lambda: len(corrected()) > 10, 5.0)
        dance_status.publish(DanceStatus(generator_state=DanceStatus.STATE_HOLDING))
        assert wait_for(lambda: statuses and statuses[-1].generator_state == DanceStatus.STATE_HOLDING, 5.0)
        held = len(commands)
        assert np.allclose([p.positions for p in commands[-1].points], plan)
        assert not wait_for(lambda: len(commands) > held, 0.5)


def test_a_tick_slower_than_its_period_leaves_the_inputs_served():
    """A control tick that takes longer than its period (a loaded machine) is ready again whenever
    it ends; sharing one mutually exclusive callback group with the inputs, rclpy's executor then
    served the tick only, and the e-stop status and the sensors went unread for seconds."""
    import time

    from dancemosaic_ros.stabilizer_node import StabilizerNode
    with ros_session() as ros:
        node = ros.add(StabilizerNode, rate=50.0, status_rate=20.0)
        command = node._command

        def slow_command():
            time.sleep(0.03)
            command()
        node._command = slow_command
        probe = ros.probe()
        statuses = []
        probe.create_subscription(DanceStatus, "stabilizer/status", statuses.append, 50)
        reference = probe.create_publisher(JointTrajectory, "dance/reference", 10)
        imu = probe.create_publisher(Imu, "/imu", 10)
        dance_status = probe.create_publisher(DanceStatus, "dance/status", 10)
        ros.start()
        assert wait_for(lambda: reference.get_subscription_count() and imu.get_subscription_count()
                        and dance_status.get_subscription_count(), 10.0)
        now = node._now()
        times = now + 0.1 + np.arange(80) / 20.0
        plan = np.repeat(node.robot.neutral_q[None], len(times), 0)
        reference.publish(joint_trajectory_msg(Segment(now, times, plan, 0 * plan), node.joint_names, node.epoch_ns))
        assert wait_for(lambda: node.plan is not None, 5.0)           # the tick runs from here on
        broken = Imu()
        broken.orientation.w = 2.0
        imu.publish(broken)
        dance_status.publish(DanceStatus(generator_state=DanceStatus.STATE_HOLDING))
        assert wait_for(lambda: node.bad_messages >= 1 and node.holding, 5.0), \
            f"bad messages {node.bad_messages}, holding {node.holding}"
        assert wait_for(lambda: statuses and statuses[-1].generator_state == DanceStatus.STATE_HOLDING, 5.0)
