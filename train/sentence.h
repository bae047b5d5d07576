/* sentence.h — sentence vectors from any ember model (a trained text model, or word vectors averaged), STS evaluation and the logistic-regression probe.
 *
 * One opener for what `ember eval sts|probe` is given:
 *   - a text-model checkpoint (`train mlm|lm|contrastive`): train_embed_texts with the model's pool
 *     (a contrastive checkpoint records its own; else mean) at the last layer;
 *   - word vectors (word2vec text/binary, or an ember Word2Vec checkpoint): the mean of the vectors
 *     of the sentence's words — the classic baseline. A sentence is split the way the text8-style
 *     corpus was cleaned (lower-case a–z runs are words, digits are spelled out one by one as
 *     words, every other character separates), so the vectors see the words they were trained on;
 *     words missing from the vectors are skipped (counted), a sentence with none gets a zero vector.
 *
 * STS (SentEval's / SimCSE's protocol, "all" setting): Spearman's rho × 100 between the cosine of
 * each pair and the gold score; a pair with a zero vector has cosine 0.
 *
 * Probe (SentEval's protocol for a binary task such as SST-2): frozen sentence vectors, standardised
 * with the training set's mean and deviation; L2-regularised logistic regression fitted by Newton's
 * method to convergence for each L2 strength of a grid; the strength with the best dev accuracy is
 * kept and its dev and test accuracy reported.
 */
#ifndef EMBER_TRAIN_SENTENCE_H
#define EMBER_TRAIN_SENTENCE_H

#include <stdbool.h>
#include <stdint.h>

#include "embed.h"
#include "eval.h"

typedef struct train_sent_encoder {
    bool is_model;        /* a text model; else averaged word vectors */
    train_lm_model lm;
    train_pool pool;
    train_vectors *vec;
    int64_t dim;
    char desc[160];       /* "mlm d 256, 4 layers, mean pooling" | "word vectors 82,208 x 300, mean" */
} train_sent_encoder;

/* Whether path is an ember text-model checkpoint (HDF5 with /model/kind); false for anything else. */
bool train_sent_is_model(const char *path);

/* Opens path as a text-model checkpoint or word vectors. pool: NULL for the model's own (or mean);
 * ignored for word vectors. 0 or -1 with an error naming the file. */
int train_sent_open(train_sent_encoder *e, const char *path, const char *pool);
void train_sent_close(train_sent_encoder *e);

/* Vectors of n texts into out [n, e->dim]. *words / *oov (may be NULL): word-vector mode's word
 * counts (all, and missing from the vectors). 0 or -1. */
int train_sent_embed(const train_sent_encoder *e, const char *const *texts, int64_t n, float *out, int64_t *words,
                     int64_t *oov);

/* The text8-style words of a sentence (see above) into a NUL-separated buffer: returns the number
 * of words; *buf heap (caller frees). */
int64_t train_sent_words(const char *text, char **buf);

typedef struct train_sts_result {
    int64_t pairs;
    double spearman;      /* × 100 */
    double pearson;       /* × 100 */
    int64_t words, oov;   /* word-vector mode */
} train_sts_result;

/* cos: optional [n] out, each pair's cosine as scored (for --dump and the tests). */
int train_sent_sts(const train_sent_encoder *e, const char *const *a, const char *const *b, const float *gold,
                   int64_t n, train_sts_result *out, double *cos);

/* Binary logistic-regression probe. x* [n*, d] features, y* [n*] labels 0/1. */
typedef struct train_probe_result {
    double l2;               /* the chosen L2 strength (on the mean log-loss) */
    double train_acc, dev_acc, test_acc; /* percent; test NaN when ntest = 0 */
    int iters;               /* Newton iterations of the chosen fit */
    int ngrid;
    double grid_l2[8], grid_dev[8];
} train_probe_result;

int train_probe_logreg(const float *xtr, const int32_t *ytr, int64_t ntr, const float *xdev, const int32_t *ydev,
                       int64_t ndev, const float *xte, const int32_t *yte, int64_t nte, int64_t d,
                       train_probe_result *out);

#endif
