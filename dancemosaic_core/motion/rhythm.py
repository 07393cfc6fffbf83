"""Rhythm of a motion against a beat grid: beat phase per frame, and the differentiable rhythm
objective that beat-aware ITTO and the music tower's rhythm loss minimise (beyond the paper).

The quantity judged is the one the Beat Align Score reads (eval/beats.py): motion beats are the
minima of the mean joint speed. So the objective asks the speed profile to be low on the music's
beats and high between them, i.e. anti-correlated with cos(2 pi phase) (phase 0 on a beat):

    L_rhythm = 1 + corr(s, cos 2 pi phi)       in [0, 2], 0 when the speed dips exactly on beats

Correlation is scale-free, so a second term keeps the motion's energy where it should be (a
motion that stops moving has no pulse to align):

    L_energy = relu(1 - mean(s) / s_target)^2

with s the mean joint speed per frame (central differences, m/s) and s_target a floor in m/s.
Energy must not come from sliding feet: where the starting motion has a foot joint planted
(`planted_feet`: on the floor and still), a third term holds it there,

    L_foot = mean over planted (t, j) of |v_j(t)|^2      (m/s)^2, forward differences

the kinematic foot loss of the paper's music stage (after EDGE) with the starting motion's
contacts as the truth.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.motion.skeleton import FOOT_JOINTS, LEFT_FOOT_JOINTS, RIGHT_FOOT_JOINTS

MIN_BEATS = 2          # a phase needs at least one inter-beat interval
# The tempo channel is BPM / TEMPO_SCALE so it varies on the unit scale of the other channels.
TEMPO_SCALE = 120.0
RHYTHM_CHANNELS = 6    # sin/cos of the beat phase, sin/cos of twice it, beat proximity, tempo
BEAT_PROXIMITY_S = 0.05  # width (s) of the beat-proximity bump; BAS's own sigma at 60 fps
# A foot joint is planted at heights above the motion's floor up to LODGE's FSR contact
# thresholds (eval/foot.py: ankle 0.08 m, toe 0.05 m) and moving slower than FSR's slide speed.
PLANT_HEIGHT = {"ankle": 0.08, "toe": 0.05}
PLANT_SPEED = 0.3        # m/s


def beat_phase(beat_times: np.ndarray, frames: int, fps: float) -> np.ndarray | None:
    """(frames,) phase in [0, 1) of each frame time in its inter-beat interval, 0 on a beat.
    Before the first and after the last beat the nearest interval's period continues the grid.
    None when fewer than two beats are given (no tempo, no phase)."""
    beats = np.sort(np.asarray(beat_times, dtype=np.float64).reshape(-1))
    beats = beats[np.isfinite(beats)]
    if len(beats) < MIN_BEATS:
        return None
    if np.any(np.diff(beats) <= 0):
        beats = np.unique(beats)
        if len(beats) < MIN_BEATS:
            return None
    t = np.arange(int(frames), dtype=np.float64) / float(fps)
    # beat index as a continuous function of time: linear between beats, extended at both ends
    first_period, last_period = beats[1] - beats[0], beats[-1] - beats[-2]
    idx = np.interp(t, beats, np.arange(len(beats), dtype=np.float64))
    idx = np.where(t < beats[0], (t - beats[0]) / first_period, idx)
    idx = np.where(t > beats[-1], len(beats) - 1 + (t - beats[-1]) / last_period, idx)
    return np.mod(idx, 1.0)


def rhythm_channels(beat_times: np.ndarray, frames: int, fps: float) -> np.ndarray:
    """(frames, RHYTHM_CHANNELS) float32 model inputs from a beat grid: sin/cos of the phase at
    the beat and at twice its rate, a Gaussian bump at each beat, and the local tempo / 120 BPM.
    All zeros where no grid exists (fewer than two beats): the model's 'no rhythm' input."""
    out = np.zeros((int(frames), RHYTHM_CHANNELS), dtype=np.float32)
    phase = beat_phase(beat_times, frames, fps)
    if phase is None:
        return out
    beats = np.unique(np.asarray(beat_times, dtype=np.float64)[np.isfinite(beat_times)])
    t = np.arange(int(frames)) / float(fps)
    out[:, 0], out[:, 1] = np.sin(2 * np.pi * phase), np.cos(2 * np.pi * phase)
    out[:, 2], out[:, 3] = np.sin(4 * np.pi * phase), np.cos(4 * np.pi * phase)
    nearest = np.abs(t[:, None] - beats[None, :]).min(axis=1)
    out[:, 4] = np.exp(-nearest ** 2 / (2 * BEAT_PROXIMITY_S ** 2))
    periods = np.diff(beats)
    mids = beats[:-1] + periods / 2
    local_period = np.interp(t, mids, periods) if len(mids) > 1 else np.full(len(t), periods[0])
    out[:, 5] = 60.0 / local_period / TEMPO_SCALE
    return out


