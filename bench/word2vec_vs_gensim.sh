#!/bin/sh
# word2vec_vs_gensim.sh — trains Word2Vec with ember and with gensim (the peer) on the same corpus
# and flags, back to back, and prints one table per model: whole-process wall time, words/s/thread
# (corpus words x epochs / wall / threads, the same formula for both), peak RSS, CPU time, analogy
# accuracy (questions-words, top-30k vocabulary, gensim's evaluate_word_analogies) and Spearman rho
# on four similarity sets (WS-353, SimLex-999, MEN, MTurk-771), then ember's speed / gensim's.
#
# It records what the figures depend on: the date, the load average before and after every run,
# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, the OpenBLAS core ember runs on and its Word2Vec kernel
# (`ember version`), and the gensim version. Both tools call OpenBLAS (gensim through SciPy's BLAS),
# so each setting runs both.
#
# usage: bench/word2vec_vs_gensim.sh [-c CORPUS] [-b BYTES] [-m sg|cbow|sg,cbow] [-i ITER] [-t THREADS]
#                                    [-e EMBER] [-B] [-r REPEATS]
#   -c  corpus (default /tmp/enwiki.txt; made once from the shared enwiki .gz if missing)
#   -b  use only the first BYTES bytes (a slice for quick development runs; 0 = all)
#   -m  sg (skip-gram, default), cbow, or both in turn (sg,cbow);  -i epochs (5);  -t threads (2)
#   -e  the ember binary (default build/ember next to this script's tree)
#   -B  both OpenBLAS settings: the environment as set, then with OPENBLAS_CORETYPE unset
#   -r  same-run pairs per mode and setting (1): ember then gensim, REPEATS times, one row each, then
#       every ratio and their median (a shared host moves single pairs by +-20 %; CBOW, being bound
#       by memory latency, moves most). Quality is evaluated on the first pair only.
# Flags as the issue's benchmark: -size 100 -window 5 -negative 5 -sample 1e-4 -min-count 5.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
corpus=/tmp/enwiki.txt
bytes=0
modes=sg
iter=5
threads=2
ember=""
both=0
repeats=1
while getopts c:b:m:i:t:e:Br: opt; do
  case $opt in
    c) corpus=$OPTARG ;; b) bytes=$OPTARG ;; m) modes=$OPTARG ;; i) iter=$OPTARG ;;
    t) threads=$OPTARG ;; e) ember=$OPTARG ;; B) both=1 ;; r) repeats=$OPTARG ;; *) sed -n '2,23p' "$0"; exit 2 ;;
  esac
done
case $repeats in
  ''|*[!0-9]*|0) echo "word2vec_vs_gensim: -r expects a positive number of pairs, got '$repeats'" >&2; exit 2 ;;
esac
if [ -z "$ember" ]; then
  for b in "$here"/build/ember "$here"/build-w2v/ember; do [ -x "$b" ] && ember=$b && break; done
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
words=$(wc -w < "$corpus")
load() { sed 's/ .*//' /proc/loadavg; }

echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); host: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
echo "corpus: $corpus, $words words; threads $threads, $iter epochs"
echo "gensim: $(/usr/bin/python3 -c 'import gensim; print(gensim.__version__)' 2>/dev/null || echo missing)"

cat > "$work/eval.py" <<EOF
import sys, logging
logging.disable(logging.WARNING)
from gensim.models import KeyedVectors
sets = ["EN-WS-353-ALL.txt", "EN-SIMLEX-999.txt", "EN-MEN-TR-3k.txt", "EN-MTurk-771.txt"]
for name in sys.argv[1:]:
    kv = KeyedVectors.load_word2vec_format("$work/%s.bin" % name, binary=True)
    an = kv.evaluate_word_analogies("$data/analogy/questions-words.txt", restrict_vocab=30000)
    rho = [kv.evaluate_word_pairs("$data/wordsim/" + s)[1][0] for s in sets]
    print(name, "%.1f" % (100 * an[0]), " ".join("%.1f" % (100 * r) for r in rho))
EOF

field() { # file, label
  sed -n "s/^[[:space:]]*$2: //p" "$1" | head -1
}
wall() { # h:mm:ss or m:ss -> seconds
  echo "$1" | awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }'
}
run() { # name, command...: whole process under /usr/bin/time -v, with the load around it
  name=$1; shift
  l0=$(load)
  /usr/bin/time -v "$@" > "$work/$name.out" 2> "$work/$name.err" || { cat "$work/$name.err" >&2; exit 1; }
  echo "$l0 $(load)" > "$work/$name.load"
}

