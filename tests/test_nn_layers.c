/* test_nn_layers.c — Embedding, Linear, norms, MLPs, pooling, parameter sets: PyTorch fixtures + gradchecks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "nn/nn.h"
#include "support/test_util.h"

static tu_fixture *FX;

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

/* ---- Embedding -------------------------------------------------------------------------------- */
static void test_embedding_padding_maxnorm_vs_torch(void **state) {
    (void)state;
    for (int sparse = 0; sparse < 2; sparse++) {
        nn_params ps;
        nn_params_init(&ps);
        nn_embedding e;
        nn_embedding_config c = nn_embedding_config_default(10, 4);
        c.padding_idx = 1;
        c.max_norm = 1.0f;
        c.sparse_grad = sparse;
        nn_embedding_init(&e, &ps, "emb", c);
        base_rng rng;
        base_rng_seed(&rng, 1);
        nn_params_alloc(&ps, &rng);
        tu_fixture_copy(FX, e.weight, "emb.weight");
        ag_graph *g = ag_graph_new(0);
        ag_tensor *out = nn_embedding_forward(g, &e, tu_fixture_tensor(FX, g, "emb.ids", true));
        assert_non_null(out);
        assert_int_equal(out->ndim, 3);
        tu_fixture_check(FX, "emb.out", out, "emb.out", 1e-6);
        tu_fixture_check(FX, "emb.weight_after", e.weight, "emb.weight_after", 1e-6);
        ag_tensor *loss = ag_sum(g, ag_mul(g, out, tu_fixture_tensor(FX, g, "emb.r", false)), AG_ALL_AXES, false);
        ag_backward(g, loss);
        float dense[40] = {0};
        if (sparse) {
            assert_null(e.weight->grad);
            assert_non_null(e.weight->sgrad);
            ag_sparse_grad_coalesce(e.weight->sgrad);
            for (int64_t k = 0; k < e.weight->sgrad->n; k++)
                for (int j = 0; j < 4; j++) dense[e.weight->sgrad->rows[k] * 4 + j] += e.weight->sgrad->vals[k * 4 + j];
        } else {
            memcpy(dense, e.weight->grad, sizeof dense);
        }
        tu_assert_close("emb.grad", dense, tu_fixture_get(FX, "emb.grad", NULL, NULL), 40, 1e-6);
        for (int j = 0; j < 4; j++) assert_true(dense[4 + j] == 0.0f); /* padding row: no grad */
        ag_graph_free(g);
        nn_params_free(&ps);
    }
}

