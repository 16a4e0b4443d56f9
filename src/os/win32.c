/* src/os/win32.c -- the src/os.h contract with the Win32 API. The only file
 * of mmf that includes windows.h. Built with mingw-w64, tested under Wine
 * and on Windows. */
#ifndef _WIN32_WINNT
#define _WIN32_WINNT 0x0A00 /* PrefetchVirtualMemory, FileAllocationInfo */
#endif
#define WIN32_LEAN_AND_MEAN
#include "../internal.h"

#include <windows.h>
#include <psapi.h>
#include <sddl.h>
#include <shellapi.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- errors --------------------------------------------------------------*/

static int win32_code(DWORD err) {
  switch (err) {
  case ERROR_FILE_NOT_FOUND:
  case ERROR_PATH_NOT_FOUND:
  case ERROR_INVALID_NAME:
  case ERROR_BAD_NETPATH:
    return MMF_ENOENT;
  case ERROR_FILE_EXISTS:
  case ERROR_ALREADY_EXISTS:
    return MMF_EEXIST;
  case ERROR_ACCESS_DENIED:
  case ERROR_SHARING_VIOLATION:
  case ERROR_WRITE_PROTECT:
    return MMF_EACCES;
  case ERROR_PRIVILEGE_NOT_HELD:
    return MMF_EPERM;
  case ERROR_DIRECTORY:
    return MMF_EISDIR;
  case ERROR_NOT_ENOUGH_MEMORY:
  case ERROR_OUTOFMEMORY:
  case ERROR_COMMITMENT_LIMIT:
  case ERROR_WORKING_SET_QUOTA:
    return MMF_ENOMEM;
  case ERROR_DISK_FULL:
  case ERROR_HANDLE_DISK_FULL:
    return MMF_ENOSPC;
  case ERROR_CRC:
  case ERROR_IO_DEVICE:
  case ERROR_READ_FAULT:
  case ERROR_WRITE_FAULT:
    return MMF_EIO;
  case ERROR_INVALID_PARAMETER:
  case ERROR_INVALID_ADDRESS:
  case ERROR_MAPPED_ALIGNMENT:
    return MMF_EINVAL;
  case ERROR_FILE_INVALID: /* mapping an empty file */
    return MMF_EEMPTY;
  case ERROR_INVALID_HANDLE:
    return MMF_EBADF;
  case ERROR_NOT_SUPPORTED:
  case ERROR_CALL_NOT_IMPLEMENTED:
    return MMF_ENOTSUP;
  case ERROR_USER_MAPPED_FILE: /* shrinking a mapped file */
  case ERROR_LOCK_VIOLATION:
  case ERROR_BUSY:
    return MMF_EBUSY;
  case ERROR_FILENAME_EXCED_RANGE:
    return MMF_ENAMETOOLONG;
  case ERROR_TOO_MANY_OPEN_FILES:
    return MMF_EMFILE;
  case ERROR_FILE_TOO_LARGE:
    return MMF_EFBIG;
  default:
    return MMF_EOS;
  }
}

/* Record GetLastError()-style `err` for `call` (on `path`, may be NULL). */
static int win32_fail(DWORD err, const char *call, const char *path) {
  char text[256];
  DWORD n = FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM |
                               FORMAT_MESSAGE_IGNORE_INSERTS,
                           NULL, err, 0, text, sizeof text, NULL);
  while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r' ||
                   text[n - 1] == ' ' || text[n - 1] == '.'))
    text[--n] = '\0';
  if (n == 0)
    snprintf(text, sizeof text, "Windows error %lu", (unsigned long)err);
  if (path)
    return mmf__error_os(win32_code(err), (int)err, "%s \"%s\": %s", call,
                         path, text);
  return mmf__error_os(win32_code(err), (int)err, "%s: %s", call, text);
}

/* Fault injection: true when the armed fault hits this call, with the last
 * error set as a real failure would set it. */
#define FAULT(call, err)                                                       \
  (mmf__fault_check(call) ? (SetLastError(err), 1) : 0)

static HANDLE as_handle(mmf_os_file f) { return (HANDLE)f; }

/* 1 when the handle was opened with write access: a zero-byte write is
 * refused by a handle without it and changes nothing otherwise. */
/* A zero-byte WriteFile / ReadFile at offset 0 checks the access only --
 * but on a synchronous handle it also moves the file pointer to 0, and
 * the handle may be the caller's (mmf_map_from_native): put it back. */
static int handle_can(HANDLE h, int write) {
  LARGE_INTEGER zero, at;
  OVERLAPPED ov;
  DWORD n;
  char c = 0;
  int ok, kept;
  zero.QuadPart = 0;
  kept = SetFilePointerEx(h, zero, &at, FILE_CURRENT) != 0;
  memset(&ov, 0, sizeof ov);
  ok = write ? WriteFile(h, &c, 0, &n, &ov) != 0
             : ReadFile(h, &c, 0, &n, &ov) != 0;
  if (kept)
    (void)SetFilePointerEx(h, at, NULL, FILE_BEGIN);
  return ok;
}

static int handle_writable(HANDLE h) { return handle_can(h, 1); }
static int handle_readable(HANDLE h) { return handle_can(h, 0); }

/* UTF-8 -> UTF-16 for the W APIs; the result is malloc'ed. */
static int win32_wide(const char *path, wchar_t **out) {
  int n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, path, -1, NULL, 0);
  wchar_t *w;
  *out = NULL;
  if (n <= 0)
    return win32_fail(GetLastError(), "MultiByteToWideChar", path);
  w = malloc((size_t)n * sizeof *w);
  if (!w)
    return mmf__error(MMF_ENOMEM, "path \"%s\": out of memory", path);
  MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, path, -1, w, n);
  *out = w;
  return 0;
}

/* A UTF-8 path as the W file APIs take it: UTF-16; a name component longer
 * than any file system allows (255) is MMF_ENAMETOOLONG, as on POSIX,
 * rather than whatever CreateFileW makes of it; a path beyond MAX_PATH
 * gets the \\?\ prefix so long paths work as they do on POSIX. */
static int win32_path(const char *path, wchar_t **out) {
  wchar_t *w, *full, *p;
  size_t run = 0;
  DWORD n;
  int rc = win32_wide(path, &w);
  if (rc)
    return rc;
  for (p = w; *p; p++) {
    run = (*p == L'/' || *p == L'\\') ? 0 : run + 1;
    if (run > 255) {
      free(w);
      return win32_fail(ERROR_FILENAME_EXCED_RANGE, "CreateFileW", path);
    }
  }
  if (wcslen(w) < MAX_PATH - 12 || wcsncmp(w, L"\\\\?\\", 4) == 0) {
    *out = w;
    return 0;
  }
  n = GetFullPathNameW(w, 0, NULL, NULL);
  full = n ? malloc(((size_t)n + 8) * sizeof *full) : NULL;
  if (!full) {
    free(w);
    return n ? mmf__error(MMF_ENOMEM, "path \"%s\": out of memory", path)
             : win32_fail(GetLastError(), "GetFullPathNameW", path);
  }
  if (wcsncmp(w, L"\\\\", 2) == 0 || wcsncmp(w, L"//", 2) == 0) {
    /* "\\server\share" -> "\\?\UNC\server\share" */
    wcscpy(full, L"\\\\?\\UN");
    GetFullPathNameW(w, n, full + 6, NULL);
    full[6] = L'C';
  } else {
    wcscpy(full, L"\\\\?\\");
    GetFullPathNameW(w, n, full + 4, NULL);
  }
  free(w);
  *out = full;
  return 0;
}

/* ---- system facts --------------------------------------------------------*/

int mmf__os_args_utf8(int *argc, char ***argv) {
  int n, i;
  size_t bytes = 0;
  char **out, *p;
  wchar_t **wargv = CommandLineToArgvW(GetCommandLineW(), &n);
  if (!wargv)
    return win32_fail(GetLastError(), "CommandLineToArgvW", NULL);
  for (i = 0; i < n; i++)
    bytes += (size_t)WideCharToMultiByte(CP_UTF8, 0, wargv[i], -1, NULL, 0,
                                         NULL, NULL);
  /* One block: the pointer array, then the strings. Lives until exit. */
  out = malloc((size_t)(n + 1) * sizeof *out + bytes);
  if (!out) {
    LocalFree(wargv);
    return mmf__error(MMF_ENOMEM, "command line: out of memory");
  }
  p = (char *)(out + n + 1);
  for (i = 0; i < n; i++) {
    int len = WideCharToMultiByte(CP_UTF8, 0, wargv[i], -1, p, (int)bytes,
                                  NULL, NULL);
    out[i] = p;
    p += len;
    bytes -= (size_t)len;
  }
  out[n] = NULL;
  LocalFree(wargv);
  *argc = n;
  *argv = out;
  return 0;
}

