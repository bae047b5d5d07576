/* test_ops_reduce.c — sum/mean/max over every axis (negative too), keepdim on/off and all elements:
 * gradchecks, PyTorch reference values, shapes, and the OpenMP paths against plain loops. */
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

typedef struct {
    int op; /* AG_OP_SUM, AG_OP_MEAN, AG_OP_MAX */
    int axis;
    bool keepdim;
} red_ctx;

static ag_tensor *reduce(ag_graph *g, const red_ctx *c, ag_tensor *x) {
    switch (c->op) {
    case AG_OP_SUM: return ag_sum(g, x, c->axis, c->keepdim);
    case AG_OP_MEAN: return ag_mean(g, x, c->axis, c->keepdim);
    default: return ag_max(g, x, c->axis, c->keepdim);
    }
}

static ag_tensor *build_red(ag_graph *g, ag_tensor *const *in, void *ctx) { return reduce(g, ctx, in[0]); }

/* Distinct values spaced ≥ 0.05 apart (a shuffled ramp), so max has no near-ties within ±eps. */
static ag_tensor *ramp_input(int ndim, const int64_t *shape, uint64_t seed) {
    ag_tensor *t = ag_tensor_alloc(AG_F32, ndim, shape);
    t->flags |= AG_REQUIRES_GRAD;
    float *x = ag_f32(t);
    for (int64_t i = 0; i < t->numel; i++) x[i] = -1.0f + 0.05f * (float)i;
    base_rng r;
    base_rng_seed(&r, seed);
    for (int64_t i = t->numel - 1; i > 0; i--) {
        int64_t j = base_rng_below(&r, (uint32_t)(i + 1));
        float tmp = x[i];
        x[i] = x[j];
        x[j] = tmp;
    }
    return t;
}

static void test_gradcheck_reductions(void **state) {
    (void)state;
    const int ndims[] = {1, 2, 3, 4};
    const int64_t shapes[][4] = {{7}, {3, 5}, {2, 3, 4}, {2, 1, 3, 2}};
    const int ops[] = {AG_OP_SUM, AG_OP_MEAN, AG_OP_MAX};
    uint64_t seed = 1;
    for (int s = 0; s < 4; s++)
        for (int k = 0; k < 3; k++)
            for (int axis = -ndims[s] - 1; axis < ndims[s]; axis++)
                for (int kd = 0; kd < 2; kd++) {
                    /* axis = -ndim-1 stands for AG_ALL_AXES; the rest cover every axis both ways */
                    red_ctx c = {ops[k], axis == -ndims[s] - 1 ? AG_ALL_AXES : axis, kd};
                    ag_tensor *x = ramp_input(ndims[s], shapes[s], seed++);
                    char label[64];
                    snprintf(label, sizeof label, "%s %d-D axis %d keep %d", ag_op_name(ops[k]), ndims[s], c.axis, kd);
                    tu_gradcheck(label, build_red, &c, 1, &x, GC_TOL);
                    ag_tensor_free(x);
                }
}

static void test_shapes(void **state) {
    (void)state;
    ag_graph *g = ag_graph_new(0);
    ag_tensor *x = ag_zeros(g, AG_F32, AG_SHAPE(2, 3, 4));
    ag_tensor *y = ag_sum(g, x, -2, false);
    assert_int_equal(y->ndim, 2);
    assert_int_equal(y->shape[0], 2);
    assert_int_equal(y->shape[1], 4);
    y = ag_mean(g, x, 1, true);
    assert_int_equal(y->ndim, 3);
    assert_int_equal(y->shape[1], 1);
    y = ag_max(g, x, AG_ALL_AXES, false);
    assert_int_equal(y->ndim, 0);
    assert_int_equal(y->numel, 1);
    y = ag_sum(g, x, AG_ALL_AXES, true);
    assert_int_equal(y->ndim, 3);
    assert_int_equal(y->numel, 1);
    ag_graph_free(g);
}

/* max's grad goes to the first argmax when values tie exactly. */
static void test_max_ties_first(void **state) {
    (void)state;
    ag_graph *g = ag_graph_new(0);
    ag_tensor *x = ag_leaf(g, AG_SHAPE(2, 3), (const float[]){1, 5, 5, 2, 2, 0});
    ag_tensor *m = ag_max(g, x, 1, false);
    ag_backward_seed(g, m, (const float[]){1, 1});
    const float want[] = {0, 1, 0, 1, 0, 0};
    for (int i = 0; i < 6; i++) assert_true(x->grad[i] == want[i]);
    ag_graph_reset(g);
    x = ag_leaf(g, AG_SHAPE(2, 2), (const float[]){3, 1, 3, 3});
    ag_backward(g, ag_max(g, x, AG_ALL_AXES, false));
    assert_true(x->grad[0] == 1 && x->grad[1] == 0 && x->grad[2] == 0 && x->grad[3] == 0);
    ag_graph_free(g);
}

