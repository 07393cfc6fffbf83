"""Evaluation metrics: analytic cases from the definitions in the reference implementations."""
import numpy as np
import pytest

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.eval import (
    balance_rate,
    beat_align_score,
    diversity,
    fid,
    foot_skating,
    foot_skating_ratio,
    geometric_features,
    get_protocol,
    joint_limit_violations,
    kinetic_features,
    motion_beats,
    motion_features,
    motion_to_music_score,
    mpjpe,
    physical_foot_contact,
    truncate_beats,
    velocity_limit_violations,
)
from dancemosaic_core.eval.geometric import NUM_FEATURES
from dancemosaic_core.motion.skeleton import (
    LEFT_FOOT_JOINTS,
    NUM_JOINTS,
    RIGHT_FOOT_JOINTS,
    rest_pose,
)


def standing(frames: int) -> np.ndarray:
    """Rest pose with the toes on the floor (y = 0)."""
    pose = rest_pose()
    pose[:, 1] -= pose[[LEFT_FOOT_JOINTS[1], RIGHT_FOOT_JOINTS[1]], 1].min()
    return np.repeat(pose[None], frames, axis=0)


def wiggle(frames: int, seed: int, scale: float = 0.03) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return standing(frames) + np.cumsum(rng.normal(scale=scale, size=(frames, NUM_JOINTS, 3)), axis=0)


# --- kinetic ------------------------------------------------------------------------------
def test_constant_velocity_gives_squared_speeds_and_no_expenditure():
    fps, v = 30.0, np.array([0.6, -0.4, 0.8])          # m/s, y up
    t = np.arange(40)[:, None, None] / fps
    joints = standing(40) + t * v
    feats = kinetic_features(joints, frame_time=1 / fps, energy="physical").reshape(NUM_JOINTS, 3)
    np.testing.assert_allclose(feats[:, 0], v[0] ** 2 + v[2] ** 2, rtol=1e-9)
    np.testing.assert_allclose(feats[:, 1], v[1] ** 2, rtol=1e-9)
    np.testing.assert_allclose(feats[:, 2], 0.0, atol=1e-9)


def test_reference_frame_time_scales_energy_by_the_squared_ratio():
    fps, v = 30.0, np.array([1.0, 0.0, 0.0])
    joints = standing(20) + (np.arange(20)[:, None, None] / fps) * v
    ref = kinetic_features(joints).reshape(NUM_JOINTS, 3)        # frame time 1/60 as the reference
    np.testing.assert_allclose(ref[:, 0], (v[0] * 60 / fps) ** 2, rtol=1e-9)


def test_constant_acceleration_gives_its_magnitude_as_expenditure():
    fps, a = 60.0, np.array([0.0, -9.81, 2.0])
    t = np.arange(30)[:, None, None] / fps
    joints = standing(30) + 0.5 * t ** 2 * a
    feats = kinetic_features(joints, frame_time=1 / fps, energy="physical").reshape(NUM_JOINTS, 3)
    np.testing.assert_allclose(feats[:, 2], np.linalg.norm(a), rtol=1e-6)


# --- geometric ----------------------------------------------------------------------------
def test_geometric_features_are_fractions_and_translation_invariant():
    joints = wiggle(50, 0)
    g = geometric_features(joints)
    assert g.shape == (NUM_FEATURES,) == (32,)
    assert np.all((g >= 0) & (g <= 1))
    np.testing.assert_array_equal(geometric_features(joints + [3.0, -1.0, 7.5]), g)


def test_still_rest_pose_has_no_fast_features():
    g = geometric_features(standing(10))
    fast = [12, 13, 21, 22, 31]       # f_fast features in the reference order
    np.testing.assert_array_equal(g[fast], 0.0)


# --- protocols ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["finedance", "aistpp"])
def test_translated_copy_leaves_protocol_features_unchanged(name):
    protocol = get_protocol(name)
    joints = wiggle(80, 1)
    k, g = motion_features(joints, protocol)
    k2, g2 = motion_features(joints + [1.5, 0.2, -4.0], protocol)
    np.testing.assert_allclose(k2, k, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(g2, g)


def test_finedance_root_relative_joints_ignore_root_trajectory():
    """LODGE makes joints 1..21 root-relative per frame: a body carried along a curved path
    keeps their kinetic features; only the root's own (joint 0) change."""
    protocol = get_protocol("finedance")
    joints = wiggle(80, 2)
    t = np.arange(80) / 30.0
    carried = joints + np.stack([np.sin(t), 0 * t, t ** 2], axis=1)[:, None, :]
    k = motion_features(joints, protocol)[0].reshape(NUM_JOINTS, 3)
    k2 = motion_features(carried, protocol)[0].reshape(NUM_JOINTS, 3)
    np.testing.assert_allclose(k2[1:], k[1:], rtol=1e-9, atol=1e-9)
    assert not np.allclose(k2[0], k[0])


# --- FID / diversity ----------------------------------------------------------------------
def test_identical_sets_give_fid_zero_and_shift_gives_squared_mean_difference():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 5))
    assert fid(x, x) == pytest.approx(0.0, abs=1e-8)
    # a shift by one GT std in every dimension moves the normalised mean by 1 per dim
    shifted = x + x.std(axis=0)
    assert fid(shifted, x) == pytest.approx(5.0, rel=1e-6)


