/* bpe.h — byte-level BPE tokenizer: train merges, encode/decode any bytes exactly, save/load, merges as arrays.
 *
 * Tokens 0..255 are the bytes; merge i (0-based) makes token 256+i from a pair (a, b) of earlier
 * tokens, so the vocabulary size is 256 + number of merges (μOmni: 5,000 = 256 + 4,744 merges).
 * Special tokens (pad, mask, cls, ...) are the caller's: give them ids >= data_bpe_vocab_size().
 *
 * Pre-tokenisation (merges never cross a piece boundary). Bytes fall in four classes:
 *   space  = ' ' \t \n \r \v \f
 *   letter = A-Z a-z and every byte >= 0x80 (so UTF-8 letters stay whole)
 *   digit  = 0-9
 *   other  = everything else (punctuation, control bytes, NUL)
 * A piece is
 *   - one ' ' followed by a maximal run of one non-space class (" the", " 2005", " ,"): a leading
 *     space attaches to the following word, as in GPT-2;
 *   - else a maximal run of one non-space class ("the", "2005", ".\"");
 *   - else a maximal run of space bytes, minus its last byte when that byte is ' ' and a
 *     non-space byte follows (that space goes to the next word): "\n\n", "  " before " word".
 * Pieces longer than DATA_BPE_MAX_PIECE bytes are cut into DATA_BPE_MAX_PIECE-byte pieces
 * (bounds the per-piece work on a 10 MB run without spaces). Every byte is in exactly one piece,
 * so decode(encode(x)) == x for ANY bytes, valid UTF-8 or not.
 *
 * Encoding applies merges in rank order within each piece (the lowest-ranked pair present is
 * merged everywhere first), which reproduces training exactly. Training counts pieces, then
 * repeatedly merges the most frequent adjacent pair (ties: lowest first id, then lowest second
 * id), updating pair counts incrementally for the words that contain the merged pair only.
 */
#ifndef EMBER_DATA_BPE_H
#define EMBER_DATA_BPE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define DATA_BPE_MAX_PIECE 128

typedef struct data_bpe data_bpe;

/* A tokenizer with no merges (256 byte tokens). */
data_bpe *data_bpe_new(void);
void data_bpe_free(data_bpe *b);

/* Learns up to vocab_size - 256 merges from text[0..n). Stops early (and says so on log) when no
 * pair occurs at least twice. log may be NULL (progress every 500 merges otherwise). Returns 0 or
 * -1 with an error (vocab_size < 256). */
int data_bpe_train(data_bpe **out, const uint8_t *text, size_t n, int32_t vocab_size, FILE *log);
/* Same over the first max_bytes (0 = all) of a plain or gzip file, cut back to a piece boundary. */
int data_bpe_train_file(data_bpe **out, const char *path, int64_t max_bytes, int32_t vocab_size, FILE *log);

int32_t data_bpe_vocab_size(const data_bpe *b);         /* 256 + n_merges */
int64_t data_bpe_n_merges(const data_bpe *b);
/* The merges as an int32 [n_merges, 2] array (row i = the pair that makes token 256+i); owned by b. */
const int32_t *data_bpe_merges(const data_bpe *b);
/* Rebuilds a tokenizer from such an array (e.g. a checkpoint's /tokenizer/merges). Validates that
 * each row uses only ids < 256+i and that no pair repeats; -1 with an error naming the row. */
int data_bpe_from_merges(data_bpe **out, const int32_t *merges, int64_t n_merges);

/* Bytes of token id (not NUL-terminated), or NULL if id is out of range. */
const uint8_t *data_bpe_token_bytes(const data_bpe *b, int32_t id, int32_t *len);

/* Encodes text[0..n) into *ids (heap, caller frees; [*n_ids]). nthreads <= 0 means the OpenMP
 * default; inputs under 1 MiB use one thread. The result does not depend on nthreads. */
int data_bpe_encode(const data_bpe *b, const uint8_t *text, size_t n, int32_t **ids, int64_t *n_ids, int nthreads);
/* Encodes each line of text[0..n) on its own, as if it were the whole text: lines end at '\n' and
 * the '\n' bytes themselves are not encoded (a last line without '\n' counts; an empty text has no
 * lines). The ids of line k are (*ids)[start .. (*line_end)[k]) with start = (*line_end)[k-1], or 0
 * for k = 0. *ids [*n_ids] and *line_end [*n_lines] are heap, caller frees. One thread, one piece
 * cache for all lines (a text of many short lines costs no per-line set-up). */
int data_bpe_encode_lines(const data_bpe *b, const uint8_t *text, size_t n, int32_t **ids, int64_t *n_ids,
                          int64_t **line_end, int64_t *n_lines);
/* Encodes a whole plain or gzip file, streaming it in 16 MiB blocks. -1 with an error on read failure. */
int data_bpe_encode_file(const data_bpe *b, const char *path, int32_t **ids, int64_t *n_ids, int nthreads);
/* Same with a chosen block size (1 KiB .. 1 GiB); the result does not depend on it. */
int data_bpe_encode_file_blocks(const data_bpe *b, const char *path, int32_t **ids, int64_t *n_ids, int nthreads,
                                size_t block);
/* Decodes ids into *text (heap, NUL-terminated for convenience; [*n] bytes). -1 with an error naming
 * the position of an id outside [0, vocab_size). */
int data_bpe_decode(const data_bpe *b, const int32_t *ids, int64_t n_ids, uint8_t **text, size_t *n);

/* Text format: "ember-bpe 1\n", "merges M\n", then M lines "a b\n". load validates the header,
 * every line and the count; errors name the file and line. */
int data_bpe_save(const data_bpe *b, const char *path);
int data_bpe_load(data_bpe **out, const char *path);

/* The piece boundaries of text[0..n): calls fn(ctx, start, len) for each piece in order (for tests
 * and for callers that want the same pre-tokenisation). */
void data_bpe_pieces(const uint8_t *text, size_t n, void (*fn)(void *ctx, size_t start, size_t len), void *ctx);

#endif
