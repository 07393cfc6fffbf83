"""Rhythm in the model: the music tower's stored feature statistics, beat-phase channels, music
dropout, the rhythm loss on decoded joints, the music stage with all of them, and the T2M's own
rhythm input."""
import json

import numpy as np
import pytest
import torch

from dancemosaic_core.audio.features import COL_BEAT, MUSIC_CONDITION_DIM, music_condition
from dancemosaic_core.cli.train import run_stage
from dancemosaic_core.data.dataset import MotionWindowDataset
from dancemosaic_core.models.checkpoint import MUSIC_STATS_FILES, load_checkpoint, save_checkpoint
from dancemosaic_core.models.mask_transformer import MaskTransformer, TransformerConfig
from dancemosaic_core.models.towers import MultiTowerModel, Tower, TowerConfig
from dancemosaic_core.motion.rhythm import RHYTHM_CHANNELS, beat_phase, phase_from_channels, rhythm_channels
from dancemosaic_core.motion.skeleton import MOTION_FPS, MUSIC_FEATURE_DIM
from dancemosaic_core.train.losses import rhythm_losses
from tests.core.test_train_fixtures import make_cache, stage_config, synthetic_joints

CFG = TransformerConfig(num_codes=16, num_quantizers=2, text_dim=6, code_dim=8, dim=16, layers=2, heads=2,
                        ff_dim=32, dropout=0.0, residual_layers=1)


def music_tower(t2m, **config) -> Tower:
    tower = Tower.from_base(t2m, config=TowerConfig(kind="music", encoder_width=8, **config))
    for lin in tower.zero_proj:                  # a tower that changes the logits, as a trained one
        torch.nn.init.normal_(lin.weight, std=0.5)
    return tower


