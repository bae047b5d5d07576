/* test_optim.c — optimizers against PyTorch trajectories, sparse laziness, freezing, clipping, schedules. */
#include "support/test_util.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nn/params.h"
#include "optim/optim.h"

#define STEPS 20
#define TRAJ_TOL 1e-5

static tu_fixture *fx;

static int setup(void **state) {
    (void)state;
    fx = tu_fixture_load("tests/fixtures/optim.txt");
    return 0;
}
static int teardown(void **state) {
    (void)state;
    tu_fixture_free(fx);
    return 0;
}

/* ---- dense quadratic problem: w [4,3], b [3] ------------------------------------------------ */

static void dense_problem(nn_params *ps) {
    nn_params_init(ps);
    nn_params_add(ps, "w", AG_SHAPE(4, 3), NN_INIT_NONE, 0, 0, false);
    nn_params_add(ps, "b", AG_SHAPE(3), NN_INIT_NONE, 0, 0, false);
    base_rng r;
    base_rng_seed(&r, 1);
    nn_params_alloc(ps, &r);
    const char *names[2] = {"w", "b"};
    for (int i = 0; i < 2; i++) {
        char key[64];
        snprintf(key, sizeof key, "%s.init", names[i]);
        ag_tensor *t = nn_params_find(ps, names[i])->t;
        memcpy(t->data, tu_fixture_get(fx, key, NULL, NULL), (size_t)t->numel * sizeof(float));
    }
}

/* grad = coef * (p - target) + noise[step], as gen_optim.py computes it. */
static void dense_grads(nn_params *ps, int step) {
    const char *names[2] = {"w", "b"};
    for (int i = 0; i < 2; i++) {
        char k1[64], k2[64], k3[64];
        snprintf(k1, sizeof k1, "coef.%s", names[i]);
        snprintf(k2, sizeof k2, "target.%s", names[i]);
        snprintf(k3, sizeof k3, "noise.%s", names[i]);
        ag_tensor *t = nn_params_find(ps, names[i])->t;
        const float *c = tu_fixture_get(fx, k1, NULL, NULL), *tg = tu_fixture_get(fx, k2, NULL, NULL);
        const float *nz = tu_fixture_get(fx, k3, NULL, NULL) + step * t->numel;
        const float *x = ag_f32(t);
        for (int64_t j = 0; j < t->numel; j++) t->grad[j] = c[j] * (x[j] - tg[j]) + nz[j];
    }
}

static void check_traj(nn_params *ps, const char *cfg, const char *pname, int step) {
    char key[128], label[160];
    snprintf(key, sizeof key, "%s.%s.traj", cfg, pname);
    ag_tensor *t = nn_params_find(ps, pname)->t;
    const float *want = tu_fixture_get(fx, key, NULL, NULL) + (int64_t)step * t->numel;
    snprintf(label, sizeof label, "%s %s after step %d", cfg, pname, step);
    tu_assert_close(label, ag_f32(t), want, t->numel, TRAJ_TOL);
}

static void run_dense(const char *cfgname, optim_config cfg, const optim_schedule *sched) {
    nn_params ps;
    dense_problem(&ps);
    optim *o = optim_new(&ps, cfg);
    for (int k = 0; k < STEPS; k++) {
        if (sched) optim_set_lr(o, optim_schedule_lr(sched, k));
        nn_params_zero_grad(&ps);
        dense_grads(&ps, k);
        optim_step(o);
        check_traj(&ps, cfgname, "w", k + 1);
        check_traj(&ps, cfgname, "b", k + 1);
    }
    assert_int_equal(optim_get_step(o), STEPS);
    optim_free(o);
    nn_params_free(&ps);
}

static void test_sgd_trajectories(void **state) {
    (void)state;
    optim_config c = optim_config_default(OPTIM_SGD, 0.1f);
    run_dense("sgd_plain", c, NULL);
    c = optim_config_default(OPTIM_SGD, 0.05f);
    c.momentum = 0.9f;
    c.weight_decay = 0.01f;
    run_dense("sgd_momentum_wd", c, NULL);
    c = optim_config_default(OPTIM_SGD, 0.05f);
    c.momentum = 0.9f;
    c.nesterov = true;
    c.weight_decay = 0.001f;
    run_dense("sgd_nesterov_wd", c, NULL);
    c = optim_config_default(OPTIM_SGD, 0.05f);
    c.momentum = 0.8f;
    c.dampening = 0.3f;
    run_dense("sgd_dampening", c, NULL);
}

