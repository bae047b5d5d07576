/* test_ops_elementwise.c — add/sub/mul/div (broadcasting), scalar and unary ops, masked_fill:
 * finite-difference gradchecks, PyTorch reference values, and the OpenMP paths vs plain loops. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ag.h"
#include "tests/support/test_util.h"

#define GC_TOL 1e-2
#define REF_TOL 1e-5

/* ---- helpers ------------------------------------------------------------------------------- */

/* Moves every value at least `margin` away from `point` (keeps finite differences off kinks). */
static void avoid(ag_tensor *t, float point, float margin) {
    float *x = ag_f32(t);
    for (int64_t i = 0; i < t->numel; i++)
        if (fabsf(x[i] - point) < margin) x[i] = x[i] >= point ? point + margin : point - margin;
}

typedef ag_tensor *(*binop_fn)(ag_graph *, ag_tensor *, ag_tensor *);

typedef struct {
    int op;           /* ag_op id */
    float p0, p1;     /* scalar parameters */
    ag_tensor *mask;  /* masked_fill's mask (heap, i32) */
} op_ctx;

static binop_fn binop_of(int op) {
    switch (op) {
    case AG_OP_ADD: return ag_add;
    case AG_OP_SUB: return ag_sub;
    case AG_OP_MUL: return ag_mul;
    default: return ag_div;
    }
}

static ag_tensor *apply_unary(ag_graph *g, const op_ctx *c, ag_tensor *x) {
    switch (c->op) {
    case AG_OP_ADD_SCALAR: return ag_add_scalar(g, x, c->p0);
    case AG_OP_MUL_SCALAR: return ag_mul_scalar(g, x, c->p0);
    case AG_OP_NEG: return ag_neg(g, x);
    case AG_OP_EXP: return ag_exp(g, x);
    case AG_OP_LOG: return ag_log(g, x);
    case AG_OP_SQRT: return ag_sqrt(g, x);
    case AG_OP_POW: return ag_pow(g, x, c->p0);
    case AG_OP_TANH: return ag_tanh(g, x);
    case AG_OP_SIGMOID: return ag_sigmoid(g, x);
    case AG_OP_LOG_SIGMOID: return ag_log_sigmoid(g, x);
    case AG_OP_RELU: return ag_relu(g, x);
    case AG_OP_GELU_TANH: return ag_gelu(g, x);
    case AG_OP_GELU_ERF: return ag_gelu_erf(g, x);
    case AG_OP_SILU: return ag_silu(g, x);
    case AG_OP_CLAMP: return ag_clamp(g, x, c->p0, c->p1);
    case AG_OP_MASKED_FILL: return ag_masked_fill(g, x, c->mask, c->p0);
    default: fail_msg("unknown op %d", c->op);
    }
    return NULL;
}

static ag_tensor *build_binary(ag_graph *g, ag_tensor *const *in, void *ctx) {
    return binop_of(((op_ctx *)ctx)->op)(g, in[0], in[1]);
}

static ag_tensor *build_unary(ag_graph *g, ag_tensor *const *in, void *ctx) { return apply_unary(g, ctx, in[0]); }

/* ---- gradchecks ---------------------------------------------------------------------------- */

typedef struct {
    int na, nb;
    int64_t sa[4], sb[4];
} shape_pair;

static const shape_pair BIN_SHAPES[] = {
    {2, 2, {3, 4}, {3, 4}},             /* same shape */
    {2, 1, {3, 4}, {4}},                /* row vector b */
    {1, 2, {4}, {3, 4}},                /* row vector a */
    {3, 2, {2, 3, 4}, {3, 4}},          /* multi-dim suffix */
    {2, 2, {1, 4}, {3, 4}},             /* leading size-1 dim on a */
    {2, 2, {3, 1}, {1, 4}},             /* both broadcast (outer product) */
    {3, 2, {2, 1, 4}, {3, 1}},          /* general, different ranks */
    {4, 3, {2, 3, 1, 4}, {3, 2, 1}},    /* 4-D general */
    {3, 3, {2, 1, 3}, {2, 1, 3}},       /* size-1 dim, same shape */
    {2, 0, {3, 4}, {0}},                /* 0-d scalar b */
    {1, 2, {1}, {2, 3}},                /* 1-element a */
    {2, 2, {3, 4}, {3, 1}},             /* column b */
    {3, 3, {2, 3, 1}, {2, 3, 4}},       /* column a */
    {3, 3, {2, 3, 4}, {2, 1, 1}},       /* column b repeating over two dims */
    {3, 2, {2, 3, 4}, {3, 1}},          /* column-like but with a broadcast leading dim: general */
};

