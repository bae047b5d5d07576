/* ops_elementwise.c — elementwise ops: broadcasting add/sub/mul/div, scalar ops, unary maths, masked_fill. */
#include "fast_exp.h"
#include "ops_par.h"

#include <math.h>
#include <string.h>

#define AG_INLINE static inline __attribute__((always_inline))

/* ---------------------------------------------------------------------------------------------
 * Broadcast plans. Most calls are one of three easy patterns, which get flat loops:
 *   same shape;
 *   "row" ([N, D] ∘ [D], [B, T, D] ∘ [T, D], x ∘ scalar): the small operand repeats as a whole,
 *     element j of every output row of `inner` elements uses small[j];
 *   "column" ([N, D] ∘ [N, 1], [B, T, D] ∘ [B, T, 1]): each element r of the small operand is
 *     repeated `inner` times in a row, output row r uses small[r].
 * Anything else walks a 4-D index with per-operand strides (0 on broadcast dims).
 * --------------------------------------------------------------------------------------------- */
enum { BC_SAME = 0, BC_ROW_B = 1, BC_ROW_A = 2, BC_COL_B = 3, BC_COL_A = 4, BC_GENERAL = 5 };

typedef struct bcast {
    int kind;
    int64_t n;         /* output numel */
    int64_t inner;     /* BC_ROW_*: numel of the small operand; BC_COL_*: times each element repeats */
    int64_t shape[4];  /* BC_GENERAL: output shape, left-padded with 1s to 4 dims */
    int64_t sa[4];     /* BC_GENERAL: strides of a over that shape (0 = broadcast) */
    int64_t sb[4];     /* BC_GENERAL: strides of b */
} bcast;

/* True if x, with leading 1s dropped, equals the trailing dims of out: x repeats every x->numel. */
static bool is_suffix(const ag_tensor *x, int ndim, const int64_t *shape) {
    int j0 = 0;
    while (j0 < x->ndim && x->shape[j0] == 1) j0++;
    int k = x->ndim - j0;
    if (k > ndim) return false;
    for (int j = 0; j < k; j++)
        if (x->shape[j0 + j] != shape[ndim - k + j]) return false;
    return true;
}

/* If x, left-padded with 1s to the output's rank, equals the output's shape up to a run of trailing
 * 1s, returns how many output elements each x element covers (product of those trailing dims). */
static int64_t col_repeat(const ag_tensor *x, int ndim, const int64_t *shape) {
    int pad = ndim - x->ndim, k = ndim;
    if (pad < 0) return 0;
    while (k > 0 && (k - 1 < pad || x->shape[k - 1 - pad] == 1)) k--;
    int64_t inner = 1;
    for (int i = 0; i < ndim; i++) {
        if (i >= k) inner *= shape[i];
        else if ((i < pad ? 1 : x->shape[i - pad]) != shape[i]) return 0;
    }
    return inner;
}

/* Plans a ∘ b over the output shape (ndim, shape), which must already be broadcast(a, b). */
static void bcast_plan(const ag_tensor *a, const ag_tensor *b, int ndim, const int64_t *shape, int64_t n,
                       bcast *p) {
    p->n = n;
    p->inner = 0;
    if (a->numel == n && b->numel == n) {
        p->kind = BC_SAME;
    } else if (a->numel == n && is_suffix(b, ndim, shape)) {
        p->kind = BC_ROW_B;
        p->inner = b->numel;
    } else if (b->numel == n && is_suffix(a, ndim, shape)) {
        p->kind = BC_ROW_A;
        p->inner = a->numel;
    } else if (a->numel == n && (p->inner = col_repeat(b, ndim, shape)) > 0) {
        p->kind = BC_COL_B;
    } else if (b->numel == n && (p->inner = col_repeat(a, ndim, shape)) > 0) {
        p->kind = BC_COL_A;
    } else {
        p->kind = BC_GENERAL;
        int64_t sa[AG_MAX_DIMS], sb[AG_MAX_DIMS];
        ag_broadcast_strides(a->ndim, a->shape, ndim, shape, sa);
        ag_broadcast_strides(b->ndim, b->shape, ndim, shape, sb);
        int pad = 4 - ndim;
        for (int i = 0; i < 4; i++) {
            p->shape[i] = i < pad ? 1 : shape[i - pad];
            p->sa[i] = i < pad ? 0 : sa[i - pad];
            p->sb[i] = i < pad ? 0 : sb[i - pad];
        }
    }
}

