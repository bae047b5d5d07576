/* cmd_tokenizer.c — `ember tokenizer train|encode|decode|info`: byte-level BPE + specials (data/tokenizer.h) from the command line, text files or checkpoints. */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "autograd/ag.h"
#include "checkpoints/ckpt.h"
#include "data/tokenizer.h"

#define CMD "tokenizer"

static void usage(FILE *f) {
    fprintf(f,
            "usage: ember tokenizer train --corpus FILE [--corpus FILE ...] --vocab-size N [--max-bytes N] -o TOK\n"
            "       ember tokenizer encode --tokenizer TOK|CKPT (--text STRING | --input FILE) [-o OUT]\n"
            "                              [--format ids|tokens|npy] [--threads N]\n"
            "       ember tokenizer decode --tokenizer TOK|CKPT (--ids \"1 2 3\" | --input FILE) [-o OUT]\n"
            "       ember tokenizer info TOK|CKPT\n"
            "\n"
            "Byte-level BPE with the special tokens [PAD] [UNK] [CLS] [SEP] [MASK] after the merges\n"
            "(docs/DATA.md). TOK is a tokenizer text file (\"ember-tokenizer 1\"); CKPT an ember checkpoint,\n"
            "whose /tokenizer is used. `ember tokenizer ACTION --help` describes one action.\n");
}

static void usage_train(FILE *f) {
    fprintf(f, "usage: ember tokenizer train --corpus FILE [--corpus FILE ...] --vocab-size N [--max-bytes N] -o TOK\n"
               "                             [--quiet]\n\n"
               "Learns vocab-size - 261 merges (vocab-size counts the 256 bytes and the 5 specials) from the\n"
               "corpus files (plain or gzip) read one after the other, at most --max-bytes bytes in all\n"
               "(default 0 = everything; the last file read is cut back to a word boundary). Writes TOK\n"
               "atomically and prints the merges learned, the vocabulary size, the time and the special ids.\n"
               "Training stops early, with fewer merges, when no pair of tokens occurs twice.\n"
               "  --quiet   no progress lines on stderr\n");
}

static void usage_encode(FILE *f) {
    fprintf(f, "usage: ember tokenizer encode --tokenizer TOK|CKPT (--text STRING | --input FILE) [-o OUT]\n"
               "                              [--format ids|tokens|npy] [--threads N]\n\n"
               "ids     (default) one output line per input line, the token ids separated by spaces. Each\n"
               "        line is encoded on its own and its '\\n' is not encoded: lines stay lines, and\n"
               "        decode puts the '\\n' back ('\\r' of CRLF text is kept and encoded).\n"
               "tokens  the same lines with each token's bytes quoted (\\xHH: a byte that is not UTF-8).\n"
               "npy     the whole input (newlines included) as one int32 1-D NumPy file ('<i4'):\n"
               "        decode --input OUT.npy gives the input back byte for byte. Needs -o unless stdout\n"
               "        is not a terminal.\n"
               "FILE may be gzip. Special ids are never produced from text. With -o, a summary (bytes,\n"
               "tokens, time) goes to stderr. --threads N: encoder threads for npy (0 = OpenMP default).\n");
}

static void usage_decode(FILE *f) {
    fprintf(f, "usage: ember tokenizer decode --tokenizer TOK|CKPT (--ids \"1 2 3\" | --input FILE) [-o OUT]\n\n"
               "Each line of ids (spaces or tabs between them) becomes one line of text followed by '\\n' (the\n"
               "inverse of encode's ids format). A FILE in NumPy .npy format (int32, 1-D, as written by\n"
               "encode --format npy) decodes to the bytes exactly, with nothing added. Special ids decode to\n"
               "their names (\"[SEP]\").\n");
}

static void usage_info(FILE *f) {
    fprintf(f, "usage: ember tokenizer info TOK|CKPT\n\n"
               "Prints the model, the vocabulary size, the merge count, the special ids and the fingerprint\n"
               "(64 bits of the merges and special ids: equal iff the same tokenizer).\n");
}

static bool is_help(const char *a) { return !strcmp(a, "--help") || !strcmp(a, "-h"); }

