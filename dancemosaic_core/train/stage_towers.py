"""Stages 3 and 4: the music tower, then the pose tower, each with the T2M frozen (paper section
3.3). Synchronized masking: backbone and tower see the identical corrupted token sequence (one
`masked_inputs` draw feeds the single MultiTowerModel forward, whose frozen T2M and tower both
read it). Losses: music = CE (eq. 3) + lambda_pos/vel/acc/foot kinematic losses through
straight-through Gumbel-softmax decoding; pose = CE (eq. 4) + lambda_D D(P, P_hat) (eq. 5) on
random sparse constraints drawn each batch."""
from __future__ import annotations

import torch

from dancemosaic_core.models.checkpoint import load_checkpoint
from dancemosaic_core.models.mask_transformer import masked_cross_entropy
from dancemosaic_core.models.towers import MultiTowerModel, Tower, TowerConfig
from dancemosaic_core.train.common import (
    build_dataset, encode_batch, frozen, load_t2m_text_encoder, load_tokenizer, masked_inputs, text_batch,
)
from dancemosaic_core.train.config import require
from dancemosaic_core.train.losses import (
    gumbel_joints, joints_from_features, kinematic_losses, pose_discrepancy, sample_constraints,
)
from dancemosaic_core.train.trainer import TrainRun, setup_distributed


def _setup(cfg: dict, kind: str):
    torch.manual_seed(int(cfg.get("seed", 0)))          # model initialisation follows the seed
    device = setup_distributed(str(cfg.get("device", "auto"))).device
    dataset = build_dataset(cfg, require_music=(kind == "music"))
    tokenizer, _ = load_tokenizer(cfg, device)
    t2m_model, _ = load_checkpoint(require(cfg, "t2m"), kind="t2m", device=device)
    t2m = frozen(t2m_model.base)
    text = load_t2m_text_encoder(cfg["t2m"])
    tower = Tower.from_base(t2m, config=TowerConfig(kind=kind, **cfg["model_sizes"].get("tower", {})))
    model = MultiTowerModel(t2m=t2m, **{kind: tower})
    run = TrainRun(cfg, stage=kind, model=tower, dataset=dataset, normalizer=dataset.normalizer,
                   extra={"kind": kind, "text_encoder": text.spec(), "tokenizer": str(cfg["tokenizer"]),
                          "t2m": str(cfg["t2m"]),
                          "genres": sorted({c["genre"] for c in dataset.clips if c["genre"]})})
    if run.ddp is not tower:       # DDP wraps the trainable tower inside the multi-tower model
        model.towers[kind] = run.ddp
    model.train()
    return dataset, tokenizer, text, model, tower, run


def _masked_step(batch, tokenizer, text, model, run):
    ids, tok_len = encode_batch(tokenizer, batch)
    rand = run.random(ids.shape[0])
    inputs, mask = masked_inputs(ids[..., 0], tok_len, rand, num_codes=tokenizer.num_codes, mask_id=model.mask_id)
    text_emb, text_on = text_batch(text, batch, rand, model.t2m.config.cond_drop_prob, run.distributed.device)
    return ids, tok_len, rand, inputs, mask, text_emb, text_on


def train_music(cfg: dict) -> dict:
    dataset, tokenizer, text, model, tower, run = _setup(cfg, "music")
    loss_cfg, tau = cfg["loss"], float(cfg["loss"].get("gumbel_tau", 1.0))
    for _, batch in run.batches():
        ids, tok_len, rand, inputs, mask, text_emb, text_on = _masked_step(batch, tokenizer, text, model, run)
        with run.autocast():
            logits = model(inputs, text_emb, lengths=tok_len, text_on=text_on, music=batch["music"])
        ce = masked_cross_entropy(logits, ids[..., 0], mask, run.mean_count(mask))
        pred = gumbel_joints(logits, ids, mask, tokenizer, dataset.normalizer, rand, tau=tau)
        true = joints_from_features(batch["motion"], dataset.normalizer)
        kin = kinematic_losses(pred, true, batch["motion"], dataset.normalizer, batch["length"])
        loss = ce + sum(float(loss_cfg[f"lambda_{k}"]) * v for k, v in kin.items())
        grad_norm = run.update(loss)
        run.end_step({"loss": loss.detach(), "ce": ce.detach(), **{k: v.detach() for k, v in kin.items()},
                      "grad_norm": grad_norm})
    return run.close()


def train_pose(cfg: dict) -> dict:
    dataset, tokenizer, text, model, tower, run = _setup(cfg, "pose")
    loss_cfg, tau = cfg["loss"], float(cfg["loss"].get("gumbel_tau", 1.0))
    for _, batch in run.batches():
        ids, tok_len, rand, inputs, mask, text_emb, text_on = _masked_step(batch, tokenizer, text, model, run)
        true = joints_from_features(batch["motion"], dataset.normalizer)
        P, valid = sample_constraints(true, batch["length"], rand, max_joints=int(loss_cfg.get("max_joints", 5)),
                                      keyframe_prob=float(loss_cfg.get("keyframe_prob", 0.1)))
        with run.autocast():
            logits = model(inputs, text_emb, lengths=tok_len, text_on=text_on, pose=P, pose_valid=valid)
        ce = masked_cross_entropy(logits, ids[..., 0], mask, run.mean_count(mask))
        pred = gumbel_joints(logits, ids, mask, tokenizer, dataset.normalizer, rand, tau=tau)
        disc = pose_discrepancy(pred, P, valid)
        loss = ce + float(loss_cfg["lambda_D"]) * disc
        grad_norm = run.update(loss)
        run.end_step({"loss": loss.detach(), "ce": ce.detach(), "D": disc.detach(), "grad_norm": grad_norm})
    return run.close()
