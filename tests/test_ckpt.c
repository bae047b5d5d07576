/* test_ckpt.c — checkpoint round trips, layout, checked getters, strict/partial loads, optim state. */
#include "support/test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoints/ckpt.h"
#include "checkpoints/export.h"

/* A small model: enc.w [4,16], enc.b [16], blocks.0.k [2,3,4], tok.emb [10,4] (sparse). */
static void make_model(nn_params *ps, uint64_t seed, int64_t enc_cols) {
    nn_params_init(ps);
    nn_params_add(ps, "enc.w", AG_SHAPE(4, enc_cols), NN_INIT_NORMAL, 0.5f, 0, false);
    nn_params_add(ps, "enc.b", AG_SHAPE(enc_cols), NN_INIT_UNIFORM, -1, 1, false);
    nn_params_add(ps, "blocks.0.k", AG_SHAPE(2, 3, 4), NN_INIT_NORMAL, 1.0f, 0, false);
    nn_params_add(ps, "tok.emb", AG_SHAPE(10, 4), NN_INIT_NORMAL, 1.0f, 0, true);
    base_rng r;
    base_rng_seed(&r, seed);
    nn_params_alloc(ps, &r);
}

static bool params_equal(const nn_params *a, const nn_params *b) {
    if (a->n != b->n) return false;
    for (int i = 0; i < a->n; i++)
        if (a->items[i].t->numel != b->items[i].t->numel ||
            memcmp(a->items[i].t->data, b->items[i].t->data, (size_t)a->items[i].t->numel * 4) != 0)
            return false;
    return true;
}

/* Runs two Adam steps with synthetic dense grads (sparse param gets a row-sparse grad). */
static optim *trained_optim(nn_params *ps) {
    optim *o = optim_new(ps, optim_config_default(OPTIM_ADAM, 0.01f));
    for (int s = 0; s < 2; s++) {
        for (int i = 0; i < ps->n; i++) {
            ag_tensor *t = ps->items[i].t;
            if (t->flags & AG_SPARSE_GRAD) {
                int32_t rows[2] = {1, 7};
                float vals[8] = {1, 2, 3, 4, 5, 6, 7, 8};
                ag_sparse_grad_add(t, 2, rows, vals);
            } else {
                for (int64_t k = 0; k < t->numel; k++) t->grad[k] = 0.1f * (float)(k % 7) - 0.3f + 0.01f * (float)s;
            }
        }
        optim_step(o);
        nn_params_zero_grad(ps);
    }
    return o;
}

static const char *words[] = {"</s>", "the", "of", "naïve", "x"};
static const int64_t counts[] = {0, 100, 50, 3, 1};
static const int32_t merges[] = {1, 2, 3, 4, 5, 6};
/* doubles whose bits a lossy path would change: a negative zero and the smallest subnormal */
static const double lr_history[] = {0.025, -0.0, 4.9406564584124654e-324};

static void write_full(const char *path, const nn_params *ps, const optim *o, int gzip) {
    ckpt_writer_options opt = {.gzip_level = gzip, .no_fsync = true};
    ckpt_writer *w = ckpt_writer_begin_opts(path, &opt);
    assert_non_null(w);
    assert_int_equal(ckpt_put_config_json(w, "{\"model\": \"tiny\", \"dim\": 16}"), 0);
    assert_int_equal(ckpt_put_params(w, ps), 0);
    if (o) assert_int_equal(ckpt_put_optim(w, o), 0);
    assert_int_equal(ckpt_put_vocab(w, words, counts, 5), 0);
    assert_int_equal(ckpt_put_merges(w, merges, 3), 0);
    assert_int_equal(ckpt_put_i64(w, "/state/step", 1234), 0);
    assert_int_equal(ckpt_put_i64(w, "/state/epoch", 3), 0);
    assert_int_equal(ckpt_put_i64(w, "/state/words_done", 9876543210LL), 0);
    assert_int_equal(ckpt_put_f64(w, "/state/lr", 0.0125), 0);
    base_rng r;
    base_rng_seed(&r, 77);
    assert_int_equal(ckpt_put_rng(w, "/state/rng/main", &r), 0);
    int64_t cursor[3] = {0, 1000, 123456789012LL};
    assert_int_equal(ckpt_put_i64_array(w, "/state/data_cursor", cursor, 3), 0);
    assert_int_equal(ckpt_put_f64_array(w, "/state/lr_history", lr_history, 3), 0);
    assert_int_equal(ckpt_put_string(w, "/state/note", ""), 0);
    assert_int_equal(ckpt_writer_commit(w), 0);
}

