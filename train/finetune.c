/* finetune.c — supervised fine-tuning (sentence classification, scored sentence pairs) on the training loop. */
#include "finetune.h"

#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/resource.h>
#include <unistd.h>

#include "../checkpoints/ckpt.h"
#include "../data/batch.h"
#include "../data/evalsets.h"
#include "../data/vocab.h"
#include "../dist/dist.h"
#include "eval.h"
#include "lm.h"
#include "sentence.h"

train_ft_options train_ft_options_default(void) {
    train_ft_options o;
    memset(&o, 0, sizeof o);
    o.task = "sst2";
    o.load = "*";
    o.pool = TRAIN_POOL_MEAN;
    o.batch = 32;
    o.max_len = 0;
    o.dropout = 0.1;
    o.enc_dropout = -1;
    o.lr_decay = 1.0;
    o.min_count = 1;
    o.epochs = 3;
    o.seed = 1;
    o.loop = train_loop_config_default();
    o.loop.label = "finetune";
    o.loop.rate_unit = "ex";
    o.loop.lr = 2e-5f;
    o.loop.sched = OPTIM_SCHED_WARMUP_LINEAR;
    o.loop.weight_decay = 0.01f;
    o.loop.clip = 1.0;
    return o;
}

enum { FT_ENCODER = 0, FT_BOV, FT_BOW };
enum { FT_POOL = 50 }; /* batches per length-sorted pool */
static const char *const kind_names[] = {"encoder", "bov", "bow"};

/* One split of the task's data: example i is text a[i] (and b[i] for pairs) with label[i] / score[i],
 * from line[i] of the file (0 when the reader does not keep lines). */
typedef struct ft_split {
    const char *path;
    int64_t n;
    int32_t *a, *b;
    int32_t *label;
    float *score;
    int64_t *line;
    char **raw_a, **raw_b; /* [n] the texts as read (predictions); in pool */
    char *pool;            /* owns the reader's strings */
    void *reader;          /* data_labeled_sentences or data_sentence_pairs, freed at the end */
} ft_split;

typedef struct ft_text {
    int32_t *ids;
    int32_t n;
} ft_text;

typedef struct ft_run {
    const train_ft_options *o;
    bool pairs;                 /* the pairs task (else classify) */
    int kind;                   /* FT_ENCODER, FT_BOV, FT_BOW */
    int64_t classes;            /* outputs of the head (1 for pairs) */
    double score_lo, score_hi;  /* pairs: the training scores' range; targets are scaled to [0, 1] */
    nn_text_model net;          /* encoder */
    data_tokenizer *tok;
    nn_params bps;              /* bag of vectors / words: embedding.weight [V, D] + task.* */
    ag_tensor *emb;
    data_vocab *words;          /* bag: the table's words, id = row */
    int64_t *wcount;            /* [V] training counts (checkpoint vocabulary) */
    nn_params *ps;
    int64_t dim;                /* the pooled vector's size (D; C for bow) */
    nn_linear out;              /* task.out: F → classes */
    ag_tensor *bias;            /* bow: task.bias [C] */
    ft_text *texts;
    int64_t ntexts, tcap;
    ft_split tr, dev, te;
    uint64_t data_hash;
    data_order order;           /* the shuffled example stream */
    /* length grouping (HF's group_by_length): the stream is cut into pools of FT_POOL batches, each
     * pool sorted by length and its batches visited in a seeded order, so a batch pads to similar
     * lengths. The pool is rebuilt from the order's state at its start, so a checkpoint stores
     * (epoch, pos) of that start and the position inside the pool. */
    int64_t *pool;              /* [FT_POOL · batch] example indices */
    int64_t *pool_slot;         /* [pool_batches] batch order inside the pool */
    int64_t pool_batches;       /* FT_POOL, or fewer so that a pool is at most an epoch (at least 1) */
    int64_t pool_next;          /* next batch of the pool (pool_batches: refill) */
    int64_t max_len;            /* tokens (words) per text: --max-len, else 64 or the model's positions */
    int64_t pool_epoch, pool_pos; /* the order's state when the pool was filled */
    int64_t *batch_ex;          /* [batch] */
    int32_t *x, *pad;           /* [2 · batch, max_len] */
    float *w;                   /* [2 · batch, max_len] pooling weights */
    int32_t *y;                 /* [batch] */
    float *gold;                /* [batch] */
    float *best;                /* [ps->total padded] parameter snapshot at the best evaluation (no checkpoint) */
    double best_score;
    bool has_best;
    char *init_desc;            /* what the model started from, for the summary line */
} ft_run;

static uint64_t fnv1a(const void *p, size_t n, uint64_t h) {
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 0x100000001b3ull;
    return h;
}

/* Whether path starts with the HDF5 signature. */
static bool is_hdf5(const char *path) {
    static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    unsigned char b[8];
    FILE *f = fopen(path, "rb");
    bool yes = f && fread(b, 1, 8, f) == 8 && !memcmp(b, sig, 8);
    if (f) fclose(f);
    return yes;
}

/* Floats in the parameter set's value block (each parameter padded to 16). */
static int64_t values_size(const nn_params *ps) {
    if (ps->n == 0) return 1;
    const ag_tensor *t = ps->items[ps->n - 1].t;
    return (int64_t)(ag_f32(t) - ps->values) + t->numel;
}

double train_ft_layer_scale(const char *name, int64_t layers, double f) {
    if (!strncmp(name, "task.", 5)) return 1.0;
    if (layers == 0) return !strncmp(name, "embedding.", 10) ? f : 1.0;
    if (!strncmp(name, "enc.layers.", 11)) {
        long i = strtol(name + 11, NULL, 10);
        return pow(f, (double)(layers - i));
    }
    if (!strncmp(name, "tok.", 4) || !strncmp(name, "pos.", 4)) return pow(f, (double)(layers + 1));
    return 1.0; /* enc.norm.*, the unused output head */
}

/* ---- texts ------------------------------------------------------------------------------------ */

/* Appends a text as the model reads it and returns its index: encoder tokens ([CLS] first for an MLM
 * model) or the table's rows of its words, cut to max_len. -1 with an error. */
static int64_t add_text(ft_run *R, const char *s) {
    if (R->ntexts == R->tcap)
        R->texts = base_xrealloc(R->texts, (size_t)(R->tcap = R->tcap ? 2 * R->tcap : 4096) * sizeof *R->texts);
    ft_text *t = &R->texts[R->ntexts];
    int64_t max = R->max_len;
    if (R->kind != FT_ENCODER) {
        char *buf;
        int64_t m = train_sent_words(s, &buf), k = 0;
        t->ids = base_xmalloc((size_t)(m < max ? m + 1 : max + 1) * sizeof(int32_t));
        const char *w = buf;
        for (int64_t j = 0; j < m && k < max; j++, w += strlen(w) + 1) {
            int32_t id = data_vocab_find(R->words, w);
            if (id >= 0) t->ids[k++] = id;
        }
        free(buf);
        t->n = (int32_t)k; /* 0: no known word; the text pools to a zero vector */
        return R->ntexts++;
    }
    int64_t k;
    if (train_lm_encode_text(R->tok, R->net.cfg.kind, s, strlen(s), max, true, &t->ids, &k)) return -1;
    t->n = (int32_t)k;
    return R->ntexts++;
}

/* ---- reading the task's files ----------------------------------------------------------------- */

static void split_free(ft_split *s) {
    free(s->a);
    free(s->b);
    free(s->label);
    free(s->score);
    free(s->line);
    free(s->raw_a);
    free(s->raw_b);
    if (s->reader) {
        if (s->b || s->score) data_pairs_free(s->reader);
        else data_labeled_free(s->reader);
    }
    memset(s, 0, sizeof *s);
}

/* Reads one split's rows (texts not yet encoded). role: "TRAIN", "TRIAL", "TEST" (SICK's split for
 * this role). 0 or -1 with an error naming the file (and line). */
