"""Balance feedback for a position-controlled humanoid: the measured CoM and base-orientation
errors become offsets of the leg joints' position targets, through the leg Jacobians.

    stabilizer = Stabilizer(robot, trajectory)                # reference: q (T, n), base (T, 7), fps
    ctrl = q_ref(t) + stabilizer.correction(t, q, base, v)    # Pinocchio state of the robot

At each control tick, with the reference's stance feet held where they are (J_feet dv = 0):
  CoM       e_c = (c - s) - (c_ref - s_ref), horizontal, s = centre of the stance feet; its divergent
            component e_c + e_c' / omega_0 (capture point, omega_0 = sqrt(g / z_c)) is driven back:
            the ankle strategy (the whole body turns about the feet),
  tilt      e_R = roll and pitch of log3(R R_ref^T) of the base, and its rate: the hip strategy,
  mapping   [dc; dR] = -[k_c (e_c + e_c' / omega_0); k_R e_R + d_R omega] is solved for the base and
            stance-leg joint velocities in the null space of the stance feet's Jacobians (damped
            least squares); the leg-joint part is the offset added to the position targets.
The state needs joint encoders, the base orientation and angular rate (an IMU) and a base
velocity estimate; no foot force sensor (the G1 has none): the stance feet come from the
reference's contact schedule (balance.zmp_margin).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pinocchio as pin

from dancemosaic_core.retarget.balance import GRAVITY, zmp_margin
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
    damping: float = 1e-4          # least-squares damping of the mapping
    contact_height: float = 0.02   # m: a scheduled stance foot higher than this is not holding


class Stabilizer:
    def __init__(self, robot: RobotConfig, trajectory, options: StabilizerOptions | None = None):
        self.robot, self.options = robot, options or StabilizerOptions()
        self.model = robot.model(floating=True)
        self.data = self.model.createData()
        self.fps = float(trajectory.fps)
        q, base = np.asarray(trajectory.q, np.float64), np.asarray(trajectory.base, np.float64)
        reference = zmp_margin(robot, q, base, self.fps)
        self.contacts = reference.contacts
        self.foot_frames = [self.model.getFrameId(robot.feet[s].frame) for s in ("left", "right")]
        self.jv = robot.joint_v_index(self.model)
        # per foot: the velocity indices of its leg (root to foot, without the base)
        self.leg_v = [np.array(sorted(self.model.joints[j].idx_v for j in self.model.supports[
            self.model.frames[f].parentJoint] if j > 0)) for f in self.foot_frames]
        self.ref_com, self.ref_feet, self.ref_rotation = [], [], []
        for t in range(len(q)):
            config = robot.configuration(self.model, q[t], base[t])
            pin.framesForwardKinematics(self.model, self.data, config)
            self.ref_com.append(pin.centerOfMass(self.model, self.data, config))
            self.ref_feet.append([self.data.oMf[f].translation.copy() for f in self.foot_frames])
            self.ref_rotation.append(self.data.oMf[self.model.getFrameId(robot.base_frame)].rotation.copy())
        self.ref_com, self.ref_feet = np.array(self.ref_com), np.array(self.ref_feet)
        self.ref_com_velocity = np.gradient(self.ref_com, 1.0 / self.fps, axis=0) if len(q) > 1 else 0 * self.ref_com
        self.omega = np.sqrt(GRAVITY / max(float(self.ref_com[:, 2].mean()), 0.1))
        self.base_frame = self.model.getFrameId(robot.base_frame)

    def _frame(self, t: float) -> tuple[int, float]:
        x = min(max(t * self.fps, 0.0), len(self.ref_com) - 1.0)
        i = min(int(x), len(self.ref_com) - 2) if len(self.ref_com) > 1 else 0
        return i, x - i

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
        stance = self.contacts[round(min(i + a, len(self.contacts) - 1))] & low
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
        offsets = np.clip(full[self.jv], -opt.max_offset, opt.max_offset)
        return offsets
