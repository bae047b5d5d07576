/* ops_softmax.c — softmax, log-softmax (last axis, optional additive mask) and fused cross-entropy. */
#include "ag_internal.h"
#include "fast_exp.h"

#include <math.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------
 * Additive masks. A mask broadcastable to a [..., C] is addressed per row: row r of the [R, C]
 * view of `a` reads mask[base[r] + j * cstride]. Computed once per op (R int64s from the arena).
 * ------------------------------------------------------------------------------------------ */
typedef struct {
    const float *m;  /* mask data (f32), or NULL */
    int64_t *base;   /* [R] offset of each row's first element in m */
    int64_t cstride; /* 0 (mask broadcast along C) or 1 */
} row_mask;

static row_mask row_mask_make(ag_graph *g, const char *op, const ag_tensor *a, const ag_tensor *mask) {
    row_mask rm = {NULL, NULL, 0};
    if (!mask) return rm;
    ag_check_f32(op, mask);
    int nout;
    int64_t bshape[AG_MAX_DIMS];
    char sa[96], sm[96];
    bool ok = mask->ndim <= a->ndim &&
              ag_broadcast_shape(a->ndim, a->shape, mask->ndim, mask->shape, &nout, bshape);
    for (int i = 0; ok && i < a->ndim; i++) ok = bshape[i] == a->shape[i];
    AG_CHECK(ok, op, "mask %s does not broadcast to input %s", ag_shape_str(mask, sm, sizeof sm),
             ag_shape_str(a, sa, sizeof sa));
    int64_t st[AG_MAX_DIMS];
    ag_broadcast_strides(mask->ndim, mask->shape, a->ndim, a->shape, st);
    int64_t C = a->shape[a->ndim - 1], R = C ? a->numel / C : 0;
    rm.m = ag_f32(mask);
    rm.cstride = st[a->ndim - 1];
    rm.base = ag_arena_alloc(ag_graph_arena(g), (size_t)(R ? R : 1) * sizeof(int64_t));
    for (int64_t r = 0; r < R; r++) {
        int64_t rem = r, off = 0;
        for (int d = a->ndim - 2; d >= 0; d--) {
            off += (rem % a->shape[d]) * st[d];
            rem /= a->shape[d];
        }
        rm.base[r] = off;
    }
    return rm;
}

/* x[j] = a[j] + mask[j] for one row; returns the row maximum (-inf for an all -inf row). */
static inline float masked_row(float *x, const float *a, const row_mask *rm, int64_t r, int64_t C) {
    float mx = -INFINITY;
    if (rm->m) {
        const float *m = rm->m + rm->base[r];
        int64_t cs = rm->cstride;
#pragma omp simd reduction(max : mx)
        for (int64_t j = 0; j < C; j++) {
            x[j] = a[j] + m[j * cs];
            mx = x[j] > mx ? x[j] : mx;
        }
    } else {
#pragma omp simd reduction(max : mx)
        for (int64_t j = 0; j < C; j++) {
            x[j] = a[j];
            mx = x[j] > mx ? x[j] : mx;
        }
    }
    return mx;
}

/* The mask's grad is the input's grad, summed over broadcast positions (serial: entries repeat). */
static void mask_grad_add(ag_graph *g, ag_tensor *mask, const row_mask *rm, const float *da_rows,
                          int64_t R, int64_t C) {
    float *dm = ag_grad(g, mask); /* mask->numel */
    for (int64_t r = 0; r < R; r++)
        for (int64_t j = 0; j < C; j++) dm[rm->base[r] + j * rm->cstride] += da_rows[r * C + j];
}

/* ---------------------------------------------------------------------------------------------
 * softmax: y = exp(x - max) / Σ exp(x - max), x = a + mask; an all -inf row gives y = 0.
 * Backward: da = y ∘ (dy − Σ dy∘y)  (and the same into the mask if it requires grad).
 * ------------------------------------------------------------------------------------------ */
static void softmax_backward(ag_graph *g, ag_node *n) {
    ag_tensor *a = n->in[0], *mask = n->in[1], *out = n->out;
    int64_t C = a->shape[a->ndim - 1], R = C ? a->numel / C : 0;
    const float *y = ag_f32(out); /* [R, C] */
    const float *dy = out->grad;  /* [R, C] */
    bool need_a = ag_requires_grad(a), need_m = mask && ag_requires_grad(mask);
    /* da rows go straight into a's grad, or into a scratch when only the mask needs them. */
    float *da = need_a ? ag_grad(g, a) : ag_arena_calloc(ag_graph_arena(g), (size_t)a->numel * sizeof(float));
    float *tmp = need_a && need_m ? ag_arena_alloc(ag_graph_arena(g), (size_t)a->numel * sizeof(float)) : NULL;
#pragma omp parallel for if (a->numel > AG_PAR_THRESHOLD)
    for (int64_t r = 0; r < R; r++) {
        const float *yr = y + r * C, *dyr = dy + r * C;
        float dot = 0;
#pragma omp simd reduction(+ : dot)
        for (int64_t j = 0; j < C; j++) dot += dyr[j] * yr[j];
        float *dar = da + r * C;
        for (int64_t j = 0; j < C; j++) {
            float v = yr[j] * (dyr[j] - dot);
            dar[j] += v;
            if (tmp) tmp[r * C + j] = v;
        }
    }
    if (need_m) {
        row_mask rm = row_mask_make(g, "softmax", a, mask);
        mask_grad_add(g, mask, &rm, tmp ? tmp : da, R, C);
    }
}

