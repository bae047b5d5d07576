/* w2v_kernels.c — word2vec's block products (scores x·y, combine Σ w·rows) in scalar, AVX2+FMA and
 * AVX-512 variants with run-time dispatch (see w2v_kernels.h for the contract).
 *
 * Why not OpenBLAS: a window is a [2·window × D]·[D × (1+negative)] product (10 × 100 × 6 by
 * default). OpenBLAS serves it with its small-matrix kernels only when its SkylakeX core is active;
 * with OPENBLAS_CORETYPE=Haswell (set on the machines we measured on) every call goes through the
 * general path — packing copies and a buffer pool behind a mutex the two workers fight over — and
 * skip-gram ran 2.3x slower. These kernels read the rows in place and their speed is the same
 * whatever OpenBLAS is configured to do.
 *
 * Shape of the code: a block kernel keeps an RB × NB tile of accumulators in registers
 * (RB, NB ≤ 4, compile-time constants through always_inline + a switch, so the tile is unrolled and
 * never spills), walks D in vector steps with a masked tail (odd D needs no scalar loop), and the
 * public function tiles the whole [R, N] or [R, D] output with such blocks.
 */
#include "w2v_kernels.h"

#include "fast_exp.h"

#include <math.h>
#include <stdbool.h>
#include <stddef.h>

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define W2V_X86 1
#include <immintrin.h>
#else
#define W2V_X86 0
#endif

#define W2V_INLINE static inline __attribute__((always_inline))

/* ------------------------------------------------------------------------------------------------
 * Scalar: the reference every SIMD variant is tested against, and the path on other CPUs.
 * --------------------------------------------------------------------------------------------- */
static void scores_scalar(const float *const *x, int64_t R, const float *const *y, int64_t N, int64_t D, float *S) {
    for (int64_t r = 0; r < R; r++)
        for (int64_t n = 0; n < N; n++) {
            const float *a = x[r], *b = y[n];
            float s = 0.0f;
            for (int64_t d = 0; d < D; d++) s += a[d] * b[d];
            S[r * N + n] = s;
        }
}

static void combine_scalar(const float *w, int64_t wr, int64_t wk, const float *const *rows, int64_t K, int64_t R,
                           int64_t D, float a, float *out) {
    for (int64_t r = 0; r < R; r++) {
        float *o = out + r * D;
        for (int64_t d = 0; d < D; d++) o[d] = 0.0f;
        for (int64_t k = 0; k < K; k++) {
            const float c = w[r * wr + k * wk];
            const float *v = rows[k];
            for (int64_t d = 0; d < D; d++) o[d] += c * v[d];
        }
        for (int64_t d = 0; d < D; d++) o[d] *= a;
    }
}

/* ln(1 + e) for e in [0, 1]: 2·atanh(t), t = e / (2 + e) ≤ 1/3, odd series to t¹³ (truncation
 * < 1e-8, below float rounding); a third of libm's log1pf time, which dominated the loss. */
static inline float log1p_unit(float e) {
    float t = e / (2.0f + e), t2 = t * t;
    float p = 1.0f / 13;
    p = p * t2 + 1.0f / 11;
    p = p * t2 + 1.0f / 9;
    p = p * t2 + 1.0f / 7;
    p = p * t2 + 1.0f / 5;
    p = p * t2 + 1.0f / 3;
    p = p * t2 + 1.0f;
    return 2.0f * t * p;
}

static float logistic_scalar(const float *S, const float *lab, int64_t K, float *G) {
    float lsum = 0.0f;
    for (int64_t i = 0; i < K; i++) {
        /* label 1: −log σ(s), grad σ(s) − 1; label 0: −log σ(−s), grad σ(s) */
        float z = lab[i] > 0.5f ? S[i] : -S[i];
        float a = fabsf(z);
        a = a < 87.0f ? a : 87.0f;        /* NaN and ±inf become 87: ag_fast_exp needs a number;
                                             a NaN score still makes the loss NaN through z below */
        float e = ag_fast_exp(-a);        /* in (0, 1] */
        float l = log1p_unit(e);
        float nls = z >= 0 ? l : l - z;   /* −log σ(z) */
        float sig = (z >= 0 ? 1.0f : e) / (1.0f + e); /* σ(z) */
        G[i] = lab[i] > 0.5f ? sig - 1.0f : 1.0f - sig;
        lsum += nls;
    }
    return lsum;
}

