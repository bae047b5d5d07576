/* batch.h — batching for sequence models: seeded epoch shuffling, padding with masks, sentence pairs, MLM masking.
 *
 * Shapes follow the autograd contract: ids and masks are int32 [B, T] row-major, so a batch can be
 * wrapped as AG_I32 tensors without copying.
 */
#ifndef EMBER_DATA_BATCH_H
#define EMBER_DATA_BATCH_H

#include <stdint.h>

#include "../base/base.h"

/* Fisher–Yates shuffle of idx[0..n) in place with r (uniform over all n! orders). */
void data_shuffle(int64_t *idx, int64_t n, base_rng *r);

/* An endless, reproducible stream of example indices: each epoch is a fresh permutation of 0..n-1
 * drawn from (seed, epoch). The whole state is (seed, epoch, pos), so a checkpoint stores three
 * integers and data_order_restore resumes the exact sequence. */
typedef struct data_order {
    int64_t n;
    uint64_t seed;
    int64_t epoch; /* epochs completed */
    int64_t pos;   /* next position in the current permutation */
    int64_t *perm; /* [n] permutation of the current epoch (owned) */
} data_order;

/* Returns 0, or -1 with an error when n <= 0. */
int data_order_init(data_order *o, int64_t n, uint64_t seed);
/* Rebuilds the state (seed, epoch, pos) saved from another data_order over the same n. */
int data_order_restore(data_order *o, int64_t n, uint64_t seed, int64_t epoch, int64_t pos);
/* Next index; starts a new epoch (new permutation) after the last. */
int64_t data_order_next(data_order *o);
void data_order_free(data_order *o);

/* A padded batch. ids and mask are [B, T]: mask = 1 on real tokens, 0 on padding (ids = pad_id
 * there); segments [B, T] (0 = first sentence, 1 = second) only for pairs, else NULL; lengths [B]
 * are the unpadded lengths after truncation. */
typedef struct data_batch {
    int32_t B, T;
    int32_t *ids;
    int32_t *mask;
    int32_t *segments;
    int32_t *lengths;
    int64_t truncated; /* number of sequences that were cut to fit T */
} data_batch;

/* Pads seqs[b][0..lens[b]) to T = min(max lens, max_T) (max_T <= 0: no limit); longer sequences are
 * cut at max_T and counted in b->truncated. Returns 0, or -1 with an error (B <= 0, a negative
 * length). A batch of empty sequences has T = 0. */
int data_batch_pad(data_batch *b, const int32_t *const *seqs, const int64_t *lens, int32_t B, int32_t max_T,
                   int32_t pad_id);

/* BERT-style pairs: [cls] a [sep] b [sep], segments 0 through the first [sep], 1 after. If too long
 * for max_T, the longer of a/b loses its last token until it fits (BERT's longest-first rule).
 * max_T must be >= 3. */
int data_batch_pairs(data_batch *b, const int32_t *const *a, const int64_t *alen, const int32_t *const *bb,
                     const int64_t *blen, int32_t B, int32_t max_T, int32_t cls_id, int32_t sep_id, int32_t pad_id);

void data_batch_free(data_batch *b);

/* BERT's masking on a padded batch, in place. Normal tokens are the ids in [normal_lo, normal_hi)
 * (with BPE: [0, data_bpe_vocab_size) and the specials above; with a word vocabulary whose
 * specials come first: [n_special, V)). Each real (mask 1) normal token is selected with
 * probability prob (BERT: 0.15); a selected token becomes mask_id 80% of the time, a uniform
 * random normal id 10%, and stays itself 10%. labels [B, T] get the original id at selected
 * positions and ignore_index elsewhere (give ag_cross_entropy the same ignore_index). Special
 * tokens and padding are never selected. Every row with an eligible token gets at least one
 * selection, so a mean loss is never 0/0. Returns the number of selected positions. */
int64_t data_mlm_mask(data_batch *b, int32_t *labels, base_rng *r, double prob, int32_t mask_id, int32_t normal_lo,
                      int32_t normal_hi, int32_t ignore_index);

#endif
