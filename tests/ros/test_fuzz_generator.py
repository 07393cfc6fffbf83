"""Property-based fuzzing of the generator node (tiny random model) over real DDS (Hypothesis):
hostile PoseConstraints, audio streams stamped anywhere on the clock and guidance weights. The
node lives, answers parameter requests, and its refusal counters equal the refusals the
documented bounds (docs/ros.md, "Bounds") predict, restated here independently of its code."""
import math

import numpy as np
import pytest

pytestmark = pytest.mark.ros

try:
    from dancemosaic.msg import AudioChunk, MotionChunk, PoseConstraint
except ImportError as exc:
    pytest.skip(f"dancemosaic.msg is not generated ({exc}); run `make install`", allow_module_level=True)

from geometry_msgs.msg import Point  # noqa: E402
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402

from dancemosaic_core.motion.skeleton import JOINT_NAMES  # noqa: E402
from dancemosaic_ros.convert import to_time  # noqa: E402
from dancemosaic_ros.generator_node import GeneratorNode  # noqa: E402
from tests.model_fixture import tiny_model_dir  # noqa: E402
from tests.ros.ros_helpers import ros_session, wait_for  # noqa: E402

SR = 16000
HOSTILE = st.one_of(st.sampled_from([math.nan, math.inf, -math.inf, 1e300, -1e300, -1.0, 0.0, 11.0, 101.0, 8000.0]),
                    st.floats(0.0, 5.0))
MAX_CONSTRAINTS = 1000


@st.composite
def constraint_messages(draw):
    n = draw(st.sampled_from([0, 1, 2, 3, MAX_CONSTRAINTS + 1]))
    joints = [draw(st.sampled_from(["head", "left_wrist", "tail"]))] * (n + draw(st.sampled_from([0, 0, 1])))
    times = [draw(HOSTILE)] * n
    positions = [Point(x=draw(HOSTILE), y=1.0, z=0.0)] * (n + draw(st.sampled_from([0, 0, -1])) if n else 0)
    weights = [draw(HOSTILE)] * n if draw(st.booleans()) else []
    return PoseConstraint(joint_names=joints, times=times, positions=positions, weights=weights,
                          mode=draw(st.sampled_from([0, 0, 1, 1, 2, 7])))


def constraints_refused(msg: PoseConstraint, held: int) -> bool:
    """The documented bounds; `held`: constraints pending before this message."""
    n = len(msg.times)
    arrays = (msg.joint_names, msg.positions) + ((msg.weights,) if len(msg.weights) else ())
    values = [*msg.times, *(p.x for p in msg.positions), *msg.weights]
    if msg.mode not in (0, 1, 2) or max(n, *map(len, arrays)) > MAX_CONSTRAINTS:
        return True
    if msg.mode == 2:
        return bool(n or len(msg.joint_names) or len(msg.positions))
    return (any(len(a) != n for a in arrays) or any(j not in JOINT_NAMES for j in msg.joint_names)
            or not all(math.isfinite(v) for v in values) or not all(0 <= t <= 7200 for t in msg.times)
            or not all(abs(p.x) <= 10 for p in msg.positions) or not all(0 <= w <= 100 for w in msg.weights)
            or (msg.mode == 1 and held + n > MAX_CONSTRAINTS))


def held_after(msg: PoseConstraint, held: int) -> int:
    return {0: len(msg.times), 1: held + len(msg.times), 2: 0}[msg.mode]


def test_hostile_constraints_clocks_and_weights_never_break_the_generator(tmp_path):
    model = tiny_model_dir(tmp_path)
    chunks = []
    with ros_session() as ros:
        node = ros.add(GeneratorNode, model_dir=str(model), device="cpu", genre="Popular", warmup=False,
                       torch_threads=1)
        probe = ros.probe()
        probe.create_subscription(MotionChunk, "motion", chunks.append, 10)
        audio = probe.create_publisher(AudioChunk, "audio", 100)
        constraints = probe.create_publisher(PoseConstraint, "pose_constraints", 10)
        ros.start()
        assert wait_for(lambda: audio.get_subscription_count() > 0 and constraints.get_subscription_count() > 0,
                        10.0)
        expected = {"constraints": 0, "audio": 0, "parameter": 0}
        state = {"held": 0, "first_sample": 0}

        @settings(max_examples=40, deadline=None, derandomize=True, phases=[Phase.generate],
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
        @given(messages=st.lists(constraint_messages(), max_size=2),
               clocks=st.lists(st.sampled_from([0.0, 1.0, -5.0, 11.0, -300.0, 300.0, 1e4, 1e8, -1e8]), max_size=2),
               weights=st.lists(st.tuples(st.sampled_from(["w_text", "w_music", "w_pose"]), HOSTILE), max_size=2))
        def example(messages, clocks, weights):
            for msg in messages:
                constraints.publish(msg)
                refused = constraints_refused(msg, state["held"])
                expected["constraints"] += refused
                if not refused:
                    state["held"] = held_after(msg, state["held"])
            for offset in clocks:
                # every block jumps far in first_sample: a new stream, whose stamp is checked
                state["first_sample"] += 10**7
                msg = AudioChunk(sample_rate=SR, channels=1, first_sample=state["first_sample"])
                msg.header.stamp = to_time(node.get_clock().now().nanoseconds * 1e-9 + offset)
                msg.samples = np.full(1024, 0.1, np.float32)
                audio.publish(msg)
                expected["audio"] += abs(offset) > 10.0
            for name, value in weights:
                accepted = node.set_parameters([Parameter(name, value=float(value))])[0].successful
                assert accepted == (math.isfinite(value) and 0 <= value <= 50), (name, value)
                expected["parameter"] += not accepted
            assert wait_for(lambda: all(node.refused[k] == v for k, v in expected.items()), 10.0), \
                (dict(node.refused), expected)

        example()
        assert node.bad_messages == sum(expected.values()) and all(expected.values())   # refusals of every kind
        assert node._worker.is_alive()
    for chunk in chunks:
        assert np.isfinite(np.asarray(chunk.positions)).all()
