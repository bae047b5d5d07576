/* word2vec.c — the Word2Vec trainer: vocabulary, Huffman tree, Hogwild workers running autograd's
 * fused word2vec ops, checkpoints that resume mid-epoch, progress and NaN guards.
 *
 * Threads: W workers each read their own shard of the corpus (data_corpus_shard k of W) once per
 * epoch, as word2vec.c does. Each owns an ag_graph and per-thread views (ag_tensor_view) of the
 * shared tables, so the row-sparse grads the ops append stay private to the thread; after every
 * window the worker applies them straight into the shared weights without locks (Hogwild).
 * The main thread only reports progress and writes checkpoints: to checkpoint it raises a pause
 * flag, every worker parks at its next sentence boundary (where its whole state is a handful of
 * numbers: epoch, word counts, alpha, RNG, byte cursor), the main thread writes the file, and the
 * workers continue. With one worker (--deterministic) the pause points depend only on the data, so
 * a resumed run repeats the uninterrupted run bit for bit.
 */
#define _GNU_SOURCE /* qsort_r */
#include "word2vec.h"

#include "../autograd/ag.h"
#include "../checkpoints/ckpt.h"
#include "../data/corpus.h"
#include "../data/sampler.h"
#include "progress.h"

#include <cblas.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define W2V_ALPHA_EVERY 10000 /* word2vec.c: the learning rate is recomputed every 10,000 words */
#define W2V_LOSS_BUCKETS TRAIN_W2V_LOSS_BUCKETS /* loss kept per tenth of the run (word2vec.h) */

/* ------------------------------------------------------------------------------------------------
 * Options
 * --------------------------------------------------------------------------------------------- */
void train_w2v_options_default(train_w2v_options *o) {
    memset(o, 0, sizeof *o);
    o->size = 100;
    o->window = 5;
    o->sample = 1e-3;
    o->hs = 0;
    o->negative = 5;
    o->threads = 2;
    o->iter = 5;
    o->min_count = 5;
    o->alpha = 0; /* model default */
    o->cbow = 1;
    o->debug = 2;
    o->seed = 1;
    o->shared_negatives = true;
    o->sentence_cap = 1000;
    o->progress = true;
}

int train_w2v_check_options(const train_w2v_options *o) {
    if (!o->train && !o->resume) return base_error_set("word2vec: -train: expected a corpus file, got none");
    if (o->size <= 0 || o->size > 100000) return base_error_set("word2vec: -size: expected 1..100000, got %" PRId64, o->size);
    if (o->window < 1 || o->window > 1000) return base_error_set("word2vec: -window: expected 1..1000, got %d", o->window);
    if (o->negative < 0 || o->negative > 1000)
        return base_error_set("word2vec: -negative: expected 0..1000, got %d", o->negative);
    if (o->hs != 0 && o->hs != 1) return base_error_set("word2vec: -hs: expected 0 or 1, got %d", o->hs);
    if (o->hs == 0 && o->negative == 0)
        return base_error_set("word2vec: -hs 0 -negative 0: expected hierarchical softmax or negative sampling, got neither");
    if (o->cbow != 0 && o->cbow != 1) return base_error_set("word2vec: -cbow: expected 0 or 1, got %d", o->cbow);
    if (o->threads < 1 || o->threads > 1024) return base_error_set("word2vec: -threads: expected 1..1024, got %d", o->threads);
    if (o->iter < 1 || o->iter > 100000) return base_error_set("word2vec: -iter: expected 1..100000, got %d", o->iter);
    if (o->min_count < 1) return base_error_set("word2vec: -min-count: expected >= 1, got %" PRId64, o->min_count);
    if (!(o->sample >= 0) || !isfinite(o->sample)) return base_error_set("word2vec: -sample: expected >= 0, got %g", o->sample);
    if (!isfinite(o->alpha) || o->alpha < 0) return base_error_set("word2vec: -alpha: expected > 0, got %g", o->alpha);
    if (o->checkpoint_every < 0)
        return base_error_set("word2vec: --checkpoint-every: expected >= 0 words, got %" PRId64, o->checkpoint_every);
    if (o->checkpoint_every > 0 && !o->checkpoint)
        return base_error_set("word2vec: --checkpoint-every: expected a --checkpoint FILE to write to, got none");
    if (o->sentence_cap < 1) return base_error_set("word2vec: sentence cap: expected >= 1, got %d", o->sentence_cap);
    return 0;
}

/* ------------------------------------------------------------------------------------------------
 * Shared run state
 * --------------------------------------------------------------------------------------------- */
typedef struct w2v_run w2v_run;

typedef struct w2v_worker {
    int id;
    w2v_run *run;
    pthread_t th;
    data_corpus *corpus;
    ag_graph *g;
    ag_tensor *v0, *v1, *v1neg; /* per-thread views of syn0, syn1 (HS), syn1neg (NS) */
    base_rng rng;
    /* state at the last sentence boundary (what a checkpoint stores) */
    int epoch;                     /* epochs finished by this worker */
    int64_t word_count;            /* in-vocabulary words read in the current epoch */
    int64_t last_word_count;       /* word_count at the last alpha update */
    double alpha;
    int64_t cursor;                /* corpus offset of the next word to read */
    double loss_sum[W2V_LOSS_BUCKETS];
    int64_t loss_pairs[W2V_LOSS_BUCKETS];
    /* live values for the main thread */
    _Atomic double pub_alpha;
    _Atomic double pub_loss;       /* running loss sum (published every alpha update) */
    _Atomic int64_t pub_pairs;
    /* scratch */
    int32_t *sen;   /* [sentence_cap] ids of the current sentence after subsampling */
    int32_t *ctx;   /* [2 * window] context ids of one window */
    int32_t *outs;  /* [1 + negative] target + negatives */
    int32_t *next_negs; /* [negative] negatives drawn (and prefetched) one window ahead */
    bool have_next;     /* next_negs is valid; never true at a sentence boundary */
    double loss_acc;                /* loss since the last publish */
    int64_t pairs_acc;
    bool finished;
    bool failed;
    char err[1024];
} w2v_worker;

struct w2v_run {
    const train_w2v_options *o;
    data_vocab *vocab;
    int64_t V, D;
    int nworkers;
    bool cbow;
    int hs, negative, window, iter;
    int64_t min_count;
    double sample, alpha0;
    uint64_t seed;
    int sentence_cap;
    bool shared_negatives;
    int64_t corpus_size;
    const char *train_path;
    /* tables (heap, 64-byte aligned) and their shared tensors */
    float *syn0, *syn1, *syn1neg;    /* [V, D] each */
    ag_tensor *t0, *t1, *t1neg;
    /* samplers */
    uint64_t *keep;                  /* [V] subsampling threshold in 2^32 units (2^32 = always) */
    data_alias alias;                /* negatives over count^0.75, "</s>" excluded */
    /* Huffman paths: word w's path is points/codes[path_off[w] .. path_off[w+1]) */
    int64_t *path_off;               /* [V + 1] */
    int32_t *points;                 /* [total] inner-node rows of syn1 */
    int32_t *codes;                  /* [total] 0/1 */
    int32_t eos_id;                  /* id of "</s>" or -1 */
    /* progress */
    int64_t train_words;             /* vocab total (word2vec.c's train_words) */
    int64_t words_total;             /* iter * train_words */
    _Atomic int64_t words_done;
    /* coordination */
    pthread_mutex_t mu;
    pthread_cond_t cv_main, cv_workers;
    atomic_bool pause_req, stop_req;
    int npaused, nfinished;
    _Atomic int64_t next_ckpt;       /* words_done at which the next checkpoint is due */
    bool nan_seen;
    int64_t nan_words;
    double nan_alpha;
    char last_ckpt[4096];            /* path of the last checkpoint written in this run, "" if none */
};

