/* bpe.c — byte-level BPE: pre-tokeniser, incremental-pair-count trainer, cached parallel encoder, decoder, merge files. */
#include "bpe.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "../base/base.h"

/* ---- pre-tokeniser ------------------------------------------------------------------------------ */

enum { C_OTHER = 0, C_SPACE = 1, C_LETTER = 2, C_DIGIT = 3 };
/* Byte classes (GNU range designators); every byte not listed is C_OTHER (0). */
static const uint8_t k_cls[256] = {
    [' '] = C_SPACE, ['\t'] = C_SPACE, ['\n'] = C_SPACE, ['\r'] = C_SPACE, ['\v'] = C_SPACE, ['\f'] = C_SPACE,
    ['a' ... 'z'] = C_LETTER, ['A' ... 'Z'] = C_LETTER, [0x80 ... 0xff] = C_LETTER,
    ['0' ... '9'] = C_DIGIT,
};

/* Length of the piece that starts at t[p] (p < n); see bpe.h for the rule. */
static inline size_t piece_len(const uint8_t *t, size_t n, size_t p) {
    size_t q;
    uint8_t c0 = k_cls[t[p]];
    if (t[p] == ' ' && p + 1 < n && k_cls[t[p + 1]] != C_SPACE) {
        uint8_t c = k_cls[t[p + 1]];
        q = p + 2;
        while (q < n && k_cls[t[q]] == c) q++;
    } else if (c0 == C_SPACE) {
        q = p + 1;
        while (q < n && k_cls[t[q]] == C_SPACE) q++;
        if (q < n && t[q - 1] == ' ' && q - 1 > p) q--; /* the last space belongs to the next word */
    } else {
        q = p + 1;
        while (q < n && k_cls[t[q]] == c0) q++;
    }
    size_t len = q - p;
    return len > DATA_BPE_MAX_PIECE ? DATA_BPE_MAX_PIECE : len;
}

void data_bpe_pieces(const uint8_t *text, size_t n, void (*fn)(void *ctx, size_t start, size_t len), void *ctx) {
    for (size_t p = 0; p < n;) {
        size_t l = piece_len(text, n, p);
        fn(ctx, p, l);
        p += l;
    }
}

/* A piece boundary that does not depend on where the walk started: a space byte after a non-space
 * byte (every piece rule ends a non-space run there). Returns the last such p in (lo, hi], or 0. */
static size_t last_safe_split(const uint8_t *t, size_t lo, size_t hi) {
    for (size_t p = hi; p > lo; p--)
        if (k_cls[t[p]] == C_SPACE && k_cls[t[p - 1]] != C_SPACE) return p;
    return 0;
}
/* First such p in [lo, hi), or hi. */
static size_t next_safe_split(const uint8_t *t, size_t lo, size_t hi) {
    for (size_t p = lo < 1 ? 1 : lo; p < hi; p++)
        if (k_cls[t[p]] == C_SPACE && k_cls[t[p - 1]] != C_SPACE) return p;
    return hi;
}

/* ---- hash maps ------------------------------------------------------------------------------------ */

static inline uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}
static inline uint64_t pair_key(int32_t a, int32_t b) { return ((uint64_t)(uint32_t)a << 32) | (uint32_t)b; }

/* uint64 key -> int32 value, open addressing, load <= 0.5. Empty slots have val -1. */
typedef struct {
    uint64_t *keys; /* [size] */
    int32_t *vals;  /* [size] */
    int64_t size, n;
} pairmap;

static void pm_init(pairmap *m, int64_t want) {
    int64_t size = 1024;
    while (size < 2 * want + 2) size <<= 1;
    m->keys = base_xmalloc((size_t)size * sizeof *m->keys);
    m->vals = base_xmalloc((size_t)size * sizeof *m->vals);
    memset(m->vals, 0xff, (size_t)size * sizeof *m->vals);
    m->size = size;
    m->n = 0;
}
static void pm_free(pairmap *m) {
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}
static inline int32_t pm_get(const pairmap *m, uint64_t key) {
    uint64_t mask = (uint64_t)m->size - 1, s = mix64(key) & mask;
    for (;;) {
        int32_t v = m->vals[s];
        if (v < 0) return -1;
        if (m->keys[s] == key) return v;
        s = (s + 1) & mask;
    }
}
static void pm_put(pairmap *m, uint64_t key, int32_t val);
static void pm_grow(pairmap *m) {
    pairmap old = *m;
    pm_init(m, old.size); /* doubles */
    for (int64_t i = 0; i < old.size; i++)
        if (old.vals[i] >= 0) pm_put(m, old.keys[i], old.vals[i]);
    pm_free(&old);
}
static void pm_put(pairmap *m, uint64_t key, int32_t val) {
    if (2 * (m->n + 1) > m->size) pm_grow(m);
    uint64_t mask = (uint64_t)m->size - 1, s = mix64(key) & mask;
    while (m->vals[s] >= 0) {
        if (m->keys[s] == key) {
            m->vals[s] = val;
            return;
        }
        s = (s + 1) & mask;
    }
    m->keys[s] = key;
    m->vals[s] = val;
    m->n++;
}

static inline uint64_t bytes_hash(const uint8_t *p, size_t n) {
    uint64_t h = 1469598103934665603ull ^ n;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return mix64(h);
}

