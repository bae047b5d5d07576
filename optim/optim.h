/* optim.h — optimizers (SGD, Adam, AdamW, sparse variants), LR schedules, clipping, accumulation.
 *
 * An optimizer steps over one nn_params set. Frozen parameters are skipped entirely (no update,
 * no weight decay, no moments touched): their bytes never change. Row-sparse grads (t->sgrad) are
 * applied lazily: only the named rows are read or written (PyTorch SparseAdam semantics for Adam,
 * plain row updates for SGD).
 *
 * State is reachable by parameter name (optim_state_*) so checkpoints can save and restore it
 * without knowing optimizer internals.
 */
#ifndef EMBER_OPTIM_H
#define EMBER_OPTIM_H

#include "../autograd/ag.h"
#include "../nn/params.h"

typedef enum optim_kind { OPTIM_SGD = 0, OPTIM_ADAM, OPTIM_ADAMW, OPTIM_SPARSE_ADAM } optim_kind;

typedef struct optim_config {
    optim_kind kind;
    float lr;
    float momentum, dampening; /* SGD */
    bool nesterov;             /* SGD */
    float beta1, beta2, eps;   /* Adam family */
    float weight_decay;        /* SGD/Adam: L2 added to the grad; AdamW: decoupled */
    bool amsgrad;              /* reserved: must be false */
    bool lazy_sparse;          /* Adam/AdamW: a parameter whose grad is row-sparse only updates just the named
                                * rows (TensorFlow Addons' LazyAdam; AdamW's decay on those rows only) instead
                                * of decaying every row's moments as torch.optim.Adam on the densified grad */
} optim_config;

/* Defaults as PyTorch: SGD(lr, momentum 0), Adam(lr, 0.9, 0.999, 1e-8), AdamW(wd 0.01). */
optim_config optim_config_default(optim_kind kind, float lr);

typedef enum optim_schedule_kind {
    OPTIM_SCHED_CONSTANT = 0,
    OPTIM_SCHED_LINEAR,        /* lr0 → floor linearly over total steps (word2vec's) */
    OPTIM_SCHED_WARMUP_COSINE, /* 0 → lr0 over warmup, then cosine to floor at total */
    OPTIM_SCHED_STEP,          /* lr0 · gamma^(step / step_size) */
    OPTIM_SCHED_WARMUP_LINEAR, /* 0 → lr0 over warmup, then linearly to floor at total (BERT's) */
} optim_schedule_kind;

typedef struct optim_schedule {
    optim_schedule_kind kind;
    float lr0, floor;          /* floor: absolute minimum LR */
    int64_t warmup, total;     /* in steps */
    int64_t step_size;
    float gamma;
} optim_schedule;

/* LR at a given step (0-based). Pure function of (schedule, step). */
float optim_schedule_lr(const optim_schedule *s, int64_t step);

typedef struct optim optim; /* opaque */

optim *optim_new(nn_params *ps, optim_config cfg);
/* An optimizer over part of a set (added by optim): parameters whose name matches the fnmatch(3)
 * glob (NULL = all) and whose grad kind passes the filter. The others are not touched and have no
 * state here (optim_state_find returns NULL for them). Typical use, as PyTorch's SparseAdam + Adam:
 *   optim_new_subset(ps, sparse_adam_cfg, NULL, OPTIM_PARAMS_SPARSE) and
 *   optim_new_subset(ps, adamw_cfg, NULL, OPTIM_PARAMS_DENSE), both stepped every iteration. */
typedef enum optim_param_filter {
    OPTIM_PARAMS_ALL = 0,
    OPTIM_PARAMS_SPARSE, /* registered with sparse_grad (AG_SPARSE_GRAD) */
    OPTIM_PARAMS_DENSE,  /* the others */
} optim_param_filter;
optim *optim_new_subset(nn_params *ps, optim_config cfg, const char *glob, optim_param_filter filter);
/* Number of parameters this optimizer updates (frozen ones included: they are skipped per step). */
int optim_param_count(const optim *o);
void optim_free(optim *o);
/* One update from the current grads (dense and row-sparse) of every unfrozen parameter.
 * Increments the step count. Does not zero grads (call nn_params_zero_grad). */
void optim_step(optim *o);
/* Parameter groups (PyTorch's param_groups, by name): every parameter of this optimizer whose name
 * matches the fnmatch(3) glob (NULL = all) gets lr = lr · lr_scale (the schedule still sets lr) and
 * the given weight decay (OPTIM_KEEP_WD keeps the current one). Later calls override earlier ones
 * for the parameters they match. Returns how many parameters matched. Typical use: no decay on
 * norms, biases and embeddings; layer-wise lr decay (lower blocks get smaller scales). */
#define OPTIM_KEEP_WD (-1.0f)
int optim_set_group(optim *o, const char *glob, float lr_scale, float weight_decay);
/* Parameter i's (index in the nn_params set) current lr scale and weight decay. */
float optim_param_lr_scale(const optim *o, int i);
float optim_param_weight_decay(const optim *o, int i);
void optim_set_lr(optim *o, float lr);
float optim_get_lr(const optim *o);
int64_t optim_get_step(const optim *o);
void optim_set_step(optim *o, int64_t step); /* for resuming */
const optim_config *optim_get_config(const optim *o);
const char *optim_kind_name(optim_kind k); /* "sgd", "adam", "adamw", "sparse_adam" */

/* Named state buffers, for checkpoints: e.g. ("enc.w", "exp_avg", data, numel). Buffers of a
 * parameter are created lazily on its first update, so the count can grow; a checkpoint saves
 * what exists. optim_state_find creates the buffer if absent (for loading). */
typedef struct optim_state_view {
    const char *param; /* parameter name */
    const char *slot;  /* "momentum_buffer", "exp_avg", "exp_avg_sq", "step" (per-row steps) */
    float *data;
    int64_t numel;
} optim_state_view;
int optim_state_count(const optim *o);
optim_state_view optim_state_get(const optim *o, int i);
/* Returns the buffer for (param, slot), creating it zeroed; NULL if the param or slot is unknown
 * for this optimizer kind. */
float *optim_state_find(optim *o, const char *param, const char *slot, int64_t *numel);

/* Global-norm clipping over every unfrozen parameter's dense and sparse grads; returns the norm
 * before clipping. */
double optim_clip_grad_norm(nn_params *ps, double max_norm);
/* Scales every grad by s (gradient accumulation: scale by 1/k before stepping). */
void optim_scale_grads(nn_params *ps, float s);

#endif