double train_w2v_alpha(double alpha0, int64_t words_done, int64_t words_total) {
    double a = alpha0 * (1.0 - (double)words_done / (double)(words_total + 1));
    if (a < alpha0 * 1e-4) a = alpha0 * 1e-4;
    return a;
}

/* ------------------------------------------------------------------------------------------------
 * Huffman tree (word2vec.c's CreateBinaryTree, with an explicit sort so any id order works)
 * --------------------------------------------------------------------------------------------- */
static int cmp_count_asc(const void *a, const void *b, void *ctx) {
    const int64_t *cnt = ctx;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (cnt[x] != cnt[y]) return cnt[x] < cnt[y] ? -1 : 1;
    return x > y ? -1 : x < y; /* ties: higher id first, as word2vec.c's descending scan */
}

static void build_huffman(w2v_run *r) {
    const int64_t V = r->V;
    const int64_t *cnt0 = r->vocab->counts;
    int64_t N = 2 * V - 1;
    int64_t *count = base_xmalloc((size_t)N * sizeof *count);  /* [2V-1] node weights */
    int64_t *parent = base_xmalloc((size_t)N * sizeof *parent); /* [2V-1] */
    int8_t *bit = base_xcalloc((size_t)N, 1);                   /* [2V-1] */
    int32_t *order = base_xmalloc((size_t)V * sizeof *order);   /* [V] leaves by count ascending */
    for (int64_t i = 0; i < V; i++) {
        count[i] = cnt0[i];
        order[i] = (int32_t)i;
    }
    qsort_r(order, (size_t)V, sizeof *order, cmp_count_asc, (void *)cnt0);
    int64_t p1 = 0, p2 = V; /* fronts of the leaf queue (order[]) and the inner-node queue */
    for (int64_t k = V; k < N; k++) {
        int64_t m[2];
        for (int t = 0; t < 2; t++) {
            if (p1 < V && (p2 >= k || count[order[p1]] < count[p2])) m[t] = order[p1++];
            else m[t] = p2++;
        }
        count[k] = count[m[0]] + count[m[1]];
        parent[m[0]] = k;
        parent[m[1]] = k;
        bit[m[1]] = 1;
    }
    r->path_off = base_xmalloc((size_t)(V + 1) * sizeof *r->path_off);
    int64_t total = 0;
    for (int64_t w = 0; w < V; w++) {
        r->path_off[w] = total;
        for (int64_t b = w; b != N - 1; b = parent[b]) total++;
    }
    r->path_off[V] = total;
    r->points = base_xmalloc((size_t)(total ? total : 1) * sizeof *r->points);
    r->codes = base_xmalloc((size_t)(total ? total : 1) * sizeof *r->codes);
    for (int64_t w = 0; w < V; w++) {
        int64_t len = r->path_off[w + 1] - r->path_off[w], i = len;
        int32_t *pt = r->points + r->path_off[w], *cd = r->codes + r->path_off[w];
        /* walk leaf → root, fill root → leaf: point = the parent (inner node row), code = the branch */
        for (int64_t b = w; b != N - 1; b = parent[b]) {
            i--;
            pt[i] = (int32_t)(parent[b] - V);
            cd[i] = bit[b];
        }
    }
    free(count);
    free(parent);
    free(bit);
    free(order);
}

/* ------------------------------------------------------------------------------------------------
 * Training one sentence
 * --------------------------------------------------------------------------------------------- */

/* Adds a worker view's row-sparse grad into the shared table: W[row] += scale · val, then empties it. */
static inline void apply_sgrad(ag_tensor *view, float *W, int64_t D, float scale) {
    ag_sparse_grad *sg = view->sgrad;
    if (!sg) return;
    for (int64_t i = 0; i < sg->n; i++) {
        float *restrict w = W + (int64_t)sg->rows[i] * D;
        const float *restrict v = sg->vals + i * D;
#pragma omp simd
        for (int64_t d = 0; d < D; d++) w[d] += scale * v[d];
    }
    sg->n = 0;
}

/* Asks the cache for a table row ahead of its use (rows of a 33 MB table are DRAM misses). */
static inline void prefetch_row(const float *row, int64_t D) {
    for (int64_t b = 0; b < D * (int64_t)sizeof(float); b += 64) __builtin_prefetch((const char *)row + b, 0, 3);
}

static inline int32_t draw_negative(w2v_worker *wk, int32_t target) {
    const w2v_run *r = wk->run;
    int32_t n = target;
    /* word2vec.c skips a negative equal to the target; we redraw (a few times) to keep K columns. */
    for (int t = 0; t < 8 && n == target; t++) n = data_alias_draw(&r->alias, base_rng_next(&wk->rng));
    return n;
}

/* One window: C context ids, the centre word, through the ops, then the updates. more: another
 * window follows in this sentence (then its negatives are drawn now and prefetched; at a sentence
 * boundary nothing is pending, so checkpoints need not store drawn negatives). */
static void train_window(w2v_worker *wk, const int32_t *ctx, int64_t C, int32_t word, bool more) {
    w2v_run *r = wk->run;
    ag_graph *g = wk->g;
    const int64_t D = r->D;
    const bool mean = r->cbow;
    ag_tensor *in = ag_from_i32(g, 1, &C, ctx);
    ag_tensor *losses[2];
    int nl = 0;
    int64_t pairs = 0, nx = mean ? 1 : C;
    if (r->hs) {
        int64_t M = r->path_off[word + 1] - r->path_off[word];
        if (M > 0) {
            ag_tensor *pt = ag_from_i32(g, 1, &M, r->points + r->path_off[word]);
            ag_tensor *cd = ag_from_i32(g, 1, &M, r->codes + r->path_off[word]);
            losses[nl++] = ag_w2v_hs_loss(g, wk->v0, wk->v1, in, pt, cd, mean);
            pairs += nx * M;
        }
    }
    if (r->negative > 0) {
        int64_t M = 1 + r->negative;
        wk->outs[0] = word;
        if (wk->have_next) {
            for (int k = 1; k < M; k++) {
                int32_t n = wk->next_negs[k - 1];
                wk->outs[k] = n == word ? draw_negative(wk, word) : n;
            }
        } else {
            for (int k = 1; k < M; k++) wk->outs[k] = draw_negative(wk, word);
        }
        wk->have_next = more;
        if (more) {
            for (int k = 0; k < r->negative; k++) {
                int32_t n = data_alias_draw(&r->alias, base_rng_next(&wk->rng));
                wk->next_negs[k] = n;
                prefetch_row(r->syn1neg + (int64_t)n * D, D);
            }
        }
        ag_tensor *out = ag_from_i32(g, 1, &M, wk->outs);
        losses[nl++] = ag_w2v_ns_loss(g, wk->v0, wk->v1neg, in, out, mean);
        pairs += nx * M;
    }
    /* Gradient descent: every loss's backward appends row grads to this thread's views. */
    for (int i = 0; i < nl; i++) {
        wk->loss_acc += ag_f32(losses[i])[0];
        ag_backward(g, losses[i]);
    }
    wk->pairs_acc += pairs;
    const float a = (float)wk->alpha;
    /* word2vec.c's CBOW adds the full hidden-layer grad to every context row (no 1/C); the op's
     * exact grad of the mean is dh/C, so the input step is alpha·C. */
    apply_sgrad(wk->v0, r->syn0, D, -a * (mean ? (float)C : 1.0f));
    if (r->hs) apply_sgrad(wk->v1, r->syn1, D, -a);
    if (r->negative > 0) apply_sgrad(wk->v1neg, r->syn1neg, D, -a);
    ag_graph_reset(g);
}

