"""The beat-synchronous procedural choreographer.

Steps:
1. beats: the music's beat times (librosa's tracker via audio.music_features, or given, e.g.
   from a MIDI tempo map), cleaned into a regular grid; pulses = every beat, every other beat
   or two per beat, whichever is closest to the genre's step rate;
2. energy: the onset envelope around each pulse, normalised by the clip's 90th percentile,
   scales every move's amplitude and steers which moves are picked;
3. plan: two layers of moves (legs; arms + chest + head), each a run of genre-weighted moves of
   4 or 8 pulses with boundaries on pulses, keyed on the pulse grid (moves.py);
4. pose: the keyed channels sampled at the frames' pulse positions (timeline.py), then feet,
   pelvis, IK and forward kinematics (body.py): bone lengths are the rest skeleton's, planted
   feet do not move, the lowest foot joint touches y = 0;
5. captions: one per stretch where both layers keep their move, with its frame span.
Everything random comes from one numpy Generator seeded by `seed`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dancemosaic_core.choreo.body import pose_joints
from dancemosaic_core.choreo.genres import GenreStyle, get_style
from dancemosaic_core.choreo.moves import MOVES, Move
from dancemosaic_core.choreo.stage import MoveContext, Stage
from dancemosaic_core.choreo.timeline import Timeline, choose_pulses, regular_beats
from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.motion.skeleton import FOOT_JOINTS, MOTION_FPS

AMP_FLOOR, AMP_GAIN = 0.55, 0.5            # amplitude = floor + gain * normalised energy
ENERGY_WIDTH = 0.35                        # how strongly energy steers the move choice
REPEAT_PENALTY = 0.15                      # weight factor for repeating the previous move
QUIET = 0.05                               # energy below which (silence, a pause) the dancer idles
IDLE = {"legs": {"sway": 1.0}, "arms": {"swing": 1.0, "hips": 1.0, "flow": 1.0}}
CAPTION_TEMPLATES = ("a person {legs} while {arms}", "a person {legs}, {arms}",
                     "the dancer {legs} {manner} while {arms}", "someone {legs} {manner}, {arms}")


@dataclass
class Dance:
    joints: np.ndarray                          # (T, 22, 3) float32, y-up metres
    fps: float
    genre: str
    text: str                                   # caption of the whole dance
    captions: list[tuple[str, int, int]]        # (caption, start frame, end frame) per stretch
    moves: list[tuple[str, str, int, int]]      # (part, move, start frame, end frame)
    beats: np.ndarray                           # beat times used (s)
    pulses: np.ndarray                          # pulse times (s) the moves are keyed on
    tempo_bpm: float
    extra: dict = field(default_factory=dict)


def _pick(rng: np.random.Generator, weights: dict, energy: float, previous: str | None) -> Move:
    names = sorted(weights)
    w = np.array([weights[n] * np.exp(-0.5 * ((MOVES[n].energy - energy) / ENERGY_WIDTH) ** 2)
                  * (REPEAT_PENALTY if n == previous else 1.0) for n in names])
    return MOVES[names[rng.choice(len(names), p=w / w.sum())]]


def _layer(part: str, style: GenreStyle, timeline: Timeline, stage: Stage, u_start: int, u_end: float,
           energy, amplitude, rng) -> list[tuple[Move, int, int]]:
    plan, u, previous = [], u_start, None
    while u < u_end:
        level = float(np.mean(energy(np.arange(u, u + 8))))
        weights = IDLE[part] if level < QUIET else style.legs if part == "legs" else style.arms
        move = _pick(rng, weights, level, previous)
        n = int(rng.choice(move.lengths))
        side = float(rng.choice([-1.0, 1.0]))
        move.fn(MoveContext(timeline=timeline, stage=stage, u0=u, n=n, side=side, amplitude=amplitude,
                            rng=rng, settle=previous is not None))
        plan.append((move, u, n))
        previous, u = move.name, u + n
    return plan


def _captions(legs, arms, style: GenreStyle, frame_of, T: int, rng) -> list[tuple[str, int, int]]:
    cuts = sorted({u for _, u, _ in legs} | {u for _, u, _ in arms})
    out = []
    for a, b in zip(cuts, cuts[1:] + [max(u + n for _, u, n in legs + arms)]):
        fa, fb = max(0, frame_of(a)), min(T, frame_of(b))
        if fb <= fa:
            continue
        leg = next(m for m, u, n in legs if u <= a < u + n)
        arm = next(m for m, u, n in arms if u <= a < u + n)
        template = CAPTION_TEMPLATES[rng.integers(len(CAPTION_TEMPLATES))]
        out.append((template.format(legs=rng.choice(leg.captions), arms=rng.choice(arm.captions),
                                    manner=style.manner), fa, fb))
    return out


def dance_to_beats(beats: np.ndarray, onset_env: np.ndarray, n_frames: int, genre: str, seed: int,
                   fps: float = MOTION_FPS) -> Dance:
    """Steps 1-5 from beat times (s) and an onset envelope sampled at `fps` (n_frames)."""
    style = get_style(genre)
    if n_frames < 1:
        raise DanceMosaicError(f"cannot choreograph {n_frames} frames; give at least one frame of audio")
    rng = np.random.default_rng(seed)
    duration = n_frames / fps
    env = np.nan_to_num(np.asarray(onset_env, dtype=np.float64).reshape(-1))
    env_t = np.arange(len(env)) / fps

    def env_at(times):
        return np.interp(times, env_t, env) if len(env) else np.zeros(len(np.atleast_1d(times)))

    grid = regular_beats(beats, duration, style.default_bpm)
    pulses, _ = choose_pulses(grid, env_at, style.pulse_bpm)
    period = float(np.median(np.diff(pulses)))
    index = np.arange(len(pulses), dtype=np.float64)
    raw = np.array([env_at(np.linspace(t - period / 2, t + period / 2, 5)).mean() for t in pulses])
    inside = (pulses >= 0) & (pulses <= duration)
    scale = np.percentile(raw[inside] if inside.any() else raw, 90)
    level = np.clip(raw / scale, 0.0, 1.2) if scale > 1e-9 else np.zeros_like(raw)
    level = np.convolve(np.pad(level, 1, mode="edge"), np.ones(3) / 3, mode="valid")

    def energy(u):
        return np.interp(u, index, np.minimum(level, 1.0))

    def amplitude(u):
        return AMP_FLOOR + AMP_GAIN * np.interp(u, index, level)

    frame_u = np.interp(np.arange(n_frames) / fps, pulses, index)
    u_start, u_end = int(np.floor(frame_u[0])), float(frame_u[-1]) + 1.0
    timeline, stage = Timeline(), Stage(style=style)
    stage.key_feet(timeline, u_start)
    legs = _layer("legs", style, timeline, stage, u_start, u_end, energy, amplitude, rng)
    arms = _layer("arms", style, timeline, stage, u_start, u_end, energy, amplitude, rng)
    channels = timeline.evaluate(frame_u, style.flow)
    joints = pose_joints(channels, style)
    joints[..., 1] -= joints[:, list(FOOT_JOINTS), 1].min(axis=1, keepdims=True)

    def frame_of(u):
        return int(round(float(np.interp(u, index, pulses)) * fps))

    captions = _captions(legs, arms, style, frame_of, n_frames, rng)
    moves = [(part, m.name, max(0, frame_of(u)), min(n_frames, frame_of(u + n)))
             for part, plan in (("legs", legs), ("arms", arms)) for m, u, n in plan]
    text = ", then ".join(c for c, _, _ in captions[:3]) if captions else f"a person dances {style.manner}"
    return Dance(joints=joints.astype(np.float32), fps=float(fps), genre=style.name, text=text,
                 captions=captions, moves=[m for m in moves if m[3] > m[2]],
                 beats=grid[(grid >= 0) & (grid <= duration)], pulses=pulses, tempo_bpm=60.0 / period,
                 extra={"channels": channels})
