/* word2vec_ids.h — one worker's corpus shard encoded once as word ids, so that later epochs skip
 * reading text and looking words up (17–20 % of a one-epoch run); in memory when it fits the
 * budget, else in an unlinked temporary file (nothing is left behind, even after a crash).
 *
 * A stream is a sequence of tokens: a vocabulary id (0..V-1), or TRAIN_W2V_IDS_EOS for a newline
 * whose "</s>" was pruned from the vocabulary (it still ends a sentence). Out-of-vocabulary words
 * are not stored: they are skipped by every epoch alike. Tokens are varints (7 bits a byte; the
 * vocabulary is sorted by count, so most tokens take one or two bytes).
 *
 * To write a checkpoint from an epoch that reads the stream, the trainer needs the byte offset in
 * the text that corresponds to a token position. The stream keeps the text offset at the start of
 * every block of TRAIN_W2V_IDS_BLOCK tokens; the exact offset is found by reading at most one
 * block of text from there (train/word2vec.c: ids_cursor). Checkpoints therefore keep their
 * byte-offset cursors and resume exactly as before.
 *
 * Lifetime: new → begin → put… (mark at each block boundary) → finish; then rewind → next… per
 * epoch. A failed or interrupted encoding is dropped with train_w2v_ids_reset and the text is read
 * again. One stream belongs to one worker thread; nothing here locks.
 */
#ifndef EMBER_TRAIN_WORD2VEC_IDS_H
#define EMBER_TRAIN_WORD2VEC_IDS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define TRAIN_W2V_IDS_BLOCK 1024          /* tokens per block of the offset index */
#define TRAIN_W2V_IDS_EOS 0xFFFFFFFFu     /* a sentence end whose "</s>" is not in the vocabulary */

typedef struct train_w2v_ids train_w2v_ids;

/* An empty stream. in_memory: keep the bytes in memory; else in a temporary file under tmpdir
 * (NULL: $TMPDIR or /tmp), created at begin. Never fails (allocation aborts). */
train_w2v_ids *train_w2v_ids_new(bool in_memory, const char *tmpdir);
void train_w2v_ids_free(train_w2v_ids *s);

/* Starts a fresh encoding; start_offset is the text offset of the shard's first token. Returns 0,
 * or -1 with an error (the temporary file could not be created). */
int train_w2v_ids_begin(train_w2v_ids *s, int64_t start_offset);
/* Appends a token. Returns 0, or -1 with an error (a write to the temporary file failed). */
int train_w2v_ids_put(train_w2v_ids *s, uint32_t token);
/* True when the token count is a multiple of the block size: the caller then calls mark with the
 * text offset just after the last token put (where the next block's text starts). */
static inline bool train_w2v_ids_at_block(const train_w2v_ids *s);
void train_w2v_ids_mark(train_w2v_ids *s, int64_t offset);
/* Ends the encoding: end_offset is the text offset where the shard's reading stopped. 0 or -1. */
int train_w2v_ids_finish(train_w2v_ids *s, int64_t end_offset);
/* Drops what was put (the stream is not ready). */
void train_w2v_ids_reset(train_w2v_ids *s);
/* A finished stream, readable with rewind/next. */
bool train_w2v_ids_ready(const train_w2v_ids *s);

/* Positions the reader at the first token. 0 or -1 (error). */
int train_w2v_ids_rewind(train_w2v_ids *s);
/* Reads the next token into *tok: 1, 0 at the end of the stream, -1 on a read error. */
static inline int train_w2v_ids_next(train_w2v_ids *s, uint32_t *tok);
/* Tokens read since rewind (the reader's position). */
int64_t train_w2v_ids_pos(const train_w2v_ids *s);

/* Where token position pos (0..count) starts in the text: the offset of its block (*offset) and how
 * many tokens of text to read from there (*skip, < TRAIN_W2V_IDS_BLOCK). */
void train_w2v_ids_locate(const train_w2v_ids *s, int64_t pos, int64_t *offset, int64_t *skip);
/* The text offset given to finish. */
int64_t train_w2v_ids_end_offset(const train_w2v_ids *s);
/* Tokens in the stream, bytes of encoded tokens, and whether they live in a temporary file. */
int64_t train_w2v_ids_count(const train_w2v_ids *s);
int64_t train_w2v_ids_bytes(const train_w2v_ids *s);
bool train_w2v_ids_on_disk(const train_w2v_ids *s);

/* Bytes a varint of token v takes (to size the memory decision before encoding). */
static inline int train_w2v_ids_varint_len(uint32_t v) {
    return v < (1u << 7) ? 1 : v < (1u << 14) ? 2 : v < (1u << 21) ? 3 : v < (1u << 28) ? 4 : 5;
}

/* ---- inline fast paths (the struct is here only for them) ------------------------------------ */
struct train_w2v_ids {
    /* bytes: in memory, mem [len]; on disk, a temporary file written and read through buf */
    bool in_memory;
    char *tmpdir;                 /* heap copy or NULL */
    uint8_t *mem;                 /* [cap] encoded tokens (memory mode) */
    int64_t len, cap;             /* bytes in mem / allocated; on disk: bytes written */
    FILE *f;                      /* unlinked temporary file (disk mode) */
    uint8_t *buf;                 /* [TRAIN_W2V_IDS_BUF] write buffer, then read window (disk mode) */
    int64_t buf_len;              /* bytes in buf */
    /* the reader: tokens come from [rp, re); on disk, re < end of data means refill at < 5 bytes */
    const uint8_t *rp, *re;
    bool eof;                     /* disk: the file has no more bytes beyond re */
    int64_t rtok;                 /* tokens read since rewind */
    /* tokens and the offset index */
    int64_t ntok;
    int64_t *block_off;           /* [nblocks] text offset where block b's first token starts */
    int64_t nblocks, cap_blocks;
    int64_t end_off;
    bool ready;
};

int train_w2v_ids_refill(train_w2v_ids *s);  /* disk mode: slides the read window; 0 or -1 */
int train_w2v_ids_corrupt(train_w2v_ids *s); /* sets the error for a truncated varint; -1 */

static inline bool train_w2v_ids_at_block(const train_w2v_ids *s) { return s->ntok % TRAIN_W2V_IDS_BLOCK == 0; }

static inline int train_w2v_ids_next(train_w2v_ids *s, uint32_t *tok) {
    if (s->re - s->rp < 5 && !s->eof && train_w2v_ids_refill(s) != 0) return -1;
    if (s->rp >= s->re) return 0;
    uint32_t b = *s->rp++;
    if (b < 0x80) {
        *tok = b;
    } else {
        uint32_t v = b & 0x7F;
        int shift = 7;
        do {
            if (s->rp >= s->re) return train_w2v_ids_corrupt(s); /* only a damaged temporary file */
            b = *s->rp++;
            v |= (b & 0x7F) << shift;
            shift += 7;
        } while (b >= 0x80 && shift < 35);
        *tok = v;
    }
    s->rtok++;
    return 1;
}

#endif /* EMBER_TRAIN_WORD2VEC_IDS_H */
