/* eval.c — analogy accuracy (compute-accuracy protocol), word-similarity Spearman, neighbours (see eval.h). */
#include "train/eval.h"

#include <cblas.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "autograd/ag.h"
#include "checkpoints/ckpt.h"
#include "checkpoints/export.h"

/* ---- vector sets ---------------------------------------------------------------------------- */

static uint64_t hash_str(const char *s, bool fold) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (fold && c >= 'a' && c <= 'z') c = (unsigned char)(c - 32);
        h = (h ^ c) * 1099511628211ull;
    }
    return h;
}

/* ASCII case-insensitive equality, as compute-accuracy's toupper + strcmp. */
static bool eq_fold(const char *a, const char *b) {
    for (;; a++, b++) {
        unsigned char x = (unsigned char)*a, y = (unsigned char)*b;
        if (x >= 'a' && x <= 'z') x = (unsigned char)(x - 32);
        if (y >= 'a' && y <= 'z') y = (unsigned char)(y - 32);
        if (x != y) return false;
        if (!x) return true;
    }
}

static void vectors_finish(train_vectors *v) {
    int64_t n = v->n, d = v->dim;
    v->unit = base_xaligned((size_t)(n > 0 ? n : 1) * (size_t)d * sizeof(float));
#pragma omp parallel for if (n * d > 1000000)
    for (int64_t i = 0; i < n; i++) {
        const float *x = v->vec + i * d;
        float *u = v->unit + i * d;
        double s = 0;
        for (int64_t j = 0; j < d; j++) s += (double)x[j] * x[j];
        float inv = s > 0 ? (float)(1.0 / sqrt(s)) : 0.0f;
        for (int64_t j = 0; j < d; j++) u[j] = x[j] * inv;
    }
    int64_t hs = 16;
    while (hs < 2 * n) hs <<= 1;
    v->hash_size = hs;
    v->hash = base_xmalloc((size_t)hs * sizeof(int64_t));
    v->fold = base_xmalloc((size_t)hs * sizeof(int64_t));
    for (int64_t i = 0; i < hs; i++) v->hash[i] = v->fold[i] = -1;
    v->ndup = 0;
    v->first_dup = -1;
    for (int64_t i = 0; i < n; i++) {
        uint64_t h = hash_str(v->words[i], false) & (uint64_t)(hs - 1);
        bool dup = false;
        while (v->hash[h] >= 0) {
            if (!strcmp(v->words[v->hash[h]], v->words[i])) { dup = true; break; } /* keep the first */
            h = (h + 1) & (uint64_t)(hs - 1);
        }
        if (!dup) v->hash[h] = i;
        else if (v->ndup++ == 0) v->first_dup = i;
        h = hash_str(v->words[i], true) & (uint64_t)(hs - 1);
        dup = false;
        while (v->fold[h] >= 0) {
            if (eq_fold(v->words[v->fold[h]], v->words[i])) { dup = true; break; }
            h = (h + 1) & (uint64_t)(hs - 1);
        }
        if (!dup) v->fold[h] = i;
    }
}

train_vectors *train_vectors_adopt(int64_t n, int64_t dim, char **words, float *vec) {
    AG_CHECK(n >= 0 && dim > 0, "train_vectors_adopt", "n=%lld dim=%lld", (long long)n, (long long)dim);
    train_vectors *v = base_xcalloc(1, sizeof *v);
    v->n = n;
    v->dim = dim;
    v->words = words;
    v->vec = vec;
    vectors_finish(v);
    return v;
}

train_vectors *train_vectors_from(int64_t n, int64_t dim, char *const *words, const float *vec) {
    char **w = base_xmalloc((size_t)(n > 0 ? n : 1) * sizeof(char *));
    for (int64_t i = 0; i < n; i++) w[i] = base_xstrdup(words[i]);
    float *x = base_xmalloc((size_t)(n > 0 ? n : 1) * (size_t)dim * sizeof(float));
    memcpy(x, vec, (size_t)n * (size_t)dim * sizeof(float));
    return train_vectors_adopt(n, dim, w, x);
}