# one setting (label, then env arguments such as "-u OPENBLAS_CORETYPE"), every mode
bench() {
  label=$1; shift
  echo
  echo "== OpenBLAS setting: $label"
  env "$@" "$ember" version | sed 's/^/   /'
  for mode in $(echo "$modes" | tr ',' ' '); do
    cbow=0; [ "$mode" = cbow ] && cbow=1
    flags="-cbow $cbow -size 100 -window 5 -negative 5 -sample 1e-4 -min-count 5 -iter $iter -threads $threads"
    echo "-- $mode: $flags"
    ratios=""
    for rep in $(seq "$repeats"); do
      [ "$repeats" -gt 1 ] && echo "   pair $rep of $repeats"
      run ember env "$@" "$ember" word2vec -train "$corpus" -output "$work/ember.bin" -binary 1 $flags -debug 1
      run gensim env "$@" /usr/bin/python3 "$peer" -train "$corpus" -output "$work/gensim.bin" -binary 1 $flags
      if [ "$rep" = 1 ]; then
        /usr/bin/python3 "$work/eval.py" ember gensim > "$work/quality.txt" 2>/dev/null || true
      else
        printf 'ember - - - - -\ngensim - - - - -\n' > "$work/quality.txt"
      fi
      printf "%-8s %8s %12s %7s %7s %8s %6s %6s %6s %6s  %s\n" tool "wall s" "words/s/thr" "RSS MB" "CPU s" \
        "analogy" "WS353" "SimLex" "MEN" "MT771" "load before/after"
      for name in ember gensim; do
        w=$(wall "$(field "$work/$name.err" 'Elapsed (wall clock) time (h:mm:ss or m:ss)')")
        rss=$(field "$work/$name.err" 'Maximum resident set size (kbytes)')
        cpu=$(awk -v u="$(field "$work/$name.err" 'User time (seconds)')" -v s="$(field "$work/$name.err" 'System time (seconds)')" 'BEGIN { print u + s }')
        q=$(grep "^$name " "$work/quality.txt" || echo "$name ? ? ? ? ?")
        awk -v n="$name" -v w="$w" -v words="$words" -v it="$iter" -v t="$threads" -v rss="$rss" -v cpu="$cpu" \
          -v q="$q" -v l="$(cat "$work/$name.load")" \
          'BEGIN { split(q, a, " "); split(l, b, " ");
                   printf "%-8s %8.1f %12.0f %7.0f %7.1f %8s %6s %6s %6s %6s  %s / %s\n", n, w, words * it / w / t,
                          rss / 1024, cpu, a[2], a[3], a[4], a[5], a[6], b[1], b[2] }'
      done
      ew=$(wall "$(field "$work/ember.err" 'Elapsed (wall clock) time (h:mm:ss or m:ss)')")
      gw=$(wall "$(field "$work/gensim.err" 'Elapsed (wall clock) time (h:mm:ss or m:ss)')")
      r=$(awk -v e="$ew" -v g="$gw" 'BEGIN { printf "%.2f", g / e }')
      ratios="$ratios $r"
      echo "$mode, $label: ember speed / gensim speed (whole process, same run): ${r}x"
      grep -E "words in|block products" "$work/ember.err" | sed 's/^/  /'
      sed 's/^/  /' "$work/gensim.out"
    done
    if [ "$repeats" -gt 1 ]; then
      echo "$ratios" | tr ' ' '\n' | grep . | sort -n | awk -v m="$mode" -v l="$label" \
        '{ r[NR] = $1; all = all " " $1 "x" }
         END { med = NR % 2 ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2;
               printf "%s, %s: %d same-run pairs, ratios (sorted)%s; median %.2fx, min %.2fx, max %.2fx\n",
                      m, l, NR, all, med, r[1], r[NR] }'
    fi
  done
}

bench "as set (OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-(unset)}, OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE:-(unset)})" EMBER_BENCH=1
if [ "$both" = 1 ]; then
  bench "OPENBLAS_CORETYPE unset" -u OPENBLAS_CORETYPE
fi