static void test_roundtrip(void **state) {
    (void)state;
    nn_params ps, fresh;
    make_model(&ps, 1, 16);
    optim *o = trained_optim(&ps);
    const char *path = tu_group_path("full.h5");
    write_full(path, &ps, o, 0);
    /* No temp file left behind. */
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    assert_int_not_equal(access(tmp, F_OK), 0);

    ckpt_reader *r = ckpt_open(path);
    if (!r) fail_msg("%s", base_error_msg());
    assert_true(ckpt_verified(r));
    assert_int_equal(ckpt_format_version(r), CKPT_FORMAT_VERSION);
    assert_string_equal(ckpt_ember_version(r), EMBER_VERSION);

    make_model(&fresh, 2, 16);
    assert_false(params_equal(&ps, &fresh));
    assert_int_equal(ckpt_load_params(r, &fresh, true), 4);
    assert_true(params_equal(&ps, &fresh));

    optim *o2 = optim_new(&fresh, optim_config_default(OPTIM_ADAM, 0.5f));
    if (ckpt_load_optim(r, o2) < 0) fail_msg("%s", base_error_msg());
    assert_int_equal(optim_get_step(o2), 2);
    assert_true(optim_get_lr(o2) == 0.01f);
    assert_int_equal(optim_state_count(o2), optim_state_count(o));
    for (int i = 0; i < optim_state_count(o); i++) {
        optim_state_view a = optim_state_get(o, i);
        int64_t n = 0;
        float *b = optim_state_find(o2, a.param, a.slot, &n);
        assert_non_null(b);
        assert_int_equal(n, a.numel);
        assert_memory_equal(a.data, b, (size_t)n * 4);
    }
    /* Moments keep the parameter's shape; the per-parameter step is 1-D. */
    ckpt_info info;
    assert_int_equal(ckpt_get_info(r, "/optim/blocks.0.k/exp_avg", &info), 0);
    assert_int_equal(info.ndim, 3);
    assert_int_equal(info.shape[2], 4);
    char kind[32];
    assert_int_equal(ckpt_get_attr_string(r, "/optim", "kind", kind, sizeof kind), 0);
    assert_string_equal(kind, "adam");
    double b2;
    assert_int_equal(ckpt_get_attr_f64(r, "/optim", "beta2", &b2), 0);
    assert_true(b2 == (double)0.999f);

    char **ws;
    int64_t *cs, nw;
    assert_int_equal(ckpt_get_vocab(r, &ws, &cs, &nw), 0);
    assert_int_equal(nw, 5);
    for (int i = 0; i < 5; i++) {
        assert_string_equal(ws[i], words[i]);
        assert_int_equal(cs[i], counts[i]);
    }
    ckpt_free_words(ws, nw);
    free(cs);
    int32_t *mg;
    int64_t m;
    assert_int_equal(ckpt_get_merges(r, &mg, &m), 0);
    assert_int_equal(m, 3);
    assert_memory_equal(mg, merges, sizeof merges);
    free(mg);

    int64_t v;
    double d;
    assert_int_equal(ckpt_get_i64(r, "/state/step", &v), 0);
    assert_int_equal(v, 1234);
    assert_int_equal(ckpt_get_i64(r, "/state/words_done", &v), 0);
    assert_true(v == 9876543210LL);
    assert_int_equal(ckpt_get_f64(r, "/state/lr", &d), 0);
    assert_true(d == 0.0125);
    base_rng rr, want;
    base_rng_seed(&want, 77);
    assert_int_equal(ckpt_get_rng(r, "/state/rng/main", &rr), 0);
    assert_memory_equal(&rr, &want, sizeof rr);
    int64_t cur[3];
    assert_int_equal(ckpt_get_i64_array(r, "/state/data_cursor", cur, 3), 0);
    assert_true(cur[2] == 123456789012LL);
    double hist[3];
    assert_int_equal(ckpt_get_f64_array(r, "/state/lr_history", hist, 3), 0);
    assert_memory_equal(hist, lr_history, sizeof hist);
    char *s;
    assert_int_equal(ckpt_get_config_json(r, &s), 0);
    assert_string_equal(s, "{\"model\": \"tiny\", \"dim\": 16}");
    free(s);
    assert_int_equal(ckpt_get_string(r, "/state/note", &s), 0);
    assert_string_equal(s, "");
    free(s);
    assert_true(ckpt_has(r, "/params/enc.w"));
    assert_false(ckpt_has(r, "/params/nope"));
    assert_false(ckpt_has(r, "/params"));
    ckpt_close(r);
    optim_free(o2);
    optim_free(o);
    nn_params_free(&fresh);
    nn_params_free(&ps);
}

