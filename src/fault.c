/* fault.c -- fault injection over the OS backends (SQLite's test_syscall is
 * the model): the armed Nth OS call fails, so every error path is tested. */
#include "internal.h"

static _Thread_local struct {
  unsigned long countdown; /* 0 = disarmed */
  int fired;
  int optional;           /* it fired inside a best-effort scope */
  const char *call;
} fault;

int mmf__fault_check(const char *call) {
  if (fault.countdown == 0 || --fault.countdown != 0)
    return 0;
  fault.fired = 1;
  fault.optional = mmf__best_effort_active();
  fault.call = call;
  return 1;
}

void mmf__fault_arm(unsigned long nth) {
  fault.countdown = nth;
  fault.fired = 0;
  fault.optional = 0;
  fault.call = "";
}

int mmf__fault_fired(void) { return fault.fired; }

int mmf__fault_fired_optional(void) { return fault.fired && fault.optional; }

const char *mmf__fault_call(void) { return fault.call ? fault.call : ""; }
