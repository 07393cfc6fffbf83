"""DistributedDataParallel with 2 gloo CPU processes (torchrun) matches one process."""
import os
import subprocess
import sys

import torch
import yaml

from dancemosaic_core.cli.train import run_stage
from dancemosaic_core.models.checkpoint import load_checkpoint
from tests.core.test_train_fixtures import REPO, make_cache, stage_config


def test_two_gloo_processes_match_one_process(tmp_path):
    cache = make_cache(tmp_path / "cache", clips=4, frames=49)
    tok = run_stage(stage_config("tokenizer", cache, tmp_path / "tok", optim={"max_steps": 3}))
    # Dropout and the dataset's caption choice draw from each process's own RNG; everything
    # else random is shared (StepRandom), so those two are switched off here.
    over = dict(tokenizer=tok["checkpoint"], optim={"max_steps": 4}, data={"text_mode": "genre"},
                model={"transformer": {"dropout": 0.0}})
    single = run_stage(stage_config("t2m", cache, tmp_path / "single", **over))
    cfg = stage_config("t2m", cache, tmp_path / "ddp", **over)
    cfg_path = tmp_path / "ddp.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg.to_dict()))
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                          "-m", "dancemosaic_core.cli", "train", "t2m", "--config", str(cfg_path)],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    a, _ = load_checkpoint(single["checkpoint"])
    b, cfg_b = load_checkpoint(tmp_path / "ddp" / "checkpoint")
    assert cfg_b["step"] == 4
    sa, sb = a.state_dict(), b.state_dict()
    diff = max(float((sa[k] - sb[k]).abs().max()) for k in sa)
    init = stage_config("t2m", cache, tmp_path / "init", **{**over, "optim": {"max_steps": 1, "lr": 0.0}})
    start, _ = load_checkpoint(run_stage(init)["checkpoint"])
    change = max(float((sa[k] - start.state_dict()[k]).abs().max()) for k in sa)
    assert change > 1e-3                      # training moved the weights ...
    assert diff < 1e-5, diff                  # ... identically in both set-ups (float sum order aside)
    torch.testing.assert_close(sb["base.head.weight"], sa["base.head.weight"], atol=1e-5, rtol=0)