static int read_split(ft_run *R, ft_split *s, const char *path, const char *role) {
    s->path = path;
    if (!R->pairs) {
        data_labeled_sentences *d;
        if (data_labeled_read(&d, path)) return -1;
        s->reader = d;
        s->n = d->n;
        s->label = base_xmalloc((size_t)d->n * sizeof(int32_t));
        s->line = base_xmalloc((size_t)d->n * sizeof(int64_t));
        s->raw_a = base_xmalloc((size_t)d->n * sizeof(char *));
        memcpy(s->label, d->label, (size_t)d->n * sizeof(int32_t));
        memcpy(s->line, d->line, (size_t)d->n * sizeof(int64_t));
        memcpy(s->raw_a, d->text, (size_t)d->n * sizeof(char *));
        return 0;
    }
    data_sentence_pairs *d;
    if (data_pairs_read(&d, path, DATA_PAIRS_AUTO)) return -1;
    s->reader = d;
    s->score = base_xmalloc((size_t)(d->n ? d->n : 1) * sizeof(float));
    s->raw_a = base_xmalloc((size_t)(d->n ? d->n : 1) * sizeof(char *));
    s->raw_b = base_xmalloc((size_t)(d->n ? d->n : 1) * sizeof(char *));
    s->line = base_xmalloc((size_t)(d->n ? d->n : 1) * sizeof(int64_t));
    bool sick = d->n && d->split && d->split[0];
    for (int64_t i = 0; i < d->n; i++) {
        if (sick && d->split[i] && strcmp(d->split[i], role)) continue;
        s->raw_a[s->n] = d->a[i];
        s->raw_b[s->n] = d->b[i];
        s->score[s->n] = d->score[i];
        s->line[s->n++] = 0;
    }
    if (s->n < 2)
        return base_error_set("%s: expected at least 2 scored pairs%s%s, got %lld", path, sick ? " in SICK's " : "",
                              sick ? role : "", (long long)s->n);
    return 0;
}

/* Checks labels against the class count (set from the training labels when not given). */
static int check_labels(ft_run *R) {
    if (R->pairs) {
        R->classes = 1;
        R->score_lo = R->score_hi = R->tr.score[0];
        for (int64_t i = 1; i < R->tr.n; i++) {
            if (R->tr.score[i] < R->score_lo) R->score_lo = R->tr.score[i];
            if (R->tr.score[i] > R->score_hi) R->score_hi = R->tr.score[i];
        }
        if (!(R->score_hi > R->score_lo))
            return base_error_set("%s: every training pair has the score %g: nothing to learn", R->tr.path, R->score_lo);
        return 0;
    }
    int64_t C = R->o->classes;
    if (C == 0) {
        int32_t mx = 0;
        for (int64_t i = 0; i < R->tr.n; i++)
            if (R->tr.label[i] > mx) mx = R->tr.label[i];
        C = mx + 1 < 2 ? 2 : mx + 1;
    }
    R->classes = C;
    ft_split *sp[3] = {&R->tr, &R->dev, &R->te};
    for (int k = 0; k < 3; k++)
        for (int64_t i = 0; sp[k]->path && i < sp[k]->n; i++)
            if (sp[k]->label[i] < 0 || sp[k]->label[i] >= C)
                return base_error_set("%s:%lld: label %d is out of range: expected 0 .. %lld (%lld classes%s)", sp[k]->path,
                                      (long long)sp[k]->line[i], sp[k]->label[i], (long long)(C - 1), (long long)C,
                                      R->o->classes ? ", --classes" : ", from the training labels");
    return 0;
}

/* Encodes every split's texts (after the model exists). */
static int encode_splits(ft_run *R) {
    ft_split *sp[3] = {&R->tr, &R->dev, &R->te};
    for (int k = 0; k < 3; k++) {
        ft_split *s = sp[k];
        if (!s->path) continue;
        s->a = base_xmalloc((size_t)s->n * sizeof(int32_t));
        if (R->pairs) s->b = base_xmalloc((size_t)s->n * sizeof(int32_t));
        for (int64_t i = 0; i < s->n; i++) {
            int64_t a = add_text(R, s->raw_a[i]), b = 0;
            if (a >= 0 && R->pairs) b = add_text(R, s->raw_b[i]);
            if (a < 0 || b < 0) {
                if (s->line[i]) return base_error_prefix("%s:%lld", s->path, (long long)s->line[i]);
                return base_error_prefix("%s: row %lld", s->path, (long long)i + 1);
            }
            s->a[i] = (int32_t)a;
            if (R->pairs) s->b[i] = (int32_t)b;
        }
    }
    return 0;
}

/* ---- the model ------------------------------------------------------------------------------------ */

/* The task head, registered after the body's parameters: task.out (F → classes) or, for bow, task.bias. */
static void add_head(ft_run *R, nn_params *ps) {
    if (R->kind == FT_BOW) {
        R->bias = nn_params_add(ps, "task.bias", 1, (const int64_t[]){R->classes}, NN_INIT_ZEROS, 0, 0, false);
        return;
    }
    if (R->pairs) nn_linear_init(&R->out, ps, "task.out", R->dim, R->dim, true); /* a projection before the cosine */
    else nn_linear_init(&R->out, ps, "task.out", R->dim, R->classes, true);
}

/* After allocation: the pairs projection starts as the identity (bias 0), so training starts from the
 * pretrained vectors' own cosines. */
static void init_head(ft_run *R) {
    if (!R->pairs || R->kind == FT_BOW) return;
    float *w = ag_f32(R->out.weight);
    memset(w, 0, (size_t)(R->dim * R->dim) * sizeof(float));
    for (int64_t i = 0; i < R->dim; i++) w[i * R->dim + i] = 1.0f;
    memset(ag_f32(R->out.bias), 0, (size_t)R->dim * sizeof(float));
}

/* Partial load of the file's parameters into ps (selected by --load minus --skip), with the report the
 * user sees: loaded, newly initialised (the model's parameters not loaded), ignored (in the file, not
 * in the model, e.g. a contrastive run's ctr.*). A shape or dtype mismatch of a selected parameter is
 * an error naming both; no parameter loaded at all is an error too. */
static int load_report(ft_run *R, ckpt_reader *r, nn_params *ps, bool quiet) {
    const train_ft_options *o = R->o;
    /* a view of the selected parameters */
    nn_params view = *ps;
    view.items = base_xmalloc((size_t)(ps->n ? ps->n : 1) * sizeof *view.items);
    view.n = 0;
    for (int i = 0; i < ps->n; i++) {
        bool skip = false;
        for (int k = 0; k < o->nskip; k++) skip |= fnmatch(o->skip[k], ps->items[i].name, 0) == 0;
        if (!skip) view.items[view.n++] = ps->items[i];
    }
    ckpt_load_report rep = {0};
    int n = ckpt_load_params_glob(r, &view, o->load, &rep);
    free(view.items);
    if (n < 0) return -1;
    int rc = 0;
    for (int i = 0; i < rep.nskipped && !rc; i++)
        if (strstr(rep.skipped[i], ": shape ") || strstr(rep.skipped[i], ": dtype "))
            rc = base_error_set("%s: parameter %s (use --skip GLOB to start it fresh instead)", ckpt_reader_path(r),
                                rep.skipped[i]);
    if (!rc && n == 0)
        rc = base_error_set("%s: no parameter was loaded (--load '%s'); the file's names and the model's do not meet",
                            ckpt_reader_path(r), o->load);
    if (!rc && !quiet) {
        fprintf(stderr, "finetune: loaded %d parameter tensors from %s (--load '%s'%s)\n", n, ckpt_reader_path(r), o->load,
                o->nskip ? ", minus --skip" : "");
        /* newly initialised: the model's parameters not loaded (the task head, skipped ones) */
        int fresh = 0;
        for (int i = 0; i < ps->n; i++) {
            bool loaded = false;
            for (int k = 0; k < rep.nloaded && !loaded; k++) loaded = !strcmp(rep.loaded[k], ps->items[i].name);
            if (!loaded && fresh++ < 12)
                fprintf(stderr, "%s%s ", fresh == 1 ? "finetune: newly initialised: " : "", ps->items[i].name);
        }
        if (fresh > 12) fprintf(stderr, "... (%d in all)", fresh);
        if (fresh) fputc('\n', stderr);
        int nign = 0;
        for (int i = 0; i < rep.nskipped; i++) {
            const char *sk = rep.skipped[i];
            if (!strstr(sk, "in file but not in model")) continue;
            if (nign++ == 0) fprintf(stderr, "finetune: ignored (in the file, not in this model):");
            if (nign <= 8) fprintf(stderr, " %.*s", (int)strcspn(sk, ":"), sk);
        }
        if (nign > 8) fprintf(stderr, " ... (%d in all)", nign);
        if (nign) fputc('\n', stderr);
    }
    ckpt_load_report_free(&rep);
    return rc;
}

