/* test_train_lm.c — `ember train mlm|lm` and `ember embed` end to end: learning on real text, masking statistics, bit-exact resume, freezing, bad input. */
#include "support/test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoints/ckpt.h"
#include "data/world.h"
#include "train/lm.h"

/* A small tokenizer and text shared by the tests: the chapter world (synthetic sentences, built in)
 * for the mechanics, WikiText-2 validation (real text, skipped when absent) for learning. */
static char *g_world, *g_tok;

static int setup(void **state) {
    if (tu_group_tempdir_setup(state)) return -1;
    g_world = tu_path_join(tu_group_dir(), "world.txt");
    g_tok = tu_path_join(tu_group_dir(), "tok.txt");
    if (data_world_write(g_world, 3, 3000)) return -1;
    const char *paths[1] = {g_world};
    data_tokenizer *t = NULL;
    if (data_tokenizer_train(&t, paths, 1, 0, 400, NULL) || data_tokenizer_save(t, g_tok)) return -1;
    data_tokenizer_free(t);
    return 0;
}

static int teardown(void **state) {
    free(g_world);
    free(g_tok);
    return tu_group_tempdir_teardown(state);
}

#define SMALL "--d 32 --layers 2 --heads 2 --seq 32 --batch 8 --threads 1"

static void test_lm_learns_real_text(void **state) {
    (void)state;
    const char *wt = tu_data_path("corpus/wikitext-2/wiki.valid.txt.gz");
    if (!wt) skip();
    char *out = NULL;
    const char *m = tu_group_path("lm.jsonl");
    int rc = tu_run_ember(&out, "train lm --corpus %s --vocab-size 1000 --tokenizer-bytes 1000000 --d 64 --layers 2 "
                                "--heads 4 --seq 64 --batch 16 --steps 150 --warmup 15 --lr 2e-3 --eval-every 50 "
                                "--threads 2 --quiet --metrics %s --checkpoint %s",
                          wt, m, tu_group_path("lm.ckpt"));
    if (rc) printf("%s\n", out);
    assert_int_equal(rc, 0);
    free(out);
    double loss[32], ppl[8];
    int nl = tu_metric_series(m, "train", "loss", loss, 32), np = tu_metric_series(m, "eval", "eval_ppl", ppl, 8);
    assert_true(nl >= 10 && np == 3);
    printf("WikiText-2 valid, lm: train loss %.3f -> %.3f; held-out perplexity %.1f -> %.1f -> %.1f\n", loss[0],
           loss[nl - 1], ppl[0], ppl[1], ppl[2]);
    assert_true(loss[nl - 1] < loss[0] - 1.0); /* ln(1000) = 6.9 at the start */
    assert_true(ppl[2] < ppl[0]);
    /* the loss curve is drawn beside the checkpoint */
    size_t n = 0;
    char *svg = tu_read_file(tu_group_path("lm.ckpt.svg"), &n);
    assert_non_null(svg);
    assert_non_null(strstr(svg, "<polyline"));
    free(svg);
}

static void test_mlm_learns_real_text(void **state) {
    (void)state;
    const char *wt = tu_data_path("corpus/wikitext-2/wiki.valid.txt.gz");
    if (!wt) skip();
    char *out = NULL;
    const char *m = tu_group_path("mlm.jsonl");
    int rc = tu_run_ember(&out, "train mlm --corpus %s --vocab-size 1000 --tokenizer-bytes 1000000 --d 64 --layers 2 "
                                "--heads 4 --seq 64 --batch 16 --steps 200 --warmup 20 --lr 2e-3 --eval-every 100 "
                                "--dropout 0 --threads 2 --quiet --metrics %s", wt, m);
    if (rc) printf("%s\n", out);
    assert_int_equal(rc, 0);
    free(out);
    double loss[32], eval_loss[4];
    int nl = tu_metric_series(m, "train", "loss", loss, 32), ne = tu_metric_series(m, "eval", "eval_mlm_loss", eval_loss, 4);
    assert_true(nl >= 10 && ne == 2);
    printf("WikiText-2 valid, mlm: train loss %.3f -> %.3f; held-out masked loss %.3f -> %.3f\n", loss[0], loss[nl - 1],
           eval_loss[0], eval_loss[1]);
    assert_true(loss[nl - 1] < loss[0] - 0.5);
    assert_true(eval_loss[1] < eval_loss[0]);
}

