"""`dancemosaic eval` end to end on tiny fixtures: click-track music with known beats, motions
that bounce on those beats (generated, .npz) and a joints-dataset ground truth."""
import json

import numpy as np
import pytest
import soundfile as sf

from dancemosaic_core.audio.synth import click_track
from dancemosaic_core.cli import main
from dancemosaic_core.eval.runner import derangement, load_items
from dancemosaic_core.motion.io import Motion, save_motion
from dancemosaic_core.motion.skeleton import (
    LEFT_FOOT_JOINTS,
    MOTION_FPS,
    RIGHT_FOOT_JOINTS,
    rest_pose,
)

SR = 22050
SECONDS = 6.0


def dancer(beat_s: float, seed: int, fps: float = MOTION_FPS) -> np.ndarray:
    """Bobbing with speed minima on the beats, arms swinging, a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(SECONDS * fps)) / fps
    pose = rest_pose()
    pose[:, 1] -= pose[[LEFT_FOOT_JOINTS[1], RIGHT_FOOT_JOINTS[1]], 1].min()
    joints = np.repeat(pose[None], len(t), axis=0)
    upper = [j for j in range(22) if j not in (0, 1, 2, 4, 5, 7, 8, 10, 11)]
    joints[:, upper, 1] += (0.04 + 0.02 * rng.random()) * (1 - np.cos(np.pi * t / beat_s))[:, None]
    joints[:, [18, 19, 20, 21], 0] += 0.1 * np.sin(np.pi * t / beat_s + rng.random())[:, None]
    return joints + rng.normal(scale=0.002, size=joints.shape)


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    music, gen, gt = root / "music", root / "generated", root / "gt"
    for d in (music, gen, gt / "new_joints", gt / "music"):
        d.mkdir(parents=True)
    bpms = {"a": 100.0, "b": 120.0, "c": 90.0}
    genres = []
    for i, (name, bpm) in enumerate(bpms.items()):
        wave, _ = click_track(bpm, SECONDS, SR, seed=i)
        sf.write(music / f"{name}.wav", wave, SR)
        sf.write(gt / "music" / f"gt_{name}.wav", wave, SR)
        save_motion(gen / f"{name}.npz", Motion(joints=dancer(60 / bpm, i), genre="pop" if i else "jazz",
                                                music=f"{name}.wav"))
        np.save(gt / "new_joints" / f"gt_{name}.npy", dancer(60 / bpm, 10 + i).astype(np.float32))
        genres.append(f"gt_{name} {'pop' if i else 'jazz'}")
    (gt / "genres.txt").write_text("\n".join(genres) + "\n")
    (gt / "test.txt").write_text("gt_a\ngt_b\n")
    return root


def test_loaders_read_both_layouts(fixtures):
    gen = load_items(fixtures / "generated", music_dir=fixtures / "music")
    assert [i.name for i in gen] == ["a", "b", "c"] and all(i.music is not None for i in gen)
    gt = load_items(fixtures / "gt", split="test")
    assert [(i.name, i.genre) for i in gt] == [("gt_a", "jazz"), ("gt_b", "pop")]
    assert gt[0].music.name == "gt_a.wav" and gt[0].fps == MOTION_FPS


def test_derangement_has_no_fixed_point():
    for seed in range(5):
        perm = derangement(4, seed)
        assert sorted(perm) == [0, 1, 2, 3] and not np.any(perm == np.arange(4))


def test_eval_cli_writes_json_report_and_plots(fixtures, tmp_path, capsys):
    out = tmp_path / "report"
    code = main(["eval", "--generated", str(fixtures / "generated"), "--gt", str(fixtures / "gt"),
                 "--music", str(fixtures / "music"), "--protocol", "finedance", "--out", str(out),
                 "--quiet"])
    assert code == 0
    result = json.loads((out / "eval.json").read_text())
    assert result["protocol"]["name"] == "finedance" and result["protocol"]["fps"] == 30.0
    m = result["metrics"]
    assert m["ground_truth"]["fid_k"] == pytest.approx(0.0, abs=1e-6)
    gen = m["generated"]
    assert gen["n"] == 3 and gen["with_music"] == 3
    for key in ("fid_k", "fid_g", "div_k", "div_g", "bas", "bas_motion_to_music", "pfc"):
        assert np.isfinite(gen[key]), key
    # dancers bounce on the beats of their own music: better than the shuffled-music control
    assert m["ground_truth"]["bas"] > 0.7
    assert m["ground_truth"]["bas"] > m["ground_truth_shuffled_music"]["bas"]
    assert set(result["per_genre"]["generated"]) == {"jazz", "pop"}
    report = (out / "README.md").read_text()
    assert "finedance" in report and "| generated |" in report and "## Per genre: generated" in report
    assert (out / "plots" / "features.png").stat().st_size > 1000
    assert list((out / "plots").glob("beats_generated_*.png"))
    assert "wrote" in capsys.readouterr().out


def test_eval_cli_bad_protocol_and_empty_dir(fixtures, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    code = main(["eval", "--generated", str(empty), "--gt", str(fixtures / "gt"), "--quiet",
                 "--out", str(tmp_path / "o")])
    assert code == 2
    assert "no motions" in capsys.readouterr().err


def test_choreographer_baseline_uses_the_choreo_api(fixtures, monkeypatch):
    """With dancemosaic_core.choreo present, each generated motion's music is choreographed
    (choreograph(wave, sr, genre, seed) -> Motion) and scored as its own set."""
    import sys
    import types

    from dancemosaic_core.eval.protocols import get_protocol
    from dancemosaic_core.eval.runner import evaluate

    calls = []

    def choreograph(wave, sr, genre, seed):
        calls.append((len(wave) / sr, genre, seed))
        return Motion(joints=dancer(0.5, seed), fps=MOTION_FPS, genre=genre)

    monkeypatch.setitem(sys.modules, "dancemosaic_core.choreo", types.SimpleNamespace(choreograph=choreograph))
    gen = load_items(fixtures / "generated", music_dir=fixtures / "music")
    gt = load_items(fixtures / "gt")
    result, _ = evaluate(gen, gt, get_protocol("aistpp"), seed=7, progress=False)
    assert [c[1:] for c in calls] == [("jazz", 7), ("pop", 8), ("pop", 9)]
    assert calls[0][0] == pytest.approx(SECONDS, abs=0.01)
    assert result["metrics"]["choreographer"]["n"] == 3
    assert set(result["per_genre"]["choreographer"]) == {"jazz", "pop"}
    assert result["protocol"]["name"] == "aistpp" and not result["notes"]


def test_eval_cli_control_sets_and_rhythm_table(fixtures, tmp_path):
    """A control set of dancers half a beat late: lower BAS than the model on the true beats,
    higher against the half-beat-late beats; the report shows both sets' rhythm columns."""
    late = tmp_path / "late"
    late.mkdir()
    for i, (name, bpm) in enumerate({"a": 100.0, "b": 120.0, "c": 90.0}.items()):
        half = int(round(30 / bpm * MOTION_FPS))
        save_motion(late / f"{name}.npz", Motion(joints=dancer(60 / bpm, i)[half:], music=f"{name}.wav"))
    out = tmp_path / "report"
    assert main(["eval", "--generated", str(fixtures / "generated"), "--gt", str(fixtures / "gt"),
                 "--music", str(fixtures / "music"), "--out", str(out), "--no-baselines",
                 "--control", f"model_late={late}", "--quiet"]) == 0
    m = json.loads((out / "eval.json").read_text())["metrics"]
    assert list(m) == ["generated", "model_late"]
    assert m["generated"]["bas"] > m["model_late"]["bas"] + 0.2
    assert m["model_late"]["bas_half_beat"] > m["model_late"]["bas"]
    assert m["generated"]["bas_minus_half_beat"] > 0.2 and m["generated"]["locked_share"] == 1.0
    for key in ("bas_chance", "period_ratio_median", "joint_speed", "bas_minus_chance"):
        assert np.isfinite(m["model_late"][key]), key
    report = (out / "README.md").read_text()
    assert "## Rhythm" in report and "| model_late |" in report and "BAS random phase" in report


def test_eval_cli_rejects_a_bad_control(fixtures, tmp_path, capsys):
    args = ["eval", "--generated", str(fixtures / "generated"), "--gt", str(fixtures / "gt"), "--quiet",
            "--out", str(tmp_path / "o"), "--no-baselines"]
    assert main(args + ["--control", "no_directory"]) == 2
    assert "NAME=DIR" in capsys.readouterr().err
    assert main(args + ["--control", f"ground_truth={fixtures / 'generated'}"]) == 2
    assert "taken by a built-in set" in capsys.readouterr().err
