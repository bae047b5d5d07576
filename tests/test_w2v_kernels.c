/* test_w2v_kernels.c — word2vec's SIMD block kernels (autograd/w2v_kernels.c) against the scalar
 * fallback and a double-precision reference, over many shapes (odd D included), and the fused op
 * through every path (BLAS, each SIMD variant, scalar) giving the same loss and grads. */
#include "support/test_util.h"

#include "autograd/w2v_kernels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define GUARD 1234.5f /* written after each output block: a kernel writing past its end changes it */

/* Rows as separate heap blocks of exactly D floats (ASan sees a read past a row), at an offset of
 * one float so they are not 64-byte aligned. */
static float **rows_new(int64_t n, int64_t D, base_rng *r, float **blocks) {
    float **p = base_xmalloc((size_t)n * sizeof *p);
    for (int64_t i = 0; i < n; i++) {
        blocks[i] = base_xmalloc((size_t)(D + 1) * sizeof(float));
        p[i] = blocks[i] + 1;
        for (int64_t d = 0; d < D; d++) p[i][d] = base_rng_uniform(r) * 2.0f - 1.0f;
    }
    return p;
}

/* |got - want| <= tol · (1 + Σ|terms|): float sums of n terms in any order stay within that. */
static void check(const char *what, const char *isa, int64_t R, int64_t N, int64_t D, int64_t i, float got,
                  double want, double mag) {
    double tol = 4e-6 * (1.0 + mag);
    if (!(fabs((double)got - want) <= tol))
        fail_msg("%s %s R=%lld N=%lld D=%lld [%lld]: got %.9g, reference %.9g (tolerance %.3g)", isa, what,
                 (long long)R, (long long)N, (long long)D, (long long)i, got, want, tol);
}

static void one_shape(const ag_w2v_kernels *k, int64_t R, int64_t N, int64_t D, uint64_t seed) {
    base_rng rng;
    base_rng_seed(&rng, seed);
    float **xb = base_xmalloc((size_t)R * sizeof *xb), **yb = base_xmalloc((size_t)N * sizeof *yb);
    float **x = rows_new(R, D, &rng, xb), **y = rows_new(N, D, &rng, yb);
    float *G = base_xmalloc((size_t)(R * N) * sizeof *G); /* [R, N] */
    for (int64_t i = 0; i < R * N; i++) G[i] = base_rng_uniform(&rng) - 0.5f;
    float *S = base_xmalloc((size_t)(R * N + 1) * sizeof *S);  /* [R, N] + guard */
    float *dX = base_xmalloc((size_t)(R * D + 1) * sizeof *dX); /* [R, D] + guard */
    float *dY = base_xmalloc((size_t)(N * D + 1) * sizeof *dY); /* [N, D] + guard */
    S[R * N] = dX[R * D] = dY[N * D] = GUARD;
    const float a = -0.75f;
    k->scores((const float *const *)x, R, (const float *const *)y, N, D, S);
    k->combine(G, N, 1, (const float *const *)y, N, R, D, a, dX); /* dX = a·G·Y */
    k->combine(G, 1, N, (const float *const *)x, R, N, D, a, dY); /* dY = a·Gᵀ·X */
    for (int64_t r = 0; r < R; r++)
        for (int64_t n = 0; n < N; n++) {
            double s = 0, m = 0;
            for (int64_t d = 0; d < D; d++) {
                s += (double)x[r][d] * y[n][d];
                m += fabs((double)x[r][d] * y[n][d]);
            }
            check("scores", k->name, R, N, D, r * N + n, S[r * N + n], s, m);
        }
    for (int64_t r = 0; r < R; r++)
        for (int64_t d = 0; d < D; d++) {
            double s = 0, m = 0;
            for (int64_t n = 0; n < N; n++) {
                s += (double)G[r * N + n] * y[n][d];
                m += fabs((double)G[r * N + n] * y[n][d]);
            }
            check("combine dX", k->name, R, N, D, r * D + d, dX[r * D + d], a * s, fabs(a) * m);
        }
    for (int64_t n = 0; n < N; n++)
        for (int64_t d = 0; d < D; d++) {
            double s = 0, m = 0;
            for (int64_t r = 0; r < R; r++) {
                s += (double)G[r * N + n] * x[r][d];
                m += fabs((double)G[r * N + n] * x[r][d]);
            }
            check("combine dY", k->name, R, N, D, n * D + d, dY[n * D + d], a * s, fabs(a) * m);
        }
    if (S[R * N] != GUARD || dX[R * D] != GUARD || dY[N * D] != GUARD)
        fail_msg("%s R=%lld N=%lld D=%lld: wrote past the end of an output", k->name, (long long)R, (long long)N,
                 (long long)D);
    for (int64_t i = 0; i < R; i++) free(xb[i]);
    for (int64_t i = 0; i < N; i++) free(yb[i]);
    free(xb), free(yb), free(x), free(y), free(G), free(S), free(dX), free(dY);
}

