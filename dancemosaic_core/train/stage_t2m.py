"""Stage 2: the T2M masked transformer (eq. 2) and the residual transformer on text-motion data,
over tokens of the frozen stage-1 tokenizer. With `rhythm_channels` the base transformer also
reads each window's beat-grid channels (zeros for clips without music), dropped to zeros for a
cond_drop_prob fraction of rows so it also learns to dance without a beat grid."""
from __future__ import annotations

from dataclasses import replace

import torch

from dancemosaic_core.models.mask_transformer import T2MModel, masked_cross_entropy
from dancemosaic_core.motion.skeleton import MUSIC_FEATURE_DIM
from dancemosaic_core.train.common import (
    build_dataset,
    encode_batch,
    load_tokenizer,
    masked_inputs,
    text_batch,
    text_encoder_for,
    transformer_config,
)
from dancemosaic_core.train.config import StageConfig
from dancemosaic_core.train.losses import frame_mask
from dancemosaic_core.train.trainer import TrainRun, setup_distributed


def train_t2m(cfg: StageConfig) -> dict:
    torch.manual_seed(cfg.seed)                         # model initialisation follows the seed
    dataset = build_dataset(cfg.data)
    text = text_encoder_for(cfg.text_encoder, dataset)
    tokenizer = load_tokenizer(cfg.tokenizer, setup_distributed(cfg.device).device)
    model = T2MModel(config=transformer_config(cfg.model.transformer, tokenizer, text.dim))
    cfg = replace(cfg, model=replace(cfg.model, tokenizer=tokenizer.config, transformer=model.config))
    run = TrainRun(cfg, model=model, dataset=dataset, normalizer=dataset.normalizer,
                   extra={"text_encoder": text.spec(), "tokenizer": cfg.tokenizer})
    config = model.config
    res_weight = cfg.loss.residual
    model.train()
    for _, batch in run.batches():
        ids, tok_len = encode_batch(tokenizer, batch)
        rand = run.random(ids.shape[0])
        inputs, mask = masked_inputs(ids[..., 0], tok_len, rand, num_codes=config.num_codes, mask_id=model.base.mask_id)
        text_emb, text_on = text_batch(text, batch, rand, config.cond_drop_prob, run.distributed.device)
        q = rand.randint(1, config.num_quantizers) if config.num_quantizers > 1 else None
        rhythm = None
        if config.rhythm_channels:
            keep = rand.rand() >= config.cond_drop_prob
            rhythm = batch["music"][..., MUSIC_FEATURE_DIM:] * keep.to(batch["music"].dtype)[:, None, None]
        with run.autocast():
            base_logits, res_logits = run.ddp(inputs, ids, q if q is not None else 1, text_emb,
                                              lengths=tok_len, text_on=text_on, rhythm=rhythm)
        ce = masked_cross_entropy(base_logits, ids[..., 0], mask, run.mean_count(mask))
        loss = ce
        metrics = {"ce": ce.detach(), "acc": ((base_logits.argmax(-1) == ids[..., 0]) & mask).sum() / mask.sum()}
        if q is not None:
            target = ids.gather(-1, q.view(-1, 1, 1).expand(-1, ids.shape[1], 1)).squeeze(-1)
            valid = frame_mask(tok_len, ids.shape[1])
            res_ce = masked_cross_entropy(res_logits, target, valid, run.mean_count(valid))
            loss = loss + res_weight * res_ce
            metrics["res_ce"] = res_ce.detach()
        grad_norm = run.update(loss)
        run.end_step({"loss": loss.detach(), **metrics, "grad_norm": grad_norm})
    return run.close()