static void test_embedding_init_load_errors(void **state) {
    (void)state;
    nn_params ps;
    nn_params_init(&ps);
    nn_embedding e, u, p;
    nn_embedding_config c = nn_embedding_config_default(5000, 256);
    c.padding_idx = 0;
    nn_embedding_init(&e, &ps, "normal", c);
    nn_embedding_config cu = nn_embedding_config_default(50, 8);
    cu.init = NN_INIT_UNIFORM;
    cu.a = -0.1f;
    cu.b = 0.1f;
    nn_embedding_init(&u, &ps, "uniform", cu);
    nn_embedding_config cp = nn_embedding_config_default(3, 2);
    cp.init = NN_INIT_NONE;
    cp.padding_idx = 2;
    nn_embedding_init(&p, &ps, "pretrained", cp);
    base_rng rng;
    base_rng_seed(&rng, 7);
    nn_params_alloc(&ps, &rng);
    assert_int_equal(nn_params_count(&ps, "normal."), 5000 * 256);
    assert_int_equal(nn_embedding_param_count(&e), 1280000);
    /* normal(0, 0.02): sample std within 2 %, padding row exactly zero */
    double s2 = 0;
    for (int64_t i = 256; i < e.weight->numel; i++) s2 += (double)ag_f32(e.weight)[i] * ag_f32(e.weight)[i];
    double sd = sqrt(s2 / (double)(e.weight->numel - 256));
    assert_true(fabs(sd - 0.02) < 0.0004);
    for (int j = 0; j < 256; j++) assert_true(ag_f32(e.weight)[j] == 0.0f);
    for (int64_t i = 0; i < u.weight->numel; i++) assert_true(fabsf(ag_f32(u.weight)[i]) <= 0.1f);
    /* re-init keeps the padding row at zero */
    nn_params_reinit_all(&ps, &rng);
    for (int j = 0; j < 256; j++) assert_true(ag_f32(e.weight)[j] == 0.0f);
    /* from pretrained */
    float pre[6] = {1, 2, 3, 4, 5, 6};
    assert_int_equal(nn_embedding_load(&p, pre, 3, 2), 0);
    assert_true(ag_f32(p.weight)[0] == 1 && ag_f32(p.weight)[3] == 4 && ag_f32(p.weight)[4] == 0);
    assert_int_equal(nn_embedding_load(&p, pre, 2, 3), -1);
    assert_non_null(strstr(base_error_msg(), "expected a 3 x 2 table, got 2 x 3"));
    /* bad ids are a user error: NULL and a message naming the table and position */
    ag_graph *g = ag_graph_new(0);
    ag_tensor *ids = ag_from_i32(g, AG_SHAPE(4), (const int32_t[]){15, 234, 42, 5000});
    assert_null(nn_embedding_forward(g, &e, ids));
    assert_non_null(strstr(base_error_msg(), "normal.weight: id 5000 at position 3 outside [0, 5000)"));
    ag_i32(ids)[3] = 1893;
    ag_tensor *out = nn_embedding_forward(g, &e, ids);
    assert_non_null(out);
    assert_int_equal(out->ndim, 2);
    assert_int_equal(out->shape[0], 4);
    assert_int_equal(out->shape[1], 256);
    assert_memory_equal(ag_f32(out) + 256, ag_f32(e.weight) + 234 * 256, 256 * sizeof(float));
    ag_graph_free(g);
    nn_params_free(&ps);
}

static void test_embedding_dropout(void **state) {
    (void)state;
    nn_params ps;
    nn_params_init(&ps);
    nn_embedding e;
    nn_embedding_config c = nn_embedding_config_default(20, 3);
    c.dropout = 0.5f;
    nn_embedding_init(&e, &ps, "emb", c);
    base_rng rng;
    base_rng_seed(&rng, 3);
    nn_params_alloc(&ps, &rng);
    ag_graph *g = ag_graph_new(0);
    int32_t idv[200];
    for (int i = 0; i < 200; i++) idv[i] = i % 20;
    ag_tensor *ids = ag_from_i32(g, AG_SHAPE(200), idv);
    ag_tensor *out = nn_embedding_forward(g, &e, ids);
    int dropped = 0;
    for (int i = 0; i < 200; i++) {
        const float *row = ag_f32(out) + i * 3, *w = ag_f32(e.weight) + (i % 20) * 3;
        bool zero = row[0] == 0 && row[1] == 0 && row[2] == 0;
        /* the same id is dropped or kept everywhere in the call */
        const float *first = ag_f32(out) + (i % 20) * 3;
        assert_true(zero == (first[0] == 0 && first[1] == 0 && first[2] == 0));
        if (zero) dropped++;
        else
            for (int j = 0; j < 3; j++) assert_float_equal(row[j], 2.0f * w[j], 1e-6);
    }
    assert_true(dropped > 0 && dropped < 200);
    ag_set_training(g, false);
    out = nn_embedding_forward(g, &e, ids);
    assert_memory_equal(ag_f32(out), ag_f32(e.weight), 60 * sizeof(float));
    ag_graph_free(g);
    nn_params_free(&ps);
}

typedef struct {
    nn_embedding *e;
    ag_tensor *ids;
} emb_ctx;
static ag_tensor *build_emb(ag_graph *g, ag_tensor *const *in, void *ctx) {
    (void)in;
    emb_ctx *c = ctx;
    return nn_embedding_forward(g, c->e, c->ids);
}