void train_vectors_free(train_vectors *v) {
    if (!v) return;
    for (int64_t i = 0; i < v->n; i++) free(v->words[i]);
    free(v->words);
    free(v->vec);
    free(v->unit);
    free(v->hash);
    free(v->fold);
    free(v);
}

int64_t train_vectors_find(const train_vectors *v, const char *w, bool fold) {
    uint64_t m = (uint64_t)(v->hash_size - 1);
    for (uint64_t h = hash_str(w, false) & m; v->hash[h] >= 0; h = (h + 1) & m)
        if (!strcmp(v->words[v->hash[h]], w)) return v->hash[h];
    if (!fold) return -1;
    for (uint64_t h = hash_str(w, true) & m; v->fold[h] >= 0; h = (h + 1) & m)
        if (eq_fold(v->words[v->fold[h]], w)) return v->fold[h];
    return -1;
}

/* ---- loading --------------------------------------------------------------------------------- */

/* HDF5's signature sits at offset 0, 512, 1024, ... (a user block moves it); ember checkpoints
 * start with a 512-byte "EMBER-CHECKPOINT" user block. Returns 1 for HDF5, 0 otherwise, -1 if the
 * file cannot be opened. */
static int looks_hdf5(const char *path) {
    static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    unsigned char buf[8];
    int r = 0;
    if (fread(buf, 1, 8, f) == 8 && (!memcmp(buf, sig, 8) || !memcmp(buf, "EMBER-CH", 8))) r = 1;
    for (long off = 512; !r && off <= 4096; off *= 2)
        if (!fseek(f, off, SEEK_SET) && fread(buf, 1, 8, f) == 8 && !memcmp(buf, sig, 8)) r = 1;
    fclose(f);
    return r;
}

static int load_checkpoint(train_vectors **out, const char *path, const char *param) {
    ckpt_reader *r = ckpt_open(path);
    if (!r) return -1;
    char **words = NULL;
    int64_t *counts = NULL, n = 0;
    if (ckpt_get_vocab(r, &words, &counts, &n)) {
        ckpt_close(r);
        return -1;
    }
    free(counts);
    char best[512];
    ckpt_info info;
    if (ckpt_pick_embedding(r, n, param, best, sizeof best, &info)) goto fail;
    float *vec = base_xmalloc((size_t)(n > 0 ? n : 1) * (size_t)info.shape[1] * sizeof(float));
    if (ckpt_get_f32_array(r, best, vec, 2, info.shape)) {
        free(vec);
        goto fail;
    }
    ckpt_close(r);
    /* ckpt_get_vocab's array and strings are heap: adopt them */
    *out = train_vectors_adopt(n, info.shape[1], words, vec);
    return 0;
fail:
    ckpt_free_words(words, n);
    ckpt_close(r);
    return -1;
}

int train_vectors_load(train_vectors **out, const char *path, const char *param) {
    *out = NULL;
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return base_error_set("%s: expected a vectors file (word2vec text or binary) or an ember checkpoint, got a "
                              "directory", path);
    int h = looks_hdf5(path);
    if (h < 0) return base_error_set("%s: cannot open: %s", path, strerror(errno));
    int rc = 0;
    if (h) {
        rc = load_checkpoint(out, path, param);
    } else {
        ckpt_embeddings e;
        if (ckpt_import_word2vec(path, CKPT_W2V_AUTO, &e)) return -1;
        if (e.n == 0 || e.dim <= 0) {
            ckpt_embeddings_free(&e);
            return base_error_set("%s: expected at least one word vector, got none", path);
        }
        *out = train_vectors_adopt(e.n, e.dim, e.words, e.vecs);
    }
    if (!rc && (*out)->ndup > 0)
        fprintf(stderr, "warning: %s: %" PRId64 " duplicate word%s (first: '%s', vector %" PRId64
                        "); the first vector of each word is used, the others are never neighbours\n",
                path, (*out)->ndup, (*out)->ndup > 1 ? "s" : "", (*out)->words[(*out)->first_dup],
                (*out)->first_dup + 1);
    return rc;
}

/* Case-folded id of w restricted to the first lim vectors (compute-accuracy searches only the
 * restricted vocabulary, so a word whose most frequent spelling is beyond lim is absent). */
