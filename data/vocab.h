/* vocab.h — vocabularies with 64-bit counts: build from a corpus, prune, order, save/read.
 *
 * Order is deterministic: "</s>" first (as word2vec.c keeps it at index 0), then count
 * descending, then bytes ascending (memcmp). Ids are int32 indices into that order.
 * Files use word2vec.c's -save-vocab format: one "word count\n" per line, in id order.
 */
#ifndef EMBER_DATA_VOCAB_H
#define EMBER_DATA_VOCAB_H

#include <stdint.h>
#include <stdio.h>

typedef struct data_vocab {
    int64_t n;        /* number of words */
    char **words;     /* [n] NUL-terminated, owned */
    int64_t *counts;  /* [n] */
    int64_t total;    /* sum of counts over the vocabulary (word2vec.c's train_words) */
    /* open-addressing hash: slot -> id or -1 */
    int32_t *hash;
    int64_t hash_size;
    int64_t cap;
    int64_t str_bytes; /* bytes held by the words' strings (for the out-of-memory message) */
} data_vocab;

data_vocab *data_vocab_new(void);
void data_vocab_free(data_vocab *v);

/* Adds count to word w (inserting it if new); returns its id (valid until the next sort), or -1
 * when memory runs out, with an error giving the vocabulary's size ("out of memory: the vocabulary
 * has 31000000 distinct words, 1843.2 MB so far"): a corpus of user-chosen size is user input, so
 * this is not an abort. v is unchanged then (w not added) and stays usable and freeable. */
int32_t data_vocab_add(data_vocab *v, const char *w, int64_t count);
/* The same for words already held in memory elsewhere (a data set, a checkpoint's list): running
 * out of memory there aborts, as base_xmalloc does. */
int32_t data_vocab_xadd(data_vocab *v, const char *w, int64_t count);
/* Bytes the vocabulary's strings and tables hold now. */
int64_t data_vocab_bytes(const data_vocab *v);
/* Id of w, or -1 if absent. Hot path: called once per corpus word during training. */
int32_t data_vocab_find(const data_vocab *v, const char *w);

/* Drops words with count < min_count (except "</s>"), then sorts into the canonical order and
 * rebuilds the hash; recomputes total. Returns 0, or -1 (out of memory, error set) with the words
 * kept but unsorted. */
int data_vocab_finish(data_vocab *v, int64_t min_count);

/* One pass over a corpus: counts every word, prunes as word2vec.c does when the table exceeds
 * max_size (0 = unlimited: drop words of count <= k with k growing from 1, each prune reported on
 * log (stderr when log is NULL: pruning is never silent) as "vocab: pruned N words of count <= k at M words read"), then data_vocab_finish.
 * Returns 0, or -1 with an error (unreadable/corrupt corpus; empty vocabulary after min_count:
 * "corpus.txt: no word occurs at least 5 times (min-count 5); 12 distinct words read"). */
int data_vocab_build(data_vocab **out, const char *corpus_path, int64_t min_count, int64_t max_size, FILE *log);

/* word2vec.c -save-vocab / -read-vocab format. read validates every line: a missing count, a
 * count <= 0, a duplicate word or a truncated last line is an error naming the file and line.
 * Exception: "</s>" may have count 0 (word2vec.c writes "</s> 0" for corpora without newlines,
 * and data_vocab_build always keeps "</s>" at id 0). read keeps the file's order as the ids, so
 * a vocabulary saved beside a model maps back to the same rows. save refuses words that are
 * empty or contain whitespace (the format could not read them back). */
int data_vocab_save(const data_vocab *v, const char *path);
int data_vocab_read(data_vocab **out, const char *path);

#endif
