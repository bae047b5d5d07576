/* export.c — word2vec text/binary export and validated import, projector TSV export. */
#include "export.h"

#include "../autograd/ag.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---------------------------------------------------------------------------------------------
 * Writing: to "<path>.tmp.<pid>", renamed into place on success so a failed export never leaves
 * a half-written file under the real name.
 * ------------------------------------------------------------------------------------------ */
typedef struct {
    FILE *f;
    char *tmp;
    const char *path;
    char *buf; /* stdio buffer, 1 MiB */
} out_file;

static int out_open(out_file *o, const char *path) {
    memset(o, 0, sizeof *o);
    o->path = path;
    size_t n = strlen(path) + 32;
    o->tmp = base_xmalloc(n);
    base_temp_name(o->tmp, n, path);
    base_remove_stale_temps(path); /* the remains of killed exports to the same path */
    o->f = fopen(o->tmp, "wb");
    if (!o->f) {
        int e = errno;
        base_error_set("%s: cannot create %s: %s", path, o->tmp, strerror(e));
        free(o->tmp);
        return -1;
    }
    o->buf = base_xmalloc(1 << 20);
    setvbuf(o->f, o->buf, _IOFBF, 1 << 20);
    return 0;
}

/* Closes; on ok renames into place, otherwise removes the temp file. Returns 0 or -1. */
static int out_close(out_file *o, bool ok) {
    int rc = 0;
    if (ferror(o->f)) ok = false, rc = base_error_set("%s: write error: %s", o->path, strerror(errno));
    if (fclose(o->f) != 0 && ok) ok = false, rc = base_error_set("%s: write error on close: %s", o->path, strerror(errno));
    if (ok && rename(o->tmp, o->path) != 0) {
        rc = base_error_set("%s: cannot rename %s into place: %s", o->path, o->tmp, strerror(errno));
        ok = false;
    }
    if (!ok) {
        unlink(o->tmp);
        if (rc == 0) rc = -1;
    }
    free(o->tmp);
    free(o->buf);
    return rc;
}

/* Words in word2vec files are separated by spaces and records by newlines. */
static int check_words(const char *path, const char *const *words, int64_t n, const char *bad) {
    for (int64_t i = 0; i < n; i++) {
        if (!words[i] || !words[i][0])
            return base_error_set("%s: word %lld is empty: cannot be exported", path, (long long)i);
        if (strpbrk(words[i], bad))
            return base_error_set("%s: word %lld ('%s') contains whitespace: cannot be exported", path,
                                (long long)i, words[i]);
    }
    return 0;
}

int ckpt_export_word2vec(const char *path, const char *const *words, const float *vecs, int64_t n,
                         int64_t dim, bool binary) {
    if (n < 0 || dim <= 0) return base_error_set("%s: cannot export %lld x %lld vectors", path, (long long)n, (long long)dim);
    if (check_words(path, words, n, " \t\n\r") < 0) return -1;
    out_file o;
    if (out_open(&o, path) < 0) return -1;
    /* Exactly word2vec.c's loop: fprintf "%lld %lld\n"; per word "%s " then "%lf " or raw floats,
     * then "\n". */
    fprintf(o.f, "%lld %lld\n", (long long)n, (long long)dim);
    for (int64_t a = 0; a < n && !ferror(o.f); a++) {
        fprintf(o.f, "%s ", words[a]);
        const float *v = vecs + a * dim;
        if (binary) fwrite(v, sizeof(float), (size_t)dim, o.f);
        else
            for (int64_t b = 0; b < dim; b++) fprintf(o.f, "%lf ", (double)v[b]);
        fprintf(o.f, "\n");
    }
    return out_close(&o, true);
}

