/* ops_shape.c — reshape (shares data), permute/transpose, concat, slice, split; f32 or i32 values. */
#include "ops_par.h"

#include <string.h>

/* Shape ops move 4-byte elements without looking at them, so they work for f32 and i32 alike;
 * only f32 tensors can require grad, so the backward kernels are f32. */

static const char *shape_str(const ag_tensor *t, char *buf) { return ag_shape_str(t, buf, 96); }

/* ---------------------------------------------------------------------------------------------
 * reshape: out has a's data under a new shape (no copy: values are immutable after forward);
 * its grad is its own buffer. da[i] += dout[i].
 * --------------------------------------------------------------------------------------------- */
static void reshape_backward(ag_graph *g, ag_node *nd) {
    ag_tensor *ta = nd->in[0];
    const float *dout = nd->out->grad; /* [n] */
    float *da = ag_grad(g, ta);        /* [n] */
    int64_t n = ta->numel;
    if (n > AG_PAR_THRESHOLD) {
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; i++) da[i] += dout[i];
    } else {
        for (int64_t i = 0; i < n; i++) da[i] += dout[i];
    }
}

ag_tensor *ag_reshape(ag_graph *g, ag_tensor *a, int ndim, const int64_t *shape) {
    AG_CHECK(ndim >= 0 && ndim <= AG_MAX_DIMS, "ag_reshape", "ndim %d outside 0..%d", ndim, AG_MAX_DIMS);
    int64_t sh[AG_MAX_DIMS], known = 1;
    int infer = -1;
    for (int i = 0; i < ndim; i++) {
        sh[i] = shape[i];
        if (shape[i] == -1) {
            AG_CHECK(infer < 0, "ag_reshape", "more than one -1 in the new shape");
            infer = i;
        } else {
            AG_CHECK(shape[i] >= 0, "ag_reshape", "negative dimension %lld", (long long)shape[i]);
            known *= shape[i];
        }
    }
    if (infer >= 0) {
        AG_CHECK(known > 0 && a->numel % known == 0, "ag_reshape", "cannot infer -1: %lld elements into blocks of %lld",
                 (long long)a->numel, (long long)known);
        sh[infer] = a->numel / known;
    }
    char sa[96];
    AG_CHECK(ag_shape_numel(ndim, sh) == a->numel, "ag_reshape", "%s has %lld elements, new shape has %lld",
             shape_str(a, sa), (long long)a->numel, (long long)ag_shape_numel(ndim, sh));
    ag_tensor *out = ag_arena_alloc(ag_graph_arena(g), sizeof *out);
    memset(out, 0, sizeof *out);
    out->dtype = a->dtype;
    out->ndim = ndim;
    for (int i = 0; i < ndim; i++) out->shape[i] = sh[i];
    out->numel = a->numel;
    out->data = a->data; /* shared, read-only */
    ag_record(g, AG_OP_RESHAPE, reshape_backward, out, 1, &a);
    return out;
}

/* ---------------------------------------------------------------------------------------------
 * permute: out[i0, i1, i2, i3] = a[the same element with dims in perm order]; da[that] += dout[i].
 * Both directions walk the output (padded to 4 dims) with the input's strides reordered. When the
 * output's last dim is also the input's last, rows are contiguous on both sides (memcpy). Otherwise
 * the input's contiguous dim q lands elsewhere in the output, and the [q, 3] plane is a 2-D
 * transpose: it is done in TILE×TILE tiles so the strided side stays in L1 instead of missing
 * cache on every element.
 * --------------------------------------------------------------------------------------------- */
#define TILE 32

typedef struct perm_geom {
    int64_t shape[4];   /* output shape padded to 4 dims */
    int64_t stride[4];  /* input stride of each output dim */
    int64_t ostride[4]; /* output (contiguous) stride of each output dim */
    int q;              /* output dim holding the input's contiguous dim (stride 1), or 3 */
} perm_geom;

static perm_geom perm_plan(const ag_tensor *a, const int *perm) {
    int64_t st[AG_MAX_DIMS], s = 1;
    for (int i = a->ndim - 1; i >= 0; i--) {
        st[i] = s;
        s *= a->shape[i];
    }
    perm_geom p;
    int pad = 4 - a->ndim;
    for (int i = 0; i < 4; i++) {
        p.shape[i] = i < pad ? 1 : a->shape[perm[i - pad]];
        p.stride[i] = i < pad ? 0 : st[perm[i - pad]];
    }
    s = 1;
    for (int i = 3; i >= 0; i--) {
        p.ostride[i] = s;
        s *= p.shape[i];
    }
    p.q = 3;
    if (p.stride[3] != 1)
        for (int i = 0; i < 3; i++)
            if (p.stride[i] == 1 && p.shape[i] > 1) p.q = i;
    return p;
}

