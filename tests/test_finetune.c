/* test_finetune.c — `ember finetune`: frozen bytes, the unfreezing schedule, per-group learning rates by hand, partial loading, bit-exact resume mid-schedule, bad input, learning on the world and on SST-2. */
#include "support/test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoints/ckpt.h"
#include "data/evalsets.h"
#include "data/world.h"
#include "nn/nn.h"
#include "train/finetune.h"
#include "train/loop.h"

/* The chapter world (built in) gives sentences, a tokenizer and a small MLM checkpoint; the task is
 * "does the sentence name a vehicle or an animal" (label 1), balanced (chance is 50 %) — learnable
 * from words alone. */
static char *g_world, *g_tok, *g_init, *g_train, *g_dev, *g_vec;

#define SMALL_MODEL "--d 32 --layers 2 --heads 2 --seq 32 --batch 8 --threads 1"

static bool is_vehicle_sentence(const char *s) {
    static const char *const v[] = {" van",  " truck", " car",  " bus",  " bike",   " tractor", " motorcycle", " scooter",
                                    " train", " cat",  " dog", " kitten", " puppy", " mouse", " bird",  " sheep",
                                    " cow",  " horse", " lion", " tiger"};
    char buf[512];
    snprintf(buf, sizeof buf, " %s", s);
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        const char *p = strstr(buf, v[i]);
        if (p && (p[strlen(v[i])] == ' ' || p[strlen(v[i])] == 0)) return true;
    }
    return false;
}

/* Writes the world's sentences [skip, skip + n) as "label TAB sentence" with a header, every positive
 * and as many negatives (the first ones) as positives so far. */
