/* tools/cmd_share.c -- placeholder until the share subcommand lands. */
#include "cli.h"

int cli_share(int argc, char **argv) {
  (void)argc;
  (void)argv;
  cli_error("share", "not built yet");
  return CLI_FAIL;
}