int ckpt_export_projector_tsv(const char *vectors_path, const char *metadata_path,
                              const char *const *words, const float *vecs, int64_t n, int64_t dim) {
    if (n < 0 || dim <= 0) return base_error_set("%s: cannot export %lld x %lld vectors", vectors_path, (long long)n, (long long)dim);
    if (check_words(metadata_path, words, n, "\t\n\r") < 0) return -1;
    out_file v, m;
    if (out_open(&v, vectors_path) < 0) return -1;
    if (out_open(&m, metadata_path) < 0) {
        char keep[2048];
        snprintf(keep, sizeof keep, "%s", base_error_msg());
        out_close(&v, false);
        return base_error_set("%s", keep);
    }
    for (int64_t a = 0; a < n; a++) {
        const float *x = vecs + a * dim;
        for (int64_t b = 0; b < dim; b++) fprintf(v.f, b ? "\t%.9g" : "%.9g", (double)x[b]);
        fputc('\n', v.f);
        fprintf(m.f, "%s\n", words[a]);
    }
    if (out_close(&v, true) < 0) {
        char keep[2048];
        snprintf(keep, sizeof keep, "%s", base_error_msg());
        out_close(&m, false);
        return base_error_set("%s", keep);
    }
    return out_close(&m, true);
}

/* ---------------------------------------------------------------------------------------------
 * Import
 * ------------------------------------------------------------------------------------------ */
void ckpt_embeddings_free(ckpt_embeddings *e) {
    if (!e) return;
    if (e->words)
        for (int64_t i = 0; i < e->n; i++) free(e->words[i]);
    free(e->words);
    free(e->vecs);
    memset(e, 0, sizeof *e);
}

/* Parses the header line "V D\n" (spaces/tabs allowed around, \r tolerated). */
static int parse_header(const char *path, FILE *f, int64_t *n, int64_t *dim) {
    char line[256];
    if (!fgets(line, sizeof line, f)) return base_error_set("%s: line 1: empty file, expected header 'words dims'", path);
    size_t len = strlen(line);
    if (len == sizeof line - 1 && line[len - 1] != '\n')
        return base_error_set("%s: line 1: header longer than %zu bytes, expected 'words dims'", path, sizeof line - 2);
    long long a, b;
    char extra;
    int k = sscanf(line, "%lld %lld %c", &a, &b, &extra);
    if (k != 2) {
        line[strcspn(line, "\r\n")] = 0;
        return base_error_set("%s: line 1: expected header 'words dims', got '%.60s'", path, line);
    }
    if (a < 0 || b <= 0 || b > (1 << 20) || a > ((int64_t)1 << 40) / b)
        return base_error_set("%s: line 1: header says %lld words of %lld dims: out of range", path, a, b);
    *n = a;
    *dim = b;
    return 0;
}

/* Appends one word (heap copy) at row i. */
static void put_word(ckpt_embeddings *e, int64_t i, const char *w, size_t len) {
    e->words[i] = base_xmalloc(len + 1);
    memcpy(e->words[i], w, len);
    e->words[i][len] = 0;
}

static int import_text(const char *path, FILE *f, ckpt_embeddings *e) {
    char *line = NULL;
    size_t cap = 0;
    int64_t lineno = 1, i = 0;
    ssize_t len;
    int rc = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (len == 0) {
            rc = base_error_set("%s: line %lld: empty line, expected 'word v1 ... v%lld'", path, (long long)lineno, (long long)e->dim);
            break;
        }
        if (i == e->n) {
            rc = base_error_set("%s: line %lld: more words than the header's %lld", path, (long long)lineno, (long long)e->n);
            break;
        }
        size_t wl = strcspn(line, " \t");
        if (wl == 0) {
            rc = base_error_set("%s: line %lld: line starts with whitespace, expected a word", path, (long long)lineno);
            break;
        }
        put_word(e, i, line, wl);
        char *p = line + wl;
        float *v = e->vecs + i * e->dim;
        int64_t k = 0;
        for (;;) {
            while (*p == ' ' || *p == '\t') p++;
            if (!*p) break;
            char *end;
            errno = 0;
            double x = strtod(p, &end);
            if (end == p || (*end && *end != ' ' && *end != '\t')) {
                size_t tl = strcspn(p, " \t");
                rc = base_error_set("%s: line %lld: value %lld of word '%s': expected a number, got '%.*s'", path,
                                  (long long)lineno, (long long)k + 1, e->words[i], (int)(tl > 40 ? 40 : tl), p);
                break;
            }
            if (!isfinite(x) || fabs(x) > 3.4e38) {
                rc = base_error_set("%s: line %lld: value %lld of word '%s': %.*s is not a finite float", path,
                                  (long long)lineno, (long long)k + 1, e->words[i], (int)(end - p > 40 ? 40 : end - p), p);
                break;
            }
            if (k < e->dim) v[k] = (float)x;
            k++;
            p = end;
        }
        if (rc < 0) {
            i++;
            break;
        }
        i++;
        if (k != e->dim) {
            rc = base_error_set("%s: line %lld: word '%s' has %lld values, header says %lld", path, (long long)lineno,
                              e->words[i - 1], (long long)k, (long long)e->dim);
            break;
        }
    }
    free(line);
    if (rc == 0 && ferror(f)) rc = base_error_set("%s: read error: %s", path, strerror(errno));
    if (rc == 0 && i < e->n)
        rc = base_error_set("%s: line %lld: file ends after %lld words, header says %lld", path, (long long)lineno + 1,
                          (long long)i, (long long)e->n);
    e->n = i; /* rows with words, for freeing */
    return rc;
}

