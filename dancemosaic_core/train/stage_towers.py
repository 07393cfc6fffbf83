"""Stages 3 and 4: the music tower, then the pose tower, each with the T2M frozen (paper section
3.3). Synchronized masking: backbone and tower see the identical corrupted token sequence (one
`masked_inputs` draw feeds the single MultiTowerModel forward, whose frozen T2M and tower both
read it). Losses: music = CE (eq. 3) + lambda_pos/vel/acc/foot kinematic losses through
straight-through Gumbel-softmax decoding, + lambda_rhythm times the rhythm objective on the same
decoded joints (beyond the paper), with the music tower switched off for a `music_drop_prob`
fraction of rows (music dropout, for classifier-free guidance); the music tower's input
features are normalised with the training split's statistics, saved with its checkpoint. The
frozen T2M gets the window's beat-grid channels as at inference (when it has a rhythm input); pose = CE (eq. 4) + lambda_D D(P, P_hat) (eq. 5) on
random sparse constraints drawn each batch."""
from __future__ import annotations

from dataclasses import replace

import torch

from dancemosaic_core.models.checkpoint import load_checkpoint
from dancemosaic_core.models.mask_transformer import masked_cross_entropy
from dancemosaic_core.models.towers import MultiTowerModel, Tower
from dancemosaic_core.motion.skeleton import MUSIC_FEATURE_DIM
from dancemosaic_core.train.common import (
    build_dataset,
    encode_batch,
    frozen,
    load_t2m_text_encoder,
    load_tokenizer,
    masked_inputs,
    text_batch,
)
from dancemosaic_core.train.config import StageConfig
from dancemosaic_core.train.losses import (
    gumbel_joints,
    joints_from_features,
    kinematic_losses,
    pose_discrepancy,
    rhythm_losses,
    sample_constraints,
)
from dancemosaic_core.train.trainer import TrainRun, setup_distributed


def _setup(cfg: StageConfig):
    kind = cfg.stage
    torch.manual_seed(cfg.seed)                         # model initialisation follows the seed
    device = setup_distributed(cfg.device).device
    dataset = build_dataset(cfg.data, require_music=(kind == "music"))
    tokenizer = load_tokenizer(cfg.tokenizer, device)
    t2m_model, _ = load_checkpoint(cfg.t2m, kind="t2m", device=device)
    t2m = frozen(t2m_model.base)
    text = load_t2m_text_encoder(cfg.t2m)
    tower = Tower.from_base(t2m, config=replace(cfg.model.tower, kind=kind))
    if kind == "music":
        tower.set_music_stats(*dataset.music_statistics())
    model = MultiTowerModel(t2m=t2m, **{kind: tower})
    cfg = replace(cfg, model=replace(cfg.model, tokenizer=tokenizer.config, transformer=t2m_model.config,
                                     tower=tower.config))
    run = TrainRun(cfg, model=tower, dataset=dataset, normalizer=dataset.normalizer,
                   extra={"text_encoder": text.spec(), "tokenizer": cfg.tokenizer, "t2m": cfg.t2m,
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


def train_music(cfg: StageConfig) -> dict:
    dataset, tokenizer, text, model, tower, run = _setup(cfg)
    loss_cfg = cfg.loss
    for _, batch in run.batches():
        ids, tok_len, rand, inputs, mask, text_emb, text_on = _masked_step(batch, tokenizer, text, model, run)
        music_on = rand.rand() >= loss_cfg.music_drop_prob if loss_cfg.music_drop_prob > 0 else None
        with run.autocast():
            logits = model(inputs, text_emb, lengths=tok_len, text_on=text_on, music=batch["music"],
                           music_on=music_on, rhythm=batch["music"][..., MUSIC_FEATURE_DIM:])
        ce = masked_cross_entropy(logits, ids[..., 0], mask, run.mean_count(mask))
        pred = gumbel_joints(logits, ids, mask, tokenizer, dataset.normalizer, rand, tau=loss_cfg.gumbel_tau)
        true = joints_from_features(batch["motion"], dataset.normalizer)
        terms = kinematic_losses(pred, true, batch["motion"], dataset.normalizer, batch["length"])
        loss = ce + sum(getattr(loss_cfg, f"lambda_{k}") * v for k, v in terms.items())
        if loss_cfg.lambda_rhythm > 0:
            rhythm = rhythm_losses(pred, true, batch["music"], batch["length"], rows=music_on)
            loss = loss + loss_cfg.lambda_rhythm * (rhythm["rhythm"] + loss_cfg.rhythm_energy_weight * rhythm["energy"])
            terms.update(rhythm)
        grad_norm = run.update(loss)
        run.end_step({"loss": loss.detach(), "ce": ce.detach(), **{k: v.detach() for k, v in terms.items()},
                      "grad_norm": grad_norm})
    return run.close()


def train_pose(cfg: StageConfig) -> dict:
    dataset, tokenizer, text, model, tower, run = _setup(cfg)
    loss_cfg = cfg.loss
    for _, batch in run.batches():
        ids, tok_len, rand, inputs, mask, text_emb, text_on = _masked_step(batch, tokenizer, text, model, run)
        true = joints_from_features(batch["motion"], dataset.normalizer)
        P, valid = sample_constraints(true, batch["length"], rand, max_joints=loss_cfg.max_joints,
                                      keyframe_prob=loss_cfg.keyframe_prob)
        with run.autocast():
            logits = model(inputs, text_emb, lengths=tok_len, text_on=text_on, pose=P, pose_valid=valid,
                           rhythm=batch["music"][..., MUSIC_FEATURE_DIM:])
        ce = masked_cross_entropy(logits, ids[..., 0], mask, run.mean_count(mask))
        pred = gumbel_joints(logits, ids, mask, tokenizer, dataset.normalizer, rand, tau=loss_cfg.gumbel_tau)
        disc = pose_discrepancy(pred, P, valid)
        loss = ce + loss_cfg.lambda_D * disc
        grad_norm = run.update(loss)
        run.end_step({"loss": loss.detach(), "ce": ce.detach(), "D": disc.detach(), "grad_norm": grad_norm})
    return run.close()
