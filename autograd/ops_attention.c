/* ops_attention.c — fused scaled-dot-product attention (GQA, causal, key padding, additive bias). */
#include "ag_internal.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* How the (batch, head) work is spread over the 2+ cores. Measured in bench/attention.c (see
 * bench/RESULTS.md "## Fused attention"):
 *   HEADS  OpenMP over (batch, kv head) units, each running single-threaded small sgemms
 *          (OpenBLAS is set to 1 thread around the loop and restored after);
 *   BLAS   heads one after another, each sgemm threaded by OpenBLAS.
 * EMBER_ATTN_THREADS=heads|blas overrides the default (used by the benchmark to compare). */
enum { ATTN_HEADS = 0, ATTN_BLAS = 1 };

static int attn_mode(int64_t units) {
    const char *e = getenv("EMBER_ATTN_THREADS");
    if (e && !strcmp(e, "blas")) return ATTN_BLAS;
    if (e && !strcmp(e, "heads")) return ATTN_HEADS;
    /* Too few independent units to keep every thread busy: let OpenBLAS thread each product. */
    return units >= omp_get_max_threads() ? ATTN_HEADS : ATTN_BLAS;
}

/* Runs body(unit) for unit in [0, units) under the chosen threading; `ctx` is the op's state. */
typedef void (*attn_unit_fn)(void *ctx, int64_t unit, int tid);
static void attn_run(int64_t units, attn_unit_fn body, void *ctx, int mode, int nth) {
    if (mode == ATTN_BLAS) {
        for (int64_t u = 0; u < units; u++) body(ctx, u, 0);
        return;
    }
    int blas_threads = openblas_get_num_threads();
    if (blas_threads != 1) openblas_set_num_threads(1);
#pragma omp parallel for schedule(static) num_threads(nth)
    for (int64_t u = 0; u < units; u++) body(ctx, u, omp_get_thread_num());
    if (blas_threads != 1) openblas_set_num_threads(blas_threads);
}

typedef struct {
    int64_t B, H, Hkv, T, S, Dh, G; /* G = H / Hkv heads per kv head */
    bool causal;
    float scale;
    const float *q, *k, *v;     /* [B, H, T, Dh], [B, Hkv, S, Dh], [B, Hkv, S, Dh] */
    const int32_t *key_pad;     /* [B, S] or NULL */
    const float *bias;          /* [H, T, S] or NULL */
    float *p;                   /* [B, H, T, S] probabilities, saved for backward */
    float *o;                   /* [B, H, T, Dh] output */
    /* backward */
    const float *dout;          /* [B, H, T, Dh] */
    float *dq, *dk, *dv;        /* grads (NULL when not needed), shapes as q, k, v */
    float *scratch;             /* [nth, T, S] dP / dS per thread */
} attn_ctx;

/* Number of keys row t may see under the causal rule s ≤ t + (S − T), clamped to [0, S]. */
static inline int64_t visible(const attn_ctx *c, int64_t t) {
    if (!c->causal) return c->S;
    int64_t n = t + (c->S - c->T) + 1;
    return n < 0 ? 0 : n > c->S ? c->S : n;
}

/* Forward of one (batch, head): P = softmax(scale q kᵀ + bias + masks); O = P v. */
static void attn_forward_unit(void *vctx, int64_t unit, int tid) {
    (void)tid;
    const attn_ctx *c = vctx;
    int64_t b = unit / c->H, h = unit % c->H, kvh = h / c->G, T = c->T, S = c->S, Dh = c->Dh;
    const float *q = c->q + (b * c->H + h) * T * Dh;      /* [T, Dh] */
    const float *k = c->k + (b * c->Hkv + kvh) * S * Dh;  /* [S, Dh] */
    const float *v = c->v + (b * c->Hkv + kvh) * S * Dh;  /* [S, Dh] */
    float *p = c->p + (b * c->H + h) * T * S;             /* [T, S] */
    float *o = c->o + (b * c->H + h) * T * Dh;            /* [T, Dh] */
    const int32_t *pad = c->key_pad ? c->key_pad + b * S : NULL; /* [S] */
    const float *bias = c->bias ? c->bias + h * T * S : NULL;    /* [T, S] */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)T, (int)S, (int)Dh, c->scale, q, (int)Dh, k, (int)Dh,
                0.0f, p, (int)S);
    for (int64_t t = 0; t < T; t++) {
        float *pr = p + t * S; /* [S] */
        int64_t n = visible(c, t);
        if (bias)
            for (int64_t s = 0; s < n; s++) pr[s] += bias[t * S + s];
        if (pad)
            for (int64_t s = 0; s < n; s++)
                if (pad[s]) pr[s] = -INFINITY;
        float mx = -INFINITY;
        for (int64_t s = 0; s < n; s++) mx = pr[s] > mx ? pr[s] : mx;
        if (mx == -INFINITY) n = 0; /* every key hidden: the row attends to nothing (zeros) */
        float sum = 0;
        for (int64_t s = 0; s < n; s++) {
            pr[s] = expf(pr[s] - mx);
            sum += pr[s];
        }
        float inv = n ? 1.0f / sum : 0.0f;
        for (int64_t s = 0; s < n; s++) pr[s] *= inv;
        for (int64_t s = n; s < S; s++) pr[s] = 0.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)T, (int)Dh, (int)S, 1.0f, p, (int)S, v, (int)Dh, 0.0f,
                o, (int)Dh);
}

