/* test/helpers_win32.c -- the OS-specific test helpers on Windows (and
 * under Wine): a temp dir under GetTempPathW, handle counts, VirtualQuery
 * for mapped views, CreateProcessW for children (command lines quoted for
 * CommandLineToArgvW, std handles redirected to files), the child's peak
 * working set for its peak RSS. (No terminal for progress checks yet.) */
#ifndef _WIN32_WINNT
#define _WIN32_WINNT 0x0A00
#endif
#define WIN32_LEAN_AND_MEAN
#include "helpers.h"

#include <windows.h>
#include <psapi.h>
#include <tlhelp32.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

/* ---- UTF-8 <-> UTF-16 -----------------------------------------------------*/

/* malloc'ed UTF-16 copy of a UTF-8 string, or NULL. */
static wchar_t *wide(const char *s) {
  int n = MultiByteToWideChar(CP_UTF8, 0, s, -1, NULL, 0);
  wchar_t *w;
  if (n <= 0)
    return NULL;
  w = malloc((size_t)n * sizeof *w);
  if (w)
    MultiByteToWideChar(CP_UTF8, 0, s, -1, w, n);
  return w;
}

/* UTF-16 -> UTF-8 into buf; 0 or -1. */
static int narrow(const wchar_t *w, char *buf, size_t cap) {
  return WideCharToMultiByte(CP_UTF8, 0, w, -1, buf, (int)cap, NULL, NULL) > 0
             ? 0
             : -1;
}

int th_is_wine(void) {
  static int known = -1;
  if (known < 0)
    known = GetProcAddress(GetModuleHandleW(L"ntdll.dll"),
                           "wine_get_version") != NULL;
  return known;
}

int th_is_windows(void) { return 1; }

/* ---- the temp dir -----------------------------------------------------------*/

static char tmpdir[1024];
static wchar_t wtmpdir[MAX_PATH + 64];

/* Remove dir and everything below it (best effort). */
static void remove_tree(const wchar_t *dir) {
  wchar_t pattern[1024], child[1024];
  WIN32_FIND_DATAW fd;
  HANDLE h;
  _snwprintf(pattern, 1024, L"%ls\\*", dir);
  h = FindFirstFileW(pattern, &fd);
  if (h != INVALID_HANDLE_VALUE) {
    do {
      if (wcscmp(fd.cFileName, L".") == 0 || wcscmp(fd.cFileName, L"..") == 0)
        continue;
      _snwprintf(child, 1024, L"%ls\\%ls", dir, fd.cFileName);
      if (fd.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) {
        remove_tree(child);
      } else {
        SetFileAttributesW(child, FILE_ATTRIBUTE_NORMAL);
        DeleteFileW(child);
      }
    } while (FindNextFileW(h, &fd));
    FindClose(h);
  }
  RemoveDirectoryW(dir);
}

static void cleanup(void) {
  if (wtmpdir[0])
    remove_tree(wtmpdir);
}

const char *th_tmpdir(void) {
  if (!tmpdir[0]) {
    wchar_t base[MAX_PATH + 1];
    DWORD n = GetTempPathW(MAX_PATH + 1, base);
    unsigned k;
    if (n == 0 || n > MAX_PATH) {
      fprintf(stderr, "GetTempPathW failed: %lu\n", GetLastError());
      abort();
    }
    if (base[n - 1] == L'\\')
      base[n - 1] = L'\0';
    for (k = 0;; k++) {
      _snwprintf(wtmpdir, sizeof wtmpdir / sizeof wtmpdir[0],
                 L"%ls\\mmf-test-%lu-%u", base, GetCurrentProcessId(), k);
      if (CreateDirectoryW(wtmpdir, NULL))
        break;
      if (GetLastError() != ERROR_ALREADY_EXISTS || k > 1000) {
        fprintf(stderr, "CreateDirectoryW failed: %lu\n", GetLastError());
        abort();
      }
    }
    if (narrow(wtmpdir, tmpdir, sizeof tmpdir) != 0)
      abort();
    atexit(cleanup);
  }
  return tmpdir;
}

