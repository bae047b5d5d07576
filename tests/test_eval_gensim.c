/* test_eval_gensim.c — ember's analogy and word-similarity scores agree with gensim's on a generated vector file. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoints/export.h"
#include "train/eval.h"
#include "tests/support/test_util.h"

/* Run by /usr/bin/python3: prints "A <section> <correct> <seen>" per section, "O <oov>" and
 * "W <name> <spearman> <pearson> <oov_ratio%>" per similarity file. */
static const char *PY =
    "import sys, logging\n"
    "from gensim.models import KeyedVectors\n"
    "kv = KeyedVectors.load_word2vec_format(sys.argv[1], binary=sys.argv[2] == '1')\n"
    "score, sections = kv.evaluate_word_analogies(sys.argv[3], restrict_vocab=int(sys.argv[4]), case_insensitive=True)\n"
    "for s in sections[:-1]:\n"
    "    print('A', s['section'], len(s['correct']), len(s['correct']) + len(s['incorrect']))\n"
    "for f in sys.argv[5:]:\n"
    "    p, s, oov = kv.evaluate_word_pairs(f, restrict_vocab=300000, case_insensitive=True, delimiter='\\t')\n"
    "    print('W', f.rsplit('/', 1)[-1], repr(float(s[0])), repr(float(p[0])), repr(float(oov)))\n";

static int has_gensim(void) {
    char *out = NULL;
    int rc = tu_run("/usr/bin/python3 -c 'import gensim, scipy' 2>/dev/null", &out);
    free(out);
    return rc == 0;
}

/* Lower-cases s into buf (the vocabulary of the generated file is lower-case, like text8's). */
static void lower(const char *s, char *buf, size_t n) {
    size_t i = 0;
    for (; s[i] && i + 1 < n; i++) buf[i] = (char)((s[i] >= 'A' && s[i] <= 'Z') ? s[i] + 32 : s[i]);
    buf[i] = 0;
}

typedef struct {
    char **w;
    float *v;
    int64_t n, cap, dim;
    int8_t *set;
    int64_t hash[1 << 14]; /* open addressing: slot -> id or -1 (the vocabulary stays < 8k words) */
} vocab_build;

