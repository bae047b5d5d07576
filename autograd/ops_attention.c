/* ops_attention.c — fused scaled-dot-product attention (GQA, causal, key padding, additive bias). */
#include "ag_internal.h"
#include "fast_exp.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* Work is split into units of one (batch, kv head): the G = H / Hkv query heads that share a kv
 * head are contiguous in q, so a unit's products are single sgemms with G·T rows (dK and dV then
 * sum over the G heads inside the sgemm, and no two units write the same grad rows).
 *
 * How the units are spread over the cores (measured in bench/attention.c, see bench/RESULTS.md
 * "## Fused attention"):
 *   HEADS  OpenMP over units; each runs its sgemms single-threaded (OpenBLAS is set to one
 *          thread around the loop and restored after) and its own softmax rows.
 *   BLAS   phases: every unit's sgemm in turn, each threaded by OpenBLAS; the row-wise softmax
 *          (or dS) of all units in one OpenMP loop between the sgemm phases.
 * HEADS is the default: the two tie on a quiet machine, and BLAS falls apart under load
 * (OpenBLAS's workers yield-spin). EMBER_ATTN_THREADS=heads|blas overrides the choice (the
 * benchmark uses it to compare); EMBER_ATTN_THREADS=heads-raw is HEADS without touching
 * OpenBLAS's thread count — the pthread OpenBLAS sgemm called from inside the OpenMP loop — kept
 * only to measure it: correct, but 6–13× slower (two thread pools oversubscribe the cores).
 * openblas_set_num_threads is process-wide: a program that runs ag_attention from several of its
 * own threads at once should set OpenBLAS to one thread itself (DESIGN.md §2). */
enum { ATTN_HEADS = 0, ATTN_BLAS = 1, ATTN_HEADS_RAW = 2 };

/* Below this many multiply-adds (B·H·T·S·Dh) one call is a few tens of µs: threads would cost
 * more than they give (and on a loaded machine a parallel region can wait a whole time slice), so
 * small problems run serially: BLAS mode, whose sgemms OpenBLAS keeps single-threaded at these
 * sizes and whose softmax loop has its own threshold. */
#define ATTN_SERIAL_WORK (1 << 20)

static int attn_mode(int64_t units, int64_t work) {
    const char *e = getenv("EMBER_ATTN_THREADS");
    if (e && !strcmp(e, "blas")) return ATTN_BLAS;
    if (e && !strcmp(e, "heads")) return ATTN_HEADS;
    if (e && !strcmp(e, "heads-raw")) return ATTN_HEADS_RAW;
    if (work < ATTN_SERIAL_WORK) return ATTN_BLAS;
    /* Fewer units than threads cannot keep every core busy: thread inside the products instead. */
    return units >= omp_get_max_threads() ? ATTN_HEADS : ATTN_BLAS;
}

typedef struct {
    int64_t B, H, Hkv, T, S, Dh, G; /* G = H / Hkv heads per kv head */
    bool causal;
    float scale;
    const float *q, *k, *v;     /* [B, H, T, Dh], [B, Hkv, S, Dh], [B, Hkv, S, Dh] */
    const int32_t *key_pad;     /* [B, S] or NULL */
    const float *bias;          /* [H, T, S] or NULL */
    float *p;                   /* probabilities: [B, H, T, S] (saved for backward), or
                                   [nthreads, G·T, S] scratch when nothing will be recorded */
    bool p_per_thread;          /* p is indexed by thread (HEADS without a tape node) */
    float *o;                   /* [B, H, T, Dh] output */
    /* backward */
    const float *dout;          /* [B, H, T, Dh] */
    float *dq, *dk, *dv;        /* grads (NULL when not needed), shapes as q, k, v */
    float *ds;                  /* dP then dS: [B, H, T, S] (BLAS) or [nthreads, G·T, S] (HEADS) */
    bool ds_per_thread;         /* ds is indexed by thread (HEADS) rather than by unit (BLAS) */
} attn_ctx;

/* Number of keys row t may see under the causal rule s ≤ t + (S − T), clamped to [0, S]. */
static inline int64_t visible(const attn_ctx *c, int64_t t) {
    if (!c->causal) return c->S;
    int64_t n = t + (c->S - c->T) + 1;
    return n < 0 ? 0 : n > c->S ? c->S : n;
}

/* Unit u = b · Hkv + kvh covers query heads kvh·G … kvh·G + G − 1 of batch b, i.e. the G·T rows
 * starting at row u · G · T of every [B·H·T, ·] view. */
static inline int64_t unit_row0(const attn_ctx *c, int64_t u) { return u * c->G * c->T; }

/* ---- forward ---------------------------------------------------------------------------------- */

/* The unit's [G·T, S] block of P. */
static float *unit_p(const attn_ctx *c, int64_t u, int tid) {
    return c->p_per_thread ? c->p + (int64_t)tid * c->G * c->T * c->S : c->p + unit_row0(c, u) * c->S;
}

