#!/usr/bin/python3
"""world_gensim_check.py — peer check of the chapter-world design (data/world.h): trains gensim Word2Vec
(skip-gram, 50 dims, window 5, negative 5, sample 1e-3, 5 epochs) on a world corpus and prints the
built-in analogies (top-1 hit or miss) and the nearest-neighbour purity of the four categories.

usage: /usr/bin/python3 bench/world_gensim_check.py CORPUS [sg=1]
(write CORPUS with build/bench_world_gen CORPUS 300000 1)"""
import sys, numpy as np
from gensim.models import Word2Vec
from gensim.models.word2vec import LineSentence
path = sys.argv[1]; sg = int(sys.argv[2]) if len(sys.argv) > 2 else 1
m = Word2Vec(LineSentence(path), vector_size=50, window=5, negative=5, sg=sg, min_count=5, sample=1e-3, epochs=5, workers=2, seed=1)
wv = m.wv
qs = [("man","king","woman","queen"),("boy","prince","girl","princess"),("man","boy","woman","girl"),("king","prince","queen","princess"),
      ("france","paris","germany","berlin"),("italy","rome","spain","madrid"),("japan","tokyo","china","beijing"),("greece","athens","portugal","lisbon"),("poland","warsaw","sweden","stockholm"),("russia","moscow","egypt","cairo")]
ok = 0
for a,b,c,d in qs:
    r = wv.most_similar(positive=[b,c], negative=[a], topn=3)
    ok += r[0][0] == d
    print(f"{b} - {a} + {c} -> {r[0][0]} ({r[0][1]:.3f}), {r[1][0]}, {r[2][0]}   want {d}")
print("analogy", ok, "/", len(qs))
groups = {"animals":["cat","dog","kitten","puppy","horse","cow","rabbit","mouse","sheep","lion","tiger","bird"],
 "vehicles":["car","bike","truck","train","bus","plane","boat","van","tractor","motorcycle","scooter","taxi"],
 "foods":["pizza","pasta","sandwich","burger","salad","soup","bread","cheese","cake","rice","apple","noodles"],
 "colours":["red","blue","green","yellow","orange","purple","pink","brown","black","white","grey","violet"]}
allw = [(g,w) for g,ws in groups.items() for w in ws]
# nearest-neighbour purity among category words
hit = 0
for g, w in allw:
    sims = sorted(((wv.similarity(w, w2), g2) for g2, w2 in allw if w2 != w), reverse=True)[:5]
    hit += sum(s[1] == g for s in sims)
print("cluster purity top5:", hit / (5 * len(allw)))
for w in ["cat","car","pizza","red","king","paris"]:
    print(w, [x for x,_ in wv.most_similar(w, topn=5)])
