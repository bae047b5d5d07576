/* ops_w2v.c — word2vec's fused logistic losses (negative sampling, hierarchical softmax) over a
 * [C, M] block of dot products between rows of two embedding tables, with row-sparse grads.
 *
 * One call covers one training window: C input rows (the context words in skip-gram, or their
 * mean in CBOW) against M output rows (the target word + K shared negatives, or the inner nodes
 * of the target's Huffman path). The forward computes the scores, the loss and the score grads
 * G = σ(s) − label in one pass and saves G; the backward turns G into row grads:
 *     dx_c = go · Σ_j G_cj y_j        dy_j = go · Σ_c G_cj x_c
 * written straight into the tables' sparse grads (no dense [V, D] buffers). The logistic and the
 * loss run as one kernel call (w2v_kernels.h: logistic; errors below float rounding).
 *
 * The block is tiny (C ≤ 2·window, M ≤ 41, D ≈ 100). ember's own kernels compute it on row
 * pointers straight into the tables (autograd/w2v_kernels.c: AVX-512, AVX2+FMA or scalar, picked at
 * run time), so the speed does not depend on which OpenBLAS core serves a small sgemm: with
 * OPENBLAS_CORETYPE=Haswell, sgemm was 3-8x slower than these kernels at word2vec's sizes, and only
 * its SkylakeX small-matrix kernels came close (bench/w2v_kernels.c, bench/RESULTS.md). sgemm on
 * gathered copies of the rows is kept for blocks large enough that it wins (W2V_BLAS_MIN_SCORES).
 * EMBER_W2V_KERNEL=auto|blas|avx512|avx2|scalar forces a path (ag_w2v_kernel_select). All paths
 * give the same values up to float rounding. The BLAS backward uses the gathered copies (the rows
 * the forward saw); the own kernels read the tables through the same row pointers at backward time.
 */
#include "ag.h"
#include "ag_internal.h"
#include "w2v_kernels.h"

#include <cblas.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Saved by the forward for the backward. */
typedef struct w2v_saved {
    int64_t C, M, D;
    bool mean;
    float *G;       /* [nx, M] score grads σ(s) − label (nx = 1 if mean else C) */
    float *h;       /* [D] the mean input row (mean only), else NULL */
    float *X, *Y;   /* BLAS path: gathered inputs [nx, D] and outputs [M, D]; NULL for own kernels */
    const float **xp, **yp; /* own kernels: row pointers to the inputs [nx] and outputs [M] */
    const ag_w2v_kernels *k; /* own kernels: the variant the forward used; NULL for BLAS */
} w2v_saved;

/* y += a · x over D floats. */
static inline void axpyf(float *restrict y, float a, const float *restrict x, int64_t D) {
#pragma omp simd
    for (int64_t d = 0; d < D; d++) y[d] += a * x[d];
}

/* Checks shapes and id ranges (ids come from the trainer, so a bad one is a programming error). */
static void check_args(const char *op, const ag_tensor *win, const ag_tensor *wout, const ag_tensor *in_ids,
                       const ag_tensor *out_ids, const ag_tensor *codes) {
    AG_CHECK(win->dtype == AG_F32 && win->ndim == 2, op, "input table must be f32 [V, D]");
    AG_CHECK(wout->dtype == AG_F32 && wout->ndim == 2, op, "output table must be f32 [V', D]");
    AG_CHECK(win->shape[1] == wout->shape[1], op, "tables differ in width: %lld vs %lld",
             (long long)win->shape[1], (long long)wout->shape[1]);
    AG_CHECK(in_ids->dtype == AG_I32 && in_ids->ndim == 1 && in_ids->numel >= 1, op, "in_ids must be i32 [C], C >= 1");
    AG_CHECK(out_ids->dtype == AG_I32 && out_ids->ndim == 1 && out_ids->numel >= 1, op,
             "out ids must be i32 [M], M >= 1");
    if (codes)
        AG_CHECK(codes->dtype == AG_I32 && codes->numel == out_ids->numel, op, "codes must be i32 [M]");
    const int32_t *a = ag_i32(in_ids), *b = ag_i32(out_ids);
    for (int64_t i = 0; i < in_ids->numel; i++)
        AG_CHECK(a[i] >= 0 && a[i] < win->shape[0], op, "in id %d outside [0, %lld)", a[i], (long long)win->shape[0]);
    for (int64_t i = 0; i < out_ids->numel; i++)
        AG_CHECK(b[i] >= 0 && b[i] < wout->shape[0], op, "out id %d outside [0, %lld)", b[i],
                 (long long)wout->shape[0]);
}

