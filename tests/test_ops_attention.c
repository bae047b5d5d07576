/* test_ops_attention.c — fused attention: gradchecks (causal, padding, GQA, bias, T != S), PyTorch values, threading modes. */
#include "support/test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ag.h"

#define FX "tests/fixtures/ops_nn.txt"
#define GC_TOL 1e-2
#define FX_TOL 1e-5

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

typedef struct {
    int64_t B, H, Hkv, T, S, Dh;
    bool causal, pad, bias;
} attn_cfg;

typedef struct {
    bool causal;
    ag_tensor *pad, *bias;
    float scale;
} attn_ctx;

static ag_tensor *build_attn(ag_graph *g, ag_tensor *const *in, void *vctx) {
    const attn_ctx *c = vctx;
    return ag_attention(g, in[0], in[1], in[2], c->causal, c->pad, c->bias, c->scale);
}

static void gradcheck_cfg(const attn_cfg *cf, uint64_t seed) {
    ag_tensor *q = tu_param_uniform(AG_SHAPE(cf->B, cf->H, cf->T, cf->Dh), seed, -1.5f, 1.5f);
    ag_tensor *k = tu_param_uniform(AG_SHAPE(cf->B, cf->Hkv, cf->S, cf->Dh), seed + 1, -1.5f, 1.5f);
    ag_tensor *v = tu_param_uniform(AG_SHAPE(cf->B, cf->Hkv, cf->S, cf->Dh), seed + 2, -1.5f, 1.5f);
    ag_tensor *pad = NULL, *bias = NULL;
    if (cf->pad) {
        pad = ag_tensor_alloc(AG_I32, AG_SHAPE(cf->B, cf->S));
        for (int64_t b = 0; b < cf->B; b++)
            for (int64_t s = 0; s < cf->S; s++) ag_i32(pad)[b * cf->S + s] = s >= cf->S - 1 - b; /* tail padded */
        if (cf->B > 2)
            for (int64_t s = 0; s < cf->S; s++) ag_i32(pad)[2 * cf->S + s] = 1; /* a fully padded sequence */
    }
    if (cf->bias) {
        bias = ag_tensor_alloc(AG_F32, AG_SHAPE(cf->H, cf->T, cf->S));
        tu_fill_uniform(bias, seed + 3, -1, 1);
    }
    attn_ctx c = {cf->causal, pad, bias, 1.0f / sqrtf((float)cf->Dh)};
    char label[96];
    snprintf(label, sizeof label, "attn B%lld H%lld/%lld T%lld S%lld%s%s%s", (long long)cf->B, (long long)cf->H,
             (long long)cf->Hkv, (long long)cf->T, (long long)cf->S, cf->causal ? " causal" : "", cf->pad ? " pad" : "",
             cf->bias ? " bias" : "");
    tu_gradcheck(label, build_attn, &c, 3, (ag_tensor *[]){q, k, v}, GC_TOL);
    ag_tensor_free(q);
    ag_tensor_free(k);
    ag_tensor_free(v);
    ag_tensor_free(pad);
    ag_tensor_free(bias);
}

static void test_attention_gradcheck(void **state) {
    (void)state;
    const attn_cfg cfgs[] = {
        {1, 2, 2, 3, 3, 4, false, false, false}, /* plain */
        {2, 2, 2, 4, 4, 4, true, false, false},  /* causal */
        {2, 4, 2, 3, 5, 4, true, true, false},   /* GQA 4/2, causal, padding, T < S */
        {1, 4, 1, 4, 4, 4, true, false, false},  /* GQA 4/1 (multi-query), causal */
        {2, 4, 2, 4, 6, 3, false, true, true},   /* padding + ALiBi-style bias */
        {1, 2, 1, 5, 3, 4, true, false, true},   /* T > S causal: the first rows see nothing */
        {3, 2, 2, 2, 4, 4, false, true, false},  /* batch 2 fully padded: zeros, zero grads */
    };
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++) gradcheck_cfg(&cfgs[i], 300 + 10 * i);
}

