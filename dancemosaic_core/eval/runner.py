"""Evaluate sets of motions under one protocol: load, resample, per-motion metrics, set
metrics against the ground truth, the baselines (ground truth, ground truth with shuffled
music, procedural choreographer) and per-genre tables. `evaluate()` returns plain data; the
report module turns it into JSON, Markdown and plots."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.eval import beats as beat_metrics
from dancemosaic_core.eval.distribution import NEAR_CONSTANT_STD, diversity, fid, near_constant_dims
from dancemosaic_core.eval.foot import (
    foot_skating,
    foot_skating_ratio,
    physical_foot_contact,
)
from dancemosaic_core.eval.protocols import (
    Protocol,
    motion_features,
    subtract_first_root,
    to_protocol_rate,
)
from dancemosaic_core.eval.rhythm import rhythm_metrics, summarise_rhythm
from dancemosaic_core.eval.formats import load_any, motion_files, motion_stem
from dancemosaic_core.motion.io import check_joints
from dancemosaic_core.motion.skeleton import MOTION_FPS

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")
TIMELINES = 3          # motions per set whose beat timeline the report plots


@dataclass
class EvalItem:
    name: str
    joints: np.ndarray          # (T, 22, 3) at `fps`
    fps: float
    genre: str = ""
    music: Path | None = None   # resolved audio file, if any
    music_offset: float = 0.0   # seconds into the music of frame 0


@dataclass
class SetResult:
    name: str
    per_motion: list[dict] = field(default_factory=list)
    kinetic: list[np.ndarray] = field(default_factory=list)
    geometric: list[np.ndarray] = field(default_factory=list)
    timelines: list[dict] = field(default_factory=list)


# --- loading ------------------------------------------------------------------------------
def _find_audio(candidates) -> Path | None:
    for c in candidates:
        if c is not None and Path(c).is_file():
            return Path(c)
    return None


def _music_candidates(name: str, music_ref: str, dirs) -> list:
    out = [Path(music_ref)] if music_ref else []
    for folder in dirs:
        if folder is None:
            continue
        folder = Path(folder)
        if music_ref:
            out.append(folder / Path(music_ref).name)
        out += [folder / f"{name}{suffix}" for suffix in AUDIO_SUFFIXES]
    return out


def load_items(directory, *, music_dir=None, split: str | None = None,
               limit: int | None = None, fps: float | None = None) -> list[EvalItem]:
    """Motions of a directory: motion files (dancemosaic *.npz, music from each file's `music`
    field or <music_dir>/<stem>.wav; (T, 22, 3) *.npy joint arrays at `fps`; Bailando and
    EDGE result files, see eval/formats.py) or a joints dataset (new_joints/<id>.npy at 20 fps,
    optional genres.txt, music/<id>.wav, <split>.txt)."""
    root = Path(directory)
    if not root.is_dir():
        raise DanceMosaicError(f"motion directory {root} does not exist")
    if (root / "new_joints").is_dir():
        items = _load_joints_dataset(root, music_dir, split)
    else:
        if split:
            raise DanceMosaicError(f"--split needs a joints dataset (new_joints/ and {split}.txt) but "
                                   f"{root} holds motion files")
        items = []
        for path in motion_files(root):
            joints, rate, music_ref, genre, offset = load_any(path, fps)
            name = motion_stem(path)
            music = _find_audio(_music_candidates(name, music_ref, [music_dir, root]))
            items.append(EvalItem(name, joints, rate, genre, music, offset))
    if limit:
        items = items[:limit]
    if not items:
        raise DanceMosaicError(f"no motions in {root}: expected *.npz motion files (dancemosaic "
                               "generate), (T, 22, 3) *.npy joint arrays with --fps, Bailando/EDGE "
                               "result files, or a joints dataset with new_joints/*.npy")
    return items


def _load_joints_dataset(root: Path, music_dir, split) -> list[EvalItem]:
    if split:
        listing = root / f"{split}.txt"
        if not listing.is_file():
            raise DanceMosaicError(f"{listing} not found; splits of {root}: "
                                   f"{', '.join(p.stem for p in root.glob('*.txt')) or 'none'}")
        ids = [line.strip() for line in listing.read_text().splitlines() if line.strip()]
    else:
        ids = sorted(p.stem for p in (root / "new_joints").glob("*.npy"))
    genres = {}
    if (root / "genres.txt").is_file():
        for line in (root / "genres.txt").read_text().splitlines():
            parts = line.split(maxsplit=1)
            if len(parts) == 2:
                genres[parts[0]] = parts[1].strip()
    items = []
    for cid in ids:
        path = root / "new_joints" / f"{cid}.npy"
        if not path.is_file():
            raise DanceMosaicError(f"{path} listed in the split but missing")
        joints = check_joints(np.load(path, allow_pickle=False), str(path))
        music = _find_audio(_music_candidates(cid, "", [root / "music", music_dir]))
        items.append(EvalItem(cid, joints, float(MOTION_FPS), genres.get(cid, ""), music))
    return items


# --- per motion ---------------------------------------------------------------------------
class BeatCache:
    """Music beat times (s) per audio file at the protocol's rate, computed once."""

    def __init__(self, fps: float):
        self.fps = fps
        self._beats: dict[Path, np.ndarray] = {}

    def __call__(self, path: Path | None) -> np.ndarray | None:
        if path is None:
            return None
        if path not in self._beats:
            from dancemosaic_core.audio import load_audio
            wave, sr = load_audio(path)
            self._beats[path] = beat_metrics.music_beats(wave, sr, self.fps)
        return self._beats[path]


