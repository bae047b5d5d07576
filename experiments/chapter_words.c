/* chapter_words.c — `ember chapter words` and `chapter eval`: Word2Vec on Wikipedia, neighbours, t-SNE, word similarity, SST-2, frozen vs fine-tuned, the dimension trade-off. */
#include "chapter.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ag.h"
#include "checkpoints/export.h"
#include "data/evalsets.h"
#include "experiments/svg.h"
#include "experiments/tsne.h"
#include "nn/nn.h"
#include "optim/optim.h"
#include "train/eval.h"
#include "train/sentence.h"
#include "train/word2vec.h"

#define SETF EXP_SETF

/* The chapter's four groups (its 2-D sketch and t-SNE picture). */
static const char *const GROUPS[4][4] = {{"cat", "dog", "kitten", "puppy"},
                                         {"car", "bike", "truck", "train"},
                                         {"pizza", "pasta", "sandwich", "burger"},
                                         {"red", "blue", "green", "yellow"}};
static const char *const GROUP_NAMES[4] = {"animals", "vehicles", "foods", "colours"};

/* Vectors with word2vec.c's initialisation (uniform ±0.5/dim) for the same words: "before training". */
static train_vectors *random_like(const train_vectors *v, uint64_t seed) {
    float *x = base_xmalloc((size_t)v->n * v->dim * sizeof *x);
    base_rng r;
    base_rng_seed(&r, seed);
    for (int64_t i = 0; i < v->n * v->dim; i++) x[i] = (base_rng_uniform(&r) - 0.5f) / (float)v->dim;
    train_vectors *out = train_vectors_from(v->n, v->dim, v->words, x);
    free(x);
    return out;
}

static double cos_words(const train_vectors *v, const char *a, const char *b) {
    int64_t i = train_vectors_find(v, a, false), j = train_vectors_find(v, b, false);
    if (i < 0 || j < 0) return NAN;
    return train_cosine(v->vec + i * v->dim, v->vec + j * v->dim, v->dim);
}

/* "w1 (0.71), w2 (0.69), ..." of a word's k neighbours into buf. Returns the rank (1-based) of
 * `find` among the first 100 neighbours, or 0. */
static int neighbours_text(const train_vectors *v, const char *w, int k, char *buf, size_t n, const char *find) {
    train_neighbor nb[100];
    int got = train_similar(v, w, 100, nb);
    buf[0] = 0;
    if (got < 0) {
        snprintf(buf, n, "(not in the vocabulary)");
        return 0;
    }
    size_t o = 0;
    int rank = 0;
    for (int i = 0; i < got; i++) {
        if (i < k && o < n) o += (size_t)snprintf(buf + o, n - o, "%s%s (%.2f)", i ? ", " : "", v->words[nb[i].id], (double)nb[i].cosine);
        if (find && !rank && !strcmp(v->words[nb[i].id], find)) rank = i + 1;
    }
    return rank;
}

/* Mean within-group and between-group cosine of the chapter's 16 words. */
static void group_cosines(const train_vectors *v, double *within, double *between) {
    double sw = 0, sb = 0;
    int nw = 0, nb = 0;
    for (int g1 = 0; g1 < 4; g1++)
        for (int a = 0; a < 4; a++)
            for (int g2 = 0; g2 < 4; g2++)
                for (int b = 0; b < 4; b++) {
                    if (g1 * 4 + a >= g2 * 4 + b) continue;
                    double c = cos_words(v, GROUPS[g1][a], GROUPS[g2][b]);
                    if (!isfinite(c)) continue;
                    if (g1 == g2) sw += c, nw++;
                    else sb += c, nb++;
                }
    *within = nw ? sw / nw : NAN;
    *between = nb ? sb / nb : NAN;
}

static char *tsne_figure(const train_vectors *v, const exp_chapter_options *o, const char *file, const char *title) {
    int64_t ids[128];
    int group[128], n = 0;
    for (int gi = 0; gi < 4; gi++)
        for (int a = 0; a < 4; a++) {
            int64_t id = train_vectors_find(v, GROUPS[gi][a], false);
            if (id < 0) continue;
            train_neighbor nb[4];
            int k = train_nearest(v, v->unit + id * v->dim, &id, 1, 4, nb);
            int64_t cand[5] = {id, k > 0 ? nb[0].id : -1, k > 1 ? nb[1].id : -1, k > 2 ? nb[2].id : -1, k > 3 ? nb[3].id : -1};
            for (int j = 0; j < 5 && n < 128; j++) {
                if (cand[j] < 0) continue;
                bool dup = false;
                for (int q = 0; q < n; q++) dup |= ids[q] == cand[j];
                if (!dup) ids[n] = cand[j], group[n] = gi, n++;
            }
        }
    if (n < 4) return NULL;
    float *x = base_xmalloc((size_t)n * v->dim * sizeof *x), *y = base_xmalloc((size_t)n * 2 * sizeof *y);
    for (int i = 0; i < n; i++) memcpy(x + (size_t)i * v->dim, v->unit + ids[i] * v->dim, (size_t)v->dim * sizeof *x);
    exp_tsne_options to;
    exp_tsne_options_default(&to);
    to.perplexity = 8;
    to.seed = o->seed;
    exp_tsne(x, n, v->dim, &to, y);
    exp_svg_point pts[128];
    for (int i = 0; i < n; i++) pts[i] = (exp_svg_point){y[2 * i], y[2 * i + 1], v->words[ids[i]], group[i]};
    exp_svg_plot plot = {.title = title,
                         .subtitle = "the chapter's 16 words and each one's 4 nearest neighbours (colour: the chapter's group)",
                         .group_names = GROUP_NAMES,
                         .ngroups = 4,
                         .width = 820,
                         .height = 620};
    const char *path = exp_out(o, file);
    char *svg = exp_svg_scatter(path, &plot, pts, n) == 0 ? exp_fig_from_file(path) : NULL;
    free(x);
    free(y);
    return svg;
}