void mmf__os_sysinfo(size_t *page_size, size_t *granularity) {
  static size_t page, gran;
  if (page == 0) {
    SYSTEM_INFO si;
    GetSystemInfo(&si);
    gran = si.dwAllocationGranularity ? si.dwAllocationGranularity : 65536;
    page = si.dwPageSize ? si.dwPageSize : 4096;
  }
  if (page_size)
    *page_size = page;
  if (granularity)
    *granularity = gran;
}

uint64_t mmf__os_minor_faults(void) {
  /* Windows counts soft and hard faults together, per process. */
  PROCESS_MEMORY_COUNTERS pmc;
  if (!GetProcessMemoryInfo(GetCurrentProcess(), &pmc, sizeof pmc))
    return 0;
  return pmc.PageFaultCount;
}

/* ---- files ---------------------------------------------------------------*/

static int is_directory(const wchar_t *wpath) {
  DWORD a = GetFileAttributesW(wpath);
  return a != INVALID_FILE_ATTRIBUTES && (a & FILE_ATTRIBUTE_DIRECTORY);
}

/* Security attributes whose DACL grants GENERIC_ALL to the current user
 * and nobody else (protected: nothing inherited from the parent). On
 * success sa->lpSecurityDescriptor must be freed with LocalFree. Used for
 * every object mmf creates "owner-only": files, named mappings, mutexes and
 * events. */
static int win32_owner_only_sa(SECURITY_ATTRIBUTES *sa, const char *what) {
  HANDLE token = NULL;
  union {
    TOKEN_USER user;
    char raw[256];
  } info;
  DWORD got = 0;
  wchar_t *sid = NULL, sddl[320];
  PSECURITY_DESCRIPTOR sd = NULL;
  int rc = 0;

  memset(sa, 0, sizeof *sa);
  sa->nLength = sizeof *sa;
  if (FAULT("OpenProcessToken", ERROR_ACCESS_DENIED) ||
      !OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &token))
    return win32_fail(GetLastError(), "OpenProcessToken", what);
  if (FAULT("GetTokenInformation", ERROR_INSUFFICIENT_BUFFER) ||
      !GetTokenInformation(token, TokenUser, &info, sizeof info, &got))
    rc = win32_fail(GetLastError(), "GetTokenInformation", what);
  else if (!ConvertSidToStringSidW(info.user.User.Sid, &sid))
    rc = win32_fail(GetLastError(), "ConvertSidToStringSidW", what);
  CloseHandle(token);
  if (rc)
    return rc;
  _snwprintf(sddl, sizeof sddl / sizeof sddl[0], L"D:P(A;;GA;;;%ls)", sid);
  sddl[sizeof sddl / sizeof sddl[0] - 1] = L'\0';
  LocalFree(sid);
  if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(
          sddl, SDDL_REVISION_1, &sd, NULL))
    return win32_fail(GetLastError(),
                      "ConvertStringSecurityDescriptorToSecurityDescriptorW",
                      what);
  sa->lpSecurityDescriptor = sd;
  return 0;
}

int mmf__os_open(const char *path, unsigned flags, mmf_os_file *out,
                 int *created) {
  DWORD access = GENERIC_READ;
  DWORD share = FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE;
  DWORD attrs = FILE_ATTRIBUTE_NORMAL;
  HANDLE h = INVALID_HANDLE_VALUE;
  SECURITY_ATTRIBUTES sa, *psa = NULL;
  wchar_t *wpath;
  int rc;

  *out = MMF_OS_FILE_INVALID;
  *created = 0;
  rc = win32_path(path, &wpath);
  if (rc)
    return rc;
  if (flags & MMF__OS_WRITE)
    access |= GENERIC_WRITE;
  if (flags & MMF__OS_EXEC)
    access |= GENERIC_EXECUTE;
  if (flags & MMF__OS_WRITE_THROUGH)
    attrs |= FILE_FLAG_WRITE_THROUGH;
  if (flags & MMF__OS_NOFOLLOW)
    attrs |= FILE_FLAG_OPEN_REPARSE_POINT; /* open a link, never its target */
  if (is_directory(wpath)) {
    free(wpath);
    return win32_fail(ERROR_DIRECTORY, "CreateFileW", path);
  }
  if (flags & MMF__OS_OWNER_ONLY) {
    rc = win32_owner_only_sa(&sa, path);
    if (rc) {
      free(wpath);
      return rc;
    }
    psa = &sa;
  }

  if (flags & MMF__OS_CREATE) {
    /* Exclusive create first, so we know whether this call made the file. */
    if (!FAULT("CreateFileW", ERROR_DISK_FULL))
      h = CreateFileW(wpath, access, share, psa, CREATE_NEW, attrs, NULL);
    if (h != INVALID_HANDLE_VALUE)
      *created = 1;
    else if (GetLastError() != ERROR_FILE_EXISTS || (flags & MMF__OS_EXCL)) {
      rc = win32_fail(GetLastError(), "CreateFileW", path);
      goto out;
    }
  }
  if (h == INVALID_HANDLE_VALUE) {
    DWORD disp = (flags & MMF__OS_TRUNC) ? TRUNCATE_EXISTING : OPEN_EXISTING;
    if (!FAULT("CreateFileW", ERROR_ACCESS_DENIED))
      h = CreateFileW(wpath, access, share, NULL, disp, attrs, NULL);
    if (h == INVALID_HANDLE_VALUE) {
      rc = win32_fail(GetLastError(), "CreateFileW", path);
      goto out;
    }
  }
  if (GetFileType(h) != FILE_TYPE_DISK) {
    CloseHandle(h);
    rc = mmf__error(MMF_ENOTSUP, "CreateFileW \"%s\": not a disk file (a "
                                 "pipe or device cannot be mapped)", path);
    goto out;
  }
  if (flags & MMF__OS_NOFOLLOW) {
    BY_HANDLE_FILE_INFORMATION bhfi;
    if (GetFileInformationByHandle(h, &bhfi) &&
        (bhfi.dwFileAttributes & FILE_ATTRIBUTE_REPARSE_POINT)) {
      CloseHandle(h);
      rc = mmf__error_os(MMF_EACCES, ERROR_CANT_ACCESS_FILE,
                         "CreateFileW \"%s\": is a symbolic link or "
                         "reparse point (refused)", path);
      goto out;
    }
  }
  *out = (mmf_os_file)h;
out:
  if (psa)
    LocalFree(sa.lpSecurityDescriptor);
  free(wpath);
  return rc;
}

int mmf__os_remove(const char *path) {
  wchar_t *wpath;
  int rc = win32_path(path, &wpath);
  if (rc)
    return rc;
  if (FAULT("DeleteFileW", ERROR_ACCESS_DENIED) || !DeleteFileW(wpath))
    rc = win32_fail(GetLastError(), "DeleteFileW", path);
  free(wpath);
  return rc;
}

int mmf__os_dup(intptr_t native, mmf_os_file *out, int *writable) {
  HANDLE src = (HANDLE)native, h;
  BY_HANDLE_FILE_INFORMATION info;

  *out = MMF_OS_FILE_INVALID;
  if (src == NULL || src == INVALID_HANDLE_VALUE)
    return win32_fail(ERROR_INVALID_HANDLE, "DuplicateHandle", NULL);
  if (FAULT("GetFileInformationByHandle", ERROR_INVALID_HANDLE) ||
      !GetFileInformationByHandle(src, &info))
    return win32_fail(GetLastError(), "GetFileInformationByHandle", NULL);
  if (info.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY)
    return win32_fail(ERROR_DIRECTORY, "GetFileInformationByHandle", NULL);
  if (GetFileType(src) != FILE_TYPE_DISK)
    return mmf__error(MMF_ENOTSUP, "GetFileType: not a disk file (a pipe or "
                                   "device cannot be mapped)");
  if (!handle_readable(src)) /* as POSIX says of an O_WRONLY descriptor */
    return mmf__error_os(MMF_EBADF, ERROR_ACCESS_DENIED,
                         "the file handle is write-only: a mapping needs "
                         "read access");
  if (FAULT("DuplicateHandle", ERROR_NOT_ENOUGH_MEMORY) ||
      !DuplicateHandle(GetCurrentProcess(), src, GetCurrentProcess(), &h, 0,
                       FALSE, DUPLICATE_SAME_ACCESS))
    return win32_fail(GetLastError(), "DuplicateHandle", NULL);
  *writable = handle_writable(h);
  *out = (mmf_os_file)h;
  return 0;
}

