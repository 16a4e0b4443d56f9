/* test_errors.c -- every error the public API documents, the error detail
 * (code, OS code, message naming call and path), and that a failing call
 * leaves nothing behind. Portable: OS-specific checks live in test_posix.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>

#include "helpers.h"
#include "mmf.h"

#define FILE_SIZE 10000

/* A 10000-byte file of pattern 1 at th_path(name). */
static const char *make(const char *name) {
  const char *p = th_path(name);
  assert_int_equal(th_make_file(p, FILE_SIZE, 1), 0);
  return p;
}

static int msg_has(const char *s) {
  return strstr(mmf_last_error_message(), s) != NULL;
}

/* ---- codes, names and texts --------------------------------------------- */

static void error_codes_have_fixed_values(void **state) {
  (void)state;
  assert_int_equal(MMF_OK, 0);
  assert_int_equal(MMF_EINVAL, -1);
  assert_int_equal(MMF_ENOENT, -2);
  assert_int_equal(MMF_EEXIST, -3);
  assert_int_equal(MMF_EACCES, -4);
  assert_int_equal(MMF_EISDIR, -5);
  assert_int_equal(MMF_ERANGE, -9);
  assert_int_equal(MMF_EOVERFLOW, -10);
  assert_int_equal(MMF_EEMPTY, -11);
  assert_int_equal(MMF_EPROT, -12);
  assert_int_equal(MMF_EBADF, -13);
  assert_int_equal(MMF_EAGAIN, -20);
  assert_int_equal(MMF_EOWNERDEAD, -21);
  assert_int_equal(MMF_EADDRINUSE, -26);
  assert_int_equal(MMF_EWAKE, -27);
  assert_int_equal(MMF_EOS, -64);
}

