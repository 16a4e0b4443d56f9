/* test_section.c -- shared sections (the AppInst instance counter): the
 * block is shared by every instance, the count of instances follows joins
 * and leaves and stays right when an instance is killed, a new first
 * instance starts clean, keys, sizes and headers are checked, the section
 * lock survives a killed holder, `mmf instances` works, and every OS call
 * failing leaves nothing behind. Children are this program run again:
 * `test_section --child MODE KEY [ARG]`. */
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
#include "internal.h" /* the file layout; mmf__fault_* */
#include "mmf.h"

/* Layout of the tests' 4096-byte block. */
#define BLOCK 4096
#define OFF_CLASSIC 0   /* the classic counter: ++ on join, -- on leave */
#define OFF_LOCKED 8    /* a child holds the section lock */
#define OFF_READY 64    /* + 4 * i: child i has joined */
#define OFF_RELEASE 128 /* + 4 * i: child i may leave */
#define OFF_PARENT 1000 /* data the parent writes */
#define OFF_CHILD 2000  /* data a child writes */
#define DATA_LEN 900

/* A key unique to this run: the test's private temp dir's name (which
 * holds the pid or a random part) and `name`. */
static const char *key_for(const char *name) {
  static char slots[8][128];
  static int next;
  char *k = slots[next++ % 8];
  const char *dir = th_tmpdir(), *base = dir;
  for (const char *p = dir; *p; p++)
    if (*p == '/' || *p == '\\')
      base = p + 1;
  snprintf(k, sizeof slots[0], "%s.%s", base, name);
  return k;
}

static unsigned count_of(mmf_section *s) {
  unsigned n = 0;
  TH_OK(mmf_section_instances(s, &n));
  return n;
}

/* For th_wait_until: the section has two instances; a file holds at least
 * one line's worth ("N\t..."). */
static int two_joined(void *s) { return count_of(s) == 2; }
static int has_a_line(void *path) { return th_file_size(path) >= 2; }

/* Close and remove the file, so the run leaves nothing in the runtime
 * dir. */
static void close_and_remove(mmf_section *s) {
  char path[1024];
  snprintf(path, sizeof path, "%s", mmf_section_path(s));
  TH_OK(mmf_section_close(s));
  assert_int_equal(th_remove(path), 0);
}

/* ---- children ------------------------------------------------------------*/

/* share KEY: see the parent's data, write ours, leave. */
static int child_share(const char *key) {
  unsigned char want[DATA_LEN], mine[DATA_LEN];
  mmf_section *s;
  unsigned char *d;
  if (mmf_section_open(&s, key, BLOCK, 0) != 0)
    return 1;
  d = mmf_section_data(s);
  if (mmf_section_first(s) || mmf_section_size(s) != BLOCK)
    return 2;
  th_fill(want, sizeof want, 1);
  if (memcmp(d + OFF_PARENT, want, sizeof want) != 0)
    return 3;
  th_fill(mine, sizeof mine, 2);
  memcpy(d + OFF_CHILD, mine, sizeof mine);
  return mmf_section_close(s) == 0 ? 0 : 4;
}

/* join KEY I: join, count in the classic way, say so, wait to be released
 * (or killed), leave. */
static int child_join(const char *key, const char *idx) {
  unsigned i = (unsigned)atoi(idx);
  mmf_section *s;
  void *d;
  if (i > 8 || mmf_section_open(&s, key, BLOCK, 0) != 0)
    return 1;
  d = mmf_section_data(s);
  atomic_fetch_add(th_word(d, OFF_CLASSIC), 1);
  atomic_store(th_word(d, OFF_READY + 4 * i), 1);
  if (th_wait_word_at(d, OFF_RELEASE + 4 * i, 1) != 0)
    return 2;
  atomic_fetch_sub(th_word(d, OFF_CLASSIC), 1);
  return mmf_section_close(s) == 0 ? 0 : 3;
}

/* lockhold KEY: take the section lock, say so, and wait to be killed. */
static int child_lockhold(const char *key) {
  mmf_section *s;
  void *d;
  if (mmf_section_open(&s, key, BLOCK, 0) != 0 || mmf_section_lock(s) != 0)
    return 1;
  d = mmf_section_data(s);
  atomic_store(th_word(d, OFF_LOCKED), 1);
  th_wait_word_at(d, OFF_RELEASE, 12345); /* never set: the parent kills us */
  return 2;
}

/* lockwait KEY: wait for the lock; exit 20 when it came cleanly, 21 when
 * it came with MMF_EOWNERDEAD. */
static int child_lockwait(const char *key) {
  mmf_section *s;
  int rc;
  if (mmf_section_open(&s, key, BLOCK, 0) != 0)
    return 1;
  rc = mmf_section_lock(s);
  if (rc != 0 && rc != MMF_EOWNERDEAD)
    return 2;
  if (mmf_section_unlock(s) != 0 || mmf_section_close(s) != 0)
    return 3;
  return rc == 0 ? 20 : 21;
}

