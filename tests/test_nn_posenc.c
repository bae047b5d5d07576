/* test_nn_posenc.c — positional encodings: RoPE (both layouts), ALiBi, sinusoidal, 2-D; fixtures + gradchecks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "nn/nn.h"
#include "support/test_util.h"

static tu_fixture *FX;

static void check_fx(const char *label, const float *got, int64_t n, const char *name, double tol) {
    int nd;
    int64_t shape[AG_MAX_DIMS];
    const float *v = tu_fixture_get(FX, name, &nd, shape);
    assert_int_equal(n, ag_shape_numel(nd, shape));
    tu_assert_close(label, got, v, n, tol);
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

static void test_rope_vs_torch(void **state) {
    (void)state;
    ag_graph *g = ag_graph_new(0);
    ag_tensor *x = tu_fixture_tensor(FX, g, "rope.x", false); /* [2, 3, 5, 8] */
    ag_tensor *h = nn_rope(g, x, 3, 10000.0f, false), *i = nn_rope(g, x, 3, 10000.0f, true);
    check_fx("rope half-split", ag_f32(h), h->numel, "rope.half", 1e-5);
    check_fx("rope interleaved", ag_f32(i), i->numel, "rope.inter", 1e-5);
    ag_tensor *t = nn_rope(g, x, 0, 500.0f, false);
    check_fx("rope theta 500", ag_f32(t), t->numel, "rope.half_theta500", 1e-5);
    /* position 0 is the identity; the two layouts differ elsewhere */
    ag_tensor *z = nn_rope(g, x, 0, 10000.0f, true);
    assert_memory_equal(ag_f32(z), ag_f32(x), 8 * sizeof(float));
    assert_true(tu_max_rel_err(ag_f32(h), ag_f32(i), h->numel) > 1e-3);
    ag_graph_free(g);
}

/* RoPE encodes relative position: q at m, k at n → the score depends on m − n only. */
static void test_rope_relative(void **state) {
    (void)state;
    ag_graph *g = ag_graph_new(0);
    float qv[8] = {0.3f, -0.2f, 0.5f, 0.1f, 0.9f, -0.4f, 0.2f, 0.7f}, kv[8] = {-0.1f, 0.6f, 0.2f, -0.3f, 0.4f, 0.5f, -0.8f, 0.1f};
    for (int il = 0; il < 2; il++) {
        double s[2];
        for (int c = 0; c < 2; c++) {
            int64_t m = c ? 13 : 5, n = c ? 10 : 2; /* same offset 3 */
            ag_tensor *q = nn_rope(g, ag_from_f32(g, AG_SHAPE(1, 1, 1, 8), qv), m, 10000.0f, il);
            ag_tensor *k = nn_rope(g, ag_from_f32(g, AG_SHAPE(1, 1, 1, 8), kv), n, 10000.0f, il);
            s[c] = 0;
            for (int j = 0; j < 8; j++) s[c] += (double)ag_f32(q)[j] * ag_f32(k)[j];
        }
        assert_true(fabs(s[0] - s[1]) < 1e-5);
    }
    ag_graph_free(g);
}

typedef struct {
    int64_t pos0;
    bool interleaved;
} rope_ctx;
static ag_tensor *build_rope(ag_graph *g, ag_tensor *const *in, void *ctx) {
    rope_ctx *c = ctx;
    return ag_rope(g, in[0], c->pos0, 100.0f, c->interleaved);
}

static void test_rope_gradcheck(void **state) {
    (void)state;
    ag_tensor *x = tu_param_uniform(AG_SHAPE(2, 2, 3, 6), 1, -1, 1);
    rope_ctx c = {4, false};
    tu_gradcheck("rope half-split", build_rope, &c, 1, &x, 1e-3);
    c.interleaved = true;
    tu_gradcheck("rope interleaved", build_rope, &c, 1, &x, 1e-3);
    ag_tensor_free(x);
}

static void test_alibi_vs_reference(void **state) {
    (void)state;
    float s[12];
    const int64_t hs[3] = {8, 6, 12};
    for (int k = 0; k < 3; k++) {
        char nm[32];
        snprintf(nm, sizeof nm, "alibi.slopes%lld", (long long)hs[k]);
        nn_alibi_slopes(hs[k], s);
        check_fx(nm, s, hs[k], nm, 1e-6);
    }
    nn_alibi_slopes(8, s);
    assert_float_equal(s[0], 0.5f, 0);
    assert_float_equal(s[7], 1.0f / 256, 0);
    ag_graph *g = ag_graph_new(0);
    ag_tensor *b = nn_alibi_bias(g, 4, 5, 5);
    check_fx("alibi bias", ag_f32(b), b->numel, "alibi.bias4x5", 1e-6);
    ag_graph_free(g);
}

