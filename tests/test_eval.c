/* test_eval.c — analogy protocol, Spearman with ties, OOV/restriction counting, neighbours, loaders. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "checkpoints/export.h"
#include "train/eval.h"
#include "tests/support/test_util.h"

/* A constructed vocabulary in which every vector is a sum of two orthonormal basis directions, so
 * b − a + c lands exactly on the intended answer (cosine 1) for the well-formed questions.
 * Basis: 0 person, 1 male, 2 female, 3 royal, 4 young, 5 country, 6 capital, 7 france, 8 italy,
 * 9 spain, 10 noise. Order = "frequency" order (restriction cuts the tail). */
#define D 12
static const struct {
    const char *w;
    int e1, e2;
} WORDS[] = {
    {"</s>", 10, 11},   {"man", 0, 1},       {"woman", 0, 2},  {"king", 3, 1},     {"queen", 3, 2},
    {"boy", 4, 1},      {"girl", 4, 2},      {"france", 7, 5}, {"paris", 7, 6},    {"italy", 8, 5},
    {"rome", 8, 6},     {"Man", 10, 0},      {"spain", 9, 5},  {"madrid", 9, 6},
};
#define NW ((int)(sizeof WORDS / sizeof WORDS[0]))

static train_vectors *make_vectors(void) {
    float vec[NW * D];
    char *words[NW];
    memset(vec, 0, sizeof vec);
    for (int i = 0; i < NW; i++) {
        words[i] = (char *)WORDS[i].w;
        vec[i * D + WORDS[i].e1] = 1.0f;
        vec[i * D + WORDS[i].e2] = 1.0f;
    }
    vec[0 * D + 11] = 3.0f; /* </s>: a different norm, to check normalisation */
    return train_vectors_from(NW, D, words, vec);
}

static void test_lookup(void **state) {
    (void)state;
    train_vectors *v = make_vectors();
    assert_int_equal(train_vectors_find(v, "man", false), 1);
    assert_int_equal(train_vectors_find(v, "Man", false), 11);
    assert_int_equal(train_vectors_find(v, "MAN", false), -1);
    assert_int_equal(train_vectors_find(v, "MAN", true), 1); /* the most frequent folding */
    assert_int_equal(train_vectors_find(v, "Madrid", true), 13);
    assert_int_equal(train_vectors_find(v, "berlin", true), -1);
    /* rows are unit length */
    for (int i = 0; i < NW; i++) {
        double s = 0;
        for (int j = 0; j < D; j++) s += (double)v->unit[i * D + j] * v->unit[i * D + j];
        assert_float_equal(s, 1.0, 1e-6);
    }
    train_vectors_free(v);
}

static void test_analogy_known(void **state) {
    (void)state;
    char *dir = tu_tempdir();
    char *q = tu_write_tmp(dir, "q.txt",
                           ": family\n"
                           "man woman king queen\n"     /* right */
                           "MAN WOMAN BOY GIRL\n"       /* right, upper-case */
                           "king queen boy girl\n"      /* right */
                           "man king woman girl\n"      /* wrong: the answer is queen */
                           "man woman prince princess\n" /* OOV: skipped */
                           ": capital-world\n"
                           "France Paris Italy Rome\n"  /* right */
                           "france paris spain madrid\n" /* right, but madrid (13) is cut by restriction 13 */
                           "paris france rome italy\n"  /* right */
                           ": gram1\n"
                           "boy girl man woman\n"       /* right: syntactic section (index 2 < 5 → semantic) */
    );
    data_analogy_set *qs;
    assert_int_equal(data_analogy_read(&qs, q), 0);
    train_vectors *v = make_vectors();
    train_analogy_result r;
    assert_int_equal(train_eval_analogy(v, qs, 0, &r), 0);
    assert_int_equal(r.total, 9);
    assert_int_equal(r.seen, 8);
    assert_int_equal(r.correct, 7);
    assert_int_equal(r.sections[0].total, 5);
    assert_int_equal(r.sections[0].seen, 4);
    assert_int_equal(r.sections[0].correct, 3);
    assert_int_equal(r.sections[1].correct, 3);
    assert_string_equal(r.sections[1].name, "capital-world");
    assert_int_equal(r.sem_seen, 8); /* all 3 sections are among the first five */
    assert_int_equal(r.syn_seen, 0);
    train_analogy_result_free(&r);

    /* restriction to the 13 most frequent: "spain"(12) stays, "madrid"(13) goes */
    assert_int_equal(train_eval_analogy(v, qs, 13, &r), 0);
    assert_int_equal(r.restrict_n, 13);
    assert_int_equal(r.seen, 7);
    assert_int_equal(r.correct, 6);
    assert_int_equal(r.sections[1].seen, 2);
    assert_int_equal(r.sections[1].total, 3);
    train_analogy_result_free(&r);
    /* restriction to 8 words: only the family questions over man..girl and none with paris */
    assert_int_equal(train_eval_analogy(v, qs, 8, &r), 0);
    assert_int_equal(r.seen, 5);
    assert_int_equal(r.correct, 4);
    train_analogy_result_free(&r);
    data_analogy_free(qs);

    /* semantic = first five sections, syntactic = the rest */
    char *q2 = tu_write_tmp(dir, "q2.txt", ": a\nman woman king queen\n: b\n: c\n: d\n: e\n: gram-f\nman woman boy girl\n"
                                           "man king woman girl\n");
    assert_int_equal(data_analogy_read(&qs, q2), 0);
    assert_int_equal(train_eval_analogy(v, qs, 0, &r), 0);
    assert_int_equal(r.sem_seen, 1);
    assert_int_equal(r.sem_correct, 1);
    assert_int_equal(r.syn_seen, 2);
    assert_int_equal(r.syn_correct, 1);
    train_analogy_result_free(&r);
    data_analogy_free(qs);
    train_vectors_free(v);
    free(q), free(q2);
    tu_rmtree(dir);
    free(dir);
}

