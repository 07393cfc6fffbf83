"""The bootstrap corpus's music: the Debian packages' pieces, their genres and their beats.

openttd-openmsx ships 31 General MIDI pieces (GPL-2, by the OpenMSX authors): rendered to audio
by fluidsynth + FluidR3_GM (or timidity + freepats), with exact beats from the MIDI tempo map
(audio.midi). planetblupi-music-midi (GPL-3+) adds 10 long game pieces the same way, the first
MAX_BLUPI_SECONDS of each, when installed (optional until the install step lists it).
chromium-bsu-data ships two short game music recordings (music_game.wav 6.5 s,
music_menu.wav 3.9 s; Artistic licence), whose beats come from the detector (choreo.music).

Genres by character (instruments read from each file's program changes, tempo, title):
boogie-woogie / blues / ragtime piano (the *_redfarn pieces) -> Jazz, Hiphop, Locking; funk and
big-band brass -> Locking, Jazz, Hiphop; slow grooves -> Hiphop, Popping; synthetic, drum-less
or robotic timbres -> Popping, Locking; fast rock/synth-lead "run" themes -> Breaking, Urban,
Korean; pop-rock band -> Urban, Korean, Choreography; gentle harp/flute/strings pieces -> the
flowing Chinese classical genres (Chinese, HanTang, ShenYun, Kun, DunHuang); pipes, marimba
and folk-like tunes -> Tai, Uighur, Hmong. A piece not in the table (a newer package) gets
genres by tempo (TEMPO_GENRES). Planet Blupi: jazzy brass/organ (000) -> Jazz; synth-pop
(001, 005, 009) -> Korean, Urban, Popping, Breaking; koto pieces (002, 003) -> the Chinese
genres; guitar pop (004) and electro (006) -> Hiphop, Popping; funk brass (007) -> Locking;
marimba and woodblocks (008) -> Tai, Hmong, Uighur.
"""
from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dancemosaic_core.audio import midi
from dancemosaic_core.common.errors import DanceMosaicError

BLUPI_DIR = Path("/usr/share/planetblupi/music")
MAX_BLUPI_SECONDS = 180.0          # the pieces run 10-29 min as game loops; the start of each
RECORDINGS_DIR = Path("/usr/share/games/chromium-bsu/wav")
RECORDINGS = {"music_game": ("Breaking", "Urban", "Korean"), "music_menu": ("Popping", "Hiphop", "Choreography")}

MIDI_GENRES = {
    "5432gone_redfarn": ("Jazz", "Choreography"),
    "be_sharp_bw_redfarn": ("Jazz", "Locking", "Hiphop"),
    "boogi_marabi_redfarn": ("Jazz", "Hmong"),
    "busy_schedule": ("Choreography", "Korean", "Jazz"),
    "careless_perc_redfarn": ("Hiphop", "Popping"),
    "chemistry_lab": ("Popping", "Locking"),
    "chuggachugga": ("Locking", "Breaking"),
    "city_blues_redfarn": ("Jazz", "Hiphop"),
    "coconut_run2": ("Tai", "Hmong", "Korean"),
    "flying_scotsman": ("Breaking", "Urban"),
    "harp_harmony": ("Chinese", "HanTang", "Kun", "ShenYun"),
    "keep_on_rolling": ("Locking", "Hiphop", "Jazz"),
    "linns_basket": ("Hmong", "Uighur", "HanTang", "ShenYun"),
    "midnight_snow_run": ("Korean", "Choreography", "DunHuang"),
    "mighty_giant_run": ("Urban", "Breaking"),
    "modern_motion": ("Urban", "Choreography", "Korean"),
    "moo_redfarn": ("Jazz", "Popping"),
    "mosey_along_redfarn": ("Jazz", "Hmong", "Uighur"),
    "no_work_song_redfarn": ("Hiphop", "Jazz", "Locking"),
    "relax_song": ("ShenYun", "Chinese", "Tai", "Kun"),
    "run_for_your_life": ("Breaking", "Jazz"),
    "say_what_redfarn": ("Jazz", "Popping", "Korean"),
    "slow_neasy_redfarn": ("Hiphop", "Jazz"),
    "the_fast_route": ("Jazz", "Locking"),
    "the_hobo_redfarn": ("Jazz", "Urban", "Uighur"),
    "train_filled_with_cash": ("Hiphop", "Locking", "Popping"),
    "ttsong_iii_imuh3": ("Korean", "Urban"),
    "ttsong_iv_imuh3": ("Hiphop", "Popping"),
    "tttheme2": ("Jazz", "Choreography"),
    "ultimate_run": ("Breaking", "Korean"),
    "wood_whistles": ("Tai", "Hmong", "Uighur", "DunHuang", "Kun"),
}
BLUPI_GENRES = {
    "music000": ("Jazz", "Choreography", "Locking"), "music001": ("Korean", "Urban", "Choreography"),
    "music002": ("Chinese", "DunHuang", "Tai"), "music003": ("HanTang", "Kun", "ShenYun"),
    "music004": ("Hiphop", "Urban"), "music005": ("Popping", "Korean", "Breaking"),
    "music006": ("Popping", "Hiphop"), "music007": ("Locking", "Jazz", "Breaking"),
    "music008": ("Tai", "Hmong", "Uighur"), "music009": ("Breaking", "Urban", "Korean"),
}
TEMPO_GENRES = ((100.0, ("Hiphop", "Popping", "Chinese")), (140.0, ("Jazz", "Choreography", "Korean")),
                (np.inf, ("Breaking", "Urban", "Locking")))