/* Backward of one (batch, kv head) unit: its G query heads, one after another, so dK and dV of
 * the kv head are written by one thread only.
 *   dP = dO vᵀ;  dS = P ∘ (dP − rowsum(dP ∘ P));  dQ += scale dS k;  dK += scale dSᵀ q;  dV += Pᵀ dO. */
static void attn_backward_unit(void *vctx, int64_t unit, int tid) {
    const attn_ctx *c = vctx;
    int64_t b = unit / c->Hkv, kvh = unit % c->Hkv, T = c->T, S = c->S, Dh = c->Dh;
    int64_t kvoff = (b * c->Hkv + kvh) * S * Dh;
    const float *k = c->k + kvoff, *v = c->v + kvoff;     /* [S, Dh] */
    float *dk = c->dk ? c->dk + kvoff : NULL;              /* [S, Dh] */
    float *dv = c->dv ? c->dv + kvoff : NULL;              /* [S, Dh] */
    float *ds = c->scratch + (int64_t)tid * T * S;         /* [T, S] */
    for (int64_t h = kvh * c->G; h < (kvh + 1) * c->G; h++) {
        int64_t qoff = (b * c->H + h) * T * Dh;
        const float *q = c->q + qoff;                      /* [T, Dh] */
        const float *dout = c->dout + qoff;                /* [T, Dh] */
        const float *p = c->p + (b * c->H + h) * T * S;    /* [T, S] */
        if (dv)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)S, (int)Dh, (int)T, 1.0f, p, (int)S, dout,
                        (int)Dh, 1.0f, dv, (int)Dh);
        if (!c->dq && !dk) continue;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)T, (int)S, (int)Dh, 1.0f, dout, (int)Dh, v, (int)Dh,
                    0.0f, ds, (int)S);
        for (int64_t t = 0; t < T; t++) {
            const float *pr = p + t * S; /* [S] */
            float *dr = ds + t * S;      /* [S] */
            int64_t n = visible(c, t);
            float dot = 0;
            for (int64_t s = 0; s < n; s++) dot += dr[s] * pr[s];
            for (int64_t s = 0; s < n; s++) dr[s] = pr[s] * (dr[s] - dot);
            for (int64_t s = n; s < S; s++) dr[s] = 0.0f;
        }
        if (c->dq)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)T, (int)Dh, (int)S, c->scale, ds, (int)S, k,
                        (int)Dh, 1.0f, c->dq + qoff, (int)Dh);
        if (dk)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)S, (int)Dh, (int)T, c->scale, ds, (int)S, q,
                        (int)Dh, 1.0f, dk, (int)Dh);
    }
}

/* What the node keeps for backward (arena). */
typedef struct {
    float *p;            /* [B, H, T, S] probabilities */
    ag_tensor *key_pad;  /* i32 [B, S] or NULL */
    ag_tensor *bias;     /* f32 [H, T, S] or NULL */
} attn_saved;

static attn_ctx attn_ctx_make(ag_tensor *q, ag_tensor *k, ag_tensor *v, bool causal, ag_tensor *key_pad,
                              ag_tensor *bias, float scale) {
    attn_ctx c;
    memset(&c, 0, sizeof c);
    c.B = q->shape[0];
    c.H = q->shape[1];
    c.T = q->shape[2];
    c.Dh = q->shape[3];
    c.Hkv = k->shape[1];
    c.S = k->shape[2];
    c.G = c.H / c.Hkv;
    c.causal = causal;
    c.scale = scale;
    c.q = ag_f32(q);
    c.k = ag_f32(k);
    c.v = ag_f32(v);
    c.key_pad = key_pad ? ag_i32(key_pad) : NULL;
    c.bias = bias ? ag_f32(bias) : NULL;
    return c;
}

