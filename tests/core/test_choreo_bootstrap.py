"""`dancemosaic data bootstrap`: the corpus layout JointsDataset and `data prepare` read,
splits by song, reproducibility, and the Debian packages' music."""
import json
import shutil

import numpy as np
import pytest
import soundfile as sf

from dancemosaic_core.audio import midi
from dancemosaic_core.audio.synth import click_track
from dancemosaic_core.choreo import bootstrap, songs
from dancemosaic_core.choreo.songs import Song
from dancemosaic_core.cli import main
from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.data.items import SkipReport, iter_items
from dancemosaic_core.data.loaders import JointsDataset
from dancemosaic_core.motion.skeleton import MOTION_FPS


@pytest.fixture
def click_songs(tmp_path, monkeypatch):
    """Three short 'recordings' (click tracks) standing in for the Debian music."""
    fake = []
    for i, (bpm, genres) in enumerate([(100, ("Hiphop", "Jazz")), (120, ("Popping",)), (90, ("Kun", "Tai"))]):
        wave, _ = click_track(bpm, 11.0, sr=22050, seed=i, noise=0.01)
        path = tmp_path / "songs" / f"clicks{i}.wav"
        path.parent.mkdir(exist_ok=True)
        sf.write(path, wave, 22050)
        fake.append(Song(f"clicks{i}", path, "recording", genres, "test"))
    monkeypatch.setattr(bootstrap, "find_songs", lambda: fake)
    return fake


def build(out, *extra):
    return main(["data", "bootstrap", "--out", str(out), "--seconds-per-clip", "5", "--dances-per-clip", "2",
                 "--no-progress", *extra])


def test_tiny_corpus_loads_and_prepares(tmp_path, click_songs, capsys):
    out = tmp_path / "corpus"
    assert build(out, "--jobs", "1") == 0
    printed = capsys.readouterr().out
    assert "minutes" in printed and "Hiphop" in printed
    report = SkipReport()
    items = list(iter_items(JointsDataset(out), report))
    assert report.count() == 0 and len(items) == 3 * 2 * 2          # songs x clips x dances
    split_of_song = {}
    for item in items:
        song = item.id.split("_c")[0]
        assert split_of_song.setdefault(song, item.split) == item.split   # one split per song
        assert item.genre in {"Hiphop", "Jazz", "Popping", "Kun", "Tai"}
        assert item.music is not None and item.music.is_file()
        seconds = sf.info(item.music).duration
        assert abs(item.frames / MOTION_FPS - seconds) < 0.1
        assert len(item.texts) >= 2 and all(0 <= a < b <= item.frames for a, b in item.spans)
        assert item.spans[0] == (0, item.frames)                            # the whole-dance caption
    assert sorted(split_of_song.values()) == ["test", "train", "val"]
    d0, d1 = (np.load(out / "new_joints" / f"clicks0_c000_d{d}.npy") for d in (0, 1))
    assert np.abs(d0 - d1).max() > 0.05                                     # two different dances
    assert (out / "music" / "clicks0_c000_d0.wav").stat().st_ino == (out / "music" / "clicks0_c000_d1.wav").stat().st_ino
    meta = json.loads((out / "corpus.json").read_text())
    assert meta["complete"] and len(meta["dances"]) == 12

    cache = tmp_path / "cache"
    assert main(["data", "prepare", "--joints", str(out), "--out", str(cache), "--music-cache",
                 str(tmp_path / "mc"), "--no-progress"]) == 0
    prepared = json.loads((cache / "meta.json").read_text())
    assert prepared["splits"] == {"train": 4, "val": 4, "test": 4}


def test_same_seed_same_corpus_any_jobs(tmp_path, click_songs):
    assert build(tmp_path / "a", "--jobs", "1") == 0
    assert build(tmp_path / "b", "--jobs", "2") == 0
    for sub in ("new_joints", "texts", "music"):
        names = sorted(p.name for p in (tmp_path / "a" / sub).iterdir())
        assert names == sorted(p.name for p in (tmp_path / "b" / sub).iterdir())
        for name in names:
            assert (tmp_path / "a" / sub / name).read_bytes() == (tmp_path / "b" / sub / name).read_bytes()
    assert build(tmp_path / "a", "--jobs", "1", "--seed", "5") == 0       # rebuilds in place
    other = np.load(tmp_path / "a" / "new_joints" / "clicks0_c000_d0.npy")
    assert np.abs(other - np.load(tmp_path / "b" / "new_joints" / "clicks0_c000_d0.npy")).max() > 0.05


def test_refuses_a_directory_that_is_not_a_corpus(tmp_path, click_songs, capsys):
    (tmp_path / "precious.txt").write_text("keep me")
    assert build(tmp_path, "--jobs", "1") == 2
    assert "not a bootstrap corpus" in capsys.readouterr().err
    assert (tmp_path / "precious.txt").is_file()


def test_missing_packages_are_named(tmp_path, monkeypatch):
    monkeypatch.setattr(midi, "OPENMSX_DIR", tmp_path / "nothing")
    with pytest.raises(DanceMosaicError, match="openttd-openmsx.*make install"):
        songs.find_songs()
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(DanceMosaicError, match="fluidsynth.*make install"):
        songs.synthesiser()


def test_clips_are_cut_on_beats():
    beats = np.arange(0.0, 47.0, 0.5)
    bounds = bootstrap.clip_bounds(beats, 1.0, 46.2, 15.0)
    assert bounds[0][0] == 1.0 and bounds[-1][1] == 46.2
    assert all(b == c for (_, b), (c, _) in zip(bounds, bounds[1:]))
    assert all(np.isclose(beats, b).any() for _, b in bounds[:-1])
    assert all(7.5 <= b - a <= 22.5 for a, b in bounds)
    assert bootstrap.clip_bounds(beats, 0.0, 4.0, 15.0) == [(0.0, 4.0)]
    assert bootstrap.clip_bounds(beats, 0.0, 2.0, 15.0) == []


def test_splits_are_by_song_and_seeded():
    fake = [Song(f"s{i}", None, "midi", ("Jazz",), "x") for i in range(20)]
    splits = bootstrap.assign_splits(fake, 0)
    assert sorted(splits.values()).count("test") == 2 and sorted(splits.values()).count("val") == 2
    assert bootstrap.assign_splits(fake, 0) == splits and bootstrap.assign_splits(fake, 1) != splits
    assert set(bootstrap.assign_splits(fake[:1], 0).values()) == {"train"}


def test_caption_tokens():
    assert bootstrap.tokens("a person steps side to side, clapping the hands") == (
        "a/DET person/NOUN steps/VERB side/NOUN to/ADP side/NOUN clapping/VERB the/DET hands/NOUN")


@pytest.mark.skipif(not midi.openmsx_pieces(), reason="Debian openttd-openmsx not installed (make install)")
def test_one_real_song(tmp_path):
    out = tmp_path / "corpus"
    assert main(["data", "bootstrap", "--out", str(out), "--max-songs", "1", "--seconds-per-clip", "12",
                 "--dances-per-clip", "1", "--jobs", "1", "--no-progress",
                 "--render-cache", str(tmp_path / "renders")]) == 0
    meta = json.loads((out / "corpus.json").read_text())
    assert meta["songs"][0]["package"] == "openttd-openmsx" and meta["songs"][0]["clips"] >= 3
    items = list(iter_items(JointsDataset(out), SkipReport()))
    assert len(items) == len(meta["dances"]) and all(i.genre in meta["songs"][0]["genres"] for i in items)
