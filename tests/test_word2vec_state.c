/* test_word2vec_state.c — a Word2Vec checkpoint's /state: named layout round trip, the older positional layout still read and resumed bit for bit, clear refusals. */
#include "support/test_util.h"

#include "checkpoints/ckpt.h"
#include "train/word2vec.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char g_corpus[4096];

/* ~20k words in 3 clusters (c<k>w<i>), one sentence per line. */
static void write_corpus(const char *path) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    base_rng r;
    base_rng_seed(&r, 5);
    for (int line = 0; line < 2000; line++) {
        int k = (int)base_rng_below(&r, 3), n = 5 + (int)base_rng_below(&r, 10);
        for (int i = 0; i < n; i++) fprintf(f, "c%dw%u ", k, base_rng_below(&r, 6));
        fputc('\n', f);
    }
    fclose(f);
}

static int setup(void **state) {
    tu_group_tempdir_setup(state);
    snprintf(g_corpus, sizeof g_corpus, "%s", tu_group_path("corpus.txt"));
    write_corpus(g_corpus);
    return 0;
}

/* A state with two workers whose doubles use every mantissa bit, so a lossy path shows. */
static void sample_state(train_w2v_state *s) {
    *s = (train_w2v_state){.size = 24, .min_count = 3, .window = 4, .hs = 1, .negative = 3, .iter = 5, .cbow = 0,
                           .sentence_cap = 1000, .shared_negatives = false, .sample = 1.0 / 3000, .alpha = 0.1 / 3,
                           .seed = 0xfedcba9876543210ull, .train = "some/corpus \"quoted\".txt", .corpus_size = 123457,
                           .words_done = 91234, .next_checkpoint = 100000, .nworkers = 2};
    s->worker = calloc(2, sizeof *s->worker);
    assert_non_null(s->worker);
    for (int k = 0; k < 2; k++) {
        train_w2v_worker_state *w = &s->worker[k];
        w->epoch = 2 - k;
        w->word_count = 4000 + 7 * k;
        w->last_word_count = 3990 + k;
        w->cursor = 60000 + 31 * k;
        w->alpha = 0.1 / (7 + k);
        for (int b = 0; b < TRAIN_W2V_LOSS_BUCKETS; b++) {
            w->loss_sum[b] = 1.0 / (3 + b + 11 * k);
            w->loss_pairs[b] = 1000 * b + k;
        }
        base_rng_seed(&w->rng, 17 + (uint64_t)k);
        base_rng_next(&w->rng);
    }
}

static void assert_same_state(const train_w2v_state *a, const train_w2v_state *b) {
    assert_int_equal(a->size, b->size);
    assert_int_equal(a->min_count, b->min_count);
    assert_int_equal(a->window, b->window);
    assert_int_equal(a->hs, b->hs);
    assert_int_equal(a->negative, b->negative);
    assert_int_equal(a->iter, b->iter);
    assert_int_equal(a->cbow, b->cbow);
    assert_int_equal(a->sentence_cap, b->sentence_cap);
    assert_int_equal(a->shared_negatives, b->shared_negatives);
    assert_memory_equal(&a->sample, &b->sample, sizeof a->sample);
    assert_memory_equal(&a->alpha, &b->alpha, sizeof a->alpha);
    assert_true(a->seed == b->seed);
    assert_string_equal(a->train, b->train);
    assert_int_equal(a->corpus_size, b->corpus_size);
    assert_int_equal(a->words_done, b->words_done);
    assert_int_equal(a->next_checkpoint, b->next_checkpoint);
    assert_int_equal(a->nworkers, b->nworkers);
    /* every field is 8 bytes wide: no padding, so bytes compare values (doubles bit for bit) */
    assert_memory_equal(a->worker, b->worker, (size_t)a->nworkers * sizeof *a->worker);
}

/* The positional layout as ember wrote it before named fields (train/word2vec.c until this file
 * was added), kept here so the reader's compatibility path is tested against real bytes. */
