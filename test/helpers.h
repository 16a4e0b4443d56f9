/* test/helpers.h -- small utilities shared by the test programs.
 *
 * The first group is portable C. The second group has the same meaning on
 * every OS but a POSIX implementation today (procfs, fork+exec); the Windows
 * backend will give them a win32 implementation (handle counts,
 * VirtualQuery, CreateProcess) so the tests that use them stay as they are.
 */
#ifndef MMF_TEST_HELPERS_H
#define MMF_TEST_HELPERS_H

#include <stddef.h>
#include <stdint.h>

/* ---- portable ----------------------------------------------------------- */

/* A fresh private temporary directory for this test program (created on
 * first use, removed with everything in it at exit). */
const char *th_tmpdir(void);

/* th_tmpdir()/name in a static rotating buffer (8 slots). */
const char *th_path(const char *name);

/* Write n bytes to path (create/truncate). Returns 0 or -1. */
int th_write_file(const char *path, const void *data, size_t n);

/* Read the whole file into a malloc'ed buffer; *n gets its size. NULL on
 * error. */
unsigned char *th_read_file(const char *path, size_t *n);

/* Fill buf with a deterministic pseudo-random pattern from seed. */
void th_fill(void *buf, size_t n, uint32_t seed);

/* 1 if something exists at path, else 0. */
int th_exists(const char *path);

/* Size of the file at path in bytes, or -1 if it cannot be stat'ed. */
int64_t th_file_size(const char *path);

/* Write a file of n bytes filled with th_fill(seed); 0 or -1. */
int th_make_file(const char *path, size_t n, uint32_t seed);

/* 1 if the file at path holds exactly data[0..n), else 0. */
int th_file_equals(const char *path, const void *data, size_t n);

/* ---- OS-specific behind a portable meaning ------------------------------ */

/* Open file descriptors / handles of this process. */
int th_open_file_count(void);

/* Memory mappings of this process backed by files under th_tmpdir(). */
int th_tmp_mapping_count(void);

/* Run this test program again as a child process with arguments
 * `args` (NULL-terminated, not including argv[0]). Returns a process token
 * (> 0) or -1. */
intptr_t th_spawn_self(const char *const *args);

/* Wait for a child from th_spawn_self(): its exit status 0..255, or -1 if
 * it did not exit normally (e.g. killed by a signal). */
int th_wait_child(intptr_t proc);

/* Give up the CPU for a moment (for spin-waits on shared memory). */
void th_yield(void);

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

#endif
