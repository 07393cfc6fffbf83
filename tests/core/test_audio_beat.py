"""Online beat tracker on click tracks, silence and noise; feature prediction; MIDI beat truth."""
import numpy as np
import pytest

from dancemosaic_core.audio.beat import (
    ANALYSIS_SR,
    ONSET_HOP,
    OnlineBeatTracker,
    TempoTracker,
    predict_features,
    track_wave,
)
from dancemosaic_core.audio.features import COL_BEAT, COL_PEAK
from dancemosaic_core.audio.synth import click_track


@pytest.mark.parametrize("bpm,dance_bpm", [(72, 72), (100, 100), (128, 128), (155, 155), (180, 90)])
def test_tempo_within_2_bpm_on_click_tracks(bpm, dance_bpm):
    # 160 BPM and faster is danced at half tempo when the half has support (tempo.dance_level)
    y, beats = click_track(bpm, 14.0, 16000, jitter_ms=8.0, seed=bpm, noise=0.01)
    times, tempos, tracker = track_wave(y, 16000)
    settled = [t for tm, t in zip(times, tempos) if tm >= 5.0]
    assert all(t is not None and abs(t - dance_bpm) <= 2.0 for t in settled), (bpm, settled[::20])
    st = tracker.state()
    assert 0.0 <= st.phase < 1.0 and st.next_beats[0] > times[-1] - 1e-9
    assert np.allclose(np.diff(st.next_beats), 60.0 / st.tempo_bpm)
    # emitted beats land on the clicks (the envelope responds within one analysis window)
    emitted = np.array(tracker.beats)
    emitted = emitted[emitted > 5.0]
    err = np.array([np.min(np.abs(b - beats)) for b in emitted])
    assert len(emitted) >= 0.8 * (14.0 - 5.0) * dance_bpm / 60 and np.median(err) < 0.06


def test_silence_and_noise_report_no_tempo():
    _, tempos, tracker = track_wave(np.zeros(8 * 16000, np.float32), 16000)
    assert all(t is None for t in tempos) and tracker.beats == []
    assert tracker.state().tempo_bpm is None and len(tracker.state().next_beats) == 0
    noise = np.random.default_rng(0).standard_normal(8 * 16000).astype(np.float32) * 0.1
    _, tempos, _ = track_wave(noise, 16000)
    assert sum(t is not None for t in tempos[-40:]) <= 4


def test_predict_features_repeats_the_bar_and_places_beats():
    fps, bpm = 20, 120                       # one beat = 10 frames, one bar = 40
    rng = np.random.default_rng(0)
    hist = rng.standard_normal((100, 35)).astype(np.float32)
    fut = predict_features(hist, 60, bpm, fps=fps, beat_frames=np.array([3, 13, 23, 33, 43, 53, 70]))
    assert fut.shape == (60, 35)
    np.testing.assert_array_equal(fut[:40, :COL_BEAT], hist[60:100, :COL_BEAT])
    np.testing.assert_array_equal(fut[40:, :COL_BEAT], fut[:20, :COL_BEAT])   # periodic beyond one bar
    assert np.flatnonzero(fut[:, COL_BEAT]).tolist() == [3, 13, 23, 33, 43, 53]
    short = predict_features(hist[:15], 5, bpm, fps=fps)       # history shorter than a bar: one beat
    np.testing.assert_array_equal(short, hist[5:10])
    held = predict_features(hist, 4, None, fps=fps)             # no tempo: hold, no peaks or beats
    assert np.all(held[:, :COL_PEAK] == hist[-1, :COL_PEAK]) and held[:, [COL_PEAK, COL_BEAT]].sum() == 0


def test_tracker_predict_features_uses_its_beat_grid():
    y, _ = click_track(120, 10.0, 10240, seed=3)
    _, _, tracker = track_wave(y, 10240)
    st = tracker.state()
    hist = np.zeros((200, 35), np.float32)
    fut = tracker.predict_features(hist, 40, fps=20, history_start=0)
    want = np.round(st.next_beats * 20).astype(int) - 200
    assert np.flatnonzero(fut[:, COL_BEAT]).tolist() == [b for b in want if 0 <= b < 40]
    assert isinstance(tracker, OnlineBeatTracker)


def test_midi_beats_from_a_tempo_map(tmp_path):
    import mido

    from dancemosaic_core.audio.midi import midi_beats, midi_onsets, tempo_map
    mid = mido.MidiFile(ticks_per_beat=96)
    meta, notes = mido.MidiTrack(), mido.MidiTrack()
    mid.tracks += [meta, notes]
    meta.append(mido.MetaMessage("set_tempo", tempo=500000, time=0))          # 120 BPM
    meta.append(mido.MetaMessage("set_tempo", tempo=1000000, time=4 * 96))    # 60 BPM after 4 beats
    for _ in range(8):
        notes.append(mido.Message("note_on", note=60, velocity=90, time=0))
        notes.append(mido.Message("note_off", note=60, velocity=0, time=96))
    path = tmp_path / "t.mid"
    mid.save(path)
    assert tempo_map(path) == [(0, 500000), (384, 1000000)]
    np.testing.assert_allclose(midi_beats(path), [0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0])
    np.testing.assert_allclose(midi_onsets(path), [0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0])


def test_tempo_tracker_on_device_rate_blocks_finds_the_tempo_of_track_wave():
    y, _ = click_track(128, 10.0, 44100, jitter_ms=8.0, seed=7, noise=0.01)
    tempo = TempoTracker(44100)                        # streaming resampling to ANALYSIS_SR
    states = [tempo.push(y[i:i + 1024]) for i in range(0, len(y), 1024)]
    assert states[0].tempo_bpm is None and states[-1] is tempo.state
    _, tempos, _ = track_wave(y, 44100)
    assert abs(tempo.state.tempo_bpm - 128) <= 2.0 and abs(tempo.state.tempo_bpm - tempos[-1]) <= 0.5
    assert tempo.tracker.env_fps == ANALYSIS_SR / ONSET_HOP