typedef struct {
    char paths[64][128];
    int n;
} visit_ctx;

static int collect(const char *path, const ckpt_info *info, void *ctx) {
    visit_ctx *v = ctx;
    if (v->n < 64) snprintf(v->paths[v->n++], 128, "%s%s", path, info ? "" : "/");
    return 0;
}

static void test_visit_creation_order(void **state) {
    (void)state;
    nn_params ps;
    make_model(&ps, 1, 16);
    const char *path = tu_group_path("visit.h5");
    write_full(path, &ps, NULL, 0);
    ckpt_reader *r = ckpt_open(path);
    assert_non_null(r);
    visit_ctx v = {0};
    assert_int_equal(ckpt_visit(r, collect, &v), 0);
    const char *want[] = {"/config", "/params/", "/params/enc.w", "/params/enc.b", "/params/blocks.0.k",
                          "/params/tok.emb", "/vocab/", "/vocab/words", "/vocab/counts", "/tokenizer/",
                          "/tokenizer/merges", "/state/", "/state/step"};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) assert_string_equal(v.paths[i], want[i]);
    ckpt_close(r);
    nn_params_free(&ps);
}

static void test_gzip_roundtrip_and_smaller(void **state) {
    (void)state;
    nn_params ps, fresh;
    nn_params_init(&ps);
    nn_params_add(&ps, "big", AG_SHAPE(512, 300), NN_INIT_ZEROS, 0, 0, false);
    nn_params_add(&ps, "rand", AG_SHAPE(3000), NN_INIT_NORMAL, 1, 0, false);
    base_rng rng;
    base_rng_seed(&rng, 5);
    nn_params_alloc(&ps, &rng);
    for (int i = 0; i < 512 * 300; i += 7) ag_f32(ps.items[0].t)[i] = (float)i;
    const char *plain = tu_group_path("plain.h5"), *gz = tu_group_path("gz.h5");
    ckpt_writer_options o0 = {.no_fsync = true}, o6 = {.gzip_level = 6, .no_fsync = true};
    ckpt_writer *w = ckpt_writer_begin_opts(plain, &o0);
    assert_int_equal(ckpt_put_params(w, &ps), 0);
    assert_int_equal(ckpt_writer_commit(w), 0);
    w = ckpt_writer_begin_opts(gz, &o6);
    assert_int_equal(ckpt_put_params(w, &ps), 0);
    assert_int_equal(ckpt_writer_commit(w), 0);
    struct stat a, b;
    assert_int_equal(stat(plain, &a), 0);
    assert_int_equal(stat(gz, &b), 0);
    assert_true(b.st_size * 3 < a.st_size);
    nn_params_init(&fresh);
    nn_params_add(&fresh, "big", AG_SHAPE(512, 300), NN_INIT_ONES, 0, 0, false);
    nn_params_add(&fresh, "rand", AG_SHAPE(3000), NN_INIT_ONES, 0, 0, false);
    nn_params_alloc(&fresh, &rng);
    ckpt_reader *r = ckpt_open(gz);
    assert_non_null(r);
    assert_int_equal(ckpt_load_params(r, &fresh, true), 2);
    assert_true(params_equal(&ps, &fresh));
    ckpt_info info;
    assert_int_equal(ckpt_get_info(r, "/params/big", &info), 0);
    assert_true(info.storage_bytes < 512 * 300 * 4 / 3);
    ckpt_close(r);
    nn_params_free(&fresh);
    nn_params_free(&ps);
}

