/* chapter_positional.c — `ember chapter positional`: sinusoidal, 2-D patch, RoPE and ALiBi positions, and word order. */
#include "chapter.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ag.h"
#include "nn/nn.h"
#include "train/eval.h"

#define SETF EXP_SETF

/* The sinusoidal table: a heat map, uniqueness of every position, and PE(p + k) = R_k PE(p). */
static void sinusoidal(exp_section *s) {
    enum { T = 512, D = 128 };
    float *pe = base_xmalloc((size_t)T * D * sizeof *pe);
    nn_sinusoidal_table(pe, T, D, 0, 10000.0f);
    /* uniqueness: the closest two positions (Euclidean) among 512 */
    double closest = INFINITY;
    int64_t ca = 0, cb = 0;
    for (int64_t a = 0; a < T; a++)
        for (int64_t b = a + 1; b < T; b++) {
            double d2 = 0;
            for (int j = 0; j < D; j++) d2 += ((double)pe[a * D + j] - pe[b * D + j]) * ((double)pe[a * D + j] - pe[b * D + j]);
            if (d2 < closest) closest = d2, ca = a, cb = b;
        }
    exp_basics_item *it = exp_item_add(&s->r, "sinusoidal.unique", closest > 1e-6 ? EXP_MATCH : EXP_MISMATCH, sqrt(closest));
    SETF(it->what, "sinusoidal encodings (d = %d, base 10000): is every position's vector different?", D);
    SETF(it->claim, "(essay) sine and cosine at different frequencies create unique position vectors");
    SETF(it->ember, "yes: the closest two of %d positions (%lld and %lld) are %.4f apart (Euclidean; every vector has "
                    "norm %.3f = sqrt(d/2))",
         T, (long long)ca, (long long)cb, sqrt(closest), sqrt(D / 2.0));
    /* PE(p + k) is a rotation of PE(p): each (sin, cos) pair turns by k·ω_i */
    double worst = 0;
    for (int64_t p = 0; p + 7 < T; p += 13)
        for (int i = 0; i < D / 2; i++) {
            double w = pow(10000.0, -2.0 * i / D), k = 7;
            double sp = pe[p * D + 2 * i], cp = pe[p * D + 2 * i + 1];
            double s2 = sp * cos(k * w) + cp * sin(k * w), c2 = cp * cos(k * w) - sp * sin(k * w);
            worst = fmax(worst, fmax(fabs(s2 - pe[(p + 7) * D + 2 * i]), fabs(c2 - pe[(p + 7) * D + 2 * i + 1])));
        }
    it = exp_item_add(&s->r, "sinusoidal.shift", worst < 1e-3 ? EXP_MATCH : EXP_MISMATCH, worst);
    SETF(it->what, "sinusoidal: PE(p + 7) from PE(p) by a fixed rotation of each (sin, cos) pair");
    SETF(it->claim, "(Vaswani et al.) a relative offset is a linear function of the encoding");
    SETF(it->ember, "largest error over positions 0..505 and all 64 pairs: %.2g (float table, double rotation)", worst);
    /* the heat map shows the first 100 positions */
    exp_section_fig(s, exp_fig_heatmap("Sinusoidal encodings: positions x dimensions", pe, 100, D, EXP_CMAP_DIVERGING,
                                       "dimension (even: sin, odd: cos; frequency falls to the right)", "position", 640, 440),
                    "nn_sinusoidal_table(T=100, d=128, base 10000). Low dimensions turn fast, high ones slowly, so each "
                    "row is a different pattern.");
    /* the chapter's example: its positions are illustrative, not sinusoidal */
    it = exp_item_add(&s->r, "sinusoidal.chapter_positions", EXP_INFO, pe[0 * D + 1]);
    SETF(it->what, "the chapter's position vectors vs the sinusoidal ones");
    SETF(it->claim, "Position 0: [0.1, 0.0, 0.1, ...], Position 1: [0.0, 0.1, 0.2, ...] (no scheme named)");
    SETF(it->ember, "illustrative values: sinusoidal PE(0) = [%.3f, %.3f, %.3f, %.3f, ...] (sin 0 = 0, cos 0 = 1), PE(1) = "
                    "[%.3f, %.3f, %.3f, %.3f, ...]; a learned table starts as N(0, 0.02) noise",
         (double)pe[0], (double)pe[1], (double)pe[2], (double)pe[3], (double)pe[D], (double)pe[D + 1], (double)pe[D + 2],
         (double)pe[D + 3]);
    free(pe);
}

