/* test_contrastive.c — `ember train contrastive` and `ember eval sts|probe` end to end: learning on STS-B, duplicate masking, temperature clamping, resume, bad input, Spearman against scipy. */
#include "support/test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoints/ckpt.h"
#include "data/evalsets.h"
#include "data/world.h"
#include "train/contrastive.h"
#include "train/sentence.h"

/* The chapter world (built in) gives a tokenizer and an untrained-but-valid MLM checkpoint for the
 * mechanics; STS-B (shared data, skipped when absent) gives the learning test. */
static char *g_world, *g_tok, *g_init;

#define SMALL_MODEL "--d 32 --layers 1 --heads 2 --seq 32 --batch 8 --threads 1"

static int setup(void **state) {
    if (tu_group_tempdir_setup(state)) return -1;
    g_world = tu_path_join(tu_group_dir(), "world.txt");
    g_tok = tu_path_join(tu_group_dir(), "tok.txt");
    g_init = tu_path_join(tu_group_dir(), "init.ckpt");
    if (data_world_write(g_world, 3, 2000)) return -1;
    const char *paths[1] = {g_world};
    data_tokenizer *t = NULL;
    if (data_tokenizer_train(&t, paths, 1, 0, 400, NULL) || data_tokenizer_save(t, g_tok)) return -1;
    data_tokenizer_free(t);
    char *out = NULL;
    int rc = tu_run_ember(&out, "train mlm --corpus %s --tokenizer %s " SMALL_MODEL " --steps 2 --quiet --checkpoint %s",
                          g_world, g_tok, g_init);
    if (rc) printf("%s\n", out);
    free(out);
    return rc;
}

static int teardown(void **state) {
    free(g_world);
    free(g_tok);
    free(g_init);
    return tu_group_tempdir_teardown(state);
}

/* ---- the negative mask ------------------------------------------------------------------------- */

static void test_negative_mask(void **state) {
    (void)state;
    /* 4 examples: positives 0 and 2 are the same text; anchors 1 and 3 are the same text; example
     * 1's hard negative is example 0's positive. */
    const uint64_t ha[4] = {10, 11, 12, 11}, hb[4] = {20, 21, 20, 23}, hc[4] = {30, 20, 32, 33};
    int32_t m[4 * 8];
    assert_true(train_ctr_negative_mask(ha, hb, hc, 4, 8, m));
    const int32_t want[4][8] = {
        {0, 0, 1, 0, 0, 1, 0, 0}, /* b2 = b0; hard negative c1 = b0 */
        {0, 0, 0, 1, 0, 0, 0, 0}, /* a3 = a1 */
        {1, 0, 0, 0, 0, 1, 0, 0}, /* b0 = b2; c1 = b2 */
        {0, 1, 0, 0, 0, 0, 0, 0}, /* a1 = a3 */
    };
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 8; j++) {
            if (m[i * 8 + j] != want[i][j]) fail_msg("mask[%d][%d] = %d, expected %d", i, j, m[i * 8 + j], want[i][j]);
        }
    const uint64_t u[4] = {1, 2, 3, 4};
    assert_false(train_ctr_negative_mask(u, u, NULL, 4, 4, m)); /* all distinct: nothing masked */
}

/* SimCSE on a file whose lines are all the same sentence: every other row of the batch is the same
 * text, so everything but the positive is masked and the loss is exactly log(1) = 0. Distinct
 * sentences give a loss near log(batch). */
