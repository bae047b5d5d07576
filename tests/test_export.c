/* test_export.c — word2vec text/binary exports byte for byte as word2vec.c writes them, gensim
 * round trips, projector TSV, and validated imports of damaged files. */
#include "support/test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoints/export.h"

static const char *words3[] = {"</s>", "the", "naïve"};
static const float vecs3[] = {0.5f, -1.25f, 3.0f, 0.0f, 1.0f, -0.0001f, 1e-7f, -2.5e3f, 0.333333f};

static void test_text_bytes_match_word2vec_c(void **state) {
    (void)state;
    const char *p = tu_group_path("v.txt");
    assert_int_equal(ckpt_export_word2vec(p, words3, vecs3, 3, 3, false), 0);
    size_t n;
    char *got = tu_read_file(p, &n);
    /* What word2vec.c's fprintf(fo, "%lf ", syn0[...]) prints for these floats. */
    const char *want = "3 3\n"
                       "</s> 0.500000 -1.250000 3.000000 \n"
                       "the 0.000000 1.000000 -0.000100 \n"
                       "naïve 0.000000 -2500.000000 0.333333 \n";
    assert_string_equal(got, want);
    free(got);
}

static void test_binary_bytes_match_word2vec_c(void **state) {
    (void)state;
    const char *p = tu_group_path("v.bin");
    assert_int_equal(ckpt_export_word2vec(p, words3, vecs3, 3, 3, true), 0);
    size_t n;
    char *got = tu_read_file(p, &n);
    char want[256];
    size_t k = (size_t)snprintf(want, sizeof want, "3 3\n");
    for (int i = 0; i < 3; i++) {
        k += (size_t)snprintf(want + k, sizeof want - k, "%s ", words3[i]);
        memcpy(want + k, vecs3 + 3 * i, 12);
        k += 12;
        want[k++] = '\n';
    }
    assert_int_equal(n, k);
    assert_memory_equal(got, want, k);
    free(got);
}

static void test_import_round_trip(void **state) {
    (void)state;
    const char *pt = tu_group_path("rt.txt"), *pb = tu_group_path("rt.bin");
    assert_int_equal(ckpt_export_word2vec(pt, words3, vecs3, 3, 3, false), 0);
    assert_int_equal(ckpt_export_word2vec(pb, words3, vecs3, 3, 3, true), 0);
    ckpt_embeddings e;
    for (int mode = 0; mode < 3; mode++) {
        /* binary: AUTO and BINARY; exact floats. */
        if (mode != CKPT_W2V_TEXT) {
            if (ckpt_import_word2vec(pb, (ckpt_w2v_mode)mode, &e) < 0) fail_msg("%s", base_error_msg());
            assert_int_equal(e.n, 3);
            assert_int_equal(e.dim, 3);
            assert_memory_equal(e.vecs, vecs3, sizeof vecs3);
            for (int i = 0; i < 3; i++) assert_string_equal(e.words[i], words3[i]);
            ckpt_embeddings_free(&e);
        }
        /* text: AUTO and TEXT; 6 decimals. */
        if (mode != CKPT_W2V_BINARY) {
            if (ckpt_import_word2vec(pt, (ckpt_w2v_mode)mode, &e) < 0) fail_msg("%s", base_error_msg());
            assert_int_equal(e.n, 3);
            for (int i = 0; i < 9; i++) assert_true(fabsf(e.vecs[i] - vecs3[i]) <= 5e-7f);
            assert_string_equal(e.words[2], "naïve");
            assert_int_equal(ckpt_embeddings_find(&e, "the"), 1);
            assert_int_equal(ckpt_embeddings_find(&e, "cat"), -1);
            ckpt_embeddings_free(&e);
        }
    }
    /* Initialise a table from imported vectors: known words copied, others untouched. */
    assert_int_equal(ckpt_import_word2vec(pb, CKPT_W2V_AUTO, &e), 0);
    const char *vocab[] = {"naïve", "dog", "</s>"};
    float table[9];
    for (int i = 0; i < 9; i++) table[i] = 42;
    assert_int_equal(ckpt_embeddings_init_table(&e, vocab, 3, table, 3), 2);
    assert_memory_equal(table, vecs3 + 6, 12);
    assert_true(table[3] == 42 && table[5] == 42);
    assert_memory_equal(table + 6, vecs3, 12);
    assert_int_equal(ckpt_embeddings_init_table(&e, vocab, 3, table, 4), -1);
    assert_non_null(strstr(base_error_msg(), "3 dims, the table has 4"));
    ckpt_embeddings_free(&e);
}

