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
  XX(EWAKE, -27, "done, but waking the other side failed")                    \
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
 * On POSIX the descriptor the mapping keeps (here and in every other call
 * that opens or duplicates one) is never 0, 1 or 2, so in a program started
 * with stdout closed, printf does not end up in the mapped file. (For the
 * moment between the open and the move, and while mmf reads a file of the
 * system's, a descriptor it holds may be one of them: do not write to a
 * closed standard stream from another thread meanwhile.)
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
 *   ::MMF_ENOTSUP (a FIFO, socket or device: only regular files map; or
 *   a file that reports a size of 0 but reads data, as /proc's do),
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
 *   without the access @p prot needs: ::MMF_PROT_READWRITE also refuses a
 *   POSIX descriptor opened O_APPEND, whose writes go to the file's end
 *   whatever the offset), ::MMF_EISDIR, ::MMF_ENOTSUP (not a
 *   regular file, or size 0 but reads data), ::MMF_EEMPTY, ::MMF_ERANGE, ::MMF_ENOSPC / ::MMF_EFBIG
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
 * @param[out] got bytes read: short only at the mapping's end
 *   (mmf_map_size(), even where the file holds more) or where the file
 *   ends before it (it shrank); may be NULL
 * @return 0, or ::MMF_EINVAL, ::MMF_EOVERFLOW, ::MMF_EIO, ::MMF_EOS.
 */
MMF_API int mmf_map_read(mmf_map *map, uint64_t offset, void *buf, size_t len,
                         size_t *got);

/**
 * @brief mmf_map_read() of exactly @p len bytes, which must lie inside the
 * mapping: a read that comes up short (the file shrank under the mapping)
 * is an error that says so, not a short count.
 * @return 0, or ::MMF_EINVAL, ::MMF_ERANGE / ::MMF_EOVERFLOW (not inside
 *   the mapping), ::MMF_EIO (the file ends before the mapping does: the
 *   message gives where and how much was read), ::MMF_EOS.
 */
MMF_API int mmf_map_read_exact(mmf_map *map, uint64_t offset, void *buf,
                               size_t len);

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
 * file is closed when the last view is unmapped. NULL is a no-op. Call it
 * once: like free(), a second close of the same object is undefined (it
 * may have been freed by the first).
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
   * dirty and is written back. On a WRITE view (Linux) out of memory while
   * populating is ::MMF_ENOMEM and a page that cannot be had (a hole with
   * no room left on the disk, a read error) ::MMF_EIO; on other views, and
   * on Windows, populating is a request whose failure is not reported (the
   * first access then faults). */
  MMF_VIEW_POPULATE = 0x100,
  /** Lock the pages in RAM (mlock / VirtualLock); an error if refused. */
  MMF_VIEW_LOCK = 0x200,
  /** Ask for huge pages; silently falls back to normal pages. On a file
   * view on Linux (MADV_HUGEPAGE) it applies to the parts of the file not
   * yet cached: they are read in 2 MiB folios and mapped with 2 MiB pages
   * (a file read cold through such a view: 100% in 2 MiB pages, against
   * 96% without it, with the 8 MiB read-ahead of the machine measured;
   * with less read-ahead the folios are smaller without it). Parts already
   * cached keep the folios they are in,
   * and only 2 MiB folios that the view covers whole, at a 2 MiB-aligned
   * file offset, are mapped with 2 MiB pages (docs/BENCHMARKS.md, "2 MiB
   * folios"). */
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
  MMF_ADVICE_DONTNEED = 4, /**< the range may be dropped from RAM; the data
                                of READ and WRITE views is kept (it is the
                                file's). Do not use it on a COPY view whose
                                changes you need: Linux discards them. */
  /** Fault the range in now, as ::MMF_VIEW_POPULATE does for a whole view
   * at map time, so that the first touches take no page fault: writable on
   * a WRITE view (every page then counts as dirty and is written back) and
   * on a COPY view (every page becomes a private copy). Linux
   * MADV_POPULATE_READ / MADV_POPULATE_WRITE (5.14 and later; ::MMF_ENOTSUP
   * before); Windows PrefetchVirtualMemory, which reads the pages in but
   * leaves the first store to fault. Unlike the other advice it is not a
   * hint: ::MMF_ENOMEM, and ::MMF_EIO when a page of the range cannot be
   * had -- past the end of a file that shrank, a hole with no room left on
   * the disk, a read error: Linux does not tell these apart. With
   * ::MMF_ADVICE_DONTNEED after use, it lets one long view be worked
   * through a piece at a time with bounded memory, instead of mapping and
   * unmapping a view per piece: on Linux mapping and unmapping take the
   * process's address-space lock exclusively, which stalls the populates
   * and page faults of every other thread (docs/BENCHMARKS.md, "Results on
   * 2026-11-26"). */
  MMF_ADVICE_POPULATE = 5
};

/**
 * @brief Give the OS advice about `[off, off + len)` of the view (offsets
 * relative to mmf_view_data(); len 0 = to the end). Advice other than
 * ::MMF_ADVICE_POPULATE is a hint: where the OS has no equivalent
 * (SEQUENTIAL and RANDOM on Windows) it succeeds and does nothing.
 * @return 0, or ::MMF_EINVAL, ::MMF_ERANGE, ::MMF_EOVERFLOW, ::MMF_ENOTSUP
 *   (advice the OS does not have), ::MMF_EOS; for ::MMF_ADVICE_POPULATE
 *   also ::MMF_ENOMEM, ::MMF_EIO.
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
 * bounded: each window is released before the next one is mapped (with
 * ::MMF_WINDOW_AHEAD, at most four windows are mapped at once). On Linux,
 * READ and WRITE walks cut their mapped windows out of one longer view (at
 * most ::MMF_WINDOW_SPAN_MAX bytes of address space), whose pages are
 * populated per window (with ::MMF_VIEW_POPULATE) and dropped when the walk
 * moves on, instead of mapping and unmapping a view per window, which takes
 * the process's address-space lock and stalls other threads (see
 * ::MMF_ADVICE_POPULATE). With ::MMF_VIEW_POPULATE the first window is
 * populated by the OS call; where its faults show the file cached in large
 * folios, later windows are faulted in by touching a byte per page (a
 * fault then maps a whole folio; on x86 a WRITE walk's touch is an atomic
 * or of 0, so the pages come in writable). A window is touched only while
 * the file still holds it and, for a WRITE walk, the filesystem has room
 * for the window twice over (a store into a hole, or on a copy-on-write
 * filesystem, allocates); otherwise the OS call populates it and reports
 * ::MMF_EIO for a page that cannot be had. A truncation or hole punched in
 * the microseconds between, a disk quota, or a read error on a page not in
 * memory raises SIGBUS there, as it would in the caller's accesses to the
 * window.
 * COPY walks, walks with
 * ::MMF_VIEW_LOCK, ::MMF_VIEW_WILLNEED or ::MMF_WINDOW_AHEAD, the probe and
 * trial windows of ::MMF_WINDOW_AUTO, and walks on Windows map a view per
 * window.
 * @{ */

