/* test_fault.c -- every OS call an operation makes is made to fail in turn
 * (mmf__fault_arm(n) for n = 1, 2, ... until no fault fires). Each failure
 * must come back as a documented MMF_E* code with a message naming the API
 * call and the file, and must leave nothing behind: no open file, no
 * mapping, no file the operation created, no change to an existing file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "helpers.h"
#include "internal.h" /* mmf__fault_arm, mmf__fault_fired, mmf__fault_call */
#include "mmf.h"
#include "ops.h" /* mmf_op_reverse */

/* ---- documented error lists (from mmf.h), 0-terminated ------------------*/

static const int map_open_codes[] = {
    MMF_EINVAL, MMF_ENOENT, MMF_EEXIST,       MMF_EACCES, MMF_EISDIR,
    MMF_EEMPTY, MMF_ERANGE, MMF_ENOSPC,       MMF_EFBIG,  MMF_ENAMETOOLONG,
    MMF_EMFILE, MMF_ENOMEM, MMF_EIO,          MMF_EOS,    MMF_ENOTSUP, 0};
static const int from_native_codes[] = {
    MMF_EINVAL, MMF_EBADF,  MMF_EISDIR, MMF_ENOTSUP, MMF_EEMPTY,
    MMF_ERANGE, MMF_ENOSPC, MMF_EFBIG,  MMF_EIO,     MMF_EMFILE,
    MMF_ENOMEM, MMF_EOS,    0};
/* mmf_view_map, plus what MMF_VIEW_POPULATE adds. */
static const int view_map_codes[] = {
    MMF_EINVAL, MMF_ERANGE, MMF_EOVERFLOW, MMF_EPROT, MMF_ENOMEM,
    MMF_EACCES, MMF_EPERM,  MMF_EOS,       MMF_ENOSPC, MMF_EIO, 0};
static const int flush_codes[] = {MMF_EINVAL, MMF_ERANGE, MMF_EOVERFLOW,
                                  MMF_EIO,    MMF_ENOSPC, MMF_EOS, 0};
static const int map_read_codes[] = {MMF_EINVAL, MMF_EOVERFLOW, MMF_EIO,
                                     MMF_EOS, 0};
static const int map_write_codes[] = {MMF_EINVAL,    MMF_EPROT,  MMF_ERANGE,
                                      MMF_EOVERFLOW, MMF_ENOSPC, MMF_EIO,
                                      MMF_EOS,       0};
static const int map_sync_codes[] = {MMF_EINVAL, MMF_EIO, MMF_ENOSPC,
                                     MMF_EOS, 0};
/* mmf_window_next: those of mmf_view_map() and mmf_map_read(), and the
 * unmapping of the previous window. */
static const int window_codes[] = {
    MMF_EINVAL, MMF_ERANGE, MMF_EOVERFLOW, MMF_EPROT, MMF_ENOMEM, MMF_EACCES,
    MMF_EPERM,  MMF_EOS,    MMF_ENOSPC,    MMF_EIO,   0};
/* mmf_view_unmap / mmf_map_close: "the error of unmapping / closing". */
static const int release_codes[] = {MMF_EINVAL, MMF_EIO, MMF_EOS, 0};

/* ---- the driver ------------------------------------------------------------
 * An operation is set up (files, mappings it needs), then run once per
 * armed fault. After a failure `after_failure` checks and releases what the
 * operation itself does not own; after a success `after_success` releases
 * what it made. What is open and mapped must then match the snapshot taken
 * before the setup (`released`) or after it (`prepared`). */

struct fault_op {
  const char *name;
  const char *apis[4];  /* the message must name one of these */
  const int *codes;
  unsigned min_faults;  /* OS calls the operation makes */
  void (*setup)(void);
  int (*run)(void);
  void (*after_failure)(void);
  void (*after_success)(void);
  void (*teardown)(void);
  /* 1 when a fault in this call may be absorbed (advice is a hint). */
  int (*may_absorb)(const char *call);
  const char *(*path)(void); /* what the message must name */
  /* 1 when the operation frees what the setup made even when it fails
   * (unmap, close): then nothing of it may be left after a failure. */
  int frees_setup;
};

