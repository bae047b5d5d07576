/* npy.c — NumPy .npy writer (format 1.0): magic, header dict padded to 64 bytes, raw little-endian data. */
#include "npy.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../base/base.h"

int data_npy_write(const char *path, const char *descr, int ndim, const int64_t *shape, const void *data) {
    if (ndim < 1 || ndim > 4 || (strcmp(descr, "<f4") && strcmp(descr, "<i4")))
        return base_error_set("%s: npy: unsupported array (%d dims, dtype %s)", path, ndim, descr);
    char dict[256];
    int len = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        /* Python's tuple spelling: "(n,)" for one dim, "(a, b)" for more */
        len += snprintf(dict + len, sizeof dict - (size_t)len, "%lld%s", (long long)shape[i],
                        i + 1 < ndim ? ", " : (ndim == 1 ? "," : ""));
        n *= shape[i];
    }
    len += snprintf(dict + len, sizeof dict - (size_t)len, "), }");
    /* magic (6) + version (2) + header length (2) + dict + padding + '\n' is a multiple of 64 */
    int total = 10 + len + 1;
    int pad = (64 - total % 64) % 64;
    uint16_t hlen = (uint16_t)(len + pad + 1);
    char tmp[4096];
    base_temp_name(tmp, sizeof tmp, path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return base_error_set("%s: cannot write: %s", path, strerror(errno));
    const unsigned char head[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff),
                                    (unsigned char)(hlen >> 8)};
    bool ok = fwrite(head, 1, 10, f) == 10 && fwrite(dict, 1, (size_t)len, f) == (size_t)len;
    for (int i = 0; ok && i < pad; i++) ok = fputc(' ', f) != EOF;
    ok = ok && fputc('\n', f) != EOF;
    ok = ok && (n == 0 || fwrite(data, 4, (size_t)n, f) == (size_t)n); /* x86 and ARM Linux are little-endian */
    int e = errno;
    if (fclose(f) != 0 && ok) {
        ok = false;
        e = errno;
    }
    if (!ok || rename(tmp, path) != 0) {
        if (ok) e = errno;
        unlink(tmp);
        return base_error_set("%s: cannot write: %s", path, strerror(e));
    }
    return 0;
}
