"""Training throughput (clips/s) and peak memory of each stage (tokenizer, t2m, music, pose).

Each stage runs in its own process (peak RSS per stage) for --steps optimizer steps on the given
cache (default: a synthetic cache of --clips random dance-like clips), with the model sizes of
--model; the first --warmup steps are not timed. Stages after the tokenizer use the checkpoints
the earlier stages of this run wrote, so the whole chain is exercised.
"""
from __future__ import annotations

import multiprocessing as mp
import tempfile
import time
from pathlib import Path

from dancemosaic_core.cli.bench import peak_rss_mb

STAGES = ("tokenizer", "t2m", "music", "pose")


def add_arguments(parser) -> None:
    parser.add_argument("--cache", help="training cache (default: a synthetic one)")
    parser.add_argument("--model", default="config/model/default.yaml", help="model-size YAML")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--clips", type=int, default=16, help="synthetic clips when no --cache")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--stages", default=",".join(STAGES))
    parser.add_argument("--text-encoder", default="table", help="minilm, table (clip needs weights)")


def _synthetic_cache(root: Path, clips: int) -> Path:
    """A cache in the data layout from procedurally moving bodies and random music features."""
    import json

    import numpy as np

    from dancemosaic_core.data.cache import CACHE_FORMAT, CACHE_VERSION
    from dancemosaic_core.motion.normalize import Normalizer
    from dancemosaic_core.motion.representation import (
        feature_slices,
        joints_to_features,
    )
    from dancemosaic_core.motion.skeleton import (
        FEATURE_DIM,
        MOTION_FPS,
        MUSIC_FEATURE_DIM,
        rest_pose,
    )
    rng = np.random.default_rng(0)
    (root / "clips").mkdir(parents=True, exist_ok=True)
    (root / "splits").mkdir(exist_ok=True)
    index, feats = {}, []
    for i in range(clips):
        T = 241
        t = np.arange(T)[:, None, None] / MOTION_FPS
        joints = rest_pose()[None] + np.array([0, 0.95, 0]) + 0.15 * np.sin(
            2 * np.pi * rng.uniform(0.3, 2, (1, 22, 3)) * t + rng.uniform(0, 6, (1, 22, 3)))
        features = joints_to_features(joints.astype(np.float32)).astype(np.float32)
        genre = ("hiphop", "jazz", "ballet")[i % 3]
        np.savez(root / "clips" / f"b{i:03d}.npz", features=features, joints=joints.astype(np.float32),
                 music=rng.normal(size=(len(features), MUSIC_FEATURE_DIM)).astype(np.float32),
                 texts=np.array([f"a dancer moves {genre}"]), text_spans=np.array([[0, len(features)]], np.int32),
                 genre=np.array(genre), source=np.array("bench"), orig_id=np.array(str(i)))
        index[f"b{i:03d}"] = {"music": True, "genre": genre}
        feats.append(features)
    Normalizer.fit(feats, groups=feature_slices(), feat_bias={"foot_contact": 5.0}).save(root)
    (root / "splits" / "train.txt").write_text("".join(f"{c}\n" for c in index))
    for split in ("val", "test"):
        (root / "splits" / f"{split}.txt").write_text("")
    (root / "meta.json").write_text(json.dumps({
        "format": CACHE_FORMAT, "version": CACHE_VERSION, "complete": True, "feature_dim": FEATURE_DIM,
        "music_dim": MUSIC_FEATURE_DIM, "clips": index}))
    return root


def _stage_child(cfg, threads: int, queue) -> None:
    import torch

    from dancemosaic_core.cli.train import run_stage
    from dancemosaic_core.train.trainer import TrainRun
    torch.set_num_threads(threads)
    stamps = []
    original = TrainRun.end_step

    def timed(self, metrics):
        if self.distributed.device.type == "cuda":
            torch.cuda.synchronize()
        stamps.append(time.perf_counter())
        original(self, metrics)
    TrainRun.end_step = timed
    result = run_stage(cfg)
    peak_gpu = torch.cuda.max_memory_allocated() / 2 ** 20 if torch.cuda.is_available() else None
    queue.put({"stamps": stamps, "final": result["final"], "checkpoint": result["checkpoint"],
               "peak_rss_mb": peak_rss_mb(), "peak_gpu_mb": peak_gpu})


def run(args) -> dict:
    from dancemosaic_core.train.config import load_config
    work = Path(tempfile.mkdtemp(prefix="dm_bench_train_"))
    cache = Path(args.cache) if args.cache else _synthetic_cache(work / "cache", args.clips)
    ckpt: dict[str, str] = {}
    out = {"model": args.model, "batch_size": args.batch_size, "steps_timed": args.steps - args.warmup,
           "threads": args.threads, "cache": "synthetic" if not args.cache else str(cache), "stages": {}}
    ctx = mp.get_context("spawn")
    for stage in args.stages.split(","):
        cfg = load_config(Path("config/train") / f"{stage}.yaml", stage, {
            "model": args.model, "data.cache": str(cache), "out_dir": str(work / stage),
            "batch_size": args.batch_size, "optim.max_steps": args.steps, "optim.warmup_steps": 1, "progress": False,
            "tensorboard": False, "eval_split": None, "device": args.device, "save_every": 10 ** 9,
            "text_encoder.kind": args.text_encoder, "tokenizer": ckpt.get("tokenizer"), "t2m": ckpt.get("t2m")})
        queue = ctx.Queue()
        proc = ctx.Process(target=_stage_child, args=(cfg, args.threads, queue))
        proc.start()
        res = queue.get()
        proc.join()
        ckpt[stage] = res["checkpoint"]
        stamps = res["stamps"][args.warmup - 1:] if args.warmup > 0 else res["stamps"]
        seconds = stamps[-1] - stamps[0]
        steps = len(stamps) - 1
        out["stages"][stage] = {
            "window_frames": cfg.data.window_frames, "seconds_per_step": seconds / max(steps, 1),
            "clips_per_s": steps * args.batch_size / seconds if seconds > 0 else None,
            "peak_rss_mb": res["peak_rss_mb"], "peak_gpu_mb": res["peak_gpu_mb"],
            "final_losses": {k: v for k, v in res["final"].items() if k not in ("step", "lr", "grad_norm")}}
    return out
