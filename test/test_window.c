/* test_window.c -- sliding windows tile the range exactly as mmf.h
 * documents, forward and backward, for edge sizes; WRITE windows change
 * the file, COPY windows do not; MMF_WINDOW_AUTO and MMF_WINDOW_AHEAD
 * deliver the same bytes. Portable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "helpers.h"
#include "internal.h" /* mmf__auto_decision, mmf__window_touch_count */
#include "mmf.h"

static unsigned char *pattern(size_t n, uint32_t seed) {
  unsigned char *b = malloc(n ? n : 1);
  assert_non_null(b);
  th_fill(b, n, seed);
  return b;
}

/* The flag sets the walk tests loop over: bit 0 of f walks backward,
 * bit 1 adds the read-ahead thread. */
static unsigned walk_flags(unsigned f) {
  return (f & 1 ? MMF_WINDOW_BACKWARD : 0) | (f & 2 ? MMF_WINDOW_AHEAD : 0);
}

static size_t round_window(size_t ws, unsigned flags) {
  size_t g = mmf_granularity();
  if (ws == 0)
    ws = (flags & MMF_WINDOW_AHEAD) ? MMF_WINDOW_AHEAD_SIZE
                                    : MMF_WINDOW_DEFAULT_SIZE;
  return (ws + g - 1) / g * g;
}

/* Walk [start, end) of m (end as passed: 0 = end of mapping) and check that
 * window k is exactly the one mmf.h documents and shows the file's bytes
 * `file`. At most one window is mapped at any time (four with
 * MMF_WINDOW_AHEAD: the caller's, two ahead and one being unmapped). */
static void check_walk(mmf_map *m, const unsigned char *file, uint64_t start,
                       uint64_t end_arg, size_t ws, unsigned flags) {
  uint64_t end = end_arg ? end_arg : mmf_map_size(m);
  size_t s = round_window(ws, flags);
  int backward = (flags & MMF_WINDOW_BACKWARD) != 0;
  int ahead = (flags & MMF_WINDOW_AHEAD) != 0;
  mmf_window *w;
  uint64_t k = 0;
  int maps0 = th_tmp_mapping_count();
  void *data;
  size_t size;
  uint64_t off;
  int rc;

  TH_OK(mmf_window_open(&w, m, start, end_arg, ws, MMF_ACCESS_READ, flags));
  while ((rc = mmf_window_next(w, &data, &size, &off)) == 1) {
    uint64_t lo, hi;
    if (!backward) {
      lo = start + k * s;
      hi = start + (k + 1) * s < end ? start + (k + 1) * s : end;
    } else {
      lo = end - start > (k + 1) * s ? end - (k + 1) * s : start;
      hi = end - k * s;
    }
    if (off != lo || size != hi - lo)
      print_error("window %llu: got [%llu,+%zu) want [%llu,%llu) (start %llu "
                  "end %llu ws %zu %s)\n",
                  (unsigned long long)k, (unsigned long long)off, size,
                  (unsigned long long)lo, (unsigned long long)hi,
                  (unsigned long long)start, (unsigned long long)end, ws,
                  backward ? "backward" : "forward");
    assert_int_equal(off, lo);
    assert_int_equal(size, hi - lo);
    assert_true(size > 0);
    assert_memory_equal(data, file + off, size);
    assert_true(th_tmp_mapping_count() <= maps0 + (ahead ? 4 : 1));
    k++;
  }
  assert_int_equal(rc, 0);
  /* (the caller maps a window itself when the thread has not started it) */
  assert_true(mmf_window_ahead_count(w) <= (ahead ? k : 0));
  /* The number of windows is the ceiling of the range over the size. */
  assert_int_equal(k, (end - start + s - 1) / s);
  /* At the end it stays at the end. */
  assert_int_equal(mmf_window_next(w, &data, &size, &off), 0);
  assert_null(data);
  assert_int_equal(size, 0);
  assert_int_equal(mmf_window_buffered_count(w), 0);
  TH_OK(mmf_window_close(w));
  assert_int_equal(th_tmp_mapping_count(), maps0);
}

