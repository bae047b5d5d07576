/* transformer.c — multi-head/grouped-query attention, transformer blocks and stacks, BERT input stack. */
#include "nn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------
 * Attention
 * ------------------------------------------------------------------------------------------ */
nn_attention_config nn_attention_config_default(int64_t dim, int64_t n_heads) {
    nn_attention_config c;
    memset(&c, 0, sizeof c);
    c.dim = dim;
    c.n_heads = n_heads;
    c.n_kv_heads = n_heads;
    c.head_dim = dim / n_heads;
    c.bias = true;
    c.rope_theta = 10000.0f;
    return c;
}

void nn_attention_init(nn_attention *a, nn_params *ps, const char *prefix, nn_attention_config cfg) {
    if (cfg.n_kv_heads == 0) cfg.n_kv_heads = cfg.n_heads;
    if (cfg.head_dim == 0) cfg.head_dim = cfg.n_heads ? cfg.dim / cfg.n_heads : 0;
    if (cfg.rope_theta == 0) cfg.rope_theta = 10000.0f;
    AG_CHECK(cfg.dim > 0 && cfg.n_heads > 0 && cfg.head_dim > 0 && cfg.n_kv_heads > 0 &&
                 cfg.n_heads % cfg.n_kv_heads == 0,
             "nn_attention_init", "dim %lld, heads %lld, kv heads %lld, head dim %lld: heads must be a multiple of kv heads",
             (long long)cfg.dim, (long long)cfg.n_heads, (long long)cfg.n_kv_heads, (long long)cfg.head_dim);
    AG_CHECK(cfg.pos != NN_POS_ROPE || cfg.head_dim % 2 == 0, "nn_attention_init", "RoPE needs an even head dim, got %lld",
             (long long)cfg.head_dim);
    char nm[NN_NAME_MAX];
    a->cfg = cfg;
    int64_t qd = cfg.n_heads * cfg.head_dim, kvd = cfg.n_kv_heads * cfg.head_dim;
    nn_linear_init(&a->wq, ps, nn_name(nm, sizeof nm, prefix, "wq"), cfg.dim, qd, cfg.bias);
    nn_linear_init(&a->wk, ps, nn_name(nm, sizeof nm, prefix, "wk"), cfg.dim, kvd, cfg.bias);
    nn_linear_init(&a->wv, ps, nn_name(nm, sizeof nm, prefix, "wv"), cfg.dim, kvd, cfg.bias);
    nn_linear_init(&a->wo, ps, nn_name(nm, sizeof nm, prefix, "wo"), qd, cfg.dim, cfg.bias);
}

ag_tensor *nn_attention_forward(ag_graph *g, const nn_attention *a, ag_tensor *x, ag_tensor *key_pad, int64_t pos0) {
    return nn_attention_forward_residual(g, a, x, key_pad, pos0, NULL);
}

ag_tensor *nn_attention_forward_residual(ag_graph *g, const nn_attention *a, ag_tensor *x, ag_tensor *key_pad,
                                         int64_t pos0, ag_tensor *residual) {
    const nn_attention_config *c = &a->cfg;
    char sx[96];
    AG_CHECK(x->ndim == 3 && x->shape[2] == c->dim, "nn_attention_forward", "x %s, expected [B, T, %lld]",
             ag_shape_str(x, sx, sizeof sx), (long long)c->dim);
    int64_t B = x->shape[0], T = x->shape[1], H = c->n_heads, Hkv = c->n_kv_heads, Dh = c->head_dim;
    if (key_pad)
        AG_CHECK(key_pad->dtype == AG_I32 && key_pad->numel == B * T, "nn_attention_forward",
                 "key_pad must be i32 [%lld, %lld], got %s", (long long)B, (long long)T,
                 ag_shape_str(key_pad, sx, sizeof sx));
    /* The projections write the head layout [B, nh, T, Dh] directly (no reshape/permute copies). */
    ag_tensor *q = ag_linear_to_heads(g, x, a->wq.weight, a->wq.bias, H);   /* [B, H, T, Dh] */
    ag_tensor *k = ag_linear_to_heads(g, x, a->wk.weight, a->wk.bias, Hkv); /* [B, Hkv, T, Dh] */
    ag_tensor *v = ag_linear_to_heads(g, x, a->wv.weight, a->wv.bias, Hkv); /* [B, Hkv, T, Dh] */
    ag_tensor *bias = NULL;
    if (c->pos == NN_POS_ROPE) {
        q = ag_rope(g, q, pos0, c->rope_theta, c->rope_interleaved);
        k = ag_rope(g, k, pos0, c->rope_theta, c->rope_interleaved);
    } else if (c->pos == NN_POS_ALIBI) {
        bias = nn_alibi_bias(g, H, T, T); /* [H, T, T], relative: pos0 does not matter */
    }
    ag_tensor *o = ag_attention(g, q, k, v, c->causal, key_pad, bias, 1.0f / sqrtf((float)Dh)); /* [B, H, T, Dh] */
    if (c->dropout > 0 && ag_is_training(g)) {
        ag_tensor *y = nn_dropout(g, ag_linear_from_heads(g, o, a->wo.weight, a->wo.bias, NULL), c->dropout);
        return residual ? ag_add(g, residual, y) : y;
    }
    /* residual + rows(o) Woᵀ + b in one op */
    return ag_linear_from_heads(g, o, a->wo.weight, a->wo.bias, residual); /* [B, T, D] */
}

