"""Music features: extraction speed (offline, streaming per block) and online beat-tracker tempo error.

Tempo truth: synthesised click tracks (several tempos, jittered) and Debian openttd-openmsx MIDI
pieces rendered with fluidsynth/timidity, whose tempo maps give the true beats. Debian
chromium-bsu music has no truth: the tracker is compared with librosa's offline tempo.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

CLICK_BPMS = (70, 84, 96, 110, 120, 128, 140, 155, 170, 180)
CHROMIUM_BSU = ("/usr/share/games/chromium-bsu/wav/music_game.wav",
                "/usr/share/games/chromium-bsu/wav/music_menu.wav")


def add_arguments(parser) -> None:
    parser.add_argument("--seconds", type=float, default=60.0, help="audio per piece for the tempo table")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds before tempo errors count")
    parser.add_argument("--pieces", type=int, default=0, help="openmsx pieces to use (0: all)")
    parser.add_argument("--block", type=float, default=0.05, help="streaming block seconds")
    parser.add_argument("--fps", type=float, default=20.0, help="feature frame rate")


def tempo_errors(times, tempos, true_bpm, settle: float) -> dict:
    """Tempo error after `settle` s; true_bpm: a number or a function of time."""
    keep = [(t, x) for t, x in zip(times, tempos) if t >= settle]
    truth = np.array([true_bpm(t) if callable(true_bpm) else true_bpm for t, _ in keep])
    est = np.array([np.nan if x is None else x for _, x in keep])
    err = np.abs(est - truth)
    ratio = est / truth
    octave = np.isfinite(ratio) & ((np.abs(ratio - 2) < 0.08) | (np.abs(ratio - 0.5) < 0.02))
    other = np.isfinite(ratio) & ~octave & (np.abs(ratio - 1) > 0.04)
    fin = err[np.isfinite(err) & ~octave]
    return {"median_err_bpm": float(np.median(fin)) if len(fin) else None,
            "max_err_bpm": float(np.max(fin)) if len(fin) else None,
            "within_2bpm": float(np.mean(err <= 2.0)) if len(err) else None,
            "octave_err_frac": float(np.mean(octave)) if len(err) else None,
            "other_err_frac": float(np.mean(other)) if len(err) else None,
            "no_tempo_frac": float(np.mean(~np.isfinite(est))) if len(err) else None,
            "final_bpm": None if tempos[-1] is None else float(tempos[-1])}


def _local_bpm(beats: np.ndarray):
    mids = 0.5 * (beats[1:] + beats[:-1])
    bpm = 60.0 / np.diff(beats)
    return lambda t: float(np.interp(t, mids, bpm))


def _clicks(args) -> list:
    from dancemosaic_core.audio.beat import track_wave
    from dancemosaic_core.audio.synth import click_track
    rows = []
    for i, bpm in enumerate(CLICK_BPMS):
        y, _ = click_track(bpm, min(args.seconds, 30.0), 22050, jitter_ms=8.0, seed=i, noise=0.01)
        times, tempos, _ = track_wave(y, 22050, block_seconds=args.block)
        rows.append({"piece": f"click_{bpm}", "true_bpm": bpm, **tempo_errors(times, tempos, bpm, args.settle)})
    return rows


def _openmsx(args, tmp: Path) -> list:
    from dancemosaic_core.audio import midi
    from dancemosaic_core.audio.beat import track_wave
    from dancemosaic_core.audio.io import load_audio
    pieces = midi.openmsx_pieces()
    if args.pieces:
        pieces = pieces[:args.pieces]
    rows = []
    for p in pieces:
        wav = midi.render_midi(p, tmp / (p.stem + ".wav"), 22050)
        y, sr = load_audio(wav)
        y = y[:int(args.seconds * sr)]
        beats = midi.midi_beats(p)
        times, tempos, _ = track_wave(y, sr, block_seconds=args.block)
        nominal = float(np.median(60.0 / np.diff(beats)))
        rows.append({"piece": p.stem, "true_bpm": round(nominal, 2),
                     **tempo_errors(times, tempos, _local_bpm(beats), args.settle)})
    return rows


def _summary(rows) -> dict:
    def col(k):
        return np.array([r[k] for r in rows if r[k] is not None], dtype=float)
    med = col("median_err_bpm")
    return {"pieces": len(rows),
            "median_of_median_err_bpm": float(np.median(med)) if len(med) else None,
            "max_err_bpm_excluding_octave": float(np.max(col("max_err_bpm"))) if len(med) else None,
            "mean_within_2bpm": float(np.mean(col("within_2bpm"))),
            "mean_octave_err_frac": float(np.mean(col("octave_err_frac"))),
            "mean_other_err_frac": float(np.mean(col("other_err_frac"))),
            "pieces_final_within_2bpm": int(sum(1 for r in rows if r["final_bpm"] is not None
                                                and abs(r["final_bpm"] - r["true_bpm"]) <= 2))}


def _speed(args, tmp: Path) -> dict:
    from dancemosaic_core.audio import midi
    from dancemosaic_core.audio.features import music_features
    from dancemosaic_core.audio.io import load_audio
    from dancemosaic_core.audio.streaming import StreamingMusicFeatures
    pieces = midi.openmsx_pieces()
    if pieces:
        y, sr = load_audio(midi.render_midi(pieces[0], tmp / "speed.wav", 44100))
    else:
        from dancemosaic_core.audio.synth import click_track
        y, _ = click_track(120, 60, 44100, noise=0.05)
        sr = 44100
    y = y[:int(60 * sr)]
    music_features(y[:sr * 2], sr, args.fps)      # numba compilation outside the timing
    t = time.perf_counter()
    music_features(y, sr, args.fps)
    offline = time.perf_counter() - t
    stream = StreamingMusicFeatures(sr, fps=args.fps)
    block = int(args.block * sr)
    per_block = []
    for i in range(0, len(y), block):
        t = time.perf_counter()
        stream.push(y[i:i + block])
        stream.features(last=1)
        per_block.append(time.perf_counter() - t)
    per_block = np.array(per_block)
    secs = len(y) / sr
    return {"audio_seconds": secs, "input_sr": sr, "fps": args.fps,
            "offline_seconds": offline, "offline_x_realtime": secs / offline,
            "stream_block_seconds": args.block, "stream_ms_per_block_median": 1e3 * float(np.median(per_block)),
            "stream_ms_per_block_p99": 1e3 * float(np.percentile(per_block, 99)),
            "stream_x_realtime": secs / float(per_block.sum()),
            "stream_update_seconds": stream.update_samples / stream.sr,
            "stream_final_latency_seconds": stream.right / args.fps}


def _chromium(args) -> list:
    import librosa

    from dancemosaic_core.audio.beat import track_wave
    from dancemosaic_core.audio.io import load_audio
    rows = []
    for path in CHROMIUM_BSU:
        if not Path(path).is_file():
            continue
        y, sr = load_audio(path)
        times, tempos, _ = track_wave(y, sr, block_seconds=args.block)
        offline = float(np.atleast_1d(librosa.feature.tempo(y=y, sr=sr))[0])
        rows.append({"piece": Path(path).name, "seconds": len(y) / sr, "librosa_offline_bpm": offline,
                     "online_final_bpm": tempos[-1]})
    return rows


def run(args) -> dict:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        speed = _speed(args, tmp)
        clicks = _clicks(args)
        msx = _openmsx(args, tmp)
    return {"speed": speed, "clicks": {"summary": _summary(clicks), "rows": clicks},
            "openmsx": {"summary": _summary(msx) if msx else None, "rows": msx},
            "chromium_bsu": _chromium(args),
            "settings": {"seconds": args.seconds, "settle": args.settle, "block": args.block}}
