/* test/test_cli.c -- `mmf reverse` and `mmf count`: the work behind them
 * (tools/ops.c) and the mmf binary itself (path in $MMF_CLI): results
 * checked byte for byte against plain reference loops, exit codes, one-line
 * error messages, progress output only on a terminal, bounded memory. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "ops.h"
#include <mmf.h>

/* Sizes around the page size and the window edges. */
static const size_t sizes[] = {0, 1, 4095, 4096, 4097, 65535, 65536, 65537};
#define N_SIZES (sizeof sizes / sizeof sizes[0])

/* Larger than a 64 KiB window, and larger than two default windows; both
 * odd so the middle byte stays put. */
#define MID_SIZE (((size_t)1 << 20) + 777)
#define DEFAULT_PLUS_SIZE (MMF_WINDOW_DEFAULT_SIZE * 2 + 12345)
#define AHEAD_PLUS_SIZE (MMF_WINDOW_AHEAD_SIZE + 12345)

/* The big file: BIG_BLOCKS blocks of 1 MiB (above the progress threshold
 * and many times the default window). */
#define BLOCK ((size_t)1 << 20)
#define BIG_BLOCKS 256
#define BIG_SIZE ((uint64_t)BIG_BLOCKS * BLOCK)
#define RSS_LIMIT_KIB (64 * 1024)
/* `mmf count --ahead` maps up to four windows of MMF_WINDOW_AHEAD_SIZE at
 * once per counting thread (mmf.h), all of them faulted in. */
#define AHEAD_RSS_LIMIT_KIB                                                   \
  ((long)(4 * (MMF_WINDOW_AHEAD_SIZE >> 10)) + 16 * 1024)

/* ---- reference implementations and file utilities ---------------------- */

static uint64_t ref_count(const unsigned char *p, size_t n, unsigned char b) {
  uint64_t c = 0;
  for (size_t i = 0; i < n; i++)
    c += p[i] == b;
  return c;
}

static unsigned char *ref_reversed(const unsigned char *p, size_t n) {
  unsigned char *r = malloc(n ? n : 1);
  assert_non_null(r);
  for (size_t i = 0; i < n; i++)
    r[i] = p[n - 1 - i];
  return r;
}

/* Test data of n bytes with plenty of 0x00 and 0xa5 bytes to count. */
static unsigned char *make_data(size_t n, uint32_t seed) {
  unsigned char *p = malloc(n ? n : 1);
  assert_non_null(p);
  th_fill(p, n, seed);
  for (size_t i = 0; i < n; i++) {
    if (i % 7 == 3)
      p[i] = 0;
    else if (i % 11 == 5)
      p[i] = 0xa5;
  }
  return p;
}

/* Write data to a fresh file `name` in the temp dir; the path goes to out. */
static void make_file(char *out, size_t cap, const char *name,
                      const unsigned char *data, size_t n) {
  snprintf(out, cap, "%s", th_path(name));
  assert_int_equal(th_write_file(out, data, n), 0);
}

static void assert_file_is(const char *path, const unsigned char *want,
                           size_t n) {
  size_t got_n = 0;
  unsigned char *got = th_read_file(path, &got_n);
  assert_non_null(got);
  assert_int_equal(got_n, n);
  if (n && memcmp(got, want, n) != 0) {
    size_t i = 0;
    while (got[i] == want[i])
      i++;
    print_error("%s: first difference at byte %zu of %zu\n", path, i, n);
    fail();
  }
  free(got);
}

/* ---- running the CLI ---------------------------------------------------- */

struct run {
  int status;        /* exit status, or -1 if killed */
  long maxrss_kib;   /* peak resident set of the child */
  char *out, *err;   /* what it wrote, NUL-terminated */
  size_t out_n, err_n;
};

static const char *cli(void) {
  const char *p = getenv("MMF_CLI");
  if (!p || !*p) {
    print_message("MMF_CLI is not set: skipping the CLI checks\n");
    skip();
  }
  return p;
}

/* The C runtime writes stdout and stderr in text mode on Windows: every
 * "\n" the CLI prints arrives as "\r\n". Check that it does so for every
 * line, then drop the '\r' so one expected text serves both OSes. */
static void text_mode_lines(char *s, size_t *n) {
  size_t j = 0;
  if (!th_is_windows())
    return;
  for (size_t i = 0; i < *n; i++) {
    if (s[i] == '\r' && i + 1 < *n && s[i + 1] == '\n')
      continue;
    if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r')) {
      print_error("a bare \\n at byte %zu of \"%s\"\n", i, s);
      fail();
    }
    s[j++] = s[i];
  }
  *n = j;
  s[j] = '\0';
}

static char *slurp(const char *path, size_t *n) {
  unsigned char *b = th_read_file(path, n);
  char *s;
  assert_non_null(b);
  s = realloc(b, *n + 1);
  assert_non_null(s);
  s[*n] = '\0';
  text_mode_lines(s, n);
  return s;
}

static void cli_paths(char *out_path, char *err_path, size_t cap) {
  snprintf(out_path, cap, "%s", th_path("cli.stdout"));
  snprintf(err_path, cap, "%s", th_path("cli.stderr"));
}

/* argv = {MMF_CLI, args...}: at most 31 arguments. */
static void cli_argv(const char **argv, const char *const *args) {
  int n = 0;
  argv[n++] = cli();
  while (*args && n < 31)
    argv[n++] = *args++;
  argv[n] = NULL;
}

/* Run `mmf args...` (no shell) with stdout and stderr in files and
 * MMF_PROGRESS set to `progress` (unset if NULL); collect what it did. */
static void run_cli(struct run *r, const char *progress,
                    const char *const *args) {
  const char *argv[32];
  char out_path[1024], err_path[1024];
  th_run_result res;
  cli_argv(argv, args);
  cli_paths(out_path, err_path, sizeof out_path);
  assert_int_equal(th_run(argv, out_path, err_path, "MMF_PROGRESS", progress,
                          &res),
                   0);
  r->status = res.status;
  r->maxrss_kib = res.peak_rss_kib;
  r->out = slurp(out_path, &r->out_n);
  r->err = slurp(err_path, &r->err_n);
}

/* Run `mmf args...` with stdout going to `out_path` (a device such as
 * /dev/full: never read back) and stderr collected; r->out is empty. */
static void run_cli_out_to(struct run *r, const char *out_path,
                           const char *const *args) {
  const char *argv[32];
  char ignored[1024], err_path[1024];
  th_run_result res;
  cli_argv(argv, args);
  cli_paths(ignored, err_path, sizeof err_path);
  assert_int_equal(th_run(argv, out_path, err_path, NULL, NULL, &res), 0);
  r->status = res.status;
  r->maxrss_kib = res.peak_rss_kib;
  r->out = calloc(1, 1);
  assert_non_null(r->out);
  r->out_n = 0;
  r->err = slurp(err_path, &r->err_n);
}

#define RUN(r, ...) run_cli((r), NULL, (const char *const[]){__VA_ARGS__, NULL})
#define RUN_PROGRESS(r, mode, ...)                                             \
  run_cli((r), (mode), (const char *const[]){__VA_ARGS__, NULL})

static void run_free(struct run *r) {
  free(r->out);
  free(r->err);
}

/* The OS's reason in the library's message for opening `path` the way the
 * CLI does (the text after the last ": "), e.g. "No such file or
 * directory"; the CLI's one-line error must carry it. */
static const char *open_reason(const char *path, int prot) {
  static char reason[600];
  const char *msg, *colon;
  mmf_map *m = NULL;
  assert_true(mmf_map_open(&m, path, prot, 0, 0) < 0);
  msg = mmf_last_error_message();
  colon = strrchr(msg, ':');
  assert_non_null(colon);
  snprintf(reason, sizeof reason, "%s", colon + 2);
  assert_true(reason[0] != '\0');
  return reason;
}

