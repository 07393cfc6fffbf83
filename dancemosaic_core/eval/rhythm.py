"""Rhythm controls beside BAS: numbers that a dance ignoring the music cannot pass.

BAS alone cannot show failure: motion with a speed dip every ~0.5 s scores well above zero
on any beat grid. Next to BAS against the true beats each motion gets
- BAS against the same beats delayed by half a beat (half the local inter-beat interval):
  motion dipping on the beats scores low here, motion with no relation to the beat the same
  as on-beat;
- the random-phase chance level: BAS against the beat grid shifted later by a uniformly
  random fraction of a beat, averaged over CHANCE_DRAWS seeded draws;
- the movement period: the lag of the highest autocorrelation peak of the mean joint speed
  (lightly smoothed, PERIOD_SMOOTH_S) divided by the median beat period; "locked" when
  within LOCK_TOLERANCE of 0.5, 1 or 2 (half-time, on-beat, double-time);
- the mean joint speed (m/s): a dance that barely moves has few clear dips to align.
Motion beats and BAS are eval.beats' (motion_beats, beat_align_score, joint_speed).
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

from dancemosaic_core.eval.beats import beat_align_score, joint_speed, motion_beats, truncate_beats

LOCK_RATIOS = (0.5, 1.0, 2.0)
LOCK_TOLERANCE = 0.08
CHANCE_DRAWS = 20
CHANCE_SEED = 0
PERIOD_RANGE_S = (0.2, 4.0)     # movement periods searched (lags of the autocorrelation)
# Speed smoothing for the period only: the BAS smoothing (1/6 s in finedance) all but erases a
# 4 Hz pulse, i.e. double-time dancing at 120 BPM, which must still count as locked.
PERIOD_SMOOTH_S = 0.05
ACF_UPSAMPLE = 4


def median_beat_period(beats: np.ndarray) -> float | None:
    """Median inter-beat interval (s); None with fewer than two beats."""
    b = np.sort(np.asarray(beats, dtype=np.float64).reshape(-1))
    return float(np.median(np.diff(b))) if len(b) >= 2 else None


def shifted_grid(beats: np.ndarray, fraction: float, duration_s: float) -> np.ndarray:
    """Every beat moved later by `fraction` of its local inter-beat interval (the next one;
    the last beat uses the previous), kept inside [0, duration_s). The grid is first extended
    by one beat before its start so the shifted grid still covers the motion's beginning."""
    b = np.sort(np.asarray(beats, dtype=np.float64).reshape(-1))
    if len(b) < 2:
        return truncate_beats(b, duration_s)
    ibi = np.diff(b)
    b = np.r_[b[0] - ibi[0], b]
    ibi = np.r_[ibi[0], ibi, ibi[-1]]
    return truncate_beats(b + fraction * ibi, duration_s)


def chance_bas(beats: np.ndarray, motion_beats_s: np.ndarray, sigma_s: float, duration_s: float,
               draws: int = CHANCE_DRAWS, seed: int = CHANCE_SEED) -> float | None:
    """Mean BAS against the beat grid shifted by a uniformly random phase (seeded draws)."""
    rng = np.random.default_rng(seed)
    scores = [beat_align_score(shifted_grid(beats, u, duration_s), motion_beats_s, sigma_s)
              for u in rng.uniform(0.0, 1.0, draws)]
    scores = [s for s in scores if s is not None]
    return float(np.mean(scores)) if scores else None


