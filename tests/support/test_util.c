/* test_util.c — implementation of the cmocka test helpers (data lookup, fixtures, temp dirs). */
#define _GNU_SOURCE
#include "test_util.h"

#include "nn/params.h"

#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

const char *tu_data_dir(void) {
    const char *d = getenv("EMBER_DATA_DIR");
    struct stat st;
    if (!d || stat(d, &st) != 0 || !S_ISDIR(st.st_mode)) return NULL;
    return d;
}

const char *tu_data_path(const char *rel) {
    static _Thread_local char buf[4096];
    const char *d = tu_data_dir();
    if (!d) {
        printf("skipped: shared data directory not found ($EMBER_DATA_DIR=%s); %s is needed\n",
               getenv("EMBER_DATA_DIR") ? getenv("EMBER_DATA_DIR") : "(unset)", rel);
        return NULL;
    }
    snprintf(buf, sizeof buf, "%s/%s", d, rel);
    if (access(buf, R_OK) != 0) {
        printf("skipped: %s not found\n", buf);
        return NULL;
    }
    return buf;
}

const char *tu_source_path(const char *rel) {
    static _Thread_local char buf[4096];
    const char *d = getenv("EMBER_SOURCE_DIR");
    snprintf(buf, sizeof buf, "%s/%s", d ? d : EMBER_SOURCE_DIR, rel);
    return buf;
}

const char *tu_ember_bin(void) {
    const char *b = getenv("EMBER_BIN");
    return b ? b : "./ember";
}

char *tu_tempdir(void) {
    const char *base = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/ember-test-XXXXXX", base ? base : "/tmp");
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    return base_xstrdup(d);
}

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void tu_rmtree(const char *dir) {
    if (dir) nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static char *group_dir; /* tu_group_tempdir_setup's directory, heap */

int tu_group_tempdir_setup(void **state) {
    (void)state;
    group_dir = tu_tempdir();
    return 0;
}

int tu_group_tempdir_teardown(void **state) {
    (void)state;
    tu_rmtree(group_dir);
    free(group_dir);
    group_dir = NULL;
    return 0;
}

const char *tu_group_dir(void) {
    assert_non_null(group_dir);
    return group_dir;
}

const char *tu_group_path(const char *name) {
    static char buf[4][4096];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tu_group_dir(), name);
    return buf[k];
}

char *tu_path_join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = base_xmalloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

int tu_write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, n, f);
    return (fclose(f) == 0 && w == n) ? 0 : -1;
}

char *tu_write_tmp(const char *dir, const char *name, const char *text) {
    char *p = tu_path_join(dir, name);
    assert_int_equal(tu_write_file(p, text, strlen(text)), 0);
    return p;
}

int tu_write_gz(const char *path, const void *data, size_t n, int level) {
    char mode[8];
    snprintf(mode, sizeof mode, "wb%d", level);
    gzFile g = gzopen(path, mode);
    if (!g) return -1;
    size_t done = 0;
    while (done < n) {
        unsigned chunk = (unsigned)((n - done) > (1u << 30) ? (1u << 30) : (n - done));
        if (gzwrite(g, (const char *)data + done, chunk) != (int)chunk) break;
        done += chunk;
    }
    return (gzclose(g) == Z_OK && done == n) ? 0 : -1;
}

char *tu_read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, len = 0;
    char *buf = base_xmalloc(cap + 1);
    size_t r;
    while ((r = fread(buf + len, 1, cap - len, f)) > 0) {
        len += r;
        if (len == cap) buf = base_xrealloc(buf, (cap *= 2) + 1);
    }
    fclose(f);
    buf[len] = 0;
    if (n) *n = len;
    return buf;
}

