/* ckpt.c — HDF5 checkpoints: atomic writer with an integrity line, checked reader, param/optim loads. */
#include "ckpt.h"

#include <hdf5.h>

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef EMBER_VERSION
#define EMBER_VERSION "unknown"
#endif

#define UB_SIZE 512                      /* HDF5 user block holding the integrity line */
#define UB_MAGIC "EMBER-CHECKPOINT "
#define CHUNK_TARGET_BYTES (1u << 20)    /* compressed datasets: ~1 MiB chunks */
#define COMPRESS_MIN_BYTES 4096          /* smaller datasets are never chunked */

/* ---------------------------------------------------------------------------------------------
 * HDF5 set-up and error messages
 * ------------------------------------------------------------------------------------------ */

/* Once per process: HDF5 must not print its error stack; ember writes its own messages. */
static void h5_init(void) {
    static int done = 0;
    if (done) return;
    H5open();
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    done = 1;
}

/* Saves go to a private temp file renamed into place, so HDF5's flock()-based file locking buys
 * nothing and fails on file systems without flock (some NFS mounts). */
static void no_file_locking(hid_t fapl) {
#if H5_VERSION_GE(1, 10, 7)
    H5Pset_file_locking(fapl, false, true);
#else
    (void)fapl;
#endif
}

static herr_t walk_first(unsigned n, const H5E_error2_t *e, void *ctx) {
    if (n == 0 && e->desc) snprintf((char *)ctx, 256, "%s", e->desc);
    return 0;
}

/* The innermost message on HDF5's error stack ("" if none); clears the stack. */
static void h5_last_error(char *buf) {
    buf[0] = 0;
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, walk_first, buf);
    H5Eclear2(H5E_DEFAULT);
}

/* Sets "file: what (HDF5: innermost message)" and returns -1. */
static int h5_fail(const char *file, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int h5_fail(const char *file, const char *fmt, ...) {
    char what[1024], h5[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    h5_last_error(h5);
    if (h5[0]) return base_error_set("%s: %s (HDF5: %s)", file, what, h5);
    return base_error_set("%s: %s", file, what);
}

static void shape_str(int ndim, const int64_t *shape, char *buf, size_t size) {
    size_t n = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < ndim && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s%" PRId64, i ? ", " : "", shape[i]);
    if (n < size) snprintf(buf + n, size - n, "]");
}

const char *ckpt_dtype_name(ckpt_dtype d) {
    switch (d) {
    case CKPT_F32: return "float32";
    case CKPT_F64: return "float64";
    case CKPT_I32: return "int32";
    case CKPT_I64: return "int64";
    case CKPT_U64: return "uint64";
    case CKPT_U8: return "uint8";
    case CKPT_STRING: return "string";
    default: return "other";
    }
}

static hid_t mem_type(ckpt_dtype d) {
    switch (d) {
    case CKPT_F32: return H5T_NATIVE_FLOAT;
    case CKPT_F64: return H5T_NATIVE_DOUBLE;
    case CKPT_I32: return H5T_NATIVE_INT32;
    case CKPT_I64: return H5T_NATIVE_INT64;
    case CKPT_U64: return H5T_NATIVE_UINT64;
    case CKPT_U8: return H5T_NATIVE_UINT8;
    default: return -1;
    }
}

static hid_t file_type(ckpt_dtype d) {
    switch (d) {
    case CKPT_F32: return H5T_IEEE_F32LE;
    case CKPT_F64: return H5T_IEEE_F64LE;
    case CKPT_I32: return H5T_STD_I32LE;
    case CKPT_I64: return H5T_STD_I64LE;
    case CKPT_U64: return H5T_STD_U64LE;
    case CKPT_U8: return H5T_STD_U8LE;
    default: return -1;
    }
}

static size_t dtype_size(ckpt_dtype d) {
    switch (d) {
    case CKPT_F32: case CKPT_I32: return 4;
    case CKPT_F64: case CKPT_I64: case CKPT_U64: return 8;
    case CKPT_U8: return 1;
    default: return 0;
    }
}

/* Classifies an HDF5 datatype (any byte order) as one of ember's dtypes. */
static ckpt_dtype classify(hid_t t) {
    H5T_class_t c = H5Tget_class(t);
    size_t sz = H5Tget_size(t);
    if (c == H5T_FLOAT) return sz == 4 ? CKPT_F32 : sz == 8 ? CKPT_F64 : CKPT_OTHER;
    if (c == H5T_STRING) return CKPT_STRING;
    if (c == H5T_INTEGER) {
        bool sgn = H5Tget_sign(t) == H5T_SGN_2;
        if (sz == 4 && sgn) return CKPT_I32;
        if (sz == 8 && sgn) return CKPT_I64;
        if (sz == 8 && !sgn) return CKPT_U64;
        if (sz == 1 && !sgn) return CKPT_U8;
    }
    return CKPT_OTHER;
}

/* ---------------------------------------------------------------------------------------------
 * Integrity hash: XXH64 (seed 0) of the bytes after the user block, streamed in 4 MiB blocks.
 * ------------------------------------------------------------------------------------------ */
#define XP1 0x9E3779B185EBCA87ULL
#define XP2 0xC2B2AE3D27D4EB4FULL
#define XP3 0x165667B19E3779F9ULL
#define XP4 0x85EBCA77C2B2AE63ULL
#define XP5 0x27D4EB2F165667C5ULL

static inline uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
static inline uint64_t xround(uint64_t acc, uint64_t in) { return rotl64(acc + in * XP2, 31) * XP1; }
static inline uint64_t xmerge(uint64_t acc, uint64_t v) { return (acc ^ xround(0, v)) * XP1 + XP4; }
static inline uint64_t rd64(const unsigned char *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static inline uint32_t rd32(const unsigned char *p) { uint32_t v; memcpy(&v, p, 4); return v; }

typedef struct { uint64_t v[4]; uint64_t total; } xxh_state;

static void xxh_init(xxh_state *s) {
    s->v[0] = XP1 + XP2;
    s->v[1] = XP2;
    s->v[2] = 0;
    s->v[3] = 0 - XP1;
    s->total = 0;
}

/* Consumes len bytes; len must be a multiple of 32 except on the last call, whose tail is folded
 * in by xxh_final (p, len are passed again there). Returns the number of bytes consumed. */
static size_t xxh_stripes(xxh_state *s, const unsigned char *p, size_t len) {
    size_t n = len / 32 * 32;
    uint64_t v0 = s->v[0], v1 = s->v[1], v2 = s->v[2], v3 = s->v[3];
    for (size_t i = 0; i < n; i += 32) {
        v0 = xround(v0, rd64(p + i));
        v1 = xround(v1, rd64(p + i + 8));
        v2 = xround(v2, rd64(p + i + 16));
        v3 = xround(v3, rd64(p + i + 24));
    }
    s->v[0] = v0, s->v[1] = v1, s->v[2] = v2, s->v[3] = v3;
    s->total += len;
    return n;
}

static uint64_t xxh_final(const xxh_state *s, const unsigned char *tail, size_t tlen) {
    uint64_t h;
    if (s->total >= 32) {
        h = rotl64(s->v[0], 1) + rotl64(s->v[1], 7) + rotl64(s->v[2], 12) + rotl64(s->v[3], 18);
        for (int i = 0; i < 4; i++) h = xmerge(h, s->v[i]);
    } else {
        h = XP5;
    }
    h += s->total;
    size_t i = 0;
    for (; i + 8 <= tlen; i += 8) h = rotl64(h ^ xround(0, rd64(tail + i)), 27) * XP1 + XP4;
    if (i + 4 <= tlen) {
        h = rotl64(h ^ ((uint64_t)rd32(tail + i) * XP1), 23) * XP2 + XP3;
        i += 4;
    }
    for (; i < tlen; i++) h = rotl64(h ^ (tail[i] * XP5), 11) * XP1;
    h ^= h >> 33;
    h *= XP2;
    h ^= h >> 29;
    h *= XP3;
    h ^= h >> 32;
    return h;
}

/* Hashes bytes [off, size) of fd. Returns 0, or -1 with errno set on a read error / early EOF. */
static int hash_fd(int fd, int64_t off, int64_t size, uint64_t *out) {
    const size_t block = 4u << 20;
    unsigned char *buf = base_xmalloc(block);
    xxh_state s;
    xxh_init(&s);
    uint64_t h = 0;
    int64_t pos = off;
    for (;;) {
        size_t want = (size_t)((size - pos) < (int64_t)block ? (size - pos) : (int64_t)block), got = 0;
        while (got < want) {
            ssize_t r = pread(fd, buf + got, want - got, pos + (off_t)got);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) {
                if (r == 0) errno = EIO;
                free(buf);
                return -1;
            }
            got += (size_t)r;
        }
        pos += (int64_t)want;
        size_t used = xxh_stripes(&s, buf, want);
        if (pos >= size) {
            h = xxh_final(&s, buf + used, want - used);
            break;
        }
    }
    free(buf);
    *out = h;
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Writer
 * ------------------------------------------------------------------------------------------ */
struct ckpt_writer {
    char *path;     /* target */
    char *tmp;      /* "<path>.tmp.<pid>" */
    hid_t file;
    hid_t gcpl;     /* group creation: track + index link creation order */
    int gzip;
    bool no_fsync;
    bool failed;    /* a put failed: only abort is possible */
};

/* A dataset or group path must be absolute, without empty components or "." / "..". */
static int check_path(const char *file, const char *path) {
    if (!path || path[0] != '/' || path[1] == 0)
        return base_error_set("%s: dataset path '%s': expected an absolute path like /state/step", file,
                            path ? path : "(null)");
    const char *p = path + 1;
    while (*p) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return base_error_set("%s: dataset path '%s': empty, '.' or '..' component", file, path);
        p += n;
        if (*p == '/') p++;
    }
    if (path[strlen(path) - 1] == '/')
        return base_error_set("%s: dataset path '%s': ends with '/'", file, path);
    return 0;
}

/* Parameter names become one path component: no '/', not empty, not "." or "..". */
static int check_name(const char *file, const char *name) {
    if (!name[0] || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
        return base_error_set("%s: parameter name '%s' cannot be stored: it is empty, '.', '..' or "
                            "contains '/'", file, name);
    return 0;
}

/* True if every component of path exists (H5Lexists needs the parents to exist). */
static bool link_exists(hid_t file, const char *path) {
    char buf[4096];
    size_t n = strlen(path);
    if (n >= sizeof buf) return false;
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == 0) {
            char c = buf[i];
            buf[i] = 0;
            htri_t e = H5Lexists(file, buf, H5P_DEFAULT);
            buf[i] = c;
            if (e <= 0) {
                H5Eclear2(H5E_DEFAULT);
                return false;
            }
        }
    }
    return true;
}

/* Creates every missing group on the way to path's parent (path's last component excluded). */
static int make_parents(ckpt_writer *w, const char *path) {
    char buf[4096];
    size_t n = strlen(path);
    if (n >= sizeof buf) return base_error_set("%s: path too long (%zu bytes)", w->path, n);
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i < n; i++) {
        if (buf[i] != '/') continue;
        buf[i] = 0;
        htri_t e = H5Lexists(w->file, buf, H5P_DEFAULT);
        if (e < 0) return h5_fail(w->path, "%s: cannot check group", buf);
        if (e == 0) {
            hid_t g = H5Gcreate2(w->file, buf, H5P_DEFAULT, w->gcpl, H5P_DEFAULT);
            if (g < 0) return h5_fail(w->path, "%s: cannot create group", buf);
            H5Gclose(g);
        }
        buf[i] = '/';
    }
    return 0;
}