int mmf__os_close(mmf_os_file f) {
  int injected = FAULT("CloseHandle", ERROR_IO_DEVICE);
  DWORD err = ERROR_IO_DEVICE;
  /* An injected failure still closes, as a real failing close releases the
   * handle too: the test sees the library's error path, not a leak. */
  if (!CloseHandle(as_handle(f)))
    err = GetLastError();
  else if (!injected)
    return 0;
  return win32_fail(err, "CloseHandle", NULL);
}

int mmf__os_file_size(mmf_os_file f, uint64_t *size) {
  LARGE_INTEGER li;
  if (FAULT("GetFileSizeEx", ERROR_IO_DEVICE) ||
      !GetFileSizeEx(as_handle(f), &li))
    return win32_fail(GetLastError(), "GetFileSizeEx", NULL);
  *size = (uint64_t)li.QuadPart;
  return 0;
}

static int set_eof(HANDLE h, uint64_t size) {
  FILE_END_OF_FILE_INFO eof;
  eof.EndOfFile.QuadPart = (LONGLONG)size;
  if (FAULT("SetFileInformationByHandle", ERROR_DISK_FULL) ||
      !SetFileInformationByHandle(h, FileEndOfFileInfo, &eof, sizeof eof)) {
    DWORD err = GetLastError();
    /* Moving the end of file allocates no memory: "not enough memory" is
     * how Wine passes on the file system's EFBIG (ftruncate past its
     * largest file gives STATUS_SECTION_TOO_BIG). */
    if (err == ERROR_NOT_ENOUGH_MEMORY)
      return mmf__error_os(MMF_EFBIG, (int)err,
                           "SetFileInformationByHandle(EndOfFile): %llu bytes "
                           "is larger than the file system allows",
                           (unsigned long long)size);
    return win32_fail(err, "SetFileInformationByHandle(EndOfFile)", NULL);
  }
  return 0;
}

/* Where the file system cannot reserve clusters up front (FileAllocationInfo
 * is unimplemented under Wine), write one zero byte per 4 KiB block of the
 * new part, as SQLite does, so the blocks are real before any view store. */
static int touch_blocks(HANDLE h, uint64_t from, uint64_t to) {
  uint64_t off;
  for (off = from; off < to; off = (off | 4095) + 1) {
    uint64_t last = (off | 4095) < to - 1 ? (off | 4095) : to - 1;
    OVERLAPPED ov;
    DWORD n;
    memset(&ov, 0, sizeof ov);
    ov.Offset = (DWORD)last;
    ov.OffsetHigh = (DWORD)(last >> 32);
    if (FAULT("WriteFile", ERROR_DISK_FULL) || !WriteFile(h, "", 1, &n, &ov))
      return win32_fail(GetLastError(), "WriteFile(reserve)", NULL);
  }
  return 0;
}

int mmf__os_file_extend(mmf_os_file f, uint64_t old, uint64_t size) {
  HANDLE h = as_handle(f);
  FILE_ALLOCATION_INFO alloc;
  DWORD err = 0;
  int rc;

  if (size > (uint64_t)INT64_MAX)
    return win32_fail(ERROR_FILE_TOO_LARGE, "SetFileInformationByHandle",
                      NULL);
  /* Reserve the clusters first (a full disk fails here, not at a store
   * through a view), then move the end of file. */
  alloc.AllocationSize.QuadPart = (LONGLONG)size;
  if (FAULT("SetFileInformationByHandle", ERROR_DISK_FULL) ||
      !SetFileInformationByHandle(h, FileAllocationInfo, &alloc,
                                  sizeof alloc)) {
    err = GetLastError();
    if (err != ERROR_CALL_NOT_IMPLEMENTED && err != ERROR_NOT_SUPPORTED &&
        err != ERROR_INVALID_PARAMETER)
      return win32_fail(err, "SetFileInformationByHandle(Allocation)", NULL);
  }
  rc = set_eof(h, size);
  if (!rc && err)
    rc = touch_blocks(h, old, size);
  if (rc) {
    /* Undo: nothing of the extension is left behind. */
    (void)set_eof(h, old);
    return rc;
  }
  return 0;
}

int mmf__os_file_truncate(mmf_os_file f, uint64_t size) {
  return set_eof(as_handle(f), size);
}

int mmf__os_file_sync(mmf_os_file f) {
  /* FlushFileBuffers needs a handle with write access; a read-only one
   * has written nothing to flush (fdatasync of a read-only descriptor
   * succeeds too), so ERROR_ACCESS_DENIED there is success. */
  if (FAULT("FlushFileBuffers", ERROR_IO_DEVICE) ||
      !FlushFileBuffers(as_handle(f))) {
    DWORD err = GetLastError();
    if (err == ERROR_ACCESS_DENIED && !handle_writable(as_handle(f)))
      return 0;
    return win32_fail(err, "FlushFileBuffers", NULL);
  }
  return 0;
}

/* Positional I/O: an OVERLAPPED offset on a synchronous handle reads or
 * writes there without depending on a shared file position. */
static OVERLAPPED at(uint64_t off) {
  OVERLAPPED ov;
  memset(&ov, 0, sizeof ov);
  ov.Offset = (DWORD)off;
  ov.OffsetHigh = (DWORD)(off >> 32);
  return ov;
}

#define IO_CHUNK ((size_t)1 << 30)

int mmf__os_read(mmf_os_file f, uint64_t off, void *buf, size_t len,
                 size_t *done) {
  size_t got = 0;
  while (got < len) {
    DWORD want = (DWORD)(len - got < IO_CHUNK ? len - got : IO_CHUNK), n = 0;
    OVERLAPPED ov = at(off + got);
    if (FAULT("ReadFile", ERROR_IO_DEVICE) ||
        !ReadFile(as_handle(f), (char *)buf + got, want, &n, &ov)) {
      DWORD err = GetLastError();
      if (err == ERROR_HANDLE_EOF)
        break;
      *done = got;
      return win32_fail(err, "ReadFile", NULL);
    }
    if (n == 0)
      break;
    got += n;
  }
  *done = got;
  return 0;
}

int mmf__os_write(mmf_os_file f, uint64_t off, const void *buf, size_t len) {
  size_t put = 0;
  while (put < len) {
    DWORD want = (DWORD)(len - put < IO_CHUNK ? len - put : IO_CHUNK), n = 0;
    OVERLAPPED ov = at(off + put);
    if (FAULT("WriteFile", ERROR_DISK_FULL) ||
        !WriteFile(as_handle(f), (const char *)buf + put, want, &n, &ov))
      return win32_fail(GetLastError(), "WriteFile", NULL);
    put += n;
  }
  return 0;
}

/* ---- sections and views --------------------------------------------------*/

int mmf__os_section_open(mmf_os_file f, unsigned prot, uint64_t size,
                         mmf_os_section *out) {
  DWORD page;
  HANDLE s;
  int exec = (prot & MMF__OS_PROT_EXEC) != 0;
  if (prot & MMF__OS_PROT_WRITE)
    page = exec ? PAGE_EXECUTE_READWRITE : PAGE_READWRITE;
  else if (prot & MMF__OS_PROT_COPY)
    page = exec ? PAGE_EXECUTE_WRITECOPY : PAGE_WRITECOPY;
  else
    page = exec ? PAGE_EXECUTE_READ : PAGE_READONLY;
  if (FAULT("CreateFileMappingW", ERROR_NOT_ENOUGH_MEMORY))
    s = NULL;
  else
    s = CreateFileMappingW(as_handle(f), NULL, page, (DWORD)(size >> 32),
                           (DWORD)size, NULL);
  if (s == NULL)
    return win32_fail(GetLastError(), "CreateFileMappingW", NULL);
  out->file = f;
  out->handle = (intptr_t)s;
  return 0;
}

void mmf__os_section_close(mmf_os_section *s) {
  if (s->handle != 0 && s->handle != -1)
    CloseHandle((HANDLE)s->handle);
  s->handle = -1;
}

static int prefetch(void *addr, size_t len) {
  WIN32_MEMORY_RANGE_ENTRY r;
  r.VirtualAddress = addr;
  r.NumberOfBytes = len;
  if (FAULT("PrefetchVirtualMemory", ERROR_NOT_ENOUGH_MEMORY) ||
      !PrefetchVirtualMemory(GetCurrentProcess(), 1, &r, 0))
    return win32_fail(GetLastError(), "PrefetchVirtualMemory", NULL);
  return 0;
}

/* FILE_MAP_* access for MMF__OS_PROT_* (views and token probes). */
static DWORD view_access(unsigned prot) {
  DWORD access = (prot & MMF__OS_PROT_WRITE)  ? FILE_MAP_WRITE
                 : (prot & MMF__OS_PROT_COPY) ? FILE_MAP_COPY
                                              : FILE_MAP_READ;
  if (prot & MMF__OS_PROT_EXEC)
    access |= FILE_MAP_EXECUTE;
  return access;
}