static void test_reference(void **state) {
    (void)state;
    tu_fixture *fx = tu_fixture_load("tests/fixtures/ops_basic.txt");
    const char *names[] = {"sum", "mean", "max"};
    const int ops[] = {AG_OP_SUM, AG_OP_MEAN, AG_OP_MAX};
    ag_graph *g = ag_graph_new(0);
    for (int k = 0; k < 3; k++)
        for (int ax = -1; ax < 3; ax++)
            for (int kd = 0; kd < 2; kd++) {
                if (ax < 0 && kd) continue;
                char name[64], key[96];
                if (ax < 0) snprintf(name, sizeof name, "%s_all", names[k]);
                else snprintf(name, sizeof name, "%s_%d_%d", names[k], ax, kd);
                snprintf(key, sizeof key, "%s.a", name);
                int nd;
                int64_t sh[4];
                const float *v = tu_fixture_get(fx, key, &nd, sh);
                ag_tensor *x = ag_leaf(g, nd, sh, v);
                /* positive axes from the fixture, tested as their negative twins on odd kd */
                red_ctx c = {ops[k], ax < 0 ? AG_ALL_AXES : (kd ? ax - 3 : ax), kd};
                ag_tensor *out = reduce(g, &c, x);
                snprintf(key, sizeof key, "%s.out", name);
                const float *want = tu_fixture_get(fx, key, &nd, sh);
                assert_int_equal(nd, out->ndim);
                for (int i = 0; i < nd; i++) assert_int_equal(sh[i], out->shape[i]);
                tu_assert_close(name, ag_f32(out), want, out->numel, REF_TOL);
                snprintf(key, sizeof key, "%s.w", name);
                ag_backward_seed(g, out, tu_fixture_get(fx, key, NULL, NULL));
                snprintf(key, sizeof key, "%s.da", name);
                tu_assert_close(key, x->grad, tu_fixture_get(fx, key, NULL, NULL), x->numel, REF_TOL);
                ag_graph_reset(g);
            }
    ag_graph_free(g);
    tu_fixture_free(fx);
}

/* Large inputs take the OpenMP paths; compare with double loops. [outer, len, inner] = [40, 30, 50]. */
static void test_parallel_paths(void **state) {
    (void)state;
    const int64_t O = 40, L = 30, I = 50;
    ag_graph *g = ag_graph_new(0);
    ag_tensor *x = ag_leaf(g, AG_SHAPE(O, L, I), NULL);
    tu_fill_uniform(x, 11, -1, 1);
    const float *X = ag_f32(x);
    for (int axis = 0; axis < 3; axis++) {
        for (int k = 0; k < 3; k++) {
            red_ctx c = {k == 0 ? AG_OP_SUM : k == 1 ? AG_OP_MEAN : AG_OP_MAX, axis, false};
            x->grad = NULL;
            ag_tensor *y = reduce(g, &c, x);
            float *seed = base_xmalloc((size_t)y->numel * sizeof(float));
            for (int64_t i = 0; i < y->numel; i++) seed[i] = (float)(i % 7) - 3.0f;
            ag_backward_seed(g, y, seed);
            int64_t outer = axis == 0 ? 1 : axis == 1 ? O : O * L, len = axis == 0 ? O : axis == 1 ? L : I;
            int64_t inner = O * L * I / (outer * len);
            for (int64_t o = 0; o < outer; o++)
                for (int64_t i = 0; i < inner; i++) {
                    double s = 0, m = -INFINITY;
                    int64_t am = 0;
                    for (int64_t l = 0; l < len; l++) {
                        double v = X[(o * len + l) * inner + i];
                        s += v;
                        if (v > m) m = v, am = l;
                    }
                    double want = c.op == AG_OP_SUM ? s : c.op == AG_OP_MEAN ? s / len : m;
                    assert_true(fabs(ag_f32(y)[o * inner + i] - want) < 1e-4);
                    double d = seed[o * inner + i];
                    for (int64_t l = 0; l < len; l++) {
                        double gw = c.op == AG_OP_SUM ? d : c.op == AG_OP_MEAN ? d / len : (l == am ? d : 0);
                        assert_true(fabs(x->grad[(o * len + l) * inner + i] - gw) < 1e-6);
                    }
                }
            free(seed);
        }
    }
    /* the whole-tensor sum (parallel reduction in double) */
    x->grad = NULL;
    ag_tensor *s = ag_sum(g, x, AG_ALL_AXES, false);
    double want = 0;
    for (int64_t i = 0; i < x->numel; i++) want += X[i];
    assert_true(fabs(ag_f32(s)[0] - want) < 1e-3);
    ag_backward(g, ag_mul_scalar(g, s, 2.0f));
    for (int64_t i = 0; i < x->numel; i++) assert_true(x->grad[i] == 2.0f);
    ag_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradcheck_reductions),
        cmocka_unit_test(test_shapes),
        cmocka_unit_test(test_max_ties_first),
        cmocka_unit_test(test_reference),
        cmocka_unit_test(test_parallel_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
