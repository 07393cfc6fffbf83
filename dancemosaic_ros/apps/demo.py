"""`dancemosaic demo`: the main job. A real recording plays through the real ROS 2 pipeline
(audio node in file mode -> generator -> retarget, Fast DDS on loopback); everything the nodes
publish is recorded; the published joint trajectory is replayed on the G1 in MuJoCo; out come
`demo.mp4` (robot and skeleton side by side, music muxed) and `demo_report.md`.

    1. song        the recording cut to --seconds (default: Frozen Bubble's theme, Debian
                   frozen-bubble-data, installed by scripts/install.sh)
    2. pipeline    `dancemosaic_ros.bringup` + `dancemosaic_ros.live_probe --full` subprocesses
    3. motion      the generator's chunks on the music clock; the trajectory the controller runs
    4. MuJoCo      floating base under the stabilizer with the torque feed-forward (the recorded
                   base pose is their reference; --no-stabilize: open loop, --no-feedforward:
                   position targets alone); the welded-pelvis display if it fell (--fixed-pelvis:
                   always)
    5. video       robot render | skeleton render, captions, music
    6. report      tempo, BAS, FSR, limit violations, balance, latency, real-time factor

`--live` captures the default microphone instead of a file until Ctrl-C (or --seconds).
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from dancemosaic_core.audio.io import DEMO_SONG, DEMO_SONG_PACKAGE
from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.motion.skeleton import MOTION_FPS, NUM_JOINTS
from dancemosaic_ros.apps.processes import ROOT, run_pipeline

SONG_RATE = 22050    # the generator analyses at 10.24 kHz: a 44.1 kHz stream only doubles message traffic


def register(sub: argparse._SubParsersAction) -> None:
    from dancemosaic_core.inference.loader import DEFAULT_MODEL_DIR
    p = sub.add_parser("demo", help="the G1 dancing to real music through the ROS pipeline, into MuJoCo")
    p.add_argument("--music", default=DEMO_SONG, help="audio file (default: Frozen Bubble's theme)")
    p.add_argument("--seconds", type=float, default=60.0, help="seconds of the song to dance")
    p.add_argument("--live", action="store_true", help="capture the default microphone instead of --music")
    p.add_argument("--genre", default="", help="genre prompt ('' = the node's parameter file)")
    p.add_argument("--robot", default="g1")
    p.add_argument("--model", default=str(DEFAULT_MODEL_DIR))
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default="out", help="directory for demo.mp4 and demo_report.md")
    p.add_argument("--size", type=int, default=400, help="pixel height of each video panel")
    p.add_argument("--single-process", action="store_true",
                   help="run the nodes in one bringup process (default: one process per node, which keeps "
                        "the Python GIL from serialising audio, generation and IK on a small CPU)")
    p.add_argument("--stabilize", action=argparse.BooleanOptionalAction, default=True,
                   help="balance feedback on the simulated robot (default on); --no-stabilize: the trajectory alone")
    p.add_argument("--feedforward", action=argparse.BooleanOptionalAction, default=True,
                   help="add the reference's inverse-dynamics joint torques to the PD targets (a G1's tau "
                        "command; default on with a base pose); --no-feedforward: position targets alone")
    p.add_argument("--balance-plan", action="store_true",
                   help="the retarget node plans the CoM over the stream (balance_plan: the weight moves onto "
                        "the stance foot before a lift-off; ~2.5x its IK time: on this 2-core CPU it made "
                        "100 of 147 chunks late)")
    p.add_argument("--fixed-pelvis", action="store_true",
                   help="show the robot with its pelvis welded in the video (display; the report still "
                        "measures the free-standing run)")
    p.add_argument("--itto-limits", action="store_true",
                   help="also run ITTO with the robot's joint-limit proxy in the generator (slower on a CPU)")
    p.set_defaults(func=run)


# --- 1. song and parameters ----------------------------------------------------------------------
def prepare_song(path: str, seconds: float, out: Path) -> tuple[Path, float]:
    import soundfile as sf

    from dancemosaic_core.audio.io import load_audio
    if not Path(path).is_file():
        hint = f" (install Debian's {DEMO_SONG_PACKAGE}: `make install`)" if path == DEMO_SONG else ""
        raise DanceMosaicError(f"music file {path} not found{hint}; pass --music your_song.wav")
    wave, sr = load_audio(path, SONG_RATE)
    wave = wave[: int(seconds * sr)]
    if len(wave) < 4 * sr:
        raise DanceMosaicError(f"{path} has {len(wave) / sr:.1f} s of audio; the demo needs at least 4 s")
    sf.write(out, wave, sr, subtype="FLOAT")
    return out, len(wave) / sr


def write_params(out: Path, *, song: Path | None, args) -> None:
    import yaml
    config = yaml.safe_load((ROOT / "config" / "ros" / "dance.yaml").read_text())
    audio = config["audio_node"]["ros__parameters"]
    if song is not None:
        audio.update(file=str(song), wait_for_listeners=3)
    gen = config["generator_node"]["ros__parameters"]
    # ITTO with the robot's joint-limit term costs ~3x compute per chunk on a CPU; the retarget
    # node's bounded IK and safety filter hold the limits either way
    gen.update(model_dir=str(args.model), device=args.device, robot=args.robot if args.itto_limits else "")
    if args.genre:
        gen.update(genre=args.genre)
    # no robot state here: the retarget node starts from the neutral pose
    config["retarget_node"]["ros__parameters"].update(robot=args.robot, start_without_state=True,
                                                       balance_plan=args.balance_plan)
    out.write_text(yaml.safe_dump(config))


# --- 3. what the pipeline published ----------------------------------------------------------------
def chunk_motion(record: dict) -> tuple[np.ndarray, float, float]:
    """(joints (T, 22, 3) from the first chunk on, song time of its first frame, ROS time of the
    song's start) from the generator's chunks; gaps (lost chunks) hold the last pose."""
    chunks = sorted(record["chunks"], key=lambda c: c["index"])
    if not chunks:
        raise DanceMosaicError("the generator published no motion; see the pipeline log above")
    fps = chunks[0]["fps"]
    song_start = chunks[0]["stamp"] - chunks[0]["start_time"]
    first = chunks[0]["start_time"]
    total = int(round((chunks[-1]["start_time"] - first) * fps)) + chunks[-1]["num_frames"]
    joints = np.full((total, NUM_JOINTS, 3), np.nan)
    for c in chunks:
        a = int(round((c["start_time"] - first) * fps))
        joints[a:a + c["num_frames"]] = np.asarray(c["positions"], dtype=np.float64).reshape(-1, NUM_JOINTS, 3)
    for t in range(1, total):
        if np.isnan(joints[t]).any():
            joints[t] = joints[t - 1]
    return joints, first, song_start


def executed_trajectory(record: dict, times: np.ndarray, song_start: float, neutral: np.ndarray
                        ) -> np.ndarray:
    """q at song times as a joint_trajectory_controller runs the messages: each message replaces
    the trajectory from its first point on; before any message, the neutral pose."""
    q = np.tile(neutral, (len(times), 1))
    for msg in record["trajectories"]:                       # receipt order: later ones replace
        t = np.asarray(msg["times"]) - song_start
        if len(t) == 0:
            continue
        pos = np.asarray(msg["positions"], dtype=np.float64)
        sel = times >= t[0]
        for j in range(pos.shape[1]):
            q[sel, j] = np.interp(times[sel], t, pos[:, j])
    return q


def executed_base(record: dict, times: np.ndarray, song_start: float) -> np.ndarray | None:
    """Base poses (T, 7) at song times from the retarget node's dance/base_pose (held before the
    first and after the last); None when the node published none (fixed base)."""
    from dancemosaic_core.retarget.io import interpolate_poses
    poses = sorted(record.get("base_poses", []), key=lambda p: p["stamp"])
    if not poses:
        return None
    stamps = np.array([p["stamp"] for p in poses]) - song_start
    return interpolate_poses(stamps, np.array([p["pose"] for p in poses], dtype=np.float64), times)


def published_violations(record: dict, robot) -> dict:
    """Published points outside position limits, and steps over velocity limits, with a 1e-6
    tolerance; what the robot would actually have been sent."""
    pos_out = vel_out = points = 0
    worst_vel = 0.0
    for msg in record["trajectories"]:
        pos = np.asarray(msg["positions"], dtype=np.float64)
        if pos.size == 0:
            continue
        points += len(pos)
        pos_out += int(((pos < robot.lower - 1e-6) | (pos > robot.upper + 1e-6)).any(axis=1).sum())
        # the spacing from the offsets (time_from_start): the absolute times are ROS seconds whose
        # float64 rounding (0.24 us at 1.7e9 s) reads a step capped exactly at the limit as up to
        # 1.00001 x it (1.000006 x was reported once)
        t = np.asarray(msg.get("offsets", msg["times"]))
        if len(t) > 1:
            speed = np.abs(np.diff(pos, axis=0)) / np.diff(t)[:, None]
            ratio = speed / robot.velocity
            worst_vel = max(worst_vel, float(ratio.max()))
            vel_out += int((ratio > 1 + 1e-6).any(axis=1).sum())
    return {"points": points, "position_violations": pos_out, "velocity_violations": vel_out,
            "max_velocity_fraction_of_limit": worst_vel}


# --- 6. report --------------------------------------------------------------------------------------
def motion_metrics(joints: np.ndarray, wave: np.ndarray, sr: int, offset: float) -> dict:
    from dancemosaic_core.audio.features import beat_times
    from dancemosaic_core.eval.beats import music_beats, truncate_beats
    from dancemosaic_core.eval.foot import foot_skating, foot_skating_ratio
    from dancemosaic_core.eval.protocols import get_protocol
    from dancemosaic_core.eval.rhythm import median_beat_period, rhythm_metrics
    from dancemosaic_core.inference.pipeline import music_features_for
    proto = get_protocol("finedance")
    # the protocol's own beat recipe and rate (30 fps for FineDance): at 20 fps the reference
    # tracker reads this song at 2/3 of its tempo (109 against 164 BPM)
    song_beats = music_beats(wave, sr, proto.fps) - offset
    inside = truncate_beats(song_beats, len(joints) / MOTION_FPS)
    rhythm = rhythm_metrics(joints, MOTION_FPS, song_beats, sigma_s=proto.bas_sigma_s, smooth_s=proto.bas_smooth_s)
    # The reference tracker and the project's dance-level beat column (what the dancer hears)
    # can pick different metrical levels on a song without known beats: report both.
    column = beat_times(music_features_for(wave, sr)) - offset
    dance = rhythm_metrics(joints, MOTION_FPS, column, sigma_s=proto.bas_sigma_s, smooth_s=proto.bas_smooth_s)
    period = median_beat_period(inside)
    return {**rhythm, "bas_random_phase": rhythm["bas_chance"],
            "dance_level": {k: dance[k] for k in ("bas", "bas_half_beat", "bas_chance", "period_ratio", "locked")},
            "fsr": foot_skating_ratio([foot_skating(joints, MOTION_FPS)]),
            "music_beats": int(len(inside)), "music_tempo_bpm": 60.0 / period if period else 0.0}


def write_report(path: Path, facts: dict) -> None:
    m, v, s, live = facts["motion"], facts["limits"], facts["sim"], facts["live"]
    d = m["dance_level"]
    fmt = lambda x, spec=".3f": "n/a" if x is None else format(x, spec)  # noqa: E731
    lines = [
        "# DanceMosaic demo report", "",
        f"Song: {facts['song']} ({facts['seconds']:.1f} s). Model: `{facts['model']}`. Robot: {facts['robot']}.",
        f"Made by `{facts['command']}` in {facts['wall_seconds']:.0f} s on {facts['machine']}.", "",
        "| quantity | value |", "|---|---|",
        f"| tempo, online tracker (last status) | {fmt(live.get('tempo_bpm'), '.1f')} BPM |",
        f"| tempo, offline beats of the song | {fmt(m['music_tempo_bpm'], '.1f')} BPM |",
        f"| beat align score, music->motion (FineDance protocol: its beats at 30 fps, sigma 0.1 s; motion at 20 fps) | {fmt(m['bas'])} |",
        f"| same, music beats at a random phase (chance level) | {fmt(m['bas_random_phase'])} |",
        f"| same, music beats half a beat late | {fmt(m['bas_half_beat'])} |",
        f"| movement period / beat period (locked: within 8 % of 0.5, 1, 2) | {fmt(m['period_ratio'], '.2f')} "
        f"({'locked' if m['locked'] else 'not locked'}) |",
        f"| beat align score against the project's dance-level beat column (what the dancer hears) / half a beat "
        f"late / random phase | {fmt(d['bas'])} / {fmt(d['bas_half_beat'])} / {fmt(d['bas_chance'])} |",
        f"| movement period / dance-level beat period | {fmt(d['period_ratio'], '.2f')} "
        f"({'locked' if d['locked'] else 'not locked'}) |",
        f"| mean joint speed | {fmt(m['joint_speed'])} m/s |",
        f"| foot skating ratio (LODGE) of the generated motion | {fmt(m['fsr'])} |",
        f"| published trajectory points | {v['points']} |",
        f"| points outside position limits | {v['position_violations']} |",
        f"| steps over velocity limits | {v['velocity_violations']} (max {100 * v['max_velocity_fraction_of_limit']:.0f} % of the limit) |",
        f"| MuJoCo, floating base ({s['control']}) | {s['verdict']} |",
        f"| MuJoCo, floating base: foot contact / slip | {100 * s['floating']['foot_contact_fraction']:.0f} % of frames / "
        f"{s['floating']['foot_slip_m_per_s']:.3f} m/s |",
        f"| MuJoCo tracking error (mean / max) | {s['floating']['tracking_error_rad']:.3f} / "
        f"{s['floating']['tracking_error_max_rad']:.3f} rad |",
        f"| video shows | {s['video_mode']} |",
        f"| chunks generated / late | {live.get('chunks')} / {live.get('late_chunks')} |",
        f"| latency audio sample -> trajectory (median / p99) | {fmt((live.get('latency_ms') or {}).get('median'), '.0f')} / "
        f"{fmt((live.get('latency_ms') or {}).get('p99'), '.0f')} ms |",
        f"| generation compute per chunk / chunk length (real-time factor) | {fmt(live.get('real_time_factor'))} |",
        f"| limit clamps by the safety filter | {live.get('limit_clamps')} |",
        f"| audio dropouts | {live.get('audio_dropouts')} |",
        "", "The full numbers are in `demo_report.json`.",
    ]
    path.write_text("\n".join(lines) + "\n")


# --- the demo ---------------------------------------------------------------------------------------
def run(args) -> int:
    from dancemosaic_core.audio.io import load_audio
    from dancemosaic_core.retarget import load_robot
    from dancemosaic_core.retarget.feedforward import FeedforwardOptions
    from dancemosaic_core.retarget.io import RobotTrajectory
    from dancemosaic_core.sim.playback import Playback, play
    from dancemosaic_ros.apps.bench_live import analyse

    t0 = time.monotonic()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="dancemosaic_demo_"))
    robot = load_robot(args.robot)
    # 1. song
    song, seconds = (None, float(args.seconds)) if args.live else prepare_song(args.music, args.seconds, out / "demo_song.wav")
    params = work / "params.yaml"
    write_params(params, song=song, args=args)
    # 2. the ROS pipeline, recorded
    print(f"demo: playing {seconds:.0f} s of {'the microphone' if args.live else args.music} through the ROS pipeline")
    live = run_pipeline(params, seconds, work=work, full=True, audio_out=work / "heard.wav",
                        processes=not args.single_process)
    if args.live:
        song = work / "heard.wav"
    wave, sr = load_audio(song)
    live_stats = analyse(live.record, seconds, live.audio_start)
    # 3. motion and the executed trajectory on the song's clock
    joints, first, song_start = chunk_motion(live.record)
    n = int(seconds * MOTION_FPS)
    lead = np.repeat(joints[:1], int(round(first * MOTION_FPS)), axis=0)
    skeleton = np.concatenate([lead, joints])[:n]
    times = np.arange(len(skeleton)) / MOTION_FPS
    q = executed_trajectory(live.record, times, song_start, robot.neutral_q)
    base = executed_base(live.record, times, song_start)
    traj = RobotTrajectory(q=q, base=base, fps=MOTION_FPS, joint_names=robot.joint_names, robot=robot.name)
    # 4. MuJoCo: balance with the floating base (physics only); the stabilizer needs the base
    #    reference. The video shows the floating base when it stayed up, else the welded pelvis
    stabilize = args.stabilize and base is not None
    feedforward = FeedforwardOptions() if args.feedforward and base is not None else None
    control = "stabilized" if stabilize else "open loop" + (" (no base pose published)" if args.stabilize else "")
    control += ", torque feed-forward" if feedforward else ""
    print(f"demo: MuJoCo playback, floating base, {control}")
    size = (args.size, args.size)
    floating = play(traj, robot, fixed_base=False, stabilize=stabilize, feedforward=feedforward)
    weld = args.fixed_pelvis or floating.fell
    mode = ("fixed pelvis (display)" if args.fixed_pelvis and not floating.fell
            else f"fixed pelvis (the floating-base robot fell at {floating.fall_time:.1f} s)" if floating.fell
            else f"floating base (free-standing robot, {control})")
    shown = Playback(traj, robot, fixed_base=weld, render_size=size, stabilize=stabilize and not weld,
                     feedforward=None if weld else feedforward)
    # 5. video, streamed: robot render | skeleton render, music muxed
    from dancemosaic_core.render.skeleton3d import skeleton_frames
    from dancemosaic_core.render.video import caption, side_by_side, write_video
    print("demo: rendering")
    tempo = live_stats.get("tempo_bpm") or 0.0
    robot_frames = (caption(f, [f"{robot.name}: {mode.split(' (')[0]}"]) for f in shown.frames())
    skel = skeleton_frames(skeleton, MOTION_FPS, size=size, caption=f"generated, {tempo:.0f} BPM heard")
    video = write_video(out / "demo.mp4", side_by_side(robot_frames, skel), MOTION_FPS, audio=str(song))
    # 6. report
    facts = {
        "song": args.music if not args.live else "microphone", "seconds": seconds, "model": args.model,
        "robot": robot.name, "command": "dancemosaic demo " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k not in ("func", "command") and v not in (None, False, "")),
        "machine": f"{os.cpu_count()} CPUs", "wall_seconds": time.monotonic() - t0,
        "motion": motion_metrics(skeleton[int(round(first * MOTION_FPS)):], wave, sr, first),
        "limits": published_violations(live.record, robot),
        "sim": {"floating": floating.summary(), "control": control, "verdict": floating.verdict(),
                "video_mode": mode},
        "live": live_stats, "video": str(getattr(video, "path", out / "demo.mp4")),
    }
    (out / "demo_report.json").write_text(json.dumps(facts, indent=2, default=float) + "\n")
    write_report(out / "demo_report.md", facts)
    print((out / "demo_report.md").read_text())
    print(f"demo: wrote {out / 'demo.mp4'} and {out / 'demo_report.md'} in {facts['wall_seconds']:.0f} s")
    return 0