/* trylock KEY: exit 10 when the lock is busy, 0 when it was taken. */
static int child_trylock(const char *key) {
  mmf_section *s;
  int rc;
  if (mmf_section_open(&s, key, BLOCK, 0) != 0)
    return 1;
  rc = mmf_section_trylock(s);
  if (rc == 0 && mmf_section_unlock(s) != 0)
    return 2;
  if (mmf_section_close(s) != 0)
    return 3;
  return rc == MMF_EBUSY ? 10 : rc == 0 ? 0 : 4;
}

/* `squat PATH`: as user 65534, create the file a section would use (a
 * squatter guessing a key). 10 when this system cannot switch users. */
static int child_squat(const char *path) {
  if (th_drop_to_nobody() != 0)
    return 10;
  return th_write_file(path, "", 0) == 0 ? 0 : 1;
}

/* `nobody-join KEY`: as user 65534, join KEY while root's instance of it
 * runs: a section of its own (sections are per user), first and alone. 10
 * when this system cannot switch users. */
static int child_nobody_join(const char *key) {
  mmf_section *s;
  unsigned n = 0;
  int rc;
  if (th_drop_to_nobody() != 0)
    return 10;
  rc = mmf_section_open(&s, key, 64, 0);
  if (rc != 0) {
    fprintf(stderr, "nobody-join: %s\n", mmf_last_error_message());
    return 1;
  }
  rc = mmf_section_first(s) == 1 && mmf_section_instances(s, &n) == 0 &&
               n == 1
           ? 0
           : 2;
  {
    char path[1024];
    snprintf(path, sizeof path, "%s", mmf_section_path(s));
    if (mmf_section_close(s) != 0 || th_remove(path) != 0)
      return 3;
  }
  return rc;
}

static intptr_t spawn(const char *mode, const char *key, const char *arg) {
  const char *args[] = {"--child", mode, key, arg, NULL};
  intptr_t child = th_spawn_self(args);
  assert_true(child > 0);
  return child;
}

/* ---- keys and arguments --------------------------------------------------*/

static void bad_keys_sizes_and_flags_are_rejected(void **state) {
  char long_key[MMF_SECTION_KEY_MAX + 2];
  static const char *const bad[] = {"",      "a/b",  "..\\x", "a b",
                                    "k\xc3\xa9", "k:1", "a\tb", "k."};
  mmf_section *s = (mmf_section *)&s;
  (void)state;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    TH_EXPECT_ERR(mmf_section_open(&s, bad[i], 16, 0), MMF_EINVAL,
                  "mmf_section_open");
    assert_null(s);
  }
  /* This run's own key (another run of the suite may be using the
   * longest key too), padded with 'k' to one byte too many. */
  memset(long_key, 'k', sizeof long_key - 1);
  long_key[sizeof long_key - 1] = '\0';
  memcpy(long_key, key_for("long"), strlen(key_for("long")));
  TH_EXPECT_ERR(mmf_section_open(&s, long_key, 16, 0), MMF_EINVAL,
                "mmf_section_open");
  TH_EXPECT_ERR(mmf_section_open(&s, key_for("args"), 16, 1), MMF_EINVAL,
                "mmf_section_open");
  TH_EXPECT_ERR(mmf_section_open(&s, key_for("args"),
                                 MMF_SECTION_MAX_SIZE + 1, 0),
                MMF_EINVAL, "mmf_section_open");
  TH_EXPECT_ERR(mmf_section_open(NULL, key_for("args"), 16, 0), MMF_EINVAL,
                "mmf_section_open");
  /* The longest key is fine. */
  long_key[MMF_SECTION_KEY_MAX] = '\0';
  TH_OK(mmf_section_open(&s, long_key, 16, 0));
  assert_string_equal(mmf_section_key(s), long_key);
  close_and_remove(s);
  /* Nothing of this went through a NULL object. */
  assert_null(mmf_section_data(NULL));
  assert_int_equal(mmf_section_size(NULL), 0);
  assert_int_equal(mmf_section_close(NULL), 0);
  TH_EXPECT_ERR(mmf_section_lock(NULL), MMF_EINVAL, "mmf_section_lock");
  TH_EXPECT_ERR(mmf_section_instances(NULL, NULL), MMF_EINVAL,
                "mmf_section_instances");
}

