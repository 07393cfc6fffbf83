"""Property-based fuzzing of the retarget node over real DDS (Hypothesis): hostile MotionChunks,
AudioLevels and parameter values, generated within and far beyond the bounds of docs/ros.md
("Bounds"). Whatever arrives: the node lives, the e-stop answers, every published point stays
within the robot's limits, and the refusal counters equal the refusals the documented bounds
predict (restated here independently of the node's code)."""
import math

import numpy as np
import pytest

pytestmark = pytest.mark.ros

try:
    from dancemosaic.msg import AudioLevel
except ImportError as exc:
    pytest.skip(f"dancemosaic.msg is not generated ({exc}); run `make install`", allow_module_level=True)

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402

from dancemosaic_core.motion.skeleton import MOTION_FPS  # noqa: E402
from dancemosaic_ros.retarget_node import PARAMS  # noqa: E402
from tests.core.test_train_fixtures import synthetic_joints  # noqa: E402
from tests.ros.ros_helpers import call_service, ros_session, wait_for  # noqa: E402
from tests.ros.test_retarget_node import DT, FRAMES, Rig, chunk_msg  # noqa: E402

# documented parameter ranges: name -> (low, high, low excluded)
RANGES = {"ease_seconds": (0, 10, True), "extend_seconds": (0, 5, True), "command_lead": (0, 2, False),
          "silence_timeout": (0, 60, True), "max_ahead_seconds": (0, 60, True), "deadline_margin": (0, 2, False),
          "state_timeout": (0, 60, True), "divergence_threshold": (0, 10, False), "divergence_seconds": (0, 60, True),
          "min_zmp_margin": (-0.5, 0.5, False)}

HOSTILE_FLOATS = st.one_of(st.sampled_from([0.0, -0.0, 1e-300, 1e300, -1e300, math.inf, -math.inf, math.nan]),
                           st.floats(-1e6, 1e6))
OFFSETS = st.one_of(st.sampled_from([-1e8, -1e4, -11.0, 11.0, 1e4, 1e8]), st.floats(-2.0, 3.0))


@st.composite
def motion_chunks(draw):
    """(offset from now, joints (F, J, 3) or raw values, claimed frames, joints, fps)."""
    frames = draw(st.sampled_from([0, 1, 5, 20, 601]))
    joints = draw(st.sampled_from([22, 22, 22, 21, 0]))
    values = synthetic_joints(max(frames, 1), draw(st.integers(0, 3)))[:frames, :max(joints, 1)]
    if draw(st.booleans()):
        values = values * draw(st.sampled_from([1.0, 5.0, 1e30]))
    if draw(st.booleans()) and values.size:
        values = values.astype(np.float64)
        values.flat[draw(st.integers(0, values.size - 1))] = draw(HOSTILE_FLOATS)
    claimed = max(0, frames + draw(st.sampled_from([0, 0, 0, 1, -1])))
    fps = draw(st.sampled_from([MOTION_FPS, MOTION_FPS, 30.0]))
    with np.errstate(over="ignore"):        # 1e300 becomes inf in the message's float32
        return draw(OFFSETS), values.astype(np.float32), claimed, joints, fps


def chunk_refused(offset, values, claimed, joints, fps, ahead) -> bool:
    """The documented bounds: 22 joints, 1..600 frames, all values, the node's rate, finite, and
    stamped within max_ahead_seconds of now (the stamp is checked last, on a valid chunk)."""
    frames = values.shape[0]
    return (joints != 22 or not 1 <= claimed <= 600 or claimed != frames or fps != MOTION_FPS
            or not np.isfinite(values).all() or not -ahead - frames * DT <= offset <= ahead)


# loudest_rms of audio levels: music (not silence) or hostile float32 values
LEVELS = st.one_of(st.just(0.1), st.sampled_from([3e38, -1e-30, -1.0, math.inf, -math.inf, math.nan]),
                   st.floats(0.125, 1e6, width=32), st.floats(-1e6, -0.125, width=32))


def level_refused(loudest_rms) -> bool:
    return not (math.isfinite(loudest_rms) and loudest_rms >= 0.0)


def parameter_refused(name, value) -> bool:
    low, high, above = RANGES[name]
    return not (math.isfinite(value) and (value > low if above else value >= low) and value <= high)


def test_hostile_messages_and_parameters_never_break_the_retarget_node():
    with ros_session() as ros:
        rig = Rig(ros)
        expected = {"motion": 0, "audio": 0, "parameter": 0}

        @settings(max_examples=40, deadline=None, derandomize=True, phases=[Phase.generate],
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
        @given(chunks=st.lists(motion_chunks(), max_size=3), levels=st.lists(LEVELS, max_size=2),
               changes=st.lists(st.tuples(st.sampled_from(sorted(RANGES)), HOSTILE_FLOATS), max_size=2))
        def example(chunks, levels, changes):
            for offset, values, claimed, joints, fps in chunks:
                msg = chunk_msg(values, rig.now() + offset, rig.origin_ns, 0, fps=fps)
                msg.num_frames, msg.num_joints = claimed, joints
                rig.motion.publish(msg)
                ahead = rig.node.params["max_ahead_seconds"]
                expected["motion"] += chunk_refused(offset, values, claimed, joints, fps, ahead)
            for loudest_rms in levels:
                rig.audio.publish(AudioLevel(sample_rate=8000, first_sample=0, num_samples=800,
                                             loudest_rms=loudest_rms))
                expected["audio"] += level_refused(loudest_rms)
            for name, value in changes:
                accepted = rig.node.set_parameters([Parameter(name, value=float(value))])[0].successful
                assert accepted != parameter_refused(name, value), (name, value)
                expected["parameter"] += not accepted
            assert call_service(rig.probe, Trigger, "dance/estop", timeout=10.0).success
            assert call_service(rig.probe, Trigger, "dance/resume", timeout=10.0).success
            assert wait_for(lambda: all(rig.node.refused[k] == v for k, v in expected.items()), 10.0), \
                (dict(rig.node.refused), expected)

        example()
        assert rig.node.bad_messages == sum(expected.values()) and all(expected.values())   # refusals of every kind
        # the valid chunks of an example can all meet its e-stop before they are retargeted: after the
        # storm, with the parameters back at their defaults, music and one valid chunk must still stream
        assert all(r.successful for r in rig.node.set_parameters(
            [Parameter(name, value=float(PARAMS[name].default)) for name in RANGES]))
        rig.sound(0.1, 0.3)
        rig.send(synthetic_joints(FRAMES, 1), rig.now() + 0.3, 0)
        assert wait_for(lambda: rig.trajectories, 10.0)   # the valid chunks were streamed
        rig.check()
