/*
 * src/os.h -- the whole contract between mmf and the operating system.
 *
 * Only src/os/posix.c and src/os/win32.c implement it; nothing else in mmf
 * includes an OS header. Rules for every primitive:
 *  - Return 0 on success or a negative MMF_E* code. On failure the primitive
 *    has already recorded the detail with mmf__error_os() (OS code, the
 *    failing OS call, the path when it has one); the caller may prefix it
 *    with its own context but must not overwrite the OS code.
 *  - Primitives have no policy: they do exactly one thing, leave nothing
 *    behind on failure, and never allocate mmf objects.
 *  - Every OS call goes through the fault-injection check (src/fault.h), so a
 *    test can make the Nth call fail.
 *  - Addresses passed to map/unmap/flush/advise/lock are aligned to the page
 *    size; file offsets passed to mmf__os_map are aligned to the allocation
 *    granularity. Callers guarantee this (view.c does the rounding).
 */
#ifndef MMF_OS_H
#define MMF_OS_H

#include <stddef.h>
#include <stdint.h>

/* An open file: a file descriptor on POSIX, a HANDLE on Windows. */
typedef intptr_t mmf_os_file;
#define MMF_OS_FILE_INVALID ((mmf_os_file)-1)

/* A mapping object: on Windows the section HANDLE from CreateFileMappingW;
 * on POSIX the file itself is mapped, so it is just a copy of the file. */
typedef struct mmf_os_section {
  mmf_os_file file;
  intptr_t handle;
} mmf_os_section;

/* mmf__os_open flags. */
enum {
  MMF__OS_READ = 0x1,
  MMF__OS_WRITE = 0x2, /* open for reading and writing */
  MMF__OS_CREATE = 0x4,
  MMF__OS_EXCL = 0x8,
  MMF__OS_TRUNC = 0x10,
  MMF__OS_WRITE_THROUGH = 0x20,
  MMF__OS_EXEC = 0x40, /* Windows needs execute access on the file itself */
  MMF__OS_OWNER_ONLY = 0x80, /* a created file is for this user only: mode
                              * 0600 / a DACL granting only the current user */
  MMF__OS_NOFOLLOW = 0x100   /* refuse a symbolic link at `path` (MMF_EACCES)
                              * / a reparse point on Windows */
};

/* Protections for sections and views (map.c translates the public enums). */
enum {
  MMF__OS_PROT_READ = 0x1,
  MMF__OS_PROT_WRITE = 0x2, /* shared writes */
  MMF__OS_PROT_COPY = 0x4,  /* private copy-on-write */
  MMF__OS_PROT_EXEC = 0x8
};

/* mmf__os_map options. */
enum {
  MMF__OS_MAP_POPULATE = 0x1
};

/* Replace argc/argv with the command line in UTF-8 where the C runtime
 * does not already give bytes as typed (Windows); elsewhere a no-op. The
 * new strings are never freed. */
int mmf__os_args_utf8(int *argc, char ***argv);

/* Page size and allocation granularity. Cannot fail; cached after the first
 * call. */
void mmf__os_sysinfo(size_t *page_size, size_t *granularity);

/* Open `path` (UTF-8) with MMF__OS_* flags; new files get owner read/write
 * (0644 on POSIX; the default DACL on Windows). *created is set to 1 when
 * this call created the file. A directory is MMF_EISDIR whatever the flags.
 * On success *out is a new file the caller must close. */
int mmf__os_open(const char *path, unsigned flags, mmf_os_file *out,
                 int *created);

/* Remove the file at `path` (used to undo a create that failed later). */
int mmf__os_remove(const char *path);

/* Duplicate a caller's native file into one mmf owns. Fails MMF_EBADF when it
 * is not an open file; MMF_EISDIR for a directory. *writable is set to 1 when
 * the file is open for writing at any offset, -1 when writes would go to
 * its end whatever the offset (POSIX O_APPEND), else 0. */
int mmf__os_dup(intptr_t native, mmf_os_file *out, int *writable);

/* Close a file mmf owns. Precondition: f is valid. */
int mmf__os_close(mmf_os_file f);

