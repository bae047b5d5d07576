/* lm.c — `ember train mlm|lm`: token stream, packing, BERT masking, losses and evaluation on the training loop (lm.h). */
#include "lm.h"

#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "../data/batch.h"
#include "../dist/dist.h"



train_lm_options train_lm_options_default(nn_text_kind kind) {
    train_lm_options o;
    memset(&o, 0, sizeof o);
    o.model = kind == NN_TEXT_LM ? nn_text_config_lm(0, 128, 256, 4, 4) : nn_text_config_mlm(0, 128, 256, 4, 4);
    o.valid_frac = 0.005;
    o.eval_seqs = 64;
    o.vocab_size = 8192;
    o.tokenizer_bytes = 10 << 20;
    o.batch = 32;
    o.mask_prob = 0.15;
    o.seed = 1;
    o.loop = train_loop_config_default();
    o.loop.label = nn_text_kind_name(kind);
    o.loop.lr = kind == NN_TEXT_LM ? 6e-4f : 5e-4f;
    o.loop.warmup = 100;
    o.loop.steps = 1000;
    return o;
}

/* ---- text in ----------------------------------------------------------------------------------- */

/* Appends the uncompressed bytes of a plain or gzip file to *buf (at most max - *n more when
 * max > 0). Lines that are WikiExtractor document markers ("<doc ...>", "</doc>") are dropped.
 * Counts dropped lines in *dropped. 0 or -1 with an error naming the file. */
static int read_text(const char *path, uint8_t **buf, size_t *n, size_t *cap, int64_t max, int64_t *dropped) {
    gzFile f = gzopen(path, "rb");
    if (!f) return base_error_set("%s: cannot open: %s", path, strerror(errno ? errno : ENOENT));
    gzbuffer(f, 1 << 20);
    char line[1 << 16];
    bool at_line_start = true, skipping = false;
    for (;;) {
        if (max > 0 && (int64_t)*n >= max) break;
        if (!gzgets(f, line, sizeof line)) {
            int err;
            const char *msg = gzerror(f, &err);
            if (err != Z_OK && err != Z_STREAM_END) {
                gzclose(f);
                return base_error_set("%s: read error near uncompressed byte %lld: %s", path, (long long)gztell(f),
                                    base_strip_path_prefix(msg, path));
            }
            break;
        }
        size_t len = strlen(line);
        bool ends_line = len > 0 && line[len - 1] == '\n';
        if (at_line_start)
            skipping = !strncmp(line, "<doc ", 5) || !strncmp(line, "</doc>", 6);
        at_line_start = ends_line;
        if (skipping) {
            if (ends_line) (*dropped)++;
            continue;
        }
        if (max > 0 && (int64_t)(*n + len) > max) len = (size_t)(max - (int64_t)*n);
        if (*n + len + 1 > *cap) {
            *cap = (*n + len + 1) * 2;
            *buf = base_xrealloc(*buf, *cap);
        }
        memcpy(*buf + *n, line, len);
        *n += len;
    }
    gzclose(f);
    return 0;
}

/* ---- the trainer's state --------------------------------------------------------------------- */

typedef struct lm_run {
    const train_lm_options *o;
    nn_text_model model;
    data_tokenizer *tok;
    int32_t *train_ids; /* [n_train] token stream */
    int64_t n_train;
    int32_t *valid_ids; /* [n_valid] */
    int64_t n_valid;
    int64_t valid_words; /* whitespace-separated words of the held-out text (LM per-word perplexity) */
    int64_t T;           /* sequence length (model positions) */
    int64_t span;        /* stream tokens per training sequence: MLM T-1, LM T+1 (stride T) */
    int64_t n_seqs;
    data_order order;
    base_rng mask_rng;
    /* the current micro-batch */
    int32_t *x;      /* [B, T] input ids */
    int32_t *y;      /* [B, T] labels (TRAIN_LM_IGNORE where no loss) */
    int32_t *sel;    /* [B·T] flat positions with a label (MLM) */
    int32_t *sel_y;  /* [B·T] their labels */
    int64_t nsel;
    uint64_t corpus_hash;
    /* data parallel (docs/DISTRIBUTED.md): this rank trains rows [row0, row0 + B_local) of each
     * global batch of o->batch rows; every rank draws the whole batch (order and masking), so the
     * cursor and the RNGs are the same everywhere and the union of the shards is the batch a single
     * process would train on */
    int64_t B_local, row0;
    float loss_scale; /* MLM: this rank's share of the batch's masked positions · ranks (1 in one process) */
} lm_run;

