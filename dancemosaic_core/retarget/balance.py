"""Dynamic feasibility of a floating-base robot trajectory: CoM, centroidal momentum rate, ZMP,
support polygon and the ZMP's signed margin to the polygon edge over time.

    report = zmp_margin(robot, q, base, fps)           # BalanceReport
    print(report.table()); report.summary(); report.success

Per frame t (Pinocchio, model/data split):
  v, a      finite differences of the configuration on its manifold (`pin.difference`),
  c         centre of mass (`centerOfMass`),
  dh        centroidal momentum rate (`computeCentroidalMomentumTimeVariation`): linear dl = m c'',
            angular dk about the CoM,
  ZMP       the point of the floor (z = 0) about which the contact forces have no horizontal moment.
            The contact force is f = dl - m g and its moment about the CoM is dk, so
            p_x = c_x - (c_z f_x + dk_y) / f_z,   p_y = c_y - (c_z f_y - dk_x) / f_z   (Kajita's ZMP;
            f_z is held >= 0.1 m g: the floor cannot pull),
  support   convex hull of the sole points (robot config `feet.*.sole`) within `contact_height` of
            the floor, of the feet in contact: a foot is in contact while it touches the floor and
            moves slower than `contact_speed` (a raised heel leaves the toe edge as its support),
  margin    signed distance of the ZMP to the polygon's edge: > 0 inside, < 0 outside, NaN in flight.
The windowed margin is that of the ZMP of the contact wrench averaged over `window` seconds
(centred), which is what a position-controlled robot feels once its servos have smoothed the
reference.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pinocchio as pin

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.retarget.robot import RobotConfig, sole_points

GRAVITY = 9.81


@dataclass
class BalanceOptions:
    window: float = 0.25            # s, centred averaging window of the ZMP
    contact_height: float = 0.02    # m: lowest sole point this close to the floor touches it
    contact_speed: float = 0.25     # m/s: a foot moving faster is swinging, not supporting


@dataclass
class BalanceReport:
    com: np.ndarray                 # (T, 3) m
    momentum_rate: np.ndarray       # (T, 6) dl (N), dk (N m) about the CoM, world axes
    zmp: np.ndarray                 # (T, 2) m on the floor
    zmp_window: np.ndarray          # (T, 2) m, averaged over the window
    contacts: np.ndarray            # (T, 2) bool: left, right foot supporting
    margin: np.ndarray              # (T,) m, signed distance of the ZMP to the support edge (NaN in flight)
    margin_window: np.ndarray       # (T,) m, same for the averaged ZMP
    polygons: list = field(repr=False)   # per frame (k, 2) counter-clockwise hull, empty in flight
    window: float = 0.25            # s, the averaging window of zmp_window

    @property
    def success(self) -> bool:
        """Every frame's averaged ZMP lies inside its support polygon (no frame in flight)."""
        return bool(np.all(np.nan_to_num(self.margin_window, nan=-1.0) >= 0))

    def summary(self) -> dict:
        out = {"success": self.success, "flight_fraction": float(np.isnan(self.margin).mean())}
        for key, m in (("raw", self.margin), ("window", self.margin_window)):
            finite = m[np.isfinite(m)]
            out[f"zmp_margin_{key}_min_m"] = float(finite.min()) if len(finite) else None
            out[f"zmp_margin_{key}_mean_m"] = float(finite.mean()) if len(finite) else None
            out[f"zmp_margin_{key}_negative_fraction"] = float(np.mean(~(np.nan_to_num(m, nan=-1.0) >= 0)))
        return out

    def brief(self) -> str:
        """One line: the windowed margin's minimum and the share of frames outside (a status text)."""
        s = self.summary()
        if s["zmp_margin_window_min_m"] is None:
            return "ZMP margin: no support (in flight)"
        return (f"ZMP margin ({self.window:g} s) {100 * s['zmp_margin_window_min_m']:.1f} cm min, "
                f"{100 * s['zmp_margin_window_negative_fraction']:.0f} % of frames outside")

    def table(self, width: int = 0, prefix: str = "") -> str:
        """Rows of min / mean margin and the fraction of frames outside, raw and windowed."""
        s, rows = self.summary(), []
        for key, name in (("raw", f"{prefix}ZMP margin"), ("window", f"{prefix}ZMP margin ({self.window:g} s)")):
            if s[f"zmp_margin_{key}_min_m"] is None:
                rows.append((name, "no support (in flight throughout)"))
                continue
            rows.append((name, f"{100 * s[f'zmp_margin_{key}_min_m']:.1f} cm min, "
                               f"{100 * s[f'zmp_margin_{key}_mean_m']:.1f} cm mean, "
                               f"{100 * s[f'zmp_margin_{key}_negative_fraction']:.1f} % of frames outside"))
        width = max(width, *(len(k) for k, _ in rows))
        return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def convex_hull(points: np.ndarray) -> np.ndarray:
    """Counter-clockwise convex hull (k, 2) of 2-D points (Andrew's monotone chain)."""
    pts = sorted(set(map(tuple, np.round(np.asarray(points, float), 9))))
    if len(pts) <= 2:
        return np.array(pts, float).reshape(-1, 2)

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower, upper = [], []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return np.array(lower[:-1] + upper[:-1], float)


