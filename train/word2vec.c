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
 *
 * Data: the vocabulary pass counts each worker's shard on its own thread. The first epoch reads
 * the text and encodes each shard to word ids (train/word2vec_ids.h); later epochs read the ids.
 * The window's products run on autograd/w2v_kernels.c through the fused ops.
 *
 * Reading order: options; shared state; Huffman tree; training one sentence; the worker loop; the
 * /state writer and reader; checkpoints; input checks; then train_w2v_run's steps in the order it
 * calls them (settings, vocabulary, tables, workers, run, outcome, hand-off) and train_w2v_run.
 */
#define _GNU_SOURCE /* qsort_r */
#include "word2vec.h"

#include "../autograd/ag.h"
#include "../checkpoints/ckpt.h"
#include "../data/corpus.h"
#include "../data/sampler.h"
#include "progress.h"
#include "word2vec_dist.h"
#include "word2vec_ids.h"

#include <cblas.h>
#include <errno.h>
#include <inttypes.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
    o->encode_corpus = true;
    o->ids_memory = (int64_t)16 << 20;
    o->dist_syncs = 32;
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
    if (o->ids_memory < 0)
        return base_error_set("word2vec: --ids-memory: expected >= 0 bytes, got %" PRId64, o->ids_memory);
    if (o->extend && !o->resume)
        return base_error_set("word2vec: --extend: expected --resume FILE (it trains a checkpoint for more epochs), got none");
    if (o->extend && !(o->given & TRAIN_W2V_GIVEN_ITER))
        return base_error_set("word2vec: --extend: expected -iter N (the new total number of epochs), got none");
    return 0;
}

/* ------------------------------------------------------------------------------------------------
 * Signals: the first SIGINT/SIGTERM asks the run to stop at the next sentence boundary (the main
 * thread sees the flag within 0.1 s); a second one takes the default action (the user insists).
 * --------------------------------------------------------------------------------------------- */
static volatile sig_atomic_t g_w2v_signal;

static void on_w2v_signal(int sig) {
    if (g_w2v_signal) {
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    g_w2v_signal = sig;
}

/* ------------------------------------------------------------------------------------------------
 * Shared run state
 * --------------------------------------------------------------------------------------------- */
typedef struct w2v_run w2v_run;

/* Where a worker's tokens come from in the current epoch. */
typedef enum w2v_source {
    W2V_TEXT, /* the corpus text through data_corpus + vocabulary lookups (and, if encoding, into ids) */
    W2V_IDS,  /* the shard's encoded ids (train/word2vec_ids.h), from the second epoch on */
} w2v_source;

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
    int64_t cursor;                /* corpus offset of the next word to read (see worker_cursor) */
    double loss_sum[W2V_LOSS_BUCKETS];
    int64_t loss_pairs[W2V_LOSS_BUCKETS];
    /* the token source */
    w2v_source source;
    train_w2v_ids *ids;            /* this worker's shard as ids; NULL when encoding is off */
    bool encoding;                 /* this text epoch also writes ids (it started at the shard's start) */
    bool shard_done;               /* the current epoch's shard has been read to its end */
    /* live values for the main thread */
    _Atomic double pub_alpha;
    _Atomic double pub_loss;       /* running loss sum (published every alpha update) */
    _Atomic int64_t pub_pairs;
    /* scratch */
    int32_t *sen;   /* [sentence_cap] ids of the current sentence after subsampling */
    int32_t *ctx;   /* [2 * window + 1] context ids of one window */
    int32_t *outs;  /* [1 + negative] target + negatives */
    int32_t *next_negs; /* [negative + 1] negatives drawn (and prefetched) one window ahead */
    bool have_next;     /* next_negs is valid; never true at a sentence boundary */
    double loss_acc;                /* loss since the last publish */
    int64_t pairs_acc;
    bool finished;
    bool failed;
    char err[1024];
} w2v_worker;