static void test_gradcheck_binary(void **state) {
    (void)state;
    const int ops[] = {AG_OP_ADD, AG_OP_SUB, AG_OP_MUL, AG_OP_DIV};
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
        for (size_t s = 0; s < sizeof BIN_SHAPES / sizeof BIN_SHAPES[0]; s++) {
            const shape_pair *sp = &BIN_SHAPES[s];
            ag_tensor *a = tu_param_uniform(sp->na, sp->sa, 10 + s, -1.5f, 1.5f);
            /* b stays positive and away from 0 so division is smooth */
            ag_tensor *b = tu_param_uniform(sp->nb, sp->sb, 20 + s, 0.5f, 2.0f);
            op_ctx c = {.op = ops[k]};
            char label[64];
            snprintf(label, sizeof label, "%s shapes#%zu", ag_op_name(ops[k]), s);
            tu_gradcheck(label, build_binary, &c, 2, (ag_tensor *[]){a, b}, GC_TOL);
            ag_tensor_free(a);
            ag_tensor_free(b);
        }
    }
}

/* One operand without AG_REQUIRES_GRAD: its grad must stay untouched, the other's still right. */
static void test_gradcheck_binary_one_side(void **state) {
    (void)state;
    ag_tensor *a = tu_param_uniform(AG_SHAPE(3, 4), 1, -1, 1);
    ag_tensor *b = tu_param_uniform(AG_SHAPE(4), 2, 0.5f, 2);
    b->flags &= ~(uint32_t)AG_REQUIRES_GRAD;
    op_ctx c = {.op = AG_OP_MUL};
    tu_gradcheck("mul a only", build_binary, &c, 2, (ag_tensor *[]){a, b}, GC_TOL);
    assert_null(b->grad);
    c.op = AG_OP_DIV;
    tu_gradcheck("div b only", build_binary, &c, 2, (ag_tensor *[]){b, a}, GC_TOL);
    /* the same tensor on both sides: both grads land in one buffer */
    const int ops[] = {AG_OP_ADD, AG_OP_SUB, AG_OP_MUL};
    for (int k = 0; k < 3; k++) {
        c.op = ops[k];
        char label[64];
        snprintf(label, sizeof label, "%s(a, a)", ag_op_name(ops[k]));
        tu_gradcheck(label, build_binary, &c, 2, (ag_tensor *[]){a, a}, GC_TOL);
    }
    ag_tensor_free(a);
    ag_tensor_free(b);
}

typedef struct {
    op_ctx c;
    float lo, hi;       /* input range */
    float kink[2];      /* points to keep away from (NAN = none) */
} unary_case;

static void test_gradcheck_unary(void **state) {
    (void)state;
    const unary_case cases[] = {
        {{AG_OP_ADD_SCALAR, 0.75f, 0, NULL}, -2, 2, {NAN, NAN}},
        {{AG_OP_MUL_SCALAR, -1.5f, 0, NULL}, -2, 2, {NAN, NAN}},
        {{AG_OP_NEG, 0, 0, NULL}, -2, 2, {NAN, NAN}},
        {{AG_OP_EXP, 0, 0, NULL}, -2, 2, {NAN, NAN}},
        {{AG_OP_LOG, 0, 0, NULL}, 0.3f, 3, {NAN, NAN}},
        {{AG_OP_SQRT, 0, 0, NULL}, 0.3f, 3, {NAN, NAN}},
        {{AG_OP_POW, 2.0f, 0, NULL}, -2, 2, {NAN, NAN}},
        {{AG_OP_POW, 3.0f, 0, NULL}, -1.5f, 1.5f, {NAN, NAN}},
        {{AG_OP_POW, 0.5f, 0, NULL}, 0.3f, 3, {NAN, NAN}},
        {{AG_OP_POW, -1.5f, 0, NULL}, 0.5f, 3, {NAN, NAN}},
        {{AG_OP_TANH, 0, 0, NULL}, -3, 3, {NAN, NAN}},
        {{AG_OP_SIGMOID, 0, 0, NULL}, -5, 5, {NAN, NAN}},
        {{AG_OP_LOG_SIGMOID, 0, 0, NULL}, -8, 8, {NAN, NAN}},
        {{AG_OP_RELU, 0, 0, NULL}, -2, 2, {0.0f, NAN}},
        {{AG_OP_GELU_TANH, 0, 0, NULL}, -3, 3, {NAN, NAN}},
        {{AG_OP_GELU_ERF, 0, 0, NULL}, -3, 3, {NAN, NAN}},
        {{AG_OP_SILU, 0, 0, NULL}, -4, 4, {NAN, NAN}},
        {{AG_OP_CLAMP, -0.5f, 0.8f, NULL}, -2, 2, {-0.5f, 0.8f}},
    };
    const int64_t shapes[][4] = {{3, 4}, {2, 1, 3}, {2, 2, 1, 3}};
    const int ndims[] = {2, 3, 4};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        for (int s = 0; s < 3; s++) {
            ag_tensor *x = tu_param_uniform(ndims[s], shapes[s], 100 + k * 3 + s, cases[k].lo, cases[k].hi);
            for (int j = 0; j < 2; j++)
                if (!isnan(cases[k].kink[j])) avoid(x, cases[k].kink[j], 0.02f);
            char label[64];
            snprintf(label, sizeof label, "%s(p=%g) %d-D", ag_op_name(cases[k].c.op), (double)cases[k].c.p0, ndims[s]);
            op_ctx c = cases[k].c;
            tu_gradcheck(label, build_unary, &c, 1, &x, GC_TOL);
            ag_tensor_free(x);
        }
    }
}