static void test_embedding_gradcheck(void **state) {
    (void)state;
    for (int sparse = 0; sparse < 2; sparse++) {
        nn_params ps;
        nn_params_init(&ps);
        nn_embedding e;
        nn_embedding_config c = nn_embedding_config_default(6, 3);
        c.sparse_grad = sparse;
        c.padding_idx = 2;
        c.init = NN_INIT_UNIFORM;
        c.a = -1;
        c.b = 1;
        nn_embedding_init(&e, &ps, "emb", c);
        base_rng rng;
        base_rng_seed(&rng, 5);
        nn_params_alloc(&ps, &rng);
        ag_tensor *ids = ag_tensor_alloc(AG_I32, AG_SHAPE(2, 3));
        const int32_t v[] = {0, 2, 5, 5, 1, 2};
        memcpy(ids->data, v, sizeof v);
        emb_ctx ctx = {&e, ids};
        tu_gradcheck(sparse ? "embedding sparse" : "embedding dense", build_emb, &ctx, 1, &e.weight, 1e-3);
        ag_tensor_free(ids);
        nn_params_free(&ps);
    }
}

/* ---- Linear, norms, MLPs ---------------------------------------------------------------------- */
static void test_linear_norms_mlps_vs_torch(void **state) {
    (void)state;
    nn_params ps;
    nn_params_init(&ps);
    nn_layer_norm ln;
    nn_rms_norm rms;
    nn_mlp gelu, gelu_tanh, silu, swiglu;
    nn_layer_norm_init(&ln, &ps, "norm.ln", 8, 1e-5f, true);
    nn_rms_norm_init(&rms, &ps, "norm.rms", 8, 1e-6f);
    nn_mlp_init(&gelu, &ps, "mlp.gelu", NN_MLP_GELU, 6, 10, true);
    nn_params psb; /* same weights under other names: load by hand below */
    nn_params_init(&psb);
    nn_mlp_init(&gelu_tanh, &psb, "t", NN_MLP_GELU_TANH, 6, 10, true);
    nn_mlp_init(&silu, &psb, "s", NN_MLP_SILU, 6, 10, true);
    nn_mlp_init(&swiglu, &ps, "mlp.swiglu", NN_MLP_SWIGLU, 6, 10, false);
    base_rng rng;
    base_rng_seed(&rng, 1);
    nn_params_alloc(&psb, &rng);
    nn_params_alloc(&ps, &rng);
    tu_fixture_copy_params(FX, &ps);
    nn_mlp *two[2] = {&gelu_tanh, &silu};
    for (int i = 0; i < 2; i++) {
        tu_fixture_copy(FX, two[i]->fc1.weight, "mlp.gelu.fc1.weight");
        tu_fixture_copy(FX, two[i]->fc1.bias, "mlp.gelu.fc1.bias");
        tu_fixture_copy(FX, two[i]->fc2.weight, "mlp.gelu.fc2.weight");
        tu_fixture_copy(FX, two[i]->fc2.bias, "mlp.gelu.fc2.bias");
    }
    ag_graph *g = ag_graph_new(0);
    ag_tensor *x = tu_fixture_tensor(FX, g, "mlp.x", false);
    tu_fixture_check(FX, "linear", nn_linear_forward(g, &gelu.fc1, x), "mlp.linear.out", 1e-5);
    tu_fixture_check(FX, "mlp gelu", nn_mlp_forward(g, &gelu, x), "mlp.gelu.out", 1e-5);
    tu_fixture_check(FX, "mlp gelu tanh", nn_mlp_forward(g, &gelu_tanh, x), "mlp.gelu_tanh.out", 1e-5);
    tu_fixture_check(FX, "mlp silu", nn_mlp_forward(g, &silu, x), "mlp.silu.out", 1e-5);
    tu_fixture_check(FX, "mlp swiglu", nn_mlp_forward(g, &swiglu, x), "mlp.swiglu.out", 1e-5);
    ag_tensor *xn = tu_fixture_tensor(FX, g, "norm.x", false);
    tu_fixture_check(FX, "layer norm", nn_layer_norm_forward(g, &ln, xn), "norm.ln.out", 1e-5);
    tu_fixture_check(FX, "rms norm", nn_rms_norm_forward(g, &rms, xn), "norm.rms.out", 1e-5);
    ag_graph_free(g);
    nn_params_free(&ps);
    nn_params_free(&psb);
}

