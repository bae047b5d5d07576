/* test_loop.c — the shared training loop (train/loop.h) on a small regression model: accumulation, freezing, groups, NaN guard, resume, signals, eval, metrics. */
#include "support/test_util.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn.h"
#include "train/loop.h"

/* The model: y = fc2(dropout(gelu(fc1 norm(x)))) on x [B, 8] → [B, 4], mean squared error against a
 * fixed random linear teacher. The data stream is drawn from the trainer's own RNG, saved in its
 * checkpoint state, so resumes replay the same batches. */
typedef struct toy {
    nn_params ps;
    nn_layer_norm norm;
    nn_linear fc1, fc2;
    float teacher[4 * 8];
    base_rng data_rng;
    int64_t batch;
    float x[64 * 8], y[64 * 4]; /* the current micro-batch: x [B, 8], y [B, 4] */
    int64_t batches;            /* next_batch calls */
    int64_t nan_at;             /* > 0: the loss of this micro-batch is NaN (input poisoned) */
    int64_t sigint_at;          /* > 0: raise SIGINT in this next_batch call */
    double eval_scores[16];     /* the eval hook returns these in turn */
    int nevals;
} toy;

static void toy_init(toy *t, int64_t batch, float dropout) {
    memset(t, 0, sizeof *t);
    nn_params_init(&t->ps);
    nn_layer_norm_init(&t->norm, &t->ps, "norm", 8, 1e-5f, true);
    nn_linear_init(&t->fc1, &t->ps, "fc1", 8, 16, true);
    nn_linear_init(&t->fc2, &t->ps, "fc2", 16, 4, true);
    base_rng r;
    base_rng_seed(&r, 7);
    nn_params_alloc(&t->ps, &r);
    for (int i = 0; i < 32; i++) t->teacher[i] = base_rng_normal(&r);
    base_rng_seed(&t->data_rng, 11);
    t->batch = batch;
    (void)dropout;
}

static int64_t toy_next(void *ctx) {
    toy *t = ctx;
    t->batches++;
    if (t->sigint_at && t->batches == t->sigint_at) raise(SIGINT);
    for (int64_t b = 0; b < t->batch; b++) {
        for (int j = 0; j < 8; j++) t->x[b * 8 + j] = base_rng_normal(&t->data_rng);
        for (int o = 0; o < 4; o++) {
            float s = 0;
            for (int j = 0; j < 8; j++) s += t->teacher[o * 8 + j] * t->x[b * 8 + j];
            t->y[b * 4 + o] = s;
        }
    }
    if (t->nan_at && t->batches == t->nan_at) t->x[3] = NAN;
    return t->batch;
}

static ag_tensor *toy_loss(void *ctx, ag_graph *g) {
    toy *t = ctx;
    ag_tensor *x = ag_from_f32(g, AG_SHAPE(t->batch, 8), t->x), *y = ag_from_f32(g, AG_SHAPE(t->batch, 4), t->y);
    ag_tensor *h = nn_dropout(g, ag_gelu_erf(g, nn_linear_forward(g, &t->fc1, nn_layer_norm_forward(g, &t->norm, x))), 0.1f);
    ag_tensor *d = ag_sub(g, nn_linear_forward(g, &t->fc2, h), y);
    return ag_mean(g, ag_mul(g, d, d), AG_ALL_AXES, false);
}

static int toy_eval(void *ctx, ag_graph *g, train_eval_result *out) {
    (void)g;
    toy *t = ctx;
    out->score = t->eval_scores[t->nevals++ % 16];
    out->n = 1;
    out->key[0] = "eval_score";
    out->value[0] = out->score;
    return 0;
}

static int toy_save(void *ctx, ckpt_writer *w) {
    toy *t = ctx;
    int rc = ckpt_put_rng(w, "/state/rng/data", &t->data_rng);
    return rc ? rc : ckpt_put_i64(w, "/state/toy/batches", t->batches);
}

static int toy_load(void *ctx, ckpt_reader *r) {
    toy *t = ctx;
    int rc = ckpt_get_rng(r, "/state/rng/data", &t->data_rng);
    return rc ? rc : ckpt_get_i64(r, "/state/toy/batches", &t->batches);
}