static void test_simcse_duplicates_masked(void **state) {
    (void)state;
    char *text = base_xmalloc(40 * 32 + 1);
    text[0] = 0;
    for (int i = 0; i < 40; i++) strcat(text, "the cat sat on the mat\n");
    char *dup = tu_write_tmp(tu_group_dir(), "dup.txt", text);
    free(text);
    char *out = NULL;
    const char *m = tu_group_path("dup.jsonl");
    int rc = tu_run_ember(&out, "train contrastive --init %s --data %s --batch 8 --steps 1 --lr 0 --eval none "
                                "--threads 1 --quiet --metrics %s", g_init, dup, m);
    if (rc) printf("%s\n", out);
    assert_int_equal(rc, 0);
    free(out);
    double loss[4];
    assert_int_equal(tu_metric_series(m, "train", "loss", loss, 4), 1);
    printf("all-duplicate batch: loss %.3g (masked); ", loss[0]);
    assert_true(fabs(loss[0]) < 1e-6);
    const char *m2 = tu_group_path("distinct.jsonl");
    rc = tu_run_ember(&out, "train contrastive --init %s --data %s --batch 8 --steps 1 --lr 0 --eval none --threads 1 "
                            "--quiet --metrics %s", g_init, g_world, m2);
    assert_int_equal(rc, 0);
    free(out);
    assert_int_equal(tu_metric_series(m2, "train", "loss", loss, 4), 1);
    printf("distinct sentences: loss %.3f (log 8 = %.3f)\n", loss[0], log(8.0));
    assert_true(loss[0] > 0.3);
    free(dup);
}

/* The learnable temperature is a log-scale clamped to [0, ln 100] after each step (open_clip). With
 * dropout 0 the two SimCSE views are identical, so each row's positive has cosine 1, the largest:
 * a sharper softmax always lowers the loss, the scale's gradient points up, and from 1/0.0105
 * (log-scale 4.556) Adam's first step at lr 0.5 would take it past ln 100. */
static void test_temperature_clamped(void **state) {
    (void)state;
    char *out = NULL;
    const char *ck = tu_group_path("temp.ckpt");
    int rc = tu_run_ember(&out, "train contrastive --init %s --data %s --batch 8 --steps 3 --lr 0.5 --schedule constant "
                                "--learn-temperature --temperature 0.0105 --dropout 0 --eval none --threads 1 --checkpoint %s",
                          g_init, g_world, ck);
    if (rc) printf("%s\n", out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "temperature 0.0100"));
    free(out);
    ckpt_reader *r = ckpt_open(ck);
    assert_non_null(r);
    float v = 0;
    assert_int_equal(ckpt_get_f32_array(r, "/params/ctr.logit_scale", &v, 1, (const int64_t[]){1}), 0);
    ckpt_close(r);
    printf("logit scale after 3 steps at lr 0.5: %.7f (ln 100 = %.7f)\n", (double)v, log(100.0));
    assert_true(fabsf(v - logf(100.0f)) < 1e-6f);
    /* the contrastive checkpoint still reads as its MLM model (ctr.* ignored) */
    rc = tu_run_ember(&out, "embed %s --tokens 'the cat sat'", ck);
    if (rc) printf("%s\n", out);
    assert_int_equal(rc, 0);
    free(out);
}

/* Stopped at step 3 and resumed, a run ends with the bytes of the uninterrupted run. */
static void test_resume_bit_exact(void **state) {
    (void)state;
    char *out = NULL;
    const char *full = tu_group_path("full.ckpt"), *part = tu_group_path("part.ckpt");
    const char *common = "--batch 8 --steps 6 --lr 1e-3 --warmup 2 --proj --eval none --threads 1 --quiet";
    int rc = tu_run_ember(&out, "train contrastive --init %s --data %s %s --checkpoint %s", g_init, g_world, common, full);
    assert_int_equal(rc, 0);
    free(out);
    rc = tu_run_ember(&out, "train contrastive --init %s --data %s %s --checkpoint %s --stop-after 3", g_init, g_world,
                      common, part);
    assert_int_equal(rc, 3);
    free(out);
    rc = tu_run_ember(&out, "train contrastive --data %s %s --checkpoint %s --resume %s", g_world, common, part, part);
    if (rc) printf("%s\n", out);
    assert_int_equal(rc, 0);
    free(out);
    ckpt_reader *a = ckpt_open(full), *b = ckpt_open(part);
    assert_non_null(a);
    assert_non_null(b);
    const char *names[] = {"/params/enc.layers.0.attn.wq.weight", "/params/tok.weight", "/params/ctr.proj.weight"};
    for (int k = 0; k < 3; k++) {
        ckpt_info ia;
        assert_int_equal(ckpt_get_info(a, names[k], &ia), 0);
        int64_t n = 1;
        for (int d = 0; d < ia.ndim; d++) n *= ia.shape[d];
        float *x = malloc((size_t)n * sizeof(float)), *y = malloc((size_t)n * sizeof(float));
        assert_int_equal(ckpt_get_f32_array(a, names[k], x, ia.ndim, ia.shape), 0);
        assert_int_equal(ckpt_get_f32_array(b, names[k], y, ia.ndim, ia.shape), 0);
        assert_memory_equal(x, y, (size_t)n * sizeof(float));
        free(x);
        free(y);
    }
    ckpt_close(a);
    ckpt_close(b);
}

