/* test_shm.c -- named and anonymous memory-backed mappings: one lifetime
 * rule on every OS (transient objects vanish with their last holder, even a
 * killed one; persistent ones stay until removed), name validation,
 * owner-only permission, exclusive create that a symlink or another user
 * cannot redirect, `mmf share` end to end, and fault injection over create,
 * open and remove. Children are this program run again:
 * `test_shm --child MODE NAME`. Object names carry the pid so parallel runs
 * never meet. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "helpers.h"
#include "internal.h" /* mmf__fault_arm, mmf__fault_fired, mmf__fault_call */
#include "mmf.h"

#define OBJ_LEN 100005         /* not a multiple of any page size */
#define REPLY_AT 70001
#define REPLY_LEN 3000
#define FLAG_AT 0              /* the child's "ready" flag */

/* A unique object name for this run: "t<pid>-<what>". */
static const char *obj(const char *what) {
  static char slots[8][96];
  static int next;
  char *p = slots[next++ % 8];
  snprintf(p, sizeof slots[0], "t%lu-%s", th_pid(), what);
  return p;
}

/* Open NAME read-only once another process has created it: its code (still
 * MMF_ENOENT if it never appeared within TH_WAIT_MS). */
struct shm_open_try {
  mmf_map **m;
  const char *name;
  int rc;
};

static int shm_opened(void *ctx) {
  struct shm_open_try *t = ctx;
  t->rc = mmf_shm_open(t->m, t->name, MMF_PROT_READ, 0);
  return t->rc != MMF_ENOENT;
}

static int open_once_there(mmf_map **m, const char *name) {
  struct shm_open_try t = {m, name, MMF_ENOENT};
  (void)th_wait_until(shm_opened, &t, TH_WAIT_MS);
  return t.rc;
}

/* 1 when the file `path` starts with `want` and has more after it. */
struct file_starts {
  const char *path, *want;
};

static int file_starts_with(void *ctx) {
  struct file_starts *f = ctx;
  size_t n, len = strlen(f->want);
  char *got = (char *)th_read_file(f->path, &n);
  int seen = got && n > len && memcmp(got, f->want, len) == 0;
  free(got);
  return seen;
}

/* 1 when mmf_shm_list() reports `name`; its size and lifetime then. */
struct find {
  const char *name;
  int found;
  mmf_shm_info info;
};

static int find_one(void *ctx, const mmf_shm_info *info) {
  struct find *f = ctx;
  if (strcmp(info->name, f->name) == 0) {
    f->found++;
    f->info = *info;
  }
  return 0;
}

static struct find listed(const char *name) {
  struct find f;
  memset(&f, 0, sizeof f);
  f.name = name;
  TH_OK(mmf_shm_list(find_one, &f));
  return f;
}

static void assert_gone(const char *name) {
  mmf_map *m = (mmf_map *)&m;
  TH_EXPECT_ERR(mmf_shm_open(&m, name, MMF_PROT_READ, 0), MMF_ENOENT,
                "mmf_shm_open");
  assert_null(m);
  assert_int_equal(listed(name).found, 0);
  assert_false(th_exists(th_shm_object_path(name)));
  assert_int_equal(th_shm_leftovers(name), 0);
}

static intptr_t spawn(const char *mode, const char *name) {
  const char *args[] = {"--child", mode, name, NULL};
  intptr_t child = th_spawn_self(args);
  assert_true(child > 0);
  return child;
}

/* ---- children -------------------------------------------------------------*/

/* `rw NAME`: open by name, check the parent's pattern, write a reply. */
static int child_rw(const char *name) {
  unsigned char want[OBJ_LEN];
  mmf_map *m;
  mmf_view *v;
  unsigned char *d;
  if (mmf_shm_open(&m, name, MMF_PROT_READWRITE, 0) != 0)
    return 1;
  if (mmf_map_size(m) != OBJ_LEN)
    return 2;
  if (mmf_view_map(&v, m, 0, 0, MMF_ACCESS_WRITE) != 0)
    return 3;
  d = mmf_view_data(v);
  th_fill(want, sizeof want, 11);
  if (memcmp(d + 64, want + 64, OBJ_LEN - 64) != 0)
    return 4;
  th_fill(d + REPLY_AT, REPLY_LEN, 12);
  if (mmf_view_unmap(v) != 0 || mmf_map_close(m) != 0)
    return 5;
  return 0;
}

/* `hold NAME`: create a transient object, fill it, say so, then wait to be
 * killed (never closes). */
static int child_hold(const char *name) {
  mmf_map *m;
  mmf_view *v;
  unsigned char *d;
  if (mmf_shm_create(&m, name, OBJ_LEN, MMF_SHM_TRANSIENT) != 0)
    return 1;
  if (mmf_view_map(&v, m, 0, 0, MMF_ACCESS_WRITE) != 0)
    return 2;
  d = mmf_view_data(v);
  memset(d + 64, 0xAB, OBJ_LEN - 64);
  atomic_store_explicit(th_word(d, FLAG_AT), 1, memory_order_release);
  th_wait_word_at(d, FLAG_AT, 99); /* never comes: the parent kills us */
  return 3;
}

/* `nobody-open NAME` / `nobody-open-any NAME`: as user 65534, open the
 * object read-write. Exit 0 when the outcome is the expected one: EACCES
 * for an owner-only object, success (and the right bytes) for ANYONE. */
static int child_nobody_open(const char *name, int anyone) {
  mmf_map *m;
  int rc;
  if (th_drop_to_nobody() != 0)
    return 10;
  rc = mmf_shm_open(&m, name, MMF_PROT_READWRITE, 0);
  if (!anyone) {
    if (rc != MMF_EACCES) {
      fprintf(stderr, "owner-only open gave %s: %s\n", mmf_err_name(rc),
              mmf_last_error_message());
      return 1;
    }
    return 0;
  }
  if (rc != 0) {
    fprintf(stderr, "ANYONE open: %s\n", mmf_last_error_message());
    return 2;
  }
  {
    mmf_view *v;
    if (mmf_view_map(&v, m, 5, 1, MMF_ACCESS_WRITE) != 0 ||
        *(unsigned char *)mmf_view_data(v) != 0x5A)
      return 3;
    mmf_view_unmap(v);
  }
  return mmf_map_close(m) == 0 ? 0 : 4;
}

/* `nobody-create NAME`: as user 65534, create a persistent ANYONE object
 * (a squatter's, seen from root). */
static int child_nobody_create(const char *name) {
  mmf_map *m;
  if (th_drop_to_nobody() != 0)
    return 10;
  if (mmf_shm_create(&m, name, 4096, MMF_SHM_PERSISTENT | MMF_SHM_ANYONE) !=
      0)
    return 1;
  return mmf_map_close(m) == 0 ? 0 : 2;
}

/* `nobody-last NAME`: as user 65534, hold root's transient ANYONE object
 * NAME until root has let it go (flag 2 in the persistent object
 * NAME-sig), then close it as its last holder, in the sticky /dev/shm
 * where only root may remove root's file. The close succeeds and the
 * object is gone for this user too. */
static int child_nobody_last(const char *name) {
  char sig[96];
  mmf_map *m, *sm;
  mmf_view *sv;
  int rc;
  snprintf(sig, sizeof sig, "%s-sig", name);
  if (th_drop_to_nobody() != 0)
    return 10;
  if (mmf_shm_open(&m, name, MMF_PROT_READWRITE, 0) != 0 ||
      mmf_shm_open(&sm, sig, MMF_PROT_READWRITE, 0) != 0 ||
      mmf_view_map(&sv, sm, 0, 0, MMF_ACCESS_WRITE) != 0)
    return 1;
  atomic_store(th_word(mmf_view_data(sv), FLAG_AT), 1);
  if (th_wait_word_at(mmf_view_data(sv), FLAG_AT, 2) != 0)
    return 2;
  rc = mmf_map_close(m);
  if (rc != 0) {
    fprintf(stderr, "last close as another user: %s\n",
            mmf_last_error_message());
    return 3;
  }
  rc = mmf_shm_open(&m, name, MMF_PROT_READ, 0);
  if (rc != MMF_ENOENT) {
    fprintf(stderr, "open after the last close gave %s: %s\n",
            mmf_err_name(rc), mmf_last_error_message());
    return 4;
  }
  mmf_view_unmap(sv);
  return mmf_map_close(sm) == 0 ? 0 : 5;
}

/* `churn NAME`: create-or-open, touch, close, many times, racing another
 * churner: every last close races a create of the same name. */
static int count_one(void *ctx, const mmf_shm_info *info) {
  (void)info;
  ++*(int *)ctx;
  return 0;
}

/* The name of the object a child makes to say "I am inside fill": NAME with
 * its first letter changed, so it is no prefix of NAME's own files. */
static const char *signal_name(const char *name) {
  static char sig[128];
  snprintf(sig, sizeof sig, "s%s", name + 1);
  return sig;
}

