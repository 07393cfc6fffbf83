"""Dataset loaders on tiny fixtures in the real layouts: items, spans, splits, genres,
resampling to 20 fps, counted named skips of corrupt items, errors for missing directories."""
import io
import logging

import numpy as np
import pytest

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.data.items import SkipReport, iter_items
from dancemosaic_core.data.loaders import (
    AISTPP,
    FINEDANCE_IDS,
    FINEDANCE_IGNORE,
    FINEDANCE_TEST,
    FineDance,
    HumanML3D,
    JointsDataset,
    finedance_split,
)
from dancemosaic_core.motion import fk
from tests.core.test_data_fixtures import (
    aist_motion,
    dance_joints,
    finedance_motion,
    smpl_template,
    text_lines,
    write_aistpp,
    write_finedance,
    write_humanml3d,
    write_joints_dataset,
)


def _items(source):
    report = SkipReport()
    return {i.id: i for i in iter_items(source, report)}, report


def test_humanml3d_whole_and_span_captions_become_items(tmp_path):
    joints = dance_joints(150)
    text = text_lines(("a person walks forward", 0.0, 0.0), ("the person waves", 1.0, 4.5),
                      ("someone waves a hand", 1.0, 4.5), ("a short part", 6.0, 6.5))
    text += "a caption with nan span#a/X#nan#nan\nbroken line without tags\n"
    root = write_humanml3d(tmp_path / "h", {"000001": (joints, text), "M000001": (joints[::-1].copy(), text)},
                           {"train": ["000001"], "test": ["M000001"]})
    items, report = _items(HumanML3D(root))
    assert set(items) == {"000001", "000001_20_90", "M000001", "M000001_20_90"}
    whole = items["000001"]
    assert whole.texts == ["a person walks forward", "a caption with nan span"] and whole.split == "train"
    np.testing.assert_array_equal(whole.joints, joints)
    sub = items["000001_20_90"]
    assert sub.texts == ["the person waves", "someone waves a hand"] and sub.spans == [(0, 70)] * 2
    np.testing.assert_array_equal(sub.joints, joints[20:90])
    assert items["M000001"].split == "test" and whole.music is None and whole.genre == ""
    assert report.ids("humanml3d", "too short") == ["000001_120_130", "M000001_120_130"]


def test_humanml3d_corrupt_items_are_counted_named_skips(tmp_path, caplog):
    good = dance_joints(60)
    nan = good.copy()
    nan[10, 3] = np.nan
    clips = {
        "good": (good, text_lines(("ok", 0, 0))),
        "nan": (nan, text_lines(("ok", 0, 0))),
        "shape": (good[:, :21], text_lines(("ok", 0, 0))),
        "empty": (b"", text_lines(("ok", 0, 0))),
        "garbage": (b"\x93NUMPY garbage", text_lines(("ok", 0, 0))),
        "notext": (good, None),
        "blank": (good, "\n\n"),
        "short": (good[:20], text_lines(("ok", 0, 0))),
        "long": (dance_joints(200), text_lines(("ok", 0, 0))),
    }
    root = write_humanml3d(tmp_path / "h", clips, {"train": list(clips) + ["nofile"]})
    with caplog.at_level(logging.WARNING, logger="dancemosaic.data"):
        items, report = _items(HumanML3D(root))
    assert list(items) == ["good"]
    assert report.count("humanml3d") == 9
    reasons = {i: r for i, r, _ in report.skipped["humanml3d"]}
    assert reasons == {"nan": "nan frames", "shape": "wrong shape", "empty": "unreadable",
                       "garbage": "unreadable", "notext": "missing text", "blank": "missing text",
                       "short": "too short", "long": "too long", "nofile": "missing file"}
    assert "nan frames" in report.summary() and "nan" in report.summary()
    assert sum("skipped humanml3d/" in r.getMessage() for r in caplog.records) == 9


def test_missing_dataset_dirs_and_split_files_are_clear_errors(tmp_path):
    with pytest.raises(DanceMosaicError, match="new_joints"):
        HumanML3D(tmp_path / "nope").entries()
    (tmp_path / "h" / "new_joints").mkdir(parents=True)
    with pytest.raises(DanceMosaicError, match="train.txt"):
        HumanML3D(tmp_path / "h").entries()
    with pytest.raises(DanceMosaicError, match="motion/"):
        FineDance(tmp_path / "fd", write_template(tmp_path)).entries()
    (tmp_path / "aist" / "motions").mkdir(parents=True)
    with pytest.raises(DanceMosaicError, match="crossmodal_train"):
        AISTPP(tmp_path / "aist", np.asarray(smpl_template())).entries()
    with pytest.raises(DanceMosaicError, match="template"):
        FineDance(tmp_path / "fd", None)
    with pytest.raises(DanceMosaicError, match="smplx_neu_J_1|does not exist"):
        FineDance(tmp_path / "fd", tmp_path / "missing.npy")


def write_template(tmp_path):
    from tests.core.test_data_fixtures import smplx_template
    path = tmp_path / "smplx_neu_J_1.npy"
    np.save(path, smplx_template())
    return path


