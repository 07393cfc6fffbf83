"""The text-to-motion (T2M) masked transformer over base-layer tokens and MoMask's residual
transformer for quantiser layers 1..Q-1 (paper section 3.1, eq. 2; MoMask `MaskTransformer`,
`ResidualTransformer`).

Sequence: [text token, motion tokens x_1..x_n]. The text embedding (from a TextEncoder) is
projected to the model width as the first token; motion ids are embedded (ids 0..K-1 are
codes, K = mask_id, K+1 = pad_id), projected, and get sinusoidal positions. Blocks are pre-norm
(see docs/model.md), and `forward` takes optional per-layer residual additions, one (B, 1+n, d)
tensor per block added to that block's output: the ControlNet hook the music and pose towers
use (models/towers.py). Condition dropout for classifier-free guidance: `text_on` (B,) False
replaces the text embedding by the null (all-zero) embedding, as MoMask does.

Rhythm (beyond the paper, issue 16): with `rhythm_channels` > 0 the base transformer also reads
the music's beat-grid channels (motion/rhythm.rhythm_channels, (B, 4n, 6)), encoded per token
(the 4 frames of a token -> one vector) and added to the motion tokens; the encoder's output
layer starts at zero, so a fresh encoder leaves the logits unchanged, and all-zero channels
mean "no rhythm". Checkpoints from before it load with rhythm_channels 0 and ignore rhythm.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.motion.rhythm import RHYTHM_CHANNELS
from dancemosaic_core.motion.skeleton import TOKEN_DOWNSAMPLE
import torch.nn.functional as F


@dataclass
class TransformerConfig:
    num_codes: int = 512
    num_quantizers: int = 6
    text_dim: int = 384
    code_dim: int = 256            # token embedding width before the input projection
    dim: int = 256
    layers: int = 6
    heads: int = 4
    ff_dim: int = 1024
    dropout: float = 0.1
    residual_layers: int = 4       # residual transformer depth
    cond_drop_prob: float = 0.1    # classifier-free guidance (MoMask)
    rhythm_channels: int = RHYTHM_CHANNELS   # beat-grid input of the base transformer (0: none)


def sinusoid(length: int, dim: int, device=None) -> torch.Tensor:
    pos = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    pe = torch.zeros(length, dim, device=device)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)
    return pe


class Block(nn.Module):
    """Pre-norm self-attention + GELU MLP."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.heads = cfg.heads
        self.ln1 = nn.LayerNorm(cfg.dim)
        self.qkv = nn.Linear(cfg.dim, 3 * cfg.dim)
        self.proj = nn.Linear(cfg.dim, cfg.dim)
        self.ln2 = nn.LayerNorm(cfg.dim)
        self.mlp = nn.Sequential(nn.Linear(cfg.dim, cfg.ff_dim), nn.GELU(), nn.Linear(cfg.ff_dim, cfg.dim))
        self.drop = nn.Dropout(cfg.dropout)
        self.attn_dropout = cfg.dropout

    def forward(self, x: torch.Tensor, attend: torch.Tensor | None) -> torch.Tensor:
        """x (B, S, d); attend (B, 1, 1, S) True where a key may be attended to (None: all)."""
        B, S, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(B, S, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=attend,
                                           dropout_p=self.attn_dropout if self.training else 0.0)
        x = x + self.drop(self.proj(a.transpose(1, 2).reshape(B, S, d)))
        return x + self.drop(self.mlp(self.ln2(x)))


def key_mask(lengths: torch.Tensor | None, batch: int, n: int, device) -> torch.Tensor | None:
    """(B, 1, 1, 1+n) bool: the text token and the first `lengths` motion tokens are attendable;
    None (every key, no mask: attention's faster path) without lengths."""
    if lengths is None:
        return None
    pos = torch.arange(n + 1, device=device)[None]
    return (pos <= lengths.to(device)[:, None]).view(batch, 1, 1, n + 1)


class RhythmEncoder(nn.Module):
    """Rhythm channels (B, 4n, C) -> per-token additions (B, n, dim): one strided conv over each
    token's 4 frames, GELU, and a zero-initialised output projection."""

    def __init__(self, channels: int, dim: int):
        super().__init__()
        self.channels = channels
        self.frames = nn.Conv1d(channels, dim, TOKEN_DOWNSAMPLE, stride=TOKEN_DOWNSAMPLE)
        self.out = nn.Linear(dim, dim)

    def zero_output(self) -> None:
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, rhythm: torch.Tensor, n_tokens: int) -> torch.Tensor:
        if rhythm.shape[1] != n_tokens * TOKEN_DOWNSAMPLE or rhythm.shape[-1] != self.channels:
            raise DanceMosaicError(f"rhythm input has shape {tuple(rhythm.shape)} for {n_tokens} tokens; expected "
                                   f"(batch, {n_tokens * TOKEN_DOWNSAMPLE}, {self.channels}) from rhythm_channels")
        h = self.frames(rhythm.transpose(1, 2)).transpose(1, 2)
        return self.out(F.gelu(h))


