"""Keyframed pose channels on the beat clock, and the beat clock itself.

Moves write keyframes at pulse positions u (u = k is the k-th pulse, a beat or a fixed
multiple of one; u = k + 0.5 is the "and" between two). Each channel is a cubic Hermite
spline through its keys whose tangents are the Catmull-Rom ones. At stop keys (by default the
keys on pulses, integer u) they are scaled by `flow` (0: velocity zero there: sharp hits;
1: flowing Catmull-Rom); other keys are passed through, so the body's speed dips on the beats
and not between them (the motion beats of BAS fall on the music's beats). Consecutive
moves blend because the spline runs through the last key of one and the first of the next.
Foot channels make every key a stop, so a foot between two equal keys does not move at all.
"""
from __future__ import annotations

import numpy as np

BODY = ("sway", "drop", "lean", "hip_roll", "hip_pitch", "hip_twist")
FACING = "facing"          # the pelvis heading (rad): keyed where steps land, so turns are smooth
UPPER = ("chest_roll", "chest_pitch", "chest_twist", "head_pitch", "head_roll", "head_yaw")
ARM = ("abd", "flex", "hadd", "twist", "elbow", "wrist", "shrug")
FOOT = ("toe_x", "toe_z", "yaw", "lift", "heel")
SIDES = ("L", "R")
ARM_CHANNELS = tuple(f"{s}_{c}" for s in SIDES for c in ARM)
FOOT_CHANNELS = tuple(f"{s}_{c}" for s in SIDES for c in FOOT)
CHANNELS = BODY + (FACING,) + UPPER + ARM_CHANNELS + FOOT_CHANNELS


class Timeline:
    """Keys per channel; `evaluate(u)` samples every channel at pulse positions u."""

    def __init__(self):
        self.keys: dict[str, dict[float, tuple[float, bool]]] = {c: {} for c in CHANNELS}

    def key(self, u: float, stop: bool | None = None, **values: float) -> None:
        """Key channels at u; stop defaults to "u is on a pulse"."""
        u = round(float(u), 6)
        stop = bool(np.isclose(u, round(u), atol=1e-6)) if stop is None else stop
        for name, value in values.items():
            self.keys[name][u] = (float(value), stop)

    def evaluate(self, u: np.ndarray, flow: float) -> dict[str, np.ndarray]:
        return {name: hermite(self.keys[name], u, flow, stops=name in FOOT_CHANNELS) for name in CHANNELS}


def hermite(keys: dict[float, tuple[float, bool]], u: np.ndarray, flow: float, stops: bool = False) -> np.ndarray:
    """The channel's spline at u; held constant before the first and after the last key.
    stops: every key is a full stop (feet: a foot between two equal keys stays exactly put)."""
    u = np.asarray(u, dtype=np.float64)
    if not keys:
        return np.zeros_like(u)
    xs = np.array(sorted(keys))
    ys = np.array([keys[x][0] for x in xs])
    if len(xs) == 1:
        return np.full_like(u, ys[0])
    tangent = np.zeros_like(ys)
    is_stop = np.array([keys[x][1] for x in xs])
    scale = np.zeros_like(ys) if stops else np.where(is_stop, flow, 1.0)
    tangent[1:-1] = scale[1:-1] * (ys[2:] - ys[:-2]) / (xs[2:] - xs[:-2])
    k = np.clip(np.searchsorted(xs, u, side="right") - 1, 0, len(xs) - 2)
    h = xs[k + 1] - xs[k]
    t = np.clip((u - xs[k]) / h, 0.0, 1.0)
    t2, t3 = t * t, t * t * t
    return ((2 * t3 - 3 * t2 + 1) * ys[k] + (t3 - 2 * t2 + t) * h * tangent[k]
            + (-2 * t3 + 3 * t2) * ys[k + 1] + (t3 - t2) * h * tangent[k + 1])


def regular_beats(beats: np.ndarray, duration: float, default_bpm: float) -> np.ndarray:
    """A clean beat grid covering [-1 period, duration + 1 period]: detected beats with
    doubled beats dropped, missed beats filled in, extended at both ends with the median
    period. Fewer than 3 beats: a grid at default_bpm from the first beat (or 0)."""
    b = np.sort(np.asarray(beats, dtype=np.float64).reshape(-1))
    b = b[np.isfinite(b)]
    if len(b) >= 3:
        period = float(np.median(np.diff(b)))
    else:
        period = 60.0 / default_bpm
        b = b[:1] if len(b) else np.zeros(1)
    kept = [b[0]]
    for t in b[1:]:
        gap = t - kept[-1]
        if gap < 0.5 * period:
            continue
        n = int(round(gap / period))
        kept.extend(kept[-1] + gap * np.arange(1, n) / n)   # missed beats inside a long gap
        kept.append(t)
    grid = np.array(kept)
    before = grid[0] - period * np.arange(int(np.ceil((grid[0] + period) / period)), 0, -1)
    after = grid[-1] + period * np.arange(1, int(np.ceil((duration + period - grid[-1]) / period)) + 2)
    return np.concatenate([before, grid, after])


def choose_pulses(beats: np.ndarray, energy_at, bpm_range: tuple[float, float]) -> tuple[np.ndarray, int]:
    """Pulse times from a regular beat grid: every beat, every other beat or two per beat,
    whichever puts the pulse rate closest to the genre's range (in octaves). Returns
    (pulse times, pulses per beat as a power of two exponent: -1, 0 or 1)."""
    period = float(np.median(np.diff(beats)))
    bpm = 60.0 / period
    lo, hi = bpm_range
    centre = np.sqrt(lo * hi)

    def miss(rate):
        return 0.0 if lo <= rate <= hi else abs(np.log2(rate / centre))

    level = min((-1, 0, 1), key=lambda e: (miss(bpm * 2.0 ** e), abs(e)))
    if level == 0:
        return beats, 0
    if level == 1:
        mids = (beats[:-1] + beats[1:]) / 2
        return np.sort(np.concatenate([beats, mids])), 1
    # half time: keep the beat parity whose beats carry more onset energy (the stronger beats)
    odd_stronger = np.mean(energy_at(beats[1::2])) > np.mean(energy_at(beats[0::2]))
    return beats[int(odd_stronger)::2], -1
