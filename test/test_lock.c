/* test_lock.c -- the process-shared robust lock in a file mapping shared
 * by this program and children (`test_lock --child MODE PATH [N]`, started
 * with th_spawn_self): mutual exclusion, a killed holder (MMF_EOWNERDEAD,
 * repair, consistent), release without repair (MMF_ENOTRECOVERABLE for
 * everyone), busy/timeout, misuse, and every OS call failing in turn. */
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
#include "internal.h" /* mmf__fault_* */
#include "mmf.h"

/* Layout of the shared file. */
#define FILE_LEN 4096
#define LOCK_OFF 0
#define COUNTER_OFF 128 /* a plain, non-atomic counter the lock protects */
#define FLAG_OFF 256    /* child -> parent */
#define GO_OFF 320      /* parent -> child */
#define DATA_OFF 512    /* "protected data" a repair fixes */
/* A wait on the other process (th_wait_word, TH_WAIT_MS) gives up after
 * 60 s (Linux) to 94 s (Windows, whose Sleep rounds 10 ms up to a 15.6 ms
 * tick): a child that died early fails the test then, not at ctest's 300 s
 * timeout. */

typedef struct shared {
  mmf_map *map;
  mmf_view *view;
  unsigned char *d;
} shared;

static mmf_lock *lock_of(shared *s) { return (mmf_lock *)(s->d + LOCK_OFF); }
static atomic_uint *word(shared *s, size_t off) { return th_word(s->d, off); }

static int attach(shared *s, const char *path) {
  if (mmf_map_open(&s->map, path, MMF_PROT_READWRITE, 0, 0) != 0)
    return -1;
  if (mmf_view_map(&s->view, s->map, 0, 0, MMF_ACCESS_WRITE) != 0)
    return -1;
  s->d = mmf_view_data(s->view);
  return 0;
}

static void detach(shared *s) {
  mmf_lock_detach(lock_of(s));
  mmf_view_unmap(s->view);
  mmf_map_close(s->map);
}

static int wait_word(shared *s, size_t off, unsigned want) {
  if (th_wait_word(word(s, off), want, TH_WAIT_MS) == 0)
    return 0;
  fprintf(stderr, "test_lock: gave up waiting for word %zu to be %u\n", off,
          want);
  return -1;
}

/* ---- children --------------------------------------------------------------*/

/* `count PATH N`: N increments of the shared counter under the lock. */
static int child_count(const char *path, long n) {
  shared s;
  if (attach(&s, path))
    return 1;
  atomic_store(word(&s, FLAG_OFF), 1);
  for (long i = 0; i < n; i++) {
    volatile uint64_t *ctr = (volatile uint64_t *)(s.d + COUNTER_OFF);
    uint64_t v;
    if (mmf_lock_acquire(lock_of(&s)) != 0)
      return 2;
    v = *ctr;
    if ((i & 7) == 0)
      th_yield(); /* widen the window a broken lock would show */
    *ctr = v + 1;
    if (mmf_lock_release(lock_of(&s)) != 0)
      return 3;
  }
  detach(&s);
  return 0;
}

/* `hold PATH`: acquire, scribble half of the protected data, say so, then
 * wait to be killed (or told to release: GO = 2). */
static int child_hold(const char *path) {
  shared s;
  int rc;
  if (attach(&s, path))
    return 1;
  rc = mmf_lock_acquire(lock_of(&s));
  if (rc != 0 && rc != MMF_EOWNERDEAD)
    return 2;
  memset(s.d + DATA_OFF, 0xEE, 32); /* a half-done update */
  atomic_store(word(&s, FLAG_OFF), 1);
  if (wait_word(&s, GO_OFF, 2) != 0)
    return 3;
  if (mmf_lock_release(lock_of(&s)) != 0)
    return 4;
  detach(&s);
  return 0;
}

