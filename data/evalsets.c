/* evalsets.c — readers for analogy questions, word-similarity pairs and TSV sentence sets (see evalsets.h). */
#include "data/evalsets.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "base/base.h"

/* Reads the whole (possibly gzip) file into a NUL-terminated heap buffer; *len excludes the NUL.
 * Evaluation sets are small (a few MB), so one buffer that later holds every parsed string is
 * simpler than streaming. Returns NULL with an error set. */
char *data_slurp(const char *path, size_t *len) {
    gzFile f = gzopen(path, "rb");
    if (!f) {
        base_error_set("%s: cannot open: %s", path, errno ? strerror(errno) : "out of memory");
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = base_xmalloc(cap + 1);
    for (;;) {
        if (n == cap) buf = base_xrealloc(buf, (cap *= 2) + 1);
        size_t want = cap - n;
        if (want > (1u << 30)) want = 1u << 30;
        int r = gzread(f, buf + n, (unsigned)want);
        if (r < 0) {
            int e;
            const char *m = gzerror(f, &e);
            base_error_set("%s: read error at byte %zu: %s", path, n, m);
            gzclose(f);
            free(buf);
            return NULL;
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    gzclose(f);
    buf[n] = 0;
    if (memchr(buf, 0, n)) {
        base_error_set("%s: expected a text file, got a NUL byte at offset %zu", path,
                     (size_t)((char *)memchr(buf, 0, n) - buf));
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

/* Line cursor over a slurped buffer: splits in place (writes NUL over '\n' and a trailing '\r'). */
typedef struct {
    char *p, *end;
    int64_t lineno; /* 1-based number of the line last returned */
} line_iter;

static void line_iter_init(line_iter *it, char *buf, size_t len) {
    it->p = buf;
    it->end = buf + len;
    it->lineno = 0;
    if (len >= 3 && (unsigned char)buf[0] == 0xEF && (unsigned char)buf[1] == 0xBB && (unsigned char)buf[2] == 0xBF)
        it->p += 3; /* UTF-8 byte order mark */
}

static char *line_next(line_iter *it) {
    if (it->p >= it->end) return NULL;
    char *s = it->p;
    char *nl = memchr(s, '\n', (size_t)(it->end - s));
    if (nl) {
        *nl = 0;
        it->p = nl + 1;
    } else {
        it->p = it->end;
        nl = it->end;
    }
    if (nl > s && nl[-1] == '\r') nl[-1] = 0;
    it->lineno++;
    return s;
}

static int is_blank(const char *s) {
    for (; *s; s++)
        if (*s != ' ' && *s != '\t') return 0;
    return 1;
}

/* Splits s in place on any run of spaces/tabs into at most max fields; returns the count of
 * fields found (which may exceed max: extra fields are counted, not stored). */
static int split_ws(char *s, char **fields, int max) {
    int n = 0;
    char *p = s;
    for (;;) {
        while (*p == ' ' || *p == '\t') p++;
        if (!*p) break;
        char *start = p;
        while (*p && *p != ' ' && *p != '\t') p++;
        if (n < max) fields[n] = start;
        n++;
        if (*p) *p++ = 0;
    }
    return n;
}

/* Splits s in place on single TABs (empty fields allowed); same counting rule as split_ws. */
static int split_tab(char *s, char **fields, int max) {
    int n = 0;
    char *p = s;
    for (;;) {
        if (n < max) fields[n] = p;
        n++;
        char *t = strchr(p, '\t');
        if (!t) break;
        *t = 0;
        p = t + 1;
    }
    return n;
}

/* Parses a whole field as a finite float; returns 0 on success. */
static int parse_float(const char *s, float *out) {
    while (*s == ' ') s++;
    if (!*s) return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    while (*end == ' ') end++;
    if (*end || errno == ERANGE || v != v || v > 3.4e38 || v < -3.4e38) return -1;
    *out = (float)v;
    return 0;
}

/* A short, printable excerpt of a bad line for error messages (static buffer). */
static const char *excerpt(const char *s) {
    static _Thread_local char buf[64];
    size_t n = strlen(s);
    if (n < sizeof buf - 4) {
        memcpy(buf, s, n + 1);
    } else {
        memcpy(buf, s, sizeof buf - 4);
        memcpy(buf + sizeof buf - 4, "...", 4);
    }
    for (char *p = buf; *p; p++)
        if (*p == '\t') *p = ' ';
    return buf;
}

/* ---- analogy -------------------------------------------------------------------------------- */

int data_analogy_read(data_analogy_set **out, const char *path) {
    *out = NULL;
    size_t len;
    char *buf = data_slurp(path, &len);
    if (!buf) return -1;
    data_analogy_set *s = base_xcalloc(1, sizeof *s);
    s->pool = buf;
    int64_t cap = 1024, scap = 16;
    s->words = base_xmalloc((size_t)cap * 4 * sizeof(char *));
    s->section = base_xmalloc((size_t)cap * sizeof(int32_t));
    s->section_names = base_xmalloc((size_t)scap * sizeof(char *));
    int32_t cur = -1;
    line_iter it;
    line_iter_init(&it, buf, len);
    char *line;
    while ((line = line_next(&it))) {
        if (is_blank(line)) continue;
        char *p = line;
        while (*p == ' ' || *p == '\t') p++;
        if (*p == ':') {
            p++;
            while (*p == ' ' || *p == '\t') p++;
            char *e = p + strlen(p);
            while (e > p && (e[-1] == ' ' || e[-1] == '\t')) *--e = 0;
            if (!*p) {
                base_error_set("%s:%lld: expected a section name after ':', got an empty header", path,
                             (long long)it.lineno);
                data_analogy_free(s);
                return -1;
            }
            if (s->n_sections == scap) s->section_names = base_xrealloc(s->section_names, (size_t)(scap *= 2) * sizeof(char *));
            s->section_names[s->n_sections] = p;
            cur = s->n_sections++;
            continue;
        }
        char copy[64];
        snprintf(copy, sizeof copy, "%s", excerpt(line));
        char *f[4];
        int nf = split_ws(line, f, 4);
        if (nf != 4) {
            base_error_set("%s:%lld: expected 4 words (a b c d) or a ': section' header, got %d word%s: '%s'", path,
                         (long long)it.lineno, nf, nf == 1 ? "" : "s", copy);
            data_analogy_free(s);
            return -1;
        }
        if (cur < 0) { /* questions before any header */
            s->section_names[s->n_sections] = "(unnamed)";
            cur = s->n_sections++;
        }
        if (s->n == cap) {
            cap *= 2;
            s->words = base_xrealloc(s->words, (size_t)cap * 4 * sizeof(char *));
            s->section = base_xrealloc(s->section, (size_t)cap * sizeof(int32_t));
        }
        memcpy(s->words + 4 * s->n, f, sizeof f);
        s->section[s->n++] = cur;
    }
    if (s->n == 0) {
        base_error_set("%s: expected analogy questions ('a b c d' lines), got none in %lld lines", path,
                     (long long)it.lineno);
        data_analogy_free(s);
        return -1;
    }
    *out = s;
    return 0;
}

void data_analogy_free(data_analogy_set *s) {
    if (!s) return;
    free(s->words);
    free(s->section);
    free(s->section_names);
    free(s->pool);
    free(s);
}

/* ---- word similarity ------------------------------------------------------------------------ */

static char *base_name(const char *path) {
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    char *n = base_xstrdup(b);
    size_t l = strlen(n);
    if (l > 3 && !strcmp(n + l - 3, ".gz")) n[l -= 3] = 0;
    if (l > 4 && (!strcmp(n + l - 4, ".txt") || !strcmp(n + l - 4, ".tsv"))) n[l - 4] = 0;
    return n;
}

int data_wordsim_read(data_wordsim_set **out, const char *path) {
    *out = NULL;
    size_t len;
    char *buf = data_slurp(path, &len);
    if (!buf) return -1;
    data_wordsim_set *s = base_xcalloc(1, sizeof *s);
    s->pool = buf;
    s->name = base_name(path);
    int64_t cap = 256;
    s->w1 = base_xmalloc((size_t)cap * sizeof(char *));
    s->w2 = base_xmalloc((size_t)cap * sizeof(char *));
    s->score = base_xmalloc((size_t)cap * sizeof(float));
    line_iter it;
    line_iter_init(&it, buf, len);
    char *line;
    while ((line = line_next(&it))) {
        if (is_blank(line)) continue;
        char copy[64];
        snprintf(copy, sizeof copy, "%s", excerpt(line));
        char *f[3];
        int nf = split_ws(line, f, 3);
        float v;
        if (nf != 3) {
            base_error_set("%s:%lld: expected 3 fields 'word1<TAB>word2<TAB>score', got %d: '%s'", path,
                         (long long)it.lineno, nf, copy);
            goto fail;
        }
        if (parse_float(f[2], &v)) {
            base_error_set("%s:%lld: expected a number as the score (field 3), got '%s'", path, (long long)it.lineno,
                         f[2]);
            goto fail;
        }
        if (s->n == cap) {
            cap *= 2;
            s->w1 = base_xrealloc(s->w1, (size_t)cap * sizeof(char *));
            s->w2 = base_xrealloc(s->w2, (size_t)cap * sizeof(char *));
            s->score = base_xrealloc(s->score, (size_t)cap * sizeof(float));
        }
        s->w1[s->n] = f[0];
        s->w2[s->n] = f[1];
        s->score[s->n++] = v;
    }
    if (s->n == 0) {
        base_error_set("%s: expected word pairs 'word1<TAB>word2<TAB>score', got none", path);
        goto fail;
    }
    *out = s;
    return 0;
fail:
    data_wordsim_free(s);
    return -1;
}

void data_wordsim_free(data_wordsim_set *s) {
    if (!s) return;
    free(s->w1);
    free(s->w2);
    free(s->score);
    free(s->name);
    free(s->pool);
    free(s);
}

/* ---- sentence pairs ------------------------------------------------------------------------- */

int data_pairs_read(data_sentence_pairs **out, const char *path, data_pairs_format fmt) {
    *out = NULL;
    size_t len;
    char *buf = data_slurp(path, &len);
    if (!buf) return -1;
    if (fmt == DATA_PAIRS_AUTO) {
        const char *p = buf;
        if (len >= 3 && (unsigned char)p[0] == 0xEF) p += 3;
        int tabs = 0;
        for (const char *q = p; q < buf + len && *q != '\n'; q++) tabs += *q == '\t';
        fmt = !strncmp(p, "pair_ID", 7) ? DATA_PAIRS_SICK : tabs == 2 ? DATA_PAIRS_PLAIN : DATA_PAIRS_STSB;
    }
    data_sentence_pairs *s = base_xcalloc(1, sizeof *s);
    s->pool = buf;
    int64_t cap = 1024;
    s->a = base_xmalloc((size_t)cap * sizeof(char *));
    s->b = base_xmalloc((size_t)cap * sizeof(char *));
    s->score = base_xmalloc((size_t)cap * sizeof(float));
    s->split = base_xmalloc((size_t)cap * sizeof(char *));
    line_iter it;
    line_iter_init(&it, buf, len);
    char *line;
    int sick = fmt == DATA_PAIRS_SICK;
    if (sick) {
        line = line_next(&it);
        if (!line || strncmp(line, "pair_ID\t", 8)) {
            base_error_set("%s:1: expected the SICK header 'pair_ID<TAB>sentence_A<TAB>...', got '%s'", path,
                         line ? excerpt(line) : "end of file");
            goto fail;
        }
        char *h[12];
        int nh = split_tab(line, h, 12);
        if (nh < 5 || strcmp(h[4], "relatedness_score")) {
            base_error_set("%s:1: expected 'relatedness_score' as header field 5, got '%s'", path,
                         nh >= 5 ? h[4] : "(missing)");
            goto fail;
        }
    }
    while ((line = line_next(&it))) {
        if (is_blank(line)) continue;
        char copy[64];
        snprintf(copy, sizeof copy, "%s", excerpt(line));
        char *f[12];
        int nf = split_tab(line, f, 12);
        int plain = fmt == DATA_PAIRS_PLAIN;
        int si = plain ? 2 : 4, ai = sick ? 1 : plain ? 0 : 5, bi = sick ? 2 : plain ? 1 : 6;
        if (plain && nf != 3) {
            base_error_set("%s:%lld: expected 3 TAB-separated fields (sentence1, sentence2, score), got %d: '%s'", path,
                           (long long)it.lineno, nf, copy);
            goto fail;
        }
        if (!sick && !plain && nf != 7 && nf != 9) {
            base_error_set("%s:%lld: expected 7 or 9 TAB-separated fields (genre, file, year, id, score, "
                         "sentence1, sentence2[, source1, source2]), got %d: '%s'",
                         path, (long long)it.lineno, nf, copy);
            goto fail;
        }
        if (sick && nf < 5) {
            base_error_set("%s:%lld: expected at least 5 TAB-separated fields (pair_ID, sentence_A, sentence_B, "
                         "entailment_label, relatedness_score, ...), got %d: '%s'",
                         path, (long long)it.lineno, nf, copy);
            goto fail;
        }
        float v;
        if (parse_float(f[si], &v)) {
            base_error_set("%s:%lld: expected a number as the %s (field %d), got '%s'", path, (long long)it.lineno,
                         sick ? "relatedness score" : plain ? "score" : "similarity score", si + 1, excerpt(f[si]));
            goto fail;
        }
        if (s->n == cap) {
            cap *= 2;
            s->a = base_xrealloc(s->a, (size_t)cap * sizeof(char *));
            s->b = base_xrealloc(s->b, (size_t)cap * sizeof(char *));
            s->score = base_xrealloc(s->score, (size_t)cap * sizeof(float));
            s->split = base_xrealloc(s->split, (size_t)cap * sizeof(char *));
        }
        s->a[s->n] = f[ai];
        s->b[s->n] = f[bi];
        s->split[s->n] = sick && nf >= 12 ? f[11] : NULL;
        s->score[s->n++] = v;
    }
    if (s->n == 0) {
        base_error_set("%s: expected sentence pairs, got none", path);
        goto fail;
    }
    *out = s;
    return 0;
fail:
    data_pairs_free(s);
    return -1;
}

void data_pairs_free(data_sentence_pairs *s) {
    if (!s) return;
    free(s->a);
    free(s->b);
    free(s->score);
    free(s->split);
    free(s->pool);
    free(s);
}

/* ---- labelled sentences --------------------------------------------------------------------- */

int data_labeled_read(data_labeled_sentences **out, const char *path) {
    *out = NULL;
    size_t len;
    char *buf = data_slurp(path, &len);
    if (!buf) return -1;
    data_labeled_sentences *s = base_xcalloc(1, sizeof *s);
    s->pool = buf;
    int64_t cap = 1024;
    s->text = base_xmalloc((size_t)cap * sizeof(char *));
    s->label = base_xmalloc((size_t)cap * sizeof(int32_t));
    s->line = base_xmalloc((size_t)cap * sizeof(int64_t));
    int64_t blank = 0; /* the first blank line since the last row: an error unless only blank lines follow */
    line_iter it;
    line_iter_init(&it, buf, len);
    char *line = line_next(&it);
    if (!line || strncmp(line, "label\t", 6)) {
        base_error_set("%s:1: expected the header 'label<TAB>sentence', got '%s'", path,
                     line ? excerpt(line) : "end of file");
        goto fail;
    }
    while ((line = line_next(&it))) {
        if (is_blank(line)) {
            if (!blank) blank = it.lineno;
            continue;
        }
        if (blank) {
            base_error_set("%s:%lld: empty line (expected 'label<TAB>sentence'; only the end of the file may be blank)",
                           path, (long long)blank);
            goto fail;
        }
        char copy[64];
        snprintf(copy, sizeof copy, "%s", excerpt(line));
        char *f[2];
        int nf = split_tab(line, f, 2);
        if (nf != 2) {
            base_error_set("%s:%lld: expected 2 TAB-separated fields 'label<TAB>sentence', got %d: '%s'", path,
                         (long long)it.lineno, nf, copy);
            goto fail;
        }
        char *end;
        errno = 0;
        long lab = strtol(f[0], &end, 10);
        if (end == f[0] || *end || errno || lab < INT32_MIN || lab > INT32_MAX) {
            base_error_set("%s:%lld: expected an integer label in field 1, got '%s'", path, (long long)it.lineno,
                         excerpt(f[0]));
            goto fail;
        }
        if (is_blank(f[1])) {
            base_error_set("%s:%lld: the sentence (field 2) is empty", path, (long long)it.lineno);
            goto fail;
        }
        if (s->n == cap) {
            cap *= 2;
            s->text = base_xrealloc(s->text, (size_t)cap * sizeof(char *));
            s->label = base_xrealloc(s->label, (size_t)cap * sizeof(int32_t));
            s->line = base_xrealloc(s->line, (size_t)cap * sizeof(int64_t));
        }
        s->line[s->n] = it.lineno;
        s->text[s->n] = f[1];
        s->label[s->n++] = (int32_t)lab;
    }
    if (s->n == 0) {
        base_error_set("%s: expected labelled sentences after the header, got none", path);
        goto fail;
    }
    *out = s;
    return 0;
fail:
    data_labeled_free(s);
    return -1;
}

void data_labeled_free(data_labeled_sentences *s) {
    if (!s) return;
    free(s->text);
    free(s->label);
    free(s->line);
    free(s->pool);
    free(s);
}
