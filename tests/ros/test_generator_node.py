"""Generator node with real DDS and the tiny random model: chunks on the music clock, run-time
prompt and weight changes, bad messages and bad parameter values survived."""
import time

import numpy as np
import pytest

pytestmark = pytest.mark.ros

try:
    from dancemosaic.msg import AudioChunk, DanceStatus, MotionChunk, PoseConstraint
except ImportError as exc:
    pytest.skip(f"dancemosaic.msg is not generated ({exc}); run `make install`", allow_module_level=True)

from geometry_msgs.msg import Point  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402

from dancemosaic_core.audio.synth import click_track  # noqa: E402
from dancemosaic_core.motion.skeleton import NUM_JOINTS  # noqa: E402
from dancemosaic_ros.convert import to_seconds  # noqa: E402
from dancemosaic_ros.generator_node import GeneratorNode  # noqa: E402
from tests.model_fixture import tiny_model_dir  # noqa: E402
from tests.ros.ros_helpers import audio_messages, ros_session, wait_for  # noqa: E402

SR = 16000


def music_origin() -> float:
    """A music clock near now (whole seconds): the node refuses one far from its clock."""
    return float(int(time.time()))


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return tiny_model_dir(tmp_path_factory.mktemp("model"))


def generator(ros, model_dir, **params):
    return ros.add(GeneratorNode, model_dir=str(model_dir), device="cpu", genre="Popular",
                   warmup=False, torch_threads=1, **params)


def test_chunks_are_contiguous_on_the_music_clock(model_dir):
    chunks, statuses = [], []
    with ros_session() as ros:
        generator(ros, model_dir)
        probe = ros.probe()
        probe.create_subscription(MotionChunk, "motion", chunks.append, 10)
        probe.create_subscription(DanceStatus, "generator/status", statuses.append, 10)
        audio = probe.create_publisher(AudioChunk, "audio", 100)
        ros.start()
        assert wait_for(lambda: audio.get_subscription_count() > 0, 5.0)
        origin = music_origin()
        wave, _ = click_track(120, 5.2, SR)
        for msg in audio_messages(wave, SR, 1024, origin):
            audio.publish(msg)
        assert wait_for(lambda: len(chunks) >= 3, 30.0)
        # the status of a chunk is published right after the chunk: wait for it to arrive too
        assert wait_for(lambda: statuses and statuses[-1].chunk_index == chunks[-1].index, 5.0)
    assert [c.index for c in chunks[:3]] == [0, 1, 2]
    for c in chunks[:3]:
        joints = np.asarray(c.positions).reshape(c.num_frames, c.num_joints, 3)
        assert c.num_joints == NUM_JOINTS and c.fps == 20.0 and np.isfinite(joints).all()
        # stamp = stream origin + start_time: the music clock of the audio node's stamps
        assert to_seconds(c.header.stamp) == pytest.approx(origin + c.start_time, abs=1e-6)
        assert c.audio_time >= c.start_time - 1.0 - 1e-6      # generated at most lead_seconds ahead
    for a, b in zip(chunks, chunks[1:3]):
        assert b.start_time == pytest.approx(a.start_time + a.num_frames / a.fps)
    assert statuses[-1].generator_state == DanceStatus.STATE_DANCING