static int ensure_group(ckpt_writer *w, const char *path) {
    if (link_exists(w->file, path)) return 0;
    char child[4096];
    snprintf(child, sizeof child, "%s/x", path);
    if (make_parents(w, child) < 0) return -1;
    return 0;
}

/* Writes a VL UTF-8 string attribute (h5py reads it as str). */
static int attr_string(const char *file, hid_t obj, const char *name, const char *value) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    int rc = 0;
    if (a < 0 || H5Awrite(a, t, &value) < 0) rc = h5_fail(file, "cannot write attribute '%s'", name);
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
    return rc;
}

static int attr_num(const char *file, hid_t obj, const char *name, ckpt_dtype d, const void *v) {
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, file_type(d), sp, H5P_DEFAULT, H5P_DEFAULT);
    int rc = 0;
    if (a < 0 || H5Awrite(a, mem_type(d), v) < 0) rc = h5_fail(file, "cannot write attribute '%s'", name);
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    return rc;
}
static int attr_i64(const char *file, hid_t obj, const char *name, int64_t v) {
    return attr_num(file, obj, name, CKPT_I64, &v);
}
static int attr_f64(const char *file, hid_t obj, const char *name, double v) {
    return attr_num(file, obj, name, CKPT_F64, &v);
}

/* The core of every put: one dataset at path. ftype/mtype: file and memory types; ndim 0 = scalar.
 * data: the elements in row-major order. Chunked + shuffle + deflate when compression is on and
 * the dataset is large enough. */