/* `expect PATH CODE`: one acquire must give exactly CODE. */
static int child_expect(const char *path, long code) {
  shared s;
  int rc;
  if (attach(&s, path))
    return 1;
  rc = mmf_lock_acquire(lock_of(&s));
  if (rc == 0 || rc == MMF_EOWNERDEAD)
    mmf_lock_release(lock_of(&s));
  detach(&s);
  return rc == code ? 0 : 10;
}

/* ---- parent helpers ----------------------------------------------------------*/

static const char *make_shared(shared *s, const char *name) {
  const char *p = th_path(name);
  unsigned char zero[FILE_LEN] = {0};
  assert_int_equal(th_write_file(p, zero, sizeof zero), 0);
  assert_int_equal(attach(s, p), 0);
  TH_OK(mmf_lock_init(lock_of(s)));
  return p;
}

static intptr_t spawn(const char *mode, const char *path, const char *arg) {
  const char *args[] = {"--child", mode, path, arg, NULL};
  intptr_t child = th_spawn_self(args);
  assert_true(child > 0);
  return child;
}

/* ---- tests -------------------------------------------------------------------*/

static void parent_and_child_increment_exactly_under_the_lock(void **state) {
  shared s;
  const long n = 3000;
  const char *p = make_shared(&s, "count");
  volatile uint64_t *ctr = (volatile uint64_t *)(s.d + COUNTER_OFF);
  intptr_t child;
  (void)state;
  child = spawn("count", p, "3000");
  assert_int_equal(wait_word(&s, FLAG_OFF, 1), 0);
  for (long i = 0; i < n; i++) {
    uint64_t v;
    TH_OK(mmf_lock_acquire(lock_of(&s)));
    v = *ctr;
    if ((i & 7) == 0)
      th_yield();
    *ctr = v + 1;
    TH_OK(mmf_lock_release(lock_of(&s)));
  }
  assert_int_equal(th_wait_child(child), 0);
  assert_int_equal(*ctr, 2 * (uint64_t)n);
  detach(&s);
}

static void killed_holder_gives_ownerdead_then_repair_recovers(void **state) {
  shared s;
  const char *p = make_shared(&s, "dead");
  unsigned char good[32];
  intptr_t child;
  (void)state;
  memset(good, 0x11, sizeof good);
  memcpy(s.d + DATA_OFF, good, sizeof good);
  child = spawn("hold", p, NULL);
  assert_int_equal(wait_word(&s, FLAG_OFF, 1), 0);
  assert_int_equal(th_kill_child(child), 0);
  /* We hold it now, and are told the data may be half-updated. */
  TH_EXPECT_ERR(mmf_lock_acquire(lock_of(&s)), MMF_EOWNERDEAD,
                "mmf_lock_acquire");
  assert_memory_not_equal(s.d + DATA_OFF, good, sizeof good);
  memcpy(s.d + DATA_OFF, good, sizeof good); /* repair */
  TH_OK(mmf_lock_consistent(lock_of(&s)));
  TH_OK(mmf_lock_release(lock_of(&s)));
  /* Back to normal, here and in another process. */
  TH_OK(mmf_lock_acquire(lock_of(&s)));
  TH_EXPECT_ERR(mmf_lock_consistent(lock_of(&s)), MMF_EINVAL,
                "mmf_lock_consistent");
  TH_OK(mmf_lock_release(lock_of(&s)));
  assert_int_equal(th_wait_child(spawn("expect", p, "0")), 0);
  TH_OK(mmf_lock_try_acquire(lock_of(&s)));
  TH_OK(mmf_lock_release(lock_of(&s)));
  detach(&s);
}

