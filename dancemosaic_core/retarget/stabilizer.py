"""Balance feedback for a position-controlled humanoid: the measured CoM and base-orientation
errors become offsets of the leg joints' position targets, through the leg Jacobians.

    stabilizer = Stabilizer(robot, trajectory)                # reference: q (T, n), base (T, 7), fps
    ctrl = q_ref(t) + stabilizer.correction(t, q, base, v)    # Pinocchio state of the robot

    live = StreamingStabilizer(robot, fps)                    # the reference arrives in pieces
    live.extend(t0, q, base, now)                             # frames at t0 + k / fps replace the rest
    ctrl = q_ref(t) + live.correction(t, q, base, v)

Both run the one law below (MuJoCo: sim/playback.py on the simulated state; ROS: the
stabilizer node, on the state of retarget/estimator.py). At each control tick,
with the reference's stance feet held where they are (J_feet dv = 0):
  CoM       e_c = (c - s) - (c_ref - s_ref), horizontal, s = centre of the stance feet; its divergent
            component e_c + e_c' / omega_0 (capture point, omega_0 = sqrt(g / z_c)) is driven back:
            the ankle strategy (the whole body turns about the feet),
  tilt      e_R = roll and pitch of log3(R R_ref^T) of the base, and its rate: the hip strategy,
  mapping   [dc; dR] = -[k_c (e_c + e_c' / omega_0); k_R e_R + d_R omega] is solved for the base and
            stance-leg joint velocities in the null space of the stance feet's Jacobians (damped
            least squares); the leg-joint part is the offset added to the position targets.
The state needs joint encoders, the base orientation and angular rate (an IMU) and a base
velocity estimate; no foot force sensor (the G1 has none): the stance feet come from the
reference's contact schedule (balance.foot_contacts) and the measured foot height.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pinocchio as pin

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.retarget.balance import GRAVITY, foot_contacts
from dancemosaic_core.retarget.io import frame_at, interpolate_poses
from dancemosaic_core.retarget.robot import RobotConfig, sole_points

WORLD = pin.ReferenceFrame.LOCAL_WORLD_ALIGNED


@dataclass
class StabilizerOptions:
    # gains tuned on choreographed dances (Hiphop, Popping, Jazz at 100-140 BPM) with the G1's
    # PD gains of config/robots/g1.yaml: the position offsets over-correct because the PD servos
    # leave part of each offset as tracking error
    com_gain: float = 3.0          # m of CoM correction per m of capture-point error
    tilt_gain: float = 2.0         # rad of correction per rad of base roll / pitch error
    tilt_damping: float = 0.1      # s: rad of correction per rad/s of base roll / pitch rate
    max_offset: float = 0.4        # rad: largest offset of one joint target
    # (substring of joint names, rad): tighter limits, first match wins. The G1 sole is 6 cm wide:
    # its ankle roll can hold about m g x 3 cm ~ 10 N m, 0.035 rad of its PD stiffness; a larger
    # roll offset tips the stance foot onto its edge instead of moving the body (bench balance:
    # 6 of 10 stepping dances stand with 0.05, 4 of 10 without)
    joint_max_offset: tuple = (("ankle_roll", 0.05),)
    damping: float = 1e-4          # least-squares damping of the mapping
    contact_height: float = 0.02   # m: a scheduled stance foot higher than this is not holding
    com_height: float | None = None  # m, z_c of omega_0; None: the reference's mean (streaming: its first piece)


@dataclass
class ReferenceSample:
    """The reference at one time, for a state estimator: base pose, foot positions, stance."""
    base: np.ndarray               # (7,) x y z qx qy qz qw
    feet: np.ndarray               # (2, 3) left, right foot frame positions, world
    contacts: np.ndarray           # (2,) bool: scheduled to bear weight


class BalanceLaw:
    """The robot's model and the correction law, on reference arrays held by a subclass: com (T, 3),
    com_velocity (T, 3), feet (T, 2, 3), rotation (T, 3, 3), contacts (T, 2), at fps from t0."""

    def __init__(self, robot: RobotConfig, fps: float, options: StabilizerOptions | None = None):
        self.robot, self.options = robot, options or StabilizerOptions()
        self.model = robot.model(floating=True)
        self.data = self.model.createData()
        self.fps = float(fps)
        self.foot_frames = [self.model.getFrameId(robot.feet[s].frame) for s in ("left", "right")]
        self.jv = robot.joint_v_index(self.model)
        # per foot: the velocity indices of its leg (root to foot, without the base)
        self.leg_v = [np.array(sorted(self.model.joints[j].idx_v for j in self.model.supports[
            self.model.frames[f].parentJoint] if j > 0)) for f in self.foot_frames]
        self.base_frame = self.model.getFrameId(robot.base_frame)
        self.offset_limit = np.array([next((limit for match, limit in self.options.joint_max_offset if match in name),
                                           self.options.max_offset) for name in robot.joint_names])
        self._clear()

    def _clear(self) -> None:
        self.t0 = 0.0
        self.q = np.zeros((0, self.robot.num_joints))
        self.base = np.zeros((0, 7))
        self.ref_com, self.ref_feet = np.zeros((0, 3)), np.zeros((0, 2, 3))
        self.ref_rotation, self.soles = np.zeros((0, 3, 3)), np.zeros((0, 2, 0, 3))
        self.ref_com_velocity, self.contacts = np.zeros((0, 3)), np.zeros((0, 2), bool)
        self.omega = None
        self.stance = np.zeros(2, bool)     # the feet the last correction() held the robot on

    def _reference_frames(self, q: np.ndarray, base: np.ndarray):
        """Per frame of (q, base): CoM, foot positions, base rotation and sole points."""
        com, feet, rotation, soles = [], [], [], []
        for t in range(len(q)):
            config = self.robot.configuration(self.model, q[t], base[t])
            pin.framesForwardKinematics(self.model, self.data, config)
            com.append(pin.centerOfMass(self.model, self.data, config))
            feet.append([self.data.oMf[f].translation.copy() for f in self.foot_frames])
            rotation.append(self.data.oMf[self.base_frame].rotation.copy())
            soles.append(sole_points(self.robot, self.model, self.data))
        k = len(self.robot.feet["left"].sole)
        return (np.array(com).reshape(-1, 3), np.array(feet).reshape(-1, 2, 3),
                np.array(rotation).reshape(-1, 3, 3), np.array(soles).reshape(-1, 2, k, 3))

    def _derive(self) -> None:
        """Contacts and CoM velocity of the whole reference held (they look at neighbouring frames)."""
        self.contacts = foot_contacts(self.soles, self.fps)[0]
        self.ref_com_velocity = np.gradient(self.ref_com, 1.0 / self.fps, axis=0) if len(self.ref_com) > 1 \
            else 0 * self.ref_com
        if self.omega is None:
            height = self.options.com_height
            self.omega = np.sqrt(GRAVITY / max(float(self.ref_com[:, 2].mean()) if height is None else height, 0.1))

    def _frame(self, t: float) -> tuple[int, float]:
        if not len(self.ref_com):
            raise DanceMosaicError("the stabilizer has no reference yet; extend() it with the reference first")
        return frame_at((t - self.t0) * self.fps, len(self.ref_com))

    def reference_at(self, t: float) -> ReferenceSample:
        """The reference base pose, feet and stance at time t (held before and after the reference)."""
        i, a = self._frame(t)
        j = min(i + 1, len(self.ref_com) - 1)
        return ReferenceSample(base=interpolate_poses(np.array([0.0, 1.0]), self.base[[i, j]], a),
                               feet=(1 - a) * self.ref_feet[i] + a * self.ref_feet[j],
                               contacts=self.contacts[round(min(i + a, len(self.contacts) - 1))].copy())

    def correction(self, t: float, q: np.ndarray, base: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Offsets (n,) of the controller joints' position targets at time t (s) for the measured
        state: q (n,) controller joints, base (7,) x y z qx qy qz qw, v (nv,) Pinocchio velocity."""
        offsets = np.zeros(self.robot.num_joints)
        i, a = self._frame(t)
        model, data, opt = self.model, self.data, self.options
        config = self.robot.configuration(model, q, base)
        pin.computeJointJacobians(model, data, config)
        pin.updateFramePlacements(model, data)
        # stance: scheduled by the reference and, by the measured kinematics, near the floor
        low = sole_points(self.robot, model, data)[..., 2].min(axis=1) < opt.contact_height
        stance = self.stance = self.contacts[round(min(i + a, len(self.contacts) - 1))] & low
        if not stance.any():
            return offsets
        com = pin.centerOfMass(model, data, config, v)
        com_velocity = data.vcom[0]
        Jc = pin.jacobianCenterOfMass(model, data, config)[:2]
        ref_com = (1 - a) * self.ref_com[i] + a * self.ref_com[min(i + 1, len(self.ref_com) - 1)]
        ref_velocity = (1 - a) * self.ref_com_velocity[i] + a * self.ref_com_velocity[min(i + 1, len(self.ref_com) - 1)]
        feet = [k for k in range(2) if stance[k]]
        support = np.mean([data.oMf[self.foot_frames[k]].translation for k in feet], axis=0)
        ref_support = np.mean([self.ref_feet[i][k] for k in feet], axis=0)
        error = (com - support - (ref_com - ref_support))[:2]
        error_rate = (com_velocity - ref_velocity)[:2]
        R = data.oMf[self.base_frame].rotation
        ref_R = self.ref_rotation[i]
        tilt = pin.log3(R @ ref_R.T)[:2]
        rate = (R @ v[3:6])[:2]                    # base angular velocity, world axes
        target = np.concatenate([-opt.com_gain * (error + error_rate / self.omega),
                                 -opt.tilt_gain * tilt - opt.tilt_damping * rate])
        J_base = pin.getFrameJacobian(model, data, self.base_frame, WORLD)[3:5]
        J_task = np.vstack([Jc, J_base])
        J_feet = np.vstack([pin.getFrameJacobian(model, data, self.foot_frames[k], WORLD) for k in feet])
        columns = np.concatenate([np.arange(6), *(self.leg_v[k] for k in feet)])
        Jf, Jt = J_feet[:, columns], J_task[:, columns]
        null = np.eye(len(columns)) - np.linalg.pinv(Jf, rcond=1e-6) @ Jf
        A = Jt @ null
        dv = null @ A.T @ np.linalg.solve(A @ A.T + opt.damping * np.eye(len(A)), target)
        full = np.zeros(model.nv)
        full[columns] = dv
        offsets = np.clip(full[self.jv], -self.offset_limit, self.offset_limit)
        return offsets