ag_tensor *ag_softmax(ag_graph *g, ag_tensor *a, ag_tensor *mask) {
    ag_check_f32("softmax", a);
    AG_CHECK(a->ndim >= 1, "softmax", "input must have at least one dimension");
    row_mask rm = row_mask_make(g, "softmax", a, mask);
    ag_tensor *out = ag_new(g, AG_F32, a->ndim, a->shape);
    int64_t C = a->shape[a->ndim - 1], R = C ? a->numel / C : 0;
    const float *x = ag_f32(a); /* [R, C] */
    float *y = ag_f32(out);     /* [R, C] */
#pragma omp parallel for if (a->numel > AG_PAR_THRESHOLD)
    for (int64_t r = 0; r < R; r++) {
        float *yr = y + r * C;
        float mx = masked_row(yr, x + r * C, &rm, r, C);
        if (mx == -INFINITY) { /* nothing visible in this row: zeros, not NaN */
            memset(yr, 0, (size_t)C * sizeof(float));
            continue;
        }
        float s = 0;
        for (int64_t j = 0; j < C; j++) yr[j] = ag_fast_exp(yr[j] - mx);
#pragma omp simd reduction(+ : s)
        for (int64_t j = 0; j < C; j++) s += yr[j];
        float inv = 1.0f / s;
        for (int64_t j = 0; j < C; j++) yr[j] *= inv;
    }
    ag_record(g, AG_OP_SOFTMAX, softmax_backward, out, 2, (ag_tensor *[]){a, mask});
    return out;
}

/* ---------------------------------------------------------------------------------------------
 * log_softmax: y = x − max − log Σ exp(x − max); an all -inf row gives y = 0 (and no grad).
 * Backward: da = dy − exp(y) Σ dy. saved: uint8 [R], 1 for all -inf rows.
 * ------------------------------------------------------------------------------------------ */
static void log_softmax_backward(ag_graph *g, ag_node *n) {
    ag_tensor *a = n->in[0], *mask = n->in[1], *out = n->out;
    int64_t C = a->shape[a->ndim - 1], R = C ? a->numel / C : 0;
    const float *y = ag_f32(out);          /* [R, C] */
    const float *dy = out->grad;           /* [R, C] */
    const unsigned char *dead = n->saved;  /* [R] */
    bool need_a = ag_requires_grad(a), need_m = mask && ag_requires_grad(mask);
    float *da = need_a ? ag_grad(g, a) : ag_arena_calloc(ag_graph_arena(g), (size_t)a->numel * sizeof(float));
    float *tmp = need_a && need_m ? ag_arena_alloc(ag_graph_arena(g), (size_t)a->numel * sizeof(float)) : NULL;
#pragma omp parallel for if (a->numel > AG_PAR_THRESHOLD)
    for (int64_t r = 0; r < R; r++) {
        float *dar = da + r * C;
        if (dead[r]) {
            if (tmp) memset(tmp + r * C, 0, (size_t)C * sizeof(float));
            continue;
        }
        const float *yr = y + r * C, *dyr = dy + r * C;
        float s = 0;
#pragma omp simd reduction(+ : s)
        for (int64_t j = 0; j < C; j++) s += dyr[j];
        for (int64_t j = 0; j < C; j++) {
            float v = dyr[j] - ag_fast_exp(yr[j]) * s;
            dar[j] += v;
            if (tmp) tmp[r * C + j] = v;
        }
    }
    if (need_m) {
        row_mask rm = row_mask_make(g, "log_softmax", a, mask);
        mask_grad_add(g, mask, &rm, tmp ? tmp : da, R, C);
    }
}

ag_tensor *ag_log_softmax(ag_graph *g, ag_tensor *a, ag_tensor *mask) {
    ag_check_f32("log_softmax", a);
    AG_CHECK(a->ndim >= 1, "log_softmax", "input must have at least one dimension");
    row_mask rm = row_mask_make(g, "log_softmax", a, mask);
    ag_tensor *out = ag_new(g, AG_F32, a->ndim, a->shape);
    int64_t C = a->shape[a->ndim - 1], R = C ? a->numel / C : 0;
    const float *x = ag_f32(a);                                          /* [R, C] */
    float *y = ag_f32(out);                                              /* [R, C] */
    unsigned char *dead = ag_arena_alloc(ag_graph_arena(g), (size_t)(R ? R : 1)); /* [R] */
#pragma omp parallel for if (a->numel > AG_PAR_THRESHOLD)
    for (int64_t r = 0; r < R; r++) {
        float *yr = y + r * C;
        float mx = masked_row(yr, x + r * C, &rm, r, C);
        dead[r] = mx == -INFINITY;
        if (dead[r]) {
            memset(yr, 0, (size_t)C * sizeof(float));
            continue;
        }
        float s = 0;
#pragma omp simd reduction(+ : s)
        for (int64_t j = 0; j < C; j++) s += ag_fast_exp(yr[j] - mx);
        float lse = mx + logf(s);
        for (int64_t j = 0; j < C; j++) yr[j] -= lse;
    }
    ag_node *n = ag_record(g, AG_OP_LOG_SOFTMAX, log_softmax_backward, out, 2, (ag_tensor *[]){a, mask});
    if (n) n->saved = dead;
    return out;
}

