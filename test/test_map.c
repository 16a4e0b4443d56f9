/* test_map.c -- mapping objects: sizes, creation, extension, truncation,
 * write-through, mmf_map_read/mmf_map_write/mmf_map_sync. Portable. */
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

#define N 10000

static const char *make(const char *name, size_t n, uint32_t seed) {
  const char *p = th_path(name);
  assert_int_equal(th_make_file(p, n, seed), 0);
  return p;
}

static void open_existing_uses_file_size_and_keeps_prot(void **state) {
  const char *p = make("existing", N, 1);
  static const int prots[] = {MMF_PROT_READ,
                              MMF_PROT_READWRITE,
                              MMF_PROT_WRITECOPY,
                              MMF_PROT_READ | MMF_PROT_EXEC,
                              MMF_PROT_READWRITE | MMF_PROT_EXEC,
                              MMF_PROT_WRITECOPY | MMF_PROT_EXEC};
  th_res r = th_res_now();
  (void)state;
  for (size_t i = 0; i < sizeof prots / sizeof prots[0]; i++) {
    mmf_map *m = NULL;
    TH_OK(mmf_map_open(&m, p, prots[i], 0, 0));
    assert_non_null(m);
    assert_int_equal(mmf_map_size(m), N);
    assert_int_equal(mmf_map_prot(m), prots[i]);
    TH_OK(mmf_map_close(m));
  }
  assert_int_equal(th_file_size(p), N);
  TH_ASSERT_RES_SAME(r);
}

static void smaller_max_size_maps_a_prefix_and_keeps_the_file(void **state) {
  unsigned char want[N];
  const char *p = make("prefix", N, 2);
  mmf_map *m;
  mmf_view *v;
  (void)state;
  th_fill(want, N, 2);
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READWRITE, 0, 5000));
  assert_int_equal(mmf_map_size(m), 5000);
  TH_OK(mmf_view_map(&v, m, 0, 0, MMF_ACCESS_WRITE));
  assert_int_equal(mmf_view_size(v), 5000);
  assert_memory_equal(mmf_view_data(v), want, 5000);
  TH_OK(mmf_view_unmap(v));
  assert_int_equal(mmf_view_map(&v, m, 5000, 1, MMF_ACCESS_READ), MMF_ERANGE);
  TH_OK(mmf_map_close(m));
  assert_true(th_file_equals(p, want, N)); /* not shortened */
}

static void readwrite_max_size_larger_than_file_extends_it(void **state) {
  unsigned char want[N];
  const uint64_t grown = 3 * 65536 + 17;
  const char *p = make("extend", N, 3);
  unsigned char *buf;
  size_t n = 0;
  mmf_map *m;
  mmf_view *v;
  unsigned char *d;
  (void)state;
  th_fill(want, N, 3);
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READWRITE, 0, grown));
  assert_int_equal(mmf_map_size(m), grown);
  assert_int_equal(th_file_size(p), (int64_t)grown);
  TH_OK(mmf_view_map(&v, m, 0, 0, MMF_ACCESS_WRITE));
  d = mmf_view_data(v);
  assert_memory_equal(d, want, N);
  for (uint64_t i = N; i < grown; i++)
    assert_int_equal(d[i], 0);
  d[grown - 1] = 0x99; /* the new tail is writable to its last byte */
  TH_OK(mmf_view_unmap(v));
  TH_OK(mmf_map_close(m));
  buf = th_read_file(p, &n);
  assert_non_null(buf);
  assert_int_equal(n, grown);
  assert_memory_equal(buf, want, N);
  assert_int_equal(buf[grown - 1], 0x99);
  free(buf);
}