/* Rows that see no key produce zeros (not NaN) and pass no gradient. */
static void test_attention_empty_rows(void **state) {
    (void)state;
    ag_graph *g = ag_graph_new(0);
    ag_tensor *q = ag_leaf(g, AG_SHAPE(1, 1, 3, 2), (const float[]){1, 2, 3, 4, 5, 6});
    ag_tensor *k = ag_leaf(g, AG_SHAPE(1, 1, 2, 2), (const float[]){1, 0, 0, 1});
    ag_tensor *v = ag_leaf(g, AG_SHAPE(1, 1, 2, 2), (const float[]){1, 2, 3, 4});
    /* T=3 > S=2 causal: row 0 sees keys s ≤ 0 − 1, i.e. none */
    ag_tensor *y = ag_attention(g, q, k, v, true, NULL, NULL, 1.0f);
    assert_true(ag_f32(y)[0] == 0.0f && ag_f32(y)[1] == 0.0f);
    for (int i = 2; i < 6; i++) assert_false(isnan(ag_f32(y)[i]));
    ag_backward_seed(g, y, (const float[]){1, 1, 1, 1, 1, 1});
    assert_true(q->grad[0] == 0.0f && q->grad[1] == 0.0f);
    for (int i = 0; i < 4; i++) assert_false(isnan(k->grad[i]) || isnan(v->grad[i]));
    ag_graph_free(g);
}

static void test_attention_vs_torch(void **state) {
    (void)state;
    tu_fixture *fx = tu_fixture_load(FX);
    const char *names[] = {"at1", "at2", "at3", "at4"};
    const bool causal[] = {true, false, true, false};
    ag_graph *g = ag_graph_new(0);
    for (int i = 0; i < 4; i++) {
        char nm[64];
        /* name of record `suffix` of this config (kept out of argument lists: evaluation order) */
#define FXN(suffix) (snprintf(nm, sizeof nm, "%s_%s", names[i], suffix), nm)
        ag_tensor *q = tu_fixture_param(fx, FXN("q"));
        ag_tensor *k = tu_fixture_param(fx, FXN("k"));
        ag_tensor *v = tu_fixture_param(fx, FXN("v"));
        ag_tensor *pad = tu_fixture_has(fx, FXN("pad")) ? fx_tensor(fx, nm, AG_I32) : NULL;
        ag_tensor *bias = tu_fixture_has(fx, FXN("bias")) ? fx_tensor(fx, nm, AG_F32) : NULL;
        ag_tensor *y = ag_attention(g, q, k, v, causal[i], pad, bias, 1.0f / sqrtf((float)q->shape[3]));
        const float *want = tu_fixture_get(fx, FXN("y"), NULL, NULL);
        tu_assert_close(nm, ag_f32(y), want, y->numel, FX_TOL);
        ag_backward_seed(g, y, tu_fixture_get(fx, FXN("w"), NULL, NULL));
        want = tu_fixture_get(fx, FXN("dq"), NULL, NULL);
        tu_assert_close(nm, q->grad, want, q->numel, FX_TOL);
        want = tu_fixture_get(fx, FXN("dk"), NULL, NULL);
        tu_assert_close(nm, k->grad, want, k->numel, FX_TOL);
        want = tu_fixture_get(fx, FXN("dv"), NULL, NULL);
        tu_assert_close(nm, v->grad, want, v->numel, FX_TOL);
#undef FXN
        ag_graph_reset(g);
        ag_tensor_free(q);
        ag_tensor_free(k);
        ag_tensor_free(v);
        ag_tensor_free(pad);
        ag_tensor_free(bias);
    }
    ag_graph_free(g);
    tu_fixture_free(fx);
}

/* Both threading strategies (OpenMP over heads with 1-thread sgemm; sequential heads with threaded
 * sgemm) give the same numbers, on a size where each actually runs in parallel. */
static void test_attention_threading_modes_agree(void **state) {
    (void)state;
    enum { B = 4, H = 4, HKV = 2, T = 48, S = 64, DH = 32 };
    ag_tensor *q = tu_param_uniform(AG_SHAPE(B, H, T, DH), 400, -1, 1);
    ag_tensor *k = tu_param_uniform(AG_SHAPE(B, HKV, S, DH), 401, -1, 1);
    ag_tensor *v = tu_param_uniform(AG_SHAPE(B, HKV, S, DH), 402, -1, 1);
    ag_tensor *seed = ag_tensor_alloc(AG_F32, AG_SHAPE(B, H, T, DH));
    tu_fill_uniform(seed, 403, -1, 1);
    ag_tensor *pad = ag_tensor_alloc(AG_I32, AG_SHAPE(B, S));
    for (int s = 50; s < S; s++) ag_i32(pad)[S + s] = 1;
    const char *modes[] = {"heads", "blas"};
    float *res[2][4];
    ag_graph *g = ag_graph_new(0);
    for (int m = 0; m < 2; m++) {
        setenv("EMBER_ATTN_THREADS", modes[m], 1);
        ag_zero_grad(q);
        ag_zero_grad(k);
        ag_zero_grad(v);
        ag_tensor *y = ag_attention(g, q, k, v, true, pad, NULL, 0.17f);
        ag_backward_seed(g, y, ag_f32(seed));
        ag_tensor *ts[] = {y, q, k, v};
        for (int j = 0; j < 4; j++) {
            res[m][j] = base_xmalloc(sizeof(float) * (size_t)ts[j]->numel);
            memcpy(res[m][j], j ? ts[j]->grad : ag_f32(ts[j]), sizeof(float) * (size_t)ts[j]->numel);
        }
        ag_graph_reset(g);
    }
    unsetenv("EMBER_ATTN_THREADS");
    const int64_t n[] = {q->numel, q->numel, k->numel, v->numel};
    const char *labels[] = {"out", "dq", "dk", "dv"};
    for (int j = 0; j < 4; j++) {
        tu_assert_close(labels[j], res[0][j], res[1][j], n[j], 1e-5);
        free(res[0][j]);
        free(res[1][j]);
    }
    ag_graph_free(g);
    ag_tensor_free(q);
    ag_tensor_free(k);
    ag_tensor_free(v);
    ag_tensor_free(seed);
    ag_tensor_free(pad);
}

