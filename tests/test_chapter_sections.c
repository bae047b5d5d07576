/* test_chapter_sections.c — the chapter sections that need no training (positional, multimodal), the figure writers and the HTML report. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "experiments/chapter.h"
#include "support/test_util.h"

static const exp_basics_item *sec_item(const exp_section *s, const char *id) {
    const exp_basics_item *it = exp_basics_find(&s->r, id);
    if (!it) fail_msg("section %s: no item '%s'", s->id, id);
    return it;
}

static exp_chapter_options opts(void) {
    exp_chapter_options o;
    exp_chapter_options_default(&o);
    o.data_dir = tu_data_dir();
    o.out_dir = tu_group_dir();
    o.log = NULL;
    o.no_train = true;
    return o;
}

static void test_positional(void **state) {
    (void)state;
    exp_chapter_options o = opts();
    exp_chapter c = {0};
    assert_int_equal(exp_chapter_run(&c, &o, "positional"), 0);
    assert_int_equal(c.n, 1);
    const exp_section *s = &c.s[0];
    assert_false(s->skipped);
    /* the chapter's sum, to float precision */
    assert_int_equal(sec_item(s, "positional.chapter_sum")->status, EXP_MATCH);
    assert_float_equal(sec_item(s, "positional.chapter_sum")->value, 0.4, 1e-6);
    /* RoPE: a common shift leaves q·k unchanged (float rounding only) */
    assert_int_equal(sec_item(s, "rope.offset_table")->status, EXP_MATCH);
    assert_true(sec_item(s, "rope.offset_table")->value < 1e-3);
    /* 2-D sin-cos: closer patches are more similar (Spearman against -distance) */
    assert_true(sec_item(s, "patches.2d_sincos")->value > 0.8);
    /* ALiBi slope of head 0 of 8 is 1/2 */
    assert_float_equal(sec_item(s, "alibi.slopes")->value, 0.5, 0);
    /* word order: invisible without positions, kept from basics */
    assert_float_equal(sec_item(s, "order.none")->value, 1.0, 1e-6);
    assert_int_equal(sec_item(s, "order.rope_half")->status, EXP_MATCH);
    assert_true(s->nfig >= 5);
    for (int f = 0; f < s->nfig; f++) {
        assert_memory_equal(s->fig[f], "<svg ", 5);
        assert_non_null(strstr(s->fig[f], "</svg>"));
    }
    exp_chapter_free(&c);
}

static void test_multimodal(void **state) {
    (void)state;
    if (!tu_data_path("images/fashion-mnist/t10k-images-idx3-ubyte.gz") || !tu_data_path("audio/fsdd_recordings.tar.gz"))
        skip();
    exp_chapter_options o = opts();
    exp_chapter c = {0};
    assert_int_equal(exp_chapter_run(&c, &o, "multimodal"), 0);
    const exp_section *s = &c.s[0];
    assert_false(s->skipped);
    /* 196 patches + CLS through the ViT; CLS only into the projector (the chapter's contradiction flagged) */
    assert_float_equal(sec_item(s, "vision.shapes")->value, 197, 0);
    assert_int_equal(sec_item(s, "vision.shapes")->status, EXP_MATCH);
    assert_int_equal(sec_item(s, "vision.patches_or_cls")->status, EXP_MISMATCH);
    /* 3 s: 48,000 → 301 → 151 → 76 → 38 */
    assert_int_equal(sec_item(s, "audio.3s_table")->status, EXP_MATCH);
    assert_float_equal(sec_item(s, "audio.3s_table")->value, 38, 0);
    assert_non_null(strstr(sec_item(s, "audio.3s_table")->ember, "301 mel frames"));
    assert_non_null(strstr(sec_item(s, "audio.3s_table")->ember, "151 → 76 → 38"));
    /* the flatten is 64 x 16 = 1024, not "128 x C" */
    assert_int_equal(sec_item(s, "audio.flatten")->status, EXP_MISMATCH);
    assert_float_equal(sec_item(s, "audio.flatten")->value, 1024, 0);
    assert_float_equal(sec_item(s, "audio.params")->value, 2049408, 0);
    assert_int_equal(sec_item(s, "audio.rate")->value, 8000);
    exp_chapter_free(&c);
}

