/* test_view.c -- views: exact pointers at any offset, coherence, COPY
 * isolation, lifetime past the mapping, flush, advise, lock, map-time
 * options and EXEC views. Portable: I/O goes through the public API. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "helpers.h"
#include "mmf.h"

#define BIG (3 * 65536 + 1234) /* crosses several pages and granules */

static unsigned char *pattern(size_t n, uint32_t seed) {
  unsigned char *b = malloc(n);
  assert_non_null(b);
  th_fill(b, n, seed);
  return b;
}

/* A file of n bytes of pattern `seed`. */
static const char *make(const char *name, size_t n, uint32_t seed) {
  const char *p = th_path(name);
  assert_int_equal(th_make_file(p, n, seed), 0);
  return p;
}

/* The file's bytes [off, off+n) through mmf_map_read. */
static void expect_map_bytes(mmf_map *m, uint64_t off, const void *want,
                             size_t n) {
  unsigned char *got = malloc(n ? n : 1);
  size_t k = 0;
  assert_non_null(got);
  TH_OK(mmf_map_read(m, off, got, n, &k));
  assert_int_equal(k, n);
  assert_memory_equal(got, want, n);
  free(got);
}

static void view_at_unaligned_offset_returns_exact_pointer(void **state) {
  unsigned char *want = pattern(BIG, 7);
  const char *p = make("unaligned", BIG, 7);
  static const uint64_t offs[] = {0,     1,     7,     4095,  4096,  4097,
                                  8191,  65535, 65536, 65537, 70000, BIG - 4097,
                                  BIG - 2, BIG - 1};
  static const unsigned kinds[] = {MMF_ACCESS_READ, MMF_ACCESS_WRITE,
                                   MMF_ACCESS_COPY};
  mmf_map *m;
  th_res r;
  (void)state;
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READWRITE, 0, 0));
  r = th_res_now();
  for (size_t k = 0; k < 3; k++) {
    for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++) {
      size_t lens[] = {1, 2, 4095, 4096, 4097, 0};
      for (size_t j = 0; j < sizeof lens / sizeof lens[0]; j++) {
        size_t len = lens[j];
        size_t expect = len ? len : (size_t)(BIG - offs[i]);
        mmf_view *v;
        if (offs[i] + expect > BIG)
          continue;
        TH_OK(mmf_view_map(&v, m, offs[i], len, kinds[k]));
        assert_int_equal(mmf_view_offset(v), offs[i]);
        assert_int_equal(mmf_view_size(v), expect);
        assert_memory_equal(mmf_view_data(v), want + offs[i], expect);
        TH_OK(mmf_view_unmap(v));
      }
    }
  }
  TH_ASSERT_RES_SAME(r);
  TH_OK(mmf_map_close(m));
  free(want);
}

static void view_length_zero_maps_to_end_of_mapping(void **state) {
  unsigned char *want = pattern(BIG, 8);
  const char *p = make("tail", BIG, 8);
  mmf_map *m;
  mmf_view *v;
  (void)state;
  /* A mapping smaller than the file: length 0 stops at the mapping's end. */
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READ, 0, 70000));
  assert_int_equal(mmf_map_size(m), 70000);
  TH_OK(mmf_view_map(&v, m, 12345, 0, MMF_ACCESS_READ));
  assert_int_equal(mmf_view_size(v), 70000 - 12345);
  assert_memory_equal(mmf_view_data(v), want + 12345, 70000 - 12345);
  TH_OK(mmf_view_unmap(v));
  TH_OK(mmf_view_map(&v, m, 69999, 0, MMF_ACCESS_READ));
  assert_int_equal(mmf_view_size(v), 1);
  assert_int_equal(*(unsigned char *)mmf_view_data(v), want[69999]);
  TH_OK(mmf_view_unmap(v));
  TH_OK(mmf_map_close(m));
  /* The file itself was not shortened. */
  assert_int_equal(th_file_size(p), BIG);
  free(want);
}

