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
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "internal.h" /* mmf__os_cpu_quota, mmf__os_proc_self, ... */
#include "mmf.h"

#define N 10000

static const char *make(const char *name, size_t n, uint32_t seed) {
  const char *p = th_path(name);
  assert_int_equal(th_make_file(p, n, seed), 0);
  return p;
}

/* ---- the library's OS calls, seen -------------------------------------------
 * A flush's bytes are the same whether it waited or reached the device, and
 * a walk's whether it mapped one view or many, so only the calls show what
 * they did. This program is linked with --wrap for msync, fdatasync and
 * mmap (test/CMakeLists.txt): the library's calls come here first. */

int __real_msync(void *addr, size_t len, int flags);
int __real_fdatasync(int fd);
void *__real_mmap(void *addr, size_t len, int prot, int flags, int fd,
                  off_t off);
static struct {
  int msyncs, msync_flags, fdatasyncs, mmaps;
} io;

void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd,
                  off_t off) {
  io.mmaps++;
  return __real_mmap(addr, len, prot, flags, fd, off);
}

int __wrap_msync(void *addr, size_t len, int flags) {
  io.msyncs++;
  io.msync_flags = flags;
  return __real_msync(addr, len, flags);
}

int __wrap_fdatasync(int fd) {
  io.fdatasyncs++;
  return __real_fdatasync(fd);
}

/* 1 where this program sees the library's mmap calls: __wrap_mmap stands
 * for mmap only while mmap is not redirected to mmap64 (a 32-bit build
 * with _FILE_OFFSET_BITS=64). */
static int mmaps_counted(void) { return sizeof(off_t) == sizeof(long); }

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
  /* O_APPEND: mmf_map_write would land at the file's end, whatever its
   * offset: refused for READWRITE, fine for reading. */
  {
    int afd = open(p, O_RDWR | O_APPEND);
    assert_true(afd >= 0);
    TH_EXPECT_ERR(mmf_map_from_native(&m, afd, MMF_PROT_READWRITE, 0),
                  MMF_EBADF, "O_APPEND");
    assert_null(m);
    TH_OK(mmf_map_from_native(&m, afd, MMF_PROT_READ, 0));
    assert_int_equal(mmf_map_size(m), N);
    TH_OK(mmf_map_close(m));
    close(afd);
  }
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

/* A "Vm...:" figure of /proc/self/status, in KiB (-1 if missing). */
static long vm_status_kb(const char *field) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256], fmt[64];
  long kb = -1;
  assert_non_null(f);
  snprintf(fmt, sizeof fmt, "%s: %%ld kB", field);
  while (fgets(line, sizeof line, f))
    if (sscanf(line, fmt, &kb) == 1)
      break;
  fclose(f);
  return kb;
}

static long vm_locked_kb(void) { return vm_status_kb("VmLck"); }
static long vm_size_kb(void) { return vm_status_kb("VmSize"); }

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

/* MMF_ADVICE_POPULATE on a WRITE view makes the pages writable now
 * (MADV_POPULATE_WRITE): storing to them then takes no page fault, where a
 * view populated for reading would take one per page. And pages that are
 * past the file's end since it shrank are MMF_EIO, not SIGBUS. */
/* DONTNEED that runs to the end of a view takes its last, partial page out
 * too (the mapping covers it whole); one that stops inside a page keeps it.
 * A read-only view: the pages come back from the file if touched again. */
static void dontneed_to_the_end_takes_the_last_partial_page(void **state) {
  size_t page = mmf_page_size();
  const char *p = make("dontneed-end", 3 * page + 100, 34);
  mmf_map *m;
  mmf_view *v;
  unsigned char *d;
  int before, after, kept;
  (void)state;
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READ, 0, 0));
  TH_OK(mmf_view_map(&v, m, 0, 0, MMF_ACCESS_READ | MMF_VIEW_POPULATE));
  d = mmf_view_data(v);
  before = th_page_is_mapped(d + 3 * page);
  TH_OK(mmf_view_advise(v, 2 * page, page, MMF_ADVICE_DONTNEED));
  kept = th_page_is_mapped(d + 3 * page); /* the range stopped before it */
  TH_OK(mmf_view_advise(v, page, 0, MMF_ADVICE_DONTNEED));
  after = th_page_is_mapped(d + 3 * page);
  TH_OK(mmf_view_unmap(v));
  TH_OK(mmf_map_close(m));
  assert_int_equal(before, 1);
  assert_int_equal(kept, 1);
  assert_int_equal(after, 0);
}

/* A write touch covers its last byte: a range that starts inside a page
 * ends in the next one, which a page-sized stride from its start misses (a
 * COPY view: each written page is a private copy, and no write fault maps
 * a neighbour). */
static void write_touch_reaches_the_last_page(void **state) {
  size_t page = mmf_page_size();
  const char *p = make("touch-end", 3 * page, 35);
  mmf_map *m;
  mmf_view *v;
  unsigned char *d;
  int first, last, past;
  (void)state;
  if (!mmf__touch_writes())
    skip();
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READ, 0, 0));
  TH_OK(mmf_view_map(&v, m, 0, 0, MMF_ACCESS_COPY));
  d = mmf_view_data(v);
  TH_OK(mmf__touch(d + 100, page, 1)); /* a page's worth, across two */
  first = th_copy_page_is_private(d);
  last = th_copy_page_is_private(d + page);
  past = th_copy_page_is_private(d + 2 * page);
  TH_OK(mmf_view_unmap(v));
  TH_OK(mmf_map_close(m));
  assert_int_equal(first, 1);
  assert_int_equal(last, 1);
  assert_int_not_equal(past, 1); /* untouched: not present (-1) */
}

