"""Constant bone lengths for decoded motion.

The HumanML3D features carry joint positions relative to the root (RIC channels) that the
decoder predicts independently per frame, so bone lengths drift over a clip (up to 7 % std/mean
measured on the shipped model). `project_bone_lengths` walks the kinematic tree from the root
and puts every joint at its parent plus the decoded bone direction times a length constant over
the clip (the clip's median length): directions, root trajectory and timing are kept.
Differentiable, so ITTO optimises through it.
"""
from __future__ import annotations

import numpy as np
import torch

from dancemosaic_core.motion.skeleton import NUM_JOINTS, PARENTS, bone_lengths


def _ancestor_bones() -> np.ndarray:
    """(22, 21) 0/1: entry (j, b) is 1 when bone b (joint b+1 to its parent) lies on the path
    from the root to joint j, so joint j = root + sum over those bones of direction x length."""
    chain = np.zeros((NUM_JOINTS, NUM_JOINTS - 1), dtype=np.float32)
    for j in range(1, NUM_JOINTS):          # PARENTS lists every parent before its children
        chain[j] = chain[PARENTS[j]]
        chain[j, j - 1] = 1.0
    return chain


ANCESTOR_BONES = _ancestor_bones()


def project_bone_lengths(joints: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
    """Joints (..., T, 22, 3) with each bone set to `lengths` (..., 21) (default: the median
    over frames of the clip's own bone lengths); torch in, torch out, differentiable. One matmul
    with the ancestor matrix instead of a walk down the tree: ITTO calls this on every step."""
    direction = joints[..., 1:, :] - joints[..., list(PARENTS[1:]), :]
    norm = direction.norm(dim=-1, keepdim=True)
    if lengths is None:
        lengths = norm.detach().squeeze(-1).median(dim=-2).values
    bones = direction / norm.clamp(min=1e-9) * lengths[..., None, :, None]
    chain = torch.as_tensor(ANCESTOR_BONES, dtype=joints.dtype, device=joints.device)
    return joints[..., :1, :] + chain @ bones


def bone_length_variation(joints: np.ndarray) -> float:
    """Largest std/mean over the 21 bones of a (T, 22, 3) motion: 0 for a rigid skeleton."""
    lengths = bone_lengths(np.asarray(joints, dtype=np.float64))
    return float((lengths.std(axis=0) / np.maximum(lengths.mean(axis=0), 1e-9)).max())
