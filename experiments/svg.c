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

void exp_xml_escape(FILE *f, const char *s) {
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
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) return base_error_set("%s: path too long", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return base_error_set("%s: cannot create: %s", tmp, strerror(errno));

    /* plot area: margins leave room for the title (top) and the legend (right) */
    const float fs = 13, top = plot->subtitle ? 78 : 60, left = 30, bottom = 30;
    float right = 170; /* the legend's column: as wide as its longest entry needs */
    for (int g = 0; g < plot->ngroups; g++) right = fmaxf(right, 60 + text_width(plot->group_names[g], 14));
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
    float padx = 110, pady = 60;
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
    exp_xml_escape(f, plot->title ? plot->title : "");
    fprintf(f, "</text>\n");
    if (plot->subtitle) {
        fprintf(f, "<text x=\"%.1f\" y=\"58\" font-size=\"13\" fill=\"#555555\">", px0);
        exp_xml_escape(f, plot->subtitle);
        fprintf(f, "</text>\n");
    }

    float *X = base_xmalloc((size_t)(n > 0 ? n : 1) * 2 * sizeof(float)); /* [n, 2] pixel positions */
    box *placed = base_xmalloc((size_t)(2 * n + 1) * sizeof(box));        /* dots and chosen labels */
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
    /* Labels, greedily, outermost points of each group first. Candidates: 8 spots touching the dot,
     * then rings of radius 22..125 px in 24 directions joined to the dot by a leader line. Cost:
     * overlap with dots, labels and leader lines already placed, leader length, and pointing
     * inwards (towards the own group's centre, where the crowd is). */
    float cg[2 * 64] = {0}; /* group centres, px (groups beyond 64 share the last slot) */
    int cgn[64] = {0};
    for (int64_t i = 0; i < n; i++) {
        int g = pts[i].group < 0 ? 0 : (pts[i].group > 63 ? 63 : pts[i].group);
        cg[2 * g] += X[2 * i], cg[2 * g + 1] += X[2 * i + 1], cgn[g]++;
    }
    for (int g = 0; g < 64; g++)
        if (cgn[g]) cg[2 * g] /= (float)cgn[g], cg[2 * g + 1] /= (float)cgn[g];
    int64_t *order = base_xmalloc((size_t)(n > 0 ? n : 1) * sizeof(int64_t));
    float *rad = base_xmalloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    for (int64_t i = 0; i < n; i++) {
        int g = pts[i].group < 0 ? 0 : (pts[i].group > 63 ? 63 : pts[i].group);
        order[i] = i;
        rad[i] = hypotf(X[2 * i] - cg[2 * g], X[2 * i + 1] - cg[2 * g + 1]);
    }
    for (int64_t a = 1; a < n; a++) { /* insertion sort by distance from the centre, descending */
        int64_t t = order[a], b = a;
        while (b > 0 && rad[order[b - 1]] < rad[t]) order[b] = order[b - 1], b--;
        order[b] = t;
    }
    float *seg = base_xmalloc((size_t)(n > 0 ? n : 1) * 4 * sizeof(float)); /* [nseg, 4] leader lines */
    int64_t nseg = 0;
    static const float RADII[6] = {0, 22, 40, 62, 90, 125};
    for (int64_t oi = 0; oi < n; oi++) {
        int64_t i = order[oi];
        if (!pts[i].label) continue;
        int g = pts[i].group < 0 ? 0 : (pts[i].group > 63 ? 63 : pts[i].group);
        float w = text_width(pts[i].label, fs), h = fs, x = X[2 * i], y = X[2 * i + 1];
        float ax = x - cg[2 * g], ay = y - cg[2 * g + 1], al = hypotf(ax, ay);
        if (al > 1e-3f) ax /= al, ay /= al;
        else ax = 1, ay = 0;
        box bestb = {0, 0, 0, 0};
        float best = INFINITY, bestr = 0;
        for (int ri = 0; ri < 6; ri++) {
            int nang = ri == 0 ? 8 : 24;
            for (int k = 0; k < nang; k++) {
                float th = 6.2831853f * (float)k / (float)nang, c = cosf(th), sn = sinf(th);
                float r = RADII[ri] + 7, axp = x + r * c, ayp = y + r * sn;
                box b;
                if (c > 0.35f) b.x0 = axp;
                else if (c < -0.35f) b.x0 = axp - w;
                else b.x0 = axp - w / 2;
                if (sn > 0.6f) b.y0 = ayp;
                else if (sn < -0.6f) b.y0 = ayp - h;
                else b.y0 = ayp - h / 2;
                b.x1 = b.x0 + w, b.y1 = b.y0 + h;
                float cost = 0;
                box pad = {b.x0 - 3, b.y0 - 1.5f, b.x1 + 3, b.y1 + 1.5f}; /* keep a little air between labels */
                for (int64_t j = 0; j < np; j++) cost += 50 * overlap(pad, placed[j]);
                for (int64_t sgi = 0; sgi < nseg; sgi++)
                    for (int t = 1; t < 8; t++) {
                        float px = seg[4 * sgi] + (seg[4 * sgi + 2] - seg[4 * sgi]) * (float)t / 8;
                        float py = seg[4 * sgi + 1] + (seg[4 * sgi + 3] - seg[4 * sgi + 1]) * (float)t / 8;
                        if (px > b.x0 && px < b.x1 && py > b.y0 && py < b.y1) cost += 300;
                    }
                if (b.x0 < px0 + 2 || b.x1 > px1 - 2 || b.y0 < py0 + 2 || b.y1 > py1 - 2) cost += 1e7f;
                cost += 1.2f * RADII[ri];
                if (ri > 0) cost += 25 * (1 - (c * ax + sn * ay)); /* outwards is better */
                cost += 0.01f * (float)k;
                if (cost < best) best = cost, bestb = b, bestr = RADII[ri];
            }
        }
        placed[np++] = bestb;
        if (bestr > 0) {
            /* leader from the dot's rim to the nearest point of the label box */
            float tx = fminf(fmaxf(x, bestb.x0), bestb.x1), ty = fminf(fmaxf(y, bestb.y0), bestb.y1);
            float dx = tx - x, dy = ty - y, dl = hypotf(dx, dy);
            if (dl > 7) {
                float sx0 = x + 5.5f * dx / dl, sy0 = y + 5.5f * dy / dl;
                fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#9a9a9a\" "
                           "stroke-width=\"0.8\"/>\n", sx0, sy0, tx, ty);
                seg[4 * nseg] = sx0, seg[4 * nseg + 1] = sy0, seg[4 * nseg + 2] = tx, seg[4 * nseg + 3] = ty;
                nseg++;
            }
        }
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" fill=\"#222222\">", bestb.x0, bestb.y1 - 3);
        exp_xml_escape(f, pts[i].label);
        fprintf(f, "</text>\n");
    }
    free(order);
    free(rad);
    free(seg);
    fprintf(f, "</g>\n");
    /* legend */
    float lx = px1 + 18, ly = py0 + 8;
    fprintf(f, "<g font-size=\"14\">\n");
    for (int g = 0; g < plot->ngroups; g++) {
        float yy = ly + 24 * (float)g;
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"6\" fill=\"%s\"/>\n", lx + 6, yy + 8, exp_svg_color(g));
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" fill=\"#222222\">", lx + 18, yy + 13);
        exp_xml_escape(f, plot->group_names[g]);
        fprintf(f, "</text>\n");
    }
    fprintf(f, "</g>\n");
    if (plot->footnote) {
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" fill=\"#666666\">", px0, (float)H - 10);
        exp_xml_escape(f, plot->footnote);
        fprintf(f, "</text>\n");
    }
    fprintf(f, "</svg>\n");
    free(X);
    free(placed);
    if (fflush(f) || ferror(f)) {
        fclose(f);
        remove(tmp);
        return base_error_set("%s: write failed: %s", tmp, strerror(errno));
    }
    if (fclose(f)) {
        remove(tmp);
        return base_error_set("%s: write failed: %s", tmp, strerror(errno));
    }
    if (rename(tmp, path)) {
        remove(tmp);
        return base_error_set("%s: cannot rename into place: %s", path, strerror(errno));
    }
    return 0;
}
