#!/bin/sh
# pretrain_mlm.sh — rebuilds the MLM model reported in bench/RESULTS.md: an 8,192-token byte-level BPE
# trained on the first 10 MB of the raw Wikipedia corpus, then `ember train mlm` (d 256, 4 layers,
# 4 heads, seq 128, batch 32, dropout 0.1, AdamW lr 1e-3, warmup 300, cosine to 1e-5) over the whole
# corpus (70,061 articles, ~101 MB), evaluating held-out MLM accuracy every 250 steps and
# checkpointing every 250 (resumable: run the same command again after an interruption).
#
# usage: experiments/pretrain_mlm.sh [OUT_DIR] [STEPS]     (defaults: /work/runs/mlm-wiki, 4500)
# Outputs: OUT_DIR/tok.txt, mlm.ckpt (+ .best, .svg), metrics.jsonl, train.log. About 1 h on 2 cores.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-/work/runs/mlm-wiki}
steps=${2:-4500}
ember=${EMBER:-$here/build/ember}
corpus=${EMBER_DATA_DIR:-$here/../shared/data}/corpus/enwiki_wikiextractor_AA-AB.txt.gz
[ -f "$corpus" ] || { echo "pretrain_mlm: $corpus is absent (../shared/data)" >&2; exit 2; }
mkdir -p "$out"
[ -f "$out/tok.txt" ] || "$ember" tokenizer train --corpus "$corpus" --vocab-size 8192 --max-bytes 10000000 -o "$out/tok.txt"
resume=""
[ -f "$out/mlm.ckpt" ] && resume="--resume $out/mlm.ckpt"
# shellcheck disable=SC2086
"$ember" train mlm --corpus "$corpus" --tokenizer "$out/tok.txt" --d 256 --layers 4 --heads 4 --seq 128 \
    --batch 32 --dropout 0.1 --steps "$steps" --lr 1e-3 --lr-floor 1e-5 --warmup 300 --eval-every 250 \
    --eval-seqs 128 --checkpoint "$out/mlm.ckpt" --checkpoint-every 250 --metrics "$out/metrics.jsonl" \
    --threads 2 $resume 2>&1 | tee -a "$out/train.log"
