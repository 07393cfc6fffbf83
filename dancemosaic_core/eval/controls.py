"""Music controls for generation: the audio a model is conditioned on when testing whether
it follows the music. Every control keeps each dance's own song (and its beats) as the truth
the dance is scored on, so a model that follows the music must lose BAS under it.

- shuffled: another item's music (seeded derangement, eval.runner.derangement);
- half-beat-delay: the item's own music shifted later by half its median beat period (same
  length, silence in front): a dance on the heard beats falls half a beat off the true ones;
- other-tempo: another song's music whose tempo differs by more than TEMPO_GAP (a seeded
  assignment with no item paired with its own song; closest possible when no such song exists).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.eval.beats import music_beats
from dancemosaic_core.eval.rhythm import median_beat_period

MUSIC_CONTROLS = ("none", "shuffled", "half-beat-delay", "other-tempo")
TEMPO_GAP = 0.10
BEAT_FPS = 60.0          # beat tracker resolution for tempo estimates (1/60 s frames)


def delay_audio(wave: np.ndarray, sr: int, seconds: float) -> np.ndarray:
    """The same audio `seconds` later: silence in front, cut to the original length."""
    if seconds < 0:
        raise DanceMosaicError(f"audio delay must be >= 0 s, got {seconds}")
    shift = min(len(wave), int(round(seconds * sr)))
    return np.concatenate([np.zeros(shift, dtype=wave.dtype), wave[:len(wave) - shift]])


def beat_period(wave: np.ndarray, sr: int) -> float:
    """Median beat period (s) of a recording by the evaluation's beat tracker."""
    period = median_beat_period(music_beats(wave, sr, BEAT_FPS))
    if period is None:
        raise DanceMosaicError("the beat tracker found fewer than two beats in the music; a beat "
                               "control needs music with a beat (at least a few seconds)")
    return period


def half_beat_delayed(wave: np.ndarray, sr: int) -> tuple[np.ndarray, float]:
    """(the audio delayed by half its median beat period, that delay in s)."""
    delay = 0.5 * beat_period(wave, sr)
    return delay_audio(wave, sr, delay), delay


def song_of(item_id: str) -> str:
    """The song of a bootstrap-corpus item id `<song>_c<clip>_d<dance>` (else the id itself)."""
    m = re.fullmatch(r"(.+)_c\d+_d\d+", item_id)
    return m.group(1) if m else item_id


def other_tempo_pairing(tempi, seed: int, groups=None, min_gap: float = TEMPO_GAP) -> np.ndarray:
    """source[i] != i for every item: a seeded permutation preferring, for each item, a song
    of another group (groups[i], default every item its own) whose tempo differs by more than
    min_gap (relative); where that is impossible, the largest tempo gap available. Never the
    same group when any other exists."""
    from scipy.optimize import linear_sum_assignment
    t = np.asarray(tempi, dtype=np.float64)
    n = len(t)
    if n < 2:
        raise DanceMosaicError(f"an other-tempo control needs at least 2 items with music, got {n}")
    if not np.all(t > 0):
        raise DanceMosaicError(f"tempi must be positive BPM, got {t.tolist()}")
    g = np.asarray(list(groups) if groups is not None else range(n), dtype=object)
    gap = np.abs(t[None, :] / t[:, None] - 1.0)
    rng = np.random.default_rng(seed)
    # cost tiers: a fitting song (random tie-break) < another song too close in tempo (closer
    # costs more) < the item's own song < the item itself
    cost = np.where(gap > min_gap, rng.uniform(0.0, 1.0, (n, n)), 10.0 + 1.0 / (gap + 1e-3))
    cost = np.where(g[None, :] == g[:, None], 1e6, cost)
    cost[np.arange(n), np.arange(n)] = 1e9
    rows, cols = linear_sum_assignment(cost)
    source = np.empty(n, dtype=int)
    source[rows] = cols
    return source


@dataclass
class ControlledMusic:
    wave: np.ndarray
    sr: int
    source: int          # index of the item whose music is heard
    delay_s: float       # shift applied to that music


class MusicControl:
    """Which audio each of a set's items is conditioned on under a control (MUSIC_CONTROLS)."""

    def __init__(self, kind: str, music_paths, *, seed: int = 0, groups=None):
        from dancemosaic_core.eval.runner import derangement
        if kind not in MUSIC_CONTROLS:
            raise DanceMosaicError(f"unknown music control {kind!r}; choose one of {', '.join(MUSIC_CONTROLS)}")
        self.kind = kind
        self.paths = [Path(p) for p in music_paths]
        n = len(self.paths)
        if kind in ("shuffled", "other-tempo") and n < 2:
            raise DanceMosaicError(f"the {kind} music control needs at least 2 items with music, got {n}")
        self._periods: dict[Path, float] = {}
        if kind == "shuffled":
            self.source = derangement(n, seed)
        elif kind == "other-tempo":
            tempi = [60.0 / self.period(p) for p in self.paths]
            self.source = other_tempo_pairing(tempi, seed, groups)
        else:
            self.source = np.arange(n)

    def period(self, path: Path) -> float:
        if path not in self._periods:
            from dancemosaic_core.audio.io import load_audio
            self._periods[path] = beat_period(*load_audio(path))
        return self._periods[path]

    def music(self, i: int) -> ControlledMusic:
        from dancemosaic_core.audio.io import load_audio
        src = int(self.source[i])
        wave, sr = load_audio(self.paths[src])
        delay = 0.0
        if self.kind == "half-beat-delay":
            wave, delay = half_beat_delayed(wave, sr)
        return ControlledMusic(wave, sr, src, delay)
