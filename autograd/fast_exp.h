/* fast_exp.h — a vectorisable single-precision e^x for softmax-style loops (private to autograd/). */
#ifndef EMBER_FAST_EXP_H
#define EMBER_FAST_EXP_H

#include <stdint.h>
#include <string.h>

/* e^x with ≤ 2 ulp error on [-87, 88] (Cephes' expf polynomial), exactly 0 below -87 (so -inf
 * gives 0) and e^88 above 88. Written as straight-line float/int arithmetic so that GCC turns a
 * loop over it into AVX/AVX-512 code; libm's expf is a call per element (~4 ns here). Callers
 * feed it x − max, i.e. x ≤ 0, where it is accurate. NaN in gives NaN out, so a diverging loss
 * still shows as NaN (the clamp maps NaN to -87 first, keeping the int conversion below defined). */
static inline float ag_fast_exp(float x) {
    float xc = x > -87.0f ? x : -87.0f;
    xc = xc < 88.0f ? xc : 88.0f;
    /* n = round(x / ln 2) by the 1.5·2^23 trick (floorf would keep GCC from vectorising) */
    float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = xc - n * 0.693359375f;                               /* x − n ln 2 in two steps */
    r = r + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23; /* 2^n; n ∈ [-126, 127] after the clamp */
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    float v = p * scale;
    return x < -87.0f ? 0.0f : (x == x ? v : x);
}

/* erf(x) by Abramowitz & Stegun 7.1.26 (absolute error < 1.5e-7, enough for f32 GELU), on
 * ag_fast_exp, as straight-line code so that loops over it vectorise (libm's erff is a call per
 * element). The same approximation as the fused GELU epilogue of ops_linear.c. */
static inline float ag_fast_erf(float x) {
    float a = x < 0 ? -x : x;
    float t = 1.0f / (1.0f + 0.3275911f * a);
    float poly = t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
    float y = 1.0f - poly * ag_fast_exp(-a * a);
    return x < 0 ? -y : y;
}

#endif