/* ---------------------------------------------------------------------------------------------
 * Transformer block and stack
 * ------------------------------------------------------------------------------------------ */
nn_block_config nn_block_config_default(int64_t dim, int64_t n_heads, int64_t ffn) {
    nn_block_config c;
    memset(&c, 0, sizeof c);
    c.attn = nn_attention_config_default(dim, n_heads);
    c.ffn = ffn;
    c.mlp = NN_MLP_GELU;
    c.mlp_bias = true;
    c.norm = NN_NORM_LAYER;
    c.norm_eps = 1e-5f;
    c.pre_norm = true;
    return c;
}

void nn_block_init(nn_block *b, nn_params *ps, const char *prefix, nn_block_config cfg) {
    char nm[NN_NAME_MAX];
    b->cfg = cfg;
    int64_t D = cfg.attn.dim;
    nn_norm_init(&b->norm1, ps, nn_name(nm, sizeof nm, prefix, "norm1"), cfg.norm, D, cfg.norm_eps);
    nn_attention_init(&b->attn, ps, nn_name(nm, sizeof nm, prefix, "attn"), cfg.attn);
    nn_norm_init(&b->norm2, ps, nn_name(nm, sizeof nm, prefix, "norm2"), cfg.norm, D, cfg.norm_eps);
    nn_mlp_init(&b->mlp, ps, nn_name(nm, sizeof nm, prefix, "mlp"), cfg.mlp, D, cfg.ffn, cfg.mlp_bias);
}

ag_tensor *nn_block_forward(ag_graph *g, const nn_block *b, ag_tensor *x, ag_tensor *key_pad, int64_t pos0) {
    float p = b->cfg.dropout;
    if (p > 0 && ag_is_training(g)) { /* residual dropout sits between the sublayer and the add */
        /* x + dropout(sublayer) in one op (ag_dropout_add): the same values as add(x, dropout(...)) */
        if (b->cfg.pre_norm) {
            x = ag_dropout_add(g, nn_attention_forward(g, &b->attn, nn_norm_forward(g, &b->norm1, x), key_pad, pos0), x, p);
            x = ag_dropout_add(g, nn_mlp_forward(g, &b->mlp, nn_norm_forward(g, &b->norm2, x)), x, p);
        } else {
            x = nn_norm_forward(g, &b->norm1, ag_dropout_add(g, nn_attention_forward(g, &b->attn, x, key_pad, pos0), x, p));
            x = nn_norm_forward(g, &b->norm2, ag_dropout_add(g, nn_mlp_forward(g, &b->mlp, x), x, p));
        }
        return x;
    }
    /* No dropout: each residual add is fused into the sublayer's last projection. */
    if (b->cfg.pre_norm) {
        x = nn_attention_forward_residual(g, &b->attn, nn_norm_forward(g, &b->norm1, x), key_pad, pos0, x);
        x = nn_mlp_forward_residual(g, &b->mlp, nn_norm_forward(g, &b->norm2, x), x);
    } else {
        x = nn_norm_forward(g, &b->norm1, nn_attention_forward_residual(g, &b->attn, x, key_pad, pos0, x));
        x = nn_norm_forward(g, &b->norm2, nn_mlp_forward_residual(g, &b->mlp, x, x));
    }
    return x;
}