static void windows_tile_ranges_forward_and_backward(void **state) {
  static const size_t file_sizes[] = {1,     4095,  4096,  4097,
                                      65535, 65536, 65537, 300001};
  static const size_t win_sizes[] = {0,     1,     4095,  4096,
                                     4097,  65535, 65536, 65537};
  th_res r = th_res_now();
  (void)state;
  for (size_t i = 0; i < sizeof file_sizes / sizeof file_sizes[0]; i++) {
    size_t n = file_sizes[i];
    unsigned char *file = pattern(n, (uint32_t)n);
    const char *p = th_path("tiles");
    mmf_map *m;
    assert_int_equal(th_write_file(p, file, n), 0);
    TH_OK(mmf_map_open(&m, p, MMF_PROT_READ, 0, 0));
    for (size_t j = 0; j < sizeof win_sizes / sizeof win_sizes[0]; j++) {
      for (unsigned f = 0; f < 4; f++) {
        unsigned flags = walk_flags(f);
        size_t ws = win_sizes[j];
        check_walk(m, file, 0, 0, ws, flags);            /* all of it */
        check_walk(m, file, 0, n, ws, flags);            /* explicit end */
        check_walk(m, file, n / 3, n - n / 5, ws, flags); /* inside */
        check_walk(m, file, n - 1, n, ws, flags);        /* last byte */
        check_walk(m, file, 0, 1, ws, flags);            /* first byte */
        if (n > 2)
          check_walk(m, file, 1, n - 1, ws, flags); /* unaligned both */
      }
    }
    TH_OK(mmf_map_close(m));
    free(file);
  }
  TH_ASSERT_RES_SAME(r);
}

static void window_over_an_empty_range_delivers_nothing(void **state) {
  const char *p = th_path("emptyrange");
  static const uint64_t at[] = {1, 4096, 5000};
  mmf_map *m;
  mmf_window *w;
  void *data = (void *)&data;
  size_t size = 99;
  uint64_t off = 99;
  (void)state;
  assert_int_equal(th_make_file(p, 5000, 3), 0);
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READ, 0, 0));
  for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
    for (unsigned flags = 0; flags <= MMF_WINDOW_BACKWARD; flags++) {
      TH_OK(mmf_window_open(&w, m, at[i], at[i], 4096, MMF_ACCESS_READ,
                            flags));
      assert_int_equal(mmf_window_next(w, &data, &size, &off), 0);
      assert_null(data);
      assert_int_equal(size, 0);
      TH_OK(mmf_window_close(w));
    }
  }
  /* start == size with end 0 (= end of mapping) is empty too. */
  TH_OK(mmf_window_open(&w, m, 5000, 0, 0, MMF_ACCESS_READ, 0));
  assert_int_equal(mmf_window_next(w, &data, &size, NULL), 0);
  TH_OK(mmf_window_close(w));
  TH_OK(mmf_map_close(m));
}

/* Walk with WRITE (or COPY) access adding `delta` to every byte. */
static void write_walk(mmf_map *m, uint64_t start, uint64_t end, size_t ws,
                       unsigned access, unsigned flags, unsigned char delta) {
  mmf_window *w;
  void *data;
  size_t size;
  uint64_t off;
  int rc;
  TH_OK(mmf_window_open(&w, m, start, end, ws, access, flags));
  while ((rc = mmf_window_next(w, &data, &size, &off)) == 1)
    for (size_t i = 0; i < size; i++)
      ((unsigned char *)data)[i] = (unsigned char)(((unsigned char *)data)[i] +
                                                   delta);
  assert_int_equal(rc, 0);
  TH_OK(mmf_window_close(w));
}

static void write_windows_change_the_file(void **state) {
  const size_t n = 200000 + 123;
  unsigned char *want = pattern(n, 4);
  const char *p = th_path("winwrite");
  mmf_map *m;
  (void)state;
  assert_int_equal(th_write_file(p, want, n), 0);
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READWRITE, 0, 0));

  write_walk(m, 0, 0, 65536, MMF_ACCESS_WRITE, 0, 1);
  for (size_t i = 0; i < n; i++)
    want[i] = (unsigned char)(want[i] + 1);
  assert_true(th_file_equals(p, want, n));

  write_walk(m, 777, n - 999, 4097, MMF_ACCESS_WRITE, MMF_WINDOW_BACKWARD, 2);
  for (size_t i = 777; i < n - 999; i++)
    want[i] = (unsigned char)(want[i] + 2);
  assert_true(th_file_equals(p, want, n));

  write_walk(m, 0, 0, 1, MMF_ACCESS_WRITE | MMF_VIEW_POPULATE,
             MMF_WINDOW_BACKWARD, 3);
  for (size_t i = 0; i < n; i++)
    want[i] = (unsigned char)(want[i] + 3);
  assert_true(th_file_equals(p, want, n));

  /* COPY windows are private: the file does not change. */
  write_walk(m, 0, 0, 65536, MMF_ACCESS_COPY, 0, 9);
  write_walk(m, 5, n, 4096, MMF_ACCESS_COPY, MMF_WINDOW_BACKWARD, 9);
  assert_true(th_file_equals(p, want, n));
  TH_OK(mmf_map_close(m));
  free(want);
}