static void test_gradcheck_masked_fill(void **state) {
    (void)state;
    {   /* 3-D x with a mask [2, 1, 4] (neither row nor column: the general path) and [2, 3, 1] */
        ag_tensor *x = tu_param_uniform(AG_SHAPE(2, 3, 4), 299, -2, 2);
        ag_tensor *m1 = ag_tensor_alloc(AG_I32, AG_SHAPE(2, 1, 4));
        ag_tensor *m2 = ag_tensor_alloc(AG_I32, AG_SHAPE(2, 3, 1));
        for (int64_t i = 0; i < 8; i++) ag_i32(m1)[i] = (int32_t)(i % 3 == 1);
        for (int64_t i = 0; i < 6; i++) ag_i32(m2)[i] = (int32_t)(i % 2);
        op_ctx c = {.op = AG_OP_MASKED_FILL, .p0 = 5.0f, .mask = m1};
        tu_gradcheck("masked_fill mask [2,1,4]", build_unary, &c, 1, &x, GC_TOL);
        c.mask = m2;
        tu_gradcheck("masked_fill mask [2,3,1]", build_unary, &c, 1, &x, GC_TOL);
        ag_graph *g = ag_graph_new(0);
        ag_tensor *y1 = ag_masked_fill(g, x, m1, 5.0f), *y2 = ag_masked_fill(g, x, m2, 5.0f);
        for (int64_t i = 0; i < 2; i++)
            for (int64_t r = 0; r < 3; r++)
                for (int64_t j = 0; j < 4; j++) {
                    int64_t k = (i * 3 + r) * 4 + j;
                    assert_true(ag_f32(y1)[k] == (ag_i32(m1)[i * 4 + j] ? 5.0f : ag_f32(x)[k]));
                    assert_true(ag_f32(y2)[k] == (ag_i32(m2)[i * 3 + r] ? 5.0f : ag_f32(x)[k]));
                }
        ag_graph_free(g);
        ag_tensor_free(x);
        ag_tensor_free(m1);
        ag_tensor_free(m2);
    }
    /* mask shapes: same as x, row [4], column [3, 1], scalar */
    const int mnd[] = {2, 1, 2, 0};
    const int64_t msh[][2] = {{3, 4}, {4, 0}, {3, 1}, {0, 0}};
    for (int s = 0; s < 4; s++) {
        ag_tensor *mask = ag_tensor_alloc(AG_I32, mnd[s], msh[s]);
        for (int64_t i = 0; i < mask->numel; i++) ag_i32(mask)[i] = (int32_t)((i * 7 + s) % 3 == 0);
        ag_tensor *x = tu_param_uniform(AG_SHAPE(3, 4), 300 + s, -2, 2);
        op_ctx c = {.op = AG_OP_MASKED_FILL, .p0 = -3.0f, .mask = mask};
        char label[64];
        snprintf(label, sizeof label, "masked_fill mask#%d", s);
        tu_gradcheck(label, build_unary, &c, 1, &x, GC_TOL);
        /* forward: filled where mask != 0 */
        ag_graph *g = ag_graph_new(0);
        ag_tensor *y = ag_masked_fill(g, x, mask, -3.0f);
        int64_t cols_m = mnd[s] == 0 ? 1 : msh[s][mnd[s] - 1];
        for (int64_t r = 0; r < 3; r++)
            for (int64_t j = 0; j < 4; j++) {
                int64_t k = mnd[s] == 0 ? 0 : mnd[s] == 1 ? j : (cols_m == 1 ? r : r * 4 + j);
                float want = ag_i32(mask)[k] ? -3.0f : ag_f32(x)[r * 4 + j];
                assert_true(ag_f32(y)[r * 4 + j] == want);
            }
        ag_graph_free(g);
        ag_tensor_free(x);
        ag_tensor_free(mask);
    }
}

