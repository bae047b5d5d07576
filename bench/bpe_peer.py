#!/usr/bin/python3
"""bpe_peer.py — peer for bench_bpe_bench: a naive byte-level BPE in Python (recounts every pair before
each merge; same pre-tokeniser and tie rule as data/bpe.h), timed on the first N bytes of a corpus.
With a merges file from `bench_bpe_bench ... MERGES 1`, also checks that both learned the same merges.

usage: /usr/bin/python3 bench/bpe_peer.py CORPUS(.gz) N_BYTES VOCAB [ember_merges_file]"""
import gzip, sys, time

SPACE = set(b" \t\n\r\v\f")
CLS = [0 if c in SPACE else 1 if (65 <= c <= 90 or 97 <= c <= 122 or c >= 0x80) else 2 if 48 <= c <= 57 else 3
       for c in range(256)]


def pieces(t, max_piece=128):
    out, p, n = [], 0, len(t)
    while p < n:
        c0 = CLS[t[p]]
        if t[p] == 32 and p + 1 < n and CLS[t[p + 1]] != 0:
            c = CLS[t[p + 1]]; q = p + 2
            while q < n and CLS[t[q]] == c:
                q += 1
        elif c0 == 0:
            q = p + 1
            while q < n and CLS[t[q]] == 0:
                q += 1
            if q < n and t[q - 1] == 32 and q - 1 > p:
                q -= 1
        else:
            q = p + 1
            while q < n and CLS[t[q]] == c0:
                q += 1
        q = min(q, p + max_piece)
        out.append(t[p:q]); p = q
    return out


def train(text, n_merges):
    counts = {}
    for pc in pieces(text):
        counts[pc] = counts.get(pc, 0) + 1
    words = [(list(w), c) for w, c in counts.items()]
    merges = []
    for m in range(n_merges):
        pc = {}
        for toks, c in words:
            for i in range(len(toks) - 1):
                k = (toks[i], toks[i + 1])
                pc[k] = pc.get(k, 0) + c
        if not pc:
            break
        (a, b), cnt = min(pc.items(), key=lambda kv: (-kv[1], kv[0][0], kv[0][1]))
        if cnt < 2:
            break
        merges.append((a, b)); z = 256 + m
        new = []
        for toks, c in words:
            if a not in toks:
                new.append((toks, c)); continue
            out, i = [], 0
            while i < len(toks):
                if i + 1 < len(toks) and toks[i] == a and toks[i + 1] == b:
                    out.append(z); i += 2
                else:
                    out.append(toks[i]); i += 1
            new.append((out, c))
        words = new
    return merges


def main():
    path, nbytes, vocab = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    op = gzip.open if open(path, "rb").read(2) == b"\x1f\x8b" else open
    with op(path, "rb") as f:
        text = f.read(nbytes)
    # cut back to the last space-after-non-space boundary, as data_bpe_train_file does
    for p in range(len(text) - 1, 0, -1):
        if text[p] in SPACE and text[p - 1] not in SPACE:
            text = text[:p]; break
    t0 = time.time()
    merges = train(text, vocab - 256)
    dt = time.time() - t0
    print(f"bpe_peer (naive python): {len(text)} bytes, {len(merges)} merges in {dt:.2f} s")
    if len(sys.argv) > 4:
        with open(sys.argv[4]) as f:
            lines = f.read().split("\n")
        theirs = [tuple(map(int, l.split())) for l in lines[2:] if l]
        same = theirs == merges
        print("merges identical to ember's:", "yes" if same else f"NO (ember {len(theirs)}, python {len(merges)})")


if __name__ == "__main__":  # bench/tokenizer_peer.py imports pieces() from here
    main()
