/* loop.h — the one training loop every gradient trainer runs on (all but the Hogwild Word2Vec engine).
 *
 * The loop owns a step:
 *
 *   zero grads → for each of `accum` micro-batches: next_batch → loss (trainer) → backward of
 *   loss / accum → arena reset;  NaN/Inf guard → clip → lr from the schedule → optimizer step
 *
 * and everything around it: freezing by glob and gradual unfreezing on a step schedule (a frozen
 * parameter has no grad storage, no optimizer state and its bytes never change), parameter groups (no weight decay on norms, biases
 * and embeddings unless asked), evaluation every N steps with best-checkpoint keeping, atomic
 * checkpoints every N steps holding everything a run needs (parameters, optimizer moments, step,
 * every RNG, the data cursor, the config), bit-exact resume, a progress bar on a terminal and plain
 * lines otherwise, JSON-lines metrics, and a clean stop on SIGINT/SIGTERM (a checkpoint is saved,
 * the run exits with "resume with ...").
 *
 * A trainer supplies only what is its own (train_loop_trainer): its batches, its loss, optionally
 * an evaluation, and the save/load of its extra state (data cursor, its RNGs, its vocabulary).
 *
 *   train_loop_config c = train_loop_config_default();
 *   c.steps = 1000; c.lr = 5e-4; c.checkpoint = "run.ckpt"; ...
 *   train_loop_trainer t = {.ctx = me, .next_batch = my_next, .loss = my_loss, .save = my_save, ...};
 *   train_loop *L = train_loop_new(&c, &model_params, &t);      // NULL + error on bad config
 *   int rc = train_loop_run(L);                                  // 0 done, -1 error, TRAIN_LOOP_STOPPED
 *   train_loop_free(L);
 *
 * Checkpoint layout (checkpoints/ckpt.h, docs/CHECKPOINTS.md): /config (the trainer's JSON),
 * /params, /optim, /state/step (optimizer steps done), /state/micro_steps, /state/tokens,
 * /state/best_score (when evaluating), /state/evals_since_best, /state/rng/graph (dropout),
 * /state/elapsed (seconds of training so far), /state/frozen (the names of the parameters frozen at
 * that step, one per line: with the unfreezing schedule in /config it says where the schedule
 * stands); the trainer adds its own under /state (e.g. /state/data/..., /state/rng/mask).
 *
 * Determinism: with a fixed thread count the step is a deterministic function of (parameters,
 * optimizer state, RNG states, data cursor), all of which the checkpoint holds; so a run stopped
 * at any checkpoint and resumed reaches the same bytes as the uninterrupted run (tested).
 */
#ifndef EMBER_TRAIN_LOOP_H
#define EMBER_TRAIN_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "../autograd/ag.h"
#include "../checkpoints/ckpt.h"
#include "../nn/params.h"
#include "../optim/optim.h"

#define TRAIN_LOOP_STOPPED 3 /* train_loop_run's status after a signal: checkpoint saved, run incomplete */
#define TRAIN_LOOP_MAX_GLOBS 32

/* One entry of a gradual-unfreezing schedule (ULMFiT): once `step` optimizer steps are done, every
 * parameter matching the fnmatch(3) glob is unfrozen (trained from the next step on). */
typedef struct train_loop_unfreeze {
    int64_t step;
    double epoch;     /* > 0: given in epochs (`--unfreeze 2ep:GLOB`); a trainer that knows its steps per
                       * epoch converts it (train_loop_unfreeze_epochs) before train_loop_new */
    const char *glob;
} train_loop_unfreeze;


