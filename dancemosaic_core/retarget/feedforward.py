"""Torque feed-forward for a position-controlled humanoid: the joint torques that produce the
reference's accelerations with the contact forces its supporting feet can give.

    ff = contact_torques(robot, q, base, fps)         # ContactTorques of a floating-base trajectory
    tau = ff.at(t, stance)                            # (n,) N m; stance (2,) bool left, right (None: schedule)

Per frame (Pinocchio), with v and a by differences on the configuration manifold:
  inverse dynamics   tau = RNEA(q, v, a) (nv,); its first six rows are the wrench on the floating
                     base that only the floor can supply,
  contact forces     for each set of supporting feet (none, left, right, both), a force at every sole
                     point of those feet in a linearised friction cone (four edges, mu), f = E lambda,
                     lambda >= 0, chosen by non-negative least squares:
                        min |J_b^T E lambda - tau_b|^2 + eps |lambda|^2
                     (J_b: the base columns of the sole points' Jacobians; eps picks the least-force
                     split between two feet and leaves the base wrench first),
  feed-forward       the joint rows of tau - J^T E lambda.
A wrench the set cannot give (the reference's ZMP outside its soles, or the floor pulling) gets the
nearest one it can, and `residual` says by how much. On a G1 the torque goes in the low-level
command's tau field beside the position target and the gains: tau + kp (q_des - q) + kd (dq_des - dq).
Why: with stiff PD servos alone each joint lags its target by tau / kp, 0.1-0.17 rad in a stance
leg during fast steps (docs/robot.md), and the feet land off their marks.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pinocchio as pin
from scipy.optimize import nnls

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.retarget.balance import foot_contacts, manifold_derivatives
from dancemosaic_core.retarget.io import frame_at
from dancemosaic_core.retarget.robot import RobotConfig, sole_points

WORLD = pin.ReferenceFrame.LOCAL_WORLD_ALIGNED
CONTACT_SETS = ((), (0,), (1,), (0, 1))        # supporting feet: none, left, right, both


@dataclass
class FeedforwardOptions:
    friction: float = 0.7            # mu of the linearised friction cones
    regularization: float = 1e-4     # eps of eps |lambda|^2 (lambda in N)
    # fraction of the torque sent; bench balance chose it (docs/robot.md, "Torque feed-forward")
    scale: float = 1.0


@dataclass
class ContactTorques:
    torques: np.ndarray              # (T, 4, n) N m, controller order, one per CONTACT_SETS entry
    contacts: np.ndarray             # (T, 2) bool: the reference's supporting feet (balance.foot_contacts)
    residual: np.ndarray             # (T,) norm of the base wrench (N, N m) the scheduled feet cannot give
    fps: float
    scale: float = 1.0

    def at(self, t: float, stance: np.ndarray | None = None) -> np.ndarray:
        """Feed-forward (n,) at time t (s, linear between frames, held past the ends) for the feet
        `stance` (2,) bool that hold the robot now; None or no foot: the reference's schedule."""
        i, a = frame_at(t * self.fps, len(self.torques))
        if stance is None or not np.any(stance):
            stance = self.contacts[round(i + a)]
        s = CONTACT_SETS.index(tuple(k for k in range(2) if stance[k]))
        j = min(i + 1, len(self.torques) - 1)
        return self.scale * ((1 - a) * self.torques[i, s] + a * self.torques[j, s])


def _cone_edges(mu: float) -> np.ndarray:
    """(4, 3) unit edges of the friction pyramid |f_x|, |f_y| <= mu f_z."""
    edges = np.array([[mu, 0, 1], [-mu, 0, 1], [0, mu, 1], [0, -mu, 1]], float)
    return edges / np.linalg.norm(edges, axis=1, keepdims=True)


def contact_torques(robot: RobotConfig, q: np.ndarray, base: np.ndarray, fps: float,
                    options: FeedforwardOptions | None = None) -> ContactTorques:
    """Feed-forward torques of a floating-base trajectory: q (T, n) controller-order joints, base
    (T, 7) x y z qx qy qz qw, at fps; T >= 2."""
    opt = options or FeedforwardOptions()
    q, base = np.asarray(q, np.float64), np.asarray(base if base is not None else [], np.float64)
    if q.ndim != 2 or q.shape[1] != robot.num_joints or base.shape != (len(q), 7) or len(q) < 2:
        raise DanceMosaicError(f"torque feed-forward needs q (T, {robot.num_joints}) and base (T, 7) with T >= 2 "
                               f"frames of a floating-base trajectory; got q {q.shape} and base {base.shape} "
                               f"(retarget without --fixed-base)")
    if not (np.isfinite(q).all() and np.isfinite(base).all()) or not np.isfinite(fps) or fps <= 0:
        raise DanceMosaicError("torque feed-forward needs finite joints, base poses and fps > 0")
    model = robot.model(floating=True)
    data = model.createData()
    configs, v, a = manifold_derivatives(robot, model, q, base, fps)
    feet = [model.getFrameId(robot.feet[s].frame) for s in ("left", "right")]
    soles = [robot.feet[s].sole for s in ("left", "right")]
    edges = _cone_edges(opt.friction)
    jv = robot.joint_v_index(model)
    T = len(q)
    torques, unmatched = np.zeros((T, len(CONTACT_SETS), robot.num_joints)), np.zeros((T, len(CONTACT_SETS)))
    sole_world = np.empty((T, 2, len(soles[0]), 3))
    for t in range(T):
        tau = pin.rnea(model, data, configs[t], v[t], a[t]).copy()
        pin.computeJointJacobians(model, data, configs[t])
        pin.updateFramePlacements(model, data)
        sole_world[t] = sole_points(robot, model, data)
        columns = []                 # per foot: generalized force of each unit cone edge at each sole point
        for k in range(2):
            J = pin.getFrameJacobian(model, data, feet[k], WORLD)
            R = data.oMf[feet[k]].rotation
            point_jacobians = [J[:3] - pin.skew(R @ p) @ J[3:] for p in soles[k]]
            columns.append(np.concatenate([Jp.T @ edges.T for Jp in point_jacobians], axis=1))
        for s, support in enumerate(CONTACT_SETS):
            if not support:          # in flight: nothing holds the base
                torques[t, s], unmatched[t, s] = tau[jv], np.linalg.norm(tau[:6])
                continue
            G = np.concatenate([columns[k] for k in support], axis=1)          # (nv, m)
            m = G.shape[1]
            A = np.vstack([G[:6], np.sqrt(opt.regularization) * np.eye(m)])
            lam = nnls(A, np.concatenate([tau[:6], np.zeros(m)]), maxiter=50 * m)[0]
            torques[t, s] = (tau - G @ lam)[jv]
            unmatched[t, s] = np.linalg.norm(G[:6] @ lam - tau[:6])
    contacts = foot_contacts(sole_world, fps)[0]
    scheduled = [CONTACT_SETS.index(tuple(k for k in range(2) if c[k])) for c in contacts]
    residual = unmatched[np.arange(T), scheduled]
    return ContactTorques(torques=torques, contacts=contacts, residual=residual, fps=float(fps), scale=opt.scale)
