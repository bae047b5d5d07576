/* demo.c — `ember demo`: chapter world (or a user corpus) → Word2Vec → neighbours, analogies, scores, checkpoint, picture. */
#include "experiments/demo.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "autograd/ag.h"
#include "checkpoints/export.h"
#include "data/evalsets.h"
#include "data/world.h"
#include "experiments/svg.h"
#include "experiments/tsne.h"
#include "train/eval.h"
#include "train/word2vec.h"

void exp_demo_options_default(exp_demo_options *o) {
    memset(o, 0, sizeof *o);
    o->out_dir = "ember-demo";
    o->seed = 1;
    o->threads = 2;
}

/* mkdir -p: creates every missing component. Returns 0 or -1 with an error. */
static int mkdir_p(const char *dir) {
    char buf[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof buf) return base_error_set("%s: expected a directory path of 1..4095 bytes", dir);
    memcpy(buf, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != 0) continue;
        char c = buf[i];
        buf[i] = 0;
        struct stat st;
        if (stat(buf, &st)) {
            if (mkdir(buf, 0777) && errno != EEXIST) return base_error_set("%s: cannot create directory: %s", buf, strerror(errno));
        } else if (!S_ISDIR(st.st_mode)) {
            return base_error_set("%s: exists and is not a directory", buf);
        }
        buf[i] = c;
    }
    return 0;
}

/* ---- the world's structure, as evaluation sets ------------------------------------------------ */

#define DEMO_MAX_GROUPS 8

/* What the demo knows about the corpus: categories for the picture and the similarity set, and
 * analogy questions. In world mode all strings are borrowed from data/world.h's static tables. */
typedef struct {
    int ngroups;
    const char *group_name[DEMO_MAX_GROUPS];
    const char *const *group_words[DEMO_MAX_GROUPS];
    int group_n[DEMO_MAX_GROUPS];
    const char *const (*questions)[4]; /* [nquestions] a b c d */
    int nquestions;
} demo_structure;

/* Fills w from data/world.h and writes the corpus. The four picture categories are the world's
 * groups named animals, vehicles, foods, colours (in that order). */
static int demo_world_generate(const char *path, uint64_t seed, int64_t nsent, demo_structure *w) {
    static const char *const cats[4] = {"animals", "vehicles", "foods", "colours"};
    const data_world_group *g;
    int ng = data_world_groups(&g);
    for (int c = 0; c < 4; c++)
        for (int i = 0; i < ng; i++)
            if (!strcmp(g[i].name, cats[c])) {
                w->group_name[w->ngroups] = g[i].name;
                w->group_words[w->ngroups] = g[i].words;
                w->group_n[w->ngroups++] = g[i].n_words;
            }
    w->nquestions = data_world_analogies(&w->questions);
    return data_world_write(path, seed, nsent);
}

static const data_world_group *find_group(const char *name) {
    const data_world_group *g;
    int ng = data_world_groups(&g);
    for (int i = 0; i < ng; i++)
        if (!strcmp(g[i].name, name)) return &g[i];
    return NULL;
}

static bool in_group(const data_world_group *g, const char *w) {
    for (int i = 0; g && i < g->n_words; i++)
        if (!strcmp(g->words[i], w)) return true;
    return false;
}

/* Appends one section of questions "a_i b_i a_j b_j" for all ordered pairs i != j of the word
 * pairs (a[k], b[k]), k < np. */
static void add_section(data_analogy_set *q, int64_t *cap, const char *name, const char *const *a,
                        const char *const *b, int np) {
    if (np < 2) return;
    int s = q->n_sections++;
    q->section_names = base_xrealloc(q->section_names, (size_t)q->n_sections * sizeof(char *));
    q->section_names[s] = (char *)name;
    for (int i = 0; i < np; i++)
        for (int j = 0; j < np; j++) {
            if (i == j) continue;
            if (q->n == *cap) {
                *cap *= 2;
                q->words = base_xrealloc(q->words, (size_t)*cap * 4 * sizeof(char *));
                q->section = base_xrealloc(q->section, (size_t)*cap * sizeof(int32_t));
            }
            char **x = q->words + 4 * q->n;
            x[0] = (char *)a[i], x[1] = (char *)b[i], x[2] = (char *)a[j], x[3] = (char *)b[j];
            q->section[q->n++] = s;
        }
}