typedef struct train_loop_config {
    const char *label;          /* progress label, e.g. "mlm" */
    const char *rate_unit;      /* what next_batch counts, for the progress line: "tok" (default), "sent", ... */
    /* optimisation */
    optim_kind optim;           /* OPTIM_ADAMW by default */
    float lr, lr_floor;         /* peak lr; the schedule never goes below lr_floor */
    float weight_decay, beta1, beta2, eps;
    bool decay_all;             /* false (default): no weight decay on norms, biases, embeddings */
    optim_schedule_kind sched;  /* OPTIM_SCHED_WARMUP_COSINE (default), _WARMUP_LINEAR or _CONSTANT */
    int64_t warmup;             /* steps of linear warmup from 0 (step s gets lr · s / warmup) */
    int64_t steps;              /* optimizer steps in the whole run */
    int accum;                  /* micro-batches per optimizer step (gradient accumulation) */
    double clip;                /* global grad-norm clip, 0 = off (default 1.0) */
    const char *freeze[TRAIN_LOOP_MAX_GLOBS]; /* fnmatch globs of parameters to freeze */
    int nfreeze;
    train_loop_unfreeze unfreeze[TRAIN_LOOP_MAX_GLOBS]; /* gradual unfreezing, applied in step order */
    int nunfreeze;
    /* evaluation */
    int64_t eval_every;         /* steps between evaluations (0 = only at the end, if the trainer evaluates) */
    int64_t patience;           /* early stopping: stop after this many evaluations in a row without a
                                 * better score (0 = never); the best checkpoint is the result */
    /* checkpoints */
    const char *checkpoint;     /* path, or NULL for none */
    int64_t checkpoint_every;   /* steps between checkpoints (0 = only at the end / on a signal) */
    const char *best;           /* path of the best-by-eval checkpoint (NULL = "<checkpoint>.best" when evaluating) */
    const char *resume;         /* checkpoint to resume from, or NULL */
    const char *config_json;    /* the trainer's settings, stored as /config and compared on resume */
    /* reporting */
    const char *metrics;        /* JSON-lines file (appended to on resume), or NULL */
    bool quiet;                 /* no progress display */
    int64_t log_every;          /* steps between metrics lines (default 10) */
    bool profile;               /* time every op (forward and backward) and print a table at the end */
    uint64_t seed;              /* graph RNG (dropout) seed */
    bool no_fsync;              /* tests: skip fsync in checkpoint commits */
    bool handle_signals;        /* install SIGINT/SIGTERM handlers for the run (default true) */
    bool no_update;             /* forward + backward only: grads are computed, no optimizer step (benchmarks) */
    int64_t stop_after;         /* > 0: stop as a signal would after this many steps of this process
                                 * (checkpoint saved, TRAIN_LOOP_STOPPED): interruption tests */
} train_loop_config;

train_loop_config train_loop_config_default(void);
/* Converts every unfreezing entry given in epochs to a step (round(epoch · steps_per_epoch)). */
void train_loop_unfreeze_epochs(train_loop_config *c, double steps_per_epoch);

/* Sets the threads of both pools a trainer's step uses, OpenMP (the ops) and OpenBLAS (the
 * matmuls), to n; n <= 0 leaves them as they are. */
void train_set_threads(int n);

/* One evaluation's figures: score decides the best checkpoint (higher is better: give -loss or
 * -perplexity for losses); every named value goes to the metrics and the progress line. */
#define TRAIN_EVAL_MAX 8
typedef struct train_eval_result {
    double score;
    int n;
    const char *key[TRAIN_EVAL_MAX];   /* static strings, e.g. "eval_loss" */
    double value[TRAIN_EVAL_MAX];
} train_eval_result;

typedef struct train_loop_trainer {
    void *ctx;
    /* Prepares the next micro-batch (advances the data cursor). Returns the number of tokens (or
     * examples) it holds for the throughput figure, or -1 with an error. */
    int64_t (*next_batch)(void *ctx);
    /* Builds the loss of the current micro-batch on g (training mode): a scalar tensor, or NULL
     * with an error. */
    ag_tensor *(*loss)(void *ctx, ag_graph *g);
    /* Optional: evaluates on held-out data (g is in eval mode inside a no-grad scope; reset
     * between calls is the trainer's to do if it runs several batches). 0 or -1. */
    int (*eval)(void *ctx, ag_graph *g, train_eval_result *out);
    /* Optional: saves / restores the trainer's own state (data cursor, RNGs, vocabulary). */
    int (*save)(void *ctx, ckpt_writer *w);
    int (*load)(void *ctx, ckpt_reader *r);
    /* Optional: called after every optimizer step (e.g. clamping a learnable temperature into its
     * range, as open_clip does after each step). */
    void (*after_step)(void *ctx);
} train_loop_trainer;