static void expect_error(const char *what, const char *args, const char *needle);

/* A bag-of-vectors encoder from word vectors (`--init VECTORS`): SimCSE with dropout on the word
 * vectors trains the table; the checkpoint reads back as word vectors with the changed table. */
static void test_bag_of_vectors(void **state) {
    (void)state;
    char *out = NULL;
    const char *vec = tu_group_path("world_vec.txt");
    int rc = tu_run_ember(&out, "word2vec -train %s -output %s -size 16 -iter 1 -min-count 1 -threads 1 -debug 0", g_world, vec);
    assert_int_equal(rc, 0);
    free(out);
    const char *ck = tu_group_path("bov.ckpt"), *m = tu_group_path("bov.jsonl");
    rc = tu_run_ember(&out, "train contrastive --init %s --data %s --batch 16 --steps 20 --lr 1e-2 --eval none --threads 1 "
                            "--metrics %s --checkpoint %s", vec, g_world, m, ck);
    if (rc) printf("%s\n", out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "bag of"));
    free(out);
    double loss[4];
    int nl = tu_metric_series(m, "train", "loss", loss, 4);
    assert_int_equal(nl, 2);
    printf("bag of vectors, SimCSE on the world text: loss %.3f -> %.3f\n", loss[0], loss[1]);
    assert_true(loss[1] < loss[0]);
    /* the checkpoint is word vectors: `ember similar` reads it, and its table has moved */
    rc = tu_run_ember(&out, "similar %s cat -k 3", ck);
    if (rc) printf("%s\n", out);
    assert_int_equal(rc, 0);
    free(out);
    /* --pool cls has no meaning for a bag of words */
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "train contrastive --init %s --data %s --pool cls --eval none --quiet", vec, g_world);
    expect_error("cls pooling of a bag of vectors", cmd, "a bag of word vectors has no first token");
}

/* ---- bad input ---------------------------------------------------------------------------------- */

static void expect_error(const char *what, const char *args, const char *needle) {
    char *out = NULL;
    int rc = tu_run_ember(&out, "%s", args);
    if (rc != 1 || !strstr(out, needle))
        fail_msg("%s: expected exit 1 and '%s', got %d: %s", what, needle, rc, out ? out : "");
    free(out);
}

