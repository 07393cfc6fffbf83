"""`dancemosaic data bootstrap --out DIR`: the corpus the default model trains on here.

Real music from Debian packages (songs.py) cut into clips of about --seconds-per-clip on beats,
each danced --dances-per-clip times by the procedural choreographer in the song's genres
(rotating through them) with seeded, different dances. MIDI pieces are danced to their tempo
map's beats, shifted by the synthesiser's measured latency; recordings to detected beats.
Splits are by song (no test music is heard in training). Written in the joints-dataset layout
that data.loaders.JointsDataset reads (HumanML3D's plus music and genres):

    DIR/new_joints/<id>.npy   (T, 22, 3) float32, 20 fps, y-up metres, lowest foot on y = 0
    DIR/texts/<id>.txt        `caption#tokens#start#end` (s); 0.0#0.0 = the whole dance, other
                              lines one per stretch of unchanged moves
    DIR/music/<id>.wav        the clip's audio (22050 Hz mono 16-bit; a clip's dances share it
                              by hard link), t = 0 at joint frame 0
    DIR/genres.txt            `<id> <genre>` per line
    DIR/{train,val,test}.txt  ids
    DIR/corpus.json           parameters, songs (package, split, genres), counts
Ids are `<song>_c<clip>_d<dance>`. Same options, same files (renders are cached by content).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
import zlib
from pathlib import Path

import numpy as np

from dancemosaic_core.choreo.choreographer import dance_to_beats
from dancemosaic_core.choreo.songs import (
    RENDER_SR,
    Song,
    find_songs,
    render_lag,
    rendered,
    synthesiser,
)
from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.motion.skeleton import MOTION_FPS

FORMAT = "dancemosaic-bootstrap"
SPLIT_SHARE = {"val": 0.1, "test": 0.1}
MIN_CLIP_SECONDS = 2.5
LAYOUT = ("new_joints", "texts", "music", "genres.txt", "train.txt", "val.txt", "test.txt", "corpus.json")
# part-of-speech tags (spaCy's, as HumanML3D's token field carries them) of the caption words
_POS = {**dict.fromkeys("a the each one both".split(), "DET"),
        **dict.fromkeys("to in of on with from at into through above out up down over back around "
                        "like".split(), "ADP"),
        **dict.fromkeys("person dancer".split(), "NOUN"), "someone": "PRON", "other": "ADJ",
        **dict.fromkeys("and while then".split(), "CCONJ")}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Build the bootstrap corpus: real music from Debian packages (openttd-openmsx "
                          "MIDI pieces rendered with fluidsynth, chromium-bsu-data recordings) danced by "
                          "the procedural choreographer; a joints dataset for `data prepare --joints`.")
    parser.add_argument("--out", type=Path, required=True, help="corpus directory to write")
    parser.add_argument("--seed", type=int, default=0, help="seed of the dances and the song splits")
    parser.add_argument("--seconds-per-clip", type=float, default=15.0, help="clip length (cut on beats)")
    parser.add_argument("--dances-per-clip", type=int, default=3, help="dances (genres, seeds) per clip")
    parser.add_argument("--max-songs", type=int, default=None, help="use only the first N songs (tests)")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="worker processes")
    parser.add_argument("--render-cache", type=Path, default=Path("~/.cache/dancemosaic/midi_renders"),
                        help="where MIDI renders are kept between runs")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def tokens(caption: str) -> str:
    """HumanML3D's token field: word/POS per word."""
    out = []
    for word in caption.replace(",", " ").split():
        pos = _POS.get(word) or ("VERB" if word.endswith(("ing", "s")) and word not in ("hips", "arms", "legs",
                                 "knees", "hands", "feet", "fists", "poses", "arcs", "circles",
                                 "touches", "sleeves", "accents", "hits", "locks")
                                 else "ADV" if word.endswith("ly") else "NOUN")
        out.append(f"{word}/{pos}")
    return " ".join(out)


def assign_splits(songs: list[Song], seed: int) -> dict[str, str]:
    """song name -> split; a seeded shuffle, ~10 % of the songs each for val and test (at least
    one each from 3 songs on; 2 songs: train + test; 1 song: train)."""
    order = [songs[i].name for i in np.random.default_rng(seed).permutation(len(songs))]
    n_test = max(1, round(SPLIT_SHARE["test"] * len(order))) if len(order) >= 2 else 0
    n_val = max(1, round(SPLIT_SHARE["val"] * len(order))) if len(order) >= 3 else 0
    return {name: "test" if i < n_test else "val" if i < n_test + n_val else "train"
            for i, name in enumerate(order)}