static void run_fault_loop(const struct fault_op *op) {
  unsigned faults = 0, undocumented = 0;
  char calls[512] = "";
  for (unsigned long n = 1;; n++) {
    th_res before = th_res_now(), ready;
    char known[600];
    int rc, fired, optional;
    const char *call;
    if (op->setup)
      op->setup();
    ready = th_res_now();
    /* A known record: a call that succeeds must leave it as it is, even
     * when a fault it absorbed fired inside (a hint, a best-effort step). */
    assert_int_equal(mmf_view_map(NULL, NULL, 0, 1, MMF_ACCESS_READ),
                     MMF_EINVAL);
    snprintf(known, sizeof known, "%s", mmf_last_error_message());
    mmf__fault_arm(n);
    rc = op->run();
    fired = mmf__fault_fired();
    optional = mmf__fault_fired_optional();
    call = mmf__fault_call();
    mmf__fault_arm(0);
    if (!fired) {
      /* Past the last OS call: the operation must simply work. */
      if (rc != 0)
        print_error("%s without a fault: %s\n", op->name,
                    mmf_last_error_message());
      assert_int_equal(rc, 0);
      if (op->after_success)
        op->after_success();
      if (op->teardown)
        op->teardown();
      TH_ASSERT_RES_SAME(before);
      break;
    }
    faults++;
    /* A best-effort step's failure must not fail the operation. */
    if (optional && rc != 0)
      print_error("%s: fault #%lu in best-effort %s failed the call: %s\n",
                  op->name, n, call, mmf_last_error_message());
    assert_true(!optional || rc == 0);
    if (strlen(calls) + strlen(call) + 2 < sizeof calls) {
      strcat(calls, " ");
      strcat(calls, call);
    }
    if (rc == 0) {
      /* Only a hint, or a best-effort step (mmf__best_effort_begin), may
       * fail without failing the operation. */
      int absorbed = optional || (op->may_absorb && op->may_absorb(call));
      if (!absorbed)
        print_error("%s: fault #%lu in %s was ignored\n", op->name, n, call);
      assert_true(absorbed);
      if (strcmp(mmf_last_error_message(), known) != 0)
        print_error("%s: fault #%lu in %s was absorbed but left \"%s\"\n",
                    op->name, n, call, mmf_last_error_message());
      assert_string_equal(mmf_last_error_message(), known);
      if (op->after_success)
        op->after_success();
    } else {
      const char *msg = mmf_last_error_message();
      int named = 0;
      assert_true(rc < 0);
      if (!th_code_in(rc, op->codes)) {
        /* Reported, and failed at the end, so one run lists them all. */
        print_error("%s: fault #%lu in %s gave %d (%s), not a documented "
                    "code; message: %s\n",
                    op->name, n, call, rc, mmf_err_name(rc), msg);
        undocumented++;
      }
      if (getenv("TH_VERBOSE"))
        print_message("  #%lu %s -> %s: %s\n", n, call, mmf_err_name(rc),
                      msg);
      assert_int_equal(mmf_last_error(), rc);
      assert_true(msg[0] != '\0');
      for (int i = 0; i < 4 && op->apis[i]; i++)
        named |= strstr(msg, op->apis[i]) != NULL;
      if (!named || (op->path && !strstr(msg, op->path())))
        print_error("%s: fault #%lu in %s: message \"%s\" does not name the "
                    "call and the file\n",
                    op->name, n, call, msg);
      assert_true(named);
      if (op->path)
        assert_non_null(strstr(msg, op->path()));
      if (op->after_failure)
        op->after_failure();
      /* Nothing new is left open or mapped by the failed operation. */
      if (op->frees_setup)
        TH_ASSERT_RES_SAME(before);
      else
        TH_ASSERT_RES_SAME(ready);
    }
    if (op->teardown)
      op->teardown();
    TH_ASSERT_RES_SAME(before);
  }
  print_message("%s: %u faults:%s\n", op->name, faults, calls);
  if (faults < op->min_faults)
    print_error("%s: only %u faults fired, want %u\n", op->name, faults,
                op->min_faults);
  assert_true(faults >= op->min_faults);
  assert_int_equal(undocumented, 0);
}

/* ---- shared state of the operations ---------------------------------------*/

/* Sizes in units of 64 KiB, the largest allocation granularity (Windows),
 * so a walk of 64 KiB windows has 5 windows on every OS. */
#define WINDOW 65536
#define FILE_LEN (4 * WINDOW + 5)
#define GROWN (6 * WINDOW + 5)

static struct {
  const char *path;
  mmf_map *map;
  mmf_view *view;
  intptr_t fd; /* a native file: descriptor or HANDLE */
  unsigned char *want; /* the file's content before the operation */
} g;

static const char *g_path(void) { return g.path; }

static unsigned char *big_want; /* see setup_big_map */

static void make_file(void) {
  g.path = th_path("fault");
  if (!g.want || g.want == big_want) { /* never write into the big file's */
    g.want = malloc(FILE_LEN);
    assert_non_null(g.want);
  }
  th_fill(g.want, FILE_LEN, 5);
  assert_int_equal(th_write_file(g.path, g.want, FILE_LEN), 0);
}

static void file_unchanged(void) {
  assert_true(th_file_equals(g.path, g.want, FILE_LEN));
}

static void remove_file(void) { assert_int_equal(th_remove(g.path), 0); }

static void close_map(void) {
  TH_OK(mmf_map_close(g.map));
  g.map = NULL;
}

static void close_map_and_remove(void) {
  close_map();
  remove_file();
}

/* ---- mmf_map_open ---------------------------------------------------------*/

static void setup_absent(void) {
  g.path = th_path("fault-created");
  assert_false(th_exists(g.path));
}

static int run_open_create_extend(void) {
  g.map = (mmf_map *)&g;
  return mmf_map_open(&g.map, g.path, MMF_PROT_READWRITE,
                      MMF_OPEN_CREATE | MMF_OPEN_EXCL, GROWN);
}

static void created_file_gone(void) {
  assert_null(g.map);
  assert_false(th_exists(g.path));
}

static void open_create_and_extend_fails_cleanly(void **state) {
  const struct fault_op op = {
      .name = "mmf_map_open(CREATE|EXCL, extend)",
      .apis = {"mmf_map_open"},
      .codes = map_open_codes,
      .min_faults = 4, /* open, fstat, fstat, posix_fallocate */
      .setup = setup_absent,
      .run = run_open_create_extend,
      .after_failure = created_file_gone,
      .after_success = close_map_and_remove,
      .path = g_path};
  (void)state;
  run_fault_loop(&op);
}