/* Encoder: config and tokenizer from --init (or the checkpoint being resumed), the task head
 * registered after the model's parameters, then the partial load from --init. */
static int setup_encoder(ft_run *R, const char *src) {
    const train_ft_options *o = R->o;
    ckpt_reader *r = ckpt_open(src);
    if (!r) return -1;
    nn_text_config c;
    int rc = train_lm_get_config(r, &c);
    if (!rc) rc = ckpt_get_tokenizer(r, &R->tok);
    if (!rc && R->tok->vocab_size != c.vocab)
        rc = base_error_set("%s: the tokenizer has %d tokens, the model %lld", src, R->tok->vocab_size, (long long)c.vocab);
    if (!rc && o->max_len > c.max_seq)
        rc = base_error_set("--max-len %lld: the model has %lld positions", (long long)o->max_len, (long long)c.max_seq);
    if (!o->max_len) R->max_len = c.max_seq < 64 ? c.max_seq : 64;
    if (!rc && o->pool != TRAIN_POOL_MEAN && o->pool != TRAIN_POOL_CLS) rc = base_error_set("--pool: expected mean or cls");
    if (rc) {
        ckpt_close(r);
        return -1;
    }
    if (o->enc_dropout >= 0) c.dropout = (float)o->enc_dropout;
    R->kind = FT_ENCODER;
    nn_text_model_register(&R->net, &c);
    R->dim = c.d;
    add_head(R, &R->net.ps);
    base_rng rng;
    base_rng_seed(&rng, o->seed);
    nn_params_alloc(&R->net.ps, &rng);
    R->ps = &R->net.ps;
    init_head(R);
    if (o->init) rc = load_report(R, r, R->ps, o->loop.quiet || o->loop.resume);
    ckpt_close(r);
    char d[256];
    snprintf(d, sizeof d, "%s encoder d %lld, %lld layers, %s pooling", nn_text_kind_name(c.kind), (long long)c.d,
             (long long)c.layers, o->pool == TRAIN_POOL_CLS ? "cls" : "mean");
    R->init_desc = base_xstrdup(d);
    return rc;
}

/* The training words with their counts (text8-style split), for bags of vectors and words. */
static data_vocab *count_words(const ft_split *s, bool pairs) {
    data_vocab *v = data_vocab_new();
    for (int64_t i = 0; i < s->n; i++)
        for (int side = 0; side < (pairs ? 2 : 1); side++) {
            char *buf;
            int64_t m = train_sent_words(side ? s->raw_b[i] : s->raw_a[i], &buf);
            const char *w = buf;
            for (int64_t j = 0; j < m; j++, w += strlen(w) + 1) data_vocab_xadd(v, w, 1);
            free(buf);
        }
    return v;
}

/* Adds the words of a split that vec holds (dev / test words get their pretrained rows even if
 * training never sees them: no label is read). */
static void add_known_words(ft_run *R, const ft_split *s, const train_vectors *vec) {
    for (int64_t i = 0; s->path && i < s->n; i++)
        for (int side = 0; side < (R->pairs ? 2 : 1); side++) {
            char *buf;
            int64_t m = train_sent_words(side ? s->raw_b[i] : s->raw_a[i], &buf);
            const char *w = buf;
            for (int64_t j = 0; j < m; j++, w += strlen(w) + 1)
                if (data_vocab_find(R->words, w) < 0 && train_vectors_find(vec, w, false) >= 0) data_vocab_xadd(R->words, w, 0);
            free(buf);
        }
}

/* Bag of vectors (vec != NULL) or bag of words: the table's vocabulary, the table, the head. */
static int setup_bag(ft_run *R, const train_vectors *vec) {
    const train_ft_options *o = R->o;
    data_vocab *cnt = count_words(&R->tr, R->pairs);
    R->words = data_vocab_new();
    int64_t from_vec = 0, added = 0, dropped = 0;
    char examples[256] = "";
    size_t ex = 0;
    for (int64_t i = 0; i < cnt->n; i++) {
        const char *w = cnt->words[i];
        bool known = vec && train_vectors_find(vec, w, false) >= 0;
        if (known) from_vec++;
        else if (cnt->counts[i] < o->min_count || (vec && o->new_words_skip)) {
            dropped++;
            continue;
        } else if (vec) {
            if (added < 8 && ex < sizeof examples) ex += (size_t)snprintf(examples + ex, sizeof examples - ex, " %s", w);
            added++;
        }
        data_vocab_xadd(R->words, w, cnt->counts[i]);
    }
    int64_t ntrain_words = cnt->n;
    data_vocab_free(cnt);
    if (vec) {
        add_known_words(R, &R->dev, vec);
        add_known_words(R, &R->te, vec);
    }
    int64_t V = R->words->n;
    if (V == 0) return base_error_set("%s: no word of the training data has a row (--min-count %lld)", R->tr.path,
                                      (long long)o->min_count);
    R->kind = vec ? FT_BOV : FT_BOW;
    R->dim = vec ? vec->dim : R->classes;
    nn_params_init(&R->bps);
    /* row-sparse grads: a batch touches a few hundred of the table's rows */
    R->emb = nn_params_add(&R->bps, "embedding.weight", 2, (const int64_t[]){V, R->dim}, NN_INIT_ZEROS, 0, 0, true);
    add_head(R, &R->bps);
    base_rng rng;
    base_rng_seed(&rng, o->seed);
    nn_params_alloc(&R->bps, &rng);
    R->ps = &R->bps;
    init_head(R);
    R->wcount = base_xmalloc((size_t)V * sizeof(int64_t));
    for (int64_t i = 0; i < V; i++) R->wcount[i] = R->words->counts[i];
    char d[512];
    if (vec) {
        /* σ of the pretrained vectors, for the new rows */
        double s2 = 0;
        int64_t nv = vec->n * vec->dim;
        for (int64_t i = 0; i < nv; i++) s2 += (double)vec->vec[i] * vec->vec[i];
        float sigma = (float)sqrt(s2 / (double)(nv ? nv : 1));
        float *E = ag_f32(R->emb);
        for (int64_t i = 0; i < V; i++) {
            int64_t j = train_vectors_find(vec, R->words->words[i], false);
            if (j >= 0) memcpy(E + i * R->dim, vec->vec + j * vec->dim, (size_t)R->dim * sizeof(float));
            else
                for (int64_t k = 0; k < R->dim; k++) E[i * R->dim + k] = sigma * base_rng_normal(&rng);
        }
        if (!o->loop.quiet && !o->loop.resume)
            fprintf(stderr, "finetune: %lld distinct training words: %lld from the vectors, %lld not in them %s%s%s; "
                            "%lld dev/test words from the vectors; table %lld x %lld\n",
                    (long long)ntrain_words, (long long)from_vec, (long long)(added + dropped),
                    o->new_words_skip ? "(dropped: --new-words skip)" : "added, initialised N(0, ",
                    o->new_words_skip ? "" : "σ)", added ? "" : "", (long long)(V - from_vec - added), (long long)V,
                    (long long)R->dim);
        if (!o->loop.quiet && !o->loop.resume && added) fprintf(stderr, "finetune: new words, e.g.:%s\n", examples);
        snprintf(d, sizeof d, "bag of %lld word vectors x %lld, mean", (long long)V, (long long)R->dim);
    } else {
        if (!o->loop.quiet && !o->loop.resume)
            fprintf(stderr, "finetune: bag of words: %lld of %lld training words (count >= %lld), %lld classes\n",
                    (long long)V, (long long)ntrain_words, (long long)o->min_count, (long long)R->classes);
        snprintf(d, sizeof d, "bag of %lld words (logistic regression)", (long long)V);
    }
    R->init_desc = base_xstrdup(d);
    return 0;
}