/* ---- files by UTF-8 path ----------------------------------------------------*/

FILE *th_fopen(const char *path, const char *mode) {
  wchar_t *wp = wide(path), *wm = wide(mode);
  FILE *f = wp && wm ? _wfopen(wp, wm) : NULL;
  free(wp);
  free(wm);
  return f;
}

int th_remove(const char *path) {
  wchar_t *wp = wide(path);
  int ok = wp && (DeleteFileW(wp) || RemoveDirectoryW(wp));
  free(wp);
  return ok ? 0 : -1;
}

int th_mkdir(const char *path) {
  wchar_t *wp = wide(path);
  int ok = wp && CreateDirectoryW(wp, NULL);
  free(wp);
  return ok ? 0 : -1;
}

int th_exists(const char *path) {
  wchar_t *wp = wide(path);
  int ok = wp && GetFileAttributesW(wp) != INVALID_FILE_ATTRIBUTES;
  free(wp);
  return ok;
}

int64_t th_file_size(const char *path) {
  WIN32_FILE_ATTRIBUTE_DATA a;
  wchar_t *wp = wide(path);
  int ok = wp && GetFileAttributesExW(wp, GetFileExInfoStandard, &a);
  free(wp);
  if (!ok)
    return -1;
  return (int64_t)(((uint64_t)a.nFileSizeHigh << 32) | a.nFileSizeLow);
}

/* ---- resources --------------------------------------------------------------*/

/* SystemExtendedHandleInformation (64): every handle of the system. */
struct sys_handle {
  void *object;
  ULONG_PTR pid, value;
  ULONG access;
  USHORT backtrace, type;
  ULONG attributes, reserved;
};
struct sys_handles {
  ULONG_PTR count, reserved;
  struct sys_handle h[1];
};

/* This process's handles from the system's handle table, or -1. */
static int handles_from_system_table(void) {
  typedef LONG(WINAPI * query_fn)(int, void *, ULONG, ULONG *);
  FARPROC fp =
      GetProcAddress(GetModuleHandleW(L"ntdll.dll"), "NtQuerySystemInformation");
  query_fn query;
  ULONG len = 1 << 20, ret = 0;
  int n = -1;
  if (!fp)
    return -1;
  memcpy(&query, &fp, sizeof query);
  for (;;) {
    struct sys_handles *t = malloc(len);
    LONG st;
    if (!t)
      return -1;
    st = query(64, t, len, &ret);
    if (st == 0) {
      n = 0;
      for (ULONG_PTR i = 0; i < t->count; i++)
        n += t->h[i].pid == GetCurrentProcessId();
    }
    free(t);
    if (st != (LONG)0xC0000004 || len >= (1u << 30)) /* length mismatch */
      return n;
    len *= 4;
  }
}

int th_open_file_count(void) {
  DWORD n = 0;
  if (!GetProcessHandleCount(GetCurrentProcess(), &n))
    return -1;
  /* Wine answers 0 (a live process always has handles): count this
   * process's entries of the system handle table there instead. */
  if (n == 0 && th_is_wine())
    return handles_from_system_table();
  return (int)n;
}

int th_thread_count(void) {
  HANDLE snap = CreateToolhelp32Snapshot(TH32CS_SNAPTHREAD, 0);
  THREADENTRY32 te;
  DWORD me = GetCurrentProcessId();
  int n = 0;
  if (snap == INVALID_HANDLE_VALUE)
    return -1;
  te.dwSize = sizeof te;
  if (Thread32First(snap, &te)) {
    do {
      if (te.th32OwnerProcessID == me)
        n++;
      te.dwSize = sizeof te;
    } while (Thread32Next(snap, &te));
  }
  CloseHandle(snap);
  return n;
}

int th_tmp_mapping_count(void) {
  /* Each view is one MEM_MAPPED allocation; it may show as several regions
   * (pages of a COPY view that were written change protection), so count
   * allocation bases, not regions. */
  MEMORY_BASIC_INFORMATION mbi;
  unsigned char *p = NULL;
  void *last_base = NULL;
  int n = 0;
  while (VirtualQuery(p, &mbi, sizeof mbi) == sizeof mbi) {
    if (mbi.State != MEM_FREE && mbi.Type == MEM_MAPPED &&
        mbi.AllocationBase != last_base) {
      n++;
      last_base = mbi.AllocationBase;
    }
    p = (unsigned char *)mbi.BaseAddress + mbi.RegionSize;
  }
  return n;
}