static void create_makes_a_new_file_of_max_size(void **state) {
  const char *p = th_path("created");
  mmf_map *m;
  mmf_view *v;
  (void)state;
  assert_false(th_exists(p));
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READWRITE,
                     MMF_OPEN_CREATE | MMF_OPEN_EXCL, 65537));
  assert_int_equal(mmf_map_size(m), 65537);
  assert_int_equal(th_file_size(p), 65537);
  TH_OK(mmf_view_map(&v, m, 65536, 1, MMF_ACCESS_WRITE));
  *(unsigned char *)mmf_view_data(v) = 'Z';
  TH_OK(mmf_view_unmap(v));
  TH_OK(mmf_map_close(m));
  {
    size_t n;
    unsigned char *b = th_read_file(p, &n);
    assert_non_null(b);
    assert_int_equal(n, 65537);
    assert_int_equal(b[0], 0);
    assert_int_equal(b[65536], 'Z');
    free(b);
  }
}

static void create_without_excl_opens_existing_file_intact(void **state) {
  unsigned char want[N];
  const char *p = make("create-existing", N, 4);
  mmf_map *m;
  (void)state;
  th_fill(want, N, 4);
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READWRITE, MMF_OPEN_CREATE, 0));
  assert_int_equal(mmf_map_size(m), N);
  TH_OK(mmf_map_close(m));
  assert_true(th_file_equals(p, want, N));
  /* ... and a failure after opening an existing file does not remove it. */
  assert_int_equal(
      mmf_map_open(&m, p, MMF_PROT_READWRITE, MMF_OPEN_CREATE, UINT64_MAX),
      MMF_EFBIG);
  assert_true(th_file_equals(p, want, N));
}

static void truncate_discards_content_and_sizes_to_max(void **state) {
  const char *p = make("truncate", N, 5);
  unsigned char zero[4096] = {0};
  mmf_map *m;
  mmf_view *v;
  (void)state;
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READWRITE, MMF_OPEN_TRUNCATE, 4096));
  assert_int_equal(mmf_map_size(m), 4096);
  assert_int_equal(th_file_size(p), 4096);
  TH_OK(mmf_view_map(&v, m, 0, 0, MMF_ACCESS_READ));
  assert_memory_equal(mmf_view_data(v), zero, sizeof zero);
  TH_OK(mmf_view_unmap(v));
  TH_OK(mmf_map_close(m));
  assert_true(th_file_equals(p, zero, sizeof zero));
  /* Truncating to a size larger than the old content works too. */
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READWRITE,
                     MMF_OPEN_TRUNCATE | MMF_OPEN_CREATE, 20000));
  assert_int_equal(th_file_size(p), 20000);
  TH_OK(mmf_map_close(m));
}

static void write_through_mapping_writes_and_flushes(void **state) {
  unsigned char want[N], buf[300];
  const char *p = make("through", N, 6);
  mmf_map *m;
  mmf_view *v;
  unsigned char *d;
  (void)state;
  th_fill(want, N, 6);
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READWRITE, MMF_OPEN_WRITE_THROUGH, 0));
  TH_OK(mmf_view_map(&v, m, 10, 5000, MMF_ACCESS_WRITE));
  d = mmf_view_data(v);
  memset(d + 1, 0x11, 4000);
  memset(want + 11, 0x11, 4000);
  for (int mode = MMF_FLUSH_ASYNC; mode <= MMF_FLUSH_DURABLE; mode++)
    TH_OK(mmf_view_flush(v, 1, 4000, mode));
  assert_true(th_file_equals(p, want, N));
  th_fill(buf, sizeof buf, 66);
  TH_OK(mmf_map_write(m, 8000, buf, sizeof buf));
  memcpy(want + 8000, buf, sizeof buf);
  assert_true(th_file_equals(p, want, N));
  TH_OK(mmf_map_sync(m));
  TH_OK(mmf_view_unmap(v));
  TH_OK(mmf_map_close(m));
  assert_true(th_file_equals(p, want, N));
}