int tu_run(const char *cmd, char **out) {
    char full[8192];
    snprintf(full, sizeof full, "%s 2>&1", cmd);
    FILE *p = popen(full, "r");
    if (!p) return -1;
    size_t cap = 4096, len = 0;
    char *buf = base_xmalloc(cap + 1);
    size_t r;
    while ((r = fread(buf + len, 1, cap - len, p)) > 0) {
        len += r;
        if (len == cap) buf = base_xrealloc(buf, (cap *= 2) + 1);
    }
    buf[len] = 0;
    int st = pclose(p);
    if (out) *out = buf;
    else free(buf);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int tu_run_ember(char **out, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    const char *bin = tu_ember_bin();
    size_t len = strlen(bin) + 1 + (size_t)n + 1;
    char *cmd = base_xmalloc(len);
    int k = snprintf(cmd, len, "%s ", bin);
    va_start(ap, fmt);
    vsnprintf(cmd + k, len - (size_t)k, fmt, ap);
    va_end(ap);
    int rc = tu_run(cmd, out);
    free(cmd);
    return rc;
}

typedef struct {
    char name[128];
    int ndim;
    int64_t shape[AG_MAX_DIMS];
    int64_t numel;
    float *v;
} fx_rec;

struct tu_fixture {
    fx_rec *recs;
    int n;
};

tu_fixture *tu_fixture_load(const char *rel_path) {
    const char *path = tu_source_path(rel_path);
    FILE *f = fopen(path, "r");
    if (!f) fail_msg("fixture %s not found", path);
    tu_fixture *fx = base_xcalloc(1, sizeof *fx);
    int cap = 0;
    char name[128];
    int ndim;
    while (fscanf(f, "%127s %d", name, &ndim) == 2) {
        if (fx->n == cap) fx->recs = base_xrealloc(fx->recs, (size_t)(cap = cap ? cap * 2 : 32) * sizeof(fx_rec));
        fx_rec *r = &fx->recs[fx->n++];
        memset(r, 0, sizeof *r);
        snprintf(r->name, sizeof r->name, "%s", name);
        if (ndim < 0 || ndim > AG_MAX_DIMS) fail_msg("fixture %s: record %s has ndim %d", path, name, ndim);
        r->ndim = ndim;
        r->numel = 1;
        for (int i = 0; i < ndim; i++) {
            long long d;
            if (fscanf(f, "%lld", &d) != 1) fail_msg("fixture %s: record %s: bad shape", path, name);
            r->shape[i] = d;
            r->numel *= d;
        }
        r->v = base_xmalloc((size_t)(r->numel ? r->numel : 1) * sizeof(float));
        for (int64_t i = 0; i < r->numel; i++)
            if (fscanf(f, "%f", &r->v[i]) != 1) fail_msg("fixture %s: record %s: value %lld missing", path, name, (long long)i);
    }
    fclose(f);
    return fx;
}

static const fx_rec *fx_find(const tu_fixture *fx, const char *name) {
    for (int i = 0; i < fx->n; i++)
        if (!strcmp(fx->recs[i].name, name)) return &fx->recs[i];
    return NULL;
}

bool tu_fixture_has(const tu_fixture *fx, const char *name) { return fx_find(fx, name) != NULL; }

const float *tu_fixture_get(const tu_fixture *fx, const char *name, int *ndim, int64_t *shape) {
    const fx_rec *r = fx_find(fx, name);
    if (!r) fail_msg("fixture record '%s' missing", name);
    if (ndim) *ndim = r->ndim;
    if (shape)
        for (int i = 0; i < r->ndim; i++) shape[i] = r->shape[i];
    return r->v;
}

void tu_fixture_free(tu_fixture *fx) {
    if (!fx) return;
    for (int i = 0; i < fx->n; i++) free(fx->recs[i].v);
    free(fx->recs);
    free(fx);
}

double tu_max_rel_err(const float *a, const float *b, int64_t n) {
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]) / fmax(1.0, fabs((double)b[i]));
        if (e > worst || isnan(e)) worst = isnan(e) ? INFINITY : e;
    }
    return worst;
}

void tu_assert_close(const char *label, const float *a, const float *b, int64_t n, double tol) {
    double worst = 0;
    int64_t wi = 0;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]) / fmax(1.0, fabs((double)b[i]));
        if (e > worst || isnan(e)) {
            worst = isnan(e) ? INFINITY : e;
            wi = i;
        }
    }
    if (worst > tol)
        fail_msg("%s: max rel err %.3e > %.1e at [%lld]: got %.9g want %.9g", label, worst, tol, (long long)wi,
                 (double)a[wi], (double)b[wi]);
}

/* No gradient check may be looser than this: f32 central differences with eps 1e-3 stay below
 * ~1e-3 on every op here (worst seen 8.4e-4), and a looser bound would let a backward that is
 * wrong by a fraction of a percent pass. */
