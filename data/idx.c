/* idx.c — IDX (MNIST / Fashion-MNIST) image and label readers, plain or gzip, strictly validated. */
#include "media.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

/* The largest payload accepted (16 GiB): a guard against absurd dims in a damaged header. */
#define IDX_MAX_NUMEL ((int64_t)1 << 34)

/* Reads up to n bytes; returns the count read (short only at end of stream) or -1 on a zlib or
 * I/O error (error set, naming path and the uncompressed offset `off`). */
static int64_t gz_read_all(gzFile f, void *dst, int64_t n, const char *path, int64_t off) {
    int64_t got = 0;
    while (got < n) {
        int64_t want = n - got;
        if (want > (1 << 30)) want = 1 << 30;
        int r = gzread(f, (char *)dst + got, (unsigned)want);
        if (r < 0) {
            int zerr;
            const char *msg = base_strip_path_prefix(gzerror(f, &zerr), path);
            if (zerr == Z_ERRNO)
                base_error_set("%s: byte %lld: read error: %s", path, (long long)(off + got), strerror(errno));
            else /* zlib inflates ahead of the caller, so the damage is at or after this offset */
                base_error_set("%s: gzip stream damaged (%s), detected while reading uncompressed byte %lld", path, msg,
                             (long long)(off + got));
            return -1;
        }
        if (r == 0) break;
        got += r;
    }
    /* A truncated gzip stream ends "cleanly" in gzread with an error flag set. */
    if (got < n) {
        int zerr;
        const char *msg = base_strip_path_prefix(gzerror(f, &zerr), path);
        if (zerr != Z_OK && zerr != Z_STREAM_END) {
            base_error_set("%s: byte %lld (uncompressed): gzip stream damaged or truncated: %s", path,
                         (long long)(off + got), msg);
            return -1;
        }
    }
    return got;
}

static uint32_t be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

int data_idx_read(const char *path, data_idx *out) {
    memset(out, 0, sizeof *out);
    errno = 0;
    gzFile f = gzopen(path, "rb");
    if (!f) return base_error_set("%s: cannot open: %s", path, errno ? strerror(errno) : "gzopen failed");
    gzbuffer(f, 1 << 17);
    uint8_t head[4 + 4 * 255];
    int64_t got = gz_read_all(f, head, 4, path, 0);
    if (got < 0) goto fail;
    if (got == 0) {
        base_error_set("%s: byte 0: expected an IDX magic number (00 00 08 <ndim>), got an empty file", path);
        goto fail;
    }
    if (got < 4) {
        base_error_set("%s: byte %lld: expected a 4-byte IDX magic number, file ends after %lld bytes", path,
                     (long long)got, (long long)got);
        goto fail;
    }
    if (head[0] != 0 || head[1] != 0) {
        base_error_set("%s: byte 0: expected IDX magic 00 00 <type> <ndim>, got %02x %02x %02x %02x (not an IDX file)",
                     path, head[0], head[1], head[2], head[3]);
        goto fail;
    }
    if (head[2] != 0x08) {
        base_error_set("%s: byte 2: expected element type 0x08 (unsigned byte), got 0x%02x", path, head[2]);
        goto fail;
    }
    int ndim = head[3];
    if (ndim < 1 || ndim > AG_MAX_DIMS) {
        base_error_set("%s: byte 3: expected 1..%d dimensions, got %d", path, AG_MAX_DIMS, ndim);
        goto fail;
    }
    got = gz_read_all(f, head + 4, 4 * ndim, path, 4);
    if (got < 0) goto fail;
    if (got < 4 * ndim) {
        base_error_set("%s: byte %lld: header truncated: expected %d dimension sizes (%d bytes), file ends", path,
                     (long long)(4 + got), ndim, 4 * ndim);
        goto fail;
    }
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        uint32_t d = be32(head + 4 + 4 * i);
        if (d == 0) {
            base_error_set("%s: byte %d: dimension %d is 0", path, 4 + 4 * i, i);
            goto fail;
        }
        out->dims[i] = d;
        /* compared before multiplying: two 2^32 - 1 sizes overflow int64 (found by fuzz/fuzz_idx) */
        if ((int64_t)d > IDX_MAX_NUMEL / numel) numel = IDX_MAX_NUMEL + 1;
        else numel *= d;
        if (numel > IDX_MAX_NUMEL) {
            base_error_set("%s: byte %d: dimensions give more than %lld elements (damaged header?)", path, 4 + 4 * i,
                         (long long)IDX_MAX_NUMEL);
            goto fail;
        }
    }
    int64_t hdr = 4 + 4 * (int64_t)ndim;
    out->ndim = ndim;
    out->numel = numel;
    /* The header's promise is checked against what the file holds before memory is committed to
     * it (found by fuzz/fuzz_idx: a 20-byte file asked for a 4 GB buffer): a plain file's size is
     * known; a gzip stream's is not, so its buffer grows (doubling, from 16 MiB) as bytes arrive. */
    if (gzdirect(f)) {
        struct stat st;
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && (int64_t)st.st_size < hdr + numel) {
            base_error_set("%s: byte %lld: truncated: header promises %lld payload bytes after the %lld-byte header, "
                           "file has %lld",
                           path, (long long)st.st_size, (long long)numel, (long long)hdr,
                           (long long)(st.st_size > hdr ? st.st_size - hdr : 0));
            goto fail;
        }
    }
    int64_t cap = gzdirect(f) || numel <= ((int64_t)16 << 20) ? numel : ((int64_t)16 << 20);
    out->data = malloc((size_t)cap);
    got = 0;
    while (out->data) {
        int64_t g = gz_read_all(f, out->data + got, cap - got, path, hdr + got);
        if (g < 0) goto fail;
        got += g;
        if (got < cap || cap == numel) break; /* end of stream, or everything read */
        int64_t ncap = cap * 2 < numel ? cap * 2 : numel;
        uint8_t *grown = realloc(out->data, (size_t)ncap);
        if (!grown) break;
        out->data = grown;
        cap = ncap;
    }
    if (!out->data || (got == cap && cap < numel)) {
        base_error_set("%s: cannot allocate %lld bytes for the payload", path, (long long)numel);
        goto fail;
    }
    if (got < numel) {
        base_error_set("%s: byte %lld: truncated: header promises %lld payload bytes after the %lld-byte header, "
                     "file has %lld",
                     path, (long long)(hdr + got), (long long)numel, (long long)hdr, (long long)got);
        goto fail;
    }
    /* Exact length: nothing may follow the payload (this read also makes zlib check the CRC). */
    uint8_t extra[64];
    got = gz_read_all(f, extra, sizeof extra, path, hdr + numel);
    if (got < 0) goto fail;
    if (got > 0) {
        base_error_set("%s: byte %lld: expected end of file after %lld payload bytes, got %lld%s more bytes", path,
                     (long long)(hdr + numel), (long long)numel, (long long)got, got == (int64_t)sizeof extra ? "+" : "");
        goto fail;
    }
    gzclose(f);
    return 0;