/* byte string -> int32 index (insertion order). Keys live in a byte pool. */
typedef struct {
    int32_t *slots;     /* [size] index or -1 */
    uint64_t *hashes;   /* [cap] per index */
    int64_t *off;       /* [cap] key offset in pool */
    int32_t *len;       /* [cap] key length */
    uint8_t *pool;
    int64_t pool_n, pool_cap;
    int64_t size, n, cap;
} bytemap;

static void bm_init(bytemap *m) {
    memset(m, 0, sizeof *m);
    m->size = 1 << 12;
    m->slots = base_xmalloc((size_t)m->size * sizeof *m->slots);
    memset(m->slots, 0xff, (size_t)m->size * sizeof *m->slots);
    m->cap = 1 << 11;
    m->hashes = base_xmalloc((size_t)m->cap * sizeof *m->hashes);
    m->off = base_xmalloc((size_t)m->cap * sizeof *m->off);
    m->len = base_xmalloc((size_t)m->cap * sizeof *m->len);
    m->pool_cap = 1 << 16;
    m->pool = base_xmalloc((size_t)m->pool_cap);
}
static void bm_free(bytemap *m) {
    free(m->slots);
    free(m->hashes);
    free(m->off);
    free(m->len);
    free(m->pool);
    memset(m, 0, sizeof *m);
}
static void bm_clear(bytemap *m) {
    memset(m->slots, 0xff, (size_t)m->size * sizeof *m->slots);
    m->n = 0;
    m->pool_n = 0;
}
/* Index of key, or -1; *slot_out gets the slot where it is or would go. */
static inline int32_t bm_find(const bytemap *m, const uint8_t *k, size_t n, uint64_t h, int64_t *slot_out) {
    uint64_t mask = (uint64_t)m->size - 1, s = h & mask;
    for (;;) {
        int32_t i = m->slots[s];
        if (i < 0) {
            *slot_out = (int64_t)s;
            return -1;
        }
        if (m->hashes[i] == h && (size_t)m->len[i] == n && memcmp(m->pool + m->off[i], k, n) == 0) {
            *slot_out = (int64_t)s;
            return i;
        }
        s = (s + 1) & mask;
    }
}
static int32_t bm_insert(bytemap *m, const uint8_t *k, size_t n, uint64_t h, int64_t slot) {
    if (m->n == m->cap) {
        m->cap *= 2;
        m->hashes = base_xrealloc(m->hashes, (size_t)m->cap * sizeof *m->hashes);
        m->off = base_xrealloc(m->off, (size_t)m->cap * sizeof *m->off);
        m->len = base_xrealloc(m->len, (size_t)m->cap * sizeof *m->len);
    }
    while (m->pool_n + (int64_t)n > m->pool_cap) {
        m->pool_cap *= 2;
        m->pool = base_xrealloc(m->pool, (size_t)m->pool_cap);
    }
    int32_t i = (int32_t)m->n++;
    memcpy(m->pool + m->pool_n, k, n);
    m->off[i] = m->pool_n;
    m->len[i] = (int32_t)n;
    m->hashes[i] = h;
    m->pool_n += (int64_t)n;
    m->slots[slot] = i;
    if (2 * m->n > m->size) { /* rehash from the stored hashes */
        free(m->slots);
        m->size *= 2;
        m->slots = base_xmalloc((size_t)m->size * sizeof *m->slots);
        memset(m->slots, 0xff, (size_t)m->size * sizeof *m->slots);
        uint64_t mask = (uint64_t)m->size - 1;
        for (int64_t j = 0; j < m->n; j++) {
            uint64_t s = m->hashes[j] & mask;
            while (m->slots[s] >= 0) s = (s + 1) & mask;
            m->slots[s] = (int32_t)j;
        }
    }
    return i;
}

/* ---- the tokenizer ------------------------------------------------------------------------------ */

struct data_bpe {
    int64_t n_merges;
    int32_t *merges;   /* [n_merges, 2] */
    pairmap rank;      /* pair key -> merge index */
    int64_t *tok_off;  /* [256 + n_merges] offset of the token's bytes in tok_bytes */
    int32_t *tok_len;  /* [256 + n_merges] */
    uint8_t *tok_bytes;
};

