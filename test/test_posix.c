/* test_posix.c -- what only makes sense on POSIX: errno as the OS code,
 * permissions (a child drops root), file descriptors for
 * mmf_map_from_native, coherence with read()/write(), O_DSYNC, allocated
 * blocks, mlock accounting, RLIMIT_NOFILE. The Windows backend gets its own
 * counterpart of this file. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"
#include "mmf.h"

#define N 10000

static const char *make(const char *name, size_t n, uint32_t seed) {
  const char *p = th_path(name);
  assert_int_equal(th_make_file(p, n, seed), 0);
  return p;
}

/* ---- errno behind the codes ---------------------------------------------*/

static void last_os_error_is_errno_of_the_failed_call(void **state) {
  const char *p = make("errno", N, 1);
  mmf_map *m;
  (void)state;
  TH_EXPECT_ERR(mmf_map_open(&m, th_path("nope"), MMF_PROT_READ, 0, 0),
                MMF_ENOENT, "mmf_map_open");
  assert_int_equal(mmf_last_os_error(), ENOENT);
  assert_non_null(strstr(mmf_last_error_message(), strerror(ENOENT)));
  TH_EXPECT_ERR(mmf_map_open(&m, p, MMF_PROT_READWRITE,
                             MMF_OPEN_CREATE | MMF_OPEN_EXCL, 100),
                MMF_EEXIST, "mmf_map_open");
  assert_int_equal(mmf_last_os_error(), EEXIST);
  TH_EXPECT_ERR(mmf_map_open(&m, th_tmpdir(), MMF_PROT_READ, 0, 0),
                MMF_EISDIR, "mmf_map_open");
  assert_int_equal(mmf_last_os_error(), EISDIR);
  /* Failures found by mmf itself carry no OS code. */
  TH_EXPECT_ERR(mmf_map_open(&m, p, MMF_PROT_READ, 0, N + 1), MMF_ERANGE,
                "mmf_map_open");
  assert_int_equal(mmf_last_os_error(), 0);
  TH_EXPECT_ERR(mmf_map_open(&m, p, 0, 0, 0), MMF_EINVAL, "mmf_map_open");
  assert_int_equal(mmf_last_os_error(), 0);
}

/* ---- permissions ----------------------------------------------------------
 * Root bypasses permission checks, so the check runs in a child process of
 * this program that drops to `nobody` first (`test_posix --child eacces
 * PATH`). */

