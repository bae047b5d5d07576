/* test_ops_matmul.c — ag_matmul: gradchecks over every transpose combination, batched 3-D/4-D and
 * shared 2-D b, PyTorch reference values, and a large product against a plain triple loop. */
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
    bool ta, tb;
} mm_ctx;

static ag_tensor *build_mm(ag_graph *g, ag_tensor *const *in, void *ctx) {
    mm_ctx *c = ctx;
    return ag_matmul(g, in[0], in[1], c->ta, c->tb);
}

/* Shapes of a and b for batch dims `lead` (nlead of them), op(A) [M,K], op(B) [K,N]. */
static void mm_shapes(int nlead, const int64_t *lead, bool shared_b, int64_t M, int64_t K, int64_t N, bool ta,
                      bool tb, int *na, int64_t *sa, int *nb, int64_t *sb) {
    *na = nlead + 2;
    for (int i = 0; i < nlead; i++) sa[i] = lead[i];
    sa[nlead] = ta ? K : M;
    sa[nlead + 1] = ta ? M : K;
    int bl = shared_b ? 0 : nlead;
    *nb = bl + 2;
    for (int i = 0; i < bl; i++) sb[i] = lead[i];
    sb[bl] = tb ? N : K;
    sb[bl + 1] = tb ? K : N;
}

static void test_gradcheck_matmul(void **state) {
    (void)state;
    struct {
        int nlead;
        int64_t lead[2];
        bool shared;
        int64_t M, K, N;
    } cases[] = {
        {0, {0, 0}, false, 3, 5, 4},  /* 2-D, non-square */
        {0, {0, 0}, false, 1, 3, 6},  /* a single row */
        {0, {0, 0}, false, 4, 1, 2},  /* rank-1 product (K = 1) */
        {1, {2, 0}, false, 3, 4, 2},  /* 3-D batched */
        {1, {3, 0}, true, 2, 4, 3},   /* 3-D with shared 2-D b */
        {2, {2, 2}, false, 2, 3, 4},  /* 4-D batched */
        {2, {2, 3}, true, 3, 2, 2},   /* 4-D with shared 2-D b */
    };
    int seed = 1;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        for (int t = 0; t < 4; t++) {
            mm_ctx c = {t & 1, (t >> 1) & 1};
            int na, nb;
            int64_t sa[4], sb[4];
            mm_shapes(cases[k].nlead, cases[k].lead, cases[k].shared, cases[k].M, cases[k].K, cases[k].N, c.ta, c.tb,
                      &na, sa, &nb, sb);
            ag_tensor *a = tu_param_uniform(na, sa, seed++, -1, 1), *b = tu_param_uniform(nb, sb, seed++, -1, 1);
            char label[64];
            snprintf(label, sizeof label, "matmul case%zu ta%d tb%d", k, c.ta, c.tb);
            tu_gradcheck(label, build_mm, &c, 2, (ag_tensor *[]){a, b}, GC_TOL);
            /* only one side requiring grad */
            b->flags &= ~(uint32_t)AG_REQUIRES_GRAD;
            tu_gradcheck(label, build_mm, &c, 2, (ag_tensor *[]){a, b}, GC_TOL);
            for (int64_t i = 0; b->grad && i < b->numel; i++) assert_true(b->grad[i] == 0.0f);
            ag_tensor_free(a);
            ag_tensor_free(b);
        }
}

static ag_tensor *fx_leaf(ag_graph *g, const tu_fixture *fx, const char *name) {
    int nd;
    int64_t sh[AG_MAX_DIMS];
    const float *v = tu_fixture_get(fx, name, &nd, sh);
    return ag_leaf(g, nd, sh, v);
}

