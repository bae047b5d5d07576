/* corpus.c — word streams over plain or gzip corpora: 1 MiB buffered reads, a table-driven byte loop, shards. */
#include "corpus.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

_Static_assert(sizeof(z_off_t) == 8, "zlib offsets must be 64-bit for corpora > 2 GiB");

#define CORPUS_BUF (1 << 20) /* bytes of uncompressed text held at once: the whole memory bound */

/* Byte classes: 0 = part of a word, 1 = separator, 2 = newline (a "</s>" word). NUL is a separator
 * because a C string cannot carry it (binary garbage still reads as words, just split at NULs). */
static const uint8_t k_class[256] = {
    [0] = 1, [' '] = 1, ['\t'] = 1, ['\r'] = 1, ['\v'] = 1, ['\f'] = 1, ['\n'] = 2,
};

struct data_corpus {
    char *path;
    bool gz;
    int fd;        /* plain files: read(2) descriptor, -1 for gzip */
    gzFile gzf;    /* gzip files: zlib stream (multi-member aware), NULL for plain */
    uint8_t *buf;  /* [CORPUS_BUF] uncompressed bytes buf[pos..len) not yet consumed */
    int64_t pos, len;
    int64_t base;  /* uncompressed offset of buf[0] */
    bool eof;      /* the file has no bytes after buf[len) */
    int64_t size;  /* uncompressed size, -1 until known */
    int64_t start, end; /* current shard: words beginning in [start, end) */
    int outer_k, outer_n; /* data_corpus_set_outer_shard (0 / 0 = none) */
    struct stat st;     /* identity of the file, the key of the size cache */
};

/* Uncompressed sizes of recently seen gzip files, keyed by (device, inode, mtime, compressed size),
 * so that N shard readers of one file (and every epoch) pay the measuring pass once per process. */
static struct {
    dev_t dev;
    ino_t ino;
    struct timespec mtime;
    off_t csize;
    int64_t usize;
} g_size_cache[8];
static int g_size_next;
static pthread_mutex_t g_size_lock = PTHREAD_MUTEX_INITIALIZER;

static int64_t size_cache_get(const struct stat *st) {
    int64_t r = -1;
    pthread_mutex_lock(&g_size_lock);
    for (int i = 0; i < 8; i++)
        if (g_size_cache[i].usize > 0 && g_size_cache[i].dev == st->st_dev && g_size_cache[i].ino == st->st_ino &&
            g_size_cache[i].csize == st->st_size && g_size_cache[i].mtime.tv_sec == st->st_mtim.tv_sec &&
            g_size_cache[i].mtime.tv_nsec == st->st_mtim.tv_nsec)
            r = g_size_cache[i].usize;
    pthread_mutex_unlock(&g_size_lock);
    return r;
}
static void size_cache_put(const struct stat *st, int64_t usize) {
    if (usize <= 0 || size_cache_get(st) == usize) return;
    pthread_mutex_lock(&g_size_lock);
    int i = g_size_next;
    g_size_next = (g_size_next + 1) % 8;
    g_size_cache[i].dev = st->st_dev;
    g_size_cache[i].ino = st->st_ino;
    g_size_cache[i].mtime = st->st_mtim;
    g_size_cache[i].csize = st->st_size;
    g_size_cache[i].usize = usize;
    pthread_mutex_unlock(&g_size_lock);
}

const char *data_corpus_path(const data_corpus *c) { return c->path; }

/* zlib prefixes its messages with the descriptor ("<fd:4>: ...") when opened by gzdopen: drop it. */
static const char *gz_msg(gzFile g, int *err) {
    const char *msg = gzerror(g, err);
    if (!msg) return "unknown zlib error";
    if (strncmp(msg, "<fd:", 4) == 0) {
        const char *p = strstr(msg, ": ");
        if (p) return p + 2;
    }
    return msg;
}

/* Fills buf from the file after the consumed bytes. Returns 0 (eof set when nothing more), or -1
 * with an error naming the file and the uncompressed (and for gzip, compressed) offset. */
