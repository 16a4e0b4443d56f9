/* test_token.c -- handing a mapping to a child process: mmf_map_token
 * makes the mapping's handles inheritable and names them in a string, the
 * child (this program run again, `test_token --child MODE TOKEN`, started
 * with th_spawn_self: fork+exec / CreateProcessW with inheritance) turns
 * it back into a mapping with mmf_map_from_token. The mapping is a file
 * under th_tmpdir() mapped read-write: shared between processes exactly
 * like a memory-backed one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "helpers.h"
#include "internal.h" /* mmf__fault_arm, mmf__fault_fired, mmf__fault_call */
#include "mmf.h"

#define GRAN 65536 /* the largest allocation granularity (Windows) */
#define FILE_LEN (4 * GRAN)

static const char *make_zero_file(const char *name) {
  const char *p = th_path(name);
  unsigned char *zero = calloc(1, FILE_LEN);
  assert_non_null(zero);
  assert_int_equal(th_write_file(p, zero, FILE_LEN), 0);
  free(zero);
  return p;
}

/* ---- the children's side ---- */

/* The children's common start: rebuild the parent's FILE_LEN-byte mapping
 * from the token and map [off, off + len) writable. 0, or the child's exit
 * code: 2 no mapping, 3 wrong size, 4 no view. */
static int child_open_token(const char *token, uint64_t off, size_t len,
                            mmf_map **m, mmf_view **v) {
  if (mmf_map_from_token(m, token, MMF_PROT_READWRITE) != 0) {
    fprintf(stderr, "child: %s\n", mmf_last_error_message());
    return 2;
  }
  if (mmf_map_size(*m) != FILE_LEN)
    return 3;
  if (mmf_view_map(v, *m, off, len, MMF_ACCESS_WRITE) != 0)
    return 4;
  return 0;
}

/* `--child token TOKEN`: rebuild the parent's mapping, write through a view
 * and through the file, and check what the parent put there. */
static int child_token(const char *token) {
  unsigned char mine[1000], theirs[1000];
  mmf_map *m;
  mmf_view *v;
  int rc = child_open_token(token, 4097, 2000, &m, &v);
  if (rc)
    return rc;
  th_fill(theirs, sizeof theirs, 41);
  if (memcmp((unsigned char *)mmf_view_data(v) + 1000, theirs, sizeof theirs) !=
      0)
    return 5;
  th_fill(mine, sizeof mine, 42);
  memcpy(mmf_view_data(v), mine, sizeof mine);
  th_fill(mine, sizeof mine, 43);
  if (mmf_map_write(m, 3 * GRAN, mine, sizeof mine) != 0 ||
      mmf_map_sync(m) != 0)
    return 6;
  if (mmf_view_unmap(v) != 0 || mmf_map_close(m) != 0)
    return 7;
  return 0;
}

/* `--child token-revoked TOKEN`: started after mmf_map_token_revoke(), so
 * the handles the token names are not this process's. */
static int child_token_revoked(const char *token) {
  mmf_map *m;
  int rc = mmf_map_from_token(&m, token, MMF_PROT_READWRITE);
  if (rc == MMF_EBADF)
    return 0;
  fprintf(stderr, "child: %s: %s\n", mmf_err_name(rc),
          mmf_last_error_message());
  if (rc == 0)
    mmf_map_close(m);
  return 2;
}

/* `--child anon TOKEN`: the parent's anonymous shared memory, which has no
 * name: the token is the only way in. Check the parent's bytes at 0, write
 * ours at GRAN. */
static int child_anon(const char *token) {
  unsigned char want[1000];
  mmf_map *m;
  mmf_view *v;
  int rc = child_open_token(token, 0, 0, &m, &v);
  if (rc)
    return rc;
  th_fill(want, sizeof want, 51);
  if (memcmp(mmf_view_data(v), want, sizeof want) != 0)
    return 5;
  th_fill(want, sizeof want, 52);
  memcpy((unsigned char *)mmf_view_data(v) + GRAN, want, sizeof want);
  if (mmf_view_unmap(v) != 0 || mmf_map_close(m) != 0)
    return 6;
  return 0;
}

/* `--child hold TOKEN FLAG`: keep the handed-over mapping until the file
 * FLAG exists (at most ~60 s), then leave. */
