"""End to end over Fast DDS, every node in its own process or all in `bringup`: an audio file
played in real time -> generator (tiny random model) -> retarget (G1) -> this test's
JointTrajectory subscriber in another process."""
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

pytestmark = pytest.mark.ros

try:
    from dancemosaic.msg import DanceStatus
except ImportError as exc:
    pytest.skip(f"dancemosaic.msg is not generated ({exc}); run `make install`", allow_module_level=True)

from trajectory_msgs.msg import JointTrajectory  # noqa: E402

from dancemosaic_core.audio.synth import click_track  # noqa: E402
from dancemosaic_core.motion.skeleton import MOTION_FPS  # noqa: E402
from dancemosaic_core.retarget import load_robot  # noqa: E402
from dancemosaic_ros.apps.processes import stop_processes  # noqa: E402
from tests.model_fixture import tiny_model_dir  # noqa: E402
from tests.ros.ros_helpers import ros_session, wait_for  # noqa: E402
from tests.ros.test_retarget_node import MARGIN, points  # noqa: E402
from tests.ros.trajectory_checks import check_message, check_timeline, executed_timeline  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TOPIC = "/joint_trajectory_controller/joint_trajectory"


def start(module: str, params: dict) -> subprocess.Popen:
    """Run dancemosaic_ros.<module> with node-specific parameters {node: {name: value}}."""
    args = [sys.executable, "-m", f"dancemosaic_ros.{module}", "--ros-args"]
    for node, values in params.items():
        args += [a for name, value in values.items() for a in ("-p", f"{node}:{name}:={value}")]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def stop(processes) -> str:
    logs = stop_processes(processes, timeout=15)
    return "\n".join(f"--- {p.args[2]} (exit {p.returncode})\n{out}" for p, out in zip(processes, logs))


@pytest.mark.parametrize("layout", ["processes", "bringup"])
def test_audio_file_to_joint_trajectory(tmp_path, layout):
    model = tiny_model_dir(tmp_path)
    wave, _ = click_track(120, 6.0, 16000, noise=0.01)
    song = tmp_path / "song.wav"
    sf.write(song, wave, 16000, subtype="FLOAT")
    robot = load_robot("g1")
    trajectories, statuses = [], []
    processes = []
    with ros_session() as ros:
        probe = ros.probe("e2e")
        probe.create_subscription(JointTrajectory, TOPIC, trajectories.append, 50)
        probe.create_subscription(DanceStatus, "dance/status", statuses.append, 50)
        ros.start()
        try:
            # the audio node plays once the generator (after its warm-up) and the retargeter listen
            params = {"audio_node": dict(file=song, sample_rate=16000, block_size=512, wait_for_listeners=2,
                                         track_tempo=False),
                      "generator_node": dict(model_dir=model, device="cpu", genre="Popular", torch_threads=1),
                      "retarget_node": dict(robot="g1", status_rate=5.0, start_without_state=True)}
            if layout == "bringup":
                processes.append(start("bringup", params))
            else:
                processes += [start(node, {node: values}) for node, values in params.items()]
            listeners = lambda: probe.count_subscribers("/audio") + probe.count_subscribers("/audio/level")  # noqa: E731
            assert wait_for(lambda: listeners() >= 2, 60.0, poll=0.2), stop(processes)
            music_start = time.monotonic()
            got = wait_for(lambda: len(trajectories) >= 3, 40.0, poll=0.1)
            first_after = time.monotonic() - music_start
            assert got, stop(processes)
        finally:
            logs = stop(processes)
    # three chunks: the third plays 6 s into the music, generated 1 s ahead (plus process start-up)
    assert first_after < 15.0, logs
    controller = yaml.safe_load((ROOT / "config/ros/g1_gazebo_controllers.yaml").read_text())
    assert list(robot.joint_names) == controller["joint_trajectory_controller"]["ros__parameters"]["joints"]
    origin_ns = trajectories[0].header.stamp.sec * 10**9 + trajectories[0].header.stamp.nanosec
    lower, upper = robot.lower + MARGIN, robot.upper - MARGIN
    merged = []
    for msg in trajectories:
        assert list(msg.joint_names) == list(robot.joint_names), logs
        stamp, times, q, v = points(msg, origin_ns)
        check_message(times, q, v, stamp, lower=lower, upper=upper, velocity=robot.velocity)
        merged.append((stamp, times, q))
    times, q = executed_timeline(merged)
    check_timeline(times, q, lower=lower, upper=upper, velocity=robot.velocity, min_dt=1.0 / MOTION_FPS)
    dancing = [s for s in statuses if s.generator_state == DanceStatus.STATE_DANCING]
    assert dancing and dancing[-1].bad_messages == 0, logs
    assert np.isfinite(dancing[-1].latency_s) and 0.0 < dancing[-1].latency_s < 5.0, logs
