"""Music features: shape and column order at several frame rates, streaming == offline,
sample rates and channels, silence, bad files, the cache."""
import numpy as np
import pytest

from dancemosaic_core.audio import (
    COLUMN_NAMES,
    StreamingMusicFeatures,
    is_silent,
    load_audio,
    music_features,
    music_features_cached,
)
from dancemosaic_core.audio.features import (
    COL_BEAT,
    COL_ONSET,
    COL_PEAK,
    COLS_CHROMA,
    cache_key,
    local_features,
    n_frames,
    onset_envelope,
)
from dancemosaic_core.audio.synth import click_track
from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.motion.skeleton import MUSIC_FEATURE_DIM


def _music(seconds, sr, seed=0):
    """Clicks at 120 BPM over a chord that changes every 2 s: onsets, timbre and pitch content."""
    y, beats = click_track(120, seconds, sr, jitter_ms=3, seed=seed)
    t = np.arange(len(y)) / sr
    roots = np.array([220.0, 261.6, 329.6, 196.0])[(t // 2).astype(int) % 4]
    chord = sum(np.sin(2 * np.pi * roots * r * t) for r in (1.0, 1.26, 1.5))
    return (y + 0.05 * chord).astype(np.float32), beats


@pytest.mark.parametrize("fps", [20, 30, 60])
def test_shape_columns_and_onsets(fps):
    y, beats = _music(4.0, 22050)
    f = music_features(y, 22050, fps)
    assert f.dtype == np.float32 and f.shape == (1 + int(4.0 * fps * 512) // 512, MUSIC_FEATURE_DIM)
    assert len(COLUMN_NAMES) == MUSIC_FEATURE_DIM and COLUMN_NAMES[COL_ONSET] == "onset_env"
    assert np.isfinite(f).all()
    assert set(np.unique(f[:, COL_PEAK])) <= {0.0, 1.0} and set(np.unique(f[:, COL_BEAT])) <= {0.0, 1.0}
    # chroma_cens columns are unit-norm (or zero) per frame
    norms = np.linalg.norm(f[:, COLS_CHROMA], axis=1)
    assert np.allclose(norms[norms > 0], 1.0, atol=1e-5)
    # the onset envelope (col 0) is high within 0.1 s after each click and low elsewhere
    after_click = np.zeros(len(f), dtype=bool)
    for b in beats:
        i = int(np.round(b * fps))
        after_click[i:i + max(2, int(0.1 * fps))] = True
    assert f[after_click, COL_ONSET].mean() > 5 * f[~after_click, COL_ONSET].mean()
    peaks = np.flatnonzero(f[:, COL_PEAK])
    assert 0.5 * len(beats) <= len(peaks) <= 2 * len(beats)


def test_streaming_equals_offline_random_blocks():
    sr = 10240                                   # the 20 fps analysis rate: exact resampling-free case
    y, _ = _music(20.0, sr, seed=1)
    off = music_features(y, sr, 20)
    stream = StreamingMusicFeatures(sr, fps=20)
    rng = np.random.default_rng(0)
    i = 0
    while i < len(y):
        n = int(rng.integers(1, 6000))
        stream.push(y[i:i + n])
        i += n
        if rng.random() < 0.2:
            stream.features()
    final = stream.features()
    assert stream.start_frame() == 0 and len(final) > len(off) - 3 * 20   # only ~2.3 s still provisional
    np.testing.assert_allclose(final[:, :COL_BEAT], off[:len(final), :COL_BEAT], atol=1e-5)
    stream.update()                              # the audio since the last update, not yet computed
    with_prov = stream.features(provisional=True)
    assert len(with_prov) == len(off)
    stream.end()
    np.testing.assert_allclose(stream.features()[:, :COL_BEAT], off[:, :COL_BEAT], atol=1e-5)
    # the online beat column marks beats at the click rate (120 BPM = every 10 frames) after settling
    beats = np.flatnonzero(stream.features()[:, COL_BEAT])
    assert len(beats) >= 10 and np.median(np.diff(beats)) == 10


def test_streaming_features_are_computed_as_the_audio_arrives():
    """push() finalises frames once per update_seconds of audio, before anyone reads them, and
    every frame final at any point of the stream equals the offline feature."""
    sr = 10240
    y, _ = _music(8.0, sr, seed=3)
    off = music_features(y, sr, 20)
    stream = StreamingMusicFeatures(sr, fps=20, update_seconds=0.25)
    finalised = []
    for i in range(0, len(y), 512):
        stream.push(y[i:i + 512])
        finalised.append(stream.n_final)
    steps = np.flatnonzero(np.diff(finalised))
    assert finalised[-1] >= len(off) - 3 * 20 and len(steps) >= 20
    assert np.diff(steps).min() >= 4                         # 0.25 s = 5 blocks of 512 samples
    np.testing.assert_allclose(stream.features()[:, :COL_BEAT], off[:finalised[-1], :COL_BEAT], atol=1e-5)


def test_streaming_features_without_auto_update_wait_for_a_read_that_updates():
    """auto_update False (the live generator): push never recomputes, a read with update=False
    returns what was last computed, a read with update=True catches up to the same frames."""
    sr = 10240
    y, _ = _music(6.0, sr, seed=4)
    auto = StreamingMusicFeatures(sr, fps=20, update_seconds=0.5)
    lazy = StreamingMusicFeatures(sr, fps=20, update_seconds=0.5, auto_update=False)
    for i in range(0, len(y), 1024):
        auto.push(y[i:i + 1024])
        lazy.push(y[i:i + 1024])
    assert lazy.n_final == 0 and len(lazy.features(provisional=True, update=False)) == 0
    assert lazy.seconds_heard == auto.seconds_heard
    np.testing.assert_array_equal(lazy.features(), auto.features()[:lazy.n_final])
    assert lazy.n_final >= auto.n_final > 0


def test_streaming_resampled_stereo_equals_offline():
    sr = 44100
    y, _ = _music(8.0, sr, seed=2)
    stereo = np.stack([y, 0.5 * y], axis=1)
    off = music_features(stereo.mean(axis=1), sr, 20)
    stream = StreamingMusicFeatures(sr, fps=20, max_frames=50)
    for i in range(0, len(y), 2205):
        stream.push(stereo[i:i + 2205])
    stream.end()
    kept = stream.features()
    assert len(kept) == 50 and stream.start_frame() == len(off) - 50
    np.testing.assert_allclose(kept[:, :COL_BEAT], off[-50:, :COL_BEAT], atol=1e-5)


@pytest.mark.parametrize("sr", [8000, 16000, 48000, 96000])
def test_sample_rates_and_channels(tmp_path, sr):
    import soundfile as sf
    y, _ = _music(1.5, sr)
    path = tmp_path / f"m{sr}.wav"
    sf.write(path, np.stack([y, -y * 0.5], axis=1), sr)
    wave, got = load_audio(path)
    assert got == sr and wave.ndim == 1 and wave.dtype == np.float32
    np.testing.assert_allclose(wave, 0.25 * y, atol=1e-4)
    wave20, got20 = load_audio(path, sr=10240)
    assert got20 == 10240 and abs(len(wave20) - 1.5 * 10240) <= 2
    assert music_features(wave, sr).shape == (31, MUSIC_FEATURE_DIM)


def test_silence_is_finite_and_quiet():
    silent = np.zeros(3 * 22050, dtype=np.float32)
    assert is_silent(silent) and not is_silent(_music(1.0, 22050)[0])
    f = music_features(silent, 22050)
    assert np.isfinite(f).all()
    assert f[:, COL_ONSET].max() == 0 and f[:, COL_PEAK].sum() == 0 and f[:, COL_BEAT].sum() == 0


def test_bad_inputs(tmp_path):
    with pytest.raises(DanceMosaicError, match="not found"):
        load_audio(tmp_path / "missing.wav")
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"RIFF this is not audio" * 10)
    with pytest.raises(DanceMosaicError, match="junk.wav"):
        load_audio(junk)
    (tmp_path / "empty.flac").write_bytes(b"")
    with pytest.raises(DanceMosaicError, match="empty"):
        load_audio(tmp_path / "empty.flac")
    bad = np.ones(1000, dtype=np.float32)
    bad[10] = np.nan
    with pytest.raises(DanceMosaicError, match="NaN"):
        music_features(bad, 22050)
    with pytest.raises(DanceMosaicError, match="outside"):
        music_features(np.zeros(100, np.float32), 4000)
    with pytest.raises(DanceMosaicError, match="fps"):
        music_features(np.zeros(1000, np.float32), 22050, fps=10)


def test_cache_hit_and_key(tmp_path):
    import soundfile as sf
    y, _ = _music(1.0, 22050)
    path = tmp_path / "a.wav"
    sf.write(path, y, 22050)
    first = music_features_cached(path, fps=20, cache_dir=tmp_path / "c")
    files = list((tmp_path / "c").glob("*.npy"))
    assert len(files) == 1
    np.save(files[0], first + 1.0)      # a cache hit must read the file, not recompute
    assert np.array_equal(music_features_cached(path, fps=20, cache_dir=tmp_path / "c"), first + 1.0)
    assert cache_key(path, 20) != cache_key(path, 30)
    sf.write(path, 0.5 * y, 22050)
    assert cache_key(path, 20) != files[0].stem


@pytest.mark.parametrize("seconds", [0.05, 3.0])
def test_onset_envelope_alone_is_the_onset_column(seconds):
    y, _ = _music(seconds, 10240)
    env = onset_envelope(y, 10240)
    assert env.dtype == np.float64 and len(env) == n_frames(len(y))
    np.testing.assert_array_equal(env, local_features(y, 10240)[:, COL_ONSET])


def test_long_waves_are_computed_in_blocks_equal_to_one_pass(monkeypatch):
    from dancemosaic_core.audio import features as features_module
    from dancemosaic_core.audio import tempo as tempo_module
    sr = features_module.feature_sr(20.0)
    rng = np.random.default_rng(3)
    wave, _ = _music(9.3, sr)
    whole = features_module.local_features(wave, sr)                    # 9.3 s: one pass at 30 s blocks
    env_whole = tempo_module.onset_envelope_fine(wave, sr, 128)
    monkeypatch.setattr(features_module, "FEATURE_BLOCK_SECONDS", 2.0)  # now four blocks
    monkeypatch.setattr(tempo_module, "ONSET_BLOCK_SECONDS", float(rng.uniform(0.3, 0.7)))
    blocked = features_module.local_features(wave, sr)
    assert blocked.shape == whole.shape
    np.testing.assert_allclose(blocked, whole, atol=1e-5)
    np.testing.assert_allclose(tempo_module.onset_envelope_fine(wave, sr, 128), env_whole, atol=1e-9)