static void previous_write_window_reaches_file_when_next_is_called(
    void **state) {
  /* Windows of one granule (4 KiB on Linux, 64 KiB on Windows). */
  const size_t g = mmf_granularity(), n = 5 * g;
  unsigned char *want = pattern(n, 5);
  const char *p = th_path("winstep");
  unsigned char byte;
  mmf_map *m;
  mmf_window *w;
  void *data;
  size_t size;
  uint64_t off, prev = 0;
  int k;
  (void)state;
  assert_int_equal(th_write_file(p, want, n), 0);
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READWRITE, 0, 0));
  TH_OK(mmf_window_open(&w, m, 0, 0, g, MMF_ACCESS_WRITE, 0));
  for (k = 0; mmf_window_next(w, &data, &size, &off) == 1; k++) {
    if (k > 0) {
      TH_OK(mmf_map_read(m, prev, &byte, 1, NULL));
      assert_int_equal(byte, 0xF0 + k - 1);
    }
    assert_int_equal(size, g);
    memset(data, 0xF0 + k, size);
    prev = off;
  }
  assert_int_equal(k, 5);
  TH_OK(mmf_window_close(w));
  for (k = 0; k < 5; k++)
    memset(want + k * g, 0xF0 + k, g);
  TH_OK(mmf_map_close(m));
  assert_true(th_file_equals(p, want, n));
  free(want);
}

/* READ and WRITE walks cut their mapped windows out of one longer view, a
 * span (window.c): with spans made three windows long here, a walk
 * maps a new span every third window, never holds
 * more than one view, and drops each window's pages when it moves on (so
 * memory stays bounded as with a view per window); with POPULATE, the
 * window it hands out is mapped in already. Forward and backward, with a
 * range that starts and ends off the granularity. */
static void span_windows_are_bounded_and_reach_the_file(void **state) {
  const size_t g = mmf_granularity(), page = mmf_page_size();
  const size_t ws = 2 * g, n = 20 * ws + 123;
  const uint64_t start = 77, end = n - 1000;
  unsigned char *want = pattern(n, 6);
  const char *p = th_path("winspan");
  mmf_map *m;
  (void)state;
  assert_int_equal(th_write_file(p, want, n), 0);
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READWRITE, 0, 0));
  mmf__window_span_max = 3 * ws;
  for (unsigned f = 0; f < 2; f++) {
    unsigned flags = f ? MMF_WINDOW_BACKWARD : 0;
    unsigned char delta = (unsigned char)(f + 1);
    int maps0 = th_tmp_mapping_count();
    unsigned char *prev = NULL;
    mmf_window *w;
    void *data;
    size_t size;
    uint64_t off, k = 0;
    int rc;
    TH_OK(mmf_window_open(&w, m, start, end, ws,
                          MMF_ACCESS_WRITE | MMF_VIEW_POPULATE, flags));
    while ((rc = mmf_window_next(w, &data, &size, &off)) == 1) {
      unsigned char *d = data;
      uint64_t lo = f ? (end - start > (k + 1) * ws ? end - (k + 1) * ws
                                                    : start)
                      : start + k * ws;
      assert_int_equal(off, lo);
      assert_memory_equal(d, want + off, size);
      assert_true(th_tmp_mapping_count() <= maps0 + 1);
      /* The page holding the window's middle byte is mapped in already
       * (Linux: Windows only reads it in); the last window's is out. */
      if (!th_is_windows())
        assert_int_equal(th_page_is_mapped(d + size / 2), 1);
      /* (a new span, every third window, may be where the old one was) */
      if (prev && k % 3 != 0 && !th_is_wine())
        assert_int_equal(th_page_is_mapped(prev), 0);
      for (size_t i = 0; i < size; i++)
        d[i] = (unsigned char)(d[i] + delta);
      /* a page wholly inside the window (the range's ends are not
       * aligned, so the first and last windows may have none) */
      prev = (unsigned char *)(((uintptr_t)d + page - 1) / page * page);
      if (prev + page > d + size)
        prev = NULL;
      k++;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(k, (end - start + ws - 1) / ws);
    TH_OK(mmf_window_close(w));
    assert_int_equal(th_tmp_mapping_count(), maps0);
    for (uint64_t i = start; i < end; i++)
      want[i] = (unsigned char)(want[i] + delta);
    assert_true(th_file_equals(p, want, n));
  }
  mmf__window_span_max = (size_t)-1; /* one span for the whole range */
  write_walk(m, 0, 0, ws, MMF_ACCESS_WRITE, 0, 5);
  for (size_t i = 0; i < n; i++)
    want[i] = (unsigned char)(want[i] + 5);
  assert_true(th_file_equals(p, want, n));
  TH_OK(mmf_map_close(m));
  free(want);
}