static void train_sentence(w2v_worker *wk, int64_t len) {
    w2v_run *r = wk->run;
    wk->have_next = false;
    const int32_t *sen = wk->sen;
    const bool per_context = !r->cbow && !r->shared_negatives;
    for (int64_t pos = 0; pos < len; pos++) {
        int32_t word = sen[pos];
        int radius = data_window_radius(r->window, base_rng_next(&wk->rng));
        int64_t C = 0;
        int64_t lo = pos - radius < 0 ? 0 : pos - radius, hi = pos + radius >= len ? len - 1 : pos + radius;
        for (int64_t a = lo; a <= hi; a++)
            if (a != pos) wk->ctx[C++] = sen[a];
        if (C == 0) {
            wk->have_next = false; /* keeps the draw order independent of where windows are empty */
            continue;
        }
        if (r->negative > 0 && pos + 1 < len) prefetch_row(r->syn1neg + (int64_t)sen[pos + 1] * r->D, r->D);
        /* the input row that enters the window next (the largest radius reaches it first) */
        if (pos + r->window + 1 < len) prefetch_row(r->syn0 + (int64_t)sen[pos + r->window + 1] * r->D, r->D);
        if (per_context) {
            /* word2vec.c's order: each context word against its own fresh negatives. */
            for (int64_t c = 0; c < C; c++) train_window(wk, wk->ctx + c, 1, word, c + 1 < C || pos + 1 < len);
        } else {
            train_window(wk, wk->ctx, C, word, pos + 1 < len);
        }
    }
}

/* ------------------------------------------------------------------------------------------------
 * Worker loop
 * --------------------------------------------------------------------------------------------- */
static void publish(w2v_worker *wk) {
    atomic_store_explicit(&wk->pub_loss, atomic_load_explicit(&wk->pub_loss, memory_order_relaxed) + wk->loss_acc,
                          memory_order_relaxed);
    atomic_store_explicit(&wk->pub_pairs, atomic_load_explicit(&wk->pub_pairs, memory_order_relaxed) + wk->pairs_acc,
                          memory_order_relaxed);
    atomic_store_explicit(&wk->pub_alpha, wk->alpha, memory_order_relaxed);
}

/* Moves the loss since the last flush into the bucket of the current tenth of the run. */
static bool flush_loss(w2v_worker *wk) {
    w2v_run *r = wk->run;
    bool ok = isfinite(wk->loss_acc);
    int64_t done = atomic_load(&r->words_done);
    int b = (int)((double)done * W2V_LOSS_BUCKETS / (double)(r->words_total > 0 ? r->words_total : 1));
    if (b >= W2V_LOSS_BUCKETS) b = W2V_LOSS_BUCKETS - 1;
    if (b < 0) b = 0;
    publish(wk);
    wk->loss_sum[b] += wk->loss_acc;
    wk->loss_pairs[b] += wk->pairs_acc;
    wk->loss_acc = 0;
    wk->pairs_acc = 0;
    return ok;
}

static void worker_fail(w2v_worker *wk, const char *msg) {
    snprintf(wk->err, sizeof wk->err, "%s", msg);
    wk->failed = true;
    atomic_store(&wk->run->stop_req, true);
}

/* Parks at a sentence boundary while the main thread checkpoints. */
static void maybe_pause(w2v_worker *wk) {
    w2v_run *r = wk->run;
    const train_w2v_options *o = r->o;
    int64_t done = atomic_load(&r->words_done);
    if (o->checkpoint_every > 0 && done >= atomic_load(&r->next_ckpt)) atomic_store(&r->pause_req, true);
    if (o->stop_after_words > 0 && done >= o->stop_after_words) atomic_store(&r->stop_req, true);
    if (!atomic_load(&r->pause_req)) return;
    pthread_mutex_lock(&r->mu);
    r->npaused++;
    pthread_cond_signal(&r->cv_main);
    while (atomic_load(&r->pause_req)) pthread_cond_wait(&r->cv_workers, &r->mu);
    r->npaused--;
    pthread_mutex_unlock(&r->mu);
}

