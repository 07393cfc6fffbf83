"""Checkpoints: one directory per model, read by ONE loader, never unpickling arbitrary objects.

    <dir>/config.json          {"kind", "model": {dataclass fields}, ... extra (text encoder,
                                data, stage config, step)}: enough to rebuild the model
    <dir>/model.safetensors    weights (and buffers: EMA codebooks)
    <dir>/mean.npy, std.npy    the feature normaliser of the training data (motion.normalize)
    <dir>/music_mean.npy, music_std.npy   music tower: its input features' statistics (absent in
                               checkpoints from before them: identity normalisation)
    <dir>/train_state.pt       optimizer / scheduler / RNG / step, read with weights_only=True

Written into a temporary sibling directory and renamed into place, so a crash mid-write leaves
the previous checkpoint intact.
"""
from __future__ import annotations

import json
import os
import pickle
import shutil
from dataclasses import asdict, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.models.mask_transformer import T2MModel, TransformerConfig
from dancemosaic_core.models.tokenizer import MotionTokenizer, TokenizerConfig
from dancemosaic_core.models.towers import Tower, TowerConfig
from dancemosaic_core.motion.normalize import Normalizer

KINDS = ("tokenizer", "t2m", "music", "pose")
MUSIC_STATS_FILES = ("music_mean.npy", "music_std.npy")
# a model directory's training-corpus statistics: written by data/stats.py, read by inference/loader.py
MOTION_STATS_FILE = "motion_stats.json"


def model_kind(model: nn.Module) -> str:
    if isinstance(model, MotionTokenizer):
        return "tokenizer"
    if isinstance(model, T2MModel):
        return "t2m"
    if isinstance(model, Tower):
        return model.config.kind
    raise TypeError(f"no checkpoint kind for {type(model).__name__}")


def model_config_dict(model: nn.Module) -> dict:
    out = {"model": asdict(model.config)}
    if isinstance(model, Tower):
        out["base"] = asdict(model.base_config)
    return out


def _dataclass(cls, data: dict, where: str):
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise DanceMosaicError(f"{where}: unknown {cls.__name__} fields {unknown}; valid: {sorted(names)}")
    return cls(**data)


def build_model(config: dict, where: str = "config") -> nn.Module:
    kind = config.get("kind")
    if kind == "tokenizer":
        return MotionTokenizer(config=_dataclass(TokenizerConfig, config["model"], where))
    # configs written before the beat-grid inputs existed have no rhythm_channels: none
    if kind == "t2m":
        return T2MModel(config=_dataclass(TransformerConfig, {"rhythm_channels": 0, **config["model"]}, where))
    if kind in ("music", "pose"):
        return Tower(config=_dataclass(TowerConfig, {"rhythm_channels": 0, **config["model"]}, where),
                     base_config=_dataclass(TransformerConfig, {"rhythm_channels": 0, **config["base"]}, where))
    raise DanceMosaicError(f"{where}: checkpoint kind {kind!r} is not one of {KINDS}")


def save_checkpoint(path, model: nn.Module, *, extra: dict | None = None,
                    normalizer: Normalizer | None = None, train_state: dict | None = None) -> Path:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    old = path.with_name(path.name + ".old")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    config = {"kind": model_kind(model), **model_config_dict(model), **(extra or {})}
    (tmp / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, str(tmp / "model.safetensors"))
    if normalizer is not None:
        normalizer.save(tmp)
    if isinstance(model, Tower) and model.config.kind == "music":
        for name, buf in zip(MUSIC_STATS_FILES, (model.music_mean, model.music_std)):
            np.save(tmp / name, buf.detach().cpu().numpy())
    if train_state is not None:
        torch.save(train_state, tmp / "train_state.pt")
    shutil.rmtree(old, ignore_errors=True)
    if path.exists():
        os.replace(path, old)
    os.replace(tmp, path)
    shutil.rmtree(old, ignore_errors=True)
    return path


def read_config(path) -> dict:
    path = Path(path)
    if path.is_file():
        path = path.parent
    cfg_path = path / "config.json"
    if not cfg_path.is_file():
        raise DanceMosaicError(f"{path} is not a checkpoint directory (no config.json); give the "
                               "directory a `dancemosaic train` run wrote (<out>/checkpoint)")
    try:
        config = json.loads(cfg_path.read_text())
    except ValueError as exc:
        raise DanceMosaicError(f"{cfg_path} is not valid JSON ({exc}); the checkpoint is damaged") from None
    if not isinstance(config, dict) or config.get("kind") not in KINDS:
        raise DanceMosaicError(f"{cfg_path}: 'kind' must be one of {KINDS}")
    return config


def load_checkpoint(path, *, kind: str | None = None, device: str | torch.device = "cpu"
                    ) -> tuple[nn.Module, dict]:
    """(model in eval mode, config dict). `kind` checks the stage (DanceMosaicError otherwise)."""
    path = Path(path)
    path = path.parent if path.is_file() else path
    config = read_config(path)
    if kind is not None and config["kind"] != kind:
        raise DanceMosaicError(f"{path} is a {config['kind']} checkpoint, expected a {kind} checkpoint")
    model = build_model(config, where=str(path / "config.json"))
    try:
        state = load_file(str(path / "model.safetensors"), device=str(device))
    except (OSError, SafetensorError) as exc:
        raise DanceMosaicError(f"cannot read {path / 'model.safetensors'}: {exc}") from None
    broken = sorted(name for name, tensor in state.items()
                    if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()))
    if broken:
        raise DanceMosaicError(f"{path / 'model.safetensors'} holds NaN or infinite weights in "
                               f"{', '.join(broken[:5])}{' ...' if len(broken) > 5 else ''}; the training diverged "
                               "or the file is damaged: use an earlier checkpoint")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise DanceMosaicError(f"{path}: weights do not match its config.json ({str(exc)[:300]})") from None
    if config["kind"] == "music" and all((path / name).is_file() for name in MUSIC_STATS_FILES):
        try:
            model.set_music_stats(*(np.load(path / name, allow_pickle=False) for name in MUSIC_STATS_FILES))
        except (OSError, ValueError) as exc:
            raise DanceMosaicError(f"cannot read the music statistics in {path}: {exc}") from None
    return model.to(device).eval(), config


def load_normalizer(path) -> Normalizer:
    return Normalizer.load(Path(path))


def load_train_state(path) -> dict:
    """Optimizer/scheduler/RNG state; weights_only=True refuses any pickled object that is not
    plain tensors/containers (a malicious file raises DanceMosaicError, nothing runs)."""
    file = Path(path) / "train_state.pt"
    if not file.is_file():
        raise DanceMosaicError(f"{path} has no train_state.pt; it cannot be resumed (weights only)")
    try:
        return torch.load(file, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, AttributeError, TypeError) as exc:
        raise DanceMosaicError(f"refusing to load {file}: it holds objects other than tensors and plain "
                               f"containers ({str(exc).splitlines()[0][:200]})") from None
