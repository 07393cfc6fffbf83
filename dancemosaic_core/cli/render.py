"""`dancemosaic render`: a motion file's skeleton in 3-D to a video with its music (and a GIF).

Drawing: dancemosaic_core.render.skeleton3d; encoding and muxing: dancemosaic_core.render.video.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from dancemosaic_core.common.errors import DanceMosaicError


def parse_size(text: str) -> tuple[int, int]:
    """'480' -> (480, 480); '640x360' -> (640, 360)."""
    try:
        parts = [int(p) for p in str(text).lower().split("x")]
    except ValueError:
        parts = []
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2 or min(parts) < 16 or max(parts) > 4096:
        raise DanceMosaicError(f"--size {text!r} is not a frame size; give N or WxH with 16..4096 pixels")
    return parts[0], parts[1]


def resolve_music(stored: str, motion_path: Path, override: str | None) -> Path | None:
    """The music to mux: --music when given, else the motion file's music path (absolute, or
    relative to the working directory or to the motion file), else none."""
    if override is not None:
        path = Path(override)
        if not path.is_file():
            raise DanceMosaicError(f"music file {path} does not exist; check --music, or use --no-music")
        return path
    if not stored:
        return None
    candidates = [Path(stored)] if Path(stored).is_absolute() else [Path(stored), motion_path.parent / stored]
    for path in candidates:
        if path.is_file():
            return path
    raise DanceMosaicError(f"{motion_path} names the music {stored}, which does not exist (looked at "
                           f"{', '.join(str(c) for c in candidates)}); pass --music PATH, or --no-music")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("render", help="draw a motion's skeleton in 3-D to an MP4 with its music (and a GIF)")
    p.add_argument("motion", help="motion .npz (from `dancemosaic generate`)")
    p.add_argument("--out", default=None, help="video file (.mp4/.mov/.mkv); default: the motion path with .mp4")
    p.add_argument("--gif", default=None, help="also write a looping GIF here")
    p.add_argument("--gif-size", type=int, default=320, help="longer side of the GIF in pixels (default 320)")
    p.add_argument("--music", default=None, help="audio to mux in (default: the music the motion file names)")
    p.add_argument("--no-music", action="store_true", help="write a silent video")
    p.add_argument("--music-offset", type=float, default=None,
                   help="seconds into the music of the first frame (default: the motion file's)")
    p.add_argument("--size", default="480", help="frame size: N (square) or WxH pixels (default 480)")
    p.add_argument("--fps-out", type=float, default=None,
                   help="video frame rate; the motion is interpolated (default: the motion's own, 20)")
    p.add_argument("--seconds", type=float, default=None, help="render only the first S seconds")
    p.add_argument("--caption", default=None, help="text on every frame (default: the motion's genre and text)")
    p.add_argument("--elev", type=float, default=15.0, help="camera elevation in degrees")
    p.add_argument("--azim", type=float, default=-62.0, help="camera azimuth in degrees (-90: straight front)")
    p.set_defaults(func=run)


def run(args) -> int:
    from dancemosaic_core.motion.fk import resample
    from dancemosaic_core.motion.io import load_motion
    from dancemosaic_core.render import video
    from dancemosaic_core.render.skeleton3d import skeleton_frames

    motion_path = Path(args.motion)
    motion = load_motion(motion_path)
    out = Path(args.out) if args.out else motion_path.with_suffix(".mp4")
    if args.gif_size < 16:
        raise DanceMosaicError(f"--gif-size {args.gif_size} is too small; give 16 pixels or more")
    music = None if args.no_music else resolve_music(motion.music, motion_path, args.music)
    offset = motion.music_offset if args.music_offset is None else args.music_offset
    joints, fps = motion.joints, float(motion.fps)
    if args.seconds is not None:
        if args.seconds <= 0:
            raise DanceMosaicError(f"--seconds {args.seconds} must be positive")
        joints = joints[:max(1, int(round(args.seconds * fps)))]
    if args.fps_out is not None:
        if not (np.isfinite(args.fps_out) and 1 <= args.fps_out <= 240):
            raise DanceMosaicError(f"--fps-out {args.fps_out} is outside 1..240 frames per second")
        joints, fps = resample(joints, fps, args.fps_out), float(args.fps_out)
    default_caption = "  ".join(s for s in (motion.genre, motion.text) if s)
    frames = skeleton_frames(joints, fps, size=parse_size(args.size), elev=args.elev, azim=args.azim,
                             caption=default_caption if args.caption is None else args.caption)
    gif_images = []

    def keep_for_gif(stream):
        for frame in stream:
            if args.gif:
                gif_images.append(video.gif_frame(frame, args.gif_size))
            yield frame

    began = time.perf_counter()
    result = video.write_video(out, keep_for_gif(frames), fps, audio=music, audio_offset=offset)
    seconds = time.perf_counter() - began
    print(f"wrote {result.path}: {result.frames} frames {result.width}x{result.height} at {fps:g} fps, "
          f"{'music ' + str(music) if music else 'no music'}; {result.frames / seconds:.1f} frames/s")
    if args.gif:
        gif = video.write_gif(args.gif, gif_images, fps)
        print(f"wrote {gif.path}: {gif.frames} frames {gif.width}x{gif.height}")
    return 0