static void test_projector_tsv(void **state) {
    (void)state;
    const char *v = tu_group_path("vectors.tsv"), *m = tu_group_path("metadata.tsv");
    assert_int_equal(ckpt_export_projector_tsv(v, m, words3, vecs3, 3, 3), 0);
    char *vs = tu_read_file(v, NULL), *ms = tu_read_file(m, NULL);
    assert_string_equal(ms, "</s>\nthe\nnaïve\n");
    assert_string_equal(vs, "0.5\t-1.25\t3\n0\t1\t-9.99999975e-05\n1.00000001e-07\t-2500\t0.333332986\n");
    free(vs);
    free(ms);
    const char *bad[] = {"a\tb"};
    assert_int_equal(ckpt_export_projector_tsv(v, m, bad, vecs3, 1, 3), -1);
    assert_non_null(strstr(base_error_msg(), "contains whitespace"));
}

static void test_export_errors(void **state) {
    (void)state;
    const char *bad[] = {"ok", "two words"};
    const char *p = tu_group_path("bad.txt");
    assert_int_equal(ckpt_export_word2vec(p, bad, vecs3, 2, 3, false), -1);
    assert_non_null(strstr(base_error_msg(), "word 1 ('two words') contains whitespace"));
    assert_int_not_equal(access(p, F_OK), 0);
    assert_int_equal(ckpt_export_word2vec(tu_group_path("nodir/x.txt"), words3, vecs3, 3, 3, false), -1);
    assert_non_null(strstr(base_error_msg(), "No such file or directory"));
}

/* Each damaged file gives an error naming the file and where. */
static void expect_import_error(const char *name, const void *bytes, size_t n, ckpt_w2v_mode mode,
                                const char *needle) {
    const char *p = tu_group_path(name);
    assert_int_equal(tu_write_file(p, bytes, n), 0);
    ckpt_embeddings e;
    int rc = ckpt_import_word2vec(p, mode, &e);
    if (rc == 0) fail_msg("%s imported, expected an error containing '%s'", name, needle);
    printf("  %s\n", base_error_msg());
    assert_non_null(strstr(base_error_msg(), p));
    if (!strstr(base_error_msg(), needle)) fail_msg("'%s' lacks '%s'", base_error_msg(), needle);
    assert_null(e.words);
    assert_null(e.vecs);
}

static void test_import_errors(void **state) {
    (void)state;
#define TXT(name, s, needle) expect_import_error(name, s, strlen(s), CKPT_W2V_TEXT, needle)
    TXT("empty.txt", "", "line 1: empty file");
    TXT("hdr.txt", "three 3\n", "line 1: expected header 'words dims', got 'three 3'");
    TXT("hdr2.txt", "2 3 4\n", "line 1: expected header");
    TXT("neg.txt", "-2 3\n", "out of range");
    TXT("few.txt", "3 2\na 1 2\nb 3 4\n", "line 4: file ends after 2 words, header says 3");
    TXT("many.txt", "1 2\na 1 2\nb 3 4\n", "line 3: more words than the header's 1");
    TXT("count.txt", "2 3\na 1 2 3\nb 4 5\n", "line 3: word 'b' has 2 values, header says 3");
    TXT("count2.txt", "2 3\na 1 2 3 4\nb 4 5 6\n", "line 2: word 'a' has 4 values, header says 3");
    TXT("nan.txt", "2 3\na 1 2 3\nb 4 abc 6\n", "line 3: value 2 of word 'b': expected a number, got 'abc'");
    TXT("inf.txt", "1 2\na 1 nan\n", "line 2: value 2 of word 'a': nan is not a finite float");
    TXT("glued.txt", "1 2\na 1.5x 2\n", "expected a number, got '1.5x'");
    TXT("blank.txt", "2 2\na 1 2\n\nb 1 2\n", "line 3: empty line");
    TXT("huge.txt", "99999999 300\na 1 2\n", "but the file has only");

    /* Binary: build a good 3 x 4 file, then damage it. */
    const char *ws[] = {"alpha", "beta", "gamma"};
    float v[12];
    for (int i = 0; i < 12; i++) v[i] = (float)i * 0.5f - 2.0f;
    const char *good = tu_group_path("good.bin");
    assert_int_equal(ckpt_export_word2vec(good, ws, v, 3, 4, true), 0);
    size_t n;
    char *b = tu_read_file(good, &n);
    assert_int_equal(n, 4 + 3 * 2 + 5 + 4 + 5 + 3 * 16);
    /* cut inside the last vector */
    expect_import_error("cut.bin", b, n - 9, CKPT_W2V_BINARY, "truncated in the vector of word 3 ('gamma'): expected 16 bytes, got 8");
    /* cut inside the last word */
    expect_import_error("cutw.bin", b, n - 19, CKPT_W2V_BINARY, "file ends after 2 words, header says 3");
    /* header says more words */
    char *more = base_xmalloc(n + 64);
    memcpy(more, "4", 1);
    memcpy(more + 1, b + 1, n - 1);
    expect_import_error("more.bin", more, n, CKPT_W2V_BINARY, "file ends after 3 words, header says 4");
    /* header says fewer words: the rest is trailing data */
    memcpy(more, "2", 1);
    expect_import_error("fewer.bin", more, n, CKPT_W2V_BINARY, "data after the 2 words the header announces");
    /* a NaN in a vector */
    memcpy(more, b, n);
    float qnan = NAN;
    memcpy(more + 4 + 6, &qnan, 4); /* first value of "alpha": after "3 4\n" and "alpha " */
    expect_import_error("nan.bin", more, n, CKPT_W2V_BINARY, "byte 10: value 1 of word 'alpha' is not finite");
    free(more);
    free(b);
#undef TXT
}

