/* src/os/posix.c -- the src/os.h contract on Linux (and other POSIX systems
 * where the calls exist). The only file of mmf that includes sys/mman.h. */
#define _GNU_SOURCE
#include "../internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* ---- errors --------------------------------------------------------------*/

static int posix_code(int err) {
  switch (err) {
  case ENOENT:
  case ENOTDIR:
  case ELOOP:
    return MMF_ENOENT;
  case EEXIST:
    return MMF_EEXIST;
  case EACCES:
  case EROFS:
  case ETXTBSY:
    return MMF_EACCES;
  case EPERM:
    return MMF_EPERM;
  case EISDIR:
    return MMF_EISDIR;
  case ENOMEM:
    return MMF_ENOMEM;
  case ENOSPC:
  case EDQUOT:
    return MMF_ENOSPC;
  case EIO:
    return MMF_EIO;
  case EINVAL:
    return MMF_EINVAL;
  case EOVERFLOW:
    return MMF_EOVERFLOW;
  case EBADF:
    return MMF_EBADF;
  case ENOTSUP:
  case ENODEV:
  case ENOSYS:
    return MMF_ENOTSUP;
  case EBUSY:
    return MMF_EBUSY;
  case ENAMETOOLONG:
    return MMF_ENAMETOOLONG;
  case EMFILE:
  case ENFILE:
    return MMF_EMFILE;
  case EFBIG:
    return MMF_EFBIG;
  case EAGAIN:
    return MMF_EAGAIN;
  default:
    return MMF_EOS;
  }
}

/* Record errno's failure of `call` (on `path`, which may be NULL). */
static int posix_fail(int err, const char *call, const char *path) {
  if (path)
    return mmf__error_os(posix_code(err), err, "%s \"%s\": %s", call, path,
                         strerror(err));
  return mmf__error_os(posix_code(err), err, "%s: %s", call, strerror(err));
}

/* Only regular files are mapped: a directory is MMF_EISDIR; a FIFO, socket
 * or device (whose size fstat does not give) is MMF_ENOTSUP. */
static int not_regular(mode_t mode, const char *path) {
  const char *what = S_ISFIFO(mode)   ? "a FIFO"
                     : S_ISSOCK(mode) ? "a socket"
                     : S_ISCHR(mode)  ? "a character device"
                     : S_ISBLK(mode)  ? "a block device"
                                      : "not a regular file";
  if (S_ISDIR(mode))
    return posix_fail(EISDIR, "open", path);
  if (path)
    return mmf__error(MMF_ENOTSUP, "open \"%s\": %s cannot be mapped", path,
                      what);
  return mmf__error(MMF_ENOTSUP, "fstat: %s cannot be mapped", what);
}

/* Fault injection: FAULT(name, errno) is true when the armed fault hits this
 * call; errno is then set as the real failure would set it. */
#define FAULT(call, err) (mmf__fault_check(call) ? (errno = (err), 1) : 0)

/* ---- system facts --------------------------------------------------------*/

int mmf__os_args_utf8(int *argc, char ***argv) {
  (void)argc; /* POSIX argv is already the bytes the user typed */
  (void)argv;
  return 0;
}

void mmf__os_sysinfo(size_t *page_size, size_t *granularity) {
  static size_t page;
  if (page == 0) {
    long p = sysconf(_SC_PAGESIZE);
    page = p > 0 ? (size_t)p : 4096;
  }
  if (page_size)
    *page_size = page;
  if (granularity)
    *granularity = page;
}

uint64_t mmf__os_minor_faults(void) {
  struct rusage ru;
  if (getrusage(RUSAGE_THREAD, &ru) != 0)
    return 0;
  return (uint64_t)ru.ru_minflt;
}

/* ---- files ---------------------------------------------------------------*/

/* fcntl(F_DUPFD*, min) says EINVAL when no descriptor at or above `min` is
 * allowed (RLIMIT_NOFILE <= min): that is too many open files. */
static int posix_dupfd_above(int fd, int min) {
  int moved = fcntl(fd, F_DUPFD_CLOEXEC, min);
  if (moved < 0 && errno == EINVAL)
    errno = EMFILE;
  return moved;
}

/* A descriptor mmf keeps is never 0, 1 or 2. A program started with one of
 * them closed gets it back from its next open, and whatever it then writes
 * to stdout or stderr lands in that file: `mmf reverse FILE 2>&-` wrote its
 * progress line into FILE. Moves `fd` to 3 or above (close-on-exec); on
 * failure closes it and returns -1 with errno set. */
static int posix_above_stdio(int fd) {
  int moved, err;
  if (fd < 0 || fd > 2)
    return fd;
  if (FAULT("fcntl", EMFILE))
    moved = -1;
  else
    moved = posix_dupfd_above(fd, 3);
  err = errno;
  close(fd);
  errno = err;
  return moved;
}

/* A refused symbolic link (MMF__OS_NOFOLLOW) is a permission matter, not a
 * missing file: someone may be trying to redirect mmf's create. */
static int posix_open_fail(int err, unsigned flags, const char *path) {
  if (err == ELOOP && (flags & MMF__OS_NOFOLLOW))
    return mmf__error_os(MMF_EACCES, err,
                         "open \"%s\": is a symbolic link (refused)", path);
  if (err == ENXIO) /* a Unix socket (or a device with nothing behind it) */
    return mmf__error_os(MMF_ENOTSUP, err,
                         "open \"%s\": not a regular file (a socket or "
                         "device cannot be mapped)", path);
  return posix_fail(err, "open", path);
}

int mmf__os_open(const char *path, unsigned flags, mmf_os_file *out,
                 int *created) {
  /* O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused
   * below); it changes nothing for regular files. */
  int oflags = O_CLOEXEC | O_NONBLOCK;
  int fd = -1;
  struct stat st;

  *out = MMF_OS_FILE_INVALID;
  *created = 0;
  oflags |= (flags & MMF__OS_WRITE) ? O_RDWR : O_RDONLY;
  if (flags & MMF__OS_TRUNC)
    oflags |= O_TRUNC;
  if (flags & MMF__OS_WRITE_THROUGH)
    oflags |= O_DSYNC;
  if (flags & MMF__OS_NOFOLLOW)
    oflags |= O_NOFOLLOW;

  if (flags & MMF__OS_CREATE) {
    /* Try an exclusive create first so we know whether this call made the
     * file (and may remove it again if a later step fails). */
    if (FAULT("open", ENOSPC))
      fd = -1;
    else
      fd = open(path, oflags | O_CREAT | O_EXCL,
                (flags & MMF__OS_OWNER_ONLY) ? 0600 : 0644);
    if (fd >= 0)
      *created = 1;
    else if (errno != EEXIST || (flags & MMF__OS_EXCL))
      return posix_open_fail(errno, flags, path);
  }
  if (fd < 0) {
    if (FAULT("open", EACCES))
      return posix_fail(errno, "open", path);
    fd = open(path, oflags);
    if (fd < 0)
      return posix_open_fail(errno, flags, path);
  }
  if ((fd = posix_above_stdio(fd)) < 0) {
    int err = errno;
    if (*created)
      unlink(path);
    *created = 0;
    return posix_fail(err, "fcntl(F_DUPFD_CLOEXEC)", path);
  }
  if (FAULT("fstat", EIO) || fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    if (*created)
      unlink(path);
    *created = 0;
    return posix_fail(err, "fstat", path);
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return not_regular(st.st_mode, path);
  }
  *out = fd;
  return 0;
}