def phase_from_channels(channels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Inverse of `rhythm_channels` for a batch: (B, T, RHYTHM_CHANNELS) -> (phase (B, T) in
    [0, 1), has_grid (B,) bool). A row without a beat grid has all-zero channels (tempo 0)."""
    if channels.ndim != 3 or channels.shape[-1] != RHYTHM_CHANNELS:
        raise DanceMosaicError(f"rhythm channels have shape {tuple(channels.shape)}; expected "
                               f"(batch, frames, {RHYTHM_CHANNELS}) from rhythm_channels")
    phase = torch.remainder(torch.atan2(channels[..., 0], channels[..., 1]) / (2 * torch.pi), 1.0)
    return phase, channels[..., 5].amax(dim=1) > 0


def mean_joint_speed(joints: torch.Tensor, fps: float) -> torch.Tensor:
    """(B, T, J, 3) positions -> (B, T-2) mean joint speed (m/s) at frames 1..T-2, central
    differences as eval/beats.joint_speed, so a speed minimum sits at its frame time."""
    if joints.ndim != 4 or joints.shape[1] < 3:
        raise DanceMosaicError(f"rhythm needs joints (batch, frames >= 3, joints, 3), got {tuple(joints.shape)}")
    vel = (joints[:, 2:] - joints[:, :-2]) * (fps / 2.0)
    return vel.norm(dim=-1).mean(dim=-1)


def planted_feet(joints: torch.Tensor, fps: float) -> torch.Tensor:
    """(B, T-1, 4) bool over FOOT_JOINTS (left ankle, left toe, right ankle, right toe): the
    joint is on the floor at frames t and t+1 and moves slower than PLANT_SPEED between them;
    the floor is the lowest toe of the clip (y up)."""
    if joints.ndim != 4 or joints.shape[1] < 2:
        raise DanceMosaicError(f"planted feet need joints (batch, frames >= 2, joints, 3), got {tuple(joints.shape)}")
    feet = joints[:, :, list(FOOT_JOINTS)]                                       # (B, T, 4, 3)
    toes = [FOOT_JOINTS.index(j) for j in (LEFT_FOOT_JOINTS[1], RIGHT_FOOT_JOINTS[1])]
    floor = feet[:, :, toes, 1].amin(dim=(1, 2))[:, None, None]
    limit = feet.new_tensor([PLANT_HEIGHT["toe"] if i in toes else PLANT_HEIGHT["ankle"] for i in range(4)])
    low = (feet[..., 1] - floor) <= limit
    speed = (feet[:, 1:] - feet[:, :-1]).norm(dim=-1) * fps
    return low[:, 1:] & low[:, :-1] & (speed < PLANT_SPEED)


@dataclass
class RhythmTarget:
    """What the rhythm objective aligns to: phase (B, T) per frame (0 on beats), the motion's
    energy floor (B,) in m/s, the weights of the terms, and optionally the starting motion's
    planted feet (B, T-1, 4) (planted_feet) that the foot term holds."""
    phase: torch.Tensor
    energy_floor: torch.Tensor
    weight: float = 1.0
    energy_weight: float = 1.0
    planted: torch.Tensor | None = None
    foot_weight: float = 0.0

    def loss(self, joints: torch.Tensor, fps: float) -> tuple[torch.Tensor, torch.Tensor]:
        """(rhythm term (B,), energy term (B,)) of `joints` (B, T, J, 3); each frame of the
        phase must cover the joints' frames (extra phase frames are ignored)."""
        speed = mean_joint_speed(joints, fps)                               # (B, T-2)
        frames = speed.shape[1]
        if self.phase.shape[-1] < frames + 2:
            raise DanceMosaicError(f"rhythm phase covers {self.phase.shape[-1]} frames, motion has {frames + 2}")
        template = torch.cos(2 * torch.pi * self.phase[..., 1:frames + 1]).to(speed.dtype)
        template = template.expand_as(speed)
        s = speed - speed.mean(dim=1, keepdim=True)
        c = template - template.mean(dim=1, keepdim=True)
        corr = (s * c).sum(1) / (s.norm(dim=1) * c.norm(dim=1) + 1e-8)
        floor = self.energy_floor.to(speed.dtype).clamp(min=1e-6)
        energy = torch.relu(1.0 - speed.mean(dim=1) / floor) ** 2
        return 1.0 + corr, energy

    def foot_slide(self, joints: torch.Tensor, fps: float) -> torch.Tensor:
        """L_foot (B,): mean squared velocity (m/s)^2 of the foot joints where `planted` holds."""
        if self.planted is None:
            return joints.new_zeros(joints.shape[0])
        frames = joints.shape[1] - 1
        if self.planted.shape[1] < frames:
            raise DanceMosaicError(f"planted feet cover {self.planted.shape[1] + 1} frames, motion has {frames + 1}")
        feet = joints[:, :, list(FOOT_JOINTS)]
        v2 = ((feet[:, 1:] - feet[:, :-1]) * fps).pow(2).sum(-1)             # (B, T-1, 4)
        mask = self.planted[:, :frames].to(v2.dtype)
        return (v2 * mask).sum(dim=(1, 2)) / mask.sum(dim=(1, 2)).clamp(min=1.0)

    def total(self, joints: torch.Tensor, fps: float) -> torch.Tensor:
        rhythm, energy = self.loss(joints, fps)
        total = self.weight * rhythm + self.energy_weight * energy
        if self.foot_weight > 0:
            total = total + self.foot_weight * self.foot_slide(joints, fps)
        return total


def rhythm_target(beat_times: np.ndarray, frames: int, fps: float, *, energy_floor: float | torch.Tensor,
                  weight: float = 1.0, energy_weight: float = 1.0, planted: torch.Tensor | None = None,
                  foot_weight: float = 0.0, device=None) -> RhythmTarget | None:
    """A batch-of-one RhythmTarget for a beat grid (seconds from the motion's first frame);
    None when the grid has fewer than two beats. planted (1, frames-1, 4): see planted_feet."""
    phase = beat_phase(beat_times, frames, fps)
    if phase is None:
        return None
    floor = torch.as_tensor(energy_floor, dtype=torch.float32, device=device).reshape(-1)
    return RhythmTarget(torch.as_tensor(phase, dtype=torch.float32, device=device)[None], floor,
                        float(weight), float(energy_weight), planted, float(foot_weight))
