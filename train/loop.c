/* loop.c — the shared training loop: accumulate, clip, step, schedule, evaluate, checkpoint, resume, report (loop.h). */
#include "loop.h"


#include <errno.h>
#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist_loop.h"
#include "plot.h"
#include "progress.h"

/* ---- signals: the first SIGINT/SIGTERM asks the loop to stop at the next step boundary -------- */

static volatile sig_atomic_t g_stop_signal;

static void on_stop_signal(int sig) {
    if (g_stop_signal) { /* a second signal: the user insists; leave now (the checkpoint may be older) */
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    g_stop_signal = sig;
}

/* ---- history kept for the loss curve: (step, value) pairs, growing arrays --------------------- */

typedef struct series {
    float *xy; /* [n, 2]: step, value */
    int64_t n, cap;
} series;

static void series_add(series *s, double x, double y) {
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 256;
        s->xy = base_xrealloc(s->xy, (size_t)s->cap * 2 * sizeof(float));
    }
    s->xy[2 * s->n] = (float)x;
    s->xy[2 * s->n + 1] = (float)y;
    s->n++;
}

/* ---- profile: seconds and calls per op, forward and backward ------------------------------- */

static void profile_hook(void *ctx, int op, bool backward, double seconds) {
    train_loop_profile *p = ctx;
    if (op < 0 || op >= AG_OP_COUNT) return;
    p->sec[backward][op] += seconds;
    p->calls[backward][op]++;
}

struct train_loop {
    train_loop_config cfg;
    nn_params *ps;
    train_loop_trainer tr;
    char rate_label[24];   /* "tok/s", "sent/s": cfg.rate_unit + "/s" */
    optim *opt;
    ag_graph *g;
    train_progress *progress;
    FILE *metrics;
    bool resumed;
    /* run state (all of it in the checkpoint) */
    int64_t step, micro_steps, tokens;
    double elapsed_before; /* training seconds in earlier processes (resume) */
    double best_score;
    bool has_best;
    series hist_loss, hist_eval;
    /* this process */
    double t_start;        /* clock when run began */
    double train_s;        /* seconds inside steps after the first of this process (for tokens/s) */
    int64_t tokens_here;   /* tokens of those steps */
    int64_t steps_here;    /* steps run by this process */
    float last_loss;
    double last_grad_norm;
    double first_step_s;   /* wall seconds of this process's first step (the arena's pages fault in) */
    train_eval_result last_eval;
    bool has_eval;
    train_loop_profile prof;
    bool unfrozen[TRAIN_LOOP_MAX_GLOBS]; /* cfg.unfreeze[i] applied */
    int64_t evals_since_best;            /* early stopping (in the checkpoint) */
    bool stopped_early;
};

void openblas_set_num_threads(int num_threads);

