"""Onset envelope and tempo evidence shared by the offline beat column and the online tracker.

Onset envelope (StreamingOnset): mean positive log-mel flux, the quantity librosa's
onset_strength computes, on Hann windows of n_fft samples every hop. Time convention: the flux
of a window rises most when an onset reaches the window's half-amplitude point, a quarter
window inside its leading edge, so the envelope frame of that window is stamped at that time
(librosa stamps it at the window's end: its envelope, and the beats found on it, are late by
about n_fft/4, 50 ms at EDGE's 2048 samples at 10240 Hz, 33 ms at 15360 Hz). A frame is
therefore known n_fft/4 after its time (25 ms for the online tracker's 1024 samples at 10240 Hz).

Tempo evidence (comb_scores): for every candidate tempo, the mean unbiased autocorrelation of
the envelope at 1..4 beat periods (fractional lags, linear interpolation), normalised by the
lag-0 value, minus a share of the autocorrelation half-way and a third of the way between (a
pulse there means the candidate is a slower metrical level). The best score is the confidence:
about 0.6-0.9 on click tracks and rendered grooves, 0.03 on white noise.

Dance level (dance_level): the octave a dancer steps to. The strongest candidate is folded to
half when it is at FOLD_BPM or above and half of it has HALF_SUPPORT of its score; a candidate
below DOUBLE_BPM is doubled when the double has that support; between them the double is
taken when its evidence is close (DOUBLE_SUPPORT: a rock backbeat at 140-152 BPM scores 0.70 of
its half-tempo bar pulse, a 3/4 waltz's eighths 0.46 of its beat) and stays under FOLD_BPM
(eighth-note hats over an 80 BPM groove score 0.95 of it, but 160 is folded back).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dancemosaic_core.audio.dp_beats import track_beats

FOLD_BPM = 157.0        # "160 BPM and faster": 2 % below 160 for estimates on the grid
DOUBLE_BPM = 70.0       # slower candidates are bar halves when their double has support
HALF_SUPPORT = 0.5      # score share the other octave needs to be taken outside 70..157 BPM
DOUBLE_SUPPORT = 0.65   # score share the double needs inside 70..157 BPM
OCTAVE_WIDTH = 0.03     # the other octave's score: best within +-3 % of exactly 2x / 0.5x
OFFBEAT_PENALTY = 0.25
THIRD_PENALTY = 0.25


class StreamingOnset:
    """Audio blocks at `sr` -> onset envelope frames at sr/hop; frame i (time i*hop/sr) is out
    once the sample at i*hop + n_fft/4 has arrived (module doc: time convention)."""

    def __init__(self, sr: int, hop: int, n_fft: int = 1024, n_mels: int = 64):
        import librosa
        self.sr, self.hop, self.n_fft = int(sr), int(hop), int(n_fft)
        self._mel = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels).astype(np.float64)
        self._win = np.hanning(n_fft + 1)[:-1]
        self._buf = np.zeros(n_fft // 2)             # centred framing: n_fft/2 zeros before t=0
        self._buf_start = 0                          # padded index of self._buf[0]
        self._next_frame = 0                         # next mel frame k to compute
        self._prev = None                            # log-mel of frame k-1
        # the flux of window k (centred on sample k*hop) peaks when an onset sits where the Hann
        # window reaches half amplitude, n_fft/4 before its end: that is the onset's time
        self.shift = n_fft // (4 * hop)              # envelope index i = k + shift

    def push(self, y: np.ndarray) -> np.ndarray:
        """Append samples; return the envelope frames that became available (maybe none)."""
        self._buf = np.concatenate([self._buf, np.asarray(y, dtype=np.float64)])
        end = self._buf_start + len(self._buf)
        n_new = (end - self.n_fft) // self.hop + 1 - self._next_frame
        if n_new <= 0:
            return np.zeros(0)
        k0 = self._next_frame
        a = k0 * self.hop - self._buf_start
        frames = np.lib.stride_tricks.sliding_window_view(self._buf[a:], self.n_fft)[::self.hop][:n_new]
        spec = np.abs(np.fft.rfft(frames * self._win, axis=1)) ** 2
        logmel = 10.0 * np.log10(np.maximum(spec @ self._mel.T, 1e-10))
        prev = logmel[:1] if self._prev is None else self._prev[None]
        flux = np.maximum(0.0, np.diff(np.concatenate([prev, logmel]), axis=0)).mean(axis=1)
        out = flux
        if k0 == 0:
            out = np.concatenate([np.zeros(self.shift), flux])   # frames before the first window
        self._prev = logmel[-1]
        self._next_frame += n_new
        keep = self._next_frame * self.hop - self._buf_start
        self._buf = self._buf[keep:]
        self._buf_start += keep
        return out


def bpm_grid(min_bpm: float = 60.0, max_bpm: float = 200.0, step: float = 0.05) -> np.ndarray:
    return np.arange(min_bpm, max_bpm + 1e-9, step)


def log_tempo_prior(bpms: np.ndarray, center_bpm: float = 120.0, octaves: float = 1.0) -> np.ndarray:
    """librosa's log-normal tempo prior: centred on 120 BPM, one octave wide."""
    return -0.5 * (np.log2(np.asarray(bpms) / center_bpm) / octaves) ** 2