int mmf__os_map(const mmf_os_section *s, uint64_t off, size_t len,
                unsigned prot, unsigned opts, void *at, void **out) {
  const char *call = at ? "MapViewOfFileEx" : "MapViewOfFile";
  void *p;
  DWORD err;
  /* MapViewOfFileEx never replaces anything: a base address in use fails
   * with ERROR_INVALID_ADDRESS. */
  if (FAULT(call, ERROR_NOT_ENOUGH_MEMORY))
    p = NULL;
  else
    p = MapViewOfFileEx((HANDLE)s->handle, view_access(prot),
                        (DWORD)(off >> 32), (DWORD)off, len, at);
  if (p == NULL) {
    err = GetLastError();
    if (at && err == ERROR_INVALID_ADDRESS)
      return mmf__error_os(MMF_EADDRINUSE, (int)err,
                           "MapViewOfFileEx at %p (%zu bytes): the address "
                           "range is already in use",
                           at, len);
    return win32_fail(err, call, NULL);
  }
  if (at && p != at) { /* documented never to happen; never hand it out */
    UnmapViewOfFile(p);
    return mmf__error_os(MMF_EADDRINUSE, ERROR_INVALID_ADDRESS,
                         "MapViewOfFileEx at %p (%zu bytes): mapped at %p "
                         "instead",
                         at, len, p);
  }
  if (opts & MMF__OS_MAP_POPULATE) {
    /* A request, like MAP_POPULATE: its failure is not the call's, and
     * must not stay in the thread's record. */
    mmf__best_effort_begin();
    (void)prefetch(p, len);
    mmf__best_effort_end();
  }
  *out = p;
  return 0;
}

int mmf__os_unmap(void *addr, size_t len) {
  int injected = FAULT("UnmapViewOfFile", ERROR_INVALID_ADDRESS);
  (void)len;
  if (!UnmapViewOfFile(addr))
    return win32_fail(GetLastError(), "UnmapViewOfFile", NULL);
  if (injected)
    return win32_fail(ERROR_INVALID_ADDRESS, "UnmapViewOfFile", NULL);
  return 0;
}

int mmf__os_flush(void *addr, size_t len, int wait) {
  /* FlushViewOfFile writes the dirty pages to the file system and returns;
   * only FlushFileBuffers (mmf__os_file_sync) makes them durable. */
  (void)wait;
  if (FAULT("FlushViewOfFile", ERROR_IO_DEVICE) || !FlushViewOfFile(addr, len))
    return win32_fail(GetLastError(), "FlushViewOfFile", NULL);
  return 0;
}

int mmf__os_advise(void *addr, size_t len, int advice) {
  switch (advice) {
  case MMF_ADVICE_NORMAL:
  case MMF_ADVICE_SEQUENTIAL:
  case MMF_ADVICE_RANDOM:
    return 0; /* no Windows equivalent: advice is a hint */
  case MMF_ADVICE_WILLNEED:
    return prefetch(addr, len);
  case MMF_ADVICE_DONTNEED:
    /* Unlocking pages that are not locked takes them out of the working set
     * (the documented way to trim a range); ERROR_NOT_LOCKED is expected. */
    if (FAULT("VirtualUnlock", ERROR_INVALID_PARAMETER) ||
        (!VirtualUnlock(addr, len) && GetLastError() != ERROR_NOT_LOCKED))
      return win32_fail(GetLastError(), "VirtualUnlock", NULL);
    return 0;
  default:
    return win32_fail(ERROR_INVALID_PARAMETER, "advise", NULL);
  }
}

int mmf__os_walk_spans(void) { return 0; }

int mmf__os_touch_safe(mmf_os_file f, uint64_t off, size_t len, int write) {
  (void)f;
  (void)off;
  (void)len;
  (void)write;
  return 0; /* walks do not touch here (no spans) */
}

int mmf__os_populate(void *addr, size_t len, int write) {
  (void)write; /* no writable prefetch: the first store still faults */
  return prefetch(addr, len);
}

int mmf__os_mem_alloc(size_t len, void **out) {
  void *p = NULL;
  *out = NULL;
  if (FAULT("VirtualAlloc", ERROR_NOT_ENOUGH_MEMORY) ||
      (p = VirtualAlloc(NULL, len, MEM_RESERVE | MEM_COMMIT,
                        PAGE_READWRITE)) == NULL)
    return win32_fail(GetLastError(), "VirtualAlloc", NULL);
  *out = p;
  return 0;
}

size_t mmf__os_mem_huge_size(void) {
  return 0; /* large pages need SeLockMemoryPrivilege: not asked for */
}

int mmf__os_mem_free(void *p, size_t len) {
  (void)len; /* MEM_RELEASE frees the whole allocation */
  if (FAULT("VirtualFree", ERROR_INVALID_ADDRESS) ||
      !VirtualFree(p, 0, MEM_RELEASE))
    return win32_fail(GetLastError(), "VirtualFree", NULL);
  return 0;
}

int mmf__os_huge(void *addr, size_t len) {
  /* Large pages exist only for pagefile-backed sections (SEC_LARGE_PAGES);
   * a file view cannot be switched to them. */
  (void)addr;
  (void)len;
  return mmf__error(MMF_ENOTSUP, "huge pages: not available for file views "
                                 "on Windows");
}

int mmf__os_lock(void *addr, size_t len) {
  if (FAULT("VirtualLock", ERROR_WORKING_SET_QUOTA) || !VirtualLock(addr, len))
    return win32_fail(GetLastError(), "VirtualLock", NULL);
  return 0;
}

int mmf__os_unlock(void *addr, size_t len) {
  if (FAULT("VirtualUnlock", ERROR_NOT_LOCKED) || !VirtualUnlock(addr, len))
    return win32_fail(GetLastError(), "VirtualUnlock", NULL);
  return 0;
}

/* ---- file range locks and per-user locations ----------------------------*/

/* LockFileEx locks belong to the handle and are released by the system when
 * the handle closes or the process ends, so a held lock means a live
 * holder. */
int mmf__os_file_lock(mmf_os_file f, uint64_t off, uint64_t len,
                      unsigned flags) {
  OVERLAPPED ov;
  DWORD how = 0;
  memset(&ov, 0, sizeof ov);
  ov.Offset = (DWORD)off;
  ov.OffsetHigh = (DWORD)(off >> 32);
  if (!(flags & MMF__OS_LOCK_SHARED))
    how |= LOCKFILE_EXCLUSIVE_LOCK;
  if (!(flags & MMF__OS_LOCK_WAIT))
    how |= LOCKFILE_FAIL_IMMEDIATELY;
  if (FAULT("LockFileEx", ERROR_NOT_ENOUGH_MEMORY) ||
      !LockFileEx(as_handle(f), how, 0, (DWORD)len, (DWORD)(len >> 32), &ov)) {
    DWORD err = GetLastError();
    if ((err == ERROR_LOCK_VIOLATION || err == ERROR_IO_PENDING) &&
        (flags & MMF__OS_LOCK_QUIET))
      return MMF_EBUSY;
    if (err == ERROR_LOCK_VIOLATION || err == ERROR_IO_PENDING)
      return mmf__error_os(MMF_EBUSY, (int)err,
                           "LockFileEx: bytes %llu..%llu are locked by "
                           "another open file",
                           (unsigned long long)off,
                           (unsigned long long)(off + len));
    return win32_fail(err, "LockFileEx", NULL);
  }
  return 0;
}

int mmf__os_file_unlock(mmf_os_file f, uint64_t off, uint64_t len) {
  OVERLAPPED ov;
  memset(&ov, 0, sizeof ov);
  ov.Offset = (DWORD)off;
  ov.OffsetHigh = (DWORD)(off >> 32);
  if (FAULT("UnlockFileEx", ERROR_NOT_LOCKED) ||
      !UnlockFileEx(as_handle(f), 0, (DWORD)len, (DWORD)(len >> 32), &ov))
    return win32_fail(GetLastError(), "UnlockFileEx", NULL);
  return 0;
}

void mmf__os_user_tag(char *buf, size_t n) {
  if (n)
    buf[0] = '\0';
}

