"""Music features of a live stream, equal to the offline ones on every finished frame.

Audio blocks arrive at any rate; they are resampled (audio/resample.py: a stream holds back
~9 ms and equals the one-shot resampling `music_features` does bit for bit) into a buffer at the
feature rate fps*512. Every feature column but the beat one-hot depends only on audio within a bounded window around its
frame (features.py): RIGHT_MARGIN frames of look-ahead (chroma_cens: the longest constant-Q
filter, about +-0.8 s, the multirate resampler's tail and the +-21-frame smoothing window)
and as much left context. So each update (in `push`, once per `update_seconds` of new audio) recomputes `local_features` over [first unfinished
frame - margin, newest sample] and keeps the frames whose whole window was inside: those are
*final* and equal the offline features of the same audio. The newest frames are *provisional*
(their right context is not heard yet); `features(provisional=True)` appends them.
The beat column comes from the causal TempoTracker (beat.py) at the feature rate, its onset
envelope at 4x the feature frame rate.
"""
from __future__ import annotations

import numpy as np

from dancemosaic_core.audio.beat import TempoTracker
from dancemosaic_core.audio.features import (
    COL_BEAT,
    HOP_LENGTH,
    feature_sr,
    local_features,
    margin_frames,
)
from dancemosaic_core.audio.io import check_sr, check_wave, to_mono
from dancemosaic_core.audio.resample import StreamResampler
from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.motion.skeleton import MOTION_FPS, MUSIC_FEATURE_DIM

class StreamingMusicFeatures:
    """Push audio blocks, read (T, 35) features of the frames heard so far.

    sr_in: rate of the pushed blocks; fps: feature frame rate; max_frames: how many final
    frames to keep (older ones are dropped; `n_final` keeps counting); update_seconds: new
    audio needed before features are recomputed (0: on every call); auto_update False: `push`
    only takes the audio (and the beat tracker its envelope), the due recomputation waits for a
    read with update=True (a live generator keeps it off its latency path)."""

    def __init__(self, sr_in: int, fps: float = MOTION_FPS, max_frames: int = 20 * 60 * 10,
                 update_seconds: float = 0.5, auto_update: bool = True):
        self.sr_in = check_sr(sr_in, "stream sample rate")
        self.fps = fps
        self.sr = feature_sr(fps)
        self.left, self.right = margin_frames(fps)
        self.max_frames = int(max_frames)
        # each recomputation costs a whole margin window (~4.6 s of audio at 20 fps, ~80 ms
        # CPU, chroma_cens' constant-Q transform most of it), so it runs on push at most once
        # per update_seconds of new audio (end() forces the last one)
        self.update_samples = int(round(update_seconds * self.sr))
        self.auto_update = bool(auto_update)
        self._computed_at = 0
        self._resampler = StreamResampler(sr_in=self.sr_in, sr_out=self.sr)
        self._buf = np.zeros(0, dtype=np.float32)   # feature-rate audio from sample self._buf_start
        self._buf_start = 0
        self._n_samples = 0                         # feature-rate samples heard in total
        self._final = np.zeros((0, MUSIC_FEATURE_DIM), dtype=np.float32)
        self._final_start = 0                       # global index of self._final[0]
        self._provisional = np.zeros((0, MUSIC_FEATURE_DIM), dtype=np.float32)
        self._dirty = False
        self._ended = False
        self.tempo = TempoTracker(self.sr, analysis_sr=self.sr)
        self.tracker = self.tempo.tracker

    @property
    def n_final(self) -> int:
        """Frames whose features are final (equal to the offline ones)."""
        return self._final_start + len(self._final)

    @property
    def seconds_heard(self) -> float:
        return self._n_samples / self.sr

    def push(self, block: np.ndarray) -> None:
        """Append an audio block ((n,), (n, channels)) at sr_in. The features are updated here,
        as the audio arrives (once per update_seconds of it), so that reading them when a chunk
        is due costs nothing."""
        if self._ended:
            raise DanceMosaicError("push() after end(): start a new StreamingMusicFeatures")
        self._append(self._resampler.push(check_wave(to_mono(block), "audio block")))

    def end(self) -> None:
        """The stream is over: flush the resampler; every frame becomes final."""
        if not self._ended:
            self._append(self._resampler.end())
        self._ended = True
        self._dirty = True

    def _append(self, y: np.ndarray) -> None:
        if len(y) == 0:
            return
        self._buf = np.concatenate([self._buf, y.astype(np.float32)])
        self._n_samples += len(y)
        self.tempo.push(y)
        self._dirty = True
        if self.auto_update:
            self._update()

    def update(self) -> None:
        """Compute the features of all audio heard now, whatever update_seconds says."""
        self._update(force=True)

    def _update(self, force: bool = False) -> None:
        due = force or self._ended or self._n_samples - self._computed_at >= self.update_samples
        if not self._dirty or not due:
            return
        self._dirty = False
        self._computed_at = self._n_samples
        total = 1 + self._n_samples // HOP_LENGTH   # frames that exist (centred framing)
        first = self.n_final
        if self._n_samples == 0:
            return
        start = max(0, first - self.left) * HOP_LENGTH
        seg = self._buf[start - self._buf_start:]
        feats = local_features(seg, self.sr)[: total - start // HOP_LENGTH]
        g0 = start // HOP_LENGTH                     # global index of feats[0]
        # a frame is final once RIGHT_MARGIN frames past it are in: frames past the end of
        # the heard audio are zero-padded exactly as in the offline whole-file computation
        # only when the stream has ended
        last_final = total if self._ended else max(first, total - self.right)
        new = np.zeros((last_final - first, MUSIC_FEATURE_DIM), dtype=np.float32)
        new[:, :COL_BEAT] = feats[first - g0:last_final - g0]
        new[:, COL_BEAT] = self.tracker.beat_onehot(first, last_final, self.fps)
        prov = np.zeros((total - last_final, MUSIC_FEATURE_DIM), dtype=np.float32)
        prov[:, :COL_BEAT] = feats[last_final - g0:]
        prov[:, COL_BEAT] = self.tracker.beat_onehot(last_final, total, self.fps)
        self._final = np.concatenate([self._final, new])
        self._provisional = prov
        drop = len(self._final) - self.max_frames
        if drop > 0:
            self._final = self._final[drop:]
            self._final_start += drop
        keep_from = max(0, self.n_final - self.left) * HOP_LENGTH
        if keep_from > self._buf_start:
            self._buf = self._buf[keep_from - self._buf_start:]
            self._buf_start = keep_from

    def features(self, last: int | None = None, provisional: bool = False, update: bool = True) -> np.ndarray:
        """(T, 35) float32: the final frames kept (or the `last` ones), with the provisional
        newest frames appended when asked. Row i is frame start_frame(...) + i. update False:
        as last computed, even when a recomputation is due."""
        if update:
            self._update()
        out = np.concatenate([self._final, self._provisional]) if provisional else self._final
        return out if last is None else out[-last:] if last > 0 else out[:0]

    def start_frame(self, last: int | None = None, provisional: bool = False, update: bool = True) -> int:
        """Global frame index of the first row `features(last, provisional, update)` returns."""
        if update:
            self._update()
        end = self.n_final + (len(self._provisional) if provisional else 0)
        n = len(self._final) + (len(self._provisional) if provisional else 0)
        return end - (n if last is None else min(last, n))