#define TU_GRADCHECK_MAX_TOL 3e-3

void tu_gradcheck(const char *label, ag_build_fn build, void *ctx, int ninputs, ag_tensor *const *inputs,
                  double tol) {
    if (tol > TU_GRADCHECK_MAX_TOL) tol = TU_GRADCHECK_MAX_TOL;
    ag_gradcheck_result r = ag_gradcheck(build, ctx, ninputs, inputs, 1e-3);
    ag_gradcheck_print(stdout, label, &r);
    if (!(r.worst <= tol)) fail_msg("gradcheck %s: worst relative error %.3e > %.1e", label, r.worst, tol);
}

void tu_fill_uniform(ag_tensor *t, uint64_t seed, float lo, float hi) {
    base_rng r;
    base_rng_seed(&r, seed);
    float *x = ag_f32(t);
    for (int64_t i = 0; i < t->numel; i++) x[i] = lo + (hi - lo) * base_rng_uniform(&r);
}

void tu_fixture_copy(const tu_fixture *fx, ag_tensor *t, const char *name) {
    int nd;
    int64_t shape[AG_MAX_DIMS];
    const float *v = tu_fixture_get(fx, name, &nd, shape);
    if (ag_shape_numel(nd, shape) != t->numel)
        fail_msg("%s: fixture has %lld values, tensor %lld", name, (long long)ag_shape_numel(nd, shape), (long long)t->numel);
    memcpy(t->data, v, (size_t)t->numel * sizeof(float));
}

void tu_fixture_copy_params(const tu_fixture *fx, nn_params *ps) {
    for (int i = 0; i < ps->n; i++) tu_fixture_copy(fx, ps->items[i].t, ps->items[i].name);
}

ag_tensor *tu_fixture_tensor(const tu_fixture *fx, ag_graph *g, const char *name, bool ids) {
    int nd;
    int64_t shape[AG_MAX_DIMS];
    const float *v = tu_fixture_get(fx, name, &nd, shape);
    ag_tensor *t = ag_new(g, ids ? AG_I32 : AG_F32, nd, shape);
    for (int64_t i = 0; i < t->numel; i++) {
        if (ids) ag_i32(t)[i] = (int32_t)lrintf(v[i]);
        else ag_f32(t)[i] = v[i];
    }
    return t;
}

void tu_fixture_check(const tu_fixture *fx, const char *label, const ag_tensor *t, const char *name, double tol) {
    int nd;
    int64_t shape[AG_MAX_DIMS];
    const float *v = tu_fixture_get(fx, name, &nd, shape);
    assert_int_equal(t->numel, ag_shape_numel(nd, shape));
    tu_assert_close(label, ag_f32(t), v, t->numel, tol);
}

ag_tensor *tu_param_uniform(int ndim, const int64_t *shape, uint64_t seed, float lo, float hi) {
    ag_tensor *t = ag_tensor_alloc(AG_F32, ndim, shape);
    tu_fill_uniform(t, seed, lo, hi);
    ag_tensor_set_param(t, false);
    return t;
}

ag_tensor *tu_fixture_param(const tu_fixture *fx, const char *name) {
    int nd;
    int64_t sh[AG_MAX_DIMS];
    const float *v = tu_fixture_get(fx, name, &nd, sh);
    ag_tensor *t = ag_tensor_alloc(AG_F32, nd, sh);
    memcpy(t->data, v, (size_t)t->numel * sizeof(float));
    ag_tensor_set_param(t, false);
    return t;
}

int tu_metric_series(const char *path, const char *kind, const char *key, double *out, int max) {
    size_t n = 0;
    char *s = tu_read_file(path, &n);
    assert_non_null(s);
    char want_kind[64], want_key[64];
    snprintf(want_kind, sizeof want_kind, "\"kind\":\"%s\"", kind);
    snprintf(want_key, sizeof want_key, "\"%s\":", key);
    int k = 0;
    for (char *line = strtok(s, "\n"); line && k < max; line = strtok(NULL, "\n")) {
        if (!strstr(line, want_kind)) continue;
        char *v = strstr(line, want_key);
        if (v) out[k++] = strtod(v + strlen(want_key), NULL);
    }
    free(s);
    return k;
}