static void write_script(const char *name, const char *text) {
    assert_int_equal(tu_write_file(tu_group_path(name), text, strlen(text)), 0);
}

/* gensim loads what ember writes, and ember loads what gensim writes. */
static void test_gensim_compat(void **state) {
    (void)state;
    if (access("/usr/bin/python3", X_OK) != 0 ||
        tu_run("/usr/bin/python3 -c 'import gensim' >/dev/null 2>&1", NULL) != 0) {
        printf("skipped: /usr/bin/python3 with gensim is not available\n");
        skip();
    }
    enum { N = 200, D = 17 };
    char **ws = base_xmalloc(N * sizeof *ws);
    float *v = base_xmalloc(N * D * sizeof *v);
    base_rng r;
    base_rng_seed(&r, 3);
    for (int i = 0; i < N; i++) {
        char w[32];
        snprintf(w, sizeof w, i % 3 ? "w%d" : "wörd_%d", i);
        ws[i] = base_xstrdup(w);
        for (int j = 0; j < D; j++) v[i * D + j] = base_rng_normal(&r);
    }
    assert_int_equal(ckpt_export_word2vec(tu_group_path("e.txt"), (const char *const *)ws, v, N, D, false), 0);
    assert_int_equal(ckpt_export_word2vec(tu_group_path("e.bin"), (const char *const *)ws, v, N, D, true), 0);
    assert_int_equal(ckpt_export_projector_tsv(tu_group_path("e.tsv"), tu_group_path("m.tsv"), (const char *const *)ws, v, N, D), 0);
    write_script("g.py",
                 "import sys, numpy as np\n"
                 "from gensim.models import KeyedVectors\n"
                 "d = sys.argv[1]\n"
                 "t = KeyedVectors.load_word2vec_format(d + '/e.txt', binary=False)\n"
                 "b = KeyedVectors.load_word2vec_format(d + '/e.bin', binary=True)\n"
                 "tsv = np.loadtxt(d + '/e.tsv', delimiter='\\t', dtype=np.float32)\n"
                 "meta = open(d + '/m.tsv', encoding='utf-8').read().split('\\n')[:-1]\n"
                 "assert len(t) == len(b) == 200 and t.vector_size == b.vector_size == 17\n"
                 "assert list(t.index_to_key) == list(b.index_to_key) == meta\n"
                 "assert np.array_equal(b.vectors, tsv)\n"
                 "assert np.abs(t.vectors - b.vectors).max() <= 1e-6\n"
                 "assert t.index_to_key[3] == 'wörd_3'\n"
                 "b.save_word2vec_format(d + '/g.bin', binary=True)\n"
                 "t.save_word2vec_format(d + '/g.txt', binary=False)\n"
                 "print('gensim loaded both formats:', len(b), 'x', b.vector_size)\n");
    char cmd[4400], *out = NULL;
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %s", tu_group_path("g.py"), tu_group_dir());
    int rc = tu_run(cmd, &out);
    printf("  %s", out);
    if (rc != 0) fail_msg("gensim check failed:\n%s", out);
    free(out);
    ckpt_embeddings e;
    if (ckpt_import_word2vec(tu_group_path("g.bin"), CKPT_W2V_AUTO, &e) < 0) fail_msg("%s", base_error_msg());
    assert_int_equal(e.n, N);
    assert_memory_equal(e.vecs, v, sizeof(float) * N * D);
    assert_string_equal(e.words[3], "wörd_3");
    ckpt_embeddings_free(&e);
    if (ckpt_import_word2vec(tu_group_path("g.txt"), CKPT_W2V_AUTO, &e) < 0) fail_msg("%s", base_error_msg());
    assert_int_equal(e.n, N);
    assert_int_equal(e.dim, D);
    ckpt_embeddings_free(&e);
    for (int i = 0; i < N; i++) free(ws[i]);
    free(ws);
    free(v);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_bytes_match_word2vec_c),
        cmocka_unit_test(test_binary_bytes_match_word2vec_c),
        cmocka_unit_test(test_import_round_trip),
        cmocka_unit_test(test_projector_tsv),
        cmocka_unit_test(test_export_errors),
        cmocka_unit_test(test_import_errors),
        cmocka_unit_test(test_gensim_compat),
    };
    return cmocka_run_group_tests(tests, tu_group_tempdir_setup, tu_group_tempdir_teardown);
}