static void test_strict_load_lists_differences(void **state) {
    (void)state;
    nn_params ps, other;
    make_model(&ps, 1, 16);
    const char *path = tu_group_path("strict.h5");
    write_full(path, &ps, NULL, 0);
    /* other: enc.w [4,8] (shape), no blocks.0.k (unexpected in file), extra head.w (missing). */
    nn_params_init(&other);
    nn_params_add(&other, "enc.w", AG_SHAPE(4, 8), NN_INIT_ONES, 0, 0, false);
    nn_params_add(&other, "enc.b", AG_SHAPE(16), NN_INIT_ONES, 0, 0, false);
    nn_params_add(&other, "tok.emb", AG_SHAPE(10, 4), NN_INIT_ONES, 0, 0, true);
    nn_params_add(&other, "head.w", AG_SHAPE(4), NN_INIT_ONES, 0, 0, false);
    base_rng rng;
    base_rng_seed(&rng, 1);
    nn_params_alloc(&other, &rng);
    ckpt_reader *r = ckpt_open(path);
    assert_non_null(r);
    assert_int_equal(ckpt_load_params(r, &other, true), -1);
    const char *m = base_error_msg();
    printf("strict: %s\n", m);
    assert_non_null(strstr(m, path));
    assert_non_null(strstr(m, "3 differences"));
    assert_non_null(strstr(m, "/params/enc.w: shape [4, 16] in file, [4, 8] in model"));
    assert_non_null(strstr(m, "/params/head.w: missing in file"));
    assert_non_null(strstr(m, "/params/blocks.0.k: unexpected in file"));
    /* Nothing was modified. */
    for (int i = 0; i < other.n; i++)
        for (int64_t k = 0; k < other.items[i].t->numel; k++) assert_true(ag_f32(other.items[i].t)[k] == 1.0f);

    /* Partial load: only enc.* is asked for; enc.b loads, enc.w is skipped for its shape. */
    ckpt_load_report rep;
    assert_int_equal(ckpt_load_params_glob(r, &other, "enc.*", &rep), 1);
    ckpt_load_report_print(&rep, stdout);
    assert_int_equal(rep.nloaded, 1);
    assert_string_equal(rep.loaded[0], "enc.b");
    assert_int_equal(rep.nskipped, 3);
    assert_string_equal(rep.skipped[0], "enc.w: shape [4, 16] in file, [4, 8] in model");
    assert_string_equal(rep.skipped[1], "tok.emb: not selected by 'enc.*'");
    assert_string_equal(rep.skipped[2], "head.w: not selected by 'enc.*'");
    assert_memory_equal(other.items[1].t->data, ps.items[1].t->data, 16 * 4);
    ckpt_load_report_free(&rep);
    assert_int_equal(ckpt_load_params_glob(r, &other, "*", &rep), 2);
    assert_int_equal(rep.nloaded, 2); /* enc.b, tok.emb */
    bool saw_unexpected = false, saw_missing = false;
    for (int i = 0; i < rep.nskipped; i++) {
        saw_unexpected |= strcmp(rep.skipped[i], "blocks.0.k: in file but not in model") == 0;
        saw_missing |= strcmp(rep.skipped[i], "head.w: not in file") == 0;
    }
    assert_true(saw_unexpected && saw_missing);
    ckpt_load_report_free(&rep);
    /* Non-strict load = glob "*" without a report. */
    assert_int_equal(ckpt_load_params(r, &other, false), 2);
    ckpt_close(r);
    nn_params_free(&other);
    nn_params_free(&ps);
}

