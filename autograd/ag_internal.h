/* ag_internal.h — helpers shared by the op kernels (not part of the public API). */
#ifndef EMBER_AG_INTERNAL_H
#define EMBER_AG_INTERNAL_H

#include "ag.h"

/* Elementwise loops above this many elements run under OpenMP. */
#define AG_PAR_THRESHOLD 32768

/* NumPy broadcasting of two shapes, right-aligned. Returns false if incompatible. */
bool ag_broadcast_shape(int na, const int64_t *a, int nb, const int64_t *b, int *nout, int64_t *out);

/* Strides (in elements) of a contiguous tensor of shape `shape` viewed with `nout` dims under
 * broadcasting to `out`: size-1 and missing dims get stride 0. */
void ag_broadcast_strides(int ndim, const int64_t *shape, int nout, const int64_t *out, int64_t *strides);

/* Normalises a possibly negative axis; aborts with the op name if out of range. */
int ag_axis(const char *op, const ag_tensor *t, int axis);

/* Aborts with both shapes if a and b differ. */
void ag_check_same_shape(const char *op, const ag_tensor *a, const ag_tensor *b);
void ag_check_f32(const char *op, const ag_tensor *t);

#endif