static train_loop_trainer trainer_of(toy *t) {
    return (train_loop_trainer){.ctx = t, .next_batch = toy_next, .loss = toy_loss, .save = toy_save, .load = toy_load};
}

static train_loop_config quiet_config(int64_t steps) {
    train_loop_config c = train_loop_config_default();
    c.quiet = true;
    c.steps = steps;
    c.lr = 1e-2f;
    c.warmup = 2;
    c.no_fsync = true;
    c.config_json = "{\"model\":\"toy\",\"width\":16}";
    return c;
}

static float *param_copy(const nn_params *ps) {
    float *v = malloc((size_t)ps->total * sizeof(float));
    memcpy(v, ps->values, (size_t)ps->total * sizeof(float));
    return v;
}

/* Runs a fresh toy for cfg; returns a copy of the final parameters and the status via *rc. */
static float *run_toy(const train_loop_config *cfg, int64_t batch, toy *t, int *rc) {
    toy_init(t, batch, 0.1f);
    train_loop_trainer tr = trainer_of(t);
    train_loop *L = train_loop_new(cfg, &t->ps, &tr);
    assert_non_null(L);
    *rc = train_loop_run(L);
    float *v = param_copy(&t->ps);
    train_loop_free(L);
    return v;
}

/* Loss of the first step and of the last of a run of `steps`. */
static void losses(int64_t steps, float *first, float *last) {
    train_loop_config c = quiet_config(steps);
    toy t;
    toy_init(&t, 16, 0.1f);
    train_loop_trainer tr = trainer_of(&t);
    train_loop *L = train_loop_new(&c, &t.ps, &tr);
    assert_non_null(L);
    assert_int_equal(train_loop_run(L), 0);
    *last = train_loop_last_loss(L);
    assert_int_equal(train_loop_step(L), steps);
    assert_true(steps == 1 || train_loop_tokens_per_sec(L) > 0); /* steady state: from the second step */
    train_loop_free(L);
    nn_params_free(&t.ps);
    if (first) losses(1, NULL, first);
}

static void test_loss_falls(void **state) {
    (void)state;
    float first, last;
    losses(300, &first, &last);
    printf("toy regression: loss %.4f at step 1, %.4f at step 300\n", (double)first, (double)last);
    assert_true(last < 0.3f * first); /* measured 7.58 -> 1.57 */
}

/* Two micro-batches of 8 with accum 2 = one batch of 16 (the loss is a mean; dropout off). */
static ag_tensor *toy_loss_nodrop(void *ctx, ag_graph *g) {
    ag_set_training(g, false);
    ag_tensor *l = toy_loss(ctx, g);
    ag_set_training(g, true);
    return l;
}

static void test_accumulation_equals_big_batch(void **state) {
    (void)state;
    float *v[2];
    for (int k = 0; k < 2; k++) {
        train_loop_config c = quiet_config(5);
        c.accum = k ? 2 : 1;
        toy t;
        toy_init(&t, k ? 8 : 16, 0);
        train_loop_trainer tr = trainer_of(&t);
        tr.loss = toy_loss_nodrop;
        train_loop *L = train_loop_new(&c, &t.ps, &tr);
        assert_int_equal(train_loop_run(L), 0);
        v[k] = param_copy(&t.ps);
        int64_t n = t.ps.total;
        train_loop_free(L);
        nn_params_free(&t.ps);
        if (k) tu_assert_close("accum 2 x 8 vs batch 16", v[1], v[0], n, 2e-5);
    }
    free(v[0]);
    free(v[1]);
}