int mmf__os_runtime_dir(char *buf, size_t n) {
  wchar_t tmp[MAX_PATH + 1];
  DWORD len;
  int got;
  if (FAULT("GetTempPathW", ERROR_ENVVAR_NOT_FOUND))
    len = 0;
  else
    len = GetTempPathW(MAX_PATH + 1, tmp); /* per user; ends in '\\' */
  if (len == 0 || len > MAX_PATH - 4)
    return win32_fail(len ? ERROR_FILENAME_EXCED_RANGE : GetLastError(),
                      "GetTempPathW", NULL);
  memcpy(tmp + len, L"mmf", 4 * sizeof(wchar_t));
  if (!CreateDirectoryW(tmp, NULL) && GetLastError() != ERROR_ALREADY_EXISTS)
    return win32_fail(GetLastError(), "CreateDirectoryW", "%TEMP%\\mmf");
  got = WideCharToMultiByte(CP_UTF8, 0, tmp, -1, buf, (int)(n > INT_MAX ? INT_MAX : n),
                            NULL, NULL);
  if (got <= 0)
    return mmf__error(MMF_ENAMETOOLONG,
                      "runtime directory: buffer of %zu bytes is too small",
                      n);
  return 0;
}

/* @@OS-SHM */
#include <errno.h>
#include <fcntl.h>
#include <io.h>

/* ---- memory-backed mappings ----------------------------------------------*/

int mmf__os_shm_named_sections(void) { return 1; }

/* A pagefile-backed section of `size` bytes named `wname` (NULL: unnamed). */
static int win32_pagefile_section(const wchar_t *wname, const char *name,
                                  uint64_t size, SECURITY_ATTRIBUTES *sa,
                                  mmf_os_section *out) {
  HANDLE s;
  if (FAULT("CreateFileMappingW", ERROR_NOT_ENOUGH_MEMORY))
    s = NULL;
  else
    s = CreateFileMappingW(INVALID_HANDLE_VALUE, sa, PAGE_READWRITE,
                           (DWORD)(size >> 32), (DWORD)size, wname);
  if (s == NULL)
    return win32_fail(GetLastError(), "CreateFileMappingW", name);
  if (wname && GetLastError() == ERROR_ALREADY_EXISTS) {
    /* Opened someone else's section instead of creating one. */
    CloseHandle(s);
    return mmf__error_os(MMF_EEXIST, ERROR_ALREADY_EXISTS,
                         "CreateFileMappingW \"%s\": a section of this name "
                         "already exists", name);
  }
  out->file = MMF_OS_FILE_INVALID;
  out->handle = (intptr_t)s;
  return 0;
}

int mmf__os_shm_anonymous(uint64_t size, mmf_os_file *file,
                          mmf_os_section *out) {
  *file = MMF_OS_FILE_INVALID;
  return win32_pagefile_section(NULL, "<anonymous>", size, NULL, out);
}

/* "Local\<name>" in UTF-16. */
/* The bytes a whole-section view `p` covers: one view is one allocation;
 * sum its regions (their pages may differ). */
static uint64_t win32_view_bytes(void *p) {
  MEMORY_BASIC_INFORMATION mbi;
  uint64_t have = 0;
  for (unsigned char *q = p; VirtualQuery(q, &mbi, sizeof mbi) == sizeof mbi &&
                             mbi.AllocationBase == p;
       q += mbi.RegionSize)
    have += mbi.RegionSize;
  return have;
}

static int win32_section_name(const char *name, wchar_t **out) {
  char buf[300];
  if (snprintf(buf, sizeof buf, "Local\\%s", name) >= (int)sizeof buf)
    return win32_fail(ERROR_FILENAME_EXCED_RANGE, "CreateFileMappingW", name);
  return win32_wide(buf, out);
}

int mmf__os_named_section_create(const char *name, uint64_t size,
                                 int owner_only, mmf_os_section *out) {
  SECURITY_ATTRIBUTES sa;
  wchar_t *w;
  int rc = win32_section_name(name, &w);
  if (rc)
    return rc;
  if (owner_only) {
    rc = win32_owner_only_sa(&sa, name);
    if (rc) {
      free(w);
      return rc;
    }
  }
  rc = win32_pagefile_section(w, name, size, owner_only ? &sa : NULL, out);
  if (owner_only)
    LocalFree(sa.lpSecurityDescriptor);
  free(w);
  return rc;
}

int mmf__os_named_section_open(const char *name, int writable,
                               uint64_t size, mmf_os_section *out) {
  wchar_t *w;
  HANDLE s;
  void *p;
  uint64_t have;
  int rc = win32_section_name(name, &w);
  if (rc)
    return rc;
  if (FAULT("OpenFileMappingW", ERROR_FILE_NOT_FOUND))
    s = NULL;
  else
    s = OpenFileMappingW(writable ? FILE_MAP_WRITE | FILE_MAP_READ
                                  : FILE_MAP_READ,
                         FALSE, w);
  free(w);
  if (s == NULL)
    return win32_fail(GetLastError(), "OpenFileMappingW", name);
  /* The size came from shared data: check it against the section. */
  if (FAULT("MapViewOfFile", ERROR_NOT_ENOUGH_MEMORY))
    p = NULL;
  else
    p = MapViewOfFile(s, FILE_MAP_READ, 0, 0, 0);
  if (p == NULL) {
    rc = win32_fail(GetLastError(), "MapViewOfFile", name);
    CloseHandle(s);
    return rc;
  }
  have = win32_view_bytes(p);
  UnmapViewOfFile(p);
  if (have < size) {
    CloseHandle(s);
    return mmf__error(MMF_ECORRUPT, "section \"%s\" holds %llu bytes, fewer "
                      "than the %llu its trailer claims", name,
                      (unsigned long long)have, (unsigned long long)size);
  }
  out->file = MMF_OS_FILE_INVALID;
  out->handle = (intptr_t)s;
  return 0;
}

int mmf__os_file_is_at(mmf_os_file f, const char *path, int *same) {
  BY_HANDLE_FILE_INFORMATION a, b;
  wchar_t *wpath;
  HANDLE h;
  int rc;
  *same = 0;
  if (FAULT("GetFileInformationByHandle", ERROR_INVALID_HANDLE) ||
      !GetFileInformationByHandle(as_handle(f), &a))
    return win32_fail(GetLastError(), "GetFileInformationByHandle", path);
  rc = win32_path(path, &wpath);
  if (rc)
    return rc;
  if (FAULT("CreateFileW", ERROR_TOO_MANY_OPEN_FILES))
    h = INVALID_HANDLE_VALUE;
  else
    h = CreateFileW(wpath, 0,
                    FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                    NULL, OPEN_EXISTING,
                    FILE_FLAG_OPEN_REPARSE_POINT | FILE_FLAG_BACKUP_SEMANTICS,
                    NULL);
  free(wpath);
  if (h == INVALID_HANDLE_VALUE) {
    DWORD err = GetLastError();
    /* Gone, or being deleted (a pending delete refuses new opens). */
    if (err == ERROR_FILE_NOT_FOUND || err == ERROR_PATH_NOT_FOUND ||
        err == ERROR_ACCESS_DENIED)
      return 0;
    return win32_fail(err, "CreateFileW", path);
  }
  if (!GetFileInformationByHandle(h, &b)) {
    DWORD err = GetLastError();
    CloseHandle(h);
    return win32_fail(err, "GetFileInformationByHandle", path);
  }
  CloseHandle(h);
  /* Wine reports volume serial 0 for a handle whose file was renamed
   * after it was opened (measured, Wine 8); the file index alone is
   * unique on one volume, and both files here are in the same directory. */
  *same = a.nFileIndexHigh == b.nFileIndexHigh &&
          a.nFileIndexLow == b.nFileIndexLow &&
          (a.dwVolumeSerialNumber == b.dwVolumeSerialNumber ||
           a.dwVolumeSerialNumber == 0 || b.dwVolumeSerialNumber == 0);
  return 0;
}

int mmf__os_file_is_mine(mmf_os_file f, int *mine) {
  (void)f;
  *mine = 1;
  return 0;
}

int mmf__os_file_share_all(mmf_os_file f) {
  (void)f;
  return 0;
}

