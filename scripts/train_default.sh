#!/usr/bin/env bash
# Train the shipped default model (all four stages, paper section 3.3) with the project's own CLI
# on the bootstrap corpus, then assemble the inference weights into dancemosaic_core/weights/default.
# Windows of 96 frames (24 tokens, 4.8 s) instead of MoMask's 196 halve the cost of a step on a
# CPU; the pipeline reads the trained window from the T2M checkpoint and never decodes longer ones.
# Usage: scripts/train_default.sh [CACHE_DIR] [RUN_DIR]   (env: STEPS_SCALE=0.1 for a smoke run)
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${1:-out/demo/cache}
RUNS=${2:-runs/default}
SCALE=${STEPS_SCALE:-1}
DM=${DANCEMOSAIC:-.venv/bin/dancemosaic}
OUT=${WEIGHTS_OUT:-dancemosaic_core/weights/default}
steps() { python3 -c "print(max(2, int($1 * $SCALE)))"; }
common=(--model=config/model/small.yaml --data.cache="$CACHE" --device=auto --tensorboard=false
        --progress=false --log_every=50)

if [[ ! -f "$CACHE/meta.json" ]]; then
  echo "no training cache at $CACHE: run 'dancemosaic data bootstrap --out out/demo/corpus' and" \
       "'dancemosaic data prepare --joints out/demo/corpus --out $CACHE' first" >&2
  exit 2
fi
# A stage whose run directory holds a finished checkpoint is not trained again (delete RUN_DIR to
# retrain from scratch).
done_stage() { [[ -f "$RUNS/$1/checkpoint/config.json" && ! -f "$RUNS/$1/.running" ]]; }
stage() {  # stage NAME ARGS...: train unless done
  local name=$1; shift
  if done_stage "$name"; then echo "[train_default] $name: done already"; return; fi
  mkdir -p "$RUNS/$name" && touch "$RUNS/$name/.running"
  local start=$SECONDS
  $DM train "$name" "${common[@]}" --out_dir="$RUNS/$name" "$@"
  rm -f "$RUNS/$name/.running"
  echo "[train_default] $name: $((SECONDS - start)) s"
}
# Stage 1: tokenizer on all motion
stage tokenizer --batch_size=32 --optim.max_steps="$(steps 3000)" --optim.warmup_steps=150 --save_every=500 \
    --eval_split=val
# Stage 2: T2M + residual transformer on text-motion (the corpus's move captions and genre prompts)
stage t2m --tokenizer="$RUNS/tokenizer/checkpoint" --batch_size=16 --data.window_frames=96 \
    --optim.max_steps="$(steps 7200)" --optim.warmup_steps=150 --save_every=400
# Stage 3: music tower, T2M frozen
stage music --tokenizer="$RUNS/tokenizer/checkpoint" --t2m="$RUNS/t2m/checkpoint" --batch_size=16 \
    --data.window_frames=96 --optim.max_steps="$(steps 6000)" --optim.warmup_steps=60 --save_every=250
# Stage 4: pose tower, T2M frozen
stage pose --tokenizer="$RUNS/tokenizer/checkpoint" --t2m="$RUNS/t2m/checkpoint" --batch_size=16 \
    --data.window_frames=96 --optim.max_steps="$(steps 1800)" --optim.warmup_steps=25 --save_every=300
# Inference weights only (no optimizer state): config.json, model.safetensors, mean/std, and the
# corpus's dance speed per genre (motion_stats.json: beat-aware ITTO's energy floor)
$DM train assemble --runs "$RUNS" --out "$OUT" --cache "$CACHE"
du -sh "$OUT"
