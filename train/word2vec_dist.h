/* word2vec_dist.h — Word2Vec on several ranks: corpus shards per rank, tables averaged every so many words while the Hogwild workers keep training.
 *
 * Rank r's workers read outer shard r of the corpus (data_corpus_set_outer_shard), so the ranks
 * together read the corpus once per epoch; every rank builds the same vocabulary and the same
 * initial tables (same seed). The learning rate decays over the rank's share of the words
 * (words_total / ranks), so all ranks decay together.
 *
 * Synchronisation is model averaging by deltas: the ranks share the last averaged tables S (a
 * snapshot, identical everywhere). At a sync each rank takes its change since then, Δ = W − S
 * (read from the live tables while its workers keep writing, as Hogwild workers read each other),
 * the ranks average the Δs (all-reduce in buckets), and each rank adds avg(Δ) − Δ to its live
 * tables — an increment, so updates its workers made during the exchange are kept, not overwritten
 * — and sets S += avg(Δ). Syncs happen every `every` words of the rank's progress; a rank whose
 * workers finished early still takes part in the remaining ones (its Δ is then 0), and a final
 * sync after every worker has stopped leaves W = S, bitwise the same tables on every rank.
 * Per sync a rank moves 2 × (tables' floats) bytes through the all-reduce and reads them three times.
 * One process: every function is a no-op.
 */
#ifndef EMBER_TRAIN_WORD2VEC_DIST_H
#define EMBER_TRAIN_WORD2VEC_DIST_H

#include <stdbool.h>
#include <stdint.h>

#include "../dist/dist.h"

#define TRAIN_W2V_SYNC_TABLES 3

typedef struct train_w2v_sync {
    bool on;                                  /* more than one rank */
    bool sum;                                 /* add the ranks' changes (default) instead of averaging them */
    float *table[TRAIN_W2V_SYNC_TABLES];      /* live tables (syn0, syn1, syn1neg; NULL = absent) */
    float *snap[TRAIN_W2V_SYNC_TABLES];       /* [n] the last averaged tables */
    int64_t n[TRAIN_W2V_SYNC_TABLES];         /* floats per table */
    float *d_local, *d_avg;                   /* [bucket] scratch */
    int64_t every;                            /* rank words between syncs */
    int nsync, done;                          /* periodic syncs in the run, taken so far */
    double seconds;                           /* in syncs (exchange + arithmetic) */
} train_w2v_sync;

/* Sets up the syncs for tables of n floats each (NULL/0 for an absent one): `per_epoch` syncs per
 * epoch of iter epochs over rank_words (the rank's words in the whole run). -1 with an error when
 * several ranks run and resume / periodic checkpoints / --stop-after are asked (a multi-rank
 * Word2Vec checkpoint would need every rank's worker cursors: not supported). */
int train_w2v_sync_init(train_w2v_sync *s, float *const table[TRAIN_W2V_SYNC_TABLES],
                        const int64_t n[TRAIN_W2V_SYNC_TABLES], int64_t rank_words, int iter, int per_epoch,
                        bool resume_or_checkpoints);
/* Called by the main thread while the workers run: takes every sync due at words_done. */
void train_w2v_sync_poll(train_w2v_sync *s, int64_t words_done);
/* After the workers have stopped: the remaining periodic syncs, then the final one (W = S). */
void train_w2v_sync_final(train_w2v_sync *s);
void train_w2v_sync_free(train_w2v_sync *s);

#endif