/* The chapter's own sum: word + position. */
static void chapter_sum(exp_section *s) {
    ag_graph *g = ag_graph_new(0);
    const float w[3] = {0.2f, -0.5f, 0.3f}, p[3] = {0.1f, 0.0f, 0.1f};
    const float *y = ag_f32(ag_add(g, ag_from_f32(g, AG_SHAPE(3), w), ag_from_f32(g, AG_SHAPE(3), p)));
    bool ok = fabsf(y[0] - 0.3f) < 1e-6f && fabsf(y[1] + 0.5f) < 1e-6f && fabsf(y[2] - 0.4f) < 1e-6f;
    exp_basics_item *it = exp_item_add(&s->r, "positional.chapter_sum", ok ? EXP_MATCH : EXP_MISMATCH, y[2]);
    SETF(it->what, "the chapter's example: \"cat\" + position 0");
    SETF(it->claim, "[0.2, -0.5, 0.3, ...] + [0.1, 0.0, 0.1, ...] = [0.3, -0.5, 0.4, ...]");
    SETF(it->ember, "ag_add gives [%.4f, %.4f, %.4f]", (double)y[0], (double)y[1], (double)y[2]);
    ag_graph_free(g);
}

/* 2-D sin-cos positions for ViT's 14 x 14 patch grid: similarity of every patch to two patches. */
static void grid_2d(exp_section *s) {
    enum { R = 14, C = 14, D = 128 };
    float *t = base_xmalloc((size_t)R * C * D * sizeof *t);
    nn_sincos_2d_table(t, R, C, D, 10000.0f);
    float *sim = base_xmalloc((size_t)R * C * sizeof *sim), *sim0 = base_xmalloc((size_t)R * C * sizeof *sim0);
    const int64_t centre = 7 * C + 7;
    for (int64_t k = 0; k < R * C; k++) {
        sim[k] = (float)train_cosine(t + centre * D, t + k * D, D);
        sim0[k] = (float)train_cosine(t, t + k * D, D);
    }
    /* cosine against grid distance (Spearman: closer patches should be more similar) */
    double xs[R * C], ys[R * C];
    for (int64_t k = 0; k < R * C; k++) {
        double dr = (double)(k / C) - 7, dc = (double)(k % C) - 7;
        xs[k] = -sqrt(dr * dr + dc * dc);
        ys[k] = sim[k];
    }
    double rho = train_spearman(xs, ys, R * C);
    double row_nb = sim[7 * C + 8], col_nb = sim[8 * C + 7];
    exp_basics_item *it = exp_item_add(&s->r, "patches.2d_sincos", rho > 0.8 ? EXP_MATCH : EXP_MISMATCH, rho);
    SETF(it->what, "2-D sin-cos positions for the 14 x 14 patch grid (d = %d): similarity against grid distance", D);
    SETF(it->claim, "(essay) 2-D encodings carry both row and column, so nearby patches get similar codes");
    SETF(it->ember, "Spearman(cosine to patch (7,7), -distance) over 196 patches = %.3f; the right neighbour %.3f and the "
                    "one below %.3f (rows and columns are encoded alike); the far corner (0,0): %.3f",
         rho, row_nb, col_nb, (double)sim[0]);
    exp_section_fig(s, exp_fig_heatmap("2-D sin-cos: cosine of every patch to patch (7,7)", sim, R, C, EXP_CMAP_DIVERGING,
                                       "patch column", "patch row", 460, 420),
                    "nn_sincos_2d_table(14, 14, d=128): the first half of each vector encodes the column, the second "
                    "the row (MAE's layout).");
    exp_section_fig(s, exp_fig_heatmap("2-D sin-cos: cosine of every patch to patch (0,0)", sim0, R, C, EXP_CMAP_DIVERGING,
                                       "patch column", "patch row", 460, 420),
                    "The same table seen from the top-left corner.");
    free(t);
    free(sim);
    free(sim0);
}

