/* text_model.c — the MLM (BERT-style) and LM (Thinker-style) text models that `ember train mlm|lm` trains. */
#include "nn.h"

#include <string.h>

const char *nn_text_kind_name(nn_text_kind k) { return k == NN_TEXT_LM ? "lm" : "mlm"; }

const char *nn_text_pos_name(nn_text_pos p) {
    switch (p) {
    case NN_TEXT_POS_LEARNED: return "learned";
    case NN_TEXT_POS_SINUSOIDAL: return "sinusoidal";
    case NN_TEXT_POS_ROPE: return "rope";
    }
    return "unknown";
}

nn_text_config nn_text_config_mlm(int64_t vocab, int64_t max_seq, int64_t d, int64_t layers, int64_t heads) {
    nn_text_config c;
    memset(&c, 0, sizeof c);
    c.kind = NN_TEXT_MLM;
    c.vocab = vocab;
    c.max_seq = max_seq;
    c.d = d;
    c.layers = layers;
    c.heads = heads;
    c.kv_heads = heads;
    c.ffn = 4 * d;
    c.pos = NN_TEXT_POS_LEARNED;
    c.tie_head = true;
    c.dropout = 0.1f;
    return c;
}

nn_text_config nn_text_config_lm(int64_t vocab, int64_t max_seq, int64_t d, int64_t layers, int64_t heads) {
    nn_text_config c = nn_text_config_mlm(vocab, max_seq, d, layers, heads);
    c.kind = NN_TEXT_LM;
    c.kv_heads = heads % 2 == 0 ? heads / 2 : heads;
    c.ffn = ((8 * d / 3) + 63) / 64 * 64;
    c.pos = NN_TEXT_POS_ROPE;
    c.tie_head = false;
    c.dropout = 0.0f;
    return c;
}

int nn_text_config_check(const nn_text_config *c) {
    if (c->vocab < 2 || c->vocab > INT32_MAX) return base_error_set("vocabulary size %lld: expected 2 .. %d", (long long)c->vocab, INT32_MAX);
    if (c->max_seq < 1 || c->max_seq > (1 << 20)) return base_error_set("--seq %lld: expected 1 .. %d", (long long)c->max_seq, 1 << 20);
    if (c->d < 1 || c->layers < 1 || c->heads < 1 || c->kv_heads < 1 || c->ffn < 1)
        return base_error_set("expected positive sizes: d %lld, layers %lld, heads %lld, kv heads %lld, ffn %lld",
                            (long long)c->d, (long long)c->layers, (long long)c->heads, (long long)c->kv_heads,
                            (long long)c->ffn);
    if (c->d % c->heads) return base_error_set("--d %lld is not a multiple of --heads %lld", (long long)c->d, (long long)c->heads);
    if (c->heads % c->kv_heads)
        return base_error_set("--heads %lld is not a multiple of --kv-heads %lld", (long long)c->heads, (long long)c->kv_heads);
    if (c->pos == NN_TEXT_POS_ROPE && (c->d / c->heads) % 2)
        return base_error_set("RoPE needs an even head dimension, got d / heads = %lld", (long long)(c->d / c->heads));
    if (c->pos == NN_TEXT_POS_SINUSOIDAL && c->d % 2)
        return base_error_set("sinusoidal positions need an even --d, got %lld", (long long)c->d);
    if (!(c->dropout >= 0.0f && c->dropout < 1.0f)) return base_error_set("--dropout %g: expected [0, 1)", (double)c->dropout);
    return 0;
}

