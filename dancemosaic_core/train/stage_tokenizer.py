"""Stage 1: the RVQ-VAE motion tokenizer on all data (paper section 3.1, eq. 1)."""
from __future__ import annotations

import torch

from dancemosaic_core.data.dataset import MotionWindowDataset
from dancemosaic_core.models.tokenizer import MotionTokenizer
from dancemosaic_core.train.common import build_dataset
from dancemosaic_core.train.config import DataConfig, StageConfig
from dancemosaic_core.train.losses import (
    frame_mask,
    joints_from_features,
    tokenizer_loss,
)
from dancemosaic_core.train.trainer import TrainRun


def train_tokenizer(cfg: StageConfig) -> dict:
    torch.manual_seed(cfg.seed)                         # model initialisation follows the seed
    dataset = build_dataset(cfg.data)
    model = MotionTokenizer(config=cfg.model.tokenizer)
    run = TrainRun(cfg, model=model, dataset=dataset, extra={}, normalizer=dataset.normalizer)
    loss_cfg = cfg.loss
    model.train()
    for _, batch in run.batches():
        with run.autocast():
            recon, _, commit = run.ddp(batch["motion"])
        parts = tokenizer_loss(recon.float(), batch["motion"], commit, batch["length"],
                               commit_weight=loss_cfg.commit, vel_weight=loss_cfg.vel)
        grad_norm = run.update(parts["loss"])
        run.end_step({**{k: v.detach() for k, v in parts.items()}, "grad_norm": grad_norm})
    result = run.close()
    if run.distributed.main and cfg.eval_split:
        result["eval"] = evaluate_tokenizer(model, cfg.data, cfg.eval_split, device=run.distributed.device)
    return result


@torch.no_grad()
def evaluate_tokenizer(model: MotionTokenizer, data: DataConfig, split: str, *, device="cpu",
                       batch_size: int = 32) -> dict:
    """Reconstruction error on held-out windows: MPJPE (mm) of joints recovered from the
    decoded features vs from the true features (global, and pelvis-aligned as MoMask reports
    it), and the feature L1."""
    ds = MotionWindowDataset(data.cache, split, data.window_frames, random_crop=False, text_mode=data.text_mode)
    model.eval()
    err_sum = rel_sum = l1_sum = frames = 0.0
    for i in range(0, len(ds), batch_size):
        items = [ds[j] for j in range(i, min(i + batch_size, len(ds)))]
        motion = torch.stack([it["motion"] for it in items]).to(device)
        lengths = torch.tensor([it["length"] for it in items], device=device)
        recon = model.decode(model.encode(motion))
        valid = frame_mask(lengths, motion.shape[1])
        pred = joints_from_features(recon, ds.normalizer)
        true = joints_from_features(motion, ds.normalizer)
        per_frame = (pred - true).norm(dim=-1).mean(-1)
        rel = ((pred - pred[..., :1, :]) - (true - true[..., :1, :])).norm(dim=-1).mean(-1)
        err_sum += float((per_frame * valid).sum())
        rel_sum += float((rel * valid).sum())
        l1_sum += float(((recon - motion).abs().mean(-1) * valid).sum())
        frames += float(valid.sum())
    model.train()
    return {"split": split, "windows": len(ds), "mpjpe_mm": 1000.0 * err_sum / max(frames, 1.0),
            "mpjpe_root_relative_mm": 1000.0 * rel_sum / max(frames, 1.0),
            "feature_l1": l1_sum / max(frames, 1.0)}
