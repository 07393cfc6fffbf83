"""The small shared trainer every stage loop uses: distributed set-up, data order, per-step
randomness, AdamW with warm-up + cosine decay, bf16 autocast, gradient clipping, logging
(TensorBoard, metrics.jsonl, tqdm) and atomic checkpoints with exact resume.

Determinism (why resume is bit-for-bit on CPU and DDP matches one process):
- data order: DistributedSampler(seed, epoch) per epoch; a resumed run skips the batches already
  seen instead of drawing them; the DataLoader has its own generator, so creating an iterator
  mid-run consumes no global random numbers;
- training randomness (masks, corruption, condition dropout, Gumbel noise, constraints) comes
  from `StepRandom`, seeded by (seed, step) and drawn for the GLOBAL batch, each rank keeping
  its rows, so N processes see exactly the random numbers one process sees;
- the global torch RNG (dropout, random crops, codebook resets) is saved in train_state.pt.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.utils.data import DataLoader, DistributedSampler

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.data.dataset import collate
from dancemosaic_core.models.checkpoint import (
    load_checkpoint,
    load_train_state,
    save_checkpoint,
)
from dancemosaic_core.train.config import OptimConfig, StageConfig


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup_distributed(device: str = "auto") -> Dist:
    """torchrun sets WORLD_SIZE/RANK/LOCAL_RANK: NCCL on GPUs, gloo on CPU."""
    want_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        if not dist.is_initialized():
            dist.init_process_group("nccl" if want_cuda else "gloo")
        rank = dist.get_rank()
        local = int(os.environ.get("LOCAL_RANK", rank))
    else:
        rank, local = 0, 0
    if want_cuda:
        torch.cuda.set_device(local)
        return Dist(rank, world, torch.device("cuda", local))
    return Dist(rank, world, torch.device(device if device not in ("auto", "cuda") else "cpu"))


class StepRandom:
    """Random numbers of one training step for the global batch; this rank's rows only."""

    def __init__(self, seed: int, step: int, local_batch: int, distributed: Dist):
        self.gen = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(step))
        self.rows = torch.arange(distributed.rank, local_batch * distributed.world, distributed.world)
        self.global_batch = local_batch * distributed.world
        self.device = distributed.device

    def rand(self, *shape) -> torch.Tensor:
        return torch.rand(self.global_batch, *shape, generator=self.gen)[self.rows].to(self.device)

    def randint(self, low: int, high: int, *shape) -> torch.Tensor:
        return torch.randint(low, high, (self.global_batch, *shape), generator=self.gen)[self.rows].to(self.device)

    def gumbel(self, *shape) -> torch.Tensor:
        u = self.rand(*shape).clamp(1e-10, 1 - 1e-7)
        return -torch.log(-torch.log(u))


def lr_lambda(optim: OptimConfig):
    warm, total, floor = optim.warmup_steps, optim.max_steps, optim.min_lr_ratio

    def f(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        t = min(1.0, (step - warm) / max(1, total - warm))
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t))
    return f