static int run_open_create_existing_extend(void) {
  g.map = (mmf_map *)&g;
  /* CREATE without EXCL on an existing file: it must not be removed. */
  return mmf_map_open(&g.map, g.path, MMF_PROT_READWRITE, MMF_OPEN_CREATE,
                      GROWN);
}

static void existing_file_intact(void) {
  assert_null(g.map);
  file_unchanged();
}

static void open_existing_with_extension_fails_cleanly(void **state) {
  const struct fault_op op = {
      .name = "mmf_map_open(existing, CREATE, extend)",
      .apis = {"mmf_map_open"},
      .codes = map_open_codes,
      .min_faults = 5, /* open, open, fstat, fstat, posix_fallocate */
      .setup = make_file,
      .run = run_open_create_existing_extend,
      .after_failure = existing_file_intact,
      .after_success = close_map,
      .teardown = remove_file,
      .path = g_path};
  (void)state;
  run_fault_loop(&op);
}

static int run_open_existing(void) {
  g.map = (mmf_map *)&g;
  return mmf_map_open(&g.map, g.path, MMF_PROT_READ, 0, 0);
}

static void open_existing_fails_cleanly(void **state) {
  const struct fault_op op = {.name = "mmf_map_open(existing)",
                              .apis = {"mmf_map_open"},
                              .codes = map_open_codes,
                              .min_faults = 3, /* open, fstat, fstat */
                              .setup = make_file,
                              .run = run_open_existing,
                              .after_failure = existing_file_intact,
                              .after_success = close_map,
                              .teardown = remove_file,
                              .path = g_path};
  (void)state;
  run_fault_loop(&op);
}

/* ---- mmf_map_from_native ---------------------------------------------------
 * A descriptor on POSIX, a HANDLE on Windows (th_native_open). */

static char native_name[48];
static const char *native_path(void) { return native_name; }

static void setup_native(void) {
  make_file();
  g.fd = th_native_open(g.path, 1);
  assert_true(g.fd != -1);
  snprintf(native_name, sizeof native_name, "<native file %lld>",
           (long long)g.fd);
}

static int run_from_native(void) {
  g.map = (mmf_map *)&g;
  return mmf_map_from_native(&g.map, g.fd, MMF_PROT_READWRITE, GROWN);
}

static void native_intact(void) {
  assert_null(g.map);
  file_unchanged();
  /* The caller's descriptor is still open and still theirs. */
  assert_true(th_native_is_open(g.fd));
}

static void teardown_native(void) {
  assert_int_equal(th_native_close(g.fd), 0);
  remove_file();
}

static void from_native_fails_cleanly(void **state) {
  const struct fault_op op = {
      .name = "mmf_map_from_native(extend)",
      .apis = {"mmf_map_from_native"},
      .codes = from_native_codes,
      /* fcntl, fstat, fcntl(dup), fstat, fstat, posix_fallocate */
      .min_faults = 5, /* fcntl, fstat, fcntl, fstat, posix_fallocate */
      .setup = setup_native,
      .run = run_from_native,
      .after_failure = native_intact,
      .after_success = close_map,
      .teardown = teardown_native,
      .path = native_path};
  (void)state;
  run_fault_loop(&op);
}

/* ---- mmf_view_map with options ---------------------------------------------*/

static void setup_map_rw(void) {
  make_file();
  TH_OK(mmf_map_open(&g.map, g.path, MMF_PROT_READWRITE, 0, 0));
}

static void teardown_map(void) {
  close_map();
  remove_file();
}

static unsigned view_access;

static int run_view_map(void) {
  g.view = (mmf_view *)&g;
  return mmf_view_map(&g.view, g.map, 4097, 0, view_access);
}

static void view_left_null(void) { assert_null(g.view); }

static void unmap_view(void) {
  assert_memory_equal(mmf_view_data(g.view), g.want + 4097, FILE_LEN - 4097);
  TH_OK(mmf_view_unmap(g.view));
  g.view = NULL;
}

/* Advice and prefetching are hints: madvise on POSIX; on Windows
 * PrefetchVirtualMemory (WILLNEED, POPULATE). */
static int madvise_is_a_hint(const char *call) {
  return strcmp(call, "madvise") == 0 ||
         strcmp(call, "PrefetchVirtualMemory") == 0;
}