static uint64_t hash_ids(const int32_t *ids, int64_t n) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a over the id bytes */
    const uint8_t *p = (const uint8_t *)ids;
    for (int64_t i = 0; i < n * 4; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

/* Token t starts a word when its first byte is whitespace or the previous token ended in one
 * (byte-level BPE attaches a leading space to the word that follows it). */
static bool starts_word(const data_tokenizer *tok, int32_t prev, int32_t t) {
    int32_t len;
    const uint8_t *b = data_bpe_token_bytes(tok->bpe, t, &len);
    if (!b || len == 0) return true;
    if (b[0] == ' ' || b[0] == '\n' || b[0] == '\t') return true;
    if (prev < 0) return true;
    const uint8_t *pb = data_bpe_token_bytes(tok->bpe, prev, &len);
    return !pb || len == 0 || pb[len - 1] == ' ' || pb[len - 1] == '\n';
}

/* BERT's 80/10/10 replacement of a chosen position p of x. */
static void mask_one(const data_tokenizer *tok, int32_t *x, int32_t *y, int64_t p, base_rng *r) {
    int32_t normal = data_bpe_vocab_size(tok->bpe);
    y[p] = x[p];
    double u = base_rng_uniform_d(r);
    if (u < 0.8) x[p] = tok->special[DATA_TOK_MASK];
    else if (u < 0.9) x[p] = (int32_t)base_rng_below(r, (uint32_t)normal);
}

int64_t train_lm_mask(const data_tokenizer *tok, int32_t *x, int32_t *y, int64_t B, int64_t T, double prob,
                      bool whole_word, base_rng *r) {
    int32_t normal = data_bpe_vocab_size(tok->bpe);
    if (!whole_word) { /* token level: data_mlm_mask (BERT's rule, tested in test_batch) */
        int32_t *mask = base_xmalloc((size_t)(B * T) * sizeof(int32_t));
        for (int64_t i = 0; i < B * T; i++) mask[i] = 1;
        data_batch b = {.B = (int32_t)B, .T = (int32_t)T, .ids = x, .mask = mask};
        int64_t n = data_mlm_mask(&b, y, r, prob, tok->special[DATA_TOK_MASK], 0, normal, TRAIN_LM_IGNORE);
        free(mask);
        return n;
    }
    int64_t total = 0;
    for (int64_t i = 0; i < B * T; i++) y[i] = TRAIN_LM_IGNORE;
    for (int64_t b = 0; b < B; b++) {
        int32_t *xb = x + b * T, *yb = y + b * T;
        int64_t chosen = 0;
        bool take = false;
        for (int64_t t = 0; t < T; t++) {
            if (xb[t] >= normal) { /* specials are never masked and end a word */
                take = false;
                continue;
            }
            /* the decision is made at a word's first token; yb holds the original of replaced ids */
            int32_t prev = t == 0 ? -1 : (yb[t - 1] != TRAIN_LM_IGNORE ? yb[t - 1] : xb[t - 1]);
            if (starts_word(tok, prev < normal ? prev : -1, xb[t])) take = base_rng_uniform_d(r) < prob;
            if (take) {
                mask_one(tok, xb, yb, t, r);
                chosen++;
            }
        }
        if (chosen == 0) /* as data_mlm_mask: every row has a loss */
            for (int64_t t = T - 1; t >= 0; t--)
                if (xb[t] < normal) {
                    mask_one(tok, xb, yb, t, r);
                    chosen++;
                    break;
                }
        total += chosen;
    }
    return total;
}

/* Masks rows x [B, T] and lists the chosen positions and their labels for the loss. */
static void mask_batch(lm_run *R, int32_t *x, int32_t *y, int64_t B, base_rng *r) {
    train_lm_mask(R->tok, x, y, B, R->T, R->o->mask_prob, R->o->whole_word, r);
    R->nsel = 0;
    for (int64_t i = 0; i < B * R->T; i++)
        if (y[i] != TRAIN_LM_IGNORE) {
            R->sel[R->nsel] = (int32_t)i;
            R->sel_y[R->nsel++] = y[i];
        }
}

/* Sequence k of a stream into row x [T] (and, for LM, targets y [T]). */
static void fill_seq(const lm_run *R, const int32_t *stream, int64_t k, int32_t *x, int32_t *y) {
    int64_t T = R->T;
    if (R->model.cfg.kind == NN_TEXT_MLM) {
        x[0] = R->tok->special[DATA_TOK_CLS];
        memcpy(x + 1, stream + k * R->span, (size_t)(T - 1) * sizeof(int32_t));
    } else {
        memcpy(x, stream + k * T, (size_t)T * sizeof(int32_t));
        memcpy(y, stream + k * T + 1, (size_t)T * sizeof(int32_t));
    }
}

static int64_t lm_next_batch(void *ctx) {
    lm_run *R = ctx;
    int64_t B = R->o->batch, T = R->T;
    for (int64_t b = 0; b < B; b++) fill_seq(R, R->train_ids, data_order_next(&R->order), R->x + b * T, R->y + b * T);
    if (R->model.cfg.kind == NN_TEXT_MLM) mask_batch(R, R->x, R->y, B, &R->mask_rng);
    if (R->B_local == B) return B * T;
    /* This rank's shard: its rows moved to the front, its masked positions listed. The loss is the
     * mean over the whole batch's masked positions once the ranks' grads are averaged: rank r's
     * mean is weighted by (its positions · ranks / all positions). */
    int64_t nall = R->nsel, Bl = R->B_local;
    memmove(R->x, R->x + R->row0 * T, (size_t)(Bl * T) * sizeof(int32_t));
    memmove(R->y, R->y + R->row0 * T, (size_t)(Bl * T) * sizeof(int32_t));
    if (R->model.cfg.kind == NN_TEXT_MLM) {
        R->nsel = 0;
        for (int64_t i = 0; i < Bl * T; i++)
            if (R->y[i] != TRAIN_LM_IGNORE) {
                R->sel[R->nsel] = (int32_t)i;
                R->sel_y[R->nsel++] = R->y[i];
            }
        R->loss_scale = (float)((double)R->nsel * (double)dist_size() / (double)nall);
    }
    return Bl * T;
}

/* Loss of rows x [B, T] with labels y: MLM at the nsel selected positions only (the head runs on
 * those rows alone), LM at every position. out_correct: if non-NULL, the number of selected (or
 * all) positions whose arg-max prediction equals the label. */
static ag_tensor *batch_loss(lm_run *R, ag_graph *g, const int32_t *x, const int32_t *y, int64_t B, int64_t *out_correct) {
    int64_t T = R->T, D = R->model.cfg.d, V = R->model.cfg.vocab;
    ag_tensor *ids = ag_from_i32(g, AG_SHAPE(B, T), x);
    ag_tensor *h = nn_text_model_hidden(g, &R->model, ids, NULL, (int)R->model.cfg.layers); /* [B, T, D] */
    if (!h) return NULL;
    h = ag_reshape(g, h, AG_SHAPE(B * T, D));
    ag_tensor *targets;
    if (R->model.cfg.kind == NN_TEXT_MLM) {
        h = ag_gather_rows(g, h, ag_from_i32(g, AG_SHAPE(R->nsel), R->sel)); /* [M, D] */
        targets = ag_from_i32(g, AG_SHAPE(R->nsel), R->sel_y);
    } else {
        targets = ag_from_i32(g, AG_SHAPE(B * T), y);
    }
    ag_tensor *logits = nn_text_model_logits(g, &R->model, h); /* [M or B·T, V] */
    if (out_correct) {
        int64_t n = logits->shape[0], c = 0;
        const float *L = ag_f32(logits);
        const int32_t *t = ag_i32(targets);
        for (int64_t i = 0; i < n; i++) {
            int64_t best = 0;
            for (int64_t v = 1; v < V; v++)
                if (L[i * V + v] > L[i * V + best]) best = v;
            c += best == t[i];
        }
        *out_correct = c;
    }
    return ag_cross_entropy(g, logits, targets, TRAIN_LM_IGNORE, AG_MEAN);
}

static ag_tensor *lm_loss(void *ctx, ag_graph *g) {
    lm_run *R = ctx;
    ag_tensor *loss = batch_loss(R, g, R->x, R->y, R->B_local, NULL);
    return loss && R->loss_scale != 1.0f ? ag_mul_scalar(g, loss, R->loss_scale) : loss;
}

/* Evaluation over the first max_seqs (0 = all) sequences of a token stream ids [n] whose text has
 * `words` words (LM per-word perplexity; 0 = not reported), with a fixed masking seed for MLM so
 * every evaluation sees the same positions. test selects the "test_" names instead of "eval_". */
static int eval_stream(lm_run *R, ag_graph *g, const int32_t *ids, int64_t n, int64_t words, int64_t max_seqs,
                       bool test, train_eval_result *out) {
    int64_t T = R->T, B = R->o->batch;
    int64_t nseq = R->model.cfg.kind == NN_TEXT_MLM ? n / R->span : (n - 1) / T;
    if (max_seqs > 0 && nseq > max_seqs) nseq = max_seqs;
    if (nseq < 1) return base_error_set("%s text too short for one sequence of %lld tokens", test ? "test" : "held-out",
                                      (long long)T);
    base_rng r;
    base_rng_seed(&r, 0x5eed0e7a1ull); /* the same held-out masks at every evaluation */
    double nll = 0;
    int64_t count = 0, correct = 0;
    for (int64_t s0 = 0; s0 < nseq; s0 += B) {
        int64_t nb = nseq - s0 < B ? nseq - s0 : B;
        for (int64_t b = 0; b < nb; b++) fill_seq(R, ids, s0 + b, R->x + b * T, R->y + b * T);
        if (R->model.cfg.kind == NN_TEXT_MLM) mask_batch(R, R->x, R->y, nb, &r);
        int64_t c = 0;
        ag_tensor *loss = batch_loss(R, g, R->x, R->y, nb, &c);
        if (!loss) return -1;
        int64_t k = R->model.cfg.kind == NN_TEXT_MLM ? R->nsel : nb * T;
        nll += (double)ag_f32(loss)[0] * (double)k;
        count += k;
        correct += c;
        ag_graph_reset(g);
    }
    double mean = nll / (double)count;
    out->n = 0;
    if (R->model.cfg.kind == NN_TEXT_MLM) {
        out->score = (double)correct / (double)count;
        out->key[out->n] = test ? "test_mlm_accuracy" : "eval_mlm_accuracy", out->value[out->n++] = out->score;
        out->key[out->n] = test ? "test_mlm_loss" : "eval_mlm_loss", out->value[out->n++] = mean;
    } else {
        out->score = -mean;
        out->key[out->n] = test ? "test_ppl" : "eval_ppl", out->value[out->n++] = exp(mean);
        out->key[out->n] = test ? "test_loss" : "eval_loss", out->value[out->n++] = mean;
        out->key[out->n] = test ? "test_next_token_accuracy" : "eval_next_token_accuracy",
        out->value[out->n++] = (double)correct / (double)count;
        /* per word: the evaluated tokens' total NLL over the words they cover */
        if (words > 0 && n > 0) {
            double w = (double)words * (double)count / (double)n;
            out->key[out->n] = test ? "test_word_ppl" : "eval_word_ppl", out->value[out->n++] = exp(nll / w);
        }
    }
    return 0;
}

static int lm_eval(void *ctx, ag_graph *g, train_eval_result *out) {
    lm_run *R = ctx;
    return eval_stream(R, g, R->valid_ids, R->n_valid, R->valid_words, R->o->eval_seqs, false, out);
}

/* ---- checkpoint extras -------------------------------------------------------------------------- */

int train_lm_put_model(ckpt_writer *w, const nn_text_config *c) {
    int rc = ckpt_put_string(w, "/model/kind", nn_text_kind_name(c->kind));
    if (!rc) rc = ckpt_put_string(w, "/model/pos", nn_text_pos_name(c->pos));
    const int64_t v[] = {c->vocab, c->max_seq, c->d, c->layers, c->heads, c->kv_heads, c->ffn, c->tie_head};
    static const char *const names[] = {"vocab", "max_seq", "d", "layers", "heads", "kv_heads", "ffn", "tie_head"};
    char path[64];
    for (size_t i = 0; !rc && i < sizeof v / sizeof v[0]; i++) {
        snprintf(path, sizeof path, "/model/%s", names[i]);
        rc = ckpt_put_i64(w, path, v[i]);
    }
    if (!rc) rc = ckpt_put_f64(w, "/model/dropout", c->dropout);
    return rc;
}

int train_lm_get_config(ckpt_reader *r, nn_text_config *c) {
    char kind[16] = "", pos[16] = "", *s = NULL;
    if (ckpt_get_string(r, "/model/kind", &s)) return base_error_prefix("not an `ember train mlm|lm` model");
    snprintf(kind, sizeof kind, "%s", s);
    free(s);
    if (ckpt_get_string(r, "/model/pos", &s)) return -1;
    snprintf(pos, sizeof pos, "%s", s);
    free(s);
    memset(c, 0, sizeof *c);
    if (!strcmp(kind, "mlm")) c->kind = NN_TEXT_MLM;
    else if (!strcmp(kind, "lm")) c->kind = NN_TEXT_LM;
    else return base_error_set("%s: /model/kind '%s': expected mlm or lm", ckpt_reader_path(r), kind);
    if (!strcmp(pos, "learned")) c->pos = NN_TEXT_POS_LEARNED;
    else if (!strcmp(pos, "sinusoidal")) c->pos = NN_TEXT_POS_SINUSOIDAL;
    else if (!strcmp(pos, "rope")) c->pos = NN_TEXT_POS_ROPE;
    else return base_error_set("%s: /model/pos '%s': expected learned, sinusoidal or rope", ckpt_reader_path(r), pos);
    int64_t *f[] = {&c->vocab, &c->max_seq, &c->d, &c->layers, &c->heads, &c->kv_heads, &c->ffn};
    static const char *const names[] = {"vocab", "max_seq", "d", "layers", "heads", "kv_heads", "ffn"};
    char path[64];
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        snprintf(path, sizeof path, "/model/%s", names[i]);
        if (ckpt_get_i64(r, path, f[i])) return -1;
    }
    int64_t tie;
    double drop;
    if (ckpt_get_i64(r, "/model/tie_head", &tie) || ckpt_get_f64(r, "/model/dropout", &drop)) return -1;
    c->tie_head = tie != 0;
    c->dropout = (float)drop;
    if (nn_text_config_check(c)) return base_error_prefix("%s: /model", ckpt_reader_path(r));
    return 0;
}

