#!/usr/bin/python3
"""tokenizer_peer.py — peer for bench/tokenizer_bench.sh: encodes a text with the merges of an ember tokenizer file
("ember-tokenizer 1") in plain Python — the same pre-tokeniser (bpe_peer.pieces), then in each piece the lowest-ranked
merge present is applied everywhere, repeatedly (data/bpe.h's rule), with a piece -> ids cache as GPT-2's reference
encoder has — and checks that the ids are IDENTICAL to ember's .npy of the same text.

usage: /usr/bin/python3 bench/tokenizer_peer.py TOK.txt TEXT EMBER.npy
prints: tokens, encode time (pre-tokenising + merging, file reading excluded), tokens/s, and whether the ids match."""
import os, struct, sys, time
from array import array

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bpe_peer import pieces  # noqa: E402  (the same pre-tokeniser the naive trainer uses)


def load_merges(path):
    """The merge pairs of a tokenizer file, in rank order; checks the header and the count."""
    merges, m = [], None
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")
    if lines[0].rstrip(b"\r") != b"ember-tokenizer 1":
        sys.exit(f"{path}:1: expected 'ember-tokenizer 1'")
    for line in lines[1:]:
        line = line.rstrip(b"\r")
        if not line or line.startswith(b"#"):
            continue
        if m is None:
            if line.startswith(b"merges "):
                m = int(line.split()[1])
            continue
        a, b, _ = line.split(b" ", 2)
        merges.append((int(a), int(b)))
    if m is None or len(merges) != m:
        sys.exit(f"{path}: expected {m} merges, got {len(merges)}")
    return merges


def encode(text, merges):
    rank = {pair: r for r, pair in enumerate(merges)}
    cache, out = {}, []
    for pc in pieces(text):
        ids = cache.get(pc)
        if ids is None:
            ids = list(pc)
            while len(ids) > 1:
                best = None
                for i in range(len(ids) - 1):
                    r = rank.get((ids[i], ids[i + 1]))
                    if r is not None and (best is None or r < best):
                        best = r
                if best is None:
                    break
                a, b = merges[best]
                z, merged, i = 256 + best, [], 0
                while i < len(ids):
                    if i + 1 < len(ids) and ids[i] == a and ids[i + 1] == b:
                        merged.append(z); i += 2
                    else:
                        merged.append(ids[i]); i += 1
                ids = merged
            cache[pc] = ids
        out.extend(ids)
    return out


def load_npy_i32(path):
    """A 1-D '<i4' .npy as an array('i') (no numpy needed)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:6] != b"\x93NUMPY":
        sys.exit(f"{path}: not a .npy file")
    if data[6] == 1:
        hlen, off = struct.unpack("<H", data[8:10])[0], 10
    else:
        hlen, off = struct.unpack("<I", data[8:12])[0], 12
    header = data[off:off + hlen].decode("latin-1")
    if "'<i4'" not in header:
        sys.exit(f"{path}: expected '<i4', got {header}")
    ids = array("i")
    ids.frombytes(data[off + hlen:])
    if sys.byteorder == "big":
        ids.byteswap()
    return ids


def main():
    tok, text_path, npy = sys.argv[1:4]
    merges = load_merges(tok)
    with open(text_path, "rb") as f:
        text = f.read()
    t0 = time.perf_counter()
    ids = encode(text, merges)
    dt = time.perf_counter() - t0
    print(f"python peer: {len(text)} bytes -> {len(ids)} tokens in {dt:.2f} s encoding ({len(ids) / dt:.0f} tokens/s), "
          f"{len(merges)} merges")
    ember = load_npy_i32(npy)
    same = len(ember) == len(ids) and ember == array("i", ids)
    if same:
        print(f"ids identical to ember's: yes ({len(ids)} tokens, the whole text)")
    else:
        first = next((i for i, (x, y) in enumerate(zip(ember, ids)) if x != y), min(len(ember), len(ids)))
        print(f"ids identical to ember's: NO (ember {len(ember)} tokens, python {len(ids)}; first difference at {first})")
        sys.exit(1)


if __name__ == "__main__":
    main()
