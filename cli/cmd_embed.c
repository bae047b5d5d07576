/* cmd_embed.c — `ember embed`: sentence vectors of a file's lines, per-token vectors, and one word across contexts. */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "train/embed.h"
#include "train/eval.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: ember embed MODEL --input FILE -o OUT [--pool mean|cls|first-last] [--layer K] [--batch N]\n"
            "       ember embed MODEL --tokens \"a sentence\" [--layer K]\n"
            "       ember embed MODEL --word WORD --context \"text\" --context \"text\" [...]\n\n"
            "MODEL is a checkpoint of `ember train mlm|lm` (it holds its tokenizer).\n"
            "--input: one vector per line of FILE (plain or gzip text; an empty line gets a vector too),\n"
            "  pooled over the line's tokens (mean, default; cls: the first token; first-last: mean of the\n"
            "  first and last layers' outputs, SimCSE's first-last avg), from layer K (1..layers, default the\n"
            "  last). OUT by extension: .npy (float32 [lines, d]), .h5/.hdf5 (/embeddings), else word2vec text\n"
            "  (\"lines d\", then \"<line number> v1 v2 ...\").\n"
            "--tokens: each token of the sentence with its contextual vector (token bytes quoted, TAB, values).\n"
            "--word: the vector of WORD (mean of its tokens) in each context, and the cosine between every\n"
            "  pair of contexts: the chapter's example (\"bank\" by a river vs at a bank): a contextual model\n"
            "  gives different vectors; a static word vector is the same in every context (cosine 1).\n");
}

/* Lines of a plain or gzip file (the '\n' and a trailing '\r' removed). *lines and each line heap. */
static int read_lines(const char *path, char ***lines, size_t **lens, int64_t *n) {
    gzFile f = gzopen(path, "rb");
    if (!f) return base_error_set("%s: cannot open: %s", path, strerror(errno ? errno : ENOENT));
    int64_t cap = 0, cnt = 0;
    char **L = NULL;
    size_t *N = NULL;
    char *cur = NULL;
    size_t len = 0, ccap = 0;
    char buf[1 << 16];
    bool more = true;
    while (more) {
        if (!gzgets(f, buf, sizeof buf)) {
            int err;
            const char *msg = gzerror(f, &err);
            if (err != Z_OK && err != Z_STREAM_END) {
                base_error_set("%s: read error after line %lld: %s", path, (long long)cnt, base_strip_path_prefix(msg, path));
                for (int64_t i = 0; i < cnt; i++) free(L[i]);
                free(L);
                free(N);
                free(cur);
                gzclose(f);
                return -1;
            }
            more = false;
            if (len == 0) break; /* no unterminated last line */
        }
        size_t bl = more ? strlen(buf) : 0;
        if (len + bl + 1 > ccap) {
            ccap = (len + bl + 1) * 2;
            cur = base_xrealloc(cur, ccap);
        }
        memcpy(cur + len, buf, bl);
        len += bl;
        if (more && (bl == 0 || buf[bl - 1] != '\n')) continue; /* a long line: read on */
        while (len > 0 && (cur[len - 1] == '\n' || cur[len - 1] == '\r')) len--;
        cur[len] = 0;
        if (cnt == cap) {
            cap = cap ? 2 * cap : 1024;
            L = base_xrealloc(L, (size_t)cap * sizeof *L);
            N = base_xrealloc(N, (size_t)cap * sizeof *N);
        }
        L[cnt] = base_xstrdup(cur);
        N[cnt++] = len;
        len = 0;
    }
    free(cur);
    gzclose(f);
    *lines = L;
    *lens = N;
    *n = cnt;
    return 0;
}

