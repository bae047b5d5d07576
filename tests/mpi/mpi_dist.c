/* mpi_dist.c — under `mpirun -np 2`: the dist collectives, ag_dist_gather, gathered InfoNCE vs one process, and the loop's data-parallel steps vs one process. */
#include "support/test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "autograd/ag.h"
#include "dist/dist.h"
#include "nn/nn.h"
#include "train/dist_loop.h"
#include "train/loop.h"
#include "train/word2vec.h"
#include "data/world.h"

static int g_rank, g_size;

/* Sums, averages, maxima, broadcasts and gathers, with buffers larger than a bucket (the test sets
 * EMBER_DIST_BUCKET=1024, so 5000 floats go in 5 all-reduces). */
static void test_collectives(void **state) {
    (void)state;
    assert_true(dist_active());
    assert_true(g_size >= 2);
    int64_t n = 5000;
    float *x = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) x[i] = (float)(i % 97) + (float)g_rank;
    dist_stats before = dist_get_stats();
    dist_allreduce_sum_f32(x, n);
    dist_stats after = dist_get_stats();
    assert_int_equal(after.calls - before.calls, (n + 1023) / 1024);
    float rsum = (float)(g_size * (g_size - 1) / 2);
    for (int64_t i = 0; i < n; i++) assert_true(x[i] == (float)g_size * (float)(i % 97) + rsum);
    for (int64_t i = 0; i < n; i++) x[i] = (float)g_rank;
    dist_allreduce_avg_f32(x, n);
    for (int64_t i = 0; i < n; i++) assert_true(fabsf(x[i] - rsum / (float)g_size) < 1e-6f);
    int64_t m[2] = {g_rank, 10 * g_rank};
    dist_allreduce_max_i64(m, 2);
    assert_int_equal(m[0], g_size - 1);
    assert_int_equal(m[1], 10 * (g_size - 1));
    double d = 0.5 * g_rank;
    dist_allreduce_sum_f64(&d, 1);
    assert_true(fabs(d - 0.5 * rsum) < 1e-12);
    /* broadcast from the last rank */
    for (int64_t i = 0; i < n; i++) x[i] = g_rank == g_size - 1 ? (float)i : -1.0f;
    dist_broadcast(x, n * (int64_t)sizeof(float), g_size - 1);
    for (int64_t i = 0; i < n; i++) assert_true(x[i] == (float)i);
    /* allgather and allgatherv (rank r sends r + 1 ints) */
    int32_t mine[8], all[64];
    for (int i = 0; i < g_rank + 1; i++) mine[i] = 100 * g_rank + i;
    int64_t counts[8];
    dist_allgatherv(mine, (g_rank + 1) * (int64_t)sizeof(int32_t), all, counts);
    int k = 0;
    for (int r = 0; r < g_size; r++) {
        assert_int_equal(counts[r], (r + 1) * (int64_t)sizeof(int32_t));
        for (int i = 0; i < r + 1; i++) assert_int_equal(all[k++], 100 * r + i);
    }
    int64_t ranks[8];
    int64_t me = g_rank;
    dist_allgather(&me, sizeof me, ranks);
    for (int r = 0; r < g_size; r++) assert_int_equal(ranks[r], r);
    dist_barrier();
    free(x);
}

/* Forward: the rows of every rank in rank order (rank r has r + 1 rows). Backward: with the loss
 * Σ w ⊙ gathered computed on every rank (w the same everywhere), rank r's grad is size · w[its rows]. */
static void test_gather_op(void **state) {
    (void)state;
    int64_t N = g_rank + 1, D = 3, total = (int64_t)g_size * (g_size + 1) / 2;
    ag_tensor *x = ag_tensor_alloc(AG_F32, 2, (int64_t[]){N, D});
    ag_tensor_set_param(x, false);
    for (int64_t i = 0; i < N * D; i++) ag_f32(x)[i] = (float)(1000 * g_rank + i);
    ag_graph *g = ag_graph_new(0);
    ag_tensor *y = ag_dist_gather(g, x);
    assert_int_equal(y->shape[0], total);
    assert_int_equal(y->shape[1], D);
    int64_t row = 0;
    for (int r = 0; r < g_size; r++)
        for (int64_t i = 0; i < (r + 1) * D; i++, row++) assert_true(ag_f32(y)[row] == (float)(1000 * r + i));
    ag_tensor *w = ag_new(g, AG_F32, 2, (int64_t[]){total, D});
    for (int64_t i = 0; i < total * D; i++) ag_f32(w)[i] = (float)(i + 1) * 0.25f;
    ag_backward(g, ag_sum(g, ag_mul(g, y, w), AG_ALL_AXES, false));
    int64_t off = (int64_t)g_rank * (g_rank + 1) / 2;
    for (int64_t i = 0; i < N * D; i++) assert_true(x->grad[i] == (float)g_size * ag_f32(w)[off * D + i]);
    ag_graph_free(g);
    ag_tensor_free(x);
}

