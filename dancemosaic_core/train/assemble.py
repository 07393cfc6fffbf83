"""Model directories from stage checkpoints: the one place that lays out what
inference.loader.DanceModel reads.

    RUNS/<stage>/checkpoint/   what `dancemosaic train <stage> --out_dir=RUNS/<stage>` writes
    MODEL/<stage>/             config.json, model.safetensors, mean.npy, std.npy (no optimizer state),
                               music/: music_mean.npy, music_std.npy when the run wrote them

`build_model_dir` gathers a run directory into a model directory (`dancemosaic train assemble`),
`corpus_stats` gives the corpus's dance speeds for MODEL/motion_stats.json (data/stats.py),
`write_model_prompts` the genre prompts' embeddings (MODEL/prompt_embeddings.pt, text/prompt_cache.py);
`save_untrained_stages` writes randomly initialised stage checkpoints of given sizes into a run
directory, for tests and timing where the weights do not matter.
"""
from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import Iterable

import torch

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.data.stats import dance_speed_stats
from dancemosaic_core.models.checkpoint import MUSIC_STATS_FILES, read_config, save_checkpoint
from dancemosaic_core.models.mask_transformer import T2MModel
from dancemosaic_core.models.tokenizer import MotionTokenizer
from dancemosaic_core.models.towers import Tower
from dancemosaic_core.motion.normalize import Normalizer
from dancemosaic_core.text import TextEncoder, build_text_encoder
from dancemosaic_core.train.common import transformer_config
from dancemosaic_core.train.config import STAGES, ModelSizes

INFERENCE_FILES = ("config.json", "model.safetensors", "mean.npy", "std.npy")
OPTIONAL_FILES = MUSIC_STATS_FILES          # music towers trained after they existed
REQUIRED_STAGES = ("tokenizer", "t2m")


def stage_checkpoint(runs, stage: str) -> Path:
    return Path(runs) / stage / "checkpoint"


def check_runs(runs, stages: Iterable[str] = STAGES) -> tuple[str, ...]:
    """The stages, each checked to hold a finished checkpoint of its kind in RUNS/<stage>/checkpoint."""
    stages = tuple(stages)
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        raise DanceMosaicError(f"unknown stages {unknown}; a model directory holds {', '.join(STAGES)}")
    lacking = [s for s in REQUIRED_STAGES if s not in stages]
    if lacking:
        raise DanceMosaicError(f"a model directory needs the {' and '.join(lacking)} stage; "
                               f"asked for {', '.join(stages)}")
    for stage in stages:
        src = stage_checkpoint(runs, stage)
        missing = [name for name in INFERENCE_FILES if not (src / name).is_file()]
        if missing:
            raise DanceMosaicError(f"stage {stage}: no finished checkpoint at {src} (missing {', '.join(missing)}); "
                                   f"train it with `dancemosaic train {stage} --out_dir={Path(runs) / stage}`")
        kind = read_config(src)["kind"]
        if kind != stage:
            raise DanceMosaicError(f"stage {stage}: {src} holds a {kind} checkpoint, not a {stage} one")
    return stages


def build_model_dir(runs, out, *, stages: Iterable[str] = STAGES) -> Path:
    """Copy the inference files of RUNS/<stage>/checkpoint into OUT/<stage>/ for each stage.
    Every stage is checked before anything is written, so a missing one leaves OUT untouched."""
    stages = check_runs(runs, stages)
    out = Path(out)
    for stage in stages:
        (out / stage).mkdir(parents=True, exist_ok=True)
        src = stage_checkpoint(runs, stage)
        for name in INFERENCE_FILES + tuple(f for f in OPTIONAL_FILES if (src / f).is_file()):
            shutil.copyfile(src / name, out / stage / name)
    return out


def write_model_prompts(model_dir) -> int:
    """MODEL/prompt_embeddings.pt (text/prompt_cache.py) for the model's genre prompts and the
    empty prompt, by the encoder its T2M records; returns how many. A prompt table that lacks a
    prompt leaves it out (inference refuses that prompt too)."""
    from dancemosaic_core.inference.loader import DanceModel
    from dancemosaic_core.text.prompt_cache import write_prompt_embeddings
    model = DanceModel.from_pretrained(model_dir, device="cpu")
    encoder = build_text_encoder(model.text_encoder.spec())
    prompts = []
    for prompt in {""} | {model.prompt(g, None) for g in model.genres}:
        try:
            encoder.encode([prompt])
        except DanceMosaicError:
            continue
        prompts.append(prompt)
    write_prompt_embeddings(model_dir, encoder, prompts)
    return len(prompts)


def corpus_stats(runs, cache=None, split: str = "train") -> tuple[dict[str, float], str]:
    """(dance speeds, cache) of `cache` (default: the cache the tokenizer run trained on, as its
    checkpoint's config records it), for MODEL/motion_stats.json (data/stats.py)."""
    if cache is None:
        config = read_config(stage_checkpoint(runs, "tokenizer"))
        cache = ((config.get("train_config") or {}).get("data") or {}).get("cache")
        if not cache:
            raise DanceMosaicError(f"{stage_checkpoint(runs, 'tokenizer')} records no training cache; "
                                   "give the dataset cache with --cache")
    return dance_speed_stats(cache, split), str(cache)


def save_untrained_stages(runs, sizes: ModelSizes, *, text_encoder: TextEncoder, normalizer: Normalizer,
                          genres: Iterable[str], towers: Iterable[str] = ("music", "pose"), seed: int = 0) -> Path:
    """Randomly initialised checkpoints in RUNS/<stage>/checkpoint (tokenizer, t2m and `towers`).
    The towers' output projections, zero when training starts, get small random weights so that
    each tower changes the logits as a trained one would."""
    torch.manual_seed(seed)
    tokenizer = MotionTokenizer(config=sizes.tokenizer)
    save_checkpoint(stage_checkpoint(runs, "tokenizer"), tokenizer, normalizer=normalizer)
    t2m = T2MModel(config=transformer_config(sizes.transformer, tokenizer, text_encoder.dim))
    save_checkpoint(stage_checkpoint(runs, "t2m"), t2m, extra={"text_encoder": text_encoder.spec()},
                    normalizer=normalizer)
    for kind in towers:
        tower = Tower.from_base(t2m.base, config=replace(sizes.tower, kind=kind))
        for lin in tower.zero_proj:
            torch.nn.init.normal_(lin.weight, std=0.05)
        save_checkpoint(stage_checkpoint(runs, kind), tower, normalizer=normalizer,
                        extra={"text_encoder": text_encoder.spec(), "genres": list(genres)})
    return Path(runs)