static int child_hold(const char *token, const char *flag) {
  mmf_map *m;
  mmf_view *v;
  if (mmf_map_from_token(&m, token, MMF_PROT_READWRITE) != 0 ||
      mmf_view_map(&v, m, 0, 0, MMF_ACCESS_WRITE) != 0)
    return 2;
  ((unsigned char *)mmf_view_data(v))[0] = 0x5a;
  for (long i = 0; !th_exists(flag); i++) {
    if (i > 6000000L)
      return 3;
    th_yield();
  }
  mmf_view_unmap(v);
  mmf_map_close(m);
  return 0;
}

static intptr_t spawn(const char *const *args) {
  intptr_t child = th_spawn_self(args);
  assert_true(child > 0);
  return child;
}

/* ---- the parent's side ---- */

/* The handles a token names (-1 for none). */
static void token_handles(const char *tok, long long *s, long long *f) {
  assert_int_equal(sscanf(tok, "mmf1:s=%lld:f=%lld:", s, f), 2);
}

static void token_hands_the_mapping_to_a_child_until_revoked(void **state) {
  const char *p = make_zero_file("token");
  unsigned char mine[1000], want[1000];
  char tok[MMF_TOKEN_MAX];
  long long s, f;
  mmf_map *m;
  mmf_view *v;
  intptr_t child;
  (void)state;
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READWRITE, 0, 0));
  TH_OK(mmf_view_map(&v, m, 0, 0, MMF_ACCESS_WRITE));
  th_fill(mine, sizeof mine, 41);
  memcpy((unsigned char *)mmf_view_data(v) + 5097, mine, sizeof mine);

  TH_OK(mmf_map_token(m, tok, sizeof tok));
  token_handles(tok, &s, &f);
  if (s != -1)
    assert_int_equal(th_native_inheritable((intptr_t)s), 1);
  if (f != -1)
    assert_int_equal(th_native_inheritable((intptr_t)f), 1);
  assert_true(s != -1 || f != -1);
  {
    const char *args[] = {"--child", "token", tok, NULL};
    child = spawn(args);
  }
  /* Children started from now on get nothing. */
  TH_OK(mmf_map_token_revoke(m));
  if (s != -1)
    assert_int_equal(th_native_inheritable((intptr_t)s), 0);
  if (f != -1)
    assert_int_equal(th_native_inheritable((intptr_t)f), 0);
  assert_int_equal(th_wait_child(child), 0);
  {
    const char *args[] = {"--child", "token-revoked", tok, NULL};
    assert_int_equal(th_wait_child(spawn(args)), 0);
  }

  /* The child's store through its view and its write through the file. */
  th_fill(want, sizeof want, 42);
  assert_memory_equal((unsigned char *)mmf_view_data(v) + 4097, want,
                      sizeof want);
  th_fill(want, sizeof want, 43);
  assert_memory_equal((unsigned char *)mmf_view_data(v) + 3 * GRAN, want,
                      sizeof want);
  TH_OK(mmf_view_unmap(v));
  TH_OK(mmf_map_close(m));
}

/* The seed's "handle inheritance" way of sharing: anonymous memory (memfd /
 * an unnamed pagefile section) reaches a child only through its handle. */
static void anonymous_shared_memory_reaches_a_child_by_token(void **state) {
  unsigned char mine[1000];
  char tok[MMF_TOKEN_MAX];
  mmf_map *m;
  mmf_view *v;
  (void)state;
  TH_OK(mmf_shm_anonymous(&m, FILE_LEN));
  TH_OK(mmf_view_map(&v, m, 0, 0, MMF_ACCESS_WRITE));
  th_fill(mine, sizeof mine, 51);
  memcpy(mmf_view_data(v), mine, sizeof mine);
  TH_OK(mmf_map_token(m, tok, sizeof tok));
  {
    const char *args[] = {"--child", "anon", tok, NULL};
    intptr_t child = spawn(args);
    TH_OK(mmf_map_token_revoke(m));
    assert_int_equal(th_wait_child(child), 0);
  }
  th_fill(mine, sizeof mine, 52);
  assert_memory_equal((unsigned char *)mmf_view_data(v) + GRAN, mine,
                      sizeof mine);
  TH_OK(mmf_view_unmap(v));
  TH_OK(mmf_map_close(m));
}

/* A child holding a named object's handed-over file must not keep the
 * parent's lifetime locks: after the parent's last close the name is free
 * at once (no open, create or remove of it waits for the child). */
