"""Rendering: skeleton frames, H.264/AAC video written by ffmpeg and read back, GIF,
side-by-side, captions, the render CLI and its errors. Tiny sizes (64 px, 10 frames)."""
import subprocess

import imageio_ffmpeg
import numpy as np
import pytest
from PIL import Image

from dancemosaic_core.cli import main
from dancemosaic_core.cli.render import parse_size, resolve_music
from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.motion.io import Motion, save_motion
from dancemosaic_core.motion.skeleton import JOINT_INDEX, MOTION_FPS, rest_pose
from dancemosaic_core.render import video
from dancemosaic_core.render.skeleton3d import (
    SIDE_COLORS,
    SkeletonRenderer,
    _to_plot,
    skeleton_frames,
    smooth_path,
)

FPS = MOTION_FPS


def dance(frames=10, drift=0.0):
    """Rest pose standing on y = 0, arms waving, pelvis drifting `drift` metres along x."""
    base = rest_pose()
    base[:, 1] -= base[:, 1].min()
    joints = np.repeat(base[None], frames, axis=0)
    t = np.arange(frames) / FPS
    joints[:, :, 0] += drift * t[:, None] / max(t[-1], 1e-9)
    for name in ("left_wrist", "right_wrist"):
        joints[:, JOINT_INDEX[name], 1] += 0.3 * np.sin(2 * np.pi * t)
    return joints.astype(np.float32)


def gradient_frames(count=10, size=(64, 64)):
    h, w = size
    ramp = np.linspace(0, 255, w, dtype=np.float64)[None, :, None]
    return [np.broadcast_to((ramp + 20 * i) % 256, (h, w, 3)).astype(np.uint8) for i in range(count)]


def read_back(path):
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    frames = [np.frombuffer(f, np.uint8).reshape(meta["size"][1], meta["size"][0], 3) for f in reader]
    return meta, frames


def decoded_audio(path, sr=16000):
    out = subprocess.run([video.ffmpeg_exe(), "-loglevel", "error", "-i", str(path), "-vn", "-f", "f32le",
                          "-ac", "1", "-ar", str(sr), "-"], capture_output=True, check=True)
    return np.frombuffer(out.stdout, np.float32)


def tone_then_silence(sr=16000, silence_s=1.0, tone_s=1.0):
    t = np.arange(int(tone_s * sr)) / sr
    return np.concatenate([np.zeros(int(silence_s * sr)), 0.5 * np.sin(2 * np.pi * 440 * t)]).astype(np.float32)


def pixels_of(frame, hex_color, tol=40):
    rgb = np.array([int(hex_color[i:i + 2], 16) for i in (1, 3, 5)])
    return np.argwhere(np.abs(frame.astype(int) - rgb).sum(axis=-1) < tol)


# --- video -------------------------------------------------------------------------------------
def test_video_round_trip_frames_and_size(tmp_path):
    frames = gradient_frames()
    result = video.write_video(tmp_path / "v.mp4", iter(frames), FPS)
    meta, back = read_back(result.path)
    assert result.success and result.frames == 10 and not result.has_audio
    assert meta["size"] == (64, 64) and meta["codec"] == "h264" and meta["pix_fmt"].startswith("yuv420p")
    assert len(back) == 10
    assert np.abs(back[5].astype(int) - frames[5]).mean() < 8     # lossy, but the same picture
    assert not video.probe_video(result.path).has_audio
    assert [p.name for p in tmp_path.iterdir()] == ["v.mp4"]      # no partial or temp files left


def test_video_odd_size_is_padded_to_even(tmp_path):
    result = video.write_video(tmp_path / "odd.mp4", gradient_frames(3, (33, 47)), FPS)
    meta, back = read_back(result.path)
    assert meta["size"] == (48, 34) == (result.width, result.height) and len(back) == 3


