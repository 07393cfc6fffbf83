"""FID and diversity on per-motion feature vectors.

Reference: lisiyao21/Bailando `utils/metrics_new.py` and li-ronghui/LODGE
`metric/metrics_finedance.py` (the same functions): `normalize(gt, pred)` standardises BOTH
sets with the ground truth's mean and std (std + 1e-10); `calc_fid` is the Frechet distance
of Gaussians fitted with np.cov (rowvar=False, so N-1) with scipy.linalg.sqrtm (1e-5 on the
diagonals when the product's root is not finite; the real part is what a printed complex
result shows); Div = `calculate_avg_distance`, the mean Euclidean distance over unordered
pairs of the normalised generated features, summed in a running loop.
The reference runs all of this on the float32 feature arrays it saved; these functions keep
a float32 input in float32 through the same numpy calls (float64 covariances, as np.cov
gives) and sum the diversity distances in float32 in the reference's pair order, so
reference-protocol numbers reproduce the reference's rounding. Ours: a round-off negative FID
is clamped to 0.

The normalisation divides by the GT std: a dimension that is (near-)constant in the GT turns
any generated deviation in it into a huge value (up to 1e10 times), which alone can make FID
reach 1e17. `near_constant_dims` finds those dimensions so the report can say so; the
reference number is left unchanged.
"""
from __future__ import annotations

import warnings

import numpy as np
from scipy import linalg
from scipy.spatial.distance import pdist

from dancemosaic_core.common.errors import DanceMosaicError

STD_EPS = 1e-10    # reference normalize(): (x - mean) / (std + 1e-10)
SQRTM_EPS = 1e-5   # reference calc_fid() diagonal offset for singular products
NEAR_CONSTANT_STD = 1e-6   # GT std below this times max(1, |GT mean|): a near-constant dimension


def _float(features) -> np.ndarray:
    x = np.asarray(features)
    return x if x.dtype in (np.float32, np.float64) else x.astype(np.float64)


def _matrix(features, what: str) -> np.ndarray:
    x = _float(features)
    if x.ndim != 2:
        raise DanceMosaicError(f"{what} features must be (motions, dims), got shape {x.shape}")
    if len(x) < 2:
        raise DanceMosaicError(f"{what} has {len(x)} motion(s); FID and diversity need at least 2")
    if not np.isfinite(x).all():
        raise DanceMosaicError(f"{what} features contain NaN or infinite values")
    return x


def normalize_by_gt(gt: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """Standardise gt and every other set with gt's per-dimension mean and std."""
    gt = _float(gt)
    mean, std = gt.mean(axis=0), gt.std(axis=0)
    return [(gt - mean) / (std + STD_EPS)] + [(_float(o) - mean) / (std + STD_EPS) for o in others]


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to the rows of a and b. Round-off can leave a
    tiny negative value for identical sets; it is clamped to 0."""
    a, b = _matrix(a, "first set"), _matrix(b, "second set")
    if a.shape[1] != b.shape[1]:
        raise DanceMosaicError(f"feature sizes differ: {a.shape[1]} vs {b.shape[1]}")
    mu1, mu2 = np.mean(a, axis=0), np.mean(b, axis=0)
    s1, s2 = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    with warnings.catch_warnings():
        # fewer motions than dimensions make the covariances singular; that is expected
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(s1.dot(s2))
        if not np.isfinite(covmean).all():
            offset = np.eye(len(s1)) * SQRTM_EPS
            covmean = linalg.sqrtm((s1 + offset).dot(s2 + offset))
    diff = mu1 - mu2
    value = float(diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(np.real(covmean)))
    return max(value, 0.0)


def fid(generated: np.ndarray, gt: np.ndarray, dims=None) -> float:
    """FID of generated features against ground-truth features, both normalised by gt;
    dims: only these feature dimensions (a diagnostic; None = all, the reference)."""
    gen, ref = _matrix(generated, "generated"), _matrix(gt, "ground truth")
    if dims is not None:
        gen, ref = gen[:, dims], ref[:, dims]
    ref_n, gen_n = normalize_by_gt(ref, gen)
    return frechet_distance(gen_n, ref_n)


def mean_pair_distance(x: np.ndarray) -> float:
    """Mean Euclidean distance over unordered pairs. float32 input: distances summed in
    float32 in the reference loop's order (i < j, row by row), as `calculate_avg_distance`."""
    x = _matrix(x, "diversity input")
    n = len(x)
    pairs = (n * n - n) / 2
    if x.dtype == np.float64:
        return float(pdist(x).mean())
    dists = np.concatenate([np.linalg.norm(x[i + 1:] - x[i], axis=1) for i in range(n - 1)])
    return float(np.add.accumulate(dists)[-1] / x.dtype.type(pairs))


def diversity(features: np.ndarray, gt: np.ndarray | None = None) -> float:
    """Mean pairwise Euclidean distance; with gt given, after normalising by gt (the
    reference's Div_k / Div_g of generated motions)."""
    x = _matrix(features, "diversity input")
    if gt is not None:
        x = normalize_by_gt(_matrix(gt, "ground truth"), x)[1]
    return mean_pair_distance(x)


def near_constant_dims(gt: np.ndarray, threshold: float = NEAR_CONSTANT_STD) -> np.ndarray:
    """Indices of GT feature dimensions whose std is below threshold * max(1, |mean|)."""
    x = np.asarray(_matrix(gt, "ground truth"), dtype=np.float64)
    return np.flatnonzero(x.std(axis=0) < threshold * np.maximum(1.0, np.abs(x.mean(axis=0))))
