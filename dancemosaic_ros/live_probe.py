"""Record the timing of a running dance pipeline: every motion chunk, trajectory and status
message with the time it arrived, written as JSON when the probe stops (Ctrl-C, SIGTERM or
--seconds). `dancemosaic bench live` runs it next to the pipeline; it also diagnoses a robot.

    python -m dancemosaic_ros.live_probe --out timing.json --seconds 60
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path

import numpy as np
import rclpy
from dancemosaic.msg import AudioChunk, DanceStatus, MotionChunk
from geometry_msgs.msg import PoseStamped
from rclpy.executors import SingleThreadedExecutor
from rclpy.signals import SignalHandlerOptions
from trajectory_msgs.msg import JointTrajectory

from dancemosaic_ros.convert import to_seconds


def status_record(msg: DanceStatus, received: float) -> dict:
    return {"received": received, "state": msg.generator_state, "tempo_bpm": msg.tempo_bpm,
            "chunk_index": msg.chunk_index, "latency_s": msg.latency_s, "compute_s": msg.compute_s,
            "limit_clamps": msg.limit_clamps, "deadline_misses": msg.deadline_misses,
            "audio_dropouts": msg.audio_dropouts, "bad_messages": msg.bad_messages, "message": msg.message}


class Probe:
    def __init__(self, node, controller: str, started_file: Path | None, full: bool = False,
                 keep_audio: bool = False):
        self.node, self.started_file, self.full, self.keep_audio = node, started_file, full, keep_audio
        self.record = {"audio": None, "chunks": [], "trajectories": [], "status": {}, "base_poses": []}
        self.samples: list = []          # audio blocks as heard, kept when --audio-out is given
        node.create_subscription(AudioChunk, "audio", self._on_audio, 100)
        node.create_subscription(MotionChunk, "motion", self._on_chunk, 10)
        node.create_subscription(JointTrajectory, f"/{controller}/joint_trajectory", self._on_trajectory, 10)
        if full:
            node.create_subscription(PoseStamped, "dance/base_pose", self._on_base_pose, 10)
        for topic in ("dance/status", "generator/status", "audio/status"):
            node.create_subscription(DanceStatus, topic, lambda msg, t=topic: self._on_status(t, msg), 10)

    def now(self) -> float:
        return self.node.get_clock().now().nanoseconds * 1e-9

    def _on_audio(self, msg: AudioChunk) -> None:
        now = self.now()
        audio = self.record["audio"]
        if audio is None:
            audio = self.record["audio"] = {"first_received": now, "first_stamp": to_seconds(msg.header.stamp),
                                            "blocks": 0, "samples": 0, "sample_rate": msg.sample_rate}
            if self.started_file is not None:
                self.started_file.write_text(f"{now}\n")
        if self.keep_audio:
            self.samples.append(np.asarray(msg.samples, dtype=np.float32).reshape(-1, max(1, msg.channels)).mean(1))
        audio["blocks"] += 1
        audio["samples"] += len(msg.samples) // max(1, msg.channels)
        audio["last_received"] = now

    def _on_chunk(self, msg: MotionChunk) -> None:
        self.record["chunks"].append({
            "received": self.now(), "stamp": to_seconds(msg.header.stamp), "start_time": msg.start_time,
            "fps": msg.fps, "index": msg.index, "num_frames": msg.num_frames, "audio_time": msg.audio_time,
            "draft_audio_time": msg.draft_audio_time,
            "compute_seconds": msg.compute_seconds, "tempo_bpm": msg.tempo_bpm,
            **({"positions": list(msg.positions)} if self.full else {})})

    def _on_trajectory(self, msg: JointTrajectory) -> None:
        stamp = to_seconds(msg.header.stamp)
        offsets = [p.time_from_start.sec + 1e-9 * p.time_from_start.nanosec for p in msg.points]
        self.record["trajectories"].append({
            "received": self.now(), "stamp": stamp, "points": len(offsets), "joints": len(msg.joint_names),
            "first_time": stamp + offsets[0] if offsets else None,
            "last_time": stamp + offsets[-1] if offsets else None,
            # times are absolute ROS seconds (~1.7e9: float64 steps of 0.24 us); offsets keep the
            # points' spacing exact to the nanosecond for speed checks
            **({"joint_names": list(msg.joint_names), "times": [stamp + o for o in offsets], "offsets": offsets,
                "positions": [list(p.positions) for p in msg.points],
                "velocities": [list(p.velocities) for p in msg.points]} if self.full else {})})

    def _on_base_pose(self, msg: PoseStamped) -> None:
        p, o = msg.pose.position, msg.pose.orientation
        self.record["base_poses"].append({"stamp": to_seconds(msg.header.stamp),
                                          "pose": [p.x, p.y, p.z, o.x, o.y, o.z, o.w]})

    def _on_status(self, topic: str, msg: DanceStatus) -> None:
        self.record["status"].setdefault(topic, []).append(status_record(msg, self.now()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="JSON file written when the probe stops")
    parser.add_argument("--seconds", type=float, default=0.0, help="stop after this long (0: on a signal)")
    parser.add_argument("--controller", default="joint_trajectory_controller")
    parser.add_argument("--started-file", default=None, help="written when the first audio block arrives")
    parser.add_argument("--audio-out", default=None, help="write the audio heard (mono wav) here when stopping")
    parser.add_argument("--full", action="store_true",
                        help="also record chunk joint positions, every trajectory point and the base pose "
                             "(the demo replays them)")
    args = parser.parse_args(argv)

    rclpy.init(args=None, signal_handler_options=SignalHandlerOptions.NO)
    stop = []
    signal.signal(signal.SIGINT, lambda *_: stop.append(True))
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    node = rclpy.create_node("dancemosaic_live_probe")
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    probe = Probe(node, args.controller, Path(args.started_file) if args.started_file else None, args.full,
                  keep_audio=bool(args.audio_out))
    deadline = time.monotonic() + args.seconds if args.seconds > 0 else float("inf")
    try:
        while not stop and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
    finally:
        Path(args.out).write_text(json.dumps(probe.record) + "\n")
        if args.audio_out and probe.samples:
            import soundfile as sf
            sf.write(args.audio_out, np.concatenate(probe.samples), int(probe.record["audio"]["sample_rate"]))
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