static int import_binary(const char *path, FILE *f, ckpt_embeddings *e) {
    size_t wcap = 256;
    char *w = base_xmalloc(wcap);
    int64_t i = 0, want = e->n;
    int rc = 0;
    size_t vbytes = (size_t)e->dim * sizeof(float);
    for (; i < want; i++) {
        long long at = (long long)ftello(f);
        int c;
        /* word2vec.c ends each record with '\n'; its reader skips it before the next word. */
        while ((c = getc(f)) == '\n') at++;
        size_t wl = 0;
        while (c != EOF && c != ' ') {
            if (c == '\n' || c == 0) {
                rc = base_error_set("%s: byte %lld: %s inside word %lld, expected 'word ' then %zu bytes", path,
                                  (long long)ftello(f) - 1, c ? "newline" : "NUL byte", (long long)i + 1, vbytes);
                break;
            }
            if (wl + 1 >= wcap) {
                if (wcap >= (1u << 20)) {
                    rc = base_error_set("%s: byte %lld: word %lld longer than 1 MiB: not a word2vec binary file?",
                                      path, at, (long long)i + 1);
                    break;
                }
                w = base_xrealloc(w, wcap *= 2);
            }
            w[wl++] = (char)c;
            c = getc(f);
        }
        if (rc < 0) break;
        if (c == EOF) {
            rc = base_error_set("%s: byte %lld: file ends after %lld words, header says %lld", path,
                              (long long)ftello(f), (long long)i, (long long)want);
            break;
        }
        if (wl == 0) {
            rc = base_error_set("%s: byte %lld: empty word %lld", path, at, (long long)i + 1);
            break;
        }
        put_word(e, i, w, wl);
        float *v = e->vecs + i * e->dim;
        size_t got = fread(v, 1, vbytes, f);
        if (got != vbytes) {
            rc = base_error_set("%s: byte %lld: truncated in the vector of word %lld ('%s'): expected %zu bytes, got %zu",
                              path, (long long)ftello(f), (long long)i + 1, e->words[i], vbytes, got);
            i++;
            break;
        }
        for (int64_t k = 0; k < e->dim; k++)
            if (!isfinite(v[k])) {
                rc = base_error_set("%s: byte %lld: value %lld of word '%s' is not finite", path,
                                  (long long)ftello(f) - (long long)vbytes + (long long)k * 4, (long long)k + 1, e->words[i]);
                break;
            }
        if (rc < 0) {
            i++;
            break;
        }
    }
    if (rc == 0) {
        /* Only newlines may follow the last record. */
        int c;
        while ((c = getc(f)) == '\n' || c == '\r' || c == ' ') {}
        if (c != EOF)
            rc = base_error_set("%s: byte %lld: data after the %lld words the header announces", path,
                              (long long)ftello(f) - 1, (long long)want);
        else if (ferror(f)) rc = base_error_set("%s: read error: %s", path, strerror(errno));
    }
    free(w);
    e->n = i;
    return rc;
}

/* AUTO: the first record is text if its bytes after the word are all characters a "%lf " line
 * can contain (a binary float vector essentially never is). */
