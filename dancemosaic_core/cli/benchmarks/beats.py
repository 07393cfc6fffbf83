"""Beat accuracy against exact beat grids: offline beat column and online tracker.

Sets, every one with exact truth:
  clicks   synth.click_track at 80..160 BPM, 3/4 and 4/4 accents, 5 ms jitter, light noise
           (truth: the generated click times);
  grooves  synth.groove_midi band grooves (drums, bass, piano) at 80..160 BPM in 4/4 and 3/4,
           rendered with fluidsynth + FluidR3_GM (truth: the MIDI tempo map, midi.midi_beats);
  openmsx  the first --openmsx Debian openttd-openmsx pieces (truth: their tempo maps; the
           quarter note is not always the danced beat, so this set is reported apart).
Offline: the beat column of music_features (and, for comparison, eval.beats.music_beats, the
EDGE/LODGE reference at 30 fps): beat F-measure at +-70 ms (one-to-one matching), mean signed
lag (ms) of estimated beats within a quarter period of a true beat; the tempo and confidence of
tempo.dance_beats (what the column is made from) against the truth (1x within 4 %; 0.5x and 2x
reported apart). Online (track_wave, 50 ms blocks): share of tempo estimates after
`settle` s within 4 % (and at 0.5x / 2x), and the phase-lock time: the first emitted beat from
which every later emitted beat is within 70 ms of a true beat and 90 % of the later true beats
are hit (None: never locked).
Downbeats and meter (audio.meter): offline, estimate_meter on tempo.dance_beats' beats; online,
track_meter_wave (the online beat tracker's emitted beats, 50 ms blocks). Downbeat F-measure at
+-70 ms against the true bar starts, meter (3 vs 4 beats per bar; 2/4 counts as 4) right or not,
the stream time at which the online meter is first reported and the downbeat lock time (lock_time
on the emitted downbeats). Truth: clicks, every `meter`-th click from the first; grooves and
openmsx, the MIDI bar starts (midi.midi_downbeats) shifted by the render's measured latency
(choreo.songs.render_lag); an openmsx bar that is not 3 or 4 (or 2) quarters has no meter truth.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

TEMPI = (80, 92, 104, 116, 128, 140, 152, 160)
METERS = (4, 3)
TOLERANCE_S = 0.07
TEMPO_TOLERANCE = 0.04


def add_arguments(parser) -> None:
    parser.add_argument("--seconds", type=float, default=30.0, help="audio per piece")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds before online tempo counts")
    parser.add_argument("--openmsx", type=int, default=8, help="openmsx pieces to add (0: none)")
    parser.add_argument("--fps", type=float, default=20.0, help="feature frame rate of the beat column")


def f_measure(est: np.ndarray, truth: np.ndarray, tol: float = TOLERANCE_S) -> float:
    """Beat F-measure: each true beat matches at most one estimate within +-tol (greedy by distance)."""
    est, truth = np.asarray(est, float), np.asarray(truth, float)
    if len(est) == 0 or len(truth) == 0:
        return 0.0
    d = np.abs(est[:, None] - truth[None, :])
    pairs = sorted(zip(*np.nonzero(d <= tol)), key=lambda ij: d[ij])
    used_e, used_t = set(), set()
    for i, j in pairs:
        if i not in used_e and j not in used_t:
            used_e.add(i)
            used_t.add(j)
    hits = len(used_e)
    return 2.0 * hits / (len(est) + len(truth))


def signed_lag_ms(est: np.ndarray, truth: np.ndarray) -> float | None:
    """Mean (estimate - nearest true beat) in ms over estimates within a quarter period of one."""
    est, truth = np.asarray(est, float), np.asarray(truth, float)
    if len(est) == 0 or len(truth) < 2:
        return None
    j = np.clip(np.searchsorted(truth, est), 1, len(truth) - 1)
    near = np.where(np.abs(est - truth[j - 1]) < np.abs(est - truth[j]), truth[j - 1], truth[j])
    lag = est - near
    period = float(np.median(np.diff(truth)))
    ok = np.abs(lag) < 0.25 * period
    return float(1e3 * lag[ok].mean()) if ok.any() else None


def tempo_class(est_bpm: float | None, true_bpm: float) -> str:
    """'1x', '2x', '0.5x', 'other' (beyond 4 % of those) or 'none'."""
    if est_bpm is None or not np.isfinite(est_bpm):
        return "none"
    for name, k in (("1x", 1.0), ("2x", 2.0), ("0.5x", 0.5)):
        if abs(est_bpm / (k * true_bpm) - 1.0) <= TEMPO_TOLERANCE:
            return name
    return "other"


def lock_time(emitted: np.ndarray, truth: np.ndarray, tol: float = TOLERANCE_S) -> float | None:
    """Time of the first emitted beat from which all later emitted beats are within tol of a
    true beat and at least 90 % of the true beats from then on are hit; None if never."""
    emitted, truth = np.asarray(emitted, float), np.asarray(truth, float)
    if len(emitted) == 0:
        return None
    hit = np.abs(emitted[:, None] - truth[None, :]).min(axis=1) <= tol
    bad = np.flatnonzero(~hit)
    start = bad[-1] + 1 if len(bad) else 0
    if start >= len(emitted) - 2:
        return None
    t0, t1 = emitted[start], emitted[-1]
    later = truth[(truth >= t0 - tol) & (truth <= t1 + tol)]
    covered = np.abs(later[:, None] - emitted[None, start:]).min(axis=1) <= tol
    return float(t0) if covered.mean() >= 0.9 else None


def meter_class(quarters_per_bar: int | None) -> int | None:
    """Beats per bar as the meter model reports it: 2 folds into 4; None for other bars."""
    return {2: 4, 3: 3, 4: 4}.get(quarters_per_bar) if quarters_per_bar else None


def measure_downbeats(wave: np.ndarray, sr: int, beats: np.ndarray, truth: np.ndarray,
                      meter: int | None) -> dict:
    """Offline (on `beats`) and online downbeat and meter numbers of one piece."""
    from dancemosaic_core.audio.meter import estimate_meter, track_meter_wave
    truth = truth[truth < len(wave) / sr]
    offline = estimate_meter(wave, sr, beats)
    online, _ = track_meter_wave(wave, sr)
    online_meter = online.meter[0] if online.meter else None
    return {"true_meter": meter, "meter": offline.beats_per_bar,
            "meter_right": None if meter is None else offline.beats_per_bar == meter,
            "downbeat_f": round(f_measure(offline.downbeats, truth), 3),
            "meter_confidence": round(offline.confidence, 3),
            "online_meter": online_meter,
            "online_meter_right": None if meter is None else online_meter == meter,
            "online_downbeat_f": round(f_measure(np.array(online.downbeats), truth), 3),
            "meter_reported_s": online.locked_at,
            "downbeat_lock_s": lock_time(np.array(online.downbeats), truth)}


def measure(name: str, wave: np.ndarray, sr: int, truth: np.ndarray, args,
            downbeats: np.ndarray | None = None, meter: int | None = None) -> dict:
    """Offline and online numbers of one piece (downbeat numbers too when `downbeats` is given)."""
    from dancemosaic_core.audio.beat import track_wave
    from dancemosaic_core.audio.features import (
        HOP_LENGTH,
        beat_times,
        feature_sr,
        music_features,
    )
    from dancemosaic_core.audio.io import resample
    from dancemosaic_core.audio.tempo import dance_beats
    from dancemosaic_core.eval.beats import music_beats

    seconds = len(wave) / sr
    truth = truth[truth < seconds]
    true_bpm = float(60.0 / np.median(np.diff(truth)))
    feats = music_features(wave, sr, args.fps)
    column = beat_times(feats, args.fps)
    fsr = feature_sr(args.fps)
    offline = dance_beats(resample(wave, sr, fsr), fsr, HOP_LENGTH // 4)
    reference = music_beats(wave, sr, 30.0)
    times, tempos, tracker = track_wave(wave, sr)
    late = [x for t, x in zip(times, tempos) if t >= args.settle]
    classes = [tempo_class(x, true_bpm) for x in late]
    return {"piece": name, "true_bpm": round(true_bpm, 2),
            "column_f": round(f_measure(column, truth), 3), "column_lag_ms": signed_lag_ms(column, truth),
            "offline_bpm": offline.bpm, "offline_tempo": tempo_class(offline.bpm, true_bpm),
            "offline_confidence": round(offline.confidence, 3),
            "eval_f": round(f_measure(reference, truth), 3), "eval_lag_ms": signed_lag_ms(reference, truth),
            "online_1x": float(np.mean([c == "1x" for c in classes])),
            "online_2x": float(np.mean([c == "2x" for c in classes])),
            "online_half": float(np.mean([c == "0.5x" for c in classes])),
            "online_final_bpm": tempos[-1], "online_confidence": round(tracker.confidence, 3),
            "online_lag_ms": signed_lag_ms(np.array(tracker.beats), truth),
            "lock_s": lock_time(np.array(tracker.beats), truth),
            **({} if downbeats is None else measure_downbeats(wave, sr, offline.times, downbeats, meter))}


def _sets(args, tmp: Path):
    from dancemosaic_core.audio import midi
    from dancemosaic_core.audio.io import load_audio
    from dancemosaic_core.audio.synth import click_track, groove_midi
    from dancemosaic_core.choreo.songs import render_lag
    for i, (bpm, meter) in enumerate((b, m) for m in METERS for b in TEMPI):
        y, beats = click_track(bpm, args.seconds, 22050, jitter_ms=5.0, accent_every=meter, seed=i, noise=0.01)
        yield "clicks", f"click_{bpm}_{meter}4", y, 22050, beats, beats[::meter], meter

    def rendered(path, wav):
        y, sr = load_audio(midi.render_midi(path, wav, 22050))
        bars, quarters = midi.midi_downbeats(path)
        lag = render_lag(y, sr, midi.midi_onsets(path))
        return y[:int(args.seconds * sr)], sr, midi.midi_beats(path), bars + lag, meter_class(quarters[0])
    for bpm, meter in ((b, m) for m in METERS for b in TEMPI):
        path = groove_midi(tmp / f"groove_{bpm}_{meter}4.mid", bpm, args.seconds + 1.0, meter)
        yield "grooves", path.stem, *rendered(path, path.with_suffix(".wav"))
    for path in midi.openmsx_pieces()[:args.openmsx]:
        yield "openmsx", path.stem, *rendered(path, tmp / (path.stem + ".wav"))


def summary(rows: list) -> dict:
    def mean(key):
        vals = [r[key] for r in rows if r[key] is not None]
        return round(float(np.mean(vals)), 3) if vals else None
    locks = [r["lock_s"] for r in rows]
    return {"pieces": len(rows), "column_f": mean("column_f"), "column_lag_ms": mean("column_lag_ms"),
            "offline_tempo_1x": mean_of(rows, "offline_tempo", "1x"),
            "offline_tempo_2x": mean_of(rows, "offline_tempo", "2x"),
            "offline_tempo_half": mean_of(rows, "offline_tempo", "0.5x"),
            "offline_confidence": mean("offline_confidence"),
            "eval_f": mean("eval_f"), "eval_lag_ms": mean("eval_lag_ms"),
            "online_1x": mean("online_1x"), "online_2x": mean("online_2x"), "online_half": mean("online_half"),
            "online_lag_ms": mean("online_lag_ms"),
            "locked": sum(x is not None for x in locks),
            "lock_s_median": None if not any(x is not None for x in locks)
            else float(np.median([x for x in locks if x is not None])),
            "lock_s_max": None if not any(x is not None for x in locks)
            else float(np.max([x for x in locks if x is not None])),
            **downbeat_summary(rows)}


def downbeat_summary(rows: list) -> dict:
    def mean(key):
        vals = [float(r[key]) for r in rows if r.get(key) is not None]
        return round(float(np.mean(vals)), 3) if vals else None

    def median(key):
        vals = [r[key] for r in rows if r.get(key) is not None]
        return round(float(np.median(vals)), 2) if vals else None
    return {"downbeat_f": mean("downbeat_f"), "meter_accuracy": mean("meter_right"),
            "meter_confidence": mean("meter_confidence"), "online_downbeat_f": mean("online_downbeat_f"),
            "online_meter_accuracy": mean("online_meter_right"),
            "meter_reported": sum(r.get("meter_reported_s") is not None for r in rows),
            "meter_reported_s_median": median("meter_reported_s"),
            "downbeat_locked": sum(r.get("downbeat_lock_s") is not None for r in rows),
            "downbeat_lock_s_median": median("downbeat_lock_s")}


def mean_of(rows: list, key: str, value: str) -> float:
    return round(float(np.mean([r[key] == value for r in rows])), 3)


def run(args) -> dict:
    rows: dict[str, list] = {}
    with tempfile.TemporaryDirectory() as d:
        for group, name, y, sr, truth, downbeats, meter in _sets(args, Path(d)):
            rows.setdefault(group, []).append(measure(name, y, sr, truth, args, downbeats, meter))
    return {"settings": {"seconds": args.seconds, "settle": args.settle, "tolerance_s": TOLERANCE_S,
                         "tempo_tolerance": TEMPO_TOLERANCE, "fps": args.fps},
            **{g: {"summary": summary(r), "rows": r} for g, r in rows.items()}}