static size_t count_char(const char *s, char c) {
  size_t n = 0;
  for (; *s; s++)
    n += *s == c;
  return n;
}

/* Exit `status`, nothing on stdout, and exactly one line on stderr that
 * starts with `prefix` and contains each of the NULL-terminated `needles`. */
static void assert_fails_with(const struct run *r, int status,
                              const char *prefix, ...) {
  va_list ap;
  const char *needle;
  if (r->status != status || r->out_n != 0 || count_char(r->err, '\n') != 1 ||
      r->err[r->err_n - 1] != '\n' ||
      strncmp(r->err, prefix, strlen(prefix)) != 0)
    print_error("exit %d (want %d), stdout \"%s\", stderr \"%s\" (want one "
                "line starting \"%s\")\n",
                r->status, status, r->out, r->err, prefix);
  assert_int_equal(r->status, status);
  assert_int_equal(r->out_n, 0);
  assert_int_equal(count_char(r->err, '\n'), 1);
  assert_int_equal(r->err[r->err_n - 1], '\n');
  assert_int_equal(strncmp(r->err, prefix, strlen(prefix)), 0);
  va_start(ap, prefix);
  while ((needle = va_arg(ap, const char *)) != NULL) {
    if (!strstr(r->err, needle))
      print_error("stderr \"%s\" does not contain \"%s\"\n", r->err, needle);
    assert_non_null(strstr(r->err, needle));
  }
  va_end(ap);
}

static void assert_ok_quiet(const struct run *r) {
  if (r->status != 0 || r->err_n != 0)
    print_error("exit %d, stderr \"%s\"\n", r->status, r->err);
  assert_int_equal(r->status, 0);
  assert_int_equal(r->err_n, 0);
}

/* ---- the big file ------------------------------------------------------- */

/* Block k of the big file: one fixed pattern with k stamped into its first
 * bytes, so every block differs and any block can be rebuilt cheaply. */
static void big_block(unsigned char *b, uint64_t k) {
  th_fill(b, BLOCK, 0xb16f11e5u);
  for (int i = 0; i < 8; i++)
    b[i] = (unsigned char)(k >> (8 * i));
}

static const char *big_path(void) { return th_path("big.bin"); }

/* Make the big file once (without holding it in memory, so the children
 * forked later do not inherit a large resident set); its zero count goes to
 * *zeros. */
static void make_big_file(uint64_t *zeros) {
  static int made;
  static uint64_t z;
  if (!made) {
    unsigned char *b = malloc(BLOCK);
    FILE *f = th_fopen(big_path(), "wb");
    assert_non_null(b);
    assert_non_null(f);
    for (uint64_t k = 0; k < BIG_BLOCKS; k++) {
      big_block(b, k);
      z += ref_count(b, BLOCK, 0);
      assert_int_equal(fwrite(b, 1, BLOCK, f), BLOCK);
    }
    assert_int_equal(fclose(f), 0);
    free(b);
    made = 1;
  }
  *zeros = z;
}

/* The big file holds its blocks as made or, with `reversed`, reversed:
 * block j is block BIG_BLOCKS-1-j read backwards. */
static void assert_big_file(int reversed) {
  unsigned char *want = malloc(BLOCK), *got = malloc(BLOCK);
  FILE *f = th_fopen(big_path(), "rb");
  assert_non_null(want);
  assert_non_null(got);
  assert_non_null(f);
  for (uint64_t j = 0; j < BIG_BLOCKS; j++) {
    big_block(want, reversed ? BIG_BLOCKS - 1 - j : j);
    if (reversed)
      mmf_memreverse(want, BLOCK);
    assert_int_equal(fread(got, 1, BLOCK, f), BLOCK);
    if (memcmp(got, want, BLOCK) != 0) {
      print_error("block %" PRIu64 " of the big file is wrong (reversed: "
                  "%d)\n", j, reversed);
      fail();
    }
  }
  assert_int_equal(fread(got, 1, 1, f), 0);
  fclose(f);
  free(want);
  free(got);
}

/* ---- tools/ops.c -------------------------------------------------------- */

struct progress_log {
  uint64_t calls, last_done, last_total;
  int monotonic;
};

static void log_progress(void *ctx, uint64_t done, uint64_t total) {
  struct progress_log *l = ctx;
  if (l->calls && done < l->last_done)
    l->monotonic = 0;
  l->calls++;
  l->last_done = done;
  l->last_total = total;
}

/* Reverse with `window`, through views, through buffers and with the
 * choice left to mmf_op_reverse: byte-exact against the reference, and
 * twice gives the original back. */
static void check_op_reverse(size_t n, size_t window, unsigned workers,
                             uint32_t seed) {
  static const unsigned modes[] = {0, MMF_OP_REVERSE_MAPPED,
                                   MMF_OP_REVERSE_BUFFERED};
  char path[600];
  unsigned char *data = make_data(n, seed);
  unsigned char *rev = ref_reversed(data, n);

  make_file(path, sizeof path, "op-reverse.bin", data, n);
  for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
    struct progress_log log = {0, 0, 0, 1};
    TH_OK(mmf_op_reverse(path, window, modes[i], workers, log_progress,
                         &log));
    assert_file_is(path, rev, n);
    if (n >= 2) { /* every byte accounted for, never going backwards */
      assert_true(log.monotonic);
      assert_int_equal(log.last_done, n);
      assert_int_equal(log.last_total, n);
    }
    /* Back through the other path: views and buffers agree. */
    TH_OK(mmf_op_reverse(path, window,
                         modes[i] == MMF_OP_REVERSE_MAPPED
                             ? MMF_OP_REVERSE_BUFFERED
                             : MMF_OP_REVERSE_MAPPED,
                         workers, NULL, NULL));
    assert_file_is(path, data, n);
  }
  free(data);
  free(rev);
}

static void op_reverse_matches_reference_at_every_size(void **state) {
  (void)state;
  for (size_t i = 0; i < N_SIZES; i++) {
    check_op_reverse(sizes[i], 0, 0, 1 + (uint32_t)i);
    check_op_reverse(sizes[i], 4096, 1, 11 + (uint32_t)i); /* many windows */
  }
  check_op_reverse(MID_SIZE, 65536, 1, 21);
  check_op_reverse(DEFAULT_PLUS_SIZE, 0, 0, 22);
  /* Views on several workers: after the trial (12 MiB of each half left)
   * and, with views forced, from the first byte on. */
  check_op_reverse(AHEAD_PLUS_SIZE, 0, 3, 23);
  check_op_reverse(DEFAULT_PLUS_SIZE + 3, 65536, 4, 24);
  /* Windows near SIZE_MAX: rounding them up to the granularity must not
   * wrap to 0; the trial and the workers' walk both get a usable one. */
  check_op_reverse(65537, SIZE_MAX - 6, 1, 25);
  check_op_reverse(DEFAULT_PLUS_SIZE, SIZE_MAX, 2, 26);
}

static void check_op_count(size_t n, size_t window, unsigned flags,
                           unsigned workers, uint32_t seed) {
  static const unsigned char bytes[] = {0x00, 0xa5, 0xff};
  char path[600];
  unsigned char *data = make_data(n, seed);

  make_file(path, sizeof path, "op-count.bin", data, n);
  for (size_t b = 0; b < sizeof bytes; b++) {
    uint64_t got = 12345, want = ref_count(data, n, bytes[b]);
    struct progress_log log = {0, 0, 0, 1};
    TH_OK(mmf_op_count(path, bytes[b], window, flags, workers, &got,
                       log_progress, &log));
    if (got != want)
      print_error("size %zu window %zu flags %u workers %u byte 0x%02x: "
                  "%" PRIu64 " want %" PRIu64 "\n",
                  n, window, flags, workers, bytes[b], got, want);
    assert_int_equal(got, want);
    if (n) {
      assert_true(log.monotonic);
      assert_int_equal(log.last_done, n);
      assert_int_equal(log.last_total, n);
    }
  }
  free(data);
}