static bool looks_text(FILE *f, int64_t dim) {
    long pos = ftell(f);
    int c;
    while ((c = getc(f)) != EOF && c != ' ' && c != '\n') {}
    bool text = true;
    int64_t limit = dim * 4 < 4096 ? dim * 4 : 4096;
    for (int64_t k = 0; k < limit && (c = getc(f)) != EOF; k++) {
        if (c == '\n') break;
        if (!strchr("0123456789+-.eEinfaINFA \t\r", c)) {
            text = false;
            break;
        }
    }
    fseek(f, pos, SEEK_SET);
    return text;
}

int ckpt_import_word2vec(const char *path, ckpt_w2v_mode mode, ckpt_embeddings *out) {
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) return base_error_set("%s: cannot open: %s", path, strerror(errno));
    char *buf = base_xmalloc(1 << 20);
    setvbuf(f, buf, _IOFBF, 1 << 20);
    ckpt_embeddings e = {0};
    int rc = parse_header(path, f, &e.n, &e.dim);
    if (rc == 0) {
        if (mode == CKPT_W2V_AUTO) mode = looks_text(f, e.dim) ? CKPT_W2V_TEXT : CKPT_W2V_BINARY;
        /* Memory is sized from the header: reject headers the file cannot possibly back. */
        fseek(f, 0, SEEK_END);
        long long size = (long long)ftello(f);
        fseek(f, 0, SEEK_SET);
        parse_header(path, f, &e.n, &e.dim);
        long long min_bytes = (long long)e.n * (mode == CKPT_W2V_BINARY ? 2 + 4 * e.dim : 2 + 2 * e.dim);
        /* Only for headers that would allocate a lot: smaller files get the parser's precise
         * line/byte message instead. */
        if (min_bytes > size && e.n * e.dim * (int64_t)sizeof(float) > (64 << 20)) {
            rc = base_error_set("%s: header says %lld words of %lld dims, but the file has only %lld bytes "
                              "(at least %lld needed)", path, (long long)e.n, (long long)e.dim, size, min_bytes);
        }
    }
    if (rc == 0) {
        e.words = base_xcalloc((size_t)(e.n ? e.n : 1), sizeof *e.words);
        e.vecs = base_xmalloc((size_t)(e.n ? e.n : 1) * (size_t)e.dim * sizeof(float));
        rc = mode == CKPT_W2V_BINARY ? import_binary(path, f, &e) : import_text(path, f, &e);
    }
    fclose(f);
    free(buf);
    if (rc < 0) {
        ckpt_embeddings_free(&e);
        return -1;
    }
    *out = e;
    return 0;
}

int64_t ckpt_embeddings_find(const ckpt_embeddings *e, const char *w) {
    for (int64_t i = 0; i < e->n; i++)
        if (strcmp(e->words[i], w) == 0) return i;
    return -1;
}

static uint64_t fnv1a(const char *s) {
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

int64_t ckpt_embeddings_init_table(const ckpt_embeddings *e, const char *const *vocab, int64_t n,
                                   float *table, int64_t dim) {
    if (dim != e->dim)
        return base_error_set("imported vectors have %lld dims, the table has %lld", (long long)e->dim, (long long)dim);
    /* Open-addressing hash of the imported words: slot -> row or -1; first occurrence wins. */
    int64_t size = 16;
    while (size < 2 * e->n) size *= 2;
    int64_t *slot = base_xmalloc((size_t)size * sizeof *slot);
    for (int64_t i = 0; i < size; i++) slot[i] = -1;
    for (int64_t i = 0; i < e->n; i++) {
        int64_t h = (int64_t)(fnv1a(e->words[i]) & (uint64_t)(size - 1));
        while (slot[h] >= 0 && strcmp(e->words[slot[h]], e->words[i]) != 0) h = (h + 1) & (size - 1);
        if (slot[h] < 0) slot[h] = i;
    }
    int64_t copied = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t h = (int64_t)(fnv1a(vocab[i]) & (uint64_t)(size - 1));
        while (slot[h] >= 0 && strcmp(e->words[slot[h]], vocab[i]) != 0) h = (h + 1) & (size - 1);
        if (slot[h] < 0) continue;
        memcpy(table + i * dim, e->vecs + slot[h] * dim, (size_t)dim * sizeof(float));
        copied++;
    }
    free(slot);
    return copied;
}
