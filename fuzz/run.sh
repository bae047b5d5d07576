#!/usr/bin/env bash
# fuzz/run.sh — builds the libFuzzer harnesses (clang, -DEMBER_FUZZ=ON) and runs each for a bounded
# time from seeds made at run time: small slices of ../shared/data (never copied into the repo),
# files written by a normal ember build when one exists, and the tiny seeds in fuzz/seeds/.
#
#   fuzz/run.sh [SECONDS_PER_HARNESS] [HARNESS...]     (default 15 s each, every fuzz/fuzz_*.c)
#
# Environment: EMBER_DATA_DIR (default ../shared/data), EMBER_BIN (a built `ember` for checkpoint,
# tokenizer and vector seeds; default build/ember), FUZZ_BUILD (default build-fuzz), FUZZ_WORK
# (seed and crash directory, default a temp dir), FUZZ_SEED (libFuzzer's -seed, default 1: a CI run
# replays the same mutations, so a failure can be replayed; set another to explore). Prints one line per harness (executions, crashes)
# and a total; exits 1 if any harness crashed, leaving the crashing input in FUZZ_WORK/<harness>/.
set -eu # no pipefail: `zcat | head` ends zcat with SIGPIPE by design
cd "$(dirname "$0")/.."
secs=${1:-15}
[ $# -gt 0 ] && shift
data=${EMBER_DATA_DIR:-../shared/data}
ember=${EMBER_BIN:-build/ember}
bdir=${FUZZ_BUILD:-build-fuzz}
work=${FUZZ_WORK:-$(mktemp -d /tmp/ember-fuzz.XXXXXX)}
mkdir -p "$work"
work=$(cd "$work" && pwd)
jobs=$(nproc 2>/dev/null || echo 2)

cmake -S . -B "$bdir" -DCMAKE_C_COMPILER=clang -DEMBER_FUZZ=ON -DEMBER_BUILD_TESTS=OFF -DEMBER_BUILD_BENCH=OFF \
    -DEMBER_NATIVE=OFF -DCMAKE_BUILD_TYPE=Debug >"$work/configure.log" 2>&1 || { cat "$work/configure.log"; exit 1; }
echo "fuzz: building harnesses in $bdir"
cmake --build "$bdir" -j"$jobs" >"$work/build.log" 2>&1 || { grep -E 'error' "$work/build.log" || tail -30 "$work/build.log"; exit 1; }

# ---- seeds -----------------------------------------------------------------------------------------
seeds="$work/seeds"
rm -rf "$seeds"
mkdir -p "$seeds"
for d in fuzz/seeds/*/; do
    name=$(basename "$d")
    mkdir -p "$seeds/$name"
    cp "$d"* "$seeds/$name/" 2>/dev/null || true
done
sd() { mkdir -p "$seeds/$1"; echo "$seeds/$1"; }
have() { [ -e "$data/$1" ]; }
if [ -d "$data" ]; then
    if have corpus/wikitext-2/wiki.test.txt.gz; then
        zcat "$data/corpus/wikitext-2/wiki.test.txt.gz" | head -c 3000 >"$(sd corpus)/wiki.txt"
        gzip -c "$(sd corpus)/wiki.txt" >"$(sd corpus)/wiki.txt.gz"
        cp "$(sd corpus)/wiki.txt" "$(sd corpus_gz)/wiki.txt"
        { printf '\001'; head -c 2000 "$(sd corpus)/wiki.txt"; } >"$(sd corpus_gz)/wiki-cut.txt"
    fi
    for f in images/mnist/t10k-labels-idx1-ubyte.gz images/fashion-mnist/t10k-labels-idx1-ubyte.gz; do
        have "$f" && zcat "$data/$f" | head -c 40 >"$(sd idx)/$(basename "$f" .gz)"
    done
    if have images/mnist/t10k-images-idx3-ubyte.gz; then
        zcat "$data/images/mnist/t10k-images-idx3-ubyte.gz" | head -c 16 >"$work/hdr"
        # the header with N patched to 2, then two images (16 + 2 * 784 bytes)
        { head -c 4 "$work/hdr"; printf '\000\000\000\002'; tail -c 8 "$work/hdr";
          zcat "$data/images/mnist/t10k-images-idx3-ubyte.gz" | tail -c +17 | head -c 1568; } >"$(sd idx)/images2"
        gzip -c "$(sd idx)/images2" >"$(sd idx)/images2.gz"
    fi
    if have audio/fsdd_recordings.tar.gz; then
        # the first two members of the archive (a real tar with real WAVs, cut to two entries)
        zcat "$data/audio/fsdd_recordings.tar.gz" | head -c 1500000 >"$work/fsdd-head.tar" || true
        names=$(tar tf "$work/fsdd-head.tar" 2>/dev/null | grep '\.wav$' | head -2 || true)
        mkdir -p "$work/wav"
        # shellcheck disable=SC2086
        [ -n "$names" ] && tar xf "$work/fsdd-head.tar" -C "$work/wav" $names 2>/dev/null || true
        for w in $(find "$work/wav" -name '*.wav' | head -2); do
            head -c 6000 "$w" >"$(sd wav)/$(basename "$w")"
        done
        (cd "$work/wav" && tar cf "$(sd tar)/two.tar" $(find . -name '*.wav' | head -2) 2>/dev/null) || true
        [ -f "$(sd tar)/two.tar" ] && gzip -c "$(sd tar)/two.tar" >"$(sd tar)/two.tar.gz"
    fi
    have analogy/questions-words.txt && head -12 "$data/analogy/questions-words.txt" >"$(sd analogy)/qw.txt" &&
        sed -n '8870,8880p' "$data/analogy/questions-words.txt" >"$(sd analogy)/qw-syn.txt"
    for f in EN-WS-353-ALL.txt EN-RW-STANFORD.txt EN-SIMLEX-999.txt; do
        have "wordsim/$f" && head -15 "$data/wordsim/$f" >"$(sd wordsim)/$f"
    done
    have sentence-sim/stsbenchmark/sts-dev.csv && { printf '\000'; head -8 "$data/sentence-sim/stsbenchmark/sts-dev.csv"; } >"$(sd sts)/sts.csv"
    have sentence-sim/sick/SICK.txt && { printf '\002'; head -8 "$data/sentence-sim/sick/SICK.txt"; } >"$(sd sts)/sick.txt"
    have classification/sst2/dev.tsv && head -10 "$data/classification/sst2/dev.tsv" >"$(sd sst)/dev.tsv"
else
    echo "fuzz: $data absent: seeds from fuzz/seeds only"
fi
# Files written by ember itself: a checkpoint (and one without its integrity line), vectors in both
# formats, a vocabulary and a tokenizer, from a tiny corpus.
if [ -x "$ember" ]; then
    t="$work/gen"
    mkdir -p "$t"
    for i in $(seq 60); do echo "the cat sat on the mat and the dog ate the bone $((i % 7))"; done >"$t/c.txt"
    "$ember" word2vec -train "$t/c.txt" -output "$t/v.txt" -size 4 -iter 1 -min-count 1 -debug 0 --deterministic \
        --checkpoint "$(sd ckpt)/w2v.ckpt" -save-vocab "$(sd vocab)/c.vocab" >/dev/null 2>&1 || true
    [ -f "$t/v.txt" ] && { printf '\001'; cat "$t/v.txt"; } >"$(sd vectors)/v.txt"
    "$ember" word2vec -train "$t/c.txt" -output "$t/v.bin" -binary 1 -size 4 -iter 1 -min-count 1 -debug 0 >/dev/null 2>&1 || true
    [ -f "$t/v.bin" ] && { printf '\002'; cat "$t/v.bin"; } >"$(sd vectors)/v.bin"
    if [ -f "$(sd ckpt)/w2v.ckpt" ]; then
        { head -c 512 /dev/zero; tail -c +513 "$(sd ckpt)/w2v.ckpt"; } >"$(sd ckpt)/w2v-noheader.ckpt"
    fi
    "$ember" tokenizer train --corpus "$t/c.txt" --vocab-size 300 -o "$(sd tokenizer)/c.tok" >/dev/null 2>&1 || true
else
    echo "fuzz: no ember at $ember: no checkpoint/vector/tokenizer seeds beyond fuzz/seeds"
fi

# ---- runs ---------------------------------------------------------------------------------------------
if [ $# -gt 0 ]; then harnesses="$*"; else harnesses=$(cd fuzz && ls fuzz_*.c | sed 's/\.c$//'); fi
total_exec=0
failed=0
printf '%-16s %10s %8s %6s %6s  %s\n' harness executions exec/s cov crash "corpus (files)"
for h in $harnesses; do
    name=${h#fuzz_}
    corp="$work/$h/corpus"
    mkdir -p "$corp" "$work/$h"
    [ -d "$seeds/$name" ] && cp "$seeds/$name"/* "$corp/" 2>/dev/null || true
    log="$work/$h/log.txt"
    set +e
    mkdir -p "$work/$h/tmp"
    (cd "$work/$h" && TMPDIR="$work/$h/tmp" ASAN_OPTIONS=allocator_may_return_null=1:detect_leaks=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        "$OLDPWD/$bdir/$h" -seed="${FUZZ_SEED:-1}" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 -malloc_limit_mb=1024 \
        -timeout=10 -print_final_stats=1 "$corp" >"$log" 2>&1)
    rc=$?
    set -e
    execs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}' | tail -1)
    rate=$(grep -E '^stat::average_exec_per_sec' "$log" | awk '{print $2}' | tail -1)
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | awk '{print $2}')
    crash=0
    if [ $rc -ne 0 ]; then
        crash=1
        failed=1
    fi
    total_exec=$((total_exec + ${execs:-0}))
    printf '%-16s %10s %8s %6s %6s  %s\n' "$h" "${execs:-?}" "${rate:-?}" "${cov:-?}" "$crash" "$(ls "$corp" | wc -l)"
    if [ $rc -ne 0 ]; then
        grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$log" | head -8 | sed 's/^/    /'
    fi
done
echo "fuzz: $total_exec executions in all; work directory $work"
exit $failed