static int corpus_refill(data_corpus *c) {
    c->base += c->pos;
    c->pos = 0;
    c->len = 0;
    if (c->eof) return 0;
    if (!c->gz) {
        ssize_t got;
        do {
            got = read(c->fd, c->buf, CORPUS_BUF);
        } while (got < 0 && errno == EINTR);
        if (got < 0)
            return base_error_set("%s: byte %lld: read failed: %s", c->path, (long long)c->base, strerror(errno));
        if (got == 0) {
            c->eof = true;
            if (c->size < 0) c->size = c->base; /* a pipe read to its end */
        }
        c->len = got;
        return 0;
    }
    int got = gzread(c->gzf, c->buf, CORPUS_BUF);
    int err = Z_OK;
    const char *msg = gz_msg(c->gzf, &err);
    /* The offsets name the 1 MiB block being decoded (uncompressed start) and how far the compressed
     * input had been read when zlib gave up. */
    if (got < 0 || (err != Z_OK && err != Z_BUF_ERROR))
        return base_error_set("%s: uncompressed block at byte %lld (compressed byte %lld): corrupt gzip data: %s",
                            c->path, (long long)c->base, (long long)gzoffset(c->gzf), msg);
    if (got == 0) {
        /* zlib reports a stream cut short as Z_BUF_ERROR ("unexpected end of file") with no data. */
        if (err == Z_BUF_ERROR)
            return base_error_set("%s: uncompressed byte %lld (compressed byte %lld): truncated gzip file: %s", c->path,
                                (long long)c->base, (long long)gzoffset(c->gzf), msg);
        c->eof = true;
        if (c->size < 0) { /* reading reached the end: the size is now known for free */
            c->size = c->base;
            size_cache_put(&c->st, c->size);
        }
    }
    c->len = got;
    return 0;
}

/* Repositions the stream at uncompressed offset off (buffer emptied). 0 or -1 with an error. */
static int corpus_reposition(data_corpus *c, int64_t off) {
    if (off >= c->base && off <= c->base + c->len) { /* still in the buffer: no I/O */
        c->pos = off - c->base;
        return 0;
    }
    c->eof = false;
    c->pos = c->len = 0;
    if (!c->gz) {
        if (lseek(c->fd, (off_t)off, SEEK_SET) < 0)
            return base_error_set("%s: cannot seek to byte %lld: %s", c->path, (long long)off, strerror(errno));
    } else {
        /* gzseek forward decompresses from the current point; backward rewinds to the start. */
        z_off_t r = gzseek(c->gzf, (z_off_t)off, SEEK_SET);
        if (r != (z_off_t)off) {
            int err = Z_OK;
            const char *msg = gz_msg(c->gzf, &err);
            return base_error_set("%s: cannot seek to uncompressed byte %lld: %s", c->path, (long long)off,
                                err != Z_OK ? msg : "past the end of the data");
        }
    }
    c->base = off;
    return 0;
}

data_corpus *data_corpus_open(const char *path) {
    if (!path || !*path) {
        base_error_set("corpus: expected a file path, got an empty one");
        return NULL;
    }
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        base_error_set("%s: cannot open corpus: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        base_error_set("%s: cannot stat corpus: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        base_error_set("%s: cannot open corpus: is a directory", path);
        return NULL;
    }
    uint8_t magic[2] = {0, 0};
    ssize_t m = pread(fd, magic, 2, 0);
    data_corpus *c = base_xcalloc(1, sizeof *c);
    c->path = base_xstrdup(path);
    c->buf = base_xmalloc(CORPUS_BUF);
    c->fd = -1;
    c->size = -1;
    c->gz = (m == 2 && magic[0] == 0x1f && magic[1] == 0x8b);
    c->st = st;
    if (c->gz) {
        c->gzf = gzdopen(fd, "rb");
        if (!c->gzf) {
            close(fd);
            base_error_set("%s: cannot open gzip stream", path);
            data_corpus_close(c);
            return NULL;
        }
        gzbuffer(c->gzf, CORPUS_BUF); /* compressed input read in 1 MiB blocks */
    } else {
        c->fd = fd;
        c->size = S_ISREG(st.st_mode) ? (int64_t)st.st_size : -1; /* a pipe reads, but has no size */
    }
    c->start = 0;
    c->end = INT64_MAX;
    /* First fill now so that a corrupt gzip header is reported by open. */
    if (corpus_refill(c) != 0) {
        data_corpus_close(c);
        return NULL;
    }
    return c;
}

