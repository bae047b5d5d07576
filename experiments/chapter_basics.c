/* chapter_basics.c — the chapter's basic experiments, computed with ember's own ops and layers. */
#include "chapter_basics.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ag.h"
#include "nn/nn.h"
#include "train/eval.h"

/* ---------------------------------------------------------------------------------------------
 * Report plumbing
 * ------------------------------------------------------------------------------------------ */
const char *exp_status_name(exp_status s) {
    return s == EXP_MATCH ? "match" : s == EXP_MISMATCH ? "MISMATCH" : "info";
}

exp_basics_item *exp_item_add(exp_basics_report *r, const char *id, exp_status st, double value) {
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 32;
        r->items = base_xrealloc(r->items, (size_t)r->cap * sizeof *r->items);
    }
    exp_basics_item *it = &r->items[r->n++];
    memset(it, 0, sizeof *it);
    snprintf(it->id, sizeof it->id, "%s", id);
    it->status = st;
    it->value = value;
    return it;
}

/* printf into a fixed field (truncation is acceptable for report text). */
void exp_setf(char *dst, size_t size, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, size, fmt, ap);
    va_end(ap);
}
#define SETF EXP_SETF
#define add_item exp_item_add
#define commas exp_commas

/* 1234567 → "1,234,567" in one of 8 rotating static buffers (several per printf). */
const char *exp_commas(int64_t v) {
    static _Thread_local char bufs[8][32];
    static _Thread_local int k;
    char *b = bufs[k++ & 7], tmp[32];
    snprintf(tmp, sizeof tmp, "%lld", (long long)(v < 0 ? -v : v));
    size_t n = strlen(tmp), o = 0;
    if (v < 0) b[o++] = '-';
    for (size_t i = 0; i < n; i++) {
        b[o++] = tmp[i];
        if ((n - 1 - i) % 3 == 0 && i + 1 < n) b[o++] = ',';
    }
    b[o] = 0;
    return b;
}

const exp_basics_item *exp_basics_find(const exp_basics_report *r, const char *id) {
    for (int i = 0; i < r->n; i++)
        if (!strcmp(r->items[i].id, id)) return &r->items[i];
    return NULL;
}

void exp_basics_free(exp_basics_report *r) {
    free(r->items);
    memset(r, 0, sizeof *r);
}

void exp_basics_item_json(const exp_basics_item *it, FILE *f) {
    fprintf(f, "{\"id\": ");
    base_json_str(f, it->id);
    fprintf(f, ", \"what\": ");
    base_json_str(f, it->what);
    fprintf(f, ", \"claim\": ");
    base_json_str(f, it->claim);
    fprintf(f, ", \"ember\": ");
    base_json_str(f, it->ember);
    const char *st = it->status == EXP_MATCH ? "match" : it->status == EXP_MISMATCH ? "mismatch" : "info";
    if (isfinite(it->value)) fprintf(f, ", \"status\": \"%s\", \"value\": %.9g}", st, it->value);
    else fprintf(f, ", \"status\": \"%s\", \"value\": null}", st); /* JSON has no NaN */
}

void exp_basics_print(const exp_basics_report *r, FILE *f, bool json) {
    int mism = 0;
    for (int i = 0; i < r->n; i++) mism += r->items[i].status == EXP_MISMATCH;
    if (json) {
        fprintf(f, "{\"experiment\": \"chapter basics\", \"mismatches\": %d, \"items\": [", mism);
        for (int i = 0; i < r->n; i++) {
            fputs(i ? ",\n  " : "\n  ", f);
            exp_basics_item_json(&r->items[i], f);
        }
        fprintf(f, "\n]}\n");
        return;
    }
    fprintf(f, "Chapter basics: the chapter's claims vs ember's results (%d items, %d mismatch%s)\n\n", r->n, mism,
            mism == 1 ? "" : "es");
    for (int i = 0; i < r->n; i++) {
        const exp_basics_item *it = &r->items[i];
        fprintf(f, "[%-8s] %s  (%s)\n", exp_status_name(it->status), it->what, it->id);
        fprintf(f, "    chapter: %s\n", it->claim);
        fprintf(f, "    ember:   %s\n\n", it->ember);
    }
}

/* ---------------------------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------------------------ */
static double cosine(const float *a, const float *b, int64_t n) { return train_cosine(a, b, n); }

static int64_t count_nonzero(const float *x, int64_t n) {
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++) k += x[i] != 0.0f;
    return k;
}

/* ---------------------------------------------------------------------------------------------
 * 1. one-hot vs dense
 * ------------------------------------------------------------------------------------------ */
