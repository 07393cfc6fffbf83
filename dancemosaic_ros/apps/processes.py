"""Run the ROS 2 dance pipeline in subprocesses and record what it publishes.

The nodes (`dancemosaic_ros.bringup`, or one process per node) and the recorder
(`dancemosaic_ros.live_probe`) run as child processes on Fast DDS over loopback, in a private ROS
domain, as they would on a robot; the calling application itself never spins rclpy. Used by
`dancemosaic bench live` and `dancemosaic demo`.
"""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from dancemosaic_core.common.errors import DanceMosaicError

ROOT = Path(__file__).resolve().parents[2]   # the repository: config/, the nodes' cwd


@dataclass
class PipelineRun:
    record: dict                 # live_probe's record (chunks, trajectories, status), ROS seconds
    audio_start: float           # ROS time the first audio block reached the recorder
    cpu_cores: float             # CPU cores the nodes used while the song played
    machine_busy_percent: float
    load_average: tuple[float, float]   # the machine's 1-minute load average when the song started, ended
    warnings: list[str]
    logs: list[str]
    cpu_cores_by_process: dict = field(default_factory=dict)   # the same, per node process and the recorder


def cpu_seconds(pids) -> float:
    """User + system CPU seconds of these processes so far (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
    return total


def _machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs (/proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def stop_processes(processes, timeout: float = 20.0, sig: int = signal.SIGINT) -> list[str]:
    """`sig` (then, after `timeout` s, SIGKILL) to each process; their combined outputs."""
    for p in processes:
        if p.poll() is None:
            p.send_signal(sig)
    logs = []
    for p in processes:
        try:
            out, _ = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, _ = p.communicate()
        logs.append(out or "")
    return logs


def _warnings(logs, limit: int = 12) -> list[str]:
    """The pipeline's warnings and errors, without their timestamps."""
    lines = [line for log in logs for line in log.splitlines() if line.startswith(("[WARN]", "[ERROR]"))]
    return [line.split("]", 2)[0] + "]" + line.split("]", 2)[2] for line in lines][:limit]


def pipeline_env() -> dict:
    return {**os.environ, "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST", "PYTHONUNBUFFERED": "1",
            "ROS_DOMAIN_ID": os.environ.get("ROS_DOMAIN_ID") or str(random.randint(101, 199))}


def run_pipeline(params: Path, seconds: float, *, work: Path, processes: bool = False, full: bool = False,
                 audio_out: Path | None = None, startup_timeout: float = 300.0,
                 tail_seconds: float = 1.0, while_playing=None) -> PipelineRun:
    """Start the recorder and the nodes with `params` (a ROS parameters YAML whose audio node
    plays a file), wait for the music to start, let it play `seconds`, stop everything.
    full: record chunk joints and trajectory points; audio_out: write the audio heard (wav);
    while_playing: a context manager entered while the measured song plays (a competing load)."""
    env = pipeline_env()
    started, record_path = work / "started", work / "probe.json"
    probe = subprocess.Popen([sys.executable, "-m", "dancemosaic_ros.live_probe", "--out", str(record_path),
                              "--started-file", str(started)] + (["--full"] if full else [])
                             + (["--audio-out", str(audio_out)] if audio_out else []),
                             cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    # SIGTERM ends the run like Ctrl-C: the finally below then stops the children (no orphans)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    modules = ["audio_node", "generator_node", "retarget_node"] if processes else ["bringup"]
    nodes = [subprocess.Popen([sys.executable, "-m", f"dancemosaic_ros.{m}", "--ros-args", "--params-file",
                               str(params)], cwd=ROOT, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for m in modules]
    try:
        deadline = time.monotonic() + startup_timeout
        while not started.exists():
            if time.monotonic() > deadline or any(p.poll() is not None for p in nodes):
                raise DanceMosaicError("the pipeline did not start playing: " + "\n".join(stop_processes(nodes))[-3000:])
            time.sleep(0.1)
        audio_start = float(started.read_text())
        named = dict(zip(modules, nodes), recorder=probe)
        with while_playing or nullcontext():
            each0, busy0, wall0 = {k: cpu_seconds([p.pid]) for k, p in named.items()}, _machine_busy(), time.monotonic()
            load0 = os.getloadavg()[0]
            time.sleep(seconds)
            each1, busy1, wall1 = {k: cpu_seconds([p.pid]) for k, p in named.items()}, _machine_busy(), time.monotonic()
            load1 = os.getloadavg()[0]
        by_process = {k: (each1[k] - each0[k]) / (wall1 - wall0) for k in named}
        time.sleep(tail_seconds)
    finally:
        logs = stop_processes(nodes)
        stop_processes([probe])
        signal.signal(signal.SIGTERM, previous)
    if not record_path.exists():
        raise DanceMosaicError(f"the recorder wrote no record; pipeline log:\n{logs[0][-3000:]}")
    return PipelineRun(json.loads(record_path.read_text()), audio_start,
                       float(sum(v for k, v in by_process.items() if k != "recorder")),
                       float(100.0 * (busy1[0] - busy0[0]) / max(1, busy1[1] - busy0[1])), (load0, load1),
                       _warnings(logs), logs, by_process)
