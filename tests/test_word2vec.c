/* test_word2vec.c — the Word2Vec trainer learns (loss falls, clusters separate) in all four modes;
 * deterministic runs are bit-reproducible; a checkpointed, resumed run equals the uninterrupted
 * one bit for bit; a diverging run stops with a clear NaN/Inf message; /config escapes any corpus path. */
#include "support/test_util.h"

#include "checkpoints/ckpt.h"
#include "train/word2vec.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NCLUSTER 6
#define PER_CLUSTER 8

static char g_corpus[4096];

/* A corpus of ~60k words: each line draws 6..14 words from one cluster, plus a shared filler word
 * ("the") sprinkled in so subsampling has something to do. Words: c<k>w<i>. */
static void write_corpus(const char *path) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    base_rng r;
    base_rng_seed(&r, 42);
    for (int line = 0; line < 6000; line++) {
        int k = (int)base_rng_below(&r, NCLUSTER);
        int n = 6 + (int)base_rng_below(&r, 9);
        for (int i = 0; i < n; i++) {
            if (base_rng_below(&r, 5) == 0) fputs("the ", f);
            fprintf(f, "c%dw%u ", k, base_rng_below(&r, PER_CLUSTER));
        }
        fputc('\n', f);
    }
    fclose(f);
}

static int setup(void **state) {
    tu_group_tempdir_setup(state);
    snprintf(g_corpus, sizeof g_corpus, "%s", tu_group_path("clusters.txt"));
    write_corpus(g_corpus);
    return 0;
}

static void small_options(train_w2v_options *o) {
    train_w2v_options_default(o);
    o->train = g_corpus;
    o->size = 24;
    o->window = 4;
    o->iter = 3;
    o->threads = 2;
    o->min_count = 2;
    o->debug = 0;
    o->progress = false;
}

/* mean cosine within clusters minus mean cosine across clusters */
static double cluster_margin(const train_w2v_model *m, double *within_out, double *across_out) {
    double within = 0, across = 0;
    int nw = 0, na = 0;
    for (int k1 = 0; k1 < NCLUSTER; k1++)
        for (int i1 = 0; i1 < PER_CLUSTER; i1++)
            for (int k2 = 0; k2 < NCLUSTER; k2++)
                for (int i2 = 0; i2 < PER_CLUSTER; i2++) {
                    if (k1 == k2 && i1 == i2) continue;
                    char a[32], b[32];
                    snprintf(a, sizeof a, "c%dw%d", k1, i1);
                    snprintf(b, sizeof b, "c%dw%d", k2, i2);
                    int32_t ia = data_vocab_find(m->vocab, a), ib = data_vocab_find(m->vocab, b);
                    assert_true(ia >= 0 && ib >= 0);
                    double c = train_w2v_cosine(m, ia, ib);
                    if (k1 == k2) {
                        within += c;
                        nw++;
                    } else {
                        across += c;
                        na++;
                    }
                }
    within /= nw;
    across /= na;
    if (within_out) *within_out = within;
    if (across_out) *across_out = across;
    return within - across;
}

static void learn(int cbow, int hs, int negative) {
    train_w2v_options o;
    small_options(&o);
    o.cbow = cbow;
    o.hs = hs;
    o.negative = negative;
    train_w2v_model *m = NULL;
    int rc = train_w2v_run(&o, &m);
    if (rc != 0) fail_msg("train_w2v_run: %s", base_error_msg());
    double within, across;
    double margin = cluster_margin(m, &within, &across);
    printf("cbow %d hs %d negative %d: loss %.4f -> %.4f, cosine within %.3f across %.3f, %.0f words/s/thread\n",
           cbow, hs, negative, m->first_loss, m->final_loss, within, across, m->words_per_sec_thread);
    assert_true(isfinite(m->first_loss) && isfinite(m->final_loss));
    assert_true(m->final_loss < 0.9 * m->first_loss);
    assert_true(margin > 0.3);
    assert_int_equal(m->words_done, 3 * m->vocab->total);
    train_w2v_model_free(m);
}

static void test_skipgram_ns(void **s) { (void)s; learn(0, 0, 5); }
static void test_cbow_ns(void **s) { (void)s; learn(1, 0, 5); }
static void test_skipgram_hs(void **s) { (void)s; learn(0, 1, 0); }
static void test_cbow_hs(void **s) { (void)s; learn(1, 1, 0); }
static void test_skipgram_hs_ns(void **s) { (void)s; learn(0, 1, 3); }