/* Output shape of a ∘ b; aborts (programming error) when the shapes do not broadcast. */
static void bcast_shape(const char *op, const ag_tensor *a, const ag_tensor *b, int *ndim, int64_t *shape) {
    if (!ag_broadcast_shape(a->ndim, a->shape, b->ndim, b->shape, ndim, shape)) {
        char sa[96], sb[96];
        AG_CHECK(false, op, "shapes do not broadcast: %s vs %s", ag_shape_str(a, sa, sizeof sa),
                 ag_shape_str(b, sb, sizeof sb));
    }
}

/* ---------------------------------------------------------------------------------------------
 * Binary ops: add, sub, mul, div. One forward and one backward body; BIN_KERNELS instantiates them
 * per op as range kernels with a constant `op`, so the switches below fold away inside the loops.
 * --------------------------------------------------------------------------------------------- */
AG_INLINE float bin_fwd(int op, float x, float y) {
    switch (op) {
    case AG_OP_ADD: return x + y;
    case AG_OP_SUB: return x - y;
    case AG_OP_MUL: return x * y;
    default: return x / y; /* AG_OP_DIV */
    }
}

/* ∂out/∂a · dout and ∂out/∂b · dout at one element; x = a, y = b, o = out. */
AG_INLINE float bin_da(int op, float d, float x, float y, float o) {
    (void)x;
    (void)o;
    switch (op) {
    case AG_OP_ADD:
    case AG_OP_SUB: return d;
    case AG_OP_MUL: return d * y;
    default: return d / y;
    }
}

AG_INLINE float bin_db(int op, float d, float x, float y, float o) {
    switch (op) {
    case AG_OP_ADD: return d;
    case AG_OP_SUB: return -d;
    case AG_OP_MUL: return d * x;
    default: return -d * o / y; /* -d a / b² with a / b = o */
    }
}

/* One call's pointers and plan, shared by the range kernels below. */
typedef struct bin_job {
    bcast p;
    const float *a, *b;  /* inputs, broadcast to [n] */
    float *out;          /* forward output [n] */
    const float *o;      /* backward: output values [n] */
    const float *dout;   /* backward: output grad [n] */
    float *da, *db;      /* backward: input grads (shapes of a and b), NULL if not needed */
    double partial[AG_MAX_THREADS]; /* per-thread sums when a scalar operand's grad is reduced */
} bin_job;

/* Units the forward splits across threads: elements, rows of `inner`, or (i0, i1) planes. */
static int64_t fwd_units(const bcast *p) {
    switch (p->kind) {
    case BC_SAME: return p->n;
    case BC_ROW_A:
    case BC_ROW_B: return p->inner == 1 ? p->n : p->n / p->inner;
    case BC_COL_A:
    case BC_COL_B: return p->n / p->inner;
    default: return p->shape[0] * p->shape[1];
    }
}

AG_INLINE void binary_forward_range(int op, bin_job *J, int64_t lo, int64_t hi) {
    const float *restrict a = J->a, *restrict b = J->b; /* broadcast to [n] */
    float *restrict out = J->out;                        /* [n] */
    int64_t m = J->p.inner;
    switch (J->p.kind) {
    case BC_SAME:
        for (int64_t i = lo; i < hi; i++) out[i] = bin_fwd(op, a[i], b[i]);
        break;
    case BC_ROW_B:
        if (m == 1) {
            const float s = b[0];
            for (int64_t i = lo; i < hi; i++) out[i] = bin_fwd(op, a[i], s);
        } else {
            for (int64_t r = lo; r < hi; r++)
                for (int64_t j = 0, i = r * m; j < m; j++, i++) out[i] = bin_fwd(op, a[i], b[j]);
        }
        break;
    case BC_ROW_A:
        if (m == 1) {
            const float s = a[0];
            for (int64_t i = lo; i < hi; i++) out[i] = bin_fwd(op, s, b[i]);
        } else {
            for (int64_t r = lo; r < hi; r++)
                for (int64_t j = 0, i = r * m; j < m; j++, i++) out[i] = bin_fwd(op, a[j], b[i]);
        }
        break;
    case BC_COL_B:
        for (int64_t r = lo; r < hi; r++) {
            const float s = b[r];
            for (int64_t i = r * m; i < (r + 1) * m; i++) out[i] = bin_fwd(op, a[i], s);
        }
        break;
    case BC_COL_A:
        for (int64_t r = lo; r < hi; r++) {
            const float s = a[r];
            for (int64_t i = r * m; i < (r + 1) * m; i++) out[i] = bin_fwd(op, s, b[i]);
        }
        break;
    default: {
        const int64_t *sh = J->p.shape, *sa = J->p.sa, *sb = J->p.sb;
        for (int64_t i01 = lo; i01 < hi; i01++) {
            int64_t i0 = i01 / sh[1], i1 = i01 % sh[1];
            float *o = out + i01 * sh[2] * sh[3];
            for (int64_t i2 = 0; i2 < sh[2]; i2++) {
                const float *ap = a + i0 * sa[0] + i1 * sa[1] + i2 * sa[2];
                const float *bp = b + i0 * sb[0] + i1 * sb[1] + i2 * sb[2];
                for (int64_t i3 = 0; i3 < sh[3]; i3++) o[i3] = bin_fwd(op, ap[i3 * sa[3]], bp[i3 * sb[3]]);
                o += sh[3];
            }
        }
        break;
    }
    }
}