/* Masking statistics on real token rows: 15 % chosen, 80/10/10 of them, specials never chosen;
 * whole-word masking chooses every token of a word together. */
static void test_masking_statistics(void **state) {
    (void)state;
    data_tokenizer *tok = NULL;
    assert_int_equal(data_tokenizer_load(&tok, g_tok), 0);
    size_t n = 0;
    char *text = tu_read_file(g_world, &n);
    int32_t *ids = NULL;
    int64_t nid = 0;
    assert_int_equal(data_tokenizer_encode(tok, (const uint8_t *)text, n, &ids, &nid, 1), 0);
    const int64_t B = 16, T = 64;
    int32_t *x = malloc((size_t)(B * T) * 4), *y = malloc((size_t)(B * T) * 4), *orig = malloc((size_t)(B * T) * 4);
    base_rng r;
    base_rng_seed(&r, 5);
    int64_t eligible = 0, chosen = 0, to_mask = 0, kept = 0, random = 0, cls_chosen = 0;
    for (int64_t rep = 0; rep < 40; rep++) {
        for (int64_t b = 0; b < B; b++) {
            orig[b * T] = tok->special[DATA_TOK_CLS];
            memcpy(orig + b * T + 1, ids + ((rep * B + b) * (T - 1)) % (nid - T), (size_t)(T - 1) * 4);
        }
        memcpy(x, orig, (size_t)(B * T) * 4);
        chosen += train_lm_mask(tok, x, y, B, T, 0.15, false, &r);
        for (int64_t i = 0; i < B * T; i++) {
            bool special = orig[i] >= tok->special[0];
            eligible += !special;
            if (y[i] == TRAIN_LM_IGNORE) {
                assert_int_equal(x[i], orig[i]);
                continue;
            }
            cls_chosen += special;
            assert_int_equal(y[i], orig[i]);
            if (x[i] == tok->special[DATA_TOK_MASK]) to_mask++;
            else if (x[i] == orig[i]) kept++;
            else random++;
        }
    }
    double f = (double)chosen / (double)eligible;
    printf("token masking: %.4f of %lld tokens chosen; of those %.3f [MASK], %.3f random, %.3f kept\n", f,
           (long long)eligible, (double)to_mask / chosen, (double)random / chosen, (double)kept / chosen);
    assert_int_equal(cls_chosen, 0);
    assert_true(fabs(f - 0.15) < 0.01);
    assert_true(fabs((double)to_mask / chosen - 0.8) < 0.03);
    assert_true(fabs((double)random / chosen - 0.1) < 0.02); /* a random draw may equal the original: counted kept */
    assert_true(fabs((double)kept / chosen - 0.1) < 0.02);
    /* whole words: a word's tokens are chosen together */
    memcpy(x, orig, (size_t)(B * T) * 4);
    int64_t wc = train_lm_mask(tok, x, y, B, T, 0.15, true, &r);
    assert_true(wc > 0);
    int64_t multi = 0;
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 2; t < T; t++) {
            int32_t len = 0;
            const uint8_t *bytes = data_bpe_token_bytes(tok->bpe, orig[b * T + t], &len);
            bool continues = bytes && len > 0 && bytes[0] != ' ' && bytes[0] != '\n';
            const uint8_t *pb = data_bpe_token_bytes(tok->bpe, orig[b * T + t - 1], &len);
            continues = continues && pb && pb[len - 1] != ' ' && pb[len - 1] != '\n';
            if (!continues) continue;
            /* a continuation token is chosen iff the token before it is */
            bool a = y[b * T + t] != TRAIN_LM_IGNORE, p = y[b * T + t - 1] != TRAIN_LM_IGNORE;
            if (a != p && t != T - 1) fail_msg("row %lld position %lld: word split by whole-word masking", (long long)b, (long long)t);
            multi += a;
        }
    printf("whole-word masking: %lld tokens chosen, %lld of them continue a chosen word\n", (long long)wc, (long long)multi);
    assert_true(multi > 0);
    free(x);
    free(y);
    free(orig);
    free(ids);
    free(text);
    data_tokenizer_free(tok);
}

