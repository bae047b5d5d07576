/* cmd_eval.c — `ember eval analogy|wordsim`, `ember similar`, `ember analogy`: evaluate and query word vectors. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "autograd/ag.h"
#include "cli.h"
#include "data/evalsets.h"
#include "train/eval.h"

static int load_or_report(train_vectors **v, const char *path, const char *param) {
    if (train_vectors_load(v, path, param)) {
        fprintf(stderr, "ember: %s\n", base_error_msg());
        return -1;
    }
    return 0;
}

static double pct(int64_t a, int64_t b) { return b > 0 ? 100.0 * (double)a / (double)b : NAN; }

/* "12.34%" right-aligned in 9 columns, or "-" when undefined (no question seen). */
static const char *pct_cell(int64_t a, int64_t b) {
    static char buf[4][32];
    static int k;
    char *c = buf[k++ & 3];
    if (b <= 0) snprintf(c, 32, "%9s", "-");
    else snprintf(c, 32, "%8.2f%%", 100.0 * (double)a / (double)b);
    return c;
}

/* ---- ember eval analogy ---------------------------------------------------------------------- */

static void usage_analogy_eval(FILE *f) {
    fprintf(f, "usage: ember eval analogy VECTORS [--questions FILE] [--restrict N] [--param NAME] [--json]\n"
               "  VECTORS      word2vec text/binary file or ember checkpoint\n"
               "  --questions  analogy questions (default: questions-words.txt in the shared data dir)\n"
               "  --restrict   search only the N most frequent words (default 30000; 0 = all)\n"
               "  --param      checkpoint dataset under /params holding the embedding (default: guess)\n"
               "  --json       one JSON object instead of the table\n");
}

static int eval_analogy(int argc, char **argv) {
    const char *vec_path = NULL, *qpath = NULL, *param = NULL;
    int64_t restrict_n = 30000;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage_analogy_eval(stdout);
            return 0;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if ((!strcmp(a, "--questions") || !strcmp(a, "--restrict") || !strcmp(a, "--param")) && i + 1 < argc) {
            const char *v = argv[++i];
            if (!strcmp(a, "--questions")) qpath = v;
            else if (!strcmp(a, "--param")) param = v;
            else if (cli_parse_i64(a, v, 0, INT64_MAX, &restrict_n)) return cli_error("eval analogy");
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "ember eval analogy: unknown option or missing value: %s\n", a);
            usage_analogy_eval(stderr);
            return 2;
        } else if (!vec_path) {
            vec_path = a;
        } else {
            fprintf(stderr, "ember eval analogy: unexpected argument '%s'\n", a);
            return 2;
        }
    }
    if (!vec_path) {
        usage_analogy_eval(stderr);
        return 2;
    }
    char defq[4096];
    if (!qpath) {
        const char *d = cli_data_dir();
        if (!d) {
            fprintf(stderr, "ember: no --questions given and no shared data dir (set EMBER_DATA_DIR)\n");
            return 2;
        }
        snprintf(defq, sizeof defq, "%s/analogy/questions-words.txt", d);
        qpath = defq;
    }
    data_analogy_set *q;
    if (data_analogy_read(&q, qpath)) {
        fprintf(stderr, "ember: %s\n", base_error_msg());
        return 1;
    }
    train_vectors *v;
    if (load_or_report(&v, vec_path, param)) {
        data_analogy_free(q);
        return 1;
    }
    train_analogy_result r;
    train_eval_analogy(v, q, restrict_n, &r);
    if (json) {
        printf("{\"vectors\": ");
        base_json_str(stdout, vec_path);
        printf(", \"questions\": ");
        base_json_str(stdout, qpath);
        printf(", \"vocab\": %lld, \"dim\": %lld, \"restrict\": %lld, \"sections\": [", (long long)v->n,
               (long long)v->dim, (long long)r.restrict_n);
        for (int s = 0; s < r.n_sections; s++) {
            printf("%s{\"name\": ", s ? ", " : "");
            base_json_str(stdout, r.sections[s].name);
            printf(", \"correct\": %lld, \"seen\": %lld, \"total\": %lld, \"accuracy\": ", (long long)r.sections[s].correct,
                   (long long)r.sections[s].seen, (long long)r.sections[s].total);
            base_json_num(stdout, r.sections[s].seen ? (double)r.sections[s].correct / (double)r.sections[s].seen : NAN);
            printf("}");
        }
        printf("], \"correct\": %lld, \"seen\": %lld, \"total\": %lld, \"accuracy\": ", (long long)r.correct,
               (long long)r.seen, (long long)r.total);
        base_json_num(stdout, r.seen ? (double)r.correct / (double)r.seen : NAN);
        printf(", \"semantic\": {\"correct\": %lld, \"seen\": %lld, \"accuracy\": ", (long long)r.sem_correct,
               (long long)r.sem_seen);
        base_json_num(stdout, r.sem_seen ? (double)r.sem_correct / (double)r.sem_seen : NAN);
        printf("}, \"syntactic\": {\"correct\": %lld, \"seen\": %lld, \"accuracy\": ", (long long)r.syn_correct,
               (long long)r.syn_seen);
        base_json_num(stdout, r.syn_seen ? (double)r.syn_correct / (double)r.syn_seen : NAN);
        printf("}, \"seconds\": %.3f}\n", r.seconds);
    } else {
        printf("analogy: %s on %s (%lld of %lld words searched, %lld dims; compute-accuracy protocol)\n", qpath,
               vec_path, (long long)r.restrict_n, (long long)v->n, (long long)v->dim);
        printf("%-30s %8s %8s %8s %9s\n", "section", "correct", "seen", "total", "accuracy");
        for (int s = 0; s < r.n_sections; s++) {
            const train_analogy_section *x = &r.sections[s];
            printf("%-30s %8lld %8lld %8lld %s\n", x->name, (long long)x->correct, (long long)x->seen,
                   (long long)x->total, pct_cell(x->correct, x->seen));
        }
        printf("%-30s %8lld %8lld %8s %s\n", "semantic (sections 1-5)", (long long)r.sem_correct,
               (long long)r.sem_seen, "", pct_cell(r.sem_correct, r.sem_seen));
        printf("%-30s %8lld %8lld %8s %s\n", "syntactic (sections 6-)", (long long)r.syn_correct,
               (long long)r.syn_seen, "", pct_cell(r.syn_correct, r.syn_seen));
        printf("%-30s %8lld %8lld %8lld %s\n", "total", (long long)r.correct, (long long)r.seen,
               (long long)r.total, pct_cell(r.correct, r.seen));
        printf("questions seen / total: %lld / %lld (%.2f%%); search %.2f s\n", (long long)r.seen, (long long)r.total,
               pct(r.seen, r.total), r.seconds);
    }
    train_analogy_result_free(&r);
    train_vectors_free(v);
    data_analogy_free(q);
    return 0;
}