static int write_dataset(ckpt_writer *w, const char *path, hid_t ftype, hid_t mtype, size_t esize,
                         int ndim, const int64_t *shape, const void *data) {
    if (!w || w->failed) return base_error_set("%s: writer already failed or NULL", w ? w->path : "ckpt");
    if (check_path(w->path, path) < 0 || ndim < 0 || ndim > CKPT_MAX_DIMS) goto fail_noh5;
    if (link_exists(w->file, path)) {
        base_error_set("%s: %s: written twice", w->path, path);
        goto fail_noh5;
    }
    if (make_parents(w, path) < 0) goto fail_noh5;
    hsize_t dims[CKPT_MAX_DIMS], chunk[CKPT_MAX_DIMS];
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) {
            base_error_set("%s: %s: negative dimension", w->path, path);
            goto fail_noh5;
        }
        dims[i] = chunk[i] = (hsize_t)shape[i];
        numel *= shape[i];
    }
    hid_t sp = ndim == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(ndim, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (w->gzip > 0 && ndim >= 1 && numel > 0 && (size_t)numel * esize >= COMPRESS_MIN_BYTES) {
        /* Halve dimensions from the outermost until a chunk is about CHUNK_TARGET_BYTES. */
        for (int d = 0; d < ndim; d++) {
            for (;;) {
                uint64_t bytes = esize;
                for (int i = 0; i < ndim; i++) bytes *= chunk[i];
                if (bytes <= CHUNK_TARGET_BYTES || chunk[d] == 1) break;
                chunk[d] = (chunk[d] + 1) / 2;
            }
        }
        H5Pset_chunk(dcpl, ndim, chunk);
        H5Pset_shuffle(dcpl);
        H5Pset_deflate(dcpl, (unsigned)w->gzip);
    }
    hid_t ds = H5Dcreate2(w->file, path, ftype, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    int rc = 0;
    if (ds < 0) rc = h5_fail(w->path, "%s: cannot create dataset", path);
    else if (numel > 0 && H5Dwrite(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
        rc = h5_fail(w->path, "%s: cannot write %" PRId64 " values", path, numel);
    if (ds >= 0) H5Dclose(ds);
    H5Pclose(dcpl);
    H5Sclose(sp);
    if (rc < 0) w->failed = true;
    return rc;
fail_noh5:
    w->failed = true;
    return -1;
}

static int write_typed(ckpt_writer *w, const char *path, ckpt_dtype d, int ndim, const int64_t *shape,
                       const void *data) {
    return write_dataset(w, path, file_type(d), mem_type(d), dtype_size(d), ndim, shape, data);
}

ckpt_writer *ckpt_writer_begin(const char *path) { return ckpt_writer_begin_opts(path, NULL); }

ckpt_writer *ckpt_writer_begin_opts(const char *path, const ckpt_writer_options *opt) {
    h5_init();
    if (!path || !path[0]) {
        base_error_set("ckpt: empty checkpoint path");
        return NULL;
    }
    if (opt && (opt->gzip_level < 0 || opt->gzip_level > 9)) {
        base_error_set("%s: gzip level %d: expected 0..9", path, opt->gzip_level);
        return NULL;
    }
    ckpt_writer *w = base_xcalloc(1, sizeof *w);
    w->path = base_xstrdup(path);
    size_t n = strlen(path) + 32;
    w->tmp = base_xmalloc(n);
    base_temp_name(w->tmp, n, path);
    w->gzip = opt ? opt->gzip_level : 0;
    w->no_fsync = opt ? opt->no_fsync : false;

    /* Refuse a directory at the target up front: rename would fail only at the very end. */
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        base_error_set("%s: is a directory, expected a checkpoint file path", path);
        goto fail;
    }
    /* Temp files of saves to this path whose process is gone (killed mid-save) are never
     * renamed into place: remove them, or every kill leaves a checkpoint-sized file behind. */
    base_remove_stale_temps(path);
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
    H5Pset_userblock(fcpl, UB_SIZE);
    H5Pset_link_creation_order(fcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
    no_file_locking(fapl);
    errno = 0;
    w->file = H5Fcreate(w->tmp, H5F_ACC_TRUNC, fcpl, fapl);
    int err = errno;
    H5Pclose(fcpl);
    H5Pclose(fapl);
    if (w->file < 0) {
        char h5[256];
        h5_last_error(h5);
        base_error_set("%s: cannot create temporary file %s: %s", path, w->tmp,
                     err ? strerror(err) : h5);
        unlink(w->tmp);
        goto fail;
    }
    w->gcpl = H5Pcreate(H5P_GROUP_CREATE);
    H5Pset_link_creation_order(w->gcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
    hid_t root = H5Gopen2(w->file, "/", H5P_DEFAULT);
    int rc = attr_string(path, root, "format", CKPT_FORMAT);
    if (rc == 0) rc = attr_i64(path, root, "format_version", CKPT_FORMAT_VERSION);
    if (rc == 0) rc = attr_string(path, root, "ember_version", EMBER_VERSION);
    H5Gclose(root);
    if (rc < 0) {
        ckpt_writer_abort(w);
        return NULL;
    }
    return w;
fail:
    free(w->path);
    free(w->tmp);
    free(w);
    return NULL;
}

static void writer_free(ckpt_writer *w) {
    if (w->gcpl > 0) H5Pclose(w->gcpl);
    free(w->path);
    free(w->tmp);
    free(w);
}

void ckpt_writer_abort(ckpt_writer *w) {
    if (!w) return;
    if (w->file >= 0) H5Fclose(w->file);
    H5Eclear2(H5E_DEFAULT);
    unlink(w->tmp);
    writer_free(w);
}

static int fsync_dir_of(const char *path) {
    char *dir = base_xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (slash == dir) slash[1] = 0;
    else if (slash) *slash = 0;
    else strcpy(dir, ".");
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    int rc = 0;
    if (fd < 0 || fsync(fd) < 0) rc = -1;
    if (fd >= 0) close(fd);
    free(dir);
    return rc;
}

int ckpt_writer_commit(ckpt_writer *w) {
    if (!w) return base_error_set("ckpt: commit of a NULL writer");
    if (w->failed) {
        /* Keep the message of the failed put; add where we are. */
        base_error_prefix("checkpoint not saved");
        ckpt_writer_abort(w);
        return -1;
    }
    if (H5Fflush(w->file, H5F_SCOPE_GLOBAL) < 0) {
        h5_fail(w->path, "cannot flush %s", w->tmp);
        ckpt_writer_abort(w);
        return -1;
    }
    herr_t cr = H5Fclose(w->file);
    w->file = -1;
    if (cr < 0) {
        h5_fail(w->path, "cannot close %s", w->tmp);
        ckpt_writer_abort(w);
        return -1;
    }
    /* Integrity line: size and hash of everything after the user block. */
    int fd = open(w->tmp, O_RDWR);
    struct stat st;
    uint64_t h = 0;
    if (fd < 0 || fstat(fd, &st) < 0 || st.st_size < UB_SIZE || hash_fd(fd, UB_SIZE, st.st_size, &h) < 0) {
        base_error_set("%s: cannot read back %s: %s", w->path, w->tmp, strerror(errno));
        if (fd >= 0) close(fd);
        ckpt_writer_abort(w);
        return -1;
    }
    char ub[UB_SIZE];
    memset(ub, 0, sizeof ub);
    snprintf(ub, sizeof ub, UB_MAGIC "%d %lld %016llx\n", 1, (long long)st.st_size, (unsigned long long)h);
    ssize_t wr = pwrite(fd, ub, sizeof ub, 0);
    if (wr != (ssize_t)sizeof ub || (!w->no_fsync && fsync(fd) < 0)) {
        base_error_set("%s: cannot write %s: %s", w->path, w->tmp, wr < 0 || wr == (ssize_t)sizeof ub ? strerror(errno) : "short write");
        close(fd);
        ckpt_writer_abort(w);
        return -1;
    }
    if (close(fd) < 0) {
        base_error_set("%s: cannot close %s: %s", w->path, w->tmp, strerror(errno));
        ckpt_writer_abort(w);
        return -1;
    }
    if (rename(w->tmp, w->path) < 0) {
        base_error_set("%s: cannot rename %s into place: %s", w->path, w->tmp, strerror(errno));
        ckpt_writer_abort(w);
        return -1;
    }
    int rc = 0;
    if (!w->no_fsync && fsync_dir_of(w->path) < 0)
        rc = base_error_set("%s: saved, but fsync of its directory failed: %s", w->path, strerror(errno));
    writer_free(w);
    return rc;
}

int ckpt_put_params(ckpt_writer *w, const nn_params *ps) {
    if (!w || w->failed) return base_error_set("%s: writer already failed or NULL", w ? w->path : "ckpt");
    if (!ps->allocated && ps->n > 0) {
        w->failed = true;
        return base_error_set("%s: parameter set not allocated", w->path);
    }
    if (ensure_group(w, "/params") < 0) return w->failed = true, -1;
    char path[4096];
    for (int i = 0; i < ps->n; i++) {
        const nn_param *p = &ps->items[i];
        if (check_name(w->path, p->name) < 0) return w->failed = true, -1;
        snprintf(path, sizeof path, "/params/%s", p->name);
        if (write_typed(w, path, CKPT_F32, p->t->ndim, p->t->shape, p->t->data) < 0) return -1;
    }
    return 0;
}

int ckpt_put_optim(ckpt_writer *w, const optim *o) {
    if (!w || w->failed) return base_error_set("%s: writer already failed or NULL", w ? w->path : "ckpt");
    if (ensure_group(w, "/optim") < 0) return w->failed = true, -1;
    const optim_config *c = optim_get_config(o);
    hid_t g = H5Gopen2(w->file, "/optim", H5P_DEFAULT);
    int rc = attr_string(w->path, g, "kind", optim_kind_name(c->kind));
    if (!rc) rc = attr_i64(w->path, g, "step", optim_get_step(o));
    if (!rc) rc = attr_f64(w->path, g, "lr", optim_get_lr(o));
    if (!rc) rc = attr_f64(w->path, g, "momentum", c->momentum);
    if (!rc) rc = attr_f64(w->path, g, "dampening", c->dampening);
    if (!rc) rc = attr_i64(w->path, g, "nesterov", c->nesterov);
    if (!rc) rc = attr_f64(w->path, g, "beta1", c->beta1);
    if (!rc) rc = attr_f64(w->path, g, "beta2", c->beta2);
    if (!rc) rc = attr_f64(w->path, g, "eps", c->eps);
    if (!rc) rc = attr_f64(w->path, g, "weight_decay", c->weight_decay);
    if (!rc) rc = attr_i64(w->path, g, "amsgrad", c->amsgrad);
    H5Gclose(g);
    if (rc < 0) return w->failed = true, -1;
    char path[4096], ppath[4096];
    int n = optim_state_count(o);
    for (int i = 0; i < n; i++) {
        optim_state_view v = optim_state_get(o, i);
        if (check_name(w->path, v.param) < 0 || check_name(w->path, v.slot) < 0) return w->failed = true, -1;
        snprintf(path, sizeof path, "/optim/%s/%s", v.param, v.slot);
        /* Use the parameter's shape when /params holds it with the same size, else 1-D. */
        int ndim = 1;
        int64_t shape[CKPT_MAX_DIMS] = {v.numel};
        snprintf(ppath, sizeof ppath, "/params/%s", v.param);
        if (link_exists(w->file, ppath)) {
            hid_t ds = H5Dopen2(w->file, ppath, H5P_DEFAULT);
            if (ds >= 0) {
                hid_t sp = H5Dget_space(ds);
                hsize_t d[CKPT_MAX_DIMS];
                int nd = H5Sget_simple_extent_ndims(sp);
                if (nd >= 0 && nd <= CKPT_MAX_DIMS && H5Sget_simple_extent_dims(sp, d, NULL) >= 0) {
                    int64_t numel = 1, sh[CKPT_MAX_DIMS];
                    for (int k = 0; k < nd; k++) numel *= (int64_t)(sh[k] = (int64_t)d[k]);
                    if (numel == v.numel && nd >= 1) {
                        ndim = nd;
                        memcpy(shape, sh, sizeof sh);
                    }
                }
                H5Sclose(sp);
                H5Dclose(ds);
            }
            H5Eclear2(H5E_DEFAULT);
        }
        if (write_typed(w, path, CKPT_F32, ndim, shape, v.data) < 0) return -1;
    }
    return 0;
}

int ckpt_put_vocab(ckpt_writer *w, const char *const *words, const int64_t *counts, int64_t n) {
    if (!w || w->failed) return base_error_set("%s: writer already failed or NULL", w ? w->path : "ckpt");
    /* words: every word followed by one NUL byte, so h5py users split on b"\0". */
    int64_t total = 0;
    for (int64_t i = 0; i < n; i++) total += (int64_t)strlen(words[i]) + 1;
    unsigned char *buf = base_xmalloc((size_t)total + 1);
    int64_t off = 0;
    for (int64_t i = 0; i < n; i++) {
        size_t l = strlen(words[i]) + 1;
        memcpy(buf + off, words[i], l);
        off += (int64_t)l;
    }
    int rc = write_typed(w, "/vocab/words", CKPT_U8, 1, &total, buf);
    free(buf);
    if (rc == 0) {
        hid_t ds = H5Dopen2(w->file, "/vocab/words", H5P_DEFAULT);
        rc = attr_string(w->path, ds, "encoding", "bytes; each word followed by one NUL byte");
        H5Dclose(ds);
        if (rc < 0) w->failed = true;
    }
    if (rc == 0) rc = write_typed(w, "/vocab/counts", CKPT_I64, 1, &n, counts);
    return rc;
}

int ckpt_put_merges(ckpt_writer *w, const int32_t *merges, int64_t m) {
    int64_t shape[2] = {m, 2};
    return write_typed(w, "/tokenizer/merges", CKPT_I32, 2, shape, merges);
}

int ckpt_put_string(ckpt_writer *w, const char *path, const char *s) {
    /* Fixed-length NUL-terminated UTF-8 string of strlen + 1 bytes (h5py: bytes). */
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, strlen(s) + 1);
    H5Tset_strpad(t, H5T_STR_NULLTERM);
    H5Tset_cset(t, H5T_CSET_UTF8);
    int rc = write_dataset(w, path, t, t, strlen(s) + 1, 0, NULL, s);
    H5Tclose(t);
    return rc;
}

int ckpt_put_config_json(ckpt_writer *w, const char *json) { return ckpt_put_string(w, "/config", json); }

int ckpt_put_i64(ckpt_writer *w, const char *path, int64_t v) { return write_typed(w, path, CKPT_I64, 0, NULL, &v); }
int ckpt_put_f64(ckpt_writer *w, const char *path, double v) { return write_typed(w, path, CKPT_F64, 0, NULL, &v); }
int ckpt_put_i64_array(ckpt_writer *w, const char *path, const int64_t *v, int64_t n) {
    return write_typed(w, path, CKPT_I64, 1, &n, v);
}
int ckpt_put_u64_array(ckpt_writer *w, const char *path, const uint64_t *v, int64_t n) {
    return write_typed(w, path, CKPT_U64, 1, &n, v);
}
int ckpt_put_f64_array(ckpt_writer *w, const char *path, const double *v, int64_t n) {
    return write_typed(w, path, CKPT_F64, 1, &n, v);
}
int ckpt_put_f32_array(ckpt_writer *w, const char *path, const float *v, int ndim, const int64_t *shape) {
    return write_typed(w, path, CKPT_F32, ndim, shape, v);
}
int ckpt_put_i32_array(ckpt_writer *w, const char *path, const int32_t *v, int ndim, const int64_t *shape) {
    return write_typed(w, path, CKPT_I32, ndim, shape, v);
}
int ckpt_put_rng(ckpt_writer *w, const char *path, const base_rng *r) {
    return ckpt_put_u64_array(w, path, r->s, 4);
}

/* ---------------------------------------------------------------------------------------------
 * Reader
 * ------------------------------------------------------------------------------------------ */
struct ckpt_reader {
    char *path;
    hid_t file;
    int version;
    char ember_version[64];
    bool verified;
};

const char *ckpt_reader_path(const ckpt_reader *r) { return r->path; }
int ckpt_format_version(const ckpt_reader *r) { return r->version; }
const char *ckpt_ember_version(const ckpt_reader *r) { return r->ember_version; }
bool ckpt_verified(const ckpt_reader *r) { return r->verified; }

static const unsigned char h5sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};

/* Checks the integrity line (if any) before HDF5 sees the file. Returns 1 if verified, 0 if the
 * file has no ember header but an HDF5 signature, -1 with an error otherwise. */
static int verify_file(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return base_error_set("%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0) {
        close(fd);
        return base_error_set("%s: cannot stat: %s", path, strerror(errno));
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return base_error_set("%s: is a directory, expected a checkpoint file", path);
    }
    unsigned char ub[UB_SIZE + 1];
    ssize_t got = pread(fd, ub, UB_SIZE, 0);
    if (got < 0) {
        close(fd);
        return base_error_set("%s: cannot read: %s", path, strerror(errno));
    }
    ub[got] = 0;
    size_t ml = strlen(UB_MAGIC);
    if ((size_t)got >= ml && memcmp(ub, UB_MAGIC, ml) == 0) {
        int ver = 0;
        long long size = 0;
        unsigned long long hash = 0;
        int used = 0;
        if (sscanf((const char *)ub + ml, "%d %lld %16llx\n%n", &ver, &size, &hash, &used) != 3 || used == 0) {
            close(fd);
            return base_error_set("%s: damaged integrity header (first line): file is corrupt", path);
        }
        if (ver != 1) {
            close(fd);
            return base_error_set("%s: integrity header version %d: this ember reads version 1", path, ver);
        }
        if (st.st_size != size) {
            close(fd);
            if (st.st_size < size)
                return base_error_set("%s: truncated: %lld bytes, header says %lld", path,
                                    (long long)st.st_size, size);
            return base_error_set("%s: %lld bytes, header says %lld: extra bytes appended", path,
                                (long long)st.st_size, size);
        }
        uint64_t h;
        if (hash_fd(fd, UB_SIZE, st.st_size, &h) < 0) {
            int e = errno;
            close(fd);
            return base_error_set("%s: read error while verifying: %s", path, strerror(e));
        }
        close(fd);
        if (h != hash)
            return base_error_set("%s: checksum mismatch (content hash %016llx, header says %016llx): "
                                "the file is corrupt", path, (unsigned long long)h, hash);
        return 1;
    }
    /* No ember header: accept an HDF5 file written by another tool (signature at 0, 512, 1024, ...). */
    bool hdf5 = false;
    for (off_t off = 0; off + 8 <= st.st_size && !hdf5; off = off ? off * 2 : 512) {
        unsigned char sig[8];
        if (pread(fd, sig, 8, off) == 8 && memcmp(sig, h5sig, 8) == 0) hdf5 = true;
    }
    close(fd);
    if (!hdf5) {
        if (st.st_size == 0) return base_error_set("%s: empty file, expected an ember checkpoint", path);
        return base_error_set("%s: not an ember checkpoint: no integrity header and no HDF5 signature "
                            "(%lld bytes)", path, (long long)st.st_size);
    }
    return 0;
}

/* Opens attribute name of obj with its type and dataspace: 1 if open (close with attr_close), 0 if
 * absent, -1 on error (message not set). */
static int attr_open(hid_t file, const char *obj, const char *name, hid_t *a, hid_t *t, hid_t *sp) {
    htri_t ex = H5Aexists_by_name(file, obj, name, H5P_DEFAULT);
    if (ex <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return ex < 0 ? -1 : 0;
    }
    *a = H5Aopen_by_name(file, obj, name, H5P_DEFAULT, H5P_DEFAULT);
    if (*a < 0) return -1;
    *t = H5Aget_type(*a);
    *sp = H5Aget_space(*a);
    return 1;
}

static void attr_close(hid_t a, hid_t t, hid_t sp) {
    H5Tclose(t);
    H5Sclose(sp);
    H5Aclose(a);
    H5Eclear2(H5E_DEFAULT);
}

/* Reads a string attribute (fixed or variable length) into buf. 1 if read, 0 if absent, -1 on
 * error (message not set). */
static int read_attr_string(hid_t file, const char *obj, const char *name, char *buf, size_t size) {
    hid_t a = -1, t = -1, sp = -1;
    int rc = attr_open(file, obj, name, &a, &t, &sp);
    if (rc <= 0) return rc;
    rc = -1;
    if (H5Tget_class(t) == H5T_STRING && H5Sget_simple_extent_npoints(sp) == 1) {
        if (H5Tis_variable_str(t) > 0) {
            hid_t mt = H5Tcopy(H5T_C_S1);
            H5Tset_size(mt, H5T_VARIABLE);
            H5Tset_cset(mt, H5Tget_cset(t));
            char *s = NULL;
            if (H5Aread(a, mt, &s) >= 0 && s) {
                snprintf(buf, size, "%s", s);
                H5free_memory(s);
                rc = 1;
            }
            H5Tclose(mt);
        } else {
            size_t n = H5Tget_size(t);
            char *s = base_xcalloc(1, n + 1);
            hid_t mt = H5Tcopy(t);
            if (H5Aread(a, mt, s) >= 0) {
                snprintf(buf, size, "%s", s);
                rc = 1;
            }
            H5Tclose(mt);
            free(s);
        }
    }
    attr_close(a, t, sp);
    return rc;
}

/* Reads a scalar integer or float attribute as a double: 1 if read, 0 if absent, -1 on error. */
static int read_attr_f64(hid_t file, const char *obj, const char *name, double *out) {
    hid_t a = -1, t = -1, sp = -1;
    int rc = attr_open(file, obj, name, &a, &t, &sp);
    if (rc <= 0) return rc;
    rc = -1;
    H5T_class_t c = H5Tget_class(t);
    double v;
    if ((c == H5T_INTEGER || c == H5T_FLOAT) && H5Sget_simple_extent_npoints(sp) == 1 &&
        H5Aread(a, H5T_NATIVE_DOUBLE, &v) >= 0) {
        *out = v;
        rc = 1;
    }
    attr_close(a, t, sp);
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * Probe of unverified files in a child process
 *
 * Why: a file without the integrity line (written by h5py or another tool, or an ember file whose
 * user block was zeroed) reaches HDF5 unchecked, and HDF5 1.10's parser is not hardened: some
 * damaged files make it segfault -- an out-of-range global heap index in a string attribute and an
 * integer precision of 0 in an attribute's datatype (both read by ckpt_open itself), a damaged
 * B-tree under H5Literate (docs/FUZZING.md). So before the calling process lets HDF5 parse such a
 * file, a forked child reads all of it -- every link from the root, every attribute, every
 * dataset's values, with the memory types ember's readers use -- and reports through a pipe what
 * it is about to read. A crash, an HDF5 error or a hang in the child becomes an error in the caller
 * naming the object; only a file the child read whole is opened here. Verified files (the hash
 * matched) never fork.
 *
 * Fork and threads: the child is a copy of the calling thread only. It calls nothing but HDF5,
 * malloc, signal set-up, setitimer, write and _exit. glibc's malloc resets its locks in the child;
 * OpenBLAS's and OpenMP's pools are idle threads the child never uses; Hogwild workers do not run
 * while a checkpoint is opened (resume happens before they start). HDF5 here is built thread-safe:
 * its global lock is held only by a thread inside an HDF5 call, and ember calls HDF5 from one
 * thread at a time, the one calling ckpt_open; had another thread held it, the child would block
 * and the time limit would report it, never a wrong answer. The child never returns to the
 * caller's code: _exit skips atexit handlers (HDF5's H5close, LeakSanitizer) and never flushes stdio
 * buffers inherited from the parent. Under mpirun each rank that opens an unverified file forks its
 * own child; the child makes no MPI call and touches no MPI buffer (Open MPI's warning about fork
 * concerns children that use memory registered with the network), and the parent's MPI state is
 * untouched, so collective calls around ckpt_open are unaffected.
 * ------------------------------------------------------------------------------------------ */

#define PROBE_H5_ERROR 3                      /* child exit code: HDF5 reported an error */
#define PROBE_TIMEOUT_MS_DEFAULT 300000       /* 5 min, plus 1 s per 8 MiB of file (probe_timeout_ms) */
#define PROBE_LINE 512                        /* longest report line, '\n' included */
#define PROBE_GUARD 4096                      /* bytes checked after every read buffer */

typedef struct {
    int fd;           /* write end of the pipe to the parent */
    hid_t file;
    double max_bytes; /* refuse a dataset or attribute larger than this in memory */
    char path[PROBE_LINE];
} probe_ctx;

/* Sends one line "<tag><text>\n" to the parent; control bytes (a damaged name) become '?'. */
static void probe_say(const probe_ctx *c, char tag, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void probe_say(const probe_ctx *c, char tag, const char *fmt, ...) {
    char line[PROBE_LINE];
    line[0] = tag;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line + 1, sizeof line - 2, fmt, ap);
    va_end(ap);
    size_t len = 1 + (n < 0 ? 0 : (size_t)n < sizeof line - 2 ? (size_t)n : sizeof line - 3);
    for (size_t i = 1; i < len; i++)
        if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f) line[i] = '?';
    line[len++] = '\n';
    /* Lines are shorter than PIPE_BUF, so each write is atomic. */
    for (size_t off = 0; off < len;) {
        ssize_t w = write(c->fd, line + off, len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) _exit(PROBE_H5_ERROR); /* the parent is gone */
        off += (size_t)w;
    }
}

/* Reports the HDF5 error of a failed call on what and ends the child. */
__attribute__((noreturn)) static void probe_fail(const probe_ctx *c, const char *what) {
    char h5[256];
    h5_last_error(h5);
    probe_say(c, 'e', "%s (HDF5: %s)", what, h5[0] ? h5 : "no message");
    _exit(PROBE_H5_ERROR);
}

/* The memory type ember's readers use for values of file type ft, a new id (caller closes): strings
 * as read_attr_string / ckpt_get_string read them, numeric attributes as double (read_attr_f64),
 * numeric datasets as mem_type(classify()) (read_checked), anything else as HDF5's native type.
 * The same conversions as the later reads, since a damaged datatype can crash a conversion. */
static hid_t probe_mem_type(hid_t ft, bool is_attr) {
    H5T_class_t cl = H5Tget_class(ft);
    if (cl == H5T_STRING && H5Tis_variable_str(ft) > 0) {
        hid_t mt = H5Tcopy(H5T_C_S1);
        if (mt >= 0 && (H5Tset_size(mt, H5T_VARIABLE) < 0 || H5Tset_cset(mt, H5Tget_cset(ft)) < 0)) {
            H5Tclose(mt);
            return -1;
        }
        return mt;
    }
    if (cl == H5T_STRING) return H5Tcopy(ft);
    if (is_attr && (cl == H5T_INTEGER || cl == H5T_FLOAT)) return H5Tcopy(H5T_NATIVE_DOUBLE);
    if (!is_attr && mem_type(classify(ft)) >= 0) return H5Tcopy(mem_type(classify(ft)));
    return H5Tget_native_type(ft, H5T_DIR_ASCEND);
}

/* Checks a numeric file type's bit layout, which HDF5 1.10 takes on trust: a damaged precision or
 * offset (precision 72 in an 8-byte integer, or 0) makes its conversions read and write past their
 * buffers, and what they then overwrite depends on memory contents (the child may survive where the
 * caller would die of "stack smashing"), so it is refused here instead of read. Ends the child with
 * an error naming what if the layout is impossible. */
static void probe_check_type(const probe_ctx *c, hid_t ft, const char *what) {
    H5T_class_t cl = H5Tget_class(ft);
    if (cl != H5T_INTEGER && cl != H5T_FLOAT) return;
    size_t bits = 8 * H5Tget_size(ft), prec = H5Tget_precision(ft);
    int off = H5Tget_offset(ft);
    bool ok = bits > 0 && prec > 0 && off >= 0 && (size_t)off + prec <= bits;
    size_t spos = 0, epos = 0, esize = 0, mpos = 0, msize = 0;
    if (ok && cl == H5T_FLOAT)
        ok = H5Tget_fields(ft, &spos, &epos, &esize, &mpos, &msize) >= 0 && esize > 0 && msize > 0 &&
             spos < bits && epos + esize <= bits && mpos + msize <= bits;
    if (ok) return;
    probe_say(c, 'e', "%s: damaged datatype: %zu-byte %s with precision %zu at bit offset %d", what, bits / 8,
              cl == H5T_FLOAT ? "float" : "integer", prec, off);
    _exit(PROBE_H5_ERROR);
}

/* Reads all values of obj (an attribute if is_attr, else a dataset) of file type ft and dataspace
 * sp into memory as ember's readers would, then frees them (vlen data reclaimed). Ends the child on
 * an error. */
static void probe_read_values(const probe_ctx *c, hid_t obj, bool is_attr, hid_t ft, hid_t sp, const char *what) {
    probe_check_type(c, ft, what);
    hid_t nt = probe_mem_type(ft, is_attr);
    if (nt < 0) probe_fail(c, what);
    hssize_t np = H5Sget_simple_extent_npoints(sp);
    size_t es = H5Tget_size(nt);
    if (np < 0 || es == 0) probe_fail(c, what);
    double bytes = (double)np * (double)es;
    if (bytes > c->max_bytes) {
        probe_say(c, 'e', "%s: %.0f bytes in memory, more than a file of this size can hold", what, bytes);
        _exit(PROBE_H5_ERROR);
    }
    /* A guard after the values: a damaged datatype can make HDF5's conversion write past them (the
     * caller's read_attr_f64 into a stack double then dies of "stack smashing"); in a heap buffer
     * that would pass unnoticed here. */
    size_t vb = np ? (size_t)bytes : 1;
    unsigned char *buf = calloc(1, vb + PROBE_GUARD);
    if (!buf) {
        probe_say(c, 'e', "%s: cannot allocate %.0f bytes to read it", what, bytes);
        _exit(PROBE_H5_ERROR);
    }
    memset(buf + vb, 0xa5, PROBE_GUARD);
    herr_t rc = is_attr ? H5Aread(obj, nt, buf) : H5Dread(obj, nt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
    if (rc < 0) probe_fail(c, what);
    for (size_t i = 0; i < PROBE_GUARD; i++)
        if (buf[vb + i] != 0xa5) {
            probe_say(c, 'e', "%s: HDF5 wrote past the %zu bytes of values it read (a damaged datatype)", what, vb);
            _exit(PROBE_H5_ERROR);
        }
    if (H5Tdetect_class(nt, H5T_VLEN) > 0 || H5Tis_variable_str(nt) > 0) {
#if H5_VERSION_GE(1, 12, 0)
        rc = H5Treclaim(nt, sp, H5P_DEFAULT, buf);
#else
        rc = H5Dvlen_reclaim(nt, sp, H5P_DEFAULT, buf);
#endif
        if (rc < 0) probe_fail(c, what);
    }
    free(buf);
    H5Tclose(nt);
}

static herr_t probe_attr_cb(hid_t loc, const char *name, const H5A_info_t *info, void *op) {
    (void)info;
    const probe_ctx *c = op;
    char what[2 * PROBE_LINE]; /* probe_say truncates */
    snprintf(what, sizeof what, "attribute '%s' of %s", name, c->path);
    probe_say(c, 'o', "%s", what);
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0) probe_fail(c, what);
    hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
    if (t < 0 || sp < 0) probe_fail(c, what);
    probe_read_values(c, a, true, t, sp, what);
    H5Tclose(t);
    H5Sclose(sp);
    H5Aclose(a);
    return 0;
}

static herr_t probe_link_nop(hid_t g, const char *name, const H5L_info_t *info, void *op) {
    (void)g, (void)name, (void)info, (void)op;
    return 0;
}

/* Opens the object at c->path and reads its attributes, and a dataset's values; a group's
 * creation-order index (list_group iterates it first) is walked too. */
static void probe_object(probe_ctx *c) {
    probe_say(c, 'o', "%s", c->path);
    hid_t o = H5Oopen(c->file, c->path, H5P_DEFAULT);
    if (o < 0) probe_fail(c, c->path);
    hsize_t idx = 0;
    if (H5Aiterate2(o, H5_INDEX_NAME, H5_ITER_INC, &idx, probe_attr_cb, c) < 0) probe_fail(c, c->path);
    H5I_type_t ty = H5Iget_type(o);
    if (ty == H5I_GROUP) {
        /* Fails on a group without the index (list_group then iterates by name, as H5Lvisit does). */
        idx = 0;
        if (H5Literate(o, H5_INDEX_CRT_ORDER, H5_ITER_INC, &idx, probe_link_nop, NULL) < 0) H5Eclear2(H5E_DEFAULT);
    } else if (ty == H5I_DATASET) {
        hid_t t = H5Dget_type(o), sp = H5Dget_space(o);
        if (t < 0 || sp < 0) probe_fail(c, c->path);
        probe_read_values(c, o, false, t, sp, c->path);
        H5Tclose(t);
        H5Sclose(sp);
    }
    H5Oclose(o);
}

static herr_t probe_visit_cb(hid_t g, const char *name, const H5L_info_t *info, void *op) {
    (void)g;
    probe_ctx *c = op;
    snprintf(c->path, sizeof c->path, "/%s", name);
    /* Soft and external links are not followed by ember's readers either (visit_rec skips what
     * H5Oopen cannot open; nothing else resolves them). */
    if (info->type == H5L_TYPE_HARD) probe_object(c);
    return 0;
}

/* The child: reads everything in path, reporting to fd. Never returns. */
__attribute__((noreturn)) static void probe_child(const char *path, int fd, double file_bytes, long timeout_ms) {
    int null = open("/dev/null", O_WRONLY);
    if (null >= 0) {
        dup2(null, STDERR_FILENO); /* a sanitizer report or HDF5 message from here: the parent summarises */
        close(null);
    }
    /* The caller's handlers must not run here: a test framework's or crash reporter's SIGSEGV
     * handler would longjmp back into the caller's code in this copy of the process, and a blocked or
     * handled SIGALRM would defeat the time limit. (Under ASan this also drops its SEGV report.) */
    static const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGSYS, SIGTRAP, SIGALRM, SIGPIPE};
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++) signal(sigs[i], SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    struct itimerval tv = {{0, 0}, {timeout_ms / 1000, (timeout_ms % 1000) * 1000}};
    setitimer(ITIMER_REAL, &tv, NULL); /* default SIGALRM action: the child dies, the parent reports */
    probe_ctx c = {.fd = fd, .max_bytes = file_bytes * 1100.0 + 64.0 * 1024 * 1024};
    /* deflate expands at most ~1032x, so no honest dataset is larger than max_bytes. */
    snprintf(c.path, sizeof c.path, "/");
    probe_say(&c, 'o', "the superblock");
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
    no_file_locking(fapl);
    c.file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    if (c.file < 0) probe_fail(&c, "the superblock");
    probe_object(&c);
    snprintf(c.path, sizeof c.path, "/");
    if (H5Lvisit(c.file, H5_INDEX_NAME, H5_ITER_INC, probe_visit_cb, &c) < 0) probe_fail(&c, "the group tree");
    _exit(0);
}

