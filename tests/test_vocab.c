/* test_vocab.c — vocabulary hash, canonical order, build with min-count and logged pruning, save/read validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/corpus.h"
#include "data/vocab.h"
#include "support/test_util.h"

/* 200,000 distinct words: every one found at its id, absent words give -1, the load stays <= 0.5. */
static void test_hash_many_words(void **state) {
    (void)state;
    data_vocab *v = data_vocab_new();
    char w[32];
    const int n = 200000;
    for (int i = 0; i < n; i++) {
        snprintf(w, sizeof w, "w%d", i);
        assert_int_equal(data_vocab_add(v, w, i + 1), i);
    }
    assert_int_equal(v->n, n);
    assert_true(2 * v->n <= v->hash_size);
    assert_int_equal(v->hash_size & (v->hash_size - 1), 0);
    for (int i = 0; i < n; i++) {
        snprintf(w, sizeof w, "w%d", i);
        assert_int_equal(data_vocab_find(v, w), i);
        snprintf(w, sizeof w, "x%d", i);
        assert_int_equal(data_vocab_find(v, w), -1);
    }
    assert_int_equal(data_vocab_add(v, "w17", 5), 17); /* existing word: count grows */
    assert_int_equal(v->counts[17], 23);
    assert_int_equal(data_vocab_find(v, ""), -1);
    data_vocab_free(v);
}

/* "</s>" first, then count descending, then bytes ascending (including bytes >= 0x80). */
static void test_canonical_order(void **state) {
    (void)state;
    data_vocab *v = data_vocab_new();
    data_vocab_add(v, "zeta", 5);
    data_vocab_add(v, "alpha", 5);
    data_vocab_add(v, "caf\xc3\xa9", 5);
    data_vocab_add(v, "cafe", 5);
    data_vocab_add(v, "big", 100);
    data_vocab_add(v, "rare", 1);
    data_vocab_add(v, "</s>", 2);
    data_vocab_add(v, "mid", 7);
    data_vocab_finish(v, 2);
    const char *want[] = {"</s>", "big", "mid", "alpha", "cafe", "caf\xc3\xa9", "zeta"};
    assert_int_equal(v->n, 7);
    for (int i = 0; i < 7; i++) {
        assert_string_equal(v->words[i], want[i]);
        assert_int_equal(data_vocab_find(v, want[i]), i);
    }
    assert_int_equal(data_vocab_find(v, "rare"), -1);
    assert_int_equal(v->total, 2 + 100 + 7 + 5 * 4);
    /* "</s>" survives min-count even with count 0. */
    data_vocab *e = data_vocab_new();
    data_vocab_add(e, "a", 3);
    data_vocab_add(e, "</s>", 0);
    data_vocab_finish(e, 5);
    assert_int_equal(e->n, 1);
    assert_string_equal(e->words[0], "</s>");
    data_vocab_free(e);
    data_vocab_free(v);
}

