/* core.c — the engine's core: tensors, the arena, the graph and its tape, backward. */
#include "ag.h"

#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------
 * Tensors
 * ------------------------------------------------------------------------------------------ */
const char *ag_shape_str(const ag_tensor *t, char *buf, size_t size) {
    size_t off = 0;
    off += (size_t)snprintf(buf + off, size - off, "[");
    for (int i = 0; i < t->ndim && off < size; i++)
        off += (size_t)snprintf(buf + off, size - off, i ? ", %lld" : "%lld", (long long)t->shape[i]);
    if (off < size) snprintf(buf + off, size - off, "]");
    return buf;
}

bool ag_same_shape(const ag_tensor *a, const ag_tensor *b) {
    if (a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return false;
    return true;
}

int64_t ag_shape_numel(int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    return n;
}

static void tensor_init(ag_tensor *t, ag_dtype dt, int ndim, const int64_t *shape) {
    AG_CHECK(ndim >= 0 && ndim <= AG_MAX_DIMS, "tensor", "ndim %d outside 0..%d", ndim, AG_MAX_DIMS);
    memset(t, 0, sizeof *t);
    t->dtype = dt;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) {
        AG_CHECK(shape[i] >= 0, "tensor", "negative dimension %lld", (long long)shape[i]);
        t->shape[i] = shape[i];
    }
    t->numel = ag_shape_numel(ndim, shape);
}

ag_tensor *ag_tensor_alloc(ag_dtype dt, int ndim, const int64_t *shape) {
    ag_tensor *t = base_xmalloc(sizeof *t);
    tensor_init(t, dt, ndim, shape);
    size_t bytes = (size_t)t->numel * 4;
    t->data = base_xaligned(bytes);
    memset(t->data, 0, bytes);
    t->flags = AG_HEAP | AG_OWNS_DATA;
    return t;
}

ag_tensor *ag_tensor_wrap(ag_dtype dt, int ndim, const int64_t *shape, void *data) {
    ag_tensor *t = base_xmalloc(sizeof *t);
    tensor_init(t, dt, ndim, shape);
    t->data = data;
    t->flags = AG_HEAP;
    return t;
}

ag_tensor *ag_tensor_view(const ag_tensor *src) {
    ag_tensor *t = base_xmalloc(sizeof *t);
    *t = *src;
    t->grad = NULL;
    t->sgrad = NULL;
    t->node = NULL;
    t->flags = (src->flags & (AG_PARAM | AG_REQUIRES_GRAD | AG_SPARSE_GRAD)) | AG_HEAP;
    return t;
}

static void sparse_grad_free(ag_sparse_grad *sg) {
    if (!sg) return;
    free(sg->rows);
    free(sg->vals);
    free(sg);
}

void ag_tensor_free(ag_tensor *t) {
    if (!t) return;
    AG_CHECK(t->flags & AG_HEAP, "ag_tensor_free", "tensor '%s' is not a heap tensor", t->name ? t->name : "?");
    if (t->flags & AG_OWNS_DATA) free(t->data);
    if (t->flags & AG_OWNS_GRAD) free(t->grad);
    sparse_grad_free(t->sgrad);
    free(t);
}

void ag_tensor_set_param(ag_tensor *t, bool sparse_grad) {
    AG_CHECK(t->dtype == AG_F32, "ag_tensor_set_param", "parameters must be f32");
    t->flags |= AG_PARAM | AG_REQUIRES_GRAD;
    if (sparse_grad) t->flags |= AG_SPARSE_GRAD;
    else t->flags &= ~(uint32_t)AG_SPARSE_GRAD;
}

float *ag_tensor_grad(ag_tensor *t) {
    if (!t->grad) {
        AG_CHECK(t->flags & AG_HEAP, "ag_tensor_grad", "arena tensor: use ag_grad(g, t)");
        size_t bytes = (size_t)t->numel * sizeof(float);
        t->grad = base_xaligned(bytes);
        memset(t->grad, 0, bytes);
        t->flags |= AG_OWNS_GRAD;
    }
    return t->grad;
}

void ag_zero_grad(ag_tensor *t) {
    if (t->grad) memset(t->grad, 0, (size_t)t->numel * sizeof(float));
    if (t->sgrad) t->sgrad->n = 0;
}

