/* test_ops_norm.c — layer/RMS norm, dropout, L2 normalise, cosine similarity: gradchecks and PyTorch values. */
#include "support/test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ag.h"

#define FX "tests/fixtures/ops_nn.txt"
#define GC_TOL 1e-2
#define FX_TOL 1e-5

static const float *fxv(const tu_fixture *fx, const char *name) { return tu_fixture_get(fx, name, NULL, NULL); }

/* ---- layer norm / RMS norm ----------------------------------------------------------------------- */
typedef struct {
    int affine; /* 0 none, 1 gamma only, 2 gamma and beta */
    bool rms;
} norm_ctx;

static ag_tensor *build_norm(ag_graph *g, ag_tensor *const *in, void *vctx) {
    const norm_ctx *c = vctx;
    ag_tensor *gamma = c->affine >= 1 ? in[1] : NULL, *beta = c->affine >= 2 ? in[2] : NULL;
    return c->rms ? ag_rms_norm(g, in[0], gamma, 1e-6f) : ag_layer_norm(g, in[0], gamma, beta, 1e-5f);
}

static void test_norm_gradcheck(void **state) {
    (void)state;
    const int64_t shapes[][3] = {{1, 1, 4}, {1, 3, 8}, {2, 3, 5}};
    const int nds[] = {1, 2, 3};
    for (int rms = 0; rms < 2; rms++)
        for (int s = 0; s < 3; s++)
            for (int affine = 0; affine <= (rms ? 1 : 2); affine++) {
                const int64_t *shape = shapes[s] + 3 - nds[s];
                int64_t D = shape[nds[s] - 1];
                ag_tensor *x = tu_param_uniform(nds[s], shape, 100 + s, -2, 2);
                ag_tensor *gm = tu_param_uniform(1, &D, 110 + s, 0.5f, 1.5f);
                ag_tensor *bt = tu_param_uniform(1, &D, 120 + s, -1, 1);
                norm_ctx c = {affine, rms};
                char label[64];
                snprintf(label, sizeof label, "%s %dD affine=%d", rms ? "rms_norm" : "layer_norm", nds[s], affine);
                tu_gradcheck(label, build_norm, &c, 1 + affine, (ag_tensor *[]){x, gm, bt}, GC_TOL);
                ag_tensor_free(x);
                ag_tensor_free(gm);
                ag_tensor_free(bt);
            }
}

/* Above the OpenMP threshold the backward splits rows over threads with per-thread dγ/dβ partials:
 * check it against the same rows pushed through one at a time (serial path). */
static void test_norm_parallel_matches_rows(void **state) {
    (void)state;
    enum { R = 150, D = 256 };
    for (int rms = 0; rms < 2; rms++) {
        ag_tensor *x = tu_param_uniform(AG_SHAPE(R, D), 130, -2, 2);
        ag_tensor *gm = tu_param_uniform(AG_SHAPE(D), 131, 0.5f, 1.5f);
        ag_tensor *bt = tu_param_uniform(AG_SHAPE(D), 132, -1, 1);
        ag_tensor *seed = ag_tensor_alloc(AG_F32, AG_SHAPE(R, D));
        tu_fill_uniform(seed, 133, -1, 1);
        ag_graph *g = ag_graph_new(0);
        ag_tensor *y = rms ? ag_rms_norm(g, x, gm, 1e-6f) : ag_layer_norm(g, x, gm, bt, 1e-5f);
        ag_backward_seed(g, y, ag_f32(seed));
        float *dx_all = base_xmalloc(sizeof(float) * R * D), *dg_all = base_xmalloc(sizeof(float) * D);
        float *db_all = base_xmalloc(sizeof(float) * D), *y_all = base_xmalloc(sizeof(float) * R * D);
        memcpy(dx_all, x->grad, sizeof(float) * R * D);
        memcpy(dg_all, gm->grad, sizeof(float) * D);
        memcpy(db_all, rms ? gm->grad : bt->grad, sizeof(float) * D);
        memcpy(y_all, ag_f32(y), sizeof(float) * R * D);
        ag_zero_grad(x);
        ag_zero_grad(gm);
        ag_zero_grad(bt);
        ag_graph_reset(g);
        for (int r = 0; r < R; r++) {
            ag_tensor *xr = ag_leaf(g, AG_SHAPE(1, D), ag_f32(x) + r * D);
            ag_tensor *yr = rms ? ag_rms_norm(g, xr, gm, 1e-6f) : ag_layer_norm(g, xr, gm, bt, 1e-5f);
            tu_assert_close("row forward", ag_f32(yr), y_all + r * D, D, 1e-6);
            ag_backward_seed(g, yr, ag_f32(seed) + r * D);
            tu_assert_close("row dx", xr->grad, dx_all + r * D, D, 1e-5);
            ag_graph_reset(g);
        }
        tu_assert_close("dgamma", gm->grad, dg_all, D, 1e-4);
        if (!rms) tu_assert_close("dbeta", bt->grad, db_all, D, 1e-4);
        free(dx_all);
        free(dg_all);
        free(db_all);
        free(y_all);
        ag_graph_free(g);
        ag_tensor_free(x);
        ag_tensor_free(gm);
        ag_tensor_free(bt);
        ag_tensor_free(seed);
    }
}

