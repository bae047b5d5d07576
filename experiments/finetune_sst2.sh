#!/usr/bin/env bash
# finetune_sst2.sh — every row of the SST-2 fine-tuning table (bench/RESULTS.md, issue 11), one command each.
#
#   experiments/finetune_sst2.sh OUT_DIR W2V_VECTORS MLM_CHECKPOINT [rows...]
#
# W2V_VECTORS: Word2Vec trained on the 17.3M-word corpus (experiments in bench/RESULTS.md: `ember
# word2vec -train wiki.txt -size 300 ... -binary 1`); MLM_CHECKPOINT: experiments/pretrain_mlm.sh's
# model. Rows: bow w2v-frozen w2v-unfrozen enc-frozen enc-full enc-gradual stsb (default: all).
# Each row writes OUT_DIR/<row>.log (the command is its first line) and, for encoder rows, a
# checkpoint; the figures are the log's last lines (dev / test accuracy, time, peak RSS).
set -euo pipefail
out=${1:?OUT_DIR}; vec=${2:?W2V_VECTORS}; mlm=${3:?MLM_CHECKPOINT}; shift 3
rows=${*:-bow w2v-frozen w2v-unfrozen enc-frozen enc-full enc-gradual stsb}
ember=${EMBER:-$(dirname "$0")/../build/ember}
threads=${THREADS:-2}
mkdir -p "$out"
run() { # row, then the command's arguments
    local row=$1; shift
    echo "ember $*" >"$out/$row.log"
    /usr/bin/time -v "$ember" "$@" --threads "$threads" --metrics "$out/$row.jsonl" 2>>"$out/$row.log" || true
}
for row in $rows; do
    case $row in
    bow)          run bow finetune --task sst2 --init bow --epochs 2 --lr 0.05 --batch 64 --weight-decay 0 --warmup 0 ;;
    w2v-frozen)   run w2v-frozen finetune --task sst2 --init "$vec" --freeze 'embedding.*' --new-words skip --epochs 5 --lr 1e-2 ;;
    w2v-unfrozen) run w2v-unfrozen finetune --task sst2 --init "$vec" --epochs 2 --lr 1e-3 ;;
    enc-frozen)   run enc-frozen finetune --task sst2 --init "$mlm" --freeze 'tok.*' --freeze 'pos.*' --freeze 'enc.*' \
                      --epochs 1 --lr 1e-3 --checkpoint "$out/enc-frozen.ckpt" ;;
    enc-full)     run enc-full finetune --task sst2 --init "$mlm" --epochs 1 --lr 5e-5 --warmup 200 \
                      --checkpoint "$out/enc-full.ckpt" ;;
    enc-gradual)  run enc-gradual finetune --task sst2 --init "$mlm" --freeze 'tok.*' --freeze 'pos.*' --freeze 'enc.*' \
                      --unfreeze '0.2ep:enc.norm.*' --unfreeze '0.2ep:enc.layers.3.*' --unfreeze '0.4ep:enc.layers.2.*' \
                      --unfreeze '0.6ep:enc.layers.1.*' --unfreeze '0.8ep:enc.layers.0.*' --unfreeze '0.8ep:pos.*' \
                      --unfreeze '0.8ep:tok.*' --lr-decay 0.8 --epochs 1 --lr 1e-4 --warmup 100 \
                      --checkpoint "$out/enc-gradual.ckpt" ;;
    stsb)         run stsb finetune --task stsb --init "$mlm" --epochs 4 --lr 5e-5 --warmup 50 --batch 16 \
                      --checkpoint "$out/stsb.ckpt" ;;
    *) echo "unknown row $row" >&2; exit 2 ;;
    esac
    grep -E "^ember|finetune: (the best|[0-9]+ steps)|Maximum resident" "$out/$row.log" || true
done
