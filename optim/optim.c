/* optim.c — SGD, Adam, AdamW and lazy sparse Adam over a named parameter set; clipping; grad scaling.
 *
 * Update rules follow PyTorch 1.13's single-tensor implementations line by line (same operation
 * order, so float rounding matches closely):
 *
 *   SGD    d = g + wd·x;  buf = first ? d : μ·buf + (1-τ)·d;  d = nesterov ? d + μ·buf : buf;  x -= lr·d
 *   Adam   d = g + wd·x;  m = β1·m + (1-β1)·d;  v = β2·v + (1-β2)·d²;
 *          x -= (lr/bc1) · m / (√v/√bc2 + ε)                      (bc_i = 1 - β_i^step)
 *   AdamW  x *= 1 - lr·wd, then Adam with wd = 0
 *   SparseAdam (rows named by the coalesced sparse grad only):
 *          m += (1-β1)(g - m);  v += (1-β2)(g² - v);  x -= (lr·√bc2/bc1) · m / (√v + ε)
 *
 * Which path a parameter takes:
 *   - not in this optimizer's subset (optim_new_subset): never touched;
 *   - frozen: skipped entirely (no update, no decay, no state created, step not counted);
 *   - no grad storage at all (t->grad == NULL and t->sgrad == NULL, i.e. PyTorch's grad None):
 *     skipped;
 *   - SGD with only a row-sparse grad: lazy row updates (only named rows are read or written; weight
 *     decay and momentum are applied to those rows only — a documented extension: PyTorch's sparse
 *     SGD supports neither);
 *   - Adam/AdamW: dense. A row-sparse grad is scattered (summed with any dense grad) into a
 *     per-row scratch, so every row's moments decay as torch.optim.Adam on the densified grad —
 *     unless cfg.lazy_sparse: then a parameter with only a row-sparse grad updates just the named rows
 *     (LazyAdam: their moments, their decoupled decay; the others are not touched), so a step costs
 *     the batch's rows, not the table's;
 *   - SparseAdam: the parameter must carry only a row-sparse grad (a dense grad is a programming
 *     error, as in PyTorch). Weight decay, if set, is L2 on the named rows (an extension; PyTorch's
 *     SparseAdam has none).
 *
 * Bias correction uses a per-parameter step (state slot "step", one float) that counts the updates
 * the parameter received: it equals the global step unless the parameter was frozen for a while,
 * like PyTorch's state['step'] (a frozen tensor's grad is None there). The float saturates at 2^24,
 * where both corrections are exactly 1 anyway.
 */
#include "optim.h"

#include <fnmatch.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { NSLOT = 3 };

/* Per-parameter state: slot buffers indexed as in slot_names(kind); NULL until created. */
typedef struct pstate {
    float *slot[NSLOT];
} pstate;

struct optim {
    nn_params *ps;
    optim_config cfg;
    int64_t step;    /* optim_step calls so far */
    int n;           /* ps->n at creation (parameter sets do not grow after alloc) */
    pstate *st;      /* [n] */
    bool *own;       /* [n] parameter i is updated by this optimizer (optim_new_subset) */
    float *lr_scale; /* [n] parameter i's lr = lr · lr_scale[i] (optim_set_group; 1 by default) */
    float *wd;       /* [n] parameter i's weight decay (optim_set_group; cfg.weight_decay by default) */
    float *scratch;  /* [scratch_n] one row of merged gradient (dense + scattered sparse) */
    int64_t scratch_n;
};

static const char *const sgd_slots[NSLOT] = {"momentum_buffer", NULL, NULL};
static const char *const adam_slots[NSLOT] = {"exp_avg", "exp_avg_sq", "step"};

static const char *const *slot_names(optim_kind k) { return k == OPTIM_SGD ? sgd_slots : adam_slots; }

static int64_t slot_numel(optim_kind k, int s, const ag_tensor *t) {
    return (k != OPTIM_SGD && s == 2) ? 1 : t->numel;
}

const char *optim_kind_name(optim_kind k) {
    switch (k) {
    case OPTIM_SGD: return "sgd";
    case OPTIM_ADAM: return "adam";
    case OPTIM_ADAMW: return "adamw";
    case OPTIM_SPARSE_ADAM: return "sparse_adam";
    }
    return "unknown";
}

