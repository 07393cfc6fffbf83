"""Losses of the four stages that are more than a cross-entropy.

- tokenizer: eq. 1 (L1 reconstruction + beta commitment; the codebook term is the EMA update,
  models/rvq.py) + a velocity reconstruction term (L1 on frame differences);
- music tower: kinematic losses L_pos, L_vel, L_acc, L_foot (section 3.3, after EDGE) on joints
  decoded from straight-through Gumbel-softmax token samples (`gumbel_joints`), and the rhythm
  objective of motion/rhythm.py on the same joints (`rhythm_losses`, beyond the paper);
- pose tower: D(P, P_hat) of eq. 5 on random sparse constraints (`sample_constraints`).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from dancemosaic_core.inference.itto import constraint_error
from dancemosaic_core.models.tokenizer import MotionTokenizer
from dancemosaic_core.motion.normalize import Normalizer
from dancemosaic_core.motion.representation import FOOT_CONTACT, features_to_joints
from dancemosaic_core.motion.rhythm import RhythmTarget, mean_joint_speed, phase_from_channels
from dancemosaic_core.motion.skeleton import (
    BODY_PARTS,
    FOOT_JOINTS,
    MOTION_FPS,
    MUSIC_FEATURE_DIM,
    NUM_JOINTS,
    TOKEN_DOWNSAMPLE,
)
from dancemosaic_core.train.trainer import StepRandom


def frame_mask(lengths: torch.Tensor, frames: int) -> torch.Tensor:
    return torch.arange(frames, device=lengths.device)[None] < lengths[:, None]


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of x (B, T, ...) over valid frames (B, T) and all trailing entries."""
    m = mask.to(x.dtype).view(*mask.shape, *([1] * (x.ndim - 2)))
    return (x * m).sum() / (m.sum() * x[0, 0].numel()).clamp(min=1.0)


def tokenizer_loss(recon: torch.Tensor, motion: torch.Tensor, commit: torch.Tensor, lengths: torch.Tensor,
                   *, commit_weight: float, vel_weight: float) -> dict[str, torch.Tensor]:
    valid = frame_mask(lengths, motion.shape[1])
    rec = masked_mean((recon - motion).abs(), valid)
    vel = masked_mean((recon.diff(dim=1) - motion.diff(dim=1)).abs(), valid[:, 1:] & valid[:, :-1])
    return {"loss": rec + commit_weight * commit + vel_weight * vel, "rec": rec, "vel": vel, "commit": commit}


def joints_from_features(features: torch.Tensor, normalizer: Normalizer) -> torch.Tensor:
    """Normalised features (B, T, 263) -> joints (B, T, 22, 3), differentiable."""
    return features_to_joints(normalizer.denormalize(features.float()))


def gumbel_joints(logits: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor, tokenizer: MotionTokenizer,
                  normalizer: Normalizer, rand: StepRandom, *, tau: float = 1.0) -> torch.Tensor:
    """Joints (B, 4n, 22, 3) of the motion whose base-layer tokens are straight-through
    Gumbel-softmax samples of `logits` (B, n, K) at masked positions and the true tokens
    elsewhere; residual layers 1..Q-1 are the ground truth's (teacher forcing). Gradients reach
    the logits through the sampled one-hots; the tokenizer stays frozen."""
    K = logits.shape[-1]
    y = F.softmax((logits.float() + rand.gumbel(*logits.shape[1:])) / tau, dim=-1)
    hard = F.one_hot(y.argmax(-1), K).to(y.dtype)
    sample = hard + y - y.detach()                                       # straight-through
    true = F.one_hot(ids[..., 0].clamp(min=0), K).to(y.dtype)
    onehot = torch.where(mask.unsqueeze(-1), sample, true)
    z = onehot @ tokenizer.codebook(0).float() + tokenizer.get_codes_from_indices(ids[..., 1:]).sum(-2).float()
    return joints_from_features(tokenizer.decode_from_embeddings(z), normalizer)


