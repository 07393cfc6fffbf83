"""`dancemosaic train tokenizer|t2m|music|pose --config config/train/X.yaml [--key=value ...]`.

Synchronized progressive training (paper section 3.3): tokenizer, then T2M (+ residual
transformer), then the music tower and the pose tower with the T2M frozen. Multi-GPU / multi-node:
`torchrun --nproc_per_node=N -m dancemosaic_core.cli train STAGE --config ...`.
"""
from __future__ import annotations

import argparse
import json

from dancemosaic_core.common.errors import DanceMosaicError

STAGES = ("tokenizer", "t2m", "music", "pose")
DEFAULT_CONFIGS = {s: f"config/train/{s}.yaml" for s in STAGES}


def run_stage(stage: str, cfg: dict) -> dict:
    if stage == "tokenizer":
        from dancemosaic_core.train.stage_tokenizer import train_tokenizer
        return train_tokenizer(cfg)
    if stage == "t2m":
        from dancemosaic_core.train.stage_t2m import train_t2m
        return train_t2m(cfg)
    if stage == "music":
        from dancemosaic_core.train.stage_towers import train_music
        return train_music(cfg)
    if stage == "pose":
        from dancemosaic_core.train.stage_towers import train_pose
        return train_pose(cfg)
    raise DanceMosaicError(f"unknown training stage {stage!r}; use one of {STAGES}")


class _OverrideParser(argparse.ArgumentParser):
    """Collects unknown `--dotted.key=value` arguments as config overrides."""

    def parse_known_args(self, args=None, namespace=None):
        ns, rest = super().parse_known_args(args, namespace)
        overrides = [a for a in rest if a.startswith("--") and "=" in a]
        ns.overrides = list(getattr(ns, "overrides", None) or []) + overrides
        return ns, [a for a in rest if a not in overrides]


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("train", help="train a stage: tokenizer, t2m, music, pose",
                            description=__doc__.splitlines()[0])
    parser.__class__ = _OverrideParser
    parser.add_argument("stage", choices=STAGES)
    parser.add_argument("--config", help="stage YAML (default config/train/STAGE.yaml)")
    parser.add_argument("--resume", action="store_true", help="continue from <out_dir>/checkpoint")
    parser.epilog = "Any --dotted.key=value overrides the YAML, e.g. --optim.lr=1e-4 --data.cache=DIR"
    parser.set_defaults(func=_main)


def _main(args) -> int:
    from dancemosaic_core.train.config import load_config
    extra = getattr(args, "overrides", [])
    cfg = load_config(args.config or DEFAULT_CONFIGS[args.stage], extra)
    cfg["resume"] = bool(args.resume or cfg.get("resume"))
    result = run_stage(args.stage, cfg)
    summary = {k: v for k, v in result.items() if k != "history"}
    print(json.dumps(summary, indent=2, default=float))
    return 0
