/* ops_linear.c — fused affine map y = act(x Wᵀ + b) + r on OpenBLAS: one GEMM with the bias (and
 * the residual) as its C input, the activation as an epilogue; no intermediate tensors on the tape. */
#include "ag_internal.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------
 * Vectorisable exp and erf (libm's scalar erff/expf would not vectorise; these inline into plain
 * loops that gcc turns into AVX-512). exp: Cody–Waite reduction x = n ln2 + r, |r| ≤ ln2/2,
 * degree-6 Taylor for e^r (relative error < 2e-7), 2^n through the exponent bits. erf:
 * Abramowitz & Stegun 7.1.26 (absolute error < 1.5e-7), enough for f32 GELU.
 * ------------------------------------------------------------------------------------------ */
static inline __attribute__((always_inline)) float vexpf(float x) {
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    float n = rintf(x * 1.44269504088896341f);
    float r = x - n * 0.693145751953125f - n * 1.428606765330187045e-06f;
    float p = 1.0f + r * (1.0f + r * (0.5f + r * (0.166666672f + r * (0.0416666679f + r * (0.00833333377f + r * 0.00138888892f)))));
    int32_t bits = ((int32_t)n + 127) << 23;
    float s;
    memcpy(&s, &bits, sizeof s);
    return p * s;
}

static inline __attribute__((always_inline)) float verff(float x) {
    float a = fabsf(x);
    float t = 1.0f / (1.0f + 0.3275911f * a);
    float poly = t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
    float y = 1.0f - poly * vexpf(-a * a);
    return copysignf(y, x);
}

#define INV_SQRT2 0.70710678118654752f
#define INV_SQRT_2PI 0.39894228040143268f
#define CHUNK 4096

/* y[0..n) = gelu(z) (+ r when r != NULL); one chunk, vectorised. */
static void gelu_fwd_chunk(float *restrict y, const float *restrict z, const float *restrict r, int64_t n) {
    if (r)
        for (int64_t i = 0; i < n; i++) y[i] = 0.5f * z[i] * (1.0f + verff(z[i] * INV_SQRT2)) + r[i];
    else
        for (int64_t i = 0; i < n; i++) y[i] = 0.5f * z[i] * (1.0f + verff(z[i] * INV_SQRT2));
}

/* dz = dy · gelu'(z), gelu'(z) = Φ(z) + z φ(z); one chunk. */
static void gelu_bwd_chunk(float *restrict dz, const float *restrict dy, const float *restrict z, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float v = z[i];
        float cdf = 0.5f * (1.0f + verff(v * INV_SQRT2));
        dz[i] = dy[i] * (cdf + v * INV_SQRT_2PI * vexpf(-0.5f * v * v));
    }
}

static void gelu_fwd(float *y, const float *z, const float *r, int64_t n) {
    int64_t nch = (n + CHUNK - 1) / CHUNK;
#pragma omp parallel for schedule(static) if (n > AG_PAR_THRESHOLD)
    for (int64_t c = 0; c < nch; c++) {
        int64_t lo = c * CHUNK, m = n - lo < CHUNK ? n - lo : CHUNK;
        gelu_fwd_chunk(y + lo, z + lo, r ? r + lo : NULL, m);
    }
}

static void gelu_bwd(float *dz, const float *dy, const float *z, int64_t n) {
    int64_t nch = (n + CHUNK - 1) / CHUNK;
#pragma omp parallel for schedule(static) if (n > AG_PAR_THRESHOLD)
    for (int64_t c = 0; c < nch; c++) {
        int64_t lo = c * CHUNK, m = n - lo < CHUNK ? n - lo : CHUNK;
        gelu_bwd_chunk(dz + lo, dy + lo, z + lo, m);
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
            for (int64_t j = 0; j < w; j++) acc[j] += row[j];
        }
        for (int64_t j = 0; j < w; j++) db[j0 + j] += acc[j];
    }
}

/* Head layouts of attention: rows [B·T, H·Dh] (a linear's natural output) vs heads [B, H, T, Dh]
 * (what ag_attention reads and writes). dst = src in the other layout; accumulate adds instead. */
static void rows_to_heads(float *dst, const float *src, int64_t B, int64_t T, int64_t H, int64_t Dh, bool accumulate) {
#pragma omp parallel for schedule(static) if (B * T * H * Dh > AG_PAR_THRESHOLD)
    for (int64_t bt = 0; bt < B * T; bt++) {
        int64_t b = bt / T, t = bt % T;
        for (int64_t h = 0; h < H; h++) {
            const float *s = src + bt * H * Dh + h * Dh; /* [Dh] */
            float *d = dst + ((b * H + h) * T + t) * Dh;   /* [Dh] */
            if (accumulate)
                for (int64_t j = 0; j < Dh; j++) d[j] += s[j];
            else
                memcpy(d, s, (size_t)Dh * sizeof(float));
        }
    }
}