#if W2V_X86
/* ------------------------------------------------------------------------------------------------
 * AVX-512: 16 floats per register, 32 registers; tails through __mmask16 loads and stores.
 * --------------------------------------------------------------------------------------------- */
#define T512 __attribute__((target("avx512f,fma")))

/* Lanes [0, n) of 16 (n may be <= 0 or >= 16). */
T512 W2V_INLINE __mmask16 mask16(int64_t n) {
    return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1u);
}

/* The sums of the lanes of v[0..15], in order, into out[0..15]: a transpose-and-add tree (45
 * shuffles and adds for 16 sums, where 16 separate reductions cost 128). */
T512 W2V_INLINE void reduce16_512(const __m512 *v, float *out) {
    __m512 u[8], w[4];
    for (int i = 0; i < 8; i++) { /* halves: blocks [a0+a2, a1+a3, b0+b2, b1+b3] */
        __m512 a = v[2 * i], b = v[2 * i + 1];
        u[i] = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x44), _mm512_shuffle_f32x4(a, b, 0xEE));
    }
    for (int i = 0; i < 4; i++) { /* block j of w[i]: four partial sums of v[4i + j] */
        __m512 p = u[2 * i], q = u[2 * i + 1];
        w[i] = _mm512_add_ps(_mm512_shuffle_f32x4(p, q, 0x88), _mm512_shuffle_f32x4(p, q, 0xDD));
    }
    __m512 s01 = _mm512_add_ps(_mm512_unpacklo_ps(w[0], w[1]), _mm512_unpackhi_ps(w[0], w[1]));
    __m512 s23 = _mm512_add_ps(_mm512_unpacklo_ps(w[2], w[3]), _mm512_unpackhi_ps(w[2], w[3]));
    __m512d f = _mm512_unpacklo_pd(_mm512_castps_pd(s01), _mm512_castps_pd(s23));
    __m512d g = _mm512_unpackhi_pd(_mm512_castps_pd(s01), _mm512_castps_pd(s23));
    __m512 t = _mm512_add_ps(_mm512_castpd_ps(f), _mm512_castpd_ps(g)); /* lane 4j + i: sum of v[4i + j] */
    const __m512i idx = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    _mm512_storeu_ps(out, _mm512_permutexvar_ps(idx, t));
}

/* S[r·ldS + n] = x[r]·y[n] for an RB × NB tile (RB ≤ 4, NB ≤ 6, constants after inlining):
 * RB·NB accumulators + RB x registers + 1 y register ≤ 29 of the 32. */
T512 W2V_INLINE void scores_tile512(const float *const *x, const float *const *y, const int RB, const int NB,
                                     int64_t D, float *S, int64_t ldS) {
    __m512 acc[32];
    for (int i = 0; i < 32; i++) acc[i] = _mm512_setzero_ps();
    int64_t d = 0;
    for (; d + 16 <= D; d += 16) {
        __m512 xv[4];
        for (int r = 0; r < RB; r++) xv[r] = _mm512_loadu_ps(x[r] + d);
        for (int n = 0; n < NB; n++) {
            __m512 yv = _mm512_loadu_ps(y[n] + d);
            for (int r = 0; r < RB; r++) acc[r * NB + n] = _mm512_fmadd_ps(xv[r], yv, acc[r * NB + n]);
        }
    }
    if (d < D) {
        const __mmask16 m = mask16(D - d);
        __m512 xv[4];
        for (int r = 0; r < RB; r++) xv[r] = _mm512_maskz_loadu_ps(m, x[r] + d);
        for (int n = 0; n < NB; n++) {
            __m512 yv = _mm512_maskz_loadu_ps(m, y[n] + d);
            for (int r = 0; r < RB; r++) acc[r * NB + n] = _mm512_fmadd_ps(xv[r], yv, acc[r * NB + n]);
        }
    }
    float sums[32];
    reduce16_512(acc, sums);
    if (RB * NB > 16) reduce16_512(acc + 16, sums + 16);
    for (int r = 0; r < RB; r++)
        for (int n = 0; n < NB; n++) S[r * ldS + n] = sums[r * NB + n];
}

