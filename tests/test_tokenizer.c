/* test_tokenizer.c — data/tokenizer.h: exact round trips, special ids, training over files, the text file and every loader error, checkpoints. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoints/ckpt.h"
#include "data/tokenizer.h"
#include "support/test_util.h"

static const char *corpus_path(void) { return tu_source_path("tests/fixtures/bpe_corpus.txt"); }

/* A tokenizer of 600 tokens (339 merges) trained on the fixture corpus. */
static data_tokenizer *trained(int32_t vocab) {
    const char *p = corpus_path();
    data_tokenizer *t = NULL;
    assert_int_equal(data_tokenizer_train(&t, &p, 1, 0, vocab, NULL), 0);
    return t;
}

static void roundtrip(const data_tokenizer *t, const uint8_t *x, size_t n) {
    int32_t *ids;
    int64_t k;
    assert_int_equal(data_tokenizer_encode(t, x, n, &ids, &k, 1), 0);
    for (int64_t i = 0; i < k; i++) assert_true(ids[i] >= 0 && ids[i] < t->special[DATA_TOK_PAD]);
    uint8_t *y;
    size_t m;
    assert_int_equal(data_tokenizer_decode(t, ids, k, &y, &m), 0);
    assert_int_equal(m, n);
    if (n) assert_memory_equal(x, y, n);
    free(ids);
    free(y);
}

/* decode(encode(x)) == x for any bytes; the specials sit right after the merges; text never
 * becomes a special id; special ids decode to their names; a bad id is an error at its position. */
static void test_roundtrip_and_specials(void **state) {
    (void)state;
    data_tokenizer *t = trained(600);
    const int64_t m = data_bpe_n_merges(t->bpe);
    assert_int_equal(m, 600 - 256 - 5);
    assert_int_equal(t->vocab_size, 600);
    for (int k = 0; k < DATA_TOK_N_SPECIAL; k++) assert_int_equal(t->special[k], 256 + m + k);
    assert_string_equal(data_tok_special_name[DATA_TOK_MASK], "[MASK]");

    base_rng r;
    base_rng_seed(&r, 5);
    uint8_t *x = malloc(100000);
    for (int trial = 0; trial < 30; trial++) {
        size_t len = trial == 0 ? 0 : (size_t)base_rng_below(&r, trial < 20 ? 500 : 100000);
        for (size_t i = 0; i < len; i++)
            x[i] = trial % 3 == 0   ? (uint8_t)base_rng_next(&r)                  /* any byte, NUL included */
                   : trial % 3 == 1 ? (uint8_t)(0x80 + base_rng_below(&r, 0x80)) /* invalid UTF-8 */
                                    : (uint8_t)"ab \n\0\xff\xc3\xa9th"[base_rng_below(&r, 10)];
        roundtrip(t, x, len);
    }
    for (int i = 0; i < 256; i++) x[i] = (uint8_t)(255 - i);
    roundtrip(t, x, 256);
    roundtrip(t, (const uint8_t *)"a\0b\0\0 \xc3\x28 \xed\xa0\x80 [MASK]", 20);

    /* "[MASK]" in the text is bytes, never the special id. */
    int32_t *ids;
    int64_t k;
    assert_int_equal(data_tokenizer_encode(t, (const uint8_t *)"[MASK] [SEP]", 12, &ids, &k, 1), 0);
    for (int64_t i = 0; i < k; i++) assert_true(ids[i] < t->special[0]);
    free(ids);
    /* Specials decode to their names, between ordinary tokens. */
    int32_t mix[] = {t->special[DATA_TOK_CLS], 'h', 'i', t->special[DATA_TOK_SEP], t->special[DATA_TOK_PAD]};
    uint8_t *y;
    size_t yn;
    assert_int_equal(data_tokenizer_decode(t, mix, 5, &y, &yn), 0);
    assert_string_equal((char *)y, "[CLS]hi[SEP][PAD]");
    assert_int_equal(yn, 17);
    free(y);
    int32_t bad[] = {'a', t->vocab_size};
    y = (uint8_t *)1;
    assert_int_equal(data_tokenizer_decode(t, bad, 2, &y, &yn), -1);
    assert_null(y);
    assert_non_null(strstr(base_error_msg(), "position 1"));
    assert_non_null(strstr(base_error_msg(), "[0, 600)"));
    bad[1] = -3;
    assert_int_equal(data_tokenizer_decode(t, bad, 2, &y, &yn), -1);
    free(x);
    data_tokenizer_free(t);
}