static void heads_to_rows(float *dst, const float *src, int64_t B, int64_t T, int64_t H, int64_t Dh) {
#pragma omp parallel for schedule(static) if (B * T * H * Dh > AG_PAR_THRESHOLD)
    for (int64_t bt = 0; bt < B * T; bt++) {
        int64_t b = bt / T, t = bt % T;
        for (int64_t h = 0; h < H; h++)
            memcpy(dst + bt * H * Dh + h * Dh, src + ((b * H + h) * T + t) * Dh, (size_t)Dh * sizeof(float));
    }
}

/* What backward needs besides the inputs. */
typedef struct linear_saved {
    float *z;     /* [N, out] pre-activation (act != NONE), else NULL */
    float *xrows; /* [N, in] x in row layout (in_heads), else NULL */
    int64_t B, T; /* head-layout geometry (in_heads or out_heads) */
} linear_saved;

/* Inputs: x, w, then b and r when present (ip[1], ip[2] say which); ip[0] act, ip[3] out heads,
 * ip[4] in heads (0 = plain rows).
 *   dy → rows;  dr += dy;  dz = act'(z) ⊙ dy;  dx += dz W (→ heads);  dW += dzᵀ x_rows;  db += Σ_rows dz. */
static void linear_backward(ag_graph *g, ag_node *n) {
    ag_tensor *x = n->in[0], *w = n->in[1];
    int k = 2;
    ag_tensor *b = n->ip[1] ? n->in[k++] : NULL;
    ag_tensor *r = n->ip[2] ? n->in[k++] : NULL;
    int act = (int)n->ip[0];
    int64_t out_heads = n->ip[3], in_heads = n->ip[4];
    const linear_saved *sv = n->saved;
    int64_t out = w->shape[0], in = w->shape[1], N = n->out->numel / (out ? out : 1);
    if (N == 0 || out == 0) return;
    int64_t total = N * out;
    ag_arena *arena = ag_graph_arena(g);
    const float *dy = n->out->grad; /* [N, out] rows, or [B, H, T, Dh] when out_heads */
    if (out_heads) {
        float *t = ag_arena_alloc(arena, (size_t)total * sizeof(float));
        heads_to_rows(t, dy, sv->B, sv->T, out_heads, out / out_heads);
        dy = t;
    }
    if (r && ag_requires_grad(r)) {
        float *dr = ag_grad(g, r);
#pragma omp parallel for schedule(static) if (total > AG_PAR_THRESHOLD)
        for (int64_t i = 0; i < total; i++) dr[i] += dy[i];
    }
    const float *dz = dy; /* [N, out] */
    if (act == AG_ACT_GELU_ERF) {
        float *t = ag_arena_alloc(arena, (size_t)total * sizeof(float));
        gelu_bwd(t, dy, sv->z, total);
        dz = t;
    }
    if (ag_requires_grad(x) && in > 0) {
        if (in_heads) { /* dx rows into scratch, then added into the head layout */
            float *t = ag_arena_alloc(arena, (size_t)(N * in) * sizeof(float));
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)N, (blasint)in, (blasint)out, 1.0f, dz,
                        (blasint)out, ag_f32(w), (blasint)in, 0.0f, t, (blasint)in);
            rows_to_heads(ag_grad(g, x), t, sv->B, sv->T, in_heads, in / in_heads, true);
        } else {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)N, (blasint)in, (blasint)out, 1.0f, dz,
                        (blasint)out, ag_f32(w), (blasint)in, 1.0f, ag_grad(g, x), (blasint)in);
        }
    }
    if (ag_requires_grad(w) && in > 0)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (blasint)out, (blasint)in, (blasint)N, 1.0f, dz,
                    (blasint)out, in_heads ? sv->xrows : ag_f32(x), (blasint)in, 1.0f, ag_grad(g, w), (blasint)in);
    if (b && ag_requires_grad(b)) column_sums_add(ag_grad(g, b), dz, N, out);
}

/* The one implementation behind ag_linear, ag_linear_ex, ag_linear_to_heads, ag_linear_from_heads.
 * out_heads > 0: x [B, T, in] → y [B, H, T, out/H]; in_heads > 0: x [B, H, T, in/H] → y [B, T, out]. */
