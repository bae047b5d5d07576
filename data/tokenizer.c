/* tokenizer.c — byte-level BPE + five special tokens: training over files, encode/decode, the "ember-tokenizer 1" text file (write, strict parse, atomic save), fingerprint. */
#include "tokenizer.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "../base/base.h"

const char *const data_tok_special_name[DATA_TOK_N_SPECIAL] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};

/* The largest merge count whose specials still have int32 ids. */
#define TOK_MAX_MERGES ((int64_t)INT32_MAX - 256 - DATA_TOK_N_SPECIAL)

data_tokenizer *data_tokenizer_from_bpe(data_bpe *bpe) {
    BASE_CHECK(bpe != NULL, "data_tokenizer_from_bpe", "NULL bpe");
    const int64_t m = data_bpe_n_merges(bpe);
    BASE_CHECK(m <= TOK_MAX_MERGES, "data_tokenizer_from_bpe", "%lld merges leave no room for the special ids",
             (long long)m);
    data_tokenizer *t = base_xcalloc(1, sizeof *t);
    t->bpe = bpe;
    for (int k = 0; k < DATA_TOK_N_SPECIAL; k++) t->special[k] = (int32_t)(256 + m + k);
    t->vocab_size = (int32_t)(256 + m + DATA_TOK_N_SPECIAL);
    return t;
}

void data_tokenizer_free(data_tokenizer *t) {
    if (!t) return;
    data_bpe_free(t->bpe);
    free(t);
}

/* ---- training -------------------------------------------------------------------------------- */