int exp_section_words(exp_chapter *c, exp_section *s, const exp_chapter_options *o) {
    if (exp_chapter_w2v(c, o) != 0) return -1;
    const train_vectors *v = c->w2v;
    snprintf(s->source, sizeof s->source, "%s", c->w2v_source);
    train_vectors *r0 = random_like(v, o->seed);
    char after[600], before[600];
    int rk_kitten = neighbours_text(v, "cat", 10, after, sizeof after, "kitten");
    int rk_dog = 0;
    {
        char tmp[600];
        rk_dog = neighbours_text(v, "cat", 10, tmp, sizeof tmp, "dog");
    }
    neighbours_text(r0, "cat", 10, before, sizeof before, NULL);
    double cd = cos_words(v, "cat", "dog"), ck = cos_words(v, "cat", "kitten"), cc = cos_words(v, "cat", "car");
    bool near = rk_kitten > 0 && rk_dog > 0 && cd > cc && ck > cc;
    exp_basics_item *it = exp_item_add(&s->r, "words.cat_neighbours", near ? EXP_MATCH : EXP_MISMATCH, cd);
    SETF(it->what, "nearest words to \"cat\" after training on Wikipedia");
    SETF(it->claim, "cat sits with dog, kitten and puppy, away from car and truck; find_similar(cat) → dog, kitten, "
                    "feline, pet, animal");
    char rk[120];
    char rk1[24] = "not in the top 100", rk2[24] = "not in the top 100";
    if (rk_kitten) snprintf(rk1, sizeof rk1, "#%d", rk_kitten);
    if (rk_dog) snprintf(rk2, sizeof rk2, "#%d", rk_dog);
    snprintf(rk, sizeof rk, "kitten %s, dog %s", rk1, rk2);
    SETF(it->what, "nearest words to \"cat\" after training on Wikipedia");
    SETF(it->ember, "%s: top 10: %s (%s); cos(cat, dog) %.3f, cos(cat, kitten) %.3f, cos(cat, car) %.3f%s",
         near ? "as claimed" : "differs", after, rk, cd, ck, cc,
         near ? "" : ". On 17M words of Wikipedia, cat is closer to dog and kitten than to car, but its nearest "
                     "neighbours are names and rare words that share its contexts");
    it = exp_item_add(&s->r, "words.before_training", EXP_INFO, cos_words(r0, "cat", "dog"));
    SETF(it->what, "the same words before training (word2vec.c's init, uniform ±0.5/dim)");
    SETF(it->claim, "embeddings start as random noise and training moves similar words together");
    SETF(it->ember, "neighbours of cat before training: %s; cos(cat, dog) %.3f", before, cos_words(r0, "cat", "dog"));
    double w1, b1, w0, b0;
    group_cosines(v, &w1, &b1);
    group_cosines(r0, &w0, &b0);
    it = exp_item_add(&s->r, "words.clusters", w1 > b1 + 0.1 ? EXP_MATCH : EXP_MISMATCH, w1 - b1);
    SETF(it->what, "the chapter's four groups (animals, vehicles, foods, colours): within vs between cosine");
    SETF(it->claim, "\"Similar concepts cluster together!\"");
    SETF(it->ember, "after training: mean cosine within a group %.3f, between groups %.3f; before training %.3f and %.3f",
         w1, b1, w0, b0);
    it = exp_item_add(&s->r, "words.cat_dog_scale", fabs(cd - 0.99) < 0.05 ? EXP_MATCH : EXP_MISMATCH, cd);
    SETF(it->what, "how close \"very similar\" words really are");
    SETF(it->claim, "cosine_sim(cat, dog) → 0.99 (very similar!)");
    SETF(it->ember, "%s: on vectors trained on real text cos(cat, dog) = %.3f; 0.99 is what the chapter's hand-made "
                    "4-d vectors give (0.9866), not what trained embeddings of related words look like",
         fabs(cd - 0.99) < 0.05 ? "as claimed" : "differs", cd);
    train_neighbor nb[5];
    int k = train_analogy_query(v, "king", "man", "woman", 5, nb);
    char an[300] = "";
    size_t ao = 0;
    for (int i = 0; i < k; i++) ao += (size_t)snprintf(an + ao, sizeof an - ao, "%s%s (%.3f)", i ? ", " : "", v->words[nb[i].id], (double)nb[i].cosine);
    bool queen = k > 0 && !strcmp(v->words[nb[0].id], "queen");
    it = exp_item_add(&s->r, "words.king_queen", queen ? EXP_MATCH : EXP_MISMATCH, k > 0 ? nb[0].cosine : NAN);
    SETF(it->what, "king - man + woman with the query words excluded (3CosAdd)");
    SETF(it->claim, "king - man + woman ≈ queen");
    SETF(it->ember, "%s: %s", queen ? "as claimed" : "differs", an);
    const char *qp = exp_data(o, "analogy/questions-words.txt");
    data_analogy_set *q = NULL;
    if (qp && data_analogy_read(&q, qp) == 0) {
        train_analogy_result ar;
        train_eval_analogy(v, q, 30000, &ar);
        it = exp_item_add(&s->r, "words.analogy_accuracy", EXP_INFO, 100.0 * ar.correct / (ar.seen ? ar.seen : 1));
        SETF(it->what, "word2vec's 19,544 analogy questions (top 30,000 words, query words excluded)");
        SETF(it->claim, "(the famous equation, in general)");
        SETF(it->ember, "%.2f%% of %s answerable questions (semantic %.2f%%, syntactic %.2f%%); coverage %.1f%%",
             100.0 * ar.correct / (ar.seen ? ar.seen : 1), exp_commas(ar.seen), 100.0 * ar.sem_correct / (ar.sem_seen ? ar.sem_seen : 1),
             100.0 * ar.syn_correct / (ar.syn_seen ? ar.syn_seen : 1), 100.0 * ar.seen / (ar.total ? ar.total : 1));
        train_analogy_result_free(&ar);
        data_analogy_free(q);
    }
    exp_section_fig(s, tsne_figure(v, o, "words_tsne.svg", "t-SNE of Word2Vec trained on Wikipedia"),
                    "exp_tsne (perplexity 8) of unit vectors; labels are the words. Compare the chapter's sketch: "
                    "animals, vehicles, foods and colours form their own regions.");
    exp_section_fig(s, tsne_figure(r0, o, "words_tsne_before.svg", "The same words before training (random init)"),
                    "The same procedure on word2vec's initial vectors: no structure, the neighbours are arbitrary words.");
    train_vectors_free(r0);
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Sentence features and the bag-of-embeddings classifier (eval and tips)
 * ------------------------------------------------------------------------------------------ */
/* Mean of the vectors of a sentence's whitespace tokens found in v → out [dim] (zeros if none). */
static void mean_vector(const train_vectors *v, const char *text, float *out) {
    memset(out, 0, (size_t)v->dim * sizeof *out);
    char w[128];
    int n = 0;
    for (const char *p = text; *p;) {
        while (*p == ' ') p++;
        size_t L = strcspn(p, " ");
        if (!L) break;
        snprintf(w, sizeof w, "%.*s", (int)(L < 127 ? L : 127), p);
        int64_t id = train_vectors_find(v, w, false);
        if (id >= 0) {
            for (int64_t j = 0; j < v->dim; j++) out[j] += v->vec[id * v->dim + j];
            n++;
        }
        p += L;
    }
    if (n)
        for (int64_t j = 0; j < v->dim; j++) out[j] /= (float)n;
}

typedef struct {
    data_labeled_sentences *tr, *dev, *te;
} sst_data;

static int sst_load(const exp_chapter_options *o, sst_data *d) {
    memset(d, 0, sizeof *d);
    const char *a = exp_data(o, "classification/sst2/train.tsv.gz"), *b = exp_data(o, "classification/sst2/dev.tsv"),
               *cpath = exp_data(o, "classification/sst2/test.tsv");
    if (!a || !b || !cpath) return base_error_set("SST-2 (classification/sst2) is not in the data directory");
    if (data_labeled_read(&d->tr, a) || data_labeled_read(&d->dev, b) || data_labeled_read(&d->te, cpath)) {
        data_labeled_free(d->tr);
        data_labeled_free(d->dev);
        data_labeled_free(d->te);
        return -1;
    }
    return 0;
}

static void sst_free(sst_data *d) {
    data_labeled_free(d->tr);
    data_labeled_free(d->dev);
    data_labeled_free(d->te);
}

/* Logistic-regression probe on mean vectors: test accuracy (%), dev in *dev. ntr: training rows used. */
static double sst_probe(const train_vectors *v, const sst_data *d, int64_t ntr, double *dev) {
    if (ntr > d->tr->n) ntr = d->tr->n;
    const int64_t D = v->dim;
    float *xtr = base_xmalloc((size_t)ntr * D * sizeof *xtr), *xd = base_xmalloc((size_t)d->dev->n * D * sizeof *xd),
          *xt = base_xmalloc((size_t)d->te->n * D * sizeof *xt);
    for (int64_t i = 0; i < ntr; i++) mean_vector(v, d->tr->text[i], xtr + i * D);
    for (int64_t i = 0; i < d->dev->n; i++) mean_vector(v, d->dev->text[i], xd + i * D);
    for (int64_t i = 0; i < d->te->n; i++) mean_vector(v, d->te->text[i], xt + i * D);
    train_probe_result pr;
    int rc = train_probe_logreg(xtr, d->tr->label, ntr, xd, d->dev->label, d->dev->n, xt, d->te->label, d->te->n, D, &pr);
    free(xtr);
    free(xd);
    free(xt);
    if (rc != 0) return NAN;
    if (dev) *dev = pr.dev_acc;
    return pr.test_acc;
}

/* A bag-of-embeddings classifier on SST-2: table initialised from v (the words of the training
 * sentences found in v), mean over the words, linear → 2 classes, Adam. */
typedef struct bag_result {
    double dev_acc, test_acc, train_loss, seconds, emb_change; /* emb_change: mean |Δ| of the table */
    int steps;
} bag_result;

typedef struct {
    int64_t n;
    int32_t *ids; /* [n, L] table rows, 0 = padding */
    int32_t *pad; /* [n, L] nonzero = padding */
} bag_batchset;
#define BAG_L 48

static void bag_encode(const train_vectors *v, const int64_t *map, const data_labeled_sentences *d, int64_t n, bag_batchset *b) {
    b->n = n;
    b->ids = base_xcalloc((size_t)n * BAG_L, sizeof *b->ids);
    b->pad = base_xmalloc((size_t)n * BAG_L * sizeof *b->pad);
    for (int64_t i = 0; i < n * BAG_L; i++) b->pad[i] = 1;
    char w[128];
    for (int64_t i = 0; i < n; i++) {
        int k = 0;
        for (const char *p = d->text[i]; *p && k < BAG_L;) {
            while (*p == ' ') p++;
            size_t L = strcspn(p, " ");
            if (!L) break;
            snprintf(w, sizeof w, "%.*s", (int)(L < 127 ? L : 127), p);
            int64_t id = train_vectors_find(v, w, false);
            if (id >= 0 && map[id] > 0) b->ids[i * BAG_L + k] = (int32_t)map[id], b->pad[i * BAG_L + k] = 0, k++;
            p += L;
        }
        if (k == 0) b->pad[i * BAG_L] = 0; /* an all-unknown sentence reads the zero row */
    }
}

static double bag_accuracy(ag_graph *g, const nn_embedding *e, const nn_linear *lin, const bag_batchset *b,
                           const int32_t *labels) {
    int64_t correct = 0;
    ag_set_training(g, false);
    for (int64_t s = 0; s < b->n; s += 256) {
        int64_t B = b->n - s < 256 ? b->n - s : 256;
        ag_no_grad_begin(g);
        ag_tensor *x = nn_embedding_forward(g, e, ag_from_i32(g, AG_SHAPE(B, BAG_L), b->ids + s * BAG_L));
        ag_tensor *h = nn_pool_mean(g, x, ag_from_i32(g, AG_SHAPE(B, BAG_L), b->pad + s * BAG_L));
        const float *lg = ag_f32(nn_linear_forward(g, lin, h));
        for (int64_t i = 0; i < B; i++) correct += (lg[2 * i + 1] > lg[2 * i]) == (labels[s + i] == 1);
        ag_no_grad_end(g);
        ag_graph_reset(g);
    }
    ag_set_training(g, true);
    return 100.0 * (double)correct / (double)b->n;
}

/* freeze: the table is not trained; dropout: nn.Dropout(p) on the looked-up vectors (the chapter's tip). */
static int bag_train(const train_vectors *v, const sst_data *d, bool freeze, float dropout, int epochs, uint64_t seed,
                     bag_result *res) {
    double t0 = base_now_sec();
    /* table rows: 0 = padding, then every vocabulary word that occurs in the training sentences */
    int64_t *map = base_xcalloc((size_t)v->n, sizeof *map), K = 1;
    char w[128];
    for (int64_t i = 0; i < d->tr->n; i++)
        for (const char *p = d->tr->text[i]; *p;) {
            while (*p == ' ') p++;
            size_t L = strcspn(p, " ");
            if (!L) break;
            snprintf(w, sizeof w, "%.*s", (int)(L < 127 ? L : 127), p);
            int64_t id = train_vectors_find(v, w, false);
            if (id >= 0 && !map[id]) map[id] = K++;
            p += L;
        }
    const int64_t D = v->dim;
    float *init = base_xcalloc((size_t)K * D, sizeof *init);
    for (int64_t id = 0; id < v->n; id++)
        if (map[id]) memcpy(init + map[id] * D, v->vec + id * D, (size_t)D * sizeof *init);
    nn_params ps;
    nn_params_init(&ps);
    nn_embedding e;
    nn_embedding_config ec = nn_embedding_config_default(K, D);
    ec.init = NN_INIT_NONE;
    ec.padding_idx = 0;
    nn_embedding_init(&e, &ps, "emb", ec);
    nn_linear lin;
    nn_linear_init(&lin, &ps, "cls", D, 2, true);
    base_rng rng;
    base_rng_seed(&rng, seed);
    nn_params_alloc(&ps, &rng);
    nn_embedding_load(&e, init, K, D);
    if (freeze) nn_params_freeze(&ps, "emb.*", true);
    optim *opt = optim_new(&ps, optim_config_default(OPTIM_ADAM, 1e-3f));
    bag_batchset tr, dv, te;
    bag_encode(v, map, d->tr, d->tr->n, &tr);
    bag_encode(v, map, d->dev, d->dev->n, &dv);
    bag_encode(v, map, d->te, d->te->n, &te);
    ag_graph *g = ag_graph_new(0);
    base_rng_seed(ag_graph_rng(g), seed);
    const int64_t B = 64;
    int64_t *perm = base_xmalloc((size_t)tr.n * sizeof *perm);
    for (int64_t i = 0; i < tr.n; i++) perm[i] = i;
    int32_t *bid = base_xmalloc((size_t)B * BAG_L * sizeof *bid), *bpad = base_xmalloc((size_t)B * BAG_L * sizeof *bpad), y[64];
    double lsum = 0;
    int64_t lcount = 0;
    int steps = 0;
    for (int ep = 0; ep < epochs; ep++) {
        for (int64_t i = tr.n - 1; i > 0; i--) { /* Fisher–Yates */
            int64_t j = (int64_t)(base_rng_uniform_d(&rng) * (double)(i + 1));
            int64_t t = perm[i];
            perm[i] = perm[j], perm[j] = t;
        }
        lsum = 0, lcount = 0;
        for (int64_t s = 0; s + B <= tr.n; s += B) {
            for (int64_t b = 0; b < B; b++) {
                memcpy(bid + b * BAG_L, tr.ids + perm[s + b] * BAG_L, BAG_L * sizeof *bid);
                memcpy(bpad + b * BAG_L, tr.pad + perm[s + b] * BAG_L, BAG_L * sizeof *bpad);
                y[b] = d->tr->label[perm[s + b]];
            }
            ag_tensor *x = nn_embedding_forward(g, &e, ag_from_i32(g, AG_SHAPE(B, BAG_L), bid));
            if (dropout > 0) x = nn_dropout(g, x, dropout);
            ag_tensor *h = nn_pool_mean(g, x, ag_from_i32(g, AG_SHAPE(B, BAG_L), bpad));
            ag_tensor *loss = ag_cross_entropy(g, nn_linear_forward(g, &lin, h), ag_from_i32(g, AG_SHAPE(B), y), -1, AG_MEAN);
            lsum += ag_f32(loss)[0], lcount++;
            ag_backward(g, loss);
            optim_step(opt);
            nn_params_zero_grad(&ps);
            ag_graph_reset(g);
            steps++;
        }
    }
    res->train_loss = lcount ? lsum / (double)lcount : NAN;
    res->dev_acc = bag_accuracy(g, &e, &lin, &dv, d->dev->label);
    res->test_acc = bag_accuracy(g, &e, &lin, &te, d->te->label);
    double ch = 0;
    for (int64_t i = 0; i < K * D; i++) ch += fabs((double)ag_f32(e.weight)[i] - init[i]);
    res->emb_change = ch / (double)(K * D);
    res->steps = steps;
    res->seconds = base_now_sec() - t0;
    free(perm);
    free(bid);
    free(bpad);
    free(tr.ids), free(tr.pad), free(dv.ids), free(dv.pad), free(te.ids), free(te.pad);
    ag_graph_free(g);
    optim_free(opt);
    nn_params_free(&ps);
    free(init);
    free(map);
    return 0;
}

/* Shared with the tips section. */
int exp_words_bag(const train_vectors *v, const exp_chapter_options *o, float dropout, bool freeze, int epochs,
                  double *dev, double *test, double *train_loss);
int exp_words_bag(const train_vectors *v, const exp_chapter_options *o, float dropout, bool freeze, int epochs,
                  double *dev, double *test, double *train_loss) {
    sst_data d;
    if (sst_load(o, &d) != 0) return -1;
    bag_result r;
    bag_train(v, &d, freeze, dropout, epochs, o->seed, &r);
    *dev = r.dev_acc, *test = r.test_acc, *train_loss = r.train_loss;
    sst_free(&d);
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * eval
 * ------------------------------------------------------------------------------------------ */
static const char *const WORDSIM[] = {"EN-WS-353-ALL", "EN-WS-353-SIM", "EN-WS-353-REL", "EN-SIMLEX-999", "EN-MEN-TR-3k",
                                      "EN-RW-STANFORD", "EN-MTurk-771", "EN-MTurk-287", "EN-RG-65", "EN-MC-30",
                                      "EN-SimVerb-3500", "EN-VERB-143", "EN-YP-130"};
#define NWS ((int)(sizeof WORDSIM / sizeof WORDSIM[0]))

/* Spearman × 100 on one word-similarity set (NaN if absent). */
static double wordsim(const train_vectors *v, const exp_chapter_options *o, const char *name, int64_t *oov, int64_t *pairs) {
    char rel[128];
    snprintf(rel, sizeof rel, "wordsim/%s.txt", name);
    const char *p = exp_data(o, rel);
    data_wordsim_set *ws = NULL;
    if (!p || data_wordsim_read(&ws, p) != 0) return NAN;
    train_wordsim_result r;
    train_eval_wordsim(v, ws, 0, &r);
    if (oov) *oov = r.oov;
    if (pairs) *pairs = r.pairs;
    data_wordsim_free(ws);
    return 100.0 * r.spearman;
}

/* Human score of a pair in a set, scaled to 0–10 (NaN if absent). */
static double human_score(const exp_chapter_options *o, const char *set, const char *a, const char *b, double scale) {
    char rel[128];
    snprintf(rel, sizeof rel, "wordsim/%s.txt", set);
    const char *p = exp_data(o, rel);
    data_wordsim_set *ws = NULL;
    if (!p || data_wordsim_read(&ws, p) != 0) return NAN;
    double r = NAN;
    for (int64_t i = 0; i < ws->n; i++)
        if ((!strcmp(ws->w1[i], a) && !strcmp(ws->w2[i], b)) || (!strcmp(ws->w1[i], b) && !strcmp(ws->w2[i], a)))
            r = ws->score[i] * 10.0 / scale;
    data_wordsim_free(ws);
    return r;
}

static int sweep_dim(const exp_chapter_options *o, int dim, const char *corpus, train_vectors **out, double *secs,
                     char *how, size_t hown) {
    char name[64];
    snprintf(name, sizeof name, "w2v%d.bin", dim);
    const char *reuse = exp_model(o, name);
    if (reuse) {
        *secs = NAN;
        snprintf(how, hown, "reused %s", reuse);
        return train_vectors_load(out, reuse, NULL);
    }
    train_w2v_options w;
    train_w2v_options_default(&w);
    w.train = corpus;
    w.cbow = 0;
    w.size = dim;
    w.sample = 1e-4;
    w.iter = 1;
    w.threads = o->threads;
    w.seed = o->seed;
    w.debug = 0;
    w.progress = false;
    double t0 = base_now_sec();
    train_w2v_model *m = NULL;
    if (train_w2v_run(&w, &m) < 0) return -1;
    *secs = base_now_sec() - t0;
    *out = train_vectors_from(m->vocab->n, m->dim, m->vocab->words, m->syn0);
    ckpt_export_word2vec(exp_out(o, name), (const char *const *)m->vocab->words, m->syn0, m->vocab->n, m->dim, true);
    snprintf(how, hown, "trained here in %.0f s", *secs);
    train_w2v_model_free(m);
    return 0;
}

int exp_section_eval(exp_chapter *c, exp_section *s, const exp_chapter_options *o) {
    if (exp_chapter_w2v(c, o) != 0) return -1;
    const train_vectors *v = c->w2v;
    train_vectors *r0 = random_like(v, o->seed);
    /* intrinsic: every word-similarity set */
    double rho[NWS];
    const char *labels[NWS];
    int groups[NWS];
    char line[1200];
    size_t lo = 0;
    for (int i = 0; i < NWS; i++) {
        int64_t oov = 0, pairs = 0;
        rho[i] = wordsim(v, o, WORDSIM[i], &oov, &pairs);
        labels[i] = WORDSIM[i] + 3;
        groups[i] = 0;
        if (isfinite(rho[i]) && lo < sizeof line)
            lo += (size_t)snprintf(line + lo, sizeof line - lo, "%s%s %.1f (%lld/%lld OOV)", i ? "; " : "", WORDSIM[i] + 3, rho[i],
                                   (long long)oov, (long long)pairs);
    }
    double rnd = wordsim(r0, o, "EN-WS-353-ALL", NULL, NULL);
    exp_basics_item *it = exp_item_add(&s->r, "eval.wordsim", isfinite(rho[0]) && rho[0] > rnd + 20 ? EXP_MATCH : EXP_MISMATCH, rho[0]);
    SETF(it->what, "intrinsic evaluation: Spearman ρ x 100 of cosine vs human scores, all 13 word-similarity sets");
    SETF(it->claim, "\"Word similarity tasks ... High correlation = good embeddings\"");
    SETF(it->ember, "%s. Untrained vectors on WS-353: %.1f", line, rnd);
    exp_section_fig(s, exp_fig_bars("Word similarity: Spearman ρ x 100 (Word2Vec on Wikipedia)", labels, rho, groups, NWS, ""),
                    "train_eval_wordsim on each set in ../shared/data/wordsim (pairs with an unknown word are left out "
                    "and counted as OOV).");
    /* per-pair lookups beside the chapter's invented 8/10 and 0.82 */
    double simlex = human_score(o, "EN-SIMLEX-999", "cat", "dog", 10), c_cd = cos_words(v, "cat", "dog");
    double ws_ct = human_score(o, "EN-WS-353-ALL", "tiger", "cat", 10), c_tc = cos_words(v, "tiger", "cat");
    it = exp_item_add(&s->r, "eval.cat_dog_pair", EXP_MISMATCH, simlex);
    SETF(it->what, "one pair looked up: cat–dog (and tiger–cat) in the human-rated sets");
    SETF(it->claim, "Human rating: \"cat\" and \"dog\" similarity = 8/10; Model cosine sim: 0.82");
    SETF(it->ember, "differs: both numbers are invented. SimLex-999 rates cat–dog %.2f/10 (similarity, not relatedness: "
                    "they are different animals); WS-353 has no cat–dog pair (tiger–cat %.2f/10). Word2Vec: cos(cat, dog) "
                    "= %.3f, cos(tiger, cat) = %.3f. A single pair says little: the metric is the rank correlation over "
                    "the whole set (above)",
         simlex, ws_ct, c_cd, c_tc);
    /* extrinsic: SST-2 */
    sst_data d;
    if (sst_load(o, &d) == 0) {
        int64_t ntr = o->quick ? 3000 : 10000;
        double dev1 = NAN, dev0 = NAN;
        double t1 = sst_probe(v, &d, ntr, &dev1), t0 = sst_probe(r0, &d, ntr, &dev0);
        it = exp_item_add(&s->r, "eval.sst2_probe", t1 > t0 + 5 ? EXP_MATCH : EXP_MISMATCH, t1);
        SETF(it->what, "extrinsic evaluation: SST-2 sentiment, logistic regression on mean word vectors (%s training "
                       "sentences)",
             exp_commas(ntr));
        SETF(it->claim, "\"Better embeddings → Better task performance\" (text classification accuracy)");
        SETF(it->ember, "trained Word2Vec: test %.2f%% (dev %.2f%%); the same words with untrained vectors: test %.2f%% (dev "
                        "%.2f%%)",
             t1, dev1, t0, dev0);
        bag_result fr, ft;
        int ep = o->quick ? 1 : 3;
        bag_train(v, &d, true, 0, ep, o->seed, &fr);
        bag_train(v, &d, false, 0, ep, o->seed, &ft);
        it = exp_item_add(&s->r, "eval.frozen_vs_finetuned", EXP_INFO, ft.test_acc - fr.test_acc);
        SETF(it->what, "frozen vs fine-tuned embeddings: a bag-of-embeddings classifier on all 67,349 SST-2 training "
                       "sentences (table from Word2Vec, mean, linear; Adam 1e-3, %d epoch%s)",
             ep, ep == 1 ? "" : "s");
        SETF(it->claim, "\"When fine-tuning, sometimes freeze embeddings to focus on other layers\" "
                        "(embedding.weight.requires_grad = False)");
        SETF(it->ember, "frozen: test %.2f%% (dev %.2f%%), table unchanged (mean |Δ| %.2g); fine-tuned: test %.2f%% (dev "
                        "%.2f%%), mean |Δ| %.2g; %d steps each, %.1f s and %.1f s",
             fr.test_acc, fr.dev_acc, fr.emb_change, ft.test_acc, ft.dev_acc, ft.emb_change, fr.steps, fr.seconds, ft.seconds);
        const char *bl[2] = {"frozen Word2Vec table", "fine-tuned table"};
        double bv[2] = {fr.test_acc, ft.test_acc};
        int bg[2] = {0, 1};
        exp_section_fig(s, exp_fig_bars("SST-2 test accuracy: frozen vs fine-tuned embeddings", bl, bv, bg, 2, "%"),
                        "The same classifier and seed; only requires_grad on the table differs (nn_params_freeze).");
    }
    /* the dimension trade-off, measured */
    const char *src = exp_data(o, "corpus/enwiki_text8style_1e8.txt.gz");
    const char *cut = src && o->quick ? exp_cut_corpus(o, src, 3000000, "enwiki_3MB.txt") : src;
    /* own copy: exp_out/exp_data return rotating buffers that later calls reuse */
    char corpus_buf[4096];
    const char *corpus = cut ? (snprintf(corpus_buf, sizeof corpus_buf, "%s", cut), corpus_buf) : NULL;
    if (corpus) {
        const int dims[4] = {50, 100, 200, 300};
        double x[4], ws[4], sl[4], an[4], sst[4], mem[4], secs[4];
        static char rows[6][200];
        const char *rp[6];
        snprintf(rows[0], sizeof rows[0], "dim|WS-353|SimLex|analogy|SST-2|table MB|train s");
        char hows[4][200];
        data_analogy_set *q = NULL;
        const char *qp = exp_data(o, "analogy/questions-words.txt");
        if (qp) data_analogy_read(&q, qp);
        for (int k = 0; k < 4; k++) {
            train_vectors *vk = NULL;
            x[k] = dims[k];
            ws[k] = sl[k] = an[k] = sst[k] = mem[k] = secs[k] = NAN;
            exp_log(o, "eval: Word2Vec %d-d on %s", dims[k], corpus);
            if (sweep_dim(o, dims[k], corpus, &vk, &secs[k], hows[k], sizeof hows[k]) != 0) {
                snprintf(rows[k + 1], sizeof rows[0], "%d|failed: %.100s", dims[k], base_error_msg());
                continue;
            }
            ws[k] = wordsim(vk, o, "EN-WS-353-ALL", NULL, NULL);
            sl[k] = wordsim(vk, o, "EN-SIMLEX-999", NULL, NULL);
            if (q) {
                train_analogy_result ar;
                train_eval_analogy(vk, q, 30000, &ar);
                an[k] = 100.0 * ar.correct / (ar.seen ? ar.seen : 1);
                train_analogy_result_free(&ar);
            }
            if (d.tr) sst[k] = sst_probe(vk, &d, o->quick ? 2000 : 6000, NULL);
            mem[k] = (double)vk->n * dims[k] * 4 / 1e6;
            snprintf(rows[k + 1], sizeof rows[0], "%d|%.1f|%.1f|%.1f%%|%.1f%%|%.1f|%s", dims[k], ws[k], sl[k], an[k], sst[k], mem[k],
                     isfinite(secs[k]) ? hows[k] + strlen("trained here in ") : "reused");
            train_vectors_free(vk);
        }
        data_analogy_free(q);
        for (int i = 0; i < 5; i++) rp[i] = rows[i];
        exp_section_fig(s, exp_fig_table("The dimension trade-off, measured (Word2Vec on the same corpus)", rp, 5),
                        "Skip-gram, window 5, 5 negatives, sample 1e-4, min-count 5, one epoch, the same seed; only the "
                        "dimension changes. Table "
                        "MB = vocabulary x dim x 4 bytes (the input vectors; training holds a second table of the same "
                        "size).");
        double yy[3 * 4];
        for (int k = 0; k < 4; k++) yy[k] = ws[k], yy[4 + k] = an[k], yy[8 + k] = sst[k];
        const char *nm[3] = {"WS-353 ρ x 100", "analogy %", "SST-2 probe %"};
        exp_section_fig(s, exp_fig_lines("Quality against dimension", "embedding dimension", "score", x, yy, 3, 4, nm, false),
                        "The chapter's table says only \"limited\" vs \"very expressive\"; these are the measured numbers "
                        "on one corpus.");
        bool grows = an[3] > an[0] && ws[3] >= ws[0] - 2;
        it = exp_item_add(&s->r, "eval.dimension_sweep", EXP_INFO, an[3] - an[0]);
        SETF(it->what, "the dimension table (64-128 \"limited\", 256-512 \"good balance\", 768-1024 \"very expressive\") "
                       "measured at 50/100/200/300 on %s",
             o->quick ? "3 MB of Wikipedia, 1 epoch" : "the whole Wikipedia corpus (17.3M words), 1 epoch each");
        SETF(it->claim, "larger dimensions are more expressive but cost memory and time");
        SETF(it->ember, "%s | %s | %s | %s | %s. Memory and time grow with the dimension; quality %s",
             rows[0], rows[1], rows[2], rows[3], rows[4],
             grows ? "grows with it, with diminishing returns"
                   : "does not, at this amount of training (one epoch each; the 5-epoch 100-d model of `words` reaches "
                     "36% on the analogies): the data and the training, not the width, limit it here");
        if (!s->source[0])
            snprintf(s->source, sizeof s->source, "%.400s. Sweep: %.300s, %.150s.", c->w2v_source, corpus, hows[0]);
    }
    if (d.tr) sst_free(&d);
    if (!s->source[0]) snprintf(s->source, sizeof s->source, "%s", c->w2v_source);
    train_vectors_free(r0);
    return 0;
}