static int put_positional(ckpt_writer *w, const train_w2v_state *s) {
    const int W = s->nworkers;
    int64_t opt[10] = {s->size, s->window, s->hs, s->negative, W, s->iter, s->min_count, s->cbow,
                       s->shared_negatives, s->sentence_cap};
    int rc = ckpt_put_i64_array(w, "/state/w2v_options", opt, 10);
    uint64_t ubits[2];
    memcpy(&ubits[0], &s->sample, 8);
    memcpy(&ubits[1], &s->alpha, 8);
    if (!rc) rc = ckpt_put_u64_array(w, "/state/w2v_options_f64_bits", ubits, 2);
    if (!rc) rc = ckpt_put_u64_array(w, "/state/seed", &s->seed, 1);
    if (!rc) rc = ckpt_put_string(w, "/state/train", s->train);
    if (!rc) rc = ckpt_put_i64(w, "/state/corpus_size", s->corpus_size);
    if (!rc) rc = ckpt_put_i64(w, "/state/words_done", s->words_done);
    if (!rc) rc = ckpt_put_i64(w, "/state/next_checkpoint", s->next_checkpoint);
    int64_t i64[8 * TRAIN_W2V_LOSS_BUCKETS];
    uint64_t u64[8 * TRAIN_W2V_LOSS_BUCKETS];
    assert_true(W <= 8);
    int64_t minepoch = INT64_MAX;
    double minalpha = INFINITY;
    for (int k = 0; k < W; k++) {
        if (s->worker[k].epoch < minepoch) minepoch = s->worker[k].epoch;
        if (s->worker[k].alpha < minalpha) minalpha = s->worker[k].alpha;
    }
    if (!rc) rc = ckpt_put_i64(w, "/state/epoch", minepoch);
    if (!rc) rc = ckpt_put_f64(w, "/state/lr", minalpha);
#define PUT(name, field)                                                                           \
    do {                                                                                           \
        for (int k = 0; k < W; k++) i64[k] = s->worker[k].field;                                   \
        if (!rc) rc = ckpt_put_i64_array(w, name, i64, W);                                         \
    } while (0)
    PUT("/state/worker_epoch", epoch);
    PUT("/state/worker_word_count", word_count);
    PUT("/state/worker_last_word_count", last_word_count);
    PUT("/state/data_cursor", cursor);
#undef PUT
    for (int k = 0; k < W; k++) memcpy(&u64[k], &s->worker[k].alpha, 8);
    if (!rc) rc = ckpt_put_u64_array(w, "/state/worker_alpha_bits", u64, W);
    for (int k = 0; k < W; k++) {
        memcpy(u64 + k * TRAIN_W2V_LOSS_BUCKETS, s->worker[k].loss_sum, sizeof s->worker[k].loss_sum);
        memcpy(i64 + k * TRAIN_W2V_LOSS_BUCKETS, s->worker[k].loss_pairs, sizeof s->worker[k].loss_pairs);
    }
    if (!rc) rc = ckpt_put_u64_array(w, "/state/loss_sum_bits", u64, (int64_t)W * TRAIN_W2V_LOSS_BUCKETS);
    if (!rc) rc = ckpt_put_i64_array(w, "/state/loss_pairs", i64, (int64_t)W * TRAIN_W2V_LOSS_BUCKETS);
    for (int k = 0; k < W && !rc; k++) {
        char p[64];
        snprintf(p, sizeof p, "/state/rng/worker%d", k);
        rc = ckpt_put_rng(w, p, &s->worker[k].rng);
    }
    return rc;
}

static ckpt_writer *begin(const char *path) {
    ckpt_writer_options opt = {.no_fsync = true};
    ckpt_writer *w = ckpt_writer_begin_opts(path, &opt);
    if (!w) fail_msg("%s", base_error_msg());
    return w;
}

static void write_state(const char *path, const train_w2v_state *s, bool positional) {
    ckpt_writer *w = begin(path);
    int rc = positional ? put_positional(w, s) : train_w2v_put_state(w, s);
    if (rc != 0) fail_msg("%s", base_error_msg());
    assert_int_equal(ckpt_writer_commit(w), 0);
}

static void assert_info(ckpt_reader *r, const char *path, ckpt_dtype dtype, int ndim, int64_t n) {
    ckpt_info info;
    if (ckpt_get_info(r, path, &info) != 0) fail_msg("%s", base_error_msg());
    if (info.dtype != dtype || info.ndim != ndim || (ndim == 1 && info.shape[0] != n))
        fail_msg("%s: %s, %d dims, expected %s, %d dims [%lld]", path, ckpt_dtype_name(info.dtype), info.ndim,
                 ckpt_dtype_name(dtype), ndim, (long long)n);
}

