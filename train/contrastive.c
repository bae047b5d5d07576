/* contrastive.c — `ember train contrastive`: SimCSE / InfoNCE pairs / CoSENT on a text model, on the training loop (contrastive.h). */
#include "contrastive.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../data/batch.h"
#include "../dist/dist.h"
#include "../data/evalsets.h"
#include "eval.h"
#include "sentence.h"


#define CTR_LOG_SCALE_MAX 4.605170186f /* ln 100: open_clip's clamp of the learnable logit scale */

train_ctr_options train_ctr_options_default(void) {
    train_ctr_options o;
    memset(&o, 0, sizeof o);
    o.loss = TRAIN_CTR_AUTO;
    o.pool = TRAIN_POOL_MEAN;
    o.batch = 64;
    o.max_len = 32;
    o.temperature = 0.05;
    o.cosent_lambda = 20.0;
    o.dropout = -1;
    o.seed = 1;
    o.loop = train_loop_config_default();
    o.loop.label = "contrastive";
    o.loop.rate_unit = "sent";
    o.loop.lr = 3e-5f; /* SimCSE's BERT-base rate; small models take more (see docs/TRAINING.md) */
    o.loop.lr_floor = 0;
    o.loop.warmup = 0;
    o.loop.sched = OPTIM_SCHED_WARMUP_LINEAR;
    o.loop.weight_decay = 0.01f;
    o.loop.steps = 1000;
    o.loop.eval_every = 125;
    return o;
}

static const char *const loss_names[] = {"auto", "simcse", "pairs", "cosent"};

const char *train_ctr_loss_name(train_ctr_loss l) { return l >= 0 && l <= TRAIN_CTR_COSENT ? loss_names[l] : "?"; }

int train_ctr_loss_parse(const char *s, train_ctr_loss *out) {
    for (int i = 0; i <= TRAIN_CTR_COSENT; i++)
        if (s && !strcmp(s, loss_names[i])) {
            *out = (train_ctr_loss)i;
            return 0;
        }
    return base_error_set("--loss: expected auto, simcse, pairs or cosent, got '%s'", s ? s : "");
}

/* ---- the run's state -------------------------------------------------------------------------- */

/* A training text, encoded once: ids [n] as the model sees them ([CLS] first for MLM models, cut to
 * max_len) and a hash of its bytes (equal texts in a batch are not each other's negatives). */
typedef struct ctr_text {
    int32_t *ids;
    int32_t n;
    uint64_t hash;
} ctr_text;

/* One example: texts a, b (simcse: b = a), an optional hard negative c (-1), a gold score (cosent). */
typedef struct ctr_example {
    int32_t a, b, c;
    float score;
} ctr_example;

typedef struct ctr_run {
    const train_ctr_options *o;
    train_ctr_loss loss;
    nn_params *ps;              /* the trained parameters: &net.ps, or &bps for a bag of vectors */
    nn_text_model net;          /* the encoder (+ ctr.* parameters in net.ps) */
    bool bov;                   /* a bag-of-vectors encoder from word vectors instead */
    train_vectors *vocab;       /* bov: words and lookup; vocab->vec is the trained table's data */
    nn_params bps;              /* bov: embedding.weight [V, D] (+ ctr.*) */
    ag_tensor *emb;             /* bov: embedding.weight */
    int64_t dim;                /* the sentence vector's size */
    data_tokenizer *tok;
    nn_linear proj;             /* ctr.proj: d → d, tanh (o->proj) */
    ag_tensor *logit_scale;     /* ctr.logit_scale [1] (o->learn_temperature), else NULL */
    ctr_text *texts;
    int64_t ntexts;
    ctr_example *ex;
    int64_t nex;
    bool hard_neg;              /* pairs: every example has a third text */
    uint64_t data_hash;
    data_order order;
    int64_t *batch_ex;          /* [batch] example indices of the current micro-batch */
    int32_t *tid;               /* [3 · batch] text ids of the (global) batch: anchors, positives, negatives */
    int32_t *tid_local;         /* [3 · batch] the ones this rank encodes (data parallel: its rows of each) */
    uint64_t *hash;             /* [3 · batch] their hashes */
    int32_t *x, *pad;           /* [3 · batch, max_len] ids and padding flags of one forward */
    float *w;                   /* [3 · batch, max_len] pooling weights */
    int32_t *mask;              /* [batch, 2 · batch] InfoNCE negative mask */
    float *gold;                /* [batch] */
    data_sentence_pairs *eval;  /* the STS evaluation set, or NULL */
} ctr_run;

static uint64_t fnv1a(const void *p, size_t n, uint64_t h) {
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 0x100000001b3ull;
    return h;
}

/* ---- reading the training file ---------------------------------------------------------------- */

static int split_tabs(char *s, char **f, int max) {
    int n = 0;
    f[n++] = s;
    for (char *p = s; *p; p++)
        if (*p == '\t') {
            *p = 0;
            if (n == max) return max + 1;
            f[n++] = p + 1;
        }
    return n;
}

static bool is_blank(const char *s) {
    for (; *s; s++)
        if (*s != ' ' && *s != '\t') return false;
    return true;
}