static char *write_task(const char *name, int64_t skip, int64_t n) {
    size_t len;
    char *text = tu_read_file(g_world, &len);
    char *path = tu_path_join(tu_group_dir(), name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("label\tsentence\n", f);
    int64_t k = 0, pos = 0, neg = 0;
    for (char *line = strtok(text, "\n"); line && k < skip + n; line = strtok(NULL, "\n"), k++) {
        if (k < skip) continue;
        bool y = is_vehicle_sentence(line);
        if (!y && neg >= pos) continue;
        fprintf(f, "%d\t%s\n", y ? 1 : 0, line);
        pos += y;
        neg += !y;
    }
    fclose(f);
    free(text);
    return path;
}

static int setup(void **state) {
    if (tu_group_tempdir_setup(state)) return -1;
    g_world = tu_path_join(tu_group_dir(), "world.txt");
    g_tok = tu_path_join(tu_group_dir(), "tok.txt");
    g_init = tu_path_join(tu_group_dir(), "init.ckpt");
    g_vec = tu_path_join(tu_group_dir(), "vec.txt");
    if (data_world_write(g_world, 3, 3000)) return -1;
    const char *paths[1] = {g_world};
    data_tokenizer *t = NULL;
    if (data_tokenizer_train(&t, paths, 1, 0, 400, NULL) || data_tokenizer_save(t, g_tok)) return -1;
    data_tokenizer_free(t);
    char *out = NULL;
    int rc = tu_run_ember(&out, "train mlm --corpus %s --tokenizer %s " SMALL_MODEL " --steps 2 --quiet --checkpoint %s",
                          g_world, g_tok, g_init);
    if (rc) printf("%s\n", out);
    free(out);
    if (rc) return rc;
    rc = tu_run_ember(&out, "word2vec -train %s -output %s -size 16 -iter 2 -min-count 1 -threads 1 -debug 0", g_world, g_vec);
    if (rc) printf("%s\n", out);
    free(out);
    g_train = write_task("train.tsv", 0, 2000);
    g_dev = write_task("dev.tsv", 2000, 1000);
    return rc;
}

static int teardown(void **state) {
    free(g_world);
    free(g_tok);
    free(g_init);
    free(g_train);
    free(g_dev);
    free(g_vec);
    return tu_group_tempdir_teardown(state);
}

/* A run refused with exit status want (1: bad data or model, 2: a bad flag) and a message holding needle. */
static void expect_exit(int want, const char *what, const char *args, const char *needle) {
    char *out = NULL;
    int rc = tu_run_ember(&out, "%s", args);
    if (rc != want || !strstr(out, needle))
        fail_msg("%s: expected exit %d and '%s', got %d: %s", what, want, needle, rc, out ? out : "");
    free(out);
}

static void expect_error(const char *what, const char *args, const char *needle) { expect_exit(1, what, args, needle); }

/* ---- freezing in the parameter set and the loop ------------------------------------------------ */

/* A frozen parameter has no grad storage: the block shrinks, and comes back zeroed on unfreezing. */
static void test_frozen_no_grad_memory(void **state) {
    (void)state;
    nn_params ps;
    nn_params_init(&ps);
    nn_linear a, b;
    nn_linear_init(&a, &ps, "a", 64, 32, true);
    nn_linear_init(&b, &ps, "b", 32, 8, true);
    base_rng rng;
    base_rng_seed(&rng, 1);
    nn_params_alloc(&ps, &rng);
    int64_t full = ps.total_dense;
    assert_non_null(a.weight->grad);
    a.weight->grad[0] = 3.0f;
    assert_int_equal(nn_params_freeze(&ps, "a.*", true), 2);
    assert_null(a.weight->grad);
    assert_null(a.bias->grad);
    assert_non_null(b.weight->grad);
    assert_true(ps.total_dense < full);
    assert_int_equal(ps.total_dense, 256 + 16); /* b.weight 256 + b.bias 8 padded to 16 */
    nn_params_freeze(&ps, "a.*", false);
    assert_non_null(a.weight->grad);
    assert_int_equal(ps.total_dense, full);
    for (int64_t i = 0; i < a.weight->numel; i++) assert_true(a.weight->grad[i] == 0.0f);
    nn_params_free(&ps);
}

/* A two-layer model trained by the loop on a fixed regression batch; "lo.*" frozen until step 3. */
typedef struct toy {
    nn_params ps;
    nn_linear lo, hi;
    float x[8 * 6], y[8 * 2];
} toy;

static int64_t toy_next(void *ctx) {
    (void)ctx;
    return 8;
}

static ag_tensor *toy_loss(void *ctx, ag_graph *g) {
    toy *t = ctx;
    ag_tensor *h = ag_tanh(g, nn_linear_forward(g, &t->lo, ag_from_f32(g, AG_SHAPE(8, 6), t->x)));
    ag_tensor *d = ag_sub(g, nn_linear_forward(g, &t->hi, h), ag_from_f32(g, AG_SHAPE(8, 2), t->y));
    return ag_mean(g, ag_mul(g, d, d), AG_ALL_AXES, false);
}

static void toy_init(toy *t) {
    nn_params_init(&t->ps);
    nn_linear_init(&t->lo, &t->ps, "lo", 6, 5, true);
    nn_linear_init(&t->hi, &t->ps, "hi", 5, 2, true);
    base_rng rng;
    base_rng_seed(&rng, 7);
    nn_params_alloc(&t->ps, &rng);
    for (int i = 0; i < 48; i++) t->x[i] = sinf((float)i);
    for (int i = 0; i < 16; i++) t->y[i] = cosf((float)i);
}

/* The schedule unfreezes at the right step; until then the frozen bytes are identical although
 * weight decay is on for every parameter (--decay-all), and the optimizer holds no state for them. */
static void test_unfreeze_schedule(void **state) {
    (void)state;
    toy t;
    toy_init(&t);
    train_loop_config c = train_loop_config_default();
    c.steps = 6;
    c.lr = 0.05f;
    c.weight_decay = 0.1f;
    c.decay_all = true;
    c.sched = OPTIM_SCHED_CONSTANT;
    c.quiet = true;
    c.handle_signals = false;
    c.freeze[c.nfreeze++] = "lo.*";
    c.unfreeze[c.nunfreeze++] = (train_loop_unfreeze){.step = 3, .glob = "lo.*"};
    train_loop_trainer tr = {.ctx = &t, .next_batch = toy_next, .loss = toy_loss};
    train_loop *L = train_loop_new(&c, &t.ps, &tr);
    assert_non_null(L);
    float w0[30], hi0[10];
    memcpy(w0, ag_f32(t.lo.weight), sizeof w0);
    memcpy(hi0, ag_f32(t.hi.weight), sizeof hi0);
    for (int s = 1; s <= 6; s++) {
        assert_int_equal(train_loop_run_steps(L, 1), 0);
        bool lo_same = memcmp(w0, ag_f32(t.lo.weight), sizeof w0) == 0;
        if (s <= 3) {
            assert_true(lo_same); /* steps 1..3 ran with lo frozen */
            const optim *opt = train_loop_optim(L);
            for (int k = 0; k < optim_state_count(opt); k++) assert_string_not_equal(optim_state_get(opt, k).param, "lo.weight");
        } else {
            assert_false(lo_same); /* unfrozen before step 4 */
        }
        assert_true(memcmp(hi0, ag_f32(t.hi.weight), sizeof hi0) != 0);
    }
    train_loop_free(L);
    nn_params_free(&t.ps);
    /* a glob that matches nothing, and an epoch entry a step-counting trainer cannot place */
    toy_init(&t);
    c.unfreeze[0].glob = "nothing.*";
    assert_null(train_loop_new(&c, &t.ps, &tr));
    assert_non_null(strstr(base_error_msg(), "matches no parameter"));
    c.unfreeze[0] = (train_loop_unfreeze){.epoch = 1.5, .glob = "lo.*"};
    assert_null(train_loop_new(&c, &t.ps, &tr));
    assert_non_null(strstr(base_error_msg(), "counts optimizer steps"));
    nn_params_free(&t.ps);
}

static void test_layer_scales(void **state) {
    (void)state;
    assert_true(train_ft_layer_scale("task.out.weight", 4, 0.5) == 1.0);
    assert_true(train_ft_layer_scale("enc.norm.weight", 4, 0.5) == 1.0);
    assert_true(train_ft_layer_scale("enc.layers.3.attn.wq.weight", 4, 0.5) == 0.5);
    assert_true(train_ft_layer_scale("enc.layers.0.mlp.fc1.bias", 4, 0.5) == 0.0625);
    assert_true(train_ft_layer_scale("tok.weight", 4, 0.5) == 0.03125);
    assert_true(train_ft_layer_scale("pos.weight", 4, 0.5) == 0.03125);
    assert_true(train_ft_layer_scale("embedding.weight", 0, 0.8) == 0.8);
}

/* ---- per-group learning rates, by hand ----------------------------------------------------------- */

/* Bag-of-words logistic regression, one SGD step over the whole (4-example) batch from zero weights:
 * the softmax is (1/2, 1/2), so each gradient is known in closed form. With --group 'task.*:lr=0.5'
 * and lr 0.1 for the rest:
 *   task.bias[1] grad = Σ_i (1/2 − y_i1) / 4 = (3·(−1/2) + 1/2) / 4 = −1/4   → bias[1] = +0.125
 *   "good" (in "good fun", weight 1/2, and "good", weight 1): grad[1] = (½·(−½) + (−½)) / 4 = −0.1875
 *                                                            → row[1] = +0.01875
 *   "bad" (twice in "bad dull bad", weight 2/3, label 0):      grad[1] = (⅔·½) / 4 = 1/12
 *                                                            → row[1] = −0.008333 */
static void test_group_lr_by_hand(void **state) {
    (void)state;
    char *tr = tu_write_tmp(tu_group_dir(), "hand.tsv", "label\tsentence\n1\tgood fun\n0\tbad dull bad\n1\tgood\n1\tfun\n");
    const char *ck = tu_group_path("hand.ckpt");
    train_ft_options o = train_ft_options_default();
    o.task = "classify";
    o.init = "bow";
    o.train = tr;
    o.dev = tr;
    o.batch = 4;
    o.epochs = 0;
    o.dropout = 0;
    o.threads = 1;
    o.loop.steps = 1;
    o.loop.optim = OPTIM_SGD;
    o.loop.lr = 0.1f;
    o.loop.sched = OPTIM_SCHED_CONSTANT;
    o.loop.weight_decay = 0;
    o.loop.clip = 0;
    o.loop.quiet = true;
    o.loop.handle_signals = false;
    o.loop.no_fsync = true;
    o.loop.checkpoint = ck;
    o.group[o.ngroup++] = "task.*:lr=0.5";
    assert_int_equal(train_ft_run(&o), 0);
    ckpt_reader *r = ckpt_open(ck);
    assert_non_null(r);
    float bias[2];
    assert_int_equal(ckpt_get_f32_array(r, "/params/task.bias", bias, 1, (const int64_t[]){2}), 0);
    char **words;
    int64_t *counts, n;
    assert_int_equal(ckpt_get_vocab(r, &words, &counts, &n), 0);
    assert_int_equal(n, 4);
    float *E = malloc((size_t)n * 2 * sizeof(float));
    assert_int_equal(ckpt_get_f32_array(r, "/params/embedding.weight", E, 2, (const int64_t[]){n, 2}), 0);
    printf("bias %.6f %.6f\n", (double)bias[0], (double)bias[1]);
    assert_true(fabs(bias[1] - 0.125) < 1e-6 && fabs(bias[0] + 0.125) < 1e-6);
    for (int64_t i = 0; i < n; i++) {
        double want = !strcmp(words[i], "good") ? 0.01875 : !strcmp(words[i], "bad") ? -1.0 / 120 : NAN;
        if (isnan(want)) continue;
        printf("%s: %.7f (want %.7f)\n", words[i], (double)E[i * 2 + 1], want);
        assert_true(fabs(E[i * 2 + 1] - want) < 1e-6 && fabs(E[i * 2] + want) < 1e-6);
    }
    ckpt_free_words(words, n);
    free(counts);
    free(E);
    ckpt_close(r);
    free(tr);
}

/* ---- loading, summary, resume ------------------------------------------------------------------ */

/* From a text-model checkpoint: the report names what was loaded and what is new; --summary lists
 * every parameter with its state; a finetune checkpoint with another head shape is refused, naming
 * both shapes, unless the head is skipped. */
static void test_partial_load_and_summary(void **state) {
    (void)state;
    char *out = NULL;
    int rc = tu_run_ember(&out, "finetune --task classify --init %s --train %s --dev %s --freeze 'enc.layers.0.*' "
                                "--unfreeze 5:enc.layers.0.* --lr-decay 0.5 --summary", g_init, g_train, g_dev);
    if (rc) printf("%s\n", out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "finetune: loaded 41 parameter tensors from")); /* tok, pos, 2 blocks of 16, enc.norm, the MLM head's 5 */
    assert_non_null(strstr(out, "newly initialised: task.out.weight task.out.bias"));
    assert_non_null(strstr(out, "frozen, unfrozen at step 5"));
    assert_non_null(strstr(out, "head.dense.weight"));
    assert_non_null(strstr(out, "trainable"));
    free(out);
    /* a 2-class finetune, then a 3-class one from it */
    const char *ck = tu_group_path("two.ckpt");
    rc = tu_run_ember(&out, "finetune --task classify --init %s --train %s --dev %s --steps 2 --threads 1 --quiet "
                            "--checkpoint %s", g_init, g_train, g_dev, ck);
    if (rc) printf("%s\n", out);
    assert_int_equal(rc, 0);
    free(out);
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "finetune --task classify --init %s --train %s --dev %s --classes 3 --steps 1 --quiet", ck, g_train,
             g_dev);
    expect_error("a head of another shape", cmd, "task.out.weight: shape [2, 32] in file, [3, 32] in model");
    rc = tu_run_ember(&out, "finetune --task classify --init %s --train %s --dev %s --classes 3 --skip 'task.*' --summary", ck,
                      g_train, g_dev);
    if (rc) printf("%s\n", out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "newly initialised: task.out.weight"));
    free(out);
    /* the finetune checkpoint is still a text model for the sentence tools (task.* ignored) */
    rc = tu_run_ember(&out, "embed %s --tokens 'the cat slept'", ck);
    if (rc) printf("%s\n", out);
    assert_int_equal(rc, 0);
    free(out);
}

