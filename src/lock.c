/* lock.c -- the process-shared robust lock: a magic word that tells an
 * initialised lock from stray memory, and the OS's robust mutex
 * (mmf__os_mutex_*) in the rest of the struct. */
#include "internal.h"

#include <string.h>

#define LOCK_MAGIC 0x6b636f6c2d666d6dull /* "mmf-lock" */

struct lock_layout {
  uint64_t magic;
  uint64_t os[MMF__OS_MUTEX_BYTES / 8];
};
_Static_assert(sizeof(struct lock_layout) <= sizeof(mmf_lock),
               "the OS mutex does not fit in an mmf_lock");
_Static_assert(MMF__OS_MUTEX_BYTES % 8 == 0, "mutex area not 8-aligned");

/* The OS part of `lock`, or NULL (error recorded) when it is not an
 * initialised lock. */
static void *os_part(mmf_lock *lock, const char *api) {
  struct lock_layout *l = (struct lock_layout *)lock;
  if (!lock) {
    mmf__error(MMF_EINVAL, "%s: NULL lock", api);
    return NULL;
  }
  if (l->magic != LOCK_MAGIC) {
    mmf__error(MMF_EINVAL, "%s: not an initialised mmf_lock", api);
    return NULL;
  }
  return l->os;
}

int mmf_lock_init(mmf_lock *lock) {
  struct lock_layout *l = (struct lock_layout *)lock;
  int rc;
  if (!lock)
    return mmf__error(MMF_EINVAL, "mmf_lock_init: NULL lock");
  memset(lock, 0, sizeof *lock);
  rc = mmf__os_mutex_init(l->os);
  if (rc)
    return mmf__error_in("mmf_lock_init", NULL, rc);
  l->magic = LOCK_MAGIC;
  return 0;
}

static int acquire(mmf_lock *lock, int64_t timeout_ms, const char *api) {
  void *os = os_part(lock, api);
  int rc;
  if (!os)
    return MMF_EINVAL;
  rc = mmf__os_mutex_acquire(os, timeout_ms);
  return rc ? mmf__error_in(api, NULL, rc) : 0;
}

int mmf_lock_acquire(mmf_lock *lock) {
  return acquire(lock, -1, "mmf_lock_acquire");
}

int mmf_lock_try_acquire(mmf_lock *lock) {
  return acquire(lock, 0, "mmf_lock_try_acquire");
}

int mmf_lock_acquire_timeout(mmf_lock *lock, uint32_t timeout_ms) {
  return acquire(lock, (int64_t)timeout_ms, "mmf_lock_acquire_timeout");
}

int mmf_lock_consistent(mmf_lock *lock) {
  void *os = os_part(lock, "mmf_lock_consistent");
  int rc;
  if (!os)
    return MMF_EINVAL;
  rc = mmf__os_mutex_consistent(os);
  return rc ? mmf__error_in("mmf_lock_consistent", NULL, rc) : 0;
}

int mmf_lock_release(mmf_lock *lock) {
  void *os = os_part(lock, "mmf_lock_release");
  int rc;
  if (!os)
    return MMF_EINVAL;
  rc = mmf__os_mutex_release(os);
  return rc ? mmf__error_in("mmf_lock_release", NULL, rc) : 0;
}

int mmf_lock_detach(mmf_lock *lock) {
  void *os = os_part(lock, "mmf_lock_detach");
  int rc;
  if (!os)
    return MMF_EINVAL;
  rc = mmf__os_mutex_detach(os);
  return rc ? mmf__error_in("mmf_lock_detach", NULL, rc) : 0;
}
