/* test_world.c — the chapter-world generator: determinism, coverage, speed, and the designed co-occurrence structure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "data/vocab.h"
#include "data/world.h"
#include "support/test_util.h"

static void test_deterministic(void **state) {
    (void)state;
    char *a, *b, *c;
    size_t na, nb, nc;
    assert_int_equal(data_world_generate(42, 20000, &a, &na), 0);
    assert_int_equal(data_world_generate(42, 20000, &b, &nb), 0);
    assert_int_equal(data_world_generate(43, 20000, &c, &nc), 0);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na);
    assert_true(na != nc || memcmp(a, c, na) != 0);
    /* Exactly one sentence per line, lowercase words and single spaces. */
    size_t lines = 0;
    for (size_t i = 0; i < na; i++) {
        char ch = a[i];
        if (ch == '\n') lines++;
        else assert_true((ch >= 'a' && ch <= 'z') || ch == ' ');
        if (ch == ' ') assert_true(a[i + 1] != ' ' && a[i + 1] != '\n');
    }
    assert_int_equal(lines, 20000);
    assert_int_equal(a[na - 1], '\n');
    free(a);
    free(b);
    free(c);
    char *z;
    size_t nz;
    assert_int_equal(data_world_generate(1, 0, &z, &nz), 0);
    assert_int_equal(nz, 0);
    free(z);
    assert_int_equal(data_world_generate(1, -1, &z, &nz), -1);
}