/* A file of `n` bytes `data` written `chunk` bytes at a time: Linux 6.x
 * caches it in folios of about that size. */
static void write_in_chunks(const char *p, const unsigned char *data,
                            size_t n, size_t chunk) {
  mmf_map *m;
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READWRITE,
                     MMF_OPEN_CREATE | MMF_OPEN_TRUNCATE, n));
  for (size_t off = 0; off < n; off += chunk)
    TH_OK(mmf_map_write(m, off, data + off, n - off < chunk ? n - off : chunk));
  TH_OK(mmf_map_close(m));
}

/* 1 when a read of one byte of `m` (at 1 MiB) maps more than the kernel's
 * 64 KiB fault-around block: the file is cached in large folios (Linux
 * 6.x on ext4 and others, for a file written 1 MiB at a time; not on
 * tmpfs without huge pages, nor where the page cache has no large folios).
 * The view is the whole file: one of 2 MiB or more gets a 2 MiB-aligned
 * address, and only where address and offset line up does a fault map a
 * whole folio (docs/BENCHMARKS.md, "The AUTO probe"). */
static int cached_in_large_folios(mmf_map *m) {
  const size_t page = mmf_page_size(), mib = (size_t)1 << 20;
  mmf_view *v;
  const volatile unsigned char *d;
  int mapped = 0;
  TH_OK(mmf_view_map(&v, m, 0, 0, MMF_ACCESS_READ));
  d = (const volatile unsigned char *)mmf_view_data(v) + mib;
  (void)d[0];
  for (size_t i = 0; i < mib; i += page)
    mapped += th_page_is_mapped((const void *)(d + i)) == 1;
  TH_OK(mmf_view_unmap(v));
  return mapped > (int)((64 << 10) / page);
}

/* A span walk with POPULATE populates its first window with MADV_POPULATE
 * and counts the faults: a file cached in large folios took one per folio,
 * so the rest is touched (a fault per folio, the whole folio mapped);
 * small folios took one per page, and it keeps populating. Either way every
 * page of a window is mapped in when it is handed out, and a WRITE walk's
 * pages writable (no fault on the first store). Touching happens only with
 * spans (Linux), and for WRITE walks only where mmf__touch can write. */
static void span_walks_touch_large_folios_only(void **state) {
  const size_t mib = (size_t)1 << 20, n = 8 * mib;
  unsigned char *want = pattern(n, 7);
  const char *p = th_path("wintouch");
  static const size_t chunks[] = {(size_t)1 << 20, 4096};
  static const unsigned accesses[] = {MMF_ACCESS_READ, MMF_ACCESS_WRITE};
  (void)state;
  for (size_t c = 0; c < 2; c++) {
    write_in_chunks(p, want, n, chunks[c]);
    for (size_t a = 0; a < 2; a++) {
      mmf_map *m;
      mmf_window *w;
      void *data;
      size_t size, windows = 0;
      int rc;
      int touches;
      TH_OK(mmf_map_open(&m, p, MMF_PROT_READWRITE, 0, 0));
      touches = !th_is_windows() && cached_in_large_folios(m) &&
                (accesses[a] == MMF_ACCESS_READ || mmf__touch_writes());
      if (c == 0 && !touches)
        print_message("(not cached in large folios here, or no write "
                      "touch: the walk should populate every window)\n");
      TH_OK(mmf_window_open(&w, m, 0, 0, mib, accesses[a] | MMF_VIEW_POPULATE,
                            0));
      while ((rc = mmf_window_next(w, &data, &size, NULL)) == 1) {
        unsigned char *d = data;
        if (!th_is_windows()) {
          uint64_t f0 = mmf__os_minor_faults();
          for (size_t i = 0; i < size; i += mmf_page_size())
            assert_int_equal(th_page_is_mapped(d + i), 1);
          if (accesses[a] == MMF_ACCESS_WRITE) {
            th_store_per_page(d, size);
            assert_int_equal(mmf__os_minor_faults() - f0, 0);
          }
        }
        assert_memory_equal(d, want + windows * mib, size);
        windows++;
      }
      assert_int_equal(rc, 0);
      /* all but the first, where touching is right; else none */
      assert_int_equal(mmf__window_touch_count(w), touches ? windows - 1 : 0);
      TH_OK(mmf_window_close(w));
      TH_OK(mmf_map_close(m));
    }
  }
  free(want);
}