static void default_key_is_the_program_name_and_path_hash(void **state) {
  char key[MMF_SECTION_KEY_MAX + 1], small[8];
  mmf_section *s;
  const char *dash;
  (void)state;
  TH_OK(mmf_section_default_key(key, sizeof key));
  assert_true(strncmp(key, "test_section", 12) == 0);
  dash = strrchr(key, '-');
  assert_non_null(dash);
  assert_int_equal(strlen(dash + 1), 16);
  assert_int_equal(strspn(dash + 1, "0123456789abcdef"), 16);
  TH_EXPECT_ERR(mmf_section_default_key(small, sizeof small),
                MMF_ENAMETOOLONG, "mmf_section_default_key");
  /* NULL key = this program's; the file is named for it. */
  TH_OK(mmf_section_open(&s, NULL, 32, 0));
  assert_string_equal(mmf_section_key(s), key);
  assert_non_null(strstr(mmf_section_path(s), key));
  assert_non_null(strstr(mmf_section_path(s), "mmf-section."));
  close_and_remove(s);
}

/* ---- sharing and counting ------------------------------------------------*/

static void two_instances_see_each_others_writes(void **state) {
  const char *key = key_for("share");
  unsigned char mine[DATA_LEN], theirs[DATA_LEN];
  mmf_section *s;
  unsigned char *d;
  (void)state;
  TH_OK(mmf_section_open(&s, key, BLOCK, 0));
  assert_int_equal(mmf_section_first(s), 1);
  assert_int_equal(mmf_section_size(s), BLOCK);
  d = mmf_section_data(s);
  assert_non_null(d);
  assert_int_equal((uintptr_t)d % 64, 0);
  th_fill(mine, sizeof mine, 1);
  memcpy(d + OFF_PARENT, mine, sizeof mine);
  assert_int_equal(th_wait_child(spawn("share", key, NULL)), 0);
  th_fill(theirs, sizeof theirs, 2);
  assert_memory_equal(d + OFF_CHILD, theirs, sizeof theirs);
  close_and_remove(s);
}

/* Calls that succeed leave the error record as they found it, also when
 * they met a busy lock on the way (another instance's slot). */
static void successful_calls_leave_the_error_record_alone(void **state) {
  const char *key = key_for("record");
  mmf_section *a, *b;
  unsigned n = 0;
  (void)state;
  th_mark_error_record();
  TH_OK(mmf_section_open(&a, key, BLOCK, 0));
  th_assert_error_record_marked();
  TH_OK(mmf_section_open(&b, key, BLOCK, 0)); /* a holds its slot */
  th_assert_error_record_marked();
  TH_OK(mmf_section_instances(a, &n));
  assert_int_equal(n, 2);
  th_assert_error_record_marked();
  TH_OK(mmf_section_close(b));
  close_and_remove(a);
}

static void count_follows_joins_and_leaves(void **state) {
  const char *key = key_for("count");
  mmf_section *s;
  intptr_t a, b;
  void *d;
  (void)state;
  TH_OK(mmf_section_open(&s, key, BLOCK, 0));
  d = mmf_section_data(s);
  assert_int_equal(count_of(s), 1);
  a = spawn("join", key, "0");
  assert_int_equal(th_wait_word_at(d, OFF_READY + 0, 1), 0);
  assert_int_equal(count_of(s), 2);
  b = spawn("join", key, "1");
  assert_int_equal(th_wait_word_at(d, OFF_READY + 4, 1), 0);
  assert_int_equal(count_of(s), 3);
  atomic_store(th_word(d, OFF_RELEASE + 4), 1);
  assert_int_equal(th_wait_child(b), 0);
  assert_int_equal(count_of(s), 2);
  atomic_store(th_word(d, OFF_RELEASE + 0), 1);
  assert_int_equal(th_wait_child(a), 0);
  assert_int_equal(count_of(s), 1);
  close_and_remove(s);
}

static void a_killed_instance_stops_counting_at_once(void **state) {
  const char *key = key_for("kill");
  mmf_section *s;
  intptr_t a, b;
  void *d;
  (void)state;
  TH_OK(mmf_section_open(&s, key, BLOCK, 0));
  d = mmf_section_data(s);
  a = spawn("join", key, "0");
  b = spawn("join", key, "1");
  assert_int_equal(th_wait_word_at(d, OFF_READY + 0, 1), 0);
  assert_int_equal(th_wait_word_at(d, OFF_READY + 4, 1), 0);
  assert_int_equal(count_of(s), 3);
  assert_int_equal(th_kill_child(a), 0);
  assert_int_equal(count_of(s), 2);
  /* The classic shared counter never hears of the death. */
  assert_int_equal(atomic_load(th_word(d, OFF_CLASSIC)), 2);
  atomic_store(th_word(d, OFF_RELEASE + 4), 1);
  assert_int_equal(th_wait_child(b), 0);
  assert_int_equal(count_of(s), 1);
  assert_int_equal(atomic_load(th_word(d, OFF_CLASSIC)), 1); /* wrong forever */
  close_and_remove(s);
}