static void test_bad_input(void **state) {
    (void)state;
    char cmd[8192];
    char *pairs = tu_write_tmp(tu_group_dir(), "pairs.tsv", "a cat\tthe cat\nthe dog\ta dog\njust one field\n");
    snprintf(cmd, sizeof cmd, "train contrastive --init %s --data %s --eval none --steps 1 --quiet", g_init, pairs);
    expect_error("a missing column", cmd, "pairs.tsv:3: expected 2 TAB-separated fields like line 1 of the data, got 1");
    char *scored = tu_write_tmp(tu_group_dir(), "scored.tsv", "a cat\tthe cat\t4.5\nthe dog\ta bird\tlow\n");
    snprintf(cmd, sizeof cmd, "train contrastive --init %s --data %s --eval none --steps 1 --quiet", g_init, scored);
    expect_error("a score that is not a number", cmd, "scored.tsv:2: expected a number as the score (field 3), got 'low'");
    char *empty = tu_write_tmp(tu_group_dir(), "empty.tsv", "a cat\tthe cat\n\t a dog\n");
    snprintf(cmd, sizeof cmd, "train contrastive --init %s --data %s --eval none --steps 1 --quiet", g_init, empty);
    expect_error("an empty field", cmd, "empty.tsv:2: field 1 is empty");
    snprintf(cmd, sizeof cmd, "train contrastive --init %s --data %s --loss cosent --eval none --steps 1 --quiet", g_init, pairs);
    expect_error("a loss the data does not fit", cmd, "--loss cosent needs sentence1 TAB sentence2 TAB score");
    /* a model checkpoint with another tokenizer than the run being resumed */
    char *tok2 = tu_path_join(tu_group_dir(), "tok2.txt"), *init2 = tu_path_join(tu_group_dir(), "init2.ckpt");
    const char *paths[1] = {g_world};
    data_tokenizer *t = NULL;
    assert_int_equal(data_tokenizer_train(&t, paths, 1, 0, 300, NULL), 0);
    assert_int_equal(data_tokenizer_save(t, tok2), 0);
    data_tokenizer_free(t);
    char *out = NULL;
    assert_int_equal(tu_run_ember(&out, "train mlm --corpus %s --tokenizer %s " SMALL_MODEL " --steps 1 --quiet --checkpoint %s",
                                  g_world, tok2, init2), 0);
    free(out);
    const char *run = tu_group_path("run.ckpt");
    assert_int_equal(tu_run_ember(&out, "train contrastive --init %s --data %s --steps 2 --eval none --quiet --checkpoint %s",
                                  g_init, g_world, run), 0);
    free(out);
    snprintf(cmd, sizeof cmd, "train contrastive --init %s --data %s --steps 4 --eval none --quiet --resume %s", init2,
             g_world, run);
    expect_error("--init with another tokenizer than --resume", cmd, "hold different models or tokenizers");
    /* --init that is neither a model checkpoint nor word vectors (a vectors header promising more rows) */
    char *vec = tu_write_tmp(tu_group_dir(), "vec.txt", "3 3\ncat 1 0 0\ndog 0 1 0\n");
    snprintf(cmd, sizeof cmd, "train contrastive --init %s --data %s --quiet", vec, g_world);
    expect_error("truncated word vectors as --init", cmd, "vec.txt");
    /* the checkpoint already saved is untouched by the failed runs */
    ckpt_reader *r = ckpt_open(run);
    assert_non_null(r);
    int64_t step = 0;
    assert_int_equal(ckpt_get_i64(r, "/state/step", &step), 0);
    assert_int_equal(step, 2);
    ckpt_close(r);
    free(pairs);
    free(scored);
    free(empty);
    free(tok2);
    free(init2);
    free(vec);
}

/* ---- learning on real data (STS-B) -------------------------------------------------------------- */

/* CoSENT on STS-B train from a random-init small encoder: the dev Spearman rises above its starting
 * point (mean-pooled random embeddings already score about 44 from word overlap; 240 steps were
 * measured to add about 7) and the training loss falls. */