static int child_eacces(const char *path) {
  mmf_map *m = (mmf_map *)&m;
  int rc;
  if (getuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
    return 10;
  if (getuid() == 0)
    return 11;
  rc = mmf_map_open(&m, path, MMF_PROT_READ, 0, 0);
  if (rc != MMF_EACCES)
    return 1;
  if (m != NULL)
    return 2;
  if (mmf_last_os_error() != EACCES)
    return 3;
  if (!strstr(mmf_last_error_message(), "mmf_map_open") ||
      !strstr(mmf_last_error_message(), path))
    return 4;
  if (mmf_map_open(&m, path, MMF_PROT_READWRITE, 0, 0) != MMF_EACCES)
    return 5;
  if (mmf_map_open(&m, path, MMF_PROT_READWRITE, MMF_OPEN_CREATE, 4096) !=
      MMF_EACCES)
    return 6;
  return 0;
}

static void map_open_without_permission_is_eacces(void **state) {
  const char *p = make("secret", N, 2);
  const char *args[] = {"--child", "eacces", p, NULL};
  intptr_t child;
  (void)state;
  assert_int_equal(chmod(p, 0), 0);
  /* Let the unprivileged child reach the file. */
  assert_int_equal(chmod(th_tmpdir(), 0711), 0);
  child = th_spawn_self(args);
  assert_true(child > 0);
  assert_int_equal(th_wait_child(child), 0);
  assert_int_equal(chmod(th_tmpdir(), 0700), 0);
  /* The file is still there, unchanged. */
  assert_int_equal(chmod(p, 0600), 0);
  assert_int_equal(th_file_size(p), N);
}

static void readwrite_of_read_only_file_is_eacces(void **state) {
  const char *p = make("readonly", N, 3);
  const char *args[] = {"--child", "eacces-rw", p, NULL};
  intptr_t child;
  (void)state;
  assert_int_equal(chmod(p, 0444), 0);
  assert_int_equal(chmod(th_tmpdir(), 0711), 0);
  child = th_spawn_self(args);
  assert_true(child > 0);
  assert_int_equal(th_wait_child(child), 0);
  assert_int_equal(chmod(th_tmpdir(), 0700), 0);
}

static int child_eacces_rw(const char *path) {
  mmf_map *m;
  if (getuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
    return 10;
  /* Reading is allowed, writing is not. */
  if (mmf_map_open(&m, path, MMF_PROT_READ, 0, 0) != 0)
    return 1;
  if (mmf_map_close(m) != 0)
    return 2;
  if (mmf_map_open(&m, path, MMF_PROT_READWRITE, 0, 0) != MMF_EACCES)
    return 3;
  if (mmf_last_os_error() != EACCES)
    return 4;
  /* Copy-on-write needs only read access. */
  if (mmf_map_open(&m, path, MMF_PROT_WRITECOPY, 0, 0) != 0)
    return 5;
  return mmf_map_close(m) == 0 ? 0 : 6;
}

/* ---- mmf_map_from_native -------------------------------------------------*/

static void from_native_adopts_a_copy_of_the_descriptor(void **state) {
  unsigned char want[N];
  const char *p = make("native", N, 4);
  th_res r = th_res_now();
  mmf_map *m;
  mmf_view *v;
  int fd;
  (void)state;
  th_fill(want, N, 4);
  fd = open(p, O_RDONLY);
  assert_true(fd >= 0);
  TH_OK(mmf_map_from_native(&m, fd, MMF_PROT_READ, 0));
  assert_int_equal(close(fd), 0); /* the caller may close at once */
  assert_int_equal(mmf_map_size(m), N);
  assert_int_equal(mmf_map_prot(m), MMF_PROT_READ);
  TH_OK(mmf_view_map(&v, m, 1, 0, MMF_ACCESS_READ));
  assert_memory_equal(mmf_view_data(v), want + 1, N - 1);
  TH_OK(mmf_view_unmap(v));
  TH_OK(mmf_map_close(m));
  TH_ASSERT_RES_SAME(r);

  /* A read-write descriptor can be extended and written. */
  fd = open(p, O_RDWR);
  assert_true(fd >= 0);
  TH_OK(mmf_map_from_native(&m, fd, MMF_PROT_READWRITE, 2 * N));
  assert_int_equal(th_file_size(p), 2 * N);
  TH_OK(mmf_view_map(&v, m, N, 0, MMF_ACCESS_WRITE));
  memset(mmf_view_data(v), 0x5F, N);
  TH_OK(mmf_view_flush(v, 0, 0, MMF_FLUSH_DURABLE));
  TH_OK(mmf_view_unmap(v));
  TH_OK(mmf_map_close(m));
  {
    unsigned char b[2];
    assert_int_equal(pread(fd, b, 2, 2 * N - 2), 2);
    assert_int_equal(b[0], 0x5F);
    assert_int_equal(b[1], 0x5F);
  }
  assert_int_equal(close(fd), 0);
  TH_ASSERT_RES_SAME(r);
}

static void from_native_bad_descriptors_fail(void **state) {
  const char *p = make("native-bad", N, 5);
  const char *e = th_path("native-empty");
  th_res r;
  mmf_map *m = (mmf_map *)&m;
  int wfd, rfd, dfd, closed, efd;
  (void)state;
  assert_int_equal(th_write_file(e, "", 0), 0);
  wfd = open(p, O_WRONLY);
  rfd = open(p, O_RDONLY);
  dfd = open(th_tmpdir(), O_RDONLY | O_DIRECTORY);
  efd = open(e, O_RDWR);
  closed = open(p, O_RDONLY);
  assert_true(wfd >= 0 && rfd >= 0 && dfd >= 0 && closed >= 0 && efd >= 0);
  assert_int_equal(close(closed), 0);
  r = th_res_now();

  TH_EXPECT_ERR(mmf_map_from_native(NULL, rfd, MMF_PROT_READ, 0), MMF_EINVAL,
                "mmf_map_from_native");
  TH_EXPECT_ERR(mmf_map_from_native(&m, rfd, 0, 0), MMF_EINVAL,
                "mmf_map_from_native");
  assert_null(m);
  TH_EXPECT_ERR(mmf_map_from_native(&m, wfd, MMF_PROT_READ, 0), MMF_EBADF,
                "mmf_map_from_native");
  TH_EXPECT_ERR(mmf_map_from_native(&m, wfd, MMF_PROT_READWRITE, 0),
                MMF_EBADF, "mmf_map_from_native");
  TH_EXPECT_ERR(mmf_map_from_native(&m, closed, MMF_PROT_READ, 0), MMF_EBADF,
                "mmf_map_from_native");
  assert_int_equal(mmf_last_os_error(), EBADF);
  TH_EXPECT_ERR(mmf_map_from_native(&m, -1, MMF_PROT_READ, 0), MMF_EBADF,
                "mmf_map_from_native");
  TH_EXPECT_ERR(mmf_map_from_native(&m, (intptr_t)1 << 40, MMF_PROT_READ, 0),
                MMF_EBADF, "mmf_map_from_native");
  TH_EXPECT_ERR(mmf_map_from_native(&m, dfd, MMF_PROT_READ, 0), MMF_EISDIR,
                "mmf_map_from_native");
  /* Opened read-only: READ and WRITECOPY are fine, READWRITE is not. */
  TH_EXPECT_ERR(mmf_map_from_native(&m, rfd, MMF_PROT_READWRITE, 0),
                MMF_EBADF, "mmf_map_from_native");
  TH_EXPECT_ERR(mmf_map_from_native(&m, rfd, MMF_PROT_READ, N + 1),
                MMF_ERANGE, "mmf_map_from_native");
  TH_EXPECT_ERR(mmf_map_from_native(&m, efd, MMF_PROT_READWRITE, 0),
                MMF_EEMPTY, "mmf_map_from_native");
  assert_null(m);
  /* The message says which descriptor. */
  {
    char fdname[32];
    snprintf(fdname, sizeof fdname, "%d", efd);
    assert_non_null(strstr(mmf_last_error_message(), fdname));
  }
  TH_ASSERT_RES_SAME(r);
  /* The caller's descriptors are untouched. */
  assert_true(fcntl(rfd, F_GETFD) >= 0);
  assert_true(fcntl(wfd, F_GETFD) >= 0);
  TH_OK(mmf_map_from_native(&m, rfd, MMF_PROT_WRITECOPY, 0));
  TH_OK(mmf_map_close(m));
  close(wfd);
  close(rfd);
  close(dfd);
  close(efd);
}

/* ---- coherence with read()/write() ---------------------------------------*/

static void view_is_coherent_with_read_and_write(void **state) {
  const char *p = make("syscalls", 3 * 4096 + 5, 6);
  unsigned char buf[5000], back[5000];
  mmf_map *m;
  mmf_view *v;
  unsigned char *d;
  int fd;
  (void)state;
  fd = open(p, O_RDWR);
  assert_true(fd >= 0);
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READWRITE, 0, 0));
  TH_OK(mmf_view_map(&v, m, 7, 0, MMF_ACCESS_WRITE));
  d = mmf_view_data(v);
  th_fill(buf, sizeof buf, 61);
  assert_int_equal(pwrite(fd, buf, sizeof buf, 4000), (ssize_t)sizeof buf);
  assert_memory_equal(d + 3993, buf, sizeof buf);
  th_fill(buf, sizeof buf, 62);
  memcpy(d + 100, buf, sizeof buf);
  assert_int_equal(pread(fd, back, sizeof back, 107), (ssize_t)sizeof back);
  assert_memory_equal(back, buf, sizeof buf);
  TH_OK(mmf_view_unmap(v));
  TH_OK(mmf_map_close(m));
  close(fd);
}

