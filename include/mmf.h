/**
 * @file mmf.h
 * @brief mmf: memory-mapped files and shared memory, one portable C API.
 *
 * The model is Win32's: a file is opened into a *mapping object*
 * (::mmf_map) and any byte range of it is mapped as a *view*
 * (::mmf_view). Both objects are opaque and reference counted: a mapping may
 * be closed while its views are alive; the last view to go frees it.
 *
 * Conventions used by every function below:
 *  - A fallible function returns `int`: 0 on success or a negative `MMF_E*`
 *    code. The values are fixed and identical on every OS.
 *  - On failure the calling thread's error detail is set: the OS's own code
 *    (errno or GetLastError()) and a one-line message naming the call, the
 *    path and the reason. Read it with mmf_last_error_message() and
 *    mmf_last_os_error(). A success does not clear it.
 *  - Objects come back through out-parameters, which are left NULL on error.
 *    A failing call leaves nothing behind (no file created, no handle, no
 *    mapping).
 *  - Sizes are `size_t`, file offsets `uint64_t`. An offset + length that
 *    overflows is ::MMF_EOVERFLOW, never a wrap.
 *  - Paths are UTF-8 on every OS.
 */
#ifndef MMF_H
#define MMF_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(MMF_STATIC)
#define MMF_API
#elif defined(_WIN32)
#if defined(MMF_BUILDING)
#define MMF_API __declspec(dllexport)
#else
#define MMF_API __declspec(dllimport)
#endif
#elif defined(__GNUC__)
#define MMF_API __attribute__((visibility("default")))
#else
#define MMF_API
#endif

#define MMF_VERSION_MAJOR 0
#define MMF_VERSION_MINOR 1
#define MMF_VERSION_PATCH 0
#define MMF_VERSION_STRING "0.1.0"

/** @return the library's version string, e.g. "0.1.0". */
MMF_API const char *mmf_version(void);

/* ------------------------------------------------------------------------ */
/** @name Errors
 * Codes are negative and stable forever; new codes are only ever appended.
 * @{ */

/** X-macro list: XX(NAME, value, description). */
#define MMF_ERRNO_MAP(XX)                                                      \
  XX(EINVAL, -1, "invalid argument")                                           \
  XX(ENOENT, -2, "no such file or object")                                     \
  XX(EEXIST, -3, "already exists")                                             \
  XX(EACCES, -4, "permission denied")                                          \
  XX(EISDIR, -5, "is a directory")                                             \
  XX(ENOMEM, -6, "out of memory or address space")                             \
  XX(ENOSPC, -7, "no space left on device")                                    \
  XX(EIO, -8, "input/output error")                                            \
  XX(ERANGE, -9, "offset or length outside the mapping")                       \
  XX(EOVERFLOW, -10, "offset plus length overflows")                           \
  XX(EEMPTY, -11, "cannot map an empty file")                                  \
  XX(EPROT, -12, "access not allowed by the mapping's protection")             \
  XX(EBADF, -13, "bad file handle")                                            \
  XX(ENOTSUP, -14, "operation not supported on this system or file")           \
  XX(EBUSY, -15, "resource busy")                                              \
  XX(ENAMETOOLONG, -16, "name too long")                                       \
  XX(EMFILE, -17, "too many open files")                                       \
  XX(EFBIG, -18, "file too large")                                             \
  XX(EPERM, -19, "operation not permitted")                                    \
  XX(EAGAIN, -20, "resource temporarily unavailable")                          \
  XX(EOWNERDEAD, -21, "the previous owner died holding the lock")              \
  XX(ENOTRECOVERABLE, -22, "lock state is not recoverable")                    \
  XX(ECORRUPT, -23, "shared data is corrupt")                                  \
  XX(ETIMEDOUT, -24, "timed out")                                              \
  XX(EMSGSIZE, -25, "message too large")                                       \
  XX(EADDRINUSE, -26, "address range already in use")                          \
  XX(EOS, -64, "unexpected operating system error")

/** Error codes returned by every fallible mmf function. */
typedef enum mmf_errno {
#define MMF_XX_ENUM(name, value, text) MMF_##name = (value),
  MMF_ERRNO_MAP(MMF_XX_ENUM)
#undef MMF_XX_ENUM
  MMF_OK = 0
} mmf_errno;

/** @return a static English description of @p code ("unknown error" for an
 * unknown code, "success" for 0). */
