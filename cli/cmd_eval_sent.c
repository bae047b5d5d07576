/* cmd_eval_sent.c — `ember eval sts` and `ember eval probe`: sentence-embedding evaluation of a text model or of averaged word vectors. */
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/evalsets.h"
#include "train/sentence.h"

/* ---- ember eval sts ----------------------------------------------------------------------------- */

static void usage_sts(FILE *f) {
    fprintf(f, "usage: ember eval sts MODEL|VECTORS [--set NAME|FILE ...] [--pool mean|cls|first-last] [--json]\n"
               "  MODEL|VECTORS  an `ember train mlm|lm|contrastive` checkpoint, or word vectors (word2vec text or\n"
               "                 binary, or an ember Word2Vec checkpoint: a sentence is the mean of its words' vectors)\n"
               "  --set          stsb-dev, stsb-test, stsb-train, sick-r (SICK's TEST rows), or an STS-B/SICK file;\n"
               "                 repeatable (default: stsb-dev, stsb-test, sick-r from the shared data)\n"
               "  --pool         a model's pooling (default: the checkpoint's own, else mean)\n"
               "  --json         one JSON object\n"
               "  --dump FILE    every pair's set, gold score and cosine as TSV (for error analysis)\n"
               "Spearman's rho x 100 between cosine and gold score over every pair (SentEval / SimCSE 'all').\n");
}

/* A named set's path (static buffer) and whether only SICK's TEST rows count. */
static const char *sts_set_path(const char *name, bool *sick_test) {
    static char buf[4096];
    static const struct { const char *name, *rel; bool test; } sets[] = {
        {"stsb-dev", "sentence-sim/stsbenchmark/sts-dev.csv", false},
        {"stsb-test", "sentence-sim/stsbenchmark/sts-test.csv", false},
        {"stsb-train", "sentence-sim/stsbenchmark/sts-train.csv", false},
        {"sick-r", "sentence-sim/sick/SICK.txt", true},
    };
    *sick_test = false;
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++)
        if (!strcmp(name, sets[i].name)) {
            const char *d = cli_data_dir();
            if (!d) {
                base_error_set("--set %s: the shared data directory is absent (set EMBER_DATA_DIR or give a file)", name);
                return NULL;
            }
            snprintf(buf, sizeof buf, "%s/%s", d, sets[i].rel);
            *sick_test = sets[i].test;
            return buf;
        }
    return name;
}

