"""Beat phase, rhythm channels, the differentiable rhythm objective and bone-length projection."""
import numpy as np
import pytest
import torch

from dancemosaic_core.common.errors import DanceMosaicError

from dancemosaic_core.eval.beats import beat_align_score, motion_beats
from dancemosaic_core.inference.itto import optimize_tokens
from dancemosaic_core.motion.bones import bone_length_variation, project_bone_lengths
from dancemosaic_core.motion.rhythm import (
    RHYTHM_CHANNELS,
    beat_phase,
    mean_joint_speed,
    planted_feet,
    rhythm_channels,
    rhythm_target,
)
from dancemosaic_core.motion.skeleton import FOOT_JOINTS, LEFT_FOOT_JOINTS, bone_lengths, rest_pose

FPS = 20


def test_beat_phase_is_zero_on_beats_and_extends_the_grid():
    beats = np.array([1.0, 1.5, 2.0, 2.5])
    phase = beat_phase(beats, 80, FPS)
    t = np.arange(80) / FPS
    for b in beats:
        assert phase[int(round(b * FPS))] == pytest.approx(0.0, abs=1e-9)
    assert phase[int(1.25 * FPS)] == pytest.approx(0.5)
    # before the first and after the last beat the 0.5 s grid continues
    assert phase[int(0.75 * FPS)] == pytest.approx(0.5)
    assert phase[int(3.5 * FPS)] == pytest.approx(0.0, abs=1e-9)
    assert ((phase >= 0) & (phase < 1)).all() and len(t) == len(phase)
    assert beat_phase(np.array([1.0]), 10, FPS) is None


def test_rhythm_channels_shape_tempo_and_no_grid():
    ch = rhythm_channels(np.arange(0, 5, 0.5), 100, FPS)
    assert ch.shape == (100, RHYTHM_CHANNELS)
    np.testing.assert_allclose(ch[:, 5], 120.0 / 120.0, atol=1e-6)     # 0.5 s period = 120 BPM
    assert ch[int(1.0 * FPS), 4] == pytest.approx(1.0)
    assert not rhythm_channels(np.zeros(0), 100, FPS).any()


def _pulsing(frames: int, period_s: float, offset_s: float) -> np.ndarray:
    """A rest pose whose joints swing sideways, speed dipping every period at offset_s."""
    t = np.arange(frames) / FPS
    x = 0.2 * np.sin(np.pi * (t - offset_s) / period_s - np.pi / 2)
    pose = rest_pose()[None].repeat(frames, 0)
    pose[..., 0] += x[:, None]
    return pose


def test_rhythm_loss_prefers_speed_dips_on_beats():
    beats = np.arange(0, 6, 0.5)
    on = torch.as_tensor(_pulsing(100, 0.5, 0.0))[None]
    off = torch.as_tensor(_pulsing(100, 0.5, 0.25))[None]
    target = rhythm_target(beats, 100, FPS, energy_floor=0.0)
    r_on, _ = target.loss(on, FPS)
    r_off, _ = target.loss(off, FPS)
    assert float(r_on) < 0.1 and float(r_off) > 1.9
    slow = rhythm_target(beats, 100, FPS, energy_floor=10.0)
    assert float(slow.loss(on, FPS)[1]) > 0.5 and float(target.loss(on, FPS)[1]) == 0.0


def test_rhythm_itto_moves_speed_dips_onto_the_beats_and_keeps_frozen_tokens():
    """A toy decoder (token i -> 4 frames of sideways offset); ITTO with the rhythm term only
    must raise BAS from the off-beat start and leave frozen tokens untouched."""
    torch.manual_seed(0)
    n, frames = 24, 96
    rest = torch.as_tensor(rest_pose())

    def decode(z):
        x = z[..., 0].repeat_interleave(4, dim=1)                      # (B, 96)
        pose = rest.expand(z.shape[0], frames, -1, -1).clone()
        pose[..., 0] = pose[..., 0] + x[..., None]
        return pose

    off = torch.as_tensor(_pulsing(frames, 0.5, 0.25)[:, 0, 0] - rest_pose()[0, 0])
    z0 = torch.zeros(1, n, 2)
    z0[0, :, 0] = off.reshape(n, 4).mean(1)
    beats = np.arange(0, 6, 0.5)
    frozen = torch.zeros(1, n, dtype=torch.bool)
    frozen[0, :3] = True
    res = optimize_tokens(z0, decode, rhythm=rhythm_target(beats, frames, FPS, energy_floor=0.0),
                          frozen=frozen, steps=150, lr=0.02)
    assert float(res.rhythm_after[0]) < float(res.rhythm_before[0]) - 0.5
    assert torch.equal(res.embeddings[0, :3], z0[0, :3])

    def bas(z):
        j = decode(z)[0].numpy()
        return beat_align_score(beats[beats < frames / FPS], motion_beats(j, FPS, smooth_s=5 / 30), 0.1)
    assert bas(res.embeddings) > bas(z0) + 0.3