static void view_map_with_options_fails_cleanly(void **state) {
  struct fault_op op = {.name = "mmf_view_map(WRITE|LOCK|POPULATE|HUGE)",
                        .apis = {"mmf_view_map"},
                        .codes = view_map_codes,
                        /* mmap, madvise(POPULATE_WRITE), madvise(HUGEPAGE),
                         * mlock; on Windows MapViewOfFile,
                         * PrefetchVirtualMemory, VirtualLock (huge pages do
                         * not exist for file views there: no call) */
                        .min_faults = th_is_windows() ? 3 : 4,
                        .setup = setup_map_rw,
                        .run = run_view_map,
                        .after_failure = view_left_null,
                        .after_success = unmap_view,
                        .teardown = teardown_map,
                        .may_absorb = madvise_is_a_hint,
                        .path = g_path};
  (void)state;
  view_access =
      MMF_ACCESS_WRITE | MMF_VIEW_LOCK | MMF_VIEW_POPULATE | MMF_VIEW_HUGE;
  run_fault_loop(&op);

  op.name = "mmf_view_map(READ|LOCK|POPULATE|HUGE|SEQUENTIAL|WILLNEED)";
  /* mmap(MAP_POPULATE), madvise x3, mlock; on Windows MapViewOfFile,
   * PrefetchVirtualMemory x2, VirtualLock (SEQUENTIAL has no call) */
  op.min_faults = th_is_windows() ? 4 : 5;
  view_access = MMF_ACCESS_READ | MMF_VIEW_LOCK | MMF_VIEW_POPULATE |
                MMF_VIEW_HUGE | MMF_VIEW_SEQUENTIAL | MMF_VIEW_WILLNEED;
  run_fault_loop(&op);

  op.name = "mmf_view_map(COPY|LOCK|RANDOM)";
  /* mmap, madvise, mlock; on Windows MapViewOfFile, VirtualLock (RANDOM
   * has no Windows equivalent: no call) */
  op.min_faults = th_is_windows() ? 2 : 3;
  view_access = MMF_ACCESS_COPY | MMF_VIEW_LOCK | MMF_VIEW_RANDOM;
  run_fault_loop(&op);
}

/* ---- mmf_view_flush DURABLE ------------------------------------------------*/

static void setup_dirty_view(void) {
  setup_map_rw();
  TH_OK(mmf_view_map(&g.view, g.map, 3, 0, MMF_ACCESS_WRITE));
  memset((unsigned char *)mmf_view_data(g.view) + 100, 0xA5, 5000);
  memset(g.want + 103, 0xA5, 5000);
}

static void teardown_view_and_map(void) {
  TH_OK(mmf_view_unmap(g.view));
  g.view = NULL;
  teardown_map();
}

static int run_flush_durable(void) {
  return mmf_view_flush(g.view, 100, 5000, MMF_FLUSH_DURABLE);
}

static void flushed_data_in_file(void) { file_unchanged(); }

static void view_flush_durable_fails_cleanly(void **state) {
  const struct fault_op op = {.name = "mmf_view_flush(DURABLE)",
                              .apis = {"mmf_view_flush"},
                              .codes = flush_codes,
                              .min_faults = 2, /* msync, fdatasync */
                              .setup = setup_dirty_view,
                              .run = run_flush_durable,
                              .after_success = flushed_data_in_file,
                              .teardown = teardown_view_and_map,
                              .path = g_path};
  (void)state;
  run_fault_loop(&op);
}

/* ---- mmf_map_read / mmf_map_write / mmf_map_sync ---------------------------*/

static unsigned char io_buf[FILE_LEN];

static int run_map_read(void) {
  size_t got = 1;
  int rc = mmf_map_read(g.map, 1, io_buf, FILE_LEN - 1, &got);
  if (rc == 0)
    assert_int_equal(got, FILE_LEN - 1);
  return rc;
}

static void read_got_file(void) {
  assert_memory_equal(io_buf, g.want + 1, FILE_LEN - 1);
}

static void map_read_fails_cleanly(void **state) {
  const struct fault_op op = {.name = "mmf_map_read",
                              .apis = {"mmf_map_read"},
                              .codes = map_read_codes,
                              .min_faults = 1, /* pread */
                              .setup = setup_map_rw,
                              .run = run_map_read,
                              .after_success = read_got_file,
                              .teardown = teardown_map,
                              .path = g_path};
  (void)state;
  run_fault_loop(&op);
}

static int run_map_write(void) {
  th_fill(io_buf, 6000, 6);
  return mmf_map_write(g.map, 4095, io_buf, 6000);
}

static void written_to_file(void) {
  memcpy(g.want + 4095, io_buf, 6000);
  file_unchanged();
}

static void map_write_fails_cleanly(void **state) {
  const struct fault_op op = {.name = "mmf_map_write",
                              .apis = {"mmf_map_write"},
                              .codes = map_write_codes,
                              .min_faults = 1, /* pwrite */
                              .setup = setup_map_rw,
                              .run = run_map_write,
                              .after_success = written_to_file,
                              .teardown = teardown_map,
                              .path = g_path};
  (void)state;
  run_fault_loop(&op);
}

static int run_map_sync(void) { return mmf_map_sync(g.map); }

static void map_sync_fails_cleanly(void **state) {
  const struct fault_op op = {.name = "mmf_map_sync",
                              .apis = {"mmf_map_sync"},
                              .codes = map_sync_codes,
                              .min_faults = 1, /* fdatasync */
                              .setup = setup_map_rw,
                              .run = run_map_sync,
                              .teardown = teardown_map,
                              .path = g_path};
  (void)state;
  run_fault_loop(&op);
}

/* ---- a full window walk ------------------------------------------------------
 * A failing mmf_window_next reports the error of the view call it made
 * (mmf.h: "those of mmf_view_map() and mmf_map_read()"), so the message may
 * name that call. */

static unsigned walk_access, walk_flags;
static size_t walk_window;
static uint64_t walk_seen;

