#!/bin/sh
# sts_table.sh — rebuilds every encoder of bench/RESULTS.md's "Sentence embeddings" table and prints
# its STS (`ember eval sts`) and SST-2 probe (`ember eval probe`) rows.
#
# usage: experiments/sts_table.sh [OUT_DIR] [MLM_CHECKPOINT]
#   OUT_DIR         where runs go (default /work/runs/sts)
#   MLM_CHECKPOINT  the experiments/pretrain_mlm.sh model (default /work/runs/mlm-wiki/mlm.ckpt; built
#                   by that script, about 1 h, when absent)
# Runs (2 cores, idle machine; the table's runs shared the machine, see RESULTS.md): Word2Vec ~2 min,
# SimCSE on the MLM encoder 1,000 steps, SimCSE on the bag of vectors 2,000 steps, CoSENT runs 4 and
# 12 epochs of STS-B train. Every run checkpoints and resumes if started again.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-/work/runs/sts}
mlm=${2:-/work/runs/mlm-wiki/mlm.ckpt}
ember=${EMBER:-$here/build/ember}
data=${EMBER_DATA_DIR:-$here/../shared/data}
[ -d "$data/sentence-sim" ] || { echo "sts_table: $data is absent (../shared/data)" >&2; exit 2; }
mkdir -p "$out"
[ -f "$mlm" ] || "$here/experiments/pretrain_mlm.sh" "$(dirname "$mlm")"
[ -f /tmp/enwiki.txt ] || zcat "$data/corpus/enwiki_text8style_1e8.txt.gz" > /tmp/enwiki.txt
[ -f "$out/vec300.bin" ] || "$ember" word2vec -train /tmp/enwiki.txt -output "$out/vec300.bin" -binary 1 -cbow 0 \
    -size 300 -window 5 -negative 5 -sample 1e-4 -min-count 5 -iter 5 -threads 2 -debug 1
[ -f "$out/wiki_sentences.txt" ] || /usr/bin/python3 "$here/experiments/wiki_sentences.py" \
    "$data/corpus/enwiki_wikiextractor_AA-AB.txt.gz" 1000000 "$out/wiki_sentences.txt"
stsb=$data/sentence-sim/stsbenchmark/sts-train.csv
run() { # name, then `ember train contrastive` flags; resumes a run that was interrupted
  name=$1; shift
  [ -f "$out/$name.done" ] && return 0
  resume=""
  [ -f "$out/$name.ckpt" ] && resume="--resume $out/$name.ckpt"
  # shellcheck disable=SC2086
  "$ember" train contrastive "$@" --checkpoint "$out/$name.ckpt" --metrics "$out/$name.jsonl" $resume \
      2>&1 | tee -a "$out/$name.log"
  touch "$out/$name.done"
}
run simcse-mlm --init "$mlm" --data "$out/wiki_sentences.txt" --loss simcse --proj --batch 64 --max-len 32 \
    --temperature 0.05 --lr 1e-4 --warmup 100 --steps 1000 --eval-every 125 --checkpoint-every 125
run simcse-bov --init "$out/vec300.bin" --data "$out/wiki_sentences.txt" --loss simcse --batch 64 --max-len 32 \
    --temperature 0.05 --lr 1e-3 --warmup 100 --steps 2000 --eval-every 250 --checkpoint-every 250
run cosent-mlm --init "$mlm" --data "$stsb" --batch 32 --max-len 64 --lr 1e-4 --warmup 72 --epochs 4 \
    --eval-every 90 --checkpoint-every 90
run cosent-bov4 --init "$out/vec300.bin" --data "$stsb" --batch 32 --max-len 64 --lr 1e-3 --warmup 72 --epochs 4 \
    --eval-every 90 --checkpoint-every 90
run cosent-bov12 --init "$out/vec300.bin" --data "$stsb" --batch 32 --max-len 64 --lr 3e-3 --warmup 100 --epochs 12 \
    --eval-every 270 --checkpoint-every 270
for m in "$out/vec300.bin" "$mlm" "$out/simcse-mlm.ckpt.best" "$out/simcse-bov.ckpt.best" "$out/cosent-mlm.ckpt.best" \
         "$out/cosent-bov4.ckpt.best" "$out/cosent-bov12.ckpt.best"; do
  "$ember" eval sts "$m"
  "$ember" eval probe "$m" --task sst2
done