static int fill_then_hang(void *ctx, void *data, uint64_t size) {
  const char *name = ctx;
  mmf_map *m;
  memset(data, 0xCD, (size_t)size / 2); /* half written */
  if (mmf_shm_create(&m, signal_name(name), 64, MMF_SHM_PERSISTENT) != 0 ||
      mmf_map_close(m) != 0)
    return MMF_EIO;
  th_sleep_ms(TH_WAIT_MS); /* the parent kills us long before */
  return MMF_EIO;
}

/* `fill-forever NAME`: create NAME with a fill that never finishes. */
static int child_fill_forever(const char *name) {
  mmf_map *m;
  return mmf_shm_create_filled(&m, name, OBJ_LEN, MMF_SHM_PERSISTENT,
                               fill_then_hang, (void *)name) == 0
             ? 1
             : 2;
}

/* List (and so sweep every name's temporary files) over and over while
 * others create and close: a sweep must never make their creates fail. */
static int child_list_loop(const char *name) {
  (void)name;
  for (int i = 0; i < 600; i++) {
    int n = 0;
    if (mmf_shm_list(count_one, &n) != 0) {
      fprintf(stderr, "list %d: %s\n", i, mmf_last_error_message());
      return 1;
    }
  }
  return 0;
}

static int child_churn(const char *name) {
  for (int i = 0; i < 300; i++) {
    mmf_map *m;
    mmf_view *v;
    int rc = mmf_shm_create(&m, name, 4096, MMF_SHM_OPEN_EXISTING);
    if (rc != 0) {
      fprintf(stderr, "churn %d: %s\n", i, mmf_last_error_message());
      return 1;
    }
    if (mmf_map_size(m) != 4096 ||
        mmf_view_map(&v, m, 0, 0, MMF_ACCESS_WRITE) != 0) {
      fprintf(stderr, "churn %d: %s\n", i, mmf_last_error_message());
      return 2;
    }
    atomic_fetch_add((atomic_uint *)mmf_view_data(v), 1);
    if (mmf_view_unmap(v) != 0 || mmf_map_close(m) != 0) {
      fprintf(stderr, "churn %d: %s\n", i, mmf_last_error_message());
      return 3;
    }
  }
  return 0;
}

/* ---- names -----------------------------------------------------------------*/

static void check_bad_name(const char *name, const char *reason) {
  mmf_map *m = (mmf_map *)&m;
  TH_EXPECT_ERR(mmf_shm_create(&m, name, 10, 0), MMF_EINVAL,
                "mmf_shm_create");
  assert_null(m);
  if (!strstr(mmf_last_error_message(), reason))
    print_error("\"%s\": message \"%s\" does not say \"%s\"\n", name,
                mmf_last_error_message(), reason);
  assert_non_null(strstr(mmf_last_error_message(), reason));
  TH_EXPECT_ERR(mmf_shm_open(&m, name, MMF_PROT_READ, 0), MMF_EINVAL,
                "mmf_shm_open");
  TH_EXPECT_ERR(mmf_shm_remove(name), MMF_EINVAL, "mmf_shm_remove");
}

static void bad_names_are_rejected_with_the_reason(void **state) {
  char longest[MMF_SHM_NAME_MAX + 2];
  mmf_map *m;
  (void)state;
  check_bad_name("", "empty");
  check_bad_name(".hidden", "may not start with '.'");
  check_bad_name("..", "may not start with '.'");
  check_bad_name("frames.", "may not end with '.'");
  check_bad_name("a/b", "path separator");
  check_bad_name("a\\b", "path separator");
  check_bad_name("a b", "alphabet");
  check_bad_name("caf\xc3\xa9", "alphabet");
  check_bad_name("x:y", "alphabet");
  memset(longest, 'n', sizeof longest);
  longest[MMF_SHM_NAME_MAX + 1] = '\0';
  check_bad_name(longest, "the most is 128");
  /* The longest name that is allowed works, as does every character. */
  snprintf(longest, sizeof longest, "t%lu-", th_pid());
  memset(longest + strlen(longest), 'L',
         MMF_SHM_NAME_MAX - strlen(longest));
  longest[MMF_SHM_NAME_MAX] = '\0';
  TH_OK(mmf_shm_create(&m, longest, 10, 0));
  TH_OK(mmf_map_close(m));
  TH_OK(mmf_shm_create(&m, obj("Az09._-"), 10, 0));
  TH_OK(mmf_map_close(m));
  /* NULLs and bad arguments. */
  TH_EXPECT_ERR(mmf_shm_create(NULL, "x", 1, 0), MMF_EINVAL,
                "mmf_shm_create");
  TH_EXPECT_ERR(mmf_shm_create(&m, NULL, 1, 0), MMF_EINVAL, "mmf_shm_create");
  TH_EXPECT_ERR(mmf_shm_create(&m, "x", 1, 0x100), MMF_EINVAL,
                "mmf_shm_create");
  TH_EXPECT_ERR(mmf_shm_open(&m, "x", MMF_PROT_WRITECOPY, 0), MMF_EINVAL,
                "mmf_shm_open");
  TH_EXPECT_ERR(mmf_shm_list(NULL, NULL), MMF_EINVAL, "mmf_shm_list");
  TH_EXPECT_ERR(mmf_shm_anonymous(&m, 0), MMF_EINVAL, "mmf_shm_anonymous");
}

/* ---- by name, across processes --------------------------------------------*/

static void create_open_read_write_across_processes(void **state) {
  const char *name = obj("rw");
  unsigned char pattern[OBJ_LEN], reply[REPLY_LEN];
  mmf_map *m;
  mmf_view *v;
  unsigned char *d;
  (void)state;
  TH_OK(mmf_shm_create(&m, name, OBJ_LEN, 0));
  assert_int_equal(mmf_map_size(m), OBJ_LEN);
  assert_int_equal(mmf_map_prot(m), MMF_PROT_READWRITE);
  TH_OK(mmf_view_map(&v, m, 0, 0, MMF_ACCESS_WRITE));
  d = mmf_view_data(v);
  /* A new object starts zero-filled. */
  for (size_t i = 0; i < OBJ_LEN; i++)
    assert_int_equal(d[i], 0);
  th_fill(pattern, sizeof pattern, 11);
  memcpy(d + 64, pattern + 64, OBJ_LEN - 64);
  assert_int_equal(th_wait_child(spawn("rw", name)), 0);
  th_fill(reply, sizeof reply, 12);
  assert_memory_equal(d + REPLY_AT, reply, REPLY_LEN);
  /* The child has gone, we still hold it: it is still there. */
  assert_int_equal(listed(name).found, 1);
  assert_int_equal(listed(name).info.size, OBJ_LEN);
  assert_int_equal(listed(name).info.lifetime, MMF_SHM_TRANSIENT);
  TH_OK(mmf_view_unmap(v));
  TH_OK(mmf_map_close(m));
  assert_gone(name);
}

static void create_existing_is_eexist_and_open_missing_is_enoent(void **s) {
  const char *name = obj("exist");
  mmf_map *a, *b = (mmf_map *)&b;
  (void)s;
  TH_EXPECT_ERR(mmf_shm_open(&b, name, MMF_PROT_READ, 0), MMF_ENOENT,
                "mmf_shm_open");
  assert_null(b);
  TH_EXPECT_ERR(mmf_shm_remove(name), MMF_ENOENT, "mmf_shm_remove");
  TH_OK(mmf_shm_create(&a, name, 5000, 0));
  b = (mmf_map *)&b;
  TH_EXPECT_ERR(mmf_shm_create(&b, name, 5000, 0), MMF_EEXIST,
                "mmf_shm_create");
  assert_null(b);
  TH_EXPECT_ERR(mmf_shm_create(&b, name, 5000, MMF_SHM_PERSISTENT),
                MMF_EEXIST, "mmf_shm_create");
  /* OPEN_EXISTING: the same object, its size and lifetime unchanged. */
  TH_OK(mmf_shm_create(&b, name, 77, MMF_SHM_OPEN_EXISTING |
                                         MMF_SHM_PERSISTENT));
  assert_int_equal(mmf_map_size(b), 5000);
  {
    mmf_view *w;
    TH_OK(mmf_view_map(&w, a, 4999, 1, MMF_ACCESS_WRITE));
    *(char *)mmf_view_data(w) = 'Q';
    TH_OK(mmf_view_unmap(w));
  }
  {
    mmf_view *v;
    TH_OK(mmf_view_map(&v, b, 4990, 10, MMF_ACCESS_READ));
    assert_int_equal(((char *)mmf_view_data(v))[9], 'Q');
    TH_OK(mmf_view_unmap(v));
  }
  assert_int_equal(listed(name).info.lifetime, MMF_SHM_TRANSIENT);
  TH_OK(mmf_map_close(a));
  TH_OK(mmf_map_close(b));
  assert_gone(name);
}

