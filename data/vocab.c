/* vocab.c — vocabularies: open-addressing hash (load <= 0.5), counting, pruning, canonical order, save/read. */
#define _GNU_SOURCE /* qsort_r */
#include "vocab.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../base/base.h"
#include "corpus.h"

/* FNV-1a over the bytes, then a murmur3 finaliser so the low bits (the slot index) mix all bytes. */
static inline uint64_t vocab_hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        h ^= *p;
        h *= 1099511628211ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

data_vocab *data_vocab_new(void) {
    data_vocab *v = base_xcalloc(1, sizeof *v);
    v->cap = 1024;
    v->words = base_xmalloc((size_t)v->cap * sizeof *v->words);
    v->counts = base_xmalloc((size_t)v->cap * sizeof *v->counts);
    v->hash_size = 2048; /* power of two, >= 2·cap so the load stays <= 0.5 */
    v->hash = base_xmalloc((size_t)v->hash_size * sizeof *v->hash);
    memset(v->hash, 0xff, (size_t)v->hash_size * sizeof *v->hash);
    return v;
}

void data_vocab_free(data_vocab *v) {
    if (!v) return;
    for (int64_t i = 0; i < v->n; i++) free(v->words[i]);
    free(v->words);
    free(v->counts);
    free(v->hash);
    free(v);
}

/* Rebuilds the hash for ids 0..n-1 at a size that keeps the load <= 0.5. Returns 0, or -1 when
 * the larger table cannot be allocated (the old one is kept, still valid for ids 0..n-1). */
static int vocab_rehash(data_vocab *v) {
    int64_t size = 2048;
    while (size < 2 * v->n + 2) size <<= 1;
    if (size != v->hash_size) {
        int32_t *h = malloc((size_t)size * sizeof *h);
        if (!h && v->hash_size < size) return -1;
        if (h) {
            free(v->hash);
            v->hash = h;
            v->hash_size = size;
        } else {
            size = v->hash_size; /* the current, larger table serves: shrinking never fails */
        }
    }
    memset(v->hash, 0xff, (size_t)size * sizeof *v->hash);
    uint64_t mask = (uint64_t)size - 1;
    for (int64_t i = 0; i < v->n; i++) {
        uint64_t s = vocab_hash_str(v->words[i]) & mask;
        while (v->hash[s] >= 0) s = (s + 1) & mask;
        v->hash[s] = (int32_t)i;
    }
    return 0;
}

/* vocab_rehash after v shrank (words dropped): the current table is large enough, so this cannot
 * fail (vocab_rehash falls back to it when a smaller one cannot be allocated). */
static void vocab_rehash_shrunk(data_vocab *v) {
    BASE_CHECK(vocab_rehash(v) == 0, "vocab_rehash_shrunk", "rehashing %" PRId64 " words into a table of %" PRId64
               " slots failed", v->n, v->hash_size);
}

int64_t data_vocab_bytes(const data_vocab *v) {
    return v->str_bytes + v->cap * (int64_t)(sizeof *v->words + sizeof *v->counts) +
           v->hash_size * (int64_t)sizeof *v->hash;
}

static int32_t vocab_oom(const data_vocab *v) {
    base_error_set("out of memory: the vocabulary has %" PRId64 " distinct words, %.1f MB so far (a corpus with "
                   "fewer distinct words, or more memory, is needed)",
                   v->n, (double)data_vocab_bytes(v) / 1e6);
    return -1;
}

int32_t data_vocab_find(const data_vocab *v, const char *w) {
    uint64_t mask = (uint64_t)v->hash_size - 1;
    uint64_t s = vocab_hash_str(w) & mask;
    for (;;) {
        int32_t id = v->hash[s];
        if (id < 0) return -1;
        if (strcmp(v->words[id], w) == 0) return id;
        s = (s + 1) & mask;
    }
}

