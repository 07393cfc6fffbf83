"""Pieces the stage loops share: dataset, text encoder, frozen tokenizer, masked inputs."""
from __future__ import annotations

from dataclasses import replace

import torch

from dancemosaic_core.data.dataset import MotionWindowDataset
from dancemosaic_core.inference.schedule import num_masked
from dancemosaic_core.models.checkpoint import load_checkpoint, read_config
from dancemosaic_core.models.mask_transformer import TransformerConfig, bert_corrupt
from dancemosaic_core.models.tokenizer import MotionTokenizer
from dancemosaic_core.motion.skeleton import TOKEN_DOWNSAMPLE
from dancemosaic_core.text import TextEncoder, build_text_encoder
from dancemosaic_core.text.prompts import genre_prompt
from dancemosaic_core.train.config import DataConfig, TextEncoderConfig
from dancemosaic_core.train.trainer import StepRandom


def build_dataset(data: DataConfig, *, require_music: bool = False) -> MotionWindowDataset:
    return MotionWindowDataset(data.cache, data.split, data.window_frames, require_music=require_music,
                               random_crop=data.random_crop, text_mode=data.text_mode, genres=data.genres)


def dataset_prompts(ds: MotionWindowDataset) -> list[str]:
    prompts = set()
    for clip in ds.clips:
        prompts.update(clip["texts"])
        if clip["genre"]:
            prompts.add(genre_prompt(clip["genre"]))
    return sorted(prompts)


def text_encoder_for(config: TextEncoderConfig, ds: MotionWindowDataset) -> TextEncoder:
    """The configured text encoder; a prompt table without prompts holds the dataset's captions."""
    if config.kind == "table" and not config.prompts:
        config = replace(config, prompts=dataset_prompts(ds))
    return build_text_encoder(config.spec())


def transformer_config(sizes: TransformerConfig, tokenizer: MotionTokenizer, text_dim: int) -> TransformerConfig:
    """Transformer sizes from the model file; codebook size and layer count from the tokenizer."""
    return replace(sizes, num_codes=tokenizer.num_codes, num_quantizers=tokenizer.num_quantizers, text_dim=text_dim)


def frozen(model: torch.nn.Module) -> torch.nn.Module:
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval()


def load_tokenizer(path, device) -> MotionTokenizer:
    tok, _ = load_checkpoint(path, kind="tokenizer", device=device)
    return frozen(tok)


def load_t2m_text_encoder(t2m_path) -> TextEncoder:
    """The text encoder a T2M checkpoint was trained with (towers must use the same one)."""
    return build_text_encoder(read_config(t2m_path)["text_encoder"])


@torch.no_grad()
def encode_batch(tokenizer: MotionTokenizer, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids (B, n, Q) of the batch's motion and token lengths (B,)."""
    return tokenizer.encode(batch["motion"]), batch["length"] // TOKEN_DOWNSAMPLE


def masked_inputs(ids: torch.Tensor, tok_lengths: torch.Tensor, rand: StepRandom, *, num_codes: int,
                  mask_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Training inputs of a masked transformer (MoMask): mask round(L cos(pi r / 2)) random
    valid tokens per sequence (r ~ U(0,1), at least one), then BERT-style corruption. Returns
    (input ids (B, n), mask (B, n) bool: the positions the CE is taken over)."""
    B, n = ids.shape
    valid = torch.arange(n, device=ids.device)[None] < tok_lengths[:, None]
    count = num_masked(tok_lengths, rand.rand())
    scores = rand.rand(n).masked_fill(~valid, 2.0)
    mask = (scores.argsort(1).argsort(1) < count[:, None]) & valid
    r1, r2, rand_ids = rand.rand(n), rand.rand(n), rand.randint(0, num_codes, n)
    inputs = bert_corrupt(ids, mask, num_codes=num_codes, mask_id=mask_id, draws=(r1, r2, rand_ids))
    return inputs.masked_fill(~valid, mask_id + 1), mask


def text_batch(encoder: TextEncoder, batch: dict, rand: StepRandom, drop_prob: float, device):
    """(text embeddings (B, D), text_on (B,) bool after condition dropout)."""
    emb = encoder.encode(batch["text"]).to(device)
    return emb, rand.rand() >= drop_prob

