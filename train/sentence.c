/* sentence.c — sentence vectors from text models or averaged word vectors; STS Spearman; the logistic-regression probe (sentence.h). */
#include "sentence.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool train_sent_is_model(const char *path) {
    /* an HDF5 checkpoint with /model/kind is a text model; anything else goes to the vectors loader */
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    unsigned char m[8] = {0};
    size_t k = fread(m, 1, 8, f);
    fclose(f);
    bool ckpt = k >= 8 && (!memcmp(m, "EMBER-CH", 8) || !memcmp(m, "\x89HDF\r\n\x1a\n", 8));
    if (!ckpt) return false;
    base_error_clear();
    ckpt_reader *r = ckpt_open(path);
    if (!r) return false;
    char *kind = NULL;
    bool yes = ckpt_get_string(r, "/model/kind", &kind) == 0;
    free(kind);
    ckpt_close(r);
    base_error_clear();
    return yes;
}

int train_sent_open(train_sent_encoder *e, const char *path, const char *pool) {
    memset(e, 0, sizeof *e);
    e->pool = TRAIN_POOL_MEAN;
    if (train_sent_is_model(path)) {
        if (train_lm_load_model(path, &e->lm)) return -1;
        e->is_model = true;
        e->dim = e->lm.net.cfg.d;
        char *own = NULL;
        ckpt_reader *r = ckpt_open(path);
        if (r && ckpt_get_string(r, "/contrastive/pool", &own) == 0 && !pool) pool = own;
        base_error_clear();
        int rc = pool ? train_pool_parse(pool, &e->pool) : 0;
        free(own);
        if (r) ckpt_close(r);
        if (rc) {
            train_sent_close(e);
            return -1;
        }
        snprintf(e->desc, sizeof e->desc, "%s model d %lld, %lld layers, %s pooling", nn_text_kind_name(e->lm.net.cfg.kind),
                 (long long)e->dim, (long long)e->lm.net.cfg.layers,
                 e->pool == TRAIN_POOL_CLS ? "cls" : e->pool == TRAIN_POOL_MEAN ? "mean" : "first-last");
        return 0;
    }
    if (train_vectors_load(&e->vec, path, NULL)) return -1;
    e->dim = e->vec->dim;
    snprintf(e->desc, sizeof e->desc, "word vectors %lld x %lld, mean of the sentence's words", (long long)e->vec->n,
             (long long)e->dim);
    return 0;
}

void train_sent_close(train_sent_encoder *e) {
    if (e->is_model) train_lm_model_free(&e->lm);
    train_vectors_free(e->vec);
    memset(e, 0, sizeof *e);
}

int64_t train_sent_words(const char *text, char **buf) {
    static const char *const digit[] = {"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"};
    size_t n = strlen(text), cap = 6 * n + 2, k = 0;
    char *out = base_xmalloc(cap);
    int64_t words = 0;
    bool in = false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c >= 'A' && c <= 'Z') c = (unsigned char)(c - 'A' + 'a');
        if (c >= 'a' && c <= 'z') {
            out[k++] = (char)c;
            in = true;
        } else {
            if (in) out[k++] = 0, words++;
            in = false;
            if (c >= '0' && c <= '9') {
                size_t l = strlen(digit[c - '0']);
                memcpy(out + k, digit[c - '0'], l + 1);
                k += l + 1;
                words++;
            }
        }
    }
    if (in) out[k++] = 0, words++;
    *buf = out;
    return words;
}

int train_sent_embed(const train_sent_encoder *e, const char *const *texts, int64_t n, float *out, int64_t *words,
                     int64_t *oov) {
    if (e->is_model) {
        size_t *lens = base_xmalloc((size_t)(n > 0 ? n : 1) * sizeof *lens);
        for (int64_t i = 0; i < n; i++) lens[i] = strlen(texts[i]);
        int rc = train_embed_texts(&e->lm, texts, lens, n, e->pool, -1, 64, out);
        free(lens);
        return rc;
    }
    int64_t D = e->dim, nw = 0, no = 0;
    for (int64_t i = 0; i < n; i++) {
        float *o = out + i * D;
        memset(o, 0, (size_t)D * sizeof(float));
        char *buf;
        int64_t m = train_sent_words(texts[i], &buf), used = 0;
        const char *w = buf;
        for (int64_t j = 0; j < m; j++, w += strlen(w) + 1) {
            int64_t id = train_vectors_find(e->vec, w, false);
            if (id < 0) {
                no++;
                continue;
            }
            const float *v = e->vec->vec + id * D;
            for (int64_t t = 0; t < D; t++) o[t] += v[t];
            used++;
        }
        nw += m;
        if (used)
            for (int64_t t = 0; t < D; t++) o[t] /= (float)used;
        free(buf);
    }
    if (words) *words = nw;
    if (oov) *oov = no;
    return 0;
}

