/* main.c — the `ember` command: dispatches to subcommands (each in cli/cmd_*.c). */
#include "cli.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
    const char *help;
} cli_command;

/* One line per subcommand; keep in the order `ember help` should list them. */
static const cli_command commands[] = {
    {"version", cli_cmd_version, "print the version"},
    {"word2vec", cli_cmd_word2vec, "train word vectors (word2vec.c's flags: skip-gram/CBOW, NS/HS)"},
    {"demo", cli_cmd_demo, "train word vectors on the built-in chapter world (or --corpus FILE) and show them"},
    {"eval", cli_cmd_eval, "evaluate word vectors: analogy accuracy, word-similarity Spearman"},
    {"similar", cli_cmd_similar, "nearest words to a word by cosine"},
    {"analogy", cli_cmd_analogy, "answer a - b + c (e.g. king man woman)"},
    {"ckpt", cli_cmd_ckpt, "inspect or export a checkpoint: ckpt info FILE [--json], ckpt export FILE -o OUT"},
    {"chapter", cli_cmd_chapter, "the chapter's experiments, claim vs measured: chapter basics [--json]"},
    {"bench", cli_cmd_bench, "benchmarks with a PyTorch peer: bench encoder-step [--peer PATH] [--threads N] ..."},
};

static void usage(FILE *f) {
    fprintf(f, "usage: ember COMMAND [ARGS...]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-14s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\n`ember COMMAND --help` describes a command.\n");
}

int cli_cmd_version(int argc, char **argv) {
    (void)argc;
    (void)argv;
    printf("ember %s\n", EMBER_VERSION);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "ember: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