typedef struct mmf_window mmf_window;

/** Flags for mmf_window_open(). */
enum mmf_window_flags {
  /** Walk from the end of the range towards its start. */
  MMF_WINDOW_BACKWARD = 0x1,
  /** Read-only walks: let mmf deliver a window through a buffer filled by
   * the OS's read path instead of a view where that is faster: when it
   * measures that the kernel faults the file in small pieces (small
   * page-cache folios), when timing both ways over the next windows (two
   * rounds of 2 MiB mapped and 2 MiB read; the best round of each counts)
   * shows the read path clearly cheaper per byte (the caller's work on each
   * window included: on some virtual machines every new page-table entry
   * costs a microsecond), and always for windows under 2 MiB (mapped that
   * small, every file is faulted 64 KiB at a time). With windows of 2 MiB
   * or more, mapped windows cover whole 2 MiB cells of the file: each starts
   * at a multiple of 2 MiB of the file offset (going backward: ends at one)
   * and ends at one or at the range's far end, so it is the window size
   * rounded down to a multiple of 2 MiB, or less; bytes between the walk's
   * edge and the grid go through the buffer. Linux maps a file cached in
   * 2 MiB folios (written 2 MiB at a time, or read cold from disk with a
   * large read-ahead: 8 MiB on the machine measured) with 2 MiB pages only
   * there: off that grid a scan of such a file ran at 0.75x.
   * The first mapped window is 2 MiB long (the probe: where mapping loses,
   * every probed byte costs), and so are the trial's. The data is the same;
   * only the speed differs. A window delivered through the buffer is the
   * walk's own memory and may be written to, as scratch: the changes reach
   * neither the file nor a later window. */
  MMF_WINDOW_AUTO = 0x2,
  /** Read-only walks: keep the next two windows mapped ahead on a background
   * thread, every page faulted in, while the caller works on the current one,
   * and unmap finished windows there too. The kernel's page-table work (a fifth
   * to a quarter of a mapped scan of a cached file) then overlaps the caller's
   * work. With the default window size (::MMF_WINDOW_AHEAD_SIZE) a scan of a
   * file cached in large folios on a 2-vCPU VM ran 1.07-1.23x faster than on
   * one thread, for 0-18% more CPU time in all (docs/BENCHMARKS.md, "Results on
   * 2026-11-25 (evening)"); with 4 MiB windows it was from 1.14x faster to
   * 1.16x slower ("Results on 2026-11-25 (later)"). Costs one thread per walk
   * (started by the first mmf_window_next() that maps a window with more than
   * one window left -- with AUTO, once the walk settled on mapping -- and ended
   * by mmf_window_close()) and up to four windows mapped at once, every page of
   * them resident (up to 128 MiB of file pages with the default size). When the
   * thread has not started on the window the caller needs next (its CPU busy
   * elsewhere), the caller maps it itself rather than wait. Windows delivered
   * through AUTO's read buffer do not use it. When the thread cannot start, the
   * walk goes on without it (see mmf_window_ahead_count()). Windows, their
   * order and the errors are as without the flag, except that the failure to
   * unmap a finished window is returned by the next mmf_window_next() or
   * mmf_window_close() after it. Do not call mmf_window_next() for one walk
   * from two threads at once (as without the flag). */
  MMF_WINDOW_AHEAD = 0x4
};

/** Longest view a walk cuts its windows from on Linux (see the section
 * above): 1 GiB, or 64 MiB in a 32-bit process. */
#define MMF_WINDOW_SPAN_MAX                                                    \
  (sizeof(void *) >= 8 ? (size_t)1 << 30 : (size_t)64 << 20)

/** Default window size (bytes) chosen by `mmf-bench window`. */
#define MMF_WINDOW_DEFAULT_SIZE ((size_t)4 << 20)
/** Default window size (bytes) of a walk with ::MMF_WINDOW_AHEAD, also
 * chosen by `mmf-bench window`: each window handed over costs a wake-up
 * and an unmap on the thread that interrupts the caller's CPU, and with
 * 4 MiB windows those costs ate what the thread saved. */
#define MMF_WINDOW_AHEAD_SIZE ((size_t)32 << 20)

/**
 * @brief Start walking `[start, end)` of @p map (end 0 = end of mapping).
 *
 * @param[in] window_size bytes per window, rounded up to the granularity;
 *   0 = ::MMF_WINDOW_DEFAULT_SIZE, or ::MMF_WINDOW_AHEAD_SIZE with
 *   ::MMF_WINDOW_AHEAD.
 * @param[in] access view access (READ, WRITE or COPY, plus view options).
 * @param[in] flags ::mmf_window_flags.
 * Windows tile the range exactly and in order: forward, mapped window k
 * covers `[start + k*size, min(start + (k+1)*size, end))`; backward,
 * `[max(end - (k+1)*size, start), end - k*size)`. With ::MMF_WINDOW_AUTO
 * mapped windows sit on a 2 MiB grid of the file (see there) and windows
 * delivered through a read buffer are never larger than the window size (at
 * most 1 MiB); they still tile the range in order: use the offset
 * mmf_window_next() reports.
 * @return 0, or ::MMF_EINVAL (NULL, bad flags or access bits, AUTO or AHEAD
 *   with a writable access), ::MMF_ERANGE, ::MMF_EOVERFLOW, ::MMF_EPROT (access
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
 *   (those of mmf_view_map(), mmf_view_advise() and mmf_map_read()). The
 *   previous window is released by this call -- unmapped, or its pages
 *   dropped from the process -- (with ::MMF_WINDOW_AHEAD, by the read-ahead
 *   thread soon after): do not use its pointer again. A WRITE window's
 *   changes reach the file. After an
 *   error the walk stays where it was: calling again retries the same
 *   window (mapped or read), so a transient failure loses no bytes.
 */
MMF_API int mmf_window_next(mmf_window *win, void **data, size_t *size,
                            uint64_t *offset);

/** @return how many windows of this walk were delivered through a read
 * buffer rather than a view (see ::MMF_WINDOW_AUTO). */
MMF_API uint64_t mmf_window_buffered_count(const mmf_window *win);

/** @return how many of the windows handed out so far the read-ahead thread
 * prepared (::MMF_WINDOW_AHEAD), not counting those the caller mapped itself
 * nor those prepared and dropped when the walk was closed early; 0
 * when the thread did not run: it could not start, or it was never
 * needed (at most one window left when the walk settled on mapping, or
 * every window delivered through AUTO's read buffer). */
