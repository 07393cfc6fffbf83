"""The procedural choreographer: skeleton invariants, planted feet, beat alignment, genres,
determinism, bad input. Dances on a known beat grid use dance_to_beats (no audio); the click
track tests run the whole audio path."""
import numpy as np
import pytest

from dancemosaic_core.audio import music_features
from dancemosaic_core.audio.features import COL_BEAT, COL_ONSET
from dancemosaic_core.audio.synth import click_track
from dancemosaic_core.choreo import (
    DEFAULT_GENRE,
    GENRES,
    choreograph,
    choreograph_dance,
    dance_to_beats,
    get_style,
)
from dancemosaic_core.choreo.music import hear, onset_envelope
from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.eval.beats import beat_align_score, motion_beats, truncate_beats
from dancemosaic_core.eval.foot import foot_skating, foot_skating_ratio
from dancemosaic_core.eval.protocols import PROTOCOLS, to_protocol_rate
from dancemosaic_core.motion.io import load_motion, save_motion
from dancemosaic_core.motion.skeleton import (
    FOOT_JOINTS,
    LEFT_FOOT_JOINTS,
    MOTION_FPS,
    RIGHT_FOOT_JOINTS,
    bone_lengths,
    rest_pose,
)

SR = 22050


def beat_grid(bpm: float, seconds: float):
    """Beat times and an onset envelope (one frame per 1/20 s) with a peak on every beat."""
    beats = np.arange(0.0, seconds, 60.0 / bpm)
    env = np.full(int(seconds * MOTION_FPS), 0.1)
    env[np.round(beats * MOTION_FPS).astype(int)] = 1.0
    return beats, env


@pytest.fixture(scope="module")
def dances():
    beats, env = beat_grid(110, 12.0)
    return {g: dance_to_beats(beats, env, len(env), g, seed=3) for g in GENRES}


def bas(joints, beats, protocol="finedance"):
    p = PROTOCOLS[protocol]
    j = to_protocol_rate(joints, MOTION_FPS, p)
    return beat_align_score(truncate_beats(beats, len(j) / p.fps),
                            motion_beats(j, p.fps, smooth_s=p.bas_smooth_s), p.bas_sigma_s)


def test_bones_keep_their_rest_lengths(dances):
    rest = bone_lengths(rest_pose())
    for genre, d in dances.items():
        assert d.joints.shape == (240, 22, 3) and d.joints.dtype == np.float32, genre
        assert np.abs(bone_lengths(d.joints.astype(np.float64)) - rest).max() < 1e-5, genre


def test_lowest_foot_on_the_floor_and_nothing_below(dances):
    for genre, d in dances.items():
        assert d.joints[..., 1].min() > -0.01, genre
        np.testing.assert_allclose(d.joints[:, list(FOOT_JOINTS), 1].min(axis=1), 0.0, atol=1e-4)


def test_planted_feet_do_not_skate(dances):
    per_motion = [foot_skating(d.joints, MOTION_FPS) for d in dances.values()]
    for genre, fs in zip(dances, per_motion):
        assert fs["left_contact"] > 60 and fs["right_contact"] > 60, genre   # the feet do touch down
        assert fs["left"] < 0.05 and fs["right"] < 0.05, (genre, fs)
    assert foot_skating_ratio(per_motion) < 0.05


def test_stance_foot_is_still_while_the_other_swings(dances):
    """Whenever one foot is in the air, the toe of the one on the floor does not move."""
    for genre, d in dances.items():
        toes = d.joints[:, [LEFT_FOOT_JOINTS[1], RIGHT_FOOT_JOINTS[1]]].astype(np.float64)
        down = toes[..., 1] < 1e-4
        for side in (0, 1):
            still = down[1:, side] & down[:-1, side]
            step = np.linalg.norm(toes[1:, side, [0, 2]] - toes[:-1, side, [0, 2]], axis=-1)
            assert step[still].max(initial=0.0) < 1e-4, genre


def test_no_joint_moves_faster_than_a_dancer_can(dances):
    for genre, d in dances.items():
        speed = np.linalg.norm(np.diff(d.joints, axis=0), axis=-1) * MOTION_FPS
        assert speed.max() < 8.0, (genre, speed.max())                  # m/s (a fast punch ~6)


def test_feet_stay_apart(dances):
    """A stance is at least 10 cm wide; a swinging foot may pass closer (turns), not through."""
    for genre, d in dances.items():
        toes = d.joints[:, [LEFT_FOOT_JOINTS[1], RIGHT_FOOT_JOINTS[1]]]
        apart = np.linalg.norm(toes[:, 0, [0, 2]] - toes[:, 1, [0, 2]], axis=-1)
        both_down = (toes[..., 1] < 0.01).all(axis=1)
        assert apart[both_down].min() > 0.1 and apart.min() > 0.05, genre


