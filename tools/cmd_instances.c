/* tools/cmd_instances.c -- `mmf instances`: join a shared section, print how
 * many instances are running (the seed's AppInst counter, crash-proof), and
 * optionally stay joined for a while. */
#include "cli.h"

#include <mmf.h>

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h> /* sleep(): glibc and mingw-w64 both have it */

#define DEFAULT_KEY "mmf-instances"

static const char usage[] =
    "Usage: mmf instances [--key K] [--hold SECONDS|forever] [--json]\n"
    "\n"
    "Join the shared section K as one running instance, print the number of\n"
    "running instances (this one included) as N<TAB>K, then leave -- at once,\n"
    "or after SECONDS seconds with --hold. An instance that is killed stops\n"
    "counting the moment it dies.\n"
    "\n"
    "Options:\n"
    "  -k, --key K         the section: [A-Za-z0-9._-], 1..100 bytes,\n"
    "                      not ending with '.'\n"
    "                      (default \"" DEFAULT_KEY "\": every `mmf instances`)\n"
    "  -H, --hold SECONDS  stay joined SECONDS seconds (0..86400000), or\n"
    "                      'forever' (until killed or interrupted)\n"
    "      --json          print {\"key\":\"K\",\"instances\":N,\"first\":B}\n"
    "  -h, --help          show this help and exit\n"
    "\n"
    "The count is printed (and flushed) as soon as this instance has joined,\n"
    "so a script can read it while the command holds.\n"
    "Exit status: 0 success, 1 the section could not be joined, 2 usage "
    "error.\n";

/* SECONDS: decimal 0..86400000 (1000 days), or "forever" (-1). */
static int parse_hold(const char *s, long *out) {
  char *end;
  long v;
  if (strcmp(s, "forever") == 0) {
    *out = -1;
    return 0;
  }
  if (*s < '0' || *s > '9')
    return -1;
  errno = 0;
  v = strtol(s, &end, 10);
  if (errno || *end || v > 86400000L)
    return -1;
  *out = v;
  return 0;
}

int cli_instances(int argc, char **argv) {
  enum { OPT_JSON = 256 };
  static const struct option longopts[] = {
      {"key", required_argument, NULL, 'k'},
      {"hold", required_argument, NULL, 'H'},
      {"json", no_argument, NULL, OPT_JSON},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  const char *sub = "instances", *key = DEFAULT_KEY;
  mmf_section *s;
  unsigned n;
  long hold = 0;
  int json = 0, c, rc;

  opterr = 0;
  while ((c = getopt_long(argc, argv, ":k:H:h", longopts, NULL)) != -1) {
    switch (c) {
    case 'k':
      key = optarg;
      break;
    case 'H':
      if (parse_hold(optarg, &hold) != 0)
        return cli_usage(sub, "bad --hold '%s': expected seconds "
                              "(0..86400000) or 'forever'", optarg);
      break;
    case OPT_JSON:
      json = 1;
      break;
    case 'h':
      fputs(usage, stdout);
      return cli_finish_stdout(sub);
    default:
      return cli_bad_option(sub, c, argv, longopts);
    }
  }
  if (optind < argc)
    return cli_usage(sub, "unexpected argument '%s'", argv[optind]);

  /* Size 0: join with whatever block the key's instances share, so this
   * also counts the instances of a program that keeps data in its section. */
  rc = mmf_section_open(&s, key, 0, 0);
  if (rc) {
    cli_fail(sub, key, rc);
    return CLI_FAIL;
  }
  rc = mmf_section_instances(s, &n);
  if (rc) {
    cli_fail(sub, key, rc);
    mmf_section_close(s);
    return CLI_FAIL;
  }
  /* The key is [A-Za-z0-9._-]: nothing to escape in JSON. */
  if (json)
    printf("{\"key\":\"%s\",\"instances\":%u,\"first\":%s}\n", key, n,
           mmf_section_first(s) ? "true" : "false");
  else
    printf("%u\t%s\n", n, key);
  if (cli_finish_stdout(sub) != CLI_OK) {
    mmf_section_close(s);
    return CLI_FAIL;
  }
  while (hold != 0) {
    sleep(1);
    if (hold > 0)
      hold--;
  }
  rc = mmf_section_close(s);
  if (rc) {
    cli_fail(sub, key, rc);
    return CLI_FAIL;
  }
  return CLI_OK;
}