def _check_reference(robot: RobotConfig, q, base) -> tuple[np.ndarray, np.ndarray]:
    q, base = np.asarray(q, np.float64), np.asarray(base, np.float64)
    if q.ndim != 2 or q.shape[1] != robot.num_joints or base.shape != (len(q), 7) or not len(q):
        raise DanceMosaicError(f"the stabilizer's reference needs q (T, {robot.num_joints}) in the joint order of "
                               f"robot {robot.name!r} and base (T, 7) x y z qx qy qz qw, T >= 1; got q {q.shape} "
                               f"and base {base.shape}")
    if not (np.isfinite(q).all() and np.isfinite(base).all()):
        raise DanceMosaicError("the stabilizer's reference holds NaN or infinite values; it is refused")
    return q, base


class Stabilizer(BalanceLaw):
    """The law on a whole trajectory (anything with q (T, n), base (T, 7) and fps), from t = 0."""

    def __init__(self, robot: RobotConfig, trajectory, options: StabilizerOptions | None = None):
        super().__init__(robot, trajectory.fps, options)
        self.q, self.base = _check_reference(robot, trajectory.q, trajectory.base)
        self.ref_com, self.ref_feet, self.ref_rotation, self.soles = self._reference_frames(self.q, self.base)
        self._derive()


