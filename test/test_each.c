/* test_each.c -- mmf_window_each cuts the range into contiguous shares on
 * the 2 MiB grid, one per worker, walks them at the same time on threads
 * of their own and delivers every byte exactly once; stops early when fn
 * says so or a walk fails; refuses bad arguments without calling fn.
 * Portable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "helpers.h"
#include "internal.h" /* mmf__auto_decision */
#include "mmf.h"

#define MIB ((uint64_t)1 << 20)
#define GRID (2 * MIB)
/* Room for six 2 MiB shares, and an odd tail. */
#define FILE_LEN (13 * MIB + 777)
/* Windows a worker may get: the smallest window below is 64 KiB. */
#define MAX_WINDOWS (FILE_LEN / 65536 + 8) /* also > 36 MiB / 1 MiB */

static struct {
  char path[600];
  unsigned char *want; /* the file's bytes */
  mmf_map *map;
} g;

/* What the workers saw. fn must not call cmocka's assertions (they are not
 * for other threads): it records, and the test checks afterwards. */
struct seen {
  uint64_t off[MAX_WINDOWS];
  uint64_t len[MAX_WINDOWS];
  unsigned n;
  int bad; /* a window whose bytes were not the file's, or too many */
};

static struct {
  struct seen w[MMF_WINDOW_EACH_MAX];
  const unsigned char *want;
  /* meet: workers 0 and 1 each wait (a bounded time) in their first window
   * until the other has come to its own, so they overlap in time. */
  int meet;
  atomic_uint arrived[2];
  atomic_uint met;
  /* Worker k (0 or 1) returns stop_value[k], when not 0, from its window
   * number stop_at[k]; with stop_meet, only once the other has entered fn
   * (so that both are in fn before either stops the walk). */
  unsigned stop_at[2];
  int stop_value[2];
  int stop_meet;
  int fill; /* WRITE walks: write byte (offset * 7) into each window */
} run;

/* Wait until *flag is set: 20 s at most (two workers on a loaded CI
 * machine meet within milliseconds). 1 when it was set. */
static int wait_flag(atomic_uint *flag) {
  return th_wait_word(flag, 1, 20000) == 0;
}

static int record(void *ctx, unsigned worker, void *data, size_t size,
                  uint64_t offset) {
  struct seen *s;
  (void)ctx;
  if (worker >= MMF_WINDOW_EACH_MAX)
    return 1000;
  s = &run.w[worker];
  if (s->n >= MAX_WINDOWS) {
    s->bad = 1;
    return 1001;
  }
  s->off[s->n] = offset;
  s->len[s->n] = size;
  if (memcmp(data, run.want + offset, size) != 0)
    s->bad = 1;
  if (run.fill) {
    unsigned char *p = data;
    for (size_t i = 0; i < size; i++)
      p[i] = (unsigned char)((offset + i) * 7);
  }
  if (worker < 2)
    atomic_store(&run.arrived[worker], 1);
  if (run.meet && worker < 2 && s->n == 0 &&
      wait_flag(&run.arrived[1 - worker]))
    atomic_fetch_add(&run.met, 1);
  s->n++;
  if (worker < 2 && run.stop_value[worker] &&
      s->n == run.stop_at[worker] + 1) {
    if (run.stop_meet)
      wait_flag(&run.arrived[1 - worker]);
    return run.stop_value[worker];
  }
  return 0;
}

static void reset_run(void) {
  memset(&run, 0, sizeof run);
  atomic_init(&run.arrived[0], 0);
  atomic_init(&run.arrived[1], 0);
  atomic_init(&run.met, 0);
  run.want = g.want;
}

static int setup(void **state) {
  (void)state;
  snprintf(g.path, sizeof g.path, "%s", th_path("each.bin"));
  g.want = malloc(FILE_LEN);
  assert_non_null(g.want);
  th_fill(g.want, FILE_LEN, 17);
  assert_int_equal(th_write_file(g.path, g.want, FILE_LEN), 0);
  TH_OK(mmf_map_open(&g.map, g.path, MMF_PROT_READ, 0, 0));
  return 0;
}

static int teardown(void **state) {
  (void)state;
  TH_OK(mmf_map_close(g.map));
  free(g.want);
  return 0;
}

