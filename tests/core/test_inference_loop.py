"""Invariants of the masked decoding loop, guidance mix and ITTO on toy models."""
import math

import pytest
import torch

from dancemosaic_core.inference.decode import (
    masked_decode,
    remask_count,
    residual_decode,
)
from dancemosaic_core.inference.guidance import GuidanceWeights, branch_plan, mix_logits
from dancemosaic_core.inference.itto import (
    code_logits,
    constraint_error,
    optimize_tokens,
)

K, MASK = 16, 16


def toy_logits(seed: int = 0):
    """A fixed random 'model' whose logits depend on the current ids (so context matters)."""
    g = torch.Generator().manual_seed(seed)
    table = torch.randn(K + 1, K, generator=g)
    calls = []

    def fn(ids):
        calls.append(ids.clone())
        prev = torch.roll(ids, 1, dims=1)
        return table[prev] * 3.0

    return fn, calls


def test_remask_schedule_is_cosine_and_starts_full():
    n = torch.tensor([40])
    assert remask_count(n, 0, 10).item() == 40
    assert [remask_count(n, t, 10).item() for t in range(10)] == [
        max(1, math.ceil(40 * math.cos(math.pi * t / 20))) for t in range(10)]


def test_no_mask_left_and_fixed_tokens_never_change():
    fn, calls = toy_logits()
    fixed_ids = torch.randint(0, K, (3, 20))
    fixed_mask = torch.rand(3, 20) < 0.4
    out = masked_decode(fn, batch=3, length=20, mask_id=MASK, steps=6, fixed_ids=fixed_ids,
                        fixed_mask=fixed_mask, generator=torch.Generator().manual_seed(1))
    assert (out != MASK).all() and (out < K).all()
    assert torch.equal(out[fixed_mask], fixed_ids[fixed_mask])
    for ids in calls:                      # fixed tokens are visible, never masked, every step
        assert torch.equal(ids[fixed_mask], fixed_ids[fixed_mask])
    assert len(calls) == 6