/* Current size of the file in bytes. */
int mmf__os_file_size(mmf_os_file f, uint64_t *size);

/* Grow the file from its current size `old` to `size` bytes, reserving real
 * blocks for the new part so later stores through a view cannot fail for
 * lack of space (MMF_ENOSPC here instead). On failure the file is put back
 * to `old` bytes. Precondition: old < size, file open for write. */
int mmf__os_file_extend(mmf_os_file f, uint64_t old, uint64_t size);

/* Set the file's size to `size` (used to undo an extension when a later
 * step fails). */
int mmf__os_file_truncate(mmf_os_file f, uint64_t size);

/* Make the file's data durable on its device (fdatasync / FlushFileBuffers). */
int mmf__os_file_sync(mmf_os_file f);

/* Read/write at an offset without moving a file position. *done is the byte
 * count moved (a read is short only at end of file). */
int mmf__os_read(mmf_os_file f, uint64_t off, void *buf, size_t len,
                 size_t *done);
int mmf__os_write(mmf_os_file f, uint64_t off, const void *buf, size_t len);

/* Create the mapping object for `size` bytes of `f` with MMF__OS_PROT_*
 * (WRITE or COPY selects the section's page protection; EXEC adds execute).
 * Precondition: size <= file size. On success *out must be closed. */
int mmf__os_section_open(mmf_os_file f, unsigned prot, uint64_t size,
                         mmf_os_section *out);
void mmf__os_section_close(mmf_os_section *s);

/* Map `len` bytes of the section from file offset `off` (granularity
 * aligned) with exactly one of READ/WRITE/COPY plus optional EXEC.
 * `opts` is MMF__OS_MAP_*. `at` NULL lets the OS choose the address;
 * otherwise (granularity aligned) the mapping must start exactly there and
 * never replaces anything already mapped: when any page of [at, at+len) is
 * in use the call fails with MMF_EADDRINUSE (the message names the
 * address), leaving the existing mapping untouched. On success *out is
 * page aligned (== at when given). */
int mmf__os_map(const mmf_os_section *s, uint64_t off, size_t len,
                unsigned prot, unsigned opts, void *at, void **out);

/* Unmap what mmf__os_map returned (whole mapping only). */
int mmf__os_unmap(void *addr, size_t len);

/* Write back dirty pages of [addr, addr+len); wait when `wait` is nonzero. */
int mmf__os_flush(void *addr, size_t len, int wait);

/* Apply mmf_advice `advice` to [addr, addr+len). MMF_ENOTSUP when the OS
 * has no such advice. */
int mmf__os_advise(void *addr, size_t len, int advice);

/* Fault [addr, addr+len) in now, writable when `write` (a WRITE or COPY
 * view): MADV_POPULATE_READ / MADV_POPULATE_WRITE (Linux 5.14; MMF_ENOTSUP
 * before), PrefetchVirtualMemory (which only reads the pages in). Pages
 * past the file's end are MMF_EIO. */
int mmf__os_populate(void *addr, size_t len, int write);

/* 1 when a walk should cut its mapped windows out of one long view and
 * drop each window's pages (mmf__os_advise DONTNEED) instead of mapping
 * and unmapping a view per window (window.c, spans): where mapping and
 * unmapping take a process-wide lock that stalls other threads' faults,
 * and dropping surely takes the pages out of the process. Linux: 1
 * (mmap_lock; MADV_DONTNEED). Windows: 0 -- Wine, where the suite runs,
 * does not trim the working set on VirtualUnlock, and no such lock was
 * measured there. */
int mmf__os_walk_spans(void);

/* 1 when touching the pages that map bytes [off, off+len) of `f` (a byte
 * each; `write`: an atomic or of 0) cannot find a page that is not there,
 * as things are now: the file still holds those bytes, and for a write
 * the filesystem has room for the whole range twice over (a store into a
 * hole, or anywhere on a copy-on-write filesystem, allocates: on a full
 * disk the fault would be SIGBUS). A hole's blocks cannot be told from the
 * file's block count (space reserved past its end and extent blocks count
 * too), so room is what is checked. Not foreseen: a disk quota, a read
 * error on a page not in memory (asking mincore about every page cost
 * 70-90 us per 4 MiB window). 0 otherwise, or when it cannot tell; records
 * no error. Linux: fstat, fstatvfs. Windows: 0. */