static void test_adam_trajectories(void **state) {
    (void)state;
    run_dense("adam", optim_config_default(OPTIM_ADAM, 0.05f), NULL);
    optim_config c = optim_config_default(OPTIM_ADAM, 0.05f);
    c.beta1 = 0.8f;
    c.beta2 = 0.99f;
    c.eps = 1e-6f;
    c.weight_decay = 0.1f;
    run_dense("adam_l2", c, NULL);
    c = optim_config_default(OPTIM_ADAMW, 0.05f);
    c.weight_decay = 0.1f;
    run_dense("adamw", c, NULL);
}

static void test_adamw_warmup_cosine_trajectory(void **state) {
    (void)state;
    optim_schedule s = {.kind = OPTIM_SCHED_WARMUP_COSINE, .lr0 = 0.1f, .floor = 0.01f, .warmup = 5, .total = 20};
    const float *lrs = tu_fixture_get(fx, "adamw_warmup_cosine.lrs", NULL, NULL);
    float got[STEPS];
    for (int k = 0; k < STEPS; k++) got[k] = optim_schedule_lr(&s, k);
    tu_assert_close("warmup-cosine LRs vs LambdaLR", got, lrs, STEPS, 1e-7);
    optim_config c = optim_config_default(OPTIM_ADAMW, 0.1f);
    c.weight_decay = 0.05f;
    run_dense("adamw_warmup_cosine", c, &s);
}

/* ---- sparse problem: E [8,4] with row-sparse grads ------------------------------------------- */

static void sparse_problem(nn_params *ps) {
    nn_params_init(ps);
    nn_params_add(ps, "E", AG_SHAPE(8, 4), NN_INIT_NONE, 0, 0, true);
    base_rng r;
    base_rng_seed(&r, 1);
    nn_params_alloc(ps, &r);
    ag_tensor *t = nn_params_find(ps, "E")->t;
    memcpy(t->data, tu_fixture_get(fx, "E.init", NULL, NULL), 32 * sizeof(float));
}

static void sparse_grads(ag_tensor *t, int step) {
    const float *rf = tu_fixture_get(fx, "sparse.rows", NULL, NULL) + step * 5;
    const float *vals = tu_fixture_get(fx, "sparse.vals", NULL, NULL) + step * 5 * 4;
    int32_t rows[5];
    for (int i = 0; i < 5; i++) rows[i] = (int32_t)rf[i];
    ag_sparse_grad_add(t, 5, rows, vals);
}

static void run_sparse(const char *cfgname, optim_config cfg) {
    nn_params ps;
    sparse_problem(&ps);
    ag_tensor *t = nn_params_find(&ps, "E")->t;
    float rows67[8];
    memcpy(rows67, ag_f32(t) + 24, sizeof rows67);
    optim *o = optim_new(&ps, cfg);
    for (int k = 0; k < STEPS; k++) {
        nn_params_zero_grad(&ps);
        sparse_grads(t, k);
        optim_step(o);
        check_traj(&ps, cfgname, "E", k + 1);
    }
    /* Rows 6 and 7 are never named: their bytes and their moments stay untouched. */
    assert_memory_equal(rows67, ag_f32(t) + 24, sizeof rows67);
    if (cfg.kind == OPTIM_SPARSE_ADAM) {
        int64_t n;
        const float *m = optim_state_find(o, "E", "exp_avg", &n), *v = optim_state_find(o, "E", "exp_avg_sq", &n);
        for (int j = 24; j < 32; j++) assert_true(m[j] == 0.0f && v[j] == 0.0f);
        assert_true(m[0] != 0.0f || m[4] != 0.0f);
    }
    optim_free(o);
    nn_params_free(&ps);
}

static void test_sparse_trajectories(void **state) {
    (void)state;
    run_sparse("sparse_adam", optim_config_default(OPTIM_SPARSE_ADAM, 0.05f));
    run_sparse("sparse_sgd", optim_config_default(OPTIM_SGD, 0.1f));
    /* Dense Adam on a row-sparse grad = torch.optim.Adam on the densified grad: rows named at an
     * earlier step keep moving on their momentum (the trajectory shows it); never-named rows have
     * zero moments, so they stay put there too. */
    run_sparse("adam_densified", optim_config_default(OPTIM_ADAM, 0.05f));
}

