"""Beat Align Score in both directions, with every time constant in seconds.

Music -> motion (Bailando `utils/beat_align_score.py`, LODGE `metric/beat_align_score.py`):
motion beats are the strict local minima (argrelextrema, np.less) of the mean joint speed
smoothed by a Gaussian (scipy gaussian_filter, sigma 5 frames); BAS = mean over MUSIC beats of
exp(-d^2 / (2 * 9)), d the frame distance to the nearest motion beat, i.e. sigma = 3 frames.
Bailando runs at 60 fps (sigma 0.05 s, smoothing 5/60 s); LODGE at 30 fps (sigma 0.1 s,
smoothing 1/6 s): the same formula in frames means different things, so here both are
seconds and the protocol presets carry each reference's values.
Motion -> music (AIST++/FACT, google-research/mint `tools/calculate_beat_scores.py`): motion
beats are local minima of the summed joint speed within +-10 frames at 60 fps (1/6 s), no
smoothing; score = mean over MOTION beats of exp(-d^2 / (2 * 3^2)) frames at 60 fps (0.05 s);
no motion beat scores 0.

Deliberate differences from the references (they would make rates incomparable or are bugs):
- speed at frame k is the central difference |p[k+1] - p[k-1]| / 2, so a speed minimum sits
  at frame time k / fps; the references use forward (Bailando/LODGE) or backward (mint)
  differences, which shift every motion beat half a frame (8 / 17 / 25 ms at 60 / 30 / 20 fps);
- music beats are truncated to the motion's duration (LODGE's `librosa.load(...)[:length]`
  slices the (wave, sr) tuple and keeps the whole song's beats);
- the tempo prior of the beat tracker uses the analysis sample rate (LODGE calls
  librosa.beat.tempo(y=data) with the default 22050 Hz on 15360 Hz audio).
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

from dancemosaic_core.common.errors import DanceMosaicError


def joint_speed(joints: np.ndarray, fps: float) -> np.ndarray:
    """(T,) mean joint speed in m/s by central differences (ends: one-sided)."""
    p = np.asarray(joints, dtype=np.float64)
    if p.ndim != 3 or len(p) < 2:
        raise DanceMosaicError(f"joint speed needs (frames >= 2, joints, 3) positions, got {p.shape}")
    vel = np.gradient(p, axis=0) * fps
    return np.linalg.norm(vel, axis=-1).mean(axis=1)


def motion_beats(joints: np.ndarray, fps: float, *, smooth_s: float = 0.0,
                 order_s: float = 0.0) -> np.ndarray:
    """Motion beat times (s): strict local minima of the (Gaussian-smoothed, sigma smooth_s)
    mean joint speed, each the smallest within +-order_s (at least one frame)."""
    speed = joint_speed(joints, fps)
    if smooth_s > 0:
        speed = gaussian_filter1d(speed, smooth_s * fps)   # mode "reflect", as gaussian_filter
    order = max(1, int(round(order_s * fps)))
    from scipy.signal import argrelextrema     # here: scipy.signal costs ~1.5 s to import
    idx = argrelextrema(speed, np.less, order=order)[0]
    return idx / float(fps)


def truncate_beats(beat_times: np.ndarray, duration_s: float) -> np.ndarray:
    """Beats inside [0, duration_s): those a motion of that length can be judged on."""
    beats = np.asarray(beat_times, dtype=np.float64).reshape(-1)
    return beats[(beats >= 0) & (beats < duration_s)]


def _nearest_gaussian(queries: np.ndarray, targets: np.ndarray, sigma_s: float) -> np.ndarray:
    d = np.abs(queries[:, None] - targets[None, :]).min(axis=1)
    return np.exp(-d ** 2 / (2 * sigma_s ** 2))


def beat_align_score(music_beats: np.ndarray, motion_beats_s: np.ndarray, sigma_s: float) -> float | None:
    """Music -> motion BAS (Bailando/LODGE): mean over music beats of the Gaussian of the time
    to the nearest motion beat. No music beat -> None (undefined); no motion beat -> 0."""
    if not sigma_s > 0:
        raise DanceMosaicError(f"BAS sigma must be positive seconds, got {sigma_s}")
    music = np.asarray(music_beats, dtype=np.float64).reshape(-1)
    motion = np.asarray(motion_beats_s, dtype=np.float64).reshape(-1)
    if len(music) == 0:
        return None
    if len(motion) == 0:
        return 0.0
    return float(_nearest_gaussian(music, motion, sigma_s).mean())


def motion_to_music_score(music_beats: np.ndarray, motion_beats_s: np.ndarray,
                          sigma_s: float) -> float | None:
    """Motion -> music score (AIST++/FACT): mean over motion beats of the Gaussian of the time
    to the nearest music beat. No motion beat -> 0 (as mint); no music beat -> None."""
    if not sigma_s > 0:
        raise DanceMosaicError(f"beat score sigma must be positive seconds, got {sigma_s}")
    music = np.asarray(music_beats, dtype=np.float64).reshape(-1)
    motion = np.asarray(motion_beats_s, dtype=np.float64).reshape(-1)
    if len(motion) == 0:
        return 0.0
    if len(music) == 0:
        return None
    return float(_nearest_gaussian(motion, music, sigma_s).mean())


def music_beats(wave: np.ndarray, sr: int, fps: float) -> np.ndarray:
    """Music beat times (s) by librosa's dynamic-programming tracker on the onset envelope at
    sr = fps * 512 (one envelope frame per motion frame, the LODGE/EDGE recipe: tightness 100,
    start_bpm from a tempo estimate at the right sample rate)."""
    import librosa

    from dancemosaic_core.audio.features import HOP_LENGTH, offline_beats
    from dancemosaic_core.audio.io import check_wave, resample, to_mono

    wave = to_mono(check_wave(wave, "music"))
    fsr = int(round(fps * HOP_LENGTH))
    y = resample(wave, sr, fsr)
    env = librosa.onset.onset_strength(y=y, sr=fsr, hop_length=HOP_LENGTH)
    return offline_beats(env, fsr).astype(np.float64) / fps