/* ---- dropout ------------------------------------------------------------------------------------------ */
typedef struct {
    bool train;
    float p;
} drop_ctx;

static ag_tensor *build_dropout(ag_graph *g, ag_tensor *const *in, void *vctx) {
    const drop_ctx *c = vctx;
    /* gradcheck rebuilds the graph for every perturbation: reseed so the mask is the same each time */
    ag_set_training(g, c->train);
    base_rng_seed(ag_graph_rng(g), 99);
    return ag_dropout(g, in[0], c->p);
}

static void test_dropout_gradcheck(void **state) {
    (void)state;
    ag_tensor *x = tu_param_uniform(AG_SHAPE(4, 9), 140, -2, 2);
    drop_ctx eval = {false, 0.5f}, train = {true, 0.3f}, train0 = {true, 0.0f};
    tu_gradcheck("dropout eval", build_dropout, &eval, 1, (ag_tensor *[]){x}, GC_TOL);
    tu_gradcheck("dropout train p=0.3", build_dropout, &train, 1, (ag_tensor *[]){x}, GC_TOL);
    tu_gradcheck("dropout train p=0", build_dropout, &train0, 1, (ag_tensor *[]){x}, GC_TOL);
    ag_tensor_free(x);
}

static ag_tensor *build_dropout_add(ag_graph *g, ag_tensor *const *in, void *vctx) {
    const drop_ctx *c = vctx;
    ag_set_training(g, c->train);
    base_rng_seed(ag_graph_rng(g), 99);
    return ag_dropout_add(g, in[0], in[1], c->p);
}

