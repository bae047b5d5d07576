/* layers.c — basic layers: names, Embedding, Linear, LayerNorm, RMSNorm, Dropout, MLPs. */
#include "nn.h"

#include <math.h>
#include <string.h>

const char *nn_name(char *buf, size_t size, const char *prefix, const char *name) {
    int n = (prefix && prefix[0]) ? snprintf(buf, size, "%s.%s", prefix, name) : snprintf(buf, size, "%s", name);
    AG_CHECK(n >= 0 && (size_t)n < size, "nn_name", "parameter name '%s.%s' longer than %zu", prefix ? prefix : "",
             name, size);
    return buf;
}

/* ---------------------------------------------------------------------------------------------
 * Embedding
 * ------------------------------------------------------------------------------------------ */
nn_embedding_config nn_embedding_config_default(int64_t num, int64_t dim) {
    nn_embedding_config c;
    memset(&c, 0, sizeof c);
    c.num = num;
    c.dim = dim;
    c.init = NN_INIT_NORMAL;
    c.a = 0.02f;
    c.padding_idx = -1;
    return c;
}

void nn_embedding_init(nn_embedding *e, nn_params *ps, const char *prefix, nn_embedding_config cfg) {
    AG_CHECK(cfg.num > 0 && cfg.dim > 0, "nn_embedding_init", "table %lld x %lld must be non-empty",
             (long long)cfg.num, (long long)cfg.dim);
    AG_CHECK(cfg.padding_idx >= -1 && cfg.padding_idx < cfg.num, "nn_embedding_init",
             "padding index %d outside [-1, %lld)", cfg.padding_idx, (long long)cfg.num);
    AG_CHECK(cfg.dropout >= 0 && cfg.dropout < 1, "nn_embedding_init", "dropout %g outside [0, 1)", (double)cfg.dropout);
    char nm[NN_NAME_MAX];
    e->cfg = cfg;
    e->weight = nn_params_add(ps, nn_name(nm, sizeof nm, prefix, "weight"), 2, (const int64_t[]){cfg.num, cfg.dim},
                              cfg.init, cfg.a, cfg.b, cfg.sparse_grad);
    if (cfg.padding_idx >= 0) nn_params_set_zero_row(ps, e->weight, cfg.padding_idx);
}

int nn_embedding_load(nn_embedding *e, const float *src, int64_t rows, int64_t cols) {
    if (rows != e->cfg.num || cols != e->cfg.dim)
        return base_error_set("nn_embedding_load: %s: expected a %lld x %lld table, got %lld x %lld",
                            e->weight->name ? e->weight->name : "embedding", (long long)e->cfg.num,
                            (long long)e->cfg.dim, (long long)rows, (long long)cols);
    AG_CHECK(e->weight->data, "nn_embedding_load", "call nn_params_alloc before loading");
    memcpy(e->weight->data, src, (size_t)(rows * cols) * sizeof(float));
    if (e->cfg.padding_idx >= 0) memset(ag_f32(e->weight) + e->cfg.padding_idx * cols, 0, (size_t)cols * sizeof(float));
    return 0;
}

int64_t nn_embedding_param_count(const nn_embedding *e) { return e->cfg.num * e->cfg.dim; }

/* PyTorch's embedding_renorm_: rows with ‖row‖₂ > max_norm are scaled by max_norm / (‖row‖ + 1e-7).
 * Runs on the parameter's bytes directly: it is not part of the differentiated function. */
static void renorm_rows(const nn_embedding *e, const int32_t *ids, int64_t n) {
    float *w = ag_f32(e->weight); /* [num, dim] */
    int64_t D = e->cfg.dim;
    for (int64_t i = 0; i < n; i++) {
        float *row = w + (int64_t)ids[i] * D;
        double s = 0;
        for (int64_t j = 0; j < D; j++) s += (double)row[j] * row[j];
        double norm = sqrt(s);
        if (norm > e->cfg.max_norm) {
            float scale = (float)(e->cfg.max_norm / (norm + 1e-7));
            for (int64_t j = 0; j < D; j++) row[j] *= scale;
        }
    }
}