/* bpe.h's space class: a piece never continues across a space byte that follows a non-space byte. */
static inline bool is_space(uint8_t c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

/* Appends up to `budget` bytes of one plain or gzip file to buf[*len..) (growing *buf / *cap). Sets
 * *eof when the whole file was read. -1 with an error naming the file on an open or read failure. */
static int append_file(const char *path, uint64_t budget, uint8_t **buf, size_t *len, size_t *cap, bool *eof) {
    *eof = false;
    errno = 0;
    gzFile g = gzopen(path, "rb");
    if (!g) return base_error_set("%s: cannot open: %s", path, strerror(errno ? errno : ENOENT));
    gzbuffer(g, 1 << 20);
    const size_t start = *len;
    int rc = 0;
    for (;;) {
        uint64_t used = (uint64_t)(*len - start);
        if (used >= budget) {
            /* Budget reached: probe one byte so that a file ending exactly here counts as whole. */
            uint8_t probe;
            int got = gzread(g, &probe, 1);
            *eof = got == 0;
            break;
        }
        if (*len == *cap) *buf = base_xrealloc(*buf, *cap *= 2);
        uint64_t room = (uint64_t)(*cap - *len);
        if (room > budget - used) room = budget - used;
        if (room > (1u << 30)) room = 1u << 30;
        int got = gzread(g, *buf + *len, (unsigned)room);
        int err = Z_OK;
        const char *msg = gzerror(g, &err);
        if (got < 0 || (err != Z_OK && err != Z_BUF_ERROR) || (got == 0 && err == Z_BUF_ERROR)) {
            rc = base_error_set("%s: uncompressed byte %zu: %s (%s)", path, *len - start,
                              got == 0 ? "truncated gzip data" : "unreadable",
                              msg ? base_strip_path_prefix(msg, path) : "?");
            break;
        }
        if (got == 0) {
            *eof = true;
            break;
        }
        *len += (size_t)got;
    }
    gzclose(g);
    return rc;
}

int data_tokenizer_train(data_tokenizer **out, const char *const *paths, int npaths, int64_t max_bytes,
                         int32_t vocab_size, FILE *log) {
    *out = NULL;
    if (vocab_size < 256 + DATA_TOK_N_SPECIAL)
        return base_error_set("tokenizer: expected a vocabulary size >= %d (256 bytes + %d special tokens), got %d",
                            256 + DATA_TOK_N_SPECIAL, DATA_TOK_N_SPECIAL, vocab_size);
    if (npaths < 1) return base_error_set("tokenizer: expected at least one training file, got none");
    if (max_bytes < 0) return base_error_set("tokenizer: expected max_bytes >= 0 (0 = all), got %lld", (long long)max_bytes);
    /* text[0..len): the files one after the other; a '\n' goes between two files when the first does
     * not end in a space byte, so that its last word and the next file's first word stay apart. */
    const uint64_t limit = max_bytes > 0 ? (uint64_t)max_bytes : UINT64_MAX;
    size_t cap = 1 << 20, len = 0;
    uint8_t *text = base_xmalloc(cap);
    bool full = false;
    for (int i = 0; i < npaths; i++) {
        if (full) { /* still make sure every named file exists: a typo should not pass silently */
            errno = 0;
            gzFile g = gzopen(paths[i], "rb");
            if (!g) {
                free(text);
                return base_error_set("%s: cannot open: %s", paths[i], strerror(errno ? errno : ENOENT));
            }
            gzclose(g);
            if (log) fprintf(log, "tokenizer: %s: not read (max bytes reached)\n", paths[i]);
            continue;
        }
        const size_t start = len;
        bool eof;
        if (append_file(paths[i], limit - (uint64_t)len, &text, &len, &cap, &eof) < 0) {
            free(text);
            return -1;
        }
        if (len == start && eof) {
            free(text);
            return base_error_set("%s: expected text to train on, got an empty file", paths[i]);
        }
        if (!eof) { /* cut at max_bytes: do not train on a word cut in half (data_bpe_train_file's rule) */
            for (size_t p = len - 1; p > start; p--)
                if (is_space(text[p]) && !is_space(text[p - 1])) {
                    len = p;
                    break;
                }
            full = true;
        } else if (!is_space(text[len - 1]) && i + 1 < npaths && (uint64_t)len < limit) {
            if (len == cap) text = base_xrealloc(text, cap *= 2);
            text[len++] = '\n';
        }
        if ((uint64_t)len >= limit) full = true;
        if (log)
            fprintf(log, "tokenizer: %s: %zu bytes%s\n", paths[i], len - start, eof ? "" : " (cut at max bytes)");
    }
    data_bpe *bpe = NULL;
    int rc = data_bpe_train(&bpe, text, len, vocab_size - DATA_TOK_N_SPECIAL, log);
    free(text);
    if (rc != 0) return -1;
    *out = data_tokenizer_from_bpe(bpe);
    return 0;
}

/* ---- encode / decode ------------------------------------------------------------------------- */

int data_tokenizer_encode(const data_tokenizer *t, const uint8_t *text, size_t n, int32_t **ids, int64_t *n_ids,
                          int nthreads) {
    /* Specials are never produced from text: "[MASK]" in the input is six byte-level tokens' worth. */
    return data_bpe_encode(t->bpe, text, n, ids, n_ids, nthreads);
}

int data_tokenizer_decode(const data_tokenizer *t, const int32_t *ids, int64_t n_ids, uint8_t **text, size_t *n) {
    *text = NULL;
    *n = 0;
    const int32_t nb = data_bpe_vocab_size(t->bpe); /* ids below are BPE tokens, nb.. the specials */
    size_t total = 0;
    for (int64_t i = 0; i < n_ids; i++) {
        int32_t id = ids[i], l;
        if (id < 0 || id >= t->vocab_size)
            return base_error_set("tokenizer decode: position %lld: expected a token id in [0, %d), got %d", (long long)i,
                                t->vocab_size, id);
        if (id < nb) {
            data_bpe_token_bytes(t->bpe, id, &l);
            total += (size_t)l;
        } else {
            total += strlen(data_tok_special_name[id - nb]);
        }
    }
    uint8_t *o = base_xmalloc(total + 1);
    size_t at = 0;
    for (int64_t i = 0; i < n_ids; i++) {
        int32_t l;
        const uint8_t *s;
        if (ids[i] < nb) {
            s = data_bpe_token_bytes(t->bpe, ids[i], &l);
        } else {
            s = (const uint8_t *)data_tok_special_name[ids[i] - nb];
            l = (int32_t)strlen((const char *)s);
        }
        memcpy(o + at, s, (size_t)l);
        at += (size_t)l;
    }
    o[total] = '\0';
    *text = o;
    *n = total;
    return 0;
}

/* ---- quoting token bytes ------------------------------------------------------------------------ */

/* Length of the well-formed UTF-8 sequence at s[i] (2..4; RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF), or 0. */
static int utf8_seq(const uint8_t *s, size_t n, size_t i) {
    uint8_t c = s[i];
    int len;
    uint8_t lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
    if (c >= 0xc2 && c <= 0xdf) len = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0) lo = 0xa0;
        if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f;
    } else return 0;
    if (i + (size_t)len > n || s[i + 1] < lo || s[i + 1] > hi) return 0;
    for (int k = 2; k < len; k++)
        if ((s[i + (size_t)k] & 0xc0) != 0x80) return 0;
    return len;
}

