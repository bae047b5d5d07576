/* posenc.c — positional encodings: sinusoidal, learned absolute, RoPE, ALiBi, 2-D (sin-cos, learned). */
#include "nn.h"

#include <math.h>
#include <string.h>

void nn_sinusoidal_table(float *out, int64_t T, int64_t D, int64_t pos0, float base) {
    for (int64_t t = 0; t < T; t++)
        for (int64_t i = 0; 2 * i < D; i++) {
            /* Frequency in f32 as the PyTorch reference computes it: exp(-(2i) ln(base) / D). */
            float freq = expf(-(float)(2 * i) * logf(base) / (float)D);
            double ang = (double)((float)(pos0 + t) * freq);
            out[t * D + 2 * i] = (float)sin(ang);
            if (2 * i + 1 < D) out[t * D + 2 * i + 1] = (float)cos(ang);
        }
}

ag_tensor *nn_sinusoidal_add(ag_graph *g, ag_tensor *x, int64_t pos0) {
    AG_CHECK(x->ndim >= 2, "nn_sinusoidal_add", "x must be [..., T, D], got %d dims", x->ndim);
    int64_t T = x->shape[x->ndim - 2], D = x->shape[x->ndim - 1];
    ag_tensor *pe = ag_new(g, AG_F32, 2, (const int64_t[]){T, D}); /* [T, D], constant */
    nn_sinusoidal_table(ag_f32(pe), T, D, pos0, 10000.0f);
    return ag_add(g, x, pe);
}

void nn_learned_pos_init(nn_learned_pos *p, nn_params *ps, const char *prefix, int64_t max_len, int64_t dim) {
    nn_embedding_init(&p->table, ps, prefix, nn_embedding_config_default(max_len, dim));
}

ag_tensor *nn_learned_pos_add(ag_graph *g, const nn_learned_pos *p, ag_tensor *x, int64_t pos0) {
    AG_CHECK(x->ndim >= 2 && x->shape[x->ndim - 1] == p->table.cfg.dim, "nn_learned_pos_add",
             "x must be [..., T, %lld]", (long long)p->table.cfg.dim);
    int64_t T = x->shape[x->ndim - 2];
    if (pos0 < 0 || pos0 + T > p->table.cfg.num) {
        base_error_set("nn_learned_pos_add: positions %lld..%lld outside the table's %lld", (long long)pos0,
                     (long long)(pos0 + T - 1), (long long)p->table.cfg.num);
        return NULL;
    }
    /* A slice of the table is a contiguous row range: gather by position ids keeps the dense or
     * sparse grad behaviour of the table. */
    ag_tensor *ids = ag_new(g, AG_I32, 1, (const int64_t[]){T});
    for (int64_t t = 0; t < T; t++) ag_i32(ids)[t] = (int32_t)(pos0 + t);
    return ag_add(g, x, ag_gather_rows(g, p->table.weight, ids));
}

ag_tensor *nn_rope(ag_graph *g, ag_tensor *x, int64_t pos0, float theta, bool interleaved) {
    return ag_rope(g, x, pos0, theta, interleaved);
}

/* Press et al.'s reference: for H a power of two, slopes start at 2^(-8/H) and form a geometric
 * series with that ratio; otherwise take the closest power of two below, and add every other
 * slope of the series for twice that power. */
static void slopes_pow2(int64_t n, double *out) {
    double start = pow(2.0, -pow(2.0, -(log2((double)n) - 3.0)));
    for (int64_t i = 0; i < n; i++) out[i] = start * pow(start, (double)i);
}

void nn_alibi_slopes(int64_t H, float *out) {
    AG_CHECK(H > 0 && H <= 4096, "nn_alibi_slopes", "heads %lld outside 1..4096", (long long)H);
    double buf[8192];
    int64_t p2 = 1;
    while (p2 * 2 <= H) p2 *= 2;
    slopes_pow2(p2, buf);
    for (int64_t i = 0; i < p2; i++) out[i] = (float)buf[i];
    if (p2 < H) {
        slopes_pow2(2 * p2, buf);
        for (int64_t i = 0; i < H - p2; i++) out[p2 + i] = (float)buf[2 * i];
    }
}