MMF_API uint64_t mmf_window_ahead_count(const mmf_window *win);

/** @brief End the walk, unmapping the current window and freeing the read
 * buffer (::MMF_WINDOW_AUTO). NULL is a no-op. The walk is ended either
 * way.
 * @return 0, or the error of unmapping (the window or the buffer). */
MMF_API int mmf_window_close(mmf_window *win);

/** Work on one window of mmf_window_each(). @p worker is the number of the
 * share being walked (0 = the first, on the calling thread); @p offset is
 * the file offset of @p data. Return 0 to go on; any other value stops the
 * whole walk and is returned by mmf_window_each(). */
typedef int (*mmf_window_fn)(void *ctx, unsigned worker, void *data,
                             size_t size, uint64_t offset);

/** Most workers mmf_window_each() runs; more are taken as this many. */
#define MMF_WINDOW_EACH_MAX 64
/** With `workers` 0, mmf_window_each() runs at most one worker per this many
 * bytes of the range (shares put on the 2 MiB grid may come out up to
 * 2 MiB shorter, each edge moving up to 1 MiB): starting a thread and
 * AUTO's decision cost about as much as a few MiB of a scan. Counting cached files of 16 to 128 MiB on
 * two workers against one (docs/BENCHMARKS.md): two were faster from
 * shares of 32 MiB up on both small and large page-cache folios, and
 * slower on large folios with 8 MiB shares. */
#define MMF_WINDOW_EACH_MIN_SHARE ((uint64_t)32 << 20)

/**
 * @brief Walk `[start, end)` of @p map (end 0 = end of mapping) on several
 * threads at once, calling @p fn on each window.
 *
 * The range is cut into one contiguous share per worker, at multiples of
 * 2 MiB of the file offset (so that ::MMF_WINDOW_AUTO's grid and 2 MiB
 * pages line up), and each share is walked forward, as by mmf_window_open()
 * with the same @p window_size, @p access and @p flags, on its own thread:
 * worker 0 on the calling thread, the others on threads mmf starts (with
 * every signal blocked but SIGBUS, SIGSEGV, SIGFPE and SIGILL). @p fn is
 * called from all of them at once, each call with one whole window; the
 * windows of one worker come in file order, so per-worker state indexed by
 * `worker` needs no lock. Every byte of the range is delivered exactly once
 * unless the walk stops early. On a machine with two free cores, counting a
 * cached 1 GiB file on two workers ran 1.6-1.7x as fast as on one thread
 * on small page-cache folios and 1.1-1.3x on large ones (docs/BENCHMARKS.md,
 * "Results on 2026-11-25 (late night)").
 *
 * When a worker's thread cannot start (no memory, no threads), its share is
 * walked on the calling thread after share 0, still as that worker: the
 * result is the same, only slower.
 *
 * @param[in] workers how many shares: 0 = one per CPU this process may run
 *   on (its affinity mask; on Linux no more than the CPU time its cgroups
 *   allow, as a container started with `--cpus 2` gets two), but at most
 *   one per ::MMF_WINDOW_EACH_MIN_SHARE bytes of the range;
 *   otherwise this many (at most ::MMF_WINDOW_EACH_MAX), but at most one per
 *   whole 2 MiB of the range. At least one; no share is empty (but one may
 *   end before fn is ever called for it when the walk stops early).
 * @param[in] flags ::mmf_window_flags but ::MMF_WINDOW_BACKWARD (the order
 *   across workers is not defined, so walking backward means nothing); with
 *   ::MMF_WINDOW_AHEAD each worker has its own read-ahead thread.
 * @return 0 when every window was worked on; else the walk stops soon on
 *   every worker (each finishes the window it has) and this returns, of the
 *   shares that ended early, the one nearest @p start: the non-zero value
 *   @p fn returned (when it equals mmf_last_error() on the thread that ran
 *   @p fn -- @p fn passing on the failure of an mmf call -- that thread's
 *   error detail becomes the caller's; otherwise the caller's is what the
 *   calling thread's own walks left it: share 0's, and those it walked for
 *   workers whose thread did not start), or the error of its walk, with
 *   mmf_last_error() describing it (those of mmf_window_open(),
 *   mmf_window_next() and mmf_window_close(); ::MMF_EINVAL also for a NULL
 *   @p map or @p fn, or ::MMF_WINDOW_BACKWARD), or ::MMF_ENOMEM.
 */
MMF_API int mmf_window_each(mmf_map *map, uint64_t start, uint64_t end,
                            size_t window_size, unsigned access,
                            unsigned flags, unsigned workers,
                            mmf_window_fn fn, void *ctx);

/** @return how many workers mmf_window_each() runs over a range of
 * @p length bytes when asked for @p workers (0 = one per CPU), by the rule
 * given there: at least 1, at most ::MMF_WINDOW_EACH_MAX. Workers are
 * numbered from 0 to this minus 1, so per-worker state can be sized before
 * the walk. With 0 the CPUs are counted again at each call (the affinity
 * mask or the CPU quota may change in between): size for the number this
 * returns and pass that number to mmf_window_each(), which then runs
 * exactly that many. Cannot fail. */
MMF_API unsigned mmf_window_each_workers(uint64_t length, unsigned workers);

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

/**
 * @brief Allocate a buffer for copying file data through read()/write()
 * (what mmf's own read-path windows and `mmf reverse` use): @p size bytes,
 * zero-filled, page-aligned, and on Linux, from 1 MiB up, in a 2 MiB-aligned
 * region marked for transparent huge pages (madvise MADV_HUGEPAGE; taken
 * where the kernel allows it, silently 4 KiB pages elsewhere).
 *
 * Why: the first write to each fresh 4 KiB page costs a fault; on some
 * VMs (shadow paging) about 20 us, so a fresh 2 MiB buffer took 10 ms to
 * fill the first time and a huge-page one 0.1 ms (docs/BENCHMARKS.md).
 * Copies into a page-aligned buffer also run faster than into malloc's
 * 16-byte offset. On Linux a buffer of 1 MiB or more starts on a 2 MiB
 * boundary and, once touched, holds @p size rounded up to 2 MiB of RAM;
 * smaller ones, and every one on Windows (no huge pages to ask for without
 * a privilege), hold @p size rounded up to a page. Each has one page of
 * bookkeeping in front of it.
 * @param[out] out  the buffer; NULL on error
 * @return 0, or ::MMF_EINVAL (NULL @p out, @p size 0), ::MMF_ENOMEM,
 *   ::MMF_EOS (another refusal of the OS, named in the message).
 */
MMF_API int mmf_buffer_alloc(void **out, size_t size);

