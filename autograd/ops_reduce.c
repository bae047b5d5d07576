/* ops_reduce.c — sum, mean and max over one axis (or all elements), with keepdim. */
#include "ops_par.h"

#include <math.h>

/* Every reduction views its input as [outer, len, inner] and reduces the middle dimension:
 * out[o, i] = R_k a[o, k, i]. AG_ALL_AXES is the case outer = inner = 1, len = numel. */
typedef struct red_geom {
    int64_t outer, len, inner;
} red_geom;

#define INNER_BLOCK 256 /* columns per parallel task when inner > 1 */

static red_geom red_plan(const ag_tensor *a, int axis) {
    red_geom r;
    if (axis == AG_ALL_AXES) {
        r.outer = r.inner = 1;
        r.len = a->numel;
        return r;
    }
    r.outer = r.inner = 1;
    for (int i = 0; i < axis; i++) r.outer *= a->shape[i];
    r.len = a->shape[axis];
    for (int i = axis + 1; i < a->ndim; i++) r.inner *= a->shape[i];
    return r;
}

/* Normalises the axis and builds the output (keepdim keeps a 1 in the reduced place). */
static ag_tensor *red_output(ag_graph *g, const char *op, ag_tensor *a, int *axis, bool keepdim) {
    ag_check_f32(op, a);
    int64_t shape[AG_MAX_DIMS];
    int nd = 0;
    if (*axis == AG_ALL_AXES) {
        if (keepdim)
            for (nd = 0; nd < a->ndim; nd++) shape[nd] = 1;
    } else {
        *axis = ag_axis(op, a, *axis);
        for (int i = 0; i < a->ndim; i++) {
            if (i != *axis) shape[nd++] = a->shape[i];
            else if (keepdim) shape[nd++] = 1;
        }
    }
    return ag_new(g, AG_F32, nd, shape);
}

/* ---------------------------------------------------------------------------------------------
 * sum and mean: out[o, i] = scale · Σ_k a[o, k, i]   (scale = 1 or 1/len); da[o, k, i] += scale · dout[o, i]
 * --------------------------------------------------------------------------------------------- */
/* Σ x[0..n) in double with 8 independent accumulators: no reassociation is needed for the compiler
 * to vectorise it, and 8 chains hide the add latency that a single running sum would expose. */
static inline double sum_row(const float *x, int64_t n) {
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t k = 0;
    for (; k + 8 <= n; k += 8)
        for (int j = 0; j < 8; j++) acc[j] += (double)x[k + j];
    double s = 0;
    for (; k < n; k++) s += x[k];
    for (int j = 0; j < 8; j++) s += acc[j];
    return s;
}

#define SUM_CHUNK 4096 /* elements per task in the parallel whole-row sum */

static void sum_forward(const float *a, float *out, red_geom r, float scale) {
    /* a [outer, len, inner], out [outer, inner] */
    int64_t n = r.outer * r.len * r.inner;
    if (r.inner == 1) {
        if (r.outer == 1) { /* one long row (AG_ALL_AXES or a 1-row tensor): sum in double */
            double s = 0;
            if (n > AG_PAR_THRESHOLD) {
                int64_t nchunk = (r.len + SUM_CHUNK - 1) / SUM_CHUNK;
#pragma omp parallel for reduction(+ : s) schedule(static)
                for (int64_t c = 0; c < nchunk; c++) {
                    int64_t k0 = c * SUM_CHUNK, k1 = k0 + SUM_CHUNK < r.len ? k0 + SUM_CHUNK : r.len;
                    s += sum_row(a + k0, k1 - k0);
                }
            } else {
                s = sum_row(a, r.len);
            }
            out[0] = (float)(s * scale);
            return;
        }
        AG_PAR_FOR(o, r.outer, n, out[o] = (float)(sum_row(a + o * r.len, r.len) * scale););
        return;
    }
    int64_t nblk = (r.inner + INNER_BLOCK - 1) / INNER_BLOCK, ntask = r.outer * nblk;
    AG_PAR_FOR(t, ntask, n,
        int64_t o = t / nblk, i0 = (t % nblk) * INNER_BLOCK;
        int64_t i1 = i0 + INNER_BLOCK < r.inner ? i0 + INNER_BLOCK : r.inner;
        float *orow = out + o * r.inner;                 /* [inner] */
        const float *ablk = a + o * r.len * r.inner;     /* [len, inner] */
        for (int64_t i = i0; i < i1; i++) orow[i] = 0.0f;
        for (int64_t k = 0; k < r.len; k++)
            for (int64_t i = i0; i < i1; i++) orow[i] += ablk[k * r.inner + i];
        if (scale != 1.0f)
            for (int64_t i = i0; i < i1; i++) orow[i] *= scale;
    );
}

