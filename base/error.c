/* error.c — the thread-local error buffer (set, prefix, read, clear) and the fatal abort behind BASE_CHECK. */
#include "base.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local char err_buf[2048];

int base_error_set(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err_buf, sizeof err_buf, fmt, ap);
    va_end(ap);
    return -1;
}

int base_error_prefix(const char *fmt, ...) {
    char pre[1024], old[sizeof err_buf];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    memcpy(old, err_buf, sizeof old);
    /* Truncation is acceptable for a message; build it piecewise so the compiler can see that. */
    size_t n = strlen(pre);
    if (n > sizeof err_buf - 3) n = sizeof err_buf - 3;
    memcpy(err_buf, pre, n);
    err_buf[n++] = ':';
    err_buf[n++] = ' ';
    size_t m = strlen(old);
    if (m > sizeof err_buf - 1 - n) m = sizeof err_buf - 1 - n;
    memcpy(err_buf + n, old, m);
    err_buf[n + m] = 0;
    return -1;
}

const char *base_error_msg(void) { return err_buf; }
void base_error_clear(void) { err_buf[0] = 0; }

void base_fatal_(const char *where, const char *file, int line, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "ember: fatal error in %s (%s:%d): ", where, file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}