/* Backward of one operand (which = 0: a, 1: b). The operand with the output's shape ("full") is
 * split by elements or rows; a repeating one is reduced: by column blocks (row broadcast), by rows
 * (column broadcast) or into per-thread partials (scalar). The general case runs serially and
 * does both operands in pass 0. Units per case are given by bwd_units(). */
#define COLS_PER_TASK 64

static int64_t bwd_units(const bcast *p, int which) {
    bool small = (p->kind == BC_ROW_B || p->kind == BC_COL_B) ? which == 1
               : (p->kind == BC_ROW_A || p->kind == BC_COL_A) ? which == 0 : false;
    switch (p->kind) {
    case BC_SAME: return p->n;
    case BC_ROW_A:
    case BC_ROW_B:
        if (p->inner == 1) return p->n;
        return small ? (p->inner + COLS_PER_TASK - 1) / COLS_PER_TASK : p->n / p->inner;
    case BC_COL_A:
    case BC_COL_B: return p->n / p->inner;
    default: return 1;
    }
}

AG_INLINE float bin_d(int op, int which, float d, float x, float y, float o) {
    return which == 0 ? bin_da(op, d, x, y, o) : bin_db(op, d, x, y, o);
}

AG_INLINE void binary_backward_range(int op, int which, bin_job *J, int64_t lo, int64_t hi, int tid) {
    const float *restrict a = J->a, *restrict b = J->b, *restrict o = J->o, *restrict dout = J->dout;
    float *restrict dx = which == 0 ? J->da : J->db; /* the operand's grad */
    int64_t m = J->p.inner, n = J->p.n;
    switch (J->p.kind) {
    case BC_SAME:
        if (which == 0) for (int64_t i = lo; i < hi; i++) dx[i] += bin_da(op, dout[i], a[i], b[i], o[i]);
        else for (int64_t i = lo; i < hi; i++) dx[i] += bin_db(op, dout[i], a[i], b[i], o[i]);
        break;
    case BC_ROW_B: /* a [rows, m] full, b [m] repeats */
    case BC_ROW_A: { /* a [m] repeats, b [rows, m] full */
        bool row_b = J->p.kind == BC_ROW_B, small = row_b ? which == 1 : which == 0;
        if (m == 1) { /* the small operand is a scalar s */
            const float s = row_b ? b[0] : a[0];
            const float *restrict f = row_b ? a : b; /* the full operand */
            if (small) {
                double acc = 0;
                if (row_b) for (int64_t i = lo; i < hi; i++) acc += bin_db(op, dout[i], f[i], s, o[i]);
                else for (int64_t i = lo; i < hi; i++) acc += bin_da(op, dout[i], s, f[i], o[i]);
                J->partial[tid] += acc;
            } else if (row_b) {
                for (int64_t i = lo; i < hi; i++) dx[i] += bin_da(op, dout[i], f[i], s, o[i]);
            } else {
                for (int64_t i = lo; i < hi; i++) dx[i] += bin_db(op, dout[i], s, f[i], o[i]);
            }
        } else if (small) { /* columns [j0, j1) of the repeating operand, summed over all rows */
            int64_t rows = n / m, j0 = lo * COLS_PER_TASK, j1 = hi * COLS_PER_TASK < m ? hi * COLS_PER_TASK : m;
            for (int64_t r = 0; r < rows; r++) {
                const int64_t base = r * m;
                if (row_b)
                    for (int64_t j = j0; j < j1; j++) dx[j] += bin_db(op, dout[base + j], a[base + j], b[j], o[base + j]);
                else
                    for (int64_t j = j0; j < j1; j++) dx[j] += bin_da(op, dout[base + j], a[j], b[base + j], o[base + j]);
            }
        } else { /* the full operand, rows [lo, hi) */
            for (int64_t r = lo; r < hi; r++) {
                const int64_t base = r * m;
                if (row_b)
                    for (int64_t j = 0; j < m; j++) dx[base + j] += bin_da(op, dout[base + j], a[base + j], b[j], o[base + j]);
                else
                    for (int64_t j = 0; j < m; j++) dx[base + j] += bin_db(op, dout[base + j], a[j], b[base + j], o[base + j]);
            }
        }
        break;
    }
    case BC_COL_B: /* a [rows, m] full, b [rows] each repeated m times */
        for (int64_t r = lo; r < hi; r++) {
            const float s = b[r];
            if (which == 0) {
                for (int64_t i = r * m; i < (r + 1) * m; i++) dx[i] += bin_da(op, dout[i], a[i], s, o[i]);
            } else {
                double acc = 0;
                for (int64_t i = r * m; i < (r + 1) * m; i++) acc += bin_db(op, dout[i], a[i], s, o[i]);
                dx[r] += (float)acc;
            }
        }
        break;
    case BC_COL_A: /* a [rows] each repeated m times, b [rows, m] full */
        for (int64_t r = lo; r < hi; r++) {
            const float s = a[r];
            if (which == 1) {
                for (int64_t i = r * m; i < (r + 1) * m; i++) dx[i] += bin_db(op, dout[i], s, b[i], o[i]);
            } else {
                double acc = 0;
                for (int64_t i = r * m; i < (r + 1) * m; i++) acc += bin_da(op, dout[i], s, b[i], o[i]);
                dx[r] += (float)acc;
            }
        }
        break;
    default: { /* several outputs hit one input element: accumulate both operands serially */
        const int64_t *sh = J->p.shape, *sa = J->p.sa, *sb = J->p.sb;
        float *da = J->da, *db = J->db;
        int64_t i = 0;
        for (int64_t i0 = 0; i0 < sh[0]; i0++)
            for (int64_t i1 = 0; i1 < sh[1]; i1++)
                for (int64_t i2 = 0; i2 < sh[2]; i2++)
                    for (int64_t i3 = 0; i3 < sh[3]; i3++, i++) {
                        int64_t ja = i0 * sa[0] + i1 * sa[1] + i2 * sa[2] + i3 * sa[3];
                        int64_t jb = i0 * sb[0] + i1 * sb[1] + i2 * sb[2] + i3 * sb[3];
                        if (da) da[ja] += bin_da(op, dout[i], a[ja], b[jb], o[i]);
                        if (db) db[jb] += bin_db(op, dout[i], a[ja], b[jb], o[i]);
                    }
        break;
    }
    }
}