/* ---- PyTorch references ---------------------------------------------------------------------- */

static ag_tensor *fx_leaf(ag_graph *g, const tu_fixture *fx, const char *name) {
    int nd;
    int64_t sh[AG_MAX_DIMS];
    const float *v = tu_fixture_get(fx, name, &nd, sh);
    return ag_leaf(g, nd, sh, v);
}

/* Compares out with <name>.out, backprops <name>.w, compares a's (and b's) grads. */
static void check_ref(const tu_fixture *fx, const char *name, ag_graph *g, ag_tensor *out, ag_tensor *a, ag_tensor *b) {
    char key[128], label[160];
    int nd;
    int64_t sh[AG_MAX_DIMS];
    snprintf(key, sizeof key, "%s.out", name);
    const float *want = tu_fixture_get(fx, key, &nd, sh);
    assert_int_equal(nd, out->ndim);
    for (int i = 0; i < nd; i++) assert_int_equal(sh[i], out->shape[i]);
    snprintf(label, sizeof label, "%s forward", name);
    tu_assert_close(label, ag_f32(out), want, out->numel, REF_TOL);
    snprintf(key, sizeof key, "%s.w", name);
    ag_backward_seed(g, out, tu_fixture_get(fx, key, NULL, NULL));
    ag_tensor *ins[2] = {a, b};
    for (int k = 0; k < 2; k++) {
        if (!ins[k]) continue;
        snprintf(key, sizeof key, "%s.d%c", name, "ab"[k]);
        snprintf(label, sizeof label, "%s grad %c", name, "ab"[k]);
        assert_non_null(ins[k]->grad);
        tu_assert_close(label, ins[k]->grad, tu_fixture_get(fx, key, NULL, NULL), ins[k]->numel, REF_TOL);
    }
}

static void test_reference_binary(void **state) {
    (void)state;
    tu_fixture *fx = tu_fixture_load("tests/fixtures/ops_basic.txt");
    const char *ops[] = {"add", "sub", "mul", "div"};
    const int ids[] = {AG_OP_ADD, AG_OP_SUB, AG_OP_MUL, AG_OP_DIV};
    const char *cases[] = {"same", "row", "rowa", "col", "gen4", "s0d"};
    ag_graph *g = ag_graph_new(0);
    for (int k = 0; k < 4; k++)
        for (int s = 0; s < 6; s++) {
            char name[64], key[96];
            snprintf(name, sizeof name, "%s_%s", ops[k], cases[s]);
            snprintf(key, sizeof key, "%s.a", name);
            ag_tensor *a = fx_leaf(g, fx, key);
            snprintf(key, sizeof key, "%s.b", name);
            ag_tensor *b = fx_leaf(g, fx, key);
            ag_tensor *out = binop_of(ids[k])(g, a, b);
            check_ref(fx, name, g, out, a, b);
            ag_graph_reset(g);
        }
    ag_graph_free(g);
    tu_fixture_free(fx);
}

