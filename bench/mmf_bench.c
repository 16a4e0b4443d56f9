/* mmf_bench.c -- mmf against what a user would pick instead, in ONE run:
 * absolute figures of mmf and of each baseline, and the mmf/baseline ratio.
 *
 *   mmf-bench --list
 *   mmf-bench [--json] [--size BYTES] [--repeat N] [--dir DIR] [NAME...]
 *
 * What mmf runs is exactly what the CLI runs (tools/ops.c: mmf_op_count,
 * mmf_op_reverse); the baselines use the same byte kernels (mmf_memcount,
 * mmf_memswap_reversed, mmf_memreverse) so only the way the bytes reach
 * memory differs.
 *
 * Hygiene (docs/BENCHMARKS.md, PLATFORM_NOTES): the cache state is set up
 * right before each repetition (the file is rewritten 4 KiB, 1 MiB or 2 MiB
 * at a time, which decides the page-cache folio size, synced, and checked fully
 * resident with mincore); buffers are touched before timing; the compared
 * methods run in a rotated order on each repetition; figures are medians of
 * CLOCK_MONOTONIC wall-clock times.
 *
 * Linux-first: besides POSIX it uses mincore, fork + wait4 (per-method peak
 * RSS), RUSAGE_THREAD and MADV_HUGEPAGE, all in the "Linux-only" section. */
#include <mmf.h>
#include "bench.h"
#include "ops.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KIB ((size_t)1 << 10)
#define MIB ((size_t)1 << 20)
#define GIB ((size_t)1 << 30)
#define MAX_REPEAT 101
#define COUNT_BYTE 0x2a /* the byte every count benchmark counts */
#define BUF_BYTES MIB   /* the read()/pread() baselines' buffers */

/* ---- options and output ------------------------------------------------ */

static struct {
  int json;
  uint64_t size;
  int repeat;
  const char *dir;
  char path[4096];
} opt = {0, (uint64_t)GIB, 5, "/var/tmp", ""};

void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("mmf-bench: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  if (opt.path[0])
    unlink(opt.path);
  exit(1);
}

void die_mmf(const char *what, int rc) {
  die("%s: %s (%s)", what, mmf_err_name(rc), mmf_last_error_message());
}

void note(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fflush(stderr);
}

double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A series of measurements of one method, one value per repetition. */
typedef struct {
  const char *name;
  double v[MAX_REPEAT];
  int n;
} series;