/* Stopped before the unfreeze and resumed, the run reaches the uninterrupted run's bytes; the
 * checkpoint records the frozen set at its step. */
static void test_resume_mid_schedule(void **state) {
    (void)state;
    const char *a = tu_group_path("straight.ckpt"), *b = tu_group_path("stopped.ckpt");
    const char *common = "finetune --task classify --train %s --dev %s --steps 8 --eval-every 4 --threads 1 --quiet "
                         "--freeze 'enc.*' --freeze 'tok.*' --unfreeze 3:enc.layers.1.* --unfreeze 5:enc.* --lr 1e-3";
    char fmt[2048], *out = NULL;
    snprintf(fmt, sizeof fmt, "%s --init %%s --checkpoint %%s", common);
    int rc = tu_run_ember(&out, fmt, g_train, g_dev, g_init, a);
    if (rc) printf("%s\n", out);
    assert_int_equal(rc, 0);
    free(out);
    snprintf(fmt, sizeof fmt, "%s --init %%s --checkpoint %%s --stop-after 4", common);
    rc = tu_run_ember(&out, fmt, g_train, g_dev, g_init, b);
    assert_int_equal(rc, 3);
    free(out);
    ckpt_reader *r = ckpt_open(b);
    assert_non_null(r);
    char *frozen = NULL;
    assert_int_equal(ckpt_get_string(r, "/state/frozen", &frozen), 0);
    /* at step 4: layer 1 unfrozen (step 3), layer 0 and the final norm not yet (step 5) */
    assert_non_null(strstr(frozen, "enc.layers.0.attn.wq.weight"));
    assert_null(strstr(frozen, "enc.layers.1."));
    assert_non_null(strstr(frozen, "tok.weight"));
    free(frozen);
    ckpt_close(r);
    snprintf(fmt, sizeof fmt, "%s --checkpoint %%s --resume %%s", common);
    rc = tu_run_ember(&out, fmt, g_train, g_dev, b, b);
    if (rc) printf("%s\n", out);
    assert_int_equal(rc, 0);
    free(out);
    ckpt_reader *x = ckpt_open(a), *y = ckpt_open(b);
    assert_non_null(x);
    assert_non_null(y);
    const char *names[] = {"enc.layers.0.attn.wq.weight", "enc.layers.1.mlp.fc1.weight", "task.out.weight", "tok.weight"};
    for (int i = 0; i < 4; i++) {
        char p[128];
        snprintf(p, sizeof p, "/params/%s", names[i]);
        ckpt_info info;
        assert_int_equal(ckpt_get_info(x, p, &info), 0);
        int64_t nel = 1;
        for (int d = 0; d < info.ndim; d++) nel *= info.shape[d];
        float *u = malloc((size_t)nel * sizeof(float)), *v = malloc((size_t)nel * sizeof(float));
        assert_int_equal(ckpt_get_f32_array(x, p, u, info.ndim, info.shape), 0);
        assert_int_equal(ckpt_get_f32_array(y, p, v, info.ndim, info.shape), 0);
        if (memcmp(u, v, (size_t)nel * sizeof(float))) fail_msg("%s differs after resume", names[i]);
        free(u);
        free(v);
    }
    ckpt_close(x);
    ckpt_close(y);
    /* tok.* was frozen all run: its bytes are the init's */
    ckpt_reader *i0 = ckpt_open(g_init);
    x = ckpt_open(a);
    float t0[400 * 32], t1[400 * 32];
    ckpt_info info;
    assert_int_equal(ckpt_get_info(i0, "/params/tok.weight", &info), 0);
    assert_true(info.shape[0] * info.shape[1] <= 400 * 32);
    assert_int_equal(ckpt_get_f32_array(i0, "/params/tok.weight", t0, 2, info.shape), 0);
    assert_int_equal(ckpt_get_f32_array(x, "/params/tok.weight", t1, 2, info.shape), 0);
    assert_memory_equal(t0, t1, (size_t)(info.shape[0] * info.shape[1]) * sizeof(float));
    ckpt_close(i0);
    ckpt_close(x);
}

