/* tar.c — a small forward-only ustar/GNU tar reader over plain or gzip files (zlib gzread). */
#include "media.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define TAR_BLOCK 512
#define TAR_MAX_MEMBER ((int64_t)1 << 36) /* 64 GiB: larger sizes mean a damaged header */

struct data_tar {
    gzFile f;
    char *path;         /* for messages */
    int64_t off;        /* uncompressed offset of the next byte gzread returns */
    int64_t data_left;  /* bytes of the current member's data not yet consumed */
    int64_t pad_left;   /* padding after the data up to the next 512-byte boundary */
    int64_t size;       /* current member's size */
    bool readable;      /* data_tar_read allowed (right after data_tar_next) */
    bool ended;
    char *name;         /* current member's name, heap */
    char *long_name;    /* pending GNU 'L' / pax path for the next member, heap or NULL */
    int64_t pax_size;   /* pending pax size override, -1 if none */
};

/* Reads exactly n bytes unless the stream ends; returns bytes read, or -1 (error set). */
static int64_t tar_read(data_tar *t, void *dst, int64_t n) {
    int64_t got = 0;
    while (got < n) {
        int64_t want = n - got;
        if (want > (1 << 30)) want = 1 << 30;
        int r = gzread(t->f, (char *)dst + got, (unsigned)want);
        if (r < 0) {
            int zerr;
            const char *msg = base_strip_path_prefix(gzerror(t->f, &zerr), t->path);
            if (zerr == Z_ERRNO)
                base_error_set("%s: byte %lld: read error: %s", t->path, (long long)(t->off + got), strerror(errno));
            else /* zlib inflates ahead of the caller, so the damage is at or after this offset */
                base_error_set("%s: gzip stream damaged (%s), detected while reading uncompressed byte %lld", t->path,
                             msg, (long long)(t->off + got));
            return -1;
        }
        if (r == 0) break;
        got += r;
    }
    t->off += got;
    if (got < n) {
        int zerr;
        const char *msg = base_strip_path_prefix(gzerror(t->f, &zerr), t->path);
        if (zerr != Z_OK && zerr != Z_STREAM_END) {
            base_error_set("%s: byte %lld (uncompressed): gzip stream damaged or truncated: %s", t->path,
                         (long long)t->off, msg);
            return -1;
        }
    }
    return got;
}

/* Consumes n bytes (data being skipped); -1 (error set) if the archive ends first. */
static int tar_skip(data_tar *t, int64_t n) {
    char buf[16384];
    while (n > 0) {
        int64_t want = n < (int64_t)sizeof buf ? n : (int64_t)sizeof buf;
        int64_t got = tar_read(t, buf, want);
        if (got < 0) return -1;
        if (got < want)
            return base_error_set("%s: byte %lld: truncated inside member '%s' (%lld bytes missing)", t->path,
                                (long long)t->off, t->name ? t->name : "?", (long long)(n - got));
        n -= got;
    }
    return 0;
}

data_tar *data_tar_open(const char *path) {
    errno = 0;
    gzFile f = gzopen(path, "rb");
    if (!f) {
        base_error_set("%s: cannot open: %s", path, errno ? strerror(errno) : "gzopen failed");
        return NULL;
    }
    gzbuffer(f, 1 << 17);
    data_tar *t = base_xcalloc(1, sizeof *t);
    t->f = f;
    t->path = base_xstrdup(path);
    t->pax_size = -1;
    return t;
}

void data_tar_close(data_tar *t) {
    if (!t) return;
    gzclose(t->f);
    free(t->path);
    free(t->name);
    free(t->long_name);
    free(t);
}