float *ag_sparse_grad_reserve(ag_tensor *t, int64_t n, int32_t **rows_out) {
    AG_CHECK(t->ndim == 2, "ag_sparse_grad_reserve", "sparse grads need a 2-D parameter");
    ag_sparse_grad *sg = t->sgrad;
    if (!sg) {
        sg = t->sgrad = base_xcalloc(1, sizeof *sg);
        sg->width = t->shape[1];
    }
    if (sg->n + n > sg->cap) {
        int64_t cap = sg->cap ? sg->cap : 64;
        while (cap < sg->n + n) cap *= 2;
        sg->rows = base_xrealloc(sg->rows, (size_t)cap * sizeof(int32_t));
        sg->vals = base_xrealloc(sg->vals, (size_t)cap * (size_t)sg->width * sizeof(float));
        sg->cap = cap;
    }
    *rows_out = sg->rows + sg->n;
    float *block = sg->vals + sg->n * sg->width;
    sg->n += n;
    return block;
}

void ag_sparse_grad_add(ag_tensor *t, int64_t n, const int32_t *rows, const float *vals) {
    int32_t *r;
    float *v = ag_sparse_grad_reserve(t, n, &r);
    memcpy(r, rows, (size_t)n * sizeof(int32_t));
    memcpy(v, vals, (size_t)(n * t->shape[1]) * sizeof(float));
}

typedef struct {
    int32_t row;
    int64_t idx;
} row_idx;

static int cmp_row_idx(const void *a, const void *b) {
    const row_idx *x = a, *y = b;
    if (x->row != y->row) return x->row < y->row ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

void ag_sparse_grad_coalesce(ag_sparse_grad *sg) {
    if (!sg || sg->n <= 1) return;
    int64_t n = sg->n, w = sg->width;
    row_idx *order = base_xmalloc((size_t)n * sizeof *order);
    for (int64_t i = 0; i < n; i++) order[i] = (row_idx){sg->rows[i], i};
    qsort(order, (size_t)n, sizeof *order, cmp_row_idx);
    int32_t *rows = base_xmalloc((size_t)n * sizeof(int32_t));
    float *vals = base_xmalloc((size_t)(n * w) * sizeof(float));
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *src = sg->vals + order[i].idx * w;
        if (m > 0 && rows[m - 1] == order[i].row) {
            float *dst = vals + (m - 1) * w;
            for (int64_t j = 0; j < w; j++) dst[j] += src[j];
        } else {
            rows[m] = order[i].row;
            memcpy(vals + m * w, src, (size_t)w * sizeof(float));
            m++;
        }
    }
    memcpy(sg->rows, rows, (size_t)m * sizeof(int32_t));
    memcpy(sg->vals, vals, (size_t)(m * w) * sizeof(float));
    sg->n = m;
    free(order);
    free(rows);
    free(vals);
}

/* ---------------------------------------------------------------------------------------------
 * Arena: a chain of blocks, oldest first. Allocation bumps in the current block and moves to the
 * next block of the chain when it is full (appending a new block, twice the last one's size, only
 * at the end). Reset rewinds to the first block and keeps the whole chain, so a step of the same
 * shape as an earlier one reuses the very pages that step touched: from the second step on nothing
 * is allocated and no page is faulted in again. (Folding the chain into one new block, as this
 * arena once did, made every first-time-large step fault its whole peak in twice.)
 * ------------------------------------------------------------------------------------------ */
typedef struct arena_block {
    struct arena_block *next; /* the next newer block, or NULL */
    size_t size, used;
    unsigned char *mem;
} arena_block;

struct ag_arena {
    arena_block *first; /* oldest block: allocation restarts here after a reset */
    arena_block *cur;   /* block being filled */
    arena_block *last;  /* newest block (new blocks are appended after it) */
    size_t reserved;    /* sum of block sizes */
    size_t used_total;  /* bytes handed out since reset, across blocks */
};

static arena_block *block_new(size_t size) {
    arena_block *b = base_xmalloc(sizeof *b);
    b->next = NULL;
    b->size = size;
    b->used = 0;
    b->mem = base_xaligned(size);
    return b;
}

ag_arena *ag_arena_new(size_t initial_bytes) {
    ag_arena *a = base_xcalloc(1, sizeof *a);
    if (initial_bytes < 4096) initial_bytes = 4096;
    a->first = a->cur = a->last = block_new(initial_bytes);
    a->reserved = initial_bytes;
    return a;
}