static void *worker_main(void *arg) {
    w2v_worker *wk = arg;
    w2v_run *r = wk->run;
    const uint64_t full = (uint64_t)1 << 32;
    char word[DATA_MAX_WORD];
    while (wk->epoch < r->iter) {
        /* sentence boundary: the state here is what a checkpoint records */
        wk->cursor = data_corpus_tell(wk->corpus);
        maybe_pause(wk);
        if (atomic_load(&r->stop_req)) break;
        if (wk->word_count - wk->last_word_count > W2V_ALPHA_EVERY) {
            int64_t done = atomic_fetch_add(&r->words_done, wk->word_count - wk->last_word_count) +
                           (wk->word_count - wk->last_word_count);
            wk->last_word_count = wk->word_count;
            wk->alpha = train_w2v_alpha(r->alpha0, done, r->words_total);
            if (!flush_loss(wk)) {
                r->nan_words = done;
                r->nan_alpha = wk->alpha;
                r->nan_seen = true;
                worker_fail(wk, "loss is not finite");
                break;
            }
        }
        /* read one sentence: up to sentence_cap kept words, ending at "</s>" or the shard's end */
        int64_t len = 0;
        bool end = false;
        for (;;) {
            int n = data_corpus_next(wk->corpus, word, sizeof word);
            if (n < 0) {
                worker_fail(wk, base_error_msg());
                end = true;
                break;
            }
            if (n == 0) {
                end = true;
                break;
            }
            int32_t id = data_vocab_find(r->vocab, word);
            if (id < 0) {
                if (n == 4 && !memcmp(word, DATA_EOS, 4)) break; /* sentence end even if pruned */
                continue;
            }
            wk->word_count++;
            if (id == r->eos_id) break;
            if (r->keep[id] < full && (base_rng_next(&wk->rng) >> 32) >= r->keep[id]) continue;
            wk->sen[len++] = id;
            if (len >= r->sentence_cap) break;
        }
        if (wk->failed) break;
        train_sentence(wk, len);
        if (end) {
            atomic_fetch_add(&r->words_done, wk->word_count - wk->last_word_count);
            wk->epoch++;
            wk->word_count = wk->last_word_count = 0;
            if (wk->epoch < r->iter && data_corpus_shard(wk->corpus, wk->id, r->nworkers) != 0) {
                worker_fail(wk, base_error_msg());
                break;
            }
        }
    }
    if (!wk->failed) {
        bool ok = flush_loss(wk);
        if (!ok) {
            r->nan_words = atomic_load(&r->words_done);
            r->nan_alpha = wk->alpha;
            r->nan_seen = true;
            worker_fail(wk, "loss is not finite");
        }
    }
    wk->cursor = data_corpus_tell(wk->corpus);
    pthread_mutex_lock(&r->mu);
    wk->finished = true;
    r->nfinished++;
    pthread_cond_signal(&r->cv_main);
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

/* ------------------------------------------------------------------------------------------------
 * Resume state (/state): one writer, one reader
 * --------------------------------------------------------------------------------------------- */
#define W2V_STATE "/state/word2vec/"

/* The integer settings, in the order of the positional layout's /state/w2v_options int64 [10], with
 * the limits train_w2v_check_options puts on the flags they come from (a checkpoint can only hold
 * values that passed those checks; anything else is a damaged or hand-made file). */
enum { W2V_NSETTINGS = 10 };
static const struct {
    const char *name;
    int64_t lo, hi;
} w2v_settings[W2V_NSETTINGS] = {
    {"size", 1, 100000},         {"window", 1, 1000},   {"hs", 0, 1},
    {"negative", 0, 1000},       {"workers", 1, 1024},  {"iter", 1, 100000},
    {"min_count", 1, INT64_MAX}, {"cbow", 0, 1},        {"shared_negatives", 0, 1},
    {"sentence_cap", 1, INT32_MAX},
};

/* Where the fields the two layouts share live in each (the named layout is the one written). */
typedef struct w2v_state_paths {
    const char *seed, *train, *corpus_size, *next_checkpoint;
    const char *worker_epoch, *worker_word_count, *worker_last_word_count, *worker_alpha;
    const char *loss_sum, *loss_pairs;
    bool doubles_as_bits; /* the positional layout stored doubles as their uint64 bit patterns */
} w2v_state_paths;

static const w2v_state_paths w2v_named = {
    .seed = W2V_STATE "seed",
    .train = W2V_STATE "train",
    .corpus_size = W2V_STATE "corpus_size",
    .next_checkpoint = W2V_STATE "next_checkpoint",
    .worker_epoch = W2V_STATE "worker_epoch",
    .worker_word_count = W2V_STATE "worker_word_count",
    .worker_last_word_count = W2V_STATE "worker_last_word_count",
    .worker_alpha = W2V_STATE "worker_alpha",
    .loss_sum = W2V_STATE "loss_sum",
    .loss_pairs = W2V_STATE "loss_pairs",
    .doubles_as_bits = false,
};
static const w2v_state_paths w2v_positional = {
    .seed = "/state/seed",
    .train = "/state/train",
    .corpus_size = "/state/corpus_size",
    .next_checkpoint = "/state/next_checkpoint",
    .worker_epoch = "/state/worker_epoch",
    .worker_word_count = "/state/worker_word_count",
    .worker_last_word_count = "/state/worker_last_word_count",
    .worker_alpha = "/state/worker_alpha_bits",
    .loss_sum = "/state/loss_sum_bits",
    .loss_pairs = "/state/loss_pairs",
    .doubles_as_bits = true,
};

int train_w2v_put_state(ckpt_writer *w, const train_w2v_state *s) {
    const int W = s->nworkers;
    const w2v_state_paths *p = &w2v_named;
    if (W < 1) return base_error_set("word2vec state: expected at least one worker, got %d", W);
    /* the conventional progress fields, for readers that know nothing of workers (ember ckpt info,
     * h5py): the lowest epoch and the lowest learning rate over the workers */
    int64_t epoch = s->worker[0].epoch;
    double lr = s->worker[0].alpha;
    for (int k = 1; k < W; k++) {
        if (s->worker[k].epoch < epoch) epoch = s->worker[k].epoch;
        if (s->worker[k].alpha < lr) lr = s->worker[k].alpha;
    }
    int rc = ckpt_put_i64(w, "/state/words_done", s->words_done);
    if (!rc) rc = ckpt_put_i64(w, "/state/epoch", epoch);
    if (!rc) rc = ckpt_put_f64(w, "/state/lr", lr);
    int64_t *i64 = base_xmalloc((size_t)W * W2V_LOSS_BUCKETS * sizeof *i64);
    double *f64 = base_xmalloc((size_t)W * W2V_LOSS_BUCKETS * sizeof *f64);
    for (int k = 0; k < W; k++) i64[k] = s->worker[k].cursor;
    if (!rc) rc = ckpt_put_i64_array(w, "/state/data_cursor", i64, W);
    for (int k = 0; k < W && !rc; k++) {
        char path[64];
        snprintf(path, sizeof path, "/state/rng/worker%d", k);
        rc = ckpt_put_rng(w, path, &s->worker[k].rng);
    }
    const int64_t set[W2V_NSETTINGS] = {s->size, s->window,    s->hs,   s->negative,         W,
                                        s->iter, s->min_count, s->cbow, s->shared_negatives, s->sentence_cap};
    for (int i = 0; i < W2V_NSETTINGS && !rc; i++) {
        char path[96];
        snprintf(path, sizeof path, W2V_STATE "%s", w2v_settings[i].name);
        rc = ckpt_put_i64(w, path, set[i]);
    }
    if (!rc) rc = ckpt_put_f64(w, W2V_STATE "sample", s->sample);
    if (!rc) rc = ckpt_put_f64(w, W2V_STATE "alpha", s->alpha);
    if (!rc) rc = ckpt_put_u64_array(w, p->seed, &s->seed, 1);
    if (!rc) rc = ckpt_put_string(w, p->train, s->train ? s->train : "");
    if (!rc) rc = ckpt_put_i64(w, p->corpus_size, s->corpus_size);
    if (!rc) rc = ckpt_put_i64(w, p->next_checkpoint, s->next_checkpoint);
#define PUT_WORKER_I64(path, field)                                                                \
    do {                                                                                           \
        for (int k = 0; k < W; k++) i64[k] = s->worker[k].field;                                   \
        if (!rc) rc = ckpt_put_i64_array(w, path, i64, W);                                         \
    } while (0)
    PUT_WORKER_I64(p->worker_epoch, epoch);
    PUT_WORKER_I64(p->worker_word_count, word_count);
    PUT_WORKER_I64(p->worker_last_word_count, last_word_count);
#undef PUT_WORKER_I64
    for (int k = 0; k < W; k++) f64[k] = s->worker[k].alpha;
    if (!rc) rc = ckpt_put_f64_array(w, p->worker_alpha, f64, W);
    for (int k = 0; k < W; k++) {
        memcpy(f64 + k * W2V_LOSS_BUCKETS, s->worker[k].loss_sum, sizeof s->worker[k].loss_sum);
        memcpy(i64 + k * W2V_LOSS_BUCKETS, s->worker[k].loss_pairs, sizeof s->worker[k].loss_pairs);
    }
    if (!rc) rc = ckpt_put_f64_array(w, p->loss_sum, f64, (int64_t)W * W2V_LOSS_BUCKETS);
    if (!rc) rc = ckpt_put_i64_array(w, p->loss_pairs, i64, (int64_t)W * W2V_LOSS_BUCKETS);
    free(i64);
    free(f64);
    return rc;
}

/* n doubles from path: float64 in the named layout, uint64 bit patterns in the positional one. */
static int get_doubles(ckpt_reader *r, const char *path, double *out, int64_t n, bool as_bits) {
    if (!as_bits) return ckpt_get_f64_array(r, path, out, n);
    uint64_t *bits = base_xmalloc((size_t)n * sizeof *bits);
    int rc = ckpt_get_u64_array(r, path, bits, n);
    if (!rc) memcpy(out, bits, (size_t)n * sizeof *out);
    free(bits);
    return rc;
}

/* The settings and scalars of either layout into s (no allocation). */
static int get_settings(ckpt_reader *r, const w2v_state_paths *p, train_w2v_state *s) {
    const char *file = ckpt_reader_path(r);
    int64_t set[W2V_NSETTINGS];
    double f[2]; /* sample, alpha */
    char where[W2V_NSETTINGS][96];
    if (p->doubles_as_bits) {
        if (ckpt_get_i64_array(r, "/state/w2v_options", set, W2V_NSETTINGS) ||
            get_doubles(r, "/state/w2v_options_f64_bits", f, 2, true))
            return -1;
        for (int i = 0; i < W2V_NSETTINGS; i++)
            snprintf(where[i], sizeof where[i], "/state/w2v_options[%d] (%s)", i, w2v_settings[i].name);
    } else {
        for (int i = 0; i < W2V_NSETTINGS; i++) {
            snprintf(where[i], sizeof where[i], W2V_STATE "%s", w2v_settings[i].name);
            if (ckpt_get_i64(r, where[i], &set[i])) return -1;
        }
        if (ckpt_get_f64(r, W2V_STATE "sample", &f[0]) || ckpt_get_f64(r, W2V_STATE "alpha", &f[1])) return -1;
    }
    for (int i = 0; i < W2V_NSETTINGS; i++)
        if (set[i] < w2v_settings[i].lo || set[i] > w2v_settings[i].hi)
            return base_error_set("%s: %s: expected %" PRId64 "..%" PRId64 ", got %" PRId64, file, where[i],
                                w2v_settings[i].lo, w2v_settings[i].hi, set[i]);
    if (set[2] == 0 && set[3] == 0)
        return base_error_set("%s: %s and %s: expected hierarchical softmax or negative sampling, got neither", file,
                            where[2], where[3]);
    if (!(f[0] >= 0) || !isfinite(f[0]))
        return base_error_set("%s: %s: expected a sample rate >= 0, got %g", file,
                            p->doubles_as_bits ? "/state/w2v_options_f64_bits[0] (sample)" : W2V_STATE "sample", f[0]);
    if (!(f[1] > 0) || !isfinite(f[1]))
        return base_error_set("%s: %s: expected a learning rate > 0, got %g", file,
                            p->doubles_as_bits ? "/state/w2v_options_f64_bits[1] (alpha)" : W2V_STATE "alpha", f[1]);
    s->size = set[0];
    s->window = (int)set[1];
    s->hs = (int)set[2];
    s->negative = (int)set[3];
    s->nworkers = (int)set[4];
    s->iter = (int)set[5];
    s->min_count = set[6];
    s->cbow = (int)set[7];
    s->shared_negatives = set[8] != 0;
    s->sentence_cap = (int)set[9];
    s->sample = f[0];
    s->alpha = f[1];
    if (ckpt_get_u64_array(r, p->seed, &s->seed, 1) || ckpt_get_i64(r, p->corpus_size, &s->corpus_size) ||
        ckpt_get_i64(r, "/state/words_done", &s->words_done) || ckpt_get_i64(r, p->next_checkpoint, &s->next_checkpoint))
        return -1;
    if (s->corpus_size < 0) return base_error_set("%s: %s: expected >= 0 bytes, got %" PRId64, file, p->corpus_size, s->corpus_size);
    if (s->words_done < 0) return base_error_set("%s: /state/words_done: expected >= 0, got %" PRId64, file, s->words_done);
    return 0;
}

/* The per-worker fields of either layout into s->worker (allocated by the caller). */
static int get_workers(ckpt_reader *r, const w2v_state_paths *p, train_w2v_state *s) {
    const int W = s->nworkers;
    int64_t *i64 = base_xmalloc((size_t)W * W2V_LOSS_BUCKETS * sizeof *i64);
    double *f64 = base_xmalloc((size_t)W * W2V_LOSS_BUCKETS * sizeof *f64);
    int rc = 0;
#define GET_WORKER_I64(path, field)                                                                \
    do {                                                                                           \
        if (!rc) rc = ckpt_get_i64_array(r, path, i64, W);                                         \
        for (int k = 0; k < W && !rc; k++) s->worker[k].field = i64[k];                            \
    } while (0)
    GET_WORKER_I64("/state/data_cursor", cursor);
    GET_WORKER_I64(p->worker_epoch, epoch);
    GET_WORKER_I64(p->worker_word_count, word_count);
    GET_WORKER_I64(p->worker_last_word_count, last_word_count);
#undef GET_WORKER_I64
    if (!rc) rc = get_doubles(r, p->worker_alpha, f64, W, p->doubles_as_bits);
    for (int k = 0; k < W && !rc; k++) s->worker[k].alpha = f64[k];
    if (!rc) rc = get_doubles(r, p->loss_sum, f64, (int64_t)W * W2V_LOSS_BUCKETS, p->doubles_as_bits);
    if (!rc) rc = ckpt_get_i64_array(r, p->loss_pairs, i64, (int64_t)W * W2V_LOSS_BUCKETS);
    for (int k = 0; k < W && !rc; k++) {
        memcpy(s->worker[k].loss_sum, f64 + k * W2V_LOSS_BUCKETS, sizeof s->worker[k].loss_sum);
        memcpy(s->worker[k].loss_pairs, i64 + k * W2V_LOSS_BUCKETS, sizeof s->worker[k].loss_pairs);
    }
    for (int k = 0; k < W && !rc; k++) {
        char path[64];
        snprintf(path, sizeof path, "/state/rng/worker%d", k);
        rc = ckpt_get_rng(r, path, &s->worker[k].rng);
    }
    free(i64);
    free(f64);
    for (int k = 0; k < W && !rc; k++) {
        const train_w2v_worker_state *wk = &s->worker[k];
        if (wk->epoch < 0 || wk->epoch > s->iter || wk->word_count < 0 || wk->last_word_count < 0 ||
            wk->last_word_count > wk->word_count || wk->cursor < 0 || wk->cursor > s->corpus_size || !(wk->alpha > 0) ||
            !isfinite(wk->alpha))
            rc = base_error_set("%s: /state: worker %d: expected a consistent state (epoch 0..%d, 0 <= last word count "
                              "<= word count, cursor 0..%" PRId64 ", learning rate > 0), got epoch %" PRId64
                              ", word count %" PRId64 ", last word count %" PRId64 ", cursor %" PRId64
                              ", learning rate %g",
                              ckpt_reader_path(r), k, s->iter, s->corpus_size, wk->epoch, wk->word_count,
                              wk->last_word_count, wk->cursor, wk->alpha);
    }
    return rc;
}

int train_w2v_get_state(ckpt_reader *r, train_w2v_state *s) {
    memset(s, 0, sizeof *s);
    const w2v_state_paths *p;
    if (ckpt_has(r, W2V_STATE "size")) p = &w2v_named;
    else if (ckpt_has(r, "/state/w2v_options")) p = &w2v_positional;
    else
        return base_error_set("%s: /state/word2vec: missing in file: expected the resume state of an `ember "
                            "word2vec` run",
                            ckpt_reader_path(r));
    if (get_settings(r, p, s) != 0) {
        memset(s, 0, sizeof *s);
        return -1;
    }
    s->worker = base_xcalloc((size_t)s->nworkers, sizeof *s->worker);
    char *train = NULL;
    int rc = get_workers(r, p, s);
    if (!rc) rc = ckpt_get_string(r, p->train, &train);
    s->train = train;
    if (rc) train_w2v_state_free(s);
    return rc;
}

void train_w2v_state_free(train_w2v_state *s) {
    free(s->worker);
    free((char *)s->train); /* heap when it comes from train_w2v_get_state */
    memset(s, 0, sizeof *s);
}

/* ------------------------------------------------------------------------------------------------
 * Checkpoints
 * --------------------------------------------------------------------------------------------- */

/* /config: the run's settings as JSON, for people (a resume reads /state). Heap string. */
static char *config_json(const w2v_run *r) {
    char *json = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&json, &len);
    AG_CHECK(f, "word2vec", "open_memstream: out of memory");
    fputs("{\"trainer\":\"word2vec\",\"train\":", f);
    base_json_str(f, r->train_path); /* any path, quotes and control bytes included, stays valid JSON */
    fprintf(f,
            ",\"size\":%" PRId64 ",\"window\":%d,\"sample\":%.17g,\"hs\":%d,\"negative\":%d,\"threads\":%d,"
            "\"iter\":%d,\"min_count\":%" PRId64 ",\"alpha\":%.17g,\"cbow\":%d,\"seed\":%" PRIu64
            ",\"shared_negatives\":%d,\"sentence_cap\":%d}",
            r->D, r->window, r->sample, r->hs, r->negative, r->nworkers, r->iter, r->min_count, r->alpha0, r->cbow,
            r->seed, r->shared_negatives, r->sentence_cap);
    fclose(f);
    return json;
}