/* ---- InfoNCE over gathered rows vs one process over the whole batch ------------------------------ */

/* The whole batch, the same on every rank: a [Bg, D], positives and hard negatives [Bg, D] each, a
 * mask over [Bg, 2 Bg] and a log-scale. Every rank computes the single-process loss and grads from
 * these; then each takes its rows as its own parameters, gathers and computes the loss the
 * contrastive trainer computes. */
static void test_gathered_info_nce(void **state) {
    (void)state;
    const int64_t Bl = 3, D = 5, Bg = Bl * g_size, off = Bl * g_rank;
    ag_tensor *a = tu_param_uniform(AG_SHAPE(Bg, D), 21, -1, 1), *bp = tu_param_uniform(AG_SHAPE(Bg, D), 22, -1, 1),
              *bn = tu_param_uniform(AG_SHAPE(Bg, D), 23, -1, 1), *ls = tu_param_uniform(AG_SHAPE(1), 24, 1.0f, 2.0f);
    ag_tensor *mask = ag_tensor_alloc(AG_I32, 2, (int64_t[]){Bg, 2 * Bg});
    for (int64_t i = 0; i < Bg; i++)
        for (int64_t j = 0; j < 2 * Bg; j++) ag_i32(mask)[i * 2 * Bg + j] = j != i && (i * 7 + j * 3) % 11 == 0;
    for (int sym = 0; sym < 2; sym++) {
        /* one process, whole batch */
        ag_graph *g = ag_graph_new(0);
        ag_zero_grad(a), ag_zero_grad(bp), ag_zero_grad(bn), ag_zero_grad(ls);
        ag_tensor *b = ag_concat(g, 2, (ag_tensor *[]){bp, bn}, 0);
        ag_tensor *ref = ag_info_nce(g, a, b, ag_exp(g, ls), mask, sym);
        float ref_loss = ag_f32(ref)[0];
        ag_backward(g, ref);
        ag_graph_free(g);
        /* this rank's rows, gathered */
        ag_tensor *al = ag_tensor_alloc(AG_F32, 2, (int64_t[]){Bl, D}), *pl = ag_tensor_alloc(AG_F32, 2, (int64_t[]){Bl, D}),
                  *nl = ag_tensor_alloc(AG_F32, 2, (int64_t[]){Bl, D}), *ls2 = ag_tensor_alloc(AG_F32, 1, (int64_t[]){1});
        memcpy(al->data, ag_f32(a) + off * D, (size_t)(Bl * D) * sizeof(float));
        memcpy(pl->data, ag_f32(bp) + off * D, (size_t)(Bl * D) * sizeof(float));
        memcpy(nl->data, ag_f32(bn) + off * D, (size_t)(Bl * D) * sizeof(float));
        ag_f32(ls2)[0] = ag_f32(ls)[0];
        ag_tensor *ps[] = {al, pl, nl, ls2};
        for (int i = 0; i < 4; i++) ag_tensor_set_param(ps[i], false);
        g = ag_graph_new(0);
        ag_tensor *ga = ag_dist_gather(g, al);
        ag_tensor *gb = ag_concat(g, 2, (ag_tensor *[]){ag_dist_gather(g, pl), ag_dist_gather(g, nl)}, 0);
        ag_tensor *loss = ag_info_nce(g, ga, gb, ag_exp(g, ls2), mask, sym);
        float dl = ag_f32(loss)[0];
        ag_backward(g, loss);
        ag_graph_free(g);
        /* Rows are activations of this rank: their grad is the sum over ranks of the gathered
         * grads (every rank computed the same loss), size · the single-process grad; the model's
         * parameters behind them get size · their share, and the loop's average over ranks divides
         * by size. The log-scale is shared: its grad is averaged as the loop does. */
        for (int i = 0; i < 3; i++)
            for (int64_t k = 0; k < ps[i]->numel; k++) ps[i]->grad[k] /= (float)g_size;
        dist_allreduce_avg_f32(ls2->grad, 1);
        /* The forward reads the same floats in the same order: equal. The backward sums identical
         * per-rank copies, exact for 2 ranks; 1e-6 relative is stated for any rank count. */
        assert_true(fabsf(dl - ref_loss) <= 1e-6f * fabsf(ref_loss));
        tu_assert_close("gathered dA", al->grad, a->grad + off * D, Bl * D, 1e-6);
        tu_assert_close("gathered dPos", pl->grad, bp->grad + off * D, Bl * D, 1e-6);
        tu_assert_close("gathered dNeg", nl->grad, bn->grad + off * D, Bl * D, 1e-6);
        tu_assert_close("gathered dLogScale", ls2->grad, ls->grad, 1, 1e-6);
        for (int i = 0; i < 4; i++) ag_tensor_free(ps[i]);
    }
    ag_tensor_free(mask);
    ag_tensor_free(a);
    ag_tensor_free(bp);
    ag_tensor_free(bn);
    ag_tensor_free(ls);
}

