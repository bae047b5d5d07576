/* test_bpe.c — byte-level BPE: pieces, merges vs a naive Python BPE, exact round trips of any bytes, threads, files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "data/bpe.h"
#include "support/test_util.h"

typedef struct {
    const uint8_t *text;
    char out[1024];
    size_t n;
} piece_ctx;
static void collect(void *ctx, size_t start, size_t len) {
    piece_ctx *c = ctx;
    c->out[c->n++] = '[';
    memcpy(c->out + c->n, c->text + start, len);
    c->n += len;
    c->out[c->n++] = ']';
    c->out[c->n] = '\0';
}

static void test_pieces(void **state) {
    (void)state;
    const char *t = "Hello, world!  foo\n\nbar 2005x caf\xc3\xa9\t \"q\" ";
    piece_ctx c = {(const uint8_t *)t, {0}, 0};
    data_bpe_pieces(c.text, strlen(t), collect, &c);
    assert_string_equal(c.out, "[Hello][,][ world][!][ ][ foo][\n\n][bar][ 2005][x][ caf\xc3\xa9][\t][ \"][q][\"][ ]");
    /* A run longer than DATA_BPE_MAX_PIECE is cut. */
    char longw[300];
    memset(longw, 'a', sizeof longw);
    c.n = 0;
    c.text = (const uint8_t *)longw;
    data_bpe_pieces(c.text, 300, collect, &c);
    assert_int_equal(c.n, 300 + 6); /* 128 + 128 + 44, each in brackets */
}

static uint8_t *read_fixture_corpus(size_t *n) {
    char *s = tu_read_file(tu_source_path("tests/fixtures/bpe_corpus.txt"), n);
    assert_non_null(s);
    return (uint8_t *)s;
}

/* The trainer's merges equal an independent naive Python BPE, and so does the encoding of a sample. */
static void test_matches_python_reference(void **state) {
    (void)state;
    size_t n;
    uint8_t *text = read_fixture_corpus(&n);
    tu_fixture *fx = tu_fixture_load("tests/fixtures/bpe_ref.txt");
    int64_t shape[AG_MAX_DIMS];
    const float *ref = tu_fixture_get(fx, "merges", NULL, shape);
    int64_t M = shape[0];
    data_bpe *b = NULL;
    assert_int_equal(data_bpe_train(&b, text, n, (int32_t)(256 + M), NULL), 0);
    assert_int_equal(data_bpe_n_merges(b), M);
    assert_int_equal(data_bpe_vocab_size(b), 256 + M);
    const int32_t *mg = data_bpe_merges(b);
    for (int64_t i = 0; i < M; i++)
        if (mg[2 * i] != (int32_t)ref[2 * i] || mg[2 * i + 1] != (int32_t)ref[2 * i + 1])
            fail_msg("merge %lld: (%d, %d), python (%d, %d)", (long long)i, mg[2 * i], mg[2 * i + 1],
                     (int)ref[2 * i], (int)ref[2 * i + 1]);
    const char *sample = "The quick kathe rostinger, 2024 caf\xc3\xa9s\xe2\x80\x94\n\n  inquzz!";
    int64_t shp[AG_MAX_DIMS];
    const float *enc = tu_fixture_get(fx, "encoded", NULL, shp);
    int32_t *ids;
    int64_t k;
    assert_int_equal(data_bpe_encode(b, (const uint8_t *)sample, strlen(sample), &ids, &k, 1), 0);
    assert_int_equal(k, shp[0]);
    for (int64_t i = 0; i < k; i++) assert_int_equal(ids[i], (int32_t)enc[i]);
    free(ids);
    /* Deterministic: a second training gives the same merges. */
    data_bpe *b2 = NULL;
    assert_int_equal(data_bpe_train(&b2, text, n, (int32_t)(256 + M), NULL), 0);
    assert_memory_equal(data_bpe_merges(b2), mg, (size_t)M * 2 * sizeof(int32_t));
    data_bpe_free(b2);
    /* Asking for more merges than the text supports stops early and says so. */
    FILE *log = tmpfile();
    assert_int_equal(data_bpe_train(&b2, (const uint8_t *)"abab cd", 7, 400, log), 0);
    assert_int_equal(data_bpe_n_merges(b2), 1); /* only (a, b) occurs twice */
    rewind(log);
    char line[256];
    assert_non_null(fgets(line, sizeof line, log));
    assert_non_null(strstr(line, "stopped after 1 of 144 merges"));
    fclose(log);
    data_bpe_free(b2);
    /* Empty text: no merges, still a working tokenizer; a missing file is an error. */
    assert_int_equal(data_bpe_train(&b2, (const uint8_t *)"", 0, 500, NULL), 0);
    assert_int_equal(data_bpe_n_merges(b2), 0);
    data_bpe_free(b2);
    assert_int_equal(data_bpe_train_file(&b2, "/nonexistent/ember.txt", 0, 500, NULL), -1);
    assert_non_null(strstr(base_error_msg(), "/nonexistent/ember.txt"));
    assert_int_equal(data_bpe_train(&b2, text, n, 100, NULL), -1);
    assert_non_null(strstr(base_error_msg(), ">= 256"));
    tu_fixture_free(fx);
    data_bpe_free(b);
    free(text);
}

