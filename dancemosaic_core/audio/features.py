"""The 35-d music features of EDGE / FineDance / LODGE, at any frame rate, offline and cached.

Reference recipe (EDGE `data/audio_extraction/baseline_features.py`): audio at
sr = fps * HOP_LENGTH (HOP_LENGTH = 512, one feature frame per hop), then per frame
  col 0      onset envelope      librosa.onset.onset_strength
  cols 1-20  MFCC 20             librosa.feature.mfcc (n_fft 2048, 128 mels)
  cols 21-32 chroma_cens 12      librosa.feature.chroma_cens
  col 33     onset peak one-hot  librosa.onset.onset_detect on the envelope
  col 34     beat one-hot        librosa.beat.beat_track(tightness=100)
The beat column departs from EDGE on purpose (tempo.py: dance_beats): EDGE tracks beats on the
20 fps envelope, whose integer-frame beat periods drift off most tempi, and librosa stamps the
envelope at the end of its analysis window, so its beats are late (~50 ms at 20 fps); ours
tracks on a 4x finer envelope stamped at the onsets and holds the tracker to a dance-level
tempo. `offline_beats` keeps EDGE's beats for the evaluation protocols' reference.
Three parts of that recipe look at the whole file, which no live stream can: the dB floor of
power_to_db (top_db=80 below the file's loudest bin), chroma's tuning estimate, and onset
peak picking's normalisation by the file's largest onset. Ours replaces them with local
equivalents (an absolute -100 dB floor, A440 tuning, an absolute threshold in the envelope's
dB units) so that every column except the beat one-hot depends only on a bounded window of
audio around its frame; `StreamingMusicFeatures` then reproduces the offline columns exactly.
Bump RECIPE_VERSION whenever anything here changes what the features are (it keys the cache).
"""
from __future__ import annotations

import hashlib
import json
import math
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from dancemosaic_core.audio.io import check_wave, is_silent, load_audio, resample
from dancemosaic_core.audio.tempo import dance_beats
from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.motion.rhythm import RHYTHM_CHANNELS, rhythm_channels
from dancemosaic_core.motion.skeleton import MOTION_FPS, MUSIC_FEATURE_DIM

RECIPE_VERSION = 2         # 2: beat column from tempo.dance_beats
HOP_LENGTH = 512
N_FFT = 2048
N_MFCC = 20
N_CHROMA = 12
AMIN_DB = -100.0          # absolute floor of power_to_db (amin = 1e-10), replaces top_db=80
ONSET_DELTA = 1.0         # dB above the local mean: librosa 0.07 x a typical 14 dB envelope maximum
BEAT_TIGHTNESS = 100      # EDGE's beat_track setting
MIN_FPS = 20              # below it sr = fps*512 puts chroma_cens' top octave over Nyquist
FEATURE_BLOCK_SECONDS = 30.0   # long waves: local features block by block (memory flat in length)

COL_ONSET = 0
COLS_MFCC = slice(1, 1 + N_MFCC)
COLS_CHROMA = slice(1 + N_MFCC, 1 + N_MFCC + N_CHROMA)
COL_PEAK = 1 + N_MFCC + N_CHROMA
COL_BEAT = COL_PEAK + 1
COLUMN_NAMES = (["onset_env"] + [f"mfcc_{i}" for i in range(N_MFCC)]
                + [f"chroma_cens_{i}" for i in range(N_CHROMA)] + ["onset_peak", "beat"])
assert len(COLUMN_NAMES) == MUSIC_FEATURE_DIM
# The music tower's condition: the 35 features, then the beat grid's rhythm channels
# (motion/rhythm.rhythm_channels: phase at 1x and 2x, beat proximity, tempo).
MUSIC_CONDITION_DIM = MUSIC_FEATURE_DIM + RHYTHM_CHANNELS