/* ---- the loop: a toy classifier with a sparse embedding table and a dense head -------------------- */

enum { TOY_V = 50, TOY_D = 8, TOY_C = 4, TOY_L = 5, TOY_BG = 8 };

typedef struct toy {
    nn_params ps;
    nn_embedding emb; /* sparse grads */
    nn_linear fc;
    bool shard;       /* train this rank's rows of each global batch (else the whole batch) */
    int64_t cursor;   /* global batches drawn (the data cursor) */
    int64_t n;        /* rows of the current micro-batch */
    int32_t ids[TOY_BG * TOY_L], y[TOY_BG];
} toy;

static void toy_init(toy *t, bool shard) {
    memset(t, 0, sizeof *t);
    nn_params_init(&t->ps);
    nn_embedding_config ec = nn_embedding_config_default(TOY_V, TOY_D);
    ec.sparse_grad = true;
    ec.a = 0.5f;
    nn_embedding_init(&t->emb, &t->ps, "emb", ec);
    nn_linear_init(&t->fc, &t->ps, "fc", TOY_D, TOY_C, true);
    base_rng r;
    base_rng_seed(&r, 7 + (uint64_t)g_rank); /* different on each rank: the loop's broadcast must fix it */
    nn_params_alloc(&t->ps, &r);
    t->shard = shard;
}

/* Global batch k: ids from a counter-based RNG, label = (Σ ids) mod C (learnable). */
static int64_t toy_next(void *ctx) {
    toy *t = ctx;
    base_rng r;
    base_rng_seed(&r, 1000 + (uint64_t)t->cursor++);
    int32_t ids[TOY_BG * TOY_L], y[TOY_BG];
    for (int b = 0; b < TOY_BG; b++) {
        int s = 0;
        for (int l = 0; l < TOY_L; l++) s += ids[b * TOY_L + l] = (int32_t)base_rng_below(&r, TOY_V);
        y[b] = s % TOY_C;
    }
    int64_t Bl = t->shard ? TOY_BG / g_size : TOY_BG, off = t->shard ? Bl * g_rank : 0;
    memcpy(t->ids, ids + off * TOY_L, (size_t)(Bl * TOY_L) * sizeof(int32_t));
    memcpy(t->y, y + off, (size_t)Bl * sizeof(int32_t));
    t->n = Bl;
    return Bl * TOY_L;
}

static ag_tensor *toy_loss(void *ctx, ag_graph *g) {
    toy *t = ctx;
    ag_tensor *e = nn_embedding_forward(g, &t->emb, ag_from_i32(g, AG_SHAPE(t->n, TOY_L), t->ids)); /* [n, L, D] */
    ag_tensor *logits = nn_linear_forward(g, &t->fc, ag_mean(g, e, 1, false));                     /* [n, C] */
    return ag_cross_entropy(g, logits, ag_from_i32(g, AG_SHAPE(t->n), t->y), -1, AG_MEAN);
}

static int toy_save(void *ctx, ckpt_writer *w) { return ckpt_put_i64(w, "/state/toy/cursor", ((toy *)ctx)->cursor); }
static int toy_load(void *ctx, ckpt_reader *r) { return ckpt_get_i64(r, "/state/toy/cursor", &((toy *)ctx)->cursor); }

