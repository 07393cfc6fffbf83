"""Human 22-joint motion -> robot joint trajectory: targets, warm-started IK, limit filter.

    rt = Retargeter(robot=load_robot("g1"), floating_base=True)
    res = rt.retarget(joints, fps=20.0)         # whole clip -> RetargetResult
    rt.reset(); q, base, residual = rt.step(frame)   # live, one frame at a time

Per frame: targets (targets.py) -> IK from the previous frame's solution (ik.py) -> velocity and
acceleration filter (control.LimitFilter) -> a floating base is raised if a sole point went below
the ground -> residual = RMS distance of the position tasks from their targets on that output.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import pinocchio as pin

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.control import LimitFilter
from dancemosaic_core.motion.io import check_joints
from dancemosaic_core.motion.skeleton import MOTION_FPS, NUM_JOINTS
from dancemosaic_core.retarget.body import to_robot_axes
from dancemosaic_core.retarget.ik import IKOptions, IKSolver
from dancemosaic_core.retarget.robot import KEYPOINT_FRAME, RobotConfig, sole_points
from dancemosaic_core.retarget.targets import ContactOptions, TargetBuilder


@dataclass
class RetargetOptions:
    iterations: int = 2             # IK iterations per frame after the first (warm start)
    first_iterations: int = 60      # IK iterations for the first frame (from the neutral pose)
    max_residual: float = 0.10      # m: a frame whose residual is above this fails
    balance: float = 1.0            # weight of the centre of mass over the planted soles (0: off)
    planned_com_weight: float = 50.0     # weight of a planned CoM path (retarget(com=...)), instead
    guide_posture_weight: float = 0.3    # pull toward a guide posture (retarget(posture=...)); bench balance:
                                         # 0.1 changed Urban by 0.063 rad RMS, 0.3 by 0.043 with the same ZMP margins
    ik: IKOptions = field(default_factory=IKOptions)   # ik.limits=False: no limits, no filter (diagnostic)
    contact: ContactOptions = field(default_factory=ContactOptions)


@dataclass
class RetargetResult:
    q: np.ndarray                   # (T, n) rad, robot.joint_names order
    base: np.ndarray | None         # (T, 7) x y z qx qy qz qw, None for a fixed base
    residual: np.ndarray            # (T,) m, RMS position-task error per frame
    success: bool                   # every frame's residual <= max_residual
    clamped: np.ndarray             # (T, n) bool: the IK held the joint at a position limit
    contacts: np.ndarray            # (T, 2) bool: left/right foot planted
    joint_names: tuple[str, ...]
    fps: float
    robot: str
    velocity_clamps: int = 0        # joint samples the filter slowed to the velocity limit
    acceleration_clamps: int = 0    # joint samples the filter held to the acceleration limit

    def summary(self) -> dict:
        return {"frames": int(len(self.q)), "fps": self.fps, "robot": self.robot,
                "floating_base": self.base is not None, "success": self.success,
                "residual_mean_m": float(self.residual.mean()), "residual_max_m": float(self.residual.max()),
                "clamped_fraction": float(self.clamped.mean()),
                "frames_with_clamp": float(self.clamped.any(axis=1).mean()),
                "contact_fraction": [float(c) for c in self.contacts.mean(axis=0)],
                "velocity_clamps": self.velocity_clamps, "acceleration_clamps": self.acceleration_clamps}


class Retargeter:
    def __init__(self, *, robot: RobotConfig, floating_base: bool = True, fps: float = MOTION_FPS,
                 reference: np.ndarray | None = None, options: RetargetOptions | None = None):
        """reference: the (22, 3) y-up pose the robot's neutral pose stands for (default the
        SMPL rest pose; use layout.robot_rest_joints(robot) for motions made by robot FK)."""
        self.robot = robot
        self.floating = bool(floating_base)
        self.options = options or RetargetOptions()
        self.model = robot.model(floating=self.floating)
        self.data = self.model.createData()
        self.joint_q = robot.joint_q_index(self.model)
        self.targets = TargetBuilder(robot=robot, floating=self.floating, reference=reference,
                                     contact=self.options.contact)
        sole_frames = [self.model.getFrameId(robot.feet[s].frame) for s in ("left", "right")]
        self.solver = IKSolver(
            model=self.model,
            position_frames=[self.model.getFrameId(KEYPOINT_FRAME.format(n)) for n in self.targets.position_tasks],
            orientation_frames=[self.model.getFrameId(robot.orientations[n].frame) for n in self.targets.rotation_tasks],
            joint_v=robot.joint_v_index(self.model), joint_q=self.joint_q, neutral=robot.neutral_q,
            sole_frames=sole_frames, soles=[robot.feet[s].sole for s in ("left", "right")],
            ground_z=0.0 if self.floating else -robot.standing_height, options=self.options.ik,
            com_dofs=self._leg_dofs(sole_frames))
        self.fixed_base_pose = np.array([0, 0, robot.standing_height, 0, 0, 0, 1.0])
        self.fps = float(fps)
        self.reset()

    def _leg_dofs(self, sole_frames: list[int]) -> np.ndarray:
        """Velocity indices of the base and of the joints between the root and the feet."""
        joints = {j for f in sole_frames for j in self.model.supports[self.model.frames[f].parentJoint] if j > 0}
        return np.array(sorted(i for j in joints for i in range(self.model.joints[j].idx_v,
                                                                 self.model.joints[j].idx_v + self.model.joints[j].nv)))

    def reset(self, fps: float | None = None) -> None:
        """Forget the stream: the next frame is solved from the neutral pose."""
        if fps is not None:
            if not np.isfinite(fps) or fps <= 0:
                raise DanceMosaicError(f"motion fps must be positive (got {fps})")
            self.fps = float(fps)
        self.targets.reset()
        self.filter = LimitFilter(lower=self.robot.lower, upper=self.robot.upper, velocity=self.robot.velocity,
                                  acceleration=self.robot.acceleration, dt=1.0 / self.fps)
        self.q_ik = None
        self.last_clamped = np.zeros(self.robot.num_joints, bool)
        self.last_contacts = np.zeros(2, bool)

    def snapshot(self) -> dict:
        """The stream's state (targets' calibration and planted feet, warm start, filter): `restore`
        it to solve the same frames again from here (streaming_balance.StreamingBalance retargets each chunk
        twice)."""
        return copy.deepcopy({"targets": self.targets.stream_state(), "filter": self.filter, "q_ik": self.q_ik,
                              "last_clamped": self.last_clamped, "last_contacts": self.last_contacts})

    def restore(self, state: dict) -> None:
        state = copy.deepcopy(state)
        self.targets.restore_stream_state(state.pop("targets"))
        for name, value in state.items():
            setattr(self, name, value)

    def _initial(self, targets) -> np.ndarray:
        """Neutral joints, the base on the pelvis target: the first frame's starting point."""
        q = self.robot.configuration(self.model, self.robot.neutral_q)
        if self.floating:
            if "pelvis" in self.targets.position_tasks:
                q[:3] = targets.positions[self.targets.position_tasks.index("pelvis")]
            if "pelvis" in self.targets.rotation_tasks:
                R = targets.rotations[self.targets.rotation_tasks.index("pelvis")]
                q[3:7] = pin.Quaternion(R).coeffs()
        return q

    def step(self, joints_frame: np.ndarray, com: np.ndarray | None = None,
             posture: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, float]:
        """One human frame (22, 3) y-up metres -> (q (n,), base (7,), residual m), warm-started
        from the previous frame. A fixed base returns its pinned pose. `com`: planned horizontal
        centre of mass (2,) tracked instead of the pull over the planted soles; `posture` (n,):
        the joints' rest pose for this frame instead of the neutral pose (weights in the options)."""
        frame = np.asarray(joints_frame, dtype=np.float64)
        if frame.shape != (NUM_JOINTS, 3):
            raise DanceMosaicError(f"retarget step got joints of shape {frame.shape}; expected ({NUM_JOINTS}, 3) "
                                   "y-up metres (one frame of a dancemosaic motion)")
        if not np.isfinite(frame).all():
            raise DanceMosaicError("retarget step got NaN or infinite joint positions; drop or interpolate "
                                   "that frame before retargeting")
        targets = self.targets.build(to_robot_axes(frame), self.fps)
        first = self.q_ik is None
        q = self._initial(targets) if first else self.q_ik
        iterations = self.options.first_iterations if first else self.options.iterations
        if com is not None and self.floating:
            com = (np.asarray(com, np.float64), self.options.planned_com_weight)
        elif targets.support is not None and self.options.balance > 0:
            com = (targets.support, self.options.balance)
        else:
            com = None
        q, self.last_clamped = self.solver.solve(q, targets.positions, targets.position_weights,
                                                 targets.rotations, targets.rotation_weights, iterations, com,
                                                 None if posture is None else (posture, self.options.guide_posture_weight))
        self.q_ik = q
        out = q.copy()
        if self.options.ik.limits:
            out[self.joint_q] = self.filter.step(q[self.joint_q])
        pin.framesForwardKinematics(self.model, self.data, out)
        if self.floating:
            lowest = sole_points(self.robot, self.model, self.data)[..., 2].min()
            if lowest < 0:
                out[2] -= lowest
                pin.framesForwardKinematics(self.model, self.data, out)
        self.last_contacts = targets.contacts
        residual = self._residual(targets)
        base = out[:7].copy() if self.floating else self.fixed_base_pose.copy()
        return out[self.joint_q].copy(), base, residual

    def steps(self, frames: np.ndarray, com: np.ndarray | None = None,
              posture: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """step() over human frames (k, 22, 3) in order, with com (k, 2) and posture (k, n) per
        frame when given: (q (k, n), base (k, 7))."""
        out = [self.step(frame, None if com is None else com[i], None if posture is None else posture[i])
               for i, frame in enumerate(frames)]
        return (np.array([o[0] for o in out]).reshape(-1, self.robot.num_joints),
                np.array([o[1] for o in out]).reshape(-1, 7))

    def _residual(self, targets) -> float:
        errors = [targets.positions[i] - self.data.oMf[fid].translation
                  for i, fid in enumerate(self.solver.position_frames)]
        return float(np.sqrt(np.mean(np.sum(np.square(errors), axis=-1)))) if errors else 0.0

    def retarget(self, joints: np.ndarray, fps: float = MOTION_FPS, com: np.ndarray | None = None,
                 posture: np.ndarray | None = None) -> RetargetResult:
        """A whole motion (T, 22, 3) y-up metres at `fps` -> RetargetResult. The ground, scale
        and origin are estimated from the whole clip; frames are then solved in order. `com`
        (T, 2): a planned horizontal CoM path to track, `posture` (T, n): per-frame rest poses
        (com_plan.balanced_retarget passes the unbalanced solution)."""
        joints = check_joints(joints, "motion to retarget").astype(np.float64)
        if com is not None and np.shape(com) != (len(joints), 2):
            raise DanceMosaicError(f"planned CoM path has shape {np.shape(com)}; expected ({len(joints)}, 2), "
                                   "one xy point per frame")
        if posture is not None and np.shape(posture) != (len(joints), self.robot.num_joints):
            raise DanceMosaicError(f"guide posture has shape {np.shape(posture)}; expected ({len(joints)}, "
                                   f"{self.robot.num_joints}), one pose per frame in the robot's joint order")
        self.reset(fps)
        self.targets.calibrate(to_robot_axes(joints))
        T, n = len(joints), self.robot.num_joints
        q = np.empty((T, n))
        base = np.empty((T, 7))
        residual = np.empty(T)
        clamped = np.empty((T, n), bool)
        contacts = np.empty((T, 2), bool)
        for t in range(T):
            q[t], base[t], residual[t] = self.step(joints[t], None if com is None else com[t],
                                                   None if posture is None else posture[t])
            clamped[t], contacts[t] = self.last_clamped, self.last_contacts
        return RetargetResult(
            q=q, base=base if self.floating else None, residual=residual,
            success=bool(np.all(residual <= self.options.max_residual)), clamped=clamped, contacts=contacts,
            joint_names=self.robot.joint_names, fps=self.fps, robot=self.robot.name,
            velocity_clamps=self.filter.velocity_clamps, acceleration_clamps=self.filter.acceleration_clamps)