static bool parse_score(const char *s, float *v) {
    char *end;
    double d = strtod(s, &end);
    while (*end == ' ') end++;
    if (end == s || *end || !isfinite(d)) return false;
    *v = (float)d;
    return true;
}

/* Appends a text (encoded with the model's tokenizer, cut to max_len) and returns its index. */
static int add_text(ctr_run *R, const char *s, int64_t *cap) {
    if (R->ntexts == *cap) R->texts = base_xrealloc(R->texts, (size_t)(*cap = *cap ? 2 * *cap : 1024) * sizeof *R->texts);
    size_t len = strlen(s);
    if (R->bov) { /* the text8-style words found in the vectors, at most max_len */
        char *buf;
        int64_t m = train_sent_words(s, &buf), k = 0;
        ctr_text *t = &R->texts[R->ntexts];
        t->ids = base_xmalloc((size_t)(m < R->o->max_len ? m + 1 : R->o->max_len + 1) * sizeof(int32_t));
        const char *w = buf;
        for (int64_t j = 0; j < m && k < R->o->max_len; j++, w += strlen(w) + 1) {
            int64_t id = train_vectors_find(R->vocab, w, false);
            if (id >= 0) t->ids[k++] = (int32_t)id;
        }
        free(buf);
        t->n = (int32_t)k; /* 0: no known word; the text pools to a zero vector */
        t->hash = fnv1a(s, len, 0xcbf29ce484222325ull);
        return (int)R->ntexts++;
    }
    ctr_text *t = &R->texts[R->ntexts];
    int64_t k;
    if (train_lm_encode_text(R->tok, R->net.cfg.kind, s, len, R->o->max_len, true, &t->ids, &k)) return -1;
    t->n = (int32_t)k;
    t->hash = fnv1a(s, len, 0xcbf29ce484222325ull);
    return (int)R->ntexts++;
}

/* Reads o->data into texts and examples. The format decides the loss when o->loss is AUTO:
 * STS-B (7 or 9 TAB fields) or SICK (a "pair_ID" header) → cosent; else the first non-blank line's
 * field count: 1 → simcse, 2 → pairs, 3 → cosent if the third field is a number, else pairs with
 * hard negatives. Every line must then have that shape (errors name file:line). */
