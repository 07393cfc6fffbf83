"""Causal online beat tracking, and predicting the music features of frames not heard yet.

StreamingOnset (tempo.py) turns audio blocks into an onset envelope stamped at the onsets'
times. OnlineBeatTracker reads that envelope:
  tempo  comb-filtered autocorrelation of the last `window_seconds` of envelope (tempo.py:
         comb_scores) times a log-normal tempo prior (librosa's: centred on 120 BPM, one octave
         wide) and a small bonus for staying near the current tempo (hysteresis against
         flipping), then the dance-level octave choice (tempo.py: dance_level); no tempo while
         the envelope is flat (silence) or the comb score, the reported confidence, is weak (noise).
  phase  phase locking: the beat grid offset maximising the decaying sum of envelope values on
         the grid over the window; a beat is emitted when the grid's latest beat is more than
         0.6 period after the previous one, so each beat is reported once, as soon as heard.
TempoTracker is the one online set-up of both for audio blocks at any rate (the audio node,
StreamingMusicFeatures, track_wave): resampled to ANALYSIS_SR, envelope every ONSET_HOP samples.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dancemosaic_core.audio.features import COL_BEAT, COL_PEAK, HOP_LENGTH, feature_sr
from dancemosaic_core.audio.io import check_sr, resample
from dancemosaic_core.audio.tempo import (
    StreamingOnset,
    comb_scores,
    dance_level,
    log_tempo_prior,
)
from dancemosaic_core.motion.skeleton import MOTION_FPS

ANALYSIS_SR = feature_sr(MOTION_FPS)   # 10240 Hz, the features' rate at 20 fps
ONSET_HOP = HOP_LENGTH // 4            # envelope at 4x the feature frame rate (80 Hz at ANALYSIS_SR)


@dataclass
class BeatState:
    tempo_bpm: float | None          # None: no reliable tempo (silence, noise, too little audio)
    phase: float                     # position inside the current beat, [0, 1)
    last_beat: float | None          # time (s) of the latest beat of the grid
    next_beats: np.ndarray = field(default_factory=lambda: np.zeros(0))  # predicted times (s)
    confidence: float = 0.0


class OnlineBeatTracker:
    """Feed onset-envelope frames at env_fps with update(); read state()."""

    def __init__(self, *, env_fps: float, min_bpm: float = 60.0, max_bpm: float = 200.0,
                 prior_bpm: float = 120.0, prior_octaves: float = 1.0, window_seconds: float = 8.0,
                 min_seconds: float = 3.0, min_confidence: float = 0.1, stickiness: float = 0.3,
                 reestimate_seconds: float = 0.25, n_predict: int = 8, offbeat_penalty: float = 0.25,
                 third_penalty: float = 0.25):
        self.env_fps = float(env_fps)
        self.bpm_grid = np.arange(min_bpm, max_bpm + 1e-9, 0.05)
        self.log_prior = log_tempo_prior(self.bpm_grid, prior_bpm, prior_octaves)
        self.window = int(round(window_seconds * env_fps))
        self.min_frames = int(round(min_seconds * env_fps))
        self.min_confidence = min_confidence
        self.stickiness = stickiness
        self.reestimate = max(1, int(round(reestimate_seconds * env_fps)))
        self.n_predict = n_predict
        self.offbeat_penalty = offbeat_penalty
        self.third_penalty = third_penalty
        self._env = np.zeros(0)
        self._n = 0                       # envelope frames seen in total
        self._since_tempo = 0
        self.tempo_bpm: float | None = None
        self.confidence = 0.0
        self._last_beat: float | None = None   # envelope frame index (fractional)
        self.beats: list[float] = []           # emitted beat times (s)

    def update(self, env: np.ndarray) -> BeatState:
        env = np.asarray(env, dtype=np.float64)
        if len(env):
            self._env = np.concatenate([self._env, env])[-self.window:]
            self._n += len(env)
            self._since_tempo += len(env)
            if self._since_tempo >= self.reestimate or self.tempo_bpm is None:
                self._since_tempo = 0
                self._estimate_tempo()
            self._estimate_phase()
        return self.state()

    def _estimate_tempo(self) -> None:
        x = self._env
        if self._n < self.min_frames or len(x) < self.min_frames or np.var(x) < 1e-8:
            self.tempo_bpm, self.confidence = None, 0.0
            return
        score = comb_scores(x, self.env_fps, self.bpm_grid, self.offbeat_penalty, self.third_penalty)
        total = np.log(np.maximum(score, 1e-6)) + self.log_prior
        if self.tempo_bpm is not None:
            total += self.stickiness * np.exp(-0.5 * (np.log2(self.bpm_grid / self.tempo_bpm) / 0.02) ** 2)
        best = dance_level(self.bpm_grid, score, int(np.argmax(total)))
        self.confidence = float(score[best])
        self.tempo_bpm = float(self.bpm_grid[best]) if self.confidence >= self.min_confidence else None

    def _estimate_phase(self) -> None:
        if self.tempo_bpm is None:
            return
        period = 60.0 * self.env_fps / self.tempo_bpm
        x = self._env
        now = len(x) - 1
        phis = np.arange(0.0, period, 0.25)
        k = np.arange(int((len(x) - 1) // period))
        pos = now - phis[:, None] - k[None, :] * period            # (phases, beats)
        weights = 0.9 ** k
        s = (np.interp(pos, np.arange(len(x)), x) * weights).sum(axis=1)
        phi = float(phis[int(np.argmax(s))])
        beat = self._n - 1 - phi                                   # global envelope frame
        if self._last_beat is None or beat - self._last_beat > 0.6 * period:
            self.beats.append(beat / self.env_fps)
            self._last_beat = beat
        elif abs(beat - self._last_beat) < 0.4 * period:
            self._last_beat = beat                                 # phase correction, same beat

    def state(self) -> BeatState:
        now = (self._n - 1) / self.env_fps
        if self.tempo_bpm is None or self._last_beat is None:
            return BeatState(None, 0.0, None, np.zeros(0), self.confidence)
        period_s = 60.0 / self.tempo_bpm
        last = self._last_beat / self.env_fps
        phase = ((now - last) / period_s) % 1.0
        ahead = np.floor((now - last) / period_s) + 1 + np.arange(self.n_predict)
        return BeatState(self.tempo_bpm, float(phase), last, last + ahead * period_s, self.confidence)

    def beat_onehot(self, start: int, stop: int, fps: float = MOTION_FPS) -> np.ndarray:
        """0/1 per frame in [start, stop) at `fps`: 1 on frames nearest an emitted beat."""
        out = np.zeros(max(0, stop - start), dtype=np.float32)
        idx = np.round(np.asarray(self.beats) * fps).astype(int) - start
        out[idx[(idx >= 0) & (idx < len(out))]] = 1.0
        return out

    def predict_features(self, history: np.ndarray, n_future: int, fps: float = MOTION_FPS,
                         history_start: int = 0, beats_per_bar: int = 4) -> np.ndarray:
        """predict_features() with this tracker's tempo and predicted beats; history row i is
        frame history_start + i at `fps`."""
        st = self.state()
        first = history_start + len(history)
        beat_frames = np.round(st.next_beats * fps).astype(int) - first if st.tempo_bpm else None
        return predict_features(history, n_future, st.tempo_bpm, fps=fps,
                                beat_frames=beat_frames, beats_per_bar=beats_per_bar)


def predict_features(history: np.ndarray, n_future: int, tempo_bpm: float | None, *,
                     fps: float = MOTION_FPS, beat_frames: np.ndarray | None = None,
                     beats_per_bar: int = 4) -> np.ndarray:
    """(n_future, 35) features of the frames after `history` (T, 35): each is a copy of the frame
    one bar earlier (the largest whole number of beats <= beats_per_bar that the history holds),
    so the music repeats phase-aligned on the beat grid; the beat column is 1 exactly on
    `beat_frames` (offsets from the first future frame), or on the copied beats when None.
    Without a tempo the last frame is held, with no onset peaks or beats."""
    history = np.asarray(history, dtype=np.float32)
    out = np.zeros((max(0, n_future), history.shape[1] if history.ndim == 2 else 35), np.float32)
    if n_future <= 0 or len(history) == 0:
        return out
    period = 60.0 * fps / tempo_bpm if tempo_bpm else None
    beats = int(min(beats_per_bar, len(history) // period)) if period else 0
    if beats < 1:
        out[:] = history[-1]
        out[:, [COL_PEAK, COL_BEAT]] = 0.0
        return out
    lag = int(round(beats * period))
    ext = np.concatenate([history, out])
    t0 = len(history)
    for i in range(n_future):
        ext[t0 + i] = ext[t0 + i - lag]
    out = ext[t0:]
    if beat_frames is not None:
        out[:, COL_BEAT] = 0.0
        b = np.asarray(beat_frames, dtype=int)
        out[b[(b >= 0) & (b < n_future)], COL_BEAT] = 1.0
    return out


class TempoTracker:
    """Online tempo and beat phase of mono audio blocks at `sample_rate`: streaming resampling
    to `analysis_sr` (none when the rates are equal), StreamingOnset, OnlineBeatTracker."""

    def __init__(self, sample_rate: int, *, analysis_sr: int = ANALYSIS_SR, hop: int = ONSET_HOP,
                 **tracker_kwargs):
        from dancemosaic_core.audio.resample import StreamResampler
        self._resampler = StreamResampler(sr_in=check_sr(sample_rate, "tempo tracker sample rate"), sr_out=analysis_sr)
        self.onset = StreamingOnset(analysis_sr, hop)
        self.tracker = OnlineBeatTracker(env_fps=analysis_sr / hop, **tracker_kwargs)
        self.state = BeatState(None, 0.0, None)

    def push(self, mono: np.ndarray) -> BeatState:
        """Append samples; return the beat state after them."""
        y = self._resampler.push(mono)
        if len(y):
            self.state = self.tracker.update(self.onset.push(y))
        return self.state


def track_wave(wave: np.ndarray, sr: int, *, block_seconds: float = 0.05, hop: int = ONSET_HOP,
               analysis_sr: int = ANALYSIS_SR, **tracker_kwargs) -> tuple[np.ndarray, list, OnlineBeatTracker]:
    """Run the online tracker over a wave fed in blocks as a live stream would be:
    (block end times s, tempo after each block (None when unsure), the tracker)."""
    y = resample(wave, sr, analysis_sr)
    tempo = TempoTracker(analysis_sr, analysis_sr=analysis_sr, hop=hop, **tracker_kwargs)
    step = max(1, int(round(block_seconds * analysis_sr)))
    times, tempos = [], []
    for i in range(0, len(y), step):
        tempo.push(y[i:i + step])
        times.append(min(i + step, len(y)) / analysis_sr)
        tempos.append(tempo.tracker.tempo_bpm)
    return np.array(times), tempos, tempo.tracker