static void test_reference_unary(void **state) {
    (void)state;
    tu_fixture *fx = tu_fixture_load("tests/fixtures/ops_basic.txt");
    struct {
        const char *name;
        op_ctx c;
    } cases[] = {
        {"add_scalar", {AG_OP_ADD_SCALAR, 0.75f, 0, NULL}}, {"mul_scalar", {AG_OP_MUL_SCALAR, -1.5f, 0, NULL}},
        {"neg", {AG_OP_NEG, 0, 0, NULL}},                   {"exp", {AG_OP_EXP, 0, 0, NULL}},
        {"log", {AG_OP_LOG, 0, 0, NULL}},                   {"sqrt", {AG_OP_SQRT, 0, 0, NULL}},
        {"pow", {AG_OP_POW, 2.5f, 0, NULL}},                {"pow_neg", {AG_OP_POW, -1.5f, 0, NULL}},
        {"tanh", {AG_OP_TANH, 0, 0, NULL}},                 {"sigmoid", {AG_OP_SIGMOID, 0, 0, NULL}},
        {"sigmoid_wide", {AG_OP_SIGMOID, 0, 0, NULL}},      {"log_sigmoid", {AG_OP_LOG_SIGMOID, 0, 0, NULL}},
        {"log_sigmoid_wide", {AG_OP_LOG_SIGMOID, 0, 0, NULL}}, {"relu", {AG_OP_RELU, 0, 0, NULL}},
        {"gelu", {AG_OP_GELU_TANH, 0, 0, NULL}},            {"gelu_erf", {AG_OP_GELU_ERF, 0, 0, NULL}},
        {"silu", {AG_OP_SILU, 0, 0, NULL}},                 {"clamp", {AG_OP_CLAMP, -0.5f, 0.8f, NULL}},
        {"masked_fill", {AG_OP_MASKED_FILL, -7.0f, 0, NULL}},
    };
    /* masked_fill's mask comes from the fixture as 0/1 floats */
    int nd;
    int64_t sh[AG_MAX_DIMS];
    const float *mv = tu_fixture_get(fx, "masked_fill.mask", &nd, sh);
    ag_tensor *mask = ag_tensor_alloc(AG_I32, nd, sh);
    for (int64_t i = 0; i < mask->numel; i++) ag_i32(mask)[i] = mv[i] != 0.0f;
    ag_graph *g = ag_graph_new(0);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char key[96];
        snprintf(key, sizeof key, "%s.a", cases[k].name);
        ag_tensor *x = fx_leaf(g, fx, key);
        cases[k].c.mask = mask;
        ag_tensor *out = apply_unary(g, &cases[k].c, x);
        check_ref(fx, cases[k].name, g, out, x, NULL);
        ag_graph_reset(g);
    }
    ag_graph_free(g);
    ag_tensor_free(mask);
    tu_fixture_free(fx);
}

/* ---- large tensors (OpenMP paths) against plain loops ------------------------------------------ */

static void test_parallel_paths(void **state) {
    (void)state;
    const int64_t N = 300, D = 160; /* 48,000 elements > AG_PAR_THRESHOLD */
    ag_graph *g = ag_graph_new(0);
    ag_tensor *a = ag_leaf(g, AG_SHAPE(N, D), NULL);
    ag_tensor *b = ag_leaf(g, AG_SHAPE(D), NULL);
    ag_tensor *c = ag_leaf(g, AG_SHAPE(N, D), NULL);
    ag_tensor *s = ag_leaf(g, AG_SHAPE(1), NULL);
    ag_tensor *col = ag_leaf(g, AG_SHAPE(N, 1), NULL);
    tu_fill_uniform(a, 1, -1, 1);
    tu_fill_uniform(b, 2, 0.5f, 1.5f);
    tu_fill_uniform(c, 3, -1, 1);
    tu_fill_uniform(col, 4, -1, 1);
    ag_f32(s)[0] = 0.7f;
    /* y = tanh(col * ((a * b + c) / s)): row broadcast, same shape, scalar, column (as a), unary */
    ag_tensor *y = ag_tanh(g, ag_mul(g, col, ag_div(g, ag_add(g, ag_mul(g, a, b), c), s)));
    float *w = base_xmalloc((size_t)(N * D) * sizeof(float));
    base_rng r;
    base_rng_seed(&r, 9);
    for (int64_t i = 0; i < N * D; i++) w[i] = base_rng_uniform(&r) - 0.5f;
    ag_backward_seed(g, y, w);
    const float *A = ag_f32(a), *B = ag_f32(b), *C = ag_f32(c), S = ag_f32(s)[0], *L = ag_f32(col);
    double *db = calloc((size_t)D, sizeof(double));
    double ds = 0;
    for (int64_t i = 0; i < N; i++) {
        double dcol = 0;
        for (int64_t j = 0; j < D; j++) {
            int64_t k = i * D + j;
            double u = ((double)A[k] * B[j] + C[k]) / S, t = tanh(L[i] * u);
            assert_true(fabs(ag_f32(y)[k] - t) < 1e-5);
            double dv = w[k] * (1 - t * t), du = dv * L[i];
            dcol += dv * u;
            assert_true(fabs(a->grad[k] - du / S * B[j]) < 1e-4);
            assert_true(fabs(c->grad[k] - du / S) < 1e-4);
            db[j] += du / S * A[k];
            ds += -du * u / S;
        }
        assert_true(fabs(col->grad[i] - dcol) < 1e-3 * fmax(1, fabs(dcol)));
    }
    for (int64_t j = 0; j < D; j++) assert_true(fabs(b->grad[j] - db[j]) < 1e-3 * fmax(1, fabs(db[j])));
    assert_true(fabs(s->grad[0] - ds) < 1e-3 * fmax(1, fabs(ds)));
    /* the mirrored patterns: z = (b - a) + (s - a) + a * col — row and scalar broadcasting on the
     * left operand, column broadcasting on the right */
    a->grad = b->grad = s->grad = col->grad = NULL;
    ag_tensor *z = ag_add(g, ag_add(g, ag_sub(g, b, a), ag_sub(g, s, a)), ag_mul(g, a, col));
    ag_backward_seed(g, z, w);
    double dsum = 0;
    for (int64_t j = 0; j < D; j++) db[j] = 0;
    for (int64_t i = 0; i < N; i++) {
        double dcol = 0;
        for (int64_t j = 0; j < D; j++) {
            int64_t k = i * D + j;
            double want = (double)B[j] - A[k] + S - A[k] + (double)A[k] * L[i];
            assert_true(fabs(ag_f32(z)[k] - want) < 1e-5);
            assert_true(fabs(a->grad[k] - w[k] * (L[i] - 2.0)) < 1e-5);
            db[j] += w[k];
            dsum += w[k];
            dcol += (double)w[k] * A[k];
        }
        assert_true(fabs(col->grad[i] - dcol) < 1e-4 * fmax(1, fabs(dcol)));
    }
    for (int64_t j = 0; j < D; j++) assert_true(fabs(b->grad[j] - db[j]) < 1e-4 * fmax(1, fabs(db[j])));
    assert_true(fabs(s->grad[0] - dsum) < 1e-4 * fmax(1, fabs(dsum)));
    free(db);
    free(w);
    ag_graph_free(g);
}