optim_config optim_config_default(optim_kind kind, float lr) {
    optim_config c;
    memset(&c, 0, sizeof c);
    c.kind = kind;
    c.lr = lr;
    c.beta1 = 0.9f;
    c.beta2 = 0.999f;
    c.eps = 1e-8f;
    c.weight_decay = kind == OPTIM_ADAMW ? 0.01f : 0.0f;
    return c;
}

optim *optim_new(nn_params *ps, optim_config cfg) { return optim_new_subset(ps, cfg, NULL, OPTIM_PARAMS_ALL); }

optim *optim_new_subset(nn_params *ps, optim_config cfg, const char *glob, optim_param_filter filter) {
    AG_CHECK(ps && ps->allocated, "optim_new", "parameter set must be allocated (nn_params_alloc) first");
    AG_CHECK(cfg.kind >= OPTIM_SGD && cfg.kind <= OPTIM_SPARSE_ADAM, "optim_new", "unknown kind %d", (int)cfg.kind);
    AG_CHECK(cfg.lr >= 0.0f, "optim_new", "lr %g < 0", (double)cfg.lr);
    AG_CHECK(!cfg.amsgrad, "optim_new", "amsgrad is not implemented");
    AG_CHECK(cfg.weight_decay >= 0.0f, "optim_new", "weight_decay %g < 0", (double)cfg.weight_decay);
    if (cfg.kind == OPTIM_SGD) {
        AG_CHECK(cfg.momentum >= 0.0f, "optim_new", "momentum %g < 0", (double)cfg.momentum);
        AG_CHECK(!cfg.nesterov || (cfg.momentum > 0.0f && cfg.dampening == 0.0f), "optim_new",
                 "Nesterov momentum requires momentum > 0 and dampening 0 (got %g, %g)", (double)cfg.momentum,
                 (double)cfg.dampening);
    } else {
        AG_CHECK(cfg.beta1 >= 0.0f && cfg.beta1 < 1.0f && cfg.beta2 >= 0.0f && cfg.beta2 < 1.0f, "optim_new",
                 "betas (%g, %g) must be in [0, 1)", (double)cfg.beta1, (double)cfg.beta2);
        AG_CHECK(cfg.eps >= 0.0f, "optim_new", "eps %g < 0", (double)cfg.eps);
    }
    optim *o = base_xcalloc(1, sizeof *o);
    o->ps = ps;
    o->cfg = cfg;
    o->n = ps->n;
    o->st = base_xcalloc((size_t)(o->n ? o->n : 1), sizeof *o->st);
    o->own = base_xcalloc((size_t)(o->n ? o->n : 1), sizeof *o->own);
    o->lr_scale = base_xcalloc((size_t)(o->n ? o->n : 1), sizeof *o->lr_scale);
    o->wd = base_xcalloc((size_t)(o->n ? o->n : 1), sizeof *o->wd);
    for (int i = 0; i < o->n; i++) {
        o->lr_scale[i] = 1.0f;
        o->wd[i] = cfg.weight_decay;
        const nn_param *p = &ps->items[i];
        bool sparse = (p->t->flags & AG_SPARSE_GRAD) != 0;
        o->own[i] = (!glob || fnmatch(glob, p->name, 0) == 0) &&
                    (filter == OPTIM_PARAMS_ALL || (filter == OPTIM_PARAMS_SPARSE) == sparse);
    }
    return o;
}

int optim_param_count(const optim *o) {
    int c = 0;
    for (int i = 0; i < o->n; i++) c += o->own[i];
    return c;
}

void optim_free(optim *o) {
    if (!o) return;
    for (int i = 0; i < o->n; i++)
        for (int s = 0; s < NSLOT; s++) free(o->st[i].slot[s]);
    free(o->st);
    free(o->own);
    free(o->lr_scale);
    free(o->wd);
    free(o->scratch);
    free(o);
}

