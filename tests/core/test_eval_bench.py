"""`dancemosaic bench all`: runs every registered benchmark with its defaults, keeps going
past a failing one, and writes all.json plus the README table."""
import json
import sys
import types

import pytest

from dancemosaic_core.cli import bench, main


def fake_module(name, run):
    mod = types.ModuleType(name)
    mod.__doc__ = f"{name}: a fake benchmark"
    mod.add_arguments = lambda p: p.add_argument("--reps", type=int, default=3)
    mod.run = run
    return mod


@pytest.fixture
def fakes(monkeypatch):
    def good(args):
        return {"reps": args.reps, "latency": {"median_ms": 12.5, "rows": [1, 2]},
                "loss": 0.3, "ok": True}

    def bad(args):
        raise RuntimeError("no model checkpoint")

    monkeypatch.setitem(sys.modules, "fake_bench_good", fake_module("fake_bench_good", good))
    monkeypatch.setitem(sys.modules, "fake_bench_bad", fake_module("fake_bench_bad", bad))
    monkeypatch.setattr(bench, "BENCHMARKS", {"good": "fake_bench_good", "bad": "fake_bench_bad"})
    monkeypatch.setattr(bench, "BENCHMARK_GROUP", "dancemosaic.benchmarks_of_no_distribution")


def test_bench_all_writes_every_result_and_the_table(fakes, tmp_path):
    code = main(["bench", "all", "--out-dir", str(tmp_path)])
    assert code == 1                                   # one benchmark failed
    data = json.loads((tmp_path / "all.json").read_text())
    assert data["benchmarks"]["good"]["results"]["reps"] == 3        # its own default argument
    assert "no model checkpoint" in data["benchmarks"]["bad"]["error"]
    assert "cpu_count" in data["machine"]
    assert json.loads((tmp_path / "good.json").read_text())["benchmark"] == "good"
    table = (tmp_path / "README.md").read_text()
    assert "| good | latency.median_ms | 12.5 |" in table
    assert "| bad | error | RuntimeError: no model checkpoint |" in table
    assert "ok" not in [line.split("|")[2].strip() for line in table.splitlines()[6:]]


def test_bench_all_only_and_unknown_names(fakes, tmp_path, capsys):
    assert main(["bench", "all", "--out-dir", str(tmp_path), "--only", "good"]) == 0
    assert list(json.loads((tmp_path / "all.json").read_text())["benchmarks"]) == ["good"]
    assert main(["bench", "all", "--out-dir", str(tmp_path), "--skip", "nope"]) == 2
    assert "unknown benchmark" in capsys.readouterr().err


def test_headline_prefers_timing_numbers():
    rows = bench.headline({"a": 1, "b": {"seconds_per_step": 0.5, "peak_rss_mb": 100}, "flag": True})
    assert rows == [("b.seconds_per_step", 0.5), ("b.peak_rss_mb", 100.0)]