/* backward = false: out[o] = in[i] (4-byte copies of f32 or i32);
 * backward = true:  din[i] += dout[o] (f32). `src` is read, `dst` written, in either direction. */
static inline __attribute__((always_inline)) void permute_walk(const perm_geom *p, const void *src, void *dst,
                                                              bool backward, int64_t work) {
    const int64_t *sh = p->shape, *st = p->stride, *os = p->ostride;
    if (p->q == 3) { /* rows of sh[3] contiguous on both sides when st[3] == 1 */
        AG_PAR_FOR(i01, sh[0] * sh[1], work,
            int64_t i0 = i01 / sh[1], i1 = i01 % sh[1];
            for (int64_t i2 = 0; i2 < sh[2]; i2++) {
                int64_t ib = i0 * st[0] + i1 * st[1] + i2 * st[2], ob = (i01 * sh[2] + i2) * sh[3];
                if (backward) {
                    float *d = (float *)dst + ib;
                    const float *g = (const float *)src + ob;
                    for (int64_t i3 = 0; i3 < sh[3]; i3++) d[i3 * st[3]] += g[i3];
                } else if (st[3] == 1) {
                    memcpy((uint32_t *)dst + ob, (const uint32_t *)src + ib, (size_t)sh[3] * 4);
                } else {
                    uint32_t *o = (uint32_t *)dst + ob;
                    const uint32_t *in = (const uint32_t *)src + ib;
                    for (int64_t i3 = 0; i3 < sh[3]; i3++) o[i3] = in[i3 * st[3]];
                }
            }
        );
        return;
    }
    /* Tiled: the two dims other than q and 3 are u < v; each (iu, iv) owns a [sh[q], sh[3]] plane. */
    int q = p->q, u = q == 0 ? 1 : 0, v = q == 2 ? 1 : 2;
    int64_t nq = sh[q], n3 = sh[3], s3 = st[3], oq = os[q], nqb = (nq + TILE - 1) / TILE;
    /* tasks: (iu, iv, block of q rows); each writes a disjoint part of dst */
    AG_PAR_FOR(t, sh[u] * sh[v] * nqb, work,
        int64_t iuv = t / nqb, q0 = (t % nqb) * TILE, iu = iuv / sh[v], iv = iuv % sh[v];
        int64_t ib = iu * st[u] + iv * st[v], ob = iu * os[u] + iv * os[v];
        int64_t q1 = q0 + TILE < nq ? q0 + TILE : nq;
        for (int64_t j0 = 0; j0 < n3; j0 += TILE) {
            int64_t j1 = j0 + TILE < n3 ? j0 + TILE : n3;
            /* Both sides move whole cache lines: the tile goes through a local buffer (strides
             * of powers of two would otherwise alias in L1 and miss on every element). */
            uint32_t buf[TILE * TILE]; /* [j - j0][iq - q0] (forward) or [iq - q0][j - j0] (backward) */
            if (backward) {
                for (int64_t iq = q0; iq < q1; iq++) { /* read dout rows, contiguous in j */
                    const float *g = (const float *)src + ob + iq * oq;
                    float *bq = (float *)buf + (iq - q0) * TILE;
                    for (int64_t j = j0; j < j1; j++) bq[j - j0] = g[j];
                }
                for (int64_t j = j0; j < j1; j++) { /* add into din rows, contiguous in iq */
                    float *d = (float *)dst + ib + j * s3;
                    const float *bj = (const float *)buf + (j - j0);
                    for (int64_t iq = q0; iq < q1; iq++) d[iq] += bj[(iq - q0) * TILE];
                }
            } else {
                for (int64_t j = j0; j < j1; j++) { /* read input rows, contiguous in iq */
                    const uint32_t *in = (const uint32_t *)src + ib + j * s3;
                    uint32_t *bj = buf + (j - j0) * TILE;
                    for (int64_t iq = q0; iq < q1; iq++) bj[iq - q0] = in[iq];
                }
                for (int64_t iq = q0; iq < q1; iq++) { /* write output rows, contiguous in j */
                    uint32_t *o = (uint32_t *)dst + ob + iq * oq;
                    const uint32_t *bq = buf + (iq - q0);
                    for (int64_t j = j0; j < j1; j++) o[j] = bq[(j - j0) * TILE];
                }
            }
        }
    );
}