int mmf__os_remove(const char *path) {
  if (FAULT("unlink", EIO) || unlink(path) != 0)
    return posix_fail(errno, "unlink", path);
  return 0;
}

int mmf__os_dup(intptr_t native, mmf_os_file *out, int *writable) {
  int fd, fl;
  struct stat st;

  *out = MMF_OS_FILE_INVALID;
  if (native < 0 || native > INT32_MAX)
    return posix_fail(EBADF, "fcntl", NULL);
  if (FAULT("fcntl", EBADF) || (fl = fcntl((int)native, F_GETFL)) < 0)
    return posix_fail(errno, "fcntl(F_GETFL)", NULL);
  if (FAULT("fstat", EIO) || fstat((int)native, &st) != 0)
    return posix_fail(errno, "fstat", NULL);
  if (!S_ISREG(st.st_mode))
    return not_regular(st.st_mode, NULL);
  if ((fl & O_ACCMODE) == O_WRONLY) /* cannot map a write-only file */
    return mmf__error_os(MMF_EBADF, EBADF, "file descriptor %d is write-only: "
                         "a mapping needs read access", (int)native);
  if (FAULT("fcntl", EMFILE) ||
      (fd = posix_dupfd_above((int)native, 3)) < 0) /* not 0..2 */
    return posix_fail(errno, "fcntl(F_DUPFD_CLOEXEC)", NULL);
  /* O_APPEND: pwrite would write at the end whatever the offset (Linux) */
  *writable = (fl & O_ACCMODE) != O_RDWR ? 0 : (fl & O_APPEND) ? -1 : 1;
  *out = fd;
  return 0;
}

int mmf__os_close(mmf_os_file f) {
  /* Linux always releases the descriptor, even when close reports an error,
   * so an injected failure closes it too (no leak, error still reported). */
  int injected = FAULT("close", EIO);
  if (close((int)f) != 0 || injected)
    return posix_fail(injected ? EIO : errno, "close", NULL);
  return 0;
}

int mmf__os_file_size(mmf_os_file f, uint64_t *size) {
  struct stat st;
  if (FAULT("fstat", EIO) || fstat((int)f, &st) != 0)
    return posix_fail(errno, "fstat", NULL);
  *size = (uint64_t)st.st_size;
  return 0;
}

int mmf__os_file_extend(mmf_os_file f, uint64_t old, uint64_t size) {
  int err;

  if (size > (uint64_t)INT64_MAX)
    return posix_fail(EFBIG, "fallocate", NULL);
  /* Reserve real blocks so a store through a view can never hit a full disk
   * (which would be SIGBUS); posix_fallocate writes zeros itself on file
   * systems without fallocate. It returns the error instead of setting
   * errno. */
  if (FAULT("posix_fallocate", ENOSPC)) {
    /* As a full disk may leave it (ext4 grows the file as it allocates):
     * half the range taken, so the undo below is tested too. */
    if (ftruncate((int)f, (off_t)(old + (size - old) / 2)) != 0) {
      /* then the injected failure alone */
    }
    err = ENOSPC;
  } else
    err = posix_fallocate((int)f, (off_t)old, (off_t)(size - old));
  if (err != 0) {
    /* Undo a partial extension so nothing is left behind. */
    if (ftruncate((int)f, (off_t)old) != 0) {
      /* best effort; the fallocate error is what the user needs */
    }
    return posix_fail(err, "posix_fallocate", NULL);
  }
  return 0;
}

int mmf__os_file_truncate(mmf_os_file f, uint64_t size) {
  if (FAULT("ftruncate", EIO) || ftruncate((int)f, (off_t)size) != 0)
    return posix_fail(errno, "ftruncate", NULL);
  return 0;
}

int mmf__os_file_sync(mmf_os_file f) {
  if (FAULT("fdatasync", EIO) || fdatasync((int)f) != 0)
    return posix_fail(errno, "fdatasync", NULL);
  return 0;
}

int mmf__os_read(mmf_os_file f, uint64_t off, void *buf, size_t len,
                 size_t *done) {
  size_t got = 0;
  while (got < len) {
    ssize_t n;
    if (FAULT("pread", EIO))
      n = -1;
    else
      n = pread((int)f, (char *)buf + got, len - got, (off_t)(off + got));
    if (n < 0) {
      if (errno == EINTR)
        continue;
      *done = got;
      return posix_fail(errno, "pread", NULL);
    }
    if (n == 0)
      break;
    got += (size_t)n;
  }
  *done = got;
  return 0;
}

int mmf__os_write(mmf_os_file f, uint64_t off, const void *buf, size_t len) {
  size_t put = 0;
  while (put < len) {
    ssize_t n;
    if (FAULT("pwrite", ENOSPC))
      n = -1;
    else
      n = pwrite((int)f, (const char *)buf + put, len - put,
                 (off_t)(off + put));
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return posix_fail(errno, "pwrite", NULL);
    }
    put += (size_t)n;
  }
  return 0;
}

/* ---- sections and views --------------------------------------------------*/

int mmf__os_section_open(mmf_os_file f, unsigned prot, uint64_t size,
                         mmf_os_section *out) {
  /* POSIX maps the file itself: nothing to create. */
  (void)prot;
  (void)size;
  out->file = f;
  out->handle = -1;
  return 0;
}

void mmf__os_section_close(mmf_os_section *s) { s->handle = -1; }

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000 /* Linux 4.17; older headers lack it */
#endif

/* MADV_POPULATE_READ/WRITE: 0 or errno. */
static int populate(void *addr, size_t len, int write) {
  if (FAULT("madvise", ENOMEM))
    return errno;
  return madvise(addr, len, write ? MADV_POPULATE_WRITE : MADV_POPULATE_READ)
             ? errno
             : 0;
}

