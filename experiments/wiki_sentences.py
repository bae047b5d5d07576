#!/usr/bin/python3
"""wiki_sentences.py — one sentence per line from the raw Wikipedia corpus (WikiExtractor text), for SimCSE.

Splits each paragraph after . ! or ? followed by a space and an upper-case letter or a quote (a plain
rule: abbreviations such as "U.S. Army" split wrongly now and then, as they do in SimCSE's own
Wikipedia sample), keeps sentences of 5–60 words, drops <doc> lines and headings (lines without a
final punctuation mark), and writes a seeded random sample of N of them.
usage: experiments/wiki_sentences.py CORPUS.gz N OUT [SEED]"""
import gzip
import random
import re
import sys

src, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
seed = int(sys.argv[4]) if len(sys.argv) > 4 else 1
split = re.compile(r'(?<=[.!?])\s+(?=[A-Z"\'(])')
sents = []
with gzip.open(src, "rt", encoding="utf-8", errors="replace") as f:
    for line in f:
        line = line.strip()
        if not line or line.startswith("<doc") or line == "</doc>" or line[-1] not in ".!?\"')":
            continue
        for s in split.split(line):
            w = len(s.split())
            if 5 <= w <= 60 and "\t" not in s:
                sents.append(s)
random.Random(seed).shuffle(sents)
with open(out, "w", encoding="utf-8") as f:
    for s in sents[:n]:
        f.write(s + "\n")
print(f"{len(sents)} sentences, wrote {min(n, len(sents))} to {out}", file=sys.stderr)