static void permute_backward(ag_graph *g, ag_node *nd) {
    ag_tensor *ta = nd->in[0];
    int perm[AG_MAX_DIMS];
    for (int i = 0; i < ta->ndim; i++) perm[i] = (int)nd->ip[i];
    perm_geom p = perm_plan(ta, perm);
    const float *dout = nd->out->grad; /* out shape */
    float *da = ag_grad(g, ta);        /* a shape; each element hit once, so planes run in parallel */
    permute_walk(&p, dout, da, true, ta->numel);
}

ag_tensor *ag_permute(ag_graph *g, ag_tensor *a, const int *perm) {
    int seen = 0;
    for (int i = 0; i < a->ndim; i++) {
        AG_CHECK(perm[i] >= 0 && perm[i] < a->ndim && !(seen & (1 << perm[i])), "ag_permute",
                 "perm is not a permutation of 0..%d", a->ndim - 1);
        seen |= 1 << perm[i];
    }
    int64_t shape[AG_MAX_DIMS];
    for (int i = 0; i < a->ndim; i++) shape[i] = a->shape[perm[i]];
    ag_tensor *out = ag_new(g, a->dtype, a->ndim, shape);
    perm_geom p = perm_plan(a, perm);
    permute_walk(&p, a->data, out->data, false, a->numel); /* a shape → out shape */
    ag_node *n = ag_record(g, AG_OP_PERMUTE, permute_backward, out, 1, &a);
    if (n)
        for (int i = 0; i < a->ndim; i++) n->ip[i] = perm[i];
    return out;
}

ag_tensor *ag_transpose(ag_graph *g, ag_tensor *a, int d0, int d1) {
    d0 = ag_axis("ag_transpose", a, d0);
    d1 = ag_axis("ag_transpose", a, d1);
    int perm[AG_MAX_DIMS];
    for (int i = 0; i < a->ndim; i++) perm[i] = i;
    perm[d0] = d1;
    perm[d1] = d0;
    return ag_permute(g, a, perm);
}

/* ---------------------------------------------------------------------------------------------
 * concat along axis: every input viewed as [outer, len_t * inner]; out [outer, Σ len_t * inner].
 * dts[o, :] += dout[o, off_t : off_t + len_t * inner].
 * --------------------------------------------------------------------------------------------- */
static void concat_backward(ag_graph *g, ag_node *nd) {
    int axis = (int)nd->ip[0];
    ag_tensor *out = nd->out;
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < axis; i++) outer *= out->shape[i];
    for (int i = axis + 1; i < out->ndim; i++) inner *= out->shape[i];
    int64_t orow = out->shape[axis] * inner; /* output row length */
    const float *dout = out->grad;           /* [outer, orow] */
    int64_t off = 0;
    for (int t = 0; t < nd->nin; t++) {
        ag_tensor *x = nd->ins[t];
        int64_t w = x->shape[axis] * inner; /* this input's row length */
        if (ag_requires_grad(x)) {
            float *dx = ag_grad(g, x); /* [outer, w] */
            AG_PAR_FOR(o, outer, x->numel,
                const float *d = dout + o * orow + off;
                float *dr = dx + o * w;
                for (int64_t j = 0; j < w; j++) dr[j] += d[j];
            );
        }
        off += w;
    }
}

