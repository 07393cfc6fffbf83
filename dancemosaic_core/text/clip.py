"""CLIP ViT-B/32 text tower (Radford et al. 2021; the paper's text encoder, section 3.1), from a
LOCAL weights file only.

The module is openai-clip's text half (`clip/model.py`: token_embedding, positional_embedding,
transformer.resblocks.* with nn.MultiheadAttention and QuickGELU, ln_final, text_projection)
with the same parameter names, so the official `ViT-B-32.pt` (a TorchScript archive), a plain
state dict of it (`.pt`, read with weights_only=True) or a `.safetensors` file load directly;
`visual.*` and other keys are ignored. The BPE tokenizer is the `openai-clip` package's
`simple_tokenizer.py` with its bundled `bpe_simple_vocab_16e6.txt.gz`, loaded as a file so that
`clip/__init__.py` (which imports torchvision and would download weights) never runs.
"""
from __future__ import annotations

import importlib.util
import pickle
import zipfile
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn as nn

from dancemosaic_core.common.errors import DanceMosaicError

CONTEXT_LENGTH = 77
VOCAB_SIZE = 49408
WIDTH, HEADS, LAYERS, EMBED_DIM = 512, 8, 12, 512     # ViT-B/32 text tower


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_1 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(OrderedDict([("c_fc", nn.Linear(width, width * 4)), ("gelu", QuickGELU()),
                                              ("c_proj", nn.Linear(width * 4, width))]))
        self.ln_2 = nn.LayerNorm(width)

    def forward(self, x, mask):
        y = self.ln_1(x)
        x = x + self.attn(y, y, y, need_weights=False, attn_mask=mask)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width: int, layers: int, heads: int):
        super().__init__()
        self.resblocks = nn.ModuleList(ResidualAttentionBlock(width, heads) for _ in range(layers))

    def forward(self, x, mask):
        for block in self.resblocks:
            x = block(x, mask)
        return x


class ClipTextTower(nn.Module):
    def __init__(self, *, width: int = WIDTH, layers: int = LAYERS, heads: int = HEADS,
                 embed_dim: int = EMBED_DIM, vocab_size: int = VOCAB_SIZE, context_length: int = CONTEXT_LENGTH):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab_size, width)
        self.positional_embedding = nn.Parameter(torch.empty(context_length, width).normal_(std=0.01))
        self.transformer = Transformer(width, layers, heads)
        self.ln_final = nn.LayerNorm(width)
        self.text_projection = nn.Parameter(torch.empty(width, embed_dim).normal_(std=width ** -0.5))
        causal = torch.full((context_length, context_length), float("-inf")).triu(1)
        self.register_buffer("attn_mask", causal, persistent=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """openai-clip `encode_text`: (B, 77) token ids -> (B, embed_dim) at the EOT token."""
        x = self.token_embedding(tokens) + self.positional_embedding
        x = self.transformer(x.permute(1, 0, 2), self.attn_mask).permute(1, 0, 2)
        x = self.ln_final(x)
        return x[torch.arange(x.shape[0]), tokens.argmax(dim=-1)] @ self.text_projection


@lru_cache(maxsize=1)
def _tokenizer():
    spec = importlib.util.find_spec("clip")
    if spec is None or not spec.submodule_search_locations:
        raise DanceMosaicError("the CLIP tokenizer needs the `openai-clip` package (pip install "
                               "openai-clip==1.0.1, as in requirements.txt)")
    path = Path(list(spec.submodule_search_locations)[0]) / "simple_tokenizer.py"
    mod_spec = importlib.util.spec_from_file_location("_dancemosaic_clip_tokenizer", path)
    module = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(module)
    return module.SimpleTokenizer()


def tokenize(texts: list[str], context_length: int = CONTEXT_LENGTH) -> torch.Tensor:
    """openai-clip `tokenize` with truncation: (B, 77) long."""
    tok = _tokenizer()
    sot, eot = tok.encoder["<|startoftext|>"], tok.encoder["<|endoftext|>"]
    out = torch.zeros(len(texts), context_length, dtype=torch.long)
    for i, text in enumerate(texts):
        ids = [sot] + tok.encode(text)[: context_length - 2] + [eot]
        out[i, : len(ids)] = torch.tensor(ids)
    return out


def _read_state_dict(path: Path) -> dict:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file
        return load_file(str(path))
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            scripted = any(n.endswith("constants.pkl") or "/code/" in n for n in z.namelist())
        if scripted:          # the official TorchScript archive: TorchScript only, no pickled Python
            return torch.jit.load(str(path), map_location="cpu").state_dict()
    return torch.load(path, map_location="cpu", weights_only=True)


def load_clip_text_tower(path) -> ClipTextTower:
    path = Path(path).expanduser()
    if not path.is_file():
        raise DanceMosaicError(f"CLIP weights {path} not found. The CLIP text encoder loads only from a local "
                               "file (e.g. ViT-B-32.pt from the openai/CLIP release); nothing is downloaded. "
                               "Give its path, or use text encoder kind 'minilm' (works offline).")
    try:
        state = _read_state_dict(path)
    except (pickle.UnpicklingError, RuntimeError, OSError, ValueError) as exc:
        raise DanceMosaicError(f"cannot read CLIP weights {path}: {str(exc).splitlines()[0][:200]}") from None
    keys = [k for k in state if not k.startswith("visual.") and not k.endswith("attn_mask") and k not in
            ("logit_scale", "input_resolution", "context_length", "vocab_size")]
    text_state = {k: state[k].float() for k in keys}
    if "ln_final.weight" not in text_state or "text_projection" not in text_state:
        raise DanceMosaicError(f"{path} does not hold a CLIP text tower (no ln_final/text_projection)")
    width = text_state["ln_final.weight"].shape[0]
    layers = len({k.split(".")[2] for k in text_state if k.startswith("transformer.resblocks.")})
    model = ClipTextTower(width=width, layers=layers, heads=width // 64,
                          embed_dim=text_state["text_projection"].shape[1],
                          vocab_size=text_state["token_embedding.weight"].shape[0],
                          context_length=text_state["positional_embedding"].shape[0])
    try:
        model.load_state_dict(text_state, strict=True)
    except RuntimeError as exc:
        raise DanceMosaicError(f"{path}: CLIP text weights do not match the model ({str(exc)[:300]})") from None
    return model.eval()