/* How many shares mmf.h promises for `workers` over `len` bytes, where
 * this test knows it (workers 0 is only known for short ranges). */
static unsigned shares_for(uint64_t len, unsigned workers) {
  uint64_t most = workers ? len / GRID : len / MMF_WINDOW_EACH_MIN_SHARE;
  unsigned n = workers ? workers : 1;
  if (n > MMF_WINDOW_EACH_MAX)
    n = MMF_WINDOW_EACH_MAX;
  if (most < n)
    n = (unsigned)most;
  return n ? n : 1;
}

/* After a walk that ran to the end: the shares are in worker order, each
 * contiguous, in file order and not empty, their edges on the grid, and
 * together they are exactly [start, end). */
static void check_tiling(uint64_t start, uint64_t end, unsigned workers) {
  unsigned n = shares_for(end - start, workers), k;
  uint64_t at = start;
  assert_int_equal(mmf_window_each_workers(end - start, workers), n);
  for (k = 0; k < MMF_WINDOW_EACH_MAX; k++) {
    struct seen *s = &run.w[k];
    assert_false(s->bad);
    if (k >= n) { /* no worker beyond the promised count */
      assert_int_equal(s->n, 0);
      continue;
    }
    if (end > start) /* every promised share has bytes */
      assert_true(s->n > 0);
    if (k > 0 && s->n > 0)
      assert_int_equal(s->off[0] % GRID, 0);
    for (unsigned i = 0; i < s->n; i++) {
      if (s->off[i] != at)
        print_error("worker %u window %u at %llu, want %llu\n", k, i,
                    (unsigned long long)s->off[i], (unsigned long long)at);
      assert_int_equal(s->off[i], at);
      assert_true(s->len[i] > 0);
      at += s->len[i];
    }
  }
  assert_int_equal(at, end);
}

static void each_delivers_every_byte_once(void **state) {
  static const struct {
    uint64_t start, end; /* end 0: the mapping's end */
  } ranges[] = {{0, 0},
                {777, 0},
                {3 * MIB + 5, 11 * MIB + 1},
                /* two whole 2 MiB cells: 3 workers asked, 2 shares (3
                 * would leave one empty) */
                {0, 4 * MIB + 1}};
  static const unsigned workers[] = {1, 2, 3, 6, 0, 200};
  static const struct {
    unsigned flags;
    size_t window;
  } walks[] = {{0, 0},
               {0, 65536},
               {MMF_WINDOW_AUTO, 0},
               {MMF_WINDOW_AUTO | MMF_WINDOW_AHEAD, 4 << 20},
               {MMF_WINDOW_AHEAD, 1 << 20}};
  (void)state;
  for (size_t r = 0; r < sizeof ranges / sizeof ranges[0]; r++)
    for (size_t wk = 0; wk < sizeof workers / sizeof workers[0]; wk++)
      for (size_t f = 0; f < sizeof walks / sizeof walks[0]; f++) {
        uint64_t end = ranges[r].end ? ranges[r].end : FILE_LEN;
        reset_run();
        TH_OK(mmf_window_each(g.map, ranges[r].start, ranges[r].end,
                              walks[f].window, MMF_ACCESS_READ,
                              walks[f].flags, workers[wk], record, NULL));
        check_tiling(ranges[r].start, end, workers[wk]);
      }
}

/* mmf_window_each_workers for one worker per CPU (the affinity mask, as
 * mmf__os_cpu_count counts it) on ranges long enough for all of them, and
 * for the caps of mmf.h. */
static void each_counts_its_workers(void **state) {
  const uint64_t min_share = MMF_WINDOW_EACH_MIN_SHARE;
  unsigned cpus = mmf__os_cpu_count();
  unsigned all = cpus < MMF_WINDOW_EACH_MAX ? cpus : MMF_WINDOW_EACH_MAX;
  (void)state;
  assert_true(cpus >= 1);
  assert_int_equal(mmf_window_each_workers(all * min_share, 0), all);
  assert_int_equal(mmf_window_each_workers((uint64_t)1 << 50, 0), all);
  /* One per MMF_WINDOW_EACH_MIN_SHARE, at least one. */
  assert_int_equal(mmf_window_each_workers(0, 0), 1);
  assert_int_equal(mmf_window_each_workers(min_share - 1, 0), 1);
  if (cpus >= 2)
    assert_int_equal(mmf_window_each_workers(2 * min_share, 0), 2);
  /* Asked for: one per whole 2 MiB, at most MMF_WINDOW_EACH_MAX. */
  assert_int_equal(mmf_window_each_workers(0, 5), 1);
  assert_int_equal(mmf_window_each_workers(5 * GRID - 1, 5), 4);
  assert_int_equal(mmf_window_each_workers(5 * GRID, 5), 5);
  assert_int_equal(mmf_window_each_workers((uint64_t)1 << 40, 1000),
                   MMF_WINDOW_EACH_MAX);
}

