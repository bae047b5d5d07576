#!/usr/bin/python3
"""torch_attention.py — peer timing for bench/attention.c: manual softmax(q kᵀ·scale) v forward +
backward with autograd in PyTorch CPU (1.13 has no scaled_dot_product_attention).
Usage: torch_attention.py [threads] [iters] [B] [H] [T] [Dh] [causal 0|1]
Prints one line: `torch <version> threads=N ms/iter=X cpu_ms/iter=Y` (wall, process CPU time)."""
import math
import sys
import time

import torch

a = [int(x) for x in sys.argv[1:]] + [0] * 7
th, iters, B, H, T, Dh = [v or d for v, d in zip(a[:6], [2, 20, 32, 4, 128, 64])]
causal = a[6] == 1
torch.set_num_threads(th)
torch.manual_seed(0)
q = torch.rand(B, H, T, Dh, requires_grad=True)
k = torch.rand(B, H, T, Dh, requires_grad=True)
v = torch.rand(B, H, T, Dh, requires_grad=True)
w = torch.rand(B, H, T, Dh)
scale = 1.0 / math.sqrt(Dh)
mask = torch.triu(torch.full((T, T), -math.inf), 1) if causal else None


def step():
    for t in (q, k, v):
        t.grad = None
    s = q @ k.transpose(-1, -2) * scale
    if mask is not None:
        s = s + mask
    out = torch.softmax(s, dim=-1) @ v
    out.backward(w)


for _ in range(3):
    step()
t0, c0 = time.perf_counter(), time.process_time()
for _ in range(iters):
    step()
dt, dc = (time.perf_counter() - t0) / iters, (time.process_time() - c0) / iters
print(f"torch {torch.__version__} threads={th} ms/iter={dt * 1e3:.2f} cpu_ms/iter={dc * 1e3:.2f}")