/* ---- lifetimes ---------------------------------------------------------------*/

static void transient_is_gone_after_its_last_holder_closes(void **state) {
  const char *name = obj("last");
  mmf_map *a, *b;
  mmf_view *v;
  (void)state;
  TH_OK(mmf_shm_create(&a, name, 4096, MMF_SHM_TRANSIENT));
  TH_OK(mmf_shm_open(&b, name, MMF_PROT_READ, 0));
  TH_OK(mmf_map_close(a)); /* b still holds it */
  assert_int_equal(listed(name).found, 1);
  /* A view is a holder too: closing the mapping object is not the end. */
  TH_OK(mmf_view_map(&v, b, 0, 0, MMF_ACCESS_READ));
  TH_OK(mmf_map_close(b));
  assert_int_equal(listed(name).found, 1);
  assert_true(th_exists(th_shm_object_path(name)));
  TH_OK(mmf_view_unmap(v));
  assert_gone(name);
  /* And the name is free again, for either lifetime. */
  TH_OK(mmf_shm_create(&a, name, 10, MMF_SHM_PERSISTENT));
  TH_OK(mmf_map_close(a));
  TH_OK(mmf_shm_remove(name));
  assert_gone(name);
}

static void transient_is_gone_after_its_last_holder_is_killed(void **s) {
  const char *name = obj("killed");
  intptr_t child = spawn("hold", name);
  mmf_map *m = NULL;
  mmf_view *v;
  unsigned char *d;
  unsigned long i;
  (void)s;
  /* Wait for the child's object, then for its data. */
  TH_OK(open_once_there(&m, name));
  TH_OK(mmf_view_map(&v, m, 0, 0, MMF_ACCESS_READ));
  TH_OK(mmf_map_close(m));
  d = mmf_view_data(v);
  assert_int_equal(th_wait_word_at(d, FLAG_AT, 1), 0);
  assert_int_equal(d[OBJ_LEN - 1], 0xAB);
  TH_OK(mmf_view_unmap(v)); /* now only the child holds it */
  assert_int_equal(listed(name).found, 1);
  assert_int_equal(th_kill_child(child), 0);
  /* The holder died without closing: the object is gone all the same --
   * the listing that found nobody holding it freed it -- and a new create
   * succeeds and starts zero-filled. */
  assert_int_equal(listed(name).found, 0);
  assert_false(th_exists(th_shm_object_path(name)));
  TH_OK(mmf_shm_create(&m, name, OBJ_LEN, 0));
  TH_OK(mmf_view_map(&v, m, 0, 0, MMF_ACCESS_READ));
  d = mmf_view_data(v);
  for (i = 0; i < OBJ_LEN; i++)
    if (d[i] != 0)
      break;
  assert_int_equal(i, OBJ_LEN);
  TH_OK(mmf_view_unmap(v));
  TH_OK(mmf_map_close(m));
  assert_gone(name);

  /* Killed again: this time open finds the dead object and says ENOENT. */
  child = spawn("hold", name);
  TH_OK(open_once_there(&m, name));
  TH_OK(mmf_view_map(&v, m, 0, 0, MMF_ACCESS_READ));
  TH_OK(mmf_map_close(m));
  assert_int_equal(th_wait_word_at(mmf_view_data(v), FLAG_AT, 1), 0);
  TH_OK(mmf_view_unmap(v));
  assert_int_equal(th_kill_child(child), 0);
  assert_gone(name);
}

/* Calls that succeed leave the error record as they found it, also when
 * they met a busy lock on the way (another holder's). */
static void successful_calls_leave_the_error_record_alone(void **state) {
  const char *name = obj("record");
  mmf_map *a, *b;
  (void)state;
  TH_OK(mmf_shm_create(&a, name, OBJ_LEN, MMF_SHM_TRANSIENT));
  th_mark_error_record();
  TH_OK(mmf_shm_open(&b, name, MMF_PROT_READ, 0));
  th_assert_error_record_marked();
  assert_int_equal(listed(name).found, 1);
  th_assert_error_record_marked();
  TH_OK(mmf_map_close(b)); /* not the last holder */
  th_assert_error_record_marked();
  TH_OK(mmf_map_close(a));
  th_assert_error_record_marked();
  assert_gone(name);
}

static void racing_creates_and_last_closes_never_fail(void **state) {
  const char *name = obj("churn");
  intptr_t a, b;
  (void)state;
  intptr_t c;
  a = spawn("churn", name);
  b = spawn("churn", name);
  c = spawn("list-loop", name); /* sweeps their temporary files meanwhile */
  assert_int_equal(th_wait_child(a), 0);
  assert_int_equal(th_wait_child(b), 0);
  assert_int_equal(th_wait_child(c), 0);
  assert_gone(name);
}

static void persistent_survives_all_holders_until_removed(void **state) {
  const char *name = obj("persist");
  unsigned char pattern[OBJ_LEN], reply[REPLY_LEN];
  mmf_map *m;
  mmf_view *v;
  struct find f;
  (void)state;
  TH_OK(mmf_shm_create(&m, name, OBJ_LEN, MMF_SHM_PERSISTENT));
  TH_OK(mmf_view_map(&v, m, 0, 0, MMF_ACCESS_WRITE));
  th_fill(pattern, sizeof pattern, 11);
  memcpy((unsigned char *)mmf_view_data(v) + 64, pattern + 64, OBJ_LEN - 64);
  TH_OK(mmf_view_unmap(v));
  TH_OK(mmf_map_close(m)); /* nobody holds it now */
  f = listed(name);
  assert_int_equal(f.found, 1);
  assert_int_equal(f.info.size, OBJ_LEN);
  assert_int_equal(f.info.lifetime, MMF_SHM_PERSISTENT);
  /* Another process opens it, finds the data, writes, leaves. */
  assert_int_equal(th_wait_child(spawn("rw", name)), 0);
  TH_OK(mmf_shm_open(&m, name, MMF_PROT_READ, 0));
  assert_int_equal(mmf_map_size(m), OBJ_LEN);
  TH_OK(mmf_view_map(&v, m, 0, 0, MMF_ACCESS_READ));
  th_fill(reply, sizeof reply, 12);
  assert_memory_equal((unsigned char *)mmf_view_data(v) + REPLY_AT, reply,
                      REPLY_LEN);
  assert_memory_equal((unsigned char *)mmf_view_data(v) + 64, pattern + 64,
                      REPLY_AT - 64);
  {
    mmf_view *w = (mmf_view *)&w;
    TH_EXPECT_ERR(mmf_view_map(&w, m, 0, 0, MMF_ACCESS_WRITE), MMF_EPROT,
                  "mmf_view_map");
    assert_null(w);
  }
  TH_OK(mmf_view_unmap(v));
  TH_OK(mmf_map_close(m));
  /* The trailer is never part of the object. */
  TH_OK(mmf_shm_open(&m, name, MMF_PROT_READWRITE, 0));
  TH_EXPECT_ERR(mmf_view_map(&v, m, OBJ_LEN, 1, MMF_ACCESS_READ), MMF_ERANGE,
                "mmf_view_map");
  TH_OK(mmf_map_close(m));
  TH_OK(mmf_shm_remove(name));
  assert_gone(name);
  TH_EXPECT_ERR(mmf_shm_remove(name), MMF_ENOENT, "mmf_shm_remove");
}

static void removed_transient_name_is_free_while_holders_keep_memory(void **s) {
  const char *name = obj("rmheld");
  mmf_map *m;
  mmf_view *v;
  (void)s;
  /* Windows too: each incarnation's section has its own name. */
  TH_OK(mmf_shm_create(&m, name, 100, 0));
  TH_OK(mmf_view_map(&v, m, 0, 0, MMF_ACCESS_WRITE));
  TH_OK(mmf_shm_remove(name));
  assert_false(th_exists(th_shm_object_path(name)));
  memcpy(mmf_view_data(v), "still mine", 10);
  TH_OK(mmf_map_close(m));
  {
    mmf_map *m2;
    TH_OK(mmf_shm_create(&m2, name, 100, 0)); /* a different object */
    TH_OK(mmf_map_close(m2));
  }
  assert_memory_equal(mmf_view_data(v), "still mine", 10);
  TH_OK(mmf_view_unmap(v));
  assert_gone(name);
}

/* Removing a persistent object that is still mapped: the name goes at
 * once, the holder keeps its memory, the name is free for a new object. */
static void removing_a_mapped_persistent_object_frees_the_name(void **s) {
  const char *name = obj("rmmapped");
  mmf_map *m, *m2;
  mmf_view *v;
  (void)s;
  TH_OK(mmf_shm_create(&m, name, 100, MMF_SHM_PERSISTENT));
  TH_OK(mmf_view_map(&v, m, 0, 0, MMF_ACCESS_WRITE));
  TH_OK(mmf_map_close(m));
  memcpy(mmf_view_data(v), "kept", 4);
  TH_OK(mmf_shm_remove(name));
  assert_int_equal(listed(name).found, 0);
  TH_OK(mmf_shm_create(&m2, name, 100, MMF_SHM_PERSISTENT));
  TH_OK(mmf_map_close(m2));
  assert_memory_equal(mmf_view_data(v), "kept", 4);
  TH_OK(mmf_view_unmap(v));
  TH_OK(mmf_shm_remove(name));
  assert_gone(name);
}

