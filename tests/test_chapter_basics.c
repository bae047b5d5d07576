/* test_chapter_basics.c — the chapter's basic experiments: values, flagged mismatches, PyTorch counts, the CLI. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "experiments/chapter_basics.h"
#include "train/eval.h"
#include "support/test_util.h"

static exp_basics_report R;

static int setup(void **state) {
    (void)state;
    return exp_basics_run(&R, 42);
}
static int teardown(void **state) {
    (void)state;
    exp_basics_free(&R);
    return 0;
}

static const exp_basics_item *item(const char *id) {
    const exp_basics_item *it = exp_basics_find(&R, id);
    if (!it) fail_msg("no item '%s'", id);
    return it;
}

static void test_one_hot_cosine_counts_lookup(void **state) {
    (void)state;
    assert_int_equal(item("onehot.size")->status, EXP_MATCH);
    assert_float_equal(item("onehot.size")->value, 10000.0 / 256, 1e-9);
    assert_float_equal(item("onehot.sparsity")->value, 0.9999, 1e-9);
    /* cat·dog = 0.88 / √(1.02 · 0.78) = 0.98659 ≈ the chapter's 0.99 */
    assert_int_equal(item("cosine.cat_dog")->status, EXP_MATCH);
    assert_float_equal(item("cosine.cat_dog")->value, 0.88 / sqrt(1.02 * 0.78), 1e-5);
    /* cat·car = −0.44 / √(1.02 · 1.05) = −0.4252, not the chapter's −0.15: flagged */
    assert_int_equal(item("cosine.cat_car")->status, EXP_MISMATCH);
    assert_float_equal(item("cosine.cat_car")->value, -0.44 / sqrt(1.02 * 1.05), 1e-5);
    assert_float_equal(item("params.50257x12288")->value, 617558016.0, 0);
    assert_float_equal(item("params.5000x256")->value, 1280000.0, 0);
    assert_float_equal(item("params.50000x300")->value, 15000000.0, 0);
    assert_float_equal(item("params.10000x512")->value, 5120000.0, 0);
    assert_int_equal(item("lookup.shape")->status, EXP_MATCH);
    assert_float_equal(item("lookup.shape")->value, 4.0 * 256, 0);
}

static void test_positions(void **state) {
    (void)state;
    assert_float_equal(item("positions.same_token.none")->value, 1.0, 1e-6);
    const char *schemes[] = {"sinusoidal", "learned", "rope_half", "rope_interleaved", "alibi"};
    for (int i = 0; i < 5; i++) {
        char id[64];
        snprintf(id, sizeof id, "positions.same_token.%s", schemes[i]);
        assert_int_equal(item(id)->status, EXP_MATCH);
    }
    /* order invisible without positions; visible with each scheme */
    assert_int_equal(item("order.none")->status, EXP_MATCH);
    assert_float_equal(item("order.none")->value, 1.0, 1e-6);
    const char *order[] = {"order.sinusoidal", "order.learned", "order.rope_half", "order.rope_interleaved",
                           "order.alibi_causal"};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(item(order[i])->status, EXP_MATCH);
        assert_true(item(order[i])->value < 1.0 - 1e-5);
    }
    /* a 3-token reversal keeps |i − j|: bidirectional ALiBi cannot tell */
    assert_float_equal(item("order.alibi_bidirectional")->value, 1.0, 1e-6);
}

static void test_model_sizes_match_pytorch(void **state) {
    (void)state;
    tu_fixture *fx = tu_fixture_load("tests/fixtures/nn.txt");
    double t5 = tu_fixture_get(fx, "count.thinker5000", NULL, NULL)[0];
    double t32 = tu_fixture_get(fx, "count.thinker32000", NULL, NULL)[0];
    double vit = tu_fixture_get(fx, "count.vit_tiny", NULL, NULL)[0];
    tu_fixture_free(fx);
    assert_float_equal((double)exp_basics_thinker_params(5000), t5, 0);
    assert_float_equal((double)exp_basics_thinker_params(32000), t32, 0);
    /* gen_nn.py's ViT ends in a LayerNorm; μOmni's ends in an RMSNorm without a bias (128 fewer). */
    assert_float_equal(vit, 917120.0, 0);
    assert_float_equal((double)exp_basics_vit_tiny_params(), vit - 128, 0);
    assert_float_equal(item("muomni.vit_tiny")->value, 916992.0, 0);
    /* proj_v Linear(128, 256) + proj_a Linear(192, 256), with biases */
    assert_float_equal((double)exp_basics_projector_params(), 33024.0 + 49408.0, 0);
    assert_int_equal(item("muomni.projectors")->status, EXP_MATCH);
    assert_int_equal(item("muomni.thinker5000")->status, EXP_MATCH);
    assert_int_equal(item("muomni.thinker32000")->status, EXP_MATCH);
    assert_int_equal(item("muomni.vit_tiny")->status, EXP_MATCH);
}