/* Chooses the body from --init (or the checkpoint being resumed). */
static int setup_model(ft_run *R) {
    const train_ft_options *o = R->o;
    const char *src = o->init ? o->init : o->loop.resume;
    if (!src) return base_error_set("--init is required: an `ember train mlm|lm|contrastive` (or finetune) checkpoint, "
                                    "word vectors, or bow");
    if (!strcmp(src, "bow")) {
        if (R->pairs) return base_error_set("--init bow: a bag-of-words logistic regression classifies single sentences; "
                                            "the pairs task needs an encoder or word vectors");
        return setup_bag(R, NULL);
    }
    if (!o->init) {
        /* resume without --init: the checkpoint says what it is; a bag's table and words are in it */
        ckpt_reader *q = ckpt_open(src);
        if (!q) return -1;
        char *k = NULL;
        int rc = ckpt_has(q, "/finetune/kind") ? ckpt_get_string(q, "/finetune/kind", &k) : -1;
        ckpt_close(q);
        if (rc) {
            free(k);
            return base_error_set("--resume %s: not a finetune checkpoint (no /finetune/kind)", src);
        }
        bool bow = !strcmp(k, "bow");
        free(k);
        if (bow) return setup_bag(R, NULL);
    }
    if (train_sent_is_model(src)) return setup_encoder(R, src);
    train_vectors *vec = NULL;
    if (train_vectors_load(&vec, src, NULL)) return base_error_prefix("--init");
    int rc = setup_bag(R, vec);
    train_vectors_free(vec);
    if (!rc && is_hdf5(src)) { /* an earlier bag-of-vectors finetune: its head too, when it fits */
        ckpt_reader *r = ckpt_open(src);
        if (!r) return -1;
        if (ckpt_has(r, "/params/task.out.weight")) {
            ckpt_load_report rep = {0};
            int n = ckpt_load_params_glob(r, R->ps, "task.*", &rep);
            if (n > 0 && !o->loop.quiet) fprintf(stderr, "finetune: loaded the task head (%d tensors) from %s\n", n, src);
            for (int i = 0; i < rep.nskipped && !rc; i++)
                if (strstr(rep.skipped[i], ": shape "))
                    rc = base_error_set("%s: parameter %s (use --skip 'task.*')", src, rep.skipped[i]);
            ckpt_load_report_free(&rep);
        }
        ckpt_close(r);
    }
    return rc;
}

/* ---- the forward ---------------------------------------------------------------------------------- */

/* Pooled vectors of n texts (ids tid[n]): [n, D]. */
static ag_tensor *pool_texts(ft_run *R, ag_graph *g, const int32_t *tid, int64_t n) {
    int64_t T = 1, D = R->dim;
    for (int64_t i = 0; i < n; i++)
        if (R->texts[tid[i]].n > T) T = R->texts[tid[i]].n;
    bool enc = R->kind == FT_ENCODER;
    int32_t pad_id = enc ? R->tok->special[DATA_TOK_PAD] : 0;
    for (int64_t i = 0; i < n; i++) {
        const ft_text *t = &R->texts[tid[i]];
        for (int64_t j = 0; j < T; j++) {
            bool real = j < t->n;
            R->x[i * T + j] = real ? t->ids[j] : pad_id;
            R->pad[i * T + j] = !real;
            /* mean over the text's tokens (padding and an empty bag weigh 0); cls: the first token */
            R->w[i * T + j] = enc && R->o->pool == TRAIN_POOL_CLS ? (j == 0) : real ? 1.0f / (float)t->n : 0.0f;
        }
    }
    ag_tensor *h; /* [n, T, D] */
    if (enc) {
        h = nn_text_model_hidden(g, &R->net, ag_from_i32(g, AG_SHAPE(n, T), R->x), ag_from_i32(g, AG_SHAPE(n, T), R->pad),
                                 (int)R->net.cfg.layers);
        if (!h) return NULL;
    } else {
        h = ag_gather_rows(g, R->emb, ag_from_i32(g, AG_SHAPE(n, T), R->x));
    }
    ag_tensor *w = ag_from_f32(g, AG_SHAPE(n, 1, T), R->w);
    return ag_reshape(g, ag_matmul(g, w, h, false, false), AG_SHAPE(n, D));
}

/* The head's outputs for n examples (ids in a[n], b[n] for pairs): classify [n, classes] logits;
 * pairs [n, 1] cosines of the projected pooled vectors. */
static ag_tensor *forward(ft_run *R, ag_graph *g, const int32_t *a, const int32_t *b, int64_t n, bool train) {
    ag_tensor *u = pool_texts(R, g, a, n);
    if (!u) return NULL;
    if (R->kind == FT_BOW) return ag_add(g, u, R->bias); /* [n, C] + [C] */
    float p = train ? (float)R->o->dropout : 0.0f;
    if (p > 0) u = ag_dropout(g, u, p);
    if (!R->pairs) return nn_linear_forward(g, &R->out, u);
    ag_tensor *v = pool_texts(R, g, b, n);
    if (!v) return NULL;
    if (p > 0) v = ag_dropout(g, v, p);
    ag_tensor *cos = ag_cosine_similarity(g, nn_linear_forward(g, &R->out, u), nn_linear_forward(g, &R->out, v), 1e-8f);
    return ag_reshape(g, cos, AG_SHAPE(n, 1));
}

/* Mean loss of n outputs against labels y, or against gold scores scaled to [0, 1] (pairs:
 * sentence-transformers' CosineSimilarityLoss). */
static ag_tensor *task_loss(ft_run *R, ag_graph *g, ag_tensor *out, const int32_t *y, const float *gold, int64_t n) {
    if (!R->pairs) return ag_cross_entropy(g, out, ag_from_i32(g, AG_SHAPE(n), y), -1, AG_MEAN);
    ag_tensor *d = ag_sub(g, ag_reshape(g, out, AG_SHAPE(n)), ag_from_f32(g, AG_SHAPE(n), gold));
    return ag_mean(g, ag_mul(g, d, d), 0, false);
}

/* Longest text of training example e (the batch's padded length follows it). */
static int32_t example_len(const ft_run *R, int64_t e) {
    int32_t n = R->texts[R->tr.a[e]].n;
    if (R->pairs && R->texts[R->tr.b[e]].n > n) n = R->texts[R->tr.b[e]].n;
    return n;
}

static const ft_run *g_sort_run; /* qsort's context (set and used on one thread) */

static int cmp_len(const void *x, const void *y) {
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    int32_t la = example_len(g_sort_run, a), lb = example_len(g_sort_run, b);
    return la != lb ? (la > lb) - (la < lb) : (a > b) - (a < b);
}

/* Draws the next FT_POOL batches of examples from the order, sorts them by length and shuffles the
 * order of the batches (seeded by the pool's position in the stream). */
static void fill_pool(ft_run *R) {
    int64_t B = R->o->batch, P = R->pool_batches * B;
    R->pool_epoch = R->order.epoch;
    R->pool_pos = R->order.pos;
    for (int64_t i = 0; i < P; i++) R->pool[i] = data_order_next(&R->order);
    g_sort_run = R;
    qsort(R->pool, (size_t)P, sizeof *R->pool, cmp_len);
    base_rng rng;
    base_rng_seed(&rng, R->o->seed ^ (0x9e3779b97f4a7c15ull * (uint64_t)(R->pool_epoch * 1000003 + R->pool_pos + 1)));
    for (int64_t i = 0; i < R->pool_batches; i++) R->pool_slot[i] = i;
    for (int64_t i = R->pool_batches - 1; i > 0; i--) {
        int64_t j = (int64_t)(base_rng_next(&rng) % (uint64_t)(i + 1)), t = R->pool_slot[i];
        R->pool_slot[i] = R->pool_slot[j];
        R->pool_slot[j] = t;
    }
    R->pool_next = 0;
}

static int64_t ft_next_batch(void *ctx) {
    ft_run *R = ctx;
    int64_t B = R->o->batch;
    if (R->pool_next >= R->pool_batches) fill_pool(R);
    memcpy(R->batch_ex, R->pool + R->pool_slot[R->pool_next++] * B, (size_t)B * sizeof(int64_t));
    return B / dist_size(); /* data parallel: this rank's examples; the loop sums the ranks' */
}

