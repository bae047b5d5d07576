#!/bin/bash
# dist_word2vec.sh — Word2Vec on 1 rank × 2 threads vs 2 ranks × 1 thread (table changes summed / averaged), analogy accuracy; docs/DISTRIBUTED.md.
# usage: bench/dist_word2vec.sh EMBER(built with -DEMBER_MPI=ON) CORPUS   (the figures used the first 20 MB of enwiki_text8style_1e8.txt.gz)
set -u
E=${1:?ember binary}; C=${2:?corpus}; F="-size 100 -iter 3 -min-count 5 -debug 1"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
load() { echo "== $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg) $*"; }
load "1 rank x 2 threads"; /usr/bin/time -f "%e s wall" $E word2vec -train $C -output q1x2.txt -threads 2 $F
for mode in sum avg; do for syncs in 8 16 64; do
  load "2 ranks x 1 thread, $mode, $syncs syncs/epoch"
  EMBER_W2V_SYNC=$mode /usr/bin/time -f "%e s wall" mpirun -np 2 --bind-to none -x EMBER_W2V_SYNC $E word2vec -train $C \
      -output q2$mode$syncs.txt -threads 1 $F --dist-syncs $syncs
done; done
for v in q1x2 q2sum8 q2sum16 q2sum64 q2avg8 q2avg16 q2avg64; do echo $v; $E eval analogy $v.txt | tail -4; done