MMF_API const char *mmf_strerror(int code);

/** @return the static name of @p code, e.g. "MMF_ENOENT" ("MMF_UNKNOWN" for
 * an unknown code, "MMF_OK" for 0). */
MMF_API const char *mmf_err_name(int code);

/** @return the MMF_E* code of this thread's last failure (0 if none). */
MMF_API int mmf_last_error(void);

/** @return the OS code (errno on POSIX, GetLastError() on Windows) behind
 * this thread's last failure, 0 if the failure was not the OS's. */
MMF_API int mmf_last_os_error(void);

/** @return this thread's last failure as one line naming the mmf call, the
 * OS call or check that failed, the path and the reason, e.g.
 * `mmf_map_open: open "/data/x": No such file or directory`. Empty string if
 * no failure happened on this thread. Valid until the next failure on this
 * thread. */
MMF_API const char *mmf_last_error_message(void);

/** @} */

/* ------------------------------------------------------------------------ */
/** @name System facts
 * @{ */

/** @return the page size in bytes (4096 on x86-64). */
MMF_API size_t mmf_page_size(void);

/** @return the allocation granularity: view offsets are aligned down to a
 * multiple of it internally (65536 on Windows, the page size on POSIX). */
MMF_API size_t mmf_granularity(void);

/**
 * @brief Give a program its command-line arguments in UTF-8, the encoding
 * every mmf path takes.
 *
 * On Windows the C runtime's argv is in the ANSI code page and loses
 * characters outside it; this replaces *argv with the process's wide
 * command line converted to UTF-8 (the strings live until the process
 * ends). Elsewhere it leaves both unchanged. Call it first thing in main().
 * @return 0, or ::MMF_EINVAL (NULL argument), ::MMF_ENOMEM, ::MMF_EOS.
 */
MMF_API int mmf_args_utf8(int *argc, char ***argv);

/** @} */

/* ------------------------------------------------------------------------ */
/** @name Mapping objects
 * @{ */

/** A mapping object: one file (or file descriptor) with a protection and a
 * maximum size. Opaque, reference counted by its views. */
typedef struct mmf_map mmf_map;

/** Protection of a mapping object (PAGE_* on Windows). One of READ,
 * READWRITE or WRITECOPY, optionally or-ed with ::MMF_PROT_EXEC. */
enum mmf_prot {
  /** Read-only file; views may be READ or COPY. */
  MMF_PROT_READ = 1,
  /** Read-write file; views may be READ, WRITE or COPY. */
  MMF_PROT_READWRITE = 2,
  /** Read-only file whose views are copy-on-write: READ or COPY views. */
  MMF_PROT_WRITECOPY = 3,
  /** Also allow EXEC views (PAGE_EXECUTE_*). */
  MMF_PROT_EXEC = 0x10
};

/** Flags for mmf_map_open(). */
enum mmf_open_flags {
  /** Create the file if it does not exist (needs READWRITE). */
  MMF_OPEN_CREATE = 0x1,
  /** With CREATE: fail with ::MMF_EEXIST if the file exists. */
  MMF_OPEN_EXCL = 0x2,
  /** Truncate the file to 0 bytes first (needs READWRITE and a max_size).
   * Arguments are checked before the file is touched, but a later failure
   * to grow the file (::MMF_ENOSPC) leaves it empty: its old content was
   * what TRUNCATE asked to drop. */
  MMF_OPEN_TRUNCATE = 0x4,
  /** Write-through: every flush of a view is durable whatever its mode, and
   * mmf_map_write() returns only once the data is on the device (O_DSYNC,
   * FILE_FLAG_WRITE_THROUGH). Stores through a view still reach the device
   * only when flushed, as on every OS. */
  MMF_OPEN_WRITE_THROUGH = 0x8
};

