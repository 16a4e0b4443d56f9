/* tools/cli.c -- error reports, option parsing and the progress bar shared
 * by the subcommands of the mmf CLI. Standard C plus isatty()/fileno(). */
#include "cli.h"
#include "ops.h"

#include <mmf.h>

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- errors --------------------------------------------------------------*/

/* errno of the first failed write to stdout (0: none seen): stdio keeps
 * only the error flag, and the flush that finds it set may have nothing
 * left to write -- glibc drops a buffer it could not write. */
static int stdout_errno;

int cli_flush_stdout(void) {
  if (fflush(stdout) != 0 || ferror(stdout)) {
    if (!stdout_errno)
      stdout_errno = errno ? errno : EIO;
    return -1;
  }
  return 0;
}

/* Write `s` with its control characters escaped (\n, \r, \t, else \xNN,
 * DEL included): a file name, a share name or an option value may hold
 * any of them, and an error report is one line whatever it quotes (nor can
 * a name send escape sequences to the terminal). Other bytes, backslashes
 * and UTF-8 included, go out as they are. */
/* A control character: never printed as it is (escaped, or '?'). */
static int is_ctl(unsigned char c) { return c < 0x20 || c == 0x7f; }

void cli_put_escaped(FILE *f, const char *s) {
  const unsigned char *p;
  for (p = (const unsigned char *)s; *p; p++) {
    if (*p == '\n')
      fputs("\\n", f);
    else if (*p == '\r')
      fputs("\\r", f);
    else if (*p == '\t')
      fputs("\\t", f);
    else if (is_ctl(*p))
      fprintf(f, "\\x%02x", (unsigned)*p);
    else
      fputc(*p, f);
  }
}

/* "mmf SUB: <message>" on stderr, the message escaped, no newline. */
static void verror(const char *sub, const char *fmt, va_list ap) {
  char small[1024], *buf = small;
  va_list ap2;
  int n;
  va_copy(ap2, ap);
  n = vsnprintf(small, sizeof small, fmt, ap);
  if (n >= (int)sizeof small) {
    char *big = malloc((size_t)n + 1);
    if (big && vsnprintf(big, (size_t)n + 1, fmt, ap2) == n)
      buf = big; /* else the first 1023 bytes will do */
    else
      free(big);
  }
  va_end(ap2);
  cli_flush_stdout(); /* keep stdout and stderr in order on a terminal */
  fprintf(stderr, "mmf %s: ", sub);
  cli_put_escaped(stderr, n < 0 ? fmt : buf);
  if (buf != small)
    free(buf);
}