static train_w2v_model *run_det(uint64_t seed, const char *ckpt, int64_t every, int64_t stop, const char *resume) {
    train_w2v_options o;
    small_options(&o);
    o.cbow = 0;
    o.hs = 1;
    o.negative = 3;
    o.sample = 1e-2;
    o.deterministic = true;
    o.seed = seed;
    o.checkpoint = ckpt;
    o.checkpoint_every = every;
    o.stop_after_words = stop;
    o.resume = resume;
    train_w2v_model *m = NULL;
    if (train_w2v_run(&o, &m) != 0) fail_msg("train_w2v_run: %s", base_error_msg());
    return m;
}

static void assert_same_model(const train_w2v_model *a, const train_w2v_model *b) {
    assert_int_equal(a->vocab->n, b->vocab->n);
    size_t bytes = (size_t)(a->vocab->n * a->dim) * sizeof(float);
    assert_memory_equal(a->syn0, b->syn0, bytes);
    assert_memory_equal(a->syn1, b->syn1, bytes);
    assert_memory_equal(a->syn1neg, b->syn1neg, bytes);
}

static void test_deterministic(void **s) {
    (void)s;
    train_w2v_model *a = run_det(7, NULL, 0, 0, NULL);
    train_w2v_model *b = run_det(7, NULL, 0, 0, NULL);
    train_w2v_model *c = run_det(8, NULL, 0, 0, NULL);
    assert_int_equal(a->threads, 1);
    assert_same_model(a, b);
    size_t bytes = (size_t)(a->vocab->n * a->dim) * sizeof(float);
    assert_true(memcmp(a->syn0, c->syn0, bytes) != 0); /* the seed matters */
    train_w2v_model_free(a);
    train_w2v_model_free(b);
    train_w2v_model_free(c);
}

/* N words straight (with periodic checkpoints, which must not change the result) == k words,
 * checkpoint, resume to N. */
static void test_resume(void **s) {
    (void)s;
    char ck1[4200], ck2[4200];
    snprintf(ck1, sizeof ck1, "%s/periodic.ckpt", tu_group_dir());
    snprintf(ck2, sizeof ck2, "%s/stopped.ckpt", tu_group_dir());
    train_w2v_model *full = run_det(3, NULL, 0, 0, NULL);
    train_w2v_model *periodic = run_det(3, ck1, 20000, 0, NULL);
    assert_same_model(full, periodic);
    int64_t total = full->words_done;
    /* stop in the middle of epoch 2 (of 3), resume to the end */
    train_w2v_model *part = run_det(3, ck2, 0, total / 2, NULL);
    assert_true(part->words_done < total);
    train_w2v_model *rest = run_det(3, NULL, 0, 0, ck2);
    assert_int_equal(rest->words_done, total);
    assert_same_model(full, rest);
    /* resuming the periodic run's last checkpoint also lands on the same model */
    train_w2v_model *rest2 = run_det(3, NULL, 0, 0, ck1);
    assert_same_model(full, rest2);
    train_w2v_model_free(full);
    train_w2v_model_free(periodic);
    train_w2v_model_free(part);
    train_w2v_model_free(rest);
    train_w2v_model_free(rest2);
}

static void test_nan_stops(void **s) {
    (void)s;
    char ck[4200];
    snprintf(ck, sizeof ck, "%s/nan.ckpt", tu_group_dir());
    train_w2v_options o;
    small_options(&o);
    o.cbow = 0;
    o.alpha = 1e30;
    o.deterministic = true;
    o.checkpoint = ck;
    o.checkpoint_every = 50000;
    train_w2v_model *m = NULL;
    int rc = train_w2v_run(&o, &m);
    assert_int_equal(rc, -1);
    assert_null(m);
    const char *msg = base_error_msg();
    printf("NaN run: %s\n", msg);
    assert_non_null(strstr(msg, "NaN/Inf"));
    assert_non_null(strstr(msg, "learning rate"));
    assert_non_null(strstr(msg, "checkpoint"));
}

static int g_reports;
static void on_report(const train_w2v_report *r, void *ctx) {
    (void)ctx;
    g_reports++;
    assert_true(r->words_done <= r->words_total);
    assert_true(r->alpha > 0);
}