/* The workers run at the same time: worker 0 (the calling thread) and
 * worker 1 each wait in their first window for the other. Run one after
 * the other, the first would wait its whole bound in vain. */
static void each_runs_the_workers_at_once(void **state) {
  (void)state;
  reset_run();
  run.meet = 1;
  TH_OK(mmf_window_each(g.map, 0, 0, 1 << 20, MMF_ACCESS_READ, 0, 2, record,
                        NULL));
  /* Both saw the other arrive in time: run one after the other, the first
   * would have waited in vain (met 1). */
  assert_int_equal(atomic_load(&run.met), 2);
  check_tiling(0, FILE_LEN, 2);
}

/* AUTO decided either way, on every worker: the same bytes, the same
 * shares, and the windows of the path decided. Each of the two shares
 * (18 MiB) outlasts AUTO's probe and trial (about 12 MiB), so windows of
 * both kinds follow: mapped ones are 4 MiB (with AHEAD, mapped by its
 * thread), read ones at most 1 MiB. */
#define AUTO_FILE_LEN (36 * MIB + 5)
static void each_auto_either_way(void **state) {
  static const int decisions[] = {MMF__AUTO_MAP, MMF__AUTO_READ};
  char path[600];
  unsigned char *want = malloc(AUTO_FILE_LEN);
  mmf_map *m;
  (void)state;
  assert_non_null(want);
  th_fill(want, AUTO_FILE_LEN, 23);
  snprintf(path, sizeof path, "%s", th_path("each-auto.bin"));
  assert_int_equal(th_write_file(path, want, AUTO_FILE_LEN), 0);
  TH_OK(mmf_map_open(&m, path, MMF_PROT_READ, 0, 0));
  for (size_t d = 0; d < 2; d++) {
    reset_run();
    run.want = want;
    mmf__auto_decision = decisions[d]; /* the teardown puts it back */
    TH_OK(mmf_window_each(m, 0, 0, 4 << 20, MMF_ACCESS_READ,
                          MMF_WINDOW_AUTO | MMF_WINDOW_AHEAD, 2, record,
                          NULL));
    check_tiling(0, AUTO_FILE_LEN, 2);
    for (unsigned k = 0; k < 2; k++) {
      /* The share's last 4 MiB, well past the trial (whose probe and timed
       * windows are 2 MiB whatever is decided). */
      uint64_t tail = 0, longest = 0;
      for (unsigned i = run.w[k].n; i-- > 0 && tail < 4 * MIB;) {
        tail += run.w[k].len[i];
        if (run.w[k].len[i] > longest)
          longest = run.w[k].len[i];
      }
      if (decisions[d] == MMF__AUTO_MAP)
        assert_int_equal(longest, 4 * MIB);
      else
        assert_true(longest <= MIB);
    }
  }
  TH_OK(mmf_map_close(m));
  free(want);
}

/* Walk the whole file with `workers`, worker k (0, 1) returning value[k]
 * (when not 0) from its window number at[k]; returns mmf_window_each's
 * result. */
static int walk_stopping(unsigned workers, size_t window, unsigned flags,
                         int value0, unsigned at0, int value1, unsigned at1) {
  reset_run();
  run.stop_value[0] = value0;
  run.stop_at[0] = at0;
  run.stop_value[1] = value1;
  run.stop_at[1] = at1;
  run.stop_meet = workers > 1;
  return mmf_window_each(g.map, 0, 0, window, MMF_ACCESS_READ, flags, workers,
                         record, NULL);
}

/* fn's non-zero value stops the walk and is returned: that of the share
 * nearest the start when two stop. Each worker got a prefix of its share,
 * and the one that stopped nothing after its stop. */