/* Two files (plain + gzip) train exactly as their concatenation; max_bytes cuts like
 * data_bpe_train_file; a missing or empty file and a bad size are errors naming the file / size. */
static void test_train_files(void **state) {
    (void)state;
    size_t n;
    char *text = tu_read_file(corpus_path(), &n);
    assert_non_null(text);
    const char *nl = memchr(text + n / 2, '\n', n - n / 2); /* split after a newline: no separator added */
    assert_non_null(nl);
    size_t half = (size_t)(nl - text) + 1;
    /* heap paths: tu_group_path's four rotating buffers would be overwritten by the later names */
    char *a = tu_path_join(tu_group_dir(), "a.txt"), *b = tu_path_join(tu_group_dir(), "b.txt.gz");
    assert_int_equal(tu_write_file(a, text, half), 0);
    assert_int_equal(tu_write_gz(b, text + half, n - half, 6), 0);
    const char *both[] = {a, b};
    data_tokenizer *t2 = NULL;
    FILE *log = tmpfile();
    assert_int_equal(data_tokenizer_train(&t2, both, 2, 0, 700, log), 0);
    fclose(log);
    data_bpe *whole = NULL;
    assert_int_equal(data_bpe_train(&whole, (const uint8_t *)text, n, 695, NULL), 0);
    assert_int_equal(data_bpe_n_merges(t2->bpe), data_bpe_n_merges(whole));
    assert_memory_equal(data_bpe_merges(t2->bpe), data_bpe_merges(whole), (size_t)data_bpe_n_merges(whole) * 8);
    data_bpe_free(whole);
    data_tokenizer_free(t2);

    /* max_bytes: the same prefix (cut back to a word boundary) as data_bpe_train_file. */
    const char *p = corpus_path();
    assert_int_equal(data_tokenizer_train(&t2, &p, 1, 10000, 400, NULL), 0);
    assert_int_equal(data_bpe_train_file(&whole, p, 10000, 395, NULL), 0);
    assert_int_equal(data_bpe_n_merges(t2->bpe), data_bpe_n_merges(whole));
    assert_memory_equal(data_bpe_merges(t2->bpe), data_bpe_merges(whole), (size_t)data_bpe_n_merges(whole) * 8);
    data_bpe_free(whole);
    data_tokenizer_free(t2);

    /* A file without a final newline is kept apart from the next one by a '\n'. */
    char *c = tu_path_join(tu_group_dir(), "c.txt"), *d = tu_path_join(tu_group_dir(), "d.txt");
    assert_int_equal(tu_write_file(c, "xy xy xy", 8), 0);
    assert_int_equal(tu_write_file(d, "zw zw", 5), 0);
    const char *cd[] = {c, d};
    assert_int_equal(data_tokenizer_train(&t2, cd, 2, 0, 300, NULL), 0);
    assert_int_equal(data_bpe_train(&whole, (const uint8_t *)"xy xy xy\nzw zw", 14, 295, NULL), 0);
    assert_int_equal(data_bpe_n_merges(t2->bpe), data_bpe_n_merges(whole));
    assert_memory_equal(data_bpe_merges(t2->bpe), data_bpe_merges(whole), (size_t)data_bpe_n_merges(whole) * 8);
    data_bpe_free(whole);
    data_tokenizer_free(t2);

    /* Errors. */
    char *absent = tu_path_join(tu_group_dir(), "absent.txt"), *e = tu_path_join(tu_group_dir(), "empty.txt");
    const char *missing[] = {a, absent};
    t2 = (data_tokenizer *)1;
    assert_int_equal(data_tokenizer_train(&t2, missing, 2, 0, 300, NULL), -1);
    assert_null(t2);
    assert_non_null(strstr(base_error_msg(), "absent.txt: cannot open"));
    /* ... even when max_bytes is reached before that file would be read. */
    assert_int_equal(data_tokenizer_train(&t2, missing, 2, 100, 300, NULL), -1);
    assert_non_null(strstr(base_error_msg(), "absent.txt: cannot open"));
    assert_int_equal(tu_write_file(e, "", 0), 0);
    /* A truncated gzip file: an error naming it, not a silent short read. */
    size_t zn;
    char *z = tu_read_file(b, &zn);
    char *cut = tu_path_join(tu_group_dir(), "cut.txt.gz");
    assert_int_equal(tu_write_file(cut, z, zn / 2), 0);
    const char *cuts[] = {cut};
    assert_int_equal(data_tokenizer_train(&t2, cuts, 1, 0, 300, NULL), -1);
    assert_non_null(strstr(base_error_msg(), "cut.txt.gz: uncompressed byte"));
    assert_non_null(strstr(base_error_msg(), "truncated gzip data"));
    free(z);
    free(cut);
    const char *empty[] = {a, e};
    assert_int_equal(data_tokenizer_train(&t2, empty, 2, 0, 300, NULL), -1);
    assert_non_null(strstr(base_error_msg(), "empty.txt: expected text to train on, got an empty file"));
    assert_int_equal(data_tokenizer_train(&t2, &p, 1, 0, 260, NULL), -1);
    assert_non_null(strstr(base_error_msg(), "expected a vocabulary size >= 261"));
    assert_int_equal(data_tokenizer_train(&t2, &p, 0, 0, 300, NULL), -1);
    assert_int_equal(data_tokenizer_train(&t2, &p, 1, -1, 300, NULL), -1);
    free(a);
    free(b);
    free(c);
    free(d);
    free(e);
    free(absent);
    free(text);
}

