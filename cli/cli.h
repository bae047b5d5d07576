/* cli.h — subcommand entry points of the `ember` command; each returns the process exit status. */
#ifndef EMBER_CLI_H
#define EMBER_CLI_H

int cli_cmd_version(int argc, char **argv);
int cli_cmd_word2vec(int argc, char **argv);
int cli_cmd_demo(int argc, char **argv);
int cli_cmd_eval(int argc, char **argv);
int cli_cmd_similar(int argc, char **argv);
int cli_cmd_analogy(int argc, char **argv);
int cli_cmd_ckpt(int argc, char **argv);
int cli_cmd_chapter(int argc, char **argv);
int cli_cmd_bench(int argc, char **argv);

#endif
