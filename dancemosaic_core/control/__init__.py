"""Joint limits and timing of the commands a robot gets: the one safety layer.

    from dancemosaic_core.control import SafetyFilter, TrajectoryStreamer, LimitFilter

limits.py: `JointLimits` (the position clamp, velocity cap and their checks), `SafetyFilter` (the
last gate: position and velocity limits across chunks, ease, hold, deadline-miss extension),
`LimitFilter` (velocity and acceleration smoothing after the retargeting IK). streamer.py:
`TrajectoryStreamer`, the plan a joint_trajectory_controller was sent, changed without a jump.
handover.py: `MotionBudget` (the ramp from the measured pose into the dance, `Handover`, and the
stop to rest, `Stop`), within a fraction of the velocity and acceleration limits. dance_stream.py:
`DanceStream`, the retarget node's chunk path (a ramp at every start, joins, extensions, stops).
controller_check.py: the verdict of the controller hand-shake. No ROS client library here.
"""
from dancemosaic_core.control.controller_check import ControllerInfo, ControllerReport
from dancemosaic_core.control.dance_stream import DanceStream
from dancemosaic_core.control.handover import Handover, MotionBudget, Stop
from dancemosaic_core.control.limits import (
           FilterReport,
           JointLimits,
           LimitFilter,
           SafetyFilter,
           cosine_ramp,
           ramp_fraction,
)
from dancemosaic_core.control.streamer import Segment, TrajectoryStreamer

__all__ = ["ControllerInfo", "ControllerReport", "DanceStream", "FilterReport", "Handover", "JointLimits",
           "LimitFilter", "MotionBudget", "SafetyFilter", "Segment", "Stop", "TrajectoryStreamer", "cosine_ramp", "ramp_fraction"]