/* The working-set entry of the page at `addr`; 0 when it cannot be had. */
static int working_set_entry(const void *addr,
                             PSAPI_WORKING_SET_EX_INFORMATION *ws) {
  memset(ws, 0, sizeof *ws);
  ws->VirtualAddress = (void *)addr;
  return QueryWorkingSetEx(GetCurrentProcess(), ws, sizeof *ws) != 0;
}

int th_copy_page_is_private(const void *addr) {
  PSAPI_WORKING_SET_EX_INFORMATION ws;
  if (!working_set_entry(addr, &ws) || !ws.VirtualAttributes.Valid)
    return -1; /* not in the working set: neither read nor written */
  return ws.VirtualAttributes.Shared ? 0 : 1;
}

int th_page_is_mapped(const void *addr) {
  PSAPI_WORKING_SET_EX_INFORMATION ws;
  if (!working_set_entry(addr, &ws))
    return -1;
  return ws.VirtualAttributes.Valid ? 1 : 0;
}

int th_win32_copy_page_shows_readwrite(const void *addr) {
  MEMORY_BASIC_INFORMATION mbi;
  if (VirtualQuery(addr, &mbi, sizeof mbi) != sizeof mbi)
    return -1;
  if (mbi.Protect == PAGE_READWRITE)
    return 1;
  return mbi.Protect == PAGE_WRITECOPY ? 0 : -1;
}

/* ---- processes --------------------------------------------------------------*/

/* Append `arg` to the command line `cmd` quoted so that CommandLineToArgvW
 * (and the C runtime) give it back exactly. */
static void append_arg(wchar_t *cmd, size_t cap, const wchar_t *arg) {
  size_t n = wcslen(cmd);
  if (n && n + 1 < cap)
    cmd[n++] = L' ';
  if (n + 1 < cap)
    cmd[n++] = L'"';
  for (const wchar_t *a = arg;; a++) {
    size_t slashes = 0;
    while (*a == L'\\') {
      a++;
      slashes++;
    }
    /* Backslashes before a quote or the closing quote are doubled. */
    if (*a == L'\0' || *a == L'"')
      slashes = slashes * 2 + (*a == L'"');
    while (slashes-- && n + 1 < cap)
      cmd[n++] = L'\\';
    if (*a == L'\0')
      break;
    if (n + 1 < cap)
      cmd[n++] = *a;
  }
  if (n + 1 < cap)
    cmd[n++] = L'"';
  cmd[n] = L'\0';
}

/* A program path as Windows spells it: under Wine a Unix path (as CMake
 * passes $<TARGET_FILE> to the tests) becomes its DOS name. */
static wchar_t *program_path(const char *path) {
  typedef wchar_t *(CDECL * dos_name_fn)(const char *);
  dos_name_fn dos_name;
  if (path[0] == '/' && th_is_wine()) {
    FARPROC fp = GetProcAddress(GetModuleHandleW(L"kernel32.dll"),
                                "wine_get_dos_file_name");
    if (fp) {
      wchar_t *w, *copy;
      memcpy(&dos_name, &fp, sizeof dos_name);
      w = dos_name(path);
      if (w) {
        copy = _wcsdup(w);
        HeapFree(GetProcessHeap(), 0, w);
        return copy;
      }
    }
  }
  return wide(path);
}

/* The command line for argv: a malloc'ed UTF-16 string. */
static wchar_t *command_line(const wchar_t *prog, const char *const *argv) {
  size_t cap = 32768;
  wchar_t *cmd = calloc(cap, sizeof *cmd);
  if (!cmd)
    return NULL;
  append_arg(cmd, cap, prog);
  for (size_t i = 1; argv[i]; i++) {
    wchar_t *w = wide(argv[i]);
    if (!w) {
      free(cmd);
      return NULL;
    }
    append_arg(cmd, cap, w);
    free(w);
  }
  return cmd;
}

