/* cmd_chapter.c — `ember chapter NAME|all`: the chapter's claims vs ember's measurements, as text, JSON and report.html. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ag.h"
#include "experiments/chapter.h"
#include "experiments/chapter_basics.h"
#include "train/eval.h"

static void usage(FILE *f) {
    fprintf(f, "usage: ember chapter basics [--json] [--seed N] [--vectors FILE]\n"
               "       ember chapter SECTION|all [--out DIR] [--models DIR] [--json] [--threads N] [--seed N]\n"
               "                                 [--no-train] [--quick]\n\n"
               "Reproduces the experiments of the chapter \"Understanding Embeddings\" with ember's own layers,\n"
               "trainers and the shared data, printing for every item the chapter's claim, ember's measurement and\n"
               "a verdict (match / MISMATCH with the true value and why / info).\n\n"
               "Sections: basics, positional, multimodal (no training), tokens, words, eval, context, tips, align\n"
               "(these train reduced-size models in the run, or reuse checkpoints found in --models DIR:\n"
               "w2v.bin, w2v<dim>.bin, bpe5000.tok, mlm.ckpt, align.ckpt).\n\n"
               "  all          every section; writes DIR/report.html (one page: claims, measurements, verdicts,\n"
               "               inline SVG figures, and a summary of every place the chapter is wrong)\n"
               "  --out DIR    where models, cut corpora and report.html go (default ember-chapter)\n"
               "  --models DIR reuse trained models from DIR instead of training them\n"
               "  --json       one JSON object with every section and item on stdout instead of text\n"
               "  --threads N  trainer and BLAS threads (default 2)\n"
               "  --no-train   run only what needs no training (basics, positional, multimodal): under a minute\n"
               "  --quick      the smallest training sizes (for tests)\n"
               "  --vectors F  (basics) run the chapter's find_similar / analogy code on these word vectors\n\n"
               "Data: $EMBER_DATA_DIR or <source>/../shared/data. Exits 0 when it ran (mismatches included),\n"
               "1 on error, 2 on bad flags.\n");
}

/* The original `chapter basics` output (kept: scripts and tests read it). */
static int run_basics(uint64_t seed, const char *vectors, bool json) {
    train_vectors *v = NULL;
    if (vectors && train_vectors_load(&v, vectors, NULL) != 0) {
        fprintf(stderr, "ember chapter basics: %s\n", base_error_msg());
        return 1;
    }
    exp_basics_report r;
    if (exp_basics_run_with(&r, seed, v, vectors) != 0) {
        train_vectors_free(v);
        fprintf(stderr, "ember chapter basics: %s\n", base_error_msg());
        return 1;
    }
    train_vectors_free(v);
    exp_basics_print(&r, stdout, json);
    exp_basics_free(&r);
    return 0;
}

int cli_cmd_chapter(int argc, char **argv) {
    bool json = false, out_given = false;
    const char *which = NULL, *vectors = NULL;
    exp_chapter_options o;
    exp_chapter_options_default(&o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int64_t n;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else if (!strcmp(a, "--no-train")) {
            o.no_train = true;
        } else if (!strcmp(a, "--quick")) {
            o.quick = true;
        } else if (!strcmp(a, "--seed")) {
            if (cli_parse_i64("--seed", v, 0, INT64_MAX, &n) != 0) return cli_error("chapter");
            o.seed = (uint64_t)n;
            i++;
        } else if (!strcmp(a, "--threads")) {
            if (cli_parse_i64("--threads", v, 1, 256, &n) != 0) return cli_error("chapter");
            o.threads = (int)n;
            i++;
        } else if (!strcmp(a, "--out") || !strcmp(a, "--models") || !strcmp(a, "--vectors")) {
            if (!v || !*v) {
                fprintf(stderr, "ember chapter: %s: expected a path\n\n", a);
                usage(stderr);
                return 2;
            }
            if (!strcmp(a, "--out")) o.out_dir = v, out_given = true;
            else if (!strcmp(a, "--models")) o.models_dir = v;
            else vectors = v;
            i++;
        } else if (a[0] == '-') {
            fprintf(stderr, "ember chapter: unknown flag '%s'\n\n", a);
            usage(stderr);
            return 2;
        } else if (!which) {
            which = a;
        } else {
            fprintf(stderr, "ember chapter: unexpected argument '%s'\n\n", a);
            usage(stderr);
            return 2;
        }
    }
    bool known = which && !strcmp(which, "all");
    for (int k = 0; which && k < exp_chapter_nsections; k++) known |= !strcmp(which, exp_chapter_sections[k]);
    if (!known) {
        fprintf(stderr, "ember chapter: expected an experiment name (basics, positional, multimodal, tokens, words, eval, "
                        "context, tips, align, all), got '%s'\n\n",
                which ? which : "");
        usage(stderr);
        return 2;
    }
    if (!strcmp(which, "basics") && !out_given && !o.models_dir) return run_basics(o.seed, vectors, json);
    o.data_dir = cli_data_dir();
    exp_chapter c = {0};
    if (exp_chapter_run(&c, &o, which) != 0) {
        fprintf(stderr, "ember chapter: %s\n", base_error_msg());
        exp_chapter_free(&c);
        return 1;
    }
    exp_chapter_print(&c, stdout, json);
    int rc = 0;
    if (!strcmp(which, "all") || out_given) {
        char path[4200];
        snprintf(path, sizeof path, "%s/report.html", o.out_dir);
        if (exp_chapter_html(&c, &o, path) != 0) {
            fprintf(stderr, "ember chapter: %s\n", base_error_msg());
            rc = 1;
        } else {
            fprintf(stderr, "ember chapter: wrote %s\n", path);
        }
    }
    exp_chapter_free(&c);
    return rc;
}
