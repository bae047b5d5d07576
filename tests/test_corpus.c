/* test_corpus.c — corpus streams: words, </s>, CRLF, gzip, truncation, shards vs one pass, tell/seek, bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/corpus.h"
#include "support/test_util.h"

/* All words of shard k of n joined by '\n' (heap string); *count gets the number of words. */
typedef struct {
    char *s;
    size_t len, cap;
    int64_t count;
} strbuf;
static void sb_add(strbuf *b, const char *w, int n) {
    if (b->len + (size_t)n + 2 > b->cap) {
        b->cap = (b->len + (size_t)n + 2) * 2;
        b->s = realloc(b->s, b->cap);
    }
    memcpy(b->s + b->len, w, (size_t)n);
    b->len += (size_t)n;
    b->s[b->len++] = '\n';
    b->s[b->len] = '\0';
    b->count++;
}
static void read_shard(data_corpus *c, int k, int n, strbuf *out, int max) {
    assert_int_equal(data_corpus_shard(c, k, n), 0);
    char w[DATA_MAX_WORD];
    int len;
    while ((len = data_corpus_next(c, w, max)) > 0) {
        assert_int_equal((int)strlen(w), len);
        sb_add(out, w, len);
    }
    if (len < 0) fail_msg("shard %d/%d: %s", k, n, base_error_msg());
}

static void test_words_eos_crlf_utf8(void **state) {
    (void)state;
    const char text[] = "  the cat\tsat\r\non  the mat\n\nna\xc3\xafve caf\xc3\xa9 \xe2\x82\xac" "5\r\nend";
    const char *want[] = {"the", "cat", "sat", "</s>", "on", "the", "mat", "</s>", "</s>",
                          "na\xc3\xafve", "caf\xc3\xa9", "\xe2\x82\xac" "5", "</s>", "end"};
    const int nwant = (int)(sizeof want / sizeof *want);
    for (int gz = 0; gz < 2; gz++) {
        const char *p = tu_group_path(gz ? "small.txt.gz" : "small.txt");
        if (gz) assert_int_equal(tu_write_gz(p, text, sizeof text - 1, 6), 0);
        else assert_int_equal(tu_write_file(p, text, sizeof text - 1), 0);
        data_corpus *c = data_corpus_open(p);
        assert_non_null(c);
        assert_string_equal(data_corpus_path(c), p);
        assert_int_equal(data_corpus_size(c), (int64_t)sizeof text - 1);
        char w[DATA_MAX_WORD];
        for (int i = 0; i < nwant; i++) {
            int n = data_corpus_next(c, w, sizeof w);
            assert_int_equal(n, (int)strlen(want[i]));
            assert_string_equal(w, want[i]);
        }
        assert_int_equal(data_corpus_next(c, w, sizeof w), 0);
        assert_int_equal(data_corpus_next(c, w, sizeof w), 0); /* stays at the end */
        data_corpus_close(c);
    }
}

/* Long words are truncated to max-1 bytes and the rest is skipped; a 10 MB line without spaces is one word. */
static void test_truncation_and_huge_line(void **state) {
    (void)state;
    const char *p = tu_group_path("long.txt");
    assert_int_equal(tu_write_file(p, "abcdefghijklmnop qr\n", 20), 0);
    data_corpus *c = data_corpus_open(p);
    assert_non_null(c);
    char w[DATA_MAX_WORD];
    assert_int_equal(data_corpus_next(c, w, 8), 7);
    assert_string_equal(w, "abcdefg");
    assert_int_equal(data_corpus_next(c, w, 8), 2);
    assert_string_equal(w, "qr");
    data_corpus_close(c);

    size_t big = 10u << 20;
    char *line = malloc(big + 16);
    for (size_t i = 0; i < big; i++) line[i] = (char)('a' + i % 26);
    memcpy(line + big, " tail\n", 6);
    for (int gz = 0; gz < 2; gz++) {
        const char *q = tu_group_path(gz ? "huge.txt.gz" : "huge.txt");
        if (gz) assert_int_equal(tu_write_gz(q, line, big + 6, 6), 0);
        else assert_int_equal(tu_write_file(q, line, big + 6), 0);
        c = data_corpus_open(q);
        assert_non_null(c);
        assert_int_equal(data_corpus_next(c, w, sizeof w), DATA_MAX_WORD - 1);
        assert_memory_equal(w, line, DATA_MAX_WORD - 1);
        assert_int_equal(data_corpus_next(c, w, sizeof w), 4);
        assert_string_equal(w, "tail");
        assert_int_equal(data_corpus_next(c, w, sizeof w), 4);
        assert_string_equal(w, "</s>");
        assert_int_equal(data_corpus_next(c, w, sizeof w), 0);
        assert_int_equal(data_corpus_tell(c), (int64_t)big + 6);
        data_corpus_close(c);
    }
    free(line);
}