/* Runs steps of the toy on the loop (resume/checkpoint/stop_after as given); returns the model. */
static void toy_run(toy *t, bool shard, optim_kind kind, int64_t steps, const char *ckpt, const char *resume,
                    int64_t stop_after) {
    toy_init(t, shard);
    train_loop_config c = train_loop_config_default();
    c.optim = kind;
    c.lr = kind == OPTIM_SGD ? 0.5f : 0.01f;
    c.steps = steps;
    c.warmup = 2;
    c.clip = 1.0; /* clipping after the average: the norm is the global batch's */
    c.accum = 2;
    c.quiet = true;
    c.no_fsync = true;
    c.handle_signals = false;
    c.checkpoint = ckpt;
    c.resume = resume;
    c.stop_after = stop_after;
    c.seed = 5;
    train_loop_trainer tr = {.ctx = t, .next_batch = toy_next, .loss = toy_loss, .save = toy_save, .load = toy_load};
    train_loop *L = train_loop_new(&c, &t->ps, &tr);
    assert_non_null(L);
    int rc = train_loop_run(L);
    assert_true(rc == 0 || rc == TRAIN_LOOP_STOPPED);
    train_loop_free(L);
}

static double max_diff(const nn_params *a, const nn_params *b) {
    double m = 0;
    for (int i = 0; i < a->n; i++)
        for (int64_t k = 0; k < a->items[i].t->numel; k++) {
            double d = fabs((double)ag_f32(a->items[i].t)[k] - (double)ag_f32(b->items[i].t)[k]);
            if (d > m) m = d;
        }
    return m;
}

static void assert_same_on_every_rank(const nn_params *ps) {
    uint64_t h = train_dist_params_hash(ps), all[16];
    dist_allgather(&h, sizeof h, all);
    for (int r = 0; r < g_size; r++)
        if (all[r] != all[0]) fail_msg("rank %d's parameters differ from rank 0's (hash %016llx vs %016llx)", r,
                                       (unsigned long long)all[r], (unsigned long long)all[0]);
}

/* A run whose ranks each train the whole global batch averages identical grads: it is the
 * single-process run, bit for bit (x/2 + x/2 = x). The sharded run must match it up to the order of
 * float reductions: SGD within 1e-6, AdamW within 1e-5 (Adam divides by √v, so it magnifies
 * reduction-order noise in tiny gradients up to a fraction of lr = 0.01 per step). */
static void test_loop_matches_one_process(void **state) {
    (void)state;
    const optim_kind kinds[] = {OPTIM_SGD, OPTIM_ADAMW};
    const double tol[] = {1e-6, 1e-5}; /* measured: 6e-8 for both */
    for (int k = 0; k < 2; k++) {
        toy ref, dp;
        toy_run(&ref, false, kinds[k], 30, NULL, NULL, 0);
        toy_run(&dp, true, kinds[k], 30, NULL, NULL, 0);
        assert_same_on_every_rank(&ref.ps);
        assert_same_on_every_rank(&dp.ps);
        double d = max_diff(&ref.ps, &dp.ps), moved = 0;
        toy init;
        toy_init(&init, false);
        train_dist_begin(&init.ps, NULL); /* rank 0's initial values, as the runs started from */
        moved = max_diff(&init.ps, &ref.ps);
        if (g_rank == 0)
            printf("loop %s: 2-rank shards vs one process over 30 steps: max |diff| %.3g (parameters moved up to %.3g)\n",
                   optim_kind_name(kinds[k]), d, moved);
        assert_true(moved > 100 * tol[k]); /* the comparison means something: training moved them */
        if (d > tol[k]) fail_msg("%s: sharded run differs from one process by %g > %g", optim_kind_name(kinds[k]), d, tol[k]);
        nn_params_free(&ref.ps);
        nn_params_free(&dp.ps);
        nn_params_free(&init.ps);
    }
}

