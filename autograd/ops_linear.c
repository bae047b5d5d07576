/* ops_linear.c — fused affine map y = x Wᵀ + b on OpenBLAS (one GEMM, no separate bias tensor). */
#include "ag_internal.h"

#include <cblas.h>
#include <string.h>

/* Column sums of dy [N, M] added into db [M]: blocks of 64 columns per thread, rows streamed, the
 * 64 partial sums kept in registers/L1 (vectorisable: no aliasing between dy and acc). */
static void column_sums_add(float *db, const float *dy, int64_t N, int64_t M) {
    int64_t nblk = (M + 63) / 64;
#pragma omp parallel for schedule(static) if (N * M > AG_PAR_THRESHOLD)
    for (int64_t blk = 0; blk < nblk; blk++) {
        int64_t j0 = blk * 64, w = M - j0 < 64 ? M - j0 : 64;
        float acc[64] = {0};
        for (int64_t r = 0; r < N; r++) {
            const float *row = dy + r * M + j0;
            for (int64_t j = 0; j < w; j++) acc[j] += row[j];
        }
        for (int64_t j = 0; j < w; j++) db[j0 + j] += acc[j];
    }
}

/* dx [N, in] += dy [N, out] · W [out, in];  dW [out, in] += dyᵀ · x;  db [out] += Σ_rows dy. */
static void linear_backward(ag_graph *g, ag_node *n) {
    ag_tensor *x = n->in[0], *w = n->in[1], *b = n->nin > 2 ? n->in[2] : NULL;
    int64_t out = w->shape[0], in = w->shape[1], N = x->numel / in;
    const float *dy = n->out->grad; /* [N, out] */
    if (N == 0) return;
    if (ag_requires_grad(x))
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)N, (blasint)in, (blasint)out, 1.0f, dy,
                    (blasint)out, ag_f32(w), (blasint)in, 1.0f, ag_grad(g, x), (blasint)in);
    if (ag_requires_grad(w))
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (blasint)out, (blasint)in, (blasint)N, 1.0f, dy,
                    (blasint)out, ag_f32(x), (blasint)in, 1.0f, ag_grad(g, w), (blasint)in);
    if (b && ag_requires_grad(b)) column_sums_add(ag_grad(g, b), dy, N, out);
}

ag_tensor *ag_linear(ag_graph *g, ag_tensor *x, ag_tensor *w, ag_tensor *b) {
    ag_check_f32("linear", x);
    ag_check_f32("linear", w);
    char sx[96], sw[96];
    AG_CHECK(w->ndim == 2 && x->ndim >= 1 && x->shape[x->ndim - 1] == w->shape[1], "linear",
             "x %s does not end in w %s's input size", ag_shape_str(x, sx, sizeof sx), ag_shape_str(w, sw, sizeof sw));
    int64_t out = w->shape[0], in = w->shape[1], N = x->numel / (in ? in : 1);
    if (b) {
        ag_check_f32("linear", b);
        AG_CHECK(b->numel == out, "linear", "bias has %lld values for %lld outputs", (long long)b->numel, (long long)out);
    }
    int64_t shape[AG_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) shape[i] = x->shape[i];
    shape[x->ndim - 1] = out;
    ag_tensor *y = ag_new(g, AG_F32, x->ndim, shape); /* [N, out] */
    float *yv = ag_f32(y);
    if (N > 0 && out > 0) {
        if (b) {
            const float *bv = ag_f32(b);
#pragma omp parallel for schedule(static) if (N * out > AG_PAR_THRESHOLD)
            for (int64_t r = 0; r < N; r++) memcpy(yv + r * out, bv, (size_t)out * sizeof(float));
        }
        if (in > 0)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)N, (blasint)out, (blasint)in, 1.0f, ag_f32(x),
                        (blasint)in, ag_f32(w), (blasint)in, b ? 1.0f : 0.0f, yv, (blasint)out);
        else if (!b)
            memset(yv, 0, (size_t)(N * out) * sizeof(float));
    }
    ag_record(g, AG_OP_LINEAR, linear_backward, y, b ? 3 : 2, (ag_tensor *[]){x, w, b});
    return y;
}
