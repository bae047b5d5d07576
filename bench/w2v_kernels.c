/* w2v_kernels.c — word2vec's per-window block products at their real sizes: cblas_sgemm against
 * hand-written vectorisable loops (the loops ops_w2v.c uses), and the whole fused op per window.
 *
 * One window = C input rows (2·radius contexts, 1..10) × M output rows (target + K = 5 negatives),
 * D = 100: scores S = X·Yᵀ [C, M], then dX = G·Y [C, D] and dY = Gᵀ·X [M, D].
 * Usage: bench_w2v_kernels [reps [hand2]]  (ns per window for each C; ratio = sgemm time / hand
 * time, so < 1 means sgemm is faster; hand2 = 1 (default) uses register-blocked backward loops,
 * 0 the axpy chains of ops_w2v.c)
 */
#include "autograd/ag.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef float v8f __attribute__((vector_size(32)));
static inline v8f ld8(const float *p) {
    v8f v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline float hsum8(v8f v) { return ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7])); }

/* y += a · x over D floats (as in ops_w2v.c). */
static inline void axpyf(float *restrict y, float a, const float *restrict x, int64_t D) {
#pragma omp simd
    for (int64_t d = 0; d < D; d++) y[d] += a * x[d];
}

/* S[j] = x · y[j] for j in [0, M - M % 4), four output rows per pass; returns the first j not done. */
static inline int scores4(const float *x, const float *const *y, int M, int D, float *S) {
    int j = 0;
    for (; j + 4 <= M; j += 4) {
        v8f a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
        int d = 0;
        for (; d + 8 <= D; d += 8) {
            v8f xv = ld8(x + d);
            a0 += xv * ld8(y[j] + d);
            a1 += xv * ld8(y[j + 1] + d);
            a2 += xv * ld8(y[j + 2] + d);
            a3 += xv * ld8(y[j + 3] + d);
        }
        float t0 = hsum8(a0), t1 = hsum8(a1), t2 = hsum8(a2), t3 = hsum8(a3);
        for (; d < D; d++) {
            t0 += x[d] * y[j][d];
            t1 += x[d] * y[j + 1][d];
            t2 += x[d] * y[j + 2][d];
            t3 += x[d] * y[j + 3][d];
        }
        S[j] = t0, S[j + 1] = t1, S[j + 2] = t2, S[j + 3] = t3;
    }
    return j;
}

/* The hand loops: S = X·Yᵀ (four output rows per pass), dX = G·Y, dY = Gᵀ·X, all on row pointers
 * straight into the tables (no gather copies). */
static void hand(const float *const *x, const float *const *y, int C, int M, int D, float *S, float *G, float *dX,
                 float *dY) {
    for (int c = 0; c < C; c++) {
        int j = scores4(x[c], y, M, D, S + c * M);
        for (; j < M; j++) {
            float t = 0;
#pragma omp simd reduction(+ : t)
            for (int d = 0; d < D; d++) t += x[c][d] * y[j][d];
            S[c * M + j] = t;
        }
    }
    for (int i = 0; i < C * M; i++) G[i] = S[i] * 0.25f - 0.5f; /* stand-in for σ(s) − label */
    for (int c = 0; c < C; c++) {
        float *r = dX + c * D;
        memset(r, 0, (size_t)D * sizeof(float));
        for (int j = 0; j < M; j++) axpyf(r, G[c * M + j], y[j], D);
    }
    for (int j = 0; j < M; j++) {
        float *r = dY + j * D;
        memset(r, 0, (size_t)D * sizeof(float));
        for (int c = 0; c < C; c++) axpyf(r, G[c * M + j], x[c], D);
    }
}

/* out [D] = Σ_k w[k] · rows[k] (K rows): d outer in 8-float registers, k inner, one store per
 * chunk (no read-modify-write of out per row as in a chain of axpys). */
static inline void combine_rows(float *restrict out, const float *w, int wstride, const float *const *rows, int K,
                                int D) {
    int d = 0;
    for (; d + 8 <= D; d += 8) {
        v8f acc = {0};
        for (int k = 0; k < K; k++) acc += w[k * wstride] * ld8(rows[k] + d);
        memcpy(out + d, &acc, sizeof acc);
    }
    for (; d < D; d++) {
        float t = 0;
        for (int k = 0; k < K; k++) t += w[k * wstride] * rows[k][d];
        out[d] = t;
    }
}

/* hand2: the forward as in hand(); the backward with combine_rows. */
static void hand2(const float *const *x, const float *const *y, int C, int M, int D, float *S, float *G, float *dX,
                  float *dY) {
    for (int c = 0; c < C; c++) {
        int j = scores4(x[c], y, M, D, S + c * M);
        for (; j < M; j++) {
            v8f a0 = {0};
            int d = 0;
            for (; d + 8 <= D; d += 8) a0 += ld8(x[c] + d) * ld8(y[j] + d);
            float t = hsum8(a0);
            for (; d < D; d++) t += x[c][d] * y[j][d];
            S[c * M + j] = t;
        }
    }
    for (int i = 0; i < C * M; i++) G[i] = S[i] * 0.25f - 0.5f;
    for (int c = 0; c < C; c++) combine_rows(dX + c * D, G + c * M, 1, y, M, D);
    for (int j = 0; j < M; j++) combine_rows(dY + j * D, G + j, M, x, C, D);
}