static void test_named_roundtrip(void **s) {
    (void)s;
    train_w2v_state a, b;
    sample_state(&a);
    const char *path = tu_group_path("named.ckpt");
    write_state(path, &a, false);
    ckpt_reader *r = ckpt_open(path);
    assert_non_null(r);
    if (train_w2v_get_state(r, &b) != 0) fail_msg("%s", base_error_msg());
    assert_same_state(&a, &b);
    /* the layout of docs/CHECKPOINTS.md: conventional names where one exists, the rest named */
    assert_info(r, "/state/words_done", CKPT_I64, 0, 1);
    assert_info(r, "/state/epoch", CKPT_I64, 0, 1);
    assert_info(r, "/state/lr", CKPT_F64, 0, 1);
    assert_info(r, "/state/data_cursor", CKPT_I64, 1, 2);
    assert_info(r, "/state/rng/worker1", CKPT_U64, 1, 4);
    assert_info(r, "/state/word2vec/window", CKPT_I64, 0, 1);
    assert_info(r, "/state/word2vec/workers", CKPT_I64, 0, 1);
    assert_info(r, "/state/word2vec/alpha", CKPT_F64, 0, 1);
    assert_info(r, "/state/word2vec/seed", CKPT_U64, 1, 1);
    assert_info(r, "/state/word2vec/train", CKPT_STRING, 0, 0);
    assert_info(r, "/state/word2vec/worker_alpha", CKPT_F64, 1, 2);
    assert_info(r, "/state/word2vec/loss_sum", CKPT_F64, 1, 2 * TRAIN_W2V_LOSS_BUCKETS);
    assert_info(r, "/state/word2vec/loss_pairs", CKPT_I64, 1, 2 * TRAIN_W2V_LOSS_BUCKETS);
    assert_false(ckpt_has(r, "/state/w2v_options"));
    /* epoch and lr are the slowest worker's, for readers that know nothing of workers */
    int64_t epoch;
    double lr;
    assert_int_equal(ckpt_get_i64(r, "/state/epoch", &epoch), 0);
    assert_int_equal(ckpt_get_f64(r, "/state/lr", &lr), 0);
    assert_int_equal(epoch, 1);
    assert_true(lr == 0.1 / 8);
    int64_t window;
    assert_int_equal(ckpt_get_i64(r, "/state/word2vec/window", &window), 0);
    assert_int_equal(window, 4);
    ckpt_close(r);
    train_w2v_state_free(&b);
    assert_null(b.worker);
    free(a.worker);
}

static void test_reads_positional(void **s) {
    (void)s;
    train_w2v_state a, b;
    sample_state(&a);
    const char *path = tu_group_path("positional.ckpt");
    write_state(path, &a, true);
    ckpt_reader *r = ckpt_open(path);
    assert_non_null(r);
    if (train_w2v_get_state(r, &b) != 0) fail_msg("%s", base_error_msg());
    assert_same_state(&a, &b);
    ckpt_close(r);
    train_w2v_state_free(&b);
    free(a.worker);
}

/* Expects train_w2v_get_state on path to fail with a message holding the file name and want. */
static void expect_refused(const char *path, const char *want) {
    ckpt_reader *r = ckpt_open(path);
    assert_non_null(r);
    train_w2v_state st;
    assert_int_equal(train_w2v_get_state(r, &st), -1);
    const char *msg = base_error_msg();
    printf("refused: %s\n", msg);
    if (!strstr(msg, path) || !strstr(msg, want)) fail_msg("expected '%s' in \"%s\"", want, msg);
    assert_null(st.worker);
    assert_null(st.train);
    ckpt_close(r);
}

static void test_refusals(void **s) {
    (void)s;
    train_w2v_state a;
    sample_state(&a);
    char path[4200];
    snprintf(path, sizeof path, "%s", tu_group_path("bad.ckpt"));
    /* no Word2Vec state at all (a checkpoint of another trainer) */
    ckpt_writer *w = begin(path);
    assert_int_equal(ckpt_put_i64(w, "/state/step", 3), 0);
    assert_int_equal(ckpt_writer_commit(w), 0);
    expect_refused(path, "/state/word2vec: missing in file");
    /* a setting out of range, in either layout */
    a.window = 0;
    write_state(path, &a, false);
    expect_refused(path, "/state/word2vec/window: expected 1..1000, got 0");
    write_state(path, &a, true);
    expect_refused(path, "/state/w2v_options[1] (window): expected 1..1000, got 0");
    a.window = 4;
    a.hs = a.negative = 0;
    write_state(path, &a, false);
    expect_refused(path, "expected hierarchical softmax or negative sampling, got neither");
    a.hs = 1;
    a.alpha = -1;
    write_state(path, &a, false);
    expect_refused(path, "/state/word2vec/alpha: expected a learning rate > 0, got -1");
    a.alpha = 0.025;
    /* a worker beyond the corpus */
    a.worker[1].cursor = a.corpus_size + 1;
    write_state(path, &a, false);
    expect_refused(path, "worker 1: expected a consistent state");
    a.worker[1].cursor = 0;
    /* the named layout with a field missing: the reader names it */
    w = begin(path);
    assert_int_equal(ckpt_put_i64(w, "/state/word2vec/size", 24), 0);
    assert_int_equal(ckpt_writer_commit(w), 0);
    expect_refused(path, "/state/word2vec/window: missing in file");
    free(a.worker);
}

