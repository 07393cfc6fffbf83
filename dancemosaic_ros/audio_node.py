"""Audio node: a capture device (sounddevice) or a file played in real time -> AudioChunk.

Publishes `audio` (dancemosaic/AudioChunk) stamped on the music clock (stream origin + sample
index / rate; a jump of `first_sample` means lost audio), `audio/level` (AudioLevel, every
`level_seconds` of audio: the loudest block's RMS and the blocks lost, overrun or late; what the
retarget node's silence watch needs, without the samples) and `audio/status` (DanceStatus: online
tempo and beat phase, dropouts). Overruns, stalls and a vanished device are counted, logged and
survived: the node reopens the device every `reconnect_seconds`.

    python -m dancemosaic_ros.audio_node --ros-args -p file:=song.wav
"""
from __future__ import annotations

import threading

import numpy as np
from dancemosaic.msg import AudioChunk, AudioLevel, DanceStatus

from dancemosaic_core.audio import TempoTracker
from dancemosaic_core.audio.io import MAX_SR, MIN_SR
from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_ros.audio_sources import CaptureSource, FileSource, LevelMeter
from dancemosaic_ros.dance_node import DanceNode
from dancemosaic_ros.params import Param, integer, number
from dancemosaic_ros.run import run_nodes


def _rate(value):
    return None if isinstance(value, int) and (value == 0 or MIN_SR <= value <= MAX_SR) else \
        f"{value!r} must be 0 (the file's own rate) or {MIN_SR}..{MAX_SR} Hz"


PARAMS = {
    "device": Param("", "sounddevice input: name or index; '' = the system's default input", read_only=True),
    "sample_rate": Param(44100, "capture rate in Hz (file mode: 0 keeps the file's rate)", _rate, read_only=True),
    "channels": Param(1, "captured channels (interleaved in AudioChunk)", integer(1, 8), read_only=True),
    "block_size": Param(1024, "frames per capture block and per AudioChunk", integer(16, 65536), read_only=True),
    "file": Param("", "play this audio file in real time instead of capturing ('' = capture)", read_only=True),
    "loop": Param(False, "file mode: start the file again at its end", read_only=True),
    "wait_for_listeners": Param(0, "file mode: start playing once `audio` and `audio/level` together have this "
                                   "many subscribers (e.g. 2: generator and retarget node, after the "
                                   "generator's warm-up)",
                                integer(0, 16), read_only=True),
    "late_seconds": Param(0.25, "file mode: a block published this much after real time counts as a dropout",
                          number(0, 10, above=True)),
    "level_seconds": Param(0.1, "seconds of audio summed up per audio/level message", number(0.01, 10),
                           read_only=True),
    "track_tempo": Param(True, "run the online beat tracker and report tempo in audio/status"),
    "status_rate": Param(2.0, "Hz of audio/status messages", number(0, 100, above=True), read_only=True),
    "reconnect_seconds": Param(2.0, "capture: seconds between checks of the device (reopened when lost)",
                               number(0, 60, above=True),
                               read_only=True),
    "stall_seconds": Param(1.0, "capture: no samples for this long means the device is lost",
                           number(0, 60, above=True)),
}


