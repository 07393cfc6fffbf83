"""`dancemosaic` command line: one sub-command per area, each defined next to its code.

Every area module named in COMMANDS exposes `register(subparsers)`, which adds its parser and
sets `func` (called with the parsed arguments, returns an exit code or None). Areas are
imported only when their command runs, so `dancemosaic data ...` never imports torch models.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from dancemosaic_core.errors import DanceMosaicError

# command name -> module that registers it
COMMANDS: dict[str, str] = {
    "data": "dancemosaic_core.data.commands",
    "train": "dancemosaic_core.train.commands",
    "generate": "dancemosaic_core.commands_generate",
    "render": "dancemosaic_core.render",
    "retarget": "dancemosaic_core.retarget.commands",
    "sim": "dancemosaic_core.sim.commands",
    "eval": "dancemosaic_core.eval.commands",
    "bench": "dancemosaic_core.bench",
    "demo": "dancemosaic_core.demo",
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dancemosaic", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module in COMMANDS.items():
        if only is not None and name != only:
            sub.add_parser(name, help=f"(run `dancemosaic {name} -h`)")
            continue
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name and module.startswith(exc.name):
                continue  # area not built yet
            raise
        mod.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    first = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(first if first in COMMANDS else None)
    args = parser.parse_args(argv)
    try:
        code = args.func(args)
    except DanceMosaicError as exc:
        print(f"dancemosaic {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