/* Builds the rank map and token byte table from merges (validated by the caller). */
static data_bpe *bpe_build(const int32_t *merges, int64_t m) {
    data_bpe *b = base_xcalloc(1, sizeof *b);
    b->n_merges = m;
    b->merges = base_xmalloc((size_t)(m ? m : 1) * 2 * sizeof *b->merges);
    if (m) memcpy(b->merges, merges, (size_t)m * 2 * sizeof *merges);
    pm_init(&b->rank, m);
    int64_t V = 256 + m, total = 256;
    b->tok_off = base_xmalloc((size_t)V * sizeof *b->tok_off);
    b->tok_len = base_xmalloc((size_t)V * sizeof *b->tok_len);
    for (int64_t i = 0; i < 256; i++) b->tok_len[i] = 1;
    for (int64_t i = 0; i < m; i++) {
        int64_t l = (int64_t)b->tok_len[merges[2 * i]] + b->tok_len[merges[2 * i + 1]];
        BASE_CHECK(l < INT32_MAX, "bpe_build", "token %lld is %lld bytes long", (long long)(256 + i), (long long)l);
        b->tok_len[256 + i] = (int32_t)l;
        total += l;
    }
    b->tok_bytes = base_xmalloc((size_t)total);
    for (int64_t i = 0; i < 256; i++) {
        b->tok_off[i] = i;
        b->tok_bytes[i] = (uint8_t)i;
    }
    int64_t at = 256;
    for (int64_t i = 0; i < m; i++) {
        int32_t x = merges[2 * i], y = merges[2 * i + 1];
        b->tok_off[256 + i] = at;
        memcpy(b->tok_bytes + at, b->tok_bytes + b->tok_off[x], (size_t)b->tok_len[x]);
        memcpy(b->tok_bytes + at + b->tok_len[x], b->tok_bytes + b->tok_off[y], (size_t)b->tok_len[y]);
        at += b->tok_len[256 + i];
        pm_put(&b->rank, pair_key(x, y), (int32_t)i);
    }
    return b;
}

data_bpe *data_bpe_new(void) { return bpe_build(NULL, 0); }

void data_bpe_free(data_bpe *b) {
    if (!b) return;
    free(b->merges);
    pm_free(&b->rank);
    free(b->tok_off);
    free(b->tok_len);
    free(b->tok_bytes);
    free(b);
}

int32_t data_bpe_vocab_size(const data_bpe *b) { return (int32_t)(256 + b->n_merges); }
int64_t data_bpe_n_merges(const data_bpe *b) { return b->n_merges; }
const int32_t *data_bpe_merges(const data_bpe *b) { return b->merges; }

const uint8_t *data_bpe_token_bytes(const data_bpe *b, int32_t id, int32_t *len) {
    if (id < 0 || id >= 256 + b->n_merges) return NULL;
    *len = b->tok_len[id];
    return b->tok_bytes + b->tok_off[id];
}

int data_bpe_from_merges(data_bpe **out, const int32_t *merges, int64_t n_merges) {
    *out = NULL;
    if (n_merges < 0 || n_merges > INT32_MAX - 256)
        return base_error_set("bpe merges: expected 0..%d rows, got %lld", INT32_MAX - 256, (long long)n_merges);
    pairmap seen;
    pm_init(&seen, n_merges);
    for (int64_t i = 0; i < n_merges; i++) {
        int32_t a = merges[2 * i], c = merges[2 * i + 1];
        if (a < 0 || c < 0 || a >= 256 + i || c >= 256 + i) {
            pm_free(&seen);
            return base_error_set("bpe merges: row %lld: expected ids in [0, %lld) (tokens made by earlier merges), "
                                "got (%d, %d)",
                                (long long)i, (long long)(256 + i), a, c);
        }
        int32_t prev = pm_get(&seen, pair_key(a, c));
        if (prev >= 0) {
            pm_free(&seen);
            return base_error_set("bpe merges: row %lld: pair (%d, %d) repeats row %d", (long long)i, a, c, prev);
        }
        pm_put(&seen, pair_key(a, c), (int32_t)i);
    }
    pm_free(&seen);
    *out = bpe_build(merges, n_merges);
    return 0;
}

/* ---- training ----------------------------------------------------------------------------------- */

typedef struct {
    int64_t count;
    int32_t a, b;
} heap_ent;

/* Max-heap order: count descending, then a ascending, then b ascending (the deterministic tie rule). */
static inline bool heap_before(const heap_ent *x, const heap_ent *y) {
    if (x->count != y->count) return x->count > y->count;
    if (x->a != y->a) return x->a < y->a;
    return x->b < y->b;
}

typedef struct {
    heap_ent *e;
    int64_t n, cap;
} heap;

static void heap_push(heap *h, heap_ent x) {
    if (h->n == h->cap) {
        h->cap = h->cap ? 2 * h->cap : 1024;
        h->e = base_xrealloc(h->e, (size_t)h->cap * sizeof *h->e);
    }
    int64_t i = h->n++;
    while (i > 0) {
        int64_t p = (i - 1) / 2;
        if (!heap_before(&x, &h->e[p])) break;
        h->e[i] = h->e[p];
        i = p;
    }
    h->e[i] = x;
}
static heap_ent heap_pop(heap *h) {
    heap_ent top = h->e[0], x = h->e[--h->n];
    int64_t i = 0;
    for (;;) {
        int64_t l = 2 * i + 1, r = l + 1, m = i;
        const heap_ent *best = &x;
        if (l < h->n && heap_before(&h->e[l], best)) {
            m = l;
            best = &h->e[l];
        }
        if (r < h->n && heap_before(&h->e[r], best)) m = r;
        if (m == i) break;
        h->e[i] = h->e[m];
        i = m;
    }
    if (h->n > 0) h->e[i] = x;
    return top;
}

/* Per-pair state of the trainer: count over all words and the words that (may) contain it. */
typedef struct {
    pairmap map;      /* pair key -> pair id */
    int64_t n, cap;
    int32_t *a, *b;   /* [cap] the pair */
    int64_t *count;   /* [cap] Σ word count × occurrences */
    int32_t **post;   /* [cap] word ids (may hold stale or repeated ids; checked when used) */
    int32_t *post_n, *post_cap;
    int64_t *stamp;   /* [cap] merge step that last touched the pair */
    int64_t *old;     /* [cap] count before that step */
    int32_t *touched; /* [cap] pairs touched in the current step */
    int64_t n_touched;
} pairs;