/* The search excludes the question words even when one of them is the closest vector. */
static void test_analogy_excludes_query(void **state) {
    (void)state;
    /* x − a + b where b is itself nearest: with exclusion the answer is the next best */
    const char *w[] = {"a", "b", "c", "d"};
    float vec[4 * 2] = {1, 0, 0.9f, 0.1f, 0.8f, 0.6f, 0.7f, 0.7f};
    train_vectors *v = train_vectors_from(4, 2, (char **)w, vec);
    train_neighbor nb[3];
    int k = train_analogy_query(v, "b", "a", "c", 3, nb); /* b − a + c ≈ c */
    assert_int_equal(k, 1);
    assert_string_equal(v->words[nb[0].id], "d");
    assert_int_equal(train_analogy_query(v, "b", "zzz", "c", 3, nb), -1);
    assert_non_null(strstr(base_error_msg(), "'zzz' is not in the vocabulary"));
    train_vectors_free(v);
}

/* compute-accuracy's answer rule: the first of equal best scores wins (also across the argmax's
 * vector lanes and its scalar tail), and only a positive score can be an answer. */
static void test_analogy_ties(void **state) {
    (void)state;
    enum { N = 40 };
    char names[N][16];
    char *words[N];
    float vec[N * 2];
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "w%d", i);
        words[i] = names[i];
        vec[2 * i] = -1, vec[2 * i + 1] = 0; /* score 0 against the query (0, 1): never an answer */
    }
    vec[0] = 1, vec[1] = 0;              /* w0 = a */
    vec[2] = 1, vec[3] = 0;              /* w1 = b: b - a + c = c = (0, 1) */
    vec[4] = 0, vec[5] = 1;              /* w2 = c */
    vec[10] = 0.8f, vec[11] = 0.6f;      /* w5: 0.6 */
    vec[40] = 0.6f, vec[41] = 0.8f;      /* w20: 0.8 (lane 4) */
    vec[74] = 0.6f, vec[75] = 0.8f;      /* w37: 0.8, tied, in the tail */
    vec[50] = 0.6f, vec[51] = 0.8f;      /* w25: 0.8, tied, another lane (9) */
    train_vectors *v = train_vectors_from(N, 2, words, vec);
    char *dir = tu_tempdir();
    char *q = tu_write_tmp(dir, "q.txt", ": s\nw0 w1 w2 w20\nw0 w1 w2 w25\nw0 w1 w2 w37\nw0 w1 w2 w3\n");
    data_analogy_set *qs;
    assert_int_equal(data_analogy_read(&qs, q), 0);
    train_analogy_result r;
    assert_int_equal(train_eval_analogy(v, qs, 0, &r), 0);
    assert_int_equal(r.seen, 4);
    assert_int_equal(r.correct, 1); /* only w20, the first of the tied best */
    train_analogy_result_free(&r);
    /* restricted to w0..w4: nothing scores above 0, so even "w3" is not answered */
    assert_int_equal(train_eval_analogy(v, qs, 5, &r), 0);
    assert_int_equal(r.seen, 1);
    assert_int_equal(r.correct, 0);
    train_analogy_result_free(&r);
    /* restricted to w0..w19: w5 (0.6) is the answer */
    char *q2 = tu_write_tmp(dir, "q2.txt", ": s\nw0 w1 w2 w5\n");
    data_analogy_free(qs);
    assert_int_equal(data_analogy_read(&qs, q2), 0);
    assert_int_equal(train_eval_analogy(v, qs, 20, &r), 0);
    assert_int_equal(r.correct, 1);
    train_analogy_result_free(&r);
    data_analogy_free(qs);
    train_vectors_free(v);
    free(q), free(q2);
    tu_rmtree(dir);
    free(dir);
}