/* The three range kernels of one op, with the op a constant in each. */
typedef struct bin_kernels {
    ag_range_fn fwd, bwd_a, bwd_b;
} bin_kernels;

#define BIN_KERNELS(name, OP)                                                                      \
    static void name##_fwd(void *j, int64_t lo, int64_t hi, int t) {                               \
        (void)t;                                                                                   \
        binary_forward_range(OP, j, lo, hi);                                                       \
    }                                                                                              \
    static void name##_bwd_a(void *j, int64_t lo, int64_t hi, int t) { binary_backward_range(OP, 0, j, lo, hi, t); } \
    static void name##_bwd_b(void *j, int64_t lo, int64_t hi, int t) { binary_backward_range(OP, 1, j, lo, hi, t); } \
    static const bin_kernels name##_k = {name##_fwd, name##_bwd_a, name##_bwd_b};

BIN_KERNELS(add, AG_OP_ADD)
BIN_KERNELS(sub, AG_OP_SUB)
BIN_KERNELS(mul, AG_OP_MUL)
BIN_KERNELS(div, AG_OP_DIV)

static void binary_backward(ag_graph *g, ag_node *nd, const bin_kernels *k) {
    ag_tensor *ta = nd->in[0], *tb = nd->in[1], *to = nd->out;
    bin_job J;
    J.p.kind = (int)nd->ip[0];
    J.p.inner = nd->ip[1];
    J.p.n = to->numel;
    if (J.p.kind == BC_GENERAL) bcast_plan(ta, tb, to->ndim, to->shape, to->numel, &J.p);
    J.a = ag_f32(ta);
    J.b = ag_f32(tb);
    J.o = ag_f32(to);
    J.dout = to->grad;
    J.da = ag_requires_grad(ta) ? ag_grad(g, ta) : NULL;
    J.db = ag_requires_grad(tb) ? ag_grad(g, tb) : NULL;
    bool scalar_a = (J.p.kind == BC_ROW_A && J.p.inner == 1), scalar_b = (J.p.kind == BC_ROW_B && J.p.inner == 1);
    if (J.p.kind == BC_GENERAL) {
        k->bwd_a(&J, 0, 1, 0); /* both operands, serially */
        return;
    }
    for (int which = 0; which < 2; which++) {
        float *dx = which == 0 ? J.da : J.db;
        if (!dx) continue;
        bool scalar = which == 0 ? scalar_a : scalar_b;
        if (scalar)
            for (int t = 0; t < AG_MAX_THREADS; t++) J.partial[t] = 0;
        int nt = ag_par_range(bwd_units(&J.p, which), J.p.n, which == 0 ? k->bwd_a : k->bwd_b, &J);
        if (scalar) {
            double s = 0;
            for (int t = 0; t < nt; t++) s += J.partial[t];
            dx[0] += (float)s;
        }
    }
}

