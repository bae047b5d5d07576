/* chapter_context.c — `ember chapter context`: "bank" by the river and at the bank, static (Word2Vec) vs contextual (a trained masked LM). */
#include "chapter.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ag.h"
#include "data/tokenizer.h"
#include "nn/nn.h"
#include "train/embed.h"
#include "train/eval.h"
#include "train/lm.h"

#define SETF EXP_SETF

int exp_metrics_series(const char *path, const char *key, double *step, double *val, int max) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[4096], want[64];
    snprintf(want, sizeof want, "\"%s\":", key);
    int n = 0;
    while (n < max && fgets(line, sizeof line, f)) {
        if (!strstr(line, "\"train\"")) continue;
        const char *p = strstr(line, want), *q = strstr(line, "\"step\":");
        if (!p || !q) continue;
        step[n] = strtod(q + 7, NULL); /* strtod skips the optional space after the colon */
        val[n] = strtod(p + strlen(want), NULL);
        n++;
    }
    fclose(f);
    return n;
}

/* A masked LM on raw Wikipedia with the chapter's 5,000-piece BPE (or mlm.ckpt from --models). */
static int mlm_model(exp_chapter *c, const exp_chapter_options *o, const char **path, char *how, size_t hown) {
    const char *reuse = exp_model(o, "mlm.ckpt");
    if (reuse) {
        *path = reuse;
        snprintf(how, hown, "masked LM reused from %s", reuse);
        return 0;
    }
    if (exp_chapter_tokenizer(c, o) != 0) return -1;
    const char *found = exp_data(o, "corpus/enwiki_wikiextractor_AA-AB.txt.gz");
    if (!found) return base_error_set("the raw Wikipedia corpus is not in the data directory");
    /* own copies: exp_out/exp_data return rotating buffers that later calls reuse */
    char src[4096], tokp[4200], plot[4200];
    snprintf(src, sizeof src, "%s", found);
    snprintf(tokp, sizeof tokp, "%s", exp_out(o, "bpe5000.tok"));
    snprintf(plot, sizeof plot, "%s", exp_out(o, "mlm_loss.svg"));
    train_lm_options t = train_lm_options_default(NN_TEXT_MLM);
    t.model = nn_text_config_mlm(0, 64, 128, 2, 4);
    t.corpus[0] = src;
    t.ncorpus = 1;
    t.max_bytes = o->quick ? 2000000 : 30000000;
    t.tokenizer = tokp;
    t.batch = 32;
    t.threads = o->threads;
    t.seed = o->seed;
    t.loop.steps = o->quick ? 30 : 2500;
    t.loop.warmup = o->quick ? 5 : 200;
    t.loop.lr = 1e-3f;
    t.loop.quiet = true;
    t.loop.handle_signals = false;
    char ck[4200], met[4200];
    snprintf(ck, sizeof ck, "%s", exp_out(o, "mlm.ckpt"));
    snprintf(met, sizeof met, "%s", exp_out(o, "mlm_metrics.jsonl"));
    remove(met);
    t.loop.checkpoint = ck;
    t.loop.metrics = met;
    t.plot = plot;
    exp_log(o, "training a masked LM (d 128, 2 layers, 4 heads, seq 64, batch 32, %lld steps) on %s", (long long)t.loop.steps,
            src);
    double t0 = base_now_sec();
    if (train_lm_run(&t) != 0) return -1;
    snprintf(how, hown,
             "masked LM trained here: BERT-style, d 128, 2 layers, 4 heads, seq 64, batch 32, %lld steps (%s tokens) on "
             "the first %s bytes of raw Wikipedia with the 5,000-piece BPE, lr 1e-3, %.0f s; saved as %s",
             (long long)t.loop.steps, exp_commas(t.loop.steps * 32 * 64), exp_commas(t.max_bytes), base_now_sec() - t0,
             exp_out(o, "mlm.ckpt"));
    *path = exp_out(o, "mlm.ckpt");
    return 0;
}

static const char *const RIVER[3] = {"He sat on the bank of the river and watched the water.",
                                     "The boat drifted toward the muddy bank of the stream.",
                                     "Fishermen lined the grassy bank at dawn, casting into the current."};
static const char *const MONEY[3] = {"She deposited the money at the bank on Monday.",
                                     "The bank approved his loan for a new house.",
                                     "He opened a savings account at the bank downtown."};

/* The vector of "bank" in a sentence (the mean of its pieces, last layer) → out [d]; its piece
 * range in *first, *count. 0 or -1. */