/* A few MB in well under a second. */
static void test_speed(void **state) {
    (void)state;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char *a;
    size_t n;
    assert_int_equal(data_world_generate(7, 200000, &a, &n), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double dt = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    printf("world: 200000 sentences, %.2f MB in %.3f s (%.0f MB/s)\n", (double)n / 1e6, dt, (double)n / 1e6 / dt);
    assert_true(n > 4000000);
    assert_true(dt < 2.0); /* generous for ASan and a busy machine */
    free(a);
}

/* Counts, per group word, the sentences in which it meets each group's context words; checks that
 * every word meets its own groups' contexts and never the contexts of the groups designed apart. */
static void test_cooccurrence_structure(void **state) {
    (void)state;
    const data_world_group *G;
    int ng = data_world_groups(&G);
    assert_true(ng >= 13);
    /* Word -> group membership / context bitmasks via a vocabulary (ids index the masks). */
    data_vocab *v = data_vocab_new();
    uint32_t member[1024] = {0}, ctx[1024] = {0};
    for (int gi = 0; gi < ng; gi++) {
        for (int i = 0; i < G[gi].n_words; i++) member[data_vocab_add(v, G[gi].words[i], 1)] |= 1u << gi;
        for (int i = 0; i < G[gi].n_contexts; i++) ctx[data_vocab_add(v, G[gi].contexts[i], 1)] |= 1u << gi;
    }
    assert_true(v->n < 1024);
    /* Sanity of the design: a word is never a context of a group it belongs to, and contexts of the
     * category groups are disjoint. */
    for (int64_t i = 0; i < v->n; i++) assert_true((member[i] & ctx[i]) == 0);
    char *text;
    size_t n;
    assert_int_equal(data_world_generate(2024, 100000, &text, &n), 0);
    static int64_t cooc[1024][32]; /* [word id][group]: sentences where the word meets the group's contexts */
    static int64_t seen[1024];
    memset(cooc, 0, sizeof cooc);
    memset(seen, 0, sizeof seen);
    int32_t ids[64];
    char *line = text;
    while (*line) {
        char *end = strchr(line, '\n');
        *end = '\0';
        int k = 0;
        uint32_t cm = 0;
        for (char *w = strtok(line, " "); w; w = strtok(NULL, " ")) {
            int32_t id = data_vocab_find(v, w);
            if (id < 0) continue;
            assert_true(k < 64);
            ids[k++] = id;
            cm |= ctx[id];
        }
        for (int i = 0; i < k; i++) {
            if (!member[ids[i]]) continue;
            seen[ids[i]]++;
            for (int gi = 0; gi < ng; gi++)
                if (cm & (1u << gi)) cooc[ids[i]][gi]++;
        }
        line = end + 1;
    }
    /* Every group word occurs, and meets its own groups' contexts. */
    for (int gi = 0; gi < ng; gi++)
        for (int i = 0; i < G[gi].n_words; i++) {
            int32_t id = data_vocab_find(v, G[gi].words[i]);
            if (seen[id] < 100) fail_msg("%s (%s) occurs %lld times", G[gi].words[i], G[gi].name, (long long)seen[id]);
            if (cooc[id][gi] < 20)
                fail_msg("%s meets %s contexts in only %lld sentences", G[gi].words[i], G[gi].name,
                         (long long)cooc[id][gi]);
        }
    /* Groups designed apart: categories (0..6) from each other; the three person feature pairs. */
    const char *apart[][2] = {{"animals", "vehicles"}, {"animals", "foods"},   {"animals", "colours"},
                              {"vehicles", "foods"},   {"vehicles", "colours"}, {"foods", "colours"},
                              {"people", "animals"},   {"people", "vehicles"},  {"people", "foods"},
                              {"people", "colours"},   {"people", "countries"}, {"people", "capitals"},
                              {"countries", "capitals"}, {"countries", "animals"}, {"capitals", "foods"},
                              {"male", "female"},      {"common", "royal"},     {"adult", "young"}};
    int checks = 0;
    for (size_t a = 0; a < sizeof apart / sizeof *apart; a++) {
        int g1 = -1, g2 = -1;
        for (int gi = 0; gi < ng; gi++) {
            if (strcmp(G[gi].name, apart[a][0]) == 0) g1 = gi;
            if (strcmp(G[gi].name, apart[a][1]) == 0) g2 = gi;
        }
        assert_true(g1 >= 0 && g2 >= 0);
        for (int dir = 0; dir < 2; dir++) {
            int x = dir ? g2 : g1, y = dir ? g1 : g2;
            for (int i = 0; i < G[x].n_words; i++) {
                int32_t id = data_vocab_find(v, G[x].words[i]);
                if (cooc[id][y] != 0)
                    fail_msg("%s (%s) meets %s contexts in %lld sentences", G[x].words[i], G[x].name, G[y].name,
                             (long long)cooc[id][y]);
                checks++;
            }
        }
    }
    /* The analogy words are all in the text, and king/queen share royal contexts at similar rates. */
    const char *const(*an)[4];
    int na = data_world_analogies(&an);
    assert_true(na >= 10);
    for (int i = 0; i < na; i++)
        for (int j = 0; j < 4; j++) assert_true(data_vocab_find(v, an[i][j]) >= 0 && seen[data_vocab_find(v, an[i][j])] > 0);
    int royal = -1;
    for (int gi = 0; gi < ng; gi++)
        if (strcmp(G[gi].name, "royal") == 0) royal = gi;
    double rk = (double)cooc[data_vocab_find(v, "king")][royal] / (double)seen[data_vocab_find(v, "king")];
    double rq = (double)cooc[data_vocab_find(v, "queen")][royal] / (double)seen[data_vocab_find(v, "queen")];
    printf("world: %d apart-checks passed; royal-context rate king %.3f, queen %.3f\n", checks, rk, rq);
    assert_true(rk > 0.3 && rq > 0.3 && rk / rq > 0.9 && rk / rq < 1.1);
    free(text);
    data_vocab_free(v);
}

/* data_world_write gives the same bytes in a file, which data_vocab_build reads. */
static void test_write_file(void **state) {
    (void)state;
    char *dir = tu_tempdir();
    char path[4096];
    snprintf(path, sizeof path, "%s/world.txt", dir);
    assert_int_equal(data_world_write(path, 5, 30000), 0);
    size_t n, m;
    char *f = tu_read_file(path, &n);
    char *t;
    assert_int_equal(data_world_generate(5, 30000, &t, &m), 0);
    assert_int_equal(n, m);
    assert_memory_equal(f, t, n);
    data_vocab *v;
    assert_int_equal(data_vocab_build(&v, path, 5, 0, NULL), 0);
    assert_int_equal(v->counts[0], 30000); /* one </s> per sentence */
    assert_true(data_vocab_find(v, "queen") > 0 && data_vocab_find(v, "stockholm") > 0);
    data_vocab_free(v);
    free(f);
    free(t);
    snprintf(path, sizeof path, "%s/no/such/dir/world.txt", dir);
    assert_int_equal(data_world_write(path, 5, 10), -1);
    assert_non_null(strstr(base_error_msg(), "no/such/dir"));
    tu_rmtree(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_speed),
        cmocka_unit_test(test_cooccurrence_structure),
        cmocka_unit_test(test_write_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
