"""Beat timing, dance-level octave choice and confidence: click tracks and synthetic envelopes."""
import numpy as np
import pytest

from dancemosaic_core.audio import midi
from dancemosaic_core.audio.beat import track_wave
from dancemosaic_core.audio.features import beat_times, music_features
from dancemosaic_core.audio.synth import click_track, groove_midi
from dancemosaic_core.audio.tempo import (
    StreamingOnset,
    bpm_grid,
    comb_scores,
    dance_beats,
    dance_level,
    dance_tempo,
)
from dancemosaic_core.cli.benchmarks.beats import f_measure, lock_time, signed_lag_ms

ENV_FPS = 80.0


def pulse_envelope(bpm: float, seconds: float, accents=(1.0,), subdivision: float = 0.0,
                   fps: float = ENV_FPS) -> np.ndarray:
    """Onsets on every beat (strength cycling through `accents`) plus `subdivision` half-way, each
    decaying over a few frames like a real onset envelope."""
    env = np.zeros(int(seconds * fps))
    period = 60.0 * fps / bpm
    for i, t in enumerate(np.arange(0.0, len(env) - 1, period)):
        env[int(round(t))] += accents[i % len(accents)]
        half = int(round(t + period / 2))
        if subdivision and half < len(env):
            env[half] += subdivision
    return np.convolve(env, np.exp(-np.arange(4) / 1.5))[:len(env)]


def test_envelope_peaks_on_the_click_frame():
    sr, hop = 10240, 128
    y, beats = click_track(100, 6.0, sr, accent_every=0)
    env = StreamingOnset(sr, hop).push(y.astype(np.float64))
    for b in beats[1:-1]:
        frame = int(round(b * sr / hop))
        assert abs(int(np.argmax(env[frame - 8:frame + 9])) - 8) <= 1, b


@pytest.mark.parametrize("bpm,meter", [(92, 4), (128, 3)])
def test_beat_column_lag_within_one_frame(bpm, meter):
    fps = 20.0
    y, truth = click_track(bpm, 20.0, 22050, accent_every=meter, noise=0.01)
    column = beat_times(music_features(y, 22050, fps), fps)
    err = np.array([np.min(np.abs(b - truth)) for b in column])
    assert abs(signed_lag_ms(column, truth)) < 0.5e3 / fps
    assert np.all(err <= 1.0 / fps) and f_measure(column, truth) > 0.9


def test_online_beats_on_time_and_lock_within_four_seconds():
    y, truth = click_track(116, 16.0, 16000, jitter_ms=5.0, seed=3, noise=0.01)
    _, _, tracker = track_wave(y, 16000)
    emitted = np.array(tracker.beats)
    assert abs(signed_lag_ms(emitted, truth)) < 1e3 / ENV_FPS
    lock = lock_time(emitted, truth)
    assert lock is not None and lock <= 4.0


@pytest.mark.parametrize("env,dance_bpm", [
    (pulse_envelope(140, 30, accents=(1.0, 0.35)), 140),              # backbeat: bar halves are stronger
    (pulse_envelope(152, 30, accents=(1.0, 0.35)), 152),
    (pulse_envelope(180, 30), 90),                                     # 160+ folds to half
    (pulse_envelope(60, 30, subdivision=0.9), 120),                    # slow pulse with strong halves
    (pulse_envelope(84, 30, accents=(1.0, 0.5, 0.5), subdivision=0.15), 84),  # waltz, light eighths
])
def test_dance_level_tempo_of_synthetic_envelopes(env, dance_bpm):
    tempo = dance_tempo(env, ENV_FPS)
    assert tempo.bpm is not None and abs(tempo.bpm / dance_bpm - 1.0) <= 0.02, tempo


def test_dance_level_keeps_the_best_without_octave_support():
    bpms = bpm_grid()
    score = np.zeros(len(bpms))
    best = int(np.argmin(np.abs(bpms - 180.0)))
    score[best] = 0.8
    assert dance_level(bpms, score, best) == best                    # no evidence at 90 BPM
    assert dance_level(bpms, comb_scores(pulse_envelope(180, 20), ENV_FPS, bpms), best) != best


def test_confidence_higher_on_clicks_than_on_noise():
    sr = 10240
    clicks, _ = click_track(120, 12.0, sr, noise=0.01)
    noise = np.random.default_rng(0).standard_normal(12 * sr).astype(np.float32) * 0.1
    clean, noisy = dance_beats(clicks, sr, 128), dance_beats(noise, sr, 128)
    assert clean.bpm == pytest.approx(120, rel=0.02) and clean.confidence > 0.5
    assert noisy.confidence < 0.2 and noisy.confidence < clean.confidence / 4
    _, _, online_clean = track_wave(clicks, sr)
    _, _, online_noise = track_wave(noise, sr)
    assert online_clean.state().confidence > 0.5 > 4 * online_noise.state().confidence


@pytest.mark.parametrize("meter", [3, 4])
def test_groove_midi_beats_are_the_written_grid(tmp_path, meter):
    path = groove_midi(tmp_path / "groove.mid", 104, 10.0, meter)
    beats = midi.midi_beats(path)
    assert np.allclose(np.diff(beats), 60.0 / 104) and beats[0] == 0.0 and len(beats) >= 17
    assert midi.midi_time_signatures(path)[0][1:] == (meter, 4)
