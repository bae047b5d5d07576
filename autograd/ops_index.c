/* ops_index.c — row gather (embedding lookup, dense or row-sparse grad) and row scatter-add. */
#include "ag_internal.h"

#include <string.h>

/* Ids index rows of a table; the data layer validates user ids, so a bad one here is a bug. */
static void check_ids(const char *op, const ag_tensor *ids, int64_t nrows) {
    AG_CHECK(ids->dtype == AG_I32, op, "ids must be i32");
    const int32_t *id = ag_i32(ids);
    for (int64_t i = 0; i < ids->numel; i++)
        AG_CHECK(id[i] >= 0 && id[i] < nrows, op, "id %d at %lld outside [0, %lld)", id[i], (long long)i,
                 (long long)nrows);
}

/* ---------------------------------------------------------------------------------------------
 * gather_rows: out[i, :] = weight[ids[i], :].
 * Backward: sparse weight → one (ids[i], dout[i]) entry per occurrence appended to weight->sgrad;
 * dense weight → dweight[ids[i]] += dout[i] (serial: ids repeat).
 * ------------------------------------------------------------------------------------------ */
static void gather_rows_backward(ag_graph *g, ag_node *n) {
    ag_tensor *w = n->in[0], *ids = n->in[1];
    if (!ag_requires_grad(w)) return;
    int64_t N = ids->numel, D = w->shape[1];
    const int32_t *id = ag_i32(ids); /* [N] */
    const float *dout = n->out->grad; /* [N, D] */
    if (w->flags & AG_SPARSE_GRAD) {
        ag_sparse_grad_add(w, N, id, dout);
        return;
    }
    float *dw = ag_grad(g, w); /* [V, D] */
    for (int64_t i = 0; i < N; i++) {
        float *dst = dw + (int64_t)id[i] * D;
        const float *src = dout + i * D;
        for (int64_t j = 0; j < D; j++) dst[j] += src[j];
    }
}

ag_tensor *ag_gather_rows(ag_graph *g, ag_tensor *weight, ag_tensor *ids) {
    ag_check_f32("gather_rows", weight);
    AG_CHECK(weight->ndim == 2, "gather_rows", "weight must be 2-D [V, D], got %d dims", weight->ndim);
    AG_CHECK(ids->ndim < AG_MAX_DIMS, "gather_rows", "ids have %d dims; output would exceed %d", ids->ndim,
             AG_MAX_DIMS);
    check_ids("gather_rows", ids, weight->shape[0]);
    int64_t shape[AG_MAX_DIMS], N = ids->numel, D = weight->shape[1];
    for (int i = 0; i < ids->ndim; i++) shape[i] = ids->shape[i];
    shape[ids->ndim] = D;
    ag_tensor *out = ag_new(g, AG_F32, ids->ndim + 1, shape);
    const float *w = ag_f32(weight); /* [V, D] */
    const int32_t *id = ag_i32(ids); /* [N] */
    float *y = ag_f32(out);          /* [N, D] */
#pragma omp parallel for if (N * D > AG_PAR_THRESHOLD)
    for (int64_t i = 0; i < N; i++) memcpy(y + i * D, w + (int64_t)id[i] * D, (size_t)D * sizeof(float));
    ag_record(g, AG_OP_GATHER_ROWS, gather_rows_backward, out, 2, (ag_tensor *[]){weight, ids});
    return out;
}

/* ---------------------------------------------------------------------------------------------
 * scatter_add: out [nrows, D] = 0; out[ids[i]] += src[i].   Backward: dsrc[i] += dout[ids[i]].
 * ------------------------------------------------------------------------------------------ */
static void scatter_add_backward(ag_graph *g, ag_node *n) {
    ag_tensor *src = n->in[0], *ids = n->in[1];
    if (!ag_requires_grad(src)) return;
    int64_t N = ids->numel, D = src->shape[1];
    const int32_t *id = ag_i32(ids);  /* [N] */
    const float *dout = n->out->grad; /* [nrows, D] */
    float *ds = ag_grad(g, src);      /* [N, D] */
#pragma omp parallel for if (N * D > AG_PAR_THRESHOLD)
    for (int64_t i = 0; i < N; i++) {
        const float *s = dout + (int64_t)id[i] * D;
        float *d = ds + i * D;
        for (int64_t j = 0; j < D; j++) d[j] += s[j];
    }
}

ag_tensor *ag_scatter_add(ag_graph *g, ag_tensor *src, ag_tensor *ids, int64_t nrows) {
    ag_check_f32("scatter_add", src);
    AG_CHECK(src->ndim == 2, "scatter_add", "src must be 2-D [N, D], got %d dims", src->ndim);
    AG_CHECK(ids->numel == src->shape[0], "scatter_add", "%lld ids for %lld rows", (long long)ids->numel,
             (long long)src->shape[0]);
    AG_CHECK(nrows >= 0, "scatter_add", "nrows %lld is negative", (long long)nrows);
    check_ids("scatter_add", ids, nrows);
    int64_t N = src->shape[0], D = src->shape[1];
    ag_tensor *out = ag_zeros(g, AG_F32, 2, (const int64_t[]){nrows, D});
    const float *s = ag_f32(src);    /* [N, D] */
    const int32_t *id = ag_i32(ids); /* [N] */
    float *y = ag_f32(out);          /* [nrows, D] */
    for (int64_t i = 0; i < N; i++) {
        float *dst = y + (int64_t)id[i] * D;
        const float *row = s + i * D;
        for (int64_t j = 0; j < D; j++) dst[j] += row[j];
    }
    ag_record(g, AG_OP_SCATTER_ADD, scatter_add_backward, out, 2, (ag_tensor *[]){src, ids});
    return out;
}
