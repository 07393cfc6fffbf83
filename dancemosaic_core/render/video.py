"""Writing rendered frames to video files: H.264 MP4 with the music muxed in, GIF, side-by-side
comparisons and text captions.

Frames are (H, W, 3) uint8 RGB arrays from any iterable; `write_video` streams them to ffmpeg's
stdin one at a time, so a whole song's video never sits in memory. ffmpeg is the binary bundled
with imageio-ffmpeg (honours IMAGEIO_FFMPEG_EXE), else the system's (Debian `ffmpeg`).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import wave as wavefile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from dancemosaic_core.common.errors import DanceMosaicError

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv")


@dataclass
class VideoResult:
    success: bool
    path: Path
    frames: int
    width: int
    height: int
    fps: float
    has_audio: bool

    @property
    def seconds(self) -> float:
        return self.frames / self.fps


@dataclass
class VideoInfo:
    """What ffmpeg reports about a media file (see `probe_video`)."""
    width: int
    height: int
    fps: float
    duration: float            # seconds of the container, 0 when unknown
    video_codec: str
    audio_codec: str           # "" when the file has no audio stream

    @property
    def has_audio(self) -> bool:
        return bool(self.audio_codec)


def ffmpeg_exe() -> str:
    """Path of an ffmpeg binary able to encode H.264; raises DanceMosaicError naming the fix."""
    try:
        import imageio_ffmpeg
        exe = imageio_ffmpeg.get_ffmpeg_exe()
        if exe and Path(exe).is_file():
            return exe
    except Exception:  # imageio-ffmpeg missing or its binary not shipped for this platform
        pass
    exe = shutil.which("ffmpeg")
    if exe:
        return exe
    raise DanceMosaicError("no ffmpeg binary found; install one with `pip install imageio-ffmpeg` "
                           "or `apt-get install ffmpeg`")


def check_frame(frame, index: int = 0) -> np.ndarray:
    """Validate one RGB frame: (H, W, 3) uint8 (RGBA drops alpha; float in [0, 1] is scaled)."""
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] not in (3, 4) or frame.shape[0] < 1 or frame.shape[1] < 1:
        raise DanceMosaicError(f"frame {index} has shape {frame.shape}; expected (height, width, 3) RGB")
    frame = frame[..., :3]
    if frame.dtype != np.uint8:
        if not np.issubdtype(frame.dtype, np.floating) or not np.isfinite(frame).all():
            raise DanceMosaicError(f"frame {index} has dtype {frame.dtype} (or NaN); give uint8 RGB, "
                                   "or floats in [0, 1]")
        frame = (np.clip(frame, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
    return np.ascontiguousarray(frame)


def _write_wav(path: Path, wave: np.ndarray, sr: int) -> None:
    """16-bit PCM wav of a mono (n,) or (n, channels) float wave in [-1, 1]."""
    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim == 1:
        wave = wave[:, None]
    elif wave.ndim == 2 and wave.shape[0] <= 8 < wave.shape[1]:
        wave = wave.T                                  # (channels, samples) -> (samples, channels)
    if wave.ndim != 2 or wave.size == 0 or not np.isfinite(wave).all():
        raise DanceMosaicError(f"audio wave has shape {wave.shape} or NaN samples; give a finite "
                               "(samples,) or (samples, channels) float array")
    pcm = (np.clip(wave, -1.0, 1.0) * 32767).astype("<i2")
    with wavefile.open(str(path), "wb") as w:
        w.setnchannels(pcm.shape[1])
        w.setsampwidth(2)
        w.setframerate(int(sr))
        w.writeframes(pcm.tobytes())


def _ffmpeg_report(path: Path) -> str:
    return subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr


def _duration(report: str) -> float:
    found = re.search(r"Duration: (\d+):(\d+):([\d.]+)", report)
    if found is None:
        return 0.0
    h, m, s = found.groups()
    return int(h) * 3600 + int(m) * 60 + float(s)


def _audio_input(audio, offset: float, workdir: Path) -> Path | None:
    if audio is None:
        return None
    if isinstance(audio, (str, os.PathLike)):
        path = Path(audio)
        if not path.is_file():
            raise DanceMosaicError(f"music file {path} does not exist; give an existing audio file "
                                   "or leave the music out")
        report = _ffmpeg_report(path)
        if re.search(r"Stream #\S+.*?: Audio:", report) is None:
            raise DanceMosaicError(f"music file {path} has no audio stream ffmpeg can read; give a "
                                   "wav/flac/ogg/mp3 file")
        seconds = _duration(report)
        if seconds and offset >= seconds:
            raise DanceMosaicError(f"audio offset {offset:.2f} s is past the end of {path} ({seconds:.2f} s); "
                                   "give a smaller offset or the right music file")
        return path
    try:
        wave, sr = audio
    except (TypeError, ValueError):
        raise DanceMosaicError("audio must be a file path or a (wave, sample_rate) pair") from None
    if not isinstance(sr, (int, np.integer, float, np.floating)) or not float(sr).is_integer() or sr <= 0:
        raise DanceMosaicError(f"audio sample rate {sr!r} is not a positive integer")
    samples = np.shape(wave)[0] if np.ndim(wave) == 1 else max(np.shape(wave)) if np.ndim(wave) == 2 else 0
    if samples == 0:
        raise DanceMosaicError("the audio wave has no samples; give (samples,) or (samples, channels) audio")
    if offset >= samples / int(sr):
        raise DanceMosaicError(f"audio offset {offset:.2f} s is past the end of the "
                               f"{samples / int(sr):.2f} s wave; give a smaller offset")
    path = workdir / "audio.wav"
    _write_wav(path, wave, int(sr))
    return path


def write_video(path, frames: Iterable, fps: float, audio=None, *, audio_offset: float = 0.0,
                crf: int = 20, preset: str = "veryfast") -> VideoResult:
    """Encode RGB frames to an H.264 (yuv420p) video at `fps`, streaming them to ffmpeg.

    audio: None, a path of any file ffmpeg reads, or (wave, sample_rate); it is encoded AAC,
    starts `audio_offset` seconds into the music and is cut to the video's length (music shorter
    than the video ends in silence). Odd frame sizes are padded by one pixel (yuv420p needs even
    sizes). The file appears only when complete: a failure leaves no partial video behind.
    """
    path = Path(path)
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        hint = "; use write_gif for GIFs" if path.suffix.lower() == ".gif" else ""
        raise DanceMosaicError(f"cannot write video {path}: use a {'/'.join(VIDEO_SUFFIXES)} file name{hint}")
    if not (np.isfinite(fps) and fps > 0):
        raise DanceMosaicError(f"video frame rate {fps} must be a positive number")
    if audio_offset < 0:
        raise DanceMosaicError(f"audio offset {audio_offset} s is negative; give 0 or more")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.stem}.partial{path.suffix}")
    with tempfile.TemporaryDirectory(prefix="dancemosaic_video_") as tmp:
        tmp = Path(tmp)
        audio_path = _audio_input(audio, audio_offset, tmp)
        # the frame count is known only once the stream ends, so the music is muxed in a second,
        # cheap pass (video copied) with an exact duration; `-shortest` overshoots by up to 1 s
        silent = partial if audio_path is None else tmp / f"video{path.suffix}"
        try:
            count, width, height = _encode_frames(silent, frames, fps, crf, preset, tmp / "ffmpeg.log")
            if audio_path is not None:
                _run_ffmpeg([ffmpeg_exe(), "-y", "-hide_banner", "-loglevel", "error", "-i", str(silent),
                             "-ss", f"{audio_offset:.6f}", "-i", str(audio_path),
                             "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-af", "apad",
                             "-c:a", "aac", "-b:a", "160k", "-t", f"{count / fps:.6f}",
                             "-movflags", "+faststart", str(partial)], path)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    partial.replace(path)
    return VideoResult(success=True, path=path, frames=count, width=width, height=height,
                       fps=float(fps), has_audio=audio_path is not None)


def _run_ffmpeg(cmd: list[str], target: Path) -> None:
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise DanceMosaicError(f"ffmpeg failed writing {target} (exit {res.returncode}): "
                               f"{res.stderr.strip()[-600:] or 'no message'}; check that the music file "
                               "is readable audio and the disk has space")


def _encode_frames(out: Path, frames: Iterable, fps: float, crf: int, preset: str,
                   log_path: Path) -> tuple[int, int, int]:
    """Stream frames into an H.264 file; returns (frames written, width, height) as encoded."""
    frames = iter(frames)
    first = next(frames, None)
    if first is None:
        raise DanceMosaicError(f"no frames to write to {out.name}; the motion has no frames")
    frame = check_frame(first, 0)
    height, width = frame.shape[:2]
    cmd = [ffmpeg_exe(), "-y", "-hide_banner", "-loglevel", "error",
           "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", f"{fps:g}", "-i", "-",
           "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-c:v", "libx264", "-preset", preset,
           "-crf", str(int(crf)), "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(out)]
    # stderr goes to a file: a pipe nobody reads could fill up and stall ffmpeg
    with open(log_path, "w+") as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=log)
        count = 0
        try:
            while True:
                if frame.shape[:2] != (height, width):
                    raise DanceMosaicError(f"frame {count} is {frame.shape[1]}x{frame.shape[0]} but frame 0 "
                                           f"is {width}x{height}; all frames must have one size")
                proc.stdin.write(frame.tobytes())
                count += 1
                nxt = next(frames, None)
                if nxt is None:
                    break
                frame = check_frame(nxt, count)
            proc.stdin.close()
            code = proc.wait()
        except BrokenPipeError:
            code = proc.wait()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        if code != 0:
            log.seek(0)
            raise DanceMosaicError(f"ffmpeg failed encoding {out.name} (exit {code}): "
                                   f"{log.read().strip()[-600:] or 'no message'}; check the disk has space")
    return count, width + width % 2, height + height % 2


def probe_video(path) -> VideoInfo:
    """Size, frame rate, duration and codecs of a media file, parsed from `ffmpeg -i`."""
    path = Path(path)
    if not path.is_file():
        raise DanceMosaicError(f"video {path} does not exist; check the path")
    out = _ffmpeg_report(path)
    video = re.search(r"Stream #\S+.*?: Video: (\w+).*?, (\d+)x(\d+)", out)
    if video is None:
        raise DanceMosaicError(f"{path} has no video stream ffmpeg can read; re-render it")
    fps = re.search(r"Video:.*?, ([\d.]+) fps", out)
    audio = re.search(r"Stream #\S+.*?: Audio: (\w+)", out)
    return VideoInfo(width=int(video.group(2)), height=int(video.group(3)),
                     fps=float(fps.group(1)) if fps else 0.0, duration=_duration(out),
                     video_codec=video.group(1), audio_codec=audio.group(1) if audio else "")


def gif_frame(frame, max_side: int | None = None):
    """One frame as a palette image for `write_gif`, optionally shrunk so its longer side is
    at most `max_side` pixels; a palette image is a third of the RGB frame's memory."""
    from PIL import Image
    image = Image.fromarray(check_frame(frame))
    if max_side and max(image.size) > max_side:
        scale = max_side / max(image.size)
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                             Image.Resampling.LANCZOS)
    return image.quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)


