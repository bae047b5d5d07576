#!/bin/sh
# pretrain_lm.sh — rebuilds the next-token LM reported in bench/RESULTS.md: muOmni's Thinker shape
# (RMSNorm, SwiGLU, grouped-query attention 4 heads / 2 kv heads, RoPE, untied head), d 256,
# 4 layers, seq 128, batch 32, on the raw Wikipedia corpus with the MLM run's 8,192-token BPE,
# AdamW lr 1e-3, warmup 100, cosine to 1e-5; held-out perplexity every 250 steps, and WikiText-2
# test perplexity (per BPE token and per WikiText word) once at the end (--test: never used to pick
# a checkpoint). Resumable: run the same command again after an interruption.
#
# usage: experiments/pretrain_lm.sh [OUT_DIR] [STEPS] [TOKENIZER]
#        (defaults: /work/runs/lm-wiki, 1000, /work/runs/mlm-wiki/tok.txt or a new one)
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-/work/runs/lm-wiki}
steps=${2:-1000}
tok=${3:-/work/runs/mlm-wiki/tok.txt}
ember=${EMBER:-$here/build/ember}
data=${EMBER_DATA_DIR:-$here/../shared/data}
corpus=$data/corpus/enwiki_wikiextractor_AA-AB.txt.gz
test=$data/corpus/wikitext-2/wiki.test.txt.gz
[ -f "$corpus" ] && [ -f "$test" ] || { echo "pretrain_lm: $corpus or $test is absent (../shared/data)" >&2; exit 2; }
mkdir -p "$out"
if [ ! -f "$tok" ]; then
  tok=$out/tok.txt
  [ -f "$tok" ] || "$ember" tokenizer train --corpus "$corpus" --vocab-size 8192 --max-bytes 10000000 -o "$tok"
fi
resume=""
[ -f "$out/lm.ckpt" ] && resume="--resume $out/lm.ckpt"
# shellcheck disable=SC2086
"$ember" train lm --corpus "$corpus" --tokenizer "$tok" --d 256 --layers 4 --heads 4 --kv-heads 2 --seq 128 \
    --batch 32 --steps "$steps" --lr 1e-3 --lr-floor 1e-5 --warmup 100 --eval-every 250 --eval-seqs 128 \
    --test "$test" --checkpoint "$out/lm.ckpt" --checkpoint-every 250 --metrics "$out/metrics.jsonl" \
    --threads 2 $resume 2>&1 | tee -a "$out/train.log"
