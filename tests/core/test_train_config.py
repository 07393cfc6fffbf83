"""Typed training configuration: YAML + overrides read once into dataclasses, errors that name the
key, the config saved in each checkpoint and rebuilt from it; `train assemble`."""
import json
import shutil
from dataclasses import replace

import numpy as np
import pytest
import torch

from dancemosaic_core.cli import main as cli_main
from dancemosaic_core.cli.train import run_stage
from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.data.stats import dance_speed_stats
from dancemosaic_core.inference.loader import DanceModel
from dancemosaic_core.motion.normalize import Normalizer
from dancemosaic_core.motion.skeleton import FEATURE_DIM
from dancemosaic_core.text import PromptTableEncoder
from dancemosaic_core.train.assemble import (
    build_model_dir,
    save_untrained_stages,
    stage_checkpoint,
)
from dancemosaic_core.train.config import (
    STAGES,
    DataConfig,
    MusicLoss,
    OptimConfig,
    StageConfig,
    load_config,
    load_model_sizes,
)
from tests.core.test_train_fixtures import REPO, TINY_MODEL, make_cache, stage_config

TRAIN = REPO / "config" / "train"


def test_yaml_reads_into_typed_dataclasses():
    cfg = load_config(TRAIN / "music.yaml", "music", {"optim.lr": "1e-4"})   # YAML 1.1 reads 1e-4 as text
    assert isinstance(cfg.data, DataConfig) and isinstance(cfg.optim, OptimConfig)
    assert isinstance(cfg.loss, MusicLoss) and cfg.loss.lambda_foot == 10.942
    assert cfg.optim.lr == 1e-4 and isinstance(cfg.optim.lr, float)
    assert cfg.optim.betas == (0.9, 0.99) and cfg.optim.max_steps == 10000
    assert cfg.model.tokenizer.num_codes == 512 and cfg.model.tower.encoder_width == 256   # default.yaml
    assert cfg.text_encoder.spec() == {"kind": "minilm"}


def test_override_precedence_defaults_base_stage_cli():
    cfg = load_config(TRAIN / "tokenizer.yaml", "tokenizer")
    assert cfg.optim.grad_clip == 1.0                   # base.yaml over the dataclass default 0.0
    assert cfg.data.window_frames == 64                 # tokenizer.yaml over base.yaml's 196
    assert cfg.data.text_mode == "mixed"                # base.yaml, untouched by the stage file
    cfg = load_config(TRAIN / "tokenizer.yaml", "tokenizer",
                      {"model.tokenizer.width": 48, "data.window_frames": 32, "model": TINY_MODEL})
    assert cfg.data.window_frames == 32                 # the override over the stage file
    # --model=FILE replaces the sizes before --model.* overrides apply, whatever their order
    assert cfg.model.tokenizer.width == 48 and cfg.model.tokenizer.code_dim == 16
    cfg = load_config(TRAIN / "tokenizer.yaml", "tokenizer", {"data": {"window_frames": 40}})
    assert cfg.data.window_frames == 40 and cfg.data.cache == "out/demo/cache"     # a mapping merges


def test_unknown_key_and_wrong_type_name_the_key(tmp_path):
    with pytest.raises(DanceMosaicError, match=r"unknown key `data\.cahce`.*cache, window_frames"):
        load_config(TRAIN / "t2m.yaml", "t2m", {"data.cahce": "x"})
    with pytest.raises(DanceMosaicError, match=r"unknown key `loss\.lambda_D`.*residual"):
        load_config(TRAIN / "t2m.yaml", "t2m", {"loss.lambda_D": 1.0})
    with pytest.raises(DanceMosaicError, match=r"`optim\.max_steps` must be int, got 'many'"):
        load_config(TRAIN / "t2m.yaml", "t2m", {"optim.max_steps": "many"})
    with pytest.raises(DanceMosaicError, match=r"`bf16` must be bool"):
        load_config(TRAIN / "t2m.yaml", "t2m", {"bf16": 1})
    with pytest.raises(DanceMosaicError, match=r"stage music needs `t2m`"):
        load_config(TRAIN / "music.yaml", "music", {"t2m": None})
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"base: {TRAIN / 'base.yaml'}\nout_dir: x\nbatch_size: 2\nloss: {{commit: 0.1, vel: 0.1}}\n"
                   "model: {transformer: {depth: 3}}\n")
    with pytest.raises(DanceMosaicError, match=r"unknown key `model\.transformer\.depth`.*heads"):
        load_config(bad, "tokenizer")
    with pytest.raises(DanceMosaicError, match=r"unknown key `model\.sizes`.*tokenizer, transformer, tower"):
        load_config(TRAIN / "tokenizer.yaml", "tokenizer", {"model.sizes": 1})


