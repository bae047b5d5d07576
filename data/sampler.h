/* sampler.h — word2vec's samplers: frequent-word subsampling, negatives from count^0.75 (alias
 * method, O(vocab) memory), and the dynamic window.
 */
#ifndef EMBER_DATA_SAMPLER_H
#define EMBER_DATA_SAMPLER_H

#include <stdint.h>

/* word2vec.c's keep probability for a word of count c among `total` words with threshold t:
 *     keep = (√(c / (t·total)) + 1) · (t·total) / c      (≥ 1 means always kept)
 * t <= 0 disables subsampling (returns 1). */
double data_subsample_keep(int64_t count, int64_t total, double t);

/* Walker's alias table over weights count^power. prob in [0,1] scaled to 2^32 for a branch-free
 * draw; memory 8 bytes per word. Every word with count > 0 is reachable. A column's threshold and
 * alias sit side by side: a draw touches one cache line, not two (the table of a 100k-word
 * vocabulary is larger than L1 and draws land anywhere in it). */
typedef struct data_alias_cell {
    uint32_t prob;  /* threshold in 2^32 units: keep the column if the low 32 bits < prob */
    int32_t alias;  /* the column's other word */
} data_alias_cell;
typedef struct data_alias {
    int64_t n;
    data_alias_cell *cell; /* [n] */
} data_alias;

/* Builds the table; returns -1 with an error if n == 0 or all weights are 0. */
int data_alias_init(data_alias *a, const int64_t *counts, int64_t n, double power);
void data_alias_free(data_alias *a);

/* One draw from 64 random bits (high bits pick the column, low 32 bits the coin). */
static inline int32_t data_alias_draw(const data_alias *a, uint64_t bits) {
    int64_t i = (int64_t)(((bits >> 32) * (uint64_t)a->n) >> 32);
    const data_alias_cell c = a->cell[i];
    return ((uint32_t)bits < c.prob) ? (int32_t)i : c.alias;
}

/* Exact probability of drawing i (for tests): (prob_i + Σ_{j: alias_j=i} (2^32 - prob_j)) / (n·2^32). */
double data_alias_prob(const data_alias *a, int64_t i);

/* word2vec.c's dynamic window: the effective radius is uniform in 1..window. */
static inline int data_window_radius(int window, uint64_t bits) { return 1 + (int)(bits % (uint64_t)window); }

#endif