static void test_freeze_keeps_bytes_and_groups(void **state) {
    (void)state;
    train_loop_config c = quiet_config(20);
    c.weight_decay = 0.5f; /* large, so a decayed frozen tensor would visibly move */
    c.freeze[c.nfreeze++] = "fc1.*";
    toy t;
    toy_init(&t, 16, 0.1f);
    nn_param *w1 = nn_params_find(&t.ps, "fc1.weight"), *w2 = nn_params_find(&t.ps, "fc2.weight");
    float *before1 = malloc((size_t)w1->t->numel * 4), *before2 = malloc((size_t)w2->t->numel * 4);
    memcpy(before1, w1->t->data, (size_t)w1->t->numel * 4);
    memcpy(before2, w2->t->data, (size_t)w2->t->numel * 4);
    train_loop_trainer tr = trainer_of(&t);
    train_loop *L = train_loop_new(&c, &t.ps, &tr);
    assert_non_null(L);
    optim *o = train_loop_optim(L);
    /* no decay on norms and biases; decay on the weight matrices */
    for (int i = 0; i < t.ps.n; i++) {
        const char *n = t.ps.items[i].name;
        bool expect_decay = !strcmp(n, "fc1.weight") || !strcmp(n, "fc2.weight");
        assert_true(optim_param_weight_decay(o, i) == (expect_decay ? 0.5f : 0.0f));
    }
    assert_int_equal(train_loop_run(L), 0);
    assert_memory_equal(before1, w1->t->data, (size_t)w1->t->numel * 4);
    assert_memory_not_equal(before2, w2->t->data, (size_t)w2->t->numel * 4);
    free(before1);
    free(before2);
    train_loop_free(L);
    nn_params_free(&t.ps);
    /* a glob that matches nothing is an error naming it */
    c.freeze[0] = "encoder.*";
    toy_init(&t, 16, 0);
    assert_null(train_loop_new(&c, &t.ps, &tr));
    assert_non_null(strstr(base_error_msg(), "encoder.*"));
    nn_params_free(&t.ps);
}

static void test_schedule(void **state) {
    (void)state;
    train_loop_config c = quiet_config(110);
    c.lr = 1.0f;
    c.lr_floor = 0.1f;
    c.warmup = 10;
    assert_float_equal(train_loop_lr(&c, 0), 0.0, 1e-7);
    assert_float_equal(train_loop_lr(&c, 5), 0.5, 1e-6);
    assert_float_equal(train_loop_lr(&c, 10), 1.0, 1e-6);
    assert_float_equal(train_loop_lr(&c, 60), 0.55, 1e-6); /* halfway down the cosine */
    assert_float_equal(train_loop_lr(&c, 110), 0.1, 1e-6);
    c.sched = OPTIM_SCHED_WARMUP_LINEAR;
    assert_float_equal(train_loop_lr(&c, 60), 0.55, 1e-6);
    assert_float_equal(train_loop_lr(&c, 35), 0.775, 1e-6);
    c.sched = OPTIM_SCHED_CONSTANT;
    assert_float_equal(train_loop_lr(&c, 5), 0.5, 1e-6);
    assert_float_equal(train_loop_lr(&c, 100), 1.0, 1e-6);
}

/* A run stopped after k steps and resumed ends with the same bytes as the uninterrupted run. */
static void test_resume_bit_exact(void **state) {
    (void)state;
    char *full_path = tu_path_join(tu_group_dir(), "full.ckpt"), *cut_path = tu_path_join(tu_group_dir(), "cut.ckpt");
    train_loop_config c = quiet_config(12);
    c.accum = 2;
    c.checkpoint = full_path;
    toy t;
    int rc;
    float *full = run_toy(&c, 8, &t, &rc);
    assert_int_equal(rc, 0);
    int64_t n = t.ps.total;
    nn_params_free(&t.ps);
    for (int64_t cut = 1; cut < 12; cut += 4) {
        c.checkpoint = cut_path;
        c.stop_after = cut;
        float *part = run_toy(&c, 8, &t, &rc);
        assert_int_equal(rc, TRAIN_LOOP_STOPPED);
        free(part);
        nn_params_free(&t.ps);
        c.stop_after = 0;
        c.resume = cut_path;
        float *resumed = run_toy(&c, 8, &t, &rc);
        assert_int_equal(rc, 0);
        assert_memory_equal(full, resumed, (size_t)n * sizeof(float));
        free(resumed);
        nn_params_free(&t.ps);
        c.resume = NULL;
    }
    /* resuming with different trainer settings is refused, naming the setting and both values */
    c.resume = cut_path;
    c.config_json = "{\"model\":\"toy\",\"width\":32}";
    toy_init(&t, 8, 0);
    train_loop_trainer tr = trainer_of(&t);
    train_loop *L = train_loop_new(&c, &t.ps, &tr);
    assert_int_equal(train_loop_run(L), -1);
    printf("refused: %s\n", base_error_msg());
    assert_non_null(strstr(base_error_msg(), "width checkpoint 16, now 32"));
    train_loop_free(L);
    nn_params_free(&t.ps);
    free(full);
    free(full_path);
    free(cut_path);
}