/* The run's state with every worker parked at a sentence boundary (or finished). worker: [nworkers],
 * filled here; s->worker points to it. */
static void state_of_run(w2v_run *r, const w2v_worker *wks, train_w2v_worker_state *worker, train_w2v_state *s) {
    *s = (train_w2v_state){
        .size = r->D, .min_count = r->min_count, .window = r->window, .hs = r->hs, .negative = r->negative,
        .iter = r->iter, .cbow = r->cbow, .sentence_cap = r->sentence_cap, .shared_negatives = r->shared_negatives,
        .sample = r->sample, .alpha = r->alpha0, .seed = r->seed, .train = r->train_path,
        .corpus_size = r->corpus_size, .words_done = atomic_load(&r->words_done),
        .next_checkpoint = atomic_load(&r->next_ckpt), .nworkers = r->nworkers, .worker = worker,
    };
    for (int k = 0; k < r->nworkers; k++) {
        const w2v_worker *wk = &wks[k];
        train_w2v_worker_state *ws = &worker[k];
        ws->epoch = wk->epoch;
        ws->word_count = wk->word_count;
        ws->last_word_count = wk->last_word_count;
        ws->cursor = wk->cursor;
        ws->alpha = wk->alpha;
        memcpy(ws->loss_sum, wk->loss_sum, sizeof ws->loss_sum);
        memcpy(ws->loss_pairs, wk->loss_pairs, sizeof ws->loss_pairs);
        ws->rng = wk->rng;
    }
}