/**
 * @brief Open (or create) a file as a mapping object.
 *
 * @param[out] out       the new mapping; NULL on error
 * @param[in]  path      UTF-8 path of a file
 * @param[in]  prot      an ::mmf_prot value, optionally | ::MMF_PROT_EXEC
 * @param[in]  flags     ::mmf_open_flags or-ed together, or 0
 * @param[in]  max_size  size of the mapping; 0 means the file's current
 *   size. With READWRITE a max_size larger than the file extends the file to
 *   max_size, reserving real disk blocks first, so a full disk is
 *   ::MMF_ENOSPC now instead of a crash on a later store. With READ or
 *   WRITECOPY a max_size larger than the file is ::MMF_ERANGE.
 * @return 0, or
 *   ::MMF_EINVAL (NULL argument, unknown prot or flags, CREATE/TRUNCATE
 *   without READWRITE, TRUNCATE without max_size),
 *   ::MMF_ENOENT (no such file), ::MMF_EEXIST (CREATE|EXCL and it exists),
 *   ::MMF_EACCES (no permission), ::MMF_EISDIR (a directory),
 *   ::MMF_ENOTSUP (a FIFO, socket or device: only regular files map),
 *   ::MMF_EEMPTY (the file is empty and max_size is 0),
 *   ::MMF_ERANGE (read-only mapping larger than the file),
 *   ::MMF_ENOSPC / ::MMF_EFBIG (cannot extend the file, or max_size is
 *   beyond any file's size),
 *   ::MMF_ENAMETOOLONG, ::MMF_EMFILE, ::MMF_ENOMEM, ::MMF_EIO, ::MMF_EOS.
 *   A file this call created is removed again on any error.
 */
MMF_API int mmf_map_open(mmf_map **out, const char *path, int prot,
                         unsigned flags, uint64_t max_size);

/**
 * @brief Make a mapping object from a file the caller already has open.
 *
 * The handle is duplicated: the caller still owns @p native and may close it
 * at once.
 * @param[in] native a file descriptor (POSIX) or a file HANDLE (Windows),
 *   cast to intptr_t; it must be open for what @p prot needs.
 * @param[in] prot, max_size as for mmf_map_open() (no flags).
 * @return 0, or ::MMF_EINVAL, ::MMF_EBADF (not an open file, or opened
 *   without the access @p prot needs), ::MMF_EISDIR, ::MMF_ENOTSUP (not a
 *   regular file), ::MMF_EEMPTY, ::MMF_ERANGE, ::MMF_ENOSPC / ::MMF_EFBIG
 *   (cannot extend the file), ::MMF_EIO, ::MMF_EMFILE, ::MMF_ENOMEM,
 *   ::MMF_EOS.
 */
MMF_API int mmf_map_from_native(mmf_map **out, intptr_t native, int prot,
                                uint64_t max_size);

/** @return the size of the mapping in bytes (NULL gives 0). */
MMF_API uint64_t mmf_map_size(const mmf_map *map);

/** @return the protection @p map was opened with (NULL gives 0). */
MMF_API int mmf_map_prot(const mmf_map *map);

/**
 * @brief Read bytes of the mapped file with the OS's read path (pread /
 * ReadFile). Coherent with every view of the mapping.
 * @param[out] got bytes read (short only at the end of the file); may be NULL
 * @return 0, or ::MMF_EINVAL, ::MMF_EOVERFLOW, ::MMF_EIO, ::MMF_EOS.
 */
MMF_API int mmf_map_read(mmf_map *map, uint64_t offset, void *buf, size_t len,
                         size_t *got);

/**
 * @brief Write bytes to the mapped file with the OS's write path (pwrite /
 * WriteFile). Coherent with every view; durable on return when the mapping
 * was opened with ::MMF_OPEN_WRITE_THROUGH. The write must lie inside the
 * mapping.
 * @return 0, or ::MMF_EINVAL, ::MMF_EPROT (mapping not READWRITE),
 *   ::MMF_ERANGE, ::MMF_EOVERFLOW, ::MMF_ENOSPC, ::MMF_EIO, ::MMF_EOS.
 */
MMF_API int mmf_map_write(mmf_map *map, uint64_t offset, const void *buf,
                          size_t len);

/**
 * @brief Make everything written to the file durable (fdatasync /
 * FlushFileBuffers). Views must be flushed first (see mmf_view_flush()).
 * @return 0, or ::MMF_EINVAL, ::MMF_EIO, ::MMF_ENOSPC, ::MMF_EOS.
 */
MMF_API int mmf_map_sync(mmf_map *map);

/**
 * @brief Drop the caller's reference. Views of the mapping stay valid; the
 * file is closed when the last view is unmapped. NULL is a no-op.
 * @return 0, or the error of closing the file (the object is freed anyway).
 */
MMF_API int mmf_map_close(mmf_map *map);

/** @} */

