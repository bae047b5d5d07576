/* test_ckpt_resume.c — resuming is exact: N steps in one run == k steps, save, load into fresh
 * objects, N - k steps; bit for bit over params, Adam moments, step and RNG states. */
#include "support/test_util.h"

#include <stdlib.h>
#include <string.h>

#include "checkpoints/ckpt.h"

#define NDATA 64
#define DIN 8
#define DHID 12
#define NCLASS 4
#define BATCH 16
#define NSTEPS 40

/* The fixed data set: x [NDATA, DIN], y [NDATA] in [0, NCLASS). */
static float data_x[NDATA * DIN];
static int32_t data_y[NDATA];

static const optim_schedule sched = {
    .kind = OPTIM_SCHED_WARMUP_COSINE, .lr0 = 0.05f, .floor = 0.001f, .warmup = 5, .total = NSTEPS};

/* Adam (moments + per-parameter step) is the case the issue asks for; SGD with Nesterov momentum
 * checks that a restored momentum buffer is not mistaken for a first step. */
static optim_kind kind_under_test = OPTIM_ADAM;

/* A small MLP trained by autograd ops; everything a run needs to continue lives here. */
typedef struct run {
    nn_params ps;
    optim *opt;
    ag_graph *g;   /* its RNG drives dropout */
    base_rng data;   /* minibatch sampling */
    int64_t step;
} run;

static void run_init(run *r, uint64_t seed) {
    nn_params_init(&r->ps);
    nn_params_add(&r->ps, "mlp.fc1.weight", AG_SHAPE(DIN, DHID), NN_INIT_NORMAL, 0.3f, 0, false);
    nn_params_add(&r->ps, "mlp.fc1.bias", AG_SHAPE(DHID), NN_INIT_ZEROS, 0, 0, false);
    nn_params_add(&r->ps, "mlp.fc2.weight", AG_SHAPE(DHID, NCLASS), NN_INIT_NORMAL, 0.3f, 0, false);
    nn_params_add(&r->ps, "mlp.fc2.bias", AG_SHAPE(NCLASS), NN_INIT_ZEROS, 0, 0, false);
    base_rng init;
    base_rng_seed(&init, seed);
    nn_params_alloc(&r->ps, &init);
    optim_config cfg = optim_config_default(kind_under_test, sched.lr0);
    cfg.weight_decay = 0.01f;
    if (kind_under_test == OPTIM_SGD) {
        cfg.momentum = 0.9f;
        cfg.nesterov = true;
    }
    r->opt = optim_new(&r->ps, cfg);
    r->g = ag_graph_new(0);
    base_rng_seed(ag_graph_rng(r->g), seed + 1);
    base_rng_seed(&r->data, seed + 2);
    r->step = 0;
}

static void run_free(run *r) {
    optim_free(r->opt);
    ag_graph_free(r->g);
    nn_params_free(&r->ps);
}

static float train_step(run *r) {
    float xb[BATCH * DIN];
    int32_t yb[BATCH];
    for (int i = 0; i < BATCH; i++) {
        uint32_t k = base_rng_below(&r->data, NDATA);
        memcpy(xb + i * DIN, data_x + k * DIN, sizeof(float) * DIN);
        yb[i] = data_y[k];
    }
    ag_graph *g = r->g;
    ag_tensor *x = ag_from_f32(g, AG_SHAPE(BATCH, DIN), xb);
    ag_tensor *y = ag_from_i32(g, AG_SHAPE(BATCH), yb);
    ag_tensor *h = ag_relu(g, ag_add(g, ag_matmul(g, x, r->ps.items[0].t, false, false), r->ps.items[1].t));
    h = ag_dropout(g, h, 0.2f);
    ag_tensor *logits = ag_add(g, ag_matmul(g, h, r->ps.items[2].t, false, false), r->ps.items[3].t);
    ag_tensor *loss = ag_cross_entropy(g, logits, y, -1, AG_MEAN);
    float l = ag_f32(loss)[0];
    ag_backward(g, loss);
    optim_set_lr(r->opt, optim_schedule_lr(&sched, r->step));
    optim_step(r->opt);
    nn_params_zero_grad(&r->ps);
    ag_graph_reset(g);
    r->step++;
    return l;
}

static void save_run(const run *r, const char *path) {
    ckpt_writer *w = ckpt_writer_begin(path);
    assert_non_null(w);
    assert_int_equal(ckpt_put_config_json(w, "{\"model\": \"mlp\", \"schedule\": \"warmup_cosine\"}"), 0);
    assert_int_equal(ckpt_put_params(w, &r->ps), 0);
    assert_int_equal(ckpt_put_optim(w, r->opt), 0);
    assert_int_equal(ckpt_put_i64(w, "/state/step", r->step), 0);
    assert_int_equal(ckpt_put_i64(w, "/state/schedule_step", r->step), 0);
    assert_int_equal(ckpt_put_rng(w, "/state/rng/data", &r->data), 0);
    assert_int_equal(ckpt_put_rng(w, "/state/rng/graph", ag_graph_rng(r->g)), 0);
    if (ckpt_writer_commit(w) < 0) fail_msg("%s", base_error_msg());
}

