"""A fixed competing CPU load for `dancemosaic bench live --load N`: what a busy robot computer does.

Each burner is a process of its own running one pure-Python loop (an integer linear congruential
generator, no allocation, no I/O, no sleep): it holds the GIL of its own interpreter and wants a
whole core, at normal priority, pinned to nothing, so the OS shares the cores between it and the
dance pipeline as it would share them with a robot's other software. The same loop runs on every
machine, so runs with the same N compare.

    python -m dancemosaic_ros.apps.cpu_load      # one burner, until its parent goes or SIGTERM
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_ros.apps.processes import ROOT, cpu_seconds, stop_processes

WORKLOAD = "pure-Python integer LCG loop, one process per burner, normal priority, no CPU pinning"
MAX_BURNERS = 64
# iterations between checks that the parent is still there (~10 ms of work on this machine's cores)
PARENT_CHECK_EVERY = 100_000


def burn(parent: int) -> None:
    """Spin until the process `parent` is gone (it died without stopping us: no orphan spins on)."""
    x = 1
    while os.getppid() == parent:
        for _ in range(PARENT_CHECK_EVERY):
            x = (x * 1103515245 + 12345) & 0xFFFFFFFF


class CompetingLoad:
    """`burners` CPU burner processes for the body of a `with`; they are stopped however the body
    ends (return, error, Ctrl-C): SIGTERM, then SIGKILL after 5 s. `cpu_seconds`: the CPU they got."""

    def __init__(self, burners: int):
        if not 0 <= burners <= MAX_BURNERS:
            raise DanceMosaicError(f"--load {burners}: give 0..{MAX_BURNERS} burner processes")
        self.burners = burners
        self.processes: list[subprocess.Popen] = []
        self.cpu_seconds = 0.0

    def __enter__(self):
        try:
            for _ in range(self.burners):
                self.processes.append(subprocess.Popen(
                    [sys.executable, "-m", "dancemosaic_ros.apps.cpu_load", "--parent", str(os.getpid())],
                    cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.cpu_seconds = cpu_seconds(p.pid for p in self.processes)
        stop_processes(self.processes, timeout=5.0, sig=signal.SIGTERM)

    def describe(self, seconds: float) -> dict:
        """The setting and what the burners got over `seconds` of wall time, for the results."""
        return {"burners": self.burners, "workload": WORKLOAD if self.burners else None,
                "burner_cpu_cores": self.cpu_seconds / seconds}


def main(argv=None) -> int:
    import argparse
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parent", type=int, default=os.getppid(), help="stop when this process is gone")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    try:
        burn(args.parent)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
