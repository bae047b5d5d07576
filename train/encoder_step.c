/* encoder_step.c — the timed MLM-encoder training step as a client of the training loop (fixed batch, op profile). */
#include "encoder_step.h"

#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* OpenBLAS's thread control (declared in its cblas.h on Debian; repeated here for other builds). */

train_encoder_step_config train_encoder_step_config_default(void) {
    train_encoder_step_config c;
    memset(&c, 0, sizeof c);
    c.threads = 2;
    c.d = 256;
    c.layers = 4;
    c.heads = 4;
    c.seq = 128;
    c.batch = 32;
    c.vocab = 5000;
    return c;
}

/* The loop's trainer: the same fixed batch every step. */
static int64_t fixed_batch(void *ctx) {
    train_encoder_step *s = ctx;
    return s->cfg.batch * s->cfg.seq;
}

static ag_tensor *fixed_loss(void *ctx, ag_graph *g) {
    train_encoder_step *s = ctx;
    int64_t B = s->cfg.batch, T = s->cfg.seq;
    return nn_mlm_encoder_loss(g, &s->model, ag_from_i32(g, AG_SHAPE(B, T), s->x), ag_from_i32(g, AG_SHAPE(B * T), s->y));
}

int train_encoder_step_init(train_encoder_step *s, const train_encoder_step_config *cfg) {
    memset(s, 0, sizeof *s);
    const train_encoder_step_config *c = cfg;
    if (c->d <= 0 || c->layers <= 0 || c->heads <= 0 || c->seq <= 0 || c->batch <= 0 || c->vocab <= 0 || c->threads <= 0)
        return base_error_set("encoder step: expected positive sizes and threads, got d %lld layers %lld heads %lld "
                            "seq %lld batch %lld vocab %lld threads %d", (long long)c->d, (long long)c->layers,
                            (long long)c->heads, (long long)c->seq, (long long)c->batch, (long long)c->vocab,
                            c->threads);
    if (c->d % c->heads)
        return base_error_set("--d %lld is not a multiple of --heads %lld", (long long)c->d, (long long)c->heads);
    if (c->vocab > INT32_MAX) return base_error_set("--vocab %lld: expected at most %d", (long long)c->vocab, INT32_MAX);
    s->cfg = *c;
    train_set_threads(c->threads);
    nn_mlm_encoder_init(&s->model, c->vocab, c->seq, c->d, c->layers, c->heads, 0);
    train_loop_config lc = train_loop_config_default();
    lc.label = "encoder-step";
    lc.quiet = true;
    lc.profile = true;       /* the forward / backward split comes from the op profile */
    lc.lr = 1e-4f;
    lc.sched = OPTIM_SCHED_CONSTANT;
    lc.warmup = 0;
    lc.steps = INT64_MAX / 2;
    lc.clip = 0;
    lc.decay_all = true;
    lc.no_update = c->no_optim;
    lc.handle_signals = false;
    if (c->nfreeze > TRAIN_LOOP_MAX_GLOBS) {
        nn_mlm_encoder_free(&s->model);
        return base_error_set("--freeze: at most %d globs, got %d", TRAIN_LOOP_MAX_GLOBS, c->nfreeze);
    }
    for (int i = 0; i < c->nfreeze; i++) lc.freeze[lc.nfreeze++] = c->freeze[i];
    train_loop_trainer tr = {.ctx = s, .next_batch = fixed_batch, .loss = fixed_loss};
    s->loop = train_loop_new(&lc, &s->model.ps, &tr); /* freezes, or names a glob that matches nothing */
    if (!s->loop) {
        nn_mlm_encoder_free(&s->model);
        return -1;
    }
    /* Random ids and targets, fixed seed: the data costs nothing inside the timed loop. */
    int64_t n = c->batch * c->seq;
    s->x = base_xmalloc((size_t)n * sizeof(int32_t));
    s->y = base_xmalloc((size_t)n * sizeof(int32_t));
    base_rng rng;
    base_rng_seed(&rng, 1);
    for (int64_t i = 0; i < n; i++) {
        s->x[i] = (int32_t)base_rng_below(&rng, (uint32_t)c->vocab);
        s->y[i] = (int32_t)base_rng_below(&rng, (uint32_t)c->vocab);
    }
    return 0;
}

double train_encoder_step_run(train_encoder_step *s, bool record) {
    train_loop_profile before = *train_loop_get_profile(s->loop);
    double t0 = base_now_sec();
    int rc = train_loop_run_steps(s->loop, 1);
    double dt = base_now_sec() - t0;
    AG_CHECK(rc == 0, "train_encoder_step_run", "%s", base_error_msg());
    const train_loop_profile *p = train_loop_get_profile(s->loop);
    if (s->steps_done == 0) s->loss_first = train_loop_last_loss(s->loop);
    s->loss_last = train_loop_last_loss(s->loop);
    s->steps_done++;
    if (record) {
        s->nrecorded++;
        for (int op = 0; op < AG_OP_COUNT; op++) {
            double f = p->sec[0][op] - before.sec[0][op], b = p->sec[1][op] - before.sec[1][op];
            s->fwd_s += f;
            s->bwd_s += b;
            s->fwd_op_s[op] += f;
            s->bwd_op_s[op] += b;
            s->fwd_op_calls[op] += p->calls[0][op] - before.calls[0][op];
            s->bwd_op_calls[op] += p->calls[1][op] - before.calls[1][op];
        }
        s->opt_s += p->optim_s - before.optim_s;
    }
    return dt;
}

void train_encoder_step_free(train_encoder_step *s) {
    free(s->x);
    free(s->y);
    train_loop_free(s->loop);
    nn_mlm_encoder_free(&s->model);
    memset(s, 0, sizeof *s);
}