/* Byte range [lo, hi) of the first whole-word occurrence of word in text, or -1. */
static int find_word(const char *text, const char *word, size_t *lo, size_t *hi) {
    size_t wl = strlen(word);
    for (const char *p = strstr(text, word); p; p = strstr(p + 1, word)) {
        bool left = p == text || !((p[-1] >= 'a' && p[-1] <= 'z') || (p[-1] >= 'A' && p[-1] <= 'Z'));
        char r = p[wl];
        bool right = !((r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z'));
        if (left && right) {
            *lo = (size_t)(p - text);
            *hi = *lo + wl;
            return 0;
        }
    }
    return -1;
}

/* Mean vector (out [d]) of the tokens of text that overlap word's first occurrence. */
static int word_vector(const train_lm_model *m, const char *text, const char *word, int layer, float *out) {
    size_t lo, hi;
    if (find_word(text, word, &lo, &hi)) return base_error_set("context \"%s\" does not contain the word '%s'", text, word);
    int32_t *ids = NULL;
    float *v = NULL;
    int64_t n = 0, D = m->net.cfg.d;
    if (train_embed_tokens(m, text, strlen(text), layer, &ids, &v, &n)) return -1;
    size_t pos = 0;
    int64_t used = 0;
    memset(out, 0, (size_t)D * sizeof(float));
    for (int64_t t = 0; t < n; t++) {
        int32_t len = 0;
        const uint8_t *b = data_bpe_token_bytes(m->tok->bpe, ids[t], &len);
        if (!b) continue; /* a special token ([CLS]) covers no text */
        if (pos < hi && pos + (size_t)len > lo) {
            for (int64_t j = 0; j < D; j++) out[j] += v[t * D + j];
            used++;
        }
        pos += (size_t)len;
    }
    free(ids);
    free(v);
    if (used == 0) return base_error_set("context \"%s\": '%s' lies beyond the model's %lld positions", text, word,
                                       (long long)m->net.cfg.max_seq);
    for (int64_t j = 0; j < D; j++) out[j] /= (float)used;
    return 0;
}

static void print_token(const data_tokenizer *tok, int32_t id) {
    int32_t len = 0;
    const uint8_t *b = data_bpe_token_bytes(tok->bpe, id, &len);
    if (!b) {
        for (int k = 0; k < DATA_TOK_N_SPECIAL; k++)
            if (tok->special[k] == id) printf("%s", data_tok_special_name[k]);
        return;
    }
    putchar('"');
    for (int32_t i = 0; i < len; i++) {
        if (b[i] == '"' || b[i] == '\\') printf("\\%c", b[i]);
        else if (b[i] < 0x20) printf("\\x%02x", b[i]);
        else putchar(b[i]);
    }
    putchar('"');
}

#define MAX_CONTEXTS 64

int cli_cmd_embed(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *model = argv[1], *input = NULL, *out = NULL, *tokens = NULL, *word = NULL;
    const char *contexts[MAX_CONTEXTS];
    int ncontext = 0;
    train_pool pool = TRAIN_POOL_MEAN;
    int64_t layer = -1, batch = 32;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = 0;
        if (!strcmp(a, "--input")) input = v;
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) out = v;
        else if (!strcmp(a, "--tokens")) tokens = v;
        else if (!strcmp(a, "--word")) word = v;
        else if (!strcmp(a, "--context")) {
            if (ncontext == MAX_CONTEXTS) rc = base_error_set("--context: at most %d", MAX_CONTEXTS);
            else contexts[ncontext++] = v;
        } else if (!strcmp(a, "--pool")) rc = train_pool_parse(v, &pool);
        else if (!strcmp(a, "--layer")) rc = cli_parse_i64(a, v, 1, 4096, &layer);
        else if (!strcmp(a, "--batch")) rc = cli_parse_i64(a, v, 1, 65536, &batch);
        else {
            fprintf(stderr, "ember embed: unknown flag '%s' (ember embed --help)\n", a);
            return 2;
        }
        if (!v && !rc) rc = base_error_set("%s: expected a value", a);
        if (rc) return cli_error("embed");
        i++;
    }
    int modes = (input != NULL) + (tokens != NULL) + (word != NULL);
    if (modes != 1) {
        base_error_set("give exactly one of --input FILE, --tokens TEXT, --word WORD (with --context TEXT ...)");
        return cli_error("embed");
    }
    if (input && !out) {
        base_error_set("--input needs -o OUT (.npy, .h5 or a word2vec text file)");
        return cli_error("embed");
    }
    if (word && ncontext < 2) {
        base_error_set("--word needs at least two --context texts");
        return cli_error("embed");
    }
    train_lm_model m;
    if (train_lm_load_model(model, &m)) {
        fprintf(stderr, "ember embed: %s\n", base_error_msg());
        return 1;
    }
    int64_t D = m.net.cfg.d;
    int status = 0;
    if (input) {
        char **lines = NULL;
        size_t *lens = NULL;
        int64_t n = 0;
        if (read_lines(input, &lines, &lens, &n)) status = 1;
        else if (n == 0) {
            base_error_set("%s: no lines", input);
            status = 1;
        } else {
            float *v = base_xmalloc((size_t)(n * D) * sizeof(float));
            double t0 = base_now_sec();
            if (train_embed_texts(&m, (const char *const *)lines, lens, n, pool, (int)layer, batch, v) ||
                train_embed_write(out, v, n, D, NULL)) {
                base_error_prefix("%s", input);
                status = 1;
            } else {
                fprintf(stderr, "ember embed: %lld lines -> %s ([%lld, %lld] float32) in %.2f s\n", (long long)n, out,
                        (long long)n, (long long)D, base_now_sec() - t0);
            }
            free(v);
        }
        for (int64_t i = 0; i < n; i++) free(lines[i]);
        free(lines);
        free(lens);
    } else if (tokens) {
        int32_t *ids = NULL;
        float *v = NULL;
        int64_t n = 0;
        if (train_embed_tokens(&m, tokens, strlen(tokens), (int)layer, &ids, &v, &n)) status = 1;
        for (int64_t t = 0; t < n; t++) {
            print_token(m.tok, ids[t]);
            for (int64_t j = 0; j < D; j++) printf("%s%.5g", j ? " " : "\t", (double)v[t * D + j]);
            putchar('\n');
        }
        free(ids);
        free(v);
    } else {
        float *v = base_xmalloc((size_t)(ncontext * D) * sizeof(float));
        for (int c = 0; c < ncontext && !status; c++)
            if (word_vector(&m, contexts[c], word, (int)layer, v + c * D)) status = 1;
        if (!status) {
            printf("'%s' in %d contexts (%s model, layer %lld): cosine between its contextual vectors\n", word, ncontext,
                   nn_text_kind_name(m.net.cfg.kind), (long long)(layer < 0 ? m.net.cfg.layers : layer));
            for (int a = 0; a < ncontext; a++) printf("  [%d] %s\n", a + 1, contexts[a]);
            for (int a = 0; a < ncontext; a++)
                for (int b = a + 1; b < ncontext; b++)
                    printf("  cos([%d], [%d]) = %.4f\n", a + 1, b + 1, train_cosine(v + a * D, v + b * D, D));
            printf("a static (Word2Vec) vector of '%s' is the same in every context: cosine 1.0000\n", word);
        }
        free(v);
    }
    train_lm_model_free(&m);
    if (status) {
        fprintf(stderr, "ember embed: %s\n", base_error_msg());
        return 1;
    }
    return 0;
}
