"""Feature normaliser: round trip on numpy and torch, zero-std safety, HumanML3D grouping, files."""
import numpy as np
import pytest
import torch

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.motion.normalize import Normalizer


def _clips(rng):
    clips = [rng.normal(loc=3.0, scale=[0.5, 2.0, 1.0, 4.0, 1.0], size=(n, 5)) for n in (20, 35, 7)]
    for c in clips:
        c[:, 2] = 1.5            # a dimension constant over the data
    return clips


def test_fit_round_trip_numpy_and_torch():
    rng = np.random.default_rng(0)
    clips = _clips(rng)
    norm = Normalizer.fit(clips)
    data = np.concatenate(clips)
    z = norm.normalize(data)
    np.testing.assert_allclose(z[:, [0, 1, 3, 4]].mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(z[:, [0, 1, 3, 4]].std(0), 1, atol=1e-5)
    np.testing.assert_allclose(norm.denormalize(z), data, atol=1e-5)
    t = torch.tensor(data, dtype=torch.float32, requires_grad=True)
    zt = norm.normalize(t)
    assert isinstance(zt, torch.Tensor) and zt.dtype == torch.float32
    np.testing.assert_allclose(zt.detach().numpy(), z, atol=1e-5)
    torch.testing.assert_close(norm.denormalize(zt), t)
    zt.sum().backward()
    np.testing.assert_allclose(t.grad[0].numpy(), 1 / norm.std, rtol=1e-6)


def test_zero_std_dimension_is_centred_not_amplified():
    rng = np.random.default_rng(1)
    norm = Normalizer.fit(_clips(rng))
    assert norm.std[2] == 1.0
    out = norm.normalize(np.full((3, 5), 1.5 + 1e-3))
    assert np.isfinite(out).all() and abs(out[0, 2] - 1e-3) < 1e-6
    assert Normalizer(np.zeros(2), np.array([0.0, 2.0])).std.tolist() == [1.0, 2.0]


def test_grouped_std_and_feat_bias():
    rng = np.random.default_rng(2)
    clips = _clips(rng)
    plain = Normalizer.fit(clips)
    grouped = Normalizer.fit(clips, groups={"a": slice(0, 2), "b": slice(3, 5)}, feat_bias={"b": 5.0})
    np.testing.assert_allclose(grouped.std[0:2], plain.std[0:2].mean(), rtol=1e-6)
    np.testing.assert_allclose(grouped.std[3:5], plain.std[3:5].mean() / 5.0, rtol=1e-6)
    np.testing.assert_allclose(grouped.mean, plain.mean, rtol=1e-6)
    with pytest.raises(DanceMosaicError, match="not among the groups"):
        Normalizer.fit(clips, groups={"a": slice(0, 2)}, feat_bias={"c": 2.0})


@pytest.mark.parametrize("name", ["stats.npz", "statsdir"])
def test_save_load(tmp_path, name):
    norm = Normalizer.fit(_clips(np.random.default_rng(3)))
    path = norm.save(tmp_path / name)
    back = Normalizer.load(path)
    np.testing.assert_array_equal(back.mean, norm.mean)
    np.testing.assert_array_equal(back.std, norm.std)


def test_bad_input(tmp_path):
    norm = Normalizer(np.zeros(4), np.ones(4))
    with pytest.raises(DanceMosaicError, match="last dimension 5"):
        norm.normalize(np.zeros((2, 5)))
    with pytest.raises(DanceMosaicError, match="equal in shape"):
        Normalizer(np.zeros(4), np.ones(3))
    with pytest.raises(DanceMosaicError, match="NaN"):
        Normalizer(np.array([0.0, np.nan]), np.ones(2))
    with pytest.raises(DanceMosaicError, match="does not exist"):
        Normalizer.load(tmp_path / "missing.npz")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DanceMosaicError, match="std.npy"):
        Normalizer.load(tmp_path / "empty")
    with pytest.raises(DanceMosaicError, match="one D"):
        Normalizer.fit([np.zeros((3, 4)), np.zeros((3, 5))])