typedef struct {
    int act;
} lin_ctx;
static ag_tensor *build_linear_ex(ag_graph *g, ag_tensor *const *in, void *ctx) {
    lin_ctx *c = ctx;
    return ag_linear_ex(g, in[0], in[1], in[2], in[3], c->act);
}

/* The fused y = act(x Wᵀ + b) + r against the unfused ops, over a wide input range (erf tails), and
 * its gradcheck with every input. */
static void test_linear_ex_fused(void **state) {
    (void)state;
    ag_tensor *x = ag_tensor_alloc(AG_F32, AG_SHAPE(2, 5, 4)), *w = ag_tensor_alloc(AG_F32, AG_SHAPE(6, 4));
    ag_tensor *b = ag_tensor_alloc(AG_F32, AG_SHAPE(6)), *r = ag_tensor_alloc(AG_F32, AG_SHAPE(2, 5, 6));
    tu_fill_uniform(x, 1, -2, 2);
    tu_fill_uniform(w, 2, -1.5f, 1.5f);
    tu_fill_uniform(b, 3, -1, 1);
    tu_fill_uniform(r, 4, -1, 1);
    ag_graph *g = ag_graph_new(0);
    for (int act = 0; act < 2; act++) {
        ag_tensor *fused = ag_linear_ex(g, x, w, b, r, act);
        ag_tensor *z = ag_add(g, ag_matmul(g, x, w, false, true), b);
        ag_tensor *ref = ag_add(g, act ? ag_gelu_erf(g, z) : z, r);
        tu_assert_close(act ? "linear_ex gelu + residual" : "linear_ex residual", ag_f32(fused), ag_f32(ref), ref->numel, 1e-6);
    }
    /* GELU itself over [-10, 10]: the vectorised erf against libm's */
    ag_tensor *big = ag_new(g, AG_F32, AG_SHAPE(2001, 1));
    for (int i = 0; i < 2001; i++) ag_f32(big)[i] = -10.0f + 0.01f * (float)i;
    ag_tensor *one = ag_from_f32(g, AG_SHAPE(1, 1), (const float[]){1.0f});
    ag_tensor *gl = ag_linear_ex(g, big, one, NULL, NULL, AG_ACT_GELU_ERF), *gr = ag_gelu_erf(g, big);
    tu_assert_close("vectorised gelu", ag_f32(gl), ag_f32(gr), 2001, 1e-6);
    ag_graph_free(g);
    x->flags |= AG_REQUIRES_GRAD;
    w->flags |= AG_REQUIRES_GRAD;
    b->flags |= AG_REQUIRES_GRAD;
    r->flags |= AG_REQUIRES_GRAD;
    for (int act = 0; act < 2; act++) {
        lin_ctx c = {act};
        tu_gradcheck(act ? "linear_ex gelu residual" : "linear_ex residual", build_linear_ex, &c, 4,
                     (ag_tensor *[]){x, w, b, r}, 2e-3);
    }
    ag_tensor_free(x);
    ag_tensor_free(w);
    ag_tensor_free(b);
    ag_tensor_free(r);
}

static ag_tensor *build_to_heads(ag_graph *g, ag_tensor *const *in, void *ctx) {
    (void)ctx;
    return ag_linear_to_heads(g, in[0], in[1], in[2], 2);
}
static ag_tensor *build_from_heads(ag_graph *g, ag_tensor *const *in, void *ctx) {
    (void)ctx;
    return ag_linear_from_heads(g, in[0], in[1], in[2], in[3]);
}

