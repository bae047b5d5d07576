/* test_nn_attention.c — attention (MHA, GQA, MQA; masks; RoPE, ALiBi), blocks, BERT stack vs PyTorch + gradchecks. */
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

typedef struct {
    const char *name;
    int64_t H, Hkv;
    bool bias, causal, pad;
    nn_pos_kind pos;
    bool interleaved;
} attn_case;

static const attn_case CASES[] = {
    {"mha_pad", 4, 4, true, false, true, NN_POS_NONE, false},
    {"gqa_causal", 4, 2, false, true, false, NN_POS_NONE, false},
    {"gqa_pad_rope_half", 4, 2, true, true, true, NN_POS_ROPE, false},
    {"mqa_rope_inter", 4, 1, false, true, false, NN_POS_ROPE, true},
    {"alibi_causal", 4, 4, false, true, false, NN_POS_ALIBI, false},
    {"torch_mha", 4, 4, true, false, true, NN_POS_NONE, false},
};

static void test_attention_vs_torch(void **state) {
    (void)state;
    for (size_t k = 0; k < sizeof CASES / sizeof CASES[0]; k++) {
        const attn_case *c = &CASES[k];
        nn_params ps;
        nn_params_init(&ps);
        nn_attention_config cfg = nn_attention_config_default(16, c->H);
        cfg.n_kv_heads = c->Hkv;
        cfg.bias = c->bias;
        cfg.causal = c->causal;
        cfg.pos = c->pos;
        cfg.rope_interleaved = c->interleaved;
        nn_attention a;
        char prefix[64];
        snprintf(prefix, sizeof prefix, "attn.%s", c->name);
        nn_attention_init(&a, &ps, prefix, cfg);
        base_rng rng;
        base_rng_seed(&rng, 1);
        nn_params_alloc(&ps, &rng);
        tu_fixture_copy_params(FX, &ps);
        ag_graph *g = ag_graph_new(0);
        ag_tensor *x = tu_fixture_tensor(FX, g, "attn.x", false), *pad = c->pad ? tu_fixture_tensor(FX, g, "attn.pad", true) : NULL;
        ag_tensor *y = nn_attention_forward(g, &a, x, pad, 0);
        char want[96];
        snprintf(want, sizeof want, "attn.%s.out", c->name);
        tu_fixture_check(FX, c->name, y, want, 1e-5);
        ag_graph_free(g);
        nn_params_free(&ps);
    }
}

static void test_blocks_vs_torch(void **state) {
    (void)state;
    const char *names[3] = {"block.pre", "block.post", "block.thinker"};
    for (int k = 0; k < 3; k++) {
        nn_params ps;
        nn_params_init(&ps);
        nn_block_config cfg = nn_block_config_default(16, 4, 32);
        if (k == 1) cfg.pre_norm = false;
        if (k == 2) { /* μOmni Thinker conventions */
            cfg.ffn = 24;
            cfg.attn.n_kv_heads = 2;
            cfg.attn.bias = false;
            cfg.attn.causal = true;
            cfg.attn.pos = NN_POS_ROPE;
            cfg.mlp = NN_MLP_SWIGLU;
            cfg.mlp_bias = false;
            cfg.norm = NN_NORM_RMS;
            cfg.norm_eps = 1e-6f;
        }
        nn_block b;
        nn_block_init(&b, &ps, names[k], cfg);
        base_rng rng;
        base_rng_seed(&rng, 1);
        nn_params_alloc(&ps, &rng);
        tu_fixture_copy_params(FX, &ps);
        ag_graph *g = ag_graph_new(0);
        ag_tensor *x = tu_fixture_tensor(FX, g, "attn.x", false), *pad = k < 2 ? tu_fixture_tensor(FX, g, "attn.pad", true) : NULL;
        ag_tensor *y = nn_block_forward(g, &b, x, pad, 0);
        char want[64];
        snprintf(want, sizeof want, "%s.out", names[k]);
        tu_fixture_check(FX, names[k], y, want, 1e-5);
        ag_graph_free(g);
        nn_params_free(&ps);
    }
}

