/* test_tokenizer_cli.c — `ember tokenizer`: train, encode/decode round trips (ids, tokens, npy), checkpoints, and errors that name the file and position. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoints/ckpt.h"
#include "data/tokenizer.h"
#include "support/test_util.h"

/* The group's tokenizer, trained by test_train through the CLI (tests run in order). */
static char *g_tok;

static void assert_has(const char *out, const char *needle) {
    if (!out || !strstr(out, needle)) fail_msg("output lacks \"%s\":\n%s", needle, out ? out : "(none)");
}

/* ember tokenizer train on the fixture corpus; the summary names the merges, size and specials. */
static void test_train(void **state) {
    (void)state;
    g_tok = tu_path_join(tu_group_dir(), "tok.txt");
    char *out = NULL;
    int rc = tu_run_ember(&out, "tokenizer train --corpus '%s' --vocab-size 600 -o '%s'",
                          tu_source_path("tests/fixtures/bpe_corpus.txt"), g_tok);
    printf("%s", out);
    assert_int_equal(rc, 0);
    assert_has(out, "merges learned  339 of 339 asked");
    assert_has(out, "vocab size      600 (256 bytes + 339 merges + 5 special)");
    assert_has(out, "special ids     [PAD] 595, [UNK] 596, [CLS] 597, [SEP] 598, [MASK] 599");
    /* The file loads and its fingerprint is the one printed, and the one `info` prints. */
    data_tokenizer *t = NULL;
    assert_int_equal(data_tokenizer_load(&t, g_tok), 0);
    char fp[64];
    snprintf(fp, sizeof fp, "fingerprint     %016llx", (unsigned long long)data_tokenizer_fingerprint(t));
    assert_has(out, fp);
    free(out);
    assert_int_equal(tu_run_ember(&out, "tokenizer info '%s'", g_tok), 0);
    assert_has(out, fp);
    assert_has(out, "(text file)");
    assert_has(out, "merges          339");
    free(out);
    /* Two corpora, one gzip, and --max-bytes: trains on their first 20,000 bytes. */
    size_t n;
    char *text = tu_read_file(tu_source_path("tests/fixtures/bpe_corpus.txt"), &n);
    const char *gz = tu_group_path("part2.txt.gz");
    assert_int_equal(tu_write_gz(gz, text + n / 2, n - n / 2, 6), 0);
    assert_int_equal(tu_run_ember(&out, "tokenizer train --corpus '%s' --corpus '%s' --vocab-size 300 --max-bytes 20000 "
                                        "-o '%s'",
                                  tu_source_path("tests/fixtures/bpe_corpus.txt"), gz, tu_group_path("small.txt")),
                     0);
    assert_has(out, "(cut at max bytes)");
    assert_has(out, "not read (max bytes reached)");
    free(out);
    free(text);
    data_tokenizer_free(t);
}

