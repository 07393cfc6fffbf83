"""T2M masked transformer, residual transformer, masking schedule and masked CE (eq. 2)."""
import math

import torch

from dancemosaic_core.inference import decode as inference_decode
from dancemosaic_core.inference.schedule import (
    cosine_schedule,
    num_masked,
    remask_count,
)
from dancemosaic_core.models.mask_transformer import (
    MaskTransformer,
    ResidualTransformer,
    TransformerConfig,
    bert_corrupt,
    key_mask,
    masked_cross_entropy,
)

CFG = TransformerConfig(num_codes=16, num_quantizers=3, text_dim=6, code_dim=8, dim=16, layers=2, heads=2,
                        ff_dim=32, dropout=0.0, residual_layers=1)


def test_only_masked_positions_contribute_to_the_cross_entropy():
    logits = torch.randn(2, 7, 16, requires_grad=True)
    targets = torch.randint(0, 16, (2, 7))
    mask = torch.rand(2, 7) < 0.5
    mask[0, 0] = True
    loss = masked_cross_entropy(logits, targets, mask)
    loss.backward()
    assert torch.all(logits.grad[~mask] == 0) and torch.all(logits.grad[mask].abs().sum(-1) > 0)
    changed = logits.detach().clone()
    changed[~mask] = torch.randn_like(changed[~mask]) * 10
    assert torch.allclose(masked_cross_entropy(changed, targets, mask), loss)
    manual = torch.nn.functional.cross_entropy(logits.detach()[mask], targets[mask])
    assert torch.allclose(loss, manual)


def test_padding_beyond_length_does_not_change_valid_logits():
    model = MaskTransformer(config=CFG).eval()
    ids = torch.randint(0, 16, (1, 6))
    text = torch.randn(1, 6)
    other = ids.clone()
    other[:, 4:] = torch.randint(0, 16, (1, 2))
    lengths = torch.tensor([4])
    a = model(ids, text, lengths=lengths)
    b = model(other, text, lengths=lengths)
    assert torch.allclose(a[:, :4], b[:, :4], atol=1e-6)
    assert a.shape == (1, 6, 16)



def test_no_lengths_attends_everywhere_without_a_mask():
    assert key_mask(None, 2, 5, "cpu") is None          # attention's unmasked path, no all-True tensor
    model = MaskTransformer(config=CFG).eval()
    ids, text = torch.randint(0, 16, (2, 6)), torch.randn(2, 6)
    full = model(ids, text, lengths=torch.tensor([6, 6]))
    assert torch.allclose(model(ids, text), full, atol=1e-6)
    assert key_mask(torch.tensor([2, 5]), 2, 5, "cpu")[:, 0, 0].tolist() == [[True] * 3 + [False] * 3, [True] * 6]

def test_condition_dropout_is_the_null_text_embedding():
    model = MaskTransformer(config=CFG).eval()
    ids = torch.randint(0, 17, (2, 5))
    text = torch.randn(2, 6)
    off = model(ids, text, text_on=torch.tensor([False, True]))
    assert torch.allclose(off[0], model(ids[:1], torch.zeros(1, 6))[0], atol=1e-6)
    assert torch.allclose(off[1], model(ids[1:], text[1:])[0], atol=1e-6)
    assert not torch.allclose(off[0], model(ids[:1], text[:1])[0])


def test_layer_residual_hooks_add_to_each_block_output():
    model = MaskTransformer(config=CFG).eval()
    ids, text = torch.randint(0, 16, (1, 5)), torch.randn(1, 6)
    zeros = [torch.zeros(1, 6, CFG.dim) for _ in range(CFG.layers)]
    assert torch.equal(model(ids, text, residuals=zeros), model(ids, text))
    bumped = [z.clone() for z in zeros]
    bumped[-1][:, 2] += 1.0
    diff = (model(ids, text, residuals=bumped) - model(ids, text)).abs().sum(-1)[0]
    assert diff[1] > 0 and torch.all(diff[[0, 2, 3, 4]] == 0)   # last block: no mixing after it


def test_residual_transformer_ignores_layers_at_or_above_q():
    model = ResidualTransformer(config=CFG).eval()
    ids = torch.randint(0, 16, (2, 5, 3))
    text = torch.randn(2, 6)
    other = ids.clone()
    other[..., 1:] = torch.randint(0, 16, (2, 5, 2))
    assert torch.allclose(model(ids, 1, text), model(other, 1, text))
    assert not torch.allclose(model(ids, 2, text), model(other, 2, text))
    per_sample = model(ids, torch.tensor([1, 2]), text)
    assert torch.allclose(per_sample[1], model(ids[1:], 2, text[1:])[0], atol=1e-6)
    # Tied code embeddings: layer q's output scores use the same table that embeds layer q.
    assert model.code_emb.shape == (3, 16, CFG.code_dim)


def test_bert_corruption_proportions_follow_momask():
    ids = torch.randint(0, 100, (200, 100))
    mask = torch.ones_like(ids, dtype=torch.bool)
    mask[:, 50:] = False
    out = bert_corrupt(ids, mask, num_codes=100, mask_id=100)
    assert torch.equal(out[~mask], ids[~mask])
    masked = out[mask]
    frac_mask = (masked == 100).float().mean()
    assert abs(frac_mask - 0.9 * 0.88) < 0.02
    assert ((masked != 100) & (masked != ids[mask])).float().mean() < 0.11


def test_cosine_schedule_shared_with_inference():
    assert cosine_schedule(0.0) == 1.0 and abs(cosine_schedule(1.0)) < 1e-12
    lengths = torch.tensor([1, 10, 49])
    for r in (0.0, 0.3, 0.99):
        n = num_masked(lengths, torch.full((3,), r))
        assert torch.all(n >= 1) and torch.all(n <= lengths)
        assert n[2] == max(1, round(49 * math.cos(math.pi * r / 2)))
    free = torch.tensor([0, 5, 49])
    for t in range(10):
        assert torch.equal(remask_count(free, t, 10), inference_decode.remask_count(free, t, 10))