static void roundtrip(const data_bpe *b, const uint8_t *x, size_t n, int threads) {
    int32_t *ids;
    int64_t k;
    assert_int_equal(data_bpe_encode(b, x, n, &ids, &k, threads), 0);
    uint8_t *y;
    size_t m;
    assert_int_equal(data_bpe_decode(b, ids, k, &y, &m), 0);
    assert_int_equal(m, n);
    if (n) assert_memory_equal(x, y, n);
    free(ids);
    free(y);
}

/* Random binary strings, invalid UTF-8, all 256 bytes, empty input: decode(encode(x)) == x. */
static void test_roundtrip_any_bytes(void **state) {
    (void)state;
    size_t n;
    uint8_t *text = read_fixture_corpus(&n);
    data_bpe *b = NULL;
    assert_int_equal(data_bpe_train(&b, text, n, 556, NULL), 0);
    base_rng r;
    base_rng_seed(&r, 11);
    uint8_t *x = malloc(200000);
    for (int trial = 0; trial < 40; trial++) {
        size_t len = trial == 0 ? 0 : (size_t)base_rng_below(&r, trial < 30 ? 600 : 200000);
        for (size_t i = 0; i < len; i++) {
            uint32_t mode = (uint32_t)(trial % 3);
            x[i] = mode == 0 ? (uint8_t)base_rng_next(&r)                        /* binary */
                   : mode == 1 ? (uint8_t)(0x80 + base_rng_below(&r, 0x80))      /* invalid UTF-8 */
                               : text[base_rng_below(&r, (uint32_t)n)];          /* shuffled text bytes */
        }
        roundtrip(b, x, len, 1);
    }
    for (int i = 0; i < 256; i++) x[i] = (uint8_t)i;
    roundtrip(b, x, 256, 1);
    roundtrip(b, (const uint8_t *)"\xff\xfe\xc3\x28 \xe2\x82 a\x00" "b  \n", 13, 1);
    roundtrip(b, text, n, 1);
    /* A 300 KB run without spaces (pieces are cut at 128 bytes). */
    memset(x, 'q', 200000);
    roundtrip(b, x, 200000, 1);
    /* Out-of-range ids are an error, not a crash. */
    int32_t bad[] = {65, 556, 66};
    uint8_t *y;
    size_t m;
    assert_int_equal(data_bpe_decode(b, bad, 3, &y, &m), -1);
    assert_non_null(strstr(base_error_msg(), "position 1"));
    int32_t neg[] = {-1};
    assert_int_equal(data_bpe_decode(b, neg, 1, &y, &m), -1);
    /* Token bytes. */
    int32_t len;
    assert_null(data_bpe_token_bytes(b, 556, &len));
    const uint8_t *tb = data_bpe_token_bytes(b, 300, &len);
    assert_non_null(tb);
    assert_true(len >= 2);
    free(x);
    free(text);
    data_bpe_free(b);
}