static void op_count_matches_reference_at_every_size(void **state) {
  (void)state;
  for (size_t i = 0; i < N_SIZES; i++) {
    check_op_count(sizes[i], 0, 0, 1, 31 + (uint32_t)i);
    check_op_count(sizes[i], 0, MMF_WINDOW_AUTO, 1, 41 + (uint32_t)i);
    check_op_count(sizes[i], 4096, 0, 1, 51 + (uint32_t)i);
    /* what `mmf count` runs */
    check_op_count(sizes[i], 0, MMF_WINDOW_AUTO | MMF_WINDOW_AHEAD, 0,
                   71 + (uint32_t)i);
    check_op_count(sizes[i], 4096, MMF_WINDOW_AHEAD, 3, 81 + (uint32_t)i);
  }
  check_op_count(MID_SIZE, 65536, 0, 1, 61);
  check_op_count(MID_SIZE, 65536, MMF_WINDOW_AUTO, 2, 62);
  check_op_count(DEFAULT_PLUS_SIZE, 0, MMF_WINDOW_AUTO, 1, 63);
  check_op_count(MID_SIZE, 65536, MMF_WINDOW_AUTO | MMF_WINDOW_AHEAD, 0, 64);
  check_op_count(DEFAULT_PLUS_SIZE, 0, MMF_WINDOW_AUTO | MMF_WINDOW_AHEAD, 0,
                 65);
  /* Two default AHEAD windows, mapped (no AUTO): the thread starts at the
   * first (test_window checks that it does). */
  check_op_count(AHEAD_PLUS_SIZE, 0, MMF_WINDOW_AHEAD, 1, 66);
  /* Several workers, each with a share of its own (test_each checks the
   * shares). */
  check_op_count(DEFAULT_PLUS_SIZE, 0, MMF_WINDOW_AUTO, 3, 67);
  check_op_count(DEFAULT_PLUS_SIZE, 65536, 0, 4, 68);
  check_op_count(AHEAD_PLUS_SIZE, 0, MMF_WINDOW_AUTO | MMF_WINDOW_AHEAD, 2,
                 69);
}

/* The file is cut short while mmf_op_reverse works through the read path
 * (another process truncating it): a clean error that says so, never a
 * short swap. Worker 0 reports progress on the calling thread after each
 * piece, which is where the test cuts it. (Through views the same cut is
 * SIGBUS, docs/mmf.1.md; Windows refuses to cut a mapped file.) */
static const char *shrink_path;
static const unsigned char *shrink_data;
static void shrink_on_progress(void *ctx, uint64_t done, uint64_t total) {
  (void)ctx;
  (void)total;
  if (shrink_path && done > 0) {
    /* 8 MiB to 5: the next front piece [1, 2) MiB is still there, its
     * mirror [6, 7) MiB is not */
    assert_int_equal(th_write_file(shrink_path, shrink_data, 5 << 20), 0);
    shrink_path = NULL;
  }
}

static void op_reverse_reports_a_file_that_shrank(void **state) {
  char path[600];
  unsigned char *data = make_data(8 << 20, 4);
  (void)state;
  if (th_is_windows()) {
    free(data);
    skip();
  }
  make_file(path, sizeof path, "shrinks.bin", data, 8 << 20);
  shrink_path = path;
  shrink_data = data;
  TH_EXPECT_ERR(mmf_op_reverse(path, 1 << 20, MMF_OP_REVERSE_BUFFERED, 1,
                               shrink_on_progress, NULL),
                MMF_EIO, "mmf_map_read_exact");
  assert_non_null(strstr(mmf_last_error_message(), "shrank"));
  assert_null(shrink_path); /* it was cut */
  free(data);
}

static void op_errors_name_the_file(void **state) {
  uint64_t count = 99;
  (void)state;
  TH_EXPECT_ERR(mmf_op_count(th_path("missing"), 0, 0, 0, 0, &count, NULL,
                             NULL),
                MMF_ENOENT, "mmf_map_open");
  assert_int_equal(count, 0);
  assert_non_null(strstr(mmf_last_error_message(), th_path("missing")));
  TH_EXPECT_ERR(mmf_op_reverse(th_tmpdir(), 0, 0, 0, NULL, NULL), MMF_EISDIR,
                "mmf_map_open");
}

/* ---- the CLI: results --------------------------------------------------- */

static void check_cli_reverse(size_t n, const char *window, uint32_t seed) {
  char path[600];
  unsigned char *data = make_data(n, seed);
  unsigned char *rev = ref_reversed(data, n);
  struct run r;

  make_file(path, sizeof path, "cli-reverse.bin", data, n);
  for (int round = 0; round < 2; round++) {
    if (window)
      RUN(&r, "reverse", "--window", window, path);
    else
      RUN(&r, "reverse", path);
    assert_ok_quiet(&r);
    assert_int_equal(r.out_n, 0);
    run_free(&r);
    assert_file_is(path, round == 0 ? rev : data, n);
  }
  free(data);
  free(rev);
}

static void cli_reverse_matches_reference_and_twice_restores(void **state) {
  (void)state;
  cli();
  for (size_t i = 0; i < N_SIZES; i++)
    check_cli_reverse(sizes[i], NULL, 101 + (uint32_t)i);
  check_cli_reverse(MID_SIZE, "65536", 111);
  check_cli_reverse(DEFAULT_PLUS_SIZE, NULL, 112);
  check_cli_reverse(MID_SIZE, "1024G", 113); /* the largest --window */
}

/* `mmf count [--byte B] FILES...` on every size at once: one
 * COUNT<TAB>FILE line per file, in order. */
static void cli_count_matches_reference_at_every_size(void **state) {
  static const struct {
    const char *arg; /* NULL = the default byte, 0 */
    unsigned char byte;
  } cases[] = {{NULL, 0}, {"0", 0}, {"0xa5", 0xa5}, {"165", 0xa5},
               {"0XA5", 0xa5}, {"255", 0xff}};
  enum { NF = N_SIZES + 2 };
  char paths[NF][600], name[32], *want;
  unsigned char *data[NF];
  size_t lens[NF];
  (void)state;
  cli();

  for (size_t i = 0; i < NF; i++) {
    lens[i] = i < N_SIZES ? sizes[i] : i == N_SIZES ? MID_SIZE
                                                    : DEFAULT_PLUS_SIZE;
    data[i] = make_data(lens[i], 201 + (uint32_t)i);
    snprintf(name, sizeof name, "count-%zu.bin", lens[i]);
    make_file(paths[i], sizeof paths[i], name, data[i], lens[i]);
  }
  want = malloc(NF * 700);
  assert_non_null(want);
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    const char *argv[NF + 6];
    size_t k = 0, w = 0;
    struct run r;
    argv[k++] = "count";
    if (cases[c].arg) {
      argv[k++] = "--byte";
      argv[k++] = cases[c].arg;
    }
    if (c == 1) { /* a window smaller than most of the files */
      argv[k++] = "--window";
      argv[k++] = "64K";
    }
    if (c == 4) { /* the largest window: larger than every file */
      argv[k++] = "--window";
      argv[k++] = "1024G";
    }
    /* The options are accepted and change nothing here: these files are
     * too small for the read-ahead thread (the big-file test runs it). */
    if (c == 2)
      argv[k++] = "--no-ahead";
    if (c == 3) /* the default, spelled out */
      argv[k++] = "--ahead";
    for (size_t i = 0; i < NF; i++) {
      argv[k++] = paths[i];
      w += (size_t)sprintf(want + w, "%" PRIu64 "\t%s\n",
                           ref_count(data[i], lens[i], cases[c].byte),
                           paths[i]);
    }
    argv[k] = NULL;
    run_cli(&r, NULL, argv);
    assert_ok_quiet(&r);
    if (strcmp(r.out, want) != 0)
      print_error("--byte %s:\n%s\nwant:\n%s\n",
                  cases[c].arg ? cases[c].arg : "(default)", r.out, want);
    assert_string_equal(r.out, want);
    run_free(&r);
  }
  free(want);
  for (size_t i = 0; i < NF; i++)
    free(data[i]);
}