/**
 * @brief Free a buffer from mmf_buffer_alloc(); NULL is allowed (nothing
 * happens). Any other pointer is undefined behaviour.
 * @return 0, or ::MMF_EINVAL (the page in front of @p buf is not a
 *   buffer's bookkeeping: not a pointer mmf_buffer_alloc() returned; or
 *   the OS refused the release with EINVAL: the message names munmap /
 *   VirtualFree), ::MMF_EOS (another refusal of the OS). After a failure
 *   the buffer is still allocated.
 */
MMF_API int mmf_buffer_free(void *buf);

/** @} */

/* ------------------------------------------------------------------------ */
/* @@SHM: Shared memory: anonymous and named memory-backed mappings (src/shm.c) */
/** @name Shared memory
 *
 * Memory-backed mappings (the seed's paging-file mappings) are ordinary
 * ::mmf_map objects: map views of them with mmf_view_map(), ask their size
 * with mmf_map_size() (the exact size given at create), and drop them with
 * mmf_map_close(). Named objects are found by name from any process of the
 * same user (or of any user with ::MMF_SHM_ANYONE, Linux).
 *
 * **Names**: 1..::MMF_SHM_NAME_MAX characters of `[A-Za-z0-9._-]`, not
 * starting or ending with '.' (Windows drops a trailing dot from file
 * names); anything else is ::MMF_EINVAL with the reason. On Windows names
 * that differ only in case ("Frames", "frames") name the same object, as
 * its file and object names do; on Linux they are two: portable programs
 * do not tell names apart by case.
 *
 * **One lifetime rule, chosen per object, the same on every OS:**
 *  - ::MMF_SHM_TRANSIENT (the default): the object exists while some
 *    process holds it (an open ::mmf_map or a view of it). When the last
 *    holder closes it -- or dies, even by SIGKILL / TerminateProcess -- it
 *    is gone: mmf_shm_open() is ::MMF_ENOENT and a new mmf_shm_create()
 *    succeeds and starts zero-filled.
 *  - ::MMF_SHM_PERSISTENT: the object stays, with its content, after every
 *    holder is gone, until mmf_shm_remove() (or a reboot).
 *
 * **How** (docs/shm.md has the whole protocol): every object has a file
 * `mmf.NAME` in the runtime directory (`/dev/shm` on Linux, so the file is
 * the POSIX shared-memory object `shm_open("/mmf.NAME")`; `%TEMP%\\mmf` on
 * Windows). The file holds a 64-byte trailer after the data (magic,
 * lifetime, exact size), never visible through a view. Every holder of a
 * transient object keeps a shared lock on the file, which the OS drops
 * when the holder dies; the last closer (the one that then gets the lock
 * exclusively) removes it, and a create that finds an object nobody holds
 * removes it as stale. Create, open, last close and remove are serialised
 * by a second lock byte on the same file, and every step re-checks that
 * the name still names the file it opened. A new object is built whole
 * under a temporary name and then published under its name in one step
 * that fails if the name exists, so no process ever sees half an object. On Windows a transient object's
 * memory is a pagefile-backed section `Local\\mmf.NAME.<generation>` (its
 * native lifetime; a new generation per create, so a removed name is free
 * at once even while old holders keep their section) and the file only
 * carries the trailer and the locks; a
 * persistent object's memory is the file itself.
 *
 * **Security**: objects are created for the calling user only (mode 0600;
 * a DACL granting only the current user) unless ::MMF_SHM_ANYONE. The
 * create is exclusive (O_CREAT|O_EXCL / CREATE_NEW of the temporary file,
 * link() / MoveFileExW without replace for the name, CreateFileMappingW's
 * ERROR_ALREADY_EXISTS for a section) and never follows a symbolic link; an existing object that another user made is refused
 * (::MMF_EACCES) rather than used, so a name cannot be squatted. The
 * trailer is read from a file another process writes: it is checked
 * (magic, size against the file's size) and a bad one is ::MMF_ECORRUPT.
 *
 * mmf_map_read(), mmf_map_write() and mmf_map_sync() work on Linux objects
 * and Windows persistent ones; Windows transient and anonymous objects have
 * no file, there they fail ::MMF_EBADF: use views.
 * @{ */

/** Longest name mmf_shm_create() accepts, in bytes. */
#define MMF_SHM_NAME_MAX 128

/** Flags for mmf_shm_create() and mmf_shm_open(). */
enum mmf_shm_flags {
  /** Lifetime: gone when the last holder closes or dies (the default). */
  MMF_SHM_TRANSIENT = 0x0,
  /** Lifetime: stays until mmf_shm_remove(). */
  MMF_SHM_PERSISTENT = 0x1,
  /** mmf_shm_create(): open the object when it exists (and is this
   * user's) instead of failing ::MMF_EEXIST; its lifetime and size stay
   * as they are (mmf_map_size() tells). */
  MMF_SHM_OPEN_EXISTING = 0x2,
  /** mmf_shm_create(): let every local user open the object read-write
   * (mode 0666 on Linux; Windows keeps the default security of the user's
   * session, which other users cannot reach anyway). */
  MMF_SHM_ANYONE = 0x4
};

/**
 * @brief Create a named memory-backed mapping of @p size bytes, zero-filled,
 * read-write (::MMF_PROT_READWRITE).
 * @param[out] out   the new mapping; NULL on error
 * @param[in] name   see the name rules above
 * @param[in] size   exact size in bytes; 0 is allowed (no view can be
 *   mapped, but mmf_map_size() tells 0: `mmf share put` of empty input)
 * @param[in] flags  ::mmf_shm_flags or-ed together
 * @return 0, or ::MMF_EINVAL (NULL argument, bad name, unknown flags),
 *   ::MMF_EEXIST (a live object of that name exists, without
 *   ::MMF_SHM_OPEN_EXISTING), ::MMF_EACCES (the name is taken by a symbolic
 *   link or by another user's object, or no permission),
 *   ::MMF_ECORRUPT (OPEN_EXISTING met an object with a bad trailer),
 *   ::MMF_EBUSY (the name keeps being removed and made by others),
 *   ::MMF_ENOENT (the runtime directory is missing), ::MMF_EBADF,
 *   ::MMF_EFBIG, ::MMF_ENOSPC, ::MMF_ENOMEM, ::MMF_EMFILE, ::MMF_EIO,
 *   ::MMF_ENAMETOOLONG, ::MMF_EISDIR / ::MMF_ENOTSUP (something that is
 *   not a regular file sits at the object's path), ::MMF_EOS.
 *   A failing call leaves no object (and no temporary file) behind.
 *
 * Before it makes a new object, create removes the temporary files
 * ("mmf.NAME~...") of creators of @p name that died half-way: one read of
 * the runtime directory (not done when ::MMF_SHM_OPEN_EXISTING opens an
 * object that exists). That sweep is best effort and never fails the
 * create (docs/shm.md, "sweep").
 */
