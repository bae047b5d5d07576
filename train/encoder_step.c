/* encoder_step.c — the timed MLM-encoder training step (forward, backward, AdamW) with freezing and a profile. */
#include "encoder_step.h"

#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* OpenBLAS's thread control (declared in its cblas.h on Debian; repeated here for other builds). */
void openblas_set_num_threads(int num_threads);

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

/* "a, b, c, d, e, ..." : the first few parameter names, for an unmatched-glob error. */
static void some_names(const nn_params *ps, char *buf, size_t size) {
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < ps->n && i < 6 && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? ", " : "", ps->items[i].name);
    if (ps->n > 6 && used < size) snprintf(buf + used, size - used, ", ... (%d in all)", ps->n);
}

/* The graph's profile hook: every op's forward and backward time, by op id, while recording. */
static void profile_hook(void *ctx, int op, bool backward, double seconds) {
    train_encoder_step *s = ctx;
    if (!s->recording) return;
    if (backward) {
        s->bwd_op_s[op] += seconds;
        s->bwd_op_calls[op]++;
    } else {
        s->fwd_op_s[op] += seconds;
        s->fwd_op_calls[op]++;
    }
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
    omp_set_num_threads(c->threads);
    openblas_set_num_threads(c->threads);
    nn_mlm_encoder_init(&s->model, c->vocab, c->seq, c->d, c->layers, c->heads, 0);
    for (int i = 0; i < c->nfreeze; i++) {
        if (nn_params_freeze(&s->model.ps, c->freeze[i], true) == 0) {
            char names[512];
            some_names(&s->model.ps, names, sizeof names);
            base_error_set("--freeze '%s': matches no parameter (names: %s)", c->freeze[i], names);
            nn_mlm_encoder_free(&s->model);
            return -1;
        }
    }
    s->opt = c->no_optim ? NULL : optim_new(&s->model.ps, optim_config_default(OPTIM_ADAMW, 1e-4f));
    s->g = ag_graph_new((size_t)256 << 20);
    if (c->profile) ag_graph_set_profile_hook(s->g, profile_hook, s);
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
    ag_graph *g = s->g;
    int64_t B = s->cfg.batch, T = s->cfg.seq;
    double t0 = base_now_sec();
    nn_params_zero_grad(&s->model.ps);
    ag_tensor *x = ag_from_i32(g, AG_SHAPE(B, T), s->x), *y = ag_from_i32(g, AG_SHAPE(B * T), s->y);
    s->recording = record;
    ag_tensor *loss = nn_mlm_encoder_loss(g, &s->model, x, y);
    double t1 = base_now_sec();
    ag_backward(g, loss);
    double t2 = base_now_sec();
    if (s->steps_done == 0) s->loss_first = ag_f32(loss)[0];
    s->loss_last = ag_f32(loss)[0]; /* read before the reset frees the arena */
    if (s->opt) optim_step(s->opt);
    ag_graph_reset(g);
    double t3 = base_now_sec();
    s->steps_done++;
    if (record) {
        s->nrecorded++;
        s->fwd_s += t1 - t0;
        s->bwd_s += t2 - t1;
        s->opt_s += t3 - t2;
    }
    return t3 - t0;
}

void train_encoder_step_free(train_encoder_step *s) {
    free(s->x);
    free(s->y);
    if (s->g) ag_graph_free(s->g);
    optim_free(s->opt);
    nn_mlm_encoder_free(&s->model);
    memset(s, 0, sizeof *s);
}
