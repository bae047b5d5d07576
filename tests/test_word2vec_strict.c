/* test_word2vec_strict.c — `ember word2vec --resume` refuses what would train other maths than asked
 * (conflicting flags, another corpus, an unverifiable checkpoint), extends a finished run on request,
 * stops cleanly on SIGINT/SIGTERM with a resumable checkpoint, cleans stale temp files, and the
 * first-hour frictions (directories, -output = -train, --version, duplicate vectors, out of memory). */
#include "support/test_util.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "checkpoints/ckpt.h"
#include "train/word2vec.h"

static char g_corpus[4096], g_big[4096];

/* 800 lines of 10 words from 4 groups of 6; the big corpus is 20 copies (a run of ~1 s). */
static int setup(void **state) {
    tu_group_tempdir_setup(state);
    snprintf(g_corpus, sizeof g_corpus, "%s", tu_group_path("corpus.txt"));
    snprintf(g_big, sizeof g_big, "%s", tu_group_path("big.txt"));
    FILE *f = fopen(g_corpus, "w"), *b = fopen(g_big, "w");
    assert_non_null(f);
    assert_non_null(b);
    base_rng r;
    base_rng_seed(&r, 5);
    for (int line = 0; line < 800; line++) {
        int k = (int)base_rng_below(&r, 4);
        for (int i = 0; i < 10; i++) fprintf(f, "g%dw%u ", k, base_rng_below(&r, 6));
        fputc('\n', f);
    }
    fclose(f);
    size_t n = 0;
    char *text = tu_read_file(g_corpus, &n);
    for (int c = 0; c < 20; c++) fwrite(text, 1, n, b);
    fclose(b);
    free(text);
    return 0;
}