static int run_walk(void) {
  mmf_window *w;
  void *data;
  size_t size;
  uint64_t off;
  int rc;
  walk_seen = 0;
  rc = mmf_window_open(&w, g.map, 0, 0, walk_window, walk_access, walk_flags);
  if (rc)
    return rc;
  while ((rc = mmf_window_next(w, &data, &size, &off)) == 1) {
    assert_memory_equal(data, g.want + off, size);
    walk_seen += size;
  }
  if (rc < 0) {
    char msg[600];
    /* Closing must not replace the walk's error detail... */
    snprintf(msg, sizeof msg, "%s", mmf_last_error_message());
    TH_OK(mmf_window_close(w));
    assert_string_equal(mmf_last_error_message(), msg);
    return rc;
  }
  /* Closing frees the read buffer of an AUTO walk: an OS call too. */
  return mmf_window_close(w);
}

static void walked_everything(void) { assert_int_equal(walk_seen, FILE_LEN); }

static void window_walk_fails_cleanly(void **state) {
  struct fault_op op = {
      .name = "window walk (WRITE, backward, 5 windows)",
      .apis = {"mmf_window_next", "mmf_view_map", "mmf_view_unmap"},
      .codes = window_codes,
      /* Linux: a span (mmap, munmap) and a DONTNEED per window; Windows:
       * a view per window (map, unmap) */
      .min_faults = 7,
      .setup = setup_map_rw,
      .run = run_walk,
      .after_success = walked_everything,
      .teardown = teardown_map,
      .path = g_path};
  (void)state;
  walk_access = MMF_ACCESS_WRITE;
  walk_flags = MMF_WINDOW_BACKWARD;
  walk_window = WINDOW;
  run_fault_loop(&op);

  /* Spans two windows long: a new one for windows 1, 3 and 5 (Linux:
   * 3 x (mmap, munmap), 5 x (populate, DONTNEED); Windows: 5 x (map,
   * prefetch, unmap)). */
  op.name = "window walk (WRITE|POPULATE, forward, spans of 2 windows)";
  op.min_faults = th_is_windows() ? 15 : 16;
  walk_access = MMF_ACCESS_WRITE | MMF_VIEW_POPULATE;
  walk_flags = 0;
  mmf__window_span_max = 2 * WINDOW;
  run_fault_loop(&op);
  mmf__window_span_max = MMF_WINDOW_SPAN_MAX;

  /* WILLNEED is for a whole view: a view per window. */
  op.name = "window walk (READ|POPULATE|WILLNEED, forward, 5 windows)";
  op.min_faults = 15; /* 5 x (mmap, madvise, munmap) */
  op.may_absorb = madvise_is_a_hint;
  walk_access = MMF_ACCESS_READ | MMF_VIEW_POPULATE | MMF_VIEW_WILLNEED;
  run_fault_loop(&op);
}

/* AUTO walks may switch to the read path: then pread faults too. */
/* Long enough for an AUTO walk with 4 MiB windows to finish its probe and
 * trial (about 12 MiB: 2 mapped, 1 read to warm the buffer up, two rounds
 * of 2 mapped and 2 read, reads back to the 2 MiB grid) and then map at
 * least two 4 MiB windows, so that AUTO|AHEAD starts its thread. */
#define AUTO_LEN (20u << 20)

/* The file is written once (big_want): the walks only read it. (Rewriting
 * 20 MiB for every armed fault made this program take 10 s instead of 3.)
 * g.want points at it while a big case runs; a case that fails midway
 * skips its teardown, so make_file and teardown_group check for that. */

/* The big cases' bytes, made on first use: 1 then, else 0. */
static int make_big_want(void) {
  if (big_want)
    return 0;
  big_want = malloc(AUTO_LEN);
  assert_non_null(big_want);
  th_fill(big_want, AUTO_LEN, 9);
  return 1;
}

static void setup_big_map(void) {
  g.path = th_path("fault-auto");
  if (make_big_want())
    assert_int_equal(th_write_file(g.path, big_want, AUTO_LEN), 0);
  if (g.want != big_want)
    free(g.want); /* make_file's, made again when needed */
  g.want = big_want;
  TH_OK(mmf_map_open(&g.map, g.path, MMF_PROT_READ, 0, 0));
}

static void teardown_big_map(void) {
  close_map();
  g.want = NULL;
}

static void walked_big(void) { assert_int_equal(walk_seen, AUTO_LEN); }

/* AUTO walks, one per cmocka state: with 1 MiB windows (the read path from
 * the start), and with default windows (the probe, the trial of mapped and
 * read pieces with its buffer, then whichever path wins; which one wins is
 * timed, so the calls may differ from run to run, and every failure must
 * still be clean). */
struct auto_case {
  const char *name;
  size_t window;
  unsigned flags;
  unsigned min_faults;
};

static const struct auto_case auto_read_path = {
    "window walk (AUTO, 1 MiB windows)", 1 << 20, MMF_WINDOW_AUTO,
    2 /* the buffer's alloc and free at least */};
static const struct auto_case auto_trial = {
    "window walk (AUTO, default windows: probe and trial)", 0,
    MMF_WINDOW_AUTO,
    4 /* the probe's mmap and munmap, the buffer's alloc and free */};
