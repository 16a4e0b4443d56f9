/* test/helpers.h -- small utilities shared by the test programs.
 *
 * The first group is portable C (helpers.c). The second group has the same
 * meaning on every OS and one implementation per OS (helpers_posix.c,
 * helpers_win32.c), so the test programs themselves stay free of #ifdefs.
 */
#ifndef MMF_TEST_HELPERS_H
#define MMF_TEST_HELPERS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* 1 when built with AddressSanitizer (gcc defines __SANITIZE_ADDRESS__,
 * clang answers __has_feature). */
#if defined(__SANITIZE_ADDRESS__)
#define TH_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TH_ASAN 1
#endif
#endif
#ifndef TH_ASAN
#define TH_ASAN 0
#endif

/* ---- portable ----------------------------------------------------------- */

/* th_tmpdir()/name in a static rotating buffer (8 slots). */
const char *th_path(const char *name);

/* Write n bytes to path (create/truncate). Returns 0 or -1. */
int th_write_file(const char *path, const void *data, size_t n);

/* Read the whole file into a malloc'ed buffer; *n gets its size. NULL on
 * error. */
unsigned char *th_read_file(const char *path, size_t *n);

/* Fill buf with a deterministic pseudo-random pattern from seed. */
void th_fill(void *buf, size_t n, uint32_t seed);

/* Write a file of n bytes filled with th_fill(seed); 0 or -1. */
int th_make_file(const char *path, size_t n, uint32_t seed);

/* 1 if the file at path holds exactly data[0..n), else 0. */
int th_file_equals(const char *path, const void *data, size_t n);

/* ---- OS-specific behind a portable meaning ------------------------------
 * helpers_posix.c (procfs, fork/exec, posix_spawn, wait4) or
 * helpers_win32.c (GetProcessHandleCount, VirtualQuery, CreateProcessW),
 * chosen by test/CMakeLists.txt. */

/* A fresh private temporary directory for this test program (created on
 * first use, removed with everything in it at exit). UTF-8. */
const char *th_tmpdir(void);

/* fopen() / remove() / mkdir for UTF-8 paths (Windows: the wide APIs, since
 * the C runtime's narrow ones take the ANSI code page). */
FILE *th_fopen(const char *path, const char *mode);
int th_remove(const char *path);
int th_mkdir(const char *path);

/* 1 if something exists at path, else 0. */
int th_exists(const char *path);

/* Size of the file at path in bytes, or -1 if it cannot be stat'ed. */
int64_t th_file_size(const char *path);

/* 1 when running under Wine (ntdll exports wine_get_version), else 0.
 * Tests use it to check what Windows documents only on real Windows where
 * Wine is known to differ (../shared/PLATFORM_NOTES.md). */
int th_is_wine(void);

/* 1 on Windows (native or Wine), 0 on POSIX systems. For checks whose
 * documented result differs per OS (mmf.h says which). */
int th_is_windows(void);

/* Open file descriptors / handles of this process. */
int th_open_file_count(void);

/* Threads of this process (/proc/self/task; a Toolhelp snapshot). */
int th_thread_count(void);

/* Memory mappings of this process backed by files under th_tmpdir()
 * (Windows: mapped-file views, MEM_MAPPED allocations, of any file). */
int th_tmp_mapping_count(void);

/* Run this test program again as a child process with arguments
 * `args` (NULL-terminated, not including argv[0]). Returns a process token
 * (> 0) or -1. */
intptr_t th_spawn_self(const char *const *args);

/* Wait for a child from th_spawn_self(): its exit status 0..255, or -1 if
 * it did not exit normally (e.g. killed by a signal). */
int th_wait_child(intptr_t proc);

/* Kill a child from th_spawn_self() the hard way -- SIGKILL on POSIX,
 * TerminateProcess on Windows: no handler, no cleanup in the child -- and
 * reap it. Returns 0 when it died that way, -1 otherwise. */
int th_kill_child(intptr_t proc);

/* Give up the CPU for a moment (for spin-waits on shared memory). */
void th_yield(void);
/* Sleep about `ms` milliseconds. */
void th_sleep_ms(unsigned ms);
/* Wait until *w reads `want` (an acquire load), set by another thread or
 * process: a few thousand yields first, then 10 ms sleeps. 0 when it did;
 * -1 after `max_ms` milliseconds of sleeping (up to 1.6x that on Windows,
 * whose sleeps end on a timer tick), so that a peer that never sets it
 * fails the test instead of hanging it. */
#define TH_WAIT_MS 60000u
int th_wait_word(atomic_uint *w, unsigned want, unsigned max_ms);
/* The word `off` bytes into shared memory at `base`, and th_wait_word on it
 * for TH_WAIT_MS: the flags the multi-process tests signal with. */
atomic_uint *th_word(void *base, size_t off);
int th_wait_word_at(void *base, size_t off, unsigned want);
/* The same for any condition: until ready(ctx) returns non-zero. */
int th_wait_until(int (*ready)(void *ctx), void *ctx, unsigned max_ms);