static int32_t pairs_id(pairs *P, int32_t a, int32_t b) {
    uint64_t k = pair_key(a, b);
    int32_t id = pm_get(&P->map, k);
    if (id >= 0) return id;
    if (P->n == P->cap) {
        P->cap = P->cap ? 2 * P->cap : 4096;
        size_t c = (size_t)P->cap;
        P->a = base_xrealloc(P->a, c * sizeof *P->a);
        P->b = base_xrealloc(P->b, c * sizeof *P->b);
        P->count = base_xrealloc(P->count, c * sizeof *P->count);
        P->post = base_xrealloc(P->post, c * sizeof *P->post);
        P->post_n = base_xrealloc(P->post_n, c * sizeof *P->post_n);
        P->post_cap = base_xrealloc(P->post_cap, c * sizeof *P->post_cap);
        P->stamp = base_xrealloc(P->stamp, c * sizeof *P->stamp);
        P->old = base_xrealloc(P->old, c * sizeof *P->old);
        P->touched = base_xrealloc(P->touched, c * sizeof *P->touched);
    }
    id = (int32_t)P->n++;
    P->a[id] = a;
    P->b[id] = b;
    P->count[id] = 0;
    P->post[id] = NULL;
    P->post_n[id] = P->post_cap[id] = 0;
    P->stamp[id] = -1;
    P->old[id] = 0;
    pm_put(&P->map, k, id);
    return id;
}

static void pairs_post(pairs *P, int32_t id, int32_t w) {
    if (P->post_n[id] > 0 && P->post[id][P->post_n[id] - 1] == w) return;
    if (P->post_n[id] == P->post_cap[id]) {
        P->post_cap[id] = P->post_cap[id] ? 2 * P->post_cap[id] : 4;
        P->post[id] = base_xrealloc(P->post[id], (size_t)P->post_cap[id] * sizeof **P->post);
    }
    P->post[id][P->post_n[id]++] = w;
}

/* count += d for pair (a, b), remembering its count before this step the first time it is touched. */
static int32_t pairs_add(pairs *P, int32_t a, int32_t b, int64_t d, int64_t step) {
    int32_t id = pairs_id(P, a, b);
    if (P->stamp[id] != step) {
        P->stamp[id] = step;
        P->old[id] = P->count[id];
        P->touched[P->n_touched++] = id;
    }
    P->count[id] += d;
    return id;
}

static void pairs_free(pairs *P) {
    for (int64_t i = 0; i < P->n; i++) free(P->post[i]);
    free(P->a);
    free(P->b);
    free(P->count);
    free(P->post);
    free(P->post_n);
    free(P->post_cap);
    free(P->stamp);
    free(P->old);
    free(P->touched);
    pm_free(&P->map);
}