/* Parallel encoding (chunks split at safe boundaries) equals the single-threaded result. */
static void test_threads_and_file(void **state) {
    (void)state;
    size_t n;
    uint8_t *text = read_fixture_corpus(&n);
    data_bpe *b = NULL;
    assert_int_equal(data_bpe_train(&b, text, n, 556, NULL), 0);
    /* ~3 MB: corpus copies with random edits, and some binary noise. */
    size_t big = 3u << 20;
    uint8_t *x = malloc(big);
    base_rng r;
    base_rng_seed(&r, 3);
    for (size_t i = 0; i < big; i++) {
        x[i] = text[i % n];
        if (base_rng_below(&r, 1000) == 0) x[i] = (uint8_t)base_rng_next(&r);
    }
    int32_t *a, *c;
    int64_t ka, kc;
    assert_int_equal(data_bpe_encode(b, x, big, &a, &ka, 1), 0);
    assert_int_equal(data_bpe_encode(b, x, big, &c, &kc, 2), 0);
    assert_int_equal(ka, kc);
    assert_memory_equal(a, c, (size_t)ka * sizeof *a);
    free(c);
    assert_int_equal(data_bpe_encode(b, x, big, &c, &kc, 5), 0);
    assert_int_equal(ka, kc);
    assert_memory_equal(a, c, (size_t)ka * sizeof *a);
    free(c);
    printf("bpe: %zu bytes -> %lld tokens (%.2f bytes/token)\n", big, (long long)ka, (double)big / (double)ka);
    /* The same bytes from a gzip file (streamed in blocks) encode identically. */
    const char *p = tu_group_path("x.txt.gz");
    assert_int_equal(tu_write_gz(p, x, big, 1), 0);
    assert_int_equal(data_bpe_encode_file(b, p, &c, &kc, 2), 0);
    assert_int_equal(ka, kc);
    assert_memory_equal(a, c, (size_t)ka * sizeof *a);
    free(c);
    /* Small blocks: pieces carried across ~50 block boundaries, and a 200 KB run without spaces
     * (longer than a block: the buffer grows) give the same ids. */
    memset(x + 1000000, 'x', 200000);
    int32_t *d;
    int64_t kd;
    assert_int_equal(data_bpe_encode(b, x, big, &d, &kd, 1), 0);
    const char *pb = tu_group_path("blocks.txt");
    assert_int_equal(tu_write_file(pb, x, big), 0);
    assert_int_equal(data_bpe_encode_file_blocks(b, pb, &c, &kc, 2, 65536), 0);
    assert_int_equal(kd, kc);
    assert_memory_equal(d, c, (size_t)kd * sizeof *d);
    free(c);
    free(d);
    /* A truncated gzip file is an error naming the file. */
    size_t zn;
    char *z = tu_read_file(tu_group_path("x.txt.gz"), &zn); /* tmp_path's buffer was reused above */
    const char *q = tu_group_path("cut.txt.gz");
    assert_int_equal(tu_write_file(q, z, zn / 2), 0);
    assert_int_equal(data_bpe_encode_file(b, q, &c, &kc, 2), -1);
    assert_non_null(strstr(base_error_msg(), "cut.txt.gz"));
    assert_null(c);
    assert_int_equal(data_bpe_encode_file(b, tu_group_path("absent.txt"), &c, &kc, 2), -1);
    assert_non_null(strstr(base_error_msg(), "absent.txt"));
    free(z);
    free(a);
    free(x);
    free(text);
    data_bpe_free(b);
}