def _song_beats(song: Song, wave: np.ndarray, sr: int) -> tuple[np.ndarray, float, float]:
    """(beat times s, start s, end s) of the music actually playing."""
    from dancemosaic_core.audio import midi
    from dancemosaic_core.choreo.music import hear
    duration = len(wave) / sr
    if song.kind == "recording":
        return hear(wave, sr)[0], 0.0, duration
    onsets = midi.midi_onsets(song.path)
    beats = midi.midi_beats(song.path) + render_lag(wave, sr, onsets)
    start = max(0.0, float(beats[np.argmin(np.abs(beats - onsets.min()))]))
    period = float(np.median(np.diff(beats)))
    end = min(duration, float(onsets.max()) + period, start + (song.max_seconds or np.inf))
    return beats, start, end


def clip_bounds(beats: np.ndarray, start: float, end: float, seconds: float) -> list[tuple[float, float]]:
    """Clips of about `seconds` cut on beats; a short remainder joins the last clip when that
    stays under 1.5 x `seconds`, else it is dropped; a song shorter than a clip is one clip."""
    cuts = beats[(beats > start) & (beats < end)]
    bounds, a = [], start
    while end - a >= seconds:
        b = float(cuts[np.argmin(np.abs(cuts - (a + seconds)))]) if len(cuts) else a + seconds
        b = b if b > a + 0.5 * seconds else a + seconds
        bounds.append((a, b))
        a = b
    rest = end - a
    if bounds and rest > 0 and bounds[-1][1] - bounds[-1][0] + rest <= 1.5 * seconds:
        bounds[-1] = (bounds[-1][0], end)
    elif not bounds and rest >= MIN_CLIP_SECONDS:
        bounds.append((a, end))
    return bounds


