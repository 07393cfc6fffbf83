"""`dancemosaic` command line: one sub-command per module of this package.

Every command module exposes `register(subparsers)`, which adds its parser and sets `func`
(called with the parsed arguments, returns an exit code or None). Modules are imported only when
their command runs, so `dancemosaic data ...` never imports torch models.

Applications built on top of the core (the ROS 2 pipeline's commands) add theirs through the
`dancemosaic.commands` entry-point group of their distribution (setup.py): name = module with a
`register(subparsers)`. The core knows them only through that group.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from importlib.metadata import entry_points

from dancemosaic_core.common.errors import DanceMosaicError

COMMAND_GROUP = "dancemosaic.commands"

# command name -> module that registers it
COMMANDS: dict[str, str] = {
    "data": "dancemosaic_core.cli.data",
    "train": "dancemosaic_core.cli.train",
    "generate": "dancemosaic_core.cli.generate",
    "render": "dancemosaic_core.cli.render",
    "retarget": "dancemosaic_core.cli.retarget",
    "sim": "dancemosaic_core.cli.sim",
    "export": "dancemosaic_core.cli.export",
    "eval": "dancemosaic_core.cli.eval",
    "bench": "dancemosaic_core.cli.bench",
    "beats": "dancemosaic_core.cli.beats",
}


def with_entry_points(builtin: dict[str, str], group: str) -> dict[str, str]:
    """name -> module: `builtin` plus the modules installed distributions declare in the
    entry-point `group`. A declared name that clashes with a built-in one is an error."""
    declared = {ep.name: ep.value for ep in entry_points(group=group)}
    clash = sorted(set(declared) & set(builtin))
    if clash:
        raise DanceMosaicError(f"entry points of group {group} redefine {', '.join(clash)}; rename them in "
                               "the setup.py that declares them")
    return {**builtin, **declared}


def build_parser(commands: dict[str, str], only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dancemosaic", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module in commands.items():
        if only is not None and name != only:
            sub.add_parser(name, help=f"(run `dancemosaic {name} -h`)")
            continue
        importlib.import_module(module).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    commands = with_entry_points(COMMANDS, COMMAND_GROUP)
    first = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(commands, first if first in commands else None)
    args = parser.parse_args(argv)
    try:
        code = args.func(args)
    except DanceMosaicError as exc:
        print(f"dancemosaic {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return int(code or 0)