/* The child's time limit: generous (a healthy file reads at hundreds of MB/s; this allows 8 MB/s
 * after 5 min), since a good file refused for slowness would be worse than a wait. A damaged file
 * can make HDF5 loop (a damaged string type: H5T__conv_vlen clearing ever more memory) and then
 * costs the whole wait. Test hook, documented in ckpt.h: EMBER_CKPT_PROBE_TIMEOUT_MS lowers it
 * (never raises it). */
static long probe_timeout_ms(double file_bytes) {
    long ms = PROBE_TIMEOUT_MS_DEFAULT + (long)(file_bytes / (8.0 * 1024 * 1024) * 1000.0);
    const char *s = getenv("EMBER_CKPT_PROBE_TIMEOUT_MS");
    char *end;
    long v = s ? strtol(s, &end, 10) : 0;
    if (s && *s && *end == 0 && v > 0 && v < ms) return v;
    return ms;
}

static void probe_signal_name(int sig, char *buf, size_t size) {
    static const struct { int sig; const char *name; } names[] = {
        {SIGSEGV, "SIGSEGV"}, {SIGBUS, "SIGBUS"}, {SIGABRT, "SIGABRT"}, {SIGFPE, "SIGFPE"},
        {SIGILL, "SIGILL"},   {SIGKILL, "SIGKILL, perhaps out of memory"}, {SIGTERM, "SIGTERM"}};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (names[i].sig == sig) {
            snprintf(buf, size, "%s", names[i].name);
            return;
        }
    snprintf(buf, size, "signal %d", sig);
}

