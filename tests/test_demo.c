/* test_demo.c — `ember demo` end to end (files, king − man + woman, SVG), its PCA / t-SNE / SVG parts, and the eval CLI on its output. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/world.h"
#include "experiments/pca.h"
#include "experiments/svg.h"
#include "experiments/tsne.h"
#include "tests/support/test_util.h"

/* Minimal XML well-formedness check: every tag closes in order, attribute quotes balance, only
 * the five predefined entities appear, exactly one root element <svg>. Returns NULL or a reason. */
static const char *xml_check(const char *s) {
    static char why[256];
    const char *stack[64];
    size_t slen[64];
    int depth = 0, roots = 0;
    const char *p = s;
    while (*p) {
        if (*p == '&') {
            static const char *const ents[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"};
            int ok = 0;
            for (int i = 0; i < 5; i++) ok |= !strncmp(p, ents[i], strlen(ents[i]));
            if (!ok) return snprintf(why, sizeof why, "bad entity at offset %ld", (long)(p - s)), why;
            p++;
            continue;
        }
        if (*p != '<') {
            p++;
            continue;
        }
        if (p[1] == '?') { /* declaration */
            p = strstr(p, "?>");
            if (!p) return "unterminated <?";
            p += 2;
            continue;
        }
        int closing = p[1] == '/';
        const char *name = p + 1 + closing;
        size_t nl = strcspn(name, " \t\n/>");
        if (nl == 0) return snprintf(why, sizeof why, "empty tag name at offset %ld", (long)(p - s)), why;
        const char *q = name + nl;
        int inq = 0;
        while (*q && (inq || *q != '>')) {
            if (*q == '"') inq = !inq;
            if (*q == '<' && !inq) return snprintf(why, sizeof why, "'<' inside a tag at offset %ld", (long)(q - s)), why;
            q++;
        }
        if (!*q) return "unterminated tag";
        int selfclose = q[-1] == '/';
        if (closing) {
            if (depth == 0 || slen[depth - 1] != nl || strncmp(stack[depth - 1], name, nl))
                return snprintf(why, sizeof why, "mismatched </%.*s> at offset %ld", (int)nl, name, (long)(p - s)), why;
            depth--;
        } else {
            if (depth == 0) {
                roots++;
                if (nl != 3 || strncmp(name, "svg", 3)) return "root element is not <svg>";
            }
            if (!selfclose) {
                if (depth == 64) return "nesting too deep";
                stack[depth] = name;
                slen[depth++] = nl;
            }
        }
        p = q + 1;
    }
    if (depth) return "unclosed elements at end";
    if (roots != 1) return "expected exactly one root element";
    return NULL;
}

static void test_demo_world(void **state) {
    (void)state;
    char *dir = tu_tempdir();
    char *out_dir = tu_path_join(dir, "demo");
    char *out = NULL;
    int rc = tu_run_ember(&out, "demo --out %s --json 2>/dev/null", out_dir);
    printf("%.2000s\n", out ? out : "");
    assert_int_equal(rc, 0);
    /* the report: king - man + woman answers queen first (the world is built for it) */
    char *kmw = strstr(out, "\"king_man_woman\": [{\"word\": ");
    assert_non_null(kmw);
    assert_true(!strncmp(kmw + strlen("\"king_man_woman\": [{\"word\": "), "\"queen\"", 7));
    assert_non_null(strstr(out, "\"neighbors\": {\"cat\": [{"));
    assert_non_null(strstr(out, "\"analogy\": {\"correct\": "));
    long long correct = -1, seen = -1;
    assert_int_equal(sscanf(strstr(out, "\"analogy\": {"), "\"analogy\": {\"correct\": %lld, \"seen\": %lld", &correct, &seen), 2);
    printf("world analogies: %lld / %lld\n", correct, seen);
    assert_true(seen > 0 && correct * 10 >= seen * 8); /* at least 80% of the world's own analogies */
    free(out);
    /* the files */
    const char *files[] = {"world.txt", "vectors.txt", "demo.ckpt", "picture.svg"};
    for (int i = 0; i < 4; i++) {
        char *p = tu_path_join(out_dir, files[i]);
        size_t n = 0;
        char *data = tu_read_file(p, &n);
        if (!data || n == 0) fail_msg("%s missing or empty", p);
        if (i == 3) {
            const char *why = xml_check(data);
            if (why) fail_msg("%s is not well-formed: %s", p, why);
            assert_non_null(strstr(data, ">animals</text>"));
            assert_non_null(strstr(data, ">cat</text>"));
            assert_int_equal(strncmp(data, "<?xml", 5), 0);
        }
        free(data);
        free(p);
    }
    /* the eval commands read what the demo wrote: checkpoint (HDF5) and word2vec text */
    rc = tu_run_ember(&out, "similar %s/demo.ckpt cat -k 3", out_dir);
    printf("%s", out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "nearest to cat:"));
    free(out);
    /* ckpt export and similar pick the same table (syn0, not syn1neg) without --param */
    rc = tu_run_ember(&out, "ckpt export %s/demo.ckpt -o %s/exported.txt", out_dir, out_dir);
    if (rc != 0) fail_msg("ember ckpt export: %s", out);
    assert_non_null(strstr(out, "of /params/syn0"));
    free(out);
    /* demo.ckpt is the trainer's own checkpoint: resuming the finished run trains nothing more and
     * writes the same vectors the demo wrote */
    rc = tu_run_ember(&out, "word2vec -train %s/world.txt -output %s/resumed.txt -debug 0 --resume %s/demo.ckpt", out_dir,
                      out_dir, out_dir);
    if (rc != 0) fail_msg("ember word2vec --resume demo.ckpt: %s", out);
    free(out);
    {
        char *a_path = tu_path_join(out_dir, "vectors.txt"), *b_path = tu_path_join(out_dir, "resumed.txt");
        size_t na = 0, nb = 0;
        char *a = tu_read_file(a_path, &na), *b = tu_read_file(b_path, &nb);
        assert_non_null(a);
        assert_non_null(b);
        assert_int_equal(na, nb);
        assert_memory_equal(a, b, na);
        free(a);
        free(b);
        free(a_path);
        free(b_path);
    }
    rc = tu_run_ember(&out, "analogy %s/vectors.txt king man woman -k 1 --json", out_dir);
    printf("%s", out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "\"neighbors\": [{\"word\": \"queen\""));
    free(out);
    /* errors: unknown word, missing file, bad format → message + non-zero exit */
    rc = tu_run_ember(&out, "similar %s/vectors.txt zzzunknown", out_dir);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(out, "'zzzunknown' is not in the vocabulary"));
    free(out);
    rc = tu_run_ember(&out, "similar %s/nothere.bin cat", out_dir);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(out, "nothere.bin"));
    free(out);
    rc = tu_run_ember(&out, "eval analogy %s/picture.svg --questions %s/world.txt", out_dir, out_dir);
    assert_int_not_equal(rc, 0);
    printf("bad input says: %s", out);
    free(out);
    tu_rmtree(dir);
    free(dir);
    free(out_dir);
}

