/* ops_norm.c — layer norm, RMS norm, inverted dropout, L2 normalisation and cosine similarity. */
#include "ag_internal.h"

#include <math.h>
#include <omp.h>
#include <string.h>

/* Rows of a [..., D] tensor viewed as [R, D]. */
static int64_t last_dim(const ag_tensor *t) { return t->ndim ? t->shape[t->ndim - 1] : 1; }
static int64_t rows_of(const ag_tensor *t) {
    int64_t D = last_dim(t);
    return D ? t->numel / D : 0;
}

static void check_affine(const char *op, const ag_tensor *p, int64_t D, const char *what) {
    if (!p) return;
    ag_check_f32(op, p);
    AG_CHECK(p->numel == D, op, "%s has %lld elements, expected %lld (the last dim)", what, (long long)p->numel,
             (long long)D);
}

/* Threads used for a row loop over n elements (1 below the threshold) — sizes per-thread buffers. */
static int row_threads(int64_t n) { return n > AG_PAR_THRESHOLD ? omp_get_max_threads() : 1; }

/* Sums nth per-thread [D] partials into dst (+=). */
static void reduce_partials(float *dst, const float *part, int nth, int64_t D) {
    for (int t = 0; t < nth; t++)
        for (int64_t j = 0; j < D; j++) dst[j] += part[t * D + j];
}

/* ---------------------------------------------------------------------------------------------
 * layer_norm: n = (x − μ) · rstd, rstd = 1/√(var + eps) (biased var); y = n ∘ γ + β.
 * Backward (dn = dy ∘ γ): dx = rstd · (dn − mean(dn) − n · mean(dn ∘ n)); dγ += Σ dy ∘ n; dβ += Σ dy.
 * saved: f32 [2, R] = mean then rstd per row.
 * ------------------------------------------------------------------------------------------ */
static void layer_norm_backward(ag_graph *g, ag_node *n) {
    ag_tensor *x = n->in[0], *gamma = n->in[1], *beta = n->in[2];
    int64_t D = last_dim(x), R = rows_of(x);
    const float *xv = ag_f32(x);                         /* [R, D] */
    const float *dy = n->out->grad;                      /* [R, D] */
    const float *mean = n->saved, *rstd = mean + R;      /* [R], [R] */
    const float *gm = gamma ? ag_f32(gamma) : NULL;      /* [D] */
    float *dx = ag_requires_grad(x) ? ag_grad(g, x) : NULL; /* [R, D] */
    bool need_g = gamma && ag_requires_grad(gamma), need_b = beta && ag_requires_grad(beta);
    int nth = row_threads(x->numel);
    /* per-thread [D] partial sums of dγ and dβ, reduced after the loop */
    float *pg = need_g ? ag_arena_calloc(ag_graph_arena(g), (size_t)(nth * D) * sizeof(float)) : NULL;
    float *pb = need_b ? ag_arena_calloc(ag_graph_arena(g), (size_t)(nth * D) * sizeof(float)) : NULL;
#pragma omp parallel num_threads(nth) if (nth > 1)
    {
        int tid = omp_get_thread_num();
        float *mg = pg ? pg + tid * D : NULL, *mb = pb ? pb + tid * D : NULL;
#pragma omp for
        for (int64_t r = 0; r < R; r++) {
            const float *xr = xv + r * D, *dyr = dy + r * D;
            float mu = mean[r], rs = rstd[r];
            float sdn = 0, sdnn = 0;
            for (int64_t j = 0; j < D; j++) {
                float nj = (xr[j] - mu) * rs, dn = gm ? dyr[j] * gm[j] : dyr[j];
                sdn += dn;
                sdnn += dn * nj;
                if (mg) mg[j] += dyr[j] * nj;
                if (mb) mb[j] += dyr[j];
            }
            if (!dx) continue;
            sdn /= (float)D;
            sdnn /= (float)D;
            float *dxr = dx + r * D;
            for (int64_t j = 0; j < D; j++) {
                float nj = (xr[j] - mu) * rs, dn = gm ? dyr[j] * gm[j] : dyr[j];
                dxr[j] += rs * (dn - sdn - nj * sdnn);
            }
        }
    }
    if (need_g) reduce_partials(ag_grad(g, gamma), pg, nth, D);
    if (need_b) reduce_partials(ag_grad(g, beta), pb, nth, D);
}