static ag_tensor *binary(ag_graph *g, int op, const char *name, ag_backward_fn bw, const bin_kernels *k, ag_tensor *a,
                         ag_tensor *b) {
    ag_check_f32(name, a);
    ag_check_f32(name, b);
    int ndim;
    int64_t shape[AG_MAX_DIMS];
    bcast_shape(name, a, b, &ndim, shape);
    ag_tensor *out = ag_new(g, AG_F32, ndim, shape);
    bin_job J;
    bcast_plan(a, b, ndim, shape, out->numel, &J.p);
    J.a = ag_f32(a);
    J.b = ag_f32(b);
    J.out = ag_f32(out);
    ag_par_range(fwd_units(&J.p), J.p.n, k->fwd, &J);
    ag_node *nd = ag_record(g, op, bw, out, 2, (ag_tensor *[]){a, b});
    if (nd) {
        nd->ip[0] = J.p.kind;
        nd->ip[1] = J.p.inner;
    }
    return out;
}

static void add_backward(ag_graph *g, ag_node *n) { binary_backward(g, n, &add_k); }
static void sub_backward(ag_graph *g, ag_node *n) { binary_backward(g, n, &sub_k); }
static void mul_backward(ag_graph *g, ag_node *n) { binary_backward(g, n, &mul_k); }
static void div_backward(ag_graph *g, ag_node *n) { binary_backward(g, n, &div_k); }

ag_tensor *ag_add(ag_graph *g, ag_tensor *a, ag_tensor *b) { return binary(g, AG_OP_ADD, "ag_add", add_backward, &add_k, a, b); }
ag_tensor *ag_sub(ag_graph *g, ag_tensor *a, ag_tensor *b) { return binary(g, AG_OP_SUB, "ag_sub", sub_backward, &sub_k, a, b); }
ag_tensor *ag_mul(ag_graph *g, ag_tensor *a, ag_tensor *b) { return binary(g, AG_OP_MUL, "ag_mul", mul_backward, &mul_k, a, b); }
ag_tensor *ag_div(ag_graph *g, ag_tensor *a, ag_tensor *b) { return binary(g, AG_OP_DIV, "ag_div", div_backward, &div_k, a, b); }

/* ---------------------------------------------------------------------------------------------
 * Unary ops (including the scalar ones). y = f(x; p0, p1); backward: dx += dy · f'(x, y).
 * Parameters live in node->fp so the backward needs nothing saved.
 * --------------------------------------------------------------------------------------------- */
