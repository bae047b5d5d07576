/* progress.c — progress bar / plain lines on stderr and JSON-lines metrics (see progress.h). */
#include "progress.h"

#include "../autograd/ag.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct train_progress {
    FILE *out;          /* display stream or NULL */
    bool tty;           /* out is a terminal: redraw a bar in place */
    char *label;
    FILE *metrics;      /* JSON lines or NULL */
    double last_shown;  /* elapsed time of the last display, -1 before the first */
    double plain_interval;
    bool bar_open;      /* a bar is on screen without its newline */
};

train_progress *train_progress_new(FILE *out, const char *label, bool show, const char *metrics_path) {
    FILE *m = NULL;
    if (metrics_path) {
        m = fopen(metrics_path, "w");
        if (!m) {
            base_error_set("%s: cannot write metrics: %s", metrics_path, strerror(errno));
            return NULL;
        }
    }
    train_progress *p = base_xcalloc(1, sizeof *p);
    p->out = show ? out : NULL;
    p->tty = p->out && isatty(fileno(p->out));
    p->label = base_xstrdup(label ? label : "progress");
    p->metrics = m;
    p->last_shown = -1;
    p->plain_interval = 10.0;
    return p;
}

void train_progress_set_plain_interval(train_progress *p, double seconds) { p->plain_interval = seconds; }

/* "1h02m", "3m05s", "12s" */
static void fmt_duration(char *buf, size_t n, double s) {
    if (!isfinite(s) || s < 0) {
        snprintf(buf, n, "?");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, n, "%ldh%02ldm", t / 3600, (t / 60) % 60);
    else if (t >= 60) snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
    else snprintf(buf, n, "%lds", t);
}

void train_progress_report(train_progress *p, double fraction, double elapsed, const train_progress_stat *stats,
                           int n, bool final) {
    if (!p) return;
    if (!(fraction >= 0)) fraction = 0;
    if (fraction > 1) fraction = 1;
    double eta = fraction > 0 ? elapsed * (1 - fraction) / fraction : NAN;
    if (p->metrics) {
        fprintf(p->metrics, "{\"label\":\"%s\",\"fraction\":%.6f,\"elapsed\":%.3f,\"eta\":", p->label, fraction,
                elapsed);
        if (isfinite(eta)) fprintf(p->metrics, "%.3f", eta);
        else fputs("null", p->metrics);
        for (int i = 0; i < n; i++) {
            fprintf(p->metrics, ",\"%s\":", stats[i].key);
            if (isfinite(stats[i].value)) fprintf(p->metrics, "%.9g", stats[i].value);
            else fputs("null", p->metrics);
        }
        fprintf(p->metrics, ",\"final\":%s}\n", final ? "true" : "false");
        fflush(p->metrics);
    }
    if (!p->out) return;
    double gap = p->tty ? 0.1 : p->plain_interval;
    if (!final && p->last_shown >= 0 && elapsed - p->last_shown < gap) return;
    p->last_shown = elapsed;
    char line[512], eta_s[32], el_s[32];
    size_t k = 0;
    fmt_duration(eta_s, sizeof eta_s, eta);
    fmt_duration(el_s, sizeof el_s, elapsed);
    if (p->tty) {
        const int width = 24;
        int fill = (int)(fraction * width + 0.5);
        k += (size_t)snprintf(line + k, sizeof line - k, "\r%s [", p->label);
        for (int i = 0; i < width && k < sizeof line - 1; i++) line[k++] = i < fill ? '#' : '.';
        k += (size_t)snprintf(line + k, sizeof line - k, "] %5.1f%%", 100 * fraction);
    } else {
        k += (size_t)snprintf(line + k, sizeof line - k, "%s: %5.1f%%", p->label, 100 * fraction);
    }
    for (int i = 0; i < n && k < sizeof line - 1; i++) {
        char v[64];
        snprintf(v, sizeof v, stats[i].fmt ? stats[i].fmt : "%g", stats[i].value);
        k += (size_t)snprintf(line + k, sizeof line - k, "  %s %s", stats[i].key, v);
    }
    if (k < sizeof line - 1)
        k += (size_t)snprintf(line + k, sizeof line - k, "  elapsed %s  ETA %s", el_s, final ? "0s" : eta_s);
    if (k >= sizeof line) k = sizeof line - 1;
    fputs(line, p->out);
    if (p->tty) {
        fputs("\033[K", p->out); /* clear what a longer previous bar left */
        p->bar_open = !final;
        if (final) fputc('\n', p->out);
    } else {
        fputc('\n', p->out);
    }
    fflush(p->out);
}

void train_progress_event(train_progress *p, const char *json_object) {
    if (!p || !p->metrics) return;
    fprintf(p->metrics, "%s\n", json_object);
    fflush(p->metrics);
}

void train_progress_free(train_progress *p) {
    if (!p) return;
    if (p->bar_open && p->out) fputc('\n', p->out);
    if (p->metrics) fclose(p->metrics);
    free(p->label);
    free(p);
}
