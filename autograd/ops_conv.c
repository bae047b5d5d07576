/* ops_conv.c — 2-D convolution (PyTorch's cross-correlation, zero padding) via im2col + sgemm. */
#include "ag_internal.h"

#include <cblas.h>
#include <omp.h>
#include <string.h>

/* Threads: a batch of small images (a 28×28 patch embedding, a 40×96 spectrogram) gives each image
 * a GEMM too small for OpenBLAS to thread well, and on a loaded machine every threaded GEMM is a
 * wake-up that can wait a time slice. When there are at least as many images as OpenMP threads and
 * the work is not tiny, images are spread over OpenMP threads instead, each running its im2col and
 * its GEMMs single-threaded with its own scratch (OpenBLAS is set to one thread around the loop and
 * restored after, as ops_attention.c's HEADS mode does); weight grads go to per-thread buffers
 * summed after the loop in thread order, so results are deterministic for a given thread count. */
#define CONV_SERIAL_WORK (1 << 20) /* multiply-adds per call below which threads cost more than they give */

static int conv_threads(int64_t B, int64_t work) {
    int nt = omp_get_max_threads();
    return nt > 1 && B >= nt && work >= CONV_SERIAL_WORK ? nt : 1;
}

typedef struct conv_geom {
    int64_t C, H, W, O, KH, KW, Ho, Wo, stride, pad;
} conv_geom;

/* cols [C·KH·KW, Ho·Wo] from one image x [C, H, W]; row (c·KH + i)·KW + j, column oh·Wo + ow holds
 * x[c, oh·s − p + i, ow·s − p + j] (0 outside the image). */
static void im2col(float *cols, const float *x, const conv_geom *q) {
    int64_t HW = q->Ho * q->Wo;
#pragma omp parallel for if (q->C * q->KH * q->KW * HW > AG_PAR_THRESHOLD)
    for (int64_t r = 0; r < q->C * q->KH * q->KW; r++) {
        int64_t c = r / (q->KH * q->KW), i = (r / q->KW) % q->KH, j = r % q->KW;
        float *dst = cols + r * HW;
        const float *src = x + c * q->H * q->W;
        for (int64_t oh = 0; oh < q->Ho; oh++) {
            int64_t h = oh * q->stride - q->pad + i;
            if (h < 0 || h >= q->H) {
                memset(dst + oh * q->Wo, 0, (size_t)q->Wo * sizeof(float));
                continue;
            }
            for (int64_t ow = 0; ow < q->Wo; ow++) {
                int64_t w = ow * q->stride - q->pad + j;
                dst[oh * q->Wo + ow] = (w >= 0 && w < q->W) ? src[h * q->W + w] : 0.0f;
            }
        }
    }
}

/* dx [C, H, W] += col2im(dcols [C·KH·KW, Ho·Wo]): the adjoint of im2col. Parallel over channels
 * (each channel's rows write only that channel's plane). */
static void col2im_add(float *dx, const float *dcols, const conv_geom *q) {
    int64_t HW = q->Ho * q->Wo;
#pragma omp parallel for if (q->C * q->KH * q->KW * HW > AG_PAR_THRESHOLD)
    for (int64_t c = 0; c < q->C; c++) {
        float *plane = dx + c * q->H * q->W;
        for (int64_t i = 0; i < q->KH; i++)
            for (int64_t j = 0; j < q->KW; j++) {
                const float *src = dcols + ((c * q->KH + i) * q->KW + j) * HW;
                for (int64_t oh = 0; oh < q->Ho; oh++) {
                    int64_t h = oh * q->stride - q->pad + i;
                    if (h < 0 || h >= q->H) continue;
                    for (int64_t ow = 0; ow < q->Wo; ow++) {
                        int64_t w = ow * q->stride - q->pad + j;
                        if (w >= 0 && w < q->W) plane[h * q->W + w] += src[oh * q->Wo + ow];
                    }
                }
            }
    }
}

static conv_geom geom_of(const ag_node *n) {
    const ag_tensor *x = n->in[0], *w = n->in[1];
    conv_geom q = {x->shape[1], x->shape[2], x->shape[3], w->shape[0], w->shape[2], w->shape[3],
                   n->out->shape[2], n->out->shape[3], n->ip[0], n->ip[1]};
    return q;
}