static int populate_fail(int err, int write) {
  const char *call =
      write ? "madvise(MADV_POPULATE_WRITE)" : "madvise(MADV_POPULATE_READ)";
  if (err == EINVAL) /* the range is a view's: the kernel lacks the advice */
    return mmf__error_os(MMF_ENOTSUP, err, "%s: not supported by this kernel "
                                           "(Linux 5.14 or later has it)",
                         call);
  if (err == EFAULT)
    return mmf__error_os(MMF_EIO, err, "%s: a page of the range cannot be "
                                       "had: past the end of the file (did "
                                       "it shrink?), a hole with the disk "
                                       "full, or a read error",
                         call);
  return posix_fail(err, call, NULL);
}

/* mmap for mmf__os_map: `addr` NULL lets the kernel
 * choose; otherwise the view must land exactly at `addr` without replacing
 * anything (MAP_FIXED_NOREPLACE), else MMF_EADDRINUSE. */
static int posix_map(const mmf_os_section *s, uint64_t off, size_t len,
                     unsigned prot, unsigned opts, void *addr, void **out) {
  const char *call = addr ? "mmap(MAP_FIXED_NOREPLACE)" : "mmap";
  int mprot = PROT_READ;
  int mflags = (prot & MMF__OS_PROT_COPY) ? MAP_PRIVATE : MAP_SHARED;
  void *p;

  if (addr)
    mflags |= MAP_FIXED_NOREPLACE;
  if (prot & (MMF__OS_PROT_WRITE | MMF__OS_PROT_COPY))
    mprot |= PROT_WRITE;
  if (prot & MMF__OS_PROT_EXEC)
    mprot |= PROT_EXEC;
  /* A shared writable view is populated writable below: MAP_POPULATE only
   * maps pages read-only there, and each first store would still fault. */
  if ((opts & MMF__OS_MAP_POPULATE) && !(prot & MMF__OS_PROT_WRITE))
    mflags |= MAP_POPULATE;
  if (off > (uint64_t)INT64_MAX)
    return posix_fail(EOVERFLOW, call, NULL);
  if (FAULT("mmap", ENOMEM))
    p = MAP_FAILED;
  else
    p = mmap(addr, len, mprot, mflags, (int)s->file, (off_t)off);
  if (p == MAP_FAILED) {
    if (addr && errno == EEXIST)
      return mmf__error_os(MMF_EADDRINUSE, EEXIST,
                           "%s at %p (%zu bytes): the address range is "
                           "already in use",
                           call, addr, len);
    return posix_fail(errno, call, NULL);
  }
  if (addr && p != addr) {
    /* A kernel older than 4.17 (or valgrind) takes the flag as a mere hint
     * and maps elsewhere when the range is taken: undo and say so. */
    munmap(p, len);
    return mmf__error_os(MMF_EADDRINUSE, EEXIST,
                         "%s at %p (%zu bytes): the address range is already "
                         "in use (the system mapped at %p instead)",
                         call, addr, len, p);
  }
  if ((opts & MMF__OS_MAP_POPULATE) && (prot & MMF__OS_PROT_WRITE)) {
    /* One call instead of a write fault per 4 KiB page (10x faster for a
     * window that is rewritten whole, see docs/BENCHMARKS.md). A request:
     * kernels without it just fault on first store. */
    int err = populate(p, len, 1);
    if (err && err != EINVAL) {
      munmap(p, len);
      return populate_fail(err, 1);
    }
  }
  *out = p;
  return 0;
}

int mmf__os_map(const mmf_os_section *s, uint64_t off, size_t len,
                unsigned prot, unsigned opts, void *at, void **out) {
  return posix_map(s, off, len, prot, opts, at, out);
}

int mmf__os_unmap(void *addr, size_t len) {
  int injected = FAULT("munmap", EINVAL);
  /* munmap only fails on bad arguments; an injected failure still unmaps so
   * the test's leak check sees the library's real behaviour. */
  if (munmap(addr, len) != 0 || injected)
    return posix_fail(injected ? EINVAL : errno, "munmap", NULL);
  return 0;
}

int mmf__os_flush(void *addr, size_t len, int wait) {
  if (FAULT("msync", EIO) || msync(addr, len, wait ? MS_SYNC : MS_ASYNC) != 0)
    return posix_fail(errno, "msync", NULL);
  return 0;
}

int mmf__os_advise(void *addr, size_t len, int advice) {
  int a;
  switch (advice) {
  case MMF_ADVICE_NORMAL:
    a = MADV_NORMAL;
    break;
  case MMF_ADVICE_SEQUENTIAL:
    a = MADV_SEQUENTIAL;
    break;
  case MMF_ADVICE_RANDOM:
    a = MADV_RANDOM;
    break;
  case MMF_ADVICE_WILLNEED:
    a = MADV_WILLNEED;
    break;
  case MMF_ADVICE_DONTNEED:
    a = MADV_DONTNEED;
    break;
  default:
    return posix_fail(EINVAL, "madvise", NULL);
  }
  if (FAULT("madvise", EINVAL) || madvise(addr, len, a) != 0)
    return posix_fail(errno, "madvise", NULL);
  return 0;
}

int mmf__os_populate(void *addr, size_t len, int write) {
  int err = populate(addr, len, write);
  return err ? populate_fail(err, write) : 0;
}

int mmf__os_walk_spans(void) { return 1; }

int mmf__os_touch_safe(mmf_os_file f, uint64_t off, size_t len, int write) {
  struct stat st;
  struct statvfs vs;
  if (FAULT("fstat", EIO) || fstat((int)f, &st) != 0 ||
      (uint64_t)st.st_size < off + len)
    return 0; /* or shrunk */
  if (!write)
    return 1; /* a hole reads as zeros: nothing to allocate */
  if (FAULT("fstatvfs", EIO) || fstatvfs((int)f, &vs) != 0)
    return 0;
  return (uint64_t)vs.f_bavail * vs.f_frsize / 2 >= (uint64_t)len;
}

int mmf__os_huge(void *addr, size_t len) {
  if (FAULT("madvise", EINVAL) || madvise(addr, len, MADV_HUGEPAGE) != 0)
    return posix_fail(errno, "madvise(MADV_HUGEPAGE)", NULL);
  return 0;
}

int mmf__os_mem_alloc(size_t len, void **out) {
  void *p;
  *out = NULL;
  if (FAULT("mmap", ENOMEM) ||
      (p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                -1, 0)) == MAP_FAILED)
    return posix_fail(errno, "mmap(MAP_ANONYMOUS)", NULL);
  *out = p;
  return 0;
}

