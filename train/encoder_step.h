/* encoder_step.h — the timed training step of the BERT-style MLM encoder (nn_mlm_encoder) on the shared training loop (train/loop.h).
 *
 * A client of the loop like every trainer: its trainer callbacks hand the loop one fixed batch, and
 * the loop does forward, backward and AdamW (freezing by glob included); the forward / backward
 * split and the per-op profile come from the loop's op profile (the graph's profile hook).
 * `ember bench encoder-step` prints what this measures.
 *
 *   train_encoder_step s;
 *   train_encoder_step_config c = train_encoder_step_config_default();
 *   if (train_encoder_step_init(&s, &c)) { puts(base_error_msg()); ... }
 *   for (int i = 0; i < n; i++) train_encoder_step_run(&s, i >= warmup);
 *   ... s.loss_first, s.loss_last, s.fwd_s / s.nrecorded ...
 *   train_encoder_step_free(&s);
 *
 * Data: one fixed batch of random ids and random targets (seed 1), so the data costs nothing in the
 * timed loop and the loss falls as the model memorises it.
 */
#ifndef EMBER_TRAIN_ENCODER_STEP_H
#define EMBER_TRAIN_ENCODER_STEP_H

#include "../autograd/ag.h"
#include "../nn/nn.h"
#include "../optim/optim.h"
#include "loop.h"

typedef struct train_encoder_step_config {
    int threads;                       /* OpenMP and OpenBLAS threads (set process-wide) */
    int64_t d, layers, heads, seq, batch, vocab;
    bool no_optim;                     /* forward + backward only */
    bool profile;                      /* time forward parts and backward by op */
    const char *const *freeze;         /* [nfreeze] fnmatch globs frozen before the optimizer exists */
    int nfreeze;
} train_encoder_step_config;

/* The PyTorch peer's model: 2 threads, d 256, 4 layers, 4 heads, seq 128, batch 32, vocab 5000. */
train_encoder_step_config train_encoder_step_config_default(void);

typedef struct train_encoder_step {
    train_encoder_step_config cfg;
    nn_mlm_encoder model;
    train_loop *loop;                  /* AdamW lr 1e-4 wd 0.01 (decay on every tensor, as the peer's
                                        * torch.optim.AdamW), clip off; no update with no_optim */
    int32_t *x, *y;                    /* [batch * seq] ids and targets */
    int64_t steps_done;
    float loss_first, loss_last;       /* loss of the first step run and of the latest */
    /* Sums over the recorded steps (train_encoder_step_run's record = true), seconds: */
    int nrecorded;
    double fwd_s, bwd_s, opt_s;        /* forward ops, backward kernels, clip + optimizer */
    double fwd_op_s[AG_OP_COUNT];      /* by op id (the loop's profile) */
    int64_t fwd_op_calls[AG_OP_COUNT];
    double bwd_op_s[AG_OP_COUNT];
    int64_t bwd_op_calls[AG_OP_COUNT];
} train_encoder_step;

/* Builds model, optimizer, graph and data. -1 with an error (nothing to free) if d is not a
 * multiple of heads, a size is not positive, or a freeze glob matches no parameter (the message
 * names the glob and a few parameter names). */
int train_encoder_step_init(train_encoder_step *s, const train_encoder_step_config *cfg);
/* One step of the training loop (train/loop.h): zero grads, forward to the loss, backward,
 * optimizer step, graph reset. With record, its times are added to the sums. Returns the step's
 * wall seconds. */
double train_encoder_step_run(train_encoder_step *s, bool record);
void train_encoder_step_free(train_encoder_step *s);

#endif
