"""Training cache: layout, feature/joint/music alignment, train-only normalisation,
determinism, skips of bad music, output-directory safety."""
import json

import numpy as np
import pytest

from dancemosaic_core.audio import music_features_cached
from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.data.cache import FEAT_BIAS, prepare_cache
from dancemosaic_core.data.loaders import HumanML3D, JointsDataset
from dancemosaic_core.motion.normalize import Normalizer
from dancemosaic_core.motion.representation import (
    feature_slices,
    features_to_joints,
    joints_to_features,
)
from dancemosaic_core.motion.skeleton import FEATURE_DIM, MUSIC_FEATURE_DIM
from tests.core.test_data_fixtures import (
    dance_joints,
    text_lines,
    write_humanml3d,
    write_joints_dataset,
)


@pytest.fixture(scope="module")
def music_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("music_cache")


def _corpus(tmp_path):
    """HumanML3D (3 clips, one with a span) + a joints dataset with music (long, short, silent,
    unreadable)."""
    h = write_humanml3d(tmp_path / "h", {
        "000001": (dance_joints(80, seed=1), text_lines(("walk", 0, 0), ("wave", 0.5, 3.0))),
        "000002": (dance_joints(60, seed=2) * 1.3, text_lines(("big walk", 0, 0))),
        "000003": (dance_joints(70, seed=3), text_lines(("test walk", 0, 0))),
    }, {"train": ["000001"], "val": ["000002"], "test": ["000003"]})
    j = write_joints_dataset(tmp_path / "boot", {
        "long": (dance_joints(100, seed=4), text_lines(("dance", 0, 0), ("spin", 1.0, 2.0))),
        "cut": (dance_joints(100, seed=5), text_lines(("dance", 0, 0), ("late", 4.0, 5.0))),
        "silent": (dance_joints(60, seed=6), text_lines(("dance", 0, 0))),
        "broken": (dance_joints(60, seed=7), text_lines(("dance", 0, 0))),
    }, {"train": ["long", "cut", "silent", "broken"]}, {"long": "Break", "cut": "Pop"},
        {"long": (6.0, "beats"), "cut": (3.0, "beats"), "silent": (4.0, "silent")})
    (j / "music" / "broken.wav").write_bytes(b"RIFF\x00\x00 not audio")
    return h, j


def test_cache_layout_alignment_and_skips(tmp_path, music_cache):
    h, j = _corpus(tmp_path)
    summary = prepare_cache([HumanML3D(h), JointsDataset(j)], tmp_path / "cache", music_cache_dir=music_cache)
    out = tmp_path / "cache"
    meta = json.loads((out / "meta.json").read_text())
    assert meta["complete"] and meta["splits"] == {"train": 4, "val": 1, "test": 1}
    assert sorted((out / "splits" / "train.txt").read_text().split()) == [
        "boot-cut", "boot-long", "humanml3d-000001", "humanml3d-000001_10_60"]
    assert summary.report.ids("boot") == ["broken", "silent"]
    assert dict(summary.report.reasons("boot")) == {"silent music": 1, "unreadable music": 1}
    assert meta["sources"]["boot"]["skipped"] == {"silent music": 1, "unreadable music": 1}
    assert "boot" in summary.table() and "silent music: 1 (silent)" in summary.table()

    with np.load(out / "clips" / "humanml3d-000001.npz", allow_pickle=False) as z:
        assert z["features"].shape == (79, FEATURE_DIM) and z["joints"].shape == (80, 22, 3)
        assert "music" not in z and list(z["texts"]) == ["walk"] and str(z["genre"]) == ""
        # joints are stored in the frame of features_to_joints
        np.testing.assert_allclose(features_to_joints(z["features"]), z["joints"][:-1], atol=1e-4)
        np.testing.assert_allclose(z["features"], joints_to_features(dance_joints(80, seed=1)), atol=1e-6)

    music = music_features_cached(j / "music" / "long.wav", 20, music_cache)
    with np.load(out / "clips" / "boot-long.npz", allow_pickle=False) as z:
        assert z["features"].shape == (99, FEATURE_DIM) and z["music"].shape == (99, MUSIC_FEATURE_DIM)
        np.testing.assert_array_equal(z["music"], music[:99])       # feature frame t = music frame t
        assert list(z["texts"]) == ["dance", "spin"] and z["text_spans"].tolist() == [[0, 99], [20, 40]]
        assert str(z["genre"]) == "Break" and str(z["source"]) == "boot"
    # music of 3 s = 61 frames < 99 motion feature frames: the clip is cut to the music
    short = music_features_cached(j / "music" / "cut.wav", 20, music_cache)
    with np.load(out / "clips" / "boot-cut.npz", allow_pickle=False) as z:
        assert len(short) == 61 and z["features"].shape[0] == 61 and z["joints"].shape[0] == 62
        np.testing.assert_array_equal(z["music"], short)
        assert list(z["texts"]) == ["dance"]                         # the 4-5 s span lies past the cut