/* Reads the unverified file path whole in a forked child (above). Returns 0 if the child read
 * everything, -1 with an error naming the file, the object and what happened otherwise. */
static int probe_unverified(const char *path) {
    struct stat st;
    if (stat(path, &st) < 0) return base_error_set("%s: cannot stat: %s", path, strerror(errno));
    long timeout_ms = probe_timeout_ms((double)st.st_size);
    int p[2];
    if (pipe(p) < 0)
        return base_error_set("%s: no integrity line, and cannot create a pipe to check it in a child process: "
                              "%s; nothing was loaded from it", path, strerror(errno));
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(p[0]);
        close(p[1]);
        return base_error_set("%s: no integrity line, and cannot fork to check it in a child process: %s; "
                              "nothing was loaded from it", path, strerror(e));
    }
    if (pid == 0) {
        close(p[0]);
        probe_child(path, p[1], (double)st.st_size, timeout_ms);
    }
    close(p[1]);
    /* Keep the last "o" (object being read) and "e" (HDF5 error) lines. */
    char line[PROBE_LINE + 1], at[PROBE_LINE] = "the file", err[PROBE_LINE] = "";
    size_t ll = 0;
    char buf[4096];
    for (;;) {
        ssize_t n = read(p[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] != '\n') {
                if (ll < PROBE_LINE) line[ll++] = buf[i];
                continue;
            }
            line[ll] = 0;
            if (ll > 0 && line[0] == 'o') snprintf(at, sizeof at, "%s", line + 1);
            if (ll > 0 && line[0] == 'e') snprintf(err, sizeof err, "%s", line + 1);
            ll = 0;
        }
    }
    close(p[0]);
    int ws;
    pid_t w;
    while ((w = waitpid(pid, &ws, 0)) < 0 && errno == EINTR) {}
    if (w < 0)
        return base_error_set("%s: no integrity line, and the child process checking it was lost (%s); nothing "
                              "was loaded from it", path, strerror(errno));
    if (WIFEXITED(ws) && WEXITSTATUS(ws) == 0) return 0;
    if (WIFEXITED(ws) && WEXITSTATUS(ws) == PROBE_H5_ERROR && err[0])
        return base_error_set("%s: no integrity line, and reading it whole failed: %s: the file is damaged or "
                              "not readable by this HDF5; nothing was loaded from it", path, err);
    if (WIFSIGNALED(ws) && WTERMSIG(ws) == SIGALRM)
        return base_error_set("%s: no integrity line, and HDF5's parser did not finish reading %s within %g s "
                              "(time limit): the file is damaged or too large to check; nothing was loaded from "
                              "it", path, at, (double)timeout_ms / 1000.0);
    /* Any other end is a crash: a signal, or (under ASan) an exit code after its report. */
    char how[64];
    if (WIFSIGNALED(ws)) probe_signal_name(WTERMSIG(ws), how, sizeof how);
    else snprintf(how, sizeof how, "exit code %d", WEXITSTATUS(ws));
    return base_error_set("%s: no integrity line, and HDF5's parser crashed (%s) reading %s: the file is "
                          "damaged; nothing was loaded from it", path, how, at);
}