/* Parses an octal (NUL/space-terminated) or GNU base-256 numeric field; -1 if malformed. */
static int64_t tar_number(const unsigned char *p, int len) {
    if (p[0] & 0x80) { /* base-256, big-endian, positive only */
        int64_t v = p[0] & 0x7f;
        for (int i = 1; i < len; i++) {
            if (v > (INT64_MAX >> 8)) return -1;
            v = (v << 8) | p[i];
        }
        return v;
    }
    int i = 0;
    while (i < len && p[i] == ' ') i++;
    int64_t v = 0;
    int digits = 0;
    for (; i < len && p[i] >= '0' && p[i] <= '7'; i++, digits++) {
        if (v > (INT64_MAX >> 3)) return -1;
        v = v * 8 + (p[i] - '0');
    }
    if (i < len && p[i] != 0 && p[i] != ' ') return -1;
    return digits ? v : (i == len || p[i] == 0 ? 0 : -1);
}

static char *field_str(const unsigned char *p, int len) {
    int n = 0;
    while (n < len && p[n]) n++;
    char *s = base_xmalloc((size_t)n + 1);
    memcpy(s, p, (size_t)n);
    s[n] = 0;
    return s;
}

/* Reads a meta entry's data (GNU long name or pax records) whole; NULL (error set) on failure. */
static char *read_meta(data_tar *t, int64_t size, int64_t hoff) {
    if (size > (1 << 20)) {
        base_error_set("%s: byte %lld: metadata entry of %lld bytes is implausibly large", t->path, (long long)hoff,
                     (long long)size);
        return NULL;
    }
    char *buf = base_xmalloc((size_t)size + 1);
    int64_t got = tar_read(t, buf, size);
    if (got < 0) {
        free(buf);
        return NULL;
    }
    if (got < size) {
        free(buf);
        base_error_set("%s: byte %lld: truncated inside the metadata entry of the header at byte %lld", t->path,
                     (long long)t->off, (long long)hoff);
        return NULL;
    }
    buf[size] = 0;
    int64_t pad = (TAR_BLOCK - size % TAR_BLOCK) % TAR_BLOCK;
    if (tar_skip(t, pad) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* pax records: "<len> <key>=<value>\n"; takes path and size. */
static int parse_pax(data_tar *t, const char *rec, int64_t size, int64_t hoff) {
    int64_t i = 0;
    while (i < size) {
        char *end;
        long long len = strtoll(rec + i, &end, 10);
        if (end == rec + i || *end != ' ' || len <= 0 || i + len > size || rec[i + len - 1] != '\n')
            return base_error_set("%s: byte %lld: malformed pax record in the header at byte %lld", t->path,
                                (long long)(hoff + TAR_BLOCK + i), (long long)hoff);
        const char *kv = end + 1, *stop = rec + i + len - 1;
        const char *eq = memchr(kv, '=', (size_t)(stop - kv));
        if (eq) {
            size_t klen = (size_t)(eq - kv), vlen = (size_t)(stop - eq - 1);
            if (klen == 4 && memcmp(kv, "path", 4) == 0) {
                free(t->long_name);
                t->long_name = base_xmalloc(vlen + 1);
                memcpy(t->long_name, eq + 1, vlen);
                t->long_name[vlen] = 0;
            } else if (klen == 4 && memcmp(kv, "size", 4) == 0) {
                t->pax_size = strtoll(eq + 1, NULL, 10);
            }
        }
        i += len;
    }
    return 0;
}

int data_tar_next(data_tar *t, const char **name, int64_t *size) {
    if (t->ended) return 0;
    /* Finish the previous member. */
    if (tar_skip(t, t->data_left + t->pad_left) != 0) return -1;
    t->data_left = t->pad_left = 0;
    t->readable = false;
    for (;;) {
        unsigned char h[TAR_BLOCK];
        int64_t hoff = t->off;
        int64_t got = tar_read(t, h, TAR_BLOCK);
        if (got < 0) return -1;
        if (got == 0) { /* end without the two zero blocks: tolerated */
            if (t->long_name)
                return base_error_set("%s: byte %lld: archive ends after a long-name entry", t->path, (long long)hoff);
            t->ended = true;
            return 0;
        }
        if (got < TAR_BLOCK)
            return base_error_set("%s: byte %lld: truncated header: expected 512 bytes, got %lld", t->path,
                                (long long)hoff, (long long)got);
        bool zero = true;
        for (int i = 0; i < TAR_BLOCK && zero; i++) zero = h[i] == 0;
        if (zero) {
            t->ended = true;
            return 0;
        }
        int64_t stored = tar_number(h + 148, 8);
        int64_t usum = 0, ssum = 0;
        for (int i = 0; i < TAR_BLOCK; i++) {
            unsigned char c = (i >= 148 && i < 156) ? ' ' : h[i];
            usum += c;
            ssum += (signed char)c;
        }
        if (stored < 0)
            return base_error_set("%s: byte %lld: the tar header's checksum field is not an octal number: not a tar "
                                "archive, or damaged",
                                t->path, (long long)(hoff + 148));
        if (stored != usum && stored != ssum)
            return base_error_set("%s: byte %lld: tar header checksum field (byte %lld) says %lld, header sums to %lld: "
                                "not a tar archive, or damaged",
                                t->path, (long long)hoff, (long long)(hoff + 148), (long long)stored, (long long)usum);
        int64_t sz = tar_number(h + 124, 12);
        if (sz < 0 || sz > TAR_MAX_MEMBER)
            return base_error_set("%s: byte %lld: bad size field in the tar header at byte %lld", t->path,
                                (long long)(hoff + 124), (long long)hoff);
        char type = (char)h[156];
        if (type == 'L') { /* GNU long name for the next member */
            char *ln = read_meta(t, sz, hoff);
            if (!ln) return -1;
            free(t->long_name);
            t->long_name = ln;
            continue;
        }
        if (type == 'x' || type == 'g') {
            char *rec = read_meta(t, sz, hoff);
            if (!rec) return -1;
            int rc = type == 'x' ? parse_pax(t, rec, sz, hoff) : 0;
            free(rec);
            if (rc != 0) return -1;
            continue;
        }
        if (t->pax_size >= 0) {
            sz = t->pax_size;
            t->pax_size = -1;
        }
        free(t->name);
        if (t->long_name) {
            t->name = t->long_name;
            t->long_name = NULL;
        } else {
            char *nm = field_str(h, 100);
            /* POSIX ustar ("ustar\0") keeps a path prefix at 345; old GNU tar ("ustar  ") keeps
             * times there instead. */
            if (memcmp(h + 257, "ustar", 6) == 0 && h[345]) {
                char *prefix = field_str(h + 345, 155);
                size_t len = strlen(prefix) + 1 + strlen(nm) + 1;
                t->name = base_xmalloc(len);
                snprintf(t->name, len, "%s/%s", prefix, nm);
                free(prefix);
                free(nm);
            } else {
                t->name = nm;
            }
        }
        t->size = sz;
        t->data_left = sz;
        t->pad_left = (TAR_BLOCK - sz % TAR_BLOCK) % TAR_BLOCK;
        if (type == '0' || type == '\0' || type == '7') {
            t->readable = true;
            if (name) *name = t->name;
            if (size) *size = sz;
            return 1;
        }
        /* Directory, link, device, FIFO, ...: pass over its data (normally none). */
        if (tar_skip(t, t->data_left + t->pad_left) != 0) return -1;
        t->data_left = t->pad_left = 0;
    }
}

void *data_tar_read(data_tar *t, int64_t *size) {
    BASE_CHECK(t->readable, "data_tar_read", "call data_tar_next first (each member can be read once)");
    t->readable = false;
    char *buf = malloc((size_t)t->size + 1);
    if (!buf) {
        base_error_set("%s: cannot allocate %lld bytes for member '%s'", t->path, (long long)t->size, t->name);
        return NULL;
    }
    int64_t got = tar_read(t, buf, t->size);
    if (got < 0) {
        free(buf);
        return NULL;
    }
    t->data_left -= got;
    if (got < t->size) {
        base_error_set("%s: byte %lld: truncated inside member '%s': expected %lld data bytes, got %lld", t->path,
                     (long long)t->off, t->name, (long long)t->size, (long long)got);
        free(buf);
        t->ended = true;
        return NULL;
    }
    buf[t->size] = 0;
    if (size) *size = t->size;
    return buf;
}
