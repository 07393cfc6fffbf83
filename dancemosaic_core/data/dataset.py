"""Fixed-length training windows from a cache built by `dancemosaic data prepare` (cache.py).

Each item is a dict:
    motion  (W, 263) float32  normalised features (mean.npy/std.npy of the cache), zero-padded
    music   (W, 41)  float32  the music tower's condition (audio.features.music_condition): the 35
                              music features aligned to the motion frames, then the rhythm channels
                              of the window's beat column; zeros without music and past `length`
    has_music bool, text str, genre str, length int (valid frames, a multiple of
    skeleton.TOKEN_DOWNSAMPLE), clip str, start int (first feature frame of the window)

Windows: a clip of T frames gives ceil((T - W) / stride) + 1 windows starting at k * stride
(the last one ending at T); with `random_crop` each start moves by a random 0..stride-1 frames
(within the clip), so every epoch sees different crops. Clips shorter than W give one window,
padded, with `length` < W. Randomness (crop, caption) comes from torch, so DataLoader worker
seeding and torch.manual_seed make it reproducible.

Text: one of the clip's captions whose span contains the window's middle frame, or the genre
prompt text.prompts.GENRE_PROMPT (the paper's template, section 3.1: "person dances on [genre] style"), chosen
uniformly; `text_mode` "caption" / "genre" restricts the choice (falling back to the other).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from dancemosaic_core.audio.features import MUSIC_CONDITION_DIM, music_condition
from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.data.cache import CACHE_FORMAT, CACHE_VERSION
from dancemosaic_core.data.items import SPLITS
from dancemosaic_core.motion.normalize import Normalizer
from dancemosaic_core.motion.skeleton import (
    FEATURE_DIM,
    MUSIC_FEATURE_DIM,
    TOKEN_DOWNSAMPLE,
)
from dancemosaic_core.text.prompts import genre_prompt

TEXT_MODES = ("mixed", "caption", "genre")


def load_cache_meta(cache_dir) -> dict:
    """meta.json of a complete cache; DanceMosaicError naming the problem otherwise."""
    cache_dir = Path(cache_dir)
    if not cache_dir.is_dir():
        raise DanceMosaicError(f"dataset cache {cache_dir} does not exist; build it with "
                               "`dancemosaic data prepare --out DIR ...`")
    path = cache_dir / "meta.json"
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DanceMosaicError(f"{cache_dir} is not a dataset cache (no meta.json); build one with "
                               "`dancemosaic data prepare --out DIR ...`") from None
    except (OSError, ValueError) as exc:
        raise DanceMosaicError(f"cannot read {path}: {exc}; rebuild the cache with `dancemosaic data prepare`") from None
    if not isinstance(meta, dict) or meta.get("format") != CACHE_FORMAT:
        raise DanceMosaicError(f"{path} is not a dancemosaic dataset cache's meta.json")
    if not meta.get("complete"):
        raise DanceMosaicError(f"dataset cache {cache_dir} is incomplete (its build was interrupted); "
                               "run `dancemosaic data prepare` again")
    if meta.get("version") != CACHE_VERSION:
        raise DanceMosaicError(f"dataset cache {cache_dir} has version {meta.get('version')}, this code reads "
                               f"version {CACHE_VERSION}; rebuild it with `dancemosaic data prepare`")
    if meta.get("feature_dim") != FEATURE_DIM or meta.get("music_dim") != MUSIC_FEATURE_DIM:
        raise DanceMosaicError(f"dataset cache {cache_dir} has {meta.get('feature_dim')}-d motion / "
                               f"{meta.get('music_dim')}-d music features, expected {FEATURE_DIM} / "
                               f"{MUSIC_FEATURE_DIM}; rebuild it")
    return meta


def load_normalizer(cache_dir) -> Normalizer:
    return Normalizer.load(Path(cache_dir))


class MotionWindowDataset(Dataset):
    def __init__(self, cache_dir, split: str, window_frames: int, *, require_music: bool = False,
                 stride: int | None = None, random_crop: bool = True, text_mode: str = "mixed",
                 genres: list[str] | None = None, sources: list[str] | None = None):
        if split not in SPLITS:
            raise DanceMosaicError(f"unknown split {split!r}; use one of {SPLITS}")
        if window_frames <= 0 or window_frames % TOKEN_DOWNSAMPLE:
            raise DanceMosaicError(f"window_frames must be a positive multiple of {TOKEN_DOWNSAMPLE} "
                                   f"(the tokenizer's downsampling), got {window_frames}")
        if text_mode not in TEXT_MODES:
            raise DanceMosaicError(f"text_mode must be one of {TEXT_MODES}, got {text_mode!r}")
        self.cache_dir = Path(cache_dir)
        self.meta = load_cache_meta(self.cache_dir)
        self.normalizer = load_normalizer(self.cache_dir)
        self.window = int(window_frames)
        self.stride = int(stride or window_frames)
        self.random_crop = random_crop
        self.text_mode = text_mode
        ids = (self.cache_dir / "splits" / f"{split}.txt").read_text(encoding="utf-8").split()
        index = self.meta["clips"]
        ids = [i for i in ids if (not require_music or index[i]["music"])
               and (genres is None or index[i]["genre"] in genres)
               and (sources is None or index[i]["source"] in sources)]
        if not ids:
            raise DanceMosaicError(f"dataset cache {self.cache_dir} has no {split} clip"
                                   f"{' with music' if require_music else ''}"
                                   f"{f' of genres {genres}' if genres else ''}"
                                   f"{f' from sources {sources}' if sources else ''} "
                                   f"(sources in it: {sorted(self.meta.get('sources', {}))})")
        self.clips = [self._load_clip(i) for i in ids]
        self.windows = []          # (clip index, nominal start)
        for c, clip in enumerate(self.clips):
            T = len(clip["motion"])
            n = 1 if T <= self.window else -(-(T - self.window) // self.stride) + 1
            self.windows += [(c, min(k * self.stride, max(T - self.window, 0))) for k in range(n)]

    def _load_clip(self, clip_id: str) -> dict:
        path = self.cache_dir / "clips" / f"{clip_id}.npz"
        try:
            with np.load(path, allow_pickle=False) as z:
                clip = {"id": clip_id, "motion": self.normalizer.normalize(z["features"]).astype(np.float32),
                        "music": z["music"] if "music" in z else None,
                        "texts": [str(t) for t in z["texts"]], "spans": z["text_spans"],
                        "genre": str(z["genre"])}
        except (OSError, ValueError, KeyError) as exc:
            raise DanceMosaicError(f"cannot read cache clip {path}: {exc}; rebuild the cache") from None
        return clip

    def music_statistics(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-column mean and std (float32, (35,)) of the music features over this dataset's
        clips with music, every frame weighted equally; a constant column gets std 1."""
        music = [c["music"].astype(np.float64) for c in self.clips if c["music"] is not None]
        if not music:
            raise DanceMosaicError(f"dataset cache {self.cache_dir} has no clip with music in this split; "
                                   "the music statistics need music")
        frames = np.concatenate(music)
        std = frames.std(axis=0)
        return frames.mean(axis=0).astype(np.float32), np.where(std > 1e-6, std, 1.0).astype(np.float32)

    def __len__(self) -> int:
        return len(self.windows)

    def _text(self, clip: dict, start: int, length: int) -> str:
        mid = start + length // 2
        captions = [t for t, (a, b) in zip(clip["texts"], clip["spans"]) if a <= mid < b]
        prompts = [genre_prompt(clip["genre"])] if clip["genre"] else []
        pool = {"mixed": captions + prompts, "caption": captions or prompts,
                "genre": prompts or captions}[self.text_mode]
        return pool[int(torch.randint(len(pool), ()))] if pool else ""

    def __getitem__(self, i: int) -> dict:
        c, start = self.windows[i]
        clip = self.clips[c]
        T = len(clip["motion"])
        if self.random_crop and T > self.window:
            start = min(start + int(torch.randint(self.stride, ())), T - self.window)
        length = min(self.window, T - start) // TOKEN_DOWNSAMPLE * TOKEN_DOWNSAMPLE
        motion = np.zeros((self.window, FEATURE_DIM), np.float32)
        motion[:length] = clip["motion"][start:start + length]
        music = np.zeros((self.window, MUSIC_CONDITION_DIM), np.float32)
        if clip["music"] is not None:
            music[:length] = music_condition(clip["music"][start:start + length])
        return {"motion": torch.from_numpy(motion), "music": torch.from_numpy(music),
                "has_music": clip["music"] is not None, "text": self._text(clip, start, length),
                "genre": clip["genre"], "length": length, "clip": clip["id"], "start": start}


def collate(batch: list[dict]) -> dict:
    """Stack a list of window dicts: tensors (B, W, D), length (B,) long, has_music (B,) bool,
    text/genre/clip lists, start (B,) long."""
    return {
        "motion": torch.stack([b["motion"] for b in batch]),
        "music": torch.stack([b["music"] for b in batch]),
        "has_music": torch.tensor([b["has_music"] for b in batch], dtype=torch.bool),
        "length": torch.tensor([b["length"] for b in batch], dtype=torch.long),
        "start": torch.tensor([b["start"] for b in batch], dtype=torch.long),
        "text": [b["text"] for b in batch], "genre": [b["genre"] for b in batch],
        "clip": [b["clip"] for b in batch],
    }
