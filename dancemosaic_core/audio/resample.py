"""Band-limited resampling with a short fixed delay, equal offline and streaming bit for bit.

Why not soxr: its stream filters in internal blocks of ~73 ms, so the newest input reaches its
output 10 to 83 ms late (46 ms on average, measured at 22050 -> 10240 Hz with any block size);
live, that was a fifth of the generator's audio-to-motion latency (docs/ros.md, "Latency").

Here every output sample is one dot product of a Kaiser-windowed sinc with the input around its
instant (bandlimited interpolation, J. O. Smith, "Digital Audio Resampling Home Page", 2002):
linear phase, centred on the output's time, so a stream holds back only the filter's half-length
(9 ms at 22050 Hz in) and its output equals the one-shot result exactly. The response is soxr
HQ's specification (the librosa default the models were trained with): passband flat to 91.3 %
of the lower Nyquist frequency, stopband from 100 %, 120 dB down.
"""
from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from dancemosaic_core.common.errors import DanceMosaicError

PASSBAND = 0.913          # of the lower Nyquist frequency (soxr HQ)
STOPBAND = 1.0
ATTENUATION_DB = 120.0
MAX_PHASES = 4096         # filter table rows; rates with more phases take the nearest one (< 1/8192 sample)
BLOCK_OUTPUTS = 1024      # output samples per vectorised step (fastest: its rows stay in cache)
PARALLEL_OUTPUTS = 1_000_000   # one-shot waves with more outputs than this use several threads
MAX_THREADS = 8


def _check_rates(sr_in, sr_out) -> tuple[int, int]:
    """What the arithmetic needs (callers check the supported range: audio.io.check_sr)."""
    if not all(isinstance(r, (int, np.integer)) and r > 0 for r in (sr_in, sr_out)):
        raise DanceMosaicError(f"resampling needs positive integer sample rates (Hz), got {sr_in} -> {sr_out}")
    return int(sr_in), int(sr_out)