static int eval_sts(int argc, char **argv) {
    const char *path = NULL, *pool = NULL, *dump = NULL, *sets[16];
    int nsets = 0, json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage_sts(stdout);
            return 0;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "--set") && i + 1 < argc) {
            if (nsets == 16) {
                fprintf(stderr, "ember eval sts: at most 16 --set\n");
                return 2;
            }
            sets[nsets++] = argv[++i];
        } else if (!strcmp(a, "--pool") && i + 1 < argc) {
            pool = argv[++i];
        } else if (!strcmp(a, "--dump") && i + 1 < argc) {
            dump = argv[++i];
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "ember eval sts: unknown option or missing value: %s\n", a);
            usage_sts(stderr);
            return 2;
        } else if (!path) {
            path = a;
        } else {
            fprintf(stderr, "ember eval sts: one MODEL|VECTORS expected, got also '%s'\n", a);
            return 2;
        }
    }
    if (!path) {
        usage_sts(stderr);
        return 2;
    }
    if (!nsets) sets[nsets++] = "stsb-dev", sets[nsets++] = "stsb-test", sets[nsets++] = "sick-r";
    train_sent_encoder e;
    if (train_sent_open(&e, path, pool)) {
        fprintf(stderr, "ember eval sts: %s\n", base_error_msg());
        return 1;
    }
    int rc = 0;
    FILE *df = NULL;
    if (dump && !(df = fopen(dump, "w"))) {
        fprintf(stderr, "ember eval sts: %s: cannot write\n", dump);
        train_sent_close(&e);
        return 1;
    }
    if (df) fprintf(df, "set\tgold\tcosine\n");
    if (json) {
        printf("{\"model\": ");
        base_json_str(stdout, path);
        printf(", \"encoder\": ");
        base_json_str(stdout, e.desc);
        printf(", \"sets\": [");
    } else {
        printf("%s: %s\n%-12s %7s %9s %9s%s\n", path, e.desc, "set", "pairs", "spearman", "pearson",
               e.is_model ? "" : "   OOV words");
    }
    for (int s = 0; s < nsets && !rc; s++) {
        bool sick_test;
        const char *p = sts_set_path(sets[s], &sick_test);
        data_sentence_pairs *sp = NULL;
        if (!p || data_pairs_read(&sp, p, DATA_PAIRS_AUTO)) {
            fprintf(stderr, "ember eval sts: %s\n", base_error_msg());
            rc = 1;
            break;
        }
        int64_t n = 0;
        for (int64_t i = 0; i < sp->n; i++) /* keep the rows of the split in place */
            if (!sick_test || !sp->split[i] || !strcmp(sp->split[i], "TEST")) {
                sp->a[n] = sp->a[i], sp->b[n] = sp->b[i], sp->score[n] = sp->score[i];
                n++;
            }
        train_sts_result r;
        double *cos = base_xmalloc((size_t)(n > 0 ? n : 1) * sizeof(double));
        if (train_sent_sts(&e, (const char *const *)sp->a, (const char *const *)sp->b, sp->score, n, &r, cos)) {
            fprintf(stderr, "ember eval sts: %s: %s\n", p, base_error_msg());
            rc = 1;
        } else if (json) {
            printf("%s{\"set\": ", s ? ", " : "");
            base_json_str(stdout, sets[s]);
            printf(", \"pairs\": %lld, \"spearman\": ", (long long)r.pairs);
            base_json_num(stdout, r.spearman);
            printf(", \"pearson\": ");
            base_json_num(stdout, r.pearson);
            if (!e.is_model) printf(", \"words\": %lld, \"oov_words\": %lld", (long long)r.words, (long long)r.oov);
            printf("}");
        } else {
            printf("%-12s %7lld %9.2f %9.2f", sets[s], (long long)r.pairs, r.spearman, r.pearson);
            if (!e.is_model) printf("   %.1f%% of %lld", r.words ? 100.0 * (double)r.oov / (double)r.words : 0.0, (long long)r.words);
            printf("\n");
        }
        for (int64_t i = 0; df && !rc && i < n; i++) fprintf(df, "%s\t%.9g\t%.17g\n", sets[s], (double)sp->score[i], cos[i]);
        free(cos);
        data_pairs_free(sp);
    }
    if (df && fclose(df) != 0 && !rc) {
        fprintf(stderr, "ember eval sts: %s: write failed\n", dump);
        rc = 1;
    }
    if (json) printf("]}\n");
    train_sent_close(&e);
    return rc;
}

/* ---- ember eval probe ----------------------------------------------------------------------------- */

static void usage_probe(FILE *f) {
    fprintf(f, "usage: ember eval probe MODEL|VECTORS [--task sst2 | --train FILE --dev FILE [--test FILE]]\n"
               "                        [--pool mean|cls|first-last] [--max N] [--json]\n"
               "  a logistic-regression probe on frozen sentence vectors (SentEval's protocol): standardised\n"
               "  features, L2 strength chosen on dev from 1e-6 .. 1, dev and test accuracy reported.\n"
               "  --task sst2    the shared SST-2 files (label TAB sentence, header; test has labels)\n"
               "  --max N        use only the first N training sentences (default: all)\n");
}

static int embed_labeled(const train_sent_encoder *e, const char *path, int64_t max, float **x, int32_t **y, int64_t *n) {
    data_labeled_sentences *s;
    if (data_labeled_read(&s, path)) return -1;
    int64_t m = max > 0 && max < s->n ? max : s->n;
    *x = base_xmalloc((size_t)(m * e->dim) * sizeof(float));
    *y = base_xmalloc((size_t)m * sizeof(int32_t));
    memcpy(*y, s->label, (size_t)m * sizeof(int32_t));
    int rc = train_sent_embed(e, (const char *const *)s->text, m, *x, NULL, NULL);
    if (rc) base_error_prefix("%s", path);
    *n = m;
    data_labeled_free(s);
    return rc;
}