/* SIGINT mid-run: checkpoint saved, status STOPPED; resuming completes to the uninterrupted bytes. */
static void test_sigint_saves_and_resumes(void **state) {
    (void)state;
    char *a = tu_path_join(tu_group_dir(), "sig_a.ckpt"), *b = tu_path_join(tu_group_dir(), "sig_b.ckpt");
    train_loop_config c = quiet_config(10);
    c.checkpoint = a;
    toy t;
    int rc;
    float *full = run_toy(&c, 8, &t, &rc);
    int64_t n = t.ps.total;
    nn_params_free(&t.ps);
    c.checkpoint = b;
    toy_init(&t, 8, 0);
    t.sigint_at = 4; /* during step 4's batch: step 4 completes, then the loop stops */
    train_loop_trainer tr = trainer_of(&t);
    train_loop *L = train_loop_new(&c, &t.ps, &tr);
    assert_int_equal(train_loop_run(L), TRAIN_LOOP_STOPPED);
    assert_int_equal(train_loop_step(L), 4);
    train_loop_free(L);
    nn_params_free(&t.ps);
    ckpt_reader *r = ckpt_open(b);
    assert_non_null(r);
    int64_t step = -1;
    assert_int_equal(ckpt_get_i64(r, "/state/step", &step), 0);
    assert_int_equal(step, 4);
    ckpt_close(r);
    c.resume = b;
    float *resumed = run_toy(&c, 8, &t, &rc);
    assert_int_equal(rc, 0);
    assert_memory_equal(full, resumed, (size_t)n * sizeof(float));
    nn_params_free(&t.ps);
    free(full);
    free(resumed);
    free(a);
    free(b);
}

/* A NaN input: the run fails naming the step and the first non-finite op; the checkpoint saved
 * before is untouched. */
static void test_nan_guard(void **state) {
    (void)state;
    char *p = tu_path_join(tu_group_dir(), "nan.ckpt");
    train_loop_config c = quiet_config(10);
    c.checkpoint = p;
    c.checkpoint_every = 2;
    toy t;
    toy_init(&t, 8, 0);
    t.nan_at = 6; /* step 6's batch */
    train_loop_trainer tr = trainer_of(&t);
    train_loop *L = train_loop_new(&c, &t.ps, &tr);
    size_t n_before = 0;
    assert_int_equal(train_loop_run(L), -1);
    printf("guard: %s\n", base_error_msg());
    assert_non_null(strstr(base_error_msg(), "step 6"));
    assert_non_null(strstr(base_error_msg(), "layer_norm")); /* the first op fed the NaN */
    assert_int_equal(train_loop_step(L), 5);
    char *bytes = tu_read_file(p, &n_before);
    assert_non_null(bytes);
    ckpt_reader *r = ckpt_open(p);
    int64_t step = -1;
    assert_non_null(r);
    assert_int_equal(ckpt_get_i64(r, "/state/step", &step), 0);
    assert_int_equal(step, 4); /* the last good checkpoint, not a NaN state */
    ckpt_close(r);
    free(bytes);
    train_loop_free(L);
    nn_params_free(&t.ps);
    free(p);
}

