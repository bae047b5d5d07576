/* internal.c — shape helpers shared by op kernels: broadcasting, axis normalisation, checks. */
#include "ag_internal.h"

bool ag_broadcast_shape(int na, const int64_t *a, int nb, const int64_t *b, int *nout, int64_t *out) {
    int n = na > nb ? na : nb;
    for (int i = 0; i < n; i++) {
        int64_t da = i < n - na ? 1 : a[i - (n - na)];
        int64_t db = i < n - nb ? 1 : b[i - (n - nb)];
        if (da != db && da != 1 && db != 1) return false;
        out[i] = da == 1 ? db : da;
    }
    *nout = n;
    return true;
}

void ag_broadcast_strides(int ndim, const int64_t *shape, int nout, const int64_t *out, int64_t *strides) {
    int64_t s = 1;
    for (int i = nout - 1; i >= 0; i--) {
        int j = i - (nout - ndim);
        if (j < 0 || shape[j] == 1) {
            strides[i] = 0;
        } else {
            strides[i] = s;
        }
        if (j >= 0) s *= shape[j];
        (void)out;
    }
}

int ag_axis(const char *op, const ag_tensor *t, int axis) {
    int a = axis < 0 ? axis + t->ndim : axis;
    AG_CHECK(a >= 0 && a < t->ndim, op, "axis %d out of range for a %d-D tensor", axis, t->ndim);
    return a;
}

void ag_check_same_shape(const char *op, const ag_tensor *a, const ag_tensor *b) {
    if (ag_same_shape(a, b)) return;
    char sa[96], sb[96];
    AG_CHECK(false, op, "shapes differ: %s vs %s", ag_shape_str(a, sa, sizeof sa), ag_shape_str(b, sb, sizeof sb));
}

void ag_check_f32(const char *op, const ag_tensor *t) {
    AG_CHECK(t->dtype == AG_F32, op, "expected an f32 tensor%s%s", t->name ? " for " : "", t->name ? t->name : "");
}