int mmf__os_touch_safe(mmf_os_file f, uint64_t off, size_t len, int write);

/* Ask for huge pages on [addr, addr+len). MMF_ENOTSUP when unavailable. */
int mmf__os_huge(void *addr, size_t len);

/* Private, zero-filled, read-write memory of `len` bytes (a multiple of the
 * page size): mmap(MAP_PRIVATE | MAP_ANONYMOUS) / VirtualAlloc. Released
 * with mmf__os_mem_free(p, len), the whole block only. */
int mmf__os_mem_alloc(size_t len, void **out);
int mmf__os_mem_free(void *p, size_t len);
/* The huge page an mmf__os_mem_alloc block can be asked to use through
 * mmf__os_huge (Linux: 2 MiB transparent huge pages), or 0 when there is
 * none to ask for (Windows: large pages need a privilege). */
size_t mmf__os_mem_huge_size(void);

/* Lock / unlock [addr, addr+len) in RAM. */
int mmf__os_lock(void *addr, size_t len);
int mmf__os_unlock(void *addr, size_t len);

/* Page faults this process has taken that needed no I/O (minor faults), or
 * 0 when the OS does not count them. Cannot fail. Used by window.c to see
 * whether the kernel maps a file in 4 KiB pieces. */
uint64_t mmf__os_minor_faults(void);

/* ---- file range locks and per-user locations (shm.c, section.c) ------- */

/* mmf__os_file_lock flags. */
enum {
  MMF__OS_LOCK_SHARED = 0x1, /* shared (read) lock; else exclusive */
  MMF__OS_LOCK_WAIT = 0x2,   /* block until granted; else MMF_EBUSY at once */
  MMF__OS_LOCK_QUIET = 0x4   /* a refusal is an answer, not a failure: its
                              * MMF_EBUSY is returned without being
                              * recorded (probes: "does someone hold it?") */
};

/* Lock bytes [off, off+len) of `f`. The lock belongs to this open file
 * (POSIX: an open-file-description lock; Windows: LockFileEx on the handle)
 * and is released by mmf__os_file_unlock, by closing `f`, or by the OS when
 * the process dies -- so a lock held means a live holder. A conflicting
 * lock without MMF__OS_LOCK_WAIT gives MMF_EBUSY, recorded as an error like
 * any other unless MMF__OS_LOCK_QUIET. The range may lie past the end of
 * the file. */
int mmf__os_file_lock(mmf_os_file f, uint64_t off, uint64_t len,
                      unsigned flags);
int mmf__os_file_unlock(mmf_os_file f, uint64_t off, uint64_t len);

/* The directory, private to this user, where mmf keeps its named objects'
 * files ("/dev/shm" on Linux; "<temp dir>\mmf" on Windows, created when
 * missing). Writes a NUL-terminated UTF-8 path into buf. MMF_ENAMETOOLONG
 * when it does not fit. */
int mmf__os_runtime_dir(char *buf, size_t n);
/* A tag for the user this process runs as, for per-user names in the
 * runtime directory where every user's files meet: "u<effective uid>."
 * on POSIX (/dev/shm is shared); "" on Windows (the directory is the
 * user's own). At most 16 bytes with the NUL; cannot fail. */
void mmf__os_user_tag(char *buf, size_t n);

/* @@OS-SHM */
/* ---- memory-backed mappings (shm.c) -------------------------------------*/

/* 1 when named transient objects keep their memory in a named pagefile
 * section (Windows, whose sections vanish with their last handle), 0 when
 * in the object's file itself (POSIX: a file in /dev/shm). Cannot fail. */
int mmf__os_shm_named_sections(void);

/* An anonymous memory-backed mapping of `size` (> 0) bytes, zero-filled,
 * private to this process (and to whoever it hands the handle to):
 * memfd_create + ftruncate on Linux (*file is the memfd, the section maps
 * it); an unnamed pagefile-backed CreateFileMappingW section on Windows
 * (*file is MMF_OS_FILE_INVALID). On success both must be closed. */