class AudioNode(DanceNode):
    def __init__(self, **kwargs):
        super().__init__("audio_node", PARAMS, "audio/status", **kwargs)
        self.audio_publisher = self.create_publisher(AudioChunk, "audio", 50)
        self.level_publisher = self.create_publisher(AudioLevel, "audio/level", 10)
        self.dropouts = 0
        self.last_block_time = None
        self.capture = self.file = None
        if self.params["file"]:
            self.file = FileSource(path=self.params["file"], sample_rate=self.params["sample_rate"],
                                   block_size=self.params["block_size"], loop=self.params["loop"])
            self.sample_rate, self.channels = self.file.sample_rate, 1
            self.origin = None        # set when playback starts (once enough listeners are there)
            pump = self._pump_file
            self.get_logger().info(f"playing {self.params['file']} in real time "
                                   f"({len(self.file.wave) / self.sample_rate:.1f} s at {self.sample_rate} Hz)")
            if self.params["wait_for_listeners"] == 0:
                self.get_logger().warning("wait_for_listeners is 0: the song starts now, before the generator "
                                          "is warm, and its first seconds get no dance; set it to 2 (generator "
                                          "and retarget node) to start once both listen")
        else:
            self.capture = CaptureSource(device=self.params["device"], sample_rate=self.params["sample_rate"],
                                         channels=self.params["channels"], block_size=self.params["block_size"])
            self.sample_rate, self.channels = self.capture.sample_rate, self.capture.channels
            self._open_capture()
            self.create_timer(self.params["reconnect_seconds"], self._watch_capture)
            pump = self._pump_capture
        self.tempo = TempoTracker(self.sample_rate) if self.params["track_tempo"] else None
        self.level = LevelMeter(max(1, round(self.params["level_seconds"] * self.sample_rate)))
        self.create_timer(1.0 / self.params["status_rate"], self.publish_status)
        # blocks are published from a thread of their own, not an executor timer: its timing does
        # not depend on how busy the executor is (in `bringup` it also serves the other nodes)
        self._stop = threading.Event()
        self._pump = threading.Thread(target=pump, name="audio_pump", daemon=True)
        self._pump.start()

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    # --- sources ----------------------------------------------------------------------------
    def _pump_file(self) -> None:
        period = self.params["block_size"] / self.sample_rate
        while not self._stop.is_set() and self.context.ok():
            if self.origin is None:
                listeners = self.audio_publisher.get_subscription_count() + \
                    self.level_publisher.get_subscription_count()
                if listeners < self.params["wait_for_listeners"]:
                    self._stop.wait(0.01)
                    continue
                self.origin = self._now()
                self.state = DanceStatus.STATE_DANCING
            for block in self.file.due(self._now() - self.origin, self.params["late_seconds"]):
                if block.late:
                    self._dropout(f"file playback fell behind real time at sample {block.first_sample}")
                self._publish(block, self.origin)
            if self.file.finished:
                self._publish_level(self.level.flush(), self.origin)
                self.state = DanceStatus.STATE_IDLE
                self.get_logger().info("audio file finished")
                return
            due = self.origin + (self.file.next_sample + self.params["block_size"]) / self.sample_rate
            self._stop.wait(min(period, max(0.0, due - self._now())))

    def _open_capture(self) -> None:
        try:
            self.capture.open()
            self.state = DanceStatus.STATE_DANCING
            self.get_logger().info(f"capturing from {self.capture.device or 'the default input'} "
                                   f"at {self.sample_rate} Hz")
        except DanceMosaicError as exc:
            self.state = DanceStatus.STATE_ERROR
            self.message = str(exc)
            self.get_logger().error(f"{exc} (retrying every {self.params['reconnect_seconds']} s)")

    def _pump_capture(self) -> None:
        while not self._stop.is_set() and self.context.ok():
            blocks, skipped = self.capture.read(self._now, timeout=0.1)
            if skipped:
                self._dropout(f"{skipped / self.sample_rate:.3f} s of audio lost (overrun or stalled device)")
            for block in blocks:
                if block.input_overflow:
                    self._dropout("the capture device overran (input overflow)")
                self._publish(block, self.capture.origin)

    def _watch_capture(self) -> None:
        if self.capture.error or self.capture.stalled(self.params["stall_seconds"]):
            reason = self.capture.error or f"no audio for {self.params['stall_seconds']} s"
            self._dropout(f"audio input lost: {reason}; reopening")
            self.capture.close()
        if not self.capture.is_open:
            self._open_capture()

    # --- messages ---------------------------------------------------------------------------
    def _stamp(self, msg, origin: float, sample: int) -> None:
        """Stamps `msg` with the music-clock time of stream sample `sample`."""
        stamp_ns = int(round((origin + sample / self.sample_rate) * 1e9))
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)

    def _publish(self, block, origin: float) -> None:
        msg = AudioChunk()
        self._stamp(msg, origin, block.first_sample)
        msg.sample_rate, msg.channels = self.sample_rate, block.samples.shape[1]
        msg.first_sample = block.first_sample
        msg.samples = np.ascontiguousarray(block.samples, dtype=np.float32).reshape(-1)
        msg.input_overflow, msg.output_underflow = block.input_overflow, block.late
        if not self.context.ok():
            return                     # shutting down: the pump thread ends with the node
        self.audio_publisher.publish(msg)
        self._publish_level(self.level.push(block), origin)
        self.last_block_time = self._now()
        if self.tempo is not None:
            self.tempo.push(block.samples.mean(axis=1))

    def _publish_level(self, level, origin: float) -> None:
        if level is None or not self.context.ok():
            return
        msg = AudioLevel(sample_rate=self.sample_rate, first_sample=level.first_sample, num_samples=level.num_samples,
                         loudest_rms=level.loudest_rms, dropouts=level.dropouts)
        self._stamp(msg, origin, level.first_sample)
        self.level_publisher.publish(msg)

    def _dropout(self, what: str) -> None:
        self.dropouts += 1
        self.message = what
        self.get_logger().warning(f"{what} (dropouts so far: {self.dropouts})")

    def status_fields(self, msg: DanceStatus) -> None:
        flowing = self.last_block_time is not None and self._now() - self.last_block_time < 1.0
        msg.generator_state = self.state if self.state == DanceStatus.STATE_ERROR or not flowing \
            else DanceStatus.STATE_DANCING
        if self.tempo is not None and self.tempo.state.tempo_bpm is not None:
            msg.tempo_bpm = float(self.tempo.state.tempo_bpm)
            msg.beat_phase = float(self.tempo.state.phase)
            msg.tempo_confidence = float(min(1.0, max(0.0, self.tempo.state.confidence)))
        msg.audio_dropouts = self.dropouts

    def parameters_changed(self, names: set[str]) -> None:
        if "track_tempo" in names:
            self.tempo = TempoTracker(self.sample_rate) if self.params["track_tempo"] else None

    def destroy_node(self):
        self._stop.set()
        self._pump.join(timeout=5.0)
        if self.capture is not None:
            self.capture.close()
        return super().destroy_node()


def main(args=None) -> int:
    return run_nodes([AudioNode], args, executor="single")


if __name__ == "__main__":
    raise SystemExit(main())