void cli_error(const char *sub, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  verror(sub, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

void cli_fail(const char *sub, const char *path, int rc) {
  const char *msg = mmf_last_error_message();
  if (!msg || !*msg || mmf_last_error() != rc)
    msg = mmf_strerror(rc);
  /* Both escaped: the path, and the library's message, which quotes it.
   * An empty name shows as '' (not "mmf share put: : ..."). */
  cli_error(sub, "%s: %s", path && *path ? path : "''", msg);
}

int cli_usage(const char *sub, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  verror(sub, fmt, ap);
  va_end(ap);
  fprintf(stderr, " (see 'mmf %s --help')\n", sub);
  return CLI_USAGE;
}

/* The long option of `longopts` that `arg` ("--NAME" or "--NAME=VALUE")
 * names, exactly or as an unambiguous abbreviation, if its val is `val`;
 * NULL otherwise. */
static const struct option *long_option_named(const struct option *longopts,
                                              const char *arg, int val) {
  const struct option *o, *found = NULL;
  size_t len;
  if (!longopts || arg[0] != '-' || arg[1] != '-' || !arg[2])
    return NULL;
  arg += 2;
  len = strcspn(arg, "=");
  for (o = longopts; o->name; o++) {
    if (strncmp(o->name, arg, len) != 0)
      continue;
    if (o->name[len] == '\0')
      return o->val == val ? o : NULL; /* exact */
    if (found)
      return NULL; /* ambiguous */
    found = o;
  }
  return found && found->val == val ? found : NULL;
}

/* Where the bad option is: glibc's and mingw-w64's getopt_long both leave
 * optind on the current element while they are still inside a group of
 * short options (-zq), so argv[optind-1] may be an earlier, valid option
 * (--json). It is trusted only when it is a long option whose val is
 * optopt and whose argument fits the error; otherwise optopt names a short
 * option, and 0 an unknown (or ambiguous) long one, which getopt_long
 * always steps past. The value given to a long option that takes none is
 * told by the element's form, not by `c`: glibc returns '?' for it,
 * mingw-w64's (BSD-derived) getopt_long ':'. */
int cli_bad_option(const char *sub, int c, char **argv,
                   const struct option *longopts) {
  extern int optind, optopt;
  const char *arg = optind > 0 ? argv[optind - 1] : "";
  const struct option *o = long_option_named(longopts, arg, optopt);
  const char *eq = o ? strchr(arg, '=') : NULL;
  int short_opt = optopt > 0 && optopt < 256;
  if (o && eq && o->has_arg == no_argument)
    return cli_usage(sub, "option '%.*s' takes no value", (int)(eq - arg),
                     arg);
  if (c == ':') {
    if ((o && !eq && o->has_arg == required_argument) || !short_opt)
      return cli_usage(sub, "option '%s' needs a value", arg);
    return cli_usage(sub, "option '-%c' needs a value", optopt);
  }
  if (short_opt)
    return cli_usage(sub, "unknown option '-%c'", optopt);
  return cli_usage(sub, "unknown option '%s'", arg);
}

int cli_finish_stdout(const char *sub) {
  if (cli_flush_stdout() != 0) {
    cli_error(sub, "cannot write the output: %s", strerror(stdout_errno));
    return CLI_FAIL;
  }
  return CLI_OK;
}

/* ---- option values -------------------------------------------------------*/

static int is_digit(char c) { return c >= '0' && c <= '9'; }

int cli_parse_size(const char *s, size_t *out) {
  uint64_t v = 0, mul = 1;
  const char *p = s;
  if (!is_digit(*p))
    return -1;
  for (; is_digit(*p); p++) {
    if (v > (UINT64_MAX - 9) / 10)
      return -1;
    v = v * 10 + (uint64_t)(*p - '0');
  }
  if (*p) { /* K, M or G, optionally followed by "iB" */
    const char *units = "KMG";
    const char *u = strchr(units, *p >= 'a' ? *p - 'a' + 'A' : *p);
    if (!u)
      return -1;
    mul = (uint64_t)1 << (10 * (u - units + 1));
    p++;
    if (strcmp(p, "iB") == 0)
      p += 2;
  }
  if (*p != '\0' || v == 0 || v > SIZE_MAX / mul)
    return -1;
  *out = (size_t)(v * mul);
  return 0;
}

int cli_window_arg(const char *sub, const char *s, size_t *out) {
  size_t v;
  if (cli_parse_size(s, &v) != 0 || (uint64_t)v > CLI_WINDOW_MAX ||
      v > SIZE_MAX - mmf_granularity())
    return cli_usage(sub, "bad --window '%s': expected a byte count up to "
                          "1024G, such as 65536, 64K or 4M", s);
  *out = v;
  return CLI_OK;
}

static int hex_value(char c) {
  if (is_digit(c))
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

int cli_threads_arg(const char *sub, const char *s, unsigned *out) {
  unsigned v = 0;
  const char *p = s;
  for (; *p; p++)
    if (!is_digit(*p) || (v = v * 10 + (unsigned)(*p - '0')) >
                             MMF_WINDOW_EACH_MAX)
      break;
  if (*p || v == 0)
    return cli_usage(sub, "bad --threads '%s': expected 1..%d", s,
                     MMF_WINDOW_EACH_MAX);
  *out = v;
  return CLI_OK;
}

int cli_parse_byte(const char *s, unsigned char *out) {
  unsigned v = 0;
  const char *p = s;
  if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
    p += 2;
    if (!*p)
      return -1;
    for (; *p; p++) {
      int h = hex_value(*p);
      if (h < 0 || (v = v * 16 + (unsigned)h) > 255)
        return -1;
    }
  } else {
    if (!*p)
      return -1;
    for (; *p; p++) {
      if (!is_digit(*p) || (v = v * 10 + (unsigned)(*p - '0')) > 255)
        return -1;
    }
  }
  *out = (unsigned char)v;
  return 0;
}

/* ---- progress bar --------------------------------------------------------*/

#define BAR_CELLS 12
#define LINE_MAX_DEFAULT 79 /* fits an 80-column terminal */
#define REDRAW_SECONDS 0.1

/* MMF_PROGRESS=always|never overrides the terminal check (for scripts that
 * want a bar in a log, and for the tests); anything else means auto. */
static int progress_wanted(uint64_t total) {
  const char *mode = getenv("MMF_PROGRESS");
  if (mode && strcmp(mode, "always") == 0)
    return 1;
  if (mode && strcmp(mode, "never") == 0)
    return 0;
  return total >= CLI_PROGRESS_MIN && isatty(fileno(stderr));
}

static void human(char *buf, size_t n, double bytes) {
  static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024.0 && u < 4) {
    bytes /= 1024.0;
    u++;
  }
  if (u == 0)
    snprintf(buf, n, "%.0f B", bytes);
  else
    snprintf(buf, n, "%.1f %s", bytes, units[u]);
}

static const char *base_name(const char *path) {
  const char *b = path;
  for (const char *p = path; *p; p++)
    if ((*p == '/' || *p == '\\') && p[1])
      b = p + 1;
  return b;
}

static size_t line_max(void) {
  const char *cols = getenv("COLUMNS");
  size_t n;
  if (cols && cli_parse_size(cols, &n) == 0 && n >= 20 && n <= 1000)
    return n - 1;
  return LINE_MAX_DEFAULT;
}

void cli_progress_init(struct cli_progress *p, const char *label,
                       const char *path) {
  memset(p, 0, sizeof *p);
  p->label = label;
  p->path = path;
  p->start = mmf_op_now();
}

static void draw(struct cli_progress *p, uint64_t done, uint64_t total,
                 double t) {
  char line[160], bar[BAR_CELLS + 1], sdone[32], stotal[32], srate[32] = "";
  char name[19];
  unsigned permille = total ? (unsigned)((double)done * 1000.0 / (double)total)
                            : 1000;
  unsigned cells = permille * BAR_CELLS / 1000;
  double elapsed = t - p->start;
  size_t len;
  int i;

  if (permille > 1000) {
    permille = 1000;
    cells = BAR_CELLS;
  }
  for (i = 0; i < BAR_CELLS; i++)
    bar[i] = (unsigned)i < cells ? '#' : '-';
  bar[BAR_CELLS] = '\0';
  human(sdone, sizeof sdone, (double)done);
  human(stotal, sizeof stotal, (double)total);
  if (elapsed > 0.05) {
    human(srate, sizeof srate - 2, (double)done / elapsed);
    strcat(srate, "/s");
  }
  /* The name's first 18 bytes, control characters shown as '?': a newline
   * in it would break the line that '\r' redraws. */
  snprintf(name, sizeof name, "%.18s", base_name(p->path));
  for (i = 0; name[i]; i++)
    if (is_ctl((unsigned char)name[i]))
      name[i] = '?';
  snprintf(line, sizeof line, "%s %s [%s] %3u%% %s / %s %s", p->label,
           name, bar, permille / 10, sdone, stotal, srate);
  /* A line longer than the terminal would wrap and '\r' could not redraw
   * it: cut it to $COLUMNS - 1 (79 if unknown). */
  len = strlen(line);
  if (len > line_max())
    line[len = line_max()] = '\0';
  /* Overwrite the previous line; pad with spaces if the new one is shorter
   * (portable: no terminal escape sequences). */
  fprintf(stderr, "\r%s%*s", line,
          p->width > len ? (int)(p->width - len) : 0, "");
  fflush(stderr);
  if (len > p->width)
    p->width = len;
  p->drawn = 1;
  p->last = t;
}

void cli_progress_update(void *ctx, uint64_t done, uint64_t total) {
  struct cli_progress *p = ctx;
  double t;
  if (!p->decided) {
    p->decided = 1;
    p->on = progress_wanted(total);
  }
  if (!p->on)
    return;
  t = mmf_op_now();
  if (p->drawn && done < total && t - p->last < REDRAW_SECONDS)
    return;
  draw(p, done, total, t);
}

void cli_progress_end(struct cli_progress *p) {
  if (!p->drawn)
    return;
  fprintf(stderr, "\r%*s\r", (int)p->width, "");
  fflush(stderr);
  p->drawn = 0;
}