static void populate_advice_is_writable_and_fails_past_the_end(void **state) {
  const size_t page = mmf_page_size(), size = 64 * page;
  const char *p = th_path("populate-w");
  unsigned char *b = calloc(1, page);
  uint64_t before;
  mmf_map *m;
  mmf_view *v;
  unsigned char *d;
  int fd;
  (void)state;
  /* Written a page at a time, so cached in page-size folios: a write fault
   * maps a whole large folio writable, which would hide the control below
   * (Linux 6.18). */
  assert_non_null(b);
  fd = open(p, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  assert_true(fd >= 0);
  for (size_t i = 0; i < size / page; i++)
    assert_int_equal(pwrite(fd, b, page, (off_t)(i * page)), (ssize_t)page);
  assert_int_equal(close(fd), 0);
  free(b);
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READWRITE, 0, 0));
  TH_OK(mmf_view_map(&v, m, 0, 0, MMF_ACCESS_WRITE));
  d = mmf_view_data(v);
  TH_OK(mmf_view_advise(v, 8 * page, 32 * page, MMF_ADVICE_POPULATE));
  before = mmf__os_minor_faults();
  th_store_per_page(d + 8 * page, 32 * page);
  assert_int_equal(mmf__os_minor_faults() - before, 0);
  /* Pages 40.. were not populated: storing to them faults (the control;
   * once per page on ext4, once for all on tmpfs, which maps the
   * neighbours writable too). */
  before = mmf__os_minor_faults();
  th_store_per_page(d + 40 * page, 8 * page);
  assert_true(mmf__os_minor_faults() - before >= 1);

  assert_int_equal(truncate(p, (off_t)(16 * page)), 0);
  TH_EXPECT_ERR(mmf_view_advise(v, 8 * page, 32 * page, MMF_ADVICE_POPULATE),
                MMF_EIO, "past the end of the file");
  assert_non_null(strstr(mmf_last_error_message(), "mmf_view_advise"));
  TH_OK(mmf_view_advise(v, 0, 16 * page, MMF_ADVICE_POPULATE));
  TH_OK(mmf_view_unmap(v));
  TH_OK(mmf_map_close(m));
}

/* A span walk with POPULATE over a file cached in large folios touches its
 * windows in (window.c) after the first; a window past the end of a file
 * that shrank meanwhile is MMF_EIO from mmf_window_next, not SIGBUS: the
 * walk asks the file's size before touching. */
