/* util.c — small helpers shared by every room: JSON string/number output, a monotonic clock, error-message tidying. */
#include "base.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

void base_temp_name(char *out, size_t size, const char *target) {
    snprintf(out, size, "%s.tmp.%ld", target, (long)getpid());
}

bool base_temp_parse(const char *path, char *target, size_t size, long *pid) {
    const char *t = strstr(path, ".tmp.");
    const char *last = NULL;
    for (; t; t = strstr(t + 1, ".tmp.")) last = t; /* the last ".tmp." */
    if (!last || last == path || !last[5]) return false;
    char *end = NULL;
    errno = 0;
    long p = strtol(last + 5, &end, 10);
    if (*end || errno || p <= 0 || last[5] < '0' || last[5] > '9') return false;
    size_t n = (size_t)(last - path);
    if (target && size) {
        if (n >= size) n = size - 1;
        memcpy(target, path, n);
        target[n] = '\0';
    }
    if (pid) *pid = p;
    return true;
}

bool base_pid_alive(long pid) { return !(kill((pid_t)pid, 0) != 0 && errno == ESRCH); }

int base_remove_stale_temps(const char *target) {
    char dir[PATH_MAX];
    const char *slash = strrchr(target, '/');
    const char *base = slash ? slash + 1 : target;
    if (slash == target) snprintf(dir, sizeof dir, "/");
    else if (slash) snprintf(dir, sizeof dir, "%.*s", (int)(slash - target), target);
    else snprintf(dir, sizeof dir, ".");
    size_t blen = strlen(base);
    if (!blen) return 0;
    DIR *d = opendir(dir);
    if (!d) return 0;
    int removed = 0;
    long self = (long)getpid();
    struct dirent *e;
    while ((e = readdir(d))) {
        long pid = 0;
        char owner[NAME_MAX + 1];
        if (strncmp(e->d_name, base, blen) != 0 || !base_temp_parse(e->d_name, owner, sizeof owner, &pid)) continue;
        if (strcmp(owner, base) != 0 || pid == self || base_pid_alive(pid)) continue;
        char full[PATH_MAX + NAME_MAX + 2];
        snprintf(full, sizeof full, "%s/%s", dir, e->d_name);
        if (unlink(full) == 0) removed++;
    }
    closedir(d);
    return removed;
}
