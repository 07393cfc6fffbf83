"""Where the audio node's samples come from: a capture device (sounddevice) or a file played in
real time. No rclpy here: the node converts.

Both sources hand out `Block`s numbered by their first sample on one stream clock; a jump in
`first_sample` means audio was lost (device overrun, vanished device, late file playback), so
downstream nodes keep the music clock: time of a sample = stream origin + index / rate.
"""
from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass

import numpy as np

from dancemosaic_core.audio.io import check_sr, load_audio
from dancemosaic_core.common.errors import DanceMosaicError


@dataclass
class Block:
    samples: np.ndarray        # (frames, channels) float32
    first_sample: int          # stream index of samples[0]
    input_overflow: bool = False   # the device dropped samples before this block
    late: bool = False         # published later than real time (file mode)


@dataclass
class Level:
    first_sample: int          # the interval's first sample (the previous interval's end)
    num_samples: int           # samples the interval spans, lost ones included
    loudest_rms: float         # RMS of its loudest block, channels mixed to mono
    dropouts: int              # its blocks that followed lost audio, overran or came late


class LevelMeter:
    """Sums blocks up into contiguous intervals of at least `interval` samples (audio/level): how
    loud and whether audio was lost, for listeners that need no samples (the retarget node's
    silence watch). The per-block rule is the one that node applied to every AudioChunk."""

    def __init__(self, interval: int):
        self.interval = int(interval)
        self.first = self.next_sample = None
        self.loudest, self.dropouts = 0.0, 0

    def push(self, block: Block) -> Level | None:
        """Adds a block; returns the interval it completes, else None."""
        lost = self.next_sample is not None and block.first_sample != self.next_sample
        self.dropouts += bool(lost or block.input_overflow or block.late)
        if len(block.samples):
            mono = np.asarray(block.samples, dtype=np.float32).mean(axis=1, dtype=np.float32)
            self.loudest = max(self.loudest, float(np.sqrt(np.mean(np.square(mono, dtype=np.float64)))))
        if self.first is None:
            self.first = block.first_sample
        self.next_sample = block.first_sample + len(block.samples)
        return self.flush() if self.next_sample - self.first >= self.interval else None

    def flush(self) -> Level | None:
        """The interval so far (None when empty); the next one starts where it ends."""
        if self.first is None or self.next_sample == self.first:
            return None
        level = Level(self.first, self.next_sample - self.first, self.loudest, self.dropouts)
        self.first, self.loudest, self.dropouts = self.next_sample, 0.0, 0
        return level


class FileSource:
    """An audio file cut into blocks, handed out at real-time pace: `due(elapsed)` returns the
    blocks whose last sample has been played by `elapsed` seconds after start."""

    def __init__(self, *, path: str, sample_rate: int, block_size: int, loop: bool = False):
        wave, sr = load_audio(path, sr=sample_rate or None)
        self.sample_rate, self.block_size, self.loop = sr, int(block_size), loop
        self.wave = wave[:, None]
        self.next_sample = 0

    @property
    def finished(self) -> bool:
        return not self.loop and self.next_sample >= len(self.wave)

    def due(self, elapsed: float, late_seconds: float = 0.25) -> list[Block]:
        """Blocks due by `elapsed` s; those handed out more than `late_seconds` after their last
        sample played are marked late."""
        played = int(elapsed * self.sample_rate)
        late_after = played - int(late_seconds * self.sample_rate)
        out = []
        while not self.finished and self.next_sample + self.block_size <= played:
            start = self.next_sample % len(self.wave)
            idx = (start + np.arange(self.block_size)) % len(self.wave) if self.loop else \
                np.arange(start, min(start + self.block_size, len(self.wave)))
            out.append(Block(self.wave[idx], self.next_sample, late=self.next_sample + self.block_size < late_after))
            self.next_sample += self.block_size
        return out


class CaptureSource:
    """A sounddevice input stream; its callback only queues copies (never blocks PortAudio).

    Samples lost before a block (input overflow) are reported by PortAudio without a count;
    `read(now)` compares the samples received with the time elapsed and, when the stream fell
    `resync_seconds` behind (overflow, stalled or vanished device), advances the sample counter
    so the jump shows the loss."""

    def __init__(self, *, device: str, sample_rate: int, channels: int, block_size: int,
                 max_queue_blocks: int = 64, resync_seconds: float = 0.25):
        self.device = int(device) if device.strip().isdigit() else (device or None)
        self.sample_rate = check_sr(sample_rate, "capture sample rate")
        self.channels, self.block_size = int(channels), int(block_size)
        self.resync_seconds = resync_seconds
        self._queue: queue.Queue = queue.Queue(maxsize=max_queue_blocks)
        self._stream = None
        self._lock = threading.Lock()
        self.queue_overruns = 0        # blocks dropped because the node fell behind
        self.error: str | None = None  # set by the stream when it stops by itself
        self.origin: float | None = None   # clock time of sample 0 (set by the first block)
        self._last_block_at = 0.0          # time.monotonic() of the last block (or of opening)
        self.next_sample = 0

    def open(self) -> None:
        import sounddevice as sd
        self.error = None
        try:
            self._stream = sd.InputStream(device=self.device, samplerate=self.sample_rate,
                                          channels=self.channels, blocksize=self.block_size,
                                          dtype="float32", callback=self._callback,
                                          finished_callback=self._finished)
            self._stream.start()
            self._last_block_at = time.monotonic()
        except Exception as exc:  # PortAudioError, ValueError for unknown devices
            self._stream = None
            raise DanceMosaicError(f"cannot open audio input {self.device or 'default'!r} at "
                                   f"{self.sample_rate} Hz x {self.channels}: {exc}; list inputs with "
                                   "`python -m sounddevice` and set the device parameter") from exc

    @property
    def is_open(self) -> bool:
        return self._stream is not None

    def close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.abort()
                stream.close()
            except Exception:  # the device may already be gone; nothing left to release
                pass

    def _callback(self, indata, frames, time_info, status) -> None:
        try:
            self._queue.put_nowait((indata.copy(), bool(status.input_overflow)))
        except queue.Full:
            with self._lock:
                self.queue_overruns += 1

    def _finished(self) -> None:
        if self._stream is not None:
            self.error = "the audio input stream stopped (device removed or server gone)"

    def read(self, clock, timeout: float = 0.0) -> tuple[list[Block], int]:
        """Queued blocks (waiting up to `timeout` s for the first), and how many samples were
        skipped to stay on the real-time clock. clock() -> now in seconds."""
        blocks, skipped = [], 0
        try:
            first = self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait()
        except queue.Empty:
            return blocks, skipped
        now = clock()
        self._last_block_at = time.monotonic()
        while True:
            if blocks:
                try:
                    data, overflow = self._queue.get_nowait()
                except queue.Empty:
                    break
            else:
                data, overflow = first
            if self.origin is None:
                # PortAudio hands a block over once it is captured: sample 0 came a block earlier
                self.origin = now - len(data) / self.sample_rate
            elif not blocks:
                # samples that should have arrived by now, minus what is queued and this block
                behind = (now - self.origin) * self.sample_rate - self.next_sample - len(data) \
                    - self._queue.qsize() * self.block_size
                if behind > self.resync_seconds * self.sample_rate:
                    skipped = int(behind)
                    self.next_sample += skipped
            blocks.append(Block(data, self.next_sample, input_overflow=overflow))
            self.next_sample += len(data)
        return blocks, skipped

    def stalled(self, seconds: float) -> bool:
        """Open but no block for `seconds`: the device vanished or hangs."""
        return self.is_open and time.monotonic() - self._last_block_at > seconds

