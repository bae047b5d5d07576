/* fuzz_ckpt_state.c — ember's own checks of a checkpoint's layout, through well-formed HDF5 files:
 * the input drives what a Word2Vec checkpoint holds (vocabulary, the syn0 shape, every /state
 * setting and per-worker array, their lengths), ckpt_writer writes it, and the readers --resume
 * and the eval tools trust read it back: train_w2v_get_state (every setting and worker checked
 * against its limits), ckpt_get_vocab, ckpt_pick_embedding and the table itself. */
#include "fuzz.h"

#include "checkpoints/ckpt.h"
#include "train/word2vec.h"

typedef struct {
    const uint8_t *p;
    size_t n;
} fz_in;

static uint8_t take8(fz_in *in) {
    if (!in->n) return 0;
    in->n--;
    return *in->p++;
}

/* An int64 that is often on a limit: the checks live there. */
static int64_t take_i64(fz_in *in) {
    static const int64_t pick[] = {-1, 0, 1, 2, 3, 5, 10, 1000, 100000, 100001, INT32_MAX, INT64_MAX, INT64_MIN};
    uint8_t k = take8(in);
    if (k < 13 * 16) return pick[k % 13];
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = (v << 8) | take8(in);
    return (int64_t)v;
}

static double take_f64(fz_in *in) {
    static const double pick[] = {-1.0, 0.0, 1e-3, 0.025, 1.0, 1e300};
    uint8_t k = take8(in);
    if (k < 6 * 32) return pick[k % 6];
    uint64_t b = 0;
    for (int i = 0; i < 8; i++) b = (b << 8) | take8(in);
    double d;
    memcpy(&d, &b, sizeof d);
    return d;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char path[4096];
    if (!path[0]) {
        const char *dir = getenv("TMPDIR");
        snprintf(path, sizeof path, "%s/ember-fuzz-state-%ld.ckpt", dir && *dir ? dir : "/tmp", (long)getpid());
    }
    fz_in in = {data, size};
    ckpt_writer_options wo = {.no_fsync = true};
    ckpt_writer *w = ckpt_writer_begin_opts(path, &wo);
    if (!w) abort();
    int rc = 0;
    /* vocabulary: 1..8 words, possibly repeated, counts as drawn */
    int nw = 1 + take8(&in) % 8;
    char names[8][8];
    const char *words[8];
    int64_t counts[8];
    for (int i = 0; i < nw; i++) {
        snprintf(names[i], sizeof names[i], "w%d", take8(&in) % 6);
        words[i] = names[i];
        counts[i] = take_i64(&in);
    }
    if (take8(&in) % 8) rc |= ckpt_put_vocab(w, words, counts, nw);
    int64_t shape[2] = {1 + take8(&in) % 9, 1 + take8(&in) % 5};
    float tab[9 * 5];
    for (int i = 0; i < 45; i++) tab[i] = (float)take8(&in) / 16.0f;
    if (take8(&in) % 8) rc |= ckpt_put_f32_array(w, "/params/syn0", tab, 2, shape);
    if (take8(&in) % 4 == 0) rc |= ckpt_put_f32_array(w, "/params/syn1neg", tab, 2, shape);
    /* /state: the named layout's datasets, each present or not, scalar or array as drawn */
    static const char *ints[] = {"size", "window", "hs", "negative", "workers", "iter", "min_count", "cbow",
                                 "shared_negatives", "sentence_cap", "corpus_size", "next_checkpoint"};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        char p[128];
        snprintf(p, sizeof p, "/state/word2vec/%s", ints[i]);
        if (take8(&in) % 16) rc |= ckpt_put_i64(w, p, take_i64(&in));
    }
    if (take8(&in) % 16) rc |= ckpt_put_f64(w, "/state/word2vec/sample", take_f64(&in));
    if (take8(&in) % 16) rc |= ckpt_put_f64(w, "/state/word2vec/alpha", take_f64(&in));
    uint64_t seed = (uint64_t)take_i64(&in);
    if (take8(&in) % 16) rc |= ckpt_put_u64_array(w, "/state/word2vec/seed", &seed, 1);
    if (take8(&in) % 2) rc |= ckpt_put_u64_array(w, "/state/word2vec/corpus_fingerprint", &seed, 1);
    if (take8(&in) % 16) rc |= ckpt_put_string(w, "/state/word2vec/train", "corpus.txt");
    if (take8(&in) % 16) rc |= ckpt_put_i64(w, "/state/words_done", take_i64(&in));
    int nk = take8(&in) % 4; /* per-worker arrays of this length (may differ from "workers") */
    int64_t i64[40];
    double f64[40];
    static const char *warr[] = {"/state/data_cursor", "/state/word2vec/worker_epoch",
                                 "/state/word2vec/worker_word_count", "/state/word2vec/worker_last_word_count"};
    for (size_t a = 0; a < 4; a++) {
        for (int k = 0; k < nk; k++) i64[k] = take_i64(&in);
        if (nk && take8(&in) % 16) rc |= ckpt_put_i64_array(w, warr[a], i64, nk);
    }
    for (int k = 0; k < nk * 10; k++) f64[k] = take_f64(&in);
    if (nk && take8(&in) % 16) rc |= ckpt_put_f64_array(w, "/state/word2vec/worker_alpha", f64, nk);
    if (nk && take8(&in) % 16) rc |= ckpt_put_f64_array(w, "/state/word2vec/loss_sum", f64, nk * 10);
    for (int k = 0; k < nk * 10; k++) i64[k] = take_i64(&in);
    if (nk && take8(&in) % 16) rc |= ckpt_put_i64_array(w, "/state/word2vec/loss_pairs", i64, nk * 10);
    for (int k = 0; k < nk; k++) {
        base_rng g;
        base_rng_seed(&g, (uint64_t)k);
        char p[64];
        snprintf(p, sizeof p, "/state/rng/worker%d", k);
        if (take8(&in) % 16) rc |= ckpt_put_rng(w, p, &g);
    }
    if (rc) {
        ckpt_writer_abort(w);
        return 0;
    }
    if (ckpt_writer_commit(w) != 0) abort(); /* a well-formed file must be writable */
    ckpt_reader *r = ckpt_open(path);
    if (!r) abort(); /* and readable */
    train_w2v_state st;
    if (train_w2v_get_state(r, &st) == 0) {
        /* what the reader promises --resume */
        if (st.nworkers < 1 || st.size < 1 || st.iter < 1 || (!st.hs && !st.negative)) abort();
        for (int k = 0; k < st.nworkers; k++)
            if (st.worker[k].epoch < 0 || st.worker[k].epoch > st.iter || st.worker[k].cursor > st.corpus_size) abort();
        train_w2v_state_free(&st);
    }
    char **vw = NULL;
    int64_t *vc = NULL, vn = 0;
    if (ckpt_get_vocab(r, &vw, &vc, &vn) == 0) {
        char best[512];
        ckpt_info info;
        if (ckpt_pick_embedding(r, vn, NULL, best, sizeof best, &info) == 0) {
            float *t = malloc((size_t)(info.numel ? info.numel : 1) * sizeof *t);
            if (ckpt_get_f32_array(r, best, t, 2, info.shape) != 0) abort(); /* picked, so readable */
            free(t);
        }
        ckpt_free_words(vw, vn);
        free(vc);
    }
    ckpt_close(r);
    return 0;
}
