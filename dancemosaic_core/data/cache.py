"""The training cache: every source's items as 263-d features (+ music features) in one directory.

Layout (`format` "dancemosaic-cache", `version` 1):

    meta.json          parameters, per-source counts/skips, split sizes, per-clip index
    mean.npy std.npy   (263,) float32 normaliser fitted on the TRAIN split only
                       (HumanML3D recipe: grouped std, foot contacts / 5; motion.normalize)
    clips/<id>.npz     features (T, 263) float32 (un-normalised), joints (T+1, 22, 3) float32,
                       music (T, 35) float32 (only when the clip has music), texts (N,) str,
                       text_spans (N, 2) int32 [start, end) feature frames, genre str, source str,
                       orig_id str
    splits/{train,val,test}.txt   clip ids, sorted

Clip ids are `<source>-<dataset id>` (e.g. `finedance-012`, `humanml3d-000021_40_120`).

Alignment (all at skeleton.MOTION_FPS = 20): joint frame j is at t = j / 20 s from the clip's
start, which is t = 0 of its music file. Feature frame t is built from joint frames t and t+1
(positions of t, velocities t -> t+1), so T+1 joint frames give T feature frames and feature
frame t belongs to joint frame t. Music frame i of `audio.music_features` covers t = i / 20 s,
so `music[t]` is music frame t. When the music is shorter than the motion, the clip is cut to
T = min(joint frames - 1, music frames) (as FineDance's loader cuts both to the shorter).
`joints` are in the frame of `features_to_joints`: features_to_joints(features) ~= joints[:-1]
(root on the origin facing +Z at frame 0), so poses from them match decoded motion.
"""
from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.data.items import (
    SPLITS,
    ItemError,
    MotionItem,
    SkipReport,
    Source,
    iter_items,
)
from dancemosaic_core.motion.normalize import Normalizer
from dancemosaic_core.motion.representation import (
    feature_slices,
    joints_to_features,
    uniform_skeleton,
)
from dancemosaic_core.motion.skeleton import FEATURE_DIM, MOTION_FPS, MUSIC_FEATURE_DIM

CACHE_FORMAT = "dancemosaic-cache"
CACHE_VERSION = 1
FEAT_BIAS = {"foot_contact": 5.0}        # HumanML3D/MoMask `feat_bias`
# Music features that hardly change over time are checked against audio.is_silent (a silent
# file gives features whose largest per-column std is ~1e-3; real music varies by units).
FLAT_MUSIC_STD = 0.05


@dataclass
class SourceStats:
    kind: str
    path: str
    clips: int = 0
    frames: int = 0
    music_clips: int = 0
    splits: Counter = field(default_factory=Counter)

    @property
    def hours(self) -> float:
        return self.frames / MOTION_FPS / 3600


@dataclass
class CacheSummary:
    out_dir: Path
    sources: dict[str, SourceStats]
    report: SkipReport
    splits: dict[str, int]

    def table(self) -> str:
        rows = [("source", "clips", "hours", "music", "train", "val", "test", "skipped")]
        for name, st in self.sources.items():
            rows.append((name, str(st.clips), f"{st.hours:.3f}", str(st.music_clips),
                         *(str(st.splits.get(s, 0)) for s in SPLITS), str(self.report.count(name))))
        rows.append(("total", str(sum(s.clips for s in self.sources.values())),
                     f"{sum(s.hours for s in self.sources.values()):.3f}",
                     str(sum(s.music_clips for s in self.sources.values())),
                     *(str(self.splits.get(s, 0)) for s in SPLITS), str(self.report.count())))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
                 for r in rows]
        lines.insert(1, "-" * len(lines[0]))
        skips = self.report.summary()
        return "\n".join(lines) + (f"\n\nskipped items:\n{skips}" if skips else "")