static void test_reference(void **state) {
    (void)state;
    tu_fixture *fx = tu_fixture_load("tests/fixtures/ops_basic.txt");
    struct {
        const char *name;
        bool ta, tb;
    } cases[] = {{"mm_00", 0, 0}, {"mm_01", 0, 1}, {"mm_10", 1, 0}, {"mm_11", 1, 1}, {"bmm3", 0, 0},
                 {"bmm3_shared", 0, 0}, {"bmm3_shared_ta", 1, 0}, {"bmm4_tb", 0, 1}};
    ag_graph *g = ag_graph_new(0);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char key[96], label[128];
        snprintf(key, sizeof key, "%s.a", cases[k].name);
        ag_tensor *a = fx_leaf(g, fx, key);
        snprintf(key, sizeof key, "%s.b", cases[k].name);
        ag_tensor *b = fx_leaf(g, fx, key);
        ag_tensor *out = ag_matmul(g, a, b, cases[k].ta, cases[k].tb);
        int nd;
        int64_t sh[4];
        snprintf(key, sizeof key, "%s.out", cases[k].name);
        const float *want = tu_fixture_get(fx, key, &nd, sh);
        assert_int_equal(nd, out->ndim);
        for (int i = 0; i < nd; i++) assert_int_equal(sh[i], out->shape[i]);
        snprintf(label, sizeof label, "%s forward", cases[k].name);
        tu_assert_close(label, ag_f32(out), want, out->numel, REF_TOL);
        snprintf(key, sizeof key, "%s.w", cases[k].name);
        ag_backward_seed(g, out, tu_fixture_get(fx, key, NULL, NULL));
        snprintf(key, sizeof key, "%s.da", cases[k].name);
        snprintf(label, sizeof label, "%s da", cases[k].name);
        tu_assert_close(label, a->grad, tu_fixture_get(fx, key, NULL, NULL), a->numel, REF_TOL);
        snprintf(key, sizeof key, "%s.db", cases[k].name);
        snprintf(label, sizeof label, "%s db", cases[k].name);
        tu_assert_close(label, b->grad, tu_fixture_get(fx, key, NULL, NULL), b->numel, REF_TOL);
        ag_graph_reset(g);
    }
    ag_graph_free(g);
    tu_fixture_free(fx);
}

/* A product big enough for OpenBLAS's threaded kernels, checked against a double triple loop,
 * with a seed of ones so the grads are row/column sums: da[m,k] = Σ_n b[k,n], db[k,n] = Σ_m a[m,k]. */
static void test_large_against_loops(void **state) {
    (void)state;
    const int64_t B = 2, M = 70, K = 90, N = 50;
    ag_graph *g = ag_graph_new(0);
    ag_tensor *a = ag_leaf(g, AG_SHAPE(B, M, K), NULL), *b = ag_leaf(g, AG_SHAPE(K, N), NULL);
    tu_fill_uniform(a, 5, -1, 1);
    tu_fill_uniform(b, 6, -1, 1);
    ag_tensor *c = ag_matmul(g, a, b, false, false); /* the flattened single-GEMM path */
    const float *A = ag_f32(a), *Bv = ag_f32(b), *C = ag_f32(c);
    for (int64_t s = 0; s < B; s++)
        for (int64_t m = 0; m < M; m++)
            for (int64_t n = 0; n < N; n++) {
                double acc = 0;
                for (int64_t k = 0; k < K; k++) acc += (double)A[(s * M + m) * K + k] * Bv[k * N + n];
                assert_true(fabs(C[(s * M + m) * N + n] - acc) < 1e-4);
            }
    float *ones = base_xmalloc((size_t)c->numel * sizeof(float));
    for (int64_t i = 0; i < c->numel; i++) ones[i] = 1.0f;
    ag_backward_seed(g, c, ones);
    for (int64_t k = 0; k < K; k++) {
        double rs = 0, cs = 0;
        for (int64_t n = 0; n < N; n++) rs += Bv[k * N + n];
        for (int64_t i = 0; i < B * M; i++) cs += A[i * K + k];
        for (int64_t i = 0; i < B * M; i++) assert_true(fabs(a->grad[i * K + k] - rs) < 1e-4);
        for (int64_t n = 0; n < N; n++) assert_true(fabs(b->grad[k * N + n] - cs) < 1e-3);
    }
    free(ones);
    ag_graph_free(g);
}

/* Grads accumulate (+=) into a parameter across two backward passes. */
static void test_accumulates(void **state) {
    (void)state;
    ag_tensor *w = ag_tensor_alloc(AG_F32, AG_SHAPE(3, 2));
    ag_tensor_set_param(w, false);
    tu_fill_uniform(w, 3, -1, 1);
    ag_graph *g = ag_graph_new(0);
    float first[6];
    for (int pass = 0; pass < 2; pass++) {
        ag_tensor *x = ag_from_f32(g, AG_SHAPE(1, 3), (const float[]){1, 2, 3});
        ag_backward(g, ag_sum(g, ag_matmul(g, x, w, false, false), AG_ALL_AXES, false));
        if (pass == 0) memcpy(first, w->grad, sizeof first);
        ag_graph_reset(g);
    }
    for (int i = 0; i < 6; i++) assert_true(fabsf(w->grad[i] - 2 * first[i]) < 1e-6f);
    assert_true(first[0] == 1.0f && first[5] == 3.0f);
    ag_graph_free(g);
    ag_tensor_free(w);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradcheck_matmul),
        cmocka_unit_test(test_reference),
        cmocka_unit_test(test_large_against_loops),
        cmocka_unit_test(test_accumulates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