def comb_scores(env: np.ndarray, env_fps: float, bpms: np.ndarray,
                offbeat_penalty: float = OFFBEAT_PENALTY, third_penalty: float = THIRD_PENALTY) -> np.ndarray:
    """Comb score of every tempo in `bpms` (module doc); zeros for a flat envelope."""
    x = np.asarray(env, dtype=np.float64)
    n = len(x)
    if n < 2:
        return np.zeros(len(bpms))
    x = x - x.mean()
    if not np.any(x):
        return np.zeros(len(bpms))
    spec = np.fft.rfft(x, 2 * n)
    acf = np.fft.irfft(np.abs(spec) ** 2)[:n] / np.arange(n, 0, -1)   # unbiased
    acf = acf / acf[0]
    lags = 60.0 * env_fps / np.asarray(bpms, dtype=np.float64)
    score = np.zeros_like(lags)
    count = np.zeros_like(lags)
    grid = np.arange(n)
    for k in range(1, 5):
        ok = k * lags < n // 2                      # keep lags with enough overlap
        on = np.interp(k * lags[ok], grid, acf)
        off = np.interp((k - 0.5) * lags[ok], grid, acf)
        thirds = 0.5 * (np.interp((k - 1 / 3) * lags[ok], grid, acf) + np.interp((k - 2 / 3) * lags[ok], grid, acf))
        score[ok] += on - offbeat_penalty * np.maximum(off, 0) - third_penalty * np.maximum(thirds, 0)
        count[ok] += 1
    return np.where(count > 0, score / np.maximum(count, 1), 0.0)


def dance_level(bpms: np.ndarray, score: np.ndarray, best: int) -> int:
    """Index of the dance-level tempo given the strongest candidate `best` (module doc)."""
    def octave(factor: float) -> int | None:
        near = np.flatnonzero(np.abs(bpms / (factor * bpms[best]) - 1.0) <= OCTAVE_WIDTH)
        return int(near[np.argmax(score[near])]) if len(near) else None

    s = score[best]
    if s <= 0:
        return best
    if bpms[best] >= FOLD_BPM:
        half = octave(0.5)
        return half if half is not None and score[half] >= HALF_SUPPORT * s else best
    double = octave(2.0)
    if double is None or bpms[double] >= FOLD_BPM:
        return best
    need = HALF_SUPPORT if bpms[best] < DOUBLE_BPM else DOUBLE_SUPPORT
    return double if score[double] >= need * s else best


@dataclass
class Tempo:
    bpm: float | None       # None: flat envelope or no periodicity
    confidence: float       # comb score of the chosen tempo, about 0..1


def dance_tempo(env: np.ndarray, env_fps: float, bpms: np.ndarray | None = None,
                log_prior: np.ndarray | None = None, min_confidence: float = 0.1) -> Tempo:
    """Tempo of a whole envelope at the dance level, with its confidence; `log_prior` defaults
    to log_tempo_prior (as the online tracker's)."""
    bpms = bpm_grid() if bpms is None else bpms
    score = comb_scores(env, env_fps, bpms)
    total = np.log(np.maximum(score, 1e-6)) + (log_tempo_prior(bpms) if log_prior is None else log_prior)
    i = dance_level(bpms, score, int(np.argmax(total)))
    conf = float(max(score[i], 0.0))
    return Tempo(round(float(bpms[i]), 2) if conf >= min_confidence else None, conf)


ONSET_BLOCK_SECONDS = 10.0   # a whole wave is pushed in blocks: the spectrogram of one at a time


def onset_envelope_fine(y: np.ndarray, sr: int, hop: int) -> np.ndarray:
    """StreamingOnset's envelope of a whole wave (frame i at i*hop/sr s), memory bounded by
    one ONSET_BLOCK_SECONDS block whatever the wave's length."""
    onset = StreamingOnset(sr, hop)
    y = np.asarray(y)                       # push() takes each block to float64
    block = max(1, int(ONSET_BLOCK_SECONDS * sr))
    parts = [onset.push(y[i:i + block]) for i in range(0, len(y), block)]
    return np.concatenate(parts) if parts else np.zeros(0)


@dataclass
class Beats:
    times: np.ndarray       # beat times (s)
    bpm: float | None
    confidence: float


def dance_beats(y: np.ndarray, sr: int, hop: int, tightness: float = 100.0) -> Beats:
    """Offline beats of a whole wave: envelope at sr/hop with the onset time convention of the
    module doc, dance-level tempo, then librosa's dynamic-programming tracker held to that
    tempo (EDGE's tightness 100; dp_beats: the same beats, without compiling librosa's kernels);
    no beats without a tempo."""
    env = onset_envelope_fine(y, sr, hop)
    fps = sr / hop
    tempo = dance_tempo(env, fps)
    if tempo.bpm is None:
        return Beats(np.zeros(0), None, tempo.confidence)
    times = track_beats(env, fps=fps, bpm=tempo.bpm, tightness=tightness).astype(np.float64) / fps
    # librosa's backtracking can start from a weak frame at the end of the file and keep its
    # off-grid predecessor once trimmed: drop edge beats whose gap is off the period by > 10 %
    period = 60.0 / tempo.bpm
    while len(times) > 2 and abs(times[-1] - times[-2] - period) > 0.1 * period:
        times = times[:-1]
    while len(times) > 2 and abs(times[1] - times[0] - period) > 0.1 * period:
        times = times[1:]
    return Beats(times, tempo.bpm, tempo.confidence)
