"""Live pipeline over ROS 2: audio-to-trajectory latency, deadline misses, real-time factor, CPU.

The dance pipeline runs as it would on a robot (`dancemosaic_ros.bringup`: audio, generator and
retarget nodes in one process, or `--processes`: one process each) with a song played in real
time by the audio node; `dancemosaic_ros.live_probe` records every chunk, trajectory and status
with its arrival time. This module never imports ROS: both run as subprocesses (Fast DDS on
loopback, a private domain).

Latency of a chunk = arrival of its first JointTrajectory at the probe minus the music-clock time
of the newest audio sample the chunk was conditioned on (audio sample -> trajectory): for a chunk
drafted ahead and refined on the newest beat grid (StreamingDancer.prepare), the refinement's;
draft latency counts from the audio its tokens were sampled on instead. Headroom =
time left before the chunk's first frame plays (negative: a late chunk, its start is lost).
Deadline misses = late chunks + motion extensions the retarget node made while the song played.
`--load N` runs N CPU burners (dancemosaic_ros.apps.cpu_load: a fixed pure-Python loop, one core
each) while the song plays: the numbers of a busy robot computer; the results record N, the CPU the
burners got and the machine's load average.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_ros.apps.cpu_load import CompetingLoad
from dancemosaic_ros.apps.processes import ROOT, run_pipeline

SONG = "/usr/share/games/chromium-bsu/wav/music_game.wav"   # Debian chromium-bsu-data
TARGET_LATENCY_MS = 150.0


def add_arguments(parser) -> None:
    from dancemosaic_core.inference.loader import DEFAULT_MODEL_DIR
    parser.add_argument("--model", default=str(DEFAULT_MODEL_DIR), help="model directory")
    parser.add_argument("--random-model", default=None, metavar="SIZE",
                        help="time a randomly initialised model of config/model/SIZE.yaml (e.g. default, "
                             "tiny) instead of --model: speed does not depend on the weights")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--song", default=SONG, help="music file (looped to --seconds); a 120 BPM click "
                                                     "track when it does not exist")
    parser.add_argument("--seconds", type=float, default=60.0, help="song length played")
    parser.add_argument("--robot", default="g1")
    parser.add_argument("--itto-robot", action="store_true",
                        help="also give the generator the robot's joint-limit term (ITTO)")
    parser.add_argument("--steps", type=int, default=None, help="masked-decoding iterations per chunk "
                                                                "(default: config/ros/dance.yaml)")
    parser.add_argument("--itto-steps", type=int, default=None, help="ITTO steps per draft (default: dance.yaml)")
    parser.add_argument("--refine-steps", type=int, default=None,
                        help="ITTO steps refining each draft on the newest beat grid (default: dance.yaml)")
    parser.add_argument("--chunk-seconds", type=float, default=None, help="motion generated per chunk "
                                                                        "(default: dance.yaml)")
    parser.add_argument("--lead-seconds", type=float, default=None, help="generation lead (default: dance.yaml)")
    parser.add_argument("--torch-threads", type=int, default=1, help="generator torch threads (0: torch's default)")
    parser.add_argument("--sample-rate", type=int, default=0,
                        help="the audio node plays the song at this rate (0: the file's own); the feature "
                             "rate (10240 Hz at 20 fps) spares the generator its resampler (~9 ms held back), as a "
                             "capture device set to that rate would")
    parser.add_argument("--stream-frames", type=int, default=None, metavar="N",
                        help="the retarget node solves and sends each chunk N frames at a time (its "
                             "stream_frames; default: dance.yaml)")
    parser.add_argument("--realtime-priority", type=int, default=None, metavar="N",
                        help="SCHED_FIFO priority of the generation thread (its realtime_priority; needs the "
                             "rights, docs/ros.md; default: dance.yaml)")
    parser.add_argument("--processes", action="store_true", help="one process per node instead of bringup")
    parser.add_argument("--load", type=int, default=0, metavar="N",
                        help="competing load: N CPU burner processes (a fixed pure-Python loop, one core each) "
                             "run while the song plays, as other software on a busy robot computer")
    parser.add_argument("--startup-timeout", type=float, default=300.0, help="seconds for loading and warm-up")


def _song(args, out: Path) -> str:
    """The song cut or looped to --seconds, written as a wav; returns its description."""
    import soundfile as sf

    from dancemosaic_core.audio.io import load_audio
    from dancemosaic_core.audio.synth import click_track
    if Path(args.song).is_file():
        wave, sr = load_audio(args.song)
        source = args.song
    else:
        sr = 22050
        wave, _ = click_track(120, args.seconds, sr, noise=0.01)
        source = "click track 120 BPM"
    n = int(args.seconds * sr)
    sf.write(out, np.resize(wave, n), sr, subtype="FLOAT")
    return f"{source} ({args.seconds:.0f} s)"


def _params(args, song: Path, out: Path) -> dict:
    """Writes the pipeline's parameters file; returns the generator's parameters."""
    import yaml

    config = yaml.safe_load((ROOT / "config" / "ros" / "dance.yaml").read_text())
    # the music starts once the generator (after its warm-up), the retargeter and the probe listen
    config["audio_node"]["ros__parameters"].update(file=str(song), sample_rate=args.sample_rate, wait_for_listeners=3)
    generator = config["generator_node"]["ros__parameters"]
    generator.update(model_dir=str(args.model), device=args.device, torch_threads=args.torch_threads,
                     robot=args.robot if args.itto_robot else "")
    chosen = {"steps": args.steps, "itto_steps": args.itto_steps, "refine_steps": args.refine_steps,
              "chunk_seconds": args.chunk_seconds,
              "lead_seconds": args.lead_seconds, "realtime_priority": args.realtime_priority}
    generator.update({k: v for k, v in chosen.items() if v is not None})
    # no robot state here: the retarget node starts from the neutral pose
    config["retarget_node"]["ros__parameters"].update(robot=args.robot, start_without_state=True)
    if args.stream_frames is not None:
        config["retarget_node"]["ros__parameters"]["stream_frames"] = args.stream_frames
    out.write_text(yaml.safe_dump(config))
    return generator


def random_model(size: str, out: Path) -> Path:
    """A model directory of config/model/<size>.yaml with random weights (timing only)."""
    from dancemosaic_core.motion.normalize import Normalizer
    from dancemosaic_core.motion.skeleton import FEATURE_DIM
    from dancemosaic_core.text import PromptTableEncoder
    from dancemosaic_core.text.prompts import genre_prompt
    from dancemosaic_core.train.assemble import build_model_dir, save_untrained_stages
    from dancemosaic_core.train.config import load_model_sizes

    config = ROOT / "config" / "model" / f"{size}.yaml"
    if not config.is_file():
        raise DanceMosaicError(f"no model size {size!r}: config/model/ has "
                               f"{', '.join(p.stem for p in sorted(config.parent.glob('*.yaml')))}")
    runs = save_untrained_stages(out.with_name(out.name + "_runs"), load_model_sizes(config),
                                 text_encoder=PromptTableEncoder([genre_prompt("Popular")]),
                                 normalizer=Normalizer(np.zeros(FEATURE_DIM), np.ones(FEATURE_DIM)),
                                 genres=["Popular"])
    return build_model_dir(runs, out)


def analyse(record: dict, song_seconds: float, audio_start: float) -> dict:
    """Per-chunk latency and headroom from the probe's record (all times ROS seconds)."""
    chunks = record["chunks"]
    if not chunks:
        raise DanceMosaicError("the generator published no motion chunk; see the pipeline log")
    trajectories = record["trajectories"]
    latency, first_latency, draft_latency, to_motion, headroom, compute, lost = [], [], [], [], [], [], 0
    for c in chunks:
        heard = c["stamp"] - c["start_time"] + c["audio_time"]     # newest audio sample used
        drafted = c["stamp"] - c["start_time"] + c.get("draft_audio_time", c["audio_time"])
        to_motion.append(c["received"] - heard)
        compute.append(c["compute_seconds"])
        last = c["stamp"] + (c["num_frames"] - 1) / c["fps"]
        # the first trajectory carrying the chunk's last frame (none: it came too late to use)
        carrying = [t for t in trajectories if t["last_time"] is not None and abs(t["last_time"] - last) < 1e-3
                    and t["received"] >= c["received"] - 1.0]
        if not carrying:
            lost += 1
            continue
        latency.append(carrying[0]["received"] - heard)
        # the first message with the chunk's first frame (IK streamed: an early group's)
        starting = [t for t in trajectories if t.get("first_time") is not None and t["last_time"] is not None
                    and t["first_time"] - 1e-3 <= c["stamp"] <= t["last_time"] + 1e-3
                    and t["received"] >= c["received"]]
        first_latency.append((starting[0] if starting else carrying[0])["received"] - heard)
        draft_latency.append(carrying[0]["received"] - drafted)
        headroom.append(c["stamp"] - carrying[0]["received"])
    chunk_seconds = chunks[0]["num_frames"] / chunks[0]["fps"]
    song_end = audio_start + song_seconds
    dance = [s for s in record["status"].get("dance/status", []) if s["received"] <= song_end]
    audio = record["status"].get("audio/status", [])
    ms = lambda x: float(1000.0 * x)  # noqa: E731
    lat, head, comp, mot, dlat, flat = (np.array(x) for x in (latency, headroom, compute, to_motion, draft_latency,
                                                              first_latency))
    late = int(np.sum(head < 0)) + lost
    extensions = int(dance[-1]["deadline_misses"]) if dance else 0
    stats = lambda x: {"median": ms(np.median(x)), "p99": ms(np.percentile(x, 99)),  # noqa: E731
                       "max": ms(x.max())} if len(x) else None
    return {
        "chunks": len(chunks), "chunk_seconds": chunk_seconds,
        "latency_ms": stats(lat), "first_frame_latency_ms": stats(flat), "audio_to_motion_ms": stats(mot),
        "compute_ms": stats(comp),
        # the chunk's tokens (and most ITTO steps) saw the audio only up to its draft
        "draft_latency_ms": stats(dlat),
        "headroom_ms": {"min": ms(head.min()), "median": ms(np.median(head))} if len(head) else None,
        "real_time_factor": float(np.median(comp) / chunk_seconds),
        "late_chunks": late, "lost_chunks": lost, "extensions": extensions, "deadline_misses": late + extensions,
        "limit_clamps": dance[-1]["limit_clamps"] if dance else None,
        "audio_dropouts": audio[-1]["audio_dropouts"] if audio else None,
        "tempo_bpm": audio[-1]["tempo_bpm"] if audio else None,
        "target_latency_ms": TARGET_LATENCY_MS,
        "meets_target": bool(len(lat) and ms(np.median(lat)) <= TARGET_LATENCY_MS and late == 0),
    }