/* --corpus: the same pipeline on a user's file (here a small world corpus written by data/world.h). */
static void test_demo_corpus(void **state) {
    (void)state;
    char *dir = tu_tempdir();
    char *corpus = tu_path_join(dir, "my corpus.txt"); /* a space in the path, on purpose */
    assert_int_equal(data_world_write(corpus, 7, 20000), 0);
    char *out_dir = tu_path_join(dir, "out");
    char *out = NULL;
    int rc = tu_run_ember(&out, "demo --corpus '%s' --out '%s' --epochs 3 --dim 32", corpus, out_dir);
    printf("%s", out ? out : "");
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "nearest to cat:"));
    assert_null(strstr(out, "world analogies")); /* only for the built-in world */
    free(out);
    char *svg = tu_path_join(out_dir, "picture.svg");
    size_t n;
    char *data = tu_read_file(svg, &n);
    assert_non_null(data);
    assert_null(xml_check(data));
    assert_non_null(strstr(data, "most frequent words"));
    free(data);
    free(svg);
    /* --deterministic: two runs give the same vectors and the same picture, byte for byte */
    char *files[2][2];
    for (int run = 0; run < 2; run++) {
        char name[16];
        snprintf(name, sizeof name, "det%d", run);
        char *d = tu_path_join(dir, name);
        assert_int_equal(
            tu_run_ember(NULL, "demo --corpus '%s' --out '%s' --epochs 2 --dim 16 --deterministic", corpus, d), 0);
        files[run][0] = tu_path_join(d, "vectors.txt");
        files[run][1] = tu_path_join(d, "picture.svg");
        free(d);
    }
    for (int k = 0; k < 2; k++) {
        size_t n0, n1;
        char *a = tu_read_file(files[0][k], &n0), *b = tu_read_file(files[1][k], &n1);
        assert_non_null(a);
        assert_non_null(b);
        assert_int_equal(n0, n1);
        assert_memory_equal(a, b, n0);
        free(a), free(b), free(files[0][k]), free(files[1][k]);
    }
    /* a missing corpus is an error with the path, not a crash */
    rc = tu_run_ember(&out, "demo --corpus %s/none.txt --out '%s'", dir, out_dir);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(out, "none.txt"));
    free(out);
    tu_rmtree(dir);
    free(dir);
    free(corpus);
    free(out_dir);
}

