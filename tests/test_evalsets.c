/* test_evalsets.c — evaluation-set readers on the real shared files and on mutilated copies. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/evalsets.h"
#include "tests/support/test_util.h"

/* Writes text to <dir>/<name>; returns the heap path. */
static char *write_tmp(const char *dir, const char *name, const char *text) {
    char *p = malloc(strlen(dir) + strlen(name) + 2);
    sprintf(p, "%s/%s", dir, name);
    assert_int_equal(tu_write_file(p, text, strlen(text)), 0);
    return p;
}

/* Asserts that msg contains every needle. */
static void assert_msg(const char *msg, const char *n1, const char *n2) {
    if (!strstr(msg, n1) || (n2 && !strstr(msg, n2))) {
        fprintf(stderr, "error message '%s' lacks '%s'%s%s\n", msg, n1, n2 ? " or " : "", n2 ? n2 : "");
        fail();
    }
}

static void test_analogy_real(void **state) {
    (void)state;
    const char *p = tu_data_path("analogy/questions-words.txt");
    if (!p) skip();
    data_analogy_set *s;
    assert_int_equal(data_analogy_read(&s, p), 0);
    assert_int_equal(s->n, 19544);
    assert_int_equal(s->n_sections, 14);
    assert_string_equal(s->section_names[0], "capital-common-countries");
    assert_string_equal(s->section_names[5], "gram1-adjective-to-adverb");
    assert_string_equal(s->words[0], "Athens");
    assert_string_equal(s->words[3], "Iraq");
    assert_int_equal(s->section[0], 0);
    assert_int_equal(s->section[s->n - 1], 13);
    data_analogy_free(s);
}

static void test_analogy_phrases_real(void **state) {
    (void)state;
    const char *p = tu_data_path("analogy/questions-phrases.txt");
    if (!p) skip();
    data_analogy_set *s;
    assert_int_equal(data_analogy_read(&s, p), 0);
    assert_int_equal(s->n, 3218);
    assert_int_equal(s->n_sections, 5);
    data_analogy_free(s);
}

static void test_analogy_mutilated(void **state) {
    (void)state;
    char *dir = tu_tempdir();
    data_analogy_set *s;
    /* CRLF, no final newline, blank lines, questions before a header */
    char *ok = write_tmp(dir, "ok.txt", "a b c d\r\n\r\n: fam\r\nking queen man woman\r\nx y z w");
    assert_int_equal(data_analogy_read(&s, ok), 0);
    assert_int_equal(s->n, 3);
    assert_int_equal(s->n_sections, 2);
    assert_string_equal(s->section_names[1], "fam");
    assert_string_equal(s->words[11], "w");
    assert_int_equal(s->section[2], 1);
    data_analogy_free(s);

    char *bad = write_tmp(dir, "bad.txt", ": s\nking queen man woman\nking queen man\n");
    assert_int_equal(data_analogy_read(&s, bad), -1);
    assert_null(s);
    assert_msg(base_error_msg(), "bad.txt:3:", "expected 4 words");
    char *five = write_tmp(dir, "five.txt", ": s\na b c d e\n");
    assert_int_equal(data_analogy_read(&s, five), -1);
    assert_msg(base_error_msg(), "five.txt:2:", "got 5 words");
    char *hdr = write_tmp(dir, "hdr.txt", ":\na b c d\n");
    assert_int_equal(data_analogy_read(&s, hdr), -1);
    assert_msg(base_error_msg(), "hdr.txt:1:", "section name");
    char *empty = write_tmp(dir, "empty.txt", ": s\n\n");
    assert_int_equal(data_analogy_read(&s, empty), -1);
    assert_msg(base_error_msg(), "empty.txt", "got none");
    assert_int_equal(data_analogy_read(&s, "/nonexistent/q.txt"), -1);
    assert_msg(base_error_msg(), "/nonexistent/q.txt", "cannot open");
    free(ok), free(bad), free(five), free(hdr), free(empty);
    tu_rmtree(dir);
    free(dir);
}

