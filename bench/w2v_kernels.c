/* w2v_kernels.c — word2vec's per-window block products: OpenBLAS sgemm (on gathered copies) against
 * ember's own kernels (autograd/w2v_kernels.h: scalar, AVX2+FMA, AVX-512), over a grid of shapes,
 * to find where each wins.
 *
 * One window = C input rows × M output rows of D floats: scores S = X·Yᵀ [C, M], then
 * dX = G·Y [C, D] and dY = Gᵀ·X [M, D] (G a stand-in for σ(S) − label). The sgemm time includes
 * gathering the rows into contiguous X [C, D] and Y [M, D], as the op had to. Rows are drawn at
 * random from a 1,000-row table (cache-resident, as in training where a window's rows are hot),
 * or a 100,000-row one with `-dram` (every row a DRAM miss). Kernels alternate in short rounds so
 * machine load hits all alike. Every kernel's dX and dY are checked against the scalar kernel's.
 *
 * usage: bench_w2v_kernels [-reps N] [-dram] [-quick]
 *   prints, per shape, ns per window for each kernel and sgemm ÷ best-own-kernel (> 1: ours faster).
 *   The OpenBLAS core in use (openblas_get_corename) is printed first: run it with
 *   OPENBLAS_CORETYPE as set and unset to see both.
 */
#include "autograd/ag.h"
#include "autograd/w2v_kernels.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *openblas_get_corename(void);

/* The window through sgemm: gather, then three BLAS calls (as ops_w2v.c's BLAS path). */
static void window_blas(const float *const *x, const float *const *y, int C, int M, int D, float *X, float *Y,
                        float *S, float *G, float *dX, float *dY) {
    for (int c = 0; c < C; c++) memcpy(X + (size_t)c * D, x[c], (size_t)D * sizeof(float));
    for (int j = 0; j < M; j++) memcpy(Y + (size_t)j * D, y[j], (size_t)D * sizeof(float));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, C, M, D, 1.0f, X, D, Y, D, 0.0f, S, M);
    for (int i = 0; i < C * M; i++) G[i] = S[i] * 0.25f - 0.5f;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, C, D, M, 1.0f, G, M, Y, D, 0.0f, dX, D);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, M, D, C, 1.0f, G, M, X, D, 0.0f, dY, D);
}

/* The window through one of ember's kernels, on row pointers. */
static void window_own(const ag_w2v_kernels *k, const float *const *x, const float *const *y, int C, int M, int D,
                       float *S, float *G, float *dX, float *dY) {
    k->scores(x, C, y, M, D, S);
    for (int i = 0; i < C * M; i++) G[i] = S[i] * 0.25f - 0.5f;
    k->combine(G, M, 1, y, M, C, D, 1.0f, dX);
    k->combine(G, 1, M, x, C, M, D, 1.0f, dY);
}

static double max_rel_diff(const float *a, const float *b, int n) {
    double m = 0;
    for (int i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]) / (1.0 + fabs((double)b[i]));
        if (d > m) m = d;
    }
    return m;
}

