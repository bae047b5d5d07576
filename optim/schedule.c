/* schedule.c — learning-rate schedules as pure functions of (schedule, 0-based step).
 *
 *   CONSTANT        lr0
 *   LINEAR          max(floor, lr0 · (1 - step/total))       word2vec.c's decay (alpha clamped at a floor)
 *   WARMUP_COSINE   step < warmup: lr0 · step/warmup        (HF transformers' warmup: step 0 gives 0)
 *                   else floor + (lr0 - floor) · ½(1 + cos(π · min(1, (step-warmup)/(total-warmup))))
 *   STEP            max(floor, lr0 · gamma^⌊step/step_size⌋)
 *
 * The trainer calls optim_set_lr(o, optim_schedule_lr(&s, step)) before each optim_step, which is
 * the same as PyTorch's LambdaLR with lambda(step) = optim_schedule_lr(s, step) / lr0 and
 * scheduler.step() after optimizer.step().
 */
#include "optim.h"

#include <math.h>

float optim_schedule_lr(const optim_schedule *s, int64_t step) {
    if (step < 0) step = 0;
    double lr0 = s->lr0, floor_lr = s->floor;
    switch (s->kind) {
    case OPTIM_SCHED_CONSTANT: return s->lr0;
    case OPTIM_SCHED_LINEAR: {
        if (s->total <= 0) return s->lr0;
        double lr = lr0 * (1.0 - (double)step / (double)s->total);
        return (float)(lr < floor_lr ? floor_lr : lr);
    }
    case OPTIM_SCHED_WARMUP_COSINE: {
        if (step < s->warmup) return (float)(lr0 * (double)step / (double)s->warmup);
        int64_t span = s->total - s->warmup;
        double progress = span > 0 ? (double)(step - s->warmup) / (double)span : 1.0;
        if (progress > 1.0) progress = 1.0;
        return (float)(floor_lr + (lr0 - floor_lr) * 0.5 * (1.0 + cos(M_PI * progress)));
    }
    case OPTIM_SCHED_WARMUP_LINEAR: {
        if (step < s->warmup) return (float)(lr0 * (double)step / (double)s->warmup);
        int64_t span = s->total - s->warmup;
        double progress = span > 0 ? (double)(step - s->warmup) / (double)span : 1.0;
        if (progress > 1.0) progress = 1.0;
        return (float)(floor_lr + (lr0 - floor_lr) * (1.0 - progress));
    }
    case OPTIM_SCHED_STEP: {
        int64_t k = s->step_size > 0 ? step / s->step_size : 0;
        double lr = lr0 * pow((double)s->gamma, (double)k);
        return (float)(lr < floor_lr ? floor_lr : lr);
    }
    }
    AG_CHECK(0, "optim_schedule_lr", "unknown schedule kind %d", (int)s->kind);
}