/* `s` as the body of a JSON string, for names made of printable ASCII and
 * well-formed UTF-8 (only '"' and '\\' need escaping). */
static void json_body(char *out, size_t cap, const char *s) {
  size_t n = 0;
  for (; *s && n + 3 < cap; s++) {
    if (*s == '"' || *s == '\\')
      out[n++] = '\\';
    out[n++] = *s;
  }
  out[n] = '\0';
}

static void cli_count_json_is_one_escaped_object_per_file(void **state) {
  char plain[1024], odd[1024], want[8192], dir[2048], plain_json[2048];
  unsigned char data[100];
  const char *odd_name, *odd_json;
  struct run r;
  (void)state;
  cli();

  memset(data, 7, sizeof data);
  data[3] = data[50] = 0;
  make_file(plain, sizeof plain, "plain.bin", data, sizeof data);
  if (!th_is_windows()) {
    /* A name with a quote, a backslash, a tab and a non-UTF-8 byte. */
    odd_name = "we\"ird\\na\tme\xff.bin";
    odd_json = "we\\\"ird\\\\na\\tme\\ufffd.bin";
  } else {
    /* Windows forbids '"', '\\' and control characters in names, and
     * every name is Unicode: spaces and non-ASCII characters, passed
     * through as UTF-8 (the backslashes of the directory are escaped). */
    odd_name = "we ird \xc3\xb1" "ame \xe2\x82\xac.bin";
    odd_json = odd_name;
  }
  make_file(odd, sizeof odd, odd_name, data, sizeof data);
  RUN(&r, "count", "--json", plain, odd, "--byte", "7");
  assert_ok_quiet(&r);
  json_body(dir, sizeof dir, th_tmpdir());
  json_body(plain_json, sizeof plain_json, plain);
  snprintf(want, sizeof want,
           "{\"file\":\"%s\",\"byte\":7,\"count\":98}\n"
           "{\"file\":\"%s/%s\",\"byte\":7,\"count\":98}\n",
           plain_json, dir, odd_json);
  assert_string_equal(r.out, want);
  run_free(&r);
}

/* Paths with spaces and non-ASCII characters (UTF-8 on every OS) reach
 * the file untouched: count, reverse, the library behind them, and the
 * error for a missing one names it exactly. */
static void cli_paths_with_spaces_and_non_ascii_work(void **state) {
  char dir[1024], path[1200], missing[1200], want[3000];
  const size_t n = 70001;
  unsigned char *data = make_data(n, 404), *rev = ref_reversed(data, n);
  uint64_t got = 0;
  struct run r;
  (void)state;
  cli();
  /* "dir with spaces ñ€", "файл 名前 ü.bin" */
  snprintf(dir, sizeof dir, "%s",
           th_path("dir with spaces \xc3\xb1\xe2\x82\xac"));
  assert_int_equal(th_mkdir(dir), 0);
  snprintf(path, sizeof path,
           "%s/\xd1\x84\xd0\xb0\xd0\xb9\xd0\xbb \xe5\x90\x8d\xe5\x89\x8d "
           "\xc3\xbc.bin",
           dir);
  assert_int_equal(th_write_file(path, data, n), 0);

  RUN(&r, "count", "--byte", "0xa5", path);
  assert_ok_quiet(&r);
  snprintf(want, sizeof want, "%" PRIu64 "\t%s\n", ref_count(data, n, 0xa5),
           path);
  assert_string_equal(r.out, want);
  run_free(&r);

  RUN(&r, "reverse", "--window", "64K", path);
  assert_ok_quiet(&r);
  run_free(&r);
  assert_file_is(path, rev, n);
  TH_OK(mmf_op_reverse(path, 0, 0, 0, NULL, NULL));
  assert_file_is(path, data, n);
  TH_OK(mmf_op_count(path, 0, 0, 0, 0, &got, NULL, NULL));
  assert_int_equal(got, ref_count(data, n, 0));

  snprintf(missing, sizeof missing, "%s/n\xc3\xa4mnd \xe2\x82\xac.bin", dir);
  RUN(&r, "count", missing);
  assert_fails_with(&r, 1, "mmf count: ", missing, NULL);
  run_free(&r);
  free(data);
  free(rev);
}

/* ---- the CLI: failures -------------------------------------------------- */

static void cli_missing_file_and_directory_fail_with_one_line(void **state) {
  char missing[1024], dir[1024], reason[600];
  struct run r;
  (void)state;
  cli();
  snprintf(missing, sizeof missing, "%s", th_path("no-such-file"));
  snprintf(dir, sizeof dir, "%s", th_tmpdir());

  /* The OS's own words for the failure ("No such file or directory" on
   * Linux), as the library reports them. */
  snprintf(reason, sizeof reason, "%s", open_reason(missing, MMF_PROT_READ));
  if (!th_is_windows())
    assert_non_null(strstr(reason, "No such file"));
  RUN(&r, "count", missing);
  assert_fails_with(&r, 1, "mmf count: ", missing, reason, NULL);
  run_free(&r);
  RUN(&r, "reverse", missing);
  assert_fails_with(&r, 1, "mmf reverse: ", missing, reason, NULL);
  run_free(&r);
  snprintf(reason, sizeof reason, "%s", open_reason(dir, MMF_PROT_READ));
  if (!th_is_windows())
    assert_non_null(strstr(reason, "directory"));
  RUN(&r, "count", dir);
  assert_fails_with(&r, 1, "mmf count: ", dir, reason, NULL);
  run_free(&r);
  RUN(&r, "reverse", dir);
  assert_fails_with(&r, 1, "mmf reverse: ", dir, reason, NULL);
  run_free(&r);
}