size_t mmf__os_mem_huge_size(void) {
  /* The PMD size of x86-64 and of arm64 with 4 KiB pages. Where the kernel
   * has THP off, the request fails (ignored) and 4 KiB pages serve. */
  return (size_t)2 << 20;
}

int mmf__os_mem_free(void *p, size_t len) {
  if (FAULT("munmap", EINVAL) || munmap(p, len) != 0)
    return posix_fail(errno, "munmap", NULL);
  return 0;
}

int mmf__os_lock(void *addr, size_t len) {
  if (FAULT("mlock", ENOMEM) || mlock(addr, len) != 0)
    return posix_fail(errno, "mlock", NULL);
  return 0;
}

int mmf__os_unlock(void *addr, size_t len) {
  if (FAULT("munlock", ENOMEM) || munlock(addr, len) != 0)
    return posix_fail(errno, "munlock", NULL);
  return 0;
}

/* ---- file range locks and per-user locations ----------------------------*/

/* Open-file-description locks: owned by the open file (not the process, so
 * two opens in one process conflict like two processes do) and dropped by
 * the kernel when the last descriptor of it closes -- including at death. */
static int posix_ofd_lock(mmf_os_file f, short type, uint64_t off,
                          uint64_t len, unsigned flags, const char *call) {
  int wait = (flags & MMF__OS_LOCK_WAIT) != 0;
  struct flock fl;
  int cmd = wait ? F_OFD_SETLKW : F_OFD_SETLK;
  memset(&fl, 0, sizeof fl);
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  fl.l_start = (off_t)off;
  fl.l_len = (off_t)len;
  if (off > (uint64_t)INT64_MAX || len > (uint64_t)INT64_MAX - off)
    return mmf__error(MMF_EOVERFLOW, "%s: range past the largest offset",
                      call);
  if (FAULT("fcntl", ENOLCK))
    return posix_fail(errno, call, NULL);
  while (fcntl((int)f, cmd, &fl) != 0) {
    if (errno == EINTR && wait)
      continue;
    if ((errno == EAGAIN || errno == EACCES) && (flags & MMF__OS_LOCK_QUIET))
      return MMF_EBUSY;
    if (errno == EAGAIN || errno == EACCES)
      return mmf__error_os(MMF_EBUSY, errno,
                           "%s: bytes %llu..%llu are locked by another "
                           "open file",
                           call, (unsigned long long)off,
                           (unsigned long long)(off + len));
    return posix_fail(errno, call, NULL);
  }
  return 0;
}

int mmf__os_file_lock(mmf_os_file f, uint64_t off, uint64_t len,
                      unsigned flags) {
  return posix_ofd_lock(f, (flags & MMF__OS_LOCK_SHARED) ? F_RDLCK : F_WRLCK,
                        off, len, flags, "fcntl(F_OFD_SETLK)");
}

int mmf__os_file_unlock(mmf_os_file f, uint64_t off, uint64_t len) {
  return posix_ofd_lock(f, F_UNLCK, off, len, 0, "fcntl(F_OFD_SETLK unlock)");
}

void mmf__os_user_tag(char *buf, size_t n) {
  snprintf(buf, n, "u%lu.", (unsigned long)geteuid());
}

int mmf__os_runtime_dir(char *buf, size_t n) {
  /* POSIX shared memory lives in /dev/shm on Linux: tmpfs, so objects kept
   * there cost RAM, not disk, and vanish at reboot like shm_open's. */
  static const char dir[] = "/dev/shm";
  if (n < sizeof dir)
    return mmf__error(MMF_ENAMETOOLONG, "runtime directory: buffer of %zu "
                      "bytes is too small", n);
  memcpy(buf, dir, sizeof dir);
  return 0;
}

/* @@OS-SHM */
#include <dirent.h>
#include <sched.h>

/* ---- memory-backed mappings ----------------------------------------------*/

int mmf__os_shm_named_sections(void) { return 0; }

int mmf__os_shm_anonymous(uint64_t size, mmf_os_file *file,
                          mmf_os_section *out) {
  int fd, err;
  *file = MMF_OS_FILE_INVALID;
  if (size > (uint64_t)INT64_MAX)
    return posix_fail(EFBIG, "ftruncate", "memfd:mmf.anonymous");
  if (FAULT("memfd_create", EMFILE) ||
      (fd = memfd_create("mmf.anonymous", MFD_CLOEXEC)) < 0)
    return posix_fail(errno, "memfd_create", "mmf.anonymous");
  if ((fd = posix_above_stdio(fd)) < 0)
    return posix_fail(errno, "fcntl(F_DUPFD_CLOEXEC)", "memfd:mmf.anonymous");
  if (FAULT("ftruncate", ENOMEM) || ftruncate(fd, (off_t)size) != 0) {
    err = errno;
    close(fd);
    return posix_fail(err, "ftruncate", "memfd:mmf.anonymous");
  }
  *file = fd;
  out->file = fd;
  out->handle = -1;
  return 0;
}

int mmf__os_named_section_create(const char *name, uint64_t size,
                                 int owner_only, mmf_os_section *out) {
  (void)size;
  (void)owner_only;
  (void)out;
  return mmf__error(MMF_ENOTSUP, "named section \"%s\": POSIX keeps named "
                    "objects as files", name);
}

int mmf__os_named_section_open(const char *name, int writable,
                               uint64_t size, mmf_os_section *out) {
  (void)writable;
  (void)size;
  (void)out;
  return mmf__error(MMF_ENOTSUP, "named section \"%s\": POSIX keeps named "
                    "objects as files", name);
}

int mmf__os_file_is_at(mmf_os_file f, const char *path, int *same) {
  struct stat a, b;
  *same = 0;
  if (FAULT("fstat", EIO) || fstat((int)f, &a) != 0)
    return posix_fail(errno, "fstat", path);
  if (FAULT("lstat", EIO) || lstat(path, &b) != 0) {
    if (errno == ENOENT)
      return 0;
    return posix_fail(errno, "lstat", path);
  }
  *same = a.st_dev == b.st_dev && a.st_ino == b.st_ino;
  return 0;
}

int mmf__os_file_is_mine(mmf_os_file f, int *mine) {
  struct stat st;
  *mine = 0;
  if (FAULT("fstat", EIO) || fstat((int)f, &st) != 0)
    return posix_fail(errno, "fstat", NULL);
  *mine = st.st_uid == geteuid();
  return 0;
}

int mmf__os_file_share_all(mmf_os_file f) {
  if (FAULT("fchmod", EPERM) || fchmod((int)f, 0666) != 0)
    return posix_fail(errno, "fchmod", NULL);
  return 0;
}

