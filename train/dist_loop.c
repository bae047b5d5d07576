/* dist_loop.c — the training loop's data-parallel hook: broadcast, gradient averaging, stop agreement, rank-0 checkpoints (dist_loop.h). */
#include "dist_loop.h"

#include <stdlib.h>
#include <string.h>

#include "../autograd/ag.h"

bool train_dist_writer(void) { return dist_rank() == 0; }

/* The values block from the first parameter to the end of the last (padding included: zeros). */
static int64_t values_len(const nn_params *ps) {
    if (ps->n == 0) return 0;
    const ag_tensor *last = ps->items[ps->n - 1].t;
    return (int64_t)(ag_f32(last) + last->numel - ps->values);
}

void train_dist_begin(nn_params *ps, base_rng *graph_rng) {
    if (!dist_active()) return;
    dist_broadcast(ps->values, values_len(ps) * (int64_t)sizeof(float), 0);
    if (dist_rank() > 0 && graph_rng) {
        uint64_t s = base_rng_next(graph_rng);
        base_rng_seed(graph_rng, s ^ (0x9e3779b97f4a7c15ull * (uint64_t)dist_rank()));
    }
}

/* Row-sparse grad of p: every rank's entries, in rank order, values · 1/size. */
static void gather_sparse(ag_tensor *t) {
    int64_t width = t->shape[1], n = t->sgrad ? t->sgrad->n : 0;
    int64_t total = n;
    dist_allreduce_sum_i64(&total, 1);
    if (total == 0) return;
    int32_t *rows = base_xmalloc((size_t)total * sizeof(int32_t));
    float *vals = base_xmalloc((size_t)(total * width) * sizeof(float));
    dist_allgatherv(n ? t->sgrad->rows : rows, n * (int64_t)sizeof(int32_t), rows, NULL);
    dist_allgatherv(n ? t->sgrad->vals : vals, n * width * (int64_t)sizeof(float), vals, NULL);
    float inv = 1.0f / (float)dist_size();
    for (int64_t i = 0; i < total * width; i++) vals[i] *= inv;
    if (t->sgrad) t->sgrad->n = 0;
    ag_sparse_grad_add(t, total, rows, vals);
    free(rows);
    free(vals);
}

void train_dist_step(nn_params *ps, double *loss_sum, int64_t tokens0, int64_t *tokens, int64_t *tokens_here) {
    if (!dist_active()) return;
    /* Dense grads: one all-reduce per contiguous run of trainable parameters in the grad block
     * (frozen ones keep zero grads and are skipped; the runs are the same on every rank). */
    float *run = NULL;
    int64_t run_len = 0;
    for (int i = 0; i <= ps->n; i++) {
        const nn_param *p = i < ps->n ? &ps->items[i] : NULL;
        bool dense = p && !p->frozen && !(p->t->flags & AG_SPARSE_GRAD) && p->t->grad;
        if (dense && run && p->t->grad == run + run_len) {
            run_len = (int64_t)(p->t->grad - run) + ((p->t->numel + 15) & ~(int64_t)15);
            continue;
        }
        if (run) dist_allreduce_avg_f32(run, run_len);
        run = dense ? p->t->grad : NULL;
        run_len = dense ? ((p->t->numel + 15) & ~(int64_t)15) : 0;
    }
    for (int i = 0; i < ps->n; i++) {
        nn_param *p = &ps->items[i];
        if (!p->frozen && (p->t->flags & AG_SPARSE_GRAD)) {
            if (p->t->sgrad) ag_sparse_grad_coalesce(p->t->sgrad); /* fewer rows to send */
            gather_sparse(p->t);
        }
    }
    double st[2] = {*loss_sum, (double)(*tokens - tokens0)};
    dist_allreduce_sum_f64(st, 2);
    *loss_sum = st[0] / dist_size();
    int64_t others = (int64_t)st[1] - (*tokens - tokens0);
    *tokens += others;
    if (tokens_here) *tokens_here += others;
}

bool train_dist_any(bool local) {
    if (!dist_active()) return local;
    int64_t v = local;
    dist_allreduce_max_i64(&v, 1);
    return v != 0;
}

uint64_t train_dist_params_hash(const nn_params *ps) {
    /* 64-bit words mixed multiplicatively: 8x fewer steps than byte-wise FNV over the block. */
    int64_t n = values_len(ps);
    const uint32_t *w = (const uint32_t *)ps->values;
    uint64_t h = 0x243f6a8885a308d3ull;
    for (int64_t i = 0; i + 1 < n; i += 2) h = (h ^ ((uint64_t)w[i] | (uint64_t)w[i + 1] << 32)) * 0x100000001b3ull + (h >> 29);
    if (n & 1) h = (h ^ w[n - 1]) * 0x100000001b3ull;
    return h;
}

int train_dist_save_gate(const nn_params *ps, bool *write) {
    *write = train_dist_writer();
    if (!dist_active()) return 0;
    int size = dist_size();
    uint64_t h = train_dist_params_hash(ps);
    uint64_t *all = base_xmalloc((size_t)size * sizeof(uint64_t));
    dist_allgather(&h, sizeof h, all);
    int bad = -1;
    for (int r = 1; r < size && bad < 0; r++)
        if (all[r] != all[0]) bad = r;
    free(all);
    if (bad >= 0)
        return base_error_set("data-parallel ranks diverged: the parameters of rank %d differ from rank 0's (hash "
                              "%016llx): refusing to save a checkpoint only one of them holds",
                              bad, (unsigned long long)h);
    return 0;
}