/* Every variant this CPU runs, every shape of the grid, against the double reference; and each
 * variant against the scalar kernel (the same shape and data) to the same tolerance. */
static void test_kernels_shapes(void **state) {
    (void)state;
    static const int64_t Rs[] = {1, 2, 3, 4, 5, 6, 7, 9, 10, 13, 20};
    static const int64_t Ns[] = {1, 2, 3, 4, 5, 6, 7, 11, 21, 41};
    static const int64_t Ds[] = {1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 48, 100, 301};
    int nvariants = 0;
    for (int i = 0; i < AG_W2V_ISA_COUNT; i++) {
        const ag_w2v_kernels *k = ag_w2v_kernels_for((ag_w2v_isa)i);
        if (!k) {
            print_message("w2v kernels: variant %d not supported on this CPU, skipped\n", i);
            continue;
        }
        nvariants++;
        uint64_t seed = 1;
        for (size_t ri = 0; ri < sizeof Rs / sizeof *Rs; ri++)
            for (size_t ni = 0; ni < sizeof Ns / sizeof *Ns; ni++)
                for (size_t di = 0; di < sizeof Ds / sizeof *Ds; di++) one_shape(k, Rs[ri], Ns[ni], Ds[di], seed++);
    }
    assert_true(nvariants >= 1);
    /* the scalar variant always exists and best() is one of the supported ones */
    assert_non_null(ag_w2v_kernels_for(AG_W2V_ISA_SCALAR));
    assert_non_null(ag_w2v_kernels_for(ag_w2v_kernels_best()->isa));
    assert_null(ag_w2v_kernels_for(AG_W2V_ISA_COUNT));
}

/* SIMD vs scalar directly: the same inputs give values within float rounding of each other. */
static void test_kernels_match_scalar(void **state) {
    (void)state;
    const ag_w2v_kernels *sc = ag_w2v_kernels_for(AG_W2V_ISA_SCALAR);
    base_rng rng;
    base_rng_seed(&rng, 99);
    const int64_t R = 10, N = 6;
    static const int64_t Ds[] = {1, 7, 100, 301};
    for (size_t di = 0; di < sizeof Ds / sizeof *Ds; di++) {
        const int64_t D = Ds[di];
        float *xb[10], *yb[6];
        float **x = rows_new(R, D, &rng, xb), **y = rows_new(N, D, &rng, yb);
        float G[60], S0[60], S1[60];
        for (int i = 0; i < 60; i++) G[i] = base_rng_uniform(&rng) - 0.5f;
        float *d0 = base_xmalloc((size_t)(R * D) * sizeof(float)), *d1 = base_xmalloc((size_t)(R * D) * sizeof(float));
        sc->scores((const float *const *)x, R, (const float *const *)y, N, D, S0);
        sc->combine(G, N, 1, (const float *const *)y, N, R, D, 1.0f, d0);
        for (int i = 1; i < AG_W2V_ISA_COUNT; i++) {
            const ag_w2v_kernels *k = ag_w2v_kernels_for((ag_w2v_isa)i);
            if (!k) continue;
            k->scores((const float *const *)x, R, (const float *const *)y, N, D, S1);
            k->combine(G, N, 1, (const float *const *)y, N, R, D, 1.0f, d1);
            char label[64];
            snprintf(label, sizeof label, "%s vs scalar scores D=%lld", k->name, (long long)D);
            tu_assert_close(label, S1, S0, R * N, 1e-5);
            snprintf(label, sizeof label, "%s vs scalar dX D=%lld", k->name, (long long)D);
            tu_assert_close(label, d1, d0, R * D, 1e-5);
        }
        for (int i = 0; i < R; i++) free(xb[i]);
        for (int i = 0; i < N; i++) free(yb[i]);
        free(x), free(y), free(d0), free(d1);
    }
}