static int lm_save(void *ctx, ckpt_writer *w) {
    lm_run *R = ctx;
    int rc = train_lm_put_model(w, &R->model.cfg);
    if (!rc) rc = ckpt_put_tokenizer(w, R->tok);
    if (!rc) rc = ckpt_put_i64(w, "/state/data/epoch", R->order.epoch);
    if (!rc) rc = ckpt_put_i64(w, "/state/data/pos", R->order.pos);
    if (!rc) rc = ckpt_put_rng(w, "/state/rng/mask", &R->mask_rng);
    return rc;
}

static int lm_load(void *ctx, ckpt_reader *r) {
    lm_run *R = ctx;
    int64_t epoch, pos;
    if (ckpt_get_i64(r, "/state/data/epoch", &epoch) || ckpt_get_i64(r, "/state/data/pos", &pos) ||
        ckpt_get_rng(r, "/state/rng/mask", &R->mask_rng))
        return -1;
    if (epoch < 0 || pos < 0 || pos > R->n_seqs)
        return base_error_set("%s: /state/data: epoch %lld, position %lld outside the %lld sequences of this corpus",
                            ckpt_reader_path(r), (long long)epoch, (long long)pos, (long long)R->n_seqs);
    data_order_free(&R->order);
    return data_order_restore(&R->order, R->n_seqs, R->o->seed, epoch, pos);
}

