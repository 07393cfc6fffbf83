"""`dancemosaic bench rhythm` on a tiny model: MIDI grooves with exact beats, the three
generation conditions plus the choreographer, and pipeline kwargs reaching every dance."""
import json

import numpy as np
import pytest

from dancemosaic_core.cli.benchmarks import rhythm as bench_rhythm
from dancemosaic_core.cli import main
from dancemosaic_core.inference.itto import BEAT_ITTO
from tests.model_fixture import tiny_model_dir


def test_groove_has_the_planned_beat_grid_and_meter(tmp_path):
    from dancemosaic_core.audio.midi import midi_beats, midi_time_signatures
    path = bench_rhythm.groove_midi(tmp_path / "g.mid", 96.0, 3, 4.0, seed=1)
    beats = midi_beats(path)
    np.testing.assert_allclose(beats[:8], np.arange(8) * 60 / 96.0, atol=1e-6)
    assert beats[-1] >= 4.0 and midi_time_signatures(path) == [(0.0, 3, 4)]
    assert bench_rhythm.piece_plan(3) == [(80.0, 4), (115.0, 3), (150.0, 4)]
    with pytest.raises(bench_rhythm.DanceMosaicError, match="at least 2"):
        bench_rhythm.piece_plan(1)


def test_bench_rhythm_scores_every_condition_and_passes_pipeline_kwargs(tmp_path, monkeypatch, capsys):
    calls = []
    generate = bench_rhythm.generate_dance

    def spy(*args, **kwargs):
        calls.append(kwargs["pipeline_kwargs"])
        return generate(*args, **kwargs)

    monkeypatch.setattr(bench_rhythm, "generate_dance", spy)
    model = tiny_model_dir(tmp_path / "model")
    out = tmp_path / "rhythm.json"
    assert main(["bench", "rhythm", "--model", str(model), "--device", "cpu", "--pieces", "2", "--seconds", "3",
                 "--pipeline-kwargs", '{"steps": 2, "itto_steps": 3}', "--keep-dir", str(tmp_path / "keep"), "--out", str(out)]) == 0
    expected = {**BEAT_ITTO, "steps": 2, "itto_steps": 3}    # the CLI's beat-aware ITTO, overridden
    assert calls == [expected] * 6
    res = json.loads(out.read_text())["results"]
    assert res["pieces"] == 2 and res["pipeline_kwargs"] == expected
    first = res["per_piece"][0]
    assert first["other_piece"] == res["per_piece"][1]["piece"]
    assert first["half_beat_delay_s"] == pytest.approx(30 / 80.0)
    for cond in bench_rhythm.CONDITIONS:
        assert 0 <= first[cond]["bas"] <= 1 and first[cond]["joint_speed"] > 0, cond
        assert res["overall"][cond]["locked_share"] is not None
    assert "model_bas_minus_half_beat_music" in res["overall"]
    assert len(list((tmp_path / "keep").glob("*_choreographer.npz"))) == 2
    assert "overall" in capsys.readouterr().out
