/* ops_par.h — the OpenMP loop macro shared by the op kernels (private to autograd/ops_*.c). */
#ifndef EMBER_OPS_PAR_H
#define EMBER_OPS_PAR_H

#include "ag_internal.h"

#include <omp.h>

/* `for (int64_t i = 0; i < n; i++) { body }`, run under `omp parallel for` when `work` (elements
 * touched) exceeds AG_PAR_THRESHOLD. The explicit branch matters: an `if()` clause on the pragma
 * still enters libgomp (a few hundred ns), which would dominate the cost of a small op. */
#define AG_PAR_FOR(i, n, work, ...)                                                                \
    do {                                                                                           \
        const int64_t n_##i = (n);                                                                 \
        if ((work) > AG_PAR_THRESHOLD) {                                                           \
            _Pragma("omp parallel for schedule(static)") for (int64_t i = 0; i < n_##i; i++) {     \
                __VA_ARGS__                                                                        \
            }                                                                                      \
        } else {                                                                                   \
            for (int64_t i = 0; i < n_##i; i++) {                                                  \
                __VA_ARGS__                                                                        \
            }                                                                                      \
        }                                                                                          \
    } while (0)

/* Range kernels: fn(ctx, lo, hi, tid) processes units [lo, hi) as thread tid. Used where the loop
 * body must be specialised per op: GCC outlines an `omp parallel` body before it inlines, so a
 * constant op passed into an inline kernel would reach the outlined loop as a runtime variable (a
 * switch per element, no vectorisation). Per-op range functions keep the constant. */
typedef void (*ag_range_fn)(void *ctx, int64_t lo, int64_t hi, int tid);
#define AG_MAX_THREADS 64

/* Runs fn over [0, n) in one call when work ≤ AG_PAR_THRESHOLD, else in contiguous chunks, one per
 * thread. Returns the number of thread ids that may have been used (for per-thread partials). */
static inline int ag_par_range(int64_t n, int64_t work, ag_range_fn fn, void *ctx) {
    if (work <= AG_PAR_THRESHOLD || n < 2) {
        if (n > 0) fn(ctx, 0, n, 0);
        return 1;
    }
    int nt = omp_get_max_threads();
    if (nt > AG_MAX_THREADS) nt = AG_MAX_THREADS;
    if (nt > n) nt = (int)n;
#pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num(), k = omp_get_num_threads();
        int64_t lo = n * t / k, hi = n * (t + 1) / k;
        if (lo < hi) fn(ctx, lo, hi, t);
    }
    return nt;
}

#endif
