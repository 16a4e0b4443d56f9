/* tools/cli.h -- what every subcommand of the mmf CLI shares: exit codes,
 * one-line error reports, option value parsing and the progress bar. */
#ifndef MMF_TOOLS_CLI_H
#define MMF_TOOLS_CLI_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

/* Exit codes of every subcommand. */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

/* A subcommand: runs with argv[0] = its name; returns an exit code. */
typedef int (*cli_run_fn)(int argc, char **argv);

int cli_reverse(int argc, char **argv);
int cli_count(int argc, char **argv);
int cli_share(int argc, char **argv);     /* tools/cmd_share.c */
int cli_instances(int argc, char **argv); /* tools/cmd_instances.c */

/* Print "mmf SUB: <message>" as one line on stderr: control characters in
 * the message (from a file name, say) are escaped as \n, \r, \t or \xNN. */
void cli_error(const char *sub, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Write `s` to `f` with its control characters escaped as cli_error()
 * does. */
void cli_put_escaped(FILE *f, const char *s);

/* Report a failed library call on `path` as one line, escaped as by
 * cli_error(): "mmf SUB: PATH: <mmf_last_error_message()>". */
void cli_fail(const char *sub, const char *path, int rc);

/* Report a usage error (one line, escaped as by cli_error(), pointing at
 * `mmf SUB --help`); returns CLI_USAGE. */
int cli_usage(const char *sub, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Turn what getopt_long() returned for a bad option ('?' or ':') into a
 * usage error naming the option; `longopts` is the table given to
 * getopt_long(). Returns CLI_USAGE. */
struct option;
int cli_bad_option(const char *sub, int c, char **argv,
                   const struct option *longopts);

/* Parse a byte count: decimal digits with an optional K, M or G suffix
 * (powers of 1024). Returns 0, or -1 if `s` is not one (or is 0). */
int cli_parse_size(const char *s, size_t *out);

/* The largest --window: 1 TiB, far beyond any useful window (a window is
 * never larger than the file), and far enough below SIZE_MAX on 64-bit
 * systems that rounding it up to the granularity cannot overflow. */
#define CLI_WINDOW_MAX ((uint64_t)1 << 40)

/* The value of --window: cli_parse_size() from 1 to CLI_WINDOW_MAX (and
 * small enough to round up to mmf_granularity() in a size_t). CLI_OK, or
 * the usage error reported (CLI_USAGE). */
int cli_window_arg(const char *sub, const char *s, size_t *out);

/* The value of --threads: decimal 1..MMF_WINDOW_EACH_MAX. CLI_OK, or the
 * usage error reported (CLI_USAGE). */
int cli_threads_arg(const char *sub, const char *s, unsigned *out);

/* Parse a byte value: decimal 0..255 or 0x00..0xff. Returns 0 or -1. */
int cli_parse_byte(const char *s, unsigned char *out);

/* Flush stdout: 0, or -1 when a write to it has failed, now or before.
 * Call it right after writing (while errno still says why): the reason of
 * the first failure is kept for cli_finish_stdout(). */
int cli_flush_stdout(void);

/* Flush stdout and report a write error on it, with the reason of the
 * first failed write ("cannot write the output: No space left on
 * device"); returns CLI_OK or CLI_FAIL. */
int cli_finish_stdout(const char *sub);

/* ---- progress bar --------------------------------------------------------
 * Drawn on stderr only when stderr is a terminal and the work is at least
 * CLI_PROGRESS_MIN bytes, or always / never when MMF_PROGRESS says so.
 * Redraws are throttled; cli_progress_end() clears the line. */

#define CLI_PROGRESS_MIN ((uint64_t)64 << 20)

struct cli_progress {
  const char *label; /* e.g. "reverse" */
  const char *path;
  int decided;       /* whether `on` has been worked out */
  int on;            /* draw at all */
  int drawn;         /* something is on the line */
  size_t width;      /* characters of the last line drawn */
  double start, last; /* seconds (timespec_get) */
};

void cli_progress_init(struct cli_progress *p, const char *label,
                       const char *path);

/* An mmf_progress_fn: ctx is a struct cli_progress. */
void cli_progress_update(void *ctx, uint64_t done, uint64_t total);

/* Clear the bar's line if one was drawn. */
void cli_progress_end(struct cli_progress *p);

#endif