def _write_text(path: Path, dance) -> None:
    lines = [f"{dance.text}#{tokens(dance.text)}#0.0#0.0"]
    for caption, a, b in dance.captions:
        lines.append(f"{caption}#{tokens(caption)}#{a / dance.fps:.2f}#{b / dance.fps:.2f}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def dance_seed(seed: int, dance_id: str) -> int:
    return int(np.random.SeedSequence([seed, zlib.crc32(dance_id.encode())]).generate_state(1)[0])


def build_song(job: dict) -> list[dict]:
    """Render, cut, choreograph and write one song; returns one record per dance."""
    import soundfile as sf

    from dancemosaic_core.audio import is_silent, load_audio
    from dancemosaic_core.choreo.music import onset_envelope
    song, out = job["song"], Path(job["out"])
    audio = rendered(song, Path(job["render_cache"]), job["synth"])
    wave, sr = load_audio(audio, sr=RENDER_SR)
    beats, start, end = _song_beats(song, wave, sr)
    records = []
    for c, (a, b) in enumerate(clip_bounds(beats, start, end, job["seconds_per_clip"])):
        clip = wave[int(round(a * sr)):int(round(b * sr))]
        if is_silent(clip):
            continue
        env = onset_envelope(clip, sr)
        clip_beats = beats[(beats > a - 2.0) & (beats < b + 2.0)] - a
        first_wav = None
        for d in range(job["dances_per_clip"]):
            dance_id = f"{song.name}_c{c:03d}_d{d}"
            genre = song.genres[(c + d) % len(song.genres)]
            dance = dance_to_beats(clip_beats, env, len(env), genre, dance_seed(job["seed"], dance_id))
            np.save(out / "new_joints" / f"{dance_id}.npy", dance.joints.astype(np.float32))
            _write_text(out / "texts" / f"{dance_id}.txt", dance)
            wav = out / "music" / f"{dance_id}.wav"
            if first_wav is None:
                sf.write(wav, clip, sr, subtype="PCM_16")
                first_wav = wav
            else:
                wav.unlink(missing_ok=True)
                try:
                    os.link(first_wav, wav)
                except OSError:
                    shutil.copyfile(first_wav, wav)
            records.append(dict(id=dance_id, song=song.name, clip=c, genre=dance.genre,
                                frames=len(dance.joints), split=job["split"], tempo_bpm=round(dance.tempo_bpm, 2)))
    return records


def _prepare_out(out: Path) -> None:
    if out.exists() and any(out.iterdir()):
        if not (out / "corpus.json").is_file():
            raise DanceMosaicError(f"{out} exists and is not a bootstrap corpus (no corpus.json); "
                                   "give an empty or new directory with --out")
        for name in LAYOUT:
            target = out / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    for sub in ("new_joints", "texts", "music"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    (out / "corpus.json").write_text(json.dumps({"format": FORMAT, "complete": False}))


def build_corpus(out, *, seed: int = 0, seconds_per_clip: float = 15.0, dances_per_clip: int = 3,
                 max_songs: int | None = None, jobs: int = 1, render_cache="~/.cache/dancemosaic/midi_renders",
                 progress: bool = False) -> dict:
    """Write the corpus (module doc); returns the corpus.json content."""
    from tqdm import tqdm
    if seconds_per_clip < MIN_CLIP_SECONDS:
        raise DanceMosaicError(f"--seconds-per-clip {seconds_per_clip} is too short; use at least {MIN_CLIP_SECONDS}")
    if dances_per_clip < 1 or (max_songs is not None and max_songs < 1) or jobs < 1:
        raise DanceMosaicError("--dances-per-clip, --max-songs and --jobs must be at least 1")
    songs = find_songs()
    songs = songs[:max_songs] if max_songs else songs
    synth = synthesiser() if any(s.kind == "midi" for s in songs) else ""
    out, cache = Path(out), Path(render_cache).expanduser()
    cache.mkdir(parents=True, exist_ok=True)
    _prepare_out(out)
    splits = assign_splits(songs, seed)
    work = [dict(song=s, out=str(out), render_cache=str(cache), synth=synth, seed=seed, split=splits[s.name],
                 seconds_per_clip=seconds_per_clip, dances_per_clip=dances_per_clip) for s in songs]
    bar = tqdm(total=len(work), desc="bootstrap", unit="song", disable=not progress, file=sys.stderr)
    records = []
    if jobs == 1:
        for job in work:
            records += build_song(job)
            bar.update()
    else:
        import multiprocessing
        with multiprocessing.get_context("fork").Pool(jobs) as pool:
            for song_records in pool.imap_unordered(build_song, work):
                records += song_records
                bar.update()
    bar.close()
    records.sort(key=lambda r: r["id"])
    for split in ("train", "val", "test"):
        (out / f"{split}.txt").write_text("".join(f"{r['id']}\n" for r in records if r["split"] == split))
    (out / "genres.txt").write_text("".join(f"{r['id']} {r['genre']}\n" for r in records))
    meta = {
        "format": FORMAT, "version": 1, "complete": True,
        "parameters": dict(seed=seed, seconds_per_clip=seconds_per_clip, dances_per_clip=dances_per_clip,
                           max_songs=max_songs, synthesiser=synth, fps=MOTION_FPS, audio_sr=RENDER_SR),
        "songs": [dict(name=s.name, package=s.package, kind=s.kind, split=splits[s.name], genres=list(s.genres),
                       clips=len({r["clip"] for r in records if r["song"] == s.name})) for s in songs],
        "dances": records,
    }
    (out / "corpus.json").write_text(json.dumps(meta, indent=1))
    return meta


def summary_table(meta: dict) -> str:
    """Clips, dances and minutes of motion per split and per genre."""
    rows = [("split", "songs", "clips", "dances", "minutes")]
    dances = meta["dances"]
    for split in ("train", "val", "test", "all"):
        sel = [r for r in dances if split in ("all", r["split"])]
        songs = [s for s in meta["songs"] if split in ("all", s["split"])]
        rows.append((split, str(len(songs)), str(sum(s["clips"] for s in songs)), str(len(sel)),
                     f"{sum(r['frames'] for r in sel) / MOTION_FPS / 60:.1f}"))
    genre_rows = [("genre", "dances", "minutes")]
    for genre in sorted({r["genre"] for r in dances}):
        sel = [r for r in dances if r["genre"] == genre]
        genre_rows.append((genre, str(len(sel)), f"{sum(r['frames'] for r in sel) / MOTION_FPS / 60:.1f}"))

    def fmt(table):
        widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
        return "\n".join("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
                         for r in table)
    return fmt(rows) + "\n\n" + fmt(genre_rows)


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    meta = build_corpus(args.out, seed=args.seed, seconds_per_clip=args.seconds_per_clip,
                        dances_per_clip=args.dances_per_clip, max_songs=args.max_songs, jobs=args.jobs,
                        render_cache=args.render_cache, progress=not args.no_progress)
    print(summary_table(meta))
    print(f"\ncorpus written to {args.out} in {time.perf_counter() - started:.1f} s")
    sys.stdout.flush()
    return 0