/* Prints "ember tokenizer: <base_error_msg()>" and returns 1 (input and I/O failures; usage errors
 * go through cli_error and return 2). */
static int tok_fail(void) {
    fprintf(stderr, "ember " CMD ": %s\n", base_error_msg());
    return 1;
}

/* argv[*i] is a flag that takes a value: the value, or NULL with the error set. */
static const char *flag_value(int argc, char **argv, int *i) {
    if (*i + 1 >= argc) {
        base_error_set("%s: expected a value, got the end of the command line", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

/* ---- loading a tokenizer from a text file or a checkpoint ---------------------------------------- */

/* A checkpoint starts with the ember integrity line or, without it, with HDF5's signature. */
static bool looks_like_checkpoint(const char *path) {
    static const unsigned char h5sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    unsigned char head[16] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    size_t n = fread(head, 1, sizeof head, f);
    fclose(f);
    return (n >= 16 && !memcmp(head, "EMBER-CHECKPOINT", 16)) || (n >= 8 && !memcmp(head, h5sig, 8));
}

/* Loads a tokenizer from TOK or CKPT; *is_ckpt says which. -1 with the error set. */
static int load_tokenizer(const char *path, data_tokenizer **t, bool *is_ckpt) {
    *t = NULL;
    *is_ckpt = looks_like_checkpoint(path);
    if (!*is_ckpt) return data_tokenizer_load(t, path);
    ckpt_reader *r = ckpt_open(path);
    if (!r) return -1;
    int rc = ckpt_get_tokenizer(r, t);
    ckpt_close(r);
    return rc;
}

/* ---- input and output ------------------------------------------------------------------------- */

/* Reads a whole plain or gzip file into *buf (heap, NUL-terminated; [*n] bytes). */
static int read_all(const char *path, uint8_t **buf, size_t *n) {
    *buf = NULL;
    *n = 0;
    errno = 0;
    gzFile g = gzopen(path, "rb");
    if (!g) return base_error_set("%s: cannot open: %s", path, strerror(errno ? errno : ENOENT));
    gzbuffer(g, 1 << 20);
    size_t cap = 1 << 20, len = 0;
    uint8_t *b = base_xmalloc(cap + 1);
    for (;;) {
        if (len == cap) b = base_xrealloc(b, (cap *= 2) + 1);
        size_t room = cap - len;
        if (room > (1u << 30)) room = 1u << 30;
        int got = gzread(g, b + len, (unsigned)room);
        int err = Z_OK;
        const char *msg = gzerror(g, &err);
        if (got < 0 || (err != Z_OK && err != Z_BUF_ERROR) || (got == 0 && err == Z_BUF_ERROR)) {
            base_error_set("%s: byte %zu: %s (%s)", path, len, got == 0 ? "truncated gzip data" : "unreadable",
                         msg ? base_strip_path_prefix(msg, path) : "?");
            free(b);
            gzclose(g);
            return -1;
        }
        if (got == 0) break;
        len += (size_t)got;
    }
    gzclose(g);
    b[len] = 0;
    *buf = b;
    *n = len;
    return 0;
}

/* stdout, or OUT opened for writing. */
static FILE *open_out(const char *out) {
    if (!out) return stdout;
    FILE *f = fopen(out, "wb");
    if (!f) base_error_set("%s: cannot write: %s", out, strerror(errno));
    return f;
}
/* Flushes and closes f (unless stdout); -1 with an error naming out on a write failure. */
static int close_out(FILE *f, const char *out) {
    int bad = fflush(f) != 0 || ferror(f);
    int err = errno;
    if (f != stdout && fclose(f) != 0 && !bad) {
        bad = 1;
        err = errno;
    }
    if (bad) return base_error_set("%s: write failed: %s", out ? out : "stdout", strerror(err ? err : EIO));
    return 0;
}

/* Writes ids[0..n) as decimal numbers separated by one space (no newline). */
static void put_ids(FILE *f, const int32_t *ids, int64_t n) {
    char buf[1 << 14];
    size_t k = 0;
    for (int64_t i = 0; i < n; i++) {
        if (k > sizeof buf - 16) {
            fwrite(buf, 1, k, f);
            k = 0;
        }
        if (i) buf[k++] = ' ';
        char tmp[12];
        int d = 0;
        uint32_t v = (uint32_t)ids[i]; /* encoder ids are >= 0 */
        do tmp[d++] = (char)('0' + v % 10);
        while ((v /= 10) != 0);
        while (d) buf[k++] = tmp[--d];
    }
    fwrite(buf, 1, k, f);
}

/* NumPy .npy version 1.0: "\x93NUMPY", 1, 0, uint16 LE header length, an ASCII dict padded with
 * spaces and ended by '\n' so that the data starts at a multiple of 64 bytes, then the data. */
static void write_npy_i32(FILE *f, const int32_t *ids, int64_t n) { /* write errors: see close_out */
    char dict[128];
    int dl = snprintf(dict, sizeof dict, "{'descr': '<i4', 'fortran_order': False, 'shape': (%lld,), }", (long long)n);
    size_t total = 10 + (size_t)dl + 1; /* magic(6) + version(2) + length(2) + dict + '\n' */
    size_t pad = (64 - total % 64) % 64;
    size_t hlen = (size_t)dl + pad + 1;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff), (unsigned char)(hlen >> 8)};
    fwrite(pre, 1, sizeof pre, f);
    fwrite(dict, 1, (size_t)dl, f);
    for (size_t i = 0; i < pad; i++) fputc(' ', f);
    fputc('\n', f);
    const uint16_t probe = 1;
    if (*(const uint8_t *)&probe == 1) { /* little-endian host: the ids are already '<i4' */
        fwrite(ids, sizeof *ids, (size_t)n, f);
    } else {
        for (int64_t i = 0; i < n; i++) {
            uint32_t v = (uint32_t)ids[i];
            unsigned char le[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                                   (unsigned char)(v >> 24)};
            fwrite(le, 1, 4, f);
        }
    }
}

/* Reads an int32 1-D .npy held in buf[0..n) (versions 1-3, '<i4', C order) into *ids (heap). */
static int read_npy_i32(const char *path, const uint8_t *buf, size_t n, int32_t **ids, int64_t *k) {
    *ids = NULL;
    *k = 0;
    size_t hlen, off;
    if (memcmp(buf, "\x93NUMPY", 6) != 0) return base_error_set("%s: byte 0: expected the .npy magic", path);
    if (n < 10) return base_error_set("%s: %zu bytes: expected at least 10 for a .npy header (truncated?)", path, n);
    if (buf[6] == 1) {
        hlen = (size_t)buf[8] | (size_t)buf[9] << 8;
        off = 10;
    } else if ((buf[6] == 2 || buf[6] == 3) && n >= 12) {
        hlen = (size_t)buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 | (size_t)buf[11] << 24;
        off = 12;
    } else return base_error_set("%s: byte 6: expected .npy version 1, 2 or 3, got %d", path, buf[6]);
    if (hlen > n - off) return base_error_set("%s: header of %zu bytes, but the file has %zu: truncated", path, hlen, n);
    char *h = base_xmalloc(hlen + 1);
    memcpy(h, buf + off, hlen);
    h[hlen] = 0;
    off += hlen;
    const char *d = strstr(h, "'descr':"), *fo = strstr(h, "'fortran_order':"), *sh = strstr(h, "'shape':");
    long long len = -1;
    int used = 0;
    bool ok = d && fo && sh;
    if (ok) {
        d += 8;
        while (*d == ' ') d++;
        fo += 16;
        while (*fo == ' ') fo++;
        sh += 8;
        while (*sh == ' ') sh++;
        ok = !strncmp(d, "'<i4'", 5) && !strncmp(fo, "False", 5) && sscanf(sh, "(%lld,)%n", &len, &used) == 1 &&
             used > 0 && len >= 0;
    }
    if (!ok) {
        int rc = base_error_set("%s: expected int32 ids in a 1-D array ('<i4', C order, shape (N,)), got the header %.120s",
                              path, h);
        free(h);
        return rc;
    }
    free(h);
    if ((uint64_t)(n - off) != (uint64_t)len * 4)
        return base_error_set("%s: header says %lld ids (%lld bytes of data), the file has %zu bytes after the header",
                            path, len, len * 4, n - off);
    int32_t *v = base_xmalloc((size_t)(len ? len : 1) * sizeof *v);
    for (long long i = 0; i < len; i++) {
        const uint8_t *p = buf + off + 4 * i;
        v[i] = (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
    }
    *ids = v;
    *k = len;
    return 0;
}

/* ---- train ------------------------------------------------------------------------------------- */

static void print_specials(const data_tokenizer *t) {
    for (int k = 0; k < DATA_TOK_N_SPECIAL; k++)
        printf("%s%s %d", k ? ", " : "", data_tok_special_name[k], t->special[k]);
    printf("\n");
}

static int cmd_train(int argc, char **argv) {
    const char **corpus = base_xmalloc((size_t)argc * sizeof *corpus);
    int ncorpus = 0;
    const char *out = NULL, *v;
    int64_t vocab = -1, max_bytes = 0;
    bool quiet = false;
    int rc = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (is_help(a)) {
            usage_train(stdout);
            rc = 0;
            goto done;
        } else if (!strcmp(a, "--corpus")) {
            if (!(v = flag_value(argc, argv, &i))) goto usage_error;
            corpus[ncorpus++] = v;
        } else if (!strcmp(a, "--vocab-size")) {
            if (!(v = flag_value(argc, argv, &i)) || cli_parse_i64(a, v, 256 + DATA_TOK_N_SPECIAL, INT32_MAX, &vocab))
                goto usage_error;
        } else if (!strcmp(a, "--max-bytes")) {
            if (!(v = flag_value(argc, argv, &i)) || cli_parse_i64(a, v, 0, INT64_MAX, &max_bytes)) goto usage_error;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            if (!(out = flag_value(argc, argv, &i))) goto usage_error;
        } else if (!strcmp(a, "--quiet")) {
            quiet = true;
        } else {
            base_error_set("train: unknown argument '%s' (see ember tokenizer train --help)", a);
            goto usage_error;
        }
    }
    if (!ncorpus || vocab < 0 || !out) {
        base_error_set("train: %s missing (see ember tokenizer train --help)",
                     !ncorpus ? "--corpus FILE" : vocab < 0 ? "--vocab-size N" : "-o TOK");
        goto usage_error;
    }
    double t0 = base_now_sec();
    data_tokenizer *t = NULL;
    if (data_tokenizer_train(&t, corpus, ncorpus, max_bytes, (int32_t)vocab, quiet ? NULL : stderr) != 0) {
        rc = tok_fail();
        goto done;
    }
    double secs = base_now_sec() - t0;
    if (data_tokenizer_save(t, out) != 0) {
        data_tokenizer_free(t);
        rc = tok_fail();
        goto done;
    }
    const int64_t m = data_bpe_n_merges(t->bpe);
    printf("merges learned  %lld of %lld asked%s\n", (long long)m, (long long)(vocab - 256 - DATA_TOK_N_SPECIAL),
           m < vocab - 256 - DATA_TOK_N_SPECIAL ? " (no pair occurs twice any more: stopped early)" : "");
    printf("vocab size      %d (256 bytes + %lld merges + %d special)\n", t->vocab_size, (long long)m, DATA_TOK_N_SPECIAL);
    printf("time            %.2f s (reading and training)\n", secs);
    printf("special ids     ");
    print_specials(t);
    printf("fingerprint     %016" PRIx64 "\n", data_tokenizer_fingerprint(t));
    printf("wrote           %s\n", out);
    data_tokenizer_free(t);
    rc = 0;
    goto done;
usage_error:
    rc = cli_error(CMD);
done:
    free(corpus);
    return rc;
}

/* ---- encode ------------------------------------------------------------------------------------ */

static int cmd_encode(int argc, char **argv) {
    const char *tok = NULL, *text = NULL, *input = NULL, *out = NULL, *format = "ids", *v;
    int64_t threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (is_help(a)) {
            usage_encode(stdout);
            return 0;
        }
        if (!strcmp(a, "--tokenizer")) {
            if (!(tok = flag_value(argc, argv, &i))) return cli_error(CMD);
        } else if (!strcmp(a, "--text")) {
            if (!(text = flag_value(argc, argv, &i))) return cli_error(CMD);
        } else if (!strcmp(a, "--input")) {
            if (!(input = flag_value(argc, argv, &i))) return cli_error(CMD);
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            if (!(out = flag_value(argc, argv, &i))) return cli_error(CMD);
        } else if (!strcmp(a, "--format")) {
            if (!(format = flag_value(argc, argv, &i))) return cli_error(CMD);
        } else if (!strcmp(a, "--threads")) {
            if (!(v = flag_value(argc, argv, &i)) || cli_parse_i64(a, v, 0, 1024, &threads)) return cli_error(CMD);
        } else {
            base_error_set("encode: unknown argument '%s' (see ember tokenizer encode --help)", a);
            return cli_error(CMD);
        }
    }
    if (!tok) return base_error_set("encode: --tokenizer TOK|CKPT missing"), cli_error(CMD);
    if (!text == !input) return base_error_set("encode: expected one of --text STRING or --input FILE"), cli_error(CMD);
    const bool npy = !strcmp(format, "npy"), tokens = !strcmp(format, "tokens");
    if (!npy && !tokens && strcmp(format, "ids"))
        return base_error_set("--format: expected ids, tokens or npy, got '%s'", format), cli_error(CMD);
    if (npy && !out && isatty(STDOUT_FILENO))
        return base_error_set("encode: --format npy writes binary data: give -o FILE.npy (or redirect stdout)"),
               cli_error(CMD);

    const double t0 = base_now_sec();
    data_tokenizer *t = NULL;
    bool is_ckpt;
    if (load_tokenizer(tok, &t, &is_ckpt) != 0) return tok_fail();
    uint8_t *buf = NULL;
    size_t n = 0;
    int32_t *ids = NULL;
    int64_t *line_end = NULL, n_ids = 0, n_lines = 0;
    FILE *f = NULL;
    int rc = 1;
    bool opened = false;
    double t_enc = 0;
    if (npy && input) {
        /* Streams the file in blocks on the encoder threads; same ids as encoding it whole. */
        double e0 = base_now_sec();
        if (data_bpe_encode_file(t->bpe, input, &ids, &n_ids, (int)threads) != 0) goto done;
        t_enc = base_now_sec() - e0;
    } else {
        if (input) {
            if (read_all(input, &buf, &n) != 0) goto done;
        } else {
            n = strlen(text);
        }
        const uint8_t *src = input ? buf : (const uint8_t *)text;
        double e0 = base_now_sec();
        if (npy) data_tokenizer_encode(t, src, n, &ids, &n_ids, (int)threads);
        else data_bpe_encode_lines(t->bpe, src, n, &ids, &n_ids, &line_end, &n_lines);
        t_enc = base_now_sec() - e0;
    }
    if (!(f = open_out(out))) goto done;
    opened = true;
    if (npy) {
        write_npy_i32(f, ids, n_ids);
    } else {
        for (int64_t l = 0, at = 0; l < n_lines; l++) {
            if (tokens) {
                for (int64_t i = at; i < line_end[l]; i++) {
                    int32_t len;
                    const uint8_t *s = data_bpe_token_bytes(t->bpe, ids[i], &len);
                    char *q = data_tokenizer_quote(s, (size_t)len);
                    if (i > at) fputc(' ', f);
                    fputs(q, f);
                    free(q);
                }
            } else {
                put_ids(f, ids + at, line_end[l] - at);
            }
            fputc('\n', f);
            at = line_end[l];
        }
    }
    if (close_out(f, out) != 0) {
        f = NULL;
        goto done;
    }
    f = NULL;
    if (out) /* encoding time alone, then load + read + encode + write (process start-up excluded) */
        fprintf(stderr, "ember tokenizer: %s -> %s: %lld tokens in %.3f s encoding (%.0f tokens/s), %.3f s in all\n",
                input ? input : "--text", out, (long long)n_ids, t_enc, t_enc > 0 ? (double)n_ids / t_enc : 0.0,
                base_now_sec() - t0);
    rc = 0;
done:
    if (rc) tok_fail();
    if (f && f != stdout) fclose(f);
    if (rc && opened && out) unlink(out); /* no partial output file on failure */
    free(buf);
    free(ids);
    free(line_end);
    data_tokenizer_free(t);
    return rc;
}