static ag_tensor *ft_loss(void *ctx, ag_graph *g) {
    ft_run *R = ctx;
    /* data parallel (docs/DISTRIBUTED.md): rank r trains rows [r·B/N, (r+1)·B/N) of the global batch */
    int64_t B = R->o->batch / dist_size(), off = B * dist_rank();
    int32_t *a = R->y + B, *b = a + B; /* y holds [labels B | a B | b B] */
    for (int64_t i = 0; i < B; i++) {
        int64_t e = R->batch_ex[off + i];
        a[i] = R->tr.a[e];
        if (R->pairs) {
            b[i] = R->tr.b[e];
            R->gold[i] = (float)((R->tr.score[e] - R->score_lo) / (R->score_hi - R->score_lo));
        } else {
            R->y[i] = R->tr.label[e];
        }
    }
    ag_tensor *out = forward(R, g, a, b, B, true);
    return out ? task_loss(R, g, out, R->y, R->gold, B) : NULL;
}

/* ---- evaluation --------------------------------------------------------------------------------- */

/* Outputs of the model on a split, in eval mode: pred [n] (class or score), conf [n] (probability of
 * the class; NULL allowed). g must be in no-grad eval mode. */
static int predict(ft_run *R, ag_graph *g, const ft_split *s, double *pred, double *conf, train_ft_metrics *m) {
    const int64_t chunk = 2 * R->o->batch > 64 ? 2 * R->o->batch : 64;
    double loss = 0;
    int64_t right = 0;
    int32_t *ab = base_xmalloc((size_t)(2 * chunk) * sizeof(int32_t));
    for (int64_t s0 = 0; s0 < s->n; s0 += chunk) {
        int64_t n = s->n - s0 < chunk ? s->n - s0 : chunk;
        memcpy(ab, s->a + s0, (size_t)n * sizeof(int32_t));
        if (R->pairs) memcpy(ab + chunk, s->b + s0, (size_t)n * sizeof(int32_t));
        ag_tensor *out = forward(R, g, ab, ab + chunk, n, false);
        if (!out) {
            free(ab);
            return -1;
        }
        const float *o = ag_f32(out);
        for (int64_t i = 0; i < n; i++) {
            if (R->pairs) { /* the cosine back on the training scores' scale */
                double sc = R->score_lo + (double)o[i] * (R->score_hi - R->score_lo), d = sc - s->score[s0 + i];
                pred[s0 + i] = sc;
                loss += d * d;
                continue;
            }
            const float *row = o + i * R->classes;
            int64_t best = 0;
            double mx = row[0], z = 0;
            for (int64_t c = 1; c < R->classes; c++)
                if (row[c] > mx) mx = row[c], best = c;
            for (int64_t c = 0; c < R->classes; c++) z += exp((double)row[c] - mx);
            pred[s0 + i] = (double)best;
            if (conf) conf[s0 + i] = 1.0 / z;
            loss += log(z) + mx - row[s->label[s0 + i]];
            right += best == s->label[s0 + i];
        }
        ag_graph_reset(g);
    }
    free(ab);
    memset(m, 0, sizeof *m);
    m->pairs = R->pairs;
    m->n = s->n;
    m->loss = loss / (double)s->n;
    if (R->pairs) {
        double *gold = base_xmalloc((size_t)s->n * sizeof(double));
        for (int64_t i = 0; i < s->n; i++) gold[i] = s->score[i];
        m->spearman = 100.0 * train_spearman(pred, gold, s->n);
        m->pearson = 100.0 * train_pearson(pred, gold, s->n);
        free(gold);
    } else {
        m->accuracy = 100.0 * (double)right / (double)s->n;
    }
    return 0;
}

static int eval_split(ft_run *R, ag_graph *g, const ft_split *s, train_ft_metrics *m) {
    double *pred = base_xmalloc((size_t)s->n * sizeof(double));
    int rc = predict(R, g, s, pred, NULL, m);
    free(pred);
    return rc;
}

static void metrics_result(const ft_run *R, const train_ft_metrics *m, train_eval_result *out, bool dev) {
    memset(out, 0, sizeof *out);
    if (R->pairs) {
        out->score = m->spearman;
        out->key[0] = dev ? "dev_spearman" : "test_spearman";
        out->value[0] = m->spearman;
        out->key[1] = dev ? "dev_pearson" : "test_pearson";
        out->value[1] = m->pearson;
    } else {
        out->score = m->accuracy;
        out->key[0] = dev ? "dev_accuracy" : "test_accuracy";
        out->value[0] = m->accuracy;
        out->key[1] = dev ? "dev_loss" : "test_loss";
        out->value[1] = m->loss;
    }
    out->n = 2;
    if (R->pairs) {
        out->key[2] = dev ? "dev_mse" : "test_mse";
        out->value[2] = m->loss;
        out->n = 3;
    }
}

static int ft_eval(void *ctx, ag_graph *g, train_eval_result *out) {
    ft_run *R = ctx;
    train_ft_metrics m;
    if (eval_split(R, g, &R->dev, &m)) return -1;
    metrics_result(R, &m, out, true);
    /* without a checkpoint the best parameters are kept in memory, for the test at the end */
    if (R->best && (!R->has_best || out->score > R->best_score)) {
        memcpy(R->best, R->ps->values, (size_t)values_size(R->ps) * sizeof(float));
        R->best_score = out->score;
        R->has_best = true;
    }
    return 0;
}

/* ---- checkpoints ------------------------------------------------------------------------------ */

static int put_finetune(ft_run *R, ckpt_writer *w) {
    int rc = 0;
    if (R->kind == FT_ENCODER) {
        rc = train_lm_put_model(w, &R->net.cfg);
        if (!rc) rc = ckpt_put_tokenizer(w, R->tok);
    } else {
        rc = ckpt_put_vocab(w, (const char *const *)R->words->words, R->wcount, R->words->n);
    }
    if (!rc) rc = ckpt_put_string(w, "/finetune/task", R->pairs ? "pairs" : "classify");
    if (!rc) rc = ckpt_put_string(w, "/finetune/kind", kind_names[R->kind]);
    if (!rc) rc = ckpt_put_i64(w, "/finetune/classes", R->classes);
    if (!rc && R->pairs) rc = ckpt_put_f64(w, "/finetune/score_lo", R->score_lo);
    if (!rc && R->pairs) rc = ckpt_put_f64(w, "/finetune/score_hi", R->score_hi);
    if (!rc) rc = ckpt_put_i64(w, "/finetune/max_len", R->max_len);
    if (!rc) rc = ckpt_put_string(w, "/finetune/pool", R->o->pool == TRAIN_POOL_CLS ? "cls" : "mean");
    /* an encoder's checkpoint is also read as a sentence encoder (`ember eval sts`): its pooling */
    if (!rc && R->kind == FT_ENCODER) rc = ckpt_put_string(w, "/contrastive/pool", R->o->pool == TRAIN_POOL_CLS ? "cls" : "mean");
    return rc;
}

static int ft_save(void *ctx, ckpt_writer *w) {
    ft_run *R = ctx;
    int rc = put_finetune(R, w);
    bool pooled = R->pool_next < R->pool_batches; /* inside a pool: the stream's state where the pool began */
    if (!rc) rc = ckpt_put_i64(w, "/state/data/epoch", pooled ? R->pool_epoch : R->order.epoch);
    if (!rc) rc = ckpt_put_i64(w, "/state/data/pos", pooled ? R->pool_pos : R->order.pos);
    if (!rc) rc = ckpt_put_i64(w, "/state/data/pool_next", R->pool_next);
    return rc;
}

static int ft_load(void *ctx, ckpt_reader *r) {
    ft_run *R = ctx;
    int64_t epoch, pos, next;
    if (ckpt_get_i64(r, "/state/data/epoch", &epoch) || ckpt_get_i64(r, "/state/data/pos", &pos) ||
        ckpt_get_i64(r, "/state/data/pool_next", &next))
        return -1;
    if (epoch < 0 || pos < 0 || pos > R->tr.n || next < 0 || next > R->pool_batches)
        return base_error_set("%s: /state/data: epoch %lld, position %lld, pool batch %lld outside the %lld training "
                              "examples", ckpt_reader_path(r), (long long)epoch, (long long)pos, (long long)next,
                              (long long)R->tr.n);
    data_order_free(&R->order);
    if (data_order_restore(&R->order, R->tr.n, R->o->seed, epoch, pos)) return -1;
    R->pool_next = R->pool_batches;
    if (next < R->pool_batches) {
        fill_pool(R);
        R->pool_next = next;
    }
    return 0;
}

/* ---- set-up ------------------------------------------------------------------------------------ */