/* RoPE: the score of a (q, k) pair at positions (m, n) is unchanged by a common shift. */
static void rope_table(exp_section *s, uint64_t seed) {
    enum { DH = 64 };
    ag_graph *g = ag_graph_new(0);
    base_rng rng;
    base_rng_seed(&rng, seed);
    float q[DH], k[DH];
    for (int i = 0; i < DH; i++) q[i] = base_rng_normal(&rng), k[i] = base_rng_normal(&rng);
    ag_tensor *qt = ag_from_f32(g, AG_SHAPE(1, 1, 1, DH), q), *kt = ag_from_f32(g, AG_SHAPE(1, 1, 1, DH), k);
    const int64_t pairs[4][2] = {{0, 3}, {5, 5}, {10, 2}, {40, 100}}, shifts[5] = {0, 1, 10, 100, 1000};
    static char rows[5][160];
    const char *rp[5];
    snprintf(rows[0], sizeof rows[0], "(m, n)|s=0|s=1|s=10|s=100|s=1000");
    double worst = 0;
    for (int p = 0; p < 4; p++) {
        int o = snprintf(rows[p + 1], sizeof rows[0], "(%lld, %lld)", (long long)pairs[p][0], (long long)pairs[p][1]);
        double ref = 0;
        for (int si = 0; si < 5; si++) {
            const float *a = ag_f32(ag_rope(g, qt, pairs[p][0] + shifts[si], 10000.0f, false));
            const float *b = ag_f32(ag_rope(g, kt, pairs[p][1] + shifts[si], 10000.0f, false));
            double d = 0;
            for (int i = 0; i < DH; i++) d += (double)a[i] * b[i];
            if (si == 0) ref = d;
            worst = fmax(worst, fabs(d - ref));
            o += snprintf(rows[p + 1] + o, sizeof rows[0] - (size_t)o, "|%.4f", d);
        }
    }
    for (int i = 0; i < 5; i++) rp[i] = rows[i];
    exp_basics_item *it = exp_item_add(&s->r, "rope.offset_table", worst < 1e-3 ? EXP_MATCH : EXP_MISMATCH, worst);
    SETF(it->what, "RoPE offset invariance: q·k for one random (q, k) pair at (m, n) and shifted by s");
    SETF(it->claim, "μOmni uses RoPE, which \"doesn't add, rotates\" (so attention sees relative positions)");
    SETF(it->ember, "every row is constant across shifts up to 1000: largest change %.2g (float rounding); the score "
                    "depends on m - n only. Table in the figure; 2,000 random pairs in `chapter basics`",
         worst);
    exp_section_fig(s, exp_fig_table("RoPE: q·k at positions (m + s, n + s)", rp, 5),
                    "ag_rope, half-split as μOmni, head dim 64, θ 10000; one random q and k.");
    /* long-term decay: mean over random pairs of q·k with k = q at distance Δ (normalised by Δ = 0) */
    enum { NQ = 200, ND = 64 };
    double x[ND], y[ND];
    for (int d = 0; d < ND; d++) x[d] = d * 8, y[d] = 0;
    for (int r = 0; r < NQ; r++) {
        for (int i = 0; i < DH; i++) q[i] = base_rng_normal(&rng);
        ag_tensor *t = ag_from_f32(g, AG_SHAPE(1, 1, 1, DH), q);
        const float *a = ag_f32(ag_rope(g, t, 0, 10000.0f, false));
        double n0 = 0;
        for (int i = 0; i < DH; i++) n0 += (double)q[i] * q[i];
        for (int d = 0; d < ND; d++) {
            const float *b = ag_f32(ag_rope(g, t, (int64_t)x[d], 10000.0f, false));
            double dd = 0;
            for (int i = 0; i < DH; i++) dd += (double)a[i] * b[i];
            y[d] += dd / n0 / NQ;
        }
        ag_graph_reset(g);
    }
    const char *names[1] = {"mean q·R(Δ)q / |q|²"};
    exp_section_fig(s, exp_fig_lines("RoPE: the same vector at distance Δ", "distance Δ (positions)", "relative score", x, y, 1,
                                     ND, names, false),
                    "A token attending to a copy of itself further away: the rotated score falls with distance (on "
                    "average over 200 random vectors), one reason RoPE favours nearby tokens.");
    it = exp_item_add(&s->r, "rope.decay", y[ND - 1] < y[0] ? EXP_INFO : EXP_INFO, y[ND - 1]);
    SETF(it->what, "RoPE: mean score of a vector with itself at distance 0, 8, 64, 504");
    SETF(it->claim, "(not in the chapter)");
    SETF(it->ember, "%.3f, %.3f, %.3f, %.3f (relative to distance 0)", y[0], y[1], y[8], y[ND - 1]);
    ag_graph_free(g);
}