static void each_stops_when_fn_says_so(void **state) {
  (void)state;
  /* Worker 1 stops at its third window. */
  assert_int_equal(walk_stopping(3, 65536, 0, 0, 0, 42, 2), 42);
  assert_int_equal(run.w[1].n, 3);
  for (unsigned k = 0; k < 3; k++) {
    assert_false(run.w[k].bad);
    for (unsigned i = 1; i < run.w[k].n; i++)
      assert_int_equal(run.w[k].off[i],
                       run.w[k].off[i - 1] + run.w[k].len[i - 1]);
  }
  /* Both stop at their first window, each once the other is in fn: both
   * shares end with fn's value, and worker 0's, nearer the start, is
   * returned whichever stopped first. */
  assert_int_equal(walk_stopping(2, 65536, 0, 7, 0, 9, 0), 7);
  assert_int_equal(run.w[0].n, 1);
  assert_int_equal(run.w[1].n, 1);
  /* A negative value is returned as it is, too. */
  assert_int_equal(walk_stopping(1, 0, MMF_WINDOW_AUTO, -12345, 1, 0, 0),
                   -12345);
  assert_int_equal(run.w[0].n, 2);
}

/* fn on worker 1 passes on a failed mmf call: the caller gets its code and
 * its detail. A value that is not the worker's last error leaves the
 * caller's detail as it was. */
static int fail_on_worker1(void *ctx, unsigned worker, void *data,
                           size_t size, uint64_t offset) {
  mmf_view *v = NULL;
  (void)data;
  (void)size;
  (void)offset;
  if (worker != 1)
    return 0;
  if (ctx) /* a range past the end of the mapping */
    return mmf_view_map(&v, g.map, FILE_LEN + 1, 1, MMF_ACCESS_READ);
  return 77;
}

static void each_carries_fn_errors_to_the_caller(void **state) {
  char before[600];
  (void)state;
  TH_EXPECT_ERR(mmf_window_each(g.map, 0, 0, 1 << 20, MMF_ACCESS_READ, 0, 2,
                                fail_on_worker1, (void *)1),
                MMF_ERANGE, "mmf_view_map");
  /* The caller's own last failure, then a walk whose fn returns 77. */
  assert_int_equal(mmf_view_map(NULL, g.map, 0, 1, MMF_ACCESS_READ),
                   MMF_EINVAL);
  snprintf(before, sizeof before, "%s", mmf_last_error_message());
  assert_int_equal(mmf_window_each(g.map, 0, 0, 1 << 20, MMF_ACCESS_READ, 0,
                                   2, fail_on_worker1, NULL),
                   77);
  assert_int_equal(mmf_last_error(), MMF_EINVAL);
  assert_string_equal(mmf_last_error_message(), before);
}

/* A worker whose thread cannot start has its share walked on the calling
 * thread, under its own number, after share 0; once the walk has stopped,
 * not at all. The first OS call of the walk is starting worker 1's
 * thread (its malloc): fault injection fails it. */
static int each_with_thread_start_failing(void) {
  char call[64];
  int rc, fired, optional;
  mmf__fault_arm(1);
  rc = mmf_window_each(g.map, 0, 0, 1 << 20, MMF_ACCESS_READ, 0, 2, record,
                       NULL);
  fired = mmf__fault_fired();
  optional = mmf__fault_fired_optional();
  snprintf(call, sizeof call, "%s", mmf__fault_call());
  mmf__fault_arm(0); /* before any assertion can leave it armed */
  assert_string_equal(call, "malloc");
  assert_true(fired);
  assert_true(optional); /* best effort: the walk goes on */
  return rc;
}

static void each_walks_a_failed_workers_share_itself(void **state) {
  (void)state;
  reset_run();
  TH_OK(each_with_thread_start_failing());
  assert_true(run.w[1].n > 0);
  check_tiling(0, FILE_LEN, 2);
  /* Worker 0 stops at its first window: share 1, left to the calling
   * thread, is never walked. */
  reset_run();
  run.stop_value[0] = 42;
  assert_int_equal(each_with_thread_start_failing(), 42);
  assert_int_equal(run.w[0].n, 1);
  assert_int_equal(run.w[1].n, 0);
}