static int bank_vector(const train_lm_model *m, const char *text, float *out, int64_t *first, int64_t *count) {
    int32_t *ids = NULL;
    float *v = NULL;
    int64_t nt = 0;
    if (train_embed_tokens(m, text, strlen(text), -1, &ids, &v, &nt) != 0) return -1;
    const int64_t d = m->net.cfg.d;
    /* find the pieces that spell " bank" by decoding growing spans */
    int64_t best = -1, bl = 0;
    for (int64_t i = 0; i < nt && best < 0; i++)
        for (int64_t L = 1; L <= 3 && i + L <= nt; L++) {
            uint8_t *txt = NULL;
            size_t n = 0;
            if (data_tokenizer_decode(m->tok, ids + i, L, &txt, &n) != 0) continue;
            bool hit = (n == 5 && !memcmp(txt, " bank", 5)) || (n == 4 && !memcmp(txt, "bank", 4));
            free(txt);
            if (hit) {
                best = i, bl = L;
                break;
            }
        }
    if (best < 0) {
        free(ids);
        free(v);
        return base_error_set("\"bank\" not found as whole pieces in \"%s\"", text);
    }
    memset(out, 0, (size_t)d * sizeof *out);
    for (int64_t i = best; i < best + bl; i++)
        for (int64_t j = 0; j < d; j++) out[j] += v[i * d + j] / (float)bl;
    *first = best, *count = bl;
    free(ids);
    free(v);
    return 0;
}

/* Top-k words the MLM predicts in bank's place (bank's pieces replaced by one [MASK]). */
static void mask_predictions(const train_lm_model *m, const char *text, int64_t first, int64_t count, int k, char *buf, size_t bn) {
    int32_t *ids = NULL;
    int64_t n = 0;
    buf[0] = 0;
    if (train_lm_encode_for_model(m, text, strlen(text), &ids, &n) != 0) return;
    /* train_embed_tokens and encode_for_model see the same ids ([CLS] first for an MLM) */
    int32_t *x = base_xmalloc((size_t)n * sizeof *x);
    int64_t L = 0;
    for (int64_t i = 0; i < n; i++) {
        if (i == first) x[L++] = m->tok->special[DATA_TOK_MASK];
        if (i >= first && i < first + count) continue;
        x[L++] = ids[i];
    }
    ag_graph *g = ag_graph_new(0);
    ag_no_grad_begin(g);
    ag_set_training(g, false);
    ag_tensor *h = nn_text_model_hidden(g, &m->net, ag_from_i32(g, AG_SHAPE(1, L), x), NULL, m->net.cfg.layers);
    if (h) {
        ag_tensor *row = ag_reshape(g, ag_slice(g, h, 1, first, 1), 2, (const int64_t[]){1, m->net.cfg.d});
        const float *lg = ag_f32(nn_text_model_logits(g, &m->net, row));
        const int64_t V = m->net.cfg.vocab;
        size_t o = 0;
        bool *used = base_xcalloc((size_t)V, sizeof *used);
        for (int r = 0; r < k; r++) {
            int64_t best = -1;
            for (int64_t j = 0; j < V; j++)
                if (!used[j] && j < m->tok->special[0] && (best < 0 || lg[j] > lg[best])) best = j;
            if (best < 0) break;
            used[best] = true;
            uint8_t *t = NULL;
            size_t tn = 0;
            int32_t id = (int32_t)best;
            if (data_tokenizer_decode(m->tok, &id, 1, &t, &tn) == 0) {
                char *q = data_tokenizer_quote(t, tn);
                o += (size_t)snprintf(buf + o, o < bn ? bn - o : 0, "%s%s", r ? ", " : "", q);
                free(q);
                free(t);
            }
        }
        free(used);
    }
    ag_no_grad_end(g);
    ag_graph_free(g);
    free(x);
    free(ids);
}

