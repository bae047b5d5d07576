/* eval.h — intrinsic evaluation of word vectors: analogies, word similarity, neighbours, a − b + c.
 *
 * Protocols (docs/EVALUATION.md):
 *   analogy   word2vec.c's compute-accuracy: only the first `restrict_n` vectors (word2vec files are
 *             in frequency order) are searched; words are compared case-insensitively (ASCII
 *             upper-case of both questions and vocabulary; a folded word maps to its most frequent
 *             spelling); rows are L2-normalised; the answer is argmax over the restricted vocabulary
 *             of cos(x, b − a + c) with a, b, c themselves excluded; a question with any of its four
 *             words outside the restricted vocabulary is skipped and counted (seen / total).
 *             Accuracy = correct / seen, per section, overall, semantic (first 5 sections, as
 *             compute-accuracy's QID <= 5) and syntactic (the rest).
 *   wordsim   Spearman's rho (average ranks for ties) between human scores and cosines over the
 *             pairs whose both words are in the (restricted, case-folded) vocabulary; pairs with an
 *             out-of-vocabulary word are excluded and counted.
 *   neighbours  top-k by cosine, excluding the query word(s); analogy queries a − b + c (3CosAdd).
 *
 * The searches run as BLAS products against the normalised matrix: one sgemm per block of
 * questions, so the 19,544 Google questions against 30k × 100 vectors take about a second.
 */
#ifndef EMBER_TRAIN_EVAL_H
#define EMBER_TRAIN_EVAL_H

#include <stdbool.h>
#include <stdint.h>

#include "data/evalsets.h"

/* A set of word vectors in file order (most frequent first) with lookup tables. */
typedef struct train_vectors {
    int64_t n, dim;
    char **words;     /* [n] owned */
    float *vec;       /* [n, dim] vectors as given */
    float *unit;      /* [n, dim] L2-normalised rows (an all-zero row stays zero) */
    int64_t *hash;    /* [hash_size] exact lookup: slot -> id or -1 */
    int64_t *fold;    /* [hash_size] ASCII case-folded lookup: slot -> smallest id with that folding */
    int64_t hash_size;
    int64_t ndup;     /* rows whose word an earlier row already has: lookups find the first row,
                         and the duplicates are never listed as neighbours */
    int64_t first_dup;/* the first such row, -1 if none */
} train_vectors;

/* Copies n words and an [n, dim] matrix into a new vector set (normalises, builds lookups). */
train_vectors *train_vectors_from(int64_t n, int64_t dim, char *const *words, const float *vec);
/* Takes ownership of words[n] (each heap string and the array) and vec[n*dim] (malloc'd). */
train_vectors *train_vectors_adopt(int64_t n, int64_t dim, char **words, float *vec);
void train_vectors_free(train_vectors *v);

/* Loads VECTORS: a word2vec text or binary file (auto-detected) or an ember checkpoint (HDF5 magic;
 * the embedding is /params/<param> — NULL picks the first of "syn0", "embedding.weight",
 * "in_embed.weight" that exists — with words from /vocab/words). Returns 0 or -1 with an error. */
int train_vectors_load(train_vectors **out, const char *path, const char *param);

/* Id of w: exact match, else (if fold) the most frequent case-folded match; -1 if absent. */
int64_t train_vectors_find(const train_vectors *v, const char *w, bool fold);

/* ---- analogy -------------------------------------------------------------------------------- */
typedef struct train_analogy_section {
    const char *name;                  /* borrowed from the question set */
    int64_t correct, seen, total;
} train_analogy_section;

typedef struct train_analogy_result {
    int32_t n_sections;
    train_analogy_section *sections;   /* [n_sections] owned */
    int64_t correct, seen, total;      /* overall */
    int64_t sem_correct, sem_seen;     /* sections 0..4 */
    int64_t syn_correct, syn_seen;     /* sections 5.. */
    int64_t restrict_n;                /* vocabulary actually searched */
    double seconds;                    /* wall time of the search */
} train_analogy_result;

/* restrict_n <= 0 or > v->n means the whole vocabulary. Fills *out (free with
 * train_analogy_result_free). Returns 0 (it cannot fail on valid inputs). */
int train_eval_analogy(const train_vectors *v, const data_analogy_set *q, int64_t restrict_n,
                       train_analogy_result *out);
void train_analogy_result_free(train_analogy_result *r);

/* ---- word similarity ------------------------------------------------------------------------- */
typedef struct train_wordsim_result {
    int64_t pairs;    /* pairs in the set */
    int64_t used;     /* pairs with both words in the vocabulary */
    int64_t oov;      /* pairs - used */
    double spearman;  /* rho over the used pairs (NaN if used < 2 or a side is constant) */
    double pearson;   /* Pearson r over the same pairs, for reference */
} train_wordsim_result;

/* Case-folded lookup within the first restrict_n vectors (<= 0: all). */
int train_eval_wordsim(const train_vectors *v, const data_wordsim_set *s, int64_t restrict_n,
                       train_wordsim_result *out);

/* Spearman's rho of x[n] and y[n] with average ranks for ties (NaN if n < 2 or constant). */
/* Cosine of a and b [n] in double precision (NaN when either is all zeros). */
double train_cosine(const float *a, const float *b, int64_t n);
double train_spearman(const double *x, const double *y, int64_t n);
/* Pearson's r of x[n] and y[n] (NaN if n < 2 or constant). */
double train_pearson(const double *x, const double *y, int64_t n);
/* Fills rank[n] with 1-based average ranks of x (ties share the mean of their positions). */
void train_average_ranks(const double *x, int64_t n, double *rank);

/* ---- neighbours and analogy queries ---------------------------------------------------------- */
typedef struct train_neighbor {
    int64_t id;
    float cosine;
} train_neighbor;

/* Top-k rows of v by cosine with query[dim] (need not be normalised), skipping the ids in
 * exclude[nexclude]; writes up to k results in descending order; returns how many. */
int train_nearest(const train_vectors *v, const float *query, const int64_t *exclude, int nexclude, int k,
                  train_neighbor *out);
/* Neighbours of a word (case-folded lookup). Returns the count, or -1 with an error if the word
 * is not in the vocabulary. */
int train_similar(const train_vectors *v, const char *word, int k, train_neighbor *out);
/* 3CosAdd: neighbours of unit(a) − unit(b) + unit(c) excluding a, b, c ("king man woman" asks
 * king − man + woman). Returns the count, or -1 naming the unknown word. */
int train_analogy_query(const train_vectors *v, const char *a, const char *b, const char *c, int k,
                        train_neighbor *out);

#endif
