/* batch.c — epoch shuffling with a 3-integer state, padding to [B, T] with masks, sentence pairs, MLM masking. */
#include "batch.h"

#include <stdlib.h>
#include <string.h>

/* Uniform in [0, n) for 64-bit n (rejection of the biased top range). */
static uint64_t below64(base_rng *r, uint64_t n) {
    if (n <= UINT32_MAX) return base_rng_below(r, (uint32_t)n);
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = base_rng_next(r);
    while (x >= limit);
    return x % n;
}

void data_shuffle(int64_t *idx, int64_t n, base_rng *r) {
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)below64(r, (uint64_t)i + 1);
        int64_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}

/* The permutation of epoch e depends only on (seed, e). */
static void order_fill(data_order *o) {
    base_rng r;
    base_rng_seed(&r, o->seed ^ (0x9E3779B97F4A7C15ull * (uint64_t)(o->epoch + 1)));
    for (int64_t i = 0; i < o->n; i++) o->perm[i] = i;
    data_shuffle(o->perm, o->n, &r);
}

int data_order_init(data_order *o, int64_t n, uint64_t seed) { return data_order_restore(o, n, seed, 0, 0); }

int data_order_restore(data_order *o, int64_t n, uint64_t seed, int64_t epoch, int64_t pos) {
    memset(o, 0, sizeof *o);
    if (n <= 0) return base_error_set("data order: expected at least one example, got %lld", (long long)n);
    if (epoch < 0 || pos < 0 || pos > n)
        return base_error_set("data order: expected epoch >= 0 and 0 <= pos <= %lld, got epoch %lld pos %lld",
                            (long long)n, (long long)epoch, (long long)pos);
    o->n = n;
    o->seed = seed;
    o->epoch = epoch;
    o->pos = pos;
    o->perm = base_xmalloc((size_t)n * sizeof *o->perm);
    order_fill(o);
    return 0;
}

int64_t data_order_next(data_order *o) {
    if (o->pos == o->n) {
        o->epoch++;
        o->pos = 0;
        order_fill(o);
    }
    return o->perm[o->pos++];
}

void data_order_free(data_order *o) {
    free(o->perm);
    memset(o, 0, sizeof *o);
}

/* Allocates b's arrays for [B, T] (all zero), segments only if with_seg. */
static void batch_alloc(data_batch *b, int32_t B, int32_t T, int with_seg) {
    memset(b, 0, sizeof *b);
    b->B = B;
    b->T = T;
    size_t cells = (size_t)B * (size_t)(T ? T : 1);
    b->ids = base_xcalloc(cells, sizeof *b->ids);
    b->mask = base_xcalloc(cells, sizeof *b->mask);
    b->segments = with_seg ? base_xcalloc(cells, sizeof *b->segments) : NULL;
    b->lengths = base_xcalloc((size_t)B, sizeof *b->lengths);
}

int data_batch_pad(data_batch *b, const int32_t *const *seqs, const int64_t *lens, int32_t B, int32_t max_T,
                   int32_t pad_id) {
    memset(b, 0, sizeof *b);
    if (B <= 0) return base_error_set("batch: expected at least one sequence, got %d", B);
    int64_t T = 0;
    for (int32_t i = 0; i < B; i++) {
        if (lens[i] < 0) return base_error_set("batch: sequence %d: expected a length >= 0, got %lld", i, (long long)lens[i]);
        if (lens[i] > T) T = lens[i];
    }
    if (max_T > 0 && T > max_T) T = max_T;
    if (T > INT32_MAX) return base_error_set("batch: sequence length %lld exceeds 2^31-1", (long long)T);
    batch_alloc(b, B, (int32_t)T, 0);
    for (int32_t i = 0; i < B; i++) {
        int64_t L = lens[i] < T ? lens[i] : T;
        if (lens[i] > T) b->truncated++;
        int32_t *row = b->ids + (size_t)i * (size_t)T, *mrow = b->mask + (size_t)i * (size_t)T;
        if (L) memcpy(row, seqs[i], (size_t)L * sizeof *row);
        for (int64_t t = 0; t < L; t++) mrow[t] = 1;
        for (int64_t t = L; t < T; t++) row[t] = pad_id;
        b->lengths[i] = (int32_t)L;
    }
    return 0;
}

