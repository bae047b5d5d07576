/* test_util.h — helpers for the cmocka tests: shared-data lookup, fixtures, temp dirs, gradchecks. */
#ifndef EMBER_TEST_UTIL_H
#define EMBER_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "autograd/ag.h"

/* Directory of ../shared/data (from $EMBER_DATA_DIR), or NULL if absent. When NULL, the caller
 * should `skip()`; tu_data_path prints "skipped: <why>" itself. */
const char *tu_data_dir(void);
/* Full path of a shared data file (static buffer), or NULL (and a printed skip reason). */
const char *tu_data_path(const char *rel);
/* Path of a file under the source tree (tests/fixtures/...), static buffer. */
const char *tu_source_path(const char *rel);
/* The built `ember` command ($EMBER_BIN). */
const char *tu_ember_bin(void);
/* A fresh empty temp directory (removed by tu_rmtree). Returned string is heap, caller frees. */
char *tu_tempdir(void);
void tu_rmtree(const char *dir);
/* One temp directory for a whole test group: pass tu_group_tempdir_setup / _teardown to
 * cmocka_run_group_tests (or call them from the group's own setup/teardown). tu_group_dir() is the
 * directory; tu_group_path(name) is "<dir>/<name>" in a static buffer (4 in rotation, so up to 4
 * results may be used at once). */
int tu_group_tempdir_setup(void **state);
int tu_group_tempdir_teardown(void **state);
const char *tu_group_dir(void);
const char *tu_group_path(const char *name);
/* "<dir>/<name>" (heap, caller frees). */
char *tu_path_join(const char *dir, const char *name);
/* Writes bytes to path; returns 0 on success. */
int tu_write_file(const char *path, const void *data, size_t n);
/* Writes bytes as a gzip file at compression level 1..9 (in ≤ 1 GiB chunks); 0 on success. */
int tu_write_gz(const char *path, const void *data, size_t n, int level);
/* Writes text to "<dir>/<name>" (asserts success); returns that path (heap, caller frees). */
char *tu_write_tmp(const char *dir, const char *name, const char *text);
/* Reads a whole file (heap, NUL-terminated); NULL if absent. */
char *tu_read_file(const char *path, size_t *n);
/* Runs a shell command, capturing stdout+stderr into *out (heap, may be NULL); returns exit code. */
int tu_run(const char *cmd, char **out);
/* tu_run of "<ember> ARGS", ARGS formatted printf-style (the caller quotes paths as the shell needs). */
int tu_run_ember(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Values of "key" in the JSON-lines metrics file's lines of the given "kind" (train, eval, test),
 * in file order, at most max; asserts the file exists. Returns how many were found. */
int tu_metric_series(const char *path, const char *kind, const char *key, double *out, int max);

/* Fixtures: a text file of records, each two lines:
 *     name ndim d0 d1 ...
 *     v0 v1 v2 ...            (numel floats, %.9g)
 * Written by tests/fixtures/fixture_io.py from PyTorch reference runs. */
typedef struct tu_fixture tu_fixture;
tu_fixture *tu_fixture_load(const char *rel_path); /* relative to the source tree; aborts test on error */
/* Values of record `name` (asserts it exists); ndim/shape out-params may be NULL. */
const float *tu_fixture_get(const tu_fixture *fx, const char *name, int *ndim, int64_t *shape);
bool tu_fixture_has(const tu_fixture *fx, const char *name);
void tu_fixture_free(tu_fixture *fx);
/* Fixture helpers for layer tests (shape checks by element count):
 * copy record `name` into t (same numel); every parameter of ps from the record of its own name;
 * an arena tensor of the record's shape (i32 rounded from the floats when ids); assert t matches
 * record `name` within tol (tu_assert_close). */
struct nn_params;
void tu_fixture_copy(const tu_fixture *fx, ag_tensor *t, const char *name);
void tu_fixture_copy_params(const tu_fixture *fx, struct nn_params *ps);
ag_tensor *tu_fixture_tensor(const tu_fixture *fx, ag_graph *g, const char *name, bool ids);
void tu_fixture_check(const tu_fixture *fx, const char *label, const ag_tensor *t, const char *name, double tol);

/* max |a - b| / max(1, |b|) over n values. */
double tu_max_rel_err(const float *a, const float *b, int64_t n);
/* Asserts tu_max_rel_err(a, b, n) <= tol, printing the label, the worst index and values. */
void tu_assert_close(const char *label, const float *a, const float *b, int64_t n, double tol);

/* Runs ag_gradcheck, prints the result, and fails the test if worst > tol. */
void tu_gradcheck(const char *label, ag_build_fn build, void *ctx, int ninputs, ag_tensor *const *inputs,
                  double tol);
/* Fills t with uniform values in [lo, hi) from a seeded RNG. */
void tu_fill_uniform(ag_tensor *t, uint64_t seed, float lo, float hi);
/* Heap parameter (requires grad, dense) of the given shape, uniform in [lo, hi) from seed; free with
 * ag_tensor_free. */
ag_tensor *tu_param_uniform(int ndim, const int64_t *shape, uint64_t seed, float lo, float hi);
/* Heap parameter (requires grad, dense) holding fixture record `name`, in the record's shape. */
ag_tensor *tu_fixture_param(const tu_fixture *fx, const char *name);

#endif