def run(args) -> dict:
    if args.stream_frames is not None and not 0 <= args.stream_frames <= 240:
        raise DanceMosaicError(f"--stream-frames {args.stream_frames}: give 0..240 frames (0: whole chunks)")
    if args.realtime_priority is not None and not 0 <= args.realtime_priority <= 99:
        raise DanceMosaicError(f"--realtime-priority {args.realtime_priority}: give 0..99 (0: normal scheduling)")
    if args.sample_rate:
        from dancemosaic_core.audio.io import check_sr
        check_sr(args.sample_rate, "--sample-rate")
    work = Path(tempfile.mkdtemp(prefix="dancemosaic_live_"))
    song, params = work / "song.wav", work / "params.yaml"
    if args.random_model:
        args.model = str(random_model(args.random_model, work / "model"))
    described = _song(args, song)
    generator = _params(args, song, params)
    load = CompetingLoad(args.load)
    live = run_pipeline(params, args.seconds, work=work, processes=args.processes,
                        startup_timeout=args.startup_timeout, while_playing=load)
    result = analyse(live.record, args.seconds, live.audio_start)
    result.update({
        "model": f"random {args.random_model} model" if args.random_model else str(args.model),
        "device": args.device, "song": described, "robot": args.robot,
        "mode": "one process per node" if args.processes else "one process (bringup)",
        "itto_joint_limits": bool(args.itto_robot), "audio_sample_rate": args.sample_rate or "the file's",
        **{k: generator[k] for k in ("chunk_seconds", "lead_seconds", "steps", "itto_steps", "refine_steps",
                                          "realtime_priority",
                                          "torch_threads")},
        # CPU of all nodes while the song played, per chunk: less load-sensitive than wall time
        "pipeline_cpu_ms_per_chunk": 1000.0 * live.cpu_cores * args.seconds / result["chunks"],
        "cpu_cores_used": live.cpu_cores, "cpu_cores_by_process": live.cpu_cores_by_process,
        "cpu_count": os.cpu_count(),
        "machine_cpu_busy_percent": live.machine_busy_percent,
        "competing_load": load.describe(args.seconds),
        "load_average_1min": {"song_start": live.load_average[0], "song_end": live.load_average[1]},
        "pipeline_warnings": live.warnings,
    })
    return result