static void window_holds_its_mapping_and_closes_mid_walk(void **state) {
  /* With AHEAD the thread has the next windows prepared, or is preparing
   * them, when the walk is closed; AUTO's read path does not use it. */
  static const unsigned flag_sets[] = {
      0, MMF_WINDOW_AHEAD, MMF_WINDOW_AHEAD | MMF_WINDOW_BACKWARD,
      MMF_WINDOW_AHEAD | MMF_WINDOW_AUTO};
  const size_t n = 3 * 65536 + 100;
  const size_t ws = round_window(8192, 0); /* 8 KiB, or 64 KiB on Windows */
  unsigned char *want = pattern(n, 6);
  const char *p = th_path("winlife");
  th_res r = th_res_now();
  mmf_map *m;
  mmf_window *w;
  void *data;
  size_t size;
  uint64_t off;
  (void)state;
  assert_int_equal(th_write_file(p, want, n), 0);
  for (size_t i = 0; i < sizeof flag_sets / sizeof flag_sets[0]; i++) {
    unsigned flags = flag_sets[i];
    uint64_t second = flags & MMF_WINDOW_BACKWARD ? n - 2 * ws : ws;
    TH_OK(mmf_map_open(&m, p, MMF_PROT_READ, 0, 0));
    TH_OK(mmf_window_open(&w, m, 0, 0, 8192, MMF_ACCESS_READ, flags));
    TH_OK(mmf_map_close(m)); /* the walk keeps the mapping alive */
    assert_int_equal(mmf_window_next(w, &data, &size, &off), 1);
    assert_int_equal(mmf_window_next(w, &data, &size, &off), 1);
    assert_int_equal(off, second);
    assert_int_equal(size, ws);
    assert_memory_equal(data, want + second, ws);
    /* AUTO with windows this small takes the read path: no thread. */
    assert_true(mmf_window_ahead_count(w) <=
                ((flags & MMF_WINDOW_AHEAD) && !(flags & MMF_WINDOW_AUTO)
                     ? 2u
                     : 0u));
    TH_OK(mmf_window_close(w)); /* mid-walk: unmaps, closes the file */
    TH_ASSERT_RES_SAME(r);
  }
  free(want);
}

/* The read-ahead thread is real: one more thread runs once the walk has
 * started, and none is left after mmf_window_close, whether the walk
 * ended or not. (The OS may take a moment to drop a joined thread from
 * its lists.) */
static int threads_settle_at(int want) {
  int n = th_thread_count();
  for (int i = 0; i < 200 && n != want; i++) {
    th_yield();
    th_sleep_ms(10);
    n = th_thread_count();
  }
  return n;
}

