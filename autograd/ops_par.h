/* ops_par.h — the OpenMP loop macro shared by the op kernels (private to autograd/ops_*.c). */
#ifndef EMBER_OPS_PAR_H
#define EMBER_OPS_PAR_H

#include "ag_internal.h"

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

#endif