#define SQRT_2_OVER_PI 0.7978845608028654f
#define INV_SQRT_2 0.7071067811865476f
#define INV_SQRT_2PI 0.3989422804014327f
#define GELU_C 0.044715f

/* σ(x) without overflow for either sign. */
AG_INLINE float sigmoidf_(float x) {
    if (x >= 0) return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}

AG_INLINE float un_fwd(int op, float x, float p0, float p1) {
    switch (op) {
    case AG_OP_ADD_SCALAR: return x + p0;
    case AG_OP_MUL_SCALAR: return x * p0;
    case AG_OP_NEG: return -x;
    case AG_OP_EXP: return expf(x);
    case AG_OP_LOG: return logf(x);
    case AG_OP_SQRT: return sqrtf(x);
    case AG_OP_POW: return powf(x, p0);
    case AG_OP_TANH: return tanhf(x);
    case AG_OP_SIGMOID: return sigmoidf_(x);
    case AG_OP_LOG_SIGMOID: return fminf(x, 0.0f) - log1pf(expf(-fabsf(x))); /* log σ(x), stable */
    case AG_OP_RELU: return x > 0 ? x : 0.0f;
    case AG_OP_GELU_TANH: return 0.5f * x * (1.0f + tanhf(SQRT_2_OVER_PI * (x + GELU_C * x * x * x)));
    case AG_OP_GELU_ERF: return 0.5f * x * (1.0f + ag_fast_erf(x * INV_SQRT_2)); /* vectorises; |Δerf| < 1.5e-7 */
    case AG_OP_SILU: return x * sigmoidf_(x);
    default: return x < p0 ? p0 : (x > p1 ? p1 : x); /* AG_OP_CLAMP */
    }
}

/* dy/dx given x and y = f(x). */
AG_INLINE float un_grad(int op, float x, float y, float p0, float p1) {
    switch (op) {
    case AG_OP_ADD_SCALAR: return 1.0f;
    case AG_OP_MUL_SCALAR: return p0;
    case AG_OP_NEG: return -1.0f;
    case AG_OP_EXP: return y;
    case AG_OP_LOG: return 1.0f / x;
    case AG_OP_SQRT: return 0.5f / y;
    case AG_OP_POW: return p0 * powf(x, p0 - 1.0f);
    case AG_OP_TANH: return 1.0f - y * y;
    case AG_OP_SIGMOID: return y * (1.0f - y);
    case AG_OP_LOG_SIGMOID: return sigmoidf_(-x);
    case AG_OP_RELU: return x > 0 ? 1.0f : 0.0f;
    case AG_OP_GELU_TANH: {
        float t = tanhf(SQRT_2_OVER_PI * (x + GELU_C * x * x * x));
        return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * SQRT_2_OVER_PI * (1.0f + 3.0f * GELU_C * x * x);
    }
    case AG_OP_GELU_ERF: return 0.5f * (1.0f + ag_fast_erf(x * INV_SQRT_2)) + x * INV_SQRT_2PI * ag_fast_exp(-0.5f * x * x);
    case AG_OP_SILU: {
        float s = sigmoidf_(x);
        return s * (1.0f + x * (1.0f - s));
    }
    default: return (x >= p0 && x <= p1) ? 1.0f : 0.0f; /* AG_OP_CLAMP */
    }
}

/* One call's pointers and parameters, shared by the range kernels below. */
typedef struct un_job {
    const float *x;    /* input [n] */
    float *y;          /* forward output [n] */
    const float *yv;   /* backward: output values [n] */
    const float *dout; /* backward: output grad [n] */
    float *dx;         /* backward: input grad [n] */
    float p0, p1;
} un_job;

AG_INLINE void unary_forward_range(int op, const un_job *J, int64_t lo, int64_t hi) {
    const float *restrict x = J->x;
    float *restrict y = J->y;
    const float p0 = J->p0, p1 = J->p1;
    for (int64_t i = lo; i < hi; i++) y[i] = un_fwd(op, x[i], p0, p1);
}

AG_INLINE void unary_backward_range(int op, const un_job *J, int64_t lo, int64_t hi) {
    const float *restrict x = J->x, *restrict y = J->yv, *restrict dout = J->dout;
    float *restrict dx = J->dx;
    const float p0 = J->p0, p1 = J->p1;
    for (int64_t i = lo; i < hi; i++) dx[i] += dout[i] * un_grad(op, x[i], y[i], p0, p1);
}