void ag_arena_free(ag_arena *a) {
    if (!a) return;
    for (arena_block *b = a->first, *n; b; b = n) {
        n = b->next;
        free(b->mem);
        free(b);
    }
    free(a);
}

void *ag_arena_alloc(ag_arena *a, size_t bytes) {
    size_t need = (bytes + 63) & ~(size_t)63;
    if (need == 0) need = 64;
    arena_block *b = a->cur;
    while (b->used + need > b->size) {
        if (!b->next) { /* end of the chain: grow it */
            size_t size = a->last->size * 2;
            if (size < need) size = need;
            arena_block *nb = block_new(size);
            a->last->next = nb;
            a->last = nb;
            a->reserved += size;
        }
        b = b->next;
        b->used = 0;
    }
    a->cur = b;
    void *p = b->mem + b->used;
    b->used += need;
    a->used_total += need;
    return p;
}

void *ag_arena_calloc(ag_arena *a, size_t bytes) {
    void *p = ag_arena_alloc(a, bytes);
    memset(p, 0, bytes);
    return p;
}

void ag_arena_reset(ag_arena *a) {
    a->first->used = 0;
    a->cur = a->first;
    a->used_total = 0;
}

size_t ag_arena_used(const ag_arena *a) { return a->used_total; }
size_t ag_arena_reserved(const ag_arena *a) { return a->reserved; }

/* ---------------------------------------------------------------------------------------------
 * Graph and tape
 * ------------------------------------------------------------------------------------------ */
struct ag_graph {
    ag_arena *arena;
    ag_node *tail; /* last recorded node; nodes link backwards through prev */
    int64_t nnodes;
    int no_grad;
    bool backward_ran; /* a backward pass has left intermediate grads on this tape */
    bool training;
    base_rng rng;
    ag_profile_hook hook; /* profiling (ag_graph_set_profile_hook), or NULL */
    void *hook_ctx;
    double hook_last;     /* clock at the last recorded node (or reset): a forward op's time ends at its record */
};

ag_graph *ag_graph_new(size_t arena_bytes) {
    ag_graph *g = base_xcalloc(1, sizeof *g);
    g->arena = ag_arena_new(arena_bytes ? arena_bytes : (size_t)16 << 20);
    g->training = true;
    base_rng_seed(&g->rng, 0);
    return g;
}

void ag_graph_free(ag_graph *g) {
    if (!g) return;
    ag_arena_free(g->arena);
    free(g);
}

void ag_graph_reset(ag_graph *g) {
    ag_arena_reset(g->arena);
    g->tail = NULL;
    g->nnodes = 0;
    g->backward_ran = false;
    if (g->hook) g->hook_last = base_now_sec();
}

void ag_graph_set_profile_hook(ag_graph *g, ag_profile_hook hook, void *ctx) {
    g->hook = hook;
    g->hook_ctx = ctx;
    g->hook_last = base_now_sec();
}

ag_node *ag_graph_tape(const ag_graph *g) { return g->tail; }

ag_arena *ag_graph_arena(ag_graph *g) { return g->arena; }
int64_t ag_graph_nodes(const ag_graph *g) { return g->nnodes; }
void ag_set_training(ag_graph *g, bool training) { g->training = training; }
bool ag_is_training(const ag_graph *g) { return g->training; }
base_rng *ag_graph_rng(ag_graph *g) { return &g->rng; }
void ag_no_grad_begin(ag_graph *g) { g->no_grad++; }
void ag_no_grad_end(ag_graph *g) {
    AG_CHECK(g->no_grad > 0, "ag_no_grad_end", "no matching ag_no_grad_begin");
    g->no_grad--;
}
bool ag_grad_enabled(const ag_graph *g) { return g->no_grad == 0; }

ag_tensor *ag_new(ag_graph *g, ag_dtype dt, int ndim, const int64_t *shape) {
    ag_tensor *t = ag_arena_alloc(g->arena, sizeof *t);
    tensor_init(t, dt, ndim, shape);
    t->data = ag_arena_alloc(g->arena, (size_t)t->numel * 4);
    return t;
}

ag_tensor *ag_zeros(ag_graph *g, ag_dtype dt, int ndim, const int64_t *shape) {
    ag_tensor *t = ag_new(g, dt, ndim, shape);
    memset(t->data, 0, (size_t)t->numel * 4);
    return t;
}