void nn_text_model_register(nn_text_model *m, const nn_text_config *cfg) {
    AG_CHECK(nn_text_config_check(cfg) == 0, "nn_text_model_register", "%s", base_error_msg());
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    const nn_text_config *c = &m->cfg;
    bool lm = c->kind == NN_TEXT_LM;
    nn_params_init(&m->ps);
    nn_embedding_init(&m->tok, &m->ps, "tok", nn_embedding_config_default(c->vocab, c->d));
    if (c->pos == NN_TEXT_POS_LEARNED) nn_learned_pos_init(&m->pos, &m->ps, "pos", c->max_seq, c->d);

    nn_block_config bc = nn_block_config_default(c->d, c->heads, c->ffn);
    bc.attn.n_kv_heads = c->kv_heads;
    bc.attn.causal = lm;
    bc.dropout = c->dropout; /* on each residual branch (attention's own output dropout stays 0: no double dropout) */
    if (c->pos == NN_TEXT_POS_ROPE) bc.attn.pos = NN_POS_ROPE;
    if (lm) { /* the Thinker: RMSNorm, SwiGLU, no biases */
        bc.attn.bias = false;
        bc.mlp = NN_MLP_SWIGLU;
        bc.mlp_bias = false;
        bc.norm = NN_NORM_RMS;
        bc.norm_eps = 1e-6f;
    }
    nn_encoder_init(&m->enc, &m->ps, "enc", (int)c->layers, bc, true);

    if (!lm) {
        nn_linear_init(&m->head_dense, &m->ps, "head.dense", c->d, c->d, true);
        nn_layer_norm_init(&m->head_norm, &m->ps, "head.norm", c->d, 1e-5f, true);
        if (c->tie_head) m->head_bias = nn_params_add(&m->ps, "head.bias", 1, (const int64_t[]){c->vocab}, NN_INIT_ZEROS, 0, 0, false);
        else nn_linear_init(&m->head_decoder, &m->ps, "head.decoder", c->d, c->vocab, true);
    } else if (!c->tie_head) {
        nn_linear_init(&m->head_decoder, &m->ps, "head", c->d, c->vocab, false);
    }
}

void nn_text_model_init(nn_text_model *m, const nn_text_config *cfg, uint64_t seed) {
    nn_text_model_register(m, cfg);
    base_rng rng;
    base_rng_seed(&rng, seed);
    nn_params_alloc(&m->ps, &rng);
}

void nn_text_model_free(nn_text_model *m) {
    nn_encoder_free(&m->enc);
    nn_params_free(&m->ps);
    memset(m, 0, sizeof *m);
}

ag_tensor *nn_text_model_hidden(ag_graph *g, const nn_text_model *m, ag_tensor *ids, ag_tensor *pad, int layers) {
    const nn_text_config *c = &m->cfg;
    AG_CHECK(ids->dtype == AG_I32 && ids->ndim == 2, "nn_text_model_hidden", "expected i32 ids [B, T], got %d dims",
             ids->ndim);
    AG_CHECK(layers >= 0 && layers <= m->enc.n_layers, "nn_text_model_hidden", "layer %d outside [0, %d]", layers,
             m->enc.n_layers);
    if (ids->shape[1] > c->max_seq) {
        base_error_set("sequence of %lld tokens is longer than the model's %lld positions", (long long)ids->shape[1],
                     (long long)c->max_seq);
        return NULL;
    }
    ag_tensor *h = nn_embedding_forward(g, &m->tok, ids); /* [B, T, d] */
    if (!h) return NULL;
    if (c->pos == NN_TEXT_POS_LEARNED) h = nn_learned_pos_add(g, &m->pos, h, 0);
    else if (c->pos == NN_TEXT_POS_SINUSOIDAL) h = nn_sinusoidal_add(g, h, 0);
    if (!h) return NULL;
    h = nn_dropout(g, h, c->dropout);
    for (int l = 0; l < layers; l++) h = nn_block_forward(g, &m->enc.layers[l], h, pad, 0);
    if (layers == m->enc.n_layers) h = nn_norm_forward(g, &m->enc.norm, h);
    return h;
}

ag_tensor *nn_text_model_logits(ag_graph *g, const nn_text_model *m, ag_tensor *h) {
    if (m->cfg.kind == NN_TEXT_MLM) /* BERT's prediction head transform */
        h = nn_layer_norm_forward(g, &m->head_norm, nn_linear_forward_ex(g, &m->head_dense, h, NULL, AG_ACT_GELU_ERF));
    if (m->cfg.tie_head) return ag_linear(g, h, m->tok.weight, m->head_bias); /* tok.weight is [vocab, d] */
    return nn_linear_forward(g, &m->head_decoder, h);
}