/* Writes the quoted form of s[0..n) into o (room for 6n + 3 bytes: "\u00XX" is the longest form of a byte) and returns its length:
 * "..." with \" \\ \n \r \t, \u00XX for the other bytes < 0x20 and DEL, well-formed UTF-8 sequences
 * as they are (so "café" reads as such), and \xHH for any other byte >= 0x80 — not JSON, but a token's
 * bytes need not be valid UTF-8 and a JSON string cannot hold arbitrary bytes. */
static size_t quote_into(const uint8_t *s, size_t n, char *o) {
    static const char hex[] = "0123456789abcdef";
    size_t k = 0;
    o[k++] = '"';
    for (size_t i = 0; i < n;) {
        uint8_t c = s[i];
        if (c == '"' || c == '\\') {
            o[k++] = '\\';
            o[k++] = (char)c;
        } else if (c == '\n' || c == '\r' || c == '\t') {
            o[k++] = '\\';
            o[k++] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
        } else if (c < 0x20 || c == 0x7f) {
            memcpy(o + k, "\\u00", 4);
            k += 4;
            o[k++] = hex[c >> 4];
            o[k++] = hex[c & 15];
        } else if (c >= 0x80) {
            int l = utf8_seq(s, n, i);
            if (l > 0) {
                memcpy(o + k, s + i, (size_t)l);
                k += (size_t)l;
                i += (size_t)l;
                continue;
            }
            o[k++] = '\\';
            o[k++] = 'x';
            o[k++] = hex[c >> 4];
            o[k++] = hex[c & 15];
        } else {
            o[k++] = (char)c;
        }
        i++;
    }
    o[k++] = '"';
    o[k] = '\0';
    return k;
}

char *data_tokenizer_quote(const uint8_t *bytes, size_t n) {
    char *o = base_xmalloc(6 * n + 3); /* at most 6 bytes per input byte ("\u00XX") + quotes + NUL */
    quote_into(bytes, n, o);
    return o;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Parses the quoted string starting at s[0] == '"' within s[0..n) into out (room for n bytes).
 * Accepts what quote_into writes plus JSON's \/ \b \f and any \uXXXX (written as UTF-8, as JSON
 * means it). Returns the number of bytes of s consumed (through the closing quote) and sets *olen,
 * or 0 with *why set on a malformed string. */
