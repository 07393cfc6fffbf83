"""`dancemosaic beats AUDIO`: tempo, beats, meter and downbeats of a music file.

Offline: tempo.dance_beats (dance-level tempo, beats with the onset lag removed) and
meter.estimate_meter. With --online, also what a live stream would have reported: the online
tracker's final tempo and the time its meter was first reported (meter.track_meter_wave).
"""
from __future__ import annotations

import argparse
import json

import numpy as np


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("beats", help="print the tempo, beats, meter and downbeats of a music file")
    p.add_argument("audio", help="music file (wav, ogg, flac, mp3 ...)")
    p.add_argument("--seconds", type=float, default=None, help="analyse only the first S seconds")
    p.add_argument("--online", action="store_true", help="also run the online trackers as on a live stream")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.set_defaults(func=run)


def analyse(wave: np.ndarray, sr: int, online: bool = False) -> dict:
    from dancemosaic_core.audio.beat import ANALYSIS_SR, ONSET_HOP
    from dancemosaic_core.audio.io import resample
    from dancemosaic_core.audio.meter import estimate_meter, track_meter_wave
    from dancemosaic_core.audio.tempo import dance_beats
    beats = dance_beats(resample(wave, sr, ANALYSIS_SR), ANALYSIS_SR, ONSET_HOP)
    meter = estimate_meter(wave, sr, beats.times)
    out = {"seconds": round(len(wave) / sr, 2), "tempo_bpm": beats.bpm,
           "tempo_confidence": round(beats.confidence, 3),
           "beats": [round(float(t), 3) for t in beats.times],
           "beats_per_bar": meter.beats_per_bar, "meter_confidence": round(meter.confidence, 3),
           "downbeats": [round(float(t), 3) for t in meter.downbeats]}
    if online:
        tracker, emitted = track_meter_wave(wave, sr)
        intervals = np.diff(emitted[-9:])
        out["online"] = {"tempo_bpm": round(float(60.0 / np.median(intervals)), 2) if len(intervals) else None,
                         "beats": len(emitted), "beats_per_bar": tracker.meter[0] if tracker.meter else None,
                         "meter_reported_s": tracker.locked_at,
                         "downbeats": [round(float(t), 3) for t in tracker.downbeats]}
    return out


def times(xs) -> str:
    return " ".join(f"{t:.2f}" for t in xs) or "-"


def run(args) -> int:
    from dancemosaic_core.audio.io import load_audio
    wave, sr = load_audio(args.audio)
    if args.seconds is not None:
        wave = wave[:int(args.seconds * sr)]
    result = analyse(wave, sr, args.online)
    if args.json:
        print(json.dumps(result))
        return 0
    tempo = f"{result['tempo_bpm']:.1f} BPM" if result["tempo_bpm"] else "none"
    meter = f"{result['beats_per_bar']} beats per bar" if result["beats_per_bar"] else "unknown"
    print(f"{args.audio}: {result['seconds']:.1f} s")
    print(f"tempo     {tempo} (confidence {result['tempo_confidence']:.2f})")
    print(f"meter     {meter} (confidence {result['meter_confidence']:.2f})")
    print(f"beats     {times(result['beats'])}")
    print(f"downbeats {times(result['downbeats'])}")
    if args.online:
        on = result["online"]
        when = f"after {on['meter_reported_s']:.1f} s" if on["meter_reported_s"] is not None else "never reported"
        print(f"online    {on['tempo_bpm'] or 'no'} BPM from {on['beats']} emitted beats; meter "
              f"{on['beats_per_bar'] or 'none'} ({when}); downbeats {times(on['downbeats'])}")
    return 0