static void load_run(run *r, const char *path) {
    ckpt_reader *rd = ckpt_open(path);
    if (!rd) fail_msg("%s", base_error_msg());
    if (ckpt_load_params(rd, &r->ps, true) < 0 || ckpt_load_optim(rd, r->opt) < 0 ||
        ckpt_get_i64(rd, "/state/step", &r->step) < 0 || ckpt_get_rng(rd, "/state/rng/data", &r->data) < 0 ||
        ckpt_get_rng(rd, "/state/rng/graph", ag_graph_rng(r->g)) < 0)
        fail_msg("%s", base_error_msg());
    ckpt_close(rd);
}

static void assert_runs_identical(const run *a, const run *b) {
    assert_int_equal(a->step, b->step);
    assert_int_equal(a->ps.n, b->ps.n);
    for (int i = 0; i < a->ps.n; i++)
        if (memcmp(a->ps.items[i].t->data, b->ps.items[i].t->data, (size_t)a->ps.items[i].t->numel * 4) != 0)
            fail_msg("parameter %s differs after resume", a->ps.items[i].name);
    assert_int_equal(optim_get_step(a->opt), optim_get_step(b->opt));
    assert_true(optim_get_lr(a->opt) == optim_get_lr(b->opt));
    int n = optim_state_count(a->opt);
    assert_int_equal(n, optim_state_count(b->opt));
    /* Adam: exp_avg, exp_avg_sq, step for 4 parameters; SGD: momentum_buffer for 4. */
    assert_int_equal(n, kind_under_test == OPTIM_SGD ? 4 : 12);
    for (int i = 0; i < n; i++) {
        optim_state_view va = optim_state_get(a->opt, i), vb = optim_state_get(b->opt, i);
        assert_string_equal(va.param, vb.param);
        assert_string_equal(va.slot, vb.slot);
        assert_int_equal(va.numel, vb.numel);
        if (memcmp(va.data, vb.data, (size_t)va.numel * 4) != 0)
            fail_msg("optimizer %s/%s differs after resume", va.param, va.slot);
    }
    assert_memory_equal(&a->data, &b->data, sizeof a->data);
    assert_memory_equal(ag_graph_rng(a->g), ag_graph_rng(b->g), sizeof(base_rng));
}

static void resume_at(int k) {
    char *dir = tu_tempdir();
    char path[4200];
    snprintf(path, sizeof path, "%s/resume.h5", dir);

    run whole;
    run_init(&whole, 11);
    float first = 0, last = 0;
    for (int s = 0; s < NSTEPS; s++) {
        float l = train_step(&whole);
        if (s == 0) first = l;
        last = l;
    }

    run part;
    run_init(&part, 11);
    for (int s = 0; s < k; s++) train_step(&part);
    save_run(&part, path);
    run_free(&part);

    /* Fresh objects from a different seed: everything must come from the checkpoint. */
    run resumed;
    run_init(&resumed, 999);
    load_run(&resumed, path);
    assert_int_equal(resumed.step, k);
    for (int s = k; s < NSTEPS; s++) train_step(&resumed);
    printf("  %s, k = %d: loss %.4f -> %.4f over %d steps; resumed run identical\n", optim_kind_name(kind_under_test), k,
           (double)first, (double)last, NSTEPS);
    assert_true(last < first); /* it trained */
    assert_runs_identical(&whole, &resumed);
    run_free(&whole);
    run_free(&resumed);
    tu_rmtree(dir);
    free(dir);
}

static void test_resume_exact(void **state) {
    (void)state;
    base_rng r;
    base_rng_seed(&r, 5);
    /* Learnable labels: class = argmax of the first NCLASS inputs. */
    for (int i = 0; i < NDATA; i++) {
        int best = 0;
        for (int j = 0; j < DIN; j++) data_x[i * DIN + j] = base_rng_normal(&r);
        for (int j = 1; j < NCLASS; j++)
            if (data_x[i * DIN + j] > data_x[i * DIN + best]) best = j;
        data_y[i] = best;
    }
    kind_under_test = OPTIM_ADAM;
    resume_at(1);
    resume_at(3);  /* inside warmup */
    resume_at(17); /* inside the cosine */
    kind_under_test = OPTIM_SGD;
    resume_at(1);
    resume_at(17);
    kind_under_test = OPTIM_ADAM;
}

/* Resuming with a missing piece is an error, not a silent restart. */
static void test_resume_checks(void **state) {
    (void)state;
    char *dir = tu_tempdir();
    char path[4200];
    snprintf(path, sizeof path, "%s/r.h5", dir);
    run a;
    run_init(&a, 1);
    train_step(&a);
    save_run(&a, path);
    ckpt_reader *rd = ckpt_open(path);
    assert_non_null(rd);
    base_rng x;
    assert_int_equal(ckpt_get_rng(rd, "/state/rng/sampler", &x), -1);
    assert_non_null(strstr(base_error_msg(), "/state/rng/sampler: missing in file"));
    int64_t cursor[2];
    assert_int_equal(ckpt_get_i64_array(rd, "/state/rng/data", cursor, 2), -1);
    assert_non_null(strstr(base_error_msg(), "dtype uint64 in file, int64 expected"));
    ckpt_close(rd);
    run_free(&a);
    tu_rmtree(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resume_exact),
        cmocka_unit_test(test_resume_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
