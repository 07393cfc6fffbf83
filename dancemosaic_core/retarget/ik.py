"""Weighted damped least-squares IK with joint limits as box constraints of the step.

Each Gauss-Newton iteration solves the bounded QP

    min_dq  sum_i w_i |J_i dq - e_i|^2 + damping |dq|^2 + posture |q + dq - q_neutral|^2_joints
    s.t.    lower - q <= dq <= upper - q     (joint coordinates; the free-flyer is unbounded)

with a small primal active-set method (the QP has ~35 variables), then q <- integrate(q, dq).
The ground is a one-sided task: sole points below it get a stiff row pushing them back up.
Pinocchio conventions: model/data split, Jacobians in LOCAL_WORLD_ALIGNED, `integrate` on the
configuration manifold, log3 orientation errors.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pinocchio as pin

WORLD = pin.ReferenceFrame.LOCAL_WORLD_ALIGNED


def solve_box_qp(H: np.ndarray, g: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                 max_iter: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """argmin 1/2 x'Hx - g'x subject to lo <= x <= hi, H symmetric positive definite.

    Primal active set: solve on the free variables, fix the ones that left their box, release
    fixed ones whose multiplier has the wrong sign. Returns x and the mask of bounds in use."""
    n = len(g)
    at_lo = np.zeros(n, bool)
    at_hi = np.zeros(n, bool)
    x = np.zeros(n)
    for _ in range(max_iter):
        fixed = at_lo | at_hi
        free = ~fixed
        x[at_lo] = lo[at_lo]
        x[at_hi] = hi[at_hi]
        rhs = g[free] - H[np.ix_(free, fixed)] @ x[fixed] if fixed.any() else g[free]
        x[free] = np.linalg.solve(H[np.ix_(free, free)], rhs)
        below = free & (x < lo)
        above = free & (x > hi)
        if below.any() or above.any():
            at_lo |= below
            at_hi |= above
            continue
        grad = H @ x - g           # KKT: >= 0 at a lower bound, <= 0 at an upper bound
        release = (at_lo & (grad < -1e-12)) | (at_hi & (grad > 1e-12))
        if not release.any():
            break
        at_lo &= ~release
        at_hi &= ~release
    return np.clip(x, lo, hi), at_lo | at_hi


@dataclass
class IKOptions:
    damping: float = 1e-4          # Levenberg-Marquardt term on every coordinate
    posture: float = 1e-3          # pull of the joints toward the neutral pose
    max_step: float = 0.5          # rad (or m) per iteration: a trust region for large errors
    tolerance: float = 1e-4        # stop when the largest step is below this
    ground_weight: float = 100.0   # stiffness of the ground rows
    limits: bool = True            # False: ignore position limits (a diagnostic of what they cost)
    ground_iterations: int = 8     # extra iterations while a sole point is below the ground
    ground_tolerance: float = 0.002    # m below the ground that needs no extra iteration


class IKSolver:
    """Frame-task IK on one Pinocchio model; targets change per call, the tasks do not."""

    def __init__(self, *, model: pin.Model, position_frames: list[int], orientation_frames: list[int],
                 joint_v: np.ndarray, joint_q: np.ndarray, neutral: np.ndarray,
                 sole_frames: list[int], soles: list[np.ndarray], ground_z: float, options: IKOptions,
                 com_dofs: np.ndarray | None = None):
        """com_dofs: velocity indices the centre-of-mass task may move (default all); the
        retargeter passes the base and the legs, so balancing never swings the arms."""
        self.model = model
        self.data = model.createData()
        self.position_frames = position_frames
        self.orientation_frames = orientation_frames
        self.joint_v = joint_v
        self.joint_q = joint_q
        self.neutral = neutral                        # controller-order joints
        self.sole_frames = sole_frames
        self.soles = soles
        self.ground_z = ground_z
        self.options = options
        self.com_frozen = np.ones(model.nv, bool)
        self.com_frozen[np.arange(model.nv) if com_dofs is None else com_dofs] = False
        self.lower = model.lowerPositionLimit[joint_q]
        self.upper = model.upperPositionLimit[joint_q]
        rows = 3 * (len(position_frames) + len(orientation_frames))
        self.J = np.zeros((rows, model.nv))
        self.e = np.zeros(rows)
        self.w = np.zeros(rows)

    def _fill(self, q, pos_targets, pos_weights, ori_targets, ori_weights, com) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        model, data = self.model, self.data
        pin.computeJointJacobians(model, data, q)
        pin.updateFramePlacements(model, data)
        extra_J, extra_e, extra_w = [], [], []
        if com is not None:
            target, weight = com
            Jc = pin.jacobianCenterOfMass(model, data, q)[:2]
            Jc[:, self.com_frozen] = 0.0
            extra_J.append(Jc)
            extra_e.append(target - data.com[0][:2])
            extra_w.append(np.full(2, weight))
        r = 0
        for i, fid in enumerate(self.position_frames):
            self.J[r:r + 3] = pin.getFrameJacobian(model, data, fid, WORLD)[:3]
            self.e[r:r + 3] = pos_targets[i] - data.oMf[fid].translation
            self.w[r:r + 3] = pos_weights[i]
            r += 3
        for i, fid in enumerate(self.orientation_frames):
            self.J[r:r + 3] = pin.getFrameJacobian(model, data, fid, WORLD)[3:]
            self.e[r:r + 3] = pin.log3(ori_targets[i] @ data.oMf[fid].rotation.T)
            self.w[r:r + 3] = ori_weights[i]
            r += 3
        for fid, sole in zip(self.sole_frames, self.soles):
            m = data.oMf[fid]
            arm = sole @ m.rotation.T
            z = arm[:, 2] + m.translation[2]
            low = z < self.ground_z
            if low.any():
                J6 = pin.getFrameJacobian(model, data, fid, WORLD)
                for a, zi in zip(arm[low], z[low]):
                    # vertical velocity of a point on the frame: v_z + (omega x arm)_z
                    extra_J.append(J6[2:3] + a[1] * J6[3:4] - a[0] * J6[4:5])
                    extra_e.append([self.ground_z - zi])
                    extra_w.append([self.options.ground_weight])
        if extra_J:
            return (np.vstack([self.J, *extra_J]), np.concatenate([self.e, *extra_e]),
                    np.concatenate([self.w, *extra_w]))
        return self.J, self.e, self.w

    def solve(self, q: np.ndarray, pos_targets, pos_weights, ori_targets, ori_weights,
              iterations: int, com: tuple[np.ndarray, float] | None = None,
              posture: tuple[np.ndarray, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Warm-started solve from the full configuration q; `com` = (xy target, weight) for the
        centre of mass; `posture` = ((n,) rest pose, weight) in place of the neutral pose and
        options.posture (a second pass stays on the first pass's solution branch). Returns q and
        the (n,) mask of controller joints held at a limit."""
        rest, posture_weight = (self.neutral, self.options.posture) if posture is None else posture
        opt = self.options
        nv = self.model.nv
        lo = np.full(nv, -opt.max_step)
        hi = np.full(nv, opt.max_step)
        at_limit = np.zeros(len(self.joint_v), bool)
        it = 0
        while True:
            # after the planned (or converged) iterations, keep going only while a sole is in the floor
            if it >= iterations and (it >= iterations + opt.ground_iterations
                                     or self.lowest_sole(q) >= self.ground_z - opt.ground_tolerance):
                break
            J, e, w = self._fill(q, pos_targets, pos_weights, ori_targets, ori_weights, com)
            Jw = J * w[:, None]
            H = Jw.T @ J
            g = Jw.T @ e
            H[np.diag_indices(nv)] += opt.damping
            H[self.joint_v, self.joint_v] += posture_weight
            qj = q[self.joint_q]
            g[self.joint_v] += posture_weight * (rest - qj)
            if opt.limits:
                lo[self.joint_v] = np.maximum(self.lower - qj, -opt.max_step)
                hi[self.joint_v] = np.minimum(self.upper - qj, opt.max_step)
            dq, active = solve_box_qp(H, g, lo, hi)
            q = pin.integrate(self.model, q, dq)
            if opt.limits:
                q[self.joint_q] = np.clip(q[self.joint_q], self.lower, self.upper)
            at_limit = active[self.joint_v] & ((q[self.joint_q] <= self.lower + 1e-9) | (q[self.joint_q] >= self.upper - 1e-9))
            it += 1
            if np.abs(dq).max() < opt.tolerance:
                iterations = min(iterations, it)
        return q, at_limit

    def lowest_sole(self, q: np.ndarray) -> float:
        if not self.sole_frames:
            return np.inf
        pin.framesForwardKinematics(self.model, self.data, q)
        return min(float((sole @ self.data.oMf[f].rotation.T)[:, 2].min() + self.data.oMf[f].translation[2])
                   for f, sole in zip(self.sole_frames, self.soles))
