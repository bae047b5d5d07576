/* gradcheck.c — central-difference gradient checker for any op or composite of ops. */
#include "ag.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Scalar objective: Σ out[i] · w[i] in double, with w fixed per call. */
static double objective(const ag_tensor *out, const float *w) {
    const float *o = ag_f32(out);
    double s = 0;
    for (int64_t i = 0; i < out->numel; i++) s += (double)o[i] * w[i];
    return s;
}

ag_gradcheck_result ag_gradcheck(ag_build_fn build, void *ctx, int ninputs, ag_tensor *const *inputs,
                                 double eps) {
    AG_CHECK(ninputs <= 16, "ag_gradcheck", "at most 16 inputs, got %d", ninputs);
    ag_gradcheck_result r;
    memset(&r, 0, sizeof r);
    r.ninputs = ninputs;

    /* Analytic pass. Grads of the inputs are zeroed first and restored to zero after. */
    ag_graph *g = ag_graph_new(0);
    ag_set_training(g, false);
    for (int i = 0; i < ninputs; i++)
        if (inputs[i]->grad) memset(inputs[i]->grad, 0, (size_t)inputs[i]->numel * sizeof(float));
    ag_tensor *out = build(g, inputs, ctx);
    AG_CHECK(out->dtype == AG_F32, "ag_gradcheck", "build() must return an f32 tensor");
    int64_t nout = out->numel;
    float *w = base_xmalloc((size_t)nout * sizeof(float));
    base_rng rng;
    base_rng_seed(&rng, 1234);
    for (int64_t i = 0; i < nout; i++) w[i] = 2.0f * base_rng_uniform(&rng) - 1.0f;
    ag_backward_seed(g, out, w);

    float *analytic[16] = {0};
    for (int i = 0; i < ninputs; i++) {
        ag_tensor *t = inputs[i];
        if (t->dtype != AG_F32 || !(t->flags & AG_REQUIRES_GRAD)) continue;
        analytic[i] = base_xcalloc((size_t)t->numel, sizeof(float));
        if (t->grad) memcpy(analytic[i], t->grad, (size_t)t->numel * sizeof(float));
        if (t->sgrad) { /* row-sparse grad: scatter into a dense copy */
            ag_sparse_grad *sg = t->sgrad;
            for (int64_t k = 0; k < sg->n; k++)
                for (int64_t j = 0; j < sg->width; j++)
                    analytic[i][(int64_t)sg->rows[k] * sg->width + j] += sg->vals[k * sg->width + j];
            sg->n = 0;
        }
    }
    /* Arena grads die with the reset; heap grads are re-zeroed below. */
    ag_graph_reset(g);
    for (int i = 0; i < ninputs; i++) {
        if (inputs[i]->flags & AG_HEAP) ag_zero_grad(inputs[i]);
        else inputs[i]->grad = NULL;
    }

    /* Numeric pass: perturb each element, rebuild without recording. */
    for (int i = 0; i < ninputs; i++) {
        if (!analytic[i]) continue;
        ag_tensor *t = inputs[i];
        float *x = ag_f32(t);
        double worst = 0;
        int64_t worst_idx = 0;
        for (int64_t j = 0; j < t->numel; j++) {
            float saved = x[j];
            x[j] = (float)(saved + eps);
            double hi_x = (double)x[j];
            ag_no_grad_begin(g);
            double fp = objective(build(g, inputs, ctx), w);
            ag_graph_reset(g);
            x[j] = (float)(saved - eps);
            double lo_x = (double)x[j];
            double fm = objective(build(g, inputs, ctx), w);
            ag_no_grad_end(g);
            ag_graph_reset(g);
            x[j] = saved;
            double num = (fp - fm) / (hi_x - lo_x); /* the step actually taken in f32 */
            double an = analytic[i][j];
            double denom = fmax(1.0, fmax(fabs(num), fabs(an)));
            double err = fabs(num - an) / denom;
            if (err > worst || isnan(err)) {
                worst = isnan(err) ? INFINITY : err;
                worst_idx = j;
            }
        }
        r.worst_rel[i] = worst;
        r.worst_index[i] = worst_idx;
        if (worst > r.worst) r.worst = worst;
        free(analytic[i]);
    }
    free(w);
    ag_graph_free(g);
    return r;
}

void ag_gradcheck_print(FILE *f, const char *label, const ag_gradcheck_result *r) {
    fprintf(f, "gradcheck %-28s worst %.3e", label, r->worst);
    for (int i = 0; i < r->ninputs; i++) fprintf(f, "  in%d %.2e@%lld", i, r->worst_rel[i], (long long)r->worst_index[i]);
    fputc('\n', f);
}