/* Parameters of two checkpoints are byte-identical (frozen: those matching glob; else all). */
static int64_t compare_params(const char *a, const char *b, const char *only_prefix, bool expect_equal) {
    ckpt_reader *ra = ckpt_open(a), *rb = ckpt_open(b);
    assert_non_null(ra);
    assert_non_null(rb);
    train_lm_model ma, mb;
    assert_int_equal(train_lm_load_model(a, &ma), 0);
    assert_int_equal(train_lm_load_model(b, &mb), 0);
    int64_t compared = 0;
    for (int i = 0; i < ma.net.ps.n; i++) {
        const nn_param *p = &ma.net.ps.items[i], *q = &mb.net.ps.items[i];
        if (only_prefix && strncmp(p->name, only_prefix, strlen(only_prefix))) continue;
        bool eq = memcmp(p->t->data, q->t->data, (size_t)p->t->numel * 4) == 0;
        if (eq != expect_equal) fail_msg("%s: %s in %s and %s", p->name, eq ? "equal" : "differs", a, b);
        compared++;
    }
    train_lm_model_free(&ma);
    train_lm_model_free(&mb);
    ckpt_close(ra);
    ckpt_close(rb);
    return compared;
}

static void test_resume_bit_exact(void **state) {
    (void)state;
    const char *kinds[2] = {"mlm", "lm"};
    for (int k = 0; k < 2; k++) {
        char *out = NULL;
        char full[512], cut[512];
        snprintf(full, sizeof full, "%s", tu_group_path(kinds[k]));
        strcat(full, ".full.ckpt");
        snprintf(cut, sizeof cut, "%s", tu_group_path(kinds[k]));
        strcat(cut, ".cut.ckpt");
        /* dropout on, accumulation on: every RNG and the data cursor must round-trip */
        assert_int_equal(tu_run_ember(&out, "train %s --corpus %s --tokenizer %s " SMALL " --dropout 0.1 --accum 2 "
                                            "--steps 12 --eval-every 5 --checkpoint %s", kinds[k], g_world, g_tok, full), 0);
        free(out);
        assert_int_equal(tu_run_ember(&out, "train %s --corpus %s --tokenizer %s " SMALL " --dropout 0.1 --accum 2 "
                                            "--steps 12 --eval-every 5 --checkpoint %s --stop-after 7", kinds[k], g_world,
                                      g_tok, cut), 3);
        assert_non_null(strstr(out, "resume with"));
        free(out);
        assert_int_equal(tu_run_ember(&out, "train %s --corpus %s " SMALL " --dropout 0.1 --accum 2 --steps 12 "
                                            "--eval-every 5 --checkpoint %s --resume %s", kinds[k], g_world, cut, cut), 0);
        assert_null(strstr(out, "loop setting")); /* same settings: nothing to note */
        free(out);
        int64_t n = compare_params(full, cut, NULL, true);
        printf("%s: resumed at step 7 of 12: %lld parameter tensors byte-identical to the uninterrupted run\n", kinds[k],
               (long long)n);
        assert_true(n > 10);
        /* loop settings may change on resume, but each change is named with both values */
        assert_int_equal(tu_run_ember(&out, "train %s --corpus %s " SMALL " --dropout 0.1 --accum 2 --steps 14 --lr 0.002 "
                                            "--eval-every 5 --checkpoint %s --resume %s", kinds[k], g_world, cut, cut), 0);
        printf("%s", out);
        assert_non_null(strstr(out, "resuming with 2 loop settings changed from the checkpoint's"));
        assert_non_null(strstr(out, "steps checkpoint 12, now 14"));
        /* both values as typed: the checkpoint's --lr (the default: mlm 5e-4, lm 6e-4) and the new one */
        assert_non_null(strstr(out, strcmp(kinds[k], "lm") ? "lr checkpoint 0.0005, now 0.002" : "lr checkpoint 0.0006, now 0.002"));
        free(out);
    }
}