static void a_new_first_instance_starts_clean_after_a_kill(void **state) {
  const char *key = key_for("clean");
  unsigned char mine[DATA_LEN], zero[BLOCK];
  char path[1024];
  unsigned char *d, *file;
  mmf_section *s;
  size_t n;
  intptr_t a;
  (void)state;
  TH_OK(mmf_section_open(&s, key, BLOCK, 0));
  snprintf(path, sizeof path, "%s", mmf_section_path(s));
  d = mmf_section_data(s);
  th_fill(mine, sizeof mine, 1);
  memcpy(d + OFF_PARENT, mine, sizeof mine);
  a = spawn("join", key, "0");
  assert_int_equal(th_wait_word_at(d, OFF_READY, 1), 0);
  TH_OK(mmf_section_close(s)); /* the child is the last instance now */
  assert_int_equal(th_kill_child(a), 0);
  /* Everyone is gone, one of them killed; the old data is still in the
   * file... */
  file = th_read_file(path, &n);
  assert_non_null(file);
  assert_int_equal(n, MMF__SECTION_HDR + BLOCK);
  assert_memory_equal(file + MMF__SECTION_HDR + OFF_PARENT, mine,
                      sizeof mine);
  assert_int_equal(atomic_load(th_word(file + MMF__SECTION_HDR, OFF_CLASSIC)), 1);
  free(file);
  /* ...and the next first instance finds the block zeroed. */
  TH_OK(mmf_section_open(&s, key, BLOCK, 0));
  assert_int_equal(mmf_section_first(s), 1);
  assert_int_equal(count_of(s), 1);
  memset(zero, 0, sizeof zero);
  assert_memory_equal(mmf_section_data(s), zero, BLOCK);
  close_and_remove(s);
}

static void different_keys_are_separate_sections(void **state) {
  mmf_section *a, *b, *a2;
  (void)state;
  TH_OK(mmf_section_open(&a, key_for("sep-a"), 64, 0));
  TH_OK(mmf_section_open(&b, key_for("sep-b"), 64, 0));
  assert_int_equal(mmf_section_first(b), 1);
  assert_string_not_equal(mmf_section_path(a), mmf_section_path(b));
  memset(mmf_section_data(a), 0xAA, 64);
  assert_int_equal(((unsigned char *)mmf_section_data(b))[0], 0);
  assert_int_equal(count_of(a), 1);
  assert_int_equal(count_of(b), 1);
  /* A second object of one key in this process is a second instance. */
  TH_OK(mmf_section_open(&a2, key_for("sep-a"), 64, 0));
  assert_int_equal(mmf_section_first(a2), 0);
  assert_int_equal(((unsigned char *)mmf_section_data(a2))[63], 0xAA);
  assert_int_equal(count_of(a), 2);
  assert_int_equal(count_of(b), 1);
  TH_OK(mmf_section_close(a2));
  assert_int_equal(count_of(a), 1);
  close_and_remove(a);
  close_and_remove(b);
}

/* ---- sizes and headers ---------------------------------------------------*/

static void a_size_other_than_the_running_instances_is_rejected(void **state) {
  const char *key = key_for("size");
  mmf_section *s, *t = (mmf_section *)&t;
  (void)state;
  TH_OK(mmf_section_open(&s, key, 100, 0));
  TH_EXPECT_ERR(mmf_section_open(&t, key, 200, 0), MMF_EINVAL,
                "mmf_section_open");
  assert_null(t);
  assert_non_null(strstr(mmf_last_error_message(), "100"));
  assert_non_null(strstr(mmf_last_error_message(), "200"));
  assert_int_equal(count_of(s), 1); /* the failed joiner left no slot */
  /* Size 0 takes the running instances' size. */
  TH_OK(mmf_section_open(&t, key, 0, 0));
  assert_int_equal(mmf_section_size(t), 100);
  TH_OK(mmf_section_close(t));
  TH_OK(mmf_section_close(s));
  /* With nobody running, a new size simply starts a new block. */
  TH_OK(mmf_section_open(&s, key, 200, 0));
  assert_int_equal(mmf_section_first(s), 1);
  assert_int_equal(mmf_section_size(s), 200);
  close_and_remove(s);
}

/* Overwrite `len` bytes at `off` of the file at `path`. */
static void poke(const char *path, long off, const void *bytes, size_t len) {
  FILE *f = th_fopen(path, "r+b");
  assert_non_null(f);
  assert_int_equal(fseek(f, off, SEEK_SET), 0);
  assert_int_equal(fwrite(bytes, 1, len, f), len);
  assert_int_equal(fclose(f), 0);
}