/* mmf_map_read_exact: the bytes, or an error -- never a short count. */
static void map_read_exact_reads_all_or_says_why(void **state) {
  unsigned char want[N], got[N];
  const char *p = make("read-exact", N, 9);
  mmf_map *m;
  (void)state;
  th_fill(want, N, 9);
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READ, 0, 0));
  TH_OK(mmf_map_read_exact(m, 0, got, N));
  assert_memory_equal(got, want, N);
  TH_OK(mmf_map_read_exact(m, N - 7, got, 7));
  assert_memory_equal(got, want + N - 7, 7);
  TH_EXPECT_ERR(mmf_map_read_exact(m, N - 7, got, 8), MMF_ERANGE,
                "mmf_map_read_exact");
  TH_EXPECT_ERR(mmf_map_read_exact(NULL, 0, got, 1), MMF_EINVAL,
                "mmf_map_read_exact");
  /* The file shrinks under the mapping (Windows refuses to cut a file
   * that has a mapping object, so only elsewhere). */
  if (!th_is_windows()) {
    assert_int_equal(th_write_file(p, want, 100), 0);
    TH_EXPECT_ERR(mmf_map_read_exact(m, 50, got, 100), MMF_EIO, "shrank");
    assert_non_null(strstr(mmf_last_error_message(), "50 of 100 bytes"));
    TH_OK(mmf_map_read_exact(m, 0, got, 100));
  }
  TH_OK(mmf_map_close(m));
}

static void map_read_returns_file_bytes_and_is_short_only_at_end(
    void **state) {
  unsigned char want[N], got[N + 100];
  const char *p = make("read", N, 7);
  size_t n = 0;
  mmf_map *m;
  (void)state;
  th_fill(want, N, 7);
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READ, 0, 0));
  TH_OK(mmf_map_read(m, 0, got, N, &n));
  assert_int_equal(n, N);
  assert_memory_equal(got, want, N);
  TH_OK(mmf_map_read(m, 4097, got, 3, &n));
  assert_int_equal(n, 3);
  assert_memory_equal(got, want + 4097, 3);
  TH_OK(mmf_map_read(m, N - 10, got, 100, &n));
  assert_int_equal(n, 10);
  assert_memory_equal(got, want + N - 10, 10);
  TH_OK(mmf_map_read(m, N, got, 100, &n));
  assert_int_equal(n, 0);
  TH_OK(mmf_map_read(m, N + 12345, got, 100, &n));
  assert_int_equal(n, 0);
  TH_OK(mmf_map_read(m, 0, got, 5, NULL)); /* got may be NULL */
  assert_memory_equal(got, want, 5);
  /* Bytes appended to the file after the open lie past the mapping's
   * end: reads stop there. */
  {
    FILE *f = th_fopen(p, "ab");
    assert_non_null(f);
    assert_int_equal(fwrite("more", 1, 4, f), 4);
    assert_int_equal(fclose(f), 0);
  }
  TH_OK(mmf_map_read(m, N - 10, got, 100, &n));
  assert_int_equal(n, 10);
  TH_OK(mmf_map_read(m, N, got, 100, &n));
  assert_int_equal(n, 0);
  TH_OK(mmf_map_close(m));
}

/* mmf_map_from_native on a handle opened with too little access: the same
 * code on both OSes. A write-only one cannot be mapped at all. */
static void from_native_needs_the_access_prot_needs(void **state) {
  const char *p = th_path("native-access");
  intptr_t w, r;
  mmf_map *m = (mmf_map *)&m;
  (void)state;
  assert_int_equal(th_make_file(p, 4096, 3), 0);
  w = th_native_open(p, TH_WRITE_ONLY);
  r = th_native_open(p, 0);
  assert_true(w != -1 && r != -1);
  TH_EXPECT_ERR(mmf_map_from_native(&m, w, MMF_PROT_READ, 0), MMF_EBADF,
                "mmf_map_from_native");
  assert_null(m);
  TH_EXPECT_ERR(mmf_map_from_native(&m, w, MMF_PROT_READWRITE, 0), MMF_EBADF,
                "mmf_map_from_native");
  TH_EXPECT_ERR(mmf_map_from_native(&m, r, MMF_PROT_READWRITE, 0), MMF_EBADF,
                "mmf_map_from_native");
  /* The caller's file position is the caller's: mapping leaves it be. */
  assert_int_equal(th_native_seek(r, 1000), 1000);
  TH_OK(mmf_map_from_native(&m, r, MMF_PROT_READ, 0));
  assert_int_equal(mmf_map_size(m), 4096);
  assert_int_equal(th_native_seek(r, -1), 1000);
  TH_OK(mmf_map_close(m));
  {
    intptr_t rw = th_native_open(p, 1);
    assert_true(rw != -1);
    assert_int_equal(th_native_seek(rw, 3000), 3000);
    TH_OK(mmf_map_from_native(&m, rw, MMF_PROT_READWRITE, 0));
    assert_int_equal(th_native_seek(rw, -1), 3000);
    TH_OK(mmf_map_close(m));
    assert_int_equal(th_native_close(rw), 0);
  }
  assert_int_equal(th_native_close(w), 0);
  assert_int_equal(th_native_close(r), 0);
}