/* A ~2.5 MB corpus spanning several 1 MiB buffers: the shards of n = 1..16 concatenate to the single pass. */
static char *make_random_corpus(size_t target, int text8, size_t *len) {
    base_rng r;
    base_rng_seed(&r, 99);
    char *s = malloc(target + 256);
    size_t n = 0;
    if (text8) s[n++] = ' ';
    while (n < target) {
        int wl = 1 + (int)base_rng_below(&r, 12);
        if (base_rng_below(&r, 500) == 0) wl = 150 + (int)base_rng_below(&r, 60); /* longer than DATA_MAX_WORD */
        for (int i = 0; i < wl && n < target + 200; i++) s[n++] = (char)('a' + base_rng_below(&r, 26));
        uint32_t sep = base_rng_below(&r, 40);
        if (text8) s[n++] = ' ';
        else if (sep == 0) s[n++] = '\n';
        else if (sep == 1) { s[n++] = '\r'; s[n++] = '\n'; }
        else if (sep == 2) { s[n++] = ' '; s[n++] = '\t'; s[n++] = ' '; }
        else if (sep == 3) { s[n++] = '\n'; s[n++] = '\n'; }
        else s[n++] = ' ';
    }
    *len = n;
    return s;
}

static void check_shards(const char *path, const int *ns, int nn) {
    data_corpus *c = data_corpus_open(path);
    assert_non_null(c);
    strbuf whole = {0};
    read_shard(c, 0, 1, &whole, DATA_MAX_WORD);
    assert_true(whole.count > 1000);
    for (int t = 0; t < nn; t++) {
        strbuf cat = {0};
        for (int k = 0; k < ns[t]; k++) read_shard(c, k, ns[t], &cat, DATA_MAX_WORD);
        if (cat.count != whole.count || cat.len != whole.len || memcmp(cat.s, whole.s, whole.len) != 0)
            fail_msg("%s: %d shards give %lld words, one pass %lld", path, ns[t], (long long)cat.count,
                     (long long)whole.count);
        free(cat.s);
    }
    free(whole.s);
    data_corpus_close(c);
}

static void test_shards_cover_every_word_once(void **state) {
    (void)state;
    const int ns[] = {1, 2, 3, 7, 16};
    for (int text8 = 0; text8 < 2; text8++) {
        size_t len;
        char *s = make_random_corpus(2500000, text8, &len);
        const char *p = tu_group_path("shard.txt");
        assert_int_equal(tu_write_file(p, s, len), 0);
        check_shards(p, ns, 5);
        p = tu_group_path("shard.txt.gz");
        assert_int_equal(tu_write_gz(p, s, len, 6), 0);
        check_shards(p, ns, 3); /* gzip shards re-decompress the prefix: fewer n keeps this fast */
        free(s);
    }
    /* Shards of a tiny file: more shards than words, empty shards are fine. */
    const char *p = tu_group_path("tiny.txt");
    assert_int_equal(tu_write_file(p, "a bb\nccc d", 10), 0);
    const int many[] = {2, 5, 10, 13};
    data_corpus *c = data_corpus_open(p);
    for (int t = 0; t < 4; t++) {
        strbuf cat = {0};
        for (int k = 0; k < many[t]; k++) read_shard(c, k, many[t], &cat, DATA_MAX_WORD);
        assert_int_equal(cat.count, 5);
        assert_string_equal(cat.s, "a\nbb\n</s>\nccc\nd\n");
        free(cat.s);
    }
    data_corpus_close(c);
}