static void test_bert_embeddings_vs_torch(void **state) {
    (void)state;
    nn_params ps;
    nn_params_init(&ps);
    nn_bert_embeddings e;
    nn_bert_embeddings_init(&e, &ps, "bert", 11, 8, 2, 6, 1e-12f);
    base_rng rng;
    base_rng_seed(&rng, 1);
    nn_params_alloc(&ps, &rng);
    tu_fixture_copy(FX, e.tok.weight, "bert.tok");
    tu_fixture_copy(FX, e.pos.weight, "bert.pos");
    tu_fixture_copy(FX, e.seg.weight, "bert.seg");
    tu_fixture_copy(FX, e.norm.weight, "bert.norm.weight");
    tu_fixture_copy(FX, e.norm.bias, "bert.norm.bias");
    ag_graph *g = ag_graph_new(0);
    ag_tensor *ids = tu_fixture_tensor(FX, g, "bert.ids", true), *segs = tu_fixture_tensor(FX, g, "bert.segs", true);
    tu_fixture_check(FX, "bert", nn_bert_embeddings_forward(g, &e, ids, segs), "bert.out", 1e-5);
    tu_fixture_check(FX, "bert no segments", nn_bert_embeddings_forward(g, &e, ids, NULL), "bert.out_noseg", 1e-5);
    /* user errors: a bad id, too long a sequence */
    ag_i32(ids)[3] = 11;
    assert_null(nn_bert_embeddings_forward(g, &e, ids, segs));
    assert_non_null(strstr(base_error_msg(), "bert.tok.weight: id 11 at position 3"));
    ag_tensor *longer = ag_zeros(g, AG_I32, AG_SHAPE(1, 9));
    assert_null(nn_bert_embeddings_forward(g, &e, longer, NULL));
    assert_non_null(strstr(base_error_msg(), "sequence of 9 tokens, longer than the 8 positions"));
    ag_graph_free(g);
    nn_params_free(&ps);
}

/* Padding keys change nothing for other positions: outputs at non-pad positions equal the output
 * of the same sequence cut to its real length. */
static void test_padding_mask_equivalence(void **state) {
    (void)state;
    nn_params ps;
    nn_params_init(&ps);
    nn_block_config cfg = nn_block_config_default(16, 4, 32);
    cfg.attn.n_kv_heads = 2;
    cfg.attn.pos = NN_POS_ROPE;
    nn_encoder enc;
    nn_encoder_init(&enc, &ps, "enc", 2, cfg, true);
    base_rng rng;
    base_rng_seed(&rng, 4);
    nn_params_alloc(&ps, &rng);
    ag_graph *g = ag_graph_new(0);
    ag_tensor *x = ag_new(g, AG_F32, AG_SHAPE(1, 6, 16));
    tu_fill_uniform(x, 8, -1, 1);
    ag_tensor *pad = ag_from_i32(g, AG_SHAPE(1, 6), (const int32_t[]){0, 0, 0, 0, 1, 1});
    ag_tensor *full = nn_encoder_forward(g, &enc, x, pad, 0);
    ag_tensor *cut = nn_encoder_forward(g, &enc, ag_slice(g, x, 1, 0, 4), NULL, 0);
    tu_assert_close("pad vs cut", ag_f32(full), ag_f32(cut), 4 * 16, 1e-5);
    ag_graph_free(g);
    nn_encoder_free(&enc);
    nn_params_free(&ps);
}

typedef struct {
    nn_attention *a;
    nn_block *b;
    nn_bert_embeddings *e;
    ag_tensor *pad, *ids, *segs;
} gc_ctx;
static ag_tensor *build_attn(ag_graph *g, ag_tensor *const *in, void *ctx) {
    gc_ctx *c = ctx;
    return nn_attention_forward(g, c->a, in[0], c->pad, 1);
}
static ag_tensor *build_block(ag_graph *g, ag_tensor *const *in, void *ctx) {
    gc_ctx *c = ctx;
    return nn_block_forward(g, c->b, in[0], c->pad, 0);
}
static ag_tensor *build_bert(ag_graph *g, ag_tensor *const *in, void *ctx) {
    (void)in;
    gc_ctx *c = ctx;
    return nn_bert_embeddings_forward(g, c->e, c->ids, c->segs);
}

