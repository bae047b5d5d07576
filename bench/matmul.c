/* matmul.c — benchmark: ag_matmul forward+backward through autograd vs the same 3 bare cblas_sgemm calls.
 *
 * Usage: bench_matmul [M K N [reps]]     (default 4096 256 1024, 9 repetitions)
 * Each repetition times one autograd step (forward C = A·B, backward with a seed of ones giving
 * dA += dC·Bᵀ, dB += Aᵀ·dC, graph reset) and then the three GEMMs alone on preallocated buffers.
 * The two are interleaved so machine noise hits both alike; medians are reported, with the ratio,
 * and a one-line JSON record at the end. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "autograd/ag.h"
#include "bench/bench_util.h"

int main(int argc, char **argv) {
    int64_t M = 4096, K = 256, N = 1024;
    int reps = 9;
    if (argc >= 4) {
        M = atoll(argv[1]);
        K = atoll(argv[2]);
        N = atoll(argv[3]);
    }
    if (argc >= 5) reps = atoi(argv[4]);
    if (M <= 0 || K <= 0 || N <= 0 || reps <= 0 || reps > 1000) {
        fprintf(stderr, "usage: bench_matmul [M K N [reps]] with positive sizes and 1..1000 reps\n");
        return 2;
    }

    /* Parameters live on the heap (their grads accumulate like a real training step's). */
    ag_tensor *a = ag_tensor_alloc(AG_F32, AG_SHAPE(M, K)); /* [M, K] */
    ag_tensor *b = ag_tensor_alloc(AG_F32, AG_SHAPE(K, N)); /* [K, N] */
    ag_tensor_set_param(a, false);
    ag_tensor_set_param(b, false);
    base_rng r;
    base_rng_seed(&r, 1);
    for (int64_t i = 0; i < a->numel; i++) ag_f32(a)[i] = base_rng_uniform(&r) - 0.5f;
    for (int64_t i = 0; i < b->numel; i++) ag_f32(b)[i] = base_rng_uniform(&r) - 0.5f;
    float *ones = base_xaligned((size_t)(M * N) * sizeof(float)); /* [M, N] seed */
    for (int64_t i = 0; i < M * N; i++) ones[i] = 1.0f;

    /* The bare run's buffers: C [M, N], dA [M, K], dB [K, N], dC = ones. */
    float *C = base_xaligned((size_t)(M * N) * sizeof(float));
    float *dA = base_xaligned((size_t)(M * K) * sizeof(float));
    float *dB = base_xaligned((size_t)(K * N) * sizeof(float));
    memset(dA, 0, (size_t)(M * K) * sizeof(float));
    memset(dB, 0, (size_t)(K * N) * sizeof(float));

    ag_graph *g = ag_graph_new(0);
    double *t_ag = base_xmalloc((size_t)reps * sizeof(double)), *t_bare = base_xmalloc((size_t)reps * sizeof(double));
    for (int rep = -1; rep < reps; rep++) { /* rep -1 warms up (arena growth, page faults, BLAS threads) */
        double t0 = base_now_sec();
        ag_tensor *c = ag_matmul(g, a, b, false, false);
        ag_backward_seed(g, c, ones);
        ag_graph_reset(g);
        double t1 = base_now_sec();
        const float *A = ag_f32(a), *B = ag_f32(b);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)M, (blasint)N, (blasint)K, 1.0f, A,
                    (blasint)K, B, (blasint)N, 0.0f, C, (blasint)N);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)M, (blasint)K, (blasint)N, 1.0f, ones,
                    (blasint)N, B, (blasint)N, 1.0f, dA, (blasint)K);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (blasint)K, (blasint)N, (blasint)M, 1.0f, A,
                    (blasint)K, ones, (blasint)N, 1.0f, dB, (blasint)N);
        double t2 = base_now_sec();
        if (rep >= 0) {
            t_ag[rep] = t1 - t0;
            t_bare[rep] = t2 - t1;
        }
    }
    /* The autograd grads must equal the bare ones (same GEMMs, same accumulation count). */
    double maxdiff = 0;
    for (int64_t i = 0; i < M * K; i++) {
        double d = a->grad[i] - dA[i];
        if (d < 0) d = -d;
        if (d > maxdiff) maxdiff = d;
    }
    double flops = 3.0 * 2.0 * (double)M * (double)N * (double)K;
    double med_ag = bench_median(t_ag, reps), med_bare = bench_median(t_bare, reps);
    double gf_ag = flops / med_ag * 1e-9, gf_bare = flops / med_bare * 1e-9;
    printf("matmul forward+backward (%lld x %lld)·(%lld x %lld), %d reps, median\n", (long long)M, (long long)K,
           (long long)K, (long long)N, reps);
    printf("  ember autograd : %8.2f ms  %7.1f GFLOP/s\n", med_ag * 1e3, gf_ag);
    printf("  bare sgemm x3  : %8.2f ms  %7.1f GFLOP/s\n", med_bare * 1e3, gf_bare);
    printf("  ratio (ember / sgemm GFLOP/s): %.3f   (max |dA_ember - dA_bare| = %.2g)\n", gf_ag / gf_bare, maxdiff);
    printf("{\"bench\":\"matmul\",\"M\":%lld,\"K\":%lld,\"N\":%lld,\"reps\":%d,\"ember_ms\":%.3f,\"sgemm_ms\":%.3f,"
           "\"ember_gflops\":%.2f,\"sgemm_gflops\":%.2f,\"ratio\":%.4f}\n",
           (long long)M, (long long)K, (long long)N, reps, med_ag * 1e3, med_bare * 1e3, gf_ag, gf_bare, gf_ag / gf_bare);
    free(t_ag);
    free(t_bare);
    free(C);
    free(dA);
    free(dB);
    free(ones);
    ag_graph_free(g);
    ag_tensor_free(a);
    ag_tensor_free(b);
    return 0;
}
