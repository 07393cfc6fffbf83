"""Rhythm on outside music: does the dance follow beats it has never heard? MIDI grooves
written here (drums, bass, chords; 3/4 and 4/4; 80-150 BPM) with exact beat grids.

Per piece the model dances (1) to the piece, (2) to the same audio delayed by half a beat,
(3) to another piece's audio at a tempo more than 10 % away; every dance is scored against
the piece's true beats (eval.rhythm: BAS, BAS against half-beat-late beats, random-phase
chance, movement period / beat period and lock, mean joint speed); the procedural
choreographer dances the piece as a reference. A model that follows the music scores well
above chance on (1) and loses it on (2) and (3).

Generation goes through `generate_dance(pipe, wave, sr, ..., pipeline_kwargs)`: extra
pipeline options (`--pipeline-kwargs '{"itto_steps": 60}'`) reach every dance unchanged.
Truth: quarter notes of the MIDI tempo map shifted by the synthesiser's measured latency
(choreo.songs.render_lag, as the corpus does).
"""
from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.motion.skeleton import MOTION_FPS

RENDER_SR = 22050
TEMPO_RANGE = (80.0, 150.0)
CONDITIONS = ("model", "model_half_beat_music", "model_other_music", "choreographer")
# General MIDI: drum notes on channel 10 (index 9) and melodic programs per groove
KICK, SNARE, CLAP, HAT, OPEN_HAT, RIDE = 36, 38, 39, 42, 46, 51
BASS_PROGRAMS = (33, 34, 38, 32)          # finger, pick, synth, acoustic bass
CHORD_PROGRAMS = (4, 0, 16, 48, 81, 26)   # e-piano, piano, organ, strings, saw lead, jazz guitar
PROGRESSIONS = ((0, 7, 9, 5), (0, 5, 7, 5), (9, 5, 0, 7), (0, 3, 5, 7))   # semitones above the key


@dataclass
class Piece:
    name: str
    bpm: float
    beats_per_bar: int
    wav: Path
    beats: np.ndarray        # true beat times (s) in the audio


def piece_plan(n: int) -> list[tuple[float, int]]:
    """(BPM, beats per bar) of n pieces: tempi spread over TEMPO_RANGE, every third in 3/4."""
    if n < 2:
        raise DanceMosaicError(f"--pieces must be at least 2 (the other-music control needs another piece), got {n}")
    tempi = np.round(np.linspace(*TEMPO_RANGE, n))
    return [(float(t), 3 if i % 3 == 1 else 4) for i, t in enumerate(tempi)]