/* P rows of unit u = scale · q kᵀ (before bias, masks and softmax). */
static void fwd_scores(const attn_ctx *c, int64_t u, float *p) {
    int64_t GT = c->G * c->T, S = c->S, Dh = c->Dh, r0 = unit_row0(c, u);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)GT, (int)S, (int)Dh, c->scale, c->q + r0 * Dh, (int)Dh,
                c->k + u * S * Dh, (int)Dh, 0.0f, p, (int)S);
}

/* Softmax of global row `row` = (b, h, t), stored at pr [S], in place, with bias, causal and
 * padding masks. */
static void fwd_softmax_row(const attn_ctx *c, int64_t row, float *pr) {
    int64_t S = c->S, t = row % c->T, bh = row / c->T, h = bh % c->H, b = bh / c->H;
    int64_t n = visible(c, t);
    if (c->bias) {
        const float *br = c->bias + (h * c->T + t) * S; /* [S] */
        for (int64_t s = 0; s < n; s++) pr[s] += br[s];
    }
    if (c->key_pad) {
        const int32_t *pad = c->key_pad + b * S; /* [S] */
        for (int64_t s = 0; s < n; s++) pr[s] = pad[s] ? -INFINITY : pr[s];
    }
    float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
    for (int64_t s = 0; s < n; s++) mx = pr[s] > mx ? pr[s] : mx;
    if (mx == -INFINITY) n = 0; /* every key hidden: the row attends to nothing (zeros) */
    for (int64_t s = 0; s < n; s++) pr[s] = ag_fast_exp(pr[s] - mx);
    float sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int64_t s = 0; s < n; s++) sum += pr[s];
    float inv = n ? 1.0f / sum : 0.0f;
    for (int64_t s = 0; s < n; s++) pr[s] *= inv;
    for (int64_t s = n; s < S; s++) pr[s] = 0.0f;
}

/* O rows of unit u = P v. */
static void fwd_output(const attn_ctx *c, int64_t u, const float *p) {
    int64_t GT = c->G * c->T, S = c->S, Dh = c->Dh, r0 = unit_row0(c, u);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)GT, (int)Dh, (int)S, 1.0f, p, (int)S,
                c->v + u * S * Dh, (int)Dh, 0.0f, c->o + r0 * Dh, (int)Dh);
}

/* ---- backward: dP = dO vᵀ; dS = P ∘ (dP − rowsum(dP ∘ P)); dQ += scale dS k; dK += scale dSᵀ q;
 *      dV += Pᵀ dO ------------------------------------------------------------------------------ */

static float *unit_ds(const attn_ctx *c, int64_t u, int tid) {
    return c->ds_per_thread ? c->ds + (int64_t)tid * c->G * c->T * c->S : c->ds + unit_row0(c, u) * c->S;
}

/* dV += Pᵀ dO and (if dQ or dK is wanted) dP = dO vᵀ into the unit's ds rows. */
static void bwd_dv_dp(const attn_ctx *c, int64_t u, int tid) {
    int64_t GT = c->G * c->T, S = c->S, Dh = c->Dh, r0 = unit_row0(c, u);
    if (c->dv)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)S, (int)Dh, (int)GT, 1.0f, c->p + r0 * S, (int)S,
                    c->dout + r0 * Dh, (int)Dh, 1.0f, c->dv + u * S * Dh, (int)Dh);
    if (c->dq || c->dk)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)GT, (int)S, (int)Dh, 1.0f, c->dout + r0 * Dh,
                    (int)Dh, c->v + u * S * Dh, (int)Dh, 0.0f, unit_ds(c, u, tid), (int)S);
}

/* dS for one global row, in place over dP (dr). */
static void bwd_ds_row(const attn_ctx *c, int64_t row, float *dr) {
    int64_t S = c->S, n = visible(c, row % c->T);
    const float *pr = c->p + row * S; /* [S] */
    float dot = 0;
#pragma omp simd reduction(+ : dot)
    for (int64_t s = 0; s < n; s++) dot += dr[s] * pr[s];
    for (int64_t s = 0; s < n; s++) dr[s] = pr[s] * (dr[s] - dot);
    for (int64_t s = n; s < S; s++) dr[s] = 0.0f;
}

/* dQ += scale dS k; dK += scale dSᵀ q. */
static void bwd_dq_dk(const attn_ctx *c, int64_t u, int tid) {
    int64_t GT = c->G * c->T, S = c->S, Dh = c->Dh, r0 = unit_row0(c, u);
    const float *ds = unit_ds(c, u, tid); /* [G·T, S] */
    if (c->dq)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)GT, (int)Dh, (int)S, c->scale, ds, (int)S,
                    c->k + u * S * Dh, (int)Dh, 1.0f, c->dq + r0 * Dh, (int)Dh);
    if (c->dk)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)S, (int)Dh, (int)GT, c->scale, ds, (int)S,
                    c->q + r0 * Dh, (int)Dh, 1.0f, c->dk + u * S * Dh, (int)Dh);
}

