/* tools/cmd_reverse.c -- `mmf reverse`: reverse the bytes of a file in place
 * with bounded memory (the seed's FileRev, for files of any size). */
#include "cli.h"
#include "ops.h"

#include <getopt.h>
#include <stdio.h>

static const char usage[] =
    "Usage: mmf reverse [--threads N] [--window BYTES] FILE\n"
    "\n"
    "Reverse the bytes of FILE in place: the first byte becomes the last.\n"
    "Two windows walk in from both ends of the file, so memory stays bounded\n"
    "whatever its size. Empty and one-byte files are left as they are.\n"
    "\n"
    "Options:\n"
    "  -j, --threads N     swap with N threads (1..64, at most one per\n"
    "                      2 MiB), each over its own part of the file\n"
    "                      (default: one per CPU, at most one per 32 MiB\n"
    "                      of the front half)\n"
    "  -w, --window BYTES  bytes mapped per window (suffix K, M or G; up\n"
    "                      to 1024G; default 4M); two windows are mapped\n"
    "                      at a time per thread\n"
    "  -h, --help          show this help and exit\n"
    "\n"
    "A progress bar is drawn on stderr when it is a terminal and FILE is at\n"
    "least 64 MiB (MMF_PROGRESS=always|never overrides).\n"
    "Exit status: 0 done, 1 the file could not be reversed, 2 usage error.\n";

int cli_reverse(int argc, char **argv) {
  static const struct option longopts[] = {
      {"window", required_argument, NULL, 'w'},
      {"threads", required_argument, NULL, 'j'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  const char *sub = "reverse";
  struct cli_progress bar;
  size_t window = 0;
  unsigned threads = 0;
  int c, rc;

  opterr = 0;
  while ((c = getopt_long(argc, argv, ":w:j:h", longopts, NULL)) != -1) {
    switch (c) {
    case 'w':
      if ((rc = cli_window_arg(sub, optarg, &window)) != CLI_OK)
        return rc;
      break;
    case 'j':
      if ((rc = cli_threads_arg(sub, optarg, &threads)) != CLI_OK)
        return rc;
      break;
    case 'h':
      fputs(usage, stdout);
      return cli_finish_stdout(sub);
    default:
      return cli_bad_option(sub, c, argv, longopts);
    }
  }
  if (optind == argc)
    return cli_usage(sub, "missing FILE");
  if (argc - optind > 1)
    return cli_usage(sub, "one FILE only, got %d", argc - optind);

  cli_progress_init(&bar, sub, argv[optind]);
  rc = mmf_op_reverse(argv[optind], window, 0, threads, cli_progress_update,
                      &bar);
  cli_progress_end(&bar);
  if (rc) {
    cli_fail(sub, argv[optind], rc);
    return CLI_FAIL;
  }
  return CLI_OK;
}
