#!/usr/bin/env bash
# tokenizer_bench.sh — `ember tokenizer` train (first 10 MB of Wikipedia -> 8,000 tokens) and encode (a held-out
# 10 MB slice, --format npy) beside a Python peer encoding the same slice with the same merges, in the same run.
#
# usage: bench/tokenizer_bench.sh [BUILD_DIR=build] [DATA_DIR=../shared/data] [REPS=3]
#   train  : ember tokenizer train --corpus WIKI.gz --max-bytes 10000000 --vocab-size 8000 (wall time)
#   encode : ember tokenizer encode --format npy on the whole lines within bytes 10,000,000..19,999,999 of the same
#            file (~10 MB, not trained on), 1 and 2 threads, REPS runs each, median; tokens/s from ember's own encode
#            timer and from the process's wall time
#   peers  : HuggingFace `tokenizers` (Rust; npm package `tokenizers`, run by node: python3-tokenizers is not in
#            Debian bookworm and PyPI is not reachable) loaded with the SAME merges and a pre-tokeniser regex
#            equal to ember's (bench/tokenizer_peer_hf.js), 1 and 2 rayon threads; and a pure-Python encoder of
#            the same algorithm (bench/tokenizer_peer.py). Both check that their ids are IDENTICAL to ember's .npy
#            (all of them) and report tokens/s.
# The HF package is installed once with npm into ${EMBER_HF_DIR:-${TMPDIR:-/tmp}/ember-hf-tokenizers}; without
# node/npm that peer is skipped with a message. Skips everything (exit 0, with a message) when the shared data is
# absent. Temp files go to ${TMPDIR:-/tmp}.
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

# The held-out slice: the whole lines within bytes 10,000,000..19,999,999 of the uncompressed corpus (whole lines:
# no UTF-8 character cut at either end, so the HF peer, which reads text as UTF-8, sees the same bytes). head
# closes the pipe early, so zcat's SIGPIPE is expected; the size check below is what matters.
{ zcat "$WIKI" 2>/dev/null || true; } | head -c 20000000 | tail -c 10000000 | sed '1d;$d' > "$TMP/slice.txt"
SLICE_BYTES=$(wc -c < "$TMP/slice.txt")
[ "$SLICE_BYTES" -gt 9900000 ] || { echo "tokenizer_bench: could not cut a 10 MB slice" >&2; exit 1; }
HF_DIR="${EMBER_HF_DIR:-${TMPDIR:-/tmp}/ember-hf-tokenizers}"
HF=""
if command -v node > /dev/null && command -v npm > /dev/null; then
  [ -d "$HF_DIR/node_modules/tokenizers" ] ||
    npm install --prefix "$HF_DIR" --no-audit --no-fund --silent tokenizers@0.23.2 > /dev/null 2>&1 || true
  if NODE_PATH="$HF_DIR/node_modules" node -e 'require("tokenizers")' 2> /dev/null; then HF=1; fi
fi

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

echo "### encode: $SLICE_BYTES bytes (held out) -> int32 .npy, $REPS runs each, median"
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

if [ -n "$HF" ]; then
  echo "### peer: HuggingFace tokenizers $(NODE_PATH="$HF_DIR/node_modules" node -p 'require("tokenizers/package.json").version') (node $(node --version)), the same merges, the same slice"
  for th in 1 2; do
    wall env NODE_PATH="$HF_DIR/node_modules" RAYON_NUM_THREADS=$th node "$ROOT/bench/tokenizer_peer_hf.js" \
      "$TMP/tok.txt" "$TMP/slice.txt" "$TMP/ember_1.npy"
    sed 's/^/    /' "$TMP/out"
    grep -q "ids identical to ember's: yes" "$TMP/out" || { echo "tokenizer_bench: HF ids differ" >&2; exit 1; }
    HF_T=$(sed -n 's/.*encodeBatch() of [0-9]* chunks, RAYON.*tokens in \([0-9.]*\) s encoding.*/\1/p' "$TMP/out")
    eval "HF_TPS_$th=$(echo "$NTOK / $HF_T" | bc -l)"
    printf "hf encodeBatch, %d thread(s): %.3f s (%.0f tokens/s)\n" "$th" "$HF_T" "$(eval echo \$HF_TPS_$th)"
    HF_STD=$(sed -n 's/.*GPT-2 ByteLevel.*: \([0-9]*\) tokens in \([0-9.]*\) s encoding.*/\1 \2/p' "$TMP/out")
    eval "HF_STD_TPS_$th=$(echo "$HF_STD" | awk '{print $1 / $2}')"
  done
  printf "ratio ember / hf, tokens/s of encoding: %.2fx (1 thread each), %.2fx (2 threads each)\n" \
    "$(echo "$TPS_1 / $HF_TPS_1" | bc -l)" "$(echo "$TPS_2 / $HF_TPS_2" | bc -l)"
  printf "ratio ember / hf with GPT-2's ByteLevel pre-tokenizer: %.2fx (1 thread each), %.2fx (2 threads each)\n" \
    "$(echo "$TPS_1 / $HF_STD_TPS_1" | bc -l)" "$(echo "$TPS_2 / $HF_STD_TPS_2" | bc -l)"
else
  echo "### peer: HuggingFace tokenizers: skipped (node/npm or the npm package 'tokenizers' not available)"
fi
echo

echo "### peer: Python BPE with the same merges on the same slice"
wall $PY "$ROOT/bench/tokenizer_peer.py" "$TMP/tok.txt" "$TMP/slice.txt" "$TMP/ember_1.npy"
sed 's/^/    /' "$TMP/out"
PEER=$(sed -n 's/.*tokens in \([0-9.]*\) s encoding.*/\1/p' "$TMP/out")
PEER_TPS=$(echo "$NTOK / $PEER" | bc -l)
printf "python peer: encode %.2f s (%.0f tokens/s); process %.2f s wall\n" "$PEER" "$PEER_TPS" "$W"
printf "ratio ember / python, tokens/s of encoding: %.1fx (1 thread), %.1fx (2 threads)\n" \
  "$(echo "$TPS_1 / $PEER_TPS" | bc -l)" "$(echo "$TPS_2 / $PEER_TPS" | bc -l)"