/* ---- bad input ----------------------------------------------------------------------------------- */

static void test_bad_input(void **state) {
    (void)state;
    char cmd[8192];
    char *bad_label = tu_write_tmp(tu_group_dir(), "bad_label.tsv", "label\tsentence\n0\tthe cat\n2\tthe van\n");
    char *neg = tu_write_tmp(tu_group_dir(), "neg.tsv", "label\tsentence\n0\tthe cat\n-1\tthe van\n");
    char *empty = tu_write_tmp(tu_group_dir(), "empty.tsv", "label\tsentence\n0\tthe cat\n\n1\tthe van\n");
    char *missing = tu_write_tmp(tu_group_dir(), "missing.tsv", "label\tsentence\n0\tthe cat\n1\n");
    char *nosent = tu_write_tmp(tu_group_dir(), "nosent.tsv", "label\tsentence\n0\tthe cat\n1\t  \n");
    snprintf(cmd, sizeof cmd, "finetune --task classify --init bow --train %s --dev %s --classes 2 --steps 1 --quiet", g_train,
             bad_label);
    expect_error("dev label out of range", cmd, "bad_label.tsv:3: label 2 is out of range: expected 0 .. 1");
    snprintf(cmd, sizeof cmd, "finetune --task classify --init bow --train %s --dev %s --steps 1 --quiet", neg, g_dev);
    expect_error("negative label", cmd, "neg.tsv:3: label -1 is out of range");
    snprintf(cmd, sizeof cmd, "finetune --task classify --init bow --train %s --dev %s --steps 1 --quiet", empty, g_dev);
    expect_error("empty line", cmd, "empty.tsv:3: empty line");
    snprintf(cmd, sizeof cmd, "finetune --task classify --init bow --train %s --dev %s --steps 1 --quiet", missing, g_dev);
    expect_error("missing column", cmd, "missing.tsv:3: expected 2 TAB-separated fields");
    snprintf(cmd, sizeof cmd, "finetune --task classify --init bow --train %s --dev %s --steps 1 --quiet", nosent, g_dev);
    expect_error("empty sentence", cmd, "nosent.tsv:3: the sentence (field 2) is empty");
    snprintf(cmd, sizeof cmd, "finetune --task classify --init %s --train %s --dev %s --steps 1 --freeze 'nope.*' --quiet", g_init,
             g_train, g_dev);
    expect_error("freeze glob", cmd, "--freeze 'nope.*': matches no parameter");
    snprintf(cmd, sizeof cmd, "finetune --task classify --init %s --train %s --dev %s --steps 1 --unfreeze 'x' --quiet", g_init,
             g_train, g_dev);
    expect_exit(2, "unfreeze syntax", cmd, "--unfreeze: expected STEP:GLOB or EPOCHSep:GLOB");
    snprintf(cmd, sizeof cmd, "finetune --task classify --init %s --train %s --dev %s --steps 1 --group 'enc.*:lr=x' --quiet",
             g_init, g_train, g_dev);
    expect_error("group syntax", cmd, "--group 'enc.*:lr=x': expected a number");
    char *pp = tu_write_tmp(tu_group_dir(), "few_pairs.tsv", "a cat\ta dog\t3.0\nthe van\tthe bus\t4.0\nthe cake\ta cat\t0.5\n");
    snprintf(cmd, sizeof cmd, "finetune --task pairs --init bow --train %s --dev %s --steps 1 --quiet", pp, pp);
    expect_error("bow on pairs", cmd, "the pairs task needs an encoder or word vectors");
    snprintf(cmd, sizeof cmd, "finetune --task classify --init %s --train %s --dev %s --steps 1 --quiet", g_world, g_train, g_dev);
    expect_error("not a model or vectors", cmd, "--init");
    free(pp);
    free(bad_label);
    free(neg);
    free(empty);
    free(missing);
    free(nosent);
}