/* With the read-ahead thread, OS calls happen on two threads, in an order
 * that varies; the armed fault hits the Nth of either. Starting the thread
 * is best effort (the walk goes on without it); a failure on the thread is
 * reported by the caller's next call, or by mmf_window_close. */
static const struct auto_case ahead_mapped = {
    "window walk (AHEAD, 1 MiB windows)", 1 << 20, MMF_WINDOW_AHEAD,
    2 * (AUTO_LEN >> 20) /* mmap and munmap per window */};
/* 4 MiB windows: AHEAD's default size is larger than AUTO_LEN, and the
 * thread only starts with more than one window left. */
static const struct auto_case ahead_trial = {
    "window walk (AUTO|AHEAD, 4 MiB windows: probe, trial, thread)",
    MMF_WINDOW_DEFAULT_SIZE, MMF_WINDOW_AUTO | MMF_WINDOW_AHEAD,
    4 /* the probe's mmap and munmap, the buffer's alloc and free */};

static void auto_window_walk_fails_cleanly(void **state) {
  const struct auto_case *c = *state;
  const struct fault_op op = {
      .name = c->name,
      .apis = {"mmf_window_next", "mmf_view_map", "mmf_view_unmap",
               "mmf_window_close"},
      .codes = window_codes,
      .min_faults = c->min_faults,
      .setup = setup_big_map,
      .run = run_walk,
      .after_success = walked_big,
      .teardown = teardown_big_map,
      .path = g_path};
  walk_access = MMF_ACCESS_READ;
  walk_flags = c->flags;
  walk_window = c->window;
  run_fault_loop(&op);
}

/* ---- mmf_window_each ---------------------------------------------------------
 * Several walks at once, on threads of their own. A fault may hit any of
 * them, in an order that varies, or the start of a worker's thread (best
 * effort: its share is then walked on the calling thread). A walk's failure
 * comes back on the calling thread with its detail. The callback checks the
 * bytes on whichever thread runs it and tallies them per worker; it answers
 * a wrong byte with 1, which fails the loop (not an MMF_E* code). */

static uint64_t each_seen[MMF_WINDOW_EACH_MAX];
static unsigned each_workers;

static int each_check(void *ctx, unsigned worker, void *data, size_t size,
                      uint64_t offset) {
  (void)ctx;
  if (memcmp(data, g.want + offset, size) != 0)
    return 1;
  each_seen[worker] += size;
  return 0;
}

static int run_each(void) {
  int rc;
  memset(each_seen, 0, sizeof each_seen);
  rc = mmf_window_each(g.map, 0, 0, walk_window, MMF_ACCESS_READ, walk_flags,
                       each_workers, each_check, NULL);
  walk_seen = 0;
  for (unsigned k = 0; k < MMF_WINDOW_EACH_MAX; k++)
    walk_seen += each_seen[k];
  return rc;
}

static void window_each_fails_cleanly(void **state) {
  struct fault_op op = {
      .name = "mmf_window_each (3 workers, 1 MiB mapped windows)",
      .apis = {"mmf_window_each"},
      .codes = window_codes,
      /* Linux: a span per worker (mmap, munmap), a DONTNEED per window,
       * and two threads started (Windows: a view per window) */
      .min_faults = (AUTO_LEN >> 20) + 3 * 2 + 2,
      .setup = setup_big_map,
      .run = run_each,
      .after_success = walked_big,
      .teardown = teardown_big_map,
      .path = g_path};
  (void)state;
  walk_window = 1 << 20;
  walk_flags = 0;
  each_workers = 3;
  run_fault_loop(&op);

  /* 10 MiB shares end inside AUTO's trial: the probe and the trial on
   * each worker, no read-ahead thread. */
  op.name = "mmf_window_each (2 workers, AUTO, 4 MiB windows)";
  op.min_faults = 4; /* each walk's probe or buffer at least */
  walk_window = MMF_WINDOW_DEFAULT_SIZE;
  walk_flags = MMF_WINDOW_AUTO;
  each_workers = 2;
  run_fault_loop(&op);

  /* Each worker with its read-ahead thread: 10 windows per share. */
  op.name = "mmf_window_each (2 workers, AHEAD, 1 MiB windows)";
  op.min_faults = 2 * (AUTO_LEN >> 20) + 2; /* mmap, munmap; 2 threads */
  walk_window = 1 << 20;
  walk_flags = MMF_WINDOW_AHEAD;
  run_fault_loop(&op);
}

/* A span walk over a file cached in large folios (the big file is written
 * at once) populates its first window and touches the rest, asking the OS
 * layer first whether that is safe (fstat: best effort). */
static void touched_walk_fails_cleanly(void **state) {
  struct fault_op op = {
      .name = "window walk (READ|POPULATE, 1 MiB windows: touched)",
      .apis = {"mmf_window_next", "mmf_view_map", "mmf_view_unmap",
               "mmf_window_close"},
      .codes = window_codes,
      /* Linux: a span (mmap, munmap), the first window's populate, and
       * per window a DONTNEED and the safety check (fstat) -- or, where
       * the file is not in large folios (tmpfs), a populate;
       * Windows: a view per window (map, prefetch, unmap) */
      .min_faults = 2 * (AUTO_LEN >> 20) + 2,
      .setup = setup_big_map,
      .run = run_walk,
      .after_success = walked_big,
      .teardown = teardown_big_map,
      .path = g_path};
  (void)state;
  walk_access = MMF_ACCESS_READ | MMF_VIEW_POPULATE;
  walk_flags = 0;
  walk_window = 1 << 20;
  run_fault_loop(&op);
}