static void attention_backward(ag_graph *g, ag_node *n) {
    ag_tensor *q = n->in[0], *k = n->in[1], *v = n->in[2];
    const attn_saved *sv = n->saved;
    attn_ctx c = attn_ctx_make(q, k, v, n->ip[0] != 0, sv->key_pad, sv->bias, n->fp[0]);
    c.p = sv->p;
    c.dout = n->out->grad;
    c.dq = ag_requires_grad(q) ? ag_grad(g, q) : NULL;
    c.dk = ag_requires_grad(k) ? ag_grad(g, k) : NULL;
    c.dv = ag_requires_grad(v) ? ag_grad(g, v) : NULL;
    int64_t units = c.B * c.Hkv;
    int mode = attn_mode(units);
    int nth = mode == ATTN_HEADS ? omp_get_max_threads() : 1;
    c.scratch = ag_arena_alloc(ag_graph_arena(g), (size_t)(nth * c.T * c.S + 1) * sizeof(float));
    attn_run(units, attn_backward_unit, &c, mode, nth);
}

ag_tensor *ag_attention(ag_graph *g, ag_tensor *q, ag_tensor *k, ag_tensor *v, bool causal, ag_tensor *key_pad,
                        ag_tensor *bias, float scale) {
    ag_check_f32("attention", q);
    ag_check_f32("attention", k);
    ag_check_f32("attention", v);
    char sq[96], sk[96], sv[96];
    AG_CHECK(q->ndim == 4 && k->ndim == 4 && ag_same_shape(k, v) && k->shape[0] == q->shape[0] &&
                 k->shape[3] == q->shape[3] && k->shape[1] > 0 && q->shape[1] % k->shape[1] == 0,
             "attention", "expected q [B, H, T, Dh], k = v [B, Hkv, S, Dh] with H a multiple of Hkv; got %s, %s, %s",
             ag_shape_str(q, sq, sizeof sq), ag_shape_str(k, sk, sizeof sk), ag_shape_str(v, sv, sizeof sv));
    int64_t B = q->shape[0], H = q->shape[1], T = q->shape[2], S = k->shape[2];
    if (key_pad)
        AG_CHECK(key_pad->dtype == AG_I32 && key_pad->ndim == 2 && key_pad->shape[0] == B && key_pad->shape[1] == S,
                 "attention", "key_pad must be i32 [%lld, %lld], got %s", (long long)B, (long long)S,
                 ag_shape_str(key_pad, sk, sizeof sk));
    if (bias)
        AG_CHECK(bias->dtype == AG_F32 && bias->ndim == 3 && bias->shape[0] == H && bias->shape[1] == T &&
                     bias->shape[2] == S,
                 "attention", "bias must be f32 [%lld, %lld, %lld], got %s", (long long)H, (long long)T,
                 (long long)S, ag_shape_str(bias, sk, sizeof sk));
    attn_ctx c = attn_ctx_make(q, k, v, causal, key_pad, bias, scale);
    ag_tensor *out = ag_new(g, AG_F32, 4, q->shape);
    c.o = ag_f32(out);
    c.p = ag_arena_alloc(ag_graph_arena(g), (size_t)(B * H * T * S + 1) * sizeof(float)); /* [B, H, T, S] */
    int64_t units = B * H;
    int mode = attn_mode(units);
    attn_run(units, attn_forward_unit, &c, mode, omp_get_max_threads());
    /* The bias is a constant (ALiBi slopes) and the pad mask is integer: neither gets a grad; the
     * backward pass finds them in the saved record. */
    ag_node *n = ag_record(g, AG_OP_ATTENTION, attention_backward, out, 3, (ag_tensor *[]){q, k, v});
    if (n) {
        attn_saved *rec = ag_arena_alloc(ag_graph_arena(g), sizeof *rec);
        rec->p = c.p;
        rec->key_pad = key_pad;
        rec->bias = bias;
        n->saved = rec;
        n->ip[0] = causal;
        n->fp[0] = scale;
    }
    return out;
}