class Resampler:
    """The filter and the output instants of one rate pair. Output sample n sits at input
    position n * sr_in / sr_out; its value is the windowed-sinc dot product over input samples
    within `half` of it (zeros outside the signal)."""

    def __init__(self, *, sr_in: int, sr_out: int):
        self.sr_in, self.sr_out = _check_rates(sr_in, sr_out)
        g = math.gcd(self.sr_in, self.sr_out)
        self.up, self.down = self.sr_out // g, self.sr_in // g
        nyquist = 0.5 * min(1.0, self.sr_out / self.sr_in)           # cycles per input sample
        f_pass, f_stop = PASSBAND * nyquist, STOPBAND * nyquist
        cutoff, width = 0.5 * (f_pass + f_stop), f_stop - f_pass
        # Kaiser's design formulas (Oppenheim & Schafer, 3rd ed., eqs. 7.75-7.76)
        beta = 0.1102 * (ATTENUATION_DB - 8.7)
        length = (ATTENUATION_DB - 7.95) / (2.285 * 2.0 * math.pi * width)
        self.half = int(math.ceil(length / 2.0))                     # taps each side, input samples
        self.phases = min(self.up, MAX_PHASES)
        self.offsets = np.arange(-self.half + 1, self.half + 1)      # taps at i + offsets, i = floor(pos)
        tau = (np.arange(self.phases) / self.phases)[:, None] - self.offsets[None, :]
        window = np.i0(beta * np.sqrt(np.clip(1.0 - (tau / self.half) ** 2, 0.0, None))) / np.i0(beta)
        taps = 2.0 * cutoff * np.sinc(2.0 * cutoff * tau) * window
        self.taps = (taps / taps.sum(axis=1, keepdims=True)).astype(np.float32)   # unit DC gain per phase

    @property
    def delay_seconds(self) -> float:
        """How long a stream holds its newest input back: the filter's right half."""
        return self.half / self.sr_in

    def output_length(self, n_in: int) -> int:
        """Output samples of n_in input samples (ceil, as soxr and librosa count them)."""
        return -(-int(n_in) * self.up // self.down)

    def _positions(self, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Input sample at or before each output instant, and the table row of its fraction."""
        num = n.astype(np.int64) * self.down
        base, rem = num // self.up, num % self.up
        row = (rem * self.phases + self.up // 2) // self.up          # nearest tabulated fraction
        wrap = row == self.phases
        return base + wrap, np.where(wrap, 0, row)

    def first_tap(self, n: int) -> int:
        """Padded input index (the signal after `half` zeros) of output sample n's first tap:
        a stream keeps its input from there on."""
        return int(self._positions(np.array([n]))[0][0]) + 1

    def available_outputs(self, n_in: int) -> int:
        """How many output samples the first n_in input samples determine (their rightmost
        tap known), before the signal's end is known."""
        last_base = int(n_in) - self.half - 1
        if last_base < 0:
            return 0
        m = ((last_base + 1) * self.up - 1) // self.down        # largest m: floor(m down / up) <= last_base
        while m >= 0 and self._positions(np.array([m]))[0][0] > last_base:
            m -= 1                                              # a fraction rounded up to the next sample
        return m + 1

    def outputs(self, padded: np.ndarray, start: int, first: int, stop: int) -> np.ndarray:
        """Output samples [first, stop) from `padded`: the signal with `half` zeros before it
        (and, once it has ended, half + 1 after), from padded index `start` on. Each sample is
        computed the same way whatever the block, so a stream equals one pass."""
        out = np.empty(max(0, stop - first), dtype=np.float32)
        if not len(out):
            return out
        windows = sliding_window_view(padded, 2 * self.half)       # row j: the taps of padded[j:]
        for a in range(first, stop, BLOCK_OUTPUTS):
            b = min(stop, a + BLOCK_OUTPUTS)
            base, row = self._positions(np.arange(a, b))
            rows = base + 1 - start                                  # padded index of the first tap
            if rows[0] < 0 or rows[-1] >= len(windows):
                raise DanceMosaicError("resampler: the input held does not cover the outputs asked for")
            out[a - first:b - first] = np.einsum("ij,ij->i", windows[rows], self.taps[row])
        return out


def resample_wave(wave: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """One-shot resampling of a mono wave (float32)."""
    x = np.ascontiguousarray(wave, dtype=np.float32).reshape(-1)
    if int(sr_in) == int(sr_out):
        return x
    r = Resampler(sr_in=sr_in, sr_out=sr_out)
    padded = np.concatenate([np.zeros(r.half, np.float32), x, np.zeros(r.half + 1, np.float32)])
    n_out = r.output_length(len(x))
    # a long wave's outputs in parts, one per core (numpy drops the GIL in the gather and the
    # dot products); every sample is computed as in one pass, so the result is the same
    parts = min(os.cpu_count() or 1, MAX_THREADS, max(1, n_out // PARALLEL_OUTPUTS))
    if parts == 1:
        return r.outputs(padded, 0, 0, n_out)
    bounds = np.linspace(0, n_out, parts + 1).astype(int)
    with ThreadPoolExecutor(parts) as pool:
        pieces = pool.map(lambda ab: r.outputs(padded, 0, ab[0], ab[1]), zip(bounds[:-1], bounds[1:]))
        return np.concatenate(list(pieces))


class StreamResampler:
    """`push` input blocks, get every output sample whose filter support has arrived; `end`
    flushes the rest (the signal ends there). Output equals resample_wave of the whole input.
    Equal rates pass every block through unchanged (no delay), so a stream at any rate needs no
    branch in its caller."""

    def __init__(self, *, sr_in: int, sr_out: int):
        sr_in, sr_out = _check_rates(sr_in, sr_out)
        self.filter = None if sr_in == sr_out else Resampler(sr_in=sr_in, sr_out=sr_out)
        half = 0 if self.filter is None else self.filter.half
        self._buf = np.zeros(half, dtype=np.float32)               # padded input (silence before the start)
        self._buf_start = 0                                        # padded index of self._buf[0]
        self._n_in = 0
        self._n_out = 0
        self._ended = False

    @property
    def delay_seconds(self) -> float:
        return 0.0 if self.filter is None else self.filter.delay_seconds

    def push(self, block: np.ndarray) -> np.ndarray:
        if self._ended:
            raise DanceMosaicError("push() after end(): start a new StreamResampler")
        if self.filter is None:
            return block
        block = np.ascontiguousarray(block, dtype=np.float32).reshape(-1)
        self._buf = np.concatenate([self._buf, block])
        self._n_in += len(block)
        return self._emit(self.filter.available_outputs(self._n_in))   # every output whose last tap came

    def end(self) -> np.ndarray:
        """The signal is over: the remaining outputs (silence after the last input sample)."""
        if self._ended:
            return np.zeros(0, dtype=np.float32)
        self._ended = True
        if self.filter is None:
            return np.zeros(0, dtype=np.float32)
        self._buf = np.concatenate([self._buf, np.zeros(self.filter.half + 1, np.float32)])
        return self._emit(self.filter.output_length(self._n_in))

    def _emit(self, stop: int) -> np.ndarray:
        if stop <= self._n_out:
            return np.zeros(0, dtype=np.float32)
        out = self.filter.outputs(self._buf, self._buf_start, self._n_out, stop)
        self._n_out = stop
        keep_from = max(self._buf_start, self.filter.first_tap(stop))   # the next output's first tap
        self._buf = self._buf[keep_from - self._buf_start:]
        self._buf_start = keep_from
        return out
