"""Training configuration: YAML files with deltas over a base, plus `--key=value` overrides.

A stage file (config/train/music.yaml) names its base (`base: base.yaml`, relative to itself)
and holds only what differs; `model:` names a model-size file (config/model/*.yaml), merged in
under the key `model_sizes`. Overrides use dotted keys and YAML values:
`--optim.lr=1e-4 --data.cache=/data/cache --model=config/model/tiny.yaml`.
"""
from __future__ import annotations

import copy
from pathlib import Path

import yaml

from dancemosaic_core.common.errors import DanceMosaicError

MODEL_KEYS = ("tokenizer", "transformer", "tower")


def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise DanceMosaicError(f"config file {path} not found") from None
    except yaml.YAMLError as exc:
        raise DanceMosaicError(f"config file {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise DanceMosaicError(f"config file {path} must hold a mapping at the top level")
    return data


def deep_merge(base: dict, delta: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in delta.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def load_yaml_chain(path) -> dict:
    """A YAML file merged over its `base:` chain."""
    path = Path(path)
    data = _read_yaml(path)
    base = data.pop("base", None)
    if base is None:
        return data
    return deep_merge(load_yaml_chain(path.parent / base), data)


def parse_overrides(items: list[str]) -> dict:
    out: dict = {}
    for item in items:
        key, sep, value = item.lstrip("-").partition("=")
        if not sep or not key:
            raise DanceMosaicError(f"override {item!r} must look like --key=value (dotted keys for nesting)")
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            parsed = value
        node = out
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = parsed
    return out


def load_config(path, overrides: list[str] | None = None) -> dict:
    """Stage config with overrides applied and the model-size file merged as `model_sizes`."""
    cfg = deep_merge(load_yaml_chain(path), parse_overrides(overrides or []))
    model = cfg.get("model")
    if isinstance(model, str):
        model_path = Path(model)
        if not model_path.is_absolute() and not model_path.exists():
            model_path = Path(path).parent / model
        cfg["model_sizes"] = deep_merge(load_yaml_chain(model_path), cfg.get("model_sizes") or {})
    elif isinstance(model, dict):
        cfg["model_sizes"] = deep_merge(model, cfg.get("model_sizes") or {})
    else:
        raise DanceMosaicError(f"{path}: `model` must name a model-size YAML (config/model/*.yaml)")
    unknown = sorted(set(cfg["model_sizes"]) - set(MODEL_KEYS))
    if unknown:
        raise DanceMosaicError(f"model sizes have unknown sections {unknown}; valid: {list(MODEL_KEYS)}")
    return cfg


def require(cfg: dict, dotted: str):
    node = cfg
    for part in dotted.split("."):
        if not isinstance(node, dict) or node.get(part) in (None, ""):
            raise DanceMosaicError(f"training config lacks `{dotted}`; set it in the YAML or pass --{dotted}=...")
        node = node[part]
    return node
