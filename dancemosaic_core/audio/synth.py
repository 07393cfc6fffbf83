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


# General MIDI drum keys (channel 10) and programs of the grooves
KICK, SNARE, CLOSED_HAT, RIDE = 36, 38, 42, 51
BASS_PROGRAM, PIANO_PROGRAM = 33, 0
ROOTS = (45, 43, 41, 40)   # A2 G2 F2 E2: one bar each, a minor-key loop


def groove_midi(path, bpm: float, seconds: float, beats_per_bar: int = 4, ticks_per_beat: int = 480):
    """Write a band groove (drums, bass, piano chords) at a constant tempo to a type-1 MIDI file;
    its tempo map gives the exact beat grid (midi.midi_beats). 4/4: kick on 1 and 3, snare on 2 and
    4, eighth-note hats, bass on 1, 3 and the `and` of 4, piano stabs on 2 and 4 off-beats. 3/4
    (a waltz): kick on 1, hat-and-snare on 2 and 3, bass on 1, piano chord on 2 and 3. Returns path."""
    import mido
    tpb = ticks_per_beat
    n_beats = int(seconds * bpm / 60.0)
    drums, bass, piano = [], [], []   # (absolute tick, note, velocity, duration ticks)
    for b in range(n_beats):
        pos, bar = b % beats_per_bar, b // beats_per_bar
        t = b * tpb
        root = ROOTS[bar % len(ROOTS)]
        if beats_per_bar == 3:
            if pos == 0:
                drums.append((t, KICK, 110, tpb // 4))
                bass.append((t, root, 100, tpb - 20))
            else:
                drums += [(t, SNARE, 70, tpb // 4), (t, CLOSED_HAT, 80, tpb // 4)]
                piano += [(t, n, 70, tpb // 2) for n in (root + 24, root + 27, root + 31)]
            continue
        drums.append((t, KICK if pos % 2 == 0 else SNARE, 110 if pos % 2 == 0 else 95, tpb // 4))
        drums += [(t, CLOSED_HAT, 80, tpb // 4), (t + tpb // 2, CLOSED_HAT, 55, tpb // 4)]
        if pos % 2 == 0:
            bass.append((t, root, 100, tpb // 2))
        if pos == 3:
            bass.append((t + tpb // 2, root + 7, 85, tpb // 2))
        if pos % 2 == 1:
            piano += [(t + tpb // 2, n, 65, tpb // 3) for n in (root + 24, root + 27, root + 31)]
    mid = mido.MidiFile(type=1, ticks_per_beat=tpb)
    meta = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0),
                           mido.MetaMessage("time_signature", numerator=beats_per_bar, denominator=4, time=0)])
    mid.tracks.append(meta)
    for channel, program, notes in ((9, None, drums), (0, BASS_PROGRAM, bass), (1, PIANO_PROGRAM, piano)):
        events = []
        for t, note, vel, dur in notes:
            events += [(t, 1, note, vel), (t + dur, 0, note, 0)]
        events.sort(key=lambda e: (e[0], e[1]))
        track = mido.MidiTrack()
        if program is not None:
            track.append(mido.Message("program_change", channel=channel, program=program, time=0))
        now = 0
        for t, on, note, vel in events:
            kind = "note_on" if on else "note_off"
            track.append(mido.Message(kind, channel=channel, note=note, velocity=vel, time=t - now))
            now = t
        mid.tracks.append(track)
    mid.save(str(path))
    return path
