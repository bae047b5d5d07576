/* test_batch.c — shuffling (uniform, seeded, resumable), padding and masks, sentence pairs, MLM 80/10/10 masking. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "data/batch.h"
#include "support/test_util.h"

/* All 24 orders of 4 items are equally likely (chi-square over 240,000 shuffles), and seeded. */
static void test_shuffle_uniform(void **state) {
    (void)state;
    int64_t hist[256] = {0};
    base_rng r;
    base_rng_seed(&r, 17);
    const int N = 240000;
    for (int k = 0; k < N; k++) {
        int64_t v[4] = {0, 1, 2, 3};
        data_shuffle(v, 4, &r);
        int code = (int)(v[0] * 64 + v[1] * 16 + v[2] * 4 + v[3]);
        hist[code]++;
    }
    int distinct = 0;
    double chi2 = 0, e = N / 24.0;
    for (int c = 0; c < 256; c++) {
        if (!hist[c]) continue;
        distinct++;
        chi2 += (hist[c] - e) * (hist[c] - e) / e;
    }
    printf("shuffle: %d orders, chi2 %.1f (23 dof)\n", distinct, chi2);
    assert_int_equal(distinct, 24);
    assert_true(chi2 < 60); /* 23 dof: p(chi2 > 60) ~ 4e-5 */
    int64_t a[100], b[100];
    base_rng r1, r2;
    base_rng_seed(&r1, 5);
    base_rng_seed(&r2, 5);
    for (int i = 0; i < 100; i++) a[i] = b[i] = i;
    data_shuffle(a, 100, &r1);
    data_shuffle(b, 100, &r2);
    assert_memory_equal(a, b, sizeof a);
    data_shuffle(a, 0, &r1); /* empty is fine */
}

static void test_order_resume(void **state) {
    (void)state;
    data_order o;
    assert_int_equal(data_order_init(&o, 10, 99), 0);
    int64_t seq[35];
    for (int i = 0; i < 35; i++) seq[i] = data_order_next(&o);
    for (int e = 0; e < 3; e++) { /* every epoch is a permutation */
        int seen[10] = {0};
        for (int i = 0; i < 10; i++) seen[seq[e * 10 + i]]++;
        for (int i = 0; i < 10; i++) assert_int_equal(seen[i], 1);
    }
    assert_true(memcmp(seq, seq + 10, 10 * sizeof *seq) != 0); /* a new order each epoch */
    assert_int_equal(o.epoch, 3);
    assert_int_equal(o.pos, 5);
    data_order_free(&o);
    /* Checkpoint after 14 draws = (seed 99, epoch 1, pos 4): resumes the same stream. */
    assert_int_equal(data_order_restore(&o, 10, 99, 1, 4), 0);
    for (int i = 14; i < 35; i++) assert_int_equal(data_order_next(&o), seq[i]);
    data_order_free(&o);
    assert_int_equal(data_order_init(&o, 0, 1), -1);
    assert_int_equal(data_order_restore(&o, 10, 1, 0, 11), -1);
    assert_non_null(strstr(base_error_msg(), "pos"));
}

static void test_pad(void **state) {
    (void)state;
    int32_t s0[] = {5, 6, 7}, s1[] = {8}, s2[] = {9, 10, 11, 12, 13};
    const int32_t *seqs[] = {s0, s1, s2};
    int64_t lens[] = {3, 1, 5};
    data_batch b;
    assert_int_equal(data_batch_pad(&b, seqs, lens, 3, 4, 0), 0);
    assert_int_equal(b.B, 3);
    assert_int_equal(b.T, 4);
    int32_t want_ids[] = {5, 6, 7, 0, 8, 0, 0, 0, 9, 10, 11, 12};
    int32_t want_mask[] = {1, 1, 1, 0, 1, 0, 0, 0, 1, 1, 1, 1};
    assert_memory_equal(b.ids, want_ids, sizeof want_ids);
    assert_memory_equal(b.mask, want_mask, sizeof want_mask);
    assert_null(b.segments);
    assert_int_equal(b.lengths[2], 4);
    assert_int_equal(b.truncated, 1);
    data_batch_free(&b);
    assert_int_equal(data_batch_pad(&b, seqs, lens, 3, 0, -7), 0); /* no limit: T = 5, pad -7 */
    assert_int_equal(b.T, 5);
    assert_int_equal(b.ids[5 + 1], -7);
    assert_int_equal(b.truncated, 0);
    data_batch_free(&b);
    int64_t zero[] = {0, 0};
    assert_int_equal(data_batch_pad(&b, seqs, zero, 2, 8, 0), 0);
    assert_int_equal(b.T, 0);
    data_batch_free(&b);
    int64_t bad[] = {2, -1};
    assert_int_equal(data_batch_pad(&b, seqs, bad, 2, 8, 0), -1);
    assert_non_null(strstr(base_error_msg(), "sequence 1"));
    assert_int_equal(data_batch_pad(&b, seqs, lens, 0, 8, 0), -1);
}

/* Reference: BERT's _truncate_seq_pair, one token at a time. */
static void naive_trunc(int64_t *la, int64_t *lb, int64_t max_tokens) {
    while (*la + *lb > max_tokens) {
        if (*la > *lb) (*la)--;
        else (*lb)--;
    }
}

