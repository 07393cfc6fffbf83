"""The interfaces generated from msg/: they load, serialise, and cross processes over Fast DDS.

Needs the venv's generated `dancemosaic` package (scripts/install.sh builds it). DDS stays on
loopback in a random domain (tests/conftest.py).
"""
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.ros

try:
    from dancemosaic.msg import AudioChunk, DanceStatus, PoseConstraint
except ImportError as exc:  # the venv was made without scripts/install.sh's interface step
    pytest.skip(f"dancemosaic.msg is not generated ({exc}); run `make install`", allow_module_level=True)

import rclpy  # noqa: E402
from geometry_msgs.msg import Point  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.serialization import deserialize_message, serialize_message  # noqa: E402

from dancemosaic_ros.smoke import make_status  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def test_pose_constraint_round_trips_through_cdr():
    msg = PoseConstraint()
    msg.header.frame_id = "dancer"
    msg.joint_names = ["left_wrist", "right_foot"]
    msg.times = [0.5, 1.25]
    msg.positions = [Point(x=0.3, y=1.4, z=0.1), Point(x=-0.1, y=0.05, z=0.2)]
    msg.weights = [1.0, 0.5]
    msg.mode = PoseConstraint.MODE_APPEND
    back = deserialize_message(serialize_message(msg), PoseConstraint)
    assert back.joint_names == msg.joint_names
    assert list(back.times) == [0.5, 1.25]
    assert [(p.x, p.y, p.z) for p in back.positions] == [(0.3, 1.4, 0.1), (-0.1, 0.05, 0.2)]
    assert list(back.weights) == [1.0, 0.5]
    assert back.mode == PoseConstraint.MODE_APPEND
    assert len({PoseConstraint.MODE_REPLACE, PoseConstraint.MODE_APPEND, PoseConstraint.MODE_CLEAR}) == 3


def test_audio_chunk_keeps_float32_samples_exactly():
    samples = np.sin(np.linspace(0, 40 * math.pi, 2 * 512)).astype(np.float32)
    msg = AudioChunk(sample_rate=44100, channels=2, first_sample=123456789012, input_overflow=True)
    msg.samples = samples
    back = deserialize_message(serialize_message(msg), AudioChunk)
    np.testing.assert_array_equal(np.asarray(back.samples), samples)
    assert (back.sample_rate, back.channels, back.first_sample) == (44100, 2, 123456789012)
    assert back.input_overflow and not back.output_underflow


def test_dance_status_states_are_distinct_and_a_fresh_status_is_zeroed():
    states = {DanceStatus.STATE_IDLE, DanceStatus.STATE_DANCING, DanceStatus.STATE_EASING,
              DanceStatus.STATE_HOLDING, DanceStatus.STATE_ERROR}
    assert states == {"idle", "dancing", "easing", "holding", "error"}
    fresh = deserialize_message(serialize_message(DanceStatus()), DanceStatus)
    assert (fresh.chunk_index, fresh.limit_clamps, fresh.deadline_misses, fresh.tempo_bpm) == (0, 0, 0, 0.0)
    assert fresh.generator_state == ""


def test_dance_status_crosses_processes_over_fast_dds():
    topic = f"/dancemosaic_test/status_{os.getpid()}"
    count = 5
    publisher = subprocess.Popen(
        [sys.executable, "-m", "dancemosaic_ros.smoke", "--topic", topic, "--count", str(count),
         "--timeout", "60", "--linger", "20"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    received = []
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("dancemosaic_test_subscriber", context=context)
    executor = SingleThreadedExecutor(context=context)
    try:
        node.create_subscription(DanceStatus, topic, received.append, 10)
        executor.add_node(node)
        deadline = time.monotonic() + 60
        while len(received) < count and time.monotonic() < deadline and publisher.poll() is None:
            executor.spin_once(timeout_sec=0.1)
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.shutdown(context=context)
    try:
        output, _ = publisher.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        publisher.kill()
        output, _ = publisher.communicate()
    assert publisher.returncode == 0, output
    assert [m.chunk_index for m in received] == list(range(count)), output
    for index, msg in enumerate(received):
        want = make_status(index)
        for field in ("generator_state", "tempo_bpm", "beat_phase", "latency_s", "limit_clamps",
                      "deadline_misses", "genre", "text"):
            assert getattr(msg, field) == getattr(want, field), field
        assert msg.header.stamp.sec > 0


def test_motion_chunk_round_trips_and_converts_back_to_joints():
    from dancemosaic_core.inference.streaming import DanceChunk
    from dancemosaic_ros.convert import motion_chunk_msg, motion_joints, to_seconds
    rng = np.random.default_rng(0)
    joints = rng.normal(size=(40, 22, 3)).astype(np.float32)
    chunk = DanceChunk(joints=joints, start_time=4.0, fps=20.0, index=1, tempo_bpm=121.5, beat_phase=0.25,
                       compute_seconds=0.1)
    msg = motion_chunk_msg(chunk, stamp_seconds=1_700_000_004.0, audio_time=3.05)
    back = deserialize_message(serialize_message(msg), type(msg))
    np.testing.assert_array_equal(motion_joints(back, fps=20.0), joints)
    assert to_seconds(back.header.stamp) == pytest.approx(1_700_000_004.0)
    assert (back.index, back.start_time, back.tempo_bpm, back.audio_time) == (1, 4.0, 121.5, 3.05)
    assert back.draft_audio_time == 3.05                 # not drafted ahead: its tokens saw the same audio
    chunk.info["draft_heard_seconds"] = 2.65
    assert motion_chunk_msg(chunk, stamp_seconds=1_700_000_004.0, audio_time=3.05).draft_audio_time == 2.65