static void touched_walk_reports_a_file_that_shrank(void **state) {
  const size_t mib = (size_t)1 << 20, n = 8 * mib;
  const char *p = th_path("touch-shrink");
  unsigned char *b = malloc(mib);
  (void)state;
  assert_non_null(b);
  memset(b, 0x33, mib);
  /* READ walks too: they touch on every CPU (WRITE ones on x86 only) */
  for (int a = 0; a < 2; a++) {
    mmf_map *m;
    mmf_window *w;
    void *data;
    size_t size;
    uint64_t off;
    int fd = open(p, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    for (size_t i = 0; i < n / mib; i++) /* large folios (Linux 6.x) */
      assert_int_equal(pwrite(fd, b, mib, (off_t)(i * mib)), (ssize_t)mib);
    assert_int_equal(close(fd), 0);
    TH_OK(mmf_map_open(&m, p, MMF_PROT_READWRITE, 0, 0));
    TH_OK(mmf_window_open(
        &w, m, 0, 0, mib,
        (a ? MMF_ACCESS_WRITE : MMF_ACCESS_READ) | MMF_VIEW_POPULATE, 0));
    for (int k = 0; k < 3; k++)
      assert_int_equal(mmf_window_next(w, &data, &size, &off), 1);
    /* It touches now where the file is in large folios (ext4 on 6.x); else
     * it populates every window, and the same must hold. */
    if (mmf__window_touch_count(w) != 2)
      print_message("(not touching here: %llu windows touched)\n",
                    (unsigned long long)mmf__window_touch_count(w));
    assert_int_equal(truncate(p, (off_t)(4 * mib)), 0);
    assert_int_equal(mmf_window_next(w, &data, &size, &off), 1); /* [3, 4) */
    assert_int_equal(off, 3 * mib);
    TH_EXPECT_ERR(mmf_window_next(w, &data, &size, &off), MMF_EIO,
                  "past the end of the file");
    assert_non_null(strstr(mmf_last_error_message(), "mmf_window_next"));
    /* and again: the walk stays at the window it could not deliver */
    TH_EXPECT_ERR(mmf_window_next(w, &data, &size, &off), MMF_EIO,
                  "past the end of the file");
    TH_OK(mmf_window_close(w));
    TH_OK(mmf_map_close(m));
  }
  free(b);
}

/* A walk touches a window in only where that cannot find a page that is not
 * there: the file holds the bytes, and for a write the filesystem has room
 * for the window twice over (a store into a hole, or anywhere on a
 * copy-on-write filesystem, allocates; on a full disk the fault would be
 * SIGBUS). The full disk is a small tmpfs of the test's own (root only). */
static void touch_is_safe_only_within_the_file_and_with_room(void **state) {
  const size_t mib = (size_t)1 << 20;
  const char *p = make("touch-safe", 4 * mib, 23);
  char dir[600], fill[700], sparse[700];
  int fd;
  (void)state;
  fd = open(p, O_RDONLY | O_CLOEXEC);
  assert_true(fd >= 0);
  for (int write = 0; write < 2; write++) {
    assert_int_equal(mmf__os_touch_safe(fd, 0, 4 * mib, write), 1);
    assert_int_equal(mmf__os_touch_safe(fd, mib + 5, mib, write), 1);
    assert_int_equal(mmf__os_touch_safe(fd, 3 * mib, mib + 1, write), 0);
  }
  assert_int_equal(truncate(p, (off_t)mib), 0); /* shrunk */
  assert_int_equal(mmf__os_touch_safe(fd, 0, mib, 1), 1);
  assert_int_equal(mmf__os_touch_safe(fd, 0, mib + 1, 0), 0);
  assert_int_equal(close(fd), 0);

  snprintf(dir, sizeof dir, "%s", th_path("small-fs"));
  assert_int_equal(th_mkdir(dir), 0);
  if (geteuid() != 0 || mount("tmpfs", dir, "tmpfs", 0, "size=8m") != 0) {
    print_message("(no tmpfs of our own here: the full disk is not tried)\n");
    return;
  }
  snprintf(sparse, sizeof sparse, "%s/sparse", dir);
  snprintf(fill, sizeof fill, "%s/fill", dir);
  fd = open(sparse, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  assert_true(fd >= 0);
  assert_int_equal(ftruncate(fd, (off_t)(16 * mib)), 0); /* all hole */
  assert_int_equal(mmf__os_touch_safe(fd, 0, mib, 1), 1);
  {
    int ff = open(fill, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    unsigned char *b = calloc(1, mib);
    assert_true(ff >= 0);
    assert_non_null(b);
    for (int i = 0; i < 7; i++) /* 1 MiB left */
      assert_int_equal(write(ff, b, mib), (ssize_t)mib);
    free(b);
    assert_int_equal(close(ff), 0);
  }
  assert_int_equal(mmf__os_touch_safe(fd, 0, mib, 1), 0); /* no room */
  assert_int_equal(mmf__os_touch_safe(fd, 0, mib, 0), 1); /* reads are */
  assert_int_equal(close(fd), 0);
  assert_int_equal(umount(dir), 0);
}

/* Where the address space has no room for a walk's span, the walk maps a
 * view per window, as without spans. */
static void span_walk_without_room_maps_a_view_per_window(void **state) {
  const size_t mib = (size_t)1 << 20;
  const char *p = th_path("span-room");
  struct rlimit old, low;
  mmf_map *m;
  mmf_window *w;
  void *data;
  size_t size, k = 0;
  uint64_t off;
  int rc, fd;
  (void)state;
#if TH_ASAN
  skip(); /* its shadow memory makes the address-space limit meaningless */
#endif
  fd = open(p, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  assert_true(fd >= 0);
  assert_int_equal(ftruncate(fd, (off_t)(512 * mib)), 0); /* sparse */
  assert_int_equal(close(fd), 0);
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READ, 0, 0));
  assert_int_equal(getrlimit(RLIMIT_AS, &old), 0);
  low = old;
  low.rlim_cur = (rlim_t)(vm_size_kb() * 1024 + 64 * mib);
  assert_int_equal(setrlimit(RLIMIT_AS, &low), 0);
  rc = mmf_window_open(&w, m, 0, 0, 4 * mib, MMF_ACCESS_READ, 0);
  io.mmaps = 0;
  while (rc == 0 && k < 8 &&
         (rc = mmf_window_next(w, &data, &size, &off)) == 1) {
    if (off != k * 4 * mib || ((unsigned char *)data)[size - 1] != 0)
      break;
    rc = 0;
    k++;
  }
  /* the limit back before anything can fail */
  assert_int_equal(setrlimit(RLIMIT_AS, &old), 0);
  assert_int_equal(rc, 0);
  assert_int_equal(k, 8);
  /* The span is tried once: then a view per window, not a failed span and
   * a view every time. */
  if (mmaps_counted())
    assert_int_equal(io.mmaps, 1 + 8);
  TH_OK(mmf_window_close(w));
  TH_OK(mmf_map_close(m));
}

/* A walk maps a span per MMF_WINDOW_SPAN_MAX bytes, backward as forward:
 * 8 windows with spans of 4 windows are 2 mmaps either way. */
static void span_walks_map_a_span_per_span_max_either_way(void **state) {
  const size_t mib = (size_t)1 << 20;
  const char *p = make("span-count", 8 * mib, 36);
  static const unsigned dirs[] = {0, MMF_WINDOW_BACKWARD};
  (void)state;
  if (!mmf__os_walk_spans() || !mmaps_counted())
    skip();
  for (size_t d = 0; d < 2; d++) {
    mmf_map *m;
    mmf_window *w;
    void *data;
    size_t size, k = 0;
    int rc, mmaps;
    TH_OK(mmf_map_open(&m, p, MMF_PROT_READ, 0, 0));
    mmf__window_span_max = 4 * mib;
    TH_OK(mmf_window_open(&w, m, 0, 0, mib, MMF_ACCESS_READ, dirs[d]));
    io.mmaps = 0;
    while ((rc = mmf_window_next(w, &data, &size, NULL)) == 1)
      k++;
    mmaps = io.mmaps;
    TH_OK(rc);
    TH_OK(mmf_window_close(w));
    TH_OK(mmf_map_close(m));
    assert_int_equal(k, 8);
    assert_int_equal(mmaps, 2);
  }
}

static void too_many_open_files_is_emfile(void **state) {
  const char *p = make("emfile", N, 10);
  struct rlimit old, low;
  mmf_map *m = (mmf_map *)&m;
  int rc, os, lowest;
  th_res r = th_res_now();
  (void)state;
  /* the lowest free descriptor number (not dup(0): stdin may be closed) */
  lowest = open("/dev/null", O_RDONLY | O_CLOEXEC);
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
  /* Regular files that report a size of 0 and read data: not "empty". */
  TH_EXPECT_ERR(mmf_map_open(&m, "/proc/self/status", MMF_PROT_READ, 0, 0),
                MMF_ENOTSUP, "holds data");
  {
    int pfd = open("/proc/self/status", O_RDONLY);
    assert_true(pfd >= 0);
    TH_EXPECT_ERR(mmf_map_from_native(&m, pfd, MMF_PROT_READ, 0), MMF_ENOTSUP,
                  "mmf_map_from_native");
    close(pfd);
  }
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

/* A Unix socket bound at `path`: its descriptor (close it and unlink the
 * path to remove it). */
static int bound_socket(const char *path) {
  struct sockaddr_un a;
  int s = socket(AF_UNIX, SOCK_STREAM, 0);
  assert_true(s >= 0);
  memset(&a, 0, sizeof a);
  a.sun_family = AF_UNIX;
  assert_true(strlen(path) < sizeof a.sun_path);
  strcpy(a.sun_path, path);
  assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
  return s;
}

static int count_listed(void *ctx, const mmf_shm_info *info) {
  (void)info;
  ++*(int *)ctx;
  return 0;
}

/* Sockets are not mapped files: mmf_map_open says MMF_ENOTSUP (open()
 * fails ENXIO), and one at an object's path in /dev/shm -- anyone may put
 * one there -- is skipped by mmf_shm_list, not a failure of the listing. */
static void sockets_are_enotsup_and_skipped_by_the_listing(void **state) {
  char path[108], odd[108];
  mmf_map *m = (mmf_map *)&m;
  int s, n = 0;
  (void)state;
  snprintf(path, sizeof path, "/dev/shm/mmf.test-posix-sock-%ld",
           (long)getpid());
  unlink(path);
  s = bound_socket(path);
  TH_EXPECT_ERR(mmf_map_open(&m, path, MMF_PROT_READ, 0, 0), MMF_ENOTSUP,
                "mmf_map_open");
  assert_null(m);
  /* Nor does an entry whose name is not one of ours (a creator's
   * temporary "mmf.NAME~..." file, here one with a space) leave a trace
   * in the error record of a listing that succeeds. */
  snprintf(odd, sizeof odd, "/dev/shm/mmf.not ours-%ld", (long)getpid());
  assert_int_equal(th_write_file(odd, "x", 1), 0);
  th_mark_error_record();
  TH_OK(mmf_shm_list(count_listed, &n));
  th_assert_error_record_marked();
  close(s);
  assert_int_equal(unlink(path), 0);
  assert_int_equal(unlink(odd), 0);
}

/* ---- what a child is handed ------------------------------------------- */

/* The descriptor a token names (its "f=" field). */
static int token_fd(const char *tok) {
  const char *f = strstr(tok, ":f=");
  assert_non_null(f);
  return atoi(f + 3);
}

/* A named shared object opened read-only hands a child a read-only
 * descriptor: the token's access is the mapping's, not more. */
static void shm_token_gives_no_more_access_than_the_mapping(void **state) {
  char name[64], tok[MMF_TOKEN_MAX];
  mmf_map *w, *r;
  int fd;
  (void)state;
  snprintf(name, sizeof name, "test-posix-tok-%ld", (long)getpid());
  TH_OK(mmf_shm_create(&w, name, 4096, MMF_SHM_TRANSIENT));
  TH_OK(mmf_shm_open(&r, name, MMF_PROT_READ, 0));
  TH_OK(mmf_map_token(r, tok, sizeof tok));
  fd = token_fd(tok);
  assert_int_equal(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDONLY);
  assert_true(write(fd, "x", 1) < 0);
  TH_OK(mmf_map_token(w, tok, sizeof tok));
  assert_int_equal(fcntl(token_fd(tok), F_GETFL) & O_ACCMODE, O_RDWR);
  TH_OK(mmf_map_close(r));
  TH_OK(mmf_map_close(w));
}

/* ---- CPU quotas (cgroups) ---------------------------------------------*/

/* Write `text` to dir/name (dir/name a path under the test's temp dir). */
static void put(const char *dir, const char *name, const char *text) {
  char path[4200];
  assert_true((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) <
              sizeof path);
  assert_int_equal(th_write_file(path, text, strlen(text)), 0);
}

static void make_dir(const char *path) {
  assert_true(th_mkdir(path) == 0 || errno == EEXIST);
}

/* A made-up /proc/self and cgroup tree: a v1 cpu hierarchy at fs/cpu
 * (this process in /outer/inner), a v2 one at fs/uni (in /a/b), and
 * mounts that must not be taken for them. Every level starts unlimited. */
struct fake_cg {
  char proc[512], v1_outer[512], v1_inner[512], v2_a[512], v2_b[512];
};

static void fake_cg_make(struct fake_cg *f, const char *base) {
  char fs[300], text[4096];
  snprintf(f->proc, sizeof f->proc, "%s/proc", base);
  snprintf(fs, sizeof fs, "%s/fs", base);
  make_dir(base);
  make_dir(f->proc);
  make_dir(fs);
  snprintf(text, sizeof text, "%s/cpu", fs);
  make_dir(text);
  snprintf(f->v1_outer, sizeof f->v1_outer, "%s/fs/cpu/outer", base);
  snprintf(f->v1_inner, sizeof f->v1_inner, "%s/fs/cpu/outer/inner", base);
  snprintf(text, sizeof text, "%s/uni", fs);
  make_dir(text);
  /* A v2 mount of another cgroup (its root does not hold /a/b), listed
   * first and limited: never the one to read. */
  snprintf(text, sizeof text, "%s/decoy", fs);
  make_dir(text);
  put(text, "cpu.max", "100000 100000\n");
  snprintf(f->v2_a, sizeof f->v2_a, "%s/fs/uni/a", base);
  snprintf(f->v2_b, sizeof f->v2_b, "%s/fs/uni/a/b", base);
  make_dir(f->v1_outer);
  make_dir(f->v1_inner);
  make_dir(f->v2_a);
  make_dir(f->v2_b);
  put(f->proc, "cgroup",
      "12:memory:/elsewhere\n"
      "4:cpuset:/elsewhere\n"
      "3:cpu,cpuacct:/outer/inner\n"
      "1:name=systemd:/\n"
      "0::/a/b\n");
  snprintf(text, sizeof text,
           "22 1 8:1 / / rw,relatime - ext4 /dev/vda rw\n"
           "30 22 0:30 / %s/memory rw - cgroup cgroup rw,memory\n"
           "31 22 0:31 / %s/cpuset rw - cgroup cgroup rw,cpuset\n"
           "32 22 0:32 / %s/cpu rw,nosuid shared:9 - cgroup cgroup "
           "rw,cpu,cpuacct\n"
           "34 22 0:34 /other %s/decoy rw - cgroup2 cgroup2 rw\n"
           "33 22 0:33 / %s/uni rw - cgroup2 cgroup2 rw\n",
           fs, fs, fs, fs, fs);
  put(f->proc, "mountinfo", text);
  put(f->v1_outer, "cpu.cfs_quota_us", "-1\n");
  put(f->v1_outer, "cpu.cfs_period_us", "100000\n");
  put(f->v1_inner, "cpu.cfs_quota_us", "-1\n");
  put(f->v1_inner, "cpu.cfs_period_us", "100000\n");
  put(f->v2_a, "cpu.max", "max 100000\n");
  put(f->v2_b, "cpu.max", "max 100000\n");
}

/* A teardown: the library's own /proc/self again (the same pointer: the
 * library keeps its answer only for that one), even after a failure. */
static const char *library_proc_self;
static int real_proc_self(void **state) {
  (void)state;
  if (library_proc_self)
    mmf__os_proc_self = library_proc_self;
  return 0;
}

static void cpu_count_follows_the_cgroup_quotas(void **state) {
  struct fake_cg f;
  char base[256], text[4096];
  unsigned cpus;
  (void)state;
  snprintf(base, sizeof base, "%s", th_path("cg"));
  fake_cg_make(&f, base);
  library_proc_self = mmf__os_proc_self;
  mmf__os_proc_self = f.proc;
  cpus = mmf__os_cpu_count(); /* the affinity mask: nothing limits it */
  assert_true(cpus >= 1);
  assert_int_equal(mmf__os_cpu_quota(), 0);
  /* v1: quota over period, rounded up, at the process's own level... */
  put(f.v1_inner, "cpu.cfs_quota_us", "250000\n");
  assert_int_equal(mmf__os_cpu_quota(), 3);
  put(f.v1_inner, "cpu.cfs_period_us", "50000\n");
  assert_int_equal(mmf__os_cpu_quota(), 5);
  /* ... or above it, the smallest winning. */
  put(f.v1_outer, "cpu.cfs_quota_us", "150000\n");
  assert_int_equal(mmf__os_cpu_quota(), 2);
  put(f.v1_outer, "cpu.cfs_quota_us", "-1\n");
  put(f.v1_inner, "cpu.cfs_quota_us", "-1\n");
  /* v2: "QUOTA PERIOD", at the leaf or above; "max" is no limit. */
  put(f.v2_b, "cpu.max", "50000 100000\n");
  assert_int_equal(mmf__os_cpu_quota(), 1);
  assert_int_equal(mmf__os_cpu_count(), 1);
  put(f.v2_b, "cpu.max", "max 100000\n");
  put(f.v2_a, "cpu.max", "700000 100000\n");
  assert_int_equal(mmf__os_cpu_quota(), 7);
  assert_int_equal(mmf__os_cpu_count(), cpus < 7 ? cpus : 7);
  /* Both hierarchies: the smaller. */
  put(f.v1_inner, "cpu.cfs_quota_us", "400000\n");
  put(f.v1_inner, "cpu.cfs_period_us", "100000\n");
  assert_int_equal(mmf__os_cpu_quota(), 4);
  /* Nonsense is no limit. */
  put(f.v1_inner, "cpu.cfs_quota_us", "0\n");
  put(f.v2_a, "cpu.max", "garbage\n");
  assert_int_equal(mmf__os_cpu_quota(), 0);
  /* A mount whose root is a cgroup below the hierarchy's root (what a
   * cgroup namespace shows), at a path with an escaped space. */
  snprintf(text, sizeof text, "%s/fs/c pu", base);
  make_dir(text);
  snprintf(text, sizeof text, "%s/fs/c pu/inner", base);
  make_dir(text);
  put(text, "cpu.cfs_quota_us", "300000\n");
  put(text, "cpu.cfs_period_us", "100000\n");
  snprintf(text, sizeof text,
           "32 22 0:32 /outer %s/fs/c\\040pu rw - cgroup cgroup rw,cpu\n",
           base);
  put(f.proc, "mountinfo", text);
  assert_int_equal(mmf__os_cpu_quota(), 3);
  /* No mount's root holds the path (a cgroup namespace's view of a mount
   * made outside it): the mount point is the process's cgroup. */
  snprintf(text, sizeof text, "%s/fs/ns", base);
  make_dir(text);
  put(text, "cpu.cfs_quota_us", "200000\n");
  put(text, "cpu.cfs_period_us", "100000\n");
  snprintf(text, sizeof text,
           "32 22 0:32 /elsewhere %s/fs/ns rw - cgroup cgroup rw,cpu\n", base);
  put(f.proc, "mountinfo", text);
  assert_int_equal(mmf__os_cpu_quota(), 2);
  /* No mountinfo, no cgroup file: no limit. */
  put(f.proc, "mountinfo", "");
  assert_int_equal(mmf__os_cpu_quota(), 0);
  snprintf(text, sizeof text, "%s/cgroup", f.proc);
  assert_int_equal(remove(text), 0);
  assert_int_equal(mmf__os_cpu_quota(), 0);
  real_proc_self(NULL);
  assert_int_equal(mmf__os_cpu_count(), cpus);
}

/* The same on this kernel's own files, where a cgroup with a CPU
 * controller can be made (root, cgroup v1 "cpu" or v2 with "cpu" in
 * subtree_control): a child moved into a cgroup limited to half a CPU sees
 * one. Skipped elsewhere. */
static void cpu_count_follows_a_real_cgroup(void **state) {
  static const struct {
    const char *parent, *quota_file, *quota;
  } kinds[] = {
      {"/sys/fs/cgroup/cpu", "cpu.cfs_quota_us", "50000"},
      {"/sys/fs/cgroup", "cpu.max", "50000 100000"},
  };
  (void)state;
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
    char dir[256], file[300];
    int fd, status = -1;
    pid_t pid;
    snprintf(dir, sizeof dir, "%s/mmf-test-%ld", kinds[k].parent,
             (long)getpid());
    if (mkdir(dir, 0700) != 0)
      continue;
    snprintf(file, sizeof file, "%s/%s", dir, kinds[k].quota_file);
    fd = open(file, O_WRONLY);
    if (fd < 0 || write(fd, kinds[k].quota, strlen(kinds[k].quota)) < 0) {
      if (fd >= 0)
        close(fd);
      rmdir(dir);
      continue; /* no CPU controller here */
    }
    close(fd);
    snprintf(file, sizeof file, "%s/cgroup.procs", dir);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
      char me[32];
      int n = snprintf(me, sizeof me, "%ld\n", (long)getpid());
      fd = open(file, O_WRONLY);
      if (fd < 0 || write(fd, me, (size_t)n) != n)
        _exit(100);
      close(fd);
      _exit(mmf__os_cpu_quota() == 1 && mmf__os_cpu_count() == 1 ? 0 : 101);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(rmdir(dir), 0); /* the child is gone: it is empty */
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    return;
  }
  skip();
}

/* ---- what flushes ask of the OS (the wrappers are at the top) ------------*/

/* Flush `v` in `mode` and check the calls: `msync_flags` -1 for no msync. */
static void expect_flush_calls(mmf_view *v, int mode, int msync_flags,
                               int fdatasyncs) {
  memset(&io, 0, sizeof io);
  TH_OK(mmf_view_flush(v, 0, 0, mode));
  assert_int_equal(io.msyncs, msync_flags < 0 ? 0 : 1);
  if (msync_flags >= 0)
    assert_int_equal(io.msync_flags, msync_flags);
  assert_int_equal(io.fdatasyncs, fdatasyncs);
}

static void flushes_ask_the_os_for_what_they_promise(void **state) {
  const char *p = make("flushcalls", N, 31);
  static const unsigned ro[] = {MMF_ACCESS_READ, MMF_ACCESS_COPY};
  mmf_map *m;
  mmf_view *v;
  (void)state;
  /* A plain file: ASYNC starts writeback, SYNC waits for it, DURABLE also
   * has the device flushed (fdatasync); mmf_map_sync is fdatasync. */
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READWRITE, 0, 0));
  TH_OK(mmf_view_map(&v, m, 0, 0, MMF_ACCESS_WRITE));
  ((unsigned char *)mmf_view_data(v))[7] ^= 1;
  expect_flush_calls(v, MMF_FLUSH_ASYNC, MS_ASYNC, 0);
  expect_flush_calls(v, MMF_FLUSH_SYNC, MS_SYNC, 0);
  expect_flush_calls(v, MMF_FLUSH_DURABLE, MS_SYNC, 1);
  memset(&io, 0, sizeof io);
  TH_OK(mmf_map_sync(m));
  assert_int_equal(io.fdatasyncs, 1);
  assert_int_equal(io.msyncs, 0);
  TH_OK(mmf_view_unmap(v));
  /* READ and COPY views have nothing of the file's to write: no call. */
  for (size_t k = 0; k < sizeof ro / sizeof ro[0]; k++) {
    TH_OK(mmf_view_map(&v, m, 0, 0, ro[k]));
    expect_flush_calls(v, MMF_FLUSH_DURABLE, -1, 0);
    TH_OK(mmf_view_unmap(v));
  }
  TH_OK(mmf_map_close(m));
  /* Write-through: every flush is durable, whatever its mode. */
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READWRITE, MMF_OPEN_WRITE_THROUGH, 0));
  TH_OK(mmf_view_map(&v, m, 0, 0, MMF_ACCESS_WRITE));
  ((unsigned char *)mmf_view_data(v))[7] ^= 1;
  expect_flush_calls(v, MMF_FLUSH_ASYNC, MS_SYNC, 1);
  expect_flush_calls(v, MMF_FLUSH_SYNC, MS_SYNC, 1);
  expect_flush_calls(v, MMF_FLUSH_DURABLE, MS_SYNC, 1);
  TH_OK(mmf_view_unmap(v));
  TH_OK(mmf_map_close(m));
}

