/* ag.h — ember's reverse-mode autograd engine: tensors, the per-step arena, the tape, ops, gradcheck.
 *
 * How it fits together (read this first):
 *
 *   ag_graph *g = ag_graph_new(0);            // one per training thread; owns an arena + a tape
 *   for (step...) {
 *       ag_tensor *h = ag_gather_rows(g, emb, ids);         // ops allocate outputs from the arena
 *       ag_tensor *loss = ag_cross_entropy(g, ag_matmul(g, h, w, false, true), y, -1, AG_MEAN);
 *       ag_backward(g, loss);                 // walks the tape in reverse, += into every grad
 *       optimizer step over the parameters;   // parameters live outside the arena
 *       ag_graph_reset(g);                    // O(1): every activation, saved tensor and node is gone
 *   }
 *
 * - Tensors are contiguous, row-major, at most 4 dims, f32 (values) or i32 (ids).
 * - Parameters (AG_PARAM) are long-lived; their grads accumulate across backward calls until zeroed.
 * - Everything else an op creates comes from the graph's arena and dies at ag_graph_reset().
 * - An op records a tape node only when an input requires grad and no no_grad scope is open.
 * - Each op has one forward and one backward kernel side by side (autograd/ops_*.c); the backward
 *   accumulates with += into its inputs' grads. The one-line formula of every op is given below.
 * - Programming errors (shape mismatch in code) abort via AG_CHECK with the op name, shapes, file
 *   and line. User-input errors never abort: functions return a status after base_error_set().
 */
#ifndef EMBER_AG_H
#define EMBER_AG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../base/base.h"