class _Moments:
    """Running per-dimension sums in float64 (the normaliser of the whole train split without
    holding it in memory)."""

    def __init__(self, dim: int):
        self.count, self.total, self.total_sq = 0, np.zeros(dim), np.zeros(dim)

    def add(self, x: np.ndarray) -> None:
        x = x.astype(np.float64)
        self.count += len(x)
        self.total += x.sum(axis=0)
        self.total_sq += (x * x).sum(axis=0)

    def normalizer(self) -> Normalizer:
        mean = self.total / self.count
        std = np.sqrt(np.maximum(self.total_sq / self.count - mean * mean, 0.0))
        # Two rows mean -/+ std have exactly this mean and (population) std: Normalizer.fit then
        # applies the grouped-std recipe without a second copy of it here.
        return Normalizer.fit([np.stack([mean - std, mean + std])], groups=feature_slices(),
                              feat_bias=FEAT_BIAS)


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)


def _prepare_out_dir(out: Path) -> None:
    """An empty/new directory, or an existing cache (rebuilt from scratch); never anything else."""
    if out.exists():
        if not out.is_dir():
            raise DanceMosaicError(f"cache output {out} is a file; give a directory")
        if any(out.iterdir()):
            if not (out / "meta.json").is_file():
                raise DanceMosaicError(f"cache output {out} is a non-empty directory that is not a "
                                       "dataset cache; give a new or empty directory")
            for name in ("clips", "splits"):
                shutil.rmtree(out / name, ignore_errors=True)
            for name in ("mean.npy", "std.npy", "meta.json"):
                (out / name).unlink(missing_ok=True)
    (out / "clips").mkdir(parents=True, exist_ok=True)
    (out / "splits").mkdir(exist_ok=True)
    # Marks the directory as an (incomplete) cache so that a re-run after a crash may reuse it.
    (out / "meta.json").write_text(json.dumps({"format": CACHE_FORMAT, "complete": False}))


def _music(item: MotionItem, music_cache_dir) -> np.ndarray:
    from dancemosaic_core.audio import is_silent, load_audio, music_features_cached
    try:
        kwargs = {} if music_cache_dir is None else {"cache_dir": music_cache_dir}
        music = music_features_cached(item.music, MOTION_FPS, **kwargs)
    except DanceMosaicError as exc:
        raise ItemError("unreadable music", str(exc)) from None
    if music.ndim != 2 or music.shape[1] != MUSIC_FEATURE_DIM or len(music) == 0:
        raise ItemError("unreadable music", f"{item.music}: music features have shape {music.shape}")
    if float(music.std(axis=0).max()) < FLAT_MUSIC_STD and is_silent(load_audio(item.music)[0]):
        raise ItemError("silent music", f"{item.music} is silent (its music features never change)")
    return music.astype(np.float32)


def build_clip(item: MotionItem, *, uniform: bool = False, music_cache_dir=None,
               min_frames: int = 2) -> dict[str, np.ndarray]:
    """The arrays of one clip file (module docstring); ItemError when it cannot be built."""
    joints = item.joints
    music = _music(item, music_cache_dir) if item.music is not None else None
    if music is not None and len(music) < len(joints) - 1:
        joints = joints[:len(music) + 1]
    if len(joints) < max(min_frames, 2):
        raise ItemError("too short", f"{len(joints)} joint frames after cutting to the music "
                                     f"({len(music) if music is not None else '-'} music frames)")
    try:
        features, frame = joints_to_features(joints, uniform=uniform, return_frame=True)
    except DanceMosaicError as exc:
        raise ItemError("bad motion", f"features of {item.id}: {exc}") from None
    if not np.isfinite(features).all():
        raise ItemError("nan frames", f"features of {item.id} are not finite")
    if uniform:
        joints = uniform_skeleton(joints)
    T = len(features)
    texts, spans = [], []
    for text, (a, b) in zip(item.texts, item.spans):
        a, b = max(0, a), min(T, b)
        if b > a:
            texts.append(text)
            spans.append((a, b))
    arrays = {
        "features": features.astype(np.float32),
        "joints": frame.apply(joints).astype(np.float32),
        "texts": np.array(texts, dtype=np.str_),
        "text_spans": np.array(spans, dtype=np.int32).reshape(-1, 2),
        "genre": np.str_(item.genre), "source": np.str_(item.source), "orig_id": np.str_(item.id),
    }
    if music is not None:
        arrays["music"] = music[:T]
    return arrays