/* The quoted form of token bytes: escapes, UTF-8 kept whole, anything else as \xHH. */
static void test_quote(void **state) {
    (void)state;
    struct {
        const char *in;
        size_t n;
        const char *want;
    } cases[] = {
        {"th", 2, "\"th\""},
        {"\"\\\n\r\t", 5, "\"\\\"\\\\\\n\\r\\t\""},
        {"\x00\x01\x1f\x7f", 4, "\"\\u0000\\u0001\\u001f\\u007f\""},
        {"caf\xc3\xa9", 5, "\"caf\xc3\xa9\""},
        {"\xe2\x80\x94", 3, "\"\xe2\x80\x94\""},                /* em dash, whole */
        {"\xe2\x80", 2, "\"\\xe2\\x80\""},                       /* cut sequence */
        {"\xc3", 1, "\"\\xc3\""},
        {"\xed\xa0\x80", 3, "\"\\xed\\xa0\\x80\""},              /* a surrogate is not UTF-8 */
        {"\xc0\xaf", 2, "\"\\xc0\\xaf\""},                       /* overlong */
        {"\xf0\x9f\x98\x80", 4, "\"\xf0\x9f\x98\x80\""},        /* 4-byte sequence */
        {"\xf4\x90\x80\x80", 4, "\"\\xf4\\x90\\x80\\x80\""},     /* above U+10FFFF */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *q = data_tokenizer_quote((const uint8_t *)cases[i].in, cases[i].n);
        if (strcmp(q, cases[i].want)) fail_msg("case %zu: got %s, expected %s", i, q, cases[i].want);
        free(q);
    }
}