int32_t data_vocab_add(data_vocab *v, const char *w, int64_t count) {
    uint64_t mask = (uint64_t)v->hash_size - 1;
    uint64_t s = vocab_hash_str(w) & mask;
    for (;;) {
        int32_t id = v->hash[s];
        if (id < 0) break;
        if (strcmp(v->words[id], w) == 0) {
            v->counts[id] += count;
            v->total += count;
            return id;
        }
        s = (s + 1) & mask;
    }
    if (v->n >= INT32_MAX) {
        base_error_set("the vocabulary exceeds %d distinct words", INT32_MAX);
        return -1;
    }
    if (v->n == v->cap) {
        /* v->cap grows only once both arrays have: a failure leaves v valid, w not added */
        char **words = realloc(v->words, (size_t)v->cap * 2 * sizeof *words);
        if (!words) return vocab_oom(v);
        v->words = words;
        int64_t *counts = realloc(v->counts, (size_t)v->cap * 2 * sizeof *counts);
        if (!counts) return vocab_oom(v);
        v->counts = counts;
        v->cap *= 2;
    }
    size_t len = strlen(w) + 1;
    char *copy = malloc(len);
    if (!copy) return vocab_oom(v);
    memcpy(copy, w, len);
    int32_t id = (int32_t)v->n++;
    v->words[id] = copy;
    v->counts[id] = count;
    if (2 * v->n + 2 > v->hash_size) {
        if (vocab_rehash(v) != 0) {
            v->n--;
            free(copy);
            return vocab_oom(v);
        }
    } else {
        v->hash[s] = id;
    }
    v->str_bytes += (int64_t)len;
    v->total += count;
    return id;
}

int32_t data_vocab_xadd(data_vocab *v, const char *w, int64_t count) {
    int32_t id = data_vocab_add(v, w, count);
    BASE_CHECK(id >= 0, "data_vocab_xadd", "%s", base_error_msg());
    return id;
}

/* Canonical order: "</s>" first, then count descending, then bytes ascending. */
static int vocab_cmp(const void *pa, const void *pb, void *ctx) {
    const data_vocab *v = ctx;
    int32_t a = *(const int32_t *)pa, b = *(const int32_t *)pb;
    int ea = strcmp(v->words[a], DATA_EOS) == 0, eb = strcmp(v->words[b], DATA_EOS) == 0;
    if (ea != eb) return eb - ea;
    if (v->counts[a] != v->counts[b]) return v->counts[a] > v->counts[b] ? -1 : 1;
    return strcmp(v->words[a], v->words[b]); /* strcmp compares as unsigned char, like memcmp */
}

/* Keeps the words with keep(count) (and "</s>"), in their current order; frees the others. */
static int64_t vocab_drop_below(data_vocab *v, int64_t min_count) {
    int64_t j = 0, dropped = 0;
    v->total = 0;
    for (int64_t i = 0; i < v->n; i++) {
        if (v->counts[i] >= min_count || strcmp(v->words[i], DATA_EOS) == 0) {
            v->words[j] = v->words[i];
            v->counts[j] = v->counts[i];
            v->total += v->counts[i];
            j++;
        } else {
            free(v->words[i]);
            dropped++;
        }
    }
    v->n = j;
    return dropped;
}

int data_vocab_finish(data_vocab *v, int64_t min_count) {
    vocab_drop_below(v, min_count);
    size_t n = (size_t)(v->n ? v->n : 1);
    int32_t *order = malloc(n * sizeof *order);
    char **w = malloc(n * sizeof *w);
    int64_t *c = malloc(n * sizeof *c);
    if (!order || !w || !c) {
        free(order);
        free(w);
        free(c);
        vocab_oom(v);
        vocab_rehash_shrunk(v); /* freeable, findable */
        return -1;
    }
    for (int64_t i = 0; i < v->n; i++) order[i] = (int32_t)i;
    qsort_r(order, (size_t)v->n, sizeof *order, vocab_cmp, v);
    for (int64_t i = 0; i < v->n; i++) {
        w[i] = v->words[order[i]];
        c[i] = v->counts[order[i]];
    }
    free(order);
    free(v->words);
    free(v->counts);
    v->words = w;
    v->counts = c;
    v->cap = (int64_t)n;
    vocab_rehash_shrunk(v);
    return 0;
}