/* ---- set-up --------------------------------------------------------------------------------------- */

/* The run's tokenizer: --tokenizer FILE, else the checkpoint's when resuming, else trained on the
 * corpus. On resume a given tokenizer must be the checkpoint's. */
static int setup_tokenizer(lm_run *R) {
    const train_lm_options *o = R->o;
    data_tokenizer *from_ckpt = NULL;
    if (o->loop.resume) {
        ckpt_reader *r = ckpt_open(o->loop.resume);
        if (!r) return base_error_prefix("--resume");
        int rc = ckpt_get_tokenizer(r, &from_ckpt);
        ckpt_close(r);
        if (rc) return -1;
    }
    if (o->tokenizer) {
        if (data_tokenizer_load(&R->tok, o->tokenizer)) {
            data_tokenizer_free(from_ckpt);
            return -1;
        }
        if (from_ckpt && data_tokenizer_fingerprint(from_ckpt) != data_tokenizer_fingerprint(R->tok)) {
            base_error_set("--tokenizer %s does not match the tokenizer stored in %s (%d vs %d tokens, fingerprints "
                         "%016llx vs %016llx): a model must keep its vocabulary", o->tokenizer, o->loop.resume,
                         R->tok->vocab_size, from_ckpt->vocab_size,
                         (unsigned long long)data_tokenizer_fingerprint(R->tok),
                         (unsigned long long)data_tokenizer_fingerprint(from_ckpt));
            data_tokenizer_free(from_ckpt);
            return -1;
        }
        data_tokenizer_free(from_ckpt);
        return 0;
    }
    if (from_ckpt) {
        R->tok = from_ckpt;
        return 0;
    }
    double t0 = base_now_sec();
    if (data_tokenizer_train(&R->tok, o->corpus, o->ncorpus, o->tokenizer_bytes, o->vocab_size, NULL)) return -1;
    if (!o->loop.quiet)
        fprintf(stderr, "%s: trained a %d-token BPE tokenizer on the first %lld corpus bytes in %.1f s\n",
                o->loop.label, R->tok->vocab_size, (long long)o->tokenizer_bytes, base_now_sec() - t0);
    return 0;
}