/* ---- ember eval wordsim ---------------------------------------------------------------------- */

static void usage_wordsim(FILE *f) {
    fprintf(f, "usage: ember eval wordsim VECTORS [FILE... | DIR] [--restrict N] [--param NAME] [--json]\n"
               "  FILE/DIR     word1<TAB>word2<TAB>score files, or a directory of them (*.txt)\n"
               "               (default: the wordsim/ directory of the shared data)\n"
               "  --restrict   look words up among the N most frequent only (default 0 = all)\n"
               "  Spearman's rho between human scores and cosines; pairs with an unknown word are\n"
               "  left out and counted (OOV %%).\n");
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Appends the *.txt files of dir (sorted) to list; returns the new count or -1. */
static int list_dir(const char *dir, char ***list, int n, int *cap) {
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "ember: %s: cannot open directory: %s\n", dir, strerror(errno));
        return -1;
    }
    int start = n;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (e->d_name[0] == '.' || l < 5 || strcmp(e->d_name + l - 4, ".txt")) continue;
        if (n == *cap) *list = base_xrealloc(*list, (size_t)(*cap *= 2) * sizeof(char *));
        char *p = base_xmalloc(strlen(dir) + l + 2);
        sprintf(p, "%s/%s", dir, e->d_name);
        (*list)[n++] = p;
    }
    closedir(d);
    qsort(*list + start, (size_t)(n - start), sizeof(char *), cmp_str);
    if (n == start) {
        fprintf(stderr, "ember: %s: no *.txt word-similarity files in this directory\n", dir);
        return -1;
    }
    return n;
}