static int64_t find_fold_lim(const train_vectors *v, const char *w, int64_t lim) {
    uint64_t m = (uint64_t)(v->hash_size - 1);
    for (uint64_t h = hash_str(w, true) & m; v->fold[h] >= 0; h = (h + 1) & m)
        if (eq_fold(v->words[v->fold[h]], w)) return v->fold[h] < lim ? v->fold[h] : -1;
    return -1;
}

/* ---- analogy -------------------------------------------------------------------------------- */

/* compute-accuracy's answer rule over row[N] with the 3 query ids excluded: the best score starts
 * at 0 and must be beaten strictly, so the first (most frequent) of equal scores wins and a row
 * with no positive score has no answer (-1). The row is scratch: the excluded entries are
 * overwritten with -inf. 16 independent lanes (each keeping its own first maximum) let the
 * compiler vectorise the scan; merging them by (value, lowest index) gives the sequential answer. */
static int64_t argmax_positive(float *row, int64_t N, const int64_t *excl) {
    for (int e = 0; e < 3; e++) row[excl[e]] = -INFINITY;
    enum { L = 16 };
    float m[L];
    int32_t ix[L];
    for (int j = 0; j < L; j++) m[j] = 0.0f, ix[j] = -1;
    int64_t c = 0;
    for (; c + L <= N; c += L)
        for (int j = 0; j < L; j++) {
            bool gt = row[c + j] > m[j];
            m[j] = gt ? row[c + j] : m[j];
            ix[j] = gt ? (int32_t)(c + j) : ix[j];
        }
    float best = 0.0f;
    int64_t arg = -1;
    for (int j = 0; j < L; j++)
        if (ix[j] >= 0 && (m[j] > best || (m[j] == best && arg >= 0 && ix[j] < arg))) best = m[j], arg = ix[j];
    for (; c < N; c++) /* the tail holds the largest indices: only a strictly larger score wins */
        if (row[c] > best) best = row[c], arg = c;
    return arg;
}

int train_eval_analogy(const train_vectors *v, const data_analogy_set *q, int64_t restrict_n,
                       train_analogy_result *out) {
    memset(out, 0, sizeof *out);
    int64_t N = (restrict_n <= 0 || restrict_n > v->n) ? v->n : restrict_n;
    int64_t d = v->dim;
    out->restrict_n = N;
    out->n_sections = q->n_sections;
    out->sections = base_xcalloc((size_t)(q->n_sections > 0 ? q->n_sections : 1), sizeof *out->sections);
    for (int32_t s = 0; s < q->n_sections; s++) out->sections[s].name = q->section_names[s];
    double t0 = base_now_sec();

    /* ids[4*i..]: the four words of each answerable question; qi[k] = its question index */
    int64_t *ids = base_xmalloc((size_t)(q->n > 0 ? q->n : 1) * 4 * sizeof(int64_t));
    int64_t *qi = base_xmalloc((size_t)(q->n > 0 ? q->n : 1) * sizeof(int64_t));
    int64_t m = 0;
    for (int64_t i = 0; i < q->n; i++) {
        out->sections[q->section[i]].total++;
        int64_t *id = ids + 4 * m;
        bool ok = true;
        for (int j = 0; j < 4 && ok; j++) ok = (id[j] = find_fold_lim(v, q->words[4 * i + j], N)) >= 0;
        if (ok) qi[m++] = i;
    }

    /* Blocks of B questions: Q[B, d] = unit(b) − unit(a) + unit(c); S[B, N] = Q · U[:N]^T.
     * B = 256 keeps sgemm efficient; a huge unrestricted vocabulary gets smaller blocks so that
     * S stays within 32M floats (128 MiB). */
    int64_t B = 256;
    while (B > 1 && B * N > (int64_t)1 << 25) B /= 2;
    float *Q = base_xaligned((size_t)B * (size_t)d * sizeof(float));
    float *S = base_xaligned((size_t)B * (size_t)(N > 0 ? N : 1) * sizeof(float));
    int64_t *pred = base_xmalloc((size_t)(m > 0 ? m : 1) * sizeof(int64_t));
    for (int64_t b0 = 0; b0 < m; b0 += B) {
        int64_t nb = m - b0 < B ? m - b0 : B;
        for (int64_t r = 0; r < nb; r++) {
            const int64_t *id = ids + 4 * (b0 + r);
            const float *ua = v->unit + id[0] * d, *ub = v->unit + id[1] * d, *uc = v->unit + id[2] * d;
            for (int64_t j = 0; j < d; j++) Q[r * d + j] = ub[j] - ua[j] + uc[j];
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nb, (int)N, (int)d, 1.0f, Q, (int)d, v->unit,
                    (int)d, 0.0f, S, (int)N);
#pragma omp parallel for schedule(static)
        for (int64_t r = 0; r < nb; r++) pred[b0 + r] = argmax_positive(S + r * N, N, ids + 4 * (b0 + r));
    }
    for (int64_t k = 0; k < m; k++) {
        int64_t i = qi[k];
        int32_t s = q->section[i];
        bool right = pred[k] >= 0 && eq_fold(v->words[pred[k]], q->words[4 * i + 3]);
        out->sections[s].seen++;
        out->sections[s].correct += right;
        if (s < 5) {
            out->sem_seen++;
            out->sem_correct += right;
        } else {
            out->syn_seen++;
            out->syn_correct += right;
        }
    }
    out->seen = m;
    out->total = q->n;
    out->correct = out->sem_correct + out->syn_correct;
    out->seconds = base_now_sec() - t0;
    free(ids);
    free(qi);
    free(Q);
    free(S);
    free(pred);
    return 0;
}