def test_cli_rejects_unknown_keys_and_wrong_types(capsys):
    with pytest.raises(SystemExit):
        cli_main(["train", "t2m", "--data.cahce=x"])
    assert "unrecognized arguments: --data.cahce=x" in capsys.readouterr().err
    assert cli_main(["train", "t2m", "--optim.max_steps=many"]) == 2
    assert "`optim.max_steps` must be int" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli_main(["train", "t2m", "-h"])
    assert "--loss.residual" in capsys.readouterr().out


def test_cli_unknown_override_names_the_key_and_the_allowed_keys(capsys):
    with pytest.raises(SystemExit):
        cli_main(["train", "t2m", "--data.cahce=x"])
    err = capsys.readouterr().err
    assert "unknown key `data.cahce`; the keys of `data` are: cache, window_frames, split" in err
    assert "did you mean --data.cache?" in err
    with pytest.raises(SystemExit):
        cli_main(["train", "tokenizer", "--dta.cache", "x"])     # no such section: the stage's keys
    assert "unknown key `dta.cache`; the keys of the stage config are: out_dir, data.*, optim.*" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli_main(["train", "music", "--model.transformer.depth=3"])
    assert "the keys of `model.transformer` are: code_dim, dim, layers, heads" in capsys.readouterr().err


def test_shipped_checkpoints_configs_read_as_stage_configs():
    for stage in STAGES:
        cfg = StageConfig.from_checkpoint(REPO / "dancemosaic_core" / "weights" / "default" / stage)
        assert cfg.stage == stage and cfg.model.tokenizer.num_codes == 256 and cfg.batch_size > 0


def test_checkpoint_config_round_trips_and_rebuilds_the_stage(tmp_path):
    torch.set_num_threads(1)
    cache = make_cache(tmp_path / "cache", clips=2, frames=49)
    cfg = stage_config("tokenizer", cache, tmp_path / "a", optim={"max_steps": 2})
    first = run_stage(replace(cfg, resume=True))        # nothing to resume: resume is not stored
    saved = json.loads((tmp_path / "a" / "checkpoint" / "config.json").read_text())["train_config"]
    assert saved["stage"] == "tokenizer" and saved["optim"]["max_steps"] == 2
    again = StageConfig.from_checkpoint(first["checkpoint"])
    assert again == cfg
    second = run_stage(replace(again, out_dir=str(tmp_path / "b")))
    assert [h["loss"] for h in second["history"]] == [h["loss"] for h in first["history"]]


def _tiny_runs(root, towers=("music", "pose")):
    encoder = PromptTableEncoder(["a person dances"])
    normalizer = Normalizer(np.zeros(FEATURE_DIM), np.ones(FEATURE_DIM))
    return save_untrained_stages(root / "runs", load_model_sizes(TINY_MODEL), text_encoder=encoder,
                                 normalizer=normalizer, genres=["Jazz"], towers=towers)


def test_train_assemble_gathers_runs_into_a_model_dir(tmp_path):
    runs = _tiny_runs(tmp_path)
    (stage_checkpoint(runs, "t2m") / "train_state.pt").write_bytes(b"optimizer state")
    assert cli_main(["train", "assemble", "--runs", str(runs), "--out", str(tmp_path / "model")]) == 2
    assert not (tmp_path / "model").exists()              # untrained runs record no cache: nothing written
    cache = make_cache(tmp_path / "cache")
    assert cli_main(["train", "assemble", "--runs", str(runs), "--out", str(tmp_path / "model"),
                     "--cache", str(cache)]) == 0
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == sorted([*STAGES, "motion_stats.json",
                                                                             "prompt_embeddings.pt"])
    assert not (tmp_path / "model" / "t2m" / "train_state.pt").exists()
    model = DanceModel.from_pretrained(tmp_path / "model", device="cpu")
    assert model.has_music and model.has_pose and model.genres == ["Jazz"]
    assert model.dance_speed == pytest.approx(dance_speed_stats(cache))


def test_assemble_names_the_missing_stage_and_writes_nothing(tmp_path, capsys):
    runs = _tiny_runs(tmp_path, towers=("music",))
    out = tmp_path / "model"
    assert cli_main(["train", "assemble", "--runs", str(runs), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "stage pose" in err and str(runs / "pose" / "checkpoint") in err
    assert not out.exists()
    assert build_model_dir(runs, out, stages=("tokenizer", "t2m", "music")) == out
    with pytest.raises(DanceMosaicError, match="needs the t2m stage"):
        build_model_dir(runs, tmp_path / "other", stages=("tokenizer", "music"))
    shutil.copytree(stage_checkpoint(runs, "music"), stage_checkpoint(runs, "pose"))
    with pytest.raises(DanceMosaicError, match="stage pose: .* holds a music checkpoint"):
        build_model_dir(runs, tmp_path / "other")