static int eval_wordsim(int argc, char **argv) {
    const char *vec_path = NULL, *param = NULL;
    int64_t restrict_n = 0;
    int json = 0, cap = 16, nf = 0, rc = 0;
    char **files = base_xmalloc((size_t)cap * sizeof(char *));
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage_wordsim(stdout);
            goto done;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if ((!strcmp(a, "--restrict") || !strcmp(a, "--param")) && i + 1 < argc) {
            const char *v = argv[++i];
            if (!strcmp(a, "--param")) param = v;
            else if (cli_parse_i64(a, v, 0, INT64_MAX, &restrict_n)) {
                rc = cli_error("eval wordsim");
                goto done;
            }
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "ember eval wordsim: unknown option or missing value: %s\n", a);
            usage_wordsim(stderr);
            rc = 2;
            goto done;
        } else if (!vec_path) {
            vec_path = a;
        } else {
            struct stat st;
            if (!stat(a, &st) && S_ISDIR(st.st_mode)) {
                if ((nf = list_dir(a, &files, nf, &cap)) < 0) {
                    rc = 1;
                    goto done;
                }
            } else {
                if (nf == cap) files = base_xrealloc(files, (size_t)(cap *= 2) * sizeof(char *));
                files[nf++] = base_xstrdup(a);
            }
        }
    }
    if (!vec_path) {
        usage_wordsim(stderr);
        rc = 2;
        goto done;
    }
    if (nf == 0) {
        const char *d = cli_data_dir();
        char dir[4096];
        if (!d) {
            fprintf(stderr, "ember: no word-similarity files given and no shared data dir (set EMBER_DATA_DIR)\n");
            rc = 2;
            goto done;
        }
        snprintf(dir, sizeof dir, "%s/wordsim", d);
        if ((nf = list_dir(dir, &files, 0, &cap)) < 0) {
            rc = 1;
            goto done;
        }
    }
    /* read every set before loading the (bigger) vectors, so a bad file fails fast */
    data_wordsim_set **sets = base_xcalloc((size_t)nf, sizeof *sets);
    for (int i = 0; i < nf; i++)
        if (data_wordsim_read(&sets[i], files[i])) {
            fprintf(stderr, "ember: %s\n", base_error_msg());
            rc = 1;
        }
    train_vectors *v = NULL;
    if (!rc && load_or_report(&v, vec_path, param)) rc = 1;
    if (!rc) {
        if (json) printf("{\"vectors\": "), base_json_str(stdout, vec_path), printf(", \"sets\": [");
        else
            printf("word similarity on %s (%lld words, %lld dims; Spearman rho x 100, OOV pairs left out)\n"
                   "%-22s %7s %7s %7s %9s\n",
                   vec_path, (long long)v->n, (long long)v->dim, "set", "pairs", "used", "OOV%", "spearman");
        for (int i = 0; i < nf; i++) {
            train_wordsim_result r;
            train_eval_wordsim(v, sets[i], restrict_n, &r);
            if (json) {
                printf("%s{\"name\": ", i ? ", " : "");
                base_json_str(stdout, sets[i]->name);
                printf(", \"file\": ");
                base_json_str(stdout, files[i]);
                printf(", \"pairs\": %lld, \"used\": %lld, \"oov\": %lld, \"oov_rate\": ", (long long)r.pairs,
                       (long long)r.used, (long long)r.oov);
                base_json_num(stdout, r.pairs ? (double)r.oov / (double)r.pairs : NAN);
                printf(", \"spearman\": ");
                base_json_num(stdout, r.spearman);
                printf(", \"pearson\": ");
                base_json_num(stdout, r.pearson);
                printf("}");
            } else {
                if (isnan(r.spearman))
                    printf("%-22s %7lld %7lld %6.1f%% %9s\n", sets[i]->name, (long long)r.pairs, (long long)r.used,
                           pct(r.oov, r.pairs), "-");
                else
                    printf("%-22s %7lld %7lld %6.1f%% %9.1f\n", sets[i]->name, (long long)r.pairs, (long long)r.used,
                           pct(r.oov, r.pairs), 100 * r.spearman);
            }
        }
        if (json) printf("]}\n");
    }
    train_vectors_free(v);
    for (int i = 0; i < nf; i++) data_wordsim_free(sets[i]);
    free(sets);
done:
    for (int i = 0; i < nf; i++) free(files[i]);
    free(files);
    return rc;
}