static void strerror_and_err_name_cover_every_code(void **state) {
  int codes[64], n = 0;
  (void)state;
#define CHECK_CODE(name, value, text)                                          \
  assert_int_equal(MMF_##name, value);                                         \
  assert_string_equal(mmf_err_name(value), "MMF_" #name);                      \
  assert_string_equal(mmf_strerror(value), text);                              \
  assert_true((value) < 0);                                                    \
  codes[n++] = value;
  MMF_ERRNO_MAP(CHECK_CODE)
#undef CHECK_CODE
  /* Every code is distinct. */
  for (int i = 0; i < n; i++)
    for (int j = i + 1; j < n; j++)
      assert_int_not_equal(codes[i], codes[j]);
  assert_string_equal(mmf_err_name(0), "MMF_OK");
  assert_string_equal(mmf_strerror(0), "success");
  assert_string_equal(mmf_err_name(-999), "MMF_UNKNOWN");
  assert_string_equal(mmf_strerror(-999), "unknown error");
  assert_string_equal(mmf_err_name(1), "MMF_UNKNOWN");
  assert_string_equal(mmf_strerror(-28), "unknown error"); /* the next free */
}

static void version_and_system_facts_are_consistent(void **state) {
  char want[32];
  size_t page = mmf_page_size(), gran = mmf_granularity();
  (void)state;
  snprintf(want, sizeof want, "%d.%d.%d", MMF_VERSION_MAJOR,
           MMF_VERSION_MINOR, MMF_VERSION_PATCH);
  assert_string_equal(mmf_version(), want);
  assert_string_equal(mmf_version(), MMF_VERSION_STRING);
  assert_true(page >= 4096);
  assert_int_equal(page & (page - 1), 0);
  assert_true(gran >= page);
  assert_int_equal(gran % page, 0);
  assert_int_equal(gran & (gran - 1), 0);
}

/* ---- mmf_map_open --------------------------------------------------------*/

static void map_open_missing_file_is_enoent_naming_call_and_path(void **state) {
  const char *p = th_path("does-not-exist");
  th_res r = th_res_now();
  mmf_map *m = (mmf_map *)&m;
  (void)state;
  TH_EXPECT_ERR(mmf_map_open(&m, p, MMF_PROT_READ, 0, 0), MMF_ENOENT,
                "mmf_map_open");
  assert_null(m);
  assert_true(msg_has(p));
  assert_int_not_equal(mmf_last_os_error(), 0);
  assert_false(th_exists(p));
  TH_ASSERT_RES_SAME(r);
}

static void map_open_missing_directory_with_create_is_enoent(void **state) {
  const char *p = th_path("no-such-dir/file");
  mmf_map *m = NULL;
  (void)state;
  TH_EXPECT_ERR(
      mmf_map_open(&m, p, MMF_PROT_READWRITE, MMF_OPEN_CREATE, 4096),
      MMF_ENOENT, "mmf_map_open");
  assert_null(m);
  assert_false(th_exists(p));
}

static void map_open_path_through_a_file_is_enoent(void **state) {
  const char *f = make("plain");
  char p[700];
  mmf_map *m = NULL;
  (void)state;
  snprintf(p, sizeof p, "%s/below", f);
  TH_EXPECT_ERR(mmf_map_open(&m, p, MMF_PROT_READ, 0, 0), MMF_ENOENT,
                "mmf_map_open");
  assert_null(m);
}

static void map_open_empty_file_without_size_is_eempty(void **state) {
  const char *p = th_path("empty");
  th_res r;
  mmf_map *m = (mmf_map *)&m;
  (void)state;
  assert_int_equal(th_write_file(p, "", 0), 0);
  r = th_res_now();
  TH_EXPECT_ERR(mmf_map_open(&m, p, MMF_PROT_READ, 0, 0), MMF_EEMPTY,
                "mmf_map_open");
  assert_null(m);
  assert_true(msg_has(p));
  TH_EXPECT_ERR(mmf_map_open(&m, p, MMF_PROT_READWRITE, 0, 0), MMF_EEMPTY,
                "mmf_map_open");
  TH_EXPECT_ERR(mmf_map_open(&m, p, MMF_PROT_WRITECOPY, 0, 0), MMF_EEMPTY,
                "mmf_map_open");
  assert_null(m);
  /* The empty file is still there and still empty. */
  assert_int_equal(th_file_size(p), 0);
  TH_ASSERT_RES_SAME(r);
}

static void map_open_directory_is_eisdir(void **state) {
  const char *d = th_tmpdir();
  th_res r = th_res_now();
  mmf_map *m = (mmf_map *)&m;
  (void)state;
  TH_EXPECT_ERR(mmf_map_open(&m, d, MMF_PROT_READ, 0, 0), MMF_EISDIR,
                "mmf_map_open");
  assert_null(m);
  assert_true(msg_has(d));
  TH_EXPECT_ERR(mmf_map_open(&m, d, MMF_PROT_READWRITE, 0, 0), MMF_EISDIR,
                "mmf_map_open");
  TH_EXPECT_ERR(mmf_map_open(&m, d, MMF_PROT_READWRITE, MMF_OPEN_CREATE, 4096),
                MMF_EISDIR, "mmf_map_open");
  TH_EXPECT_ERR(mmf_map_open(&m, d, MMF_PROT_WRITECOPY, 0, 4096), MMF_EISDIR,
                "mmf_map_open");
  assert_null(m);
  TH_ASSERT_RES_SAME(r);
}

static void map_open_create_excl_on_existing_is_eexist(void **state) {
  const char *p = make("exists");
  unsigned char want[FILE_SIZE];
  th_res r = th_res_now();
  mmf_map *m = (mmf_map *)&m;
  (void)state;
  th_fill(want, sizeof want, 1);
  TH_EXPECT_ERR(mmf_map_open(&m, p, MMF_PROT_READWRITE,
                             MMF_OPEN_CREATE | MMF_OPEN_EXCL, 20000),
                MMF_EEXIST, "mmf_map_open");
  assert_null(m);
  assert_true(msg_has(p));
  /* The existing file was neither removed nor changed. */
  assert_true(th_file_equals(p, want, sizeof want));
  TH_ASSERT_RES_SAME(r);
}

static void map_open_read_only_larger_than_file_is_erange(void **state) {
  const char *p = make("small");
  th_res r = th_res_now();
  mmf_map *m = (mmf_map *)&m;
  (void)state;
  TH_EXPECT_ERR(mmf_map_open(&m, p, MMF_PROT_READ, 0, FILE_SIZE + 1),
                MMF_ERANGE, "mmf_map_open");
  assert_null(m);
  TH_EXPECT_ERR(mmf_map_open(&m, p, MMF_PROT_WRITECOPY, 0, FILE_SIZE + 1),
                MMF_ERANGE, "mmf_map_open");
  TH_EXPECT_ERR(mmf_map_open(&m, p, MMF_PROT_READ | MMF_PROT_EXEC, 0,
                             (uint64_t)1 << 40),
                MMF_ERANGE, "mmf_map_open");
  assert_null(m);
  assert_int_equal(th_file_size(p), FILE_SIZE);
  TH_ASSERT_RES_SAME(r);
}

static void map_open_null_arguments_are_einval(void **state) {
  const char *p = make("nullargs");
  mmf_map *m = (mmf_map *)&m;
  (void)state;
  TH_EXPECT_ERR(mmf_map_open(NULL, p, MMF_PROT_READ, 0, 0), MMF_EINVAL,
                "mmf_map_open");
  TH_EXPECT_ERR(mmf_map_open(&m, NULL, MMF_PROT_READ, 0, 0), MMF_EINVAL,
                "mmf_map_open");
  assert_null(m);
}

static void map_open_bad_prot_or_flags_is_einval(void **state) {
  const char *p = make("badflags");
  const char *fresh = th_path("badflags-new");
  th_res r = th_res_now();
  mmf_map *m = (mmf_map *)&m;
  static const int bad_prot[] = {0, 4, 5, -1, 0x20, MMF_PROT_EXEC,
                                 MMF_PROT_READ | 0x40};
  (void)state;
  for (size_t i = 0; i < sizeof bad_prot / sizeof bad_prot[0]; i++) {
    m = (mmf_map *)&m;
    TH_EXPECT_ERR(mmf_map_open(&m, p, bad_prot[i], 0, 0), MMF_EINVAL,
                  "mmf_map_open");
    assert_null(m);
  }
  TH_EXPECT_ERR(mmf_map_open(&m, p, MMF_PROT_READ, 0x10, 0), MMF_EINVAL,
                "mmf_map_open");
  TH_EXPECT_ERR(mmf_map_open(&m, p, MMF_PROT_READ, 0x80000000u, 0),
                MMF_EINVAL, "mmf_map_open");
  /* CREATE and TRUNCATE need READWRITE. */
  TH_EXPECT_ERR(mmf_map_open(&m, fresh, MMF_PROT_READ, MMF_OPEN_CREATE, 4096),
                MMF_EINVAL, "mmf_map_open");
  TH_EXPECT_ERR(
      mmf_map_open(&m, fresh, MMF_PROT_WRITECOPY, MMF_OPEN_CREATE, 4096),
      MMF_EINVAL, "mmf_map_open");
  TH_EXPECT_ERR(mmf_map_open(&m, p, MMF_PROT_READ, MMF_OPEN_TRUNCATE, 4096),
                MMF_EINVAL, "mmf_map_open");
  /* EXCL without CREATE, TRUNCATE without a size. */
  TH_EXPECT_ERR(mmf_map_open(&m, p, MMF_PROT_READWRITE, MMF_OPEN_EXCL, 0),
                MMF_EINVAL, "mmf_map_open");
  TH_EXPECT_ERR(mmf_map_open(&m, p, MMF_PROT_READWRITE, MMF_OPEN_TRUNCATE, 0),
                MMF_EINVAL, "mmf_map_open");
  assert_null(m);
  assert_false(th_exists(fresh));
  assert_int_equal(th_file_size(p), FILE_SIZE); /* not truncated */
  TH_ASSERT_RES_SAME(r);
}

static void map_open_failed_create_leaves_no_file(void **state) {
  const char *p = th_path("never-created");
  th_res r = th_res_now();
  mmf_map *m = (mmf_map *)&m;
  (void)state;
  /* Created, then found empty with no size. */
  TH_EXPECT_ERR(mmf_map_open(&m, p, MMF_PROT_READWRITE, MMF_OPEN_CREATE, 0),
                MMF_EEMPTY, "mmf_map_open");
  assert_null(m);
  assert_false(th_exists(p));
  TH_EXPECT_ERR(mmf_map_open(&m, p, MMF_PROT_READWRITE,
                             MMF_OPEN_CREATE | MMF_OPEN_EXCL, 0),
                MMF_EEMPTY, "mmf_map_open");
  assert_false(th_exists(p));
  /* Created, then the extension is refused. */
  TH_EXPECT_ERR(
      mmf_map_open(&m, p, MMF_PROT_READWRITE, MMF_OPEN_CREATE, UINT64_MAX),
      MMF_EFBIG, "mmf_map_open");
  assert_null(m);
  assert_false(th_exists(p));
  TH_ASSERT_RES_SAME(r);
}

static void map_open_extension_too_large_leaves_file_unchanged(void **state) {
  const char *p = make("nogrow");
  unsigned char want[FILE_SIZE];
  th_res r = th_res_now();
  mmf_map *m = (mmf_map *)&m;
  int rc;
  (void)state;
  th_fill(want, sizeof want, 1);
  TH_EXPECT_ERR(mmf_map_open(&m, p, MMF_PROT_READWRITE, 0, UINT64_MAX),
                MMF_EFBIG, "mmf_map_open");
  assert_null(m);
  assert_true(th_file_equals(p, want, sizeof want));
  /* 4 EiB fits an off_t but no file system: EFBIG (or ENOSPC). */
  rc = mmf_map_open(&m, p, MMF_PROT_READWRITE, 0, (uint64_t)1 << 62);
  assert_true(rc == MMF_EFBIG || rc == MMF_ENOSPC);
  assert_true(msg_has("mmf_map_open"));
  assert_null(m);
  assert_true(th_file_equals(p, want, sizeof want));
  TH_ASSERT_RES_SAME(r);
}

/* A failing call leaves the file as it found it: an impossible size is
 * refused before TRUNCATE destroys the existing content. */
static void map_open_truncate_with_impossible_size_keeps_content(
    void **state) {
  const char *p = make("keep-on-truncate");
  unsigned char want[FILE_SIZE];
  mmf_map *m = (mmf_map *)&m;
  (void)state;
  th_fill(want, sizeof want, 1);
  TH_EXPECT_ERR(mmf_map_open(&m, p, MMF_PROT_READWRITE, MMF_OPEN_TRUNCATE,
                             UINT64_MAX),
                MMF_EFBIG, "mmf_map_open");
  assert_null(m);
  assert_true(th_file_equals(p, want, sizeof want));
}

static void map_open_name_too_long_is_enametoolong(void **state) {
  char name[400];
  mmf_map *m = NULL;
  (void)state;
  memset(name, 'n', sizeof name - 1);
  name[sizeof name - 1] = '\0';
  TH_EXPECT_ERR(mmf_map_open(&m, th_path(name), MMF_PROT_READWRITE,
                             MMF_OPEN_CREATE, 4096),
                MMF_ENAMETOOLONG, "mmf_map_open");
  assert_null(m);
}

/* ---- views ---------------------------------------------------------------*/

static void view_map_null_and_bad_access_are_einval(void **state) {
  const char *p = make("viewargs");
  mmf_map *m;
  mmf_view *v = (mmf_view *)&v;
  th_res r;
  static const unsigned bad[] = {
      0,
      MMF_ACCESS_READ | MMF_ACCESS_WRITE,
      MMF_ACCESS_READ | MMF_ACCESS_COPY,
      MMF_ACCESS_WRITE | MMF_ACCESS_COPY,
      MMF_ACCESS_READ | MMF_ACCESS_WRITE | MMF_ACCESS_COPY,
      MMF_ACCESS_EXEC,
      MMF_VIEW_POPULATE,
      MMF_ACCESS_READ | 0x10,
      MMF_ACCESS_READ | 0x800,
      MMF_ACCESS_READ | 0x80000000u,
      MMF_ACCESS_READ | MMF_VIEW_SEQUENTIAL | MMF_VIEW_RANDOM};
  (void)state;
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READWRITE, 0, 0));
  r = th_res_now();
  TH_EXPECT_ERR(mmf_view_map(NULL, m, 0, 0, MMF_ACCESS_READ), MMF_EINVAL,
                "mmf_view_map");
  TH_EXPECT_ERR(mmf_view_map(&v, NULL, 0, 0, MMF_ACCESS_READ), MMF_EINVAL,
                "mmf_view_map");
  assert_null(v);
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    v = (mmf_view *)&v;
    TH_EXPECT_ERR(mmf_view_map(&v, m, 0, 0, bad[i]), MMF_EINVAL,
                  "mmf_view_map");
    assert_null(v);
    assert_true(msg_has(p));
  }
  TH_ASSERT_RES_SAME(r);
  TH_OK(mmf_map_close(m));
}

