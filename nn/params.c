/* params.c — named parameter sets (registration, one-block allocation, init, freezing, counts). */
#include "params.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

void nn_params_init(nn_params *ps) { memset(ps, 0, sizeof *ps); }

void nn_params_free(nn_params *ps) {
    for (int i = 0; i < ps->n; i++) {
        free(ps->items[i].name);
        ag_tensor_free(ps->items[i].t);
    }
    free(ps->items);
    free(ps->values);
    free(ps->grads);
    memset(ps, 0, sizeof *ps);
}

ag_tensor *nn_params_add(nn_params *ps, const char *name, int ndim, const int64_t *shape,
                         nn_init_kind init, float a, float b, bool sparse_grad) {
    AG_CHECK(!ps->allocated, "nn_params_add", "parameter '%s' added after nn_params_alloc", name);
    AG_CHECK(!nn_params_find(ps, name), "nn_params_add", "duplicate parameter name '%s'", name);
    if (ps->n == ps->cap) {
        ps->cap = ps->cap ? ps->cap * 2 : 16;
        ps->items = base_xrealloc(ps->items, (size_t)ps->cap * sizeof *ps->items);
    }
    nn_param *p = &ps->items[ps->n++];
    memset(p, 0, sizeof *p);
    p->name = base_xstrdup(name);
    p->t = ag_tensor_wrap(AG_F32, ndim, shape, NULL);
    p->t->name = p->name;
    ag_tensor_set_param(p->t, sparse_grad);
    p->init = init;
    p->a = a;
    p->b = b;
    return p->t;
}

void nn_param_reinit(nn_param *p, base_rng *rng) {
    float *x = ag_f32(p->t);
    int64_t n = p->t->numel;
    switch (p->init) {
    case NN_INIT_ZEROS: memset(x, 0, (size_t)n * sizeof(float)); break;
    case NN_INIT_ONES: for (int64_t i = 0; i < n; i++) x[i] = 1.0f; break;
    case NN_INIT_CONST: for (int64_t i = 0; i < n; i++) x[i] = p->a; break;
    case NN_INIT_NORMAL: for (int64_t i = 0; i < n; i++) x[i] = p->a * base_rng_normal(rng); break;
    case NN_INIT_UNIFORM: for (int64_t i = 0; i < n; i++) x[i] = p->a + (p->b - p->a) * base_rng_uniform(rng); break;
    case NN_INIT_NONE: break;
    }
    if (p->has_zero_row && p->t->ndim == 2) {
        int64_t w = p->t->shape[1];
        memset(x + p->zero_row * w, 0, (size_t)w * sizeof(float));
    }
}

/* Each parameter starts on a 16-float (64-byte) boundary inside the blocks. */
static int64_t padded(int64_t n) { return (n + 15) & ~(int64_t)15; }

void nn_params_alloc(nn_params *ps, base_rng *rng) {
    AG_CHECK(!ps->allocated, "nn_params_alloc", "already allocated");
    int64_t total = 0, dense = 0;
    for (int i = 0; i < ps->n; i++) {
        total += padded(ps->items[i].t->numel);
        if (!(ps->items[i].t->flags & AG_SPARSE_GRAD)) dense += padded(ps->items[i].t->numel);
    }
    ps->values = base_xaligned((size_t)total * sizeof(float));
    ps->grads = base_xaligned((size_t)dense * sizeof(float));
    memset(ps->values, 0, (size_t)total * sizeof(float));
    memset(ps->grads, 0, (size_t)dense * sizeof(float));
    int64_t off = 0, goff = 0;
    for (int i = 0; i < ps->n; i++) {
        ag_tensor *t = ps->items[i].t;
        t->data = ps->values + off;
        off += padded(t->numel);
        if (!(t->flags & AG_SPARSE_GRAD)) {
            t->grad = ps->grads + goff;
            goff += padded(t->numel);
        }
        nn_param_reinit(&ps->items[i], rng);
    }
    ps->total = 0;
    for (int i = 0; i < ps->n; i++) ps->total += ps->items[i].t->numel;
    ps->total_dense = dense;
    ps->allocated = true;
}

nn_param *nn_params_find(const nn_params *ps, const char *name) {
    for (int i = 0; i < ps->n; i++)
        if (strcmp(ps->items[i].name, name) == 0) return &ps->items[i];
    return NULL;
}