static void test_wordsim_real(void **state) {
    (void)state;
    static const struct {
        const char *file;
        int64_t n;
    } sets[] = {
        {"EN-WS-353-ALL.txt", 353},   {"EN-WS-353-SIM.txt", 203},  {"EN-WS-353-REL.txt", 252},
        {"EN-SIMLEX-999.txt", 999},   {"EN-MEN-TR-3k.txt", 3000},  {"EN-RW-STANFORD.txt", 2034},
        {"EN-MTurk-771.txt", 771},    {"EN-MTurk-287.txt", 287},   {"EN-RG-65.txt", 65},
        {"EN-MC-30.txt", 30},         {"EN-SimVerb-3500.txt", 3500}, {"EN-VERB-143.txt", 144},
        {"EN-YP-130.txt", 130},
    };
    if (!tu_data_dir()) skip();
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "wordsim/%s", sets[i].file);
        const char *p = tu_data_path(rel);
        if (!p) skip();
        data_wordsim_set *s;
        if (data_wordsim_read(&s, p)) fail_msg("%s", base_error_msg());
        if (s->n != sets[i].n) fail_msg("%s: %lld pairs, expected %lld", sets[i].file, (long long)s->n, (long long)sets[i].n);
        /* no CR may survive in the last field's word (CRLF files) */
        for (int64_t j = 0; j < s->n; j++) assert_null(strchr(s->w2[j], '\r'));
        data_wordsim_free(s);
    }
    data_wordsim_set *s;
    assert_int_equal(data_wordsim_read(&s, tu_data_path("wordsim/EN-WS-353-ALL.txt")), 0);
    assert_string_equal(s->name, "EN-WS-353-ALL");
    assert_string_equal(s->w1[0], "love");
    assert_string_equal(s->w2[0], "sex");
    assert_float_equal(s->score[0], 6.77f, 1e-6);
    data_wordsim_free(s);
}

static void test_wordsim_mutilated(void **state) {
    (void)state;
    char *dir = tu_tempdir();
    data_wordsim_set *s;
    char *ok = write_tmp(dir, "ok.txt", "cat\tdog\t7.5\r\ncar  bus 6\r\n\r\nsun\tmoon\t-1e0");
    assert_int_equal(data_wordsim_read(&s, ok), 0);
    assert_int_equal(s->n, 3);
    assert_string_equal(s->w2[1], "bus");
    assert_float_equal(s->score[2], -1.0f, 0);
    data_wordsim_free(s);
    char *two = write_tmp(dir, "two.txt", "cat\tdog\t7.5\ncat\tdog\n");
    assert_int_equal(data_wordsim_read(&s, two), -1);
    assert_msg(base_error_msg(), "two.txt:2:", "expected 3 fields");
    char *num = write_tmp(dir, "num.txt", "cat\tdog\t7.5x\n");
    assert_int_equal(data_wordsim_read(&s, num), -1);
    assert_msg(base_error_msg(), "num.txt:1:", "'7.5x'");
    char *nan = write_tmp(dir, "nan.txt", "a\tb\t1\ncat\tdog\tnan\n");
    assert_int_equal(data_wordsim_read(&s, nan), -1);
    assert_msg(base_error_msg(), "nan.txt:2:", "expected a number");
    free(ok), free(two), free(num), free(nan);
    tu_rmtree(dir);
    free(dir);
}