/* A cmocka teardown for tests that set the walks' test hooks (internal.h):
 * puts MMF_WINDOW_AUTO's decision back to measuring (mmf__auto_decision)
 * and spans back to MMF_WINDOW_SPAN_MAX (mmf__window_span_max), so that a
 * test failing midway does not leave them set for the tests after it. */
int th_restore_walk_hooks(void **state);

/* A native file of the OS for mmf_map_from_native(): a descriptor on
 * POSIX, a HANDLE on Windows, opened read-write (writable 1), read-only
 * (0) or write-only (TH_WRITE_ONLY). -1 on error. */
#define TH_WRITE_ONLY 2
intptr_t th_native_open(const char *path, int writable);
/* 1 while `f` is still an open file of this process. */
int th_native_is_open(intptr_t f);
/* Close it; 0 or -1. */
int th_native_close(intptr_t f);

/* For a page of a COPY view that has been read or written: 1 when it is
 * now a private copy of this process, 0 when it is still the file's page
 * (shared with the page cache), -1 if this cannot be told. Linux:
 * /proc/self/pagemap bit 61; Windows: QueryWorkingSetEx's Shared bit. */
int th_copy_page_is_private(const void *addr);

/* Rewrite one byte of each page of [p, p + len) with its own value: a load
 * and a store, not instrumented by AddressSanitizer (whose first check of
 * a page's shadow faults too, which would spoil a count of page faults). */
void th_store_per_page(void *p, size_t len);

/* 1 when the page at `addr` is mapped into this process now (Linux:
 * /proc/self/pagemap's present bit; Windows: in the working set, from
 * QueryWorkingSetEx), 0 when not, -1 if this cannot be told. Does not touch
 * the page. */
int th_page_is_mapped(const void *addr);

/* Windows only: 1 when VirtualQuery shows the page PAGE_READWRITE (a
 * written page of a FILE_MAP_COPY view, as Windows documents), 0 when
 * PAGE_WRITECOPY (untouched), -1 otherwise or on other systems. Wine does
 * not make this change (PLATFORM_NOTES): check it where !th_is_wine(). */
int th_win32_copy_page_shows_readwrite(const void *addr);

/* A program run to completion: th_run(). */
typedef struct th_run_result {
  int status;        /* exit status, or -1 if it did not exit normally */
  long peak_rss_kib; /* peak resident set / working set of the child */
} th_run_result;

/* Run argv[0] (a path) with argv, no shell involved: stdout goes to the
 * file out_path, stderr to err_path (both created or truncated), and
 * environment variable env_name is set to env_value (removed when
 * env_value is NULL; env_name NULL leaves the environment alone). Waits for
 * it. Returns 0 with *res filled, or -1 if it could not be started. */
int th_run(const char *const *argv, const char *out_path,
           const char *err_path, const char *env_name, const char *env_value,
           th_run_result *res);

/* As th_run(), but stderr is a terminal (a pseudo-terminal on POSIX, a
 * pseudo console on Windows) and everything the terminal received is
 * returned in *tty (malloc'ed, NUL-terminated). Returns 0, -1 on error, or
 * TH_NO_TERMINAL when this system cannot give a program a terminal. */
#define TH_NO_TERMINAL (-2)
int th_run_on_terminal(const char *const *argv, const char *out_path,
                       const char *env_name, const char *env_value,
                       char **tty, th_run_result *res);

/* ---- resource accounting and assertions (need <cmocka.h>, <string.h> and
 * "mmf.h" included before use) ------------------------------------------- */

/* What a failing call must not leave behind. */
typedef struct th_res {
  int files; /* open files of the process */
  int maps;  /* mappings of files under th_tmpdir() */
} th_res;

th_res th_res_now(void);

/* Nothing more and nothing less is open or mapped than at snapshot `r`. */
#define TH_ASSERT_RES_SAME(r)                                                  \
  do {                                                                         \
    th_res now_ = th_res_now();                                                \
    assert_int_equal(now_.files, (r).files);                                   \
    assert_int_equal(now_.maps, (r).maps);                                     \
  } while (0)

/* `expr` fails with exactly `code`, the thread's error detail agrees, and
 * the message names the mmf call `api`. */
#define TH_EXPECT_ERR(expr, code, api)                                         \
  do {                                                                         \
    int rc_ = (expr);                                                          \
    if (rc_ != (code))                                                         \
      print_error("%s -> %s, want %s (%s)\n", #expr, mmf_err_name(rc_),        \
                  mmf_err_name(code), mmf_last_error_message());               \
    assert_int_equal(rc_, (code));                                             \
    assert_int_equal(mmf_last_error(), (code));                                \
    if (!strstr(mmf_last_error_message(), (api)))                              \
      print_error("message \"%s\" does not name %s\n",                        \
                  mmf_last_error_message(), (api));                            \
    assert_non_null(strstr(mmf_last_error_message(), (api)));                  \
  } while (0)

