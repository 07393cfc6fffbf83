"""`dancemosaic bench live --load N`: the CPU burners start, spin, stop however the run ends (also
when their parent dies), and the setting and the machine's load reach the results."""
import os
import subprocess
import sys
from argparse import ArgumentParser
from pathlib import Path

import pytest

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_ros.apps import bench_live
from dancemosaic_ros.apps.cpu_load import WORKLOAD, CompetingLoad
from dancemosaic_ros.apps.processes import ROOT, PipelineRun, cpu_seconds
from tests.ros.ros_helpers import wait_for


def gone(pid: int) -> bool:
    """The process has ended (no longer in /proc, or a zombie waiting for its parent)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_burners_spin_while_the_body_runs_and_stop_after_it():
    with CompetingLoad(2) as load:
        assert len(load.processes) == 2 and all(p.poll() is None for p in load.processes)
        assert wait_for(lambda: cpu_seconds(p.pid for p in load.processes) > 0.05, 30.0)
    assert all(p.returncode is not None for p in load.processes)
    assert load.cpu_seconds > 0.05
    assert load.describe(2.0) == {"burners": 2, "workload": WORKLOAD, "burner_cpu_cores": load.cpu_seconds / 2.0}


def test_burners_stop_when_the_body_fails():
    load = CompetingLoad(1)
    with pytest.raises(KeyboardInterrupt), load:
        raise KeyboardInterrupt              # Ctrl-C during the measured run
    assert load.processes[0].returncode is not None


def test_a_burner_whose_parent_died_stops_by_itself():
    spawn = ("import os, subprocess, sys; p = subprocess.Popen([sys.executable, '-m', "
             "'dancemosaic_ros.apps.cpu_load', '--parent', str(os.getpid())]); print(p.pid)")
    out = subprocess.run([sys.executable, "-c", spawn], cwd=ROOT, capture_output=True, text=True, check=True)
    pid = int(out.stdout)                    # its parent has exited without stopping it
    assert wait_for(lambda: gone(pid), 30.0)


def test_sample_rate_out_of_range_is_refused_before_anything_starts():
    parser = ArgumentParser()
    bench_live.add_arguments(parser)
    with pytest.raises(DanceMosaicError, match="--sample-rate"):
        bench_live.run(parser.parse_args(["--sample-rate", "5"]))
    with pytest.raises(DanceMosaicError, match="--stream-frames"):
        bench_live.run(parser.parse_args(["--stream-frames", "-1"]))
    with pytest.raises(DanceMosaicError, match="--realtime-priority"):
        bench_live.run(parser.parse_args(["--realtime-priority", "100"]))


def test_load_out_of_range_is_refused():
    with pytest.raises(DanceMosaicError, match="--load -1"):
        CompetingLoad(-1)
    assert CompetingLoad(0).describe(1.0)["workload"] is None


def test_the_load_setting_and_the_load_average_reach_the_results(tmp_path, monkeypatch):
    seen = {}

    def fake_pipeline(params, seconds, *, work, processes, startup_timeout, while_playing):
        with while_playing as load:              # what run_pipeline does while the song plays
            seen["burners"] = [p.poll() for p in load.processes]
        chunk = {"stamp": 10.0, "start_time": 1.0, "audio_time": 1.0, "received": 9.9, "compute_seconds": 0.1,
                 "num_frames": 8, "fps": 20.0}
        # IK streamed in 4-frame groups: the first group's message, then the one with the last frame
        record = {"chunks": [chunk], "trajectories": [{"first_time": 9.95, "last_time": 10.15, "received": 10.03},
                                                      {"first_time": 10.2, "last_time": 10.35, "received": 10.05}],
                  "status": {}}
        return PipelineRun(record, 9.0, 0.5, 90.0, (1.5, 2.5), [], [])

    monkeypatch.setattr(bench_live, "run_pipeline", fake_pipeline)
    monkeypatch.setattr(bench_live.tempfile, "mkdtemp", lambda prefix: str(tmp_path))
    parser = ArgumentParser()
    bench_live.add_arguments(parser)
    args = parser.parse_args(["--load", "1", "--seconds", "2", "--song", str(tmp_path / "none.wav"),
                              "--sample-rate", "10240", "--stream-frames", "4",
                              "--realtime-priority", "10"])
    result = bench_live.run(args)
    import yaml
    audio = yaml.safe_load((tmp_path / "params.yaml").read_text())["audio_node"]["ros__parameters"]
    assert audio["sample_rate"] == 10240 == result["audio_sample_rate"]     # the song is played at that rate
    retarget = yaml.safe_load((tmp_path / "params.yaml").read_text())["retarget_node"]["ros__parameters"]
    assert retarget["stream_frames"] == 4
    generator = yaml.safe_load((tmp_path / "params.yaml").read_text())["generator_node"]["ros__parameters"]
    assert generator["realtime_priority"] == 10 == result["realtime_priority"]
    # heard at 10.0 (stamp - start_time + audio_time): the first frame came at 10.03, the last at 10.05
    assert result["first_frame_latency_ms"]["median"] == pytest.approx(30.0)
    assert result["latency_ms"]["median"] == pytest.approx(50.0)
    assert seen["burners"] == [None]              # the burner ran during the song
    assert result["competing_load"]["burners"] == 1 and result["competing_load"]["workload"] == WORKLOAD
    assert result["competing_load"]["burner_cpu_cores"] >= 0.0
    assert result["load_average_1min"] == {"song_start": 1.5, "song_end": 2.5}
    assert result["chunks"] == 1 and os.cpu_count() == result["cpu_count"]
