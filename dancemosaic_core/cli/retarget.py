"""`dancemosaic retarget dance.npz --robot g1 --out g1.npz [--fixed-base] [--no-balance]`: a 22-joint
motion to a robot joint trajectory, with a summary table. A floating base is balance-aware by
default (retarget/com_plan.py)."""
from __future__ import annotations

import argparse
import time
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("retarget", help="retarget a motion to a humanoid robot (Pinocchio IK within its limits)")
    p.add_argument("motion", help="motion .npz (22 joints, y-up metres)")
    p.add_argument("--robot", default="g1", help="robot name (config/robots/NAME.yaml) or YAML path (default g1)")
    p.add_argument("--out", default=None, help="trajectory .npz (default: <motion>_<robot>.npz)")
    p.add_argument("--fixed-base", action="store_true",
                   help="pin the pelvis (display mode): targets relative to the human pelvis, no base output")
    p.add_argument("--balance", action=argparse.BooleanOptionalAction, default=True,
                   help="balance-aware (default, floating base): plan the CoM by ZMP preview control on the "
                        "contact schedule and track it; --no-balance: the kinematic retarget alone")
    p.add_argument("--export-beyondmimic", default=None, metavar="MOTION.npz",
                   help="also write a BeyondMimic whole_body_tracking motion file (50 fps; floating base)")
    p.add_argument("--iterations", type=int, default=None, help="IK iterations per frame after the first (default 2)")
    p.set_defaults(func=run)


def summary_table(summary: dict, seconds: float) -> str:
    contact = summary["contact_fraction"]
    rows = [("robot", f"{summary['robot']} ({'floating' if summary['floating_base'] else 'fixed'} base)"),
            ("frames", f"{summary['frames']} at {summary['fps']:g} fps"),
            ("success", "yes" if summary["success"] else "no (some frames above the residual limit)"),
            ("residual", f"{100 * summary['residual_mean_m']:.1f} cm mean, {100 * summary['residual_max_m']:.1f} cm max"),
            ("at a position limit", f"{100 * summary['frames_with_clamp']:.1f} % of frames"),
            ("filter", f"{summary['velocity_clamps']} velocity, {summary['acceleration_clamps']} acceleration clamps"),
            ("feet planted", f"left {100 * contact[0]:.0f} %, right {100 * contact[1]:.0f} %"),
            ("speed", f"{summary['frames'] / max(seconds, 1e-9):.0f} frames/s")]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def run(args) -> int:
    from dancemosaic_core.common.errors import DanceMosaicError
    from dancemosaic_core.motion.io import load_motion
    from dancemosaic_core.retarget import Retargeter, RetargetOptions, load_robot
    from dancemosaic_core.retarget.io import save_trajectory

    robot = load_robot(args.robot)
    motion = load_motion(args.motion)
    options = RetargetOptions()
    if args.iterations is not None:
        if not 1 <= args.iterations <= 100:
            raise DanceMosaicError(f"--iterations {args.iterations}: give an integer in 1..100")
        options.iterations = args.iterations
    if args.export_beyondmimic and args.fixed_base:
        raise DanceMosaicError("--export-beyondmimic needs the floating-base pose; drop --fixed-base")
    retargeter = Retargeter(robot=robot, floating_base=not args.fixed_base, options=options)
    start = time.perf_counter()
    # the ZMP needs accelerations (3 frames); a fixed base has no balance to plan
    balance = args.balance and not args.fixed_base and len(motion.joints) >= 3
    if balance:
        from dancemosaic_core.retarget.com_plan import balanced_retarget
        result, plan = balanced_retarget(retargeter, motion.joints, motion.fps)
    else:
        result = retargeter.retarget(motion.joints, fps=motion.fps)
    seconds = time.perf_counter() - start
    out = Path(args.out) if args.out else Path(args.motion).with_name(f"{Path(args.motion).stem}_{robot.name}.npz")
    save_trajectory(out, result, motion=str(args.motion))
    print(summary_table(result.summary(), seconds))
    if balance:
        print(plan.after.table())
        print(plan.table())
    elif result.base is not None and len(result.q) >= 3:
        from dancemosaic_core.retarget.balance import zmp_margin
        print(zmp_margin(robot, result.q, result.base, result.fps).table())
    print(f"wrote {out}")
    if args.export_beyondmimic:
        from dancemosaic_core.cli.export import export_beyondmimic
        from dancemosaic_core.retarget.export import BEYONDMIMIC_FPS
        export_beyondmimic(robot, result, args.export_beyondmimic, BEYONDMIMIC_FPS)
    return 0
