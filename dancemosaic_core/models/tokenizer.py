"""The motion tokenizer: an RVQ-VAE over normalised 263-d features (paper section 3.1, eq. 1;
architecture of MoMask `RVQVAE`: 1-D conv encoder/decoder with dilated residual blocks).

Encoder: conv 3 -> ReLU -> [conv 4 stride 2 -> ResNet1D] x down_t -> conv 3 to code_dim, giving
n = N / 2^down_t tokens (down_t = 2: x4 = skeleton.TOKEN_DOWNSAMPLE). Decoder mirrors it with
nearest upsampling. Symmetric API:

    ids = tok.encode(motion)                  # (B, N, 263) -> (B, n, Q) long
    motion = tok.decode(ids)                  # (B, n, Q) -> (B, N, 263)
    z = tok.get_codes_from_indices(ids).sum(-2)   # continuous code embeddings (B, n, code_dim)
    motion = tok.decode_from_embeddings(z)    # what the Gumbel losses and ITTO differentiate
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.models.rvq import ResidualVQ
from dancemosaic_core.motion.skeleton import FEATURE_DIM, TOKEN_DOWNSAMPLE


@dataclass
class TokenizerConfig:
    input_dim: int = FEATURE_DIM
    width: int = 256
    depth: int = 3                 # residual blocks per scale
    dilation_growth: int = 3
    down_t: int = 2                # 2 stride-2 convs: x4
    code_dim: int = 512
    num_codes: int = 512
    num_quantizers: int = 6
    ema_decay: float = 0.99
    quantizer_dropout: float = 0.2
    dropout: float = 0.0

    def __post_init__(self):
        if 2 ** self.down_t != TOKEN_DOWNSAMPLE:
            raise DanceMosaicError(f"tokenizer down_t={self.down_t} gives x{2 ** self.down_t} downsampling, "
                                   f"the project uses x{TOKEN_DOWNSAMPLE} (skeleton.TOKEN_DOWNSAMPLE)")


class ResBlock(nn.Module):
    """MoMask `ResConv1DBlock`: act -> dilated conv 3 -> act -> conv 1, plus the input."""

    def __init__(self, width: int, dilation: int, dropout: float):
        super().__init__()
        self.conv1 = nn.Conv1d(width, width, 3, padding=dilation, dilation=dilation)
        self.conv2 = nn.Conv1d(width, width, 1)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        return x + self.drop(self.conv2(F.relu(self.conv1(F.relu(x)))))


def resnet1d(width: int, depth: int, growth: int, dropout: float, reverse: bool) -> nn.Sequential:
    dilations = [growth ** i for i in range(depth)]
    return nn.Sequential(*[ResBlock(width, d, dropout) for d in (dilations[::-1] if reverse else dilations)])


class Encoder(nn.Module):
    def __init__(self, cfg: TokenizerConfig):
        super().__init__()
        layers = [nn.Conv1d(cfg.input_dim, cfg.width, 3, padding=1), nn.ReLU()]
        for _ in range(cfg.down_t):
            layers += [nn.Conv1d(cfg.width, cfg.width, 4, stride=2, padding=1),
                       resnet1d(cfg.width, cfg.depth, cfg.dilation_growth, cfg.dropout, reverse=False)]
        layers += [nn.Conv1d(cfg.width, cfg.code_dim, 3, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x):            # (B, C, N) -> (B, code_dim, n)
        return self.net(x)


class Decoder(nn.Module):
    def __init__(self, cfg: TokenizerConfig):
        super().__init__()
        layers = [nn.Conv1d(cfg.code_dim, cfg.width, 3, padding=1), nn.ReLU()]
        for _ in range(cfg.down_t):
            layers += [resnet1d(cfg.width, cfg.depth, cfg.dilation_growth, cfg.dropout, reverse=True),
                       nn.Upsample(scale_factor=2, mode="nearest"),
                       nn.Conv1d(cfg.width, cfg.width, 3, padding=1)]
        layers += [nn.Conv1d(cfg.width, cfg.width, 3, padding=1), nn.ReLU(),
                   nn.Conv1d(cfg.width, cfg.input_dim, 3, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, z):            # (B, code_dim, n) -> (B, C, N)
        return self.net(z)


class MotionTokenizer(nn.Module):
    def __init__(self, *, config: TokenizerConfig):
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        self.rvq = ResidualVQ(num_quantizers=config.num_quantizers, num_codes=config.num_codes,
                              code_dim=config.code_dim, decay=config.ema_decay,
                              quantizer_dropout=config.quantizer_dropout)

    @property
    def num_quantizers(self) -> int:
        return self.config.num_quantizers

    @property
    def num_codes(self) -> int:
        return self.config.num_codes

    def _check_motion(self, motion: torch.Tensor) -> None:
        if motion.ndim != 3 or motion.shape[-1] != self.config.input_dim:
            raise DanceMosaicError(f"tokenizer input has shape {tuple(motion.shape)}; expected (batch, "
                                   f"frames, {self.config.input_dim}) normalised motion features")
        if motion.shape[1] % TOKEN_DOWNSAMPLE:
            raise DanceMosaicError(f"tokenizer input has {motion.shape[1]} frames; use a multiple of "
                                   f"{TOKEN_DOWNSAMPLE} (one token per {TOKEN_DOWNSAMPLE} frames)")

    def encode_latent(self, motion: torch.Tensor) -> torch.Tensor:
        """Continuous encoder output Z (B, n, code_dim) before quantisation."""
        self._check_motion(motion)
        return self.encoder(motion.transpose(1, 2)).transpose(1, 2)

    @torch.no_grad()
    def encode(self, motion: torch.Tensor, num_quantizers: int | None = None) -> torch.Tensor:
        """Token ids (B, n, Q) of normalised motion (B, N, 263)."""
        return self.rvq.quantize(self.encode_latent(motion).float(), num_quantizers)

    def get_codes_from_indices(self, ids: torch.Tensor) -> torch.Tensor:
        """Per-layer code vectors (B, n, Q, code_dim); sum over Q for the embedding Z_bar."""
        return self.rvq.codes(ids)

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """Continuous code embeddings Z_bar (B, n, code_dim) = sum over layers of the codes."""
        return self.get_codes_from_indices(ids).sum(-2)

    def quantize(self, z: torch.Tensor) -> torch.Tensor:
        """Token ids (B, n, Q) of continuous embeddings (B, n, code_dim): the inverse of `embed`
        up to quantisation (residual nearest codes, layer by layer)."""
        return self.rvq.quantize(z)

    def decode_from_embeddings(self, z: torch.Tensor) -> torch.Tensor:
        """Motion features (B, N, 263) from continuous embeddings (B, n, code_dim)."""
        return self.decoder(z.transpose(1, 2)).transpose(1, 2)

    def decode(self, ids: torch.Tensor) -> torch.Tensor:
        """Motion features (B, N, 263) from ids (B, n, Q') (Q' <= Q; -1 = layer unused)."""
        return self.decode_from_embeddings(self.embed(ids))

    def codebook(self, q: int = 0) -> torch.Tensor:
        return self.rvq.codebook(q)

    def forward(self, motion: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Training pass: (reconstruction (B, N, 263), ids (B, n, Q), commitment loss)."""
        z = self.encode_latent(motion)
        z_hat, ids, commit = self.rvq(z.float())
        return self.decode_from_embeddings(z_hat.to(z.dtype)), ids, commit
