/* ops_rope.c — rotary position embedding (RoPE), half-split and interleaved layouts. */
#include "ag_internal.h"

#include <math.h>

/* Index of the two members of pair i (i < Dh/2) in a row of Dh values. */
static inline void pair_index(bool interleaved, int64_t half, int64_t i, int64_t *a, int64_t *b) {
    if (interleaved) {
        *a = 2 * i;
        *b = 2 * i + 1;
    } else {
        *a = i;
        *b = i + half;
    }
}

/* Rotates every row of x by +angle (sign = 1) or −angle (sign = −1), accumulating into y when
 * accumulate is set. x, y: [R, T, Dh] with R = all leading dims; cs: [T, Dh/2, 2] (cos, sin). */
static void rotate(float *y, const float *x, const float *cs, int64_t R, int64_t T, int64_t Dh, bool interleaved,
                   float sign, bool accumulate) {
    int64_t half = Dh / 2;
#pragma omp parallel for if (R * T * Dh > AG_PAR_THRESHOLD)
    for (int64_t r = 0; r < R; r++) {
        for (int64_t t = 0; t < T; t++) {
            const float *xr = x + (r * T + t) * Dh; /* [Dh] */
            float *yr = y + (r * T + t) * Dh;       /* [Dh] */
            const float *c = cs + t * half * 2;     /* [Dh/2, 2] */
            for (int64_t i = 0; i < half; i++) {
                int64_t a, b;
                pair_index(interleaved, half, i, &a, &b);
                float co = c[2 * i], si = sign * c[2 * i + 1];
                float xa = xr[a], xb = xr[b];
                float ya = xa * co - xb * si, yb = xa * si + xb * co;
                if (accumulate) {
                    yr[a] += ya;
                    yr[b] += yb;
                } else {
                    yr[a] = ya;
                    yr[b] = yb;
                }
            }
        }
    }
}

/* dx = R(−angle) g: the rotation is orthogonal, so its transpose is the inverse rotation. */
static void rope_backward(ag_graph *g, ag_node *n) {
    ag_tensor *x = n->in[0];
    if (!ag_requires_grad(x)) return;
    int64_t T = x->shape[x->ndim - 2], Dh = x->shape[x->ndim - 1], R = x->numel / (T * Dh);
    rotate(ag_grad(g, x), n->out->grad, (const float *)n->saved, R, T, Dh, n->ip[0] != 0, -1.0f, true);
}

ag_tensor *ag_rope(ag_graph *g, ag_tensor *x, int64_t pos0, float theta, bool interleaved) {
    ag_check_f32("rope", x);
    AG_CHECK(x->ndim >= 2, "rope", "x must be [..., T, Dh], got %d dims", x->ndim);
    int64_t T = x->shape[x->ndim - 2], Dh = x->shape[x->ndim - 1];
    AG_CHECK(Dh % 2 == 0, "rope", "head dim %lld must be even", (long long)Dh);
    AG_CHECK(pos0 >= 0 && theta > 0, "rope", "pos0 %lld must be >= 0 and theta %g > 0", (long long)pos0,
             (double)theta);
    int64_t half = Dh / 2, R = (T * Dh != 0) ? x->numel / (T * Dh) : 0;
    /* cos/sin table [T, Dh/2, 2]; the frequency is computed in f32 as PyTorch references do
     * (inv_freq = 1 / θ^(2i/Dh)), the angle and its cos/sin in double. */
    float *cs = ag_arena_alloc(ag_graph_arena(g), (size_t)(T * half * 2 + 1) * sizeof(float));
    for (int64_t i = 0; i < half; i++) {
        float inv_freq = 1.0f / powf(theta, (float)(2 * i) / (float)Dh);
        for (int64_t t = 0; t < T; t++) {
            float ang = (float)(pos0 + t) * inv_freq;
            cs[(t * half + i) * 2] = (float)cos((double)ang);
            cs[(t * half + i) * 2 + 1] = (float)sin((double)ang);
        }
    }
    ag_tensor *out = ag_new(g, AG_F32, x->ndim, x->shape);
    rotate(ag_f32(out), ag_f32(x), cs, R, T, Dh, interleaved, 1.0f, false);
    ag_node *n = ag_record(g, AG_OP_ROPE, rope_backward, out, 1, (ag_tensor *[]){x});
    if (n) {
        n->saved = cs;
        n->ip[0] = interleaved;
        n->ip[1] = pos0;
        n->fp[0] = theta;
    }
    return out;
}