ag_tensor *ag_concat(ag_graph *g, int n, ag_tensor *const *ts, int axis) {
    AG_CHECK(n >= 1, "ag_concat", "need at least one tensor, got %d", n);
    const ag_tensor *t0 = ts[0];
    axis = ag_axis("ag_concat", t0, axis);
    int64_t shape[AG_MAX_DIMS];
    for (int i = 0; i < t0->ndim; i++) shape[i] = t0->shape[i];
    shape[axis] = 0;
    for (int t = 0; t < n; t++) {
        bool ok = ts[t]->ndim == t0->ndim && ts[t]->dtype == t0->dtype;
        for (int i = 0; ok && i < t0->ndim; i++) ok = i == axis || ts[t]->shape[i] == t0->shape[i];
        char s0[96], st[96];
        AG_CHECK(ok, "ag_concat", "input %d %s does not match input 0 %s outside axis %d (or dtype differs)", t,
                 shape_str(ts[t], st), shape_str(t0, s0), axis);
        shape[axis] += ts[t]->shape[axis];
    }
    ag_tensor *out = ag_new(g, t0->dtype, t0->ndim, shape);
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < axis; i++) outer *= shape[i];
    for (int i = axis + 1; i < t0->ndim; i++) inner *= shape[i];
    int64_t orow = shape[axis] * inner;
    uint32_t *dst = out->data; /* [outer, orow] */
    AG_PAR_FOR(o, outer, out->numel,
        int64_t off = 0;
        for (int t = 0; t < n; t++) {
            int64_t w = ts[t]->shape[axis] * inner;
            memcpy(dst + o * orow + off, (const uint32_t *)ts[t]->data + o * w, (size_t)w * 4);
            off += w;
        }
    );
    ag_node *nd = ag_record(g, AG_OP_CONCAT, concat_backward, out, n, ts);
    if (nd) nd->ip[0] = axis;
    return out;
}

/* ---------------------------------------------------------------------------------------------
 * slice along axis: out = a[..., start : start + len, ...]; da[o, start + k, i] += dout[o, k, i].
 * --------------------------------------------------------------------------------------------- */
static void slice_backward(ag_graph *g, ag_node *nd) {
    ag_tensor *ta = nd->in[0];
    int axis = (int)nd->ip[0];
    int64_t start = nd->ip[1], len = nd->ip[2];
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < axis; i++) outer *= ta->shape[i];
    for (int i = axis + 1; i < ta->ndim; i++) inner *= ta->shape[i];
    int64_t arow = ta->shape[axis] * inner, w = len * inner;
    const float *dout = nd->out->grad; /* [outer, len * inner] */
    float *da = ag_grad(g, ta);        /* [outer, arow] */
    AG_PAR_FOR(o, outer, nd->out->numel,
        const float *d = dout + o * w;
        float *dr = da + o * arow + start * inner;
        for (int64_t j = 0; j < w; j++) dr[j] += d[j];
    );
}

ag_tensor *ag_slice(ag_graph *g, ag_tensor *a, int axis, int64_t start, int64_t len) {
    axis = ag_axis("ag_slice", a, axis);
    char sa[96];
    AG_CHECK(start >= 0 && len >= 0 && start + len <= a->shape[axis], "ag_slice",
             "range [%lld, %lld) outside axis %d of %s", (long long)start, (long long)(start + len), axis, shape_str(a, sa));
    int64_t shape[AG_MAX_DIMS];
    for (int i = 0; i < a->ndim; i++) shape[i] = a->shape[i];
    shape[axis] = len;
    ag_tensor *out = ag_new(g, a->dtype, a->ndim, shape);
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < axis; i++) outer *= a->shape[i];
    for (int i = axis + 1; i < a->ndim; i++) inner *= a->shape[i];
    int64_t arow = a->shape[axis] * inner, w = len * inner;
    const uint32_t *src = a->data; /* [outer, arow] */
    uint32_t *dst = out->data;     /* [outer, w] */
    if (outer == 1) {
        memcpy(dst, src + start * inner, (size_t)w * 4);
    } else {
        AG_PAR_FOR(o, outer, out->numel, memcpy(dst + o * w, src + o * arow + start * inner, (size_t)w * 4););
    }
    ag_node *n = ag_record(g, AG_OP_SLICE, slice_backward, out, 1, &a);
    if (n) {
        n->ip[0] = axis;
        n->ip[1] = start;
        n->ip[2] = len;
    }
    return out;
}

void ag_split(ag_graph *g, ag_tensor *a, int axis, int n, const int64_t *sizes, ag_tensor **out) {
    axis = ag_axis("ag_split", a, axis);
    int64_t total = 0;
    for (int i = 0; i < n; i++) total += sizes[i];
    char sa[96];
    AG_CHECK(total == a->shape[axis], "ag_split", "sizes sum to %lld, axis %d of %s has %lld", (long long)total, axis,
             shape_str(a, sa), (long long)a->shape[axis]);
    int64_t off = 0;
    for (int i = 0; i < n; i++) {
        out[i] = ag_slice(g, a, axis, off, sizes[i]);
        off += sizes[i];
    }
}