static ag_tensor *linear_core(ag_graph *g, ag_tensor *x, ag_tensor *w, ag_tensor *b, ag_tensor *r, int act,
                              int64_t out_heads, int64_t in_heads) {
    ag_check_f32("linear", x);
    ag_check_f32("linear", w);
    char sx[96], sw[96];
    AG_CHECK(w->ndim == 2, "linear", "w must be [out, in], got %s", ag_shape_str(w, sw, sizeof sw));
    AG_CHECK(act == AG_ACT_NONE || act == AG_ACT_GELU_ERF, "linear", "unknown activation %d", act);
    int64_t out = w->shape[0], in = w->shape[1], B = 0, T = 0;
    int64_t shape[AG_MAX_DIMS];
    int ndim;
    if (in_heads) {
        AG_CHECK(x->ndim == 4 && x->shape[1] * x->shape[3] == in && x->shape[1] == in_heads, "linear",
                 "x %s must be [B, %lld, T, %lld] for w %s", ag_shape_str(x, sx, sizeof sx), (long long)in_heads,
                 (long long)(in / in_heads), ag_shape_str(w, sw, sizeof sw));
        B = x->shape[0];
        T = x->shape[2];
        ndim = 3;
        shape[0] = B;
        shape[1] = T;
        shape[2] = out;
    } else {
        AG_CHECK(x->ndim >= 1 && x->shape[x->ndim - 1] == in, "linear", "x %s does not end in w %s's input size",
                 ag_shape_str(x, sx, sizeof sx), ag_shape_str(w, sw, sizeof sw));
        ndim = x->ndim;
        for (int i = 0; i < ndim; i++) shape[i] = x->shape[i];
        shape[ndim - 1] = out;
        if (out_heads) {
            AG_CHECK(x->ndim == 3 && out % out_heads == 0 && act == AG_ACT_NONE && !r, "linear",
                     "to_heads needs x [B, T, in], %lld outputs divisible by %lld heads, no activation or residual",
                     (long long)out, (long long)out_heads);
            B = x->shape[0];
            T = x->shape[1];
            ndim = 4;
            shape[0] = B;
            shape[1] = out_heads;
            shape[2] = T;
            shape[3] = out / out_heads;
        }
    }
    int64_t N = ag_shape_numel(ndim, shape) / (out ? out : 1);
    if (out == 0) N = in_heads ? B * T : (in ? x->numel / in : 0);
    if (b) {
        ag_check_f32("linear", b);
        AG_CHECK(b->numel == out, "linear", "bias has %lld values for %lld outputs", (long long)b->numel, (long long)out);
    }
    ag_tensor *y = ag_new(g, AG_F32, ndim, shape);
    if (r) {
        ag_check_f32("linear", r);
        AG_CHECK(ag_same_shape(r, y), "linear", "residual %s must have the output's shape", ag_shape_str(r, sx, sizeof sx));
    }
    ag_arena *arena = ag_graph_arena(g);
    int64_t total = N * out;
    float *yv = ag_f32(y);
    /* z: the GEMM's output in rows [N, out]: y itself unless an activation or the head layout follows. */
    float *z = (act != AG_ACT_NONE || out_heads) ? ag_arena_alloc(arena, (size_t)(total ? total : 1) * sizeof(float)) : yv;
    /* xr: x in rows [N, in] (gathered from the head layout when in_heads). */
    const float *xr = ag_f32(x);
    float *xrows = NULL;
    if (in_heads && N * in > 0) {
        xrows = ag_arena_alloc(arena, (size_t)(N * in) * sizeof(float));
        heads_to_rows(xrows, ag_f32(x), B, T, in_heads, in / in_heads);
        xr = xrows;
    }
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
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)N, (blasint)out, (blasint)in, 1.0f, xr,
                        (blasint)in, ag_f32(w), (blasint)in, init ? 1.0f : 0.0f, z, (blasint)out);
        else if (!init)
            memset(z, 0, (size_t)total * sizeof(float));
        if (act == AG_ACT_GELU_ERF) gelu_fwd(yv, z, r ? ag_f32(r) : NULL, total);
        if (out_heads) rows_to_heads(yv, z, B, T, out_heads, out / out_heads, false);
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
        n->ip[3] = out_heads;
        n->ip[4] = in_heads;
        linear_saved *sv = ag_arena_alloc(arena, sizeof *sv);
        sv->z = act != AG_ACT_NONE ? z : NULL;
        sv->xrows = xrows;
        sv->B = B;
        sv->T = T;
        n->saved = sv;
    }
    return y;
}

ag_tensor *ag_linear_ex(ag_graph *g, ag_tensor *x, ag_tensor *w, ag_tensor *b, ag_tensor *r, int act) {
    return linear_core(g, x, w, b, r, act, 0, 0);
}

ag_tensor *ag_linear(ag_graph *g, ag_tensor *x, ag_tensor *w, ag_tensor *b) {
    return linear_core(g, x, w, b, NULL, AG_ACT_NONE, 0, 0);
}

ag_tensor *ag_linear_to_heads(ag_graph *g, ag_tensor *x, ag_tensor *w, ag_tensor *b, int64_t heads) {
    AG_CHECK(heads > 0, "linear", "heads %lld must be positive", (long long)heads);
    return linear_core(g, x, w, b, NULL, AG_ACT_NONE, heads, 0);
}

ag_tensor *ag_linear_from_heads(ag_graph *g, ag_tensor *x, ag_tensor *w, ag_tensor *b, ag_tensor *r) {
    AG_CHECK(x->ndim == 4, "linear", "x must be [B, H, T, Dh], got %d dims", x->ndim);
    return linear_core(g, x, w, b, r, AG_ACT_NONE, 0, x->shape[1]);
}