static void cli_usage_errors_exit_2_with_one_line(void **state) {
  char f[600];
  struct run r;
  (void)state;
  cli();
  make_file(f, sizeof f, "usage.bin", (const unsigned char *)"abc", 3);

  static const char *const bad_bytes[] = {"300", "x", "256", "-1", "",
                                          "0x",  "0x100", "1.5", " 1", "1x"};
  for (size_t i = 0; i < sizeof bad_bytes / sizeof bad_bytes[0]; i++) {
    RUN(&r, "count", "--byte", bad_bytes[i], f);
    assert_fails_with(&r, 2, "mmf count: ", "--byte", NULL);
    run_free(&r);
  }
  /* option, value, what the message names */
  static const char *const bad_values[][3] = {
      {"--window", "lots", "--window"}, {"--threads", "0", "--threads"},
      {"-j", "65", "--threads"},        {"--threads", "two", "--threads"}};
  for (size_t i = 0; i < sizeof bad_values / sizeof bad_values[0]; i++) {
    RUN(&r, "count", bad_values[i][0], bad_values[i][1], f);
    assert_fails_with(&r, 2, "mmf count: ", bad_values[i][2], NULL);
    run_free(&r);
  }
  RUN(&r, "reverse", "--threads", "-1", f);
  assert_fails_with(&r, 2, "mmf reverse: ", "--threads", NULL);
  run_free(&r);
  RUN(&r, "reverse", "--window", "0", f);
  assert_fails_with(&r, 2, "mmf reverse: ", "--window", NULL);
  run_free(&r);
  /* Sizes near 2^64 (up to 1024G only): a usage error, not a failure on
   * the file after the round-up to the granularity wrapped around. */
  static const char *const huge_windows[] = {
      "18446744073709551609", "18014398509481983K", "17179869183G", "1025G",
      "1099511627777"};
  for (size_t i = 0; i < sizeof huge_windows / sizeof huge_windows[0]; i++) {
    RUN(&r, "reverse", "--window", huge_windows[i], f);
    assert_fails_with(&r, 2, "mmf reverse: ", "--window", huge_windows[i],
                      "1024G", NULL);
    run_free(&r);
    RUN(&r, "count", "--window", huge_windows[i], f);
    assert_fails_with(&r, 2, "mmf count: ", "--window", huge_windows[i],
                      "1024G", NULL);
    run_free(&r);
  }

  RUN(&r, "count");
  assert_fails_with(&r, 2, "mmf count: ", "FILE", NULL);
  run_free(&r);
  RUN(&r, "count", "--byte", "3");
  assert_fails_with(&r, 2, "mmf count: ", "FILE", NULL);
  run_free(&r);
  RUN(&r, "reverse");
  assert_fails_with(&r, 2, "mmf reverse: ", "FILE", NULL);
  run_free(&r);
  RUN(&r, "reverse", f, f);
  assert_fails_with(&r, 2, "mmf reverse: ", NULL);
  run_free(&r);

  RUN(&r, "count", "--frobnicate", f);
  assert_fails_with(&r, 2, "mmf count: ", "--frobnicate", NULL);
  run_free(&r);
  RUN(&r, "reverse", "-q", f);
  assert_fails_with(&r, 2, "mmf reverse: ", "-q", NULL);
  run_free(&r);
  RUN(&r, "count", f, "--byte");
  assert_fails_with(&r, 2, "mmf count: ", "--byte", NULL);
  run_free(&r);
  RUN(&r, "count", "--json=yes", f);
  assert_fails_with(&r, 2, "mmf count: ", "--json", NULL);
  run_free(&r);
  RUN(&r, "frobnicate");
  assert_fails_with(&r, 2, "mmf: ", "frobnicate", NULL);
  run_free(&r);
  RUN(&r, "--frobnicate");
  assert_fails_with(&r, 2, "mmf: ", "--frobnicate", NULL);
  run_free(&r);
  run_cli(&r, NULL, (const char *const[]){NULL});
  assert_fails_with(&r, 2, "mmf: ", NULL);
  run_free(&r);

  /* None of it touched the file. */
  assert_file_is(f, (const unsigned char *)"abc", 3);
}

/* A bad option inside a group of short options (-zq) is named as itself,
 * whatever valid option came before it: getopt_long leaves optind on the
 * group while inside it, so the element before it is not the culprit. The
 * long-option messages stay as they were. */
static void cli_bad_option_in_a_group_is_the_one_named(void **state) {
  static const struct {
    const char *args[6]; /* subcommand words and options, then FILE */
    const char *prefix, *want, *not_want;
  } cases[] = {
      {{"count", "--json", "-zq"}, "mmf count: ", "unknown option '-z'",
       "--json"},
      {{"count", "--byte=1", "-zq"}, "mmf count: ", "unknown option '-z'",
       "--byte"},
      {{"count", "--byte", "1", "-zq"}, "mmf count: ",
       "unknown option '-z'", "'1'"},
      {{"reverse", "--threads=2", "-xy"}, "mmf reverse: ",
       "unknown option '-x'", "--threads"},
      {{"reverse", "--window", "64K", "-xy"}, "mmf reverse: ",
       "unknown option '-x'", "64K"},
      {{"instances", "--json", "-zq"}, "mmf instances: ",
       "unknown option '-z'", "--json"},
      {{"instances", "--key=k", "-zq"}, "mmf instances: ",
       "unknown option '-z'", "--key"},
      {{"share", "ls", "--json", "-zq"}, "mmf share ls: ",
       "unknown option '-z'", "--json"},
      {{"share", "put", "--transient", "-zq"}, "mmf share put: ",
       "unknown option '-z'", "--transient"},
      /* Unchanged: what was already right. */
      {{"count", "-zq"}, "mmf count: ", "unknown option '-z'", NULL},
      {{"count", "--json=1"}, "mmf count: ", "option '--json' takes no value",
       NULL},
      {{"count", "--byte=1", "--json=2"}, "mmf count: ",
       "option '--json' takes no value", "--byte"},
      {{"count", "--json", "--frob"}, "mmf count: ",
       "unknown option '--frob'", "--json"},
      {{"share", "get", "--help=x"}, "mmf share get: ",
       "option '--help' takes no value", NULL},
  };
  char f[600];
  struct run r;
  (void)state;
  cli();
  make_file(f, sizeof f, "group.bin", (const unsigned char *)"abc", 3);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char *args[8];
    size_t k = 0;
    while (cases[i].args[k]) {
      args[k] = cases[i].args[k];
      k++;
    }
    args[k++] = f;
    args[k] = NULL;
    run_cli(&r, NULL, args);
    assert_fails_with(&r, 2, cases[i].prefix, cases[i].want, NULL);
    if (cases[i].not_want && strstr(r.err, cases[i].not_want)) {
      print_error("case %zu: stderr \"%s\" names \"%s\"\n", i, r.err,
                  cases[i].not_want);
      fail();
    }
    run_free(&r);
  }
  /* A missing value is named as given. */
  RUN(&r, "count", f, "--json", "-b");
  assert_fails_with(&r, 2, "mmf count: ", "option '-b' needs a value", NULL);
  run_free(&r);
  RUN(&r, "count", f, "--threads=2", "-j");
  assert_fails_with(&r, 2, "mmf count: ", "option '-j' needs a value", NULL);
  run_free(&r);
  RUN(&r, "count", f, "--byte");
  assert_fails_with(&r, 2, "mmf count: ", "option '--byte' needs a value",
                    NULL);
  run_free(&r);
  assert_file_is(f, (const unsigned char *)"abc", 3);
}

/* A name with a newline, a tab, a control character, an escape and a
 * DEL: every error quoting it -- a missing file, a bad share name or
 * key, a bad option value -- is still one line, each of those shown as
 * \n, \t or \xNN (also where the library's message quotes the name). */
