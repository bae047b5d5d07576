/* test_nn_vision.c — Conv2d (im2col + sgemm) and ViT patch embedding vs PyTorch, with gradchecks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "nn/nn.h"
#include "support/test_util.h"

static tu_fixture *FX;

static void check_fx(const char *label, const ag_tensor *t, const char *name, double tol) {
    int nd;
    int64_t shape[AG_MAX_DIMS];
    const float *v = tu_fixture_get(FX, name, &nd, shape);
    assert_int_equal(t->ndim, nd);
    for (int i = 0; i < nd; i++) assert_int_equal(t->shape[i], shape[i]);
    tu_assert_close(label, ag_f32(t), v, t->numel, tol);
}

static int setup(void **state) {
    (void)state;
    FX = tu_fixture_load("tests/fixtures/nn.txt");
    return 0;
}
static int teardown(void **state) {
    (void)state;
    tu_fixture_free(FX);
    return 0;
}

static void test_conv2d_vs_torch(void **state) {
    (void)state;
    nn_params ps;
    nn_params_init(&ps);
    nn_conv2d c1, c2;
    nn_conv2d_init(&c1, &ps, "conv", 3, 4, 3, 3, 2, 1, true);
    nn_conv2d_init(&c2, &ps, "conv2", 2, 3, 2, 3, 1, 0, false);
    base_rng rng;
    base_rng_seed(&rng, 1);
    nn_params_alloc(&ps, &rng);
    /* PyTorch's default init range: uniform(±1/√fan_in) */
    for (int64_t i = 0; i < c1.weight->numel; i++) assert_true(fabsf(ag_f32(c1.weight)[i]) <= 1.0f / 3.0f);
    tu_fixture_copy(FX, c1.weight, "conv.weight");
    tu_fixture_copy(FX, c1.bias, "conv.bias");
    tu_fixture_copy(FX, c2.weight, "conv2.weight");
    ag_graph *g = ag_graph_new(0);
    check_fx("conv 3x3 stride 2 pad 1", nn_conv2d_forward(g, &c1, tu_fixture_tensor(FX, g, "conv.x", false)), "conv.out", 1e-5);
    check_fx("conv 2x3 no bias", nn_conv2d_forward(g, &c2, tu_fixture_tensor(FX, g, "conv2.x", false)), "conv2.out", 1e-5);
    ag_graph_free(g);
    nn_params_free(&ps);
}

typedef struct {
    int stride, pad;
    nn_patch_embed *p;
} conv_ctx;
static ag_tensor *build_conv(ag_graph *g, ag_tensor *const *in, void *ctx) {
    conv_ctx *c = ctx;
    return ag_conv2d(g, in[0], in[1], in[2], c->stride, c->pad);
}
static ag_tensor *build_patch(ag_graph *g, ag_tensor *const *in, void *ctx) {
    conv_ctx *c = ctx;
    return nn_patch_embed_forward(g, c->p, in[0]);
}

static void test_conv2d_gradcheck(void **state) {
    (void)state;
    const int geo[3][2] = {{1, 0}, {2, 1}, {3, 2}};
    for (int k = 0; k < 3; k++) {
        ag_tensor *x = ag_tensor_alloc(AG_F32, AG_SHAPE(2, 2, 5, 6));
        ag_tensor *w = ag_tensor_alloc(AG_F32, AG_SHAPE(3, 2, 3, 2));
        ag_tensor *b = ag_tensor_alloc(AG_F32, AG_SHAPE(3));
        tu_fill_uniform(x, 1, -1, 1);
        tu_fill_uniform(w, 2, -1, 1);
        tu_fill_uniform(b, 3, -1, 1);
        x->flags |= AG_REQUIRES_GRAD;
        w->flags |= AG_REQUIRES_GRAD;
        b->flags |= AG_REQUIRES_GRAD;
        conv_ctx c = {geo[k][0], geo[k][1], NULL};
        tu_gradcheck("conv2d", build_conv, &c, 3, (ag_tensor *[]){x, w, b}, 2e-3);
        ag_tensor_free(x);
        ag_tensor_free(w);
        ag_tensor_free(b);
    }
}

static void test_patch_embed_vs_torch(void **state) {
    (void)state;
    nn_params ps;
    nn_params_init(&ps);
    nn_patch_embed p;
    nn_patch_embed_init(&p, &ps, "patch", 8, 8, 4, 3, 6, true, true);
    base_rng rng;
    base_rng_seed(&rng, 1);
    nn_params_alloc(&ps, &rng);
    tu_fixture_copy(FX, p.proj.weight, "patch.proj.weight");
    tu_fixture_copy(FX, p.proj.bias, "patch.proj.bias");
    tu_fixture_copy(FX, p.cls_token, "patch.cls");
    tu_fixture_copy(FX, p.pos, "patch.pos");
    ag_graph *g = ag_graph_new(0);
    ag_tensor *img = tu_fixture_tensor(FX, g, "patch.img", false);
    check_fx("patch embed", nn_patch_embed_forward(g, &p, img), "patch.out", 1e-5);
    ag_tensor *wrong = ag_zeros(g, AG_F32, AG_SHAPE(2, 3, 8, 9));
    assert_null(nn_patch_embed_forward(g, &p, wrong));
    assert_non_null(strstr(base_error_msg(), "expected an f32 image [B, 3, 8, 8], got [2, 3, 8, 9]"));
    ag_graph_free(g);
    /* gradcheck through conv, CLS concat and positions */
    ag_tensor *x = tu_param_uniform(AG_SHAPE(2, 3, 8, 8), 4, -1, 1);
    conv_ctx c = {0, 0, &p};
    tu_gradcheck("patch embed", build_patch, &c, 5, (ag_tensor *[]){x, p.proj.weight, p.proj.bias, p.cls_token, p.pos},
                 2e-3);
    ag_tensor_free(x);
    nn_params_free(&ps);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv2d_vs_torch),
        cmocka_unit_test(test_conv2d_gradcheck),
        cmocka_unit_test(test_patch_embed_vs_torch),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