int mmf__os_dir_list(const char *dir, int (*fn)(void *ctx, const char *entry),
                     void *ctx) {
  WIN32_FIND_DATAW fd;
  char pattern[MAX_PATH + 8], entry[MAX_PATH * 3];
  wchar_t *w;
  HANDLE h;
  int rc;
  if (snprintf(pattern, sizeof pattern, "%s\\*", dir) >= (int)sizeof pattern)
    return win32_fail(ERROR_FILENAME_EXCED_RANGE, "FindFirstFileW", dir);
  rc = win32_wide(pattern, &w);
  if (rc)
    return rc;
  if (FAULT("FindFirstFileW", ERROR_NOT_ENOUGH_MEMORY))
    h = INVALID_HANDLE_VALUE;
  else
    h = FindFirstFileW(w, &fd);
  free(w);
  if (h == INVALID_HANDLE_VALUE) {
    if (GetLastError() == ERROR_FILE_NOT_FOUND)
      return 0;
    return win32_fail(GetLastError(), "FindFirstFileW", dir);
  }
  rc = 0;
  do {
    if (wcscmp(fd.cFileName, L".") == 0 || wcscmp(fd.cFileName, L"..") == 0)
      continue;
    if (WideCharToMultiByte(CP_UTF8, 0, fd.cFileName, -1, entry,
                            (int)sizeof entry, NULL, NULL) <= 0)
      continue;
    rc = fn(ctx, entry);
  } while (rc == 0 && FindNextFileW(h, &fd));
  FindClose(h);
  return rc;
}
int mmf__os_remove_open(const char *path) {
  /* DeleteFileW alone leaves the name "delete pending" until the last
   * handle closes: opens of it fail or find the old file, and a new
   * CREATE_NEW fails. A rename frees the name at once. */
  static LONG counter;
  char tmp[MAX_PATH * 3 + 64];
  wchar_t *wpath, *wtmp;
  int rc;
  if (snprintf(tmp, sizeof tmp, "%s~%lu.%ld", path,
               (unsigned long)GetCurrentProcessId(),
               (long)InterlockedIncrement(&counter)) >= (int)sizeof tmp)
    return win32_fail(ERROR_FILENAME_EXCED_RANGE, "MoveFileExW", path);
  rc = win32_path(path, &wpath);
  if (rc)
    return rc;
  rc = win32_path(tmp, &wtmp);
  if (rc) {
    free(wpath);
    return rc;
  }
  if (FAULT("MoveFileExW", ERROR_ACCESS_DENIED) ||
      !MoveFileExW(wpath, wtmp, 0))
    rc = win32_fail(GetLastError(), "MoveFileExW", path);
  else
    /* The name is free already: a failure here leaves only garbage with a
     * name no mmf object can have. */
    (void)DeleteFileW(wtmp);
  free(wpath);
  free(wtmp);
  return rc;
}

int mmf__os_publish(const char *from, const char *to) {
  wchar_t *wfrom, *wto;
  int rc = win32_path(from, &wfrom);
  if (rc)
    return rc;
  rc = win32_path(to, &wto);
  if (rc) {
    free(wfrom);
    return rc;
  }
  if (FAULT("MoveFileExW", ERROR_ACCESS_DENIED) ||
      !MoveFileExW(wfrom, wto, 0))
    rc = win32_fail(GetLastError(), "MoveFileExW", to);
  free(wfrom);
  free(wto);
  return rc;
}

void mmf__os_yield(void) { SwitchToThread(); }

void mmf__os_sleep_ms(unsigned ms) { Sleep(ms); }

int mmf__os_stdio_binary(int fd) {
  if (FAULT("_setmode", ERROR_INVALID_HANDLE) || _setmode(fd, _O_BINARY) < 0)
    return mmf__error_os(MMF_EBADF, EBADF, "_setmode(%d, _O_BINARY): not an "
                         "open stream", fd);
  return 0;
}

int mmf__os_reopen(mmf_os_file f, int writable, mmf_os_file *out) {
  HANDLE h = INVALID_HANDLE_VALUE;
  *out = MMF_OS_FILE_INVALID;
  if (!FAULT("ReOpenFile", ERROR_TOO_MANY_OPEN_FILES))
    h = ReOpenFile(as_handle(f),
                   writable ? GENERIC_READ | GENERIC_WRITE : GENERIC_READ,
                   FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, 0);
  if (h == INVALID_HANDLE_VALUE)
    return win32_fail(GetLastError(), "ReOpenFile", NULL);
  *out = (mmf_os_file)h;
  return 0;
}
/* @@END OS-SHM */

/* @@OS-POINTERS */
/* ---- fixed-address views and hand-over to child processes ---------------*/

int mmf__os_inherit(const mmf_os_section *s, mmf_os_file file, int on) {
  DWORD flag = on ? HANDLE_FLAG_INHERIT : 0;
  if (FAULT("SetHandleInformation", ERROR_INVALID_HANDLE) ||
      !SetHandleInformation((HANDLE)s->handle, HANDLE_FLAG_INHERIT, flag))
    return win32_fail(GetLastError(), "SetHandleInformation(section)", NULL);
  if (file != MMF_OS_FILE_INVALID &&
      (FAULT("SetHandleInformation", ERROR_INVALID_HANDLE) ||
       !SetHandleInformation(as_handle(file), HANDLE_FLAG_INHERIT, flag))) {
    DWORD err = GetLastError();
    /* put the section back as it was */
    SetHandleInformation((HANDLE)s->handle, HANDLE_FLAG_INHERIT,
                         on ? 0 : HANDLE_FLAG_INHERIT);
    return win32_fail(err, "SetHandleInformation(file)", NULL);
  }
  return 0;
}

/* Map the whole section once to learn that it is one and how big it is
 * (VirtualQuery of the view), with the access the token promises. */
static int probe_section(HANDLE h, unsigned os_prot, uint64_t size) {
  uint64_t have = 0;
  void *p;
  if (FAULT("MapViewOfFile", ERROR_INVALID_HANDLE))
    p = NULL;
  else
    p = MapViewOfFile(h, view_access(os_prot), 0, 0, 0);
  if (p == NULL) {
    DWORD err = GetLastError();
    if (err == ERROR_INVALID_HANDLE || err == ERROR_ACCESS_DENIED)
      return mmf__error_os(MMF_EBADF, (int)err,
                           "MapViewOfFile: the token's section handle %p is "
                           "not a file-mapping object with the access the "
                           "token grants (Windows error %lu)",
                           (void *)h, (unsigned long)err);
    return win32_fail(err, "MapViewOfFile(section of the token)", NULL);
  }
  have = win32_view_bytes(p);
  UnmapViewOfFile(p);
  if (have < size)
    return mmf__error(MMF_ERANGE, "the token's section holds %llu bytes, "
                      "fewer than the token's %llu",
                      (unsigned long long)have, (unsigned long long)size);
  return 0;
}

int mmf__os_section_inherited(intptr_t section, intptr_t file,
                              unsigned os_prot, uint64_t size,
                              mmf_os_file *file_out, mmf_os_section *out) {
  mmf_os_file f = MMF_OS_FILE_INVALID;
  HANDLE h;
  int rc, writable = 0;

  *file_out = MMF_OS_FILE_INVALID;
  if (section == 0 || section == -1)
    return win32_fail(ERROR_INVALID_HANDLE, "DuplicateHandle(section)", NULL);
  if (file != -1) {
    uint64_t fsize;
    rc = mmf__os_dup(file, &f, &writable);
    if (rc)
      return rc;
    if ((os_prot & MMF__OS_PROT_WRITE) && !writable) {
      rc = mmf__error_os(MMF_EBADF, ERROR_ACCESS_DENIED,
                         "file handle %p is not open for writing, which the "
                         "token's protection needs", (void *)file);
      goto out_close;
    }
    rc = mmf__os_file_size(f, &fsize);
    if (rc)
      goto out_close;
    if (fsize < size) {
      rc = mmf__error(MMF_ERANGE, "file handle %p holds %llu bytes, fewer "
                      "than the token's %llu", (void *)file,
                      (unsigned long long)fsize, (unsigned long long)size);
      goto out_close;
    }
  }
  if (FAULT("DuplicateHandle", ERROR_INVALID_HANDLE) ||
      !DuplicateHandle(GetCurrentProcess(), (HANDLE)section,
                       GetCurrentProcess(), &h, 0, FALSE,
                       DUPLICATE_SAME_ACCESS)) {
    rc = win32_fail(GetLastError(), "DuplicateHandle(section)", NULL);
    goto out_close;
  }
  rc = probe_section(h, os_prot, size);
  if (rc) {
    CloseHandle(h);
    goto out_close;
  }
  out->file = f;
  out->handle = (intptr_t)h;
  *file_out = f;
  return 0;

out_close:
  if (f != MMF_OS_FILE_INVALID)
    CloseHandle(as_handle(f));
  return rc;
}
/* @@END OS-POINTERS */

/* @@OS-LOCK-CHANNEL */
/* RtlGenRandom: advapi32's documented random source (no bcrypt needed). */
BOOLEAN WINAPI SystemFunction036(PVOID buf, ULONG len);

/* The shared part of a lock (inside the mmf_lock, written only by the
 * thread holding the named mutex). */