ag_tensor *ag_layer_norm(ag_graph *g, ag_tensor *x, ag_tensor *gamma, ag_tensor *beta, float eps) {
    ag_check_f32("layer_norm", x);
    AG_CHECK(x->ndim >= 1, "layer_norm", "input must have at least one dimension");
    int64_t D = last_dim(x), R = rows_of(x);
    check_affine("layer_norm", gamma, D, "gamma");
    check_affine("layer_norm", beta, D, "beta");
    ag_tensor *out = ag_new(g, AG_F32, x->ndim, x->shape);
    float *mean = ag_arena_alloc(ag_graph_arena(g), (size_t)(2 * R + 1) * sizeof(float)); /* [R] */
    float *rstd = mean + R;                                                               /* [R] */
    const float *xv = ag_f32(x);                  /* [R, D] */
    const float *gm = gamma ? ag_f32(gamma) : NULL; /* [D] */
    const float *bt = beta ? ag_f32(beta) : NULL;   /* [D] */
    float *y = ag_f32(out);                         /* [R, D] */
#pragma omp parallel for if (x->numel > AG_PAR_THRESHOLD)
    for (int64_t r = 0; r < R; r++) {
        const float *xr = xv + r * D;
        float *yr = y + r * D;
        float s = 0;
        for (int64_t j = 0; j < D; j++) s += xr[j];
        float mu = s / (float)D, v = 0;
        for (int64_t j = 0; j < D; j++) v += (xr[j] - mu) * (xr[j] - mu);
        float rs = 1.0f / sqrtf(v / (float)D + eps);
        for (int64_t j = 0; j < D; j++) {
            float nj = (xr[j] - mu) * rs;
            yr[j] = (gm ? nj * gm[j] : nj) + (bt ? bt[j] : 0.0f);
        }
        mean[r] = mu;
        rstd[r] = rs;
    }
    ag_node *n = ag_record(g, AG_OP_LAYER_NORM, layer_norm_backward, out, 3, (ag_tensor *[]){x, gamma, beta});
    if (n) n->saved = mean;
    return out;
}

/* ---------------------------------------------------------------------------------------------
 * rms_norm: n = x · r, r = 1/√(mean(x²) + eps); y = n ∘ γ.
 * Backward (dn = dy ∘ γ): dx = r · (dn − n · mean(dn ∘ n)); dγ += Σ dy ∘ n.   saved: f32 [R] r.
 * ------------------------------------------------------------------------------------------ */
static void rms_norm_backward(ag_graph *g, ag_node *n) {
    ag_tensor *x = n->in[0], *gamma = n->in[1];
    int64_t D = last_dim(x), R = rows_of(x);
    const float *xv = ag_f32(x);                            /* [R, D] */
    const float *dy = n->out->grad;                         /* [R, D] */
    const float *rr = n->saved;                             /* [R] */
    const float *gm = gamma ? ag_f32(gamma) : NULL;         /* [D] */
    float *dx = ag_requires_grad(x) ? ag_grad(g, x) : NULL; /* [R, D] */
    bool need_g = gamma && ag_requires_grad(gamma);
    int nth = row_threads(x->numel);
    float *pg = need_g ? ag_arena_calloc(ag_graph_arena(g), (size_t)(nth * D) * sizeof(float)) : NULL;
#pragma omp parallel num_threads(nth) if (nth > 1)
    {
        float *mg = pg ? pg + omp_get_thread_num() * D : NULL; /* [D] this thread's dγ partial */
#pragma omp for
        for (int64_t r = 0; r < R; r++) {
            const float *xr = xv + r * D, *dyr = dy + r * D;
            float rs = rr[r], sdnn = 0;
            for (int64_t j = 0; j < D; j++) {
                float nj = xr[j] * rs, dn = gm ? dyr[j] * gm[j] : dyr[j];
                sdnn += dn * nj;
                if (mg) mg[j] += dyr[j] * nj;
            }
            if (!dx) continue;
            sdnn /= (float)D;
            float *dxr = dx + r * D;
            for (int64_t j = 0; j < D; j++) {
                float nj = xr[j] * rs, dn = gm ? dyr[j] * gm[j] : dyr[j];
                dxr[j] += rs * (dn - nj * sdnn);
            }
        }
    }
    if (need_g) reduce_partials(ag_grad(g, gamma), pg, nth, D);
}

