"""Meter (beats per bar, 3 or 4) and downbeats from beat times and the audio, offline and online.

Per beat (beat_accents), from one STFT of the audio at ANALYSIS_SR:
  onset    strongest full-band log-mel flux within +-ACCENT_WINDOW of the beat (time convention
           of tempo.py: a window's flux is stamped a quarter window inside its leading edge);
  bass     the same flux over the mel bands below BASS_HZ (kick drum, bass notes);
  low      the mean low-band log energy over the first half of the beat's interval;
  harmony  1 - cosine between the chroma of the beat's interval and of the previous interval
           (chords and bass roots change on bar lines);
  distinct how far the beat's mean log-mel spectrum (first half of its interval) is from the
           average beat's, in z-units (an accent of another colour, such as a higher click on "1").
Meter: the beats of one bar position sound alike, so the beat-synchronous vectors (timbre,
chroma, onset/bass/harmony; every column z-scored over the beats) correlate best at a lag of one
bar and of two bars: meter 4 when lags 4 and 8 correlate more than lags 3 and 6, else 3 (a 2/4 bar
also repeats at 4 beats, so it is folded into 4). Phase: the bar position whose beats carry the
largest PHASE_WEIGHTS sum of z-scored low, harmony and distinct is "1" (the flux accents pointed at
the wrong beat on rendered grooves, where a bass note held into "1" leaves no flux, and on accented
clicks; docs/audio.md). Confidence: the smaller of the meter's and the phase's margins, each
squashed to 0..1 (tanh of the margin over its scale).
OnlineMeterTracker re-runs this on the last `window_seconds` of audio at every emitted beat and
reports the meter and downbeats only after the same answer `agree` times in a row at
`min_confidence` or above.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dancemosaic_core.audio.beat import ANALYSIS_SR, TempoTracker
from dancemosaic_core.audio.io import check_sr, resample
from dancemosaic_core.common.errors import DanceMosaicError

N_FFT = 1024                    # 100 ms: onsets and timbre
CHROMA_N_FFT = 2048             # 5 Hz bins, 200 ms: pitch classes of one beat
HOP = 128                       # 80 frames/s
N_MELS = 64
BASS_HZ = 200.0
ACCENT_WINDOW = 0.05            # s either side of a beat
METERS = (3, 4)
PHASE_WEIGHTS = {"low": 1.0, "harmony": 1.0, "distinct": 2.0}
METER_SCALE = 0.1               # correlation margin giving confidence tanh(1) = 0.76
PHASE_SCALE = 0.3               # accent margin (in beat standard deviations) likewise
MIN_BEATS = 7                   # fewer beats cannot show a bar's repetition


@dataclass
class MeterEstimate:
    beats_per_bar: int | None          # None: too few beats
    phase: int                         # index of the first downbeat among the beats
    confidence: float                  # 0..1
    downbeats: np.ndarray = field(default_factory=lambda: np.zeros(0))
    meter_scores: dict = field(default_factory=dict)   # meter -> mean bar-lag correlation
    phase_scores: np.ndarray = field(default_factory=lambda: np.zeros(0))


class _Spectra:
    """Mel and chroma filters at ANALYSIS_SR, built once."""

    def __init__(self):
        import librosa
        self.mel = librosa.filters.mel(sr=ANALYSIS_SR, n_fft=N_FFT, n_mels=N_MELS)
        freqs = librosa.mel_frequencies(n_mels=N_MELS + 2, fmax=ANALYSIS_SR / 2)[1:-1]
        self.bass_bands = freqs < BASS_HZ
        self.chroma = librosa.filters.chroma(sr=ANALYSIS_SR, n_fft=CHROMA_N_FFT)

    def frames(self, y: np.ndarray):
        """(log-mel (frames, N_MELS), chroma (frames, 12)); frame k centred on k*HOP."""
        import librosa
        spec = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP)) ** 2
        logmel = 10.0 * np.log10(np.maximum(self.mel @ spec, 1e-10)).T
        cspec = np.abs(librosa.stft(y, n_fft=CHROMA_N_FFT, hop_length=HOP)) ** 2
        chroma = (self.chroma @ cspec).T
        n = min(len(logmel), len(chroma))
        return logmel[:n], chroma[:n]


_SPECTRA: _Spectra | None = None


def _spectra() -> _Spectra:
    global _SPECTRA
    if _SPECTRA is None:
        _SPECTRA = _Spectra()
    return _SPECTRA


def _zscore(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-9)


def beat_accents(y: np.ndarray, beats: np.ndarray, t0: float = 0.0) -> dict[str, np.ndarray]:
    """Per-beat features (module doc) of mono audio `y` at ANALYSIS_SR whose first sample is at
    time t0; beats (s) must lie inside the audio. Returns onset, bass, harmony, distinct (n,) and
    vectors (n, d), the beat-synchronous description used for the meter."""
    sp = _spectra()
    logmel, chroma = sp.frames(np.asarray(y, dtype=np.float32))
    fps = ANALYSIS_SR / HOP
    flux = np.maximum(0.0, np.diff(logmel, axis=0, prepend=logmel[:1]))
    flux_full, flux_bass = flux.mean(axis=1), flux[:, sp.bass_bands].mean(axis=1)
    onset_shift = N_FFT / 4 / ANALYSIS_SR            # flux frame k is stamped at k/fps + shift
    n = len(beats)
    period = float(np.median(np.diff(beats))) if n > 1 else 0.5
    ends = np.append(beats[1:], beats[-1] + period)
    onset, bass, low = np.zeros(n), np.zeros(n), np.zeros(n)
    timbre, chroma_b = np.zeros((n, N_MELS)), np.zeros((n, 12))
    last = len(logmel) - 1
    for i, (b, e) in enumerate(zip(beats - t0, ends - t0)):
        lo = int(np.clip(np.floor((b - ACCENT_WINDOW - onset_shift) * fps), 0, last))
        hi = int(np.clip(np.ceil((b + ACCENT_WINDOW - onset_shift) * fps), lo, last)) + 1
        onset[i], bass[i] = flux_full[lo:hi].max(), flux_bass[lo:hi].max()
        a = int(np.clip(round(b * fps), 0, last))
        mid = int(np.clip(round((b + 0.5 * (e - b)) * fps), a + 1, last + 1))
        timbre[i] = logmel[a:mid].mean(axis=0)
        low[i] = timbre[i][sp.bass_bands].mean()
        # chroma frames whose 200 ms window lies mostly inside the beat's interval
        ca = int(np.clip(round((b + CHROMA_N_FFT / 4 / ANALYSIS_SR) * fps), 0, last))
        ce = int(np.clip(round((e - CHROMA_N_FFT / 4 / ANALYSIS_SR) * fps), ca + 1, last + 1))
        chroma_b[i] = chroma[ca:ce].mean(axis=0)
    unit = chroma_b / (np.linalg.norm(chroma_b, axis=1, keepdims=True) + 1e-12)
    harmony = np.zeros(n)
    harmony[1:] = 1.0 - (unit[1:] * unit[:-1]).sum(axis=1)
    harmony[0] = harmony[1:].mean() if n > 1 else 0.0
    tz = _zscore(timbre)
    distinct = np.linalg.norm(tz, axis=1) / np.sqrt(N_MELS)
    scalars = _zscore(np.stack([onset, bass, harmony], axis=1))
    vectors = np.concatenate([tz / np.sqrt(N_MELS), _zscore(unit) / np.sqrt(12), scalars / np.sqrt(3)], axis=1)
    return {"onset": onset, "bass": bass, "low": low, "harmony": harmony, "distinct": distinct,
            "vectors": vectors}


def lag_correlation(vectors: np.ndarray, lag: int) -> float:
    """Mean cosine between the beat vectors `lag` beats apart (0 when there are no such pairs)."""
    if lag >= len(vectors):
        return 0.0
    a, b = vectors[:-lag], vectors[lag:]
    cos = (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)
    return float(cos.mean())


def estimate_meter(y: np.ndarray, sr: int, beats, *, t0: float = 0.0) -> MeterEstimate:
    """Meter and downbeats of mono audio `y` at `sr` (first sample at time t0) given its beat
    times (s, increasing): module doc."""
    beats = np.asarray(beats, dtype=np.float64)
    if beats.ndim != 1 or np.any(np.diff(beats) <= 0):
        raise DanceMosaicError("beat times must be a 1-D increasing array of seconds; pass the beat tracker's output")
    if len(beats) < MIN_BEATS:
        return MeterEstimate(None, 0, 0.0)
    y = resample(np.asarray(y, dtype=np.float32), check_sr(sr, "meter sample rate"), ANALYSIS_SR)
    seconds = len(y) / ANALYSIS_SR
    beats = beats[(beats >= t0) & (beats < t0 + seconds)]
    if len(beats) < MIN_BEATS:
        return MeterEstimate(None, 0, 0.0)
    acc = beat_accents(y, beats, t0)
    v = acc["vectors"]
    meter_scores = {m: 0.5 * (lag_correlation(v, m) + lag_correlation(v, 2 * m)) for m in METERS}
    meter = max(METERS, key=meter_scores.get)
    other = min(METERS, key=meter_scores.get)
    meter_conf = float(np.tanh(max(meter_scores[meter] - meter_scores[other], 0.0) / METER_SCALE))
    accent = sum(w * _zscore(acc[k]) for k, w in PHASE_WEIGHTS.items())
    pos = np.arange(len(beats)) % meter
    phase_scores = np.array([accent[pos == p].mean() for p in range(meter)])
    order = np.argsort(phase_scores)[::-1]
    phase = int(order[0])
    phase_conf = float(np.tanh((phase_scores[order[0]] - phase_scores[order[1]]) / PHASE_SCALE))
    return MeterEstimate(meter, phase, min(meter_conf, phase_conf), beats[phase::meter],
                         {m: round(s, 4) for m, s in meter_scores.items()}, phase_scores)


@dataclass
class MeterState:
    beats_per_bar: int | None          # None until confident
    confidence: float
    next_downbeat: float | None        # predicted time (s) of the next downbeat
    locked_at: float | None            # stream time (s) when the meter was first reported


class OnlineMeterTracker:
    """Meter and downbeats of a live stream: push(audio block, the beat tracker's emitted beats)."""

    def __init__(self, sample_rate: int, *, window_seconds: float = 12.0, min_confidence: float = 0.3,
                 agree: int = 2):
        self.sr = check_sr(sample_rate, "meter tracker sample rate")
        from dancemosaic_core.audio.resample import StreamResampler
        self._resampler = StreamResampler(sr_in=self.sr, sr_out=ANALYSIS_SR)
        self.window = int(window_seconds * ANALYSIS_SR)
        self.min_confidence = min_confidence
        self.agree = agree
        self._audio = np.zeros(0, dtype=np.float32)
        self._start = 0                   # stream sample (at ANALYSIS_SR) of self._audio[0]
        self._seen = 0                    # beats already handled
        self._candidate: tuple[int, int] | None = None    # (meter, global index of a downbeat)
        self._streak = 0
        self.meter: tuple[int, int] | None = None          # reported (meter, downbeat index)
        self.confidence = 0.0
        self.locked_at: float | None = None
        self.downbeats: list[float] = []                   # emitted downbeat times (s)
        self._beats: list[float] = []

    @property
    def now(self) -> float:
        return (self._start + len(self._audio)) / ANALYSIS_SR

    def push(self, mono: np.ndarray, beats) -> MeterState:
        """Append an audio block; `beats` = every beat the tracker has emitted so far (s)."""
        y = self._resampler.push(np.ascontiguousarray(mono, dtype=np.float32))
        self._audio = np.concatenate([self._audio, y])
        drop = max(0, len(self._audio) - self.window)
        self._audio, self._start = self._audio[drop:], self._start + drop
        self._beats = list(beats)
        while self._seen < len(self._beats):
            self._on_beat(self._seen)
            self._seen += 1
        return self.state()

    def _on_beat(self, index: int) -> None:
        t0 = self._start / ANALYSIS_SR
        # the newest beat's interval is still arriving: the estimate uses the beats before it
        window = [(i, b) for i, b in enumerate(self._beats[:index]) if b >= t0]
        if len(window) >= MIN_BEATS:
            est = estimate_meter(self._audio, ANALYSIS_SR, [b for _, b in window], t0=t0)
            if est.beats_per_bar is not None:
                self._vote(est.beats_per_bar, window[0][0] + est.phase, est.confidence)
        if self.meter is not None and (index - self.meter[1]) % self.meter[0] == 0:
            self.downbeats.append(self._beats[index])

    def _vote(self, meter: int, downbeat_index: int, confidence: float) -> None:
        same = (self._candidate is not None and self._candidate[0] == meter
                and (downbeat_index - self._candidate[1]) % meter == 0)
        if confidence < self.min_confidence:
            self._streak = 0
            return
        self._streak = self._streak + 1 if same else 1
        self._candidate = (meter, downbeat_index)
        if self._streak >= self.agree:
            if self.meter is None:
                self.locked_at = self.now
            self.meter, self.confidence = self._candidate, confidence

    def state(self) -> MeterState:
        if self.meter is None or not self._beats:
            return MeterState(None, self.confidence, None, None)
        meter, anchor = self.meter
        last = len(self._beats) - 1
        ahead = (anchor - last) % meter or meter
        period = float(np.median(np.diff(self._beats[-MIN_BEATS:]))) if len(self._beats) > 1 else 0.0
        return MeterState(meter, self.confidence, self._beats[-1] + ahead * period, self.locked_at)


def track_meter_wave(wave: np.ndarray, sr: int, *, block_seconds: float = 0.05,
                     **meter_kwargs) -> tuple[OnlineMeterTracker, list[float]]:
    """Run the online beat tracker and OnlineMeterTracker over a wave in blocks as a live
    stream would: (the meter tracker, the emitted beats)."""
    y = resample(np.asarray(wave, dtype=np.float32), sr, ANALYSIS_SR)
    tempo = TempoTracker(ANALYSIS_SR)
    meter = OnlineMeterTracker(ANALYSIS_SR, **meter_kwargs)
    step = max(1, round(block_seconds * ANALYSIS_SR))
    for i in range(0, len(y), step):
        tempo.push(y[i:i + step])
        meter.push(y[i:i + step], tempo.tracker.beats)
    return meter, list(tempo.tracker.beats)
