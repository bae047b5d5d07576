/* test_ckpt_h5py.c — checkpoints are readable outside ember: h5py reads every dataset and checks
 * every value; the docs/CHECKPOINTS.md PyTorch snippet loads the params into a state_dict. */
#include "support/test_util.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoints/ckpt.h"

/* Values are a formula both sides compute exactly: param p, element k -> (k % 97) * 0.125 - p. */
static float expected(int p, int64_t k) { return (float)(k % 97) * 0.125f - (float)p; }

static const char *py_check =
    "import sys, json\n"
    "import numpy as np, h5py\n"
    "f = h5py.File(sys.argv[1], 'r')\n"
    "a = f.attrs\n"
    "assert a['format'] == 'ember-checkpoint', a['format']\n"
    "assert int(a['format_version']) == 1\n"
    "assert isinstance(a['ember_version'], str)\n"
    "cfg = json.loads(f['config'][()])\n"
    "assert cfg == {'model': 'mlp', 'dims': [3, 5]}, cfg\n"
    "names = ['enc.weight', 'enc.bias', 'blocks.0.attn.wq', 'emb']\n"
    "shapes = [(5, 3), (5,), (2, 3, 4), (7, 2)]\n"
    "assert list(f['params'].keys()) == names, list(f['params'].keys())  # model order\n"
    "for p, (n, s) in enumerate(zip(names, shapes)):\n"
    "    d = f['params'][n]\n"
    "    assert d.dtype == np.float32 and d.shape == s, (n, d.dtype, d.shape)\n"
    "    want = ((np.arange(np.prod(s)) % 97) * 0.125 - p).astype(np.float32).reshape(s)\n"
    "    assert np.array_equal(d[()], want), n\n"
    "o = f['optim']\n"
    "assert o.attrs['kind'] == 'adam' and int(o.attrs['step']) == 1\n"
    "assert abs(o.attrs['beta1'] - 0.9) < 1e-7 and abs(o.attrs['lr'] - 0.01) < 1e-9\n"
    "for n, s in zip(names, shapes):\n"
    "    assert o[n]['exp_avg'].shape == s and o[n]['exp_avg_sq'].shape == s, n\n"
    "    assert o[n]['exp_avg'].dtype == np.float32\n"
    "    assert np.all(np.isfinite(o[n]['exp_avg'][()]))\n"
    "words = f['vocab/words'][()].tobytes().split(b'\\0')[:-1]\n"
    "assert [w.decode() for w in words] == ['</s>', 'the', 'naïve', 'x y'], words\n"
    "assert f['vocab/counts'].dtype == np.int64 and list(f['vocab/counts'][()]) == [0, 9000000000, 7, 1]\n"
    "m = f['tokenizer/merges'][()]\n"
    "assert m.dtype == np.int32 and m.tolist() == [[1, 2], [3, 4], [5, 6]]\n"
    "assert int(f['state/step'][()]) == 1 and int(f['state/epoch'][()]) == 2\n"
    "assert int(f['state/words_done'][()]) == 123456789012\n"
    "assert f['state/lr'][()] == 0.0125\n"
    "r = f['state/rng/main']\n"
    "assert r.dtype == np.uint64 and [int(v) for v in r[()]] == [1, 2**64 - 1, 3, 2**63]\n"
    "assert f['state/data_cursor'][()].tolist() == [0, 10, 2**40]\n"
    "count = []\n"
    "f.visititems(lambda n, o: count.append(n) if isinstance(o, h5py.Dataset) else None)\n"
    "print('h5py read', len(count), 'datasets, all values as written')\n";

/* The snippet from docs/CHECKPOINTS.md (kept in step by hand), then a torch module loads it. */
static const char *py_torch =
    "import sys\n"
    "import h5py, torch\n"
    "def load_state_dict(path):\n"
    "    with h5py.File(path, 'r') as f:\n"
    "        return {name: torch.from_numpy(ds[()]) for name, ds in f['params'].items()}\n"
    "sd = load_state_dict(sys.argv[1])\n"
    "lin = torch.nn.Linear(3, 5)\n"
    "lin.load_state_dict({'weight': sd['enc.weight'], 'bias': sd['enc.bias']})\n"
    "assert lin.weight.shape == (5, 3) and float(lin.bias[1]) == -0.875\n"
    "print('torch state_dict:', sorted(sd))\n";