fail:
    gzclose(f);
    data_idx_free(out);
    return -1;
}

void data_idx_free(data_idx *x) {
    if (!x) return;
    free(x->data);
    memset(x, 0, sizeof *x);
}

uint8_t *data_idx_images_u8(const char *path, int64_t *n, int64_t *h, int64_t *w) {
    data_idx x;
    if (data_idx_read(path, &x) != 0) return NULL;
    if (x.ndim != 3) {
        base_error_set("%s: byte 3: expected an image file with 3 dimensions [N, H, W] (magic 0x00000803), got %d "
                     "dimension%s",
                     path, x.ndim, x.ndim == 1 ? " (a label file?)" : "s");
        data_idx_free(&x);
        return NULL;
    }
    if (n) *n = x.dims[0];
    if (h) *h = x.dims[1];
    if (w) *w = x.dims[2];
    return x.data;
}

ag_tensor *data_idx_images_f32(const char *path) {
    int64_t n, h, w;
    uint8_t *u = data_idx_images_u8(path, &n, &h, &w);
    if (!u) return NULL;
    ag_tensor *t = ag_tensor_alloc(AG_F32, AG_SHAPE(n, h, w));
    float *dst = ag_f32(t);
    for (int64_t i = 0; i < t->numel; i++) dst[i] = (float)u[i] / 255.0f; /* as torchvision's ToTensor */
    free(u);
    return t;
}

uint8_t *data_idx_labels_u8(const char *path, int64_t *n) {
    data_idx x;
    if (data_idx_read(path, &x) != 0) return NULL;
    if (x.ndim != 1) {
        base_error_set("%s: byte 3: expected a label file with 1 dimension [N] (magic 0x00000801), got %d dimensions",
                     path, x.ndim);
        data_idx_free(&x);
        return NULL;
    }
    if (n) *n = x.dims[0];
    return x.data;
}

ag_tensor *data_idx_labels_i32(const char *path) {
    int64_t n;
    uint8_t *u = data_idx_labels_u8(path, &n);
    if (!u) return NULL;
    ag_tensor *t = ag_tensor_alloc(AG_I32, AG_SHAPE(n));
    int32_t *dst = ag_i32(t);
    for (int64_t i = 0; i < n; i++) dst[i] = u[i];
    free(u);
    return t;
}
