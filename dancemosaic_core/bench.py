"""`dancemosaic bench NAME`: every benchmark of the project, results to JSON.

Each benchmark lives next to the code it measures, in a module named in BENCHMARKS that
exposes `add_arguments(parser)` and `run(args) -> dict`. Results go to
`bench/results/<name>.json` with the machine and package versions; `all` runs every one.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import time
from pathlib import Path

BENCHMARKS: dict[str, str] = {
    "generate": "dancemosaic_core.benchmarks.generate",
    "retarget": "dancemosaic_core.benchmarks.retarget",
    "live": "dancemosaic_core.benchmarks.live",
    "train": "dancemosaic_core.benchmarks.train",
    "features": "dancemosaic_core.benchmarks.features",
}


def machine_info() -> dict:
    import numpy
    info = {"platform": platform.platform(), "python": platform.python_version(),
            "cpu_count": os.cpu_count(), "processor": platform.processor() or platform.machine(),
            "numpy": numpy.__version__, "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
    try:
        import torch
        info["torch"] = torch.__version__
        info["threads"] = torch.get_num_threads()
        info["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:
        pass
    return info


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("bench", help="run benchmarks and write JSON results")
    sub_names = parser.add_subparsers(dest="bench", metavar="NAME", required=True)
    for name, module in BENCHMARKS.items():
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name and module.startswith(exc.name):
                continue
            raise
        p = sub_names.add_parser(name, help=(mod.__doc__ or name).splitlines()[0])
        p.add_argument("--out", default=f"bench/results/{name}.json", help="result JSON path")
        mod.add_arguments(p)
        p.set_defaults(func=_runner(name, mod))


def _runner(name, mod):
    def run(args) -> int:
        result = {"benchmark": name, "machine": machine_info(), "results": mod.run(args)}
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2, default=float) + "\n")
        print(json.dumps(result["results"], indent=2, default=float))
        print(f"wrote {out}")
        return 0
    return run