/* Words for per-word perplexity: whitespace-separated words plus one end-of-line per line, the
 * WikiText convention (<eos> is a token: 245,569 on WikiText-2 test). */
static int64_t count_words(const uint8_t *t, size_t n) {
    int64_t w = 0;
    bool in = false;
    for (size_t i = 0; i < n; i++) {
        bool sp = t[i] == ' ' || t[i] == '\n' || t[i] == '\t' || t[i] == '\r';
        if (!sp && !in) w++;
        w += t[i] == '\n';
        in = !sp;
    }
    return w;
}

/* Reads and encodes a whole text file (plain or gzip) into *ids [*n]; *words as count_words. */
static int encode_file(lm_run *R, const char *path, int32_t **ids, int64_t *n, int64_t *words) {
    uint8_t *t = NULL;
    size_t tn = 0, cap = 0;
    int64_t dropped = 0;
    int rc = read_text(path, &t, &tn, &cap, 0, &dropped);
    if (!rc && tn == 0) rc = base_error_set("%s: empty", path);
    if (!rc) rc = data_tokenizer_encode(R->tok, t, tn, ids, n, R->o->threads);
    if (!rc) *words = count_words(t, tn);
    free(t);
    return rc;
}

static int setup_data(lm_run *R) {
    const train_lm_options *o = R->o;
    uint8_t *text = NULL;
    size_t n = 0, cap = 0;
    int64_t dropped = 0;
    double t0 = base_now_sec();
    for (int i = 0; i < o->ncorpus; i++)
        if (read_text(o->corpus[i], &text, &n, &cap, o->max_bytes, &dropped)) {
            free(text);
            return -1;
        }
    if (n == 0) {
        free(text);
        return base_error_set("%s: the corpus is empty (no text after dropping %lld document-marker lines)", o->corpus[0],
                            (long long)dropped);
    }
    int64_t ntok = 0;
    int32_t *ids = NULL;
    int rc = data_tokenizer_encode(R->tok, text, n, &ids, &ntok, o->threads);
    size_t text_bytes = n;
    if (rc) {
        free(text);
        return -1;
    }
    double t1 = base_now_sec();
    if (o->valid) {
        if (encode_file(R, o->valid, &R->valid_ids, &R->n_valid, &R->valid_words)) {
            free(text);
            free(ids);
            return base_error_prefix("--valid");
        }
        R->train_ids = ids;
        R->n_train = ntok;
    } else {
        int64_t nv = (int64_t)((double)ntok * o->valid_frac);
        if (nv < R->T + 1) nv = R->T + 1;
        if (nv >= ntok) {
            free(text);
            free(ids);
            return base_error_set("%s: %lld tokens: too short to hold out %lld and train on the rest (give a larger "
                                "corpus or --valid FILE)", o->corpus[0], (long long)ntok, (long long)nv);
        }
        R->n_train = ntok - nv;
        R->n_valid = nv;
        R->train_ids = ids;
        R->valid_ids = base_xmalloc((size_t)nv * sizeof(int32_t));
        memcpy(R->valid_ids, ids + R->n_train, (size_t)nv * sizeof(int32_t));
        /* words of the held-out part: approximated by the same fraction of the text's words */
        R->valid_words = (int64_t)((double)count_words(text, n) * (double)nv / (double)ntok);
    }
    free(text);
    R->n_seqs = R->model.cfg.kind == NN_TEXT_MLM ? R->n_train / R->span : (R->n_train - 1) / R->T;
    if (R->n_seqs < 1)
        return base_error_set("%s: %lld training tokens: fewer than one sequence of %lld", o->corpus[0],
                            (long long)R->n_train, (long long)R->span);
    R->corpus_hash = hash_ids(R->train_ids, R->n_train);
    if (!o->loop.quiet)
        fprintf(stderr, "%s: corpus %zu bytes (%lld marker lines dropped) -> %lld tokens (%.2f bytes/token) in %.1f s; "
                        "%lld training sequences of %lld, %lld held-out tokens\n",
                o->loop.label, text_bytes, (long long)dropped, (long long)ntok, (double)text_bytes / (double)ntok,
                t1 - t0, (long long)R->n_seqs, (long long)R->T, (long long)R->n_valid);
    return 0;
}

