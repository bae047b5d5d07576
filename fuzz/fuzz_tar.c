/* fuzz_tar.c — tar archives (plain, or gzip when the bytes start with gzip's magic): every member's
 * header, GNU long names and pax records, and every other member's data. */
#include "fuzz.h"

#include "data/media.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    data_tar *t = data_tar_open(fz_file(data, size, ".tar"));
    if (!t) return 0;
    const char *name;
    int64_t sz;
    int k = 0;
    while (data_tar_next(t, &name, &sz) == 1) {
        if (!name || sz < 0) abort();
        if (k++ % 2 == 0) {
            int64_t got = 0;
            void *p = data_tar_read(t, &got);
            if (p && got != sz) abort();
            free(p);
        }
    }
    data_tar_close(t);
    return 0;
}