int exp_section_context(exp_chapter *c, exp_section *s, const exp_chapter_options *o) {
    /* static: Word2Vec has one row for "bank", whatever the sentence */
    if (exp_chapter_w2v(c, o) == 0) {
        const train_vectors *v = c->w2v;
        int64_t id = train_vectors_find(v, "bank", false);
        if (id >= 0) {
            /* the lookup in a river sentence and in a money sentence is the same row */
            const float *a = v->vec + id * v->dim, *b = v->vec + id * v->dim;
            double cs = train_cosine(a, b, v->dim);
            bool same = memcmp(a, b, (size_t)v->dim * sizeof *a) == 0; /* the identical row, bit for bit */
            train_neighbor nb[10];
            int k = train_similar(v, "bank", 10, nb);
            char buf[600];
            size_t bo = 0;
            for (int i = 0; i < k; i++) bo += (size_t)snprintf(buf + bo, sizeof buf - bo, "%s%s (%.2f)", i ? ", " : "", v->words[nb[i].id], (double)nb[i].cosine);
            exp_basics_item *it = exp_item_add(&s->r, "context.static_bank", same ? EXP_MATCH : EXP_MISMATCH, cs);
            SETF(it->what, "Word2Vec (static): \"bank\" in a river sentence vs a money sentence");
            SETF(it->claim, "Static embedding (Word2Vec): \"bank\" → always the same vector, regardless of context");
            SETF(it->ember, "the same table row, bit for bit (cosine %.6f in double precision). One list of neighbours must serve both senses: %s", cs, buf);
        }
    }
    const char *path = NULL;
    char how[800];
    if (mlm_model(c, o, &path, how, sizeof how) != 0) return -1;
    train_lm_model m;
    if (train_lm_load_model(path, &m) != 0) return -1;
    const int64_t d = m.net.cfg.d;
    if (d > 512) {
        train_lm_model_free(&m);
        return base_error_set("%s: model width %lld > 512 is not supported here", path, (long long)d);
    }
    float vr[3][512], vm[3][512];
    int64_t fr[3], cr[3], fm[3], cm[3];
    for (int i = 0; i < 3; i++) {
        if (bank_vector(&m, RIVER[i], vr[i], &fr[i], &cr[i]) != 0 || bank_vector(&m, MONEY[i], vm[i], &fm[i], &cm[i]) != 0) {
            train_lm_model_free(&m);
            return -1;
        }
    }
    double within = 0, across = 0;
    int nw = 0, na = 0;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            across += train_cosine(vr[i], vm[j], d), na++;
            if (j > i) within += train_cosine(vr[i], vr[j], d) + train_cosine(vm[i], vm[j], d), nw += 2;
        }
    within /= nw, across /= na;
    double c00 = train_cosine(vr[0], vm[0], d);
    exp_basics_item *it = exp_item_add(&s->r, "context.contextual_bank", c00 < 1 - 1e-4 ? EXP_MATCH : EXP_MISMATCH, c00);
    SETF(it->what, "a trained masked LM (contextual): \"bank\" across 3 river and 3 money sentences (last layer)");
    SETF(it->claim, "Contextualized embedding (Transformer): \"river bank\" and \"bank account\" give different "
                    "embeddings for the same word");
    SETF(it->ember, "cos(bank in \"%s\", bank in \"%s\") = %.3f; mean cosine within a sense %.3f, across senses %.3f%s",
         RIVER[0], MONEY[0], c00, within, across,
         within > across + 0.02 ? " (the senses separate)"
         : within > across      ? " (the senses barely separate: this model is small and briefly trained)"
                                : " (this small model does not separate the senses: within is not above across)");
    char pr[600], pm[600];
    mask_predictions(&m, RIVER[0], fr[0], cr[0], 8, pr, sizeof pr);
    mask_predictions(&m, MONEY[0], fm[0], cm[0], 8, pm, sizeof pm);
    it = exp_item_add(&s->r, "context.nearest_words", EXP_INFO, NAN);
    SETF(it->what, "the words the masked LM puts in bank's place in each sentence (bank masked, top 8 pieces)");
    SETF(it->claim, "attention adjusts the embedding based on surrounding words (geological vs financial meaning)");
    double st0[4096], lv0[4096];
    int nl = exp_metrics_series(exp_out(o, "mlm_metrics.jsonl"), "loss", st0, lv0, 4096);
    char fl[80] = "";
    if (nl > 0) snprintf(fl, sizeof fl, " (final masked-LM loss %.2f: the model mostly predicts frequent pieces)", lv0[nl - 1]);
    SETF(it->ember, "river sentence: %s | money sentence: %s%s", pr, pm, fl);
    /* figure: the 6x6 cosine matrix */
    float mat[36];
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 6; j++) mat[i * 6 + j] = (float)train_cosine(i < 3 ? vr[i] : vm[i - 3], j < 3 ? vr[j] : vm[j - 3], d);
    exp_section_fig(s, exp_fig_heatmap("Cosine of contextual \"bank\" vectors (rows/cols 0-2 river, 3-5 money)", mat, 6, 6,
                                       EXP_CMAP_SEQUENTIAL, "sentence", "sentence", 460, 400),
                    "train_embed_tokens of the trained masked LM, last layer; Word2Vec's matrix would be all 1.");
    double st[4096], lv[4096];
    int np = exp_metrics_series(exp_out(o, "mlm_metrics.jsonl"), "loss", st, lv, 4096);
    if (np > 1) {
        const char *nm[1] = {"masked-LM loss"};
        exp_section_fig(s, exp_fig_lines("Masked-LM training loss", "step", "cross-entropy", st, lv, 1, np, nm, false),
                        "From the loop's metrics (mean over 10 steps).");
    }
    snprintf(s->source, sizeof s->source, "%.390s. %.700s", c->w2v ? c->w2v_source : "(no Word2Vec)", how);
    train_lm_model_free(&m);
    return 0;
}
