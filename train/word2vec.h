/* word2vec.h — ember's Word2Vec trainer: skip-gram / CBOW, negative sampling / hierarchical softmax.
 *
 * Same maths as word2vec.c (subsampling, dynamic window, linear LR decay over all epochs to 1e-4 of
 * the start, "</s>" sentence ends, 1000-word sentence cap) unless docs/WORD2VEC.md lists a deliberate
 * difference. The dot products and gradients run through autograd's fused ops (ag_w2v_ns_loss,
 * ag_w2v_hs_loss in autograd/ops_w2v.c): each lock-free worker thread owns a graph and per-thread
 * views of the shared tables; its row-sparse grads are applied straight into the shared weights
 * (Hogwild). --deterministic runs one worker so a run is bit-reproducible for a given seed.
 *
 *   train_w2v_options o;
 *   train_w2v_options_default(&o);             // word2vec.c's defaults
 *   o.train = "corpus.txt"; o.cbow = 0;
 *   train_w2v_model *m = NULL;
 *   if (train_w2v_run(&o, &m) < 0) fprintf(stderr, "%s\n", base_error_msg());
 *   // m->vocab->words[i], m->syn0 row i (m->dim floats) are the input vectors
 *   train_w2v_model_free(m);
 */
#ifndef EMBER_TRAIN_WORD2VEC_H
#define EMBER_TRAIN_WORD2VEC_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "../checkpoints/ckpt.h"
#include "../data/vocab.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One progress report (every ~0.1 s of training per report interval, and at the end). */
typedef struct train_w2v_report {
    int64_t words_done;   /* corpus words read so far over all epochs (word2vec.c's word_count_actual) */
    int64_t words_total;  /* iter × vocab total: when words_done reaches it, training is over */
    int epoch;            /* 0-based epoch of the slowest worker */
    double alpha;         /* current learning rate */
    double loss;          /* mean loss per (input row, output column) pair since the last report */
    double loss_total;    /* mean over the whole run so far */
    double words_per_sec_thread; /* words_done / elapsed / threads */
    double elapsed;       /* seconds since training (not vocab building) began */
    bool final;           /* last report of the run */
} train_w2v_report;

typedef void (*train_w2v_report_fn)(const train_w2v_report *r, void *ctx);

/* word2vec.c's learning rate after words_done of words_total corpus words (all epochs):
 *     alpha0 · (1 − words_done / (words_total + 1)),  floored at alpha0 · 1e-4.
 * Each worker recomputes it every 10,000 words it reads. */
double train_w2v_alpha(double alpha0, int64_t words_done, int64_t words_total);

typedef struct train_w2v_options {
    /* word2vec.c's flags (same names, same defaults) */
    const char *train;      /* -train: corpus path (plain or gzip) */
    int64_t size;           /* -size 100 */
    int window;             /* -window 5 */
    double sample;          /* -sample 1e-3 (0 disables) */
    int hs;                 /* -hs 0 */
    int negative;           /* -negative 5 */
    int threads;            /* -threads 12 in word2vec.c; ember defaults to 2 */
    int iter;               /* -iter 5 */
    int64_t min_count;      /* -min-count 5 */
    double alpha;           /* -alpha: <= 0 means 0.025 for skip-gram, 0.05 for CBOW */
    int cbow;               /* -cbow 1 */
    const char *save_vocab; /* -save-vocab FILE or NULL */
    const char *read_vocab; /* -read-vocab FILE or NULL (no counting pass) */
    int debug;              /* -debug 2: 0 quiet, 1 summary lines, 2 progress */

    /* ember's additions */
    uint64_t seed;              /* --seed: init, subsampling, windows and negatives (default 1) */
    bool deterministic;         /* --deterministic: one worker, bit-reproducible */
    int64_t checkpoint_every;   /* --checkpoint-every N words (0 = never) */
    const char *checkpoint;     /* --checkpoint FILE: where checkpoints go (default OUTPUT.ckpt in the CLI);
                                 * the final state is written there too when the run ends */
    const char *resume;         /* --resume FILE: continue a run from a checkpoint */
    const char *metrics;        /* --metrics FILE: JSON lines of the reports */
    int64_t stop_after_words;   /* stop (and checkpoint, if a checkpoint path is set) once words_done
                                   reaches this (0 = run to the end); used to test resuming */
    bool shared_negatives;      /* Ji et al. 2016: one set of negatives per window (default true) */
    int sentence_cap;           /* words per sentence on newline-free corpora (1000) */
    bool encode_corpus;         /* --encode-corpus: read the text once, encode it to word ids, and
                                   train later epochs from the ids (default true; results are the
                                   same bit for bit with --deterministic) */
    int64_t ids_memory;         /* --ids-memory: the ids stay in memory when their exact size (known
                                   from the counts) is at most this many bytes, else they go to
                                   unlinked temporary files in $TMPDIR (default 16 MiB) */
    uint32_t given;             /* TRAIN_W2V_GIVEN_* bits: the flags the caller set explicitly. On
                                   --resume each one must equal the checkpoint's value (strict
                                   resume: a conflict is refused, naming the flag and both values) */
    bool extend;                /* --extend: with --resume, -iter may exceed the checkpoint's (train
                                   more epochs, e.g. after a finished run) */
    bool trust_unverified;      /* --trust-unverified: resume from a checkpoint without an integrity
                                   line (refused otherwise) */
    bool handle_signals;        /* SIGINT/SIGTERM stop the run at the next sentence boundary, save
                                   the checkpoint (if one is set) and return TRAIN_W2V_STOPPED */
    bool progress;              /* progress bar / lines on stderr (when debug >= 2) */
    int dist_syncs;             /* --dist-syncs: table averagings per epoch on several ranks (32; word2vec_dist.h) */
    train_w2v_report_fn on_report; /* optional callback per report (called from the main thread) */
    void *report_ctx;
} train_w2v_options;