/* The settings a resumed run must share with the checkpoint (flat JSON: the loop compares it key
 * by key and names what differs). */
static char *trainer_json(const lm_run *R) {
    const train_lm_options *o = R->o;
    const nn_text_config *c = &R->model.cfg;
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    fprintf(f, "{\"kind\":\"%s\",\"vocab\":%lld,\"seq\":%lld,\"d\":%lld,\"layers\":%lld,\"heads\":%lld,"
               "\"kv_heads\":%lld,\"ffn\":%lld,\"pos\":\"%s\",\"tie_head\":%s,\"dropout\":%.6g,\"batch\":%lld,"
               "\"mask_prob\":%.6g,\"whole_word\":%s,\"seed\":%llu,\"tokenizer_fingerprint\":\"%016llx\","
               "\"train_tokens\":%lld,\"corpus_hash\":\"%016llx\"}",
            nn_text_kind_name(c->kind), (long long)c->vocab, (long long)c->max_seq, (long long)c->d,
            (long long)c->layers, (long long)c->heads, (long long)c->kv_heads, (long long)c->ffn,
            nn_text_pos_name(c->pos), c->tie_head ? "true" : "false", (double)c->dropout, (long long)o->batch,
            o->mask_prob, o->whole_word ? "true" : "false", (unsigned long long)o->seed,
            (unsigned long long)data_tokenizer_fingerprint(R->tok), (long long)R->n_train,
            (unsigned long long)R->corpus_hash);
    fclose(f);
    return buf;
}

static void lm_free(lm_run *R) {
    nn_text_model_free(&R->model);
    data_tokenizer_free(R->tok);
    free(R->train_ids);
    free(R->valid_ids);
    data_order_free(&R->order);
    free(R->x);
    free(R->y);
    free(R->sel);
    free(R->sel_y);
}

