/* corpus.h — word streams over plain or gzip corpora of any size, in bounded memory, with shards.
 *
 * A corpus is a file of UTF-8 text, plain or gzip (detected from the magic bytes, not the name).
 * Words are maximal runs of bytes other than space, tab, \r, \n, \v, \f. A newline is reported as
 * the sentence-end token "</s>" (word2vec.c's convention); \r is whitespace, so CRLF files read
 * like LF files. A NUL byte also separates words (a C string cannot carry it), so binary input
 * reads as byte words without harm. Words longer than the caller's buffer are truncated (word2vec.c: 100 bytes) and
 * the rest of the word is skipped. Offsets are in uncompressed bytes.
 *
 * Sharding: shard k of n covers [k·S/n, (k+1)·S/n) of the S uncompressed bytes; a shard starts at
 * the first word that begins at or after its start offset and ends with the last word that begins
 * before its end, so every word belongs to exactly one shard. gzip shards seek by decompressing
 * (zlib gzseek), which costs a read of the bytes before the shard once.
 */
#ifndef EMBER_DATA_CORPUS_H
#define EMBER_DATA_CORPUS_H

#include <stdint.h>

#include "../base/base.h"

#define DATA_MAX_WORD 100 /* word2vec.c's MAX_STRING: bytes kept of a word, including the NUL */
#define DATA_EOS "</s>"

typedef struct data_corpus data_corpus;

/* Opens path for reading. NULL on failure with base_error_msg() naming the file and the reason
 * (missing, unreadable, corrupt gzip header). */
data_corpus *data_corpus_open(const char *path);
void data_corpus_close(data_corpus *c);
const char *data_corpus_path(const data_corpus *c);

/* Uncompressed size in bytes. For gzip this needs one pass over the file the first time it is
 * asked (then cached); returns -1 with an error if the stream is corrupt or truncated. */
int64_t data_corpus_size(data_corpus *c);

/* Positions the stream at the start of shard k of n (0 <= k < n) and sets the shard's end.
 * Returns 0, or -1 with an error. data_corpus_open starts at shard 0 of 1 (the whole file). */
int data_corpus_shard(data_corpus *c, int k, int n);
/* Makes every later data_corpus_shard(c, k', n') read shard k·n' + k' of n·n': the file split in n
 * outer shards (the ranks of a data-parallel run), each split again (a rank's worker threads). */
void data_corpus_set_outer_shard(data_corpus *c, int k, int n);

/* Reads the next word into buf (size max, NUL-terminated, max >= 8). Returns its length (> 0),
 * 0 at the end of the shard, or -1 on a read error (corrupt or truncated gzip: base_error_msg names
 * the file and the byte offset). A newline yields "</s>". */
int data_corpus_next(data_corpus *c, char *buf, int max);

/* Uncompressed offset of the next byte to be read (a data cursor for checkpoints). */
int64_t data_corpus_tell(const data_corpus *c);
/* Seeks to an offset previously returned by data_corpus_tell (within the current shard). */
int data_corpus_seek(data_corpus *c, int64_t offset);

/* A content fingerprint of the corpus file as stored on disk (plain or gzip bytes, not
 * decompressed): a 64-bit FNV-1a hash of its size, its first and last MiB and 64 blocks of 4 KiB
 * spread evenly between them. Cheap (at most ~2.3 MiB read) and catches another corpus of the same
 * size, an edited or re-compressed one; an edit confined to the unsampled bytes of a file larger
 * than 2 MiB that keeps its size is not seen (a full hash would cost a read of the whole corpus on
 * every resume). Returns 0, or -1 with an error naming the file. */
int data_corpus_fingerprint(const char *path, uint64_t *out);

#endif