static void write_view_stores_reach_the_file(void **state) {
  unsigned char *want = pattern(BIG, 9);
  const char *p = make("writes", BIG, 9);
  mmf_map *m;
  mmf_view *v;
  (void)state;
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READWRITE, 0, 0));
  TH_OK(mmf_view_map(&v, m, 4000, 70000, MMF_ACCESS_WRITE));
  memset(mmf_view_data(v), 0xAB, 70000);
  memset(want + 4000, 0xAB, 70000);
  /* Coherent with the read path at once, before any flush. */
  expect_map_bytes(m, 0, want, BIG);
  TH_OK(mmf_view_unmap(v));
  TH_OK(mmf_map_close(m));
  /* Unflushed stores still reach the file after unmap. */
  assert_true(th_file_equals(p, want, BIG));
  free(want);
}

static void two_views_of_one_mapping_are_coherent(void **state) {
  const char *p = make("twoviews", BIG, 10);
  mmf_map *m;
  mmf_view *a, *b, *c;
  unsigned char *pa, *pb, *pc;
  (void)state;
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READWRITE, 0, 0));
  TH_OK(mmf_view_map(&a, m, 0, 0, MMF_ACCESS_WRITE));
  TH_OK(mmf_view_map(&b, m, 65537, 10000, MMF_ACCESS_WRITE));
  TH_OK(mmf_view_map(&c, m, 65000, 20000, MMF_ACCESS_READ));
  pa = mmf_view_data(a);
  pb = mmf_view_data(b);
  pc = mmf_view_data(c);
  for (int i = 0; i < 10000; i++)
    pa[65537 + i] = (unsigned char)(i * 31 + 1);
  for (int i = 0; i < 10000; i++) {
    assert_int_equal(pb[i], (unsigned char)(i * 31 + 1));
    assert_int_equal(pc[537 + i], (unsigned char)(i * 31 + 1));
  }
  pb[5] = 0x5A;
  assert_int_equal(pa[65542], 0x5A);
  assert_int_equal(pc[542], 0x5A);
  TH_OK(mmf_view_unmap(a));
  TH_OK(mmf_view_unmap(b));
  TH_OK(mmf_view_unmap(c));
  TH_OK(mmf_map_close(m));
}

static void two_mappings_of_one_file_are_coherent(void **state) {
  const char *p = make("twomaps", BIG, 11);
  mmf_map *m1, *m2;
  mmf_view *v1, *v2;
  unsigned char *p1, *p2;
  (void)state;
  TH_OK(mmf_map_open(&m1, p, MMF_PROT_READWRITE, 0, 0));
  TH_OK(mmf_map_open(&m2, p, MMF_PROT_READ, 0, 0));
  TH_OK(mmf_view_map(&v1, m1, 3, 0, MMF_ACCESS_WRITE));
  TH_OK(mmf_view_map(&v2, m2, 0, 0, MMF_ACCESS_READ));
  p1 = mmf_view_data(v1);
  p2 = mmf_view_data(v2);
  p1[0] = (unsigned char)~p2[3];
  assert_int_equal(p2[3], p1[0]);
  p1[BIG - 4] = 0x42;
  assert_int_equal(p2[BIG - 1], 0x42);
  TH_OK(mmf_view_unmap(v1));
  TH_OK(mmf_view_unmap(v2));
  TH_OK(mmf_map_close(m1));
  TH_OK(mmf_map_close(m2));
}

static void view_and_map_read_write_are_coherent(void **state) {
  const char *p = make("rwcoh", BIG, 12);
  unsigned char buf[5000], back[5000];
  mmf_map *m;
  mmf_view *v;
  unsigned char *d;
  (void)state;
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READWRITE, 0, 0));
  TH_OK(mmf_view_map(&v, m, 100, 0, MMF_ACCESS_WRITE));
  d = mmf_view_data(v);
  /* mmf_map_write -> view, at once. */
  th_fill(buf, sizeof buf, 99);
  TH_OK(mmf_map_write(m, 4000, buf, sizeof buf));
  assert_memory_equal(d + 3900, buf, sizeof buf);
  /* view -> mmf_map_read, at once (no flush). */
  th_fill(buf, sizeof buf, 98);
  memcpy(d + 60000, buf, sizeof buf);
  TH_OK(mmf_map_read(m, 60100, back, sizeof back, NULL));
  assert_memory_equal(back, buf, sizeof buf);
  TH_OK(mmf_view_unmap(v));
  TH_OK(mmf_map_close(m));
}