/* Sparse SGD with momentum and weight decay still touches only the named rows. */
static void test_sparse_sgd_momentum_lazy(void **state) {
    (void)state;
    nn_params ps;
    nn_params_init(&ps);
    ag_tensor *t = nn_params_add(&ps, "emb", AG_SHAPE(100, 8), NN_INIT_NORMAL, 1.0f, 0, true);
    base_rng r;
    base_rng_seed(&r, 7);
    nn_params_alloc(&ps, &r);
    float *before = malloc(800 * sizeof(float));
    memcpy(before, t->data, 800 * sizeof(float));
    optim_config c = optim_config_default(OPTIM_SGD, 0.1f);
    c.momentum = 0.9f;
    c.weight_decay = 0.1f;
    optim *o = optim_new(&ps, c);
    float vals[3 * 8];
    for (int i = 0; i < 24; i++) vals[i] = 0.5f;
    for (int k = 0; k < 3; k++) {
        int32_t rows[3] = {5, 17, 5};
        nn_params_zero_grad(&ps);
        ag_sparse_grad_add(t, 3, rows, vals);
        optim_step(o);
    }
    for (int row = 0; row < 100; row++) {
        bool named = row == 5 || row == 17;
        int same = memcmp(before + row * 8, ag_f32(t) + row * 8, 8 * sizeof(float)) == 0;
        assert_int_equal(same, !named);
    }
    /* Row 17: first step buf = d; then buf = 0.9 buf + d; x -= lr·buf (d includes 0.1·x). */
    double x = before[17 * 8], buf = 0;
    for (int k = 0; k < 3; k++) {
        double d = 0.5 + 0.1 * x;
        buf = k == 0 ? d : 0.9 * buf + d;
        x -= 0.1 * buf;
    }
    assert_float_equal(ag_f32(t)[17 * 8], x, 1e-5);
    free(before);
    optim_free(o);
    nn_params_free(&ps);
}

/* SparseAdam over the sparse params and AdamW over the dense ones of one set, as in PyTorch. */
static void test_subset_optimizers(void **state) {
    (void)state;
    nn_params ps;
    nn_params_init(&ps);
    nn_params_add(&ps, "w", AG_SHAPE(4, 3), NN_INIT_NONE, 0, 0, false);
    ag_tensor *e = nn_params_add(&ps, "E", AG_SHAPE(8, 4), NN_INIT_NONE, 0, 0, true);
    nn_params_add(&ps, "b", AG_SHAPE(3), NN_INIT_NONE, 0, 0, false);
    base_rng r;
    base_rng_seed(&r, 1);
    nn_params_alloc(&ps, &r);
    const char *names[3] = {"w", "b", "E"};
    for (int i = 0; i < 3; i++) {
        char key[64];
        snprintf(key, sizeof key, "%s.init", names[i]);
        ag_tensor *t = nn_params_find(&ps, names[i])->t;
        memcpy(t->data, tu_fixture_get(fx, key, NULL, NULL), (size_t)t->numel * sizeof(float));
    }
    optim *sp = optim_new_subset(&ps, optim_config_default(OPTIM_SPARSE_ADAM, 0.05f), NULL, OPTIM_PARAMS_SPARSE);
    optim_config c = optim_config_default(OPTIM_ADAMW, 0.05f);
    c.weight_decay = 0.1f;
    optim *dn = optim_new_subset(&ps, c, NULL, OPTIM_PARAMS_DENSE);
    assert_int_equal(optim_param_count(sp), 1);
    assert_int_equal(optim_param_count(dn), 2);
    for (int k = 0; k < STEPS; k++) {
        nn_params_zero_grad(&ps);
        dense_grads(&ps, k);
        sparse_grads(e, k);
        optim_step(sp);
        optim_step(dn);
        check_traj(&ps, "sparse_adam", "E", k + 1);
        check_traj(&ps, "adamw", "w", k + 1);
        check_traj(&ps, "adamw", "b", k + 1);
    }
    int64_t n;
    assert_null(optim_state_find(sp, "w", "exp_avg", &n));
    assert_null(optim_state_find(dn, "E", "exp_avg", &n));
    assert_int_equal(optim_state_count(sp), 3);
    assert_int_equal(optim_state_count(dn), 6);
    optim_free(sp);
    optim_free(dn);
    /* A glob subset: only "b" moves. */
    float w0[12];
    memcpy(w0, nn_params_find(&ps, "w")->t->data, sizeof w0);
    optim *gb = optim_new_subset(&ps, optim_config_default(OPTIM_SGD, 0.1f), "b", OPTIM_PARAMS_ALL);
    float b0 = ag_f32(nn_params_find(&ps, "b")->t)[0];
    dense_grads(&ps, 0);
    optim_step(gb);
    assert_memory_equal(w0, nn_params_find(&ps, "w")->t->data, sizeof w0);
    assert_true(ag_f32(nn_params_find(&ps, "b")->t)[0] != b0);
    optim_free(gb);
    nn_params_free(&ps);
}

