/* ops_dist.c — the data-parallel all-gather with a gradient (open_clip's gather_with_grad) over the dist layer. */
#include <stdlib.h>
#include <string.h>

#include "../dist/dist.h"
#include "ag_internal.h"

/* dist_gather: saved i64 [2] = (this rank's first output row, its row count); rows are x's first
 * dimension, row = numel / N elements. Backward: dY [ΣN, row] summed over ranks (in place: every
 * consumer of the output has already added its share), dx += dY[off .. off + N). */
static void dist_gather_backward(ag_graph *g, ag_node *n) {
    ag_tensor *x = n->in[0];
    if (!ag_requires_grad(x)) return;
    ag_tensor *y = n->out;
    const int64_t *sv = n->saved; /* [2] */
    int64_t off = sv[0], N = sv[1], row = N ? x->numel / N : 0;
    float *dy = y->grad; /* [ΣN, row] */
    dist_allreduce_sum_f32(dy, y->numel);
    float *dx = ag_grad(g, x); /* [N, row] */
    const float *src = dy + off * row;
    for (int64_t i = 0; i < N * row; i++) dx[i] += src[i];
}

ag_tensor *ag_dist_gather(ag_graph *g, ag_tensor *x) {
    ag_check_f32("dist_gather", x);
    AG_CHECK(x->ndim >= 1, "dist_gather", "a tensor with rows expected");
    int64_t N = x->shape[0], row = N ? x->numel / N : 0;
    int size = dist_size(), rank = dist_rank();
    /* Every rank's row count (they may differ), checked to share the row shape. */
    int64_t mine[2] = {N, row}, *all = base_xmalloc((size_t)size * 2 * sizeof(int64_t));
    dist_allgather(mine, sizeof mine, all);
    int64_t total = 0, off = 0;
    for (int r = 0; r < size; r++) {
        AG_CHECK(all[2 * r + 1] == row || all[2 * r] == 0 || N == 0, "dist_gather",
                 "rank %d has rows of %lld elements, rank %d of %lld", r, (long long)all[2 * r + 1], rank, (long long)row);
        if (r == rank) off = total;
        total += all[2 * r];
    }
    free(all);
    int64_t shape[AG_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) shape[i] = x->shape[i];
    shape[0] = total;
    ag_tensor *y = ag_new(g, AG_F32, x->ndim, shape);
    dist_allgatherv(ag_f32(x), x->numel * (int64_t)sizeof(float), ag_f32(y), NULL);
    ag_node *n = ag_record(g, AG_OP_DIST_GATHER, dist_gather_backward, y, 1, &x);
    if (n) {
        int64_t *sv = ag_arena_alloc(ag_graph_arena(g), 2 * sizeof(int64_t));
        sv[0] = off;
        sv[1] = N;
        n->saved = sv;
    }
    return y;
}
