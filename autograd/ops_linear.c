/* ops_linear.c — fused affine map y = act(x Wᵀ + b) + r on OpenBLAS: one GEMM with the bias (and
 * the residual) as its C input, the activation as an epilogue; no intermediate tensors on the tape. */
#include "ag_internal.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------
 * Vectorisable exp and erf (the loops below carry `omp simd`; libm's scalar erff/expf would not
 * vectorise). exp: Cody–Waite reduction x = n ln2 + r, |r| ≤ ln2/2, degree-6 Taylor for e^r
 * (relative error < 2e-7), 2^n through the exponent bits. erf: Abramowitz & Stegun 7.1.26
 * (absolute error < 1.5e-7), enough for f32 GELU.
 * ------------------------------------------------------------------------------------------ */
#pragma omp declare simd
static inline float vexpf(float x) {
    x = fminf(fmaxf(x, -87.0f), 88.0f);
    float n = rintf(x * 1.44269504088896341f);
    float r = x - n * 0.693145751953125f - n * 1.428606765330187045e-06f;
    float p = 1.0f + r * (1.0f + r * (0.5f + r * (0.166666672f + r * (0.0416666679f + r * (0.00833333377f + r * 0.00138888892f)))));
    union {
        int32_t i;
        float f;
    } s = {.i = ((int32_t)n + 127) << 23};
    return p * s.f;
}

#pragma omp declare simd
static inline float verff(float x) {
    float a = fabsf(x);
    float t = 1.0f / (1.0f + 0.3275911f * a);
    float poly = t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
    float y = 1.0f - poly * vexpf(-a * a);
    return copysignf(y, x);
}

#define INV_SQRT2 0.70710678118654752f
#define INV_SQRT_2PI 0.39894228040143268f

/* y = gelu(z) (+ r) over n values; r may be NULL. */
static void gelu_fwd(float *y, const float *z, const float *r, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > AG_PAR_THRESHOLD)
    for (int64_t i = 0; i < n; i++) {
        float v = z[i];
        y[i] = 0.5f * v * (1.0f + verff(v * INV_SQRT2)) + (r ? r[i] : 0.0f);
    }
}

/* dz = dy · gelu'(z), gelu'(z) = Φ(z) + z φ(z). */
static void gelu_bwd(float *dz, const float *dy, const float *z, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > AG_PAR_THRESHOLD)
    for (int64_t i = 0; i < n; i++) {
        float v = z[i];
        float cdf = 0.5f * (1.0f + verff(v * INV_SQRT2));
        dz[i] = dy[i] * (cdf + v * INV_SQRT_2PI * vexpf(-0.5f * v * v));
    }
}

/* Column sums of dz [N, M] added into db [M]: blocks of 64 columns per thread, rows streamed, the
 * 64 partial sums kept local (vectorisable: no aliasing between dz and acc). */
static void column_sums_add(float *db, const float *dz, int64_t N, int64_t M) {
    int64_t nblk = (M + 63) / 64;
#pragma omp parallel for schedule(static) if (N * M > AG_PAR_THRESHOLD)
    for (int64_t blk = 0; blk < nblk; blk++) {
        int64_t j0 = blk * 64, w = M - j0 < 64 ? M - j0 : 64;
        float acc[64] = {0};
        for (int64_t r = 0; r < N; r++) {
            const float *row = dz + r * M + j0;
#pragma omp simd
            for (int64_t j = 0; j < w; j++) acc[j] += row[j];
        }
        for (int64_t j = 0; j < w; j++) db[j0 + j] += acc[j];
    }
}

/* Inputs: x, w, then b and r when present (ip[1], ip[2] say which); saved: z when act != NONE.
 *   dr += dy;  dz = act'(z) ⊙ dy;  dx += dz W;  dW += dzᵀ x;  db += Σ_rows dz. */