def kinematic_losses(pred: torch.Tensor, target: torch.Tensor, target_features: torch.Tensor,
                     normalizer: Normalizer, lengths: torch.Tensor) -> dict[str, torch.Tensor]:
    """EDGE-style losses on joints (B, T, 22, 3), per frame (m, m/frame, m/frame^2):
    pos, vel, acc MSE; foot: predicted foot-joint velocity where the ground truth is in
    contact (contact channels of the true features) should be zero."""
    valid = frame_mask(lengths, pred.shape[1])
    v_pred, v_true = pred.diff(dim=1), target.diff(dim=1)
    a_pred, a_true = v_pred.diff(dim=1), v_true.diff(dim=1)
    contact = normalizer.denormalize(target_features.float())[..., FOOT_CONTACT] > 0.5    # (B, T, 4)
    foot_v = v_pred[:, :, list(FOOT_JOINTS)]                                             # (B, T-1, 4, 3)
    foot = (foot_v.pow(2).sum(-1) * contact[:, :-1].to(foot_v.dtype))
    v_ok = valid[:, 1:] & valid[:, :-1]
    return {"pos": masked_mean((pred - target).pow(2), valid),
            "vel": masked_mean((v_pred - v_true).pow(2), v_ok),
            "acc": masked_mean((a_pred - a_true).pow(2), v_ok[:, 1:] & v_ok[:, :-1]),
            "foot": masked_mean(foot, v_ok)}


def rhythm_losses(pred: torch.Tensor, target: torch.Tensor, condition: torch.Tensor, lengths: torch.Tensor,
                  rows: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """The rhythm objective (motion/rhythm.RhythmTarget) of predicted joints (B, T, 22, 3) on the
    beat phase in the music condition's rhythm channels (B, T, 41): L_rhythm = 1 + corr(speed,
    cos 2 pi phase) (speed dips on beats), L_energy = relu(1 - mean speed / the true motion's
    mean speed)^2 (the dance keeps the corpus's energy). Averaged over full-length windows with
    a beat grid (and `rows`, e.g. the rows the music tower saw); zero, still differentiable, when
    there are none."""
    phase, has_grid = phase_from_channels(condition[..., MUSIC_FEATURE_DIM:].float())
    use = has_grid & (lengths >= pred.shape[1])
    if rows is not None:
        use = use & rows
    if not bool(use.any()):
        zero = pred.sum() * 0.0
        return {"rhythm": zero, "energy": zero}
    floor = mean_joint_speed(target[use].float(), MOTION_FPS).mean(dim=1).detach()
    rhythm, energy = RhythmTarget(phase[use], floor).loss(pred[use].float(), MOTION_FPS)
    return {"rhythm": rhythm.mean(), "energy": energy.mean()}


CONSTRAINT_MODES = ("joints", "body_part", "keyframes", "joints_keyframes")


def sample_constraints(joints: torch.Tensor, lengths: torch.Tensor, rand: StepRandom, *,
                       max_joints: int = 5, keyframe_prob: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """Random sparse pose constraints from true joints (B, T, 22, 3), drawn per sample:
    random joints (1..max_joints) on every frame, a body part (skeleton.BODY_PARTS) on every
    frame, every joint on random keyframes, or random joints on random keyframes.
    Returns P (B, T, 22, 3) with zeros where free, and I (B, T, 22) bool."""
    B, T = joints.shape[:2]
    device = joints.device
    parts = list(BODY_PARTS.values())
    mode = rand.randint(0, len(CONSTRAINT_MODES))
    n_joints = rand.randint(1, max_joints + 1)
    joint_rank = rand.rand(NUM_JOINTS).argsort(-1).argsort(-1)
    some_joints = joint_rank < n_joints[:, None]                                        # (B, 22)
    part_table = torch.zeros(len(parts), NUM_JOINTS, dtype=torch.bool, device=device)
    for i, part in enumerate(parts):
        part_table[i, list(part)] = True
    part = part_table[rand.randint(0, len(parts))]                                      # (B, 22)
    keyframes = rand.rand(T) < keyframe_prob
    keyframes[torch.arange(B, device=device), (rand.rand() * lengths.clamp(min=1)).long().clamp(max=T - 1)] = True
    all_frames = torch.ones(B, T, dtype=torch.bool, device=device)
    all_joints = torch.ones(B, NUM_JOINTS, dtype=torch.bool, device=device)
    frames = torch.where((mode == 2) | (mode == 3), torch.ones_like(mode, dtype=torch.bool),
                         torch.zeros_like(mode, dtype=torch.bool))[:, None]
    frames = torch.where(frames, keyframes, all_frames)
    which = torch.where((mode == 1)[:, None], part, some_joints)
    which = torch.where((mode == 2)[:, None], all_joints, which)
    valid = frames[:, :, None] & which[:, None, :] & frame_mask(lengths, T)[:, :, None]
    return joints * valid.unsqueeze(-1).to(joints.dtype), valid


def pose_discrepancy(pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Batch mean of D(P, P_hat) (eq. 5)."""
    return constraint_error(pred, target, valid).mean()


def tokens_lengths(lengths: torch.Tensor) -> torch.Tensor:
    return lengths // TOKEN_DOWNSAMPLE