static void test_cosent_learns_stsb(void **state) {
    (void)state;
    char tr_path[4096], dev_path[4096]; /* tu_data_path returns one static buffer: copy each at once */
    const char *p = tu_data_path("sentence-sim/stsbenchmark/sts-train.csv");
    if (!p) skip();
    snprintf(tr_path, sizeof tr_path, "%s", p);
    if (!(p = tu_data_path("sentence-sim/stsbenchmark/sts-dev.csv"))) skip();
    snprintf(dev_path, sizeof dev_path, "%s", p);
    /* a tokenizer and an untrained model on the STS-B training sentences */
    data_sentence_pairs *sp;
    assert_int_equal(data_pairs_read(&sp, tr_path, DATA_PAIRS_AUTO), 0);
    char *txt = tu_path_join(tu_group_dir(), "sts.txt");
    FILE *f = fopen(txt, "w");
    for (int64_t i = 0; i < sp->n; i++) fprintf(f, "%s\n%s\n", sp->a[i], sp->b[i]);
    fclose(f);
    data_pairs_free(sp);
    char *out = NULL;
    const char *init = tu_group_path("sts_init.ckpt");
    int rc = tu_run_ember(&out, "train mlm --corpus %s --vocab-size 2000 --d 64 --layers 2 --heads 4 --seq 64 --batch 8 "
                                "--steps 1 --threads 2 --quiet --checkpoint %s", txt, init);
    assert_int_equal(rc, 0);
    free(out);
    const char *m = tu_group_path("cosent.jsonl");
    rc = tu_run_ember(&out, "train contrastive --init %s --data %s --eval %s --batch 32 --steps 240 --lr 1e-3 --warmup 20 "
                            "--eval-every 120 --threads 2 --metrics %s --checkpoint %s", init, tr_path, dev_path, m,
                      tu_group_path("cosent.ckpt"));
    if (rc) printf("%s\n", out);
    assert_int_equal(rc, 0);
    const char *b = strstr(out, "Spearman x 100 = ");
    assert_non_null(b);
    double before = strtod(b + strlen("Spearman x 100 = "), NULL);
    free(out);
    double sp_dev[4], loss[64];
    int ne = tu_metric_series(m, "eval", "sts_spearman", sp_dev, 4), nl = tu_metric_series(m, "train", "loss", loss, 64);
    assert_int_equal(ne, 2);
    assert_true(nl >= 20);
    double early = 0, late = 0;
    for (int i = 0; i < 5; i++) early += loss[i] / 5, late += loss[nl - 5 + i] / 5;
    printf("CoSENT on STS-B train, d 64 x 2 layers from random init: STS-B dev Spearman %.1f -> %.1f -> %.1f; "
           "loss %.3f -> %.3f (first / last 5 logged)\n", before, sp_dev[0], sp_dev[1], early, late);
    assert_true(sp_dev[1] > before + 4.0);
    assert_true(late < early);
    /* the command-line evaluator gives the same dev figure from the checkpoint */
    rc = tu_run_ember(&out, "eval sts %s --set %s --json", tu_group_path("cosent.ckpt"), dev_path);
    assert_int_equal(rc, 0);
    const char *s = strstr(out, "\"spearman\": ");
    assert_non_null(s);
    double again = strtod(s + 12, NULL);
    assert_true(fabs(again - sp_dev[1]) < 1e-6);
    free(out);
    free(txt);
}

/* `ember eval sts` against scipy.stats.spearmanr on the real STS-B dev file (its gold scores have
 * many ties) with word vectors made for the test; skipped without scipy or the data. */
static void test_sts_spearman_matches_scipy(void **state) {
    (void)state;
    const char *dev = tu_data_path("sentence-sim/stsbenchmark/sts-dev.csv");
    if (!dev) skip();
    char dev_path[4096];
    snprintf(dev_path, sizeof dev_path, "%s", dev);
    if (tu_run("/usr/bin/python3 -c 'import scipy.stats'", NULL) != 0) {
        printf("skipped: python3-scipy is absent\n");
        skip();
    }
    /* vectors for 60 frequent words: a deterministic pseudo-random 8-d vector each */
    static const char *const words[] = {"a", "the", "man", "woman", "is", "are", "in", "on", "of", "and", "to", "with",
                                        "playing", "dog", "cat", "two", "one", "people", "for", "at", "his", "her",
                                        "by", "an", "riding", "guitar", "eating", "car", "water", "running", "said",
                                        "has", "was", "it", "that", "from", "as", "be", "not", "have", "you", "they",
                                        "he", "she", "woman", "boy", "girl", "street", "black", "white", "red", "new",
                                        "year", "us", "police", "killed", "over", "after", "three", "small"};
    int nw = (int)(sizeof words / sizeof words[0]);
    char *vec = tu_path_join(tu_group_dir(), "sts_vec.txt");
    FILE *f = fopen(vec, "w");
    fprintf(f, "%d 8\n", nw);
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < nw; i++) {
        fprintf(f, "%s", words[i]);
        for (int j = 0; j < 8; j++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            fprintf(f, " %.4f", (double)(x % 2001) / 1000.0 - 1.0);
        }
        fprintf(f, "\n");
    }
    fclose(f);
    char *out = NULL;
    const char *dump = tu_group_path("dump.tsv");
    int rc = tu_run_ember(&out, "eval sts %s --set %s --json --dump %s", vec, dev_path, dump);
    assert_int_equal(rc, 0);
    const char *s = strstr(out, "\"spearman\": ");
    assert_non_null(s);
    double ours = strtod(s + 12, NULL);
    free(out);
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c 'import csv,sys,scipy.stats as st\n"
             "r=list(csv.reader(open(sys.argv[1]),delimiter=\"\\t\"))[1:]\n"
             "print(\"%%.12f\" %% (100*st.spearmanr([float(a[1]) for a in r],[float(a[2]) for a in r]).correlation))' %s",
             dump);
    rc = tu_run(cmd, &out);
    assert_int_equal(rc, 0);
    double theirs = strtod(out, NULL);
    printf("STS-B dev, test vectors: ember %.9f, scipy %.9f\n", ours, theirs);
    assert_true(fabs(ours - theirs) < 1e-3); /* the JSON carries 6 significant digits */
    assert_true(fabs(ours) > 1.0); /* a real correlation, not an empty set */
    free(out);
    free(vec);
}