int nn_params_freeze(nn_params *ps, const char *glob, bool frozen) {
    int matched = 0;
    for (int i = 0; i < ps->n; i++) {
        nn_param *p = &ps->items[i];
        if (fnmatch(glob, p->name, 0) != 0) continue;
        matched++;
        p->frozen = frozen;
        if (frozen) p->t->flags &= ~(uint32_t)AG_REQUIRES_GRAD;
        else p->t->flags |= AG_REQUIRES_GRAD;
        ag_zero_grad(p->t);
    }
    if (matched) nn_params_regrad(ps);
    return matched;
}

void nn_params_regrad(nn_params *ps) {
    if (!ps->allocated) return;
    int64_t dense = 0;
    for (int i = 0; i < ps->n; i++) {
        const nn_param *p = &ps->items[i];
        if (!p->frozen && !(p->t->flags & AG_SPARSE_GRAD)) dense += padded(p->t->numel);
    }
    free(ps->grads);
    ps->grads = base_xaligned((size_t)(dense ? dense : 1) * sizeof(float));
    memset(ps->grads, 0, (size_t)(dense ? dense : 1) * sizeof(float));
    int64_t goff = 0;
    for (int i = 0; i < ps->n; i++) {
        ag_tensor *t = ps->items[i].t;
        if (t->flags & AG_OWNS_GRAD) { /* a grad the engine allocated on its own (never for a laid-out set) */
            free(t->grad);
            t->flags &= ~(uint32_t)AG_OWNS_GRAD;
        }
        t->grad = NULL;
        if (ps->items[i].frozen || (t->flags & AG_SPARSE_GRAD)) continue;
        t->grad = ps->grads + goff;
        goff += padded(t->numel);
    }
    ps->total_dense = dense;
}

int64_t nn_params_count(const nn_params *ps, const char *prefix) {
    int64_t n = 0;
    size_t len = prefix ? strlen(prefix) : 0;
    for (int i = 0; i < ps->n; i++)
        if (len == 0 || strncmp(ps->items[i].name, prefix, len) == 0) n += ps->items[i].t->numel;
    return n;
}

int64_t nn_params_count_trainable(const nn_params *ps) {
    int64_t n = 0;
    for (int i = 0; i < ps->n; i++)
        if (!ps->items[i].frozen) n += ps->items[i].t->numel;
    return n;
}

void nn_params_zero_grad(nn_params *ps) {
    if (ps->grads) memset(ps->grads, 0, (size_t)ps->total_dense * sizeof(float));
    for (int i = 0; i < ps->n; i++)
        if (ps->items[i].t->sgrad) ps->items[i].t->sgrad->n = 0;
}

void nn_params_print(const nn_params *ps, FILE *f) {
    char buf[96];
    for (int i = 0; i < ps->n; i++) {
        const nn_param *p = &ps->items[i];
        fprintf(f, "%-48s %-20s %12lld%s\n", p->name, ag_shape_str(p->t, buf, sizeof buf),
                (long long)p->t->numel, p->frozen ? "  frozen" : "");
    }
    fprintf(f, "%-48s %-20s %12lld\n", "total", "", (long long)nn_params_count(ps, NULL));
}

nn_param *nn_params_of(const nn_params *ps, const ag_tensor *t) {
    for (int i = 0; i < ps->n; i++)
        if (ps->items[i].t == t) return &ps->items[i];
    return NULL;
}

void nn_params_set_zero_row(nn_params *ps, ag_tensor *t, int64_t row) {
    nn_param *p = nn_params_of(ps, t);
    AG_CHECK(p, "nn_params_set_zero_row", "tensor is not in this parameter set");
    AG_CHECK(t->ndim == 2 && row >= 0 && row < t->shape[0], "nn_params_set_zero_row",
             "row %lld outside a %d-D parameter '%s'", (long long)row, t->ndim, p->name);
    p->has_zero_row = true;
    p->zero_row = row;
    if (ps->allocated) memset(ag_f32(t) + row * t->shape[1], 0, (size_t)t->shape[1] * sizeof(float));
}

void nn_params_reinit_all(nn_params *ps, base_rng *rng) {
    AG_CHECK(ps->allocated, "nn_params_reinit_all", "call nn_params_alloc first");
    for (int i = 0; i < ps->n; i++) nn_param_reinit(&ps->items[i], rng);
}

int nn_params_match_count(const nn_params *ps, const char *glob) {
    int n = 0;
    for (int i = 0; i < ps->n; i++)
        if (fnmatch(glob, ps->items[i].name, 0) == 0) n++;
    return n;
}