/* CreateProcessW(prog, argv) with the given std handles or this process's
 * own when all are NULL. Inheritable handles are always inherited, so a
 * child can be handed a mapping (mmf's hand-over tokens). Returns the
 * process handle. */
static HANDLE start(const wchar_t *prog, const char *const *argv, HANDLE in,
                    HANDLE out, HANDLE err, DWORD flags, STARTUPINFOW *si) {
  PROCESS_INFORMATION pi;
  STARTUPINFOW own;
  wchar_t *cmd = command_line(prog, argv);
  BOOL ok;
  if (!cmd)
    return NULL;
  if (!si) {
    memset(&own, 0, sizeof own);
    own.cb = sizeof own;
    si = &own;
  }
  if (in || out || err) {
    si->dwFlags |= STARTF_USESTDHANDLES;
    si->hStdInput = in;
    si->hStdOutput = out;
    si->hStdError = err;
  }
  fflush(NULL);
  /* Wine 8 has answered ERROR_INTERNAL_ERROR (1359) once in a while while
   * other tests started and killed processes in parallel (seen once in
   * ~8 suite runs): that is the harness's environment, not the code under
   * test, so it is retried a few times; any other failure is reported at
   * once. */
  for (int attempt = 0;; attempt++) {
    ok = CreateProcessW(prog, cmd, NULL, NULL, TRUE, flags, NULL, NULL, si,
                        &pi);
    if (ok || GetLastError() != ERROR_INTERNAL_ERROR || attempt == 4)
      break;
    fprintf(stderr, "CreateProcessW: internal error, retrying\n");
    Sleep(50);
  }
  free(cmd);
  if (!ok) {
    fprintf(stderr, "CreateProcessW failed: %lu\n", GetLastError());
    return NULL;
  }
  CloseHandle(pi.hThread);
  return pi.hProcess;
}

intptr_t th_spawn_self(const char *const *args) {
  wchar_t exe[MAX_PATH * 4];
  const char *argv[32];
  size_t i = 0;
  HANDLE h;
  DWORD n = GetModuleFileNameW(NULL, exe, sizeof exe / sizeof exe[0]);
  if (n == 0 || n >= sizeof exe / sizeof exe[0])
    return -1;
  argv[i++] = "self";
  while (args[i - 1] && i < 31) {
    argv[i] = args[i - 1];
    i++;
  }
  argv[i] = NULL;
  h = start(exe, argv, NULL, NULL, NULL, 0, NULL);
  return h ? (intptr_t)h : -1;
}

/* The exit code of a finished process, or -1 if it was terminated from
 * outside (a crash gives an NTSTATUS, e.g. 0xC0000005). */
static int exit_status(HANDLE h) {
  DWORD code;
  if (!GetExitCodeProcess(h, &code) || code > 255)
    return -1;
  return (int)code;
}

int th_wait_child(intptr_t proc) {
  HANDLE h = (HANDLE)proc;
  int status = -1;
  if (WaitForSingleObject(h, INFINITE) == WAIT_OBJECT_0)
    status = exit_status(h);
  CloseHandle(h);
  return status;
}

int th_kill_child(intptr_t proc) {
  HANDLE h = (HANDLE)proc;
  int ok = TerminateProcess(h, 137) &&
           WaitForSingleObject(h, INFINITE) == WAIT_OBJECT_0;
  CloseHandle(h);
  return ok ? 0 : -1;
}

void th_yield(void) { SwitchToThread(); }

void th_sleep_ms(unsigned ms) { Sleep(ms); }