/* A tokenizer whose tokens hold every kind of byte: NUL, quotes, backslashes, invalid UTF-8. */
static data_tokenizer *odd_bytes_tokenizer(void) {
    static const char alphabet[] = "\x00\"\\\n\t\x01\x7f\xff\xc3\xa9\xe2\x80\x94zq";
    base_rng r;
    base_rng_seed(&r, 9);
    size_t n = 60000;
    uint8_t *x = malloc(n);
    for (size_t i = 0; i < n; i++) x[i] = (uint8_t)alphabet[base_rng_below(&r, 4 + (uint32_t)(i / 5 % 11))];
    data_bpe *b = NULL;
    assert_int_equal(data_bpe_train(&b, x, n, 400, NULL), 0);
    free(x);
    return data_tokenizer_from_bpe(b);
}

static void assert_same_tokenizer(const data_tokenizer *a, const data_tokenizer *b) {
    assert_int_equal(data_tokenizer_fingerprint(a), data_tokenizer_fingerprint(b));
    assert_int_equal(a->vocab_size, b->vocab_size);
    assert_memory_equal(a->special, b->special, sizeof a->special);
    int64_t m = data_bpe_n_merges(a->bpe);
    assert_int_equal(m, data_bpe_n_merges(b->bpe));
    assert_memory_equal(data_bpe_merges(a->bpe), data_bpe_merges(b->bpe), (size_t)m * 8);
}

/* save -> load gives the same tokenizer (fingerprint, merges, text); the save is atomic. */
static void test_file_roundtrip(void **state) {
    (void)state;
    data_tokenizer *t = trained(600), *o = odd_bytes_tokenizer();
    const char *p = tu_group_path("tok.txt");
    for (int w = 0; w < 2; w++) {
        const data_tokenizer *src = w ? o : t;
        assert_int_equal(data_tokenizer_save(src, p), 0);
        data_tokenizer *l = NULL;
        assert_int_equal(data_tokenizer_load(&l, p), 0);
        assert_same_tokenizer(src, l);
        char *s1 = data_tokenizer_to_text(src), *s2 = data_tokenizer_to_text(l);
        assert_string_equal(s1, s2);
        free(s1);
        free(s2);
        data_tokenizer_free(l);
    }
    printf("odd-bytes tokenizer: %lld merges round-tripped through the text file\n", (long long)data_bpe_n_merges(o->bpe));
    /* The fingerprint tells tokenizers apart. */
    assert_true(data_tokenizer_fingerprint(t) != data_tokenizer_fingerprint(o));
    int32_t *mg = malloc((size_t)data_bpe_n_merges(t->bpe) * 8);
    memcpy(mg, data_bpe_merges(t->bpe), (size_t)data_bpe_n_merges(t->bpe) * 8);
    mg[2 * 5 + 1] = 0; /* (x, NUL): a pair the text corpus never merges */
    data_bpe *b2 = NULL;
    assert_int_equal(data_bpe_from_merges(&b2, mg, data_bpe_n_merges(t->bpe)), 0);
    data_tokenizer *t2 = data_tokenizer_from_bpe(b2);
    assert_true(data_tokenizer_fingerprint(t) != data_tokenizer_fingerprint(t2));
    data_tokenizer_free(t2);
    free(mg);

    /* Comments, blank lines and CRLF line ends read the same. */
    char *s = data_tokenizer_to_text(t);
    size_t sn = strlen(s);
    char *crlf = malloc(2 * sn + 64), *q = crlf;
    q += sprintf(q, "# a comment before the header\r\n\r\n");
    for (size_t i = 0; i < sn; i++) {
        if (s[i] == '\n') *q++ = '\r';
        *q++ = s[i];
    }
    q += sprintf(q, "\n# trailing comment\n");
    data_tokenizer *l = NULL;
    assert_int_equal(data_tokenizer_from_text(&l, crlf, (size_t)(q - crlf), "crlf.txt"), 0);
    assert_same_tokenizer(t, l);
    data_tokenizer_free(l);
    free(crlf);
    free(s);

    /* Atomic save: no temp file left; a failed save (the temp path is taken by a directory) leaves
     * the previous file untouched and names the path. */
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", p, (long)getpid());
    assert_int_equal(access(tmp, F_OK), -1);
    assert_int_equal(data_tokenizer_save(t, p), 0);
    size_t before_n;
    char *before = tu_read_file(p, &before_n);
    assert_int_equal(mkdir(tmp, 0700), 0);
    assert_int_equal(data_tokenizer_save(o, p), -1);
    assert_non_null(strstr(base_error_msg(), p));
    size_t after_n;
    char *after = tu_read_file(p, &after_n);
    assert_int_equal(after_n, before_n);
    assert_memory_equal(after, before, before_n);
    rmdir(tmp);
    free(before);
    free(after);
    /* A save into a missing directory fails cleanly too. */
    assert_int_equal(data_tokenizer_save(t, tu_group_path("no/such/dir/tok.txt")), -1);
    assert_non_null(strstr(base_error_msg(), "no/such/dir/tok.txt"));
    data_tokenizer *x = (data_tokenizer *)1;
    assert_int_equal(data_tokenizer_load(&x, tu_group_path("absent.txt")), -1);
    assert_null(x);
    assert_non_null(strstr(base_error_msg(), "absent.txt: cannot open"));
    data_tokenizer_free(t);
    data_tokenizer_free(o);
}