/* ---- freezing ---------------------------------------------------------------------------------- */

static void run_frozen(optim_kind kind) {
    nn_params ps;
    nn_params_init(&ps);
    ag_tensor *enc = nn_params_add(&ps, "enc.w", AG_SHAPE(6, 5), NN_INIT_NORMAL, 1.0f, 0, false);
    ag_tensor *emb = nn_params_add(&ps, "enc.emb", AG_SHAPE(10, 5), NN_INIT_NORMAL, 1.0f, 0, true);
    ag_tensor *head = nn_params_add(&ps, "head.w", AG_SHAPE(10, 5), NN_INIT_NORMAL, 1.0f, 0, true);
    base_rng r;
    base_rng_seed(&r, 3);
    nn_params_alloc(&ps, &r);
    assert_int_equal(nn_params_freeze(&ps, "enc.*", true), 2);
    float enc0[30], emb0[50], head0[50];
    memcpy(enc0, enc->data, sizeof enc0);
    memcpy(emb0, emb->data, sizeof emb0);
    memcpy(head0, head->data, sizeof head0);
    optim_config c = optim_config_default(kind, 0.1f);
    c.weight_decay = 0.5f;
    if (kind == OPTIM_SGD) c.momentum = 0.9f;
    optim *o = optim_new(&ps, c);
    float vals[2 * 5] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    int32_t rows[2] = {1, 4};
    assert_null(enc->grad); /* frozen: no grad storage (nn_params_regrad) */
    float *stale = ag_tensor_grad(enc);
    for (int k = 0; k < 7; k++) {
        /* Even with grads present (stale or written by mistake), frozen params must not move. */
        for (int j = 0; j < 30; j++) stale[j] = 1.0f;
        ag_sparse_grad_add(emb, 2, rows, vals);
        ag_sparse_grad_add(head, 2, rows, vals);
        optim_step(o);
        nn_params_zero_grad(&ps);
    }
    assert_memory_equal(enc0, enc->data, sizeof enc0);
    assert_memory_equal(emb0, emb->data, sizeof emb0);
    assert_memory_not_equal(head0, head->data, sizeof head0);
    for (int i = 0; i < optim_state_count(o); i++) {
        optim_state_view v = optim_state_get(o, i);
        assert_string_equal(v.param, "head.w"); /* no moments for frozen params */
    }
    assert_true(optim_state_count(o) > 0);
    optim_free(o);
    nn_params_free(&ps);
}

static void test_frozen_untouched(void **state) {
    (void)state;
    run_frozen(OPTIM_SGD);
    run_frozen(OPTIM_ADAM);
    run_frozen(OPTIM_ADAMW);
}

static void test_frozen_untouched_sparse_adam(void **state) {
    (void)state;
    nn_params ps;
    nn_params_init(&ps);
    ag_tensor *a = nn_params_add(&ps, "a", AG_SHAPE(10, 5), NN_INIT_NORMAL, 1.0f, 0, true);
    ag_tensor *b = nn_params_add(&ps, "b", AG_SHAPE(10, 5), NN_INIT_NORMAL, 1.0f, 0, true);
    base_rng r;
    base_rng_seed(&r, 4);
    nn_params_alloc(&ps, &r);
    nn_params_freeze(&ps, "a", true);
    float a0[50];
    memcpy(a0, a->data, sizeof a0);
    optim_config c = optim_config_default(OPTIM_SPARSE_ADAM, 0.1f);
    c.weight_decay = 0.5f;
    optim *o = optim_new(&ps, c);
    float vals[5] = {1, -2, 3, -4, 5};
    int32_t row = 3;
    for (int k = 0; k < 5; k++) {
        ag_sparse_grad_add(a, 1, &row, vals);
        ag_sparse_grad_add(b, 1, &row, vals);
        optim_step(o);
        nn_params_zero_grad(&ps);
    }
    assert_memory_equal(a0, a->data, sizeof a0);
    int64_t n;
    assert_int_equal(optim_state_count(o), 3);
    assert_true(optim_state_find(o, "b", "step", &n)[0] == 5.0f && n == 1);
    (void)b;
    optim_free(o);
    nn_params_free(&ps);
}