ag_tensor *ag_rms_norm(ag_graph *g, ag_tensor *x, ag_tensor *gamma, float eps) {
    ag_check_f32("rms_norm", x);
    AG_CHECK(x->ndim >= 1, "rms_norm", "input must have at least one dimension");
    int64_t D = last_dim(x), R = rows_of(x);
    check_affine("rms_norm", gamma, D, "gamma");
    ag_tensor *out = ag_new(g, AG_F32, x->ndim, x->shape);
    float *rr = ag_arena_alloc(ag_graph_arena(g), (size_t)(R + 1) * sizeof(float)); /* [R] */
    const float *xv = ag_f32(x);                    /* [R, D] */
    const float *gm = gamma ? ag_f32(gamma) : NULL; /* [D] */
    float *y = ag_f32(out);                         /* [R, D] */
#pragma omp parallel for if (x->numel > AG_PAR_THRESHOLD)
    for (int64_t r = 0; r < R; r++) {
        const float *xr = xv + r * D;
        float *yr = y + r * D;
        float s = 0;
        for (int64_t j = 0; j < D; j++) s += xr[j] * xr[j];
        float rs = 1.0f / sqrtf(s / (float)D + eps);
        for (int64_t j = 0; j < D; j++) yr[j] = gm ? xr[j] * rs * gm[j] : xr[j] * rs;
        rr[r] = rs;
    }
    ag_node *n = ag_record(g, AG_OP_RMS_NORM, rms_norm_backward, out, 2, (ag_tensor *[]){x, gamma});
    if (n) n->saved = rr;
    return out;
}

/* ---------------------------------------------------------------------------------------------
 * dropout (inverted): keep each element with probability 1 − p and scale kept ones by 1/(1 − p).
 * Identity (returns x itself) when not training or p == 0. Backward: dx = dy ∘ mask / (1 − p).
 * saved: uint8 [numel] keep mask; fp[0] = 1/(1 − p).
 * ------------------------------------------------------------------------------------------ */
static void dropout_backward(ag_graph *g, ag_node *n) {
    ag_tensor *x = n->in[0];
    if (!ag_requires_grad(x)) return;
    const unsigned char *keep = n->saved; /* [numel] */
    const float *dy = n->out->grad;       /* [numel] */
    float *dx = ag_grad(g, x);            /* [numel] */
    float scale = n->fp[0];
#pragma omp parallel for if (x->numel > AG_PAR_THRESHOLD)
    for (int64_t i = 0; i < x->numel; i++) dx[i] += keep[i] ? dy[i] * scale : 0.0f;
}

/* Element pair k's two keep bits of a counter-based dropout mask: splitmix64's finaliser of
 * key + (k + 1)·φ (the splitmix64 sequence itself), two 24-bit uniforms, an element kept when
 * u >= thresh. Pure in (key, k): the mask is drawn in parallel, is the same for any thread count,
 * and a checkpoint needs only the graph RNG (one key per call) to reproduce it. */