static void expect_load_error(const char *name, const char *content, const char *needle) {
    const char *p = tu_group_path(name);
    assert_int_equal(tu_write_file(p, content, strlen(content)), 0);
    data_bpe *b = (data_bpe *)1;
    assert_int_equal(data_bpe_load(&b, p), -1);
    assert_null(b);
    if (!strstr(base_error_msg(), needle) || !strstr(base_error_msg(), name))
        fail_msg("%s: \"%s\" lacks \"%s\"", name, base_error_msg(), needle);
    printf("%s\n", base_error_msg());
}

static void test_save_load_arrays(void **state) {
    (void)state;
    size_t n;
    uint8_t *text = read_fixture_corpus(&n);
    data_bpe *b = NULL;
    assert_int_equal(data_bpe_train(&b, text, n, 400, NULL), 0);
    const char *p = tu_group_path("m.bpe");
    assert_int_equal(data_bpe_save(b, p), 0);
    data_bpe *l = NULL;
    assert_int_equal(data_bpe_load(&l, p), 0);
    assert_int_equal(data_bpe_n_merges(l), data_bpe_n_merges(b));
    assert_memory_equal(data_bpe_merges(l), data_bpe_merges(b), (size_t)data_bpe_n_merges(b) * 8);
    data_bpe_free(l);
    /* From the int32 [M, 2] array, as a checkpoint stores it. */
    assert_int_equal(data_bpe_from_merges(&l, data_bpe_merges(b), data_bpe_n_merges(b)), 0);
    int32_t *i1, *i2;
    int64_t k1, k2;
    data_bpe_encode(b, text, n, &i1, &k1, 1);
    data_bpe_encode(l, text, n, &i2, &k2, 1);
    assert_int_equal(k1, k2);
    assert_memory_equal(i1, i2, (size_t)k1 * 4);
    free(i1);
    free(i2);
    data_bpe_free(l);
    int32_t badm[] = {97, 98, 256, 300};
    assert_int_equal(data_bpe_from_merges(&l, badm, 2), -1);
    assert_non_null(strstr(base_error_msg(), "row 1"));
    int32_t dup[] = {97, 98, 97, 98};
    assert_int_equal(data_bpe_from_merges(&l, dup, 2), -1);
    assert_non_null(strstr(base_error_msg(), "repeats row 0"));
    /* An empty tokenizer is the identity on bytes. */
    data_bpe *e = data_bpe_new();
    assert_int_equal(data_bpe_vocab_size(e), 256);
    roundtrip(e, text, n, 1);
    data_bpe_free(e);

    expect_load_error("h.bpe", "ember-bpe 2\nmerges 0\n", "line 1");
    expect_load_error("c.bpe", "ember-bpe 1\nmerges x\n", "line 2");
    expect_load_error("t.bpe", "ember-bpe 1\nmerges 2\n97 98\n256 99", "truncated");
    expect_load_error("f.bpe", "ember-bpe 1\nmerges 3\n97 98\n256 99\n", "expected 3 merges, got 2");
    expect_load_error("r.bpe", "ember-bpe 1\nmerges 2\n97 98\n257 99\n", "line 4");
    expect_load_error("m.bpe", "ember-bpe 1\nmerges 1\n97 98\n99 100\n", "got more");
    expect_load_error("d.bpe", "ember-bpe 1\nmerges 2\n97 98\n97 98\n", "repeats");
    expect_load_error("e.bpe", "", "header");
    data_bpe *x = (data_bpe *)1;
    assert_int_equal(data_bpe_load(&x, tu_group_path("absent.bpe")), -1);
    assert_null(x);
    data_bpe_free(b);
    free(text);
}