static int have_python_module(const char *mod) {
    char cmd[256];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 -c 'import %s' >/dev/null 2>&1", mod);
    if (access("/usr/bin/python3", X_OK) != 0) return 0;
    return tu_run(cmd, NULL) == 0;
}

static void write_sample(const char *path) {
    nn_params ps;
    nn_params_init(&ps);
    nn_params_add(&ps, "enc.weight", AG_SHAPE(5, 3), NN_INIT_NONE, 0, 0, false);
    nn_params_add(&ps, "enc.bias", AG_SHAPE(5), NN_INIT_NONE, 0, 0, false);
    nn_params_add(&ps, "blocks.0.attn.wq", AG_SHAPE(2, 3, 4), NN_INIT_NONE, 0, 0, false);
    nn_params_add(&ps, "emb", AG_SHAPE(7, 2), NN_INIT_NONE, 0, 0, true);
    base_rng rng;
    base_rng_seed(&rng, 1);
    nn_params_alloc(&ps, &rng);
    for (int p = 0; p < ps.n; p++)
        for (int64_t k = 0; k < ps.items[p].t->numel; k++) ag_f32(ps.items[p].t)[k] = expected(p, k);
    optim *o = optim_new(&ps, optim_config_default(OPTIM_ADAM, 0.01f));
    /* One step with zero grads: moments exist (zeros), params unchanged (Adam's update is 0). */
    optim_step(o);
    for (int p = 0; p < ps.n; p++)
        for (int64_t k = 0; k < ps.items[p].t->numel; k++) ag_f32(ps.items[p].t)[k] = expected(p, k);
    /* Make sure every parameter has its moments (the sparse one only gets them when touched). */
    for (int p = 0; p < ps.n; p++) {
        int64_t n;
        assert_non_null(optim_state_find(o, ps.items[p].name, "exp_avg", &n));
        assert_non_null(optim_state_find(o, ps.items[p].name, "exp_avg_sq", &n));
    }
    ckpt_writer_options opt = {.gzip_level = 4};
    ckpt_writer *w = ckpt_writer_begin_opts(path, &opt);
    assert_non_null(w);
    assert_int_equal(ckpt_put_config_json(w, "{\"model\": \"mlp\", \"dims\": [3, 5]}"), 0);
    assert_int_equal(ckpt_put_params(w, &ps), 0);
    assert_int_equal(ckpt_put_optim(w, o), 0);
    const char *words[] = {"</s>", "the", "naïve", "x y"};
    int64_t counts[] = {0, 9000000000LL, 7, 1};
    assert_int_equal(ckpt_put_vocab(w, words, counts, 4), 0);
    int32_t merges[] = {1, 2, 3, 4, 5, 6};
    assert_int_equal(ckpt_put_merges(w, merges, 3), 0);
    assert_int_equal(ckpt_put_i64(w, "/state/step", 1), 0);
    assert_int_equal(ckpt_put_i64(w, "/state/epoch", 2), 0);
    assert_int_equal(ckpt_put_i64(w, "/state/words_done", 123456789012LL), 0);
    assert_int_equal(ckpt_put_f64(w, "/state/lr", 0.0125), 0);
    base_rng r = {{1, UINT64_MAX, 3, 1ULL << 63}};
    assert_int_equal(ckpt_put_rng(w, "/state/rng/main", &r), 0);
    int64_t cursor[] = {0, 10, 1LL << 40};
    assert_int_equal(ckpt_put_i64_array(w, "/state/data_cursor", cursor, 3), 0);
    if (ckpt_writer_commit(w) < 0) fail_msg("%s", base_error_msg());
    optim_free(o);
    nn_params_free(&ps);
}

static void run_script(const char *name, const char *script, const char *h5) {
    char sp[4200], cmd[8600];
    snprintf(sp, sizeof sp, "%s", tu_group_path(name));
    assert_int_equal(tu_write_file(sp, script, strlen(script)), 0);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %s", sp, h5);
    char *out = NULL;
    int rc = tu_run(cmd, &out);
    printf("  %s", out ? out : "");
    if (rc != 0) fail_msg("%s failed (exit %d):\n%s", name, rc, out ? out : "");
    free(out);
}

