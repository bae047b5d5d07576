/* ops_sgns.c — fused skip-gram negative-sampling loss (word2vec's objective) with a stable log σ. */
#include "ag_internal.h"

#include <math.h>

/* log σ(x) = min(x, 0) − log1p(e^−|x|): no overflow for any x. */
static inline float log_sigmoid(float x) { return (x < 0 ? x : 0.0f) - log1pf(expf(-fabsf(x))); }
static inline float sigmoid(float x) {
    if (x >= 0) return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}

static float dot(const float *a, const float *b, int64_t D) {
    float s = 0;
    for (int64_t j = 0; j < D; j++) s += a[j] * b[j];
    return s;
}

/* ---------------------------------------------------------------------------------------------
 * sgns_loss = Σ_b [ −log σ(s_b0) − Σ_k log σ(−s_bk) ],  s_b0 = u_b·v_b, s_bk = u_b·n_bk.
 * Backward, with e_0 = σ(s_b0) − 1 and e_k = σ(s_bk), scaled by dL:
 *   du_b += e_0 v_b + Σ_k e_k n_bk;   dv_b += e_0 u_b;   dn_bk += e_k u_b.
 * saved: f32 [B, K+1] the scores s.
 * ------------------------------------------------------------------------------------------ */
static void sgns_backward(ag_graph *g, ag_node *n) {
    ag_tensor *u = n->in[0], *v = n->in[1], *neg = n->in[2];
    int64_t B = u->shape[0], D = u->shape[1], K = neg->shape[1];
    float dl = n->out->grad[0];
    const float *s = n->saved;                             /* [B, K+1] */
    const float *uv = ag_f32(u), *vv = ag_f32(v);           /* [B, D] */
    const float *nv = ag_f32(neg);                          /* [B, K, D] */
    float *du = ag_requires_grad(u) ? ag_grad(g, u) : NULL; /* [B, D] */
    float *dv = ag_requires_grad(v) ? ag_grad(g, v) : NULL; /* [B, D] */
    float *dn = ag_requires_grad(neg) ? ag_grad(g, neg) : NULL; /* [B, K, D] */
    /* Row b of every grad is touched only by iteration b; if two inputs are the same tensor their
     * grads alias, which is still row-disjoint across b. */
#pragma omp parallel for if (B * (K + 2) * D > AG_PAR_THRESHOLD)
    for (int64_t b = 0; b < B; b++) {
        const float *ub = uv + b * D, *vb = vv + b * D;
        const float *sb = s + b * (K + 1);
        float e0 = dl * (sigmoid(sb[0]) - 1.0f);
        if (du)
            for (int64_t j = 0; j < D; j++) du[b * D + j] += e0 * vb[j];
        if (dv)
            for (int64_t j = 0; j < D; j++) dv[b * D + j] += e0 * ub[j];
        for (int64_t k = 0; k < K; k++) {
            float ek = dl * sigmoid(sb[1 + k]);
            const float *nk = nv + (b * K + k) * D;
            if (du)
                for (int64_t j = 0; j < D; j++) du[b * D + j] += ek * nk[j];
            if (dn)
                for (int64_t j = 0; j < D; j++) dn[(b * K + k) * D + j] += ek * ub[j];
        }
    }
}

ag_tensor *ag_sgns_loss(ag_graph *g, ag_tensor *u, ag_tensor *v, ag_tensor *n) {
    ag_check_f32("sgns_loss", u);
    ag_check_f32("sgns_loss", v);
    ag_check_f32("sgns_loss", n);
    char su[96], sv[96], sn[96];
    AG_CHECK(u->ndim == 2 && ag_same_shape(u, v) && n->ndim == 3 && n->shape[0] == u->shape[0] &&
                 n->shape[2] == u->shape[1],
             "sgns_loss", "expected u [B, D], v [B, D], n [B, K, D]; got %s, %s, %s", ag_shape_str(u, su, sizeof su),
             ag_shape_str(v, sv, sizeof sv), ag_shape_str(n, sn, sizeof sn));
    int64_t B = u->shape[0], D = u->shape[1], K = n->shape[1];
    float *s = ag_arena_alloc(ag_graph_arena(g), (size_t)(B * (K + 1) + 1) * sizeof(float)); /* [B, K+1] */
    const float *uv = ag_f32(u), *vv = ag_f32(v); /* [B, D] */
    const float *nv = ag_f32(n);                  /* [B, K, D] */
    double total = 0;
#pragma omp parallel for reduction(+ : total) if (B * (K + 1) * D > AG_PAR_THRESHOLD)
    for (int64_t b = 0; b < B; b++) {
        const float *ub = uv + b * D;
        float *sb = s + b * (K + 1);
        sb[0] = dot(ub, vv + b * D, D);
        double l = -(double)log_sigmoid(sb[0]);
        for (int64_t k = 0; k < K; k++) {
            sb[1 + k] = dot(ub, nv + (b * K + k) * D, D);
            l -= (double)log_sigmoid(-sb[1 + k]);
        }
        total += l;
    }
    ag_tensor *out = ag_scalar(g, (float)total);
    ag_node *node = ag_record(g, AG_OP_SGNS_LOSS, sgns_backward, out, 3, (ag_tensor *[]){u, v, n});
    if (node) node->saved = s;
    return out;
}