MMF_API int mmf_shm_create(mmf_map **out, const char *name, uint64_t size,
                           unsigned flags);

/** Writes a new object's contents for mmf_shm_create_filled(): @p data is
 * the whole object, @p size bytes, zero-filled, writable. Return 0 to
 * publish the object, or a negative ::MMF_E* code to abandon it (record
 * the reason with it, or mmf records "the fill callback returned N"). */
typedef int (*mmf_shm_fill_fn)(void *ctx, void *data, uint64_t size);

/**
 * @brief mmf_shm_create(), with the contents written before anyone can see
 * the object: @p fill runs on the new object while it still has only its
 * temporary name, and only then is the object published under @p name, in
 * one step. A reader that opens @p name meanwhile gets ::MMF_ENOENT, never
 * a half-written object; a creator killed inside @p fill leaves nothing
 * anyone can open (its temporary file, with its memory, goes at the next
 * sweep: see mmf_shm_create()). `mmf share put` is built on this.
 *
 * @p fill is not called when @p size is 0, nor when ::MMF_SHM_OPEN_EXISTING
 * opens an object that exists (its contents are whatever they are). Should
 * another process publish @p name while @p fill runs, the work is lost:
 * ::MMF_EEXIST, or with ::MMF_SHM_OPEN_EXISTING that object is opened.
 * @return what mmf_shm_create() returns, ::MMF_EINVAL for a NULL @p fill,
 *   ::MMF_EFBIG when @p size does not fit the address space, or the code
 *   @p fill returned (then nothing is left behind).
 */
MMF_API int mmf_shm_create_filled(mmf_map **out, const char *name,
                                  uint64_t size, unsigned flags,
                                  mmf_shm_fill_fn fill, void *ctx);

/**
 * @brief Open an existing named object, whatever its lifetime.
 *
 * The caller needs read-write permission on the object even for
 * ::MMF_PROT_READ (the lifetime protocol locks its file); the views follow
 * @p prot.
 * @param[in] prot  ::MMF_PROT_READ (views READ or COPY) or
 *   ::MMF_PROT_READWRITE
 * @param[in] flags 0 (reserved)
 * @return 0, or ::MMF_EINVAL (NULL argument, bad name, bad prot or flags),
 *   ::MMF_ENOENT (no such object, or a transient one whose holders are all
 *   gone), ::MMF_EACCES (no permission: another user's owner-only object,
 *   or a symbolic link), ::MMF_ECORRUPT (the trailer is not mmf's or does
 *   not match the object's size), ::MMF_ENOMEM, ::MMF_EMFILE, ::MMF_EIO,
 *   ::MMF_EBADF, ::MMF_EBUSY, ::MMF_ENAMETOOLONG, ::MMF_EISDIR /
 *   ::MMF_ENOTSUP (not a regular file at the object's path), ::MMF_EOS.
 */
MMF_API int mmf_shm_open(mmf_map **out, const char *name, int prot,
                         unsigned flags);

/**
 * @brief An anonymous memory-backed mapping of @p size (> 0) bytes,
 * zero-filled, read-write: memfd_create on Linux, an unnamed pagefile
 * section on Windows. Nobody else can open it by name; it is shared only
 * by handing its handle to another process.
 * @return 0, or ::MMF_EINVAL (NULL, size 0), ::MMF_EFBIG, ::MMF_ENOMEM,
 *   ::MMF_EMFILE, ::MMF_EOS.
 */
MMF_API int mmf_shm_anonymous(mmf_map **out, uint64_t size);

/**
 * @brief Remove a named object (either lifetime). Holders keep their memory
 * until they close it; the name is free at once for a new create.
 * @return 0, or ::MMF_EINVAL (bad name), ::MMF_ENOENT (no such object),
 *   ::MMF_EACCES / ::MMF_EPERM (not permitted: another user's object --
 *   Linux's /dev/shm lets only the owner remove a file; Windows: a
 *   persistent object still mapped somewhere cannot be renamed away),
 *   ::MMF_EBADF, ::MMF_EMFILE, ::MMF_ENOMEM, ::MMF_EIO,
 *   ::MMF_ENAMETOOLONG, ::MMF_EOS.
 *   Then (also after ::MMF_ENOENT) the temporary files of creators of
 *   @p name that died half-way are swept, as by mmf_shm_create().
 */
MMF_API int mmf_shm_remove(const char *name);

/** One object as mmf_shm_list() reports it. */
typedef struct mmf_shm_info {
  char name[MMF_SHM_NAME_MAX + 1]; /**< the name given at create */
  uint64_t size;                   /**< exact size in bytes */
  unsigned lifetime;               /**< ::MMF_SHM_TRANSIENT or ::MMF_SHM_PERSISTENT */
} mmf_shm_info;

/** Called once per object; return nonzero to stop the listing (that value
 * is then what mmf_shm_list() returns). */
typedef int (*mmf_shm_list_fn)(void *ctx, const mmf_shm_info *info);

/**
 * @brief List the live named objects this user can open, in no particular
 * order. Transient objects whose holders are all gone are not listed, and
 * their files are removed, freeing their memory (as the next create or
 * open of their name would); objects that cannot be opened (another
 * user's) or whose trailer is bad are skipped. First sweeps the temporary
 * files of dead creators of every name (see mmf_shm_create()).
 * @return 0, what @p fn returned to stop, or ::MMF_EINVAL (NULL fn),
 *   ::MMF_EMFILE, ::MMF_ENOMEM, ::MMF_EIO, ::MMF_EBADF, ::MMF_EOS (the
 *   runtime directory or an object's file cannot be read: the listing stops
 *   there, rather than leave out an object it could not look at),
 *   ::MMF_EBUSY (an object stays locked by another process for over 2 s --
 *   one stopped in the middle of creating or closing it -- where a listing
 *   would otherwise wait for it for good).
 */
MMF_API int mmf_shm_list(mmf_shm_list_fn fn, void *ctx);

/**
 * @brief Put the C runtime's file descriptor @p fd (0 = stdin, 1 = stdout,
 * 2 = stderr) in binary mode, so bytes pass unchanged (Windows: `_setmode`
 * with `_O_BINARY`, otherwise CR LF / LF translation and ^Z mangle binary
 * data). Elsewhere a no-op. For tools that copy shared memory through
 * standard streams (`mmf share get`); call before the first byte moves.
 * @return 0, or ::MMF_EINVAL (fd not 0..2), ::MMF_EBADF.
 */
MMF_API int mmf_stdio_binary(int fd);

/** @} */
/* @@END SHM */

