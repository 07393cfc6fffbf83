"""Robot poses as 22-joint skeletons: the robot's keypoints where the config maps them, the
other skeleton joints placed from the SMPL rest offsets turned with the robot's pelvis or torso.

Used to make test motions from robot forward kinematics, to calibrate the retargeter on the
robot itself, and to sample the reachable set behind the joint-limit proxy.
"""
from __future__ import annotations

import numpy as np
import pinocchio as pin

from dancemosaic_core.motion.skeleton import JOINT_NAMES, NUM_JOINTS, PARENTS
from dancemosaic_core.retarget.body import UNMAPPED_BODY, rest_offset, to_human_axes
from dancemosaic_core.retarget.robot import KEYPOINT_FRAME, RobotConfig


class RobotSkeleton:
    """Forward kinematics of one robot to (22, 3) joints in robot axes (z up)."""

    def __init__(self, robot: RobotConfig):
        self.robot = robot
        self.model = robot.model(floating=True)
        self.data = self.model.createData()
        self.keypoint_frames = {n: self.model.getFrameId(KEYPOINT_FRAME.format(n)) for n in robot.keypoints}
        body_frame = {o.body: o.frame for o in robot.orientations.values()}
        self.body_frames = {b: self.model.getFrameId(body_frame[b]) for b in ("pelvis", "torso")}
        pin.framesForwardKinematics(self.model, self.data, robot.configuration(self.model, robot.neutral_q))
        self.neutral_rotation = {b: self.data.oMf[f].rotation.copy() for b, f in self.body_frames.items()}
        self.offsets = {n: rest_offset(n) for n in UNMAPPED_BODY}

    def joints(self, q: np.ndarray, base: np.ndarray | None = None) -> np.ndarray:
        """(22, 3) robot-axes joints of controller-order q and base (x y z qx qy qz qw)."""
        pin.framesForwardKinematics(self.model, self.data, self.robot.configuration(self.model, q, base))
        return self.current()

    def current(self) -> np.ndarray:
        """Joints of the configuration whose frame placements are in self.data."""
        rot = {b: self.data.oMf[f].rotation @ self.neutral_rotation[b].T for b, f in self.body_frames.items()}
        out = np.empty((NUM_JOINTS, 3))
        for j, name in enumerate(JOINT_NAMES):
            if name in self.keypoint_frames:
                out[j] = self.data.oMf[self.keypoint_frames[name]].translation
            else:
                out[j] = out[PARENTS[j]] + rot[UNMAPPED_BODY[name]] @ self.offsets[name]
        return out


def robot_joints(robot: RobotConfig, q: np.ndarray, base: np.ndarray | None = None) -> np.ndarray:
    """Motion (T, 22, 3) y-up metres of a robot trajectory: q (T, n) controller order, base
    (T, 7) x y z qx qy qz qw, or None to stand at the standing height."""
    skeleton = RobotSkeleton(robot)
    q = np.atleast_2d(q)
    out = np.stack([skeleton.joints(q[t], None if base is None else np.atleast_2d(base)[t])
                    for t in range(len(q))])
    return to_human_axes(out).astype(np.float32)


def robot_rest_joints(robot: RobotConfig) -> np.ndarray:
    """The robot's neutral standing pose as (22, 3) y-up joints (a calibration reference)."""
    return robot_joints(robot, robot.neutral_q[None])[0]