static int read_data(ctr_run *R) {
    const char *path = R->o->data;
    size_t len;
    char *buf = data_slurp(path, &len);
    if (!buf) return -1;
    R->data_hash = fnv1a(buf, len, 0xcbf29ce484222325ull);
    const char *p = buf;
    while (*p == '\n' || *p == '\r') p++;
    int rc = 0;
    int64_t tcap = 0, ecap = 0;
    /* STS Benchmark and SICK through their own reader (their quirks live there). */
    size_t l0 = strcspn(p, "\n");
    int tabs = 0;
    for (size_t i = 0; i < l0; i++) tabs += p[i] == '\t';
    bool sick = !strncmp(p, "pair_ID\t", 8), stsb = tabs == 6 || tabs == 8;
    if (sick || stsb) {
        free(buf);
        if (R->loss != TRAIN_CTR_AUTO && R->loss != TRAIN_CTR_COSENT)
            return base_error_set("%s: an %s file holds scored pairs: use --loss cosent (or auto)", path,
                                  sick ? "SICK" : "STS Benchmark");
        R->loss = TRAIN_CTR_COSENT;
        data_sentence_pairs *sp;
        if (data_pairs_read(&sp, path, sick ? DATA_PAIRS_SICK : DATA_PAIRS_STSB)) return -1;
        for (int64_t i = 0; i < sp->n && !rc; i++) {
            if (sick && sp->split[i] && strcmp(sp->split[i], "TRAIN")) continue; /* SICK: its train split only */
            if (R->nex == ecap) R->ex = base_xrealloc(R->ex, (size_t)(ecap = ecap ? 2 * ecap : 1024) * sizeof *R->ex);
            int a = add_text(R, sp->a[i], &tcap), b = a < 0 ? -1 : add_text(R, sp->b[i], &tcap);
            if (a < 0 || b < 0) rc = base_error_prefix("%s: pair %lld", path, (long long)i + 1);
            else R->ex[R->nex++] = (ctr_example){a, b, -1, sp->score[i]};
        }
        data_pairs_free(sp);
        if (!rc && R->nex < 2) rc = base_error_set("%s: expected at least 2 training pairs, got %lld", path, (long long)R->nex);
        return rc;
    }
    int want = 0; /* fields per line, from the first non-blank line */
    int64_t lineno = 0;
    char *line = buf, *next;
    for (; line && !rc; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        lineno++;
        size_t ll = strlen(line);
        if (ll && line[ll - 1] == '\r') line[--ll] = 0;
        if (is_blank(line)) continue;
        if (!strncmp(line, "<doc ", 5) || !strcmp(line, "</doc>")) continue; /* WikiExtractor markers */
        char *f[4];
        int nf = split_tabs(line, f, 3);
        if (!want) {
            want = nf;
            if (nf > 3)
                return free(buf), base_error_set("%s:%lld: expected 1 (a sentence), 2 (anchor, positive) or 3 TAB-separated "
                                                 "fields (anchor, positive, negative | sentence1, sentence2, score), got more",
                                                 path, (long long)lineno);
            float v;
            train_ctr_loss fmt = nf == 1 ? TRAIN_CTR_SIMCSE : nf == 2 ? TRAIN_CTR_PAIRS
                                 : parse_score(f[2], &v) ? TRAIN_CTR_COSENT : TRAIN_CTR_PAIRS;
            if (R->loss == TRAIN_CTR_AUTO) R->loss = fmt;
            else if (R->loss != fmt && !(R->loss == TRAIN_CTR_SIMCSE && nf >= 1))
                return free(buf), base_error_set("%s:%lld: --loss %s needs %s, but this line has %d field%s%s", path,
                                                 (long long)lineno, train_ctr_loss_name(R->loss),
                                                 R->loss == TRAIN_CTR_PAIRS ? "anchor TAB positive [TAB negative]"
                                                 : R->loss == TRAIN_CTR_COSENT ? "sentence1 TAB sentence2 TAB score"
                                                                               : "one sentence per line",
                                                 nf, nf == 1 ? "" : "s", nf == 3 && fmt == TRAIN_CTR_COSENT ? " (a score)" : "");
            R->hard_neg = R->loss == TRAIN_CTR_PAIRS && nf == 3;
        }
        if (nf != want && !(R->loss == TRAIN_CTR_SIMCSE)) {
            rc = base_error_set("%s:%lld: expected %d TAB-separated fields like line 1 of the data, got %d", path,
                                (long long)lineno, want, nf > 3 ? 4 : nf);
            break;
        }
        float score = 0;
        if (R->loss == TRAIN_CTR_COSENT && !parse_score(f[2], &score)) {
            rc = base_error_set("%s:%lld: expected a number as the score (field 3), got '%.40s'", path, (long long)lineno, f[2]);
            break;
        }
        for (int i = 0; i < (R->loss == TRAIN_CTR_SIMCSE ? 1 : nf) && !rc; i++)
            if (is_blank(f[i])) rc = base_error_set("%s:%lld: field %d is empty", path, (long long)lineno, i + 1);
        if (rc) break;
        if (R->nex == ecap) R->ex = base_xrealloc(R->ex, (size_t)(ecap = ecap ? 2 * ecap : 1024) * sizeof *R->ex);
        ctr_example e = {-1, -1, -1, score};
        if (R->loss == TRAIN_CTR_SIMCSE) {
            /* a line is the sentence, TABs included (SimCSE's data is free text) */
            for (int i = 1; i < nf; i++) f[i][-1] = '\t';
            e.a = e.b = add_text(R, f[0], &tcap);
        } else {
            e.a = add_text(R, f[0], &tcap);
            if (e.a >= 0) e.b = add_text(R, f[1], &tcap);
            if (e.b >= 0 && R->hard_neg) e.c = add_text(R, f[2], &tcap);
        }
        if (e.a < 0 || e.b < 0 || (R->hard_neg && e.c < 0)) {
            rc = base_error_prefix("%s:%lld", path, (long long)lineno);
            break;
        }
        R->ex[R->nex++] = e;
    }
    free(buf);
    if (!rc && R->nex < 2)
        rc = base_error_set("%s: expected at least 2 training examples, got %lld", path, (long long)R->nex);
    return rc;
}

/* ---- the forward ------------------------------------------------------------------------------ */

/* Pooled (and, in training with --proj, projected) L2-normalised vectors of n texts: [n, d]. */
static ag_tensor *encode(ctr_run *R, ag_graph *g, const int32_t *tid, int64_t n, bool train) {
    int64_t T = 1, D = R->dim;
    for (int64_t i = 0; i < n; i++)
        if (R->texts[tid[i]].n > T) T = R->texts[tid[i]].n;
    if (R->bov) {
        for (int64_t i = 0; i < n; i++) {
            const ctr_text *t = &R->texts[tid[i]];
            for (int64_t j = 0; j < T; j++) {
                R->x[i * T + j] = j < t->n ? t->ids[j] : 0;
                R->w[i * T + j] = j < t->n ? 1.0f / (float)t->n : 0.0f; /* padding (and an empty text) weighs 0 */
            }
        }
        ag_tensor *h = ag_gather_rows(g, R->emb, ag_from_i32(g, AG_SHAPE(n, T), R->x)); /* [n, T, D] */
        /* SimCSE's augmentation for a bag of vectors: dropout on the word vectors (two masks, two views) */
        if (train) h = ag_dropout(g, h, R->o->dropout >= 0 ? (float)R->o->dropout : 0.1f);
        ag_tensor *z = ag_reshape(g, ag_matmul(g, ag_from_f32(g, AG_SHAPE(n, 1, T), R->w), h, false, false),
                                  AG_SHAPE(n, D)); /* [n, D] */
        if (train && R->o->proj) z = ag_tanh(g, nn_linear_forward(g, &R->proj, z));
        return ag_l2_normalize(g, z, 1e-8f);
    }
    int32_t pad_id = R->tok->special[DATA_TOK_PAD];
    for (int64_t i = 0; i < n; i++) {
        const ctr_text *t = &R->texts[tid[i]];
        for (int64_t j = 0; j < T; j++) {
            bool real = j < t->n;
            R->x[i * T + j] = real ? t->ids[j] : pad_id;
            R->pad[i * T + j] = !real;
            /* mean: 1/n on the text's tokens (as train_embed_texts pools); cls: the first token */
            R->w[i * T + j] = R->o->pool == TRAIN_POOL_CLS ? (j == 0) : real ? 1.0f / (float)t->n : 0.0f;
        }
    }
    ag_tensor *h = nn_text_model_hidden(g, &R->net, ag_from_i32(g, AG_SHAPE(n, T), R->x),
                                        ag_from_i32(g, AG_SHAPE(n, T), R->pad), (int)R->net.cfg.layers); /* [n, T, D] */
    if (!h) return NULL;
    ag_tensor *w = ag_from_f32(g, AG_SHAPE(n, 1, T), R->w);                         /* [n, 1, T] */
    ag_tensor *z = ag_reshape(g, ag_matmul(g, w, h, false, false), AG_SHAPE(n, D)); /* [n, D] */
    if (train && R->o->proj) z = ag_tanh(g, nn_linear_forward(g, &R->proj, z));
    return ag_l2_normalize(g, z, 1e-8f);
}

