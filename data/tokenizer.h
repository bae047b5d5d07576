/* tokenizer.h — the tokenizer a model is trained with: byte-level BPE (data/bpe.h) + special tokens, in a readable file.
 *
 * Ids: 0..255 are bytes, 256..256+M-1 the M merges (data/bpe.h), then the five special tokens in
 * this order: [PAD] [UNK] [CLS] [SEP] [MASK] (so [PAD] = 256 + M, ..., [MASK] = 256 + M + 4), so
 * vocab_size = 256 + M + 5. Byte-level BPE never needs [UNK] (every byte has an id); it is kept so
 * that models and files written by word-level tools share the same five names.
 *
 * Normalisation: none. Text is encoded byte for byte (case, punctuation, UTF-8 kept), so
 * decode(encode(x)) == x for any bytes. encode never produces a special id from text: the string
 * "[MASK]" in the input is encoded as its bytes. decode writes a special id as its name ("[SEP]").
 *
 * File format (text, one record per line, '#' starts a comment line; written by data_tokenizer_save,
 * read by data_tokenizer_load, errors name the file and line):
 *
 *     ember-tokenizer 1
 *     model byte-bpe
 *     normalization none
 *     special [PAD] 4996
 *     special [UNK] 4997
 *     special [CLS] 4998
 *     special [SEP] 4999
 *     special [MASK] 5000
 *     merges 4744
 *     116 104 "th"          <- one merge per line: the two ids, then the new token's bytes as a
 *     ...                      JSON-style string (for the reader's eyes; the loader checks it).
 *                              Escapes as data_tokenizer_quote writes them; \xHH is the one
 *                              addition to JSON, for a byte that is not part of valid UTF-8.
 *
 * The records come in exactly this order; blank lines and '#' lines may appear anywhere, a line may
 * end in CRLF. The loader checks the header, every line's syntax, that the merge ids are < 256 + i
 * for merge i, that the count matches the 'merges' line, that each quoted string spells the bytes
 * of the pair it merges, that no pair is merged twice, and that the special ids are 256 + M + k.
 *
 * Inside checkpoints the same text is stored as the string dataset /tokenizer/file (plus the
 * conventional /tokenizer/merges int32 [M, 2]), so a model is never separated from its vocabulary:
 * ckpt_put_tokenizer / ckpt_get_tokenizer (checkpoints/ckpt.h).
 */
#ifndef EMBER_DATA_TOKENIZER_H
#define EMBER_DATA_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bpe.h"

enum { DATA_TOK_PAD = 0, DATA_TOK_UNK, DATA_TOK_CLS, DATA_TOK_SEP, DATA_TOK_MASK, DATA_TOK_N_SPECIAL };
extern const char *const data_tok_special_name[DATA_TOK_N_SPECIAL]; /* "[PAD]", "[UNK]", ... */

typedef struct data_tokenizer {
    data_bpe *bpe;                      /* owned */
    int32_t special[DATA_TOK_N_SPECIAL]; /* id of each special token (256 + M + k) */
    int32_t vocab_size;                 /* 256 + M + DATA_TOK_N_SPECIAL */
} data_tokenizer;

/* Wraps a trained BPE (takes ownership of bpe) and assigns the special ids. */
data_tokenizer *data_tokenizer_from_bpe(data_bpe *bpe);
void data_tokenizer_free(data_tokenizer *t); /* NULL is fine */

/* Trains on the concatenation of files (plain or gzip), reading at most max_bytes in all (0 = all),
 * to vocab_size tokens in all (specials included: vocab_size - 5 - 256 merges). -1 with an error
 * naming the file (missing, empty, unreadable) or the bad size. log may be NULL. */
int data_tokenizer_train(data_tokenizer **out, const char *const *paths, int npaths, int64_t max_bytes,
                         int32_t vocab_size, FILE *log);

/* Text encode/decode (see above). Ids are heap, caller frees. */
int data_tokenizer_encode(const data_tokenizer *t, const uint8_t *text, size_t n, int32_t **ids, int64_t *n_ids,
                          int nthreads);
int data_tokenizer_decode(const data_tokenizer *t, const int32_t *ids, int64_t n_ids, uint8_t **text, size_t *n);

/* The file text (heap, NUL-terminated) / parse it back. origin names the source in errors
 * ("tok.txt", "run.ckpt:/tokenizer/file"). */
char *data_tokenizer_to_text(const data_tokenizer *t);
int data_tokenizer_from_text(data_tokenizer **out, const char *text, size_t n, const char *origin);
/* Atomic save (temp file + rename) / load. */
int data_tokenizer_save(const data_tokenizer *t, const char *path);
int data_tokenizer_load(data_tokenizer **out, const char *path);
/* A token's bytes as the file writes them (heap, NUL-terminated): "..." with \" \\ \n \r \t, \u00XX for
 * other control bytes and DEL, well-formed UTF-8 as it is, \xHH for any other byte >= 0x80. */
char *data_tokenizer_quote(const uint8_t *bytes, size_t n);
/* 64-bit fingerprint of the vocabulary (merges + special ids): equal iff the same tokenizer. */
uint64_t data_tokenizer_fingerprint(const data_tokenizer *t);

#endif