ag_tensor *ag_from_f32(ag_graph *g, int ndim, const int64_t *shape, const float *src) {
    ag_tensor *t = ag_new(g, AG_F32, ndim, shape);
    memcpy(t->data, src, (size_t)t->numel * 4);
    return t;
}

ag_tensor *ag_from_i32(ag_graph *g, int ndim, const int64_t *shape, const int32_t *src) {
    ag_tensor *t = ag_new(g, AG_I32, ndim, shape);
    memcpy(t->data, src, (size_t)t->numel * 4);
    return t;
}

ag_tensor *ag_scalar(ag_graph *g, float v) {
    ag_tensor *t = ag_new(g, AG_F32, 0, NULL);
    ag_f32(t)[0] = v;
    return t;
}

ag_tensor *ag_leaf(ag_graph *g, int ndim, const int64_t *shape, const float *src) {
    ag_tensor *t = src ? ag_from_f32(g, ndim, shape, src) : ag_zeros(g, AG_F32, ndim, shape);
    t->flags |= AG_REQUIRES_GRAD;
    return t;
}

ag_node *ag_record(ag_graph *g, int op, ag_backward_fn bw, ag_tensor *out, int nin, ag_tensor *const *in) {
    if (g->no_grad) return NULL;
    bool any = false;
    for (int i = 0; i < nin; i++)
        if (in[i] && (in[i]->flags & AG_REQUIRES_GRAD)) {
            any = true;
            break;
        }
    if (!any) return NULL;
    ag_node *n = ag_arena_alloc(g->arena, sizeof *n);
    memset(n, 0, sizeof *n);
    n->op = op;
    n->backward = bw;
    n->out = out;
    n->nin = nin;
    if (nin <= AG_NODE_MAX_INPUTS) {
        for (int i = 0; i < nin; i++) n->in[i] = in[i];
        n->ins = n->in;
    } else {
        n->ins = ag_arena_alloc(g->arena, (size_t)nin * sizeof(ag_tensor *));
        memcpy(n->ins, in, (size_t)nin * sizeof(ag_tensor *));
        for (int i = 0; i < AG_NODE_MAX_INPUTS; i++) n->in[i] = in[i];
    }
    n->prev = g->tail;
    g->tail = n;
    g->nnodes++;
    out->node = n;
    out->flags |= AG_REQUIRES_GRAD;
    if (g->hook) { /* the forward kernel ran just before its record: charge the time since the last one */
        double now = base_now_sec();
        g->hook(g->hook_ctx, op, false, now - g->hook_last);
        g->hook_last = now;
    }
    return n;
}

float *ag_grad(ag_graph *g, ag_tensor *t) {
    if (!t->grad) {
        if (t->flags & AG_HEAP) return ag_tensor_grad(t);
        t->grad = ag_arena_calloc(g->arena, (size_t)t->numel * sizeof(float));
    }
    return t->grad;
}

void ag_backward_seed(ag_graph *g, ag_tensor *out, const float *seed) {
    AG_CHECK(out->dtype == AG_F32, "ag_backward", "output must be f32");
    /* Intermediate grads from an earlier backward on this graph would double count: drop them
     * (only then: the usual step runs one backward per reset). Heap tensors (parameters) keep
     * theirs — accumulation across calls is the contract. */
    if (g->backward_ran)
        for (ag_node *n = g->tail; n; n = n->prev)
            if (!(n->out->flags & AG_HEAP)) n->out->grad = NULL;
    g->backward_ran = true;
    if (!(out->flags & AG_REQUIRES_GRAD)) return; /* nothing upstream needs a grad */
    float *d = ag_grad(g, out);
    for (int64_t i = 0; i < out->numel; i++) d[i] += seed[i];
    if (g->hook) {
        for (ag_node *n = out->node; n; n = n->prev) {
            if (!n->out->grad) continue;
            double t0 = base_now_sec();
            n->backward(g, n);
            g->hook(g->hook_ctx, n->op, true, base_now_sec() - t0);
        }
        g->hook_last = base_now_sec();
        return;
    }
    for (ag_node *n = out->node; n; n = n->prev) {
        if (!n->out->grad) continue; /* no gradient flowed into this node */
        n->backward(g, n);
    }
}

void ag_backward(ag_graph *g, ag_tensor *loss) {
    AG_CHECK(loss->numel == 1, "ag_backward", "loss must have one element, got %lld (use ag_backward_seed)",
             (long long)loss->numel);
    float one = 1.0f;
    ag_backward_seed(g, loss, &one);
}