/* n items in tiles of at most max, as even as possible: the size of the first tile. */
static inline int even_tile(int64_t n, int max) {
    int64_t tiles = (n + max - 1) / max;
    return (int)((n + tiles - 1) / tiles);
}

T512 static void scores_avx512(const float *const *x, int64_t R, const float *const *y, int64_t N, int64_t D,
                               float *S) {
    for (int64_t r = 0; r < R;) {
        const int rb = even_tile(R - r, 4);
        for (int64_t n = 0; n < N;) {
            const int nb = even_tile(N - n, 6);
            float *s = S + r * N + n;
            switch ((rb - 1) * 6 + (nb - 1)) {
#define T(RB, NB)                                                                                  \
    case (RB - 1) * 6 + (NB - 1): scores_tile512(x + r, y + n, RB, NB, D, s, N); break;
                T(1, 1) T(1, 2) T(1, 3) T(1, 4) T(1, 5) T(1, 6) T(2, 1) T(2, 2) T(2, 3) T(2, 4) T(2, 5) T(2, 6)
                T(3, 1) T(3, 2) T(3, 3) T(3, 4) T(3, 5) T(3, 6) T(4, 1) T(4, 2) T(4, 3) T(4, 4) T(4, 5) T(4, 6)
#undef T
            }
            n += nb;
        }
        r += rb;
    }
}

/* out[r] (r < RB ≤ 6) = a · Σ_k w[r·wr + k·wk] · rows[k], 32 floats of D per pass (two registers
 * per row, so 2·RB independent FMA chains hide the FMA latency); a last part of ≤ 16 floats takes
 * one register per row. */
T512 W2V_INLINE void combine_tile512(const float *w, int64_t wr, int64_t wk, const float *const *rows, int64_t K,
                                      const int RB, int64_t D, float a, float *out) {
    const __m512 va = _mm512_set1_ps(a);
    int64_t d = 0;
    for (; d + 16 < D; d += 32) { /* two registers, the second possibly partial */
        const bool full = d + 32 <= D;
        const __mmask16 m1 = mask16(D - d - 16);
        __m512 acc0[6], acc1[6];
        for (int r = 0; r < RB; r++) acc0[r] = acc1[r] = _mm512_setzero_ps();
        for (int64_t k = 0; k < K; k++) {
            const float *p = rows[k] + d;
            const __m512 v0 = _mm512_loadu_ps(p);
            const __m512 v1 = full ? _mm512_loadu_ps(p + 16) : _mm512_maskz_loadu_ps(m1, p + 16);
            for (int r = 0; r < RB; r++) {
                const __m512 c = _mm512_set1_ps(w[r * wr + k * wk]);
                acc0[r] = _mm512_fmadd_ps(c, v0, acc0[r]);
                acc1[r] = _mm512_fmadd_ps(c, v1, acc1[r]);
            }
        }
        for (int r = 0; r < RB; r++) {
            float *o = out + r * D + d;
            _mm512_storeu_ps(o, _mm512_mul_ps(va, acc0[r]));
            _mm512_mask_storeu_ps(o + 16, m1, _mm512_mul_ps(va, acc1[r]));
        }
    }
    if (d < D) { /* the last 1..16 floats */
        const __mmask16 m0 = mask16(D - d);
        __m512 acc0[6];
        for (int r = 0; r < RB; r++) acc0[r] = _mm512_setzero_ps();
        for (int64_t k = 0; k < K; k++) {
            const __m512 v0 = _mm512_maskz_loadu_ps(m0, rows[k] + d);
            for (int r = 0; r < RB; r++) acc0[r] = _mm512_fmadd_ps(_mm512_set1_ps(w[r * wr + k * wk]), v0, acc0[r]);
        }
        for (int r = 0; r < RB; r++) _mm512_mask_storeu_ps(out + r * D + d, m0, _mm512_mul_ps(va, acc0[r]));
    }
}