static void ahead_thread_runs_during_the_walk_only(void **state) {
  const size_t n = 1 << 20;
  unsigned char *want = pattern(n, 12);
  const char *p = th_path("winthread");
  int base;
  mmf_map *m;
  mmf_window *w;
  void *data;
  size_t size;
  uint64_t off;
  (void)state;
  assert_int_equal(th_write_file(p, want, n), 0);
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READ, 0, 0));
  base = th_thread_count();
  assert_true(base >= 1);
  for (int whole = 0; whole < 2; whole++) {
    TH_OK(mmf_window_open(&w, m, 0, 0, 65536, MMF_ACCESS_READ,
                          MMF_WINDOW_AHEAD));
    assert_int_equal(th_thread_count(), base); /* not before the first */
    assert_int_equal(mmf_window_next(w, &data, &size, &off), 1);
    assert_int_equal(th_thread_count(), base + 1);
    assert_memory_equal(data, want, size);
    /* Given time between calls, the thread prepares the later windows
     * (the first is asked for and needed at once: the caller maps it).
     * Not necessarily every one: on a loaded machine the thread may not
     * have run within the sleep, and the caller then maps the window
     * itself (seen once in CI-like load); the count is exact otherwise. */
    th_sleep_ms(20);
    while (whole && mmf_window_next(w, &data, &size, &off) == 1) {
      assert_memory_equal(data, want + off, size);
      th_sleep_ms(20);
    }
    if (whole) {
      assert_true(mmf_window_ahead_count(w) >= 1);
      assert_true(mmf_window_ahead_count(w) <= n / 65536 - 1);
    } else {
      assert_int_equal(mmf_window_ahead_count(w), 0);
    }
    TH_OK(mmf_window_close(w));
    assert_int_equal(threads_settle_at(base), base);
  }
  /* A walk of one window has nothing to get ahead to: no thread; one byte
   * more makes two windows, and the thread starts. Both directions. */
  for (unsigned f = 0; f < 4; f++) {
    unsigned flags = MMF_WINDOW_AHEAD | (f & 1 ? MMF_WINDOW_BACKWARD : 0);
    uint64_t end = 65536 + (f >> 1);
    TH_OK(mmf_window_open(&w, m, 0, end, 65536, MMF_ACCESS_READ, flags));
    assert_int_equal(mmf_window_next(w, &data, &size, &off), 1);
    assert_int_equal(th_thread_count(), base + (int)(f >> 1));
    assert_memory_equal(data, want + off, size);
    while (mmf_window_next(w, &data, &size, &off) == 1)
      assert_memory_equal(data, want + off, size);
    if (f >> 1 == 0)
      assert_int_equal(mmf_window_ahead_count(w), 0);
    TH_OK(mmf_window_close(w));
    assert_int_equal(threads_settle_at(base), base);
  }
  TH_OK(mmf_map_close(m));
  free(want);
}

/* Window size 0 means MMF_WINDOW_AHEAD_SIZE with AHEAD and
 * MMF_WINDOW_DEFAULT_SIZE without (check_walk checks the tiling); with
 * three default windows the thread starts at the first. */
static void ahead_walks_default_to_larger_windows(void **state) {
  const size_t n = 2 * MMF_WINDOW_AHEAD_SIZE + 12345;
  unsigned char *file = pattern(n, 13);
  const char *p = th_path("winaheadsize");
  th_res r = th_res_now();
  int base = th_thread_count();
  mmf_map *m;
  mmf_window *w;
  void *data;
  size_t size;
  uint64_t off;
  (void)state;
  assert_true(MMF_WINDOW_AHEAD_SIZE > MMF_WINDOW_DEFAULT_SIZE);
  assert_int_equal(th_write_file(p, file, n), 0);
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READ, 0, 0));
  TH_OK(mmf_window_open(&w, m, 0, 0, 0, MMF_ACCESS_READ, MMF_WINDOW_AHEAD));
  assert_int_equal(mmf_window_next(w, &data, &size, &off), 1);
  assert_int_equal(size, MMF_WINDOW_AHEAD_SIZE);
  assert_int_equal(th_thread_count(), base + 1);
  TH_OK(mmf_window_close(w));
  assert_int_equal(threads_settle_at(base), base);
  check_walk(m, file, 0, 0, 0, MMF_WINDOW_AHEAD);
  check_walk(m, file, 0, 0, 0, MMF_WINDOW_AHEAD | MMF_WINDOW_BACKWARD);
  check_walk(m, file, 0, 0, 0, 0);
  TH_OK(mmf_map_close(m));
  free(file);
  TH_ASSERT_RES_SAME(r);
}

/* AUTO walk: same bytes, tiling in order, windows never larger than the
 * window size, and mapped windows placed as mmf.h documents: whole 2 MiB
 * cells of the file (up to the range's ends), the first of them 2 MiB, the
 * others 2 MiB (the trial's) or the window size rounded down to a multiple
 * of 2 MiB. `decide` (internal.h) forces AUTO's decision; forced, the
 * range must be long enough for windows after the trial, and the walk is
 * also checked for what follows it: mostly mapped, by the read-ahead thread
 * with AHEAD (MAP), or read (READ). */