static inline void dropout_pair(uint64_t key, int64_t k, uint32_t thresh, unsigned char *k0, unsigned char *k1) {
    uint64_t w = key + (uint64_t)(k + 1) * 0x9E3779B97F4A7C15ull;
    w = (w ^ (w >> 30)) * 0xBF58476D1CE4E5B9ull;
    w = (w ^ (w >> 27)) * 0x94D049BB133111EBull;
    w ^= w >> 31;
    *k0 = (uint32_t)(w >> 40) >= thresh;
    *k1 = (uint32_t)((w >> 16) & 0xFFFFFF) >= thresh;
}

/* out = r + mask ∘ x · scale (r NULL: no residual); fills keep [numel]. */
static void dropout_forward(const float *x, const float *r, float *y, unsigned char *keep, int64_t numel, uint64_t key,
                            uint32_t thresh, float scale) {
    int64_t npairs = (numel + 1) / 2;
#pragma omp parallel for if (numel > AG_PAR_THRESHOLD) schedule(static)
    for (int64_t k = 0; k < npairs; k++) {
        unsigned char k0, k1;
        dropout_pair(key, k, thresh, &k0, &k1);
        int64_t i = 2 * k;
        keep[i] = k0;
        y[i] = (r ? r[i] : 0.0f) + (k0 ? x[i] * scale : 0.0f);
        if (i + 1 < numel) {
            keep[i + 1] = k1;
            y[i + 1] = (r ? r[i + 1] : 0.0f) + (k1 ? x[i + 1] * scale : 0.0f);
        }
    }
}

ag_tensor *ag_dropout(ag_graph *g, ag_tensor *x, float p) {
    ag_check_f32("dropout", x);
    AG_CHECK(p >= 0.0f && p < 1.0f, "dropout", "p = %g outside [0, 1)", (double)p);
    if (!ag_is_training(g) || p == 0.0f) return x;
    ag_tensor *out = ag_new(g, AG_F32, x->ndim, x->shape);
    unsigned char *keep = ag_arena_alloc(ag_graph_arena(g), (size_t)x->numel + 1); /* [numel] */
    float scale = 1.0f / (1.0f - p);
    dropout_forward(ag_f32(x), NULL, ag_f32(out), keep, x->numel, base_rng_next(ag_graph_rng(g)),
                    (uint32_t)((double)p * 16777216.0), scale);
    ag_node *n = ag_record(g, AG_OP_DROPOUT, dropout_backward, out, 1, (ag_tensor *[]){x});
    if (n) {
        n->saved = keep;
        n->fp[0] = scale;
    }
    return out;
}

/* ---------------------------------------------------------------------------------------------
 * dropout_add (a residual branch): out = r + dropout(x, p), one pass instead of two ops, with the
 * mask ag_dropout would draw from the same RNG state. Backward: dr += dy; dx += dy ∘ keep / (1 − p).
 * saved: uint8 [numel] keep mask; fp[0] = 1/(1 − p).
 * ------------------------------------------------------------------------------------------ */
static void dropout_add_backward(ag_graph *g, ag_node *n) {
    ag_tensor *x = n->in[0], *r = n->in[1];
    const unsigned char *keep = n->saved; /* [numel] */
    const float *dy = n->out->grad;       /* [numel] */
    float scale = n->fp[0];
    int64_t numel = x->numel;
    if (ag_requires_grad(r)) {
        float *dr = ag_grad(g, r); /* [numel] */
#pragma omp parallel for if (numel > AG_PAR_THRESHOLD)
        for (int64_t i = 0; i < numel; i++) dr[i] += dy[i];
    }
    if (ag_requires_grad(x)) {
        float *dx = ag_grad(g, x); /* [numel] */
#pragma omp parallel for if (numel > AG_PAR_THRESHOLD)
        for (int64_t i = 0; i < numel; i++) dx[i] += keep[i] ? dy[i] * scale : 0.0f;
    }
}