static size_t unquote(const char *s, size_t n, uint8_t *out, size_t *olen, const char **why) {
    size_t i = 1, k = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"') {
            *olen = k;
            return i + 1;
        }
        if (c < 0x20) {
            *why = "a control byte inside the string (write it as \\u00XX)";
            return 0;
        }
        if (c != '\\') {
            out[k++] = c;
            i++;
            continue;
        }
        if (i + 1 >= n) break;
        char e = s[i + 1];
        i += 2;
        switch (e) {
        case '"': out[k++] = '"'; break;
        case '\\': out[k++] = '\\'; break;
        case '/': out[k++] = '/'; break;
        case 'b': out[k++] = '\b'; break;
        case 'f': out[k++] = '\f'; break;
        case 'n': out[k++] = '\n'; break;
        case 'r': out[k++] = '\r'; break;
        case 't': out[k++] = '\t'; break;
        case 'x': {
            int h1 = i + 1 < n ? hexval(s[i]) : -1, h2 = i + 1 < n ? hexval(s[i + 1]) : -1;
            if (h1 < 0 || h2 < 0) {
                *why = "\\x not followed by two hex digits";
                return 0;
            }
            out[k++] = (uint8_t)(h1 * 16 + h2);
            i += 2;
            break;
        }
        case 'u': {
            unsigned cp = 0;
            for (int d = 0; d < 4; d++) {
                int h = i + (size_t)d < n ? hexval(s[i + (size_t)d]) : -1;
                if (h < 0) {
                    *why = "\\u not followed by four hex digits";
                    return 0;
                }
                cp = cp * 16 + (unsigned)h;
            }
            i += 4;
            if (cp >= 0xd800 && cp <= 0xdfff) {
                *why = "a \\u surrogate (token bytes are written as UTF-8 or \\xHH)";
                return 0;
            }
            /* UTF-8 of cp: never longer than the 6 escape characters it replaces. */
            if (cp < 0x80) out[k++] = (uint8_t)cp;
            else if (cp < 0x800) {
                out[k++] = (uint8_t)(0xc0 | (cp >> 6));
                out[k++] = (uint8_t)(0x80 | (cp & 63));
            } else {
                out[k++] = (uint8_t)(0xe0 | (cp >> 12));
                out[k++] = (uint8_t)(0x80 | ((cp >> 6) & 63));
                out[k++] = (uint8_t)(0x80 | (cp & 63));
            }
            break;
        }
        default:
            *why = "an unknown escape (expected \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\xHH or \\uXXXX)";
            return 0;
        }
    }
    *why = "no closing quote";
    return 0;
}

/* ---- the text file ------------------------------------------------------------------------------ */

typedef struct {
    char *s;
    size_t n, cap;
} strbuf;

static void sb_reserve(strbuf *b, size_t more) {
    if (b->n + more + 1 > b->cap) {
        while (b->n + more + 1 > b->cap) b->cap = b->cap ? 2 * b->cap : 4096;
        b->s = base_xrealloc(b->s, b->cap);
    }
}
static void sb_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(strbuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int need = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    sb_reserve(b, (size_t)need);
    va_start(ap, fmt);
    vsnprintf(b->s + b->n, b->cap - b->n, fmt, ap);
    va_end(ap);
    b->n += (size_t)need;
}

char *data_tokenizer_to_text(const data_tokenizer *t) {
    const int64_t m = data_bpe_n_merges(t->bpe);
    const int32_t *mg = data_bpe_merges(t->bpe);
    strbuf b = {0};
    sb_printf(&b, "ember-tokenizer 1\n"
                  "# ids: 0-255 the bytes, 256.. one per merge line below in order, then the specials.\n"
                  "# merge line: the two ids merged, then the new token's bytes (\\xHH: a byte that is not UTF-8)\n"
                  "model byte-bpe\nnormalization none\n");
    for (int k = 0; k < DATA_TOK_N_SPECIAL; k++) sb_printf(&b, "special %s %d\n", data_tok_special_name[k], t->special[k]);
    sb_printf(&b, "merges %lld\n", (long long)m);
    for (int64_t i = 0; i < m; i++) {
        int32_t len;
        const uint8_t *bytes = data_bpe_token_bytes(t->bpe, (int32_t)(256 + i), &len);
        sb_printf(&b, "%d %d ", mg[2 * i], mg[2 * i + 1]);
        sb_reserve(&b, 6 * (size_t)len + 4);
        b.n += quote_into(bytes, (size_t)len, b.s + b.n);
        b.s[b.n++] = '\n';
        b.s[b.n] = '\0';
    }
    return b.s;
}

