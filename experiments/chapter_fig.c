/* chapter_fig.c — the chapter report's figures as SVG strings: heat maps, line charts, bars, tables. */
#include "chapter.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ag.h"
#include "experiments/svg.h"

/* A growing heap string (open_memstream would do, but this keeps the allocation in base_x*). */
typedef struct {
    char *p;
    size_t n, cap;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) return;
        if (b->p && b->n + (size_t)k < b->cap) {
            b->n += (size_t)k;
            return;
        }
        b->cap = (b->cap + (size_t)k + 1) * 2;
        b->p = base_xrealloc(b->p, b->cap);
        if (b->n == 0) b->p[0] = 0;
    }
}

/* Appends s with XML special characters escaped. */
static void sb_esc(sbuf *b, const char *s) {
    for (; s && *s; s++) {
        switch (*s) {
        case '&': sb_printf(b, "&amp;"); break;
        case '<': sb_printf(b, "&lt;"); break;
        case '>': sb_printf(b, "&gt;"); break;
        case '"': sb_printf(b, "&quot;"); break;
        default:
            if ((unsigned char)*s < 0x20) sb_printf(b, " ");
            else sb_printf(b, "%c", *s);
        }
    }
}

static void svg_open(sbuf *b, int W, int H, const char *title) {
    sb_printf(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"fig\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
                 "font-family=\"sans-serif\">\n<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n",
              W, H, W, H, W, H);
    if (title) {
        sb_printf(b, "<text x=\"%d\" y=\"20\" font-size=\"15\" text-anchor=\"middle\" font-weight=\"bold\">", W / 2);
        sb_esc(b, title);
        sb_printf(b, "</text>\n");
    }
}

static char *svg_close(sbuf *b) {
    sb_printf(b, "</svg>\n");
    return b->p;
}

/* Colour of t in [0, 1] for a map. */
static void cmap_rgb(exp_cmap cm, double t, int *r, int *g, int *bl) {
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    if (cm == EXP_CMAP_GRAY) {
        *r = *g = *bl = (int)lround(255 * t);
    } else if (cm == EXP_CMAP_DIVERGING) { /* 0 → blue, 0.5 → white, 1 → red */
        if (t < 0.5) {
            double u = t / 0.5;
            *r = (int)lround(33 + u * (255 - 33)), *g = (int)lround(102 + u * (255 - 102)), *bl = (int)lround(172 + u * (255 - 172));
        } else {
            double u = (t - 0.5) / 0.5;
            *r = (int)lround(255 + u * (178 - 255)), *g = (int)lround(255 + u * (24 - 255)), *bl = (int)lround(255 + u * (43 - 255));
        }
    } else { /* a viridis-like ramp: dark purple → teal → yellow */
        static const double k[5][3] = {{68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37}};
        double x = t * 4;
        int i = x >= 4 ? 3 : (int)x;
        double u = x - i;
        *r = (int)lround(k[i][0] + u * (k[i + 1][0] - k[i][0]));
        *g = (int)lround(k[i][1] + u * (k[i + 1][1] - k[i][1]));
        *bl = (int)lround(k[i][2] + u * (k[i + 1][2] - k[i][2]));
    }
}

