/* test/helpers.c -- the portable part of the test helpers: paths, file
 * utilities, patterns. The OS-specific part is helpers_posix.c or
 * helpers_win32.c. */
#include "helpers.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "internal.h" /* mmf__fault_arm, mmf__fault_fired, mmf__fault_call */
#include "mmf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *th_path(const char *name) {
  static char slots[8][1024];
  static int next;
  char *p = slots[next++ % 8];
  snprintf(p, sizeof slots[0], "%s/%s", th_tmpdir(), name);
  return p;
}

int th_write_file(const char *path, const void *data, size_t n) {
  FILE *f = th_fopen(path, "wb");
  if (!f)
    return -1;
  if (n && fwrite(data, 1, n, f) != n) {
    fclose(f);
    return -1;
  }
  return fclose(f) == 0 ? 0 : -1;
}

unsigned char *th_read_file(const char *path, size_t *n) {
  FILE *f = th_fopen(path, "rb");
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

/* ---- fault injection ----------------------------------------------------*/

int th_code_in(int code, const int *list) {
  for (; *list; list++)
    if (*list == code)
      return 1;
  return 0;
}

unsigned th_fault_loop(const char *api, const char *what, const int *codes,
                       int (*run)(void), void (*undo)(void)) {
  unsigned faults = 0;
  for (unsigned long n = 1;; n++) {
    th_res before = th_res_now();
    int rc, fired, optional;
    const char *call;
    mmf__fault_arm(n);
    rc = run();
    fired = mmf__fault_fired();
    optional = mmf__fault_fired_optional();
    call = mmf__fault_call();
    mmf__fault_arm(0);
    if (!fired) {
      if (rc != 0)
        print_error("%s without a fault: %s\n", api, mmf_last_error_message());
      assert_int_equal(rc, 0);
      undo();
      TH_ASSERT_RES_SAME(before);
      return faults;
    }
    faults++;
    /* A best-effort step's failure must not fail the operation. */
    if (optional && rc != 0)
      print_error("%s: fault #%lu in best-effort %s failed the call: %s\n",
                  api, n, call, mmf_last_error_message());
    assert_true(!optional || rc == 0);
    if (rc == 0 && (strcmp(call, "PrefetchVirtualMemory") == 0 ||
                    optional)) {
      /* populating is a request on Windows, as for mmf_view_map; a
       * best-effort step's failure is not the operation's */
      undo();
      TH_ASSERT_RES_SAME(before);
      continue;
    }
    if (rc == 0 || !th_code_in(rc, codes) ||
        !strstr(mmf_last_error_message(), api) ||
        !strstr(mmf_last_error_message(), what))
      print_error("%s: fault #%lu in %s gave %s: %s\n", api, n, call,
                  mmf_err_name(rc), mmf_last_error_message());
    assert_true(rc < 0);
    assert_true(th_code_in(rc, codes));
    assert_int_equal(mmf_last_error(), rc);
    assert_non_null(strstr(mmf_last_error_message(), api));
    assert_non_null(strstr(mmf_last_error_message(), what));
    TH_ASSERT_RES_SAME(before);
  }
}

/* Every test program's stdout unbuffered, before main: when ctest kills a
 * hung run (under Wine stdout is a pipe), what it printed, cmocka's
 * "[ RUN ]" line included, is still shown -- and a run that shows nothing
 * never reached main. */
__attribute__((constructor)) static void th_unbuffered_stdout(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
}

int th_wait_until(int (*ready)(void *ctx), void *ctx, unsigned max_ms) {
  unsigned spins = 0, slept = 0;
  for (;;) {
    if (ready(ctx))
      return 0;
    if (spins < 4000) {
      spins++;
      th_yield();
    } else if (slept < max_ms) {
      slept += 10; /* Windows sleeps at least a timer tick: 10-16 ms */
      th_sleep_ms(10);
    } else {
      return -1;
    }
  }
}

struct word_want {
  atomic_uint *w;
  unsigned want;
};

static int word_is(void *ctx) {
  struct word_want *ww = ctx;
  return atomic_load_explicit(ww->w, memory_order_acquire) == ww->want;
}

int th_wait_word(atomic_uint *w, unsigned want, unsigned max_ms) {
  struct word_want ww = {w, want};
  return th_wait_until(word_is, &ww, max_ms);
}

void th_mark_error_record(void) {
  mmf_map *m;
  assert_int_equal(mmf_map_open(&m, th_path("th-marker"), MMF_PROT_READ, 0, 0),
                   MMF_ENOENT);
}

void th_assert_error_record_marked(void) {
  if (mmf_last_error() != MMF_ENOENT ||
      !strstr(mmf_last_error_message(), "th-marker"))
    print_error("the error record changed: %s: %s\n",
                mmf_err_name(mmf_last_error()), mmf_last_error_message());
  assert_int_equal(mmf_last_error(), MMF_ENOENT);
  assert_non_null(strstr(mmf_last_error_message(), "th-marker"));
}

atomic_uint *th_word(void *base, size_t off) {
  return (atomic_uint *)((unsigned char *)base + off);
}

int th_wait_word_at(void *base, size_t off, unsigned want) {
  return th_wait_word(th_word(base, off), want, TH_WAIT_MS);
}

int th_restore_walk_hooks(void **state) {
  (void)state;
  mmf__auto_decision = MMF__AUTO_MEASURE;
  mmf__window_span_max = MMF_WINDOW_SPAN_MAX;
  return 0;
}

#if defined(__GNUC__)
__attribute__((no_sanitize_address))
#endif
void th_store_per_page(void *p, size_t len) {
  volatile unsigned char *d = p;
  size_t page = mmf_page_size();
  for (size_t i = 0; i < len; i += page)
    d[i] = d[i];
}