#ifdef __cplusplus
extern "C" {
#endif

#define AG_MAX_DIMS 4

/* Errors, allocation, the RNG, JSON writing and the clock live in base/ (base/base.h), below the
 * engine; every engine user sees them through this header. */

/* Programming-error check for the engine: prints the op name, message, file:line and aborts (via
 * base_fatal_). Never use for user input. */
#define AG_CHECK(cond, op, ...) BASE_CHECK(cond, op, __VA_ARGS__)

/* ------------------------------------------------------------------------------------------------
 * Tensors
 * --------------------------------------------------------------------------------------------- */
typedef enum ag_dtype { AG_F32 = 0, AG_I32 = 1 } ag_dtype;

enum {
    AG_PARAM = 1u << 0,         /* long-lived parameter: grad accumulates until ag_zero_grad */
    AG_REQUIRES_GRAD = 1u << 1, /* ops on it are recorded; backward fills its grad */
    AG_SPARSE_GRAD = 1u << 2,   /* gather_rows on it yields a row-sparse grad (t->sgrad) */
    AG_OWNS_DATA = 1u << 3,     /* heap tensor that frees its data in ag_tensor_free */
    AG_OWNS_GRAD = 1u << 4,     /* heap tensor that frees its grad in ag_tensor_free */
    AG_HEAP = 1u << 5,          /* the struct itself is heap-allocated (ag_tensor_alloc/wrap/view) */
};

/* Row-sparse gradient of a [rows, width] parameter: n (row id, row) entries, ids may repeat until
 * coalesced. Heap-owned by the tensor; grows as needed; emptied by ag_zero_grad. */
typedef struct ag_sparse_grad {
    int64_t n, cap, width;
    int32_t *rows; /* [n] */
    float *vals;   /* [n, width] */
} ag_sparse_grad;

struct ag_node;

typedef struct ag_tensor {
    ag_dtype dtype;
    int ndim;
    int64_t shape[AG_MAX_DIMS];
    int64_t numel;
    void *data;            /* numel elements, contiguous row-major */
    float *grad;           /* dense grad, numel floats, or NULL until first needed */
    ag_sparse_grad *sgrad; /* row-sparse grad (AG_SPARSE_GRAD params), or NULL */
    uint32_t flags;
    const char *name;      /* optional, for messages; not owned */
    struct ag_node *node;  /* the tape node that produced it, NULL for leaves */
} ag_tensor;

static inline float *ag_f32(const ag_tensor *t) { return (float *)t->data; }
static inline int32_t *ag_i32(const ag_tensor *t) { return (int32_t *)t->data; }
static inline bool ag_requires_grad(const ag_tensor *t) { return (t->flags & AG_REQUIRES_GRAD) != 0; }

/* Writes "[2, 3, 4]" into buf (size >= 64) and returns buf. */
const char *ag_shape_str(const ag_tensor *t, char *buf, size_t size);
bool ag_same_shape(const ag_tensor *a, const ag_tensor *b);
int64_t ag_shape_numel(int ndim, const int64_t *shape);

/* Heap tensors (parameters, datasets, tests). data is 64-byte aligned and zeroed. */
ag_tensor *ag_tensor_alloc(ag_dtype dt, int ndim, const int64_t *shape);
/* A heap tensor describing existing memory (not owned). */
ag_tensor *ag_tensor_wrap(ag_dtype dt, int ndim, const int64_t *shape, void *data);
/* A second heap tensor over the same data with its own grad state (per-thread views of shared
 * weights for Hogwild training: each thread's sparse grads stay its own). */
ag_tensor *ag_tensor_view(const ag_tensor *src);
void ag_tensor_free(ag_tensor *t); /* frees what the tensor owns; NULL is fine */
/* Marks a heap tensor as a parameter that requires grad (allocates nothing). */
void ag_tensor_set_param(ag_tensor *t, bool sparse_grad);
/* Dense grad buffer of a heap tensor: allocated zeroed on first use, owned by the tensor. */
float *ag_tensor_grad(ag_tensor *t);
/* Zeroes a parameter's dense grad (if any) and empties its sparse grad. */
void ag_zero_grad(ag_tensor *t);

/* Appends n rows to t's sparse grad (allocating it on first use). rows: [n], vals: [n, width]. */
void ag_sparse_grad_add(ag_tensor *t, int64_t n, const int32_t *rows, const float *vals);
/* Appends n entries to t's sparse grad without filling them: returns the [n, width] value block
 * and sets *rows_out to the [n] row ids, both for the caller to write (both uninitialised). */
float *ag_sparse_grad_reserve(ag_tensor *t, int64_t n, int32_t **rows_out);
/* Sums duplicate rows in place; afterwards rows are strictly increasing. */
void ag_sparse_grad_coalesce(ag_sparse_grad *sg);

/* ------------------------------------------------------------------------------------------------
 * The per-step arena: bump allocation, 64-byte aligned, grows by chaining blocks, reset in O(1).
 * A reset keeps the whole chain and rewinds to its first block, so steady-state steps allocate
 * nothing from the system and reuse the pages earlier steps touched.
 * --------------------------------------------------------------------------------------------- */
typedef struct ag_arena ag_arena;

ag_arena *ag_arena_new(size_t initial_bytes);
void ag_arena_free(ag_arena *a);
void *ag_arena_alloc(ag_arena *a, size_t bytes);  /* never NULL (aborts on OOM) */
void *ag_arena_calloc(ag_arena *a, size_t bytes);
void ag_arena_reset(ag_arena *a);
size_t ag_arena_used(const ag_arena *a);     /* bytes handed out since the last reset */
size_t ag_arena_reserved(const ag_arena *a); /* bytes held from the system */

/* ------------------------------------------------------------------------------------------------
 * The graph: arena + tape + modes. One per thread.
 * --------------------------------------------------------------------------------------------- */
typedef struct ag_graph ag_graph;

/* Backward kernel of one node: reads n->out->grad, accumulates (+=) into inputs' grads. */
typedef void (*ag_backward_fn)(ag_graph *g, struct ag_node *n);

#define AG_NODE_MAX_INPUTS 4
typedef struct ag_node {
    int op;                      /* ag_op id (for names and debugging) */
    ag_backward_fn backward;
    ag_tensor *out;
    int nin;
    ag_tensor *in[AG_NODE_MAX_INPUTS]; /* inputs; ops with more use `ins` */
    ag_tensor **ins;             /* arena array of nin inputs when nin > AG_NODE_MAX_INPUTS, else == in */
    float fp[4];                 /* op parameters (scalars) */
    int64_t ip[8];               /* op parameters (axes, flags, sizes) */
    void *saved;                 /* op-specific saved buffer from the arena */
    struct ag_node *prev;        /* previous node on the tape (backward walks this list) */
} ag_node;

ag_graph *ag_graph_new(size_t arena_bytes); /* 0 = default (16 MiB initial) */
void ag_graph_free(ag_graph *g);
void ag_graph_reset(ag_graph *g);           /* drops all nodes and arena tensors in O(1) */
ag_arena *ag_graph_arena(ag_graph *g);
int64_t ag_graph_nodes(const ag_graph *g);  /* nodes on the tape */

/* The newest node on the tape (NULL if none); older nodes follow through ->prev. For tools that
 * inspect a step (the training loop's NaN guard names the first op whose output is not finite). */
ag_node *ag_graph_tape(const ag_graph *g);

/* Profiling: with a hook set, every recorded op reports its forward time (the wall time since the
 * previous record or graph reset, so host work between ops is charged to the next op) and every
 * backward kernel its own time. Unrecorded (no-grad) ops are not seen. NULL turns it off. */
typedef void (*ag_profile_hook)(void *ctx, int op, bool backward, double seconds);
void ag_graph_set_profile_hook(ag_graph *g, ag_profile_hook hook, void *ctx);

void ag_set_training(ag_graph *g, bool training); /* dropout on/off; default true */
bool ag_is_training(const ag_graph *g);
base_rng *ag_graph_rng(ag_graph *g);                /* seeded with 0 by default */
void ag_no_grad_begin(ag_graph *g);               /* nestable */
void ag_no_grad_end(ag_graph *g);
bool ag_grad_enabled(const ag_graph *g);

/* Arena tensors: live until ag_graph_reset. ag_new leaves data uninitialised. */
ag_tensor *ag_new(ag_graph *g, ag_dtype dt, int ndim, const int64_t *shape);
ag_tensor *ag_zeros(ag_graph *g, ag_dtype dt, int ndim, const int64_t *shape);
ag_tensor *ag_from_f32(ag_graph *g, int ndim, const int64_t *shape, const float *src); /* copies */
ag_tensor *ag_from_i32(ag_graph *g, int ndim, const int64_t *shape, const int32_t *src);
ag_tensor *ag_scalar(ag_graph *g, float v);
/* Arena leaf that requires grad (inputs for gradcheck and tests). */
ag_tensor *ag_leaf(ag_graph *g, int ndim, const int64_t *shape, const float *src);

#define AG_NARGS_(...) AG_NARGS_I_(__VA_ARGS__, 4, 3, 2, 1, 0)
#define AG_NARGS_I_(a, b, c, d, n, ...) n
/* AG_SHAPE(2, 3) expands to `2, (int64_t[]){2, 3}`: pass as the (ndim, shape) pair. */
#define AG_SHAPE(...) AG_NARGS_(__VA_ARGS__), (const int64_t[]){__VA_ARGS__}

/* Recording. Called by ops after computing the forward: if any input requires grad and grad is
 * enabled, appends a node, marks out as requiring grad and returns the node (for the op to fill
 * fp/ip/saved); otherwise returns NULL and records nothing. */
ag_node *ag_record(ag_graph *g, int op, ag_backward_fn bw, ag_tensor *out, int nin, ag_tensor *const *in);

/* Grad buffer of t for use inside backward kernels: allocated zeroed on first use (arena for
 * arena tensors, heap for heap tensors). */
float *ag_grad(ag_graph *g, ag_tensor *t);

/* Reverse pass from a scalar (numel == 1) tensor, seeded with 1. */
void ag_backward(ag_graph *g, ag_tensor *loss);
/* Reverse pass from any tensor with an explicit seed gradient (numel floats). */
void ag_backward_seed(ag_graph *g, ag_tensor *out, const float *seed);

/* ------------------------------------------------------------------------------------------------
 * Ops. Enum ids end in AG_OP_COUNT; ag_op_name() maps them to names (static_assert keeps in step).
 * --------------------------------------------------------------------------------------------- */
typedef enum ag_op {
    AG_OP_NONE = 0,
    /* elementwise binary (NumPy broadcasting) */
    AG_OP_ADD, AG_OP_SUB, AG_OP_MUL, AG_OP_DIV,
    /* scalar */
    AG_OP_ADD_SCALAR, AG_OP_MUL_SCALAR,
    /* unary */
    AG_OP_NEG, AG_OP_EXP, AG_OP_LOG, AG_OP_SQRT, AG_OP_POW, AG_OP_TANH, AG_OP_SIGMOID,
    AG_OP_LOG_SIGMOID, AG_OP_RELU, AG_OP_GELU_TANH, AG_OP_GELU_ERF, AG_OP_SILU, AG_OP_CLAMP,
    /* linear algebra */
    AG_OP_MATMUL,
    /* reductions */
    AG_OP_SUM, AG_OP_MEAN, AG_OP_MAX,
    /* softmax family */
    AG_OP_SOFTMAX, AG_OP_LOG_SOFTMAX, AG_OP_CROSS_ENTROPY,
    /* shape */
    AG_OP_RESHAPE, AG_OP_PERMUTE, AG_OP_CONCAT, AG_OP_SLICE,
    /* indexing */
    AG_OP_GATHER_ROWS, AG_OP_SCATTER_ADD,
    /* normalisation, regularisation */
    AG_OP_LAYER_NORM, AG_OP_RMS_NORM, AG_OP_DROPOUT, AG_OP_MASKED_FILL,
    AG_OP_L2_NORMALIZE, AG_OP_COSINE_SIM,
    /* fused */
    AG_OP_ATTENTION,
    /* added by nn (positional encodings, conv) */
    AG_OP_ROPE, AG_OP_CONV2D,
    /* added by nn (fused affine map) */
    AG_OP_LINEAR,
    /* added by word2vec */
    AG_OP_W2V_NS, AG_OP_W2V_HS,
    /* added by the text models (residual dropout) */
    AG_OP_DROPOUT_ADD,
    /* contrastive losses (ops_contrastive.c) */
    AG_OP_COSENT,
    /* data parallel (ops_dist.c) */
    AG_OP_DIST_GATHER,
    AG_OP_COUNT
} ag_op;

const char *ag_op_name(int op);

enum ag_reduction { AG_MEAN = 0, AG_SUM = 1 };
#define AG_ALL_AXES (-100) /* axis value for reductions over every element */

/* Elementwise binary with NumPy broadcasting: out = a ∘ b, shape = broadcast(a, b).
 * Backward reduces the grad over broadcast dimensions. */
ag_tensor *ag_add(ag_graph *g, ag_tensor *a, ag_tensor *b); /* a + b;  da = g, db = g */
ag_tensor *ag_sub(ag_graph *g, ag_tensor *a, ag_tensor *b); /* a - b;  da = g, db = -g */
ag_tensor *ag_mul(ag_graph *g, ag_tensor *a, ag_tensor *b); /* a * b;  da = g b, db = g a */
ag_tensor *ag_div(ag_graph *g, ag_tensor *a, ag_tensor *b); /* a / b;  da = g / b, db = -g a / b² */

ag_tensor *ag_add_scalar(ag_graph *g, ag_tensor *a, float s); /* a + s */
ag_tensor *ag_mul_scalar(ag_graph *g, ag_tensor *a, float s); /* a * s */

ag_tensor *ag_neg(ag_graph *g, ag_tensor *a);          /* -a */
ag_tensor *ag_exp(ag_graph *g, ag_tensor *a);          /* e^a;        da = g e^a */
ag_tensor *ag_log(ag_graph *g, ag_tensor *a);          /* ln a;       da = g / a */
ag_tensor *ag_sqrt(ag_graph *g, ag_tensor *a);         /* √a;         da = g / (2√a) */
ag_tensor *ag_pow(ag_graph *g, ag_tensor *a, float p); /* a^p;        da = g p a^(p-1) */
ag_tensor *ag_tanh(ag_graph *g, ag_tensor *a);         /* tanh a;     da = g (1 - y²) */
ag_tensor *ag_sigmoid(ag_graph *g, ag_tensor *a);      /* σ(a);       da = g y (1 - y) */
ag_tensor *ag_log_sigmoid(ag_graph *g, ag_tensor *a);  /* log σ(a), stable; da = g σ(-a) */
ag_tensor *ag_relu(ag_graph *g, ag_tensor *a);         /* max(a, 0);  da = g [a > 0] */
ag_tensor *ag_gelu(ag_graph *g, ag_tensor *a);         /* tanh form: ½a(1 + tanh(√(2/π)(a + 0.044715a³))) */
ag_tensor *ag_gelu_erf(ag_graph *g, ag_tensor *a);     /* erf form:  ½a(1 + erf(a/√2)) */
ag_tensor *ag_silu(ag_graph *g, ag_tensor *a);         /* a σ(a) */
ag_tensor *ag_clamp(ag_graph *g, ag_tensor *a, float lo, float hi); /* da = g [lo ≤ a ≤ hi] */

/* Matrix product on OpenBLAS. 2-D: a [M,K] (or [K,M] if ta), b [K,N] (or [N,K] if tb) → [M,N].
 * Batched: a [..., M, K] with 3 or 4 dims; b either with the same leading dims or 2-D (shared).
 * Transposes are cblas flags, never copies. da = g bᵀ, db = aᵀ g. */
ag_tensor *ag_matmul(ag_graph *g, ag_tensor *a, ag_tensor *b, bool ta, bool tb);

/* Reductions over one axis (negative counts from the end) or AG_ALL_AXES. */
ag_tensor *ag_sum(ag_graph *g, ag_tensor *a, int axis, bool keepdim);
ag_tensor *ag_mean(ag_graph *g, ag_tensor *a, int axis, bool keepdim);
ag_tensor *ag_max(ag_graph *g, ag_tensor *a, int axis, bool keepdim); /* grad to the first argmax */

/* Softmax over the last axis. mask: optional additive f32 tensor broadcastable to a (0 or -inf
 * entries; NULL for none). A row that is all -inf yields zeros, not NaN. */
ag_tensor *ag_softmax(ag_graph *g, ag_tensor *a, ag_tensor *mask);
ag_tensor *ag_log_softmax(ag_graph *g, ag_tensor *a, ag_tensor *mask);
/* Fused log-softmax + NLL. logits [N, C] (or [..., C], flattened), targets i32 [N]; rows whose
 * target equals ignore_index contribute nothing (and are not counted by AG_MEAN). Scalar out. */
ag_tensor *ag_cross_entropy(ag_graph *g, ag_tensor *logits, ag_tensor *targets, int ignore_index,
                            int reduction);

/* Shape ops (copies into contiguous outputs). A dimension of -1 in reshape is inferred. */
ag_tensor *ag_reshape(ag_graph *g, ag_tensor *a, int ndim, const int64_t *shape);
ag_tensor *ag_permute(ag_graph *g, ag_tensor *a, const int *perm);
ag_tensor *ag_transpose(ag_graph *g, ag_tensor *a, int d0, int d1); /* permute swapping two dims */
ag_tensor *ag_concat(ag_graph *g, int n, ag_tensor *const *ts, int axis);
ag_tensor *ag_slice(ag_graph *g, ag_tensor *a, int axis, int64_t start, int64_t len);
/* Splits a along axis into n parts of the given sizes (sum = shape[axis]); outputs in out[]. */
void ag_split(ag_graph *g, ag_tensor *a, int axis, int n, const int64_t *sizes, ag_tensor **out);

/* Embedding lookup: weight [V, D], ids i32 [...] → [..., D]. Ids out of range abort (validate user
 * ids before). If weight has AG_SPARSE_GRAD, backward appends rows to weight->sgrad; otherwise it
 * scatter-adds into the dense grad. */
ag_tensor *ag_gather_rows(ag_graph *g, ag_tensor *weight, ag_tensor *ids);
/* out [nrows, D] = 0; out[ids[i]] += src[i]. src [N, D], ids i32 [N]. dsrc[i] = g[ids[i]]. */
ag_tensor *ag_scatter_add(ag_graph *g, ag_tensor *src, ag_tensor *ids, int64_t nrows);

/* Normalisation over the last axis. gamma/beta [D] may be NULL (no affine / no shift). */
ag_tensor *ag_layer_norm(ag_graph *g, ag_tensor *x, ag_tensor *gamma, ag_tensor *beta, float eps);
ag_tensor *ag_rms_norm(ag_graph *g, ag_tensor *x, ag_tensor *gamma, float eps);
/* Inverted dropout with the graph's RNG; identity when not training or p == 0. */
ag_tensor *ag_dropout(ag_graph *g, ag_tensor *x, float p);
/* Residual dropout in one op: r + dropout(x, p) (the same mask ag_dropout would draw from the same
 * RNG state); r + x when not training or p == 0. x, r same shape. dr = g, dx = g ∘ mask / (1 − p). */
ag_tensor *ag_dropout_add(ag_graph *g, ag_tensor *x, ag_tensor *r, float p);
/* out = mask != 0 ? value : x. mask i32, broadcastable to x. dx = g [mask == 0]. */
ag_tensor *ag_masked_fill(ag_graph *g, ag_tensor *x, ag_tensor *mask, float value);
/* x / max(‖x‖₂, eps) over the last axis. */
ag_tensor *ag_l2_normalize(ag_graph *g, ag_tensor *x, float eps);
/* Cosine similarity over the last axis: a, b [..., D] (same shape) → [...]. */
ag_tensor *ag_cosine_similarity(ag_graph *g, ag_tensor *a, ag_tensor *b, float eps);

/* InfoNCE (van den Oord et al. 2018) with in-batch negatives: the loss of SimCSE, of
 * multiple-negatives ranking and of CLIP. a [N, D], b [M, D] with M ≥ N (rows N.. of b are extra
 * negatives, e.g. hard negatives); row i's positive is b[i]. logits = a bᵀ · scale, where scale is
 * an f32 tensor of one element (it may require grad: exp of a learnable log-scale) or NULL for 1.
 * neg_mask: optional i32 [N, M], nonzero = b[j] is not a negative of a[i] (a duplicate text, or a
 * row sharing a[i]'s label) and leaves row i's denominator; the diagonal must be 0. symmetric: also
 * the loss of each b[j], j < N, against the columns a (CLIP's text→image half), over logits[:, :N]ᵀ
 * with the same mask, and the two halves are averaged. → scalar mean cross-entropy. A composition of
 * matmul, mul, masked_fill, slice, transpose and cross_entropy (so each piece is gradchecked). */
ag_tensor *ag_info_nce(ag_graph *g, ag_tensor *a, ag_tensor *b, ag_tensor *scale, ag_tensor *neg_mask,
                       bool symmetric);

/* CoSENT (Su 2022): cos [N] predicted similarities, gold [N] f32 scores (no grad) →
 * log(1 + Σ_{i,j: gold_i > gold_j} exp(λ (cos_j − cos_i))), a scalar (λ = 20 in the paper and in
 * sentence-transformers). Pairs with equal gold scores contribute nothing. Stable: computed as
 * m + log(e^{−m} + Σ e^{λ(cos_j − cos_i) − m}), m = max(0, max term). dcos_j += λ w_ij,
 * dcos_i −= λ w_ij with w_ij = e^{term_ij} / (1 + Σ e^{term}). */
ag_tensor *ag_cosent(ag_graph *g, ag_tensor *cos, ag_tensor *gold, float lambda);

/* All-gather across data-parallel ranks (dist/dist.h), open_clip's gather_with_grad: x [N_r, ...]
 * on rank r → [Σ N, ...], the ranks' rows in rank order (N may differ by rank). Backward: the
 * output grads of every rank are summed (all-reduce) and each rank takes the rows of its own x,
 * so a loss computed from the gathered rows on every rank sends each rank the gradient of all of
 * them (torch.distributed.nn.all_gather's rule); the loop's gradient average then makes the step
 * the single-process step of the whole batch. Every rank must call it at the same place. In one
 * process it is the identity (a copy). */
ag_tensor *ag_dist_gather(ag_graph *g, ag_tensor *x);

/* Fused scaled-dot-product attention, softmax(q kᵀ · scale + bias + masks) v.
 * q [B, H, T, Dh]; k, v [B, Hkv, S, Dh] with H a multiple of Hkv (grouped-query attention: head h
 * reads kv head h / (H / Hkv)). causal: query t sees keys s ≤ t + (S - T). key_pad: optional i32
 * [B, S], nonzero = padding (masked out). bias: optional f32 [H, T, S] added to the scores (ALiBi);
 * not differentiated. scale: usually 1/√Dh. → [B, H, T, Dh]. */
ag_tensor *ag_attention(ag_graph *g, ag_tensor *q, ag_tensor *k, ag_tensor *v, bool causal,
                        ag_tensor *key_pad, ag_tensor *bias, float scale);

/* ------------------------------------------------------------------------------------------------
 * Gradient checking (usable on any user op). build() must be deterministic in its inputs.
 * The checker reduces build()'s output to a scalar with fixed random weights, compares the
 * analytic grads of every input that requires grad with central differences, and reports the
 * worst relative error |a - n| / max(1e-3 + |a| + |n|... ) per input.
 * --------------------------------------------------------------------------------------------- */
typedef ag_tensor *(*ag_build_fn)(ag_graph *g, ag_tensor *const *inputs, void *ctx);

typedef struct ag_gradcheck_result {
    int ninputs;
    double worst_rel[16];  /* per input; 0 for inputs that do not require grad */
    int64_t worst_index[16];
    double worst;          /* max over inputs */
} ag_gradcheck_result;

/* inputs: heap or arena tensors; f32 inputs with AG_REQUIRES_GRAD are checked (at most 16).
 * eps: finite-difference step (1e-3 is right for f32). Returns the result; worst <= tol is a pass. */
ag_gradcheck_result ag_gradcheck(ag_build_fn build, void *ctx, int ninputs, ag_tensor *const *inputs,
                                 double eps);
void ag_gradcheck_print(FILE *f, const char *label, const ag_gradcheck_result *r);

/* ------------------------------------------------------------------------------------------------
 * Ops added by nn (autograd/ops_rope.c, autograd/ops_conv.c)
 * --------------------------------------------------------------------------------------------- */
/* Rotary position embedding on x [B, H, T, Dh] (Dh even), token t at position pos0 + t, frequency
 * ω_i = theta^(-2i/Dh), i < Dh/2. Each pair (x_a, x_b) rotates by angle p·ω_i:
 *   y_a = x_a cos − x_b sin,  y_b = x_a sin + x_b cos.
 * interleaved = false: pair (i, i + Dh/2) (GPT-NeoX half-split); true: pair (2i, 2i+1) (RoFormer).
 * dx = rotation by −p·ω_i of g. */
ag_tensor *ag_rope(ag_graph *g, ag_tensor *x, int64_t pos0, float theta, bool interleaved);

/* 2-D convolution (cross-correlation, as PyTorch) via im2col + sgemm.
 * x [B, C, H, W], w [O, C, KH, KW], b [O] or NULL → [B, O, Ho, Wo], Ho = (H + 2·pad − KH)/stride + 1
 * (same for W), zero padding. dx = col2im(Wᵀ g), dw = Σ_b g · colsᵀ, db = Σ g. */
ag_tensor *ag_conv2d(ag_graph *g, ag_tensor *x, ag_tensor *w, ag_tensor *b, int stride, int pad);

/* Fused affine map (autograd/ops_linear.c): x [..., in], w [out, in] (PyTorch layout), b [out] or
 * NULL → [..., out] = x wᵀ + b in one GEMM (the bias is the GEMM's C input, no extra tensor).
 * dx = g w, dw = gᵀ x, db = Σ_rows g. */
ag_tensor *ag_linear(ag_graph *g, ag_tensor *x, ag_tensor *w, ag_tensor *b);
/* The same with an activation epilogue and a residual: y = act(x wᵀ + b) + r. r: optional, the
 * output's shape (with act NONE it is folded into the GEMM's C input); act: AG_ACT_NONE or
 * AG_ACT_GELU_ERF (½z(1 + erf(z/√2)), vectorised erf, |error| < 1e-7). dr = g,
 * dz = act'(z) g, then as ag_linear. The pre-activation z is kept for backward. */
enum ag_act { AG_ACT_NONE = 0, AG_ACT_GELU_ERF = 1 };
ag_tensor *ag_linear_ex(ag_graph *g, ag_tensor *x, ag_tensor *w, ag_tensor *b, ag_tensor *r, int act);
/* Linear maps into and out of attention's head layout, without separate reshape/permute copies:
 * to_heads: x [B, T, in], w [H·Dh, in] → [B, H, T, Dh] = heads(x wᵀ + b);
 * from_heads: x [B, H, T, Dh], w [out, H·Dh] → [B, T, out] = rows(x) wᵀ + b + r (r optional). */
ag_tensor *ag_linear_to_heads(ag_graph *g, ag_tensor *x, ag_tensor *w, ag_tensor *b, int64_t heads);
ag_tensor *ag_linear_from_heads(ag_graph *g, ag_tensor *x, ag_tensor *w, ag_tensor *b, ag_tensor *r);

/* Ops added by word2vec (autograd/ops_w2v.c) ---------------------------------------------------
 * Word2Vec's logistic loss over a small block of dot products, taking the two embedding tables
 * and the ids directly (no gathered copies). win [V, D] input table (syn0), wout [V', D] output
 * table (syn1neg or the HS inner nodes), in_ids i32 [C], out ids i32 [M]. Inputs x_c = win[in_c]
 * (C rows), or, if mean (CBOW), the single row h = (1/C) Σ_c win[in_c]; outputs y_j = wout[out_j];
 * scores s_cj = x_c · y_j (a [C, M] block: one window × its shared negatives, Ji et al. 2016).
 * Grads are row-sparse (appended to t->sgrad) for tables with AG_SPARSE_GRAD, dense otherwise;
 * a mean input spreads dh / C to each of its C rows (the exact gradient). Scalar out. */
/* Negative sampling: column 0 is the positive word, columns 1..M-1 negatives.
 *   loss = Σ_c [ −log σ(s_c0) − Σ_{j≥1} log σ(−s_cj) ];  ds_cj = σ(s_cj) − [j = 0] */
ag_tensor *ag_w2v_ns_loss(ag_graph *g, ag_tensor *win, ag_tensor *wout, ag_tensor *in_ids,
                          ag_tensor *out_ids, bool mean);
/* Hierarchical softmax: out ids are the inner nodes on a word's Huffman path, codes i32 [M] its
 * bits; the label of node j is t_j = 1 − code_j (word2vec.c's convention).
 *   loss = Σ_c Σ_j −[t_j log σ(s_cj) + (1 − t_j) log σ(−s_cj)];  ds_cj = σ(s_cj) − t_j */
ag_tensor *ag_w2v_hs_loss(ag_graph *g, ag_tensor *win, ag_tensor *wout, ag_tensor *in_ids,
                          ag_tensor *node_ids, ag_tensor *codes, bool mean);
/* Which path computes the two ops' block products, for the whole process: "auto" (ember's fastest
 * SIMD kernel for the CPU, OpenBLAS sgemm for large blocks), "blas" (always sgemm), or one variant
 * of autograd/w2v_kernels.h: "avx512", "avx2", "scalar". The environment variable EMBER_W2V_KERNEL
 * sets the same on first use. Returns 0, or -1 (error set, nothing changed) for an unknown name or
 * a variant this CPU cannot run. Call it before training starts, not while ops run. */
int ag_w2v_kernel_select(const char *name);
/* The path in use, e.g. "auto (avx512; sgemm from 200 scores per block)" or "scalar" (static string). */
const char *ag_w2v_kernel_name(void);

#ifdef __cplusplus
}
#endif
#endif /* EMBER_AG_H */