void train_analogy_result_free(train_analogy_result *r) {
    if (!r) return;
    free(r->sections);
    r->sections = NULL;
}

/* ---- ranks and correlations ----------------------------------------------------------------- */

typedef struct {
    double x;
    int64_t i;
} ranked;

static int cmp_ranked(const void *a, const void *b) {
    const ranked *p = a, *q = b;
    if (p->x < q->x) return -1;
    if (p->x > q->x) return 1;
    return (p->i > q->i) - (p->i < q->i);
}

void train_average_ranks(const double *x, int64_t n, double *rank) {
    ranked *r = base_xmalloc((size_t)(n > 0 ? n : 1) * sizeof *r);
    for (int64_t i = 0; i < n; i++) r[i] = (ranked){x[i], i};
    qsort(r, (size_t)n, sizeof *r, cmp_ranked);
    for (int64_t i = 0; i < n;) {
        int64_t j = i;
        while (j + 1 < n && r[j + 1].x == r[i].x) j++;
        double avg = 0.5 * (double)(i + j) + 1.0; /* positions i..j (0-based) share rank mean+1 */
        for (int64_t k = i; k <= j; k++) rank[r[k].i] = avg;
        i = j + 1;
    }
    free(r);
}

double train_pearson(const double *x, const double *y, int64_t n) {
    if (n < 2) return NAN;
    double mx = 0, my = 0;
    for (int64_t i = 0; i < n; i++) mx += x[i], my += y[i];
    mx /= (double)n;
    my /= (double)n;
    double sxy = 0, sxx = 0, syy = 0;
    for (int64_t i = 0; i < n; i++) {
        double a = x[i] - mx, b = y[i] - my;
        sxy += a * b;
        sxx += a * a;
        syy += b * b;
    }
    if (sxx <= 0 || syy <= 0) return NAN;
    return sxy / sqrt(sxx * syy);
}