/* ------------------------------------------------------------------------ */
/** @name Views
 * @{ */

/** A view: a byte range of a mapping object mapped into memory. */
typedef struct mmf_view mmf_view;

/** Access of a view (FILE_MAP_*), plus options, or-ed together. */
enum mmf_access {
  MMF_ACCESS_READ = 0x1,  /**< read only */
  MMF_ACCESS_WRITE = 0x2, /**< read and write through to the file */
  MMF_ACCESS_COPY = 0x4,  /**< read and write privately: never reaches the file */
  MMF_ACCESS_EXEC = 0x8,  /**< also executable (needs ::MMF_PROT_EXEC) */

  /** Fault every page in now (MAP_POPULATE / PrefetchVirtualMemory). On a
   * WRITE view the pages are faulted in writable (MADV_POPULATE_WRITE): much
   * faster for a view that is then rewritten whole, but every page counts as
   * dirty and is written back. Out of memory or a full disk while populating
   * is ::MMF_ENOMEM / ::MMF_ENOSPC / ::MMF_EIO. */
  MMF_VIEW_POPULATE = 0x100,
  /** Lock the pages in RAM (mlock / VirtualLock); an error if refused. */
  MMF_VIEW_LOCK = 0x200,
  /** Ask for huge pages; silently falls back to normal pages. */
  MMF_VIEW_HUGE = 0x400,
  /** Advice at map time: see ::mmf_advice. */
  MMF_VIEW_SEQUENTIAL = 0x1000,
  MMF_VIEW_RANDOM = 0x2000,
  MMF_VIEW_WILLNEED = 0x4000
};

/**
 * @brief Map `[offset, offset + length)` of @p map.
 *
 * @p offset may be any byte offset: mmf maps from the allocation granularity
 * below it and returns the exact pointer through mmf_view_data().
 * @param[in] length bytes to map; 0 means up to the end of the mapping.
 * @param[in] access one of ::MMF_ACCESS_READ / ::MMF_ACCESS_WRITE /
 *   ::MMF_ACCESS_COPY, optionally | ::MMF_ACCESS_EXEC and view options.
 * @return 0, or
 *   ::MMF_EINVAL (NULL argument, no or conflicting access bits),
 *   ::MMF_ERANGE (offset at or past the end, or offset + length past it),
 *   ::MMF_EOVERFLOW (offset + length overflows),
 *   ::MMF_EPROT (access wider than the mapping's protection),
 *   ::MMF_ENOMEM (no address space, or LOCK refused by a limit),
 *   ::MMF_EACCES, ::MMF_EPERM (EXEC refused, e.g. a noexec mount), ::MMF_EOS.
 */
MMF_API int mmf_view_map(mmf_view **out, mmf_map *map, uint64_t offset,
                         size_t length, unsigned access);

/** @return the first byte of the view (exactly at the requested offset). */
MMF_API void *mmf_view_data(const mmf_view *view);

/** @return the view's length in bytes. */
MMF_API size_t mmf_view_size(const mmf_view *view);

/** @return the file offset of mmf_view_data(). */
MMF_API uint64_t mmf_view_offset(const mmf_view *view);

/** Advice for mmf_view_advise(). */
enum mmf_advice {
  MMF_ADVICE_NORMAL = 0,
  MMF_ADVICE_SEQUENTIAL = 1,
  MMF_ADVICE_RANDOM = 2,
  MMF_ADVICE_WILLNEED = 3, /**< start reading the range in now */
  MMF_ADVICE_DONTNEED = 4  /**< the range may be dropped from RAM; the data
                                of READ and WRITE views is kept (it is the
                                file's). Do not use it on a COPY view whose
                                changes you need: Linux discards them. */
};

/**
 * @brief Give the OS advice about `[off, off + len)` of the view (offsets
 * relative to mmf_view_data(); len 0 = to the end). Advice is a hint: where
 * the OS has no equivalent (SEQUENTIAL and RANDOM on Windows) it succeeds
 * and does nothing.
 * @return 0, or ::MMF_EINVAL, ::MMF_ERANGE, ::MMF_EOVERFLOW, ::MMF_ENOTSUP
 *   (advice the OS does not have), ::MMF_EOS.
 */
MMF_API int mmf_view_advise(mmf_view *view, size_t off, size_t len,
                            int advice);

