"""A tiny, randomly initialised model directory (tokenizer, t2m, music, pose) in the layout
inference.loader.DanceModel reads. Untrained, so its dances are noise, but every code path of
inference, streaming and the nodes runs on it in milliseconds."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import yaml

from dancemosaic_core.models.checkpoint import save_checkpoint
from dancemosaic_core.models.mask_transformer import T2MModel, TransformerConfig
from dancemosaic_core.models.tokenizer import MotionTokenizer, TokenizerConfig
from dancemosaic_core.models.towers import Tower, TowerConfig
from dancemosaic_core.motion.normalize import Normalizer
from dancemosaic_core.motion.representation import feature_slices, joints_to_features
from dancemosaic_core.text import PromptTableEncoder
from dancemosaic_core.text.prompts import genre_prompt

REPO = Path(__file__).resolve().parents[1]
GENRES = ["Popular", "HipHop", "Jazz"]


def _synthetic_features() -> list[np.ndarray]:
    from tests.core.test_train_fixtures import synthetic_joints
    return [joints_to_features(synthetic_joints(60, s)).astype(np.float32) for s in range(4)]


def tiny_model_dir(root, *, towers=("music", "pose"), seed: int = 0, text: str = "a person dances") -> Path:
    """Write MODEL_DIR = root/model with random tiny checkpoints; returns it."""
    torch.manual_seed(seed)
    sizes = yaml.safe_load((REPO / "config" / "model" / "tiny.yaml").read_text())
    out = Path(root) / "model"
    normalizer = Normalizer.fit(_synthetic_features(), groups=feature_slices(), feat_bias={"foot_contact": 5.0})
    encoder = PromptTableEncoder([genre_prompt(g) for g in GENRES] + [text])
    tokenizer = MotionTokenizer(config=TokenizerConfig(**sizes["tokenizer"]))
    save_checkpoint(out / "tokenizer", tokenizer, normalizer=normalizer)
    tcfg = TransformerConfig(**{**sizes["transformer"], "num_codes": tokenizer.num_codes,
                                "num_quantizers": tokenizer.num_quantizers, "text_dim": encoder.dim})
    t2m = T2MModel(config=tcfg)
    save_checkpoint(out / "t2m", t2m, extra={"text_encoder": encoder.spec()}, normalizer=normalizer)
    for kind in towers:
        tower = Tower.from_base(t2m.base, config=TowerConfig(kind=kind, **sizes.get("tower", {})))
        for lin in tower.zero_proj:          # non-zero so the tower changes the logits
            torch.nn.init.normal_(lin.weight, std=0.05)
        save_checkpoint(out / kind, tower, extra={"text_encoder": encoder.spec(), "genres": GENRES},
                        normalizer=normalizer)
    return out
