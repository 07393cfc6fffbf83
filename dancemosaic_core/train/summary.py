"""Markdown summary of a training run directory (one sub-directory per stage, as
scripts/train_default.sh writes): steps, batch, window, learning rate, and each logged loss
averaged over the first and the last 50 steps.

    python -m dancemosaic_core.train.summary runs/default > table.md
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

STAGES = ("tokenizer", "t2m", "music", "pose")
SKIP = ("step", "lr", "grad_norm")


def stage_rows(run_dir: Path, window: int = 50) -> list[str]:
    lines = ["| stage | steps | batch | window (frames) | peak lr | loss terms: first 50 steps -> last 50 steps |",
             "|---|---|---|---|---|---|"]
    for stage in STAGES:
        metrics, config = run_dir / stage / "metrics.jsonl", run_dir / stage / "checkpoint" / "config.json"
        if not metrics.is_file() or not config.is_file():
            continue
        rows = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
        cfg = json.loads(config.read_text()).get("train_config", {})
        keys = [k for k in rows[-1] if k not in SKIP]
        mean = lambda part, k: sum(r[k] for r in part) / len(part)  # noqa: E731
        terms = ", ".join(f"{k} {mean(rows[:window], k):.4g} -> {mean(rows[-window:], k):.4g}" for k in keys)
        lines.append(f"| {stage} | {rows[-1]['step']} | {cfg.get('batch_size')} | "
                     f"{cfg.get('data', {}).get('window_frames')} | {cfg.get('optim', {}).get('lr')} | {terms} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or not Path(argv[0]).is_dir():
        print("usage: python -m dancemosaic_core.train.summary RUN_DIR", file=sys.stderr)
        return 2
    print("\n".join(stage_rows(Path(argv[0]))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
