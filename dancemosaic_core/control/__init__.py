"""Joint limits and timing of the commands a robot gets: the one safety layer.

    from dancemosaic_core.control import SafetyFilter, TrajectoryStreamer, LimitFilter

limits.py: `JointLimits` (the position clamp, velocity cap and their checks), `SafetyFilter` (the
last gate: position and velocity limits across chunks, ease, hold, deadline-miss extension),
`LimitFilter` (velocity and acceleration smoothing after the retargeting IK). streamer.py:
`TrajectoryStreamer`, the plan a joint_trajectory_controller was sent, changed without a jump.
Plain Python, no middleware.
"""
from dancemosaic_core.control.limits import (
           FilterReport,
           JointLimits,
           LimitFilter,
           SafetyFilter,
           cosine_ramp,
)
from dancemosaic_core.control.streamer import Segment, TrajectoryStreamer

__all__ = ["FilterReport", "JointLimits", "LimitFilter", "SafetyFilter", "Segment", "TrajectoryStreamer",
           "cosine_ramp"]