int optim_set_group(optim *o, const char *glob, float lr_scale, float weight_decay) {
    AG_CHECK(lr_scale >= 0.0f && (weight_decay >= 0.0f || weight_decay == OPTIM_KEEP_WD), "optim_set_group",
             "lr_scale %g and weight_decay %g must be >= 0", (double)lr_scale, (double)weight_decay);
    int matched = 0;
    for (int i = 0; i < o->n; i++) {
        if (!o->own[i] || (glob && fnmatch(glob, o->ps->items[i].name, 0) != 0)) continue;
        o->lr_scale[i] = lr_scale;
        if (weight_decay != OPTIM_KEEP_WD) o->wd[i] = weight_decay;
        matched++;
    }
    return matched;
}

float optim_param_lr_scale(const optim *o, int i) { return i >= 0 && i < o->n ? o->lr_scale[i] : 0.0f; }
float optim_param_weight_decay(const optim *o, int i) { return i >= 0 && i < o->n ? o->wd[i] : 0.0f; }

void optim_set_lr(optim *o, float lr) { o->cfg.lr = lr; }
float optim_get_lr(const optim *o) { return o->cfg.lr; }
int64_t optim_get_step(const optim *o) { return o->step; }
void optim_set_step(optim *o, int64_t step) { o->step = step; }
const optim_config *optim_get_config(const optim *o) { return &o->cfg; }

/* Slot s of parameter i, created zeroed if absent. */
static float *slot_get(optim *o, int i, int s) {
    pstate *st = &o->st[i];
    if (!st->slot[s]) {
        int64_t n = slot_numel(o->cfg.kind, s, o->ps->items[i].t);
        st->slot[s] = base_xaligned((size_t)(n ? n : 1) * sizeof(float));
        memset(st->slot[s], 0, (size_t)(n ? n : 1) * sizeof(float));
    }
    return st->slot[s];
}

int optim_state_count(const optim *o) {
    int c = 0;
    for (int i = 0; i < o->n; i++)
        for (int s = 0; s < NSLOT; s++) c += o->st[i].slot[s] != NULL;
    return c;
}

optim_state_view optim_state_get(const optim *o, int idx) {
    const char *const *names = slot_names(o->cfg.kind);
    int c = 0;
    for (int i = 0; i < o->n; i++)
        for (int s = 0; s < NSLOT; s++) {
            if (!o->st[i].slot[s]) continue;
            if (c++ == idx)
                return (optim_state_view){o->ps->items[i].name, names[s], o->st[i].slot[s],
                                          slot_numel(o->cfg.kind, s, o->ps->items[i].t)};
        }
    AG_CHECK(0, "optim_state_get", "index %d out of range (%d buffers)", idx, c);
}

float *optim_state_find(optim *o, const char *param, const char *slot, int64_t *numel) {
    nn_param *p = nn_params_find(o->ps, param);
    if (!p || !slot) return NULL;
    int i = (int)(p - o->ps->items);
    if (i >= o->n || !o->own[i]) return NULL;
    const char *const *names = slot_names(o->cfg.kind);
    for (int s = 0; s < NSLOT; s++)
        if (names[s] && strcmp(names[s], slot) == 0) {
            if (numel) *numel = slot_numel(o->cfg.kind, s, p->t);
            return slot_get(o, i, s);
        }
    return NULL;
}

/* ---- elementwise kernels over a contiguous chunk (x, g, state all [n]) ------------------------- */

#define OMP_MIN 65536

typedef struct sgd_args {
    float lr, wd, mom, damp;
    bool nesterov, first;
} sgd_args;

/* x [n] params, g [n] grad, buf [n] momentum buffer (unused when mom == 0). */
static void sgd_kernel(float *x, const float *g, float *buf, int64_t n, sgd_args a) {
#pragma omp parallel for if (n >= OMP_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float d = g[i];
        if (a.wd != 0.0f) d = d + a.wd * x[i];
        if (a.mom != 0.0f) {
            float b = a.first ? d : a.mom * buf[i] + (1.0f - a.damp) * d;
            buf[i] = b;
            d = a.nesterov ? d + a.mom * b : b;
        }
        x[i] = x[i] + (-a.lr) * d;
    }
}

