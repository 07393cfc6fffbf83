#!/usr/bin/env bash
# Evaluate the shipped default model on the bootstrap corpus's held-out songs (test split) and
# write the report checked into docs/eval_report (issue: evaluation of the default model).
#   1. one dance per test item on its own music and genre (the generated set)
#   2. the same model on controlled music, each dance still scored on its own song's beats
#      (dancemosaic generate --music-control): half-beat-delayed (its own music half a beat
#      later), other-tempo (another song more than 10 % away in tempo), shuffled (another item's)
#   3. `dancemosaic eval` of all of them side by side, FineDance protocol, with the baselines
#      (ground truth, ground truth with shuffled music, the procedural choreographer); every
#      set's rhythm columns (BAS vs half-beat-late beats, random-phase chance, period lock,
#      joint speed) are in the report's Rhythm table
# Usage: scripts/eval_default.sh [CORPUS] [MODEL] [REPORT_DIR]   (env: EVERY=N keeps every N-th test item;
#   CONTROLS="half-beat-delay other-tempo" picks the music controls)
set -euo pipefail
cd "$(dirname "$0")/.."
CORPUS=${1:-out/demo/corpus}
MODEL=${2:-dancemosaic_core/weights/default}
REPORT=${3:-docs/eval_report}
DM=${DANCEMOSAIC:-.venv/bin/dancemosaic}
WORK=out/eval
EVERY=${EVERY:-1}
read -r -a CONTROLS <<< "${CONTROLS:-half-beat-delay other-tempo shuffled}"
rm -rf "$WORK/generated" "${CONTROLS[@]/#/$WORK/}" "$REPORT/model_shuffled_music"
$DM generate --dataset "$CORPUS" --split test --model "$MODEL" --out "$WORK/generated" --seed 0 --every "$EVERY"
CONTROL_ARGS=()
for control in "${CONTROLS[@]}"; do
    $DM generate --dataset "$CORPUS" --split test --model "$MODEL" --out "$WORK/$control" --seed 0 --every "$EVERY" \
        --music-control "$control"
    CONTROL_ARGS+=(--control "model_${control//-/_}_music=$WORK/$control")
done
$DM eval --generated "$WORK/generated" --gt "$CORPUS" --gt-split test --music "$CORPUS/music" \
    --protocol finedance --out "$REPORT" "${CONTROL_ARGS[@]}" --quiet
