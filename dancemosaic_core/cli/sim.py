"""`dancemosaic sim g1.npz --robot g1 [--render g1.mp4] [--no-stabilize] [--fixed-base]`: play a
retargeted trajectory in MuJoCo and print how the robot fared (stayed up, contacts, slip, tracking,
limits). A free-standing robot with a base path is stabilized by default (retarget/stabilizer.py)."""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sim", help="play a robot trajectory in MuJoCo: balance, contacts, tracking, video")
    p.add_argument("trajectory", help="trajectory .npz from `dancemosaic retarget`")
    p.add_argument("--robot", default=None, help="robot name or YAML path (default: the trajectory's robot)")
    p.add_argument("--fixed-base", "--weld-pelvis", dest="fixed_base", action="store_true",
                   help="weld the pelvis to the trajectory's base path (display mode, cannot fall)")
    p.add_argument("--stabilize", action=argparse.BooleanOptionalAction, default=True,
                   help="close the balance loop: CoM and base-tilt feedback to the leg targets (default on; "
                        "off for a welded pelvis or a trajectory without base poses); --no-stabilize: open loop")
    p.add_argument("--feedforward", action=argparse.BooleanOptionalAction, default=True,
                   help="add the reference's inverse-dynamics joint torques for the feet holding the robot "
                        "(retarget/feedforward.py; a G1's tau command) to the PD targets (default on for a "
                        "free-standing robot with a base path); --no-feedforward: position targets alone")
    p.add_argument("--feedforward-scale", type=float, default=None,
                   help="fraction of the feed-forward torque (default: FeedforwardOptions.scale)")
    p.add_argument("--push", type=float, nargs=3, default=None, metavar=("TIME", "SECONDS", "NEWTONS_X"),
                   help="push the pelvis forward with NEWTONS_X (negative: backward) for SECONDS from TIME")
    p.add_argument("--estimated-state", action="store_true",
                   help="feed the stabilizer the base state a real G1 has (pelvis IMU + joint encoders, "
                        "retarget/estimator.py) instead of the simulated one; reports the estimate's error")
    p.add_argument("--render", default=None, help="write a video (.mp4/.mov/.mkv) or .gif of the playback")
    p.add_argument("--size", default="480", help="video frame size: N or WxH pixels (default 480)")
    p.add_argument("--music", default=None, help="audio file to mux into the video")
    p.add_argument("--json", default=None, help="also write the report as JSON here")
    p.set_defaults(func=run)


def stayed_up(report, *, fixed_base: bool, stabilize: bool, why_not: str | None = None,
              feedforward: bool = False) -> str:
    """One line: the mode and whether the robot stayed up, and for how long."""
    if fixed_base:
        mode = "welded pelvis (display; cannot fall)"
    else:
        mode = "free-standing, " + ("stabilized" if stabilize else "open loop" + (f" ({why_not})" if why_not else ""))
        mode += ", torque feed-forward" if feedforward else ""
    return f"{mode}: {report.verdict()}"


def run(args) -> int:
    from dancemosaic_core.cli.render import parse_size
    from dancemosaic_core.render import video
    from dancemosaic_core.common.errors import DanceMosaicError
    from dancemosaic_core.retarget.feedforward import FeedforwardOptions
    from dancemosaic_core.retarget.io import load_trajectory_for
    from dancemosaic_core.sim.playback import Playback

    trajectory, robot = load_trajectory_for(args.trajectory, args.robot)
    size = parse_size(args.size) if args.render else None
    push = None if args.push is None else (args.push[0], args.push[1], [args.push[2], 0.0, 0.0])
    stabilize = args.stabilize and not args.fixed_base and trajectory.base is not None
    feedforward = args.feedforward and not args.fixed_base and trajectory.base is not None
    scale = args.feedforward_scale
    if scale is not None and not (math.isfinite(scale) and 0.0 <= scale <= 2.0):
        raise DanceMosaicError(f"--feedforward-scale {scale} is out of range; give a fraction from 0 to 2 (1: the "
                               f"whole inverse-dynamics torque)")
    options = FeedforwardOptions() if scale is None else FeedforwardOptions(scale=scale)
    run = Playback(trajectory, robot, fixed_base=args.fixed_base, render_size=size, stabilize=stabilize,
                   push=push, estimated_state=args.estimated_state and stabilize,
                   feedforward=options if feedforward else None)
    if args.render:
        out = Path(args.render)
        if out.suffix.lower() == ".gif":
            video.write_gif(out, run.frames(), trajectory.fps)
        else:
            video.write_video(out, run.frames(), trajectory.fps, audio=args.music)
    else:
        for _ in run.frames():
            pass
    report = run.report()
    print(report.table())
    no_base = args.stabilize and not args.fixed_base and trajectory.base is None
    print(stayed_up(report, fixed_base=args.fixed_base, stabilize=stabilize, feedforward=feedforward,
                    why_not="the trajectory has no base poses to stabilize about" if no_base else None))
    summary = {**report.summary(), "fixed_base": args.fixed_base, "stabilized": stabilize,
               "feedforward_scale": options.scale if feedforward else None}
    if trajectory.base is not None:
        from dancemosaic_core.retarget.balance import zmp_margin
        balance = zmp_margin(robot, trajectory.q, trajectory.base, trajectory.fps)
        print(balance.table(prefix="reference "))
        summary["reference_balance"] = balance.summary()
    if args.render:
        print(f"wrote {args.render}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")
    return 0