int mmf__os_shm_anonymous(uint64_t size, mmf_os_file *file,
                          mmf_os_section *out);

/* A named pagefile-backed section "Local\<name>" (Windows; MMF_ENOTSUP on
 * POSIX, where named objects are files in the runtime dir). Create:
 * `size` > 0 bytes, zero-filled; owner_only selects a DACL for the current
 * user only (else the session's default); an existing section of that name
 * is MMF_EEXIST and nothing is left open. Open: an existing one with
 * read-write (`writable`) or read access; none is MMF_ENOENT. On success
 * out->file is MMF_OS_FILE_INVALID and out must be closed. */
int mmf__os_named_section_create(const char *name, uint64_t size,
                                 int owner_only, mmf_os_section *out);
int mmf__os_named_section_open(const char *name, int writable,
                               uint64_t size, mmf_os_section *out);
/* (open: a section holding fewer than `size` bytes -- a size taken from
 * untrusted shared data -- is MMF_ECORRUPT and is closed again.) */

/* *same = 1 when `path` (not following a final symbolic link) names the
 * very file `f` is open on, 0 when it names another file or nothing (then
 * the call still succeeds). Used to detect a name removed or replaced
 * between open and lock. */
int mmf__os_file_is_at(mmf_os_file f, const char *path, int *same);

/* *mine = 1 when `f` belongs to the calling user (POSIX: st_uid == euid).
 * Windows: always 1 -- the runtime dir is under the user's own %TEMP%. */
int mmf__os_file_is_mine(mmf_os_file f, int *mine);

/* Let every local user read and write `f` (mode 0666 whatever the umask;
 * Windows: a no-op, the file keeps the default DACL of its directory). */
int mmf__os_file_share_all(mmf_os_file f);

/* Call fn(ctx, entry) for each entry name (UTF-8, no "." or "..") of
 * directory `dir`, in no particular order, until fn returns nonzero (then
 * that value is returned). 0 at the end. */
int mmf__os_dir_list(const char *dir, int (*fn)(void *ctx, const char *entry),
                     void *ctx);
/* Give the file at `from` the name `to` in one step that fails with
 * MMF_EEXIST when `to` exists (whatever it is, a symbolic link included:
 * never followed, never replaced). `from` must be in the same directory.
 * POSIX: link + unlink; Windows: MoveFileExW without REPLACE_EXISTING (open
 * handles must share delete, as mmf__os_open's do). */
int mmf__os_publish(const char *from, const char *to);

/* Let another thread or process run (sched_yield / SwitchToThread). */
void mmf__os_yield(void);
/* Sleep about `ms` milliseconds (nanosleep / Sleep). Cannot fail. */
void mmf__os_sleep_ms(unsigned ms);

/* Remove the name `path` at once, even while files are open on it, so the
 * name can be created anew right away. POSIX: unlink. Windows: rename the
 * file to a unique name with '~' in the same directory (which needs every
 * open handle to share delete, as mmf__os_open's do), then delete that; the
 * file itself goes when its last handle closes. */
int mmf__os_remove_open(const char *path);

/* Put the C runtime's descriptor fd (0..2) in binary mode (Windows
 * _setmode); a no-op on POSIX. */
int mmf__os_stdio_binary(int fd);
/* A second, independent open of the file `f`, read-write if `writable`,
 * else read-only: a new open file description on POSIX (open of
 * /proc/self/fd/N), a new file object on Windows (ReOpenFile), so
 * byte-range locks taken through `f` are not shared with it -- nor with any
 * child that inherits it. On success *out must be closed. */
int mmf__os_reopen(mmf_os_file f, int writable, mmf_os_file *out);
/* @@END OS-SHM */

/* @@OS-POINTERS */
/* ---- fixed-address views and hand-over to child processes (view.c,
 * token.c) ------------------------------------------------------------- */