/* Extreme inputs: log_sigmoid and sigmoid stay finite and exact-ish where naive forms overflow. */
static void test_stability(void **state) {
    (void)state;
    ag_graph *g = ag_graph_new(0);
    const float v[] = {-200.0f, -90.0f, 0.0f, 90.0f, 200.0f};
    ag_tensor *x = ag_leaf(g, AG_SHAPE(5), v);
    ag_tensor *ls = ag_log_sigmoid(g, x), *sg = ag_sigmoid(g, x);
    ag_backward(g, ag_sum(g, ag_add(g, ls, sg), AG_ALL_AXES, false));
    for (int i = 0; i < 5; i++) {
        assert_true(isfinite(ag_f32(ls)[i]) && isfinite(ag_f32(sg)[i]) && isfinite(x->grad[i]));
    }
    assert_true(fabsf(ag_f32(ls)[0] + 200.0f) < 1e-3f);
    assert_true(fabsf(ag_f32(ls)[2] + logf(2.0f)) < 1e-6f);
    assert_true(ag_f32(sg)[0] == 0.0f && ag_f32(sg)[4] == 1.0f);
    assert_true(fabsf(x->grad[0] - 1.0f) < 1e-6f); /* d log σ / dx → 1 as x → -∞ */
    ag_graph_free(g);
}

/* Nothing requires grad, or no_grad is open: no node is recorded. */
static void test_no_record(void **state) {
    (void)state;
    ag_graph *g = ag_graph_new(0);
    ag_tensor *a = ag_from_f32(g, AG_SHAPE(2), (const float[]){1, 2});
    ag_tensor *y = ag_exp(g, ag_add(g, a, a));
    assert_int_equal(ag_graph_nodes(g), 0);
    assert_false(ag_requires_grad(y));
    ag_tensor *l = ag_leaf(g, AG_SHAPE(2), (const float[]){1, 2});
    ag_no_grad_begin(g);
    ag_mul(g, l, a);
    ag_no_grad_end(g);
    assert_int_equal(ag_graph_nodes(g), 0);
    ag_mul(g, l, a);
    assert_int_equal(ag_graph_nodes(g), 1);
    ag_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradcheck_binary),
        cmocka_unit_test(test_gradcheck_binary_one_side),
        cmocka_unit_test(test_gradcheck_unary),
        cmocka_unit_test(test_gradcheck_masked_fill),
        cmocka_unit_test(test_reference_binary),
        cmocka_unit_test(test_reference_unary),
        cmocka_unit_test(test_parallel_paths),
        cmocka_unit_test(test_stability),
        cmocka_unit_test(test_no_record),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
