"""Per-frame IK targets from a human pose: limb-length scaling, ground, stance feet.

Targets are built parent-first over the config's keypoints (robot axes, z up):
  root   pelvis = scale * human pelvis (horizontal from the first frame, height from the ground)
  limb   child  = parent target + robot segment length * human segment direction
  rigid  child  = parent target + R_body * (robot's neutral offset parent -> child)
where R_body is the human body's rotation from its reference pose (SMPL rest by default), so the
robot's neutral pose answers the human's reference pose. Floating base: the lower foot is put at
its (scaled) height above the ground, a foot the human keeps still on the ground is pinned where
it touched down (flat, yaw frozen), and the whole target set slides with the pinned feet, so
differences in leg length do not make the stance feet skate. Fixed base: targets relative to the
human pelvis, the robot's pelvis stays put.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pinocchio as pin

from dancemosaic_core.motion.skeleton import JOINT_INDEX
from dancemosaic_core.retarget.body import (
    body_frames,
    normalize,
    rest_joints_robot_axes,
    to_robot_axes,
)
from dancemosaic_core.retarget.robot import KEYPOINT_FRAME, RobotConfig

FOOT_JOINTS = [JOINT_INDEX[n] for n in ("left_ankle", "right_ankle", "left_foot", "right_foot")]
SIDES = ("left", "right")


@dataclass
class ContactOptions:
    ankle_height: float = 0.06     # m above the reference pose's ankle height (human scale)
    toe_height: float = 0.04       # m above the reference pose's toe height
    speed: float = 0.4             # m/s horizontal foot speed below which a low foot is planted
    stance_weight: float = 10.0    # IK weight multiplier of a planted foot's position and orientation


@dataclass
class Targets:
    positions: np.ndarray          # (K, 3) for the solver's position tasks
    position_weights: np.ndarray   # (K,)
    rotations: np.ndarray          # (M, 3, 3)
    rotation_weights: np.ndarray   # (M,)
    contacts: np.ndarray           # (2,) bool: left, right foot planted
    support: np.ndarray | None = None   # (2,) xy centre of the planted soles, None in flight


def yaw_of(R: np.ndarray) -> float:
    return float(np.arctan2(R[1, 0], R[0, 0]))


def rotation_z(yaw: float) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


class TargetBuilder:
    def __init__(self, *, robot: RobotConfig, floating: bool, reference: np.ndarray | None,
                 contact: ContactOptions):
        self.robot, self.floating, self.contact = robot, floating, contact
        model = robot.model(floating=True)
        data = model.createData()
        pin.framesForwardKinematics(model, data, robot.configuration(model, robot.neutral_q))
        p0 = {n: data.oMf[model.getFrameId(KEYPOINT_FRAME.format(n))].translation.copy() for n in robot.keypoints}
        self.R0 = {n: data.oMf[model.getFrameId(o.frame)].rotation.copy() for n, o in robot.orientations.items()}
        self.order = [k for k in robot.keypoints.values() if k.rule != "root"]
        self.length = {k.name: float(np.linalg.norm(p0[k.name] - p0[k.parent])) for k in self.order}
        self.offset = {k.name: p0[k.name] - p0[k.parent] for k in self.order}
        self.feet = [robot.feet[s] for s in SIDES]
        self.ankle_height = np.array([p0[f.ankle][2] for f in self.feet])
        self.robot_leg = float(np.mean([self.length[robot.keypoints[f.ankle].name] + self.length[
            robot.keypoints[f.ankle].parent] for f in self.feet]))
        self.foot_task = {o.body: n for n, o in robot.orientations.items() if o.body in ("left_foot", "right_foot")}
        # sole centre relative to the ankle keypoint, in the foot's yaw frame
        foot_frames = [data.oMf[model.getFrameId(f.frame)] for f in self.feet]
        self.sole_centre = [(m.translation + m.rotation @ f.sole.mean(axis=0) - p0[f.ankle])[:2]
                            for m, f in zip(foot_frames, self.feet)]

        ref = rest_joints_robot_axes() if reference is None else to_robot_axes(np.asarray(reference, float))
        ref_ground = ref[FOOT_JOINTS, 2].min()
        self.ref_frames = body_frames(ref)
        self.ref_ankle = np.array([ref[JOINT_INDEX[f.ankle], 2] - ref_ground for f in self.feet])
        self.ref_toe = np.array([ref[JOINT_INDEX[f.toe], 2] - ref_ground for f in self.feet])

        self.position_tasks = [k.name for k in robot.keypoints.values()
                               if k.weight > 0 and (floating or k.rule != "root")]
        self.rotation_tasks = [n for n, o in robot.orientations.items()
                               if o.weight > 0 and (floating or o.body != "pelvis")]
        self.position_weights = np.array([robot.keypoints[n].weight for n in self.position_tasks])
        self.rotation_weights = np.array([robot.orientations[n].weight for n in self.rotation_tasks])
        self.reset()

    # --- stream state ---------------------------------------------------------------------------
    def reset(self) -> None:
        self.ground = None             # human ground height (z, robot axes)
        self.scale = None              # robot leg / human leg
        self.origin = None             # human pelvis xy of the first frame
        self.previous = None           # previous human frame (robot axes)
        self.anchors = [None, None]    # planted feet: (xy, yaw)
        self.slide = np.zeros(2)       # horizontal shift that keeps planted feet in place
        self.last_frames = {}          # last well-defined body frames

    STREAM_STATE = ("ground", "scale", "origin", "previous", "anchors", "slide", "last_frames")

    def stream_state(self) -> dict:
        """What build() changes as a stream goes on (Retargeter.snapshot copies it)."""
        return {name: getattr(self, name) for name in self.STREAM_STATE}

    def restore_stream_state(self, state: dict) -> None:
        for name in self.STREAM_STATE:
            setattr(self, name, state[name])

    def calibrate(self, h: np.ndarray) -> None:
        """Ground, scale and origin from human frames (T, 22, 3) robot axes: the ground is the
        2nd percentile of the lowest foot joint, the scale the median leg-length ratio."""
        h = np.asarray(h, float).reshape(-1, h.shape[-2], 3)
        self.ground = float(np.percentile(h[:, FOOT_JOINTS, 2].min(axis=1), 2))
        legs = []
        for f in self.feet:       # ankle <- knee <- hip, as the keypoint chain has it
            knee = self.robot.keypoints[f.ankle].parent
            a, k, hip = (JOINT_INDEX[n] for n in (f.ankle, knee, self.robot.keypoints[knee].parent))
            legs.append(np.linalg.norm(h[:, a] - h[:, k], axis=-1) + np.linalg.norm(h[:, k] - h[:, hip], axis=-1))
        self.scale = float(self.robot_leg / max(np.median(np.mean(legs, axis=0)), 1e-3))
        self.origin = h[0, JOINT_INDEX["pelvis"], :2].copy()

    # --- targets ----------------------------------------------------------------------------------
    def build(self, h: np.ndarray, fps: float) -> Targets:
        """Targets for one human frame (22, 3) in robot axes."""
        if self.scale is None:
            self.calibrate(h[None])
        self.ground = min(self.ground, float(h[FOOT_JOINTS, 2].min()))
        s = self.scale
        frames = body_frames(h)
        for b, F in frames.items():
            # a collapsed body (coincident joints) has no frame: keep the last good one
            if np.isfinite(F).all() and abs(np.linalg.det(F) - 1.0) < 1e-3:
                self.last_frames[b] = F
            else:
                frames[b] = self.last_frames.get(b, self.ref_frames[b])
        rot = {b: frames[b] @ self.ref_frames[b].T for b in frames}
        t = {"pelvis": np.array([*(s * (h[0, :2] - self.origin)), s * (h[0, 2] - self.ground)])}
        for k in self.order:
            if k.rule == "limb":
                t[k.name] = t[k.parent] + self.length[k.name] * normalize(h[JOINT_INDEX[k.name]] - h[JOINT_INDEX[k.parent]])
            else:
                t[k.name] = t[k.parent] + rot[k.body] @ self.offset[k.name]
        R = {n: rot[o.body] @ self.R0[n] for n, o in self.robot.orientations.items()}
        pos_w = dict(zip(self.position_tasks, self.position_weights))
        rot_w = dict(zip(self.rotation_tasks, self.rotation_weights))
        contacts, support = np.zeros(2, bool), None
        if self.floating:
            contacts = self._place_on_ground(h, t, R, pos_w, rot_w, fps)
            if contacts.any():
                support = np.mean([self.anchors[i][0] + rotation_z(self.anchors[i][1])[:2, :2] @ self.sole_centre[i]
                                   for i in range(2) if contacts[i]], axis=0)
        else:
            pelvis_R, pelvis_t = rot["pelvis"], t["pelvis"].copy()
            t = {n: pelvis_R.T @ (p - pelvis_t) for n, p in t.items()}
            R = {n: pelvis_R.T @ r for n, r in R.items()}
            # the pelvis stays at the standing height: a longer human leg must not aim below the floor
            for i, f in enumerate(self.feet):
                t[f.ankle][2] = max(t[f.ankle][2], self.ankle_height[i] - self.robot.standing_height)
        self.previous = h.copy()
        return Targets(
            positions=np.array([t[n] for n in self.position_tasks]),
            position_weights=np.array([pos_w[n] for n in self.position_tasks]),
            rotations=np.array([R[n] for n in self.rotation_tasks]).reshape(-1, 3, 3),
            rotation_weights=np.array([rot_w[n] for n in self.rotation_tasks]),
            contacts=contacts, support=support)

    def _place_on_ground(self, h, t, R, pos_w, rot_w, fps) -> np.ndarray:
        s, c = self.scale, self.contact
        ankle = np.array([h[JOINT_INDEX[f.ankle], 2] for f in self.feet]) - self.ground - self.ref_ankle
        toe = np.array([h[JOINT_INDEX[f.toe], 2] for f in self.feet]) - self.ground - self.ref_toe
        clearance = np.minimum(ankle, toe)
        low = int(np.argmin(clearance))
        lift = self.ankle_height[low] + s * max(clearance[low], 0.0) - t[self.feet[low].ankle][2]
        for p in t.values():
            p[2] += lift
        mid = np.array([(h[JOINT_INDEX[f.ankle], :2] + h[JOINT_INDEX[f.toe], :2]) / 2 for f in self.feet])
        if self.previous is None:
            speed = np.zeros(2)
        else:
            before = np.array([(self.previous[JOINT_INDEX[f.ankle], :2] + self.previous[JOINT_INDEX[f.toe], :2]) / 2
                               for f in self.feet])
            speed = np.linalg.norm(mid - before, axis=-1) * fps
        contacts = (ankle < c.ankle_height) & (toe < c.toe_height) & (speed < c.speed)
        for i, f in enumerate(self.feet):
            if not contacts[i]:
                self.anchors[i] = None
            elif self.anchors[i] is None:
                task = self.foot_task.get(f"{f.side}_foot")
                yaw = yaw_of(R[task] @ self.R0[task].T) if task else 0.0
                self.anchors[i] = (t[f.ankle][:2] + self.slide, yaw)
        if contacts.any():
            self.slide = np.mean([self.anchors[i][0] - t[self.feet[i].ankle][:2]
                                  for i in range(2) if contacts[i]], axis=0)
        for p in t.values():
            p[:2] += self.slide
        for i, f in enumerate(self.feet):
            task = self.foot_task.get(f"{f.side}_foot")
            if contacts[i]:
                xy, yaw = self.anchors[i]
                t[f.ankle] = np.array([xy[0], xy[1], self.ankle_height[i]])
                pos_w[f.ankle] = pos_w.get(f.ankle, 1.0) * c.stance_weight
                if task:
                    R[task] = rotation_z(yaw) @ self.R0[task]
                    rot_w[task] = rot_w.get(task, 1.0) * c.stance_weight
            else:
                t[f.ankle][2] = max(t[f.ankle][2], self.ankle_height[i])
        return contacts
