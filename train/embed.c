/* embed.c — pooled and per-token contextual vectors from a trained text model, and their files (embed.h). */
#include "embed.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../data/npy.h"

int train_pool_parse(const char *s, train_pool *out) {
    if (s && !strcmp(s, "mean")) *out = TRAIN_POOL_MEAN;
    else if (s && !strcmp(s, "cls")) *out = TRAIN_POOL_CLS;
    else if (s && !strcmp(s, "first-last")) *out = TRAIN_POOL_FIRST_LAST;
    else return base_error_set("--pool: expected mean, cls or first-last, got '%s'", s ? s : "");
    return 0;
}

static int check_layer(const train_lm_model *m, int *layer) {
    int L = (int)m->net.cfg.layers;
    if (*layer == -1) *layer = L;
    if (*layer < 1 || *layer > L) return base_error_set("--layer %d: the model has layers 1..%d", *layer, L);
    return 0;
}

int train_embed_texts(const train_lm_model *m, const char *const *texts, const size_t *lens, int64_t n,
                      train_pool pool, int layer, int64_t batch, float *out) {
    if (check_layer(m, &layer)) return -1;
    if (batch < 1) batch = 32;
    int64_t D = m->net.cfg.d, Tmax = m->net.cfg.max_seq;
    int32_t pad_id = m->tok->special[DATA_TOK_PAD];
    ag_graph *g = ag_graph_new(0);
    ag_set_training(g, false);
    ag_no_grad_begin(g);
    int32_t **ids = base_xcalloc((size_t)batch, sizeof *ids);
    int64_t *nt = base_xcalloc((size_t)batch, sizeof *nt);
    int32_t *x = base_xmalloc((size_t)(batch * Tmax) * sizeof(int32_t)); /* [B, T] */
    int32_t *pad = base_xmalloc((size_t)(batch * Tmax) * sizeof(int32_t));
    int rc = 0;
    for (int64_t s0 = 0; s0 < n && !rc; s0 += batch) {
        int64_t B = n - s0 < batch ? n - s0 : batch, T = 1;
        for (int64_t b = 0; b < B && !rc; b++) {
            rc = train_lm_encode_for_model(m, texts[s0 + b], lens[s0 + b], &ids[b], &nt[b]);
            if (!rc && nt[b] == 0) { /* an empty LM text: one [PAD]-free position is still needed; use [SEP] */
                free(ids[b]);
                ids[b] = base_xmalloc(sizeof(int32_t));
                ids[b][0] = m->tok->special[DATA_TOK_SEP];
                nt[b] = 1;
            }
            if (!rc && nt[b] > T) T = nt[b];
        }
        if (rc) {
            base_error_prefix("text %lld", (long long)s0 + 1);
            for (int64_t b = 0; b < B; b++) free(ids[b]), ids[b] = NULL;
            break;
        }
        for (int64_t b = 0; b < B; b++)
            for (int64_t t = 0; t < T; t++) {
                bool real = t < nt[b];
                x[b * T + t] = real ? ids[b][t] : pad_id;
                pad[b * T + t] = !real;
            }
        ag_tensor *xt = ag_from_i32(g, AG_SHAPE(B, T), x), *pt = ag_from_i32(g, AG_SHAPE(B, T), pad);
        ag_tensor *h = nn_text_model_hidden(g, &m->net, xt, pt, layer); /* [B, T, D] */
        ag_tensor *h1 = pool == TRAIN_POOL_FIRST_LAST ? nn_text_model_hidden(g, &m->net, xt, pt, 1) : NULL;
        if (!h || (pool == TRAIN_POOL_FIRST_LAST && !h1)) rc = -1;
        for (int64_t b = 0; b < B && !rc; b++) {
            float *o = out + (s0 + b) * D;
            const float *hb = ag_f32(h) + b * T * D, *h1b = h1 ? ag_f32(h1) + b * T * D : NULL;
            if (pool == TRAIN_POOL_CLS) {
                memcpy(o, hb, (size_t)D * sizeof(float));
                continue;
            }
            memset(o, 0, (size_t)D * sizeof(float));
            for (int64_t t = 0; t < nt[b]; t++)
                for (int64_t j = 0; j < D; j++)
                    o[j] += h1b ? 0.5f * (hb[t * D + j] + h1b[t * D + j]) : hb[t * D + j];
            for (int64_t j = 0; j < D; j++) o[j] /= (float)nt[b];
        }
        for (int64_t b = 0; b < B; b++) free(ids[b]), ids[b] = NULL;
        ag_graph_reset(g);
    }
    free(ids);
    free(nt);
    free(x);
    free(pad);
    ag_graph_free(g);
    return rc;
}

int train_embed_tokens(const train_lm_model *m, const char *text, size_t len, int layer, int32_t **ids_out,
                       float **vecs, int64_t *nt) {
    if (check_layer(m, &layer)) return -1;
    int32_t *ids = NULL;
    int64_t n = 0;
    if (train_lm_encode_for_model(m, text, len, &ids, &n)) return -1;
    if (n == 0) {
        free(ids);
        return base_error_set("the text has no tokens");
    }
    int64_t D = m->net.cfg.d;
    ag_graph *g = ag_graph_new(0);
    ag_set_training(g, false);
    ag_no_grad_begin(g);
    ag_tensor *h = nn_text_model_hidden(g, &m->net, ag_from_i32(g, AG_SHAPE(1, n), ids), NULL, layer);
    int rc = -1;
    if (h) {
        *vecs = base_xmalloc((size_t)(n * D) * sizeof(float));
        memcpy(*vecs, ag_f32(h), (size_t)(n * D) * sizeof(float));
        *ids_out = ids;
        *nt = n;
        rc = 0;
    } else {
        free(ids);
    }
    ag_graph_free(g);
    return rc;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

int train_embed_write(const char *path, const float *v, int64_t n, int64_t d, const char *const *labels) {
    if (ends_with(path, ".npy")) return data_npy_write(path, "<f4", 2, (const int64_t[]){n, d}, v);
    if (ends_with(path, ".h5") || ends_with(path, ".hdf5")) {
        ckpt_writer *w = ckpt_writer_begin(path);
        if (!w) return -1;
        if (ckpt_put_f32_array(w, "/embeddings", v, 2, (const int64_t[]){n, d})) {
            ckpt_writer_abort(w);
            return -1;
        }
        return ckpt_writer_commit(w);
    }
    char tmp[4096];
    base_temp_name(tmp, sizeof tmp, path);
    FILE *f = fopen(tmp, "w");
    if (!f) return base_error_set("%s: cannot write: %s", path, strerror(errno));
    fprintf(f, "%lld %lld\n", (long long)n, (long long)d);
    for (int64_t i = 0; i < n; i++) {
        if (labels) fputs(labels[i], f);
        else fprintf(f, "%lld", (long long)i);
        for (int64_t j = 0; j < d; j++) fprintf(f, " %.6g", (double)v[i * d + j]);
        fputc('\n', f);
    }
    int e = ferror(f) ? EIO : 0;
    if (fclose(f) != 0 && !e) e = errno;
    if (e || rename(tmp, path) != 0) {
        if (!e) e = errno;
        unlink(tmp);
        return base_error_set("%s: cannot write: %s", path, strerror(e));
    }
    return 0;
}
