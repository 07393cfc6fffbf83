"""Music/pose towers (ControlNet-style) and the multi-tower model."""
import torch

from dancemosaic_core.models.mask_transformer import MaskTransformer, TransformerConfig
from dancemosaic_core.models.tokenizer import MotionTokenizer, TokenizerConfig
from dancemosaic_core.models.towers import MultiTowerModel, Tower, TowerConfig
from dancemosaic_core.motion.normalize import Normalizer
from dancemosaic_core.audio.features import MUSIC_CONDITION_DIM
from dancemosaic_core.motion.skeleton import FEATURE_DIM, NUM_JOINTS
from dancemosaic_core.train.losses import (
    gumbel_joints,
    kinematic_losses,
    pose_discrepancy,
)
from dancemosaic_core.train.trainer import Dist, StepRandom

CFG = TransformerConfig(num_codes=16, num_quantizers=2, text_dim=6, code_dim=8, dim=16, layers=2, heads=2,
                        ff_dim=32, dropout=0.1, residual_layers=1)


def build(n_tokens=5, batch=3):
    t2m = MaskTransformer(config=CFG)
    music = Tower.from_base(t2m, config=TowerConfig(kind="music", encoder_width=8))
    pose = Tower.from_base(t2m, config=TowerConfig(kind="pose", encoder_width=8))
    model = MultiTowerModel(t2m=t2m, music=music, pose=pose).eval()
    N = 4 * n_tokens
    inputs = dict(ids=torch.randint(0, 17, (batch, n_tokens)), text_emb=torch.randn(batch, 6),
                  music=torch.randn(batch, N, MUSIC_CONDITION_DIM), pose=torch.randn(batch, N, NUM_JOINTS, 3),
                  pose_valid=torch.rand(batch, N, NUM_JOINTS) < 0.3)
    return t2m, model, inputs


def test_fresh_towers_leave_t2m_logits_exactly_unchanged():
    t2m, model, x = build()
    base = t2m.eval()(x["ids"], x["text_emb"])
    full = model(x["ids"], x["text_emb"], music=x["music"], pose=x["pose"], pose_valid=x["pose_valid"])
    assert torch.equal(base, full)
    # The copies start identical to the backbone.
    tower = model.towers["music"]
    for name, p in t2m.blocks.state_dict().items():
        assert torch.equal(p, tower.blocks.state_dict()[name])


def test_batched_condition_rows_equal_separate_calls():
    _, model, x = build()
    for lin in list(model.towers["music"].zero_proj) + list(model.towers["pose"].zero_proj):
        torch.nn.init.normal_(lin.weight, std=0.5)
    music_on = torch.tensor([True, False, True])
    pose_on = torch.tensor([False, True, True])
    mixed = model(x["ids"], x["text_emb"], music=x["music"], music_on=music_on, pose=x["pose"],
                  pose_valid=x["pose_valid"], pose_on=pose_on)
    for i in range(3):
        kw = {}
        if music_on[i]:
            kw.update(music=x["music"][i:i + 1])
        if pose_on[i]:
            kw.update(pose=x["pose"][i:i + 1], pose_valid=x["pose_valid"][i:i + 1])
        single = model(x["ids"][i:i + 1], x["text_emb"][i:i + 1], **kw)
        assert torch.allclose(mixed[i], single[0], atol=1e-5)
    off = model(x["ids"], x["text_emb"])
    assert not torch.allclose(mixed[0], off[0]) and not torch.allclose(mixed[1], off[1])


def test_gumbel_path_grads_reach_tower_not_frozen_t2m_or_tokenizer():
    t2m, model, x = build(n_tokens=4, batch=2)
    model.towers.pop("pose")
    model.train()
    tok = MotionTokenizer(config=TokenizerConfig(width=16, depth=1, code_dim=8, num_codes=16, num_quantizers=2))
    tok.train()
    tok(torch.randn(2, 16, FEATURE_DIM))
    tok.eval()
    for p in tok.parameters():
        p.requires_grad_(False)
    motion = torch.randn(2, 16, FEATURE_DIM)
    ids = tok.encode(motion)
    norm = Normalizer(torch.zeros(FEATURE_DIM).numpy(), torch.ones(FEATURE_DIM).numpy())
    mask = torch.ones(2, 4, dtype=torch.bool)
    logits = model(ids[..., 0], x["text_emb"][:2], music=x["music"][:2, :16])
    rand = StepRandom(0, 0, 2, Dist())
    pred = gumbel_joints(logits, ids, mask, tok, norm, rand)
    from dancemosaic_core.train.losses import joints_from_features
    kin = kinematic_losses(pred, joints_from_features(motion, norm), motion, norm, torch.tensor([16, 16]))
    (kin["pos"] + kin["vel"]).backward()          # kinematic terms only: no CE path
    tower = model.towers["music"]
    assert all(lin.weight.grad is not None and lin.weight.grad.abs().sum() > 0 for lin in tower.zero_proj)
    assert all(p.grad is None for p in t2m.parameters())
    assert all(p.grad is None for p in tok.parameters())
    # After one step on phi, gradients flow into the tower's own layers and encoder as well.
    with torch.no_grad():
        for lin in tower.zero_proj:
            lin.weight.add_(0.01 * torch.randn_like(lin.weight))
    tower.zero_grad()
    logits = model(ids[..., 0], x["text_emb"][:2], music=x["music"][:2, :16])
    pred = gumbel_joints(logits, ids, mask, tok, norm, StepRandom(0, 1, 2, Dist()))
    valid = torch.rand(2, 16, NUM_JOINTS) < 0.2
    pose_discrepancy(pred, torch.randn(2, 16, NUM_JOINTS, 3), valid).backward()
    assert tower.encoder.net[0].weight.grad.abs().sum() > 0
    assert tower.blocks[0].qkv.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in t2m.parameters())


def test_frozen_backbone_stays_in_eval_mode_when_training_towers():
    t2m, model, _ = build()
    model.train()
    assert not t2m.training and model.towers["music"].training
    assert not any(p.requires_grad for p in t2m.parameters())