static void test_sinusoidal_and_2d_tables(void **state) {
    (void)state;
    float pe[6 * 8], pe2[12 * 8];
    nn_sinusoidal_table(pe, 6, 8, 0, 10000.0f);
    check_fx("sinusoidal", pe, 48, "sinusoidal.6x8", 1e-6);
    float shifted[2 * 8];
    nn_sinusoidal_table(shifted, 2, 8, 4, 10000.0f); /* rows 4, 5 */
    tu_assert_close("sinusoidal pos0", shifted, pe + 4 * 8, 16, 1e-6);
    nn_sincos_2d_table(pe2, 3, 4, 8, 10000.0f);
    check_fx("sincos 2d", pe2, 96, "sincos2d.3x4x8", 1e-6);
    ag_graph *g = ag_graph_new(0);
    ag_tensor *x = ag_zeros(g, AG_F32, AG_SHAPE(2, 6, 8));
    ag_tensor *y = nn_sinusoidal_add(g, x, 0);
    tu_assert_close("sinusoidal add", ag_f32(y) + 48, pe, 48, 1e-6);
    ag_tensor *x2 = ag_zeros(g, AG_F32, AG_SHAPE(1, 12, 8));
    ag_tensor *y2 = nn_sincos_2d_add(g, x2, 3, 4);
    tu_assert_close("sincos 2d add", ag_f32(y2), pe2, 96, 1e-6);
    ag_graph_free(g);
}

typedef struct {
    nn_learned_pos *p;
    nn_learned_pos_2d *p2;
    int64_t pos0;
} lp_ctx;
static ag_tensor *build_learned(ag_graph *g, ag_tensor *const *in, void *ctx) {
    lp_ctx *c = ctx;
    if (c->p2) return nn_learned_pos_2d_add(g, c->p2, in[0]);
    return nn_learned_pos_add(g, c->p, in[0], c->pos0);
}

static void test_learned_positions(void **state) {
    (void)state;
    nn_params ps;
    nn_params_init(&ps);
    nn_learned_pos lp;
    nn_learned_pos_2d lp2;
    nn_learned_pos_init(&lp, &ps, "pos", 10, 4);
    nn_learned_pos_2d_init(&lp2, &ps, "pos2d", 2, 3, 4);
    base_rng rng;
    base_rng_seed(&rng, 1);
    nn_params_alloc(&ps, &rng);
    assert_non_null(nn_params_find(&ps, "pos.weight"));
    assert_non_null(nn_params_find(&ps, "pos2d.row"));
    ag_graph *g = ag_graph_new(0);
    ag_tensor *x = ag_zeros(g, AG_F32, AG_SHAPE(2, 3, 4));
    ag_tensor *y = nn_learned_pos_add(g, &lp, x, 7);
    assert_memory_equal(ag_f32(y), ag_f32(lp.table.weight) + 7 * 4, 12 * sizeof(float));
    assert_null(nn_learned_pos_add(g, &lp, x, 8));
    assert_non_null(strstr(base_error_msg(), "positions 8..10 outside the table's 10"));
    ag_tensor *x6 = ag_zeros(g, AG_F32, AG_SHAPE(1, 6, 4));
    ag_tensor *y2 = nn_learned_pos_2d_add(g, &lp2, x6);
    /* patch (1, 2) = row[1] + col[2] */
    for (int j = 0; j < 4; j++)
        assert_float_equal(ag_f32(y2)[5 * 4 + j], ag_f32(lp2.row)[4 + j] + ag_f32(lp2.col)[8 + j], 1e-7);
    ag_graph_free(g);
    ag_tensor *xi = tu_param_uniform(AG_SHAPE(2, 3, 4), 2, -1, 1);
    lp_ctx c = {&lp, NULL, 5};
    tu_gradcheck("learned pos", build_learned, &c, 2, (ag_tensor *[]){xi, lp.table.weight}, 1e-3);
    ag_tensor *xj = tu_param_uniform(AG_SHAPE(2, 6, 4), 3, -1, 1);
    lp_ctx c2 = {NULL, &lp2, 0};
    tu_gradcheck("learned pos 2d", build_learned, &c2, 3, (ag_tensor *[]){xj, lp2.row, lp2.col}, 1e-3);
    ag_tensor_free(xi);
    ag_tensor_free(xj);
    nn_params_free(&ps);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rope_vs_torch),
        cmocka_unit_test(test_rope_relative),
        cmocka_unit_test(test_rope_gradcheck),
        cmocka_unit_test(test_alibi_vs_reference),
        cmocka_unit_test(test_sinusoidal_and_2d_tables),
        cmocka_unit_test(test_learned_positions),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
