/* main.c — the `ember` command: dispatches to subcommands (each in cli/cmd_*.c). */
#include "cli.h"

#include "autograd/ag.h"
#include "dist/dist.h"
#include "checkpoints/ckpt.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
    const char *help;
} cli_command;

/* One line per subcommand; keep in the order `ember help` should list them. */
static const cli_command commands[] = {
    {"version", cli_cmd_version, "print the version"},
    {"word2vec", cli_cmd_word2vec, "train word vectors (word2vec.c's flags: skip-gram/CBOW, NS/HS)"},
    {"train", cli_cmd_train, "pretrain a text encoder: train mlm (BERT-style masked LM) | train lm (next-token, Thinker-style) | train align (images, speech, text in one space)"},
    {"finetune", cli_cmd_finetune, "fine-tune a pretrained encoder or word vectors on a task (SST-2, STS-B, SICK), with frozen layers and gradual unfreezing"},
    {"embed", cli_cmd_embed, "contextual embeddings from a trained model: one vector per input line, or per token"},
    {"demo", cli_cmd_demo, "train word vectors on the built-in chapter world (or --corpus FILE) and show them"},
    {"eval", cli_cmd_eval, "evaluate word vectors: analogy accuracy, word-similarity Spearman"},
    {"similar", cli_cmd_similar, "nearest words to a word by cosine"},
    {"analogy", cli_cmd_analogy, "answer a - b + c (e.g. king man woman)"},
    {"tokenizer", cli_cmd_tokenizer, "byte-level BPE + special tokens: tokenizer train|encode|decode|info"},
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

char *openblas_get_corename(void);  /* OpenBLAS's own API (not in every cblas.h) */
char *openblas_get_config(void);

/* The version, then what decides speed on this machine: the OpenBLAS kernel in use (set by
 * OPENBLAS_CORETYPE when present, else detected) and the Word2Vec block-product kernel. Benchmarks
 * record these lines (bench/word2vec_vs_gensim.sh). */
int cli_cmd_version(int argc, char **argv) {
    (void)argc;
    (void)argv;
    const char *ct = getenv("OPENBLAS_CORETYPE"), *l2 = getenv("OPENBLAS_L2_SIZE");
    printf("ember %s\n", EMBER_VERSION);
    printf("openblas: core %s (OPENBLAS_CORETYPE=%s, OPENBLAS_L2_SIZE=%s); %s\n", openblas_get_corename(),
           ct ? ct : "(unset)", l2 ? l2 : "(unset)", openblas_get_config());
    printf("word2vec block products: %s\n", ag_w2v_kernel_name());
    const char *data = cli_data_dir();
    printf("data sets: %s\n", data ? data : "none found (set EMBER_DATA_DIR to the shared data directory)");
    return 0;
}

/* libgomp reads OMP_WAIT_POLICY once, at start-up, and by default its idle threads spin; on a
 * small machine they then fight OpenBLAS's own threads for the cores. Unless the caller chose a
 * policy, re-execute once with PASSIVE (measured neutral-to-faster for demo, chapter basics and
 * bench encoder-step: see bench/RESULTS.md). EMBER_SET_OMP_WAIT marks the re-executed process and
 * says which variables ember set ("omp", "blas", "omp,blas"), so there is no loop and children such
 * as the bench's PyTorch peer can be given the caller's environment back. On any failure, carry on
 * with the default policy. */
static void omp_passive_reexec(char **argv) {
    if (getenv("EMBER_SET_OMP_WAIT")) return;
    bool set_omp = !getenv("OMP_WAIT_POLICY"), set_blas = !getenv("OPENBLAS_THREAD_TIMEOUT");
    if (!set_omp && !set_blas) return;
    /* OpenBLAS's idle worker threads spin (sched_yield) for 2^28 cycles by default before they
     * sleep; between the many small GEMMs of a training step they then take the cores the OpenMP
     * loops need. 2^4 makes them sleep at once (measured: 2.6 s instead of 7.1 s of system time and
     * 8 % less wall time over 30 MLM steps). */
    if ((set_omp && setenv("OMP_WAIT_POLICY", "PASSIVE", 1)) ||
        (set_blas && setenv("OPENBLAS_THREAD_TIMEOUT", "4", 1)) ||
        setenv("EMBER_SET_OMP_WAIT", set_omp && set_blas ? "omp,blas" : set_omp ? "omp" : "blas", 1))
        return;
    execv("/proc/self/exe", argv);
    if (set_omp) unsetenv("OMP_WAIT_POLICY");
    if (set_blas) unsetenv("OPENBLAS_THREAD_TIMEOUT");
    unsetenv("EMBER_SET_OMP_WAIT");
}

/* Data parallel (docs/DISTRIBUTED.md): MPI starts when a launcher started us, or with --dist
 * (taken out of argv here, so every command accepts it). A command that fails on one rank makes
 * every rank exit (dist_abort) instead of leaving them waiting in a collective. */
static int run_command(int argc, char **argv);

int main(int argc, char **argv) {
    omp_passive_reexec(argv);
    ckpt_set_unverified_warnings(stderr); /* read-only tools warn about checkpoints they cannot verify */
    bool force = false;
    int k = 0;
    for (int i = 0; i < argc; i++) {
        if (i > 0 && !strcmp(argv[i], "--dist")) force = true;
        else argv[k++] = argv[i];
    }
    argc = k;
    argv[argc] = NULL;
    if (dist_init(force)) {
        fprintf(stderr, "ember: %s\n", base_error_msg());
        return 2;
    }
    int rc = run_command(argc, argv);
    if (rc != 0 && rc != 3 && dist_active()) { /* 3: every rank stopped together (signal, --stop-after) */
        char msg[64];
        snprintf(msg, sizeof msg, "exiting with status %d", rc);
        dist_abort(rc, msg);
    }
    dist_finalize();
    return rc;
}

static int run_command(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) return cli_cmd_version(argc - 1, argv + 1);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "ember: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