/* ---- learning ------------------------------------------------------------------------------------ */

static double final_metric(const char *jsonl, const char *kind, const char *key) {
    double v[4];
    int n = tu_metric_series(jsonl, kind, key, v, 4);
    assert_true(n >= 1);
    return v[n - 1];
}

/* On the world task every starting point learns: the bag of words, word vectors (frozen and not) and
 * the small encoder; `ember eval finetune` reproduces the run's figure and writes predictions. */
static void test_learns_world_task(void **state) {
    (void)state;
    struct {
        const char *name, *args;
        double min_dev;
    } rows[] = {
        {"bow", "--init bow --lr 0.1 --epochs 3", 90},
        {"vec-frozen", "--init VEC --freeze 'embedding.*' --lr 3e-2 --epochs 4", 62},
        {"vec", "--init VEC --lr 1e-2 --epochs 3", 90},
        {"encoder", "--init INIT --lr 2e-3 --epochs 3 --batch 16", 85},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char args[1024], *p;
        snprintf(args, sizeof args, "%s", rows[i].args);
        if ((p = strstr(args, "VEC"))) snprintf(p, sizeof args - (size_t)(p - args), "%s%s", g_vec, strstr(rows[i].args, "VEC") + 3);
        if ((p = strstr(args, "INIT"))) snprintf(p, sizeof args - (size_t)(p - args), "%s%s", g_init, strstr(rows[i].args, "INIT") + 4);
        char m[64], ck[64], pr[64];
        snprintf(m, sizeof m, "%s.jsonl", rows[i].name);
        snprintf(ck, sizeof ck, "%s.ckpt", rows[i].name);
        snprintf(pr, sizeof pr, "%s.pred.tsv", rows[i].name);
        char *mp = tu_path_join(tu_group_dir(), m), *cp = tu_path_join(tu_group_dir(), ck), *pp = tu_path_join(tu_group_dir(), pr);
        char *out = NULL;
        int rc = tu_run_ember(&out, "finetune --task classify --train %s --dev %s %s --threads 1 --metrics %s --checkpoint %s "
                                    "--predictions %s", g_train, g_dev, args, mp, cp, pp);
        if (rc) printf("%s\n", out);
        assert_int_equal(rc, 0);
        free(out);
        double dev[16];
        int ne = tu_metric_series(mp, "eval", "dev_accuracy", dev, 16);
        double best = final_metric(mp, "best_dev", "dev_accuracy");
        printf("%-10s dev accuracy: first eval %.2f, best %.2f\n", rows[i].name, ne ? dev[0] : NAN, best);
        assert_true(best >= rows[i].min_dev);
        /* the checkpoint evaluated again: the best dev figure (the checkpoint is the last step's
         * unless it is the best; use the .best file) */
        char *bp = malloc(strlen(cp) + 8);
        sprintf(bp, "%s.best", cp);
        rc = tu_run_ember(&out, "eval finetune %s --data %s --json", bp, g_dev);
        if (rc) printf("%s\n", out);
        assert_int_equal(rc, 0);
        const char *acc = strstr(out, "\"accuracy\":");
        assert_non_null(acc);
        double again = atof(acc + 11);
        assert_true(fabs(again - best) < 1e-6);
        free(out);
        size_t len;
        char *pred = tu_read_file(pp, &len);
        int64_t lines = 0;
        for (size_t k = 0; k < len; k++) lines += pred[k] == '\n';
        char *devtext = tu_read_file(g_dev, &len);
        int64_t devlines = 0;
        for (size_t k = 0; k < len; k++) devlines += devtext[k] == '\n';
        assert_int_equal(lines, devlines); /* a header and one line per dev row (no --test: predictions on dev) */
        free(devtext);
        free(pred);
        free(bp);
        free(mp);
        free(cp);
        free(pp);
    }
}

