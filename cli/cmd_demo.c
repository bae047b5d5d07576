/* cmd_demo.c — `ember demo`: argument parsing for experiments/demo.c (the README's main job). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ag.h"
#include "cli.h"
#include "experiments/demo.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: ember demo [--corpus FILE] [--out DIR] [--json] [--seed N] [--threads N] [--epochs N] [--dim N]\n"
            "                 [--deterministic]\n"
            "  Without --corpus: generates the synthetic chapter world (animals, vehicles, foods, colours,\n"
            "  royalty and gender, countries and capitals), trains Word2Vec (skip-gram) on it in seconds,\n"
            "  prints the nearest neighbours of cat, car, pizza and red, answers king - man + woman,\n"
            "  scores the world's analogies and category similarity, and writes into DIR:\n"
            "    world.txt (the corpus), vectors.txt (word2vec text), demo.ckpt (checkpoint),\n"
            "    picture.svg (t-SNE map of the four categories).\n"
            "  With --corpus FILE: the same on your text (neighbours of words that exist; a picture of\n"
            "  the most frequent words).\n"
            "  --out DIR     output directory (default ./ember-demo)\n"
            "  --json        one JSON object on stdout instead of the report\n"
            "  --seed N      corpus and training seed (default 1)\n"
            "  --threads N   training threads (default 2)\n"
            "  --deterministic  one training thread: the same output for the same seed\n"
            "  --epochs N    epochs (default 5)\n"
            "  --dim N       vector size (default 50 for the world, 100 for a corpus)\n");
}

int cli_cmd_demo(int argc, char **argv) {
    exp_demo_options o;
    exp_demo_options_default(&o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int64_t v;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--json")) {
            o.json = true;
        } else if (!strcmp(a, "--deterministic")) {
            o.deterministic = true;
        } else if (i + 1 < argc && !strcmp(a, "--corpus")) {
            o.corpus = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--out")) {
            o.out_dir = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--seed")) {
            if (cli_parse_i64(a, argv[++i], 0, INT64_MAX, &v)) return cli_error("demo");
            o.seed = (uint64_t)v;
        } else if (i + 1 < argc && !strcmp(a, "--threads")) {
            if (cli_parse_i64(a, argv[++i], 1, 256, &v)) return cli_error("demo");
            o.threads = (int)v;
        } else if (i + 1 < argc && !strcmp(a, "--epochs")) {
            if (cli_parse_i64(a, argv[++i], 1, 1000, &v)) return cli_error("demo");
            o.epochs = (int)v;
        } else if (i + 1 < argc && !strcmp(a, "--dim")) {
            if (cli_parse_i64(a, argv[++i], 2, 4096, &v)) return cli_error("demo");
            o.dim = (int)v;
        } else {
            fprintf(stderr, "ember demo: unknown option or missing value: %s\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (exp_demo_run(&o, stdout)) {
        fprintf(stderr, "ember demo: %s\n", base_error_msg());
        return 1;
    }
    return 0;
}