/* Returns the texts the step trains on: sentences for SimCSE (each is encoded twice, as the paper
 * counts), every anchor, positive and negative for pairs, both sentences of each CoSENT pair. */
static int64_t ctr_next_batch(void *ctx) {
    ctr_run *R = ctx;
    for (int64_t i = 0; i < R->o->batch; i++) R->batch_ex[i] = data_order_next(&R->order);
    int per = R->loss == TRAIN_CTR_SIMCSE ? 1 : R->hard_neg ? 3 : 2;
    return per * (R->o->batch / dist_size()); /* this rank's texts; the loop sums the ranks' */
}

bool train_ctr_negative_mask(const uint64_t *ha, const uint64_t *hb, const uint64_t *hc, int64_t B, int64_t M,
                             int32_t *mask) {
    bool any = false;
    for (int64_t i = 0; i < B; i++)
        for (int64_t j = 0; j < M; j++) {
            int32_t m = 0;
            if (j != i) {
                uint64_t col = j < B ? hb[j] : hc[j - B];
                m = col == hb[i] || (j < B && ha[j] == ha[i]);
            }
            mask[i * M + j] = m;
            any |= m != 0;
        }
    return any;
}

/* The batch's mask as a tensor, or NULL when nothing is masked. R->hash: [3B] hashes of the texts
 * of the forward (anchors, positives, negatives). */
static ag_tensor *negative_mask(ctr_run *R, ag_graph *g, int64_t B, int64_t M) {
    for (int64_t i = 0; i < (M / B + 1) * B; i++) R->hash[i] = R->texts[R->tid[i]].hash;
    if (!train_ctr_negative_mask(R->hash, R->hash + B, M > B ? R->hash + 2 * B : NULL, B, M, R->mask)) return NULL;
    return ag_from_i32(g, AG_SHAPE(B, M), R->mask);
}

static ag_tensor *ctr_loss(void *ctx, ag_graph *g) {
    ctr_run *R = ctx;
    int64_t B = R->o->batch;
    int views = R->loss == TRAIN_CTR_PAIRS && R->hard_neg ? 3 : 2;
    int32_t *tid = R->tid; /* [views · B]: anchors (or sentences), positives (or second views), negatives */
    for (int64_t i = 0; i < B; i++) {
        const ctr_example *e = &R->ex[R->batch_ex[i]];
        tid[i] = e->a;
        tid[B + i] = e->b;
        if (views == 3) tid[2 * B + i] = e->c;
    }
    /* Data parallel (docs/DISTRIBUTED.md): rank r encodes rows [r·Bl, (r+1)·Bl) of each view and
     * the vectors are all-gathered with their gradient (open_clip's gather_with_grad), so every
     * rank computes the loss of the whole batch — negatives from the global batch — and the
     * loop's gradient average makes the step the single-process step. */
    int size = dist_size();
    int64_t Bl = B / size, off = Bl * dist_rank();
    for (int v = 0; v < views; v++) memcpy(R->tid_local + v * Bl, tid + v * B + off, (size_t)Bl * sizeof(int32_t));
    ag_tensor *z = encode(R, g, size > 1 ? R->tid_local : tid, views * Bl, true); /* [views·Bl, D] */
    if (!z) return NULL;
    ag_tensor *a = ag_slice(g, z, 0, 0, Bl), *b = ag_slice(g, z, 0, Bl, (views - 1) * Bl);
    if (R->loss == TRAIN_CTR_COSENT) {
        for (int64_t i = 0; i < B; i++) R->gold[i] = R->ex[R->batch_ex[i]].score;
        ag_tensor *cos = ag_sum(g, ag_mul(g, a, b), 1, false); /* [Bl]: rows are unit vectors */
        if (size > 1) cos = ag_dist_gather(g, cos);             /* [B] */
        return ag_cosent(g, cos, ag_from_f32(g, AG_SHAPE(B), R->gold), (float)R->o->cosent_lambda);
    }
    if (size > 1) {
        a = ag_dist_gather(g, a); /* [B, D] */
        if (views == 3) /* [positives of all ranks; hard negatives of all ranks], as the mask's columns */
            b = ag_concat(g, 2, (ag_tensor *[]){ag_dist_gather(g, ag_slice(g, b, 0, 0, Bl)),
                                                ag_dist_gather(g, ag_slice(g, b, 0, Bl, Bl))}, 0);
        else
            b = ag_dist_gather(g, b);
    }
    ag_tensor *scale = R->logit_scale ? ag_exp(g, R->logit_scale) : ag_scalar(g, (float)(1.0 / R->o->temperature));
    return ag_info_nce(g, a, b, scale, negative_mask(R, g, B, (views - 1) * B), R->o->symmetric);
}