def feature_sr(fps: float) -> int:
    """The analysis sample rate for a frame rate: one hop of 512 samples per frame."""
    if not np.isfinite(fps) or fps < MIN_FPS:
        raise DanceMosaicError(f"feature frame rate {fps} is below {MIN_FPS} fps: at sr = fps*512 "
                               "chroma_cens' top octave exceeds Nyquist; compute at 20 fps and resample")
    sr = fps * HOP_LENGTH
    if abs(sr - round(sr)) > 1e-6:
        raise DanceMosaicError(f"fps {fps} gives a non-integer sample rate fps*512 = {sr}; "
                               "use a frame rate that is a multiple of 1/512")
    return int(round(sr))


def n_frames(n_samples: int) -> int:
    """Frames of a wave of n_samples at the feature rate (librosa's centred framing)."""
    return 1 + n_samples // HOP_LENGTH


def peak_params(fps: float) -> dict:
    """librosa.onset.onset_detect's default peak-picking windows, in frames, at this rate."""
    sr = feature_sr(fps)
    return dict(pre_max=int(0.03 * sr // HOP_LENGTH), post_max=int(0.00 * sr // HOP_LENGTH + 1),
                pre_avg=int(0.10 * sr // HOP_LENGTH), post_avg=int(0.10 * sr // HOP_LENGTH + 1),
                wait=int(0.03 * sr // HOP_LENGTH))


def pick_peaks(env: np.ndarray, fps: float) -> np.ndarray:
    """Onset peaks as a 0/1 column: librosa.util.peak_pick's rule (local max over
    [n-pre_max, n+post_max), above the mean over [n-pre_avg, n+post_avg) plus a delta) with an
    absolute delta, and the `wait` rule made local: a candidate is dropped when another
    candidate lies in the `wait` frames before it (librosa's greedy pass can chain)."""
    p = peak_params(fps)
    x = np.asarray(env, dtype=np.float64)
    n = len(x)
    left = max(p["pre_max"], p["pre_avg"])
    right = max(p["post_max"], p["post_avg"])
    padded = np.concatenate([np.full(left, np.nan), x, np.full(right, np.nan)])
    win = np.lib.stride_tricks.sliding_window_view(padded, left + right)[:n]   # row i: x[i-left:i+right]
    i0 = left - p["pre_max"]
    mov_max = np.nanmax(win[:, i0:i0 + p["pre_max"] + p["post_max"]], axis=1)
    j0 = left - p["pre_avg"]
    mov_avg = np.nanmean(win[:, j0:j0 + p["pre_avg"] + p["post_avg"]], axis=1)
    cand = (x == mov_max) & (x >= mov_avg + ONSET_DELTA)
    keep = cand.copy()
    for w in range(1, p["wait"] + 1):
        keep[w:] &= ~cand[:-w]
    return keep.astype(np.float32)


@contextmanager
def _short_clips_padded():
    """Clips shorter than an FFT window (the mel's 0.1 s at 20 fps, chroma's constant-Q
    octaves under ~2 s) are zero-padded by librosa, which warns; that padding is the recipe."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="n_fft=.* is too large for input signal")
        yield


def _mel_db(librosa, y: np.ndarray, sr: int) -> np.ndarray:
    mel = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=N_FFT, hop_length=HOP_LENGTH)
    return librosa.power_to_db(mel, amin=10.0 ** (AMIN_DB / 10.0), top_db=None)


def _onset_strength(librosa, mel_db: np.ndarray, sr: int) -> np.ndarray:
    return librosa.onset.onset_strength(S=mel_db, sr=sr, n_fft=N_FFT, hop_length=HOP_LENGTH)


def onset_envelope(wave: np.ndarray, sr: int) -> np.ndarray:
    """Column 0 alone (float64, n_frames(len(wave)) frames) of a wave already at sr = fps*512,
    without computing the MFCC and chroma columns."""
    import librosa
    y = np.asarray(wave, dtype=np.float64)
    with _short_clips_padded():
        mel_db = _mel_db(librosa, y, sr)
    return _onset_strength(librosa, mel_db, sr)[:n_frames(len(y))]


CQT_SUPPORT_SECONDS = 1.25  # half-length of chroma's lowest constant-Q filter (0.79 s) + resampler tails
CENS_SMOOTH_HALF = 21       # librosa chroma_cens: win_len_smooth 41 -> a 43-point Hann window
ONSET_LEFT = 5              # onset env[t] uses mel frames t-2 and t-3, each 2 frames wide


def margin_frames(fps: float) -> tuple[int, int]:
    """(left, right) context in frames that makes a frame's local features exact."""
    p = peak_params(fps)
    chroma = math.ceil(CQT_SUPPORT_SECONDS * fps) + CENS_SMOOTH_HALF
    left = max(chroma, ONSET_LEFT + max(p["pre_max"], p["pre_avg"]) + p["wait"])
    right = max(chroma, 3, max(p["post_max"], p["post_avg"]))
    return left, right


def local_features(wave: np.ndarray, sr: int) -> np.ndarray:
    """Columns 0..33 (all but the beat one-hot) of a wave already at sr = fps*512.

    Every output frame depends only on audio within a bounded window around it (see the
    module doc); float64 inside so that chroma's quantisation steps do not flip between a
    whole-file and a windowed computation. A wave longer than two FEATURE_BLOCK_SECONDS is
    computed block by block, each with the margins that make its frames exact (the
    streaming features' margins), so memory does not grow with the song."""
    import librosa

    y = np.asarray(wave)                    # float64 block by block (a copy of the whole would grow)
    block = int(FEATURE_BLOCK_SECONDS * sr / HOP_LENGTH)
    total = n_frames(len(y))
    with _short_clips_padded():
        if total <= 2 * block:
            return _local_features(librosa, y.astype(np.float64), sr)
        left, right = margin_frames(sr / HOP_LENGTH)
        parts = []
        for a in range(0, total, block):
            b = min(a + block, total)
            first = max(0, a - left)
            seg = y[first * HOP_LENGTH:(b + right) * HOP_LENGTH].astype(np.float64)
            parts.append(_local_features(librosa, seg, sr)[a - first:b - first])
        return np.concatenate(parts)


def _local_features(librosa, y: np.ndarray, sr: int) -> np.ndarray:
    mel_db = _mel_db(librosa, y, sr)
    env = _onset_strength(librosa, mel_db, sr)
    mfcc = librosa.feature.mfcc(S=mel_db, n_mfcc=N_MFCC)
    chroma = librosa.feature.chroma_cens(y=y, sr=sr, hop_length=HOP_LENGTH, n_chroma=N_CHROMA,
                                         tuning=0.0)
    t = min(env.shape[-1], mfcc.shape[-1], chroma.shape[-1])
    fps = sr / HOP_LENGTH
    out = np.zeros((t, MUSIC_FEATURE_DIM - 1), dtype=np.float64)
    out[:, COL_ONSET] = env[:t]
    out[:, COLS_MFCC] = mfcc[:, :t].T
    out[:, COLS_CHROMA] = chroma[:, :t].T
    out[:, COL_PEAK] = pick_peaks(env[:t], fps)
    return out


def offline_beats(env: np.ndarray, sr: int) -> np.ndarray:
    """EDGE's beat frames (the evaluation reference, not the beat column): librosa's
    dynamic-programming tracker on the whole envelope, start_bpm a tempo estimate of the file,
    tightness=100. Late by about a quarter of the 2048-sample window (tempo.py)."""
    import librosa
    env = np.asarray(env, dtype=np.float64)
    if not np.any(env > 0):
        return np.zeros(0, dtype=int)
    start_bpm = float(np.atleast_1d(librosa.feature.tempo(onset_envelope=env, sr=sr,
                                                          hop_length=HOP_LENGTH))[0])
    _, beats = librosa.beat.beat_track(onset_envelope=env, sr=sr, hop_length=HOP_LENGTH,
                                       start_bpm=max(start_bpm, 1.0), tightness=BEAT_TIGHTNESS)
    return np.asarray(beats, dtype=int)


def music_features(wave: np.ndarray, sr: int, fps: float = MOTION_FPS) -> np.ndarray:
    """(T, 35) float32 features of a mono wave at any rate, T = 1 + n // 512 after resampling to
    fps*512 Hz, i.e. one frame per 1/fps s starting at t = 0. Silent audio gives finite
    features with no onset peaks and no beats."""
    wave = check_wave(wave, "music_features input")
    if wave.ndim != 1:
        raise DanceMosaicError(f"music_features wants a mono wave, got shape {wave.shape}; "
                               "use dancemosaic_core.audio.io.to_mono")
    fsr = feature_sr(fps)
    y = resample(wave, sr, fsr)
    local = local_features(y, fsr)
    beats = np.zeros(len(local))
    if not is_silent(y):
        idx = np.round(dance_beats(y, fsr, HOP_LENGTH // 4, BEAT_TIGHTNESS).times * fps).astype(int)
        beats[idx[idx < len(beats)]] = 1.0
    return np.concatenate([local, beats[:, None]], axis=1).astype(np.float32)


def beat_times(features: np.ndarray, fps: float = MOTION_FPS) -> np.ndarray:
    """Beat times (s from the first frame) of the beat one-hot column of (T, 35) features."""
    feats = np.asarray(features)
    if feats.ndim != 2 or feats.shape[1] != MUSIC_FEATURE_DIM:
        raise DanceMosaicError(f"music features have shape {feats.shape}; expected (frames, {MUSIC_FEATURE_DIM})")
    return np.flatnonzero(feats[:, COL_BEAT] > 0.5) / float(fps)


def music_condition(features: np.ndarray, *, beats: np.ndarray | None = None,
                    fps: float = MOTION_FPS) -> np.ndarray:
    """(T, MUSIC_CONDITION_DIM) float32 music-tower input: the (T, 35) features followed by the
    rhythm channels of `beats` (seconds from the first frame; default the beat column's).
    The one place that builds it, for training windows, offline, long and streaming generation."""
    feats = np.asarray(features, dtype=np.float32)
    if beats is None:
        beats = beat_times(feats, fps)
    elif feats.ndim != 2 or feats.shape[1] != MUSIC_FEATURE_DIM:
        raise DanceMosaicError(f"music features have shape {feats.shape}; expected (frames, {MUSIC_FEATURE_DIM})")
    return np.concatenate([feats, rhythm_channels(beats, len(feats), fps)], axis=1)


def cache_key(path, fps: float) -> str:
    """sha256 of the file's bytes, the parameters and the recipe version."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    params = dict(fps=float(fps), recipe=RECIPE_VERSION, hop=HOP_LENGTH, n_fft=N_FFT,
                  delta=ONSET_DELTA, floor=AMIN_DB, tightness=BEAT_TIGHTNESS)
    h.update(json.dumps(params, sort_keys=True).encode())
    return h.hexdigest()[:32]


def music_features_cached(path, fps: float = MOTION_FPS,
                          cache_dir="~/.cache/dancemosaic/music_features") -> np.ndarray:
    """music_features of an audio file, stored as <cache_dir>/<key>.npy (key: cache_key)."""
    path = Path(path)
    if not path.is_file():
        raise DanceMosaicError(f"{path}: audio file not found; check the path")
    cache = Path(cache_dir).expanduser()
    target = cache / f"{cache_key(path, fps)}.npy"
    if target.is_file():
        try:
            feats = np.load(target)
            if feats.ndim == 2 and feats.shape[1] == MUSIC_FEATURE_DIM:
                return feats
        except (OSError, ValueError):
            pass  # a truncated cache file from an interrupted run: recompute below
    wave, sr = load_audio(path)
    feats = music_features(wave, sr, fps)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp.npy")
    np.save(tmp, feats)
    tmp.replace(target)
    return feats