/** Modes of mmf_view_flush(). */
enum mmf_flush {
  /** Start writing dirty pages back; return at once (MS_ASYNC). */
  MMF_FLUSH_ASYNC = 0,
  /** Write dirty pages back to the OS and wait (MS_SYNC /
   * FlushViewOfFile). Survives a process crash, not a power loss. */
  MMF_FLUSH_SYNC = 1,
  /** SYNC, then force the file's data to the device (fdatasync /
   * FlushFileBuffers). Survives a power loss. */
  MMF_FLUSH_DURABLE = 2
};

/**
 * @brief Flush `[off, off + len)` of the view (relative to mmf_view_data();
 * len 0 = to the end). A COPY or READ view has nothing to write back; the
 * call still succeeds.
 * @return 0, or ::MMF_EINVAL, ::MMF_ERANGE, ::MMF_EOVERFLOW, ::MMF_EIO,
 *   ::MMF_ENOSPC, ::MMF_EOS.
 */
MMF_API int mmf_view_flush(mmf_view *view, size_t off, size_t len, int mode);

/**
 * @brief Lock `[off, off + len)` of the view in RAM (len 0 = all).
 * @return 0, or ::MMF_EINVAL, ::MMF_ERANGE, ::MMF_EOVERFLOW, ::MMF_ENOMEM
 *   (over the lock limit), ::MMF_EPERM, ::MMF_EOS.
 */
MMF_API int mmf_view_lock(mmf_view *view, size_t off, size_t len);

/** @brief Undo mmf_view_lock(). Same errors. */
MMF_API int mmf_view_unlock(mmf_view *view, size_t off, size_t len);

/**
 * @brief Unmap the view and drop its reference on the mapping. NULL is a
 * no-op. Unflushed changes of a WRITE view still reach the file (the OS
 * writes them back later); flush first for durability.
 * @return 0, or the error of unmapping (the object is freed anyway).
 */
MMF_API int mmf_view_unmap(mmf_view *view);

/** @} */

/* ------------------------------------------------------------------------ */
/** @name Sliding windows
 * Walk a mapping of any size a bounded window at a time, forward or
 * backward, for files bigger than RAM or the address space. Memory stays
 * bounded: each window is unmapped before the next one is mapped.
 * @{ */

typedef struct mmf_window mmf_window;

/** Flags for mmf_window_open(). */
enum mmf_window_flags {
  /** Walk from the end of the range towards its start. */
  MMF_WINDOW_BACKWARD = 0x1,
  /** Read-only walks: let mmf deliver a window through a buffer filled by
   * the OS's read path instead of a view where that is faster: when it
   * measures that the kernel faults the file in small pieces (small
   * page-cache folios), and always for windows under 2 MiB (mapped that
   * small, every file is faulted 64 KiB at a time). The data is the same;
   * only the speed differs. */
  MMF_WINDOW_AUTO = 0x2
};

/** Default window size (bytes) chosen by `mmf-bench window`. */
#define MMF_WINDOW_DEFAULT_SIZE ((size_t)4 << 20)

/**
 * @brief Start walking `[start, end)` of @p map (end 0 = end of mapping).
 *
 * @param[in] window_size bytes per window, rounded up to the granularity;
 *   0 = ::MMF_WINDOW_DEFAULT_SIZE.
 * @param[in] access view access (READ, WRITE or COPY, plus view options).
 * @param[in] flags ::mmf_window_flags.
 * Windows tile the range exactly and in order: forward, mapped window k
 * covers `[start + k*size, min(start + (k+1)*size, end))`; backward,
 * `[max(end - (k+1)*size, start), end - k*size)`. Windows delivered through
 * a read buffer (::MMF_WINDOW_AUTO) are never larger than the window size
 * (at most 1 MiB) and still tile the range in
 * order; use the offset mmf_window_next() reports.
 * @return 0, or ::MMF_EINVAL (NULL, bad flags or access bits, AUTO with a
 *   writable access), ::MMF_ERANGE, ::MMF_EOVERFLOW, ::MMF_EPROT (access
 *   wider than the mapping's protection), ::MMF_ENOMEM.
 */
MMF_API int mmf_window_open(mmf_window **out, mmf_map *map, uint64_t start,
                            uint64_t end, size_t window_size, unsigned access,
                            unsigned flags);