static void zero_sized_object_has_exact_size_zero(void **state) {
  const char *name = obj("empty");
  mmf_map *m;
  mmf_view *v;
  (void)state;
  TH_OK(mmf_shm_create(&m, name, 0, MMF_SHM_PERSISTENT));
  assert_int_equal(mmf_map_size(m), 0);
  TH_EXPECT_ERR(mmf_view_map(&v, m, 0, 1, MMF_ACCESS_READ), MMF_ERANGE,
                "mmf_view_map");
  TH_OK(mmf_map_close(m));
  TH_OK(mmf_shm_open(&m, name, MMF_PROT_READ, 0));
  assert_int_equal(mmf_map_size(m), 0);
  TH_OK(mmf_map_close(m));
  assert_int_equal(listed(name).info.size, 0);
  TH_OK(mmf_shm_remove(name));
  TH_OK(mmf_shm_create(&m, name, 0, MMF_SHM_TRANSIENT));
  assert_int_equal(mmf_map_size(m), 0);
  TH_OK(mmf_map_close(m));
  assert_gone(name);
}

/* mmf.h: the read/write path works where the object has a file (Linux,
 * Windows persistent); Windows transient and anonymous objects have none
 * and say MMF_EBADF. */
static void map_read_write_follow_where_the_data_lives(void **state) {
  const char *name = obj("rwpath");
  mmf_map *m;
  char buf[4] = {0};
  size_t got = 0;
  int no_file;
  (void)state;
  TH_OK(mmf_shm_create(&m, name, 100, MMF_SHM_PERSISTENT));
  TH_OK(mmf_map_write(m, 10, "abc", 3));
  TH_OK(mmf_map_read(m, 10, buf, 3, &got));
  assert_int_equal(got, 3);
  assert_memory_equal(buf, "abc", 3);
  {
    /* Reads end at the object's end: what the file holds after it (mmf's
     * own trailer) is never read. */
    unsigned char big[256];
    memset(big, 0x5a, sizeof big);
    TH_OK(mmf_map_read(m, 0, big, sizeof big, &got));
    assert_int_equal(got, 100);
    assert_int_equal(big[10], 'a');
    assert_int_equal(big[100], 0x5a);
    TH_OK(mmf_map_read(m, 100, big, sizeof big, &got));
    assert_int_equal(got, 0);
    TH_OK(mmf_map_read(m, 1000, big, sizeof big, &got));
    assert_int_equal(got, 0);
  }
  TH_OK(mmf_map_close(m));
  TH_OK(mmf_shm_remove(name));
  for (int anon = 0; anon < 2; anon++) {
    if (anon)
      TH_OK(mmf_shm_anonymous(&m, 100));
    else
      TH_OK(mmf_shm_create(&m, name, 100, MMF_SHM_TRANSIENT));
    {
      /* Nothing to put on a device, but the call succeeds, every mode. */
      mmf_view *v;
      TH_OK(mmf_view_map(&v, m, 0, 0, MMF_ACCESS_WRITE));
      for (int mode = MMF_FLUSH_ASYNC; mode <= MMF_FLUSH_DURABLE; mode++)
        TH_OK(mmf_view_flush(v, 0, 0, mode));
      TH_OK(mmf_view_unmap(v));
    }
    no_file = th_is_windows();
    if (no_file) {
      TH_EXPECT_ERR(mmf_map_write(m, 10, "abc", 3), MMF_EBADF,
                    "mmf_map_write");
      TH_EXPECT_ERR(mmf_map_read(m, 10, buf, 3, &got), MMF_EBADF,
                    "mmf_map_read");
      /* (and it says why: no file, use a view) */
      assert_non_null(strstr(mmf_last_error_message(), "use a view"));
      TH_EXPECT_ERR(mmf_map_read(m, 1000, buf, 3, &got), MMF_EBADF,
                    "mmf_map_read");
      TH_EXPECT_ERR(mmf_map_sync(m), MMF_EBADF, "use a view");
    } else {
      TH_OK(mmf_map_write(m, 10, "xyz", 3));
      TH_OK(mmf_map_read(m, 10, buf, 3, &got));
      assert_memory_equal(buf, "xyz", 3);
    }
    TH_OK(mmf_map_close(m));
  }
  assert_gone(name);
}

/* ---- untrusted trailer --------------------------------------------------------*/

static void corrupt_trailer_is_rejected_not_trusted(void **state) {
  const char *name = obj("corrupt");
  const char *path = th_shm_object_path(name);
  unsigned char junk[200];
  mmf_map *m = (mmf_map *)&m;
  (void)state;
  /* A file that is not an mmf object at the object's place. */
  th_fill(junk, sizeof junk, 3);
  assert_int_equal(th_write_file(path, junk, sizeof junk), 0);
  TH_EXPECT_ERR(mmf_shm_open(&m, name, MMF_PROT_READ, 0), MMF_ECORRUPT,
                "mmf_shm_open");
  assert_null(m);
  assert_int_equal(listed(name).found, 0);
  /* A real trailer that lies about the size. */
  TH_OK(mmf_shm_create(&m, name, 300, MMF_SHM_PERSISTENT | 0));
  TH_OK(mmf_map_close(m));
  {
    size_t n;
    unsigned char *b = th_read_file(path, &n);
    assert_non_null(b);
    assert_int_equal(n, 300 + 64);
    b[300 + 8] = 0xFF; /* size field, low byte */
    assert_int_equal(th_write_file(path, b, n), 0);
    free(b);
  }
  TH_EXPECT_ERR(mmf_shm_open(&m, name, MMF_PROT_READ, 0), MMF_ECORRUPT,
                "mmf_shm_open");
  assert_non_null(strstr(mmf_last_error_message(), "trailer"));
  TH_OK(mmf_shm_remove(name));
  assert_gone(name);
}

/* ---- security -----------------------------------------------------------------*/

static void owner_only_object_is_closed_to_other_users(void **state) {
  const char *mine = obj("owner"), *open_to_all = obj("anyone");
  const char *squat = obj("squat");
  mmf_map *m, *a;
  (void)state;
  TH_OK(mmf_shm_create(&m, mine, 4096, 0));
  TH_OK(mmf_shm_create(&a, open_to_all, 4096, MMF_SHM_ANYONE));
  {
    mmf_view *w;
    TH_OK(mmf_view_map(&w, a, 5, 1, MMF_ACCESS_WRITE));
    *(unsigned char *)mmf_view_data(w) = 0x5A;
    TH_OK(mmf_view_unmap(w));
  }
  {
    intptr_t c = spawn("nobody-open", mine);
    int st = th_wait_child(c);
    if (st == 10) {
      TH_OK(mmf_map_close(m));
      TH_OK(mmf_map_close(a));
      print_message("not applicable: needs root on Linux to become another "
                    "user (Windows keeps objects per user)\n");
      skip();
    }
    assert_int_equal(st, 0);
  }
  assert_int_equal(th_wait_child(spawn("nobody-open-any", open_to_all)), 0);
  TH_OK(mmf_map_close(m));
  TH_OK(mmf_map_close(a));
  assert_gone(mine);
  assert_gone(open_to_all);
  /* A name squatted by another user is refused, not used. */
  assert_int_equal(th_wait_child(spawn("nobody-create", squat)), 0);
  m = (mmf_map *)&m;
  TH_EXPECT_ERR(mmf_shm_create(&m, squat, 4096, MMF_SHM_OPEN_EXISTING),
                MMF_EACCES, "mmf_shm_create");
  assert_non_null(strstr(mmf_last_error_message(), "another user"));
  assert_null(m);
  TH_OK(mmf_shm_remove(squat));
}

/* Root's transient ANYONE object whose last holder is another user: that
 * holder's close succeeds and the object is gone by the rule, although
 * only root may remove its file from the sticky /dev/shm; root's next
 * listing frees it. */