void data_corpus_close(data_corpus *c) {
    if (!c) return;
    if (c->gzf) gzclose(c->gzf);
    if (c->fd >= 0) close(c->fd);
    free(c->buf);
    free(c->path);
    free(c);
}

int64_t data_corpus_size(data_corpus *c) {
    if (c->size >= 0) return c->size;
    if (!S_ISREG(c->st.st_mode)) {
        base_error_set("%s: not a regular file, so its size is unknown (shards and sizes need a file)", c->path);
        return -1;
    }
    int64_t cached = size_cache_get(&c->st);
    if (cached > 0) return c->size = cached;
    /* gzip: one decompressing pass through a second handle, so the stream position is untouched. */
    gzFile g = gzopen(c->path, "rb");
    if (!g) {
        base_error_set("%s: cannot reopen to measure its size: %s", c->path, strerror(errno));
        return -1;
    }
    gzbuffer(g, CORPUS_BUF);
    uint8_t *tmp = base_xmalloc(CORPUS_BUF);
    int64_t total = 0;
    for (;;) {
        int got = gzread(g, tmp, CORPUS_BUF);
        int err = Z_OK;
        const char *msg = gz_msg(g, &err);
        if (got < 0 || (err != Z_OK && err != Z_BUF_ERROR) || (got == 0 && err == Z_BUF_ERROR)) {
            base_error_set("%s: uncompressed byte %lld (compressed byte %lld): %s gzip data: %s", c->path,
                         (long long)total, (long long)gzoffset(g), got == 0 ? "truncated" : "corrupt",
                         msg);
            free(tmp);
            gzclose(g);
            return -1;
        }
        if (got == 0) break;
        total += got;
    }
    free(tmp);
    gzclose(g);
    c->size = total;
    size_cache_put(&c->st, total);
    return total;
}

void data_corpus_set_outer_shard(data_corpus *c, int k, int n) {
    BASE_CHECK(n >= 1 && k >= 0 && k < n, "data_corpus_set_outer_shard", "shard %d of %d", k, n);
    c->outer_k = k;
    c->outer_n = n;
}

int data_corpus_shard(data_corpus *c, int k, int n) {
    BASE_CHECK(n >= 1 && k >= 0 && k < n, "data_corpus_shard", "shard %d of %d", k, n);
    if (c->outer_n > 1) { /* shard k of n inside outer shard outer_k: the (outer_k·n + k)-th of outer_n·n */
        k += c->outer_k * n;
        n *= c->outer_n;
    }
    int64_t size = data_corpus_size(c);
    if (size < 0) return -1;
    /* Compute in 128 bits: k*size overflows int64 only for absurd sizes, but it costs nothing. */
    int64_t start = (int64_t)((__int128)k * size / n);
    int64_t end = (k == n - 1) ? INT64_MAX : (int64_t)((__int128)(k + 1) * size / n);
    c->start = start;
    c->end = end;
    if (start == 0) return corpus_reposition(c, 0);
    /* A word begins at p when byte p is a word byte and byte p-1 is not. Look at byte start-1: if it
     * is a word byte, the word under `start` began in the previous shard, so skip its remaining bytes. */
    if (corpus_reposition(c, start - 1) != 0) return -1;
    if (c->pos == c->len && corpus_refill(c) != 0) return -1;
    if (c->pos == c->len) return 0; /* start is at or past the end: empty shard */
    uint8_t prev = c->buf[c->pos++];
    if (k_class[prev] != 0) return 0;
    for (;;) {
        while (c->pos < c->len && k_class[c->buf[c->pos]] == 0) c->pos++;
        if (c->pos < c->len) return 0;
        if (corpus_refill(c) != 0) return -1;
        if (c->len == 0) return 0;
    }
}

