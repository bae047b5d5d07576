/* embed.h — contextual embeddings from a trained text model: one pooled vector per text, or one vector per token.
 *
 *   train_lm_model m;  train_lm_load_model("run.ckpt", &m);
 *   float *v = malloc(n * m.net.cfg.d * sizeof *v);
 *   train_embed_texts(&m, texts, lens, n, TRAIN_POOL_MEAN, -1, 32, v);   // v [n, d]
 *
 * Texts are encoded with the model's own tokenizer (MLM models get [CLS] in front), cut to the
 * model's positions, batched with padding (padding is masked out of attention and pooling), and run
 * in inference mode (no dropout, no tape).
 */
#ifndef EMBER_TRAIN_EMBED_H
#define EMBER_TRAIN_EMBED_H

#include <stdint.h>

#include "lm.h"

typedef enum train_pool {
    TRAIN_POOL_MEAN = 0,   /* mean over the text's tokens (sentence-transformers' default) */
    TRAIN_POOL_CLS,        /* the first token's vector ([CLS] for MLM models) */
    TRAIN_POOL_FIRST_LAST, /* mean over tokens of (layer 1 output + last layer output) / 2 (SimCSE's first-last avg) */
} train_pool;

/* "mean", "cls", "first-last" → pool; -1 with an error otherwise. */
int train_pool_parse(const char *s, train_pool *out);

/* Pooled vectors of n texts into out [n, d]. layer: 1..n_layers takes that block's output
 * (n_layers = after the final norm); -1 = the last. batch: texts per forward. 0 or -1. */
int train_embed_texts(const train_lm_model *m, const char *const *texts, const size_t *lens, int64_t n,
                      train_pool pool, int layer, int64_t batch, float *out);

/* Per-token vectors of one text: *ids heap [*nt], *vecs heap [*nt, d]. 0 or -1. */
int train_embed_tokens(const train_lm_model *m, const char *text, size_t len, int layer, int32_t **ids,
                       float **vecs, int64_t *nt);

/* Writes vectors [n, d] by the file's extension: ".npy" (float32), ".h5"/".hdf5" (dataset
 * /embeddings float32 [n, d], readable by h5py), else word2vec text ("n d" then one line per vector,
 * labelled by labels[i] or its 0-based index). 0 or -1. */
int train_embed_write(const char *path, const float *v, int64_t n, int64_t d, const char *const *labels);

#endif
