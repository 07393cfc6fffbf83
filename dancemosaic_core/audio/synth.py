"""Synthetic test music with known beats: click tracks at any tempo, with timing jitter."""
from __future__ import annotations

import numpy as np


def click_track(bpm: float, seconds: float, sr: int = 22050, jitter_ms: float = 0.0,
                accent_every: int = 4, seed: int = 0, noise: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(mono float32 wave, true beat times s): a decaying 1 kHz click (2 kHz on accented
    downbeats) on every beat, each beat displaced by N(0, jitter_ms), plus optional white noise."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sr))
    beats = np.arange(0.0, seconds, 60.0 / bpm)
    if jitter_ms > 0:
        beats = np.clip(beats + rng.normal(0.0, jitter_ms / 1000.0, len(beats)), 0.0, None)
    t = np.arange(int(0.05 * sr)) / sr
    env = np.exp(-t / 0.01)
    y = np.zeros(n, dtype=np.float64)
    for i, b in enumerate(beats):
        freq = 2000.0 if accent_every and i % accent_every == 0 else 1000.0
        click = 0.5 * env * np.sin(2 * np.pi * freq * t)
        s = int(round(b * sr))
        m = min(len(click), n - s)
        if m > 0:
            y[s:s + m] += click[:m]
    if noise > 0:
        y += noise * rng.standard_normal(n)
    return y.astype(np.float32), beats