static void unary_backward(ag_graph *g, ag_node *nd, ag_range_fn kernel) {
    ag_tensor *ta = nd->in[0];
    un_job J = {.x = ag_f32(ta), .yv = ag_f32(nd->out), .dout = nd->out->grad, .dx = ag_grad(g, ta),
                .p0 = nd->fp[0], .p1 = nd->fp[1]};
    ag_par_range(ta->numel, ta->numel, kernel, &J);
}

static ag_tensor *unary(ag_graph *g, int op, const char *name, ag_backward_fn bw, ag_range_fn kernel, ag_tensor *a,
                        float p0, float p1) {
    ag_check_f32(name, a);
    ag_tensor *out = ag_new(g, AG_F32, a->ndim, a->shape);
    un_job J = {.x = ag_f32(a), .y = ag_f32(out), .p0 = p0, .p1 = p1};
    ag_par_range(a->numel, a->numel, kernel, &J);
    ag_node *nd = ag_record(g, op, bw, out, 1, &a);
    if (nd) {
        nd->fp[0] = p0;
        nd->fp[1] = p1;
    }
    return out;
}

/* Per op: forward and backward range kernels with the op constant, the backward node function,
 * and the public entry point `fn(g, a, ARGS)` passing parameters P0, P1. */
#define UNARY_KERNELS(name, OP)                                                                    \
    static void name##_fwd(void *j, int64_t lo, int64_t hi, int t) {                               \
        (void)t;                                                                                   \
        unary_forward_range(OP, j, lo, hi);                                                        \
    }                                                                                              \
    static void name##_bwd(void *j, int64_t lo, int64_t hi, int t) {                               \
        (void)t;                                                                                   \
        unary_backward_range(OP, j, lo, hi);                                                       \
    }                                                                                              \
    static void name##_backward(ag_graph *g, ag_node *n) { unary_backward(g, n, name##_bwd); }

