/* test_nn_bench.c — `ember bench encoder-step` on a tiny model: runs, trains (loss falls), prints JSON, rejects bad flags. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/test_util.h"

static double json_num(const char *json, const char *key) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = strstr(json, pat);
    if (!p) fail_msg("no %s in %s", key, json);
    return atof(p + strlen(pat));
}

static void test_tiny_encoder_step(void **state) {
    (void)state;
    char *out = NULL;
    assert_int_equal(tu_run_ember(&out, "bench encoder-step --threads 1 --steps 6 --warmup 1 --d 16 --layers 2 --heads 2 "
                                        "--seq 8 --batch 4 --vocab 40"),
                     0);
    assert_non_null(strstr(out, "\"bench\": \"encoder-step\""));
    assert_non_null(strstr(out, "\"optimizer\": \"adamw\""));
    assert_non_null(strstr(out, "\"omp_wait_policy\": \""));
    assert_true(json_num(out, "ms_per_step") > 0);
    /* tok 40·16 + pos 8·16 + ln 32 + 2 blocks (4·(256+16) + (16·64+64) + (64·16+16) + 64) + head 16·40+40 */
    assert_int_equal((long long)json_num(out, "params"), 640 + 128 + 32 + 2 * (1088 + 1088 + 1040 + 64) + 680);
    /* AdamW on a fixed batch: the loss goes down */
    assert_true(json_num(out, "loss_last") < json_num(out, "loss_first"));
    free(out);
}

/* --freeze GLOB from the command line: the JSON counts the frozen scalars (tok.weight, 40 x 16);
 * an unmatched glob is a usage error naming it. */
static void test_freeze_flag(void **state) {
    (void)state;
    char *out = NULL;
    assert_int_equal(tu_run_ember(&out, "bench encoder-step --threads 1 --steps 3 --warmup 0 --d 16 --layers 1 --heads 2 "
                                        "--seq 8 --batch 4 --vocab 40 --freeze 'tok.*' --freeze 'pos.*'"),
                     0);
    assert_int_equal((long long)json_num(out, "frozen_params"), 640 + 128);
    assert_int_equal((long long)json_num(out, "trainable_params"), (long long)json_num(out, "params") - 768);
    free(out);
    assert_int_equal(
        tu_run_ember(&out, "bench encoder-step --d 16 --heads 2 --seq 4 --batch 2 --vocab 8 --freeze 'tok_emb.*'"), 2);
    assert_non_null(strstr(out, "--freeze 'tok_emb.*': matches no parameter"));
    assert_non_null(strstr(out, "tok.weight"));
    free(out);
}

static void test_bad_flags(void **state) {
    (void)state;
    char *out = NULL;
    assert_int_equal(tu_run_ember(&out, "bench encoder-step --d 10 --heads 3"), 2);
    assert_non_null(strstr(out, "not a multiple of --heads"));
    free(out);
    assert_int_equal(tu_run_ember(&out, "bench encoder-step --steps zero"), 2);
    assert_non_null(strstr(out, "ember bench: --steps: expected an integer in [1, 1073741824], got 'zero'"));
    free(out);
    assert_int_equal(tu_run_ember(&out, "bench nosuch"), 2);
    assert_non_null(strstr(out, "unknown benchmark 'nosuch'"));
    free(out);
    assert_int_equal(tu_run_ember(&out, "bench encoder-step --d 16 --heads 2 --seq 4 --batch 2 --vocab 8 --steps 1 "
                                        "--peer /nonexistent.py"),
                     1);
    assert_non_null(strstr(out, "peer_error"));
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tiny_encoder_step),
        cmocka_unit_test(test_freeze_flag),
        cmocka_unit_test(test_bad_flags),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