/* Real Wikipedia text: train on the first 2 MB, round-trip the next MB exactly. */
static void test_real_text(void **state) {
    (void)state;
    const char *p = tu_data_path("corpus/enwiki_wikiextractor_AA-AB.txt.gz");
    if (!p) skip();
    data_bpe *b = NULL;
    assert_int_equal(data_bpe_train_file(&b, p, 2000000, 1000, NULL), 0);
    assert_int_equal(data_bpe_vocab_size(b), 1000);
    gzFile g = gzopen(p, "rb");
    size_t n = 3000000;
    uint8_t *x = malloc(n);
    assert_int_equal(gzread(g, x, (unsigned)n), (int)n);
    gzclose(g);
    int32_t *ids;
    int64_t k;
    assert_int_equal(data_bpe_encode(b, x + 2000000, 1000000, &ids, &k, 2), 0);
    printf("bpe (1000 tokens, trained on 2 MB of Wikipedia): 1 MB -> %lld tokens (%.2f bytes/token)\n", (long long)k,
           1e6 / (double)k);
    assert_true(1e6 / (double)k > 2.2); /* merges help on held-out text (bytes alone: 1.0) */
    uint8_t *y;
    size_t m;
    assert_int_equal(data_bpe_decode(b, ids, k, &y, &m), 0);
    assert_int_equal(m, 1000000);
    assert_memory_equal(y, x + 2000000, 1000000);
    free(y);
    free(ids);
    free(x);
    data_bpe_free(b);
}

/* encode_lines == data_bpe_encode of each line alone, '\n' dropped; the last line may lack '\n'. */
static void test_encode_lines(void **state) {
    (void)state;
    size_t n;
    uint8_t *text = read_fixture_corpus(&n);
    data_bpe *b = NULL;
    assert_int_equal(data_bpe_train(&b, text, n, 556, NULL), 0);
    const char *cases[] = {"", "\n", "one line", "a\n\nb  \n  c d\n", "tail  \nno newline at end", "\r\n x\n\n\n"};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        const uint8_t *t = (const uint8_t *)cases[c];
        size_t len = strlen(cases[c]);
        int32_t *ids;
        int64_t k, *ends, nl;
        assert_int_equal(data_bpe_encode_lines(b, t, len, &ids, &k, &ends, &nl), 0);
        int64_t want_lines = 0, at = 0;
        for (size_t lo = 0; lo < len; want_lines++) {
            const uint8_t *e = memchr(t + lo, '\n', len - lo);
            size_t hi = e ? (size_t)(e - t) : len;
            int32_t *one;
            int64_t k1;
            assert_int_equal(data_bpe_encode(b, t + lo, hi - lo, &one, &k1, 1), 0);
            assert_true(want_lines < nl);
            assert_int_equal(ends[want_lines] - at, k1);
            if (k1) assert_memory_equal(ids + at, one, (size_t)k1 * sizeof *one);
            at = ends[want_lines];
            free(one);
            lo = hi + 1;
        }
        assert_int_equal(nl, want_lines);
        assert_int_equal(at, k);
        free(ids);
        free(ends);
    }
    /* Across a whole text, per-line encoding differs from whole-text encoding only at newlines. */
    int32_t *ids;
    int64_t k, *ends, nl;
    assert_int_equal(data_bpe_encode_lines(b, text, n, &ids, &k, &ends, &nl), 0);
    int64_t lines = 0;
    for (size_t i = 0; i < n; i++) lines += text[i] == '\n';
    assert_int_equal(nl, lines + (n && text[n - 1] != '\n'));
    free(ids);
    free(ends);
    data_bpe_free(b);
    free(text);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pieces),           cmocka_unit_test(test_matches_python_reference),
        cmocka_unit_test(test_roundtrip_any_bytes), cmocka_unit_test(test_threads_and_file),
        cmocka_unit_test(test_save_load_arrays), cmocka_unit_test(test_real_text),
        cmocka_unit_test(test_encode_lines),
    };
    return cmocka_run_group_tests(tests, tu_group_tempdir_setup, tu_group_tempdir_teardown);
}