static void ctr_after_step(void *ctx) {
    ctr_run *R = ctx;
    if (!R->logit_scale) return;
    float *v = ag_f32(R->logit_scale);
    v[0] = v[0] < 0 ? 0 : v[0] > CTR_LOG_SCALE_MAX ? CTR_LOG_SCALE_MAX : v[0];
}

/* ---- evaluation ------------------------------------------------------------------------------- */

int train_ctr_sts_spearman(const train_lm_model *m, train_pool pool, const char *const *a, const char *const *b,
                           const float *gold, int64_t n, double *out) {
    int64_t D = m->net.cfg.d;
    const char **texts = base_xmalloc((size_t)(2 * n) * sizeof *texts);
    size_t *lens = base_xmalloc((size_t)(2 * n) * sizeof *lens);
    for (int64_t i = 0; i < n; i++) {
        texts[i] = a[i], texts[n + i] = b[i];
        lens[i] = strlen(a[i]), lens[n + i] = strlen(b[i]);
    }
    float *v = base_xmalloc((size_t)(2 * n * D) * sizeof(float)); /* [2n, D] */
    int rc = train_embed_texts(m, texts, lens, 2 * n, pool, -1, 64, v);
    if (!rc) {
        double *x = base_xmalloc((size_t)n * sizeof(double)), *y = base_xmalloc((size_t)n * sizeof(double));
        for (int64_t i = 0; i < n; i++) {
            x[i] = train_cosine(v + i * D, v + (n + i) * D, D);
            y[i] = gold[i];
        }
        *out = 100.0 * train_spearman(x, y, n);
        free(x);
        free(y);
    }
    free(v);
    free(texts);
    free(lens);
    return rc;
}

static int eval_sts(ctr_run *R, double *out) {
    if (R->bov) { /* the table as word vectors: the mean of the sentence's words, as `ember eval sts` reads it */
        train_sent_encoder e = {.is_model = false, .vec = R->vocab, .dim = R->dim};
        train_sts_result r;
        int rc = train_sent_sts(&e, (const char *const *)R->eval->a, (const char *const *)R->eval->b, R->eval->score,
                                R->eval->n, &r, NULL);
        *out = r.spearman;
        return rc;
    }
    train_lm_model m = {.net = R->net, .tok = R->tok}; /* a view: nothing is freed */
    return train_ctr_sts_spearman(&m, R->o->pool, (const char *const *)R->eval->a, (const char *const *)R->eval->b,
                                  R->eval->score, R->eval->n, out);
}

static int ctr_eval(void *ctx, ag_graph *g, train_eval_result *out) {
    (void)g;
    ctr_run *R = ctx;
    double s;
    if (eval_sts(R, &s)) return -1;
    out->score = isnan(s) ? -INFINITY : s;
    out->n = 1;
    out->key[0] = "sts_spearman";
    out->value[0] = s;
    return 0;
}

/* ---- checkpoints ------------------------------------------------------------------------------ */

static int ctr_save(void *ctx, ckpt_writer *w) {
    ctr_run *R = ctx;
    int rc = 0;
    if (R->bov) { /* words + embedding.weight: the file reads as word vectors (`ember eval`, `ckpt export`) */
        int64_t *counts = base_xmalloc((size_t)R->vocab->n * sizeof(int64_t));
        for (int64_t i = 0; i < R->vocab->n; i++) counts[i] = R->vocab->n - i; /* file order = frequency order */
        rc = ckpt_put_vocab(w, (const char *const *)R->vocab->words, counts, R->vocab->n);
        free(counts);
    } else {
        rc = train_lm_put_model(w, &R->net.cfg);
        if (!rc) rc = ckpt_put_tokenizer(w, R->tok);
    }
    if (!rc) rc = ckpt_put_string(w, "/contrastive/pool", R->o->pool == TRAIN_POOL_CLS ? "cls" : "mean");
    if (!rc) rc = ckpt_put_i64(w, "/state/data/epoch", R->order.epoch);
    if (!rc) rc = ckpt_put_i64(w, "/state/data/pos", R->order.pos);
    return rc;
}

static int ctr_load(void *ctx, ckpt_reader *r) {
    ctr_run *R = ctx;
    int64_t epoch, pos;
    if (ckpt_get_i64(r, "/state/data/epoch", &epoch) || ckpt_get_i64(r, "/state/data/pos", &pos)) return -1;
    if (epoch < 0 || pos < 0 || pos > R->nex)
        return base_error_set("%s: /state/data: epoch %lld, position %lld outside the %lld examples of this data",
                              ckpt_reader_path(r), (long long)epoch, (long long)pos, (long long)R->nex);
    data_order_free(&R->order);
    return data_order_restore(&R->order, R->nex, R->o->seed, epoch, pos);
}