#define UNARY_OP(fn, OP, name)                                                                     \
    UNARY_KERNELS(name, OP)                                                                        \
    ag_tensor *fn(ag_graph *g, ag_tensor *a) { return unary(g, OP, #fn, name##_backward, name##_fwd, a, 0.0f, 0.0f); }

UNARY_OP(ag_neg, AG_OP_NEG, neg)
UNARY_OP(ag_exp, AG_OP_EXP, exp)
UNARY_OP(ag_log, AG_OP_LOG, log)
UNARY_OP(ag_sqrt, AG_OP_SQRT, sqrt)
UNARY_OP(ag_tanh, AG_OP_TANH, tanh)
UNARY_OP(ag_sigmoid, AG_OP_SIGMOID, sigmoid)
UNARY_OP(ag_log_sigmoid, AG_OP_LOG_SIGMOID, log_sigmoid)
UNARY_OP(ag_relu, AG_OP_RELU, relu)
UNARY_OP(ag_gelu, AG_OP_GELU_TANH, gelu)
UNARY_OP(ag_gelu_erf, AG_OP_GELU_ERF, gelu_erf)
UNARY_OP(ag_silu, AG_OP_SILU, silu)

UNARY_KERNELS(add_scalar, AG_OP_ADD_SCALAR)
UNARY_KERNELS(mul_scalar, AG_OP_MUL_SCALAR)
UNARY_KERNELS(pow, AG_OP_POW)
UNARY_KERNELS(clamp, AG_OP_CLAMP)

ag_tensor *ag_add_scalar(ag_graph *g, ag_tensor *a, float s) {
    return unary(g, AG_OP_ADD_SCALAR, "ag_add_scalar", add_scalar_backward, add_scalar_fwd, a, s, 0.0f);
}
ag_tensor *ag_mul_scalar(ag_graph *g, ag_tensor *a, float s) {
    return unary(g, AG_OP_MUL_SCALAR, "ag_mul_scalar", mul_scalar_backward, mul_scalar_fwd, a, s, 0.0f);
}
ag_tensor *ag_pow(ag_graph *g, ag_tensor *a, float p) { return unary(g, AG_OP_POW, "ag_pow", pow_backward, pow_fwd, a, p, 0.0f); }
ag_tensor *ag_clamp(ag_graph *g, ag_tensor *a, float lo, float hi) {
    AG_CHECK(lo <= hi, "ag_clamp", "lo %g > hi %g", (double)lo, (double)hi);
    return unary(g, AG_OP_CLAMP, "ag_clamp", clamp_backward, clamp_fwd, a, lo, hi);
}

/* ---------------------------------------------------------------------------------------------
 * masked_fill: out = mask != 0 ? value : x; mask i32 broadcast to x's shape. dx = dout [mask == 0].
 * --------------------------------------------------------------------------------------------- */
/* Visits every element i of x with the matching mask index k; BODY uses i and k. */
#define MASK_LOOP(p, BODY)                                                                         \
    do {                                                                                           \
        int64_t n_ = (p)->n, m_ = (p)->inner;                                                      \
        if ((p)->kind == BC_SAME) {                                                                \
            AG_PAR_FOR(i, n_, n_, const int64_t k = i; BODY;);                                        \
        } else if ((p)->kind == BC_ROW_B) {                                                        \
            AG_PAR_FOR(i, n_, n_, const int64_t k = i % m_; BODY;);                                   \
        } else if ((p)->kind == BC_COL_B) {                                                        \
            AG_PAR_FOR(i, n_, n_, const int64_t k = i / m_; BODY;);                                   \
        } else {                                                                                   \
            const int64_t *sh = (p)->shape, *sb = (p)->sb;                                         \
            int64_t i = 0;                                                                         \
            for (int64_t i0 = 0; i0 < sh[0]; i0++)                                                 \
                for (int64_t i1 = 0; i1 < sh[1]; i1++)                                             \
                    for (int64_t i2 = 0; i2 < sh[2]; i2++)                                         \
                        for (int64_t i3 = 0; i3 < sh[3]; i3++, i++) {                              \
                            const int64_t k = i0 * sb[0] + i1 * sb[1] + i2 * sb[2] + i3 * sb[3];   \
                            BODY;                                                                  \
                        }                                                                          \
        }                                                                                          \
    } while (0)

static void mask_plan(const ag_tensor *x, const ag_tensor *mask, bcast *p) {
    int ndim;
    int64_t shape[AG_MAX_DIMS];
    bcast_shape("ag_masked_fill", x, mask, &ndim, shape);
    bool ok = ndim == x->ndim;
    for (int i = 0; ok && i < ndim; i++) ok = shape[i] == x->shape[i];
    if (!ok) {
        char sx[96], sm[96];
        AG_CHECK(false, "ag_masked_fill", "mask %s does not broadcast to x %s", ag_shape_str(mask, sm, sizeof sm),
                 ag_shape_str(x, sx, sizeof sx));
    }
    /* x has the output's shape, so the plan is BC_SAME, BC_ROW_B, BC_COL_B (mask repeats) or BC_GENERAL. */
    bcast_plan(x, mask, ndim, shape, x->numel, p);
}

static void masked_fill_backward(ag_graph *g, ag_node *nd) {
    ag_tensor *tx = nd->in[0], *tm = nd->in[1];
    const float *dout = nd->out->grad; /* [n] */
    const int32_t *mask = ag_i32(tm);  /* broadcast to [n] */
    float *dx = ag_grad(g, tx);        /* [n] */
    bcast p;
    mask_plan(tx, tm, &p);
    MASK_LOOP(&p, if (!mask[k]) dx[i] += dout[i]);
}

ag_tensor *ag_masked_fill(ag_graph *g, ag_tensor *x, ag_tensor *mask, float value) {
    ag_check_f32("ag_masked_fill", x);
    AG_CHECK(mask->dtype == AG_I32, "ag_masked_fill", "mask must be i32");
    bcast p;
    mask_plan(x, mask, &p);
    ag_tensor *out = ag_new(g, AG_F32, x->ndim, x->shape);
    const float *xv = ag_f32(x);      /* [n] */
    const int32_t *m = ag_i32(mask);  /* broadcast to [n] */
    float *y = ag_f32(out);           /* [n] */
    MASK_LOOP(&p, y[i] = m[k] ? value : xv[i]);
    ag_node *nd = ag_record(g, AG_OP_MASKED_FILL, masked_fill_backward, out, 2, (ag_tensor *[]){x, mask});
    if (nd) nd->fp[0] = value;
    return out;
}