int mmf__os_dir_list(const char *dir, int (*fn)(void *ctx, const char *entry),
                     void *ctx) {
  DIR *d;
  struct dirent *e;
  int rc = 0;
  if (FAULT("opendir", EMFILE) || (d = opendir(dir)) == NULL)
    return posix_fail(errno, "opendir", dir);
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    rc = fn(ctx, e->d_name);
    if (rc)
      break;
  }
  closedir(d);
  return rc;
}
int mmf__os_remove_open(const char *path) { return mmf__os_remove(path); }

int mmf__os_publish(const char *from, const char *to) {
  /* link() fails EEXIST if `to` exists in any form and never follows it. */
  if (FAULT("link", ENOSPC) || link(from, to) != 0)
    return posix_fail(errno, "link", to);
  if (FAULT("unlink", EIO) || unlink(from) != 0) {
    int err = errno;
    unlink(to); /* undo: `to` must not appear if the call fails */
    return posix_fail(err, "unlink", from);
  }
  return 0;
}

void mmf__os_yield(void) { sched_yield(); }

void mmf__os_sleep_ms(unsigned ms) {
  struct timespec ts;
  ts.tv_sec = (time_t)(ms / 1000);
  ts.tv_nsec = (long)(ms % 1000) * 1000000L;
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

int mmf__os_stdio_binary(int fd) {
  (void)fd; /* POSIX streams never translate bytes */
  return 0;
}

int mmf__os_reopen(mmf_os_file f, int writable, mmf_os_file *out) {
  char p[48];
  int fd;
  *out = MMF_OS_FILE_INVALID;
  snprintf(p, sizeof p, "/proc/self/fd/%d", (int)f);
  if (FAULT("open", EMFILE))
    fd = -1;
  else
    fd = open(p, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
  if (fd < 0)
    return posix_fail(errno, "open", p);
  if ((fd = posix_above_stdio(fd)) < 0)
    return posix_fail(errno, "fcntl(F_DUPFD_CLOEXEC)", p);
  *out = fd;
  return 0;
}
/* @@END OS-SHM */

/* @@OS-POINTERS */
/* ---- fixed-address views and hand-over to child processes ---------------*/


int mmf__os_inherit(const mmf_os_section *s, mmf_os_file file, int on) {
  int fl;
  (void)s; /* POSIX maps the file itself: the descriptor is all there is */
  if (FAULT("fcntl", EBADF) || (fl = fcntl((int)file, F_GETFD)) < 0)
    return posix_fail(errno, "fcntl(F_GETFD)", NULL);
  fl = on ? (fl & ~FD_CLOEXEC) : (fl | FD_CLOEXEC);
  if (FAULT("fcntl", EBADF) || fcntl((int)file, F_SETFD, fl) != 0)
    return posix_fail(errno, "fcntl(F_SETFD)", NULL);
  return 0;
}

int mmf__os_section_inherited(intptr_t section, intptr_t file,
                              unsigned os_prot, uint64_t size,
                              mmf_os_file *file_out, mmf_os_section *out) {
  mmf_os_file fd;
  uint64_t fsize;
  int writable = 0, rc;

  *file_out = MMF_OS_FILE_INVALID;
  if (section != -1 || file < 0)
    return mmf__error(MMF_EBADF, "the token names %s, which POSIX does "
                                 "not have", section != -1
                                     ? "a section handle"
                                     : "no file descriptor");
  rc = mmf__os_dup(file, &fd, &writable);
  if (rc)
    return rc;
  if ((os_prot & MMF__OS_PROT_WRITE) && writable <= 0) {
    rc = mmf__error_os(MMF_EBADF, EBADF, "file descriptor %d is %s, and "
                       "the token's protection needs writes at any offset",
                       (int)file, writable < 0 ? "open for appending (O_APPEND)"
                                               : "not open for writing");
    goto out_close;
  }
  rc = mmf__os_file_size(fd, &fsize);
  if (rc)
    goto out_close;
  if (fsize < size) {
    rc = mmf__error(MMF_ERANGE, "file descriptor %d holds %llu bytes, "
                    "fewer than the token's %llu", (int)file,
                    (unsigned long long)fsize, (unsigned long long)size);
    goto out_close;
  }
  rc = mmf__os_section_open(fd, os_prot, size, out);
  if (rc)
    goto out_close;
  *file_out = fd;
  return 0;

out_close:
  close((int)fd);
  return rc;
}
/* @@END OS-POINTERS */

/* @@OS-LOCK-CHANNEL */
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>

/* The OS part of an mmf_lock. glibc's own ENOTRECOVERABLE is not used:
 * after an unlock without pthread_mutex_consistent its lock word keeps the
 * last owner's tid, so other processes block forever instead of getting
 * ENOTRECOVERABLE (measured, glibc 2.36). The mutex is made consistent at
 * once on EOWNERDEAD and the owner-died / not-recoverable states are kept
 * in `state` (changed only by the holder), as on Windows. */
struct posix_mutex {
  pthread_mutex_t mx;
  volatile uint32_t state; /* POSIX_LOCK_* */
  volatile uint32_t owner; /* tid of the holder, 0 when free */
};
_Static_assert(sizeof(struct posix_mutex) <= MMF__OS_MUTEX_BYTES,
               "pthread_mutex_t does not fit in an mmf_lock");
enum { POSIX_LOCK_OK = 0, POSIX_LOCK_INCONSISTENT = 1, POSIX_LOCK_DEAD = 2 };

static uint32_t posix_tid(void) { return (uint32_t)gettid(); }

/* A robust, process-shared, error-checking mutex: a dead holder is
 * reported (EOWNERDEAD), a relock by the holder is EDEADLK instead of a
 * hang, an unlock by a non-holder EPERM. */
int mmf__os_mutex_init(void *p) {
  struct posix_mutex *m = p;
  pthread_mutexattr_t a;
  int err;
  if (FAULT("pthread_mutexattr_init", ENOMEM))
    return posix_fail(errno, "pthread_mutexattr_init", NULL);
  if ((err = pthread_mutexattr_init(&a)) != 0)
    return posix_fail(err, "pthread_mutexattr_init", NULL);
  if (FAULT("pthread_mutexattr_setrobust", EINVAL))
    err = errno;
  else
    err = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
  if (!err)
    err = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
  if (!err)
    err = pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
  if (err) {
    pthread_mutexattr_destroy(&a);
    return posix_fail(err, "pthread_mutexattr_setrobust", NULL);
  }
  if (FAULT("pthread_mutex_init", ENOMEM))
    err = errno;
  else
    err = pthread_mutex_init(&m->mx, &a);
  pthread_mutexattr_destroy(&a);
  if (err)
    return posix_fail(err, "pthread_mutex_init", NULL);
  m->state = POSIX_LOCK_OK;
  m->owner = 0;
  return 0;
}

int mmf__os_mutex_acquire(void *p, int64_t timeout_ms) {
  struct posix_mutex *m = p;
  const char *call = timeout_ms < 0    ? "pthread_mutex_lock"
                     : timeout_ms == 0 ? "pthread_mutex_trylock"
                                       : "pthread_mutex_clocklock";
  int err;
  if (FAULT(call, EINVAL))
    return posix_fail(errno, call, NULL);
  if (timeout_ms < 0) {
    err = pthread_mutex_lock(&m->mx);
  } else if (timeout_ms == 0) {
    err = pthread_mutex_trylock(&m->mx);
  } else {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(timeout_ms / 1000);
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
    err = pthread_mutex_clocklock(&m->mx, CLOCK_MONOTONIC, &ts);
  }
  switch (err) {
  case 0:
    if (m->state == POSIX_LOCK_DEAD) {
      pthread_mutex_unlock(&m->mx);
      return mmf__error_os(MMF_ENOTRECOVERABLE, ENOTRECOVERABLE, "%s: the "
                           "lock was released without being marked "
                           "consistent after its holder died", call);
    }
    m->owner = posix_tid();
    return 0;
  case EOWNERDEAD:
    /* Cannot fail here (a robust mutex, owner-died, held by this thread:
     * its only error, EINVAL, does not apply), and is not fault-injected:
     * a failure would leave a held lock that could not be reported. */
    (void)pthread_mutex_consistent(&m->mx);
    m->state = POSIX_LOCK_INCONSISTENT;
    m->owner = posix_tid();
    return mmf__error_os(MMF_EOWNERDEAD, err, "%s: the previous holder died "
                         "holding the lock (now held: repair, then mark it "
                         "consistent)", call);
  case ENOTRECOVERABLE:
    return mmf__error_os(MMF_ENOTRECOVERABLE, err, "%s: the lock was "
                         "released without being marked consistent after "
                         "its holder died", call);
  case EDEADLK:
    return mmf__error_os(MMF_EBUSY, err, "%s: this thread already holds the "
                         "lock", call);
  case EBUSY:
    /* trylock gives EBUSY to the holder too: tell it apart. */
    if (m->owner == posix_tid())
      return mmf__error_os(MMF_EBUSY, EDEADLK, "%s: this thread already "
                           "holds the lock", call);
    return mmf__error_os(MMF_EBUSY, err, "%s: held by another thread or "
                         "process", call);
  case ETIMEDOUT:
    return mmf__error_os(MMF_ETIMEDOUT, err, "%s: still held after %lld ms",
                         call, (long long)timeout_ms);
  default:
    return posix_fail(err, call, NULL);
  }
}

int mmf__os_mutex_consistent(void *p) {
  struct posix_mutex *m = p;
  if (m->owner != posix_tid())
    return mmf__error(MMF_EPERM, "consistent: this thread does not hold the "
                                 "lock");
  if (m->state != POSIX_LOCK_INCONSISTENT)
    return mmf__error(MMF_EINVAL, "consistent: the lock is not in the "
                                  "owner-died state");
  m->state = POSIX_LOCK_OK;
  return 0;
}

int mmf__os_mutex_release(void *p) {
  struct posix_mutex *m = p;
  uint32_t state = m->state;
  int err;
  if (m->owner != posix_tid())
    return mmf__error_os(MMF_EPERM, EPERM, "pthread_mutex_unlock: this thread "
                         "does not hold the lock");
  if (FAULT("pthread_mutex_unlock", EPERM))
    return posix_fail(errno, "pthread_mutex_unlock", NULL);
  if (state == POSIX_LOCK_INCONSISTENT)
    m->state = POSIX_LOCK_DEAD;
  m->owner = 0;
  err = pthread_mutex_unlock(&m->mx);
  if (err) {
    m->state = state;
    m->owner = posix_tid();
    if (err == EPERM)
      return mmf__error_os(MMF_EPERM, err, "pthread_mutex_unlock: this "
                           "thread does not hold the lock");
    return posix_fail(err, "pthread_mutex_unlock", NULL);
  }
  return 0;
}

int mmf__os_mutex_detach(void *m) {
  (void)m; /* the mutex lives wholly in the shared memory */
  return 0;
}

int mmf__os_waiter_open(uint64_t id, const char *what, mmf_os_waiter *out) {
  (void)id; /* a futex needs nothing but the word itself */
  (void)what;
  out->handle = -1;
  return 0;
}

int mmf__os_waiter_close(mmf_os_waiter *w) {
  w->handle = -1;
  return 0;
}

int mmf__os_wait(mmf_os_waiter *w, uint32_t *word, uint32_t expect,
                 int64_t timeout_ms) {
  struct timespec ts, *pts = NULL;
  (void)w;
  if (timeout_ms >= 0) {
    ts.tv_sec = (time_t)(timeout_ms / 1000);
    ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000L;
    pts = &ts;
  }
  /* No FUTEX_PRIVATE_FLAG: the word is in memory shared with other
   * processes, so the kernel keys the wait on the page, not the address. */
  if (FAULT("futex(FUTEX_WAIT)", EINVAL) ||
      syscall(SYS_futex, word, FUTEX_WAIT, expect, pts, NULL, 0) != 0) {
    if (errno == EAGAIN || errno == EINTR)
      return 0; /* the word changed already, or a signal: re-check */
    if (errno == ETIMEDOUT)
      return mmf__error_os(MMF_ETIMEDOUT, errno, "futex(FUTEX_WAIT): timed "
                           "out after %lld ms", (long long)timeout_ms);
    return posix_fail(errno, "futex(FUTEX_WAIT)", NULL);
  }
  return 0;
}

int mmf__os_wake(mmf_os_waiter *w, uint32_t *word, uint32_t sleepers) {
  (void)w;
  (void)sleepers; /* wake all: a woken waiter re-checks and may sleep again */
  if (FAULT("futex(FUTEX_WAKE)", EINVAL) ||
      syscall(SYS_futex, word, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0) < 0)
    return posix_fail(errno, "futex(FUTEX_WAKE)", NULL);
  return 0;
}

int mmf__os_random(void *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r;
    if (FAULT("getrandom", ENOSYS))
      r = -1;
    else
      r = getrandom((char *)buf + got, n - got, 0);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      return posix_fail(errno, "getrandom", NULL);
    }
    got += (size_t)r;
  }
  return 0;
}

