"""`dancemosaic generate` end to end on a tiny random model: whole songs, edits, inpainting and
the bad inputs of the issue (unknown genre, silence, 1-second song, bad constraints, wrong
checkpoint)."""
import json

import numpy as np
import pytest
import soundfile as sf

from dancemosaic_core.audio.synth import click_track
from dancemosaic_core.cli import main
from dancemosaic_core.motion.io import load_motion
from tests.model_fixture import tiny_model_dir


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("gen")
    model = tiny_model_dir(root)
    wave, _ = click_track(120, 12.0, sr=22050)
    sf.write(root / "song.wav", wave, 22050)
    sf.write(root / "short.wav", wave[:22050], 22050)
    sf.write(root / "silence.wav", np.zeros(22050 * 3, np.float32), 22050)
    return root, model


def gen(model, *args):
    return main(["generate", "--model", str(model), *map(str, args)])


def test_whole_song_and_reference_edits(setup, tmp_path):
    root, model = setup
    out = tmp_path / "d.npz"
    assert gen(model, "--music", root / "song.wav", "--genre", "Jazz", "--out", out) == 0
    m = load_motion(out)
    assert m.joints.shape == (240, 22, 3) and m.genre == "Jazz" and m.extra["tokens"].shape == (60, 3)
    ref = tmp_path / "ref.npz"
    assert gen(model, "--music", root / "song.wav", "--seconds", 4, "--genre", "Jazz", "--out", ref) == 0
    edit = tmp_path / "edit.npz"
    assert gen(model, "--reference", ref, "--edit", "upper", "--genre", "Jazz", "--itto-steps", 5, "--out", edit) == 0
    inp = tmp_path / "inp.npz"
    assert gen(model, "--reference", ref, "--inpaint", "1:2", "--genre", "Jazz", "--out", inp) == 0
    from dancemosaic_core.inference.loader import DanceModel
    kept = DanceModel.from_pretrained(model, device="cpu").encode_joints(load_motion(ref).joints)[0]
    tokens = load_motion(inp).extra["tokens"]
    assert tokens[:5].tolist() == kept[:5].tolist() and tokens[10:].tolist() == kept[10:].tolist()


def test_short_and_silent_songs(setup, tmp_path, capsys):
    root, model = setup
    assert gen(model, "--music", root / "short.wav", "--genre", "Jazz", "--out", tmp_path / "s.npz") == 0
    assert load_motion(tmp_path / "s.npz").joints.shape[0] == 20
    assert gen(model, "--music", root / "silence.wav", "--genre", "Jazz", "--out", tmp_path / "z.npz") == 0
    assert "silent" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["--genre", "Polka"], "unknown genre 'Polka'; this model knows: HipHop, Jazz, Popular"),
    (["--genre", "Jazz", "--seconds", "30"], "longer than the song"),
    (["--genre", "Jazz", "--inpaint", "1:2"], "need --reference"),
    (["--seconds", "nan"], "--seconds nan: give a length"),
    (["--seconds", "inf"], "--seconds inf: give a length"),
    (["--seconds", "1e9"], "--seconds 1000000000.0: give a length"),
    (["--seconds", "0"], "--seconds 0.0: give a length"),
    (["--seconds", "-5"], "--seconds -5.0: give a length"),
    (["--steps", "0"], "--steps 0: give an integer in 1..100"),
    (["--w-text", "1e300"], "text guidance weight 1e+300: give a finite number in [0, 50]"),
    (["--w-text", "-3"], "text guidance weight -3.0: give a finite number in [0, 50]"),
])
def test_bad_arguments_give_clear_errors(setup, tmp_path, capsys, args, message):
    root, model = setup
    assert gen(model, "--music", root / "song.wav", *args, "--out", tmp_path / "x.npz") == 2
    assert message in capsys.readouterr().err


def test_bad_constraints_and_checkpoints(setup, tmp_path, capsys):
    root, model = setup
    bad = tmp_path / "c.json"
    bad.write_text(json.dumps({"constraints": [{"time": 1, "joint": "tail", "position": [0, 1, 0]}]}))
    assert gen(model, "--genre", "Jazz", "--constraints", bad, "--out", tmp_path / "x.npz") == 2
    assert "unknown joints ['tail']" in capsys.readouterr().err
    bad.write_text('{"constraints": [{"time": 1, "joint": "head", "position": [0, NaN, 0]}]}')
    assert gen(model, "--genre", "Jazz", "--constraints", bad, "--out", tmp_path / "x.npz") == 2
    assert "NaN" in capsys.readouterr().err
    bad.write_text(json.dumps({"constraints": [{"time": 1, "joint": "head", "position": [0, 1e300, 0]}]}))
    assert gen(model, "--genre", "Jazz", "--constraints", bad, "--out", tmp_path / "x.npz") == 2
    assert "positions beyond 10 m" in capsys.readouterr().err
    bad.write_text(json.dumps({"constraints": [{"time": 1, "joint": "head", "position": [0, 1, 0], "weight": 1e300}]}))
    assert gen(model, "--genre", "Jazz", "--constraints", bad, "--out", tmp_path / "x.npz") == 2
    assert "weights outside 0..100" in capsys.readouterr().err
    bad.write_text(json.dumps({"constraints": [{"time": 9, "joint": "head", "position": [0, 1, 0]}]}))
    assert gen(model, "--music", root / "song.wav", "--seconds", 4, "--genre", "Jazz", "--constraints", bad,
               "--out", tmp_path / "x.npz") == 2
    assert "at 9 s lies past the end of the dance (4 s)" in capsys.readouterr().err
    wrong = tmp_path / "wrong"
    (wrong / "tokenizer").mkdir(parents=True)
    for f in (model / "t2m").iterdir():
        (wrong / "tokenizer" / f.name).write_bytes(f.read_bytes())
    (wrong / "t2m").symlink_to(model / "t2m")
    assert gen(wrong, "--genre", "Jazz", "--out", tmp_path / "x.npz") == 2
    assert "is a t2m checkpoint, expected a tokenizer checkpoint" in capsys.readouterr().err