static int one_hot_vs_dense(exp_basics_report *r, ag_graph *g, uint64_t seed) {
    const int64_t V = 10000, D = 256;
    const int32_t word = 1234;
    /* The one-hot vector, as an ember tensor: [V] zeros with one 1. */
    ag_tensor *oh = ag_zeros(g, AG_F32, AG_SHAPE(V));
    ag_f32(oh)[word] = 1.0f;
    int64_t oh_nz = count_nonzero(ag_f32(oh), V);
    /* The dense vector: the same word looked up in a 10,000 × 256 ember Embedding. */
    nn_params ps;
    nn_params_init(&ps);
    nn_embedding e;
    nn_embedding_init(&e, &ps, "embedding", nn_embedding_config_default(V, D));
    base_rng rng;
    base_rng_seed(&rng, seed);
    nn_params_alloc(&ps, &rng);
    ag_tensor *v = nn_embedding_forward(g, &e, ag_from_i32(g, AG_SHAPE(1), &word));
    if (!v) {
        nn_params_free(&ps);
        return -1;
    }
    int64_t d_nz = count_nonzero(ag_f32(v), D);
    /* One-hot times the table selects the row: the lookup is that matrix product without the zeros. */
    ag_tensor *prod = ag_matmul(g, ag_reshape(g, oh, 2, (const int64_t[]){1, V}), e.weight, false, false);
    bool same = memcmp(ag_f32(prod), ag_f32(v), (size_t)D * sizeof(float)) == 0;

    exp_basics_item *it = add_item(r, "onehot.size", oh_nz == 1 && d_nz == D ? EXP_MATCH : EXP_MISMATCH, (double)V / D);
    SETF(it->what, "one-hot vs dense: dimensions and bytes of one word's vector (f32)");
    SETF(it->claim, "a 10,000-word one-hot vector has 10,000 dimensions; a dense embedding has 256");
    SETF(it->ember, "one-hot %s dims = %s bytes; dense %s dims = %s bytes; %.2fx smaller", commas(V), commas(V * 4),
         commas(D), commas(D * 4), (double)V / D);
    it = add_item(r, "onehot.sparsity", oh_nz == 1 && d_nz == D ? EXP_MATCH : EXP_MISMATCH, 1.0 - (double)oh_nz / V);
    SETF(it->what, "one-hot vs dense: sparsity");
    SETF(it->claim, "one-hot: a single 1 and 99.99%% zeros; dense: every dimension carries information");
    SETF(it->ember, "one-hot: %lld non-zero of %s (%.2f%% zeros); dense lookup: %lld of %lld non-zero (%.2f%% zeros); "
                    "one-hot x table == lookup: %s",
         (long long)oh_nz, commas(V), 100.0 * (1.0 - (double)oh_nz / V), (long long)d_nz, (long long)D,
         100.0 * (1.0 - (double)d_nz / D), same ? "yes (bit-exact)" : "NO");
    nn_params_free(&ps);
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * 2. cosine similarity of the chapter's vectors
 * ------------------------------------------------------------------------------------------ */
static void cosines(exp_basics_report *r, ag_graph *g) {
    static const float vec[3][4] = {{0.2f, -0.5f, 0.3f, 0.8f}, {0.3f, -0.4f, 0.2f, 0.7f}, {-0.8f, 0.6f, -0.2f, 0.1f}};
    static const char *names[3] = {"cat", "dog", "car"};
    /* Through ember's op: a [3, 4] against [3, 4] with rows (cat, cat, dog) · (dog, car, car). */
    float a[12], b[12];
    const int pa[3] = {0, 0, 1}, pb[3] = {1, 2, 2};
    for (int k = 0; k < 3; k++) {
        memcpy(a + 4 * k, vec[pa[k]], sizeof vec[0]);
        memcpy(b + 4 * k, vec[pb[k]], sizeof vec[0]);
    }
    ag_tensor *c = ag_cosine_similarity(g, ag_from_f32(g, AG_SHAPE(3, 4), a), ag_from_f32(g, AG_SHAPE(3, 4), b), 1e-8f);
    const float *cv = ag_f32(c);
    /* cat·dog: the chapter says 0.99; cat·car: the chapter says −0.15 (it does not say which pair
     * besides cat–dog, so both car pairs are shown). */
    double d0 = cosine(vec[0], vec[1], 4);
    exp_basics_item *it = add_item(r, "cosine.cat_dog", fabs(cv[0] - 0.99) < 0.005 ? EXP_MATCH : EXP_MISMATCH, cv[0]);
    SETF(it->what, "cosine similarity cat=[0.2,-0.5,0.3,0.8] vs dog=[0.3,-0.4,0.2,0.7]");
    SETF(it->claim, "0.99");
    SETF(it->ember, "%.4f (ag_cosine_similarity; double-precision check %.6f = 0.88 / sqrt(1.02 x 0.78))", cv[0], d0);
    double d1 = cosine(vec[0], vec[2], 4), d2 = cosine(vec[1], vec[2], 4);
    bool ok = fabs(cv[1] - -0.15) < 0.005 || fabs(cv[2] - -0.15) < 0.005;
    it = add_item(r, "cosine.cat_car", ok ? EXP_MATCH : EXP_MISMATCH, cv[1]);
    SETF(it->what, "cosine similarity of car=[-0.8,0.6,-0.2,0.1] with cat and with dog");
    SETF(it->claim, "-0.15");
    SETF(it->ember, "%s-%s %.4f (= -0.44 / sqrt(1.02 x 1.05)), %s-%s %.4f (= -0.45 / sqrt(0.78 x 1.05)); double check "
                    "%.6f, %.6f. %s",
         names[0], names[2], cv[1], names[1], names[2], cv[2], d1, d2,
         ok ? "" : "Neither pair gives -0.15: the chapter's figure does not follow from its own vectors "
                   "(the sign and the conclusion, car far from cat, do hold)");
}

/* ---------------------------------------------------------------------------------------------
 * 3. parameter counts of embedding tables, 4. the lookup
 * ------------------------------------------------------------------------------------------ */
static void table_counts(exp_basics_report *r) {
    static const struct {
        int64_t V, D;
        const char *id, *label;
    } t[4] = {{5000, 256, "params.5000x256", "a small vocabulary (5,000 x 256)"},
              {50257, 12288, "params.50257x12288", "GPT-3's token table (50,257 x 12,288)"},
              {50000, 300, "params.50000x300", "a word2vec-style table (50,000 x 300)"},
              {10000, 512, "params.10000x512", "10,000 x 512"}};
    for (int k = 0; k < 4; k++) {
        /* Registered, not allocated: counting needs the shapes only (GPT-3's table is 2.5 GB). */
        nn_params ps;
        nn_params_init(&ps);
        nn_embedding e;
        nn_embedding_init(&e, &ps, "embedding", nn_embedding_config_default(t[k].V, t[k].D));
        int64_t n = nn_params_count(&ps, NULL);
        exp_basics_item *it = add_item(r, t[k].id, n == t[k].V * t[k].D ? EXP_MATCH : EXP_MISMATCH, (double)n);
        SETF(it->what, "parameters of an embedding table: %s", t[k].label);
        SETF(it->claim, "vocab x dim = %s", commas(t[k].V * t[k].D));
        SETF(it->ember, "%s parameters (nn_params_count of an nn_embedding), %.1f MB as f32", commas(n), (double)n * 4 / 1e6);
        nn_params_free(&ps);
    }
}

static int lookup(exp_basics_report *r, ag_graph *g, uint64_t seed) {
    nn_params ps;
    nn_params_init(&ps);
    nn_embedding e;
    nn_embedding_init(&e, &ps, "embedding", nn_embedding_config_default(5000, 256));
    base_rng rng;
    base_rng_seed(&rng, seed);
    nn_params_alloc(&ps, &rng);
    const int32_t ids[4] = {15, 234, 42, 1893};
    ag_tensor *out = nn_embedding_forward(g, &e, ag_from_i32(g, AG_SHAPE(4), ids));
    if (!out) {
        nn_params_free(&ps);
        return -1;
    }
    bool rows = true;
    for (int k = 0; k < 4; k++)
        rows &= memcmp(ag_f32(out) + k * 256, ag_f32(e.weight) + (int64_t)ids[k] * 256, 256 * sizeof(float)) == 0;
    bool ok = out->ndim == 2 && out->shape[0] == 4 && out->shape[1] == 256 && rows;
    exp_basics_item *it = add_item(r, "lookup.shape", ok ? EXP_MATCH : EXP_MISMATCH, (double)out->numel);
    SETF(it->what, "lookup of ids [15, 234, 42, 1893] in a 5000 x 256 table");
    SETF(it->claim, "output shape (4, 256)");
    SETF(it->ember, "output shape (%lld, %lld); row k is table row ids[k]: %s; first values of row 0: %.4f %.4f %.4f",
         (long long)out->shape[0], (long long)out->shape[1], rows ? "yes" : "NO", (double)ag_f32(out)[0],
         (double)ag_f32(out)[1], (double)ag_f32(out)[2]);
    nn_params_free(&ps);
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * 5. positions
 * ------------------------------------------------------------------------------------------ */
enum { SCHEME_NONE, SCHEME_SIN, SCHEME_LEARNED, SCHEME_ROPE_HALF, SCHEME_ROPE_INTER, SCHEME_ALIBI, SCHEME_ALIBI_CAUSAL,
       SCHEME_CAUSAL_NONE, NSCHEME };
static const char *const SCHEME_NAME[NSCHEME] = {
    "no positions", "sinusoidal (added)", "learned absolute (added)", "RoPE half-split",
    "RoPE interleaved", "ALiBi, bidirectional (symmetric)", "ALiBi, causal (as in the paper)", "causal mask, no positions"};

#define POS_D 64
#define POS_H 4

/* One pre-norm encoder block over "w0 w1 w2", mean-pooled: the sentence vector under one scheme. */
typedef struct pos_model {
    nn_params ps;
    nn_embedding tok;
    nn_learned_pos pos;
    nn_encoder enc[NSCHEME]; /* same initial weights (same seed), different attention settings */
} pos_model;

static void pos_model_init(pos_model *m, uint64_t seed) {
    nn_params_init(&m->ps);
    nn_embedding_config tc = nn_embedding_config_default(3, POS_D);
    tc.a = 1.0f; /* unit-scale word vectors so the three words are clearly different */
    nn_embedding_init(&m->tok, &m->ps, "tok", tc);
    nn_learned_pos_init(&m->pos, &m->ps, "pos", 16, POS_D);
    nn_params_find(&m->ps, "pos.weight")->a = 1.0f; /* unit-scale positions as well */
    for (int s = 0; s < NSCHEME; s++) {
        nn_block_config bc = nn_block_config_default(POS_D, POS_H, 2 * POS_D);
        bc.attn.pos = s == SCHEME_ROPE_HALF || s == SCHEME_ROPE_INTER ? NN_POS_ROPE
                      : s == SCHEME_ALIBI || s == SCHEME_ALIBI_CAUSAL  ? NN_POS_ALIBI
                                                                       : NN_POS_NONE;
        bc.attn.rope_interleaved = s == SCHEME_ROPE_INTER;
        bc.attn.causal = s == SCHEME_ALIBI_CAUSAL || s == SCHEME_CAUSAL_NONE;
        char nm[32];
        snprintf(nm, sizeof nm, "enc%d", s);
        nn_encoder_init(&m->enc[s], &m->ps, nm, 1, bc, true);
    }
    base_rng rng;
    base_rng_seed(&rng, seed);
    nn_params_alloc(&m->ps, &rng);
    /* every scheme's block starts from the same weights: copy encoder 0's values */
    for (int s = 1; s < NSCHEME; s++)
        for (int i = 0; i < m->ps.n; i++) {
            const char *name = m->ps.items[i].name;
            if (strncmp(name, "enc0.", 5) != 0) continue;
            char other[NN_NAME_MAX];
            snprintf(other, sizeof other, "enc%d.%s", s, name + 5);
            nn_param *p = nn_params_find(&m->ps, other);
            memcpy(p->t->data, m->ps.items[i].t->data, (size_t)p->t->numel * sizeof(float));
        }
}

static void pos_model_free(pos_model *m) {
    for (int s = 0; s < NSCHEME; s++) nn_encoder_free(&m->enc[s]);
    nn_params_free(&m->ps);
}

/* Pooled sentence vector [POS_D] of ids[3] under scheme s. */
static void sentence_vec(ag_graph *g, pos_model *m, int s, const int32_t *ids, float *out) {
    ag_tensor *x = nn_embedding_forward(g, &m->tok, ag_from_i32(g, AG_SHAPE(1, 3), ids)); /* [1, 3, D] */
    if (s == SCHEME_SIN) x = nn_sinusoidal_add(g, x, 0);
    if (s == SCHEME_LEARNED) x = nn_learned_pos_add(g, &m->pos, x, 0);
    ag_tensor *h = nn_encoder_forward(g, &m->enc[s], x, NULL, 0);
    memcpy(out, ag_f32(nn_pool_mean(g, h, NULL)), POS_D * sizeof(float));
}

static int positions(exp_basics_report *r, ag_graph *g, uint64_t seed) {
    pos_model m;
    pos_model_init(&m, seed);
    ag_no_grad_begin(g);
    /* (a) the same token ("cat", id 0) at positions 0, 1, 2 under each scheme */
    ag_tensor *cat3 = nn_embedding_forward(g, &m.tok, ag_from_i32(g, AG_SHAPE(1, 3), (const int32_t[]){0, 0, 0}));
    struct {
        const char *id, *name;
        ag_tensor *v; /* [.., 3, D] */
    } rep[5] = {{"positions.same_token.none", "no positions", cat3},
                {"positions.same_token.sinusoidal", "sinusoidal (added)", nn_sinusoidal_add(g, cat3, 0)},
                {"positions.same_token.learned", "learned absolute (added)", nn_learned_pos_add(g, &m.pos, cat3, 0)},
                {"positions.same_token.rope_half", "RoPE half-split (rotates q/k)",
                 ag_rope(g, ag_reshape(g, cat3, 4, (const int64_t[]){1, 1, 3, POS_D}), 0, 10000.0f, false)},
                {"positions.same_token.rope_interleaved", "RoPE interleaved (rotates q/k)",
                 ag_rope(g, ag_reshape(g, cat3, 4, (const int64_t[]){1, 1, 3, POS_D}), 0, 10000.0f, true)}};
    for (int k = 0; k < 5; k++) {
        const float *v = ag_f32(rep[k].v);
        double c01 = cosine(v, v + POS_D, POS_D), c02 = cosine(v, v + 2 * POS_D, POS_D);
        bool distinct = c01 < 1 - 1e-6 && c02 < 1 - 1e-6;
        exp_basics_item *it = add_item(r, rep[k].id, (k == 0) != distinct ? EXP_MATCH : EXP_MISMATCH, c01);
        SETF(it->what, "the same token at positions 0, 1, 2: %s (d = %d)", rep[k].name, POS_D);
        SETF(it->claim, k == 0 ? "without positions the three vectors are identical"
                               : "the scheme gives each position a different vector");
        SETF(it->ember, "cosine(pos 0, pos 1) = %.6f, cosine(pos 0, pos 2) = %.6f%s", c01, c02,
             k >= 3 ? "; norms unchanged (rotation), q.k depends only on the offset" : "");
    }
    {
        float sl[POS_H];
        nn_alibi_slopes(POS_H, sl);
        ag_tensor *b = nn_alibi_bias(g, POS_H, 3, 3);
        const float *bb = ag_f32(b) + 2 * 3; /* head 0, query at position 2, keys 0..2 */
        exp_basics_item *it = add_item(r, "positions.same_token.alibi", bb[0] < bb[1] && bb[1] < bb[2] ? EXP_MATCH : EXP_MISMATCH,
                                       bb[0]);
        SETF(it->what, "the same token at positions 0, 1, 2: ALiBi (the vector is not changed; the score is)");
        SETF(it->claim, "the scheme gives each position a different treatment");
        SETF(it->ember, "vectors identical; score bias of a query at position 2 to keys at 0, 1, 2 (head 0, slope %.4g): "
                        "%.4f, %.4f, %.4f; slopes for %d heads: %.4g %.4g %.4g %.4g",
             (double)sl[0], (double)bb[0] + 0.0, (double)bb[1] + 0.0, (double)bb[2] + 0.0, POS_H, (double)sl[0], (double)sl[1],
             (double)sl[2], (double)sl[3]);
    }
    /* (b) "cat chased dog" vs "dog chased cat" after one transformer block, mean-pooled */
    const int32_t s1[3] = {0, 1, 2}, s2[3] = {2, 1, 0};
    static const char *const ids[NSCHEME] = {"order.none", "order.sinusoidal", "order.learned", "order.rope_half",
                                             "order.rope_interleaved", "order.alibi_bidirectional", "order.alibi_causal",
                                             "order.causal_no_positions"};
    for (int s = 0; s < NSCHEME; s++) {
        float v1[POS_D], v2[POS_D];
        sentence_vec(g, &m, s, s1, v1);
        sentence_vec(g, &m, s, s2, v2);
        double c = cosine(v1, v2, POS_D), dmax = 0;
        for (int j = 0; j < POS_D; j++) dmax = fmax(dmax, fabs((double)v1[j] - v2[j]));
        bool same = dmax < 1e-5;
        exp_status st;
        exp_basics_item *it;
        if (s == SCHEME_NONE) {
            st = same ? EXP_MATCH : EXP_MISMATCH;
            it = add_item(r, ids[s], st, c);
            SETF(it->claim, "without positions the two sentences are indistinguishable");
        } else if (s == SCHEME_ALIBI) {
            /* reversing a 3-token sentence keeps every |i - j|: symmetric ALiBi cannot see it */
            st = same ? EXP_INFO : EXP_MISMATCH;
            it = add_item(r, ids[s], st, c);
            SETF(it->claim, "(not in the chapter) bidirectional ALiBi uses |i - j| only, and reversal keeps every |i - j|");
        } else if (s == SCHEME_CAUSAL_NONE) {
            st = EXP_INFO;
            it = add_item(r, ids[s], st, c);
            SETF(it->claim, "(control) a causal mask alone already makes order visible");
        } else {
            st = same ? EXP_MISMATCH : EXP_MATCH;
            it = add_item(r, ids[s], st, c);
            SETF(it->claim, "with positions the two sentences are distinct");
        }
        SETF(it->what, "\"cat chased dog\" vs \"dog chased cat\": %s", SCHEME_NAME[s]);
        SETF(it->ember, "cosine of the mean-pooled outputs of one pre-norm block (d=%d, %d heads) = %.6f, max |diff| = %.3g%s",
             POS_D, POS_H, c, dmax, same ? " (indistinguishable)" : " (distinct)");
    }
    ag_no_grad_end(g);
    pos_model_free(&m);
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * 6. μOmni model sizes
 * ------------------------------------------------------------------------------------------ */
/* Thinker: tok [V, 256]; 4 pre-norm blocks (RMSNorm eps 1e-6; attention 4 heads, 2 KV heads,
 * head dim 64, no biases, RoPE, causal; SwiGLU FFN 1024 without biases); final RMSNorm; untied
 * head Linear(256, V) without bias. */
typedef struct {
    nn_params ps;
    nn_embedding tok;
    nn_encoder enc;
    nn_linear head;
} thinker_model;

static void thinker_build(thinker_model *m, int64_t V) {
    nn_params_init(&m->ps);
    nn_embedding_init(&m->tok, &m->ps, "tok", nn_embedding_config_default(V, 256));
    nn_block_config bc = nn_block_config_default(256, 4, 1024);
    bc.attn.n_kv_heads = 2;
    bc.attn.bias = false;
    bc.attn.causal = true;
    bc.attn.pos = NN_POS_ROPE;
    bc.mlp = NN_MLP_SWIGLU;
    bc.mlp_bias = false;
    bc.norm = NN_NORM_RMS;
    bc.norm_eps = 1e-6f;
    nn_encoder_init(&m->enc, &m->ps, "thinker", 4, bc, true);
    nn_linear_init(&m->head, &m->ps, "head", 256, V, false);
}

static void thinker_free(thinker_model *m) {
    nn_encoder_free(&m->enc);
    nn_params_free(&m->ps);
}

int64_t exp_basics_thinker_params(int64_t vocab) {
    thinker_model m;
    thinker_build(&m, vocab);
    int64_t n = nn_params_count(&m.ps, NULL);
    thinker_free(&m);
    return n;
}

/* ViT-tiny as μOmni builds it (omni/vision_encoder.py and configs/vision_tiny.json at the chapter's
 * commit ae4594a): patch conv 3→128, 16×16 stride 16 (with bias); CLS [1, 1, 128]; learned
 * positions [197, 128]; 4 nn.TransformerEncoderLayer blocks (pre-norm LayerNorm; attention 2 heads
 * with biases; GELU MLP 512 with biases); a final RMSNorm with a weight only (omni/utils.py). No
 * classifier head. The final norm is built on its own because it differs from the blocks' norms. */
typedef struct {
    nn_params ps;
    nn_patch_embed pe;
    nn_encoder enc;
    nn_rms_norm norm;
} vit_model;

static void vit_build(vit_model *m) {
    nn_params_init(&m->ps);
    nn_patch_embed_init(&m->pe, &m->ps, "patch", 224, 224, 16, 3, 128, true, true);
    nn_block_config bc = nn_block_config_default(128, 2, 512);
    nn_encoder_init(&m->enc, &m->ps, "vit", 4, bc, false);
    nn_rms_norm_init(&m->norm, &m->ps, "vit.norm", 128, 1e-5f);
}

static void vit_free(vit_model *m) {
    nn_encoder_free(&m->enc);
    nn_params_free(&m->ps);
}

int64_t exp_basics_vit_tiny_params(void) {
    vit_model m;
    vit_build(&m);
    int64_t n = nn_params_count(&m.ps, NULL);
    vit_free(&m);
    return n;
}

int64_t exp_basics_projector_params(void) {
    nn_params ps;
    nn_params_init(&ps);
    nn_linear pv, pa;
    nn_linear_init(&pv, &ps, "proj_v", 128, 256, true);
    nn_linear_init(&pa, &ps, "proj_a", 192, 256, true);
    int64_t n = nn_params_count(&ps, NULL);
    nn_params_free(&ps);
    return n;
}

/* PyTorch builds of the same modules: the Thinker counts from tests/fixtures/gen_nn.py (records
 * count.*); ViT-tiny and the projectors from μOmni's own classes at ae4594a under PyTorch 1.13
 * (nn.TransformerEncoderLayer ×4 + conv + cls + pos + RMSNorm weight; nn.Linear(128/192, 256)).
 * gen_nn.py's count.vit_tiny (917,120) ends in a LayerNorm, whose bias (128) μOmni's RMSNorm lacks. */
static const int64_t TORCH_THINKER_5000 = 6494464, TORCH_THINKER_32000 = 20318464, TORCH_VIT_TINY = 916992,
                     TORCH_VIT_TINY_LAYERNORM = 917120, TORCH_PROJ_V = 33024, TORCH_PROJ_A = 49408;

static void model_sizes(exp_basics_report *r) {
    const int64_t vocabs[2] = {5000, 32000}, torch_counts[2] = {TORCH_THINKER_5000, TORCH_THINKER_32000};
    int64_t tok_params[2] = {0, 0};
    for (int k = 0; k < 2; k++) {
        thinker_model m;
        thinker_build(&m, vocabs[k]);
        const nn_params *ps = &m.ps;
        int64_t n = nn_params_count(ps, NULL);
        tok_params[k] = nn_params_count(ps, "tok.");
        char id[48];
        snprintf(id, sizeof id, "muomni.thinker%lld", (long long)vocabs[k]);
        exp_basics_item *it = add_item(r, id, n == torch_counts[k] ? EXP_MATCH : EXP_MISMATCH, (double)n);
        SETF(it->what, "μOmni Thinker parameters, vocab %s (d=256, 4 layers, 4 heads, 2 KV heads, SwiGLU 1024, RMSNorm, "
                       "untied head; no biases, final RMSNorm)",
             commas(vocabs[k]));
        SETF(it->claim, "PyTorch build of the same modules (gen_nn.py): %s", commas(torch_counts[k]));
        SETF(it->ember, "%s = tok %s + 4 blocks %s (each: attn %s, SwiGLU %s, norms %s) + final norm %s + head %s",
             commas(n), commas(nn_params_count(ps, "tok.")), commas(nn_params_count(ps, "thinker.layers.")),
             commas(nn_params_count(ps, "thinker.layers.0.attn.")), commas(nn_params_count(ps, "thinker.layers.0.mlp.")),
             commas(nn_params_count(ps, "thinker.layers.0.norm1.") + nn_params_count(ps, "thinker.layers.0.norm2.")),
             commas(nn_params_count(ps, "thinker.norm.")), commas(nn_params_count(ps, "head.")));
        thinker_free(&m);
    }
    /* The vocabulary the chapter states vs the one μOmni's code uses. */
    exp_basics_item *it = add_item(r, "muomni.vocab", EXP_MISMATCH, 32000);
    SETF(it->what, "the Thinker's vocabulary size");
    SETF(it->claim, "\"μOmni uses BPE with 5000 tokens\"; tok_emb \"vocab=5000 ... 5000 x 256 = 1,280,000\"");
    SETF(it->ember, "differs: μOmni's code at the chapter's commit (configs/thinker_tiny.json, omni_sft_tiny.json) sets "
                    "vocab_size 32,000, a SentencePiece BPE trained to 32,000 pieces. Its token table is then "
                    "32,000 x 256 = %s parameters (ember's nn_embedding count), not %s, and the whole Thinker "
                    "%s, not %s",
         commas(tok_params[1]), commas(tok_params[0]), commas(TORCH_THINKER_32000), commas(TORCH_THINKER_5000));

    vit_model m;
    vit_build(&m);
    const nn_params *ps = &m.ps;
    int64_t n = nn_params_count(ps, NULL);
    it = add_item(r, "muomni.vit_tiny", n == TORCH_VIT_TINY ? EXP_MATCH : EXP_MISMATCH, (double)n);
    SETF(it->what, "μOmni ViT-tiny parameters (224x224, 16x16 patches -> 196 + CLS, 128-dim, 4 layers, 2 heads, FFN 512; "
                   "LayerNorm blocks with biases, GELU, final RMSNorm with weight only, no classifier)");
    SETF(it->claim, "μOmni's ViTTiny (vision_tiny.json) built in PyTorch: %s (a LayerNorm-ended build gives %s: "
                    "+128 for a norm bias μOmni's RMSNorm does not have)",
         commas(TORCH_VIT_TINY), commas(TORCH_VIT_TINY_LAYERNORM));
    SETF(it->ember, "%s = patch conv %s + CLS %s + positions %s + 4 blocks %s (each %s) + final RMSNorm %s", commas(n),
         commas(nn_params_count(ps, "patch.proj.")), commas(nn_params_count(ps, "patch.cls")),
         commas(nn_params_count(ps, "patch.pos")), commas(nn_params_count(ps, "vit.layers.")),
         commas(nn_params_count(ps, "vit.layers.0.")), commas(nn_params_count(ps, "vit.norm.")));
    vit_free(&m);

    int64_t np = exp_basics_projector_params();
    it = add_item(r, "muomni.projectors", np == TORCH_PROJ_V + TORCH_PROJ_A ? EXP_MATCH : EXP_MISMATCH, (double)np);
    SETF(it->what, "μOmni's projectors into the Thinker's 256-d space (sft_omni.py: proj_v, proj_a, nn.Linear with bias)");
    SETF(it->claim, "\"Vision Projector (Linear 128→256)\", \"Audio Projector (Linear 192→256)\"; PyTorch: %s + %s = %s",
         commas(TORCH_PROJ_V), commas(TORCH_PROJ_A), commas(TORCH_PROJ_V + TORCH_PROJ_A));
    SETF(it->ember, "%s = proj_v 128 x 256 + 256 (%s) + proj_a 192 x 256 + 256 (%s)", commas(np), commas(128 * 256 + 256),
         commas(192 * 256 + 256));
}

/* ---------------------------------------------------------------------------------------------
 * 7. what the chapter states but μOmni's code does not do; the dimension table
 * ------------------------------------------------------------------------------------------ */
static void init_and_dims(exp_basics_report *r, uint64_t seed) {
    /* Draw the 5000 x 256 table both ways through ember's init and measure the spread. */
    double sd[2];
    const float sig[2] = {1.0f, 0.02f};
    for (int k = 0; k < 2; k++) {
        nn_params ps;
        nn_params_init(&ps);
        nn_embedding e;
        nn_embedding_config c = nn_embedding_config_default(5000, 256);
        c.a = sig[k];
        nn_embedding_init(&e, &ps, "tok", c);
        base_rng rng;
        base_rng_seed(&rng, seed);
        nn_params_alloc(&ps, &rng);
        const float *w = ag_f32(e.weight);
        double s2 = 0;
        for (int64_t i = 0; i < e.weight->numel; i++) s2 += (double)w[i] * w[i];
        sd[k] = sqrt(s2 / (double)e.weight->numel);
        nn_params_free(&ps);
    }
    exp_basics_item *it = add_item(r, "muomni.embedding_init", EXP_MISMATCH, sd[0]);
    SETF(it->what, "initial spread of the Thinker's token embeddings");
    SETF(it->claim, "initial rows look like [0.0231, -0.0145, 0.0367, ...] (\"random noise\"); tip: "
                    "nn.init.normal_(std=0.02) \"prevents large initial values\"");
    SETF(it->ember, "differs: μOmni's ThinkerLM (omni/thinker.py) creates nn.Embedding(vocab, d) and never re-initialises "
                    "it, so its rows are PyTorch's default N(0, 1): measured std %.4f over a 5000 x 256 table drawn that way, "
                    "against %.4f for N(0, 0.02). Values like 0.0231 come from the std-0.02 tip, not from μOmni's code "
                    "(`chapter tips` measures what the difference does to training)",
         sd[0], sd[1]);

    it = add_item(r, "dims.gpt3", EXP_MISMATCH, 12288);
    SETF(it->what, "the dimension table's GPT-3 row vs the chapter's own GPT-3 count");
    SETF(it->claim, "table: \"2048-4096 ... GPT-3, Large models\"; parameter count: \"GPT-3 ... d_model = 12,288\"");
    SETF(it->ember, "differs: the chapter contradicts itself. GPT-3 175B is 12,288 wide (the width its own count uses: "
                    "50,257 x 12,288 = %s); 2,048-4,096 covers only the smaller GPT-3 variants (XL 2,048, 6.7B 4,096). "
                    "The row should read up to 12,288",
         commas((int64_t)50257 * 12288));
}

/* ---------------------------------------------------------------------------------------------
 * 8. RoPE: q·k depends only on the offset m − n
 * ------------------------------------------------------------------------------------------ */
static void rope_check(exp_basics_report *r, ag_graph *g, uint64_t seed) {
    enum { DH = 64, PAIRS = 2000 };
    base_rng rng;
    base_rng_seed(&rng, seed ^ 0x7a11);
    double worst = 0, scale = 0;
    int64_t worst_m = 0, worst_n = 0, worst_s = 0;
    float q[DH], k[DH];
    for (int p = 0; p < PAIRS; p++) {
        for (int i = 0; i < DH; i++) {
            q[i] = (float)base_rng_normal(&rng);
            k[i] = (float)base_rng_normal(&rng);
        }
        int64_t m = (int64_t)(base_rng_uniform(&rng) * 512), n = (int64_t)(base_rng_uniform(&rng) * 512);
        int64_t s = 1 + (int64_t)(base_rng_uniform(&rng) * 1024);
        ag_tensor *qt = ag_from_f32(g, AG_SHAPE(1, 1, 1, DH), q), *kt = ag_from_f32(g, AG_SHAPE(1, 1, 1, DH), k);
        const float *q1 = ag_f32(ag_rope(g, qt, m, 10000.0f, false)), *k1 = ag_f32(ag_rope(g, kt, n, 10000.0f, false));
        const float *q2 = ag_f32(ag_rope(g, qt, m + s, 10000.0f, false)), *k2 = ag_f32(ag_rope(g, kt, n + s, 10000.0f, false));
        double d1 = 0, d2 = 0;
        for (int i = 0; i < DH; i++) {
            d1 += (double)q1[i] * k1[i];
            d2 += (double)q2[i] * k2[i];
        }
        scale = fmax(scale, fabs(d1));
        if (fabs(d1 - d2) > worst) {
            worst = fabs(d1 - d2);
            worst_m = m, worst_n = n, worst_s = s;
        }
        ag_graph_reset(g);
    }
    exp_basics_item *it = add_item(r, "positions.rope_offset", worst < 1e-4 * fmax(scale, 1) ? EXP_MATCH : EXP_MISMATCH, worst);
    SETF(it->what, "RoPE: q·k(m, n) vs q·k(m+s, n+s) for %d random pairs (head dim %d, θ 10000, half-split as μOmni)",
         PAIRS, DH);
    SETF(it->claim, "RoPE \"doesn't add, rotates\": the score depends on the offset m - n only");
    SETF(it->ember, "largest |q·k(m,n) - q·k(m+s,n+s)| = %.3g (at m=%lld, n=%lld, s=%lld; m, n < 512, s <= 1024) against "
                    "scores up to %.1f: equal to float rounding (ag_rope, scores in double)",
         worst, (long long)worst_m, (long long)worst_n, (long long)worst_s, scale);
}

int exp_basics_run(exp_basics_report *r, uint64_t seed) { return exp_basics_run_with(r, seed, NULL, NULL); }

int exp_basics_run_with(exp_basics_report *r, uint64_t seed, const train_vectors *v, const char *source) {
    memset(r, 0, sizeof *r);
    ag_graph *g = ag_graph_new(0);
    ag_no_grad_begin(g);
    int rc = one_hot_vs_dense(r, g, seed);
    if (rc == 0) cosines(r, g);
    if (rc == 0) table_counts(r);
    if (rc == 0) rc = lookup(r, g, seed);
    ag_no_grad_end(g);
    if (rc == 0) rc = positions(r, g, seed);
    if (rc == 0) model_sizes(r);
    if (rc == 0) init_and_dims(r, seed);
    if (rc == 0) rope_check(r, g, seed);
    if (rc == 0) exp_basics_vector_items(r, v, source ? source : "given vectors");
    ag_graph_free(g);
    if (rc != 0) exp_basics_free(r);
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * 9. the chapter's find_similar and analogy code, run as written
 * ------------------------------------------------------------------------------------------ */
typedef struct {
    double s;
    int64_t id;
} sim_id;

static int sim_id_cmp(const void *a, const void *b) { /* ascending, as numpy's argsort */
    const sim_id *x = a, *y = b;
    return x->s < y->s ? -1 : x->s > y->s ? 1 : (x->id > y->id) - (x->id < y->id);
}

/* cos(query, every row) sorted ascending: the chapter's `similarities.argsort()`. sims [n] heap. */
static sim_id *argsort_cosines(const float *q, const float *rows, int64_t n, int64_t d) {
    sim_id *s = base_xmalloc((size_t)n * sizeof *s);
    for (int64_t i = 0; i < n; i++) s[i] = (sim_id){train_cosine(q, rows + i * d, d), i};
    qsort(s, (size_t)n, sizeof *s, sim_id_cmp);
    return s;
}

void exp_basics_vector_items(exp_basics_report *r, const train_vectors *v, const char *source) {
    if (!v) {
        /* No trained vectors: the flaw is structural, so show it on the chapter's own three vectors. */
        static const float vec[3 * 4] = {0.2f, -0.5f, 0.3f, 0.8f, 0.3f, -0.4f, 0.2f, 0.7f, -0.8f, 0.6f, -0.2f, 0.1f};
        static const char *names[3] = {"cat", "dog", "car"};
        sim_id *s = argsort_cosines(vec, vec, 3, 4);
        exp_basics_item *it = add_item(r, "code.find_similar", EXP_MISMATCH, s[2].s);
        SETF(it->what, "the chapter's find_similar run as written (argsort()[-top_k:]) on its own cat/dog/car vectors");
        SETF(it->claim, "find_similar(cat) \"Returns: [dog_id, kitten_id, feline_id, pet_id, animal_id]\"");
        SETF(it->ember, "differs: argsort is ascending, so [-top_k:] lists the best match LAST and that match is the query "
                        "itself (cosine 1): with top_k=2 it returns [%s (%.4f), %s (%.4f)]. Fix: drop the query id and "
                        "reverse (argsort()[::-1][1:top_k+1]), as ember's `similar` does. Real-vector run: `chapter all`.",
             names[s[1].id], s[1].s, names[s[2].id], s[2].s);
        free(s);
        it = add_item(r, "code.analogy", EXP_INFO, NAN);
        SETF(it->what, "the chapter's analogy code (king - man + woman, nearest row) on real vectors");
        SETF(it->claim, "print(id_to_word[closest_id])  # → \"queen\"");
        SETF(it->ember, "needs trained vectors: run `ember chapter basics --vectors FILE` or `ember chapter all`");
        return;
    }
    const char *want[4] = {"cat", "king", "man", "woman"};
    int64_t id[4];
    for (int k = 0; k < 4; k++) id[k] = train_vectors_find(v, want[k], false);
    const int64_t n = v->n, d = v->dim;
    char buf[600];
    if (id[0] >= 0) {
        sim_id *s = argsort_cosines(v->vec + id[0] * d, v->vec, n, d);
        int o = 0;
        for (int64_t i = n - 5; i < n; i++)
            o += snprintf(buf + o, sizeof buf - (size_t)o, "%s%s (%.3f)", i > n - 5 ? ", " : "", v->words[s[i].id], s[i].s);
        train_neighbor nb[5];
        int k = train_similar(v, "cat", 5, nb);
        char mine[400];
        int o2 = 0;
        for (int i = 0; i < k; i++)
            o2 += snprintf(mine + o2, sizeof mine - (size_t)o2, "%s%s (%.3f)", i ? ", " : "", v->words[nb[i].id],
                           (double)nb[i].cosine);
        bool self_last = s[n - 1].id == id[0];
        exp_basics_item *it = add_item(r, "code.find_similar", self_last ? EXP_MISMATCH : EXP_MATCH, s[n - 1].s);
        SETF(it->what, "the chapter's find_similar run as written (argsort()[-5:]) on real vectors (%s)", source);
        SETF(it->claim, "find_similar(cat) \"Returns: [dog_id, kitten_id, feline_id, pet_id, animal_id]\"");
        SETF(it->ember, "%s: the code returns [%s], ascending, the last one \"cat\" itself. Excluding the query and "
                        "sorting descending (ember `similar`): %s",
             self_last ? "differs" : "as claimed", buf, mine);
        free(s);
    }
    if (id[1] >= 0 && id[2] >= 0 && id[3] >= 0) {
        float *q = base_xmalloc((size_t)d * sizeof *q);
        for (int64_t j = 0; j < d; j++) q[j] = v->vec[id[1] * d + j] - v->vec[id[2] * d + j] + v->vec[id[3] * d + j];
        sim_id *s = argsort_cosines(q, v->vec, n, d);
        int o = 0;
        for (int64_t i = n - 1; i >= n - 5; i--)
            o += snprintf(buf + o, sizeof buf - (size_t)o, "%s%s (%.3f)", i < n - 1 ? ", " : "", v->words[s[i].id], s[i].s);
        int64_t queen_rank = -1;
        for (int64_t i = n - 1; i >= 0; i--)
            if (!strcmp(v->words[s[i].id], "queen")) {
                queen_rank = n - i;
                break;
            }
        train_neighbor nb[5];
        int k = train_analogy_query(v, "king", "man", "woman", 5, nb);
        char mine[400];
        int o2 = 0;
        for (int i = 0; i < k; i++)
            o2 += snprintf(mine + o2, sizeof mine - (size_t)o2, "%s%s (%.3f)", i ? ", " : "", v->words[nb[i].id],
                           (double)nb[i].cosine);
        const char *top = v->words[s[n - 1].id];
        exp_basics_item *it = add_item(r, "code.analogy", strcmp(top, "queen") ? EXP_MISMATCH : EXP_MATCH, (double)queen_rank);
        SETF(it->what, "the chapter's analogy code run as written (raw king - man + woman, nearest row, no exclusion) on "
                       "real vectors (%s)",
             source);
        SETF(it->claim, "print(id_to_word[closest_id])  # → \"queen\"");
        SETF(it->ember, "%s: the code answers \"%s\"; its top 5: %s (queen is #%lld). The query words must be excluded "
                        "(word2vec's compute-accuracy does): 3CosAdd with exclusion (ember `analogy`): %s",
             strcmp(top, "queen") ? "differs" : "as claimed", top, buf, (long long)queen_rank, mine);
        free(s);
        free(q);
    }
}