static void a_corrupt_header_is_rejected(void **state) {
  const char *key = key_for("corrupt");
  struct mmf__section_hdr good, bad;
  unsigned char garbage[MMF__SECTION_HDR];
  mmf_section *s, *t = (mmf_section *)&t;
  const char *path;
  size_t n;
  unsigned char *file;
  (void)state;
  TH_OK(mmf_section_open(&s, key, 256, 0));
  path = mmf_section_path(s);
  file = th_read_file(path, &n);
  assert_non_null(file);
  memcpy(&good, file, sizeof good);
  free(file);
  assert_int_equal(good.magic, MMF__SECTION_MAGIC);
  assert_int_equal(good.size, 256);

  th_fill(garbage, sizeof garbage, 9);
  poke(path, 0, garbage, sizeof garbage);
  TH_EXPECT_ERR(mmf_section_open(&t, key, 256, 0), MMF_ECORRUPT,
                "mmf_section_open");
  assert_null(t);
  /* A size field that points past the file: never believed. */
  bad = good;
  bad.size = (uint64_t)1 << 40;
  poke(path, 0, &bad, sizeof bad);
  TH_EXPECT_ERR(mmf_section_open(&t, key, 0, 0), MMF_ECORRUPT,
                "mmf_section_open");
  bad = good;
  bad.size = 255;
  poke(path, 0, &bad, sizeof bad);
  TH_EXPECT_ERR(mmf_section_open(&t, key, 0, 0), MMF_ECORRUPT,
                "mmf_section_open");
  bad = good;
  bad.slots = 7;
  poke(path, 0, &bad, sizeof bad);
  TH_EXPECT_ERR(mmf_section_open(&t, key, 256, 0), MMF_ECORRUPT,
                "mmf_section_open");
  assert_int_equal(count_of(s), 1);
  /* Repaired, it joins again. */
  poke(path, 0, &good, sizeof good);
  TH_OK(mmf_section_open(&t, key, 256, 0));
  assert_int_equal(count_of(s), 2);
  /* The counting hint in the header is only a hint: spoiled either way,
   * the count stays right. */
  bad = good;
  bad.used = 0;
  poke(path, 0, &bad, sizeof bad);
  assert_int_equal(count_of(s), 2);
  bad.used = 1; /* t's slot (1) lies above it */
  poke(path, 0, &bad, sizeof bad);
  assert_int_equal(count_of(s), 2);
  bad.used = 0xffffffffu;
  poke(path, 0, &bad, sizeof bad);
  assert_int_equal(count_of(t), 2);
  TH_OK(mmf_section_close(t));
  close_and_remove(s);
}

/* ---- the section lock ----------------------------------------------------*/

static void the_lock_excludes_other_processes_and_objects(void **state) {
  const char *key = key_for("lock");
  mmf_section *s, *t;
  (void)state;
  TH_OK(mmf_section_open(&s, key, BLOCK, 0));
  TH_OK(mmf_section_open(&t, key, BLOCK, 0));
  TH_OK(mmf_section_lock(s));
  TH_EXPECT_ERR(mmf_section_lock(s), MMF_EINVAL, "mmf_section_lock");
  TH_EXPECT_ERR(mmf_section_trylock(t), MMF_EBUSY, "mmf_section_trylock");
  TH_EXPECT_ERR(mmf_section_unlock(t), MMF_EINVAL, "mmf_section_unlock");
  assert_int_equal(th_wait_child(spawn("trylock", key, NULL)), 10);
  TH_OK(mmf_section_unlock(s));
  assert_int_equal(th_wait_child(spawn("trylock", key, NULL)), 0);
  TH_OK(mmf_section_trylock(t));
  TH_EXPECT_ERR(mmf_section_trylock(s), MMF_EBUSY, "mmf_section_trylock");
  TH_OK(mmf_section_close(t)); /* closing while holding releases it */
  TH_OK(mmf_section_lock(s));
  TH_OK(mmf_section_unlock(s));
  close_and_remove(s);
}

static void a_killed_holder_gives_the_next_locker_ownerdead(void **state) {
  const char *key = key_for("ownerdead");
  mmf_section *s;
  intptr_t holder, waiter;
  void *d;
  (void)state;
  TH_OK(mmf_section_open(&s, key, BLOCK, 0));
  d = mmf_section_data(s);
  holder = spawn("lockhold", key, NULL);
  assert_int_equal(th_wait_word_at(d, OFF_LOCKED, 1), 0);
  /* A locker waiting (or about to wait) for the dead holder's lock gets it
   * with the owner-died report instead of hanging. */
  waiter = spawn("lockwait", key, NULL);
  assert_int_equal(th_kill_child(holder), 0);
  assert_int_equal(th_wait_child(waiter), 21);
  /* The waiter unlocked: consistent again. */
  TH_OK(mmf_section_lock(s));
  TH_OK(mmf_section_unlock(s));
  /* Killed again, this process is the next locker. */
  atomic_store(th_word(d, OFF_LOCKED), 0);
  holder = spawn("lockhold", key, NULL);
  assert_int_equal(th_wait_word_at(d, OFF_LOCKED, 1), 0);
  assert_int_equal(th_kill_child(holder), 0);
  TH_EXPECT_ERR(mmf_section_lock(s), MMF_EOWNERDEAD, "mmf_section_lock");
  TH_OK(mmf_section_unlock(s));
  TH_OK(mmf_section_lock(s));
  TH_OK(mmf_section_unlock(s));
  close_and_remove(s);
}