static void test_getter_messages(void **state) {
    (void)state;
    nn_params ps;
    make_model(&ps, 1, 16);
    const char *path = tu_group_path("get.h5");
    write_full(path, &ps, NULL, 0);
    ckpt_reader *r = ckpt_open(path);
    assert_non_null(r);
    float buf[64];
    assert_int_equal(ckpt_get_f32_array(r, "/params/enc.w", buf, AG_SHAPE(4, 8)), -1);
    char want[4400];
    snprintf(want, sizeof want, "%s: /params/enc.w: shape [4, 16] in file, [4, 8] expected", path);
    assert_string_equal(base_error_msg(), want);
    int64_t v;
    assert_int_equal(ckpt_get_i64(r, "/state/lr", &v), -1);
    snprintf(want, sizeof want, "%s: /state/lr: dtype float64 in file, int64 expected", path);
    assert_string_equal(base_error_msg(), want);
    assert_int_equal(ckpt_get_i64(r, "/state/nothing", &v), -1);
    snprintf(want, sizeof want, "%s: /state/nothing: missing in file", path);
    assert_string_equal(base_error_msg(), want);
    assert_int_equal(ckpt_get_i64(r, "/nogroup/x/y", &v), -1);
    assert_non_null(strstr(base_error_msg(), "missing in file"));
    assert_int_equal(ckpt_get_i64(r, "/state", &v), -1);
    assert_non_null(strstr(base_error_msg(), "is a group"));
    int64_t cur[2];
    assert_int_equal(ckpt_get_i64_array(r, "/state/data_cursor", cur, 2), -1);
    assert_non_null(strstr(base_error_msg(), "shape [3] in file, [2] expected"));
    double hist[4];
    assert_int_equal(ckpt_get_f64_array(r, "/state/lr_history", hist, 4), -1);
    assert_non_null(strstr(base_error_msg(), "/state/lr_history: shape [3] in file, [4] expected"));
    assert_int_equal(ckpt_get_f64_array(r, "/state/data_cursor", hist, 3), -1);
    assert_non_null(strstr(base_error_msg(), "/state/data_cursor: dtype int64 in file, float64 expected"));
    /* No optimizer state was saved. */
    optim *o = optim_new(&ps, optim_config_default(OPTIM_SGD, 0.1f));
    assert_int_equal(ckpt_load_optim(r, o), -1);
    assert_non_null(strstr(base_error_msg(), "/optim: missing in file"));
    optim_free(o);
    ckpt_close(r);
    nn_params_free(&ps);
}

static void test_optim_mismatch(void **state) {
    (void)state;
    nn_params ps, small;
    make_model(&ps, 1, 16);
    optim *o = trained_optim(&ps);
    const char *path = tu_group_path("optim.h5");
    write_full(path, &ps, o, 0);
    ckpt_reader *r = ckpt_open(path);
    assert_non_null(r);
    optim *sgd = optim_new(&ps, optim_config_default(OPTIM_SGD, 0.1f));
    assert_int_equal(ckpt_load_optim(r, sgd), -1);
    assert_non_null(strstr(base_error_msg(), "optimizer kind 'adam' in file, 'sgd' in the optimizer"));
    make_model(&small, 1, 8);
    optim *o2 = optim_new(&small, optim_config_default(OPTIM_ADAM, 0.1f));
    assert_int_equal(ckpt_load_optim(r, o2), -1);
    printf("optim: %s\n", base_error_msg());
    assert_non_null(strstr(base_error_msg(), "/optim/enc.w/exp_avg: 64 values in file, 32 in the optimizer"));
    assert_int_equal(optim_get_step(o2), 0);
    optim_free(o2);
    optim_free(sgd);
    ckpt_close(r);
    optim_free(o);
    nn_params_free(&small);
    nn_params_free(&ps);
}