/* The logistic kernel of every variant against double precision: G = σ(s) − t to 2e-7, the loss
 * Σ log(1 + e^{−z}) to 1e-6 relative, for every K from 1 to 70 (tails of every width), scores from
 * tiny to saturated (±100), and a NaN score makes the loss NaN. */
static void test_logistic(void **state) {
    (void)state;
    base_rng rng;
    base_rng_seed(&rng, 5);
    float S[70], lab[70], G[71];
    for (int i = 0; i < AG_W2V_ISA_COUNT; i++) {
        const ag_w2v_kernels *k = ag_w2v_kernels_for((ag_w2v_isa)i);
        if (!k) continue;
        for (int64_t K = 1; K <= 70; K++) {
            double ref = 0;
            for (int64_t j = 0; j < K; j++) {
                float u = base_rng_uniform(&rng);
                S[j] = j % 11 == 5 ? (u - 0.5f) * 200.0f : (u - 0.5f) * 12.0f;
                lab[j] = (float)(base_rng_below(&rng, 3) == 0);
                double z = lab[j] > 0.5f ? S[j] : -S[j];
                ref += z > 0 ? log1p(exp(-z)) : -z + log1p(exp(z));
            }
            G[K] = GUARD;
            float loss = k->logistic(S, lab, K, G);
            if (!(fabs(loss - ref) <= 1e-6 * (1 + fabs(ref))))
                fail_msg("%s logistic K=%lld: loss %.9g, reference %.9g", k->name, (long long)K, loss, ref);
            for (int64_t j = 0; j < K; j++) {
                double sig = 1.0 / (1.0 + exp(-(double)S[j]));
                if (!(fabs(G[j] - (sig - lab[j])) <= 2e-7))
                    fail_msg("%s logistic K=%lld [%lld]: s %.6g label %g: G %.9g, reference %.9g", k->name,
                             (long long)K, (long long)j, S[j], lab[j], G[j], sig - lab[j]);
            }
            if (G[K] != GUARD) fail_msg("%s logistic K=%lld: wrote past G", k->name, (long long)K);
        }
        S[3] = NAN;
        assert_true(isnan(k->logistic(S, lab, 9, G)));
    }
}

/* The fused op through each path: loss and both tables' grads agree with the BLAS path (the old
 * path) for skip-gram and CBOW, NS and HS, odd D. */
