/* test_word2vec_cli.c — `ember word2vec` end to end: outputs in word2vec.c's formats, vocab files,
 * resume through the command line, and every kind of bad input giving a clear error, a non-zero
 * exit and no overwritten output. */
#include "support/test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char g_corpus[4096], g_out[4096];

static int setup(void **state) {
    tu_group_tempdir_setup(state);
    snprintf(g_corpus, sizeof g_corpus, "%s", tu_group_path("corpus.txt"));
    snprintf(g_out, sizeof g_out, "%s", tu_group_path("vectors.txt"));
    FILE *f = fopen(g_corpus, "w");
    assert_non_null(f);
    base_rng r;
    base_rng_seed(&r, 5);
    for (int line = 0; line < 800; line++) {
        int k = (int)base_rng_below(&r, 4);
        for (int i = 0; i < 10; i++) fprintf(f, "g%dw%u ", k, base_rng_below(&r, 6));
        fputc('\n', f);
    }
    fclose(f);
    return 0;
}

/* Runs `ember word2vec ARGS`; returns the exit code, output in *out (caller frees). */
static int w2v(const char *args, char **out) { return tu_run_ember(out, "word2vec %s", args); }

/* Expects `ember word2vec ARGS` (ARGS formatted printf-style) to fail with `needle` in the message
 * and the sentinel output file untouched. */