/* Without a tape node (no_grad, or constant inputs) P lives in per-thread scratch: same output. */
static void test_attention_no_grad_same_output(void **state) {
    (void)state;
    enum { B = 3, H = 4, HKV = 2, T = 9, S = 11, DH = 8 };
    ag_tensor *q = tu_param_uniform(AG_SHAPE(B, H, T, DH), 500, -1, 1);
    ag_tensor *k = tu_param_uniform(AG_SHAPE(B, HKV, S, DH), 501, -1, 1);
    ag_tensor *v = tu_param_uniform(AG_SHAPE(B, HKV, S, DH), 502, -1, 1);
    ag_tensor *bias = ag_tensor_alloc(AG_F32, AG_SHAPE(H, T, S));
    tu_fill_uniform(bias, 503, -1, 1);
    ag_graph *g = ag_graph_new(0);
    ag_tensor *y = ag_attention(g, q, k, v, true, NULL, bias, 0.3f);
    assert_int_equal(ag_graph_nodes(g), 1);
    ag_no_grad_begin(g);
    ag_tensor *y2 = ag_attention(g, q, k, v, true, NULL, bias, 0.3f);
    ag_no_grad_end(g);
    assert_int_equal(ag_graph_nodes(g), 1);
    tu_assert_close("no_grad forward", ag_f32(y2), ag_f32(y), y->numel, 1e-6);
    ag_graph_free(g);
    ag_tensor_free(q);
    ag_tensor_free(k);
    ag_tensor_free(v);
    ag_tensor_free(bias);
}

/* Only q requires grad (k, v constants): dq is the same as when all three do, k/v get no grad. */
static void test_attention_partial_grads(void **state) {
    (void)state;
    enum { B = 2, H = 4, HKV = 2, T = 5, S = 6, DH = 4 };
    ag_tensor *q = tu_param_uniform(AG_SHAPE(B, H, T, DH), 600, -1, 1);
    ag_tensor *k = tu_param_uniform(AG_SHAPE(B, HKV, S, DH), 601, -1, 1);
    ag_tensor *v = tu_param_uniform(AG_SHAPE(B, HKV, S, DH), 602, -1, 1);
    ag_tensor *seed = ag_tensor_alloc(AG_F32, AG_SHAPE(B, H, T, DH));
    tu_fill_uniform(seed, 603, -1, 1);
    ag_graph *g = ag_graph_new(0);
    ag_backward_seed(g, ag_attention(g, q, k, v, true, NULL, NULL, 0.5f), ag_f32(seed));
    float dq_all[B * H * T * DH];
    memcpy(dq_all, q->grad, sizeof dq_all);
    ag_graph_reset(g);
    ag_zero_grad(q);
    k->flags &= ~(uint32_t)AG_REQUIRES_GRAD;
    v->flags &= ~(uint32_t)AG_REQUIRES_GRAD;
    ag_zero_grad(k);
    ag_zero_grad(v);
    ag_backward_seed(g, ag_attention(g, q, k, v, true, NULL, NULL, 0.5f), ag_f32(seed));
    tu_assert_close("dq (q only)", q->grad, dq_all, q->numel, 1e-6);
    for (int64_t i = 0; i < k->numel; i++) assert_true(k->grad[i] == 0.0f && v->grad[i] == 0.0f);
    ag_graph_free(g);
    ag_tensor_free(q);
    ag_tensor_free(k);
    ag_tensor_free(v);
    ag_tensor_free(seed);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_attention_gradcheck),
        cmocka_unit_test(test_attention_empty_rows),
        cmocka_unit_test(test_attention_vs_torch),
        cmocka_unit_test(test_attention_threading_modes_agree),
        cmocka_unit_test(test_attention_no_grad_same_output),
        cmocka_unit_test(test_attention_partial_grads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
