/* util.c — small helpers shared by every room: JSON string/number output, a monotonic clock, error-message tidying. */
#include "base.h"

#include <math.h>
#include <string.h>
#include <time.h>

void base_json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

void base_json_num(FILE *f, double v) {
    if (isnan(v) || isinf(v)) fputs("null", f); /* JSON has no NaN or Inf */
    else fprintf(f, "%.6g", v);
}

double base_now_sec(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

const char *base_strip_path_prefix(const char *msg, const char *path) {
    size_t n = strlen(path);
    return (strncmp(msg, path, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ') ? msg + n + 2 : msg;
}
