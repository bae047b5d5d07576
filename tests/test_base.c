/* test_base.c — the base room on its own (libc only): RNG, the error buffer, JSON writing, helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

static void test_rng_deterministic_and_bounded(void **state) {
    (void)state;
    base_rng a, b;
    base_rng_seed(&a, 42);
    base_rng_seed(&b, 42);
    for (int i = 0; i < 1000; i++) assert_true(base_rng_next(&a) == base_rng_next(&b));
    int counts[7] = {0};
    for (int i = 0; i < 70000; i++) counts[base_rng_below(&a, 7)]++;
    for (int i = 0; i < 7; i++) assert_in_range(counts[i], 9400, 10600);
    double s = 0, s2 = 0;
    for (int i = 0; i < 100000; i++) {
        double x = base_rng_normal(&a);
        s += x;
        s2 += x * x;
    }
    assert_true(s / 100000 < 0.02 && s / 100000 > -0.02);
    assert_true(s2 / 100000 > 0.97 && s2 / 100000 < 1.03);
}

static void test_error_buffer(void **state) {
    (void)state;
    assert_int_equal(base_error_set("bad %s at byte %d", "header", 12), -1);
    base_error_prefix("file.bin");
    assert_string_equal(base_error_msg(), "file.bin: bad header at byte 12");
    base_error_clear();
    assert_string_equal(base_error_msg(), "");
}

static void test_json_and_helpers(void **state) {
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    base_json_str(f, "a\"b\\c\n");
    fputc(' ', f);
    base_json_num(f, 0.5);
    fputc(' ', f);
    base_json_num(f, NAN);
    fclose(f);
    assert_string_equal(text, "\"a\\\"b\\\\c\\u000a\" 0.5 null");
    free(text);

    assert_string_equal(base_strip_path_prefix("x.gz: unexpected end", "x.gz"), "unexpected end");
    assert_string_equal(base_strip_path_prefix("x.gzip: bad", "x.gz"), "x.gzip: bad");

    void *p = base_xaligned(100);
    assert_int_equal((uintptr_t)p % 64, 0);
    free(p);
    char *d = base_xstrdup("word");
    assert_string_equal(d, "word");
    free(d);

    double t0 = base_now_sec(), t1 = base_now_sec();
    assert_true(t1 >= t0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rng_deterministic_and_bounded),
        cmocka_unit_test(test_error_buffer),
        cmocka_unit_test(test_json_and_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