static void linear_backward(ag_graph *g, ag_node *n) {
    ag_tensor *x = n->in[0], *w = n->in[1];
    int k = 2;
    ag_tensor *b = n->ip[1] ? n->in[k++] : NULL;
    ag_tensor *r = n->ip[2] ? n->in[k++] : NULL;
    int act = (int)n->ip[0];
    int64_t out = w->shape[0], in = w->shape[1], N = n->out->numel / (out ? out : 1);
    const float *dy = n->out->grad; /* [N, out] */
    if (N == 0 || out == 0) return;
    int64_t total = N * out;
    if (r && ag_requires_grad(r)) {
        float *dr = ag_grad(g, r);
#pragma omp parallel for simd schedule(static) if (total > AG_PAR_THRESHOLD)
        for (int64_t i = 0; i < total; i++) dr[i] += dy[i];
    }
    const float *dz = dy; /* [N, out] */
    if (act == AG_ACT_GELU_ERF) {
        float *t = ag_arena_alloc(ag_graph_arena(g), (size_t)total * sizeof(float));
        gelu_bwd(t, dy, (const float *)n->saved, total);
        dz = t;
    }
    if (ag_requires_grad(x) && in > 0)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)N, (blasint)in, (blasint)out, 1.0f, dz,
                    (blasint)out, ag_f32(w), (blasint)in, 1.0f, ag_grad(g, x), (blasint)in);
    if (ag_requires_grad(w) && in > 0)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (blasint)out, (blasint)in, (blasint)N, 1.0f, dz,
                    (blasint)out, ag_f32(x), (blasint)in, 1.0f, ag_grad(g, w), (blasint)in);
    if (b && ag_requires_grad(b)) column_sums_add(ag_grad(g, b), dz, N, out);
}

ag_tensor *ag_linear_ex(ag_graph *g, ag_tensor *x, ag_tensor *w, ag_tensor *b, ag_tensor *r, int act) {
    ag_check_f32("linear", x);
    ag_check_f32("linear", w);
    char sx[96], sw[96];
    AG_CHECK(w->ndim == 2 && x->ndim >= 1 && x->shape[x->ndim - 1] == w->shape[1], "linear",
             "x %s does not end in w %s's input size", ag_shape_str(x, sx, sizeof sx), ag_shape_str(w, sw, sizeof sw));
    AG_CHECK(act == AG_ACT_NONE || act == AG_ACT_GELU_ERF, "linear", "unknown activation %d", act);
    int64_t out = w->shape[0], in = w->shape[1], N = in ? x->numel / in : 0;
    if (b) {
        ag_check_f32("linear", b);
        AG_CHECK(b->numel == out, "linear", "bias has %lld values for %lld outputs", (long long)b->numel, (long long)out);
    }
    int64_t shape[AG_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) shape[i] = x->shape[i];
    shape[x->ndim - 1] = out;
    ag_tensor *y = ag_new(g, AG_F32, x->ndim, shape); /* [N, out] */
    if (r) {
        ag_check_f32("linear", r);
        AG_CHECK(ag_same_shape(r, y), "linear", "residual %s must have the output's shape", ag_shape_str(r, sx, sizeof sx));
    }
    int64_t total = N * out;
    float *yv = ag_f32(y);
    /* z: the pre-activation (kept for backward when act != NONE), else y itself. */
    float *z = act != AG_ACT_NONE ? ag_arena_alloc(ag_graph_arena(g), (size_t)(total ? total : 1) * sizeof(float)) : yv;
    if (total > 0) {
        const float *bv = b ? ag_f32(b) : NULL, *rv = r && act == AG_ACT_NONE ? ag_f32(r) : NULL;
        bool init = bv || rv;
        if (init) {
            /* C input of the GEMM: b broadcast over rows, plus the residual when no activation. */
#pragma omp parallel for schedule(static) if (total > AG_PAR_THRESHOLD)
            for (int64_t row = 0; row < N; row++) {
                float *zr = z + row * out;
                const float *rr = rv ? rv + row * out : NULL;
                for (int64_t j = 0; j < out; j++) zr[j] = (bv ? bv[j] : 0.0f) + (rr ? rr[j] : 0.0f);
            }
        }
        if (in > 0)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)N, (blasint)out, (blasint)in, 1.0f, ag_f32(x),
                        (blasint)in, ag_f32(w), (blasint)in, init ? 1.0f : 0.0f, z, (blasint)out);
        else if (!init)
            memset(z, 0, (size_t)total * sizeof(float));
        if (act == AG_ACT_GELU_ERF) gelu_fwd(yv, z, r ? ag_f32(r) : NULL, total);
    }
    ag_tensor *ins[4] = {x, w, NULL, NULL};
    int nin = 2;
    if (b) ins[nin++] = b;
    if (r) ins[nin++] = r;
    ag_node *n = ag_record(g, AG_OP_LINEAR, linear_backward, y, nin, ins);
    if (n) {
        n->ip[0] = act;
        n->ip[1] = b != NULL;
        n->ip[2] = r != NULL;
        n->saved = act != AG_ACT_NONE ? z : NULL;
    }
    return y;
}

ag_tensor *ag_linear(ag_graph *g, ag_tensor *x, ag_tensor *w, ag_tensor *b) {
    return ag_linear_ex(g, x, w, b, NULL, AG_ACT_NONE);
}