def prepare_cache(sources: list[Source], out_dir, *, uniform: bool = False, music_cache_dir=None,
                  progress: bool = False, report: SkipReport | None = None) -> CacheSummary:
    """Build the training cache (module docstring) from dataset sources; deterministic."""
    from tqdm import tqdm
    if not sources:
        raise DanceMosaicError("no dataset given: name at least one of --humanml3d, --finedance, "
                               "--aistpp, --joints")
    report = report or SkipReport()
    names: dict[str, Source] = {}
    for src in sources:
        name, k = safe_name(src.name), 2
        while name in names:
            name, k = f"{safe_name(src.name)}{k}", k + 1
        src.name = name
        names[name] = src
    entries = {name: src.entries() for name, src in names.items()}  # errors for missing dirs first
    out = Path(out_dir)
    _prepare_out_dir(out)
    stats = {name: SourceStats(src.kind, str(src.root)) for name, src in names.items()}
    moments = _Moments(FEATURE_DIM)
    clips, split_ids = {}, {s: [] for s in SPLITS}
    for name, src in names.items():
        bar = tqdm(entries[name], desc=name, unit="file", disable=not progress, leave=False)
        for item in iter_items(src, report, bar):
            if item.split not in SPLITS:
                report.skip(name, item.id, "not in a split", f"split {item.split!r}")
                continue
            try:
                arrays = build_clip(item, uniform=uniform, music_cache_dir=music_cache_dir,
                                    min_frames=src.min_frames)
            except DanceMosaicError as exc:
                report.skip(name, item.id, getattr(exc, "reason", "bad motion"), str(exc))
                continue
            clip_id = safe_name(f"{name}-{item.id}")
            np.savez(out / "clips" / f"{clip_id}.npz", **arrays)
            T = len(arrays["features"])
            if item.split == "train":
                moments.add(arrays["features"])
            st = stats[name]
            st.clips += 1
            st.frames += T
            st.music_clips += "music" in arrays
            st.splits[item.split] += 1
            split_ids[item.split].append(clip_id)
            clips[clip_id] = {"frames": T, "split": item.split, "source": name, "genre": item.genre,
                              "music": "music" in arrays, "texts": len(arrays["texts"])}
    if moments.count == 0:
        raise DanceMosaicError(f"no usable train clip in {', '.join(names)}; nothing to fit the "
                               f"normaliser on.\n{report.summary()}")
    moments.normalizer().save(out)
    for split, ids in split_ids.items():
        (out / "splits" / f"{split}.txt").write_text("".join(f"{i}\n" for i in sorted(ids)))
    meta = {
        "format": CACHE_FORMAT, "version": CACHE_VERSION, "complete": True,
        "fps": MOTION_FPS, "feature_dim": FEATURE_DIM, "music_dim": MUSIC_FEATURE_DIM,
        "uniform_skeleton": uniform,
        "normalizer": {"fit_on": "train", "frames": moments.count, "feat_bias": FEAT_BIAS},
        "alignment": "feature frame t = joint frame t = music frame t, t/fps seconds into the music",
        "sources": {n: {"kind": s.kind, "path": s.path, "clips": s.clips, "frames": s.frames,
                        "hours": round(s.hours, 4), "music_clips": s.music_clips,
                        "splits": dict(sorted(s.splits.items())),
                        "skipped": dict(sorted(report.reasons(n).items()))} for n, s in stats.items()},
        "splits": {s: len(v) for s, v in split_ids.items()},
        "clips": dict(sorted(clips.items())),
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=1, sort_keys=True))
    return CacheSummary(out, stats, report, meta["splits"])
