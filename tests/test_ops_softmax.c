/* test_ops_softmax.c — softmax, log_softmax (masks, all -inf rows) and cross-entropy: gradchecks and PyTorch values. */
#include "support/test_util.h"

#include <math.h>
#include <string.h>

#include "autograd/ag.h"

#define FX "tests/fixtures/ops_nn.txt"
#define GC_TOL 1e-2
#define FX_TOL 1e-5

/* A heap tensor holding a copy of a fixture record (f32, no grad). */
static ag_tensor *fx_tensor(const tu_fixture *fx, const char *name) {
    int nd;
    int64_t sh[AG_MAX_DIMS];
    const float *v = tu_fixture_get(fx, name, &nd, sh);
    ag_tensor *t = ag_tensor_alloc(AG_F32, nd, sh);
    memcpy(t->data, v, (size_t)t->numel * sizeof(float));
    return t;
}

static ag_tensor *fx_ids(const tu_fixture *fx, const char *name) {
    ag_tensor *f = fx_tensor(fx, name);
    ag_tensor *t = ag_tensor_alloc(AG_I32, f->ndim, f->shape);
    for (int64_t i = 0; i < f->numel; i++) ag_i32(t)[i] = (int32_t)lrintf(ag_f32(f)[i]);
    ag_tensor_free(f);
    return t;
}

/* ---- gradchecks ------------------------------------------------------------------------------ */
typedef struct {
    bool log;          /* log_softmax instead of softmax */
    bool with_mask;    /* inputs[1] is the mask */
} sm_ctx;

static ag_tensor *build_softmax(ag_graph *g, ag_tensor *const *in, void *vctx) {
    const sm_ctx *c = vctx;
    ag_tensor *mask = c->with_mask ? in[1] : NULL;
    return c->log ? ag_log_softmax(g, in[0], mask) : ag_softmax(g, in[0], mask);
}

static void test_softmax_gradcheck(void **state) {
    (void)state;
    const int64_t shapes[][3] = {{1, 1, 5}, {1, 3, 7}, {2, 3, 4}};
    const int nds[] = {1, 2, 3};
    for (int s = 0; s < 3; s++) {
        for (int lg = 0; lg < 2; lg++) {
            ag_tensor *x = tu_param_uniform(nds[s], shapes[s] + 3 - nds[s], 10 + s, -3, 3);
            sm_ctx c = {lg, false};
            tu_gradcheck(lg ? "log_softmax" : "softmax", build_softmax, &c, 1, (ag_tensor *[]){x}, GC_TOL);
            ag_tensor_free(x);
        }
    }
}

/* softmax with a -inf mask broadcast over rows, including a fully masked row (zeros, zero grad). */
static void test_softmax_inf_mask_gradcheck(void **state) {
    (void)state;
    ag_tensor *x = tu_param_uniform(AG_SHAPE(2, 3, 4), 21, -2, 2);
    ag_tensor *mask = ag_tensor_alloc(AG_F32, AG_SHAPE(2, 1, 4)); /* broadcast over the middle axis */
    float *m = ag_f32(mask);
    m[1] = -INFINITY;                                  /* batch 0: key 1 hidden */
    m[4] = m[5] = m[6] = m[7] = -INFINITY;             /* batch 1: every key hidden */
    sm_ctx c = {false, true};
    tu_gradcheck("softmax -inf mask [2,1,4]", build_softmax, &c, 2, (ag_tensor *[]){x, mask}, GC_TOL);
    /* log_softmax only with fully-masked rows (a partially masked row has -inf outputs). */
    c.log = true;
    m[1] = 0.0f;
    tu_gradcheck("log_softmax dead rows", build_softmax, &c, 2, (ag_tensor *[]){x, mask}, GC_TOL);
    ag_tensor_free(x);
    ag_tensor_free(mask);
}

/* Finite additive masks that require grad themselves (broadcast: grads are summed). */
static void test_softmax_mask_grad(void **state) {
    (void)state;
    ag_tensor *x = tu_param_uniform(AG_SHAPE(2, 3, 5), 31, -2, 2);
    ag_tensor *m1 = tu_param_uniform(AG_SHAPE(5), 32, -2, 0);
    ag_tensor *m2 = tu_param_uniform(AG_SHAPE(3, 1), 33, -2, 0);
    for (int lg = 0; lg < 2; lg++) {
        sm_ctx c = {lg, true};
        tu_gradcheck(lg ? "log_softmax mask [5]" : "softmax mask [5]", build_softmax, &c, 2, (ag_tensor *[]){x, m1},
                     GC_TOL);
        tu_gradcheck(lg ? "log_softmax mask [3,1]" : "softmax mask [3,1]", build_softmax, &c, 2,
                     (ag_tensor *[]){x, m2}, GC_TOL);
    }
    ag_tensor_free(x);
    ag_tensor_free(m1);
    ag_tensor_free(m2);
}

