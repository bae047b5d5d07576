/* fuzz.h — what every libFuzzer harness shares: the input written to a per-process temp file (most
 * ember readers take a path, as users give them), removed at exit. */
#ifndef EMBER_FUZZ_H
#define EMBER_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char fz_path_buf[4096];

static void fz_cleanup(void) {
    if (fz_path_buf[0]) unlink(fz_path_buf);
}

/* Writes data[size] to "$TMPDIR/ember-fuzz-<pid><suffix>" (the suffix matters to readers that look
 * at names, e.g. ".gz") and returns that path; the same path each call. Aborts if it cannot write:
 * a harness that cannot write its input would fuzz nothing. */
static const char *fz_file(const uint8_t *data, size_t size, const char *suffix) {
    if (!fz_path_buf[0]) {
        const char *dir = getenv("TMPDIR");
        snprintf(fz_path_buf, sizeof fz_path_buf, "%s/ember-fuzz-%ld%s", dir && *dir ? dir : "/tmp", (long)getpid(),
                 suffix);
        atexit(fz_cleanup);
    }
    FILE *f = fopen(fz_path_buf, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        perror(fz_path_buf);
        abort();
    }
    return fz_path_buf;
}

#endif
