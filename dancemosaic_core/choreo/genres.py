"""Genre styles: the FineDance genres (LODGE `Genres_fd`, the names data.loaders gives after
its aliases) as vocabularies of weighted moves, a preferred pulse rate, a movement quality
(flow: 0 sharp hits, 1 flowing) and a body carriage. The weights encode each genre's
well-known character (popping: hits, robot arms, chest pops; locking: points, locks, kicks;
breaking top-rock: low bounce, rocks, punches; classical Chinese styles: slow flowing arcs,
turns and lunges; folk styles: hip sways, hand waves, claps), not learned statistics.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.data.loaders import AIST_GENRES, FINEDANCE_GENRE_ALIASES


@dataclass(frozen=True)
class GenreStyle:
    name: str
    pulse_bpm: tuple[float, float]     # preferred step rate; beats are halved/doubled toward it
    default_bpm: float                 # when the music has no detectable beat
    flow: float                        # 0: every key a stop (hits) .. 1: flowing splines
    amplitude: float                   # scales every move
    knee_bend: float                   # resting pelvis drop (m)
    stance: float                      # distance between the toes (m)
    turnout: float                     # toes out (rad)
    arm_carriage: dict = field(default_factory=dict)   # resting arm channels (rad)
    legs: dict = field(default_factory=dict)           # leg move -> weight
    arms: dict = field(default_factory=dict)           # arm move -> weight
    manner: str = ""                                   # caption adverb


_RELAXED = dict(abd=0.2, flex=0.1, elbow=0.35)
_ROUNDED = dict(abd=0.45, flex=0.35, elbow=0.6, hadd=0.2)
_GUARD = dict(abd=0.3, flex=0.5, elbow=1.3)

STYLES: dict[str, GenreStyle] = {s.name: s for s in [
    GenreStyle("Breaking", (95, 125), 110, 0.35, 1.0, 0.07, 0.30, 0.25, _GUARD,
               legs=dict(bounce=3, rock=3, step_touch=2, kick=1, lunge=1, turn=1),
               arms=dict(punch=3, swing=2, robot=1, pump=1, chest_pop=1), manner="with attitude"),
    GenreStyle("Popping", (90, 120), 100, 0.05, 0.9, 0.04, 0.26, 0.15, _GUARD,
               legs=dict(bounce=3, step_touch=2, sway=1, tap=2, twist=1),
               arms=dict(robot=3, arm_wave=3, chest_pop=3, lock=1), manner="in sharp hits"),
    GenreStyle("Locking", (95, 125), 110, 0.15, 1.0, 0.05, 0.26, 0.2, _RELAXED,
               legs=dict(kick=3, step_touch=2, bounce=2, tap=2, march=1),
               arms=dict(lock=3, point=3, punch=2, clap=1), manner="with sharp locks"),
    GenreStyle("Hiphop", (80, 110), 95, 0.4, 1.0, 0.08, 0.32, 0.25, _RELAXED,
               legs=dict(bounce=3, step_touch=3, twist=2, rock=1, side_step=1),
               arms=dict(pump=3, swing=3, punch=1, chest_pop=1, hips=1), manner="with a loose groove"),
    GenreStyle("Urban", (85, 115), 100, 0.3, 1.0, 0.07, 0.30, 0.2, _RELAXED,
               legs=dict(step_touch=3, side_step=3, grapevine=2, bounce=2, lunge=1),
               arms=dict(open_close=2, punch=2, robot=1, swing=2, point=1), manner="with strong accents"),
    GenreStyle("Jazz", (100, 135), 120, 0.5, 1.1, 0.04, 0.26, 0.35, _RELAXED,
               legs=dict(kick=3, turn=2, grapevine=2, v_step=2, step_touch=1),
               arms=dict(jazz_hands=3, open_close=2, point=2, wave_overhead=1), manner="energetically"),
    GenreStyle("Korean", (100, 130), 115, 0.25, 0.9, 0.04, 0.24, 0.1, _RELAXED,
               legs=dict(step_touch=3, v_step=2, hip_shake=2, tap=2, bounce=1),
               arms=dict(point=2, clap=2, arm_wave=2, wave_overhead=1, hips=1), manner="in sync with the beat"),
    GenreStyle("Choreography", (90, 125), 105, 0.45, 1.0, 0.05, 0.28, 0.2, _RELAXED,
               legs=dict(step_touch=2, side_step=2, turn=1, lunge=1, v_step=1, sway=1, bounce=1),
               arms=dict(open_close=2, wave_overhead=2, flow=2, point=1, swing=1), manner="expressively"),
    GenreStyle("Chinese", (55, 85), 70, 0.9, 0.9, 0.04, 0.22, 0.3, _ROUNDED,
               legs=dict(sway=3, turn=2, lunge=2, step_touch=1),
               arms=dict(flow=4, open_close=2, wave_overhead=1), manner="gracefully"),
    GenreStyle("HanTang", (55, 80), 66, 0.95, 0.85, 0.03, 0.2, 0.25, _ROUNDED,
               legs=dict(sway=3, step_touch=1, turn=1),
               arms=dict(flow=4, wave_overhead=2, open_close=1), manner="softly"),
    GenreStyle("ShenYun", (60, 90), 72, 0.85, 1.0, 0.05, 0.26, 0.3, _ROUNDED,
               legs=dict(lunge=3, turn=3, sway=2, step_touch=1),
               arms=dict(flow=3, open_close=3), manner="with flowing sleeves"),
    GenreStyle("Kun", (50, 75), 60, 0.95, 0.7, 0.03, 0.2, 0.3, _ROUNDED,
               legs=dict(sway=4, step_touch=1, turn=1),
               arms=dict(flow=4, open_close=1), manner="slowly and delicately"),
    GenreStyle("DunHuang", (55, 85), 68, 0.9, 0.9, 0.06, 0.28, 0.35, _ROUNDED,
               legs=dict(sway=3, lunge=2, hip_shake=1),
               arms=dict(flow=3, wave_overhead=2, open_close=1), manner="with curving poses"),
    GenreStyle("Tai", (70, 100), 85, 0.75, 0.85, 0.05, 0.24, 0.2, _ROUNDED,
               legs=dict(sway=3, hip_shake=3, step_touch=1, tap=1),
               arms=dict(flow=3, arm_wave=2, open_close=1), manner="lightly"),
    GenreStyle("Uighur", (90, 125), 110, 0.55, 1.0, 0.04, 0.24, 0.25, _RELAXED,
               legs=dict(turn=3, step_touch=2, tap=2, march=1),
               arms=dict(wave_overhead=3, open_close=2, clap=1, flow=1), manner="joyfully"),
    GenreStyle("Hmong", (85, 120), 100, 0.45, 0.9, 0.05, 0.26, 0.2, _RELAXED,
               legs=dict(bounce=2, step_touch=3, march=2, tap=1),
               arms=dict(clap=3, swing=3, open_close=1), manner="with light steps"),
]}

# Other spellings of these genres: FineDance's own labels (data.loaders) and AIST++'s genres.
_AIST_TO_FINEDANCE = {"Break": "Breaking", "Pop": "Popping", "Lock": "Locking",
                      "Middle Hip-hop": "Hiphop", "LA style Hip-hop": "Hiphop", "House": "Urban",
                      "Waack": "Jazz", "Krump": "Breaking", "Street Jazz": "Jazz", "Ballet Jazz": "Jazz"}
assert set(_AIST_TO_FINEDANCE) == set(AIST_GENRES.values())
ALIASES = {**FINEDANCE_GENRE_ALIASES, **_AIST_TO_FINEDANCE}
GENRES: tuple[str, ...] = tuple(STYLES)
DEFAULT_GENRE = "Choreography"    # used when no genre is given (an empty string)


def get_style(genre: str) -> GenreStyle:
    """The style of a genre name (case-insensitive; FineDance and AIST++ spellings); an empty
    name gives DEFAULT_GENRE; anything else raises DanceMosaicError listing the valid names."""
    name = (genre or DEFAULT_GENRE).strip()
    name = ALIASES.get(name, name)
    by_lower = {g.lower(): g for g in STYLES}
    by_lower.update({a.lower(): g for a, g in ALIASES.items()})
    if name.lower() not in by_lower:
        raise DanceMosaicError(f"unknown genre {genre!r} for the choreographer; use one of "
                               f"{', '.join(GENRES)} (FineDance genres; AIST++ names such as "
                               f"{', '.join(sorted(_AIST_TO_FINEDANCE)[:3])} also work)")
    return STYLES[by_lower[name.lower()]]