/* ---- loader errors: each edit of a good file must be refused with "<origin>:<line>: expected ..." */

/* The text with line `lineno` (1-based) replaced by `repl` (NULL: deleted). Heap. */
static char *edit_line(const char *text, int lineno, const char *repl) {
    size_t n = strlen(text);
    char *o = malloc(n + (repl ? strlen(repl) : 0) + 2), *w = o;
    int line = 1;
    for (const char *s = text; *s;) {
        const char *e = strchr(s, '\n');
        size_t l = e ? (size_t)(e - s) + 1 : strlen(s);
        if (line == lineno) {
            if (repl) w += sprintf(w, "%s\n", repl);
        } else {
            memcpy(w, s, l);
            w += l;
        }
        s += l;
        line++;
    }
    *w = 0;
    return o;
}

static void expect_error(const char *text, size_t n, const char *needle) {
    data_tokenizer *t = (data_tokenizer *)1;
    assert_int_equal(data_tokenizer_from_text(&t, text, n, "t.txt"), -1);
    assert_null(t);
    if (!strstr(base_error_msg(), needle)) fail_msg("\"%s\" lacks \"%s\"", base_error_msg(), needle);
    printf("  %s\n", base_error_msg());
}
static void expect_edit_error(const char *good, int lineno, const char *repl, const char *needle) {
    char *bad = edit_line(good, lineno, repl);
    expect_error(bad, strlen(bad), needle);
    free(bad);
}