static void copy_view_changes_never_reach_the_file(void **state) {
  unsigned char *want = pattern(BIG, 13);
  const char *p = make("copy", BIG, 13);
  static const int prots[] = {MMF_PROT_READ, MMF_PROT_READWRITE,
                              MMF_PROT_WRITECOPY};
  (void)state;
  for (size_t i = 0; i < 3; i++) {
    mmf_map *m;
    mmf_view *cv, *rv;
    unsigned char *c;
    TH_OK(mmf_map_open(&m, p, prots[i], 0, 0));
    TH_OK(mmf_view_map(&cv, m, 10, 0, MMF_ACCESS_COPY));
    TH_OK(mmf_view_map(&rv, m, 0, 0, MMF_ACCESS_READ));
    c = mmf_view_data(cv);
    memset(c, 0xEE, BIG - 10);
    /* The private copy sees its own stores... */
    assert_int_equal(c[0], 0xEE);
    assert_int_equal(c[BIG - 11], 0xEE);
    /* ...nobody else does, even after every kind of flush. */
    TH_OK(mmf_view_flush(cv, 0, 0, MMF_FLUSH_ASYNC));
    TH_OK(mmf_view_flush(cv, 0, 0, MMF_FLUSH_SYNC));
    TH_OK(mmf_view_flush(cv, 17, 5000, MMF_FLUSH_DURABLE));
    assert_memory_equal(mmf_view_data(rv), want, BIG);
    expect_map_bytes(m, 0, want, BIG);
    assert_true(th_file_equals(p, want, BIG));
    TH_OK(mmf_view_unmap(cv));
    TH_OK(mmf_view_unmap(rv));
    TH_OK(mmf_map_close(m));
    assert_true(th_file_equals(p, want, BIG));
  }
  free(want);
}

/* A COPY view is copy-on-write page by page: a page only read is still the
 * file's (shared with every other view), a written page is a private copy.
 * On real Windows VirtualQuery also shows each written page turned from
 * PAGE_WRITECOPY to PAGE_READWRITE; Wine does not do that, so there it is
 * checked only through the working set. */
static void copy_view_copies_only_the_pages_written(void **state) {
  const size_t page = mmf_page_size(), n = 6 * page;
  static const int written[6] = {0, 1, 0, 0, 1, 1};
  unsigned char *want = pattern(n, 22);
  const char *p = make("copy-pages", n, 22);
  volatile unsigned char sink = 0;
  mmf_map *m;
  mmf_view *v;
  unsigned char *d;
  (void)state;
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READ, 0, 0));
  TH_OK(mmf_view_map(&v, m, 0, 0, MMF_ACCESS_COPY));
  d = mmf_view_data(v);
  for (size_t i = 0; i < 6; i++) {
    sink ^= d[i * page]; /* every page present */
    if (written[i])
      d[i * page + 7] ^= 0xFF;
  }
  (void)sink;
  for (size_t i = 0; i < 6; i++) {
    int priv = th_copy_page_is_private(d + i * page);
    if (priv != written[i])
      print_error("page %zu: private %d, written %d\n", i, priv, written[i]);
    assert_int_equal(priv, written[i]);
    if (th_is_windows() && !th_is_wine())
      assert_int_equal(th_win32_copy_page_shows_readwrite(d + i * page),
                       written[i]);
  }
  TH_OK(mmf_view_unmap(v));
  TH_OK(mmf_map_close(m));
  assert_true(th_file_equals(p, want, n));
  free(want);
}

static void view_outlives_its_closed_mapping(void **state) {
  unsigned char *want = pattern(BIG, 14);
  const char *p = make("outlive", BIG, 14);
  th_res r = th_res_now();
  mmf_map *m;
  mmf_view *v, *cv;
  unsigned char *d;
  (void)state;
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READWRITE, 0, 0));
  TH_OK(mmf_view_map(&v, m, 4097, 0, MMF_ACCESS_WRITE));
  TH_OK(mmf_view_map(&cv, m, 0, 4096, MMF_ACCESS_COPY));
  TH_OK(mmf_map_close(m));
  d = mmf_view_data(v);
  assert_memory_equal(d, want + 4097, BIG - 4097);
  memset(d + 100, 0x77, 9000);
  memset(want + 4197, 0x77, 9000);
  TH_OK(mmf_view_flush(v, 0, 0, MMF_FLUSH_SYNC));
  TH_OK(mmf_view_flush(v, 50, 9100, MMF_FLUSH_DURABLE));
  TH_OK(mmf_view_advise(v, 0, 0, MMF_ADVICE_WILLNEED));
  TH_OK(mmf_view_lock(v, 0, 4096));
  TH_OK(mmf_view_unlock(v, 0, 4096));
  assert_true(th_file_equals(p, want, BIG));
  ((unsigned char *)mmf_view_data(cv))[0] ^= 0xFF;
  TH_OK(mmf_view_unmap(v));
  TH_OK(mmf_view_unmap(cv));
  assert_true(th_file_equals(p, want, BIG));
  /* The last unmap closed the file. */
  TH_ASSERT_RES_SAME(r);
  free(want);
}