def signed_distance(point: np.ndarray, polygon: np.ndarray) -> float:
    """Distance of a 2-D point to the edge of a counter-clockwise convex polygon: positive inside,
    negative outside (Euclidean to the nearest edge point); NaN for an empty polygon."""
    if len(polygon) == 0:
        return float("nan")
    p = np.asarray(point, float)
    if len(polygon) == 1:
        return -float(np.linalg.norm(p - polygon[0]))
    a, b = polygon, np.roll(polygon, -1, axis=0)
    edge = b - a
    length = np.maximum(np.linalg.norm(edge, axis=1), 1e-12)
    # left-of-edge distance (inside is on the left of every edge of a CCW polygon)
    inward = (edge[:, 0] * (p[1] - a[:, 1]) - edge[:, 1] * (p[0] - a[:, 0])) / length
    if len(polygon) >= 3 and inward.min() >= 0:
        return float(inward.min())
    s = np.clip(np.einsum("ij,ij->i", p - a, edge) / length ** 2, 0.0, 1.0)
    return -float(np.linalg.norm(a + s[:, None] * edge - p, axis=1).min())


def _moving_average(x: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average along axis 0; the window shrinks at the ends."""
    if width <= 1:
        return x.copy()
    c = np.concatenate([np.zeros((1,) + x.shape[1:]), np.cumsum(x, axis=0)])
    T, half = len(x), width // 2
    lo = np.clip(np.arange(T) - half, 0, T)
    hi = np.clip(np.arange(T) + width - half, 0, T)
    return (c[hi] - c[lo]) / (hi - lo).reshape((-1,) + (1,) * (x.ndim - 1))


def foot_contacts(feet: np.ndarray, fps: float, options: BalanceOptions | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Which feet support at each frame, from the sole points (T, 2, k, 3) of a trajectory at fps
    (T >= 2): (contacts (T, 2) bool, touching (T, 2, k) bool sole points on the floor)."""
    opt = options or BalanceOptions()
    if len(feet) < 2:
        touching = feet[..., 2] <= opt.contact_height
        return touching.any(axis=2), touching
    # a foot that touches down or lifts off is still on one side of the frame: the slower side counts
    step_speed = np.linalg.norm(np.diff(feet[..., :2].mean(axis=2), axis=0), axis=-1) * fps
    speed = np.minimum(np.concatenate([step_speed[:1], step_speed]), np.concatenate([step_speed, step_speed[-1:]]))
    touching = feet[..., 2] <= opt.contact_height                       # (T, 2, k) sole points on the floor
    return touching.any(axis=2) & (speed <= opt.contact_speed), touching


def manifold_derivatives(robot: RobotConfig, model: pin.Model, q: np.ndarray, base: np.ndarray, fps: float
                         ) -> tuple[list, np.ndarray, np.ndarray]:
    """Pinocchio configurations of a floating-base trajectory (T >= 2 frames) and their velocities
    and accelerations (T, nv): velocities between frames by `pin.difference` on the manifold, central
    differences at each frame, accelerations 0 at the two ends."""
    T, dt = len(q), 1.0 / float(fps)
    configs = [robot.configuration(model, q[t], base[t]) for t in range(T)]
    step = np.array([pin.difference(model, configs[t], configs[t + 1]) for t in range(T - 1)]) / dt
    v = np.concatenate([step[:1], (step[:-1] + step[1:]) / 2, step[-1:]])
    a = np.concatenate([np.zeros((1, model.nv)), np.diff(step, axis=0) / dt, np.zeros((1, model.nv))])
    return configs, v, a


def zmp_margin(robot: RobotConfig, q: np.ndarray, base: np.ndarray, fps: float,
               options: BalanceOptions | None = None) -> BalanceReport:
    """Feasibility of a floating-base trajectory: q (T, n) controller-order joints, base (T, 7)
    x y z qx qy qz qw, at fps frames per second."""
    opt = options or BalanceOptions()
    q = np.asarray(q, np.float64)
    if base is None:
        raise DanceMosaicError("the ZMP margin needs a floating-base trajectory (base poses); retarget without "
                               "--fixed-base")
    base = np.asarray(base, np.float64)
    if q.ndim != 2 or q.shape[1] != robot.num_joints or base.shape != (len(q), 7) or len(q) < 3:
        raise DanceMosaicError(f"ZMP margin needs q (T, {robot.num_joints}) and base (T, 7) with T >= 3 frames; "
                               f"got q {q.shape} and base {base.shape}")
    model = robot.model(floating=True)
    data = model.createData()
    T = len(q)
    configs, v, a = manifold_derivatives(robot, model, q, base, fps)
    mass = pin.computeTotalMass(model)
    com, rate, feet = np.empty((T, 3)), np.empty((T, 6)), np.empty((T, 2, len(robot.feet["left"].sole), 3))
    for t in range(T):
        pin.computeCentroidalMomentumTimeVariation(model, data, configs[t], v[t], a[t])
        com[t] = data.com[0]
        rate[t] = data.dhg.vector
        pin.framesForwardKinematics(model, data, configs[t])
        feet[t] = sole_points(robot, model, data)
    force = rate[:, :3] + mass * np.array([0.0, 0.0, GRAVITY])
    # the floor can only push: a reference falling faster than gravity (f_z < 0.1 m g) has no ZMP
    # near the body, and is held at that bound so the margin is large and negative but finite
    force[:, 2] = np.maximum(force[:, 2], 0.1 * mass * GRAVITY)
    moment = np.stack([com[:, 0] * force[:, 2] - com[:, 2] * force[:, 0] - rate[:, 4],
                       com[:, 1] * force[:, 2] - com[:, 2] * force[:, 1] + rate[:, 3]], axis=-1)
    zmp = moment / force[:, 2:3]
    # averaged ZMP = ZMP of the averaged contact wrench (moments and normal force averaged apart)
    width = max(1, round(opt.window * fps))
    zmp_window = _moving_average(moment, width) / _moving_average(force[:, 2:3], width)
    contacts, touching = foot_contacts(feet, fps, opt)
    polygons = [convex_hull(feet[t][contacts[t][:, None] & touching[t]][:, :2]) for t in range(T)]
    margin = np.array([signed_distance(zmp[t], polygons[t]) for t in range(T)])
    margin_window = np.array([signed_distance(zmp_window[t], polygons[t]) for t in range(T)])
    return BalanceReport(com=com, momentum_rate=rate, zmp=zmp, zmp_window=zmp_window, contacts=contacts,
                         margin=margin, margin_window=margin_window, polygons=polygons, window=opt.window)


class ChunkMargin:
    """The ZMP margin of a streamed trajectory, chunk by chunk: each chunk is measured with the
    last `window` seconds of the one before prepended (when it continues it), so the finite
    differences and the averaging window see across the joint.

        margins = ChunkMargin(robot, fps)
        report = margins.update(q, base)       # BalanceReport of the chunk's frames, or None (< 3 frames)
        margins.reset()                        # a new stream: nothing to continue
    """

    def __init__(self, robot: RobotConfig, fps: float, options: BalanceOptions | None = None):
        self.robot, self.fps, self.options = robot, float(fps), options or BalanceOptions()
        self.keep = max(2, round(self.options.window * self.fps))
        self.tail = None                        # (q, base) of the last frames measured

    def reset(self) -> None:
        self.tail = None

    def update(self, q: np.ndarray, base: np.ndarray) -> BalanceReport | None:
        q, base = np.asarray(q, np.float64), np.asarray(base, np.float64)
        if len(q) == 0:
            return None
        lead = 0 if self.tail is None else len(self.tail[0])
        if lead:
            q, base = np.concatenate([self.tail[0], q]), np.concatenate([self.tail[1], base])
        self.tail = (q[-self.keep:], base[-self.keep:])
        if len(q) < 3:
            return None
        r = zmp_margin(self.robot, q, base, self.fps, self.options)
        return BalanceReport(com=r.com[lead:], momentum_rate=r.momentum_rate[lead:], zmp=r.zmp[lead:],
                             zmp_window=r.zmp_window[lead:], contacts=r.contacts[lead:], margin=r.margin[lead:],
                             margin_window=r.margin_window[lead:], polygons=r.polygons[lead:], window=r.window)
