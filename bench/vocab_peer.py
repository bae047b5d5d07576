#!/usr/bin/python3
"""vocab_peer.py — peer for bench_vocab_build: gensim's Word2Vec.build_vocab (min_count 5) over a plain
text8-style corpus (gensim's Text8Corpus reader), timed; peak RSS comes from /usr/bin/time -v.

usage: /usr/bin/python3 bench/vocab_peer.py CORPUS.txt [min_count=5]"""
import sys, time
from gensim.models import Word2Vec
from gensim.models.word2vec import Text8Corpus

path = sys.argv[1]
mc = int(sys.argv[2]) if len(sys.argv) > 2 else 5
t0 = time.time()
m = Word2Vec(vector_size=10, min_count=mc, workers=1)
m.build_vocab(corpus_iterable=Text8Corpus(path))
dt = time.time() - t0
print(f"gensim build_vocab {path}: {len(m.wv)} words kept (min-count {mc}), {m.corpus_total_words} words in {dt:.2f} s")