int ckpt_check_integrity(const char *path) { return verify_file(path); }

static FILE *g_unverified_warnings; /* ckpt_set_unverified_warnings */

void ckpt_set_unverified_warnings(FILE *f) { g_unverified_warnings = f; }

ckpt_reader *ckpt_open(const char *path) {
    h5_init();
    if (!path || !path[0]) {
        base_error_set("ckpt: empty checkpoint path");
        return NULL;
    }
    int v = verify_file(path);
    if (v < 0) return NULL;
    if (v == 0 && probe_unverified(path) < 0) return NULL; /* see "Probe of unverified files" */
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
    no_file_locking(fapl);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    if (f < 0) {
        h5_fail(path, "cannot open as HDF5");
        return NULL;
    }
    char fmt[128];
    int a = read_attr_string(f, "/", "format", fmt, sizeof fmt);
    if (a <= 0) {
        H5Fclose(f);
        base_error_set("%s: not an ember checkpoint: the root attribute 'format' is %s", path,
                     a == 0 ? "missing" : "not a string");
        return NULL;
    }
    if (strcmp(fmt, CKPT_FORMAT) != 0) {
        H5Fclose(f);
        base_error_set("%s: not an ember checkpoint: format is '%s', expected '%s'", path, fmt, CKPT_FORMAT);
        return NULL;
    }
    double ver;
    a = read_attr_f64(f, "/", "format_version", &ver);
    if (a <= 0 || ver != (double)(int)ver) {
        H5Fclose(f);
        base_error_set("%s: root attribute 'format_version' is %s", path, a == 0 ? "missing" : "not an integer");
        return NULL;
    }
    if (ver > CKPT_FORMAT_VERSION || ver < 1) {
        H5Fclose(f);
        base_error_set("%s: format_version %d %s; this ember (%s) reads versions 1..%d", path, (int)ver,
                     ver > CKPT_FORMAT_VERSION ? "is newer than this ember supports" : "is invalid",
                     EMBER_VERSION, CKPT_FORMAT_VERSION);
        return NULL;
    }
    ckpt_reader *r = base_xcalloc(1, sizeof *r);
    r->path = base_xstrdup(path);
    r->file = f;
    r->version = (int)ver;
    r->verified = v == 1;
    if (read_attr_string(f, "/", "ember_version", r->ember_version, sizeof r->ember_version) <= 0)
        r->ember_version[0] = 0;
    if (!r->verified && g_unverified_warnings)
        fprintf(g_unverified_warnings,
                "warning: %s: no integrity line: its contents are not verified (a damaged file may give wrong "
                "values silently)\n", path);
    return r;
}

void ckpt_close(ckpt_reader *r) {
    if (!r) return;
    H5Fclose(r->file);
    H5Eclear2(H5E_DEFAULT);
    free(r->path);
    free(r);
}

int ckpt_get_attr_string(ckpt_reader *r, const char *obj, const char *name, char *buf, size_t size) {
    if (!link_exists(r->file, obj) && strcmp(obj, "/") != 0)
        return base_error_set("%s: %s: missing in file", r->path, obj);
    int a = read_attr_string(r->file, obj, name, buf, size);
    if (a <= 0) return base_error_set("%s: %s: attribute '%s' %s", r->path, obj, name, a == 0 ? "missing" : "is not a string");
    return 0;
}

int ckpt_get_attr_f64(ckpt_reader *r, const char *obj, const char *name, double *out) {
    if (!link_exists(r->file, obj) && strcmp(obj, "/") != 0)
        return base_error_set("%s: %s: missing in file", r->path, obj);
    int a = read_attr_f64(r->file, obj, name, out);
    if (a <= 0) return base_error_set("%s: %s: attribute '%s' %s", r->path, obj, name, a == 0 ? "missing" : "is not a number");
    return 0;
}

/* Opens the dataset at path and describes it. Returns the dataset id (caller closes) or -1 with an
 * error "file: path: missing in file" / "... is a group, expected a dataset". */
static hid_t open_dataset(ckpt_reader *r, const char *path, ckpt_info *info) {
    if (!path || path[0] != '/' || !link_exists(r->file, path)) {
        base_error_set("%s: %s: missing in file", r->path, path ? path : "(null)");
        return -1;
    }
    hid_t o = H5Oopen(r->file, path, H5P_DEFAULT);
    if (o < 0) {
        h5_fail(r->path, "%s: cannot open", path);
        return -1;
    }
    if (H5Iget_type(o) != H5I_DATASET) {
        H5Oclose(o);
        base_error_set("%s: %s: is a group, expected a dataset", r->path, path);
        return -1;
    }
    hid_t ds = o;
    hid_t t = H5Dget_type(ds), sp = H5Dget_space(ds);
    memset(info, 0, sizeof *info);
    info->dtype = classify(t);
    int nd = H5Sget_simple_extent_ndims(sp);
    if (t < 0 || sp < 0 || nd < 0 || nd > CKPT_MAX_DIMS) {
        if (t >= 0) H5Tclose(t);
        if (sp >= 0) H5Sclose(sp);
        H5Dclose(ds);
        if (nd > CKPT_MAX_DIMS) base_error_set("%s: %s: %d dimensions, at most %d supported", r->path, path, nd, CKPT_MAX_DIMS);
        else h5_fail(r->path, "%s: unreadable dataspace or datatype", path);
        return -1;
    }
    hsize_t d[CKPT_MAX_DIMS];
    H5Sget_simple_extent_dims(sp, d, NULL);
    info->ndim = nd;
    info->numel = 1;
    for (int i = 0; i < nd; i++) info->numel *= (int64_t)(info->shape[i] = (int64_t)d[i]);
    if (info->dtype == CKPT_STRING) {
        /* Length in bytes without the terminating NUL of ember's NULLTERM strings. */
        info->numel = H5Tis_variable_str(t) > 0 ? 0 : (int64_t)H5Tget_size(t);
        if (info->numel > 0 && H5Tget_strpad(t) == H5T_STR_NULLTERM) info->numel--;
    }
    info->storage_bytes = (int64_t)H5Dget_storage_size(ds);
    H5Tclose(t);
    H5Sclose(sp);
    H5Eclear2(H5E_DEFAULT);
    return ds;
}

bool ckpt_has(ckpt_reader *r, const char *path) {
    ckpt_info info;
    hid_t ds = open_dataset(r, path, &info);
    if (ds < 0) {
        base_error_clear();
        return false;
    }
    H5Dclose(ds);
    return true;
}

int ckpt_get_info(ckpt_reader *r, const char *path, ckpt_info *info) {
    hid_t ds = open_dataset(r, path, info);
    if (ds < 0) return -1;
    H5Dclose(ds);
    return 0;
}

/* Reads a dataset after checking dtype and shape. ndim 0 asks for a scalar (file shape [] or [1]).
 * who: "model" or "expected", for the message. */