/* ---- mmf_op_reverse ------------------------------------------------------
 * The CLI's reverse on two workers, each path forced: the walks, the
 * workers' backward walks of the mirrors (mapped) or their buffers, and the
 * trial before them. A failure leaves the file partly reversed, but nothing
 * open or mapped. */
#define REV_LEN ((8u << 20) + 12345)
static unsigned rev_flags;

static void setup_rev_file(void) {
  g.path = th_path("fault-rev");
  (void)make_big_want();
  assert_int_equal(th_write_file(g.path, big_want, REV_LEN), 0);
}

static int run_rev(void) {
  return mmf_op_reverse(g.path, 1 << 20, rev_flags, 2, NULL, NULL);
}

static void rev_reversed(void) {
  unsigned char *want = malloc(REV_LEN);
  assert_non_null(want);
  for (size_t i = 0; i < REV_LEN; i++)
    want[i] = big_want[REV_LEN - 1 - i];
  assert_true(th_file_equals(g.path, want, REV_LEN));
  free(want);
}

static void op_reverse_fails_cleanly(void **state) {
  static const int codes[] = {MMF_EINVAL, MMF_ERANGE, MMF_EOVERFLOW,
                              MMF_EPROT,  MMF_ENOMEM, MMF_EACCES,
                              MMF_EPERM,  MMF_EOS,    MMF_ENOSPC,
                              MMF_EIO,    MMF_EMFILE, MMF_ENOTSUP, 0};
  struct fault_op op = {
      .name = "mmf_op_reverse (mapped, 2 workers, 1 MiB windows)",
      .apis = {"mmf_window", "mmf_view", "mmf_map", "mmf_buffer"},
      .codes = codes,
      /* open, the trial's views, two threads, each worker's walks */
      .min_faults = 12,
      .setup = setup_rev_file,
      .run = run_rev,
      .after_success = rev_reversed,
      .path = g_path};
  (void)state;
  rev_flags = MMF_OP_REVERSE_MAPPED;
  run_fault_loop(&op);

  /* A buffer that cannot be had is not the file's doing: that message
   * names mmf_buffer_alloc only (mmf reverse puts the file first). */
  op.name = "mmf_op_reverse (buffered, 2 workers, 1 MiB windows)";
  op.path = NULL;
  rev_flags = MMF_OP_REVERSE_BUFFERED;
  run_fault_loop(&op);
}

/* ---- mmf_view_unmap / mmf_map_close -----------------------------------------
 * Both free their object even when the OS call fails, so afterwards nothing
 * is left whatever happened. */

static void setup_view(void) {
  setup_map_rw();
  TH_OK(mmf_view_map(&g.view, g.map, 1, 0, MMF_ACCESS_WRITE));
}

static int run_close_then_unmap(void) {
  int rc1 = mmf_map_close(g.map);
  int rc2 = mmf_view_unmap(g.view);
  g.map = NULL;
  g.view = NULL;
  return rc1 ? rc1 : rc2;
}

static int run_unmap_then_close(void) {
  int rc1 = mmf_view_unmap(g.view);
  int rc2;
  char msg[600];
  snprintf(msg, sizeof msg, "%s", mmf_last_error_message());
  rc2 = mmf_map_close(g.map);
  if (rc1 && !rc2) /* a later success keeps the earlier detail */
    assert_string_equal(mmf_last_error_message(), msg);
  g.map = NULL;
  g.view = NULL;
  return rc1 ? rc1 : rc2;
}

static void everything_released(void) { remove_file(); }

static void release_fails_cleanly(void **state) {
  struct fault_op op = {.name = "mmf_map_close + mmf_view_unmap",
                        .apis = {"mmf_view_unmap", "mmf_map_close"},
                        .codes = release_codes,
                        .min_faults = 2, /* munmap, close */
                        .setup = setup_view,
                        .run = run_close_then_unmap,
                        .teardown = everything_released,
                        .path = g_path,
                        .frees_setup = 1};
  (void)state;
  run_fault_loop(&op);
  op.name = "mmf_view_unmap + mmf_map_close";
  op.run = run_unmap_then_close;
  run_fault_loop(&op);
}

/* A failed mmf_window_next leaves the walk where it was: each retry gets
 * the window it lost, through a view (every other mmap fails once), through
 * the read path (AUTO with 1 MiB windows: every other pread), with the
 * read-ahead thread (AHEAD), and in an AUTO walk from off the 2 MiB grid
 * that maps after its trial (the decision forced: internal.h), on one
 * thread and with AHEAD. */