def test_every_genre_dances_with_captions_covering_the_dance(dances):
    for genre, d in dances.items():
        assert d.genre == genre and np.isfinite(d.joints).all()
        spans = [(a, b) for _, a, b in d.captions]
        assert spans[0][0] == 0 and spans[-1][1] == 240, genre
        assert all(b > a for a, b in spans) and all(s[1] == t[0] for s, t in zip(spans, spans[1:]))
        assert all(c.split()[0] in ("a", "the", "someone") for c, _, _ in d.captions)
        assert d.text
    speeds = {g: np.linalg.norm(np.diff(d.joints, axis=0), axis=-1).mean() for g, d in dances.items()}
    assert speeds["Kun"] < speeds["Jazz"]                       # genres differ in vigour


def test_deterministic_for_a_seed_different_for_another():
    beats, env = beat_grid(120, 8.0)
    a = dance_to_beats(beats, env, len(env), "Hiphop", seed=7)
    b = dance_to_beats(beats, env, len(env), "Hiphop", seed=7)
    c = dance_to_beats(beats, env, len(env), "Hiphop", seed=8)
    np.testing.assert_array_equal(a.joints, b.joints)
    assert a.captions == b.captions
    assert np.abs(a.joints - c.joints).max() > 0.05


def test_moves_start_on_pulses_and_pulses_are_beats():
    beats, env = beat_grid(100, 12.0)
    d = dance_to_beats(beats, env, len(env), "Hiphop", seed=1)
    assert d.tempo_bpm == pytest.approx(100.0)                  # Hiphop dances every beat at 100
    pulse_frames = d.pulses * MOTION_FPS
    for part, name, start, _ in d.moves:
        if start > 0:
            assert np.abs(pulse_frames - start).min() <= 0.5, (part, name, start)
    inside = d.pulses[(d.pulses >= 0) & (d.pulses <= beats[-1])]
    assert np.abs(inside[:, None] - beats[None, :]).min(axis=1).max() < 1e-9


def test_fast_music_is_danced_in_half_time_slow_genres_slower():
    beats, env = beat_grid(180, 8.0)
    assert dance_to_beats(beats, env, len(env), "Breaking", 0).tempo_bpm == pytest.approx(90.0)
    beats, env = beat_grid(120, 8.0)
    assert dance_to_beats(beats, env, len(env), "Kun", 0).tempo_bpm == pytest.approx(60.0)