/* Bits of train_w2v_options.given: settings that define a run's maths, compared on --resume. */
enum {
    TRAIN_W2V_GIVEN_SIZE = 1u << 0,      /* -size */
    TRAIN_W2V_GIVEN_WINDOW = 1u << 1,    /* -window */
    TRAIN_W2V_GIVEN_SAMPLE = 1u << 2,    /* -sample */
    TRAIN_W2V_GIVEN_HS = 1u << 3,        /* -hs */
    TRAIN_W2V_GIVEN_NEGATIVE = 1u << 4,  /* -negative */
    TRAIN_W2V_GIVEN_THREADS = 1u << 5,   /* -threads or --deterministic (the number of workers) */
    TRAIN_W2V_GIVEN_ITER = 1u << 6,      /* -iter */
    TRAIN_W2V_GIVEN_MIN_COUNT = 1u << 7, /* -min-count */
    TRAIN_W2V_GIVEN_ALPHA = 1u << 8,     /* -alpha */
    TRAIN_W2V_GIVEN_CBOW = 1u << 9,      /* -cbow */
    TRAIN_W2V_GIVEN_SEED = 1u << 10,     /* --seed */
    TRAIN_W2V_GIVEN_SHARED = 1u << 11,   /* --shared-negatives */
};

/* train_w2v_run's status after SIGINT/SIGTERM (handle_signals): the run stopped early, its state
 * is in the checkpoint (if one was set; the error message says where), no model is returned. */
#define TRAIN_W2V_STOPPED 3

/* A trained model. Owned by the caller after train_w2v_run; free with train_w2v_model_free. */
typedef struct train_w2v_model {
    data_vocab *vocab;   /* words in id order ("</s>" first), counts */
    int64_t dim;         /* vector size */
    float *syn0;         /* [vocab->n, dim] input vectors: the embeddings */
    float *syn1;         /* [vocab->n, dim] HS inner-node vectors (row i < n-1 used) or NULL */
    float *syn1neg;      /* [vocab->n, dim] NS output vectors or NULL */
    /* run statistics */
    int64_t words_done;  /* corpus words processed (all epochs) */
    double seconds;      /* training wall time (excludes vocab building) */
    double words_per_sec_thread;
    double final_loss;   /* mean loss per pair over the last report interval */
    double mean_loss;    /* mean loss per pair over the whole run */
    double first_loss;   /* mean loss per pair over the first report interval */
    int threads;         /* workers actually used */
} train_w2v_model;

/* word2vec.c's defaults (threads = 2, seed = 1, sentence_cap = 1000, shared_negatives = true,
 * progress = true, encode_corpus = true, ids_memory = 16 MiB). */
void train_w2v_options_default(train_w2v_options *o);

/* Checks the options without touching any file: size > 0, window >= 1, negative >= 0, hs in {0,1},
 * at least one of hs/negative, threads >= 1, iter >= 1, min_count >= 1, sample >= 0, a corpus.
 * Returns 0 or -1 with base_error_msg() naming the flag and the bad value. */
