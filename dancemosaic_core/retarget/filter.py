"""Causal joint filter after the IK: velocity and acceleration limits, positions kept inside.

Per joint and frame it follows the IK reference with its finite-difference velocity plus a
catch-up term that brakes within the acceleration limit (no overshoot after a lag), then clips
the change of velocity to the acceleration limit, the velocity to the velocity limit and the
speed toward a position limit to what can still stop there. Position and velocity limits are
guaranteed (the last clip into the box only shortens the step); acceleration is honoured
except where a position or velocity limit forces a harder stop. A reference that respects all
limits passes through unchanged. The same object runs frame by frame (live) and over a clip.
"""
from __future__ import annotations

import numpy as np


class LimitFilter:
    def __init__(self, *, lower: np.ndarray, upper: np.ndarray, velocity: np.ndarray,
                 acceleration: np.ndarray, dt: float):
        self.lower, self.upper = np.asarray(lower, float), np.asarray(upper, float)
        self.velocity, self.acceleration = np.asarray(velocity, float), np.asarray(acceleration, float)
        self.dt = float(dt)
        self.reset()

    def reset(self) -> None:
        self.q = None            # last output
        self.v = None            # last output velocity
        self.ref = None          # last reference
        self.velocity_clamps = 0      # joint samples slowed to a limit
        self.acceleration_clamps = 0

    def _stopping_speed(self, distance: np.ndarray) -> np.ndarray:
        """Largest speed from which braking at the acceleration limit stops within `distance`
        (v dt + v^2 / 2a <= d, the step taken before braking included)."""
        a, dt = self.acceleration, self.dt
        return a * (np.sqrt(dt * dt + 2 * np.maximum(distance, 0.0) / a) - dt)

    def step(self, ref: np.ndarray) -> np.ndarray:
        ref = np.asarray(ref, float)
        if self.q is None:
            self.q = np.clip(ref, self.lower, self.upper)
            self.v = np.zeros_like(self.q)
            self.ref = ref.copy()
            return self.q.copy()
        dt, a = self.dt, self.acceleration
        lag = self.ref - self.q
        catch_up = np.sign(lag) * np.minimum(np.abs(lag) / dt, np.sqrt(2 * a * np.abs(lag)))
        wanted = (ref - self.ref) / dt + catch_up
        v = np.clip(wanted, self.v - a * dt, self.v + a * dt)
        accel_limited = v != wanted
        v = np.clip(v, -self.velocity, self.velocity)
        v = np.minimum(v, self._stopping_speed(self.upper - self.q))
        v = np.maximum(v, -self._stopping_speed(self.q - self.lower))
        q = np.clip(self.q + v * dt, self.lower, self.upper)
        v_out = (q - self.q) / dt
        self.velocity_clamps += int(np.count_nonzero(np.abs(wanted) > self.velocity))
        self.acceleration_clamps += int(np.count_nonzero(accel_limited))
        self.q, self.v, self.ref = q, v_out, ref.copy()
        return q.copy()
