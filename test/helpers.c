/* test/helpers.c -- temp dirs and file utilities for the tests. */
#define _GNU_SOURCE
#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
