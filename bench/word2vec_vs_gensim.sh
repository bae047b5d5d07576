#!/bin/sh
# word2vec_vs_gensim.sh — trains Word2Vec with ember and with gensim (the peer) on the same corpus
# and flags, back to back, and prints one table: whole-process wall time, words/s/thread (corpus
# words x epochs / wall / threads, the same formula for both), peak RSS, CPU time, analogy accuracy
# (questions-words, top-30k vocabulary, gensim's evaluate_word_analogies) and WS-353 Spearman rho.
#
# usage: bench/word2vec_vs_gensim.sh [-c CORPUS] [-b BYTES] [-m sg|cbow] [-i ITER] [-t THREADS] [-e EMBER]
#   -c  corpus (default /tmp/enwiki.txt; made once from the shared enwiki .gz if missing)
#   -b  use only the first BYTES bytes (a slice for quick development runs; 0 = all)
#   -m  sg (skip-gram, default) or cbow;  -i epochs (5);  -t threads (2)
#   -e  the ember binary (default build/ember next to this script's tree)
# Flags as the issue's benchmark: -size 100 -window 5 -negative 5 -sample 1e-4 -min-count 5.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
corpus=/tmp/enwiki.txt
bytes=0
mode=sg
iter=5
threads=2
ember=""
while getopts c:b:m:i:t:e: opt; do
  case $opt in
    c) corpus=$OPTARG ;; b) bytes=$OPTARG ;; m) mode=$OPTARG ;; i) iter=$OPTARG ;;
    t) threads=$OPTARG ;; e) ember=$OPTARG ;; *) sed -n '2,12p' "$0"; exit 2 ;;
  esac
done
if [ -z "$ember" ]; then
  for b in "$here"/build-w2v/ember "$here"/build/ember; do [ -x "$b" ] && ember=$b && break; done
fi
[ -x "$ember" ] || { echo "word2vec_vs_gensim: no ember binary (build first or pass -e)" >&2; exit 2; }
data=${EMBER_DATA_DIR:-$here/../shared/data}
peer=${EMBER_PEERS_DIR:-$here/../shared/peers}/gensim_word2vec.py
if [ ! -f "$corpus" ]; then
  echo "making $corpus from $data/corpus/enwiki_text8style_1e8.txt.gz" >&2
  zcat "$data/corpus/enwiki_text8style_1e8.txt.gz" > "$corpus.part" && mv "$corpus.part" "$corpus"
fi
work=$(mktemp -d /tmp/w2vbench.XXXXXX)
trap 'rm -rf "$work"' EXIT
if [ "$bytes" != 0 ]; then
  head -c "$bytes" "$corpus" > "$work/corpus.txt"
  corpus=$work/corpus.txt
fi
cbow=0; [ "$mode" = cbow ] && cbow=1
flags="-cbow $cbow -size 100 -window 5 -negative 5 -sample 1e-4 -min-count 5 -iter $iter -threads $threads"
words=$(wc -w < "$corpus")
echo "corpus $corpus: $words words; flags: $flags" >&2

run() { # name, command...: whole process under /usr/bin/time -v
  name=$1; shift
  /usr/bin/time -v "$@" > "$work/$name.out" 2> "$work/$name.err" || { cat "$work/$name.err" >&2; exit 1; }
}
run ember "$ember" word2vec -train "$corpus" -output "$work/ember.bin" -binary 1 $flags -debug 1
run gensim /usr/bin/python3 "$peer" -train "$corpus" -output "$work/gensim.bin" -binary 1 $flags

cat > "$work/eval.py" <<EOF
import sys, logging
logging.disable(logging.WARNING)
from gensim.models import KeyedVectors
for name in ("ember", "gensim"):
    kv = KeyedVectors.load_word2vec_format("$work/%s.bin" % name, binary=True)
    ws = kv.evaluate_word_pairs("$data/wordsim/EN-WS-353-ALL.txt")
    an = kv.evaluate_word_analogies("$data/analogy/questions-words.txt", restrict_vocab=30000)
    print(name, "%.1f" % (100 * an[0]), "%.1f" % (100 * ws[1][0]))
EOF
/usr/bin/python3 "$work/eval.py" > "$work/quality.txt" 2>/dev/null

field() { # file, label
  sed -n "s/^[[:space:]]*$2: //p" "$1" | head -1
}
wall() { # h:mm:ss or m:ss -> seconds
  echo "$1" | awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }'
}
printf "\n%-8s %9s %14s %9s %9s %9s %8s\n" tool "wall s" "words/s/thr" "RSS MB" "CPU s" "analogy%" "WS353 rho"
for name in ember gensim; do
  w=$(wall "$(field "$work/$name.err" 'Elapsed (wall clock) time (h:mm:ss or m:ss)')")
  rss=$(field "$work/$name.err" 'Maximum resident set size (kbytes)')
  cpu=$(awk -v u="$(field "$work/$name.err" 'User time (seconds)')" -v s="$(field "$work/$name.err" 'System time (seconds)')" 'BEGIN { print u + s }')
  q=$(grep "^$name " "$work/quality.txt" || echo "$name ? ?")
  awk -v n="$name" -v w="$w" -v words="$words" -v it="$iter" -v t="$threads" -v rss="$rss" -v cpu="$cpu" -v q="$q" \
    'BEGIN { split(q, a, " "); printf "%-8s %9.1f %14.0f %9.0f %9.1f %9s %8s\n", n, w, words * it / w / t, rss / 1024, cpu, a[2], a[3] }'
done
ew=$(wall "$(field "$work/ember.err" 'Elapsed (wall clock) time (h:mm:ss or m:ss)')")
gw=$(wall "$(field "$work/gensim.err" 'Elapsed (wall clock) time (h:mm:ss or m:ss)')")
awk -v e="$ew" -v g="$gw" 'BEGIN { printf "ember speed / gensim speed (whole process, same run): %.2fx\n", g / e }'
grep "words in" "$work/ember.err" | sed 's/^/  /'
sed 's/^/  /' "$work/gensim.out"