def test_diversity_of_two_points_is_their_normalised_distance():
    gt = np.array([[0.0, 0.0], [2.0, 4.0]])           # std (1, 2), mean (1, 2)
    gen = np.array([[1.0, 2.0], [2.0, 4.0]])          # normalised: (0, 0) and (1, 1)
    assert diversity(gen, gt) == pytest.approx(np.sqrt(2.0), rel=1e-9)


def test_fid_needs_two_motions():
    with pytest.raises(DanceMosaicError, match="at least 2"):
        fid(np.zeros((1, 3)), np.zeros((4, 3)))


# --- beat alignment -----------------------------------------------------------------------
def test_bas_is_one_on_beat_and_gaussian_when_shifted():
    music = np.array([0.5, 1.0, 1.5, 2.0])
    assert beat_align_score(music, music, 0.1) == pytest.approx(1.0)
    shift = 0.04
    assert beat_align_score(music, music + shift, 0.1) == pytest.approx(np.exp(-shift ** 2 / (2 * 0.01)))
    assert beat_align_score(music, np.array([]), 0.1) == 0.0
    assert beat_align_score(np.array([]), music, 0.1) is None


def test_bas_directions_differ_by_which_beats_are_averaged():
    music = np.array([1.0, 2.0])
    motion = np.array([1.0, 1.5, 2.0, 2.5])           # twice as many motion beats
    assert beat_align_score(music, motion, 0.05) == pytest.approx(1.0)
    half = np.exp(-0.5 ** 2 / (2 * 0.05 ** 2))
    assert motion_to_music_score(music, motion, 0.05) == pytest.approx((2 + 2 * half) / 4)


def test_music_beats_are_truncated_to_the_motion():
    beats = np.array([-0.1, 0.0, 1.0, 2.9, 3.0, 10.0])
    np.testing.assert_array_equal(truncate_beats(beats, 3.0), [0.0, 1.0, 2.9])


def bouncing(fps: float, beat_s: float, seconds: float) -> np.ndarray:
    """Whole body bobbing with speed |sin(pi t / beat)|: speed minima exactly on the beats."""
    t = np.arange(int(round(seconds * fps)) + 1) / fps
    y = 0.05 * (1 - np.cos(np.pi * t / beat_s))
    x = 0.02 * np.sin(0.7 * t)                        # slow drift so no frame is fully still
    return standing(len(t)) + np.stack([x, y, 0 * t], axis=1)[:, None, :]


def test_motion_beats_found_on_the_bounces():
    fps, beat = 30.0, 0.5
    mb = motion_beats(bouncing(fps, beat, 4.0), fps, smooth_s=5 / 30)
    expected = np.arange(1, 8) * beat
    assert len(mb) == len(expected)
    np.testing.assert_allclose(mb, expected, atol=1.01 / fps)


def test_bas_in_seconds_is_equal_across_frame_rates():
    """Beats every 0.5 s lie on the frame grids of 20, 30 and 60 fps: with sigma and
    smoothing in seconds the score is the same at every rate; in frames (the reference's
    3-frame sigma) it would not be."""
    beat, music = 0.5, np.arange(1, 8) * 0.5
    scores = {}
    for fps in (20.0, 30.0, 60.0):
        mb = motion_beats(bouncing(fps, beat, 4.0), fps, smooth_s=1 / 6)
        scores[fps] = beat_align_score(music + 0.03, mb, sigma_s=0.1)
    assert max(scores.values()) - min(scores.values()) < 1e-9
    assert scores[30.0] == pytest.approx(np.exp(-0.03 ** 2 / (2 * 0.1 ** 2)), rel=1e-9)