int train_lm_run(const train_lm_options *o_in) {
    train_lm_options o_rank = *o_in; /* data parallel: ranks other than 0 print nothing */
    if (dist_rank() > 0) o_rank.loop.quiet = true;
    const train_lm_options *o = &o_rank;
    if (o->ncorpus < 1) return base_error_set("--corpus FILE is required");
    if (o->batch < 1 || o->batch > 1 << 16) return base_error_set("--batch %lld: expected 1 .. 65536", (long long)o->batch);
    if (!(o->mask_prob > 0 && o->mask_prob < 1)) return base_error_set("--mask-prob %g: expected (0, 1)", o->mask_prob);
    if (o->model.max_seq < 2) return base_error_set("--seq %lld: expected at least 2", (long long)o->model.max_seq);
    if (!(o->valid_frac > 0 && o->valid_frac < 0.5)) return base_error_set("--valid-frac %g: expected (0, 0.5)", o->valid_frac);
    train_set_threads(o->threads);
    lm_run R;
    memset(&R, 0, sizeof R);
    R.o = o;
    R.B_local = o->batch / dist_size();
    R.row0 = R.B_local * dist_rank();
    R.loss_scale = 1.0f;
    if (o->batch % dist_size())
        return base_error_set("--batch %lld: the global batch must be a multiple of the %d ranks", (long long)o->batch,
                              dist_size());
    int rc = -1;
    char *tj = NULL;
    train_loop *L = NULL;
    if (setup_tokenizer(&R)) goto out;
    nn_text_config mc = o->model;
    mc.vocab = R.tok->vocab_size;
    if (nn_text_config_check(&mc)) goto out;
    R.T = mc.max_seq;
    R.span = mc.kind == NN_TEXT_MLM ? R.T - 1 : R.T;
    if (setup_data(&R)) goto out;
    nn_text_model_init(&R.model, &mc, o->seed);
    if (data_order_init(&R.order, R.n_seqs, o->seed)) goto out;
    base_rng_seed(&R.mask_rng, o->seed ^ 0x6d61736bull);
    int64_t BT = o->batch * R.T;
    R.x = base_xmalloc((size_t)BT * sizeof(int32_t));
    R.y = base_xmalloc((size_t)BT * sizeof(int32_t));
    R.sel = base_xmalloc((size_t)BT * sizeof(int32_t));
    R.sel_y = base_xmalloc((size_t)BT * sizeof(int32_t));
    tj = trainer_json(&R);
    train_loop_config lc = o->loop;
    lc.config_json = tj;
    if (o->epochs > 0) {
        double per_step = (double)o->batch * (double)(lc.accum > 0 ? lc.accum : 1);
        lc.steps = (int64_t)ceil(o->epochs * (double)R.n_seqs / per_step);
        if (lc.steps < 1) lc.steps = 1;
    }
    lc.seed = o->seed;
    train_loop_trainer tr = {.ctx = &R, .next_batch = lm_next_batch, .loss = lm_loss, .eval = lm_eval,
                             .save = lm_save, .load = lm_load};
    L = train_loop_new(&lc, &R.model.ps, &tr);
    if (!L) goto out;
    if (!o->loop.quiet) {
        fprintf(stderr, "%s: model %s d %lld, %lld layers, %lld heads (%lld kv), ffn %lld, %s positions, %s head, "
                        "vocab %lld: %lld parameters (%lld trainable); batch %lld x %lld tokens x accum %d\n",
                o->loop.label, nn_text_kind_name(mc.kind), (long long)mc.d, (long long)mc.layers, (long long)mc.heads,
                (long long)mc.kv_heads, (long long)mc.ffn, nn_text_pos_name(mc.pos), mc.tie_head ? "tied" : "untied",
                (long long)mc.vocab, (long long)nn_params_count(&R.model.ps, NULL),
                (long long)nn_params_count_trainable(&R.model.ps), (long long)o->batch, (long long)R.T, lc.accum);
    }
    double t0 = base_now_sec();
    rc = train_loop_run(L);
    double wall = base_now_sec() - t0;
    if (rc == 0 || rc == TRAIN_LOOP_STOPPED) {
        const train_eval_result *ev = train_loop_last_eval(L);
        if (!o->loop.quiet) {
            fprintf(stderr, "%s: %lld steps, final loss %.4f, %.0f tokens/s over this process's steps after its first "
                            "(%.2f s), %.1f s wall", o->loop.label, (long long)train_loop_step(L),
                    (double)train_loop_last_loss(L), train_loop_tokens_per_sec(L), train_loop_first_step_seconds(L), wall);
            for (int i = 0; ev && i < ev->n; i++) fprintf(stderr, ", %s %.4f", ev->key[i], ev->value[i]);
            fputc('\n', stderr);
        }
        if (!o->loop.quiet && dist_active()) { /* data parallel: the communication share */
            dist_stats st = dist_get_stats();
            fprintf(stderr, "%s: %d ranks x %d threads: %.2f s of %.1f s wall in collectives (%lld calls, %.1f MB "
                            "reduced by rank 0)\n", o->loop.label, dist_size(), o->threads, st.seconds, wall,
                    (long long)st.calls, (double)st.bytes / 1e6);
        }
        if (o->test && rc == 0 && dist_rank() == 0) { /* data parallel: rank 0 tests and draws */
            int32_t *tid = NULL;
            int64_t tn = 0, tw = 0;
            train_eval_result tr_res;
            ag_graph *g = train_loop_graph(L);
            if (encode_file(&R, o->test, &tid, &tn, &tw)) {
                rc = -1;
                base_error_prefix("--test");
            } else {
                ag_set_training(g, false);
                ag_no_grad_begin(g);
                rc = eval_stream(&R, g, tid, tn, tw, 0, true, &tr_res);
                ag_no_grad_end(g);
                ag_set_training(g, true);
                if (!rc) {
                    fprintf(stderr, "%s: test %s (%lld tokens, %lld words):", o->loop.label, o->test, (long long)tn,
                            (long long)tw);
                    for (int i = 0; i < tr_res.n; i++) fprintf(stderr, " %s %.4f", tr_res.key[i], tr_res.value[i]);
                    fputc('\n', stderr);
                    train_loop_log_eval(L, "test", &tr_res);
                }
            }
            free(tid);
        }
        if (dist_rank() == 0) {
            char title[256];
            snprintf(title, sizeof title, "ember train %s: d %lld, %lld layers, seq %lld, vocab %lld",
                     nn_text_kind_name(mc.kind), (long long)mc.d, (long long)mc.layers, (long long)mc.max_seq,
                     (long long)mc.vocab);
            if (train_loop_plot(L, o->plot, title)) rc = -1;
        }
    }
out:
    train_loop_free(L);
    free(tj);
    lm_free(&R);
    return rc;
}