static void test_freeze_keeps_bytes(void **state) {
    (void)state;
    char *out = NULL;
    const char *a = tu_group_path("fz5.ckpt"), *b = tu_group_path("fz9.ckpt");
    char pa[512], pb[512];
    snprintf(pa, sizeof pa, "%s", a);
    snprintf(pb, sizeof pb, "%s", b);
    for (int k = 0; k < 2; k++) {
        assert_int_equal(tu_run_ember(&out, "train mlm --corpus %s --tokenizer %s " SMALL " --steps %d --weight-decay 0.5 "
                                            "--decay-all --freeze 'enc.layers.0.*' --freeze tok.weight --checkpoint %s",
                                      g_world, g_tok, k ? 9 : 5, k ? pb : pa), 0);
        free(out);
    }
    /* both runs start from the same init (same seed): frozen tensors never moved, the rest did */
    assert_true(compare_params(pa, pb, "enc.layers.0.", true) > 0);
    assert_true(compare_params(pa, pb, "tok.", true) == 1);
    assert_true(compare_params(pa, pb, "enc.layers.1.", false) > 0);
}

static void test_bad_input(void **state) {
    (void)state;
    char *out = NULL;
    /* empty corpus */
    char *empty = tu_write_tmp(tu_group_dir(), "empty.txt", "");
    assert_int_equal(tu_run_ember(&out, "train mlm --corpus %s --tokenizer %s " SMALL " --steps 2", empty, g_tok), 1);
    assert_non_null(strstr(out, "empty.txt"));
    assert_non_null(strstr(out, "empty"));
    free(out);
    /* missing corpus */
    assert_int_equal(tu_run_ember(&out, "train lm --corpus %s/nope.txt --tokenizer %s " SMALL, tu_group_dir(), g_tok), 1);
    assert_non_null(strstr(out, "nope.txt"));
    free(out);
    /* a tokenizer that does not match the checkpoint */
    const char *ck = tu_group_path("tm.ckpt");
    char ckp[512];
    snprintf(ckp, sizeof ckp, "%s", ck);
    assert_int_equal(tu_run_ember(&out, "train mlm --corpus %s --tokenizer %s " SMALL " --steps 4 --checkpoint %s",
                                  g_world, g_tok, ckp), 0);
    free(out);
    char *tok2 = tu_path_join(tu_group_dir(), "tok2.txt");
    const char *paths[1] = {g_world};
    data_tokenizer *t = NULL;
    assert_int_equal(data_tokenizer_train(&t, paths, 1, 0, 300, NULL), 0);
    assert_int_equal(data_tokenizer_save(t, tok2), 0);
    data_tokenizer_free(t);
    assert_int_equal(tu_run_ember(&out, "train mlm --corpus %s --tokenizer %s " SMALL " --steps 8 --checkpoint %s "
                                        "--resume %s", g_world, tok2, ckp, ckp), 1);
    printf("%s", out);
    assert_non_null(strstr(out, "does not match the tokenizer stored in"));
    free(out);
    /* a different --seq on resume: the model's positions differ */
    assert_int_equal(tu_run_ember(&out, "train mlm --corpus %s --d 32 --layers 2 --heads 2 --seq 48 --batch 8 "
                                        "--threads 1 --quiet --steps 8 --checkpoint %s --resume %s", g_world, ckp, ckp), 1);
    printf("%s", out);
    assert_non_null(strstr(out, "seq checkpoint 32, now 48"));
    free(out);
    /* a truncated checkpoint: named, and the file left as it was */
    size_t n = 0;
    char *bytes = tu_read_file(ckp, &n);
    char *trunc = tu_path_join(tu_group_dir(), "trunc.ckpt");
    assert_int_equal(tu_write_file(trunc, bytes, n / 2), 0);
    free(bytes);
    assert_int_equal(tu_run_ember(&out, "train mlm --corpus %s " SMALL " --steps 8 --checkpoint %s --resume %s", g_world,
                                  trunc, trunc), 1);
    printf("%s", out);
    assert_non_null(strstr(out, "trunc.ckpt"));
    assert_non_null(strstr(out, "truncated"));
    free(out);
    size_t n2 = 0;
    char *after = tu_read_file(trunc, &n2);
    assert_int_equal(n2, n / 2);
    free(after);
    assert_int_equal(tu_run_ember(&out, "embed %s --tokens hello", trunc), 1);
    assert_non_null(strstr(out, "truncated"));
    free(out);
    /* bad model shapes */
    assert_int_equal(tu_run_ember(&out, "train mlm --corpus %s --tokenizer %s --d 30 --heads 4 --steps 2", g_world, g_tok), 1);
    assert_non_null(strstr(out, "--d 30 is not a multiple of --heads 4"));
    free(out);
    assert_int_equal(tu_run_ember(&out, "train lm --corpus %s --steps 0", g_world), 2);
    assert_non_null(strstr(out, "--steps"));
    free(out);
    free(empty);
    free(tok2);
    free(trunc);
}