uint64_t mmf__os_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* @@END OS-LOCK-CHANNEL */

/* @@OS-SECTION */
int mmf__os_exe_path(char *buf, size_t n) {
  ssize_t len;
  if (n < 2)
    return mmf__error(MMF_ENAMETOOLONG, "readlink \"/proc/self/exe\": "
                      "buffer of %zu bytes is too small", n);
  if (FAULT("readlink", EACCES))
    len = -1;
  else
    len = readlink("/proc/self/exe", buf, n - 1);
  if (len < 0)
    return posix_fail(errno, "readlink", "/proc/self/exe");
  /* readlink truncates silently: a full buffer may be a cut path. */
  if ((size_t)len >= n - 1)
    return mmf__error(MMF_ENAMETOOLONG, "readlink \"/proc/self/exe\": the "
                      "path is longer than %zu bytes", n - 2);
  buf[len] = '\0';
  return 0;
}
/* @@END OS-SECTION */

/* ---- a background thread -------------------------------------------------*/

struct mmf_os_monitor {
  pthread_mutex_t mx;
  pthread_cond_t cv;
};

int mmf__os_monitor_new(mmf_os_monitor **out) {
  mmf_os_monitor *m;
  int err;
  *out = NULL;
  if (FAULT("malloc", ENOMEM) || (m = malloc(sizeof *m)) == NULL)
    return posix_fail(ENOMEM, "malloc", NULL);
  err = FAULT("pthread_mutex_init", ENOMEM) ? ENOMEM
                                            : pthread_mutex_init(&m->mx, NULL);
  if (err) {
    free(m);
    return posix_fail(err, "pthread_mutex_init", NULL);
  }
  err = FAULT("pthread_cond_init", ENOMEM) ? ENOMEM
                                           : pthread_cond_init(&m->cv, NULL);
  if (err) {
    pthread_mutex_destroy(&m->mx);
    free(m);
    return posix_fail(err, "pthread_cond_init", NULL);
  }
  *out = m;
  return 0;
}

