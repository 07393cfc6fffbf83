"""config/ros/dance.yaml and the nodes' declared parameters agree, and every default passes
its own check (a node started from the file alone does not refuse it)."""
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.ros

try:
    import dancemosaic.msg  # noqa: F401
except ImportError as exc:
    pytest.skip(f"dancemosaic.msg is not generated ({exc}); run `make install`", allow_module_level=True)

from dancemosaic_ros import audio_node, generator_node, retarget_node, stabilizer_node  # noqa: E402

CONFIG = Path(__file__).resolve().parents[2] / "config" / "ros" / "dance.yaml"
STABILIZER_CONFIG = CONFIG.with_name("stabilizer.yaml")
MODULES = {"audio_node": audio_node, "generator_node": generator_node, "retarget_node": retarget_node,
           "stabilizer_node": stabilizer_node}


@pytest.mark.parametrize("node", sorted(MODULES))
def test_config_section_matches_declared_parameters(node):
    config = STABILIZER_CONFIG if node == "stabilizer_node" else CONFIG
    section = yaml.safe_load(config.read_text())[node]["ros__parameters"]
    params = MODULES[node].PARAMS
    assert set(section) == set(params)
    for name, value in section.items():
        spec = params[name]
        assert spec.description, name
        assert type(value) is type(spec.default), f"{node}.{name}: {value!r} vs default {spec.default!r}"
        assert spec.check is None or spec.check(value) is None, name
        assert spec.check is None or spec.check(spec.default) is None, name


def test_generator_defaults_are_the_measured_low_latency_ones():
    """The node, dance.yaml and StreamingDancer share the short-chunk CPU defaults
    (docs/inference.md, "Short chunks"), and torch runs one thread unless told otherwise."""
    import inspect

    from dancemosaic_core.inference.streaming import StreamingDancer
    dancer = inspect.signature(StreamingDancer).parameters
    section = yaml.safe_load(CONFIG.read_text())["generator_node"]["ros__parameters"]
    for name in ("chunk_seconds", "steps", "itto_steps", "rhythm_weight"):
        assert generator_node.PARAMS[name].default == dancer[name].default == section[name], name
    # the node sizes its lookahead at warm-up (0); without a warm-up it takes StreamingDancer's
    assert generator_node.PARAMS["lead_seconds"].default == section["lead_seconds"] == 0.0
    assert generator_node.FALLBACK_LEAD_S == dancer["lead_seconds"].default
    assert dancer["chunk_seconds"].default <= 0.5 and dancer["steps"].default <= 3
    assert dancer["rhythm_weight"].default > 0 and dancer["itto_steps"].default > 0
    assert generator_node.PARAMS["torch_threads"].default == 1


def test_generator_runs_the_streaming_beat_aware_itto():
    from dancemosaic_core.inference.itto import STREAMING_BEAT_ITTO
    for name, value in STREAMING_BEAT_ITTO.items():
        assert generator_node.PARAMS[name].default == value, name