ag_tensor *nn_embedding_forward(ag_graph *g, const nn_embedding *e, ag_tensor *ids) {
    const char *name = e->weight->name ? e->weight->name : "embedding";
    if (ids->dtype != AG_I32) {
        base_error_set("nn_embedding_forward: %s: expected i32 ids, got f32", name);
        return NULL;
    }
    if (ids->ndim > 3) {
        base_error_set("nn_embedding_forward: %s: expected ids with at most 3 dims, got %d", name, ids->ndim);
        return NULL;
    }
    const int32_t *id = ag_i32(ids); /* [N] */
    int64_t N = ids->numel;
    bool any_pad = false;
    for (int64_t i = 0; i < N; i++) {
        if (id[i] < 0 || id[i] >= e->cfg.num) {
            base_error_set("nn_embedding_forward: %s: id %d at position %lld outside [0, %lld)", name, id[i],
                         (long long)i, (long long)e->cfg.num);
            return NULL;
        }
        if (id[i] == e->cfg.padding_idx) any_pad = true;
    }
    if (e->cfg.max_norm > 0) renorm_rows(e, id, N);
    ag_tensor *out = ag_gather_rows(g, e->weight, ids); /* [..., D] */

    /* The mask shape is ids' shape plus a trailing 1, broadcast over D. */
    int64_t mshape[AG_MAX_DIMS];
    for (int i = 0; i < ids->ndim; i++) mshape[i] = ids->shape[i];
    mshape[ids->ndim] = 1;
    if (any_pad) {
        /* The padding row is zero, so the value is unchanged; the fill cuts its grad to zero. */
        ag_tensor *m = ag_new(g, AG_I32, ids->ndim + 1, mshape); /* [..., 1] */
        for (int64_t i = 0; i < N; i++) ag_i32(m)[i] = id[i] == e->cfg.padding_idx;
        out = ag_masked_fill(g, out, m, 0.0f);
    }
    float p = e->cfg.dropout;
    if (p > 0 && ag_is_training(g)) {
        /* One keep/drop draw per distinct id (state per vocabulary row: 0 undecided, 1 keep, 2 drop). */
        uint8_t *state = ag_arena_calloc(ag_graph_arena(g), (size_t)e->cfg.num);
        base_rng *rng = ag_graph_rng(g);
        ag_tensor *m = ag_new(g, AG_F32, ids->ndim + 1, mshape); /* [..., 1] */
        float keep = 1.0f / (1.0f - p);
        for (int64_t i = 0; i < N; i++) {
            uint8_t *s = &state[id[i]];
            if (*s == 0) *s = base_rng_uniform(rng) < p ? 2 : 1;
            ag_f32(m)[i] = *s == 1 ? keep : 0.0f;
        }
        out = ag_mul(g, out, m);
    }
    return out;
}

/* ---------------------------------------------------------------------------------------------
 * Linear
 * ------------------------------------------------------------------------------------------ */
static void linear_register(nn_linear *l, nn_params *ps, const char *prefix, int64_t in, int64_t out, bool bias,
                            nn_init_kind wk, float wa, float wb, nn_init_kind bk, float ba, float bb) {
    AG_CHECK(in > 0 && out > 0, "nn_linear_init", "sizes %lld -> %lld must be positive", (long long)in, (long long)out);
    char nm[NN_NAME_MAX];
    l->in = in;
    l->out = out;
    l->weight = nn_params_add(ps, nn_name(nm, sizeof nm, prefix, "weight"), 2, (const int64_t[]){out, in}, wk, wa, wb,
                              false);
    l->bias = bias ? nn_params_add(ps, nn_name(nm, sizeof nm, prefix, "bias"), 1, (const int64_t[]){out}, bk, ba, bb,
                                   false)
                   : NULL;
}

void nn_linear_init(nn_linear *l, nn_params *ps, const char *prefix, int64_t in, int64_t out, bool bias) {
    float k = 1.0f / sqrtf((float)in);
    linear_register(l, ps, prefix, in, out, bias, NN_INIT_UNIFORM, -k, k, NN_INIT_UNIFORM, -k, k);
}

void nn_linear_init_normal(nn_linear *l, nn_params *ps, const char *prefix, int64_t in, int64_t out, bool bias,
                           float std) {
    linear_register(l, ps, prefix, in, out, bias, NN_INIT_NORMAL, std, 0, NN_INIT_ZEROS, 0, 0);
}

ag_tensor *nn_linear_forward(ag_graph *g, const nn_linear *l, ag_tensor *x) {
    char sx[96];
    AG_CHECK(x->ndim >= 2 && x->shape[x->ndim - 1] == l->in, "nn_linear_forward", "%s: x %s, expected [..., %lld]",
             l->weight->name ? l->weight->name : "linear", ag_shape_str(x, sx, sizeof sx), (long long)l->in);
    /* One fused GEMM with the bias as its C input (ag_linear): no separate bias-add tensor. */
    return ag_linear(g, x, l->weight, l->bias); /* [..., out] */
}

ag_tensor *nn_linear_forward_ex(ag_graph *g, const nn_linear *l, ag_tensor *x, ag_tensor *residual, int act) {
    char sx[96];
    AG_CHECK(x->ndim >= 2 && x->shape[x->ndim - 1] == l->in, "nn_linear_forward", "%s: x %s, expected [..., %lld]",
             l->weight->name ? l->weight->name : "linear", ag_shape_str(x, sx, sizeof sx), (long long)l->in);
    return ag_linear_ex(g, x, l->weight, l->bias, residual, act);
}

/* ---------------------------------------------------------------------------------------------
 * Norms, dropout
 * ------------------------------------------------------------------------------------------ */
void nn_layer_norm_init(nn_layer_norm *n, nn_params *ps, const char *prefix, int64_t dim, float eps, bool affine) {
    char nm[NN_NAME_MAX];
    n->dim = dim;
    n->eps = eps;
    n->weight = n->bias = NULL;
    if (affine) {
        n->weight = nn_params_add(ps, nn_name(nm, sizeof nm, prefix, "weight"), 1, (const int64_t[]){dim}, NN_INIT_ONES,
                                  0, 0, false);
        n->bias = nn_params_add(ps, nn_name(nm, sizeof nm, prefix, "bias"), 1, (const int64_t[]){dim}, NN_INIT_ZEROS,
                                0, 0, false);
    }
}

