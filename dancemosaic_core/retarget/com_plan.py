"""Balance-aware retargeting: a contact schedule, a ZMP reference inside the support polygon, and
the CoM path of ZMP preview control on the cart-table model (Kajita et al., ICRA 2003).

    result, plan = balanced_retarget(Retargeter(robot=robot), joints, fps=20.0)
    plan.summary()      # joint RMS change vs the unbalanced retarget, ZMP margins before / after

1. The unbalanced retarget gives the contact schedule: which feet support the robot in each frame
   and their sole polygons (balance.zmp_margin, from foot height and speed).
2. ZMP reference: the static CoM of that retarget pulled into the support polygon shrunk by
   `margin`; around every lift-off and touch-down it is blended, over `shift_time`, toward the
   single-support foot, so the weight moves onto the stance foot while both feet are still down.
3. Preview control (cart-table: p = c - z_c / g c'', jerk input, integral of the ZMP error and
   `preview` seconds of future reference; gains from the discrete algebraic Riccati equation)
   gives a CoM path whose ZMP follows the reference and which starts moving before it jumps.
4. A second retarget tracks that CoM horizontally with the base and legs (an IK task of weight
   RetargetOptions.planned_com_weight in place of the pull over the planted soles), its joints
   pulled toward the first pass's (guide_posture_weight), so redundant joints such as a
   straight arm's twist stay where they were and the dance stays the same dance.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import solve_discrete_are

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.retarget.balance import GRAVITY, BalanceOptions, BalanceReport, signed_distance, zmp_margin


@dataclass
class PlanOptions:
    margin: float = 0.02          # m the ZMP reference keeps from the support polygon's edge
    shift_time: float = 0.3       # s of weight shift before a lift-off and after a touch-down
    preview: float = 1.6          # s of future reference the controller looks at
    dt: float = 0.01              # s, planner step (the reference is interpolated between frames)
    error_weight: float = 1.0     # Q_e of the ZMP error's integral
    jerk_weight: float = 1e-6     # R of the CoM jerk
    dynamics_passes: int = 0      # re-plans against the multibody ZMP error of the balanced retarget
    correction_limit: float = 0.05   # m, largest shift of the cart-table reference per frame


@dataclass
class CoMPlan:
    com: np.ndarray               # (T, 2) m, planned horizontal CoM at each frame
    zmp: np.ndarray               # (T, 2) m, the cart-table ZMP of that plan
    zmp_reference: np.ndarray     # (T, 2) m
    com_height: float             # m, the cart-table's height
    correction: np.ndarray | None = None   # (T, 2) m, added to the reference the cart table tracks
    before: BalanceReport | None = None    # feasibility of the unbalanced retarget
    after: BalanceReport | None = None     # feasibility of the balanced one
    joint_rms_change: float | None = None  # rad, RMS of q_balanced - q_unbalanced

    def summary(self) -> dict:
        tracked = self.zmp_reference if self.correction is None else self.zmp_reference + self.correction
        out = {"com_height_m": self.com_height, "joint_rms_change_rad": self.joint_rms_change,
               "plan_zmp_error_max_m": float(np.abs(self.zmp - tracked).max())}
        if self.correction is not None:
            out["zmp_correction_max_m"] = float(np.linalg.norm(self.correction, axis=1).max())
        for name, report in (("before", self.before), ("after", self.after)):
            if report is not None:
                out[name] = report.summary()
        return out


    def table(self) -> str:
        s = self.summary()
        rows = [("balance", f"joint RMS change {s['joint_rms_change_rad']:.3f} rad vs the unbalanced retarget")]
        if self.before is not None:
            rows += [(k, v + " (unbalanced)") for k, v in
                     (line.split("  ", 1) for line in self.before.table().splitlines())]
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"{k:<{width}}  {v.strip()}" for k, v in rows)


def preview_gains(dt: float, com_height: float, steps: int, error_weight: float = 1.0,
                  jerk_weight: float = 1e-6) -> tuple[float, np.ndarray, np.ndarray]:
    """Gains (G_i, G_x (3,), G_d (steps,)) of u_k = -G_i sum_i e_i - G_x x_k - sum_j G_d[j-1] p_ref[k+j]
    for the cart table x = (c, c', c''), u = c''', p = c - z_c / g c'' (Katayama's augmented form)."""
    A = np.array([[1.0, dt, dt * dt / 2], [0.0, 1.0, dt], [0.0, 0.0, 1.0]])
    B = np.array([[dt ** 3 / 6], [dt * dt / 2], [dt]])
    C = np.array([[1.0, 0.0, -com_height / GRAVITY]])
    # augmented state (sum of ZMP errors, x): the error integral makes the ZMP reach the reference
    At = np.block([[np.eye(1), C @ A], [np.zeros((3, 1)), A]])
    Bt = np.vstack([C @ B, B])
    It = np.array([[1.0], [0.0], [0.0], [0.0]])
    Q = np.zeros((4, 4))
    Q[0, 0] = error_weight
    R = np.array([[jerk_weight]])
    P = solve_discrete_are(At, Bt, Q, R)
    inverse = np.linalg.inv(R + Bt.T @ P @ Bt)
    K = inverse @ Bt.T @ P @ At
    closed = At - Bt @ K
    X = -closed.T @ P @ It
    preview = np.empty(steps)
    preview[0] = -K[0, 0]
    for j in range(1, steps):
        preview[j] = (inverse @ Bt.T @ X).item()
        X = closed.T @ X
    return K[0, 0], K[0, 1:], preview


class PreviewController:
    """ZMP preview control that keeps its state between calls, for a reference that arrives in
    pieces: the cart table x = (c, c', c'') per axis and the ZMP error's integral carry over.

        controller = PreviewController(com0, dt=0.01, com_height=0.7)
        com, zmp = controller.run(zmp_reference)      # (N, 2) each; the next run continues from here
    """

    def __init__(self, com0: np.ndarray, *, dt: float, com_height: float, preview: float = 1.6,
                 error_weight: float = 1.0, jerk_weight: float = 1e-6):
        self.dt, self.steps = float(dt), max(1, round(preview / dt))
        self.gains = preview_gains(dt, com_height, self.steps, error_weight, jerk_weight)
        self.A = np.array([[1.0, dt, dt * dt / 2], [0.0, 1.0, dt], [0.0, 0.0, 1.0]])
        self.B = np.array([dt ** 3 / 6, dt * dt / 2, dt])
        self.C = np.array([1.0, 0.0, -com_height / GRAVITY])
        self.x = np.stack([np.asarray(com0, float), np.zeros(2), np.zeros(2)])   # (3, 2): at rest
        self.integral = np.zeros(2)

    def run(self, zmp_reference: np.ndarray, future: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """CoM (N, 2) and its ZMP (N, 2) over a reference (N, 2) sampled every dt; the preview sees
        `future` (M, 2) after it, then the last value held (all it knows of what follows)."""
        Gi, Gx, Gd = self.gains
        N = len(zmp_reference)
        known = zmp_reference if future is None or not len(future) else np.concatenate([zmp_reference, future])
        padded = np.concatenate([known, np.repeat(known[-1:], self.steps, 0)])
        com, zmp = np.empty((N, 2)), np.empty((N, 2))
        for k in range(N):
            com[k], zmp[k] = self.x[0], self.C @ self.x
            self.integral += zmp[k] - zmp_reference[k]
            u = -Gi * self.integral - Gx @ self.x - Gd @ padded[k + 1:k + 1 + self.steps]
            self.x = self.A @ self.x + np.outer(self.B, u)
        return com, zmp


def preview_control(zmp_reference: np.ndarray, com0: np.ndarray, dt: float, com_height: float,
                    preview: float = 1.6, error_weight: float = 1.0,
                    jerk_weight: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """CoM path (N, 2) and its ZMP (N, 2) following a ZMP reference (N, 2) sampled every dt,
    starting at rest at com0; the reference is held at its last value beyond its end."""
    controller = PreviewController(com0, dt=dt, com_height=com_height, preview=preview,
                                   error_weight=error_weight, jerk_weight=jerk_weight)
    return controller.run(zmp_reference)


def pull_inside(point: np.ndarray, polygon: np.ndarray, margin: float) -> np.ndarray:
    """The point moved toward the polygon's centroid until it is `margin` inside (the centroid
    itself when the polygon is too small for that margin)."""
    if signed_distance(point, polygon) >= margin:
        return np.asarray(point, float)
    centre = polygon.mean(axis=0)
    lo, hi = 0.0, 1.0                 # fraction of the way from the centre to the point
    for _ in range(20):
        mid = (lo + hi) / 2
        if signed_distance(centre + mid * (point - centre), polygon) >= margin:
            lo = mid
        else:
            hi = mid
    return centre + lo * (point - centre)


def zmp_reference(report: BalanceReport, fps: float, options: PlanOptions) -> np.ndarray:
    """(T, 2) ZMP reference from a trajectory's contact schedule and static CoM (see module doc)."""
    T = len(report.com)
    ref = np.empty((T, 2))
    last = report.com[0, :2]
    for t in range(T):
        if len(report.polygons[t]):
            last = pull_inside(report.com[t, :2], report.polygons[t], options.margin)
        ref[t] = last                  # in flight: hold the last supported point
    supports = report.contacts.sum(axis=1)
    single = supports == 1
    ramp = max(1, round(options.shift_time * fps))
    out = ref.copy()
    for t in range(1, T):
        if single[t] and not single[t - 1]:            # lift-off at t: shift the weight beforehand
            for s in range(1, ramp + 1):
                if t - s < 0 or supports[t - s] != 2:
                    break
                w = 1 - s / (ramp + 1)
                out[t - s] = (1 - w) * out[t - s] + w * ref[t]
        if single[t - 1] and not single[t]:            # touch-down at t: release the weight gradually
            for s in range(ramp):
                if t + s >= T or supports[t + s] != 2:
                    break
                w = 1 - (s + 1) / (ramp + 1)
                out[t + s] = (1 - w) * out[t + s] + w * ref[t - 1]
    return out


def plan_com(report: BalanceReport, fps: float, options: PlanOptions | None = None,
             correction: np.ndarray | None = None) -> CoMPlan:
    """The CoM plan of a trajectory's feasibility report (its contacts, polygons and static CoM);
    `correction` (T, 2) m is added to the ZMP reference the cart table tracks."""
    opt = options or PlanOptions()
    reference = zmp_reference(report, fps, opt)
    tracked = reference if correction is None else reference + correction
    com_height = float(report.com[:, 2].mean())
    frames = np.arange(len(reference))
    fine = np.arange(0.0, len(reference) - 1 + 1e-9, opt.dt * fps)            # planner steps, in frames
    fine_ref = np.stack([np.interp(fine, frames, tracked[:, i]) for i in range(2)], -1)
    com, zmp = preview_control(fine_ref, tracked[0], opt.dt, com_height, opt.preview,
                               opt.error_weight, opt.jerk_weight)
    at_frames = np.stack([np.interp(frames, fine, com[:, i]) for i in range(2)], -1)
    zmp_frames = np.stack([np.interp(frames, fine, zmp[:, i]) for i in range(2)], -1)
    return CoMPlan(com=at_frames, zmp=zmp_frames, zmp_reference=reference, com_height=com_height,
                   correction=correction)


def zmp_correction(plan: CoMPlan, measured: BalanceReport, limit: float) -> np.ndarray:
    """The next cart-table reference offset (T, 2): the last one plus the multibody ZMP's error to
    the reference (the limbs' angular momentum, the vertical CoM motion and the IK's CoM tracking
    error, which the cart table leaves out; Kajita et al. 2003, Sec. IV), averaged over the
    report's window as the margin is, zero in flight, each frame's offset at most `limit` m."""
    error = plan.zmp_reference - measured.zmp_window
    error[~measured.contacts.any(axis=1)] = 0.0
    offset = error if plan.correction is None else plan.correction + error
    norm = np.linalg.norm(offset, axis=1, keepdims=True)
    return offset * np.minimum(1.0, limit / np.maximum(norm, 1e-12))


def balanced_retarget(retargeter, joints: np.ndarray, fps: float, options: PlanOptions | None = None,
                      balance: BalanceOptions | None = None):
    """Retarget twice: unbalanced (the contact schedule), then tracking the planned CoM.
    Returns (RetargetResult, CoMPlan with before/after feasibility and the joint RMS change)."""
    if not retargeter.floating:
        raise DanceMosaicError("balance-aware retargeting needs a floating base; drop --fixed-base")
    opt = options or PlanOptions()
    first = retargeter.retarget(joints, fps=fps)
    before = zmp_margin(retargeter.robot, first.q, first.base, first.fps, balance)
    plan = plan_com(before, first.fps, opt)
    result = retargeter.retarget(joints, fps=fps, com=plan.com, posture=first.q)
    after = zmp_margin(retargeter.robot, result.q, result.base, result.fps, balance)
    for _ in range(opt.dynamics_passes):
        plan = plan_com(before, first.fps, opt, zmp_correction(plan, after, opt.correction_limit))
        result = retargeter.retarget(joints, fps=fps, com=plan.com, posture=first.q)
        after = zmp_margin(retargeter.robot, result.q, result.base, result.fps, balance)
    plan.before, plan.after = before, after
    plan.joint_rms_change = float(np.sqrt(np.mean(np.square(result.q - first.q))))
    return result, plan