/* Pairs: a scored-pair file (s1 TAB s2 TAB score) trains the bi-encoder head on word vectors. */
static void test_pairs_task(void **state) {
    (void)state;
    size_t len;
    char *text = tu_read_file(g_world, &len);
    const char *path = tu_group_path("pairs.tsv");
    FILE *f = fopen(path, "w");
    char *prev = NULL;
    int64_t k = 0;
    for (char *line = strtok(text, "\n"); line && k < 800; line = strtok(NULL, "\n"), k++) {
        /* score 5 for a sentence with itself, 0 with the previous one */
        if (k % 2 == 0 || !prev) fprintf(f, "%s\t%s\t5.0\n", line, line);
        else fprintf(f, "%s\t%s\t%.1f\n", line, prev, is_vehicle_sentence(line) == is_vehicle_sentence(prev) ? 2.5 : 0.0);
        prev = line;
    }
    fclose(f);
    free(text);
    char *out = NULL;
    const char *m = tu_group_path("pairs.jsonl");
    int rc = tu_run_ember(&out, "finetune --task pairs --init %s --train %s --dev %s --epochs 4 --lr 1e-2 --threads 1 --metrics %s",
                          g_vec, path, path, m);
    if (rc) printf("%s\n", out);
    assert_int_equal(rc, 0);
    free(out);
    double sp = final_metric(m, "best_dev", "dev_spearman");
    printf("pairs on word vectors: dev Spearman %.2f\n", sp);
    assert_true(sp > 60);
}