/* The probe's logistic regression recovers a known model: labels drawn from σ(w·x + b) with known
 * w, b on 6,000 points; the fitted weights (in standardised units, converted back) and the accuracy
 * on fresh points match the truth and the Bayes rate. Also the text8-style word splitting. */
static void test_probe_logreg(void **state) {
    (void)state;
    const int64_t d = 4, ntr = 6000, nte = 3000;
    const double w[4] = {2.0, -1.0, 0.5, 0.0}, b = 0.3;
    float *x = malloc((size_t)((ntr + nte) * d) * sizeof(float));
    int32_t *y = malloc((size_t)(ntr + nte) * sizeof(int32_t));
    base_rng r;
    base_rng_seed(&r, 7);
    int64_t bayes = 0;
    for (int64_t i = 0; i < ntr + nte; i++) {
        double z = b;
        for (int64_t j = 0; j < d; j++) z += w[j] * (x[i * d + j] = (float)base_rng_normal(&r));
        y[i] = base_rng_uniform(&r) < 1.0 / (1.0 + exp(-z));
        if (i >= ntr) bayes += (z > 0) == (y[i] == 1);
    }
    train_probe_result res;
    assert_int_equal(train_probe_logreg(x, y, ntr, x + ntr * d, y + ntr, nte / 2, x + (ntr + nte / 2) * d,
                                        y + ntr + nte / 2, nte - nte / 2, d, &res), 0);
    double bayes_acc = 100.0 * (double)bayes / (double)nte;
    printf("probe on a known logistic model: dev %.2f%%, test %.2f%%, Bayes rule %.2f%%, L2 %g, %d Newton steps\n",
           res.dev_acc, res.test_acc, bayes_acc, res.l2, res.iters);
    assert_true(fabs(res.test_acc - bayes_acc) < 2.0);
    assert_true(res.iters < 20);
    free(x);
    free(y);
    char *buf;
    assert_int_equal(train_sent_words("A man's 2 dogs, e.g. Rex!", &buf), 8);
    const char *want[] = {"a", "man", "s", "two", "dogs", "e", "g", "rex"};
    const char *p = buf;
    for (int i = 0; i < 8; i++, p += strlen(p) + 1) assert_string_equal(p, want[i]);
    free(buf);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_negative_mask),
        cmocka_unit_test(test_probe_logreg),
        cmocka_unit_test(test_simcse_duplicates_masked),
        cmocka_unit_test(test_temperature_clamped),
        cmocka_unit_test(test_resume_bit_exact),
        cmocka_unit_test(test_bag_of_vectors),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_cosent_learns_stsb),
        cmocka_unit_test(test_sts_spearman_matches_scipy),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