/* The world's analogy questions, derived from the generator's public groups (strings borrowed,
 * pool stays NULL):
 *   - people: for each feature (gender male/female, rank common/royal, age adult/young) the word
 *     pairs that differ in that feature only (man:woman, king:queen, ...), found through the
 *     feature groups; every ordered pair of pairs is a question (man woman king queen);
 *   - capitals: country i : capital i (the two groups are index-aligned), 12 × 11 questions.
 * Falls back to data_world_analogies' built-in list if the groups are not there. */
static data_analogy_set *world_analogies(const demo_structure *w) {
    static const char *const feat[3][3] = {
        {"gender (man : woman)", "male", "female"}, {"rank (man : king)", "common", "royal"}, {"age (man : boy)", "adult", "young"}};
    data_analogy_set *q = base_xcalloc(1, sizeof *q);
    int64_t cap = 64;
    q->words = base_xmalloc((size_t)cap * 4 * sizeof(char *));
    q->section = base_xmalloc((size_t)cap * sizeof(int32_t));
    for (int f = 0; f < 3; f++) {
        const data_world_group *A = find_group(feat[f][1]), *B = find_group(feat[f][2]);
        if (!A || !B) continue;
        const char *pa[32], *pb[32];
        int np = 0;
        for (int i = 0; i < A->n_words && np < 32; i++)
            for (int j = 0; j < B->n_words; j++) {
                bool same_elsewhere = true; /* on the same pole of every other feature */
                for (int h = 0; h < 3 && same_elsewhere; h++) {
                    if (h == f) continue;
                    const data_world_group *P = find_group(feat[h][1]);
                    same_elsewhere = in_group(P, A->words[i]) == in_group(P, B->words[j]);
                }
                if (same_elsewhere) {
                    pa[np] = A->words[i], pb[np++] = B->words[j];
                    break;
                }
            }
        add_section(q, &cap, feat[f][0], pa, pb, np);
    }
    const data_world_group *C = find_group("countries"), *K = find_group("capitals");
    if (C && K && C->n_words == K->n_words) add_section(q, &cap, "country : capital", C->words, K->words, C->n_words);
    if (q->n == 0) { /* fall back to the built-in questions, one section */
        add_section(q, &cap, "built-in", NULL, NULL, 0);
        q->section_names = base_xrealloc(q->section_names, sizeof(char *));
        q->section_names[0] = "built-in";
        q->n_sections = 1;
        for (int i = 0; i < w->nquestions; i++) {
            if (q->n == cap) {
                cap *= 2;
                q->words = base_xrealloc(q->words, (size_t)cap * 4 * sizeof(char *));
                q->section = base_xrealloc(q->section, (size_t)cap * sizeof(int32_t));
            }
            for (int j = 0; j < 4; j++) q->words[4 * q->n + j] = (char *)w->questions[i][j];
            q->section[q->n++] = 0;
        }
    }
    return q;
}

/* Category-membership similarity: every pair of category words, gold 1 if same category else 0. */
static data_wordsim_set *world_similarity(const demo_structure *w) {
    data_wordsim_set *s = base_xcalloc(1, sizeof *s);
    int64_t tot = 0;
    for (int g = 0; g < w->ngroups; g++) tot += w->group_n[g];
    int64_t cap = tot * tot / 2 + 1;
    s->w1 = base_xmalloc((size_t)cap * sizeof(char *));
    s->w2 = base_xmalloc((size_t)cap * sizeof(char *));
    s->score = base_xmalloc((size_t)cap * sizeof(float));
    s->name = base_xstrdup("world-categories");
    for (int g = 0; g < w->ngroups; g++)
        for (int i = 0; i < w->group_n[g]; i++)
            for (int h = g; h < w->ngroups; h++)
                for (int j = (h == g ? i + 1 : 0); j < w->group_n[h]; j++) {
                    s->w1[s->n] = (char *)w->group_words[g][i];
                    s->w2[s->n] = (char *)w->group_words[h][j];
                    s->score[s->n++] = g == h ? 1.0f : 0.0f;
                }
    return s;
}

/* Mean cosine of same-category and different-category pairs (words in the vocabulary only), and
 * the fraction of (same, different) pair couples that the cosine orders correctly (ties count
 * half): 1.0 means every within-category pair is closer than every across-category pair. */
