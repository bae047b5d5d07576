#!/bin/bash
# dist_mlm.sh — MLM on 1 rank × 2 threads vs 2 ranks × 1 thread (docs/DISTRIBUTED.md); run in a directory holding wt3m.txt (first 3 MB of WikiText-2 train) and tok8k.txt (ember tokenizer train --vocab-size 8192); E = an -DEMBER_MPI=ON build
# 2 ranks x 1 thread vs 1 rank x 2 threads, default MLM model (d 256, 4 layers, seq 128, batch 32), 30 steps
E=${EMBER:-build-mpi/ember}; export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
S="--corpus wt3m.txt --tokenizer tok8k.txt --steps 30 --warmup 5 --eval-every 0 --eval-seqs 8"
for rep in 1 2; do
echo "== 1x2 $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
$E train mlm $S --threads 2 --metrics m1x2.jsonl 2>&1 | grep -E "steps, final|collectives"
echo "== 2x1 $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
mpirun -np 2 --bind-to none $E train mlm $S --threads 1 --metrics m2x1.jsonl 2>&1 | grep -E "steps, final|collectives"
done
echo "== end $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
