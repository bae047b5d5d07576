/* attention.c — times ag_attention forward+backward under each threading strategy against PyTorch's manual attention, in the same run.
 *
 * Usage: bench_attention [iters] [B] [H] [T] [Dh] [causal 0|1] [threads]
 *        (defaults 20 32 4 128 64 0 2: the BERT-style encoder step's attention, d=256, 4 heads)
 * Runs bench/torch_attention.py (with /usr/bin/python3) before and after the ember rounds and
 * prints the ratio torch / ember (> 1 means ember is faster). Figures are the best of 3 rounds,
 * as wall time and as process CPU time (the latter is what to compare on a machine shared with
 * other jobs, where wall time mostly measures the queue; it also counts threads spin-waiting). */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "autograd/ag.h"

static double now_ms(void) { return 1e3 * base_now_sec(); }

static double cpu_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static ag_tensor *filled(int ndim, const int64_t *shape, uint64_t seed) {
    ag_tensor *t = ag_tensor_alloc(AG_F32, ndim, shape);
    base_rng r;
    base_rng_seed(&r, seed);
    for (int64_t i = 0; i < t->numel; i++) ag_f32(t)[i] = base_rng_uniform(&r);
    return t;
}

/* Runs the PyTorch peer; returns its wall ms/iter (and CPU ms/iter in *cpu), or a negative value
 * if it could not run. */
static double torch_ms(int threads, int iters, int B, int H, int T, int Dh, int causal, double *cpu) {
    char cmd[1024], line[256];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/bench/torch_attention.py %d %d %d %d %d %d %d 2>&1",
             EMBER_SOURCE_DIR, threads, iters, B, H, T, Dh, causal);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    double ms = -1;
    *cpu = -1;
    while (fgets(line, sizeof line, p)) {
        const char *m = strstr(line, " ms/iter="), *c = strstr(line, "cpu_ms/iter=");
        if (m) ms = atof(m + 9);
        if (c) *cpu = atof(c + 12);
        if (!m) fputs(line, stderr);
    }
    pclose(p);
    return ms;
}

int main(int argc, char **argv) {
    int a[7] = {20, 32, 4, 128, 64, 0, 2};
    for (int i = 1; i < argc && i <= 7; i++) a[i - 1] = atoi(argv[i]);
    int iters = a[0], B = a[1], H = a[2], T = a[3], Dh = a[4], causal = a[5], threads = a[6];
    omp_set_num_threads(threads);
    openblas_set_num_threads(threads);

    ag_tensor *q = filled(AG_SHAPE(B, H, T, Dh), 1), *k = filled(AG_SHAPE(B, H, T, Dh), 2);
    ag_tensor *v = filled(AG_SHAPE(B, H, T, Dh), 3), *seed = filled(AG_SHAPE(B, H, T, Dh), 4);
    ag_tensor_set_param(q, false);
    ag_tensor_set_param(k, false);
    ag_tensor_set_param(v, false);
    float scale = 1.0f / sqrtf((float)Dh);
    ag_graph *g = ag_graph_new(0);

    double c_before, c_after;
    double t_before = torch_ms(threads, iters, B, H, T, Dh, causal, &c_before);

    const char *modes[] = {"heads", "blas", "heads-raw"};
    enum { NM = 3 };
    double best[NM], best_fwd[NM], best_cpu[NM];
    float *ref = NULL, maxdiff[NM] = {0};
    for (int m = 0; m < NM; m++) best[m] = best_fwd[m] = best_cpu[m] = INFINITY;
    for (int round = 0; round < 3; round++) {
        for (int m = 0; m < NM; m++) {
            setenv("EMBER_ATTN_THREADS", modes[m], 1);
            for (int it = 0; it < 2; it++) { /* warm-up: arena grows to its peak once */
                ag_backward_seed(g, ag_attention(g, q, k, v, causal, NULL, NULL, scale), ag_f32(seed));
                ag_graph_reset(g);
            }
            double fwd = 0, t0 = now_ms(), c0 = cpu_ms();
            for (int it = 0; it < iters; it++) {
                ag_zero_grad(q);
                ag_zero_grad(k);
                ag_zero_grad(v);
                double f0 = now_ms();
                ag_tensor *y = ag_attention(g, q, k, v, causal, NULL, NULL, scale);
                fwd += now_ms() - f0;
                ag_backward_seed(g, y, ag_f32(seed));
                if (round == 0 && it == 0) { /* same numbers whatever the threading? */
                    if (!ref) {
                        ref = malloc(sizeof(float) * (size_t)q->numel);
                        memcpy(ref, q->grad, sizeof(float) * (size_t)q->numel);
                    }
                    for (int64_t i = 0; i < q->numel; i++) {
                        float d = fabsf(q->grad[i] - ref[i]);
                        if (!(d <= maxdiff[m])) maxdiff[m] = d;
                    }
                }
                ag_graph_reset(g);
            }
            double ms = (now_ms() - t0) / iters, cms = (cpu_ms() - c0) / iters;
            if (ms < best[m]) best[m] = ms;
            if (cms < best_cpu[m]) best_cpu[m] = cms;
            if (fwd / iters < best_fwd[m]) best_fwd[m] = fwd / iters;
        }
    }
    unsetenv("EMBER_ATTN_THREADS");
    double t_after = torch_ms(threads, iters, B, H, T, Dh, causal, &c_after);
    double t_best = t_before > 0 && (t_after <= 0 || t_before < t_after) ? t_before : t_after;
    double c_best = c_before > 0 && (c_after <= 0 || c_before < c_after) ? c_before : c_after;

    printf("attention fwd+bwd B=%d H=%d T=S=%d Dh=%d causal=%d threads=%d iters=%d (best of 3 rounds)\n", B, H, T, Dh,
           causal, threads, iters);
    for (int m = 0; m < NM; m++)
        printf("  ember %-10s %8.2f ms/iter wall (forward %6.2f)  %8.2f ms/iter CPU  max|dq - dq(heads)| = %.2g\n",
               modes[m], best[m], best_fwd[m], best_cpu[m], (double)maxdiff[m]);
    printf("  torch manual     %8.2f ms/iter wall (runs: %.2f before, %.2f after)  %8.2f ms/iter CPU\n", t_best,
           t_before, t_after, c_best);
    int fastest = 0;
    for (int m = 1; m < NM; m++)
        if (best[m] < best[fastest]) fastest = m;
    if (t_best > 0) {
        printf("  ratio torch/ember wall: %.2fx (heads) %.2fx (blas) %.2fx (heads-raw); fastest ember mode: %s\n",
               t_best / best[0], t_best / best[1], t_best / best[2], modes[fastest]);
        printf("  ratio torch/ember CPU:  %.2fx (heads) %.2fx (blas) %.2fx (heads-raw)\n", c_best / best_cpu[0],
               c_best / best_cpu[1], c_best / best_cpu[2]);
    }
    else
        printf("  torch peer did not run (needs /usr/bin/python3 with torch)\n");
    free(ref);
    ag_graph_free(g);
    ag_tensor_free(q);
    ag_tensor_free(k);
    ag_tensor_free(v);
    ag_tensor_free(seed);
    return 0;
}