def write_gif(path, frames: Iterable, fps: float, *, max_side: int | None = None) -> VideoResult:
    """A looping GIF of RGB frames (or images from `gif_frame`) at `fps` (GIF timing has 10 ms
    steps, so 20 fps is exact and 30 fps plays at 33.3 -> 30/40 ms frames)."""
    from PIL import Image
    path = Path(path)
    if not (np.isfinite(fps) and fps > 0):
        raise DanceMosaicError(f"GIF frame rate {fps} must be a positive number")
    images = [f if isinstance(f, Image.Image) else gif_frame(f, max_side) for f in frames]
    if not images:
        raise DanceMosaicError(f"no frames to write to {path}; the motion has no frames")
    if any(im.size != images[0].size for im in images):
        raise DanceMosaicError(f"GIF frames for {path} differ in size; all frames must have one size")
    path.parent.mkdir(parents=True, exist_ok=True)
    images[0].save(path, save_all=True, append_images=images[1:], duration=1000.0 / fps, loop=0,
                   optimize=False, disposal=1)
    return VideoResult(success=True, path=path, frames=len(images), width=images[0].width,
                       height=images[0].height, fps=float(fps), has_audio=False)


def _pad_to_height(frame: np.ndarray, height: int, background: int) -> np.ndarray:
    if frame.shape[0] == height:
        return frame
    top = (height - frame.shape[0]) // 2
    out = np.full((height, frame.shape[1], 3), background, dtype=np.uint8)
    out[top:top + frame.shape[0]] = frame
    return out