/* Copies the real file with line `lineno` (1-based) replaced by repl. */
static char *mutilate(const char *src, const char *dir, const char *name, int lineno, const char *repl) {
    size_t n;
    char *text = tu_read_file(src, &n);
    assert_non_null(text);
    char *p = malloc(strlen(dir) + strlen(name) + 2);
    sprintf(p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    int line = 1;
    char *s = text;
    while (*s) {
        char *nl = strchr(s, '\n');
        size_t len = nl ? (size_t)(nl - s + 1) : strlen(s);
        if (line == lineno) fprintf(f, "%s\n", repl);
        else fwrite(s, 1, len, f);
        s += len;
        line++;
    }
    fclose(f);
    free(text);
    return p;
}

static void test_pairs_real(void **state) {
    (void)state;
    const char *files[] = {"sentence-sim/stsbenchmark/sts-train.csv", "sentence-sim/stsbenchmark/sts-dev.csv",
                           "sentence-sim/stsbenchmark/sts-test.csv", "sentence-sim/sick/SICK.txt"};
    const int64_t counts[] = {5749, 1500, 1379, 9840};
    if (!tu_data_dir()) skip();
    for (int i = 0; i < 4; i++) {
        const char *p = tu_data_path(files[i]);
        if (!p) skip();
        data_sentence_pairs *s;
        if (data_pairs_read(&s, p, DATA_PAIRS_AUTO)) fail_msg("%s", base_error_msg());
        assert_int_equal(s->n, counts[i]);
        for (int64_t j = 0; j < s->n; j++) {
            assert_true(s->score[j] >= 0 && s->score[j] <= 5);
            assert_true(strlen(s->a[j]) > 0 && strlen(s->b[j]) > 0);
            assert_null(strchr(s->b[j], '\r'));
        }
        if (i == 0) {
            assert_string_equal(s->a[0], "A plane is taking off.");
            assert_float_equal(s->score[0], 5.0f, 0);
        }
        if (i == 3) {
            assert_float_equal(s->score[0], 4.5f, 0);
            assert_true(!strncmp(s->a[0], "A group of kids is playing", 26));
        }
        data_pairs_free(s);
    }
    /* mutilated copies */
    char *dir = tu_tempdir();
    data_sentence_pairs *s;
    char *f1 = mutilate(tu_data_path(files[1]), dir, "sts-dev.csv", 7, "main-captions\tMSRvid\t2012test\t0001\t5.000");
    assert_int_equal(data_pairs_read(&s, f1, DATA_PAIRS_STSB), -1);
    assert_msg(base_error_msg(), "sts-dev.csv:7:", "expected 7 or 9");
    char *f2 = mutilate(tu_data_path(files[1]), dir, "sts-dev2.csv", 3, "g\tf\ty\ti\tfive\ta\tb");
    assert_int_equal(data_pairs_read(&s, f2, DATA_PAIRS_STSB), -1);
    assert_msg(base_error_msg(), "sts-dev2.csv:3:", "'five'");
    char *f3 = mutilate(tu_data_path(files[3]), dir, "SICK.txt", 100, "100\tonly one sentence\r");
    assert_int_equal(data_pairs_read(&s, f3, DATA_PAIRS_AUTO), -1);
    assert_msg(base_error_msg(), "SICK.txt:100:", "at least 5");
    char *f4 = mutilate(tu_data_path(files[3]), dir, "SICK2.txt", 1, "pair_ID\tsentence_A\tsentence_B\tlabel\tscore\r");
    assert_int_equal(data_pairs_read(&s, f4, DATA_PAIRS_AUTO), -1);
    assert_msg(base_error_msg(), "SICK2.txt:1:", "relatedness_score");
    free(f1), free(f2), free(f3), free(f4);
    tu_rmtree(dir);
    free(dir);
}

static void test_labeled_real(void **state) {
    (void)state;
    const char *files[] = {"classification/sst2/dev.tsv", "classification/sst2/test.tsv",
                           "classification/sst2/train.tsv.gz"};
    const int64_t counts[] = {872, 1821, 67349}, pos[] = {444, 909, 37569};
    if (!tu_data_dir()) skip();
    for (int i = 0; i < 3; i++) {
        const char *p = tu_data_path(files[i]);
        if (!p) skip();
        data_labeled_sentences *s;
        if (data_labeled_read(&s, p)) fail_msg("%s", base_error_msg());
        assert_int_equal(s->n, counts[i]);
        int64_t np = 0;
        for (int64_t j = 0; j < s->n; j++) {
            assert_true(s->label[j] == 0 || s->label[j] == 1);
            np += s->label[j];
        }
        assert_int_equal(np, pos[i]);
        data_labeled_free(s);
    }
    char *dir = tu_tempdir();
    data_labeled_sentences *s;
    char *f1 = mutilate(tu_data_path(files[0]), dir, "dev.tsv", 5, "positive\ta fine film");
    assert_int_equal(data_labeled_read(&s, f1), -1);
    assert_msg(base_error_msg(), "dev.tsv:5:", "integer label");
    char *f2 = mutilate(tu_data_path(files[0]), dir, "dev2.tsv", 1, "sentence\tlabel");
    assert_int_equal(data_labeled_read(&s, f2), -1);
    assert_msg(base_error_msg(), "dev2.tsv:1:", "header");
    char *f3 = mutilate(tu_data_path(files[0]), dir, "dev3.tsv", 9, "1 no tab here");
    assert_int_equal(data_labeled_read(&s, f3), -1);
    assert_msg(base_error_msg(), "dev3.tsv:9:", "2 TAB-separated");
    free(f1), free(f2), free(f3);
    tu_rmtree(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_analogy_real),      cmocka_unit_test(test_analogy_phrases_real),
        cmocka_unit_test(test_analogy_mutilated), cmocka_unit_test(test_wordsim_real),
        cmocka_unit_test(test_wordsim_mutilated), cmocka_unit_test(test_pairs_real),
        cmocka_unit_test(test_labeled_real),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
