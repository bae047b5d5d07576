#!/usr/bin/env bash
# data_bench.sh — data pipeline benchmarks (issue 4), each beside a peer measured in the same run.
#
# usage: bench/data_bench.sh [BUILD_DIR=build] [DATA_DIR=../shared/data]
#   corpus read  : bench_corpus_read (plain, gzip, 2 shards) vs cat, zcat, wc -w on the same file
#   vocab build  : bench_vocab_build vs gensim build_vocab (time and peak RSS via /usr/bin/time)
#   BPE          : bench_bpe_bench (train 10 MB -> 5,000 tokens, encode all ~100 MB on 2 threads) and
#                  training on 1 MB -> 456 tokens vs a naive Python BPE (merges compared for equality)
#   world        : generation rate of the chapter-world corpus
# The plain copy of the text8-style corpus goes to ${TMPDIR:-/tmp} (never into the repository).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${1:-$ROOT/build}"
DATA="${2:-$ROOT/../shared/data}"
PY=/usr/bin/python3
GZ="$DATA/corpus/enwiki_text8style_1e8.txt.gz"
WIKI="$DATA/corpus/enwiki_wikiextractor_AA-AB.txt.gz"
TMP="${TMPDIR:-/tmp}"
PLAIN="$TMP/ember_bench_text8.txt"
for f in "$GZ" "$WIKI"; do [ -r "$f" ] || { echo "data_bench: missing $f" >&2; exit 1; }; done
for b in bench_corpus_read bench_vocab_build bench_bpe_bench bench_world_gen; do
  [ -x "$BUILD/$b" ] || { echo "data_bench: build $BUILD/$b first (cmake --build $BUILD)" >&2; exit 1; }
done
[ -s "$PLAIN" ] || zcat "$GZ" > "$PLAIN"

# t CMD...: runs CMD, prints its stdout, and sets T (wall s), U (user+sys s), M (peak RSS MB).
# tq CMD...: the same for peers whose output is the data itself (discarded).
QUIET=0
tq() { QUIET=1; t "$@"; QUIET=0; }
t() {
  local out; out="$(mktemp)"
  /usr/bin/time -f "%e %U %S %M" -o "$out.time" "$@" > "$out" 2> "$out.err" || { cat "$out.err" >&2; return 1; }
  [ "$QUIET" = 1 ] || grep -v Warning "$out" || true
  read -r T u s m < "$out.time"
  U=$(echo "$u + $s" | bc -l); M=$(echo "scale=1; $m / 1024" | bc -l)
  rm -f "$out" "$out.time" "$out.err"
}
ratio() { echo "scale=2; $1 / $2" | bc -l; }

echo "## data_bench $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "### corpus read (99,999,999 bytes, 17,270,346 words)"
tq cat "$PLAIN" ; cat_T=$T; cat_U=$U;                  echo "cat plain: ${T} s wall, ${U} s cpu"
tq wc -w "$PLAIN" ; wc_T=$T; wc_U=$U;                  echo "wc -w plain: ${T} s wall, ${U} s cpu"
t "$BUILD/bench_corpus_read" "$PLAIN"; pl_T=$T; pl_U=$U; echo "ember plain: ${T} s wall, ${U} s cpu, ${M} MB peak RSS"
t "$BUILD/bench_corpus_read" "$PLAIN" 2; echo "ember plain, 2 shards: ${T} s wall, ${U} s cpu"
tq zcat "$GZ"; z_T=$T; z_U=$U;                          echo "zcat gzip: ${T} s wall, ${U} s cpu"
t "$BUILD/bench_corpus_read" "$GZ"; gz_T=$T; gz_U=$U;  echo "ember gzip: ${T} s wall, ${U} s cpu, ${M} MB peak RSS"
echo "ratios (cpu): ember plain / wc -w = $(ratio "$pl_U" "$wc_U"); ember gzip / zcat = $(ratio "$gz_U" "$z_U")"
echo "ratios (wall): ember plain / cat = $(ratio "$pl_T" "$cat_T"); ember gzip / zcat = $(ratio "$gz_T" "$z_T")"
echo
echo "### vocabulary build (min-count 5)"
t "$BUILD/bench_vocab_build" "$GZ"; v_T=$T; v_U=$U; v_M=$M; echo "ember (gzip input): ${T} s wall, ${U} s cpu, ${M} MB peak RSS (build + a second read+find pass)"
t "$BUILD/bench_vocab_build" "$PLAIN"; vp_T=$T; vp_U=$U; vp_M=$M; echo "ember (plain input): ${T} s wall, ${U} s cpu, ${M} MB peak RSS"
t $PY "$ROOT/bench/vocab_peer.py" "$PLAIN"; g_T=$T; g_U=$U; g_M=$M; echo "gensim (plain input): ${T} s wall, ${U} s cpu, ${M} MB peak RSS"
echo "ratio gensim / ember (plain, cpu, whole programs): $(ratio "$g_U" "$vp_U"); peak RSS gensim / ember: $(ratio "$g_M" "$vp_M")"
echo
echo "### BPE"
t "$BUILD/bench_bpe_bench" "$WIKI" 10000000 5000 2; echo "ember train+encode+decode: ${T} s wall, ${U} s cpu, ${M} MB peak RSS"
M1="$TMP/ember_bench_merges_456.bpe"
t "$BUILD/bench_bpe_bench" "$WIKI" 1000000 456 1 "$M1" 1; e_T=$T; echo "ember train 1 MB -> 456: ${T} s wall"
t $PY "$ROOT/bench/bpe_peer.py" "$WIKI" 1000000 456 "$M1"; p_T=$T; echo "naive python train 1 MB -> 456: ${T} s wall"
echo "ratio python / ember (1 MB, 200 merges, wall): $(ratio "$p_T" "$e_T")"
echo
echo "### chapter world"
t "$BUILD/bench_world_gen" "$TMP/ember_bench_world.txt" 300000 1; echo "$(wc -c < "$TMP/ember_bench_world.txt") bytes; ${T} s wall"
tq cat "$TMP/ember_bench_world.txt"; echo "cat of the same file: ${T} s wall"
rm -f "$TMP/ember_bench_world.txt" "$M1"