void train_set_threads(int n) {
    if (n <= 0) return;
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

train_loop_config train_loop_config_default(void) {
    train_loop_config c;
    memset(&c, 0, sizeof c);
    c.label = "train";
    c.optim = OPTIM_ADAMW;
    c.lr = 5e-4f;
    c.weight_decay = 0.01f;
    c.beta1 = 0.9f;
    c.beta2 = 0.999f;
    c.eps = 1e-8f;
    c.sched = OPTIM_SCHED_WARMUP_COSINE;
    c.steps = 1000;
    c.accum = 1;
    c.clip = 1.0;
    c.log_every = 10;
    c.handle_signals = true;
    return c;
}

float train_loop_lr(const train_loop_config *cfg, int64_t s) {
    optim_schedule sc = {.kind = cfg->sched, .lr0 = cfg->lr, .floor = cfg->lr_floor, .warmup = cfg->warmup,
                         .total = cfg->steps};
    if (sc.kind == OPTIM_SCHED_CONSTANT && s < cfg->warmup) return (float)((double)cfg->lr * (double)s / (double)cfg->warmup);
    return optim_schedule_lr(&sc, s);
}

/* Parameters that get no weight decay unless decay_all: biases, norm weights (1-D tensors) and
 * embedding tables (names ending in tok.weight / pos.weight or holding "embed"), as BERT, GPT-2 and
 * sentence-transformers' recipes do. */
static bool no_decay_param(const nn_param *p) {
    if (p->t->ndim <= 1) return true;
    const char *n = p->name;
    size_t len = strlen(n);
    static const char *const tails[] = {"tok.weight", "pos.weight", "bias"};
    for (size_t k = 0; k < sizeof tails / sizeof tails[0]; k++) {
        size_t tl = strlen(tails[k]);
        if (len >= tl && strcmp(n + len - tl, tails[k]) == 0 && (len == tl || n[len - tl - 1] == '.')) return true;
    }
    return strstr(n, "embed") != NULL || strstr(n, "norm") != NULL;
}

train_loop *train_loop_new(const train_loop_config *cfg, nn_params *ps, const train_loop_trainer *tr) {
    if (!tr || !tr->next_batch || !tr->loss) {
        base_error_set("training loop: the trainer must supply next_batch and loss");
        return NULL;
    }
    if (cfg->steps < 1) {
        base_error_set("--steps %lld: expected at least 1", (long long)cfg->steps);
        return NULL;
    }
    if (cfg->accum < 1 || cfg->accum > 1 << 20) {
        base_error_set("--accum %d: expected 1 .. %d", cfg->accum, 1 << 20);
        return NULL;
    }
    if (!(cfg->lr >= 0) || !(cfg->lr_floor >= 0) || !(cfg->weight_decay >= 0) || !(cfg->clip >= 0)) {
        base_error_set("--lr %g, --lr-floor %g, --weight-decay %g, --clip %g: expected non-negative numbers",
                     (double)cfg->lr, (double)cfg->lr_floor, (double)cfg->weight_decay, cfg->clip);
        return NULL;
    }
    if (cfg->warmup < 0 || cfg->eval_every < 0 || cfg->checkpoint_every < 0 || cfg->log_every < 0) {
        base_error_set("--warmup, --eval-every, --checkpoint-every: expected non-negative step counts");
        return NULL;
    }
    if (cfg->resume && !cfg->checkpoint) {
        base_error_set("--resume %s needs --checkpoint FILE (where the resumed run saves)", cfg->resume);
        return NULL;
    }
    if (cfg->nfreeze < 0 || cfg->nfreeze > TRAIN_LOOP_MAX_GLOBS) {
        base_error_set("--freeze: at most %d globs, got %d", TRAIN_LOOP_MAX_GLOBS, cfg->nfreeze);
        return NULL;
    }
    for (int i = 0; i < cfg->nfreeze; i++)
        if (nn_params_match_count(ps, cfg->freeze[i]) == 0) {
            char names[512]; /* the first few real names, so the user sees the naming scheme */
            size_t used = 0;
            names[0] = 0;
            for (int k = 0; k < ps->n && k < 6 && used < sizeof names; k++)
                used += (size_t)snprintf(names + used, sizeof names - used, "%s%s", k ? ", " : "", ps->items[k].name);
            if (ps->n > 6 && used < sizeof names) snprintf(names + used, sizeof names - used, ", ... (%d in all)", ps->n);
            base_error_set("--freeze '%s': matches no parameter (names: %s)", cfg->freeze[i], names);
            return NULL;
        }
    if (cfg->nunfreeze < 0 || cfg->nunfreeze > TRAIN_LOOP_MAX_GLOBS) {
        base_error_set("--unfreeze: at most %d entries, got %d", TRAIN_LOOP_MAX_GLOBS, cfg->nunfreeze);
        return NULL;
    }
    for (int i = 0; i < cfg->nunfreeze; i++) {
        if (cfg->unfreeze[i].epoch > 0) {
            base_error_set("--unfreeze %gep:%s: this trainer counts optimizer steps: give a step (N:GLOB)",
                           cfg->unfreeze[i].epoch, cfg->unfreeze[i].glob ? cfg->unfreeze[i].glob : "");
            return NULL;
        }
        if (cfg->unfreeze[i].step < 0 || !cfg->unfreeze[i].glob) {
            base_error_set("--unfreeze %lld:%s: expected a step >= 0 and a glob", (long long)cfg->unfreeze[i].step,
                           cfg->unfreeze[i].glob ? cfg->unfreeze[i].glob : "");
            return NULL;
        }
        if (nn_params_match_count(ps, cfg->unfreeze[i].glob) == 0) {
            base_error_set("--unfreeze %lld:%s: the glob matches no parameter", (long long)cfg->unfreeze[i].step,
                           cfg->unfreeze[i].glob);
            return NULL;
        }
    }
    if (cfg->patience < 0) {
        base_error_set("--patience %lld: expected a number of evaluations >= 0", (long long)cfg->patience);
        return NULL;
    }
    /* data parallel (dist_loop.h): only rank 0 prints progress and writes metrics */
    train_loop_config cfg_rank = *cfg;
    if (!train_dist_writer()) cfg_rank.quiet = true, cfg_rank.metrics = NULL;
    cfg = &cfg_rank;
    FILE *metrics = NULL;
    if (cfg->metrics) {
        /* Appended to on resume (one file tells the whole run), truncated by a fresh run. */
        metrics = fopen(cfg->metrics, cfg->resume ? "a" : "w");
        if (!metrics) {
            base_error_set("%s: cannot write metrics: %s", cfg->metrics, strerror(errno));
            return NULL;
        }
    }
    train_loop *L = base_xcalloc(1, sizeof *L);
    L->cfg = *cfg;
    L->ps = ps;
    L->tr = *tr;
    snprintf(L->rate_label, sizeof L->rate_label, "%s/s", cfg->rate_unit ? cfg->rate_unit : "tok");
    L->metrics = metrics;
    for (int i = 0; i < cfg->nfreeze; i++) nn_params_freeze(ps, cfg->freeze[i], true);
    optim_config oc = optim_config_default(cfg->optim, cfg->lr);
    oc.weight_decay = cfg->weight_decay;
    oc.lazy_sparse = cfg->lazy_adam;
    if (cfg->optim != OPTIM_SGD) {
        oc.beta1 = cfg->beta1;
        oc.beta2 = cfg->beta2;
        oc.eps = cfg->eps;
    }
    L->opt = optim_new(ps, oc);
    if (!cfg->decay_all)
        for (int i = 0; i < ps->n; i++)
            if (no_decay_param(&ps->items[i])) optim_set_group(L->opt, ps->items[i].name, 1.0f, 0.0f);
    L->g = ag_graph_new(0);
    base_rng_seed(ag_graph_rng(L->g), cfg->seed);
    L->progress = train_progress_new(stderr, cfg->label, !cfg->quiet, NULL);
    if (cfg->profile) ag_graph_set_profile_hook(L->g, profile_hook, &L->prof);
    return L;
}

void train_loop_free(train_loop *L) {
    if (!L) return;
    optim_free(L->opt);
    ag_graph_free(L->g);
    train_progress_free(L->progress);
    if (L->metrics) fclose(L->metrics);
    free(L->hist_loss.xy);
    free(L->hist_eval.xy);
    free(L);
}

int64_t train_loop_step(const train_loop *L) { return L->step; }
float train_loop_last_loss(const train_loop *L) { return L->last_loss; }
ag_graph *train_loop_graph(train_loop *L) { return L->g; }
optim *train_loop_optim(train_loop *L) { return L->opt; }
const train_eval_result *train_loop_last_eval(const train_loop *L) { return L->has_eval ? &L->last_eval : NULL; }
double train_loop_best_score(const train_loop *L) { return L->has_best ? L->best_score : NAN; }
double train_loop_tokens_per_sec(const train_loop *L) { return L->train_s > 0 ? (double)L->tokens_here / L->train_s : 0; }
double train_loop_first_step_seconds(const train_loop *L) { return L->first_step_s; }

/* ---- the configuration document: {"trainer": <trainer JSON>, "loop": {...}} ------------------ */

/* The shortest decimal (6 to 9 significant digits) that reads back as the same float: --lr 5e-4
 * is written 0.0005, not 0.000500000024, so the resume note shows what the user typed. */
static const char *f32_text(char buf[32], float v) {
    for (int p = 6; p < 9; p++) {
        snprintf(buf, 32, "%.*g", p, (double)v);
        if (strtof(buf, NULL) == v) return buf;
    }
    snprintf(buf, 32, "%.9g", (double)v);
    return buf;
}

static char *config_document(const train_loop *L) {
    const train_loop_config *c = &L->cfg;
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    if (!f) return base_xstrdup("{}");
    char t[6][32];
    fprintf(f, "{\"trainer\":%s,\"loop\":{\"optim\":\"%s\",\"lr\":%s,\"lr_floor\":%s,\"weight_decay\":%s,"
               "\"beta1\":%s,\"beta2\":%s,\"eps\":%s,\"decay_all\":%s,\"lazy_adam\":%s,\"schedule\":%d,\"warmup\":%lld,"
               "\"steps\":%lld,\"accum\":%d,\"clip\":%.17g,\"seed\":%llu,\"freeze\":[",
            c->config_json ? c->config_json : "{}", optim_kind_name(c->optim), f32_text(t[0], c->lr),
            f32_text(t[1], c->lr_floor), f32_text(t[2], c->weight_decay), f32_text(t[3], c->beta1),
            f32_text(t[4], c->beta2), f32_text(t[5], c->eps), c->decay_all ? "true" : "false",
            c->lazy_adam ? "true" : "false", (int)c->sched, (long long)c->warmup, (long long)c->steps, c->accum, c->clip,
            (unsigned long long)c->seed);
    for (int i = 0; i < c->nfreeze; i++) {
        if (i) fputc(',', f);
        base_json_str(f, c->freeze[i]);
    }
    fputs("],\"unfreeze\":[", f);
    for (int i = 0; i < c->nunfreeze; i++) {
        fprintf(f, "%s{\"step\":%lld,\"glob\":", i ? "," : "", (long long)c->unfreeze[i].step);
        base_json_str(f, c->unfreeze[i].glob);
        fputc('}', f);
    }
    fprintf(f, "],\"patience\":%lld}}", (long long)c->patience);
    fclose(f);
    return buf;
}

/* End of the JSON value that starts at v: the first ',' or closing bracket at depth 0 outside
 * strings (ember writes these documents, so they are well formed). */
static const char *json_value_end(const char *v) {
    int depth = 0;
    bool in_str = false;
    for (; *v; v++) {
        if (in_str) {
            if (*v == '\\' && v[1]) v++;
            else if (*v == '"') in_str = false;
        } else if (*v == '"') {
            in_str = true;
        } else if (*v == '{' || *v == '[') {
            depth++;
        } else if (*v == '}' || *v == ']') {
            if (depth-- == 0) break;
        } else if (*v == ',' && depth == 0) {
            break;
        }
    }
    return v;
}

/* The member `key` ("trainer" or "loop") of a configuration document, as a heap string ("" if
 * absent). The two are the document's only top-level members. */
static char *config_member(const char *doc, const char *key) {
    char pat[32];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(doc, pat);
    if (!p) return base_xstrdup("");
    p += strlen(pat);
    size_t n = (size_t)(json_value_end(p) - p);
    char *out = base_xmalloc(n + 1);
    memcpy(out, p, n);
    out[n] = 0;
    return out;
}

/* Whether two JSON values are numbers that read back as the same float (a checkpoint written before
 * the loop settings were printed shortest-first holds lr 0.000500000024 for today's 0.0005). */
static bool same_number(const char *a, int al, const char *b, int bl) {
    char x[64], y[64];
    if (al <= 0 || bl <= 0 || al >= (int)sizeof x || bl >= (int)sizeof y) return false;
    memcpy(x, a, (size_t)al);
    x[al] = 0;
    memcpy(y, b, (size_t)bl);
    y[bl] = 0;
    char *ex, *ey;
    double dx = strtod(x, &ex), dy = strtod(y, &ey);
    return ex != x && !*ex && ey != y && !*ey && (dx == dy || (float)dx == (float)dy);
}

/* Lists "key checkpoint V, now W" for every top-level key whose value differs between two flat
 * JSON objects written by ember (a key missing on one side reads "absent"). Returns the count. */
static int json_flat_diff(const char *a, const char *b, char *out, size_t size) {
    int ndiff = 0;
    size_t used = 0;
    out[0] = 0;
    const char *docs[2] = {a, b};
    for (int side = 0; side < 2; side++) {
        const char *p = strchr(docs[side], '{'), *other = docs[1 - side];
        if (!p) break;
        for (p++; *p && *p != '}';) {
            const char *k0 = strchr(p, '"'), *k1 = k0 ? strchr(k0 + 1, '"') : NULL;
            if (!k1 || k1[1] != ':') break;
            const char *v0 = k1 + 2, *v1 = json_value_end(v0);
            char key[128]; /* "key": */
            size_t kl = (size_t)(k1 - k0 + 2);
            if (kl < sizeof key) {
                memcpy(key, k0, kl);
                key[kl] = 0;
                const char *o = strstr(other, key), *ov = o ? o + kl : NULL;
                int vl = (int)(v1 - v0), ol = ov ? (int)(json_value_end(ov) - ov) : 0;
                bool same = ov && ((ol == vl && memcmp(ov, v0, (size_t)vl) == 0) || same_number(v0, vl, ov, ol));
                /* each differing key once: from the first document, or keys only in the second */
                if (!same && (side == 0 || !ov) && used < size) {
                    const char *fv = side == 0 ? v0 : "absent", *nv = side == 0 ? (ov ? ov : "absent") : v0;
                    int fl = side == 0 ? vl : 6, nl = side == 0 ? (ov ? ol : 6) : vl;
                    used += (size_t)snprintf(out + used, size - used, "%s%.*s checkpoint %.*s, now %.*s",
                                             ndiff ? "; " : "", (int)(kl - 3), key + 1, fl, fv, nl, nv);
                    if (used > size) used = size;
                    ndiff++;
                }
            }
            p = *v1 == ',' ? v1 + 1 : v1;
        }
    }
    return ndiff;
}

/* ---- checkpoints ------------------------------------------------------------------------------ */

static int put_series(ckpt_writer *w, const char *path, const series *s) {
    if (s->n == 0) return 0;
    return ckpt_put_f32_array(w, path, s->xy, 2, (const int64_t[]){s->n, 2});
}

static int get_series(ckpt_reader *r, const char *path, series *s) {
    if (!ckpt_has(r, path)) return 0;
    ckpt_info info;
    if (ckpt_get_info(r, path, &info) || info.ndim != 2 || info.shape[1] != 2)
        return base_error_set("%s: %s: expected float32 [n, 2]", ckpt_reader_path(r), path);
    s->n = 0;
    for (int64_t i = 0; i < info.shape[0]; i++) series_add(s, 0, 0);
    return ckpt_get_f32_array(r, path, s->xy, 2, (const int64_t[]){info.shape[0], 2});
}

void train_loop_unfreeze_epochs(train_loop_config *c, double steps_per_epoch) {
    for (int i = 0; i < c->nunfreeze; i++)
        if (c->unfreeze[i].epoch > 0) {
            c->unfreeze[i].step = (int64_t)llround(c->unfreeze[i].epoch * steps_per_epoch);
            c->unfreeze[i].epoch = 0;
        }
}

/* The names of the frozen parameters, one per line ("" when none): heap. */
static char *frozen_names(const nn_params *ps) {
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    if (!f) return base_xstrdup("");
    for (int i = 0, k = 0; i < ps->n; i++)
        if (ps->items[i].frozen) fprintf(f, "%s%s", k++ ? "\n" : "", ps->items[i].name);
    fclose(f);
    return buf;
}

/* Applies every unfreezing entry due by the current step that is not applied yet. */
static void apply_unfreeze(train_loop *L) {
    for (int i = 0; i < L->cfg.nunfreeze; i++) {
        const train_loop_unfreeze *u = &L->cfg.unfreeze[i];
        if (L->unfrozen[i] || u->step > L->step) continue;
        int n = nn_params_freeze(L->ps, u->glob, false);
        L->unfrozen[i] = true;
        if (L->metrics) {
            fprintf(L->metrics, "{\"kind\":\"unfreeze\",\"step\":%lld,\"glob\":", (long long)L->step);
            base_json_str(L->metrics, u->glob);
            fprintf(L->metrics, ",\"params\":%d,\"trainable\":%lld}\n", n, (long long)nn_params_count_trainable(L->ps));
            fflush(L->metrics);
        }
        if (!L->cfg.quiet)
            fprintf(stderr, "%s: step %lld: unfroze %d parameter%s matching '%s' (%lld trainable scalars now)\n",
                    L->cfg.label, (long long)L->step, n, n == 1 ? "" : "s", u->glob,
                    (long long)nn_params_count_trainable(L->ps));
    }
}

/* On resume: the schedule's entries due by the restored step count as applied, and the frozen set is
 * the checkpoint's (/state/frozen), exactly as the interrupted run had it. A frozen set that differs
 * from what this run's --freeze/--unfreeze give at that step is reported (the checkpoint's wins). */
static int restore_frozen(train_loop *L, ckpt_reader *r) {
    for (int i = 0; i < L->cfg.nunfreeze; i++)
        if (L->cfg.unfreeze[i].step <= L->step) {
            nn_params_freeze(L->ps, L->cfg.unfreeze[i].glob, false);
            L->unfrozen[i] = true;
        }
    if (!ckpt_has(r, "/state/frozen")) return 0; /* written before freezing was recorded */
    char *stored = NULL;
    if (ckpt_get_string(r, "/state/frozen", &stored)) return -1;
    char *now = frozen_names(L->ps);
    if (strcmp(now, stored) != 0) {
        /* every name is checked first, so a bad file changes nothing */
        for (char *p = stored, *e; *p; p = e + (*e != 0)) {
            e = p + strcspn(p, "\n");
            char save = *e;
            *e = 0;
            bool known = nn_params_find(L->ps, p) != NULL;
            if (!known) base_error_set("%s: /state/frozen names '%s', which this model does not have", ckpt_reader_path(r), p);
            *e = save;
            if (!known) {
                free(stored);
                free(now);
                return -1;
            }
        }
        nn_params_freeze(L->ps, "*", false);
        for (char *p = stored, *e; *p; p = e + (*e != 0)) { /* parameter names hold no glob characters */
            e = p + strcspn(p, "\n");
            char save = *e;
            *e = 0;
            nn_params_freeze(L->ps, p, true);
            *e = save;
        }
        if (!L->cfg.quiet)
            fprintf(stderr, "%s: note: the checkpoint's frozen parameters at step %lld differ from what --freeze/--unfreeze "
                            "give; resuming with the checkpoint's\n", L->cfg.label, (long long)L->step);
    }
    free(stored);
    free(now);
    return 0;
}

int train_loop_save(train_loop *L, const char *path) {
    bool write = true; /* data parallel (dist_loop.h): the ranks agree on the bytes, rank 0 writes */
    if (train_dist_save_gate(L->ps, &write)) return base_error_prefix("saving %s", path);
    if (!write) return 0;
    ckpt_writer_options wo = {.no_fsync = L->cfg.no_fsync};
    ckpt_writer *w = ckpt_writer_begin_opts(path, &wo);
    if (!w) return -1;
    char *doc = config_document(L);
    double elapsed = L->elapsed_before + (L->t_start > 0 ? base_now_sec() - L->t_start : 0);
    int rc = ckpt_put_config_json(w, doc);
    free(doc);
    if (!rc) rc = ckpt_put_params(w, L->ps);
    if (!rc) rc = ckpt_put_optim(w, L->opt);
    if (!rc) rc = ckpt_put_i64(w, "/state/step", L->step);
    if (!rc) rc = ckpt_put_i64(w, "/state/micro_steps", L->micro_steps);
    if (!rc) rc = ckpt_put_i64(w, "/state/tokens", L->tokens);
    if (!rc) rc = ckpt_put_f64(w, "/state/elapsed", elapsed);
    if (!rc && L->has_best) rc = ckpt_put_f64(w, "/state/best_score", L->best_score);
    if (!rc) rc = ckpt_put_i64(w, "/state/evals_since_best", L->evals_since_best);
    if (!rc) {
        char *names = frozen_names(L->ps);
        rc = ckpt_put_string(w, "/state/frozen", names);
        free(names);
    }
    if (!rc) rc = ckpt_put_rng(w, "/state/rng/graph", ag_graph_rng(L->g));
    if (!rc) rc = put_series(w, "/state/history/loss", &L->hist_loss);
    if (!rc) rc = put_series(w, "/state/history/eval", &L->hist_eval);
    if (!rc && L->tr.save) rc = L->tr.save(L->tr.ctx, w);
    if (rc) {
        ckpt_writer_abort(w);
        return base_error_prefix("saving %s", path);
    }
    return ckpt_writer_commit(w);
}

int train_loop_resume(train_loop *L) {
    if (!L->cfg.resume || L->resumed) return 0;
    ckpt_reader *r = ckpt_open(L->cfg.resume);
    if (!r) return base_error_prefix("--resume");
    int rc = -1;
    char *doc = NULL, *file_tr = NULL;
    if (!ckpt_verified(r)) {
        base_error_set("%s: no integrity line (not written by ember's checkpoint writer?): refusing to resume from it",
                     L->cfg.resume);
        goto out;
    }
    if (ckpt_get_config_json(r, &doc)) goto out;
    /* The trainer's settings (model shape, data, tokenizer) must match: anything else would train
     * a different model from these bytes. Loop settings (lr, steps, ...) may change on resume. */
    file_tr = config_member(doc, "trainer");
    const char *now_tr = L->cfg.config_json ? L->cfg.config_json : "{}";
    if (strcmp(file_tr, now_tr) != 0) {
        char diff[2048];
        int nd = json_flat_diff(file_tr, now_tr, diff, sizeof diff);
        base_error_set("%s: written by a run with different settings (%d): %s", L->cfg.resume, nd ? nd : 1,
                     nd ? diff : "configuration differs");
        goto out;
    }
    /* Loop settings may change on resume (a longer --steps, a new --lr), as in PyTorch, but not
     * silently: every one that differs is listed. */
    if (!L->cfg.quiet) {
        char *file_loop = config_member(doc, "loop"), *now_doc = config_document(L), *now_loop = config_member(now_doc, "loop");
        char diff[2048];
        int nd = file_loop[0] && now_loop[0] ? json_flat_diff(file_loop, now_loop, diff, sizeof diff) : 0;
        if (nd)
            fprintf(stderr, "%s: note: resuming with %d loop setting%s changed from the checkpoint's: %s\n", L->cfg.label, nd,
                    nd == 1 ? "" : "s", diff);
        free(file_loop);
        free(now_doc);
        free(now_loop);
    }
    if (ckpt_load_params(r, L->ps, true) < 0) goto out;
    if (ckpt_load_optim(r, L->opt)) goto out;
    if (ckpt_get_i64(r, "/state/step", &L->step) || ckpt_get_i64(r, "/state/micro_steps", &L->micro_steps) ||
        ckpt_get_i64(r, "/state/tokens", &L->tokens) || ckpt_get_f64(r, "/state/elapsed", &L->elapsed_before) ||
        ckpt_get_rng(r, "/state/rng/graph", ag_graph_rng(L->g)))
        goto out;
    if (ckpt_has(r, "/state/best_score")) {
        if (ckpt_get_f64(r, "/state/best_score", &L->best_score)) goto out;
        L->has_best = true;
    }
    if (ckpt_has(r, "/state/evals_since_best") && ckpt_get_i64(r, "/state/evals_since_best", &L->evals_since_best))
        goto out;
    if (restore_frozen(L, r)) goto out;
    if (get_series(r, "/state/history/loss", &L->hist_loss) || get_series(r, "/state/history/eval", &L->hist_eval))
        goto out;
    if (L->tr.load && L->tr.load(L->tr.ctx, r)) goto out;
    if (L->step > L->cfg.steps) {
        base_error_set("%s: the checkpoint is at step %lld, past --steps %lld (give a larger --steps to continue)",
                     L->cfg.resume, (long long)L->step, (long long)L->cfg.steps);
        goto out;
    }
    L->resumed = true;
    rc = 0;
out:
    free(doc);
    free(file_tr);
    ckpt_close(r);
    return rc;
}

/* ---- the NaN/Inf guard -------------------------------------------------------------------------- */

static bool all_finite(const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return false;
    return true;
}

/* Names the first non-finite tensor of the step that produced a bad loss: a parameter, else the
 * earliest op on the tape whose output holds a NaN/Inf. */
static int report_bad_loss(train_loop *L, float loss) {
    for (int i = 0; i < L->ps->n; i++) {
        const nn_param *p = &L->ps->items[i];
        if (!all_finite(ag_f32(p->t), p->t->numel))
            return base_error_set("step %lld: loss is %g: parameter %s holds non-finite values", (long long)L->step + 1,
                                (double)loss, p->name);
    }
    int64_t n = ag_graph_nodes(L->g), k = n;
    ag_node **nodes = base_xmalloc((size_t)(n ? n : 1) * sizeof *nodes);
    for (ag_node *nd = ag_graph_tape(L->g); nd && k > 0; nd = nd->prev) nodes[--k] = nd;
    for (int64_t i = k; i < n; i++) {
        ag_tensor *t = nodes[i]->out;
        if (t->dtype == AG_F32 && !all_finite(ag_f32(t), t->numel)) {
            const char *in_name = "";
            for (int j = 0; j < nodes[i]->nin && !in_name[0]; j++)
                if (nodes[i]->ins[j] && nodes[i]->ins[j]->name) in_name = nodes[i]->ins[j]->name;
            char shape[64];
            base_error_set("step %lld: loss is %g: the first non-finite tensor is the output of op '%s' (%s, node %lld of "
                         "%lld%s%s)", (long long)L->step + 1, (double)loss, ag_op_name(nodes[i]->op),
                         ag_shape_str(t, shape, sizeof shape), (long long)(i - k + 1), (long long)(n - k),
                         in_name[0] ? ", reading " : "", in_name);
            free(nodes);
            return -1;
        }
    }
    free(nodes);
    return base_error_set("step %lld: loss is %g (no recorded tensor is non-finite: the loss op itself overflowed)",
                        (long long)L->step + 1, (double)loss);
}

static int report_bad_grad(train_loop *L, double norm) {
    for (int i = 0; i < L->ps->n; i++) {
        const nn_param *p = &L->ps->items[i];
        if (p->frozen) continue;
        if (p->t->grad && !all_finite(p->t->grad, p->t->numel))
            return base_error_set("step %lld: gradient norm is %g: the first non-finite gradient is %s's",
                                (long long)L->step + 1, norm, p->name);
        if (p->t->sgrad && !all_finite(p->t->sgrad->vals, p->t->sgrad->n * p->t->sgrad->width))
            return base_error_set("step %lld: gradient norm is %g: the first non-finite gradient is %s's (sparse)",
                                (long long)L->step + 1, norm, p->name);
    }
    return base_error_set("step %lld: gradient norm is %g", (long long)L->step + 1, norm);
}

/* ---- evaluation, reporting ------------------------------------------------------------------- */

static void metrics_line(train_loop *L, const char *kind, const train_progress_stat *st, int n) {
    if (!L->metrics) return;
    fprintf(L->metrics, "{\"kind\":\"%s\",\"step\":%lld", kind, (long long)L->step);
    for (int i = 0; i < n; i++) {
        fprintf(L->metrics, ",\"%s\":", st[i].key);
        base_json_num(L->metrics, st[i].value);
    }
    fputs("}\n", L->metrics);
    fflush(L->metrics);
}

void train_loop_log_eval(train_loop *L, const char *kind, const train_eval_result *res) {
    train_progress_stat st[TRAIN_EVAL_MAX];
    int n = 0;
    for (int i = 0; i < res->n && i < TRAIN_EVAL_MAX; i++) st[n++] = (train_progress_stat){res->key[i], res->value[i], NULL};
    metrics_line(L, kind, st, n);
}

/* Runs the trainer's evaluation; keeps the best checkpoint. 0 or -1. */
static int run_eval(train_loop *L) {
    if (!L->tr.eval) return 0;
    ag_graph *g = L->g;
    ag_graph_reset(g);
    ag_set_training(g, false);
    ag_no_grad_begin(g);
    train_eval_result res;
    memset(&res, 0, sizeof res);
    int rc = L->tr.eval(L->tr.ctx, g, &res);
    ag_no_grad_end(g);
    ag_set_training(g, true);
    ag_graph_reset(g);
    if (rc) return base_error_prefix("evaluation at step %lld", (long long)L->step);
    L->last_eval = res;
    L->has_eval = true;
    series_add(&L->hist_eval, (double)L->step, res.n ? res.value[0] : res.score);
    train_progress_stat st[TRAIN_EVAL_MAX + 1];
    int n = 0;
    for (int i = 0; i < res.n && i < TRAIN_EVAL_MAX; i++) st[n++] = (train_progress_stat){res.key[i], res.value[i], "%.4f"};
    metrics_line(L, "eval", st, n);
    if (!L->cfg.quiet) {
        fprintf(stderr, "%s: step %lld eval:", L->cfg.label, (long long)L->step);
        for (int i = 0; i < n; i++) fprintf(stderr, " %s %.4f", st[i].key, st[i].value);
        fputc('\n', stderr);
    }
    if (L->has_best && !(res.score > L->best_score)) L->evals_since_best++;
    if (!L->has_best || res.score > L->best_score) {
        L->evals_since_best = 0;
        L->best_score = res.score;
        L->has_best = true;
        const char *best = L->cfg.best;
        char buf[4096];
        if (!best && L->cfg.checkpoint) {
            snprintf(buf, sizeof buf, "%s.best", L->cfg.checkpoint);
            best = buf;
        }
        if (best && train_loop_save(L, best)) return -1;
    }
    return 0;
}

static void print_profile(const train_loop *L) {
    const train_loop_profile *p = &L->prof;
    double total = 0;
    for (int b = 0; b < 2; b++)
        for (int op = 0; op < AG_OP_COUNT; op++) total += p->sec[b][op];
    fprintf(stderr, "profile (%lld steps): %-16s %10s %10s %8s %8s\n", (long long)L->step, "op", "fwd ms", "bwd ms",
            "calls", "share");
    for (int op = 0; op < AG_OP_COUNT; op++) {
        double s = p->sec[0][op] + p->sec[1][op];
        if (s <= 0) continue;
        fprintf(stderr, "profile: %-16s %10.1f %10.1f %8lld %7.1f%%\n", ag_op_name(op), 1e3 * p->sec[0][op],
                1e3 * p->sec[1][op], (long long)(p->calls[0][op] + p->calls[1][op]), 100.0 * s / (total > 0 ? total : 1));
    }
    fprintf(stderr, "profile: data %.1f ms, optimizer+clip %.1f ms, ops %.1f ms\n", 1e3 * p->data_s, 1e3 * p->optim_s,
            1e3 * total);
}

/* ---- the loop ---------------------------------------------------------------------------------- */

/* One optimizer step: accum micro-batches, guard, clip, schedule, update. 0 or -1. */
static int one_step(train_loop *L) {
    ag_graph *g = L->g;
    const train_loop_config *c = &L->cfg;
    nn_params_zero_grad(L->ps);
    double loss_sum = 0;
    int64_t tokens0 = L->tokens;
    float seed = 1.0f / (float)c->accum; /* the step's gradient is the mean over micro-batches */
    for (int m = 0; m < c->accum; m++) {
        double t0 = base_now_sec();
        int64_t ntok = L->tr.next_batch(L->tr.ctx);
        if (ntok < 0) return base_error_prefix("step %lld", (long long)L->step + 1);
        L->prof.data_s += base_now_sec() - t0;
        ag_tensor *loss = L->tr.loss(L->tr.ctx, g);
        if (!loss) return base_error_prefix("step %lld", (long long)L->step + 1);
        AG_CHECK(loss->numel == 1 && loss->dtype == AG_F32, "train_loop", "the trainer's loss must be a scalar");
        float lv = ag_f32(loss)[0];
        if (!isfinite(lv)) {
            int rc = report_bad_loss(L, lv);
            ag_graph_reset(g);
            return rc;
        }
        ag_backward_seed(g, loss, &seed);
        ag_graph_reset(g);
        loss_sum += lv;
        L->tokens += ntok;
        if (L->steps_here > 0) L->tokens_here += ntok; /* not counted for the process's first step */
        L->micro_steps++;
    }
    /* data parallel (dist_loop.h): grads, loss and tokens averaged / summed over ranks */
    train_dist_step(L->ps, &loss_sum, tokens0, &L->tokens, L->steps_here > 0 ? &L->tokens_here : NULL);
    double t0 = base_now_sec();
    double norm = optim_clip_grad_norm(L->ps, c->clip > 0 ? c->clip : INFINITY);
    if (!isfinite(norm)) return report_bad_grad(L, norm);
    if (!c->no_update) {
        optim_set_lr(L->opt, train_loop_lr(c, L->step));
        optim_step(L->opt);
        if (L->tr.after_step) L->tr.after_step(L->tr.ctx);
    }
    L->prof.optim_s += base_now_sec() - t0;
    L->step++;
    L->steps_here++;
    L->last_loss = (float)(loss_sum / c->accum);
    L->last_grad_norm = norm;
    return 0;
}

/* one_step, timed: the process's first step on its own (it faults the arena in), the rest summed
 * for the steady-state tokens/s. */
static int timed_step(train_loop *L) {
    double t0 = base_now_sec();
    if (one_step(L)) return -1;
    double dt = base_now_sec() - t0;
    if (L->steps_here > 1) L->train_s += dt;
    else L->first_step_s = dt;
    return 0;
}

static void report_step(train_loop *L, double *log_loss, int64_t *log_n, bool final) {
    const train_loop_config *c = &L->cfg;
    double elapsed = base_now_sec() - L->t_start;
    double tps = train_loop_tokens_per_sec(L);
    double frac = (double)L->step / (double)c->steps;
    train_progress_stat st[] = {{"step", (double)L->step, "%.0f"},
                                {"loss", L->last_loss, "%.4f"},
                                {"lr", train_loop_lr(c, L->step > 0 ? L->step - 1 : 0), "%.2e"},
                                {L->rate_label, tps, "%.0f"}};
    /* The display's "fraction" counts this process's part of the run, so the ETA is honest after a resume. */
    train_progress_report(L->progress, frac, elapsed, st, 4, final);
    if (*log_n > 0 && (final || (c->log_every > 0 && L->step % c->log_every == 0))) {
        double mean = *log_loss / (double)*log_n;
        series_add(&L->hist_loss, (double)L->step, mean);
        train_progress_stat m[] = {{"loss", mean, NULL},
                                   {"lr", train_loop_lr(c, L->step - 1), NULL},
                                   {"grad_norm", L->last_grad_norm, NULL},
                                   {"tokens", (double)L->tokens, NULL},
                                   {"tokens_per_sec", tps, NULL},
                                   {"elapsed", L->elapsed_before + elapsed, NULL}};
        metrics_line(L, "train", m, 6);
        *log_loss = 0;
        *log_n = 0;
    }
}

int train_loop_run(train_loop *L) {
    const train_loop_config *c = &L->cfg;
    if (train_loop_resume(L)) return -1;
    train_dist_begin(L->ps, ag_graph_rng(L->g)); /* data parallel: rank 0's parameters everywhere */
    struct sigaction sa, old_int, old_term;
    if (c->handle_signals) {
        g_stop_signal = 0;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_stop_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, &old_int);
        sigaction(SIGTERM, &sa, &old_term);
    }
    L->t_start = base_now_sec();
    int rc = 0;
    double log_loss = 0;
    int64_t log_n = 0;
    ag_set_training(L->g, true);
    if (L->resumed && !c->quiet)
        fprintf(stderr, "%s: resumed from %s at step %lld of %lld\n", c->label, c->resume, (long long)L->step,
                (long long)c->steps);
    int64_t first_step = L->step;
    bool stop_requested = false;
    while (L->step < c->steps) {
        if (train_dist_any(g_stop_signal || (c->stop_after > 0 && L->step - first_step >= c->stop_after))) {
            stop_requested = true;
            break;
        }
        apply_unfreeze(L);
        if (timed_step(L)) {
            rc = -1;
            break;
        }
        log_loss += L->last_loss;
        log_n++;
        report_step(L, &log_loss, &log_n, false);
        bool last = L->step == c->steps;
        if (c->eval_every > 0 && (L->step % c->eval_every == 0) && !last) {
            if (run_eval(L)) {
                rc = -1;
                break;
            }
            if (c->patience > 0 && L->evals_since_best >= c->patience) {
                L->stopped_early = true;
                break;
            }
        }
        if (c->checkpoint && c->checkpoint_every > 0 && L->step % c->checkpoint_every == 0 && !last &&
            train_loop_save(L, c->checkpoint)) {
            rc = -1;
            break;
        }
    }
    if (rc == 0 && L->stopped_early) {
        report_step(L, &log_loss, &log_n, true);
        if (!c->quiet)
            fprintf(stderr, "%s: early stop at step %lld of %lld: no better evaluation in %lld in a row (best %.4f)\n",
                    c->label, (long long)L->step, (long long)c->steps, (long long)c->patience, L->best_score);
        if (c->checkpoint && train_loop_save(L, c->checkpoint)) rc = -1;
    } else if (rc == 0 && L->step == c->steps) {
        report_step(L, &log_loss, &log_n, true);
        if (run_eval(L)) rc = -1;
        else if (c->checkpoint && train_loop_save(L, c->checkpoint)) rc = -1;
    } else if (rc == 0 && stop_requested) { /* stopped by a signal or --stop-after */
        report_step(L, &log_loss, &log_n, true);
        if (c->checkpoint) {
            if (train_loop_save(L, c->checkpoint)) rc = -1;
            else {
                fprintf(stderr, "%s: stopped (%s) at step %lld of %lld; checkpoint saved to %s (resume with "
                                "--resume %s --checkpoint %s)\n", c->label, g_stop_signal ? "signal" : "--stop-after",
                        (long long)L->step,
                        (long long)c->steps, c->checkpoint, c->checkpoint, c->checkpoint);
                rc = TRAIN_LOOP_STOPPED;
            }
        } else {
            fprintf(stderr, "%s: stopped at step %lld of %lld (no --checkpoint: nothing saved)\n", c->label,
                    (long long)L->step, (long long)c->steps);
            rc = TRAIN_LOOP_STOPPED;
        }
    }
    if (c->handle_signals) {
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
    }
    if (c->profile) print_profile(L);
    return rc;
}

