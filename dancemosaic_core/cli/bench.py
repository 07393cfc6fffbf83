"""`dancemosaic bench NAME`: every benchmark of the project, results to JSON.

Each benchmark is a module that exposes `add_arguments(parser)` and `run(args) -> dict`: the
core's are named in BENCHMARKS (dancemosaic_core/cli/benchmarks/); applications add theirs
through the `dancemosaic.benchmarks` entry-point group (name = module). Results go to
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

from dancemosaic_core.cli import with_entry_points
from dancemosaic_core.common.errors import DanceMosaicError

BENCHMARK_GROUP = "dancemosaic.benchmarks"
BENCHMARKS: dict[str, str] = {
    "generate": "dancemosaic_core.cli.benchmarks.generate",
    "retarget": "dancemosaic_core.cli.benchmarks.retarget",
    "train": "dancemosaic_core.cli.benchmarks.train",
    "features": "dancemosaic_core.cli.benchmarks.features",
    "rhythm": "dancemosaic_core.cli.benchmarks.rhythm",
    "beats": "dancemosaic_core.cli.benchmarks.beats",
    "balance": "dancemosaic_core.cli.benchmarks.balance",
}


def machine_info() -> dict:
    import numpy
    import torch
    return {"platform": platform.platform(), "python": platform.python_version(),
            "cpu_count": os.cpu_count(), "processor": platform.processor() or platform.machine(),
            "numpy": numpy.__version__, "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "torch": torch.__version__, "threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, MiB (Linux reports ru_maxrss in KiB)."""
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def benchmarks() -> dict:
    """name -> imported module of every benchmark: the core's and the declared ones."""
    return {name: importlib.import_module(module)
            for name, module in with_entry_points(BENCHMARKS, BENCHMARK_GROUP).items()}


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("bench", help="run benchmarks and write JSON results")
    sub_names = parser.add_subparsers(dest="bench", metavar="NAME", required=True)
    for name, mod in benchmarks().items():
        p = sub_names.add_parser(name, help=(mod.__doc__ or name).splitlines()[0])
        p.add_argument("--out", default=f"bench/results/{name}.json", help="result JSON path")
        mod.add_arguments(p)
        p.set_defaults(func=_runner(name, mod))
    p = sub_names.add_parser("all", help="every benchmark with its defaults -> all.json + README.md table")
    p.add_argument("--out-dir", default="bench/results", help="directory for NAME.json, all.json, README.md")
    p.add_argument("--only", nargs="*", default=None, metavar="NAME", help="run just these benchmarks")
    p.add_argument("--skip", nargs="*", default=[], metavar="NAME", help="benchmarks to leave out")
    p.set_defaults(func=run_all)


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


# --- `bench all` ------------------------------------------------------------------------------
TABLE_HINTS = ("second", "per_s", "_ms", "latency", "real_time", "realtime", "fps", "rss", "err",
               "speed", "rate", "within")
TABLE_ROWS = 12   # numbers per benchmark in the Markdown table


def _leaves(tree, prefix: str = ""):
    """(dotted key, number) for every numeric leaf outside lists."""
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield from _leaves(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(tree, (int, float)) and not isinstance(tree, bool):
        yield prefix, float(tree)


def headline(results: dict) -> list[tuple[str, float]]:
    """The numbers the README table shows: timing/speed/error leaves first, at most TABLE_ROWS."""
    leaves = list(_leaves(results))
    hinted = [kv for kv in leaves if any(h in kv[0].rsplit(".", 1)[-1].lower() for h in TABLE_HINTS)]
    return (hinted or leaves)[:TABLE_ROWS]


def markdown_table(runs: dict, machine: dict) -> str:
    lines = ["# Benchmark results", "",
             f"Made with `dancemosaic bench all` on {machine.get('platform')} ({machine.get('cpu_count')} CPUs, "
             f"torch {machine.get('torch', '-')}, CUDA device: {machine.get('cuda') or 'none'}) at "
             f"{machine.get('time')}. Full numbers: `all.json` and `<name>.json` next to this file.", "",
             "| benchmark | metric | value |", "|---|---|---|"]
    for name, run in runs.items():
        if run.get("error"):
            lines.append(f"| {name} | error | {run['error']} |")
            continue
        for key, value in headline(run["results"]):
            lines.append(f"| {name} | {key} | {value:.4g} |")
        lines.append(f"| {name} | wall seconds | {run['wall_seconds']:.1f} |")
    return "\n".join(lines) + "\n"


def run_all(args) -> int:
    """Run every benchmark with its default arguments, one after the other; a failing
    benchmark is recorded with its error and the others still run."""
    available = benchmarks()
    unknown = sorted(set(args.only or []) | set(args.skip))
    unknown = [n for n in unknown if n not in available]
    if unknown:
        raise DanceMosaicError(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(available)}")
    names = [n for n in available if (args.only is None or n in args.only) and n not in args.skip]
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    machine = machine_info()
    runs = {}
    for name in names:
        mod = available[name]
        parser = argparse.ArgumentParser(prog=f"bench {name}")
        mod.add_arguments(parser)
        sub_args = parser.parse_args([])
        sub_args.out = str(out_dir / f"{name}.json")
        start = time.perf_counter()
        print(f"bench all: {name} ...", flush=True)
        try:
            results = mod.run(sub_args)
            run = {"results": results, "wall_seconds": time.perf_counter() - start}
            (out_dir / f"{name}.json").write_text(json.dumps(
                {"benchmark": name, "machine": machine, "results": results}, indent=2, default=float) + "\n")
        except Exception as exc:  # one broken benchmark must not hide the others' numbers
            run = {"error": f"{type(exc).__name__}: {exc}", "wall_seconds": time.perf_counter() - start}
        runs[name] = run
    (out_dir / "all.json").write_text(json.dumps(
        {"machine": machine, "benchmarks": runs}, indent=2, default=float) + "\n")
    (out_dir / "README.md").write_text(markdown_table(runs, machine))
    print(f"wrote {out_dir / 'all.json'} and {out_dir / 'README.md'}")
    return 1 if any(r.get("error") for r in runs.values()) else 0