/* ALiBi: the bias matrix and slopes. */
static void alibi(exp_section *s) {
    enum { H = 8, T = 12 };
    ag_graph *g = ag_graph_new(0);
    float sl[H];
    nn_alibi_slopes(H, sl);
    ag_tensor *b = nn_alibi_bias(g, H, T, T);
    float *m = base_xmalloc((size_t)T * T * sizeof *m);
    /* causal form as in the paper: future keys masked (shown as NaN → blank) */
    for (int i = 0; i < T; i++)
        for (int j = 0; j < T; j++) m[i * T + j] = j <= i ? ag_f32(b)[i * T + j] : NAN;
    bool ok = true;
    for (int h = 0; h < H; h++) ok &= fabsf(sl[h] - powf(2.0f, -(float)(h + 1))) < 1e-7f;
    exp_basics_item *it = exp_item_add(&s->r, "alibi.slopes", ok ? EXP_MATCH : EXP_MISMATCH, sl[0]);
    SETF(it->what, "ALiBi slopes for 8 heads and the bias of head 0 (query 11 to keys 0..11)");
    SETF(it->claim, "(essay; Press et al.) scores get a penalty linear in distance; slopes 1/2, 1/4, ..., 1/256 for 8 heads");
    SETF(it->ember, "slopes %.4g %.4g %.4g %.4g %.4g %.4g %.4g %.4g; head 0 row 11: %.1f %.1f ... %.1f %.1f",
         (double)sl[0], (double)sl[1], (double)sl[2], (double)sl[3], (double)sl[4], (double)sl[5], (double)sl[6],
         (double)sl[7], (double)m[11 * T], (double)m[11 * T + 1], (double)m[11 * T + 10] + 0.0, (double)m[11 * T + 11] + 0.0);
    exp_section_fig(s, exp_fig_heatmap("ALiBi bias, head 0 (slope 1/2), causal", m, T, T, EXP_CMAP_SEQUENTIAL, "key position",
                                       "query position", 460, 400),
                    "nn_alibi_bias: -slope x distance added to the attention scores; nothing is added to the vectors. "
                    "Masked future keys are left blank.");
    free(m);
    ag_graph_free(g);
}

int exp_section_positional(exp_chapter *c, exp_section *s, const exp_chapter_options *o) {
    (void)c;
    snprintf(s->source, sizeof s->source, "No training: ember's positional layers (nn/posenc.c, ag_rope) and one "
                                          "untrained pre-norm block per scheme, seed %llu.",
             (unsigned long long)o->seed);
    chapter_sum(s);
    sinusoidal(s);
    grid_2d(s);
    rope_table(s, o->seed);
    alibi(s);
    /* word order and the same token at different positions: measured in basics, kept here */
    exp_basics_report b;
    if (exp_basics_run(&b, o->seed) != 0) return -1;
    for (int i = 0; i < b.n; i++)
        if (!strncmp(b.items[i].id, "order.", 6) || !strncmp(b.items[i].id, "positions.", 10)) {
            exp_basics_item *it = exp_item_add(&s->r, b.items[i].id, b.items[i].status, b.items[i].value);
            *it = b.items[i];
        }
    exp_basics_free(&b);
    return 0;
}