/* Linear into/out of the head layout equals linear + reshape + permute, and gradchecks. */
static void test_linear_heads(void **state) {
    (void)state;
    ag_tensor *x = ag_tensor_alloc(AG_F32, AG_SHAPE(2, 3, 5)), *w = ag_tensor_alloc(AG_F32, AG_SHAPE(6, 5));
    ag_tensor *b = ag_tensor_alloc(AG_F32, AG_SHAPE(6)), *xh = ag_tensor_alloc(AG_F32, AG_SHAPE(2, 2, 3, 3));
    ag_tensor *wo = ag_tensor_alloc(AG_F32, AG_SHAPE(4, 6)), *bo = ag_tensor_alloc(AG_F32, AG_SHAPE(4));
    ag_tensor *r = ag_tensor_alloc(AG_F32, AG_SHAPE(2, 3, 4));
    ag_tensor *all[7] = {x, w, b, xh, wo, bo, r};
    for (int i = 0; i < 7; i++) {
        tu_fill_uniform(all[i], 20 + (uint64_t)i, -1, 1);
        all[i]->flags |= AG_REQUIRES_GRAD;
    }
    ag_graph *g = ag_graph_new(0);
    ag_tensor *h = ag_linear_to_heads(g, x, w, b, 2); /* [2, 2, 3, 3] */
    ag_tensor *ref = ag_permute(g, ag_reshape(g, ag_linear(g, x, w, b), 4, (const int64_t[]){2, 3, 2, 3}),
                                (const int[]){0, 2, 1, 3});
    assert_true(ag_same_shape(h, ref));
    tu_assert_close("to_heads", ag_f32(h), ag_f32(ref), h->numel, 1e-6);
    ag_tensor *o = ag_linear_from_heads(g, xh, wo, bo, r); /* [2, 3, 4] */
    ag_tensor *rows = ag_reshape(g, ag_permute(g, xh, (const int[]){0, 2, 1, 3}), 3, (const int64_t[]){2, 3, 6});
    ag_tensor *ref2 = ag_add(g, ag_linear(g, rows, wo, bo), r);
    tu_assert_close("from_heads", ag_f32(o), ag_f32(ref2), o->numel, 1e-6);
    ag_graph_free(g);
    tu_gradcheck("linear to heads", build_to_heads, NULL, 3, (ag_tensor *[]){x, w, b}, 2e-3);
    tu_gradcheck("linear from heads", build_from_heads, NULL, 4, (ag_tensor *[]){xh, wo, bo, r}, 2e-3);
    for (int i = 0; i < 7; i++) ag_tensor_free(all[i]);
}

typedef struct {
    int kind; /* 0 linear, 1 layer norm, 2 rms norm, 3+ mlp kinds */
    nn_linear *l;
    nn_layer_norm *ln;
    nn_rms_norm *rms;
    nn_mlp *mlp;
} mod_ctx;
static ag_tensor *build_mod(ag_graph *g, ag_tensor *const *in, void *ctx) {
    mod_ctx *c = ctx;
    switch (c->kind) {
    case 0: return nn_linear_forward(g, c->l, in[0]);
    case 1: return nn_layer_norm_forward(g, c->ln, in[0]);
    case 2: return nn_rms_norm_forward(g, c->rms, in[0]);
    default: return nn_mlp_forward(g, c->mlp, in[0]);
    }
}

