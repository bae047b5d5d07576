#!/bin/sh
# mlm_vs_torch.sh — `ember train mlm` against PyTorch training the same model, masking and batch
# shape on the same token stream (bench/torch_mlm_train.py), back to back, R rounds alternating
# which goes first. Prints per run: tokens/s over the training steps, whole-process wall time and
# peak RSS; then the median ratio ember / PyTorch of tokens/s.
#
# usage: bench/mlm_vs_torch.sh [-b BYTES] [-s STEPS] [-r ROUNDS] [-t THREADS] [-e EMBER] [-- EXTRA MODEL FLAGS]
#   -b  corpus bytes used (default 20 MB of the raw Wikipedia corpus, doc-marker lines removed)
#   -s  timed steps (default 40; each side also runs 5 untimed warm-up steps)
#   -r  rounds (default 3);  -t threads (2);  -e the ember binary (default build/ember)
# Model (both sides): d 256, 4 layers, 4 heads, seq 128, batch 32, vocab 8192 BPE, dropout 0.1.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
bytes=20000000
steps=40
rounds=3
threads=2
ember=$here/build/ember
while getopts b:s:r:t:e: opt; do
  case $opt in
    b) bytes=$OPTARG ;; s) steps=$OPTARG ;; r) rounds=$OPTARG ;; t) threads=$OPTARG ;; e) ember=$OPTARG ;;
    *) sed -n '2,12p' "$0"; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
data=${EMBER_DATA_DIR:-$here/../shared/data}
src=$data/corpus/enwiki_wikiextractor_AA-AB.txt.gz
[ -f "$src" ] || { echo "mlm_vs_torch: skipped: $src is absent (../shared/data)"; exit 0; }
[ -x "$ember" ] || { echo "mlm_vs_torch: no ember binary at $ember (build first or pass -e)" >&2; exit 2; }
/usr/bin/python3 -c "import torch" 2>/dev/null || { echo "mlm_vs_torch: skipped: python3-torch is not installed"; exit 0; }
work=$(mktemp -d /tmp/mlmbench.XXXXXX)
trap 'rm -rf "$work"' EXIT
# The same text for both: the corpus slice without WikiExtractor's <doc>/</doc> lines (ember drops them too).
zcat "$src" | head -c "$bytes" | grep -v -e '^<doc ' -e '^</doc>' > "$work/text.txt" || true
"$ember" tokenizer train --corpus "$work/text.txt" --vocab-size 8192 --max-bytes 10000000 -o "$work/tok.txt" >/dev/null 2>&1
"$ember" tokenizer encode --tokenizer "$work/tok.txt" --input "$work/text.txt" --format npy -o "$work/ids.npy" >/dev/null 2>&1
vocab=$("$ember" tokenizer info "$work/tok.txt" | sed -n 's/^vocab size:* *\([0-9]*\).*/\1/p' | head -1)
pad=$("$ember" tokenizer info "$work/tok.txt" | sed -n 's/.*\[PAD\][^0-9]*\([0-9]*\).*/\1/p' | head -1)
[ -n "$vocab" ] && [ -n "$pad" ] || { echo "mlm_vs_torch: could not read the tokenizer's vocab size / [PAD] id" >&2; exit 1; }
total=$((steps + 5))
echo "corpus: $(wc -c < "$work/text.txt") bytes; tokenizer: $vocab tokens ([PAD] = $pad); $steps timed steps of 32 x 128; threads $threads"
echo "environment: OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset} OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE:-unset}; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
run_ember() {
  /usr/bin/time -f "%e %M" -o "$work/time" "$ember" train mlm --corpus "$work/text.txt" --tokenizer "$work/tok.txt" \
    --steps "$total" --warmup 100 --threads "$threads" "$@" 2> "$work/ember.err" || { cat "$work/ember.err" >&2; exit 1; }
  tps=$(sed -n 's/.* \([0-9]*\) tokens\/s over.*/\1/p' "$work/ember.err")
  set -- $(cat "$work/time")
  echo "ember  tokens/s $tps  wall ${1} s  peak RSS $(($2 / 1024)) MB"
  echo "$tps" >> "$work/ember.tps"
}
run_torch() {
  /usr/bin/time -f "%e %M" -o "$work/time" /usr/bin/python3 "$here/bench/torch_mlm_train.py" "$work/ids.npy" "$vocab" "$pad" \
    --steps "$steps" --warmup-steps 5 --threads "$threads" > "$work/torch.out" 2>&1 || { cat "$work/torch.out" >&2; exit 1; }
  tps=$(sed -n 's/.*tokens\/s=\([0-9]*\).*/\1/p' "$work/torch.out")
  set -- $(cat "$work/time")
  echo "torch  tokens/s $tps  wall ${1} s  peak RSS $(($2 / 1024)) MB   ($(cut -c1-60 "$work/torch.out"))"
  echo "$tps" >> "$work/torch.tps"
}
r=1
while [ $r -le "$rounds" ]; do
  if [ $((r % 2)) = 1 ]; then run_ember "$@"; run_torch; else run_torch; run_ember "$@"; fi
  r=$((r + 1))
done
/usr/bin/python3 - "$work/ember.tps" "$work/torch.tps" <<'EOF'
import sys, statistics as st
e = [float(x) for x in open(sys.argv[1])]; t = [float(x) for x in open(sys.argv[2])]
print(f"median tokens/s: ember {st.median(e):.0f}, PyTorch {st.median(t):.0f}; ratio ember/PyTorch {st.median(e) / st.median(t):.2f}")
EOF