/* ------------------------------------------------------------------------ */
/* @@POINTERS: Pointers in shared memory: fixed-address views, offset pointers, hand-over tokens */
/** @name Pointers in shared memory
 * Two ways to keep linked data in a mapping that several processes (or
 * several runs) map: offset pointers, which work wherever each process
 * maps the view, and fixed-address views, which let raw pointers work
 * because every process maps the data at the same address.
 * @{ */

/**
 * @brief Map `[offset, offset + length)` of @p map so that the view's data
 * starts exactly at @p addr, never replacing anything already mapped.
 *
 * mmf maps from the allocation granularity below @p offset (see
 * mmf_view_map()), so the rule is: @p addr must be congruent to @p offset
 * modulo mmf_granularity(), i.e.
 * `(uintptr_t)addr % mmf_granularity() == offset % mmf_granularity()`
 * (a view of offset 0 needs a granularity-aligned address: 4096 on Linux,
 * 65536 on Windows). The whole range the OS maps,
 * `[addr - offset % granularity, addr + length)` rounded up to pages, must
 * be free: Linux maps with MAP_FIXED_NOREPLACE (and, where a kernel or a
 * tool like valgrind treats it as a hint, checks the address it got and
 * undoes a mapping placed elsewhere); Windows with MapViewOfFileEx.
 * Picking an address that is free in every process that needs it is the
 * caller's job (e.g. store it with the data; a later process that finds it
 * taken gets ::MMF_EADDRINUSE and can fall back to offset pointers).
 * Parameters and the other errors are those of mmf_view_map().
 * @return 0, or ::MMF_EADDRINUSE (some of the range is already mapped or
 *   reserved; the message names the address; what was there is
 *   untouched), ::MMF_EINVAL (NULL @p addr, or @p addr not congruent to
 *   @p offset as above: the message says what remainder is needed), and
 *   the errors of mmf_view_map().
 */
MMF_API int mmf_view_map_at(mmf_view **out, mmf_map *map, void *addr,
                            uint64_t offset, size_t length, unsigned access);

/**
 * An offset pointer: a self-relative, position-independent pointer to
 * keep in shared memory. It holds the distance in bytes from the field
 * itself to the target, so a structure that points into its own mapping
 * stays valid wherever each process maps it.
 *
 * Rules:
 *  - The field and its target must lie in the same view (the same
 *    contiguous mapping); an offset pointer to another mapping, or to
 *    private memory, means nothing in another process.
 *  - Set it only with mmf_relptr_set() where it lives: copying the struct
 *    to another address (memcpy, assignment) changes what it points to.
 *  - NULL is the offset 1 (::MMF_RELPTR_NULL), as in Boost.Interprocess's
 *    offset_ptr: 0 is a real pointer, to the field itself (a node whose
 *    first member points at the node), and nothing can start inside the
 *    field's own 8 bytes. A zero-filled mapping therefore holds
 *    self-pointers, not NULLs: initialise fields with mmf_relptr_set(p,
 *    NULL).
 *  - A value read from memory another process writes is untrusted: follow
 *    it with mmf_relptr_get_checked() (or ::MMF_RELPTR_GET), which checks
 *    that the whole target lies inside the view, and bound every walk (a
 *    corrupt list may be a cycle).
 */
typedef struct mmf_relptr {
  int64_t off; /**< target address minus the field's address; 1 = NULL */
} mmf_relptr;

/** The offset that means NULL. */
#define MMF_RELPTR_NULL 1

/** @brief Make @p p point at @p target (NULL gives the NULL value).
 * @p target must be in the same view as @p p and not inside @p p itself. */
static inline void mmf_relptr_set(mmf_relptr *p, const void *target) {
  p->off = target ? (int64_t)((uintptr_t)target - (uintptr_t)p)
                  : MMF_RELPTR_NULL;
}

/** @return 1 when @p p holds the NULL value, else 0. */
static inline int mmf_relptr_is_null(const mmf_relptr *p) {
  return p->off == MMF_RELPTR_NULL;
}

/** @return the target of @p p, or NULL. Unchecked: only for data this
 * process trusts (see mmf_relptr_get_checked()). */
static inline void *mmf_relptr_get(const mmf_relptr *p) {
  int64_t off = p->off;
  return off == MMF_RELPTR_NULL ? NULL
                                : (void *)((uintptr_t)p + (uintptr_t)off);
}

/**
 * @brief Follow @p p only if its whole target lies inside a region.
 *
 * The offset is read once, so a concurrent writer cannot change it between
 * the check and the result.
 * @param[in] p       the field (itself inside the region)
 * @param[in] base    start of the region, e.g. mmf_view_data()
 * @param[in] size    its length, e.g. mmf_view_size()
 * @param[in] objsize bytes the caller will access at the target
 * @param[in] align   alignment the target needs (a power of two; 0 or 1
 *   for none)
 * @return the target, or NULL when @p p is NULL or the target
 *   `[t, t + objsize)` is not inside `[base, base + size)` or misaligned.
 *   Tell the two apart with mmf_relptr_is_null().
 */
static inline void *mmf_relptr_get_checked(const mmf_relptr *p,
                                           const void *base, size_t size,
                                           size_t objsize, size_t align) {
  int64_t off = *(const volatile int64_t *)&p->off;
  uintptr_t b = (uintptr_t)base, t;
  if (off == MMF_RELPTR_NULL)
    return NULL;
  t = (uintptr_t)p + (uintptr_t)off;
  if (t < b || objsize > size || t - b > size - objsize)
    return NULL;
  if (align > 1 && (t & (align - 1)) != 0)
    return NULL;
  return (void *)t;
}

#ifdef __cplusplus
#define MMF_ALIGNOF_(T) alignof(T)
#else
#define MMF_ALIGNOF_(T) _Alignof(T)
#endif

/** mmf_relptr_get_checked() for a target of type @p T (size and alignment
 * of T), converted to `T *`. */
#define MMF_RELPTR_GET(p, T, base, size)                                       \
  ((T *)mmf_relptr_get_checked((p), (base), (size), sizeof(T),                \
                               MMF_ALIGNOF_(T)))

/** Room for any token mmf_map_token() writes, with its NUL. */
#define MMF_TOKEN_MAX 128

