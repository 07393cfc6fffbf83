"""Checkpoints round-trip through one loader and never unpickle arbitrary objects."""
import pickle

import pytest
import torch

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.models.checkpoint import (
    load_checkpoint,
    load_train_state,
    save_checkpoint,
)
from dancemosaic_core.models.mask_transformer import T2MModel, TransformerConfig
from dancemosaic_core.models.tokenizer import MotionTokenizer, TokenizerConfig
from dancemosaic_core.models.towers import Tower, TowerConfig

CFG = TransformerConfig(num_codes=16, num_quantizers=2, text_dim=6, code_dim=8, dim=16, layers=2, heads=2,
                        ff_dim=32, residual_layers=1)


class Evil:
    """Unpickling this creates a file: the proof that arbitrary code ran."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.mark.parametrize("make", [
    lambda: MotionTokenizer(config=TokenizerConfig(width=16, depth=1, code_dim=8, num_codes=16, num_quantizers=2)),
    lambda: T2MModel(config=CFG),
    lambda: Tower(config=TowerConfig(kind="pose", encoder_width=8), base_config=CFG),
])
def test_round_trip_rebuilds_the_model_from_its_config(tmp_path, make):
    model = make()
    if isinstance(model, MotionTokenizer):
        model.train()
        model(torch.randn(2, 16, 263))           # non-trivial EMA buffers
    save_checkpoint(tmp_path / "ck", model, extra={"text_encoder": {"kind": "table", "prompts": ["a"]}},
                    train_state={"step": 3, "optimizer": {"state": {}, "param_groups": []}})
    loaded, config = load_checkpoint(tmp_path / "ck")
    assert type(loaded) is type(model) and config["text_encoder"]["prompts"] == ["a"]
    a, b = model.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert load_train_state(tmp_path / "ck")["step"] == 3
    with pytest.raises(DanceMosaicError, match="expected a music"):
        load_checkpoint(tmp_path / "ck", kind="music")


def test_malicious_pickle_in_train_state_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    save_checkpoint(tmp_path / "ck", T2MModel(config=CFG))
    with open(tmp_path / "ck" / "train_state.pt", "wb") as f:
        pickle.dump({"step": Evil(marker)}, f, protocol=2)
    pickle.loads(pickle.dumps(Evil(tmp_path / "control")))     # the payload does work when unpickled
    assert (tmp_path / "control").exists()
    with pytest.raises(DanceMosaicError, match="refusing"):
        load_train_state(tmp_path / "ck")
    torch.save({"step": Evil(marker)}, tmp_path / "ck" / "train_state.pt")
    with pytest.raises(DanceMosaicError, match="refusing"):
        load_train_state(tmp_path / "ck")
    assert not marker.exists()


def test_damaged_or_mismatched_checkpoints_give_clear_errors(tmp_path):
    with pytest.raises(DanceMosaicError, match="not a checkpoint"):
        load_checkpoint(tmp_path)
    save_checkpoint(tmp_path / "ck", T2MModel(config=CFG))
    cfg = (tmp_path / "ck" / "config.json").read_text().replace('"layers": 2', '"layers": 3')
    (tmp_path / "ck" / "config.json").write_text(cfg)
    with pytest.raises(DanceMosaicError, match="do not match"):
        load_checkpoint(tmp_path / "ck")


def test_a_checkpoint_with_non_finite_weights_is_refused_naming_the_file(tmp_path):
    model = T2MModel(config=CFG)
    with torch.no_grad():
        next(model.parameters()).view(-1)[0] = float("nan")
    save_checkpoint(tmp_path / "ck", model)
    with pytest.raises(DanceMosaicError, match=r"ck/model.safetensors holds NaN or infinite weights"):
        load_checkpoint(tmp_path / "ck")


def test_save_replaces_atomically_and_leaves_no_temporaries(tmp_path):
    save_checkpoint(tmp_path / "ck", T2MModel(config=CFG))
    (tmp_path / "ck.tmp").mkdir()                      # a crashed earlier write
    model = T2MModel(config=CFG)
    save_checkpoint(tmp_path / "ck", model)
    loaded, _ = load_checkpoint(tmp_path / "ck")
    assert torch.equal(loaded.base.head.weight, model.base.head.weight)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck"]