/* The same with sgemm: gather rows into contiguous X [C, D], Y [M, D], then three BLAS calls. */
static void blas(const float *const *x, const float *const *y, int C, int M, int D, float *X, float *Y, float *S,
                 float *G, float *dX, float *dY) {
    for (int c = 0; c < C; c++) memcpy(X + c * D, x[c], (size_t)D * sizeof(float));
    for (int j = 0; j < M; j++) memcpy(Y + j * D, y[j], (size_t)D * sizeof(float));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, C, M, D, 1.0f, X, D, Y, D, 0.0f, S, M);
    for (int i = 0; i < C * M; i++) G[i] = S[i] * 0.25f - 0.5f;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, C, D, M, 1.0f, G, M, Y, D, 0.0f, dX, D);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, M, D, C, 1.0f, G, M, X, D, 0.0f, dY, D);
}

int main(int argc, char **argv) {
    long reps = argc > 1 ? atol(argv[1]) : 200000;
    int use_hand2 = argc > 2 ? atoi(argv[2]) : 1;
    openblas_set_num_threads(1); /* word2vec workers would call BLAS from their own threads */
    const int D = 100, M = 6;
    /* 1,000 rows (400 KB, cache-resident: the kernels' arithmetic, as in training where the
     * window's rows are hot and the negatives are prefetched) and 100,000 rows (40 MB: every row
     * a DRAM miss) */
    const int Vs[2] = {1000, 100000};
    for (int vi = 0; vi < 2; vi++) {
    const int V = Vs[vi];

    float *W0 = base_xaligned((size_t)V * D * sizeof(float)), *W1 = base_xaligned((size_t)V * D * sizeof(float));
    base_rng r;
    base_rng_seed(&r, 1);
    for (long i = 0; i < (long)V * D; i++) {
        W0[i] = base_rng_uniform(&r) - 0.5f;
        W1[i] = base_rng_uniform(&r) - 0.5f;
    }
    float X[10 * 100], Y[6 * 100], S[60], G[60], dX[1000], dY[600], S2[60], G2[60], dX2[1000], dY2[600];
    printf("word2vec window kernels, D=%d, M=%d (target + 5 negatives), rows from a %d-row table, %ld reps\n", D, M,
           V, reps);
    printf("%4s %14s %14s %8s\n", "C", "hand ns/win", "sgemm ns/win", "ratio");
    int Cs[] = {1, 2, 4, 6, 8, 10};
    for (int ci = 0; ci < 6; ci++) {
        int C = Cs[ci];
        const float *xp[10], *yp[6];
        double th = 0, tb = 0, maxdiff = 0;
        /* alternate short rounds of the two kernels so machine load hits both alike */
        const int rounds = 20;
        for (int round = 0; round < 2 * rounds; round++) {
            int pass = round & 1;
            base_rng_seed(&r, 7 + (uint64_t)round); /* fresh rows for each round: no warm cache for either */
            double t0 = base_now_sec();
            for (long k = 0; k < reps / rounds; k++) {
                for (int c = 0; c < C; c++) xp[c] = W0 + (long)base_rng_below(&r, (uint32_t)V) * D;
                for (int j = 0; j < M; j++) yp[j] = W1 + (long)base_rng_below(&r, (uint32_t)V) * D;
                if (pass == 0) (use_hand2 ? hand2 : hand)(xp, yp, C, M, D, S, G, dX, dY);
                else blas(xp, yp, C, M, D, X, Y, S2, G2, dX2, dY2);
            }
            double t = base_now_sec() - t0;
            if (pass == 0) th += t;
            else tb += t;
        }
        /* one window through both kernels on the same rows: they must agree */
        for (int c = 0; c < C; c++) xp[c] = W0 + (long)base_rng_below(&r, (uint32_t)V) * D;
        for (int j = 0; j < M; j++) yp[j] = W1 + (long)base_rng_below(&r, (uint32_t)V) * D;
        (use_hand2 ? hand2 : hand)(xp, yp, C, M, D, S, G, dX, dY);
        blas(xp, yp, C, M, D, X, Y, S2, G2, dX2, dY2);
        for (int i = 0; i < C * D; i++) {
            double d = dX[i] - dX2[i];
            if (d < 0) d = -d;
            if (d > maxdiff) maxdiff = d;
        }
        printf("%4d %14.1f %14.1f %7.2fx   (max |dX diff| %.1e)\n", C, 1e9 * th / reps, 1e9 * tb / reps, tb / th,
               maxdiff);
    }
    free(W0);
    free(W1);
    }
    return 0;
}
