/* test_core.c — the engine's core: arena, tape, grad accumulation, no_grad, fast exp. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

#include "autograd/ag.h"
#include "autograd/fast_exp.h"

#include <math.h>

static void test_arena_reset_reuses_blocks(void **state) {
    (void)state;
    ag_arena *a = ag_arena_new(4096);
    for (int i = 0; i < 100; i++) ag_arena_alloc(a, 1000);
    size_t peak = ag_arena_reserved(a);
    assert_true(peak >= 100 * 1024);
    ag_arena_reset(a);
    assert_int_equal(ag_arena_used(a), 0);
    /* After the reset, the same step reuses the chain without growing. */
    for (int i = 0; i < 100; i++) ag_arena_alloc(a, 1000);
    assert_int_equal(ag_arena_reserved(a), peak);
    void *p = ag_arena_alloc(a, 1);
    assert_int_equal((uintptr_t)p % 64, 0);
    ag_arena_free(a);
}

static void test_sparse_grad_coalesce(void **state) {
    (void)state;
    ag_tensor *w = ag_tensor_alloc(AG_F32, AG_SHAPE(5, 2));
    ag_tensor_set_param(w, true);
    int32_t rows[] = {3, 1, 3, 0};
    float vals[] = {1, 2, 3, 4, 5, 6, 7, 8};
    ag_sparse_grad_add(w, 4, rows, vals);
    ag_sparse_grad_coalesce(w->sgrad);
    assert_int_equal(w->sgrad->n, 3);
    assert_int_equal(w->sgrad->rows[0], 0);
    assert_int_equal(w->sgrad->rows[1], 1);
    assert_int_equal(w->sgrad->rows[2], 3);
    assert_true(w->sgrad->vals[4] == 6.0f && w->sgrad->vals[5] == 8.0f);
    ag_zero_grad(w);
    assert_int_equal(w->sgrad->n, 0);
    ag_tensor_free(w);
}

/* Parameter grads accumulate across backward calls until zeroed; intermediates never double count. */
static void test_grad_accumulation(void **state) {
    (void)state;
    ag_tensor *w = ag_tensor_alloc(AG_F32, AG_SHAPE(3));
    ag_tensor_set_param(w, false);
    float *wv = ag_f32(w);
    wv[0] = 1, wv[1] = 2, wv[2] = 3;
    ag_graph *g = ag_graph_new(0);
    for (int call = 1; call <= 2; call++) { /* d/dw Σ w² = 2w, twice */
        ag_tensor *y = ag_sum(g, ag_mul(g, w, w), AG_ALL_AXES, false);
        ag_backward(g, y);
        for (int i = 0; i < 3; i++) assert_true(w->grad[i] == 2.0f * call * wv[i]);
        ag_graph_reset(g);
    }
    /* Two backward passes over one graph: the parameter accumulates, the intermediate h does not. */
    ag_zero_grad(w);
    ag_tensor *h = ag_mul_scalar(g, w, 3.0f);
    ag_tensor *y = ag_sum(g, h, AG_ALL_AXES, false);
    ag_backward(g, y);
    ag_backward(g, y);
    for (int i = 0; i < 3; i++) {
        assert_true(w->grad[i] == 6.0f);
        assert_true(h->grad[i] == 1.0f);
    }
    ag_zero_grad(w);
    for (int i = 0; i < 3; i++) assert_true(w->grad[i] == 0.0f);
    ag_graph_free(g);
    ag_tensor_free(w);
}

/* no_grad scopes record nothing; inputs without requires_grad get no grad and add no nodes. */
static void test_no_grad_and_requires_grad(void **state) {
    (void)state;
    ag_graph *g = ag_graph_new(0);
    ag_tensor *a = ag_leaf(g, AG_SHAPE(4), (const float[]){1, 2, 3, 4});
    ag_tensor *c = ag_from_f32(g, AG_SHAPE(4), (const float[]){5, 6, 7, 8}); /* a constant */
    ag_no_grad_begin(g);
    ag_tensor *y0 = ag_mul(g, a, c);
    ag_no_grad_end(g);
    assert_int_equal(ag_graph_nodes(g), 0);
    assert_false(ag_requires_grad(y0));
    assert_true(ag_f32(y0)[3] == 32.0f);
    ag_tensor *k = ag_exp(g, c); /* constant in, constant out: nothing recorded */
    assert_int_equal(ag_graph_nodes(g), 0);
    assert_false(ag_requires_grad(k));
    ag_tensor *y = ag_sum(g, ag_mul(g, a, c), AG_ALL_AXES, false);
    assert_int_equal(ag_graph_nodes(g), 2);
    ag_backward(g, y);
    for (int i = 0; i < 4; i++) assert_true(a->grad[i] == ag_f32(c)[i]);
    assert_null(c->grad);
    ag_graph_free(g);
}

/* The vectorisable exp used by softmax, cross-entropy, attention and word2vec. */
static void test_fast_exp(void **state) {
    (void)state;
    double worst = 0;
    for (float x = -87.0f; x <= 88.0f; x += 0.01f) {
        double e = fabs((double)ag_fast_exp(x) - exp((double)x)) / exp((double)x);
        if (e > worst) worst = e;
    }
    printf("fast_exp worst relative error on [-87, 88]: %.2e\n", worst);
    assert_true(worst < 1e-6);
    assert_true(ag_fast_exp(-INFINITY) == 0.0f);
    assert_true(ag_fast_exp(-1000.0f) == 0.0f);
    assert_true(isnan(ag_fast_exp(NAN))); /* and no UBSan report on the way */
    assert_true(isfinite(ag_fast_exp(INFINITY)));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arena_reset_reuses_blocks),
        cmocka_unit_test(test_sparse_grad_coalesce),
        cmocka_unit_test(test_fast_exp),
        cmocka_unit_test(test_grad_accumulation),
        cmocka_unit_test(test_no_grad_and_requires_grad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