static void check_auto_walk(mmf_map *m, const unsigned char *file, uint64_t start,
                            uint64_t end_arg, size_t ws, unsigned flags,
                            int decide) {
  const uint64_t grid = (uint64_t)2 << 20;
  uint64_t end = end_arg ? end_arg : mmf_map_size(m);
  int backward = (flags & MMF_WINDOW_BACKWARD) != 0;
  uint64_t next = backward ? end : start, count = 0, mapped = 0;
  uint64_t buffered = 0, buffered_bytes = 0;
  size_t s = round_window(ws, flags);
  size_t map_s = s >= grid ? s - (size_t)(s % grid) : s;
  mmf_window *w;
  void *data;
  size_t size;
  uint64_t off;
  int rc;
  mmf__auto_decision = decide;
  TH_OK(mmf_window_open(&w, m, start, end_arg, ws, MMF_ACCESS_READ,
                        flags | MMF_WINDOW_AUTO));
  while ((rc = mmf_window_next(w, &data, &size, &off)) == 1) {
    int in_buffer = mmf_window_buffered_count(w) != buffered;
    assert_true(size > 0 && size <= s);
    if (!in_buffer) {
      /* Mapped: only with windows of 2 MiB or more, from a multiple of
       * 2 MiB to one (or to the range's far end). */
      uint64_t near = backward ? off + size : off;
      uint64_t far = backward ? off : off + size;
      uint64_t far_end = backward ? start : end;
      uint64_t left = backward ? off + size - start : end - off;
      assert_true(s >= grid);
      assert_int_equal(near % grid, 0);
      assert_true(far % grid == 0 || far == far_end);
      if (mapped++ == 0)
        assert_int_equal(size, left < grid ? left : grid);
      else
        assert_true(size == grid || size == map_s || far == far_end);
    } else {
      assert_true(size <= ((size_t)1 << 20));
      buffered_bytes += size;
    }
    buffered = mmf_window_buffered_count(w);
    if (backward) {
      assert_int_equal(off + size, next);
      next = off;
    } else {
      assert_int_equal(off, next);
      next = off + size;
    }
    assert_memory_equal(data, file + off, size);
    if (in_buffer) /* the walk's scratch (mmf.h): reaches nothing */
      memset(data, 0xa5, size);
    count++;
  }
  mmf__auto_decision = MMF__AUTO_MEASURE;
  assert_int_equal(rc, 0);
  assert_int_equal(next, backward ? start : end);
  /* Windows of 2 MiB or more are probed through a mapped window (the
   * ranges here hold a whole 2 MiB cell); smaller ones take the read path
   * from the start (mmf.h), where the read-ahead thread (AHEAD) has no
   * part. */
  if (s >= grid) {
    assert_true(mapped > 0);
    assert_true(mmf_window_ahead_count(w) <= mapped);
  } else {
    assert_int_equal(mapped, 0);
    assert_int_equal(mmf_window_ahead_count(w), 0);
  }
  assert_int_equal(mmf_window_buffered_count(w), count - mapped);
  if (buffered_bytes > 0) { /* the file is as it was */
    size_t len = (size_t)(end - start);
    unsigned char *back = malloc(len ? len : 1);
    assert_non_null(back);
    TH_OK(mmf_map_read_exact(m, start, back, len));
    assert_memory_equal(back, file + start, len);
    free(back);
  }
  if (decide == MMF__AUTO_MAP) {
    /* Up to the first multiple of 2 MiB, the probe, two rounds of the
     * trial and back to the grid: well under half of these ranges. */
    assert_true(buffered_bytes < (end - start) / 2);
    if (flags & MMF_WINDOW_AHEAD)
      assert_true(mmf_window_ahead_count(w) > 0);
  } else if (decide == MMF__AUTO_READ) {
    /* The probe and one mapped piece per round of the trial (two). */
    assert_true(mapped <= 3);
    assert_int_equal(mmf_window_ahead_count(w), 0);
  }
  TH_OK(mmf_window_close(w));
}