/* ---- programming errors abort (checked in a child process) ----------------------------------- */

static void test_sparse_adam_rejects_dense(void **state) {
    (void)state;
    fflush(stdout);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        freopen("/dev/null", "w", stderr);
        nn_params ps;
        nn_params_init(&ps);
        nn_params_add(&ps, "dense", AG_SHAPE(3, 2), NN_INIT_ONES, 0, 0, false);
        base_rng r;
        base_rng_seed(&r, 1);
        nn_params_alloc(&ps, &r);
        optim *o = optim_new(&ps, optim_config_default(OPTIM_SPARSE_ADAM, 0.1f));
        optim_step(o);
        _exit(0); /* reached only if the check is missing */
    }
    int st;
    waitpid(pid, &st, 0);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
}

/* ---- state by name, resume ------------------------------------------------------------------- */

static void test_state_by_name_and_resume(void **state) {
    (void)state;
    optim_config c = optim_config_default(OPTIM_ADAMW, 0.05f);
    c.weight_decay = 0.1f;
    /* Uninterrupted run of 20 steps. */
    nn_params ref;
    dense_problem(&ref);
    optim *oref = optim_new(&ref, c);
    assert_int_equal(optim_state_count(oref), 0);
    for (int k = 0; k < STEPS; k++) {
        dense_grads(&ref, k);
        optim_step(oref);
    }
    /* 10 steps, save everything by name, continue in a fresh optimizer and parameter set. */
    nn_params a;
    dense_problem(&a);
    optim *oa = optim_new(&a, c);
    for (int k = 0; k < 10; k++) {
        dense_grads(&a, k);
        optim_step(oa);
    }
    assert_int_equal(optim_state_count(oa), 6);
    int64_t n;
    assert_non_null(optim_state_find(oa, "w", "exp_avg", &n));
    assert_int_equal(n, 12);
    assert_non_null(optim_state_find(oa, "b", "step", &n));
    assert_int_equal(n, 1);
    assert_null(optim_state_find(oa, "w", "momentum_buffer", &n));
    assert_null(optim_state_find(oa, "nope", "exp_avg", &n));
    assert_string_equal(optim_kind_name(optim_get_config(oa)->kind), "adamw");

    nn_params b;
    dense_problem(&b);
    memcpy(nn_params_find(&b, "b")->t->data, nn_params_find(&a, "b")->t->data, 3 * sizeof(float));
    memcpy(nn_params_find(&b, "w")->t->data, nn_params_find(&a, "w")->t->data, 12 * sizeof(float));
    optim *ob = optim_new(&b, c);
    for (int i = 0; i < optim_state_count(oa); i++) {
        optim_state_view v = optim_state_get(oa, i);
        int64_t m;
        float *dst = optim_state_find(ob, v.param, v.slot, &m);
        assert_non_null(dst);
        assert_int_equal(m, v.numel);
        memcpy(dst, v.data, (size_t)m * sizeof(float));
    }
    optim_set_step(ob, optim_get_step(oa));
    for (int k = 10; k < STEPS; k++) {
        dense_grads(&b, k);
        optim_step(ob);
    }
    assert_int_equal(optim_get_step(ob), STEPS);
    assert_memory_equal(nn_params_find(&b, "w")->t->data, nn_params_find(&ref, "w")->t->data, 12 * sizeof(float));
    assert_memory_equal(nn_params_find(&b, "b")->t->data, nn_params_find(&ref, "b")->t->data, 3 * sizeof(float));
    optim_free(oref);
    optim_free(oa);
    optim_free(ob);
    nn_params_free(&ref);
    nn_params_free(&a);
    nn_params_free(&b);
}