int cli_cmd_eval(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        FILE *f = argc < 2 ? stderr : stdout;
        fprintf(f, "usage: ember eval analogy VECTORS [...]   analogy accuracy (compute-accuracy protocol)\n"
                   "       ember eval wordsim VECTORS [...]   word-similarity Spearman rho\n"
                   "       ember eval sts MODEL|VECTORS [...]  sentence similarity: Spearman x 100 on STS-B / SICK-R\n"
                   "       ember eval probe MODEL|VECTORS --task sst2   logistic-regression probe accuracy\n"
                   "       ember eval finetune MODEL --data FILE        a finetune checkpoint's accuracy / Spearman\n"
                   "       ember eval align MODEL [...]        images/speech/text: zero-shot accuracy, retrieval, map\n"
                   "`ember eval analogy --help` for the options.\n");
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "analogy")) return eval_analogy(argc - 1, argv + 1);
    if (!strcmp(argv[1], "wordsim")) return eval_wordsim(argc - 1, argv + 1);
    if (!strcmp(argv[1], "sts") || !strcmp(argv[1], "probe")) return cli_eval_sentences(argc - 1, argv + 1);
    if (!strcmp(argv[1], "finetune")) return cli_eval_finetune(argc - 1, argv + 1);
    if (!strcmp(argv[1], "align")) return cli_cmd_eval_align(argc - 1, argv + 1);
    fprintf(stderr, "ember eval: unknown evaluation '%s' (expected analogy, wordsim, sts, probe, finetune or align)\n", argv[1]);
    return 2;
}

/* ---- ember similar / ember analogy ----------------------------------------------------------- */

static void print_neighbors(const train_vectors *v, const train_neighbor *nb, int k, int json, const char *head) {
    if (json) {
        printf("[");
        for (int i = 0; i < k; i++) {
            printf("%s{\"word\": ", i ? ", " : "");
            base_json_str(stdout, v->words[nb[i].id]);
            printf(", \"cosine\": %.4f}", nb[i].cosine);
        }
        printf("]");
        return;
    }
    printf("%s", head);
    for (int i = 0; i < k; i++) printf("%s%s %.2f", i ? ", " : " ", v->words[nb[i].id], nb[i].cosine);
    printf("\n");
}

/* Shared parser for `similar` (nwords = 1) and `analogy` (nwords = 3). */
static int query_cmd(int argc, char **argv, int nwords) {
    const char *vec_path = NULL, *param = NULL, *w[3] = {0};
    int nw = 0, json = 0;
    int64_t k = 10;
    const char *usage = nwords == 1 ? "usage: ember similar VECTORS WORD [-k N] [--param NAME] [--json]\n"
                                      "  the k nearest words by cosine (the word itself left out)\n"
                                    : "usage: ember analogy VECTORS A B C [-k N] [--param NAME] [--json]\n"
                                      "  the k nearest words to A - B + C (3CosAdd; A, B, C left out),\n"
                                      "  e.g. `ember analogy vectors.bin king man woman`\n";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if ((!strcmp(a, "-k") || !strcmp(a, "--param")) && i + 1 < argc) {
            if (!strcmp(a, "--param")) param = argv[++i];
            else if (cli_parse_i64("-k", argv[++i], 1, INT64_MAX, &k)) return cli_error(argv[0]);
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "ember %s: unknown option or missing value: %s\n", argv[0], a);
            fputs(usage, stderr);
            return 2;
        } else if (!vec_path) {
            vec_path = a;
        } else if (nw < nwords) {
            w[nw++] = a;
        } else {
            fprintf(stderr, "ember %s: unexpected argument '%s'\n", argv[0], a);
            fputs(usage, stderr);
            return 2;
        }
    }
    if (!vec_path || nw < nwords) {
        fputs(usage, stderr);
        return 2;
    }
    if (k > 100000) k = 100000;
    train_vectors *v;
    if (load_or_report(&v, vec_path, param)) return 1;
    train_neighbor *nb = base_xmalloc((size_t)k * sizeof *nb);
    int got = nwords == 1 ? train_similar(v, w[0], (int)k, nb) : train_analogy_query(v, w[0], w[1], w[2], (int)k, nb);
    int rc = 0;
    if (got < 0) {
        fprintf(stderr, "ember: %s: %s\n", vec_path, base_error_msg());
        rc = 1;
    } else if (json) {
        printf("{\"query\": [");
        for (int i = 0; i < nwords; i++) printf("%s", i ? ", " : ""), base_json_str(stdout, w[i]);
        printf("], \"neighbors\": ");
        print_neighbors(v, nb, got, 1, NULL);
        printf("}\n");
    } else {
        char head[1024];
        if (nwords == 1) snprintf(head, sizeof head, "nearest to %s:", w[0]);
        else snprintf(head, sizeof head, "%s - %s + %s =", w[0], w[1], w[2]);
        print_neighbors(v, nb, got, 0, head);
    }
    free(nb);
    train_vectors_free(v);
    return rc;
}

int cli_cmd_similar(int argc, char **argv) { return query_cmd(argc, argv, 1); }
int cli_cmd_analogy(int argc, char **argv) { return query_cmd(argc, argv, 3); }