static void test_tell_seek(void **state) {
    (void)state;
    size_t len;
    char *s = make_random_corpus(3000000, 0, &len);
    for (int gz = 0; gz < 2; gz++) {
        const char *p = tu_group_path(gz ? "seek.txt.gz" : "seek.txt");
        if (gz) assert_int_equal(tu_write_gz(p, s, len, 6), 0);
        else assert_int_equal(tu_write_file(p, s, len), 0);
        data_corpus *c = data_corpus_open(p);
        assert_non_null(c);
        char w[DATA_MAX_WORD], a[50][DATA_MAX_WORD];
        /* Skip well past the first buffer, remember the cursor, read 50 words, come back, compare. */
        while (data_corpus_tell(c) < 1500000) assert_true(data_corpus_next(c, w, sizeof w) > 0);
        int64_t at = data_corpus_tell(c);
        for (int i = 0; i < 50; i++) assert_true(data_corpus_next(c, a[i], DATA_MAX_WORD) > 0);
        while (data_corpus_tell(c) < 2900000) assert_true(data_corpus_next(c, w, sizeof w) > 0);
        assert_int_equal(data_corpus_seek(c, at), 0);
        assert_int_equal(data_corpus_tell(c), at);
        for (int i = 0; i < 50; i++) {
            assert_true(data_corpus_next(c, w, sizeof w) > 0);
            assert_string_equal(w, a[i]);
        }
        assert_int_equal(data_corpus_seek(c, -1), -1);
        data_corpus_close(c);
    }
    free(s);
}