static void category_cosines(const train_vectors *v, const data_wordsim_set *s, double *same, double *diff,
                             double *ordered) {
    double a = 0, b = 0;
    int64_t na = 0, nb = 0;
    double *cs = base_xmalloc((size_t)(s->n > 0 ? s->n : 1) * sizeof(double)); /* [na] same-category cosines */
    double *cd = base_xmalloc((size_t)(s->n > 0 ? s->n : 1) * sizeof(double)); /* [nb] across */
    for (int64_t i = 0; i < s->n; i++) {
        int64_t x = train_vectors_find(v, s->w1[i], true), y = train_vectors_find(v, s->w2[i], true);
        if (x < 0 || y < 0) continue;
        double c = 0;
        for (int64_t k = 0; k < v->dim; k++) c += (double)v->unit[x * v->dim + k] * v->unit[y * v->dim + k];
        if (s->score[i] > 0) a += c, cs[na++] = c;
        else b += c, cd[nb++] = c;
    }
    *same = na ? a / (double)na : NAN;
    *diff = nb ? b / (double)nb : NAN;
    double good = 0;
    for (int64_t i = 0; i < na; i++)
        for (int64_t j = 0; j < nb; j++) good += cs[i] > cd[j] ? 1.0 : (cs[i] == cd[j] ? 0.5 : 0.0);
    *ordered = na && nb ? good / ((double)na * (double)nb) : NAN;
    free(cs);
    free(cd);
}

/* ---- the report ------------------------------------------------------------------------------- */

typedef struct {
    const char *word;
    int k;
    train_neighbor nb[5];
} demo_query;

static void print_neighbours(FILE *out, const train_vectors *v, const train_neighbor *nb, int k) {
    for (int i = 0; i < k; i++) fprintf(out, "%s%s %.3f", i ? ", " : " ", v->words[nb[i].id], nb[i].cosine);
    fprintf(out, "\n");
}

static void json_neighbours(FILE *out, const train_vectors *v, const train_neighbor *nb, int k) {
    fprintf(out, "[");
    for (int i = 0; i < k; i++) {
        fprintf(out, "%s{\"word\": ", i ? ", " : "");
        base_json_str(out, v->words[nb[i].id]);
        fprintf(out, ", \"cosine\": %.4f}", nb[i].cosine);
    }
    fprintf(out, "]");
}

/* Draws the t-SNE picture of the given words (in the vocabulary) coloured by group. */
static int draw_picture(const char *path, const train_vectors *v, const int64_t *ids, const int *group, int n,
                        const char *const *group_names, int ngroups, const char *title, const char *subtitle,
                        const char *footnote, uint64_t seed, double *kl_out) {
    if (n < 3) return base_error_set("picture: expected at least 3 words to draw, got %d", n);
    float *x = base_xmalloc((size_t)n * (size_t)v->dim * sizeof(float)); /* [n, dim] unit rows */
    float *y = base_xmalloc((size_t)n * 2 * sizeof(float));              /* [n, 2] */
    for (int i = 0; i < n; i++) memcpy(x + (size_t)i * v->dim, v->unit + ids[i] * v->dim, (size_t)v->dim * sizeof(float));
    exp_tsne_options to;
    exp_tsne_options_default(&to);
    to.perplexity = n < 30 ? 5 : 8;
    to.seed = seed;
    double kl = exp_tsne(x, n, v->dim, &to, y);
    if (kl_out) *kl_out = kl;
    exp_svg_point *pts = base_xmalloc((size_t)n * sizeof *pts);
    for (int i = 0; i < n; i++) pts[i] = (exp_svg_point){y[2 * i], y[2 * i + 1], v->words[ids[i]], group[i]};
    exp_svg_plot plot = {.title = title, .subtitle = subtitle, .footnote = footnote, .group_names = group_names,
                         .ngroups = ngroups};
    int rc = exp_svg_scatter(path, &plot, pts, n);
    free(x);
    free(y);
    free(pts);
    return rc;
}