/* A full disk is MMF_ENOSPC, not some other failure: a program that checks
 * for it must find it (here the reservation of a growing mapping). */
static void a_full_disk_is_enospc(void **state) {
  const char *p = make("enospc", 100, 32);
  mmf_map *m;
  int rc, seen = 0;
  (void)state;
  for (unsigned long n = 1;; n++) {
    mmf__fault_arm(n);
    rc = mmf_map_open(&m, p, MMF_PROT_READWRITE, 0, 1 << 20);
    if (!mmf__fault_fired())
      break;
    if (rc == 0) { /* absorbed by a best-effort step: start over */
      TH_OK(mmf_map_close(m));
      assert_int_equal(truncate(p, 100), 0);
      continue;
    }
    if (strcmp(mmf__fault_call(), "posix_fallocate") == 0) {
      assert_int_equal(rc, MMF_ENOSPC);
      assert_int_equal(mmf_last_os_error(), ENOSPC);
      seen = 1;
    }
    /* the file as it was: the injected fault grew it half way */
    assert_int_equal(th_file_size(p), 100);
  }
  mmf__fault_arm(0);
  TH_OK(rc);
  TH_OK(mmf_map_close(m));
  assert_true(seen);
}

/* An AUTO walk on its read path reports a file that shrank under it, as the
 * mapped path does (test below), instead of handing out stale bytes. */
