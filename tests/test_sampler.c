/* test_sampler.c — subsampling keep probabilities vs numpy, the alias table's exactness and draws, the window. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/sampler.h"
#include "support/test_util.h"

/* keep() against tests/fixtures/sampler_keep.txt (numpy, word2vec.c's formula). */
static void test_subsample_matches_numpy(void **state) {
    (void)state;
    tu_fixture *fx = tu_fixture_load("tests/fixtures/sampler_keep.txt");
    int64_t shape[AG_MAX_DIMS];
    tu_fixture_get(fx, "keep", NULL, shape);
    const float *cnt = tu_fixture_get(fx, "count", NULL, NULL);
    const float *tot = tu_fixture_get(fx, "total", NULL, NULL);
    const float *t = tu_fixture_get(fx, "t", NULL, NULL);
    const float *keep = tu_fixture_get(fx, "keep", NULL, NULL);
    assert_true(shape[0] >= 100);
    double worst = 0;
    for (int64_t i = 0; i < shape[0]; i++) {
        double k = data_subsample_keep((int64_t)cnt[i], (int64_t)tot[i], (double)t[i]);
        double rel = fabs(k - keep[i]) / fabs((double)keep[i]);
        if (rel > worst) worst = rel;
        if (rel > 1e-6)
            fail_msg("keep(count=%.0f, total=%.0f, t=%g) = %.9g, numpy %.9g", cnt[i], tot[i], t[i], k, keep[i]);
    }
    printf("subsample keep: %lld values, worst relative error %.2e\n", (long long)shape[0], worst);
    tu_fixture_free(fx);
    /* Disabled or degenerate inputs keep everything. */
    assert_true(data_subsample_keep(1000, 100000, 0) == 1.0);
    assert_true(data_subsample_keep(0, 100000, 1e-3) == 1.0);
    /* A rare word's keep is >= 1 (always kept); a very frequent one's is small. */
    assert_true(data_subsample_keep(1, 17270346, 1e-4) > 1.0);
    assert_true(data_subsample_keep(1061396, 17270346, 1e-4) < 0.05);
}

/* Exact probabilities: data_alias_prob equals count^0.75 / Σ to ~1e-9, zero counts are unreachable. */
static void test_alias_exact(void **state) {
    (void)state;
    int64_t counts[] = {0, 1000, 500, 500, 30, 7, 1, 1, 0, 2};
    int64_t n = 10;
    data_alias a;
    assert_int_equal(data_alias_init(&a, counts, n, 0.75), 0);
    double Z = 0, sum = 0;
    for (int64_t i = 0; i < n; i++) Z += pow((double)counts[i], 0.75) * (counts[i] > 0);
    for (int64_t i = 0; i < n; i++) {
        double want = counts[i] > 0 ? pow((double)counts[i], 0.75) / Z : 0.0;
        double got = data_alias_prob(&a, i);
        sum += got;
        assert_true(fabs(got - want) < 1e-9);
        if (counts[i] == 0) {
            assert_true(got == 0.0);
            assert_int_equal(a.cell[i].prob, 0);
            for (int64_t j = 0; j < n; j++) assert_true(a.cell[j].alias != i);
        }
    }
    assert_true(fabs(sum - 1.0) < 1e-12);
    data_alias_free(&a);

    /* power 1 over equal counts is uniform; a single word always comes back. */
    /* A count-1 word at the end of a vocabulary dominated by one huge count is still reachable. */
    int64_t skew[1000];
    skew[0] = (int64_t)1 << 40;
    for (int i = 1; i < 1000; i++) skew[i] = 1;
    assert_int_equal(data_alias_init(&a, skew, 1000, 0.75), 0);
    assert_true(data_alias_prob(&a, 999) > 0);
    assert_true(a.cell[999].prob > 0);
    assert_int_equal(data_alias_draw(&a, 0xFFFFFFFFull << 32), 999);
    data_alias_free(&a);

    int64_t one[] = {5};
    assert_int_equal(data_alias_init(&a, one, 1, 0.75), 0);
    for (uint64_t b = 0; b < 1000; b++) assert_int_equal(data_alias_draw(&a, b * 0x9E3779B97F4A7C15ull), 0);
    assert_true(fabs(data_alias_prob(&a, 0) - 1.0) < 1e-15);
    data_alias_free(&a);
}

/* 10^7 draws over a Zipf vocabulary of 30,000 words: chi-square over the 1,000 most frequent words
 * plus the tail lumped together, max relative deviation of the 20 most frequent, and the last word. */