static void test_bad_input(void **state) {
    (void)state;
    char w[DATA_MAX_WORD];
    /* Missing path and a directory. */
    assert_null(data_corpus_open(tu_group_path("nope.txt")));
    assert_non_null(strstr(base_error_msg(), "nope.txt"));
    assert_non_null(strstr(base_error_msg(), "No such file"));
    assert_null(data_corpus_open(tu_group_dir()));
    assert_non_null(strstr(base_error_msg(), "directory"));
    assert_null(data_corpus_open(""));

    /* Empty file: no words, shards fine. */
    const char *p = tu_group_path("empty.txt");
    assert_int_equal(tu_write_file(p, "", 0), 0);
    data_corpus *c = data_corpus_open(p);
    assert_non_null(c);
    assert_int_equal(data_corpus_size(c), 0);
    assert_int_equal(data_corpus_next(c, w, sizeof w), 0);
    assert_int_equal(data_corpus_shard(c, 1, 3), 0);
    assert_int_equal(data_corpus_next(c, w, sizeof w), 0);
    data_corpus_close(c);
    p = tu_group_path("empty.txt.gz");
    assert_int_equal(tu_write_gz(p, "", 0, 6), 0);
    c = data_corpus_open(p);
    assert_non_null(c);
    assert_int_equal(data_corpus_size(c), 0);
    assert_int_equal(data_corpus_next(c, w, sizeof w), 0);
    data_corpus_close(c);

    /* Binary garbage: words are just bytes (NUL splits), every returned word is a proper C string. */
    size_t gn = 1 << 20;
    unsigned char *g = malloc(gn);
    base_rng r;
    base_rng_seed(&r, 5);
    for (size_t i = 0; i < gn; i++) g[i] = (unsigned char)base_rng_next(&r);
    g[0] = 0x00; /* not a gzip magic */
    p = tu_group_path("garbage.bin");
    assert_int_equal(tu_write_file(p, g, gn), 0);
    c = data_corpus_open(p);
    assert_non_null(c);
    int64_t nw = 0;
    int n;
    while ((n = data_corpus_next(c, w, sizeof w)) > 0) {
        assert_int_equal((int)strlen(w), n);
        nw++;
    }
    assert_int_equal(n, 0);
    assert_true(nw > 1000);
    data_corpus_close(c);

    /* A gzip stream: compressible text so the body is long, then damage. */
    size_t tn = 4u << 20;
    char *text = malloc(tn);
    for (size_t i = 0; i < tn; i++) text[i] = (i % 7 == 6) ? ' ' : (char)('a' + (base_rng_next(&r) % 5));
    const char *gp = tu_group_path("good.txt.gz");
    assert_int_equal(tu_write_gz(gp, text, tn, 6), 0);
    size_t zn;
    char *z = tu_read_file(gp, &zn);
    assert_non_null(z);
    assert_true(zn > 100000);

    /* Corrupt body: flip bytes in the middle; reading must fail with the file and an offset. */
    char *bad = malloc(zn);
    memcpy(bad, z, zn);
    for (size_t i = zn / 2; i < zn / 2 + 64; i++) bad[i] ^= 0x5a;
    p = tu_group_path("corrupt.txt.gz");
    assert_int_equal(tu_write_file(p, bad, zn), 0);
    c = data_corpus_open(p);
    assert_non_null(c); /* the first MiB decompresses fine */
    while ((n = data_corpus_next(c, w, sizeof w)) > 0) {
    }
    assert_int_equal(n, -1);
    printf("corrupt gzip: %s\n", base_error_msg());
    assert_non_null(strstr(base_error_msg(), "corrupt.txt.gz"));
    assert_non_null(strstr(base_error_msg(), "byte"));
    assert_int_equal(data_corpus_size(c), -1);
    assert_int_equal(data_corpus_shard(c, 0, 2), -1);
    data_corpus_close(c);

    /* Truncated: cut the compressed file in half. */
    p = tu_group_path("trunc.txt.gz");
    assert_int_equal(tu_write_file(p, z, zn / 2), 0);
    c = data_corpus_open(p);
    assert_non_null(c);
    while ((n = data_corpus_next(c, w, sizeof w)) > 0) {
    }
    assert_int_equal(n, -1);
    printf("truncated gzip: %s\n", base_error_msg());
    assert_non_null(strstr(base_error_msg(), "trunc.txt.gz"));
    assert_non_null(strstr(base_error_msg(), "truncated"));
    assert_int_equal(data_corpus_size(c), -1);
    data_corpus_close(c);

    /* Corrupt header: gzip magic followed by junk fails at open. */
    memcpy(bad, z, 16);
    bad[2] = 99; /* unknown compression method */
    p = tu_group_path("header.txt.gz");
    assert_int_equal(tu_write_file(p, bad, 16), 0);
    c = data_corpus_open(p);
    if (c) { /* zlib may defer the check to the first read; then reading must fail */
        assert_int_equal(data_corpus_next(c, w, sizeof w), -1);
        data_corpus_close(c);
    }
    assert_non_null(strstr(base_error_msg(), "header.txt.gz"));
    free(bad);
    free(z);
    free(text);
    free(g);
}

/* The shared text8-style corpus: 17,270,346 words in 99,999,999 bytes (MANIFEST.md). */
static void test_real_corpus(void **state) {
    (void)state;
    const char *p = tu_data_path("corpus/enwiki_text8style_1e8.txt.gz");
    if (!p) skip();
    data_corpus *c = data_corpus_open(p);
    assert_non_null(c);
    char w[DATA_MAX_WORD];
    int64_t nw = 0, longest = 0;
    int n;
    while ((n = data_corpus_next(c, w, sizeof w)) > 0) {
        nw++;
        if (n > longest) longest = n;
    }
    assert_int_equal(n, 0);
    assert_int_equal(nw, 17270346);
    assert_int_equal(data_corpus_size(c), 99999999);
    printf("text8-style corpus: %lld words, longest %lld bytes\n", (long long)nw, (long long)longest);
    data_corpus_close(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_words_eos_crlf_utf8),          cmocka_unit_test(test_truncation_and_huge_line),
        cmocka_unit_test(test_shards_cover_every_word_once), cmocka_unit_test(test_tell_seek),
        cmocka_unit_test(test_bad_input),                    cmocka_unit_test(test_real_corpus),
    };
    return cmocka_run_group_tests(tests, tu_group_tempdir_setup, tu_group_tempdir_teardown);
}
