#!/usr/bin/env bash
# Evaluate the shipped default model on the bootstrap corpus's held-out songs (test split) and
# write the report checked into docs/eval_report (issue: evaluation of the default model).
#   1. one dance per test item on its own music and genre (the generated set)
#   2. the same model conditioned on another test item's music (shuffled-music control)
#   3. `dancemosaic eval` for both, FineDance protocol; the first run also scores the baselines
#      (ground truth, ground truth with shuffled music, the procedural choreographer)
# Usage: scripts/eval_default.sh [CORPUS] [MODEL] [REPORT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
CORPUS=${1:-out/demo/corpus}
MODEL=${2:-dancemosaic_core/weights/default}
REPORT=${3:-docs/eval_report}
DM=${DANCEMOSAIC:-.venv/bin/dancemosaic}
WORK=out/eval
rm -rf "$WORK/generated" "$WORK/shuffled"
$DM generate --dataset "$CORPUS" --split test --model "$MODEL" --out "$WORK/generated" --seed 0
$DM generate --dataset "$CORPUS" --split test --model "$MODEL" --out "$WORK/shuffled" --seed 0 --shuffle-music
$DM eval --generated "$WORK/generated" --gt "$CORPUS" --gt-split test --music "$CORPUS/music" \
    --protocol finedance --out "$REPORT" --quiet
$DM eval --generated "$WORK/shuffled" --gt "$CORPUS" --gt-split test --music "$CORPUS/music" \
    --protocol finedance --out "$REPORT/model_shuffled_music" --no-baselines --quiet
