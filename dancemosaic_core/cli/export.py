"""`dancemosaic export g1.npz --out g1_motion.npz [--fps 50]`: a retargeted floating-base trajectory
as a BeyondMimic (whole_body_tracking) motion file for an RL tracking policy."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from dancemosaic_core.retarget.export import BEYONDMIMIC_FPS
    p = sub.add_parser("export", help="a robot trajectory as a BeyondMimic whole_body_tracking motion file (.npz)")
    p.add_argument("trajectory", help="trajectory .npz from `dancemosaic retarget` (floating base)")
    p.add_argument("--out", required=True, help="motion file to write (.npz)")
    p.add_argument("--robot", default=None, help="robot name or YAML path (default: the trajectory's robot)")
    p.add_argument("--fps", type=int, default=BEYONDMIMIC_FPS,
                   help=f"frame rate of the motion file (default {BEYONDMIMIC_FPS}, BeyondMimic's)")
    p.set_defaults(func=run)


def export_beyondmimic(robot, trajectory, out: str, fps: int) -> None:
    """Write the motion file and say what it holds."""
    from dancemosaic_core.retarget.export import beyondmimic_motion, save_beyondmimic
    motion = beyondmimic_motion(robot, trajectory, fps)
    path = save_beyondmimic(out, motion)
    frames, joints = motion["joint_pos"].shape
    print(f"wrote {path}: BeyondMimic motion, {frames} frames at {fps} fps, {joints} joints, "
          f"{motion['body_pos_w'].shape[1]} bodies (Isaac Lab breadth-first order)")


def run(args) -> int:
    from dancemosaic_core.retarget.io import load_trajectory_for

    trajectory, robot = load_trajectory_for(args.trajectory, args.robot)
    export_beyondmimic(robot, trajectory, args.out, args.fps)
    return 0