def groove_midi(path: Path, bpm: float, beats_per_bar: int, seconds: float, seed: int) -> Path:
    """A drums + bass + chords groove of at least `seconds` (+ one bar) at a constant tempo."""
    import mido
    rng = np.random.default_rng(seed)
    tpb = 480
    bars = int(np.ceil(seconds * bpm / 60.0 / beats_per_bar)) + 1
    events: list[tuple[int, mido.Message]] = []

    def note(tick, channel, pitch, velocity, length):
        events.append((tick, mido.Message("note_on", channel=channel, note=pitch, velocity=velocity)))
        events.append((tick + length, mido.Message("note_off", channel=channel, note=pitch, velocity=0)))

    key = 40 + int(rng.integers(0, 8))                   # bass root E2..B2
    progression = PROGRESSIONS[int(rng.integers(len(PROGRESSIONS)))]
    offbeat_chords = bool(rng.integers(2))
    syncopated_kick = bool(rng.integers(2))
    eighth = tpb // 2
    for bar in range(bars):
        start = bar * beats_per_bar * tpb
        root = key + progression[bar % len(progression)]
        for beat in range(beats_per_bar):
            t = start + beat * tpb
            backbeat = beat % 2 == 1 if beats_per_bar == 4 else beat > 0
            if beat == 0 or (beats_per_bar == 4 and beat == 2):
                note(t, 9, KICK, 112, eighth)
            if backbeat:
                note(t, 9, SNARE if beats_per_bar == 4 else CLAP, 96 if beats_per_bar == 4 else 70, eighth)
            note(t, 9, HAT, 80, eighth // 2)
            note(t + eighth, 9, OPEN_HAT if beat == beats_per_bar - 1 else HAT, 55, eighth // 2)
            if syncopated_kick and beats_per_bar == 4 and beat == 1:
                note(t + eighth, 9, KICK, 90, eighth)
            note(t, 1, root + (7 if beat % 2 else 0), 100, eighth)
            chord_t = t + eighth if offbeat_chords else t
            for interval in (12, 16, 19):
                note(chord_t, 2, root + interval + 12, 70, eighth)
    meta = [mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0),
            mido.MetaMessage("time_signature", numerator=beats_per_bar, denominator=4, time=0),
            mido.Message("program_change", channel=1, program=BASS_PROGRAMS[int(rng.integers(len(BASS_PROGRAMS)))]),
            mido.Message("program_change", channel=2, program=CHORD_PROGRAMS[int(rng.integers(len(CHORD_PROGRAMS)))])]
    events.sort(key=lambda e: (e[0], e[1].type == "note_on"))    # note_off before note_on at a tick
    track, last = mido.MidiTrack(meta), 0
    for tick, msg in events:
        track.append(msg.copy(time=tick - last))
        last = tick
    mid = mido.MidiFile(ticks_per_beat=tpb)
    mid.tracks.append(track)
    mid.save(str(path))
    return path


def render_pieces(n: int, seconds: float, work: Path, seed: int = 0) -> list[Piece]:
    """Write and render n grooves; beats = MIDI quarter notes + measured synthesiser latency."""
    from dancemosaic_core.audio.io import load_audio
    from dancemosaic_core.audio.midi import midi_beats, midi_onsets, render_midi
    from dancemosaic_core.choreo.songs import render_lag, synthesiser
    synth = synthesiser()
    pieces = []
    for i, (bpm, meter) in enumerate(piece_plan(n)):
        name = f"groove{i:02d}_{bpm:.0f}bpm_{meter}-4"
        mid = groove_midi(work / f"{name}.mid", bpm, meter, seconds, seed + i)
        wav = render_midi(mid, work / f"{name}.wav", sr=RENDER_SR, synth=synth)
        wave, sr = load_audio(wav)
        if len(wave) < seconds * sr:
            raise DanceMosaicError(f"{wav}: the render is {len(wave) / sr:.2f} s, shorter than --seconds {seconds}")
        beats = midi_beats(mid) + render_lag(wave, sr, midi_onsets(mid))
        pieces.append(Piece(name, bpm, meter, wav, beats))
    return pieces


def generate_dance(pipe, wave: np.ndarray, sr: int, seconds: float, *, genre: str | None, seed: int,
                   pipeline_kwargs: dict | None = None) -> np.ndarray:
    """(T, 22, 3) joints at MOTION_FPS danced to `wave`: the one place this benchmark generates."""
    from dancemosaic_core.inference.long import generate_long
    from dancemosaic_core.inference.pipeline import music_features_for
    frames = int(round(seconds * MOTION_FPS))
    music = music_features_for(wave[:int(round(seconds * sr))], sr, frames)
    out = generate_long(pipe, frames=frames, music=music, genre=genre, seed=seed, **(pipeline_kwargs or {}))
    return out.joints


def score(joints: np.ndarray, fps: float, beats: np.ndarray, protocol) -> dict:
    """eval.rhythm numbers of one dance against the piece's true beats, at the protocol's rate."""
    from dancemosaic_core.eval.protocols import subtract_first_root, to_protocol_rate
    from dancemosaic_core.eval.rhythm import rhythm_metrics
    p = subtract_first_root(to_protocol_rate(joints, fps, protocol))
    return rhythm_metrics(p, protocol.fps, beats, sigma_s=protocol.bas_sigma_s, smooth_s=protocol.bas_smooth_s)


def add_arguments(parser) -> None:
    from dancemosaic_core.cli.generate import DEFAULT_MODEL_DIR
    parser.add_argument("--model", default=str(DEFAULT_MODEL_DIR), help="model directory")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--pieces", type=int, default=8, help="number of grooves (tempi spread over 80-150 BPM)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each dance")
    parser.add_argument("--genre", default=None, help="one genre for every dance (default: the model's genres in turn)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--protocol", default="finedance", help="evaluation protocol of the beat scores")
    parser.add_argument("--pipeline-kwargs", type=json.loads, default={}, metavar="JSON",
                        help="keyword arguments for every generation, over the beat-aware ITTO the CLI runs "
                             "(inference.itto.BEAT_ITTO), e.g. '{\"rhythm_weight\": 0}' for the paper's method alone")
    parser.add_argument("--keep-dir", default=None,
                        help="keep the MIDI files, renders and dances (<piece>_<condition>.npz) here (default: none kept)")


def run(args) -> dict:
    from tqdm import tqdm

    from dancemosaic_core.audio.io import load_audio
    from dancemosaic_core.choreo import choreograph
    from dancemosaic_core.eval.controls import delay_audio, other_tempo_pairing
    from dancemosaic_core.eval.protocols import get_protocol
    from dancemosaic_core.eval.rhythm import median_beat_period
    from dancemosaic_core.motion.io import Motion, save_motion
    from dancemosaic_core.inference.pipeline import DancePipeline

    if not isinstance(args.pipeline_kwargs, dict):
        raise DanceMosaicError(f"--pipeline-kwargs must be a JSON object, got {args.pipeline_kwargs!r}")
    from dancemosaic_core.inference.itto import BEAT_ITTO, OFFLINE_DECODE_STEPS
    args.pipeline_kwargs = {"steps": OFFLINE_DECODE_STEPS, **BEAT_ITTO, **args.pipeline_kwargs}
    protocol = get_protocol(args.protocol)
    pipe = DancePipeline.from_pretrained(args.model, device=args.device)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.keep_dir or tmp)
        work.mkdir(parents=True, exist_ok=True)
        pieces = render_pieces(args.pieces, args.seconds, work, args.seed)
        audio = [load_audio(p.wav) for p in pieces]
    other = other_tempo_pairing([p.bpm for p in pieces], args.seed)
    per_piece = []
    for i, piece in enumerate(tqdm(pieces, desc="bench rhythm", dynamic_ncols=True)):
        wave, sr = audio[i]
        genre = args.genre or (pipe.model.genres[i % len(pipe.model.genres)] if pipe.model.genres else None)
        delay = 0.5 * median_beat_period(piece.beats)

        def dance(w, s, genre=genre, seed=args.seed + i):
            return generate_dance(pipe, w, s, args.seconds, genre=genre, seed=seed,
                                  pipeline_kwargs=args.pipeline_kwargs)
        motions = {"model": (dance(wave, sr), MOTION_FPS),
                   "model_half_beat_music": (dance(delay_audio(wave, sr, delay), sr), MOTION_FPS),
                   "model_other_music": (dance(*audio[other[i]]), MOTION_FPS)}
        chor = choreograph(wave[:int(round(args.seconds * sr))], sr, _choreographer_genre(genre), args.seed + i)
        motions["choreographer"] = (chor.joints, chor.fps)
        row = {"piece": piece.name, "bpm": piece.bpm, "beats_per_bar": piece.beats_per_bar, "genre": genre,
               "other_piece": pieces[other[i]].name, "half_beat_delay_s": delay}
        row.update({name: score(j, fps, piece.beats, protocol) for name, (j, fps) in motions.items()})
        if args.keep_dir:
            for name, (j, fps) in motions.items():
                save_motion(Path(args.keep_dir) / f"{piece.name}_{name}.npz",
                            Motion(joints=np.asarray(j, np.float32), fps=fps, music=str(piece.wav), genre=genre or ""))
        per_piece.append(row)
    overall = summarise(per_piece)
    print(format_table(per_piece, overall))
    return {"model": args.model, "device": str(pipe.model.device), "protocol": protocol.name, "seconds": args.seconds,
            "pieces": len(pieces), "pipeline_kwargs": args.pipeline_kwargs, "overall": overall,
            "per_piece": per_piece}