static void release_without_consistent_is_not_recoverable_for_all(
    void **state) {
  shared s;
  const char *p = make_shared(&s, "norecover");
  char code[16];
  intptr_t child;
  (void)state;
  child = spawn("hold", p, NULL);
  assert_int_equal(wait_word(&s, FLAG_OFF, 1), 0);
  assert_int_equal(th_kill_child(child), 0);
  TH_EXPECT_ERR(mmf_lock_acquire(lock_of(&s)), MMF_EOWNERDEAD,
                "mmf_lock_acquire");
  TH_OK(mmf_lock_release(lock_of(&s))); /* no repair */
  TH_EXPECT_ERR(mmf_lock_acquire(lock_of(&s)), MMF_ENOTRECOVERABLE,
                "mmf_lock_acquire");
  TH_EXPECT_ERR(mmf_lock_try_acquire(lock_of(&s)), MMF_ENOTRECOVERABLE,
                "mmf_lock_try_acquire");
  snprintf(code, sizeof code, "%d", MMF_ENOTRECOVERABLE);
  assert_int_equal(th_wait_child(spawn("expect", p, code)), 0);
  detach(&s);
}

static void repairer_that_dies_too_passes_ownerdead_on(void **state) {
  shared s;
  const char *p = make_shared(&s, "twice");
  intptr_t child;
  (void)state;
  child = spawn("hold", p, NULL);
  assert_int_equal(wait_word(&s, FLAG_OFF, 1), 0);
  assert_int_equal(th_kill_child(child), 0);
  /* The next holder is told (it accepts MMF_EOWNERDEAD) and dies before
   * marking the lock consistent: the one after it is told again. */
  atomic_store(word(&s, FLAG_OFF), 0);
  child = spawn("hold", p, NULL);
  assert_int_equal(wait_word(&s, FLAG_OFF, 1), 0);
  assert_int_equal(th_kill_child(child), 0);
  TH_EXPECT_ERR(mmf_lock_acquire(lock_of(&s)), MMF_EOWNERDEAD,
                "mmf_lock_acquire");
  TH_OK(mmf_lock_consistent(lock_of(&s)));
  TH_OK(mmf_lock_release(lock_of(&s)));
  TH_OK(mmf_lock_acquire(lock_of(&s)));
  TH_OK(mmf_lock_release(lock_of(&s)));
  detach(&s);
}

static void busy_lock_gives_ebusy_and_etimedout(void **state) {
  shared s;
  const char *p = make_shared(&s, "busy");
  intptr_t child;
  (void)state;
  child = spawn("hold", p, NULL);
  assert_int_equal(wait_word(&s, FLAG_OFF, 1), 0);
  TH_EXPECT_ERR(mmf_lock_try_acquire(lock_of(&s)), MMF_EBUSY,
                "mmf_lock_try_acquire");
  TH_EXPECT_ERR(mmf_lock_acquire_timeout(lock_of(&s), 30), MMF_ETIMEDOUT,
                "mmf_lock_acquire_timeout");
  TH_EXPECT_ERR(mmf_lock_acquire_timeout(lock_of(&s), 0), MMF_EBUSY,
                "mmf_lock_acquire_timeout");
  TH_EXPECT_ERR(mmf_lock_release(lock_of(&s)), MMF_EPERM, "mmf_lock_release");
  atomic_store(word(&s, GO_OFF), 2);
  assert_int_equal(th_wait_child(child), 0);
  TH_OK(mmf_lock_acquire_timeout(lock_of(&s), 5000));
  TH_OK(mmf_lock_release(lock_of(&s)));
  detach(&s);
}