int data_bpe_train(data_bpe **out, const uint8_t *text, size_t n, int32_t vocab_size, FILE *log) {
    *out = NULL;
    if (vocab_size < 256) return base_error_set("bpe: expected a vocabulary size >= 256 (the byte tokens), got %d", vocab_size);
    /* 1. Unique pieces and their counts: the "words" whose token sequences the merges rewrite. */
    bytemap pieces;
    bm_init(&pieces);
    int64_t wcap = 1 << 12;
    int64_t *wcnt = base_xcalloc((size_t)wcap, sizeof *wcnt);
    for (size_t p = 0; p < n;) {
        size_t l = piece_len(text, n, p);
        uint64_t h = bytes_hash(text + p, l);
        int64_t slot;
        int32_t i = bm_find(&pieces, text + p, l, h, &slot);
        if (i < 0) {
            i = bm_insert(&pieces, text + p, l, h, slot);
            if (i >= wcap) {
                wcnt = base_xrealloc(wcnt, (size_t)(wcap * 2) * sizeof *wcnt);
                memset(wcnt + wcap, 0, (size_t)wcap * sizeof *wcnt);
                wcap *= 2;
            }
        }
        wcnt[i]++;
        p += l;
    }
    const int64_t W = pieces.n;
    /* Token sequences of the words: tok[wstart[w] .. + wlen[w]), shrinking in place as merges apply. */
    int32_t *tok = base_xmalloc((size_t)(pieces.pool_n ? pieces.pool_n : 1) * sizeof *tok);
    int64_t *wstart = base_xmalloc((size_t)(W ? W : 1) * sizeof *wstart);
    int32_t *wlen = base_xmalloc((size_t)(W ? W : 1) * sizeof *wlen);
    int64_t *wstamp = base_xmalloc((size_t)(W ? W : 1) * sizeof *wstamp);
    for (int64_t w = 0; w < W; w++) {
        wstart[w] = pieces.off[w];
        wlen[w] = pieces.len[w];
        wstamp[w] = -1;
        for (int32_t i = 0; i < wlen[w]; i++) tok[wstart[w] + i] = pieces.pool[pieces.off[w] + i];
    }
    /* 2. Initial pair counts and postings. */
    pairs P;
    memset(&P, 0, sizeof P);
    pm_init(&P.map, 1 << 16);
    for (int64_t w = 0; w < W; w++) {
        const int32_t *t = tok + wstart[w];
        for (int32_t i = 0; i + 1 < wlen[w]; i++) {
            int32_t id = pairs_add(&P, t[i], t[i + 1], wcnt[w], 0);
            pairs_post(&P, id, (int32_t)w);
        }
    }
    heap H = {0};
    for (int64_t i = 0; i < P.n; i++) heap_push(&H, (heap_ent){P.count[i], P.a[i], P.b[i]});
    P.n_touched = 0;
    /* 3. Merges. */
    const int64_t want = (int64_t)vocab_size - 256;
    int32_t *merges = base_xmalloc((size_t)(want ? want : 1) * 2 * sizeof *merges);
    int64_t m = 0;
    while (m < want && H.n > 0) {
        heap_ent e = heap_pop(&H);
        int32_t pid = pm_get(&P.map, pair_key(e.a, e.b));
        if (pid < 0 || P.count[pid] != e.count) continue; /* stale entry: a newer one holds the count */
        if (e.count < 2) break;
        const int32_t a = e.a, b = e.b, z = (int32_t)(256 + m);
        const int64_t step = m + 1;
        merges[2 * m] = a;
        merges[2 * m + 1] = b;
        P.n_touched = 0;
        for (int32_t k = 0; k < P.post_n[pid]; k++) {
            int32_t w = P.post[pid][k];
            if (wstamp[w] == step) continue;
            wstamp[w] = step;
            int32_t *t = tok + wstart[w];
            int32_t L = wlen[w], i;
            for (i = 0; i + 1 < L; i++)
                if (t[i] == a && t[i + 1] == b) break;
            if (i + 1 >= L) continue; /* stale posting */
            const int64_t c = wcnt[w];
            for (i = 0; i + 1 < L; i++) pairs_add(&P, t[i], t[i + 1], -c, step);
            int32_t j = 0;
            for (i = 0; i < L;) {
                if (i + 1 < L && t[i] == a && t[i + 1] == b) {
                    t[j++] = z;
                    i += 2;
                } else {
                    t[j++] = t[i++];
                }
            }
            wlen[w] = L = j;
            for (i = 0; i + 1 < L; i++) {
                int32_t id = pairs_add(&P, t[i], t[i + 1], c, step);
                if (t[i] == z || t[i + 1] == z) pairs_post(&P, id, w);
            }
        }
        /* pid may have moved if the pair arrays grew: look it up again. */
        pid = pm_get(&P.map, pair_key(a, b));
        free(P.post[pid]);
        P.post[pid] = NULL;
        P.post_n[pid] = P.post_cap[pid] = 0;
        for (int64_t k = 0; k < P.n_touched; k++) {
            int32_t id = P.touched[k];
            if (P.count[id] != P.old[id] && P.count[id] > 0) heap_push(&H, (heap_ent){P.count[id], P.a[id], P.b[id]});
        }
        m++;
        if (log && m % 500 == 0)
            fprintf(log, "bpe: merge %lld/%lld: (%d, %d) -> %d, count %lld\n", (long long)m, (long long)want, a, b, z,
                    (long long)e.count);
    }
    if (log && m < want)
        fprintf(log, "bpe: stopped after %lld of %lld merges: no pair occurs twice in %zu bytes\n", (long long)m,
                (long long)want, n);
    free(H.e);
    pairs_free(&P);
    free(tok);
    free(wstart);
    free(wlen);
    free(wstamp);
    free(wcnt);
    bm_free(&pieces);
    *out = bpe_build(merges, m);
    free(merges);
    return 0;
}

/* Reads up to max_bytes (0 = all) of a plain/gzip file into a heap buffer. */
static int read_prefix(const char *path, int64_t max_bytes, uint8_t **buf, size_t *n, bool *whole) {
    *buf = NULL;
    *n = 0;
    gzFile g = gzopen(path, "rb");
    if (!g) return base_error_set("%s: cannot open: %s", path, strerror(errno ? errno : ENOENT));
    gzbuffer(g, 1 << 20);
    size_t cap = 1 << 20, len = 0;
    uint8_t *b = base_xmalloc(cap);
    *whole = false;
    for (;;) {
        if (max_bytes > 0 && (int64_t)len >= max_bytes) break;
        if (len == cap) b = base_xrealloc(b, cap *= 2);
        size_t room = cap - len;
        if (max_bytes > 0 && (int64_t)room > max_bytes - (int64_t)len) room = (size_t)(max_bytes - (int64_t)len);
        if (room > (1u << 30)) room = 1u << 30;
        int got = gzread(g, b + len, (unsigned)room);
        int err = Z_OK;
        const char *msg = gzerror(g, &err);
        if (got < 0 || (err != Z_OK && err != Z_BUF_ERROR) || (got == 0 && err == Z_BUF_ERROR)) {
            base_error_set("%s: uncompressed byte %zu: %s gzip data: %s", path, len, got == 0 ? "truncated" : "corrupt",
                         msg ? msg : "?");
            free(b);
            gzclose(g);
            return -1;
        }
        if (got == 0) {
            *whole = true;
            break;
        }
        len += (size_t)got;
    }
    gzclose(g);
    *buf = b;
    *n = len;
    return 0;
}