static void op_grads(const char *path, int64_t D, bool mean, bool hs, float *loss, float *g0, float *g1) {
    assert_int_equal(ag_w2v_kernel_select(path), 0);
    const int64_t V = 50, C = 7, M = 6;
    ag_tensor *w0 = ag_tensor_alloc(AG_F32, 2, (int64_t[]){V, D});
    ag_tensor *w1 = ag_tensor_alloc(AG_F32, 2, (int64_t[]){V, D});
    tu_fill_uniform(w0, 5, -0.5f, 0.5f);
    tu_fill_uniform(w1, 6, -0.5f, 0.5f);
    ag_tensor_set_param(w0, false);
    ag_tensor_set_param(w1, false);
    static const int32_t in[7] = {3, 9, 9, 17, 42, 1, 0}, out[6] = {5, 8, 49, 5, 30, 2}, codes[6] = {0, 1, 1, 0, 1, 0};
    ag_graph *g = ag_graph_new(0);
    ag_tensor *ti = ag_from_i32(g, 1, &C, in), *to = ag_from_i32(g, 1, &M, out);
    ag_tensor *l = hs ? ag_w2v_hs_loss(g, w0, w1, ti, to, ag_from_i32(g, 1, &M, codes), mean)
                      : ag_w2v_ns_loss(g, w0, w1, ti, to, mean);
    ag_backward(g, l);
    *loss = ag_f32(l)[0];
    memcpy(g0, w0->grad, (size_t)(V * D) * sizeof(float));
    memcpy(g1, w1->grad, (size_t)(V * D) * sizeof(float));
    ag_graph_free(g);
    ag_tensor_free(w0);
    ag_tensor_free(w1);
}

static void test_op_paths_agree(void **state) {
    (void)state;
    static const int64_t Ds[] = {1, 7, 100, 301};
    const char *paths[2 + AG_W2V_ISA_COUNT];
    int np = 0;
    paths[np++] = "auto";
    for (int i = 0; i < AG_W2V_ISA_COUNT; i++)
        if (ag_w2v_kernels_for((ag_w2v_isa)i)) paths[np++] = ag_w2v_kernels_for((ag_w2v_isa)i)->name;
    for (size_t di = 0; di < sizeof Ds / sizeof *Ds; di++)
        for (int mean = 0; mean <= 1; mean++)
            for (int hs = 0; hs <= 1; hs++) {
                const int64_t n = 50 * Ds[di];
                float l0, l1, *a0 = base_xmalloc((size_t)n * 4), *a1 = base_xmalloc((size_t)n * 4);
                float *b0 = base_xmalloc((size_t)n * 4), *b1 = base_xmalloc((size_t)n * 4);
                op_grads("blas", Ds[di], mean, hs, &l0, a0, a1);
                for (int p = 0; p < np; p++) {
                    op_grads(paths[p], Ds[di], mean, hs, &l1, b0, b1);
                    char label[96];
                    snprintf(label, sizeof label, "%s vs blas D=%lld mean %d hs %d loss", paths[p], (long long)Ds[di],
                             mean, hs);
                    tu_assert_close(label, &l1, &l0, 1, 1e-5);
                    snprintf(label, sizeof label, "%s vs blas D=%lld mean %d hs %d d(win)", paths[p],
                             (long long)Ds[di], mean, hs);
                    tu_assert_close(label, b0, a0, n, 1e-5);
                    snprintf(label, sizeof label, "%s vs blas D=%lld mean %d hs %d d(wout)", paths[p],
                             (long long)Ds[di], mean, hs);
                    tu_assert_close(label, b1, a1, n, 1e-5);
                }
                free(a0), free(a1), free(b0), free(b1);
            }
    assert_int_equal(ag_w2v_kernel_select("auto"), 0);
}

static void test_select_rejects(void **state) {
    (void)state;
    assert_int_equal(ag_w2v_kernel_select("sse9"), -1);
    assert_non_null(strstr(base_error_msg(), "sse9"));
    assert_int_equal(ag_w2v_kernel_select("scalar"), 0);
    assert_string_equal(ag_w2v_kernel_name(), "scalar");
    assert_int_equal(ag_w2v_kernel_select("auto"), 0);
    assert_non_null(strstr(ag_w2v_kernel_name(), ag_w2v_kernels_best()->name));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kernels_shapes),
        cmocka_unit_test(test_kernels_match_scalar),
        cmocka_unit_test(test_logistic),
        cmocka_unit_test(test_op_paths_agree),
        cmocka_unit_test(test_select_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