static void test_pairs(void **state) {
    (void)state;
    int32_t a0[] = {10, 11}, b0[] = {20, 21, 22};
    const int32_t *A[] = {a0}, *Bs[] = {b0};
    int64_t la[] = {2}, lb[] = {3};
    data_batch b;
    assert_int_equal(data_batch_pairs(&b, A, la, Bs, lb, 1, 0, 1, 2, 0), 0);
    int32_t want[] = {1, 10, 11, 2, 20, 21, 22, 2};
    int32_t seg[] = {0, 0, 0, 0, 1, 1, 1, 1};
    assert_int_equal(b.T, 8);
    assert_memory_equal(b.ids, want, sizeof want);
    assert_memory_equal(b.segments, seg, sizeof seg);
    data_batch_free(&b);
    /* Random lengths vs the one-token-at-a-time rule. */
    base_rng r;
    base_rng_seed(&r, 8);
    int32_t buf[64];
    for (int i = 0; i < 64; i++) buf[i] = 100 + i;
    for (int trial = 0; trial < 2000; trial++) {
        int64_t xa = base_rng_below(&r, 40), xb = base_rng_below(&r, 40);
        int32_t maxT = 3 + (int32_t)base_rng_below(&r, 50);
        const int32_t *P[] = {buf}, *Q[] = {buf};
        assert_int_equal(data_batch_pairs(&b, P, &xa, Q, &xb, 1, maxT, 1, 2, 0), 0);
        int64_t ea = xa, eb = xb;
        naive_trunc(&ea, &eb, maxT - 3);
        assert_int_equal(b.lengths[0], 3 + ea + eb);
        assert_int_equal(b.ids[1 + ea], 2);     /* first [sep] after ea tokens of a */
        assert_int_equal(b.ids[2 + ea + eb], 2); /* final [sep] */
        assert_int_equal(b.truncated, (xa + xb + 3 > maxT) ? 1 : 0);
        data_batch_free(&b);
    }
    assert_int_equal(data_batch_pairs(&b, A, la, Bs, lb, 1, 2, 1, 2, 0), -1);
}

/* 15% of eligible tokens selected; of those 80% [mask], 10% random, 10% unchanged; specials and pads never. */
static void test_mlm(void **state) {
    (void)state;
    const int32_t Bn = 64, T = 512, PAD = 0, CLS = 1, SEP = 2, MASK = 3, LO = 5, HI = 1000;
    int32_t **rows = malloc(Bn * sizeof *rows);
    int64_t *lens = malloc(Bn * sizeof *lens);
    base_rng r;
    base_rng_seed(&r, 21);
    for (int i = 0; i < Bn; i++) {
        lens[i] = 256 + base_rng_below(&r, 256);
        rows[i] = malloc((size_t)lens[i] * sizeof **rows);
        rows[i][0] = CLS;
        for (int64_t t = 1; t < lens[i]; t++) rows[i][t] = LO + (int32_t)base_rng_below(&r, HI - LO);
        rows[i][lens[i] - 1] = SEP;
    }
    data_batch b;
    assert_int_equal(data_batch_pad(&b, (const int32_t *const *)rows, lens, Bn, T, PAD), 0);
    const int64_t cells = (int64_t)b.B * b.T; /* T = longest row (< 512) */
    int32_t *orig = malloc((size_t)cells * sizeof *orig);
    memcpy(orig, b.ids, (size_t)cells * sizeof *orig);
    int32_t *labels = malloc((size_t)cells * sizeof *labels);
    int64_t sel = data_mlm_mask(&b, labels, &r, 0.15, MASK, LO, HI, -100);
    int64_t eligible = 0, nmask = 0, nrand = 0, nsame = 0, count = 0;
    for (int64_t k = 0; k < cells; k++) {
        int el = b.mask[k] && orig[k] >= LO && orig[k] < HI;
        eligible += el;
        if (labels[k] == -100) {
            assert_int_equal(b.ids[k], orig[k]); /* unselected tokens untouched */
            continue;
        }
        assert_true(el);
        assert_int_equal(labels[k], orig[k]);
        count++;
        if (b.ids[k] == MASK) nmask++;
        else if (b.ids[k] == orig[k]) nsame++;
        else {
            assert_true(b.ids[k] >= LO && b.ids[k] < HI);
            nrand++;
        }
    }
    assert_int_equal(count, sel);
    double rate = (double)sel / (double)eligible;
    printf("mlm: %lld of %lld eligible selected (%.4f); mask %.3f random %.3f same %.3f\n", (long long)sel,
           (long long)eligible, rate, (double)nmask / sel, (double)nrand / sel, (double)nsame / sel);
    assert_true(rate > 0.14 && rate < 0.16);
    assert_true((double)nmask / sel > 0.77 && (double)nmask / sel < 0.83);
    assert_true((double)nrand / sel > 0.08 && (double)nrand / sel < 0.12);
    assert_true((double)nsame / sel > 0.08 && (double)nsame / sel < 0.12);
    data_batch_free(&b);
    /* A row with one eligible token and prob 0 still gets one selection; a row of specials gets none. */
    int32_t one[] = {CLS, 42, SEP}, spec[] = {CLS, SEP, PAD};
    const int32_t *two[] = {one, spec};
    int64_t l2[] = {3, 3};
    assert_int_equal(data_batch_pad(&b, two, l2, 2, 0, PAD), 0);
    int32_t lab2[6];
    assert_int_equal(data_mlm_mask(&b, lab2, &r, 0.0, MASK, LO, HI, -1), 1);
    assert_int_equal(lab2[1], 42);
    assert_int_equal(lab2[0], -1);
    for (int k = 3; k < 6; k++) assert_int_equal(lab2[k], -1);
    data_batch_free(&b);
    for (int i = 0; i < Bn; i++) free(rows[i]);
    free(rows);
    free(lens);
    free(orig);
    free(labels);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shuffle_uniform), cmocka_unit_test(test_order_resume), cmocka_unit_test(test_pad),
        cmocka_unit_test(test_pairs),           cmocka_unit_test(test_mlm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