int data_bpe_train_file(data_bpe **out, const char *path, int64_t max_bytes, int32_t vocab_size, FILE *log) {
    *out = NULL;
    uint8_t *buf;
    size_t n;
    bool whole;
    if (read_prefix(path, max_bytes, &buf, &n, &whole) != 0) return -1;
    if (!whole && n > 1) { /* do not train on a word cut in half */
        size_t cut = last_safe_split(buf, 0, n - 1);
        if (cut > 0) n = cut;
    }
    int rc = data_bpe_train(out, buf, n, vocab_size, log);
    free(buf);
    if (rc != 0) base_error_prefix("%s", path);
    return rc;
}

/* ---- encoding ----------------------------------------------------------------------------------- */

/* Encodes one piece p[0..len) into out (capacity len); returns the number of tokens. */
static int encode_piece(const data_bpe *b, const uint8_t *p, int len, int32_t *out) {
    for (int i = 0; i < len; i++) out[i] = p[i];
    int L = len;
    if (b->n_merges == 0) return L;
    for (;;) {
        int32_t best = INT32_MAX;
        int bi = -1;
        for (int i = 0; i + 1 < L; i++) {
            int32_t r = pm_get(&b->rank, pair_key(out[i], out[i + 1]));
            if (r >= 0 && r < best) {
                best = r;
                bi = i;
            }
        }
        if (bi < 0) return L;
        const int32_t x = b->merges[2 * best], y = b->merges[2 * best + 1], z = 256 + best;
        int j = bi;
        for (int i = bi; i < L;) {
            if (i + 1 < L && out[i] == x && out[i + 1] == y) {
                out[j++] = z;
                i += 2;
            } else {
                out[j++] = out[i++];
            }
        }
        L = j;
    }
}

typedef struct {
    int32_t *v;
    int64_t n, cap;
} ivec;
static inline void iv_reserve(ivec *v, int64_t more) {
    if (v->n + more > v->cap) {
        v->cap = (v->n + more) * 2;
        v->v = base_xrealloc(v->v, (size_t)v->cap * sizeof *v->v);
    }
}

/* A per-thread cache of piece -> tokens (tokens in an int32 pool). Cleared when it grows too big. */
typedef struct {
    bytemap map;
    ivec toks;
    int64_t *toff; /* [map.cap] */
    int32_t *tlen; /* [map.cap] */
    int64_t tcap;
} piece_cache;

static void pc_init(piece_cache *c) {
    memset(c, 0, sizeof *c);
    bm_init(&c->map);
}
static void pc_free(piece_cache *c) {
    bm_free(&c->map);
    free(c->toks.v);
    free(c->toff);
    free(c->tlen);
}

static void encode_range(const data_bpe *b, const uint8_t *t, size_t lo, size_t hi, piece_cache *pc, ivec *out) {
    int32_t tmp[DATA_BPE_MAX_PIECE];
    for (size_t p = lo; p < hi;) {
        size_t l = piece_len(t, hi, p);
        const uint8_t *s = t + p;
        p += l;
        if (l == 1) { /* single bytes are themselves */
            iv_reserve(out, 1);
            out->v[out->n++] = s[0];
            continue;
        }
        uint64_t h = bytes_hash(s, l);
        int64_t slot;
        int32_t i = bm_find(&pc->map, s, l, h, &slot);
        if (i < 0) {
            int k = encode_piece(b, s, (int)l, tmp);
            if (pc->map.n >= (1 << 20) || pc->toks.n > (64 << 20)) { /* bound the cache: start over */
                bm_clear(&pc->map);
                pc->toks.n = 0;
                bm_find(&pc->map, s, l, h, &slot);
            }
            i = bm_insert(&pc->map, s, l, h, slot);
            if (i >= pc->tcap) {
                pc->tcap = pc->map.cap;
                pc->toff = base_xrealloc(pc->toff, (size_t)pc->tcap * sizeof *pc->toff);
                pc->tlen = base_xrealloc(pc->tlen, (size_t)pc->tcap * sizeof *pc->tlen);
            }
            iv_reserve(&pc->toks, k);
            pc->toff[i] = pc->toks.n;
            pc->tlen[i] = k;
            memcpy(pc->toks.v + pc->toks.n, tmp, (size_t)k * sizeof *tmp);
            pc->toks.n += k;
        }
        iv_reserve(out, pc->tlen[i]);
        memcpy(out->v + out->n, pc->toks.v + pc->toff[i], (size_t)pc->tlen[i] * sizeof *out->v);
        out->n += pc->tlen[i];
    }
}