/* Parser state: the merges read so far and the bytes of every token they make. */
typedef struct {
    const char *origin;
    int64_t m;           /* the count from the "merges M" line, -1 before it */
    int64_t got;         /* merge lines read */
    int32_t *merges;     /* [cap, 2] */
    int64_t *merge_line; /* [cap] the line each merge came from (for repeat errors) */
    int64_t cap;
    int64_t *tok_off;    /* [256 + cap] offset of each token's bytes in pool */
    int32_t *tok_len;    /* [256 + cap] */
    uint8_t *pool;       /* token bytes; bounded by the text size (each token's bytes are in its line) */
    size_t pool_n, pool_cap;
    int32_t special_id[DATA_TOK_N_SPECIAL];
    int64_t special_line[DATA_TOK_N_SPECIAL];
} tok_parse;

static void tp_free(tok_parse *p) {
    free(p->merges);
    free(p->merge_line);
    free(p->tok_off);
    free(p->tok_len);
    free(p->pool);
}

/* Sets the error "<origin>:<line>: expected <what>, got '<line text>'" and returns -1. */
static int tp_fail(const tok_parse *p, int64_t line, const char *text, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int tp_fail(const tok_parse *p, int64_t line, const char *text, size_t len, const char *fmt, ...) {
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (!text) return base_error_set("%s:%lld: expected %s, got the end of the file", p->origin, (long long)line, what);
    return base_error_set("%s:%lld: expected %s, got '%.*s%s'", p->origin, (long long)line, what, len > 80 ? 80 : (int)len,
                        text, len > 80 ? "..." : "");
}

/* Parses a decimal integer without sign at s[*i..n) into *v (at most 18 digits); false if none. */
static bool parse_uint(const char *s, size_t n, size_t *i, int64_t *v) {
    size_t j = *i;
    int64_t x = 0;
    while (j < n && s[j] >= '0' && s[j] <= '9' && j - *i < 18) x = x * 10 + (s[j++] - '0');
    if (j == *i || (j < n && s[j] >= '0' && s[j] <= '9')) return false;
    *i = j;
    *v = x;
    return true;
}
static size_t skip_blanks(const char *s, size_t n, size_t i) {
    while (i < n && (s[i] == ' ' || s[i] == '\t')) i++;
    return i;
}

/* One merge line "a b \"bytes\"". */
static int tp_merge(tok_parse *p, int64_t lineno, const char *s, size_t n) {
    const int64_t i = p->got, v = 256 + i; /* this merge makes token v; ids must be < v */
    size_t at = 0;
    int64_t a = -1, b = -1;
    bool ok = parse_uint(s, n, &at, &a);
    size_t at2 = skip_blanks(s, n, at);
    ok = ok && at2 > at;
    at = at2;
    ok = ok && parse_uint(s, n, &at, &b);
    at2 = skip_blanks(s, n, at);
    ok = ok && at2 > at && at2 < n && s[at2] == '"';
    if (!ok)
        return tp_fail(p, lineno, s, n, "merge %lld of %lld as 'a b \"bytes\"'", (long long)(i + 1), (long long)p->m);
    if (a >= v || b >= v)
        return tp_fail(p, lineno, s, n, "ids in [0, %lld) (bytes and the tokens of earlier merges) in merge %lld",
                       (long long)v, (long long)(i + 1));
    if (i == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 1024;
        p->merges = base_xrealloc(p->merges, (size_t)p->cap * 2 * sizeof *p->merges);
        p->merge_line = base_xrealloc(p->merge_line, (size_t)p->cap * sizeof *p->merge_line);
        p->tok_off = base_xrealloc(p->tok_off, (size_t)(256 + p->cap) * sizeof *p->tok_off);
        p->tok_len = base_xrealloc(p->tok_len, (size_t)(256 + p->cap) * sizeof *p->tok_len);
    }
    /* Decode the string straight into the pool, where the new token's bytes will live. */
    const size_t qn = n - at2;
    if (p->pool_n + qn > p->pool_cap) {
        while (p->pool_n + qn > p->pool_cap) p->pool_cap *= 2;
        p->pool = base_xrealloc(p->pool, p->pool_cap);
    }
    uint8_t *dst = p->pool + p->pool_n;
    size_t dlen = 0;
    const char *why = NULL;
    size_t used = unquote(s + at2, qn, dst, &dlen, &why);
    if (used == 0) return tp_fail(p, lineno, s, n, "a quoted string of the token's bytes (%s)", why);
    if (skip_blanks(s, n, at2 + used) != n)
        return tp_fail(p, lineno, s, n, "the end of the line after the quoted bytes of merge %lld", (long long)(i + 1));
    /* The string must spell the bytes of a followed by those of b. */
    const int64_t la = p->tok_len[a], lb = p->tok_len[b];
    bool same = (int64_t)dlen == la + lb && memcmp(dst, p->pool + p->tok_off[a], (size_t)la) == 0 &&
                memcmp(dst + la, p->pool + p->tok_off[b], (size_t)lb) == 0;
    if (!same) {
        /* The message shows the expected string, quoted as the writer would have written it. */
        uint8_t *want = base_xmalloc((size_t)(la + lb) + 1);
        memcpy(want, p->pool + p->tok_off[a], (size_t)la);
        memcpy(want + la, p->pool + p->tok_off[b], (size_t)lb);
        char *q = data_tokenizer_quote(want, (size_t)(la + lb));
        int rc = tp_fail(p, lineno, s, n, "the bytes of %lld followed by %lld, %.200s%s", (long long)a, (long long)b, q,
                         strlen(q) > 200 ? "..." : "");
        free(q);
        free(want);
        return rc;
    }
    p->merges[2 * i] = (int32_t)a;
    p->merges[2 * i + 1] = (int32_t)b;
    p->merge_line[i] = lineno;
    p->tok_off[v] = (int64_t)p->pool_n;
    p->tok_len[v] = (int32_t)dlen;
    p->pool_n += dlen;
    p->got++;
    return 0;
}

typedef struct {
    uint64_t key;
    int64_t row;
} pair_row;
static int pair_row_cmp(const void *x, const void *y) {
    const pair_row *a = x, *b = y;
    if (a->key != b->key) return a->key < b->key ? -1 : 1;
    return a->row < b->row ? -1 : a->row > b->row;
}

/* A pair merged twice: data_bpe_from_merges refuses it; report the first repeat with its line. */
static int tp_check_repeats(const tok_parse *p) {
    if (p->got < 2) return 0;
    pair_row *pr = base_xmalloc((size_t)p->got * sizeof *pr);
    for (int64_t i = 0; i < p->got; i++)
        pr[i] = (pair_row){((uint64_t)(uint32_t)p->merges[2 * i] << 32) | (uint32_t)p->merges[2 * i + 1], i};
    qsort(pr, (size_t)p->got, sizeof *pr, pair_row_cmp);
    int64_t worst = -1, first = -1; /* the earliest repeating row, and the row it repeats */
    for (int64_t i = 1; i < p->got; i++)
        if (pr[i].key == pr[i - 1].key && (worst < 0 || pr[i].row < worst)) {
            worst = pr[i].row;
            first = pr[i - 1].row;
        }
    free(pr);
    if (worst < 0) return 0;
    return base_error_set("%s:%lld: expected a pair not merged before, got %d %d (already merged on line %lld)",
                        p->origin, (long long)p->merge_line[worst], p->merges[2 * worst], p->merges[2 * worst + 1],
                        (long long)p->merge_line[first]);
}

int data_tokenizer_from_text(data_tokenizer **out, const char *text, size_t n, const char *origin) {
    *out = NULL;
    tok_parse p = {.origin = origin, .m = -1};
    p.pool_cap = 4096;
    p.pool = base_xmalloc(p.pool_cap);
    p.tok_off = base_xmalloc(256 * sizeof *p.tok_off);
    p.tok_len = base_xmalloc(256 * sizeof *p.tok_len);
    for (int c = 0; c < 256; c++) {
        p.pool[c] = (uint8_t)c;
        p.tok_off[c] = c;
        p.tok_len[c] = 1;
    }
    p.pool_n = 256;
    /* Records in order: 0 header, 1 model, 2 normalization, 3..7 specials, 8 merges M, 9 merge lines. */
    int stage = 0;
    int64_t lineno = 0;
    int rc = 0;
    for (size_t at = 0; at < n && rc == 0;) {
        const char *s = text + at;
        const char *nl = memchr(s, '\n', n - at);
        size_t len = nl ? (size_t)(nl - s) : n - at;
        at += len + (nl ? 1 : 0);
        lineno++;
        const char *nul = memchr(s, '\0', len);
        if (nul) {
            rc = base_error_set("%s:%lld: expected text, got a NUL byte at column %zu", origin, (long long)lineno,
                              (size_t)(nul - s) + 1);
            break;
        }
        if (len > 0 && s[len - 1] == '\r') len--; /* a file saved with CRLF line ends reads the same */
        if (len == 0 || s[0] == '#') continue;    /* blank and comment lines */
        switch (stage) {
        case 0:
            if (len != 17 || memcmp(s, "ember-tokenizer 1", 17) != 0)
                rc = tp_fail(&p, lineno, s, len, "the header 'ember-tokenizer 1'");
            break;
        case 1:
            if (len != 14 || memcmp(s, "model byte-bpe", 14) != 0)
                rc = tp_fail(&p, lineno, s, len, "'model byte-bpe' (the only model this version reads)");
            break;
        case 2:
            if (len != 18 || memcmp(s, "normalization none", 18) != 0)
                rc = tp_fail(&p, lineno, s, len, "'normalization none' (the only normalisation this version reads)");
            break;
        case 3: case 4: case 5: case 6: case 7: {
            const int k = stage - 3;
            const char *name = data_tok_special_name[k];
            size_t nl2 = strlen(name), i = 8 + nl2 + 1;
            int64_t id = -1;
            bool ok = len > i && memcmp(s, "special ", 8) == 0 && memcmp(s + 8, name, nl2) == 0 && s[8 + nl2] == ' ' &&
                      parse_uint(s, len, &i, &id) && i == len && id <= INT32_MAX;
            if (!ok) rc = tp_fail(&p, lineno, s, len, "'special %s ID' (special %d of %d)", name, k + 1, DATA_TOK_N_SPECIAL);
            p.special_id[k] = (int32_t)id;
            p.special_line[k] = lineno;
            break;
        }
        case 8: {
            size_t i = 7;
            int64_t m = -1;
            if (len <= 7 || memcmp(s, "merges ", 7) != 0 || !parse_uint(s, len, &i, &m) || i != len || m > TOK_MAX_MERGES) {
                rc = tp_fail(&p, lineno, s, len, "'merges M' with 0 <= M <= %lld", (long long)TOK_MAX_MERGES);
                break;
            }
            p.m = m;
            /* The specials come right after the merges: [PAD] = 256 + M, ... */
            for (int k = 0; k < DATA_TOK_N_SPECIAL && rc == 0; k++)
                if (p.special_id[k] != 256 + m + k)
                    rc = base_error_set("%s:%lld: expected %s to have id %lld (= 256 + %lld merges + %d: the specials "
                                      "follow the merges in order), got %d",
                                      origin, (long long)p.special_line[k], data_tok_special_name[k],
                                      (long long)(256 + m + k), (long long)m, k, p.special_id[k]);
            break;
        }
        default:
            if (p.got == p.m)
                rc = tp_fail(&p, lineno, s, len, "the end of the file after %lld merges (the count on the 'merges' line)",
                             (long long)p.m);
            else
                rc = tp_merge(&p, lineno, s, len);
            continue; /* stays in the merge stage */
        }
        stage++;
    }
    if (rc == 0 && stage < 9) {
        static const char *const what[] = {"the header 'ember-tokenizer 1'", "'model byte-bpe'", "'normalization none'"};
        if (stage < 3) rc = tp_fail(&p, lineno + 1, NULL, 0, "%s", what[stage]);
        else if (stage < 8) rc = tp_fail(&p, lineno + 1, NULL, 0, "'special %s ID'", data_tok_special_name[stage - 3]);
        else rc = tp_fail(&p, lineno + 1, NULL, 0, "'merges M'");
    }
    if (rc == 0 && p.got != p.m)
        rc = base_error_set("%s:%lld: expected %lld merges (the count on the 'merges' line), got %lld and the end of the "
                          "file (truncated?)",
                          origin, (long long)(lineno + 1), (long long)p.m, (long long)p.got);
    if (rc == 0) rc = tp_check_repeats(&p);
    data_bpe *bpe = NULL;
    if (rc == 0 && data_bpe_from_merges(&bpe, p.merges, p.got) != 0) rc = base_error_prefix("%s", origin);
    tp_free(&p);
    if (rc != 0) return -1;
    *out = data_tokenizer_from_bpe(bpe);
    return 0;
}

int data_tokenizer_save(const data_tokenizer *t, const char *path) {
    char *text = data_tokenizer_to_text(t);
    const size_t n = strlen(text);
    size_t tl = strlen(path) + 32;
    char *tmp = base_xmalloc(tl);
    base_temp_name(tmp, tl, path);
    int rc = 0;
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        rc = base_error_set("%s: cannot write the tokenizer: %s: %s", path, tmp, strerror(errno));
    } else {
        /* Write, flush and fsync the temp file before the rename, so <path> is never a partial file. */
        bool ok = fwrite(text, 1, n, f) == n && fflush(f) == 0 && fsync(fileno(f)) == 0;
        int err = errno;
        if (fclose(f) != 0 && ok) {
            ok = false;
            err = errno;
        }
        if (!ok) rc = base_error_set("%s: cannot write the tokenizer: %s: %s", path, tmp, strerror(err));
        else if (rename(tmp, path) != 0) rc = base_error_set("%s: cannot replace it with %s: %s", path, tmp, strerror(errno));
        if (rc != 0) unlink(tmp);
    }
    free(tmp);
    free(text);
    return rc;
}