class TrainRun:
    """One stage's run: owns the model being trained (`model`, `ddp`), its optimizer, data and logs."""

    def __init__(self, cfg: StageConfig, *, model: nn.Module, dataset, extra: dict, normalizer):
        self.cfg, self.stage, self.model, self.dataset = cfg, cfg.stage, model, dataset
        self.extra, self.normalizer = extra, normalizer
        self.distributed = setup_distributed(cfg.device)
        self.out = Path(cfg.out_dir)
        self.ckpt = self.out / "checkpoint"
        self.seed = cfg.seed
        self.max_steps = cfg.optim.max_steps
        if cfg.batch_size % self.distributed.world:
            raise DanceMosaicError(f"batch_size {cfg.batch_size} is not divisible by the {self.distributed.world} processes")
        self.local_batch = cfg.batch_size // self.distributed.world
        torch.manual_seed(self.seed)
        self.model.to(self.distributed.device)
        self.step = 0
        state = None
        if cfg.resume and (self.ckpt / "config.json").is_file():
            saved, _ = load_checkpoint(self.ckpt, kind=cfg.stage)
            self.model.load_state_dict(saved.state_dict())
            state = load_train_state(self.ckpt)
        self.ddp = self.model
        if self.distributed.world > 1:
            self.ddp = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.distributed.device.index] if self.distributed.device.type == "cuda" else None,
                broadcast_buffers=False)
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.params = params
        self.opt = torch.optim.AdamW(params, lr=cfg.optim.lr, betas=cfg.optim.betas,
                                     weight_decay=cfg.optim.weight_decay)
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lr_lambda(cfg.optim))
        if state is not None:
            self.opt.load_state_dict(state["optimizer"])
            self.sched.load_state_dict(state["scheduler"])
            self.step = int(state["step"])
            torch.set_rng_state(state["rng_cpu"])
            if torch.cuda.is_available() and state.get("rng_cuda"):
                torch.cuda.set_rng_state_all(state["rng_cuda"])
        self.use_bf16 = cfg.bf16 and self.distributed.device.type == "cuda"
        self.history: list[dict] = []
        self._writer = self._bar = None
        if self.distributed.main:
            self.out.mkdir(parents=True, exist_ok=True)
            if cfg.tensorboard:
                from torch.utils.tensorboard import SummaryWriter
                self._writer = SummaryWriter(str(self.out / "tb"))
            if cfg.progress:
                from tqdm import tqdm
                self._bar = tqdm(total=self.max_steps, initial=self.step, desc=cfg.stage, dynamic_ncols=True)

    # --- data ---------------------------------------------------------------------------------
    def batches(self):
        """Yield (step, batch on device) from the current step to max_steps."""
        sampler = DistributedSampler(self.dataset, num_replicas=self.distributed.world, rank=self.distributed.rank,
                                     shuffle=True, seed=self.seed, drop_last=False)
        per_epoch = max(1, len(sampler) // self.local_batch)
        epoch, skip = divmod(self.step, per_epoch)
        while self.step < self.max_steps:
            sampler.set_epoch(epoch)
            idx = list(sampler)
            chunks = [idx[i * self.local_batch:(i + 1) * self.local_batch] for i in range(per_epoch)]
            loader = DataLoader(self.dataset, batch_sampler=chunks[skip:], collate_fn=collate,
                                num_workers=self.cfg.data.num_workers,
                                generator=torch.Generator().manual_seed(self.seed + epoch))
            for batch in loader:
                if self.step >= self.max_steps:
                    return
                yield self.step, {k: v.to(self.distributed.device) if torch.is_tensor(v) else v for k, v in batch.items()}
            epoch, skip = epoch + 1, 0

    def random(self, batch_size: int) -> StepRandom:
        return StepRandom(self.seed, self.step, batch_size, self.distributed)

    def mean_count(self, mask: torch.Tensor) -> torch.Tensor:
        """Number of True entries per process averaged over processes: dividing a local sum by it
        makes DDP's gradient average equal one process's mean over the global batch."""
        count = mask.sum().float()
        if self.distributed.world > 1:
            count = count.clone()
            dist.all_reduce(count)
            count = count / self.distributed.world
        return count

    def autocast(self):
        if self.use_bf16:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    # --- optimisation ---------------------------------------------------------------------------
    def update(self, loss: torch.Tensor) -> float:
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        clip = self.cfg.optim.grad_clip
        norm = torch.nn.utils.clip_grad_norm_(self.params, clip if clip > 0 else float("inf"))
        self.opt.step()
        self.sched.step()
        return float(norm)

    def end_step(self, metrics: dict) -> None:
        """Count the step, log it, save every `save_every` steps and at the end."""
        self.step += 1
        row = {"step": self.step, "lr": self.sched.get_last_lr()[0],
               **{k: float(v) for k, v in metrics.items()}}
        self.history.append(row)
        if self.distributed.main:
            if self._writer is not None and self.step % self.cfg.log_every == 0:
                for k, v in row.items():
                    if k != "step":
                        self._writer.add_scalar(f"{self.stage}/{k}", v, self.step)
            with open(self.out / "metrics.jsonl", "a") as f:
                f.write(json.dumps(row) + "\n")
            if self._bar is not None:
                self._bar.update(1)
                self._bar.set_postfix({k: f"{v:.4g}" for k, v in row.items() if k not in ("step", "lr")})
        if self.step % self.cfg.save_every == 0 or self.step == self.max_steps:
            self.save()

    def save(self) -> None:
        if not self.distributed.main:
            return
        state = {"step": self.step, "optimizer": self.opt.state_dict(), "scheduler": self.sched.state_dict(),
                 "rng_cpu": torch.get_rng_state(),
                 "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}
        extra = {**self.extra, "step": self.step, "train_config": self.cfg.to_dict()}
        save_checkpoint(self.ckpt, self.model, extra=extra, normalizer=self.normalizer, train_state=state)

    def close(self) -> dict:
        if self._writer is not None:
            self._writer.close()
        if self._bar is not None:
            self._bar.close()
        last = self.history[-1] if self.history else {}
        return {"stage": self.stage, "steps": self.step, "checkpoint": str(self.ckpt), "final": last,
                "history": self.history}