static void token_child_does_not_hold_the_parents_locks(void **state) {
  char name[64], tok[MMF_TOKEN_MAX];
  const char *flag = th_path("hold-flag");
  mmf_map *m, *again, *keep;
  intptr_t child;
  (void)state;
  snprintf(name, sizeof name, "test-token-hold-%lu", th_pid());
  TH_OK(mmf_shm_create(&m, name, FILE_LEN, MMF_SHM_TRANSIENT));
  TH_OK(mmf_map_token(m, tok, sizeof tok));
  {
    const char *args[] = {"--child", "hold", tok, flag, NULL};
    child = spawn(args);
  }
  TH_OK(mmf_map_token_revoke(m));
  /* A second holder, so closing the first is not the last close: its lock
   * on the name must be released even though the child shares its file. */
  TH_OK(mmf_shm_open(&keep, name, MMF_PROT_READWRITE, 0));
  TH_OK(mmf_map_close(m));
  TH_OK(mmf_shm_open(&again, name, MMF_PROT_READ, 0)); /* must not wait */
  TH_OK(mmf_map_close(again));
  TH_OK(mmf_map_close(keep));
  /* The child still maps the memory, but is not a holder of the name. */
  TH_EXPECT_ERR(mmf_shm_open(&again, name, MMF_PROT_READ, 0), MMF_ENOENT,
                "mmf_shm_open");
  TH_OK(mmf_shm_create(&again, name, 4096, MMF_SHM_TRANSIENT));
  TH_OK(mmf_map_close(again));
  assert_int_equal(th_write_file(flag, "go", 2), 0);
  assert_int_equal(th_wait_child(child), 0);
}

static void token_rebuilds_the_mapping_in_the_same_process(void **state) {
  const char *p = make_zero_file("token-self");
  char tok[MMF_TOKEN_MAX], small[8];
  mmf_map *m, *ro, *again = (mmf_map *)&again;
  mmf_view *v, *w;
  th_res before;
  (void)state;
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READ, 0, 0));
  before = th_res_now();
  /* Too small a buffer changes nothing. */
  TH_EXPECT_ERR(mmf_map_token(m, small, sizeof small), MMF_EINVAL,
                "mmf_map_token");
  assert_string_equal(small, "");
  TH_OK(mmf_map_token(m, tok, sizeof tok));
  assert_true(strlen(tok) < MMF_TOKEN_MAX);
  assert_memory_equal(tok, "mmf1:", 5);

  /* More than the token grants. */
  TH_EXPECT_ERR(mmf_map_from_token(&again, tok, MMF_PROT_READWRITE), MMF_EPROT,
                "mmf_map_from_token");
  assert_null(again);
  TH_EXPECT_ERR(mmf_map_from_token(&again, tok, MMF_PROT_READ | MMF_PROT_EXEC),
                MMF_EPROT, "mmf_map_from_token");
  TH_ASSERT_RES_SAME(before);

  /* Twice, read-only and copy-on-write: each its own mapping object. */
  TH_OK(mmf_map_from_token(&ro, tok, MMF_PROT_READ));
  TH_OK(mmf_map_from_token(&again, tok, MMF_PROT_WRITECOPY));
  assert_int_equal(mmf_map_size(ro), FILE_LEN);
  assert_int_equal(mmf_map_prot(again), MMF_PROT_WRITECOPY);
  TH_OK(mmf_view_map(&v, ro, 10, 100, MMF_ACCESS_READ));
  TH_OK(mmf_view_map(&w, again, 0, 0, MMF_ACCESS_COPY));
  memset(mmf_view_data(w), 0x77, 200); /* private: never reaches the file */
  {
    unsigned char zero[100] = {0};
    assert_memory_equal(mmf_view_data(v), zero, sizeof zero);
  }
  TH_OK(mmf_view_unmap(v));
  TH_OK(mmf_view_unmap(w));
  TH_OK(mmf_map_close(ro));
  TH_OK(mmf_map_close(again));
  TH_OK(mmf_map_token_revoke(m));
  TH_ASSERT_RES_SAME(before);
  TH_OK(mmf_map_close(m));
  {
    unsigned char *zero = calloc(1, FILE_LEN);
    assert_non_null(zero);
    assert_true(th_file_equals(p, zero, FILE_LEN));
    free(zero);
  }
}

