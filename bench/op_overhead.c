/* op_overhead.c — benchmark: per-op cost of the autograd engine on tiny tensors (bookkeeping, not maths).
 *
 * Usage: bench_op_overhead [nops [reps]]     (default 10000 ops, 21 repetitions)
 * One repetition builds a chain of nops ops on 16-element tensors cycling add, mul, tanh, sub,
 * sigmoid (h = σ(tanh((h + c1) · c2) − c3) ...), then ag_sum → backward → ag_graph_reset, and is
 * timed as a whole; ns per op = time / (nops + 1). The peer is bench/torch_op_overhead.py (same
 * chain in PyTorch, 1 thread); run both and compare the medians. Prints a one-line JSON record. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "autograd/ag.h"
#include "bench/bench_util.h"

/* The chain: 5-op cycle; returns the scalar loss (nops chain ops + 1 sum). */
static ag_tensor *chain(ag_graph *g, ag_tensor *x, ag_tensor *c1, ag_tensor *c2, ag_tensor *c3, int nops) {
    ag_tensor *h = x; /* [16] throughout */
    for (int i = 0; i < nops; i++) {
        switch (i % 5) {
        case 0: h = ag_add(g, h, c1); break;
        case 1: h = ag_mul(g, h, c2); break;
        case 2: h = ag_tanh(g, h); break;
        case 3: h = ag_sub(g, h, c3); break;
        default: h = ag_sigmoid(g, h); break;
        }
    }
    return ag_sum(g, h, AG_ALL_AXES, false);
}

int main(int argc, char **argv) {
    int nops = argc >= 2 ? atoi(argv[1]) : 10000;
    int reps = argc >= 3 ? atoi(argv[2]) : 21;
    if (nops <= 0 || reps <= 0 || reps > 10000) {
        fprintf(stderr, "usage: bench_op_overhead [nops [reps]] with nops > 0 and 1..10000 reps\n");
        return 2;
    }
    const int64_t D = 16;
    ag_tensor *x = ag_tensor_alloc(AG_F32, AG_SHAPE(D));
    ag_tensor *c1 = ag_tensor_alloc(AG_F32, AG_SHAPE(D)), *c2 = ag_tensor_alloc(AG_F32, AG_SHAPE(D));
    ag_tensor *c3 = ag_tensor_alloc(AG_F32, AG_SHAPE(D));
    ag_tensor_set_param(x, false);
    ag_tensor_set_param(c1, false); /* every input requires grad, like torch's peer */
    ag_tensor_set_param(c2, false);
    ag_tensor_set_param(c3, false);
    for (int64_t i = 0; i < D; i++) {
        ag_f32(x)[i] = 0.1f * (float)i - 0.8f;
        ag_f32(c1)[i] = 0.05f * (float)i;
        ag_f32(c2)[i] = 0.9f - 0.01f * (float)i;
        ag_f32(c3)[i] = 0.3f;
    }
    ag_graph *g = ag_graph_new(0);
    double *t_total = base_xmalloc((size_t)reps * sizeof(double)), *t_fwd = base_xmalloc((size_t)reps * sizeof(double));
    float loss = 0;
    for (int rep = -2; rep < reps; rep++) { /* two warm-up reps grow the arena to its peak */
        double t0 = base_now_sec();
        ag_tensor *l = chain(g, x, c1, c2, c3, nops);
        double t1 = base_now_sec();
        ag_backward(g, l);
        loss = ag_f32(l)[0];
        ag_graph_reset(g);
        double t2 = base_now_sec();
        if (rep >= 0) {
            t_total[rep] = t2 - t0;
            t_fwd[rep] = t1 - t0;
        }
    }
    double per_op = bench_median(t_total, reps) / (nops + 1) * 1e9;
    double per_fwd = bench_median(t_fwd, reps) / (nops + 1) * 1e9;
    printf("op overhead: chain of %d ops on [16] tensors (add, mul, tanh, sub, sigmoid) + sum, %d reps, median\n",
           nops, reps);
    /* loss and c3's grad per rep are printed so the peer's chain can be seen to compute the same */
    printf("  forward+backward+reset: %.1f ns/op   (forward alone %.1f ns/op)   loss %.6g   c3.grad[0] per rep %.6g\n",
           per_op, per_fwd, (double)loss, (double)c3->grad[0] / (reps + 2));
    printf("{\"bench\":\"op_overhead\",\"nops\":%d,\"reps\":%d,\"ns_per_op\":%.2f,\"fwd_ns_per_op\":%.2f}\n", nops, reps,
           per_op, per_fwd);
    free(t_total);
    free(t_fwd);
    ag_graph_free(g);
    ag_tensor_free(x);
    ag_tensor_free(c1);
    ag_tensor_free(c2);
    ag_tensor_free(c3);
    return 0;
}