/**
 * @brief Hand a mapping object to a child process: make its OS handles
 * inheritable and write a short token that names them.
 *
 * The token is a string such as `mmf1:s=-1:f=5:size=65536:prot=2` (POSIX:
 * the file descriptor) or `mmf1:s=420:f=416:size=65536:prot=2` (Windows:
 * the section HANDLE and the file HANDLE, `f=-1` for a memory-backed
 * section). Pass it to a child (e.g. on its command line) started after
 * this call -- by fork+exec on POSIX, by CreateProcess with
 * bInheritHandles=TRUE on Windows -- and the child calls
 * mmf_map_from_token(). The handles are the mapping's own: the token stays
 * valid while @p map or any of its views is alive in this process, and
 * only for children started in that time.
 *
 * Security: from this call until mmf_map_token_revoke(), EVERY child
 * process started by any thread of this process with handle inheritance
 * (every exec on POSIX) receives the handles, and with them the access the
 * mapping has. Revoke as soon as the intended child has started (and
 * before mmf_map_close(): the handles stay inheritable as long as they
 * are open, which is while any view of the mapping lives).
 * @param[out] buf  the NUL-terminated token
 * @param[in]  n    size of @p buf; ::MMF_TOKEN_MAX always suffices
 * @return 0, or ::MMF_EINVAL (NULL argument, @p buf too small: nothing is
 *   changed then), ::MMF_EBADF, ::MMF_EOS.
 */
MMF_API int mmf_map_token(mmf_map *map, char *buf, size_t n);

/**
 * @brief Stop passing @p map's handles to children started from now on
 * (undoes mmf_map_token(); children already started keep theirs).
 * @return 0, or ::MMF_EINVAL (NULL), ::MMF_EBADF, ::MMF_EOS.
 */
MMF_API int mmf_map_token_revoke(mmf_map *map);

/**
 * @brief In a child process, turn a token from mmf_map_token() back into a
 * mapping object.
 *
 * The token is untrusted input and is parsed strictly. The handles it
 * names are checked (an open regular file / a file-mapping section with
 * the access the token claims, at least the token's size) and duplicated:
 * the new mapping owns its own handles, the inherited ones stay open and
 * untouched, and the call may be repeated. The result is an ordinary
 * mapping object of the token's size: views (mmf_view_map(),
 * mmf_view_map_at()) work as on the parent's; mmf_map_read(),
 * mmf_map_write() and mmf_map_sync() work when the token names a file
 * (always on POSIX; on Windows not for a memory-backed section, `f=-1`,
 * where they fail with ::MMF_EBADF).
 * @param[in] prot what this process wants: READ or WRITECOPY with any
 *   token; READWRITE only with a READWRITE token; EXEC only with an EXEC
 *   token.
 * @return 0, or ::MMF_EINVAL (NULL argument, unknown @p prot, malformed
 *   token), ::MMF_EPROT (@p prot asks for more than the token grants),
 *   ::MMF_EBADF (a handle the token names is not an open file / section
 *   of this process, or lacks the access the token claims),
 *   ::MMF_ERANGE (the file or section is smaller than the token's size),
 *   ::MMF_ENOTSUP (not a regular file), ::MMF_EISDIR, ::MMF_EMFILE,
 *   ::MMF_ENOMEM, ::MMF_EIO, ::MMF_EOS.
 */
MMF_API int mmf_map_from_token(mmf_map **out, const char *token, int prot);

/** @} */
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
 *   next check of the write position (below) reports the inconsistency:
 *   checking it at once would cost a cache miss per message. Garbage in a record's commit word makes the
 *   channel look empty from there on. A garbage write position on an
 *   empty channel is reported on the receiver's first empty poll and then
 *   within every 64: reading it on every poll would cost the busy-poll
 *   round trip a cache miss; nothing is ever read through it.)
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
 *   mmf_chan_max_msg(): never fits), ::MMF_ECORRUPT, ::MMF_EINVAL, or
 *   ::MMF_EWAKE: the message was sent, but waking a sleeping receiver
 *   failed (it wakes at its timeout, or at the next message).
 */
MMF_API int mmf_chan_try_send(mmf_chan *chan, const void *msg, size_t len);

/**
 * @brief Send, waiting for room at most @p timeout_ms milliseconds
 * (::MMF_CHAN_FOREVER: no limit).
 * @return as mmf_chan_try_send(), with ::MMF_ETIMEDOUT instead of
 *   ::MMF_EAGAIN; or ::MMF_EOS: the OS's wait failed, nothing was sent.
 */
MMF_API int mmf_chan_send(mmf_chan *chan, const void *msg, size_t len,
                          int timeout_ms);

/**
 * @brief Receive the next message into `buf[0..cap)` if there is one;
 * *len gets its length.
 * @return 0, ::MMF_EAGAIN (empty now), ::MMF_EMSGSIZE (*len is set to the
 *   length needed; the message stays queued), ::MMF_ECORRUPT (the shared
 *   state is out of bounds or inconsistent), ::MMF_EINVAL, or
 *   ::MMF_EWAKE: the message was received (it is in @p buf and *len is
 *   set), but waking a sleeping sender failed.
 */
MMF_API int mmf_chan_try_recv(mmf_chan *chan, void *buf, size_t cap,
                              size_t *len);

/**
 * @brief Receive, waiting for a message at most @p timeout_ms milliseconds
 * (::MMF_CHAN_FOREVER: no limit).
 * @return as mmf_chan_try_recv(), with ::MMF_ETIMEDOUT instead of
 *   ::MMF_EAGAIN; or ::MMF_EOS: the OS's wait failed, nothing was
 *   received.
 */
MMF_API int mmf_chan_recv(mmf_chan *chan, void *buf, size_t cap, size_t *len,
                          int timeout_ms);

/** @} */
/* @@END CHANNEL */

/* ------------------------------------------------------------------------ */
/* @@SECTION: Shared sections and instance counting (src/section.c) */
/** @name Shared sections
 * The classic `#pragma data_seg(".shared")` + `/SECTION:.shared,RWS` block:
 * data every running instance of a program shares, and a count of running
 * instances that stays right when an instance is killed (`kill -9`,
 * TerminateProcess), where the classic shared counter is off by one forever.
 *
 * A section is a small file of the user's:
 * `/dev/shm/mmf-section.u<uid>.<key>` on Linux (uid: the effective user
 * id), `%TEMP%\mmf\mmf-section.<key>` on Windows, created owner-only (0600 / a DACL for the current user) and
 * never through a symbolic link. So sections are per user on both OSes:
 * another user running the same program has sections of its own. It holds a
 * 64-byte header and the user's block; every instance maps it read-write,
 * so a store by one instance is seen at once by all.
 *
 * Liveness is not a counter. Each instance holds an exclusive byte-range
 * lock on its own "slot" byte of the file (far past its end, so it costs
 * no space); the OS drops the lock when the instance closes the section or
 * dies in any way. The number of instances is the number of held slots.
 * Joining, counting and (re)initialising are serialised by another lock
 * byte. The first instance to join when no slot is held (every earlier
 * instance gone, cleanly or not) starts the block zeroed: like the classic
 * shared section, the block lives while at least one instance runs, and
 * it starts clean after a crash.
 *
 * The file is left in place when the last instance leaves (it is as small
 * as the block; the next first instance reinitialises it). Remove it with
 * mmf_section_path() and the OS when no instance runs.
 *
 * A section object is not thread-safe: use one per thread, or guard it.
 * On Linux a child made by fork() without exec shares its parent's open
 * file and so its slot (the files are close-on-exec) -- and its lock: the
 * lock belongs to the open file, so parent and child do not exclude each
 * other (one's mmf_section_trylock() may even take it over from the other
 * as from a dead holder, ::MMF_EOWNERDEAD). A child that needs them opens
 * the section itself. On Windows the default
 * key follows the path the executable was started from: started through
 * another spelling of its path (case, a link) it gets another key; pass a
 * key when that matters.
 * @{ */