static void cli_control_characters_in_names_are_escaped_in_errors(void **s) {
  char missing[1024], want[1100], file[1024], odd[1024];
  struct run r;
  (void)s;
  cli();
  snprintf(missing, sizeof missing, "%s",
           th_path("no\nsuch\tfile\x01\x1b[31m\x7f"));
  snprintf(want, sizeof want, "%s",
           th_path("no\\nsuch\\tfile\\x01\\x1b[31m\\x7f"));

  RUN(&r, "count", missing);
  assert_fails_with(&r, 1, "mmf count: ", want, NULL);
  if (!th_is_windows()) /* the library's message quotes the path too */
    assert_non_null(strstr(strstr(r.err, want) + 1, want));
  run_free(&r);
  RUN(&r, "reverse", missing);
  assert_fails_with(&r, 1, "mmf reverse: ", want, NULL);
  run_free(&r);
  RUN(&r, "share", "put", "cli-escape-test", missing);
  assert_fails_with(&r, 1, "mmf share put: ", want, NULL);
  run_free(&r);

  RUN(&r, "share", "get", "bad\nname");
  assert_fails_with(&r, 1, "mmf share get: ", "bad\\nname", NULL);
  run_free(&r);
  RUN(&r, "share", "rm", "bad\tname");
  assert_fails_with(&r, 1, "mmf share rm: ", "bad\\tname", NULL);
  run_free(&r);
  /* An empty name is shown as '', not as "mmf count: : ...". */
  RUN(&r, "count", "");
  assert_fails_with(&r, 1, "mmf count: '': ", NULL);
  run_free(&r);
  RUN(&r, "share", "get", "");
  assert_fails_with(&r, 1, "mmf share get: '': ", "empty", NULL);
  run_free(&r);
  RUN(&r, "instances", "--key", "bad\nkey");
  assert_fails_with(&r, 1, "mmf instances: ", "bad\\nkey", NULL);
  run_free(&r);

  make_file(file, sizeof file, "escape.bin", (const unsigned char *)"abc", 3);
  RUN(&r, "count", "--byte", "1\n2", file);
  assert_fails_with(&r, 2, "mmf count: ", "'1\\n2'", NULL);
  run_free(&r);
  RUN(&r, "instances", "x\ry");
  assert_fails_with(&r, 2, "mmf instances: ", "'x\\ry'", NULL);
  run_free(&r);
  /* Before any command: an unknown command or option. */
  RUN(&r, "no\ncommand");
  assert_fails_with(&r, 2, "mmf: unknown command ", "'no\\ncommand'", NULL);
  run_free(&r);
  RUN(&r, "--no\toption");
  assert_fails_with(&r, 2, "mmf: unknown option ", "'--no\\toption'", NULL);
  run_free(&r);

  /* The progress bar shows such a name on its one line too. Windows
   * allows no control characters in file names. */
  if (!th_is_windows()) {
    make_file(odd, sizeof odd, "pro\ngress.bin", (const unsigned char *)"abc",
              3);
    RUN_PROGRESS(&r, "always", "count", odd);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.err, "pro?gress.bin"));
    assert_null(strchr(r.err, '\n'));
    run_free(&r);
  }
}

/* Shared-memory objects and files (section files) a test makes outside
 * its temp dir, removed again by remove_leftovers(), the teardown of the
 * tests that make them -- also when such a test fails midway. */
static char made_shm[8][MMF_SHM_NAME_MAX + 1];
static char made_files[4][1024];

static void made_shm_object(const char *name) {
  for (size_t i = 0; i < sizeof made_shm / sizeof made_shm[0]; i++)
    if (!made_shm[i][0]) {
      assert_true(strlen(name) < sizeof made_shm[i]);
      memcpy(made_shm[i], name, strlen(name) + 1);
      return;
    }
  fail_msg("more than %zu objects to remove", sizeof made_shm /
                                                  sizeof made_shm[0]);
}

static void made_file(const char *path) {
  for (size_t i = 0; i < sizeof made_files / sizeof made_files[0]; i++)
    if (!made_files[i][0]) {
      assert_true(strlen(path) < sizeof made_files[i]);
      memcpy(made_files[i], path, strlen(path) + 1);
      return;
    }
  fail_msg("more than %zu files to remove", sizeof made_files /
                                                sizeof made_files[0]);
}

/* Whatever is still there (a test that passed removed it and checked). */
static int remove_leftovers(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof made_shm / sizeof made_shm[0]; i++)
    if (made_shm[i][0]) {
      (void)mmf_shm_remove(made_shm[i]);
      made_shm[i][0] = '\0';
    }
  for (size_t i = 0; i < sizeof made_files / sizeof made_files[0]; i++)
    if (made_files[i][0]) {
      if (th_exists(made_files[i]))
        (void)th_remove(made_files[i]);
      made_files[i][0] = '\0';
    }
  return 0;
}

/* Output that cannot be written (stdout on /dev/full) fails every command
 * with exit 1 and one line giving the reason: "cannot write the output:
 * No space left on device". */
static void cli_write_errors_on_stdout_say_why(void **state) {
  static const char *const full = "/dev/full";
  char f[600], name[64], key[64], section_path[1024], want[300];
  unsigned char data[100000];
  mmf_map *m;
  mmf_section *sec;
  struct run r;
  (void)state;
  cli();
  if (!th_exists(full)) {
    print_message("no %s on this system: skipping\n", full);
    skip();
  }
  snprintf(want, sizeof want, "cannot write the output: %s",
           strerror(ENOSPC));
  th_fill(data, sizeof data, 77);
  make_file(f, sizeof f, "full.bin", data, sizeof data);
  /* A share to get (larger than stdio's buffer: written straight) and a
   * section key of this run's own, removed below. */
  snprintf(name, sizeof name, "cli-full-%lu", th_pid());
  TH_OK(mmf_shm_create(&m, name, sizeof data, MMF_SHM_PERSISTENT));
  made_shm_object(name);
  TH_OK(mmf_map_close(m));
  snprintf(key, sizeof key, "cli-full-%lu", th_pid());
  TH_OK(mmf_section_open(&sec, key, 0, 0));
  snprintf(section_path, sizeof section_path, "%s", mmf_section_path(sec));
  made_file(section_path);

  {
    enum { NOTHING, FILE_ARG, NAME_ARG, KEY_ARG }; /* what follows args */
    static const struct {
      const char *args[4];
      int then;
      const char *prefix;
    } cases[] = {
        {{"count"}, FILE_ARG, "mmf count: "},
        {{"count", "--json"}, FILE_ARG, "mmf count: "},
        {{"count", "--help"}, NOTHING, "mmf count: "},
        {{"reverse", "--help"}, NOTHING, "mmf reverse: "},
        {{"--help"}, NOTHING, "mmf --help: "},
        {{"--version"}, NOTHING, "mmf --version: "},
        {{"share", "get"}, NAME_ARG, "mmf share get: "},
        {{"share", "ls"}, NOTHING, "mmf share ls: "},
        {{"share", "ls", "--json"}, NOTHING, "mmf share ls: "},
        {{"instances", "--key"}, KEY_ARG, "mmf instances: "},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
      const char *args[6];
      size_t k = 0;
      while (k < 4 && cases[i].args[k]) {
        args[k] = cases[i].args[k];
        k++;
      }
      if (cases[i].then != NOTHING)
        args[k++] = cases[i].then == FILE_ARG   ? f
                    : cases[i].then == NAME_ARG ? name
                                                : key;
      args[k] = NULL;
      run_cli_out_to(&r, full, args);
      if (!strstr(r.err, want))
        print_error("case %zu (%s): stderr \"%s\"\n", i, args[0], r.err);
      assert_fails_with(&r, 1, cases[i].prefix, want, NULL);
      run_free(&r);
    }
  }
  /* Counted first, then the output fails: the file's count line is lost,
   * and the reason is that of the failed write, not of the missing file
   * reported in between. */
  {
    char missing[600];
    snprintf(missing, sizeof missing, "%s", th_path("full-missing.bin"));
    run_cli_out_to(&r, full,
                   (const char *const[]){"count", f, missing, f, NULL});
    assert_int_equal(r.status, 1);
    assert_int_equal(count_char(r.err, '\n'), 2);
    assert_non_null(strstr(r.err, missing));
    assert_non_null(strstr(r.err, want));
    run_free(&r);
  }

  TH_OK(mmf_section_close(sec));
  assert_int_equal(th_remove(section_path), 0);
  TH_OK(mmf_shm_remove(name));
}

/* `mmf share ls`: sorted by name, and a table whose columns line up
 * whatever the names' lengths (up to MMF_SHM_NAME_MAX); --json sorted too. */