int train_sent_sts(const train_sent_encoder *e, const char *const *a, const char *const *b, const float *gold,
                   int64_t n, train_sts_result *out, double *cos) {
    memset(out, 0, sizeof *out);
    int64_t D = e->dim;
    float *va = base_xmalloc((size_t)(n * D) * sizeof(float)), *vb = base_xmalloc((size_t)(n * D) * sizeof(float));
    int64_t w1 = 0, o1 = 0, w2 = 0, o2 = 0;
    int rc = train_sent_embed(e, a, n, va, &w1, &o1);
    if (!rc) rc = train_sent_embed(e, b, n, vb, &w2, &o2);
    if (!rc) {
        double *x = base_xmalloc((size_t)n * sizeof(double)), *y = base_xmalloc((size_t)n * sizeof(double));
        for (int64_t i = 0; i < n; i++) {
            double c = train_cosine(va + i * D, vb + i * D, D);
            x[i] = isnan(c) ? 0.0 : c; /* a sentence without known words: no similarity */
            y[i] = gold[i];
        }
        if (cos) memcpy(cos, x, (size_t)n * sizeof(double));
        out->pairs = n;
        out->spearman = 100.0 * train_spearman(x, y, n);
        out->pearson = 100.0 * train_pearson(x, y, n);
        out->words = w1 + w2;
        out->oov = o1 + o2;
        free(x);
        free(y);
    }
    free(va);
    free(vb);
    return rc;
}

/* ---- logistic-regression probe -------------------------------------------------------------------- */

/* Cholesky solve of the SPD system A x = b in place (A [n, n] row-major is overwritten by its
 * factor; b [n] becomes x). -1 when A is not positive definite (cannot happen with λ > 0). */
static int chol_solve(double *A, double *b, int64_t n) {
    for (int64_t j = 0; j < n; j++) {
        double s = A[j * n + j];
        for (int64_t k = 0; k < j; k++) s -= A[j * n + k] * A[j * n + k];
        if (!(s > 0)) return -1;
        double d = sqrt(s);
        A[j * n + j] = d;
        for (int64_t i = j + 1; i < n; i++) {
            double t = A[i * n + j];
            for (int64_t k = 0; k < j; k++) t -= A[i * n + k] * A[j * n + k];
            A[i * n + j] = t / d;
        }
    }
    for (int64_t i = 0; i < n; i++) { /* L y = b */
        double t = b[i];
        for (int64_t k = 0; k < i; k++) t -= A[i * n + k] * b[k];
        b[i] = t / A[i * n + i];
    }
    for (int64_t i = n - 1; i >= 0; i--) { /* Lᵀ x = y */
        double t = b[i];
        for (int64_t k = i + 1; k < n; k++) t -= A[k * n + i] * b[k];
        b[i] = t / A[i * n + i];
    }
    return 0;
}

/* Fits w [d + 1] (the last entry the bias, not penalised) minimising mean log-loss + λ/2 ‖w[:d]‖²
 * over x [n, d] (standardised) by Newton's method; returns the iterations used. */
static int fit_logreg(const float *x, const int32_t *y, int64_t n, int64_t d, double lambda, double *w) {
    int64_t p = d + 1;
    double *H = base_xmalloc((size_t)(p * p) * sizeof(double)), *gr = base_xmalloc((size_t)p * sizeof(double));
    float *xw = base_xmalloc((size_t)(n * d) * sizeof(float)); /* [n, d] rows scaled by √(p(1 − p)) */
    float *Hf = base_xmalloc((size_t)(d * d) * sizeof(float));  /* [d, d] Xᵀ S X */
    double *s = base_xmalloc((size_t)n * sizeof(double));
    int it;
    for (it = 1; it <= 50; it++) {
        memset(gr, 0, (size_t)p * sizeof(double));
        double hb = 0, *hxb = H; /* the bias row is accumulated in gr-like sums below */
        double *cross = base_xcalloc((size_t)d, sizeof(double)); /* Σ s_i x_i: the bias column of H */
        for (int64_t i = 0; i < n; i++) {
            const float *xi = x + i * d;
            double z = w[d];
            for (int64_t j = 0; j < d; j++) z += w[j] * xi[j];
            double pr = 1.0 / (1.0 + exp(-z)), r = pr - y[i], si = pr * (1 - pr);
            s[i] = si;
            for (int64_t j = 0; j < d; j++) gr[j] += r * xi[j], cross[j] += si * xi[j];
            gr[d] += r;
            hb += si;
            float sq = (float)sqrt(si);
            for (int64_t j = 0; j < d; j++) xw[i * d + j] = sq * xi[j];
        }
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)d, (int)n, 1.0f, xw, (int)d, 0.0f, Hf, (int)d);
        for (int64_t j = 0; j < d; j++)
            for (int64_t k = 0; k < d; k++) {
                int64_t a = j < k ? j : k, b = j < k ? k : j;
                hxb[j * p + k] = Hf[a * d + b] / (double)n + (j == k ? lambda : 0);
            }
        for (int64_t j = 0; j < d; j++) {
            gr[j] = gr[j] / (double)n + lambda * w[j];
            hxb[j * p + d] = hxb[d * p + j] = cross[j] / (double)n;
        }
        gr[d] /= (double)n;
        hxb[d * p + d] = hb / (double)n + 1e-10;
        free(cross);
        double gnorm = 0;
        for (int64_t j = 0; j < p; j++) gnorm += gr[j] * gr[j];
        if (sqrt(gnorm) < 1e-7) break;
        if (chol_solve(H, gr, p)) break;
        for (int64_t j = 0; j < p; j++) w[j] -= gr[j];
    }
    free(H);
    free(gr);
    free(xw);
    free(Hf);
    free(s);
    return it;
}