static void test_alias_draws(void **state) {
    (void)state;
    const int64_t n = 30000;
    int64_t *counts = malloc((size_t)n * sizeof *counts);
    for (int64_t i = 0; i < n; i++) counts[i] = (int64_t)(5e6 / (double)(i + 1)) + 1; /* Zipf, last = 167 */
    data_alias a;
    assert_int_equal(data_alias_init(&a, counts, n, 0.75), 0);
    double Z = 0;
    for (int64_t i = 0; i < n; i++) Z += pow((double)counts[i], 0.75);
    double *p = malloc((size_t)n * sizeof *p);
    for (int64_t i = 0; i < n; i++) p[i] = pow((double)counts[i], 0.75) / Z;
    /* The table's exact probabilities match the target (integer rounding only). */
    double worst_exact = 0;
    {
        const double T = 4294967296.0;
        double *m = calloc((size_t)n, sizeof *m);
        for (int64_t j = 0; j < n; j++) {
            m[j] += a.cell[j].prob;
            m[a.cell[j].alias] += T - (double)a.cell[j].prob;
        }
        for (int64_t i = 0; i < n; i++) {
            double rel = fabs(m[i] / ((double)n * T) - p[i]) / p[i];
            if (rel > worst_exact) worst_exact = rel;
        }
        free(m);
    }
    assert_true(worst_exact < 1e-6);
    assert_true(data_alias_prob(&a, n - 1) > 0);
    /* The top of the column range lands on the last column, whose own coin keeps it. */
    assert_int_equal(data_alias_draw(&a, 0xFFFFFFFFull << 32), n - 1);
    assert_true(fabs(data_alias_prob(&a, n - 1) - p[n - 1]) / p[n - 1] < 1e-6);

    const int64_t draws = 10000000;
    int64_t *hits = calloc((size_t)n, sizeof *hits);
    base_rng r;
    base_rng_seed(&r, 1234);
    for (int64_t k = 0; k < draws; k++) hits[data_alias_draw(&a, base_rng_next(&r))]++;
    const int K = 1000;
    double chi2 = 0, tail_p = 0;
    int64_t tail_hits = 0;
    for (int64_t i = 0; i < n; i++) {
        if (i < K) {
            double e = p[i] * (double)draws;
            chi2 += ((double)hits[i] - e) * ((double)hits[i] - e) / e;
        } else {
            tail_p += p[i];
            tail_hits += hits[i];
        }
    }
    double et = tail_p * (double)draws;
    chi2 += ((double)tail_hits - et) * ((double)tail_hits - et) / et;
    /* K degrees of freedom: mean 1000, sd ~ 44.7; 1000 + 6 sd ~ 1270 fails only for a real bias. */
    /* Per-word check on the 20 most frequent: |hits - e| in binomial standard deviations. */
    double worst_dev = 0, worst_z = 0;
    for (int64_t i = 0; i < 20; i++) {
        double e = p[i] * (double)draws;
        double dev = fabs((double)hits[i] - e) / e, z = fabs((double)hits[i] - e) / sqrt(e * (1 - p[i]));
        if (dev > worst_dev) worst_dev = dev;
        if (z > worst_z) worst_z = z;
    }
    /* The last word has p ~ 8e-6: about 80 expected hits in 10^7 draws; 0 hits has probability e^-24. */
    printf("alias: chi2 = %.1f over %d dof, worst rel dev (top 20) = %.4f (%.1f sd), last word: %lld hits (expected %.1f)\n",
           chi2, K, worst_dev, worst_z, (long long)hits[n - 1], p[n - 1] * (double)draws);
    assert_true(chi2 < 1270);
    assert_true(worst_z < 5.0);
    assert_true(worst_dev < 0.03);
    assert_true(hits[n - 1] > 0);
    free(hits);
    free(p);
    free(counts);
    data_alias_free(&a);
}

static void test_alias_errors(void **state) {
    (void)state;
    data_alias a;
    int64_t zeros[] = {0, 0, 0};
    assert_int_equal(data_alias_init(&a, zeros, 3, 0.75), -1);
    assert_non_null(strstr(base_error_msg(), "count > 0"));
    assert_int_equal(data_alias_init(&a, zeros, 0, 0.75), -1);
    assert_non_null(strstr(base_error_msg(), "empty vocabulary"));
    data_alias_free(&a); /* freeing a failed table is safe */
}

static void test_window_radius(void **state) {
    (void)state;
    int hist[6] = {0};
    base_rng r;
    base_rng_seed(&r, 7);
    for (int i = 0; i < 50000; i++) {
        int b = data_window_radius(5, base_rng_next(&r));
        assert_in_range(b, 1, 5);
        hist[b]++;
    }
    for (int b = 1; b <= 5; b++) assert_in_range(hist[b], 9400, 10600);
    assert_int_equal(data_window_radius(1, 12345), 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_subsample_matches_numpy), cmocka_unit_test(test_alias_exact),
        cmocka_unit_test(test_alias_draws),             cmocka_unit_test(test_alias_errors),
        cmocka_unit_test(test_window_radius),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