static void window_next_retries_the_same_window_after_a_failure(void **state) {
  static const struct {
    size_t window;
    unsigned flags;
    size_t windows; /* in an undisturbed walk; 0: not pinned */
    uint64_t start;
  } cases[] = {{WINDOW, 0, 5, 0},
               {1 << 20, MMF_WINDOW_AUTO, AUTO_LEN >> 20, 0},
               {1 << 20, MMF_WINDOW_AHEAD, AUTO_LEN >> 20, 0},
               {WINDOW, MMF_WINDOW_AHEAD, 5, 0},
               {3 << 20, MMF_WINDOW_AUTO, 0, 12345},
               {3 << 20, MMF_WINDOW_AUTO | MMF_WINDOW_AHEAD, 0, 12345}};
  mmf_window *w;
  void *data;
  size_t size;
  uint64_t off;
  int rc;
  (void)state;
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
    for (unsigned back = 0; back <= MMF_WINDOW_BACKWARD; back++) {
      unsigned flags = cases[c].flags | back;
      const unsigned char *want;
      uint64_t expect_off[AUTO_LEN >> 20], got_off[AUTO_LEN >> 20];
      size_t k = 0, windows;
      int fired = 0, now, tries, big = cases[c].windows != 5;
      if (big)
        setup_big_map();
      else
        setup_map_rw();
      want = g.want;
      mmf__auto_decision = MMF__AUTO_MAP;
      /* The offsets of an undisturbed walk. */
      TH_OK(mmf_window_open(&w, g.map, cases[c].start, 0, cases[c].window,
                            MMF_ACCESS_READ, flags));
      while (mmf_window_next(w, &data, &size, &off) == 1) {
        assert_true(k < AUTO_LEN >> 20);
        expect_off[k++] = off;
      }
      TH_OK(mmf_window_close(w));
      windows = k;
      if (cases[c].windows)
        assert_int_equal(windows, cases[c].windows);
      TH_OK(mmf_window_open(&w, g.map, cases[c].start, 0, cases[c].window,
                            MMF_ACCESS_READ, flags));
      k = 0;
      /* With AHEAD the armed call may be one of the read-ahead thread's,
       * made while this call runs or after it returned: its failure shows
       * in this call or a later one (preparing a window, unmapping one),
       * or in mmf_window_close (unmapping the last). Each is retried. */
      for (;;) {
        mmf__fault_arm(1);
        rc = mmf_window_next(w, &data, &size, &off);
        now = mmf__fault_arm(0);
        fired |= now;
        /* On one thread a failure is this call's own fault. */
        if (!(flags & MMF_WINDOW_AHEAD))
          assert_true(rc >= 0 || now);
        for (tries = 0; rc < 0 && tries < 3; tries++) {
          assert_true(fired);
          assert_null(data);
          rc = mmf_window_next(w, &data, &size, &off);
        }
        if (rc == 0)
          break;
        assert_int_equal(rc, 1);
        assert_true(k < windows);
        assert_memory_equal(data, want + off, size);
        got_off[k++] = off;
      }
      mmf__auto_decision = MMF__AUTO_MEASURE;
      rc = mmf_window_close(w);
      if (rc != 0) {
        assert_true((flags & MMF_WINDOW_AHEAD) && fired);
        assert_true(th_code_in(rc, release_codes));
        assert_non_null(strstr(mmf_last_error_message(), "mmf_window_close"));
        assert_non_null(strstr(mmf_last_error_message(), "mmf_view_unmap"));
      }
      assert_int_equal(k, windows);
      assert_memory_equal(got_off, expect_off, k * sizeof expect_off[0]);
      if (big)
        teardown_big_map();
      else
        teardown_map();
    }
}

static void teardown_group(void) {
  if (g.want != big_want) /* else freed below, once */
    free(g.want);
  g.want = NULL;
  if (big_want) {
    free(big_want);
    big_want = NULL;
    assert_int_equal(th_remove(th_path("fault-auto")), 0);
  }
}

static int group_teardown(void **state) {
  (void)state;
  teardown_group();
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(open_create_and_extend_fails_cleanly),
      cmocka_unit_test(open_existing_with_extension_fails_cleanly),
      cmocka_unit_test(open_existing_fails_cleanly),
      cmocka_unit_test(from_native_fails_cleanly),
      cmocka_unit_test(view_map_with_options_fails_cleanly),
      cmocka_unit_test(view_flush_durable_fails_cleanly),
      cmocka_unit_test(map_read_fails_cleanly),
      cmocka_unit_test(map_write_fails_cleanly),
      cmocka_unit_test(map_sync_fails_cleanly),
      cmocka_unit_test_teardown(window_walk_fails_cleanly,
                                th_restore_walk_hooks),
      cmocka_unit_test_prestate(auto_window_walk_fails_cleanly,
                                (void *)&auto_read_path),
      cmocka_unit_test_prestate(auto_window_walk_fails_cleanly,
                                (void *)&auto_trial),
      cmocka_unit_test_prestate(auto_window_walk_fails_cleanly,
                                (void *)&ahead_mapped),
      cmocka_unit_test_prestate(auto_window_walk_fails_cleanly,
                                (void *)&ahead_trial),
      cmocka_unit_test(window_each_fails_cleanly),
      cmocka_unit_test(touched_walk_fails_cleanly),
      cmocka_unit_test(op_reverse_fails_cleanly),
      cmocka_unit_test(release_fails_cleanly),
      cmocka_unit_test_teardown(
          window_next_retries_the_same_window_after_a_failure,
          th_restore_walk_hooks),
  };
  return cmocka_run_group_tests(tests, NULL, group_teardown);
}