double train_cosine(const float *a, const float *b, int64_t n) {
    double ab = 0, aa = 0, bb = 0;
    for (int64_t i = 0; i < n; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    return ab / (sqrt(aa) * sqrt(bb));
}

double train_spearman(const double *x, const double *y, int64_t n) {
    if (n < 2) return NAN;
    double *rx = base_xmalloc((size_t)n * sizeof(double)), *ry = base_xmalloc((size_t)n * sizeof(double));
    train_average_ranks(x, n, rx);
    train_average_ranks(y, n, ry);
    double r = train_pearson(rx, ry, n);
    free(rx);
    free(ry);
    return r;
}

/* ---- word similarity ------------------------------------------------------------------------ */

static double dot_unit(const train_vectors *v, int64_t a, int64_t b) {
    const float *x = v->unit + a * v->dim, *y = v->unit + b * v->dim;
    double s = 0;
    for (int64_t j = 0; j < v->dim; j++) s += (double)x[j] * y[j];
    return s;
}

int train_eval_wordsim(const train_vectors *v, const data_wordsim_set *s, int64_t restrict_n,
                       train_wordsim_result *out) {
    memset(out, 0, sizeof *out);
    int64_t N = (restrict_n <= 0 || restrict_n > v->n) ? v->n : restrict_n;
    double *gold = base_xmalloc((size_t)(s->n > 0 ? s->n : 1) * sizeof(double));
    double *cos = base_xmalloc((size_t)(s->n > 0 ? s->n : 1) * sizeof(double));
    int64_t m = 0;
    for (int64_t i = 0; i < s->n; i++) {
        int64_t a = find_fold_lim(v, s->w1[i], N), b = find_fold_lim(v, s->w2[i], N);
        if (a < 0 || b < 0) continue;
        gold[m] = s->score[i];
        cos[m++] = dot_unit(v, a, b);
    }
    out->pairs = s->n;
    out->used = m;
    out->oov = s->n - m;
    out->spearman = train_spearman(gold, cos, m);
    out->pearson = train_pearson(gold, cos, m);
    free(gold);
    free(cos);
    return 0;
}

/* ---- neighbours ----------------------------------------------------------------------------- */

int train_nearest(const train_vectors *v, const float *query, const int64_t *exclude, int nexclude, int k,
                  train_neighbor *out) {
    if (k <= 0 || v->n == 0) return 0;
    int64_t d = v->dim;
    float *qn = base_xmalloc((size_t)d * sizeof(float));
    double s = 0;
    for (int64_t j = 0; j < d; j++) s += (double)query[j] * query[j];
    float inv = s > 0 ? (float)(1.0 / sqrt(s)) : 0.0f;
    for (int64_t j = 0; j < d; j++) qn[j] = query[j] * inv;
    float *sc = base_xmalloc((size_t)v->n * sizeof(float)); /* [n] cosines */
    cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)v->n, (int)d, 1.0f, v->unit, (int)d, qn, 1, 0.0f, sc, 1);
    int cnt = 0;
    for (int64_t i = 0; i < v->n; i++) {
        bool skip = false;
        for (int e = 0; e < nexclude; e++) skip |= exclude[e] == i;
        /* a duplicate row is shadowed by its word's first row: listing it would show a word (or the
         * query itself) twice */
        if (v->ndup > 0 && !skip && train_vectors_find(v, v->words[i], false) != i) skip = true;
        if (skip) continue;
        float c = sc[i];
        if (cnt == k && !(c > out[k - 1].cosine)) continue;
        int p = cnt < k ? cnt++ : k - 1; /* insertion into the sorted top-k */
        while (p > 0 && out[p - 1].cosine < c) {
            out[p] = out[p - 1];
            p--;
        }
        out[p] = (train_neighbor){i, c};
    }
    free(qn);
    free(sc);
    return cnt;
}

int train_similar(const train_vectors *v, const char *word, int k, train_neighbor *out) {
    int64_t id = train_vectors_find(v, word, true);
    if (id < 0) return base_error_set("'%s' is not in the vocabulary (%lld words)", word, (long long)v->n);
    return train_nearest(v, v->unit + id * v->dim, &id, 1, k, out);
}

int train_analogy_query(const train_vectors *v, const char *a, const char *b, const char *c, int k,
                        train_neighbor *out) {
    const char *w[3] = {a, b, c};
    int64_t id[3];
    for (int i = 0; i < 3; i++)
        if ((id[i] = train_vectors_find(v, w[i], true)) < 0)
            return base_error_set("'%s' is not in the vocabulary (%lld words)", w[i], (long long)v->n);
    int64_t d = v->dim;
    float *q = base_xmalloc((size_t)d * sizeof(float));
    const float *ua = v->unit + id[0] * d, *ub = v->unit + id[1] * d, *uc = v->unit + id[2] * d;
    for (int64_t j = 0; j < d; j++) q[j] = ua[j] - ub[j] + uc[j];
    int r = train_nearest(v, q, id, 3, k, out);
    free(q);
    return r;
}