/* ---- clipping and accumulation --------------------------------------------------------------- */

static void test_clip_grad_norm(void **state) {
    (void)state;
    nn_params ps;
    nn_params_init(&ps);
    ag_tensor *d = nn_params_add(&ps, "d", AG_SHAPE(2, 2), NN_INIT_ZEROS, 0, 0, false);
    ag_tensor *s = nn_params_add(&ps, "s", AG_SHAPE(5, 2), NN_INIT_ZEROS, 0, 0, true);
    ag_tensor *f = nn_params_add(&ps, "f", AG_SHAPE(3), NN_INIT_ZEROS, 0, 0, false);
    base_rng r;
    base_rng_seed(&r, 1);
    nn_params_alloc(&ps, &r);
    nn_params_freeze(&ps, "f", true);
    float dg[4] = {1, 2, 2, 0};
    memcpy(d->grad, dg, sizeof dg);
    assert_null(f->grad); /* frozen: no grad storage; a stale one written anyway is ignored */
    float *fg = ag_tensor_grad(f);
    for (int j = 0; j < 3; j++) fg[j] = 100.0f;
    int32_t rows[3] = {4, 1, 4};                      /* row 4 twice: summed = (3, 4) */
    float sv[6] = {1, 1, 0, 2, 2, 3};
    ag_sparse_grad_add(s, 3, rows, sv);
    /* Norm² = 1 + 4 + 4 + (0² + 2²) + (3² + 4²) = 38. */
    double norm = optim_clip_grad_norm(&ps, 100.0);
    assert_float_equal(norm, sqrt(38.0), 1e-9);
    assert_true(d->grad[1] == 2.0f); /* below the limit: unchanged */
    norm = optim_clip_grad_norm(&ps, 1.0);
    assert_float_equal(norm, sqrt(38.0), 1e-6);
    double after = optim_clip_grad_norm(&ps, 1e9);
    assert_float_equal(after, 1.0, 1e-5);
    assert_float_equal(d->grad[1], 2.0 / (sqrt(38.0) + 1e-6), 1e-6);
    assert_true(f->grad[0] == 100.0f);
    nn_params_free(&ps);
}

/* Two half-batches accumulated and scaled by 1/2 step exactly like one full batch. */
static void test_grad_accumulation(void **state) {
    (void)state;
    nn_params a, b;
    dense_problem(&a);
    dense_problem(&b);
    optim *oa = optim_new(&a, optim_config_default(OPTIM_ADAM, 0.05f));
    optim *ob = optim_new(&b, optim_config_default(OPTIM_ADAM, 0.05f));
    for (int k = 0; k + 1 < STEPS; k += 2) {
        /* a: mean of the grads of steps k and k+1 in one go */
        ag_tensor *aw = nn_params_find(&a, "w")->t, *ab = nn_params_find(&a, "b")->t;
        float gw[12], gb[3];
        dense_grads(&a, k);
        memcpy(gw, aw->grad, sizeof gw);
        memcpy(gb, ab->grad, sizeof gb);
        dense_grads(&a, k + 1);
        for (int j = 0; j < 12; j++) aw->grad[j] = (gw[j] + aw->grad[j]) * 0.5f;
        for (int j = 0; j < 3; j++) ab->grad[j] = (gb[j] + ab->grad[j]) * 0.5f;
        optim_step(oa);
        /* b: accumulate (+=) two micro-batches, then scale by 1/2 */
        ag_tensor *bw = nn_params_find(&b, "w")->t, *bb = nn_params_find(&b, "b")->t;
        nn_params_zero_grad(&b);
        float tw[12], tb[3];
        dense_grads(&b, k);
        memcpy(tw, bw->grad, sizeof tw);
        memcpy(tb, bb->grad, sizeof tb);
        dense_grads(&b, k + 1);
        for (int j = 0; j < 12; j++) bw->grad[j] += tw[j];
        for (int j = 0; j < 3; j++) bb->grad[j] += tb[j];
        optim_scale_grads(&b, 0.5f);
        optim_step(ob);
    }
    tu_assert_close("accumulated w", ag_f32(nn_params_find(&b, "w")->t), ag_f32(nn_params_find(&a, "w")->t), 12, 1e-6);
    tu_assert_close("accumulated b", ag_f32(nn_params_find(&b, "b")->t), ag_f32(nn_params_find(&a, "b")->t), 3, 1e-6);
    /* scale also reaches sparse grads */
    nn_params ps;
    sparse_problem(&ps);
    ag_tensor *e = nn_params_find(&ps, "E")->t;
    sparse_grads(e, 0);
    float v0 = e->sgrad->vals[3];
    optim_scale_grads(&ps, 0.25f);
    assert_true(e->sgrad->vals[3] == v0 * 0.25f);
    nn_params_free(&ps);
    optim_free(oa);
    optim_free(ob);
    nn_params_free(&a);
    nn_params_free(&b);
}

