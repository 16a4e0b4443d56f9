/* fault.c -- fault injection over the OS backends (SQLite's test_syscall is
 * the model): the armed Nth OS call fails, so every error path is tested.
 * The countdown is the process's, not a thread's: an OS call that mmf makes
 * on its own background thread for the caller (a window walk's read-ahead)
 * counts like one made on the caller's thread. Tests arm it while no other
 * thread of theirs calls mmf. */
#include "internal.h"

#include <limits.h>

static atomic_ulong countdown; /* 0 = disarmed */
/* The countdown while the call that fired records itself: no other call
 * fires then, and mmf__fault_arm waits until the record is complete, so a
 * fault that fired on another thread is never missed. */
#define RECORDING ULONG_MAX
static atomic_int fired;
/* Written by the thread whose call fired, before `fired` is set. */
static int fired_optional; /* it fired inside a best-effort scope */
static const char *fired_call;

int mmf__fault_check(const char *call) {
  unsigned long n = atomic_load(&countdown);
  do {
    if (n == 0 || n == RECORDING)
      return 0;
  } while (!atomic_compare_exchange_weak(&countdown, &n,
                                         n == 1 ? RECORDING : n - 1));
  if (n != 1)
    return 0;
  fired_optional = mmf__best_effort_active();
  fired_call = call;
  atomic_store(&fired, 1);
  atomic_store(&countdown, 0);
  return 1;
}

int mmf__fault_arm(unsigned long nth) {
  unsigned long n = atomic_load(&countdown);
  int was;
  /* Disarm first (no call fires after this), once a call that fired has
   * finished recording itself. */
  for (;;) {
    if (n == RECORDING)
      n = atomic_load(&countdown);
    else if (atomic_compare_exchange_weak(&countdown, &n, 0))
      break;
  }
  was = atomic_exchange(&fired, 0);
  fired_optional = 0;
  fired_call = "";
  /* RECORDING is not a count: the Nth call past ULONG_MAX - 1 never comes. */
  atomic_store(&countdown, nth == RECORDING ? RECORDING - 1 : nth);
  return was;
}

int mmf__fault_fired(void) { return atomic_load(&fired); }

int mmf__fault_fired_optional(void) {
  return atomic_load(&fired) && fired_optional;
}

const char *mmf__fault_call(void) {
  return atomic_load(&fired) && fired_call ? fired_call : "";
}