static void test_spearman_ties(void **state) {
    (void)state;
    /* reference: scipy.stats.spearmanr / pearsonr / rankdata (scipy 1.10) */
    const double x[] = {1, 2, 2, 3, 4, 4, 4, 7}, y[] = {0.5, 0.1, 0.3, 0.3, 0.9, 0.2, 0.2, 1.0};
    const double rx_ref[] = {1, 2.5, 2.5, 4, 6, 6, 6, 8}, ry_ref[] = {6, 1, 4.5, 4.5, 7, 2.5, 2.5, 8};
    double rx[8], ry[8];
    train_average_ranks(x, 8, rx);
    train_average_ranks(y, 8, ry);
    for (int i = 0; i < 8; i++) {
        assert_float_equal(rx[i], rx_ref[i], 0);
        assert_float_equal(ry[i], ry_ref[i], 0);
    }
    assert_float_equal(train_spearman(x, y, 8), 0.29197615858887543, 1e-12);
    assert_float_equal(train_pearson(x, y, 8), 0.592520298228173, 1e-12);
    /* by hand: perfectly monotone → 1, reversed → −1, constant → NaN, n < 2 → NaN */
    const double a[] = {1, 2, 3, 4}, b[] = {10, 20, 30, 400}, c[] = {5, 4, 3, 2}, k[] = {1, 1, 1, 1};
    assert_float_equal(train_spearman(a, b, 4), 1.0, 1e-12);
    assert_float_equal(train_spearman(a, c, 4), -1.0, 1e-12);
    assert_true(isnan(train_spearman(a, k, 4)));
    assert_true(isnan(train_spearman(a, b, 1)));
}

static void test_wordsim_oov(void **state) {
    (void)state;
    char *dir = tu_tempdir();
    char *f = tu_write_tmp(dir, "ws.txt",
                           "man\twoman\t5\n"       /* cos 0.5 */
                           "king\tqueen\t6\n"      /* 0.5 */
                           "KING\tman\t7\n"        /* 0.5 (folded) */
                           "man\tparis\t1\n"       /* 0 */
                           "france\titaly\t4\n"    /* 0.5 */
                           "man\tunicorn\t9\n"     /* OOV */
                           "madrid\tspain\t8\n");  /* 0.5, OOV under restriction 13 */
    data_wordsim_set *s;
    assert_int_equal(data_wordsim_read(&s, f), 0);
    train_vectors *v = make_vectors();
    train_wordsim_result r;
    assert_int_equal(train_eval_wordsim(v, s, 0, &r), 0);
    assert_int_equal(r.pairs, 7);
    assert_int_equal(r.used, 6);
    assert_int_equal(r.oov, 1);
    /* gold 5 6 7 1 4 8, cos .5 .5 .5 0 .5 .5: ranks gold 3 4 5 1 2 6, cos 4 4 4 1 4 4 */
    const double g[] = {5, 6, 7, 1, 4, 8}, c[] = {.5, .5, .5, 0, .5, .5};
    assert_float_equal(r.spearman, train_spearman(g, c, 6), 1e-9);
    assert_float_equal(r.spearman, 0.6546536707079771, 1e-6); /* scipy.stats.spearmanr */
    assert_int_equal(train_eval_wordsim(v, s, 13, &r), 0);
    assert_int_equal(r.used, 5);
    assert_int_equal(r.oov, 2);
    data_wordsim_free(s);
    train_vectors_free(v);
    free(f);
    tu_rmtree(dir);
    free(dir);
}

static void test_nearest(void **state) {
    (void)state;
    train_vectors *v = make_vectors();
    train_neighbor nb[20];
    int k = train_similar(v, "king", 3, nb);
    assert_int_equal(k, 3);
    /* king = royal+male: queen (royal), man, boy (male) all at 0.5; ties keep vocabulary order */
    assert_string_equal(v->words[nb[0].id], "man");
    assert_float_equal(nb[0].cosine, 0.5f, 1e-6);
    for (int i = 0; i < k; i++) assert_true(nb[i].id != 3);
    k = train_similar(v, "king", 20, nb);
    assert_int_equal(k, NW - 1);
    for (int i = 1; i < k; i++) assert_true(nb[i - 1].cosine >= nb[i].cosine);
    k = train_analogy_query(v, "king", "man", "woman", 3, nb);
    assert_int_equal(k, 3);
    assert_string_equal(v->words[nb[0].id], "queen");
    assert_float_equal(nb[0].cosine, 1.0f, 1e-6);
    assert_int_equal(train_similar(v, "unicorn", 3, nb), -1);
    assert_non_null(strstr(base_error_msg(), "unicorn"));
    train_vectors_free(v);
}

