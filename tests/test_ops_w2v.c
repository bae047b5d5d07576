/* test_ops_w2v.c — gradchecks and reference values for word2vec's fused ops (ops_w2v.c). */
#include "support/test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int64_t C, M;
    const int32_t *in, *out, *codes; /* codes NULL: NS */
    bool mean;
} case_ctx;

static ag_tensor *build(ag_graph *g, ag_tensor *const *inputs, void *vctx) {
    case_ctx *c = vctx;
    ag_tensor *in = ag_from_i32(g, 1, &c->C, c->in);
    ag_tensor *out = ag_from_i32(g, 1, &c->M, c->out);
    if (c->codes) {
        ag_tensor *codes = ag_from_i32(g, 1, &c->M, c->codes);
        return ag_w2v_hs_loss(g, inputs[0], inputs[1], in, out, codes, c->mean);
    }
    return ag_w2v_ns_loss(g, inputs[0], inputs[1], in, out, c->mean);
}

/* Two tables [V, D]; sparse or dense grads; values large enough that σ is not saturated nor flat. */
static void run_case(const char *label, case_ctx *c, bool sparse) {
    ag_tensor *w0 = ag_tensor_alloc(AG_F32, 2, (int64_t[]){7, 5});
    ag_tensor *w1 = ag_tensor_alloc(AG_F32, 2, (int64_t[]){9, 5});
    tu_fill_uniform(w0, 11, -0.8f, 0.8f);
    tu_fill_uniform(w1, 12, -0.8f, 0.8f);
    ag_tensor_set_param(w0, sparse);
    ag_tensor_set_param(w1, sparse);
    ag_tensor *ins[2] = {w0, w1};
    /* every path of the block products: own SIMD kernel (auto), sgemm, the scalar fallback */
    static const char *const paths[] = {"auto", "blas", "scalar"};
    for (int p = 0; p < 3; p++) {
        char l[128];
        snprintf(l, sizeof l, "%s (%s)", label, paths[p]);
        assert_int_equal(ag_w2v_kernel_select(paths[p]), 0);
        tu_gradcheck(l, build, c, 2, ins, 2e-3);
    }
    assert_int_equal(ag_w2v_kernel_select("auto"), 0);
    ag_tensor_free(w0);
    ag_tensor_free(w1);
}

static const int32_t in_ids[] = {1, 4, 4, 6};      /* a repeated context word */
static const int32_t out_ids[] = {2, 0, 8, 2, 5}; /* a negative equal to the target */
static const int32_t codes[] = {1, 0, 0, 1, 1};

static void test_ns_gradcheck(void **state) {
    (void)state;
    case_ctx c = {4, 5, in_ids, out_ids, NULL, false};
    run_case("w2v_ns skip-gram sparse", &c, true);
    run_case("w2v_ns skip-gram dense", &c, false);
    c.mean = true;
    run_case("w2v_ns cbow sparse", &c, true);
    run_case("w2v_ns cbow dense", &c, false);
}

static void test_hs_gradcheck(void **state) {
    (void)state;
    case_ctx c = {4, 5, in_ids, out_ids, codes, false};
    run_case("w2v_hs skip-gram sparse", &c, true);
    run_case("w2v_hs skip-gram dense", &c, false);
    c.mean = true;
    run_case("w2v_hs cbow sparse", &c, true);
    c.C = 1;
    run_case("w2v_hs cbow one context", &c, true);
}

/* Forward value against a direct double-precision evaluation of the formula. */
static void test_ns_value(void **state) {
    (void)state;
    ag_tensor *w0 = ag_tensor_alloc(AG_F32, 2, (int64_t[]){7, 5});
    ag_tensor *w1 = ag_tensor_alloc(AG_F32, 2, (int64_t[]){9, 5});
    tu_fill_uniform(w0, 3, -2.0f, 2.0f);
    tu_fill_uniform(w1, 4, -2.0f, 2.0f);
    ag_graph *g = ag_graph_new(0);
    for (int mean = 0; mean <= 1; mean++) {
        for (int hs = 0; hs <= 1; hs++) {
            case_ctx c = {4, 5, in_ids, out_ids, hs ? codes : NULL, mean};
            ag_tensor *ins[2] = {w0, w1};
            ag_tensor *loss = build(g, ins, &c);
            double ref = 0;
            int nx = mean ? 1 : 4;
            for (int a = 0; a < nx; a++) {
                double x[5] = {0};
                for (int d = 0; d < 5; d++) {
                    if (mean) {
                        for (int k = 0; k < 4; k++) x[d] += ag_f32(w0)[in_ids[k] * 5 + d] / 4.0;
                    } else {
                        x[d] = ag_f32(w0)[in_ids[a] * 5 + d];
                    }
                }
                for (int j = 0; j < 5; j++) {
                    double s = 0;
                    for (int d = 0; d < 5; d++) s += x[d] * ag_f32(w1)[out_ids[j] * 5 + d];
                    int label = hs ? 1 - codes[j] : (j == 0);
                    double z = label ? s : -s;
                    ref += log1p(exp(-z));
                }
            }
            double got = ag_f32(loss)[0];
            if (fabs(got - ref) > 1e-4 * fmax(1.0, fabs(ref)))
                fail_msg("mean %d hs %d: loss %.7f, reference %.7f", mean, hs, got, ref);
            ag_graph_reset(g);
        }
    }
    /* Large scores: no overflow, loss ≈ |s| for a wrong-signed score. */
    tu_fill_uniform(w0, 3, 9.0f, 10.0f);
    tu_fill_uniform(w1, 4, 9.0f, 10.0f);
    case_ctx c = {4, 5, in_ids, out_ids, NULL, false};
    ag_tensor *ins[2] = {w0, w1};
    ag_tensor *loss = build(g, ins, &c);
    assert_true(isfinite(ag_f32(loss)[0]));
    assert_true(ag_f32(loss)[0] > 1000.0f);
    ag_graph_free(g);
    ag_tensor_free(w0);
    ag_tensor_free(w1);
}

/* Nothing is recorded and no grad is touched when the tables do not require grad. */
static void test_no_record(void **state) {
    (void)state;
    ag_tensor *w0 = ag_tensor_alloc(AG_F32, 2, (int64_t[]){7, 5});
    ag_tensor *w1 = ag_tensor_alloc(AG_F32, 2, (int64_t[]){9, 5});
    ag_graph *g = ag_graph_new(0);
    case_ctx c = {4, 5, in_ids, out_ids, NULL, false};
    ag_tensor *ins[2] = {w0, w1};
    ag_tensor *loss = build(g, ins, &c);
    assert_int_equal(ag_graph_nodes(g), 0);
    /* all scores 0: loss = C·M·ln 2 */
    assert_true(fabs(ag_f32(loss)[0] - 20.0 * log(2.0)) < 1e-4);
    assert_string_equal(ag_op_name(AG_OP_W2V_NS), "w2v_ns_loss");
    assert_string_equal(ag_op_name(AG_OP_W2V_HS), "w2v_hs_loss");
    ag_graph_free(g);
    ag_tensor_free(w0);
    ag_tensor_free(w1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ns_gradcheck),
        cmocka_unit_test(test_hs_gradcheck),
        cmocka_unit_test(test_ns_value),
        cmocka_unit_test(test_no_record),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
