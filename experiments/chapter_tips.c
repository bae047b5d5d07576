/* chapter_tips.c — `ember chapter tips`: the chapter's practical tips measured (init scale, embedding dropout, normalised neighbours). */
#include "chapter.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ag.h"
#include "data/tokenizer.h"
#include "nn/nn.h"
#include "optim/optim.h"
#include "train/eval.h"

#define SETF EXP_SETF

int exp_words_bag(const train_vectors *v, const exp_chapter_options *o, float dropout, bool freeze, int epochs,
                  double *dev, double *test, double *train_loss);

/* A small Thinker-style LM (RMSNorm, RoPE, SwiGLU, untied head; d 128, 2 layers) trained for the
 * first `steps` steps with the token table drawn from N(0, sigma). loss[steps], gnorm[steps]
 * (global grad norm before any clipping). */
static int init_run(const int32_t *ids, int64_t nids, int64_t vocab, float sigma, int steps, uint64_t seed, double *loss,
                    double *gnorm) {
    enum { B = 16, T = 64 };
    nn_text_config cfg = nn_text_config_lm(vocab, T, 128, 2, 4);
    nn_text_model m;
    nn_text_model_register(&m, &cfg);
    nn_params_find(&m.ps, "tok.weight")->a = sigma; /* NN_INIT_NORMAL: a is the standard deviation */
    base_rng rng;
    base_rng_seed(&rng, seed);
    nn_params_alloc(&m.ps, &rng);
    optim_config oc = optim_config_default(OPTIM_ADAMW, 3e-4f); /* μOmni's thinker_tiny lr */
    oc.weight_decay = 0.1f;
    optim *opt = optim_new(&m.ps, oc);
    ag_graph *g = ag_graph_new(0);
    base_rng data_rng;
    base_rng_seed(&data_rng, seed ^ 0xda7a); /* the same batches for both inits */
    int32_t x[B * T], y[B * T];
    for (int s = 0; s < steps; s++) {
        for (int b = 0; b < B; b++) {
            int64_t at = (int64_t)(base_rng_uniform_d(&data_rng) * (double)(nids - T - 1));
            memcpy(x + b * T, ids + at, T * sizeof *x);
            memcpy(y + b * T, ids + at + 1, T * sizeof *y);
        }
        ag_tensor *h = nn_text_model_hidden(g, &m, ag_from_i32(g, AG_SHAPE(B, T), x), NULL, cfg.layers);
        if (!h) {
            ag_graph_free(g);
            optim_free(opt);
            nn_text_model_free(&m);
            return -1;
        }
        ag_tensor *lg = nn_text_model_logits(g, &m, ag_reshape(g, h, 2, (const int64_t[]){B * T, cfg.d}));
        ag_tensor *l = ag_cross_entropy(g, lg, ag_from_i32(g, AG_SHAPE(B * T), y), -1, AG_MEAN);
        loss[s] = ag_f32(l)[0];
        ag_backward(g, l);
        gnorm[s] = optim_clip_grad_norm(&m.ps, INFINITY);
        optim_step(opt);
        nn_params_zero_grad(&m.ps);
        ag_graph_reset(g);
    }
    ag_graph_free(g);
    optim_free(opt);
    nn_text_model_free(&m);
    return 0;
}

static double mean_range(const double *v, int a, int b) {
    double s = 0;
    for (int i = a; i < b; i++) s += v[i];
    return s / (b - a);
}