static double accuracy(const float *x, const int32_t *y, int64_t n, int64_t d, const double *w) {
    int64_t c = 0;
    for (int64_t i = 0; i < n; i++) {
        double z = w[d];
        for (int64_t j = 0; j < d; j++) z += w[j] * x[i * d + j];
        c += (z > 0) == (y[i] != 0);
    }
    return n ? 100.0 * (double)c / (double)n : NAN;
}

static float *standardise(const float *x, int64_t n, int64_t d, const double *mu, const double *sd) {
    float *o = base_xmalloc((size_t)(n * d > 0 ? n * d : 1) * sizeof(float));
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < d; j++) o[i * d + j] = (float)((x[i * d + j] - mu[j]) / sd[j]);
    return o;
}

int train_probe_logreg(const float *xtr, const int32_t *ytr, int64_t ntr, const float *xdev, const int32_t *ydev,
                       int64_t ndev, const float *xte, const int32_t *yte, int64_t nte, int64_t d,
                       train_probe_result *out) {
    memset(out, 0, sizeof *out);
    if (ntr < 2 || ndev < 1) return base_error_set("probe: need at least 2 training and 1 dev example");
    for (int64_t i = 0; i < ntr; i++)
        if (ytr[i] != 0 && ytr[i] != 1) return base_error_set("probe: training label %d at %lld: expected 0 or 1", ytr[i], (long long)i);
    double *mu = base_xcalloc((size_t)d, sizeof(double)), *sd = base_xcalloc((size_t)d, sizeof(double));
    for (int64_t i = 0; i < ntr; i++)
        for (int64_t j = 0; j < d; j++) mu[j] += xtr[i * d + j];
    for (int64_t j = 0; j < d; j++) mu[j] /= (double)ntr;
    for (int64_t i = 0; i < ntr; i++)
        for (int64_t j = 0; j < d; j++) sd[j] += (xtr[i * d + j] - mu[j]) * (xtr[i * d + j] - mu[j]);
    for (int64_t j = 0; j < d; j++) sd[j] = sd[j] > 0 ? sqrt(sd[j] / (double)ntr) : 1.0;
    float *tr = standardise(xtr, ntr, d, mu, sd), *dv = standardise(xdev, ndev, d, mu, sd),
          *te = standardise(xte, nte, d, mu, sd);
    static const double grid[] = {1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0};
    out->ngrid = (int)(sizeof grid / sizeof grid[0]);
    double *w = base_xmalloc((size_t)(d + 1) * sizeof(double)), *best = base_xmalloc((size_t)(d + 1) * sizeof(double));
    double best_dev = -1;
    for (int g = 0; g < out->ngrid; g++) {
        memset(w, 0, (size_t)(d + 1) * sizeof(double));
        int it = fit_logreg(tr, ytr, ntr, d, grid[g], w);
        double acc = accuracy(dv, ydev, ndev, d, w);
        out->grid_l2[g] = grid[g];
        out->grid_dev[g] = acc;
        if (acc > best_dev) { /* ties keep the weaker regulariser seen first */
            best_dev = acc;
            memcpy(best, w, (size_t)(d + 1) * sizeof(double));
            out->l2 = grid[g];
            out->iters = it;
        }
    }
    out->dev_acc = best_dev;
    out->train_acc = accuracy(tr, ytr, ntr, d, best);
    out->test_acc = nte ? accuracy(te, yte, nte, d, best) : NAN;
    free(w);
    free(best);
    free(tr);
    free(dv);
    free(te);
    free(mu);
    free(sd);
    return 0;
}
