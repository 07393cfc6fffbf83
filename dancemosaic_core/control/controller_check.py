"""What the controller hand-shake found, in words: is the joint_trajectory_controller there, active,
and does it claim every joint of the robot config? The ROS side gathers the facts (subscribers of
`/<controller>/joint_trajectory`, the controller manager's `list_controllers` answer when it can
ask); this module judges them, so the verdict is testable without ROS."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ControllerInfo:
    """One entry of controller_manager's list_controllers answer."""
    name: str
    state: str                         # "active", "inactive", ...
    claimed_interfaces: list[str]      # e.g. "left_knee_joint/position"


@dataclass
class ControllerReport:
    ok: bool | None                    # None: could not be checked
    text: str


def subscriber_report(topic: str, subscribers: int, waited: float) -> ControllerReport:
    if subscribers > 0:
        return ControllerReport(True, f"{topic} has {subscribers} subscriber(s)")
    return ControllerReport(False, f"nothing subscribes to {topic} after {waited:.1f} s: is the controller "
                                   "loaded and is the `controller` parameter its name?")


def manager_report(controller: str, controllers: list[ControllerInfo], joint_names: list[str]) -> ControllerReport:
    """The named controller is listed, active, and claims a position interface of every joint."""
    found = next((c for c in controllers if c.name == controller), None)
    if found is None:
        listed = ", ".join(c.name for c in controllers) or "none"
        return ControllerReport(False, f"controller_manager lists no controller `{controller}` (listed: {listed})")
    if found.state != "active":
        return ControllerReport(False, f"controller `{controller}` is {found.state}, not active: activate it "
                                       f"(ros2 control set_controller_state {controller} active)")
    claimed = {i.split("/")[0] for i in found.claimed_interfaces if i.endswith("/position")}
    missing = [j for j in joint_names if j not in claimed]
    if missing:
        return ControllerReport(False, f"controller `{controller}` does not claim the position of "
                                       f"{len(missing)} robot joint(s): {', '.join(missing[:6])}"
                                       f"{' ...' if len(missing) > 6 else ''}; its `joints` must be the robot "
                                       "config's")
    return ControllerReport(True, f"controller `{controller}` is active and claims all {len(joint_names)} joints")