/**
 * @brief Move to the next window.
 * @param[out] data   first byte of the window (writable for WRITE/COPY)
 * @param[out] size   bytes in the window
 * @param[out] offset file offset of @p data (may be NULL)
 * @return 1 with a window, 0 at the end of the range, or a negative error
 *   (those of mmf_view_map() and mmf_map_read()). The previous window is
 *   unmapped by this call; a WRITE window's changes reach the file.
 */
MMF_API int mmf_window_next(mmf_window *win, void **data, size_t *size,
                            uint64_t *offset);

/** @return how many windows of this walk were delivered through a read
 * buffer rather than a view (see ::MMF_WINDOW_AUTO). */
MMF_API uint64_t mmf_window_buffered_count(const mmf_window *win);

/** @brief End the walk, unmapping the current window. NULL is a no-op.
 * @return 0, or the error of unmapping. */
MMF_API int mmf_window_close(mmf_window *win);

/** @} */

/* ------------------------------------------------------------------------ */
/** @name Utilities
 * @{ */

/** @return how many bytes of `p[0..n)` equal @p byte (vectorised). */
MMF_API uint64_t mmf_memcount(const void *p, size_t n, unsigned char byte);

/** @brief Reverse `p[0..n)` in place (vectorised). */
MMF_API void mmf_memreverse(void *p, size_t n);

/** @brief Swap `a[j]` with `b[n-1-j]` for every j < n: reverses the
 * concatenation of two equally long, non-overlapping blocks taken from both
 * ends of a buffer (how `mmf reverse` walks a file from both ends). */
MMF_API void mmf_memswap_reversed(void *a, void *b, size_t n);

/** @} */

/* ------------------------------------------------------------------------ */
/* @@SHM: Shared memory: anonymous and named memory-backed mappings (src/shm.c) */
/* @@END SHM */

/* ------------------------------------------------------------------------ */
/* @@POINTERS: Pointers in shared memory: fixed-address views, offset pointers, hand-over tokens */
/* @@END POINTERS */

/* ------------------------------------------------------------------------ */
/* @@LOCK: Process-shared robust lock (src/lock.c) */
/** @name Process-shared robust lock
 * A lock the caller places in memory shared between processes (any shared
 * view: a file mapping, shared memory), initialised once by its creator and
 * then used by every process that maps it. When a holder dies, the next
 * acquirer is told (::MMF_EOWNERDEAD) and holds the lock: it repairs the
 * data the lock protects, calls mmf_lock_consistent(), then releases as
 * usual. Releasing without that makes the lock ::MMF_ENOTRECOVERABLE for
 * everyone, for good (the data cannot be trusted).
 *
 * The lock belongs to the *thread* that acquired it: that thread releases
 * it. It is not recursive. Linux: a robust, process-shared pthread mutex
 * inside the struct. Windows: a named mutex `Local\mmf-lock-<random id>`
 * (owner-only DACL) that each process opens on first use and keeps open
 * until mmf_lock_detach(), plus state words inside the struct.
 *
 * Functions taking an mmf_lock return ::MMF_EINVAL for NULL or a struct
 * mmf_lock_init() never initialised.
 * @{ */

/** A process-shared lock: 64 bytes, 8-byte aligned, in shared memory.
 * Copying it does not copy the lock. */
typedef struct mmf_lock {
  uint64_t opaque[8];
} mmf_lock;

/**
 * @brief Initialise a lock in shared memory, once, before any process uses
 * it (re-initialising a lock in use is undefined).
 * @return 0, or ::MMF_EINVAL, ::MMF_ENOMEM, ::MMF_EACCES, ::MMF_EEXIST (no
 *   unused random name, Windows), ::MMF_EOS.
 */
MMF_API int mmf_lock_init(mmf_lock *lock);

/**
 * @brief Acquire, waiting as long as it takes.
 * @return 0 (held), ::MMF_EOWNERDEAD (held; the previous holder died: repair,
 *   then mmf_lock_consistent()), ::MMF_ENOTRECOVERABLE (not held: a holder
 *   released it without marking it consistent), ::MMF_EBUSY (this thread
 *   already holds it), ::MMF_EINVAL, ::MMF_ENOMEM, ::MMF_EACCES, ::MMF_EOS.
 */
MMF_API int mmf_lock_acquire(mmf_lock *lock);

/**
 * @brief Acquire if free now.
 * @return as mmf_lock_acquire(), and ::MMF_EBUSY when another thread or
 *   process holds it.
 */
