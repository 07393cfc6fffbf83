"""Meter and downbeats (audio.meter) on accented click tracks and a rendered MIDI groove; MIDI bar truth."""
import shutil
from pathlib import Path

import numpy as np
import pytest

from dancemosaic_core.audio import midi
from dancemosaic_core.audio.meter import estimate_meter, track_meter_wave
from dancemosaic_core.audio.synth import click_track, groove_midi
from dancemosaic_core.common.errors import DanceMosaicError

SR = 16000
HAS_SYNTH = shutil.which("fluidsynth") is not None and any(Path(s).is_file() for s in midi.SOUNDFONTS)


@pytest.mark.parametrize("meter", [3, 4])
def test_click_track_meter_and_downbeats(meter):
    y, beats = click_track(112, 16.0, SR, jitter_ms=3.0, accent_every=meter, seed=meter, noise=0.01)
    est = estimate_meter(y, SR, beats)
    assert est.beats_per_bar == meter and est.phase == 0 and est.confidence > 0.5
    np.testing.assert_allclose(est.downbeats, beats[::meter])


@pytest.mark.parametrize("meter,skip", [(4, 1), (4, 3), (3, 2)])
def test_downbeat_phase_follows_the_accent_not_the_first_beat(meter, skip):
    # the beat list starts `skip` beats into the bar: "1" is beat meter - skip of the list
    y, beats = click_track(100, 16.0, SR, accent_every=meter, seed=skip, noise=0.01)
    est = estimate_meter(y, SR, beats[skip:])
    assert est.beats_per_bar == meter and est.phase == meter - skip
    np.testing.assert_allclose(est.downbeats, beats[meter::meter])


def test_too_few_beats_and_bad_beats():
    y, beats = click_track(120, 4.0, SR, accent_every=4)
    assert estimate_meter(y, SR, beats[:5]).beats_per_bar is None
    with pytest.raises(DanceMosaicError, match="increasing"):
        estimate_meter(y, SR, beats[::-1])


def test_online_meter_reports_nothing_until_confident_then_the_downbeats():
    y, beats = click_track(120, 20.0, SR, jitter_ms=3.0, accent_every=4, seed=4, noise=0.01)
    tracker, emitted = track_meter_wave(y, SR)
    assert tracker.meter is not None and tracker.meter[0] == 4 and tracker.locked_at < 12.0
    # nothing is reported before the lock: every emitted downbeat comes after it
    downbeats = np.array(tracker.downbeats)
    assert len(downbeats) >= 2 and downbeats[0] >= tracker.locked_at - 60.0 / 120
    err = np.abs(downbeats[:, None] - beats[::4][None, :]).min(axis=1)
    assert np.all(err < 0.07)
    state = tracker.state()
    assert state.beats_per_bar == 4 and state.next_downbeat > emitted[-1]
    assert np.min(np.abs(state.next_downbeat - (beats[0] + 2.0 * np.arange(12)))) < 0.07


@pytest.mark.skipif(not HAS_SYNTH, reason="needs fluidsynth and a General MIDI soundfont")
@pytest.mark.parametrize("meter", [3, 4])
def test_rendered_groove_meter_and_downbeats(tmp_path, meter):
    from dancemosaic_core.audio.io import load_audio
    from dancemosaic_core.cli.benchmarks.beats import f_measure
    path = groove_midi(tmp_path / "groove.mid", 116, 17.0, meter)
    y, sr = load_audio(midi.render_midi(path, tmp_path / "groove.wav", 22050))
    y = y[:16 * sr]
    bars, quarters = midi.midi_downbeats(path)
    assert quarters[0] == meter
    est = estimate_meter(y, sr, midi.midi_beats(path))
    assert est.beats_per_bar == meter
    assert f_measure(est.downbeats, bars[bars < 16.0]) > 0.9


def test_midi_downbeats_follow_time_signature_changes(tmp_path):
    import mido
    mid = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=500000, time=0),
                            mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0),
                            mido.MetaMessage("time_signature", numerator=3, denominator=4, time=2 * 4 * 480),
                            mido.MetaMessage("time_signature", numerator=6, denominator=8, time=2 * 3 * 480),
                            mido.Message("note_on", note=60, velocity=90, time=0),
                            mido.Message("note_off", note=60, velocity=0, time=2 * 3 * 480)])
    mid.tracks.append(track)
    mid.save(tmp_path / "bars.mid")
    bars, quarters = midi.midi_downbeats(tmp_path / "bars.mid")
    # 2 bars of 4/4 (2 s each), 2 of 3/4 (1.5 s), 6/8 = 3 quarters (1.5 s) to the last note
    np.testing.assert_allclose(bars, [0.0, 2.0, 4.0, 5.5, 7.0, 8.5, 10.0])
    assert quarters == [4, 4, 3, 3, 3, 3, 3]


def test_beats_command_prints_meter_and_downbeats(tmp_path, capsys):
    import json

    import soundfile as sf

    from dancemosaic_core import cli
    y, beats = click_track(120, 12.0, SR, accent_every=3, seed=1, noise=0.01)
    sf.write(tmp_path / "clicks.wav", y, SR)
    assert cli.main(["beats", str(tmp_path / "clicks.wav"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["tempo_bpm"] == pytest.approx(120, rel=0.02) and out["beats_per_bar"] == 3
    err = np.abs(np.array(out["downbeats"])[:, None] - beats[::3][None, :]).min(axis=1)
    assert len(out["downbeats"]) >= 5 and np.all(err < 0.07)
    assert cli.main(["beats", str(tmp_path / "missing.wav")]) == 2