/* Runs `ember ARGS` (printf-style); returns the exit code, prints and returns the output (heap). */
static int ember(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int ember(char **out, const char *fmt, ...) {
    char args[16384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    int rc = tu_run_ember(out, "%s", args);
    printf("[%d] ember %s\n%s", rc, args, *out);
    return rc;
}

static void expect_in(const char *out, const char *needle) {
    if (!strstr(out, needle)) fail_msg("expected \"%s\" in: %s", needle, out);
}

/* A stopped (mid-run) deterministic checkpoint with known settings. */
static const char *k_settings = "-size 8 -window 3 -sample 0.001 -hs 0 -negative 4 -iter 2 -min-count 1 -alpha 0.03 "
                                "-cbow 0 --seed 7 --shared-negatives 1 --deterministic";

static void make_stopped(const char *ck) {
    char *out = NULL;
    int rc = ember(&out, "word2vec -train %s -output %s/stopped.txt %s -debug 0 --checkpoint %s --stop-after 9000",
                   g_corpus, tu_group_dir(), k_settings, ck);
    assert_int_equal(rc, 0);
    free(out);
}

/* Every setting flag with a value other than the checkpoint's is refused, naming the flag and both
 * values; several at once are all named; the checkpoint's own values are accepted. */
static void test_conflicting_flags(void **s) {
    (void)s;
    char ck[4200];
    snprintf(ck, sizeof ck, "%s/strict.ckpt", tu_group_dir());
    make_stopped(ck);
    static const struct {
        const char *flag, *given, *needle;
    } cases[] = {
        {"-size", "16", "-size 16 given, 8 in the checkpoint"},
        {"-cbow", "1", "-cbow 1 given, 0 in the checkpoint"},
        {"-negative", "5", "-negative 5 given, 4 in the checkpoint"},
        {"-window", "5", "-window 5 given, 3 in the checkpoint"},
        {"-hs", "1", "-hs 1 given, 0 in the checkpoint"},
        {"--seed", "8", "--seed 8 given, 7 in the checkpoint"},
        {"-sample", "0.01", "-sample 0.01 given, 0.001 in the checkpoint"},
        {"-alpha", "0.025", "-alpha 0.025 given, 0.03 in the checkpoint"},
        {"-min-count", "2", "-min-count 2 given, 1 in the checkpoint"},
        {"-iter", "3", "-iter 3 given, 2 in the checkpoint (add --extend"},
        {"-iter", "1", "-iter 1 given, 2 in the checkpoint"},
        {"-threads", "2", "-threads 2 given, 1 in the checkpoint"},
        {"--shared-negatives", "0", "--shared-negatives 0 given, 1 in the checkpoint"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out = NULL;
        int rc = ember(&out, "word2vec -train %s -output %s/x.txt -debug 0 --resume %s %s %s", g_corpus, tu_group_dir(),
                       ck, cases[i].flag, cases[i].given);
        if (rc == 0) fail_msg("%s %s was accepted on --resume", cases[i].flag, cases[i].given);
        expect_in(out, cases[i].needle);
        expect_in(out, "1 flag conflicts");
        free(out);
    }
    char *out = NULL;
    int rc = ember(&out, "word2vec -train %s -output %s/x.txt -debug 0 --resume %s -size 9 -cbow 1 --seed 2", g_corpus,
                   tu_group_dir(), ck);
    assert_int_not_equal(rc, 0);
    expect_in(out, "3 flags conflict");
    expect_in(out, "-size 9 given, 8");
    expect_in(out, "-cbow 1 given, 0");
    expect_in(out, "--seed 2 given, 7");
    free(out);
    /* --extend needs a larger -iter and a --resume */
    rc = ember(&out, "word2vec -train %s -output %s/x.txt -debug 0 --resume %s -iter 2 --extend", g_corpus,
               tu_group_dir(), ck);
    assert_int_not_equal(rc, 0);
    expect_in(out, "expected more than the checkpoint's 2 epochs");
    free(out);
    rc = ember(&out, "word2vec -train %s -output %s/x.txt -debug 0 -iter 3 --extend", g_corpus, tu_group_dir());
    assert_int_not_equal(rc, 0);
    expect_in(out, "--extend: expected --resume");
    free(out);
    /* the same settings given again: accepted, and the run finishes */
    rc = ember(&out, "word2vec -train %s -output %s/x.txt -debug 0 --resume %s %s", g_corpus, tu_group_dir(), ck,
               k_settings);
    assert_int_equal(rc, 0);
    free(out);
}

static int64_t words_done(const char *ck) {
    char *out = NULL;
    assert_int_equal(tu_run_ember(&out, "ckpt info --json %s", ck), 0);
    const char *p = strstr(out, "\"words_done\": ");
    assert_non_null(p);
    int64_t w = strtoll(p + 14, NULL, 10);
    free(out);
    return w;
}

/* A finished run resumed as it is trains nothing and says so (no "loss nan"); with -iter N --extend
 * it trains the extra epochs: words done grow by exactly one corpus pass per epoch, the vectors
 * change, the loss stays finite. */
static void test_extend_finished(void **s) {
    (void)s;
    char ck[4200], v2[4200], v3[4200];
    snprintf(ck, sizeof ck, "%s/fin.ckpt", tu_group_dir());
    snprintf(v2, sizeof v2, "%s/fin2.txt", tu_group_dir());
    snprintf(v3, sizeof v3, "%s/fin3.txt", tu_group_dir());
    char *out = NULL;
    assert_int_equal(ember(&out, "word2vec -train %s -output %s %s -debug 0 --checkpoint %s", g_corpus, v2, k_settings, ck), 0);
    free(out);
    const int64_t two = words_done(ck);
    assert_int_equal(two, 2 * 800 * 11);
    int rc = ember(&out, "word2vec -train %s -output %s -debug 1 --resume %s", g_corpus, v3, ck);
    assert_int_equal(rc, 0);
    expect_in(out, "nothing to train");
    expect_in(out, "--extend");
    assert_null(strstr(out, "nan"));
    free(out);
    rc = ember(&out, "word2vec -train %s -output %s -debug 1 --resume %s --checkpoint %s -iter 4 --extend", g_corpus, v3,
               ck, ck);
    assert_int_equal(rc, 0);
    expect_in(out, "extended");
    assert_null(strstr(out, "nan"));
    free(out);
    assert_int_equal(words_done(ck), 2 * two);
    size_t n2 = 0, n3 = 0;
    char *a = tu_read_file(v2, &n2), *b = tu_read_file(v3, &n3);
    assert_true(n2 > 0 && n3 > 0);
    assert_true(n2 != n3 || memcmp(a, b, n2) != 0);
    free(a);
    free(b);
    /* the extended checkpoint is a finished 4-epoch run now: resuming it with -iter 4 is a no-op */
    rc = ember(&out, "word2vec -train %s -output %s -debug 1 --resume %s -iter 4", g_corpus, v3, ck);
    assert_int_equal(rc, 0);
    expect_in(out, "nothing to train");
    free(out);
}

/* Another corpus of exactly the same size is refused (content fingerprint, not just the size). */
static void test_same_size_other_corpus(void **s) {
    (void)s;
    char ck[4200], other[4200];
    snprintf(ck, sizeof ck, "%s/fp.ckpt", tu_group_dir());
    snprintf(other, sizeof other, "%s/other.txt", tu_group_dir());
    make_stopped(ck);
    size_t n = 0;
    char *text = tu_read_file(g_corpus, &n);
    /* swap two words' digits near the end: same bytes count, same words, other content */
    char *p = strstr(text + n - 200, "g");
    assert_non_null(p);
    p[1] = p[1] == '0' ? '1' : '0';
    tu_write_file(other, text, n);
    free(text);
    char *out = NULL;
    int rc = ember(&out, "word2vec -train %s -output %s/x.txt -debug 0 --resume %s", other, tu_group_dir(), ck);
    assert_int_not_equal(rc, 0);
    expect_in(out, "corpus content differs");
    expect_in(out, "same size");
    free(out);
}

/* No integrity line: --resume refuses unless --trust-unverified; `similar` warns but works. */
static void test_unverified(void **s) {
    (void)s;
    char ck[4200], bad[4200];
    snprintf(ck, sizeof ck, "%s/uv.ckpt", tu_group_dir());
    snprintf(bad, sizeof bad, "%s/uv-noheader.ckpt", tu_group_dir());
    make_stopped(ck);
    size_t n = 0;
    char *bytes = tu_read_file(ck, &n);
    memset(bytes, 0, 512);
    tu_write_file(bad, bytes, n);
    free(bytes);
    char *out = NULL;
    int rc = ember(&out, "word2vec -train %s -output %s/x.txt -debug 0 --resume %s", g_corpus, tu_group_dir(), bad);
    assert_int_not_equal(rc, 0);
    expect_in(out, "no integrity line");
    expect_in(out, "--trust-unverified");
    free(out);
    rc = ember(&out, "word2vec -train %s -output %s/x.txt -debug 0 --resume %s --trust-unverified", g_corpus,
               tu_group_dir(), bad);
    assert_int_equal(rc, 0);
    expect_in(out, "warning");
    free(out);
    rc = ember(&out, "similar %s g0w1 -k 2", bad);
    assert_int_equal(rc, 0);
    expect_in(out, "not verified");
    expect_in(out, "nearest to g0w1");
    free(out);
    rc = ember(&out, "similar %s g0w1 -k 2", ck);
    assert_int_equal(rc, 0);
    assert_null(strstr(out, "not verified"));
    free(out);
}

/* Starts `ember word2vec ARGS` in the background, waits until its first periodic checkpoint ck
 * exists (training has begun), sends sig, and returns the exit code with the output in *out. */
static int run_and_signal(char **out, const char *ck, int sig, const char *args) {
    char cmd[32768];
    unlink(ck);
    snprintf(cmd, sizeof cmd,
             "(%s word2vec %s & p=$!; i=0; while [ ! -s %s ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); "
             "done; sleep 0.1; kill -%d $p; wait $p)",
             tu_ember_bin(), args, ck, sig);
    int rc = tu_run(cmd, out);
    printf("[%d] %s\n%s", rc, cmd, *out);
    return rc;
}

/* SIGINT (and SIGTERM) mid-run: checkpoint saved, exit 3, "resume with" the command; running that
 * command finishes the run, and with --deterministic the result is the uninterrupted run's bytes. */
static void test_signal_saves(void **s) {
    (void)s;
    char ck[4200], full[4200], part[4200], args[16384];
    snprintf(ck, sizeof ck, "%s/sig.ckpt", tu_group_dir());
    snprintf(full, sizeof full, "%s/sigfull.bin", tu_group_dir());
    snprintf(part, sizeof part, "%s/sigpart.bin", tu_group_dir());
    const char *common = "-size 16 -iter 20 -min-count 1 -debug 0 -binary 1 --deterministic --seed 3 -cbow 0";
    char *out = NULL;
    assert_int_equal(ember(&out, "word2vec -train %s -output %s %s", g_big, full, common), 0);
    free(out);
    const int sigs[2] = {SIGINT, SIGTERM};
    for (int k = 0; k < 2; k++) {
        snprintf(args, sizeof args, "-train %s -output %s %s --checkpoint %s --checkpoint-every 20000", g_big, part,
                 common, ck);
        int rc = run_and_signal(&out, ck, sigs[k], args);
        if (rc != 3) fail_msg("expected exit 3 after signal %d, got %d: %s", sigs[k], rc, out);
        expect_in(out, sigs[k] == SIGINT ? "stopped by SIGINT" : "stopped by SIGTERM");
        expect_in(out, "checkpoint saved to");
        expect_in(out, "resume with: ember word2vec");
        /* the printed command, run as it is (with the test's binary) */
        const char *cmdline = strstr(out, "resume with: ember ") + strlen("resume with: ember ");
        char resume[8192];
        snprintf(resume, sizeof resume, "%.*s", (int)strcspn(cmdline, "\n"), cmdline);
        free(out);
        ckpt_reader *r = ckpt_open(ck);
        assert_non_null(r);
        assert_true(ckpt_verified(r));
        ckpt_close(r);
        int64_t at = words_done(ck);
        assert_true(at > 0 && at < 20 * 20 * 800 * 11);
        rc = ember(&out, "%s -debug 0", resume);
        assert_int_equal(rc, 0);
        free(out);
        assert_int_equal(words_done(ck), 20 * 20 * 800 * 11);
        size_t na = 0, nb = 0;
        char *a = tu_read_file(full, &na), *b = tu_read_file(part, &nb);
        assert_int_equal(na, nb);
        assert_memory_equal(a, b, na);
        free(a);
        free(b);
    }
}

/* Temp files of dead processes next to the checkpoint go at the next save; a live process's stay;
 * `ckpt info` says what a temp file is. */
static void test_stale_temps(void **s) {
    (void)s;
    char ck[4200], dead[4300], live[4300], other[4300];
    snprintf(ck, sizeof ck, "%s/temps.ckpt", tu_group_dir());
    make_stopped(ck);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) _exit(0);
    waitpid(child, NULL, 0); /* a pid that no longer runs (reuse within the test is unlikely) */
    snprintf(dead, sizeof dead, "%s.tmp.%ld", ck, (long)child);
    snprintf(live, sizeof live, "%s.tmp.%ld", ck, (long)getpid());
    snprintf(other, sizeof other, "%s/unrelated.ckpt.tmp.%ld", tu_group_dir(), (long)child);
    size_t n = 0;
    char *bytes = tu_read_file(ck, &n);
    tu_write_file(dead, bytes, n); /* a killed save that got as far as a complete file */
    tu_write_file(live, "x", 1);
    tu_write_file(other, "x", 1);
    free(bytes);
    char *out = NULL;
    assert_int_equal(ember(&out, "ckpt info %s", dead), 0);
    expect_in(out, "is not a checkpoint but the temporary file of a save to");
    expect_in(out, "no longer running");
    free(out);
    assert_int_equal(ember(&out, "ckpt info --json %s", dead), 0);
    expect_in(out, "\"temporary_file\": true");
    free(out);
    assert_int_equal(ember(&out, "word2vec -train %s -output %s/x.txt -debug 0 --resume %s --checkpoint %s", g_corpus,
                           tu_group_dir(), ck, ck),
                     0);
    free(out);
    assert_int_not_equal(access(dead, F_OK), 0); /* removed */
    assert_int_equal(access(live, F_OK), 0);     /* kept: its process runs */
    assert_int_equal(access(other, F_OK), 0);    /* kept: another target's */
    unlink(live);
    unlink(other);
}

/* Frictions: a directory as corpus or vectors, -output = -train, --version, ckpt export --help. */
static void test_frictions(void **s) {
    (void)s;
    char *out = NULL;
    size_t n0 = 0;
    char *before = tu_read_file(g_corpus, &n0);
    int rc = ember(&out, "word2vec -train %s -output %s -debug 0", g_corpus, g_corpus);
    assert_int_not_equal(rc, 0);
    expect_in(out, "is the -train corpus");
    free(out);
    size_t n1 = 0;
    char *after = tu_read_file(g_corpus, &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(before, after, n0);
    free(before);
    free(after);
    rc = ember(&out, "word2vec -train %s -output %s/x.txt -debug 0", tu_group_dir(), tu_group_dir());
    assert_int_not_equal(rc, 0);
    expect_in(out, "got a directory");
    free(out);
    rc = ember(&out, "similar %s word", tu_group_dir());
    assert_int_not_equal(rc, 0);
    expect_in(out, "got a directory");
    free(out);
    rc = ember(&out, "eval analogy %s", tu_group_dir());
    assert_int_not_equal(rc, 0);
    expect_in(out, "got a directory");
    free(out);
    assert_int_equal(ember(&out, "--version"), 0);
    expect_in(out, "ember ");
    free(out);
    assert_int_equal(ember(&out, "ckpt export --help"), 0);
    expect_in(out, "usage: ember ckpt");
    free(out);
}

/* Duplicate words in a vectors file: a warning, lookups use the first, and a word is never listed
 * as its own neighbour. */
static void test_duplicate_vectors(void **s) {
    (void)s;
    char path[4200];
    snprintf(path, sizeof path, "%s/dup.txt", tu_group_dir());
    const char *text = "4 3\ncat 1 0 0\ndog 0.9 0.1 0\ncat 1 0.01 0\ncar 0 0 1\n";
    tu_write_file(path, text, strlen(text));
    char *out = NULL;
    assert_int_equal(ember(&out, "similar %s cat -k 3", path), 0);
    expect_in(out, "1 duplicate word");
    expect_in(out, "'cat'");
    const char *list = strstr(out, "nearest to cat:");
    assert_non_null(list);
    assert_null(strstr(list + strlen("nearest to cat:"), "cat"));
    expect_in(list, "dog");
    free(out);
}

/* Out of memory on user-sized tables: exit 1 and the size asked for, not an abort. Address-space
 * limits and ASan's shadow memory do not mix, so the sanitizer build skips this. */
static void test_oom_is_clean(void **s) {
    (void)s;
#if defined(__SANITIZE_ADDRESS__)
    skip();
#else
    char corpus[4200], cmd[16384];
    snprintf(corpus, sizeof corpus, "%s/v3k.txt", tu_group_dir());
    FILE *f = fopen(corpus, "w");
    assert_non_null(f);
    for (int i = 0; i < 3000; i++) {
        for (int j = 0; j < 10; j++) fprintf(f, "w%d ", (i * 7 + j) % 3000);
        fputc('\n', f);
    }
    fclose(f);
    /* 3001 words x 100000 x 4 bytes = 1.2 GB per table, two tables, under a 1.5 GB address space */
    snprintf(cmd, sizeof cmd, "ulimit -v 1500000; %s word2vec -train %s -output %s/oom.txt -size 100000 -min-count 1 "
                              "-iter 1 -debug 0",
             tu_ember_bin(), corpus, tu_group_dir());
    char *out = NULL;
    int rc = tu_run(cmd, &out);
    printf("[%d] %s\n", rc, out);
    assert_int_equal(rc, 1);
    expect_in(out, "out of memory");
    expect_in(out, "1.20 GB");
    expect_in(out, "-size 100000");
    free(out);
#endif
}

/* Out of memory while counting and ordering the vocabulary (2,000,000 distinct words, 18 MB of text)
 * and while building the tables after it: at every address-space limit from the counting pass to
 * the sampler, with one and two threads, the run exits 1 with "out of memory" and the size, never
 * an abort (which exits 134). The limits were chosen to land in each stage on this code: 300 MB in
 * the counting pass, 350 MB in the sort (one thread), 400 MB at the tables, 500 MB at the
 * negative-sampling table; timeout guards against a run that hangs instead. */
static void test_oom_vocabulary_is_clean(void **s) {
    (void)s;
#if defined(__SANITIZE_ADDRESS__)
    skip();
#else
    char corpus[4200], cmd[16384];
    snprintf(corpus, sizeof corpus, "%s/distinct2m.txt", tu_group_dir());
    FILE *f = fopen(corpus, "w");
    assert_non_null(f);
    for (int i = 0; i < 2000000; i++) fprintf(f, "x%07d%c", i, i % 20 == 19 ? '\n' : ' ');
    fclose(f);
    const int limits[] = {300000, 350000, 400000, 500000};
    for (size_t l = 0; l < sizeof limits / sizeof *limits; l++)
        for (int t = 1; t <= 2; t++) {
            snprintf(cmd, sizeof cmd,
                     "ulimit -v %d; timeout 120 %s word2vec -train %s -output %s/oomv.txt -size 10 -min-count 1 "
                     "-iter 1 -threads %d -debug 0",
                     limits[l], tu_ember_bin(), corpus, tu_group_dir(), t);
            char *out = NULL;
            int rc = tu_run(cmd, &out);
            printf("[ulimit -v %d, %d threads: exit %d] %s", limits[l], t, rc, out);
            assert_int_equal(rc, 1);
            expect_in(out, "out of memory");
            assert_null(strstr(out, "fatal error"));
            free(out);
        }
    remove(corpus);
#endif
}

/* The running loss the reports show continues across a resume: the final report's whole-run mean of
 * a stopped-and-resumed deterministic run equals the uninterrupted run's (it restarted at zero
 * before, so it was the resumed part's mean only). */
static void on_report(const train_w2v_report *r, void *ctx) {
    if (r->final) *(double *)ctx = r->loss_total;
}

static double run_loss(const char *ck, int64_t stop, const char *resume) {
    train_w2v_options o;
    train_w2v_options_default(&o);
    o.train = g_corpus;
    o.size = 8;
    o.iter = 3;
    o.min_count = 1;
    o.cbow = 0;
    o.debug = 0;
    o.deterministic = true;
    o.checkpoint = ck;
    o.stop_after_words = stop;
    o.resume = resume;
    double total = NAN;
    o.on_report = on_report;
    o.report_ctx = &total;
    train_w2v_model *m = NULL;
    if (train_w2v_run(&o, &m) != 0) fail_msg("train_w2v_run: %s", base_error_msg());
    train_w2v_model_free(m);
    return total;
}

static void test_resumed_loss_continues(void **s) {
    (void)s;
    char ck[4200];
    snprintf(ck, sizeof ck, "%s/loss.ckpt", tu_group_dir());
    double full = run_loss(NULL, 0, NULL);
    double part = run_loss(ck, 12000, NULL);
    double resumed = run_loss(NULL, 0, ck);
    printf("whole-run mean loss: uninterrupted %.9f, first part %.9f, resumed %.9f\n", full, part, resumed);
    assert_true(isfinite(full) && isfinite(resumed));
    assert_true(fabs(resumed - full) <= 1e-9 * fabs(full));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conflicting_flags), cmocka_unit_test(test_extend_finished),
        cmocka_unit_test(test_same_size_other_corpus), cmocka_unit_test(test_unverified),
        cmocka_unit_test(test_signal_saves), cmocka_unit_test(test_stale_temps),
        cmocka_unit_test(test_frictions), cmocka_unit_test(test_duplicate_vectors),
        cmocka_unit_test(test_oom_is_clean),        cmocka_unit_test(test_oom_vocabulary_is_clean),        cmocka_unit_test(test_resumed_loss_continues),
    };
    return cmocka_run_group_tests(tests, setup, tu_group_tempdir_teardown);
}