/* Lines of text (UTF-8, tabs, CR, empty lines) -> ids -> the same text; ids equal the library's. */
static void test_encode_decode_lines(void **state) {
    (void)state;
    const char *text = "The quick brown fox, caf\xc3\xa9 2024!\n\n  indented\tline [MASK]\r\nlast \xe2\x80\x94 line\n";
    const char *in = tu_group_path("in.txt");
    assert_int_equal(tu_write_file(in, text, strlen(text)), 0);
    char *ids_path = tu_path_join(tu_group_dir(), "ids.txt"), *back = tu_path_join(tu_group_dir(), "back.txt");
    char *out = NULL;
    assert_int_equal(tu_run_ember(&out, "tokenizer encode --tokenizer '%s' --input '%s' -o '%s'", g_tok, in, ids_path), 0);
    assert_has(out, "tokens in");
    free(out);
    /* One line of ids per line of text, each the library's encoding of that line alone. */
    data_tokenizer *t = NULL;
    assert_int_equal(data_tokenizer_load(&t, g_tok), 0);
    char *got = tu_read_file(ids_path, NULL), *line = got;
    const char *s = text;
    int lines = 0;
    while (*s) {
        const char *e = strchr(s, '\n');
        int32_t *ids;
        int64_t k;
        assert_int_equal(data_tokenizer_encode(t, (const uint8_t *)s, (size_t)(e - s), &ids, &k, 1), 0);
        char want[4096] = "";
        size_t w = 0;
        for (int64_t i = 0; i < k; i++) w += (size_t)snprintf(want + w, sizeof want - w, "%s%d", i ? " " : "", ids[i]);
        char *nl = strchr(line, '\n');
        assert_non_null(nl);
        *nl = 0;
        assert_string_equal(line, want);
        line = nl + 1;
        free(ids);
        s = e + 1;
        lines++;
    }
    assert_int_equal(*line, 0);
    assert_int_equal(lines, 4);
    free(got);
    /* Decoding gives the text back, byte for byte. */
    assert_int_equal(tu_run_ember(&out, "tokenizer decode --tokenizer '%s' --input '%s' -o '%s'", g_tok, ids_path, back), 0);
    free(out);
    size_t bn;
    char *b = tu_read_file(back, &bn);
    assert_int_equal(bn, strlen(text));
    assert_memory_equal(b, text, bn);
    free(b);
    /* --text / --ids through stdout; specials decode to their names; tokens are quoted. */
    assert_int_equal(tu_run_ember(&out, "tokenizer encode --tokenizer '%s' --text 'ab'", g_tok), 0);
    assert_string_equal(out, "97 98\n");
    free(out);
    assert_int_equal(tu_run_ember(&out, "tokenizer decode --tokenizer '%s' --ids '597 104 105 598'", g_tok), 0);
    assert_string_equal(out, "[CLS]hi[SEP]\n");
    free(out);
    assert_int_equal(tu_run_ember(&out, "tokenizer encode --tokenizer '%s' --format tokens --text 'a\tb\"\xff'", g_tok), 0);
    assert_string_equal(out, "\"a\" \"\\t\" \"b\" \"\\\"\" \"\\xff\"\n");
    free(out);
    free(ids_path);
    free(back);
    data_tokenizer_free(t);
}

/* Reads a little-endian uint16 / checks the .npy header and returns the data offset. */
static size_t check_npy_header(const unsigned char *b, size_t n, long long count) {
    assert_true(n >= 64);
    assert_memory_equal(b, "\x93NUMPY\x01\x00", 8);
    size_t hlen = (size_t)b[8] | (size_t)b[9] << 8;
    assert_int_equal((10 + hlen) % 64, 0); /* data aligned as numpy writes it */
    assert_int_equal(b[10 + hlen - 1], '\n');
    char want[128];
    snprintf(want, sizeof want, "{'descr': '<i4', 'fortran_order': False, 'shape': (%lld,), }", count);
    assert_memory_equal(b + 10, want, strlen(want));
    for (size_t i = 10 + strlen(want); i < 10 + hlen - 1; i++) assert_int_equal(b[i], ' ');
    assert_int_equal(n, 10 + hlen + 4 * (size_t)count);
    return 10 + hlen;
}