/* Loading: word2vec text and binary through export.h, and errors. */
static void test_load(void **state) {
    (void)state;
    char *dir = tu_tempdir();
    char path[4096];
    const char *w[] = {"</s>", "cat", "dog"};
    const float vec[] = {0.1f, 0.2f, 1, 0, 0.8f, 0.6f};
    for (int bin = 0; bin < 2; bin++) {
        snprintf(path, sizeof path, "%s/v%d.txt", dir, bin);
        assert_int_equal(ckpt_export_word2vec(path, w, vec, 3, 2, bin), 0);
        train_vectors *v;
        if (train_vectors_load(&v, path, NULL)) fail_msg("%s", base_error_msg());
        assert_int_equal(v->n, 3);
        assert_int_equal(v->dim, 2);
        assert_string_equal(v->words[2], "dog");
        assert_float_equal(v->vec[4], 0.8f, 1e-6);
        train_neighbor nb[2];
        assert_int_equal(train_similar(v, "cat", 1, nb), 1);
        assert_string_equal(v->words[nb[0].id], "dog");
        assert_float_equal(nb[0].cosine, 0.8f, 1e-6);
        train_vectors_free(v);
    }
    train_vectors *v;
    snprintf(path, sizeof path, "%s/missing.txt", dir);
    assert_int_equal(train_vectors_load(&v, path, NULL), -1);
    assert_non_null(strstr(base_error_msg(), "missing.txt"));
    char *bad = tu_write_tmp(dir, "bad.txt", "2 3\ncat 1 2 3\ndog 1 x 3\n");
    assert_int_equal(train_vectors_load(&v, bad, NULL), -1);
    assert_non_null(strstr(base_error_msg(), "bad.txt"));
    free(bad);
    tu_rmtree(dir);
    free(dir);
}

/* Speed: the 19,544 Google questions against 30,000 × 100 vectors (random vectors, with every
 * question word placed in the vocabulary) in about a second (release build, 2 cores). */
static void test_analogy_speed(void **state) {
    (void)state;
    const char *p = tu_data_path("analogy/questions-words.txt");
    if (!p) skip();
    data_analogy_set *qs;
    assert_int_equal(data_analogy_read(&qs, p), 0);
    const int64_t n = 30000, d = 100;
    char **words = malloc((size_t)n * sizeof(char *));
    int64_t m = 0;
    /* distinct question words first (folded lookup makes the case irrelevant), fillers after */
    for (int64_t i = 0; i < 4 * qs->n; i++) {
        bool dup = false;
        for (int64_t j = m - 1; j >= 0 && j >= m - 64 && !dup; j--) dup = !strcmp(words[j], qs->words[i]);
        if (!dup && m < n) words[m++] = qs->words[i];
    }
    char (*fill)[24] = malloc((size_t)n * 24);
    for (int64_t i = m; i < n; i++) {
        snprintf(fill[i], 24, "w%lld", (long long)i);
        words[i] = fill[i];
    }
    ag_tensor *t = ag_tensor_alloc(AG_F32, 2, (int64_t[]){n, d});
    tu_fill_uniform(t, 7, -1, 1);
    train_vectors *v = train_vectors_from(n, d, words, (const float *)t->data);
    ag_tensor_free(t);
    train_analogy_result r;
    clock_t c0 = clock(); /* CPU time of all threads: the machine may be shared */
    assert_int_equal(train_eval_analogy(v, qs, 30000, &r), 0);
    double cpu = (double)(clock() - c0) / CLOCKS_PER_SEC;
    printf("analogy search: %lld/%lld questions seen, %lld right (random vectors), %.3f s wall, %.3f s CPU\n",
           (long long)r.seen, (long long)r.total, (long long)r.correct, r.seconds, cpu);
    assert_int_equal(r.seen, r.total);
    assert_true(r.correct < r.seen / 100); /* random vectors answer almost nothing */
    assert_true(r.seconds < 30);           /* generous: ASan builds and a shared machine */
    train_analogy_result_free(&r);
    train_vectors_free(v);
    data_analogy_free(qs);
    free(words);
    free(fill);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookup),        cmocka_unit_test(test_analogy_known),
        cmocka_unit_test(test_analogy_excludes_query), cmocka_unit_test(test_analogy_ties),
        cmocka_unit_test(test_spearman_ties),
        cmocka_unit_test(test_wordsim_oov),   cmocka_unit_test(test_nearest),
        cmocka_unit_test(test_load),          cmocka_unit_test(test_analogy_speed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
