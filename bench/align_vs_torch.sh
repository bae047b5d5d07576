#!/bin/sh
# align_vs_torch.sh — `ember train align` against PyTorch training the same three towers with the same loss,
# optimizer, augmentation and batch shapes on the same files (bench/torch_align_train.py), back to back, R
# rounds alternating which goes first. Prints per run: images/s and recordings/s over the training steps
# (ember: every step after the process's first; PyTorch: after 5 warm-up steps), whole-process wall time
# (data loading and feature extraction included) and peak RSS; then the median ratio ember / PyTorch.
# PyTorch runs twice per round: with the caller's environment (libgomp's default OpenMP wait policy,
# what a PyTorch user gets) and with OMP_WAIT_POLICY=PASSIVE, the policy `ember` sets for itself
# (docs/ARCHITECTURE.md): on a loaded 2-core machine the policy alone moves PyTorch several-fold.
#
# usage: bench/align_vs_torch.sh [-s STEPS] [-r ROUNDS] [-t THREADS] [-e EMBER]
#   -s  timed steps (default 40)   -r  rounds (3)   -t  threads (2)   -e  the ember binary (build/ember)
# Model (both sides): the defaults of `ember train align` (128 images + 32 recordings per step).
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
steps=40
rounds=3
threads=2
ember=$here/build/ember
while getopts s:r:t:e: opt; do
  case $opt in
    s) steps=$OPTARG ;; r) rounds=$OPTARG ;; t) threads=$OPTARG ;; e) ember=$OPTARG ;;
    *) sed -n '2,11p' "$0"; exit 2 ;;
  esac
done
data=${EMBER_DATA_DIR:-$here/../shared/data}
[ -f "$data/audio/fsdd_recordings.tar.gz" ] && [ -d "$data/images/fashion-mnist" ] || {
  echo "align_vs_torch: skipped: $data lacks images/fashion-mnist or audio/fsdd_recordings.tar.gz"; exit 0; }
[ -x "$ember" ] || { echo "align_vs_torch: no ember binary at $ember (build first or pass -e)" >&2; exit 2; }
/usr/bin/python3 -c "import torch" 2>/dev/null || { echo "align_vs_torch: skipped: python3-torch is not installed"; exit 0; }
work=$(mktemp -d /tmp/alignbench.XXXXXX)
trap 'rm -rf "$work"' EXIT
echo "$steps timed steps of 128 images + 32 recordings; threads $threads"
echo "environment: OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset} OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE:-unset}; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
run_ember() {
  /usr/bin/time -f "%e %M" -o "$work/time" "$ember" train align --data "$data" --steps $((steps + 1)) --warmup 200 \
    --eval-images 200 --threads "$threads" 2> "$work/ember.err" || { cat "$work/ember.err" >&2; exit 1; }
  ips=$(sed -n 's/.*, \([0-9.]*\) images\/s and \([0-9.]*\) recordings\/s over.*/\1/p' "$work/ember.err")
  rps=$(sed -n 's/.*, \([0-9.]*\) images\/s and \([0-9.]*\) recordings\/s over.*/\2/p' "$work/ember.err")
  set -- $(cat "$work/time")
  echo "ember  images/s $ips  recordings/s $rps  wall ${1} s  peak RSS $(($2 / 1024)) MB  load $(cut -d' ' -f1 /proc/loadavg)"
  echo "$ips" >> "$work/ember.ips"
}
run_torch() { # $1: label, $2: OMP_WAIT_POLICY for this run or empty for the caller's
  label=$1
  if [ -n "$2" ]; then pol="env OMP_WAIT_POLICY=$2"; else pol=env; fi
  /usr/bin/time -f "%e %M" -o "$work/time" $pol /usr/bin/python3 "$here/bench/torch_align_train.py" "$data" \
    --steps "$steps" --warmup-steps 5 --threads "$threads" > "$work/torch.out" 2>&1 || { cat "$work/torch.out" >&2; exit 1; }
  ips=$(sed -n 's/.*images\/s=\([0-9.]*\).*/\1/p' "$work/torch.out")
  rps=$(sed -n 's/.*recordings\/s=\([0-9.]*\).*/\1/p' "$work/torch.out")
  set -- $(cat "$work/time")
  echo "$label images/s $ips  recordings/s $rps  wall ${1} s  peak RSS $(($2 / 1024)) MB  load $(cut -d' ' -f1 /proc/loadavg)"
  echo "$ips" >> "$work/$label.ips"
}
r=1
while [ $r -le "$rounds" ]; do
  if [ $((r % 2)) = 1 ]; then run_ember; run_torch torch ""; run_torch torch-passive PASSIVE
  else run_torch torch-passive PASSIVE; run_torch torch ""; run_ember; fi
  r=$((r + 1))
done
/usr/bin/python3 - "$work/ember.ips" "$work/torch.ips" "$work/torch-passive.ips" <<'PY'
import sys, statistics as st
e, t, p = ([float(x) for x in open(f)] for f in sys.argv[1:4])
print(f"median images/s: ember {st.median(e):.0f}, PyTorch {st.median(t):.0f} (default OpenMP policy), "
      f"{st.median(p):.0f} (PASSIVE); ratio ember/PyTorch {st.median(e) / st.median(t):.2f} and {st.median(e) / st.median(p):.2f} "
      f"(recordings/s scale the same: 32 per step on both sides)")
PY
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
