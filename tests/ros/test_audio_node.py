"""Audio node with real DDS: a file played in real time, bad parameter values, a capture device
that is absent (the node keeps running and keeps trying)."""
import time

import numpy as np
import pytest
import soundfile as sf

pytestmark = pytest.mark.ros

try:
    from dancemosaic.msg import AudioChunk, AudioLevel, DanceStatus
except ImportError as exc:
    pytest.skip(f"dancemosaic.msg is not generated ({exc}); run `make install`", allow_module_level=True)

from rclpy.parameter import Parameter  # noqa: E402

from dancemosaic_core.audio.synth import click_track  # noqa: E402
from dancemosaic_ros.audio_node import AudioNode  # noqa: E402
from dancemosaic_ros.audio_sources import Block, LevelMeter  # noqa: E402
from tests.ros.ros_helpers import ros_session, wait_for  # noqa: E402

SR = 16000
BLOCK = 800        # 50 ms


@pytest.fixture
def song(tmp_path):
    wave, _ = click_track(120, 1.5, SR)
    path = tmp_path / "song.wav"
    sf.write(path, wave, SR, subtype="FLOAT")
    return path, wave


def test_file_is_published_whole_in_order_at_real_time_pace(song):
    path, wave = song
    chunks = []
    with ros_session() as ros:
        probe = ros.probe()
        probe.create_subscription(AudioChunk, "audio", chunks.append, 100)
        start = time.monotonic()
        ros.add(AudioNode, file=str(path), sample_rate=SR, block_size=BLOCK, track_tempo=False)
        ros.start()
        assert wait_for(lambda: len(chunks) >= -(-len(wave) // BLOCK), timeout=10.0)
        elapsed = time.monotonic() - start
    assert [c.first_sample for c in chunks] == [i * BLOCK for i in range(len(chunks))]
    got = np.concatenate([np.asarray(c.samples) for c in chunks])
    np.testing.assert_array_equal(got, wave[:len(got)])
    assert len(got) == len(wave)
    # real-time pace: the whole 1.5 s file cannot arrive much faster than it plays
    assert elapsed >= 1.5 - 0.1
    stamps = np.array([c.header.stamp.sec + 1e-9 * c.header.stamp.nanosec for c in chunks])
    np.testing.assert_allclose(np.diff(stamps), BLOCK / SR, atol=1e-6)   # the music clock
    assert all(c.sample_rate == SR and c.channels == 1 for c in chunks)


def rms(samples) -> float:
    return float(np.sqrt(np.mean(np.square(np.asarray(samples, np.float64)))))


def test_level_messages_span_the_file_with_the_loudest_block_of_each_interval(song):
    path, wave = song
    chunks, levels = [], []
    with ros_session() as ros:
        probe = ros.probe()
        probe.create_subscription(AudioChunk, "audio", chunks.append, 100)
        probe.create_subscription(AudioLevel, "audio/level", levels.append, 100)
        ros.add(AudioNode, file=str(path), sample_rate=SR, block_size=BLOCK, track_tempo=False, level_seconds=0.12,
                wait_for_listeners=2)
        ros.start()
        assert wait_for(lambda: sum(m.num_samples for m in levels) >= len(wave), timeout=10.0)
    per_level = -(-int(0.12 * SR) // BLOCK)                       # whole blocks: 3 of 800 for 1920 samples
    assert [m.first_sample for m in levels] == [i * per_level * BLOCK for i in range(len(levels))]
    assert sum(m.num_samples for m in levels) == len(wave)           # the file's last interval is flushed
    for i, m in enumerate(levels):
        blocks = chunks[i * per_level:(i + 1) * per_level]
        assert m.loudest_rms == pytest.approx(max(rms(c.samples) for c in blocks), rel=1e-6)
        assert m.dropouts == 0 and m.sample_rate == SR
        assert (m.header.stamp.sec, m.header.stamp.nanosec) == (blocks[0].header.stamp.sec, blocks[0].header.stamp.nanosec)


def test_level_meter_counts_blocks_after_lost_audio_and_flagged_blocks():
    meter = LevelMeter(interval=300)
    loud, quiet = np.full((100, 2), 0.5, np.float32), np.zeros((100, 2), np.float32)
    assert meter.push(Block(quiet, 1000)) is None
    assert meter.push(Block(loud, 1100, input_overflow=True)) is None
    level = meter.push(Block(quiet, 1250))                          # 50 samples lost before it
    assert (level.first_sample, level.num_samples, level.dropouts) == (1000, 350, 2)
    assert level.loudest_rms == pytest.approx(0.5)
    assert meter.push(Block(quiet, 1350, late=True)) is None
    level = meter.flush()
    assert (level.first_sample, level.num_samples, level.loudest_rms, level.dropouts) == (1350, 100, 0.0, 1)
    assert meter.flush() is None


def test_bad_parameter_values_are_refused_at_start_and_at_run_time(song):
    path, _ = song
    statuses = []
    with ros_session() as ros:
        with pytest.raises(Exception, match="block_size"):
            ros.add(AudioNode, file=str(path), sample_rate=SR, block_size=3)
        node = ros.add(AudioNode, file=str(path), sample_rate=SR, block_size=BLOCK, status_rate=20.0)
        probe = ros.probe()
        probe.create_subscription(DanceStatus, "audio/status", statuses.append, 10)
        ros.start()
        result = node.set_parameters([Parameter("stall_seconds", value=-1.0)])[0]
        assert not result.successful and "stall_seconds" in result.reason
        assert node.get_parameter("stall_seconds").value == 1.0
        assert wait_for(lambda: statuses and statuses[-1].bad_messages == 1, timeout=5.0)


def test_missing_capture_device_is_reported_and_the_node_keeps_running():
    statuses = []
    with ros_session() as ros:
        node = ros.add(AudioNode, device="no-such-device-xyz", sample_rate=SR, block_size=BLOCK,
                       status_rate=20.0, reconnect_seconds=0.2)
        probe = ros.probe()
        probe.create_subscription(DanceStatus, "audio/status", statuses.append, 10)
        ros.start()
        assert wait_for(lambda: len(statuses) >= 5, timeout=5.0)
        assert statuses[-1].generator_state == DanceStatus.STATE_ERROR
        assert "no-such-device-xyz" in statuses[-1].message
        assert node.context.ok()