ag_tensor *nn_layer_norm_forward(ag_graph *g, const nn_layer_norm *n, ag_tensor *x) {
    AG_CHECK(x->shape[x->ndim - 1] == n->dim, "nn_layer_norm_forward", "last dim %lld, expected %lld",
             (long long)x->shape[x->ndim - 1], (long long)n->dim);
    return ag_layer_norm(g, x, n->weight, n->bias, n->eps);
}

void nn_rms_norm_init(nn_rms_norm *n, nn_params *ps, const char *prefix, int64_t dim, float eps) {
    char nm[NN_NAME_MAX];
    n->dim = dim;
    n->eps = eps;
    n->weight = nn_params_add(ps, nn_name(nm, sizeof nm, prefix, "weight"), 1, (const int64_t[]){dim}, NN_INIT_ONES, 0,
                              0, false);
}

ag_tensor *nn_rms_norm_forward(ag_graph *g, const nn_rms_norm *n, ag_tensor *x) {
    AG_CHECK(x->shape[x->ndim - 1] == n->dim, "nn_rms_norm_forward", "last dim %lld, expected %lld",
             (long long)x->shape[x->ndim - 1], (long long)n->dim);
    return ag_rms_norm(g, x, n->weight, n->eps);
}

void nn_norm_init(nn_norm *n, nn_params *ps, const char *prefix, nn_norm_kind kind, int64_t dim, float eps) {
    memset(n, 0, sizeof *n);
    n->kind = kind;
    if (kind == NN_NORM_RMS) nn_rms_norm_init(&n->rms, ps, prefix, dim, eps);
    else nn_layer_norm_init(&n->ln, ps, prefix, dim, eps, true);
}

ag_tensor *nn_norm_forward(ag_graph *g, const nn_norm *n, ag_tensor *x) {
    return n->kind == NN_NORM_RMS ? nn_rms_norm_forward(g, &n->rms, x) : nn_layer_norm_forward(g, &n->ln, x);
}

ag_tensor *nn_dropout(ag_graph *g, ag_tensor *x, float p) {
    if (p <= 0 || !ag_is_training(g)) return x;
    return ag_dropout(g, x, p);
}

/* ---------------------------------------------------------------------------------------------
 * MLPs
 * ------------------------------------------------------------------------------------------ */
void nn_mlp_init(nn_mlp *m, nn_params *ps, const char *prefix, nn_mlp_kind kind, int64_t dim, int64_t hidden,
                 bool bias) {
    char nm[NN_NAME_MAX];
    memset(m, 0, sizeof *m);
    m->kind = kind;
    if (kind == NN_MLP_SWIGLU) {
        nn_linear_init(&m->w1, ps, nn_name(nm, sizeof nm, prefix, "w1"), dim, hidden, bias);
        nn_linear_init(&m->w2, ps, nn_name(nm, sizeof nm, prefix, "w2"), hidden, dim, bias);
        nn_linear_init(&m->w3, ps, nn_name(nm, sizeof nm, prefix, "w3"), dim, hidden, bias);
    } else {
        nn_linear_init(&m->fc1, ps, nn_name(nm, sizeof nm, prefix, "fc1"), dim, hidden, bias);
        nn_linear_init(&m->fc2, ps, nn_name(nm, sizeof nm, prefix, "fc2"), hidden, dim, bias);
    }
}

ag_tensor *nn_mlp_forward_residual(ag_graph *g, const nn_mlp *m, ag_tensor *x, ag_tensor *r) {
    switch (m->kind) {
    case NN_MLP_SWIGLU: {
        ag_tensor *gate = ag_silu(g, nn_linear_forward(g, &m->w1, x));
        ag_tensor *up = nn_linear_forward(g, &m->w3, x);
        return nn_linear_forward_ex(g, &m->w2, ag_mul(g, gate, up), r, AG_ACT_NONE);
    }
    case NN_MLP_GELU: /* bias + GELU fused into fc1's GEMM epilogue, the residual into fc2's */
        return nn_linear_forward_ex(g, &m->fc2, nn_linear_forward_ex(g, &m->fc1, x, NULL, AG_ACT_GELU_ERF), r, AG_ACT_NONE);
    case NN_MLP_GELU_TANH:
        return nn_linear_forward_ex(g, &m->fc2, ag_gelu(g, nn_linear_forward(g, &m->fc1, x)), r, AG_ACT_NONE);
    case NN_MLP_SILU:
        return nn_linear_forward_ex(g, &m->fc2, ag_silu(g, nn_linear_forward(g, &m->fc1, x)), r, AG_ACT_NONE);
    }
    AG_CHECK(false, "nn_mlp_forward", "unknown MLP kind %d", (int)m->kind);
}

ag_tensor *nn_mlp_forward(ag_graph *g, const nn_mlp *m, ag_tensor *x) { return nn_mlp_forward_residual(g, m, x, NULL); }
