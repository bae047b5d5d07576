/* word2vec_dist.c — Word2Vec's model averaging across ranks by deltas, alongside the running Hogwild workers (word2vec_dist.h). */
#include "word2vec_dist.h"

#include <stdlib.h>
#include <string.h>

#include "../base/base.h"

int train_w2v_sync_init(train_w2v_sync *s, float *const table[TRAIN_W2V_SYNC_TABLES],
                        const int64_t n[TRAIN_W2V_SYNC_TABLES], int64_t rank_words, int iter, int per_epoch,
                        bool resume_or_checkpoints) {
    memset(s, 0, sizeof *s);
    if (!dist_active()) return 0;
    if (resume_or_checkpoints)
        return base_error_set("word2vec on %d ranks: --resume, --checkpoint-every and --stop-after are not supported "
                              "(a checkpoint would need every rank's worker cursors); a final --checkpoint is written "
                              "by rank 0", dist_size());
    if (per_epoch < 1) per_epoch = 1;
    s->on = true;
    const char *mode = getenv("EMBER_W2V_SYNC"); /* "avg" or "sum" of the ranks' changes (measured: DISTRIBUTED.md) */
    s->sum = !(mode && !strcmp(mode, "avg"));
    s->nsync = iter * per_epoch - 1; /* the last one is the final sync */
    s->every = rank_words / (iter * per_epoch);
    if (s->every < 1) s->every = 1;
    int64_t bucket = dist_bucket_elems();
    for (int t = 0; t < TRAIN_W2V_SYNC_TABLES; t++) {
        s->table[t] = n[t] > 0 ? table[t] : NULL;
        s->n[t] = s->table[t] ? n[t] : 0;
        if (!s->table[t]) continue;
        s->snap[t] = base_xmalloc((size_t)s->n[t] * sizeof(float));
        memcpy(s->snap[t], s->table[t], (size_t)s->n[t] * sizeof(float)); /* the same init on every rank */
    }
    s->d_local = base_xmalloc((size_t)bucket * sizeof(float));
    s->d_avg = base_xmalloc((size_t)bucket * sizeof(float));
    return 0;
}

/* One sync, bucket by bucket: Δ = W − S, avg(Δ) over ranks, W += avg − Δ (or W = S + avg when
 * exact: no worker is running), S += avg. */
static void sync_once(train_w2v_sync *s, bool exact) {
    double t0 = base_now_sec();
    dist_barrier(); /* the ranks reach a sync at different times: the wait is counted apart from the exchange */
    int64_t bucket = dist_bucket_elems();
    for (int t = 0; t < TRAIN_W2V_SYNC_TABLES; t++) {
        float *W = s->table[t], *S = s->snap[t];
        for (int64_t off = 0; W && off < s->n[t]; off += bucket) {
            int64_t k = s->n[t] - off < bucket ? s->n[t] - off : bucket;
            float *w = W + off, *sn = S + off, *dl = s->d_local, *da = s->d_avg;
            for (int64_t i = 0; i < k; i++) da[i] = dl[i] = w[i] - sn[i];
            if (s->sum) dist_allreduce_sum_f32(da, k);
            else dist_allreduce_avg_f32(da, k);
            if (exact) {
                for (int64_t i = 0; i < k; i++) w[i] = sn[i] = sn[i] + da[i];
            } else {
                for (int64_t i = 0; i < k; i++) {
                    w[i] += da[i] - dl[i];
                    sn[i] += da[i];
                }
            }
        }
    }
    s->seconds += base_now_sec() - t0;
}

void train_w2v_sync_poll(train_w2v_sync *s, int64_t words_done) {
    if (!s->on) return;
    while (s->done < s->nsync && words_done >= (int64_t)(s->done + 1) * s->every) {
        sync_once(s, false);
        s->done++;
    }
}

void train_w2v_sync_final(train_w2v_sync *s) {
    if (!s->on) return;
    for (; s->done < s->nsync; s->done++) sync_once(s, false); /* the others' remaining syncs */
    sync_once(s, true);
}

void train_w2v_sync_free(train_w2v_sync *s) {
    for (int t = 0; t < TRAIN_W2V_SYNC_TABLES; t++) free(s->snap[t]);
    free(s->d_local);
    free(s->d_avg);
    memset(s, 0, sizeof *s);
}