/* ---- what the OS was asked for -------------------------------------------*/

/* The descriptor that appeared since `before` (a snapshot of fd numbers). */
static int new_fd(const unsigned char *before) {
  DIR *d = opendir("/proc/self/fd");
  struct dirent *e;
  int found = -1, self = dirfd(d);
  while ((e = readdir(d)) != NULL) {
    int fd = atoi(e->d_name);
    if (e->d_name[0] != '.' && fd != self && fd < 1024 && !before[fd])
      found = fd;
  }
  closedir(d);
  return found;
}

static void fd_snapshot(unsigned char *set) {
  DIR *d = opendir("/proc/self/fd");
  struct dirent *e;
  int self = dirfd(d);
  memset(set, 0, 1024);
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.' && atoi(e->d_name) < 1024 &&
        atoi(e->d_name) != self)
      set[atoi(e->d_name)] = 1;
  closedir(d);
}

static long fd_flags(int fd) {
  char path[64], line[256];
  long flags = -1;
  FILE *f;
  snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
  f = fopen(path, "r");
  assert_non_null(f);
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "flags: %lo", &flags) == 1)
      break;
  fclose(f);
  return flags;
}

static void write_through_opens_the_file_o_dsync(void **state) {
  const char *p = make("dsync", N, 7);
  unsigned char before[1024];
  mmf_map *m;
  int fd;
  (void)state;
  fd_snapshot(before);
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READWRITE, MMF_OPEN_WRITE_THROUGH, 0));
  fd = new_fd(before);
  assert_true(fd >= 0);
  assert_true((fd_flags(fd) & O_DSYNC) == O_DSYNC);
  assert_true((fd_flags(fd) & O_CLOEXEC) == O_CLOEXEC);
  TH_OK(mmf_map_close(m));

  fd_snapshot(before);
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READWRITE, 0, 0));
  fd = new_fd(before);
  assert_true(fd >= 0);
  assert_true((fd_flags(fd) & O_DSYNC) == 0);
  TH_OK(mmf_map_close(m));
}