T512 static void combine_avx512(const float *w, int64_t wr, int64_t wk, const float *const *rows, int64_t K,
                                int64_t R, int64_t D, float a, float *out) {
    for (int64_t r = 0; r < R;) {
        const int rb = even_tile(R - r, 6);
        const float *wb = w + r * wr;
        float *o = out + r * D;
        switch (rb) {
        case 1: combine_tile512(wb, wr, wk, rows, K, 1, D, a, o); break;
        case 2: combine_tile512(wb, wr, wk, rows, K, 2, D, a, o); break;
        case 3: combine_tile512(wb, wr, wk, rows, K, 3, D, a, o); break;
        case 4: combine_tile512(wb, wr, wk, rows, K, 4, D, a, o); break;
        case 5: combine_tile512(wb, wr, wk, rows, K, 5, D, a, o); break;
        default: combine_tile512(wb, wr, wk, rows, K, 6, D, a, o); break;
        }
        r += rb;
    }
}

/* The scalar logistic's arithmetic on 16 lanes (the same polynomials), masked for the tail: a
 * CBOW window's 6 scores take one pass instead of a scalar loop. */
T512 W2V_INLINE __m512 logistic_lanes512(__m512 s, __m512 t, __m512 *G, __m512 *nls) {
    const __mmask16 pos = _mm512_cmp_ps_mask(t, _mm512_set1_ps(0.5f), _CMP_GT_OQ);
    const __m512 z = _mm512_mask_blend_ps(pos, _mm512_sub_ps(_mm512_setzero_ps(), s), s);
    /* a = min(|z|, 87); minps returns its second operand for a NaN first, as the scalar clamp */
    const __m512 a = _mm512_min_ps(_mm512_abs_ps(z), _mm512_set1_ps(87.0f)); /* abs: AVX-512F only */
    /* e = exp(−a), ag_fast_exp's steps */
    const __m512 x = _mm512_sub_ps(_mm512_setzero_ps(), a);
    const __m512 big = _mm512_set1_ps(12582912.0f);
    const __m512 n = _mm512_sub_ps(_mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504088896341f), big), big);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fmadd_ps(n, _mm512_set1_ps(2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_add_ps(_mm512_fmadd_ps(_mm512_mul_ps(p, r), r, r), _mm512_set1_ps(1.0f));
    const __m512i bits = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvttps_epi32(n), _mm512_set1_epi32(127)), 23);
    const __m512 e = _mm512_mul_ps(p, _mm512_castsi512_ps(bits));
    /* l = log1p(e) by the atanh series */
    const __m512 tt = _mm512_div_ps(e, _mm512_add_ps(_mm512_set1_ps(2.0f), e)), t2 = _mm512_mul_ps(tt, tt);
    __m512 q = _mm512_set1_ps(1.0f / 13);
    q = _mm512_fmadd_ps(q, t2, _mm512_set1_ps(1.0f / 11));
    q = _mm512_fmadd_ps(q, t2, _mm512_set1_ps(1.0f / 9));
    q = _mm512_fmadd_ps(q, t2, _mm512_set1_ps(1.0f / 7));
    q = _mm512_fmadd_ps(q, t2, _mm512_set1_ps(1.0f / 5));
    q = _mm512_fmadd_ps(q, t2, _mm512_set1_ps(1.0f / 3));
    q = _mm512_fmadd_ps(q, t2, _mm512_set1_ps(1.0f));
    const __m512 l = _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(2.0f), tt), q);
    const __mmask16 zpos = _mm512_cmp_ps_mask(z, _mm512_setzero_ps(), _CMP_GE_OQ);
    *nls = _mm512_mask_blend_ps(zpos, _mm512_sub_ps(l, z), l); /* −log σ(z) */
    const __m512 one = _mm512_set1_ps(1.0f);
    const __m512 sig = _mm512_div_ps(_mm512_mask_blend_ps(zpos, e, one), _mm512_add_ps(one, e)); /* σ(z) */
    *G = _mm512_mask_blend_ps(pos, _mm512_sub_ps(one, sig), _mm512_sub_ps(sig, one));
    return z;
}