/* What the chapter states but μOmni's code does not do is flagged, with the true value. */
static void test_flags_and_checks(void **state) {
    (void)state;
    assert_int_equal(item("muomni.vocab")->status, EXP_MISMATCH);
    assert_float_equal(item("muomni.vocab")->value, 32000.0, 0);
    assert_non_null(strstr(item("muomni.vocab")->ember, "8,192,000"));
    assert_int_equal(item("muomni.embedding_init")->status, EXP_MISMATCH);
    assert_float_equal(item("muomni.embedding_init")->value, 1.0, 0.01); /* the N(0, 1) table's measured std */
    assert_int_equal(item("dims.gpt3")->status, EXP_MISMATCH);
    assert_float_equal(item("dims.gpt3")->value, 12288.0, 0);
    /* RoPE: q·k is unchanged by a common shift, to float rounding */
    assert_int_equal(item("positions.rope_offset")->status, EXP_MATCH);
    assert_true(item("positions.rope_offset")->value < 1e-2);
    /* find_similar as written returns the query itself, last */
    assert_int_equal(item("code.find_similar")->status, EXP_MISMATCH);
    assert_float_equal(item("code.find_similar")->value, 1.0, 1e-6);
    assert_non_null(strstr(item("code.find_similar")->ember, "[dog (0.9866), cat (1.0000)]"));
}

/* The code items on vectors built so that king - man + woman is nearest to king (as on real data). */
static void test_code_items_on_vectors(void **state) {
    (void)state;
    char *words[6] = {"king", "queen", "man", "woman", "cat", "dog"};
    const float vec[6 * 3] = {1.0f, 0.1f, 0.0f,  0.7f, 0.1f, 0.6f,  0.1f, 1.0f, 0.0f,
                              0.1f, 0.9f, 0.3f,  0.0f, 0.0f, 1.0f,  0.05f, 0.0f, 1.0f};
    train_vectors *v = train_vectors_from(6, 3, words, vec);
    exp_basics_report r = {0};
    exp_basics_vector_items(&r, v, "test vectors");
    const exp_basics_item *fs = exp_basics_find(&r, "code.find_similar"), *an = exp_basics_find(&r, "code.analogy");
    assert_non_null(fs);
    assert_non_null(an);
    assert_int_equal(fs->status, EXP_MISMATCH);
    assert_non_null(strstr(fs->ember, "dog (0.999), cat (1.000)]"));
    /* king - man + woman = [1.0, 0.0, 0.3]: nearest without exclusion is king (0.953 vs queen 0.909) */
    assert_int_equal(an->status, EXP_MISMATCH);
    assert_non_null(strstr(an->ember, "the code answers \"king\""));
    assert_non_null(strstr(an->ember, "ember `analogy`): queen"));
    exp_basics_free(&r);
    train_vectors_free(v);
}

static void test_cli(void **state) {
    (void)state;
    char *out = NULL;
    assert_int_equal(tu_run_ember(&out, "chapter basics --json"), 0);
    assert_non_null(strstr(out, "\"experiment\": \"chapter basics\", \"mismatches\": 5,"));
    assert_non_null(strstr(out, "\"id\": \"cosine.cat_car\""));
    assert_non_null(strstr(out, "\"status\": \"mismatch\""));
    free(out);
    assert_int_equal(tu_run_ember(&out, "chapter basics"), 0);
    assert_non_null(strstr(out, "[MISMATCH] cosine similarity of car"));
    free(out);
    assert_int_equal(tu_run_ember(&out, "chapter nosuch"), 2);
    assert_non_null(strstr(out, "expected an experiment name (basics, positional, multimodal, tokens, words, eval, context, tips, align, all), got 'nosuch'"));
    free(out);
    assert_int_equal(tu_run_ember(&out, "chapter basics --seed x"), 2);
    free(out);
    /* A negative seed is refused, not wrapped around to 2^64 - 1. */
    assert_int_equal(tu_run_ember(&out, "chapter basics --seed -1"), 2);
    assert_non_null(strstr(out, "--seed: expected an integer >= 0, got '-1'"));
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_hot_cosine_counts_lookup),
        cmocka_unit_test(test_positions),
        cmocka_unit_test(test_model_sizes_match_pytorch),
        cmocka_unit_test(test_flags_and_checks),
        cmocka_unit_test(test_code_items_on_vectors),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