/* ---- set-up ----------------------------------------------------------------------------------- */

/* A bag-of-vectors encoder: the word vectors of src (word2vec text/binary, or a checkpoint with
 * /vocab/words and an embedding, such as an earlier bag-of-vectors run) as a trainable table
 * "embedding.weight" [V, D]; a sentence is the mean of its words' rows. */
static int setup_bov(ctr_run *R, const char *src) {
    const train_ctr_options *o = R->o;
    if (o->pool != TRAIN_POOL_MEAN) return base_error_set("--pool cls: a bag of word vectors has no first token; use mean");
    if (train_vectors_load(&R->vocab, src, NULL)) return base_error_prefix("--init");
    R->bov = true;
    int64_t V = R->vocab->n, D = R->vocab->dim;
    nn_params_init(&R->bps);
    R->emb = nn_params_add(&R->bps, "embedding.weight", 2, (const int64_t[]){V, D}, NN_INIT_ZEROS, 0, 0, false);
    if (o->proj) nn_linear_init(&R->proj, &R->bps, "ctr.proj", D, D, true);
    if (o->learn_temperature)
        R->logit_scale = nn_params_add(&R->bps, "ctr.logit_scale", 1, (const int64_t[]){1}, NN_INIT_ZEROS, 0, 0, false);
    base_rng rng;
    base_rng_seed(&rng, o->seed);
    nn_params_alloc(&R->bps, &rng);
    memcpy(ag_f32(R->emb), R->vocab->vec, (size_t)(V * D) * sizeof(float));
    free(R->vocab->vec);
    R->vocab->vec = ag_f32(R->emb); /* lookups for evaluation read the table being trained */
    if (R->logit_scale) ag_f32(R->logit_scale)[0] = logf((float)(1.0 / o->temperature));
    R->ps = &R->bps;
    R->dim = D;
    return 0;
}

/* The encoder: its config and tokenizer from --init (or, on resume without --init, from the
 * checkpoint being resumed); the trainer's parameters registered after the model's; the model's
 * parameters loaded from --init (a resume then overwrites everything from its own checkpoint). */
static int setup_model(ctr_run *R) {
    const train_ctr_options *o = R->o;
    const char *src = o->init ? o->init : o->loop.resume;
    if (!src) return base_error_set("--init MODEL is required (an `ember train mlm|lm|contrastive` checkpoint, or word vectors)");
    if (!train_sent_is_model(src)) return setup_bov(R, src);
    ckpt_reader *r = ckpt_open(src);
    if (!r) return -1;
    nn_text_config c;
    int rc = train_lm_get_config(r, &c);
    if (!rc) rc = ckpt_get_tokenizer(r, &R->tok);
    if (!rc && R->tok->vocab_size != c.vocab)
        rc = base_error_set("%s: the tokenizer has %d tokens, the model %lld", src, R->tok->vocab_size, (long long)c.vocab);
    if (!rc && o->init && o->loop.resume) { /* both given: they must be the same model and tokenizer */
        ckpt_reader *q = ckpt_open(o->loop.resume);
        nn_text_config c2;
        data_tokenizer *t2 = NULL;
        rc = !q || train_lm_get_config(q, &c2) || ckpt_get_tokenizer(q, &t2) ? -1 : 0;
        if (!rc && (c2.d != c.d || c2.layers != c.layers || c2.vocab != c.vocab ||
                    data_tokenizer_fingerprint(t2) != data_tokenizer_fingerprint(R->tok)))
            rc = base_error_set("--resume %s and --init %s hold different models or tokenizers", o->loop.resume, o->init);
        data_tokenizer_free(t2);
        ckpt_close(q);
    }
    if (rc) {
        ckpt_close(r);
        return -1;
    }
    if (o->dropout >= 0) c.dropout = (float)o->dropout;
    nn_text_model_register(&R->net, &c);
    int nmodel = R->net.ps.n; /* the model's own parameters come first; ctr.* follow */
    if (o->proj) nn_linear_init(&R->proj, &R->net.ps, "ctr.proj", c.d, c.d, true);
    if (o->learn_temperature)
        R->logit_scale = nn_params_add(&R->net.ps, "ctr.logit_scale", 1, (const int64_t[]){1}, NN_INIT_ZEROS, 0, 0, false);
    base_rng rng;
    base_rng_seed(&rng, o->seed);
    nn_params_alloc(&R->net.ps, &rng);
    R->ps = &R->net.ps;
    R->dim = c.d;
    if (R->logit_scale) ag_f32(R->logit_scale)[0] = logf((float)(1.0 / o->temperature));
    if (o->init) {
        /* every parameter of the model from --init, in one strict pass over a view of the model's
         * own parameters; ctr.* start fresh (an --init contrastive model's are not carried over) */
        nn_params model = R->net.ps;
        model.n = nmodel;
        rc = train_lm_load_params(r, &model);
    }
    ckpt_close(r);
    return rc;
}

