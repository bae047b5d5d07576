/* test_ops_shape.c — reshape, permute, transpose, concat (2 to 6 inputs, every axis), slice, split:
 * gradchecks, PyTorch reference values, i32 data, and the OpenMP paths against index arithmetic. */
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

/* Every build squares its result so the grad depends on which element went where. */
typedef struct {
    int kind;          /* 0 reshape, 1 permute, 2 transpose, 3 concat, 4 slice, 5 split */
    int ndim;          /* reshape target rank */
    int64_t shape[4];  /* reshape target */
    int perm[4];
    int axis, d1;
    int64_t start, len;
    int n;             /* concat inputs / split parts */
    int64_t sizes[6];  /* split sizes */
} shp_ctx;

static ag_tensor *build_shape(ag_graph *g, ag_tensor *const *in, void *ctx) {
    shp_ctx *c = ctx;
    ag_tensor *y = NULL;
    switch (c->kind) {
    case 0: y = ag_reshape(g, in[0], c->ndim, c->shape); break;
    case 1: y = ag_permute(g, in[0], c->perm); break;
    case 2: y = ag_transpose(g, in[0], c->axis, c->d1); break;
    case 3: y = ag_concat(g, c->n, in, c->axis); break;
    case 4: y = ag_slice(g, in[0], c->axis, c->start, c->len); break;
    default: { /* split, then weight the parts differently and glue them back */
        ag_tensor *parts[6];
        ag_split(g, in[0], c->axis, c->n, c->sizes, parts);
        for (int i = 0; i < c->n; i++) parts[i] = ag_mul_scalar(g, parts[i], (float)(i + 1));
        y = ag_concat(g, c->n, parts, c->axis);
        break;
    }
    }
    return ag_mul(g, y, y);
}

static void test_gradcheck_reshape_permute(void **state) {
    (void)state;
    ag_tensor *x = tu_param_uniform(AG_SHAPE(2, 3, 4), 1, -1, 1);
    shp_ctx c = {.kind = 0, .ndim = 2, .shape = {-1, 4}};
    tu_gradcheck("reshape [-1,4]", build_shape, &c, 1, &x, GC_TOL);
    c = (shp_ctx){.kind = 0, .ndim = 4, .shape = {4, 1, 3, 2}};
    tu_gradcheck("reshape [4,1,3,2]", build_shape, &c, 1, &x, GC_TOL);
    c = (shp_ctx){.kind = 0, .ndim = 1, .shape = {-1}};
    tu_gradcheck("reshape flat", build_shape, &c, 1, &x, GC_TOL);
    const int perms3[][3] = {{0, 1, 2}, {2, 0, 1}, {1, 2, 0}, {2, 1, 0}, {0, 2, 1}};
    for (int p = 0; p < 5; p++) {
        c = (shp_ctx){.kind = 1};
        memcpy(c.perm, perms3[p], sizeof perms3[p]);
        char label[64];
        snprintf(label, sizeof label, "permute3 (%d,%d,%d)", c.perm[0], c.perm[1], c.perm[2]);
        tu_gradcheck(label, build_shape, &c, 1, &x, GC_TOL);
    }
    ag_tensor *x4 = tu_param_uniform(AG_SHAPE(2, 3, 1, 4), 2, -1, 1);
    c = (shp_ctx){.kind = 1, .perm = {3, 0, 2, 1}};
    tu_gradcheck("permute4 (3,0,2,1)", build_shape, &c, 1, &x4, GC_TOL);
    c = (shp_ctx){.kind = 2, .axis = -1, .d1 = 1};
    tu_gradcheck("transpose4 (-1,1)", build_shape, &c, 1, &x4, GC_TOL);
    ag_tensor *x2 = tu_param_uniform(AG_SHAPE(3, 5), 3, -1, 1);
    c = (shp_ctx){.kind = 2, .axis = 0, .d1 = 1};
    tu_gradcheck("transpose2", build_shape, &c, 1, &x2, GC_TOL);
    ag_tensor_free(x);
    ag_tensor_free(x4);
    ag_tensor_free(x2);
}

static void test_gradcheck_concat(void **state) {
    (void)state;
    /* n = 2..6 inputs (more than AG_NODE_MAX_INPUTS uses node->ins), every axis of a 3-D shape */
    for (int n = 2; n <= 6; n++)
        for (int axis = 0; axis < 3; axis++) {
            ag_tensor *ts[6];
            for (int i = 0; i < n; i++) {
                int64_t sh[3] = {2, 3, 2};
                sh[axis] = 1 + (i % 3); /* differing sizes along the axis */
                ts[i] = tu_param_uniform(3, sh, 100 + n * 10 + i, -1, 1);
            }
            /* one input without grad: the others must still be right */
            if (n >= 3) ts[1]->flags &= ~(uint32_t)AG_REQUIRES_GRAD;
            shp_ctx c = {.kind = 3, .n = n, .axis = axis - 3 * (n % 2)}; /* negative axes on odd n */
            char label[64];
            snprintf(label, sizeof label, "concat n=%d axis=%d", n, c.axis);
            tu_gradcheck(label, build_shape, &c, n, ts, GC_TOL);
            for (int i = 0; i < n; i++) ag_tensor_free(ts[i]);
        }
}

