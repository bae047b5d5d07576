/* test_ops_index.c — gather_rows (dense and row-sparse grads) and scatter_add: gradchecks and PyTorch values. */
#include "support/test_util.h"

#include <math.h>
#include <string.h>

#include "autograd/ag.h"

#define FX "tests/fixtures/ops_nn.txt"
#define GC_TOL 1e-2
#define FX_TOL 1e-5

static ag_tensor *param(int ndim, const int64_t *shape, uint64_t seed, bool sparse) {
    ag_tensor *t = ag_tensor_alloc(AG_F32, ndim, shape);
    tu_fill_uniform(t, seed, -1, 1);
    ag_tensor_set_param(t, sparse);
    return t;
}

static ag_tensor *ids_tensor(int ndim, const int64_t *shape, const int32_t *v) {
    ag_tensor *t = ag_tensor_alloc(AG_I32, ndim, shape);
    memcpy(t->data, v, (size_t)t->numel * sizeof(int32_t));
    return t;
}

static ag_tensor *fx_tensor(const tu_fixture *fx, const char *name, ag_dtype dt) {
    int nd;
    int64_t sh[AG_MAX_DIMS];
    const float *v = tu_fixture_get(fx, name, &nd, sh);
    ag_tensor *t = ag_tensor_alloc(dt, nd, sh);
    for (int64_t i = 0; i < t->numel; i++) {
        if (dt == AG_F32) ag_f32(t)[i] = v[i];
        else ag_i32(t)[i] = (int32_t)lrintf(v[i]);
    }
    return t;
}

/* ---- gradchecks ------------------------------------------------------------------------------ */
static ag_tensor *build_gather(ag_graph *g, ag_tensor *const *in, void *ctx) {
    return ag_gather_rows(g, in[0], ctx);
}

static void test_gather_gradcheck(void **state) {
    (void)state;
    const int32_t v[] = {1, 4, 1, 6, 0, 1, 4, 4, 2, 3, 5, 1};
    ag_tensor *ids[] = {ids_tensor(AG_SHAPE(5), v), ids_tensor(AG_SHAPE(2, 3), v), ids_tensor(AG_SHAPE(2, 3, 2), v)};
    for (int sparse = 0; sparse < 2; sparse++) {
        for (int i = 0; i < 3; i++) {
            ag_tensor *w = param(AG_SHAPE(7, 3), 50 + i, sparse);
            char label[64];
            snprintf(label, sizeof label, "gather_rows %s ids %dD", sparse ? "sparse" : "dense", ids[i]->ndim);
            tu_gradcheck(label, build_gather, ids[i], 1, (ag_tensor *[]){w}, GC_TOL);
            ag_tensor_free(w);
        }
    }
    for (int i = 0; i < 3; i++) ag_tensor_free(ids[i]);
}

/* The same lookups through a sparse and a dense weight give the same grad once coalesced, and the
 * sparse grad has one entry per id occurrence, in order. */
static void test_gather_sparse_matches_dense(void **state) {
    (void)state;
    const int32_t v[] = {3, 0, 3, 5, 3, 1};
    ag_tensor *ids = ids_tensor(AG_SHAPE(2, 3), v);
    ag_tensor *wd = param(AG_SHAPE(6, 4), 60, false);
    ag_tensor *ws = param(AG_SHAPE(6, 4), 60, true);
    ag_graph *g = ag_graph_new(0);
    float seed[24];
    for (int i = 0; i < 24; i++) seed[i] = 0.1f * (float)i - 1.0f;
    ag_backward_seed(g, ag_gather_rows(g, wd, ids), seed);
    ag_backward_seed(g, ag_gather_rows(g, ws, ids), seed);
    assert_null(ws->grad); /* nothing dense for a sparse weight */
    assert_non_null(ws->sgrad);
    assert_int_equal(ws->sgrad->n, 6);
    for (int i = 0; i < 6; i++) assert_int_equal(ws->sgrad->rows[i], v[i]);
    assert_memory_equal(ws->sgrad->vals, seed, sizeof seed);
    ag_sparse_grad_coalesce(ws->sgrad);
    float dense[24] = {0};
    for (int64_t k = 0; k < ws->sgrad->n; k++)
        for (int j = 0; j < 4; j++) dense[ws->sgrad->rows[k] * 4 + j] += ws->sgrad->vals[k * 4 + j];
    tu_assert_close("sparse vs dense", dense, wd->grad, 24, 1e-6);
    /* a second backward appends to what is already there */
    ag_graph_reset(g);
    ag_backward_seed(g, ag_gather_rows(g, ws, ids), seed);
    assert_int_equal(ws->sgrad->n, 4 + 6); /* 4 coalesced rows + 6 new entries */
    ag_graph_free(g);
    ag_tensor_free(ids);
    ag_tensor_free(wd);
    ag_tensor_free(ws);
}

