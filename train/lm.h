/* lm.h — masked-LM (BERT-style) and next-token LM (Thinker-style) pretraining on real text, on the training loop.
 *
 * Data: the corpus files (plain or gzip) are read whole (up to max_bytes), WikiExtractor's
 * `<doc ...>` / `</doc>` marker lines are dropped, and the text is encoded with the run's tokenizer
 * into one token stream. The held-out text is --valid FILE, or else the last `valid_frac` of the
 * stream (at least one sequence). Sequences are packed from the stream without padding:
 *   MLM: [CLS] + seq-1 stream tokens, masked as BERT (15 % chosen, 80/10/10 [MASK]/random/kept,
 *        loss only at chosen positions, the head computed only there); whole-word masking as an
 *        option (a word is a token starting with a space byte and the tokens that continue it).
 *   LM:  seq + 1 stream tokens: inputs are the first seq, targets the last seq (next token).
 * Sequences are visited in a seeded shuffled order per epoch (data_order); the order's position,
 * the masking RNG and the dropout RNG are saved in every checkpoint, so resume is bit-exact.
 *
 * Evaluation: MLM loss and accuracy at masked positions on a fixed held-out set masked with a fixed
 * seed (the same positions every time, so evaluations compare); LM held-out loss and perplexity
 * (per token, and per whitespace-separated word of the held-out text, which is comparable across
 * tokenizers).
 *
 * Checkpoints add: /model/... (kind and sizes, read back by train_lm_load_model), the tokenizer
 * (/tokenizer/file), /state/data/{epoch,pos}, /state/rng/mask.
 */
#ifndef EMBER_TRAIN_LM_H
#define EMBER_TRAIN_LM_H

#include <stdbool.h>
#include <stdint.h>

#include "../data/tokenizer.h"
#include "../nn/nn.h"
#include "loop.h"

#define TRAIN_LM_MAX_CORPUS 16
#define TRAIN_LM_IGNORE (-100) /* label of positions without a loss (PyTorch's default ignore_index) */

typedef struct train_lm_options {
    nn_text_config model;             /* kind, d, layers, heads, kv_heads, ffn, pos, tie, dropout; max_seq = seq */
    const char *corpus[TRAIN_LM_MAX_CORPUS];
    int ncorpus;
    int64_t max_bytes;                /* read at most this many corpus bytes (0 = all) */
    const char *valid;                /* held-out text file, or NULL: split the stream */
    double valid_frac;                /* 0.005 */
    const char *test;                 /* text evaluated once, after training (never used to pick a
                                       * checkpoint): e.g. WikiText-2 test for `train lm` */
    int64_t eval_seqs;                /* held-out sequences per evaluation (64) */
    const char *tokenizer;            /* tokenizer file; NULL: the checkpoint's on resume, else train one */
    int32_t vocab_size;               /* for a tokenizer trained here (8192) */
    int64_t tokenizer_bytes;          /* corpus bytes it is trained on (10 MB) */
    int64_t batch;                    /* sequences per micro-batch (32) */
    double epochs;                    /* > 0: loop.steps = ceil(epochs · sequences / (batch · accum)) */
    double mask_prob;                 /* MLM (0.15) */
    bool whole_word;                  /* MLM whole-word masking */
    int threads;                      /* OpenMP + OpenBLAS threads (0 = leave as is) */
    uint64_t seed;
    const char *plot;                 /* loss-curve SVG path (NULL: "<checkpoint>.svg" when checkpointing) */
    train_loop_config loop;           /* steps, lr, schedule, accum, clip, checkpoints, metrics, ... */
} train_lm_options;

train_lm_options train_lm_options_default(nn_text_kind kind);

/* The whole run: tokenizer, data, model, loop. Prints a summary on stderr. Returns 0, -1 with an
 * error, or TRAIN_LOOP_STOPPED. */
int train_lm_run(const train_lm_options *o);

/* BERT masking of rows x [B, T] in place: each normal (non-special) token is chosen with
 * probability prob, or with whole_word each word (a token starting with whitespace, or following
 * one that ends in it, plus the tokens that continue it) is chosen with probability prob and all its
 * tokens with it; a chosen token becomes [MASK] 80 %, a uniform random normal token 10 %, and stays
 * 10 %. Every row gets at least one chosen token. Labels y [B, T] hold the original id at chosen
 * positions and TRAIN_LM_IGNORE elsewhere. Returns the number chosen. */
int64_t train_lm_mask(const data_tokenizer *tok, int32_t *x, int32_t *y, int64_t B, int64_t T, double prob,
                      bool whole_word, base_rng *r);

/* A trained text model read back from a checkpoint (for `ember embed`, fine-tuning, evaluation). */
typedef struct train_lm_model {
    nn_text_model net;
    data_tokenizer *tok;
} train_lm_model;
/* Rebuilds the model from /model/..., loads its parameters (strict) and its tokenizer. -1 with an
 * error naming the file on anything missing or inconsistent. */
int train_lm_load_model(const char *path, train_lm_model *m);
void train_lm_model_free(train_lm_model *m);

/* The pieces of a text-model checkpoint, for trainers that build on one (train/contrastive.c):
 * /model/... written and read (the config is checked), and the parameters loaded strictly except
 * that parameters named "ctr.*" or "task.*" in the file (a contrastive trainer's projection head and
 * temperature, used in training only; a finetune's task head) are allowed and ignored. */
/* Freezes the model's MLM / LM output head (unused by trainers that pool hidden states: contrastive,
 * finetune; its bytes are kept so the checkpoint still loads as its kind) by adding its glob to c. */
void train_lm_freeze_head(const nn_text_model *m, train_loop_config *c);
int train_lm_put_model(ckpt_writer *w, const nn_text_config *c);
int train_lm_get_config(ckpt_reader *r, nn_text_config *c);
int train_lm_load_params(ckpt_reader *r, nn_params *ps);

/* Tokens of a text as a text model of this kind reads it: [CLS] first for MLM models, cut to max
 * tokens in all; with nonempty, a text that has no token at all gets one [SEP] (a position to pool).
 * ids heap [*n]. 0 or -1 (the tokenizer's error). */
int train_lm_encode_text(const data_tokenizer *tok, nn_text_kind kind, const char *text, size_t len, int64_t max,
                         bool nonempty, int32_t **ids, int64_t *n);

/* Tokens of a text as the model sees them: MLM prefixes [CLS]; both cut to the model's positions.
 * ids heap [*n]. */
int train_lm_encode_for_model(const train_lm_model *m, const char *text, size_t len, int32_t **ids, int64_t *n);

#endif
