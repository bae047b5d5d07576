#!/usr/bin/python3
"""PyTorch peer of `ember train contrastive --loss simcse --proj`: the same encoder, batch and loss on the same sentences.

Usage: torch_simcse_train.py IDS.txt VOCAB SPECIALS_BASE [--d 256 --layers 4 --heads 4 --max-len 32 --batch 64
                             --steps 40 --warmup-steps 5 --threads 2 --lr 3e-5 --dropout 0.1 --temp 0.05 --seed 1]

IDS.txt holds one sentence per line as token ids (`ember tokenizer encode --input SENTENCES`), VOCAB the
tokenizer's size and SPECIALS_BASE its [PAD] id ([PAD] [UNK] [CLS] [SEP] [MASK] follow, data/tokenizer.h).
Each sentence is [CLS] + its first max_len - 1 ids, as ember encodes it. The encoder mirrors
nn/text_model.c (MLM kind): token + learned positions, dropout, pre-norm blocks (LayerNorm, attention with
biases and a padding mask, GELU(erf) MLP 4d, dropout on each residual branch), final LayerNorm. The SimCSE
step as ember's: the batch's sentences twice in one forward (two dropout masks), mean over each
sentence's tokens, dense + tanh projection, L2-normalised, cross-entropy over cosines / temperature with
the other view as the positive; AdamW (no decay on biases, norms, embeddings), clip 1.0.
Prints one line: steps, ms/step, sentences/s over the timed steps (peak RSS is measured by the caller).
"""
import argparse, random, time
import torch, torch.nn as nn, torch.nn.functional as F

ap = argparse.ArgumentParser()
ap.add_argument("ids"); ap.add_argument("vocab", type=int); ap.add_argument("specials", type=int)
for k, v in dict(d=256, layers=4, heads=4, max_len=32, batch=64, steps=40, warmup_steps=5, threads=2, seed=1).items():
    ap.add_argument("--" + k.replace("_", "-"), type=int, default=v)
ap.add_argument("--lr", type=float, default=3e-5); ap.add_argument("--dropout", type=float, default=0.1)
ap.add_argument("--temp", type=float, default=0.05)
a = ap.parse_args()
torch.set_num_threads(a.threads); torch.manual_seed(a.seed)
t_start = time.perf_counter()
PAD, UNK, CLS, SEP, MASK = range(a.specials, a.specials + 5)
D, V, B = a.d, a.vocab, a.batch
sents = []
for line in open(a.ids):
    ids = [int(t) for t in line.split()][: a.max_len - 1]
    if ids: sents.append([CLS] + ids)

class Block(nn.Module):
    def __init__(s):
        super().__init__()
        s.norm1 = nn.LayerNorm(D); s.attn = nn.MultiheadAttention(D, a.heads, batch_first=True)
        s.norm2 = nn.LayerNorm(D); s.fc1 = nn.Linear(D, 4 * D); s.fc2 = nn.Linear(4 * D, D)
    def forward(s, x, pad):
        h = s.norm1(x)
        x = x + F.dropout(s.attn(h, h, h, key_padding_mask=pad, need_weights=False)[0], a.dropout, s.training)
        return x + F.dropout(s.fc2(F.gelu(s.fc1(s.norm2(x)))), a.dropout, s.training)

class Encoder(nn.Module):
    def __init__(s):
        super().__init__()
        s.tok = nn.Embedding(V, D); s.pos = nn.Embedding(a.max_len, D)
        nn.init.normal_(s.tok.weight, std=0.02); nn.init.normal_(s.pos.weight, std=0.02)
        s.layers = nn.ModuleList(Block() for _ in range(a.layers)); s.norm = nn.LayerNorm(D)
        s.proj = nn.Linear(D, D)
    def forward(s, x, pad):
        h = F.dropout(s.tok(x) + s.pos.weight[: x.shape[1]], a.dropout, s.training)
        for l in s.layers: h = l(h, pad)
        h = s.norm(h)
        keep = (~pad).unsqueeze(-1).float()                        # [N, T, 1]
        z = (h * keep).sum(1) / keep.sum(1)                        # mean over the sentence's tokens
        return F.normalize(torch.tanh(s.proj(z)), dim=-1)

m = Encoder()
decay = [p for n, p in m.named_parameters() if p.ndim >= 2 and "tok" not in n and "pos" not in n]
no_decay = [p for n, p in m.named_parameters() if not (p.ndim >= 2 and "tok" not in n and "pos" not in n)]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}], lr=a.lr)
rng = random.Random(a.seed)
order, pos = list(range(len(sents))), len(sents)

def batch():
    global pos
    if pos + B > len(order): rng.shuffle(order); pos = 0
    rows = [sents[i] for i in order[pos: pos + B]] * 2          # the two views side by side, as ember
    pos += B
    T = max(len(r) for r in rows)
    x = torch.full((2 * B, T), PAD, dtype=torch.long)
    for i, r in enumerate(rows): x[i, : len(r)] = torch.tensor(r)
    return x, x == PAD

def step():
    x, pad = batch()
    opt.zero_grad(set_to_none=True)
    z = m(x, pad)
    logits = z[:B] @ z[B:].T / a.temp
    loss = F.cross_entropy(logits, torch.arange(B))
    loss.backward()
    torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
    opt.step()
    return loss.item()

for _ in range(a.warmup_steps): step()
t0 = time.perf_counter()
for _ in range(a.steps): last = step()
dt = time.perf_counter() - t0
print(f"torch {torch.__version__} threads={a.threads} params={sum(p.numel() for p in m.parameters())} "
      f"steps={a.steps} ms/step={dt / a.steps * 1e3:.1f} sentences/s={B * a.steps / dt:.1f} loss={last:.4f} "
      f"wall={time.perf_counter() - t_start:.1f}")