/* The task's kind from its name, and its files (the CLI fills the shared data's defaults). */
static int resolve_task(ft_run *R, const char **tr, const char **dev, const char **te) {
    const train_ft_options *o = R->o;
    const char *t = o->task;
    if (!strcmp(t, "classify") || !strcmp(t, "sst2")) R->pairs = false;
    else if (!strcmp(t, "pairs") || !strcmp(t, "stsb") || !strcmp(t, "sick-r")) R->pairs = true;
    else return base_error_set("--task '%s': expected sst2, stsb, sick-r, classify or pairs", t);
    *tr = o->train;
    *dev = o->dev;
    *te = o->test;
    if (!*tr) return base_error_set("--train FILE is required for --task %s", t);
    if (!*dev) return base_error_set("--dev FILE is required for --task %s (the metric that picks the best model)", t);
    return 0;
}

int train_ft_task_files(const char *task, const char *root, char files[3][4096]) {
    const char *f[3] = {NULL, NULL, NULL};
    if (!strcmp(task, "sst2")) {
        f[0] = "classification/sst2/train.tsv.gz";
        f[1] = "classification/sst2/dev.tsv";
        f[2] = "classification/sst2/test.tsv";
    } else if (!strcmp(task, "stsb")) {
        f[0] = "sentence-sim/stsbenchmark/sts-train.csv";
        f[1] = "sentence-sim/stsbenchmark/sts-dev.csv";
        f[2] = "sentence-sim/stsbenchmark/sts-test.csv";
    } else if (!strcmp(task, "sick-r")) {
        f[0] = f[1] = f[2] = "sentence-sim/sick/SICK.txt";
    } else {
        return 0;
    }
    for (int k = 0; k < 3; k++) snprintf(files[k], 4096, "%s/%s", root, f[k]);
    return 1;
}

static char *trainer_json(const ft_run *R) {
    const train_ft_options *o = R->o;
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    fprintf(f, "{\"trainer\":\"finetune\",\"task\":\"%s\",\"kind\":\"%s\",\"classes\":%lld,\"d\":%lld,", R->pairs ? "pairs" : "classify",
            kind_names[R->kind], (long long)R->classes, (long long)R->dim);
    if (R->pairs) fprintf(f, "\"head\":\"cosine\",\"score_range\":[%.9g,%.9g],", R->score_lo, R->score_hi);
    if (R->kind == FT_ENCODER)
        fprintf(f, "\"model\":\"%s\",\"layers\":%lld,\"vocab\":%lld,\"tokenizer_fingerprint\":\"%016llx\",\"pool\":\"%s\",",
                nn_text_kind_name(R->net.cfg.kind), (long long)R->net.cfg.layers, (long long)R->net.cfg.vocab,
                (unsigned long long)data_tokenizer_fingerprint(R->tok), o->pool == TRAIN_POOL_CLS ? "cls" : "mean");
    else
        fprintf(f, "\"words\":%lld,\"min_count\":%lld,\"new_words\":\"%s\",", (long long)R->words->n, (long long)o->min_count,
                o->new_words_skip ? "skip" : "init");
    fprintf(f, "\"batch\":%lld,\"max_len\":%lld,\"dropout\":%.6g,\"enc_dropout\":%.6g,\"lr_decay\":%.6g,\"groups\":[",
            (long long)o->batch, (long long)R->max_len, o->dropout, R->kind == FT_ENCODER ? (double)R->net.cfg.dropout : 0.0,
            o->lr_decay);
    for (int i = 0; i < o->ngroup; i++) {
        if (i) fputc(',', f);
        base_json_str(f, o->group[i]);
    }
    fprintf(f, "],\"seed\":%llu,\"examples\":%lld,\"data_hash\":\"%016llx\"}", (unsigned long long)o->seed,
            (long long)R->tr.n, (unsigned long long)R->data_hash);
    fclose(f);
    return buf;
}

/* Parses "GLOB:lr=X[:wd=Y]" (or "GLOB:wd=Y"). */
static int parse_group(const char *s, char *glob, size_t gsize, double *lr, double *wd) {
    *lr = -1;
    *wd = -1;
    const char *c = strchr(s, ':');
    if (!c || c == s || (size_t)(c - s) >= gsize)
        return base_error_set("--group '%s': expected GLOB:lr=X[:wd=Y] (e.g. 'enc.layers.0.*:lr=1e-5')", s);
    memcpy(glob, s, (size_t)(c - s));
    glob[c - s] = 0;
    for (const char *p = c + 1; *p;) {
        char *end;
        if (!strncmp(p, "lr=", 3)) *lr = strtod(p + 3, &end);
        else if (!strncmp(p, "wd=", 3)) *wd = strtod(p + 3, &end);
        else return base_error_set("--group '%s': expected lr=X or wd=Y after the glob, got '%s'", s, p);
        if (end == p + 3 || (*end && *end != ':'))
            return base_error_set("--group '%s': expected a number after '%.3s'", s, p);
        p = *end ? end + 1 : end;
    }
    if ((*lr < 0 && *wd < 0) || (*lr != -1 && !(*lr >= 0)) || (*wd != -1 && !(*wd >= 0)))
        return base_error_set("--group '%s': expected lr=X and/or wd=Y with non-negative numbers", s);
    return 0;
}

/* Layer-wise decay, then the explicit groups, on the loop's optimizer. */
static int set_groups(ft_run *R, train_loop *L) {
    const train_ft_options *o = R->o;
    optim *opt = train_loop_optim(L);
    int64_t layers = R->kind == FT_ENCODER ? R->net.cfg.layers : 0;
    if (o->lr_decay != 1.0)
        for (int i = 0; i < R->ps->n; i++) {
            const char *name = R->ps->items[i].name;
            optim_set_group(opt, name, (float)train_ft_layer_scale(name, layers, o->lr_decay), OPTIM_KEEP_WD);
        }
    for (int k = 0; k < o->ngroup; k++) {
        char glob[256];
        double lr, wd;
        if (parse_group(o->group[k], glob, sizeof glob, &lr, &wd)) return -1;
        int n = 0;
        for (int i = 0; i < R->ps->n; i++) {
            if (fnmatch(glob, R->ps->items[i].name, 0) != 0) continue;
            float scale = lr >= 0 ? (o->loop.lr > 0 ? (float)(lr / o->loop.lr) : 0.0f) : optim_param_lr_scale(opt, i);
            optim_set_group(opt, R->ps->items[i].name, scale, wd >= 0 ? (float)wd : OPTIM_KEEP_WD);
            n++;
        }
        if (n == 0) return base_error_set("--group '%s': the glob matches no parameter", o->group[k]);
    }
    return 0;
}

/* The parameter table (Keras' summary(), with what an optimizer will do to each). */
static void print_summary(ft_run *R, train_loop *L, FILE *f) {
    optim *opt = train_loop_optim(L);
    const train_loop_config *c = &R->o->loop;
    fprintf(f, "%-40s %-16s %12s  %-26s %10s %8s\n", "parameter", "shape", "count", "status", "lr", "wd");
    int64_t tr = 0, fr = 0;
    for (int i = 0; i < R->ps->n; i++) {
        const nn_param *p = &R->ps->items[i];
        char shape[64], status[64] = "trainable";
        ag_shape_str(p->t, shape, sizeof shape);
        if (p->frozen) {
            snprintf(status, sizeof status, "frozen");
            for (int k = 0; k < c->nunfreeze; k++)
                if (fnmatch(c->unfreeze[k].glob, p->name, 0) == 0) {
                    snprintf(status, sizeof status, "frozen, unfrozen at step %lld", (long long)c->unfreeze[k].step);
                    break;
                }
        }
        if (p->frozen) fr += p->t->numel;
        else tr += p->t->numel;
        fprintf(f, "%-40s %-16s %12lld  %-26s %10.3g %8.3g\n", p->name, shape, (long long)p->t->numel, status,
                (double)(c->lr * optim_param_lr_scale(opt, i)), (double)optim_param_weight_decay(opt, i));
    }
    fprintf(f, "total %lld parameters: %lld trainable, %lld frozen (%.1f MB of float32; gradient memory %.1f MB, "
               "Adam moments up to %.1f MB)\n", (long long)(tr + fr), (long long)tr, (long long)fr,
            4e-6 * (double)(tr + fr), 4e-6 * (double)R->ps->total_dense, 8e-6 * (double)tr);
}