/* Build counts match a naive count; min-count; "</s>" at id 0; pruning is logged. */
static void test_build_and_prune(void **state) {
    (void)state;
    const char *p = tu_group_path("c.txt");
    /* word k (k = 1..40) occurs k times; lines of 10 words. */
    char *text = malloc(40 * 41 / 2 * 8 + 1000);
    size_t n = 0;
    int on_line = 0;
    for (int k = 40; k >= 1; k--)
        for (int r = 0; r < k; r++) {
            n += (size_t)sprintf(text + n, "w%02d", k);
            text[n++] = (++on_line % 10 == 0) ? '\n' : ' ';
        }
    assert_int_equal(tu_write_file(p, text, n), 0);
    data_vocab *v = NULL;
    assert_int_equal(data_vocab_build(&v, p, 5, 0, NULL), 0);
    assert_string_equal(v->words[0], "</s>");
    assert_int_equal(v->counts[0], 820 / 10);
    assert_int_equal(v->n, 1 + 36); /* w05..w40 */
    for (int64_t i = 1; i < v->n; i++) {
        char w[8];
        snprintf(w, sizeof w, "w%02d", (int)(41 - i));
        assert_string_equal(v->words[i], w);
        assert_int_equal(v->counts[i], 41 - i);
    }
    assert_int_equal(v->total, 82 + (820 - 10));
    data_vocab_free(v);

    /* Pruning at 20 entries: logged, and the frequent words keep exact-enough counts. */
    FILE *log = tmpfile();
    assert_int_equal(data_vocab_build(&v, p, 1, 20, log), 0);
    rewind(log);
    char line[256];
    int prunes = 0;
    while (fgets(line, sizeof line, log)) {
        printf("%s", line);
        assert_non_null(strstr(line, "vocab: pruned "));
        assert_non_null(strstr(line, "words read"));
        prunes++;
    }
    assert_true(prunes >= 1);
    assert_true(v->n <= 21);
    assert_string_equal(v->words[0], "</s>");
    assert_string_equal(v->words[1], "w40"); /* read first, never pruned */
    assert_int_equal(v->counts[1], 40);
    fclose(log);
    data_vocab_free(v);
    free(text);

    /* Empty corpus and a min-count nothing reaches: the header's message. */
    const char *e = tu_group_path("empty.txt");
    assert_int_equal(tu_write_file(e, "", 0), 0);
    assert_int_equal(data_vocab_build(&v, e, 5, 0, NULL), -1);
    assert_null(v);
    assert_non_null(strstr(base_error_msg(), "empty.txt: no word occurs at least 5 times (min-count 5); 0 distinct"));
    const char *f = tu_group_path("few.txt");
    assert_int_equal(tu_write_file(f, "a b c a\n", 8), 0);
    assert_int_equal(data_vocab_build(&v, f, 5, 0, NULL), -1);
    assert_non_null(strstr(base_error_msg(), "few.txt: no word occurs at least 5 times (min-count 5); 3 distinct words read"));
    assert_int_equal(data_vocab_build(&v, tu_group_path("missing.txt"), 5, 0, NULL), -1);
    assert_non_null(strstr(base_error_msg(), "missing.txt"));
}

static void test_save_read_roundtrip(void **state) {
    (void)state;
    data_vocab *v = data_vocab_new();
    data_vocab_add(v, "</s>", 0);
    data_vocab_add(v, "the", 1000000000000ll); /* 64-bit count */
    data_vocab_add(v, "na\xc3\xafve", 3);
    data_vocab_add(v, "of", 77);
    data_vocab_finish(v, 1);
    const char *p = tu_group_path("v.txt");
    assert_int_equal(data_vocab_save(v, p), 0);
    size_t n;
    char *s = tu_read_file(p, &n);
    assert_string_equal(s, "</s> 0\nthe 1000000000000\nof 77\nna\xc3\xafve 3\n");
    free(s);
    data_vocab *r = NULL;
    assert_int_equal(data_vocab_read(&r, p), 0);
    assert_int_equal(r->n, v->n);
    for (int64_t i = 0; i < v->n; i++) {
        assert_string_equal(r->words[i], v->words[i]);
        assert_int_equal(r->counts[i], v->counts[i]);
        assert_int_equal(data_vocab_find(r, v->words[i]), i);
    }
    assert_int_equal(r->total, v->total);
    data_vocab_free(r);
    /* A word with whitespace cannot be saved. */
    data_vocab_add(v, "two words", 4);
    assert_int_equal(data_vocab_save(v, p), -1);
    assert_non_null(strstr(base_error_msg(), "whitespace"));
    data_vocab_free(v);
    /* CRLF vocabulary files read like LF ones. */
    assert_int_equal(tu_write_file(p, "</s> 0\r\nthe 5\r\n", 15), 0);
    assert_int_equal(data_vocab_read(&r, p), 0);
    assert_int_equal(r->n, 2);
    assert_int_equal(r->counts[1], 5);
    data_vocab_free(r);
}

