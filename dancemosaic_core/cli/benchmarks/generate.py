"""Generation speed: seconds per 9 s clip (guidance, with and without ITTO), real-time factor,
peak memory, streaming compute per chunk with its deadline margin, and whole songs.

Whole songs run as `dancemosaic generate` does (beat-aware ITTO, inference.itto.BEAT_ITTO and
OFFLINE_DECODE_STEPS): a `--short-song-seconds` song first, then a `--song-seconds` one; music
features and generation are timed, and the peak resident memory after each shows whether memory
grows with the song. Music: a 120 BPM click track made here (speed does not depend on what the
music is, but beat-aware ITTO needs beats). The median of `--runs` timed runs follows one
untimed warm-up run.
"""
from __future__ import annotations

import time

import numpy as np

from dancemosaic_core.cli.bench import peak_rss_mb
from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.motion.skeleton import MOTION_FPS

MAX_SONG_SECONDS = 3600.0   # whole-song runs: an hour at most


def add_arguments(parser) -> None:
    from dancemosaic_core.inference.loader import DEFAULT_MODEL_DIR
    parser.add_argument("--model", default=str(DEFAULT_MODEL_DIR), help="model directory")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--clip-seconds", type=float, default=9.0, help="the paper's clip length")
    parser.add_argument("--itto-steps", type=int, default=50)
    parser.add_argument("--chunk-seconds", type=float, default=0.4, help="streaming: the generator node's default")
    parser.add_argument("--lead-seconds", type=float, default=0.5, help="streaming: generation lead before playback")
    parser.add_argument("--chunks", type=int, default=20, help="streaming chunks timed")
    parser.add_argument("--song-seconds", type=float, default=600.0, help="whole song: its length (0 = skip)")
    parser.add_argument("--short-song-seconds", type=float, default=60.0,
                        help="whole song: a shorter one first, for the memory comparison")


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

    for flag, value in (("--song-seconds", args.song_seconds), ("--short-song-seconds", args.short_song_seconds)):
        if not (np.isfinite(value) and 0.0 <= value <= MAX_SONG_SECONDS):
            raise DanceMosaicError(f"{flag} {value}: give seconds in [0, {MAX_SONG_SECONDS:g}] (0 skips that song)")
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
    # streaming: audio pushed in 50 ms blocks as a live source would, chunks timed (node defaults:
    # each chunk's refinement when it is due, the next one drafted right after it)
    dancer = StreamingDancer(pipeline=pipe, genre=genre, chunk_seconds=args.chunk_seconds,
                             lead_seconds=args.lead_seconds, sample_rate=sr)
    total = dancer.start_frame / MOTION_FPS + (args.chunks + 1) * args.chunk_seconds
    live, _ = click_track(120, total, sr=sr)
    block = sr // 20
    chunks = []
    for i in range(0, len(live), block):
        dancer.push_audio(live[i:i + block])
        while dancer.ready() and len(chunks) < args.chunks + 1:
            chunks.append(dancer.next_chunk())
            dancer.prepare()
    # the first chunk pays one-off feature-extractor compilation and is drafted on the spot
    chunks = chunks[1:]
    computes = [c.compute_seconds for c in chunks]
    drafts = [c.info["draft_compute_seconds"] for c in chunks]
    cycles = [c.cycle_seconds for c in chunks]
    songs = [whole_song(pipe, genre, t, sr) for t in (args.short_song_seconds, args.song_seconds) if t > 0]
    peak_gpu = torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == "cuda" else None
    return {
        "model": args.model, "device": str(dev), "window_tokens": pipe.model.max_tokens, "genre": genre, "clip_seconds": seconds, "runs": args.runs,
        "seconds_per_clip": plain, "real_time_factor": seconds / plain,
        "seconds_per_clip_itto": itto, "real_time_factor_itto": seconds / itto, "itto_steps": args.itto_steps,
        "streaming": {"chunk_seconds": args.chunk_seconds, "lead_seconds": args.lead_seconds,
                      "chunks": len(computes),
                      "median_compute_s": float(np.median(computes)) if computes else None,
                      "max_compute_s": float(np.max(computes)) if computes else None,
                      "median_draft_s": float(np.median(drafts)) if drafts else None,
                      "max_cycle_s": float(np.max(cycles)) if computes else None,
                      "min_deadline_margin_s": float(args.lead_seconds - np.max(computes)) if computes else None},
        "whole_songs": songs,
        "peak_rss_mb": peak_rss_mb(), "peak_gpu_mb": peak_gpu,
        "targets": {"cpu_real_time_factor": ">= 10", "gpu_seconds_per_clip": "<= 0.05",
                    "whole_song_real_time_factor": ">= 10 (10-minute song, 2 CPU cores)"},
    }


def whole_song(pipe, genre, seconds: float, sr: int) -> dict:
    """One whole song as `dancemosaic generate` makes it; its timings and the peak memory after."""
    from dancemosaic_core.audio.synth import click_track
    from dancemosaic_core.inference.itto import BEAT_ITTO, OFFLINE_DECODE_STEPS
    from dancemosaic_core.inference.long import generate_long
    from dancemosaic_core.inference.pipeline import music_features_for

    wave, _ = click_track(120, seconds, sr=sr)
    frames = int(round(seconds * MOTION_FPS))
    t0 = time.perf_counter()
    music = music_features_for(wave, sr, frames)
    t1 = time.perf_counter()
    reports = []
    out = generate_long(pipe, frames=frames, genre=genre, music=music, seed=0, steps=OFFLINE_DECODE_STEPS,
                        progress=lambda done, total: reports.append((done, total)), **BEAT_ITTO)
    t2 = time.perf_counter()
    return {"song_seconds": seconds, "features_s": t1 - t0, "generate_s": t2 - t1,
            "real_time_factor": seconds / (t2 - t0), "frames": len(out.joints),
            "progress_reports": len(reports), "peak_rss_mb_after": peak_rss_mb(),
            "settings": {**BEAT_ITTO, "steps": OFFLINE_DECODE_STEPS}}