static void flush_every_mode_on_subranges_writes_back(void **state) {
  unsigned char *want = pattern(BIG, 15);
  const char *p = make("flush", BIG, 15);
  static const struct {
    size_t off, len;
  } ranges[] = {{0, 0},       {0, 1},        {1, 1},     {4095, 2},
                {4096, 4096}, {5000, 60000}, {123, 777}, {BIG - 1001, 0},
                {BIG - 2, 1}, {BIG - 2, 0},  {BIG - 1001, 1000}};
  static const int modes[] = {MMF_FLUSH_ASYNC, MMF_FLUSH_SYNC,
                              MMF_FLUSH_DURABLE};
  mmf_map *m;
  mmf_view *v;
  unsigned char *d;
  (void)state;
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READWRITE, 0, 0));
  TH_OK(mmf_view_map(&v, m, 1, BIG - 1, MMF_ACCESS_WRITE));
  d = mmf_view_data(v);
  for (size_t k = 0; k < 3; k++) {
    for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++) {
      size_t off = ranges[i].off, len = ranges[i].len;
      size_t n = len ? len : BIG - 1 - off; /* the view is BIG - 1 long */
      for (size_t j = 0; j < n; j++)
        d[off + j] = (unsigned char)(d[off + j] + 1 + k);
      memcpy(want + 1 + off, d + off, n);
      TH_OK(mmf_view_flush(v, off, len, modes[k]));
      assert_true(th_file_equals(p, want, BIG));
    }
  }
  /* An empty range at the very end is a valid no-op. */
  TH_OK(mmf_view_flush(v, BIG - 1, 0, MMF_FLUSH_SYNC));
  TH_OK(mmf_view_unmap(v));
  TH_OK(mmf_map_close(m));
  free(want);
}

static void flush_of_read_and_copy_views_succeeds(void **state) {
  const char *p = make("flushro", BIG, 16);
  mmf_map *m;
  mmf_view *rv, *cv;
  (void)state;
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READ, 0, 0));
  TH_OK(mmf_view_map(&rv, m, 3, 0, MMF_ACCESS_READ));
  TH_OK(mmf_view_map(&cv, m, 3, 0, MMF_ACCESS_COPY));
  for (int mode = MMF_FLUSH_ASYNC; mode <= MMF_FLUSH_DURABLE; mode++) {
    TH_OK(mmf_view_flush(rv, 0, 0, mode));
    TH_OK(mmf_view_flush(rv, 10, 10, mode));
    TH_OK(mmf_view_flush(cv, 0, 0, mode));
    TH_OK(mmf_view_flush(cv, 4093, 5, mode));
  }
  TH_OK(mmf_view_unmap(rv));
  TH_OK(mmf_view_unmap(cv));
  TH_OK(mmf_map_close(m));
}

static void advise_accepts_every_advice_on_every_view_kind(void **state) {
  unsigned char *want = pattern(BIG, 17);
  const char *p = make("advise", BIG, 17);
  static const unsigned kinds[] = {MMF_ACCESS_READ, MMF_ACCESS_WRITE,
                                   MMF_ACCESS_COPY};
  mmf_map *m;
  (void)state;
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READWRITE, 0, 0));
  for (size_t k = 0; k < 3; k++) {
    mmf_view *v;
    TH_OK(mmf_view_map(&v, m, 333, 0, kinds[k]));
    for (int a = MMF_ADVICE_NORMAL; a <= MMF_ADVICE_POPULATE; a++) {
      TH_OK(mmf_view_advise(v, 0, 0, a));
      TH_OK(mmf_view_advise(v, 1, 1, a));
      TH_OK(mmf_view_advise(v, 4000, 70000, a));
      TH_OK(mmf_view_advise(v, BIG - 334, 1, a));
      TH_OK(mmf_view_advise(v, BIG - 333, 0, a)); /* empty, at the end */
    }
    /* Advice never changes what an unmodified view shows. */
    assert_memory_equal(mmf_view_data(v), want + 333, BIG - 333);
    TH_OK(mmf_view_unmap(v));
  }
  TH_OK(mmf_map_close(m));
  free(want);
}

