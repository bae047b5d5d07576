/* svg.c — labelled scatter plots as standalone SVG files (see svg.h). */
#include "experiments/svg.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ag.h"

/* Okabe–Ito palette (distinguishable with colour blindness), then a few extras. */
static const char *const PALETTE[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00",
                                      "#56B4E9", "#F0E442", "#000000", "#999999", "#882255"};

const char *exp_svg_color(int g) {
    int n = (int)(sizeof PALETTE / sizeof PALETTE[0]);
    return PALETTE[((g % n) + n) % n];
}

/* Writes s with &, <, >, " escaped. */
static void put_escaped(FILE *f, const char *s) {
    for (; s && *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        default:
            /* control characters are not allowed in XML 1.0 */
            if ((unsigned char)*s < 0x20 && *s != '\t') fputc('?', f);
            else fputc(*s, f);
        }
    }
}

typedef struct {
    float x0, y0, x1, y1;
} box;

static float overlap(box a, box b) {
    float w = fminf(a.x1, b.x1) - fmaxf(a.x0, b.x0), h = fminf(a.y1, b.y1) - fmaxf(a.y0, b.y0);
    return (w > 0 && h > 0) ? w * h : 0;
}

/* Rough width of a label in px at font size fs (sans-serif averages ~0.58 em per character;
 * UTF-8 continuation bytes do not count). */
static float text_width(const char *s, float fs) {
    int chars = 0;
    for (; s && *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80) chars++;
    return 0.58f * fs * (float)chars;
}

int exp_svg_scatter(const char *path, const exp_svg_plot *plot, const exp_svg_point *pts, int64_t n) {
    int W = plot->width > 0 ? plot->width : 900, H = plot->height > 0 ? plot->height : 680;
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) return ag_error_set("%s: path too long", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return ag_error_set("%s: cannot create: %s", tmp, strerror(errno));

    /* plot area: margins leave room for the title (top) and the legend (right) */
    const float fs = 13, top = plot->subtitle ? 78 : 60, left = 30, bottom = 30, right = 170;
    float px0 = left, px1 = (float)W - right, py0 = top, py1 = (float)H - bottom;
    float xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        xmin = fminf(xmin, pts[i].x), xmax = fmaxf(xmax, pts[i].x);
        ymin = fminf(ymin, pts[i].y), ymax = fmaxf(ymax, pts[i].y);
    }
    if (n == 0) xmin = ymin = 0, xmax = ymax = 1;
    if (xmax - xmin < 1e-12f) xmin -= 1, xmax += 1;
    if (ymax - ymin < 1e-12f) ymin -= 1, ymax += 1;
    /* one scale for both axes keeps distances honest; inner padding leaves room for labels */
    float padx = 70, pady = 18;
    float sx = (px1 - px0 - 2 * padx) / (xmax - xmin), sy = (py1 - py0 - 2 * pady) / (ymax - ymin);
    float s = fminf(sx, sy);
    float cx = 0.5f * (px0 + px1), cy = 0.5f * (py0 + py1), mx = 0.5f * (xmin + xmax), my = 0.5f * (ymin + ymax);

    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
               "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n", W, H, W, H);
    fprintf(f, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", W, H);
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#fafafa\" stroke=\"#dddddd\"/>\n",
            px0, py0, px1 - px0, py1 - py0);
    fprintf(f, "<text x=\"%.1f\" y=\"34\" font-size=\"20\" font-weight=\"bold\" fill=\"#222222\">", px0);
    put_escaped(f, plot->title ? plot->title : "");
    fprintf(f, "</text>\n");
    if (plot->subtitle) {
        fprintf(f, "<text x=\"%.1f\" y=\"58\" font-size=\"13\" fill=\"#555555\">", px0);
        put_escaped(f, plot->subtitle);
        fprintf(f, "</text>\n");
    }

    float *X = ag_xmalloc((size_t)(n > 0 ? n : 1) * 2 * sizeof(float)); /* [n, 2] pixel positions */
    box *placed = ag_xmalloc((size_t)(2 * n + 1) * sizeof(box));        /* dots and chosen labels */
    int64_t np = 0;
    for (int64_t i = 0; i < n; i++) {
        X[2 * i] = cx + (pts[i].x - mx) * s;
        X[2 * i + 1] = cy - (pts[i].y - my) * s; /* SVG y grows downwards */
        placed[np++] = (box){X[2 * i] - 5, X[2 * i + 1] - 5, X[2 * i] + 5, X[2 * i + 1] + 5};
    }
    fprintf(f, "<g stroke=\"#ffffff\" stroke-width=\"1\">\n");
    for (int64_t i = 0; i < n; i++)
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"%s\"/>\n", X[2 * i], X[2 * i + 1],
                exp_svg_color(pts[i].group));
    fprintf(f, "</g>\n<g font-size=\"%.0f\">\n", fs);
    /* labels: try 8 positions around the dot, keep the one overlapping the least */
    for (int64_t i = 0; i < n; i++) {
        if (!pts[i].label) continue;
        float w = text_width(pts[i].label, fs), h = fs;
        const float ox[8] = {8, -8 - w, -w / 2, -w / 2, 8, -8 - w, 8, -8 - w};
        const float oy[8] = {h / 2 - 2, h / 2 - 2, -8, h + 6, -6, -6, h + 2, h + 2};
        int bestk = 0;
        float best = INFINITY;
        for (int k = 0; k < 8; k++) {
            float x0 = X[2 * i] + ox[k], yb = X[2 * i + 1] + oy[k];
            box b = {x0, yb - h + 2, x0 + w, yb + 2};
            float cost = 0;
            for (int64_t j = 0; j < np; j++) cost += overlap(b, placed[j]);
            if (b.x0 < px0 || b.x1 > px1 || b.y0 < py0 || b.y1 > py1) cost += 1e6f; /* stay inside */
            cost += 0.01f * (float)k;                                                /* prefer right */
            if (cost < best) best = cost, bestk = k;
        }
        float x0 = X[2 * i] + ox[bestk], yb = X[2 * i + 1] + oy[bestk];
        placed[np++] = (box){x0, yb - h + 2, x0 + w, yb + 2};
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" fill=\"#222222\">", x0, yb);
        put_escaped(f, pts[i].label);
        fprintf(f, "</text>\n");
    }
    fprintf(f, "</g>\n");
    /* legend */
    float lx = px1 + 18, ly = py0 + 8;
    fprintf(f, "<g font-size=\"14\">\n");
    for (int g = 0; g < plot->ngroups; g++) {
        float yy = ly + 24 * (float)g;
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"6\" fill=\"%s\"/>\n", lx + 6, yy + 8, exp_svg_color(g));
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" fill=\"#222222\">", lx + 18, yy + 13);
        put_escaped(f, plot->group_names[g]);
        fprintf(f, "</text>\n");
    }
    fprintf(f, "</g>\n</svg>\n");
    free(X);
    free(placed);
    if (fflush(f) || ferror(f)) {
        fclose(f);
        remove(tmp);
        return ag_error_set("%s: write failed: %s", tmp, strerror(errno));
    }
    if (fclose(f)) {
        remove(tmp);
        return ag_error_set("%s: write failed: %s", tmp, strerror(errno));
    }
    if (rename(tmp, path)) {
        remove(tmp);
        return ag_error_set("%s: cannot rename into place: %s", path, strerror(errno));
    }
    return 0;
}