int train_loop_run_steps(train_loop *L, int64_t n) {
    if (train_loop_resume(L)) return -1;
    if (L->t_start == 0) {
        L->t_start = base_now_sec();
        train_dist_begin(L->ps, ag_graph_rng(L->g)); /* data parallel: rank 0's parameters everywhere */
    }
    for (int64_t i = 0; i < n && L->step < L->cfg.steps; i++) {
        apply_unfreeze(L);
        if (timed_step(L)) return -1;
    }
    return 0;
}

const train_loop_profile *train_loop_get_profile(const train_loop *L) { return &L->prof; }
bool train_loop_stopped_early(const train_loop *L) { return L->stopped_early; }

int train_loop_plot(const train_loop *L, const char *path, const char *title) {
    if (!train_dist_writer()) return 0; /* data parallel: rank 0 draws */
    char buf[4096];
    if (!path && L->cfg.checkpoint) {
        snprintf(buf, sizeof buf, "%s.svg", L->cfg.checkpoint);
        path = buf;
    }
    if (!path) return 0;
    train_plot_series s[2] = {{"training loss", L->hist_loss.xy, L->hist_loss.n},
                              {L->has_eval && L->last_eval.n ? L->last_eval.key[0] : "evaluation", L->hist_eval.xy,
                               L->hist_eval.n}};
    return train_plot_lines(path, title, "optimizer step", s, L->hist_eval.n ? 2 : 1);
}