struct win32_mutex {
  uint64_t id;             /* names the mutex: Local\mmf-lock-<id hex> */
  volatile LONG state;     /* WIN32_LOCK_* */
  volatile LONG held;      /* 1 while a thread holds it: seen set by the
                            * next acquirer = the holder died */
  volatile LONG64 owner;   /* pid << 32 | tid of the holder */
};
_Static_assert(sizeof(struct win32_mutex) <= MMF__OS_MUTEX_BYTES,
               "win32_mutex does not fit in an mmf_lock");
enum { WIN32_LOCK_OK = 0, WIN32_LOCK_INCONSISTENT = 1, WIN32_LOCK_DEAD = 2 };

/* This process's handles of the named mutexes, by id. */
static SRWLOCK win32_locks_guard = SRWLOCK_INIT;
static struct win32_lock_handle {
  uint64_t id;
  HANDLE h;
} *win32_locks;
static size_t win32_nlocks, win32_caplocks;

static LONG64 win32_self(void) {
  return (LONG64)(((uint64_t)GetCurrentProcessId() << 32) |
                  GetCurrentThreadId());
}

/* CreateMutexW (open or create) "Local\mmf-lock-<id>", owner-only. */
static int win32_mutex_create(uint64_t id, HANDLE *out, int *existed) {
  SECURITY_ATTRIBUTES sa;
  wchar_t name[64];
  char what[64];
  HANDLE h;
  int rc;
  snprintf(what, sizeof what, "Local\\mmf-lock-%016llx",
           (unsigned long long)id);
  _snwprintf(name, 64, L"Local\\mmf-lock-%016llx", (unsigned long long)id);
  name[63] = L'\0';
  rc = win32_owner_only_sa(&sa, what);
  if (rc)
    return rc;
  if (FAULT("CreateMutexW", ERROR_ACCESS_DENIED))
    h = NULL;
  else
    h = CreateMutexW(&sa, FALSE, name);
  *existed = h && GetLastError() == ERROR_ALREADY_EXISTS;
  LocalFree(sa.lpSecurityDescriptor);
  if (!h)
    return win32_fail(GetLastError(), "CreateMutexW", what);
  *out = h;
  return 0;
}

/* Remember `h` for `id`; on failure `h` is closed. Caller holds the guard. */
static int win32_lock_remember(uint64_t id, HANDLE h) {
  if (win32_nlocks == win32_caplocks) {
    size_t cap = win32_caplocks ? 2 * win32_caplocks : 8;
    struct win32_lock_handle *t = realloc(win32_locks, cap * sizeof *t);
    if (!t) {
      CloseHandle(h);
      return mmf__error(MMF_ENOMEM, "lock handle table: out of memory");
    }
    win32_locks = t;
    win32_caplocks = cap;
  }
  win32_locks[win32_nlocks].id = id;
  win32_locks[win32_nlocks].h = h;
  win32_nlocks++;
  return 0;
}

/* This process's handle of the lock's named mutex, opened on first use. */
static int win32_mutex_handle(struct win32_mutex *m, HANDLE *out) {
  uint64_t id = m->id;
  int rc = 0, existed;
  size_t i;
  AcquireSRWLockExclusive(&win32_locks_guard);
  for (i = 0; i < win32_nlocks; i++)
    if (win32_locks[i].id == id) {
      *out = win32_locks[i].h;
      goto out;
    }
  rc = win32_mutex_create(id, out, &existed);
  if (!rc)
    rc = win32_lock_remember(id, *out);
out:
  ReleaseSRWLockExclusive(&win32_locks_guard);
  return rc;
}

int mmf__os_mutex_init(void *p) {
  struct win32_mutex *m = p;
  HANDLE h = NULL;
  uint64_t id = 0;
  int rc, existed = 1, tries;
  /* A fresh random name nobody has open: a clash is retried. */
  for (tries = 0; existed && tries < 8; tries++) {
    if (h)
      CloseHandle(h);
    h = NULL;
    rc = mmf__os_random(&id, sizeof id);
    if (!rc)
      rc = win32_mutex_create(id, &h, &existed);
    if (rc)
      return rc;
  }
  if (existed) {
    CloseHandle(h);
    return mmf__error(MMF_EEXIST, "CreateMutexW: no unused random name");
  }
  m->id = id;
  m->state = WIN32_LOCK_OK;
  m->held = 0;
  m->owner = 0;
  AcquireSRWLockExclusive(&win32_locks_guard);
  rc = win32_lock_remember(id, h);
  ReleaseSRWLockExclusive(&win32_locks_guard);
  return rc;
}

int mmf__os_mutex_acquire(void *p, int64_t timeout_ms) {
  struct win32_mutex *m = p;
  HANDLE h;
  DWORD r, ms = timeout_ms < 0             ? INFINITE
                : timeout_ms >= 0xFFFFFFFE ? 0xFFFFFFFE
                                           : (DWORD)timeout_ms;
  int rc = win32_mutex_handle(m, &h), abandoned;
  if (rc)
    return rc;
  if (FAULT("WaitForSingleObject", ERROR_ACCESS_DENIED))
    r = WAIT_FAILED;
  else
    r = WaitForSingleObject(h, ms);
  if (r == WAIT_TIMEOUT) {
    if (timeout_ms == 0)
      return mmf__error(MMF_EBUSY, "WaitForSingleObject: held by another "
                                   "thread or process");
    return mmf__error(MMF_ETIMEDOUT, "WaitForSingleObject: still held after "
                      "%lld ms", (long long)timeout_ms);
  }
  if (r != WAIT_OBJECT_0 && r != WAIT_ABANDONED)
    return win32_fail(GetLastError(), "WaitForSingleObject", NULL);
  if (r == WAIT_OBJECT_0 && m->held && m->owner == win32_self()) {
    /* A Windows mutex is recursive; mmf's lock is not (as on POSIX). */
    ReleaseMutex(h);
    return mmf__error(MMF_EBUSY, "WaitForSingleObject: this thread already "
                                 "holds the lock");
  }
  /* `held` still set: the holder died, and if no other process had the
   * mutex open it vanished with its handles, so no WAIT_ABANDONED. */
  abandoned = r == WAIT_ABANDONED || m->held;
  if (m->state == WIN32_LOCK_DEAD) {
    m->held = 0;
    ReleaseMutex(h);
    return mmf__error(MMF_ENOTRECOVERABLE, "WaitForSingleObject: the lock "
                      "was released without being marked consistent after "
                      "its holder died");
  }
  m->held = 1;
  m->owner = win32_self();
  if (abandoned) {
    m->state = WIN32_LOCK_INCONSISTENT;
    return mmf__error_os(MMF_EOWNERDEAD, WAIT_ABANDONED, "WaitForSingleObject:"
                         " the previous holder died holding the lock (now "
                         "held: repair, then mark it consistent)");
  }
  if (m->state == WIN32_LOCK_INCONSISTENT) /* the repairer died too */
    return mmf__error_os(MMF_EOWNERDEAD, WAIT_ABANDONED, "WaitForSingleObject:"
                         " the previous holder died before marking the lock "
                         "consistent (now held: repair, then mark it "
                         "consistent)");
  return 0;
}

int mmf__os_mutex_consistent(void *p) {
  struct win32_mutex *m = p;
  if (!m->held || m->owner != win32_self())
    return mmf__error(MMF_EPERM, "consistent: this thread does not hold the "
                                 "lock");
  if (m->state != WIN32_LOCK_INCONSISTENT)
    return mmf__error(MMF_EINVAL, "consistent: the lock is not in the "
                                  "owner-died state");
  m->state = WIN32_LOCK_OK;
  return 0;
}

int mmf__os_mutex_release(void *p) {
  struct win32_mutex *m = p;
  HANDLE h;
  int rc;
  if (!m->held || m->owner != win32_self())
    return mmf__error(MMF_EPERM, "ReleaseMutex: this thread does not hold "
                                 "the lock");
  rc = win32_mutex_handle(m, &h);
  if (rc)
    return rc;
  if (FAULT("ReleaseMutex", ERROR_NOT_OWNER))
    return win32_fail(GetLastError(), "ReleaseMutex", NULL);
  if (m->state == WIN32_LOCK_INCONSISTENT)
    m->state = WIN32_LOCK_DEAD;
  m->held = 0;
  m->owner = 0;
  if (!ReleaseMutex(h)) {
    DWORD err = GetLastError();
    m->held = 1;
    m->owner = win32_self();
    return win32_fail(err, "ReleaseMutex", NULL);
  }
  return 0;
}