static void test_loader_errors(void **state) {
    (void)state;
    /* 39 merges; the layout of the written file is fixed: line 1 header, 2-3 comments, 4 model,
     * 5 normalization, 6-10 specials, 11 "merges 39", 12-50 the merge lines. */
    data_tokenizer *t = trained(300);
    const int64_t m = data_bpe_n_merges(t->bpe);
    assert_int_equal(m, 39);
    char *good = data_tokenizer_to_text(t);
    const int32_t *mg = data_bpe_merges(t->bpe);
    char line[256];
    data_tokenizer *l = NULL;
    assert_int_equal(data_tokenizer_from_text(&l, good, strlen(good), "t.txt"), 0);
    data_tokenizer_free(l);

    expect_edit_error(good, 1, "ember-tokenizer 2", "t.txt:1: expected the header 'ember-tokenizer 1', got 'ember-tokenizer 2'");
    expect_edit_error(good, 1, NULL, "t.txt:3: expected the header 'ember-tokenizer 1', got 'model byte-bpe'");
    expect_edit_error(good, 4, "model wordpiece", "t.txt:4: expected 'model byte-bpe'");
    expect_edit_error(good, 5, "normalization nfkc", "t.txt:5: expected 'normalization none'");
    /* missing special, special out of order, wrong special id, garbage id */
    expect_edit_error(good, 8, NULL, "t.txt:8: expected 'special [CLS] ID' (special 3 of 5), got 'special [SEP] 298'");
    expect_edit_error(good, 6, "special [UNK] 295", "t.txt:6: expected 'special [PAD] ID'");
    expect_edit_error(good, 6, "special [PAD] 300", "t.txt:6: expected [PAD] to have id 295 (= 256 + 39 merges + 0: the specials follow the merges in order), got 300");
    expect_edit_error(good, 10, "special [MASK] x", "t.txt:10: expected 'special [MASK] ID'");
    /* merges line */
    expect_edit_error(good, 11, "merges -1", "t.txt:11: expected 'merges M'");
    expect_edit_error(good, 11, "merges 40", "t.txt:6: expected [PAD] to have id 296"); /* specials no longer fit */
    /* bad merge lines */
    expect_edit_error(good, 12, "116 x \"tx\"", "t.txt:12: expected merge 1 of 39 as 'a b \"bytes\"', got '116 x \"tx\"'");
    expect_edit_error(good, 12, "116 104", "t.txt:12: expected merge 1 of 39 as 'a b \"bytes\"'");
    snprintf(line, sizeof line, "%d %d \"xx\" extra", mg[0], mg[1]);
    expect_edit_error(good, 12, line, "t.txt:12: expected the end of the line after the quoted bytes of merge 1");
    snprintf(line, sizeof line, "%d %d \"%c%c", mg[0], mg[1], mg[0], mg[1]);
    expect_edit_error(good, 12, line, "t.txt:12: expected a quoted string of the token's bytes (no closing quote)");
    snprintf(line, sizeof line, "%d %d \"\\q\"", mg[0], mg[1]);
    expect_edit_error(good, 12, line, "(an unknown escape");
    /* id out of range: merge 1 may use only the bytes, merge 3 ids < 258 */
    expect_edit_error(good, 12, "256 104 \"?\"", "t.txt:12: expected ids in [0, 256) (bytes and the tokens of earlier merges) in merge 1");
    snprintf(line, sizeof line, "%d 258 \"??\"", mg[4]);
    expect_edit_error(good, 14, line, "t.txt:14: expected ids in [0, 258)");
    /* wrong bytes string */
    snprintf(line, sizeof line, "%d %d \"%cX\"", mg[0], mg[1], mg[0]);
    char want[64];
    snprintf(want, sizeof want, "t.txt:12: expected the bytes of %d followed by %d, \"%c%c\", got", mg[0], mg[1], mg[0], mg[1]);
    expect_edit_error(good, 12, line, want);
    /* the same bytes written with escapes are fine: \u0061 is 'a' */
    snprintf(line, sizeof line, "%d %d \"\\u%04x\\x%02x\"", mg[0], mg[1], mg[0], mg[1]);
    char *ok = edit_line(good, 12, line);
    assert_int_equal(data_tokenizer_from_text(&l, ok, strlen(ok), "t.txt"), 0);
    data_tokenizer_free(l);
    free(ok);
    /* count mismatch: a line missing, a line too many */
    int last = 11 + (int)m;
    expect_edit_error(good, last, NULL, "t.txt:50: expected 39 merges (the count on the 'merges' line), got 38 and the end of the file");
    size_t gl = strlen(good);
    char *more = malloc(gl + 64);
    snprintf(more, gl + 64, "%s%d %d \"zz\"\n", good, 'z', 'z');
    expect_error(more, strlen(more), "t.txt:51: expected the end of the file after 39 merges");
    /* a pair merged twice (with the right bytes, so only the repeat is wrong) */
    char *dup = edit_line(good, 11, "merges 40");
    char *dup2 = malloc(strlen(dup) + 64);
    int32_t tl;
    const uint8_t *tb = data_bpe_token_bytes(t->bpe, 256, &tl);
    snprintf(dup2, strlen(dup) + 64, "%s%d %d \"%.*s\"\n", dup, mg[0], mg[1], (int)tl, (const char *)tb);
    free(dup);
    char *dup3 = edit_line(dup2, 6, "special [PAD] 296"), *dup4 = edit_line(dup3, 7, "special [UNK] 297");
    char *dup5 = edit_line(dup4, 8, "special [CLS] 298"), *dup6 = edit_line(dup5, 9, "special [SEP] 299");
    char *dup7 = edit_line(dup6, 10, "special [MASK] 300");
    expect_error(dup7, strlen(dup7), "t.txt:51: expected a pair not merged before");
    assert_non_null(strstr(base_error_msg(), "(already merged on line 12)"));
    free(dup2);
    free(dup3);
    free(dup4);
    free(dup5);
    free(dup6);
    free(dup7);
    /* truncation inside the header, an empty file, a NUL byte */
    /* 30 bytes: the header and half a comment line (line 2) */
    expect_error(good, 30, "t.txt:3: expected 'model byte-bpe', got the end of the file");
    expect_error("", 0, "t.txt:1: expected the header 'ember-tokenizer 1', got the end of the file");
    memcpy(more, good, 200);
    more[150] = '\0';
    expect_error(more, 200, "t.txt:");
    assert_non_null(strstr(base_error_msg(), "NUL byte"));
    free(more);

    /* Through a file, the message names the file. */
    const char *p = tu_group_path("bad.txt");
    char *bad = edit_line(good, 12, "256 104 \"?\"");
    assert_int_equal(tu_write_file(p, bad, strlen(bad)), 0);
    free(bad);
    l = (data_tokenizer *)1;
    assert_int_equal(data_tokenizer_load(&l, p), -1);
    assert_null(l);
    char needle[4200];
    snprintf(needle, sizeof needle, "%s:12: expected ids in [0, 256)", p);
    assert_non_null(strstr(base_error_msg(), needle));
    free(good);
    data_tokenizer_free(t);
}