static void test_attention_gradcheck(void **state) {
    (void)state;
    const struct {
        const char *label;
        int64_t Hkv;
        nn_pos_kind pos;
        bool interleaved, causal;
    } cases[] = {{"attention gqa pad", 1, NN_POS_NONE, false, false},
                 {"attention rope causal", 2, NN_POS_ROPE, false, true},
                 {"attention rope interleaved", 2, NN_POS_ROPE, true, false},
                 {"attention alibi causal", 2, NN_POS_ALIBI, false, true}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        nn_params ps;
        nn_params_init(&ps);
        nn_attention_config cfg = nn_attention_config_default(8, 2);
        cfg.n_kv_heads = cases[k].Hkv;
        cfg.pos = cases[k].pos;
        cfg.rope_interleaved = cases[k].interleaved;
        cfg.causal = cases[k].causal;
        nn_attention a;
        nn_attention_init(&a, &ps, "a", cfg);
        base_rng rng;
        base_rng_seed(&rng, 3);
        nn_params_alloc(&ps, &rng);
        ag_tensor *x = tu_param_uniform(AG_SHAPE(2, 3, 8), 5, -1, 1);
        ag_tensor *pad = ag_tensor_alloc(AG_I32, AG_SHAPE(2, 3));
        ag_i32(pad)[2] = 1;
        gc_ctx c = {&a, NULL, NULL, k == 0 ? pad : NULL, NULL, NULL};
        tu_gradcheck(cases[k].label, build_attn, &c, 9,
                     (ag_tensor *[]){x, a.wq.weight, a.wq.bias, a.wk.weight, a.wk.bias, a.wv.weight, a.wv.bias,
                                     a.wo.weight, a.wo.bias},
                     5e-3);
        ag_tensor_free(x);
        ag_tensor_free(pad);
        nn_params_free(&ps);
    }
}

static void test_block_and_bert_gradcheck(void **state) {
    (void)state;
    for (int k = 0; k < 2; k++) {
        nn_params ps;
        nn_params_init(&ps);
        nn_block_config cfg = nn_block_config_default(8, 2, 12);
        if (k == 1) {
            cfg.pre_norm = false;
            cfg.norm = NN_NORM_RMS;
            cfg.mlp = NN_MLP_SWIGLU;
            cfg.attn.n_kv_heads = 1;
            cfg.attn.pos = NN_POS_ROPE;
            cfg.attn.causal = true;
        }
        nn_block b;
        nn_block_init(&b, &ps, "b", cfg);
        base_rng rng;
        base_rng_seed(&rng, 6);
        nn_params_alloc(&ps, &rng);
        ag_tensor *x = tu_param_uniform(AG_SHAPE(2, 3, 8), 7, -1, 1);
        gc_ctx c = {NULL, &b, NULL, NULL, NULL, NULL};
        /* x plus the first norm's and first MLP matrix's parameters (every parameter is covered by
         * the layer gradchecks; this checks the wiring) */
        ag_tensor *norm_w = k ? b.norm1.rms.weight : b.norm1.ln.weight;
        ag_tensor *mlp_w = k ? b.mlp.w1.weight : b.mlp.fc1.weight;
        tu_gradcheck(k ? "block post-norm rms swiglu" : "block pre-norm", build_block, &c, 4,
                     (ag_tensor *[]){x, norm_w, mlp_w, b.attn.wv.weight}, 5e-3);
        ag_tensor_free(x);
        nn_params_free(&ps);
    }
    nn_params ps;
    nn_params_init(&ps);
    nn_bert_embeddings e;
    nn_bert_embeddings_init(&e, &ps, "bert", 7, 5, 2, 4, 1e-12f);
    base_rng rng;
    base_rng_seed(&rng, 6);
    nn_params_alloc(&ps, &rng);
    tu_fill_uniform(e.norm.weight, 1, 0.5f, 1.5f);
    ag_tensor *ids = ag_tensor_alloc(AG_I32, AG_SHAPE(2, 3)), *segs = ag_tensor_alloc(AG_I32, AG_SHAPE(2, 3));
    const int32_t iv[] = {1, 6, 1, 0, 3, 2}, sv[] = {0, 0, 1, 0, 1, 1};
    memcpy(ids->data, iv, sizeof iv);
    memcpy(segs->data, sv, sizeof sv);
    gc_ctx c = {NULL, NULL, &e, NULL, ids, segs};
    tu_gradcheck("bert embeddings", build_bert, &c, 5,
                 (ag_tensor *[]){e.tok.weight, e.pos.weight, e.seg.weight, e.norm.weight, e.norm.bias}, 5e-3);
    ag_tensor_free(ids);
    ag_tensor_free(segs);
    nn_params_free(&ps);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_attention_vs_torch),
        cmocka_unit_test(test_blocks_vs_torch),
        cmocka_unit_test(test_bert_embeddings_vs_torch),
        cmocka_unit_test(test_padding_mask_equivalence),
        cmocka_unit_test(test_attention_gradcheck),
        cmocka_unit_test(test_block_and_bert_gradcheck),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
