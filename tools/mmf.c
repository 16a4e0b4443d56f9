/* tools/mmf.c -- the mmf command-line tool: finds the subcommand and runs
 * it. Each subcommand lives in tools/cmd_*.c and uses only the public API. */
#include "cli.h"

#include <mmf.h>

#include <stdio.h>
#include <string.h>

static const struct command {
  const char *name;
  cli_run_fn run;
  const char *summary;
} commands[] = {
    {"reverse", cli_reverse, "reverse the bytes of a file in place"},
    {"count", cli_count, "count the bytes equal to a value in files"},
    {"share", cli_share, "publish, read, list and remove named shared memory"},
    {"instances", cli_instances, "count the running instances of a program"},
};

#define N_COMMANDS (sizeof commands / sizeof commands[0])

static int help(void) {
  size_t i;
  fputs("Usage: mmf COMMAND [OPTIONS] [ARGS]\n"
        "       mmf COMMAND --help\n"
        "       mmf --help | --version\n"
        "\n"
        "Memory-mapped file tools, any file size, bounded memory.\n"
        "\n"
        "Commands:\n",
        stdout);
  for (i = 0; i < N_COMMANDS; i++)
    printf("  %-10s %s\n", commands[i].name, commands[i].summary);
  fputs("\n"
        "Exit status: 0 success, 1 a file could not be processed, 2 usage "
        "error.\n",
        stdout);
  return cli_finish_stdout("--help");
}

int main(int argc, char **argv) {
  const char *name;
  size_t i;

  /* Paths with any characters, on every OS. */
  if (mmf_args_utf8(&argc, &argv) != 0) {
    fprintf(stderr, "mmf: %s\n", mmf_last_error_message());
    return 1;
  }
  name = argc > 1 ? argv[1] : NULL;
  if (!name) {
    fputs("mmf: missing COMMAND (see 'mmf --help')\n", stderr);
    return CLI_USAGE;
  }
  if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 ||
      strcmp(name, "help") == 0)
    return help();
  if (strcmp(name, "--version") == 0 || strcmp(name, "-V") == 0) {
    printf("mmf %s\n", mmf_version());
    return cli_finish_stdout("--version");
  }
  for (i = 0; i < N_COMMANDS; i++)
    if (strcmp(name, commands[i].name) == 0)
      return commands[i].run(argc - 1, argv + 1);
  fprintf(stderr, "mmf: unknown %s '", name[0] == '-' ? "option" : "command");
  cli_put_escaped(stderr, name); /* one line, whatever the argument holds */
  fputs("' (see 'mmf --help')\n", stderr);
  return CLI_USAGE;
}