void mmf__os_monitor_free(mmf_os_monitor *m) {
  if (!m)
    return;
  pthread_cond_destroy(&m->cv);
  pthread_mutex_destroy(&m->mx);
  free(m);
}

/* A default mutex used as documented (entered once, left by its holder)
 * and a condition variable waited on with it cannot fail. */
void mmf__os_monitor_enter(mmf_os_monitor *m) { pthread_mutex_lock(&m->mx); }
void mmf__os_monitor_leave(mmf_os_monitor *m) { pthread_mutex_unlock(&m->mx); }
void mmf__os_monitor_wait(mmf_os_monitor *m) {
  pthread_cond_wait(&m->cv, &m->mx);
}
void mmf__os_monitor_wake(mmf_os_monitor *m) { pthread_cond_broadcast(&m->cv); }

struct mmf_os_thread {
  pthread_t id;
  void (*fn)(void *);
  void *arg;
};

static void *posix_thread_main(void *p) {
  mmf_os_thread *t = p;
  t->fn(t->arg);
  return NULL;
}

int mmf__os_thread_start(void (*fn)(void *), void *arg, mmf_os_thread **out) {
  mmf_os_thread *t;
  sigset_t block, old;
  int err;
  *out = NULL;
  if (FAULT("malloc", ENOMEM) || (t = malloc(sizeof *t)) == NULL)
    return posix_fail(ENOMEM, "malloc", NULL);
  t->fn = fn;
  t->arg = arg;
  /* The thread is mmf's: it must not take the application's signals, so
   * it starts with them blocked -- all but those a fault raises on the
   * thread that faults, which no mask can move elsewhere. */
  sigfillset(&block);
  sigdelset(&block, SIGBUS);
  sigdelset(&block, SIGSEGV);
  sigdelset(&block, SIGFPE);
  sigdelset(&block, SIGILL);
  pthread_sigmask(SIG_SETMASK, &block, &old);
  err = FAULT("pthread_create", EAGAIN)
            ? EAGAIN
            : pthread_create(&t->id, NULL, posix_thread_main, t);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (err) {
    free(t);
    return posix_fail(err, "pthread_create", NULL);
  }
  *out = t;
  return 0;
}

void mmf__os_thread_join(mmf_os_thread *t) {
  pthread_join(t->id, NULL);
  free(t);
}

/* ---- CPU quotas (cgroups) ---------------------------------------------- */

static const char proc_self[] = "/proc/self";
const char *mmf__os_proc_self = proc_self; /* tests only: os.h */

/* Undo mountinfo's octal escapes (\040 for a space, ...) in place. */
static void unescape_mount_path(char *s) {
  char *out = s;
  for (; *s; s++) {
    if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' &&
        s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
      *out++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
      s += 3;
    } else {
      *out++ = *s;
    }
  }
  *out = '\0';
}

/* Whether `list` (comma-separated) holds `word`. */
static int has_word(const char *list, const char *word) {
  size_t n = strlen(word);
  while (list && *list) {
    if (strncmp(list, word, n) == 0 && (list[n] == ',' || list[n] == '\0'))
      return 1;
    list = strchr(list, ',');
    if (list)
      list++;
  }
  return 0;
}

/* This process's cgroup directory of a hierarchy: v2 (`controller` NULL)
 * or the v1 hierarchy holding `controller`. Its path in the hierarchy
 * (/proc/self/cgroup), under the mount point of that hierarchy whose root
 * it is in (/proc/self/mountinfo); *mount_len is the mount point's length
 * in `dir`. 0, or -1 when there is no such hierarchy. */