static void view_map_access_wider_than_prot_is_eprot(void **state) {
  const char *p = make("prot");
  mmf_map *ro, *wc, *rw;
  mmf_view *v = (mmf_view *)&v;
  th_res r;
  (void)state;
  TH_OK(mmf_map_open(&ro, p, MMF_PROT_READ, 0, 0));
  TH_OK(mmf_map_open(&wc, p, MMF_PROT_WRITECOPY, 0, 0));
  TH_OK(mmf_map_open(&rw, p, MMF_PROT_READWRITE, 0, 0));
  r = th_res_now();
  TH_EXPECT_ERR(mmf_view_map(&v, ro, 0, 0, MMF_ACCESS_WRITE), MMF_EPROT,
                "mmf_view_map");
  assert_null(v);
  assert_true(msg_has(p));
  TH_EXPECT_ERR(mmf_view_map(&v, wc, 0, 0, MMF_ACCESS_WRITE), MMF_EPROT,
                "mmf_view_map");
  /* EXEC needs MMF_PROT_EXEC on the mapping, whatever the view kind. */
  TH_EXPECT_ERR(mmf_view_map(&v, ro, 0, 0, MMF_ACCESS_READ | MMF_ACCESS_EXEC),
                MMF_EPROT, "mmf_view_map");
  TH_EXPECT_ERR(mmf_view_map(&v, rw, 0, 0, MMF_ACCESS_WRITE | MMF_ACCESS_EXEC),
                MMF_EPROT, "mmf_view_map");
  TH_EXPECT_ERR(mmf_view_map(&v, wc, 0, 0, MMF_ACCESS_COPY | MMF_ACCESS_EXEC),
                MMF_EPROT, "mmf_view_map");
  assert_null(v);
  /* Writes through the mapping object need READWRITE too. */
  TH_EXPECT_ERR(mmf_map_write(ro, 0, "x", 1), MMF_EPROT, "mmf_map_write");
  TH_EXPECT_ERR(mmf_map_write(wc, 0, "x", 1), MMF_EPROT, "mmf_map_write");
  TH_ASSERT_RES_SAME(r);
  TH_OK(mmf_map_close(ro));
  TH_OK(mmf_map_close(wc));
  TH_OK(mmf_map_close(rw));
}