static int save_checkpoint(w2v_run *r, w2v_worker *wks, const char *path) {
    ckpt_writer *w = ckpt_writer_begin(path);
    if (!w) return -1;
    char *json = config_json(r);
    train_w2v_worker_state *worker = base_xcalloc((size_t)r->nworkers, sizeof *worker);
    train_w2v_state st;
    state_of_run(r, wks, worker, &st);
    int64_t shape[2] = {r->V, r->D};
    int rc = ckpt_put_config_json(w, json);
    if (!rc) rc = ckpt_put_vocab(w, (const char *const *)r->vocab->words, r->vocab->counts, r->V);
    if (!rc) rc = ckpt_put_f32_array(w, "/params/syn0", r->syn0, 2, shape);
    if (!rc && r->hs) rc = ckpt_put_f32_array(w, "/params/syn1", r->syn1, 2, shape);
    if (!rc && r->negative) rc = ckpt_put_f32_array(w, "/params/syn1neg", r->syn1neg, 2, shape);
    if (!rc) rc = train_w2v_put_state(w, &st);
    free(worker);
    free(json);
    if (rc) {
        ckpt_writer_abort(w);
        return -1;
    }
    if (ckpt_writer_commit(w) != 0) return -1;
    snprintf(r->last_ckpt, sizeof r->last_ckpt, "%s", path);
    return 0;
}

/* Resume, part 1 (before the tables exist): the settings of the checkpoint's state, and its
 * vocabulary in checkpoint order. */
static int resume_settings(w2v_run *r, ckpt_reader *cr, const train_w2v_state *st) {
    r->D = st->size;
    r->window = st->window;
    r->hs = st->hs;
    r->negative = st->negative;
    r->nworkers = st->nworkers;
    r->iter = st->iter;
    r->min_count = st->min_count;
    r->cbow = st->cbow != 0;
    r->shared_negatives = st->shared_negatives;
    r->sentence_cap = st->sentence_cap;
    r->sample = st->sample;
    r->alpha0 = st->alpha;
    r->seed = st->seed;
    r->corpus_size = st->corpus_size;
    const char *file = ckpt_reader_path(cr);
    char **words = NULL;
    int64_t *counts = NULL, n = 0;
    if (ckpt_get_vocab(cr, &words, &counts, &n) != 0) return -1;
    if (n < 1) {
        ckpt_free_words(words, n);
        free(counts);
        return base_error_set("%s: /vocab: expected at least one word, got none", file);
    }
    data_vocab *v = data_vocab_new();
    for (int64_t i = 0; i < n; i++) {
        if (data_vocab_find(v, words[i]) >= 0 || counts[i] < 0) {
            ckpt_free_words(words, n);
            free(counts);
            data_vocab_free(v);
            return base_error_set("%s: /vocab/words: word %" PRId64 " is a duplicate or has a negative count", file, i);
        }
        data_vocab_add(v, words[i], counts[i]); /* ids = checkpoint order */
    }
    ckpt_free_words(words, n);
    free(counts);
    r->vocab = v;
    return 0;
}

