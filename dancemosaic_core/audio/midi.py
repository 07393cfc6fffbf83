"""Real music with exact beat ground truth: MIDI files rendered to audio, beats from the tempo map.

`render_midi` synthesises a MIDI file with fluidsynth + a General MIDI soundfont (Debian
fluid-soundfont-gm) or, failing that, timidity (+ freepats). `midi_beats` reads the tempo map
(every set_tempo event in any track, ticks_per_beat) with mido and returns the time of every
quarter note, which is what MIDI tempo means; for compound meters (6/8) the felt beat is a
dotted quarter, see `midi_time_signatures`.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np

from dancemosaic_core.common.errors import DanceMosaicError

SOUNDFONTS = ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/sounds/sf2/default-GM.sf2")
OPENMSX_DIR = Path("/usr/share/games/openttd/baseset/openmsx")
DEFAULT_TEMPO = 500000  # microseconds per quarter note until the first set_tempo (MIDI spec)


def _read(path):
    import mido
    path = Path(path)
    if not path.is_file():
        raise DanceMosaicError(f"{path}: MIDI file not found; check the path")
    try:
        return mido.MidiFile(str(path))
    except Exception as exc:  # mido raises OSError/EOFError/ValueError/KeyError on bad files
        raise DanceMosaicError(f"{path}: not a readable MIDI file ({exc})") from exc


def _abs_events(mid):
    """(absolute tick, message) for every message of every track, time-ordered."""
    events = []
    for track in mid.tracks:
        tick = 0
        for msg in track:
            tick += msg.time
            events.append((tick, msg))
    events.sort(key=lambda e: e[0])
    return events


def tempo_map(path) -> list[tuple[int, int]]:
    """[(tick, microseconds per quarter)], starting at tick 0."""
    mid = _read(path)
    changes = [(0, DEFAULT_TEMPO)]
    for tick, msg in _abs_events(mid):
        if msg.type == "set_tempo":
            if tick == changes[-1][0]:
                changes[-1] = (tick, msg.tempo)
            else:
                changes.append((tick, msg.tempo))
    return changes


def ticks_to_seconds(ticks: np.ndarray, changes, ticks_per_beat: int) -> np.ndarray:
    ticks = np.asarray(ticks, dtype=np.float64)
    starts = np.array([c[0] for c in changes], dtype=np.float64)
    tempos = np.array([c[1] for c in changes], dtype=np.float64) * 1e-6 / ticks_per_beat
    seg_secs = np.concatenate([[0.0], np.cumsum(np.diff(starts) * tempos[:-1])])
    k = np.searchsorted(starts, ticks, side="right") - 1
    return seg_secs[k] + (ticks - starts[k]) * tempos[k]


def midi_length_ticks(path) -> int:
    mid = _read(path)
    last_note = 0
    for tick, msg in _abs_events(mid):
        if msg.type in ("note_on", "note_off"):
            last_note = tick
    return last_note


def midi_beats(path) -> np.ndarray:
    """Times (s) of every quarter-note beat from tick 0 to the last note event."""
    mid = _read(path)
    if mid.type == 2:
        raise DanceMosaicError(f"{path}: MIDI type 2 (independent sequences) has no single "
                               "tempo map; convert it to type 0/1")
    tpb = mid.ticks_per_beat
    end = midi_length_ticks(path)
    ticks = np.arange(0, end + 1, tpb)
    return ticks_to_seconds(ticks, tempo_map(path), tpb)


def midi_onsets(path) -> np.ndarray:
    """Times (s) of every note_on with velocity > 0 (for checking a render's alignment)."""
    mid = _read(path)
    ticks = [t for t, m in _abs_events(mid) if m.type == "note_on" and m.velocity > 0]
    return ticks_to_seconds(np.array(ticks), tempo_map(path), mid.ticks_per_beat)


def midi_time_signatures(path) -> list[tuple[float, int, int]]:
    """[(time s, numerator, denominator)] of every time_signature event."""
    mid = _read(path)
    changes = tempo_map(path)
    return [(float(ticks_to_seconds(np.array([t]), changes, mid.ticks_per_beat)[0]),
             m.numerator, m.denominator)
            for t, m in _abs_events(mid) if m.type == "time_signature"]


def midi_downbeats(path) -> tuple[np.ndarray, list[int]]:
    """(times (s) of every bar start from tick 0 to the last note event, quarter notes per bar
    of each): bars follow the time_signature events (4/4 until the first, as the MIDI spec
    says); a bar lasts numerator * 4 / denominator quarter notes."""
    mid = _read(path)
    tpb = mid.ticks_per_beat
    end = midi_length_ticks(path)
    signatures = [(0, 4, 4)] + [(t, m.numerator, m.denominator) for t, m in _abs_events(mid)
                                if m.type == "time_signature"]
    ticks, quarters = [], []
    for k, (start, num, den) in enumerate(signatures):
        stop = signatures[k + 1][0] if k + 1 < len(signatures) else end + 1
        bar = num * 4 * tpb // den
        for t in range(start, stop, bar):
            ticks.append(t)
            quarters.append(num * 4 // den)
    ticks = np.array(ticks)
    keep = np.append(ticks[1:] > ticks[:-1], True)        # a signature at a bar start replaces it
    return ticks_to_seconds(ticks[keep], tempo_map(path), tpb), [q for q, k in zip(quarters, keep) if k]


def render_midi(path, out_wav, sr: int = 44100, synth: str | None = None) -> Path:
    """Synthesise a MIDI file to a mono-or-stereo 16-bit wav at `sr`; returns the wav path.
    synth: 'fluidsynth', 'timidity' or None (first available)."""
    _read(path)
    out_wav = Path(out_wav)
    out_wav.parent.mkdir(parents=True, exist_ok=True)
    soundfont = next((s for s in SOUNDFONTS if Path(s).is_file()), None)
    order = [synth] if synth else ["fluidsynth", "timidity"]
    for name in order:
        exe = shutil.which(name or "")
        if exe is None or (name == "fluidsynth" and soundfont is None):
            continue
        if name == "fluidsynth":
            cmd = [exe, "-ni", "-q", "-g", "0.6", "-F", str(out_wav), "-r", str(sr), soundfont, str(path)]
        else:
            cmd = [exe, "-Ow", "-o", str(out_wav), "-s", str(sr), "-idq", str(path)]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode == 0 and out_wav.is_file() and out_wav.stat().st_size > 44:
            return out_wav
        raise DanceMosaicError(f"{path}: {name} failed to render ({res.stderr.strip()[-300:]})")
    raise DanceMosaicError("no MIDI synthesiser found: install fluidsynth + fluid-soundfont-gm "
                           "or timidity + freepats (apt-get install ...)")


def openmsx_pieces() -> list[Path]:
    """The MIDI files of Debian's openttd-openmsx package (empty when not installed)."""
    return sorted(OPENMSX_DIR.glob("*.mid")) if OPENMSX_DIR.is_dir() else []