/* ---- decode ------------------------------------------------------------------------------------ */

/* Appends the ids of one line s[0..len) to *ids (grown as needed; [*n]). origin names the source
 * and line in errors: "ids.txt:3: id 2: expected a token id in [0, 1005), got 'x'". */
static int parse_id_line(const char *origin, int64_t lineno, const char *s, size_t len, int32_t vocab, int32_t **ids,
                         int64_t *n, int64_t *cap) {
    const int64_t first = *n; /* ids are numbered from 1 within their line */
    for (size_t i = 0; i < len;) {
        while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r')) i++;
        if (i == len) break;
        size_t j = i;
        while (j < len && s[j] != ' ' && s[j] != '\t' && s[j] != '\r') j++;
        int64_t v = -1;
        size_t k = i;
        if (s[k] != '-' && s[k] != '+')
            for (v = 0; k < j && s[k] >= '0' && s[k] <= '9' && v <= INT32_MAX; k++) v = v * 10 + (s[k] - '0');
        if (k != j || v < 0 || v >= vocab)
            return base_error_set("%s:%lld: id %lld: expected a token id in [0, %d), got '%.*s'", origin, (long long)lineno,
                                (long long)(*n - first + 1), vocab, (int)(j - i > 40 ? 40 : j - i), s + i);
        if (*n == *cap) *ids = base_xrealloc(*ids, (size_t)(*cap = *cap ? 2 * *cap : 256) * sizeof **ids);
        (*ids)[(*n)++] = (int32_t)v;
        i = j;
    }
    return 0;
}