int mmf__os_mutex_detach(void *p) {
  struct win32_mutex *m = p;
  HANDLE h = NULL;
  size_t i;
  AcquireSRWLockExclusive(&win32_locks_guard);
  for (i = 0; i < win32_nlocks; i++)
    if (win32_locks[i].id == m->id) {
      h = win32_locks[i].h;
      win32_locks[i] = win32_locks[--win32_nlocks];
      break;
    }
  ReleaseSRWLockExclusive(&win32_locks_guard);
  if (h) {
    int injected = FAULT("CloseHandle", ERROR_IO_DEVICE);
    if (!CloseHandle(h) || injected)
      return win32_fail(injected ? ERROR_IO_DEVICE : GetLastError(),
                        "CloseHandle", NULL);
  }
  return 0;
}

int mmf__os_waiter_open(uint64_t id, const char *what, mmf_os_waiter *out) {
  SECURITY_ATTRIBUTES sa;
  wchar_t wname[96];
  char name[96];
  HANDLE h;
  int rc;
  out->handle = -1;
  snprintf(name, sizeof name, "Local\\mmf-chan-%016llx-%s",
           (unsigned long long)id, what);
  if (MultiByteToWideChar(CP_UTF8, 0, name, -1, wname, 96) <= 0)
    return win32_fail(GetLastError(), "MultiByteToWideChar", name);
  rc = win32_owner_only_sa(&sa, name);
  if (rc)
    return rc;
  /* A semaphore, not an event: the waker releases one unit per sleeper, so
   * no sleeper misses a wake-up when several wait (blocked senders). */
  if (FAULT("CreateSemaphoreW", ERROR_ACCESS_DENIED))
    h = NULL;
  else
    h = CreateSemaphoreW(&sa, 0, LONG_MAX, wname);
  LocalFree(sa.lpSecurityDescriptor);
  if (!h)
    return win32_fail(GetLastError(), "CreateSemaphoreW", name);
  out->handle = (intptr_t)h;
  return 0;
}

int mmf__os_waiter_close(mmf_os_waiter *w) {
  int injected;
  HANDLE h = (HANDLE)w->handle;
  if (w->handle == -1)
    return 0;
  w->handle = -1;
  injected = FAULT("CloseHandle", ERROR_IO_DEVICE);
  if (!CloseHandle(h) || injected)
    return win32_fail(injected ? ERROR_IO_DEVICE : GetLastError(),
                      "CloseHandle", NULL);
  return 0;
}

int mmf__os_wait(mmf_os_waiter *w, uint32_t *word, uint32_t expect,
                 int64_t timeout_ms) {
  DWORD ms = timeout_ms < 0             ? INFINITE
             : timeout_ms >= 0xFFFFFFFE ? 0xFFFFFFFE
                                        : (DWORD)timeout_ms;
  DWORD r;
  if (*(volatile uint32_t *)word != expect)
    return 0;
  if (FAULT("WaitForSingleObject", ERROR_ACCESS_DENIED))
    r = WAIT_FAILED;
  else
    r = WaitForSingleObject((HANDLE)w->handle, ms);
  if (r == WAIT_OBJECT_0)
    return 0;
  if (r == WAIT_TIMEOUT)
    return mmf__error(MMF_ETIMEDOUT, "WaitForSingleObject: timed out after "
                      "%lld ms", (long long)timeout_ms);
  return win32_fail(GetLastError(), "WaitForSingleObject", NULL);
}

int mmf__os_wake(mmf_os_waiter *w, uint32_t *word, uint32_t sleepers) {
  (void)word;
  if (sleepers == 0)
    return 0;
  if (sleepers > 1024)
    sleepers = 1024;
  if (FAULT("ReleaseSemaphore", ERROR_ACCESS_DENIED) ||
      !ReleaseSemaphore((HANDLE)w->handle, (LONG)sleepers, NULL)) {
    if (GetLastError() == ERROR_TOO_MANY_POSTS)
      return 0; /* plenty of wake-ups pending already */
    return win32_fail(GetLastError(), "ReleaseSemaphore", NULL);
  }
  return 0;
}

int mmf__os_random(void *buf, size_t n) {
  if (n > 0xFFFFFFFFu || FAULT("RtlGenRandom", ERROR_NOT_ENOUGH_MEMORY) ||
      !SystemFunction036(buf, (ULONG)n))
    return win32_fail(GetLastError(), "RtlGenRandom", NULL);
  return 0;
}

uint64_t mmf__os_now_ns(void) {
  static LARGE_INTEGER freq;
  LARGE_INTEGER c;
  if (freq.QuadPart == 0)
    QueryPerformanceFrequency(&freq);
  QueryPerformanceCounter(&c);
  return (uint64_t)((double)c.QuadPart * 1e9 / (double)freq.QuadPart);
}

/* @@END OS-LOCK-CHANNEL */

/* @@OS-SECTION */
int mmf__os_exe_path(char *buf, size_t n) {
  wchar_t w[32768];
  DWORD len;
  int got;
  if (FAULT("GetModuleFileNameW", ERROR_ACCESS_DENIED))
    len = 0;
  else
    len = GetModuleFileNameW(NULL, w, sizeof w / sizeof w[0]);
  if (len == 0)
    return win32_fail(GetLastError(), "GetModuleFileNameW", NULL);
  if (len >= sizeof w / sizeof w[0]) /* truncated */
    return win32_fail(ERROR_FILENAME_EXCED_RANGE, "GetModuleFileNameW", NULL);
  got = WideCharToMultiByte(CP_UTF8, 0, w, -1, buf,
                            (int)(n > INT_MAX ? INT_MAX : n), NULL, NULL);
  if (got <= 0)
    return mmf__error(MMF_ENAMETOOLONG, "GetModuleFileNameW: the path does "
                      "not fit in %zu bytes of UTF-8", n);
  return 0;
}
/* @@END OS-SECTION */

/* ---- a background thread -------------------------------------------------*/

struct mmf_os_monitor {
  SRWLOCK lock;
  CONDITION_VARIABLE cv;
};

int mmf__os_monitor_new(mmf_os_monitor **out) {
  mmf_os_monitor *m;
  *out = NULL;
  if (FAULT("malloc", ERROR_NOT_ENOUGH_MEMORY) ||
      (m = malloc(sizeof *m)) == NULL)
    return win32_fail(ERROR_NOT_ENOUGH_MEMORY, "malloc", NULL);
  InitializeSRWLock(&m->lock);
  InitializeConditionVariable(&m->cv);
  *out = m;
  return 0;
}

void mmf__os_monitor_free(mmf_os_monitor *m) { free(m); }
void mmf__os_monitor_enter(mmf_os_monitor *m) {
  AcquireSRWLockExclusive(&m->lock);
}
void mmf__os_monitor_leave(mmf_os_monitor *m) {
  ReleaseSRWLockExclusive(&m->lock);
}
void mmf__os_monitor_wait(mmf_os_monitor *m) {
  SleepConditionVariableSRW(&m->cv, &m->lock, INFINITE, 0);
}
void mmf__os_monitor_wake(mmf_os_monitor *m) {
  WakeAllConditionVariable(&m->cv);
}

struct mmf_os_thread {
  HANDLE handle;
  void (*fn)(void *);
  void *arg;
};

static DWORD WINAPI win32_thread_main(LPVOID p) {
  mmf_os_thread *t = p;
  t->fn(t->arg);
  return 0;
}

int mmf__os_thread_start(void (*fn)(void *), void *arg, mmf_os_thread **out) {
  mmf_os_thread *t;
  *out = NULL;
  if (FAULT("malloc", ERROR_NOT_ENOUGH_MEMORY) ||
      (t = malloc(sizeof *t)) == NULL)
    return win32_fail(ERROR_NOT_ENOUGH_MEMORY, "malloc", NULL);
  t->fn = fn;
  t->arg = arg;
  if (FAULT("CreateThread", ERROR_NOT_ENOUGH_MEMORY))
    t->handle = NULL;
  else
    t->handle = CreateThread(NULL, 0, win32_thread_main, t, 0, NULL);
  if (!t->handle) {
    DWORD err = GetLastError();
    free(t);
    return win32_fail(err, "CreateThread", NULL);
  }
  *out = t;
  return 0;
}

void mmf__os_thread_join(mmf_os_thread *t) {
  WaitForSingleObject(t->handle, INFINITE);
  CloseHandle(t->handle);
  free(t);
}

unsigned mmf__os_cpu_count(void) {
  DWORD_PTR mine, all;
  DWORD n;
  /* The process's affinity mask first (in its processor group): a process
   * started with `start /affinity` may run on fewer CPUs than exist. */
  if (GetProcessAffinityMask(GetCurrentProcess(), &mine, &all) && mine) {
    unsigned bits = 0;
    for (; mine; mine &= mine - 1)
      bits++;
    return bits;
  }
  n = GetActiveProcessorCount(ALL_PROCESSOR_GROUPS);
  return n > 0 ? (unsigned)n : 1u;
}
