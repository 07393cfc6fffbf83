"""`dancemosaic data prepare` end to end on tiny fixtures of all four layouts."""
import json

import numpy as np

from dancemosaic_core.cli import main
from dancemosaic_core.data.dataset import MotionWindowDataset
from tests.core.test_data_fixtures import (
    dance_joints,
    smpl_template,
    text_lines,
    write_aistpp,
    write_finedance,
    write_humanml3d,
    write_joints_dataset,
)


def test_prepare_all_sources_end_to_end(tmp_path, capsys):
    h = write_humanml3d(tmp_path / "HumanML3D", {
        "000001": (dance_joints(60), text_lines(("a person walks", 0, 0))),
        "000002": (dance_joints(10), text_lines(("too short", 0, 0))),
    }, {"train": ["000001"], "test": ["000002"]})
    fd = write_finedance(tmp_path / "FineDance", {"001": (91, "Popping", 3.5), "012": (91, "Kun", 3.5)},
                         tmp_path / "smplx_neu_J_1.npy")
    np.save(tmp_path / "smpl_J.npy", smpl_template())
    seq = "gBR_sBM_cAll_d04_mBR0_ch01"
    aist = write_aistpp(tmp_path / "aist_plusplus_final", {seq: 181}, {"val": [seq]}, [], {"mBR0": 3.5})
    boot = write_joints_dataset(tmp_path / "bootstrap", {"b1": (dance_joints(80), text_lines(("step", 0, 0)))},
                                {"train": ["b1"]}, {"b1": "House"}, {"b1": (4.5, "beats")})
    out = tmp_path / "cache"
    code = main(["data", "prepare", "--humanml3d", str(h), "--finedance", str(fd),
                 "--template", str(tmp_path / "smplx_neu_J_1.npy"), "--aistpp", str(aist),
                 "--aistpp-template", str(tmp_path / "smpl_J.npy"), "--joints", str(boot),
                 "--out", str(out), "--music-cache", str(tmp_path / "mc"), "--no-progress"])
    printed = capsys.readouterr().out
    assert code == 0
    meta = json.loads((out / "meta.json").read_text())
    assert meta["splits"] == {"train": 3, "val": 1, "test": 1}
    assert {n: s["clips"] for n, s in meta["sources"].items()} == {
        "humanml3d": 1, "finedance": 2, "aistpp": 1, "bootstrap": 1}
    assert meta["sources"]["humanml3d"]["skipped"] == {"too short": 1}
    assert meta["clips"]["finedance-012"] == {"frames": 60, "split": "test", "source": "finedance",
                                              "genre": "Kun", "music": True, "texts": 0}
    assert meta["clips"]["aistpp-" + seq]["genre"] == "Break"
    for name in ("humanml3d", "finedance", "aistpp", "bootstrap", "total", "too short: 1 (000002)"):
        assert name in printed
    ds = MotionWindowDataset(out, "train", 40, require_music=True, text_mode="genre")
    assert sorted({ds[i]["text"] for i in range(len(ds))}) == [
        "person dances on House style", "person dances on Popping style"]


def test_prepare_errors_exit_2_with_a_message(tmp_path, capsys):
    assert main(["data", "prepare", "--out", str(tmp_path / "c")]) == 2
    assert "at least one" in capsys.readouterr().err
    assert main(["data", "prepare", "--humanml3d", str(tmp_path / "nope"), "--out", str(tmp_path / "c")]) == 2
    assert "new_joints" in capsys.readouterr().err
    (tmp_path / "fd" / "motion").mkdir(parents=True)
    assert main(["data", "prepare", "--finedance", str(tmp_path / "fd"), "--out", str(tmp_path / "c")]) == 2
    assert "--template" in capsys.readouterr().err


def test_bootstrap_delegates_to_the_choreographer_module(monkeypatch, tmp_path):
    import types
    calls = []
    fake = types.ModuleType("dancemosaic_core.choreo.bootstrap")
    fake.add_arguments = lambda parser: parser.add_argument("--out", required=True)
    fake.run = lambda args: calls.append(args.out) or 0
    monkeypatch.setattr("dancemosaic_core.choreo.bootstrap", fake, raising=False)
    assert main(["data", "bootstrap", "--out", str(tmp_path / "corpus")]) == 0
    assert calls == [str(tmp_path / "corpus")]