def movement_period(speed: np.ndarray, fps: float, smooth_s: float = PERIOD_SMOOTH_S,
                    range_s: tuple[float, float] = PERIOD_RANGE_S) -> float | None:
    """Dominant period (s) of a speed signal: the lag of the highest local maximum of its
    normalised (biased) autocorrelation inside range_s and below half the signal's length,
    refined by a parabola through the peak. None without a positive peak (no pulse)."""
    from scipy.signal import correlate, resample_poly
    s = np.asarray(speed, dtype=np.float64)
    if smooth_s > 0:
        s = gaussian_filter1d(s, smooth_s * fps)
    x = s - s.mean()
    energy = float(x @ x)
    if energy <= 1e-12 * max(1.0, float(s @ s)):
        return None
    # a period of a non-integer number of frames (0.25 s at 30 fps) samples its ACF peak
    # off-centre, so its multiple (0.5 s, exactly on a frame) would win: upsample first
    x = resample_poly(x, ACF_UPSAMPLE, 1)
    fps = fps * ACF_UPSAMPLE
    n = len(x)
    acf = correlate(x, x, mode="full", method="fft")[n - 1:]
    acf = acf / acf[0]
    lo = max(1, int(np.ceil(range_s[0] * fps)))
    hi = min(int(np.floor(range_s[1] * fps)), n // 2, n - 2)
    peaks = [k for k in range(lo, hi + 1) if acf[k] > acf[k - 1] and acf[k] >= acf[k + 1]]
    if not peaks:
        return None
    k = max(peaks, key=lambda j: acf[j])
    if acf[k] <= 0:
        return None
    a, b, c = acf[k - 1], acf[k], acf[k + 1]
    denom = a - 2 * b + c
    offset = 0.5 * (a - c) / denom if denom < 0 else 0.0
    return float((k + offset) / fps)


def is_locked(ratio: float | None, tolerance: float = LOCK_TOLERANCE) -> bool:
    """Movement period within +-tolerance of 0.5x, 1x or 2x the beat period."""
    return ratio is not None and any(abs(ratio / r - 1.0) <= tolerance for r in LOCK_RATIOS)


def rhythm_metrics(joints: np.ndarray, fps: float, music_beats: np.ndarray | None, *, sigma_s: float,
                   smooth_s: float, seed: int = CHANCE_SEED) -> dict:
    """BAS and its controls for one motion (T, J, 3) at `fps`. music_beats: beat times (s)
    relative to frame 0, the whole song's (the shifted grids need beats past the motion's
    ends); None -> the beat-dependent numbers are None. smooth_s: the protocol's speed
    smoothing for motion beats (BAS)."""
    p = np.asarray(joints, dtype=np.float64)
    duration = len(p) / fps
    speed = joint_speed(p, fps)
    period = movement_period(speed, fps)
    row = {"bas": None, "bas_half_beat": None, "bas_chance": None, "movement_period_s": period,
           "beat_period_s": None, "period_ratio": None, "locked": None, "joint_speed": float(speed.mean())}
    if music_beats is None:
        return row
    beats = np.asarray(music_beats, dtype=np.float64).reshape(-1)
    inside = truncate_beats(beats, duration)
    mb = motion_beats(p, fps, smooth_s=smooth_s)
    beat_period = median_beat_period(inside) if len(inside) >= 2 else median_beat_period(beats)
    ratio = None if period is None or beat_period is None else period / beat_period
    row.update({"bas": beat_align_score(inside, mb, sigma_s),
                "bas_half_beat": beat_align_score(shifted_grid(beats, 0.5, duration), mb, sigma_s),
                "bas_chance": chance_bas(beats, mb, sigma_s, duration, seed=seed),
                "beat_period_s": beat_period, "period_ratio": ratio, "locked": is_locked(ratio)})
    return row


def summarise_rhythm(rows: list[dict]) -> dict:
    """Set level: mean BAS and its controls, BAS minus each control, median period ratio,
    share of motions with music whose movement period is locked, mean joint speed."""
    def mean(key):
        vals = [r[key] for r in rows if r.get(key) is not None]
        return float(np.mean(vals)) if vals else None

    judged = [r for r in rows if r.get("locked") is not None]
    ratios = [r["period_ratio"] for r in judged if r["period_ratio"] is not None]
    out = {"bas_half_beat": mean("bas_half_beat"), "bas_chance": mean("bas_chance"),
           "period_ratio_median": float(np.median(ratios)) if ratios else None,
           "locked_share": float(np.mean([bool(r["locked"]) for r in judged])) if judged else None,
           "joint_speed": mean("joint_speed")}
    bas = mean("bas")
    for key in ("bas_half_beat", "bas_chance"):
        out[f"bas_minus_{key[4:]}"] = None if bas is None or out[key] is None else bas - out[key]
    return out

