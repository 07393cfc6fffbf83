"""FID and diversity on per-motion feature vectors.

Reference: Bailando `utils/metrics_new.py` and LODGE `metric/metrics_finedance.py`:
`normalize(gt, pred)` standardises BOTH sets with the ground truth's mean and std
(std + 1e-10), `calc_fid` is the Frechet distance of Gaussians fitted with np.cov
(rowvar=False, so N-1) with scipy.linalg.sqrtm (eps 1e-5 on the diagonals when the product
is singular, real part kept), and Div = `calculate_avg_distance`, the mean Euclidean
distance over unordered pairs of the normalised generated features.
"""
from __future__ import annotations

import warnings

import numpy as np
from scipy import linalg
from scipy.spatial.distance import pdist

from dancemosaic_core.common.errors import DanceMosaicError

STD_EPS = 1e-10    # reference normalize(): (x - mean) / (std + 1e-10)
SQRTM_EPS = 1e-5   # reference calc_fid() diagonal offset for singular products


def _matrix(features, what: str) -> np.ndarray:
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2:
        raise DanceMosaicError(f"{what} features must be (motions, dims), got shape {x.shape}")
    if len(x) < 2:
        raise DanceMosaicError(f"{what} has {len(x)} motion(s); FID and diversity need at least 2")
    if not np.isfinite(x).all():
        raise DanceMosaicError(f"{what} features contain NaN or infinite values")
    return x


def normalize_by_gt(gt: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """Standardise gt and every other set with gt's per-dimension mean and std."""
    gt = np.asarray(gt, dtype=np.float64)
    mean, std = gt.mean(axis=0), gt.std(axis=0) + STD_EPS
    return [(gt - mean) / std] + [(np.asarray(o, dtype=np.float64) - mean) / std for o in others]


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to the rows of a and b. Round-off can leave a
    tiny negative value for identical sets; it is clamped to 0."""
    a, b = _matrix(a, "first set"), _matrix(b, "second set")
    if a.shape[1] != b.shape[1]:
        raise DanceMosaicError(f"feature sizes differ: {a.shape[1]} vs {b.shape[1]}")
    mu1, mu2 = a.mean(axis=0), b.mean(axis=0)
    s1, s2 = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    with warnings.catch_warnings():
        # fewer motions than dimensions make the covariances singular; that is expected
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(s1 @ s2)
        if not np.isfinite(covmean).all():
            offset = np.eye(len(s1)) * SQRTM_EPS
            covmean = linalg.sqrtm((s1 + offset) @ (s2 + offset))
    covmean = np.real(covmean)
    diff = mu1 - mu2
    value = float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))
    return max(value, 0.0)


def fid(generated: np.ndarray, gt: np.ndarray) -> float:
    """FID of generated features against ground-truth features, both normalised by gt."""
    gen, ref = _matrix(generated, "generated"), _matrix(gt, "ground truth")
    ref_n, gen_n = normalize_by_gt(ref, gen)
    return frechet_distance(gen_n, ref_n)


def diversity(features: np.ndarray, gt: np.ndarray | None = None) -> float:
    """Mean pairwise Euclidean distance; with gt given, after normalising by gt (the
    reference's Div_k / Div_g of generated motions)."""
    x = _matrix(features, "diversity input")
    if gt is not None:
        x = normalize_by_gt(_matrix(gt, "ground truth"), x)[1]
    return float(pdist(x).mean())
