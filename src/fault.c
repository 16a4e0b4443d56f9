/* fault.c -- fault injection over the OS backends (SQLite's test_syscall is
 * the model): the armed Nth OS call fails, so every error path is tested.
 * The countdown is the process's, not a thread's: an OS call that mmf makes
 * on its own background thread for the caller (a window walk's read-ahead)
 * counts like one made on the caller's thread. Tests arm it while no other
 * thread of theirs calls mmf. */
#include "internal.h"

static atomic_ulong countdown; /* 0 = disarmed */
static atomic_int fired;
/* Written by the thread whose call fired, before `fired` is set. */
static int fired_optional; /* it fired inside a best-effort scope */
static const char *fired_call;

int mmf__fault_check(const char *call) {
  unsigned long n = atomic_load(&countdown);
  do {
    if (n == 0)
      return 0;
  } while (!atomic_compare_exchange_weak(&countdown, &n, n - 1));
  if (n != 1)
    return 0;
  fired_optional = mmf__best_effort_active();
  fired_call = call;
  atomic_store(&fired, 1);
  return 1;
}

int mmf__fault_arm(unsigned long nth) {
  int was;
  atomic_store(&countdown, 0);
  was = atomic_exchange(&fired, 0);
  fired_optional = 0;
  fired_call = "";
  atomic_store(&countdown, nth);
  return was;
}

int mmf__fault_fired(void) { return atomic_load(&fired); }

int mmf__fault_fired_optional(void) {
  return atomic_load(&fired) && fired_optional;
}

const char *mmf__fault_call(void) {
  return atomic_load(&fired) && fired_call ? fired_call : "";
}
