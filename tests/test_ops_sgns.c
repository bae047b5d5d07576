/* test_ops_sgns.c — fused skip-gram negative-sampling loss: gradchecks, stability, PyTorch values. */
#include "support/test_util.h"

#include <math.h>
#include <string.h>

#include "autograd/ag.h"

#define FX "tests/fixtures/ops_nn.txt"
#define GC_TOL 1e-2
#define FX_TOL 1e-5

static ag_tensor *build_sgns(ag_graph *g, ag_tensor *const *in, void *ctx) {
    (void)ctx;
    return ag_sgns_loss(g, in[0], in[1], in[2]);
}

static void test_sgns_gradcheck(void **state) {
    (void)state;
    const int64_t cfg[][3] = {{1, 1, 3}, {4, 5, 8}, {3, 1, 6}}; /* B, K, D */
    for (int i = 0; i < 3; i++) {
        int64_t B = cfg[i][0], K = cfg[i][1], D = cfg[i][2];
        ag_tensor *u = tu_param_uniform(2, (const int64_t[]){B, D}, 200 + i, -1, 1);
        ag_tensor *v = tu_param_uniform(2, (const int64_t[]){B, D}, 210 + i, -1, 1);
        ag_tensor *n = tu_param_uniform(3, (const int64_t[]){B, K, D}, 220 + i, -1, 1);
        char label[64];
        snprintf(label, sizeof label, "sgns B=%lld K=%lld D=%lld", (long long)B, (long long)K, (long long)D);
        tu_gradcheck(label, build_sgns, NULL, 3, (ag_tensor *[]){u, v, n}, GC_TOL);
        ag_tensor_free(u);
        ag_tensor_free(v);
        ag_tensor_free(n);
    }
}

/* Scores of ±100 must not overflow: −log σ(100) ≈ 0, −log σ(−100) ≈ 100, grads finite. */
static void test_sgns_stable(void **state) {
    (void)state;
    ag_graph *g = ag_graph_new(0);
    ag_tensor *u = ag_leaf(g, AG_SHAPE(2, 1), (const float[]){10, -10});
    ag_tensor *v = ag_leaf(g, AG_SHAPE(2, 1), (const float[]){10, 10});
    ag_tensor *n = ag_leaf(g, AG_SHAPE(2, 1, 1), (const float[]){-10, -10});
    ag_tensor *loss = ag_sgns_loss(g, u, v, n);
    /* b=0: s0 = 100 → ~0; s1 = −100 → −log σ(100) ~ 0.  b=1: s0 = −100 → 100; s1 = 100 → 100. */
    assert_true(fabsf(ag_f32(loss)[0] - 200.0f) < 1e-3f);
    ag_backward(g, loss);
    for (int i = 0; i < 2; i++) {
        assert_true(isfinite(u->grad[i]) && isfinite(v->grad[i]) && isfinite(n->grad[i]));
    }
    /* b=1: du = (σ(−100) − 1) v + σ(100) n = −10 − 10 = −20 */
    assert_true(fabsf(u->grad[1] + 20.0f) < 1e-4f);
    ag_graph_free(g);
}

static void test_sgns_vs_torch(void **state) {
    (void)state;
    tu_fixture *fx = tu_fixture_load(FX);
    ag_graph *g = ag_graph_new(0);
    ag_tensor *u = tu_fixture_param(fx, "sg_u"), *v = tu_fixture_param(fx, "sg_v"), *n = tu_fixture_param(fx, "sg_n");
    ag_tensor *loss = ag_sgns_loss(g, u, v, n);
    tu_assert_close("sg_loss", ag_f32(loss), tu_fixture_get(fx, "sg_loss", NULL, NULL), 1, FX_TOL);
    ag_backward(g, loss);
    tu_assert_close("sg_du", u->grad, tu_fixture_get(fx, "sg_du", NULL, NULL), u->numel, FX_TOL);
    tu_assert_close("sg_dv", v->grad, tu_fixture_get(fx, "sg_dv", NULL, NULL), v->numel, FX_TOL);
    tu_assert_close("sg_dn", n->grad, tu_fixture_get(fx, "sg_dn", NULL, NULL), n->numel, FX_TOL);
    ag_graph_free(g);
    ag_tensor_free(u);
    ag_tensor_free(v);
    ag_tensor_free(n);
    tu_fixture_free(fx);
}

/* Through gather_rows with sparse weights (the word2vec shape of use): the sparse grads, scattered,
 * equal the dense grads of the same computation. */
typedef struct {
    ag_tensor *cid, *xid, *nid;
} w2v_ctx;

static ag_tensor *build_w2v(ag_graph *g, ag_tensor *const *in, void *vctx) {
    const w2v_ctx *c = vctx;
    return ag_sgns_loss(g, ag_gather_rows(g, in[0], c->cid), ag_gather_rows(g, in[1], c->xid),
                        ag_gather_rows(g, in[1], c->nid));
}

static void test_sgns_through_sparse_gather(void **state) {
    (void)state;
    ag_tensor *cid = ag_tensor_alloc(AG_I32, AG_SHAPE(3)), *xid = ag_tensor_alloc(AG_I32, AG_SHAPE(3));
    ag_tensor *nid = ag_tensor_alloc(AG_I32, AG_SHAPE(3, 2));
    memcpy(cid->data, (const int32_t[]){0, 2, 0}, 12);
    memcpy(xid->data, (const int32_t[]){1, 3, 4}, 12);
    memcpy(nid->data, (const int32_t[]){4, 2, 1, 1, 0, 3}, 24);
    w2v_ctx c = {cid, xid, nid};
    for (int sparse = 0; sparse < 2; sparse++) {
        ag_tensor *win = tu_param_uniform(AG_SHAPE(5, 4), 230, -1, 1), *wout = tu_param_uniform(AG_SHAPE(5, 4), 231, -1, 1);
        ag_tensor_set_param(win, sparse);
        ag_tensor_set_param(wout, sparse);
        tu_gradcheck(sparse ? "sgns via sparse gather" : "sgns via dense gather", build_w2v, &c, 2,
                     (ag_tensor *[]){win, wout}, GC_TOL);
        ag_tensor_free(win);
        ag_tensor_free(wout);
    }
    ag_tensor_free(cid);
    ag_tensor_free(xid);
    ag_tensor_free(nid);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sgns_gradcheck),
        cmocka_unit_test(test_sgns_stable),
        cmocka_unit_test(test_sgns_vs_torch),
        cmocka_unit_test(test_sgns_through_sparse_gather),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