static void cli_share_ls_is_sorted_and_aligned(void **state) {
  enum { N = 4 };
  char names[N][MMF_SHM_NAME_MAX + 1], prefix[64], want[400];
  /* Made in this order; listed as 1, 2, 3, 0 (upper case sorts first). */
  static const char *const tails[N] = {"zeta", "Alpha", "b", "mid"};
  static const uint64_t sizes_[N] = {1, 123456, 7, 4096};
  static const size_t order[N] = {1, 2, 3, 0};
  const char *where[N];
  size_t col = 0, lines = 0;
  char *line, *next, prev[MMF_SHM_NAME_MAX + 1] = "";
  mmf_map *m;
  struct run r;
  (void)state;
  cli();
  snprintf(prefix, sizeof prefix, "cli-ls-%lu-", th_pid());
  for (size_t i = 0; i < N; i++) {
    snprintf(names[i], sizeof names[i], "%s%s", prefix, tails[i]);
    if (i == 3) /* the longest name there can be */
      while (strlen(names[i]) < MMF_SHM_NAME_MAX)
        strcat(names[i], "x");
    TH_OK(mmf_shm_create(&m, names[i], sizes_[i], MMF_SHM_PERSISTENT));
    made_shm_object(names[i]);
    TH_OK(mmf_map_close(m));
  }

  RUN(&r, "share", "ls");
  assert_ok_quiet(&r);
  assert_int_equal(strncmp(r.out, "NAME ", 5), 0);
  /* Every line: NAME padded, one space, SIZE right-aligned, one space,
   * LIFETIME -- so the last space is in the same column on every line. */
  for (line = r.out; *line; line = next + 1, lines++) {
    char *space;
    size_t name_len;
    next = strchr(line, '\n');
    assert_non_null(next);
    *next = '\0';
    space = strrchr(line, ' ');
    assert_non_null(space);
    if (lines == 0)
      col = (size_t)(space - line);
    if ((size_t)(space - line) != col)
      print_error("line %zu \"%s\": LIFETIME at column %zu, header's at "
                  "%zu\n", lines, line, (size_t)(space - line) + 1, col + 1);
    assert_int_equal((size_t)(space - line), col);
    name_len = strcspn(line, " ");
    assert_true(name_len > 0 && name_len < col);
    if (lines > 0) {
      char name[MMF_SHM_NAME_MAX + 1];
      assert_true(name_len <= MMF_SHM_NAME_MAX);
      memcpy(name, line, name_len);
      name[name_len] = '\0';
      if (strcmp(prev, name) >= 0)
        print_error("\"%s\" listed after \"%s\"\n", name, prev);
      assert_true(strcmp(prev, name) < 0);
      memcpy(prev, name, name_len + 1);
    }
    *next = '\n';
  }
  assert_true(lines >= 1 + N);
  for (size_t k = 0; k < N; k++) {
    size_t i = order[k];
    char *end;
    /* NAME, spaces, SIZE, " persistent", on a line of its own. */
    snprintf(want, sizeof want, "\n%s ", names[i]);
    where[k] = strstr(r.out, want);
    assert_non_null(where[k]);
    end = strchr(where[k] + 1, '\n');
    snprintf(want, sizeof want, " %" PRIu64 " persistent", sizes_[i]);
    assert_true((size_t)(end - where[k]) > strlen(want));
    assert_memory_equal(end - strlen(want), want, strlen(want));
    if (k > 0)
      assert_true(where[k] > where[k - 1]);
  }
  run_free(&r);

  RUN(&r, "share", "ls", "--json");
  assert_ok_quiet(&r);
  for (size_t k = 0; k < N; k++) {
    size_t i = order[k];
    snprintf(want, sizeof want,
             "{\"name\":\"%s\",\"size\":%" PRIu64
             ",\"lifetime\":\"persistent\"}\n",
             names[i], sizes_[i]);
    where[k] = strstr(r.out, want);
    assert_non_null(where[k]);
    if (k > 0)
      assert_true(where[k] > where[k - 1]);
  }
  /* Every line in name order. */
  prev[0] = '\0';
  for (line = r.out; *line; line = next + 1) {
    const char *q;
    size_t len;
    char name[MMF_SHM_NAME_MAX + 1];
    next = strchr(line, '\n');
    assert_non_null(next);
    assert_int_equal(strncmp(line, "{\"name\":\"", 9), 0);
    q = strchr(line + 9, '"');
    assert_non_null(q);
    len = (size_t)(q - (line + 9));
    assert_true(len <= MMF_SHM_NAME_MAX);
    memcpy(name, line + 9, len);
    name[len] = '\0';
    assert_true(strcmp(prev, name) < 0);
    memcpy(prev, name, len + 1);
  }
  run_free(&r);

  for (size_t i = 0; i < N; i++)
    TH_OK(mmf_shm_remove(names[i]));
}

/* What docs/mmf.1.md says of `mmf instances`: the section's file stays
 * at <runtime dir>/mmf-section.[uUID.]KEY (/dev/shm/...uUID.KEY on Linux,
 * %TEMP%\mmf\...KEY on Windows) after the last instance, the next first instance reuses it,
 * and it can be deleted by hand once none runs. */
static void cli_instances_leaves_its_section_file_behind(void **state) {
  char key[64], path[1024], want[200];
  const char *obj, *sep;
  struct run r;
  (void)state;
  cli();
  snprintf(key, sizeof key, "cli-left-%lu", th_pid());
  /* The runtime directory: where the library keeps shared memory. */
  obj = th_shm_object_path("x");
  sep = NULL;
  for (const char *p = obj; *p; p++)
    if (*p == '/' || *p == '\\')
      sep = p;
  assert_non_null(sep);
  /* ... and on Linux the user's tag, "u<uid>." (sections are per user) */
  snprintf(path, sizeof path, "%.*smmf-section.%s%s", (int)(sep + 1 - obj),
           obj, th_user_tag(), key);
  if (!th_is_windows())
    assert_int_equal(strncmp(path, "/dev/shm/mmf-section.u", 22), 0);
  made_file(path);
  snprintf(want, sizeof want,
           "{\"key\":\"%s\",\"instances\":1,\"first\":true}\n", key);
  for (int round = 0; round < 3; round++) {
    RUN(&r, "instances", "--key", key, "--json");
    assert_ok_quiet(&r);
    assert_string_equal(r.out, want);
    run_free(&r);
    if (!th_exists(path))
      print_error("round %d: no %s after the last instance\n", round, path);
    assert_true(th_exists(path));
    if (round == 1) /* removed by hand, as the manual says */
      assert_int_equal(th_remove(path), 0);
  }
  assert_int_equal(th_remove(path), 0);
  assert_false(th_exists(path));
}

static void cli_help_and_version_exit_0(void **state) {
  char want[64];
  struct run r;
  (void)state;
  cli();

  RUN(&r, "--version");
  assert_ok_quiet(&r);
  snprintf(want, sizeof want, "mmf %s\n", mmf_version());
  assert_string_equal(r.out, want);
  run_free(&r);

  RUN(&r, "--help");
  assert_ok_quiet(&r);
  assert_non_null(strstr(r.out, "reverse"));
  assert_non_null(strstr(r.out, "count"));
  run_free(&r);

  RUN(&r, "count", "--help");
  assert_ok_quiet(&r);
  assert_non_null(strstr(r.out, "Usage: mmf count"));
  assert_non_null(strstr(r.out, "--byte"));
  assert_non_null(strstr(r.out, "--json"));
  assert_non_null(strstr(r.out, "--ahead"));
  assert_non_null(strstr(r.out, "--no-ahead"));
  run_free(&r);

  RUN(&r, "reverse", "--help");
  assert_ok_quiet(&r);
  assert_non_null(strstr(r.out, "Usage: mmf reverse"));
  run_free(&r);

  RUN(&r, "reverse", "-h");
  assert_ok_quiet(&r);
  assert_non_null(strstr(r.out, "Usage: mmf reverse"));
  run_free(&r);
}

