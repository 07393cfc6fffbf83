"""A tiny, randomly initialised model directory (tokenizer, t2m, music, pose) in the layout
inference.loader.DanceModel reads. Untrained, so its dances are noise, but every code path of
inference, streaming and the nodes runs on it in milliseconds."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from dancemosaic_core.motion.normalize import Normalizer
from dancemosaic_core.motion.representation import feature_slices, joints_to_features
from dancemosaic_core.text import PromptTableEncoder
from dancemosaic_core.text.prompts import genre_prompt
from dancemosaic_core.train.assemble import build_model_dir, save_untrained_stages
from dancemosaic_core.train.config import load_model_sizes

REPO = Path(__file__).resolve().parents[1]
GENRES = ["Popular", "HipHop", "Jazz"]


def _synthetic_features() -> list[np.ndarray]:
    from tests.core.test_train_fixtures import synthetic_joints
    return [joints_to_features(synthetic_joints(60, s)).astype(np.float32) for s in range(4)]


def tiny_model_dir(root, *, towers=("music", "pose"), seed: int = 0, text: str = "a person dances") -> Path:
    """Write MODEL_DIR = root/model (from untrained runs in root/runs) with random tiny checkpoints; returns it."""
    normalizer = Normalizer.fit(_synthetic_features(), groups=feature_slices(), feat_bias={"foot_contact": 5.0})
    encoder = PromptTableEncoder([genre_prompt(g) for g in GENRES] + [text])
    runs = save_untrained_stages(Path(root) / "runs", load_model_sizes(REPO / "config" / "model" / "tiny.yaml"),
                                 text_encoder=encoder, normalizer=normalizer, genres=GENRES, towers=towers, seed=seed)
    return build_model_dir(runs, Path(root) / "model", stages=("tokenizer", "t2m", *towers))
