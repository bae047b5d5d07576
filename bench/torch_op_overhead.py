"""torch_op_overhead.py — peer of bench/op_overhead.c: the same chain of tiny ops in PyTorch (1 thread).

Usage: /usr/bin/python3 bench/torch_op_overhead.py [nops [reps]]   (default 10000 ops, 21 reps)
Chain on 16-element float32 tensors cycling add, mul, tanh, sub, sigmoid, then sum → backward;
every leaf requires grad. ns per op = median time of forward+backward / (nops + 1)."""
import json
import statistics
import sys
import time

import torch

torch.set_num_threads(1)
nops = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
reps = int(sys.argv[2]) if len(sys.argv) > 2 else 21
D = 16
x = (0.1 * torch.arange(D, dtype=torch.float32) - 0.8).requires_grad_(True)
c1 = (0.05 * torch.arange(D, dtype=torch.float32)).requires_grad_(True)
c2 = (0.9 - 0.01 * torch.arange(D, dtype=torch.float32)).requires_grad_(True)
c3 = torch.full((D,), 0.3).requires_grad_(True)


def chain():
    h = x
    for i in range(nops):
        k = i % 5
        if k == 0:
            h = h + c1
        elif k == 1:
            h = h * c2
        elif k == 2:
            h = torch.tanh(h)
        elif k == 3:
            h = h - c3
        else:
            h = torch.sigmoid(h)
    return h.sum()


total, fwd = [], []
loss = None
for rep in range(-2, reps):
    t0 = time.perf_counter()
    loss = chain()
    t1 = time.perf_counter()
    loss.backward()
    t2 = time.perf_counter()
    if rep >= 0:
        total.append(t2 - t0)
        fwd.append(t1 - t0)
per_op = statistics.median(total) / (nops + 1) * 1e9
per_fwd = statistics.median(fwd) / (nops + 1) * 1e9
print(f"torch {torch.__version__} op overhead: chain of {nops} ops on [16] tensors, {reps} reps, median, 1 thread")
print(f"  forward+backward: {per_op:.1f} ns/op   (forward alone {per_fwd:.1f} ns/op)   loss {loss.item():.6g}"
      f"   c3.grad[0] per rep {c3.grad[0].item() / (reps + 2):.6g}")
print(json.dumps({"bench": "torch_op_overhead", "nops": nops, "reps": reps, "ns_per_op": round(per_op, 2),
                  "fwd_ns_per_op": round(per_fwd, 2)}))