ag_tensor *nn_alibi_bias(ag_graph *g, int64_t H, int64_t T, int64_t S) {
    float *slopes = ag_arena_alloc(ag_graph_arena(g), (size_t)H * sizeof(float)); /* [H] */
    nn_alibi_slopes(H, slopes);
    ag_tensor *bias = ag_new(g, AG_F32, 3, (const int64_t[]){H, T, S}); /* [H, T, S] */
    float *b = ag_f32(bias);
    for (int64_t h = 0; h < H; h++)
        for (int64_t t = 0; t < T; t++)
            for (int64_t s = 0; s < S; s++) {
                int64_t d = t + (S - T) - s;
                b[(h * T + t) * S + s] = -slopes[h] * (float)(d < 0 ? -d : d);
            }
    return bias;
}

/* 1-D MAE encoding of position p into D' = 2·F values: [sin(p ω_0..ω_F-1), cos(p ω_0..ω_F-1)],
 * ω_i = base^(-i/F) (computed in double as the numpy reference does). */
static void sincos_1d(float *out, int64_t F, double p, double base) {
    for (int64_t i = 0; i < F; i++) {
        double w = 1.0 / pow(base, (double)i / (double)F);
        out[i] = (float)sin(p * w);
        out[F + i] = (float)cos(p * w);
    }
}

void nn_sincos_2d_table(float *out, int64_t rows, int64_t cols, int64_t D, float base) {
    AG_CHECK(D % 4 == 0, "nn_sincos_2d_table", "dim %lld must be a multiple of 4", (long long)D);
    int64_t F = D / 4;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) {
            float *o = out + (r * cols + c) * D;
            sincos_1d(o, F, (double)c, base);         /* MAE's first half: the column (w) */
            sincos_1d(o + D / 2, F, (double)r, base); /* second half: the row (h) */
        }
}

ag_tensor *nn_sincos_2d_add(ag_graph *g, ag_tensor *x, int64_t rows, int64_t cols) {
    int64_t D = x->shape[x->ndim - 1];
    AG_CHECK(x->ndim == 3 && x->shape[1] == rows * cols, "nn_sincos_2d_add", "x must be [B, %lld, D]",
             (long long)(rows * cols));
    ag_tensor *pe = ag_new(g, AG_F32, 2, (const int64_t[]){rows * cols, D}); /* [N, D], constant */
    nn_sincos_2d_table(ag_f32(pe), rows, cols, D, 10000.0f);
    return ag_add(g, x, pe);
}

void nn_learned_pos_2d_init(nn_learned_pos_2d *p, nn_params *ps, const char *prefix, int64_t rows, int64_t cols,
                            int64_t dim) {
    char nm[NN_NAME_MAX];
    p->rows = rows;
    p->cols = cols;
    p->dim = dim;
    p->row = nn_params_add(ps, nn_name(nm, sizeof nm, prefix, "row"), 2, (const int64_t[]){rows, dim}, NN_INIT_NORMAL,
                           0.02f, 0, false);
    p->col = nn_params_add(ps, nn_name(nm, sizeof nm, prefix, "col"), 2, (const int64_t[]){cols, dim}, NN_INIT_NORMAL,
                           0.02f, 0, false);
}

ag_tensor *nn_learned_pos_2d_add(ag_graph *g, const nn_learned_pos_2d *p, ag_tensor *x) {
    AG_CHECK(x->ndim == 3 && x->shape[1] == p->rows * p->cols && x->shape[2] == p->dim, "nn_learned_pos_2d_add",
             "x must be [B, %lld, %lld]", (long long)(p->rows * p->cols), (long long)p->dim);
    /* row[r] broadcast over columns + col[c] broadcast over rows: [rows, 1, D] + [1, cols, D]. */
    ag_tensor *r = ag_reshape(g, p->row, 3, (const int64_t[]){p->rows, 1, p->dim});
    ag_tensor *c = ag_reshape(g, p->col, 3, (const int64_t[]){1, p->cols, p->dim});
    ag_tensor *pe = ag_reshape(g, ag_add(g, r, c), 2, (const int64_t[]){p->rows * p->cols, p->dim});
    return ag_add(g, x, pe);
}