static void view_map_offset_or_length_past_end_is_erange(void **state) {
  const char *p = make("range");
  mmf_map *m;
  mmf_view *v = (mmf_view *)&v;
  th_res r;
  (void)state;
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READ, 0, 0));
  r = th_res_now();
  TH_EXPECT_ERR(mmf_view_map(&v, m, FILE_SIZE, 0, MMF_ACCESS_READ), MMF_ERANGE,
                "mmf_view_map");
  assert_null(v);
  assert_true(msg_has(p));
  TH_EXPECT_ERR(mmf_view_map(&v, m, FILE_SIZE, 1, MMF_ACCESS_READ), MMF_ERANGE,
                "mmf_view_map");
  TH_EXPECT_ERR(mmf_view_map(&v, m, FILE_SIZE + 4096, 1, MMF_ACCESS_READ),
                MMF_ERANGE, "mmf_view_map");
  TH_EXPECT_ERR(mmf_view_map(&v, m, 0, FILE_SIZE + 1, MMF_ACCESS_READ),
                MMF_ERANGE, "mmf_view_map");
  TH_EXPECT_ERR(mmf_view_map(&v, m, FILE_SIZE - 1, 2, MMF_ACCESS_COPY),
                MMF_ERANGE, "mmf_view_map");
  TH_EXPECT_ERR(mmf_view_map(&v, m, UINT64_MAX, 1, MMF_ACCESS_READ),
                MMF_ERANGE, "mmf_view_map");
  assert_null(v);
  TH_ASSERT_RES_SAME(r);
  TH_OK(mmf_map_close(m));
}