/* ---- schedules at specific steps -------------------------------------------------------------- */

static void test_schedules(void **state) {
    (void)state;
    optim_schedule c = {.kind = OPTIM_SCHED_CONSTANT, .lr0 = 0.3f};
    assert_true(optim_schedule_lr(&c, 0) == 0.3f && optim_schedule_lr(&c, 1000000) == 0.3f);

    optim_schedule l = {.kind = OPTIM_SCHED_LINEAR, .lr0 = 0.025f, .floor = 0.025f * 1e-4f, .total = 1000};
    assert_float_equal(optim_schedule_lr(&l, 0), 0.025, 1e-9);
    assert_float_equal(optim_schedule_lr(&l, 250), 0.025 * 0.75, 1e-9);
    assert_float_equal(optim_schedule_lr(&l, 500), 0.0125, 1e-9);
    assert_float_equal(optim_schedule_lr(&l, 1000), 0.025f * 1e-4f, 1e-12); /* floor */
    assert_float_equal(optim_schedule_lr(&l, 5000), 0.025f * 1e-4f, 1e-12);
    assert_float_equal(optim_schedule_lr(&l, 999), 0.025 * 0.001, 1e-10); /* still above the floor */
    l.floor = 1e-4f;
    assert_float_equal(optim_schedule_lr(&l, 999), 1e-4, 1e-10); /* now clamped */

    optim_schedule w = {.kind = OPTIM_SCHED_WARMUP_COSINE, .lr0 = 1e-3f, .floor = 1e-5f, .warmup = 100, .total = 1100};
    assert_float_equal(optim_schedule_lr(&w, 0), 0.0, 1e-12);
    assert_float_equal(optim_schedule_lr(&w, 50), 5e-4, 1e-9);
    assert_float_equal(optim_schedule_lr(&w, 100), 1e-3, 1e-9);
    assert_float_equal(optim_schedule_lr(&w, 600), 1e-5 + (1e-3 - 1e-5) * 0.5, 1e-9); /* half way: cos(π/2) = 0 */
    assert_float_equal(optim_schedule_lr(&w, 350), 1e-5 + (1e-3 - 1e-5) * 0.5 * (1 + cos(M_PI * 0.25)), 1e-9);
    assert_float_equal(optim_schedule_lr(&w, 1100), 1e-5, 1e-10);
    assert_float_equal(optim_schedule_lr(&w, 99999), 1e-5, 1e-10);

    optim_schedule s = {.kind = OPTIM_SCHED_STEP, .lr0 = 0.1f, .step_size = 30, .gamma = 0.1f};
    assert_float_equal(optim_schedule_lr(&s, 29), 0.1, 1e-8);
    assert_float_equal(optim_schedule_lr(&s, 30), 0.01, 1e-8);
    assert_float_equal(optim_schedule_lr(&s, 95), 1e-4, 1e-9);
    s.floor = 0.005f;
    assert_float_equal(optim_schedule_lr(&s, 95), 0.005, 1e-9);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sgd_trajectories),
        cmocka_unit_test(test_adam_trajectories),
        cmocka_unit_test(test_adamw_warmup_cosine_trajectory),
        cmocka_unit_test(test_sparse_trajectories),
        cmocka_unit_test(test_sparse_sgd_momentum_lazy),
        cmocka_unit_test(test_subset_optimizers),
        cmocka_unit_test(test_frozen_untouched),
        cmocka_unit_test(test_frozen_untouched_sparse_adam),
        cmocka_unit_test(test_sparse_adam_rejects_dense),
        cmocka_unit_test(test_state_by_name_and_resume),
        cmocka_unit_test(test_clip_grad_norm),
        cmocka_unit_test(test_grad_accumulation),
        cmocka_unit_test(test_schedules),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