def test_louder_music_moves_more():
    beats, env = beat_grid(110, 16.0)
    env[: len(env) // 2] *= 0.2                                 # a quiet first half
    ratios = []
    for genre in ("Urban", "Hiphop"):
        for seed in range(3):
            d = dance_to_beats(beats, env, len(env), genre, seed=seed)
            speed = np.linalg.norm(np.diff(d.joints, axis=0), axis=-1).mean(axis=1)
            half = len(speed) // 2
            ratios.append(speed[half + 20:].mean() / speed[20:half - 20].mean())
    assert min(ratios) > 1.1 and np.mean(ratios) > 1.3


def test_heard_envelope_and_beats_are_the_music_features_columns():
    wave, _ = click_track(133, 5.1, sr=44100, noise=0.01)
    feats = music_features(wave, 44100)
    env = onset_envelope(wave, 44100)
    np.testing.assert_allclose(env, feats[:, COL_ONSET], atol=1e-5)
    beats, heard_env = hear(wave, 44100)
    np.testing.assert_array_equal(heard_env, env)
    frames = np.round(beats * 20).astype(int)
    np.testing.assert_array_equal(frames[frames < len(env)], np.flatnonzero(feats[:, COL_BEAT]))


def test_detected_beats_are_moved_onto_the_clicks():
    wave, truth = click_track(100, 8.0, sr=SR)
    beats, env = hear(wave, SR)
    assert len(env) == 1 + int(8.0 * 10240) // 512
    err = np.abs(beats[:, None] - truth[None, :]).min(axis=1)
    assert len(beats) >= 10 and np.median(err) < 0.015


def test_dance_is_on_the_beat_of_a_click_track():
    wave, truth = click_track(100, 10.0, sr=SR)
    motion = choreograph(wave, SR, "Hiphop", 0)
    period = 0.6
    on, quarter, half = (bas(motion.joints, truth + shift) for shift in (0.0, period / 4, period / 2))
    assert on > 0.5
    assert on > quarter + 0.2 and on > half + 0.2
    assert bas(motion.joints, truth, "aistpp") > 0.5


def test_unknown_genre_lists_the_valid_ones():
    with pytest.raises(DanceMosaicError) as err:
        choreograph(np.zeros(SR, np.float32), SR, "Salsa", 0)
    assert "Salsa" in str(err.value) and all(g in str(err.value) for g in GENRES)


def test_genre_spellings():
    assert get_style("jazz").name == "Jazz" and get_style("Dai").name == "Tai"
    assert get_style("hiphop").name == "Hiphop" and get_style("Break").name == "Breaking"
    assert get_style("").name == DEFAULT_GENRE
    assert len(GENRES) == 16


def test_silence_gives_a_calm_dance_in_place():
    d = choreograph_dance(np.zeros(4 * SR, np.float32), SR, "Breaking", 0)
    assert d.joints.shape == (1 + 4 * 10240 // 512, 22, 3) and np.isfinite(d.joints).all()
    assert all("sway" in c or "rocks gently" in c for c, _, _ in d.captions)
    assert np.ptp(d.joints[:, 0, [0, 2]], axis=0).max() < 0.3


def test_short_audio():
    wave, _ = click_track(120, 1.0, sr=SR)
    assert choreograph(wave, SR, "Popping", 0).joints.shape == (21, 22, 3)
    assert choreograph(np.full(100, 0.1, np.float32), SR, "Popping", 0).joints.shape == (1, 22, 3)
    with pytest.raises(DanceMosaicError):
        choreograph(np.zeros(0, np.float32), SR, "Popping", 0)
    with pytest.raises(DanceMosaicError):
        choreograph(np.full(SR, np.nan, np.float32), SR, "Popping", 0)


def test_motion_keeps_captions_through_a_file(tmp_path):
    wave, _ = click_track(120, 3.0, sr=SR)
    motion = choreograph(wave, SR, "Korean", 0)
    assert motion.fps == MOTION_FPS and motion.genre == "Korean" and motion.text
    back = load_motion(save_motion(tmp_path / "dance.npz", motion))
    assert list(back.extra["captions"]) == list(motion.extra["captions"])
    np.testing.assert_array_equal(back.extra["caption_spans"], motion.extra["caption_spans"])


def stream(genre, bpm_of_chunk, chunks=16, n=40, offset=0.23, seed=0):
    """Frames from the streaming choreographer fed an ideal tracker's state before each chunk."""
    from dancemosaic_core.audio.beat import BeatState
    from dancemosaic_core.choreo.streaming import Choreographer
    dancer = Choreographer(genre=genre, seed=seed)
    out, beats, t_beat = [], [], offset
    for c in range(chunks):
        bpm = bpm_of_chunk(c)
        now = c * n / MOTION_FPS
        while t_beat <= now:
            beats.append(t_beat)
            t_beat += 60.0 / bpm
        state = BeatState(bpm, 0.0, beats[-1], t_beat + 60.0 / bpm * np.arange(8), 1.0) if beats else None
        out.append(dancer.next_frames(state, n))
    while t_beat < chunks * n / MOTION_FPS:
        beats.append(t_beat)
        t_beat += 60.0 / bpm_of_chunk(chunks - 1)
    return np.concatenate(out), np.array(beats)


def test_streaming_dance_is_continuous_on_the_beat_and_keeps_the_invariants():
    joints, beats = stream("Hiphop", lambda c: 110.0)
    assert joints.shape == (640, 22, 3)
    assert np.abs(bone_lengths(joints.astype(np.float64)) - bone_lengths(rest_pose())).max() < 1e-5
    assert np.linalg.norm(np.diff(joints, axis=0), axis=-1).max() * MOTION_FPS < 8.0  # chunk seams too
    fs = foot_skating(joints, MOTION_FPS)
    assert fs["left"] < 0.05 and fs["right"] < 0.05
    skip = beats >= 2.0                                          # after locking on
    tail = joints[40:]
    on = bas(tail, beats[skip] - 2.0)
    assert on > 0.5 and on > bas(tail, beats[skip] - 2.0 + 60 / 110 / 2) + 0.2


def test_streaming_follows_a_tempo_change_and_runs_without_a_beat():
    joints, beats = stream("Jazz", lambda c: 100.0 if c < 8 else 130.0)
    assert np.linalg.norm(np.diff(joints, axis=0), axis=-1).max() * MOTION_FPS < 8.0
    late = beats[beats >= 10.0] - 10.0
    assert bas(joints[200:], late) > 0.5                         # locked to the new tempo
    from dancemosaic_core.choreo.streaming import Choreographer
    free = Choreographer(genre="Kun", seed=1)
    frames = np.concatenate([free.next_frames(None, 30) for _ in range(4)])
    assert frames.shape == (120, 22, 3) and np.isfinite(frames).all()
    again = Choreographer(genre="Kun", seed=1)
    np.testing.assert_array_equal(frames, np.concatenate([again.next_frames(None, 30) for _ in range(4)]))