/* `expr` succeeds; on failure print the library's message first. */
#define TH_OK(expr)                                                            \
  do {                                                                         \
    int rc_ = (expr);                                                          \
    if (rc_ != 0)                                                              \
      print_error("%s -> %s: %s\n", #expr, mmf_err_name(rc_),                  \
                  mmf_last_error_message());                                   \
    assert_int_equal(rc_, 0);                                                  \
  } while (0)

/* @@SHM */
/* Returned by helpers whose check does not apply on this system or to this
 * user (the caller skips, saying why). */
#define TH_NOT_APPLICABLE (-2)

/* This process's id (to make object names unique per test run). */
unsigned long th_pid(void);

/* Path of the file behind the named shared-memory object NAME, as mmf keeps
 * it: "/dev/shm/mmf.NAME" on Linux, "%TEMP%\mmf\mmf.NAME" on Windows. */
const char *th_shm_object_path(const char *name);

/* Entries of the runtime directory whose name starts with "mmf.NAME" (the
 * object's file and any temporary file made while creating it). */
int th_shm_leftovers(const char *name);

/* Memory-backed mappings (mmf shared memory) mapped in this process:
 * Linux /proc/self/maps lines of /dev/shm/mmf.* and memfd:mmf.*; Windows:
 * every MEM_MAPPED allocation (as th_tmp_mapping_count). */
int th_shm_mapping_count(void);

/* Move a native file's (th_native_open) position to `off` (when >= 0);
 * return where it is now, or -1. */
int64_t th_native_seek(intptr_t h, int64_t off);
/* "u<effective uid>." on POSIX (how mmf tags per-user files in /dev/shm),
 * "" on Windows. */
const char *th_user_tag(void);

/* Become user and group 65534 ("nobody") for good: 0, or TH_NOT_APPLICABLE
 * when not running as root (POSIX) or on Windows, -1 on failure. Only ever
 * called in a child process. */
int th_drop_to_nobody(void);

/* Create a symbolic link at `link` pointing to `target`: 0, -1 on failure,
 * TH_NOT_APPLICABLE on Windows (needs a privilege; not tested). */
int th_symlink(const char *target, const char *link);

/* Start argv[0] (a path) with argv and do not wait: stdin reads nothing
 * (the null device), stdout and stderr go to the files out_path and
 * err_path. Returns a process token for th_wait_child / th_kill_child, or
 * -1. */
intptr_t th_start(const char *const *argv, const char *out_path,
                  const char *err_path);
/* @@END SHM */

/* @@BUFFER */
/* 1 when the kernel may back the mapping holding `addr` with transparent
 * huge pages (Linux /proc/self/smaps "THPeligible: 1"), 0 when not;
 * TH_NOT_APPLICABLE on Windows or when THP is off on this machine
 * (/sys/kernel/mm/transparent_hugepage/enabled says [never] or is absent),
 * -1 when smaps cannot be read. */
int th_thp_eligible(const void *addr);
/* @@END BUFFER */

/* @@POINTERS */
/* 1 when the native handle `h` (a descriptor on POSIX, a HANDLE on
 * Windows) is passed on to child processes (no FD_CLOEXEC /
 * HANDLE_FLAG_INHERIT set), 0 when it is not, -1 if it is not open. */
int th_native_inheritable(intptr_t h);
/* @@END POINTERS */

/* @@LOCK-CHANNEL */
/* @@END LOCK-CHANNEL */

/* @@SECTION */
/* th_start(): see @@SHM above. */
/* Memory mappings of this process whose file path contains `needle`
 * (Linux: /proc/self/maps). Windows cannot name a view's file cheaply:
 * there it counts every mapped-file view, like th_tmp_mapping_count(). */
int th_mapping_count_matching(const char *needle);
/* @@END SECTION */

/* Put a known failure in the thread's error record (MMF_ENOENT, naming
 * "th-marker"), and assert it is still there: a call that succeeds must
 * leave the record as it was. */
void th_mark_error_record(void);
void th_assert_error_record_marked(void);

/* ---- fault injection (needs <cmocka.h>) -------------------------------- */

/* 1 when `code` is in the 0-terminated list. */
int th_code_in(int code, const int *list);

/* Run `run` with the 1st, 2nd, ... OS call failing (mmf__fault_arm) until
 * no fault fires. Each failure must be one of `codes`, recorded as the
 * thread's error, with a message naming `api` and `what` (the file or
 * token), and leave the process's files and mappings as they were; the
 * final unfaulted run must succeed, after which `undo` releases what it
 * made. A failed PrefetchVirtualMemory may be absorbed (populating is a
 * request on Windows), and so may a fault inside a best-effort scope
 * (mmf__best_effort_begin: a sweep of leftovers, say) -- still with nothing
 * leaked. Returns the number of faults seen. */
unsigned th_fault_loop(const char *api, const char *what, const int *codes,
                       int (*run)(void), void (*undo)(void));

#endif