static void malformed_and_foreign_tokens_are_rejected(void **state) {
  static const char *const bad[] = {
      "",
      "mmf1:",
      "mmf2:s=-1:f=3:size=4096:prot=1",
      "MMF1:s=-1:f=3:size=4096:prot=1",
      "mmf1:s=-1:f=3:size=4096",
      "mmf1:s=-1:f=3:size=4096:prot=1:",
      "mmf1:s=-1:f=3:size=4096:prot=1x",
      "mmf1:s=-1:f=3:size=0:prot=1",
      "mmf1:s=-1:f=3:size=-1:prot=1",
      "mmf1:s=-1:f=3:size=4096:prot=4",
      "mmf1:s=-1:f=3:size=4096:prot=0",
      "mmf1:s=-2:f=3:size=4096:prot=1",
      "mmf1:s=-1:f=03:size=4096:prot=1",
      "mmf1:s=-1:f=+3:size=4096:prot=1",
      "mmf1:s=-1:f= 3:size=4096:prot=1",
      "mmf1:s=-1:f=3:size=99999999999999999999:prot=1",
      "mmf1:s=-1:f=3:size=9223372036854775808:prot=1",
      "mmf1:f=3:s=-1:size=4096:prot=1",
      "mmf1:s=-1:f=3:size=4096:prot=1\n",
  };
  char longtok[300];
  mmf_map *m = (mmf_map *)&m;
  th_res before = th_res_now();
  (void)state;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    TH_EXPECT_ERR(mmf_map_from_token(&m, bad[i], MMF_PROT_READ), MMF_EINVAL,
                  "mmf_map_from_token");
    assert_null(m);
  }
  memset(longtok, '1', sizeof longtok);
  memcpy(longtok, "mmf1:s=-1:f=3:size=", 19);
  longtok[sizeof longtok - 1] = '\0';
  TH_EXPECT_ERR(mmf_map_from_token(&m, longtok, MMF_PROT_READ), MMF_EINVAL,
                "mmf_map_from_token");
  TH_EXPECT_ERR(mmf_map_from_token(&m, NULL, MMF_PROT_READ), MMF_EINVAL,
                "mmf_map_from_token");
  TH_EXPECT_ERR(mmf_map_from_token(&m, "mmf1:s=-1:f=3:size=1:prot=1", 7),
                MMF_EINVAL, "mmf_map_from_token");
  /* Well-formed, but naming nothing this process has open. */
  TH_EXPECT_ERR(mmf_map_from_token(&m,
                                   th_is_windows()
                                       ? "mmf1:s=1048572:f=-1:size=4096:prot=1"
                                       : "mmf1:s=-1:f=1048572:size=4096:prot=1",
                                   MMF_PROT_READ),
                MMF_EBADF, "mmf_map_from_token");
  TH_ASSERT_RES_SAME(before);
}

static void token_naming_the_wrong_kind_of_handle_is_ebadf(void **state) {
  const char *p = make_zero_file("token-kind");
  char tok[MMF_TOKEN_MAX], forged[MMF_TOKEN_MAX];
  long long s, f;
  mmf_map *m, *got = (mmf_map *)&got;
  th_res before;
  (void)state;
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READWRITE, 0, 0));
  TH_OK(mmf_map_token(m, tok, sizeof tok));
  TH_OK(mmf_map_token_revoke(m));
  token_handles(tok, &s, &f);
  before = th_res_now();
  /* The file handle given as the section (Windows), or a section where
   * POSIX has none. */
  snprintf(forged, sizeof forged, "mmf1:s=%lld:f=-1:size=%d:prot=2", f,
           FILE_LEN);
  TH_EXPECT_ERR(mmf_map_from_token(&got, forged, MMF_PROT_READ), MMF_EBADF,
                "mmf_map_from_token");
  assert_null(got);
  /* A size larger than the file. */
  snprintf(forged, sizeof forged, "mmf1:s=%lld:f=%lld:size=%d:prot=2", s, f,
           FILE_LEN + 1);
  TH_EXPECT_ERR(mmf_map_from_token(&got, forged, MMF_PROT_READ), MMF_ERANGE,
                "mmf_map_from_token");
  TH_ASSERT_RES_SAME(before);
  TH_OK(mmf_map_close(m));
}

/* ---- fault injection --------------------------------------------------------
 * Every OS call of each operation fails in turn (test_fault.c's method):
 * a documented code, a message naming the call, nothing left open or
 * mapped, and the operation works once no fault fires. */