static void test_layers_gradcheck(void **state) {
    (void)state;
    nn_params ps;
    nn_params_init(&ps);
    nn_linear l;
    nn_layer_norm ln;
    nn_rms_norm rms;
    nn_mlp mlps[4];
    nn_linear_init(&l, &ps, "l", 5, 3, true);
    nn_layer_norm_init(&ln, &ps, "ln", 5, 1e-5f, true);
    nn_rms_norm_init(&rms, &ps, "rms", 5, 1e-6f);
    const nn_mlp_kind kinds[4] = {NN_MLP_GELU, NN_MLP_GELU_TANH, NN_MLP_SILU, NN_MLP_SWIGLU};
    for (int i = 0; i < 4; i++) {
        char nm[16];
        snprintf(nm, sizeof nm, "mlp%d", i);
        nn_mlp_init(&mlps[i], &ps, nm, kinds[i], 5, 7, i != 3);
    }
    base_rng rng;
    base_rng_seed(&rng, 2);
    nn_params_alloc(&ps, &rng);
    /* non-trivial affine parameters */
    tu_fill_uniform(ln.weight, 3, 0.5f, 1.5f);
    tu_fill_uniform(ln.bias, 4, -0.5f, 0.5f);
    tu_fill_uniform(rms.weight, 5, 0.5f, 1.5f);
    ag_tensor *x = tu_param_uniform(AG_SHAPE(2, 3, 5), 9, -1.5f, 1.5f);
    mod_ctx c = {0, &l, &ln, &rms, NULL};
    tu_gradcheck("linear", build_mod, &c, 3, (ag_tensor *[]){x, l.weight, l.bias}, 5e-3);
    /* the fused op equals matmul + bias add */
    ag_graph *g = ag_graph_new(0);
    ag_tensor *fused = ag_linear(g, x, l.weight, l.bias);
    ag_tensor *ref = ag_add(g, ag_matmul(g, x, l.weight, false, true), l.bias);
    tu_assert_close("ag_linear vs matmul + add", ag_f32(fused), ag_f32(ref), fused->numel, 1e-6);
    ag_tensor *nob = ag_linear(g, x, l.weight, NULL);
    ag_tensor *refn = ag_matmul(g, x, l.weight, false, true);
    tu_assert_close("ag_linear without bias", ag_f32(nob), ag_f32(refn), nob->numel, 1e-6);
    ag_graph_free(g);
    c.kind = 1;
    tu_gradcheck("layer norm", build_mod, &c, 3, (ag_tensor *[]){x, ln.weight, ln.bias}, 5e-3);
    c.kind = 2;
    tu_gradcheck("rms norm", build_mod, &c, 2, (ag_tensor *[]){x, rms.weight}, 5e-3);
    for (int i = 0; i < 4; i++) {
        c.kind = 3;
        c.mlp = &mlps[i];
        nn_mlp *m = &mlps[i];
        if (kinds[i] == NN_MLP_SWIGLU)
            tu_gradcheck("mlp swiglu", build_mod, &c, 4, (ag_tensor *[]){x, m->w1.weight, m->w2.weight, m->w3.weight}, 5e-3);
        else
            tu_gradcheck("mlp", build_mod, &c, 5, (ag_tensor *[]){x, m->fc1.weight, m->fc1.bias, m->fc2.weight, m->fc2.bias},
                         5e-3);
    }
    ag_tensor_free(x);
    nn_params_free(&ps);
}

static void test_dropout_modes(void **state) {
    (void)state;
    ag_graph *g = ag_graph_new(0);
    ag_tensor *x = ag_zeros(g, AG_F32, AG_SHAPE(1000));
    for (int i = 0; i < 1000; i++) ag_f32(x)[i] = 1.0f;
    ag_tensor *y = nn_dropout(g, x, 0.25f);
    int zeros = 0;
    for (int i = 0; i < 1000; i++) {
        if (ag_f32(y)[i] == 0) zeros++;
        else assert_float_equal(ag_f32(y)[i], 1.0f / 0.75f, 1e-6);
    }
    assert_in_range(zeros, 180, 320);
    ag_set_training(g, false);
    assert_ptr_equal(nn_dropout(g, x, 0.25f), x);
    ag_graph_free(g);
}

/* ---- pooling ----------------------------------------------------------------------------------- */
static void test_pooling_vs_torch(void **state) {
    (void)state;
    ag_graph *g = ag_graph_new(0);
    ag_tensor *x = tu_fixture_tensor(FX, g, "pool.x", false), *pad = tu_fixture_tensor(FX, g, "pool.pad", true);
    tu_fixture_check(FX, "pool mean", nn_pool_mean(g, x, pad), "pool.mean", 1e-6);
    tu_fixture_check(FX, "pool max", nn_pool_max(g, x, pad), "pool.max", 1e-6);
    tu_fixture_check(FX, "pool cls", nn_pool_cls(g, x), "pool.cls", 1e-6);
    /* an all-padding row pools to zero */
    ag_tensor *allpad = ag_from_i32(g, AG_SHAPE(2, 4), (const int32_t[]){1, 1, 1, 1, 0, 0, 0, 0});
    ag_tensor *m = nn_pool_max(g, x, allpad), *a = nn_pool_mean(g, x, allpad);
    for (int j = 0; j < 3; j++) assert_true(ag_f32(m)[j] == 0.0f && ag_f32(a)[j] == 0.0f);
    ag_graph_free(g);
}