static void w2v_backward(ag_graph *g, ag_node *n);

/* Auto mode hands a block to sgemm only when OpenBLAS runs a core with small-matrix kernels
 * (SkylakeX, Cooperlake, SapphireRapids) and the block has at least this many scores (nx·M).
 * bench_w2v_kernels measured, against those cores, sgemm (gather included) 5-25 % faster from about
 * 200 scores up (e.g. 10 × 21, 20 × 6 and larger, at D = 100..1000) and slower below; against the
 * Haswell, Zen and other cores our kernels won at every size measured (1.6-8x). Default word2vec
 * windows have at most 10 × 6 = 60 scores, so they always run on our kernels. */
#define W2V_BLAS_MIN_SCORES 200

char *openblas_get_corename(void); /* OpenBLAS's own API (not in every cblas.h) */

/* Whether the OpenBLAS core in use has the small-matrix sgemm kernels (read once). */
static bool blas_has_small_kernels(void) {
    static _Atomic int known = -1;
    int k = atomic_load_explicit(&known, memory_order_relaxed);
    if (k < 0) {
        const char *core = openblas_get_corename();
        k = core && (!strcasecmp(core, "SkylakeX") || !strcasecmp(core, "Cooperlake") ||
                     !strcasecmp(core, "SapphireRapids"));
        atomic_store(&known, k);
    }
    return k;
}

/* The path: 0 auto, 1 BLAS, else 2 + ag_w2v_isa (a forced variant). -1 until first read. */
static _Atomic int w2v_mode = -1;

static int mode_of(const char *name) {
    if (!name || !*name || !strcmp(name, "auto")) return 0;
    if (!strcmp(name, "blas")) return 1;
    for (int i = 0; i < AG_W2V_ISA_COUNT; i++) {
        const ag_w2v_kernels *k = ag_w2v_kernels_for((ag_w2v_isa)i);
        if (k && !strcmp(name, k->name)) return 2 + i;
    }
    return -1;
}

int ag_w2v_kernel_select(const char *name) {
    int m = mode_of(name);
    if (m < 0)
        return base_error_set("EMBER_W2V_KERNEL: expected auto, blas, %s, got %s (unknown, or this CPU lacks it)",
                              ag_w2v_kernels_best()->name, name);
    atomic_store(&w2v_mode, m);
    return 0;
}

/* The mode, reading EMBER_W2V_KERNEL on first use (an unknown or unsupported value means auto;
 * ag_w2v_kernel_name says what runs). */
static int current_mode(void) {
    int m = atomic_load_explicit(&w2v_mode, memory_order_relaxed);
    if (m < 0) {
        m = mode_of(getenv("EMBER_W2V_KERNEL"));
        if (m < 0) m = 0;
        atomic_store(&w2v_mode, m);
    }
    return m;
}

const char *ag_w2v_kernel_name(void) {
    int m = current_mode();
    if (m == 1) return "blas";
    if (m >= 2) return ag_w2v_kernels_for((ag_w2v_isa)(m - 2))->name;
    static char name[96];
    if (blas_has_small_kernels())
        snprintf(name, sizeof name, "auto (%s; sgemm from %d scores per block)", ag_w2v_kernels_best()->name,
                 W2V_BLAS_MIN_SCORES);
    else
        snprintf(name, sizeof name, "auto (%s at every size: this OpenBLAS core has no small-matrix sgemm)",
                 ag_w2v_kernels_best()->name);
    return name;
}

/* The own kernel variant for an nx × M × D block, or NULL for the BLAS path. */
static const ag_w2v_kernels *kernels_for_block(int64_t nx, int64_t M, int64_t D) {
    int m = current_mode();
    if (m == 1) return NULL;
    if (m >= 2) return ag_w2v_kernels_for((ag_w2v_isa)(m - 2));
    (void)D; /* the crossover measured depends on nx·M, hardly on D */
    return nx * M >= W2V_BLAS_MIN_SCORES && blas_has_small_kernels() ? NULL : ag_w2v_kernels_best();
}