# --- foot metrics -------------------------------------------------------------------------
def test_fsr_of_a_foot_sliding_at_known_speed():
    """Left foot on the floor sliding along x at 1 m/s for the first half, planted after;
    right foot lifted. LODGE's measure is |mean(dx, dz)| = 0.5 m/s > 0.3 m/s: slides."""
    fps, n = 30.0, 61
    joints = standing(n)
    right = list(RIGHT_FOOT_JOINTS) + [5]
    joints[1:, right, 1] += 0.3                        # right foot up after the first frame
    t = np.minimum(np.arange(n), 30) / fps
    joints[:, list(LEFT_FOOT_JOINTS), 0] += t[:, None] * 1.0
    fs = foot_skating(joints, fps)
    assert fs["left_contact"] == n
    assert fs["left"] == pytest.approx(30 / n)          # displacements of frames 0..29 move
    assert fs["right"] == pytest.approx(0.0) and fs["right_contact"] == 1
    assert foot_skating_ratio([fs]) == pytest.approx((30 / n + 0.0) / 2)


def test_fsr_slow_slide_and_airborne_foot():
    fps, n = 30.0, 40
    joints = standing(n)
    joints[:, list(LEFT_FOOT_JOINTS), 2] += np.arange(n)[:, None] * (0.5 / fps)   # 0.25 m/s measure
    joints[1:, list(RIGHT_FOOT_JOINTS), 1] += 0.2
    joints[0, list(RIGHT_FOOT_JOINTS), 1] += 0.2
    joints[0, list(LEFT_FOOT_JOINTS), 1] += 0.0
    fs = foot_skating(joints, fps)
    assert fs["left"] == 0.0
    assert fs["right"] is None


def test_pfc_zero_when_feet_planted_and_positive_when_sliding_under_acceleration():
    fps, n = 30.0, 60
    t = np.arange(n) / fps
    joints = standing(n)
    joints[:, 0, 0] += 0.1 * np.sin(3 * t)             # accelerating root
    assert physical_foot_contact(joints, fps) == 0.0
    joints[:, list(LEFT_FOOT_JOINTS) + list(RIGHT_FOOT_JOINTS), 0] += 0.5 * t[:, None]
    assert physical_foot_contact(joints, fps) > 0.0


# --- robot / tokenizer ---------------------------------------------------------------------
def test_mpjpe_and_limits():
    a = np.zeros((4, NUM_JOINTS, 3))
    b = a + [0.0, 0.03, 0.04]
    assert mpjpe(a, b) == pytest.approx(0.05)
    assert mpjpe(a, b, align_root=True) == pytest.approx(0.0)
    q = np.array([[0.0, 0.0], [0.5, 1.2], [1.2, 0.0], [0.0, 0.0]])
    lim = joint_limit_violations(q, [-1, -1], [1, 1])
    assert lim["frame_rate"] == 0.5 and lim["value_rate"] == 0.25
    assert lim["max_excess"] == pytest.approx(0.2) and lim["dofs"] == [0, 1]
    q = np.array([[0.0, 0.0], [0.5, 0.5], [1.7, 0.5], [1.7, 0.5]])
    vel = velocity_limit_violations(q, fps=10.0, velocity_limit=[10.0, 10.0])
    assert vel["frame_rate"] == pytest.approx(1 / 3)    # only step 1->2 (12 rad/s) exceeds 10 rad/s
    assert vel["max_excess"] == pytest.approx(2.0) and vel["dofs"] == [0]
    assert balance_rate([{"fell": False}, {"fell": True}, {"fell": False}, {"fell": False}]) == 0.75
    with pytest.raises(DanceMosaicError, match="fell"):
        balance_rate([{"ok": 1}])


# --- robustness ---------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(4))
def test_random_inputs_never_give_nan(seed):
    rng = np.random.default_rng(seed)
    sets = [rng.normal(scale=rng.uniform(0.01, 2), size=(rng.integers(3, 40), NUM_JOINTS, 3))
            for _ in range(5)]
    sets.append(np.zeros((5, NUM_JOINTS, 3)))          # fully degenerate body
    protocol = get_protocol("finedance")
    kin, geo = zip(*(motion_features(j, protocol) for j in sets))
    assert np.isfinite(kin).all() and np.isfinite(geo).all()
    assert np.isfinite(fid(np.array(kin), np.array(kin)[::-1])) and np.isfinite(diversity(np.array(geo)))
    for j in sets:
        mb = motion_beats(j, 30.0, smooth_s=1 / 6)
        for s in (beat_align_score(rng.uniform(0, 2, 5), mb, 0.1), physical_foot_contact(j, 30.0)):
            assert np.isfinite(s)
        fs = foot_skating(j, 30.0)
        assert all(v is None or np.isfinite(v) for v in fs.values())