static int cmd_decode(int argc, char **argv) {
    const char *tok = NULL, *idstr = NULL, *input = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (is_help(a)) {
            usage_decode(stdout);
            return 0;
        }
        if (!strcmp(a, "--tokenizer")) {
            if (!(tok = flag_value(argc, argv, &i))) return cli_error(CMD);
        } else if (!strcmp(a, "--ids")) {
            if (!(idstr = flag_value(argc, argv, &i))) return cli_error(CMD);
        } else if (!strcmp(a, "--input")) {
            if (!(input = flag_value(argc, argv, &i))) return cli_error(CMD);
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            if (!(out = flag_value(argc, argv, &i))) return cli_error(CMD);
        } else {
            base_error_set("decode: unknown argument '%s' (see ember tokenizer decode --help)", a);
            return cli_error(CMD);
        }
    }
    if (!tok) return base_error_set("decode: --tokenizer TOK|CKPT missing"), cli_error(CMD);
    if (!idstr == !input) return base_error_set("decode: expected one of --ids \"1 2 3\" or --input FILE"), cli_error(CMD);

    data_tokenizer *t = NULL;
    bool is_ckpt;
    if (load_tokenizer(tok, &t, &is_ckpt) != 0) return tok_fail();
    uint8_t *buf = NULL, *text = NULL;
    size_t n = 0, tn = 0;
    int32_t *ids = NULL;
    int64_t n_ids = 0, cap = 0, *line_end = NULL;
    FILE *f = NULL;
    int rc = 1;
    bool opened = false;
    if (input && read_all(input, &buf, &n) != 0) goto done;
    if (input && n >= 6 && !memcmp(buf, "\x93NUMPY", 6)) {
        /* A whole encoded text: decode it to the exact bytes, adding nothing. */
        if (read_npy_i32(input, buf, n, &ids, &n_ids) != 0) goto done;
        if (data_tokenizer_decode(t, ids, n_ids, &text, &tn) != 0) {
            base_error_prefix("%s", input);
            goto done;
        }
        if (!(f = open_out(out))) goto done;
        opened = true;
        fwrite(text, 1, tn, f);
    } else {
        const char *src = input ? (const char *)buf : idstr, *origin = input ? input : "--ids";
        size_t len = input ? n : strlen(idstr);
        /* Every line is parsed and checked before anything is written: a bad id writes no output.
         * ids[line_end[k-1] .. line_end[k]) are the ids of line k. */
        int64_t lineno = 0, lcap = 64;
        line_end = base_xmalloc((size_t)lcap * sizeof *line_end);
        for (size_t at = 0; at < len;) {
            const char *s = src + at, *nl = memchr(s, '\n', len - at);
            size_t l = nl ? (size_t)(nl - s) : len - at;
            at += l + (nl ? 1 : 0);
            if (parse_id_line(origin, lineno + 1, s, l, t->vocab_size, &ids, &n_ids, &cap) != 0) goto done;
            if (lineno == lcap) line_end = base_xrealloc(line_end, (size_t)(lcap *= 2) * sizeof *line_end);
            line_end[lineno++] = n_ids;
        }
        if (!(f = open_out(out))) goto done;
        opened = true;
        for (int64_t k = 0, from = 0; k < lineno; from = line_end[k++]) {
            free(text);
            text = NULL;
            data_tokenizer_decode(t, ids + from, line_end[k] - from, &text, &tn); /* ids checked: cannot fail */
            fwrite(text, 1, tn, f);
            fputc('\n', f);
        }
    }
    rc = close_out(f, out) == 0 ? 0 : 1;
    f = NULL;