/* An all -inf row yields zeros (no NaN) in both ops and contributes zero grads. */
static void test_all_inf_row(void **state) {
    (void)state;
    ag_graph *g = ag_graph_new(0);
    const float xv[] = {-INFINITY, -INFINITY, -INFINITY, 1, 2, 3};
    for (int lg = 0; lg < 2; lg++) {
        ag_tensor *x = ag_leaf(g, AG_SHAPE(2, 3), xv);
        ag_tensor *y = lg ? ag_log_softmax(g, x, NULL) : ag_softmax(g, x, NULL);
        for (int j = 0; j < 3; j++) assert_true(ag_f32(y)[j] == 0.0f);
        for (int j = 3; j < 6; j++) assert_false(isnan(ag_f32(y)[j]));
        const float seed[] = {1, 2, 3, 1, -1, 0.5f};
        ag_backward_seed(g, y, seed);
        for (int j = 0; j < 3; j++) assert_true(x->grad[j] == 0.0f);
        for (int j = 3; j < 6; j++) assert_false(isnan(x->grad[j]));
        ag_graph_reset(g);
    }
    ag_graph_free(g);
}

typedef struct {
    ag_tensor *targets;
    int ignore;
    int reduction;
} ce_ctx;

static ag_tensor *build_ce(ag_graph *g, ag_tensor *const *in, void *vctx) {
    const ce_ctx *c = vctx;
    return ag_cross_entropy(g, in[0], c->targets, c->ignore, c->reduction);
}

static void test_cross_entropy_gradcheck(void **state) {
    (void)state;
    /* [6, 5] with two ignored rows; [2, 3, 4] flattened to [6, 4] with ignore_index 3 (a valid
     * class id that is ignored); mean and sum. */
    ag_tensor *x1 = tu_param_uniform(AG_SHAPE(6, 5), 41, -3, 3);
    ag_tensor *t1 = ag_tensor_alloc(AG_I32, AG_SHAPE(6));
    const int32_t tv1[] = {0, -100, 4, 2, -100, 1};
    memcpy(t1->data, tv1, sizeof tv1);
    ag_tensor *x2 = tu_param_uniform(AG_SHAPE(2, 3, 4), 42, -3, 3);
    ag_tensor *t2 = ag_tensor_alloc(AG_I32, AG_SHAPE(6));
    const int32_t tv2[] = {3, 0, 1, 2, 3, 1};
    memcpy(t2->data, tv2, sizeof tv2);
    for (int red = 0; red < 2; red++) {
        ce_ctx c1 = {t1, -100, red}, c2 = {t2, 3, red};
        tu_gradcheck(red == AG_MEAN ? "cross_entropy [6,5] mean" : "cross_entropy [6,5] sum", build_ce, &c1, 1,
                     (ag_tensor *[]){x1}, GC_TOL);
        tu_gradcheck(red == AG_MEAN ? "cross_entropy [2,3,4] mean" : "cross_entropy [2,3,4] sum", build_ce, &c2, 1,
                     (ag_tensor *[]){x2}, GC_TOL);
    }
    ag_tensor_free(x1);
    ag_tensor_free(t1);
    ag_tensor_free(x2);
    ag_tensor_free(t2);
}

/* Every row ignored: the mean is 0 (torch gives NaN) and no grad flows. */
static void test_cross_entropy_all_ignored(void **state) {
    (void)state;
    ag_graph *g = ag_graph_new(0);
    ag_tensor *x = ag_leaf(g, AG_SHAPE(2, 3), (const float[]){1, 2, 3, 4, 5, 6});
    ag_tensor *t = ag_from_i32(g, AG_SHAPE(2), (const int32_t[]){-1, -1});
    ag_tensor *loss = ag_cross_entropy(g, x, t, -1, AG_MEAN);
    assert_true(ag_f32(loss)[0] == 0.0f);
    ag_backward(g, loss);
    for (int j = 0; j < 6; j++) assert_true(x->grad == NULL || x->grad[j] == 0.0f);
    ag_graph_free(g);
}

