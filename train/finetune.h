/* finetune.h — supervised fine-tuning on the loop: a task head on a pretrained encoder, word vectors or a bag of words, with freezing, gradual unfreezing and layer-wise learning rates.
 *
 * Tasks (the files chosen by path, the task by name):
 *   classify      `label TAB sentence` with a header line (SST-2's format); labels 0 .. C-1;
 *                 head: pooled sentence vector → dropout → linear → C logits; cross-entropy;
 *                 metric accuracy × 100.
 *   pairs         sentence pairs with a gold score (STS Benchmark, SICK relatedness, or `s1 TAB s2
 *                 TAB score`); a bi-encoder head: features [u, v, |u−v|, u⊙v] of the two pooled
 *                 vectors (InferSent / SentEval) → dropout → linear → 1 score; mean squared error
 *                 on the raw score (as GLUE STS-B fine-tuning); metric Spearman × 100.
 *   `sst2`, `stsb` and `sick-r` name those tasks with the shared data's files as defaults (SICK's
 *   TRAIN / TRIAL / TEST rows for train / dev / test).
 *
 * Starting points (--init):
 *   - an ember text-model checkpoint (`train mlm|lm|contrastive` or an earlier finetune): the model
 *     is rebuilt from /model, its parameters loaded by name (--load GLOB, --skip GLOB) with a report
 *     of what was loaded, newly initialised and ignored; a shape mismatch is an error naming both
 *     shapes. The MLM / LM output head is unused by a task and stays frozen.
 *   - word vectors (word2vec text/binary, or an ember Word2Vec / bag-of-vectors checkpoint): a
 *     bag-of-vectors model, "embedding.weight" [V, D] holding the data's words (text8-style split,
 *     as train/sentence.h): words found in the vectors start from them, words of the training data
 *     missing from the vectors are added, initialised N(0, σ of the vectors) and reported (or
 *     dropped with --new-words skip); mean pooling.
 *   - "bow": bag-of-words logistic regression (the floor): "embedding.weight" [V, C] over the
 *     training data's words, zero-initialised, mean-pooled straight into the logits + "task.bias".
 *
 * Freezing is the loop's (--freeze GLOB, --unfreeze STEP:GLOB | EPOCHSep:GLOB); --lr-decay F gives
 * the lower layers smaller learning rates (ULMFiT's discriminative rates / BERT's layer-wise decay):
 * the task head and final norm × 1, encoder block i of L × F^(L−i), the token and position tables
 * × F^(L+1) (a bag of vectors: the table × F); --group GLOB:lr=X[:wd=Y] sets a group's peak lr and
 * weight decay (PyTorch's param_groups) after that.
 *
 * The checkpoint is the starting point's kind (a text-model checkpoint, or vectors with /vocab) plus
 * "task.*" parameters and /finetune/{task,kind,classes,pool}: `ember eval finetune` reads it, and so
 * do `ember embed`, `ember eval sts|probe` and a later --init (they ignore task.*).
 */
#ifndef EMBER_TRAIN_FINETUNE_H
#define EMBER_TRAIN_FINETUNE_H

#include <stdbool.h>
#include <stdint.h>

#include "embed.h"
#include "loop.h"

#define TRAIN_FT_MAX_GLOBS 16

typedef struct train_ft_options {
    const char *task;          /* "classify" | "pairs" | "sst2" | "stsb" | "sick-r" */
    const char *init;          /* text-model checkpoint, word vectors, or "bow" (optional on resume) */
    const char *train, *dev, *test; /* files (defaults from the shared data for sst2 / stsb / sick-r) */
    const char *load;          /* parameters of --init to load (fnmatch glob, "*") */
    const char *skip[TRAIN_FT_MAX_GLOBS]; /* ... except these */
    int nskip;
    train_pool pool;           /* encoder: TRAIN_POOL_MEAN or TRAIN_POOL_CLS */
    int64_t batch;             /* examples per micro-batch (32) */
    int64_t max_len;           /* tokens (or words) per text (0: 64, or the model's positions if fewer) */
    double dropout;            /* before the task head (0.1) */
    double enc_dropout;        /* the encoder's own dropout in training (< 0: the checkpoint's) */
    double lr_decay;           /* layer-wise lr factor (1 = off) */
    const char *group[TRAIN_FT_MAX_GLOBS]; /* "GLOB:lr=X[:wd=Y]" */
    int ngroup;
    int64_t classes;           /* classify: number of classes (0: max training label + 1, at least 2) */
    int64_t min_count;         /* bag of vectors / words: a training word needs this count to get a row (1) */
    bool new_words_skip;       /* bag of vectors: drop words missing from the vectors instead of adding them */
    double epochs;             /* > 0: loop.steps from the training size (3) */
    const char *predictions;   /* TSV of the best model's predictions on the test set (dev without one) */
    bool summary;              /* print the parameter table and exit */
    int threads;
    uint64_t seed;
    const char *plot;
    train_loop_config loop;
} train_ft_options;

train_ft_options train_ft_options_default(void);

/* One evaluation of a fine-tuned model on a labelled file. */
typedef struct train_ft_metrics {
    bool pairs;                /* the pairs task (else classify) */
    int64_t n;
    double accuracy;           /* classify: percent */
    double spearman, pearson;  /* pairs: × 100 */
    double loss;               /* mean cross-entropy / squared error */
} train_ft_metrics;

/* The whole run (or the summary). Prints what was loaded, the run and the dev / test figures on
 * stderr. 0, -1 with an error, or TRAIN_LOOP_STOPPED. */
int train_ft_run(const train_ft_options *o);

/* Evaluates a finetune checkpoint on a file of its task; writes predictions as TSV when asked
 * (predictions may be NULL). 0 or -1. */
int train_ft_evaluate(const char *model, const char *data, const char *predictions, train_ft_metrics *out);

/* The shared data's files of a named task (sst2, stsb, sick-r) under root into files[0..2] (train,
 * dev, test); returns 1, or 0 for a task without defaults. */
int train_ft_task_files(const char *task, const char *root, char files[3][4096]);

/* The lr scale --lr-decay F gives a parameter of an L-block text encoder (see above); 1 for names
 * it does not place. For bags of vectors (layers = 0): the table × F. */
double train_ft_layer_scale(const char *name, int64_t layers, double f);

#endif
