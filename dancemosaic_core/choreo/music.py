"""What the choreographer hears: beat times, and the onset envelope as the music's energy.

The envelope is column 0 of audio.music_features (audio.features.onset_envelope, without the
MFCC and chroma columns the choreographer does not need) and the beats its column 34 (librosa's
tracker on that envelope, audio.features.offline_beats). That
tracker lags the true beats by one to two frames (measured: +50 ms on click tracks, +80..100 ms
on openmsx pieces rendered by fluidsynth, against the MIDI tempo map), so the beats are moved
by one shift per clip: the median offset, over all beats, from a detected beat to the strongest
onset within LAG_WINDOW before it (or BEAT_SLACK after it) on a fine onset envelope (5.8 ms
frames). One shift for the whole clip keeps syncopated beats where the tracker put them.
"""
from __future__ import annotations

import numpy as np

from dancemosaic_core.motion.skeleton import MOTION_FPS

FINE_SR, FINE_HOP = 22050, 128
LAG_WINDOW = 0.15        # s searched before each detected beat
BEAT_SLACK = 0.03        # s searched after it


def fine_onset_envelope(wave: np.ndarray, sr: int) -> tuple[np.ndarray, float]:
    """(onset envelope, frames per second) at 22050 Hz / 128 samples."""
    import librosa

    from dancemosaic_core.audio.io import resample
    y = resample(wave, sr, FINE_SR)
    env = librosa.onset.onset_strength(y=y, sr=FINE_SR, hop_length=FINE_HOP, n_fft=1024)
    return env, FINE_SR / FINE_HOP


def lag_corrected(beats: np.ndarray, wave: np.ndarray, sr: int) -> np.ndarray:
    """Beats moved by the clip's median detector lag (module doc); unchanged with < 2 beats."""
    beats = np.asarray(beats, dtype=np.float64)
    if len(beats) < 2:
        return beats
    env, fps = fine_onset_envelope(wave, sr)
    offsets = []
    for b in beats:
        lo, hi = int(np.floor((b - LAG_WINDOW) * fps)), int(np.ceil((b + BEAT_SLACK) * fps)) + 1
        lo, hi = max(lo, 0), min(hi, len(env))
        if hi - lo > 1 and env[lo:hi].max() > 0:
            offsets.append((lo + int(np.argmax(env[lo:hi]))) / fps - b)
    return beats + float(np.median(offsets)) if offsets else beats


def onset_envelope(wave: np.ndarray, sr: int) -> np.ndarray:
    """Column 0 of audio.music_features at 20 fps, of a mono wave at any rate."""
    from dancemosaic_core.audio import features as F
    from dancemosaic_core.audio.io import resample
    fsr = F.feature_sr(MOTION_FPS)
    return F.onset_envelope(resample(wave, sr, fsr), fsr)


def hear(wave: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """(beat times s, onset envelope per motion frame) of a mono wave; one frame per 1/20 s."""
    from dancemosaic_core.audio.features import feature_sr, offline_beats
    from dancemosaic_core.audio.io import is_silent
    env = onset_envelope(wave, sr)
    frames = offline_beats(env, feature_sr(MOTION_FPS)) if not is_silent(wave) else np.zeros(0, int)
    beats = frames[frames < len(env)] / MOTION_FPS
    return lag_corrected(beats, wave, sr), env
