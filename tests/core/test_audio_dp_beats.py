"""The numpy beat tracker (audio/dp_beats.py) gives librosa.beat.beat_track's frames exactly:
the features' beat column, which the shipped model was trained on, depends on it."""
import numpy as np
import pytest

from dancemosaic_core.audio.dp_beats import track_beats
from dancemosaic_core.audio.synth import click_track
from dancemosaic_core.audio.tempo import onset_envelope_fine
from dancemosaic_core.common.errors import DanceMosaicError

SR, HOP = 10240, 128          # the features' beat envelope: 80 frames a second


def envelopes():
    rng = np.random.default_rng(0)
    for bpm in (87.0, 128.0, 171.0):
        wave, _ = click_track(bpm, 12.0, sr=SR)
        yield f"clicks {bpm}", onset_envelope_fine(wave + 0.01 * rng.normal(size=len(wave)), SR, HOP)
    yield "noise", onset_envelope_fine(0.1 * rng.normal(size=8 * SR), SR, HOP)
    # a swung pattern with dropouts: many near-ties between predecessors
    env = np.zeros(900)
    env[::37] = 1.0
    env[18::74] = 0.6
    env[300:420] = 0.0
    yield "pattern", env + 0.05 * rng.random(900)
    yield "leading silence", np.r_[np.zeros(200), rng.random(500)]


@pytest.mark.parametrize("name,env", list(envelopes()), ids=lambda v: v if isinstance(v, str) else "")
@pytest.mark.parametrize("bpm", [75.0, 120.0, 143.0])
def test_beats_equal_librosa(name, env, bpm):
    librosa = pytest.importorskip("librosa")
    _, ref = librosa.beat.beat_track(onset_envelope=env, sr=SR, hop_length=HOP, bpm=bpm, tightness=100)
    ours = track_beats(env, fps=SR / HOP, bpm=bpm, tightness=100)
    assert len(ref) > 3
    np.testing.assert_array_equal(ours, ref)


def test_trimming_off_and_empty_envelopes_as_librosa():
    librosa = pytest.importorskip("librosa")
    env = np.r_[np.zeros(100), np.tile([1.0, 0, 0, 0, 0.2, 0, 0, 0], 60), np.full(100, 0.01)]
    _, ref = librosa.beat.beat_track(onset_envelope=env, sr=SR, hop_length=HOP, bpm=150.0, trim=False)
    np.testing.assert_array_equal(track_beats(env, fps=SR / HOP, bpm=150.0, trim=False), ref)
    assert len(track_beats(np.zeros(500), fps=80.0, bpm=120.0)) == 0


def test_bad_input_is_named():
    with pytest.raises(DanceMosaicError, match="1-D"):
        track_beats(np.zeros((2, 100)), fps=80.0, bpm=120.0)
    with pytest.raises(DanceMosaicError, match="bpm > 0"):
        track_beats(np.ones(100), fps=80.0, bpm=-5.0)
    with pytest.raises(DanceMosaicError, match="under two frames"):
        track_beats(np.ones(100), fps=4.0, bpm=200.0)