static void last_holder_of_another_users_object_closes_cleanly(void **s) {
  const char *name = obj("lastany");
  char sig[96];
  mmf_map *m, *sm;
  mmf_view *sv;
  intptr_t c;
  int st;
  (void)s;
  if (th_wait_child(spawn("nobody-can", name)) == 10) {
    print_message("not applicable: needs root on Linux to become another "
                  "user (Windows keeps objects per user)\n");
    skip();
  }
  snprintf(sig, sizeof sig, "%s-sig", name);
  TH_OK(mmf_shm_create(&m, name, 4096, MMF_SHM_ANYONE));
  TH_OK(mmf_shm_create(&sm, sig, 4096, MMF_SHM_PERSISTENT | MMF_SHM_ANYONE));
  TH_OK(mmf_view_map(&sv, sm, 0, 0, MMF_ACCESS_WRITE));
  c = spawn("nobody-last", name);
  if (th_wait_word_at(mmf_view_data(sv), FLAG_AT, 1) == 0) {
    TH_OK(mmf_map_close(m)); /* the child is the only holder now */
    m = NULL;
    atomic_store(th_word(mmf_view_data(sv), FLAG_AT), 2);
  }
  st = th_wait_child(c);
  if (m)
    TH_OK(mmf_map_close(m));
  TH_OK(mmf_view_unmap(sv));
  TH_OK(mmf_map_close(sm));
  TH_OK(mmf_shm_remove(sig));
  assert_int_equal(st, 0);
  assert_gone(name);
}

static void symlink_at_the_object_path_is_not_followed(void **state) {
  const char *name = obj("link");
  const char *target = th_path("link-target");
  mmf_map *m = (mmf_map *)&m;
  int rc;
  (void)state;
  assert_int_equal(th_write_file(target, "precious", 8), 0);
  rc = th_symlink(target, th_shm_object_path(name));
  if (rc == TH_NOT_APPLICABLE) {
    print_message("not applicable: symbolic links need a privilege on "
                  "Windows\n");
    skip();
  }
  assert_int_equal(rc, 0);
  TH_EXPECT_ERR(mmf_shm_create(&m, name, 4096, MMF_SHM_OPEN_EXISTING),
                MMF_EACCES, "mmf_shm_create");
  assert_non_null(strstr(mmf_last_error_message(), "symbolic link"));
  assert_null(m);
  TH_EXPECT_ERR(mmf_shm_create(&m, name, 4096, 0), MMF_EACCES,
                "mmf_shm_create");
  TH_EXPECT_ERR(mmf_shm_open(&m, name, MMF_PROT_READ, 0), MMF_EACCES,
                "mmf_shm_open");
  assert_true(th_file_equals(target, "precious", 8));
  assert_int_equal(th_remove(th_shm_object_path(name)), 0);
}

/* ---- anonymous ------------------------------------------------------------------*/

static void anonymous_mapping_is_zeroed_and_shared_by_its_views(void **s) {
  mmf_map *m;
  mmf_view *a, *b;
  unsigned char *p;
  (void)s;
  TH_OK(mmf_shm_anonymous(&m, 3 * 65536 + 7));
  assert_int_equal(mmf_map_size(m), 3 * 65536 + 7);
  TH_OK(mmf_view_map(&a, m, 0, 0, MMF_ACCESS_WRITE));
  TH_OK(mmf_view_map(&b, m, 65536 + 3, 100, MMF_ACCESS_READ));
  TH_OK(mmf_map_close(m));
  p = mmf_view_data(a);
  for (size_t i = 0; i < 3 * 65536 + 7; i++)
    assert_int_equal(p[i], 0);
  memcpy(p + 65536 + 3, "shared", 6);
  assert_memory_equal(mmf_view_data(b), "shared", 6);
  TH_OK(mmf_view_unmap(a));
  TH_OK(mmf_view_unmap(b));
}

/* ---- the CLI ----------------------------------------------------------------------*/

static const char *cli(void) { return getenv("MMF_CLI"); }

struct run {
  int status;
  char *out;
  size_t out_len;
  char *err;
};

static void run_cli(struct run *r, const char *const *args) {
  const char *argv[16];
  const char *out_path = th_path("cli.out"), *err_path = th_path("cli.err");
  th_run_result res;
  size_t i = 0, n;
  argv[i++] = cli();
  while (args[i - 1] && i < 15) {
    argv[i] = args[i - 1];
    i++;
  }
  argv[i] = NULL;
  assert_int_equal(th_run(argv, out_path, err_path, NULL, NULL, &res), 0);
  r->status = res.status;
  r->out = (char *)th_read_file(out_path, &r->out_len);
  r->err = (char *)th_read_file(err_path, &n);
  assert_non_null(r->out);
  assert_non_null(r->err);
  r->err = realloc(r->err, n + 1);
  r->err[n] = '\0';
  r->out = realloc(r->out, r->out_len + 1);
  r->out[r->out_len] = '\0';
}

static void run_free(struct run *r) {
  free(r->out);
  free(r->err);
}

/* A failure: exit 1 (or 2), one line on stderr naming the object. */
static void assert_failed(const struct run *r, int status, const char *what) {
  size_t lines = 0;
  for (const char *p = r->err; *p; p++)
    lines += *p == '\n';
  if (r->status != status || lines != 1 || !strstr(r->err, what))
    print_error("status %d, stderr \"%s\" (want %d and one line naming %s)\n",
                r->status, r->err, status, what);
  assert_int_equal(r->status, status);
  assert_int_equal(lines, 1);
  assert_non_null(strstr(r->err, what));
}

/* Binary mode is for the three standard streams only (what it does to
 * them is shown by the CLI round trip below: CR LF and ^Z pass unchanged). */
static void stdio_binary_takes_the_standard_streams_only(void **state) {
  (void)state;
  TH_EXPECT_ERR(mmf_stdio_binary(3), MMF_EINVAL, "mmf_stdio_binary");
  TH_EXPECT_ERR(mmf_stdio_binary(-1), MMF_EINVAL, "mmf_stdio_binary");
  TH_OK(mmf_stdio_binary(2));
}

static void cli_share_put_get_ls_rm_round_trip_is_byte_exact(void **state) {
  const char *name = obj("cli");
  const char *file = th_path("share-in.bin");
  unsigned char data[70000];
  char want[256];
  struct run r;
  (void)state;
  if (!cli()) {
    print_message("MMF_CLI is not set: skipping the CLI checks\n");
    skip();
  }
  /* Binary data with NULs, CR LF, LF and ^Z in it, odd length. */
  th_fill(data, sizeof data, 99);
  memcpy(data, "a\0b\r\nc\n\x1a\0", 9);
  memset(data + 40000, 0, 1000);
  assert_int_equal(th_write_file(file, data, sizeof data), 0);
  {
    const char *a[] = {"share", "put", name, file, NULL};
    run_cli(&r, a);
    if (r.status != 0)
      print_error("put: %s\n", r.err);
    assert_int_equal(r.status, 0);
    run_free(&r);
  }
  {
    const char *a[] = {"share", "get", name, NULL};
    run_cli(&r, a);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.out_len, sizeof data);
    assert_memory_equal(r.out, data, sizeof data);
    run_free(&r);
  }
  {
    const char *a[] = {"share", "ls", NULL};
    run_cli(&r, a);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "NAME"));
    assert_non_null(strstr(r.out, "LIFETIME"));
    snprintf(want, sizeof want, "%s", name);
    assert_non_null(strstr(r.out, want));
    assert_non_null(strstr(r.out, " 70000 persistent"));
    run_free(&r);
  }
  {
    const char *a[] = {"share", "ls", "--json", NULL};
    run_cli(&r, a);
    assert_int_equal(r.status, 0);
    snprintf(want, sizeof want,
             "{\"name\":\"%s\",\"size\":70000,\"lifetime\":\"persistent\"}",
             name);
    assert_non_null(strstr(r.out, want));
    run_free(&r);
  }
  {
    const char *a[] = {"share", "put", name, file, NULL};
    run_cli(&r, a);
    assert_failed(&r, 1, name);
    assert_non_null(strstr(r.err, "exists"));
    run_free(&r);
  }
  {
    const char *a[] = {"share", "rm", name, NULL};
    run_cli(&r, a);
    assert_int_equal(r.status, 0);
    run_free(&r);
  }
  {
    const char *a[] = {"share", "get", name, NULL};
    run_cli(&r, a);
    assert_failed(&r, 1, name);
    assert_int_equal(r.out_len, 0);
    run_free(&r);
  }
  {
    const char *a[] = {"share", "rm", name, NULL};
    run_cli(&r, a);
    assert_failed(&r, 1, name);
    run_free(&r);
  }
  assert_gone(name);
}

/* `put --transient` holds the object while it runs; killed, it leaves
 * nothing that anyone can open or list. */
