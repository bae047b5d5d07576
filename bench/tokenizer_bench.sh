#!/usr/bin/env bash
# tokenizer_bench.sh — `ember tokenizer` train (first 10 MB of Wikipedia -> 8,000 tokens) and encode (a held-out
# 10 MB slice, --format npy) beside a Python peer encoding the same slice with the same merges, in the same run.
#
# usage: bench/tokenizer_bench.sh [BUILD_DIR=build] [DATA_DIR=../shared/data] [REPS=3]
#   train  : ember tokenizer train --corpus WIKI.gz --max-bytes 10000000 --vocab-size 8000 (wall time)
#   encode : ember tokenizer encode --format npy on bytes 10,000,000..19,999,999 of the same file (not trained on),
#            1 and 2 threads, REPS runs each, median; tokens/s from ember's own encode timer and from the wall time
#   peer   : bench/tokenizer_peer.py (pure Python, same pre-tokeniser, rank-ordered merges, piece cache) on the
#            same slice; it checks that its ids are IDENTICAL to ember's .npy (all of them) and reports tokens/s.
# HuggingFace `tokenizers` would be the stronger peer but has no Debian package (bookworm): not used.
# Skips (exit 0, with a message) when the shared data is absent. Temp files go to ${TMPDIR:-/tmp}.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${1:-$ROOT/build}"
DATA="${2:-$ROOT/../shared/data}"
REPS="${3:-3}"
PY=/usr/bin/python3
WIKI="$DATA/corpus/enwiki_wikiextractor_AA-AB.txt.gz"
if [ ! -r "$WIKI" ]; then
  echo "tokenizer_bench: skipped: $WIKI not found (shared data absent)"
  exit 0
fi
[ -x "$BUILD/ember" ] || { echo "tokenizer_bench: build $BUILD/ember first (cmake --build $BUILD)" >&2; exit 1; }
[ -x "$PY" ] || { echo "tokenizer_bench: $PY not found (the peer needs it)" >&2; exit 1; }
TMP="$(mktemp -d "${TMPDIR:-/tmp}/ember_tok_bench.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
E="$BUILD/ember"

# The held-out slice: bytes 10,000,000..19,999,999 of the uncompressed corpus (head closes the pipe early, so
# zcat's SIGPIPE is expected; the size check below is what matters).
{ zcat "$WIKI" 2>/dev/null || true; } | head -c 20000000 | tail -c 10000000 > "$TMP/slice.txt"
[ "$(wc -c < "$TMP/slice.txt")" = 10000000 ] || { echo "tokenizer_bench: could not cut a 10 MB slice" >&2; exit 1; }

median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
# wall CMD...: runs CMD (stdout+stderr to $TMP/out), sets W to its wall seconds.
wall() {
  local t0 t1
  t0=$(date +%s.%N)
  "$@" > "$TMP/out" 2>&1 || { cat "$TMP/out" >&2; return 1; }
  t1=$(date +%s.%N)
  W=$(echo "$t1 - $t0" | bc -l)
}

echo "## tokenizer_bench $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); $(gcc --version | head -1); $($PY --version)"
echo "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE-unset} OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE-unset} OMP_WAIT_POLICY=${OMP_WAIT_POLICY-unset (ember sets PASSIVE)}"
echo

echo "### train: first 10 MB of $(basename "$WIKI") -> 8,000 tokens"
wall "$E" tokenizer train --corpus "$WIKI" --max-bytes 10000000 --vocab-size 8000 -o "$TMP/tok.txt" --quiet
grep -E "merges learned|vocab size|time|special ids|fingerprint" "$TMP/out" | sed 's/^/    /'
echo "ember train: ${W} s wall (process), $(wc -c < "$TMP/tok.txt") bytes of tokenizer file"
echo

echo "### encode: the 10 MB slice (held out) -> int32 .npy, $REPS runs each, median"
for th in 1 2; do
  : > "$TMP/enc_$th"; : > "$TMP/wall_$th"
  for _ in $(seq "$REPS"); do
    wall "$E" tokenizer encode --tokenizer "$TMP/tok.txt" --input "$TMP/slice.txt" --format npy --threads "$th" \
      -o "$TMP/ember_$th.npy"
    # "... N tokens in X s encoding (R tokens/s), Y s in all"
    sed -n 's/.*: \([0-9]*\) tokens in \([0-9.]*\) s encoding.*/\1 \2/p' "$TMP/out" > "$TMP/nt"
    read -r NTOK ENC < "$TMP/nt"
    echo "$ENC" >> "$TMP/enc_$th"; echo "$W" >> "$TMP/wall_$th"
  done
  ENC_M=$(median < "$TMP/enc_$th"); WALL_M=$(median < "$TMP/wall_$th")
  eval "TPS_$th=$(echo "$NTOK / $ENC_M" | bc -l)"
  eval "TPSW_$th=$(echo "$NTOK / $WALL_M" | bc -l)"
  printf "ember encode, %d thread(s): %d tokens; encode %.3f s (%.0f tokens/s); process %.3f s wall (%.0f tokens/s)\n" \
    "$th" "$NTOK" "$ENC_M" "$(eval echo \$TPS_$th)" "$WALL_M" "$(eval echo \$TPSW_$th)"
done
cmp -s "$TMP/ember_1.npy" "$TMP/ember_2.npy" && echo "1-thread and 2-thread .npy files identical: yes" \
  || { echo "1-thread and 2-thread .npy files DIFFER" >&2; exit 1; }
echo

echo "### peer: Python BPE with the same merges on the same slice"
wall $PY "$ROOT/bench/tokenizer_peer.py" "$TMP/tok.txt" "$TMP/slice.txt" "$TMP/ember_1.npy"
sed 's/^/    /' "$TMP/out"
PEER=$(sed -n 's/.*tokens in \([0-9.]*\) s encoding.*/\1/p' "$TMP/out")
PEER_TPS=$(echo "$NTOK / $PEER" | bc -l)
printf "python peer: encode %.2f s (%.0f tokens/s); process %.2f s wall\n" "$PEER" "$PEER_TPS" "$W"
printf "ratio ember / python, tokens/s of encoding: %.1fx (1 thread), %.1fx (2 threads)\n" \
  "$(echo "$TPS_1 / $PEER_TPS" | bc -l)" "$(echo "$TPS_2 / $PEER_TPS" | bc -l)"