typedef struct adam_args {
    float b1, b2, eps, wd, decay_mul, step_size, bc2_sqrt;
    bool decoupled;
} adam_args;

/* x, g, m, v: [n]. Dense Adam/AdamW as torch's _single_tensor_adam(w). */
static void adam_kernel(float *x, const float *g, float *m, float *v, int64_t n, adam_args a) {
#pragma omp parallel for if (n >= OMP_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float xi = x[i];
        float d = g[i];
        if (a.decoupled) xi = xi * a.decay_mul;
        else if (a.wd != 0.0f) d = d + a.wd * xi;
        float mi = m[i] * a.b1 + (1.0f - a.b1) * d;
        float vi = v[i] * a.b2 + (1.0f - a.b2) * (d * d);
        m[i] = mi;
        v[i] = vi;
        float denom = sqrtf(vi) / a.bc2_sqrt + a.eps;
        x[i] = xi + (-a.step_size) * (mi / denom);
    }
}

/* x, g, m, v: [n] (one row). Lazy SparseAdam row update as torch.optim._functional.sparse_adam. */
static void sparse_adam_row(float *x, const float *g, float *m, float *v, int64_t n, adam_args a) {
    for (int64_t i = 0; i < n; i++) {
        float d = g[i];
        if (a.wd != 0.0f) d = d + a.wd * x[i];
        float m_old = m[i], v_old = v[i];
        float mu = (d - m_old) * (1.0f - a.b1);
        float vu = (d * d - v_old) * (1.0f - a.b2);
        m[i] = m_old + mu;
        v[i] = v_old + vu;
        float numer = mu + m_old;
        float denom = sqrtf(vu + v_old) + a.eps;
        x[i] = x[i] + (-a.step_size) * (numer / denom);
    }
}

/* ---- per-parameter drivers ------------------------------------------------------------------- */

static float *scratch_row(optim *o, int64_t w) {
    if (o->scratch_n < w) {
        free(o->scratch);
        o->scratch = base_xaligned((size_t)w * sizeof(float));
        o->scratch_n = w;
    }
    return o->scratch;
}

/* Checks the coalesced sparse grad against the parameter's shape (a programming error otherwise). */
static void check_sparse(const ag_tensor *t, const ag_sparse_grad *sg) {
    AG_CHECK(t->ndim == 2 && sg->width == t->shape[1], "optim_step",
             "sparse grad of '%s' has width %lld, parameter has %d dims", t->name ? t->name : "?",
             (long long)sg->width, t->ndim);
    for (int64_t k = 0; k < sg->n; k++)
        AG_CHECK(sg->rows[k] >= 0 && sg->rows[k] < t->shape[0], "optim_step", "sparse grad row %d outside [0, %lld) in '%s'",
                 (int)sg->rows[k], (long long)t->shape[0], t->name ? t->name : "?");
}

/* False when parameter t has no grad (grad None); otherwise its sparse grad, if any, is coalesced and checked. */
static bool grad_ready(ag_tensor *t) {
    ag_sparse_grad *sg = t->sgrad;
    if (!t->grad && !sg) return false;
    if (sg) {
        ag_sparse_grad_coalesce(sg);
        check_sparse(t, sg);
    }
    return true;
}

/* Runs the dense kernel of the configured kind over x with grad = dense (may be NULL: zeros) plus
 * the coalesced sparse rows sg (may be NULL/empty). Rows are processed one at a time only when a
 * sparse grad must be merged; otherwise the whole tensor is one chunk. */
typedef void (*chunk_fn)(optim *o, float *x, const float *g, int64_t off, int64_t n, void *args);

static void run_dense(optim *o, ag_tensor *t, const ag_sparse_grad *sg, chunk_fn fn, void *args) {
    float *x = ag_f32(t);
    const float *dense = t->grad;
    if (!sg || sg->n == 0) {
        if (dense) {
            fn(o, x, dense, 0, t->numel, args);
            return;
        }
    }
    /* Merge row by row: sparse rows are strictly increasing after coalescing. */
    int64_t rows = t->ndim == 2 ? t->shape[0] : 1, w = t->numel / (rows ? rows : 1);
    float *tmp = scratch_row(o, w);
    int64_t k = 0;
    for (int64_t r = 0; r < rows; r++) {
        if (dense) memcpy(tmp, dense + r * w, (size_t)w * sizeof(float));
        else memset(tmp, 0, (size_t)w * sizeof(float));
        if (sg && k < sg->n && sg->rows[k] == r) {
            const float *sv = sg->vals + k * w;
            for (int64_t j = 0; j < w; j++) tmp[j] += sv[j];
            k++;
        }
        fn(o, x + r * w, tmp, r * w, w, args);
    }
}