/* ---- checkpoints -------------------------------------------------------------------------------- */

static void write_ckpt(const char *path, const data_tokenizer *t, const char *file_text, const int32_t *merges,
                       int64_t m) {
    ckpt_writer_options opt = {.no_fsync = true};
    ckpt_writer *w = ckpt_writer_begin_opts(path, &opt);
    assert_non_null(w);
    assert_int_equal(ckpt_put_i64(w, "/state/step", 7), 0);
    if (t) assert_int_equal(ckpt_put_tokenizer(w, t), 0);
    if (file_text) assert_int_equal(ckpt_put_string(w, "/tokenizer/file", file_text), 0);
    if (merges) assert_int_equal(ckpt_put_merges(w, merges, m), 0);
    assert_int_equal(ckpt_writer_commit(w), 0);
}

static int get_from(const char *path, data_tokenizer **t) {
    ckpt_reader *r = ckpt_open(path);
    assert_non_null(r);
    int rc = ckpt_get_tokenizer(r, t);
    ckpt_close(r);
    return rc;
}

/* A 5,000-token tokenizer (4,739 merges, a /tokenizer/file of ~70 KB): trained on 200k words drawn
 * with a skew from 5,000 random lowercase words (the fixture corpus supports only ~600 merges). */
static data_tokenizer *big_tokenizer(void) {
    base_rng r;
    base_rng_seed(&r, 17);
    char words[5000][13];
    for (int w = 0; w < 5000; w++) {
        int len = 3 + (int)base_rng_below(&r, 10);
        for (int i = 0; i < len; i++) words[w][i] = (char)('a' + base_rng_below(&r, 26));
        words[w][len] = 0;
    }
    size_t cap = 200000 * 14, n = 0;
    char *text = malloc(cap);
    for (int k = 0; k < 200000; k++) {
        const char *w = words[base_rng_below(&r, 1 + base_rng_below(&r, 5000))];
        size_t l = strlen(w);
        memcpy(text + n, w, l);
        n += l;
        text[n++] = ' ';
    }
    data_bpe *b = NULL;
    assert_int_equal(data_bpe_train(&b, (const uint8_t *)text, n, 5000 - DATA_TOK_N_SPECIAL, NULL), 0);
    free(text);
    return data_tokenizer_from_bpe(b);
}

