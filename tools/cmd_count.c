/* tools/cmd_count.c -- `mmf count`: count the bytes equal to one value in
 * each file (the book's Count0s, over files of any size). */
#include "cli.h"
#include "ops.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>

static const char usage[] =
    "Usage: mmf count [--byte B] [--threads N] [--window BYTES] [--ahead]\n"
    "                 [--json] FILE...\n"
    "\n"
    "Count the bytes equal to B in each FILE and print COUNT<TAB>FILE per\n"
    "file. A file that cannot be read is reported on stderr and the others\n"
    "are still counted.\n"
    "\n"
    "Options:\n"
    "  -b, --byte B        the byte to count: 0..255 or 0x00..0xff (default 0)\n"
    "  -j, --threads N     count with N threads (1..64, at most one per\n"
    "                      2 MiB), each over its own part of the file\n"
    "                      (default: one per CPU, at most one per 32 MiB)\n"
    "  -w, --window BYTES  bytes mapped per window (suffix K, M or G; up\n"
    "                      to 1024G; default 4M, 32M with --ahead; from\n"
    "                      2M up, rounded down to a multiple of 2M); mmf\n"
    "                      may read the file in 1 MiB pieces instead when\n"
    "                      that is faster\n"
    "      --ahead         give each counting thread a second one that\n"
    "                      maps its next windows while it counts, holding\n"
    "                      up to four windows (128 MiB by default) mapped,\n"
    "                      where mmf maps the file rather than reads it;\n"
    "                      for --threads 1 on a machine with a core to spare\n"
    "      --no-ahead      the default: no read-ahead threads\n"
    "      --json          one JSON object per file:\n"
    "                      {\"file\":\"...\",\"byte\":B,\"count\":N}\n"
    "  -h, --help          show this help and exit\n"
    "\n"
    "The count is the same whatever the threads and windows.\n"
    "A progress bar is drawn on stderr when it is a terminal and a file is at\n"
    "least 64 MiB (MMF_PROGRESS=always|never overrides).\n"
    "Exit status: 0 all files counted, 1 some file failed, 2 usage error.\n";

/* Write `s` as a JSON string: quotes, backslashes and control characters
 * escaped; bytes that are not valid UTF-8 (a POSIX file name may hold any)
 * become U+FFFD so the line stays valid JSON. */
static void json_string(FILE *f, const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  fputc('"', f);
  while (*p) {
    unsigned char c = *p;
    size_t n = 0, i;
    if (c == '"' || c == '\\') {
      fputc('\\', f);
      fputc(c, f);
      p++;
      continue;
    }
    if (c < 0x20) {
      switch (c) {
      case '\n': fputs("\\n", f); break;
      case '\r': fputs("\\r", f); break;
      case '\t': fputs("\\t", f); break;
      case '\b': fputs("\\b", f); break;
      case '\f': fputs("\\f", f); break;
      default: fprintf(f, "\\u%04x", c); break;
      }
      p++;
      continue;
    }
    if (c < 0x80) {
      fputc(c, f);
      p++;
      continue;
    }
    /* Length of a well-formed UTF-8 sequence starting here (RFC 3629:
     * no overlongs, no surrogates, nothing above U+10FFFF), else 0. */
    if (c >= 0xc2 && c <= 0xdf)
      n = 2;
    else if (c >= 0xe0 && c <= 0xef)
      n = 3;
    else if (c >= 0xf0 && c <= 0xf4)
      n = 4;
    for (i = 1; i < n; i++)
      if ((p[i] & 0xc0) != 0x80)
        n = 0;
    if (n >= 3 && ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] > 0x9f) ||
                   (c == 0xf0 && p[1] < 0x90) || (c == 0xf4 && p[1] > 0x8f)))
      n = 0;
    if (n == 0) {
      fputs("\\ufffd", f);
      p++;
      continue;
    }
    fwrite(p, 1, n, f);
    p += n;
  }
  fputc('"', f);
}

int cli_count(int argc, char **argv) {
  enum { OPT_JSON = 256, OPT_AHEAD, OPT_NO_AHEAD };
  static const struct option longopts[] = {
      {"byte", required_argument, NULL, 'b'},
      {"window", required_argument, NULL, 'w'},
      {"threads", required_argument, NULL, 'j'},
      {"json", no_argument, NULL, OPT_JSON},
      {"ahead", no_argument, NULL, OPT_AHEAD},
      {"no-ahead", no_argument, NULL, OPT_NO_AHEAD},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  const char *sub = "count";
  unsigned char byte = 0;
  size_t window = 0;
  unsigned threads = 0, flags = MMF_WINDOW_AUTO;
  int json = 0, failed = 0, c, i, rc;

  opterr = 0;
  while ((c = getopt_long(argc, argv, ":b:w:j:h", longopts, NULL)) != -1) {
    switch (c) {
    case 'b':
      if (cli_parse_byte(optarg, &byte) != 0)
        return cli_usage(sub, "bad --byte '%s': expected 0..255 or "
                              "0x00..0xff", optarg);
      break;
    case 'w':
      if ((rc = cli_window_arg(sub, optarg, &window)) != CLI_OK)
        return rc;
      break;
    case 'j':
      if ((rc = cli_threads_arg(sub, optarg, &threads)) != CLI_OK)
        return rc;
      break;
    case OPT_JSON:
      json = 1;
      break;
    case OPT_AHEAD:
      flags |= MMF_WINDOW_AHEAD;
      break;
    case OPT_NO_AHEAD:
      flags &= ~(unsigned)MMF_WINDOW_AHEAD;
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

  for (i = optind; i < argc; i++) {
    struct cli_progress bar;
    uint64_t count = 0;
    cli_progress_init(&bar, sub, argv[i]);
    rc = mmf_op_count(argv[i], byte, window, flags, threads,
                      &count, cli_progress_update, &bar);
    cli_progress_end(&bar);
    if (rc) {
      cli_fail(sub, argv[i], rc);
      failed = 1;
      continue;
    }
    if (json) {
      fputs("{\"file\":", stdout);
      json_string(stdout, argv[i]);
      printf(",\"byte\":%u,\"count\":%" PRIu64 "}\n", (unsigned)byte, count);
    } else {
      printf("%" PRIu64 "\t%s\n", count, argv[i]);
    }
    /* One line per file as it is counted, also into a pipe. */
    cli_flush_stdout();
  }
  if (cli_finish_stdout(sub) != CLI_OK)
    return CLI_FAIL;
  return failed ? CLI_FAIL : CLI_OK;
}