/* Rank 0 writes the checkpoint; every rank resumes from it and reaches the uninterrupted run's bytes. */
static void test_loop_resume(void **state) {
    (void)state;
    char dir[256] = "";
    if (g_rank == 0) {
        char *d = tu_tempdir();
        snprintf(dir, sizeof dir, "%s", d);
        free(d);
    }
    dist_broadcast(dir, sizeof dir, 0);
    char ck[512], ck2[512];
    snprintf(ck, sizeof ck, "%s/toy.ckpt", dir);
    snprintf(ck2, sizeof ck2, "%s/toy_full.ckpt", dir);
    toy full, cut;
    toy_run(&full, true, OPTIM_ADAMW, 20, ck2, NULL, 0);
    toy_run(&cut, true, OPTIM_ADAMW, 20, ck, NULL, 9);
    nn_params_free(&cut.ps);
    dist_barrier(); /* the file is complete before anyone opens it (rank 0 wrote it before returning) */
    toy_run(&cut, true, OPTIM_ADAMW, 20, ck, ck, 0);
    assert_same_on_every_rank(&cut.ps);
    assert_true(max_diff(&full.ps, &cut.ps) == 0);
    assert_int_equal(cut.cursor, full.cursor);
    nn_params_free(&full.ps);
    nn_params_free(&cut.ps);
    dist_barrier();
    if (g_rank == 0) tu_rmtree(dir);
}

/* Word2Vec on 2 ranks: the shards partition the corpus (the ranks' words add up to iter × the
 * corpus's words), and after the final average every rank holds the same tables, bit for bit. */
static void test_word2vec_ranks(void **state) {
    (void)state;
    char dir[256] = "";
    if (g_rank == 0) {
        char *d = tu_tempdir();
        snprintf(dir, sizeof dir, "%s", d);
        free(d);
    }
    dist_broadcast(dir, sizeof dir, 0);
    char corpus[512];
    snprintf(corpus, sizeof corpus, "%s/world.txt", dir);
    if (g_rank == 0) assert_int_equal(data_world_write(corpus, 3, 3000), 0);
    dist_barrier();
    train_w2v_options o;
    train_w2v_options_default(&o);
    o.train = corpus;
    o.size = 16;
    o.threads = 1;
    o.iter = 3;
    o.min_count = 2;
    o.debug = 0;
    o.progress = false;
    o.dist_syncs = 4;
    train_w2v_model *m = NULL;
    assert_int_equal(train_w2v_run(&o, &m), 0);
    int64_t words = m->words_done;
    dist_allreduce_sum_i64(&words, 1);
    assert_int_equal(words, (int64_t)o.iter * m->vocab->total);
    assert_true(m->words_done > 0 && m->words_done < words); /* both ranks trained */
    int64_t n = m->vocab->n * m->dim;
    uint64_t h[2] = {dist_hash(m->syn0, (size_t)n * sizeof(float)), dist_hash(m->syn1neg, (size_t)n * sizeof(float))};
    uint64_t all[32];
    dist_allgather(h, sizeof h, all);
    for (int r = 1; r < g_size; r++) {
        assert_true(all[2 * r] == all[0]);
        assert_true(all[2 * r + 1] == all[1]);
    }
    assert_true(isfinite(m->final_loss) && m->final_loss < m->first_loss);
    /* on several ranks a resume or periodic checkpoints are refused, on every rank */
    o.checkpoint_every = 1000;
    char ck[600];
    snprintf(ck, sizeof ck, "%s/w.ckpt", dir);
    o.checkpoint = ck;
    train_w2v_model *m2 = NULL;
    assert_int_equal(train_w2v_run(&o, &m2), -1);
    assert_non_null(strstr(base_error_msg(), "not supported"));
    train_w2v_model_free(m);
    dist_barrier();
    if (g_rank == 0) tu_rmtree(dir);
}

int main(void) {
    setenv("EMBER_DIST_BUCKET", "1024", 1);
    if (dist_init(false)) {
        fprintf(stderr, "mpi_dist: %s\n", base_error_msg());
        return 1;
    }
    g_rank = dist_rank();
    g_size = dist_size();
    if (g_size < 2 || g_size > 8) {
        fprintf(stderr, "mpi_dist: run under `mpirun -np 2` (found %d ranks)\n", g_size);
        dist_finalize();
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_collectives),
        cmocka_unit_test(test_gather_op),
        cmocka_unit_test(test_gathered_info_nce),
        cmocka_unit_test(test_loop_matches_one_process),
        cmocka_unit_test(test_loop_resume),
        cmocka_unit_test(test_word2vec_ranks),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    if (failed) dist_abort(1, "mpi_dist: a test failed"); /* the other ranks may wait in a collective */
    dist_finalize();
    return 0;
}