char *exp_fig_heatmap(const char *title, const float *v, int64_t rows, int64_t cols, exp_cmap cmap, const char *xlabel,
                      const char *ylabel, int width, int height) {
    int W = width > 0 ? width : 620, H = height > 0 ? height : 420;
    const int L = 60, T = 34, R = 90, B = 46;
    sbuf b = {0};
    svg_open(&b, W, H, title);
    double lo = INFINITY, hi = -INFINITY;
    for (int64_t i = 0; i < rows * cols; i++)
        if (isfinite(v[i])) lo = fmin(lo, v[i]), hi = fmax(hi, v[i]);
    if (!(lo <= hi)) lo = 0, hi = 1;
    if (cmap == EXP_CMAP_DIVERGING) hi = fmax(fabs(lo), fabs(hi)), lo = -hi;
    if (hi == lo) hi = lo + 1;
    double cw = (double)(W - L - R) / (double)cols, ch = (double)(H - T - B) / (double)rows;
    /* one rect per cell; cells slightly overlap so no hairline gaps show between them */
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++) {
            if (!isfinite(v[i * cols + j])) continue; /* masked cells stay blank */
            int r, g, bl;
            cmap_rgb(cmap, (v[i * cols + j] - lo) / (hi - lo), &r, &g, &bl);
            sb_printf(&b, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"#%02x%02x%02x\"/>\n", L + j * cw,
                      T + i * ch, cw + 0.3, ch + 0.3, r, g, bl);
        }
    sb_printf(&b, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#444\"/>\n", L, T, W - L - R,
              H - T - B);
    /* axis ends */
    sb_printf(&b, "<text x=\"%d\" y=\"%d\" font-size=\"11\">0</text>", L, H - B + 14);
    sb_printf(&b, "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"end\">%lld</text>\n", W - R, H - B + 14,
              (long long)cols - 1);
    sb_printf(&b, "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"end\">0</text>", L - 4, T + 10);
    sb_printf(&b, "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"end\">%lld</text>\n", L - 4, H - B,
              (long long)rows - 1);
    if (xlabel) {
        sb_printf(&b, "<text x=\"%d\" y=\"%d\" font-size=\"12\" text-anchor=\"middle\">", L + (W - L - R) / 2, H - 12);
        sb_esc(&b, xlabel);
        sb_printf(&b, "</text>\n");
    }
    if (ylabel) {
        sb_printf(&b, "<text transform=\"translate(16,%d) rotate(-90)\" font-size=\"12\" text-anchor=\"middle\">",
                  T + (H - T - B) / 2);
        sb_esc(&b, ylabel);
        sb_printf(&b, "</text>\n");
    }
    /* colour bar */
    int bx = W - R + 18, bh = H - T - B;
    for (int k = 0; k < 50; k++) {
        int r, g, bl;
        cmap_rgb(cmap, 1.0 - k / 49.0, &r, &g, &bl);
        sb_printf(&b, "<rect x=\"%d\" y=\"%.2f\" width=\"14\" height=\"%.2f\" fill=\"#%02x%02x%02x\"/>", bx,
                  T + k * bh / 50.0, bh / 50.0 + 0.3, r, g, bl);
    }
    sb_printf(&b, "\n<text x=\"%d\" y=\"%d\" font-size=\"11\">%.3g</text>", bx + 17, T + 10, hi);
    sb_printf(&b, "<text x=\"%d\" y=\"%d\" font-size=\"11\">%.3g</text>\n", bx + 17, T + bh, lo);
    return svg_close(&b);
}

static double nice_step(double range) {
    double e = pow(10, floor(log10(range / 5))), m = range / 5 / e;
    return e * (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10);
}

char *exp_fig_lines(const char *title, const char *xlabel, const char *ylabel, const double *x, const double *y,
                    int nser, int64_t n, const char *const *names, bool logy) {
    const int W = 620, H = 380, L = 66, T = 34, R = 150, B = 46;
    sbuf b = {0};
    svg_open(&b, W, H, title);
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int64_t i = 0; i < n; i++) x0 = fmin(x0, x[i]), x1 = fmax(x1, x[i]);
    for (int64_t i = 0; i < (int64_t)nser * n; i++) {
        double v = logy ? log10(y[i]) : y[i];
        if (isfinite(v)) y0 = fmin(y0, v), y1 = fmax(y1, v);
    }
    if (!(x0 < x1)) x1 = x0 + 1;
    if (!(y0 < y1)) y0 = isfinite(y0) ? y0 - 1 : 0, y1 = y0 + 2;
    double pad = (y1 - y0) * 0.05;
    y0 -= pad, y1 += pad;
    const int pw = W - L - R, ph = H - T - B;