/* Make the OS handles behind a mapping object inheritable by child
 * processes started from now on (on != 0), or no longer (on == 0). POSIX:
 * clear / set FD_CLOEXEC on `file` (the mapped descriptor). Windows:
 * HANDLE_FLAG_INHERIT on the section handle and on `file` unless it is
 * MMF_OS_FILE_INVALID (a memory-backed section). On failure nothing has
 * changed. */
int mmf__os_inherit(const mmf_os_section *s, mmf_os_file file, int on);

/* Rebuild a mapping object's OS parts from the numbers a parent's token
 * names (`section`: the section HANDLE, -1 on POSIX; `file`: the
 * descriptor / file HANDLE, -1 for a Windows memory-backed section).
 * Both are duplicated into handles mmf owns (the inherited ones stay open
 * and untouched), after checking they are what they claim: an open regular
 * file / a file-mapping section, open for what `os_prot` (MMF__OS_PROT_*)
 * needs, at least `size` bytes long. Not an open file or section, or
 * lacking the access: MMF_EBADF; shorter than `size`: MMF_ERANGE. On
 * success *file_out (may be MMF_OS_FILE_INVALID) and *out must be closed by
 * the caller. */
int mmf__os_section_inherited(intptr_t section, intptr_t file,
                              unsigned os_prot, uint64_t size,
                              mmf_os_file *file_out, mmf_os_section *out);
/* @@END OS-POINTERS */

/* @@OS-LOCK-CHANNEL */
/* ---- process-shared robust mutex (lock.c) ------------------------------
 * The OS part of an mmf_lock: MMF__OS_MUTEX_BYTES bytes, 8-byte aligned,
 * inside memory shared between processes (any shared mapping). Precondition
 * for all but init: `m` was initialised by mmf__os_mutex_init (in any
 * process). A holder that dies makes the next acquire return
 * MMF_EOWNERDEAD with the lock held; releasing it without
 * mmf__os_mutex_consistent makes every later acquire MMF_ENOTRECOVERABLE.
 * The lock is owned by a thread: the acquiring thread releases it.
 * Linux: a robust, process-shared, error-checking pthread mutex. Windows: a
 * named mutex "Local\mmf-lock-<id>" (owner-only DACL; id random, kept in
 * `m`) opened once per process and cached, plus state words in `m` that
 * emulate ENOTRECOVERABLE and see a holder's death even when the named
 * mutex disappeared with the last handle. */
#define MMF__OS_MUTEX_BYTES 48
int mmf__os_mutex_init(void *m);
/* Acquire: timeout_ms < 0 waits forever, 0 tries once. Returns 0,
 * MMF_EOWNERDEAD (held; repair, then consistent), MMF_ENOTRECOVERABLE (not
 * held), MMF_EBUSY (try and held elsewhere, or this thread holds it
 * already), MMF_ETIMEDOUT, or an OS error. */
int mmf__os_mutex_acquire(void *m, int64_t timeout_ms);
/* Mark the state repaired after MMF_EOWNERDEAD. MMF_EINVAL when the lock is
 * not in that state, MMF_EPERM when this thread does not hold it. */
int mmf__os_mutex_consistent(void *m);
/* Release. MMF_EPERM when this thread does not hold it. */
int mmf__os_mutex_release(void *m);
/* Drop this process's OS resources for the lock (Windows: the cached mutex
 * handle); POSIX: nothing. Precondition: this process does not hold it. */
int mmf__os_mutex_detach(void *m);

/* ---- waiting on a 32-bit word in shared memory (ring.c) ---------------
 * A waiter sleeps while `*word == expect`; a waker changes the word first,
 * then wakes. Linux: futex (not PRIVATE: works across processes) on the
 * word itself, the waiter object is empty. Windows: a named semaphore
 * "Local\mmf-chan-<id hex>-<what>" (owner-only DACL) opened per process;
 * the caller keeps the count of sleepers in shared memory and passes it to
 * mmf__os_wake so each sleeper gets a release (extra releases only cause a
 * spurious wake-up, which callers tolerate). */
typedef struct mmf_os_waiter {
  intptr_t handle; /* -1 when none */
} mmf_os_waiter;
/* Open (or create) the waiter for channel `id`, `what` a short tag. On
 * success *out must be closed with mmf__os_waiter_close. */