ag_tensor *ag_dropout_add(ag_graph *g, ag_tensor *x, ag_tensor *r, float p) {
    ag_check_f32("dropout_add", x);
    ag_check_f32("dropout_add", r);
    AG_CHECK(p >= 0.0f && p < 1.0f, "dropout_add", "p = %g outside [0, 1)", (double)p);
    char sa[64], sb[64];
    AG_CHECK(ag_same_shape(x, r), "dropout_add", "x %s and residual %s must have the same shape",
             ag_shape_str(x, sa, sizeof sa), ag_shape_str(r, sb, sizeof sb));
    if (!ag_is_training(g) || p == 0.0f) return ag_add(g, r, x);
    ag_tensor *out = ag_new(g, AG_F32, x->ndim, x->shape);
    unsigned char *keep = ag_arena_alloc(ag_graph_arena(g), (size_t)x->numel + 1); /* [numel] */
    float scale = 1.0f / (1.0f - p);
    dropout_forward(ag_f32(x), ag_f32(r), ag_f32(out), keep, x->numel, base_rng_next(ag_graph_rng(g)),
                    (uint32_t)((double)p * 16777216.0), scale);
    ag_node *n = ag_record(g, AG_OP_DROPOUT_ADD, dropout_add_backward, out, 2, (ag_tensor *[]){x, r});
    if (n) {
        n->saved = keep;
        n->fp[0] = scale;
    }
    return out;
}

/* ---------------------------------------------------------------------------------------------
 * l2_normalize: y = x / m, m = max(‖x‖₂, eps) per row.
 * Backward: ‖x‖ > eps: dx = (dy − y (y·dy)) / ‖x‖; else dx = dy / eps.   saved: f32 [R] ‖x‖.
 * ------------------------------------------------------------------------------------------ */
static void l2_normalize_backward(ag_graph *g, ag_node *n) {
    ag_tensor *x = n->in[0];
    if (!ag_requires_grad(x)) return;
    int64_t D = last_dim(x), R = rows_of(x);
    float eps = n->fp[0];
    const float *nrm = n->saved;        /* [R] */
    const float *y = ag_f32(n->out);    /* [R, D] */
    const float *dy = n->out->grad;     /* [R, D] */
    float *dx = ag_grad(g, x);          /* [R, D] */
#pragma omp parallel for if (x->numel > AG_PAR_THRESHOLD)
    for (int64_t r = 0; r < R; r++) {
        const float *yr = y + r * D, *dyr = dy + r * D;
        float *dxr = dx + r * D;
        if (nrm[r] > eps) {
            float dot = 0, inv = 1.0f / nrm[r];
            for (int64_t j = 0; j < D; j++) dot += yr[j] * dyr[j];
            for (int64_t j = 0; j < D; j++) dxr[j] += (dyr[j] - yr[j] * dot) * inv;
        } else {
            for (int64_t j = 0; j < D; j++) dxr[j] += dyr[j] / eps;
        }
    }
}

ag_tensor *ag_l2_normalize(ag_graph *g, ag_tensor *x, float eps) {
    ag_check_f32("l2_normalize", x);
    AG_CHECK(x->ndim >= 1, "l2_normalize", "input must have at least one dimension");
    int64_t D = last_dim(x), R = rows_of(x);
    ag_tensor *out = ag_new(g, AG_F32, x->ndim, x->shape);
    float *nrm = ag_arena_alloc(ag_graph_arena(g), (size_t)(R + 1) * sizeof(float)); /* [R] */
    const float *xv = ag_f32(x); /* [R, D] */
    float *y = ag_f32(out);      /* [R, D] */
#pragma omp parallel for if (x->numel > AG_PAR_THRESHOLD)
    for (int64_t r = 0; r < R; r++) {
        const float *xr = xv + r * D;
        float s = 0;
        for (int64_t j = 0; j < D; j++) s += xr[j] * xr[j];
        nrm[r] = sqrtf(s);
        float inv = 1.0f / (nrm[r] > eps ? nrm[r] : eps);
        for (int64_t j = 0; j < D; j++) y[r * D + j] = xr[j] * inv;
    }
    ag_node *n = ag_record(g, AG_OP_L2_NORMALIZE, l2_normalize_backward, out, 1, (ag_tensor *[]){x});
    if (n) {
        n->saved = nrm;
        n->fp[0] = eps;
    }
    return out;
}