def test_lengths_pad_with_mask_and_seed_determinism():
    fn, _ = toy_logits()
    lengths = torch.tensor([5, 12])
    a = masked_decode(fn, batch=2, length=12, mask_id=MASK, lengths=lengths,
                      generator=torch.Generator().manual_seed(7))
    b = masked_decode(fn, batch=2, length=12, mask_id=MASK, lengths=lengths,
                      generator=torch.Generator().manual_seed(7))
    c = masked_decode(fn, batch=2, length=12, mask_id=MASK, lengths=lengths,
                      generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert (a[0, 5:] == MASK).all() and (a[0, :5] < K).all() and (a[1] < K).all()


def test_greedy_decoding_of_a_confident_model_recovers_its_sequence():
    target = torch.randint(0, K, (1, 10))

    def fn(ids):
        return torch.nn.functional.one_hot(target, K).float() * 10

    out = masked_decode(fn, batch=1, length=10, mask_id=MASK, temperature=0.0)
    assert torch.equal(out, target)


def test_residual_decode_keeps_base_and_fixed_columns():
    base = torch.randint(0, K, (2, 8))
    fixed = torch.randint(0, K, (2, 8, 4))
    fmask = torch.zeros(2, 8, dtype=torch.bool)
    fmask[:, :3] = True
    seen = []

    def res(ids, q):
        seen.append(ids.shape[-1])
        return torch.randn(ids.shape[0], ids.shape[1], K)

    out = residual_decode(res, base, num_quantizers=4, fixed_ids=fixed, fixed_mask=fmask)
    assert out.shape == (2, 8, 4) and seen == [1, 2, 3]
    assert torch.equal(out[..., 0], base)
    assert torch.equal(out[:, :3, 1:], fixed[:, :3, 1:])


def test_guidance_all_zero_weights_is_unconditional_and_linear():
    w0 = GuidanceWeights(text=0.0, music=0.0, pose=0.0)
    assert branch_plan(w0, {"text", "music", "pose"}) == ("uncond",)
    logits = torch.randn(4 * 2, 5, K)
    plan = ("uncond", "text", "music", "pose")
    u, t, m, p = logits.chunk(4)
    w = GuidanceWeights(text=2.0, music=1.0, pose=0.5)
    assert torch.allclose(mix_logits(logits, plan, w), u + 2 * (t - u) + (m - u) + 0.5 * (p - u))
    assert torch.equal(mix_logits(logits, plan, GuidanceWeights(0.0, 0.0, 0.0)), u)
    assert branch_plan(w, {"text"}) == ("uncond", "text")


def test_itto_lowers_constraint_error_and_leaves_decoder_frozen():
    dec = torch.nn.Linear(4, 22 * 3)
    before = [p.detach().clone() for p in dec.parameters()]

    def decode(z):                                 # (B, n, 4) -> (B, n, 22, 3)
        return dec(z).view(z.shape[0], z.shape[1], 22, 3)

    z0 = torch.randn(2, 6, 4)
    target = torch.randn(2, 6, 22, 3) * 0.1
    valid = torch.zeros(2, 6, 22, dtype=torch.bool)
    valid[:, ::2, 20] = True
    res = optimize_tokens(z0, decode, target=target, valid=valid, steps=60, lr=0.1)
    assert (res.error_after < 0.5 * res.error_before).all()
    assert all(torch.equal(a, b) for a, b in zip(before, dec.parameters()))
    assert all(p.grad is None for p in dec.parameters())
    assert torch.allclose(constraint_error(decode(res.embeddings), target, valid), res.error_after,
                          atol=1e-6)


def test_itto_limit_term_only_and_code_logits_pick_nearest():
    def decode(z):
        return z.view(z.shape[0], 1, 22, 3)

    limit = lambda j: torch.relu(j[..., 1] - 0.5).sum(-1)  # noqa: E731  joints above 0.5 m violate
    z0 = torch.full((1, 1, 66), 1.0)
    res = optimize_tokens(z0, decode, limit_fn=limit, steps=80, lr=0.05)
    assert res.limit_after.item() < 0.1 * res.limit_before.item()
    with pytest.raises(ValueError):
        optimize_tokens(z0, decode)
    book = torch.randn(10, 3)
    z = book[[3, 7]].unsqueeze(0) + 0.01
    assert code_logits(z, book).argmax(-1).tolist() == [[3, 7]]


@pytest.mark.parametrize("weights", [dict(text=1e300), dict(music=-3.0), dict(pose=float("nan")),
                                     dict(text=float("inf"))])
def test_guidance_weights_out_of_range_are_refused(weights):
    from dancemosaic_core.common.errors import DanceMosaicError
    with pytest.raises(DanceMosaicError, match=r"guidance weight .*: give a finite number in \[0, 50\]"):
        GuidanceWeights(**weights)


@pytest.mark.parametrize("field, value", [("positions", [[1e300, 0.0, 0.0]]), ("weights", [1e300]),
                                          ("times", [1e9]), ("weights", [-1.0])])
def test_pose_constraint_magnitudes_are_bounded(field, value):
    from dancemosaic_core.common.errors import DanceMosaicError
    from dancemosaic_core.inference.constraints import PoseConstraints
    fields = dict(times=[1.0], joints=["head"], positions=[[0.0, 1.6, 0.0]], weights=[1.0])
    fields[field] = value
    with pytest.raises(DanceMosaicError, match="pose constraints have"):
        PoseConstraints(**fields)


def test_itto_adam_takes_torch_adams_steps_exactly():
    # ITTO's own Adam (no torch.optim: its first use imports torch._dynamo, ~1.7 s) must move
    # the embeddings as torch.optim.Adam does, and continue from torch's moments
    from dancemosaic_core.inference.itto import Adam
    g = torch.Generator().manual_seed(0)
    ours = torch.randn(2, 5, 8, generator=g)
    ref = ours.clone().requires_grad_(True)
    ours.requires_grad_(True)
    torch_adam, adam = torch.optim.Adam([ref], lr=0.3), Adam(ours, lr=0.3)
    for step in range(25):
        grad = torch.randn(2, 5, 8, generator=g) * (10.0 ** (step % 5 - 2))
        ref.grad = grad.clone()
        torch_adam.step()
        adam.step(grad)
        assert torch.equal(ours, ref), step
    moments = adam.moments()
    assert set(moments) == set(torch_adam.state[ref]) and moments["step"].item() == 25
    again = Adam(ours, lr=0.3, state={k: v.clone() for k, v in torch_adam.state[ref].items()})
    grad = torch.randn(2, 5, 8, generator=g)
    ref.grad = grad.clone()
    torch_adam.step()
    again.step(grad)
    assert torch.equal(ours, ref)