def inputs(batch=3, n_tokens=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return dict(ids=torch.randint(0, 17, (batch, n_tokens), generator=g), text_emb=torch.randn(batch, 6, generator=g),
                music=torch.randn(batch, 4 * n_tokens, MUSIC_CONDITION_DIM, generator=g) * 5 + 3)


def test_music_condition_appends_the_beat_grid_channels():
    feats = np.zeros((100, MUSIC_FEATURE_DIM), np.float32)
    feats[::10, COL_BEAT] = 1.0                                       # 120 BPM at 20 fps
    cond = music_condition(feats)
    assert cond.shape == (100, MUSIC_CONDITION_DIM) and cond.dtype == np.float32
    np.testing.assert_array_equal(cond[:, :MUSIC_FEATURE_DIM], feats)
    np.testing.assert_allclose(cond[:, MUSIC_FEATURE_DIM:], rhythm_channels(np.arange(10) * 0.5, 100, MOTION_FPS))
    phase, has_grid = phase_from_channels(torch.as_tensor(cond[None, :, MUSIC_FEATURE_DIM:]))
    np.testing.assert_allclose(phase[0].numpy(), beat_phase(np.arange(10) * 0.5, 100, MOTION_FPS), atol=1e-5)
    assert has_grid.tolist() == [True]
    # no beats: the 'no rhythm' input, and no grid
    assert not music_condition(np.zeros((40, MUSIC_FEATURE_DIM)))[:, MUSIC_FEATURE_DIM:].any()


def test_feature_statistics_normalise_the_input_and_survive_save_and_load(tmp_path):
    t2m = MaskTransformer(config=CFG).eval()
    tower = music_tower(t2m)
    x = inputs()
    raw = MultiTowerModel(t2m=t2m, music=tower).eval()(x["ids"], x["text_emb"], music=x["music"])
    mean, std = np.linspace(-2, 4, MUSIC_FEATURE_DIM), np.linspace(0.5, 6, MUSIC_FEATURE_DIM)
    tower.set_music_stats(mean, std)
    expected = x["music"].clone()
    expected[..., :MUSIC_FEATURE_DIM] = (expected[..., :MUSIC_FEATURE_DIM] - torch.as_tensor(mean).float()) / \
        torch.as_tensor(std).float()
    torch.testing.assert_close(tower.condition_input(x["music"]), expected)
    normed = MultiTowerModel(t2m=t2m, music=tower).eval()(x["ids"], x["text_emb"], music=x["music"])
    assert not torch.allclose(raw, normed)
    save_checkpoint(tmp_path / "music", tower)
    assert all((tmp_path / "music" / name).is_file() for name in MUSIC_STATS_FILES)
    loaded, _ = load_checkpoint(tmp_path / "music", kind="music")
    np.testing.assert_allclose(loaded.music_mean.numpy(), mean, rtol=1e-6)
    np.testing.assert_allclose(loaded.music_std.numpy(), std, rtol=1e-6)
    again = MultiTowerModel(t2m=t2m, music=loaded).eval()(x["ids"], x["text_emb"], music=x["music"])
    torch.testing.assert_close(again, normed)
    with pytest.raises(Exception, match="std > 0"):
        tower.set_music_stats(mean, np.zeros(MUSIC_FEATURE_DIM))


def test_old_tower_checkpoint_loads_with_35_raw_inputs(tmp_path):
    """A checkpoint written before statistics and rhythm channels: no rhythm_channels field, no
    music_*.npy. It loads with a 35-channel encoder and identity normalisation, reads only the
    features of the new 41-channel condition, and gives the logits it gave before."""
    t2m = MaskTransformer(config=CFG).eval()
    old = music_tower(t2m, rhythm_channels=0)
    assert old.config.in_channels == MUSIC_FEATURE_DIM
    save_checkpoint(tmp_path / "music", old)
    config = json.loads((tmp_path / "music" / "config.json").read_text())
    del config["model"]["rhythm_channels"]
    (tmp_path / "music" / "config.json").write_text(json.dumps(config))
    for name in MUSIC_STATS_FILES:
        (tmp_path / "music" / name).unlink()
    loaded, _ = load_checkpoint(tmp_path / "music", kind="music")
    assert loaded.config.rhythm_channels == 0 and loaded.encoder.net[0].in_channels == MUSIC_FEATURE_DIM
    assert torch.equal(loaded.music_mean, torch.zeros(MUSIC_FEATURE_DIM))
    assert torch.equal(loaded.music_std, torch.ones(MUSIC_FEATURE_DIM))
    x = inputs()
    before = old.encoder(x["music"][..., :MUSIC_FEATURE_DIM])          # what the old code computed
    torch.testing.assert_close(loaded.encoder(loaded.condition_input(x["music"])), before)
    model = MultiTowerModel(t2m=t2m, music=loaded).eval()
    torch.testing.assert_close(model(x["ids"], x["text_emb"], music=x["music"]),
                               model(x["ids"], x["text_emb"], music=x["music"][..., :MUSIC_FEATURE_DIM]))
    new = music_tower(t2m)
    with pytest.raises(Exception, match="music_condition"):
        MultiTowerModel(t2m=t2m, music=new)(x["ids"], x["text_emb"], music=x["music"][..., :MUSIC_FEATURE_DIM])


def test_music_dropout_rows_get_no_tower_residual():
    t2m = MaskTransformer(config=CFG).eval()
    model = MultiTowerModel(t2m=t2m, music=music_tower(t2m)).eval()
    x = inputs(batch=4)
    music_on = torch.tensor([True, False, True, False])
    logits = model(x["ids"], x["text_emb"], music=x["music"], music_on=music_on)
    base = t2m(x["ids"], x["text_emb"])
    assert torch.equal(logits[~music_on], base[~music_on])
    assert not torch.allclose(logits[music_on], base[music_on])


def test_rhythm_loss_falls_under_optimisation():
    """Joints of a dance whose pulse is off the beat, moved by Adam on the rhythm objective alone:
    the speed dips move onto the beats while the energy stays at the true motion's."""
    frames = 48
    true = torch.as_tensor(synthetic_joints(frames, 3))[None].repeat(2, 1, 1, 1)
    beats = np.arange(0.0, frames / MOTION_FPS, 0.4) + 0.13
    channels = rhythm_channels(beats, frames, MOTION_FPS)
    condition = torch.zeros(2, frames, MUSIC_CONDITION_DIM)
    condition[..., MUSIC_FEATURE_DIM:] = torch.as_tensor(channels)
    lengths = torch.tensor([frames, frames])
    delta = torch.zeros_like(true, requires_grad=True)
    opt = torch.optim.Adam([delta], lr=3e-3)
    history = []
    for _ in range(40):
        terms = rhythm_losses(true + delta, true, condition, lengths)
        loss = terms["rhythm"] + terms["energy"]
        history.append(float(loss.detach()))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert history[-1] < 0.5 * history[0], history
    # a row without a beat grid or a padded row contributes nothing
    condition[1, :, MUSIC_FEATURE_DIM:] = 0
    one = rhythm_losses(true, true, condition, lengths)
    only_first = rhythm_losses(true[:1], true[:1], condition[:1], lengths[:1])
    torch.testing.assert_close(one["rhythm"], only_first["rhythm"])
    none = rhythm_losses(true, true, condition, torch.tensor([frames - 4, frames]))
    assert float(none["rhythm"]) == 0.0 and channels.shape[1] == RHYTHM_CHANNELS


def test_music_stage_runs_with_statistics_dropout_and_rhythm_loss(tmp_path, monkeypatch):
    seen = []
    forward = MultiTowerModel.forward

    def recording(self, *args, **kwargs):
        seen.append(kwargs.get("music_on"))
        return forward(self, *args, **kwargs)
    torch.manual_seed(0)
    torch.set_num_threads(1)
    cache = make_cache(tmp_path / "cache", clips=3, frames=49)
    tok = run_stage(stage_config("tokenizer", cache, tmp_path / "tok", optim={"max_steps": 4}))
    t2m = run_stage(stage_config("t2m", cache, tmp_path / "t2m", tokenizer=tok["checkpoint"], optim={"max_steps": 4}))
    base, _ = load_checkpoint(t2m["checkpoint"], kind="t2m")
    assert base.base.rhythm_enc.out.weight.abs().sum() > 0          # the T2M's rhythm input trained
    cfg = stage_config("music", cache, tmp_path / "music", tokenizer=tok["checkpoint"], t2m=t2m["checkpoint"],
                       optim={"max_steps": 6}, loss={"lambda_rhythm": 1.0, "music_drop_prob": 0.3}, batch_size=8)
    monkeypatch.setattr(MultiTowerModel, "forward", recording)
    out = run_stage(cfg)
    dropped = torch.cat([~on for on in seen])
    assert len(seen) == 6 and 0 < int(dropped.sum()) < len(dropped)      # some rows, not all, lost the music
    for h in out["history"]:
        assert np.isfinite([h["loss"], h["ce"], h["rhythm"], h["energy"]]).all()
        assert 0.0 <= h["rhythm"] <= 2.0
    assert any(h["rhythm"] > 0 for h in out["history"])
    tower, config = load_checkpoint(out["checkpoint"], kind="music")
    assert tower.config.rhythm_channels == RHYTHM_CHANNELS
    assert config["train_config"]["loss"]["music_drop_prob"] == 0.3
    mean, std = MotionWindowDataset(cache, "train", 48).music_statistics()
    np.testing.assert_allclose(tower.music_mean.numpy(), mean, rtol=1e-6)
    np.testing.assert_allclose(tower.music_std.numpy(), std, rtol=1e-6)


def test_t2m_rhythm_encoder_starts_silent_and_old_t2m_ignores_rhythm(tmp_path):
    from dancemosaic_core.models.mask_transformer import T2MModel
    t2m = T2MModel(config=CFG).eval()
    assert t2m.config.rhythm_channels == RHYTHM_CHANNELS
    x = inputs()
    rhythm = x["music"][..., MUSIC_FEATURE_DIM:]
    plain = t2m.base(x["ids"], x["text_emb"])
    torch.testing.assert_close(t2m.base(x["ids"], x["text_emb"], rhythm=rhythm), plain, rtol=0, atol=0)
    torch.nn.init.normal_(t2m.base.rhythm_enc.out.weight, std=0.5)
    assert not torch.allclose(t2m.base(x["ids"], x["text_emb"], rhythm=rhythm), plain)
    # a T2M checkpoint from before the rhythm input: no field, no encoder, rhythm ignored
    from dataclasses import replace
    old = T2MModel(config=replace(CFG, rhythm_channels=0)).eval()
    save_checkpoint(tmp_path / "t2m", old)
    config = json.loads((tmp_path / "t2m" / "config.json").read_text())
    del config["model"]["rhythm_channels"]
    (tmp_path / "t2m" / "config.json").write_text(json.dumps(config))
    loaded, _ = load_checkpoint(tmp_path / "t2m", kind="t2m")
    assert loaded.base.rhythm_enc is None
    torch.testing.assert_close(loaded.base(x["ids"], x["text_emb"], rhythm=rhythm), old.base(x["ids"], x["text_emb"]))