static uint64_t fnv(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* Id of w, adding it if new. */
static int64_t vb_add(vocab_build *b, const char *w) {
    uint64_t m = (1 << 14) - 1, h = fnv(w) & m;
    for (; b->hash[h] >= 0; h = (h + 1) & m)
        if (!strcmp(b->w[b->hash[h]], w)) return b->hash[h];
    assert_true(b->n < (1 << 13));
    b->hash[h] = b->n;
    if (b->n == b->cap) {
        b->cap *= 2;
        b->w = realloc(b->w, (size_t)b->cap * sizeof(char *));
        b->v = realloc(b->v, (size_t)(b->cap * b->dim) * sizeof(float));
        b->set = realloc(b->set, (size_t)b->cap);
    }
    b->w[b->n] = strdup(w);
    b->set[b->n] = 0;
    return b->n++;
}

static void test_agrees_with_gensim(void **state) {
    (void)state;
    char qpath[4096]; /* tu_data_path returns a static buffer: copy */
    const char *qp = tu_data_path("analogy/questions-words.txt");
    if (!qp) {
        skip();
        return;
    }
    snprintf(qpath, sizeof qpath, "%s", qp);
    const char *ws[] = {"wordsim/EN-WS-353-ALL.txt", "wordsim/EN-SIMLEX-999.txt", "wordsim/EN-MTurk-287.txt"};
    char wpath[3][4096];
    for (int i = 0; i < 3; i++) {
        const char *p = tu_data_path(ws[i]);
        if (!p) {
            skip();
            return;
        }
        snprintf(wpath[i], sizeof wpath[i], "%s", p);
    }
    if (!has_gensim()) {
        printf("skipped: /usr/bin/python3 with gensim and scipy not available\n");
        skip();
    }
    data_analogy_set *q;
    assert_int_equal(data_analogy_read(&q, qpath), 0);

    /* Vectors with analogy structure: within a section, the second word of a pair is the first plus
     * the section's offset plus noise, so some questions are right and some wrong. Word-similarity
     * words get vectors correlated with their partner for about half the pairs. */
    const int64_t dim = 48;
    static vocab_build b; /* static: the hash table is 128 KiB */
    memset(&b, 0, sizeof b);
    b.cap = 1024;
    b.dim = dim;
    for (int i = 0; i < (1 << 14); i++) b.hash[i] = -1;
    b.w = malloc((size_t)b.cap * sizeof(char *));
    b.v = malloc((size_t)(b.cap * dim) * sizeof(float));
    b.set = malloc((size_t)b.cap);
    base_rng rng;
    base_rng_seed(&rng, 42);
    float *off = malloc((size_t)(q->n_sections * dim) * sizeof(float));
    for (int64_t i = 0; i < q->n_sections * dim; i++) off[i] = 0.9f * base_rng_normal(&rng);
    char lw[4][128];
    for (int64_t i = 0; i < q->n; i++) {
        for (int j = 0; j < 4; j++) lower(q->words[4 * i + j], lw[j], sizeof lw[j]);
        for (int p = 0; p < 4; p += 2) {
            int64_t x = vb_add(&b, lw[p]), y = vb_add(&b, lw[p + 1]);
            if (!b.set[x]) {
                for (int64_t k = 0; k < dim; k++) b.v[x * dim + k] = base_rng_normal(&rng);
                b.set[x] = 1;
            }
            if (!b.set[y]) {
                for (int64_t k = 0; k < dim; k++)
                    b.v[y * dim + k] = b.v[x * dim + k] + off[q->section[i] * dim + k] + 0.8f * base_rng_normal(&rng);
                b.set[y] = 1;
            }
        }
    }
    for (int f = 0; f < 3; f++) {
        data_wordsim_set *s;
        assert_int_equal(data_wordsim_read(&s, wpath[f]), 0);
        for (int64_t i = 0; i < s->n; i++) {
            if (base_rng_uniform(&rng) < 0.1f) continue; /* leave some words out: OOV pairs */
            int64_t x = vb_add(&b, s->w1[i]), y = vb_add(&b, s->w2[i]);
            if (!b.set[x]) {
                for (int64_t k = 0; k < dim; k++) b.v[x * dim + k] = base_rng_normal(&rng);
                b.set[x] = 1;
            }
            if (!b.set[y]) {
                float mix = s->score[i] / 10.0f;
                for (int64_t k = 0; k < dim; k++)
                    b.v[y * dim + k] = mix * b.v[x * dim + k] + base_rng_normal(&rng);
                b.set[y] = 1;
            }
        }
        data_wordsim_free(s);
    }
    /* shuffle (Fisher-Yates) so the restriction cuts question words too; fillers at the end */
    for (int64_t i = b.n - 1; i > 0; i--) {
        int64_t j = base_rng_below(&rng, (uint32_t)(i + 1));
        char *tw = b.w[i];
        b.w[i] = b.w[j];
        b.w[j] = tw;
        for (int64_t k = 0; k < dim; k++) {
            float t = b.v[i * dim + k];
            b.v[i * dim + k] = b.v[j * dim + k];
            b.v[j * dim + k] = t;
        }
    }
    printf("generated %lld words x %lld dims\n", (long long)b.n, (long long)dim);
    const int64_t restrict_n = b.n * 3 / 4;

    char *dir = tu_tempdir();
    for (int binary = 0; binary < 2; binary++) {
        char vpath[4096], cmd[6 * 4096 + 256], pypath[4096];
        snprintf(vpath, sizeof vpath, "%s/vectors.%s", dir, binary ? "bin" : "txt");
        snprintf(pypath, sizeof pypath, "%s/eval.py", dir);
        assert_int_equal(tu_write_file(pypath, PY, strlen(PY)), 0);
        assert_int_equal(ckpt_export_word2vec(vpath, (const char *const *)b.w, b.v, b.n, dim, binary), 0);
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %s %d %s %lld %s %s %s 2>/dev/null", pypath, vpath, binary, qpath,
                 (long long)restrict_n, wpath[0], wpath[1], wpath[2]);
        char *out = NULL;
        int rc = tu_run(cmd, &out);
        if (rc != 0) fail_msg("gensim script failed (%d): %s", rc, out ? out : "");

        train_vectors *v;
        if (train_vectors_load(&v, vpath, NULL)) fail_msg("%s", base_error_msg());
        train_analogy_result r;
        assert_int_equal(train_eval_analogy(v, q, restrict_n, &r), 0);
        int sec = 0;
        int64_t g_correct = 0, g_seen = 0;
        char *line = strtok(out, "\n");
        for (; line; line = strtok(NULL, "\n")) {
            char name[256];
            long long c, s;
            double rho, pear, oov;
            if (line[0] == 'A' && sscanf(line, "A %255s %lld %lld", name, &c, &s) == 3) {
                assert_true(sec < r.n_sections);
                assert_string_equal(name, r.sections[sec].name);
                printf("  %-28s gensim %5lld/%5lld  ember %5lld/%5lld\n", name, c, s,
                       (long long)r.sections[sec].correct, (long long)r.sections[sec].seen);
                assert_int_equal(s, r.sections[sec].seen);
                assert_int_equal(c, r.sections[sec].correct);
                g_correct += c;
                g_seen += s;
                sec++;
            } else if (line[0] == 'W' && sscanf(line, "W %255s %lf %lf %lf", name, &rho, &pear, &oov) == 4) {
                int f = 0;
                while (f < 3 && !strstr(wpath[f], name)) f++;
                assert_true(f < 3);
                data_wordsim_set *s2;
                assert_int_equal(data_wordsim_read(&s2, wpath[f]), 0);
                train_wordsim_result wr;
                train_eval_wordsim(v, s2, 300000, &wr);
                printf("  %-28s gensim rho %.6f oov %.2f%%  ember rho %.6f oov %.2f%%\n", name, rho, oov, wr.spearman,
                       100.0 * (double)wr.oov / (double)wr.pairs);
                assert_float_equal(wr.spearman, rho, 1e-5);
                assert_float_equal(wr.pearson, pear, 1e-5);
                assert_float_equal(100.0 * (double)wr.oov / (double)wr.pairs, oov, 1e-9);
                data_wordsim_free(s2);
            }
        }
        assert_int_equal(sec, r.n_sections);
        assert_int_equal(g_seen, r.seen);
        assert_int_equal(g_correct, r.correct);
        printf("%s: total gensim %lld/%lld, ember %lld/%lld (of %lld questions)\n", binary ? "binary" : "text",
               (long long)g_correct, (long long)g_seen, (long long)r.correct, (long long)r.seen, (long long)r.total);
        assert_true(r.correct > r.seen / 10 && r.correct < r.seen); /* a real mix of right and wrong */
        assert_true(r.seen < r.total);                              /* the restriction skipped some */
        train_analogy_result_free(&r);
        train_vectors_free(v);
        free(out);
    }
    tu_rmtree(dir);
    free(dir);
    for (int64_t i = 0; i < b.n; i++) free(b.w[i]);
    free(b.w);
    free(b.v);
    free(b.set);
    free(off);
    data_analogy_free(q);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_agrees_with_gensim)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
