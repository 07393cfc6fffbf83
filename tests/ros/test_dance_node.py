"""DanceNode, the base of the three nodes, as a real rclpy node over loopback DDS: parameter
values checked at start-up and on every change, refused input counted by reason, the status."""
import pytest

pytestmark = pytest.mark.ros

try:
    from dancemosaic.msg import DanceStatus
except ImportError as exc:
    pytest.skip(f"dancemosaic.msg is not generated ({exc}); run `make install`", allow_module_level=True)

from rclpy.parameter import Parameter  # noqa: E402

from dancemosaic_core.common.errors import DanceMosaicError  # noqa: E402
from dancemosaic_ros.dance_node import DanceNode  # noqa: E402
from dancemosaic_ros.params import Param, integer, number, one_of  # noqa: E402
from tests.ros.ros_helpers import ros_session, wait_for  # noqa: E402

PARAMS = {
    "gain": Param(1.0, "output gain", number(0, 100, above=True)),
    "taps": Param(4, "filter taps", integer(1, 8), read_only=True),
    "mode": Param("soft", "clipping mode", one_of("soft", "hard")),
    "label": Param("", "free text: any value is fine"),
}


class CountingNode(DanceNode):
    """A DanceNode that refuses the label 'forbidden' (a check needing the node), records the
    changes it was told of and reports its gain as the status tempo."""

    def __init__(self, **kwargs):
        super().__init__("counting_node", PARAMS, "counting/status", **kwargs)
        self.changed = []

    def check_parameter_changes(self, values):
        return "label: 'forbidden' is reserved; pick another label" if values.get("label") == "forbidden" else None

    def parameters_changed(self, names):
        self.changed.append(names)

    def status_fields(self, msg):
        msg.tempo_bpm = self.params["gain"]


def test_bad_start_values_are_refused_naming_parameter_value_and_range():
    with ros_session() as ros:
        with pytest.raises(DanceMosaicError) as error:
            ros.add(CountingNode, taps=0, gain=-2.0)
    text = str(error.value)
    assert "taps: 0 must be an integer in 1..8" in text
    assert "gain: -2.0 must be a finite number > 0" in text
    assert "counting_node" in text and "dance.yaml" in text


def test_bad_changes_are_refused_counted_and_leave_the_old_value(capfd):
    with ros_session() as ros:
        node = ros.add(CountingNode, gain=2.0)
        assert node.params == {"gain": 2.0, "taps": 4, "mode": "soft", "label": ""}
        for change, ok in [(Parameter("gain", value=float("nan")), False),
                           (Parameter("mode", value="loud"), False),
                           (Parameter("label", value="forbidden"), False),
                           (Parameter("gain", value=3.0), True),
                           (Parameter("label", value="anything"), True)]:
            result = node.set_parameters([change])[0]
            assert result.successful == ok, change.name
            assert ok or result.reason.startswith(change.name), result.reason
        assert node.params["gain"] == node.get_parameter("gain").value == 3.0
        assert node.params["mode"] == "soft" and node.params["label"] == "anything"
        assert node.changed == [{"gain"}, {"label"}]
        assert node.refused == {"parameter": 3} and node.bad_messages == 3
        assert node.message == "refused parameter change: label: 'forbidden' is reserved; pick another label"
    logged = capfd.readouterr().err
    assert "refused parameter change: mode: 'loud' must be one of 'soft', 'hard'" in logged
    assert "(bad messages so far: 2)" in logged


def test_refused_input_is_counted_by_reason_and_published_in_the_status():
    statuses = []
    with ros_session() as ros:
        node = ros.add(CountingNode, gain=5.0)
        probe = ros.probe()
        probe.create_subscription(DanceStatus, "counting/status", statuses.append, 10)
        ros.start()
        assert wait_for(lambda: probe.count_publishers("counting/status") > 0
                        and node.status_publisher.get_subscription_count() > 0, 5.0)
        node.refuse("audio", "audio chunk of 3 samples cannot be 2 channels")
        node.refuse("motion", "chunk with 21 joints; the skeleton has 22")
        node.refuse("audio", "sample_rate 0")
        node.state = DanceStatus.STATE_DANCING
        assert node.refused == {"audio": 2, "motion": 1} and node.bad_messages == 3
        node.publish_status(latency_s=0.25)
        assert wait_for(lambda: len(statuses) == 1, 5.0)
    status = statuses[0]
    assert status.bad_messages == 3 and status.message == "sample_rate 0"
    assert status.generator_state == DanceStatus.STATE_DANCING
    assert status.tempo_bpm == 5.0 and status.latency_s == 0.25