static void expect_fail(const char *needle, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void expect_fail(const char *needle, const char *fmt, ...) {
    char args[32768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    tu_write_file(g_out, "KEEP", 4);
    char *out = NULL;
    int rc = w2v(args, &out);
    printf("[%d] %s\n", rc, out);
    if (rc == 0) fail_msg("expected failure for: %s", args);
    if (needle && !strstr(out, needle)) fail_msg("expected \"%s\" in: %s", needle, out);
    size_t n = 0;
    char *kept = tu_read_file(g_out, &n);
    assert_non_null(kept);
    assert_int_equal(n, 4);
    assert_memory_equal(kept, "KEEP", 4);
    free(kept);
    free(out);
}

static void test_text_and_binary(void **s) {
    (void)s;
    char args[32768], bin[4200];
    snprintf(args, sizeof args, "-train %s -output %s -size 12 -iter 2 -min-count 1 -debug 0 -cbow 0", g_corpus, g_out);
    assert_int_equal(w2v(args, NULL), 0);
    char *txt = tu_read_file(g_out, NULL);
    assert_non_null(txt);
    long n = 0, d = 0;
    assert_int_equal(sscanf(txt, "%ld %ld", &n, &d), 2);
    assert_int_equal(n, 25); /* 24 words + </s> */
    assert_int_equal(d, 12);
    assert_non_null(strstr(txt, "\n</s> "));
    free(txt);
    snprintf(bin, sizeof bin, "%s/vectors.bin", tu_group_dir());
    snprintf(args, sizeof args, "-train %s -output %s -size 12 -iter 1 -min-count 1 -debug 0 -binary 1", g_corpus, bin);
    assert_int_equal(w2v(args, NULL), 0);
    struct stat st;
    assert_int_equal(stat(bin, &st), 0);
    /* header "25 12\n" + per word: word, space, 48 bytes, newline */
    size_t words_bytes = 0;
    for (int k = 0; k < 4; k++)
        for (int i = 0; i < 6; i++) words_bytes += 4; /* "gKwI" */
    words_bytes += 4;                                  /* "</s>" */
    assert_int_equal((size_t)st.st_size, 6 + words_bytes + 25 * (1 + 48 + 1));
}

/* Progress: plain lines on a pipe (this test's stderr), JSON lines in --metrics. */
static void test_progress_and_metrics(void **s) {
    (void)s;
    char args[32768], metrics[4200];
    snprintf(metrics, sizeof metrics, "%s/metrics.jsonl", tu_group_dir());
    snprintf(args, sizeof args, "-train %s -output %s -size 8 -iter 2 -min-count 1 -debug 2 --metrics %s", g_corpus,
             g_out, metrics);
    char *out = NULL;
    assert_int_equal(w2v(args, &out), 0);
    assert_non_null(strstr(out, "word2vec: 100.0%"));
    assert_non_null(strstr(out, "words_per_sec_thread"));
    assert_null(strchr(out, '\r')); /* no bar redraws when stderr is not a terminal */
    free(out);
    char *m = tu_read_file(metrics, NULL);
    assert_non_null(m);
    const char *head = "{\"label\":\"word2vec\",\"fraction\":";
    assert_true(strncmp(m, head, strlen(head)) == 0);
    assert_non_null(strstr(m, "\"lr\":"));
    assert_non_null(strstr(m, "\"loss\":"));
    assert_non_null(strstr(m, "\"final\":true}\n"));
    free(m);
}

static void test_vocab_files(void **s) {
    (void)s;
    char args[32768], voc[4200];
    snprintf(voc, sizeof voc, "%s/vocab.txt", tu_group_dir());
    snprintf(args, sizeof args, "-train %s -save-vocab %s -min-count 1 -debug 0", g_corpus, voc);
    assert_int_equal(w2v(args, NULL), 0); /* no -output: vocabulary only, like word2vec.c */
    char *v = tu_read_file(voc, NULL);
    assert_non_null(v);
    assert_true(strncmp(v, "</s> 800\n", 9) == 0);
    free(v);
    snprintf(args, sizeof args, "-train %s -read-vocab %s -output %s -size 8 -iter 1 -debug 0", g_corpus, voc, g_out);
    assert_int_equal(w2v(args, NULL), 0);
}

/* Through the command line: a deterministic run == the same run stopped halfway and resumed. */
static void test_resume_cli(void **s) {
    (void)s;
    char args[32768], full[4200], part[4200], ck[4200];
    snprintf(full, sizeof full, "%s/full.bin", tu_group_dir());
    snprintf(part, sizeof part, "%s/part.bin", tu_group_dir());
    snprintf(ck, sizeof ck, "%s/run.ckpt", tu_group_dir());
    const char *common = "-size 10 -iter 3 -min-count 1 -debug 0 -binary 1 --deterministic --seed 9 -cbow 0 -hs 1";
    snprintf(args, sizeof args, "-train %s -output %s %s", g_corpus, full, common);
    assert_int_equal(w2v(args, NULL), 0);
    snprintf(args, sizeof args, "-train %s -output %s %s --checkpoint %s --stop-after 12000", g_corpus, part, common, ck);
    assert_int_equal(w2v(args, NULL), 0);
    snprintf(args, sizeof args, "-train %s -output %s %s --resume %s", g_corpus, part, common, ck);
    char *out = NULL;
    int rc = w2v(args, &out);
    if (rc != 0) fail_msg("resume failed: %s", out);
    free(out);
    size_t n1 = 0, n2 = 0;
    char *a = tu_read_file(full, &n1), *b = tu_read_file(part, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(a, b, n1);
    free(a);
    free(b);
}

/* --checkpoint FILE alone leaves the finished run's state there, readable by the other tools. */
static void test_final_checkpoint(void **s) {
    (void)s;
    char args[32768], ck[4200], vec[4200];
    snprintf(ck, sizeof ck, "%s/final.ckpt", tu_group_dir());
    snprintf(vec, sizeof vec, "%s/final.txt", tu_group_dir());
    snprintf(args, sizeof args, "-train %s -output %s -size 8 -iter 2 -min-count 1 -debug 0 --deterministic --checkpoint %s",
             g_corpus, vec, ck);
    assert_int_equal(w2v(args, NULL), 0);
    char *out = NULL;
    assert_int_equal(tu_run_ember(&out, "ckpt info --json %s", ck), 0);
    /* 800 lines × (10 words + </s>) × 2 epochs */
    assert_non_null(strstr(out, "\"words_done\": 17600"));
    free(out);
    int rc = tu_run_ember(&out, "similar %s g0w1 -k 3", ck);
    if (rc != 0) fail_msg("ember similar on the final checkpoint failed: %s", out);
    free(out);
}

static void test_bad_inputs(void **s) {
    (void)s;
    char args[32768], path[4200];
    /* missing corpus */
    expect_fail("nope.txt", "-train %s/nope.txt -output %s -debug 0", tu_group_dir(), g_out);
    /* empty corpus */
    snprintf(path, sizeof path, "%s/empty.txt", tu_group_dir());
    tu_write_file(path, "", 0);
    expect_fail("empty", "-train %s -output %s -debug 0", path, g_out);
    /* binary garbage */
    snprintf(path, sizeof path, "%s/garbage.bin", tu_group_dir());
    {
        unsigned char junk[8192];
        base_rng r;
        base_rng_seed(&r, 1);
        for (size_t i = 0; i < sizeof junk; i++) junk[i] = (unsigned char)base_rng_below(&r, 256);
        tu_write_file(path, junk, sizeof junk);
    }
    expect_fail("binary", "-train %s -output %s -debug 0", path, g_out);
    /* every word below min-count */
    expect_fail("min-count", "-train %s -output %s -min-count 100000 -debug 0", g_corpus, g_out);
    /* bad numbers and flags */
    expect_fail("-size", "-train %s -output %s -size 0", g_corpus, g_out);
    expect_fail("-window", "-train %s -output %s -window -3", g_corpus, g_out);
    expect_fail("neither", "-train %s -output %s -negative 0 -hs 0", g_corpus, g_out);
    expect_fail("unknown flag", "-train %s -output %s -frobnicate 1", g_corpus, g_out);
    expect_fail("expected a value", "-train %s -output %s -size", g_corpus, g_out);
    expect_fail("-sample", "-train %s -output %s -sample abc", g_corpus, g_out);
    /* unwritable output */
    expect_fail("cannot write", "-train %s -output %s/no/such/dir/v.txt -debug 0", g_corpus, tu_group_dir());
    /* truncated -read-vocab file */
    snprintf(path, sizeof path, "%s/trunc.vocab", tu_group_dir());
    tu_write_file(path, "</s> 10\ng0w1 30\ng0w2 2", 22);
    expect_fail("truncated", "-train %s -read-vocab %s -output %s -debug 0", g_corpus, path, g_out);
    /* truncated checkpoint */
    char ck[4200];
    snprintf(ck, sizeof ck, "%s/t.ckpt", tu_group_dir());
    snprintf(args, sizeof args,
             "-train %s -output %s/x.txt -size 8 -iter 2 -min-count 1 -debug 0 --deterministic --checkpoint %s "
             "--stop-after 5000",
             g_corpus, tu_group_dir(), ck);
    assert_int_equal(w2v(args, NULL), 0);
    size_t n = 0;
    char *bytes = tu_read_file(ck, &n);
    assert_non_null(bytes);
    assert_true(n > 1000);
    tu_write_file(ck, bytes, n / 2);
    free(bytes);
    expect_fail("t.ckpt", "-train %s -output %s --resume %s -debug 0", g_corpus, g_out, ck);
    /* a checkpoint that is not a checkpoint */
    expect_fail("corpus.txt", "-train %s -output %s --resume %s -debug 0", g_corpus, g_out, g_corpus);
    /* resume against a different corpus */
    snprintf(args, sizeof args,
             "-train %s -output %s/x.txt -size 8 -iter 2 -min-count 1 -debug 0 --deterministic --checkpoint %s "
             "--stop-after 5000",
             g_corpus, tu_group_dir(), ck);
    assert_int_equal(w2v(args, NULL), 0);
    snprintf(path, sizeof path, "%s/other.txt", tu_group_dir());
    tu_write_file(path, "g0w1 g0w2 g0w1\n", 15);
    expect_fail("checkpoint", "-train %s -output %s --resume %s -debug 0", path, g_out, ck);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_and_binary),
        cmocka_unit_test(test_progress_and_metrics),
        cmocka_unit_test(test_vocab_files),
        cmocka_unit_test(test_resume_cli),
        cmocka_unit_test(test_final_checkpoint),
        cmocka_unit_test(test_bad_inputs),
    };
    return cmocka_run_group_tests(tests, setup, tu_group_tempdir_teardown);
}
