"""A recording stand-in for a robot under a joint_trajectory_controller: it records every
trajectory it is sent and publishes the robot's measured state on /joint_states, either frozen at
a pose (a blocked robot, or one that ignores its goal) or following what the controller would
execute (trajectory_checks.executed_timeline, sampled at now), stamped with the time it was
sampled, as joint_state_broadcaster stamps the time it read the joints."""
from __future__ import annotations

import threading

import numpy as np
from sensor_msgs.msg import JointState

from tests.ros.trajectory_checks import executed_timeline


class StandInRobot:
    def __init__(self, ros, rig, pose: np.ndarray, rate: float = 50.0):
        """`rig` records the trajectories (its `trajectories` list) and converts them (`points`)."""
        self.rig, self.pose, self.following = rig, np.asarray(pose, dtype=np.float64), False
        self.published = []                          # (seconds after rig.origin_ns, pose)
        self._merged = []                            # the rig's trajectories converted so far, in order
        self._timeline = None                        # executed_timeline(self._merged)
        self._lock = threading.Lock()
        self.node = ros.probe("standin_robot")
        self.publisher = self.node.create_publisher(JointState, "/joint_states", 10)
        self.node.create_timer(1.0 / rate, self._publish)

    def follow(self, on: bool = True) -> None:
        """Track the commanded trajectory (True) or freeze where the robot is now (False)."""
        with self._lock:
            self.following = on

    def _publish(self) -> None:
        from tests.ros.test_retarget_node import points
        now = self.rig.now()
        with self._lock:
            if self.following and self.rig.trajectories:
                # each message converted once: re-converting every point of every message at 50 Hz
                # held the GIL long enough to delay the node's callbacks in this process by 0.1 s+
                # and the executed timeline merged again only when a message came: merging every
                # message at 50 Hz starved the node's IK thread of the GIL (seconds per chunk once
                # a deadline miss had made ~20 messages)
                new = self.rig.trajectories[len(self._merged):]
                for msg in new:
                    self._merged.append(points(msg, self.rig.origin_ns)[:3])
                if new or self._timeline is None:
                    self._timeline = executed_timeline(self._merged)
                times, q = self._timeline
                if now >= times[0]:
                    self.pose = np.array([np.interp(now, times, q[:, j]) for j in range(q.shape[1])])
            pose = self.pose.copy()
        self.published.append((now, pose))
        msg = JointState(name=list(self.rig.robot.joint_names), position=pose.tolist())
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(self.rig.origin_ns + int(round(now * 1e9)), 10**9)
        self.publisher.publish(msg)