static char *trainer_json(const ctr_run *R) {
    const train_ctr_options *o = R->o;
    const nn_text_config *c = &R->net.cfg;
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    if (R->bov)
        fprintf(f, "{\"trainer\":\"contrastive\",\"loss\":\"%s\",\"kind\":\"bov\",\"d\":%lld,\"vocab\":%lld,"
                   "\"batch\":%lld,\"max_len\":%lld,\"temperature\":%.6g,\"learn_temperature\":%s,\"cosent_lambda\":%.6g,"
                   "\"symmetric\":%s,\"proj\":%s,\"dropout\":%.6g,\"seed\":%llu,\"examples\":%lld,\"data_hash\":\"%016llx\"}",
                train_ctr_loss_name(R->loss), (long long)R->dim, (long long)R->vocab->n, (long long)o->batch,
                (long long)o->max_len, o->temperature, o->learn_temperature ? "true" : "false", o->cosent_lambda,
                o->symmetric ? "true" : "false", o->proj ? "true" : "false", o->dropout >= 0 ? o->dropout : 0.1,
                (unsigned long long)o->seed, (long long)R->nex, (unsigned long long)R->data_hash);
    else
    fprintf(f, "{\"trainer\":\"contrastive\",\"loss\":\"%s\",\"kind\":\"%s\",\"d\":%lld,\"layers\":%lld,\"vocab\":%lld,"
               "\"pool\":\"%s\",\"batch\":%lld,\"max_len\":%lld,\"temperature\":%.6g,\"learn_temperature\":%s,"
               "\"cosent_lambda\":%.6g,\"symmetric\":%s,\"proj\":%s,\"dropout\":%.6g,\"seed\":%llu,"
               "\"tokenizer_fingerprint\":\"%016llx\",\"examples\":%lld,\"data_hash\":\"%016llx\"}",
            train_ctr_loss_name(R->loss), nn_text_kind_name(c->kind), (long long)c->d, (long long)c->layers,
            (long long)c->vocab, o->pool == TRAIN_POOL_CLS ? "cls" : "mean", (long long)o->batch, (long long)o->max_len,
            o->temperature, o->learn_temperature ? "true" : "false", o->cosent_lambda, o->symmetric ? "true" : "false",
            o->proj ? "true" : "false", (double)c->dropout, (unsigned long long)o->seed,
            (unsigned long long)data_tokenizer_fingerprint(R->tok), (long long)R->nex, (unsigned long long)R->data_hash);
    fclose(f);
    return buf;
}

static void ctr_free(ctr_run *R) {
    if (R->net.ps.allocated || R->net.ps.n) nn_text_model_free(&R->net);
    if (R->vocab) R->vocab->vec = NULL; /* the table's data belongs to bps */
    train_vectors_free(R->vocab);
    if (R->bov) nn_params_free(&R->bps);
    data_tokenizer_free(R->tok);
    for (int64_t i = 0; i < R->ntexts; i++) free(R->texts[i].ids);
    free(R->texts);
    free(R->ex);
    data_order_free(&R->order);
    free(R->batch_ex);
    free(R->tid);
    free(R->hash);
    free(R->x);
    free(R->tid_local);
    free(R->pad);
    free(R->w);
    free(R->mask);
    free(R->gold);
    data_pairs_free(R->eval);
}