/* ---- the CLI -------------------------------------------------------------*/

static const char *cli(void) {
  const char *p = getenv("MMF_CLI");
  if (!p || !*p) {
    print_message("MMF_CLI is not set: skipping the CLI checks\n");
    skip();
  }
  return p;
}

/* Run `mmf instances args...` to completion; stdout (with any '\r'
 * dropped) in out. */
static int run_instances(char *out, size_t cap, const char *const *args) {
  const char *argv[12];
  char out_path[1024], err_path[1024];
  th_run_result res;
  unsigned char *b;
  size_t n, j = 0;
  int k = 0;
  argv[k++] = cli();
  argv[k++] = "instances";
  while (*args && k < 11)
    argv[k++] = *args++;
  argv[k] = NULL;
  snprintf(out_path, sizeof out_path, "%s", th_path("inst.out"));
  snprintf(err_path, sizeof err_path, "%s", th_path("inst.err"));
  assert_int_equal(th_run(argv, out_path, err_path, NULL, NULL, &res), 0);
  b = th_read_file(out_path, &n);
  assert_non_null(b);
  for (size_t i = 0; i < n && j + 1 < cap; i++)
    if (b[i] != '\r')
      out[j++] = (char)b[i];
  out[j] = '\0';
  free(b);
  return res.status;
}

#define INSTANCES(out, ...)                                                    \
  run_instances((out), sizeof(out), (const char *const[]){__VA_ARGS__, NULL})

static void mmf_instances_counts_a_held_instance(void **state) {
  const char *key = key_for("cli");
  char out[256], want[256], bg_out[1024], bg_err[1024];
  const char *argv[] = {cli(),  "instances", "--key", key,
                        "--hold", "600",     NULL};
  mmf_section *s;
  intptr_t bg;
  char path[1024];
  (void)state;
  /* Join first, so this test knows when the held one has joined too. */
  TH_OK(mmf_section_open(&s, key, 0, 0));
  snprintf(path, sizeof path, "%s", mmf_section_path(s));
  snprintf(bg_out, sizeof bg_out, "%s", th_path("hold.out"));
  snprintf(bg_err, sizeof bg_err, "%s", th_path("hold.err"));
  bg = th_start(argv, bg_out, bg_err);
  assert_true(bg > 0);
  assert_int_equal(th_wait_until(two_joined, s, TH_WAIT_MS), 0);
  /* It joins before it prints its count: wait for the line too, or the
   * kill below may come first. */
  assert_int_equal(th_wait_until(has_a_line, bg_out, TH_WAIT_MS), 0);
  TH_OK(mmf_section_close(s));
  /* The held one and this one. */
  snprintf(want, sizeof want, "2\t%s\n", key);
  assert_int_equal(INSTANCES(out, "--key", key), 0);
  assert_string_equal(out, want);
  snprintf(want, sizeof want,
           "{\"key\":\"%s\",\"instances\":2,\"first\":false}\n", key);
  assert_int_equal(INSTANCES(out, "--json", "-k", key), 0);
  assert_string_equal(out, want);
  /* Killed, the held one no longer counts. */
  assert_int_equal(th_kill_child(bg), 0);
  snprintf(want, sizeof want, "1\t%s\n", key);
  assert_int_equal(INSTANCES(out, "--key", key, "--hold", "0"), 0);
  assert_string_equal(out, want);
  /* It printed its own count (it was the second) before it was killed. */
  {
    size_t n;
    unsigned char *b = th_read_file(bg_out, &n);
    assert_non_null(b);
    assert_true(n >= 2 && b[0] == '2' && b[1] == '\t');
    free(b);
  }
  assert_int_equal(th_remove(path), 0);
}

/* A section file made by another user (a squatter on a guessable key) is
 * refused, not joined: it could read and forge the block and the counts. */
static void a_section_file_of_another_user_is_refused(void **state) {
  const char *key = key_for("squat");
  char path[1024];
  mmf_section *s;
  int st;
  (void)state;
  TH_OK(mmf_section_open(&s, key, 64, 0));
  snprintf(path, sizeof path, "%s", mmf_section_path(s));
  TH_OK(mmf_section_close(s));
  assert_int_equal(th_remove(path), 0);
  st = th_wait_child(spawn("squat", path, NULL));
  if (st == 10) {
    print_message("not applicable: needs root on Linux to become another "
                  "user (Windows keeps sections per user)\n");
    skip();
  }
  assert_int_equal(st, 0);
  s = (mmf_section *)&s;
  TH_EXPECT_ERR(mmf_section_open(&s, key, 64, 0), MMF_EACCES,
                "mmf_section_open");
  assert_non_null(strstr(mmf_last_error_message(), "another user"));
  assert_null(s);
  assert_int_equal(th_remove(path), 0);
}

/* Sections are per user, on Linux as on Windows: another user running
 * the same program (key) gets a section of its own, not a refusal. */
