"""Procedural, beat-synchronous choreography on the 22-joint skeleton: the rule-based
baseline and the dance half of the bootstrap corpus.

    from dancemosaic_core.choreo import choreograph, choreograph_dance
    motion = choreograph(wave, sr, "Hiphop", seed=0)        # Motion, 20 fps
    dance = choreograph_dance(wave, sr, "Jazz", seed=1)     # + captions with frame spans

Genres: GENRES (FineDance's); `dance_to_beats` choreographs given beat times (MIDI tempo maps);
`streaming.Choreographer(genre=..., seed=...).next_frames(beat_state, n)` dances live music.
"""
from __future__ import annotations

import numpy as np

from dancemosaic_core.choreo.choreographer import Dance, dance_to_beats
from dancemosaic_core.choreo.genres import DEFAULT_GENRE, GENRES, get_style
from dancemosaic_core.choreo.moves import MOVES
from dancemosaic_core.choreo.music import hear
from dancemosaic_core.motion.io import Motion
from dancemosaic_core.motion.skeleton import MOTION_FPS

__all__ = [
    "DEFAULT_GENRE",
    "GENRES",
    "MOVES",
    "Dance",
    "choreograph",
    "choreograph_dance",
    "dance_to_beats",
    "get_style",
    "motion_of",
]


def choreograph_dance(wave: np.ndarray, sr: int, genre: str, seed: int, *,
                      beats: np.ndarray | None = None) -> Dance:
    """A dance for a mono (or stereo) wave: one frame per 1/20 s of audio, like the music
    features. `beats` (s) overrides the detected beats (music.hear). Silence has no beats: the dancer
    keeps a calm, small dance at the genre's default tempo."""
    from dancemosaic_core.audio.io import check_sr, check_wave, to_mono
    get_style(genre)                                   # unknown genre: fail before the audio work
    wave = to_mono(check_wave(wave, "choreograph input"))
    heard_beats, onset_env = hear(wave, check_sr(sr))
    return dance_to_beats(heard_beats if beats is None else beats, onset_env, len(onset_env), genre,
                          seed, MOTION_FPS)


def motion_of(dance: Dance) -> Motion:
    """The Motion of a Dance; captions, their spans and the beats go to `extra`."""
    spans = np.array([[a, b] for _, a, b in dance.captions], dtype=np.int32).reshape(-1, 2)
    return Motion(joints=dance.joints, fps=dance.fps, genre=dance.genre, text=dance.text,
                  extra={"captions": np.array([c for c, _, _ in dance.captions], dtype=np.str_),
                         "caption_spans": spans, "beats": dance.beats.astype(np.float64)})


def choreograph(wave: np.ndarray, sr: int, genre: str, seed: int) -> Motion:
    """choreograph_dance as a Motion (20 fps, 22 joints, y-up metres)."""
    return motion_of(choreograph_dance(wave, sr, genre, seed))