/* ---- reading a trained model back ------------------------------------------------------------ */

int train_lm_load_model(const char *path, train_lm_model *m) {
    memset(m, 0, sizeof *m);
    ckpt_reader *r = ckpt_open(path);
    if (!r) return -1;
    nn_text_config c;
    int rc = train_lm_get_config(r, &c);
    if (!rc) rc = ckpt_get_tokenizer(r, &m->tok);
    if (!rc && m->tok->vocab_size != c.vocab)
        rc = base_error_set("%s: the tokenizer has %d tokens, the model %lld", path, m->tok->vocab_size, (long long)c.vocab);
    if (!rc) {
        nn_text_model_init(&m->net, &c, 0);
        rc = train_lm_load_params(r, &m->net.ps);
    }
    ckpt_close(r);
    if (rc) train_lm_model_free(m);
    return rc;
}

void train_lm_freeze_head(const nn_text_model *m, train_loop_config *c) {
    const char *head = m->cfg.kind == NN_TEXT_MLM ? "head.*" : "head*";
    if (nn_params_match_count(&m->ps, head) > 0 && c->nfreeze < TRAIN_LOOP_MAX_GLOBS) c->freeze[c->nfreeze++] = head;
}

int train_lm_load_params(ckpt_reader *r, nn_params *ps) {
    ckpt_load_report rep = {0};
    int n = ckpt_load_params_glob(r, ps, "*", &rep);
    int rc = n < 0 ? -1 : 0, bad = 0;
    char msg[1024] = "";
    size_t k = 0;
    for (int i = 0; !rc && i < rep.nskipped; i++) {
        const char *s = rep.skipped[i];
        if ((!strncmp(s, "ctr.", 4) || !strncmp(s, "task.", 5)) && strstr(s, ": in file but not in model"))
            continue; /* a trainer's own: the contrastive projection / temperature, a finetune's task head */
        if (bad++ < 4 && k < sizeof msg - 2) k += (size_t)snprintf(msg + k, sizeof msg - k, "%s%s", k ? "; " : "", s);
    }
    if (!rc && bad)
        rc = base_error_set("%s: the model's parameters do not match the file (%d differences: %s%s)",
                            ckpt_reader_path(r), bad, msg, bad > 4 ? "; ..." : "");
    ckpt_load_report_free(&rep);
    return rc;
}

void train_lm_model_free(train_lm_model *m) {
    if (m->net.ps.allocated) nn_text_model_free(&m->net);
    data_tokenizer_free(m->tok);
    memset(m, 0, sizeof *m);
}

int train_lm_encode_text(const data_tokenizer *tok, nn_text_kind kind, const char *text, size_t len, int64_t max,
                         bool nonempty, int32_t **ids, int64_t *n) {
    int32_t *raw = NULL;
    int64_t nr = 0;
    if (data_tokenizer_encode(tok, (const uint8_t *)text, len, &raw, &nr, 1)) return -1;
    bool cls = kind == NN_TEXT_MLM;
    if (nr > max - cls) nr = max - cls;
    if (nr < 0) nr = 0;
    int32_t *out = base_xmalloc((size_t)(nr + 2) * sizeof(int32_t));
    int64_t k = 0;
    if (cls) out[k++] = tok->special[DATA_TOK_CLS];
    memcpy(out + k, raw, (size_t)nr * sizeof(int32_t));
    k += nr;
    if (k == 0 && nonempty) out[k++] = tok->special[DATA_TOK_SEP];
    free(raw);
    *ids = out;
    *n = k;
    return 0;
}

int train_lm_encode_for_model(const train_lm_model *m, const char *text, size_t len, int32_t **ids, int64_t *n) {
    return train_lm_encode_text(m->tok, m->net.cfg.kind, text, len, m->net.cfg.max_seq, false, ids, n);
}