static void another_user_gets_a_section_of_its_own(void **state) {
  const char *key = key_for("peruser");
  mmf_section *s;
  unsigned n = 0;
  int st;
  (void)state;
  TH_OK(mmf_section_open(&s, key, 64, 0));
  st = th_wait_child(spawn("nobody-join", key, NULL));
  TH_OK(mmf_section_instances(s, &n));
  close_and_remove(s);
  if (st == 10) {
    print_message("not applicable: needs root on Linux to become another "
                  "user (Windows keeps sections per user)\n");
    skip();
  }
  assert_int_equal(st, 0);
  assert_int_equal(n, 1); /* the other user's instance is not ours */
}

static void mmf_instances_rejects_bad_usage(void **state) {
  char out[256];
  (void)state;
  assert_int_equal(INSTANCES(out, "--hold", "soon"), 2);
  assert_int_equal(INSTANCES(out, "--hold", "-1"), 2);
  assert_int_equal(INSTANCES(out, "extra"), 2);
  assert_int_equal(INSTANCES(out, "--bogus"), 2);
  assert_int_equal(INSTANCES(out, "--key", "a/b"), 1);
  assert_string_equal(out, "");
  assert_int_equal(INSTANCES(out, "--help"), 0);
  assert_non_null(strstr(out, "Usage: mmf instances"));
}

/* ---- fault injection -----------------------------------------------------*/

static const int open_codes[] = {
    MMF_EINVAL, MMF_ECORRUPT, MMF_EBUSY,  MMF_EACCES, MMF_ENAMETOOLONG,
    MMF_ENOSPC, MMF_EMFILE,   MMF_ENOMEM, MMF_EIO,    MMF_ENOENT,
    MMF_EBADF,  MMF_EOS,    0};
static const int count_codes[] = {MMF_EINVAL, MMF_EOS, MMF_ENOMEM, 0};
static const int close_codes[] = {MMF_EINVAL, MMF_EIO, MMF_EOS, 0};
static const int lock_codes[] = {MMF_EINVAL, MMF_EOS, MMF_ENOMEM, 0};

static void expect_failure(int rc, const int *codes, const char *api) {
  if (!th_code_in(rc, codes))
    print_error("%s failed with undocumented %s: %s\n", api,
                mmf_err_name(rc), mmf_last_error_message());
  assert_true(th_code_in(rc, codes));
  if (!strstr(mmf_last_error_message(), api))
    print_error("message \"%s\" (fault in %s) does not name %s\n",
                mmf_last_error_message(), mmf__fault_call(), api);
  assert_non_null(strstr(mmf_last_error_message(), api));
}

/* Open with each OS call failing in turn; `observer` (may be NULL) is
 * another instance whose count must not change. */
static void fault_open(const char *key, mmf_section *observer) {
  unsigned faults = 0;
  const char *needle = "mmf-section.";
  for (unsigned long n = 1;; n++) {
    th_res before = th_res_now();
    int maps = th_mapping_count_matching(needle);
    mmf_section *s;
    int rc, fired;
    mmf__fault_arm(n);
    rc = mmf_section_open(&s, key, BLOCK, 0);
    fired = mmf__fault_fired();
    mmf__fault_arm(0);
    if (!fired) {
      TH_OK(rc);
      if (key)
        assert_int_equal(mmf_section_first(s), observer == NULL);
      assert_int_equal(count_of(s), observer ? 2 : 1);
      TH_OK(mmf_section_close(s));
      break;
    }
    faults++;
    if (rc == 0)
      print_error("fault #%lu in %s was ignored\n", n, mmf__fault_call());
    assert_int_not_equal(rc, 0);
    assert_null(s);
    expect_failure(rc, open_codes, "mmf_section_open");
    TH_ASSERT_RES_SAME(before);
    assert_int_equal(th_mapping_count_matching(needle), maps);
    if (observer)
      assert_int_equal(count_of(observer), 1);
  }
  assert_true(faults >= 6);
}

