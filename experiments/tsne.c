/* tsne.c — exact O(n²) t-SNE with PCA initialisation, early exaggeration, momentum and gains (see tsne.h). */
#include "experiments/tsne.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ag.h"
#include "experiments/pca.h"

void exp_tsne_options_default(exp_tsne_options *o) {
    o->perplexity = 7;
    o->iters = 1000;
    o->learning_rate = 0;
    o->early_exaggeration = 12;
    o->exaggeration_iters = 250;
    o->seed = 1;
}

/* Row i of the conditional P_{j|i} = exp(-beta D_ij) / Σ, with beta found by bisection so that the
 * row's entropy is log(perplexity). D: [n, n] squared distances; p: [n] out. */
static void conditional_row(const double *D, int64_t n, int64_t i, double log_perp, double *p) {
    double beta = 1, lo = -INFINITY, hi = INFINITY;
    /* scale the start by the mean distance so bisection needs fewer steps */
    double mean = 0;
    for (int64_t j = 0; j < n; j++) mean += D[i * n + j];
    mean /= (double)(n - 1);
    if (mean > 0) beta = 1.0 / mean;
    for (int it = 0; it < 100; it++) {
        double dmin = INFINITY;
        for (int64_t j = 0; j < n; j++)
            if (j != i && D[i * n + j] < dmin) dmin = D[i * n + j];
        double sum = 0, sdp = 0;
        for (int64_t j = 0; j < n; j++) {
            p[j] = j == i ? 0 : exp(-beta * (D[i * n + j] - dmin)); /* shifted for stability */
            sum += p[j];
            sdp += p[j] * (D[i * n + j] - dmin);
        }
        double H = log(sum) + beta * sdp / sum; /* entropy of the normalised row */
        for (int64_t j = 0; j < n; j++) p[j] /= sum;
        double diff = H - log_perp;
        if (fabs(diff) < 1e-5) break;
        if (diff > 0) { /* too flat: sharpen */
            lo = beta;
            beta = isinf(hi) ? beta * 2 : 0.5 * (beta + hi);
        } else {
            hi = beta;
            beta = isinf(lo) ? beta / 2 : 0.5 * (beta + lo);
        }
    }
}

