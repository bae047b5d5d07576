/* fuzz_idx.c — IDX files (MNIST / Fashion-MNIST images and labels; plain, or gzip when the bytes
 * start with gzip's magic): the generic reader and the typed image/label readers. */
#include "fuzz.h"

#include "data/media.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fz_file(data, size, ".idx");
    data_idx x;
    if (data_idx_read(path, &x) == 0) data_idx_free(&x);
    int64_t n, h, w;
    uint8_t *img = data_idx_images_u8(path, &n, &h, &w);
    free(img);
    uint8_t *lab = data_idx_labels_u8(path, &n);
    free(lab);
    return 0;
}