static void advise_dontneed_keeps_write_view_data(void **state) {
  const char *p = make("dontneed-w", BIG, 18);
  mmf_map *m;
  mmf_view *v;
  unsigned char *d;
  (void)state;
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READWRITE, 0, 0));
  TH_OK(mmf_view_map(&v, m, 0, 0, MMF_ACCESS_WRITE));
  d = mmf_view_data(v);
  memset(d + 100, 0x3C, 20000); /* dirty, not flushed */
  TH_OK(mmf_view_advise(v, 0, 0, MMF_ADVICE_DONTNEED));
  for (size_t i = 0; i < 20000; i++)
    assert_int_equal(d[100 + i], 0x3C);
  TH_OK(mmf_view_unmap(v));
  TH_OK(mmf_map_close(m));
}

/* POPULATE maps the range in now, without touching it: on Linux every page
 * of it is then present (a COPY view's as private copies), and DONTNEED
 * takes them out again; the data is the file's either way. Windows only
 * reads the pages in (PrefetchVirtualMemory), so presence is checked on
 * Linux, and the working set after DONTNEED off Wine (which keeps it). */
static void advise_populate_maps_the_range_in_now(void **state) {
  const char *p = make("populate", BIG, 21);
  unsigned char *want = pattern(BIG, 21);
  static const unsigned kinds[] = {MMF_ACCESS_READ, MMF_ACCESS_WRITE,
                                   MMF_ACCESS_COPY};
  size_t page = mmf_page_size();
  mmf_map *m;
  (void)state;
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READWRITE, 0, 0));
  for (size_t k = 0; k < 3; k++) {
    /* [off, off + len) of the view: from inside page 1 to inside page 6 */
    const size_t off = page + 7, len = 5 * page;
    mmf_view *v;
    unsigned char *d;
    TH_OK(mmf_view_map(&v, m, 0, 0, kinds[k]));
    d = mmf_view_data(v);
    if (!th_is_windows())
      for (size_t at = page; at < off + len; at += page)
        assert_int_equal(th_page_is_mapped(d + at), 0);
    TH_OK(mmf_view_advise(v, off, len, MMF_ADVICE_POPULATE));
    if (!th_is_windows())
      for (size_t at = page; at < off + len; at += page) {
        assert_int_equal(th_page_is_mapped(d + at), 1);
        if (kinds[k] == MMF_ACCESS_COPY)
          assert_int_equal(th_copy_page_is_private(d + at), 1);
      }
    TH_OK(mmf_view_advise(v, off, len, MMF_ADVICE_DONTNEED));
    if (!th_is_wine()) /* the whole pages inside the range are out */
      for (size_t at = 2 * page; at + page <= off + len; at += page)
        assert_int_equal(th_page_is_mapped(d + at), 0);
    assert_memory_equal(d, want, BIG);
    TH_OK(mmf_view_unmap(v));
  }
  expect_map_bytes(m, 0, want, BIG); /* populating wrote nothing */
  TH_OK(mmf_map_close(m));
  free(want);
}

/* DONTNEED on part of a page must not reach bytes of the view outside the
 * requested range: a COPY view's changes next to the range are kept. */