static void expect_read_error(const char *name, const char *content, const char *needle) {
    const char *p = tu_group_path(name);
    assert_int_equal(tu_write_file(p, content, strlen(content)), 0);
    data_vocab *r = (data_vocab *)1;
    assert_int_equal(data_vocab_read(&r, p), -1);
    assert_null(r);
    const char *m = base_error_msg();
    if (!strstr(m, needle) || !strstr(m, name)) fail_msg("%s: message \"%s\" lacks \"%s\"", name, m, needle);
    printf("%s\n", m);
}

static void test_read_validation(void **state) {
    (void)state;
    expect_read_error("zero.txt", "</s> 0\nthe 5\ncat 0\n", "line 3: expected a count > 0");
    expect_read_error("neg.txt", "the -4\n", "line 1: expected a count > 0");
    expect_read_error("missing.txt", "the 5\ncat\n", "line 2: expected \"word count\"");
    expect_read_error("nonnum.txt", "the 5\ncat x7\n", "line 2: expected an integer count");
    expect_read_error("trailing.txt", "the 5\ncat 7 9\n", "line 2: expected an integer count");
    expect_read_error("dup.txt", "the 5\ncat 4\nthe 3\n", "line 3: duplicate word \"the\" (first on line 1)");
    expect_read_error("trunc.txt", "the 5\ncat 4\ndog 3", "line 3:");
    expect_read_error("trunc2.txt", "the 5\ncat 4\ndog 3", "truncated");
    expect_read_error("empty.txt", "", "empty file");
    expect_read_error("blank.txt", "the 5\n\ncat 4\n", "line 2");
    expect_read_error("space.txt", " 5\n", "line 1");
    expect_read_error("huge.txt", "the 99999999999999999999999\n", "line 1: expected an integer count");
    data_vocab *r = (data_vocab *)1;
    assert_int_equal(data_vocab_read(&r, tu_group_path("absent.txt")), -1);
    assert_null(r);
    assert_non_null(strstr(base_error_msg(), "absent.txt"));
}

/* The shared text8-style corpus: 82,208 types with count >= 5 (MANIFEST.md) plus "</s>". */
static void test_real_vocab(void **state) {
    (void)state;
    const char *p = tu_data_path("corpus/enwiki_text8style_1e8.txt.gz");
    if (!p) skip();
    data_vocab *v = NULL;
    assert_int_equal(data_vocab_build(&v, p, 5, 0, NULL), 0);
    printf("text8-style vocab: %lld words (min-count 5), total %lld, top: %s %lld, %s %lld\n", (long long)v->n,
           (long long)v->total, v->words[1], (long long)v->counts[1], v->words[2], (long long)v->counts[2]);
    assert_int_equal(v->n, 82208 + 1);
    assert_string_equal(v->words[0], "</s>");
    assert_int_equal(v->counts[0], 0);
    assert_string_equal(v->words[1], "the");
    for (int64_t i = 2; i < v->n; i++) assert_true(v->counts[i] <= v->counts[i - 1]);
    const char *vp = tu_group_path("text8.vocab");
    assert_int_equal(data_vocab_save(v, vp), 0);
    data_vocab *r = NULL;
    assert_int_equal(data_vocab_read(&r, vp), 0);
    assert_int_equal(r->n, v->n);
    assert_int_equal(r->total, v->total);
    data_vocab_free(r);
    data_vocab_free(v);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_many_words),     cmocka_unit_test(test_canonical_order),
        cmocka_unit_test(test_build_and_prune),     cmocka_unit_test(test_save_read_roundtrip),
        cmocka_unit_test(test_read_validation),     cmocka_unit_test(test_real_vocab),
    };
    return cmocka_run_group_tests(tests, tu_group_tempdir_setup, tu_group_tempdir_teardown);
}
