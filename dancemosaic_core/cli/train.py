"""`dancemosaic train STAGE` trains a stage; `dancemosaic train assemble` builds a model directory.

    dancemosaic train tokenizer|t2m|music|pose --config config/train/X.yaml [--dotted.key=value ...]
    dancemosaic train assemble --runs RUNS_DIR --out MODEL_DIR

Synchronized progressive training (paper section 3.3): tokenizer, then T2M (+ residual
transformer), then the music tower and the pose tower with the T2M frozen. Multi-GPU / multi-node:
`torchrun --nproc_per_node=N -m dancemosaic_core.cli train STAGE --config ...`. `assemble` gathers
the four stage checkpoints of a run directory into one model directory for inference.
"""
from __future__ import annotations

import argparse
import difflib
import json
import types
import typing

import yaml

from dancemosaic_core.train.config import STAGES, StageConfig, override_keys

DEFAULT_CONFIGS = {s: f"config/train/{s}.yaml" for s in STAGES}


def run_stage(cfg: StageConfig) -> dict:
    if cfg.stage == "tokenizer":
        from dancemosaic_core.train.stage_tokenizer import train_tokenizer
        return train_tokenizer(cfg)
    if cfg.stage == "t2m":
        from dancemosaic_core.train.stage_t2m import train_t2m
        return train_t2m(cfg)
    from dancemosaic_core.train.stage_towers import train_music, train_pose
    return train_music(cfg) if cfg.stage == "music" else train_pose(cfg)


def _override(key: str):
    """argparse type of `--key VALUE`: (key, YAML value); the config reader checks its type."""
    def parse(text: str):
        try:
            return key, yaml.safe_load(text)
        except yaml.YAMLError:
            return key, text
    return parse


def _metavar(tp) -> str:
    """INT, FLOAT, LIST, ... of a config annotation (`X | None` reads as X; pass `null` for None)."""
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return _metavar(args[0])
    return (typing.get_origin(tp) or tp).__name__.upper()


def _keys_under(section: str, keys) -> list[str]:
    """The names directly under a dotted section: leaf keys as they are, sub-sections as `name.*`."""
    prefix = f"{section}." if section else ""
    out: dict[str, None] = {}
    for key in keys:
        if key.startswith(prefix):
            head, dot, _ = key[len(prefix):].partition(".")
            out[head + (".*" if dot else "")] = None
    return list(out)


def unknown_override_message(option: str, keys) -> str:
    """What to tell the user for an option that is no override key: the key, the keys allowed in
    the nearest section that exists, and the closest key."""
    key = option[2:].partition("=")[0]
    section = key.rpartition(".")[0]
    while section and not _keys_under(section, keys):
        section = section.rpartition(".")[0]
    allowed = ", ".join(_keys_under(section, keys))
    where = f"`{section}`" if section else "the stage config"
    message = f"unknown key `{key}`; the keys of {where} are: {allowed}"
    close = difflib.get_close_matches(key, list(keys), n=1)
    return message + (f" (did you mean --{close[0]}?)" if close else "")


class TrainParser(argparse.ArgumentParser):
    """A `dancemosaic train` parser: an option that is no override key of its stage is an error
    that names the key and the allowed keys (argparse alone says only "unrecognized arguments")."""

    override_keys: dict[str, type] = {}

    def parse_known_args(self, args=None, namespace=None):
        namespace, extras = super().parse_known_args(args, namespace)
        options = [a for a in extras if a.startswith("--")]
        if options and self.override_keys:
            self.error(f"unrecognized arguments: {' '.join(extras)}: "
                       f"{unknown_override_message(options[0], self.override_keys)}")
        return namespace, extras


def _add_stage_parser(sub, stage: str) -> None:
    parser = sub.add_parser(stage, help=f"train the {stage} stage", allow_abbrev=False,
                            usage=f"dancemosaic train {stage} [-h] [--config YAML] [--resume] [--dotted.key=VALUE ...]",
                            description=f"Train the {stage} stage. Every --dotted.key=value below "
                                        f"overrides the YAML, e.g. --optim.lr=1e-4 --data.cache=DIR.")
    parser.add_argument("--config", help=f"stage YAML (default {DEFAULT_CONFIGS[stage]})")
    parser.add_argument("--resume", action="store_true", help="continue from <out_dir>/checkpoint")
    parser.override_keys = override_keys(stage)
    groups: dict[str, argparse._ArgumentGroup] = {}
    for key, tp in parser.override_keys.items():
        section = key.rpartition(".")[0] or "run"
        group = groups.setdefault(section, parser.add_argument_group(f"{section} overrides"))
        metavar = "FILE" if key == "model" else _metavar(tp)
        group.add_argument(f"--{key}", dest="overrides", action="append", type=_override(key), metavar=metavar,
                           help="model-size YAML (config/model/*.yaml)" if key == "model" else None)
    parser.set_defaults(func=_train)


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("train", help="train a stage (tokenizer, t2m, music, pose) or assemble a model",
                            description=__doc__.splitlines()[0])
    stages = parser.add_subparsers(dest="stage", metavar="STAGE", required=True, parser_class=TrainParser)
    for stage in STAGES:
        _add_stage_parser(stages, stage)
    assemble = stages.add_parser("assemble", help="gather RUNS/{tokenizer,t2m,music,pose}/checkpoint into a "
                                                  "model directory (inference files only)")
    assemble.add_argument("--runs", required=True, help="run directory holding one sub-directory per stage")
    assemble.add_argument("--out", required=True, help="model directory to write (DanceModel.from_pretrained)")
    assemble.add_argument("--cache", default=None,
                          help="dataset cache whose dances give the model's motion_stats.json (corpus dance speed "
                               "per genre, beat-aware ITTO's energy floor; default: the tokenizer run's data.cache)")
    assemble.set_defaults(func=_assemble)


def _train(args) -> int:
    from dancemosaic_core.train.config import load_config
    overrides = dict(args.overrides or [])
    if args.resume:
        overrides["resume"] = True
    cfg = load_config(args.config or DEFAULT_CONFIGS[args.stage], args.stage, overrides)
    result = run_stage(cfg)
    summary = {k: v for k, v in result.items() if k != "history"}
    print(json.dumps(summary, indent=2, default=float))
    return 0


def _assemble(args) -> int:
    from dancemosaic_core.data.stats import write_motion_stats
    from dancemosaic_core.train.assemble import build_model_dir, check_runs, corpus_stats, write_model_prompts
    check_runs(args.runs)
    stats, cache = corpus_stats(args.runs, args.cache)       # both before anything is written
    out = build_model_dir(args.runs, args.out)
    write_motion_stats(out, stats, cache=cache, split="train")
    prompts = write_model_prompts(out)
    print(f"model directory {out}: {', '.join(STAGES)}; dance speed {stats['all']:.3f} m/s over the corpus; "
          f"{prompts} prompt embeddings")
    return 0