def test_normaliser_is_fitted_on_train_clips_only(tmp_path, music_cache):
    h, j = _corpus(tmp_path)
    prepare_cache([HumanML3D(h), JointsDataset(j)], tmp_path / "cache", music_cache_dir=music_cache)
    out = tmp_path / "cache"
    train = [np.load(out / "clips" / f"{i}.npz")["features"] for i in (out / "splits" / "train.txt").read_text().split()]
    every = [np.load(p)["features"] for p in sorted((out / "clips").glob("*.npz"))]
    expected = Normalizer.fit(train, groups=feature_slices(), feat_bias=FEAT_BIAS)
    stored = Normalizer.load(out)
    np.testing.assert_allclose(stored.mean, expected.mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(stored.std, expected.std, rtol=1e-4, atol=1e-6)
    with_val_test = Normalizer.fit(every, groups=feature_slices(), feat_bias=FEAT_BIAS)
    assert not np.allclose(stored.mean, with_val_test.mean, atol=1e-3)  # the scaled val clip would shift it


def test_cache_is_deterministic_and_rebuilds_in_place(tmp_path, music_cache):
    h, j = _corpus(tmp_path)
    a, b = tmp_path / "a", tmp_path / "b"
    prepare_cache([HumanML3D(h), JointsDataset(j)], a, music_cache_dir=music_cache)
    prepare_cache([HumanML3D(h), JointsDataset(j)], b, music_cache_dir=music_cache)
    assert (a / "meta.json").read_text() == (b / "meta.json").read_text()
    for p in sorted((a / "clips").glob("*.npz")):
        za, zb = np.load(p), np.load(b / "clips" / p.name)
        assert za.files == zb.files
        for k in za.files:
            np.testing.assert_array_equal(za[k], zb[k])
    np.testing.assert_array_equal(np.load(a / "std.npy"), np.load(b / "std.npy"))
    # rebuilding an existing cache with fewer sources leaves no stale clip behind
    prepare_cache([HumanML3D(h)], a, music_cache_dir=music_cache)
    assert all(p.name.startswith("humanml3d-") for p in (a / "clips").iterdir())


def test_output_dir_and_empty_inputs_are_clear_errors(tmp_path, music_cache):
    h, _ = _corpus(tmp_path)
    other = tmp_path / "photos"
    other.mkdir()
    (other / "cat.jpg").write_bytes(b"x")
    with pytest.raises(DanceMosaicError, match="not a dataset cache"):
        prepare_cache([HumanML3D(h)], other)
    with pytest.raises(DanceMosaicError, match="at least one"):
        prepare_cache([], tmp_path / "c")
    with pytest.raises(DanceMosaicError, match="new_joints"):
        prepare_cache([HumanML3D(tmp_path / "missing")], tmp_path / "c")
    only_val = write_humanml3d(tmp_path / "v", {"1": (dance_joints(60), text_lines(("x", 0, 0)))}, {"val": ["1"]})
    with pytest.raises(DanceMosaicError, match="no usable train clip"):
        prepare_cache([HumanML3D(only_val)], tmp_path / "c2")


def test_music_at_any_rate_and_channel_count_aligns_the_same(tmp_path, music_cache):
    import soundfile as sf
    joints = dance_joints(120)
    clips = {k: (joints, text_lines(("dance", 0, 0))) for k in ("mono8k", "stereo96k", "ref")}
    j = write_joints_dataset(tmp_path / "j", clips, {"train": list(clips)}, {}, {"ref": (4.5, "beats")})
    wave, sr = sf.read(j / "music" / "ref.wav")
    t_in = np.arange(len(wave)) / sr
    for name, rate, channels in (("mono8k", 8000, 1), ("stereo96k", 96000, 2)):
        t = np.arange(int(4.5 * rate)) / rate
        resampled = np.interp(t, t_in, wave)
        sf.write(j / "music" / f"{name}.wav", np.stack([resampled] * channels, axis=1), rate)
    prepare_cache([JointsDataset(j)], tmp_path / "c", music_cache_dir=music_cache)
    frames = {k: np.load(tmp_path / "c" / "clips" / f"j-{k}.npz")["music"].shape for k in clips}
    assert frames == {k: (91, MUSIC_FEATURE_DIM) for k in clips}    # 4.5 s of music: 91 frames at 20 fps
