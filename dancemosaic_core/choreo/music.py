"""What the choreographer hears: beat times, and the onset envelope as the music's energy.

The envelope is column 0 of audio.music_features (audio.features.onset_envelope, without the
MFCC and chroma columns the choreographer does not need) and the beats are those of its beat
column, before rounding to frames (audio.tempo.dance_beats: stamped at the onsets, at a
dance-level tempo; EDGE's tracker was 50 ms late and needed a per-clip lag correction here).
`fine_onset_envelope` is librosa's onset strength at 5.8 ms frames, for accent analysis.
"""
from __future__ import annotations

import numpy as np

from dancemosaic_core.motion.skeleton import MOTION_FPS

FINE_SR, FINE_HOP = 22050, 128


def fine_onset_envelope(wave: np.ndarray, sr: int) -> tuple[np.ndarray, float]:
    """(onset envelope, frames per second) at 22050 Hz / 128 samples."""
    import librosa

    from dancemosaic_core.audio.io import resample
    y = resample(wave, sr, FINE_SR)
    env = librosa.onset.onset_strength(y=y, sr=FINE_SR, hop_length=FINE_HOP, n_fft=1024)
    return env, FINE_SR / FINE_HOP


def onset_envelope(wave: np.ndarray, sr: int) -> np.ndarray:
    """Column 0 of audio.music_features at 20 fps, of a mono wave at any rate."""
    from dancemosaic_core.audio import features as F
    from dancemosaic_core.audio.io import resample
    fsr = F.feature_sr(MOTION_FPS)
    return F.onset_envelope(resample(wave, sr, fsr), fsr)


def hear(wave: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """(beat times s, onset envelope per motion frame) of a mono wave; one frame per 1/20 s."""
    from dancemosaic_core.audio.features import HOP_LENGTH, feature_sr
    from dancemosaic_core.audio.io import is_silent, resample
    from dancemosaic_core.audio.tempo import dance_beats
    env = onset_envelope(wave, sr)
    if is_silent(wave):
        return np.zeros(0), env
    fsr = feature_sr(MOTION_FPS)
    beats = dance_beats(resample(wave, sr, fsr), fsr, HOP_LENGTH // 4).times
    return beats[beats < len(env) / MOTION_FPS], env
