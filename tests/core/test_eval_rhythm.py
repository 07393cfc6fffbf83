"""Rhythm controls (eval.rhythm) and the music controls of generation (eval.controls)."""
import numpy as np
import pytest

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.eval.controls import delay_audio, half_beat_delayed, other_tempo_pairing, song_of
from dancemosaic_core.eval.rhythm import is_locked, movement_period, rhythm_metrics, shifted_grid, summarise_rhythm

FPS = 30.0
SIGMA, SMOOTH = 0.1, 1 / 6            # the finedance protocol's BAS constants


def pulsing_motion(period_s: float, seconds: float = 12.0, fps: float = FPS) -> np.ndarray:
    """22 joints circling at angular speed 1 - cos(2 pi t / period): the speed is zero exactly
    at t = k * period and largest half-way between."""
    t = np.arange(int(seconds * fps)) / fps
    w = 2 * np.pi / period_s
    angle = 1.5 * (t - np.sin(w * t) / w)
    radius = np.linspace(0.2, 0.8, 22)
    x = radius[None, :] * np.cos(angle)[:, None]
    z = radius[None, :] * np.sin(angle)[:, None]
    y = np.broadcast_to(np.linspace(0.0, 1.7, 22), x.shape)
    return np.stack([x, y, z], axis=-1)


def test_motion_dipping_on_the_beats_is_high_on_beat_low_half_a_beat_late_and_locked():
    beats = np.arange(0.0, 14.0, 0.5)                  # 120 BPM, past the motion's end
    row = rhythm_metrics(pulsing_motion(0.5), FPS, beats, sigma_s=SIGMA, smooth_s=SMOOTH)
    assert row["bas"] > 0.95
    assert row["bas_half_beat"] < 0.1
    assert 0.3 < row["bas_chance"] < 0.7
    assert row["period_ratio"] == pytest.approx(1.0, abs=0.03)
    assert row["locked"] is True
    assert row["joint_speed"] > 0.5


@pytest.mark.parametrize("ratio", [0.5, 2.0])
def test_half_and_double_time_count_as_locked(ratio):
    row = rhythm_metrics(pulsing_motion(0.5 * ratio), FPS, np.arange(0.0, 14.0, 0.5), sigma_s=SIGMA,
                         smooth_s=SMOOTH)
    assert row["period_ratio"] == pytest.approx(ratio, rel=0.03) and row["locked"] is True


def test_motion_pulsing_at_another_rate_is_not_locked():
    beats = np.arange(0.0, 14.0, 0.5)
    row = rhythm_metrics(pulsing_motion(0.5 * 1.37), FPS, beats, sigma_s=SIGMA, smooth_s=SMOOTH)
    assert row["period_ratio"] == pytest.approx(1.37, abs=0.04)
    assert row["locked"] is False
    assert row["bas"] < 0.8


def test_period_lock_and_summary():
    assert is_locked(0.52) and is_locked(1.9) and is_locked(1.0)
    assert not is_locked(0.75) and not is_locked(1.5) and not is_locked(None)
    assert movement_period(np.ones(200), FPS) is None      # no pulse
    rows = [{"bas": 0.6, "bas_half_beat": 0.2, "bas_chance": 0.3, "period_ratio": 1.0, "locked": True,
             "joint_speed": 0.4},
            {"bas": 0.4, "bas_half_beat": 0.4, "bas_chance": 0.3, "period_ratio": 1.3, "locked": False,
             "joint_speed": 0.2}]
    s = summarise_rhythm(rows)
    assert s["locked_share"] == 0.5 and s["bas_minus_chance"] == pytest.approx(0.2)
    assert s["bas_minus_half_beat"] == pytest.approx(0.2) and s["joint_speed"] == pytest.approx(0.3)


def test_shifted_grid_covers_the_start_and_follows_local_intervals():
    beats = np.array([0.0, 0.5, 1.0, 1.6, 2.2])
    np.testing.assert_allclose(shifted_grid(beats, 0.5, 2.4), [0.25, 0.75, 1.3, 1.9])
    np.testing.assert_allclose(shifted_grid(beats, 0.8, 0.5), [0.4])     # -0.1 (prepended beat) dropped


def test_half_beat_delay_of_a_click_track_moves_the_tracked_beats_half_a_period():
    from dancemosaic_core.audio.synth import click_track
    from dancemosaic_core.eval.beats import music_beats
    sr = 22050
    wave, _ = click_track(120, 12.0, sr=sr)
    delayed, delay = half_beat_delayed(wave, sr)
    assert delay == pytest.approx(0.25, abs=0.01) and len(delayed) == len(wave)
    before, after = music_beats(wave, sr, 60.0), music_beats(delayed, sr, 60.0)
    after = after[(after > 2.0) & (after < 10.0)]
    moved = np.array([np.min(np.abs(before + 0.25 - b)) for b in after])
    assert np.median(moved) <= 1 / 60 + 1e-9
    assert np.array_equal(delay_audio(np.arange(5.0), 10, 0.2), [0, 0, 0, 1, 2])


def test_other_tempo_pairing_never_pairs_a_song_with_itself_and_keeps_the_tempo_gap():
    tempi = [80, 80, 80, 120, 120, 150]
    groups = ["a", "a", "a", "b", "b", "c"]           # items of one song share its tempo
    for seed in range(5):
        src = other_tempo_pairing(tempi, seed, groups)
        assert sorted(src) == list(range(6))
        for i, j in enumerate(src):
            assert groups[j] != groups[i]
            assert abs(tempi[j] / tempi[i] - 1) > 0.10
    same = other_tempo_pairing([100, 100, 101], 0)     # no gap possible: still no item with itself
    assert all(j != i for i, j in enumerate(same))
    with pytest.raises(DanceMosaicError, match="at least 2"):
        other_tempo_pairing([100], 0)
    assert song_of("chemistry_lab_c3_d1") == "chemistry_lab" and song_of("c0") == "c0"
