#!/usr/bin/env bash
# w2v_kill_soak.sh — kill-during-save soak for `ember word2vec`: SIGKILL a run that checkpoints
# often, at seeded random moments, N times; after every kill the checkpoint must load (`ember ckpt
# info`) and the next run resumes from it (so every kill lands on a resumed run). Counts unloadable
# checkpoints, kills that left a temp file, and temp files still present after the next save; ends
# with a resume to the end and a check that no temp file is left. Not in CI (minutes).
#
#   bench/w2v_kill_soak.sh [KILLS=100] [SEED=1]      (EMBER_BIN: default build/ember)
set -eu
kills=${1:-100}
seed=${2:-1}
ember=${EMBER_BIN:-build/ember}
dir=$(mktemp -d /tmp/ember-soak.XXXXXX)
trap 'rm -rf "$dir"' EXIT
RANDOM=$seed
# a corpus of ~1.1M words: 2,000 distinct sentences, repeated; checkpoints every 20k words
python3 - "$dir/c.txt" <<'EOF'
import random, sys
r = random.Random(7)
lines = [" ".join("g%dw%d" % (k, r.randrange(40)) for _ in range(12)) for k in [r.randrange(8) for _ in range(2000)]]
with open(sys.argv[1], "w") as f:
    for i in range(45):
        f.write("\n".join(lines) + "\n")
EOF
ck="$dir/run.ckpt"
common="-train $dir/c.txt -output $dir/v.txt -size 64 -iter 400 -min-count 1 -debug 0 --checkpoint $ck --checkpoint-every 20000"
unloadable=0 temps_after_kill=0 temps_after_save=0 resumed=0
for i in $(seq "$kills"); do
    if [ -f "$ck" ]; then args="$common --resume $ck"; resumed=$((resumed + 1)); else args="$common"; fi
    # shellcheck disable=SC2086
    "$ember" word2vec $args >/dev/null 2>&1 &
    pid=$!
    # first let it reach a save (a rename gives the checkpoint a new inode), then kill within the next 0-400 ms
    before=$(stat -c %i "$ck" 2>/dev/null || echo none)
    for _ in $(seq 200); do
        now=$(stat -c %i "$ck" 2>/dev/null || echo none)
        [ "$now" != "$before" ] && break
        sleep 0.02
    done
    sleep "0.$(printf '%03d' $((RANDOM % 400)))"
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    n=$(find "$dir" -name 'run.ckpt.tmp.*' | wc -l)
    [ "$n" -gt 0 ] && temps_after_kill=$((temps_after_kill + 1))
    [ "$n" -gt 1 ] && temps_after_save=$((temps_after_save + n - 1)) # older ones survived a save
    if [ -f "$ck" ] && ! "$ember" ckpt info "$ck" >/dev/null 2>&1; then
        unloadable=$((unloadable + 1))
        echo "kill $i: unloadable checkpoint: $("$ember" ckpt info "$ck" 2>&1 | tail -1)" >&2
        cp "$ck" "$dir/../ember-soak-unloadable-$i.ckpt"
        rm -f "$ck"
    fi
done
# a last resume that runs 200k words further and stops with a checkpoint (the whole run would take
# minutes): it must load the last checkpoint, save, and leave no temp file behind
words_of() { "$ember" ckpt info --json "$1" | sed -n 's/^  "words_done": \([0-9]*\),$/\1/p'; }
at=$(words_of "$ck")
# shellcheck disable=SC2086
"$ember" word2vec $common --resume "$ck" --stop-after $((at + 200000)) >/dev/null 2>&1 && finished=yes || finished=no
left=$(find "$dir" -name 'run.ckpt.tmp.*' | wc -l)
words=$(words_of "$ck")
echo "w2v kill soak: seed $seed, $kills kills ($resumed on resumed runs), $temps_after_kill left a temp file," \
    "$temps_after_save temp files outlived the next save, $unloadable unloadable checkpoints;" \
    "final resume saved: $finished ($at -> $words words), $left temp files left"
[ "$unloadable" -eq 0 ] && [ "$temps_after_save" -eq 0 ] && [ "$left" -eq 0 ] && [ "$finished" = yes ]
