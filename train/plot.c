/* plot.c — a small SVG line-chart writer for training curves (plot.h). */
#include "plot.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../autograd/ag.h"

static void xml_text(FILE *f, const char *s) {
    for (; s && *s; s++) {
        if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else if (*s == '&') fputs("&amp;", f);
        else fputc(*s, f);
    }
}

static const char *const k_colors[4] = {"#0072b2", "#d55e00", "#009e73", "#cc79a7"};

int train_plot_lines(const char *path, const char *title, const char *xlabel, const train_plot_series *s, int ns) {
    if (ns > 4) ns = 4;
    const double W = 900, H = 520, L = 80, R = 80, T = 60, B = 60; /* canvas and margins, pixels */
    double x0 = INFINITY, x1 = -INFINITY;
    double y0[4], y1[4];
    for (int k = 0; k < ns; k++) {
        y0[k] = INFINITY;
        y1[k] = -INFINITY;
        for (int64_t i = 0; i < s[k].n; i++) {
            double x = s[k].xy[2 * i], y = s[k].xy[2 * i + 1];
            if (!isfinite(x) || !isfinite(y)) continue;
            x0 = fmin(x0, x);
            x1 = fmax(x1, x);
            y0[k] = fmin(y0[k], y);
            y1[k] = fmax(y1[k], y);
        }
        if (!(y1[k] > y0[k])) { y0[k] = isfinite(y0[k]) ? y0[k] - 1 : 0; y1[k] = y0[k] + 2; }
    }
    if (!(x1 > x0)) { x0 = isfinite(x0) ? x0 - 1 : 0; x1 = x0 + 2; }
    char tmp[4096];
    base_temp_name(tmp, sizeof tmp, path);
    FILE *f = fopen(tmp, "w");
    if (!f) return base_error_set("%s: cannot write: %s", path, strerror(errno));
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" font-family=\"sans-serif\">\n", W, H);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n<text x=\"%.0f\" y=\"30\" font-size=\"18\" text-anchor=\"middle\">", W / 2);
    xml_text(f, title);
    fputs("</text>\n", f);
    double pw = W - L - R, ph = H - T - B;
    fprintf(f, "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" stroke=\"#888\"/>\n", L, T, pw, ph);
    for (int t = 0; t <= 5; t++) { /* x ticks */
        double xv = x0 + (x1 - x0) * t / 5, px = L + pw * t / 5;
        fprintf(f, "<text x=\"%.1f\" y=\"%.0f\" font-size=\"11\" text-anchor=\"middle\">%.0f</text>\n", px, T + ph + 18, xv);
    }
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" font-size=\"13\" text-anchor=\"middle\">", L + pw / 2, H - 15);
    xml_text(f, xlabel);
    fputs("</text>\n", f);
    for (int k = 0; k < ns && k < 2; k++) { /* y ticks: left for series 0, right for series 1 */
        for (int t = 0; t <= 5; t++) {
            double yv = y0[k] + (y1[k] - y0[k]) * t / 5, py = T + ph - ph * t / 5;
            fprintf(f, "<text x=\"%.0f\" y=\"%.1f\" font-size=\"11\" fill=\"%s\" text-anchor=\"%s\">%.3g</text>\n",
                    k == 0 ? L - 6 : L + pw + 6, py + 4, k_colors[k], k == 0 ? "end" : "start", yv);
        }
    }
    for (int k = 0; k < ns; k++) {
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.6\" points=\"", k_colors[k]);
        for (int64_t i = 0; i < s[k].n; i++) {
            double x = s[k].xy[2 * i], y = s[k].xy[2 * i + 1];
            if (!isfinite(x) || !isfinite(y)) continue;
            fprintf(f, "%.1f,%.1f ", L + pw * (x - x0) / (x1 - x0), T + ph - ph * (y - y0[k]) / (y1[k] - y0[k]));
        }
        fputs("\"/>\n", f);
        fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" font-size=\"13\" fill=\"%s\">", L + 10, T + 18 + 16.0 * k, k_colors[k]);
        xml_text(f, s[k].name);
        fputs(k == 1 ? " (right axis)" : "", f);
        fputs("</text>\n", f);
    }
    fputs("</svg>\n", f);
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return base_error_set("%s: cannot write: %s", path, strerror(e));
    }
    return 0;
}
