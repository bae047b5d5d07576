/* test_chapter_train.c — `ember chapter all --quick`: every training section runs end to end at toy size and lands in the JSON and report.html. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/base.h"
#include "experiments/chapter.h"
#include "support/test_util.h"

/* The value of item `id` in the JSON (the text after "value": ), or NULL. */
static const char *json_value(const char *json, const char *id) {
    char want[96];
    snprintf(want, sizeof want, "\"id\": \"%s\"", id);
    const char *p = strstr(json, want);
    return p ? strstr(p, "\"value\": ") : NULL;
}

static void test_quick_all(void **state) {
    (void)state;
    if (!tu_data_path("corpus/enwiki_text8style_1e8.txt.gz") || !tu_data_path("classification/sst2/dev.tsv") ||
        !tu_data_path("audio/fsdd_labels.tsv"))
        skip();
    char *out = NULL;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = tu_run_ember(&out, "chapter all --quick --threads 2 --json --out '%s' 2>'%s'", tu_group_dir(),
                          tu_group_path("log.txt"));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("chapter all --quick: %.1f s\n", (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
    if (rc != 0) {
        char *log = tu_read_file(tu_group_path("log.txt"), NULL);
        fail_msg("exit %d: %s", rc, log ? log : "");
    }
    /* no section skipped, none stopped early */
    assert_null(strstr(out, "\"skipped\": true"));
    char *log = tu_read_file(tu_group_path("log.txt"), NULL);
    assert_non_null(log);
    /* every skip_reason is empty: no section failed part-way */
    for (const char *p = out; (p = strstr(p, "\"skip_reason\": \"")); p++)
        if (p[strlen("\"skip_reason\": \"")] != '"') fail_msg("a section failed: %.200s\n%s", p, log);
    free(log);
    const char *ids[] = {"tokens.oov", "words.cat_neighbours", "eval.wordsim", "eval.sst2_probe", "eval.frozen_vs_finetuned",
                         "eval.dimension_sweep", "context.static_bank", "context.contextual_bank", "tips.init", "tips.dropout",
                         "tips.normalise", "align.retrieval", "align.zero_shot", "code.analogy"};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        if (!json_value(out, ids[i])) fail_msg("no item %s in the JSON", ids[i]);
    /* facts that hold at any size: one Word2Vec row is one vector; a byte-level BPE never produces [UNK];
     * the chapter's analogy code now runs on real vectors */
    assert_memory_equal(json_value(out, "context.static_bank"), "\"value\": 1}", 11);
    assert_non_null(strstr(out, "BPE: 0 unknown"));
    if (!strncmp(json_value(out, "code.analogy"), "\"value\": null", 14)) {
        char *lg = tu_read_file(tu_group_path("log.txt"), NULL);
        fail_msg("the code items did not get real vectors:\n%s", lg ? lg : "");
    }
    free(out);
    /* the page: every section with items and at least one figure */
    char *html = tu_read_file(tu_group_path("report.html"), NULL);
    assert_non_null(html);
    for (int k = 0; k < exp_chapter_nsections; k++) {
        char want[96];
        snprintf(want, sizeof want, "<section id=\"sec-%s\"", exp_chapter_sections[k]);
        const char *p = strstr(html, want);
        assert_non_null(p);
        const char *it = strstr(p, "data-items=\"");
        assert_non_null(it);
        assert_true(atoi(it + strlen("data-items=\"")) >= 1);
        const char *f = strstr(p, "data-figures=\"");
        assert_non_null(f);
        assert_true(atoi(f + strlen("data-figures=\"")) >= 1);
    }
    free(html);
    /* the models are saved for --models reuse */
    const char *saved[] = {"w2v.bin", "bpe5000.tok", "mlm.ckpt", "align.ckpt", "w2v300.bin"};
    for (size_t i = 0; i < sizeof saved / sizeof saved[0]; i++) {
        char *b = tu_read_file(tu_group_path(saved[i]), NULL);
        if (!b) fail_msg("%s was not saved", saved[i]);
        free(b);
    }
}

/* A second run reuses the saved models (--models) and says so. */
static void test_reuse_models(void **state) {
    (void)state;
    char *w = tu_read_file(tu_group_path("w2v.bin"), NULL);
    if (!w) skip();
    free(w);
    char *out = NULL;
    assert_int_equal(tu_run_ember(&out, "chapter context --quick --json --models '%s' --out '%s/again' 2>/dev/null", tu_group_dir(),
                                  tu_group_dir()),
                     0);
    assert_non_null(strstr(out, "Word2Vec vectors reused from"));
    assert_non_null(strstr(out, "masked LM reused from"));
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quick_all),
        cmocka_unit_test(test_reuse_models),
    };
    return cmocka_run_group_tests(tests, tu_group_tempdir_setup, tu_group_tempdir_teardown);
}