static int eval_probe(int argc, char **argv) {
    const char *path = NULL, *pool = NULL, *task = NULL, *files[3] = {NULL, NULL, NULL};
    int64_t max = 0;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage_probe(stdout);
            return 0;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if (v && (!strcmp(a, "--task") || !strcmp(a, "--pool") || !strcmp(a, "--train") || !strcmp(a, "--dev") ||
                         !strcmp(a, "--test"))) {
            if (!strcmp(a, "--task")) task = v;
            else if (!strcmp(a, "--pool")) pool = v;
            else files[!strcmp(a, "--train") ? 0 : !strcmp(a, "--dev") ? 1 : 2] = v;
            i++;
        } else if (!strcmp(a, "--max")) {
            if (cli_parse_i64(a, v, 1, INT64_MAX, &max)) return cli_error("eval probe");
            i++;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "ember eval probe: unknown option or missing value: %s\n", a);
            usage_probe(stderr);
            return 2;
        } else if (!path) {
            path = a;
        } else {
            fprintf(stderr, "ember eval probe: one MODEL|VECTORS expected, got also '%s'\n", a);
            return 2;
        }
    }
    static char paths[3][4096];
    if (task) {
        if (strcmp(task, "sst2")) {
            fprintf(stderr, "ember eval probe: --task %s: the known task is sst2 (or give --train/--dev/--test)\n", task);
            return 2;
        }
        const char *d = cli_data_dir();
        if (!d) {
            fprintf(stderr, "ember eval probe: --task sst2: the shared data directory is absent (set EMBER_DATA_DIR)\n");
            return 1;
        }
        static const char *const rel[] = {"train.tsv.gz", "dev.tsv", "test.tsv"};
        for (int k = 0; k < 3; k++) {
            snprintf(paths[k], sizeof paths[k], "%s/classification/sst2/%s", d, rel[k]);
            if (!files[k]) files[k] = paths[k];
        }
    }
    if (!path || !files[0] || !files[1]) {
        usage_probe(stderr);
        return 2;
    }
    train_sent_encoder e;
    if (train_sent_open(&e, path, pool)) {
        fprintf(stderr, "ember eval probe: %s\n", base_error_msg());
        return 1;
    }
    float *x[3] = {NULL, NULL, NULL};
    int32_t *y[3] = {NULL, NULL, NULL};
    int64_t n[3] = {0, 0, 0};
    int rc = 0;
    double t0 = base_now_sec();
    for (int k = 0; k < 3 && !rc; k++)
        if (files[k]) rc = embed_labeled(&e, files[k], k == 0 ? max : 0, &x[k], &y[k], &n[k]);
    double t_embed = base_now_sec() - t0;
    train_probe_result r;
    if (!rc) rc = train_probe_logreg(x[0], y[0], n[0], x[1], y[1], n[1], x[2], y[2], n[2], e.dim, &r);
    if (rc) {
        fprintf(stderr, "ember eval probe: %s\n", base_error_msg());
    } else if (json) {
        printf("{\"model\": ");
        base_json_str(stdout, path);
        printf(", \"encoder\": ");
        base_json_str(stdout, e.desc);
        printf(", \"train\": %lld, \"dev\": %lld, \"test\": %lld, \"l2\": %g, \"train_acc\": %.2f, \"dev_acc\": %.2f, "
               "\"test_acc\": ", (long long)n[0], (long long)n[1], (long long)n[2], r.l2, r.train_acc, r.dev_acc);
        base_json_num(stdout, r.test_acc);
        printf(", \"embed_seconds\": %.1f, \"grid\": [", t_embed);
        for (int g = 0; g < r.ngrid; g++) printf("%s{\"l2\": %g, \"dev_acc\": %.2f}", g ? ", " : "", r.grid_l2[g], r.grid_dev[g]);
        printf("]}\n");
    } else {
        printf("%s: %s\nprobe: %lld train, %lld dev, %lld test sentences (embedded in %.1f s); L2 %g chosen on dev\n"
               "train %.2f%%   dev %.2f%%   test %s%.2f%%\n",
               path, e.desc, (long long)n[0], (long long)n[1], (long long)n[2], t_embed, r.l2, r.train_acc, r.dev_acc,
               n[2] ? "" : "(none) ", n[2] ? r.test_acc : 0.0);
    }
    for (int k = 0; k < 3; k++) free(x[k]), free(y[k]);
    train_sent_close(&e);
    return rc ? 1 : 0;
}

int cli_eval_sentences(int argc, char **argv) {
    if (!strcmp(argv[0], "sts")) return eval_sts(argc, argv);
    return eval_probe(argc, argv);
}