/* Encodes t[0..n) appending to out, with caches[nthreads]. Splits at safe boundaries into chunks. */
static void encode_parallel(const data_bpe *b, const uint8_t *t, size_t n, int nthreads, piece_cache *caches,
                            ivec *out) {
    if (nthreads <= 1 || n < (1u << 20)) {
        encode_range(b, t, 0, n, &caches[0], out);
        return;
    }
    int nchunks = nthreads * 8;
    size_t *cut = base_xmalloc((size_t)(nchunks + 1) * sizeof *cut);
    cut[0] = 0;
    for (int k = 1; k < nchunks; k++) {
        size_t target = (size_t)((unsigned __int128)n * (unsigned)k / (unsigned)nchunks);
        if (target < cut[k - 1]) target = cut[k - 1];
        cut[k] = next_safe_split(t, target, n);
    }
    cut[nchunks] = n;
    ivec *parts = base_xcalloc((size_t)nchunks, sizeof *parts);
#pragma omp parallel for num_threads(nthreads) schedule(dynamic, 1)
    for (int k = 0; k < nchunks; k++) {
#ifdef _OPENMP
        int tid = omp_get_thread_num();
#else
        int tid = 0;
#endif
        if (cut[k + 1] > cut[k]) encode_range(b, t, cut[k], cut[k + 1], &caches[tid], &parts[k]);
    }
    int64_t total = 0;
    for (int k = 0; k < nchunks; k++) total += parts[k].n;
    iv_reserve(out, total);
    for (int k = 0; k < nchunks; k++) {
        if (parts[k].n) memcpy(out->v + out->n, parts[k].v, (size_t)parts[k].n * sizeof *out->v);
        out->n += parts[k].n;
        free(parts[k].v);
    }
    free(parts);
    free(cut);
}

static int resolve_threads(int nthreads) {
#ifdef _OPENMP
    if (nthreads <= 0) nthreads = omp_get_max_threads();
#else
    nthreads = 1;
#endif
    return nthreads < 1 ? 1 : nthreads;
}

int data_bpe_encode(const data_bpe *b, const uint8_t *text, size_t n, int32_t **ids, int64_t *n_ids, int nthreads) {
    nthreads = resolve_threads(nthreads);
    piece_cache *caches = base_xmalloc((size_t)nthreads * sizeof *caches);
    for (int i = 0; i < nthreads; i++) pc_init(&caches[i]);
    ivec out = {0};
    iv_reserve(&out, (int64_t)(n / 3 + 16));
    encode_parallel(b, text, n, nthreads, caches, &out);
    for (int i = 0; i < nthreads; i++) pc_free(&caches[i]);
    free(caches);
    *ids = out.v;
    *n_ids = out.n;
    return 0;
}

int data_bpe_encode_lines(const data_bpe *b, const uint8_t *text, size_t n, int32_t **ids, int64_t *n_ids,
                          int64_t **line_end, int64_t *n_lines) {
    piece_cache pc;
    pc_init(&pc);
    ivec out = {0};
    iv_reserve(&out, (int64_t)(n / 3 + 16));
    int64_t nl = 0, cap = 64;
    int64_t *ends = base_xmalloc((size_t)cap * sizeof *ends);
    for (size_t lo = 0; lo < n;) {
        const uint8_t *nlp = memchr(text + lo, '\n', n - lo);
        size_t hi = nlp ? (size_t)(nlp - text) : n;
        /* encode_range stops every piece at hi, so the line is pre-tokenised as a text of its own. */
        encode_range(b, text, lo, hi, &pc, &out);
        if (nl == cap) ends = base_xrealloc(ends, (size_t)(cap *= 2) * sizeof *ends);
        ends[nl++] = out.n;
        lo = hi + 1;
    }
    pc_free(&pc);
    *ids = out.v; /* never NULL: reserved above */
    *n_ids = out.n;
    *line_end = ends;
    *n_lines = nl;
    return 0;
}

int data_bpe_encode_file(const data_bpe *b, const char *path, int32_t **ids, int64_t *n_ids, int nthreads) {
    return data_bpe_encode_file_blocks(b, path, ids, n_ids, nthreads, 16u << 20);
}

int data_bpe_encode_file_blocks(const data_bpe *b, const char *path, int32_t **ids, int64_t *n_ids, int nthreads,
                                size_t block) {
    BASE_CHECK(block >= 1024 && block <= (1u << 30), "data_bpe_encode_file_blocks", "block of %zu bytes", block);
    *ids = NULL;
    *n_ids = 0;
    gzFile g = gzopen(path, "rb");
    if (!g) return base_error_set("%s: cannot open: %s", path, strerror(errno ? errno : ENOENT));
    gzbuffer(g, 1 << 20);
    nthreads = resolve_threads(nthreads);
    piece_cache *caches = base_xmalloc((size_t)nthreads * sizeof *caches);
    for (int i = 0; i < nthreads; i++) pc_init(&caches[i]);
    ivec out = {0};
    size_t cap = block, len = 0; /* buf[0..len): bytes read, not yet encoded */
    uint8_t *buf = base_xmalloc(cap);
    int64_t consumed = 0; /* uncompressed offset of buf[0] */
    int rc = 0;
    for (;;) {
        if (cap - len < block) buf = base_xrealloc(buf, cap = len + block);
        size_t before = len; /* buf[0..before) holds no safe split (it was scanned last time) */
        int got = gzread(g, buf + len, (unsigned)block);
        int err = Z_OK;
        const char *msg = gzerror(g, &err);
        if (got < 0 || (err != Z_OK && err != Z_BUF_ERROR) || (got == 0 && err == Z_BUF_ERROR)) {
            rc = base_error_set("%s: uncompressed byte %lld: %s gzip data: %s", path, (long long)(consumed + (int64_t)len),
                              got == 0 ? "truncated" : "corrupt", msg ? msg : "?");
            break;
        }
        len += (size_t)got;
        bool eof = got == 0;
        /* Encode up to the last safe boundary; the tail waits for more bytes (a run without spaces
         * longer than the buffer makes the buffer grow until the run ends). */
        size_t upto = eof ? len : (len > 1 ? last_safe_split(buf, before > 0 ? before - 1 : 0, len - 1) : 0);
        if (upto > 0) {
            encode_parallel(b, buf, upto, nthreads, caches, &out);
            memmove(buf, buf + upto, len - upto);
            len -= upto;
            consumed += (int64_t)upto;
        }
        if (eof) break;
    }
    gzclose(g);
    free(buf);
    for (int i = 0; i < nthreads; i++) pc_free(&caches[i]);
    free(caches);
    if (rc != 0) {
        free(out.v);
        return -1;
    }
    *ids = out.v;
    *n_ids = out.n;
    return 0;
}