static void misuse_is_reported(void **state) {
  shared s;
  mmf_lock raw;
  (void)state;
  make_shared(&s, "misuse");
  memset(&raw, 0, sizeof raw);
  TH_EXPECT_ERR(mmf_lock_init(NULL), MMF_EINVAL, "mmf_lock_init");
  TH_EXPECT_ERR(mmf_lock_acquire(NULL), MMF_EINVAL, "mmf_lock_acquire");
  TH_EXPECT_ERR(mmf_lock_acquire(&raw), MMF_EINVAL, "mmf_lock_acquire");
  TH_EXPECT_ERR(mmf_lock_release(&raw), MMF_EINVAL, "mmf_lock_release");
  TH_EXPECT_ERR(mmf_lock_consistent(&raw), MMF_EINVAL, "mmf_lock_consistent");
  TH_EXPECT_ERR(mmf_lock_detach(NULL), MMF_EINVAL, "mmf_lock_detach");
  /* Not held: releasing is refused. Held: acquiring again is refused
   * rather than a hang (Linux) or a silent recursion (Windows). */
  TH_EXPECT_ERR(mmf_lock_release(lock_of(&s)), MMF_EPERM, "mmf_lock_release");
  TH_OK(mmf_lock_acquire(lock_of(&s)));
  TH_EXPECT_ERR(mmf_lock_acquire(lock_of(&s)), MMF_EBUSY, "mmf_lock_acquire");
  TH_EXPECT_ERR(mmf_lock_try_acquire(lock_of(&s)), MMF_EBUSY,
                "mmf_lock_try_acquire");
  TH_OK(mmf_lock_release(lock_of(&s)));
  TH_EXPECT_ERR(mmf_lock_release(lock_of(&s)), MMF_EPERM, "mmf_lock_release");
  detach(&s);
}

/* ---- fault injection ---------------------------------------------------------*/

static const int lock_codes[] = {MMF_EINVAL, MMF_ENOMEM, MMF_EACCES,
                                 MMF_EEXIST, MMF_EOS,    MMF_EPERM,
                                 MMF_EBADF,  MMF_EBUSY,  MMF_EIO, 0};

/* init, acquire, release, detach with the nth OS call failing. */
static int lock_cycle(mmf_lock *l) {
  int rc = mmf_lock_init(l);
  if (rc)
    return rc;
  rc = mmf_lock_acquire(l);
  if (rc) {
    mmf_lock_detach(l);
    return rc;
  }
  rc = mmf_lock_release(l);
  if (rc) {
    int saved = rc; /* the fault has fired: this release is real */
    assert_int_equal(mmf_lock_release(l), 0); /* still held: release it */
    mmf_lock_detach(l);
    return saved;
  }
  return mmf_lock_detach(l);
}

static mmf_lock *fault_lock;
static int fault_run(void) {
  memset(fault_lock, 0, sizeof *fault_lock); /* a fresh lock each time */
  return lock_cycle(fault_lock);
}
static void fault_undo(void) {} /* a whole cycle leaves nothing behind */

static void every_os_call_of_a_lock_cycle_fails_cleanly(void **state) {
  shared s;
  unsigned faults;
  (void)state;
  make_shared(&s, "fault");
  mmf_lock_detach(lock_of(&s));
  fault_lock = lock_of(&s);
  faults = th_fault_loop("mmf_lock_", "mmf_lock_", lock_codes, fault_run,
                         fault_undo);
  assert_true(faults >= 3);
  detach(&s);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(parent_and_child_increment_exactly_under_the_lock),
      cmocka_unit_test(killed_holder_gives_ownerdead_then_repair_recovers),
      cmocka_unit_test(release_without_consistent_is_not_recoverable_for_all),
      cmocka_unit_test(repairer_that_dies_too_passes_ownerdead_on),
      cmocka_unit_test(busy_lock_gives_ebusy_and_etimedout),
      cmocka_unit_test(misuse_is_reported),
      cmocka_unit_test(every_os_call_of_a_lock_cycle_fails_cleanly),
  };
  if (argc >= 4 && strcmp(argv[1], "--child") == 0) {
    long n = argc >= 5 ? strtol(argv[4], NULL, 10) : 0;
    if (strcmp(argv[2], "count") == 0)
      return child_count(argv[3], n);
    if (strcmp(argv[2], "hold") == 0)
      return child_hold(argv[3]);
    if (strcmp(argv[2], "expect") == 0)
      return child_expect(argv[3], n);
    return 100;
  }
  return cmocka_run_group_tests(tests, NULL, NULL);
}