T512 static float logistic_avx512(const float *S, const float *lab, int64_t K, float *G) {
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < K; i += 16) {
        const __mmask16 m = mask16(K - i);
        __m512 g, nls;
        logistic_lanes512(_mm512_maskz_loadu_ps(m, S + i), _mm512_maskz_loadu_ps(m, lab + i), &g, &nls);
        _mm512_mask_storeu_ps(G + i, m, g);
        acc = _mm512_mask_add_ps(acc, m, acc, nls);
    }
    return _mm512_reduce_add_ps(acc);
}

/* ------------------------------------------------------------------------------------------------
 * AVX2 + FMA: 8 floats per register, 16 registers (so smaller tiles); tails through maskload.
 * --------------------------------------------------------------------------------------------- */
#define T256 __attribute__((target("avx2,fma")))

/* maskload/maskstore lane masks: lanes [0, n) of 8 are mask_tab + 8 - n (n in 0..8). */
static const int32_t mask_tab[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

T256 W2V_INLINE __m256i mask8(int64_t n) {
    n = n < 0 ? 0 : n > 8 ? 8 : n;
    return _mm256_loadu_si256((const __m256i *)(mask_tab + 8 - n));
}

T256 W2V_INLINE float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* RB ≤ 2, NB ≤ 4: 8 accumulators + 2 x + 1 y registers. */
T256 W2V_INLINE void scores_tile256(const float *const *x, const float *const *y, const int RB, const int NB,
                                     int64_t D, float *S, int64_t ldS) {
    __m256 acc[2][4];
    for (int r = 0; r < RB; r++)
        for (int n = 0; n < NB; n++) acc[r][n] = _mm256_setzero_ps();
    int64_t d = 0;
    for (; d + 8 <= D; d += 8) {
        __m256 xv[2];
        for (int r = 0; r < RB; r++) xv[r] = _mm256_loadu_ps(x[r] + d);
        for (int n = 0; n < NB; n++) {
            __m256 yv = _mm256_loadu_ps(y[n] + d);
            for (int r = 0; r < RB; r++) acc[r][n] = _mm256_fmadd_ps(xv[r], yv, acc[r][n]);
        }
    }
    if (d < D) {
        const __m256i m = mask8(D - d);
        __m256 xv[2];
        for (int r = 0; r < RB; r++) xv[r] = _mm256_maskload_ps(x[r] + d, m);
        for (int n = 0; n < NB; n++) {
            __m256 yv = _mm256_maskload_ps(y[n] + d, m);
            for (int r = 0; r < RB; r++) acc[r][n] = _mm256_fmadd_ps(xv[r], yv, acc[r][n]);
        }
    }
    for (int r = 0; r < RB; r++)
        for (int n = 0; n < NB; n++) S[r * ldS + n] = hsum256(acc[r][n]);
}

T256 static void scores_avx2(const float *const *x, int64_t R, const float *const *y, int64_t N, int64_t D,
                             float *S) {
    for (int64_t r = 0; r < R; r += 2) {
        const int rb = R - r < 2 ? (int)(R - r) : 2;
        for (int64_t n = 0; n < N; n += 4) {
            const int nb = N - n < 4 ? (int)(N - n) : 4;
            float *s = S + r * N + n;
            switch ((rb - 1) * 4 + (nb - 1)) {
#define T(RB, NB)                                                                                  \
    case (RB - 1) * 4 + (NB - 1): scores_tile256(x + r, y + n, RB, NB, D, s, N); break;
                T(1, 1) T(1, 2) T(1, 3) T(1, 4) T(2, 1) T(2, 2) T(2, 3) T(2, 4)
#undef T
            }
        }
    }
}

/* RB ≤ 4 rows × 16 floats (two registers per row): 8 accumulators + 2 loads + 1 broadcast. */
T256 W2V_INLINE void combine_tile256(const float *w, int64_t wr, int64_t wk, const float *const *rows, int64_t K,
                                      const int RB, int64_t D, float a, float *out) {
    const __m256 va = _mm256_set1_ps(a);
    for (int64_t d = 0; d < D; d += 16) {
        const bool full = d + 16 <= D;
        const __m256i m0 = mask8(D - d), m1 = mask8(D - d - 8);
        const bool has1 = D - d > 8;
        __m256 acc0[4], acc1[4];
        for (int r = 0; r < RB; r++) acc0[r] = acc1[r] = _mm256_setzero_ps();
        for (int64_t k = 0; k < K; k++) {
            const float *p = rows[k] + d;
            __m256 v0, v1;
            if (full) {
                v0 = _mm256_loadu_ps(p);
                v1 = _mm256_loadu_ps(p + 8);
            } else {
                v0 = _mm256_maskload_ps(p, m0);
                v1 = has1 ? _mm256_maskload_ps(p + 8, m1) : _mm256_setzero_ps();
            }
            for (int r = 0; r < RB; r++) {
                const __m256 c = _mm256_broadcast_ss(w + r * wr + k * wk);
                acc0[r] = _mm256_fmadd_ps(c, v0, acc0[r]);
                acc1[r] = _mm256_fmadd_ps(c, v1, acc1[r]);
            }
        }
        for (int r = 0; r < RB; r++) {
            float *o = out + r * D + d;
            if (full) {
                _mm256_storeu_ps(o, _mm256_mul_ps(va, acc0[r]));
                _mm256_storeu_ps(o + 8, _mm256_mul_ps(va, acc1[r]));
            } else {
                _mm256_maskstore_ps(o, m0, _mm256_mul_ps(va, acc0[r]));
                if (has1) _mm256_maskstore_ps(o + 8, m1, _mm256_mul_ps(va, acc1[r]));
            }
        }
    }
}

T256 static void combine_avx2(const float *w, int64_t wr, int64_t wk, const float *const *rows, int64_t K,
                              int64_t R, int64_t D, float a, float *out) {
    for (int64_t r = 0; r < R; r += 4) {
        const float *wb = w + r * wr;
        float *o = out + r * D;
        switch (R - r < 4 ? (int)(R - r) : 4) {
        case 1: combine_tile256(wb, wr, wk, rows, K, 1, D, a, o); break;
        case 2: combine_tile256(wb, wr, wk, rows, K, 2, D, a, o); break;
        case 3: combine_tile256(wb, wr, wk, rows, K, 3, D, a, o); break;
        default: combine_tile256(wb, wr, wk, rows, K, 4, D, a, o); break;
        }
    }
}
/* The same on 8 lanes (AVX2 has no mask registers: blends on compare results). */
T256 W2V_INLINE void logistic_lanes256(__m256 s, __m256 t, __m256 *G, __m256 *nls) {
    const __m256 pos = _mm256_cmp_ps(t, _mm256_set1_ps(0.5f), _CMP_GT_OQ);
    const __m256 z = _mm256_blendv_ps(_mm256_sub_ps(_mm256_setzero_ps(), s), s, pos);
    const __m256 a = _mm256_min_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), z), _mm256_set1_ps(87.0f));
    const __m256 x = _mm256_sub_ps(_mm256_setzero_ps(), a);
    const __m256 big = _mm256_set1_ps(12582912.0f);
    const __m256 n = _mm256_sub_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), big), big);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fmadd_ps(n, _mm256_set1_ps(2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_add_ps(_mm256_fmadd_ps(_mm256_mul_ps(p, r), r, r), _mm256_set1_ps(1.0f));
    const __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(n), _mm256_set1_epi32(127)), 23);
    const __m256 e = _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
    const __m256 tt = _mm256_div_ps(e, _mm256_add_ps(_mm256_set1_ps(2.0f), e)), t2 = _mm256_mul_ps(tt, tt);
    __m256 q = _mm256_set1_ps(1.0f / 13);
    q = _mm256_fmadd_ps(q, t2, _mm256_set1_ps(1.0f / 11));
    q = _mm256_fmadd_ps(q, t2, _mm256_set1_ps(1.0f / 9));
    q = _mm256_fmadd_ps(q, t2, _mm256_set1_ps(1.0f / 7));
    q = _mm256_fmadd_ps(q, t2, _mm256_set1_ps(1.0f / 5));
    q = _mm256_fmadd_ps(q, t2, _mm256_set1_ps(1.0f / 3));
    q = _mm256_fmadd_ps(q, t2, _mm256_set1_ps(1.0f));
    const __m256 l = _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(2.0f), tt), q);
    const __m256 zpos = _mm256_cmp_ps(z, _mm256_setzero_ps(), _CMP_GE_OQ);
    *nls = _mm256_blendv_ps(_mm256_sub_ps(l, z), l, zpos);
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256 sig = _mm256_div_ps(_mm256_blendv_ps(e, one, zpos), _mm256_add_ps(one, e));
    *G = _mm256_blendv_ps(_mm256_sub_ps(one, sig), _mm256_sub_ps(sig, one), pos);
}