typedef struct sgd_ctx {
    sgd_args a;
    float *buf; /* [numel] or NULL */
} sgd_ctx;

static void sgd_chunk(optim *o, float *x, const float *g, int64_t off, int64_t n, void *args) {
    (void)o;
    sgd_ctx *c = args;
    sgd_kernel(x, g, c->buf ? c->buf + off : NULL, n, c->a);
}

typedef struct adam_ctx {
    adam_args a;
    float *m, *v; /* [numel] */
} adam_ctx;

static void adam_chunk(optim *o, float *x, const float *g, int64_t off, int64_t n, void *args) {
    (void)o;
    adam_ctx *c = args;
    adam_kernel(x, g, c->m + off, c->v + off, n, c->a);
}

static void step_sgd(optim *o, int i) {
    ag_tensor *t = o->ps->items[i].t;
    if (!grad_ready(t)) return; /* grad None */
    ag_sparse_grad *sg = t->sgrad;
    const optim_config *c = &o->cfg;
    sgd_ctx ctx = {{c->lr * o->lr_scale[i], o->wd[i], c->momentum, c->dampening, c->nesterov, false}, NULL};
    if (c->momentum != 0.0f) {
        ctx.a.first = o->st[i].slot[0] == NULL; /* torch: buf = clone(d_p) on the first step */
        ctx.buf = slot_get(o, i, 0);
    }
    if (t->grad) {
        run_dense(o, t, sg, sgd_chunk, &ctx);
        return;
    }
    /* Lazy rows: only the rows named by the sparse grad are read or written. */
    int64_t w = sg->width;
    for (int64_t k = 0; k < sg->n; k++) {
        int64_t r = sg->rows[k];
        sgd_kernel(ag_f32(t) + r * w, sg->vals + k * w, ctx.buf ? ctx.buf + r * w : NULL, w, ctx.a);
    }
}

/* Advances parameter i's step counter and returns the new step. */
static double bump_step(optim *o, int i) {
    float *s = slot_get(o, i, 2);
    s[0] += 1.0f;
    return (double)s[0];
}

static void step_adam(optim *o, int i) {
    ag_tensor *t = o->ps->items[i].t;
    if (!grad_ready(t)) return; /* grad None */
    ag_sparse_grad *sg = t->sgrad;
    const optim_config *c = &o->cfg;
    double step = bump_step(o, i);
    double bc1 = 1.0 - pow((double)c->beta1, step), bc2 = 1.0 - pow((double)c->beta2, step);
    double lr = (double)c->lr * (double)o->lr_scale[i];
    adam_ctx ctx;
    ctx.a = (adam_args){c->beta1, c->beta2, c->eps, o->wd[i], 1.0f, 0.0f, 0.0f, false};
    ctx.a.decoupled = c->kind == OPTIM_ADAMW;
    ctx.a.decay_mul = (float)(1.0 - lr * (double)o->wd[i]);
    ctx.a.step_size = (float)(lr / bc1);
    ctx.a.bc2_sqrt = (float)sqrt(bc2);
    ctx.m = slot_get(o, i, 0);
    ctx.v = slot_get(o, i, 1);
    if (c->lazy_sparse && !t->grad && sg) { /* LazyAdam: the named rows only */
        int64_t w = sg->width;
        for (int64_t k = 0; k < sg->n; k++) {
            int64_t r = sg->rows[k];
            adam_kernel(ag_f32(t) + r * w, sg->vals + k * w, ctx.m + r * w, ctx.v + r * w, w, ctx.a);
        }
        return;
    }
    run_dense(o, t, sg, adam_chunk, &ctx);
}