static void read_path_walk_reports_a_file_that_shrank(void **state) {
  const size_t mib = 1 << 20;
  const char *p = make("shrink-read", 4 * mib, 33);
  mmf_map *m;
  mmf_window *w;
  void *data;
  size_t len;
  uint64_t buffered;
  (void)state;
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READ, 0, 0));
  mmf__auto_decision = MMF__AUTO_READ;
  TH_OK(mmf_window_open(&w, m, 0, 0, mib, MMF_ACCESS_READ, MMF_WINDOW_AUTO));
  while (mmf_window_buffered_count(w) == 0)
    assert_int_equal(mmf_window_next(w, &data, &len, NULL), 1);
  assert_int_equal(truncate(p, 3 * mib / 2), 0);
  buffered = mmf_window_buffered_count(w);
  TH_EXPECT_ERR(mmf_window_next(w, &data, &len, NULL), MMF_EIO,
                "mmf_window_next");
  assert_non_null(strstr(mmf_last_error_message(), "shrank"));
  assert_int_equal(mmf_window_buffered_count(w), buffered);
  TH_OK(mmf_window_close(w));
  TH_OK(mmf_map_close(m));
}

/* ---- descriptors 0, 1 and 2 ----------------------------------------------
 * A program started with stdin, stdout or stderr closed gets that number back
 * from its next open: mmf must not keep its files there, or the program's
 * own printf lands in them (`mmf reverse FILE 2>&-` wrote its progress line
 * into FILE). The child closes all three, opens every kind of object mmf
 * keeps a descriptor for, and checks after each that 0, 1 and 2 are still
 * closed. Exit status: 0, or the step that failed. */

