"""Residual vector quantiser with EMA codebooks and dead-code reset (MoMask `QuantizeEMAReset`,
`ResidualVQ`; paper section 3.1).

Quantiser q replaces the residual r_q = z - sum_{p<q} c_p by its nearest code (Euclidean,
paper section 3.1); z_hat = sum_q c_q. Codebooks are not trained by gradient: with EMA the
codebook term ||sg(Z) - Z_bar||^2 of eq. 1 is replaced by the exponential moving average update
of each code towards the mean of the residuals assigned to it (van den Oord et al. 2017, app. A;
MoMask), and codes no batch has used (EMA count < 1) are reset to random residuals of the
current batch. The commitment term ||Z - sg(Z_bar)||^2 is returned as `commit_loss`.
Quantiser dropout (MoMask, p = 0.2): during training, some batches use only the first k
quantisers (k uniform in 1..Q), so the first layers alone already reconstruct coarsely.

Under DistributedDataParallel the EMA statistics are all-reduced and the reset codes broadcast
from rank 0, so every process keeps the same codebooks.
"""
from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


class EMAQuantizer(nn.Module):
    def __init__(self, *, num_codes: int, code_dim: int, decay: float = 0.99):
        super().__init__()
        self.num_codes, self.code_dim, self.decay = num_codes, code_dim, decay
        self.register_buffer("codebook", torch.zeros(num_codes, code_dim))
        self.register_buffer("code_sum", torch.zeros(num_codes, code_dim))
        self.register_buffer("code_count", torch.zeros(num_codes))
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))

    def _random_rows(self, x: torch.Tensor, n: int) -> torch.Tensor:
        """n rows of x (repeated with noise when x has fewer, as MoMask `_tile`)."""
        if x.shape[0] < n:
            reps = -(-n // x.shape[0])
            x = x.repeat(reps, 1) + torch.randn(x.shape[0] * reps, x.shape[1], device=x.device) * 0.01 / x.shape[1] ** 0.5
        rows = x[torch.randperm(x.shape[0], device=x.device)[:n]]
        if _distributed():
            dist.broadcast(rows, 0)
        return rows

    @torch.no_grad()
    def _init(self, x: torch.Tensor) -> None:
        rows = self._random_rows(x, self.num_codes)
        self.codebook.copy_(rows)
        self.code_sum.copy_(rows)
        self.code_count.fill_(1.0)
        self.initialized.fill_(True)

    def indices(self, x: torch.Tensor) -> torch.Tensor:
        """Nearest code ids of x (N, d) -> (N,)."""
        d2 = x.pow(2).sum(-1, keepdim=True) - 2 * x @ self.codebook.t() + self.codebook.pow(2).sum(-1)
        return d2.argmin(dim=-1)

    @torch.no_grad()
    def _ema_update(self, x: torch.Tensor, ids: torch.Tensor) -> None:
        onehot = F.one_hot(ids, self.num_codes).to(x.dtype)          # (N, K)
        code_sum = onehot.t() @ x
        code_count = onehot.sum(0)
        if _distributed():
            dist.all_reduce(code_sum)
            dist.all_reduce(code_count)
        self.code_sum.mul_(self.decay).add_(code_sum, alpha=1 - self.decay)
        self.code_count.mul_(self.decay).add_(code_count, alpha=1 - self.decay)
        used = (self.code_count >= 1.0).unsqueeze(1)
        updated = self.code_sum / self.code_count.clamp(min=1e-6).unsqueeze(1)
        self.codebook.copy_(torch.where(used, updated, self._random_rows(x, self.num_codes)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x (N, d) -> (straight-through quantised x, ids (N,), commitment loss)."""
        x = x.float()
        if self.training and not bool(self.initialized):
            self._init(x.detach())
        ids = self.indices(x.detach())
        if self.training:
            self._ema_update(x.detach(), ids)
        q = F.embedding(ids, self.codebook)
        commit = F.mse_loss(x, q.detach())
        return x + (q - x).detach(), ids, commit


class ResidualVQ(nn.Module):
    def __init__(self, *, num_quantizers: int, num_codes: int, code_dim: int, decay: float = 0.99,
                 quantizer_dropout: float = 0.2):
        super().__init__()
        self.num_quantizers, self.num_codes, self.code_dim = num_quantizers, num_codes, code_dim
        self.quantizer_dropout = quantizer_dropout
        self.layers = nn.ModuleList(EMAQuantizer(num_codes=num_codes, code_dim=code_dim, decay=decay)
                                    for _ in range(num_quantizers))

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """z (B, n, d) -> (z_hat (B, n, d) straight-through, ids (B, n, Q) with -1 for dropped
        layers, mean commitment loss)."""
        B, n, d = z.shape
        active = self.num_quantizers
        if self.training and self.quantizer_dropout > 0:
            draw = torch.rand(()).item()
            pick = int(torch.randint(1, self.num_quantizers + 1, ()).item())
            if draw < self.quantizer_dropout:
                active = pick
            if _distributed():         # every rank must run the same quantisers (collectives)
                shared = torch.tensor([active], device=z.device)
                dist.broadcast(shared, 0)
                active = int(shared.item())
        residual = z.reshape(B * n, d)
        z_hat = torch.zeros_like(residual)
        ids, commits = [], []
        for q, layer in enumerate(self.layers):
            if q >= active:
                ids.append(torch.full((B * n,), -1, dtype=torch.long, device=z.device))
                continue
            quantised, idx, commit = layer(residual)
            residual = residual - quantised.detach()
            z_hat = z_hat + quantised
            ids.append(idx)
            commits.append(commit)
        return z_hat.reshape(B, n, d), torch.stack(ids, -1).reshape(B, n, -1), torch.stack(commits).mean()

    @torch.no_grad()
    def quantize(self, z: torch.Tensor, num_quantizers: int | None = None) -> torch.Tensor:
        """Ids (B, n, Q) of z (B, n, d), no EMA update."""
        B, n, d = z.shape
        residual = z.reshape(B * n, d).float()
        ids = []
        for layer in self.layers[: num_quantizers or self.num_quantizers]:
            idx = layer.indices(residual)
            residual = residual - F.embedding(idx, layer.codebook)
            ids.append(idx)
        return torch.stack(ids, -1).reshape(B, n, -1)

    def codes(self, ids: torch.Tensor) -> torch.Tensor:
        """Per-layer code vectors (B, n, Q', d) of ids (B, n, Q'); id -1 gives a zero vector."""
        out = []
        for q in range(ids.shape[-1]):
            idx = ids[..., q]
            vec = F.embedding(idx.clamp(min=0), self.layers[q].codebook)
            out.append(vec * (idx >= 0).unsqueeze(-1).to(vec.dtype))
        return torch.stack(out, dim=-2)

    def codebook(self, q: int = 0) -> torch.Tensor:
        return self.layers[q].codebook
