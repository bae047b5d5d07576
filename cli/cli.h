/* cli.h — subcommand entry points of the `ember` command; each returns the process exit status. */
#ifndef EMBER_CLI_H
#define EMBER_CLI_H

#include <stdint.h>

int cli_cmd_version(int argc, char **argv);
int cli_cmd_word2vec(int argc, char **argv);
int cli_cmd_demo(int argc, char **argv);
int cli_cmd_eval(int argc, char **argv);
int cli_cmd_similar(int argc, char **argv);
int cli_cmd_analogy(int argc, char **argv);
int cli_cmd_ckpt(int argc, char **argv);
int cli_cmd_chapter(int argc, char **argv);
int cli_cmd_bench(int argc, char **argv);
int cli_cmd_train(int argc, char **argv);
int cli_cmd_embed(int argc, char **argv);
int cli_cmd_tokenizer(int argc, char **argv);
/* cmd_align.c: `ember train align` and `ember eval align` (argv[0] is "align"). */
int cli_cmd_train_align(int argc, char **argv);
int cli_cmd_eval_align(int argc, char **argv);
int cli_cmd_train_contrastive(int argc, char **argv); /* `ember train contrastive` (cmd_contrastive.c) */
int cli_eval_sentences(int argc, char **argv);
int cli_cmd_finetune(int argc, char **argv);          /* `ember finetune` (cmd_finetune.c) */
int cli_eval_finetune(int argc, char **argv);         /* `ember eval finetune` (cmd_finetune.c); argv[0] = "finetune" */        /* `ember eval sts|probe` (cmd_eval_sent.c); argv[0] = "sts" | "probe" */

/* cli_util.c. Parses a base-10 integer in [lo, hi] (text may be NULL: a missing value). On failure
 * sets ag_error "FLAG: expected an integer in [lo, hi], got 'TEXT'" (">= lo" when hi is INT64_MAX)
 * and returns -1; *out is set only on success. */
int cli_parse_i64(const char *flag, const char *text, int64_t lo, int64_t hi, int64_t *out);
/* The same for a real number in [lo, hi] (finite). */
int cli_parse_f64(const char *flag, const char *text, double lo, double hi, double *out);
/* Prints "ember COMMAND: <base_error_msg()>" on stderr and returns 2 (the usage-error exit status). */
int cli_error(const char *command);

/* The training-loop flags every loop trainer takes (--steps, --lr, --lr-floor, --warmup, --schedule,
 * --weight-decay, --clip, --accum, --freeze, --unfreeze, --patience, --decay-all, --eval-every, --checkpoint,
 * --checkpoint-every, --resume, --best, --metrics, --stop-after, --quiet, --profile) into c.
 * Returns 1 when a is one of them (*used = values consumed: 0 or 1), 0 when it is not, -1 with an
 * error on a bad value. */
struct train_loop_config;
int cli_loop_flag(const char *a, const char *v, struct train_loop_config *c, int *used);
/* The shared data directory: $EMBER_DATA_DIR, else <source>/../shared/data; NULL when absent. */
const char *cli_data_dir(void);

#endif