static int tip_init(exp_chapter *c, exp_section *s, const exp_chapter_options *o) {
    if (exp_chapter_tokenizer(c, o) != 0) return -1;
    const char *src = exp_data(o, "corpus/enwiki_wikiextractor_AA-AB.txt.gz");
    const char *cut = src ? exp_cut_corpus(o, src, o->quick ? 2000000 : 5000000, o->quick ? "wiki_raw_2MB.txt" : "wiki_raw_5MB.txt") : NULL;
    if (!cut) return src ? -1 : base_error_set("the raw Wikipedia corpus is not in the data directory");
    size_t n = 0;
    FILE *f = fopen(cut, "rb");
    if (!f) return base_error_set("%s: cannot open", cut);
    fseek(f, 0, SEEK_END);
    n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *text = base_xmalloc(n);
    n = fread(text, 1, n, f);
    fclose(f);
    int32_t *ids = NULL;
    int64_t nids = 0;
    int rc = data_tokenizer_encode(c->tok, text, n, &ids, &nids, o->threads);
    free(text);
    if (rc != 0) return -1;
    const int steps = o->quick ? 20 : 300;
    double *L = base_xmalloc(4 * (size_t)steps * sizeof *L), *G = L + 2 * steps;
    double t0 = base_now_sec();
    if (init_run(ids, nids, c->tok->vocab_size, 1.0f, steps, o->seed, L, G) != 0 ||
        init_run(ids, nids, c->tok->vocab_size, 0.02f, steps, o->seed, L + steps, G + steps) != 0) {
        free(ids);
        free(L);
        return -1;
    }
    double secs = base_now_sec() - t0;
    free(ids);
    int e = steps < 50 ? steps : 50;
    double l1_first = mean_range(L, 0, e), l2_first = mean_range(L + steps, 0, e);
    double l1_end = mean_range(L, steps - e, steps), l2_end = mean_range(L + steps, steps - e, steps);
    double g1 = mean_range(G, 0, e), g2 = mean_range(G + steps, 0, e);
    bool helps = l2_end < l1_end - 0.02, slower = l1_first > l2_first + 0.05;
    exp_basics_item *it = exp_item_add(&s->r, "tips.init", helps ? EXP_MATCH : EXP_MISMATCH, l1_end - l2_end);
    SETF(it->what, "token-table init N(0, 1) (PyTorch's default, what μOmni's Thinker gets) vs N(0, 0.02): a small "
                   "Thinker-style LM (d 128, 2 layers, RMSNorm, RoPE, SwiGLU; AdamW 3e-4, no clipping), same batches, "
                   "%d steps",
         steps);
    SETF(it->claim, "nn.init.normal_(std=0.02) \"prevents large initial values that could cause training instability\"");
    SETF(it->ember, "%s: loss at step 0: %.3f vs %.3f; mean loss over the first %d steps %.3f vs %.3f, over the last %d "
                    "%.3f vs %.3f; mean grad norm over the first %d steps %.3g vs %.3g (N(0,1) vs N(0,0.02)); %.0f s%s",
         helps ? "as claimed" : "differs", L[0], L[steps], e, l1_first, l2_first, e, l1_end, l2_end, e, g1, g2, secs,
         helps   ? ""
         : slower ? ": no instability (both reach the same loss, grad norms stay bounded); N(0, 1) only starts slower"
                  : ": no instability and no difference here (pre-norm RMSNorm rescales the large rows)");
    double *x = base_xmalloc((size_t)steps * sizeof *x);
    for (int i = 0; i < steps; i++) x[i] = i;
    const char *nm[2] = {"tok ~ N(0, 1)", "tok ~ N(0, 0.02)"};
    exp_section_fig(s, exp_fig_lines("Training loss by embedding init", "step", "cross-entropy", x, L, 2, steps, nm, false),
                    "Same model, data order and seed; only the token table's standard deviation differs.");
    exp_section_fig(s, exp_fig_lines("Gradient norm by embedding init", "step", "global grad norm", x, G, 2, steps, nm, true),
                    "Global L2 norm of all gradients at each step, before the optimizer (log scale).");
    free(x);
    free(L);
    return 0;
}

static int tip_dropout(exp_chapter *c, exp_section *s, const exp_chapter_options *o) {
    if (exp_chapter_w2v(c, o) != 0) return -1;
    int ep = o->quick ? 1 : 3;
    double d0, t0, l0, d1, t1, l1;
    if (exp_words_bag(c->w2v, o, 0.0f, false, ep, &d0, &t0, &l0) != 0) return -1;
    if (exp_words_bag(c->w2v, o, 0.1f, false, ep, &d1, &t1, &l1) != 0) return -1;
    /* within half a point on 1,821 test sentences is no measurable difference */
    exp_status st = t1 > t0 + 0.5 ? EXP_MATCH : t1 < t0 - 0.5 ? EXP_MISMATCH : EXP_INFO;
    exp_basics_item *it = exp_item_add(&s->r, "tips.dropout", st, t1 - t0);
    SETF(it->what, "embedding dropout 0.1 on/off: fine-tuned bag-of-embeddings classifier on SST-2 (%d epoch%s, the same "
                   "seed)",
         ep, ep == 1 ? "" : "s");
    SETF(it->claim, "embedding_dropout = nn.Dropout(0.1) \"prevents overfitting on specific token embeddings\"");
    SETF(it->ember, "%s: without: train loss %.3f, dev %.2f%%, test %.2f%%; with dropout 0.1: train loss %.3f, dev %.2f%%, "
                    "test %.2f%%",
         st == EXP_MATCH ? "helps here" : st == EXP_MISMATCH ? "differs: it hurts here" : "no measurable difference here (within 0.5 points)",
         l0, d0, t0, l1, d1, t1);
    const char *bl[4] = {"test, no dropout", "test, dropout 0.1", "dev, no dropout", "dev, dropout 0.1"};
    double bv[4] = {t0, t1, d0, d1};
    int bg[4] = {0, 1, 0, 1};
    exp_section_fig(s, exp_fig_bars("SST-2 accuracy with and without embedding dropout", bl, bv, bg, 4, "%"),
                    "nn_dropout(p = 0.1) on the looked-up vectors during training only, as the chapter's snippet.");
    return 0;
}