int data_tokenizer_load(data_tokenizer **out, const char *path) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return base_error_set("%s: cannot open the tokenizer: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0, got;
    char *buf = base_xmalloc(cap);
    while ((got = fread(buf + n, 1, cap - n, f)) > 0)
        if ((n += got) == cap) buf = base_xrealloc(buf, cap *= 2);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return base_error_set("%s: cannot read the tokenizer: %s", path, strerror(errno ? errno : EIO));
    }
    int rc = data_tokenizer_from_text(out, buf, n, path);
    free(buf);
    return rc;
}

uint64_t data_tokenizer_fingerprint(const data_tokenizer *t) {
    /* FNV-1a over a fixed little-endian layout (merge count, merges, special ids), then a 64-bit
     * finaliser: the same on every machine, and different for any change of a merge or an id. */
    uint64_t h = 14695981039346656037ull;
#define FP_U32(x)                                                                                              \
    do {                                                                                                       \
        uint32_t v_ = (uint32_t)(x);                                                                           \
        for (int b_ = 0; b_ < 4; b_++) h = (h ^ ((v_ >> (8 * b_)) & 0xff)) * 1099511628211ull;                 \
    } while (0)
    const int64_t m = data_bpe_n_merges(t->bpe);
    const int32_t *mg = data_bpe_merges(t->bpe);
    FP_U32(m);
    FP_U32((uint64_t)m >> 32);
    for (int64_t i = 0; i < 2 * m; i++) FP_U32(mg[i]);
    for (int k = 0; k < DATA_TOK_N_SPECIAL; k++) FP_U32(t->special[k]);
#undef FP_U32
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}