static void advise_dontneed_leaves_copy_changes_outside_range(void **state) {
  const char *p = make("dontneed-c", BIG, 19);
  size_t page = mmf_page_size();
  unsigned char got[4];
  mmf_map *m;
  mmf_view *v;
  unsigned char *d;
  (void)state;
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READ, 0, 0));
  TH_OK(mmf_view_map(&v, m, 0, 0, MMF_ACCESS_COPY));
  d = mmf_view_data(v);
  memset(d, 0xC1, 3 * page);
  /* Advise the middle of page 1 only. */
  TH_OK(mmf_view_advise(v, page + 100, 10, MMF_ADVICE_DONTNEED));
  got[0] = d[0];
  got[1] = d[page + 99];
  got[2] = d[page + 110];
  got[3] = d[2 * page];
  TH_OK(mmf_view_unmap(v));
  TH_OK(mmf_map_close(m));
  assert_int_equal(got[0], 0xC1);
  assert_int_equal(got[1], 0xC1); /* same page, before the range */
  assert_int_equal(got[2], 0xC1); /* same page, after the range */
  assert_int_equal(got[3], 0xC1);

  /* A range over several pages that starts and ends inside pages: only the
   * whole pages in it may go, not the partial ones at either end. */
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READ, 0, 0));
  TH_OK(mmf_view_map(&v, m, 0, 0, MMF_ACCESS_COPY));
  d = mmf_view_data(v);
  memset(d, 0xC1, 4 * page);
  TH_OK(mmf_view_advise(v, page + 100, 2 * page, MMF_ADVICE_DONTNEED));
  got[0] = d[page + 99];     /* the page the range starts in */
  got[1] = d[3 * page + 99]; /* the page it ends in */
  got[2] = d[3 * page + 100];
  TH_OK(mmf_view_unmap(v));
  TH_OK(mmf_map_close(m));
  assert_int_equal(got[0], 0xC1);
  assert_int_equal(got[1], 0xC1);
  assert_int_equal(got[2], 0xC1);
}

static void lock_and_unlock_whole_view_and_subranges(void **state) {
  unsigned char *want = pattern(BIG, 20);
  const char *p = make("lock", BIG, 20);
  static const unsigned kinds[] = {MMF_ACCESS_READ, MMF_ACCESS_WRITE,
                                   MMF_ACCESS_COPY};
  mmf_map *m;
  (void)state;
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READWRITE, 0, 0));
  for (size_t k = 0; k < 3; k++) {
    mmf_view *v;
    TH_OK(mmf_view_map(&v, m, 4095, 0, kinds[k]));
    TH_OK(mmf_view_lock(v, 0, 0));
    TH_OK(mmf_view_unlock(v, 0, 0));
    TH_OK(mmf_view_lock(v, 1, 2));
    TH_OK(mmf_view_lock(v, 5000, 60000));
    TH_OK(mmf_view_unlock(v, 5000, 60000));
    TH_OK(mmf_view_unlock(v, 1, 2));
    TH_OK(mmf_view_lock(v, BIG - 4096, 1));
    TH_OK(mmf_view_lock(v, BIG - 4095, 0)); /* empty, at the end */
    assert_memory_equal(mmf_view_data(v), want + 4095, BIG - 4095);
    /* Unmapping a view that still holds locks is fine. */
    TH_OK(mmf_view_unmap(v));
  }
  TH_OK(mmf_map_close(m));
  free(want);
}

static void view_options_map_and_show_the_file(void **state) {
  unsigned char *want = pattern(BIG, 21);
  const char *p = make("options", BIG, 21);
  static const unsigned opts[] = {
      MMF_VIEW_POPULATE,
      MMF_VIEW_LOCK,
      MMF_VIEW_HUGE,
      MMF_VIEW_SEQUENTIAL,
      MMF_VIEW_RANDOM,
      MMF_VIEW_WILLNEED,
      MMF_VIEW_LOCK | MMF_VIEW_POPULATE | MMF_VIEW_HUGE,
      MMF_VIEW_SEQUENTIAL | MMF_VIEW_WILLNEED | MMF_VIEW_POPULATE,
      MMF_VIEW_RANDOM | MMF_VIEW_LOCK | MMF_VIEW_HUGE | MMF_VIEW_WILLNEED};
  static const unsigned kinds[] = {MMF_ACCESS_READ, MMF_ACCESS_WRITE,
                                   MMF_ACCESS_COPY};
  th_res r;
  mmf_map *m;
  (void)state;
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READWRITE, 0, 0));
  r = th_res_now();
  for (size_t k = 0; k < 3; k++) {
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
      mmf_view *v;
      unsigned char *d;
      TH_OK(mmf_view_map(&v, m, 70001, 0, kinds[k] | opts[i]));
      d = mmf_view_data(v);
      assert_int_equal(mmf_view_size(v), BIG - 70001);
      assert_memory_equal(d, want + 70001, BIG - 70001);
      if (kinds[k] != MMF_ACCESS_READ) {
        d[0] ^= 0xFF;
        d[BIG - 70002] ^= 0xFF;
        if (kinds[k] == MMF_ACCESS_WRITE) {
          want[70001] ^= 0xFF;
          want[BIG - 1] ^= 0xFF;
        }
      }
      TH_OK(mmf_view_unmap(v));
      assert_true(th_file_equals(p, want, BIG));
    }
  }
  TH_ASSERT_RES_SAME(r);
  TH_OK(mmf_map_close(m));
  free(want);
}