static void ft_free(ft_run *R) {
    if (R->kind == FT_ENCODER && (R->net.ps.allocated || R->net.ps.n)) nn_text_model_free(&R->net);
    if (R->kind != FT_ENCODER) nn_params_free(&R->bps);
    data_tokenizer_free(R->tok);
    data_vocab_free(R->words);
    free(R->wcount);
    for (int64_t i = 0; i < R->ntexts; i++) free(R->texts[i].ids);
    free(R->texts);
    split_free(&R->tr);
    split_free(&R->dev);
    split_free(&R->te);
    data_order_free(&R->order);
    free(R->batch_ex);
    free(R->pool);
    free(R->pool_slot);
    free(R->x);
    free(R->pad);
    free(R->w);
    free(R->y);
    free(R->gold);
    free(R->best);
    free(R->init_desc);
}

static void alloc_buffers(ft_run *R, int64_t B) {
    int64_t chunk = 2 * B > 64 ? 2 * B : 64, rows = 2 * chunk; /* evaluation chunks are the larger */
    R->batch_ex = base_xmalloc((size_t)B * sizeof(int64_t));
    R->pool_batches = R->tr.n / B < FT_POOL ? R->tr.n / B : FT_POOL;
    if (R->pool_batches < 1) R->pool_batches = 1;
    R->pool = base_xmalloc((size_t)(R->pool_batches * B) * sizeof(int64_t));
    R->pool_slot = base_xmalloc((size_t)R->pool_batches * sizeof(int64_t));
    R->pool_next = R->pool_batches;
    R->x = base_xmalloc((size_t)(rows * R->max_len) * sizeof(int32_t));
    R->pad = base_xmalloc((size_t)(rows * R->max_len) * sizeof(int32_t));
    R->w = base_xmalloc((size_t)(rows * R->max_len) * sizeof(float));
    R->y = base_xmalloc((size_t)(3 * B) * sizeof(int32_t));
    R->gold = base_xmalloc((size_t)B * sizeof(float));
}

/* Writes predictions of split s: index, prediction, gold, confidence (classify), the text(s). */
static int write_predictions(ft_run *R, ag_graph *g, const ft_split *s, const char *path, train_ft_metrics *m) {
    double *pred = base_xmalloc((size_t)s->n * sizeof(double)), *conf = base_xmalloc((size_t)s->n * sizeof(double));
    int rc = predict(R, g, s, pred, conf, m);
    if (!rc && path) {
        char tmp[4200];
        base_temp_name(tmp, sizeof tmp, path);
        FILE *f = fopen(tmp, "w");
        if (!f) rc = base_error_set("%s: cannot write predictions: %s", path, strerror(errno));
        else {
            if (R->pairs) fputs("index\tprediction\tgold\tsentence1\tsentence2\n", f);
            else fputs("index\tprediction\tgold\tprobability\tsentence\n", f);
            for (int64_t i = 0; i < s->n; i++) {
                if (R->pairs)
                    fprintf(f, "%lld\t%.4f\t%.4f\t%s\t%s\n", (long long)i, pred[i], (double)s->score[i], s->raw_a[i], s->raw_b[i]);
                else
                    fprintf(f, "%lld\t%d\t%d\t%.4f\t%s\n", (long long)i, (int)pred[i], s->label[i], conf[i], s->raw_a[i]);
            }
            if (fclose(f) || rename(tmp, path)) {
                rc = base_error_set("%s: cannot write predictions: %s", path, strerror(errno));
                remove(tmp);
            }
        }
    }
    free(pred);
    free(conf);
    return rc;
}

static long peak_rss_mb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024;
}

/* The best model's parameters back in place: the best checkpoint's when the run saved one, else the
 * in-memory snapshot, else the last step's. Returns a description. */
static const char *restore_best(ft_run *R) {
    const train_loop_config *c = &R->o->loop;
    char path[4200];
    const char *best = c->best;
    if (!best && c->checkpoint) {
        snprintf(path, sizeof path, "%s.best", c->checkpoint);
        best = path;
    }
    if (best && !access(best, R_OK)) {
        ckpt_reader *r = ckpt_open(best);
        if (r && ckpt_load_params(r, R->ps, true) >= 0) {
            ckpt_close(r);
            return "the best dev checkpoint";
        }
        ckpt_close(r);
    }
    if (R->best && R->has_best) {
        memcpy(R->ps->values, R->best, (size_t)values_size(R->ps) * sizeof(float));
        return "the best dev evaluation";
    }
    return "the last step";
}

int train_ft_run(const train_ft_options *o_in) {
    train_ft_options o_rank = *o_in; /* data parallel: rank 0 alone prints and writes predictions */
    if (dist_rank() > 0) o_rank.loop.quiet = true, o_rank.predictions = NULL;
    const train_ft_options *o = &o_rank;
    if (o->batch % dist_size())
        return base_error_set("--batch %lld: the global batch must be a multiple of the %d ranks", (long long)o->batch,
                              dist_size());
    if (o->batch < 1 || o->batch > 4096) return base_error_set("--batch %lld: expected 1 .. 4096", (long long)o->batch);
    if (o->max_len < 0) return base_error_set("--max-len %lld: expected at least 1", (long long)o->max_len);
    if (!(o->dropout >= 0 && o->dropout < 1)) return base_error_set("--dropout %g: expected [0, 1)", o->dropout);
    if (!(o->lr_decay > 0 && o->lr_decay <= 1)) return base_error_set("--lr-decay %g: expected (0, 1]", o->lr_decay);
    if (o->classes < 0 || o->classes == 1) return base_error_set("--classes %lld: expected at least 2", (long long)o->classes);
    train_set_threads(o->threads);
    ft_run R;
    memset(&R, 0, sizeof R);
    R.o = o;
    R.max_len = o->max_len ? o->max_len : 64;
    int rc = -1;
    char *tj = NULL;
    train_loop *L = NULL;
    const char *trp = NULL, *devp = NULL, *tep = NULL;
    double t_setup = base_now_sec();
    if (resolve_task(&R, &trp, &devp, &tep)) goto out;
    if (read_split(&R, &R.tr, trp, "TRAIN") || read_split(&R, &R.dev, devp, "TRIAL") ||
        (tep && read_split(&R, &R.te, tep, "TEST")))
        goto out;
    if (check_labels(&R)) goto out;
    {
        uint64_t h = 0xcbf29ce484222325ull;
        for (int64_t i = 0; i < R.tr.n; i++) {
            h = fnv1a(R.tr.raw_a[i], strlen(R.tr.raw_a[i]) + 1, h);
            if (R.pairs) h = fnv1a(R.tr.raw_b[i], strlen(R.tr.raw_b[i]) + 1, h);
            h = R.pairs ? fnv1a(&R.tr.score[i], sizeof(float), h) : fnv1a(&R.tr.label[i], sizeof(int32_t), h);
        }
        R.data_hash = h;
    }
    if (setup_model(&R)) goto out;
    if (encode_splits(&R)) goto out;
    if (data_order_init(&R.order, R.tr.n, o->seed)) goto out;
    alloc_buffers(&R, o->batch);
    train_loop_config lc = o->loop;
    tj = trainer_json(&R);
    lc.config_json = tj;
    lc.seed = o->seed;
    double steps_per_epoch = (double)R.tr.n / ((double)o->batch * (double)(lc.accum > 0 ? lc.accum : 1));
    if (o->epochs > 0) {
        lc.steps = (int64_t)ceil(o->epochs * steps_per_epoch);
        if (lc.steps < 1) lc.steps = 1;
    }
    train_loop_unfreeze_epochs(&lc, steps_per_epoch);
    if (lc.eval_every == 0) lc.eval_every = (int64_t)ceil(steps_per_epoch / 2); /* twice an epoch */
    /* the MLM / LM output head is not part of the task's model: keep its bytes, no grads */
    if (R.kind == FT_ENCODER) train_lm_freeze_head(&R.net, &lc);
    train_loop_trainer tr = {.ctx = &R, .next_batch = ft_next_batch, .loss = ft_loss, .eval = ft_eval,
                             .save = ft_save, .load = ft_load};
    L = train_loop_new(&lc, R.ps, &tr);
    if (!L) goto out;
    if (set_groups(&R, L)) goto out;
    if (o->summary) {
        print_summary(&R, L, stdout);
        rc = 0;
        goto out;
    }
    if (!lc.checkpoint) R.best = base_xaligned((size_t)values_size(R.ps) * sizeof(float));
    if (!o->loop.quiet) {
        fprintf(stderr, "finetune: %s task, %lld training examples from %s (%lld classes%s); %s; "
                        "batch %lld, %lld steps (%.1f epochs), eval every %lld steps on %s (%lld); %lld of %lld parameters "
                        "trainable\n",
                R.pairs ? "pairs" : "classify", (long long)R.tr.n, trp, (long long)R.classes, R.pairs ? ", regression" : "",
                R.init_desc, (long long)o->batch, (long long)lc.steps, (double)lc.steps / steps_per_epoch,
                (long long)lc.eval_every, devp, (long long)R.dev.n, (long long)nn_params_count_trainable(R.ps),
                (long long)nn_params_count(R.ps, NULL));
    }
    double t0 = base_now_sec();
    rc = train_loop_run(L);
    double wall = base_now_sec() - t0;
    if (rc != 0) goto out;
    /* the best model on dev, evaluated on dev and test; predictions written */
    const char *from = restore_best(&R);
    ag_graph *g = train_loop_graph(L);
    ag_graph_reset(g);
    ag_set_training(g, false);
    ag_no_grad_begin(g);
    train_ft_metrics md, mt;
    const ft_split *ps = R.te.path ? &R.te : &R.dev;
    rc = eval_split(&R, g, &R.dev, &md);
    if (!rc) rc = write_predictions(&R, g, ps, o->predictions, &mt);
    ag_no_grad_end(g);
    ag_set_training(g, true);
    if (rc) goto out;
    train_eval_result res;
    metrics_result(&R, &md, &res, true);
    train_loop_log_eval(L, "best_dev", &res);
    if (R.te.path) {
        metrics_result(&R, &mt, &res, false);
        train_loop_log_eval(L, "test", &res);
    }
    if (!o->loop.quiet) {
        fprintf(stderr, "finetune: %lld steps%s in %.1f s (%.0f examples/s after the first step; set-up %.1f s), peak RSS %ld MB\n",
                (long long)train_loop_step(L), train_loop_stopped_early(L) ? " (early stop)" : "", wall,
                train_loop_tokens_per_sec(L), t0 - t_setup, peak_rss_mb());
        if (R.pairs)
            fprintf(stderr, "finetune: %s: dev Spearman %.2f, Pearson %.2f (%lld pairs)", from, md.spearman, md.pearson,
                    (long long)md.n);
        else
            fprintf(stderr, "finetune: %s: dev accuracy %.2f %% (%lld)", from, md.accuracy, (long long)md.n);
        if (R.te.path) {
            if (R.pairs) fprintf(stderr, "; test Spearman %.2f, Pearson %.2f (%lld pairs)", mt.spearman, mt.pearson, (long long)mt.n);
            else fprintf(stderr, "; test accuracy %.2f %% (%lld)", mt.accuracy, (long long)mt.n);
        }
        fputc('\n', stderr);
        if (o->predictions) fprintf(stderr, "finetune: predictions on %s written to %s\n", ps->path, o->predictions);
    }
    {
        char title[256];
        snprintf(title, sizeof title, "ember finetune (%s): %s", R.pairs ? "pairs" : "classify", R.init_desc);
        if (train_loop_plot(L, o->plot, title)) rc = -1;
    }
out:
    train_loop_free(L);
    free(tj);
    ft_free(&R);
    return rc;
}