int exp_demo_run(const exp_demo_options *opt, FILE *out) {
    exp_demo_options o = *opt;
    if (!o.out_dir || !*o.out_dir) o.out_dir = "ember-demo";
    bool world = o.corpus == NULL;
    if (mkdir_p(o.out_dir)) return -1;
    char corpus_path[4096], vec_path[4096], ckpt_path[4096], svg_path[4096];
    if (snprintf(corpus_path, sizeof corpus_path, "%s/world.txt", o.out_dir) >= (int)sizeof corpus_path)
        return base_error_set("%s: output directory path too long", o.out_dir);
    snprintf(vec_path, sizeof vec_path, "%s/vectors.txt", o.out_dir);
    snprintf(ckpt_path, sizeof ckpt_path, "%s/demo.ckpt", o.out_dir);
    snprintf(svg_path, sizeof svg_path, "%s/picture.svg", o.out_dir);

    /* 1. the corpus */
    demo_structure ws;
    memset(&ws, 0, sizeof ws);
    double t0 = base_now_sec();
    int64_t corpus_words = 0;
    if (world) {
        if (demo_world_generate(corpus_path, o.seed, o.world_sentences > 0 ? o.world_sentences : 100000, &ws)) return -1;
    } else {
        snprintf(corpus_path, sizeof corpus_path, "%s", o.corpus);
    }
    double t_corpus = base_now_sec() - t0;

    /* 2. training */
    train_w2v_options to;
    train_w2v_options_default(&to);
    to.train = corpus_path;
    to.cbow = 0;
    to.size = o.dim > 0 ? o.dim : (world ? 50 : 100);
    to.iter = o.epochs > 0 ? o.epochs : 5;
    to.window = 5;
    to.negative = 5;
    to.min_count = 5;
    to.threads = o.threads > 0 ? o.threads : 2;
    to.seed = o.seed;
    to.deterministic = o.deterministic;
    to.debug = 0;
    to.progress = false;
    /* demo.ckpt is the trainer's own final checkpoint: one writer for every Word2Vec checkpoint,
     * so the demo's can also be resumed or inspected like any other (train_w2v_put_state) */
    to.checkpoint = ckpt_path;
    if (!o.json) {
        fflush(out);
        fprintf(stderr, "ember demo: training skip-gram on %s ...\n", corpus_path);
    }
    train_w2v_model *m = NULL;
    if (train_w2v_run(&to, &m)) return base_error_prefix("training on %s", corpus_path);
    train_vectors *v = train_vectors_from(m->vocab->n, m->dim, m->vocab->words, m->syn0);
    int64_t total_words = m->vocab->total;
    /* the trainer counts one "</s>" per line: report words and lines separately */
    int64_t lines = (m->vocab->n > 0 && !strcmp(m->vocab->words[0], "</s>")) ? m->vocab->counts[0] : 0;
    corpus_words = total_words - lines;

    /* 3. neighbours: the four default words that exist; a user corpus without them gets some of
     * its frequent words instead (ranks 20, 40, 60, ... so they are not all function words) */
    const char *defaults[4] = {"cat", "car", "pizza", "red"};
    demo_query q[4];
    int nq = 0;
    for (int i = 0; i < 4; i++)
        if (train_vectors_find(v, defaults[i], false) >= 0) q[nq++].word = defaults[i];
    int64_t step = (v->n - 1) / 4 < 20 ? (v->n - 1) / 4 : 20; /* small vocabularies: spread evenly */
    if (step < 1) step = 1;
    for (int64_t r = step; nq < 4 && r < v->n; r += step) q[nq++].word = v->words[r];
    for (int i = 0; i < nq; i++) q[i].k = train_similar(v, q[i].word, 5, q[i].nb);
    train_neighbor kq[3];
    int kk = -1;
    if (train_vectors_find(v, "king", false) >= 0 && train_vectors_find(v, "man", false) >= 0 &&
        train_vectors_find(v, "woman", false) >= 0)
        kk = train_analogy_query(v, "king", "man", "woman", 3, kq);

    /* 4. the world's own analogy and similarity scores */
    train_analogy_result ar;
    memset(&ar, 0, sizeof ar);
    train_wordsim_result sr;
    memset(&sr, 0, sizeof sr);
    double same = NAN, diff = NAN, ordered = NAN;
    data_analogy_set *aq = NULL;
    data_wordsim_set *ss = NULL;
    if (world) {
        aq = world_analogies(&ws);
        train_eval_analogy(v, aq, 0, &ar);
        ss = world_similarity(&ws);
        train_eval_wordsim(v, ss, 0, &sr);
        category_cosines(v, ss, &same, &diff, &ordered);
    }

    /* 5. files: vectors, picture (the trainer wrote the checkpoint) */
    int rc = ckpt_export_word2vec(vec_path, (const char *const *)m->vocab->words, m->syn0, m->vocab->n, m->dim, false);
    int64_t *ids = base_xmalloc(64 * sizeof(int64_t));
    int *grp = base_xmalloc(64 * sizeof(int));
    int np = 0;
    const char *const *gnames;
    const char *top_name[1] = {"most frequent words"};
    int ngroups;
    char title[256], subtitle[512];
    if (world) {
        for (int g = 0; g < ws.ngroups && g < 4; g++)
            for (int i = 0; i < ws.group_n[g] && np < 64; i++) {
                int64_t id = train_vectors_find(v, ws.group_words[g][i], false);
                if (id >= 0) ids[np] = id, grp[np++] = g;
            }
        gnames = ws.group_name;
        ngroups = ws.ngroups < 4 ? ws.ngroups : 4;
        snprintf(title, sizeof title, "The chapter world: four categories, as Word2Vec sees them");
    } else {
        /* the most frequent words that contain a letter (punctuation tokens say little) */
        for (int64_t r = 1; r < v->n && np < 50; r++) {
            bool letter = false;
            for (const unsigned char *c = (const unsigned char *)v->words[r]; *c && !letter; c++)
                letter = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || *c >= 0x80;
            if (letter) ids[np] = r, grp[np++] = 0;
        }
        gnames = top_name;
        ngroups = 1;
        const char *base = strrchr(o.corpus, '/');
        snprintf(title, sizeof title, "The %d most frequent words of %s", np, base ? base + 1 : o.corpus);
    }
    snprintf(subtitle, sizeof subtitle,
             "t-SNE (exact, PCA init, perplexity %d, seed %llu) of %lld-dim skip-gram vectors; %d words",
             np < 30 ? 5 : 8, (unsigned long long)o.seed, (long long)m->dim, np);
    double kl = NAN;
    char footnote[256] = "";
    if (world && !isnan(same))
        snprintf(footnote, sizeof footnote,
                 "In the world corpus a category's words share all their contexts: mean within-category cosine %.2f, "
                 "across %.2f.", same, diff);
    bool drawn = np >= 3; /* t-SNE of fewer points says nothing: skip the picture, say so */
    if (!rc && drawn)
        rc = draw_picture(svg_path, v, ids, grp, np, gnames, ngroups, title, subtitle, world ? footnote : NULL, o.seed,
                          &kl);
    if (rc) {
        base_error_prefix("ember demo");
        goto done;
    }

    /* 6. the report */
    if (o.json) {
        fprintf(out, "{\"corpus\": ");
        base_json_str(out, corpus_path);
        fprintf(out, ", \"world\": %s, \"corpus_words\": %lld, \"vocab\": %lld, \"dim\": %lld, \"epochs\": %d, "
                     "\"train_seconds\": %.3f, \"words_per_sec_thread\": %.0f, \"first_loss\": ",
                world ? "true" : "false", (long long)corpus_words, (long long)v->n, (long long)v->dim, to.iter,
                m->seconds, m->words_per_sec_thread);
        base_json_num(out, m->first_loss);
        fprintf(out, ", \"final_loss\": ");
        base_json_num(out, m->final_loss);
        fprintf(out, ", \"neighbors\": {");
        for (int i = 0; i < nq; i++) {
            fprintf(out, "%s", i ? ", " : "");
            base_json_str(out, q[i].word);
            fprintf(out, ": ");
            json_neighbours(out, v, q[i].nb, q[i].k > 0 ? q[i].k : 0);
        }
        fprintf(out, "}, \"king_man_woman\": ");
        if (kk > 0) json_neighbours(out, v, kq, kk);
        else fprintf(out, "null");
        if (world) {
            fprintf(out, ", \"analogy\": {\"correct\": %lld, \"seen\": %lld, \"total\": %lld, \"sections\": [",
                    (long long)ar.correct, (long long)ar.seen, (long long)ar.total);
            for (int s = 0; s < ar.n_sections; s++) {
                fprintf(out, "%s{\"name\": ", s ? ", " : "");
                base_json_str(out, ar.sections[s].name);
                fprintf(out, ", \"correct\": %lld, \"seen\": %lld, \"total\": %lld}", (long long)ar.sections[s].correct,
                        (long long)ar.sections[s].seen, (long long)ar.sections[s].total);
            }
            fprintf(out, "]}, \"similarity\": {\"pairs\": %lld, \"used\": %lld, \"spearman\": ", (long long)sr.pairs,
                    (long long)sr.used);
            base_json_num(out, sr.spearman);
            fprintf(out, ", \"mean_cos_same_category\": ");
            base_json_num(out, same);
            fprintf(out, ", \"mean_cos_other_category\": ");
            base_json_num(out, diff);
            fprintf(out, ", \"pairs_ordered\": ");
            base_json_num(out, ordered);
            fprintf(out, "}");
        }
        fprintf(out, ", \"tsne_kl\": ");
        base_json_num(out, kl);
        fprintf(out, ", \"files\": {\"checkpoint\": ");
        base_json_str(out, ckpt_path);
        fprintf(out, ", \"vectors\": ");
        base_json_str(out, vec_path);
        fprintf(out, ", \"picture\": ");
        if (drawn) base_json_str(out, svg_path);
        else fprintf(out, "null");
        fprintf(out, "}}\n");
    } else {
        if (world)
            fprintf(out, "corpus: the chapter world (seed %llu): %lld sentences, %lld words, generated in %.2f s -> %s\n",
                    (unsigned long long)o.seed, (long long)lines, (long long)corpus_words, t_corpus, corpus_path);
        else
            fprintf(out, "corpus: %s: %lld lines, %lld words (of words kept in the vocabulary)\n", corpus_path,
                    (long long)lines, (long long)corpus_words);
        fprintf(out, "vocabulary: %lld words (min count %lld)\n", (long long)v->n, (long long)to.min_count);
        fprintf(out, "training: skip-gram, %lld dims, window %d, %d negatives, %d epochs, %d thread%s%s: %.2f s "
                     "(%.0f words/s/thread), loss %.3f -> %.3f\n\n",
                (long long)to.size, to.window, to.negative, to.iter, m->threads, m->threads == 1 ? "" : "s",
                to.deterministic ? " (deterministic)" : "", m->seconds, m->words_per_sec_thread, m->first_loss,
                m->final_loss);
        for (int i = 0; i < nq; i++) {
            fprintf(out, "nearest to %s:", q[i].word);
            print_neighbours(out, v, q[i].nb, q[i].k > 0 ? q[i].k : 0);
        }
        if (kk > 0) {
            fprintf(out, "king - man + woman:");
            print_neighbours(out, v, kq, kk);
        } else {
            fprintf(out, "king - man + woman: not asked (king, man or woman is not in the vocabulary)\n");
        }
        if (world) {
            fprintf(out, "\nworld analogies (a : b = c : ?, 3CosAdd, query words excluded): %lld / %lld right (%.1f%%)",
                    (long long)ar.correct, (long long)ar.seen, ar.seen ? 100.0 * (double)ar.correct / (double)ar.seen : 0.0);
            if (ar.seen < ar.total) fprintf(out, ", %lld questions skipped (words not in the vocabulary)", (long long)(ar.total - ar.seen));
            fprintf(out, "\n");
            for (int s = 0; s < ar.n_sections; s++)
                fprintf(out, "  %-22s %4lld / %lld\n", ar.sections[s].name, (long long)ar.sections[s].correct,
                        (long long)ar.sections[s].seen);
            fprintf(out, "world similarity (category membership, %lld word pairs): mean cosine %.2f within a category, "
                         "%.2f across;\n  %.1f%% of (within, across) pair couples ordered correctly; Spearman rho "
                         "%.3f between same-category (1/0) and cosine\n",
                    (long long)sr.used, same, diff, 100 * ordered, sr.spearman);
        }
        if (drawn)
            fprintf(out, "\nwrote %s (checkpoint), %s (word2vec text), %s (t-SNE picture)\n", ckpt_path, vec_path,
                    svg_path);
        else
            fprintf(out, "\nwrote %s (checkpoint), %s (word2vec text); no picture: only %d words to draw\n", ckpt_path,
                    vec_path, np);
    }
done:
    free(ids);
    free(grp);
    train_analogy_result_free(&ar);
    data_analogy_free(aq);
    data_wordsim_free(ss);
    train_vectors_free(v);
    train_w2v_model_free(m);
    return rc ? -1 : 0;
}