/* Evaluation every 3 steps keeps the best-scoring checkpoint; metrics are JSON lines. */
static void test_eval_best_and_metrics(void **state) {
    (void)state;
    char *p = tu_path_join(tu_group_dir(), "ev.ckpt"), *m = tu_path_join(tu_group_dir(), "ev.jsonl"),
         *best = tu_path_join(tu_group_dir(), "ev.ckpt.best"), *svg = tu_path_join(tu_group_dir(), "ev.svg");
    train_loop_config c = quiet_config(12);
    c.checkpoint = p;
    c.metrics = m;
    c.eval_every = 3;
    c.log_every = 2;
    toy t;
    toy_init(&t, 8, 0);
    const double scores[] = {0.1, 0.7, 0.3, 0.2}; /* at steps 3, 6, 9, 12: the best is step 6 */
    memcpy(t.eval_scores, scores, sizeof scores);
    train_loop_trainer tr = trainer_of(&t);
    tr.eval = toy_eval;
    train_loop *L = train_loop_new(&c, &t.ps, &tr);
    assert_int_equal(train_loop_run(L), 0);
    assert_int_equal(t.nevals, 4);
    assert_float_equal(train_loop_best_score(L), 0.7, 1e-12);
    ckpt_reader *r = ckpt_open(best);
    assert_non_null(r);
    int64_t step = -1;
    double bs = 0;
    assert_int_equal(ckpt_get_i64(r, "/state/step", &step), 0);
    assert_int_equal(ckpt_get_f64(r, "/state/best_score", &bs), 0);
    assert_int_equal(step, 6);
    assert_float_equal(bs, 0.7, 1e-12);
    ckpt_close(r);
    assert_int_equal(train_loop_plot(L, svg, "toy"), 0);
    size_t n = 0;
    char *s = tu_read_file(svg, &n);
    assert_non_null(strstr(s, "<polyline"));
    free(s);
    s = tu_read_file(m, &n);
    int train_lines = 0, eval_lines = 0;
    for (char *q = s; (q = strstr(q, "\"kind\":\"train\"")); q++) train_lines++;
    for (char *q = s; (q = strstr(q, "\"kind\":\"eval\"")); q++) eval_lines++;
    assert_int_equal(train_lines, 6);
    assert_int_equal(eval_lines, 4);
    assert_non_null(strstr(s, "\"grad_norm\":"));
    free(s);
    train_loop_free(L);
    nn_params_free(&t.ps);
    free(p);
    free(m);
    free(best);
    free(svg);
}

static void test_bad_config(void **state) {
    (void)state;
    toy t;
    toy_init(&t, 8, 0);
    train_loop_trainer tr = trainer_of(&t);
    train_loop_config c = quiet_config(0);
    assert_null(train_loop_new(&c, &t.ps, &tr));
    assert_non_null(strstr(base_error_msg(), "--steps"));
    c = quiet_config(5);
    c.resume = "x.ckpt";
    assert_null(train_loop_new(&c, &t.ps, &tr));
    assert_non_null(strstr(base_error_msg(), "--checkpoint"));
    c = quiet_config(5);
    c.checkpoint = "/nonexistent-dir/x.ckpt";
    train_loop *L = train_loop_new(&c, &t.ps, &tr);
    assert_int_equal(train_loop_run(L), -1);
    assert_non_null(strstr(base_error_msg(), "/nonexistent-dir/x.ckpt"));
    train_loop_free(L);
    c = quiet_config(5);
    c.checkpoint = tu_group_path("r.ckpt");
    c.resume = tu_group_path("missing.ckpt");
    L = train_loop_new(&c, &t.ps, &tr);
    assert_int_equal(train_loop_run(L), -1);
    assert_non_null(strstr(base_error_msg(), "missing.ckpt"));
    train_loop_free(L);
    nn_params_free(&t.ps);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loss_falls),
        cmocka_unit_test(test_accumulation_equals_big_batch),
        cmocka_unit_test(test_freeze_keeps_bytes_and_groups),
        cmocka_unit_test(test_schedule),
        cmocka_unit_test(test_resume_bit_exact),
        cmocka_unit_test(test_sigint_saves_and_resumes),
        cmocka_unit_test(test_nan_guard),
        cmocka_unit_test(test_eval_best_and_metrics),
        cmocka_unit_test(test_bad_config),
    };
    return cmocka_run_group_tests(tests, tu_group_tempdir_setup, tu_group_tempdir_teardown);
}