intptr_t th_native_open(const char *path, int writable) {
  wchar_t *wp = wide(path);
  HANDLE h = INVALID_HANDLE_VALUE;
  if (wp)
    h = CreateFileW(wp,
                    writable == TH_WRITE_ONLY ? GENERIC_WRITE
                    : writable ? GENERIC_READ | GENERIC_WRITE
                               : GENERIC_READ,
                    FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                    NULL, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
  free(wp);
  return h == INVALID_HANDLE_VALUE ? -1 : (intptr_t)h;
}

int th_native_is_open(intptr_t f) {
  DWORD flags;
  return GetHandleInformation((HANDLE)f, &flags) != 0;
}

int th_native_close(intptr_t f) { return CloseHandle((HANDLE)f) ? 0 : -1; }

/* An inheritable handle for a std stream: the file at path (created or
 * truncated), or the NUL device. */
static HANDLE std_file(const char *path, int for_output) {
  SECURITY_ATTRIBUTES sa = {sizeof sa, NULL, TRUE};
  wchar_t *wp = path ? wide(path) : NULL;
  HANDLE h;
  if (path && !wp)
    return INVALID_HANDLE_VALUE;
  h = CreateFileW(wp ? wp : L"NUL", for_output ? GENERIC_WRITE : GENERIC_READ,
                  FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, &sa,
                  for_output && path ? CREATE_ALWAYS : OPEN_EXISTING,
                  FILE_ATTRIBUTE_NORMAL, NULL);
  free(wp);
  return h;
}

/* Set (or remove) an environment variable around a child's start; the old
 * value is put back by env_restore(). */
struct env_save {
  wchar_t *name, *old;
  int had;
};

static void env_set(struct env_save *s, const char *name, const char *value) {
  wchar_t *wv;
  memset(s, 0, sizeof *s);
  if (!name)
    return;
  s->name = wide(name);
  s->old = calloc(32768, sizeof *s->old);
  s->had = GetEnvironmentVariableW(s->name, s->old, 32768) > 0;
  wv = value ? wide(value) : NULL;
  SetEnvironmentVariableW(s->name, wv);
  free(wv);
}

static void env_restore(struct env_save *s) {
  if (!s->name)
    return;
  SetEnvironmentVariableW(s->name, s->had ? s->old : NULL);
  free(s->name);
  free(s->old);
}

/* Wait for h, sampling its peak working set while it runs and once more
 * at the end (the larger wins: some systems forget an exited process's
 * counters). */
static int wait_measuring(HANDLE h, long *peak_kib) {
  SIZE_T peak = 0;
  for (;;) {
    PROCESS_MEMORY_COUNTERS pmc;
    DWORD w = WaitForSingleObject(h, 5);
    if (GetProcessMemoryInfo(h, &pmc, sizeof pmc) &&
        pmc.PeakWorkingSetSize > peak)
      peak = pmc.PeakWorkingSetSize;
    if (w != WAIT_TIMEOUT)
      break;
  }
  *peak_kib = (long)(peak / 1024);
  return exit_status(h);
}

int th_run(const char *const *argv, const char *out_path,
           const char *err_path, const char *env_name, const char *env_value,
           th_run_result *res) {
  HANDLE in = std_file(NULL, 0), out = std_file(out_path, 1),
         err = std_file(err_path, 1), proc = NULL;
  wchar_t *prog = program_path(argv[0]);
  struct env_save save;
  int rc = -1;
  if (prog && in != INVALID_HANDLE_VALUE && out != INVALID_HANDLE_VALUE &&
      err != INVALID_HANDLE_VALUE) {
    env_set(&save, env_name, env_value);
    proc = start(prog, argv, in, out, err, 0, NULL);
    env_restore(&save);
  }
  /* Only the child may hold the files now: its output is complete when it
   * exits. */
  if (in != INVALID_HANDLE_VALUE)
    CloseHandle(in);
  if (out != INVALID_HANDLE_VALUE)
    CloseHandle(out);
  if (err != INVALID_HANDLE_VALUE)
    CloseHandle(err);
  if (proc) {
    res->status = wait_measuring(proc, &res->peak_rss_kib);
    CloseHandle(proc);
    rc = 0;
  }
  free(prog);
  return rc;
}

int th_run_on_terminal(const char *const *argv, const char *out_path,
                       const char *env_name, const char *env_value,
                       char **tty, th_run_result *res) {
  (void)argv;
  (void)out_path;
  (void)env_name;
  (void)env_value;
  (void)res;
  *tty = NULL;
  /* The check needs stdout in a file and only stderr on a terminal. A
   * pseudo console (CreatePseudoConsole) gives the child console handles
   * for all three streams or none; handing it just stderr needs a console
   * handle valid in the child, which this helper does not build yet. */
  fprintf(stderr, "th_run_on_terminal: a terminal on stderr alone is not "
                  "implemented for Windows (pseudo console)\n");
  return TH_NO_TERMINAL;
}

/* @@SHM */
unsigned long th_pid(void) { return (unsigned long)GetCurrentProcessId(); }

const char *th_shm_object_path(const char *name) {
  static char buf[MAX_PATH * 3 + 64];
  wchar_t tmp[MAX_PATH + 1];
  char dir[MAX_PATH * 3];
  DWORD n = GetTempPathW(MAX_PATH + 1, tmp);
  if (n == 0 || narrow(tmp, dir, sizeof dir) != 0)
    dir[0] = '\0';
  snprintf(buf, sizeof buf, "%smmf\\mmf.%s", dir, name);
  return buf;
}

int th_shm_leftovers(const char *name) {
  char pattern[MAX_PATH * 3 + 64];
  WIN32_FIND_DATAW fd;
  wchar_t *w;
  HANDLE h;
  int n = 0;
  snprintf(pattern, sizeof pattern, "%s*", th_shm_object_path(name));
  w = wide(pattern);
  if (!w)
    return -1;
  h = FindFirstFileW(w, &fd);
  free(w);
  if (h == INVALID_HANDLE_VALUE)
    return GetLastError() == ERROR_FILE_NOT_FOUND ? 0 : -1;
  do
    n++;
  while (FindNextFileW(h, &fd));
  FindClose(h);
  return n;
}

int th_shm_mapping_count(void) { return th_tmp_mapping_count(); }

int th_drop_to_nobody(void) { return TH_NOT_APPLICABLE; }

int64_t th_native_seek(intptr_t h, int64_t off) {
  LARGE_INTEGER to, at;
  to.QuadPart = off >= 0 ? off : 0;
  if (!SetFilePointerEx((HANDLE)h, to, &at, off >= 0 ? FILE_BEGIN
                                                     : FILE_CURRENT))
    return -1;
  return at.QuadPart;
}

const char *th_user_tag(void) { return ""; }

int th_symlink(const char *target, const char *link) {
  (void)target;
  (void)link;
  return TH_NOT_APPLICABLE;
}

intptr_t th_start(const char *const *argv, const char *out_path,
                  const char *err_path) {
  HANDLE in = std_file(NULL, 0), out = std_file(out_path, 1),
         err = std_file(err_path, 1), proc = NULL;
  wchar_t *prog = program_path(argv[0]);
  if (prog && in != INVALID_HANDLE_VALUE && out != INVALID_HANDLE_VALUE &&
      err != INVALID_HANDLE_VALUE)
    proc = start(prog, argv, in, out, err, 0, NULL);
  if (in != INVALID_HANDLE_VALUE)
    CloseHandle(in);
  if (out != INVALID_HANDLE_VALUE)
    CloseHandle(out);
  if (err != INVALID_HANDLE_VALUE)
    CloseHandle(err);
  free(prog);
  return proc ? (intptr_t)proc : -1;
}
/* @@END SHM */

/* @@POINTERS */
int th_native_inheritable(intptr_t h) {
  DWORD fl;
  if (!GetHandleInformation((HANDLE)h, &fl))
    return -1;
  return (fl & HANDLE_FLAG_INHERIT) ? 1 : 0;
}
/* @@END POINTERS */

/* @@LOCK-CHANNEL */
/* @@END LOCK-CHANNEL */

/* @@SECTION */
/* th_start(): see @@SHM above. */
int th_mapping_count_matching(const char *needle) {
  (void)needle;
  return th_tmp_mapping_count();
}
/* @@END SECTION */

/* @@BUFFER */
int th_thp_eligible(const void *addr) {
  (void)addr;
  return TH_NOT_APPLICABLE;
}
/* @@END BUFFER */
