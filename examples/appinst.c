/* examples/appinst.c -- AppInst: how many instances of this program are
 * running? The classic sample keeps a counter in a shared data section
 * (#pragma data_seg + /SECTION:.shared,RWS), increments it at start and
 * decrements it at exit -- so an instance that is killed leaves it one too
 * high forever. mmf counts live instances instead (each holds a lock the OS
 * drops when it dies) and also gives every instance a shared block: here
 * the classic counter, kept for comparison, and the last greeting.
 *
 *   appinst [GREETING]
 *
 * Start it in several terminals; press Enter (or end input) to leave. Kill
 * one with kill -9 / Task Manager and start another: mmf's count is right,
 * the classic counter is not. */
#include <mmf.h>

#include <stdio.h>
#include <string.h>

/* What every instance shares. Another instance writes it: never trust a
 * length or an index read from it. */
struct shared {
  unsigned classic_count; /* the classic sample's counter */
  unsigned starts;        /* instances started since the block began */
  char greeting[64];      /* always NUL-terminated by its writer */
};

static void show(mmf_section *s, const struct shared *sh) {
  unsigned n = 0;
  char greeting[sizeof sh->greeting];
  if (mmf_section_instances(s, &n) != 0) {
    fprintf(stderr, "appinst: %s\n", mmf_last_error_message());
    return;
  }
  memcpy(greeting, sh->greeting, sizeof greeting);
  greeting[sizeof greeting - 1] = '\0';
  printf("instances running: %u (classic counter says %u; %u started "
         "since the first one)\nlast greeting: \"%s\"\n",
         n, sh->classic_count, sh->starts, greeting);
}

int main(int argc, char **argv) {
  mmf_section *s;
  struct shared *sh;
  char line[16];
  int rc;

  /* NULL key: every instance of this executable, and only of it. */
  if (mmf_section_open(&s, NULL, sizeof *sh, 0) != 0) {
    fprintf(stderr, "appinst: %s\n", mmf_last_error_message());
    return 1;
  }
  sh = mmf_section_data(s);

  /* Update the block under the section's lock. If an instance died while
   * holding it, the block may be half-written: this sample's repair is to
   * start the greeting over. */
  rc = mmf_section_lock(s);
  if (rc == MMF_EOWNERDEAD)
    sh->greeting[0] = '\0';
  else if (rc != 0) {
    fprintf(stderr, "appinst: %s\n", mmf_last_error_message());
    mmf_section_close(s);
    return 1;
  }
  sh->classic_count++;
  sh->starts++;
  if (argc > 1)
    snprintf(sh->greeting, sizeof sh->greeting, "%s", argv[1]);
  mmf_section_unlock(s);

  printf("%s instance (key %s)\n",
         mmf_section_first(s) ? "first" : "another", mmf_section_key(s));
  show(s, sh);
  printf("press Enter to leave\n");
  fflush(stdout);
  if (fgets(line, sizeof line, stdin) != NULL)
    show(s, sh); /* what it looks like now, other instances included */

  rc = mmf_section_lock(s);
  if (rc == 0 || rc == MMF_EOWNERDEAD) {
    if (sh->classic_count > 0)
      sh->classic_count--;
    mmf_section_unlock(s);
  }
  return mmf_section_close(s) == 0 ? 0 : 1;
}