def test_missing_files_are_refused_before_the_model_loads(tmp_path, capsys):
    """The model directory does not exist: a missing music file must be named first."""
    assert gen(tmp_path / "no-model", "--music", tmp_path / "nope.wav", "--out", tmp_path / "x.npz") == 2
    assert "--music " + str(tmp_path / "nope.wav") + ": no such file" in capsys.readouterr().err


def test_retarget_names_missing_and_truncated_motion_files(tmp_path, capsys):
    assert main(["retarget", str(tmp_path / "nope.npz")]) == 2
    err = capsys.readouterr().err
    assert "{path}" not in err and f"--out {tmp_path / 'nope.npz'}" in err
    motion = tmp_path / "m.npz"
    np.savez(motion, joints=np.zeros((40, 22, 3), np.float32), fps=20.0)
    truncated = tmp_path / "t.npz"
    truncated.write_bytes(motion.read_bytes()[:200])
    assert main(["retarget", str(truncated)]) == 2
    err = capsys.readouterr().err
    assert f"cannot read motion file {truncated}" in err and "Traceback" not in err


def test_dataset_mode_and_shuffled_music_control(setup, tmp_path):
    root, model = setup
    ds = tmp_path / "ds"
    (ds / "new_joints").mkdir(parents=True)
    (ds / "music").mkdir()
    from tests.core.test_train_fixtures import synthetic_joints
    wave, _ = click_track(120, 3.0, sr=22050)
    for i in range(3):
        np.save(ds / "new_joints" / f"c{i}.npy", synthetic_joints(60, i))
        sf.write(ds / "music" / f"c{i}.wav", wave[: 22050 * (i + 1)], 22050)
    (ds / "test.txt").write_text("c0\nc1\nc2\n")
    (ds / "genres.txt").write_text("c0 Jazz\nc1 HipHop\nc2 Jazz\n")
    out = tmp_path / "gen"
    assert gen(model, "--dataset", ds, "--split", "test", "--shuffle-music", "--out", out) == 0
    for i in range(3):
        m = load_motion(out / f"c{i}.npz")
        assert m.joints.shape[0] == 20 * (i + 1) and m.music.endswith(f"c{i}.wav")
        assert str(m.extra["music_source"]) != f"c{i}"


@pytest.mark.parametrize("control", ["half-beat-delay", "other-tempo"])
def test_dataset_music_controls(setup, tmp_path, control):
    """half-beat-delay: own music, shifted half a beat; other-tempo: another song >10 % away."""
    root, model = setup
    ds = tmp_path / "ds"
    (ds / "new_joints").mkdir(parents=True)
    (ds / "music").mkdir()
    from tests.core.test_train_fixtures import synthetic_joints
    bpms = {"slow_c0_d0": 80, "slow_c0_d1": 80, "mid_c0_d0": 120, "fast_c0_d0": 150}
    for i, (item, bpm) in enumerate(bpms.items()):
        wave, _ = click_track(bpm, 4.0, sr=22050)
        np.save(ds / "new_joints" / f"{item}.npy", synthetic_joints(80, i))
        sf.write(ds / "music" / f"{item}.wav", wave, 22050)
    (ds / "test.txt").write_text("\n".join(bpms) + "\n")
    out = tmp_path / "gen"
    assert gen(model, "--dataset", ds, "--split", "test", "--genre", "Jazz", "--music-control", control,
               "--out", out) == 0
    for item, bpm in bpms.items():
        m = load_motion(out / f"{item}.npz")
        source = str(m.extra["music_source"])
        assert m.music.endswith(f"{item}.wav")
        if control == "half-beat-delay":
            assert source == item and float(m.extra["music_delay_s"]) == pytest.approx(30 / bpm, rel=0.1)
        else:
            assert source.split("_c")[0] != item.split("_c")[0] and abs(bpms[source] / bpm - 1) > 0.1