int data_corpus_next(data_corpus *c, char *buf, int max) {
    BASE_CHECK(max >= 8, "data_corpus_next", "word buffer of %d bytes, need >= 8", max);
    for (;;) {
        /* Skip separators. */
        const uint8_t *p = c->buf + c->pos, *e = c->buf + c->len;
        while (p < e && k_class[*p] == 1) p++;
        c->pos = p - c->buf;
        if (p == e) {
            if (corpus_refill(c) != 0) return -1;
            if (c->len == 0) return 0;
            continue;
        }
        if (c->base + c->pos >= c->end) return 0; /* the next word begins in the next shard */
        if (k_class[*p] == 2) {
            c->pos++;
            memcpy(buf, DATA_EOS, sizeof DATA_EOS);
            return (int)sizeof DATA_EOS - 1;
        }
        /* Fast path: the word's first max-1 bytes are all in the buffer; copy while scanning. */
        const int lim = max - 1;
        if (c->len - c->pos > lim) {
            const uint8_t *q = c->buf + c->pos;
            int n = 0;
            while (n < lim && k_class[q[n]] == 0) {
                buf[n] = (char)q[n];
                n++;
            }
            if (n < lim) { /* ended at a separator inside the buffer */
                c->pos += n;
                buf[n] = '\0';
                return n;
            }
        }
        /* A word: copy up to max-1 bytes, then skip the rest of it (word2vec.c truncates the same way). */
        int n = 0;
        for (;;) {
            const uint8_t *q = c->buf + c->pos, *qe = c->buf + c->len;
            const uint8_t *w = q;
            while (q < qe && k_class[*q] == 0) q++;
            int64_t run = q - w;
            if (n < max - 1) {
                int64_t take = run < (int64_t)(max - 1 - n) ? run : (int64_t)(max - 1 - n);
                memcpy(buf + n, w, (size_t)take);
                n += (int)take;
            }
            c->pos = q - c->buf;
            if (q < qe) break; /* the word ended inside the buffer */
            if (corpus_refill(c) != 0) return -1;
            if (c->len == 0) break; /* the file ended with the word */
        }
        buf[n] = '\0';
        return n;
    }
}

int64_t data_corpus_tell(const data_corpus *c) { return c->base + c->pos; }

int data_corpus_seek(data_corpus *c, int64_t offset) {
    if (offset < 0) return base_error_set("%s: cannot seek to negative offset %lld", c->path, (long long)offset);
    return corpus_reposition(c, offset);
}

/* ------------------------------------------------------------------------------------------------
 * Fingerprint (see corpus.h): FNV-1a 64 over (size, sampled regions), each region as (offset, bytes)
 * ---------------------------------------------------------------------------------------------- */
static uint64_t fnv1a(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* Hashes n bytes at off into *h. Returns 0 or -1 (errno set; a short read is EIO). */
static int fnv_region(int fd, int64_t off, int64_t n, uint8_t *buf, uint64_t *h) {
    *h = fnv1a(*h, &off, sizeof off);
    while (n > 0) {
        ssize_t got = pread(fd, buf, (size_t)(n < CORPUS_BUF ? n : CORPUS_BUF), (off_t)off);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {
            if (got == 0) errno = EIO;
            return -1;
        }
        *h = fnv1a(*h, buf, (size_t)got);
        off += got;
        n -= got;
    }
    return 0;
}

int data_corpus_fingerprint(const char *path, uint64_t *out) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return base_error_set("%s: cannot open corpus: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return base_error_set("%s: cannot stat corpus: %s", path, strerror(e));
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return base_error_set("%s: expected a corpus file, got a directory", path);
    }
    const int64_t size = (int64_t)st.st_size, MiB = (int64_t)1 << 20, BLK = 4096, NBLK = 64;
    uint8_t *buf = base_xmalloc(CORPUS_BUF);
    uint64_t h = 0xcbf29ce484222325ull;
    h = fnv1a(h, &size, sizeof size);
    int rc = 0;
    if (size <= 2 * MiB) {
        rc = fnv_region(fd, 0, size, buf, &h);
    } else {
        rc = fnv_region(fd, 0, MiB, buf, &h);
        const int64_t span = size - 2 * MiB; /* bytes between the first and the last MiB */
        for (int64_t k = 0; k < NBLK && !rc && span >= BLK; k++)
            rc = fnv_region(fd, MiB + (span - BLK) * k / (NBLK - 1), BLK, buf, &h);
        if (!rc) rc = fnv_region(fd, size - MiB, MiB, buf, &h);
    }
    int e = errno;
    free(buf);
    close(fd);
    if (rc) return base_error_set("%s: cannot read corpus: %s", path, strerror(e));
    *out = h;
    return 0;
}