static void test_pca(void **state) {
    (void)state;
    /* points along (3, 4, 0)/5 with small noise in z: the first component recovers that axis */
    enum { N = 200, D = 3 };
    float x[N * D], y[N * 2];
    base_rng r;
    base_rng_seed(&r, 5);
    for (int i = 0; i < N; i++) {
        float t = 4 * base_rng_normal(&r), e = 0.3f * base_rng_normal(&r);
        x[i * D] = 0.6f * t + 1, x[i * D + 1] = 0.8f * t - 2, x[i * D + 2] = e;
    }
    double var[2];
    exp_pca(x, N, D, 2, y, var, 1);
    /* projection onto the first component = t up to sign (largest coefficient made positive: +0.8) */
    double num = 0, den1 = 0, den2 = 0, mt = 0, my = 0;
    for (int i = 0; i < N; i++) mt += (0.6 * (x[i * D] - 1) + 0.8 * (x[i * D + 1] + 2)), my += y[2 * i];
    mt /= N, my /= N;
    for (int i = 0; i < N; i++) {
        double t = 0.6 * (x[i * D] - 1) + 0.8 * (x[i * D + 1] + 2) - mt, u = y[2 * i] - my;
        num += t * u, den1 += t * t, den2 += u * u;
    }
    assert_true(num / sqrt(den1 * den2) > 0.9999);
    assert_true(var[0] > 10 && var[1] < 0.2 && var[1] > 0.03);
}

static void test_tsne_clusters(void **state) {
    (void)state;
    /* 4 Gaussian clusters in 20-D: every point's 2-D nearest neighbour is in its own cluster */
    enum { N = 40, D = 20 };
    float x[N * D], y[N * 2];
    base_rng r;
    base_rng_seed(&r, 9);
    for (int i = 0; i < N; i++)
        for (int k = 0; k < D; k++) x[i * D + k] = 0.2f * base_rng_normal(&r) + (k == (i % 4) ? 1.5f : 0);
    exp_tsne_options o;
    exp_tsne_options_default(&o);
    double kl = exp_tsne(x, N, D, &o, y);
    printf("t-SNE KL %.4f\n", kl);
    assert_true(kl >= 0 && kl < 1.0);
    for (int i = 0; i < N; i++) {
        int best = -1;
        double bd = INFINITY;
        for (int j = 0; j < N; j++) {
            if (j == i) continue;
            double d = hypot(y[2 * i] - y[2 * j], y[2 * i + 1] - y[2 * j + 1]);
            if (d < bd) bd = d, best = j;
        }
        assert_int_equal(best % 4, i % 4);
    }
    /* deterministic for a seed */
    float y2[N * 2];
    exp_tsne(x, N, D, &o, y2);
    assert_memory_equal(y, y2, sizeof y);
    assert_true(exp_tsne(x, 1, D, &o, y) < 0);
}

static void test_svg_escaping(void **state) {
    (void)state;
    char *dir = tu_tempdir();
    char *p = tu_path_join(dir, "t.svg");
    const char *groups[] = {"a & b", "<c>"};
    exp_svg_point pts[3] = {{0, 0, "x<y", 0}, {1, 1, "\"q\" & r", 1}, {2, 0.5f, NULL, 1}};
    exp_svg_plot plot = {.title = "T & <t>", .subtitle = "s", .group_names = groups, .ngroups = 2};
    assert_int_equal(exp_svg_scatter(p, &plot, pts, 3), 0);
    size_t n;
    char *data = tu_read_file(p, &n);
    assert_non_null(data);
    assert_null(xml_check(data));
    assert_non_null(strstr(data, "x&lt;y"));
    assert_non_null(strstr(data, "T &amp; &lt;t&gt;"));
    free(data);
    /* a single point and an unwritable path */
    assert_int_equal(exp_svg_scatter(p, &plot, pts, 1), 0);
    assert_int_equal(exp_svg_scatter("/nonexistent/dir/t.svg", &plot, pts, 3), -1);
    assert_non_null(strstr(base_error_msg(), "/nonexistent/dir/t.svg"));
    free(p);
    tu_rmtree(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pca),          cmocka_unit_test(test_tsne_clusters),
        cmocka_unit_test(test_svg_escaping), cmocka_unit_test(test_demo_world),
        cmocka_unit_test(test_demo_corpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