struct w2v_run {
    const train_w2v_options *o;
    FILE *log;                       /* stderr with -debug >= 1, else NULL */
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
    uint64_t corpus_fingerprint;     /* data_corpus_fingerprint of train_path */
    int iter_saved;                  /* resuming: the checkpoint's -iter (< iter when extended) */
    bool nothing_to_train;           /* resuming a finished run without extending it */
    const char *train_path;
    /* resuming: the checkpoint (open until the workers have their state) and its /state */
    ckpt_reader *resume;
    train_w2v_state resumed;
    /* tables (heap, 64-byte aligned) and their shared tensors */
    float *syn0, *syn1, *syn1neg;    /* [V, D] each */
    ag_tensor *t0, *t1, *t1neg;
    /* samplers */
    uint64_t *keep;                  /* [V] subsampling threshold in 2^32 units (2^32 = always) */
    int64_t nsub;                    /* ids >= nsub are always kept: 1 + the last id with keep < 2^32 */
    data_alias alias;                /* negatives over count^0.75, "</s>" excluded */
    /* Huffman paths: word w's path is points/codes[path_off[w] .. path_off[w+1]) */
    int64_t *path_off;               /* [V + 1] */
    int32_t *points;                 /* [total] inner-node rows of syn1 */
    int32_t *codes;                  /* [total] 0/1 */
    int32_t eos_id;                  /* id of "</s>" or -1 */
    /* the encoded corpus: kept in memory when the estimate fits the budget, else temp files */
    bool ids_on;                     /* encode the corpus in the first full epoch (iter > 1, option on) */
    bool ids_in_memory;
    int64_t ids_bytes_estimate;      /* Σ count·varint bytes over the vocabulary */
    /* workers */
    w2v_worker *wks;                 /* [nworkers] */
    int started;                     /* threads started (the rest count as finished) */
    int blas_threads;                /* OpenBLAS thread count to restore (0 = untouched) */
    train_progress *prog;
    /* progress */
    int64_t train_words;             /* vocab total (word2vec.c's train_words) */
    int64_t words_total;             /* iter * train_words */
    _Atomic int64_t words_done;
    int64_t words_at_start;          /* words_done when the threads started (resumed runs: > 0) */
    double seconds;                  /* training wall time */
    /* coordination */
    pthread_mutex_t mu;
    pthread_cond_t cv_main, cv_workers;
    bool sync_made;                  /* mu and the condition variables exist */
    atomic_bool pause_req, stop_req;
    int npaused, nfinished;
    _Atomic int64_t next_ckpt;       /* words_done at which the next checkpoint is due */
    bool ckpt_failed;
    char ckpt_err[1024];
    bool nan_seen;
    int64_t nan_words;
    double nan_alpha;
    char last_ckpt[4096];            /* path of the last checkpoint written in this run, "" if none */
    train_w2v_sync sync;             /* data parallel: table averaging across ranks (word2vec_dist.h) */
    int stop_signal;                 /* the signal that stopped the run (0: none) */
    bool signals_set;                /* old_int/old_term hold the handlers to restore */
    struct sigaction old_int, old_term;
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

/* The text offset of the worker's next token (a checkpoint's data cursor) when it reads ids: the
 * stream's block index gives the offset of the token's block, and at most one block of text is
 * read from there with the worker's own corpus handle (idle while it reads ids). After the
 * shard's end it is where reading the text stopped, as in a text epoch. Returns 0 or -1. */
static int ids_cursor(w2v_worker *wk, int64_t *cursor) {
    w2v_run *r = wk->run;
    if (wk->shard_done) {
        *cursor = train_w2v_ids_end_offset(wk->ids);
        return 0;
    }
    int64_t off, skip;
    train_w2v_ids_locate(wk->ids, train_w2v_ids_pos(wk->ids), &off, &skip);
    if (skip == 0) {
        *cursor = off;
        return 0;
    }
    if (data_corpus_shard(wk->corpus, wk->id, r->nworkers) != 0 || data_corpus_seek(wk->corpus, off) != 0) return -1;
    char word[DATA_MAX_WORD];
    while (skip > 0) {
        int n = data_corpus_next(wk->corpus, word, sizeof word);
        if (n < 0) return -1;
        if (n == 0)
            return base_error_set("%s: the corpus changed while training (fewer words in shard %d than encoded)",
                                  r->train_path, wk->id);
        if (data_vocab_find(r->vocab, word) >= 0 || (n == 4 && !memcmp(word, DATA_EOS, 4))) skip--;
    }
    *cursor = data_corpus_tell(wk->corpus);
    return 0;
}

/* Records the worker's data cursor for a checkpoint (text: the stream position; ids: ids_cursor). */
static int worker_cursor(w2v_worker *wk) {
    if (wk->source == W2V_TEXT) {
        wk->cursor = data_corpus_tell(wk->corpus);
        return 0;
    }
    return ids_cursor(wk, &wk->cursor);
}

/* Parks at a sentence boundary while the main thread checkpoints. */
static void maybe_pause(w2v_worker *wk) {
    w2v_run *r = wk->run;
    const train_w2v_options *o = r->o;
    int64_t done = atomic_load(&r->words_done);
    if (o->checkpoint_every > 0 && done >= atomic_load(&r->next_ckpt)) atomic_store(&r->pause_req, true);
    if (o->stop_after_words > 0 && done >= o->stop_after_words) atomic_store(&r->stop_req, true);
    if (!atomic_load(&r->pause_req)) return;
    if (wk->source == W2V_IDS && worker_cursor(wk) != 0) worker_fail(wk, base_error_msg());
    pthread_mutex_lock(&r->mu);
    r->npaused++;
    pthread_cond_signal(&r->cv_main);
    while (atomic_load(&r->pause_req)) pthread_cond_wait(&r->cv_workers, &r->mu);
    r->npaused--;
    pthread_mutex_unlock(&r->mu);
}

/* Gives up encoding (no temporary file could be created or written: a full or read-only disk):
 * this worker then reads the text every epoch, as without encoding; training is unaffected. */
static void drop_ids(w2v_worker *wk) {
    if (wk->run->log)
        fprintf(wk->run->log, "word2vec: worker %d: %s; reading the text every epoch\n", wk->id, base_error_msg());
    train_w2v_ids_free(wk->ids);
    wk->ids = NULL;
    wk->encoding = false;
}

/* Positions the worker at the start of an epoch over its shard: the encoded ids when they exist;
 * else the text, encoding it when encoding is on and another epoch will read it. Returns 0 or -1. */
static int start_epoch(w2v_worker *wk) {
    w2v_run *r = wk->run;
    wk->shard_done = false;
    if (wk->ids && train_w2v_ids_ready(wk->ids)) {
        wk->source = W2V_IDS;
        return train_w2v_ids_rewind(wk->ids);
    }
    wk->source = W2V_TEXT;
    if (data_corpus_shard(wk->corpus, wk->id, r->nworkers) != 0) return -1;
    wk->encoding = false;
    if (wk->ids && wk->epoch + 1 < r->iter) {
        if (train_w2v_ids_begin(wk->ids, data_corpus_tell(wk->corpus)) != 0) drop_ids(wk);
        else wk->encoding = true;
    }
    return 0;
}

/* One token of the sentence being read (the same for both sources): counts it, ends the sentence
 * at "</s>" or the cap, or keeps it if subsampling does. Returns true when the sentence ends. */
static inline bool take_token(w2v_worker *wk, uint32_t tok, int64_t *len) {
    w2v_run *r = wk->run;
    if (tok == TRAIN_W2V_IDS_EOS) return true; /* a newline whose "</s>" was pruned */
    int32_t id = (int32_t)tok;
    wk->word_count++;
    if (id == r->eos_id) return true;
    /* Only frequent words are subsampled, and ids go by count, so the test reads a short hot prefix
     * of keep[] instead of a random place in a table of the whole vocabulary (a cache miss). */
    if (id < r->nsub && r->keep[id] < ((uint64_t)1 << 32) && (base_rng_next(&wk->rng) >> 32) >= r->keep[id])
        return false;
    wk->sen[(*len)++] = id;
    return *len >= r->sentence_cap;
}

/* Reads one sentence (up to sentence_cap kept words, ending at "</s>" or the shard's end) into
 * wk->sen from the text, writing every token to the ids when encoding. *end: the shard ended.
 * Returns its length, or -1 (error set). */
static int64_t read_sentence_text(w2v_worker *wk, bool *end) {
    w2v_run *r = wk->run;
    char word[DATA_MAX_WORD];
    int64_t len = 0;
    *end = false;
    for (;;) {
        int n = data_corpus_next(wk->corpus, word, sizeof word);
        if (n < 0) return -1;
        if (n == 0) {
            *end = true;
            if (wk->encoding && train_w2v_ids_finish(wk->ids, data_corpus_tell(wk->corpus)) != 0) drop_ids(wk);
            wk->encoding = false;
            return len;
        }
        int32_t id = data_vocab_find(r->vocab, word);
        uint32_t tok;
        if (id >= 0) tok = (uint32_t)id;
        else if (n == 4 && !memcmp(word, DATA_EOS, 4)) tok = TRAIN_W2V_IDS_EOS; /* sentence end even if pruned */
        else continue;                                                           /* out of vocabulary */
        if (wk->encoding) {
            if (train_w2v_ids_put(wk->ids, tok) != 0) drop_ids(wk);
            else if (train_w2v_ids_at_block(wk->ids)) train_w2v_ids_mark(wk->ids, data_corpus_tell(wk->corpus));
        }
        if (take_token(wk, tok, &len)) return len;
    }
}

/* The same from the encoded ids. */
static int64_t read_sentence_ids(w2v_worker *wk, bool *end) {
    int64_t len = 0;
    uint32_t tok = 0;
    *end = false;
    for (;;) {
        int rc = train_w2v_ids_next(wk->ids, &tok);
        if (rc < 0) return -1;
        if (rc == 0) {
            *end = true;
            return len;
        }
        if (take_token(wk, tok, &len)) return len;
    }
}

/* Every alpha interval (10,000 words): the shared word count, the learning rate, the loss guard.
 * Returns false when the loss is no longer finite. */
static bool update_alpha(w2v_worker *wk) {
    w2v_run *r = wk->run;
    int64_t delta = wk->word_count - wk->last_word_count;
    int64_t done = atomic_fetch_add(&r->words_done, delta) + delta;
    wk->last_word_count = wk->word_count;
    wk->alpha = train_w2v_alpha(r->alpha0, done, r->words_total);
    if (flush_loss(wk)) return true;
    r->nan_words = done;
    r->nan_alpha = wk->alpha;
    r->nan_seen = true;
    return false;
}

static void *worker_main(void *arg) {
    w2v_worker *wk = arg;
    w2v_run *r = wk->run;
    while (wk->epoch < r->iter) {
        /* sentence boundary: the state here is what a checkpoint records (an ids epoch computes
         * its cursor only when a checkpoint asks for it) */
        if (wk->source == W2V_TEXT) wk->cursor = data_corpus_tell(wk->corpus);
        maybe_pause(wk);
        if (atomic_load(&r->stop_req)) break;
        if (wk->word_count - wk->last_word_count > W2V_ALPHA_EVERY && !update_alpha(wk)) {
            worker_fail(wk, "loss is not finite");
            break;
        }
        bool end;
        int64_t len = wk->source == W2V_IDS ? read_sentence_ids(wk, &end) : read_sentence_text(wk, &end);
        if (len < 0) {
            worker_fail(wk, base_error_msg());
            break;
        }
        train_sentence(wk, len);
        if (end) {
            atomic_fetch_add(&r->words_done, wk->word_count - wk->last_word_count);
            wk->epoch++;
            wk->word_count = wk->last_word_count = 0;
            wk->shard_done = true;
            if (wk->epoch < r->iter && start_epoch(wk) != 0) {
                worker_fail(wk, base_error_msg());
                break;
            }
        }
    }
    if (!wk->failed && !flush_loss(wk)) {
        r->nan_words = atomic_load(&r->words_done);
        r->nan_alpha = wk->alpha;
        r->nan_seen = true;
        worker_fail(wk, "loss is not finite");
    }
    if (!wk->failed && worker_cursor(wk) != 0) worker_fail(wk, base_error_msg());
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
    if (!rc && s->has_fingerprint) rc = ckpt_put_u64_array(w, W2V_STATE "corpus_fingerprint", &s->corpus_fingerprint, 1);
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
    s->has_fingerprint = !p->doubles_as_bits && ckpt_has(r, W2V_STATE "corpus_fingerprint");
    if (s->has_fingerprint && ckpt_get_u64_array(r, W2V_STATE "corpus_fingerprint", &s->corpus_fingerprint, 1))
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
        .corpus_size = r->corpus_size, .has_fingerprint = true, .corpus_fingerprint = r->corpus_fingerprint,
        .words_done = atomic_load(&r->words_done),
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

/* Appends "; "-separated text to a conflict list (bounded; the count is kept even when full). */
typedef struct w2v_conflicts {
    char msg[3072];
    size_t len;
    int n;
} w2v_conflicts;

static void conflict_add(w2v_conflicts *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void conflict_add(w2v_conflicts *c, const char *fmt, ...) {
    if (c->len + 8 < sizeof c->msg) {
        if (c->n) c->len += (size_t)snprintf(c->msg + c->len, sizeof c->msg - c->len, "; ");
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(c->msg + c->len, sizeof c->msg - c->len, fmt, ap);
        va_end(ap);
        if (k > 0) c->len += (size_t)k;
        if (c->len >= sizeof c->msg) c->len = sizeof c->msg - 1;
    }
    c->n++;
}

/* Strict resume (PyTorch's strict load_state_dict, for flags): every setting the caller gave
 * explicitly must equal the checkpoint's, else the resumed run would silently train other maths
 * than the command line says. All conflicts are named at once with both values. -iter may exceed
 * the checkpoint's with extend (more epochs); a finished run resumed without it has nothing left to
 * train (r->nothing_to_train: the run is handed off as it is, with a note saying how to extend).
 * Sets r->iter. */
static int check_resume_flags(w2v_run *r, const train_w2v_state *st) {
    const train_w2v_options *o = r->o;
    const char *file = o->resume;
    w2v_conflicts c = {.len = 0};
#define W2V_CMP_I(bit, flag, now, saved)                                                                    \
    if ((o->given & (bit)) && (int64_t)(now) != (int64_t)(saved))                                            \
        conflict_add(&c, "%s %" PRId64 " given, %" PRId64 " in the checkpoint", flag, (int64_t)(now), (int64_t)(saved));
#define W2V_CMP_F(bit, flag, now, saved)                                                                    \
    if ((o->given & (bit)) && (double)(now) != (double)(saved))                                              \
        conflict_add(&c, "%s %.10g given, %.10g in the checkpoint", flag, (double)(now), (double)(saved));
    W2V_CMP_I(TRAIN_W2V_GIVEN_SIZE, "-size", o->size, st->size);
    W2V_CMP_I(TRAIN_W2V_GIVEN_WINDOW, "-window", o->window, st->window);
    W2V_CMP_F(TRAIN_W2V_GIVEN_SAMPLE, "-sample", o->sample, st->sample);
    W2V_CMP_I(TRAIN_W2V_GIVEN_HS, "-hs", o->hs, st->hs);
    W2V_CMP_I(TRAIN_W2V_GIVEN_NEGATIVE, "-negative", o->negative, st->negative);
    W2V_CMP_I(TRAIN_W2V_GIVEN_THREADS, o->deterministic ? "--deterministic: workers" : "-threads",
              o->deterministic ? 1 : o->threads, st->nworkers);
    W2V_CMP_I(TRAIN_W2V_GIVEN_MIN_COUNT, "-min-count", o->min_count, st->min_count);
    W2V_CMP_F(TRAIN_W2V_GIVEN_ALPHA, "-alpha", o->alpha, st->alpha);
    W2V_CMP_I(TRAIN_W2V_GIVEN_CBOW, "-cbow", o->cbow, st->cbow);
    W2V_CMP_I(TRAIN_W2V_GIVEN_SHARED, "--shared-negatives", o->shared_negatives, st->shared_negatives);
    if ((o->given & TRAIN_W2V_GIVEN_SEED) && o->seed != st->seed)
        conflict_add(&c, "--seed %" PRIu64 " given, %" PRIu64 " in the checkpoint", o->seed, st->seed);
#undef W2V_CMP_I
#undef W2V_CMP_F
    r->iter = st->iter;
    r->iter_saved = st->iter;
    if (o->given & TRAIN_W2V_GIVEN_ITER) {
        if (o->extend && o->iter > st->iter) r->iter = o->iter;
        else if (o->extend)
            conflict_add(&c, "-iter %d given with --extend, expected more than the checkpoint's %d epochs", o->iter,
                         st->iter);
        else if (o->iter != st->iter)
            conflict_add(&c, "-iter %d given, %d in the checkpoint%s", o->iter, st->iter,
                         o->iter > st->iter ? " (add --extend to train the checkpoint for more epochs)" : "");
    }
    if (c.n)
        return base_error_set("%s: --resume: %d flag%s conflict%s with the checkpoint: %s (a resumed run keeps the "
                              "checkpoint's settings: drop these flags or give the checkpoint's values)",
                              file, c.n, c.n > 1 ? "s" : "", c.n > 1 ? "" : "s", c.msg);
    bool finished = true;
    for (int k = 0; k < st->nworkers; k++) finished &= st->worker[k].epoch >= st->iter;
    r->nothing_to_train = finished && r->iter == st->iter;
    if (r->nothing_to_train && r->log)
        fprintf(r->log, "word2vec: %s: the run is finished (all %d epochs, %" PRId64 " words): nothing to train, "
                        "its vectors are written as they are; to train more epochs give -iter N --extend with N > %d\n",
                file, st->iter, st->words_done, st->iter);
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
    r->min_count = st->min_count; /* r->iter: check_resume_flags */
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
        data_vocab_xadd(v, words[i], counts[i]); /* ids = checkpoint order */
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
        /* the running loss the reports read continues from the stored buckets, as in the
         * uninterrupted run (the reporter starts from the same totals: run_workers) */
        double ls = 0;
        int64_t lp = 0;
        for (int b = 0; b < W2V_LOSS_BUCKETS; b++) {
            ls += ws->loss_sum[b];
            lp += ws->loss_pairs[b];
        }
        atomic_store(&wk->pub_loss, ls);
        atomic_store(&wk->pub_pairs, lp);
        /* an extended run continues on the linear schedule of its new length */
        if (r->iter > r->iter_saved) wk->alpha = train_w2v_alpha(r->alpha0, st->words_done, r->words_total);
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------------
 * Input checks
 * --------------------------------------------------------------------------------------------- */

/* Rejects binary data: NUL bytes or many control bytes in the first 64 KiB (plain or gzip). */
static int check_text(const char *path) {
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return base_error_set("%s: expected a corpus file (plain or gzip text), got a directory", path);
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
 * Run: train_w2v_run's steps, in the order it calls them
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
    void *p = NULL;
    /* user-sized (vocabulary × -size): out of memory is the user's error to hear, not an abort */
    if (posix_memalign(&p, 64, bytes ? bytes : 64) != 0) {
        int ntab = 1 + (r->hs != 0) + (r->negative > 0);
        base_error_set("word2vec: out of memory: table %s needs %.2f GB (%" PRId64 " words x -size %" PRId64
                       " x 4 bytes); the %d tables need %.2f GB; try a smaller -size or a larger -min-count",
                       name, (double)bytes / 1e9, r->V, r->D, ntab, (double)bytes * ntab / 1e9);
        *data = NULL;
        return NULL;
    }
    *data = p;
    if (zeroed) memset(*data, 0, bytes);
    ag_tensor *t = ag_tensor_wrap(AG_F32, 2, shape, *data);
    t->name = name;
    ag_tensor_set_param(t, true);
    return t;
}

/* Step 1: the settings that define the maths: from the options, or, when resuming, from the
 * checkpoint's /state with its vocabulary (the checkpoint stays open for workers_new). */
static int run_settings(w2v_run *r) {
    const train_w2v_options *o = r->o;
    r->log = o->debug >= 1 ? stderr : NULL;
    r->train_path = o->train;
    if (o->resume) {
        /* the reader's messages name the file already */
        if (!(r->resume = ckpt_open(o->resume))) return base_error_prefix("--resume");
        if (!ckpt_verified(r->resume) && !o->trust_unverified)
            return base_error_set("%s: --resume: no integrity line (not written by ember's checkpoint writer, or "
                                  "its first 512 bytes were overwritten): its contents cannot be verified, so it is "
                                  "not trained on; pass --trust-unverified to resume from it anyway",
                                  o->resume);
        if (train_w2v_get_state(r->resume, &r->resumed) != 0 || check_resume_flags(r, &r->resumed) != 0 ||
            resume_settings(r, r->resume, &r->resumed) != 0)
            return -1;
        if (!r->train_path)
            return base_error_set("%s: --resume needs -train (the corpus the checkpoint was trained on)", o->resume);
        return 0;
    }
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
    return 0;
}

/* One worker's share of the vocabulary pass: the words of shard k of W, counted into its own table. */
typedef struct vocab_shard {
    const char *path;
    int k, W;
    data_vocab *v; /* the shard's words and counts (insertion order) */
    int rc;
    char err[1024];
} vocab_shard;

static void *count_shard(void *arg) {
    vocab_shard *c = arg;
    data_corpus *cp = data_corpus_open(c->path);
    c->v = data_vocab_new();
    c->rc = !cp || data_corpus_shard(cp, c->k, c->W) != 0 ? -1 : 0;
    char word[DATA_MAX_WORD];
    int len = 0;
    int64_t nread = 0;
    while (!c->rc && (len = data_corpus_next(cp, word, sizeof word)) > 0) {
        if (data_vocab_add(c->v, word, 1) < 0) {
            c->rc = base_error_prefix("%s: shard %d of %d, after %" PRId64 " words", c->path, c->k, c->W, nread);
            break;
        }
        nread++;
    }
    if (len < 0) c->rc = -1;
    if (c->rc) snprintf(c->err, sizeof c->err, "%s", base_error_msg()); /* errors are thread-local */
    if (cp) data_corpus_close(cp);
    return NULL;
}

/* The vocabulary pass on every worker's shard at once (it was a fifth of a CBOW run's wall time
 * on two cores when one thread did it): the shard tables are merged and finished, and since
 * data_vocab_finish sorts into the canonical order ("</s>", count descending, bytes), the result
 * is data_vocab_build's (which prunes nothing here: Word2Vec passes no size limit). */
static int count_vocabulary(w2v_run *r) {
    const int W = r->nworkers;
    if (W == 1) return data_vocab_build(&r->vocab, r->train_path, r->min_count, 0, r->log);
    vocab_shard *sh = base_xcalloc((size_t)W, sizeof *sh);
    pthread_t *th = base_xcalloc((size_t)W, sizeof *th);
    bool *started = base_xcalloc((size_t)W, sizeof *started);
    for (int k = 0; k < W; k++) sh[k] = (vocab_shard){.path = r->train_path, .k = k, .W = W};
    for (int k = 1; k < W; k++) started[k] = pthread_create(&th[k], NULL, count_shard, &sh[k]) == 0;
    count_shard(&sh[0]);
    for (int k = 1; k < W; k++) {
        if (started[k]) pthread_join(th[k], NULL);
        else count_shard(&sh[k]); /* no thread to spare: count it here */
    }
    int rc = 0;
    for (int k = 0; k < W && !rc; k++)
        if (sh[k].rc) rc = base_error_set("%s", sh[k].err);
    data_vocab *v = sh[0].v;
    if (!rc && data_vocab_add(v, DATA_EOS, 0) < 0) rc = -1; /* word2vec.c keeps "</s>" at id 0 always */
    for (int k = 1; k < W; k++) {
        for (int64_t i = 0; !rc && i < sh[k].v->n; i++)
            if (data_vocab_add(v, sh[k].v->words[i], sh[k].v->counts[i]) < 0)
                rc = base_error_prefix("%s: merging the shards' vocabularies", r->train_path);
        data_vocab_free(sh[k].v);
    }
    int64_t distinct = v->n - 1;
    if (!rc) {
        if (data_vocab_finish(v, r->min_count) != 0) rc = base_error_prefix("%s: sorting the vocabulary", r->train_path);
        else if (v->n <= 1)
            rc = base_error_set("%s: no word occurs at least %" PRId64 " times (min-count %" PRId64 "); %" PRId64
                                " distinct words read",
                                r->train_path, r->min_count, r->min_count, distinct);
    }
    if (rc) data_vocab_free(v);
    else r->vocab = v;
    free(sh);
    free(th);
    free(started);
#ifdef __GLIBC__
    /* The shard tables held every distinct word (hundreds of thousands of small strings on a
     * Wikipedia corpus); give their pages back before the tables are allocated, or they stay in
     * the peak RSS (measured: 97 MB instead of 89 MB for the benchmark run). */
    malloc_trim(0);
#endif
    return rc;
}

/* Step 2: the corpus is text, the vocabulary (counted, read, or the checkpoint's), the corpus size
 * (shards and cursors; a resumed run must see the same size) and the word totals. */
static int run_vocabulary(w2v_run *r) {
    const train_w2v_options *o = r->o;
    if (check_text(r->train_path) != 0) return -1;
    if (!o->resume) {
        double t0 = base_now_sec();
        if (o->read_vocab) {
            if (data_vocab_read(&r->vocab, o->read_vocab) != 0) return -1;
            /* word2vec.c sorts and prunes a read vocabulary */
            if (data_vocab_finish(r->vocab, o->min_count) != 0) return base_error_prefix("%s", o->read_vocab);
            if (r->vocab->n < 1 || (r->vocab->n == 1 && !strcmp(r->vocab->words[0], DATA_EOS)))
                return base_error_set("%s: no word has count >= %" PRId64 " (min-count)", o->read_vocab, o->min_count);
        } else if (count_vocabulary(r) != 0) {
            return -1;
        }
        if (r->log)
            fprintf(r->log, "word2vec: vocabulary %" PRId64 " words, %" PRId64 " training words (%.1f s)\n",
                    r->vocab->n, r->vocab->total, base_now_sec() - t0);
        if (o->save_vocab && data_vocab_save(r->vocab, o->save_vocab) != 0) return -1;
    }
    /* After a vocabulary pass the size is known already (corpus.c caches it), so a gzip corpus is
     * not decompressed an extra time just to measure it. */
    data_corpus *c = data_corpus_open(r->train_path);
    if (!c) return -1;
    int64_t size = data_corpus_size(c);
    data_corpus_close(c);
    if (size < 0) return -1;
    if (o->resume && size != r->corpus_size)
        return base_error_set("%s: corpus has %" PRId64 " bytes, the checkpoint %s was trained on %" PRId64 " bytes",
                              r->train_path, size, o->resume, r->corpus_size);
    if (data_corpus_fingerprint(r->train_path, &r->corpus_fingerprint) != 0) return -1;
    if (o->resume && r->resumed.has_fingerprint && r->corpus_fingerprint != r->resumed.corpus_fingerprint)
        return base_error_set("%s: corpus content differs from the one the checkpoint %s was trained on (%s; "
                              "fingerprint %016" PRIx64 ", checkpoint %016" PRIx64 "; same size, %" PRId64 " bytes)",
                              r->train_path, o->resume, r->resumed.train ? r->resumed.train : "?",
                              r->corpus_fingerprint, r->resumed.corpus_fingerprint, size);
    if (o->resume && !r->resumed.has_fingerprint && r->log)
        fprintf(r->log, "word2vec: warning: %s holds no corpus fingerprint (written by an older ember): only the "
                        "corpus size was checked\n", o->resume);
    r->corpus_size = size;
    r->V = r->vocab->n;
    r->train_words = r->vocab->total;
    r->words_total = (int64_t)r->iter * r->train_words / dist_size(); /* data parallel: this rank's share */
    r->eos_id = data_vocab_find(r->vocab, DATA_EOS);
    if (r->train_words <= 0) return base_error_set("%s: the vocabulary has no word with a count > 0", r->train_path);
    return 0;
}

/* Step 3: the tables (syn0 random as word2vec.c, syn1/syn1neg zero), the Huffman tree (HS), the
 * negative sampler (NS), the subsampling thresholds, and where the encoded corpus will live. */
static int run_tables(w2v_run *r) {
    const int64_t V = r->V, D = r->D;
    if (!(r->t0 = table_new(r, "syn0", false, &r->syn0))) return -1;
    base_rng init;
    base_rng_seed(&init, r->seed);
    for (int64_t i = 0; i < V * D; i++) r->syn0[i] = (base_rng_uniform(&init) - 0.5f) / (float)D;
    if (r->hs) {
        if (!(r->t1 = table_new(r, "syn1", true, &r->syn1))) return -1;
        build_huffman(r);
    }
    if (r->negative) {
        if (!(r->t1neg = table_new(r, "syn1neg", true, &r->syn1neg))) return -1;
        int64_t *c = malloc((size_t)V * sizeof *c); /* [V] counts, "</s>" zeroed */
        if (!c) return base_error_set("word2vec: out of memory: %" PRId64 " words' counts", V);
        memcpy(c, r->vocab->counts, (size_t)V * sizeof *c);
        if (r->eos_id >= 0 && V > 1) c[r->eos_id] = 0; /* word2vec.c never uses "</s>" as a negative */
        int arc = data_alias_init(&r->alias, c, V, 0.75);
        free(c);
        if (arc != 0) return -1;
    }
    r->keep = malloc((size_t)V * sizeof *r->keep);
    if (!r->keep) return base_error_set("word2vec: out of memory: %" PRId64 " words' subsampling table", V);
    for (int64_t i = 0; i < V; i++) {
        double p = data_subsample_keep(r->vocab->counts[i], r->train_words, r->sample);
        r->keep[i] = p >= 1.0 ? ((uint64_t)1 << 32) : (uint64_t)(p * 4294967296.0);
        if (r->keep[i] < ((uint64_t)1 << 32)) r->nsub = i + 1;
    }
    /* The encoded corpus pays off from the second epoch. Its size is known before encoding: every
     * in-vocabulary occurrence takes the varint bytes of its id (the counts are exact). */
    r->ids_on = r->o->encode_corpus && r->iter > 1;
    r->ids_bytes_estimate = 0;
    for (int64_t i = 0; i < V; i++)
        r->ids_bytes_estimate += r->vocab->counts[i] * train_w2v_ids_varint_len((uint32_t)i);
    r->ids_in_memory = r->ids_bytes_estimate <= r->o->ids_memory;
    return 0;
}

/* Step 4: the workers: scratch, RNG streams, the resumed state (then the checkpoint is closed),
 * each worker's corpus handle at its shard or cursor, its graph and table views. */
static int workers_new(w2v_run *r) {
    const train_w2v_options *o = r->o;
    const int W = r->nworkers;
    r->wks = base_xcalloc((size_t)W, sizeof *r->wks);
    for (int k = 0; k < W; k++) {
        w2v_worker *wk = &r->wks[k];
        wk->id = k;
        wk->run = r;
        /* data parallel: worker k of rank q draws as worker q·W + k would (rank 0: unchanged) */
        base_rng_seed(&wk->rng, r->seed * 0x9E3779B97F4A7C15ull + (uint64_t)(dist_rank() * W + k) + 1);
        wk->alpha = r->alpha0;
        wk->sen = base_xmalloc((size_t)r->sentence_cap * sizeof *wk->sen);
        wk->ctx = base_xmalloc((size_t)(2 * r->window + 1) * sizeof *wk->ctx);
        wk->outs = base_xmalloc((size_t)(r->negative + 1) * sizeof *wk->outs);
        wk->next_negs = base_xmalloc((size_t)(r->negative + 1) * sizeof *wk->next_negs);
    }
    atomic_store(&r->next_ckpt, o->checkpoint_every > 0 ? o->checkpoint_every : INT64_MAX);
    if (r->resume) {
        if (resume_state(r, r->resume, &r->resumed, r->wks) != 0) return -1;
        ckpt_close(r->resume);
        r->resume = NULL;
        if (o->checkpoint_every > 0) {
            /* the uninterrupted run checkpoints at multiples of N (checkpoint_parked): keep the
             * stored point when it is on that schedule, else take the next multiple */
            const int64_t N = o->checkpoint_every;
            int64_t done = atomic_load(&r->words_done), next = atomic_load(&r->next_ckpt);
            if (next <= done || next > done + N || next % N != 0) atomic_store(&r->next_ckpt, (done / N + 1) * N);
        } else {
            atomic_store(&r->next_ckpt, INT64_MAX);
        }
        if (r->log)
            fprintf(r->log, "word2vec: resuming %s at %" PRId64 " of %" PRId64 " words%s\n", o->resume,
                    (int64_t)atomic_load(&r->words_done), r->words_total,
                    r->iter > r->iter_saved ? " (extended: more epochs than the checkpoint's)" : "");
    }
    for (int k = 0; k < W; k++) {
        w2v_worker *wk = &r->wks[k];
        if (!(wk->corpus = data_corpus_open(r->train_path))) return -1;
        data_corpus_set_outer_shard(wk->corpus, dist_rank(), dist_size()); /* data parallel: this rank's part */
        if (r->ids_on) wk->ids = train_w2v_ids_new(r->ids_in_memory, NULL);
        wk->source = W2V_TEXT;
        if (data_corpus_shard(wk->corpus, k, W) != 0) return -1;
        if (o->resume && wk->epoch < r->iter_saved &&
            (wk->word_count > 0 || wk->cursor != data_corpus_tell(wk->corpus))) {
            /* mid-epoch: this epoch reads the rest of the text (no encoding: it did not start at the
             * shard's start); the next one encodes */
            if (data_corpus_seek(wk->corpus, wk->cursor) != 0) return -1;
        } else if (wk->epoch < r->iter && start_epoch(wk) != 0) {
            return -1;
        }
        wk->g = ag_graph_new((size_t)1 << 16);
        base_rng_seed(ag_graph_rng(wk->g), r->seed + (uint64_t)k);
        wk->v0 = ag_tensor_view(r->t0);
        if (r->t1) wk->v1 = ag_tensor_view(r->t1);
        if (r->t1neg) wk->v1neg = ag_tensor_view(r->t1neg);
        atomic_store(&wk->pub_alpha, wk->alpha);
    }
    if (r->log && r->ids_on)
        fprintf(r->log, "word2vec: corpus encoded to ids in the first epoch (%.1f MB, %s); block products: %s\n",
                (double)r->ids_bytes_estimate / 1e6, r->ids_in_memory ? "in memory" : "temporary files",
                ag_w2v_kernel_name());
    else if (r->log)
        fprintf(r->log, "word2vec: corpus read as text every epoch; block products: %s\n", ag_w2v_kernel_name());
    return 0;
}

/* Step 5b (main thread, mu held): every live worker is parked at a sentence boundary, so the
 * state is consistent: write the checkpoint, schedule the next one, release the workers. */
static void checkpoint_parked(w2v_run *r) {
    const train_w2v_options *o = r->o;
    const char *path = o->checkpoint;
    bool worker_failed = false;
    for (int k = 0; k < r->nworkers; k++) worker_failed |= r->wks[k].failed; /* e.g. its cursor */
    if (path && !atomic_load(&r->stop_req) && !worker_failed && save_checkpoint(r, r->wks, path) != 0 &&
        !r->ckpt_failed) {
        r->ckpt_failed = true;
        snprintf(r->ckpt_err, sizeof r->ckpt_err, "%s", base_error_msg());
        atomic_store(&r->stop_req, true);
    }
    int64_t next = atomic_load(&r->next_ckpt);
    int64_t done = atomic_load(&r->words_done);
    while (next <= done) next += o->checkpoint_every > 0 ? o->checkpoint_every : INT64_MAX / 2;
    atomic_store(&r->next_ckpt, next);
    atomic_store(&r->pause_req, false);
    pthread_cond_broadcast(&r->cv_workers);
}

/* The main thread's view of the loss between reports. */
typedef struct w2v_reporter {
    double last_report; /* seconds since the start of training at the last report, -1 before */
    double prev_loss;   /* summed loss and pairs at the last report */
    int64_t prev_pairs;
} w2v_reporter;

/* Step 5c: one progress report (bar or line, metrics, the caller's callback) from the values the
 * workers publish every alpha interval. */
static void report_progress(w2v_run *r, w2v_reporter *rep, double now, bool final) {
    const train_w2v_options *o = r->o;
    const int W = r->nworkers;
    double loss = 0, alpha = INFINITY;
    int64_t pairs = 0;
    for (int k = 0; k < W; k++) {
        loss += atomic_load_explicit(&r->wks[k].pub_loss, memory_order_relaxed);
        pairs += atomic_load_explicit(&r->wks[k].pub_pairs, memory_order_relaxed);
        double a = atomic_load_explicit(&r->wks[k].pub_alpha, memory_order_relaxed);
        if (a < alpha) alpha = a;
    }
    double interval_loss = pairs > rep->prev_pairs ? (loss - rep->prev_loss) / (double)(pairs - rep->prev_pairs) : NAN;
    if (pairs > rep->prev_pairs) {
        rep->prev_loss = loss;
        rep->prev_pairs = pairs;
    }
    int64_t done = atomic_load(&r->words_done);
    double wps = now > 0 ? (double)(done - r->words_at_start) / now / W : 0;
    double frac = r->words_total > 0 ? (double)done / (double)r->words_total : 1;
    train_progress_stat st[] = {
        {"words_per_sec_thread", wps, "%.0f"},
        {"lr", alpha, "%.6f"},
        {"loss", interval_loss, "%.4f"},
        {"words", (double)done, "%.0f"},
    };
    train_progress_report(r->prog, frac, now, st, 4, final);
    if (o->on_report) {
        train_w2v_report x = {done, r->words_total, r->wks[0].epoch, alpha, interval_loss,
                              pairs > 0 ? loss / (double)pairs : NAN, wps, now, final};
        o->on_report(&x, o->report_ctx);
    }
}

/* Step 5: runs the workers to the end (or a stop): starts the threads, then, on the calling
 * thread, waits in 0.1 s slices, checkpointing when the workers park and reporting progress;
 * joins them. A thread that cannot start stops the others (run_outcome reports it). */
static int run_workers(w2v_run *r) {
    const train_w2v_options *o = r->o;
    const int W = r->nworkers;
    /* Large blocks go to sgemm inside the workers: BLAS must not spawn threads of its own. */
    r->blas_threads = openblas_get_num_threads();
    openblas_set_num_threads(1);
    if (!(r->prog = train_progress_new(stderr, "word2vec", o->progress && o->debug >= 2, o->metrics))) return -1;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv_main, NULL);
    pthread_cond_init(&r->cv_workers, NULL);
    r->sync_made = true;

    if (o->handle_signals) {
        g_w2v_signal = 0;
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_w2v_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, &r->old_int);
        sigaction(SIGTERM, &sa, &r->old_term);
        r->signals_set = true;
    }
    double t_start = base_now_sec();
    r->words_at_start = atomic_load(&r->words_done);
    for (int k = 0; k < W; k++) {
        if (pthread_create(&r->wks[k].th, NULL, worker_main, &r->wks[k]) != 0) {
            atomic_store(&r->stop_req, true);
            break;
        }
        r->started++;
    }
    pthread_mutex_lock(&r->mu);
    r->nfinished += W - r->started; /* threads that never started count as finished */
    pthread_mutex_unlock(&r->mu);

    w2v_reporter rep = {-1, 0, 0};
    for (int k = 0; k < W; k++) { /* a resumed run's totals so far (resume_state) */
        rep.prev_loss += atomic_load(&r->wks[k].pub_loss);
        rep.prev_pairs += atomic_load(&r->wks[k].pub_pairs);
    }
    for (;;) {
        if (g_w2v_signal && r->signals_set && !r->stop_signal) {
            r->stop_signal = g_w2v_signal; /* workers stop at their next sentence boundary */
            atomic_store(&r->stop_req, true);
        }
        pthread_mutex_lock(&r->mu);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += (r->sync.on ? 10 : 100) * 1000000L; /* data parallel: syncs are taken on time */
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        if (r->nfinished < W && !(atomic_load(&r->pause_req) && r->npaused == W - r->nfinished))
            pthread_cond_timedwait(&r->cv_main, &r->mu, &ts);
        bool all_done = r->nfinished == W;
        if (atomic_load(&r->pause_req) && r->npaused == W - r->nfinished) checkpoint_parked(r);
        pthread_mutex_unlock(&r->mu);
        double now = base_now_sec() - t_start;
        if (all_done || now - rep.last_report >= 0.1) {
            rep.last_report = now;
            report_progress(r, &rep, now, all_done);
        }
        if (all_done) break;
        train_w2v_sync_poll(&r->sync, atomic_load(&r->words_done)); /* data parallel: averaging due */
    }
    for (int k = 0; k < r->started; k++) pthread_join(r->wks[k].th, NULL);
    train_w2v_sync_final(&r->sync); /* data parallel: the same tables on every rank */
    r->seconds = base_now_sec() - t_start;
    return 0;
}

/* Puts back the SIGINT/SIGTERM handlers run_workers replaced (after the final checkpoint, so a
 * second signal during that save still takes the default action through on_w2v_signal). */
static void restore_signals(w2v_run *r) {
    if (!r->signals_set) return;
    sigaction(SIGINT, &r->old_int, NULL);
    sigaction(SIGTERM, &r->old_term, NULL);
    r->signals_set = false;
}

/* Step 6: how the workers ended. Returns 0 when the run may be handed off, else -1 with the first
 * cause: a NaN/Inf loss (naming where and the last good checkpoint), a worker's error, a thread
 * that did not start, a failed checkpoint. */
static int run_outcome(w2v_run *r) {
    if (r->nan_seen)
        return base_error_set("word2vec: the loss became NaN/Inf at word %" PRId64 " of %" PRId64
                              " (learning rate %.6g); training stopped; last good checkpoint: %s",
                              r->nan_words, r->words_total, r->nan_alpha, r->last_ckpt[0] ? r->last_ckpt : "none written");
    for (int k = 0; k < r->nworkers; k++)
        if (r->wks[k].failed) return base_error_set("%s", r->wks[k].err);
    if (r->started < r->nworkers) return base_error_set("word2vec: cannot start worker thread %d", r->started);
    if (r->ckpt_failed) return base_error_set("word2vec: checkpoint failed: %s", r->ckpt_err);
    return 0;
}

/* Step 8: the model takes the vocabulary and the tables from the run (which then frees neither). */
static train_w2v_model *hand_off(w2v_run *r) {
    train_w2v_model *m = base_xcalloc(1, sizeof *m);
    m->vocab = r->vocab;
    r->vocab = NULL;
    m->dim = r->D;
    m->syn0 = r->syn0;
    m->syn1 = r->syn1;
    m->syn1neg = r->syn1neg;
    r->syn0 = r->syn1 = r->syn1neg = NULL;
    m->words_done = atomic_load(&r->words_done);
    m->seconds = r->seconds;
    m->threads = r->nworkers;
    m->words_per_sec_thread = r->seconds > 0 ? (double)(m->words_done - r->words_at_start) / r->seconds / r->nworkers : 0;
    loss_totals(r, r->wks, &m->first_loss, &m->final_loss, &m->mean_loss);
    if (r->log)
        fprintf(r->log, "word2vec: %" PRId64 " words in %.2f s, %.0f words/s/thread, loss %.4f -> %.4f\n", m->words_done,
                r->seconds, m->words_per_sec_thread, m->first_loss, m->final_loss);
    return m;
}

static void run_free(w2v_run *r) {
    if (r->blas_threads > 0) openblas_set_num_threads(r->blas_threads);
    for (int k = 0; r->wks && k < r->nworkers; k++) {
        w2v_worker *wk = &r->wks[k];
        if (wk->corpus) data_corpus_close(wk->corpus);
        if (wk->g) ag_graph_free(wk->g);
        ag_tensor_free(wk->v0);
        ag_tensor_free(wk->v1);
        ag_tensor_free(wk->v1neg);
        train_w2v_ids_free(wk->ids); /* closes (and so removes) a temporary file */
        free(wk->sen);
        free(wk->ctx);
        free(wk->outs);
        free(wk->next_negs);
    }
    free(r->wks);
    if (r->sync_made) {
        pthread_mutex_destroy(&r->mu);
        pthread_cond_destroy(&r->cv_main);
        pthread_cond_destroy(&r->cv_workers);
    }
    train_progress_free(r->prog);
    if (r->resume) ckpt_close(r->resume);
    train_w2v_state_free(&r->resumed);
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
    if (r->vocab) data_vocab_free(r->vocab);
    train_w2v_sync_free(&r->sync);
}

/* Settings → vocabulary → tables → workers → training → outcome → final checkpoint → model. Every
 * step returns 0 or -1 with the error set; run_free releases whatever the steps made. */
int train_w2v_run(const train_w2v_options *o, train_w2v_model **out) {
    *out = NULL;
    if (train_w2v_check_options(o) != 0) return -1;
    w2v_run R;
    memset(&R, 0, sizeof R);
    R.o = o;
    int rc = run_settings(&R);
    if (!rc) rc = run_vocabulary(&R);
    if (!rc) rc = run_tables(&R);
    if (!rc) /* data parallel (word2vec_dist.h): no-op in one process */
        rc = train_w2v_sync_init(&R.sync, (float *[]){R.syn0, R.syn1, R.syn1neg},
                                 (int64_t[]){R.V * R.D, R.syn1 ? R.V * R.D : 0, R.syn1neg ? R.V * R.D : 0},
                                 R.words_total, R.iter, o->dist_syncs,
                                 o->resume || o->checkpoint_every > 0 || o->stop_after_words > 0);
    if (!rc) rc = workers_new(&R);
    if (!rc && !R.nothing_to_train) rc = run_workers(&R);
    if (!rc && !R.nothing_to_train) rc = run_outcome(&R);
    /* Step 7: the run's last state, finished or stopped early on request (the workers are all
     * done): a stopped run resumes from it, a finished one is a model file the eval tools read. */
    if (!rc && o->checkpoint) rc = save_checkpoint(&R, R.wks, o->checkpoint);
    if (!rc && R.stop_signal) {
        /* stopped by a signal: the state is in the checkpoint; no model (the run is incomplete) */
        int64_t done = atomic_load(&R.words_done);
        if (o->checkpoint)
            base_error_set("word2vec: stopped by %s at word %" PRId64 " of %" PRId64 "; checkpoint saved to %s",
                           R.stop_signal == SIGINT ? "SIGINT" : "SIGTERM", done, R.words_total, o->checkpoint);
        else
            base_error_set("word2vec: stopped by %s at word %" PRId64 " of %" PRId64 " (no --checkpoint: nothing saved)",
                           R.stop_signal == SIGINT ? "SIGINT" : "SIGTERM", done, R.words_total);
        rc = TRAIN_W2V_STOPPED;
    }
    restore_signals(&R);
    if (!rc) *out = hand_off(&R);
    run_free(&R);
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
