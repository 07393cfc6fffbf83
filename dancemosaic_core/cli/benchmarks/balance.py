"""Balance: ZMP margins, joint change of balance-aware retargeting, time standing free-floating in MuJoCo.

Dances: the procedural choreographer's dances to click tracks (genres x tempos, they step from foot
to foot), a double-support dance (squats with waving arms, both feet planted throughout) and, when
the demo song is installed, a choreographed dance to it (`--song-seconds`).
Per dance, retargeted to the G1 without and with balance (com_plan.balanced_retarget): the ZMP
margin of the reference (balance.zmp_margin), the joint RMS change, and MuJoCo free-floating
playback open loop, with the stabilizer (retarget/stabilizer.py), and with the torque feed-forward
(retarget/feedforward.py) alone and beside the stabilizer: fell or stood, and when; the balanced, stabilized
demo-like dance is also pushed (`--push` N for 0.2 s at 5 s), with and without the feed-forward.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

DOUBLE_SUPPORT = "double support: planted squats"
GENRE_TEMPI = (("Hiphop", 100), ("Jazz", 120), ("Popping", 140), ("Locking", 110), ("Breaking", 130),
               ("Urban", 125), ("Korean", 95), ("Choreography", 115), ("Chinese", 105), ("Tai", 120))


def add_arguments(parser) -> None:
    parser.add_argument("--robot", default="g1", help="robot config")
    parser.add_argument("--dances", type=int, default=10, help="choreographed dances (one genre each)")
    parser.add_argument("--seconds", type=float, default=12.0, help="length of each choreographed dance")
    parser.add_argument("--song-seconds", type=float, default=60.0, help="seconds of the demo song (0: skip)")
    parser.add_argument("--push", type=float, default=40.0, help="N of the push at 5 s (0.2 s, backward)")
    parser.add_argument("--feedforward-scale", type=float, default=None,
                        help="fraction of the inverse-dynamics torque fed forward (default: FeedforwardOptions)")
    parser.add_argument("--dynamics-passes", type=int, default=0,
                        help="re-plans of the CoM against the multibody ZMP error (com_plan.PlanOptions)")


def _dances(args) -> list[tuple[str, np.ndarray, float]]:
    from dancemosaic_core.audio.synth import click_track
    from dancemosaic_core.choreo import choreograph
    from dancemosaic_core.audio.io import DEMO_SONG
    from dancemosaic_core.motion.skeleton import MOTION_FPS
    from dancemosaic_core.retarget.synthetic import planted_squat
    out = []
    for i, (genre, bpm) in enumerate(GENRE_TEMPI[:args.dances]):
        wave, _ = click_track(bpm, args.seconds, 22050, jitter_ms=5.0, seed=i)
        motion = choreograph(wave, 22050, genre, seed=i)
        out.append((f"{genre}@{bpm}bpm", motion.joints, motion.fps))
    if args.seconds > 0:
        out.append((DOUBLE_SUPPORT, planted_squat(args.seconds), MOTION_FPS))
    if args.song_seconds > 0 and Path(DEMO_SONG).is_file():
        from dancemosaic_core.audio.io import load_audio
        wave, sr = load_audio(DEMO_SONG)
        motion = choreograph(wave[: int(args.song_seconds * sr)], sr, "Popping", seed=0)
        out.append((f"demo song {args.song_seconds:g} s (Popping)", motion.joints, motion.fps))
    return out


def _margins(report) -> dict:
    s = report.summary()
    return {k: s[k] for k in ("zmp_margin_window_min_m", "zmp_margin_window_mean_m",
                              "zmp_margin_window_negative_fraction", "zmp_margin_raw_negative_fraction")}


def _standing(report) -> dict:
    return {"fell": report.fell, "seconds_standing": report.fall_time if report.fell else report.seconds,
            "limit_hits": report.limit_hits}


def run(args) -> dict:
    from dancemosaic_core.retarget import Retargeter, load_robot
    from dancemosaic_core.retarget.com_plan import PlanOptions, balanced_retarget
    from dancemosaic_core.retarget.feedforward import FeedforwardOptions
    from dancemosaic_core.sim import play

    robot = load_robot(args.robot)
    feedforward = FeedforwardOptions() if args.feedforward_scale is None else \
        FeedforwardOptions(scale=args.feedforward_scale)
    retargeter = Retargeter(robot=robot)
    dances = _dances(args)
    results, start = {}, time.perf_counter()
    for name, joints, fps in dances:
        unbalanced = retargeter.retarget(joints, fps=fps)
        balanced, plan = balanced_retarget(retargeter, joints, fps, PlanOptions(dynamics_passes=args.dynamics_passes))
        entry = {"seconds": (len(joints) - 1) / fps, "joint_rms_change_rad": plan.joint_rms_change,
                 "steps": bool((plan.before.contacts.sum(axis=1) == 1).any()),
                 "zmp_unbalanced": _margins(plan.before), "zmp_balanced": _margins(plan.after)}
        for label, trajectory in (("unbalanced", unbalanced), ("balanced", balanced)):
            for mode, stabilize in (("open_loop", False), ("stabilized", True)):
                entry[f"sim_{label}_{mode}"] = _standing(play(trajectory, robot, stabilize=stabilize))
        entry["sim_balanced_open_loop_feedforward"] = _standing(play(balanced, robot, feedforward=feedforward))
        entry["sim_balanced_stabilized_feedforward"] = _standing(
            play(balanced, robot, stabilize=True, feedforward=feedforward))
        if name.startswith("demo") and args.push > 0:
            push = (5.0, 0.2, [-args.push, 0.0, 0.0])
            entry["sim_balanced_stabilized_pushed"] = _standing(play(balanced, robot, stabilize=True, push=push))
            entry["sim_balanced_stabilized_feedforward_pushed"] = _standing(
                play(balanced, robot, stabilize=True, feedforward=feedforward, push=push))
        results[name] = entry
    modes = ("sim_unbalanced_open_loop", "sim_unbalanced_stabilized", "sim_balanced_open_loop",
             "sim_balanced_stabilized", "sim_balanced_open_loop_feedforward", "sim_balanced_stabilized_feedforward")
    stepping = [e for name, e in results.items() if e["steps"] and not name.startswith("demo")]
    stood = {k: sum(not e[k]["fell"] for e in stepping) for k in modes}
    return {"dances": results, "stepping_dances": len(stepping), "stepping_dances_stood_whole_dance": stood,
            "count": len(results),
            "feedforward_scale": feedforward.scale,
            "dynamics_passes": args.dynamics_passes,
            "joint_rms_change_rad_max": max(e["joint_rms_change_rad"] for e in results.values()),
            "wall_seconds": time.perf_counter() - start}