static void test_h5py_reads_everything(void **state) {
    (void)state;
    if (!have_python_module("h5py")) {
        printf("skipped: /usr/bin/python3 with h5py is not available\n");
        skip();
    }
    const char *h5 = tu_group_path("sample.h5");
    write_sample(h5);
    run_script("check.py", py_check, h5);
    /* h5dump (hdf5-tools) also reads it, user block and all. */
    if (access("/usr/bin/h5dump", X_OK) == 0) {
        char cmd[4300], *out = NULL;
        snprintf(cmd, sizeof cmd, "/usr/bin/h5dump -d /state/step %s", h5);
        assert_int_equal(tu_run(cmd, &out), 0);
        assert_non_null(strstr(out, "(0): 1"));
        free(out);
    }
}

static void test_torch_state_dict_snippet(void **state) {
    (void)state;
    if (!have_python_module("h5py") || !have_python_module("torch")) {
        printf("skipped: /usr/bin/python3 with h5py and torch is not available\n");
        skip();
    }
    const char *h5 = tu_group_path("sample.h5");
    write_sample(h5);
    run_script("torch_sd.py", py_torch, h5);
}

/* The other direction: a file written by h5py following docs/CHECKPOINTS.md (no integrity line,
 * variable-length config string) opens unverified, and ember's checks apply to it. */
static void test_reads_h5py_written_file(void **state) {
    (void)state;
    if (!have_python_module("h5py")) {
        printf("skipped: /usr/bin/python3 with h5py is not available\n");
        skip();
    }
    const char *h5 = tu_group_path("from_python.h5");
    run_script("write.py",
               "import sys, h5py, numpy as np\n"
               "with h5py.File(sys.argv[1], 'w') as f:\n"
               "    f.attrs['format'] = 'ember-checkpoint'\n"
               "    f.attrs['format_version'] = 1\n"
               "    f['config'] = '{\"from\": \"python\"}'\n"
               "    f['params/enc.w'] = np.arange(12, dtype=np.float32).reshape(3, 4)\n"
               "    f['params/enc.b'] = np.zeros(4, dtype=np.float64)\n"
               "    f['state/step'] = np.int64(5)\n"
               "print('h5py wrote', sys.argv[1])\n",
               h5);
    ckpt_reader *r = ckpt_open(h5);
    if (!r) fail_msg("%s", base_error_msg());
    assert_false(ckpt_verified(r));
    char *cfg;
    assert_int_equal(ckpt_get_config_json(r, &cfg), 0);
    assert_string_equal(cfg, "{\"from\": \"python\"}");
    free(cfg);
    int64_t step;
    assert_int_equal(ckpt_get_i64(r, "/state/step", &step), 0);
    assert_int_equal(step, 5);
    nn_params ps;
    nn_params_init(&ps);
    nn_params_add(&ps, "enc.w", AG_SHAPE(3, 4), NN_INIT_ZEROS, 0, 0, false);
    nn_params_add(&ps, "enc.b", AG_SHAPE(4), NN_INIT_ZEROS, 0, 0, false);
    base_rng rng;
    base_rng_seed(&rng, 1);
    nn_params_alloc(&ps, &rng);
    assert_int_equal(ckpt_load_params(r, &ps, true), -1);
    assert_non_null(strstr(base_error_msg(), "/params/enc.b: dtype float64 in file, float32 in model"));
    ckpt_load_report rep;
    assert_int_equal(ckpt_load_params_glob(r, &ps, "*", &rep), 1);
    assert_true(ag_f32(ps.items[0].t)[11] == 11.0f);
    ckpt_load_report_free(&rep);
    ckpt_close(r);
    nn_params_free(&ps);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_h5py_reads_everything),
        cmocka_unit_test(test_torch_state_dict_snippet),
        cmocka_unit_test(test_reads_h5py_written_file),
    };
    return cmocka_run_group_tests(tests, tu_group_tempdir_setup, tu_group_tempdir_teardown);
}