static void cli_share_put_transient_lives_while_put_runs(void **state) {
  const char *name = obj("clihold");
  const char *file = th_path("hold-in.bin"), *out = th_path("hold.out");
  const char *err = th_path("hold.err");
  unsigned char data[5000];
  char want[256];
  struct run r;
  intptr_t put;
  (void)state;
  if (!cli()) {
    print_message("MMF_CLI is not set: skipping the CLI checks\n");
    skip();
  }
  th_fill(data, sizeof data, 7);
  assert_int_equal(th_write_file(file, data, sizeof data), 0);
  {
    const char *argv[] = {cli(), "share", "put", "--transient", name, file,
                          NULL};
    put = th_start(argv, out, err);
    assert_true(put > 0);
  }
  snprintf(want, sizeof want, "holding %s (5000 bytes, transient)", name);
  {
    struct file_starts fs = {out, want};
    assert_int_equal(th_wait_until(file_starts_with, &fs, TH_WAIT_MS), 0);
  }
  {
    const char *a[] = {"share", "get", name, NULL};
    run_cli(&r, a);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.out_len, sizeof data);
    assert_memory_equal(r.out, data, sizeof data);
    run_free(&r);
  }
  {
    const char *a[] = {"share", "ls", "--json", NULL};
    run_cli(&r, a);
    snprintf(want, sizeof want,
             "{\"name\":\"%s\",\"size\":5000,\"lifetime\":\"transient\"}",
             name);
    assert_non_null(strstr(r.out, want));
    run_free(&r);
  }
  assert_int_equal(th_kill_child(put), 0);
  {
    const char *a[] = {"share", "ls", NULL};
    run_cli(&r, a);
    assert_int_equal(r.status, 0);
    assert_null(strstr(r.out, name));
    run_free(&r);
  }
  {
    const char *a[] = {"share", "get", name, NULL};
    run_cli(&r, a);
    assert_failed(&r, 1, name);
    run_free(&r);
  }
  assert_gone(name);
}

static void cli_share_errors_and_usage(void **state) {
  struct run r;
  (void)state;
  if (!cli()) {
    print_message("MMF_CLI is not set: skipping the CLI checks\n");
    skip();
  }
  {
    const char *a[] = {"share", NULL};
    run_cli(&r, a);
    assert_failed(&r, 2, "mmf share");
    run_free(&r);
  }
  {
    const char *a[] = {"share", "frob", NULL};
    run_cli(&r, a);
    assert_failed(&r, 2, "frob");
    run_free(&r);
  }
  {
    const char *a[] = {"share", "get", NULL};
    run_cli(&r, a);
    assert_failed(&r, 2, "missing NAME");
    run_free(&r);
  }
  {
    const char *a[] = {"share", "ls", "--bogus", NULL};
    run_cli(&r, a);
    assert_failed(&r, 2, "--bogus");
    run_free(&r);
  }
  {
    const char *a[] = {"share", "put", "../etc/x", th_path("nothing"), NULL};
    run_cli(&r, a);
    assert_failed(&r, 1, "nothing");
    run_free(&r);
  }
  {
    const char *in = th_path("share-small");
    const char *a[] = {"share", "put", "bad/name", in, NULL};
    assert_int_equal(th_write_file(in, "x", 1), 0);
    run_cli(&r, a);
    assert_failed(&r, 1, "bad/name");
    assert_non_null(strstr(r.err, "path separator"));
    run_free(&r);
  }
  {
    const char *subs[] = {"put", "get", "rm", "ls"};
    for (int i = 0; i < 4; i++) {
      const char *a[] = {"share", subs[i], "--help", NULL};
      run_cli(&r, a);
      assert_int_equal(r.status, 0);
      assert_non_null(strstr(r.out, "Usage: mmf share"));
      run_free(&r);
    }
  }
}

/* ---- mmf_shm_create_filled: contents before the name --------------------------*/

struct fill_probe {
  const char *name;
  int calls;
  int seen_by_open; /* what mmf_shm_open of the name gave inside fill */
  int listed;       /* how often mmf_shm_list showed the name inside fill */
  int result;       /* what fill returns */
};

static int probe_fill(void *ctx, void *data, uint64_t size) {
  struct fill_probe *fp = ctx;
  mmf_map *m = NULL;
  fp->calls++;
  th_fill(data, (size_t)size, 21);
  fp->seen_by_open = mmf_shm_open(&m, fp->name, MMF_PROT_READ, 0);
  if (m)
    mmf_map_close(m);
  fp->listed = listed(fp->name).found;
  if (fp->result < 0)
    mmf__error(fp->result, "probe_fill: told to fail");
  return fp->result;
}

static void filled_object_appears_whole_or_not_at_all(void **state) {
  const char *name = obj("filled");
  unsigned char want[OBJ_LEN];
  struct fill_probe fp = {name, 0, 0, -1, 0};
  mmf_map *m = (mmf_map *)&m, *o;
  mmf_view *v;
  (void)state;
  th_fill(want, sizeof want, 21);

  /* Published only after fill: inside it the name does not exist yet. */
  TH_OK(mmf_shm_create_filled(&m, name, OBJ_LEN, MMF_SHM_PERSISTENT,
                              probe_fill, &fp));
  assert_int_equal(fp.calls, 1);
  assert_int_equal(fp.seen_by_open, MMF_ENOENT);
  assert_int_equal(fp.listed, 0);
  TH_OK(mmf_map_close(m));
  TH_OK(mmf_shm_open(&o, name, MMF_PROT_READ, 0));
  assert_int_equal(mmf_map_size(o), OBJ_LEN);
  TH_OK(mmf_view_map(&v, o, 0, 0, MMF_ACCESS_READ));
  assert_memory_equal(mmf_view_data(v), want, OBJ_LEN);
  TH_OK(mmf_view_unmap(v));
  TH_OK(mmf_map_close(o));

  /* OPEN_EXISTING on an existing name: opened, fill not called. */
  fp.calls = 0;
  TH_OK(mmf_shm_create_filled(&m, name, 10, MMF_SHM_OPEN_EXISTING,
                              probe_fill, &fp));
  assert_int_equal(fp.calls, 0);
  assert_int_equal(mmf_map_size(m), OBJ_LEN);
  TH_OK(mmf_map_close(m));
  TH_EXPECT_ERR(mmf_shm_create_filled(&m, name, 10, 0, probe_fill, &fp),
                MMF_EEXIST, "mmf_shm_create_filled");
  assert_null(m);
  assert_int_equal(fp.calls, 0);
  TH_OK(mmf_shm_remove(name));

  /* A failing fill: its code and reason, and nothing left behind. */
  fp.result = MMF_EIO;
  TH_EXPECT_ERR(mmf_shm_create_filled(&m, name, OBJ_LEN, MMF_SHM_TRANSIENT,
                                      probe_fill, &fp),
                MMF_EIO, "mmf_shm_create_filled");
  assert_non_null(strstr(mmf_last_error_message(), "told to fail"));
  assert_null(m);
  assert_gone(name);
  fp.result = 7; /* not an MMF_E* code */
  TH_EXPECT_ERR(mmf_shm_create_filled(&m, name, OBJ_LEN, 0, probe_fill, &fp),
                MMF_EINVAL, "mmf_shm_create_filled");
  assert_non_null(strstr(mmf_last_error_message(), "returned 7"));
  assert_gone(name);

  /* Size 0: nothing to fill. NULL fill: refused. */
  fp.result = 0;
  fp.calls = 0;
  TH_OK(mmf_shm_create_filled(&m, name, 0, 0, probe_fill, &fp));
  assert_int_equal(fp.calls, 0);
  assert_int_equal(mmf_map_size(m), 0);
  TH_OK(mmf_map_close(m));
  assert_gone(name);
  TH_EXPECT_ERR(mmf_shm_create_filled(&m, name, 10, 0, NULL, NULL),
                MMF_EINVAL, "mmf_shm_create_filled");
  assert_null(m);
}

/* A creator killed inside fill (kill -9 / TerminateProcess): nobody ever
 * sees NAME, its temporary file stays while it lives (it is not a dead
 * creator's yet), and the first sweep after its death removes it. */
static void creator_killed_while_filling_leaves_nothing(void **state) {
  const char *name = obj("fillkill");
  char sig[128];
  mmf_map *m = NULL;
  intptr_t child;
  (void)state;
  snprintf(sig, sizeof sig, "%s", signal_name(name));
  child = spawn("fill-forever", name);
  TH_OK(open_once_there(&m, sig)); /* the child is inside fill now */
  TH_OK(mmf_map_close(m));
  TH_EXPECT_ERR(mmf_shm_open(&m, name, MMF_PROT_READ, 0), MMF_ENOENT,
                "mmf_shm_open");
  assert_int_equal(listed(name).found, 0); /* a sweep, too */
  assert_int_equal(th_shm_leftovers(name), 1); /* live: not swept */
  assert_int_equal(th_kill_child(child), 0);
  assert_int_equal(listed(name).found, 0); /* this sweep removes it */
  assert_int_equal(th_shm_leftovers(name), 0);
  assert_gone(name);
  TH_OK(mmf_shm_remove(sig));
}

/* ---- temporary files of creators that died ---------------------------------
 * A creator builds its object under "mmf.NAME~..." holding GATE, then HOLD,
 * then publishes it. These tests play creators at each stage (the lock
 * bytes are the library's, internal.h) and a dead one (a file nobody
 * locks), and check which files create, list and remove sweep away. */

/* "<object path>~<tag>", a temporary file's name for `name`. */
static const char *temp_path(const char *name, const char *tag) {
  static char slots[4][600];
  static int next;
  char *p = slots[next++ % 4];
  snprintf(p, sizeof slots[0], "%s~%s", th_shm_object_path(name), tag);
  return p;
}

