/* cmd_chapter.c — `ember chapter basics [--json] [--seed N]`: the chapter's claims vs ember's results. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ag.h"
#include "experiments/chapter_basics.h"
#include "train/eval.h"

static void usage(FILE *f) {
    fprintf(f, "usage: ember chapter basics [--json] [--seed N]\n\n"
               "Reproduces the chapter's basic experiments with ember's own layers and prints, for each,\n"
               "the chapter's claim next to ember's result: one-hot vs dense vectors, cosine similarity of\n"
               "the chapter's cat/dog/car vectors, embedding-table parameter counts, a lookup, the same\n"
               "token at different positions under each positional scheme, word order with and without\n"
               "positions, and the parameter counts of the μOmni Thinker and ViT-tiny. Mismatches are\n"
               "flagged, not hidden. Exits 0 when it ran (mismatches included), 1 on error, 2 on bad flags.\n");
}

int cli_cmd_chapter(int argc, char **argv) {
    bool json = false;
    uint64_t seed = 42;
    const char *which = NULL, *vectors = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--json")) {
            json = true;
        } else if (!strcmp(argv[i], "--seed")) {
            int64_t v;
            if (cli_parse_i64("--seed", i + 1 < argc ? argv[i + 1] : NULL, 0, INT64_MAX, &v) != 0)
                return cli_error("chapter");
            seed = (uint64_t)v;
            i++;
        } else if (!strcmp(argv[i], "--vectors") && i + 1 < argc) {
            vectors = argv[++i];
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "ember chapter: unknown flag '%s'\n\n", argv[i]);
            usage(stderr);
            return 2;
        } else if (!which) {
            which = argv[i];
        } else {
            fprintf(stderr, "ember chapter: unexpected argument '%s'\n\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (!which || strcmp(which, "basics") != 0) {
        fprintf(stderr, "ember chapter: expected an experiment name (basics), got '%s'\n\n", which ? which : "");
        usage(stderr);
        return 2;
    }
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
