"""SIGINT and SIGTERM stop `bringup` cleanly while every thread is busy (the audio pump playing,
the generator generating, the retarget node streaming): exit status 0 and no traceback, in
particular no `RCLError: publisher's context is invalid` from a thread outliving the context."""
import signal
import threading
import time

import pytest
import soundfile as sf

pytestmark = pytest.mark.ros

from dancemosaic_core.audio.synth import click_track  # noqa: E402
from tests.model_fixture import tiny_model_dir  # noqa: E402
from tests.ros.ros_helpers import wait_for  # noqa: E402
from tests.ros.test_pipeline_processes import start  # noqa: E402


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_bringup_stops_cleanly_on_a_signal(tmp_path, sig):
    wave, _ = click_track(120, 3.0, 16000, noise=0.01)
    song = tmp_path / "song.wav"
    sf.write(song, wave, 16000, subtype="FLOAT")
    model = tiny_model_dir(tmp_path / "model")
    process = start("bringup", {"audio_node": dict(file=str(song), loop="true", wait_for_listeners=2),
                                "generator_node": dict(model_dir=str(model), device="cpu", torch_threads=1),
                                "retarget_node": dict(robot="g1")})
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)
    reader.start()
    try:
        # running: the song plays and the generator has sent chunks to the retarget node
        assert wait_for(lambda: any("warm-up took" in line for line in lines), 90.0), "".join(lines)
        time.sleep(3.0)
        process.send_signal(sig)
        assert process.wait(timeout=40) == 0, "".join(lines)
    finally:
        if process.poll() is None:
            process.kill()
    reader.join(timeout=5)
    log = "".join(lines)
    assert "Traceback" not in log and "context is invalid" not in log, log