/* Make a temporary file of `n` bytes; with lock_at != 0, keep it open and
 * hold that lock byte (exclusive for GATE, shared for HOLD), as a live
 * creator would. */
static mmf_os_file play_creator(const char *path, size_t n, uint64_t lock_at) {
  mmf_os_file f = MMF_OS_FILE_INVALID;
  int created;
  assert_int_equal(th_make_file(path, n, 7), 0);
  if (!lock_at)
    return f;
  TH_OK(mmf__os_open(path, MMF__OS_READ | MMF__OS_WRITE, &f, &created));
  TH_OK(mmf__os_file_lock(f, lock_at, 1,
                          lock_at == MMF__SHM_HOLD ? MMF__OS_LOCK_SHARED : 0));
  return f;
}

/* A process stopped while it holds an object's GATE (Ctrl-Z during a
 * create, say) must not stop every listing: after a while the listing
 * gives up, MMF_EBUSY naming the object; once GATE is free it lists. */
static void a_stuck_lock_fails_the_listing_instead_of_hanging_it(void **s) {
  const char *name = obj("stuck");
  mmf_map *m;
  mmf_os_file g;
  int created;
  struct find f;
  (void)s;
  TH_OK(mmf_shm_create(&m, name, 100, MMF_SHM_PERSISTENT));
  TH_OK(mmf_map_close(m));
  TH_OK(mmf__os_open(th_shm_object_path(name), MMF__OS_READ | MMF__OS_WRITE,
                     &g, &created));
  TH_OK(mmf__os_file_lock(g, MMF__SHM_GATE, 1, 0));
  memset(&f, 0, sizeof f);
  f.name = name;
  TH_EXPECT_ERR(mmf_shm_list(find_one, &f), MMF_EBUSY, "stays locked");
  assert_non_null(strstr(mmf_last_error_message(), name));
  TH_OK(mmf__os_close(g));
  assert_int_equal(listed(name).found, 1);
  TH_OK(mmf_shm_remove(name));
}

static void dead_creators_temporary_files_are_swept(void **s) {
  const char *name = obj("sweep");
  const char *dead = temp_path(name, "dead.1");
  const char *gate = temp_path(name, "gate.1");
  const char *hold = temp_path(name, "hold.1");
  const char *other = temp_path(obj("sweep-other"), "dead.2");
  mmf_os_file g, h;
  mmf_map *m;
  (void)s;
  play_creator(dead, 256 * 1024, 0); /* its creator was killed */
  g = play_creator(gate, 4096, MMF__SHM_GATE); /* being sized */
  h = play_creator(hold, 4096, MMF__SHM_HOLD); /* about to publish */
  play_creator(other, 4096, 0);                /* another name's */

  /* Create sweeps its own name's dead temporary files, no others, and
   * leaves live creators' files alone. */
  TH_OK(mmf_shm_create(&m, name, 100, MMF_SHM_TRANSIENT));
  assert_false(th_exists(dead));
  assert_true(th_exists(gate));
  assert_true(th_exists(hold));
  assert_true(th_exists(other));
  assert_int_equal(listed(name).found, 1);
  TH_OK(mmf_map_close(m));

  /* What the sweep meets -- busy locks of live creators -- never shows in
   * the error a call reports. */
  TH_EXPECT_ERR(mmf_shm_remove(name), MMF_ENOENT, "mmf_shm_remove");
  assert_null(strstr(mmf_last_error_message(), "F_OFD_SETLK"));
  assert_null(strstr(mmf_last_error_message(), "LockFileEx"));
  assert_true(th_exists(gate));
  assert_true(th_exists(hold));

  /* The GATE holder dies: listing sweeps every name's dead files. */
  TH_OK(mmf__os_close(g));
  assert_int_equal(listed(name).found, 0);
  assert_false(th_exists(gate));
  assert_false(th_exists(other));
  assert_true(th_exists(hold));

  /* The HOLD holder dies: removing the name (gone already) sweeps it. */
  TH_OK(mmf__os_close(h));
  TH_EXPECT_ERR(mmf_shm_remove(name), MMF_ENOENT, "mmf_shm_remove");
  assert_false(th_exists(hold));
  assert_int_equal(th_shm_leftovers(name), 0);
}

/* Every OS call of the sweep fails in turn: the create around it still
 * succeeds (the sweep is best effort), nothing leaks, and the unfaulted run
 * removes the dead file. */
static const char *sweep_name, *sweep_dead;
static mmf_map *sweep_map;

static int sweep_run(void) {
  if (!th_exists(sweep_dead))
    assert_int_equal(th_make_file(sweep_dead, 4096, 3), 0);
  return mmf_shm_create(&sweep_map, sweep_name, 100, MMF_SHM_TRANSIENT);
}

static void sweep_undo(void) {
  TH_OK(mmf_map_close(sweep_map));
  sweep_map = NULL;
}

static void sweep_fails_cleanly(void **s) {
  static const int codes[] = {MMF_ENOENT, MMF_EACCES, MMF_EMFILE, MMF_EIO,
                              MMF_ENOSPC, MMF_ENOMEM, MMF_EBUSY,  MMF_EOS,
                              MMF_EBADF,  MMF_EEXIST, MMF_ECORRUPT, 0};
  unsigned faults;
  (void)s;
  sweep_name = obj("sweepfault");
  sweep_dead = temp_path(sweep_name, "dead.3");
  faults = th_fault_loop("mmf_shm_create", sweep_name, codes, sweep_run,
                         sweep_undo);
  print_message("mmf_shm_create with a dead temporary file: %u faults\n",
                faults);
  assert_false(th_exists(sweep_dead));
  assert_int_equal(th_shm_leftovers(sweep_name), 0);
}

/* ---- fault injection ----------------------------------------------------------------
 * Every OS call of create / open / remove fails in turn: a documented code,
 * a message naming the call, and nothing left behind (no open file, no
 * mapping, no object file that the failed create made). */

static const int shm_codes[] = {
    MMF_EINVAL, MMF_ENOENT, MMF_EEXIST, MMF_EACCES,       MMF_ECORRUPT,
    MMF_EFBIG,  MMF_ENOSPC, MMF_ENOMEM, MMF_EMFILE,       MMF_EIO,
    MMF_EBUSY,  MMF_EOS,    MMF_EBADF,  MMF_ENAMETOOLONG, 0};

static int code_ok(int rc) {
  for (const int *c = shm_codes; *c; c++)
    if (*c == rc)
      return 1;
  return 0;
}

enum fault_kind { F_CREATE_T, F_CREATE_P, F_CREATE_F, F_OPEN, F_REMOVE,
                  F_ANON, F_LIST, F_CLOSE };

static int fill_ones(void *ctx, void *data, uint64_t size) {
  (void)ctx;
  memset(data, 1, (size_t)size);
  return 0;
}

static int absorbed(const char *call, int optional) {
  /* Closing a file we are done with, or a step of the best-effort sweep of
   * dead creators' temporary files: the failure is not the operation's. */
  return optional || strcmp(call, "close") == 0 ||
         strcmp(call, "CloseHandle") == 0;
}