/* ---- PyTorch reference values ------------------------------------------------------------------ */
static void test_softmax_vs_torch(void **state) {
    (void)state;
    tu_fixture *fx = tu_fixture_load(FX);
    ag_graph *g = ag_graph_new(0);
    const char *pre[] = {"sm", "lsm"};
    for (int lg = 0; lg < 2; lg++) {
        char nm[64];
        snprintf(nm, sizeof nm, "%s_x", pre[lg]);
        ag_tensor *xh = fx_tensor(fx, nm);
        snprintf(nm, sizeof nm, "%s_mask", pre[lg]);
        ag_tensor *mh = fx_tensor(fx, nm);
        ag_tensor *x = ag_leaf(g, xh->ndim, xh->shape, ag_f32(xh));
        ag_tensor *y = lg ? ag_log_softmax(g, x, mh) : ag_softmax(g, x, mh);
        snprintf(nm, sizeof nm, "%s_y", pre[lg]);
        tu_assert_close(nm, ag_f32(y), tu_fixture_get(fx, nm, NULL, NULL), y->numel, FX_TOL);
        snprintf(nm, sizeof nm, "%s_w", pre[lg]);
        ag_backward_seed(g, y, tu_fixture_get(fx, nm, NULL, NULL));
        snprintf(nm, sizeof nm, "%s_dx", pre[lg]);
        tu_assert_close(nm, x->grad, tu_fixture_get(fx, nm, NULL, NULL), x->numel, FX_TOL);
        ag_graph_reset(g);
        ag_tensor_free(xh);
        ag_tensor_free(mh);
    }
    ag_graph_free(g);
    tu_fixture_free(fx);
}

static void test_cross_entropy_vs_torch(void **state) {
    (void)state;
    tu_fixture *fx = tu_fixture_load(FX);
    ag_graph *g = ag_graph_new(0);
    ag_tensor *lh = fx_tensor(fx, "ce_logits");
    ag_tensor *th = fx_ids(fx, "ce_targets");
    const char *names[] = {"ce_mean", "ce_sum"};
    const char *gnames[] = {"ce_mean_grad", "ce_sum_grad"};
    for (int red = 0; red < 2; red++) {
        ag_tensor *x = ag_leaf(g, lh->ndim, lh->shape, ag_f32(lh));
        ag_tensor *loss = ag_cross_entropy(g, x, th, -100, red == 0 ? AG_MEAN : AG_SUM);
        tu_assert_close(names[red], ag_f32(loss), tu_fixture_get(fx, names[red], NULL, NULL), 1, FX_TOL);
        ag_backward(g, loss);
        tu_assert_close(gnames[red], x->grad, tu_fixture_get(fx, gnames[red], NULL, NULL), x->numel, FX_TOL);
        ag_graph_reset(g);
    }
    ag_tensor_free(lh);
    ag_tensor_free(th);
    ag_graph_free(g);
    tu_fixture_free(fx);
}

/* Nothing is recorded when no input requires grad or inside no_grad. */
static void test_no_record(void **state) {
    (void)state;
    ag_graph *g = ag_graph_new(0);
    ag_tensor *x = ag_from_f32(g, AG_SHAPE(2, 2), (const float[]){1, 2, 3, 4});
    ag_softmax(g, x, NULL);
    ag_tensor *t = ag_from_i32(g, AG_SHAPE(2), (const int32_t[]){0, 1});
    ag_cross_entropy(g, x, t, -1, AG_MEAN);
    assert_int_equal(ag_graph_nodes(g), 0);
    ag_tensor *l = ag_leaf(g, AG_SHAPE(2, 2), (const float[]){1, 2, 3, 4});
    ag_no_grad_begin(g);
    ag_log_softmax(g, l, NULL);
    ag_no_grad_end(g);
    assert_int_equal(ag_graph_nodes(g), 0);
    ag_log_softmax(g, l, NULL);
    assert_int_equal(ag_graph_nodes(g), 1);
    ag_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_softmax_gradcheck),
        cmocka_unit_test(test_softmax_inf_mask_gradcheck),
        cmocka_unit_test(test_softmax_mask_grad),
        cmocka_unit_test(test_all_inf_row),
        cmocka_unit_test(test_cross_entropy_gradcheck),
        cmocka_unit_test(test_cross_entropy_all_ignored),
        cmocka_unit_test(test_softmax_vs_torch),
        cmocka_unit_test(test_cross_entropy_vs_torch),
        cmocka_unit_test(test_no_record),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