static void test_options_and_callback(void **s) {
    (void)s;
    train_w2v_options o;
    train_w2v_options_default(&o);
    assert_int_equal(o.size, 100);
    assert_int_equal(o.window, 5);
    assert_int_equal(o.negative, 5);
    assert_int_equal(o.cbow, 1);
    assert_int_equal(o.iter, 5);
    assert_int_equal(o.min_count, 5);
    assert_true(fabs(o.sample - 1e-3) < 1e-12);
    o.train = g_corpus;
    o.size = 0;
    assert_int_equal(train_w2v_check_options(&o), -1);
    assert_non_null(strstr(base_error_msg(), "-size"));
    o.size = 10;
    o.hs = 0;
    o.negative = 0;
    assert_int_equal(train_w2v_check_options(&o), -1);
    small_options(&o);
    o.iter = 1;
    o.on_report = on_report;
    g_reports = 0;
    train_w2v_model *m = NULL;
    assert_int_equal(train_w2v_run(&o, &m), 0);
    assert_true(g_reports >= 1);
    train_w2v_model_free(m);
}

/* The learning-rate rule itself: word2vec.c's linear decay to a floor of 1e-4 of the start. */
static void test_alpha_formula(void **s) {
    (void)s;
    assert_true(train_w2v_alpha(0.025, 0, 1000000) == 0.025);
    assert_true(fabs(train_w2v_alpha(0.025, 500000, 1000000) - 0.025 * (1 - 500000.0 / 1000001.0)) < 1e-15);
    assert_true(train_w2v_alpha(0.025, 999999, 1000000) == 0.025 * 1e-4); /* 0.025·2e-6 is below the floor */
    assert_true(train_w2v_alpha(0.05, 2000000, 1000000) == 0.05 * 1e-4);  /* never below it */
}

typedef struct {
    double alpha0;
    int n, bad;
    double first, last;
} alpha_log;

static void on_alpha(const train_w2v_report *r, void *ctx) {
    alpha_log *l = ctx;
    /* One worker recomputes alpha every 10,000 words it reads (10,001 after the first), so the
     * reported rate lies between the rule at words_done and at 10,001 words earlier. */
    double lo = train_w2v_alpha(l->alpha0, r->words_done, r->words_total);
    int64_t before = r->words_done > 10001 ? r->words_done - 10001 : 0;
    double hi = train_w2v_alpha(l->alpha0, before, r->words_total);
    if (r->alpha < lo - 1e-12 || r->alpha > hi + 1e-12) l->bad++;
    if (l->n++ == 0) l->first = r->alpha;
    l->last = r->alpha;
}

/* Default starting rates (0.025 skip-gram, 0.05 CBOW) and a run whose reported rates follow the rule. */
static void test_alpha_schedule_in_runs(void **s) {
    (void)s;
    for (int cbow = 0; cbow < 2; cbow++) {
        train_w2v_options o;
        small_options(&o);
        o.cbow = cbow;
        o.deterministic = true;
        alpha_log l = {.alpha0 = cbow ? 0.05 : 0.025};
        o.on_report = on_alpha;
        o.report_ctx = &l;
        o.iter = 20;                /* many words in all, so the rate early on is still near the start */
        o.stop_after_words = 25000; /* ...where the last report lands: a tight window for the rule */
        train_w2v_model *m = NULL;
        if (train_w2v_run(&o, &m) != 0) fail_msg("train_w2v_run: %s", base_error_msg());
        printf("cbow %d: %d reports, alpha %.6f -> %.6f, %d outside the rule\n", cbow, l.n, l.first, l.last, l.bad);
        /* Every reported rate matches the rule for the default start: with a wrong default (say
         * 0.05 for skip-gram) each would be twice the rule's and fall outside its window. */
        assert_true(l.n >= 1);
        assert_int_equal(l.bad, 0);
        assert_true(l.first <= l.alpha0 && l.last > 0.9 * l.alpha0);
        train_w2v_model_free(m);
    }
}

/* /config is JSON for any corpus path: quotes, backslashes and control bytes are escaped. */
static void test_config_escapes_path(void **s) {
    (void)s;
    char odd[4200], ck[4200];
    snprintf(odd, sizeof odd, "%s/we\"ird\\name\t.txt", tu_group_dir());
    snprintf(ck, sizeof ck, "%s/odd.ckpt", tu_group_dir());
    size_t n = 0;
    char *text = tu_read_file(g_corpus, &n);
    assert_non_null(text);
    assert_int_equal(tu_write_file(odd, text, n), 0);
    free(text);
    train_w2v_options o;
    small_options(&o);
    o.train = odd;
    o.iter = 1;
    o.deterministic = true;
    o.checkpoint = ck;
    train_w2v_model *m = NULL;
    if (train_w2v_run(&o, &m) != 0) fail_msg("train_w2v_run: %s", base_error_msg());
    train_w2v_model_free(m);
    ckpt_reader *r = ckpt_open(ck);
    assert_non_null(r);
    char *json = NULL;
    assert_int_equal(ckpt_get_config_json(r, &json), 0);
    ckpt_close(r);
    if (!strstr(json, "/we\\\"ird\\\\name\\u0009.txt\",\"size\":24,")) fail_msg("unescaped path in %s", json);
    free(json);
}