static void extension_reserves_real_blocks(void **state) {
  const char *p = make("blocks", 100, 8);
  const uint64_t size = 8 << 20;
  struct stat st;
  mmf_map *m;
  (void)state;
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READWRITE, 0, size));
  assert_int_equal(stat(p, &st), 0);
  assert_int_equal(st.st_size, (off_t)size);
  assert_true((uint64_t)st.st_blocks * 512 >= size);
  TH_OK(mmf_map_close(m));
  /* A created file too. */
  p = th_path("blocks-new");
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READWRITE, MMF_OPEN_CREATE, size + 1));
  assert_int_equal(stat(p, &st), 0);
  assert_int_equal(st.st_size, (off_t)size + 1);
  assert_true((uint64_t)st.st_blocks * 512 >= size + 1);
  TH_OK(mmf_map_close(m));
}

static long vm_locked_kb(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kb = -1;
  assert_non_null(f);
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "VmLck: %ld kB", &kb) == 1)
      break;
  fclose(f);
  return kb;
}

static void lock_option_and_calls_lock_pages_in_ram(void **state) {
  const size_t size = 1 << 20;
  const char *p = make("locked", size, 9);
  long base;
  mmf_map *m;
  mmf_view *v;
  (void)state;
#if TH_ASAN
  /* AddressSanitizer replaces mlock() with a no-op: nothing to observe. */
  skip();
#endif
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READ, 0, 0));
  base = vm_locked_kb();
  assert_true(base >= 0);
  TH_OK(mmf_view_map(&v, m, 0, 0, MMF_ACCESS_READ | MMF_VIEW_LOCK));
  assert_true(vm_locked_kb() >= base + (long)(size >> 10));
  TH_OK(mmf_view_unlock(v, 0, 0));
  assert_int_equal(vm_locked_kb(), base);
  TH_OK(mmf_view_lock(v, 4096, 8192));
  assert_true(vm_locked_kb() >= base + 8);
  assert_true(vm_locked_kb() < base + (long)(size >> 10));
  TH_OK(mmf_view_unmap(v));
  assert_int_equal(vm_locked_kb(), base);
  TH_OK(mmf_map_close(m));
}

