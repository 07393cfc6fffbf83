"""Statistics of a dataset cache's dances that inference needs from the model directory.

    stats = dance_speed_stats(cache_dir)          # {"all": m/s, "<genre>": m/s, ...}
    write_motion_stats(model_dir, stats, ...)     # MODEL/motion_stats.json (inference.loader reads it)

The dance speed is the median over the split's dances (clips with music) of the clip's mean joint
speed, in m/s, measured as eval.beats.joint_speed does (central differences of the joint
positions recovered from the features, all joints). Beat-aware ITTO keeps a generated dance at
least this energetic (its energy floor), so a model trained on a corpus dances at that corpus's
energy per genre.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.data.dataset import load_cache_meta
from dancemosaic_core.models.checkpoint import MOTION_STATS_FILE
from dancemosaic_core.motion.representation import features_to_joints
from dancemosaic_core.motion.rhythm import mean_joint_speed
from dancemosaic_core.motion.skeleton import MOTION_FPS

MOTION_STATS_FORMAT = "dancemosaic-motion-stats-1"
ALL_GENRES = "all"


def clip_mean_speed(joints: np.ndarray, fps: float = MOTION_FPS) -> float:
    """Mean joint speed (m/s) of one clip's joints (T, J, 3), central differences (nan under 3 frames)."""
    if len(joints) < 3:
        return float("nan")
    return float(mean_joint_speed(torch.as_tensor(np.asarray(joints, dtype=np.float64))[None], fps).mean())


def dance_speed_stats(cache_dir, split: str = "train") -> dict[str, float]:
    """Median mean joint speed (m/s) of the split's dances, overall ("all") and per genre."""
    cache_dir = Path(cache_dir)
    meta = load_cache_meta(cache_dir)
    by_genre: dict[str, list[float]] = {}
    for clip_id, clip in meta["clips"].items():
        if not clip.get("music") or clip.get("split") != split:
            continue
        with np.load(cache_dir / "clips" / f"{clip_id}.npz") as z:
            speed = clip_mean_speed(np.asarray(features_to_joints(z["features"].astype(np.float32))))
        if np.isfinite(speed):
            by_genre.setdefault(str(clip.get("genre", "")), []).append(speed)
    speeds = [s for values in by_genre.values() for s in values]
    if not speeds:
        raise DanceMosaicError(f"dataset cache {cache_dir} has no dances (clips with music) in split {split!r}; "
                               "the dance-speed statistics need some")
    stats = {ALL_GENRES: float(np.median(speeds))}
    stats.update({genre: float(np.median(values)) for genre, values in sorted(by_genre.items()) if genre})
    return stats


def write_motion_stats(model_dir, dance_speed: dict[str, float], *, cache: str, split: str) -> Path:
    path = Path(model_dir) / MOTION_STATS_FILE
    path.write_text(json.dumps({"format": MOTION_STATS_FORMAT, "dance_speed_mps": dance_speed,
                                "cache": str(cache), "split": split}, indent=1) + "\n", encoding="utf-8")
    return path
