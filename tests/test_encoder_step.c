/* test_encoder_step.c — the MLM-encoder training step through the library (train/encoder_step.h): freezing by glob keeps the frozen table's bytes, the rest trains. */
#include "support/test_util.h"

#include <stdlib.h>
#include <string.h>

#include "train/encoder_step.h"

static train_encoder_step_config tiny(void) {
    train_encoder_step_config c = train_encoder_step_config_default();
    c.threads = 1;
    c.d = 16;
    c.layers = 2;
    c.heads = 2;
    c.seq = 8;
    c.batch = 4;
    c.vocab = 40;
    return c;
}

/* A heap copy of a parameter's values. */
static float *copy_param(const nn_params *ps, const char *name, int64_t *numel) {
    const nn_param *p = nn_params_find(ps, name);
    if (!p) fail_msg("no parameter %s", name);
    *numel = p->t->numel;
    float *v = malloc((size_t)p->t->numel * sizeof(float));
    memcpy(v, ag_f32(p->t), (size_t)p->t->numel * sizeof(float));
    return v;
}

static bool param_equal(const nn_params *ps, const char *name, const float *before, int64_t numel) {
    const nn_param *p = nn_params_find(ps, name);
    return p->t->numel == numel && memcmp(ag_f32(p->t), before, (size_t)numel * sizeof(float)) == 0;
}

/* --freeze 'tok.*' (the token table is "tok.weight"): after AdamW steps with weight decay its
 * bytes are identical; the position table, a block's attention and the head changed; loss falls. */
static void test_freeze_token_table(void **state) {
    (void)state;
    const char *globs[] = {"tok.*"};
    train_encoder_step_config c = tiny();
    c.freeze = globs;
    c.nfreeze = 1;
    train_encoder_step s;
    assert_int_equal(train_encoder_step_init(&s, &c), 0);
    const nn_params *ps = &s.model.ps;
    assert_true(nn_params_find(ps, "tok.weight")->frozen);
    assert_int_equal(nn_params_count(ps, NULL) - nn_params_count_trainable(ps), 40 * 16);
    const char *names[] = {"tok.weight", "pos.weight", "enc.layers.0.attn.wq.weight", "head.weight"};
    float *before[4];
    int64_t numel[4];
    for (int i = 0; i < 4; i++) {
        before[i] = copy_param(ps, names[i], &numel[i]);
    }
    for (int k = 0; k < 8; k++) train_encoder_step_run(&s, true);
    assert_true(param_equal(ps, "tok.weight", before[0], numel[0]));
    for (int i = 1; i < 4; i++)
        if (param_equal(ps, names[i], before[i], numel[i])) fail_msg("%s did not change", names[i]);
    assert_true(s.loss_last < s.loss_first);
    for (int i = 0; i < 4; i++) free(before[i]);
    train_encoder_step_free(&s);
}

/* A glob that matches nothing (e.g. the 'tok_emb.*' on this model) is an error naming the
 * glob and some real names; bad sizes are errors, not aborts. */
static void test_bad_config(void **state) {
    (void)state;
    const char *globs[] = {"tok_emb.*"};
    train_encoder_step_config c = tiny();
    c.freeze = globs;
    c.nfreeze = 1;
    train_encoder_step s;
    assert_int_equal(train_encoder_step_init(&s, &c), -1);
    assert_non_null(strstr(base_error_msg(), "'tok_emb.*'"));
    assert_non_null(strstr(base_error_msg(), "tok.weight"));
    c = tiny();
    c.heads = 3;
    assert_int_equal(train_encoder_step_init(&s, &c), -1);
    assert_non_null(strstr(base_error_msg(), "not a multiple of --heads"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_freeze_token_table),
        cmocka_unit_test(test_bad_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