static void view_map_offset_plus_length_overflow_is_eoverflow(void **state) {
  const char *p = make("overflow");
  mmf_map *m;
  mmf_view *v = (mmf_view *)&v;
  (void)state;
  if (SIZE_MAX < UINT64_MAX)
    skip(); /* a size_t cannot reach a 64-bit overflow */
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READ, 0, 0));
  TH_EXPECT_ERR(mmf_view_map(&v, m, 1, SIZE_MAX, MMF_ACCESS_READ),
                MMF_EOVERFLOW, "mmf_view_map");
  assert_null(v);
  TH_EXPECT_ERR(mmf_view_map(&v, m, FILE_SIZE - 1, SIZE_MAX - 5,
                             MMF_ACCESS_READ),
                MMF_EOVERFLOW, "mmf_view_map");
  assert_null(v);
  TH_OK(mmf_map_close(m));
}

static void view_calls_check_arguments_and_ranges(void **state) {
  const char *p = make("viewcalls");
  mmf_map *m;
  mmf_view *v;
  (void)state;
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READWRITE, 0, 0));
  TH_OK(mmf_view_map(&v, m, 100, 5000, MMF_ACCESS_WRITE));

  TH_EXPECT_ERR(mmf_view_advise(NULL, 0, 0, MMF_ADVICE_NORMAL), MMF_EINVAL,
                "mmf_view_advise");
  TH_EXPECT_ERR(mmf_view_advise(v, 0, 0, -1), MMF_EINVAL, "mmf_view_advise");
  TH_EXPECT_ERR(mmf_view_advise(v, 0, 0, MMF_ADVICE_POPULATE + 1), MMF_EINVAL,
                "mmf_view_advise");
  /* The advice is checked before the range. */
  TH_EXPECT_ERR(mmf_view_advise(v, 5001, 0, MMF_ADVICE_POPULATE + 1),
                MMF_EINVAL, "mmf_view_advise");
  TH_EXPECT_ERR(mmf_view_advise(v, 5001, 0, MMF_ADVICE_NORMAL), MMF_ERANGE,
                "mmf_view_advise");
  TH_EXPECT_ERR(mmf_view_advise(v, 4000, 1001, MMF_ADVICE_NORMAL), MMF_ERANGE,
                "mmf_view_advise");
  TH_EXPECT_ERR(mmf_view_advise(v, 1, SIZE_MAX, MMF_ADVICE_NORMAL),
                MMF_EOVERFLOW, "mmf_view_advise");

  TH_EXPECT_ERR(mmf_view_flush(NULL, 0, 0, MMF_FLUSH_SYNC), MMF_EINVAL,
                "mmf_view_flush");
  TH_EXPECT_ERR(mmf_view_flush(v, 0, 0, -1), MMF_EINVAL, "mmf_view_flush");
  TH_EXPECT_ERR(mmf_view_flush(v, 0, 0, MMF_FLUSH_DURABLE + 1), MMF_EINVAL,
                "mmf_view_flush");
  TH_EXPECT_ERR(mmf_view_flush(v, 5001, 0, MMF_FLUSH_SYNC), MMF_ERANGE,
                "mmf_view_flush");
  TH_EXPECT_ERR(mmf_view_flush(v, 0, 5001, MMF_FLUSH_SYNC), MMF_ERANGE,
                "mmf_view_flush");
  TH_EXPECT_ERR(mmf_view_flush(v, 2, SIZE_MAX - 1, MMF_FLUSH_SYNC),
                MMF_EOVERFLOW, "mmf_view_flush");

  TH_EXPECT_ERR(mmf_view_lock(NULL, 0, 0), MMF_EINVAL, "mmf_view_lock");
  TH_EXPECT_ERR(mmf_view_lock(v, 5001, 0), MMF_ERANGE, "mmf_view_lock");
  TH_EXPECT_ERR(mmf_view_lock(v, 10, 4991), MMF_ERANGE, "mmf_view_lock");
  TH_EXPECT_ERR(mmf_view_lock(v, 10, SIZE_MAX), MMF_EOVERFLOW,
                "mmf_view_lock");
  TH_EXPECT_ERR(mmf_view_unlock(NULL, 0, 0), MMF_EINVAL, "mmf_view_unlock");
  TH_EXPECT_ERR(mmf_view_unlock(v, 5001, 0), MMF_ERANGE, "mmf_view_unlock");
  TH_EXPECT_ERR(mmf_view_unlock(v, 10, SIZE_MAX), MMF_EOVERFLOW,
                "mmf_view_unlock");

  /* The error messages name the file. */
  TH_EXPECT_ERR(mmf_view_flush(v, 5001, 0, MMF_FLUSH_SYNC), MMF_ERANGE,
                "mmf_view_flush");
  assert_true(msg_has(p));

  TH_OK(mmf_view_unmap(v));
  TH_OK(mmf_map_close(m));
}