def side_by_side(frames_a: Iterable, frames_b: Iterable, *, gap: int = 0,
                 background: int = 255) -> Iterator[np.ndarray]:
    """Frames of A and B next to each other (A left), the shorter one centred vertically on the
    background colour. When one sequence ends first its last frame is held until both end."""
    iter_a, iter_b = iter(frames_a), iter(frames_b)
    last_a = last_b = None
    index = 0
    while True:
        a, b = next(iter_a, None), next(iter_b, None)
        if a is None and b is None:
            return
        last_a = check_frame(a, index) if a is not None else last_a
        last_b = check_frame(b, index) if b is not None else last_b
        if last_a is None or last_b is None:
            raise DanceMosaicError("side_by_side got an empty frame sequence; give frames on both sides")
        height = max(last_a.shape[0], last_b.shape[0])
        spacer = np.full((height, gap, 3), background, dtype=np.uint8)
        yield np.concatenate([_pad_to_height(last_a, height, background), spacer,
                              _pad_to_height(last_b, height, background)], axis=1)
        index += 1


def caption(frame, lines: str | list[str], *, corner: str = "top-left", size: int | None = None,
            color=(20, 20, 20), box=(255, 255, 255, 170)) -> np.ndarray:
    """Draw text (e.g. "120 BPM  beat 0.25") on a copy of a frame, on a translucent box so it
    stays readable over the drawing. corner: top-left, top-right, bottom-left, bottom-right."""
    from PIL import Image, ImageDraw, ImageFont
    frame = check_frame(frame)
    text = lines if isinstance(lines, str) else "\n".join(lines)
    size = size or max(10, frame.shape[0] // 28)
    try:
        font = ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):  # Pillow without FreeType: fixed bitmap font
        font = ImageFont.load_default()
    image = Image.fromarray(frame).convert("RGBA")
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    left, top, right, bottom = draw.multiline_textbbox((0, 0), text, font=font)
    margin = max(2, size // 3)
    w, h = right - left + 2 * margin, bottom - top + 2 * margin
    x = margin if "left" in corner else image.width - w - margin
    y = margin if "top" in corner else image.height - h - margin
    if corner not in ("top-left", "top-right", "bottom-left", "bottom-right"):
        raise DanceMosaicError(f"caption corner {corner!r} is unknown; use top-left, top-right, "
                               "bottom-left or bottom-right")
    draw.rectangle((x, y, x + w, y + h), fill=tuple(box))
    draw.multiline_text((x + margin - left, y + margin - top), text, font=font, fill=tuple(color))
    return np.asarray(Image.alpha_composite(image, overlay).convert("RGB"))