RENDER_SR = 22050


@dataclass(frozen=True)
class Song:
    name: str
    path: Path                  # MIDI file or recording
    kind: str                   # "midi" or "recording"
    genres: tuple[str, ...]
    package: str                # the Debian package it comes from
    max_seconds: float | None = None   # use only the start of the piece


def _tempo_genres(path: Path) -> tuple[str, ...]:
    bpm = 60.0 / float(np.median(np.diff(midi.midi_beats(path))))
    return next(g for limit, g in TEMPO_GENRES if bpm < limit)


def find_songs() -> list[Song]:
    """Every piece of music the corpus uses, sorted by name; a clear error when a package that
    `make install` puts there is missing."""
    pieces = midi.openmsx_pieces()
    if not pieces:
        raise DanceMosaicError(f"no MIDI pieces in {midi.OPENMSX_DIR}: the Debian package openttd-openmsx "
                               "is missing; run `make install` (or apt-get install openttd-openmsx)")
    missing = [f"{n}.wav" for n in RECORDINGS if not (RECORDINGS_DIR / f"{n}.wav").is_file()]
    if missing:
        raise DanceMosaicError(f"{', '.join(missing)} missing from {RECORDINGS_DIR}: the Debian package "
                               "chromium-bsu-data is missing; run `make install` (or apt-get install chromium-bsu-data)")
    songs = [Song(p.stem, p, "midi", MIDI_GENRES.get(p.stem) or _tempo_genres(p), "openttd-openmsx")
             for p in pieces]
    songs += [Song(f"blupi_{p.stem}", p, "midi", BLUPI_GENRES.get(p.stem) or _tempo_genres(p),
                   "planetblupi-music-midi", MAX_BLUPI_SECONDS) for p in sorted(BLUPI_DIR.glob("*.mid"))]
    songs += [Song(n, RECORDINGS_DIR / f"{n}.wav", "recording", g, "chromium-bsu-data")
              for n, g in RECORDINGS.items()]
    return sorted(songs, key=lambda s: s.name)


def synthesiser() -> str:
    """The MIDI synthesiser render_midi will use, or an error naming the packages."""
    if shutil.which("fluidsynth") and any(Path(s).is_file() for s in midi.SOUNDFONTS):
        return "fluidsynth"
    if shutil.which("timidity"):
        return "timidity"
    raise DanceMosaicError("no MIDI synthesiser: the Debian packages fluidsynth + fluid-soundfont-gm "
                           "(or timidity + freepats) are missing; run `make install`")


def truncated_midi(path: Path, seconds: float, out: Path) -> Path:
    """A copy of a MIDI file without the channel events after `seconds` (plus all-notes-off
    there), so that only the part the corpus uses gets rendered."""
    import mido
    mid = mido.MidiFile(str(path))
    tpb = mid.ticks_per_beat
    grid = np.arange(0, midi.midi_length_ticks(path) + tpb, max(1, tpb // 8))
    times = midi.ticks_to_seconds(grid, midi.tempo_map(path), tpb)
    cut = int(grid[min(np.searchsorted(times, seconds), len(grid) - 1)])
    for track in mid.tracks:
        kept, tick, last = [], 0, 0
        for msg in track:
            tick += msg.time
            if tick > cut and not msg.is_meta:
                continue
            kept.append(msg.copy(time=tick - last))
            last = tick
        if kept and kept[-1].type == "end_of_track":
            kept.pop()
        channels = {m.channel for m in kept if not m.is_meta and hasattr(m, "channel")}
        for i, ch in enumerate(sorted(channels)):
            kept.append(mido.Message("control_change", channel=ch, control=123, value=0,
                                     time=max(0, cut - last) if i == 0 else 0))
        track[:] = kept + [mido.MetaMessage("end_of_track", time=0)]
    mid.save(str(out))
    return out


def rendered(song: Song, cache_dir: Path, synth: str) -> Path:
    """The song's audio file: recordings as they are, MIDI rendered once into the cache
    (keyed by the MIDI bytes, the part used, synthesiser and rate)."""
    if song.kind == "recording":
        return song.path
    params = f"{synth}:{RENDER_SR}:{song.max_seconds}".encode()
    key = hashlib.sha256(song.path.read_bytes() + params).hexdigest()[:16]
    target = cache_dir / f"{song.name}-{key}.wav"
    if not target.is_file():
        source = song.path
        if song.max_seconds:
            source = truncated_midi(song.path, song.max_seconds + 4.0, cache_dir / f".{target.stem}.mid")
        tmp = cache_dir / f".{target.name}.tmp.wav"
        midi.render_midi(source, tmp, sr=RENDER_SR, synth=synth)
        tmp.replace(target)
        if source != song.path:
            source.unlink()
    return target


def render_lag(wave: np.ndarray, sr: int, onsets: np.ndarray) -> float:
    """Seconds by which the audio's onsets follow the MIDI note times (synthesiser latency):
    the shift in -20..+80 ms maximising the fine onset envelope at the shifted note times."""
    from dancemosaic_core.choreo.music import fine_onset_envelope
    env, fps = fine_onset_envelope(wave, sr)
    lags = np.arange(int(-0.02 * fps), int(0.08 * fps) + 1)
    base = np.round(np.asarray(onsets) * fps).astype(int)
    scores = []
    for lag in lags:
        idx = base + lag
        idx = idx[(idx >= 0) & (idx < len(env))]
        scores.append(env[idx].mean() if len(idx) else 0.0)
    return float(lags[int(np.argmax(scores))] / fps)