/* ---------------------------------------------------------------------------------------------
 * cosine_similarity: c = a·b / (A B), A = max(‖a‖, eps), B = max(‖b‖, eps) (each norm clamped,
 * as torch ≥ 1.12 does). Backward: da = dc (b/(A B) − [‖a‖ > eps] c a/‖a‖²), db symmetric.
 * saved: f32 [2, R] = ‖a‖ then ‖b‖.
 * ------------------------------------------------------------------------------------------ */
static void cosine_similarity_backward(ag_graph *g, ag_node *n) {
    ag_tensor *a = n->in[0], *b = n->in[1];
    int64_t D = last_dim(a), R = rows_of(a);
    float eps = n->fp[0];
    const float *na = n->saved, *nb = na + R; /* [R], [R] */
    const float *av = ag_f32(a), *bv = ag_f32(b); /* [R, D] */
    const float *c = ag_f32(n->out);          /* [R] */
    const float *dc = n->out->grad;           /* [R] */
    float *da = ag_requires_grad(a) ? ag_grad(g, a) : NULL; /* [R, D] */
    float *db = ag_requires_grad(b) ? ag_grad(g, b) : NULL; /* [R, D] (may alias da if a == b) */
    bool par = a->numel > AG_PAR_THRESHOLD && a != b;
#pragma omp parallel for if (par)
    for (int64_t r = 0; r < R; r++) {
        const float *ar = av + r * D, *br = bv + r * D;
        float A = na[r] > eps ? na[r] : eps, B = nb[r] > eps ? nb[r] : eps;
        float inv = dc[r] / (A * B);
        float ka = na[r] > eps ? dc[r] * c[r] / (na[r] * na[r]) : 0.0f;
        float kb = nb[r] > eps ? dc[r] * c[r] / (nb[r] * nb[r]) : 0.0f;
        if (da)
            for (int64_t j = 0; j < D; j++) da[r * D + j] += br[j] * inv - ka * ar[j];
        if (db)
            for (int64_t j = 0; j < D; j++) db[r * D + j] += ar[j] * inv - kb * br[j];
    }
}

ag_tensor *ag_cosine_similarity(ag_graph *g, ag_tensor *a, ag_tensor *b, float eps) {
    ag_check_f32("cosine_similarity", a);
    ag_check_f32("cosine_similarity", b);
    ag_check_same_shape("cosine_similarity", a, b);
    AG_CHECK(a->ndim >= 1, "cosine_similarity", "inputs must have at least one dimension");
    int64_t D = last_dim(a), R = rows_of(a);
    ag_tensor *out = ag_new(g, AG_F32, a->ndim - 1, a->shape);
    float *na = ag_arena_alloc(ag_graph_arena(g), (size_t)(2 * R + 1) * sizeof(float)); /* [R] */
    float *nb = na + R;                                                                 /* [R] */
    const float *av = ag_f32(a), *bv = ag_f32(b); /* [R, D] */
    float *c = ag_f32(out);                       /* [R] */
#pragma omp parallel for if (a->numel > AG_PAR_THRESHOLD)
    for (int64_t r = 0; r < R; r++) {
        const float *ar = av + r * D, *br = bv + r * D;
        float dot = 0, sa = 0, sb = 0;
        for (int64_t j = 0; j < D; j++) {
            dot += ar[j] * br[j];
            sa += ar[j] * ar[j];
            sb += br[j] * br[j];
        }
        na[r] = sqrtf(sa);
        nb[r] = sqrtf(sb);
        c[r] = dot / ((na[r] > eps ? na[r] : eps) * (nb[r] > eps ? nb[r] : eps));
    }
    ag_node *n = ag_record(g, AG_OP_COSINE_SIM, cosine_similarity_backward, out, 2, (ag_tensor *[]){a, b});
    if (n) {
        n->saved = na;
        n->fp[0] = eps;
    }
    return out;
}
