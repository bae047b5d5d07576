/* w2v_kernels.h — word2vec's tiny block products on row pointers, in ember's own SIMD kernels
 * (AVX-512, AVX2+FMA, portable scalar) chosen at run time, so their speed does not depend on which
 * OpenBLAS kernel (OPENBLAS_CORETYPE) happens to serve a small sgemm.
 *
 * One word2vec window is R input rows x_r against N output rows y_n, each D floats, read in place
 * from the embedding tables through row pointers (no gather copies):
 *     scores   S [R, N]   S[r][n] = x_r · y_n
 *     combine  out [R, D] out[r]  = a · Σ_k w[r·wr + k·wk] · rows[k]     (k < K)
 *     logistic G [K] = σ(S) − labels, and the loss Σ −log σ(±S)          (K = R·N scores)
 * combine is both halves of the backward: dX = G·Y (rows = y, K = N, wr = N, wk = 1) and
 * dY = Gᵀ·X (rows = x, K = R, wr = 1, wk = N). Every variant sums in its own order, so results
 * agree with the scalar one to float rounding, not bit for bit (tests/test_w2v_kernels.c).
 *
 * The SIMD variants are compiled with function-level target attributes, so a build without
 * -march=native still contains them and runs on any x86-64; ag_w2v_kernels_for() returns NULL for a
 * variant the CPU (or the OS's saved register state) does not support. Not x86-64: scalar only.
 */
#ifndef EMBER_AG_W2V_KERNELS_H
#define EMBER_AG_W2V_KERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ag_w2v_isa {
    AG_W2V_ISA_SCALAR = 0, /* portable C, any machine */
    AG_W2V_ISA_AVX2,       /* AVX2 + FMA (x86-64 from Haswell / Zen on) */
    AG_W2V_ISA_AVX512,     /* AVX-512F (Skylake-X, Ice Lake, Zen 4 ...) */
    AG_W2V_ISA_COUNT
} ag_w2v_isa;

/* S [R, N], row-major: S[r·N + n] = x[r] · y[n]; x: R row pointers, y: N row pointers, D floats each. */
typedef void (*ag_w2v_scores_fn)(const float *const *x, int64_t R, const float *const *y, int64_t N, int64_t D,
                                 float *S);
/* out [R, D], row-major: out[r] = a · Σ_{k<K} w[r·wr + k·wk] · rows[k]; rows: K row pointers of D floats.
 * out must not overlap the rows. */
typedef void (*ag_w2v_combine_fn)(const float *w, int64_t wr, int64_t wk, const float *const *rows, int64_t K,
                                  int64_t R, int64_t D, float a, float *out);

/* The logistic loss over K scores with labels t_i = lab[i] ∈ {0, 1}: writes the score grads
 * G[i] = σ(S[i]) − t_i and returns Σ_i −log σ(z_i), z_i = S[i] if t_i = 1 else −S[i]. σ and log σ
 * are exact to float rounding (a Cephes-polynomial e^x and an atanh series for log1p); a NaN score
 * makes the loss NaN (the trainers' divergence guard relies on it). */
typedef float (*ag_w2v_logistic_fn)(const float *S, const float *lab, int64_t K, float *G);

typedef struct ag_w2v_kernels {
    ag_w2v_isa isa;
    const char *name; /* "scalar", "avx2", "avx512" */
    ag_w2v_scores_fn scores;
    ag_w2v_combine_fn combine;
    ag_w2v_logistic_fn logistic;
} ag_w2v_kernels;

/* The variant for isa, or NULL when this CPU cannot run it. Scalar is always available. */
const ag_w2v_kernels *ag_w2v_kernels_for(ag_w2v_isa isa);

/* The fastest variant this CPU runs (AVX-512, else AVX2+FMA, else scalar). */
const ag_w2v_kernels *ag_w2v_kernels_best(void);

#ifdef __cplusplus
}
#endif
#endif /* EMBER_AG_W2V_KERNELS_H */