def _choreographer_genre(genre: str | None) -> str:
    """The model's genre where the choreographer knows it, else its default genre ("")."""
    from dancemosaic_core.choreo.genres import get_style
    try:
        get_style(genre or "")
    except DanceMosaicError:
        return ""
    return genre or ""


def summarise(per_piece: list[dict]) -> dict:
    """Per condition: eval.rhythm's set summary plus mean BAS; the model's paired BAS
    differences against each control (mean and standard error over pieces)."""
    from dancemosaic_core.eval.rhythm import summarise_rhythm
    out = {}
    for cond in CONDITIONS:
        rows = [r[cond] for r in per_piece]
        bas = [r["bas"] for r in rows if r["bas"] is not None]
        out[cond] = {"bas": float(np.mean(bas)) if bas else None, **summarise_rhythm(rows)}
    model = np.array([r["model"]["bas"] for r in per_piece], dtype=np.float64)
    for label, other in (("minus_chance", [r["model"]["bas_chance"] for r in per_piece]),
                         ("minus_half_beat_music", [r["model_half_beat_music"]["bas"] for r in per_piece]),
                         ("minus_other_music", [r["model_other_music"]["bas"] for r in per_piece])):
        d = model - np.array(other, dtype=np.float64)
        out[f"model_bas_{label}"] = {"mean": float(d.mean()),
                                     "stderr": float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else None}
    return out


def _cell(value, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def format_table(per_piece: list[dict], overall: dict) -> str:
    head = (f"{'piece':24s} {'condition':22s} {'BAS':>6s} {'half':>6s} {'chance':>6s} "
            f"{'ratio':>6s} {'lock':>5s} {'m/s':>6s}")
    lines = [head, "-" * len(head)]
    for r in per_piece:
        for cond in CONDITIONS:
            m = r[cond]
            lock = "-" if m["locked"] is None else ("yes" if m["locked"] else "no")
            lines.append(f"{r['piece']:24s} {cond:22s} {_cell(m['bas'], '6.3f')} {_cell(m['bas_half_beat'], '6.3f')} "
                         f"{_cell(m['bas_chance'], '6.3f')} {_cell(m['period_ratio'], '6.2f')} {lock:>5s} "
                         f"{_cell(m['joint_speed'], '6.3f')}")
    lines.append("-" * len(head))
    for cond in CONDITIONS:
        m = overall[cond]
        lock = "-" if m["locked_share"] is None else f"{100 * m['locked_share']:.0f}%"
        lines.append(f"{'overall':24s} {cond:22s} {_cell(m['bas'], '6.3f')} {_cell(m['bas_half_beat'], '6.3f')} "
                     f"{_cell(m['bas_chance'], '6.3f')} {_cell(m['period_ratio_median'], '6.2f')} {lock:>5s} "
                     f"{_cell(m['joint_speed'], '6.3f')}")
    for key in ("model_bas_minus_chance", "model_bas_minus_half_beat_music", "model_bas_minus_other_music"):
        d = overall[key]
        lines.append(f"{key}: {d['mean']:+.3f} +- {_cell(d['stderr'], '.3f')}")
    return "\n".join(lines)