/* Shared forward. labels: NULL for NS (column 0 positive), else HS codes (label = 1 − code). */
static ag_tensor *w2v_forward(ag_graph *g, int op, const char *opname, ag_tensor *win, ag_tensor *wout,
                              ag_tensor *in_ids, ag_tensor *out_ids, ag_tensor *codes, bool mean) {
    check_args(opname, win, wout, in_ids, out_ids, codes);
    const int64_t C = in_ids->numel, M = out_ids->numel, D = win->shape[1];
    const int64_t nx = mean ? 1 : C;
    const float *W0 = ag_f32(win), *W1 = ag_f32(wout);
    const int32_t *ii = ag_i32(in_ids), *oo = ag_i32(out_ids);
    const int32_t *code = codes ? ag_i32(codes) : NULL;
    ag_arena *ar = ag_graph_arena(g);

    float *G = ag_arena_alloc(ar, (size_t)(nx * M) * sizeof(float)); /* [nx, M] */
    float *h = NULL;                                                 /* [D] */
    if (mean) {
        h = ag_arena_alloc(ar, (size_t)D * sizeof(float));
        memset(h, 0, (size_t)D * sizeof(float));
        for (int64_t c = 0; c < C; c++) axpyf(h, 1.0f, W0 + (int64_t)ii[c] * D, D);
        float inv = 1.0f / (float)C;
        for (int64_t d = 0; d < D; d++) h[d] *= inv;
    }
    double loss = 0.0;
    float *S = ag_arena_alloc(ar, (size_t)(nx * M) * sizeof(float)); /* [nx, M] scores */
    float *X = NULL, *Y = NULL;                 /* BLAS path: [nx, D], [M, D] gathered rows */
    const float **xp = NULL, **yp = NULL;       /* own kernels: [nx], [M] row pointers */
    const ag_w2v_kernels *k = kernels_for_block(nx, M, D);
    if (!k) {
        X = mean ? h : ag_arena_alloc(ar, (size_t)(nx * D) * sizeof(float)); /* [nx, D] */
        Y = ag_arena_alloc(ar, (size_t)(M * D) * sizeof(float));               /* [M, D] */
        if (!mean)
            for (int64_t c = 0; c < C; c++) memcpy(X + c * D, W0 + (int64_t)ii[c] * D, (size_t)D * sizeof(float));
        for (int64_t j = 0; j < M; j++) memcpy(Y + j * D, W1 + (int64_t)oo[j] * D, (size_t)D * sizeof(float));
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nx, (int)M, (int)D, 1.0f, X, (int)D, Y, (int)D, 0.0f,
                    S, (int)M);
    } else {
        xp = ag_arena_alloc(ar, (size_t)nx * sizeof *xp);
        yp = ag_arena_alloc(ar, (size_t)M * sizeof *yp);
        for (int64_t c = 0; c < nx; c++) xp[c] = mean ? h : W0 + (int64_t)ii[c] * D;
        for (int64_t j = 0; j < M; j++) yp[j] = W1 + (int64_t)oo[j] * D;
        k->scores(xp, nx, yp, M, D, S);
    }
    /* The logistic part over all nx·M scores in one kernel call (a forced BLAS path uses the
     * CPU's best kernel for it; it is no matrix product). */
    const int64_t K = nx * M;
    float *lab = ag_arena_alloc(ar, (size_t)K * sizeof(float)); /* [nx, M] labels 0/1 */
    for (int64_t c = 0; c < nx; c++)
        for (int64_t j = 0; j < M; j++) lab[c * M + j] = code ? (float)(1 - code[j]) : (j == 0 ? 1.0f : 0.0f);
    float lsum = (k ? k : ag_w2v_kernels_best())->logistic(S, lab, K, G);
    loss = lsum;
    ag_tensor *out = ag_scalar(g, (float)loss);
    ag_tensor *ins[4] = {win, wout, in_ids, out_ids};
    ag_node *node = ag_record(g, op, w2v_backward, out, 4, ins);
    if (node) {
        w2v_saved *sv = ag_arena_alloc(ar, sizeof *sv);
        *sv = (w2v_saved){C, M, D, mean, G, h, X, Y, xp, yp, k};
        node->saved = sv;
    }
    return out;
}