void nn_encoder_init(nn_encoder *e, nn_params *ps, const char *prefix, int n_layers, nn_block_config cfg,
                     bool final_norm) {
    AG_CHECK(n_layers >= 0, "nn_encoder_init", "%d layers", n_layers);
    char nm[NN_NAME_MAX], sub[NN_NAME_MAX];
    memset(e, 0, sizeof *e);
    e->n_layers = n_layers;
    e->layers = base_xcalloc((size_t)(n_layers ? n_layers : 1), sizeof *e->layers);
    for (int i = 0; i < n_layers; i++) {
        snprintf(sub, sizeof sub, "layers.%d", i);
        nn_block_init(&e->layers[i], ps, nn_name(nm, sizeof nm, prefix, sub), cfg);
    }
    e->final_norm = final_norm;
    if (final_norm) nn_norm_init(&e->norm, ps, nn_name(nm, sizeof nm, prefix, "norm"), cfg.norm, cfg.attn.dim, cfg.norm_eps);
}

void nn_encoder_free(nn_encoder *e) {
    free(e->layers);
    e->layers = NULL;
    e->n_layers = 0;
}

ag_tensor *nn_encoder_forward(ag_graph *g, const nn_encoder *e, ag_tensor *x, ag_tensor *key_pad, int64_t pos0) {
    for (int i = 0; i < e->n_layers; i++) x = nn_block_forward(g, &e->layers[i], x, key_pad, pos0);
    if (e->final_norm) x = nn_norm_forward(g, &e->norm, x);
    return x;
}

/* ---------------------------------------------------------------------------------------------
 * BERT input stack
 * ------------------------------------------------------------------------------------------ */
void nn_bert_embeddings_init(nn_bert_embeddings *e, nn_params *ps, const char *prefix, int64_t vocab, int64_t max_len,
                             int64_t n_segments, int64_t dim, float eps) {
    char nm[NN_NAME_MAX];
    memset(e, 0, sizeof *e);
    nn_embedding_init(&e->tok, ps, nn_name(nm, sizeof nm, prefix, "tok"), nn_embedding_config_default(vocab, dim));
    nn_embedding_init(&e->pos, ps, nn_name(nm, sizeof nm, prefix, "pos"), nn_embedding_config_default(max_len, dim));
    e->has_seg = n_segments > 0;
    if (e->has_seg)
        nn_embedding_init(&e->seg, ps, nn_name(nm, sizeof nm, prefix, "seg"), nn_embedding_config_default(n_segments, dim));
    nn_layer_norm_init(&e->norm, ps, nn_name(nm, sizeof nm, prefix, "norm"), dim, eps, true);
}

ag_tensor *nn_bert_embeddings_forward(ag_graph *g, const nn_bert_embeddings *e, ag_tensor *ids, ag_tensor *segs) {
    if (ids->ndim != 2 || ids->dtype != AG_I32) {
        base_error_set("nn_bert_embeddings_forward: expected i32 ids [B, T], got %d dims", ids->ndim);
        return NULL;
    }
    int64_t T = ids->shape[1];
    if (T > e->pos.cfg.num) {
        base_error_set("nn_bert_embeddings_forward: sequence of %lld tokens, longer than the %lld positions",
                     (long long)T, (long long)e->pos.cfg.num);
        return NULL;
    }
    ag_tensor *h = nn_embedding_forward(g, &e->tok, ids); /* [B, T, D] */
    if (!h) return NULL;
    ag_tensor *pos = ag_new(g, AG_I32, 1, (const int64_t[]){T});
    for (int64_t t = 0; t < T; t++) ag_i32(pos)[t] = (int32_t)t;
    h = ag_add(g, h, nn_embedding_forward(g, &e->pos, pos)); /* + [T, D] */
    if (e->has_seg) {
        ag_tensor *s;
        if (segs) {
            if (segs->dtype != AG_I32 || !ag_same_shape(segs, ids)) {
                base_error_set("nn_bert_embeddings_forward: segment ids must be i32 with the shape of the token ids");
                return NULL;
            }
            s = nn_embedding_forward(g, &e->seg, segs); /* [B, T, D] */
        } else {
            s = nn_embedding_forward(g, &e->seg, ag_zeros(g, AG_I32, 1, (const int64_t[]){1})); /* [1, D] */
        }
        if (!s) return NULL;
        h = ag_add(g, h, s);
    }
    h = nn_layer_norm_forward(g, &e->norm, h);
    return nn_dropout(g, h, e->dropout);
}
