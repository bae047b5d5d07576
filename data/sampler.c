/* sampler.c — subsampling keep probability and an exact integer alias table for negative sampling. */
#include "sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../base/base.h"

double data_subsample_keep(int64_t count, int64_t total, double t) {
    if (t <= 0 || count <= 0 || total <= 0) return 1.0;
    double tt = t * (double)total;
    return (sqrt((double)count / tt) + 1.0) * tt / (double)count;
}

/* Vose's alias method in integers. Column mass is T = 2^32; the weights are scaled to integers q[i]
 * summing to exactly n·T (every positive weight gets at least 1), so the table is exact: the
 * probability of i is (prob[i] + Σ_{alias[j]=i} (T - prob[j])) / (n·T) with no float residue.
 * A column that needs no alias (q == T) points to itself with prob T-1, which is still exact. */
int data_alias_init(data_alias *a, const int64_t *counts, int64_t n, double power) {
    memset(a, 0, sizeof *a);
    if (n <= 0) return base_error_set("alias sampler: expected at least one word, got an empty vocabulary");
    BASE_CHECK(n < ((int64_t)1 << 31), "data_alias_init", "%lld words exceed the 2^31 table limit", (long long)n);
    const uint64_t T = (uint64_t)1 << 32;
    double W = 0;
    int64_t best = -1;
    for (int64_t i = 0; i < n; i++) {
        if (counts[i] > 0) {
            W += pow((double)counts[i], power);
            if (best < 0 || counts[i] > counts[best]) best = i;
        }
    }
    if (best < 0 || !(W > 0) || !isfinite(W))
        return base_error_set("alias sampler: expected some word with a count > 0, got all zero over %lld words",
                            (long long)n);
    uint64_t *q = malloc((size_t)n * sizeof *q);     /* [n] integer mass, then residual mass */
    int32_t *small = malloc((size_t)n * sizeof *small); /* [n] stack of columns with q < T */
    int32_t *large = malloc((size_t)n * sizeof *large); /* [n] stack of columns with q >= T */
    a->cell = malloc((size_t)n * sizeof *a->cell);
    if (!q || !small || !large || !a->cell) { /* n is the user's vocabulary: not an abort */
        free(q);
        free(small);
        free(large);
        free(a->cell);
        a->cell = NULL;
        return base_error_set("alias sampler: out of memory for the negative-sampling table of %lld words (%.1f MB)",
                              (long long)n, (double)n * (sizeof *q + 2 * sizeof *small + sizeof *a->cell) / 1e6);
    }
    const long double scale = (long double)n * (long double)T / (long double)W;
    uint64_t sum = 0;
    for (int64_t i = 0; i < n; i++) {
        uint64_t qi = 0;
        if (counts[i] > 0) {
            qi = (uint64_t)(powl((long double)counts[i], (long double)power) * scale + 0.5L);
            if (qi == 0) qi = 1; /* every word with a count is reachable */
        }
        q[i] = qi;
        sum += qi;
    }
    /* Put the rounding difference on the heaviest word (relative change < n / (n·T)). */
    const uint64_t want = (uint64_t)n * T;
    if (sum > want) {
        BASE_CHECK(q[best] > sum - want, "data_alias_init", "rounding exceeds the heaviest weight");
        q[best] -= sum - want;
    } else {
        q[best] += want - sum;
    }
    int64_t ns = 0, nl = 0;
    for (int64_t i = n - 1; i >= 0; i--) {
        if (q[i] < T) small[ns++] = (int32_t)i;
        else large[nl++] = (int32_t)i;
    }
    while (ns > 0 && nl > 0) {
        int32_t s = small[--ns], l = large[nl - 1];
        a->cell[s].prob = (uint32_t)q[s];
        a->cell[s].alias = l;
        q[l] -= T - q[s];
        if (q[l] < T) {
            nl--;
            small[ns++] = l;
        }
    }
    /* With exact integer sums the small stack empties first, and every large column has q == T. */
    BASE_CHECK(ns == 0, "data_alias_init", "alias table left %lld columns unfilled", (long long)ns);
    while (nl > 0) {
        int32_t l = large[--nl];
        BASE_CHECK(q[l] == T, "data_alias_init", "column %d has mass %llu, expected 2^32", l, (unsigned long long)q[l]);
        a->cell[l].prob = (uint32_t)(T - 1);
        a->cell[l].alias = l;
    }
    a->n = n;
    free(q);
    free(small);
    free(large);
    return 0;
}

void data_alias_free(data_alias *a) {
    free(a->cell);
    memset(a, 0, sizeof *a);
}

double data_alias_prob(const data_alias *a, int64_t i) {
    const double T = 4294967296.0;
    double m = a->cell[i].prob;
    for (int64_t j = 0; j < a->n; j++)
        if (a->cell[j].alias == i) m += T - (double)a->cell[j].prob;
    return m / ((double)a->n * T);
}