class MaskTransformer(nn.Module):
    def __init__(self, *, config: TransformerConfig):
        super().__init__()
        c = self.config = config
        self.mask_id, self.pad_id = c.num_codes, c.num_codes + 1
        self.token_emb = nn.Embedding(c.num_codes + 2, c.code_dim)
        self.input_proj = nn.Linear(c.code_dim, c.dim)
        self.cond_proj = nn.Linear(c.text_dim, c.dim)
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(Block(c) for _ in range(c.layers))
        self.ln_f = nn.LayerNorm(c.dim)
        self.head = nn.Linear(c.dim, c.num_codes)
        self.rhythm_enc = RhythmEncoder(c.rhythm_channels, c.dim) if c.rhythm_channels else None
        self.apply(_init_weights)
        if self.rhythm_enc is not None:
            self.rhythm_enc.zero_output()

    def embed(self, ids: torch.Tensor, text_emb: torch.Tensor, text_on: torch.Tensor | None = None,
              rhythm: torch.Tensor | None = None) -> torch.Tensor:
        extra = None
        if rhythm is not None and self.rhythm_enc is not None:
            extra = self.rhythm_enc(rhythm.to(self.input_proj.weight.dtype), ids.shape[1])
        return embed_sequence(self, ids, text_emb, text_on, extra=extra)

    def forward(self, ids: torch.Tensor, text_emb: torch.Tensor, *, lengths: torch.Tensor | None = None,
                text_on: torch.Tensor | None = None, residuals: list[torch.Tensor] | None = None,
                rhythm: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (B, n, num_codes) for base-layer ids (B, n) (mask_id where masked). rhythm
        (B, 4n, rhythm_channels): the beat grid's channels, ignored without a rhythm encoder."""
        attend = key_mask(lengths, ids.shape[0], ids.shape[1], ids.device)
        x = self.embed(ids, text_emb, text_on, rhythm)
        for i, block in enumerate(self.blocks):
            x = block(x, attend)
            if residuals is not None:
                x = x + residuals[i]
        return self.head(self.ln_f(x))[:, 1:]


def embed_sequence(m: nn.Module, ids: torch.Tensor, text_emb: torch.Tensor,
                   text_on: torch.Tensor | None = None, extra: torch.Tensor | None = None) -> torch.Tensor:
    """Input sequence (B, 1+n, d) of a T2M transformer or a tower (both own token_emb,
    input_proj, cond_proj, drop). `extra` (B, n, d) is added to the motion tokens: the towers'
    condition tokens (paper section 3.2, token-wise addition)."""
    if text_on is not None:
        text_emb = text_emb * text_on.to(text_emb.dtype).view(-1, 1)
    cond = m.cond_proj(text_emb).unsqueeze(1)
    tokens = m.input_proj(m.token_emb(ids))
    if extra is not None:
        tokens = tokens + extra
    x = torch.cat([cond, tokens], dim=1)
    return m.drop(x + sinusoid(x.shape[1], x.shape[2], x.device).to(x.dtype))


class T2MModel(nn.Module):
    """What stage 2 trains and saves: the base-layer masked transformer and the residual one."""

    def __init__(self, *, config: TransformerConfig):
        super().__init__()
        self.config = config
        self.base = MaskTransformer(config=config)
        self.residual = ResidualTransformer(config=config)

    def forward(self, inputs: torch.Tensor, ids: torch.Tensor, q: torch.Tensor, text_emb: torch.Tensor, *,
                lengths: torch.Tensor | None = None, text_on: torch.Tensor | None = None,
                rhythm: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Training pass of both: (base logits for masked `inputs` (B, n), residual logits for
        layer q (B,) given all-layer ids (B, n, Q)); the rhythm reaches the base transformer."""
        return (self.base(inputs, text_emb, lengths=lengths, text_on=text_on, rhythm=rhythm),
                self.residual(ids, q, text_emb, lengths=lengths, text_on=text_on))


def bert_corrupt(ids: torch.Tensor, mask: torch.Tensor, *, num_codes: int, mask_id: int,
                 draws: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """MoMask's corruption of the masked positions: 10% get a random code, 88% of the rest
    (79.2% overall) get [MASK], the remaining 10.8% keep their true id. `draws` = (u1, u2,
    random ids), each shaped like ids (fresh torch.rand draws when None). Returns input ids."""
    if draws is None:
        draws = (torch.rand(ids.shape, device=ids.device), torch.rand(ids.shape, device=ids.device),
                 torch.randint(0, num_codes, ids.shape, device=ids.device))
    u1, u2, rand_ids = draws
    to_random = mask & (u1 < 0.1)
    to_mask = mask & ~to_random & (u2 < 0.88)
    out = torch.where(to_random, rand_ids, ids)
    return torch.where(to_mask, torch.full_like(ids, mask_id), out)


def masked_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor,
                         count: torch.Tensor | float | None = None) -> torch.Tensor:
    """Eq. 2: CE over masked positions only, averaged over them (MoMask `cal_performance`).
    `count` replaces the local number of masked positions (DDP: the global count / world)."""
    ce = F.cross_entropy(logits.float().transpose(1, 2), targets.clamp(min=0), reduction="none")
    m = mask.to(ce.dtype)
    return (ce * m).sum() / (m.sum() if count is None else torch.as_tensor(count)).clamp(min=1.0)


class ResidualTransformer(nn.Module):
    """Predicts quantiser layer q (1..Q-1) from the sum of the embeddings of layers < q and the
    text (MoMask). Code embeddings are tied as MoMask's `share_weight`: one table E_p per layer;
    E_p embeds layer p's ids on the input side and is the output projection that scores layer
    p's codes, so layers 1..Q-2 share input and output weights."""

    def __init__(self, *, config: TransformerConfig):
        super().__init__()
        c = self.config = config
        self.code_emb = nn.Parameter(torch.randn(c.num_quantizers, c.num_codes, c.code_dim) * 0.02)
        self.layer_emb = nn.Embedding(c.num_quantizers, c.dim)
        self.input_proj = nn.Linear(c.code_dim, c.dim)
        self.cond_proj = nn.Linear(c.text_dim, c.dim)
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(Block(c) for _ in range(c.residual_layers))
        self.ln_f = nn.LayerNorm(c.dim)
        self.out_proj = nn.Linear(c.dim, c.code_dim)
        self.apply(_init_weights)

    def forward(self, ids: torch.Tensor, q: int | torch.Tensor, text_emb: torch.Tensor, *,
                lengths: torch.Tensor | None = None, text_on: torch.Tensor | None = None) -> torch.Tensor:
        """ids (B, n, >=q) of layers 0..q-1 (-1 or ids of later layers are ignored); q an int or
        per-sample (B,) in 1..Q-1. Returns logits (B, n, num_codes) for layer q."""
        B, n = ids.shape[:2]
        q = torch.as_tensor(q, device=ids.device).expand(B) if not torch.is_tensor(q) or q.ndim == 0 else q
        layers = torch.arange(ids.shape[-1], device=ids.device)
        use = (layers[None] < q[:, None]).view(B, 1, -1, 1)                       # (B, 1, Q', 1)
        emb = self.code_emb[: ids.shape[-1]]                                        # (Q', K, cd)
        vecs = torch.stack([F.embedding(ids[..., p].clamp(min=0), emb[p]) for p in range(ids.shape[-1])], -2)
        x = self.input_proj((vecs * use.to(vecs.dtype) * (ids >= 0).unsqueeze(-1)).sum(-2))
        if text_on is not None:
            text_emb = text_emb * text_on.to(text_emb.dtype).view(-1, 1)
        cond = (self.cond_proj(text_emb) + self.layer_emb(q)).unsqueeze(1)
        x = torch.cat([cond, x], dim=1)
        x = self.drop(x + sinusoid(x.shape[1], x.shape[2], x.device).to(x.dtype))
        attend = key_mask(lengths, B, n, ids.device)
        for block in self.blocks:
            x = block(x, attend)
        h = self.out_proj(self.ln_f(x))[:, 1:]                                      # (B, n, cd)
        return torch.einsum("bnd,bkd->bnk", h, self.code_emb[q])


def _init_weights(module: nn.Module) -> None:
    """GPT/MoMask initialisation: N(0, 0.02) weights, zero biases, unit LayerNorm."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
