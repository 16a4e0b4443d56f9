/* tools/cmd_instances.c -- placeholder until the instances subcommand lands. */
#include "cli.h"

int cli_instances(int argc, char **argv) {
  (void)argc;
  (void)argv;
  cli_error("instances", "not built yet");
  return CLI_FAIL;
}
