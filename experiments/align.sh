#!/bin/sh
# align.sh — rebuilds the align model reported in bench/RESULTS.md and docs/ALIGN.md: `ember train align`
# with the default towers (ViT patch 7, d 96, 3 blocks; 40-bin 8 kHz log-mel, 2 strided convs, d 96,
# 2 blocks; 64-d word vectors; all projected to 256-d), 128 images (Fashion-MNIST train + the first
# 8,000 MNIST test images) and 32 FSDD recordings (official train split minus the held-out speaker
# theo) per step, AdamW lr 1e-3, warmup 200, cosine, STEPS steps, evaluated every 1000 and
# checkpointed every 250 (resumable: run the same command again after an interruption), then
# `ember eval align` (zero-shot, retrieval, shape walk, t-SNE map).
#
# usage: experiments/align.sh [OUT_DIR] [STEPS]     (defaults: /work/runs/align, 5000)
# Outputs: OUT_DIR/align.ckpt (+ .best, .svg loss curve), metrics.jsonl, train.log, eval.txt,
# eval.json, map.svg. The binary is copied to OUT_DIR/ember first so a rebuild cannot change a
# resumed run.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-/work/runs/align}
steps=${2:-5000}
mkdir -p "$out"
[ -x "$out/ember" ] || cp "${EMBER:-$here/build/ember}" "$out/ember"
ember=$out/ember
resume=""
[ -f "$out/align.ckpt" ] && resume="--resume $out/align.ckpt"
echo "start $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg) OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset} OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE:-unset}" >> "$out/train.log"
# shellcheck disable=SC2086
"$ember" train align --steps "$steps" --warmup 200 --lr 1e-3 --eval-every 1000 --eval-images 2000 \
    --checkpoint "$out/align.ckpt" --checkpoint-every 250 --metrics "$out/metrics.jsonl" --threads 2 $resume \
    >> "$out/train.log" 2>&1
echo "end $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/train.log"
"$ember" eval align "$out/align.ckpt" --walk --svg "$out/map.svg" > "$out/eval.txt"
"$ember" eval align "$out/align.ckpt" --json > "$out/eval.json"
cat "$out/eval.txt"
