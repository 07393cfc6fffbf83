"""Each training stage overfits a handful of clips; resume equals an uninterrupted run; CLI."""
import json
from dataclasses import replace

import pytest
import torch

from dancemosaic_core.cli import main as cli_main
from dancemosaic_core.cli.train import run_stage
from dancemosaic_core.models.checkpoint import load_checkpoint
from dancemosaic_core.train.trainer import TrainRun
from tests.core.test_train_fixtures import TINY_MODEL, make_cache, stage_config


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Tiny cache + tokenizer + T2M checkpoints shared by the tests of this file."""
    torch.manual_seed(0)
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("stages")
    cache = make_cache(root / "cache", clips=4, frames=49)
    tok = run_stage(stage_config("tokenizer", cache, root / "tok", optim={"max_steps": 60},
                                              eval_split="val"))
    t2m = run_stage(stage_config("t2m", cache, root / "t2m", tokenizer=tok["checkpoint"],
                                        optim={"max_steps": 60}))
    return {"root": root, "cache": cache, "tok": tok, "t2m": t2m}


def falls(history, key, frac=0.85, window=5):
    first = sum(h[key] for h in history[:window]) / window
    last = sum(h[key] for h in history[-window:]) / window
    return last < frac * first, (first, last)


def test_tokenizer_and_t2m_losses_fall_when_overfitting(trained):
    ok, vals = falls(trained["tok"]["history"], "rec")
    assert ok, vals
    ev = trained["tok"]["eval"]
    assert ev["windows"] == 1 and ev["mpjpe_mm"] > 0
    ok, vals = falls(trained["t2m"]["history"], "ce")
    assert ok, vals
    ok, vals = falls(trained["t2m"]["history"], "res_ce")
    assert ok, vals


@pytest.mark.parametrize("stage,steps,frac", [("music", 60, 0.9), ("pose", 150, 0.97)])
def test_tower_losses_fall_when_overfitting(trained, stage, steps, frac, tmp_path):
    cfg = stage_config(stage, trained["cache"], tmp_path / stage, tokenizer=trained["tok"]["checkpoint"],
                       t2m=trained["t2m"]["checkpoint"], optim={"max_steps": steps, "lr": 1e-2})
    out = run_stage(cfg)
    ok, vals = falls(out["history"], "ce", frac, window=steps // 6)
    assert ok, vals
    tower, config = load_checkpoint(out["checkpoint"], kind=stage)
    assert config["text_encoder"]["kind"] == "table" and config["t2m"] == trained["t2m"]["checkpoint"]
    # The frozen T2M was not touched by tower training.
    t2m_now, _ = load_checkpoint(trained["t2m"]["checkpoint"])
    assert any(p.abs().sum() > 0 for p in (lin.weight for lin in tower.zero_proj))
    assert t2m_now.base.head.weight.shape[0] == tower.base_config.num_codes


class Killed(Exception):
    pass


@pytest.mark.parametrize("stage", ["tokenizer", "t2m", "music"])
def test_resume_equals_uninterrupted(trained, stage, tmp_path, monkeypatch):
    extra = {} if stage == "tokenizer" else {"tokenizer": trained["tok"]["checkpoint"]}
    if stage == "music":
        extra["t2m"] = trained["t2m"]["checkpoint"]
    full = run_stage(stage_config(stage, trained["cache"], tmp_path / "full", optim={"max_steps": 8}, **extra))
    part = stage_config(stage, trained["cache"], tmp_path / "part", optim={"max_steps": 8}, save_every=3, **extra)
    original = TrainRun.end_step

    def end_step_then_die(self, metrics):
        original(self, metrics)
        if self.step == 5:                                  # killed after step 5; last checkpoint: step 3
            raise Killed

    monkeypatch.setattr(TrainRun, "end_step", end_step_then_die)
    torch.manual_seed(123)                                  # the killed process's RNG state is irrelevant
    with pytest.raises(Killed):
        run_stage(part)
    monkeypatch.setattr(TrainRun, "end_step", original)
    torch.manual_seed(456)
    second = run_stage(replace(part, resume=True))
    assert second["history"][0]["step"] == 4
    a = [h["loss"] for h in full["history"]][3:]
    b = [h["loss"] for h in second["history"]]
    assert a == b
    ma, _ = load_checkpoint(full["checkpoint"])
    mb, _ = load_checkpoint(second["checkpoint"])
    sa, sb = ma.state_dict(), mb.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_cli_trains_with_yaml_and_overrides(trained, tmp_path, capsys):
    code = cli_main(["train", "t2m", "--config", "config/train/t2m.yaml", f"--model={TINY_MODEL}",
                     f"--data.cache={trained['cache']}", "--data.window_frames=48", f"--out_dir={tmp_path / 'cli'}",
                     f"--tokenizer={trained['tok']['checkpoint']}", "--optim.max_steps=3", "--batch_size=2",
                     "--text_encoder.kind=table", "--progress=false", "--device=cpu", "--tensorboard=true"])
    assert code == 0
    assert '"stage": "t2m"' in capsys.readouterr().out
    rows = [json.loads(x) for x in (tmp_path / "cli" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert any((tmp_path / "cli" / "tb").iterdir())
    model, cfg = load_checkpoint(tmp_path / "cli" / "checkpoint", kind="t2m")
    assert cfg["train_config"]["batch_size"] == 2 and model.config.dim == 32
    assert cli_main(["train", "t2m", "--config", "config/train/t2m.yaml", "--data.cache=/nonexistent",
                     f"--model={TINY_MODEL}", f"--out_dir={tmp_path / 'x'}"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_training_summary_table(tmp_path):
    from dancemosaic_core.train.summary import stage_rows
    stage = tmp_path / "t2m"
    (stage / "checkpoint").mkdir(parents=True)
    (stage / "metrics.jsonl").write_text("".join(
        json.dumps({"step": s, "lr": 1e-4, "ce": 5.0 - s / 100, "grad_norm": 1.0}) + "\n" for s in range(1, 101)))
    (stage / "checkpoint" / "config.json").write_text(json.dumps(
        {"train_config": {"batch_size": 16, "data": {"window_frames": 96}, "optim": {"lr": 2e-4}}}))
    rows = stage_rows(tmp_path)
    assert rows[2] == "| t2m | 100 | 16 | 96 | 0.0002 | ce 4.745 -> 4.245 |"