T256 static float logistic_avx2(const float *S, const float *lab, int64_t K, float *G) {
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < K; i += 8) {
        const __m256i m = mask8(K - i);
        __m256 g, nls;
        logistic_lanes256(_mm256_maskload_ps(S + i, m), _mm256_maskload_ps(lab + i, m), &g, &nls);
        _mm256_maskstore_ps(G + i, m, g);
        acc = _mm256_add_ps(acc, _mm256_and_ps(nls, _mm256_castsi256_ps(m)));
    }
    return hsum256(acc);
}
#endif /* W2V_X86 */

/* ------------------------------------------------------------------------------------------------
 * Dispatch
 * --------------------------------------------------------------------------------------------- */
static const ag_w2v_kernels w2v_variants[AG_W2V_ISA_COUNT] = {
    [AG_W2V_ISA_SCALAR] = {AG_W2V_ISA_SCALAR, "scalar", scores_scalar, combine_scalar, logistic_scalar},
#if W2V_X86
    [AG_W2V_ISA_AVX2] = {AG_W2V_ISA_AVX2, "avx2", scores_avx2, combine_avx2, logistic_avx2},
    [AG_W2V_ISA_AVX512] = {AG_W2V_ISA_AVX512, "avx512", scores_avx512, combine_avx512, logistic_avx512},
#endif
};

/* Whether this CPU and OS run isa (libgcc's cpu model checks the OS-enabled register state too). */
static bool isa_supported(ag_w2v_isa isa) {
    switch (isa) {
    case AG_W2V_ISA_SCALAR: return true;
#if W2V_X86
    case AG_W2V_ISA_AVX2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case AG_W2V_ISA_AVX512: return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma");
#endif
    default: return false;
    }
}

const ag_w2v_kernels *ag_w2v_kernels_for(ag_w2v_isa isa) {
    if ((int)isa < 0 || isa >= AG_W2V_ISA_COUNT || !w2v_variants[isa].scores || !isa_supported(isa)) return NULL;
    return &w2v_variants[isa];
}

const ag_w2v_kernels *ag_w2v_kernels_best(void) {
    for (int i = AG_W2V_ISA_COUNT - 1; i > 0; i--) {
        const ag_w2v_kernels *k = ag_w2v_kernels_for((ag_w2v_isa)i);
        if (k) return k;
    }
    return &w2v_variants[AG_W2V_ISA_SCALAR];
}