static void test_dropout_add(void **state) {
    (void)state;
    ag_tensor *x = tu_param_uniform(AG_SHAPE(4, 9), 141, -2, 2), *r = tu_param_uniform(AG_SHAPE(4, 9), 142, -2, 2);
    drop_ctx eval = {false, 0.5f}, train = {true, 0.3f};
    tu_gradcheck("dropout_add eval", build_dropout_add, &eval, 2, (ag_tensor *[]){x, r}, GC_TOL);
    tu_gradcheck("dropout_add train p=0.3", build_dropout_add, &train, 2, (ag_tensor *[]){x, r}, GC_TOL);
    /* the fused op equals add(r, dropout(x)) drawn from the same RNG state, forward and backward */
    ag_tensor *big_x = tu_param_uniform(AG_SHAPE(300, 257), 143, -1, 1), *big_r = tu_param_uniform(AG_SHAPE(300, 257), 144, -1, 1);
    float *fwd[2], *gx[2], *gr[2];
    int64_t n = big_x->numel;
    for (int k = 0; k < 2; k++) {
        ag_graph *g = ag_graph_new(0);
        base_rng_seed(ag_graph_rng(g), 5);
        ag_zero_grad(big_x);
        ag_zero_grad(big_r);
        ag_tensor *y = k ? ag_dropout_add(g, big_x, big_r, 0.1f) : ag_add(g, big_r, ag_dropout(g, big_x, 0.1f));
        ag_tensor *seed = ag_new(g, AG_F32, 2, y->shape);
        tu_fill_uniform(seed, 7, -1, 1);
        ag_backward_seed(g, y, ag_f32(seed));
        fwd[k] = malloc((size_t)n * 4);
        gx[k] = malloc((size_t)n * 4);
        gr[k] = malloc((size_t)n * 4);
        memcpy(fwd[k], ag_f32(y), (size_t)n * 4);
        memcpy(gx[k], big_x->grad, (size_t)n * 4);
        memcpy(gr[k], big_r->grad, (size_t)n * 4);
        ag_graph_free(g);
    }
    assert_memory_equal(fwd[0], fwd[1], (size_t)n * 4);
    assert_memory_equal(gx[0], gx[1], (size_t)n * 4);
    assert_memory_equal(gr[0], gr[1], (size_t)n * 4);
    for (int k = 0; k < 2; k++) {
        free(fwd[k]);
        free(gx[k]);
        free(gr[k]);
    }
    ag_tensor_free(x);
    ag_tensor_free(r);
    ag_tensor_free(big_x);
    ag_tensor_free(big_r);
}

static void test_dropout_statistics(void **state) {
    (void)state;
    ag_graph *g = ag_graph_new(0);
    enum { N = 100000 };
    ag_tensor *x = ag_leaf(g, AG_SHAPE(N), NULL);
    for (int i = 0; i < N; i++) ag_f32(x)[i] = 1.0f;
    /* identity when not training or p == 0: the same tensor comes back, nothing recorded */
    ag_set_training(g, false);
    assert_ptr_equal(ag_dropout(g, x, 0.5f), x);
    ag_set_training(g, true);
    assert_ptr_equal(ag_dropout(g, x, 0.0f), x);
    assert_int_equal(ag_graph_nodes(g), 0);
    ag_tensor *y = ag_dropout(g, x, 0.25f);
    int64_t zeros = 0;
    double sum = 0;
    for (int i = 0; i < N; i++) {
        float v = ag_f32(y)[i];
        assert_true(v == 0.0f || fabsf(v - 1.0f / 0.75f) < 1e-6f);
        zeros += v == 0.0f;
        sum += v;
    }
    assert_in_range(zeros, 24000, 26000);
    assert_true(fabs(sum / N - 1.0) < 0.02);
    /* backward uses the same mask */
    float *seed = base_xmalloc(sizeof(float) * N);
    for (int i = 0; i < N; i++) seed[i] = 1.0f;
    ag_backward_seed(g, y, seed);
    for (int i = 0; i < N; i++) assert_true(x->grad[i] == ag_f32(y)[i]);
    /* same seed → same mask; next draw → a different one */
    base_rng_seed(ag_graph_rng(g), 5);
    ag_tensor *a = ag_dropout(g, x, 0.5f);
    base_rng_seed(ag_graph_rng(g), 5);
    ag_tensor *b = ag_dropout(g, x, 0.5f);
    ag_tensor *c = ag_dropout(g, x, 0.5f);
    assert_memory_equal(a->data, b->data, sizeof(float) * N);
    assert_memory_not_equal(a->data, c->data, sizeof(float) * N);
    free(seed);
    ag_graph_free(g);
}

/* ---- L2 normalise, cosine similarity ------------------------------------------------------------- */
static ag_tensor *build_l2(ag_graph *g, ag_tensor *const *in, void *ctx) {
    return ag_l2_normalize(g, in[0], *(const float *)ctx);
}

