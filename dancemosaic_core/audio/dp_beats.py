"""Ellis's dynamic-programming beat tracker (D. Ellis, "Beat tracking by dynamic programming",
J. New Music Research 36(1), 2007) exactly as librosa 0.11's `beat.beat_track` runs it for a
given tempo, in numpy.

Why not call librosa: its tracker's kernels are numba gufuncs compiled on every import (two of
them uncached), 3.5-7 s per process on this machine, more than the tracking itself takes on a
10-minute song. The features' beat column (features.py) is these beats, so they must stay
librosa's: a test compares them frame for frame.

The steps (librosa.beat.__beat_tracker):
  1. the envelope divided by its standard deviation (ddof 1), smoothed by a Gaussian of
     +-1 beat period (width period/32), same-mode convolution (the local score);
  2. the DP: cumscore[i] = local[i] + max over predecessors loc with i - loc in
     [round(period/2), 2 period] of cumscore[loc] - tightness (log(i - loc) - log(period))^2;
     frames before the first local score of 1 % of the maximum link to nothing;
  3. the last beat: the last local maximum of cumscore at least half their median; back-links
     from it;
  4. trimming: leading and trailing frames whose local score is at most half the RMS of the
     smoothed local score at the beats lose their beats.
Step 2 runs in blocks of round(period/2) frames: no frame's predecessors lie in its own block,
so a block is one vectorised max.
"""
from __future__ import annotations

import math

import numpy as np

from dancemosaic_core.common.errors import DanceMosaicError


def track_beats(onset_envelope: np.ndarray, *, fps: float, bpm: float, tightness: float = 100.0,
                trim: bool = True) -> np.ndarray:
    """Beat frames (int, ascending) of a 1-D onset envelope at `fps` frames per second, held to
    `bpm`; librosa.beat.beat_track(onset_envelope=..., bpm=..., tightness=..., trim=...)."""
    env = np.asarray(onset_envelope, dtype=np.float64)
    if env.ndim != 1:
        raise DanceMosaicError(f"the onset envelope must be 1-D, got shape {env.shape}")
    if not (np.isfinite(bpm) and bpm > 0 and np.isfinite(fps) and fps > 0 and tightness > 0):
        raise DanceMosaicError(f"beat tracking needs bpm > 0, fps > 0 and tightness > 0 (got {bpm}, {fps}, {tightness})")
    if len(env) < 2 or not env.any():
        return np.zeros(0, dtype=int)
    period = float(np.round(fps * 60.0 / bpm))
    if period < 2:
        raise DanceMosaicError(f"{bpm} BPM at {fps} fps is under two frames a beat: track on a finer envelope")
    local = _local_score(env / (env.std(ddof=1) + np.finfo(env.dtype).tiny), period)
    backlink, cumscore = _dp(local, period, tightness)
    beats = np.zeros(len(env), dtype=bool)
    n = _last_beat(cumscore)
    while n >= 0:
        beats[n] = True
        n = backlink[n]
    return np.flatnonzero(_trim(local, beats, trim))


def _local_score(env: np.ndarray, period: float) -> np.ndarray:
    """librosa's loop, term by term in its order (so equal to the last bit): localscore[i] sums
    window[k] env[i + K//2 - k] over k from max(0, i + K//2 - N + 1) to min(i + K//2, K) - 1 (its
    upper bound leaves out env[0] for the first K//2 + 1 frames)."""
    # scalar exp, as librosa's compiled loop calls it (numpy's vectorised exp may differ in the last bit)
    window = np.array([math.exp(-0.5 * (x * 32.0 / period) * (x * 32.0 / period)) for x in np.arange(-period, period + 1)])
    K, N, half = len(window), len(env), len(window) // 2
    i = np.arange(N)
    out = np.zeros(N)
    for k in range(K):
        j = i + half - k                                   # env index of term k for each frame i
        use = (k >= i + half - N + 1) & (k < np.minimum(i + half, K)) & (j >= 0) & (j < N)
        out[use] += window[k] * env[j[use]]
    return out


def _dp(local: np.ndarray, period: float, tightness: float) -> tuple[np.ndarray, np.ndarray]:
    N = len(local)
    near, far = int(np.round(period / 2)), int(2 * period)
    gaps = np.arange(near, far + 1)                                   # i - loc, nearest first
    # the transition penalty per gap, with the scalar log librosa's compiled loop calls
    tight = float(np.float32(tightness))                 # librosa passes tightness as float32
    penalty = np.array([tight * ((math.log(d) - math.log(period)) * (math.log(d) - math.log(period))) for d in gaps])
    cumscore = np.empty(N)
    backlink = np.full(N, -1, dtype=np.int64)
    for s in range(0, N, near):
        i = np.arange(s, min(s + near, N))
        loc = i[:, None] - gaps[None, :]
        valid = loc >= 0
        scores = np.where(valid, cumscore[np.maximum(loc, 0)] - penalty, -np.inf)
        best = scores.argmax(axis=1)               # the first maximum: librosa keeps the nearest on ties
        linked = valid[:, 0]                       # a predecessor exists (loc = i - near >= 0)
        best_score = scores[np.arange(len(i)), best]
        cumscore[i] = np.where(linked, local[i] + best_score, local[i])
        backlink[i] = np.where(linked, i - gaps[best], -1)
    # frames before the first local score of 1 % of the maximum start no path
    first = np.flatnonzero(local >= 0.01 * local.max())
    backlink[:first[0] if len(first) else N] = -1
    return backlink, cumscore


def _last_beat(cumscore: np.ndarray) -> int:
    """The last local maximum of cumscore (librosa.util.localmax: strictly above the left
    neighbour, at least the right; the last frame against its left only) at or above half the
    median of all of them; the last frame when there is none."""
    peak = np.zeros(len(cumscore), dtype=bool)
    peak[1:-1] = (cumscore[1:-1] > cumscore[:-2]) & (cumscore[1:-1] >= cumscore[2:])
    peak[-1] = cumscore[-1] > cumscore[-2]
    if not peak.any():
        return len(cumscore) - 1
    good = np.flatnonzero(peak & (cumscore >= 0.5 * np.median(cumscore[peak])))
    return int(good[-1]) if len(good) else len(cumscore) - 1


def _trim(local: np.ndarray, beats: np.ndarray, trim: bool) -> np.ndarray:
    w = np.hanning(5)
    smooth = np.convolve(local[beats], w)[len(w) // 2:len(local) + len(w) // 2]
    threshold = 0.5 * np.sqrt((smooth ** 2).mean()) if trim else 0.0
    out = beats.copy()
    weak = local <= threshold
    lead = np.argmin(weak) if not weak.all() else len(local)           # first frame above threshold
    out[:lead] = False
    tail = len(local) - np.argmin(weak[::-1]) if not weak.all() else 0
    out[tail:] = False
    return out
