"""Reading audio files into one mono float32 wave at the rate the caller asks for.

soundfile reads wav/flac/ogg directly; anything else (mp3, m4a, ...) goes through ffmpeg
(Debian's, else the imageio-ffmpeg binary). Bad input raises DanceMosaicError naming the file
and the fix, never returns silent garbage: missing or unreadable files, empty audio, NaN or
infinite samples, and sample rates outside the supported range are all refused.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np

from dancemosaic_core.common.errors import DanceMosaicError

# The demo song: Frozen Bubble's theme (GPL-2), installed from Debian's frozen-bubble-data by
# scripts/install.sh; the demo, and benchmarks that want a real song, dance to it.
DEMO_SONG = "/usr/share/games/frozen-bubble/snd/frozen-mainzik-1p.ogg"
DEMO_SONG_PACKAGE = "frozen-bubble-data"

MIN_SR = 8000     # telephone audio; below this the 35-d recipe's chroma bins alias
MAX_SR = 192000
SILENCE_RMS = 1e-4  # about -80 dBFS: below it a wave carries no usable music


def _ffmpeg() -> str | None:
    exe = shutil.which("ffmpeg")
    if exe:
        return exe
    try:
        import imageio_ffmpeg
        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:  # imageio-ffmpeg absent or its binary missing
        return None


def _read_soundfile(path: Path):
    import soundfile as sf
    data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    return data, int(sr)


def _read_ffmpeg(path: Path):
    exe = _ffmpeg()
    if exe is None:
        raise DanceMosaicError(f"{path}: this format needs ffmpeg to decode; install it "
                               "(apt-get install ffmpeg) or convert the file to wav/flac")
    probe = subprocess.run([exe, "-hide_banner", "-i", str(path)], capture_output=True, text=True)
    sr = None
    m = re.search(r"Audio:.*?(\d+) Hz", probe.stderr)
    if m:
        sr = int(m.group(1))
    if sr is None:
        raise DanceMosaicError(f"{path}: ffmpeg finds no audio stream in this file; "
                               "give a wav/flac/ogg/mp3 file with sound in it")
    out = subprocess.run([exe, "-hide_banner", "-loglevel", "error", "-i", str(path), "-f", "f32le",
                          "-acodec", "pcm_f32le", "-ac", "1", "-"], capture_output=True)
    if out.returncode != 0:
        raise DanceMosaicError(f"{path}: ffmpeg cannot decode it ({out.stderr.decode()[-200:].strip()}); "
                               "convert it to wav or flac")
    return np.frombuffer(out.stdout, dtype=np.float32)[:, None], sr


def to_mono(wave: np.ndarray) -> np.ndarray:
    """(n,), (n, channels) or (channels, n) with channels <= 8 -> (n,) float32 average."""
    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim == 1:
        return wave
    if wave.ndim != 2:
        raise DanceMosaicError(f"audio must be 1-D or 2-D (samples x channels), got shape {wave.shape}")
    if wave.shape[0] <= 8 < wave.shape[1]:
        wave = wave.T
    return wave.mean(axis=1, dtype=np.float64).astype(np.float32)


def resample(wave: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Band-limited resampling of a mono wave (audio/resample.py: soxr HQ's response, equal to
    a stream's output bit for bit)."""
    check_sr(sr_in)
    if sr_in == sr_out:
        return np.asarray(wave, dtype=np.float32)
    from dancemosaic_core.audio.resample import resample_wave
    return resample_wave(wave, sr_in, sr_out)


def check_sr(sr, what: str = "sample rate") -> int:
    if not np.isfinite(sr) or not (MIN_SR <= sr <= MAX_SR):
        raise DanceMosaicError(f"{what} {sr} Hz is outside {MIN_SR}..{MAX_SR} Hz; "
                               "resample the audio (e.g. `sox in.wav -r 44100 out.wav`)")
    return int(sr)


def check_wave(wave: np.ndarray, source: str = "audio") -> np.ndarray:
    """Refuse empty waves and NaN/inf samples; returns the wave as float32."""
    wave = np.asarray(wave, dtype=np.float32)
    if wave.size == 0:
        raise DanceMosaicError(f"{source}: contains no samples; give a file with sound in it")
    bad = ~np.isfinite(wave)
    if bad.any():
        raise DanceMosaicError(f"{source}: {int(bad.sum())} NaN/infinite samples (first at sample "
                               f"{int(np.flatnonzero(bad.reshape(-1))[0])}); the file is corrupt, re-export it")
    return wave


def is_silent(wave: np.ndarray, threshold_rms: float = SILENCE_RMS) -> bool:
    """True when the wave's RMS is below about -80 dBFS (or it has no samples)."""
    wave = np.asarray(wave, dtype=np.float64)
    return wave.size == 0 or float(np.sqrt(np.mean(wave * wave))) < threshold_rms


def load_audio(path, sr: int | None = None) -> tuple[np.ndarray, int]:
    """Read an audio file as (mono float32 wave, sample rate), resampled to `sr` when given.

    Stereo/multichannel is averaged to mono. Raises DanceMosaicError for a missing or
    unreadable file, no samples, NaN/inf samples or a rate outside 8..192 kHz.
    """
    path = Path(path)
    if not path.is_file():
        raise DanceMosaicError(f"{path}: audio file not found; check the path")
    if sr is not None:
        check_sr(sr, "requested sample rate")
    try:
        data, file_sr = _read_soundfile(path)
    except Exception as exc:  # soundfile raises its own LibsndfileError / RuntimeError
        if path.stat().st_size == 0:
            raise DanceMosaicError(f"{path}: the file is empty (0 bytes); give a real audio file") from exc
        try:
            data, file_sr = _read_ffmpeg(path)
        except DanceMosaicError as exc2:
            raise DanceMosaicError(f"{path}: unreadable audio ({exc}); {exc2}") from exc
    check_sr(file_sr, f"{path}: sample rate")
    wave = check_wave(to_mono(data), str(path))
    if sr is not None:
        wave = resample(wave, file_sr, sr)
        file_sr = int(sr)
    return wave, file_sr
