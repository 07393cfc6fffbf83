"""MotionWindowDataset over a small cache: window shapes, padding, normalisation, music
alignment, captions by span, genre prompt, collate, and clear errors for non-caches."""
import json

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from dancemosaic_core.audio.features import MUSIC_CONDITION_DIM, music_condition
from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.data.cache import prepare_cache
from dancemosaic_core.data.dataset import MotionWindowDataset, collate, load_cache_meta
from dancemosaic_core.data.loaders import HumanML3D, JointsDataset
from dancemosaic_core.motion.normalize import Normalizer
from dancemosaic_core.motion.skeleton import (
    FEATURE_DIM,
    MUSIC_FEATURE_DIM,
    TOKEN_DOWNSAMPLE,
)
from dancemosaic_core.text.prompts import GENRE_PROMPT, genre_prompt
from tests.core.test_data_fixtures import (
    dance_joints,
    text_lines,
    write_humanml3d,
    write_joints_dataset,
)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ds")
    h = write_humanml3d(tmp / "h", {"t1": (dance_joints(50, seed=1), text_lines(("a person walks", 0, 0)))},
                        {"train": ["t1"]})
    j = write_joints_dataset(tmp / "boot", {
        "d1": (dance_joints(160, seed=2), text_lines(("first move", 0.0, 4.0), ("second move", 4.0, 8.0))),
    }, {"train": ["d1"]}, {"d1": "Krump"}, {"d1": (9.0, "beats")})
    out = tmp / "cache"
    prepare_cache([HumanML3D(h), JointsDataset(j)], out, music_cache_dir=tmp / "mc")
    return out


def test_windows_shapes_padding_normalisation_and_music(cache):
    ds = MotionWindowDataset(cache, "train", 64, random_crop=False)
    norm = Normalizer.load(cache)
    # d1: 159 feature frames -> starts 0, 64, 95; t1: 49 frames -> one padded window
    assert ds.windows == [(0, 0), (0, 64), (0, 95), (1, 0)]
    with np.load(cache / "clips" / "boot-d1.npz") as z:
        feats, music = z["features"], z["music"]
    item = ds[1]
    assert item["motion"].shape == (64, FEATURE_DIM) and item["music"].shape == (64, MUSIC_CONDITION_DIM)
    assert item["motion"].dtype == torch.float32 and item["length"] == 64 and item["has_music"]
    np.testing.assert_allclose(item["motion"].numpy(), norm.normalize(feats[64:128]), atol=1e-5)
    np.testing.assert_array_equal(item["music"].numpy()[:, :MUSIC_FEATURE_DIM], music[64:128])   # same frames as the motion
    # then the rhythm channels of the window's own beat column (what inference computes)
    np.testing.assert_array_equal(item["music"].numpy(), music_condition(music[64:128]))
    short = ds[3]
    assert short["clip"] == "humanml3d-t1" and short["length"] == 48 == 49 // TOKEN_DOWNSAMPLE * TOKEN_DOWNSAMPLE
    assert not short["has_music"] and torch.count_nonzero(short["music"]) == 0
    assert torch.count_nonzero(short["motion"][48:]) == 0 and torch.count_nonzero(short["motion"][:48]) > 0
    covered = np.zeros(len(feats), bool)
    for c, s in ds.windows[:3]:
        covered[s:s + 64] = True
    assert covered.all()


def test_random_crops_stay_inside_and_are_seeded(cache):
    ds = MotionWindowDataset(cache, "train", 32, require_music=True)
    assert {c for c, _ in ds.windows} == {0} and len(ds) == 5      # 159 frames, stride 32
    torch.manual_seed(3)
    starts = [ds[i]["start"] for i in range(len(ds)) for _ in range(10)]
    assert min(starts) >= 0 and max(starts) <= 159 - 32 and len(set(starts)) > 5
    torch.manual_seed(3)
    assert starts == [ds[i]["start"] for i in range(len(ds)) for _ in range(10)]


def test_text_follows_spans_and_genre_prompt(cache):
    assert GENRE_PROMPT.count("{genre}") == 1 and genre_prompt("Krump") == "person dances on Krump style"
    ds = MotionWindowDataset(cache, "train", 32, require_music=True, random_crop=False, text_mode="caption")
    assert {ds[0]["text"] for _ in range(20)} == {"first move"}      # window 0..32: middle in 0..80
    assert {ds[4]["text"] for _ in range(20)} == {"second move"}     # window 127..159
    ds = MotionWindowDataset(cache, "train", 32, require_music=True, random_crop=False, text_mode="genre")
    assert ds[0]["text"] == "person dances on Krump style" and ds[0]["genre"] == "Krump"
    ds = MotionWindowDataset(cache, "train", 32, require_music=True, random_crop=False)
    assert {ds[0]["text"] for _ in range(40)} == {"first move", "person dances on Krump style"}
    hml = MotionWindowDataset(cache, "train", 32, sources=["humanml3d"], text_mode="genre")
    assert hml[0]["text"] == "a person walks"                        # no genre: falls back to the caption


def test_collate_through_a_dataloader(cache):
    ds = MotionWindowDataset(cache, "train", 64)
    batch = next(iter(DataLoader(ds, batch_size=4, shuffle=False, collate_fn=collate)))
    assert batch["motion"].shape == (4, 64, FEATURE_DIM) and batch["music"].shape == (4, 64, MUSIC_CONDITION_DIM)
    assert batch["length"].tolist() == [64, 64, 64, 48] and batch["has_music"].tolist() == [True] * 3 + [False]
    assert len(batch["text"]) == 4 and batch["genre"] == ["Krump"] * 3 + [""]


def test_bad_caches_and_arguments_are_clear_errors(cache, tmp_path):
    with pytest.raises(DanceMosaicError, match="does not exist"):
        load_cache_meta(tmp_path / "none")
    with pytest.raises(DanceMosaicError, match="no meta.json"):
        load_cache_meta(tmp_path)
    (tmp_path / "meta.json").write_text(json.dumps({"format": "dancemosaic-cache", "complete": False}))
    with pytest.raises(DanceMosaicError, match="incomplete"):
        load_cache_meta(tmp_path)
    (tmp_path / "meta.json").write_text("{not json")
    with pytest.raises(DanceMosaicError, match="cannot read"):
        load_cache_meta(tmp_path)
    assert load_cache_meta(cache)["splits"] == {"train": 2, "val": 0, "test": 0}
    with pytest.raises(DanceMosaicError, match="no val clip"):
        MotionWindowDataset(cache, "val", 64)
    with pytest.raises(DanceMosaicError, match="from sources"):
        MotionWindowDataset(cache, "train", 64, sources=["finedance"])
    with pytest.raises(DanceMosaicError, match="multiple of"):
        MotionWindowDataset(cache, "train", 30)
    with pytest.raises(DanceMosaicError, match="split"):
        MotionWindowDataset(cache, "dev", 32)
