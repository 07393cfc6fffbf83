"""`dancemosaic eval`: metrics of generated motions against ground truth under a protocol,
with baselines, written as JSON plus a Markdown report with plots."""
from __future__ import annotations

import argparse
import shlex
import sys

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.eval.protocols import PROTOCOLS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="FID_k/FID_g/Div/BAS/FSR/PFC of generated motions, report with plots")
    p.add_argument("--generated", required=True, help="directory of generated motions: dancemosaic .npz, "
                   "(T, 22, 3) .npy joint arrays (with --fps), Bailando or EDGE result files")
    p.add_argument("--gt", required=True, help="ground truth: a directory as --generated or a joints dataset")
    p.add_argument("--fps", type=float, default=None, help="frame rate of plain .npy joint arrays "
                   "(overrides Bailando's 60 and EDGE's 30 for their result files)")
    p.add_argument("--music", default=None, help="directory of the music files (<name>.wav)")
    p.add_argument("--protocol", default="finedance", choices=sorted(PROTOCOLS))
    p.add_argument("--gt-split", default=None, help="joints dataset split for the ground truth "
                   "(default: all motions, as the reference protocol)")
    p.add_argument("--limit-gt", type=int, default=None, help="use at most this many ground-truth motions")
    p.add_argument("--out", default="eval_out", help="output directory (eval.json, README.md, plots/)")
    p.add_argument("--seed", type=int, default=0, help="seed of the shuffled-music control and choreographer")
    p.add_argument("--no-baselines", action="store_true", help="skip the baseline sets")
    p.add_argument("--control", action="append", default=[], metavar="NAME=DIR",
                   help="a further generated set shown beside the model, e.g. the model on half-beat-delayed "
                        "music (dancemosaic generate --music-control); repeatable")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args) -> int:
    from dancemosaic_core.eval.protocols import get_protocol
    from dancemosaic_core.eval.report import write_report
    from dancemosaic_core.eval.runner import evaluate, load_items

    protocol = get_protocol(args.protocol)
    generated = load_items(args.generated, music_dir=args.music, fps=args.fps)
    gt = load_items(args.gt, music_dir=args.music, split=args.gt_split, limit=args.limit_gt, fps=args.fps)
    controls = {name: load_items(directory, music_dir=args.music, fps=args.fps)
                for name, directory in _controls(args.control)}
    result, sets = evaluate(generated, gt, protocol, baselines=not args.no_baselines,
                            seed=args.seed, progress=not args.quiet, controls=controls)
    command = "dancemosaic " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:2] == ["eval"] else ""
    paths = write_report(result, sets, args.out, command=command)
    metrics = result["metrics"]["generated"]
    summary = ", ".join(f"{k} {v:.4g}" for k, v in metrics.items() if isinstance(v, float))
    print(f"{args.protocol}: {summary}")
    print(f"wrote {paths['json']} and {paths['markdown']}")
    return 0


def _controls(specs: list[str]) -> list[tuple[str, str]]:
    out = []
    for spec in specs:
        name, sep, directory = spec.partition("=")
        if not sep or not name or not directory:
            raise DanceMosaicError(f"--control {spec!r}: give NAME=DIR, e.g. "
                                   "model_half_beat_music=out/eval/half_beat")
        if name in dict(out):
            raise DanceMosaicError(f"--control name {name!r} given twice; names label the report's rows")
        out.append((name, directory))
    return out