static int stdio_still_closed(void) {
  return !th_native_is_open(0) && !th_native_is_open(1) &&
         !th_native_is_open(2);
}

static int child_closed_stdio(const char *path, const char *path2,
                              const char *name, const char *key) {
  mmf_map *m, *d, *s, *a, *t, *r;
  mmf_section *sec;
  char token[MMF_TOKEN_MAX], sec_path[512];
  unsigned long n;
  int fd, rc, emfile = 0;
  close(0);
  close(1);
  close(2);
  if (mmf_map_open(&m, path, MMF_PROT_READWRITE,
                   MMF_OPEN_CREATE | MMF_OPEN_EXCL, 4096) != 0)
    return 10;
  if (!stdio_still_closed())
    return 11;
  if ((fd = open(path, O_RDWR | O_CLOEXEC)) != 0) /* takes 0 itself */
    return 12;
  rc = mmf_map_from_native(&d, fd, MMF_PROT_READWRITE, 0);
  close(fd);
  if (rc != 0)
    return 13;
  if (!stdio_still_closed())
    return 14;
  if (mmf_shm_create(&s, name, 4096, MMF_SHM_TRANSIENT) != 0)
    return 15;
  if (!stdio_still_closed())
    return 16;
  if (mmf_map_token(s, token, sizeof token) != 0 ||
      mmf_map_from_token(&r, token, MMF_PROT_READWRITE) != 0)
    return 17;
  if (!stdio_still_closed())
    return 18;
  if (mmf_shm_anonymous(&a, 4096) != 0)
    return 19;
  if (!stdio_still_closed())
    return 20;
  if (mmf_section_open(&sec, key, 64, 0) != 0)
    return 21;
  snprintf(sec_path, sizeof sec_path, "%s", mmf_section_path(sec));
  if (!stdio_still_closed())
    return 22;
  if (mmf_map_close(m) || mmf_map_close(d) || mmf_map_close(r) ||
      mmf_map_close(s) || mmf_map_close(a) || mmf_section_close(sec) ||
      unlink(sec_path) != 0)
    return 23;
  /* Moving the descriptor can fail too: the create is then undone. */
  for (n = 1;; n++) {
    mmf__fault_arm(n);
    rc = mmf_map_open(&t, path2, MMF_PROT_READWRITE,
                      MMF_OPEN_CREATE | MMF_OPEN_EXCL, 4096);
    if (!mmf__fault_fired())
      break;
    if (rc == 0 || access(path2, F_OK) == 0 || !stdio_still_closed())
      return 24;
    emfile += rc == MMF_EMFILE;
  }
  mmf__fault_arm(0);
  if (rc != 0 || !stdio_still_closed() || mmf_map_close(t) != 0)
    return 25;
  if (!emfile)
    return 26; /* the move's failure was among them */
  /* With no descriptor above 2 allowed, the move cannot be made: that is
   * too many open files (fcntl itself says EINVAL). */
  {
    struct rlimit three = {3, 3};
    if (setrlimit(RLIMIT_NOFILE, &three) != 0)
      return 27;
    t = (mmf_map *)&t;
    rc = mmf_map_open(&t, path2, MMF_PROT_READ, 0, 0);
    if (rc != MMF_EMFILE || t != NULL || !stdio_still_closed())
      return 28;
  }
  return 0;
}