/* ---- evaluating a finetune checkpoint ----------------------------------------------------------- */

int train_ft_evaluate(const char *model, const char *data, const char *predictions, train_ft_metrics *out) {
    ckpt_reader *r = ckpt_open(model);
    if (!r) return -1;
    char *task = NULL, *kind = NULL, *pool = NULL;
    int64_t classes = 0, max_len = 0;
    int rc = 0;
    if (!ckpt_has(r, "/finetune/task") || !ckpt_has(r, "/finetune/kind"))
        rc = base_error_set("%s: not an `ember finetune` checkpoint (no /finetune/task)", model);
    if (!rc) rc = ckpt_get_string(r, "/finetune/task", &task) || ckpt_get_string(r, "/finetune/kind", &kind) ||
                  ckpt_get_string(r, "/finetune/pool", &pool) || ckpt_get_i64(r, "/finetune/classes", &classes) ||
                  ckpt_get_i64(r, "/finetune/max_len", &max_len) ? -1 : 0;
    train_ft_options o = train_ft_options_default();
    o.max_len = max_len > 0 ? max_len : 64;
    o.pool = pool && !strcmp(pool, "cls") ? TRAIN_POOL_CLS : TRAIN_POOL_MEAN;
    o.loop.quiet = true;
    ft_run R;
    memset(&R, 0, sizeof R);
    R.o = &o;
    R.max_len = o.max_len;
    R.pairs = task && !strcmp(task, "pairs");
    R.classes = classes;
    if (!rc && R.pairs && (ckpt_get_f64(r, "/finetune/score_lo", &R.score_lo) || ckpt_get_f64(r, "/finetune/score_hi", &R.score_hi)))
        rc = -1;
    ag_graph *g = NULL;
    base_rng rng; /* the values are all overwritten by the load */
    base_rng_seed(&rng, 1);
    if (!rc) rc = read_split(&R, &R.te, data, "TEST");
    if (!rc && !R.pairs)
        for (int64_t i = 0; i < R.te.n && !rc; i++)
            if (R.te.label[i] < 0 || R.te.label[i] >= classes)
                rc = base_error_set("%s:%lld: label %d is out of range: the model has %lld classes", data,
                                    (long long)R.te.line[i], R.te.label[i], (long long)classes);
    if (!rc && !strcmp(kind, "encoder")) {
        nn_text_config c;
        rc = train_lm_get_config(r, &c);
        if (!rc) rc = ckpt_get_tokenizer(r, &R.tok);
        if (!rc) {
            R.kind = FT_ENCODER;
            nn_text_model_register(&R.net, &c);
            R.dim = c.d;
            add_head(&R, &R.net.ps);
            nn_params_alloc(&R.net.ps, &rng);
            R.ps = &R.net.ps;
        }
    } else if (!rc) {
        char **words = NULL;
        int64_t *counts = NULL, n = 0;
        ckpt_info info;
        rc = ckpt_get_vocab(r, &words, &counts, &n) || ckpt_get_info(r, "/params/embedding.weight", &info) ? -1 : 0;
        if (!rc) {
            R.kind = !strcmp(kind, "bow") ? FT_BOW : FT_BOV;
            R.words = data_vocab_new();
            for (int64_t i = 0; i < n; i++) data_vocab_xadd(R.words, words[i], counts[i]);
            R.dim = info.shape[1];
            nn_params_init(&R.bps);
            R.emb = nn_params_add(&R.bps, "embedding.weight", 2, (const int64_t[]){n, R.dim}, NN_INIT_ZEROS, 0, 0, true);
            add_head(&R, &R.bps);
            nn_params_alloc(&R.bps, &rng);
            R.ps = &R.bps;
        }
        ckpt_free_words(words, n);
        free(counts);
    }
    if (!rc) {
        /* strict on what matters: every parameter of the rebuilt model must have come from the file */
        ckpt_load_report rep = {0};
        int n = ckpt_load_params_glob(r, R.ps, "*", &rep);
        for (int i = 0; i < rep.nskipped && !rc; i++)
            if (!strstr(rep.skipped[i], "in file but not in model"))
                rc = base_error_set("%s: %s", model, rep.skipped[i]);
        if (n < 0) rc = -1;
        ckpt_load_report_free(&rep);
    }
    if (!rc) rc = encode_splits(&R);
    if (!rc) {
        alloc_buffers(&R, 32);
        g = ag_graph_new(0);
        ag_set_training(g, false);
        ag_no_grad_begin(g);
        rc = write_predictions(&R, g, &R.te, predictions, out);
        ag_no_grad_end(g);
    }
    ag_graph_free(g);
    free(task);
    free(kind);
    free(pool);
    ckpt_close(r);
    ft_free(&R);
    return rc;
}