int mmf__os_waiter_open(uint64_t id, const char *what, mmf_os_waiter *out);
int mmf__os_waiter_close(mmf_os_waiter *w);
/* Sleep until woken, while *word == expect (returns at once otherwise), or
 * until timeout_ms passes (< 0: no limit). Returns 0 (woken, word changed,
 * or spurious: the caller re-checks) or MMF_ETIMEDOUT. */
int mmf__os_wait(mmf_os_waiter *w, uint32_t *word, uint32_t expect,
                 int64_t timeout_ms);
/* Wake up to `sleepers` waiters sleeping on `word` (which the caller has
 * already changed). */
int mmf__os_wake(mmf_os_waiter *w, uint32_t *word, uint32_t sleepers);

/* n bytes from the OS's random source (getrandom / RtlGenRandom). */
int mmf__os_random(void *buf, size_t n);
/* A monotonic clock in nanoseconds. Cannot fail. */
uint64_t mmf__os_now_ns(void);
/* mmf__os_yield(): see @@OS-SHM. */
/* @@END OS-LOCK-CHANNEL */

/* @@OS-SECTION */
/* The full path of this process's executable file, NUL-terminated UTF-8
 * (readlink /proc/self/exe; GetModuleFileNameW). section.c derives a
 * program's default section key from it. MMF_ENAMETOOLONG when it does not
 * fit in `n` bytes. */
int mmf__os_exe_path(char *buf, size_t n);
/* @@END OS-SECTION */

/* ---- a background thread (window.c) ------------------------------------
 * For mmf's own work alongside the caller's thread, inside one process. A
 * monitor is a mutex with one condition variable: pthread mutex + cond /
 * SRWLOCK + CONDITION_VARIABLE. Only new and thread_start can fail. */
typedef struct mmf_os_monitor mmf_os_monitor;
/* On success *out must be freed with mmf__os_monitor_free. */
int mmf__os_monitor_new(mmf_os_monitor **out);
void mmf__os_monitor_free(mmf_os_monitor *m);
void mmf__os_monitor_enter(mmf_os_monitor *m);
void mmf__os_monitor_leave(mmf_os_monitor *m);
/* Sleep until woken; the caller has entered the monitor and holds it again
 * on return. Wake-ups may be spurious: callers re-check their condition. */
void mmf__os_monitor_wait(mmf_os_monitor *m);
/* Wake every thread sleeping in mmf__os_monitor_wait. */
void mmf__os_monitor_wake(mmf_os_monitor *m);
typedef struct mmf_os_thread mmf_os_thread;
/* Run fn(arg) on a new thread; on POSIX it starts with every signal
 * blocked but SIGBUS, SIGSEGV, SIGFPE and SIGILL (it is mmf's, not the
 * application's). On success *out must be joined; on failure it is NULL. */
int mmf__os_thread_start(void (*fn)(void *), void *arg, mmf_os_thread **out);
/* Wait until the thread's function returned; frees t. */
void mmf__os_thread_join(mmf_os_thread *t);
/* CPUs this process may run on: its affinity mask (Linux:
 * sched_getaffinity; Windows: GetProcessAffinityMask, in its processor
 * group), else the CPUs online; on Linux no more than the CPU time its
 * cgroups allow (the smallest quota/period of its cgroup and those above
 * it, v2's cpu.max or v1's cpu.cfs_quota_us, rounded up; read at most
 * once a second per process); at least 1.
 * Windows job objects' CPU rate caps are not counted. Cannot fail. */
unsigned mmf__os_cpu_count(void);
#ifndef _WIN32
/* The CPU quota of mmf__os_cpu_count: whole CPUs' worth, 0 for none. */
unsigned mmf__os_cpu_quota(void);
/* Tests only: the directory whose "cgroup" and "mountinfo" files
 * mmf__os_cpu_quota reads (default "/proc/self"), so that a test can give
 * it a cgroup tree of its own. */
extern const char *mmf__os_proc_self;
#endif

#endif /* MMF_OS_H */