static void step_sparse_adam(optim *o, int i) {
    ag_tensor *t = o->ps->items[i].t;
    AG_CHECK(t->flags & AG_SPARSE_GRAD, "optim_step",
             "sparse_adam: parameter '%s' is dense (registered without sparse_grad); use adam for it", t->name);
    AG_CHECK(t->grad == NULL, "optim_step",
             "sparse_adam: parameter '%s' has a dense grad; SparseAdam supports only row-sparse grads", t->name);
    if (!grad_ready(t)) return; /* grad None */
    ag_sparse_grad *sg = t->sgrad;
    const optim_config *c = &o->cfg;
    double step = bump_step(o, i);
    double bc1 = 1.0 - pow((double)c->beta1, step), bc2 = 1.0 - pow((double)c->beta2, step);
    adam_args a = {c->beta1, c->beta2, c->eps, o->wd[i], 1.0f, 0.0f, 1.0f, false};
    a.step_size = (float)((double)c->lr * (double)o->lr_scale[i] * sqrt(bc2) / bc1);
    float *m = slot_get(o, i, 0), *v = slot_get(o, i, 1), *x = ag_f32(t);
    int64_t w = sg->width;
    for (int64_t k = 0; k < sg->n; k++) {
        int64_t r = sg->rows[k];
        sparse_adam_row(x + r * w, sg->vals + k * w, m + r * w, v + r * w, w, a);
    }
}

void optim_step(optim *o) {
    AG_CHECK(o->ps->n == o->n, "optim_step", "parameter set changed size (%d → %d) after optim_new", o->n, o->ps->n);
    for (int i = 0; i < o->n; i++) {
        if (!o->own[i] || o->ps->items[i].frozen) continue;
        switch (o->cfg.kind) {
        case OPTIM_SGD: step_sgd(o, i); break;
        case OPTIM_ADAM:
        case OPTIM_ADAMW: step_adam(o, i); break;
        case OPTIM_SPARSE_ADAM: step_sparse_adam(o, i); break;
        }
    }
    o->step++;
}

/* ---- clipping and scaling -------------------------------------------------------------------- */

/* Multiplies t's dense and sparse grads (whichever it has) by s. */
static void scale_grad(ag_tensor *t, float s) {
    if (t->grad)
        for (int64_t j = 0; j < t->numel; j++) t->grad[j] *= s;
    if (t->sgrad)
        for (int64_t j = 0; j < t->sgrad->n * t->sgrad->width; j++) t->sgrad->vals[j] *= s;
}

double optim_clip_grad_norm(nn_params *ps, double max_norm) {
    double sq = 0.0;
    for (int i = 0; i < ps->n; i++) {
        nn_param *p = &ps->items[i];
        if (p->frozen) continue;
        ag_tensor *t = p->t;
        const float *d = t->grad;
        if (d)
            for (int64_t j = 0; j < t->numel; j++) sq += (double)d[j] * d[j];
        ag_sparse_grad *sg = t->sgrad;
        if (sg && sg->n > 0) {
            /* Norm of the summed grad: coalesce, then for each named row replace the dense row's
             * contribution by that of (dense row + sparse row). */
            ag_sparse_grad_coalesce(sg);
            int64_t w = sg->width;
            for (int64_t k = 0; k < sg->n; k++) {
                const float *sv = sg->vals + k * w;
                const float *dr = d ? d + (int64_t)sg->rows[k] * w : NULL;
                for (int64_t j = 0; j < w; j++) {
                    double dv = dr ? dr[j] : 0.0, s = dv + sv[j];
                    sq += s * s - dv * dv;
                }
            }
        }
    }
    double norm = sqrt(sq);
    double coef = max_norm / (norm + 1e-6); /* torch.nn.utils.clip_grad_norm_ */
    if (coef < 1.0) {
        for (int i = 0; i < ps->n; i++) {
            nn_param *p = &ps->items[i];
            if (p->frozen) continue;
            scale_grad(p->t, (float)coef);
        }
    }
    return norm;
}

void optim_scale_grads(nn_params *ps, float s) {
    for (int i = 0; i < ps->n; i++) {
        scale_grad(ps->items[i].t, s);
    }
}