static void test_l2_normalize_gradcheck(void **state) {
    (void)state;
    float eps = 1e-12f;
    ag_tensor *x1 = tu_param_uniform(AG_SHAPE(7), 150, -2, 2), *x2 = tu_param_uniform(AG_SHAPE(3, 5), 151, -2, 2);
    ag_tensor *x3 = tu_param_uniform(AG_SHAPE(2, 2, 4), 152, -2, 2);
    tu_gradcheck("l2_normalize [7]", build_l2, &eps, 1, (ag_tensor *[]){x1}, GC_TOL);
    tu_gradcheck("l2_normalize [3,5]", build_l2, &eps, 1, (ag_tensor *[]){x2}, GC_TOL);
    tu_gradcheck("l2_normalize [2,2,4]", build_l2, &eps, 1, (ag_tensor *[]){x3}, GC_TOL);
    /* a row whose norm is under eps is divided by eps (linear there) */
    float big_eps = 0.5f;
    for (int j = 0; j < 5; j++) ag_f32(x2)[j] *= 0.05f;
    tu_gradcheck("l2_normalize clamped row", build_l2, &big_eps, 1, (ag_tensor *[]){x2}, GC_TOL);
    ag_tensor_free(x1);
    ag_tensor_free(x2);
    ag_tensor_free(x3);
}

/* ctx: NULL → cos(a, b), eps 1e-8; "self" → cos(a, a); "clamp" → cos(a, b) with eps 0.5 */
static ag_tensor *build_cos(ag_graph *g, ag_tensor *const *in, void *ctx) {
    const char *mode = ctx ? ctx : "";
    if (!strcmp(mode, "self")) return ag_cosine_similarity(g, in[0], in[0], 1e-8f);
    return ag_cosine_similarity(g, in[0], in[1], !strcmp(mode, "clamp") ? 0.5f : 1e-8f);
}

static void test_cosine_gradcheck(void **state) {
    (void)state;
    const int64_t shapes[][3] = {{1, 1, 5}, {1, 3, 6}, {2, 3, 4}};
    const int nds[] = {1, 2, 3};
    for (int s = 0; s < 3; s++) {
        ag_tensor *a = tu_param_uniform(nds[s], shapes[s] + 3 - nds[s], 160 + s, -2, 2);
        ag_tensor *b = tu_param_uniform(nds[s], shapes[s] + 3 - nds[s], 170 + s, -2, 2);
        tu_gradcheck("cosine_similarity", build_cos, NULL, 2, (ag_tensor *[]){a, b}, GC_TOL);
        ag_tensor_free(a);
        ag_tensor_free(b);
    }
    ag_tensor *a = tu_param_uniform(AG_SHAPE(3, 4), 180, -2, 2);
    tu_gradcheck("cosine_similarity(a, a)", build_cos, "self", 1, (ag_tensor *[]){a}, GC_TOL);
    /* norms under eps are clamped one by one (torch ≥ 1.12): row 0 of a and row 1 of b are tiny */
    ag_tensor *b = tu_param_uniform(AG_SHAPE(3, 4), 181, -2, 2);
    for (int j = 0; j < 4; j++) {
        ag_f32(a)[j] *= 0.05f;
        ag_f32(b)[4 + j] *= 0.05f;
    }
    tu_gradcheck("cosine_similarity clamped norms", build_cos, "clamp", 2, (ag_tensor *[]){a, b}, GC_TOL);
    /* torch.nn.functional.cosine_similarity([1e-5, 0], [3, 4], eps=1e-3) = 0.006 (each norm clamped) */
    ag_graph *g = ag_graph_new(0);
    ag_tensor *c = ag_cosine_similarity(g, ag_from_f32(g, AG_SHAPE(1, 2), (const float[]){1e-5f, 0}),
                                        ag_from_f32(g, AG_SHAPE(1, 2), (const float[]){3, 4}), 1e-3f);
    assert_true(fabsf(ag_f32(c)[0] - 0.006f) < 1e-6f);
    ag_graph_free(g);
    ag_tensor_free(a);
    ag_tensor_free(b);
}