/* Neighbours by raw dot product vs by cosine (L2-normalised rows). */
static int tip_normalise(exp_chapter *c, exp_section *s, const exp_chapter_options *o) {
    if (exp_chapter_w2v(c, o) != 0) return -1;
    const train_vectors *v = c->w2v;
    const int64_t D = v->dim, N = v->n < 50000 ? v->n : 50000; /* search the 50k most frequent words */
    double overlap = 0, rank_dot = 0, rank_cos = 0;
    int queries = 0;
    char ex_dot[400] = "", ex_cos[400] = "";
    double norm_mean = 0;
    for (int64_t i = 0; i < N; i++) {
        double s2 = 0;
        for (int64_t j = 0; j < D; j++) s2 += (double)v->vec[i * D + j] * v->vec[i * D + j];
        norm_mean += sqrt(s2) / (double)N;
    }
    int64_t cat = train_vectors_find(v, "cat", false);
    int64_t qs[201], nq = 0;
    for (int64_t q = 200; q < 400 && q < N; q++)
        if (q != cat) qs[nq++] = q;
    if (cat >= 0 && cat < N) qs[nq++] = cat; /* last: its lists are the example */
    for (int64_t qi = 0; qi < nq; qi++) {
        int64_t q = qs[qi];
        int64_t top_dot[10], top_cos[10];
        double sd[10], sc[10];
        for (int k = 0; k < 10; k++) top_dot[k] = top_cos[k] = -1, sd[k] = sc[k] = -INFINITY;
        for (int64_t i = 0; i < N; i++) {
            if (i == q) continue;
            double dot = 0, cs = 0;
            for (int64_t j = 0; j < D; j++) dot += (double)v->vec[q * D + j] * v->vec[i * D + j], cs += (double)v->unit[q * D + j] * v->unit[i * D + j];
            for (int pass = 0; pass < 2; pass++) {
                double val = pass ? cs : dot, *sv = pass ? sc : sd;
                int64_t *tv = pass ? top_cos : top_dot;
                if (val <= sv[9]) continue;
                int k = 9;
                while (k > 0 && sv[k - 1] < val) sv[k] = sv[k - 1], tv[k] = tv[k - 1], k--;
                sv[k] = val, tv[k] = i;
            }
        }
        int common = 0;
        for (int a = 0; a < 10; a++)
            for (int b = 0; b < 10; b++) common += top_dot[a] == top_cos[b];
        overlap += common / 10.0;
        for (int a = 0; a < 10; a++) rank_dot += (double)top_dot[a] / 10, rank_cos += (double)top_cos[a] / 10;
        queries++;
        if (q == cat) {
            size_t od = 0, oc = 0;
            for (int a = 0; a < 6; a++) {
                od += (size_t)snprintf(ex_dot + od, sizeof ex_dot - od, "%s%s", a ? ", " : "", v->words[top_dot[a]]);
                oc += (size_t)snprintf(ex_cos + oc, sizeof ex_cos - oc, "%s%s", a ? ", " : "", v->words[top_cos[a]]);
            }
        }
    }
    overlap /= queries, rank_dot /= queries, rank_cos /= queries;
    exp_basics_item *it = exp_item_add(&s->r, "tips.normalise", overlap < 1 ? EXP_MATCH : EXP_INFO, overlap);
    SETF(it->what, "neighbours by raw dot product vs after F.normalize (cosine), Word2Vec, %d query words (frequency ranks 200-399 "
                   "and cat), "
                   "searching the 50,000 most frequent words",
         queries);
    SETF(it->claim, "\"Normalize embeddings to unit length (sometimes helpful)\"");
    SETF(it->ember, "the top-10 lists share %.0f%% of their words; raw dot products favour long vectors: the mean frequency "
                    "rank of a dot-product neighbour is %.0f, of a cosine neighbour %.0f (mean vector norm %.2f). cat by dot: "
                    "%s; by cosine: %s",
         100 * overlap, rank_dot, rank_cos, norm_mean, ex_dot, ex_cos);
    return 0;
}

int exp_section_tips(exp_chapter *c, exp_section *s, const exp_chapter_options *o) {
    int rc = 0;
    if (tip_init(c, s, o) != 0) exp_log(o, "tips: init: %s", base_error_msg()), rc = -1;
    if (tip_dropout(c, s, o) != 0) exp_log(o, "tips: dropout: %s", base_error_msg()), rc = -1;
    if (tip_normalise(c, s, o) != 0) exp_log(o, "tips: normalise: %s", base_error_msg()), rc = -1;
    exp_basics_item *it = exp_item_add(&s->r, "tips.freeze", EXP_INFO, NAN);
    SETF(it->what, "freezing embeddings");
    SETF(it->claim, "embedding.weight.requires_grad = False  # Freeze");
    SETF(it->ember, "measured in `chapter eval` (frozen vs fine-tuned): ember's nn_params_freeze leaves the table's bytes "
                    "unchanged and out of the optimizer");
    snprintf(s->source, sizeof s->source, "%.500s. %.500s", c->tok_source[0] ? c->tok_source : "(no tokenizer)",
             c->w2v ? c->w2v_source : "(no Word2Vec)");
    return rc;
}
