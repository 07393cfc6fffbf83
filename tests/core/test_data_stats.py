"""Corpus dance speed (data/stats.py) -> MODEL/motion_stats.json -> the loader's energy floor."""
import json
import shutil

import numpy as np
import pytest

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.data.stats import (
    clip_mean_speed,
    dance_speed_stats,
    write_motion_stats,
)
from dancemosaic_core.inference.loader import DanceModel
from dancemosaic_core.models.checkpoint import MOTION_STATS_FILE
from tests.core.test_train_fixtures import GENRES, make_cache
from tests.model_fixture import tiny_model_dir


def test_clip_speed_is_metres_per_second():
    t = np.arange(40) / 20.0
    joints = np.zeros((40, 22, 3))
    joints[..., 0] = 0.7 * t[:, None]                   # every joint walks at 0.7 m/s
    assert clip_mean_speed(joints, 20.0) == pytest.approx(0.7)
    assert np.isnan(clip_mean_speed(joints[:2], 20.0))


def test_dance_speed_is_the_median_per_genre_of_the_train_dances(tmp_path):
    cache = make_cache(tmp_path / "cache", clips=6, frames=49)
    stats = dance_speed_stats(cache)
    per_clip = {g: [] for g in GENRES}
    for i in range(6):                                   # the train clips; toy-006 is val
        with np.load(cache / "clips" / f"toy-{i:03d}.npz") as z:
            per_clip[str(z["genre"])].append(clip_mean_speed(z["joints"]))
    for genre in GENRES:
        assert stats[genre] == pytest.approx(np.median(per_clip[genre]), rel=0.02)   # features -> joints round trip
    assert stats["all"] == pytest.approx(np.median(per_clip["hiphop"] + per_clip["jazz"]), rel=0.02)
    with pytest.raises(DanceMosaicError, match="no dances"):
        dance_speed_stats(cache, split="test")


def test_loader_reads_the_corpus_speed_and_refuses_a_bad_file(tmp_path):
    model = tiny_model_dir(tmp_path / "model")
    assert DanceModel.from_pretrained(model, device="cpu").corpus_dance_speed("jazz") == 0.0   # no stats: own speed
    write_motion_stats(model, {"all": 0.4, "jazz": 0.6}, cache="c", split="train")
    loaded = DanceModel.from_pretrained(model, device="cpu")
    assert loaded.corpus_dance_speed("jazz") == pytest.approx(0.6)
    assert loaded.corpus_dance_speed("waltz") == pytest.approx(0.4)
    assert loaded.corpus_dance_speed(None) == pytest.approx(0.4)
    bad = tmp_path / "bad"
    shutil.copytree(model, bad)
    (bad / MOTION_STATS_FILE).write_text(json.dumps({"dance_speed_mps": {"all": -1}}))
    with pytest.raises(DanceMosaicError, match="not in"):
        DanceModel.from_pretrained(bad, device="cpu")
    (bad / MOTION_STATS_FILE).write_text("{")
    with pytest.raises(DanceMosaicError, match="train assemble"):
        DanceModel.from_pretrained(bad, device="cpu")