static void add(series *s, double v) {
  if (s->n < MAX_REPEAT)
    s->v[s->n++] = v;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(const series *s) {
  double t[MAX_REPEAT];
  if (s->n == 0)
    return 0;
  memcpy(t, s->v, sizeof(double) * (size_t)s->n);
  qsort(t, (size_t)s->n, sizeof(double), cmp_double);
  return s->n % 2 ? t[s->n / 2] : (t[s->n / 2 - 1] + t[s->n / 2]) / 2;
}

/* One comparison line: mmf's figure, one baseline's, the ratio mmf/baseline
 * of the figure (a rate or a time, as `unit` says) and the target if any. */
void report(const char *bench, const char *kase, const char *unit,
                   const char *mmf_name, double mmf_value,
                   const char *base_name, double base_value,
                   enum target_kind tk, double target) {
  double ratio = base_value > 0 ? mmf_value / base_value : 0;
  int met = tk == T_NONE       ? -1
            : tk == T_RATIO_GE ? ratio >= target
            : tk == T_RATIO_LE ? ratio <= target
                               : mmf_value <= target;
  char tgt[64] = "";
  if (tk == T_RATIO_GE)
    snprintf(tgt, sizeof tgt, ">= %.2fx", target);
  else if (tk == T_RATIO_LE)
    snprintf(tgt, sizeof tgt, "<= %.2fx", target);
  else if (tk == T_ABS_LE)
    snprintf(tgt, sizeof tgt, "mmf <= %.0f %s", target, unit);
  if (opt.json) {
    printf("{\"bench\":\"%s\",\"case\":\"%s\",\"unit\":\"%s\","
           "\"mmf\":\"%s\",\"mmf_value\":%.6g,"
           "\"baseline\":\"%s\",\"baseline_value\":%.6g,\"ratio\":%.4f,"
           "\"target\":\"%s\",\"met\":%s,\"repeat\":%d,\"size\":%" PRIu64
           "}\n",
           bench, kase, unit, mmf_name, mmf_value, base_name, base_value,
           ratio, tgt,
           met < 0 ? "null" : met ? "true" : "false", opt.repeat, opt.size);
  } else {
    printf("%-7s %-22s %-27s %9.3f %-10s| %-27s %9.3f  ratio %6.3fx", bench,
           kase, mmf_name, mmf_value, unit, base_name, base_value, ratio);
    if (tk != T_NONE)
      printf("  target %-16s %s", tgt, met ? "MET" : "MISSED");
    putchar('\n');
  }
  fflush(stdout);
}

/* A figure with nothing to compare it with (fault counts, choices made). */
void info(const char *bench, const char *kase, const char *key,
                 double value, const char *unit) {
  if (opt.json)
    printf("{\"bench\":\"%s\",\"case\":\"%s\",\"info\":\"%s\","
           "\"value\":%.6g,\"unit\":\"%s\"}\n",
           bench, kase, key, value, unit);
  else
    printf("%-7s %-22s %-40s %12.3f %s\n", bench, kase, key, value, unit);
  fflush(stdout);
}

/* Page-aligned heap memory. The baselines' buffers are page-aligned: glibc
 * returns large malloc blocks 16 bytes past a page boundary, and on this
 * CPU the kernel's copy into such a buffer runs ~45% slower (measured: read()
 * of cached data 8 GB/s vs 14 GB/s), which would flatter mmf. */
static void *xalloc(size_t n) {
  void *p = NULL;
  if (posix_memalign(&p, 4096, n) != 0)
    die("out of memory (%zu bytes)", n);
  return p;
}

/* ---- the test file ------------------------------------------------------- */

/* The file's bytes repeat every MiB: byte i is pat(i % MiB). */
static unsigned char pat(uint64_t i) {
  uint64_t j = i % MIB;
  return (unsigned char)((j * 131u + (j >> 12) * 7u + (j >> 9)) & 0xff);
}

static unsigned char *pattern; /* two MiB of the pattern, touched */

static uint64_t expected_count(void) {
  uint64_t per_mib = 0, rest = 0, tail = opt.size % MIB;
  for (size_t j = 0; j < MIB; j++) {
    per_mib += pattern[j] == COUNT_BYTE;
    if (j < tail)
      rest += pattern[j] == COUNT_BYTE;
  }
  return per_mib * (opt.size / MIB) + rest;
}

static void write_all(int fd, const void *buf, size_t n, uint64_t off) {
  const char *p = buf;
  while (n) {
    ssize_t w = pwrite(fd, p, n, (off_t)off);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      die("pwrite %s: %s", opt.path, strerror(errno));
    p += w;
    n -= (size_t)w;
    off += (uint64_t)w;
  }
}

static size_t read_all(int fd, void *buf, size_t n, uint64_t off) {
  char *p = buf;
  size_t got = 0;
  while (got < n) {
    ssize_t r = pread(fd, p + got, n - got, (off_t)(off + got));
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      die("pread %s: %s", opt.path, strerror(errno));
    if (r == 0)
      break;
    got += (size_t)r;
  }
  return got;
}

static size_t cache_missing_pages(int fix); /* Linux-only section */

/* Read the whole file twice, untimed, so every method meets settled pages.
 * The first read of a just-written page marks it referenced, the second
 * moves it to the active LRU list (for a file in 4 KiB folios: 262144 list
 * moves). Without this, the second method to read after make_file paid for
 * that and the first did not: 0.72-0.81x against 1.34-1.47x for the same
 * method, by order alone (docs/BENCHMARKS.md, "Hygiene"). */
static void settle_cache(void) {
  int fd = open(opt.path, O_RDONLY | O_CLOEXEC);
  unsigned char *buf = xalloc(BUF_BYTES);
  if (fd < 0)
    die("open %s: %s", opt.path, strerror(errno));
  for (int pass = 0; pass < 2; pass++)
    for (uint64_t off = 0; off < opt.size; off += BUF_BYTES)
      if (read_all(fd, buf, BUF_BYTES, off) == 0)
        break;
  close(fd);
  free(buf);
}

/* The page-cache states scan, reverse and random measure in: folios of the size
 * that `chunk`-byte writes produce. The issue names the first two; 2 MiB
 * folios are what a file read cold from disk is mostly held in here
 * (read_ahead_kb 8192), and the only ones Linux maps with 2 MiB pages. */
enum { KINDS = 3 };
static const struct {
  size_t chunk;
  const char *name, *tag;
} kind[KINDS] = {
    {4 * KIB, "small folios (4 KiB)", "small-folios"},
    {MIB, "large folios (1 MiB)", "large-folios"},
    {2 * MIB, "2 MiB folios", "2MiB-folios"},
};

/* Make a fresh file whose page cache is held in folios of the size that
 * `chunk`-byte writes produce (4 KiB writes: 4 KiB folios; 1 MiB writes:
 * 1 MiB folios; 2 MiB writes at 2 MiB-aligned offsets: 2 MiB folios),
 * synced so no writeback runs during the measurement. The old file is
 * unlinked first: its cached folios must not be reused. */
static void make_file(size_t chunk) {
  int fd;
  uint64_t off;
  unlink(opt.path);
  fd = open(opt.path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    die("create %s: %s", opt.path, strerror(errno));
  for (off = 0; off < opt.size; off += chunk) {
    size_t n = opt.size - off < chunk ? (size_t)(opt.size - off) : chunk;
    write_all(fd, pattern + off % MIB, n, off);
  }
  if (fdatasync(fd) != 0)
    die("fdatasync %s: %s", opt.path, strerror(errno));
  close(fd);
  {
    size_t missing = cache_missing_pages(1);
    if (missing && cache_missing_pages(0))
      note("mmf-bench: warning: %zu pages of the file are not cached\n",
           missing);
  }
  settle_cache();
}

static void sync_file(void) {
  int fd = open(opt.path, O_RDWR | O_CLOEXEC);
  if (fd < 0 || fdatasync(fd) != 0)
    die("fdatasync %s: %s", opt.path, strerror(errno));
  close(fd);
}

/* ---- Linux-only helpers ------------------------------------------------- */

/* Pages of the file not in the page cache (mincore); with `fix`, read each
 * missing page back in with pread (page by page, so the folios already
 * cached are left as they are). */
static size_t cache_missing_pages(int fix) {
  int fd = open(opt.path, O_RDONLY | O_CLOEXEC);
  size_t pages, missing = 0, ps = (size_t)sysconf(_SC_PAGESIZE);
  unsigned char *vec, one[1];
  void *p;
  if (fd < 0)
    die("open %s: %s", opt.path, strerror(errno));
  p = mmap(NULL, (size_t)opt.size, PROT_READ, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED)
    die("mmap %s: %s", opt.path, strerror(errno));
  pages = ((size_t)opt.size + ps - 1) / ps;
  vec = malloc(pages);
  if (!vec || mincore(p, (size_t)opt.size, vec) != 0)
    die("mincore: %s", strerror(errno));
  munmap(p, (size_t)opt.size);
  for (size_t i = 0; i < pages; i++) {
    if (vec[i] & 1)
      continue;
    missing++;
    if (fix && pread(fd, one, 1, (off_t)(i * ps)) != 1)
      die("pread %s: %s", opt.path, strerror(errno));
  }
  free(vec);
  close(fd);
  return missing;
}

/* Minor faults taken by this thread so far. */
static uint64_t thread_minflt(void) {
  struct rusage ru;
  getrusage(RUSAGE_THREAD, &ru);
  return (uint64_t)ru.ru_minflt;
}

/* ... and by every thread of this process, ended ones included (mmf's
 * workers). */
static uint64_t process_minflt(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (uint64_t)ru.ru_minflt;
}

/* Anonymous memory on huge pages (a request; falls back silently) or, with
 * huge == 0, on 4 KiB pages (what a malloc'd buffer gets here, THP being
 * "madvise"), touched now (so a measurement never pays for first touches). */
static void *alloc_touched(size_t n, int huge) {
  void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                 -1, 0);
  if (p == MAP_FAILED)
    die("mmap %zu anonymous bytes: %s", n, strerror(errno));
  madvise(p, n, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
  memset(p, 1, n);
  return p;
}

/* The file's bytes in memory (see alloc_touched), for the in-RAM limits. */
static unsigned char *file_in_ram(int huge) {
  unsigned char *ram = alloc_touched((size_t)opt.size, huge);
  for (uint64_t off = 0; off < opt.size; off += MIB) {
    size_t n = opt.size - off < MIB ? (size_t)(opt.size - off) : MIB;
    memcpy(ram + off, pattern, n);
  }
  return ram;
}

/* Run `fn` in a forked child; return its wall time (measured inside the
 * child, around the work only) and its peak RSS in MiB (ru_maxrss from
 * wait4, so each method's peak is its own). The parent must be small when
 * it forks: the child starts with the parent's resident set. */
typedef double (*child_fn)(void);
static double child_extra; /* a second figure a child may send back */

static double run_in_child(child_fn fn, double *peak_mib, double *extra) {
  int pfd[2], status;
  pid_t pid;
  struct rusage ru;
  double secs = -1, got[2];
  if (pipe(pfd) != 0)
    die("pipe: %s", strerror(errno));
  fflush(NULL);
  pid = fork();
  if (pid < 0)
    die("fork: %s", strerror(errno));
  if (pid == 0) {
    double out[2];
    close(pfd[0]);
    child_extra = 0;
    out[0] = fn();
    out[1] = child_extra;
    if (write(pfd[1], out, sizeof out) != (ssize_t)sizeof out)
      _exit(2);
    _exit(0);
  }
  close(pfd[1]);
  if (read(pfd[0], got, sizeof got) == (ssize_t)sizeof got) {
    secs = got[0];
    if (extra)
      *extra = got[1];
  }
  close(pfd[0]);
  if (wait4(pid, &status, 0, &ru) != pid)
    die("wait4: %s", strerror(errno));
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || secs < 0)
    die("benchmark child failed (status 0x%x)", status);
  if (peak_mib)
    *peak_mib = (double)ru.ru_maxrss / 1024.0; /* KiB on Linux */
  return secs;
}

/* The method to run `mm`-th on repetition `r` of `n` methods: rotated by
 * one each repetition, forward on even and backward on odd repetitions, so
 * that no method always runs first or always right after the same one. */
static int order(int mm, int r, int n) {
  return r % 2 ? ((r - mm) % n + n) % n : (r + mm) % n;
}

/* ---- scan: counting a cached file -------------------------------------- */

static unsigned char *iobuf; /* BUF_BYTES, page-aligned, touched */

/* Baseline: read() loop with 1 MiB buffers and the same counting kernel. */
static uint64_t count_read_loop(unsigned char *buf) {
  int fd = open(opt.path, O_RDONLY | O_CLOEXEC);
  uint64_t total = 0;
  ssize_t r;
  if (fd < 0)
    die("open %s: %s", opt.path, strerror(errno));
  while ((r = read(fd, buf, BUF_BYTES)) != 0) {
    if (r < 0) {
      if (errno == EINTR)
        continue;
      die("read %s: %s", opt.path, strerror(errno));
    }
    total += mmf_memcount(buf, (size_t)r, COUNT_BYTE);
  }
  close(fd);
  return total;
}

/* Each scan runs in a forked child, so mmf_op_count starts from the same
 * process state as in the CLI (one call per process: e.g. its read buffer is
 * a fresh malloc), and no method inherits another's heap or page tables.
 * The parent never calls mmf's walkers itself. The job is set before the
 * fork; the child times only the work and checks the count. */
/* SC_COUNT is what `mmf count` runs (one worker per CPU, each an AUTO
 * walk); SC_AHEAD1 is `mmf count --threads 1 --ahead` (one AUTO walk with
 * its read-ahead thread: what it ran from 2026-11-25, evening, to the next
 * night) and SC_ONE `mmf count --threads 1` (AUTO on one thread).
 * SC_RAMN counts the in-RAM bytes on as many threads as SC_COUNT has
 * workers. */
enum {
  SC_COUNT,
  SC_AHEAD1,
  SC_ONE,
  SC_MAP,
  SC_READ,
  SC_RAM,
  SC_RAMN,
  SC_RAM4K,
  SC_N
};

static struct {
  int method;
  int cpu;               /* send back the CPU seconds, not minor faults */
  /* the workers mmf_op_count runs with `workers` 0 (SC_COUNT passes 0, as
   * `mmf count` does), worked out once; SC_RAMN uses as many threads */
  unsigned workers;
  size_t window;         /* for SC_ONE / SC_COUNT / SC_MAP; 0 = default */
  /* for SC_RAM / SC_RAM4K: the file's bytes in memory on huge / 4 KiB
   * pages */
  const unsigned char *ram[2];
  uint64_t want;
} job;

/* SC_RAMN: part k of n of the in-RAM bytes, counted on its own thread. */
struct ram_part {
  const unsigned char *p;
  size_t n;
  uint64_t count;
};

static void *ram_part_count(void *arg) {
  struct ram_part *r = arg;
  r->count = mmf_memcount(r->p, r->n, COUNT_BYTE);
  return NULL;
}

/* Run fn on each of the n parts (`size` bytes apart from `parts`): part 0
 * on this thread, the others on threads of their own; returns when all are
 * done. */
static void on_threads(void *(*fn)(void *), void *parts, size_t size,
                       unsigned n) {
  pthread_t th[MMF_WINDOW_EACH_MAX];
  for (unsigned k = 1; k < n; k++) {
    int e = pthread_create(&th[k], NULL, fn, (char *)parts + size * k);
    if (e)
      die("pthread_create: %s", strerror(e));
  }
  fn(parts);
  for (unsigned k = 1; k < n; k++) {
    int e = pthread_join(th[k], NULL);
    if (e)
      die("pthread_join: %s", strerror(e));
  }
}

static uint64_t count_ram_threads(const unsigned char *ram, unsigned n) {
  struct ram_part part[MMF_WINDOW_EACH_MAX];
  size_t per = (size_t)opt.size / n;
  uint64_t total = 0;
  for (unsigned k = 0; k < n; k++) {
    part[k].p = ram + per * k;
    part[k].n = k + 1 < n ? per : (size_t)opt.size - per * k;
  }
  on_threads(ram_part_count, part, sizeof part[0], n);
  for (unsigned k = 0; k < n; k++)
    total += part[k].count;
  return total;
}

/* CPU time of the whole process (every thread), in seconds. */
static double cpu_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double scan_child(void) {
  const unsigned char *ram = job.ram[job.method == SC_RAM4K];
  unsigned char *buf = NULL;
  uint64_t c = 0, f0;
  double t0, t, cpu0;
  int rc = 0;
  if (job.method == SC_READ) {
    buf = xalloc(BUF_BYTES);
    memset(buf, 1, BUF_BYTES);
  }
  if (job.method == SC_RAM || job.method == SC_RAMN ||
      job.method == SC_RAM4K) {
    /* The limit is the warm one: a child's first pass over the parent's
     * memory paid for its new page tables (3.5-6 GB/s against 25-31 GB/s
     * after, on this VM), which made the "limit" the slowest method in
     * some repetitions. */
    volatile uint64_t sink = mmf_memcount(ram, (size_t)opt.size, COUNT_BYTE);
    (void)sink;
  }
  f0 = thread_minflt();
  cpu0 = cpu_seconds();
  t0 = now();
  switch (job.method) {
  case SC_COUNT:
  case SC_AHEAD1:
  case SC_ONE:
  case SC_MAP:
    rc = mmf_op_count(opt.path, COUNT_BYTE, job.window,
                      job.method == SC_MAP      ? 0
                      : job.method == SC_AHEAD1 ? MMF_WINDOW_AUTO |
                                                      MMF_WINDOW_AHEAD
                                                : MMF_WINDOW_AUTO,
                      job.method == SC_COUNT ? 0 : 1, &c, NULL, NULL);
    break;
  case SC_RAMN:
    c = count_ram_threads(ram, job.workers);
    break;
  case SC_READ:
    c = count_read_loop(buf);
    break;
  default:
    c = mmf_memcount(ram, (size_t)opt.size, COUNT_BYTE);
    break;
  }
  t = now() - t0;
  child_extra = job.cpu ? cpu_seconds() - cpu0
                        : (double)(thread_minflt() - f0);
  if (rc)
    die_mmf("mmf_op_count", rc);
  if (c != job.want)
    die("scan: method %d counted %" PRIu64 ", expected %" PRIu64, job.method,
        c, job.want);
  return t;
}

/* Run one scan job in a child; return GB/s (and minor faults, or with
 * job.cpu set the CPU seconds). */
static double scan_job(int method, size_t window, double *extra) {
  job.method = method;
  job.window = window;
  return (double)opt.size / run_in_child(scan_child, NULL, extra) / 1e9;
}

/* What the AUTO probe sees: walk the file in mapped windows and in an AUTO
 * walk, recording minor faults per mapped window and whether AUTO switched
 * to the read path. Not timed; run in a child like the scans. */
static size_t probe_window;
static const char *probe_case;

static double probe_child(void) {
  mmf_map *map;
  mmf_window *w;
  void *data;
  size_t len;
  uint64_t f0, faults, windows = 0, sink = 0;
  int rc = mmf_map_open(&map, opt.path, MMF_PROT_READ, 0, 0);
  if (rc)
    die_mmf("mmf_map_open", rc);
  rc = mmf_window_open(&w, map, 0, 0, probe_window, MMF_ACCESS_READ, 0);
  if (rc)
    die_mmf("mmf_window_open", rc);
  f0 = thread_minflt();
  while ((rc = mmf_window_next(w, &data, &len, NULL)) == 1) {
    sink += mmf_memcount(data, len, COUNT_BYTE);
    windows++;
  }
  faults = thread_minflt() - f0;
  if (rc < 0)
    die_mmf("mmf_window_next", rc);
  info("scan", probe_case, "minor faults per mapped window",
       windows ? (double)faults / (double)windows : 0, "faults");
  info("scan", probe_case, "bytes mapped per minor fault",
       (double)opt.size / (double)(faults ? faults : 1) / 1024.0, "KiB");
  mmf_window_close(w);
  rc = mmf_window_open(&w, map, 0, 0, probe_window, MMF_ACCESS_READ,
                       MMF_WINDOW_AUTO);
  if (rc)
    die_mmf("mmf_window_open", rc);
  windows = 0;
  while ((rc = mmf_window_next(w, &data, &len, NULL)) == 1) {
    sink += mmf_memcount(data, len, COUNT_BYTE);
    windows++;
  }
  if (rc < 0)
    die_mmf("mmf_window_next", rc);
  info("scan", probe_case, "AUTO: windows through the read path",
       (double)mmf_window_buffered_count(w), "windows");
  info("scan", probe_case, "AUTO: windows in all", (double)windows,
       "windows");
  mmf_window_close(w);
  mmf_map_close(map);
  return (double)(sink & 1);
}

static void bench_scan(void) {
  series s[KINDS][SC_N], cpu[KINDS][SC_N];
  memset(s, 0, sizeof s);
  memset(cpu, 0, sizeof cpu);
  job.want = expected_count();
  job.cpu = 1;
  job.workers = mmf_window_each_workers(opt.size, 0);
  /* The in-RAM limit: the same bytes, already in huge-page memory; and for
   * information the same on 4 KiB pages, as the page cache is mapped. */
  job.ram[0] = file_in_ram(1);
  job.ram[1] = file_in_ram(0);
  for (int r = 0; r < opt.repeat; r++) {
    for (int kk = 0; kk < KINDS; kk++) {
      int k = (kk + r) % KINDS; /* rotate which kind goes first */
      make_file(kind[k].chunk);
      for (int mm = 0; mm < SC_N; mm++) {
        int m = order(mm, r, SC_N);
        double c = 0;
        add(&s[k][m], scan_job(m, 0, &c));
        add(&cpu[k][m], c);
      }
      note("scan: repetition %d/%d %s: count %.2f, --threads 1 %.2f, one "
           "thread %.2f, mapped %.2f, read() %.2f, in RAM %.2f (%u threads "
           "%.2f, 4 KiB pages %.2f) GB/s\n",
           r + 1, opt.repeat, kind[k].name, s[k][SC_COUNT].v[r],
           s[k][SC_AHEAD1].v[r], s[k][SC_ONE].v[r], s[k][SC_MAP].v[r],
           s[k][SC_READ].v[r], s[k][SC_RAM].v[r], job.workers,
           s[k][SC_RAMN].v[r], s[k][SC_RAM4K].v[r]);
    }
  }
  for (int h = 0; h < 2; h++) {
    munmap((void *)job.ram[h], (size_t)opt.size);
    job.ram[h] = NULL;
  }
  job.cpu = 0;
  for (int k = 0; k < KINDS; k++) {
    char kase[32];
    static const char cnt[] = "mmf count (workers)";
    static const char ah1[] = "count -j1 --ahead";
    static const char one[] = "count --threads 1";
    static const char *const name[] = {cnt, ah1, one};
    double a = median(&s[k][SC_COUNT]);
    double mp = median(&s[k][SC_MAP]);
    double rd = median(&s[k][SC_READ]), ram_gbs = median(&s[k][SC_RAM]);
    double gib = (double)opt.size / (double)GIB;
    char ramn[32];
    snprintf(kase, sizeof kase, "count/%s", kind[k].tag);
    snprintf(ramn, sizeof ramn, "in-RAM, %u threads", job.workers);
    /* (the large-folio targets hold for 2 MiB folios too; the in-RAM
     * limit of the target is the issue's: one thread) */
    report("scan", kase, "GB/s", cnt, a, "read() 1 MiB loop", rd, T_RATIO_GE,
           k ? 1.3 : 0.95);
    report("scan", kase, "GB/s", cnt, a, "in-RAM limit", ram_gbs,
           k ? T_RATIO_GE : T_NONE, 0.8);
    report("scan", kase, "GB/s", cnt, a, ramn, median(&s[k][SC_RAMN]),
           T_NONE, 0);
    report("scan", kase, "GB/s", cnt, a, "in-RAM, 4 KiB pages",
           median(&s[k][SC_RAM4K]), T_NONE, 0);
    /* One worker: with and without its read-ahead thread. */
    for (int m = SC_AHEAD1; m <= SC_ONE; m++) {
      report("scan", kase, "GB/s", name[m], median(&s[k][m]),
             "read() 1 MiB loop", rd, T_NONE, 0);
      report("scan", kase, "GB/s", name[m], median(&s[k][m]), "in-RAM limit",
             ram_gbs, T_NONE, 0);
    }
    report("scan", kase, "GB/s", cnt, a, ah1, median(&s[k][SC_AHEAD1]),
           T_NONE, 0);
    report("scan", kase, "GB/s", "mapped windows (no AUTO)", mp,
           "read() 1 MiB loop", rd, T_NONE, 0);
    /* What the other threads cost: CPU time of all threads per GiB. */
    for (int m = SC_COUNT; m <= SC_ONE; m++)
      report("scan", kase, "ms CPU/GiB", name[m],
             1e3 * median(&cpu[k][m]) / gib, "read() 1 MiB loop",
             1e3 * median(&cpu[k][SC_READ]) / gib, T_NONE, 0);
  }
  for (int k = 0; k < KINDS; k++) {
    char kase[32];
    snprintf(kase, sizeof kase, "probe/%s", kind[k].tag);
    make_file(kind[k].chunk);
    probe_window = 0;
    probe_case = kase;
    run_in_child(probe_child, NULL, NULL);
  }
}

/* ---- window: which window size to default to --------------------------- */

static void bench_window(void) {
  static const size_t chunk[2] = {4 * KIB, MIB};
  enum { NW = 9 };
  series map_s[2][NW], auto_s[2][NW], ahead_s[2][NW], rd[2];
  double faults[2][NW];
  size_t ws[NW];
  memset(map_s, 0, sizeof map_s);
  memset(auto_s, 0, sizeof auto_s);
  memset(ahead_s, 0, sizeof ahead_s);
  memset(rd, 0, sizeof rd);
  memset(faults, 0, sizeof faults);
  job.want = expected_count();
  for (int i = 0; i < NW; i++)
    ws[i] = (256 * KIB) << i; /* 256 KiB .. 64 MiB */
  for (int r = 0; r < opt.repeat; r++) {
    for (int kk = 0; kk < 2; kk++) {
      int k = (kk + r) % 2;
      make_file(chunk[k]);
      /* 3*NW mmf runs + the read loop, rotated. */
      for (int mm = 0; mm < 3 * NW + 1; mm++) {
        int m = order(mm, r * 3, 3 * NW + 1);
        double f = 0;
        if (m == 3 * NW)
          add(&rd[k], scan_job(SC_READ, 0, NULL));
        else if (m < NW) {
          add(&map_s[k][m], scan_job(SC_MAP, ws[m], &f));
          faults[k][m] += f;
        } else if (m < 2 * NW)
          add(&auto_s[k][m - NW], scan_job(SC_ONE, ws[m - NW], NULL));
        else
          add(&ahead_s[k][m - 2 * NW],
              scan_job(SC_AHEAD1, ws[m - 2 * NW], NULL));
      }
      note("window: repetition %d/%d %s folios done\n", r + 1, opt.repeat,
           k ? "large" : "small");
    }
  }
  for (int k = 0; k < 2; k++) {
    double base = median(&rd[k]);
    for (int i = 0; i < NW; i++) {
      char kase[64], name[64];
      size_t nwin = (size_t)((opt.size + ws[i] - 1) / ws[i]);
      snprintf(kase, sizeof kase, "%s/%zuKiB", k ? "large" : "small",
               ws[i] / KIB);
      snprintf(name, sizeof name, "mapped windows %zu KiB", ws[i] / KIB);
      report("window", kase, "GB/s", name, median(&map_s[k][i]),
             "read() 1 MiB loop", base, T_NONE, 0);
      snprintf(name, sizeof name, "AUTO windows %zu KiB", ws[i] / KIB);
      report("window", kase, "GB/s", name, median(&auto_s[k][i]),
             "read() 1 MiB loop", base, T_NONE, 0);
      snprintf(name, sizeof name, "AUTO+AHEAD %zu KiB", ws[i] / KIB);
      report("window", kase, "GB/s", name, median(&ahead_s[k][i]),
             "read() 1 MiB loop", base, T_NONE, 0);
      info("window", kase, "minor faults per mapped window",
           faults[k][i] / opt.repeat / (double)nwin, "faults");
    }
  }
}

/* ---- reverse: 1 GiB in place --------------------------------------------- */

static double rev_mmf(void) {
  uint64_t f0 = process_minflt();
  double t0 = now(), t;
  int rc = mmf_op_reverse(opt.path, 0, 0, 0, NULL, NULL);
  t = now() - t0;
  child_extra = (double)(process_minflt() - f0);
  if (rc)
    die_mmf("mmf_op_reverse", rc);
  return t;
}

/* Baseline: two 1 MiB buffers walking in from both ends, pread + pwrite. */
static double rev_two_buffers(void) {
  unsigned char *a = xalloc(BUF_BYTES), *b = xalloc(BUF_BYTES);
  uint64_t front = 0, back = opt.size;
  double t0;
  int fd;
  memset(a, 1, BUF_BYTES);
  memset(b, 1, BUF_BYTES);
  t0 = now();
  fd = open(opt.path, O_RDWR | O_CLOEXEC);
  if (fd < 0)
    die("open %s: %s", opt.path, strerror(errno));
  while (back - front >= 2) {
    uint64_t half = (back - front) / 2;
    size_t n = half < BUF_BYTES ? (size_t)half : BUF_BYTES;
    if (read_all(fd, a, n, front) != n || read_all(fd, b, n, back - n) != n)
      die("short read from %s", opt.path);
    mmf_memswap_reversed(a, b, n);
    write_all(fd, a, n, front);
    write_all(fd, b, n, back - n);
    front += n;
    back -= n;
  }
  close(fd);
  return now() - t0;
}

/* Baseline: read the whole file, reverse it in memory, write it back. The
 * buffer is touched before timing (first touches are slow on this VM);
 * rev_read_all_cold is the same with a fresh buffer, as a user would run
 * it. */
static double read_all_reverse(unsigned char *buf) {
  double t0 = now();
  int fd = open(opt.path, O_RDWR | O_CLOEXEC);
  if (fd < 0)
    die("open %s: %s", opt.path, strerror(errno));
  if (read_all(fd, buf, (size_t)opt.size, 0) != opt.size)
    die("short read from %s", opt.path);
  mmf_memreverse(buf, (size_t)opt.size);
  write_all(fd, buf, (size_t)opt.size, 0);
  close(fd);
  return now() - t0;
}

static double rev_read_all(void) {
  unsigned char *buf = xalloc((size_t)opt.size);
  memset(buf, 1, (size_t)opt.size);
  return read_all_reverse(buf);
}

static double rev_read_all_cold(void) {
  double t0 = now(); /* the allocation and first touches count here */
  unsigned char *buf = xalloc((size_t)opt.size);
  read_all_reverse(buf);
  return now() - t0;
}

/* The limit: reversing the same bytes already in (touched) memory. */
static double rev_in_ram(void) {
  unsigned char *buf = xalloc((size_t)opt.size);
  double t0;
  memset(buf, 1, (size_t)opt.size);
  t0 = now();
  mmf_memreverse(buf, (size_t)opt.size);
  return now() - t0;
}

/* Floors: what any in-place reverse must at least do, every byte read once
 * and written back once, with nothing swapped (the file stays as it was).
 * If a floor alone is above 0.3x of read-all, no reverse that writes that
 * way can meet the target on this machine; BENCHMARKS.md reads them. */
struct rewrite_part {
  int fd;
  uint64_t off, len;
};

static void *rewrite_part(void *arg) {
  struct rewrite_part *p = arg;
  unsigned char *buf = xalloc(BUF_BYTES);
  memset(buf, 1, BUF_BYTES);
  for (uint64_t o = p->off; o < p->off + p->len; o += BUF_BYTES) {
    size_t n = p->off + p->len - o < BUF_BYTES ? (size_t)(p->off + p->len - o)
                                               : BUF_BYTES;
    if (read_all(p->fd, buf, n, o) != n)
      die("short read from %s", opt.path);
    write_all(p->fd, buf, n, o);
  }
  free(buf);
  return NULL;
}

/* pread + pwrite of every byte, 1 MiB at a time, on `n` threads each over
 * its own contiguous share (buffers touched inside the time: 1 MiB each). */
static double rewrite_threads(unsigned n) {
  struct rewrite_part part[MMF_WINDOW_EACH_MAX];
  uint64_t per = opt.size / n / BUF_BYTES * BUF_BYTES;
  double t0 = now();
  int fd = open(opt.path, O_RDWR | O_CLOEXEC);
  if (fd < 0)
    die("open %s: %s", opt.path, strerror(errno));
  for (unsigned k = 0; k < n; k++) {
    part[k].fd = fd;
    part[k].off = per * k;
    part[k].len = k + 1 < n ? per : opt.size - per * k;
  }
  on_threads(rewrite_part, part, sizeof part[0], n);
  close(fd);
  return now() - t0;
}

static double rev_floor_pwrite1(void) { return rewrite_threads(1); }

static double rev_floor_pwriten(void) {
  return rewrite_threads(mmf_window_each_workers(opt.size, 0));
}

static int no_swap(void *ctx, unsigned worker, void *data, size_t size,
                   uint64_t offset) {
  (void)ctx, (void)worker, (void)data, (void)size, (void)offset;
  return 0;
}

/* Every page made writable through views, as reverse's mapped path gets
 * its windows (mmf_window_each, WRITE | POPULATE, a worker per CPU), and
 * nothing done with them. */
static double rev_floor_views(void) {
  mmf_map *map;
  double t0 = now();
  int rc = mmf_map_open(&map, opt.path, MMF_PROT_READWRITE, 0, 0);
  if (rc)
    die_mmf("mmf_map_open", rc);
  rc = mmf_window_each(map, 0, opt.size, 0,
                       MMF_ACCESS_WRITE | MMF_VIEW_POPULATE, 0, 0, no_swap,
                       NULL);
  if (rc)
    die_mmf("mmf_window_each", rc);
  mmf_map_close(map);
  return now() - t0;
}

/* Check a few bytes: after an odd number of reversals byte i is pat(n-1-i). */
static void check_reversed(int odd) {
  int fd = open(opt.path, O_RDONLY | O_CLOEXEC);
  uint64_t n = opt.size;
  if (fd < 0)
    die("open %s: %s", opt.path, strerror(errno));
  for (int k = 0; k < 64; k++) {
    uint64_t i = (n - 1) * (uint64_t)k / 63;
    unsigned char c;
    if (k % 8 == 1)
      i = n / 2 - 1 + (uint64_t)(k / 8) % 3; /* around the middle */
    if (read_all(fd, &c, 1, i) != 1)
      die("short read from %s", opt.path);
    if (c != pat(odd ? n - 1 - i : i))
      die("reverse: wrong byte at %" PRIu64, i);
  }
  close(fd);
}

enum {
  RV_MMF,
  RV_TWO,
  RV_ALL,
  RV_ALL_COLD,
  RV_RAM,
  RV_FLOOR_PW1, /* the floors leave the file as it was, like RV_RAM */
  RV_FLOOR_PWN,
  RV_FLOOR_VIEWS,
  RV_N
};

static void bench_reverse(void) {
  static const child_fn fn[RV_N] = {
      rev_mmf,          rev_two_buffers,   rev_read_all,
      rev_read_all_cold, rev_in_ram,       rev_floor_pwrite1,
      rev_floor_pwriten, rev_floor_views};
  unsigned workers = mmf_window_each_workers(opt.size, 0);
  series t[KINDS][RV_N], rss[KINDS][RV_N];
  double mmf_faults[KINDS] = {0};
  memset(t, 0, sizeof t);
  memset(rss, 0, sizeof rss);
  for (int r = 0; r < opt.repeat; r++) {
    for (int kk = 0; kk < KINDS; kk++) {
      int k = (kk + r) % KINDS; /* rotate which kind goes first */
      int odd = 0;
      /* cached, clean; overwriting keeps the folios, so every method meets
       * the same kind */
      make_file(kind[k].chunk);
      for (int mm = 0; mm < RV_N; mm++) {
        int m = order(mm, r, RV_N);
        double peak, f = 0, secs = run_in_child(fn[m], &peak, &f);
        if (m == RV_MMF)
          mmf_faults[k] += f;
        if (m < RV_RAM) /* the in-RAM limit and the floors leave it alone */
          odd = !odd;
        check_reversed(odd);
        sync_file(); /* write back outside any measurement */
        add(&t[k][m], secs);
        add(&rss[k][m], peak);
      }
      note("reverse: repetition %d/%d %s: mmf %.3f, two buffers %.3f, "
           "read-all %.3f, read-all fresh %.3f, in RAM %.3f s; floors: "
           "pwrite 1 thread %.3f, %u threads %.3f, views %.3f s\n",
           r + 1, opt.repeat, kind[k].name, t[k][RV_MMF].v[r],
           t[k][RV_TWO].v[r], t[k][RV_ALL].v[r], t[k][RV_ALL_COLD].v[r],
           t[k][RV_RAM].v[r], t[k][RV_FLOOR_PW1].v[r], workers,
           t[k][RV_FLOOR_PWN].v[r], t[k][RV_FLOOR_VIEWS].v[r]);
    }
  }
  for (int k = 0; k < KINDS; k++) {
    char kase[40];
    double mmf = median(&t[k][RV_MMF]), mrss = median(&rss[k][RV_MMF]);
    snprintf(kase, sizeof kase, "reverse/%s", kind[k].tag);
    report("reverse", kase, "s", "mmf_op_reverse", mmf,
           "pread/pwrite 2x1 MiB", median(&t[k][RV_TWO]), T_RATIO_LE, 1.1);
    report("reverse", kase, "s", "mmf_op_reverse", mmf, "read-all/write-all",
           median(&t[k][RV_ALL]), T_RATIO_LE, 0.3);
    report("reverse", kase, "s", "mmf_op_reverse", mmf,
           "read-all, fresh buffer", median(&t[k][RV_ALL_COLD]), T_RATIO_LE,
           0.3);
    report("reverse", kase, "s", "mmf_op_reverse", mmf,
           "in-RAM limit (memreverse)", median(&t[k][RV_RAM]), T_NONE, 0);
    {
      /* The floors against read-all: above 0.3 means that way of writing
       * cannot meet the target here, whatever the reverse does. */
      char pwn[64];
      double all = median(&t[k][RV_ALL]);
      snprintf(pwn, sizeof pwn, "floor pread+pwrite %u threads", workers);
      report("reverse", kase, "s", "floor pread+pwrite 1 thread",
             median(&t[k][RV_FLOOR_PW1]), "read-all/write-all", all, T_NONE,
             0);
      report("reverse", kase, "s", pwn, median(&t[k][RV_FLOOR_PWN]),
             "read-all/write-all", all, T_NONE, 0);
      report("reverse", kase, "s", "floor views made writable",
             median(&t[k][RV_FLOOR_VIEWS]), "read-all/write-all", all,
             T_NONE, 0);
    }
    snprintf(kase, sizeof kase, "reverse-faults/%s", kind[k].tag);
    info("reverse", kase, "mmf_op_reverse: minor faults per MiB",
         mmf_faults[k] / opt.repeat / ((double)opt.size / (double)MIB),
         "faults");
    snprintf(kase, sizeof kase, "reverse-rss/%s", kind[k].tag);
    report("reverse", kase, "MiB", "mmf_op_reverse", mrss,
           "pread/pwrite 2x1 MiB", median(&rss[k][RV_TWO]), T_ABS_LE, 128);
    report("reverse", kase, "MiB", "mmf_op_reverse", mrss,
           "read-all/write-all", median(&rss[k][RV_ALL]), T_ABS_LE, 128);
  }
}

/* ---- random: 4 KiB reads ------------------------------------------------ */

/* Each read is "get 4 KiB and use it": both methods count a byte over the
 * 4 KiB (in place through the view; in the buffer after pread). */
static uint64_t *offsets;
static size_t n_reads;

static uint64_t random_view(void) {
  mmf_map *map;
  mmf_view *v;
  const unsigned char *p;
  uint64_t sum = 0;
  int rc = mmf_map_open(&map, opt.path, MMF_PROT_READ, 0, 0);
  if (rc)
    die_mmf("mmf_map_open", rc);
  rc = mmf_view_map(&v, map, 0, 0, MMF_ACCESS_READ);
  if (rc)
    die_mmf("mmf_view_map", rc);
  p = mmf_view_data(v);
  for (size_t i = 0; i < n_reads; i++)
    sum += mmf_memcount(p + offsets[i], 4 * KIB, COUNT_BYTE);
  mmf_view_unmap(v);
  mmf_map_close(map);
  return sum;
}

static uint64_t random_pread(void) {
  int fd = open(opt.path, O_RDONLY | O_CLOEXEC);
  uint64_t sum = 0;
  if (fd < 0)
    die("open %s: %s", opt.path, strerror(errno));
  for (size_t i = 0; i < n_reads; i++) {
    if (pread(fd, iobuf, 4 * KIB, (off_t)offsets[i]) != (ssize_t)(4 * KIB))
      die("pread %s: %s", opt.path, strerror(errno));
    sum += mmf_memcount(iobuf, 4 * KIB, COUNT_BYTE);
  }
  close(fd);
  return sum;
}

/* The limit: the same reads from the bytes already in (touched) memory. */
static uint64_t random_ram(const unsigned char *ram) {
  uint64_t sum = 0;
  for (size_t i = 0; i < n_reads; i++)
    sum += mmf_memcount(ram + offsets[i], 4 * KIB, COUNT_BYTE);
  return sum;
}

static void bench_random(void) {
  enum { RD_VIEW, RD_PREAD, RD_RAM, RD_RAM4K, RD_N };
  series s[KINDS][RD_N];
  char kase[KINDS][32];
  unsigned char *ram[2]; /* huge pages, 4 KiB pages */
  uint64_t pages = opt.size / (4 * KIB), x = 0x9e3779b97f4a7c15ull;
  memset(s, 0, sizeof s);
  if (pages == 0)
    die("random: --size is below 4 KiB");
  n_reads = (size_t)(opt.size / KIB); /* 1M reads for 1 GiB: ~4 per page */
  offsets = malloc(n_reads * sizeof *offsets);
  if (!offsets)
    die("out of memory");
  for (size_t i = 0; i < n_reads; i++) { /* xorshift64 */
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    offsets[i] = (x % pages) * 4 * KIB;
  }
  ram[0] = file_in_ram(1);
  ram[1] = file_in_ram(0);
  for (int r = 0; r < opt.repeat; r++) {
    for (int kk = 0; kk < KINDS; kk++) {
      int k = (kk + r) % KINDS;
      uint64_t sums[RD_N];
      make_file(kind[k].chunk);
      for (int mm = 0; mm < RD_N; mm++) {
        int m = order(mm, r, RD_N);
        double t0 = now();
        sums[m] = m == RD_VIEW    ? random_view()
                  : m == RD_PREAD ? random_pread()
                                  : random_ram(ram[m == RD_RAM4K]);
        add(&s[k][m], (double)n_reads / (now() - t0) / 1e6);
      }
      for (int m = 1; m < RD_N; m++)
        if (sums[m] != sums[0])
          die("random: view, pread and memory disagree");
      note("random: repetition %d/%d %s: view %.3f, pread %.3f, "
           "in RAM %.3f (4 KiB pages %.3f) M/s\n",
           r + 1, opt.repeat, kind[k].name, s[k][RD_VIEW].v[r],
           s[k][RD_PREAD].v[r], s[k][RD_RAM].v[r], s[k][RD_RAM4K].v[r]);
    }
  }
  for (int h = 0; h < 2; h++)
    munmap(ram[h], (size_t)opt.size);
  free(offsets);
  for (int k = 0; k < KINDS; k++) {
    snprintf(kase[k], sizeof kase[k], "4KiB-reads/%s", kind[k].tag);
    report("random", kase[k], "M/s", "mmf view", median(&s[k][RD_VIEW]),
           "pread", median(&s[k][RD_PREAD]), T_RATIO_GE, 1.8);
  }
  for (int k = 0; k < KINDS; k++) {
    report("random", kase[k], "M/s", "mmf view", median(&s[k][RD_VIEW]),
           "in-RAM limit", median(&s[k][RD_RAM]), T_NONE, 0);
    report("random", kase[k], "M/s", "mmf view", median(&s[k][RD_VIEW]),
           "in-RAM, 4 KiB pages", median(&s[k][RD_RAM4K]), T_NONE, 0);
  }
}

/* ---- main ----------------------------------------------------------------- */

static void bench_channel_run(void) { bench_channel(opt.repeat); }

static const struct {
  const char *name;
  void (*run)(void);
  const char *what;
} benches[] = {
    {"scan", bench_scan,
     "count a byte in a cached file: mmf count (a worker per CPU; also one "
     "worker with and without its read-ahead thread, and plain mapped "
     "windows) vs read() 1 MiB loop vs the in-RAM limit (one thread; also "
     "as many threads as workers), small, 1 MiB and 2 MiB folios; CPU time "
     "per GiB"},
    {"reverse", bench_reverse,
     "reverse a file in place: mmf_op_reverse (a worker per CPU after its "
     "trial) vs two 1 MiB pread/pwrite buffers vs read-all/write-all, small, "
     "1 MiB and 2 MiB folios; time and per-method peak RSS; and the floors "
     "(every byte read and written back once: pread+pwrite on 1 and on a "
     "thread per worker, views made writable)"},
    {"random", bench_random,
     "random 4 KiB reads: through a view vs pread, small, 1 MiB and 2 MiB "
     "folios"},
    {"window", bench_window,
     "scan with windows of 256 KiB .. 64 MiB on small and large folios: "
     "mapped, AUTO, AUTO+AHEAD, one worker each (justifies "
     "MMF_WINDOW_DEFAULT_SIZE and MMF_WINDOW_AHEAD_SIZE)"},
    {"channel", bench_channel_run,
     "two processes on two cores: mmf_chan vs pipe vs Unix socket "
     "(messages/s, MB/s at 64 B and 64 KiB); round trips: busy-poll vs a "
     "bare shared flag, blocking (back to back and with the peer asleep) "
     "vs pipe and socket, spin 0 vs a bare futex (bench_channel.c)"},
};
#define N_BENCHES (sizeof benches / sizeof benches[0])

static uint64_t parse_size(const char *s) {
  char *end;
  unsigned long long v;
  errno = 0;
  v = strtoull(s, &end, 10);
  if (errno || end == s)
    die("bad size \"%s\"", s);
  switch (*end) {
  case 'k': case 'K': v <<= 10; end++; break;
  case 'm': case 'M': v <<= 20; end++; break;
  case 'g': case 'G': v <<= 30; end++; break;
  default: break;
  }
  if (*end == 'i' && end[1] == 'B')
    end += 2;
  if (*end)
    die("bad size \"%s\"", s);
  return v;
}

/* Interrupted (Ctrl-C, a closed pipe): do not leave a 1 GiB file behind. */
static void on_signal(int sig) {
  unlink(opt.path);
  signal(sig, SIG_DFL);
  raise(sig);
}

static void usage(FILE *f) {
  fprintf(f, "usage: mmf-bench --list\n"
             "       mmf-bench [--json] [--size BYTES] [--repeat N] "
             "[--dir DIR] [NAME...]\n"
             "  --size BYTES  test file size (default 1G; K/M/G suffixes)\n"
             "  --repeat N    repetitions, medians reported (default 5)\n"
             "  --dir DIR     where the test file goes (default /var/tmp; "
             "not tmpfs)\n");
}

int main(int argc, char **argv) {
  int selected[N_BENCHES] = {0}, any = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--list")) {
      for (size_t b = 0; b < N_BENCHES; b++)
        printf("%-8s %s\n", benches[b].name, benches[b].what);
      return 0;
    } else if (!strcmp(a, "--json")) {
      opt.json = 1;
    } else if (!strcmp(a, "--size") && i + 1 < argc) {
      opt.size = parse_size(argv[++i]);
    } else if (!strcmp(a, "--repeat") && i + 1 < argc) {
      opt.repeat = atoi(argv[++i]);
    } else if (!strcmp(a, "--dir") && i + 1 < argc) {
      opt.dir = argv[++i];
    } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return 0;
    } else if (a[0] == '-') {
      usage(stderr);
      return 2;
    } else {
      size_t b = 0;
      while (b < N_BENCHES && strcmp(benches[b].name, a))
        b++;
      if (b == N_BENCHES) {
        fprintf(stderr, "mmf-bench: no benchmark \"%s\" (see --list)\n", a);
        return 2;
      }
      selected[b] = any = 1;
    }
  }
  if (opt.repeat < 1 || opt.repeat > MAX_REPEAT)
    die("--repeat must be 1..%d", MAX_REPEAT);
  if (opt.size < 64 * KIB || opt.size % (4 * KIB) || opt.size > SIZE_MAX / 2)
    die("--size must be a multiple of 4 KiB, at least 64 KiB");
  snprintf(opt.path, sizeof opt.path, "%s/mmf-bench-%ld.dat", opt.dir,
           (long)getpid());
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  signal(SIGPIPE, on_signal);

  pattern = xalloc(2 * MIB);
  iobuf = xalloc(BUF_BYTES);
  for (size_t j = 0; j < 2 * MIB; j++)
    pattern[j] = pat(j);
  memset(iobuf, 0, BUF_BYTES);
  if (!opt.json)
    printf("mmf-bench %s: size %" PRIu64 " bytes, %d repetitions (medians), "
           "dir %s\n",
           mmf_version(), opt.size, opt.repeat, opt.dir);
  for (size_t b = 0; b < N_BENCHES; b++)
    if (!any || selected[b])
      benches[b].run();
  unlink(opt.path);
  return 0;
}