def test_bad_constraints_and_parameters_are_refused_and_generation_goes_on(model_dir):
    chunks, statuses = [], []
    with ros_session() as ros:
        node = generator(ros, model_dir)
        probe = ros.probe()
        probe.create_subscription(MotionChunk, "motion", chunks.append, 10)
        probe.create_subscription(DanceStatus, "generator/status", statuses.append, 10)
        audio = probe.create_publisher(AudioChunk, "audio", 100)
        constraints = probe.create_publisher(PoseConstraint, "pose_constraints", 10)
        ros.start()
        assert wait_for(lambda: audio.get_subscription_count() > 0 and constraints.get_subscription_count() > 0, 5.0)
        bad = [PoseConstraint(joint_names=["left_tentacle"], times=[0.5], positions=[Point(x=0.1, y=1.0, z=0.0)]),
               PoseConstraint(joint_names=["left_wrist"], times=[float("nan")], positions=[Point()]),
               PoseConstraint(joint_names=["left_wrist", "head"], times=[0.5], positions=[Point()]),
               PoseConstraint(mode=7),
               PoseConstraint(joint_names=["head"], times=[0.5], positions=[Point(x=1e300)]),
               PoseConstraint(joint_names=["head"], times=[0.5], positions=[Point()], weights=[1e300])]
        for msg in bad:
            constraints.publish(msg)
        broken = AudioChunk(sample_rate=SR, channels=2, first_sample=0)
        broken.samples = np.zeros(3, np.float32)        # 3 samples cannot be 2 channels
        audio.publish(broken)
        for ahead in (300.0, 1e8):                       # a music clock far from now: nothing could play
            audio.publish(audio_messages(np.zeros(1024), SR, 1024, music_origin() + ahead)[0])
        assert wait_for(lambda: node.bad_messages == 9, 10.0)
        assert node.refused["audio"] == 3 and node.origin is None
        good = PoseConstraint(joint_names=["left_wrist"], times=[2.5], positions=[Point(x=0.3, y=1.2, z=0.1)])
        constraints.publish(good)
        for change, ok in [(Parameter("genre", value="Polka-not-in-model"), False),
                           (Parameter("w_music", value=-1.0), False),
                           (Parameter("w_music", value=float("nan")), False),
                           (Parameter("w_text", value=1e300), False),
                           (Parameter("genre", value="Jazz"), True),
                           (Parameter("w_text", value=2.5), True)]:
            assert node.set_parameters([change])[0].successful == ok, change.name
        assert node.get_parameter("genre").value == "Jazz" and node.get_parameter("w_music").value == 1.0
        origin = music_origin()
        wave, _ = click_track(100, 3.2, SR)
        for msg in audio_messages(wave, SR, 1024, origin):
            audio.publish(msg)
        assert wait_for(lambda: len(chunks) >= 2, 30.0)
        assert wait_for(lambda: statuses and statuses[-1].genre == "Jazz", 5.0)
        assert node.dancer.genre == "Jazz" and node.dancer.weights.text == 2.5
        assert node.dancer.constraints is not None and node.dancer.constraints.joints == ["left_wrist"]
        assert statuses[-1].bad_messages == 13


def test_robot_joint_limit_term_joins_generation(model_dir):
    chunks = []
    with ros_session() as ros:
        # the first chunk starts at 1 s heard + 1 s lead + 0.4 s: it is due once 1.4 s are heard
        node = generator(ros, model_dir, robot="g1", itto_steps=3, lead_seconds=1.0)
        assert node.dancer.joint_limit_fn is not None
        probe = ros.probe()
        probe.create_subscription(MotionChunk, "motion", chunks.append, 10)
        audio = probe.create_publisher(AudioChunk, "audio", 100)
        ros.start()
        assert wait_for(lambda: audio.get_subscription_count() > 0, 5.0)
        origin = music_origin()
        wave, _ = click_track(120, 1.6, SR)
        for msg in audio_messages(wave, SR, 1024, origin):
            audio.publish(msg)
        assert wait_for(lambda: len(chunks) >= 1, 30.0)
    joints = np.asarray(chunks[0].positions)
    assert np.isfinite(joints).all() and len(joints) == chunks[0].num_frames * NUM_JOINTS * 3


def test_lead_zero_is_sized_at_warm_up_from_the_measured_compute(model_dir):
    from dancemosaic_core.inference.streaming import LEAD_MARGIN_S, MAX_LEAD_S, lead_for
    from dancemosaic_ros.generator_node import LEAD_WARMUP_CHUNKS
    chunks = []
    with ros_session() as ros:
        node = ros.add(GeneratorNode, model_dir=str(model_dir), device="cpu", genre="Popular", warmup=True,
                       torch_threads=1, lead_seconds=0.0)
        probe = ros.probe()
        probe.create_subscription(MotionChunk, "motion", chunks.append, 10)
        audio = probe.create_publisher(AudioChunk, "audio", 100)
        ros.start()
        assert wait_for(lambda: audio.get_subscription_count() > 0, 60.0)    # subscribed once warm
        computes = node.dancer.warm_compute_seconds
        assert len(computes) == LEAD_WARMUP_CHUNKS - 1
        lead = node.dancer.lead_seconds
        assert lead == lead_for(computes) and LEAD_MARGIN_S < lead <= MAX_LEAD_S
        origin = music_origin()
        wave, _ = click_track(120, 4.5, SR)
        for msg in audio_messages(wave, SR, 1024, origin):
            audio.publish(msg)
        assert wait_for(lambda: len(chunks) >= 2, 30.0)
    for c in chunks:                                      # each generated at most `lead` ahead of its music
        assert c.audio_time >= c.start_time - lead - 1e-6
        assert c.draft_audio_time <= c.audio_time         # drafted on older audio, refined on the newest