int main(int argc, char **argv) {
    long reps = 100000;
    int V = 1000, quick = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-reps") && i + 1 < argc) reps = atol(argv[++i]);
        else if (!strcmp(argv[i], "-dram")) V = 100000;
        else if (!strcmp(argv[i], "-quick")) quick = 1;
        else {
            fprintf(stderr, "usage: bench_w2v_kernels [-reps N] [-dram] [-quick]\n");
            return 2;
        }
    }
    openblas_set_num_threads(1); /* word2vec's workers call BLAS from their own threads */
    const char *ct = getenv("OPENBLAS_CORETYPE");
    printf("OpenBLAS core %s (OPENBLAS_CORETYPE=%s), rows from a %d-row table, %ld windows per cell\n",
           openblas_get_corename(), ct ? ct : "(unset)", V, reps);
    const ag_w2v_kernels *ks[AG_W2V_ISA_COUNT];
    int nk = 0;
    for (int i = 0; i < AG_W2V_ISA_COUNT; i++)
        if ((ks[nk] = ag_w2v_kernels_for((ag_w2v_isa)i))) nk++;
    const int Ds[] = {100, 300, 1000}, Cs[] = {1, 2, 4, 10, 20, 40}, Ms[] = {6, 21};
    const int nD = quick ? 1 : 3, nC = 6, nM = quick ? 1 : 2;
    const int maxC = 40, maxM = 21, maxD = 1000;
    float *W0 = base_xaligned((size_t)V * maxD * sizeof(float)), *W1 = base_xaligned((size_t)V * maxD * sizeof(float));
    base_rng r;
    base_rng_seed(&r, 1);
    for (long i = 0; i < (long)V * maxD; i++) {
        W0[i] = base_rng_uniform(&r) - 0.5f;
        W1[i] = base_rng_uniform(&r) - 0.5f;
    }
    float *X = base_xmalloc((size_t)maxC * maxD * sizeof(float)), *Y = base_xmalloc((size_t)maxM * maxD * sizeof(float));
    float *S = base_xmalloc((size_t)maxC * maxM * sizeof(float)), *G = base_xmalloc((size_t)maxC * maxM * sizeof(float));
    float *dX[2], *dY[2];
    for (int i = 0; i < 2; i++) {
        dX[i] = base_xmalloc((size_t)maxC * maxD * sizeof(float));
        dY[i] = base_xmalloc((size_t)maxM * maxD * sizeof(float));
    }
    printf("%5s %4s %3s %11s", "D", "C", "M", "sgemm ns");
    for (int i = 0; i < nk; i++) printf(" %9s ns", ks[i]->name);
    printf(" %12s %10s\n", "sgemm/best", "max err");
    for (int di = 0; di < nD; di++)
        for (int mi = 0; mi < nM; mi++)
            for (int ci = 0; ci < nC; ci++) {
                const int D = Ds[di], M = Ms[mi], C = Cs[ci];
                const float *xp[40], *yp[21];
                double t[1 + AG_W2V_ISA_COUNT] = {0};
                long per = reps * 100 / D; /* fewer windows for wider rows: similar time per cell */
                const int rounds = 10;
                for (int round = 0; round < rounds; round++)
                    for (int kk = 0; kk <= nk; kk++) {
                        base_rng_seed(&r, 7 + (uint64_t)round);
                        double t0 = base_now_sec();
                        for (long w = 0; w < per / rounds; w++) {
                            for (int c = 0; c < C; c++) xp[c] = W0 + (long)base_rng_below(&r, (uint32_t)V) * D;
                            for (int j = 0; j < M; j++) yp[j] = W1 + (long)base_rng_below(&r, (uint32_t)V) * D;
                            if (kk == 0) window_blas(xp, yp, C, M, D, X, Y, S, G, dX[0], dY[0]);
                            else window_own(ks[kk - 1], xp, yp, C, M, D, S, G, dX[0], dY[0]);
                        }
                        t[kk] += base_now_sec() - t0;
                    }
                /* agreement on one window: every kernel and sgemm against scalar */
                for (int c = 0; c < C; c++) xp[c] = W0 + (long)base_rng_below(&r, (uint32_t)V) * D;
                for (int j = 0; j < M; j++) yp[j] = W1 + (long)base_rng_below(&r, (uint32_t)V) * D;
                window_own(ks[0], xp, yp, C, M, D, S, G, dX[1], dY[1]);
                double err = 0;
                for (int kk = 0; kk <= nk; kk++) {
                    if (kk == 0) window_blas(xp, yp, C, M, D, X, Y, S, G, dX[0], dY[0]);
                    else window_own(ks[kk - 1], xp, yp, C, M, D, S, G, dX[0], dY[0]);
                    double e = fmax(max_rel_diff(dX[0], dX[1], C * D), max_rel_diff(dY[0], dY[1], M * D));
                    if (e > err) err = e;
                }
                double best = t[1];
                for (int kk = 2; kk <= nk; kk++)
                    if (t[kk] < best) best = t[kk];
                printf("%5d %4d %3d %11.0f", D, C, M, 1e9 * t[0] / per);
                for (int kk = 1; kk <= nk; kk++) printf(" %12.0f", 1e9 * t[kk] / per);
                printf(" %11.2fx %10.1e\n", t[0] / best, err);
                fflush(stdout);
            }
    free(W0);
    free(W1);
    free(X);
    free(Y);
    free(S);
    free(G);
    for (int i = 0; i < 2; i++) {
        free(dX[i]);
        free(dY[i]);
    }
    return 0;
}