static void fault_loop(enum fault_kind kind, const char *api) {
  const char *name = obj("fault");
  unsigned faults = 0;
  for (unsigned long n = 1; n < 200; n++) {
    th_res before;
    int before_maps, rc, fired, optional;
    char call[64];
    mmf_map *m = NULL, *keep = NULL, *closing = NULL;
    struct find seen;
    if (kind == F_OPEN || kind == F_REMOVE || kind == F_LIST)
      TH_OK(mmf_shm_create(&keep, name, 5000, MMF_SHM_PERSISTENT));
    if (keep)
      TH_OK(mmf_map_close(keep));
    before = th_res_now();
    before_maps = th_shm_mapping_count();
    memset(&seen, 0, sizeof seen);
    seen.name = name;
    if (kind == F_CLOSE) /* its only holder, closed below */
      TH_OK(mmf_shm_create(&closing, name, 5000, MMF_SHM_TRANSIENT));
    mmf__fault_arm(n);
    switch (kind) {
    case F_CREATE_T:
      rc = mmf_shm_create(&m, name, 5000, MMF_SHM_TRANSIENT);
      break;
    case F_CREATE_P:
      rc = mmf_shm_create(&m, name, 5000, MMF_SHM_PERSISTENT);
      break;
    case F_CREATE_F:
      rc = mmf_shm_create_filled(&m, name, 5000, MMF_SHM_TRANSIENT, fill_ones,
                                 NULL);
      break;
    case F_OPEN:
      rc = mmf_shm_open(&m, name, MMF_PROT_READWRITE, 0);
      break;
    case F_REMOVE:
      rc = mmf_shm_remove(name);
      break;
    case F_LIST:
      rc = mmf_shm_list(find_one, &seen);
      break;
    case F_CLOSE:
      rc = mmf_map_close(closing); /* freed either way */
      break;
    default:
      rc = mmf_shm_anonymous(&m, 5000);
      break;
    }
    fired = mmf__fault_fired();
    optional = mmf__fault_fired_optional();
    snprintf(call, sizeof call, "%s", mmf__fault_call());
    mmf__fault_arm(0);
    /* A fault in the best-effort sweep must not fail the call. */
    if (optional && rc != 0)
      print_error("%s: fault #%lu in best-effort %s failed the call: %s\n",
                  api, n, call, mmf_last_error_message());
    assert_true(!optional || rc == 0);
    if (rc == 0) {
      /* The listing skips objects it may not open: another user's (open
       * fails EACCES / ERROR_ACCESS_DENIED, what the backends inject into
       * opening an existing file). */
      int foreign = kind == F_LIST && (strcmp(call, "open") == 0 ||
                                       strcmp(call, "CreateFileW") == 0);
      if (fired && !absorbed(call, optional) && !foreign)
        print_error("%s: fault #%lu in %s was ignored\n", api, n, call);
      assert_true(!fired || absorbed(call, optional) || foreign);
      if (m)
        TH_OK(mmf_map_close(m));
      if (kind == F_CREATE_P || kind == F_OPEN || kind == F_LIST)
        TH_OK(mmf_shm_remove(name));
      /* A listing that succeeds lists every live object it may open. */
      if (kind == F_LIST && !(foreign && fired))
        assert_int_equal(seen.found, 1);
      /* The last holder closed: the object is gone, memory and all. */
      if (kind == F_CLOSE)
        assert_int_equal(th_shm_leftovers(name), 0);
    } else {
      assert_true(fired);
      faults++;
      if (!code_ok(rc))
        print_error("%s: fault #%lu in %s gave %s: %s\n", api, n, call,
                    mmf_err_name(rc),
                    mmf_last_error_message());
      assert_true(code_ok(rc));
      assert_int_equal(mmf_last_error(), rc);
      assert_non_null(strstr(mmf_last_error_message(), api));
      assert_null(m);
      if (getenv("TH_VERBOSE"))
        print_message("  #%lu %s -> %s: %s\n", n, call, mmf_err_name(rc),
                      mmf_last_error_message());
      /* Nothing left open or mapped. */
      TH_ASSERT_RES_SAME(before);
      assert_int_equal(th_shm_mapping_count(), before_maps);
      if (kind == F_CREATE_T || kind == F_CREATE_P || kind == F_CREATE_F) {
        /* No object made by the failed create, no temporary file. */
        assert_int_equal(th_shm_leftovers(name), 0);
      } else if (kind == F_CLOSE) {
        /* The close failed midway: nobody holds the object, so it is gone
         * by the rule, and the next listing frees what is left of it. */
        assert_int_equal(listed(name).found, 0);
        assert_int_equal(th_shm_leftovers(name), 0);
      } else if (kind == F_OPEN || kind == F_REMOVE || kind == F_LIST) {
        /* The object is untouched unless the remove got as far as it. */
        if (kind != F_REMOVE || th_exists(th_shm_object_path(name))) {
          mmf_map *again;
          TH_OK(mmf_shm_open(&again, name, MMF_PROT_READ, 0));
          assert_int_equal(mmf_map_size(again), 5000);
          TH_OK(mmf_map_close(again));
          TH_OK(mmf_shm_remove(name));
        }
      }
    }
    if (!fired) {
      print_message("%s: %u faults\n", api, faults);
      /* At least: open, lock, a check (anonymous: one OS call). */
      assert_true(faults >= (kind == F_ANON ? 1u : 3u));
      if (kind == F_LIST)
        assert_int_equal(seen.found, 1);
      assert_int_equal(th_shm_leftovers(name), 0);
      return;
    }
  }
  fail_msg("%s: the fault loop did not end", api);
}

/* One fault-injection test per call: the loop takes its kind and the call's
 * name as cmocka's initial state (FAULT_TEST below keeps each test's name). */
struct fault_case {
  enum fault_kind kind;
  const char *api;
};

static void fails_cleanly(void **state) {
  const struct fault_case *c = *state;
  fault_loop(c->kind, c->api);
}

static const struct fault_case fc_create_t = {F_CREATE_T, "mmf_shm_create"};
static const struct fault_case fc_create_p = {F_CREATE_P, "mmf_shm_create"};
static const struct fault_case fc_create_f = {F_CREATE_F,
                                              "mmf_shm_create_filled"};
static const struct fault_case fc_open = {F_OPEN, "mmf_shm_open"};
static const struct fault_case fc_remove = {F_REMOVE, "mmf_shm_remove"};
static const struct fault_case fc_anon = {F_ANON, "mmf_shm_anonymous"};
static const struct fault_case fc_list = {F_LIST, "mmf_shm_list"};
static const struct fault_case fc_close = {F_CLOSE, "mmf_map_close"};

#define FAULT_TEST(name, c)                                                    \
  { name, fails_cleanly, NULL, NULL, (void *)&(c) }

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(bad_names_are_rejected_with_the_reason),
      cmocka_unit_test(create_open_read_write_across_processes),
      cmocka_unit_test(create_existing_is_eexist_and_open_missing_is_enoent),
      cmocka_unit_test(transient_is_gone_after_its_last_holder_closes),
      cmocka_unit_test(transient_is_gone_after_its_last_holder_is_killed),
      cmocka_unit_test(racing_creates_and_last_closes_never_fail),
      cmocka_unit_test(successful_calls_leave_the_error_record_alone),
      cmocka_unit_test(persistent_survives_all_holders_until_removed),
      cmocka_unit_test(
          removed_transient_name_is_free_while_holders_keep_memory),
      cmocka_unit_test(removing_a_mapped_persistent_object_frees_the_name),
      cmocka_unit_test(zero_sized_object_has_exact_size_zero),
      cmocka_unit_test(map_read_write_follow_where_the_data_lives),
      cmocka_unit_test(corrupt_trailer_is_rejected_not_trusted),
      cmocka_unit_test(owner_only_object_is_closed_to_other_users),
      cmocka_unit_test(last_holder_of_another_users_object_closes_cleanly),
      cmocka_unit_test(symlink_at_the_object_path_is_not_followed),
      cmocka_unit_test(anonymous_mapping_is_zeroed_and_shared_by_its_views),
      cmocka_unit_test(stdio_binary_takes_the_standard_streams_only),
      cmocka_unit_test(cli_share_put_get_ls_rm_round_trip_is_byte_exact),
      cmocka_unit_test(cli_share_put_transient_lives_while_put_runs),
      cmocka_unit_test(cli_share_errors_and_usage),
      cmocka_unit_test(filled_object_appears_whole_or_not_at_all),
      cmocka_unit_test(creator_killed_while_filling_leaves_nothing),
      cmocka_unit_test(dead_creators_temporary_files_are_swept),
      cmocka_unit_test(a_stuck_lock_fails_the_listing_instead_of_hanging_it),
      cmocka_unit_test(sweep_fails_cleanly),
      FAULT_TEST("create_transient_fails_cleanly", fc_create_t),
      FAULT_TEST("create_persistent_fails_cleanly", fc_create_p),
      FAULT_TEST("create_filled_fails_cleanly", fc_create_f),
      FAULT_TEST("open_fails_cleanly", fc_open),
      FAULT_TEST("remove_fails_cleanly", fc_remove),
      FAULT_TEST("anonymous_fails_cleanly", fc_anon),
      FAULT_TEST("list_fails_cleanly", fc_list),
      FAULT_TEST("last_close_fails_cleanly", fc_close),
  };
  if (argc == 4 && strcmp(argv[1], "--child") == 0) {
    if (strcmp(argv[2], "rw") == 0)
      return child_rw(argv[3]);
    if (strcmp(argv[2], "churn") == 0)
      return child_churn(argv[3]);
    if (strcmp(argv[2], "list-loop") == 0)
      return child_list_loop(argv[3]);
    if (strcmp(argv[2], "fill-forever") == 0)
      return child_fill_forever(argv[3]);
    if (strcmp(argv[2], "hold") == 0)
      return child_hold(argv[3]);
    if (strcmp(argv[2], "nobody-open") == 0)
      return child_nobody_open(argv[3], 0);
    if (strcmp(argv[2], "nobody-open-any") == 0)
      return child_nobody_open(argv[3], 1);
    if (strcmp(argv[2], "nobody-create") == 0)
      return child_nobody_create(argv[3]);
    if (strcmp(argv[2], "nobody-last") == 0)
      return child_nobody_last(argv[3]);
    if (strcmp(argv[2], "nobody-can") == 0) /* can a child become nobody? */
      return th_drop_to_nobody() == 0 ? 0 : 10;
    return 100;
  }
  return cmocka_run_group_tests(tests, NULL, NULL);
}
