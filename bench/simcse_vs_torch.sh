#!/bin/sh
# simcse_vs_torch.sh — `ember train contrastive` (unsupervised SimCSE with the projection head) against
# PyTorch doing the same step (bench/torch_simcse_train.py) on the same Wikipedia sentences, back to back,
# R rounds alternating which goes first. PyTorch runs twice a round: with its default OpenMP wait
# policy (idle threads spin) and with OMP_WAIT_POLICY=PASSIVE, the policy ember sets for itself
# (cli/main.c); on a loaded 2-core machine the two differ several-fold. Prints per run: sentences/s
# over the training steps, wall time and peak RSS; then the median ratios ember / PyTorch.
#
# usage: bench/simcse_vs_torch.sh [-n SENTENCES] [-s STEPS] [-r ROUNDS] [-t THREADS] [-e EMBER]
#   -n  sentences drawn from the raw Wikipedia corpus (default 20000)
#   -s  timed steps (default 30; each side also runs 5 untimed warm-up steps)
#   -r  rounds (default 3);  -t threads (2);  -e the ember binary (default build/ember)
# Model (both sides): d 256, 4 layers, 4 heads, max length 32, batch 64 (128 sequences a step), vocab
# 8192 BPE, dropout 0.1, temperature 0.05; the ember side starts from an untrained `train mlm` checkpoint.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
nsent=20000
steps=30
rounds=3
threads=2
ember=$here/build/ember
while getopts n:s:r:t:e: opt; do
  case $opt in
    n) nsent=$OPTARG ;; s) steps=$OPTARG ;; r) rounds=$OPTARG ;; t) threads=$OPTARG ;; e) ember=$OPTARG ;;
    *) sed -n '2,12p' "$0"; exit 2 ;;
  esac
done
data=${EMBER_DATA_DIR:-$here/../shared/data}
src=$data/corpus/enwiki_wikiextractor_AA-AB.txt.gz
[ -f "$src" ] || { echo "simcse_vs_torch: skipped: $src is absent (../shared/data)"; exit 0; }
[ -x "$ember" ] || { echo "simcse_vs_torch: no ember binary at $ember (build first or pass -e)" >&2; exit 2; }
/usr/bin/python3 -c "import torch" 2>/dev/null || { echo "simcse_vs_torch: skipped: python3-torch is not installed"; exit 0; }
work=$(mktemp -d /tmp/simcsebench.XXXXXX)
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 "$here/experiments/wiki_sentences.py" "$src" "$nsent" "$work/sents.txt" 2>/dev/null
"$ember" tokenizer train --corpus "$work/sents.txt" --vocab-size 8192 -o "$work/tok.txt" >/dev/null 2>&1
"$ember" tokenizer encode --tokenizer "$work/tok.txt" --input "$work/sents.txt" -o "$work/ids.txt" >/dev/null 2>&1
"$ember" train mlm --corpus "$work/sents.txt" --tokenizer "$work/tok.txt" --seq 128 --steps 1 --quiet \
  --checkpoint "$work/init.ckpt" >/dev/null 2>&1
vocab=$("$ember" tokenizer info "$work/tok.txt" | sed -n 's/^vocab size:* *\([0-9]*\).*/\1/p' | head -1)
pad=$("$ember" tokenizer info "$work/tok.txt" | sed -n 's/.*\[PAD\][^0-9]*\([0-9]*\).*/\1/p' | head -1)
[ -n "$vocab" ] && [ -n "$pad" ] || { echo "simcse_vs_torch: could not read the tokenizer's vocab size / [PAD] id" >&2; exit 1; }
total=$((steps + 5))
echo "sentences: $nsent; tokenizer: $vocab tokens ([PAD] = $pad); $steps timed steps of 64 sentences x 2 views; threads $threads"
echo "environment: OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset} OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE:-unset}; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
run_ember() {
  /usr/bin/time -f "%e %M" -o "$work/time" "$ember" train contrastive --init "$work/init.ckpt" --data "$work/sents.txt" \
    --loss simcse --proj --batch 64 --max-len 32 --steps "$total" --eval none --threads "$threads" 2> "$work/ember.err" \
    || { cat "$work/ember.err" >&2; exit 1; }
  sps=$(sed -n 's/.* \([0-9.]*\) sentences\/s after.*/\1/p' "$work/ember.err")
  set -- $(cat "$work/time")
  echo "ember  sentences/s $sps  wall ${1} s  peak RSS $(($2 / 1024)) MB"
  echo "$sps" >> "$work/ember.sps"
}
run_torch() { # $1: default | passive
  pol=$1
  if [ "$pol" = passive ]; then set -- env OMP_WAIT_POLICY=PASSIVE; else set -- env; fi
  /usr/bin/time -f "%e %M" -o "$work/time" "$@" /usr/bin/python3 "$here/bench/torch_simcse_train.py" "$work/ids.txt" "$vocab" "$pad" \
    --steps "$steps" --warmup-steps 5 --threads "$threads" > "$work/torch.out" 2>&1 || { cat "$work/torch.out" >&2; exit 1; }
  sps=$(sed -n 's/.*sentences\/s=\([0-9.]*\).*/\1/p' "$work/torch.out")
  set -- $(cat "$work/time")
  echo "torch ($pol)  sentences/s $sps  wall ${1} s  peak RSS $(($2 / 1024)) MB   ($(cut -c1-60 "$work/torch.out"))"
  echo "$sps" >> "$work/torch_$pol.sps"
}
r=1
while [ $r -le "$rounds" ]; do
  if [ $((r % 2)) = 1 ]; then run_ember; run_torch default; run_torch passive
  else run_torch passive; run_torch default; run_ember; fi
  r=$((r + 1))
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 - "$work/ember.sps" "$work/torch_default.sps" "$work/torch_passive.sps" <<'PY'
import sys, statistics as st
e, d, p = ([float(x) for x in open(f)] for f in sys.argv[1:4])
print(f"median sentences/s: ember {st.median(e):.1f}, PyTorch default policy {st.median(d):.1f}, PASSIVE {st.median(p):.1f}; "
      f"ratio ember/PyTorch {st.median(e) / st.median(d):.2f} (default), {st.median(e) / st.median(p):.2f} (PASSIVE)")
PY
