"""What a joint_trajectory_controller would execute from a stream of trajectory messages, and
the checks every stream must pass (docs/ros.md: "ROS 2 facts this package relies on", "The
joint_trajectory_controller contract" and "Safety")."""
from __future__ import annotations

import numpy as np


def executed_timeline(messages) -> tuple[np.ndarray, np.ndarray]:
    """Merge messages (stamp, times (M,), positions (M, n)) as the controller does: each one
    replaces the whole future; points up to its stamp were already executed."""
    times, positions = np.zeros(0), None
    for stamp, t, q in messages:
        t, q = np.asarray(t, dtype=np.float64), np.asarray(q, dtype=np.float64)
        if positions is None:
            positions = np.zeros((0, q.shape[1]))
        past = times <= stamp
        times = np.concatenate([times[past], t])
        positions = np.vstack([positions[past], q])
    return times, positions


def check_message(times, positions, velocities, stamp, *, lower, upper, velocity, tol=1e-9):
    """One message: strictly increasing times after the stamp, finite values inside the limits."""
    times = np.asarray(times)
    assert len(times) > 0
    assert np.all(times > stamp), "a point is not after the message stamp"
    assert np.all(np.diff(times) > 0), "time_from_start is not strictly increasing"
    assert np.isfinite(positions).all() and np.isfinite(velocities).all()
    assert np.all(positions >= lower - tol) and np.all(positions <= upper + tol), "position outside limits"
    assert np.all(np.abs(velocities) <= velocity + tol), "velocity field over the limit"


def check_timeline(times, positions, *, lower, upper, velocity, min_dt, tol=1e-6):
    """The executed timeline: inside the position limits, every step within the velocity limits,
    points at least min_dt apart."""
    assert np.all(np.diff(times) >= min_dt - 1e-6), "points closer than one frame"
    assert np.all(positions >= lower - tol) and np.all(positions <= upper + tol), "position outside limits"
    speed = np.abs(np.diff(positions, axis=0)) / np.diff(times)[:, None]
    worst = float(np.max(speed / velocity)) if len(speed) else 0.0
    assert worst <= 1 + tol, f"a step at {worst:.3f} x the velocity limit"


def check_gentle(times, positions, *, velocity, acceleration, tol=1e-6):
    """Every step of points (the first at rest) within `velocity`, every change of step within
    `acceleration` (per joint, finite differences on the points' own times)."""
    times, positions = np.asarray(times, dtype=np.float64), np.asarray(positions, dtype=np.float64)
    v = np.diff(positions, axis=0) / np.diff(times)[:, None]
    a = np.diff(v, axis=0) / np.diff(0.5 * (times[1:] + times[:-1]))[:, None]
    worst_v = float(np.max(np.abs(v) / velocity)) if len(v) else 0.0
    worst_a = float(np.max(np.abs(a) / acceleration)) if len(a) else 0.0
    assert worst_v <= 1 + tol, f"a step at {worst_v:.3f} x the allowed velocity"
    if worst_a > 1 + tol:
        i, j = np.unravel_index(int(np.argmax(np.abs(a) / acceleration)), a.shape)
        raise AssertionError(f"a change of step at {worst_a:.3f} x the allowed acceleration: joint {j}, points "
                             f"{i}..{i + 2} at {times[i] - times[0]:.6f} s after the first, spacings "
                             f"{np.diff(times[i:i + 3])} s, steps {v[i:i + 2, j]} rad/s")
