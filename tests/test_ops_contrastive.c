/* test_ops_contrastive.c — InfoNCE (plain, masked, symmetric, learnable scale) and CoSENT: gradchecks and PyTorch values. */
#include "support/test_util.h"

#include <math.h>
#include <string.h>

#include "autograd/ag.h"

#define FX "tests/fixtures/contrastive.txt"
#define GC_TOL 1e-2
#define FX_TOL 2e-5

typedef struct {
    ag_tensor *mask; /* i32 [N, M] or NULL */
    bool symmetric;
} nce_ctx;

/* inputs: a [N, D], b [M, D], log-scale [1] */
static ag_tensor *build_nce(ag_graph *g, ag_tensor *const *in, void *vctx) {
    const nce_ctx *c = vctx;
    return ag_info_nce(g, in[0], in[1], ag_exp(g, in[2]), c->mask, c->symmetric);
}

static ag_tensor *mask_from_fixture(const tu_fixture *fx) {
    int nd;
    int64_t sh[AG_MAX_DIMS];
    const float *v = tu_fixture_get(fx, "nce_negmask", &nd, sh);
    ag_tensor *m = ag_tensor_alloc(AG_I32, nd, sh);
    for (int64_t i = 0; i < m->numel; i++) ag_i32(m)[i] = (int32_t)lrintf(v[i]);
    return m;
}

/* Forward and all three grads against PyTorch, for the plain, masked and symmetric forms. */
static void test_info_nce_torch(void **state) {
    (void)state;
    tu_fixture *fx = tu_fixture_load(FX);
    ag_tensor *mask = mask_from_fixture(fx);
    const char *names[] = {"plain", "mask", "sym"};
    for (int k = 0; k < 3; k++) {
        ag_tensor *a = tu_fixture_param(fx, "nce_a"), *b = tu_fixture_param(fx, "nce_b"),
                  *ls = tu_fixture_param(fx, "nce_ls");
        ag_graph *g = ag_graph_new(0);
        nce_ctx c = {k ? mask : NULL, k == 2};
        ag_tensor *loss = build_nce(g, (ag_tensor *[]){a, b, ls}, &c);
        ag_backward(g, loss);
        char nm[64];
        snprintf(nm, sizeof nm, "nce_%s", names[k]);
        tu_assert_close(nm, ag_f32(loss), tu_fixture_get(fx, nm, NULL, NULL), 1, FX_TOL);
        snprintf(nm, sizeof nm, "nce_%s_da", names[k]);
        tu_assert_close(nm, a->grad, tu_fixture_get(fx, nm, NULL, NULL), a->numel, FX_TOL);
        snprintf(nm, sizeof nm, "nce_%s_db", names[k]);
        tu_assert_close(nm, b->grad, tu_fixture_get(fx, nm, NULL, NULL), b->numel, FX_TOL);
        snprintf(nm, sizeof nm, "nce_%s_dls", names[k]);
        tu_assert_close(nm, ls->grad, tu_fixture_get(fx, nm, NULL, NULL), 1, FX_TOL);
        ag_graph_free(g);
        ag_tensor_free(a);
        ag_tensor_free(b);
        ag_tensor_free(ls);
    }
    ag_tensor_free(mask);
    tu_fixture_free(fx);
}

static void test_info_nce_gradcheck(void **state) {
    (void)state;
    ag_tensor *a = tu_param_uniform(AG_SHAPE(4, 3), 1, -1, 1);
    ag_tensor *b = tu_param_uniform(AG_SHAPE(6, 3), 2, -1, 1);
    ag_tensor *ls = tu_param_uniform(AG_SHAPE(1), 3, 0.5f, 1.5f);
    ag_tensor *mask = ag_tensor_alloc(AG_I32, 2, (int64_t[]){4, 6});
    memset(mask->data, 0, (size_t)mask->numel * sizeof(int32_t));
    ag_i32(mask)[0 * 6 + 2] = ag_i32(mask)[2 * 6 + 0] = ag_i32(mask)[1 * 6 + 5] = 1;
    for (int sym = 0; sym < 2; sym++)
        for (int m = 0; m < 2; m++) {
            nce_ctx c = {m ? mask : NULL, sym};
            tu_gradcheck(sym ? "info_nce symmetric" : "info_nce", build_nce, &c, 3, (ag_tensor *[]){a, b, ls},
                         GC_TOL);
        }
    ag_tensor_free(mask);
    ag_tensor_free(a);
    ag_tensor_free(b);
    ag_tensor_free(ls);
}