typedef struct {
    ag_tensor *ids;
    int64_t nrows;
} sa_ctx;

static ag_tensor *build_scatter(ag_graph *g, ag_tensor *const *in, void *vctx) {
    const sa_ctx *c = vctx;
    return ag_scatter_add(g, in[0], c->ids, c->nrows);
}

static void test_scatter_gradcheck(void **state) {
    (void)state;
    const int32_t v[] = {2, 0, 2, 3, 2, 0, 1};
    for (int n = 1; n <= 7; n += 3) {
        ag_tensor *ids = ids_tensor(AG_SHAPE(n), v);
        ag_tensor *src = param(AG_SHAPE(n, 3), 70 + n, false);
        sa_ctx c = {ids, 5};
        tu_gradcheck("scatter_add", build_scatter, &c, 1, (ag_tensor *[]){src}, GC_TOL);
        ag_tensor_free(ids);
        ag_tensor_free(src);
    }
}

/* Scatter then gather through the same ids is a composite that exercises both backward kernels. */
static ag_tensor *build_scatter_gather(ag_graph *g, ag_tensor *const *in, void *vctx) {
    const sa_ctx *c = vctx;
    ag_tensor *s = ag_scatter_add(g, in[0], c->ids, c->nrows);
    return ag_gather_rows(g, s, c->ids);
}

static void test_scatter_gather_composite(void **state) {
    (void)state;
    const int32_t v[] = {2, 0, 2, 3};
    ag_tensor *ids = ids_tensor(AG_SHAPE(4), v);
    ag_tensor *src = param(AG_SHAPE(4, 2), 80, false);
    sa_ctx c = {ids, 4};
    tu_gradcheck("scatter_add -> gather_rows", build_scatter_gather, &c, 1, (ag_tensor *[]){src}, GC_TOL);
    ag_tensor_free(ids);
    ag_tensor_free(src);
}

/* ---- PyTorch reference values ------------------------------------------------------------------ */
static void test_index_vs_torch(void **state) {
    (void)state;
    tu_fixture *fx = tu_fixture_load(FX);
    ag_graph *g = ag_graph_new(0);
    ag_tensor *w = fx_tensor(fx, "gr_weight", AG_F32);
    ag_tensor_set_param(w, false);
    ag_tensor *ids = fx_tensor(fx, "gr_ids", AG_I32);
    ag_tensor *y = ag_gather_rows(g, w, ids);
    assert_int_equal(y->ndim, 3);
    tu_assert_close("gr_y", ag_f32(y), tu_fixture_get(fx, "gr_y", NULL, NULL), y->numel, FX_TOL);
    ag_backward_seed(g, y, tu_fixture_get(fx, "gr_w", NULL, NULL));
    tu_assert_close("gr_dweight", w->grad, tu_fixture_get(fx, "gr_dweight", NULL, NULL), w->numel, FX_TOL);
    ag_graph_reset(g);

    ag_tensor *src = fx_tensor(fx, "sa_src", AG_F32);
    ag_tensor_set_param(src, false);
    ag_tensor *sids = fx_tensor(fx, "sa_ids", AG_I32);
    y = ag_scatter_add(g, src, sids, 4);
    tu_assert_close("sa_y", ag_f32(y), tu_fixture_get(fx, "sa_y", NULL, NULL), y->numel, FX_TOL);
    ag_backward_seed(g, y, tu_fixture_get(fx, "sa_w", NULL, NULL));
    tu_assert_close("sa_dsrc", src->grad, tu_fixture_get(fx, "sa_dsrc", NULL, NULL), src->numel, FX_TOL);
    ag_graph_free(g);
    ag_tensor_free(w);
    ag_tensor_free(ids);
    ag_tensor_free(src);
    ag_tensor_free(sids);
    tu_fixture_free(fx);
}

static void test_gather_no_record_for_constants(void **state) {
    (void)state;
    ag_graph *g = ag_graph_new(0);
    ag_tensor *w = ag_from_f32(g, AG_SHAPE(3, 2), (const float[]){1, 2, 3, 4, 5, 6});
    ag_tensor *ids = ag_from_i32(g, AG_SHAPE(2), (const int32_t[]){2, 0});
    ag_tensor *y = ag_gather_rows(g, w, ids);
    assert_int_equal(ag_graph_nodes(g), 0);
    assert_true(ag_f32(y)[0] == 5.0f && ag_f32(y)[3] == 2.0f);
    ag_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gather_gradcheck),
        cmocka_unit_test(test_gather_sparse_matches_dense),
        cmocka_unit_test(test_scatter_gradcheck),
        cmocka_unit_test(test_scatter_gather_composite),
        cmocka_unit_test(test_index_vs_torch),
        cmocka_unit_test(test_gather_no_record_for_constants),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
