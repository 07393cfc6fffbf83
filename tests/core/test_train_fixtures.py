"""A tiny training cache in the data helper's layout (data/cache.py) and tiny stage configs,
shared by the test_train_* and test_model_* files; plus a check that the dataset reads it."""
import json
from pathlib import Path

import numpy as np

from dancemosaic_core.audio.features import MUSIC_CONDITION_DIM
from dancemosaic_core.data.cache import CACHE_FORMAT, CACHE_VERSION
from dancemosaic_core.data.dataset import MotionWindowDataset
from dancemosaic_core.motion.normalize import Normalizer
from dancemosaic_core.motion.representation import feature_slices, joints_to_features
from dancemosaic_core.motion.skeleton import (
    FEATURE_DIM,
    MOTION_FPS,
    MUSIC_FEATURE_DIM,
    rest_pose,
)

REPO = Path(__file__).resolve().parents[2]
TINY_MODEL = str(REPO / "config" / "model" / "tiny.yaml")
GENRES = ("hiphop", "jazz")


def synthetic_joints(frames: int, seed: int) -> np.ndarray:
    """(T, 22, 3): a body on the floor that sways, steps and swings its limbs at random rates."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / MOTION_FPS
    joints = rest_pose()[None].repeat(frames, 0) + np.array([0.0, 0.95, 0.0])
    for j in range(1, 22):
        f, a = rng.uniform(0.3, 2.0, 3), rng.uniform(0.0, 0.25, 3)
        joints[:, j] += a * np.sin(2 * np.pi * f * t[:, None] + rng.uniform(0, 6, 3))
    joints[:, :, 0] += 0.2 * np.sin(2 * np.pi * rng.uniform(0.2, 0.6) * t)[:, None]
    joints[:, :, 2] += rng.uniform(0.0, 0.4) * t[:, None]
    return joints.astype(np.float32)


def make_cache(root: Path, *, clips: int = 6, frames: int = 49, seed: int = 0) -> Path:
    """A complete cache: `clips` train clips (+1 val), all with music, two genres, one caption."""
    root = Path(root)
    (root / "clips").mkdir(parents=True, exist_ok=True)
    (root / "splits").mkdir(exist_ok=True)
    index, splits, feats = {}, {"train": [], "val": [], "test": []}, []
    for i in range(clips + 1):
        cid = f"toy-{i:03d}"
        split = "train" if i < clips else "val"
        joints = synthetic_joints(frames, seed + i)
        features = joints_to_features(joints).astype(np.float32)
        T = len(features)
        rng = np.random.default_rng(seed + 100 + i)
        music = rng.normal(size=(T, MUSIC_FEATURE_DIM)).astype(np.float32)
        genre = GENRES[i % 2]
        np.savez(root / "clips" / f"{cid}.npz", features=features, joints=joints, music=music,
                 texts=np.array([f"a person dances {genre} move {i}"]), text_spans=np.array([[0, T]], np.int32),
                 genre=np.array(genre), source=np.array("toy"), orig_id=np.array(cid))
        index[cid] = {"music": True, "genre": genre, "frames": T, "split": split}
        splits[split].append(cid)
        if split == "train":
            feats.append(features)
    Normalizer.fit(feats, groups=feature_slices(), feat_bias={"foot_contact": 5.0}).save(root)
    for split, ids in splits.items():
        (root / "splits" / f"{split}.txt").write_text("".join(f"{c}\n" for c in sorted(ids)))
    meta = {"format": CACHE_FORMAT, "version": CACHE_VERSION, "complete": True, "fps": MOTION_FPS,
            "feature_dim": FEATURE_DIM, "music_dim": MUSIC_FEATURE_DIM,
            "splits": {s: len(v) for s, v in splits.items()}, "clips": index}
    (root / "meta.json").write_text(json.dumps(meta))
    return root


def dotted(tree: dict, prefix: str = "") -> dict:
    """{"optim": {"lr": 1}} -> {"optim.lr": 1}: nested test settings as config overrides."""
    out = {}
    for k, v in tree.items():
        out.update(dotted(v, f"{prefix}{k}.") if isinstance(v, dict) else {prefix + k: v})
    return out


def stage_config(stage: str, cache: Path, out: Path, **over):
    """A StageConfig from the real YAML files with tiny sizes and a few steps."""
    from dancemosaic_core.train.config import load_config
    tiny = {"model": TINY_MODEL, "data": {"cache": str(cache), "window_frames": 48, "num_workers": 0},
            "out_dir": str(out), "batch_size": 4, "device": "cpu", "progress": False, "tensorboard": False,
            "text_encoder": {"kind": "table"}, "eval_split": None,
            "optim": {"lr": 3e-3, "warmup_steps": 2, "max_steps": 10}, "save_every": 1000}
    return load_config(REPO / "config" / "train" / f"{stage}.yaml", stage, {**dotted(tiny), **dotted(over)})


def test_fixture_cache_reads_as_training_windows(tmp_path):
    cache = make_cache(tmp_path / "cache", clips=3, frames=49)
    ds = MotionWindowDataset(cache, "train", 48, require_music=True)
    item = ds[0]
    assert item["motion"].shape == (48, FEATURE_DIM) and item["music"].shape == (48, MUSIC_CONDITION_DIM)
    assert item["length"] == 48 and item["genre"] in GENRES
    # Normalised over the train split: per-dimension means near zero on the varying dimensions.
    stacked = np.concatenate([c["motion"] for c in ds.clips])
    assert np.abs(stacked.mean(0)).max() < 1e-3
