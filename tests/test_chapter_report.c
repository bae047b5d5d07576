/* test_chapter_report.c — `ember chapter all --no-train`: every section, JSON, report.html, and the page checked in headless Chromium. */
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

static int count_sub(const char *s, const char *needle) {
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

/* The no-training part runs fast and fills basics, positional and multimodal; the training
 * sections are present and say why they were skipped. */
static void test_all_no_train(void **state) {
    (void)state;
    const char *dir = tu_group_dir();
    char *out = NULL;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(tu_run_ember(&out, "chapter all --no-train --json --out '%s' 2>/dev/null", dir), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    printf("chapter all --no-train: %.1f s\n", secs);
    assert_true(secs < 60.0);
    assert_non_null(strstr(out, "{\"experiment\": \"chapter\""));
    for (int k = 0; k < exp_chapter_nsections; k++) {
        char want[64];
        snprintf(want, sizeof want, "{\"id\": \"%s\"", exp_chapter_sections[k]);
        assert_non_null(strstr(out, want));
    }
    /* fixed verdicts of the no-training part */
    assert_non_null(strstr(out, "\"id\": \"muomni.vit_tiny\""));
    assert_non_null(strstr(out, "\"id\": \"rope.offset_table\""));
    assert_non_null(strstr(out, "skipped by --no-train"));
    if (tu_data_dir()) {
        assert_non_null(strstr(out, "\"id\": \"audio.3s_table\""));
        assert_non_null(strstr(out, "\"id\": \"audio.flatten\""));
        assert_non_null(strstr(out, "\"id\": \"vision.patches_or_cls\""));
    }
    free(out);

    char *html = tu_read_file(tu_group_path("report.html"), NULL);
    assert_non_null(html);
    for (int k = 0; k < exp_chapter_nsections; k++) {
        char want[64];
        snprintf(want, sizeof want, "<section id=\"sec-%s\"", exp_chapter_sections[k]);
        assert_non_null(strstr(html, want));
    }
    assert_non_null(strstr(html, "<h2 id=\"summary\">Where the chapter is wrong</h2>"));
    assert_true(count_sub(html, "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"fig\"") >= 8);
    assert_true(count_sub(html, "<td class=\"verdict\">differs</td>") >= 5);
    free(html);
}

/* Loads report.html in a real browser and reads back what its load handler measured. */
static void test_report_in_chromium(void **state) {
    (void)state;
    const char *bins[] = {"chromium", "chromium-browser", "google-chrome"};
    const char *bin = NULL;
    for (int i = 0; i < 3 && !bin; i++) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", bins[i]);
        if (tu_run(cmd, NULL) == 0) bin = bins[i];
    }
    if (!bin) {
        printf("skipped: no headless browser (install Debian's chromium: apt-get install -y chromium)\n");
        skip();
    }
    char *html = tu_read_file(tu_group_path("report.html"), NULL);
    assert_non_null(html);
    int nfig = count_sub(html, "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"fig\"");
    free(html);
    char cmd[8192], *dom = NULL;
    snprintf(cmd, sizeof cmd,
             "timeout 120 %s --headless --no-sandbox --disable-gpu --virtual-time-budget=5000 --dump-dom 'file://%s' "
             "2>/dev/null",
             bin, tu_group_path("report.html"));
    assert_int_equal(tu_run(cmd, &dom), 0);
    assert_non_null(dom);
    char want[128];
    snprintf(want, sizeof want, "data-sections=\"%d\"", exp_chapter_nsections);
    if (!strstr(dom, want)) fail_msg("the browser's DOM lacks %s (did the page load?)", want);
    snprintf(want, sizeof want, "data-figures-rendered=\"%d\"", nfig);
    if (!strstr(dom, want)) fail_msg("expected %s: %.300s", want, strstr(dom, "<body") ? strstr(dom, "<body") : dom);
    assert_non_null(strstr(dom, "data-figures-failed=\"0\""));
    for (int k = 0; k < exp_chapter_nsections; k++) {
        snprintf(want, sizeof want, "id=\"sec-%s\"", exp_chapter_sections[k]);
        assert_non_null(strstr(dom, want));
    }
    free(dom);
    /* and a screenshot: the page paints (a PNG of some size) */
    snprintf(cmd, sizeof cmd,
             "cd '%s' && timeout 120 %s --headless --no-sandbox --disable-gpu --window-size=1200,3000 "
             "--screenshot='%s' 'file://%s' >/dev/null 2>&1",
             tu_group_dir(), bin, tu_group_path("report.png"), tu_group_path("report.html"));
    assert_int_equal(tu_run(cmd, NULL), 0);
    size_t n = 0;
    char *png = tu_read_file(tu_group_path("report.png"), &n);
    assert_non_null(png);
    assert_true(n > 20000);
    assert_memory_equal(png, "\x89PNG", 4);
    free(png);
}

static void test_bad_flags(void **state) {
    (void)state;
    char *out = NULL;
    assert_int_equal(tu_run_ember(&out, "chapter nosuch"), 2);
    assert_non_null(strstr(out, "expected an experiment name"));
    free(out);
    assert_int_equal(tu_run_ember(&out, "chapter all --threads 0"), 2);
    free(out);
    assert_int_equal(tu_run_ember(&out, "chapter all --out"), 2);
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_no_train),
        cmocka_unit_test(test_report_in_chromium),
        cmocka_unit_test(test_bad_flags),
    };
    return cmocka_run_group_tests(tests, tu_group_tempdir_setup, tu_group_tempdir_teardown);
}