int data_bpe_decode(const data_bpe *b, const int32_t *ids, int64_t n_ids, uint8_t **text, size_t *n) {
    *text = NULL;
    *n = 0;
    size_t total = 0;
    const int64_t V = 256 + b->n_merges;
    for (int64_t i = 0; i < n_ids; i++) {
        if (ids[i] < 0 || ids[i] >= V)
            return base_error_set("bpe decode: position %lld: expected a token id in [0, %lld), got %d", (long long)i,
                                (long long)V, ids[i]);
        total += (size_t)b->tok_len[ids[i]];
    }
    uint8_t *o = base_xmalloc(total + 1);
    size_t at = 0;
    for (int64_t i = 0; i < n_ids; i++) {
        memcpy(o + at, b->tok_bytes + b->tok_off[ids[i]], (size_t)b->tok_len[ids[i]]);
        at += (size_t)b->tok_len[ids[i]];
    }
    o[total] = '\0';
    *text = o;
    *n = total;
    return 0;
}

/* ---- merge files ------------------------------------------------------------------------------ */

int data_bpe_save(const data_bpe *b, const char *path) {
    FILE *f = fopen(path, "wb");
    if (!f) return base_error_set("%s: cannot write BPE merges: %s", path, strerror(errno));
    fprintf(f, "ember-bpe 1\nmerges %lld\n", (long long)b->n_merges);
    for (int64_t i = 0; i < b->n_merges; i++) fprintf(f, "%d %d\n", b->merges[2 * i], b->merges[2 * i + 1]);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) return base_error_set("%s: write failed: %s", path, strerror(errno));
    return 0;
}

int data_bpe_load(data_bpe **out, const char *path) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return base_error_set("%s: cannot open BPE merges: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int64_t lineno = 0, m = -1, got = 0;
    int32_t *merges = NULL;
    int rc = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (len == 0 || line[len - 1] != '\n') {
            rc = base_error_set("%s: line %lld: expected a line ending in a newline, got a truncated last line", path,
                              (long long)lineno);
            break;
        }
        line[--len] = '\0';
        if (len > 0 && line[len - 1] == '\r') line[--len] = '\0';
        if (lineno == 1) {
            if (strcmp(line, "ember-bpe 1") != 0) {
                rc = base_error_set("%s: line 1: expected \"ember-bpe 1\", got \"%.40s\"", path, line);
                break;
            }
            continue;
        }
        if (lineno == 2) {
            long long mm;
            int used = 0;
            if (sscanf(line, "merges %lld%n", &mm, &used) != 1 || used != (int)len || mm < 0 || mm > INT32_MAX - 256) {
                rc = base_error_set("%s: line 2: expected \"merges M\" with 0 <= M < 2^31-256, got \"%.40s\"", path, line);
                break;
            }
            m = mm;
            merges = base_xmalloc((size_t)(m ? m : 1) * 2 * sizeof *merges);
            continue;
        }
        if (got >= m) {
            rc = base_error_set("%s: line %lld: expected %lld merges, got more", path, (long long)lineno, (long long)m);
            break;
        }
        long long a, c;
        int used = 0;
        if (sscanf(line, "%lld %lld%n", &a, &c, &used) != 2 || used != (int)len || a < 0 || c < 0 ||
            a >= 256 + got || c >= 256 + got) {
            rc = base_error_set("%s: line %lld: expected \"a b\" with token ids < %lld, got \"%.40s\"", path,
                              (long long)lineno, (long long)(256 + got), line);
            break;
        }
        merges[2 * got] = (int32_t)a;
        merges[2 * got + 1] = (int32_t)c;
        got++;
    }
    if (rc == 0 && lineno < 2) rc = base_error_set("%s: expected the header \"ember-bpe 1\" and \"merges M\", got %lld lines", path, (long long)lineno);
    if (rc == 0 && got != m)
        rc = base_error_set("%s: line %lld: expected %lld merges, got %lld (file truncated?)", path, (long long)lineno,
                          (long long)m, (long long)got);
    free(line);
    fclose(f);
    if (rc == 0) {
        rc = data_bpe_from_merges(out, merges, m);
        if (rc != 0) base_error_prefix("%s", path);
    }
    free(merges);
    return rc;
}
