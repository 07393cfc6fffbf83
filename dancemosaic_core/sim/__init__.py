"""MuJoCo playback of robot trajectories: balance, contacts, tracking, offscreen rendering.

    from dancemosaic_core.sim import play, SimReport
    report = play(result, robot, fixed_base=False, render_size=(480, 480))
"""
from dancemosaic_core.sim.model import SimModel, build_sim_model
from dancemosaic_core.sim.playback import Playback, SimReport, play

__all__ = ["play", "Playback", "SimReport", "build_sim_model", "SimModel"]