static void auto_windows_deliver_identical_data(void **state) {
  const size_t n = (12 << 20) + 4321;
  unsigned char *file = pattern(n, 7);
  const char *p = th_path("winauto");
  th_res r = th_res_now();
  mmf_map *m;
  mmf_window *w = (mmf_window *)&w;
  (void)state;
  assert_int_equal(th_write_file(p, file, n), 0);
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READWRITE, 0, 0));
  for (unsigned f = 0; f < 4; f++) {
    unsigned flags = walk_flags(f);
    check_auto_walk(m, file, 0, n, 1 << 20, flags, MMF__AUTO_MEASURE);
    check_auto_walk(m, file, 0, n, 0, flags, MMF__AUTO_MEASURE);
    check_auto_walk(m, file, 12345, n - 54321, 3 << 20, flags,
                    MMF__AUTO_MEASURE);
    check_auto_walk(m, file, 1, 2, 4096, flags, MMF__AUTO_MEASURE);
  }
  /* Both are for READ walks only. */
  for (unsigned f = 0; f < 2; f++) {
    unsigned flags = f ? MMF_WINDOW_AHEAD : MMF_WINDOW_AUTO;
    TH_EXPECT_ERR(mmf_window_open(&w, m, 0, 0, 0, MMF_ACCESS_WRITE, flags),
                  MMF_EINVAL, f ? "MMF_WINDOW_AHEAD" : "MMF_WINDOW_AUTO");
    assert_null(w);
    w = (mmf_window *)&w;
    TH_EXPECT_ERR(mmf_window_open(&w, m, 0, 0, 0, MMF_ACCESS_COPY, flags),
                  MMF_EINVAL, "mmf_window_open");
    assert_null(w);
    w = (mmf_window *)&w;
  }
  TH_OK(mmf_map_close(m));
  TH_ASSERT_RES_SAME(r);
  free(file);
}

/* A walk through read buffers must still honour the caller's window size:
 * mmf.h promises buffered windows are smaller than mapped ones. */
static void auto_windows_are_never_larger_than_window_size(void **state) {
  const size_t n = 16 << 20;
  unsigned char *file = pattern(n, 8);
  const char *p = th_path("winauto-small");
  mmf_map *m;
  (void)state;
  assert_int_equal(th_write_file(p, file, n), 0);
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READ, 0, 0));
  for (unsigned f = 0; f < 4; f++) {
    unsigned flags = walk_flags(f);
    check_auto_walk(m, file, 0, 0, 128 << 10, flags, MMF__AUTO_MEASURE);
    check_auto_walk(m, file, 100, n - 100, 192 << 10, flags,
                    MMF__AUTO_MEASURE);
  }
  TH_OK(mmf_map_close(m));
  free(file);
}

/* What follows AUTO's decision, forced either way (internal.h): mapped
 * windows stay on the 2 MiB grid whatever the window size and wherever
 * the range starts or ends, and so do those the read-ahead thread maps. */
static void auto_windows_after_the_decision_stay_on_the_grid(void **state) {
  const size_t n = (40 << 20) + 4321;
  unsigned char *file = pattern(n, 14);
  const char *p = th_path("winauto-grid");
  static const struct {
    uint64_t start, cut; /* the range: [start, n - cut) */
    size_t ws;
  } cases[] = {{0, 0, 4 << 20},
               {12345, 54321, 3 << 20},
               {(2 << 20) - 4096, 0, (2 << 20) + (64 << 10)},
               {(1 << 20) + 7, 1 << 20, 5 << 20}};
  th_res r = th_res_now();
  mmf_map *m;
  (void)state;
  assert_int_equal(th_write_file(p, file, n), 0);
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READ, 0, 0));
  for (int decide = MMF__AUTO_MAP; decide <= MMF__AUTO_READ; decide++)
    for (unsigned f = 0; f < 4; f++)
      for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        check_auto_walk(m, file, cases[c].start, n - cases[c].cut,
                        cases[c].ws, walk_flags(f), decide);
  TH_OK(mmf_map_close(m));
  TH_ASSERT_RES_SAME(r);
  free(file);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(windows_tile_ranges_forward_and_backward),
      cmocka_unit_test(window_over_an_empty_range_delivers_nothing),
      cmocka_unit_test(write_windows_change_the_file),
      cmocka_unit_test(previous_write_window_reaches_file_when_next_is_called),
      cmocka_unit_test_teardown(span_windows_are_bounded_and_reach_the_file,
                                th_restore_walk_hooks),
      cmocka_unit_test(span_walks_touch_large_folios_only),
      cmocka_unit_test(window_holds_its_mapping_and_closes_mid_walk),
      cmocka_unit_test(ahead_thread_runs_during_the_walk_only),
      cmocka_unit_test(ahead_walks_default_to_larger_windows),
      cmocka_unit_test(auto_windows_deliver_identical_data),
      cmocka_unit_test(auto_windows_are_never_larger_than_window_size),
      cmocka_unit_test_teardown(
          auto_windows_after_the_decision_stay_on_the_grid,
          th_restore_walk_hooks),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