static void test_checkpoint(void **state) {
    (void)state;
    data_tokenizer *t = big_tokenizer();
    assert_int_equal(t->vocab_size, 5000);
    const char *p = tu_group_path("run.ckpt");
    write_ckpt(p, t, NULL, NULL, 0);
    data_tokenizer *l = NULL;
    assert_int_equal(get_from(p, &l), 0);
    assert_same_tokenizer(t, l);
    data_tokenizer_free(l);
    /* /tokenizer/merges is the same [M, 2] array. */
    ckpt_reader *r = ckpt_open(p);
    int32_t *mg;
    int64_t m;
    assert_int_equal(ckpt_get_merges(r, &mg, &m), 0);
    assert_int_equal(m, data_bpe_n_merges(t->bpe));
    assert_memory_equal(mg, data_bpe_merges(t->bpe), (size_t)m * 8);
    char *text;
    assert_int_equal(ckpt_get_string(r, "/tokenizer/file", &text), 0);
    char *want = data_tokenizer_to_text(t);
    assert_string_equal(text, want);
    printf("checkpoint tokenizer: %lld merges, vocab %d, /tokenizer/file %zu bytes\n", (long long)m, t->vocab_size,
           strlen(text));
    free(want);
    free(text);
    ckpt_close(r);

    /* No tokenizer: a clear error. */
    const char *q = tu_group_path("plain.ckpt");
    write_ckpt(q, NULL, NULL, NULL, 0);
    l = (data_tokenizer *)1;
    assert_int_equal(get_from(q, &l), -1);
    assert_null(l);
    char msg[4200];
    snprintf(msg, sizeof msg, "%s: no tokenizer in checkpoint (/tokenizer/file missing)", q);
    assert_string_equal(base_error_msg(), msg);

    /* A bad /tokenizer/file names "<ckpt>:/tokenizer/file:<line>". */
    char *good = data_tokenizer_to_text(t), *bad = edit_line(good, 11, "merges x");
    const char *b = tu_group_path("bad.ckpt");
    write_ckpt(b, NULL, bad, NULL, 0);
    assert_int_equal(get_from(b, &l), -1);
    snprintf(msg, sizeof msg, "%s:/tokenizer/file:11: expected 'merges M'", b);
    assert_non_null(strstr(base_error_msg(), msg));
    free(bad);
    /* /tokenizer/merges that disagrees with /tokenizer/file is refused. */
    mg[2 * 3] = mg[2 * 3] == 'a' ? 'b' : 'a';
    const char *d = tu_group_path("differ.ckpt");
    write_ckpt(d, NULL, good, mg, m);
    assert_int_equal(get_from(d, &l), -1);
    assert_non_null(strstr(base_error_msg(), "/tokenizer/merges row 3"));
    mg[2 * 3] = data_bpe_merges(t->bpe)[2 * 3];
    write_ckpt(d, NULL, good, mg, m - 1);
    assert_int_equal(get_from(d, &l), -1);
    assert_non_null(strstr(base_error_msg(), "rows"));
    /* /tokenizer/file alone (a checkpoint from another writer) is enough. */
    write_ckpt(d, NULL, good, NULL, 0);
    assert_int_equal(get_from(d, &l), 0);
    assert_same_tokenizer(t, l);
    data_tokenizer_free(l);
    free(good);
    free(mg);
    data_tokenizer_free(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_and_specials), cmocka_unit_test(test_train_files),
        cmocka_unit_test(test_quote),                  cmocka_unit_test(test_file_roundtrip),
        cmocka_unit_test(test_loader_errors),          cmocka_unit_test(test_checkpoint),
    };
    return cmocka_run_group_tests(tests, tu_group_tempdir_setup, tu_group_tempdir_teardown);
}
