/* pca.h — principal component projection of a small point set (for t-SNE's init and 2-D pictures). */
#ifndef EMBER_EXPERIMENTS_PCA_H
#define EMBER_EXPERIMENTS_PCA_H

#include <stdint.h>

/* Centres x[n, d] and projects it onto its top-k principal directions: out[n, k] (row-major).
 * Directions come from subspace iteration on the d×d covariance (deterministic for a given seed);
 * each direction's sign is fixed so that its largest-magnitude coefficient is positive. If
 * var != NULL, var[k] receives the variance along each direction. Requires n >= 1, 1 <= k <= d. */
void exp_pca(const float *x, int64_t n, int64_t d, int k, float *out, double *var, uint64_t seed);

#endif