/* Resume, part 2 (tables and workers exist): the tables, the progress and every worker's state. */
static int resume_state(w2v_run *r, ckpt_reader *cr, const train_w2v_state *st, w2v_worker *wks) {
    int64_t shape[2] = {r->V, r->D};
    if (ckpt_get_f32_array(cr, "/params/syn0", r->syn0, 2, shape)) return -1;
    if (r->hs && ckpt_get_f32_array(cr, "/params/syn1", r->syn1, 2, shape)) return -1;
    if (r->negative && ckpt_get_f32_array(cr, "/params/syn1neg", r->syn1neg, 2, shape)) return -1;
    atomic_store(&r->words_done, st->words_done);
    atomic_store(&r->next_ckpt, st->next_checkpoint);
    for (int k = 0; k < r->nworkers; k++) {
        w2v_worker *wk = &wks[k];
        const train_w2v_worker_state *ws = &st->worker[k];
        wk->epoch = (int)ws->epoch; /* <= iter, checked by train_w2v_get_state */
        wk->word_count = ws->word_count;
        wk->last_word_count = ws->last_word_count;
        wk->cursor = ws->cursor;
        wk->alpha = ws->alpha;
        memcpy(wk->loss_sum, ws->loss_sum, sizeof wk->loss_sum);
        memcpy(wk->loss_pairs, ws->loss_pairs, sizeof wk->loss_pairs);
        wk->rng = ws->rng;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------------
 * Input checks
 * --------------------------------------------------------------------------------------------- */

/* Rejects binary data: NUL bytes or many control bytes in the first 64 KiB (plain or gzip). */
static int check_text(const char *path) {
    gzFile f = gzopen(path, "rb");
    if (!f) return base_error_set("%s: cannot open corpus: %s", path, strerror(errno));
    static const int N = 65536;
    unsigned char *buf = base_xmalloc((size_t)N);
    int n = gzread(f, buf, (unsigned)N);
    gzclose(f);
    if (n < 0) {
        free(buf);
        return base_error_set("%s: cannot read corpus (corrupt gzip stream?)", path);
    }
    int ctrl = 0;
    for (int i = 0; i < n; i++) {
        unsigned char c = buf[i];
        if (c == 0) {
            free(buf);
            return base_error_set("%s: byte %d: expected text, got a NUL byte (binary file?)", path, i);
        }
        if ((c < 0x20 && c != '\n' && c != '\r' && c != '\t' && c != '\f' && c != '\v') || c == 0x7f) ctrl++;
    }
    free(buf);
    if (n == 0) return base_error_set("%s: expected a corpus, got an empty file", path);
    if (ctrl * 100 > n)
        return base_error_set("%s: expected text, got %d control bytes in the first %d (binary file?)", path, ctrl, n);
    return 0;
}

/* ------------------------------------------------------------------------------------------------
 * Run
 * --------------------------------------------------------------------------------------------- */
static void loss_totals(const w2v_run *r, const w2v_worker *wks, double *first, double *final, double *mean) {
    double s[W2V_LOSS_BUCKETS] = {0}, tot = 0;
    int64_t p[W2V_LOSS_BUCKETS] = {0}, ptot = 0;
    for (int k = 0; k < r->nworkers; k++)
        for (int b = 0; b < W2V_LOSS_BUCKETS; b++) {
            s[b] += wks[k].loss_sum[b];
            p[b] += wks[k].loss_pairs[b];
        }
    *first = *final = NAN;
    for (int b = 0; b < W2V_LOSS_BUCKETS; b++) {
        tot += s[b];
        ptot += p[b];
        if (p[b] > 0) {
            if (isnan(*first)) *first = s[b] / (double)p[b];
            *final = s[b] / (double)p[b];
        }
    }
    *mean = ptot > 0 ? tot / (double)ptot : NAN;
}

/* A [V, D] parameter table (sparse grads) named `name` over fresh 64-byte-aligned memory, which
 * *data receives and the run owns (freed by run_free unless handed to the model); zeroed on request. */
static ag_tensor *table_new(const w2v_run *r, const char *name, bool zeroed, float **data) {
    const int64_t shape[2] = {r->V, r->D};
    size_t bytes = (size_t)(r->V * r->D) * sizeof(float);
    *data = base_xaligned(bytes);
    if (zeroed) memset(*data, 0, bytes);
    ag_tensor *t = ag_tensor_wrap(AG_F32, 2, shape, *data);
    t->name = name;
    ag_tensor_set_param(t, true);
    return t;
}

static void run_free(w2v_run *r) {
    ag_tensor_free(r->t0);
    ag_tensor_free(r->t1);
    ag_tensor_free(r->t1neg);
    free(r->syn0);
    free(r->syn1);
    free(r->syn1neg);
    free(r->keep);
    data_alias_free(&r->alias);
    free(r->path_off);
    free(r->points);
    free(r->codes);
}

int train_w2v_run(const train_w2v_options *o, train_w2v_model **out) {
    *out = NULL;
    if (train_w2v_check_options(o) != 0) return -1;
    w2v_run R;
    memset(&R, 0, sizeof R);
    w2v_run *r = &R;
    r->o = o;
    FILE *log = o->debug >= 1 ? stderr : NULL;
    ckpt_reader *cr = NULL;
    int rc = -1;
    w2v_worker *wks = NULL;
    train_progress *prog = NULL;
    int W = 0;
    int blas_threads = 0; /* OpenBLAS thread count to restore (0 = untouched) */
    train_w2v_state resumed; /* the checkpoint's state when resuming */
    memset(&resumed, 0, sizeof resumed);

    if (o->resume) {
        /* the reader's messages name the file already */
        cr = ckpt_open(o->resume);
        if (!cr) return base_error_prefix("--resume");
        if (train_w2v_get_state(cr, &resumed) != 0 || resume_settings(r, cr, &resumed) != 0) goto fail;
        r->train_path = o->train;
        if (!r->train_path) {
            base_error_set("%s: --resume needs -train (the corpus the checkpoint was trained on)", o->resume);
            goto fail;
        }
    } else {
        r->train_path = o->train;
        r->D = o->size;
        r->window = o->window;
        r->hs = o->hs;
        r->negative = o->negative;
        r->nworkers = o->deterministic ? 1 : o->threads;
        r->iter = o->iter;
        r->min_count = o->min_count;
        r->cbow = o->cbow != 0;
        r->shared_negatives = o->shared_negatives;
        r->sentence_cap = o->sentence_cap;
        r->sample = o->sample;
        r->alpha0 = o->alpha > 0 ? o->alpha : (o->cbow ? 0.05 : 0.025);
        r->seed = o->seed;
    }
    if (check_text(r->train_path) != 0) goto fail;
    if (!o->resume) {
        double t0 = base_now_sec();
        if (o->read_vocab) {
            if (data_vocab_read(&r->vocab, o->read_vocab) != 0) goto fail;
            data_vocab_finish(r->vocab, o->min_count); /* word2vec.c sorts and prunes a read vocabulary */
            if (r->vocab->n < 1 || (r->vocab->n == 1 && !strcmp(r->vocab->words[0], DATA_EOS))) {
                base_error_set("%s: no word has count >= %" PRId64 " (min-count)", o->read_vocab, o->min_count);
                goto fail;
            }
        } else {
            if (data_vocab_build(&r->vocab, r->train_path, o->min_count, 0, log) != 0) goto fail;
        }
        if (log)
            fprintf(log, "word2vec: vocabulary %" PRId64 " words, %" PRId64 " training words (%.1f s)\n",
                    r->vocab->n, r->vocab->total, base_now_sec() - t0);
        if (o->save_vocab && data_vocab_save(r->vocab, o->save_vocab) != 0) goto fail;
    }
    /* The corpus size (shards, checkpoint cursors). After a vocabulary pass it is known already
     * (corpus.c caches it), so a gzip corpus is not decompressed an extra time just to measure it. */
    {
        data_corpus *c = data_corpus_open(r->train_path);
        if (!c) goto fail;
        int64_t size = data_corpus_size(c);
        data_corpus_close(c);
        if (size < 0) goto fail;
        if (o->resume && size != r->corpus_size) {
            base_error_set("%s: corpus has %" PRId64 " bytes, the checkpoint %s was trained on %" PRId64 " bytes",
                         r->train_path, size, o->resume, r->corpus_size);
            goto fail;
        }
        r->corpus_size = size;
    }
    r->V = r->vocab->n;
    r->train_words = r->vocab->total;
    r->words_total = (int64_t)r->iter * r->train_words;
    r->eos_id = data_vocab_find(r->vocab, DATA_EOS);
    if (r->train_words <= 0) {
        base_error_set("%s: the vocabulary has no word with a count > 0", r->train_path);
        goto fail;
    }

    /* tables */
    {
        const int64_t V = r->V, D = r->D;
        r->t0 = table_new(r, "syn0", false, &r->syn0);
        base_rng init;
        base_rng_seed(&init, r->seed);
        for (int64_t i = 0; i < V * D; i++) r->syn0[i] = (base_rng_uniform(&init) - 0.5f) / (float)D;
        if (r->hs) {
            r->t1 = table_new(r, "syn1", true, &r->syn1);
            build_huffman(r);
        }
        if (r->negative) {
            r->t1neg = table_new(r, "syn1neg", true, &r->syn1neg);
            int64_t *c = base_xmalloc((size_t)V * sizeof *c);
            memcpy(c, r->vocab->counts, (size_t)V * sizeof *c);
            if (r->eos_id >= 0 && V > 1) c[r->eos_id] = 0; /* word2vec.c never uses "</s>" as a negative */
            int arc = data_alias_init(&r->alias, c, V, 0.75);
            free(c);
            if (arc != 0) goto fail;
        }
        r->keep = base_xmalloc((size_t)V * sizeof *r->keep);
        for (int64_t i = 0; i < V; i++) {
            double p = data_subsample_keep(r->vocab->counts[i], r->train_words, r->sample);
            r->keep[i] = p >= 1.0 ? ((uint64_t)1 << 32) : (uint64_t)(p * 4294967296.0);
        }
    }

    /* workers */
    W = r->nworkers;
    wks = base_xcalloc((size_t)W, sizeof *wks);
    for (int k = 0; k < W; k++) {
        w2v_worker *wk = &wks[k];
        wk->id = k;
        wk->run = r;
        base_rng_seed(&wk->rng, r->seed * 0x9E3779B97F4A7C15ull + (uint64_t)k + 1);
        wk->alpha = r->alpha0;
        wk->sen = base_xmalloc((size_t)r->sentence_cap * sizeof *wk->sen);
        wk->ctx = base_xmalloc((size_t)(2 * r->window + 1) * sizeof *wk->ctx);
        wk->outs = base_xmalloc((size_t)(r->negative + 1) * sizeof *wk->outs);
        wk->next_negs = base_xmalloc((size_t)(r->negative + 1) * sizeof *wk->next_negs);
    }
    atomic_store(&r->next_ckpt, o->checkpoint_every > 0 ? o->checkpoint_every : INT64_MAX);
    if (cr) {
        if (resume_state(r, cr, &resumed, wks) != 0) goto fail;
        ckpt_close(cr);
        cr = NULL;
        if (o->checkpoint_every > 0) {
            int64_t done = atomic_load(&r->words_done), next = atomic_load(&r->next_ckpt);
            if (next <= done || next == INT64_MAX) atomic_store(&r->next_ckpt, done + o->checkpoint_every);
        } else {
            atomic_store(&r->next_ckpt, INT64_MAX);
        }
        if (log)
            fprintf(log, "word2vec: resuming %s at %" PRId64 " of %" PRId64 " words\n", o->resume,
                    (int64_t)atomic_load(&r->words_done), r->words_total);
    }
    for (int k = 0; k < W; k++) {
        w2v_worker *wk = &wks[k];
        wk->corpus = data_corpus_open(r->train_path);
        if (!wk->corpus || data_corpus_shard(wk->corpus, k, W) != 0) goto fail;
        if (o->resume && wk->cursor > 0 && data_corpus_seek(wk->corpus, wk->cursor) != 0) goto fail;
        wk->g = ag_graph_new((size_t)1 << 16);
        base_rng_seed(ag_graph_rng(wk->g), r->seed + (uint64_t)k);
        wk->v0 = ag_tensor_view(r->t0);
        if (r->t1) wk->v1 = ag_tensor_view(r->t1);
        if (r->t1neg) wk->v1neg = ag_tensor_view(r->t1neg);
        atomic_store(&wk->pub_alpha, wk->alpha);
    }

    /* The ops' tiny sgemm calls run inside the workers: BLAS must not spawn threads of its own. */
    blas_threads = openblas_get_num_threads();
    openblas_set_num_threads(1);
    prog = train_progress_new(stderr, "word2vec", o->progress && o->debug >= 2, o->metrics);
    if (!prog) goto fail;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv_main, NULL);
    pthread_cond_init(&r->cv_workers, NULL);

    double t_start = base_now_sec();
    int64_t done_start = atomic_load(&r->words_done);
    int started = 0;
    for (int k = 0; k < W; k++) {
        if (pthread_create(&wks[k].th, NULL, worker_main, &wks[k]) != 0) {
            base_error_set("word2vec: cannot start worker thread %d", k);
            atomic_store(&r->stop_req, true);
            break;
        }
        started++;
    }
    if (started < W) {
        /* count threads that never started as finished */
        pthread_mutex_lock(&r->mu);
        r->nfinished += W - started;
        pthread_mutex_unlock(&r->mu);
    }

    /* main loop: reports every 0.1 s, checkpoints on request */
    double last_report = -1, prev_loss = 0;
    int64_t prev_pairs = 0;
    int ckpt_fail = 0;
    char ckpt_err[1024] = "";
    for (;;) {
        pthread_mutex_lock(&r->mu);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        if (r->nfinished < W && !(atomic_load(&r->pause_req) && r->npaused == W - r->nfinished))
            pthread_cond_timedwait(&r->cv_main, &r->mu, &ts);
        bool all_done = r->nfinished == W;
        if (atomic_load(&r->pause_req) && r->npaused == W - r->nfinished) {
            /* every live worker is parked at a sentence boundary: the state is consistent */
            const char *path = o->checkpoint;
            if (path && !atomic_load(&r->stop_req) && save_checkpoint(r, wks, path) != 0 && !ckpt_fail) {
                ckpt_fail = 1;
                snprintf(ckpt_err, sizeof ckpt_err, "%s", base_error_msg());
                atomic_store(&r->stop_req, true);
            }
            int64_t next = atomic_load(&r->next_ckpt);
            int64_t done = atomic_load(&r->words_done);
            while (next <= done) next += o->checkpoint_every > 0 ? o->checkpoint_every : INT64_MAX / 2;
            atomic_store(&r->next_ckpt, next);
            atomic_store(&r->pause_req, false);
            pthread_cond_broadcast(&r->cv_workers);
        }
        pthread_mutex_unlock(&r->mu);
        double now = base_now_sec() - t_start;
        if (all_done || now - last_report >= 0.1) {
            last_report = now;
            double loss = 0, alpha = INFINITY;
            int64_t pairs = 0;
            for (int k = 0; k < W; k++) {
                loss += atomic_load_explicit(&wks[k].pub_loss, memory_order_relaxed);
                pairs += atomic_load_explicit(&wks[k].pub_pairs, memory_order_relaxed);
                double a = atomic_load_explicit(&wks[k].pub_alpha, memory_order_relaxed);
                if (a < alpha) alpha = a;
            }
            double interval_loss = pairs > prev_pairs ? (loss - prev_loss) / (double)(pairs - prev_pairs) : NAN;
            if (pairs > prev_pairs) {
                prev_loss = loss;
                prev_pairs = pairs;
            }
            int64_t done = atomic_load(&r->words_done);
            double wps = now > 0 ? (double)(done - done_start) / now / W : 0;
            double frac = r->words_total > 0 ? (double)done / (double)r->words_total : 1;
            train_progress_stat st[] = {
                {"words_per_sec_thread", wps, "%.0f"},
                {"lr", alpha, "%.6f"},
                {"loss", interval_loss, "%.4f"},
                {"words", (double)done, "%.0f"},
            };
            train_progress_report(prog, frac, now, st, 4, all_done);
            if (o->on_report) {
                train_w2v_report rep = {done, r->words_total, wks[0].epoch, alpha, interval_loss,
                                        pairs > 0 ? loss / (double)pairs : NAN, wps, now, all_done};
                o->on_report(&rep, o->report_ctx);
            }
        }
        if (all_done) break;
    }
    for (int k = 0; k < started; k++) pthread_join(wks[k].th, NULL);
    double seconds = base_now_sec() - t_start;
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv_main);
    pthread_cond_destroy(&r->cv_workers);

    /* failures */
    if (r->nan_seen) {
        base_error_set("word2vec: the loss became NaN/Inf at word %" PRId64 " of %" PRId64 " (learning rate %.6g); "
                     "training stopped; last good checkpoint: %s",
                     r->nan_words, r->words_total, r->nan_alpha, r->last_ckpt[0] ? r->last_ckpt : "none written");
        goto fail;
    }
    for (int k = 0; k < W; k++)
        if (wks[k].failed) {
            base_error_set("%s", wks[k].err);
            goto fail;
        }
    if (started < W) goto fail;
    if (ckpt_fail) {
        base_error_set("word2vec: checkpoint failed: %s", ckpt_err);
        goto fail;
    }
    if (o->checkpoint) {
        /* The run's last state, finished or stopped early on request (workers are all done):
         * a stopped run resumes from it, a finished one is a model file the eval tools read. */
        if (save_checkpoint(r, wks, o->checkpoint) != 0) goto fail;
    }

    /* the model */
    train_w2v_model *m = base_xcalloc(1, sizeof *m);
    m->vocab = r->vocab;
    r->vocab = NULL;
    m->dim = r->D;
    m->syn0 = r->syn0;
    m->syn1 = r->syn1;
    m->syn1neg = r->syn1neg;
    r->syn0 = r->syn1 = r->syn1neg = NULL;
    m->words_done = atomic_load(&r->words_done);
    m->seconds = seconds;
    m->threads = W;
    m->words_per_sec_thread = seconds > 0 ? (double)(m->words_done - done_start) / seconds / W : 0;
    loss_totals(r, wks, &m->first_loss, &m->final_loss, &m->mean_loss);
    if (log)
        fprintf(log, "word2vec: %" PRId64 " words in %.2f s, %.0f words/s/thread, loss %.4f -> %.4f\n", m->words_done,
                seconds, m->words_per_sec_thread, m->first_loss, m->final_loss);
    *out = m;
    rc = 0;

fail:
    if (blas_threads > 0) openblas_set_num_threads(blas_threads);
    if (wks) {
        for (int k = 0; k < W; k++) {
            w2v_worker *wk = &wks[k];
            if (wk->corpus) data_corpus_close(wk->corpus);
            if (wk->g) ag_graph_free(wk->g);
            ag_tensor_free(wk->v0);
            ag_tensor_free(wk->v1);
            ag_tensor_free(wk->v1neg);
            free(wk->sen);
            free(wk->ctx);
            free(wk->outs);
            free(wk->next_negs);
        }
        free(wks);
    }
    train_progress_free(prog);
    if (cr) ckpt_close(cr);
    train_w2v_state_free(&resumed);
    run_free(r);
    if (r->vocab) data_vocab_free(r->vocab);
    return rc;
}

void train_w2v_model_free(train_w2v_model *m) {
    if (!m) return;
    data_vocab_free(m->vocab);
    free(m->syn0);
    free(m->syn1);
    free(m->syn1neg);
    free(m);
}

double train_w2v_cosine(const train_w2v_model *m, int32_t a, int32_t b) {
    const float *x = m->syn0 + (int64_t)a * m->dim, *y = m->syn0 + (int64_t)b * m->dim;
    double xy = 0, xx = 0, yy = 0;
    for (int64_t d = 0; d < m->dim; d++) {
        xy += (double)x[d] * y[d];
        xx += (double)x[d] * x[d];
        yy += (double)y[d] * y[d];
    }
    return xx > 0 && yy > 0 ? xy / sqrt(xx * yy) : 0;
}