def evaluate_motion(joints: np.ndarray, protocol: Protocol, music_beats: np.ndarray | None,
                    music_offset: float = 0.0) -> tuple[dict, np.ndarray, np.ndarray, dict]:
    """Joints at the protocol rate -> (metrics, kinetic, geometric, timeline data)."""
    fps = protocol.fps
    kin, geo = motion_features(joints, protocol)
    p = subtract_first_root(joints)
    mb = beat_metrics.motion_beats(p, fps, smooth_s=protocol.bas_smooth_s)
    mb_m2m = beat_metrics.motion_beats(p, fps, order_s=protocol.m2m_order_s)
    song_beats = None if music_beats is None else np.asarray(music_beats) - music_offset
    music = None if song_beats is None else beat_metrics.truncate_beats(song_beats, len(p) / fps)
    rhythm = rhythm_metrics(p, fps, song_beats, sigma_s=protocol.bas_sigma_s, smooth_s=protocol.bas_smooth_s)
    row = {
        "frames": int(len(p)), "seconds": len(p) / fps, "motion_beats": int(len(mb)),
        "music_beats": None if music is None else int(len(music)),
        **rhythm,
        "bas_motion_to_music": (None if music is None else
                                beat_metrics.motion_to_music_score(music, mb_m2m, protocol.m2m_sigma_s)),
        "pfc": physical_foot_contact(joints, fps),
    }
    fs = foot_skating(joints, fps, slide_speed=protocol.fsr_slide_speed)
    row.update({"fsr_left": fs["left"], "fsr_right": fs["right"]})
    timeline = {"speed": beat_metrics.joint_speed(p, fps), "motion_beats": mb,
                "music_beats": music, "fps": fps}
    return row, kin, geo, timeline


def evaluate_set(name: str, items, protocol: Protocol, beats: BeatCache, *, music_for=None,
                 progress: bool = True) -> SetResult:
    """music_for(i, item) -> audio path overrides each item's own music (shuffled control)."""
    from tqdm import tqdm
    out = SetResult(name)
    for i, item in enumerate(tqdm(items, desc=f"eval {name}", disable=not progress, leave=False)):
        joints = to_protocol_rate(item.joints, item.fps, protocol)
        if len(joints) < 3:
            raise DanceMosaicError(f"{name}/{item.name}: {len(item.joints)} frames at {item.fps} fps is "
                                   "too short to evaluate (need 3 frames at the protocol rate)")
        music = music_for(i, item) if music_for else item.music
        row, kin, geo, timeline = evaluate_motion(joints, protocol, beats(music), item.music_offset)
        row.update({"name": item.name, "genre": item.genre, "music": str(music) if music else None})
        out.per_motion.append(row)
        out.kinetic.append(kin)
        out.geometric.append(geo)
        if len(out.timelines) < TIMELINES and row["music_beats"] is not None:
            out.timelines.append({"name": item.name, **timeline})
    return out


# --- set level ----------------------------------------------------------------------------
def _mean(values) -> float | None:
    vals = [v for v in values if v is not None]
    return float(np.mean(vals)) if vals else None


def summarise(rows: list[dict], kin, geo, gt_kin, gt_geo, *, with_fid: bool = True) -> dict:
    n = len(rows)
    enough = n >= 2 and len(gt_kin) >= 2
    out = {"n": n,
           "fid_k": fid(kin, gt_kin) if with_fid and enough else None,
           "fid_g": fid(geo, gt_geo) if with_fid and enough else None,
           "div_k": diversity(kin, gt_kin) if enough else None,
           "div_g": diversity(geo, gt_geo) if enough else None,
           "bas": _mean(r["bas"] for r in rows),
           "bas_motion_to_music": _mean(r["bas_motion_to_music"] for r in rows),
           "fsr": foot_skating_ratio([{"left": r["fsr_left"], "right": r["fsr_right"]} for r in rows]),
           "pfc": _mean(r["pfc"] for r in rows),
           "with_music": sum(r["music_beats"] is not None for r in rows)}
    out.update(summarise_rhythm(rows))
    return out