def test_audio_muxed_with_offset_and_cut_to_video(tmp_path):
    sr = 16000
    wave = tone_then_silence(sr)                                  # 1 s silence, then 1 s tone
    wav = tmp_path / "song.wav"
    video._write_wav(wav, wave, sr)
    silent = video.write_video(tmp_path / "a.mp4", gradient_frames(), FPS, audio=wav)
    loud = video.write_video(tmp_path / "b.mp4", gradient_frames(), FPS, audio=wav, audio_offset=1.0)
    for result in (silent, loud):
        info = video.probe_video(result.path)
        assert result.has_audio and info.audio_codec == "aac"
        assert info.duration == pytest.approx(10 / FPS, abs=0.03)   # music cut to the 0.5 s video
    rms = [float(np.sqrt(np.mean(decoded_audio(r.path, sr)[: sr // 4] ** 2))) for r in (silent, loud)]
    assert rms[0] < 0.01 < 0.2 < rms[1]


def test_short_music_does_not_cut_the_video(tmp_path):
    sr = 16000
    short = (0.3 * np.ones((2, sr // 10), np.float32), sr)        # 0.1 s of stereo for 1 s of video
    result = video.write_video(tmp_path / "v.mp4", np.stack(gradient_frames(20)), FPS, audio=short)
    meta, back = read_back(result.path)
    assert len(back) == 20 and video.probe_video(result.path).has_audio


def test_gif_written(tmp_path):
    result = video.write_gif(tmp_path / "v.gif", gradient_frames(), FPS)
    with Image.open(result.path) as gif:
        assert gif.n_frames == 10 and gif.size == (64, 64)
        assert gif.info["duration"] == 1000 / FPS and gif.info["loop"] == 0
    small = video.write_gif(tmp_path / "s.gif", gradient_frames(), FPS, max_side=32)
    assert (small.width, small.height) == (32, 32)


def test_side_by_side_pads_and_holds_the_shorter(tmp_path):
    a = [np.zeros((64, 64, 3), np.uint8)] * 10
    b = [np.full((40, 30, 3), 100, np.uint8)] * 7
    out = list(video.side_by_side(a, b, gap=2))
    assert len(out) == 10 and all(f.shape == (64, 96, 3) for f in out)
    last = out[-1]
    assert (last[:, :64] == 0).all() and (last[:, 64:66] == 255).all()
    assert (last[12:52, 66:] == 100).all() and (last[:12, 66:] == 255).all() and (last[52:, 66:] == 255).all()


def test_caption_draws_text_only_in_its_corner():
    frame = np.full((64, 96, 3), 255, np.uint8)
    out = video.caption(frame, ["120 BPM", "beat 0.25"], corner="bottom-right")
    assert out.shape == frame.shape and out.dtype == np.uint8
    changed = np.argwhere((out != frame).any(axis=-1))
    assert len(changed) and changed[:, 0].min() > 20 and changed[:, 1].min() > 30
    with pytest.raises(DanceMosaicError, match="corner"):
        video.caption(frame, "x", corner="middle")


def test_video_errors_name_the_problem(tmp_path):
    frames = gradient_frames(3)
    with pytest.raises(DanceMosaicError, match="does not exist"):
        video.write_video(tmp_path / "v.mp4", frames, FPS, audio=tmp_path / "missing.wav")
    (tmp_path / "junk.wav").write_text("not audio")
    with pytest.raises(DanceMosaicError, match="no audio stream"):
        video.write_video(tmp_path / "v.mp4", frames, FPS, audio=tmp_path / "junk.wav")
    with pytest.raises(DanceMosaicError, match="past the end"):
        video.write_video(tmp_path / "v.mp4", frames, FPS, audio=(np.zeros(1600, np.float32), 16000),
                          audio_offset=1.0)
    with pytest.raises(DanceMosaicError, match="no samples"):
        video.write_video(tmp_path / "v.mp4", frames, FPS, audio=(np.zeros(0), 16000))
    with pytest.raises(DanceMosaicError, match="sample rate"):
        video.write_video(tmp_path / "v.mp4", frames, FPS, audio=(np.zeros(100), "fast"))
    with pytest.raises(DanceMosaicError, match="one size"):
        video.write_video(tmp_path / "v.mp4", frames + [np.zeros((8, 8, 3), np.uint8)], FPS)
    with pytest.raises(DanceMosaicError, match="no frames"):
        video.write_video(tmp_path / "v.mp4", [], FPS)
    with pytest.raises(DanceMosaicError, match="write_gif"):
        video.write_video(tmp_path / "v.gif", frames, FPS)
    with pytest.raises(DanceMosaicError, match="shape"):
        video.write_video(tmp_path / "v.mp4", [np.zeros((8, 8), np.uint8)], FPS)
    assert list(tmp_path.iterdir()) == [tmp_path / "junk.wav"]    # nothing half-written


def test_ffmpeg_failure_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(video, "ffmpeg_exe", lambda: "false")     # an "ffmpeg" that exits 1
    with pytest.raises(DanceMosaicError, match="ffmpeg failed"):
        video.write_video(tmp_path / "v.mp4", gradient_frames(3), FPS)
    assert list(tmp_path.iterdir()) == []


# --- skeleton drawing ----------------------------------------------------------------------------
def test_skeleton_frames_shape_and_pose_sensitivity():
    frames = list(skeleton_frames(dance(), FPS, size=(64, 64)))
    assert len(frames) == 10 and all(f.shape == (64, 64, 3) and f.dtype == np.uint8 for f in frames)
    renderer = SkeletonRenderer(size=(64, 64))
    pose = dance(1)[0]
    raised = pose.copy()
    raised[JOINT_INDEX["left_wrist"], 1] += 0.5
    a, a_again, b = renderer.draw(pose), renderer.draw(pose), renderer.draw(raised)
    assert np.array_equal(a, a_again)                  # updating artists leaves no stale state
    assert (a != b).any(axis=-1).sum() > 10


def test_front_view_is_not_mirrored():
    # y-up -> z-up must be a rotation (det +1, up stays up), else every dance is drawn mirrored;
    # then, seen from the front, the body's left (+x) arm is on the image's right.
    rows = np.stack(_to_plot(np.eye(3)), axis=1)
    assert np.linalg.det(rows) == pytest.approx(1.0) and np.array_equal(rows[1], [0, 0, 1])
    renderer = SkeletonRenderer(size=(128, 128), azim=-90.0, elev=0.0)
    frame = renderer.draw(dance(1)[0])
    left, right = pixels_of(frame, SIDE_COLORS["left"]), pixels_of(frame, SIDE_COLORS["right"])
    assert len(left) > 20 and len(right) > 20
    assert left[:, 1].mean() > 64 > right[:, 1].mean()


def test_camera_follows_a_travelling_dancer():
    frames = list(skeleton_frames(dance(10, drift=6.0), FPS, size=(64, 64), trace_seconds=0))
    for frame in (frames[0], frames[-1]):
        body = np.concatenate([pixels_of(frame, SIDE_COLORS[side]) for side in ("left", "right")])
        assert len(body) > 20 and 16 < body[:, 1].mean() < 48


def test_bad_joints_are_refused():
    nan = dance()
    nan[3, 5] = np.nan
    with pytest.raises(DanceMosaicError, match="NaN"):
        next(skeleton_frames(nan, FPS, size=(64, 64)))
    with pytest.raises(DanceMosaicError, match="shape"):
        next(skeleton_frames(np.zeros((10, 24, 3)), FPS, size=(64, 64)))
    with pytest.raises(DanceMosaicError, match="too small"):
        SkeletonRenderer(size=(8, 8))


def test_smooth_path_keeps_straight_lines_and_removes_sway():
    t = np.linspace(0, 2, 60)
    line = np.stack([np.full(60, 2.0), 3 * t], axis=1)
    assert np.allclose(smooth_path(line, 5.0), line) and np.allclose(smooth_path(line[:3], 5.0), line[:3])
    sway = line + 0.1 * np.stack([np.sin(40 * t), np.cos(40 * t)], axis=1)
    assert np.abs(smooth_path(sway, 5.0) - line)[15:-15].max() < 0.01


# --- command line ------------------------------------------------------------------------------
def test_render_cli_video_gif_and_stored_music(tmp_path):
    sr = 16000
    video._write_wav(tmp_path / "song.wav", tone_then_silence(sr, 0.0, 2.0), sr)
    save_motion(tmp_path / "dance.npz", Motion(joints=dance(), fps=FPS, music="song.wav", genre="Popular"))
    out, gif = tmp_path / "out" / "dance.mp4", tmp_path / "dance.gif"
    assert main(["render", str(tmp_path / "dance.npz"), "--out", str(out), "--gif", str(gif),
                 "--size", "64", "--gif-size", "32"]) == 0
    meta, back = read_back(out)
    assert len(back) == 10 and meta["size"] == (64, 64) and video.probe_video(out).has_audio
    with Image.open(gif) as image:
        assert image.n_frames == 10 and image.size == (32, 32)
    assert main(["render", str(tmp_path / "dance.npz"), "--out", str(out), "--size", "64x48",
                 "--fps-out", "40", "--no-music"]) == 0
    meta, back = read_back(out)
    assert len(back) == 19 and meta["size"] == (64, 48) and not video.probe_video(out).has_audio
    assert main(["render", str(tmp_path / "dance.npz"), "--out", str(out), "--size", "64",
                 "--seconds", "0.25", "--music-offset", "0.5"]) == 0
    meta, back = read_back(out)
    assert len(back) == 5 and video.probe_video(out).duration == pytest.approx(0.25, abs=0.03)


def test_render_cli_errors(tmp_path, capsys):
    save_motion(tmp_path / "dance.npz", Motion(joints=dance(), fps=FPS, music="gone.wav"))
    assert main(["render", str(tmp_path / "dance.npz"), "--size", "64"]) == 2
    assert "--no-music" in capsys.readouterr().err
    assert main(["render", str(tmp_path / "missing.npz")]) == 2
    assert main(["render", str(tmp_path / "dance.npz"), "--no-music", "--size", "big"]) == 2
    assert not (tmp_path / "dance.mp4").exists()


def test_resolve_music_and_parse_size(tmp_path):
    (tmp_path / "song.wav").write_bytes(b"RIFF")
    assert resolve_music("song.wav", tmp_path / "dance.npz", None) == tmp_path / "song.wav"
    assert resolve_music("", tmp_path / "dance.npz", None) is None
    with pytest.raises(DanceMosaicError, match="--music"):
        resolve_music("", tmp_path / "dance.npz", str(tmp_path / "nope.wav"))
    assert parse_size("480") == (480, 480) and parse_size("640x360") == (640, 360)