static void null_objects_are_harmless_where_documented(void **state) {
  (void)state;
  assert_int_equal(mmf_map_size(NULL), 0);
  assert_int_equal(mmf_map_prot(NULL), 0);
  assert_null(mmf_view_data(NULL));
  assert_int_equal(mmf_view_size(NULL), 0);
  assert_int_equal(mmf_view_offset(NULL), 0);
  assert_int_equal(mmf_window_buffered_count(NULL), 0);
  assert_int_equal(mmf_map_close(NULL), 0);
  assert_int_equal(mmf_view_unmap(NULL), 0);
  assert_int_equal(mmf_window_close(NULL), 0);
}

/* ---- mmf_map_read / mmf_map_write / mmf_map_sync / mmf_map_close --------*/

static void map_io_checks_arguments_and_ranges(void **state) {
  const char *p = make("mapio");
  unsigned char buf[16];
  size_t got = 77;
  mmf_map *m;
  (void)state;
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READWRITE, 0, 0));
  TH_EXPECT_ERR(mmf_map_read(NULL, 0, buf, 1, &got), MMF_EINVAL,
                "mmf_map_read");
  assert_int_equal(got, 0);
  TH_EXPECT_ERR(mmf_map_read(m, 0, NULL, 1, NULL), MMF_EINVAL,
                "mmf_map_read");
  TH_EXPECT_ERR(mmf_map_read(m, UINT64_MAX, buf, 2, &got), MMF_EOVERFLOW,
                "mmf_map_read");
  assert_int_equal(got, 0);
  TH_EXPECT_ERR(mmf_map_write(NULL, 0, buf, 1), MMF_EINVAL, "mmf_map_write");
  TH_EXPECT_ERR(mmf_map_write(m, 0, NULL, 1), MMF_EINVAL, "mmf_map_write");
  TH_EXPECT_ERR(mmf_map_write(m, FILE_SIZE, buf, 1), MMF_ERANGE,
                "mmf_map_write");
  assert_true(msg_has(p));
  TH_EXPECT_ERR(mmf_map_write(m, FILE_SIZE - 1, buf, 2), MMF_ERANGE,
                "mmf_map_write");
  TH_EXPECT_ERR(mmf_map_write(m, UINT64_MAX, buf, 2), MMF_EOVERFLOW,
                "mmf_map_write");
  TH_EXPECT_ERR(mmf_map_sync(NULL), MMF_EINVAL, "mmf_map_sync");
  /* Nothing was written by the failed writes. */
  assert_int_equal(th_file_size(p), FILE_SIZE);
  /* Zero-length I/O with a NULL buffer is fine. */
  TH_OK(mmf_map_read(m, 0, NULL, 0, &got));
  assert_int_equal(got, 0);
  TH_OK(mmf_map_write(m, 0, NULL, 0));
  TH_OK(mmf_map_close(m));
}