done:
    if (rc) tok_fail();
    if (f && f != stdout) fclose(f);
    if (rc && opened && out) unlink(out); /* no partial output file on failure */
    free(buf);
    free(text);
    free(ids);
    free(line_end);
    data_tokenizer_free(t);
    return rc;
}

/* ---- info -------------------------------------------------------------------------------------- */

static int cmd_info(int argc, char **argv) {
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (is_help(a)) {
            usage_info(stdout);
            return 0;
        }
        if (!strcmp(a, "--tokenizer") && i + 1 < argc && !path) path = argv[++i];
        else if (a[0] == '-' && a[1]) {
            base_error_set("info: unknown argument '%s' (see ember tokenizer info --help)", a);
            return cli_error(CMD);
        } else if (path) {
            base_error_set("info: one TOK|CKPT expected, got '%s' and '%s'", path, a);
            return cli_error(CMD);
        } else path = a;
    }
    if (!path) return base_error_set("info: TOK|CKPT missing (see ember tokenizer info --help)"), cli_error(CMD);
    data_tokenizer *t = NULL;
    bool is_ckpt;
    if (load_tokenizer(path, &t, &is_ckpt) != 0) return tok_fail();
    const int64_t m = data_bpe_n_merges(t->bpe);
    int32_t longest = 0;
    for (int32_t id = 256; id < 256 + m; id++) {
        int32_t l;
        data_bpe_token_bytes(t->bpe, id, &l);
        if (l > longest) longest = l;
    }
    printf("tokenizer       %s%s\n", path, is_ckpt ? ":/tokenizer/file (checkpoint)" : " (text file)");
    printf("model           byte-bpe, normalization none\n");
    printf("vocab size      %d (256 bytes + %lld merges + %d special)\n", t->vocab_size, (long long)m, DATA_TOK_N_SPECIAL);
    printf("merges          %lld (longest token %d bytes)\n", (long long)m, m ? longest : 1);
    printf("special ids     ");
    print_specials(t);
    printf("fingerprint     %016" PRIx64 "\n", data_tokenizer_fingerprint(t));
    data_tokenizer_free(t);
    return 0;
}

int cli_cmd_tokenizer(int argc, char **argv) {
    if (argc < 2 || is_help(argv[1])) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "train")) return cmd_train(argc - 1, argv + 1);
    if (!strcmp(argv[1], "encode")) return cmd_encode(argc - 1, argv + 1);
    if (!strcmp(argv[1], "decode")) return cmd_decode(argc - 1, argv + 1);
    if (!strcmp(argv[1], "info")) return cmd_info(argc - 1, argv + 1);
    base_error_set("unknown action '%s': expected train, encode, decode or info", argv[1]);
    cli_error(CMD);
    usage(stderr);
    return 2;
}
