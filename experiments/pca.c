/* pca.c — top-k principal components by subspace iteration on the covariance matrix (see pca.h). */
#include "experiments/pca.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ag.h"

/* Orthonormalises the k columns of V[d, k] (modified Gram-Schmidt). A column that vanishes (the
 * data have rank < k) is replaced by the next unit basis vector e_t not in the span so far; since
 * k <= d one always exists. */
static void orthonormalise(double *V, int64_t d, int k) {
    int64_t t = 0;
    for (int c = 0; c < k; c++) {
        for (;;) {
            double nrm0 = 0; /* before projection: "vanishing" is relative to it */
            for (int64_t i = 0; i < d; i++) nrm0 += V[i * k + c] * V[i * k + c];
            nrm0 = sqrt(nrm0);
            for (int p = 0; p < c; p++) {
                double dot = 0;
                for (int64_t i = 0; i < d; i++) dot += V[i * k + c] * V[i * k + p];
                for (int64_t i = 0; i < d; i++) V[i * k + c] -= dot * V[i * k + p];
            }
            double nrm = 0;
            for (int64_t i = 0; i < d; i++) nrm += V[i * k + c] * V[i * k + c];
            nrm = sqrt(nrm);
            if ((nrm0 > 0 && nrm > 1e-9 * nrm0) || t >= d) {
                for (int64_t i = 0; i < d; i++) V[i * k + c] /= nrm > 0 ? nrm : 1;
                break;
            }
            for (int64_t i = 0; i < d; i++) V[i * k + c] = (i == t) ? 1.0 : 0.0;
            t++;
        }
    }
}

void exp_pca(const float *x, int64_t n, int64_t d, int k, float *out, double *var, uint64_t seed) {
    AG_CHECK(n >= 1 && k >= 1 && k <= d, "exp_pca", "n=%lld d=%lld k=%d", (long long)n, (long long)d, k);
    double *mean = base_xcalloc((size_t)d, sizeof(double));          /* [d] */
    double *C = base_xcalloc((size_t)(d * d), sizeof(double));        /* [d, d] covariance */
    double *V = base_xmalloc((size_t)(d * k) * sizeof(double));       /* [d, k] directions */
    double *W = base_xmalloc((size_t)(d * k) * sizeof(double));       /* [d, k] C·V */
    for (int64_t r = 0; r < n; r++)
        for (int64_t i = 0; i < d; i++) mean[i] += x[r * d + i];
    for (int64_t i = 0; i < d; i++) mean[i] /= (double)n;
    for (int64_t r = 0; r < n; r++)
        for (int64_t i = 0; i < d; i++) {
            double xi = x[r * d + i] - mean[i];
            for (int64_t j = 0; j < d; j++) C[i * d + j] += xi * (x[r * d + j] - mean[j]);
        }
    for (int64_t i = 0; i < d * d; i++) C[i] /= (double)(n > 1 ? n - 1 : 1);
    base_rng rng;
    base_rng_seed(&rng, seed);
    for (int64_t i = 0; i < d * k; i++) V[i] = base_rng_normal(&rng);
    orthonormalise(V, d, k);
    for (int it = 0; it < 300; it++) {
        for (int64_t i = 0; i < d; i++)
            for (int c = 0; c < k; c++) {
                double s = 0;
                for (int64_t j = 0; j < d; j++) s += C[i * d + j] * V[j * k + c];
                W[i * k + c] = s;
            }
        double change = 0;
        orthonormalise(W, d, k);
        for (int64_t i = 0; i < d * k; i++) change += fabs(fabs(W[i]) - fabs(V[i]));
        memcpy(V, W, (size_t)(d * k) * sizeof(double));
        if (change < 1e-12 * (double)(d * k)) break;
    }
    /* Rayleigh quotients give the variances; sort directions by them (subspace iteration may
     * leave near-equal ones swapped), fix signs. */
    double *lam = base_xmalloc((size_t)k * sizeof(double));
    for (int c = 0; c < k; c++) {
        double s = 0;
        for (int64_t i = 0; i < d; i++) {
            double ci = 0;
            for (int64_t j = 0; j < d; j++) ci += C[i * d + j] * V[j * k + c];
            s += V[i * k + c] * ci;
        }
        lam[c] = s;
    }
    for (int a = 0; a < k; a++)
        for (int b = a + 1; b < k; b++)
            if (lam[b] > lam[a]) {
                double t = lam[a];
                lam[a] = lam[b];
                lam[b] = t;
                for (int64_t i = 0; i < d; i++) {
                    t = V[i * k + a];
                    V[i * k + a] = V[i * k + b];
                    V[i * k + b] = t;
                }
            }
    for (int c = 0; c < k; c++) {
        int64_t arg = 0;
        for (int64_t i = 1; i < d; i++)
            if (fabs(V[i * k + c]) > fabs(V[arg * k + c])) arg = i;
        if (V[arg * k + c] < 0)
            for (int64_t i = 0; i < d; i++) V[i * k + c] = -V[i * k + c];
        if (var) var[c] = lam[c];
    }
    for (int64_t r = 0; r < n; r++)
        for (int c = 0; c < k; c++) {
            double s = 0;
            for (int64_t i = 0; i < d; i++) s += (x[r * d + i] - mean[i]) * V[i * k + c];
            out[r * k + c] = (float)s;
        }
    free(mean);
    free(C);
    free(V);
    free(W);
    free(lam);
}
