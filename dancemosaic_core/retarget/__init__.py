"""Retargeting human dance motion to humanoid robots (Pinocchio), and the robots' joint limits
as a differentiable penalty for inference-time token optimisation.

    from dancemosaic_core.retarget import load_robot, Retargeter, RetargetResult, joint_limit_proxy

torch is imported only when joint_limit_proxy is used.
"""
from dancemosaic_core.retarget.layout import robot_joints, robot_rest_joints
from dancemosaic_core.retarget.retargeter import (
    Retargeter,
    RetargetOptions,
    RetargetResult,
)
from dancemosaic_core.retarget.robot import RobotConfig, load_robot

__all__ = ["load_robot", "RobotConfig", "Retargeter", "RetargetOptions", "RetargetResult",
           "joint_limit_proxy", "robot_joints", "robot_rest_joints"]


def __getattr__(name):
    if name == "joint_limit_proxy":
        from dancemosaic_core.retarget.proxy import joint_limit_proxy
        return joint_limit_proxy
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
