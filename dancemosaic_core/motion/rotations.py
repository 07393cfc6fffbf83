"""Rotation helpers shared by the feature representation and the dataset forward kinematics.

One torch implementation per function; numpy arrays are accepted too (computed in float64 and
returned as numpy with the input's float dtype), so data preparation and the differentiable
training path use the same code. Everything is batched over leading dimensions and broadcasts.

Conventions:
- quaternions are (w, x, y, z), Hamilton product, `qrot(q, v)` rotates v by q (as HumanML3D's
  `common/quaternion.py` and pytorch3d);
- rotation matrices act on column vectors: v' = R @ v;
- 6-D rotations (Zhou et al. 2019) come in two layouts: "columns" = the first two columns of R
  (Zhou et al., HumanML3D `quaternion_to_cont6d`), "rows" = the first two rows of R
  (pytorch3d `matrix_to_rotation_6d`, used by EDGE/FineDance/LODGE). The row layout of R is the
  column layout of R transposed, so mixing them silently inverts every joint rotation.
"""
from __future__ import annotations

import functools

import numpy as np
import torch

_SMALL_ANGLE = 1e-6


def _accepts_numpy(fn):
    """Run a torch function on numpy input (float64 internally) and hand numpy back."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if any(isinstance(a, torch.Tensor) for a in args):
            return fn(*(torch.as_tensor(a) if isinstance(a, np.ndarray) else a for a in args), **kwargs)
        dtypes = [np.asarray(a).dtype for a in args if isinstance(a, (np.ndarray, list, tuple))]
        out_dtype = np.result_type(*[d if d.kind == "f" else np.float64 for d in dtypes]) if dtypes else np.float64
        targs = [torch.from_numpy(np.asarray(a, dtype=np.float64)) if isinstance(a, (np.ndarray, list, tuple))
                 else a for a in args]
        out = fn(*targs, **kwargs)
        return out.numpy().astype(out_dtype, copy=False)
    return wrapper


def _check_last(x: torch.Tensor, n: int, what: str) -> None:
    if x.shape[-1] != n:
        raise ValueError(f"{what} must have last dimension {n}, got shape {tuple(x.shape)}")


# --- quaternions ----------------------------------------------------------------------------
@_accepts_numpy
def qnormalize(q):
    _check_last(q, 4, "quaternion")
    return q / q.norm(dim=-1, keepdim=True)


@_accepts_numpy
def qinv(q):
    """Inverse of a unit quaternion (its conjugate)."""
    _check_last(q, 4, "quaternion")
    return torch.cat([q[..., :1], -q[..., 1:]], dim=-1)


@_accepts_numpy
def qmul(q, r):
    """Hamilton product q * r (apply r first, then q)."""
    _check_last(q, 4, "quaternion")
    _check_last(r, 4, "quaternion")
    q, r = torch.broadcast_tensors(q, r)
    w1, x1, y1, z1 = q.unbind(-1)
    w2, x2, y2, z2 = r.unbind(-1)
    return torch.stack([
        w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
        w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
        w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
        w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
    ], dim=-1)


@_accepts_numpy
def qrot(q, v):
    """Rotate vectors v (..., 3) by unit quaternions q (..., 4); shapes broadcast."""
    _check_last(q, 4, "quaternion")
    _check_last(v, 3, "vector")
    shape = torch.broadcast_shapes(q.shape[:-1], v.shape[:-1])
    q = q.expand(shape + (4,))
    v = v.expand(shape + (3,))
    qvec = q[..., 1:]
    uv = torch.linalg.cross(qvec, v, dim=-1)
    uuv = torch.linalg.cross(qvec, uv, dim=-1)
    return v + 2 * (q[..., :1] * uv + uuv)


@_accepts_numpy
def qbetween(v0, v1):
    """The shortest-arc unit quaternion rotating direction v0 onto direction v1.

    Antiparallel inputs (where the shortest arc is not unique and HumanML3D's formula divides
    0 by 0) get a half turn about +y when v0 is horizontal (so a facing direction stays a rotation
    about the vertical) and about an axis perpendicular to v0 in the x-y plane otherwise."""
    _check_last(v0, 3, "vector")
    _check_last(v1, 3, "vector")
    v0, v1 = torch.broadcast_tensors(v0, v1)
    norms = v0.norm(dim=-1, keepdim=True) * v1.norm(dim=-1, keepdim=True)
    w = norms + (v0 * v1).sum(-1, keepdim=True)
    q = torch.cat([w, torch.linalg.cross(v0, v1, dim=-1)], dim=-1)
    degenerate = w <= 1e-9 * norms
    if bool(degenerate.any()):
        n0 = v0 / v0.norm(dim=-1, keepdim=True)
        up = torch.zeros_like(n0)
        up[..., 1] = 1
        side = torch.zeros_like(n0)
        side[..., 0] = 1
        use_up = (n0 * up).sum(-1, keepdim=True).abs() < 0.9
        ref = torch.where(use_up, up, side)
        axis = ref - (ref * n0).sum(-1, keepdim=True) * n0
        half_turn = torch.cat([torch.zeros_like(w), axis / axis.norm(dim=-1, keepdim=True)], dim=-1)
        q = torch.where(degenerate, half_turn, q)
    return q / q.norm(dim=-1, keepdim=True)


@_accepts_numpy
def quat_to_matrix(q):
    _check_last(q, 4, "quaternion")
    w, x, y, z = q.unbind(-1)
    two_s = 2.0 / (q * q).sum(-1)
    m = torch.stack([
        1 - two_s * (y * y + z * z), two_s * (x * y - z * w), two_s * (x * z + y * w),
        two_s * (x * y + z * w), 1 - two_s * (x * x + z * z), two_s * (y * z - x * w),
        two_s * (x * z - y * w), two_s * (y * z + x * w), 1 - two_s * (x * x + y * y),
    ], dim=-1)
    return m.reshape(q.shape[:-1] + (3, 3))


@_accepts_numpy
def matrix_to_quat(m):
    """Unit quaternion with w >= 0 from a rotation matrix (best-conditioned of four formulas)."""
    if m.shape[-2:] != (3, 3):
        raise ValueError(f"rotation matrix must have shape (..., 3, 3), got {tuple(m.shape)}")
    m00, m01, m02 = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    m10, m11, m12 = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    m20, m21, m22 = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]
    # 4 * (w^2, x^2, y^2, z^2); the largest gives the best-conditioned division.
    sq = torch.stack([1 + m00 + m11 + m22, 1 + m00 - m11 - m22,
                      1 - m00 + m11 - m22, 1 - m00 - m11 + m22], dim=-1)
    root = torch.sqrt(torch.clamp(sq, min=1e-12))
    cands = torch.stack([
        torch.stack([sq[..., 0], m21 - m12, m02 - m20, m10 - m01], dim=-1),
        torch.stack([m21 - m12, sq[..., 1], m10 + m01, m02 + m20], dim=-1),
        torch.stack([m02 - m20, m10 + m01, sq[..., 2], m12 + m21], dim=-1),
        torch.stack([m10 - m01, m20 + m02, m21 + m12, sq[..., 3]], dim=-1),
    ], dim=-2) / (2 * root[..., None])
    best = sq.argmax(dim=-1)
    q = torch.gather(cands, -2, best[..., None, None].expand(best.shape + (1, 4))).squeeze(-2)
    q = q / q.norm(dim=-1, keepdim=True)
    return torch.where(q[..., :1] < 0, -q, q)


# --- 6-D continuous rotations (Zhou et al. 2019) ---------------------------------------------
_LAYOUTS = ("columns", "rows")


def _check_layout(layout: str) -> None:
    if layout not in _LAYOUTS:
        raise ValueError(f"6-D layout must be one of {_LAYOUTS}, got {layout!r}")


@_accepts_numpy
def rot6d_to_matrix(d6, layout: str = "columns"):
    """Gram-Schmidt of the two stored 3-vectors; `layout` says whether they are R's first two
    columns (Zhou et al., HumanML3D) or rows (pytorch3d, FineDance)."""
    _check_last(d6, 6, "6-D rotation")
    _check_layout(layout)
    a1, a2 = d6[..., :3], d6[..., 3:]
    b1 = a1 / a1.norm(dim=-1, keepdim=True)
    b2 = a2 - (b1 * a2).sum(-1, keepdim=True) * b1
    b2 = b2 / b2.norm(dim=-1, keepdim=True)
    b3 = torch.linalg.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], dim=-1 if layout == "columns" else -2)


@_accepts_numpy
def matrix_to_rot6d(m, layout: str = "columns"):
    if m.shape[-2:] != (3, 3):
        raise ValueError(f"rotation matrix must have shape (..., 3, 3), got {tuple(m.shape)}")
    _check_layout(layout)
    if layout == "columns":
        return torch.cat([m[..., :, 0], m[..., :, 1]], dim=-1)
    return torch.cat([m[..., 0, :], m[..., 1, :]], dim=-1)


# --- axis-angle ---------------------------------------------------------------------------------
@_accepts_numpy
def axis_angle_to_quat(aa):
    _check_last(aa, 3, "axis-angle")
    angle = aa.norm(dim=-1, keepdim=True)
    small = angle < _SMALL_ANGLE
    safe = torch.where(small, torch.ones_like(angle), angle)
    # sin(angle/2)/angle, with its Taylor series near 0 so the gradient stays finite.
    k = torch.where(small, 0.5 - angle * angle / 48, torch.sin(safe / 2) / safe)
    return torch.cat([torch.cos(angle / 2), aa * k], dim=-1)


@_accepts_numpy
def quat_to_axis_angle(q):
    _check_last(q, 4, "quaternion")
    q = torch.where(q[..., :1] < 0, -q, q)
    s = q[..., 1:].norm(dim=-1, keepdim=True)
    angle = 2 * torch.atan2(s, q[..., :1])
    small = s < _SMALL_ANGLE
    safe = torch.where(small, torch.ones_like(s), s)
    # angle / sin(angle/2) -> 2 as the angle goes to 0.
    k = torch.where(small, 2 + angle * angle / 12, angle / safe)
    return q[..., 1:] * k


def axis_angle_to_matrix(aa):
    return quat_to_matrix(axis_angle_to_quat(aa))


def matrix_to_axis_angle(m):
    return quat_to_axis_angle(matrix_to_quat(m))


def quat_to_rot6d(q, layout: str = "columns"):
    return matrix_to_rot6d(quat_to_matrix(q), layout=layout)


def rot6d_to_quat(d6, layout: str = "columns"):
    return matrix_to_quat(rot6d_to_matrix(d6, layout=layout))
