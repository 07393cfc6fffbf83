"""The `dancemosaic` command line finds its commands: the core's own, and the applications'
through entry points (setup.py), which the core never names."""
import argparse
import importlib
import sys
import types
from importlib.metadata import EntryPoint

import pytest

from dancemosaic_core import cli
from dancemosaic_core.cli import bench
from dancemosaic_core.common.errors import DanceMosaicError


def test_setup_py_declares_the_ros_applications(setup_py_entry_points):
    commands = {ep.name: ep.value for ep in setup_py_entry_points[cli.COMMAND_GROUP]}
    benchmarks = {ep.name: ep.value for ep in setup_py_entry_points[bench.BENCHMARK_GROUP]}
    assert commands == {"demo": "dancemosaic_ros.apps.demo"}
    assert benchmarks == {"live": "dancemosaic_ros.apps.bench_live"}
    assert set(cli.with_entry_points(cli.COMMANDS, cli.COMMAND_GROUP)) == set(cli.COMMANDS) | {"demo"}
    assert set(bench.benchmarks()) == set(bench.BENCHMARKS) | {"live"}


def test_every_core_command_registers_a_parser():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    for module in cli.COMMANDS.values():
        importlib.import_module(module).register(sub)
    assert set(cli.COMMANDS) <= set(sub.choices)


def fake_command(name, calls):
    mod = types.ModuleType(name)

    def register(sub):
        p = sub.add_parser("wave", help="wave at the robot")
        p.add_argument("--times", type=int, default=1)
        p.set_defaults(func=lambda args: calls.append(args.times))
    mod.register = register
    return mod


def test_a_declared_command_runs_and_may_not_shadow_a_core_one(monkeypatch):
    calls = []
    monkeypatch.setitem(sys.modules, "fake_wave_app", fake_command("fake_wave_app", calls))
    declared = [EntryPoint("wave", "fake_wave_app", cli.COMMAND_GROUP)]
    monkeypatch.setattr(cli, "entry_points", lambda group: declared if group == cli.COMMAND_GROUP else [])
    assert cli.main(["wave", "--times", "3"]) == 0 and calls == [3]
    declared.append(EntryPoint("generate", "fake_wave_app", cli.COMMAND_GROUP))
    with pytest.raises(DanceMosaicError, match="redefine generate"):
        cli.main(["wave"])


def test_a_missing_command_module_is_an_error_not_a_missing_command(monkeypatch):
    monkeypatch.setitem(cli.COMMANDS, "ghost", "dancemosaic_core.cli.no_such_module")
    with pytest.raises(ModuleNotFoundError, match="no_such_module"):
        cli.main(["ghost"])