def test_mean_joint_speed_matches_central_differences():
    j = torch.as_tensor(_pulsing(40, 0.5, 0.0))[None]
    s = mean_joint_speed(j, FPS)[0].numpy()
    ref = np.linalg.norm((j[0, 2:] - j[0, :-2]).numpy() * FPS / 2, axis=-1).mean(-1)
    np.testing.assert_allclose(s, ref, rtol=1e-6)


def test_bone_projection_makes_lengths_constant_and_keeps_directions():
    rng = np.random.default_rng(0)
    pose = rest_pose()[None].repeat(31, 0) + 0.02 * rng.standard_normal((31, 22, 3))   # odd: one median
    assert bone_length_variation(pose) > 0.02
    fixed = project_bone_lengths(torch.as_tensor(pose)).numpy()
    assert bone_length_variation(fixed) < 1e-9
    np.testing.assert_allclose(fixed[:, 0], pose[:, 0])                # root trajectory kept
    parents = [0, 0, 0]
    d_in = pose[:, 1:4] - pose[:, parents]
    d_out = fixed[:, 1:4] - fixed[:, parents]
    cos = (d_in * d_out).sum(-1) / np.linalg.norm(d_in, axis=-1) / np.linalg.norm(d_out, axis=-1)
    np.testing.assert_allclose(cos, 1.0, atol=1e-9)
    np.testing.assert_allclose(bone_lengths(fixed)[0], np.median(bone_lengths(pose), 0))


def _stepping(frames: int) -> torch.Tensor:
    """(1, T, 22, 3): rest pose on the floor; the left foot lifts 0.2 m and moves forward
    during the second quarter of the clip, the right foot stays put."""
    j = torch.as_tensor(rest_pose(), dtype=torch.float32)[None].repeat(frames, 1, 1)
    j[..., 1] -= j[:, list(FOOT_JOINTS), 1].min()                       # toes on the floor (y = 0)
    a, b = frames // 4, frames // 2
    lift = torch.sin(torch.linspace(0, torch.pi, b - a))
    for k in LEFT_FOOT_JOINTS:
        j[a:b, k, 1] += 0.2 * lift
        j[a:b, k, 2] += torch.linspace(0, 0.3, b - a)
        j[b:, k, 2] += 0.3
    return j[None]


def test_planted_feet_are_the_still_feet_on_the_floor():
    j = _stepping(40)
    planted = planted_feet(j, FPS)[0]                                      # (39, 4)
    right = [FOOT_JOINTS.index(k) for k in (8, 11)]
    assert planted[:, right].all()                                         # never moves
    left = [FOOT_JOINTS.index(k) for k in LEFT_FOOT_JOINTS]
    assert not planted[12:18, left].any()                                  # in the air
    assert planted[:8, left].all() and planted[-8:, left].all()            # before and after the step
    with pytest.raises(DanceMosaicError, match="planted feet"):
        planted_feet(j[0], FPS)


def test_foot_term_is_zero_when_planted_feet_stay_and_grows_when_they_slide():
    j = _stepping(40)
    beats = np.arange(0.25, 2.0, 0.5)
    target = rhythm_target(beats, 40, FPS, energy_floor=0.0, planted=planted_feet(j, FPS), foot_weight=10.0)
    assert float(target.foot_slide(j, FPS)[0]) == pytest.approx(0.0, abs=1e-10)
    slid = j.clone()
    slid[:, :, list(FOOT_JOINTS), 0] += torch.arange(40)[None, :, None] * (0.8 / FPS)   # 0.8 m/s sideways
    assert float(target.foot_slide(slid, FPS)[0]) == pytest.approx(0.8 ** 2, rel=1e-4)
    # it joins the total with its weight; without planted feet it is off
    free = rhythm_target(beats, 40, FPS, energy_floor=0.0)
    assert float(target.total(slid, FPS) - free.total(slid, FPS)) == pytest.approx(10 * 0.8 ** 2, rel=1e-4)