typedef struct {
    int kind;
    ag_tensor *pad;
} pool_ctx;
static ag_tensor *build_pool(ag_graph *g, ag_tensor *const *in, void *ctx) {
    pool_ctx *c = ctx;
    if (c->kind == 0) return nn_pool_mean(g, in[0], c->pad);
    if (c->kind == 1) return nn_pool_max(g, in[0], c->pad);
    return nn_pool_cls(g, in[0]);
}

static void test_pooling_gradcheck(void **state) {
    (void)state;
    ag_tensor *x = tu_param_uniform(AG_SHAPE(2, 4, 3), 11, -1, 1);
    ag_tensor *pad = ag_tensor_alloc(AG_I32, AG_SHAPE(2, 4));
    const int32_t v[] = {0, 0, 1, 1, 0, 0, 0, 0};
    memcpy(pad->data, v, sizeof v);
    const char *names[3] = {"pool mean", "pool max", "pool cls"};
    for (int k = 0; k < 3; k++) {
        pool_ctx c = {k, pad};
        tu_gradcheck(names[k], build_pool, &c, 1, &x, 2e-3);
    }
    ag_tensor_free(x);
    ag_tensor_free(pad);
}

/* ---- parameter sets ---------------------------------------------------------------------------- */
static void test_param_set_names_counts_freeze(void **state) {
    (void)state;
    nn_params ps;
    nn_params_init(&ps);
    nn_encoder enc;
    nn_block_config bc = nn_block_config_default(8, 2, 16);
    nn_encoder_init(&enc, &ps, "encoder", 2, bc, true);
    nn_linear head;
    nn_linear_init(&head, &ps, "head", 8, 5, false);
    base_rng rng;
    base_rng_seed(&rng, 1);
    nn_params_alloc(&ps, &rng);
    assert_non_null(nn_params_find(&ps, "encoder.layers.0.attn.wq.weight"));
    assert_non_null(nn_params_find(&ps, "encoder.layers.1.mlp.fc2.bias"));
    assert_non_null(nn_params_find(&ps, "encoder.norm.weight"));
    /* per layer: 4 (64 + 8) attention + (128 + 16) + (128 + 8) MLP + 2 · 16 norms = 600 */
    assert_int_equal(nn_params_count(&ps, "encoder.layers.0."), 600);
    assert_int_equal(nn_params_count(&ps, "encoder."), 2 * 600 + 16);
    assert_int_equal(nn_params_count(&ps, NULL), 2 * 600 + 16 + 40);
    assert_int_equal(nn_params_match_count(&ps, "encoder.layers.*.attn.*"), 16);
    int n = nn_params_freeze(&ps, "encoder.layers.0.*", true);
    assert_int_equal(n, 16); /* norm1 2, attn 8, norm2 2, mlp 4 */
    assert_int_equal(nn_params_count_trainable(&ps), 600 + 16 + 40);
    assert_false(ag_requires_grad(nn_params_find(&ps, "encoder.layers.0.attn.wq.weight")->t));
    nn_params_freeze(&ps, "encoder.*", false);
    assert_int_equal(nn_params_count_trainable(&ps), nn_params_count(&ps, NULL));
    nn_encoder_free(&enc);
    nn_params_free(&ps);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_embedding_padding_maxnorm_vs_torch),
        cmocka_unit_test(test_embedding_init_load_errors),
        cmocka_unit_test(test_embedding_dropout),
        cmocka_unit_test(test_embedding_gradcheck),
        cmocka_unit_test(test_linear_norms_mlps_vs_torch),
        cmocka_unit_test(test_layers_gradcheck),
        cmocka_unit_test(test_linear_ex_fused),
        cmocka_unit_test(test_linear_heads),
        cmocka_unit_test(test_dropout_modes),
        cmocka_unit_test(test_pooling_vs_torch),
        cmocka_unit_test(test_pooling_gradcheck),
        cmocka_unit_test(test_param_set_names_counts_freeze),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