static int read_checked(ckpt_reader *r, const char *path, ckpt_dtype want, int ndim, const int64_t *shape,
                        void *out, const char *who) {
    ckpt_info info;
    hid_t ds = open_dataset(r, path, &info);
    if (ds < 0) return -1;
    int rc = 0;
    char a[160], b[160];
    if (info.dtype != want) {
        rc = base_error_set("%s: %s: dtype %s in file, %s %s", r->path, path, ckpt_dtype_name(info.dtype),
                          ckpt_dtype_name(want), who);
    } else {
        bool same = info.ndim == ndim;
        for (int i = 0; same && i < ndim; i++) same = info.shape[i] == shape[i];
        if (ndim == 0 && info.ndim == 1 && info.shape[0] == 1) same = true;
        if (!same) {
            shape_str(info.ndim, info.shape, a, sizeof a);
            shape_str(ndim, shape, b, sizeof b);
            rc = base_error_set("%s: %s: shape %s in file, %s %s", r->path, path, a, b, who);
        }
    }
    if (rc == 0 && info.numel > 0 && H5Dread(ds, mem_type(want), H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0)
        rc = h5_fail(r->path, "%s: read failed", path);
    H5Dclose(ds);
    return rc;
}

int ckpt_get_i64(ckpt_reader *r, const char *path, int64_t *out) {
    int64_t v;
    if (read_checked(r, path, CKPT_I64, 0, NULL, &v, "expected") < 0) return -1;
    *out = v;
    return 0;
}
int ckpt_get_f64(ckpt_reader *r, const char *path, double *out) {
    double v;
    if (read_checked(r, path, CKPT_F64, 0, NULL, &v, "expected") < 0) return -1;
    *out = v;
    return 0;
}
int ckpt_get_i64_array(ckpt_reader *r, const char *path, int64_t *out, int64_t n) {
    return read_checked(r, path, CKPT_I64, 1, &n, out, "expected");
}
int ckpt_get_u64_array(ckpt_reader *r, const char *path, uint64_t *out, int64_t n) {
    return read_checked(r, path, CKPT_U64, 1, &n, out, "expected");
}
int ckpt_get_f64_array(ckpt_reader *r, const char *path, double *out, int64_t n) {
    return read_checked(r, path, CKPT_F64, 1, &n, out, "expected");
}
int ckpt_get_f32_array(ckpt_reader *r, const char *path, float *out, int ndim, const int64_t *shape) {
    return read_checked(r, path, CKPT_F32, ndim, shape, out, "expected");
}
int ckpt_get_i32_array(ckpt_reader *r, const char *path, int32_t *out, int ndim, const int64_t *shape) {
    return read_checked(r, path, CKPT_I32, ndim, shape, out, "expected");
}
int ckpt_get_rng(ckpt_reader *r, const char *path, base_rng *out) {
    uint64_t s[4];
    if (ckpt_get_u64_array(r, path, s, 4) < 0) return -1;
    memcpy(out->s, s, sizeof s);
    return 0;
}

int ckpt_get_string(ckpt_reader *r, const char *path, char **out) {
    ckpt_info info;
    hid_t ds = open_dataset(r, path, &info);
    if (ds < 0) return -1;
    int rc = -1;
    hid_t t = H5Dget_type(ds), sp = H5Dget_space(ds);
    if (info.dtype != CKPT_STRING || H5Sget_simple_extent_npoints(sp) != 1) {
        char a[160];
        shape_str(info.ndim, info.shape, a, sizeof a);
        base_error_set("%s: %s: %s %s in file, a single string expected", r->path, path,
                     ckpt_dtype_name(info.dtype), a);
    } else if (H5Tis_variable_str(t) > 0) {
        /* Written by h5py (str): variable length. */
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5Tget_cset(t));
        char *s = NULL;
        if (H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, &s) < 0) h5_fail(r->path, "%s: read failed", path);
        else {
            *out = base_xstrdup(s ? s : "");
            H5free_memory(s);
            rc = 0;
        }
        H5Tclose(mt);
    } else {
        size_t n = H5Tget_size(t);
        char *s = base_xcalloc(1, n + 1);
        hid_t mt = H5Tcopy(t);
        if (H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, s) < 0) {
            h5_fail(r->path, "%s: read failed", path);
            free(s);
        } else {
            *out = s;
            rc = 0;
        }
        H5Tclose(mt);
    }
    H5Tclose(t);
    H5Sclose(sp);
    H5Dclose(ds);
    return rc;
}

int ckpt_get_config_json(ckpt_reader *r, char **out) { return ckpt_get_string(r, "/config", out); }

void ckpt_free_words(char **words, int64_t n) {
    if (!words) return;
    for (int64_t i = 0; i < n; i++) free(words[i]);
    free(words);
}

int ckpt_get_vocab(ckpt_reader *r, char ***words, int64_t **counts, int64_t *n) {
    ckpt_info wi, ci;
    if (ckpt_get_info(r, "/vocab/counts", &ci) < 0 || ckpt_get_info(r, "/vocab/words", &wi) < 0) return -1;
    if (ci.ndim != 1) return base_error_set("%s: /vocab/counts: %d dimensions in file, 1 expected", r->path, ci.ndim);
    if (wi.ndim != 1) return base_error_set("%s: /vocab/words: %d dimensions in file, 1 expected", r->path, wi.ndim);
    int64_t nw = ci.shape[0], nb = wi.shape[0];
    int64_t *c = base_xmalloc((size_t)(nw ? nw : 1) * sizeof *c);
    char *bytes = base_xmalloc((size_t)nb + 1);
    if (ckpt_get_i64_array(r, "/vocab/counts", c, nw) < 0 ||
        read_checked(r, "/vocab/words", CKPT_U8, 1, &nb, bytes, "expected") < 0) {
        free(c);
        free(bytes);
        return -1;
    }
    /* Split on NUL: exactly nw words, the last one terminated. */
    int64_t nul = 0;
    for (int64_t i = 0; i < nb; i++) nul += bytes[i] == 0;
    if (nul != nw || (nb > 0 && bytes[nb - 1] != 0)) {
        free(c);
        free(bytes);
        return base_error_set("%s: /vocab/words: %" PRId64 " NUL-terminated words in file, /vocab/counts "
                            "has %" PRId64, r->path, nul, nw);
    }
    char **ws = base_xmalloc((size_t)(nw ? nw : 1) * sizeof *ws);
    int64_t off = 0;
    for (int64_t i = 0; i < nw; i++) {
        ws[i] = base_xstrdup(bytes + off);
        off += (int64_t)strlen(bytes + off) + 1;
    }
    free(bytes);
    *words = ws;
    *counts = c;
    *n = nw;
    return 0;
}

int ckpt_get_merges(ckpt_reader *r, int32_t **merges, int64_t *m) {
    ckpt_info info;
    if (ckpt_get_info(r, "/tokenizer/merges", &info) < 0) return -1;
    if (info.ndim != 2 || info.shape[1] != 2) {
        char a[160];
        shape_str(info.ndim, info.shape, a, sizeof a);
        return base_error_set("%s: /tokenizer/merges: shape %s in file, [M, 2] expected", r->path, a);
    }
    int32_t *buf = base_xmalloc((size_t)(info.shape[0] ? info.shape[0] : 1) * 2 * sizeof *buf);
    if (ckpt_get_i32_array(r, "/tokenizer/merges", buf, 2, info.shape) < 0) {
        free(buf);
        return -1;
    }
    *merges = buf;
    *m = info.shape[0];
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Group listing, visiting
 * ------------------------------------------------------------------------------------------ */
typedef struct {
    char **names;
    int n, cap;
} name_list;

static void names_push(name_list *l, const char *s) {
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->names = base_xrealloc(l->names, (size_t)l->cap * sizeof *l->names);
    }
    l->names[l->n++] = base_xstrdup(s);
}

static void names_free(name_list *l) {
    for (int i = 0; i < l->n; i++) free(l->names[i]);
    free(l->names);
    memset(l, 0, sizeof *l);
}

static herr_t list_cb(hid_t g, const char *name, const H5L_info_t *info, void *ctx) {
    (void)g;
    (void)info;
    names_push((name_list *)ctx, name);
    return 0;
}

/* Names of the links in group path, in creation order if the file tracks it, else by name.
 * Returns 0 (an absent group gives an empty list) or -1 with an error. */
static int list_group(ckpt_reader *r, const char *path, name_list *out) {
    memset(out, 0, sizeof *out);
    if (strcmp(path, "/") != 0 && !link_exists(r->file, path)) return 0;
    hid_t g = H5Gopen2(r->file, path, H5P_DEFAULT);
    if (g < 0) return h5_fail(r->path, "%s: cannot open group", path);
    hsize_t idx = 0;
    if (H5Literate(g, H5_INDEX_CRT_ORDER, H5_ITER_INC, &idx, list_cb, out) < 0) {
        names_free(out);
        H5Eclear2(H5E_DEFAULT);
        idx = 0;
        if (H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, &idx, list_cb, out) < 0) {
            names_free(out);
            H5Gclose(g);
            return h5_fail(r->path, "%s: cannot list group", path);
        }
    }
    H5Gclose(g);
    return 0;
}

static int visit_rec(ckpt_reader *r, const char *path, ckpt_visit_fn fn, void *ctx, int depth) {
    if (depth > 32) return base_error_set("%s: %s: groups nested too deeply", r->path, path);
    name_list l;
    if (list_group(r, path, &l) < 0) return -1;
    int rc = 0;
    for (int i = 0; i < l.n && rc == 0; i++) {
        size_t n = strlen(path) + strlen(l.names[i]) + 2;
        char *child = base_xmalloc(n);
        snprintf(child, n, "%s%s%s", path, strcmp(path, "/") ? "/" : "", l.names[i]);
        hid_t o = H5Oopen(r->file, child, H5P_DEFAULT);
        if (o < 0) {
            /* Dangling or external links are listed but not followed. */
            H5Eclear2(H5E_DEFAULT);
            free(child);
            continue;
        }
        H5I_type_t ty = H5Iget_type(o);
        H5Oclose(o);
        if (ty == H5I_GROUP) {
            rc = fn(child, NULL, ctx) ? 1 : visit_rec(r, child, fn, ctx, depth + 1);
        } else if (ty == H5I_DATASET) {
            ckpt_info info;
            if (ckpt_get_info(r, child, &info) < 0) rc = -1;
            else rc = fn(child, &info, ctx) ? 1 : 0;
        }
        free(child);
    }
    names_free(&l);
    return rc;
}