static void every_failing_os_call_leaves_nothing_behind(void **state) {
  const char *key = key_for("fault");
  mmf_section *obs, *s;
  char path[1024];
  unsigned faults = 0;
  (void)state;
  fault_open(key, NULL);                /* the first instance */
  TH_OK(mmf_section_open(&obs, key, BLOCK, 0));
  snprintf(path, sizeof path, "%s", mmf_section_path(obs));
  fault_open(key, obs);                 /* a later one */
  /* Counting: a failure leaves the registry free and nothing held. */
  for (unsigned long n = 1;; n++) {
    th_res before = th_res_now();
    unsigned c = 99;
    int rc, fired;
    mmf__fault_arm(n);
    rc = mmf_section_instances(obs, &c);
    fired = mmf__fault_fired();
    mmf__fault_arm(0);
    TH_ASSERT_RES_SAME(before);
    if (!fired) {
      TH_OK(rc);
      assert_int_equal(c, 1);
      break;
    }
    faults++;
    assert_int_not_equal(rc, 0);
    expect_failure(rc, count_codes, "mmf_section_instances");
    assert_int_equal(c, 0);
    assert_int_equal(count_of(obs), 1);
  }
  assert_true(faults >= 2);
  /* Closing: whatever fails, the instance is gone and nothing is left. */
  faults = 0;
  for (unsigned long n = 1;; n++) {
    th_res before = th_res_now();
    int maps = th_mapping_count_matching("mmf-section.");
    int rc, fired;
    TH_OK(mmf_section_open(&s, key, BLOCK, 0));
    mmf__fault_arm(n);
    rc = mmf_section_close(s);
    fired = mmf__fault_fired();
    mmf__fault_arm(0);
    if (fired)
      expect_failure(rc, close_codes, "mmf_section_close");
    else
      TH_OK(rc);
    TH_ASSERT_RES_SAME(before);
    assert_int_equal(th_mapping_count_matching("mmf-section."), maps);
    assert_int_equal(count_of(obs), 1);
    if (!fired)
      break;
    faults++;
  }
  assert_true(faults >= 3);
  /* Locking and unlocking: a failed lock is not held, a failed unlock
   * still is (and can be retried). */
  TH_OK(mmf_section_open(&s, key, BLOCK, 0));
  for (unsigned long n = 1;; n++) {
    int rc, fired;
    mmf__fault_arm(n);
    rc = mmf_section_lock(s);
    fired = mmf__fault_fired();
    mmf__fault_arm(0);
    if (!fired) {
      TH_OK(rc);
      break;
    }
    expect_failure(rc, lock_codes, "mmf_section_lock");
    TH_OK(mmf_section_trylock(obs));
    TH_OK(mmf_section_unlock(obs));
  }
  for (unsigned long n = 1;; n++) {
    int rc, fired;
    mmf__fault_arm(n);
    rc = mmf_section_unlock(s);
    fired = mmf__fault_fired();
    mmf__fault_arm(0);
    if (!fired) {
      TH_OK(rc);
      break;
    }
    expect_failure(rc, lock_codes, "mmf_section_unlock");
    TH_EXPECT_ERR(mmf_section_trylock(obs), MMF_EBUSY, "mmf_section_trylock");
  }
  TH_OK(mmf_section_lock(obs)); /* a clean release: no owner-died report */
  TH_OK(mmf_section_unlock(obs));
  TH_OK(mmf_section_close(s));
  TH_OK(mmf_section_close(obs));
  fault_open(NULL, NULL); /* the default key: the executable's path too */
  TH_OK(mmf_section_open(&s, NULL, BLOCK, 0));
  close_and_remove(s);
  assert_int_equal(th_remove(path), 0);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(bad_keys_sizes_and_flags_are_rejected),
      cmocka_unit_test(default_key_is_the_program_name_and_path_hash),
      cmocka_unit_test(two_instances_see_each_others_writes),
      cmocka_unit_test(count_follows_joins_and_leaves),
      cmocka_unit_test(successful_calls_leave_the_error_record_alone),
      cmocka_unit_test(a_killed_instance_stops_counting_at_once),
      cmocka_unit_test(a_new_first_instance_starts_clean_after_a_kill),
      cmocka_unit_test(different_keys_are_separate_sections),
      cmocka_unit_test(a_size_other_than_the_running_instances_is_rejected),
      cmocka_unit_test(a_corrupt_header_is_rejected),
      cmocka_unit_test(the_lock_excludes_other_processes_and_objects),
      cmocka_unit_test(a_killed_holder_gives_the_next_locker_ownerdead),
      cmocka_unit_test(mmf_instances_counts_a_held_instance),
      cmocka_unit_test(mmf_instances_rejects_bad_usage),
      cmocka_unit_test(a_section_file_of_another_user_is_refused),
      cmocka_unit_test(another_user_gets_a_section_of_its_own),
      cmocka_unit_test(every_failing_os_call_leaves_nothing_behind),
  };
  if (argc >= 4 && strcmp(argv[1], "--child") == 0) {
    const char *mode = argv[2], *key = argv[3];
    if (strcmp(mode, "share") == 0)
      return child_share(key);
    if (strcmp(mode, "join") == 0 && argc == 5)
      return child_join(key, argv[4]);
    if (strcmp(mode, "lockhold") == 0)
      return child_lockhold(key);
    if (strcmp(mode, "lockwait") == 0)
      return child_lockwait(key);
    if (strcmp(mode, "trylock") == 0)
      return child_trylock(key);
    if (strcmp(mode, "squat") == 0)
      return child_squat(key);
    if (strcmp(mode, "nobody-join") == 0)
      return child_nobody_join(key);
    return 100;
  }
  return cmocka_run_group_tests(tests, NULL, NULL);
}
