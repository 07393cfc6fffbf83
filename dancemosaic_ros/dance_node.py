"""DanceNode: what every DanceMosaic node does besides its own work. It declares the node's
parameters (dancemosaic_ros.params) and refuses bad changes, counts the input it refuses by
reason, and publishes the node's DanceStatus."""
from __future__ import annotations

import threading
from collections import Counter

from dancemosaic.msg import DanceStatus
from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node

from dancemosaic_ros.params import Param, check_changes, declare_parameters


class DanceNode(Node):
    """A node with the parameters `params` (checked at start-up and on every change; `self.params`
    holds the values in force), a count of refused input and a DanceStatus publisher on
    `status_topic`. Subclasses fill their own status fields in `status_fields`, add checks that
    need the node in `check_parameter_changes` and react to accepted changes in
    `parameters_changed`. `self._lock` guards the count and the message, and whatever else a
    subclass shares between callbacks of different threads."""

    def __init__(self, name: str, params: dict[str, Param], status_topic: str, **kwargs):
        super().__init__(name, **kwargs)
        self.param_specs = params
        self.params = declare_parameters(self, params)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.add_post_set_parameters_callback(self._after_set_parameters)
        self.status_publisher = self.create_publisher(DanceStatus, status_topic, 10)
        self.state, self.message = DanceStatus.STATE_IDLE, ""
        self.refused: Counter[str] = Counter()     # reason ("parameter", "audio", ...) -> inputs refused
        self._lock = threading.Lock()

    @property
    def bad_messages(self) -> int:
        """Inputs refused so far, all reasons together (DanceStatus.bad_messages)."""
        return sum(self.refused.values())

    def refuse(self, reason: str, what: str) -> None:
        """Count one refused input under `reason` and report `what` was wrong with it (log and
        status message). The node goes on with its previous state."""
        with self._lock:
            self.refused[reason] += 1
            self.message = what
            total = self.bad_messages
        self.get_logger().warning(f"{what} (bad messages so far: {total})")

    # --- status --------------------------------------------------------------------------------
    def publish_status(self, **fields) -> None:
        """Publish DanceStatus: the node's state, refused-input count and last message, the node's
        own fields (status_fields) and `fields` (e.g. latency_s=...)."""
        msg = DanceStatus(**fields)
        with self._lock:
            msg.header.stamp = self.get_clock().now().to_msg()
            msg.generator_state = self.state
            msg.bad_messages = self.bad_messages
            msg.message = self.message
            self.status_fields(msg)
        self.status_publisher.publish(msg)

    def status_fields(self, msg: DanceStatus) -> None:
        """Fill the node's own DanceStatus fields (called with self._lock held)."""

    # --- parameters ----------------------------------------------------------------------------
    def check_parameter_changes(self, values: dict) -> str | None:
        """Checks of the changes `values` (name -> new value) that need the running node, e.g. a
        genre the loaded model knows: the problem and its fix, or None when fine."""
        return None

    def parameters_changed(self, names: set[str]) -> None:
        """React to accepted changes of the parameters `names` (self.params holds the new values)."""

    def _on_set_parameters(self, changes) -> SetParametersResult:
        result = check_changes(self.param_specs, changes)
        if result.successful:
            problem = self.check_parameter_changes({parameter.name: parameter.value for parameter in changes})
            if problem:
                result = SetParametersResult(successful=False, reason=problem)
        if not result.successful:
            self.refuse("parameter", f"refused parameter change: {result.reason}")
        return result

    def _after_set_parameters(self, changes) -> None:
        for parameter in changes:
            if parameter.name in self.param_specs:
                self.params[parameter.name] = parameter.value
        self.parameters_changed({parameter.name for parameter in changes})