def feature_diagnostics(gt_feats: np.ndarray) -> dict:
    """Ground-truth dimensions the reference normalisation divides by a (near-)zero std."""
    const = near_constant_dims(gt_feats) if len(gt_feats) >= 2 else np.array([], dtype=int)
    dims = gt_feats.shape[1]
    return {"dims": int(dims), "near_constant": [int(i) for i in const], "threshold": NEAR_CONSTANT_STD,
            "varying_dims": [i for i in range(dims) if i not in set(const.tolist())],
            "fid_without_near_constant": {}}


def per_genre(result: SetResult, gt_kin, gt_geo) -> dict:
    groups: dict[str, list[int]] = {}
    for i, r in enumerate(result.per_motion):
        groups.setdefault(r["genre"] or "(none)", []).append(i)
    return {g: summarise([result.per_motion[i] for i in idx], [result.kinetic[i] for i in idx],
                         [result.geometric[i] for i in idx], gt_kin, gt_geo)
            for g, idx in sorted(groups.items())}


def derangement(n: int, seed: int) -> np.ndarray:
    """A seeded permutation with no fixed point (n >= 2)."""
    rng = np.random.default_rng(seed)
    while True:
        perm = rng.permutation(n)
        if not np.any(perm == np.arange(n)):
            return perm


def choreographer_items(items, seed: int) -> tuple[list[EvalItem], str | None]:
    """The procedural choreographer's dance for each item's music (same genre), or the reason
    it cannot run."""
    from dancemosaic_core.audio import load_audio
    from dancemosaic_core.choreo import choreograph
    out = []
    for i, item in enumerate(items):
        if item.music is None:
            continue
        wave, sr = load_audio(item.music)
        motion = choreograph(wave, sr, item.genre, seed + i)
        out.append(EvalItem(item.name, motion.joints, motion.fps, item.genre, item.music, 0.0))
    return out, None if out else "no generated motion has music to choreograph to"


def evaluate(generated, gt, protocol: Protocol, *, baselines: bool = True, seed: int = 0,
             progress: bool = True, controls: dict | None = None) -> tuple[dict, dict[str, SetResult]]:
    """All metrics for generated vs ground-truth items (lists of EvalItem). controls: name ->
    items of further generated sets (the model on controlled music, e.g. half-beat-delayed),
    scored against their own recorded music like the generated set.
    Returns (JSON-ready results, per-set raw results for plots)."""
    beats = BeatCache(protocol.fps)
    sets = {"generated": evaluate_set("generated", generated, protocol, beats, progress=progress)}
    for name, items in (controls or {}).items():
        if name in ("generated", "ground_truth", "ground_truth_shuffled_music", "choreographer"):
            raise DanceMosaicError(f"control set name {name!r} is taken by a built-in set; choose another")
        sets[name] = evaluate_set(name, items, protocol, beats, progress=progress)
    gt_set = evaluate_set("ground_truth", gt, protocol, beats, progress=progress)
    gt_kin, gt_geo = np.stack(gt_set.kinetic), np.stack(gt_set.geometric)
    notes = []
    if baselines:
        sets["ground_truth"] = gt_set
        with_music = [it for it in gt if it.music is not None]
        if len(with_music) >= 2:
            perm = derangement(len(with_music), seed)
            sets["ground_truth_shuffled_music"] = evaluate_set(
                "ground_truth_shuffled_music", with_music, protocol, beats,
                music_for=lambda i, _it: with_music[perm[i]].music, progress=progress)
        else:
            notes.append("ground_truth_shuffled_music skipped: fewer than 2 ground-truth motions have music")
        choreo, why = choreographer_items(generated, seed)
        if choreo:
            sets["choreographer"] = evaluate_set("choreographer", choreo, protocol, beats, progress=progress)
        else:
            notes.append(f"choreographer baseline skipped: {why}")
    diagnostics = {kind: feature_diagnostics(gt_feats) for kind, gt_feats in
                   (("kinetic", gt_kin), ("geometric", gt_geo))}
    metrics = {}
    for name, s in sets.items():
        # shuffled music changes only the beat scores; its FID/Div equal the ground truth's
        metrics[name] = summarise(s.per_motion, s.kinetic, s.geometric, gt_kin, gt_geo,
                                  with_fid=name != "ground_truth_shuffled_music")
        if metrics[name]["fid_k"] is not None:
            for kind, feats, gt_feats in (("kinetic", s.kinetic, gt_kin), ("geometric", s.geometric, gt_geo)):
                varying = diagnostics[kind]["varying_dims"]
                diagnostics[kind]["fid_without_near_constant"][name] = (
                    fid(feats, gt_feats, dims=varying) if varying else None)
    result = {
        "protocol": protocol.as_dict(),
        "n_generated": len(generated), "n_ground_truth": len(gt),
        "metrics": metrics,
        "feature_diagnostics": diagnostics,
        "per_genre": {name: per_genre(s, gt_kin, gt_geo) for name, s in sets.items()
                      if name in ("generated", "choreographer")},
        "per_motion": {name: s.per_motion for name, s in sets.items()},
        "notes": notes,
    }
    sets.setdefault("ground_truth", gt_set)
    return result, sets