/** A joined section (opaque). */
typedef struct mmf_section mmf_section;

/** Longest key mmf_section_open() accepts, in bytes. */
#define MMF_SECTION_KEY_MAX 100
/** Largest user block, in bytes (1 GiB). */
#define MMF_SECTION_MAX_SIZE ((size_t)1 << 30)
/** Most instances that can join one section at the same time. */
#define MMF_SECTION_MAX_INSTANCES 4096u

/**
 * @brief The default key of this program: its executable's base name
 * (characters outside `[A-Za-z0-9._-]` replaced by `_`, cut to 40 bytes),
 * `-`, and 16 hex digits of a 64-bit FNV-1a hash of the executable's full
 * path -- so two copies of one program at different paths do not share.
 * @param[out] buf receives the NUL-terminated key
 * @param[in]  n   size of @p buf (::MMF_SECTION_KEY_MAX + 1 always fits)
 * @return 0, or ::MMF_EINVAL (NULL buf), ::MMF_ENAMETOOLONG (buf too small,
 *   or an executable path longer than 4095 bytes), ::MMF_EACCES, ::MMF_EOS
 *   (the OS would not say).
 */
MMF_API int mmf_section_default_key(char *buf, size_t n);

/**
 * @brief Join a shared section: map its block and count this process as a
 * running instance until mmf_section_close() (or until it dies).
 *
 * @param[out] out   the joined section; NULL on error
 * @param[in]  key   `[A-Za-z0-9._-]`, 1 to ::MMF_SECTION_KEY_MAX bytes,
 *   not ending with '.' (Windows drops it); on Windows keys that differ
 *   only in case are one section, on Linux two;
 *   NULL means this program's key (mmf_section_default_key()).
 * @param[in]  size  bytes of the shared block (at most
 *   ::MMF_SECTION_MAX_SIZE). 0 means "whatever size the running instances
 *   use" -- when this is the first instance, the size the file was last
 *   initialised with if it is well-formed, else an empty block (still
 *   zeroed): for tools that only count instances.
 * @param[in]  flags 0 (reserved).
 *
 * When other instances are running, their header is checked (the file is
 * writable by every instance, so it is untrusted) and @p size must equal
 * theirs. When none is running, the file is (re)initialised with @p size and
 * a zeroed block, whatever it held before.
 * @return 0, or
 *   ::MMF_EINVAL (NULL out, bad key, unknown flags, size above the maximum,
 *   or a size different from the running instances' -- the message gives
 *   both),
 *   ::MMF_ECORRUPT (running instances' file has a bad header or size),
 *   ::MMF_EBUSY (::MMF_SECTION_MAX_INSTANCES instances already joined),
 *   ::MMF_EACCES (the file is another user's, or a symbolic link),
 *   ::MMF_EISDIR / ::MMF_ENOTSUP (a directory or something other than a
 *   regular file at the section's path),
 *   ::MMF_ENAMETOOLONG, ::MMF_ENOSPC, ::MMF_EMFILE, ::MMF_ENOMEM, ::MMF_EIO,
 *   ::MMF_ENOENT, ::MMF_EBADF, ::MMF_EOS. A failed open leaves no slot held, nothing
 *   mapped and nothing open; the section's file, when this call made it,
 *   may stay (empty or without a header: the next open initialises it).
 */
MMF_API int mmf_section_open(mmf_section **out, const char *key, size_t size,
                             unsigned flags);

/** @return the shared block (NULL for an empty block or a NULL section).
 * Aligned to 64 bytes. Other instances write it: treat what you read as
 * untrusted, and update it under mmf_section_lock(). */
MMF_API void *mmf_section_data(const mmf_section *s);

/** @return the size of the shared block in bytes (0 for NULL). */
MMF_API size_t mmf_section_size(const mmf_section *s);

/** @return the section's key (NULL for NULL). */
MMF_API const char *mmf_section_key(const mmf_section *s);

/** @return the path of the section's file (NULL for NULL). */
MMF_API const char *mmf_section_path(const mmf_section *s);

/** @return 1 when this open found no other running instance and so started
 * the block zeroed, 0 otherwise. */
MMF_API int mmf_section_first(const mmf_section *s);

/**
 * @brief Count the running instances of the section, this one included.
 * Exact at the moment of the call: an instance that was killed is no
 * longer counted once it has died.
 * @return 0, or ::MMF_EINVAL (NULL argument), ::MMF_EOS / ::MMF_ENOMEM
 *   (the OS's lock calls failed).
 */
MMF_API int mmf_section_instances(mmf_section *s, unsigned *count);

/**
 * @brief Take the section's cross-process lock, waiting for it. Guards
 * updates of the shared block between instances (processes, or separate
 * section objects). A holder that dies releases it (the OS drops its
 * lock).
 * @return 0; or ::MMF_EOWNERDEAD: the lock is now held by the caller, but
 *   the previous holder died holding it, so the block may be half-updated:
 *   repair it, then mmf_section_unlock() marks it consistent again. Or
 *   ::MMF_EINVAL (NULL, or already held by this object), ::MMF_ENOMEM,
 *   ::MMF_EOS (the OS's lock call failed; the lock is not held).
 */
MMF_API int mmf_section_lock(mmf_section *s);

/** @brief As mmf_section_lock() without waiting: ::MMF_EBUSY when another
 * instance (or another section object) holds the lock; otherwise the same
 * results. */
MMF_API int mmf_section_trylock(mmf_section *s);

/** @brief Release the lock taken by mmf_section_lock() or trylock.
 * @return 0, or ::MMF_EINVAL (NULL, or not held by this object),
 *   ::MMF_ENOMEM, ::MMF_EOS (the OS's unlock call failed: the lock is still
 *   held; call again).
 */
MMF_API int mmf_section_unlock(mmf_section *s);

/**
 * @brief Leave the section: unmap the block and give up this instance's
 * slot (and the lock, if held). NULL is a no-op. The file stays.
 * @return 0, or the error of unmapping or closing (the section is freed and
 *   left anyway).
 */
MMF_API int mmf_section_close(mmf_section *s);

/** @} */
/* @@END SECTION */

#ifdef __cplusplus
}
#endif
#endif /* MMF_H */
