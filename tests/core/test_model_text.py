"""Text encoders: CLIP text tower from a local file, prompt table, offline MiniLM."""
import os
import subprocess
import sys

import pytest
import torch

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.text import PromptTableEncoder, build_text_encoder
from dancemosaic_core.text.clip import ClipTextTower, load_clip_text_tower, tokenize


def test_clip_tokenizer_uses_the_bundled_bpe_vocabulary():
    tokens = tokenize(["person dances on hiphop style", ""])
    assert tokens.shape == (2, 77)
    assert tokens[0, 0] == 49406 and 49407 in tokens[0].tolist()
    assert tokens[1, :2].tolist() == [49406, 49407]
    assert "clip.clip" not in sys.modules          # the torchvision-importing module never ran


def test_clip_text_tower_loads_openai_parameter_names_from_pt_and_safetensors(tmp_path):
    tower = ClipTextTower(width=64, layers=2, heads=1, embed_dim=32).eval()
    state = {k: v.half() for k, v in tower.state_dict().items()}       # the release is fp16
    state["visual.conv1.weight"] = torch.zeros(4, 3, 2, 2)              # image tower keys are ignored
    state["logit_scale"] = torch.tensor(4.6)
    torch.save(state, tmp_path / "clip.pt")
    from safetensors.torch import save_file
    save_file(state, str(tmp_path / "clip.safetensors"))
    tokens = tokenize(["a person dances"])
    expected = ClipTextTower(width=64, layers=2, heads=1, embed_dim=32)
    expected.load_state_dict({k: v.float() for k, v in state.items() if k in tower.state_dict()})
    traced = torch.jit.trace(expected.eval(), tokens)      # a TorchScript archive like ViT-B-32.pt
    traced.save(str(tmp_path / "clip_jit.pt"))
    for name in ("clip.pt", "clip.safetensors", "clip_jit.pt"):
        loaded = load_clip_text_tower(tmp_path / name)
        assert torch.allclose(loaded(tokens), expected.eval()(tokens), atol=1e-5)
    enc = build_text_encoder({"kind": "clip", "weights": str(tmp_path / "clip.pt")})
    assert enc.dim == 32 and enc.encode(["x", "y", "x"]).shape == (3, 32)


def test_clip_without_a_local_file_explains_instead_of_downloading(tmp_path):
    with pytest.raises(DanceMosaicError, match="local file"):
        build_text_encoder({"kind": "clip", "weights": str(tmp_path / "ViT-B-32.pt")})
    with pytest.raises(DanceMosaicError, match="weights"):
        build_text_encoder({"kind": "clip"})
    with pytest.raises(DanceMosaicError, match="minilm"):
        build_text_encoder({"kind": "bert"})


def test_prompt_table_is_one_hot_with_null_prompt_and_cache():
    enc = PromptTableEncoder(["b", "a", "a"])
    out = enc.encode(["a", "b", "", "a"])
    assert out.tolist() == [[1, 0], [0, 1], [0, 0], [1, 0]]
    assert set(enc._cache) == {"a", "b", ""}
    with pytest.raises(DanceMosaicError, match="prompt table"):
        enc.encode(["c"])
    assert build_text_encoder(enc.spec()).encode(["b"]).tolist() == [[0, 1]]


@pytest.mark.slow
def test_minilm_encodes_offline_with_packaged_weights():
    code = ("from dancemosaic_core.text import MiniLMEncoder; e = MiniLMEncoder();"
            "v = e.encode(['person dances on hiphop style', 'person dances on jazz style', 'a man walks']);"
            "import torch; s = v @ v.T; print(v.shape[1], float(s[0,1]), float(s[0,2]))")
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_HOME="/nonexistent",
               https_proxy="http://127.0.0.1:9", http_proxy="http://127.0.0.1:9")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=240)
    assert out.returncode == 0, out.stderr[-2000:]
    dim, close, far = out.stdout.split()
    assert int(dim) == 384 and float(close) > float(far)