static const int token_codes[] = {MMF_EINVAL, MMF_EBADF, MMF_EOS, 0};
static const int from_token_codes[] = {
    MMF_EINVAL,  MMF_EPROT,  MMF_EBADF,  MMF_ERANGE,
    MMF_ENOTSUP, MMF_EISDIR, MMF_EMFILE, MMF_ENOMEM,
    MMF_EIO,     MMF_EOS,    0};

static struct {
  char path[1024];
  mmf_map *map, *got;
  char tok[MMF_TOKEN_MAX];
} g;


static long long tok_s, tok_f; /* the handles the mapping's token names */

static int run_token(void) {
  int rc = mmf_map_token(g.map, g.tok, sizeof g.tok);
  if (rc) {
    /* Nothing was made inheritable: a half-done change is undone. */
    assert_string_equal(g.tok, "");
    if (tok_s != -1)
      assert_int_equal(th_native_inheritable((intptr_t)tok_s), 0);
    if (tok_f != -1)
      assert_int_equal(th_native_inheritable((intptr_t)tok_f), 0);
  }
  return rc;
}

static void undo_token(void) { TH_OK(mmf_map_token_revoke(g.map)); }

static int run_from_token(void) {
  g.got = (mmf_map *)&g;
  int rc = mmf_map_from_token(&g.got, g.tok, MMF_PROT_READWRITE);
  if (rc)
    assert_null(g.got);
  return rc;
}

static void undo_from_token(void) {
  mmf_view *v;
  TH_OK(mmf_view_map(&v, g.got, 0, 16, MMF_ACCESS_WRITE));
  TH_OK(mmf_view_unmap(v));
  TH_OK(mmf_map_close(g.got));
}

static void token_operations_fail_cleanly_under_fault_injection(void **state) {
  unsigned faults;
  (void)state;
  snprintf(g.path, sizeof g.path, "%s", make_zero_file("fault"));
  TH_OK(mmf_map_open(&g.map, g.path, MMF_PROT_READWRITE, 0, 0));

  /* fcntl(F_GETFD), fcntl(F_SETFD) / SetHandleInformation x2 */
  TH_OK(mmf_map_token(g.map, g.tok, sizeof g.tok));
  token_handles(g.tok, &tok_s, &tok_f);
  TH_OK(mmf_map_token_revoke(g.map));
  faults =
      th_fault_loop("mmf_map_token", g.path, token_codes, run_token, undo_token);
  print_message("mmf_map_token: %u faults\n", faults);
  assert_int_equal(faults, 2);

  /* fcntl, fstat, fcntl(dup), fstat / GetFileInformationByHandle,
   * DuplicateHandle, GetFileSizeEx, DuplicateHandle, MapViewOfFile */
  TH_OK(mmf_map_token(g.map, g.tok, sizeof g.tok));
  faults = th_fault_loop("mmf_map_from_token", "<token s=", from_token_codes,
                      run_from_token, undo_from_token);
  print_message("mmf_map_from_token: %u faults\n", faults);
  assert_true(faults >= 4);
  TH_OK(mmf_map_token_revoke(g.map));
  TH_OK(mmf_map_close(g.map));
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(token_hands_the_mapping_to_a_child_until_revoked),
      cmocka_unit_test(token_rebuilds_the_mapping_in_the_same_process),
      cmocka_unit_test(anonymous_shared_memory_reaches_a_child_by_token),
      cmocka_unit_test(token_child_does_not_hold_the_parents_locks),
      cmocka_unit_test(malformed_and_foreign_tokens_are_rejected),
      cmocka_unit_test(token_naming_the_wrong_kind_of_handle_is_ebadf),
      cmocka_unit_test(token_operations_fail_cleanly_under_fault_injection),
  };
  if (argc >= 4 && strcmp(argv[1], "--child") == 0) {
    if (strcmp(argv[2], "token") == 0)
      return child_token(argv[3]);
    if (strcmp(argv[2], "hold") == 0 && argc >= 5)
      return child_hold(argv[3], argv[4]);
    if (strcmp(argv[2], "anon") == 0)
      return child_anon(argv[3]);
    if (strcmp(argv[2], "token-revoked") == 0)
      return child_token_revoked(argv[3]);
    return 100;
  }
  return cmocka_run_group_tests(tests, NULL, NULL);
}
