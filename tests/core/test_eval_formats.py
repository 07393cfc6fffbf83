"""`dancemosaic eval` inputs other tools write: (T, 22, 3) .npy arrays, Bailando and EDGE results."""
import pickle

import numpy as np
import pytest

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.eval.formats import load_joints_file
from dancemosaic_core.eval.runner import load_items
from dancemosaic_core.motion.skeleton import NUM_JOINTS, rest_pose


def motion(frames=12):
    return np.repeat(rest_pose()[None], frames, axis=0) + np.linspace(0, 1, frames)[:, None, None]


def test_plain_npy_needs_fps_and_the_right_shape(tmp_path):
    np.save(tmp_path / "a.npy", motion())
    joints, fps = load_joints_file(tmp_path / "a.npy", fps=30)
    assert joints.shape == (12, NUM_JOINTS, 3) and fps == 30
    with pytest.raises(DanceMosaicError, match="--fps"):
        load_joints_file(tmp_path / "a.npy")
    np.save(tmp_path / "b.npy", np.zeros((12, 24, 2)))
    with pytest.raises(DanceMosaicError, match=r"shape \(12, 24, 2\).*\(frames, 22, 3\)"):
        load_joints_file(tmp_path / "b.npy", fps=30)


def test_bailando_result_is_24_smpl_joints_at_60_fps(tmp_path):
    pos = np.concatenate([motion(), np.ones((12, 2, 3))], axis=1).reshape(12, 72)
    np.save(tmp_path / "gBR_sBM_cAll_d04_mBR0_ch01.pkl", {"pred_position": pos})   # -> .pkl.npy
    items = load_items(tmp_path)
    assert [i.name for i in items] == ["gBR_sBM_cAll_d04_mBR0_ch01"] and items[0].fps == 60.0
    np.testing.assert_allclose(items[0].joints, motion(), rtol=1e-6)
    np.save(tmp_path / "bad.npy", {"pred_position": np.zeros((12, 66))})
    with pytest.raises(DanceMosaicError, match=r"\(frames, 72\)"):
        load_joints_file(tmp_path / "bad.npy")


def test_edge_result_is_z_up_at_30_fps(tmp_path):
    y_up = motion()
    z_up = np.stack([y_up[..., 0], -y_up[..., 2], y_up[..., 1]], axis=-1)      # EDGE's +90 deg about x
    full = np.concatenate([z_up, np.zeros((12, 2, 3))], axis=1)
    with open(tmp_path / "e0_0_song.pkl", "wb") as f:
        pickle.dump({"smpl_poses": np.zeros((12, 72)), "smpl_trans": z_up[:, 0], "full_pose": full}, f)
    joints, fps = load_joints_file(tmp_path / "e0_0_song.pkl")
    assert fps == 30.0
    np.testing.assert_allclose(joints, y_up, rtol=1e-6, atol=1e-6)


def test_pickles_with_other_objects_are_refused(tmp_path):
    with open(tmp_path / "x.pkl", "wb") as f:
        pickle.dump({"full_pose": np.zeros((5, 24, 3)), "evil": DanceMosaicError("x")}, f)
    with pytest.raises(DanceMosaicError, match="refusing to unpickle"):
        load_joints_file(tmp_path / "x.pkl")


def test_eval_cli_reads_npy_folders_and_reports_near_constant_dims(tmp_path, capsys):
    import json

    from dancemosaic_core.cli import main
    rng = np.random.default_rng(0)
    for folder, n in (("gen", 3), ("gt", 4)):
        (tmp_path / folder).mkdir()
        for i in range(n):
            walk = np.cumsum(rng.normal(scale=0.01, size=(40, NUM_JOINTS, 3)), axis=0)
            np.save(tmp_path / folder / f"m{i}.npy", (motion(40) + walk).astype(np.float32))
    out = tmp_path / "report"
    assert main(["eval", "--generated", str(tmp_path / "gen"), "--gt", str(tmp_path / "gt"), "--fps", "30",
                 "--protocol", "aistpp", "--no-baselines", "--quiet", "--out", str(out)]) == 0
    result = json.loads((out / "eval.json").read_text())
    diag = result["feature_diagnostics"]
    assert diag["kinetic"]["dims"] == 66 and diag["geometric"]["dims"] == 32
    assert len(diag["geometric"]["near_constant"]) > 0          # 4 short motions never show some features
    report = (out / "README.md").read_text()
    assert "Near-constant ground-truth feature dimensions" in report and "comparable with published" in report
