"""Prompt embeddings shipped in the model directory, so inference need not load the text encoder.

    MODEL/prompt_embeddings.pt   {"format", "encoder": the encoder's spec, "prompts": [...],
                                  "embeddings": (P, dim) float32}

`dancemosaic train assemble` writes the embeddings of the model's genre prompts and of the empty
prompt, each encoded alone as inference encodes it. `LazyTextEncoder` serves those and builds the
real encoder only for another prompt: the MiniLM encoder costs ~5 s of imports and loading per
process on a 2-core CPU, which a genre-prompted dance never needs. The file is used only when
its encoder spec is the model's own.
"""
from __future__ import annotations

from pathlib import Path

import torch

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.text.encoders import TextEncoder, build_text_encoder

PROMPT_EMBEDDINGS_FILE = "prompt_embeddings.pt"
PROMPT_EMBEDDINGS_FORMAT = "dancemosaic-prompt-embeddings-1"


def write_prompt_embeddings(model_dir, encoder: TextEncoder, prompts: list[str]) -> Path:
    """Encode each prompt alone with `encoder` and save them with its spec."""
    prompts = sorted(set(prompts))
    vectors = torch.cat([encoder.encode([p]) for p in prompts]) if prompts else torch.zeros(0, encoder.dim)
    path = Path(model_dir) / PROMPT_EMBEDDINGS_FILE
    torch.save({"format": PROMPT_EMBEDDINGS_FORMAT, "encoder": encoder.spec(), "prompts": prompts,
                "embeddings": vectors.float().contiguous()}, path)
    return path


def read_prompt_embeddings(model_dir, spec: dict) -> dict[str, torch.Tensor]:
    """{prompt: (dim,) embedding} from the model directory; empty without the file or when it
    was written by another encoder."""
    path = Path(model_dir) / PROMPT_EMBEDDINGS_FILE
    if not path.is_file():
        return {}
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:   # a truncated or foreign file: name it, do not guess
        raise DanceMosaicError(f"{path} cannot be read ({exc}); delete it (the text encoder is then "
                               "loaded instead) or run `dancemosaic train assemble` again") from None
    if not isinstance(data, dict) or data.get("format") != PROMPT_EMBEDDINGS_FORMAT:
        raise DanceMosaicError(f"{path} is not a {PROMPT_EMBEDDINGS_FORMAT} file; delete it or run "
                               "`dancemosaic train assemble` again")
    if data["encoder"] != spec:
        return {}
    return dict(zip(data["prompts"], data["embeddings"]))


class LazyTextEncoder(TextEncoder):
    """The encoder of `spec`, built the first time a prompt outside `known` is encoded."""

    def __init__(self, spec: dict, known: dict[str, torch.Tensor] | None = None):
        super().__init__()
        self._spec = dict(spec)
        self._encoder: TextEncoder | None = None
        self._cache.update(known or {})

    @property
    def loaded(self) -> bool:
        return self._encoder is not None

    @property
    def dim(self) -> int:
        if self._cache:
            return int(next(iter(self._cache.values())).shape[-1])
        return self._real().dim

    def spec(self) -> dict:
        return dict(self._spec)

    def load(self) -> "LazyTextEncoder":
        self._real()
        return self

    def _real(self) -> TextEncoder:
        if self._encoder is None:
            self._encoder = build_text_encoder(self._spec)
        return self._encoder

    def _encode_batch(self, texts: list[str]) -> torch.Tensor:
        return self._real().encode(texts)