#define PX(v) (L + ((v) - x0) / (x1 - x0) * pw)
#define PY(v) (T + ph - ((v) - y0) / (y1 - y0) * ph)
    sb_printf(&b, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#444\"/>\n", L, T, pw, ph);
    double st = nice_step(y1 - y0);
    for (double t = ceil(y0 / st) * st; t <= y1; t += st) {
        sb_printf(&b, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>", L, L + pw, PY(t), PY(t));
        sb_printf(&b, "<text x=\"%d\" y=\"%.1f\" font-size=\"10\" text-anchor=\"end\">%.4g</text>\n", L - 4, PY(t) + 3,
                  logy ? pow(10, t) : t);
    }
    double sx = nice_step(x1 - x0);
    for (double t = ceil(x0 / sx) * sx; t <= x1; t += sx)
        sb_printf(&b, "<text x=\"%.1f\" y=\"%d\" font-size=\"10\" text-anchor=\"middle\">%.4g</text>\n", PX(t), T + ph + 14, t);
    for (int s = 0; s < nser; s++) {
        sb_printf(&b, "<polyline fill=\"none\" stroke-width=\"2\" stroke=\"%s\" points=\"", exp_svg_color(s));
        for (int64_t i = 0; i < n; i++) {
            double v = logy ? log10(y[s * n + i]) : y[s * n + i];
            if (isfinite(v)) sb_printf(&b, "%.1f,%.1f ", PX(x[i]), PY(v));
        }
        sb_printf(&b, "\"/>\n");
        if (n <= 12)
            for (int64_t i = 0; i < n; i++) {
                double v = logy ? log10(y[s * n + i]) : y[s * n + i];
                if (isfinite(v))
                    sb_printf(&b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>", PX(x[i]), PY(v), exp_svg_color(s));
            }
        sb_printf(&b, "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"12\" fill=\"%s\"/><text x=\"%d\" y=\"%d\" font-size=\"11\">",
                  L + pw + 10, T + 8 + 18 * s, exp_svg_color(s), L + pw + 26, T + 18 + 18 * s);
        sb_esc(&b, names ? names[s] : "");
        sb_printf(&b, "</text>\n");
    }
#undef PX
#undef PY
    if (xlabel) {
        sb_printf(&b, "<text x=\"%d\" y=\"%d\" font-size=\"12\" text-anchor=\"middle\">", L + pw / 2, H - 10);
        sb_esc(&b, xlabel);
        sb_printf(&b, "</text>\n");
    }
    if (ylabel) {
        sb_printf(&b, "<text transform=\"translate(14,%d) rotate(-90)\" font-size=\"12\" text-anchor=\"middle\">", T + ph / 2);
        sb_esc(&b, ylabel);
        sb_printf(&b, "</text>\n");
    }
    return svg_close(&b);
}

char *exp_fig_bars(const char *title, const char *const *labels, const double *v, const int *groups, int n,
                   const char *unit) {
    const int L = 230, R = 80, T = 34, rowh = 22;
    const int W = 640, H = T + rowh * n + 16;
    sbuf b = {0};
    svg_open(&b, W, H, title);
    double hi = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(v[i])) hi = fmax(hi, fabs(v[i]));
    if (hi == 0) hi = 1;
    for (int i = 0; i < n; i++) {
        double w = isfinite(v[i]) ? fabs(v[i]) / hi * (W - L - R) : 0;
        sb_printf(&b, "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"end\">", L - 6, T + rowh * i + 15);
        sb_esc(&b, labels[i]);
        sb_printf(&b, "</text><rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"/>", L, T + rowh * i + 3, w,
                  rowh - 6, exp_svg_color(groups ? groups[i] : 0));
        if (isfinite(v[i]))
            sb_printf(&b, "<text x=\"%.1f\" y=\"%d\" font-size=\"11\">%.4g%s</text>\n", L + w + 4, T + rowh * i + 15, v[i],
                      unit ? unit : "");
        else
            sb_printf(&b, "<text x=\"%d\" y=\"%d\" font-size=\"11\">n/a</text>\n", L + 4, T + rowh * i + 15);
    }
    return svg_close(&b);
}

char *exp_fig_table(const char *title, const char *const *rows, int n) {
    int ncol = 1;
    for (const char *p = rows[0]; *p; p++) ncol += *p == '|';
    int colw[16] = {0};
    for (int i = 0; i < n; i++) {
        int c = 0, w = 0;
        for (const char *p = rows[i];; p++) {
            if (*p == '|' || !*p) {
                if (c < 16 && w > colw[c]) colw[c] = w;
                c++, w = 0;
                if (!*p) break;
            } else if (((unsigned char)*p & 0xC0) != 0x80) {
                w++;
            }
        }
    }
    int W = 20, x[17];
    for (int c = 0; c < ncol && c < 16; c++) x[c] = W, W += (int)(colw[c] * 7.0) + 18;
    W = W < 300 ? 300 : W;
    const int H = 40 + 20 * n;
    sbuf b = {0};
    svg_open(&b, W, H, title);
    for (int i = 0; i < n; i++) {
        if (i % 2 == 1) sb_printf(&b, "<rect x=\"10\" y=\"%d\" width=\"%d\" height=\"20\" fill=\"#f2f2f2\"/>", 28 + 20 * i, W - 20);
        const char *p = rows[i];
        for (int c = 0; c < ncol && c < 16; c++) {
            const char *e = strchr(p, '|');
            size_t len = e ? (size_t)(e - p) : strlen(p);
            char cell[256];
            snprintf(cell, sizeof cell, "%.*s", (int)(len < 255 ? len : 255), p);
            sb_printf(&b, "<text x=\"%d\" y=\"%d\" font-size=\"12\" font-family=\"monospace\"%s>", x[c], 42 + 20 * i,
                      i == 0 ? " font-weight=\"bold\"" : "");
            sb_esc(&b, cell);
            sb_printf(&b, "</text>");
            if (!e) break;
            p = e + 1;
        }
        sb_printf(&b, "\n");
    }
    return svg_close(&b);
}

char *exp_fig_from_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        base_error_set("%s: cannot open", path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = base_xmalloc((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, f);
    fclose(f);
    s[got] = 0;
    char *start = strstr(s, "<svg");
    if (!start) {
        free(s);
        base_error_set("%s: not an SVG file", path);
        return NULL;
    }
    memmove(s, start, strlen(start) + 1);
    return s;
}