double exp_tsne(const float *x, int64_t n, int64_t d, const exp_tsne_options *opt, float *y) {
    if (n < 2) return base_error_set("t-SNE: expected at least 2 points, got %lld", (long long)n);
    exp_tsne_options o;
    if (opt) o = *opt;
    else exp_tsne_options_default(&o);
    double perp = o.perplexity;
    if (perp > (double)(n - 1) / 3) perp = (double)(n - 1) / 3;
    if (perp < 1) perp = 1;
    double lr = o.learning_rate > 0 ? o.learning_rate : fmax((double)n / o.early_exaggeration / 4, 50);
    size_t nn = (size_t)(n * n);
    double *D = base_xmalloc(nn * sizeof(double));  /* [n, n] squared input distances */
    double *P = base_xmalloc(nn * sizeof(double));  /* [n, n] joint affinities */
    double *Q = base_xmalloc(nn * sizeof(double));  /* [n, n] Student-t kernel 1/(1+|yi-yj|²) */
    double *Y = base_xmalloc((size_t)n * 2 * sizeof(double));      /* [n, 2] */
    double *G = base_xmalloc((size_t)n * 2 * sizeof(double));      /* [n, 2] gradient */
    double *U = base_xcalloc((size_t)n * 2, sizeof(double));       /* [n, 2] momentum */
    double *gains = base_xmalloc((size_t)n * 2 * sizeof(double));  /* [n, 2] */
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0;
            for (int64_t k = 0; k < d; k++) {
                double t = (double)x[i * d + k] - x[j * d + k];
                s += t * t;
            }
            D[i * n + j] = s;
        }
    for (int64_t i = 0; i < n; i++) conditional_row(D, n, i, log(perp), P + i * n);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = i + 1; j < n; j++) {
            double s = (P[i * n + j] + P[j * n + i]) / (2.0 * (double)n);
            P[i * n + j] = P[j * n + i] = fmax(s, 1e-12);
        }
    for (int64_t i = 0; i < n; i++) P[i * n + i] = 0;

    /* PCA init, first coordinate scaled to std 1e-4 */
    float *init = base_xmalloc((size_t)n * 2 * sizeof(float));
    if (d >= 2) {
        exp_pca(x, n, d, 2, init, NULL, o.seed);
    } else {
        for (int64_t i = 0; i < n; i++) init[2 * i] = x[i * d], init[2 * i + 1] = 0;
    }
    double m0 = 0, s0 = 0;
    for (int64_t i = 0; i < n; i++) m0 += init[2 * i];
    m0 /= (double)n;
    for (int64_t i = 0; i < n; i++) s0 += (init[2 * i] - m0) * (init[2 * i] - m0);
    s0 = sqrt(s0 / (double)n);
    double scale = s0 > 0 ? 1e-4 / s0 : 1;
    for (int64_t i = 0; i < 2 * n; i++) Y[i] = init[i] * scale;
    free(init);
    for (int64_t i = 0; i < 2 * n; i++) gains[i] = 1;

    double kl = 0;
    for (int it = 0; it < o.iters; it++) {
        bool early = it < o.exaggeration_iters;
        double exag = early ? o.early_exaggeration : 1, mom = early ? 0.5 : 0.8;
        double sumq = 0;
        for (int64_t i = 0; i < n; i++) {
            Q[i * n + i] = 0;
            for (int64_t j = i + 1; j < n; j++) {
                double dx = Y[2 * i] - Y[2 * j], dy = Y[2 * i + 1] - Y[2 * j + 1];
                double q = 1.0 / (1.0 + dx * dx + dy * dy);
                Q[i * n + j] = Q[j * n + i] = q;
                sumq += 2 * q;
            }
        }
        /* dC/dy_i = 4 Σ_j (exag·P_ij − q_ij/Σq) q_ij (y_i − y_j) */
        for (int64_t i = 0; i < n; i++) {
            double gx = 0, gy = 0;
            for (int64_t j = 0; j < n; j++) {
                if (j == i) continue;
                double q = Q[i * n + j];
                double m = (exag * P[i * n + j] - q / sumq) * q;
                gx += m * (Y[2 * i] - Y[2 * j]);
                gy += m * (Y[2 * i + 1] - Y[2 * j + 1]);
            }
            G[2 * i] = 4 * gx;
            G[2 * i + 1] = 4 * gy;
        }
        for (int64_t k = 0; k < 2 * n; k++) {
            bool same = (G[k] > 0) == (U[k] > 0);
            gains[k] = same ? gains[k] * 0.8 : gains[k] + 0.2;
            if (gains[k] < 0.01) gains[k] = 0.01;
            U[k] = mom * U[k] - lr * gains[k] * G[k];
            Y[k] += U[k];
        }
        double mx = 0, my = 0;
        for (int64_t i = 0; i < n; i++) mx += Y[2 * i], my += Y[2 * i + 1];
        mx /= (double)n;
        my /= (double)n;
        for (int64_t i = 0; i < n; i++) Y[2 * i] -= mx, Y[2 * i + 1] -= my;
        if (it == o.iters - 1) {
            kl = 0;
            for (int64_t i = 0; i < n; i++)
                for (int64_t j = 0; j < n; j++)
                    if (j != i && P[i * n + j] > 1e-12) kl += P[i * n + j] * log(P[i * n + j] / (Q[i * n + j] / sumq));
        }
    }
    for (int64_t i = 0; i < 2 * n; i++) y[i] = (float)Y[i];
    free(D);
    free(P);
    free(Q);
    free(Y);
    free(G);
    free(U);
    free(gains);
    return kl;
}