/* ---- the encoded corpus (train/word2vec_ids.h) ------------------------------------------------ */

/* A corpus with few newlines (read with a vocabulary that lacks "</s>": a newline still ends a
 * sentence, though it is no token of the vocabulary), rare words (out of vocabulary, skipped), long lines (the sentence cap splits them)
 * and more than one block of the ids' offset index per shard. */
static void write_odd_corpus(const char *path) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    base_rng r;
    base_rng_seed(&r, 9);
    for (int i = 0; i < 30000; i++) {
        int k = (int)base_rng_below(&r, NCLUSTER);
        if (base_rng_below(&r, 40) == 0) fprintf(f, "rare%d ", i); /* count 1 < min-count */
        fprintf(f, "c%dw%u%c", k, base_rng_below(&r, PER_CLUSTER), i % 9000 == 8999 ? '\n' : ' ');
    }
    fclose(f);
}

/* word2vec.c's vocabulary file of the cluster words only: no "</s>", no rare words. */
static void write_vocab_no_eos(const char *path) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int k = 0; k < NCLUSTER; k++)
        for (int i = 0; i < PER_CLUSTER; i++) fprintf(f, "c%dw%d %d\n", k, i, 600 - 10 * i);
    fclose(f);
}

typedef struct ids_case {
    const char *corpus;
    bool encode;
    int64_t ids_memory;
    int cbow;
    const char *read_vocab;
} ids_case;

static train_w2v_model *run_ids(const ids_case *c, uint64_t seed, const char *ckpt, int64_t stop, const char *resume) {
    train_w2v_options o;
    small_options(&o);
    o.train = c->corpus;
    o.cbow = c->cbow;
    o.hs = 1;
    o.negative = 3;
    o.sample = 1e-2;
    o.min_count = 5;
    o.sentence_cap = 700;
    o.deterministic = true;
    o.seed = seed;
    o.encode_corpus = c->encode;
    o.ids_memory = c->ids_memory;
    o.checkpoint = ckpt;
    o.stop_after_words = stop;
    o.resume = resume;
    o.read_vocab = resume ? NULL : c->read_vocab;
    train_w2v_model *m = NULL;
    if (train_w2v_run(&o, &m) != 0) fail_msg("train_w2v_run: %s", base_error_msg());
    return m;
}

/* Training from the encoded ids (in memory or in a temporary file) gives the very bytes of
 * training from the text every epoch: same tokens, same subsampling and window draws. */
static void test_encoded_equals_text(void **s) {
    (void)s;
    char odd[4200], vocab[4200];
    snprintf(odd, sizeof odd, "%s/odd.txt", tu_group_dir());
    snprintf(vocab, sizeof vocab, "%s/odd.vocab", tu_group_dir());
    write_odd_corpus(odd);
    write_vocab_no_eos(vocab);
    const char *corpora[2] = {g_corpus, odd}, *vocabs[2] = {NULL, vocab};
    for (int ci = 0; ci < 2; ci++)
        for (int cbow = 0; cbow <= 1; cbow++) {
            ids_case text = {corpora[ci], false, 0, cbow, vocabs[ci]},
                     mem = {corpora[ci], true, (int64_t)1 << 30, cbow, vocabs[ci]},
                     disk = {corpora[ci], true, 0, cbow, vocabs[ci]};
            train_w2v_model *a = run_ids(&text, 5, NULL, 0, NULL);
            train_w2v_model *b = run_ids(&mem, 5, NULL, 0, NULL);
            train_w2v_model *c = run_ids(&disk, 5, NULL, 0, NULL);
            if (ci == 1) assert_true(data_vocab_find(a->vocab, "</s>") < 0); /* pruned, as intended */
            if (ci == 1) assert_true(a->vocab->n == NCLUSTER * PER_CLUSTER);
            if (ci == 0) assert_true(a->words_done == 3 * a->vocab->total); /* read counts are not the corpus's */
            assert_same_model(a, b);
            assert_same_model(a, c);
            train_w2v_model_free(a);
            train_w2v_model_free(b);
            train_w2v_model_free(c);
        }
}

static int64_t ckpt_cursor(const char *path) {
    ckpt_reader *r = ckpt_open(path);
    assert_non_null(r);
    train_w2v_state st;
    assert_int_equal(train_w2v_get_state(r, &st), 0);
    assert_int_equal(st.nworkers, 1);
    int64_t c = st.worker[0].cursor;
    train_w2v_state_free(&st);
    ckpt_close(r);
    return c;
}

