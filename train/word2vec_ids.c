/* word2vec_ids.c — a worker's corpus shard as a varint stream of word ids, in memory or in an
 * unlinked temporary file, with a block index of text offsets (see word2vec_ids.h). */
#include "word2vec_ids.h"

#include "../base/base.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define IDS_BUF ((int64_t)1 << 20) /* disk mode: bytes per write or read through buf */

train_w2v_ids *train_w2v_ids_new(bool in_memory, const char *tmpdir) {
    train_w2v_ids *s = base_xcalloc(1, sizeof *s);
    s->in_memory = in_memory;
    if (tmpdir) {
        size_t n = strlen(tmpdir) + 1;
        s->tmpdir = base_xmalloc(n);
        memcpy(s->tmpdir, tmpdir, n);
    }
    return s;
}

void train_w2v_ids_free(train_w2v_ids *s) {
    if (!s) return;
    if (s->f) fclose(s->f);
    free(s->mem);
    free(s->buf);
    free(s->block_off);
    free(s->tmpdir);
    free(s);
}

void train_w2v_ids_reset(train_w2v_ids *s) {
    if (s->f) fclose(s->f);
    s->f = NULL;
    free(s->mem);
    s->mem = NULL;
    s->len = s->cap = s->buf_len = 0;
    s->ntok = s->nblocks = s->rtok = 0;
    s->rp = s->re = NULL;
    s->eof = false;
    s->ready = false;
}

/* An unlinked temporary file: it disappears when closed, or when the process dies. */
static FILE *temp_file(const char *dir) {
    if (!dir) dir = getenv("TMPDIR");
    if (!dir || !*dir) dir = "/tmp";
    size_t n = strlen(dir) + 32;
    char *path = base_xmalloc(n);
    snprintf(path, n, "%s/ember-w2v-ids.XXXXXX", dir);
    int fd = mkstemp(path);
    if (fd < 0) {
        base_error_set("%s: cannot create a temporary file for the encoded corpus: %s", dir, strerror(errno));
        free(path);
        return NULL;
    }
    unlink(path);
    free(path);
    FILE *f = fdopen(fd, "w+b");
    if (!f) {
        close(fd);
        base_error_set("%s: cannot open the temporary file for the encoded corpus: %s", dir, strerror(errno));
    }
    return f;
}

int train_w2v_ids_begin(train_w2v_ids *s, int64_t start_offset) {
    train_w2v_ids_reset(s);
    if (!s->in_memory) {
        if (!(s->f = temp_file(s->tmpdir))) return -1;
        if (!s->buf) s->buf = base_xmalloc((size_t)IDS_BUF);
    }
    train_w2v_ids_mark(s, start_offset); /* block 0 starts where the shard does */
    return 0;
}

void train_w2v_ids_mark(train_w2v_ids *s, int64_t offset) {
    if (s->nblocks == s->cap_blocks) {
        s->cap_blocks = s->cap_blocks ? 2 * s->cap_blocks : 256;
        s->block_off = base_xrealloc(s->block_off, (size_t)s->cap_blocks * sizeof *s->block_off);
    }
    s->block_off[s->nblocks++] = offset;
}

/* Disk mode: writes buf [buf_len] to the file. */
static int flush_buf(train_w2v_ids *s) {
    if (s->buf_len > 0 && fwrite(s->buf, 1, (size_t)s->buf_len, s->f) != (size_t)s->buf_len)
        return base_error_set("temporary file of the encoded corpus: write failed: %s (disk full?)", strerror(errno));
    s->len += s->buf_len;
    s->buf_len = 0;
    return 0;
}

int train_w2v_ids_put(train_w2v_ids *s, uint32_t token) {
    uint8_t *p;
    if (s->in_memory) {
        if (s->len + 5 > s->cap) {
            s->cap = s->cap ? 2 * s->cap : (int64_t)1 << 16;
            s->mem = base_xrealloc(s->mem, (size_t)s->cap);
        }
        p = s->mem + s->len;
    } else {
        if (s->buf_len + 5 > IDS_BUF && flush_buf(s) != 0) return -1;
        p = s->buf + s->buf_len;
    }
    int n = 0;
    while (token >= 0x80) {
        p[n++] = (uint8_t)(token | 0x80);
        token >>= 7;
    }
    p[n++] = (uint8_t)token;
    if (s->in_memory) s->len += n;
    else s->buf_len += n;
    s->ntok++;
    return 0;
}

int train_w2v_ids_finish(train_w2v_ids *s, int64_t end_offset) {
    if (!s->in_memory && (flush_buf(s) != 0 || fflush(s->f) != 0))
        return base_error_set("temporary file of the encoded corpus: write failed: %s", strerror(errno));
    if (s->in_memory && s->cap > s->len + 5) { /* give back the doubling slack */
        s->cap = s->len + 5;
        s->mem = base_xrealloc(s->mem, (size_t)s->cap);
    }
    /* a position at the very end needs no block of its own: locate() clamps to the last block */
    s->end_off = end_offset;
    s->ready = true;
    return 0;
}

bool train_w2v_ids_ready(const train_w2v_ids *s) { return s->ready; }

int train_w2v_ids_rewind(train_w2v_ids *s) {
    s->rtok = 0;
    if (s->in_memory) {
        s->rp = s->mem;
        s->re = s->mem + s->len;
        s->eof = true;
        return 0;
    }
    if (fseeko(s->f, 0, SEEK_SET) != 0)
        return base_error_set("temporary file of the encoded corpus: seek failed: %s", strerror(errno));
    s->rp = s->re = s->buf;
    s->eof = false;
    return train_w2v_ids_refill(s);
}

int train_w2v_ids_refill(train_w2v_ids *s) {
    /* keep the unread tail (< 5 bytes: at most one partial varint), then fill the rest of buf */
    int64_t keep = s->re - s->rp;
    memmove(s->buf, s->rp, (size_t)keep);
    size_t got = fread(s->buf + keep, 1, (size_t)(IDS_BUF - keep), s->f);
    if (got < (size_t)(IDS_BUF - keep)) {
        if (ferror(s->f))
            return base_error_set("temporary file of the encoded corpus: read failed: %s", strerror(errno));
        s->eof = true;
    }
    s->rp = s->buf;
    s->re = s->buf + keep + (int64_t)got;
    return 0;
}

int train_w2v_ids_corrupt(train_w2v_ids *s) {
    return base_error_set("encoded corpus: truncated token after %lld tokens (temporary file damaged?)",
                          (long long)s->rtok);
}

int64_t train_w2v_ids_pos(const train_w2v_ids *s) { return s->rtok; }

void train_w2v_ids_locate(const train_w2v_ids *s, int64_t pos, int64_t *offset, int64_t *skip) {
    int64_t b = pos / TRAIN_W2V_IDS_BLOCK;
    if (b >= s->nblocks) b = s->nblocks - 1; /* pos == count at a block boundary: read from the last block */
    *offset = s->block_off[b];
    *skip = pos - b * TRAIN_W2V_IDS_BLOCK;
}

int64_t train_w2v_ids_end_offset(const train_w2v_ids *s) { return s->end_off; }
int64_t train_w2v_ids_count(const train_w2v_ids *s) { return s->ntok; }
int64_t train_w2v_ids_bytes(const train_w2v_ids *s) { return s->len + s->buf_len; }
bool train_w2v_ids_on_disk(const train_w2v_ids *s) { return !s->in_memory; }
