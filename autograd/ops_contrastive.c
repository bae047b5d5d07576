/* ops_contrastive.c — contrastive losses: InfoNCE (a composition of gradchecked ops) and CoSENT (fused). */
#include <math.h>
#include <string.h>

#include "ag_internal.h"
#include "fast_exp.h"

ag_tensor *ag_info_nce(ag_graph *g, ag_tensor *a, ag_tensor *b, ag_tensor *scale, ag_tensor *neg_mask,
                       bool symmetric) {
    ag_check_f32("info_nce", a);
    ag_check_f32("info_nce", b);
    char sa[96], sb[96];
    AG_CHECK(a->ndim == 2 && b->ndim == 2 && a->shape[1] == b->shape[1] && b->shape[0] >= a->shape[0] &&
                 a->shape[0] > 0,
             "info_nce", "a [N, D] and b [M ≥ N, D] expected, got %s and %s", ag_shape_str(a, sa, sizeof sa),
             ag_shape_str(b, sb, sizeof sb));
    int64_t N = a->shape[0], M = b->shape[0];
    AG_CHECK(!scale || (scale->dtype == AG_F32 && scale->numel == 1), "info_nce", "scale must be one f32 value");
    if (neg_mask) {
        AG_CHECK(neg_mask->dtype == AG_I32 && neg_mask->ndim == 2 && neg_mask->shape[0] == N &&
                     neg_mask->shape[1] == M,
                 "info_nce", "neg_mask must be i32 [%lld, %lld], got %s", (long long)N, (long long)M,
                 ag_shape_str(neg_mask, sa, sizeof sa));
        const int32_t *m = ag_i32(neg_mask); /* [N, M] */
        for (int64_t i = 0; i < N; i++)
            AG_CHECK(m[i * M + i] == 0, "info_nce", "neg_mask masks row %lld's own positive", (long long)i);
    }
    ag_tensor *logits = ag_matmul(g, a, b, false, true); /* [N, M] */
    if (scale) {
        /* A [1]-shaped scale broadcasts as a scalar; reshape any one-element tensor to [1, 1]. */
        ag_tensor *s = scale->ndim == 2 ? scale : ag_reshape(g, scale, 2, (int64_t[]){1, 1});
        logits = ag_mul(g, logits, s);
    }
    if (neg_mask) logits = ag_masked_fill(g, logits, neg_mask, -INFINITY);
    ag_tensor *targets = ag_new(g, AG_I32, 1, (int64_t[]){N}); /* [N]: row i's positive is column i */
    int32_t *t = ag_i32(targets);
    for (int64_t i = 0; i < N; i++) t[i] = (int32_t)i;
    ag_tensor *loss = ag_cross_entropy(g, logits, targets, -1, AG_MEAN);
    if (!symmetric) return loss;
    /* b[j] → a: column j of the first N columns, as a row of the transposed slice [N, N]. */
    ag_tensor *cols = M == N ? logits : ag_slice(g, logits, 1, 0, N);
    ag_tensor *back = ag_cross_entropy(g, ag_transpose(g, cols, 0, 1), targets, -1, AG_MEAN);
    return ag_mul_scalar(g, ag_add(g, loss, back), 0.5f);
}

/* ------------------------------------------------------------------------------------------------
 * cosent: loss = m + log(e^{−m} + Σ_{(i,j) ∈ P} e^{t_ij − m}), t_ij = λ (cos_j − cos_i),
 * P = {(i, j): gold_i > gold_j}, m = max(0, max t). Backward with w_ij = e^{t_ij − loss}:
 * dcos_j += dout λ w_ij, dcos_i −= dout λ w_ij.  saved: f32 [1] = the loss; fp[0] = λ.
 * N is a batch of pairs (tens to a few hundred), so the O(N²) double loop is the whole cost.
 * ---------------------------------------------------------------------------------------------- */
static void cosent_backward(ag_graph *g, ag_node *n) {
    ag_tensor *cos = n->in[0], *gold = n->in[1];
    if (!ag_requires_grad(cos)) return;
    int64_t N = cos->numel;
    float lam = n->fp[0], loss = *(const float *)n->saved, dout = n->out->grad[0];
    const float *c = ag_f32(cos), *y = ag_f32(gold); /* [N], [N] */
    float *dc = ag_grad(g, cos);                     /* [N] */
    for (int64_t i = 0; i < N; i++)
        for (int64_t j = 0; j < N; j++) {
            if (!(y[i] > y[j])) continue;
            float w = dout * lam * expf(lam * (c[j] - c[i]) - loss);
            dc[j] += w;
            dc[i] -= w;
        }
}

ag_tensor *ag_cosent(ag_graph *g, ag_tensor *cos, ag_tensor *gold, float lambda) {
    ag_check_f32("cosent", cos);
    ag_check_f32("cosent", gold);
    char sc[96], sg[96];
    AG_CHECK(cos->numel == gold->numel && cos->numel > 0, "cosent", "cos %s and gold %s must have the same count",
             ag_shape_str(cos, sc, sizeof sc), ag_shape_str(gold, sg, sizeof sg));
    int64_t N = cos->numel;
    const float *c = ag_f32(cos), *y = ag_f32(gold); /* [N], [N] */
    float m = 0; /* the "1" in log(1 + Σ) is the term e^0, so the max starts at 0 */
    for (int64_t i = 0; i < N; i++)
        for (int64_t j = 0; j < N; j++)
            if (y[i] > y[j] && lambda * (c[j] - c[i]) > m) m = lambda * (c[j] - c[i]);
    double s = exp(-(double)m);
    for (int64_t i = 0; i < N; i++)
        for (int64_t j = 0; j < N; j++)
            if (y[i] > y[j]) s += exp((double)lambda * (c[j] - c[i]) - m);
    float loss = (float)(m + log(s));
    ag_tensor *out = ag_scalar(g, loss);
    ag_node *n = ag_record(g, AG_OP_COSENT, cosent_backward, out, 2, (ag_tensor *[]){cos, gold});
    if (n) {
        float *sv = ag_arena_alloc(ag_graph_arena(g), sizeof(float)); /* [1] */
        *sv = loss;
        n->saved = sv;
        n->fp[0] = lambda;
    }
    return out;
}