static void map_close_twice_while_a_view_holds_it_is_einval(void **state) {
  const char *p = make("close2");
  mmf_map *m;
  mmf_view *v;
  (void)state;
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READ, 0, 0));
  TH_OK(mmf_view_map(&v, m, 0, 0, MMF_ACCESS_READ));
  TH_OK(mmf_map_close(m));
  TH_EXPECT_ERR(mmf_map_close(m), MMF_EINVAL, "mmf_map_close");
  TH_OK(mmf_view_unmap(v));
}

/* ---- windows -------------------------------------------------------------*/

static void window_open_checks_arguments_and_range(void **state) {
  const char *p = make("winargs");
  mmf_map *m;
  mmf_window *w = (mmf_window *)&w;
  void *data;
  size_t size;
  th_res r;
  (void)state;
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READWRITE, 0, 0));
  r = th_res_now();
  TH_EXPECT_ERR(mmf_window_open(NULL, m, 0, 0, 0, MMF_ACCESS_READ, 0),
                MMF_EINVAL, "mmf_window_open");
  TH_EXPECT_ERR(mmf_window_open(&w, NULL, 0, 0, 0, MMF_ACCESS_READ, 0),
                MMF_EINVAL, "mmf_window_open");
  assert_null(w);
  TH_EXPECT_ERR(mmf_window_open(&w, m, 0, 0, 0, MMF_ACCESS_READ, 0x8),
                MMF_EINVAL, "mmf_window_open");
  TH_EXPECT_ERR(mmf_window_open(&w, m, 0, 0, 0, MMF_ACCESS_WRITE,
                                MMF_WINDOW_AUTO),
                MMF_EINVAL, "mmf_window_open");
  TH_EXPECT_ERR(mmf_window_open(&w, m, 0, 0, 0, MMF_ACCESS_COPY,
                                MMF_WINDOW_AUTO | MMF_WINDOW_BACKWARD),
                MMF_EINVAL, "mmf_window_open");
  TH_EXPECT_ERR(mmf_window_open(&w, m, 100, 50, 0, MMF_ACCESS_READ, 0),
                MMF_ERANGE, "mmf_window_open");
  TH_EXPECT_ERR(mmf_window_open(&w, m, 0, FILE_SIZE + 1, 0, MMF_ACCESS_READ,
                                0),
                MMF_ERANGE, "mmf_window_open");
  TH_EXPECT_ERR(mmf_window_open(&w, m, FILE_SIZE + 1, 0, 0, MMF_ACCESS_READ,
                                0),
                MMF_ERANGE, "mmf_window_open");
  assert_true(msg_has(p));
  assert_null(w);
  TH_ASSERT_RES_SAME(r);

  /* A window walk reports the view errors when it maps: a WRITE walk of a
   * read-only mapping. */
  {
    mmf_map *ro;
    TH_OK(mmf_map_open(&ro, p, MMF_PROT_READ, 0, 0));
    r = th_res_now();
    {
      int rc = mmf_window_open(&w, ro, 0, 0, 4096, MMF_ACCESS_WRITE, 0);
      if (rc == 0) {
        rc = mmf_window_next(w, &data, &size, NULL);
        assert_int_equal(rc, MMF_EPROT);
        assert_null(data);
        assert_int_equal(size, 0);
        TH_OK(mmf_window_close(w));
      } else {
        assert_int_equal(rc, MMF_EPROT);
      }
    }
    TH_ASSERT_RES_SAME(r);
    TH_OK(mmf_map_close(ro));
  }

  TH_OK(mmf_window_open(&w, m, 0, 0, 4096, MMF_ACCESS_READ, 0));
  TH_EXPECT_ERR(mmf_window_next(NULL, &data, &size, NULL), MMF_EINVAL,
                "mmf_window_next");
  TH_EXPECT_ERR(mmf_window_next(w, NULL, &size, NULL), MMF_EINVAL,
                "mmf_window_next");
  TH_EXPECT_ERR(mmf_window_next(w, &data, NULL, NULL), MMF_EINVAL,
                "mmf_window_next");
  TH_OK(mmf_window_close(w));
  TH_OK(mmf_map_close(m));
}