/* A run stopped while it reads ids writes the same byte cursor as one that reads text (the offset
 * index + at most one block of text), and resuming it ends on the uninterrupted model. */
static void test_encoded_stop_and_resume(void **s) {
    (void)s;
    char odd[4200], vocab[4200], ck_text[4200], ck_ids[4200];
    snprintf(odd, sizeof odd, "%s/odd2.txt", tu_group_dir());
    snprintf(vocab, sizeof vocab, "%s/odd2.vocab", tu_group_dir());
    write_vocab_no_eos(vocab);
    snprintf(ck_text, sizeof ck_text, "%s/stop_text.ckpt", tu_group_dir());
    snprintf(ck_ids, sizeof ck_ids, "%s/stop_ids.ckpt", tu_group_dir());
    write_odd_corpus(odd);
    ids_case text = {odd, false, 0, 0, vocab}, disk = {odd, true, 0, 0, vocab};
    train_w2v_model *full = run_ids(&disk, 11, NULL, 0, NULL);
    const int64_t total = full->words_done;
    /* stops at several places of epochs 2 and 3 (ids epochs), different offsets within a block */
    const double at[] = {0.40, 0.55, 0.71, 0.93};
    for (int i = 0; i < 4; i++) {
        int64_t stop = (int64_t)(at[i] * (double)total);
        train_w2v_model *pt = run_ids(&text, 11, ck_text, stop, NULL);
        train_w2v_model *pi = run_ids(&disk, 11, ck_ids, stop, NULL);
        assert_same_model(pt, pi);
        int64_t ct = ckpt_cursor(ck_text), cid = ckpt_cursor(ck_ids);
        printf("stop at %.2f of the words: cursor %lld (text) %lld (ids)\n", at[i], (long long)ct, (long long)cid);
        assert_true(ct > 0);
        assert_int_equal(ct, cid);
        train_w2v_model *rest = run_ids(&disk, 11, NULL, 0, ck_ids);
        assert_int_equal(rest->words_done, total);
        assert_same_model(full, rest);
        train_w2v_model_free(pt);
        train_w2v_model_free(pi);
        train_w2v_model_free(rest);
    }
    /* the final state of a finished run: same cursor too */
    train_w2v_model *ft = run_ids(&text, 11, ck_text, 0, NULL);
    train_w2v_model *fi = run_ids(&disk, 11, ck_ids, 0, NULL);
    assert_int_equal(ckpt_cursor(ck_text), ckpt_cursor(ck_ids));
    train_w2v_model_free(ft);
    train_w2v_model_free(fi);
    train_w2v_model_free(full);
}

/* The vocabulary counted on several threads (one shard each, merged) is the serial count's: same
 * words, counts and ids, on a corpus whose shards cut lines in the middle. */
static void test_parallel_vocabulary(void **s) {
    (void)s;
    data_vocab *ref = NULL;
    assert_int_equal(data_vocab_build(&ref, g_corpus, 2, 0, NULL), 0);
    for (int threads = 2; threads <= 5; threads += 3) {
        train_w2v_options o;
        small_options(&o);
        o.threads = threads;
        o.iter = 1;
        train_w2v_model *m = NULL;
        if (train_w2v_run(&o, &m) != 0) fail_msg("train_w2v_run: %s", base_error_msg());
        assert_int_equal(m->vocab->n, ref->n);
        assert_int_equal(m->vocab->total, ref->total);
        for (int64_t i = 0; i < ref->n; i++) {
            assert_string_equal(m->vocab->words[i], ref->words[i]);
            assert_int_equal(m->vocab->counts[i], ref->counts[i]);
        }
        train_w2v_model_free(m);
    }
    data_vocab_free(ref);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_skipgram_ns),    cmocka_unit_test(test_cbow_ns),
        cmocka_unit_test(test_skipgram_hs),    cmocka_unit_test(test_cbow_hs),
        cmocka_unit_test(test_skipgram_hs_ns), cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_resume),         cmocka_unit_test(test_nan_stops),
        cmocka_unit_test(test_options_and_callback),
        cmocka_unit_test(test_alpha_formula),  cmocka_unit_test(test_alpha_schedule_in_runs),
        cmocka_unit_test(test_config_escapes_path),
        cmocka_unit_test(test_encoded_equals_text), cmocka_unit_test(test_encoded_stop_and_resume),
        cmocka_unit_test(test_parallel_vocabulary),
    };
    return cmocka_run_group_tests(tests, setup, tu_group_tempdir_teardown);
}