/* The [n, D] block a backward writes the grads of table rows ids[0..n) into: appended to w's
 * sparse grad (*rows = its row-id slots) when w has one, else arena scratch (*rows = NULL). */
static inline float *grad_rows_begin(ag_graph *g, ag_tensor *w, int64_t n, int64_t D, int32_t **rows) {
    *rows = NULL;
    if (w->flags & AG_SPARSE_GRAD) return ag_sparse_grad_reserve(w, n, rows);
    return ag_arena_alloc(ag_graph_arena(g), (size_t)(n * D) * sizeof(float));
}

/* Finishes grad_rows_begin: a sparse grad gets the row ids; a dense one has block row k added to
 * grad row ids[k]. */
static inline void grad_rows_end(ag_graph *g, ag_tensor *w, const int32_t *ids, int64_t n, int64_t D,
                                 const float *block, int32_t *rows) {
    if (rows) {
        memcpy(rows, ids, (size_t)n * sizeof(int32_t));
        return;
    }
    float *gw = ag_grad(g, w);
    for (int64_t k = 0; k < n; k++) axpyf(gw + (int64_t)ids[k] * D, 1.0f, block + k * D, D);
}

/* Backward: go = upstream scalar grad. Row grads go to each table's sparse grad (AG_SPARSE_GRAD)
 * or dense grad. */
static void w2v_backward(ag_graph *g, ag_node *n) {
    const w2v_saved *sv = n->saved;
    ag_tensor *win = n->in[0], *wout = n->in[1];
    const int32_t *ii = ag_i32(n->in[2]), *oo = ag_i32(n->in[3]);
    const int64_t C = sv->C, M = sv->M, D = sv->D, nx = sv->mean ? 1 : C;
    const float go = n->out->grad[0];
    const float *G = sv->G;

    if (ag_requires_grad(win)) {
        /* dx_c = go Σ_j G_cj y_j; a mean input gives each of its C rows dh / C. */
        int32_t *rows;
        float *dx = grad_rows_begin(g, win, C, D, &rows); /* [C, D] */
        if (!sv->k) {
            /* dX [nx, D] = go · G [nx, M] · Y [M, D] */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)nx, (int)D, (int)M, go, G, (int)M, sv->Y,
                        (int)D, 0.0f, dx, (int)D);
        } else {
            sv->k->combine(G, M, 1, sv->yp, M, nx, D, go, dx);
        }
        if (sv->mean) {
            float inv = 1.0f / (float)C;
            for (int64_t d = 0; d < D; d++) dx[d] *= inv;
            for (int64_t c = 1; c < C; c++) memcpy(dx + c * D, dx, (size_t)D * sizeof(float));
        }
        grad_rows_end(g, win, ii, C, D, dx, rows);
    }
    if (ag_requires_grad(wout)) {
        /* dy_j = go Σ_c G_cj x_c */
        int32_t *rows;
        float *dy = grad_rows_begin(g, wout, M, D, &rows); /* [M, D] */
        if (!sv->k) {
            /* dY [M, D] = go · Gᵀ [M, nx] · X [nx, D] */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)M, (int)D, (int)nx, go, G, (int)M, sv->X, (int)D,
                        0.0f, dy, (int)D);
        } else {
            sv->k->combine(G, 1, M, sv->xp, nx, M, D, go, dy);
        }
        grad_rows_end(g, wout, oo, M, D, dy, rows);
    }
}

ag_tensor *ag_w2v_ns_loss(ag_graph *g, ag_tensor *win, ag_tensor *wout, ag_tensor *in_ids, ag_tensor *out_ids,
                          bool mean) {
    return w2v_forward(g, AG_OP_W2V_NS, "w2v_ns_loss", win, wout, in_ids, out_ids, NULL, mean);
}

ag_tensor *ag_w2v_hs_loss(ag_graph *g, ag_tensor *win, ag_tensor *wout, ag_tensor *in_ids, ag_tensor *node_ids,
                          ag_tensor *codes, bool mean) {
    AG_CHECK(codes != NULL, "w2v_hs_loss", "codes must not be NULL");
    return w2v_forward(g, AG_OP_W2V_HS, "w2v_hs_loss", win, wout, in_ids, node_ids, codes, mean);
}
