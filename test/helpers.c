/* test/helpers.c -- temp dirs and file utilities for the tests. */
#define _GNU_SOURCE
#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char tmpdir[512];

static void cleanup(void) {
  char cmd[600];
  if (tmpdir[0]) {
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) {
      /* nothing more to do */
    }
  }
}

const char *th_tmpdir(void) {
  if (!tmpdir[0]) {
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/mmf-test-XXXXXX", base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
      perror("mkdtemp");
      abort();
    }
    atexit(cleanup);
  }
  return tmpdir;
}

const char *th_path(const char *name) {
  static char slots[8][600];
  static int next;
  char *p = slots[next++ % 8];
  snprintf(p, sizeof slots[0], "%s/%s", th_tmpdir(), name);
  return p;
}

int th_write_file(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f)
    return -1;
  if (n && fwrite(data, 1, n, f) != n) {
    fclose(f);
    return -1;
  }
  return fclose(f) == 0 ? 0 : -1;
}

unsigned char *th_read_file(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  unsigned char *buf = NULL;
  size_t cap = 0, len = 0;
  if (!f)
    return NULL;
  for (;;) {
    size_t got;
    if (len == cap) {
      unsigned char *nb;
      cap = cap ? cap * 2 : 65536;
      nb = realloc(buf, cap);
      if (!nb) {
        free(buf);
        fclose(f);
        return NULL;
      }
      buf = nb;
    }
    got = fread(buf + len, 1, cap - len, f);
    len += got;
    if (got == 0)
      break;
  }
  fclose(f);
  *n = len;
  if (!buf)
    buf = malloc(1);
  return buf;
}

void th_fill(void *buf, size_t n, uint32_t seed) {
  unsigned char *p = buf;
  uint32_t x = seed ? seed : 0x9e3779b9u;
  for (size_t i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    p[i] = (unsigned char)x;
  }
}

int th_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

int64_t th_file_size(const char *path) {
  struct stat st;
  if (stat(path, &st) != 0)
    return -1;
  return (int64_t)st.st_size;
}

int th_make_file(const char *path, size_t n, uint32_t seed) {
  unsigned char *buf = malloc(n ? n : 1);
  int rc;
  if (!buf)
    return -1;
  th_fill(buf, n, seed);
  rc = th_write_file(path, buf, n);
  free(buf);
  return rc;
}

th_res th_res_now(void) {
  th_res r;
  r.files = th_open_file_count();
  r.maps = th_tmp_mapping_count();
  return r;
}

int th_file_equals(const char *path, const void *data, size_t n) {
  size_t got = 0;
  unsigned char *buf = th_read_file(path, &got);
  int same;
  if (!buf)
    return 0;
  same = got == n && (n == 0 || memcmp(buf, data, n) == 0);
  free(buf);
  return same;
}

/* ======================================================================== */
/* POSIX implementations of the OS-specific helpers (procfs, fork+exec).     */
/* A win32 version of this section comes with the Windows backend.          */
/* ======================================================================== */
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

int th_open_file_count(void) {
  DIR *d = opendir("/proc/self/fd");
  struct dirent *e;
  int n = 0;
  if (!d)
    return -1;
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.')
      n++;
  closedir(d);
  return n - 1; /* the directory stream's own descriptor */
}

int th_tmp_mapping_count(void) {
  FILE *f = fopen("/proc/self/maps", "r");
  char line[1024];
  const char *dir = th_tmpdir();
  int n = 0;
  if (!f)
    return -1;
  while (fgets(line, sizeof line, f))
    if (strstr(line, dir))
      n++;
  fclose(f);
  return n;
}

intptr_t th_spawn_self(const char *const *args) {
  char exe[4096];
  const char *argv[32];
  ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  size_t i = 0;
  pid_t pid;
  if (len <= 0)
    return -1;
  exe[len] = '\0';
  argv[i++] = exe;
  while (args[i - 1] && i < 31) {
    argv[i] = args[i - 1];
    i++;
  }
  argv[i] = NULL;
  fflush(NULL);
  pid = fork();
  if (pid < 0)
    return -1;
  if (pid == 0) {
    execv(exe, (char *const *)argv);
    _exit(127);
  }
  return (intptr_t)pid;
}

int th_wait_child(intptr_t proc) {
  int status;
  pid_t r;
  do
    r = waitpid((pid_t)proc, &status, 0);
  while (r < 0 && errno == EINTR);
  if (r < 0 || !WIFEXITED(status))
    return -1;
  return WEXITSTATUS(status);
}

void th_yield(void) { sched_yield(); }
