/* cli.h — subcommand entry points of the `ember` command; each returns the process exit status. */
#ifndef EMBER_CLI_H
#define EMBER_CLI_H

int cli_cmd_version(int argc, char **argv);

#endif