int train_ctr_run(const train_ctr_options *o_in) {
    train_ctr_options o_rank = *o_in; /* data parallel: ranks other than 0 print nothing */
    if (dist_rank() > 0) o_rank.loop.quiet = true;
    const train_ctr_options *o = &o_rank;
    if (o->batch % dist_size())
        return base_error_set("--batch %lld: the global batch must be a multiple of the %d ranks", (long long)o->batch,
                              dist_size());
    if (!o->data) return base_error_set("--data FILE is required");
    if (o->batch < 2 || o->batch > 4096) return base_error_set("--batch %lld: expected 2 .. 4096", (long long)o->batch);
    if (o->max_len < 2) return base_error_set("--max-len %lld: expected at least 2", (long long)o->max_len);
    if (!(o->temperature > 0.01 && o->temperature <= 1))
        return base_error_set("--temperature %g: expected (0.01, 1] (the learnable scale is clamped at 100 = 1/0.01)",
                              o->temperature);
    if (!(o->cosent_lambda > 0)) return base_error_set("--cosent-scale %g: expected a positive number", o->cosent_lambda);
    if (o->pool != TRAIN_POOL_MEAN && o->pool != TRAIN_POOL_CLS) return base_error_set("--pool: expected mean or cls");
    if (o->dropout >= 1) return base_error_set("--dropout %g: expected [0, 1)", o->dropout);
    train_set_threads(o->threads);
    ctr_run R;
    memset(&R, 0, sizeof R);
    R.o = o;
    R.loss = o->loss;
    int rc = -1;
    char *tj = NULL;
    train_loop *L = NULL;
    if (setup_model(&R)) goto out;
    if (!R.bov && o->max_len > R.net.cfg.max_seq) {
        base_error_set("--max-len %lld: the model has %lld positions", (long long)o->max_len, (long long)R.net.cfg.max_seq);
        goto out;
    }
    if (read_data(&R)) goto out;
    if (o->eval_set && data_pairs_read(&R.eval, o->eval_set, DATA_PAIRS_AUTO)) goto out;
    if (data_order_init(&R.order, R.nex, o->seed)) goto out;
    int64_t B = o->batch, rows = 3 * B;
    R.batch_ex = base_xmalloc((size_t)B * sizeof(int64_t));
    R.tid = base_xmalloc((size_t)rows * sizeof(int32_t));
    R.tid_local = base_xmalloc((size_t)rows * sizeof(int32_t));
    R.hash = base_xmalloc((size_t)rows * sizeof(uint64_t));
    R.x = base_xmalloc((size_t)(rows * o->max_len) * sizeof(int32_t));
    R.pad = base_xmalloc((size_t)(rows * o->max_len) * sizeof(int32_t));
    R.w = base_xmalloc((size_t)(rows * o->max_len) * sizeof(float));
    R.mask = base_xmalloc((size_t)(B * 2 * B > rows ? B * 2 * B : rows) * sizeof(int32_t));
    R.gold = base_xmalloc((size_t)B * sizeof(float));
    tj = trainer_json(&R);
    train_loop_config lc = o->loop;
    lc.config_json = tj;
    lc.seed = o->seed;
    if (o->epochs > 0) {
        double per_step = (double)B * (double)(lc.accum > 0 ? lc.accum : 1);
        lc.steps = (int64_t)ceil(o->epochs * (double)R.nex / per_step);
        if (lc.steps < 1) lc.steps = 1;
    }
    if (!R.eval) lc.eval_every = 0;
    /* the output head is not part of the sentence encoder: keep its bytes */
    if (!R.bov) train_lm_freeze_head(&R.net, &lc);
    train_loop_trainer tr = {.ctx = &R, .next_batch = ctr_next_batch, .loss = ctr_loss,
                             .eval = R.eval ? ctr_eval : NULL, .save = ctr_save, .load = ctr_load,
                             .after_step = ctr_after_step};
    L = train_loop_new(&lc, R.ps, &tr);
    if (!L) goto out;
    if (!o->loop.quiet) {
        char model[128];
        if (R.bov) snprintf(model, sizeof model, "bag of %lld word vectors x %lld", (long long)R.vocab->n, (long long)R.dim);
        else snprintf(model, sizeof model, "model %s d %lld, %lld layers", nn_text_kind_name(R.net.cfg.kind),
                      (long long)R.net.cfg.d, (long long)R.net.cfg.layers);
        fprintf(stderr, "contrastive: %s loss on %lld %s (%lld texts) from %s; %s; %s pooling%s; "
                        "batch %lld, max %lld %s, %s; %lld steps; %lld trainable parameters\n",
                train_ctr_loss_name(R.loss), (long long)R.nex,
                R.loss == TRAIN_CTR_SIMCSE ? "sentences" : R.loss == TRAIN_CTR_PAIRS ? "pairs" : "scored pairs",
                (long long)R.ntexts, o->data, model, o->pool == TRAIN_POOL_CLS ? "cls" : "mean",
                o->proj ? " + projection" : "", (long long)B, (long long)o->max_len, R.bov ? "words" : "tokens",
                R.loss == TRAIN_CTR_COSENT ? "CoSENT" : o->learn_temperature ? "learnable temperature" : "fixed temperature",
                (long long)lc.steps, (long long)nn_params_count_trainable(R.ps));
        if (R.eval && !o->loop.resume) {
            double s0;
            if (eval_sts(&R, &s0)) goto out;
            fprintf(stderr, "contrastive: before training: %s Spearman x 100 = %.2f (%lld pairs)\n", o->eval_set, s0,
                    (long long)R.eval->n);
        }
    }
    double t0 = base_now_sec();
    rc = train_loop_run(L);
    double wall = base_now_sec() - t0;
    if ((rc == 0 || rc == TRAIN_LOOP_STOPPED) && !o->loop.quiet) {
        const train_eval_result *ev = train_loop_last_eval(L);
        fprintf(stderr, "contrastive: %lld steps, final loss %.4f, %.1f sentences/s after the first step (%.2f s), "
                        "%.1f s wall", (long long)train_loop_step(L), (double)train_loop_last_loss(L),
                train_loop_tokens_per_sec(L), train_loop_first_step_seconds(L),
                wall);
        if (R.logit_scale) fprintf(stderr, ", temperature %.4f", exp(-(double)ag_f32(R.logit_scale)[0]));
        if (ev) fprintf(stderr, ", sts_spearman %.2f (best %.2f)", ev->value[0], train_loop_best_score(L));
        fputc('\n', stderr);
    }
    if ((rc == 0 || rc == TRAIN_LOOP_STOPPED) && dist_rank() == 0) {
        {
            char title[256];
            snprintf(title, sizeof title, "ember train contrastive (%s): %s d %lld, %lld layers, batch %lld",
                     train_ctr_loss_name(R.loss), R.bov ? "bag of vectors" : "encoder", (long long)R.dim,
                     (long long)(R.bov ? 0 : R.net.cfg.layers), (long long)B);
            if (train_loop_plot(L, o->plot, title)) rc = -1;
        }
    }
out:
    train_loop_free(L);
    free(tj);
    ctr_free(&R);
    return rc;
}