int data_vocab_build(data_vocab **out, const char *corpus_path, int64_t min_count, int64_t max_size, FILE *log) {
    *out = NULL;
    data_corpus *c = data_corpus_open(corpus_path);
    if (!c) return -1;
    data_vocab *v = data_vocab_new();
    data_vocab_xadd(v, DATA_EOS, 0); /* word2vec.c keeps "</s>" at id 0 even when it never occurs */
    char word[DATA_MAX_WORD];
    int64_t read_words = 0, prune_k = 1;
    FILE *lg = log ? log : stderr; /* pruning changes the counts: it is always reported */
    int len;
    while ((len = data_corpus_next(c, word, sizeof word)) > 0) {
        if (data_vocab_add(v, word, 1) < 0) {
            base_error_prefix("%s: after %" PRId64 " words", corpus_path, read_words);
            len = -1;
            break;
        }
        read_words++;
        if (max_size > 0 && v->n > max_size) {
            /* word2vec.c's ReduceVocab: drop words of count <= k, k growing by one per prune. */
            int64_t dropped = vocab_drop_below(v, prune_k + 1);
            vocab_rehash_shrunk(v);
            fprintf(lg, "vocab: pruned %" PRId64 " words of count <= %" PRId64 " at %" PRId64 " words read\n", dropped,
                    prune_k, read_words);
            prune_k++;
        }
    }
    if (len < 0) {
        data_corpus_close(c);
        data_vocab_free(v);
        return -1;
    }
    data_corpus_close(c);
    int64_t distinct = v->n - 1;
    if (data_vocab_finish(v, min_count) != 0) {
        base_error_prefix("%s: sorting the vocabulary", corpus_path);
        data_vocab_free(v);
        return -1;
    }
    if (v->n <= 1) {
        base_error_set("%s: no word occurs at least %" PRId64 " times (min-count %" PRId64 "); %" PRId64
                     " distinct words read",
                     corpus_path, min_count, min_count, distinct);
        data_vocab_free(v);
        return -1;
    }
    *out = v;
    return 0;
}

int data_vocab_save(const data_vocab *v, const char *path) {
    for (int64_t i = 0; i < v->n; i++) {
        if (!v->words[i][0] || strpbrk(v->words[i], " \t\n\r\v\f"))
            return base_error_set("%s: word %" PRId64 " (\"%s\") is empty or contains whitespace; the vocabulary "
                                "format cannot hold it",
                                path, i, v->words[i]);
    }
    FILE *f = fopen(path, "wb");
    if (!f) return base_error_set("%s: cannot write vocabulary: %s", path, strerror(errno));
    for (int64_t i = 0; i < v->n; i++) fprintf(f, "%s %" PRId64 "\n", v->words[i], v->counts[i]);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) return base_error_set("%s: write failed: %s", path, strerror(errno));
    return 0;
}

int data_vocab_read(data_vocab **out, const char *path) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return base_error_set("%s: cannot open vocabulary: %s", path, strerror(errno));
    data_vocab *v = data_vocab_new();
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int64_t lineno = 0;
    int rc = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (len == 0 || line[len - 1] != '\n') {
            rc = base_error_set("%s: line %" PRId64 ": expected \"word count\" ending in a newline, got a truncated "
                              "last line",
                              path, lineno);
            break;
        }
        line[--len] = '\0';
        if (len > 0 && line[len - 1] == '\r') line[--len] = '\0'; /* CRLF files */
        if ((size_t)len != strlen(line)) {
            rc = base_error_set("%s: line %" PRId64 ": expected text, got a NUL byte", path, lineno);
            break;
        }
        char *sp = strchr(line, ' ');
        if (!sp || sp == line) {
            rc = base_error_set("%s: line %" PRId64 ": expected \"word count\", got \"%.60s\"", path, lineno, line);
            break;
        }
        *sp = '\0';
        const char *num = sp + 1;
        char *endp = NULL;
        errno = 0;
        long long cnt = (*num >= '0' && *num <= '9') || *num == '-' ? strtoll(num, &endp, 10) : 0;
        if (!endp || endp == num || *endp != '\0' || errno == ERANGE) {
            rc = base_error_set("%s: line %" PRId64 ": expected an integer count after \"%.60s\", got \"%.60s\"", path,
                              lineno, line, num);
            break;
        }
        /* word2vec.c writes "</s> 0" for corpora without newlines, so "</s>" alone may count 0. */
        if (cnt < 0 || (cnt == 0 && strcmp(line, DATA_EOS) != 0)) {
            rc = base_error_set("%s: line %" PRId64 ": expected a count > 0 for \"%.60s\", got %lld", path, lineno, line,
                              cnt);
            break;
        }
        if (data_vocab_find(v, line) >= 0) {
            rc = base_error_set("%s: line %" PRId64 ": duplicate word \"%.60s\" (first on line %d)", path, lineno, line,
                              data_vocab_find(v, line) + 1);
            break;
        }
        if (data_vocab_add(v, line, cnt) < 0) {
            rc = base_error_prefix("%s: line %" PRId64, path, lineno);
            break;
        }
    }
    if (rc == 0 && ferror(f)) rc = base_error_set("%s: read failed after line %" PRId64, path, lineno);
    if (rc == 0 && v->n == 0) rc = base_error_set("%s: expected \"word count\" lines, got an empty file", path);
    free(line);
    fclose(f);
    if (rc != 0) {
        data_vocab_free(v);
        return -1;
    }
    *out = v; /* ids follow the file's line order, so they match a model saved with this file */
    return 0;
}