/* ---- drivers ------------------------------------------------------------------------------------ */

static void run_forward(const attn_ctx *c, int mode) {
    int64_t units = c->B * c->Hkv, GT = c->G * c->T, rows = c->B * c->H * c->T;
    if (mode == ATTN_BLAS) {
        for (int64_t u = 0; u < units; u++) fwd_scores(c, u, unit_p(c, u, 0));
#pragma omp parallel for schedule(static) if (rows * c->S > AG_PAR_THRESHOLD)
        for (int64_t r = 0; r < rows; r++) fwd_softmax_row(c, r, c->p + r * c->S);
        for (int64_t u = 0; u < units; u++) fwd_output(c, u, unit_p(c, u, 0));
        return;
    }
    int blas_threads = mode == ATTN_HEADS ? openblas_get_num_threads() : 1;
    if (blas_threads != 1) openblas_set_num_threads(1);
#pragma omp parallel for schedule(dynamic)
    for (int64_t u = 0; u < units; u++) {
        float *p = unit_p(c, u, omp_get_thread_num()); /* [G·T, S] */
        fwd_scores(c, u, p);
        for (int64_t i = 0; i < GT; i++) fwd_softmax_row(c, unit_row0(c, u) + i, p + i * c->S);
        fwd_output(c, u, p);
    }
    if (blas_threads != 1) openblas_set_num_threads(blas_threads);
}

static void run_backward(const attn_ctx *c, int mode) {
    int64_t units = c->B * c->Hkv, GT = c->G * c->T, rows = c->B * c->H * c->T, S = c->S;
    bool need_ds = c->dq || c->dk;
    if (mode == ATTN_BLAS) {
        for (int64_t u = 0; u < units; u++) bwd_dv_dp(c, u, 0);
        if (!need_ds) return;
#pragma omp parallel for schedule(static) if (rows * S > AG_PAR_THRESHOLD)
        for (int64_t r = 0; r < rows; r++) bwd_ds_row(c, r, c->ds + r * S);
        for (int64_t u = 0; u < units; u++) bwd_dq_dk(c, u, 0);
        return;
    }
    int blas_threads = mode == ATTN_HEADS ? openblas_get_num_threads() : 1;
    if (blas_threads != 1) openblas_set_num_threads(1);
#pragma omp parallel for schedule(dynamic)
    for (int64_t u = 0; u < units; u++) {
        int tid = omp_get_thread_num();
        bwd_dv_dp(c, u, tid);
        if (!need_ds) continue;
        float *ds = unit_ds(c, u, tid); /* [G·T, S] */
        for (int64_t i = 0; i < GT; i++) bwd_ds_row(c, unit_row0(c, u) + i, ds + i * S);
        bwd_dq_dk(c, u, tid);
    }
    if (blas_threads != 1) openblas_set_num_threads(blas_threads);
}

/* What the node keeps for backward (arena). */
typedef struct {
    float *p;           /* [B, H, T, S] probabilities */
    ag_tensor *key_pad; /* i32 [B, S] or NULL */
    ag_tensor *bias;    /* f32 [H, T, S] or NULL */
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
    int mode = attn_mode(c.B * c.Hkv, c.B * c.H * c.T * c.S * c.Dh);
    c.ds_per_thread = mode != ATTN_BLAS;
    int64_t ds_rows = c.ds_per_thread ? (int64_t)omp_get_max_threads() * c.G * c.T : c.B * c.H * c.T;
    if (c.dq || c.dk) c.ds = ag_arena_alloc(ag_graph_arena(g), (size_t)(ds_rows * c.S) * sizeof(float));
    run_backward(&c, mode);
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
    int mode = attn_mode(B * c.Hkv, B * H * T * S * c.Dh);
    /* P is kept for backward only if a node will be recorded; otherwise (inference, no_grad) each
     * thread reuses one [G·T, S] block. */
    bool record = ag_grad_enabled(g) && (ag_requires_grad(q) || ag_requires_grad(k) || ag_requires_grad(v));
    c.p_per_thread = !record && mode != ATTN_BLAS;
    int64_t p_rows = c.p_per_thread ? (int64_t)omp_get_max_threads() * c.G * T : B * H * T;
    c.p = ag_arena_alloc(ag_graph_arena(g), (size_t)(p_rows * S + 1) * sizeof(float));
    run_forward(&c, mode);
    /* The bias is a constant (ALiBi slopes) and the pad mask is integer: neither gets a grad; the
     * backward pass finds them in the saved record. */
    ag_node *n = ag_record(g, AG_OP_ATTENTION, attention_backward, out, 3, (ag_tensor *[]){q, k, v});
    AG_CHECK(!n == !record, "attention", "recording decision out of step with ag_record");
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