static void test_gradcheck_slice_split(void **state) {
    (void)state;
    ag_tensor *x = tu_param_uniform(AG_SHAPE(3, 4, 5), 7, -1, 1);
    for (int axis = 0; axis < 3; axis++) {
        shp_ctx c = {.kind = 4, .axis = axis, .start = 1, .len = 2};
        char label[64];
        snprintf(label, sizeof label, "slice axis=%d [1,3)", axis);
        tu_gradcheck(label, build_shape, &c, 1, &x, GC_TOL);
        c = (shp_ctx){.kind = 4, .axis = axis - 3, .start = 0, .len = 1};
        snprintf(label, sizeof label, "slice axis=%d [0,1)", axis - 3);
        tu_gradcheck(label, build_shape, &c, 1, &x, GC_TOL);
    }
    shp_ctx c = {.kind = 5, .axis = 2, .n = 3, .sizes = {2, 1, 2}};
    tu_gradcheck("split axis=2 {2,1,2}", build_shape, &c, 1, &x, GC_TOL);
    c = (shp_ctx){.kind = 5, .axis = 0, .n = 2, .sizes = {1, 2}};
    tu_gradcheck("split axis=0 {1,2}", build_shape, &c, 1, &x, GC_TOL);
    c = (shp_ctx){.kind = 5, .axis = -2, .n = 4, .sizes = {1, 1, 1, 1}};
    tu_gradcheck("split axis=-2 4x1", build_shape, &c, 1, &x, GC_TOL);
    ag_tensor_free(x);
}

static ag_tensor *fx_leaf(ag_graph *g, const tu_fixture *fx, const char *name) {
    int nd;
    int64_t sh[AG_MAX_DIMS];
    const float *v = tu_fixture_get(fx, name, &nd, sh);
    return ag_leaf(g, nd, sh, v);
}

static void check_out(const tu_fixture *fx, const char *name, const ag_tensor *out) {
    char key[96];
    int nd;
    int64_t sh[4];
    snprintf(key, sizeof key, "%s.out", name);
    const float *want = tu_fixture_get(fx, key, &nd, sh);
    assert_int_equal(nd, out->ndim);
    for (int i = 0; i < nd; i++) assert_int_equal(sh[i], out->shape[i]);
    tu_assert_close(key, ag_f32(out), want, out->numel, REF_TOL);
}

static void check_grad(ag_graph *g, const tu_fixture *fx, const char *name, ag_tensor *out, ag_tensor *a) {
    char key[96];
    snprintf(key, sizeof key, "%s.w", name);
    ag_backward_seed(g, out, tu_fixture_get(fx, key, NULL, NULL));
    snprintf(key, sizeof key, "%s.da", name);
    tu_assert_close(key, a->grad, tu_fixture_get(fx, key, NULL, NULL), a->numel, REF_TOL);
}

static void test_reference(void **state) {
    (void)state;
    tu_fixture *fx = tu_fixture_load("tests/fixtures/ops_basic.txt");
    ag_graph *g = ag_graph_new(0);
    ag_tensor *a = fx_leaf(g, fx, "reshape.a"), *y = ag_reshape(g, a, AG_SHAPE(6, 20));
    check_out(fx, "reshape", y);
    check_grad(g, fx, "reshape", y, a);
    ag_graph_reset(g);
    a = fx_leaf(g, fx, "permute.a");
    y = ag_permute(g, a, (const int[]){2, 0, 3, 1});
    check_out(fx, "permute", y);
    check_grad(g, fx, "permute", y, a);
    ag_graph_reset(g);
    a = fx_leaf(g, fx, "transpose.a");
    y = ag_transpose(g, a, 1, 3);
    check_out(fx, "transpose", y);
    check_grad(g, fx, "transpose", y, a);
    ag_graph_reset(g);
    a = fx_leaf(g, fx, "slice.a");
    y = ag_slice(g, a, 1, 1, 2);
    check_out(fx, "slice", y);
    check_grad(g, fx, "slice", y, a);
    ag_graph_reset(g);
    ag_tensor *cs[3] = {fx_leaf(g, fx, "concat.a"), fx_leaf(g, fx, "concat.b"), fx_leaf(g, fx, "concat.c")};
    y = ag_concat(g, 3, cs, 1);
    check_out(fx, "concat", y);
    ag_graph_free(g);
    tu_fixture_free(fx);
}