static void sum_backward(ag_graph *g, ag_node *nd) {
    ag_tensor *ta = nd->in[0];
    red_geom r = red_plan(ta, (int)nd->ip[0]);
    float scale = nd->fp[0];
    const float *dout = nd->out->grad; /* [outer, inner] */
    float *da = ag_grad(g, ta);        /* [outer, len, inner] */
    int64_t n = r.outer * r.len * r.inner;
    if (r.inner == 1 && r.outer == 1) {
        float d = dout[0] * scale;
        AG_PAR_FOR(k, n, n, da[k] += d;);
    } else if (r.inner == 1) { /* each output element spreads over one contiguous row of len */
        AG_PAR_FOR(o, r.outer, n,
            const float d = dout[o] * scale;
            float *dr = da + o * r.len; /* [len] */
            for (int64_t k = 0; k < r.len; k++) dr[k] += d;
        );
    } else {
        AG_PAR_FOR(row, r.outer * r.len, n,
            const float *d = dout + (row / r.len) * r.inner; /* [inner] */
            float *dr = da + row * r.inner;                   /* [inner] */
            for (int64_t i = 0; i < r.inner; i++) dr[i] += d[i] * scale;
        );
    }
}

static ag_tensor *sum_like(ag_graph *g, const char *op, int opid, ag_tensor *a, int axis, bool keepdim, bool mean) {
    ag_tensor *out = red_output(g, op, a, &axis, keepdim);
    red_geom r = red_plan(a, axis);
    float scale = mean ? 1.0f / (float)r.len : 1.0f;
    sum_forward(ag_f32(a), ag_f32(out), r, scale);
    ag_node *n = ag_record(g, opid, sum_backward, out, 1, &a);
    if (n) {
        n->ip[0] = axis;
        n->fp[0] = scale;
    }
    return out;
}

ag_tensor *ag_sum(ag_graph *g, ag_tensor *a, int axis, bool keepdim) {
    return sum_like(g, "ag_sum", AG_OP_SUM, a, axis, keepdim, false);
}

ag_tensor *ag_mean(ag_graph *g, ag_tensor *a, int axis, bool keepdim) {
    return sum_like(g, "ag_mean", AG_OP_MEAN, a, axis, keepdim, true);
}

/* ---------------------------------------------------------------------------------------------
 * max: out[o, i] = max_k a[o, k, i]; da[o, k*, i] += dout[o, i] with k* the first argmax. The
 * backward finds k* again (first k with a == out) instead of saving indices from the forward.
 * --------------------------------------------------------------------------------------------- */
static void max_forward(const float *a, float *out, red_geom r) {
    /* a [outer, len, inner], out [outer, inner] */
    int64_t n = r.outer * r.len * r.inner, ntask = r.outer * r.inner;
    if (ntask == 1) {
        float m = -INFINITY;
        for (int64_t k = 0; k < r.len; k++)
            if (a[k] > m || isnan(a[k])) {
                m = a[k];
                if (isnan(m)) break;
            }
        out[0] = m;
        return;
    }
    AG_PAR_FOR(t, ntask, n,
        int64_t o = t / r.inner, i = t % r.inner;
        const float *ap = a + o * r.len * r.inner + i; /* [len] with stride inner */
        float m = -INFINITY;
        for (int64_t k = 0; k < r.len; k++) {
            float v = ap[k * r.inner];
            if (v > m || isnan(v)) {
                m = v;
                if (isnan(m)) break;
            }
        }
        out[t] = m;
    );
}

static void max_backward(ag_graph *g, ag_node *nd) {
    ag_tensor *ta = nd->in[0];
    red_geom r = red_plan(ta, (int)nd->ip[0]);
    const float *a = ag_f32(ta);          /* [outer, len, inner] */
    const float *y = ag_f32(nd->out);     /* [outer, inner] */
    const float *dout = nd->out->grad;    /* [outer, inner] */
    float *da = ag_grad(g, ta);           /* [outer, len, inner] */
    int64_t n = r.outer * r.len * r.inner, ntask = r.outer * r.inner;
    AG_PAR_FOR(t, ntask, (ntask > 1) ? n : 0,
        int64_t o = t / r.inner, i = t % r.inner, base = o * r.len * r.inner + i;
        float m = y[t];
        for (int64_t k = 0; k < r.len; k++) {
            float v = a[base + k * r.inner];
            if (v == m || (isnan(m) && isnan(v))) {
                da[base + k * r.inner] += dout[t];
                break;
            }
        }
    );
}

ag_tensor *ag_max(ag_graph *g, ag_tensor *a, int axis, bool keepdim) {
    ag_tensor *out = red_output(g, "ag_max", a, &axis, keepdim);
    red_geom r = red_plan(a, axis);
    AG_CHECK(r.len > 0, "ag_max", "cannot take the max over an empty dimension");
    max_forward(ag_f32(a), ag_f32(out), r);
    ag_node *n = ag_record(g, AG_OP_MAX, max_backward, out, 1, &a);
    if (n) n->ip[0] = axis;
    return out;
}