/* ---- resuming through the trainer --------------------------------------------------------------- */

static train_w2v_model *run_det(const char *ckpt, int64_t stop, const char *resume) {
    train_w2v_options o;
    train_w2v_options_default(&o);
    o.train = g_corpus;
    o.size = 12;
    o.window = 3;
    o.iter = 3;
    o.min_count = 1;
    o.cbow = 0;
    o.hs = 1;
    o.negative = 3;
    o.sample = 1e-2;
    o.debug = 0;
    o.progress = false;
    o.deterministic = true;
    o.seed = 11;
    o.checkpoint = ckpt;
    o.stop_after_words = stop;
    o.resume = resume;
    train_w2v_model *m = NULL;
    if (train_w2v_run(&o, &m) != 0) fail_msg("train_w2v_run: %s", base_error_msg());
    return m;
}

static void assert_same_model(const train_w2v_model *a, const train_w2v_model *b) {
    assert_int_equal(a->vocab->n, b->vocab->n);
    assert_int_equal(a->words_done, b->words_done);
    size_t bytes = (size_t)(a->vocab->n * a->dim) * sizeof(float);
    assert_memory_equal(a->syn0, b->syn0, bytes);
    assert_memory_equal(a->syn1, b->syn1, bytes);
    assert_memory_equal(a->syn1neg, b->syn1neg, bytes);
    assert_memory_equal(&a->mean_loss, &b->mean_loss, sizeof a->mean_loss);
}

/* Copies a named-layout Word2Vec checkpoint into the positional layout (config, vocab and tables as
 * they are), i.e. the file an older ember would have written at the same point. */
static void rewrite_positional(const char *from, const char *to) {
    ckpt_reader *r = ckpt_open(from);
    if (!r) fail_msg("%s", base_error_msg());
    train_w2v_state st;
    if (train_w2v_get_state(r, &st) != 0) fail_msg("%s", base_error_msg());
    char *json = NULL, **words = NULL;
    int64_t *counts = NULL, n = 0;
    assert_int_equal(ckpt_get_config_json(r, &json), 0);
    assert_int_equal(ckpt_get_vocab(r, &words, &counts, &n), 0);
    int64_t shape[2] = {n, st.size};
    float *tab = malloc((size_t)(n * st.size) * sizeof *tab);
    assert_non_null(tab);
    ckpt_writer *w = begin(to);
    assert_int_equal(ckpt_put_config_json(w, json), 0);
    assert_int_equal(ckpt_put_vocab(w, (const char *const *)words, counts, n), 0);
    const char *tables[] = {"/params/syn0", "/params/syn1", "/params/syn1neg"};
    for (int i = 0; i < 3; i++) {
        if (!ckpt_has(r, tables[i])) continue;
        assert_int_equal(ckpt_get_f32_array(r, tables[i], tab, 2, shape), 0);
        assert_int_equal(ckpt_put_f32_array(w, tables[i], tab, 2, shape), 0);
    }
    assert_int_equal(put_positional(w, &st), 0);
    assert_int_equal(ckpt_writer_commit(w), 0);
    ckpt_close(r);
    free(tab);
    free(json);
    free(counts);
    ckpt_free_words(words, n);
    train_w2v_state_free(&st);
}

static void test_resume_positional_is_exact(void **s) {
    (void)s;
    char named[4200], old[4200];
    snprintf(named, sizeof named, "%s", tu_group_path("stopped.ckpt"));
    snprintf(old, sizeof old, "%s", tu_group_path("stopped-positional.ckpt"));
    train_w2v_model *full = run_det(NULL, 0, NULL);
    int64_t total = full->words_done;
    /* stop in the middle of the second epoch, mid-line */
    train_w2v_model *part = run_det(named, total / 2 + 7, NULL);
    assert_true(part->words_done < total);
    rewrite_positional(named, old);
    ckpt_reader *r = ckpt_open(old);
    assert_non_null(r);
    assert_true(ckpt_has(r, "/state/w2v_options"));
    assert_false(ckpt_has(r, "/state/word2vec/size"));
    ckpt_close(r);
    train_w2v_model *from_named = run_det(NULL, 0, named);
    train_w2v_model *from_old = run_det(NULL, 0, old);
    assert_same_model(full, from_named);
    assert_same_model(full, from_old);
    train_w2v_model_free(full);
    train_w2v_model_free(part);
    train_w2v_model_free(from_named);
    train_w2v_model_free(from_old);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_named_roundtrip),
        cmocka_unit_test(test_reads_positional),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_resume_positional_is_exact),
    };
    return cmocka_run_group_tests(tests, setup, tu_group_tempdir_teardown);
}