static void descriptors_never_take_stdin_stdout_or_stderr(void **state) {
  char name[64], key[64];
  const char *path = th_path("stdio-closed"), *path2 = th_path("stdio-2");
  int status = -1;
  pid_t pid;
  (void)state;
  snprintf(name, sizeof name, "stdio-%lu", th_pid());
  snprintf(key, sizeof key, "stdio-%lu", th_pid());
  unlink(path);
  unlink(path2);
  pid = fork();
  assert_true(pid >= 0);
  if (pid == 0)
    _exit(child_closed_stdio(path, path2, name, key));
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  assert_int_equal(th_shm_leftovers(name), 0);
  assert_int_equal(unlink(path), 0);
  assert_int_equal(unlink(path2), 0);
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
      cmocka_unit_test(flushes_ask_the_os_for_what_they_promise),
      cmocka_unit_test(a_full_disk_is_enospc),
      cmocka_unit_test_teardown(read_path_walk_reports_a_file_that_shrank,
                                th_restore_walk_hooks),
      cmocka_unit_test(extension_reserves_real_blocks),
      cmocka_unit_test(lock_option_and_calls_lock_pages_in_ram),
      cmocka_unit_test(populate_advice_is_writable_and_fails_past_the_end),
      cmocka_unit_test(dontneed_to_the_end_takes_the_last_partial_page),
      cmocka_unit_test(write_touch_reaches_the_last_page),
      cmocka_unit_test(touched_walk_reports_a_file_that_shrank),
      cmocka_unit_test(touch_is_safe_only_within_the_file_and_with_room),
      cmocka_unit_test(span_walk_without_room_maps_a_view_per_window),
      cmocka_unit_test_teardown(span_walks_map_a_span_per_span_max_either_way,
                                th_restore_walk_hooks),
      cmocka_unit_test(too_many_open_files_is_emfile),
      cmocka_unit_test(descriptors_never_take_stdin_stdout_or_stderr),
      cmocka_unit_test(fifo_and_devices_are_enotsup),
      cmocka_unit_test(shm_token_gives_no_more_access_than_the_mapping),
      cmocka_unit_test(sockets_are_enotsup_and_skipped_by_the_listing),
      cmocka_unit_test_teardown(cpu_count_follows_the_cgroup_quotas,
                                real_proc_self),
      cmocka_unit_test(cpu_count_follows_a_real_cgroup),
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