/* --format npy: the whole input (newlines and any bytes) as int32 '<i4'; decode gives it back. */
static void test_npy(void **state) {
    (void)state;
    size_t n;
    char *corpus = tu_read_file(tu_source_path("tests/fixtures/bpe_corpus.txt"), &n);
    /* the corpus, then bytes no text has: NUL, invalid UTF-8, "[SEP]" */
    char *x = malloc(n + 32);
    memcpy(x, corpus, n);
    memcpy(x + n, "\x00\xff\xfe [SEP]\n\x01", 10);
    size_t xn = n + 10;
    const char *in = tu_group_path("x.bin");
    assert_int_equal(tu_write_gz(in, x, xn, 1), 0); /* gzip input is read too */
    char *npy = tu_path_join(tu_group_dir(), "x.npy"), *back = tu_path_join(tu_group_dir(), "x.back");
    char *out = NULL;
    assert_int_equal(tu_run_ember(&out, "tokenizer encode --tokenizer '%s' --input '%s' --format npy -o '%s'", g_tok, in, npy), 0);
    printf("%s", out);
    free(out);
    data_tokenizer *t = NULL;
    assert_int_equal(data_tokenizer_load(&t, g_tok), 0);
    int32_t *ids;
    int64_t k;
    assert_int_equal(data_tokenizer_encode(t, (const uint8_t *)x, xn, &ids, &k, 1), 0);
    size_t bn;
    unsigned char *b = (unsigned char *)tu_read_file(npy, &bn);
    size_t off = check_npy_header(b, bn, (long long)k);
    for (int64_t i = 0; i < k; i++) {
        const unsigned char *p = b + off + 4 * i;
        int32_t v = (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
        if (v != ids[i]) fail_msg("npy id %lld: %d, library %d", (long long)i, v, ids[i]);
    }
    /* --text gives the same file format; --threads does not change the ids. */
    assert_int_equal(tu_run_ember(&out, "tokenizer encode --tokenizer '%s' --input '%s' --format npy --threads 2 -o '%s.2'",
                                  g_tok, in, npy),
                     0);
    free(out);
    char p2[4200];
    snprintf(p2, sizeof p2, "%s.2", npy);
    size_t b2n;
    char *b2 = tu_read_file(p2, &b2n);
    assert_int_equal(b2n, bn);
    assert_memory_equal(b2, b, bn);
    free(b2);
    /* decode of the .npy is the input, exactly (nothing added). */
    assert_int_equal(tu_run_ember(&out, "tokenizer decode --tokenizer '%s' --input '%s' -o '%s'", g_tok, npy, back), 0);
    free(out);
    size_t yn;
    char *y = tu_read_file(back, &yn);
    assert_int_equal(yn, xn);
    assert_memory_equal(y, x, xn);
    free(y);
    /* numpy reads it: same length, same sum, same first and last ids. */
    if (tu_run("/usr/bin/python3 -c 'import numpy' ", NULL) != 0) {
        printf("skipped: numpy check (/usr/bin/python3 with numpy not found; the header and data were checked in C)\n");
    } else {
        long long sum = 0;
        for (int64_t i = 0; i < k; i++) sum += ids[i];
        char cmd[4400], want[256];
        snprintf(cmd, sizeof cmd,
                 "/usr/bin/python3 -c \"import numpy; a = numpy.load('%s'); "
                 "print(a.dtype, a.shape, int(a.sum()), a[0], a[-1])\"",
                 npy);
        snprintf(want, sizeof want, "int32 (%lld,) %lld %d %d\n", (long long)k, sum, ids[0], ids[k - 1]);
        assert_int_equal(tu_run(cmd, &out), 0);
        printf("numpy.load: %s", out);
        assert_string_equal(out, want);
        free(out);
    }
    free(b);
    free(ids);
    free(npy);
    free(back);
    free(x);
    free(corpus);
    data_tokenizer_free(t);
}

/* A checkpoint's /tokenizer serves encode, decode and info; one without it is a clear error. */
static void test_checkpoint(void **state) {
    (void)state;
    data_tokenizer *t = NULL;
    assert_int_equal(data_tokenizer_load(&t, g_tok), 0);
    char *ck = tu_path_join(tu_group_dir(), "model.ckpt"), *bare = tu_path_join(tu_group_dir(), "bare.ckpt");
    ckpt_writer *w = ckpt_writer_begin(ck);
    assert_non_null(w);
    assert_int_equal(ckpt_put_tokenizer(w, t), 0);
    assert_int_equal(ckpt_writer_commit(w), 0);
    w = ckpt_writer_begin(bare);
    assert_int_equal(ckpt_put_i64(w, "/state/step", 1), 0);
    assert_int_equal(ckpt_writer_commit(w), 0);
    char *out = NULL, *out2 = NULL, fp[64];
    snprintf(fp, sizeof fp, "fingerprint     %016llx", (unsigned long long)data_tokenizer_fingerprint(t));
    assert_int_equal(tu_run_ember(&out, "tokenizer info '%s'", ck), 0);
    assert_has(out, fp);
    assert_has(out, ":/tokenizer/file (checkpoint)");
    free(out);
    const char *text = "same ids from the checkpoint\nand the text file";
    assert_int_equal(tu_run_ember(&out, "tokenizer encode --tokenizer '%s' --text '%s'", ck, text), 0);
    assert_int_equal(tu_run_ember(&out2, "tokenizer encode --tokenizer '%s' --text '%s'", g_tok, text), 0);
    assert_string_equal(out, out2);
    free(out);
    free(out2);
    assert_int_equal(tu_run_ember(&out, "tokenizer decode --tokenizer '%s' --ids '104 105 599'", ck), 0);
    assert_string_equal(out, "hi[MASK]\n");
    free(out);
    assert_int_not_equal(tu_run_ember(&out, "tokenizer encode --tokenizer '%s' --text hi", bare), 0);
    char msg[4300];
    snprintf(msg, sizeof msg, "ember tokenizer: %s: no tokenizer in checkpoint (/tokenizer/file missing)", bare);
    assert_has(out, msg);
    free(out);
    free(ck);
    free(bare);
    data_tokenizer_free(t);
}

/* Runs ember ARGS, expects a non-zero exit and an output that starts with "ember tokenizer: " and
 * holds `needle`. */
static void expect_fail(const char *needle, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void expect_fail(const char *needle, const char *fmt, ...) {
    char args[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    char *out = NULL;
    int rc = tu_run_ember(&out, "%s", args);
    if (rc == 0) fail_msg("exit 0 for: %s\n%s", args, out);
    assert_has(out, needle);
    /* The message comes first: nothing was written to stdout before the error was found. */
    if (strncmp(out, "ember tokenizer: ", 17) != 0) fail_msg("output does not start with the error:\n%s", out);
    printf("  exit %d: %s", rc, out);
    free(out);
}

static void test_errors(void **state) {
    (void)state;
    char *ids = tu_write_tmp(tu_group_dir(), "bad_ids.txt", "1 2 3\n4 5 abc 6\n");
    char *big = tu_write_tmp(tu_group_dir(), "big_ids.txt", "1 2 600\n");
    size_t n;
    char *good = tu_read_file(g_tok, &n);
    /* line 14 of the file is its third merge: make its first id out of range */
    char *p = good;
    for (int l = 1; l < 14; l++) p = strchr(p, '\n') + 1;
    char *bad_text = malloc(n + 32);
    int pre = (int)(p - good);
    snprintf(bad_text, n + 32, "%.*s999 %s", pre, good, strchr(p, ' ') + 1);
    char *bad_tok = tu_write_tmp(tu_group_dir(), "bad_tok.txt", bad_text);
    char *trunc_npy = tu_write_tmp(tu_group_dir(), "trunc.npy", "\x93NUMPY\x01");
    char needle[4400];

    snprintf(needle, sizeof needle, "%s:2: id 3: expected a token id in [0, 600), got 'abc'", ids);
    expect_fail(needle, "tokenizer decode --tokenizer '%s' --input '%s'", g_tok, ids);
    snprintf(needle, sizeof needle, "%s:1: id 3: expected a token id in [0, 600), got '600'", big);
    expect_fail(needle, "tokenizer decode --tokenizer '%s' --input '%s'", g_tok, big);
    expect_fail("--ids:1: id 2: expected a token id in [0, 600), got '-1'", "tokenizer decode --tokenizer '%s' --ids '5 -1'",
                g_tok);
    snprintf(needle, sizeof needle, "%s:14: expected ids in [0, 258)", bad_tok);
    expect_fail(needle, "tokenizer encode --tokenizer '%s' --text hi", bad_tok);
    expect_fail(needle, "tokenizer info '%s'", bad_tok);
    expect_fail("absent.txt: cannot open the tokenizer", "tokenizer encode --tokenizer '%s/absent.txt' --text hi",
                tu_group_dir());
    expect_fail("absent_in.txt: cannot open", "tokenizer encode --tokenizer '%s' --input '%s/absent_in.txt'", g_tok,
                tu_group_dir());
    expect_fail("absent_corpus.txt: cannot open", "tokenizer train --corpus '%s/absent_corpus.txt' --vocab-size 300 -o '%s/x'",
                tu_group_dir(), tu_group_dir());
    snprintf(needle, sizeof needle, "%s: 7 bytes: expected at least 10 for a .npy header", trunc_npy);
    expect_fail(needle, "tokenizer decode --tokenizer '%s' --input '%s'", g_tok, trunc_npy);
    /* a float32 .npy is not ids */
    char f4[128] = "\x93NUMPY\x01\x00\x76\x00{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }";
    size_t fl = 10 + strlen(f4 + 10);
    while (fl < 127) f4[fl++] = ' ';
    f4[127] = '\n';
    char *f4p = tu_path_join(tu_group_dir(), "f4.npy");
    FILE *ff = fopen(f4p, "wb");
    assert_non_null(ff);
    fwrite(f4, 1, 128, ff);
    fwrite("\0\0\x80\x3f", 1, 4, ff);
    fclose(ff);
    snprintf(needle, sizeof needle, "%s: expected int32 ids in a 1-D array ('<i4', C order, shape (N,)), got the header {'descr': '<f4'",
             f4p);
    expect_fail(needle, "tokenizer decode --tokenizer '%s' --input '%s'", g_tok, f4p);
    free(f4p);
    expect_fail("--vocab-size: expected an integer in [261, 2147483647], got 'lots'",
                "tokenizer train --corpus x --vocab-size lots -o y");
    expect_fail("--vocab-size: expected an integer in [261, 2147483647], got '100'",
                "tokenizer train --corpus x --vocab-size 100 -o y");
    expect_fail("--max-bytes: expected an integer >= 0, got '-5'", "tokenizer train --corpus x --vocab-size 300 --max-bytes -5 -o y");
    expect_fail("--format: expected ids, tokens or npy, got 'xml'", "tokenizer encode --tokenizer '%s' --text a --format xml", g_tok);
    expect_fail("unknown argument '--colour'", "tokenizer encode --tokenizer '%s' --text a --colour", g_tok);
    expect_fail("expected one of --text STRING or --input FILE", "tokenizer encode --tokenizer '%s'", g_tok);
    expect_fail("-o TOK missing", "tokenizer train --corpus x --vocab-size 300");
    expect_fail("--tokenizer: expected a value", "tokenizer decode --tokenizer");
    expect_fail("unknown action 'split'", "tokenizer split");
    /* A failed encode leaves no partial output file. */
    expect_fail("absent_in.txt", "tokenizer encode --tokenizer '%s' --input '%s/absent_in.txt' -o '%s/partial.npy' --format npy",
                g_tok, tu_group_dir(), tu_group_dir());
    char partial[4200];
    snprintf(partial, sizeof partial, "%s/partial.npy", tu_group_dir());
    assert_null(tu_read_file(partial, NULL));
    /* --help of every action exits 0 and prints its usage. */
    const char *actions[] = {"train", "encode", "decode", "info"};
    for (int i = 0; i < 4; i++) {
        char *out = NULL;
        assert_int_equal(tu_run_ember(&out, "tokenizer %s --help", actions[i]), 0);
        char u[64];
        snprintf(u, sizeof u, "usage: ember tokenizer %s", actions[i]);
        assert_has(out, u);
        free(out);
    }
    free(ids);
    free(big);
    free(good);
    free(bad_text);
    free(bad_tok);
    free(trunc_npy);
}

static int teardown(void **state) {
    free(g_tok);
    g_tok = NULL;
    return tu_group_tempdir_teardown(state);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_train), cmocka_unit_test(test_encode_decode_lines), cmocka_unit_test(test_npy),
        cmocka_unit_test(test_checkpoint), cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, tu_group_tempdir_setup, teardown);
}
