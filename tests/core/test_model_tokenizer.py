"""RVQ-VAE tokenizer: symmetric encode/decode, residual quantisation, EMA codebooks."""
import pytest
import torch

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.models.rvq import ResidualVQ
from dancemosaic_core.models.tokenizer import MotionTokenizer, TokenizerConfig
from dancemosaic_core.motion.skeleton import FEATURE_DIM

TINY = TokenizerConfig(width=32, depth=2, code_dim=16, num_codes=32, num_quantizers=3, ema_decay=0.9)


def trained_tokenizer(steps: int = 3) -> MotionTokenizer:
    tok = MotionTokenizer(config=TINY)
    tok.train()
    for _ in range(steps):               # initialises and EMA-updates the codebooks
        tok(torch.randn(4, 16, FEATURE_DIM))
    return tok.eval()


def test_decode_of_encode_equals_decode_from_code_embeddings():
    tok = trained_tokenizer()
    x = torch.randn(2, 24, FEATURE_DIM)
    ids = tok.encode(x)
    assert ids.shape == (2, 6, 3) and ids.dtype == torch.long
    assert ids.min() >= 0 and ids.max() < TINY.num_codes
    codes = tok.get_codes_from_indices(ids)
    assert codes.shape == (2, 6, 3, TINY.code_dim)
    # The embedding is the sum of each layer's codebook rows.
    manual = sum(tok.codebook(q)[ids[..., q]] for q in range(3))
    assert torch.allclose(codes.sum(-2), manual)
    assert torch.equal(tok.decode(ids), tok.decode_from_embeddings(codes.sum(-2)))
    assert tok.decode(ids).shape == x.shape


def test_quantize_is_encode_from_the_latent_and_never_farther_than_the_nearest_base_code():
    tok = trained_tokenizer()
    x = torch.randn(2, 24, FEATURE_DIM)
    z = tok.encode_latent(x)
    ids = tok.quantize(z)
    assert torch.equal(ids, tok.encode(x))
    # a perturbed embedding comes back as codes whose sum is at least as close as the single
    # nearest base-layer code (each residual layer can only keep or lower the error)
    z = tok.embed(ids) + 0.05 * torch.randn_like(z)
    err = (tok.embed(tok.quantize(z)) - z).norm(dim=-1)
    base = torch.cdist(z.reshape(-1, z.shape[-1]), tok.codebook(0)).min(-1).values.reshape(err.shape)
    assert (err <= base + 1e-5).all()

def test_each_quantizer_picks_the_nearest_code_of_the_residual():
    tok = trained_tokenizer()
    x = torch.randn(1, 16, FEATURE_DIM)
    z = tok.encode_latent(x)[0]
    ids = tok.encode(x)[0]
    residual = z
    for q in range(3):
        d = torch.cdist(residual, tok.codebook(q))
        assert torch.equal(d.argmin(-1), ids[:, q])
        residual = residual - tok.codebook(q)[ids[:, q]]


def test_fewer_layers_decode_with_unused_layers_marked_minus_one():
    tok = trained_tokenizer()
    ids = tok.encode(torch.randn(1, 16, FEATURE_DIM))
    partial = ids.clone()
    partial[..., 1:] = -1
    assert torch.equal(tok.decode(partial), tok.decode(ids[..., :1]))
    assert not torch.equal(tok.decode(partial), tok.decode(ids))


def test_quantizer_dropout_drops_trailing_layers_only():
    rvq = ResidualVQ(num_quantizers=4, num_codes=8, code_dim=4, quantizer_dropout=1.0)
    rvq.train()
    seen = set()
    for _ in range(30):
        _, ids, _ = rvq(torch.randn(2, 5, 4))
        used = (ids[0, 0] >= 0).tolist()
        k = sum(used)
        assert used == [True] * k + [False] * (4 - k) and k >= 1
        seen.add(k)
    assert len(seen) > 1


def test_dead_codes_are_reset_to_current_residuals_and_ema_moves_used_codes():
    rvq = ResidualVQ(num_quantizers=1, num_codes=16, code_dim=3, decay=0.5, quantizer_dropout=0.0)
    rvq.train()
    rvq(torch.randn(1, 64, 3))                                     # initialise from data
    layer = rvq.layers[0]
    data = torch.tensor([[5.0, 5.0, 5.0]]).repeat(1, 8, 1) + 0.01 * torch.randn(1, 8, 3)
    for _ in range(6):
        rvq(data)
    # Codes never chosen decay below count 1 and are replaced by (near-)data rows.
    dist_to_data = torch.cdist(layer.codebook, data[0]).min(-1).values
    assert (dist_to_data < 0.1).float().mean() > 0.9


def test_bad_input_shapes_raise_clear_errors():
    tok = MotionTokenizer(config=TINY)
    with pytest.raises(DanceMosaicError, match="multiple of 4"):
        tok.encode(torch.randn(1, 10, FEATURE_DIM))
    with pytest.raises(DanceMosaicError, match="263"):
        tok.encode(torch.randn(1, 16, 10))
    with pytest.raises(DanceMosaicError, match="x4"):
        TokenizerConfig(down_t=3)