/* reshape shares the input's data but keeps its own grad buffer. */
static void test_reshape_shares_data(void **state) {
    (void)state;
    ag_graph *g = ag_graph_new(0);
    ag_tensor *x = ag_leaf(g, AG_SHAPE(2, 3), (const float[]){1, 2, 3, 4, 5, 6});
    ag_tensor *y = ag_reshape(g, x, AG_SHAPE(3, -1));
    assert_int_equal(y->shape[1], 2);
    assert_ptr_equal(y->data, x->data);
    ag_backward_seed(g, y, (const float[]){1, 2, 3, 4, 5, 6});
    assert_ptr_not_equal(y->grad, x->grad);
    for (int i = 0; i < 6; i++) assert_true(x->grad[i] == (float)(i + 1));
    ag_graph_free(g);
}

/* Shape ops move i32 ids too (nothing is recorded for them). */
static void test_i32(void **state) {
    (void)state;
    ag_graph *g = ag_graph_new(0);
    ag_tensor *ids = ag_from_i32(g, AG_SHAPE(2, 3), (const int32_t[]){0, 1, 2, 3, 4, 5});
    ag_tensor *t = ag_transpose(g, ids, 0, 1);
    const int32_t want_t[] = {0, 3, 1, 4, 2, 5};
    for (int i = 0; i < 6; i++) assert_int_equal(ag_i32(t)[i], want_t[i]);
    ag_tensor *s = ag_slice(g, ids, 1, 1, 2);
    const int32_t want_s[] = {1, 2, 4, 5};
    for (int i = 0; i < 4; i++) assert_int_equal(ag_i32(s)[i], want_s[i]);
    ag_tensor *c = ag_concat(g, 2, (ag_tensor *[]){ids, s}, 1);
    const int32_t want_c[] = {0, 1, 2, 1, 2, 3, 4, 5, 4, 5};
    for (int i = 0; i < 10; i++) assert_int_equal(ag_i32(c)[i], want_c[i]);
    assert_int_equal(c->dtype, AG_I32);
    assert_int_equal(ag_graph_nodes(g), 0);
    ag_graph_free(g);
}

/* Big tensors (OpenMP paths): permute [8, 40, 30, 20] by (2, 0, 3, 1), slice, concat, checked by
 * index arithmetic, and their backward maps each grad element back to its source. */
static void test_parallel_paths(void **state) {
    (void)state;
    const int64_t A = 8, B = 40, C = 30, D = 20;
    ag_graph *g = ag_graph_new(0);
    ag_tensor *x = ag_leaf(g, AG_SHAPE(A, B, C, D), NULL);
    float *X = ag_f32(x);
    for (int64_t i = 0; i < x->numel; i++) X[i] = (float)i;
    ag_tensor *p = ag_permute(g, x, (const int[]){2, 0, 3, 1}); /* [C, A, D, B] */
    const float *P = ag_f32(p);
    for (int64_t c = 0; c < C; c++)
        for (int64_t a = 0; a < A; a++)
            for (int64_t d = 0; d < D; d++)
                for (int64_t b = 0; b < B; b++)
                    assert_true(P[((c * A + a) * D + d) * B + b] == X[((a * B + b) * C + c) * D + d]);
    /* seed = the output's own values: the grad of x must then equal x */
    ag_backward_seed(g, p, P);
    for (int64_t i = 0; i < x->numel; i++) assert_true(x->grad[i] == X[i]);
    x->grad = NULL;
    ag_tensor *s = ag_slice(g, x, 1, 5, 30);                      /* [A, 30, C, D] */
    ag_tensor *cat = ag_concat(g, 2, (ag_tensor *[]){s, x}, 1);   /* [A, 70, C, D] */
    assert_int_equal(cat->shape[1], 70);
    const float *Y = ag_f32(cat);
    for (int64_t a = 0; a < A; a++)
        for (int64_t b = 0; b < 70; b++)
            for (int64_t j = 0; j < C * D; j++) {
                float want = b < 30 ? X[(a * B + b + 5) * C * D + j] : X[(a * B + b - 30) * C * D + j];
                assert_true(Y[(a * 70 + b) * C * D + j] == want);
            }
    float *ones = base_xmalloc((size_t)cat->numel * sizeof(float));
    for (int64_t i = 0; i < cat->numel; i++) ones[i] = 1.0f;
    ag_backward_seed(g, cat, ones);
    for (int64_t a = 0; a < A; a++)
        for (int64_t b = 0; b < B; b++)
            for (int64_t j = 0; j < C * D; j++)
                assert_true(x->grad[(a * B + b) * C * D + j] == ((b >= 5 && b < 35) ? 2.0f : 1.0f));
    free(ones);
    ag_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradcheck_reshape_permute),
        cmocka_unit_test(test_gradcheck_concat),
        cmocka_unit_test(test_gradcheck_slice_split),
        cmocka_unit_test(test_reference),
        cmocka_unit_test(test_reshape_shares_data),
        cmocka_unit_test(test_i32),
        cmocka_unit_test(test_parallel_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