def test_joints_dataset_keeps_spans_genre_and_music(tmp_path):
    joints = dance_joints(100)
    text = text_lines(("spin", 0.0, 0.0), ("step left", 1.0, 2.0), ("late move", 4.0, 9.0))
    root = write_joints_dataset(tmp_path / "corpus", {"a": (joints, text), "b": (joints, None)},
                                {"train": ["a"], "val": ["b"]}, {"a": "Hip Hop", "b": "House"},
                                {"a": (5.0, "beats")})
    items, report = _items(JointsDataset(root))
    a, b = items["a"], items["b"]
    assert a.texts == ["spin", "step left", "late move"] and a.spans == [(0, 100), (20, 40), (80, 100)]
    assert a.genre == "Hip Hop" and a.music == root / "music" / "a.wav" and a.split == "train"
    assert b.texts == [] and b.genre == "House" and b.music is None and b.split == "val"
    assert JointsDataset(root).name == "corpus" and report.count() == 0


def test_finedance_official_split_lists():
    assert len(FINEDANCE_IDS) == 211 and len(set(FINEDANCE_TEST)) == 20 and len(FINEDANCE_IGNORE) == 9
    assert set(FINEDANCE_TEST) & set(FINEDANCE_IGNORE) == {"120"}
    splits = [finedance_split(i) for i in FINEDANCE_IDS]
    assert splits.count("test") == 19 and splits.count("ignore") == 9 and splits.count("train") == 183


def test_finedance_loader_fk_resample_genre_and_skips(tmp_path):
    template = write_template(tmp_path)
    bad = finedance_motion(40)
    bad[5, 7] = np.nan
    root = write_finedance(tmp_path / "fd", {
        "001": (91, "Popping", 4.0), "012": (91, "jazz", 4.0), "116": (91, "Kun", 4.0),
        "002": (91, "Dai", None), "003": (np.zeros((91, 300), np.float32), "Kun", 4.0),
        "004": (bad, "Kun", 4.0), "005": (91, None, 4.0),
    })
    items, report = _items(FineDance(root, template))
    assert set(items) == {"001", "012"}
    one = items["001"]
    assert one.split == "train" and items["012"].split == "test"
    assert one.genre == "Popping" and items["012"].genre == "Jazz"
    assert one.music == root / "music_wav" / "001.wav" and one.texts == []
    motion = np.load(root / "motion" / "001.npy")
    expected = fk.resample(fk.finedance_to_joints(motion, template), 30, 20)
    assert one.frames == 61 == expected.shape[0]                  # 91 frames at 30 fps = 3 s
    np.testing.assert_allclose(one.joints, expected, atol=1e-6)
    at30 = fk.finedance_to_joints(motion, template)
    np.testing.assert_allclose(one.joints[2], at30[3], atol=1e-6)              # t = 0.1 s
    np.testing.assert_allclose(one.joints[3], (at30[4] + at30[5]) / 2, atol=1e-6)  # t = 0.15 s: interpolated
    reasons = {i: r for i, r, _ in report.skipped["finedance"]}
    assert reasons == {"116": "official ignore list", "002": "missing music", "003": "wrong shape",
                       "004": "nan frames", "005": "missing genre"}


def test_aistpp_loader_splits_genre_music_and_60_to_20_fps(tmp_path):
    names = ["gBR_sBM_cAll_d04_mBR0_ch01", "gPO_sFM_cAll_d11_mPO3_ch05", "gJB_sBM_cAll_d07_mJB1_ch02",
             "gLO_sBM_cAll_d13_mLO2_ch03", "gHO_sBM_cAll_d19_mHO0_ch04", "gKR_sBM_cAll_d28_mKR0_ch01",
             "gWA_sBM_cAll_d25_mWA0_ch01", "gMH_sBM_cAll_d22_mMH0_ch01"]
    nan = aist_motion(181)
    nan["smpl_poses"][7, 2] = np.nan
    seqs = {names[0]: 181, names[1]: 181, names[2]: 181, names[3]: 181, names[4]: nan,
            names[5]: b"not a pickle", names[6]: 181, names[7]: 181}
    root = write_aistpp(tmp_path / "aist", seqs,
                        {"train": [names[0], names[2], names[3], names[4], names[5], names[7]],
                         "val": [names[1]], "test": []},
                        [names[2]], {"mBR0": 4.0, "mPO3": 4.0, "mJB1": 4.0, "mHO0": 4.0, "mKR0": 4.0,
                                     "mWA0": 4.0, "mMH0": 4.0})
    items, report = _items(AISTPP(root, smpl_template()))
    assert set(items) == {names[0], names[1], names[7]}
    br = items[names[0]]
    assert br.genre == "Break" and items[names[1]].genre == "Pop" and items[names[7]].genre == "Middle Hip-hop"
    assert br.music == root / "wavs" / "mBR0.wav" and br.split == "train" and items[names[1]].split == "val"
    motion = fk.load_aist_motion(root / "motions" / f"{names[0]}.pkl")
    full = fk.aist_to_joints(motion, smpl_template())
    assert br.frames == 61                                       # 181 frames at 60 fps = 3 s
    np.testing.assert_allclose(br.joints, full[::3], atol=1e-5)  # 60 -> 20 fps keeps every third frame
    reasons = {i: r for i, r, _ in report.skipped["aistpp"]}
    assert reasons == {names[2]: "official ignore list", names[3]: "missing music", names[4]: "nan frames",
                       names[5]: "unreadable", names[6]: "not in a split"}


def test_report_summary_names_and_truncates(tmp_path):
    report = SkipReport()
    for k in range(7):
        report.skip("src", f"id{k}", "nan frames", "x")
    text = report.summary()
    assert "src: skipped 7" in text and "nan frames: 7" in text and "id0" in text and "2 more" in text
    buf = io.StringIO(text)
    assert len(buf.read().splitlines()) == 2