int data_batch_pairs(data_batch *b, const int32_t *const *a, const int64_t *alen, const int32_t *const *bb,
                     const int64_t *blen, int32_t B, int32_t max_T, int32_t cls_id, int32_t sep_id, int32_t pad_id) {
    memset(b, 0, sizeof *b);
    if (B <= 0) return base_error_set("batch pairs: expected at least one pair, got %d", B);
    if (max_T > 0 && max_T < 3)
        return base_error_set("batch pairs: expected max_T >= 3 ([cls] a [sep] b [sep]), got %d", max_T);
    int64_t T = 0;
    for (int32_t i = 0; i < B; i++) {
        if (alen[i] < 0 || blen[i] < 0)
            return base_error_set("batch pairs: pair %d: expected lengths >= 0, got %lld and %lld", i,
                                (long long)alen[i], (long long)blen[i]);
        int64_t l = 3 + alen[i] + blen[i];
        if (l > T) T = l;
    }
    if (max_T > 0 && T > max_T) T = max_T;
    if (T > INT32_MAX) return base_error_set("batch pairs: length %lld exceeds 2^31-1", (long long)T);
    batch_alloc(b, B, (int32_t)T, 1);
    for (int32_t i = 0; i < B; i++) {
        int64_t la = alen[i], lb = blen[i];
        if (3 + la + lb > T) {
            b->truncated++;
            /* Longest first: trim the longer side one token at a time (in O(1)). */
            int64_t excess = 3 + la + lb - T;
            int64_t d = la > lb ? la - lb : lb - la, cut = excess < d ? excess : d;
            if (la > lb) la -= cut;
            else lb -= cut;
            excess -= cut;
            /* Now equal (or excess done): alternate, the first side taking the odd token (BERT pops a
             * when len(a) > len(b), else b; with equal lengths it pops b first). */
            lb -= (excess + 1) / 2;
            la -= excess / 2;
        }
        int32_t *row = b->ids + (size_t)i * (size_t)T, *m = b->mask + (size_t)i * (size_t)T;
        int32_t *s = b->segments + (size_t)i * (size_t)T;
        int64_t t = 0;
        row[t++] = cls_id;
        if (la) memcpy(row + t, a[i], (size_t)la * sizeof *row);
        t += la;
        row[t++] = sep_id;
        int64_t seg1 = t;
        if (lb) memcpy(row + t, bb[i], (size_t)lb * sizeof *row);
        t += lb;
        row[t++] = sep_id;
        for (int64_t k = 0; k < t; k++) {
            m[k] = 1;
            s[k] = k >= seg1;
        }
        for (int64_t k = t; k < T; k++) row[k] = pad_id;
        b->lengths[i] = (int32_t)t;
    }
    return 0;
}

void data_batch_free(data_batch *b) {
    free(b->ids);
    free(b->mask);
    free(b->segments);
    free(b->lengths);
    memset(b, 0, sizeof *b);
}

int64_t data_mlm_mask(data_batch *b, int32_t *labels, base_rng *r, double prob, int32_t mask_id, int32_t normal_lo,
                      int32_t normal_hi, int32_t ignore_index) {
    BASE_CHECK(normal_hi > normal_lo, "data_mlm_mask", "empty normal range [%d, %d)", normal_lo, normal_hi);
    const int64_t T = b->T;
    uint8_t *sel = base_xmalloc((size_t)(T ? T : 1)); /* [T] this row's selected positions */
    int64_t selected = 0;
    for (int32_t i = 0; i < b->B; i++) {
        int32_t *row = b->ids + (size_t)i * (size_t)T, *m = b->mask + (size_t)i * (size_t)T;
        int32_t *lab = labels + (size_t)i * (size_t)T;
        int64_t eligible = 0, chosen = 0;
        for (int64_t t = 0; t < T; t++) {
            int el = m[t] && row[t] >= normal_lo && row[t] < normal_hi;
            eligible += el;
            sel[t] = el && base_rng_uniform_d(r) < prob;
            chosen += sel[t];
        }
        if (eligible > 0 && chosen == 0) { /* pick one eligible position uniformly */
            int64_t k = (int64_t)below64(r, (uint64_t)eligible);
            for (int64_t t = 0; t < T; t++)
                if (m[t] && row[t] >= normal_lo && row[t] < normal_hi && k-- == 0) {
                    sel[t] = 1;
                    chosen = 1;
                    break;
                }
        }
        for (int64_t t = 0; t < T; t++) {
            lab[t] = sel[t] ? row[t] : ignore_index;
            if (!sel[t]) continue;
            double u = base_rng_uniform_d(r);
            if (u < 0.8) row[t] = mask_id;
            else if (u < 0.9) row[t] = normal_lo + (int32_t)below64(r, (uint64_t)(normal_hi - normal_lo));
        }
        selected += chosen;
    }
    free(sel);
    return selected;
}