static void map_write_changes_file_inside_mapping(void **state) {
  unsigned char want[N], buf[N];
  const char *p = make("write", N, 8);
  mmf_map *m;
  (void)state;
  th_fill(want, N, 8);
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READWRITE, 0, 0));
  th_fill(buf, N, 88);
  TH_OK(mmf_map_write(m, 0, buf, 1));
  TH_OK(mmf_map_write(m, 4095, buf + 1, 2));
  TH_OK(mmf_map_write(m, N - 1, buf + 3, 1));
  want[0] = buf[0];
  want[4095] = buf[1];
  want[4096] = buf[2];
  want[N - 1] = buf[3];
  TH_OK(mmf_map_sync(m));
  assert_true(th_file_equals(p, want, N));
  TH_OK(mmf_map_write(m, 0, buf, N)); /* exactly the whole mapping */
  TH_OK(mmf_map_close(m));
  assert_true(th_file_equals(p, buf, N));
}

static void map_sync_succeeds_on_every_prot(void **state) {
  const char *p = make("sync", N, 9);
  static const int prots[] = {MMF_PROT_READ, MMF_PROT_READWRITE,
                              MMF_PROT_WRITECOPY};
  (void)state;
  for (size_t i = 0; i < 3; i++) {
    mmf_map *m;
    TH_OK(mmf_map_open(&m, p, prots[i], 0, 0));
    TH_OK(mmf_map_sync(m));
    TH_OK(mmf_map_close(m));
  }
}

static void many_views_keep_mapping_alive_until_the_last(void **state) {
  unsigned char want[N];
  const char *p = make("refs", N, 10);
  th_res r = th_res_now();
  mmf_view *v[16];
  mmf_map *m;
  (void)state;
  th_fill(want, N, 10);
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READ, 0, 0));
  for (int i = 0; i < 16; i++)
    TH_OK(mmf_view_map(&v[i], m, (uint64_t)i * 600, 600, MMF_ACCESS_READ));
  TH_OK(mmf_map_close(m));
  /* Unmap in an order that is neither first-in nor last-in. */
  for (int i = 0; i < 16; i += 2)
    TH_OK(mmf_view_unmap(v[i]));
  for (int i = 15; i > 0; i -= 2) {
    assert_memory_equal(mmf_view_data(v[i]), want + i * 600, 600);
    TH_OK(mmf_view_unmap(v[i]));
  }
  TH_ASSERT_RES_SAME(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(open_existing_uses_file_size_and_keeps_prot),
      cmocka_unit_test(smaller_max_size_maps_a_prefix_and_keeps_the_file),
      cmocka_unit_test(readwrite_max_size_larger_than_file_extends_it),
      cmocka_unit_test(create_makes_a_new_file_of_max_size),
      cmocka_unit_test(create_without_excl_opens_existing_file_intact),
      cmocka_unit_test(truncate_discards_content_and_sizes_to_max),
      cmocka_unit_test(write_through_mapping_writes_and_flushes),
      cmocka_unit_test(map_read_returns_file_bytes_and_is_short_only_at_end),
      cmocka_unit_test(from_native_needs_the_access_prot_needs),
      cmocka_unit_test(map_read_exact_reads_all_or_says_why),
      cmocka_unit_test(map_write_changes_file_inside_mapping),
      cmocka_unit_test(map_sync_succeeds_on_every_prot),
      cmocka_unit_test(many_views_keep_mapping_alive_until_the_last),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