/* ---- PyTorch reference values ------------------------------------------------------------------ */
static void test_norms_vs_torch(void **state) {
    (void)state;
    tu_fixture *fx = tu_fixture_load(FX);
    ag_graph *g = ag_graph_new(0);

    ag_tensor *x = tu_fixture_param(fx, "ln_x"), *gm = tu_fixture_param(fx, "ln_gamma"), *bt = tu_fixture_param(fx, "ln_beta");
    ag_tensor *y = ag_layer_norm(g, x, gm, bt, 1e-5f);
    tu_assert_close("ln_y", ag_f32(y), fxv(fx, "ln_y"), y->numel, FX_TOL);
    ag_backward_seed(g, y, fxv(fx, "ln_w"));
    tu_assert_close("ln_dx", x->grad, fxv(fx, "ln_dx"), x->numel, FX_TOL);
    tu_assert_close("ln_dgamma", gm->grad, fxv(fx, "ln_dgamma"), gm->numel, FX_TOL);
    tu_assert_close("ln_dbeta", bt->grad, fxv(fx, "ln_dbeta"), bt->numel, FX_TOL);
    ag_graph_reset(g);
    ag_zero_grad(x);
    y = ag_layer_norm(g, x, NULL, NULL, 1e-5f);
    tu_assert_close("lnp_y", ag_f32(y), fxv(fx, "lnp_y"), y->numel, FX_TOL);
    ag_backward_seed(g, y, fxv(fx, "lnp_w"));
    tu_assert_close("lnp_dx", x->grad, fxv(fx, "lnp_dx"), x->numel, FX_TOL);
    ag_graph_reset(g);
    ag_tensor_free(x);
    ag_tensor_free(gm);
    ag_tensor_free(bt);

    x = tu_fixture_param(fx, "rms_x");
    gm = tu_fixture_param(fx, "rms_gamma");
    y = ag_rms_norm(g, x, gm, 1e-6f);
    tu_assert_close("rms_y", ag_f32(y), fxv(fx, "rms_y"), y->numel, FX_TOL);
    ag_backward_seed(g, y, fxv(fx, "rms_w"));
    tu_assert_close("rms_dx", x->grad, fxv(fx, "rms_dx"), x->numel, FX_TOL);
    tu_assert_close("rms_dgamma", gm->grad, fxv(fx, "rms_dgamma"), gm->numel, FX_TOL);
    ag_graph_reset(g);
    ag_tensor_free(x);
    ag_tensor_free(gm);

    x = tu_fixture_param(fx, "l2_x");
    y = ag_l2_normalize(g, x, 1e-12f);
    tu_assert_close("l2_y", ag_f32(y), fxv(fx, "l2_y"), y->numel, FX_TOL);
    ag_backward_seed(g, y, fxv(fx, "l2_w"));
    tu_assert_close("l2_dx", x->grad, fxv(fx, "l2_dx"), x->numel, FX_TOL);
    ag_graph_reset(g);
    ag_tensor_free(x);

    ag_tensor *a = tu_fixture_param(fx, "cos_a"), *b = tu_fixture_param(fx, "cos_b");
    y = ag_cosine_similarity(g, a, b, 1e-8f);
    assert_int_equal(y->ndim, 2);
    tu_assert_close("cos_y", ag_f32(y), fxv(fx, "cos_y"), y->numel, FX_TOL);
    ag_backward_seed(g, y, fxv(fx, "cos_w"));
    tu_assert_close("cos_da", a->grad, fxv(fx, "cos_da"), a->numel, FX_TOL);
    tu_assert_close("cos_db", b->grad, fxv(fx, "cos_db"), b->numel, FX_TOL);
    ag_tensor_free(a);
    ag_tensor_free(b);

    ag_graph_free(g);
    tu_fixture_free(fx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_norm_gradcheck),
        cmocka_unit_test(test_norm_parallel_matches_rows),
        cmocka_unit_test(test_dropout_gradcheck),
        cmocka_unit_test(test_dropout_statistics),
        cmocka_unit_test(test_dropout_add),
        cmocka_unit_test(test_l2_normalize_gradcheck),
        cmocka_unit_test(test_cosine_gradcheck),
        cmocka_unit_test(test_norms_vs_torch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