/* A section that needs training is skipped, with the reason, under --no-train; an unknown name is an error. */
static void test_skip_and_errors(void **state) {
    (void)state;
    exp_chapter_options o = opts();
    exp_chapter c = {0};
    assert_int_equal(exp_chapter_run(&c, &o, "eval"), 0);
    assert_true(c.s[0].skipped);
    assert_non_null(strstr(c.s[0].skip_reason, "--no-train"));
    assert_int_equal(exp_chapter_run(&c, &o, "nosuch"), -1);
    assert_non_null(strstr(base_error_msg(), "unknown section 'nosuch'"));
    exp_chapter_free(&c);
}

static void test_figures_and_html(void **state) {
    (void)state;
    const float v[6] = {0, 1, 2, 3, NAN, -1};
    char *h = exp_fig_heatmap("a <title> & more", v, 2, 3, EXP_CMAP_DIVERGING, "x", "y", 0, 0);
    assert_non_null(strstr(h, "a &lt;title&gt; &amp; more"));
    /* 5 finite cells drawn, the NaN cell left blank */
    int cells = 0;
    for (const char *p = h; (p = strstr(p, "<rect x=")); p++) cells++;
    assert_true(cells >= 5);
    free(h);
    const double x[3] = {1, 2, 3}, y[6] = {1, 2, 3, 3, 2, NAN};
    const char *nm[2] = {"up", "down"};
    char *l = exp_fig_lines("t", "x", "y", x, y, 2, 3, nm, false);
    assert_int_equal(strstr(l, "<polyline") != NULL, 1);
    assert_non_null(strstr(l, ">down</text>"));
    free(l);
    const char *rows[2] = {"a|b", "1|2"};
    char *t = exp_fig_table("tab", rows, 2);
    assert_non_null(strstr(t, ">b</text>"));
    free(t);

    /* the page escapes item text and lists every mismatch in the summary */
    exp_chapter c = {0};
    exp_section *s = exp_section_new(&c, "demo", "Demo <section>");
    exp_basics_item *it = exp_item_add(&s->r, "demo.wrong", EXP_MISMATCH, 1);
    EXP_SETF(it->what, "a <b>claim</b>");
    EXP_SETF(it->claim, "x & y");
    EXP_SETF(it->ember, "differs");
    exp_section_fig(s, exp_fig_table("tab", rows, 2), "caption");
    exp_chapter_options o = opts();
    const char *path = tu_group_path("demo.html");
    assert_int_equal(exp_chapter_html(&c, &o, path), 0);
    char *html = tu_read_file(path, NULL);
    assert_non_null(strstr(html, "a &lt;b&gt;claim&lt;/b&gt;"));
    assert_non_null(strstr(html, "x &amp; y"));
    assert_non_null(strstr(html, "<li><a href=\"#sec-demo\">demo</a>"));
    assert_non_null(strstr(html, "<section id=\"sec-demo\""));
    assert_non_null(strstr(html, "1 differ"));
    free(html);
    /* an unwritable path is an error naming it */
    assert_int_equal(exp_chapter_html(&c, &o, "/nonexistent-dir/x.html"), -1);
    assert_non_null(strstr(base_error_msg(), "/nonexistent-dir/x.html"));
    exp_chapter_free(&c);
}

/* The loop's metrics lines as written by train/loop.c (no spaces after the colons). */
static void test_metrics_series(void **state) {
    (void)state;
    char *p = tu_write_tmp(tu_group_dir(), "m.jsonl",
                           "{\"kind\":\"train\",\"step\":10,\"loss\":6.5,\"grad_norm\":0.6}\n"
                           "{\"kind\":\"eval\",\"step\":10,\"loss\":9}\n"
                           "{\"kind\": \"train\", \"step\": 20, \"loss\": 6.25}\n");
    double st[4], v[4];
    assert_int_equal(exp_metrics_series(p, "loss", st, v, 4), 2);
    assert_float_equal(st[0], 10, 0);
    assert_float_equal(v[0], 6.5, 0);
    assert_float_equal(st[1], 20, 0);
    assert_float_equal(v[1], 6.25, 0);
    assert_int_equal(exp_metrics_series(p, "grad_norm", st, v, 4), 1);
    assert_int_equal(exp_metrics_series("/nonexistent", "loss", st, v, 4), 0);
    free(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_positional),
        cmocka_unit_test(test_multimodal),
        cmocka_unit_test(test_skip_and_errors),
        cmocka_unit_test(test_figures_and_html),
        cmocka_unit_test(test_metrics_series),
    };
    return cmocka_run_group_tests(tests, tu_group_tempdir_setup, tu_group_tempdir_teardown);
}