int train_w2v_check_options(const train_w2v_options *o);

/* Builds (or reads, or resumes) the vocabulary, trains, and returns the model in *out.
 * Returns 0, or -1 with base_error_msg() set (bad corpus, empty vocabulary, unreadable checkpoint,
 * a checkpoint without integrity line unless trust_unverified, flags that conflict with the
 * checkpoint, a different corpus, the tables not fitting in memory (the size asked for is named),
 * NaN/Inf loss — naming the step, the learning rate and the last good
 * checkpoint), or TRAIN_W2V_STOPPED after a signal (the message says what was saved). Resuming a
 * finished run without extend trains nothing and returns its model as it is. On failure
 * *out is NULL and nothing has been written except checkpoints taken before the failure. */
int train_w2v_run(const train_w2v_options *o, train_w2v_model **out);

void train_w2v_model_free(train_w2v_model *m);

/* Cosine similarity of the syn0 rows of two ids (for tests and demos). */
double train_w2v_cosine(const train_w2v_model *m, int32_t a, int32_t b);

/* ------------------------------------------------------------------------------------------------
 * Resume state: what a Word2Vec checkpoint holds under /state, as named datasets (the layout is in
 * docs/CHECKPOINTS.md, "A Word2Vec checkpoint"). train_w2v_put_state is the only writer and
 * train_w2v_get_state the only reader: the trainer's periodic and final checkpoints (which are
 * also the demo's demo.ckpt) go through the first, --resume through the second.
 * --------------------------------------------------------------------------------------------- */
#define TRAIN_W2V_LOSS_BUCKETS 10 /* the loss is kept per tenth of the run (first and final loss) */

/* One worker at a sentence boundary, where these numbers are its whole state. */
typedef struct train_w2v_worker_state {
    int64_t epoch;           /* epochs this worker has finished */
    int64_t word_count;      /* in-vocabulary words read in the current epoch */
    int64_t last_word_count; /* word_count at the last learning-rate update */
    int64_t cursor;          /* byte offset in the corpus of the next word to read */
    double alpha;            /* its current learning rate (stored exactly) */
    double loss_sum[TRAIN_W2V_LOSS_BUCKETS];    /* loss per tenth of the run */
    int64_t loss_pairs[TRAIN_W2V_LOSS_BUCKETS]; /* (input, output) pairs per tenth of the run */
    base_rng rng;              /* subsampling, windows and negatives */
} train_w2v_worker_state;

typedef struct train_w2v_state {
    /* the settings that define the maths: a resumed run takes these, not the command line's */
    int64_t size, min_count;
    int window, hs, negative, iter, cbow, sentence_cap;
    bool shared_negatives;
    double sample, alpha;    /* alpha: the starting learning rate */
    uint64_t seed;
    const char *train;       /* corpus path at save time, for people (a resume names its -train) */
    int64_t corpus_size;     /* corpus bytes: resuming on a corpus of another size is refused */
    bool has_fingerprint;    /* false for checkpoints written before ember stored it */
    uint64_t corpus_fingerprint; /* data_corpus_fingerprint of the corpus file: a resume on another
                                    corpus (even one of the same size) is refused */
    /* progress */
    int64_t words_done;      /* corpus words processed, all workers and epochs */
    int64_t next_checkpoint; /* words_done at which the next periodic checkpoint is due */
    int nworkers;            /* >= 1 */
    train_w2v_worker_state *worker; /* [nworkers] */
} train_w2v_state;

/* Writes s under /state. Returns 0, or -1 (error set) after which the writer can only be aborted. */
int train_w2v_put_state(ckpt_writer *w, const train_w2v_state *s);

/* Reads the /state of a Word2Vec checkpoint into *s: the named layout, or the positional one that
 * ember wrote before it (/state/w2v_options int64 [10] and doubles as uint64 bit patterns), so
 * older checkpoints still resume. Every setting is checked against train_w2v_check_options'
 * limits and every worker against the settings and the corpus size. Returns 0 (release with
 * train_w2v_state_free), or -1 with an error naming the file and the dataset, *s left empty. */
int train_w2v_get_state(ckpt_reader *r, train_w2v_state *s);

/* Frees what train_w2v_get_state allocated (worker, train) and empties s. */
void train_w2v_state_free(train_w2v_state *s);

#ifdef __cplusplus
}
#endif
#endif /* EMBER_TRAIN_WORD2VEC_H */