static void too_many_open_files_is_emfile(void **state) {
  const char *p = make("emfile", N, 10);
  struct rlimit old, low;
  mmf_map *m = (mmf_map *)&m;
  int rc, os, lowest;
  th_res r = th_res_now();
  (void)state;
  lowest = dup(0); /* the lowest free descriptor number */
  assert_true(lowest >= 0);
  close(lowest);
  assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
  low = old;
  low.rlim_cur = (rlim_t)lowest; /* every allowed number is taken */
  assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
  rc = mmf_map_open(&m, p, MMF_PROT_READ, 0, 0);
  os = mmf_last_os_error();
  assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
  assert_int_equal(rc, MMF_EMFILE);
  assert_int_equal(os, EMFILE);
  assert_null(m);
  TH_ASSERT_RES_SAME(r);
}

/* ---- not regular files -------------------------------------------------*/

static void fifo_and_devices_are_enotsup(void **state) {
  const char *fifo = th_path("fifo");
  th_res r;
  mmf_map *m = (mmf_map *)&m;
  int pfd[2];
  (void)state;
  assert_int_equal(mkfifo(fifo, 0600), 0);
  r = th_res_now();
  /* Refused at once: opening a FIFO must not wait for a writer. */
  TH_EXPECT_ERR(mmf_map_open(&m, fifo, MMF_PROT_READ, 0, 0), MMF_ENOTSUP,
                "mmf_map_open");
  assert_non_null(strstr(mmf_last_error_message(), fifo));
  TH_EXPECT_ERR(mmf_map_open(&m, fifo, MMF_PROT_READWRITE, 0, 4096),
                MMF_ENOTSUP, "mmf_map_open");
  TH_EXPECT_ERR(mmf_map_open(&m, "/dev/zero", MMF_PROT_READ, 0, 4096),
                MMF_ENOTSUP, "mmf_map_open");
  TH_EXPECT_ERR(mmf_map_open(&m, "/dev/null", MMF_PROT_READ, 0, 0),
                MMF_ENOTSUP, "mmf_map_open");
  assert_null(m);
  TH_ASSERT_RES_SAME(r);
  assert_int_equal(pipe(pfd), 0);
  r = th_res_now();
  TH_EXPECT_ERR(mmf_map_from_native(&m, pfd[0], MMF_PROT_READ, 4096),
                MMF_ENOTSUP, "mmf_map_from_native");
  assert_null(m);
  TH_ASSERT_RES_SAME(r);
  close(pfd[0]);
  close(pfd[1]);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(last_os_error_is_errno_of_the_failed_call),
      cmocka_unit_test(map_open_without_permission_is_eacces),
      cmocka_unit_test(readwrite_of_read_only_file_is_eacces),
      cmocka_unit_test(from_native_adopts_a_copy_of_the_descriptor),
      cmocka_unit_test(from_native_bad_descriptors_fail),
      cmocka_unit_test(view_is_coherent_with_read_and_write),
      cmocka_unit_test(write_through_opens_the_file_o_dsync),
      cmocka_unit_test(extension_reserves_real_blocks),
      cmocka_unit_test(lock_option_and_calls_lock_pages_in_ram),
      cmocka_unit_test(too_many_open_files_is_emfile),
      cmocka_unit_test(fifo_and_devices_are_enotsup),
  };
  if (argc == 4 && strcmp(argv[1], "--child") == 0) {
    if (strcmp(argv[2], "eacces") == 0)
      return child_eacces(argv[3]);
    if (strcmp(argv[2], "eacces-rw") == 0)
      return child_eacces_rw(argv[3]);
    return 100;
  }
  return cmocka_run_group_tests(tests, NULL, NULL);
}