/* A masked column changes the loss exactly as if it were absent from the batch: InfoNCE of a
 * against b with b[j] masked out of row i equals, for row i, the cross-entropy over the other
 * columns — checked here by masking a column for every row and comparing with the batch without it. */
static void test_info_nce_mask_is_removal(void **state) {
    (void)state;
    ag_tensor *a = tu_param_uniform(AG_SHAPE(3, 4), 11, -1, 1);
    ag_tensor *b = tu_param_uniform(AG_SHAPE(4, 4), 12, -1, 1);
    ag_graph *g = ag_graph_new(0);
    ag_tensor *mask = ag_new(g, AG_I32, 2, (int64_t[]){3, 4});
    for (int64_t i = 0; i < 12; i++) ag_i32(mask)[i] = (i % 4) == 3; /* the extra negative b[3] */
    float masked = ag_f32(ag_info_nce(g, a, b, NULL, mask, false))[0];
    float without = ag_f32(ag_info_nce(g, a, ag_slice(g, b, 0, 0, 3), NULL, NULL, false))[0];
    float with = ag_f32(ag_info_nce(g, a, b, NULL, NULL, false))[0];
    assert_true(fabsf(masked - without) < 1e-6f);
    assert_true(with > without); /* an extra negative can only raise the loss */
    ag_graph_free(g);
    ag_tensor_free(a);
    ag_tensor_free(b);
}

static ag_tensor *build_cosent(ag_graph *g, ag_tensor *const *in, void *vctx) {
    return ag_cosent(g, in[0], (ag_tensor *)vctx, 20.0f);
}

static void test_cosent(void **state) {
    (void)state;
    tu_fixture *fx = tu_fixture_load(FX);
    ag_tensor *cos = tu_fixture_param(fx, "cosent_cos");
    int nd;
    int64_t sh[AG_MAX_DIMS];
    const float *gv = tu_fixture_get(fx, "cosent_gold", &nd, sh);
    ag_tensor *gold = ag_tensor_alloc(AG_F32, nd, sh);
    memcpy(gold->data, gv, (size_t)gold->numel * sizeof(float));
    ag_graph *g = ag_graph_new(0);
    ag_tensor *loss = ag_cosent(g, cos, gold, 20.0f);
    ag_backward(g, loss);
    tu_assert_close("cosent", ag_f32(loss), tu_fixture_get(fx, "cosent", NULL, NULL), 1, FX_TOL);
    tu_assert_close("cosent_dcos", cos->grad, tu_fixture_get(fx, "cosent_dcos", NULL, NULL), cos->numel, FX_TOL);
    ag_graph_free(g);
    /* the gradient at fresh cosines, with two tied gold scores in the batch */
    ag_tensor *c2 = tu_param_uniform(AG_SHAPE(8), 5, -0.5f, 0.5f);
    tu_gradcheck("cosent", build_cosent, gold, 1, (ag_tensor *[]){c2}, GC_TOL);
    ag_tensor_free(c2);
    /* perfectly ordered cosines with a large margin: loss → log(1 + tiny) ≈ 0; reversed: large */
    ag_tensor *ord = ag_tensor_alloc(AG_F32, 1, (int64_t[]){8});
    for (int i = 0; i < 8; i++) ag_f32(ord)[i] = ag_f32(gold)[i] / 5.0f;
    g = ag_graph_new(0);
    float good = ag_f32(ag_cosent(g, ord, gold, 20.0f))[0];
    for (int i = 0; i < 8; i++) ag_f32(ord)[i] = -ag_f32(ord)[i];
    float bad = ag_f32(ag_cosent(g, ord, gold, 20.0f))[0];
    assert_true(good < 0.5f && bad > 10.0f);
    ag_graph_free(g);
    ag_tensor_free(ord);
    ag_tensor_free(cos);
    ag_tensor_free(gold);
    tu_fixture_free(fx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_info_nce_torch),
        cmocka_unit_test(test_info_nce_gradcheck),
        cmocka_unit_test(test_info_nce_mask_is_removal),
        cmocka_unit_test(test_cosent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