typedef struct train_loop train_loop;

/* Validates the config, freezes, builds the optimizer and its groups, opens the metrics file.
 * ps must be allocated and initialised (the model's fresh init). NULL with an error on a bad
 * config (a freeze glob that matches nothing, a non-positive step count, ...). */
train_loop *train_loop_new(const train_loop_config *cfg, nn_params *ps, const train_loop_trainer *tr);
void train_loop_free(train_loop *L); /* NULL is fine */

/* Restores from cfg->resume when set (done by train_loop_run too; call it earlier when the trainer
 * needs the restored state before running). Idempotent. 0 or -1. */
int train_loop_resume(train_loop *L);
/* Runs from the current step to cfg->steps. 0 when done (final checkpoint saved when configured),
 * TRAIN_LOOP_STOPPED after SIGINT/SIGTERM (checkpoint saved), -1 with an error (a non-finite loss
 * or gradient names the step and the first non-finite tensor; the last checkpoint is untouched). */
int train_loop_run(train_loop *L);
/* Whether the last train_loop_run stopped early (cfg->patience evaluations without improvement). */
bool train_loop_stopped_early(const train_loop *L);

/* Runs up to n more steps (not past cfg->steps) without evaluations, checkpoints or progress: for
 * benchmarks and callers that drive the loop themselves. Restores cfg->resume first. 0 or -1. */
int train_loop_run_steps(train_loop *L, int64_t n);

/* Seconds and calls per op, forward and backward, summed over the steps so far (recorded only
 * with cfg->profile), and the time in next_batch and in clipping + the optimizer (always). */
typedef struct train_loop_profile {
    double sec[2][AG_OP_COUNT];    /* [0] forward, [1] backward */
    int64_t calls[2][AG_OP_COUNT];
    double data_s, optim_s;
} train_loop_profile;
const train_loop_profile *train_loop_get_profile(const train_loop *L);

/* Appends {"kind": kind, "step": …, <res's figures>} to the metrics file (e.g. a final test). */
void train_loop_log_eval(train_loop *L, const char *kind, const train_eval_result *res);

/* Saves a checkpoint of the current state to path (atomic). 0 or -1. */
int train_loop_save(train_loop *L, const char *path);

/* State for trainers and tests. */
int64_t train_loop_step(const train_loop *L);    /* optimizer steps done */
float train_loop_last_loss(const train_loop *L); /* mean loss of the latest step */
ag_graph *train_loop_graph(train_loop *L);
optim *train_loop_optim(train_loop *L);
const train_eval_result *train_loop_last_eval(const train_loop *L); /* NULL before the first */
double train_loop_best_score(const train_loop *L);
/* Training tokens per second over this process's steps after its first (steady state: the first
 * step faults in the arena's pages and is reported on its own). 0 before the second step. */
double train_loop_tokens_per_sec(const train_loop *L);
double train_loop_first_step_seconds(const train_loop *L);

/* lr at step s (0-based) under cfg's schedule (optim_schedule_lr with lr0 = lr, floor = lr_floor,
 * total = steps). */
float train_loop_lr(const train_loop_config *cfg, int64_t s);

/* Writes the run's loss curve (training loss per logged step, and the evaluation values) as an SVG
 * line chart to path (NULL: "<checkpoint>.svg" when the run checkpoints, else nothing). The history is kept in the checkpoint (/state/history/...), so a resumed run
 * draws its whole curve. 0 or -1. */
int train_loop_plot(const train_loop *L, const char *path, const char *title);

#endif