static void cli_count_reports_a_missing_file_and_counts_the_rest(void **state) {
  char a[600], b[600], missing[600], want[2000];
  struct run r;
  (void)state;
  cli();
  make_file(a, sizeof a, "a.bin", (const unsigned char *)"\0x\0", 3);
  make_file(b, sizeof b, "b.bin", (const unsigned char *)"\0\0\0\0", 4);
  snprintf(missing, sizeof missing, "%s", th_path("not-there.bin"));

  RUN(&r, "count", a, missing, b);
  assert_int_equal(r.status, 1);
  snprintf(want, sizeof want, "2\t%s\n4\t%s\n", a, b);
  assert_string_equal(r.out, want);
  assert_int_equal(count_char(r.err, '\n'), 1);
  assert_non_null(strstr(r.err, "mmf count: "));
  assert_non_null(strstr(r.err, missing));
  assert_null(strstr(r.err, a));
  run_free(&r);
}

/* ---- the CLI: progress and memory --------------------------------------- */

/* `r`, a command run on the big file (`what`), succeeded quietly, printed
 * `want` (NULL: anything) and peaked under `limit_kib`. Frees r. */
static void assert_bounded_run(struct run *r, const char *what,
                               const char *want, long limit_kib) {
  assert_ok_quiet(r);
  if (want)
    assert_string_equal(r->out, want);
  print_message("%s of %" PRIu64 " MiB: peak RSS %ld KiB\n", what,
                BIG_SIZE >> 20, r->maxrss_kib);
  assert_true(r->maxrss_kib > 0);
  assert_true(r->maxrss_kib < limit_kib);
  run_free(r);
}

/* On a big file with stderr in a file (not a terminal): the right answer,
 * not a byte of progress output, and a peak resident set bounded by the
 * windows mapped at once, not by the file's size. Runs first, while this
 * process is still small: a forked child starts out with its parent's
 * resident set. */
static void cli_big_file_bounded_memory_and_no_progress_off_a_tty(void **s) {
  char want[700];
  uint64_t zeros;
  struct run r;
  (void)s;
  cli();
  make_big_file(&zeros);

  /* The default (a counting thread per CPU), and four counting threads
   * whatever the CPUs: bounded either way. */
  snprintf(want, sizeof want, "%" PRIu64 "\t%s\n", zeros, big_path());
  RUN(&r, "count", big_path());
  assert_bounded_run(&r, "count", want, RSS_LIMIT_KIB);
  RUN(&r, "count", "--threads", "4", big_path());
  assert_bounded_run(&r, "count --threads 4", want, RSS_LIMIT_KIB);
  RUN(&r, "count", "-j1", "--ahead", big_path());
  assert_bounded_run(&r, "count -j1 --ahead", want, AHEAD_RSS_LIMIT_KIB);

  /* No progress: stderr is empty (assert_ok_quiet). */
  RUN(&r, "reverse", big_path());
  assert_bounded_run(&r, "reverse", "", RSS_LIMIT_KIB);
  assert_big_file(1);
  /* Back to the original for the tests that follow, on three threads
   * whatever the CPUs. */
  RUN(&r, "reverse", "--threads", "3", big_path());
  assert_bounded_run(&r, "reverse --threads 3", "", RSS_LIMIT_KIB);
  assert_big_file(0);
}

static void cli_forced_progress_draws_and_clears_its_line(void **state) {
  char f[600], want[700];
  unsigned char data[5000];
  struct run r;
  (void)state;
  cli();
  memset(data, 0, sizeof data);
  make_file(f, sizeof f, "progress.bin", data, sizeof data);

  RUN_PROGRESS(&r, "always", "count", f);
  assert_int_equal(r.status, 0);
  snprintf(want, sizeof want, "5000\t%s\n", f);
  assert_string_equal(r.out, want); /* stdout is untouched by the bar */
  assert_non_null(strstr(r.err, "count"));
  assert_non_null(strstr(r.err, "progress.bin"));
  assert_non_null(strstr(r.err, "100%"));
  assert_null(strchr(r.err, '\n'));        /* redrawn in place */
  assert_int_equal(r.err[r.err_n - 1], '\r'); /* and the line cleared */
  run_free(&r);

  RUN_PROGRESS(&r, "always", "reverse", f);
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.err, "reverse"));
  assert_non_null(strstr(r.err, "100%"));
  run_free(&r);

  RUN_PROGRESS(&r, "never", "count", f);
  assert_ok_quiet(&r);
  run_free(&r);
}

/* Run `mmf count FILE` with stderr on a terminal; returns what the
 * terminal received (malloc'ed). Skips where the system cannot give a
 * program a terminal. */
static char *count_on_a_tty(const char *file, const char *progress) {
  const char *argv[32];
  char out_path[1024], err_path[1024], *got = NULL;
  th_run_result res;
  int rc;
  cli_argv(argv, (const char *const[]){"count", file, NULL});
  cli_paths(out_path, err_path, sizeof out_path);
  rc = th_run_on_terminal(argv, out_path, "MMF_PROGRESS", progress, &got,
                          &res);
  if (rc == TH_NO_TERMINAL) {
    print_message("no terminal can be given to a child here: skipping\n");
    skip();
  }
  assert_int_equal(rc, 0);
  assert_int_equal(res.status, 0);
  return got;
}

static void cli_progress_shows_on_a_terminal_only_for_big_files(void **state) {
  char small[600];
  uint64_t zeros;
  char *tty;
  (void)state;
  cli();
  make_big_file(&zeros);
  make_file(small, sizeof small, "small.bin", (const unsigned char *)"abc", 3);

  tty = count_on_a_tty(big_path(), NULL);
  if (!strstr(tty, "%"))
    print_error("terminal got \"%s\"\n", tty);
  assert_non_null(strstr(tty, "count"));
  assert_non_null(strstr(tty, "big.bin"));
  assert_non_null(strstr(tty, "%"));
  free(tty);

  tty = count_on_a_tty(small, NULL);
  assert_string_equal(tty, ""); /* a terminal, but a small file */
  free(tty);

  tty = count_on_a_tty(big_path(), "never");
  assert_string_equal(tty, "");
  free(tty);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(cli_big_file_bounded_memory_and_no_progress_off_a_tty),
      cmocka_unit_test(op_reverse_matches_reference_at_every_size),
      cmocka_unit_test(op_count_matches_reference_at_every_size),
      cmocka_unit_test(op_reverse_reports_a_file_that_shrank),
      cmocka_unit_test(op_errors_name_the_file),
      cmocka_unit_test(cli_reverse_matches_reference_and_twice_restores),
      cmocka_unit_test(cli_count_matches_reference_at_every_size),
      cmocka_unit_test(cli_count_json_is_one_escaped_object_per_file),
      cmocka_unit_test(cli_paths_with_spaces_and_non_ascii_work),
      cmocka_unit_test(cli_missing_file_and_directory_fail_with_one_line),
      cmocka_unit_test(cli_usage_errors_exit_2_with_one_line),
      cmocka_unit_test(cli_bad_option_in_a_group_is_the_one_named),
      cmocka_unit_test(cli_control_characters_in_names_are_escaped_in_errors),
      cmocka_unit_test_teardown(cli_write_errors_on_stdout_say_why,
                                remove_leftovers),
      cmocka_unit_test_teardown(cli_share_ls_is_sorted_and_aligned,
                                remove_leftovers),
      cmocka_unit_test_teardown(cli_instances_leaves_its_section_file_behind,
                                remove_leftovers),
      cmocka_unit_test(cli_help_and_version_exit_0),
      cmocka_unit_test(cli_count_reports_a_missing_file_and_counts_the_rest),
      cmocka_unit_test(cli_forced_progress_draws_and_clears_its_line),
      cmocka_unit_test(cli_progress_shows_on_a_terminal_only_for_big_files),
  };
  return cmocka_run_group_tests_name("cli", tests, NULL, NULL);
}