static void each_rejects_bad_arguments(void **state) {
  th_res before = th_res_now();
  (void)state;
  reset_run();
  TH_EXPECT_ERR(mmf_window_each(NULL, 0, 0, 0, MMF_ACCESS_READ, 0, 2, record,
                                NULL),
                MMF_EINVAL, "mmf_window_each");
  TH_EXPECT_ERR(mmf_window_each(g.map, 0, 0, 0, MMF_ACCESS_READ, 0, 2, NULL,
                                NULL),
                MMF_EINVAL, "mmf_window_each");
  TH_EXPECT_ERR(mmf_window_each(g.map, 0, 0, 0, MMF_ACCESS_READ,
                                MMF_WINDOW_BACKWARD, 2, record, NULL),
                MMF_EINVAL, "mmf_window_each");
  TH_EXPECT_ERR(mmf_window_each(g.map, 0, 0, 0, MMF_ACCESS_READ, 0x80, 2,
                                record, NULL),
                MMF_EINVAL, "mmf_window_each");
  TH_EXPECT_ERR(mmf_window_each(g.map, 5 * MIB, 4 * MIB, 0, MMF_ACCESS_READ,
                                0, 2, record, NULL),
                MMF_ERANGE, "mmf_window_each");
  TH_EXPECT_ERR(mmf_window_each(g.map, 0, FILE_LEN + 1, 0, MMF_ACCESS_READ,
                                0, 2, record, NULL),
                MMF_ERANGE, "mmf_window_each");
  /* The mapping is read-only: WRITE windows are wider than it. */
  TH_EXPECT_ERR(mmf_window_each(g.map, 0, 0, 0, MMF_ACCESS_WRITE, 0, 2,
                                record, NULL),
                MMF_EPROT, "mmf_window_each");
  assert_non_null(strstr(mmf_last_error_message(), g.path));
  for (unsigned k = 0; k < MMF_WINDOW_EACH_MAX; k++)
    assert_int_equal(run.w[k].n, 0);
  TH_ASSERT_RES_SAME(before);
  /* An empty range: nothing to do, fn never called. */
  TH_OK(mmf_window_each(g.map, 4096, 4096, 0, MMF_ACCESS_READ, 0, 4, record,
                        NULL));
  assert_int_equal(run.w[0].n, 0);
}

/* WRITE windows of a read-write mapping: every worker's writes reach the
 * file; COPY windows change nothing in it. */
static void each_writes_through_write_windows(void **state) {
  char path[600];
  mmf_map *m;
  unsigned char *want = malloc(FILE_LEN);
  (void)state;
  assert_non_null(want);
  snprintf(path, sizeof path, "%s", th_path("each-rw.bin"));
  assert_int_equal(th_write_file(path, g.want, FILE_LEN), 0);
  TH_OK(mmf_map_open(&m, path, MMF_PROT_READWRITE, 0, 0));
  reset_run();
  run.fill = 1;
  TH_OK(mmf_window_each(m, 0, 0, 1 << 20, MMF_ACCESS_COPY, 0, 3, record,
                        NULL));
  check_tiling(0, FILE_LEN, 3);
  assert_true(th_file_equals(path, g.want, FILE_LEN)); /* nothing reached it */
  reset_run();
  run.fill = 1;
  TH_OK(mmf_window_each(m, 100, FILE_LEN - 100, 1 << 20, MMF_ACCESS_WRITE, 0,
                        4, record, NULL));
  check_tiling(100, FILE_LEN - 100, 4);
  TH_OK(mmf_map_close(m));
  memcpy(want, g.want, FILE_LEN);
  for (size_t i = 100; i < FILE_LEN - 100; i++)
    want[i] = (unsigned char)(i * 7);
  assert_true(th_file_equals(path, want, FILE_LEN));
  free(want);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(each_delivers_every_byte_once),
      cmocka_unit_test(each_counts_its_workers),
      cmocka_unit_test(each_runs_the_workers_at_once),
      cmocka_unit_test_teardown(each_auto_either_way, th_restore_walk_hooks),
      cmocka_unit_test(each_stops_when_fn_says_so),
      cmocka_unit_test(each_carries_fn_errors_to_the_caller),
      cmocka_unit_test(each_walks_a_failed_workers_share_itself),
      cmocka_unit_test(each_rejects_bad_arguments),
      cmocka_unit_test(each_writes_through_write_windows),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