int ckpt_visit(ckpt_reader *r, ckpt_visit_fn visit, void *ctx) {
    int rc = visit_rec(r, "/", visit, ctx, 0);
    return rc < 0 ? -1 : 0;
}

/* ---------------------------------------------------------------------------------------------
 * Loading parameters and optimizer state
 * ------------------------------------------------------------------------------------------ */
typedef struct {
    char *buf;
    size_t len, cap;
    int count;
} diff_list;

static void diff_add(diff_list *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void diff_add(diff_list *d, const char *fmt, ...) {
    char item[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(item, sizeof item, fmt, ap);
    va_end(ap);
    size_t n = strlen(item) + 2;
    if (d->len + n + 1 > d->cap) {
        d->cap = (d->cap + n + 1) * 2;
        d->buf = base_xrealloc(d->buf, d->cap);
    }
    d->len += (size_t)snprintf(d->buf + d->len, d->cap - d->len, "%s%s", d->count ? "; " : "", item);
    d->count++;
}

int ckpt_load_params(ckpt_reader *r, nn_params *ps, bool strict) {
    if (!strict) return ckpt_load_params_glob(r, ps, "*", NULL);
    name_list fl;
    if (list_group(r, "/params", &fl) < 0) return -1;
    diff_list d = {0};
    char path[4096], a[160], b[160];
    for (int i = 0; i < ps->n; i++) {
        const nn_param *p = &ps->items[i];
        snprintf(path, sizeof path, "/params/%s", p->name);
        ckpt_info info;
        if (!link_exists(r->file, path)) {
            diff_add(&d, "%s: missing in file", path);
            continue;
        }
        if (ckpt_get_info(r, path, &info) < 0) {
            diff_add(&d, "%s", base_error_msg());
            continue;
        }
        if (info.dtype != CKPT_F32) {
            diff_add(&d, "%s: dtype %s in file, float32 in model", path, ckpt_dtype_name(info.dtype));
            continue;
        }
        bool same = info.ndim == p->t->ndim;
        for (int k = 0; same && k < info.ndim; k++) same = info.shape[k] == p->t->shape[k];
        if (!same) {
            shape_str(info.ndim, info.shape, a, sizeof a);
            shape_str(p->t->ndim, p->t->shape, b, sizeof b);
            diff_add(&d, "%s: shape %s in file, %s in model", path, a, b);
        }
    }
    for (int i = 0; i < fl.n; i++)
        if (!nn_params_find(ps, fl.names[i])) diff_add(&d, "/params/%s: unexpected in file (not in model)", fl.names[i]);
    names_free(&fl);
    if (d.count) {
        base_error_set("%s: %d difference%s between file and model: %s", r->path, d.count, d.count > 1 ? "s" : "",
                     d.buf);
        free(d.buf);
        return -1;
    }
    for (int i = 0; i < ps->n; i++) {
        const nn_param *p = &ps->items[i];
        snprintf(path, sizeof path, "/params/%s", p->name);
        if (read_checked(r, path, CKPT_F32, p->t->ndim, p->t->shape, p->t->data, "in model") < 0) return -1;
    }
    return ps->n;
}

static void rep_push(char ***list, int *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void rep_push(char ***list, int *n, const char *fmt, ...) {
    char item[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(item, sizeof item, fmt, ap);
    va_end(ap);
    *list = base_xrealloc(*list, (size_t)(*n + 1) * sizeof **list);
    (*list)[(*n)++] = base_xstrdup(item);
}

void ckpt_load_report_free(ckpt_load_report *rep) {
    if (!rep) return;
    for (int i = 0; i < rep->nloaded; i++) free(rep->loaded[i]);
    for (int i = 0; i < rep->nskipped; i++) free(rep->skipped[i]);
    free(rep->loaded);
    free(rep->skipped);
    memset(rep, 0, sizeof *rep);
}

void ckpt_load_report_print(const ckpt_load_report *rep, FILE *f) {
    fprintf(f, "loaded %d parameter%s, skipped %d\n", rep->nloaded, rep->nloaded == 1 ? "" : "s", rep->nskipped);
    for (int i = 0; i < rep->nloaded; i++) fprintf(f, "  loaded  %s\n", rep->loaded[i]);
    for (int i = 0; i < rep->nskipped; i++) fprintf(f, "  skipped %s\n", rep->skipped[i]);
}

int ckpt_load_params_glob(ckpt_reader *r, nn_params *ps, const char *pattern, ckpt_load_report *rep) {
    ckpt_load_report local = {0};
    ckpt_load_report *R = rep ? rep : &local;
    memset(R, 0, sizeof *R);
    name_list fl;
    if (list_group(r, "/params", &fl) < 0) return -1;
    char path[4096], a[160], b[160];
    int loaded = 0, rc = 0;
    for (int i = 0; i < ps->n && rc == 0; i++) {
        const nn_param *p = &ps->items[i];
        if (fnmatch(pattern, p->name, 0) != 0) {
            rep_push(&R->skipped, &R->nskipped, "%s: not selected by '%s'", p->name, pattern);
            continue;
        }
        snprintf(path, sizeof path, "/params/%s", p->name);
        if (!link_exists(r->file, path)) {
            rep_push(&R->skipped, &R->nskipped, "%s: not in file", p->name);
            continue;
        }
        ckpt_info info;
        if (ckpt_get_info(r, path, &info) < 0) {
            rc = -1;
            break;
        }
        if (info.dtype != CKPT_F32) {
            rep_push(&R->skipped, &R->nskipped, "%s: dtype %s in file, float32 in model", p->name,
                     ckpt_dtype_name(info.dtype));
            continue;
        }
        bool same = info.ndim == p->t->ndim;
        for (int k = 0; same && k < info.ndim; k++) same = info.shape[k] == p->t->shape[k];
        if (!same) {
            shape_str(info.ndim, info.shape, a, sizeof a);
            shape_str(p->t->ndim, p->t->shape, b, sizeof b);
            rep_push(&R->skipped, &R->nskipped, "%s: shape %s in file, %s in model", p->name, a, b);
            continue;
        }
        if (read_checked(r, path, CKPT_F32, p->t->ndim, p->t->shape, p->t->data, "in model") < 0) {
            rc = -1;
            break;
        }
        rep_push(&R->loaded, &R->nloaded, "%s", p->name);
        loaded++;
    }
    for (int i = 0; i < fl.n && rc == 0; i++)
        if (!nn_params_find(ps, fl.names[i]) && fnmatch(pattern, fl.names[i], 0) == 0)
            rep_push(&R->skipped, &R->nskipped, "%s: in file but not in model", fl.names[i]);
    names_free(&fl);
    if (!rep) ckpt_load_report_free(&local);
    return rc < 0 ? -1 : loaded;
}

int ckpt_load_optim(ckpt_reader *r, optim *o) {
    if (!link_exists(r->file, "/optim")) return base_error_set("%s: /optim: missing in file (no optimizer state saved)", r->path);
    char kind[64];
    if (ckpt_get_attr_string(r, "/optim", "kind", kind, sizeof kind) < 0) return -1;
    const char *want = optim_kind_name(optim_get_config(o)->kind);
    if (strcmp(kind, want) != 0)
        return base_error_set("%s: /optim: optimizer kind '%s' in file, '%s' in the optimizer", r->path, kind, want);
    double step, lr;
    if (ckpt_get_attr_f64(r, "/optim", "step", &step) < 0 || ckpt_get_attr_f64(r, "/optim", "lr", &lr) < 0) return -1;
    if (step < 0 || step != (double)(int64_t)step)
        return base_error_set("%s: /optim: attribute 'step' is %g, expected a non-negative integer", r->path, step);

    /* Pass 1: every buffer in the file must exist in the optimizer with the same size. */
    typedef struct { char *path; float *dst; int64_t numel; } item;
    item *items = NULL;
    int nitems = 0, rc = 0;
    name_list params;
    if (list_group(r, "/optim", &params) < 0) return -1;
    diff_list d = {0};
    char path[4096];
    for (int i = 0; i < params.n && rc == 0; i++) {
        snprintf(path, sizeof path, "/optim/%s", params.names[i]);
        name_list slots;
        if (list_group(r, path, &slots) < 0) {
            rc = -1;
            break;
        }
        for (int j = 0; j < slots.n; j++) {
            snprintf(path, sizeof path, "/optim/%s/%s", params.names[i], slots.names[j]);
            ckpt_info info;
            if (ckpt_get_info(r, path, &info) < 0) {
                diff_add(&d, "%s", base_error_msg());
                continue;
            }
            if (info.dtype != CKPT_F32) {
                diff_add(&d, "%s: dtype %s in file, float32 expected", path, ckpt_dtype_name(info.dtype));
                continue;
            }
            int64_t numel = 0;
            float *dst = optim_state_find(o, params.names[i], slots.names[j], &numel);
            if (!dst) {
                diff_add(&d, "%s: unknown to this %s optimizer (no such parameter or slot)", path, want);
                continue;
            }
            if (numel != info.numel) {
                diff_add(&d, "%s: %" PRId64 " values in file, %" PRId64 " in the optimizer", path, info.numel, numel);
                continue;
            }
            items = base_xrealloc(items, (size_t)(nitems + 1) * sizeof *items);
            items[nitems].path = base_xstrdup(path);
            items[nitems].dst = dst;
            items[nitems].numel = numel;
            nitems++;
        }
        names_free(&slots);
    }
    names_free(&params);
    if (rc == 0 && d.count) {
        rc = base_error_set("%s: optimizer state does not fit: %s", r->path, d.buf);
    }
    free(d.buf);
    /* Pass 2: copy (everything was checked above; only an I/O error can fail here). */
    for (int i = 0; i < nitems && rc == 0; i++) {
        hid_t ds = H5Dopen2(r->file, items[i].path, H5P_DEFAULT);
        if (ds < 0 || H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, items[i].dst) < 0)
            rc = h5_fail(r->path, "%s: read failed", items[i].path);
        if (ds >= 0) H5Dclose(ds);
    }
    for (int i = 0; i < nitems; i++) free(items[i].path);
    free(items);
    if (rc < 0) return -1;
    optim_set_step(o, (int64_t)step);
    optim_set_lr(o, (float)lr);
    return 0;
}
