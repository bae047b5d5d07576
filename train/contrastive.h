/* contrastive.h — sentence-embedding training on the loop: unsupervised SimCSE, InfoNCE over pairs, CoSENT over scored pairs.
 *
 * One trainer, chosen by the data's shape as sentence-transformers chooses its loss:
 *   simcse  one sentence per line: each sentence is encoded twice in one batch (two dropout masks);
 *           the two views are the positive pair, every other sentence of the batch a negative
 *           (Gao et al. 2021: temperature 0.05, max length 32, model dropout 0.1);
 *   pairs   anchor TAB positive [TAB hard negative]: InfoNCE with in-batch negatives (multiple-
 *           negatives ranking), the hard negatives as extra columns, optionally symmetric;
 *   cosent  sentence1 TAB sentence2 TAB score, or an STS Benchmark / SICK file: CoSENT (Su 2022)
 *           over the cosines of the pairs of a batch, λ = 20.
 * The encoder is an ember text model (`--init` a `train mlm|lm|contrastive` checkpoint): tokens →
 * blocks → pooled (mean over the text's tokens, or the first token) → [projection: dense + tanh,
 * training only] → L2-normalised. Texts that are equal inside a batch are masked out of each
 * other's negatives. The temperature is fixed, or learnable as a log-scale ("ctr.logit_scale",
 * init ln(1/τ)) clamped to [0, ln 100] after every step, as open_clip does.
 *
 * The checkpoint is a text-model checkpoint (/model, /tokenizer, /params with the encoder's names)
 * plus the trainer's own "ctr.*" parameters and /contrastive/pool, so `ember embed`, `ember eval
 * sts` and a later `--init` read it like any `train mlm` model. The MLM / LM output head is not
 * used and is frozen (its bytes are kept, so the checkpoint still loads as its kind).
 */
#ifndef EMBER_TRAIN_CONTRASTIVE_H
#define EMBER_TRAIN_CONTRASTIVE_H

#include <stdbool.h>
#include <stdint.h>

#include "embed.h"
#include "loop.h"

typedef enum train_ctr_loss {
    TRAIN_CTR_AUTO = 0, /* from the file: 1 field → simcse, 2 → pairs, 3 with a numeric third or STS-B/SICK → cosent */
    TRAIN_CTR_SIMCSE,
    TRAIN_CTR_PAIRS,
    TRAIN_CTR_COSENT,
} train_ctr_loss;

const char *train_ctr_loss_name(train_ctr_loss l); /* "auto", "simcse", "pairs", "cosent" */
int train_ctr_loss_parse(const char *s, train_ctr_loss *out);

typedef struct train_ctr_options {
    const char *init;          /* the text-model checkpoint to start from (optional on resume) */
    const char *data;          /* training file (plain or gzip) */
    train_ctr_loss loss;
    train_pool pool;           /* TRAIN_POOL_MEAN (default) or TRAIN_POOL_CLS */
    int64_t batch;             /* sentences (simcse) or pairs per micro-batch (64) */
    int64_t max_len;           /* tokens per text in training, [CLS] included (32) */
    double temperature;        /* τ of InfoNCE (0.05) */
    bool learn_temperature;    /* learnable log-scale, clamped to [0, ln 100] */
    double cosent_lambda;      /* CoSENT's scale λ (20) */
    bool symmetric;            /* pairs: add the positive → anchor direction */
    bool proj;                 /* a dense + tanh head on the pooled vector, training only (SimCSE's MLP) */
    double dropout;            /* the encoder's residual dropout in training (< 0: the checkpoint's) */
    const char *eval_set;      /* STS file evaluated every loop.eval_every steps (Spearman × 100), or NULL */
    double epochs;             /* > 0: loop.steps from the data size */
    int threads;               /* OpenMP + OpenBLAS threads (0 = leave as is) */
    uint64_t seed;
    const char *plot;          /* loss-curve SVG (NULL: "<checkpoint>.svg" when checkpointing) */
    train_loop_config loop;
} train_ctr_options;

train_ctr_options train_ctr_options_default(void);

/* The whole run. Prints a summary on stderr (the STS figure before training too). 0, -1 with an
 * error, or TRAIN_LOOP_STOPPED. */
int train_ctr_run(const train_ctr_options *o);

/* InfoNCE's negative mask for a batch of B examples: ha [B] anchor hashes, hb [B] positive hashes,
 * hc [B] hard-negative hashes (NULL when M = B). mask [B, M] (M = B or 2B): column j < B is example
 * j's positive, j ≥ B example (j − B)'s hard negative; mask[i][j] = 1 (not a negative of anchor i)
 * when j ≠ i and the column's text equals i's positive, or j < B and the anchors are equal (then
 * b[j] is a positive of a[i] too). The diagonal is never masked. Returns whether any entry is 1. */
bool train_ctr_negative_mask(const uint64_t *ha, const uint64_t *hb, const uint64_t *hc, int64_t B, int64_t M,
                             int32_t *mask);

/* Spearman × 100 of the model's cosines against gold scores over n pairs (a[i], b[i], gold[i]),
 * texts embedded with train_embed_texts (pool, last layer). *out NaN if undefined. 0 or -1. */
int train_ctr_sts_spearman(const train_lm_model *m, train_pool pool, const char *const *a, const char *const *b,
                           const float *gold, int64_t n, double *out);

#endif
