"""The low-latency resampler (audio/resample.py): a stream equals one pass bit for bit, holds back
only the filter's half-length, and keeps soxr HQ's response (flat passband, 120 dB stopband)."""
import numpy as np
import pytest

from dancemosaic_core.audio.resample import Resampler, StreamResampler, resample_wave
from dancemosaic_core.common.errors import DanceMosaicError

OUT = 10240   # the 20 fps feature rate


@pytest.mark.parametrize("sr", [22050, 44100, 8000, 44056])   # 44056: more phases than tabulated
def test_stream_equals_one_pass_bit_for_bit_and_holds_back_only_the_half_filter(sr, monkeypatch):
    rng = np.random.default_rng(sr)
    x = rng.normal(size=int(1.5 * sr)).astype(np.float32)
    one = resample_wave(x, sr, OUT)
    import dancemosaic_core.audio.resample as resample_module
    monkeypatch.setattr(resample_module, "PARALLEL_OUTPUTS", 1000)     # a long wave's parts on threads
    np.testing.assert_array_equal(resample_wave(x, sr, OUT), one)
    stream = StreamResampler(sr_in=sr, sr_out=OUT)
    parts, i = [], 0
    while i < len(x):
        n = int(rng.integers(1, 2000))
        parts.append(stream.push(x[i:i + n]))
        i = min(len(x), i + n)
        held = i / sr - sum(map(len, parts)) / OUT
        # the newest output sits at most the filter's right half (+ one output period) behind
        assert held <= stream.delay_seconds + 1.0 / OUT + 1.0 / sr + 1e-9
    parts.append(stream.end())
    assert len(one) == -(-len(x) * OUT // sr)                    # ceil, as soxr and librosa count
    np.testing.assert_array_equal(np.concatenate(parts), one)
    assert stream.delay_seconds < 0.012
    with pytest.raises(DanceMosaicError, match="after end"):
        stream.push(x[:10])


@pytest.mark.parametrize("sr", [22050, 48000, 8000])
def test_passband_sines_stay_on_time_and_the_stopband_is_120_db_down(sr):
    t = np.arange(2 * sr) / sr
    edge = 0.5 * min(sr, OUT)
    for f in (100.0, 1000.0, 0.85 * edge):
        y = resample_wave(np.sin(2 * np.pi * f * t).astype(np.float32), sr, OUT)
        inner = np.arange(len(y))[OUT // 10:-OUT // 10]               # away from the signal's ends
        np.testing.assert_allclose(y[inner], np.sin(2 * np.pi * f * inner / OUT), atol=2e-5)
    if sr > OUT:
        for f in (1.05 * edge, 0.45 * sr):                           # would alias into the output band
            y = resample_wave(np.sin(2 * np.pi * f * t).astype(np.float32), sr, OUT)
            assert np.abs(y[OUT // 10:-OUT // 10]).max() < 1e-5


def test_rates_are_checked_and_equal_rates_pass_through():
    x = np.arange(5, dtype=np.float32)
    np.testing.assert_array_equal(resample_wave(x, 16000, 16000), x)
    with pytest.raises(DanceMosaicError, match="sample rate"):
        Resampler(sr_in=0, sr_out=OUT)
    assert len(resample_wave(np.zeros(0, np.float32), 22050, OUT)) == 0
    stream = StreamResampler(sr_in=16000, sr_out=16000)           # a stream at the rate: unchanged, no delay
    assert stream.push(x) is x and stream.delay_seconds == 0.0 and len(stream.end()) == 0
    with pytest.raises(DanceMosaicError, match="sample rate"):
        StreamResampler(sr_in=-5, sr_out=-5)