MMF_API int mmf_lock_try_acquire(mmf_lock *lock);

/**
 * @brief Acquire, waiting at most @p timeout_ms milliseconds (0: try once,
 *   giving ::MMF_EBUSY as mmf_lock_try_acquire()).
 * @return as mmf_lock_acquire(), and ::MMF_ETIMEDOUT.
 */
MMF_API int mmf_lock_acquire_timeout(mmf_lock *lock, uint32_t timeout_ms);

/**
 * @brief After ::MMF_EOWNERDEAD, declare the protected data repaired; the
 * lock stays held (release it as usual).
 * @return 0, or ::MMF_EINVAL (not in the owner-died state),
 *   ::MMF_EPERM (this thread does not hold it, Windows; Linux may give
 *   ::MMF_EINVAL), ::MMF_EOS.
 */
MMF_API int mmf_lock_consistent(mmf_lock *lock);

/**
 * @brief Release a lock this thread holds.
 * @return 0, or ::MMF_EPERM (this thread does not hold it), ::MMF_EINVAL,
 *   ::MMF_ENOMEM, ::MMF_EACCES, ::MMF_EOS.
 */
MMF_API int mmf_lock_release(mmf_lock *lock);

/**
 * @brief Free what this process keeps for the lock (Windows: its handle of
 * the named mutex; nothing on Linux). Call it when this process is done
 * with the lock, before unmapping it; a later use opens it again. Must not
 * be called while this process holds the lock.
 * @return 0, or ::MMF_EINVAL, ::MMF_EIO / ::MMF_EOS (closing the handle
 *   failed; it is released anyway).
 */
MMF_API int mmf_lock_detach(mmf_lock *lock);

/** @} */
/* @@END LOCK */

/* ------------------------------------------------------------------------ */
/* @@CHANNEL: Shared-memory channel (src/ring.c) */
/** @name Shared-memory channel
 * A ring of variable-size messages between processes, placed in a region of
 * any read-write mapping that the processes share (a file mapping, shared
 * memory). One process creates it (mmf_chan_create()), the others attach
 * (mmf_chan_open()). Each message is sent and received whole.
 *
 * - ::MMF_CHAN_SPSC: one sending thread and one receiving thread at a time.
 *   ::MMF_CHAN_MPSC: any number of senders (threads or processes), one
 *   receiver. Senders reserve space with a compare-and-swap and then copy;
 *   the receiver stops at the first message not yet fully written. A sender
 *   killed between reserving and finishing a message therefore stalls the
 *   channel for good (the receiver sees it empty from there on): this is
 *   not repaired. Receiving is single-consumer in both modes.
 * - Blocking calls spin briefly (see mmf_chan_set_spin()), then sleep: on a
 *   futex on Linux, on named semaphores `Local\mmf-chan-<id>-data|space`
 *   (owner-only DACL) on Windows. A sender makes a system call only when a
 *   receiver may be asleep, and the other way round.
 * - Everything read from the shared region is untrusted: a header that does
 *   not describe a channel fitting the region, or a position or record
 *   length that is out of bounds, is ::MMF_ECORRUPT, never an out-of-bounds
 *   access. (A record length that stays inside the ring but exceeds what
 *   was sent is delivered as such, bytes of the ring, and the receiver's
 *   next call reports the inconsistency: checking it at once would cost a
 *   cache miss per message. Garbage in a record's commit word makes the
 *   channel look empty from there on.)
 * - The ring is the largest power of two that fits in the region after a
 *   ::MMF_CHAN_HEADER_SIZE-byte header; a message takes 16 bytes plus its
 *   length rounded up to 16; one message may be at most half the ring less
 *   16 bytes (mmf_chan_max_msg()).
 * @{ */

/** A process's handle on a channel. */
typedef struct mmf_chan mmf_chan;

/** Producer mode for mmf_chan_create(). */
enum mmf_chan_flags {
  MMF_CHAN_SPSC = 0, /**< one sender, one receiver */
  MMF_CHAN_MPSC = 1  /**< many senders, one receiver */
};

/** Bytes of the region the channel's header takes. */
#define MMF_CHAN_HEADER_SIZE 640
/** The smallest region mmf_chan_create() takes: header and a 1 KiB ring. */
#define MMF_CHAN_MIN_SIZE (MMF_CHAN_HEADER_SIZE + 1024)
/** A timeout meaning "wait as long as it takes". */
#define MMF_CHAN_FOREVER (-1)

