#!/usr/bin/python3
"""PyTorch peer of `ember train mlm`: the same model, masking and batch shape, trained on the same token stream.

Usage: torch_mlm_train.py IDS.npy VOCAB SPECIALS_BASE [--d 256 --layers 4 --heads 4 --seq 128 --batch 32
                          --steps 50 --warmup-steps 5 --threads 2 --lr 5e-4 --dropout 0.1 --seed 1]

IDS.npy is the int32 token stream of the corpus (`ember tokenizer encode --format npy`), VOCAB the model's
vocabulary size (tokenizer vocab incl. specials) and SPECIALS_BASE the first special id ([PAD]; then [UNK]
[CLS] [SEP] [MASK]), as in ember's data/tokenizer.h. The model mirrors nn/text_model.c (MLM): token +
learned positions (N(0, 0.02)), dropout, pre-norm blocks (LayerNorm, multi-head attention with biases,
GELU(erf) MLP 4d, dropout on each residual branch), final LayerNorm, BERT's head transform
(dense, GELU, LayerNorm) and a decoder tied to the token table plus a bias; the head runs only at the
masked positions. Masking as ember (data_mlm_mask): 15 % of the non-[CLS] tokens, 80/10/10
[MASK]/random/kept. AdamW (no decay on biases, norms, embeddings), warmup + cosine, clip 1.0.
Prints one line: steps, ms/step, tokens/s over the timed steps, peak RSS is measured by the caller.
"""
import argparse, math, time
import numpy as np
import torch, torch.nn as nn, torch.nn.functional as F

ap = argparse.ArgumentParser()
ap.add_argument("ids"); ap.add_argument("vocab", type=int); ap.add_argument("specials", type=int)
for k, v in dict(d=256, layers=4, heads=4, seq=128, batch=32, steps=50, warmup_steps=5, threads=2, seed=1).items():
    ap.add_argument("--" + k.replace("_", "-"), type=int, default=v)
ap.add_argument("--lr", type=float, default=5e-4); ap.add_argument("--dropout", type=float, default=0.1)
a = ap.parse_args()
torch.set_num_threads(a.threads); torch.manual_seed(a.seed)
t_start = time.perf_counter()
ids = np.load(a.ids).astype(np.int64)
PAD, UNK, CLS, SEP, MASK = range(a.specials, a.specials + 5)
T, B, D, V = a.seq, a.batch, a.d, a.vocab
span = T - 1
nseq = len(ids) // span
stream = torch.from_numpy(ids[: nseq * span].reshape(nseq, span))

class Block(nn.Module):
    def __init__(s):
        super().__init__()
        s.norm1 = nn.LayerNorm(D); s.attn = nn.MultiheadAttention(D, a.heads, batch_first=True)
        s.norm2 = nn.LayerNorm(D); s.fc1 = nn.Linear(D, 4 * D); s.fc2 = nn.Linear(4 * D, D)
    def forward(s, x):
        h = s.norm1(x)
        x = x + F.dropout(s.attn(h, h, h, need_weights=False)[0], a.dropout, s.training)
        return x + F.dropout(s.fc2(F.gelu(s.fc1(s.norm2(x)))), a.dropout, s.training)

class MLM(nn.Module):
    def __init__(s):
        super().__init__()
        s.tok = nn.Embedding(V, D); s.pos = nn.Embedding(T, D)
        nn.init.normal_(s.tok.weight, std=0.02); nn.init.normal_(s.pos.weight, std=0.02)
        s.layers = nn.ModuleList(Block() for _ in range(a.layers)); s.norm = nn.LayerNorm(D)
        s.dense = nn.Linear(D, D); s.hnorm = nn.LayerNorm(D); s.bias = nn.Parameter(torch.zeros(V))
    def forward(s, x, sel):
        h = F.dropout(s.tok(x) + s.pos.weight[: x.shape[1]], a.dropout, s.training)
        for l in s.layers: h = l(h)
        h = s.norm(h).reshape(-1, D)[sel]                       # [M, D]: the head only at masked positions
        h = s.hnorm(F.gelu(s.dense(h)))
        return F.linear(h, s.tok.weight, s.bias)                 # tied decoder

m = MLM()
decay = [p for n, p in m.named_parameters() if p.ndim >= 2 and "tok" not in n and "pos" not in n]
no_decay = [p for n, p in m.named_parameters() if not (p.ndim >= 2 and "tok" not in n and "pos" not in n)]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}], lr=a.lr)
total = a.steps + a.warmup_steps
sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: s / 100 if s < 100 else 0.5 * (1 + math.cos(math.pi * min(1.0, (s - 100) / max(1, total - 100)))))
g = torch.Generator().manual_seed(a.seed)
order = torch.randperm(nseq, generator=g)
pos = 0

def batch():
    global pos, order
    if pos + B > nseq: order = torch.randperm(nseq, generator=g); pos = 0
    rows = stream[order[pos: pos + B]]; pos += B
    x = torch.cat([torch.full((B, 1), CLS, dtype=torch.long), rows], 1)      # [B, T]
    chosen = torch.rand(B, T, generator=g) < 0.15
    chosen[:, 0] = False                                                        # [CLS] is never chosen
    u = torch.rand(B, T, generator=g)
    labels = x[chosen]
    xm = x.clone()
    xm[chosen & (u < 0.8)] = MASK
    rnd = chosen & (u >= 0.8) & (u < 0.9)
    xm[rnd] = torch.randint(0, a.specials, (int(rnd.sum()),), generator=g)
    return xm, chosen.reshape(-1).nonzero().squeeze(1), labels

def step():
    x, sel, y = batch()
    opt.zero_grad(set_to_none=True)
    loss = F.cross_entropy(m(x, sel), y)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
    opt.step(); sched.step()
    return loss.item()

for _ in range(a.warmup_steps): step()
t0 = time.perf_counter()
for _ in range(a.steps): last = step()
dt = time.perf_counter() - t0
print(f"torch {torch.__version__} threads={a.threads} params={sum(p.numel() for p in m.parameters())} "
      f"steps={a.steps} ms/step={dt / a.steps * 1e3:.1f} tokens/s={B * T * a.steps / dt:.0f} loss={last:.4f} "
      f"wall={time.perf_counter() - t_start:.1f}")
