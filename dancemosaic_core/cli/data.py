"""`dancemosaic data prepare` (datasets -> training cache) and `dancemosaic data bootstrap`
(the procedural corpus of dancemosaic_core.choreo.bootstrap)."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser("data", help="dataset preparation (prepare, bootstrap)")
    sub = parser.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)

    prep = sub.add_parser("prepare", help="build the training cache from any subset of datasets",
                          description="Build the training cache (meta.json, mean/std, clips/, splits/) "
                                      "from HumanML3D, FineDance, AIST++ and joints-dataset directories.")
    prep.add_argument("--humanml3d", type=Path, help="HumanML3D root (new_joints/, texts/, train.txt ...)")
    prep.add_argument("--finedance", type=Path, help="FineDance root (motion/, music_wav/, label_json/)")
    prep.add_argument("--aistpp", type=Path, help="AIST++ root (motions/, wavs/, splits/, ignore_list.txt)")
    prep.add_argument("--joints", type=Path, action="append", default=[],
                      help="joints-dataset root (e.g. the bootstrap corpus); repeatable")
    prep.add_argument("--template", type=Path,
                      help="FineDance joint template: SMPL-X rest-pose joints (55, 3), e.g. smplx_neu_J_1.npy")
    prep.add_argument("--aistpp-template", type=Path,
                      help="AIST++ joint template: SMPL rest-pose joints (24, 3) of the male body")
    prep.add_argument("--out", type=Path, required=True, help="cache directory to write")
    prep.add_argument("--min-frames", type=int, default=None,
                      help="drop clips shorter than this many 20 fps frames (default 40 = 2 s)")
    prep.add_argument("--uniform-skeleton", action="store_true",
                      help="re-target every clip to the SMPL neutral bone lengths first (HumanML3D step)")
    prep.add_argument("--music-cache", type=Path, default=None,
                      help="music feature cache directory (default: the audio module's)")
    prep.add_argument("--no-progress", action="store_true", help="no progress bar")
    prep.set_defaults(func=run_prepare)

    from dancemosaic_core.choreo import bootstrap
    boot = sub.add_parser("bootstrap", help="build the procedural bootstrap corpus (a joints dataset)")
    bootstrap.add_arguments(boot)
    boot.set_defaults(func=bootstrap.run)


def build_sources(args: argparse.Namespace) -> list:
    from dancemosaic_core.data.loaders import (
        AISTPP,
        FineDance,
        HumanML3D,
        JointsDataset,
    )
    sources = []
    if args.humanml3d:
        sources.append(HumanML3D(args.humanml3d, min_frames=args.min_frames))
    if args.finedance:
        sources.append(FineDance(args.finedance, args.template, min_frames=args.min_frames))
    if args.aistpp:
        sources.append(AISTPP(args.aistpp, args.aistpp_template, min_frames=args.min_frames))
    for root in args.joints:
        sources.append(JointsDataset(root, min_frames=args.min_frames))
    return sources


def run_prepare(args: argparse.Namespace) -> int:
    from dancemosaic_core.data.cache import prepare_cache
    logging.basicConfig(level=logging.ERROR, format="%(message)s")  # skips go to the summary table
    summary = prepare_cache(build_sources(args), args.out, uniform=args.uniform_skeleton,
                            music_cache_dir=args.music_cache, progress=not args.no_progress)
    print(summary.table())
    print(f"\ncache written to {summary.out_dir}")
    sys.stdout.flush()
    return 0