class StreamingStabilizer(BalanceLaw):
    """The law on a reference that arrives in pieces on one time grid (frames at t0 + k / fps,
    seconds on any clock the caller keeps): a piece replaces the reference from its first frame
    on; one off the grid, or after a gap, starts a new reference. Frames more than keep_seconds
    before `now` are dropped, so memory stays bounded by keep_seconds plus what lies ahead."""

    def __init__(self, robot: RobotConfig, fps: float, options: StabilizerOptions | None = None,
                 keep_seconds: float = 2.0):
        super().__init__(robot, fps, options)
        self.keep_seconds = float(keep_seconds)

    @property
    def end_time(self) -> float | None:
        """Time of the last reference frame (None before the first piece)."""
        return self.t0 + (len(self.q) - 1) / self.fps if len(self.q) else None

    def reset(self) -> None:
        """Forget the reference (the next piece starts a new one; omega_0 is set again from it)."""
        self._clear()

    def extend(self, t0: float, q: np.ndarray, base: np.ndarray, now: float | None = None) -> None:
        """Frames (q (k, n), base (k, 7)) at t0 + j / fps replace the reference from t0 on."""
        q, base = _check_reference(self.robot, q, base)
        x = (float(t0) - self.t0) * self.fps
        k = round(x)
        if not len(self.q) or abs(x - k) > 1e-3 or not 0 <= k <= len(self.q):
            keep, self.t0 = 0, float(t0)          # a new reference: nothing to continue
        else:
            keep = k
        com, feet, rotation, soles = self._reference_frames(q, base)
        self.q, self.base = np.concatenate([self.q[:keep], q]), np.concatenate([self.base[:keep], base])
        self.ref_com, self.ref_feet = np.concatenate([self.ref_com[:keep], com]), np.concatenate([self.ref_feet[:keep], feet])
        self.ref_rotation = np.concatenate([self.ref_rotation[:keep], rotation])
        self.soles = soles if not keep else np.concatenate([self.soles[:keep], soles])
        old = int(np.floor(((t0 if now is None else now) - self.keep_seconds - self.t0) * self.fps))
        drop = min(max(old, 0), len(self.q) - 1)
        if drop:
            self.t0 += drop / self.fps
            for name in ("q", "base", "ref_com", "ref_feet", "ref_rotation", "soles"):
                setattr(self, name, getattr(self, name)[drop:])
        self._derive()