static void test_embed(void **state) {
    (void)state;
    char *out = NULL;
    const char *ck = tu_group_path("emb.ckpt");
    char ckp[512];
    snprintf(ckp, sizeof ckp, "%s", ck);
    assert_int_equal(tu_run_ember(&out, "train mlm --corpus %s --tokenizer %s " SMALL " --steps 3 --checkpoint %s "
                                        "--test %s", g_world, g_tok, ckp, g_world), 0);
    assert_non_null(strstr(out, "test_mlm_accuracy")); /* --test: evaluated once, after training */
    free(out);
    char *lines = tu_write_tmp(tu_group_dir(), "lines.txt", "the king rides a horse\n\nthe queen eats bread\r\na very "
                               "long line a very long line a very long line a very long line a very long line\n");
    char *npy = tu_path_join(tu_group_dir(), "v.npy"), *txt = tu_path_join(tu_group_dir(), "v.txt");
    assert_int_equal(tu_run_ember(&out, "embed %s --input %s -o %s", ckp, lines, npy), 0);
    free(out);
    size_t n = 0;
    char *bytes = tu_read_file(npy, &n);
    assert_non_null(strstr(bytes + 10, "'shape': (4, 32)"));
    assert_int_equal(n, 128 + 4 * 32 * 4);
    const float *v = (const float *)(bytes + 128);
    for (int i = 0; i < 4 * 32; i++) assert_true(isfinite(v[i]));
    assert_memory_not_equal(v, v + 32, 32 * 4); /* different lines, different vectors */
    free(bytes);
    assert_int_equal(tu_run_ember(&out, "embed %s --input %s -o %s --pool first-last --layer 1", ckp, lines, txt), 0);
    free(out);
    bytes = tu_read_file(txt, &n);
    assert_true(!strncmp(bytes, "4 32\n0 ", 7));
    free(bytes);
    assert_int_equal(tu_run_ember(&out, "embed %s --tokens 'the king'", ckp), 0);
    assert_non_null(strstr(out, "[CLS]\t"));
    assert_non_null(strstr(out, "\" king\"\t"));
    free(out);
    assert_int_equal(tu_run_ember(&out, "embed %s --word king --context 'the king rides' --context 'a king eats'", ckp), 0);
    assert_non_null(strstr(out, "cos([1], [2]) = "));
    free(out);
    assert_int_equal(tu_run_ember(&out, "embed %s --word queen --context 'the king rides' --context 'a king eats'", ckp), 1);
    assert_non_null(strstr(out, "does not contain the word 'queen'"));
    free(out);
    assert_int_equal(tu_run_ember(&out, "embed %s --input %s -o %s --layer 9", ckp, lines, npy), 1);
    assert_non_null(strstr(out, "layers 1..2"));
    free(out);
    free(lines);
    free(npy);
    free(txt);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_masking_statistics), cmocka_unit_test(test_resume_bit_exact),
        cmocka_unit_test(test_freeze_keeps_bytes), cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_embed),              cmocka_unit_test(test_lm_learns_real_text),
        cmocka_unit_test(test_mlm_learns_real_text),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