static void conv2d_backward(ag_graph *g, ag_node *n) {
    ag_tensor *x = n->in[0], *w = n->in[1], *b = n->nin > 2 ? n->in[2] : NULL;
    conv_geom q = geom_of(n);
    int64_t B = x->shape[0], HW = q.Ho * q.Wo, K = q.C * q.KH * q.KW;
    const float *dout = n->out->grad; /* [B, O, Ho·Wo] */
    bool need_x = ag_requires_grad(x), need_w = ag_requires_grad(w), need_b = b && ag_requires_grad(b);
    float *dx = need_x ? ag_grad(g, x) : NULL;  /* [B, C, H, W] */
    float *dw = need_w ? ag_grad(g, w) : NULL;  /* [O, K] */
    float *db = need_b ? ag_grad(g, b) : NULL;  /* [O] */
    int nt = conv_threads(B, B * q.O * K * HW);
    ag_arena *A = ag_graph_arena(g);
    float *cols_all = ag_arena_alloc(A, (size_t)(nt * K * HW) * sizeof(float)); /* [nt, K, HW] scratch */
    /* [nt, O, K] per-thread weight grads (thread 0 writes dw itself) */
    float *dw_part = need_w && nt > 1 ? ag_arena_calloc(A, (size_t)((nt - 1) * q.O * K) * sizeof(float)) : NULL;
    int blas = nt > 1 ? openblas_get_num_threads() : 1;
    if (blas != 1) openblas_set_num_threads(1);
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
    for (int64_t bi = 0; bi < B; bi++) {
        int t = nt > 1 ? omp_get_thread_num() : 0;
        float *cols = cols_all + (int64_t)t * K * HW; /* [K, HW] */
        float *dwt = t == 0 ? dw : dw_part + (int64_t)(t - 1) * q.O * K;
        const float *gb = dout + bi * q.O * HW; /* [O, HW] */
        if (need_w) {
            im2col(cols, ag_f32(x) + bi * q.C * q.H * q.W, &q);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)q.O, (int)K, (int)HW, 1.0f, gb, (int)HW,
                        cols, (int)HW, 1.0f, dwt, (int)K);
        }
        if (need_x) {
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)K, (int)HW, (int)q.O, 1.0f, ag_f32(w),
                        (int)K, gb, (int)HW, 0.0f, cols, (int)HW);
            col2im_add(dx + bi * q.C * q.H * q.W, cols, &q);
        }
    }
    if (blas != 1) openblas_set_num_threads(blas);
    for (int t = 1; need_w && t < nt; t++)
        for (int64_t i = 0; i < q.O * K; i++) dw[i] += dw_part[(int64_t)(t - 1) * q.O * K + i];
    if (need_b)
        for (int64_t bi = 0; bi < B; bi++) {
            const float *gb = dout + bi * q.O * HW; /* [O, HW] */
            for (int64_t o = 0; o < q.O; o++) {
                double sum = 0;
                for (int64_t k = 0; k < HW; k++) sum += gb[o * HW + k];
                db[o] += (float)sum;
            }
        }
}

ag_tensor *ag_conv2d(ag_graph *g, ag_tensor *x, ag_tensor *w, ag_tensor *b, int stride, int pad) {
    ag_check_f32("conv2d", x);
    ag_check_f32("conv2d", w);
    char sx[96], sw[96];
    AG_CHECK(x->ndim == 4 && w->ndim == 4 && x->shape[1] == w->shape[1], "conv2d",
             "expected x [B, C, H, W] and w [O, C, KH, KW], got %s and %s", ag_shape_str(x, sx, sizeof sx),
             ag_shape_str(w, sw, sizeof sw));
    AG_CHECK(stride >= 1 && pad >= 0, "conv2d", "stride %d must be >= 1 and padding %d >= 0", stride, pad);
    if (b) {
        ag_check_f32("conv2d", b);
        AG_CHECK(b->numel == w->shape[0], "conv2d", "bias has %lld values for %lld output channels",
                 (long long)b->numel, (long long)w->shape[0]);
    }
    conv_geom q = {x->shape[1], x->shape[2], x->shape[3], w->shape[0], w->shape[2], w->shape[3], 0, 0, stride, pad};
    AG_CHECK(q.H + 2 * pad >= q.KH && q.W + 2 * pad >= q.KW, "conv2d", "kernel %lldx%lld larger than padded input %s",
             (long long)q.KH, (long long)q.KW, ag_shape_str(x, sx, sizeof sx));
    q.Ho = (q.H + 2 * pad - q.KH) / stride + 1;
    q.Wo = (q.W + 2 * pad - q.KW) / stride + 1;
    int64_t B = x->shape[0], HW = q.Ho * q.Wo, K = q.C * q.KH * q.KW;
    ag_tensor *out = ag_new(g, AG_F32, 4, (const int64_t[]){B, q.O, q.Ho, q.Wo});
    /* The cols buffers are scratch: backward recomputes them (cheaper than keeping B copies). */
    int nt = conv_threads(B, B * q.O * K * HW);
    float *cols_all = ag_arena_alloc(ag_graph_arena(g), (size_t)(nt * K * HW) * sizeof(float)); /* [nt, K, HW] */
    int blas = nt > 1 ? openblas_get_num_threads() : 1;
    if (blas != 1) openblas_set_num_threads(1);
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
    for (int64_t bi = 0; bi < B; bi++) {
        float *cols = cols_all + (int64_t)(nt > 1 ? omp_get_thread_num() : 0) * K * HW; /* [K, HW] */
        float *y = ag_f32(out) + bi * q.O * HW; /* [O, HW] */
        im2col(cols, ag_f32(x) + bi * q.C * q.H * q.W, &q);
        if (b)
            for (int64_t o = 0; o < q.O; o++)
                for (int64_t k = 0; k < HW; k++) y[o * HW + k] = ag_f32(b)[o];
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)q.O, (int)HW, (int)K, 1.0f, ag_f32(w), (int)K,
                    cols, (int)HW, b ? 1.0f : 0.0f, y, (int)HW);
    }
    if (blas != 1) openblas_set_num_threads(blas);
    ag_node *n = ag_record(g, AG_OP_CONV2D, conv2d_backward, out, b ? 3 : 2, (ag_tensor *[]){x, w, b});
    if (n) {
        n->ip[0] = stride;
        n->ip[1] = pad;
    }
    return out;
}