static void exec_view_needs_prot_exec_and_maps_with_it(void **state) {
  unsigned char code[8192];
  const char *p = th_path("exec");
  mmf_map *m;
  mmf_view *v = NULL;
  int rc;
  (void)state;
  memset(code, 0xC3, sizeof code); /* x86 `ret` everywhere */
  assert_int_equal(th_write_file(p, code, sizeof code), 0);

  TH_OK(mmf_map_open(&m, p, MMF_PROT_READ, 0, 0));
  TH_EXPECT_ERR(mmf_view_map(&v, m, 0, 0, MMF_ACCESS_READ | MMF_ACCESS_EXEC),
                MMF_EPROT, "mmf_view_map");
  assert_null(v);
  TH_OK(mmf_map_close(m));

  TH_OK(mmf_map_open(&m, p, MMF_PROT_READ | MMF_PROT_EXEC, 0, 0));
  assert_int_equal(mmf_map_prot(m), MMF_PROT_READ | MMF_PROT_EXEC);
  rc = mmf_view_map(&v, m, 4096, 0, MMF_ACCESS_READ | MMF_ACCESS_EXEC);
  if (rc == MMF_EPERM || rc == MMF_EACCES) {
    /* The temporary directory is on a noexec mount. */
    assert_null(v);
    assert_non_null(strstr(mmf_last_error_message(), "mmf_view_map"));
  } else {
    TH_OK(rc);
    assert_memory_equal(mmf_view_data(v), code, 4096);
#if defined(__x86_64__) || defined(__i386__)
    {
      /* Run the mapped `ret`: the view really is executable. */
      void (*fn)(void);
      void *addr = mmf_view_data(v);
      memcpy(&fn, &addr, sizeof fn);
      fn();
    }
#endif
    TH_OK(mmf_view_unmap(v));
  }
  /* A COPY|EXEC view of an executable mapping is allowed too. */
  rc = mmf_view_map(&v, m, 1, 10, MMF_ACCESS_COPY | MMF_ACCESS_EXEC);
  assert_true(rc == 0 || rc == MMF_EPERM || rc == MMF_EACCES);
  if (rc == 0)
    TH_OK(mmf_view_unmap(v));
  TH_OK(mmf_map_close(m));

  TH_OK(mmf_map_open(&m, p, MMF_PROT_READWRITE | MMF_PROT_EXEC, 0, 0));
  rc = mmf_view_map(&v, m, 0, 0, MMF_ACCESS_WRITE | MMF_ACCESS_EXEC);
  assert_true(rc == 0 || rc == MMF_EPERM || rc == MMF_EACCES);
  if (rc == 0)
    TH_OK(mmf_view_unmap(v));
  TH_OK(mmf_map_close(m));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(view_at_unaligned_offset_returns_exact_pointer),
      cmocka_unit_test(view_length_zero_maps_to_end_of_mapping),
      cmocka_unit_test(write_view_stores_reach_the_file),
      cmocka_unit_test(two_views_of_one_mapping_are_coherent),
      cmocka_unit_test(two_mappings_of_one_file_are_coherent),
      cmocka_unit_test(view_and_map_read_write_are_coherent),
      cmocka_unit_test(copy_view_changes_never_reach_the_file),
      cmocka_unit_test(copy_view_copies_only_the_pages_written),
      cmocka_unit_test(view_outlives_its_closed_mapping),
      cmocka_unit_test(flush_every_mode_on_subranges_writes_back),
      cmocka_unit_test(flush_of_read_and_copy_views_succeeds),
      cmocka_unit_test(advise_accepts_every_advice_on_every_view_kind),
      cmocka_unit_test(advise_dontneed_keeps_write_view_data),
      cmocka_unit_test(advise_populate_maps_the_range_in_now),
      cmocka_unit_test(advise_dontneed_leaves_copy_changes_outside_range),
      cmocka_unit_test(lock_and_unlock_whole_view_and_subranges),
      cmocka_unit_test(view_options_map_and_show_the_file),
      cmocka_unit_test(exec_view_needs_prot_exec_and_maps_with_it),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