static int cgroup_dir(const char *controller, char *dir, size_t cap,
                      size_t *mount_len) {
  char *line = NULL, path[4096] = "", root[4096] = "/", mnt[4096];
  size_t len = 0;
  const char *rel;
  int found = 0, best;
  FILE *f;
  snprintf(mnt, sizeof mnt, "%s/cgroup", mmf__os_proc_self);
  f = fopen(mnt, "re");
  if (!f)
    return -1;
  while (!found && getline(&line, &len, f) > 0) {
    /* id:controllers:path */
    char *c = strchr(line, ':'), *p = c ? strchr(c + 1, ':') : NULL;
    if (!p)
      continue;
    *c = '\0';
    *p++ = '\0';
    p[strcspn(p, "\n")] = '\0';
    if (controller ? has_word(c + 1, controller)
                   : strcmp(line, "0") == 0 && c[1] == '\0') {
      snprintf(path, sizeof path, "%s", p);
      found = 1;
    }
  }
  fclose(f);
  snprintf(mnt, sizeof mnt, "%s/mountinfo", mmf__os_proc_self);
  f = found ? fopen(mnt, "re") : NULL;
  /* Of this hierarchy's mounts, the one whose root holds the path (the
   * longest such root); when none does -- a cgroup namespace's view of a
   * mount made outside it -- the first: its mount point is then the
   * process's own cgroup. */
  best = -1;
  while (f && getline(&line, &len, f) > 0) {
    /* id parent major:minor root mount-point options... - type source
     * super-options */
    char type[64], opts[1024], r[4096], m[4096];
    const char *dash = strstr(line, " - ");
    size_t rl;
    int fits;
    if (!dash || sscanf(line, "%*s %*s %*s %4095s %4095s", r, m) != 2 ||
        sscanf(dash + 3, "%63s %*s %1023s", type, opts) != 2)
      continue;
    if (controller ? strcmp(type, "cgroup") != 0 || !has_word(opts, controller)
                   : strcmp(type, "cgroup2") != 0)
      continue;
    unescape_mount_path(r);
    unescape_mount_path(m);
    rl = strlen(r);
    fits = strcmp(r, "/") == 0 ||
           (strncmp(path, r, rl) == 0 && (path[rl] == '/' || !path[rl]));
    if (best < 0 || (fits && (best == 0 || rl > strlen(root)))) {
      memcpy(root, r, sizeof root);
      memcpy(mnt, m, sizeof mnt);
      best = fits;
    }
  }
  if (f)
    fclose(f);
  free(line);
  if (best < 0)
    return -1;
  /* The path below the mounted root. */
  len = strlen(root);
  if (!best)
    rel = "";
  else if (strcmp(root, "/") == 0)
    rel = path;
  else
    rel = path + len;
  if (strcmp(mnt, "/") == 0 && rel[0] == '/')
    mnt[0] = '\0';
  *mount_len = strlen(mnt);
  if ((size_t)snprintf(dir, cap, "%s%s", mnt, rel) >= cap)
    return -1;
  /* (a trailing slash would stop the walk up one level short) */
  len = strlen(dir);
  while (len > *mount_len && len > 1 && dir[len - 1] == '/')
    dir[--len] = '\0';
  return 0;
}

/* The first line of the file dir/name into buf; 0, or -1. */
static int read_line(const char *dir, const char *name, char *buf,
                     size_t cap) {
  char path[4200];
  FILE *f;
  int ok;
  if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
    return -1;
  f = fopen(path, "re");
  if (!f)
    return -1;
  ok = fgets(buf, (int)cap, f) != NULL;
  fclose(f);
  return ok ? 0 : -1;
}

/* CPUs' worth of time the cgroup at `dir` may use (its quota over its
 * period, rounded up), or 0 for no limit. */
static unsigned cgroup_limit_at(const char *dir, int v1) {
  char a[64], b[64];
  long long quota, period;
  if (v1) {
    if (read_line(dir, "cpu.cfs_quota_us", a, sizeof a) != 0 ||
        read_line(dir, "cpu.cfs_period_us", b, sizeof b) != 0 ||
        sscanf(a, "%lld", &quota) != 1 || sscanf(b, "%lld", &period) != 1)
      return 0;
  } else if (read_line(dir, "cpu.max", a, sizeof a) != 0 ||
             sscanf(a, "%lld %lld", &quota, &period) != 2) {
    return 0; /* no file, or "max PERIOD": no limit */
  }
  if (quota <= 0 || period <= 0)
    return 0; /* v1's -1: no limit */
  quota = (quota + period - 1) / period;
  return quota > 64 * 1024 ? 64 * 1024 : (unsigned)quota;
}

/* The smallest CPU quota of this process's cgroup and of every cgroup
 * above it (each bounds those below), in whole CPUs; 0 for none. */
unsigned mmf__os_cpu_quota(void) {
  unsigned best = 0;
  for (int v1 = 0; v1 < 2; v1++) {
    char dir[4096];
    size_t mount_len;
    if (cgroup_dir(v1 ? "cpu" : NULL, dir, sizeof dir, &mount_len) != 0)
      continue;
    for (;;) { /* up to the mount point, the hierarchy's root */
      unsigned n = cgroup_limit_at(dir, v1);
      char *slash = strrchr(dir, '/');
      if (n && (!best || n < best))
        best = n;
      if (strlen(dir) <= mount_len || !slash ||
          (size_t)(slash - dir) < mount_len)
        break;
      *slash = '\0';
    }
  }
  return best;
}

/* mmf__os_cpu_quota reads up to a few files per hierarchy level, and
 * /proc/self/mountinfo twice (~0.2 ms in all on a VM here; more with many
 * mounts): its answer is kept for a second, per process (a fork's child
 * reads its own). Only tried locks: a child forked while another thread
 * held it reads afresh rather than wait forever. */
#define QUOTA_KEPT_NS 1000000000ull
static pthread_mutex_t quota_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
  pid_t pid;
  uint64_t at;
  unsigned quota;
} quota_kept;

static unsigned cpu_quota_kept(void) {
  uint64_t now = mmf__os_now_ns();
  pid_t pid = getpid();
  unsigned q;
  int kept = 0;
  if (mmf__os_proc_self != proc_self) /* a test's own tree: read it now */
    return mmf__os_cpu_quota();
  if (pthread_mutex_trylock(&quota_lock) == 0) {
    kept = quota_kept.pid == pid && now - quota_kept.at < QUOTA_KEPT_NS;
    q = quota_kept.quota;
    pthread_mutex_unlock(&quota_lock);
    if (kept)
      return q;
  }
  q = mmf__os_cpu_quota();
  if (pthread_mutex_trylock(&quota_lock) == 0) {
    quota_kept.pid = pid;
    quota_kept.at = now;
    quota_kept.quota = q;
    pthread_mutex_unlock(&quota_lock);
  }
  return q;
}

unsigned mmf__os_cpu_count(void) {
  cpu_set_t set;
  long n;
  unsigned cpus, quota;
  /* The affinity mask first: a process started under taskset or in a
   * cpuset may run on fewer CPUs than are online. */
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
    cpus = (unsigned)CPU_COUNT(&set);
  else
    cpus = (n = sysconf(_SC_NPROCESSORS_ONLN)) > 0 ? (unsigned)n : 1u;
  /* Then the CPU time the cgroups allow (a container started with
   * --cpus=1 sees every CPU but may use one's worth). */
  quota = cpu_quota_kept();
  return quota && quota < cpus ? quota : cpus;
}
