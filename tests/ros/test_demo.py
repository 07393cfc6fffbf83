"""The demo's reading of what the pipeline published: motion from chunks on the music clock,
the trajectory a joint_trajectory_controller runs (later messages replace earlier ones from
their first point), and limit violations of published points. The full demo (ROS, MuJoCo,
video) runs in `make demo`; a short run of it is the slow test at the end."""
import os
from types import SimpleNamespace

import numpy as np
import pytest

from dancemosaic_ros.apps.demo import (
    chunk_motion,
    executed_base,
    executed_trajectory,
    published_violations,
)


def chunk(index, start, frames, value, fps=20.0, song_start=100.0):
    pos = np.full((frames, 22, 3), float(value))
    return {"index": index, "start_time": start, "stamp": song_start + start, "fps": fps,
            "num_frames": frames, "positions": pos.ravel().tolist()}


def test_chunks_are_placed_on_the_music_clock_and_gaps_hold_the_pose():
    record = {"chunks": [chunk(2, 4.0, 40, 3.0), chunk(0, 2.0, 20, 1.0)]}   # chunk 1 lost, order mixed
    joints, first, song_start = chunk_motion(record)
    assert first == 2.0 and song_start == 100.0 and joints.shape == (80, 22, 3)
    assert (joints[:20] == 1).all() and (joints[20:40] == 1).all() and (joints[40:] == 3).all()


def test_later_messages_replace_the_trajectory_from_their_first_point():
    msgs = [{"times": [101.0, 103.0], "positions": [[0.0, 0.0], [2.0, 2.0]]},
            {"times": [102.0, 104.0], "positions": [[5.0, 5.0], [5.0, 5.0]]}]
    t = np.array([0.0, 1.0, 1.5, 2.0, 3.0, 5.0])
    q = executed_trajectory({"trajectories": msgs}, t, 100.0, np.array([-1.0, -1.0]))
    assert q[:, 0].tolist() == [-1.0, 0.0, 0.5, 5.0, 5.0, 5.0]


def test_base_poses_are_placed_on_the_song_clock_and_held_at_the_ends():
    poses = [{"stamp": 102.0, "pose": [1, 0, 0.7, 0, 0, 0, 1]}, {"stamp": 101.0, "pose": [0, 0, 0.8, 0, 0, 0, 1]}]
    base = executed_base({"base_poses": poses}, np.array([0.0, 1.0, 1.5, 3.0]), 100.0)
    np.testing.assert_allclose(base[:, 0], [0, 0, 0.5, 1])
    np.testing.assert_allclose(base[:, 2], [0.8, 0.8, 0.75, 0.7])
    assert executed_base({"base_poses": []}, np.zeros(3), 100.0) is None      # a fixed-base node: none


def test_published_violations_count_positions_and_speeds():
    robot = SimpleNamespace(lower=np.array([-1.0]), upper=np.array([1.0]), velocity=np.array([2.0]))
    ok = {"times": [0.0, 0.5, 1.0], "positions": [[0.0], [0.9], [0.0]]}
    bad = {"times": [0.0, 0.1, 0.2], "positions": [[0.0], [0.5], [1.2]]}
    v = published_violations({"trajectories": [ok, bad]}, robot)
    assert v["points"] == 6 and v["position_violations"] == 1 and v["velocity_violations"] == 2
    assert v["max_velocity_fraction_of_limit"] == pytest.approx(3.5)


def test_published_violations_read_the_spacing_from_the_offsets():
    """Steps exactly at the velocity limit, 0.1 us longer than a frame, stamped at a real ROS time:
    the absolute times in float64 seconds (0.24 us apart at 1.76e9 s) would read some of them over
    the limit; the offsets (time_from_start, exact to the nanosecond) do not."""
    robot = SimpleNamespace(lower=np.array([-10.0]), upper=np.array([10.0]), velocity=np.array([2.0]))
    stamp = 1_764_000_000.123456789
    offsets = [k * 0.0500001 for k in range(1, 41)]
    positions = [[2.0 * o] for o in offsets]
    absolute = {"times": [stamp + o for o in offsets], "positions": positions}
    assert published_violations({"trajectories": [absolute]}, robot)["velocity_violations"] > 0
    recorded = {**absolute, "offsets": offsets}
    v = published_violations({"trajectories": [recorded]}, robot)
    assert v["velocity_violations"] == 0 and v["max_velocity_fraction_of_limit"] == pytest.approx(1.0, abs=1e-12)


@pytest.mark.slow
@pytest.mark.ros
def test_demo_end_to_end_on_a_tiny_model(tmp_path, setup_py_entry_points):
    from dancemosaic_core.cli import main
    from tests.model_fixture import tiny_model_dir
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    model = tiny_model_dir(tmp_path)
    assert main(["demo", "--model", str(model), "--seconds", "6", "--out", str(tmp_path / "out"), "--size", "96"]) == 0
    assert (tmp_path / "out" / "demo.mp4").stat().st_size > 0
    assert "points outside position limits | 0" in (tmp_path / "out" / "demo_report.md").read_text()


def test_motion_metrics_report_the_rhythm_controls():
    from dancemosaic_core.audio.synth import click_track
    from dancemosaic_ros.apps.demo import motion_metrics
    from tests.core.test_eval_rhythm import pulsing_motion
    wave, _ = click_track(120, 12.0, sr=22050)
    m = motion_metrics(pulsing_motion(0.5, seconds=10.0, fps=20.0), wave, 22050, 0.0)
    assert m["music_tempo_bpm"] == pytest.approx(120, rel=0.05)
    assert m["bas"] > m["bas_random_phase"] + 0.15 and m["bas"] > m["bas_half_beat"] + 0.3
    assert m["locked"] and m["joint_speed"] > 0