static void test_writer_errors_and_atomicity(void **state) {
    (void)state;
    nn_params ps, bad;
    make_model(&ps, 1, 16);
    const char *path = tu_group_path("atomic.h5");
    write_full(path, &ps, NULL, 0);
    size_t n0;
    char *before = tu_read_file(path, &n0);

    /* A name with '/' fails; the writer is then only good for abort; the old file is intact. */
    nn_params_init(&bad);
    nn_params_add(&bad, "a/b", AG_SHAPE(2), NN_INIT_ZEROS, 0, 0, false);
    base_rng rng;
    base_rng_seed(&rng, 1);
    nn_params_alloc(&bad, &rng);
    ckpt_writer *w = ckpt_writer_begin(path);
    assert_non_null(w);
    assert_int_equal(ckpt_put_params(w, &bad), -1);
    assert_non_null(strstr(base_error_msg(), "'a/b'"));
    assert_int_equal(ckpt_put_i64(w, "/state/step", 1), -1);
    assert_int_equal(ckpt_writer_commit(w), -1);
    assert_non_null(strstr(base_error_msg(), "checkpoint not saved"));

    w = ckpt_writer_begin(path);
    assert_int_equal(ckpt_put_i64(w, "/state/step", 1), 0);
    assert_int_equal(ckpt_put_i64(w, "/state/step", 2), -1);
    assert_non_null(strstr(base_error_msg(), "/state/step: written twice"));
    ckpt_writer_abort(w);
    w = ckpt_writer_begin(path);
    assert_int_equal(ckpt_put_i64(w, "state/step", 1), -1);
    assert_non_null(strstr(base_error_msg(), "expected an absolute path"));
    ckpt_writer_abort(w);

    size_t n1;
    char *after = tu_read_file(path, &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(before, after, n0);
    free(before);
    free(after);

    /* Missing directory: begin fails naming the path. */
    assert_null(ckpt_writer_begin(tu_group_path("no/such/dir/x.h5")));
    assert_non_null(strstr(base_error_msg(), "No such file or directory"));
    /* A directory as target. */
    assert_null(ckpt_writer_begin(tu_group_dir()));
    assert_non_null(strstr(base_error_msg(), "is a directory"));
    nn_params_free(&bad);
    nn_params_free(&ps);
}

/* `ember ckpt info`: tree, counts and step on a good file (text and JSON); exit 1 on a bad one. */
static void test_cli_info(void **state) {
    (void)state;
    if (access(tu_ember_bin(), X_OK) != 0) {
        printf("skipped: the ember command (%s) is not built\n", tu_ember_bin());
        skip();
    }
    nn_params ps;
    make_model(&ps, 1, 16);
    optim *o = trained_optim(&ps);
    const char *path = tu_group_path("cli.h5");
    write_full(path, &ps, o, 0);
    char *out = NULL;
    assert_int_equal(tu_run_ember(&out, "ckpt info %s", path), 0);
    assert_non_null(strstr(out, "integrity verified"));
    assert_non_null(strstr(out, "parameters  4 tensors, 144 values"));
    assert_non_null(strstr(out, "step 1234 epoch 3 words done 9876543210"));
    assert_non_null(strstr(out, "optimizer   adam, step 2"));
    assert_non_null(strstr(out, "/params/blocks.0.k"));
    assert_non_null(strstr(out, "[2, 3, 4]"));
    free(out);
    assert_int_equal(tu_run_ember(&out, "ckpt info --json %s", path), 0);
    assert_non_null(strstr(out, "\"param_count\": 144"));
    assert_non_null(strstr(out, "\"words_done\": 9876543210"));
    assert_non_null(strstr(out, "{\"path\": \"/params/enc.w\", \"dtype\": \"float32\", \"shape\": [4, 16]"));
    free(out);
    /* A truncated copy: exit 1 with the reason. */
    size_t n;
    char *bytes = tu_read_file(path, &n);
    const char *cut = tu_group_path("cli-cut.h5");
    assert_int_equal(tu_write_file(cut, bytes, n / 2), 0);
    free(bytes);
    assert_int_equal(tu_run_ember(&out, "ckpt info %s", cut), 1);
    assert_non_null(strstr(out, "ember ckpt info: "));
    assert_non_null(strstr(out, "truncated"));
    free(out);
    assert_int_equal(tu_run_ember(&out, "ckpt info"), 2);
    free(out);
    optim_free(o);
    nn_params_free(&ps);
}

/* `ember ckpt export`: the vocab-sized parameter to word2vec text/binary/TSV, byte-identical to
 * ckpt_export_word2vec; a wrong --param is an error. */
/* Writes a checkpoint with the 5-word vocabulary and one normal-initialised parameter per name
 * (shape [rows_i, cols_i]). */
static void write_named(const char *path, int n, const char *const *names, const int64_t (*shapes)[2]) {
    nn_params ps;
    nn_params_init(&ps);
    for (int i = 0; i < n; i++) nn_params_add(&ps, names[i], AG_SHAPE(shapes[i][0], shapes[i][1]), NN_INIT_NORMAL, 1, 0, true);
    base_rng rng;
    base_rng_seed(&rng, 9);
    nn_params_alloc(&ps, &rng);
    ckpt_writer *w = ckpt_writer_begin(path);
    assert_non_null(w);
    assert_int_equal(ckpt_put_params(w, &ps), 0);
    assert_int_equal(ckpt_put_vocab(w, words, counts, 5), 0);
    assert_int_equal(ckpt_writer_commit(w), 0);
    nn_params_free(&ps);
}

/* One rule picks the embedding for every reader: syn0 over syn1neg (a Word2Vec checkpoint, as
 * `ember demo` writes), tok_emb over a vocab-sized head, an error naming the candidates on a tie,
 * and a named --param checked for shape. `ckpt export` needs no --param on a Word2Vec checkpoint. */
static void test_pick_embedding(void **state) {
    (void)state;
    char path[4200], picked[512];
    snprintf(path, sizeof path, "%s", tu_group_path("pick.h5"));
    ckpt_info info;

    const char *w2v[] = {"syn1neg", "syn0"};
    const int64_t w2v_shape[][2] = {{5, 3}, {5, 3}};
    write_named(path, 2, w2v, w2v_shape);
    ckpt_reader *r = ckpt_open(path);
    assert_non_null(r);
    assert_int_equal(ckpt_pick_embedding(r, 5, NULL, picked, sizeof picked, &info), 0);
    assert_string_equal(picked, "/params/syn0");
    assert_int_equal(info.shape[1], 3);
    assert_int_equal(ckpt_pick_embedding(r, 5, "syn1neg", picked, sizeof picked, NULL), 0);
    assert_string_equal(picked, "/params/syn1neg");
    assert_int_equal(ckpt_pick_embedding(r, 4, NULL, picked, sizeof picked, NULL), -1); /* wrong vocab size */
    assert_non_null(strstr(base_error_msg(), "with 4 rows"));
    assert_int_equal(ckpt_pick_embedding(r, 5, "nothere", picked, sizeof picked, NULL), -1);
    ckpt_close(r);
    if (access(tu_ember_bin(), X_OK) == 0) {
        char *out = NULL;
        if (tu_run_ember(&out, "ckpt export %s -o %s", path, tu_group_path("pick.txt")) != 0) fail_msg("ember ckpt export: %s", out);
        assert_non_null(strstr(out, "of /params/syn0"));
        free(out);
    }

    const char *bert[] = {"enc.tok_emb.weight", "head.weight", "head.bias_t"};
    const int64_t bert_shape[][2] = {{5, 4}, {5, 4}, {4, 5}};
    write_named(path, 3, bert, bert_shape);
    r = ckpt_open(path);
    assert_int_equal(ckpt_pick_embedding(r, 5, NULL, picked, sizeof picked, &info), 0);
    assert_string_equal(picked, "/params/enc.tok_emb.weight");
    assert_int_equal(ckpt_pick_embedding(r, 5, "/params/head.bias_t", picked, sizeof picked, NULL), -1);
    assert_non_null(strstr(base_error_msg(), "expected float32 [5, dim]"));
    ckpt_close(r);

    const char *tie[] = {"a", "b", "c"};
    const int64_t tie_shape[][2] = {{5, 2}, {5, 2}, {2, 5}};
    write_named(path, 3, tie, tie_shape);
    r = ckpt_open(path);
    assert_int_equal(ckpt_pick_embedding(r, 5, NULL, picked, sizeof picked, NULL), -1);
    assert_non_null(strstr(base_error_msg(), "2 float32 parameters"));
    assert_non_null(strstr(base_error_msg(), "(a, b)"));
    assert_non_null(strstr(base_error_msg(), "--param"));
    assert_int_equal(ckpt_pick_embedding(r, 5, "b", picked, sizeof picked, NULL), 0);
    ckpt_close(r);
}

static void test_cli_export(void **state) {
    (void)state;
    if (access(tu_ember_bin(), X_OK) != 0) {
        printf("skipped: the ember command (%s) is not built\n", tu_ember_bin());
        skip();
    }
    nn_params ps;
    nn_params_init(&ps);
    nn_params_add(&ps, "emb.in", AG_SHAPE(5, 3), NN_INIT_NORMAL, 1, 0, true);
    nn_params_add(&ps, "head", AG_SHAPE(3, 5), NN_INIT_NORMAL, 1, 0, false);
    base_rng rng;
    base_rng_seed(&rng, 4);
    nn_params_alloc(&ps, &rng);
    /* tu_group_path() rotates through 4 buffers: keep our own copies of the 5 names used below. */
    char path[4200], direct[4200], directb[4200], viacli[4200], viaclib[4200];
    snprintf(path, sizeof path, "%s", tu_group_path("w2v.h5"));
    snprintf(direct, sizeof direct, "%s", tu_group_path("direct.txt"));
    snprintf(directb, sizeof directb, "%s", tu_group_path("direct.bin"));
    snprintf(viacli, sizeof viacli, "%s", tu_group_path("cli.txt"));
    snprintf(viaclib, sizeof viaclib, "%s", tu_group_path("cli.bin"));
    ckpt_writer *w = ckpt_writer_begin(path);
    assert_int_equal(ckpt_put_params(w, &ps), 0);
    assert_int_equal(ckpt_put_vocab(w, words, counts, 5), 0);
    assert_int_equal(ckpt_writer_commit(w), 0);
    assert_int_equal(ckpt_export_word2vec(direct, words, ag_f32(ps.items[0].t), 5, 3, false), 0);
    assert_int_equal(ckpt_export_word2vec(directb, words, ag_f32(ps.items[0].t), 5, 3, true), 0);
    char *out = NULL;
    if (tu_run_ember(&out, "ckpt export %s -o %s", path, viacli) != 0) fail_msg("ember ckpt export: %s", out);
    assert_non_null(strstr(out, "5 words x 3 dims of /params/emb.in"));
    free(out);
    assert_int_equal(tu_run_ember(&out, "ckpt export %s --param emb.in --format binary -o %s", path, viaclib), 0);
    free(out);
    size_t n1, n2;
    char *a = tu_read_file(direct, &n1), *b = tu_read_file(viacli, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(a, b, n1);
    free(a);
    free(b);
    a = tu_read_file(directb, &n1);
    b = tu_read_file(viaclib, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(a, b, n1);
    free(a);
    free(b);
    assert_int_equal(tu_run_ember(&out, "ckpt export %s --format tsv -o %s", path, tu_group_path("v.tsv")), 0);
    free(out);
    a = tu_read_file(tu_group_path("v_metadata.tsv"), NULL);
    assert_string_equal(a, "</s>\nthe\nof\nnaïve\nx\n");
    free(a);
    assert_int_equal(tu_run_ember(&out, "ckpt export %s --param head -o %s", path, tu_group_path("bad.txt")), 1);
    assert_non_null(strstr(out, "/params/head: float32 with 2 dims in file, expected float32 [5, dim]"));
    free(out);
    nn_params_free(&ps);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_visit_creation_order),
        cmocka_unit_test(test_gzip_roundtrip_and_smaller),
        cmocka_unit_test(test_strict_load_lists_differences),
        cmocka_unit_test(test_getter_messages),
        cmocka_unit_test(test_optim_mismatch),
        cmocka_unit_test(test_writer_errors_and_atomicity),
        cmocka_unit_test(test_cli_info),
        cmocka_unit_test(test_cli_export),
        cmocka_unit_test(test_pick_embedding),
    };
    return cmocka_run_group_tests(tests, tu_group_tempdir_setup, tu_group_tempdir_teardown);
}