/* SST-2 from the shared data: the bag-of-words floor learns well above chance on a slice. */
static void test_sst2_bow(void **state) {
    (void)state;
    const char *tr = tu_data_path("classification/sst2/train.tsv.gz");
    if (!tr) {
        skip();
        return;
    }
    char *trc = strdup(tr);
    char *dev = strdup(tu_data_path("classification/sst2/dev.tsv"));
    data_labeled_sentences *s;
    assert_int_equal(data_labeled_read(&s, trc), 0);
    const char *sub = tu_group_path("sst2_sub.tsv");
    FILE *f = fopen(sub, "w");
    fputs("label\tsentence\n", f);
    for (int64_t i = 0; i < s->n && i < 20000; i++) fprintf(f, "%d\t%s\n", s->label[i], s->text[i]);
    fclose(f);
    data_labeled_free(s);
    char *out = NULL;
    const char *m = tu_group_path("sst2.jsonl");
    int rc = tu_run_ember(&out, "finetune --task sst2 --init bow --train %s --dev %s --test %s --epochs 2 --lr 0.05 --batch 64 "
                                "--weight-decay 0 --threads 1 --metrics %s", sub, dev, dev, m);
    if (rc) printf("%s\n", out);
    assert_int_equal(rc, 0);
    free(out);
    double acc = final_metric(m, "best_dev", "dev_accuracy");
    printf("SST-2, bag-of-words logistic regression on 20,000 training phrases: dev accuracy %.2f\n", acc);
    assert_true(acc > 72);
    free(trc);
    free(dev);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frozen_no_grad_memory),
        cmocka_unit_test(test_unfreeze_schedule),
        cmocka_unit_test(test_layer_scales),
        cmocka_unit_test(test_group_lr_by_hand),
        cmocka_unit_test(test_partial_load_and_summary),
        cmocka_unit_test(test_resume_mid_schedule),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_learns_world_task),
        cmocka_unit_test(test_pairs_task),
        cmocka_unit_test(test_sst2_bow),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