/* ---- error detail --------------------------------------------------------*/

static void success_does_not_clear_error_detail(void **state) {
  const char *p = make("sticky");
  const char *missing = th_path("sticky-missing");
  char saved[600];
  mmf_map *m;
  (void)state;
  TH_EXPECT_ERR(mmf_map_open(&m, missing, MMF_PROT_READ, 0, 0), MMF_ENOENT,
                "mmf_map_open");
  snprintf(saved, sizeof saved, "%s", mmf_last_error_message());
  assert_true(saved[0] != '\0');
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READ, 0, 0));
  TH_OK(mmf_map_close(m));
  assert_int_equal(mmf_last_error(), MMF_ENOENT);
  assert_string_equal(mmf_last_error_message(), saved);
}

static void error_message_is_one_line_naming_call_first(void **state) {
  const char *missing = th_path("oneline");
  mmf_map *m;
  const char *msg;
  (void)state;
  TH_EXPECT_ERR(mmf_map_open(&m, missing, MMF_PROT_READ, 0, 0), MMF_ENOENT,
                "mmf_map_open");
  msg = mmf_last_error_message();
  assert_int_equal(strncmp(msg, "mmf_map_open", 12), 0);
  assert_null(strchr(msg, '\n'));
  /* The path appears once, not repeated by each layer. */
  assert_null(strstr(strstr(msg, missing) + strlen(missing), missing));
}

static void *fail_in_thread(void *arg) {
  mmf_map *m;
  int *rc = arg;
  *rc = mmf_map_open(&m, th_path("thread-missing"), MMF_PROT_READ, 0, 0);
  *(rc + 1) = mmf_last_error();
  return NULL;
}

static void error_detail_is_per_thread(void **state) {
  const char *missing = th_path("main-missing");
  char saved[600];
  int res[2] = {0, 0};
  pthread_t t;
  mmf_map *m;
  (void)state;
  TH_EXPECT_ERR(mmf_map_open(&m, missing, MMF_PROT_READ, MMF_OPEN_EXCL, 0),
                MMF_EINVAL, "mmf_map_open");
  snprintf(saved, sizeof saved, "%s", mmf_last_error_message());
  assert_int_equal(pthread_create(&t, NULL, fail_in_thread, res), 0);
  assert_int_equal(pthread_join(t, NULL), 0);
  assert_int_equal(res[0], MMF_ENOENT);
  assert_int_equal(res[1], MMF_ENOENT);
  assert_int_equal(mmf_last_error(), MMF_EINVAL);
  assert_string_equal(mmf_last_error_message(), saved);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(error_codes_have_fixed_values),
      cmocka_unit_test(strerror_and_err_name_cover_every_code),
      cmocka_unit_test(version_and_system_facts_are_consistent),
      cmocka_unit_test(map_open_missing_file_is_enoent_naming_call_and_path),
      cmocka_unit_test(map_open_missing_directory_with_create_is_enoent),
      cmocka_unit_test(map_open_path_through_a_file_is_enoent),
      cmocka_unit_test(map_open_empty_file_without_size_is_eempty),
      cmocka_unit_test(map_open_directory_is_eisdir),
      cmocka_unit_test(map_open_create_excl_on_existing_is_eexist),
      cmocka_unit_test(map_open_read_only_larger_than_file_is_erange),
      cmocka_unit_test(map_open_null_arguments_are_einval),
      cmocka_unit_test(map_open_bad_prot_or_flags_is_einval),
      cmocka_unit_test(map_open_failed_create_leaves_no_file),
      cmocka_unit_test(map_open_extension_too_large_leaves_file_unchanged),
      cmocka_unit_test(map_open_truncate_with_impossible_size_keeps_content),
      cmocka_unit_test(map_open_name_too_long_is_enametoolong),
      cmocka_unit_test(view_map_null_and_bad_access_are_einval),
      cmocka_unit_test(view_map_access_wider_than_prot_is_eprot),
      cmocka_unit_test(view_map_offset_or_length_past_end_is_erange),
      cmocka_unit_test(view_map_offset_plus_length_overflow_is_eoverflow),
      cmocka_unit_test(view_calls_check_arguments_and_ranges),
      cmocka_unit_test(null_objects_are_harmless_where_documented),
      cmocka_unit_test(map_io_checks_arguments_and_ranges),
      cmocka_unit_test(map_close_twice_while_a_view_holds_it_is_einval),
      cmocka_unit_test(window_open_checks_arguments_and_range),
      cmocka_unit_test(success_does_not_clear_error_detail),
      cmocka_unit_test(error_message_is_one_line_naming_call_first),
      cmocka_unit_test(error_detail_is_per_thread),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
