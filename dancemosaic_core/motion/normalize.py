"""Per-dimension mean/std normalisation of motion features, stored with the dataset.

HumanML3D/MoMask (`cal_mean_variance`) share one std per feature group and divide the foot
contacts' std by `feat_bias` = 5 so contacts weigh more in the loss:
`Normalizer.fit(clips, groups=feature_slices(), feat_bias={"foot_contact": 5.0})`.
Dimensions whose std is below `min_std` (constant in the data) get std 1, so they are only
centred instead of being blown up. Files: `.npz` with `mean` and `std`, or a directory with
`mean.npy` and `std.npy` (the training cache layout); never pickled.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from dancemosaic_core.common.errors import DanceMosaicError

MIN_STD = 1e-5


class Normalizer:
    def __init__(self, mean, std, *, min_std: float = MIN_STD):
        mean = np.asarray(mean, dtype=np.float32)
        std = np.asarray(std, dtype=np.float32)
        if mean.ndim != 1 or mean.shape != std.shape:
            raise DanceMosaicError(f"normaliser mean {mean.shape} and std {std.shape} must be 1-D and "
                                   "equal in shape (one value per feature dimension)")
        if not (np.isfinite(mean).all() and np.isfinite(std).all()):
            raise DanceMosaicError("normaliser mean/std contain NaN or infinite values; recompute them "
                                   "from clean features (`dancemosaic data prepare`)")
        if (std < 0).any():
            raise DanceMosaicError("normaliser std has negative values; it must be a standard deviation")
        self.mean = mean
        self.std = np.where(std < min_std, np.float32(1.0), std).astype(np.float32)

    @property
    def dim(self) -> int:
        return len(self.mean)

    @classmethod
    def fit(cls, arrays, *, groups: dict[str, slice] | None = None,
            feat_bias: dict[str, float] | None = None, min_std: float = MIN_STD) -> "Normalizer":
        """Mean and std over all frames of a list of (T_i, D) arrays. `groups` (name -> slice)
        replaces the std inside each group by its average; `feat_bias` (name -> factor) then
        divides a group's std by the factor (HumanML3D's recipe, module docstring)."""
        arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
        if not arrays:
            raise DanceMosaicError("cannot fit a normaliser on no clips")
        dims = {a.shape[-1] for a in arrays if a.ndim == 2}
        if len(dims) != 1 or any(a.ndim != 2 for a in arrays):
            raise DanceMosaicError(f"normaliser clips must all be (frames, D) with one D; got shapes "
                                   f"{sorted({a.shape for a in arrays})[:5]}")
        data = np.concatenate(arrays, axis=0)
        if len(data) == 0:
            raise DanceMosaicError("cannot fit a normaliser on clips with no frames")
        mean, std = data.mean(axis=0), data.std(axis=0)
        groups = groups or {}
        for name, factor in (feat_bias or {}).items():
            if name not in groups:
                raise DanceMosaicError(f"feat_bias names group {name!r}, which is not among the groups "
                                       f"{sorted(groups)}")
        for name, sl in groups.items():
            std[sl] = std[sl].mean() / (feat_bias or {}).get(name, 1.0)
        return cls(mean, std, min_std=min_std)

    def _check(self, x):
        if x.shape[-1] != self.dim:
            raise DanceMosaicError(f"features have last dimension {x.shape[-1]}, but the normaliser has "
                                   f"{self.dim}; use the normaliser of the same dataset/representation")

    def _stats(self, x):
        if isinstance(x, torch.Tensor):
            return (torch.as_tensor(self.mean, dtype=x.dtype, device=x.device),
                    torch.as_tensor(self.std, dtype=x.dtype, device=x.device))
        return self.mean, self.std

    def normalize(self, x):
        self._check(x)
        mean, std = self._stats(x)
        return (x - mean) / std

    def denormalize(self, x):
        self._check(x)
        mean, std = self._stats(x)
        return x * std + mean

    def save(self, path: str | Path) -> Path:
        """`.npz` file, or else a directory with mean.npy and std.npy."""
        path = Path(path)
        if path.suffix == ".npz":
            path.parent.mkdir(parents=True, exist_ok=True)
            np.savez(path, mean=self.mean, std=self.std)
        else:
            path.mkdir(parents=True, exist_ok=True)
            np.save(path / "mean.npy", self.mean)
            np.save(path / "std.npy", self.std)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Normalizer":
        path = Path(path)
        try:
            if path.is_dir():
                files = path / "mean.npy", path / "std.npy"
                missing = [str(f) for f in files if not f.is_file()]
                if missing:
                    raise DanceMosaicError(f"normaliser directory {path} lacks {', '.join(missing)}; "
                                           "build the dataset cache with `dancemosaic data prepare`")
                return cls(np.load(files[0], allow_pickle=False), np.load(files[1], allow_pickle=False))
            if not path.is_file():
                raise DanceMosaicError(f"normaliser file {path} does not exist; it is written by "
                                       "`dancemosaic data prepare` (mean.npy/std.npy) or Normalizer.save")
            with np.load(path, allow_pickle=False) as data:
                if "mean" not in data or "std" not in data:
                    raise DanceMosaicError(f"{path} has no 'mean'/'std' arrays; expected a normaliser .npz")
                return cls(data["mean"], data["std"])
        except (OSError, ValueError) as exc:
            raise DanceMosaicError(f"cannot read normaliser {path}: {exc}") from None
