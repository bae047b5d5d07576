/* alloc.c — aborting allocators: out of memory is not a user-input error; it is fatal with a clear message. */
#include "base.h"

#include <stdlib.h>
#include <string.h>

static _Noreturn void oom(size_t bytes) {
    fprintf(stderr, "ember: out of memory allocating %zu bytes\n", bytes);
    abort();
}

void *base_xmalloc(size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) oom(bytes);
    return p;
}

void *base_xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) oom(n * size);
    return p;
}

void *base_xrealloc(void *p, size_t bytes) {
    void *q = realloc(p, bytes ? bytes : 1);
    if (!q) oom(bytes);
    return q;
}

void *base_xaligned(size_t bytes) {
    size_t rounded = (bytes + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, rounded ? rounded : 64);
    if (!p) oom(bytes);
    return p;
}

char *base_xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = base_xmalloc(n);
    memcpy(d, s, n);
    return d;
}