/* ---------------------------------------------------------------------------------------------
 * cross_entropy: loss_r = lse(x_r) − x_r[t_r] over rows whose target is not ignore_index;
 * out = Σ loss_r (AG_SUM) or Σ loss_r / #counted (AG_MEAN; 0 when no row counts).
 * Backward: dx_r = dout · w · (softmax(x_r) − onehot(t_r)), w = 1 or 1/#counted.
 * saved: f32 [R] log-sum-exp per row; ip[0] = ignore_index, ip[1] = reduction, ip[2] = #counted.
 * ------------------------------------------------------------------------------------------ */
static void cross_entropy_backward(ag_graph *g, ag_node *n) {
    ag_tensor *logits = n->in[0], *targets = n->in[1];
    if (!ag_requires_grad(logits)) return;
    int64_t C = logits->shape[logits->ndim - 1], R = logits->numel / C;
    int64_t ignore = n->ip[0], count = n->ip[2];
    float w = n->out->grad[0];
    if (n->ip[1] == AG_MEAN) w = count ? w / (float)count : 0.0f;
    const float *x = ag_f32(logits);   /* [R, C] */
    const int32_t *t = ag_i32(targets); /* [R] */
    const float *lse = n->saved;       /* [R] */
    float *dx = ag_grad(g, logits);    /* [R, C] */
#pragma omp parallel for if (logits->numel > AG_PAR_THRESHOLD)
    for (int64_t r = 0; r < R; r++) {
        if (t[r] == ignore) continue;
        const float *xr = x + r * C;
        float *dxr = dx + r * C;
        float l = lse[r];
        for (int64_t j = 0; j < C; j++) dxr[j] += w * ag_fast_exp(xr[j] - l);
        dxr[t[r]] -= w;
    }
}

ag_tensor *ag_cross_entropy(ag_graph *g, ag_tensor *logits, ag_tensor *targets, int ignore_index,
                            int reduction) {
    ag_check_f32("cross_entropy", logits);
    AG_CHECK(logits->ndim >= 1 && logits->shape[logits->ndim - 1] > 0, "cross_entropy",
             "logits need a non-empty class axis");
    AG_CHECK(targets->dtype == AG_I32, "cross_entropy", "targets must be i32");
    AG_CHECK(reduction == AG_MEAN || reduction == AG_SUM, "cross_entropy", "reduction %d unknown", reduction);
    int64_t C = logits->shape[logits->ndim - 1], R = logits->numel / C;
    char sl[96], st[96];
    AG_CHECK(targets->numel == R, "cross_entropy", "logits %s need %lld targets, got %s",
             ag_shape_str(logits, sl, sizeof sl), (long long)R, ag_shape_str(targets, st, sizeof st));
    const float *x = ag_f32(logits);   /* [R, C] */
    const int32_t *t = ag_i32(targets); /* [R] */
    /* Targets come validated from the data layer: an out-of-range one here is a programming error. */
    int64_t count = 0;
    for (int64_t r = 0; r < R; r++) {
        if (t[r] == ignore_index) continue;
        AG_CHECK(t[r] >= 0 && t[r] < C, "cross_entropy", "target %d at row %lld outside [0, %lld)", t[r],
                 (long long)r, (long long)C);
        count++;
    }
    float *lse = ag_arena_alloc(ag_graph_arena(g), (size_t)R * sizeof(float)); /* [R] */
    double total = 0;
#pragma omp parallel for reduction(+ : total) if (logits->numel > AG_PAR_THRESHOLD)
    for (int64_t r = 0; r < R; r++) {
        if (t[r] == ignore_index) continue;
        const float *xr = x + r * C;
        float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
        for (int64_t j = 0; j < C; j++) mx = xr[j] > mx ? xr[j] : mx;
        float s = 0;
#pragma omp simd reduction(+ : s)
        for (int64_t j = 0; j < C; j++) s += ag_fast_exp(xr[j] - mx);
        lse[r] = mx + logf(s);
        total += (double)lse[r] - xr[t[r]];
    }
    if (reduction == AG_MEAN) total = count ? total / (double)count : 0.0;
    ag_tensor *out = ag_scalar(g, (float)total);
    ag_node *n = ag_record(g, AG_OP_CROSS_ENTROPY, cross_entropy_backward, out, 2, (ag_tensor *[]){logits, targets});
    if (n) {
        n->saved = lse;
        n->ip[0] = ignore_index;
        n->ip[1] = reduction;
        n->ip[2] = count;
    }
    return out;
}
