"""A real capture device (docs/audio.md, "A capture device without a sound card"): a private
PulseAudio server with a null sink; `paplay` plays into the sink, the audio node (its own
process) records the sink's monitor through sounddevice, and reports the tempo. The server is
also killed under the node and started again: the node reports the loss and reconnects."""
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

pytestmark = pytest.mark.ros

try:
    from dancemosaic.msg import AudioChunk, DanceStatus
except ImportError as exc:
    pytest.skip(f"dancemosaic.msg is not generated ({exc}); run `make install`", allow_module_level=True)
if not (shutil.which("pulseaudio") and shutil.which("paplay") and shutil.which("pactl")):
    pytest.skip("PulseAudio is not installed (apt-get install pulseaudio pulseaudio-utils)", allow_module_level=True)

from dancemosaic_core.audio.synth import click_track  # noqa: E402
from tests.ros.ros_helpers import ros_session, wait_for  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SR = 22050
SINK = "dancemosaic_sink"


class PulseServer:
    """pulseaudio with a null sink whose monitor is the default source, in a private directory."""

    def __init__(self, root: Path):
        self.env = {**os.environ, "XDG_RUNTIME_DIR": str(root), "PULSE_RUNTIME_PATH": str(root / "pulse"),
                    "HOME": str(root)}
        self.process = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--disable-shm",
             "-L", "module-native-protocol-unix", "-L", f"module-null-sink sink_name={SINK}"],
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ok = wait_for(lambda: subprocess.run(["pactl", "info"], env=self.env, capture_output=True).returncode == 0,
                      10.0, poll=0.1)
        if not ok:
            self.stop()
            pytest.skip("PulseAudio did not start here")
        subprocess.run(["pactl", "set-default-source", f"{SINK}.monitor"], env=self.env, check=True)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def play(self, path: Path) -> subprocess.Popen:
        return subprocess.Popen(["paplay", "-d", SINK, str(path)], env=self.env)


@pytest.fixture
def pulse(tmp_path):
    server = PulseServer(tmp_path)
    server.start()
    yield server
    server.stop()


def audio_node(pulse, **params) -> subprocess.Popen:
    args = [sys.executable, "-m", "dancemosaic_ros.audio_node", "--ros-args", "-p", "device:=pulse",
            "-p", f"sample_rate:={SR}", "-p", "status_rate:=4.0"]
    args += [a for name, value in params.items() for a in ("-p", f"{name}:={value}")]
    return subprocess.Popen(args, cwd=ROOT, env={**pulse.env, "PYTHONUNBUFFERED": "1"},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def stop(process) -> str:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        return process.communicate(timeout=15)[0]
    except subprocess.TimeoutExpired:
        process.kill()
        return process.communicate()[0]


def record(pulse, song: Path, seconds: float, **params):
    """Play `song` into the sink while the audio node captures; (chunks, statuses, node log)."""
    chunks, statuses = [], []
    node = audio_node(pulse, **params)
    with ros_session() as ros:
        probe = ros.probe("capture")
        probe.create_subscription(AudioChunk, "audio", chunks.append, 200)
        probe.create_subscription(DanceStatus, "audio/status", statuses.append, 50)
        ros.start()
        try:
            assert wait_for(lambda: len(chunks) > 5, 30.0), stop(node)
            player = pulse.play(song)
            time.sleep(seconds)
            player.wait(timeout=30)
        finally:
            log = stop(node)
    return chunks, statuses, log


def test_capture_device_records_a_click_track_and_reports_its_tempo(pulse, tmp_path):
    bpm, seconds = 96.0, 9.0
    wave, _ = click_track(bpm, seconds, SR)
    song = tmp_path / "click.wav"
    sf.write(song, wave, SR)
    chunks, statuses, log = record(pulse, song, seconds)
    firsts = [c.first_sample for c in chunks]
    sizes = [len(c.samples) for c in chunks]
    # a gap-free stream on the audio clock, at the asked rate, with the music in it
    assert all(b - a == n for a, b, n in zip(firsts, firsts[1:], sizes)), log
    assert all(c.sample_rate == SR for c in chunks)
    heard = np.concatenate([np.asarray(c.samples) for c in chunks])
    assert np.abs(heard).max() > 0.1, "the sink's monitor carried no sound"
    tempos = [s.tempo_bpm for s in statuses if s.tempo_bpm > 0]
    assert tempos and abs(tempos[-1] - bpm) <= 2.0, (tempos[-5:], log)
    assert statuses[-1].audio_dropouts == 0, log


@pytest.mark.slow
def test_capture_device_reports_the_tempo_of_real_music(pulse, tmp_path):
    from dancemosaic_core.audio.midi import OPENMSX_DIR, midi_beats, render_midi
    piece = OPENMSX_DIR / "be_sharp_bw_redfarn.mid"
    if not piece.is_file():
        pytest.skip("Debian openttd-openmsx is not installed")
    full = render_midi(piece, tmp_path / "full.wav", sr=SR)
    wave, _ = sf.read(full, dtype="float32")
    song = tmp_path / "music.wav"
    sf.write(song, wave[:12 * SR], SR)
    beats = midi_beats(piece)
    truth = 60.0 / np.median(np.diff(beats[(beats > 2) & (beats < 12)]))
    _, statuses, log = record(pulse, song, 12.0)
    tempos = [s.tempo_bpm for s in statuses if s.tempo_bpm > 0]
    assert tempos and abs(tempos[-1] - truth) <= 2.0, (truth, tempos[-5:], log)


@pytest.mark.slow   # depends on how fast PulseAudio dies and restarts: the first_sample jump was
                    # missing in 1 of 4 full runs on a 2-core machine (see the closing note)
def test_vanishing_device_is_reported_and_the_node_reconnects(pulse, tmp_path):
    chunks, statuses = [], []
    node = audio_node(pulse, reconnect_seconds=0.5, stall_seconds=0.5, track_tempo=False)
    with ros_session() as ros:
        probe = ros.probe("vanish")
        probe.create_subscription(AudioChunk, "audio", chunks.append, 200)
        probe.create_subscription(DanceStatus, "audio/status", statuses.append, 50)
        ros.start()
        try:
            assert wait_for(lambda: len(chunks) > 5, 30.0), stop(node)
            pulse.stop()                                             # the device vanishes
            assert wait_for(lambda: statuses and statuses[-1].audio_dropouts > 0, 10.0), stop(node)
            assert node.poll() is None
            before = len(chunks)
            pulse.start()                                            # and comes back
            assert wait_for(lambda: len(chunks) > before + 10, 20.0), stop(node)
        finally:
            log = stop(node)
    assert "lost" in log and "reopening" in log, log
    jumps = [b.first_sample - a.first_sample - len(a.samples) for a, b in zip(chunks, chunks[1:])]
    assert max(jumps) > 0, "the lost audio must show as a jump of first_sample"
