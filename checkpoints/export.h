/* export.h — embedding exports and imports: word2vec text/binary (as word2vec.c writes them) and
 * projector TSV pairs.
 *
 * word2vec.c's -output format, reproduced byte for byte:
 *     header   "%lld %lld\n"  (words, dimensions)
 *     text     per word: "%s " then "%lf " per value then "\n"
 *     binary   per word: "%s " then dim raw little-endian float32 values then "\n"
 * gensim's KeyedVectors.load_word2vec_format(path, binary=...) loads both.
 *
 * Imports validate everything: a bad header, a truncated record, fewer or more words than the
 * header says, a wrong number of values on a line, a non-numeric or non-finite value are errors
 * naming the file and the line (text) or byte offset (binary).
 */
#ifndef EMBER_CKPT_EXPORT_H
#define EMBER_CKPT_EXPORT_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Writes n word vectors: words [n] (no spaces or newlines inside a word: error otherwise),
 * vecs [n, dim] row-major. The file is written to "<path>.tmp.<pid>" and renamed into place.
 * Returns 0 or -1 with an error. */
int ckpt_export_word2vec(const char *path, const char *const *words, const float *vecs, int64_t n,
                         int64_t dim, bool binary);

/* TensorFlow embedding projector pair: vectors_path gets one row of dim tab-separated "%.9g"
 * values per word; metadata_path one word per line (no header: single column). Words containing
 * a tab or newline are an error. Returns 0 or -1. */
int ckpt_export_projector_tsv(const char *vectors_path, const char *metadata_path,
                              const char *const *words, const float *vecs, int64_t n, int64_t dim);

/* An imported embedding matrix. */
typedef struct ckpt_embeddings {
    int64_t n, dim;
    char **words;  /* [n] heap strings */
    float *vecs;   /* [n, dim] heap */
} ckpt_embeddings;

typedef enum ckpt_w2v_mode { CKPT_W2V_AUTO = 0, CKPT_W2V_TEXT, CKPT_W2V_BINARY } ckpt_w2v_mode;

/* Reads a word2vec file. AUTO decides from the first record (text if it is printable and parses as
 * dim numbers). On success fills *out (free with ckpt_embeddings_free) and returns 0; on failure
 * returns -1 with an error and leaves *out zeroed. */
int ckpt_import_word2vec(const char *path, ckpt_w2v_mode mode, ckpt_embeddings *out);
void ckpt_embeddings_free(ckpt_embeddings *e);

/* Row of word w, or -1 (linear scan; build your own hash for many look-ups). */
int64_t ckpt_embeddings_find(const ckpt_embeddings *e, const char *w);
/* Initialises an embedding table from imported vectors: for each vocab[i] (i < n) found in e,
 * copies its vector into table[i, :] (table [n, dim], dim must equal e->dim or -1 is returned with
 * an error). Rows of words not found are left as they are. Returns the number of rows copied. */
int64_t ckpt_embeddings_init_table(const ckpt_embeddings *e, const char *const *vocab, int64_t n,
                                   float *table, int64_t dim);

#ifdef __cplusplus
}
#endif
#endif /* EMBER_CKPT_EXPORT_H */