/**
 * @brief Create a channel in `[offset, offset + size)` of @p map, which
 * must be READWRITE. Whatever the region held is overwritten.
 * @param[in] offset a multiple of 64
 * @param[in] size   at least ::MMF_CHAN_MIN_SIZE
 * @param[in] flags  ::MMF_CHAN_SPSC or ::MMF_CHAN_MPSC
 * @return 0, or ::MMF_EINVAL (NULL, bad flags, offset not a multiple of 64,
 *   size too small), ::MMF_ERANGE / ::MMF_EOVERFLOW (region outside the
 *   mapping), ::MMF_EPROT (mapping not READWRITE), ::MMF_ENOMEM,
 *   ::MMF_EACCES, ::MMF_ENOTSUP (no random source), ::MMF_EOS.
 */
MMF_API int mmf_chan_create(mmf_chan **out, mmf_map *map, uint64_t offset,
                            size_t size, unsigned flags);

/**
 * @brief Attach to the channel another process created at @p offset of
 * @p map (READWRITE). The header is validated once; its sizes are then
 * kept privately.
 * @return 0, or ::MMF_ECORRUPT (no channel there, an unknown version, or
 *   sizes that do not fit the mapping), ::MMF_EINVAL, ::MMF_ERANGE,
 *   ::MMF_EPROT, ::MMF_ENOMEM, ::MMF_EACCES, ::MMF_EOS.
 */
MMF_API int mmf_chan_open(mmf_chan **out, mmf_map *map, uint64_t offset);

/** @brief Detach (the channel itself stays in the mapping). NULL is a
 * no-op. @return 0, or the error of unmapping / closing (freed anyway). */
MMF_API int mmf_chan_close(mmf_chan *chan);

/** @return the largest message @p chan carries (0 for NULL). */
MMF_API size_t mmf_chan_max_msg(const mmf_chan *chan);

/** @brief How long blocking calls of this handle spin before they sleep,
 * in nanoseconds (default 20000; 0 sleeps at once). */
MMF_API void mmf_chan_set_spin(mmf_chan *chan, uint32_t spin_ns);

/**
 * @brief Send one message of @p len bytes (0 is allowed) if there is room.
 * @return 0, ::MMF_EAGAIN (full now), ::MMF_EMSGSIZE (larger than
 *   mmf_chan_max_msg(): never fits), ::MMF_ECORRUPT, ::MMF_EINVAL, ::MMF_EOS
 *   (waking a sleeping receiver failed; the message was sent).
 */
MMF_API int mmf_chan_try_send(mmf_chan *chan, const void *msg, size_t len);

/**
 * @brief Send, waiting for room at most @p timeout_ms milliseconds
 * (::MMF_CHAN_FOREVER: no limit).
 * @return as mmf_chan_try_send(), with ::MMF_ETIMEDOUT instead of
 *   ::MMF_EAGAIN.
 */
MMF_API int mmf_chan_send(mmf_chan *chan, const void *msg, size_t len,
                          int timeout_ms);

/**
 * @brief Receive the next message into `buf[0..cap)` if there is one;
 * *len gets its length.
 * @return 0, ::MMF_EAGAIN (empty now), ::MMF_EMSGSIZE (*len is set to the
 *   length needed; the message stays queued), ::MMF_ECORRUPT (the shared
 *   state is out of bounds or inconsistent), ::MMF_EINVAL, ::MMF_EOS.
 */
MMF_API int mmf_chan_try_recv(mmf_chan *chan, void *buf, size_t cap,
                              size_t *len);

/**
 * @brief Receive, waiting for a message at most @p timeout_ms milliseconds
 * (::MMF_CHAN_FOREVER: no limit).
 * @return as mmf_chan_try_recv(), with ::MMF_ETIMEDOUT instead of
 *   ::MMF_EAGAIN.
 */
MMF_API int mmf_chan_recv(mmf_chan *chan, void *buf, size_t cap, size_t *len,
                          int timeout_ms);

/** @} */
/* @@END CHANNEL */

/* ------------------------------------------------------------------------ */
/* @@SECTION: Shared sections and instance counting (src/section.c) */
/* @@END SECTION */

#ifdef __cplusplus
}
#endif
#endif /* MMF_H */
