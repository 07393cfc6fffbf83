"""Generation speed: seconds per 9 s clip (guidance, with and without ITTO), real-time factor,
peak memory, and streaming compute per chunk with its deadline margin.

Music: a 120 BPM click track made here (speed does not depend on what the music is). The
median of `--runs` timed runs follows one untimed warm-up run.
"""
from __future__ import annotations

import resource
import time

import numpy as np

from dancemosaic_core.motion.skeleton import MOTION_FPS


def add_arguments(parser) -> None:
    from dancemosaic_core.inference.loader import DEFAULT_MODEL_DIR
    parser.add_argument("--model", default=str(DEFAULT_MODEL_DIR), help="model directory")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--clip-seconds", type=float, default=9.0, help="the paper's clip length")
    parser.add_argument("--itto-steps", type=int, default=50)
    parser.add_argument("--chunk-seconds", type=float, default=2.0)
    parser.add_argument("--lead-seconds", type=float, default=1.0, help="streaming: generation lead before playback")
    parser.add_argument("--chunks", type=int, default=8, help="streaming chunks timed")


def _median_time(fn, runs: int, sync) -> float:
    fn()
    sync()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def run(args) -> dict:
    import torch

    from dancemosaic_core.audio.synth import click_track
    from dancemosaic_core.inference.constraints import PoseConstraints
    from dancemosaic_core.inference.long import generate_long
    from dancemosaic_core.inference.pipeline import DancePipeline, music_features_for
    from dancemosaic_core.inference.streaming import StreamingDancer

    pipe = DancePipeline.from_pretrained(args.model, device=args.device)
    dev = pipe.model.device
    sync = (lambda: torch.cuda.synchronize(dev)) if dev.type == "cuda" else (lambda: None)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    sr = 22050
    seconds = float(args.clip_seconds)
    wave, _ = click_track(120, seconds + 1.0, sr=sr)
    frames = int(round(seconds * MOTION_FPS))
    music = music_features_for(wave, sr, frames)
    genre = pipe.model.genres[0] if pipe.model.genres else None
    rng = np.random.default_rng(0)
    names = ["pelvis", "left_wrist", "right_wrist", "left_ankle", "right_ankle"]
    times_c = rng.uniform(0, seconds - 0.5, 10)
    cons = PoseConstraints(times_c, [names[i % 5] for i in range(10)],
                           rng.normal([0, 1.0, 0], 0.3, size=(10, 3)))
    # a 9 s clip is longer than the shipped model's 4.8 s window: long-dance segments + transitions
    plain = _median_time(lambda: generate_long(pipe, frames=frames, genre=genre, music=music, seed=0), args.runs, sync)
    itto = _median_time(lambda: generate_long(pipe, frames=frames, genre=genre, music=music, constraints=cons,
                                              itto_steps=args.itto_steps, seed=0), args.runs, sync)
    # streaming: audio pushed in 50 ms blocks as a live source would, chunks timed
    dancer = StreamingDancer(pipeline=pipe, genre=genre, chunk_seconds=args.chunk_seconds,
                             lead_seconds=args.lead_seconds, sample_rate=sr)
    total = dancer.start_frame / MOTION_FPS + (args.chunks + 1) * args.chunk_seconds
    live, _ = click_track(120, total, sr=sr)
    block = sr // 20
    computes = []
    for i in range(0, len(live), block):
        dancer.push_audio(live[i:i + block])
        while dancer.ready() and len(computes) < args.chunks + 1:
            computes.append(dancer.next_chunk().compute_seconds)
    computes = computes[1:]          # the first chunk pays one-off feature-extractor compilation
    peak_gpu = torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == "cuda" else None
    return {
        "model": args.model, "device": str(dev), "window_tokens": pipe.model.max_tokens, "genre": genre, "clip_seconds": seconds, "runs": args.runs,
        "seconds_per_clip": plain, "real_time_factor": seconds / plain,
        "seconds_per_clip_itto": itto, "real_time_factor_itto": seconds / itto, "itto_steps": args.itto_steps,
        "streaming": {"chunk_seconds": args.chunk_seconds, "lead_seconds": args.lead_seconds,
                      "chunks": len(computes),
                      "median_compute_s": float(np.median(computes)) if computes else None,
                      "max_compute_s": float(np.max(computes)) if computes else None,
                      "min_deadline_margin_s": float(args.lead_seconds - np.max(computes)) if computes else None},
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "peak_gpu_mb": peak_gpu,
        "targets": {"cpu_real_time_factor": ">= 10", "gpu_seconds_per_clip": "<= 0.05"},
    }
