/* test_multiproc.c -- views of one file in two processes share pages: a
 * child (this program run again: `test_multiproc --child MODE PATH`) and
 * the parent see each other's stores live, without flushing. The child is
 * started with th_spawn_self(), which becomes CreateProcess on Windows. */
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
#include "mmf.h"

/* Layout of the shared file. */
#define FILE_LEN (3 * 4096 + 5)
#define CHILD_FLAG 0     /* the child sets 1 when its data is in place */
#define PARENT_FLAG 64   /* the parent sets 2 when its reply is in place */
#define CHILD_DATA 4097  /* unaligned on purpose */
#define CHILD_LEN 3000
#define PARENT_DATA 8000
#define PARENT_LEN 1000

/* ---- the child's side ----------------------------------------------------*/

/* `--child live PATH`: write through an own view at an unaligned offset,
 * signal, wait for the parent's reply and check it through the same view. */
static int child_live(const char *path) {
  unsigned char want[PARENT_LEN], mine[CHILD_LEN];
  mmf_map *m;
  mmf_view *v, *whole;
  unsigned char *d;
  int rc = 0;
  if (mmf_map_open(&m, path, MMF_PROT_READWRITE, 0, 0) != 0)
    return 1;
  if (mmf_view_map(&v, m, CHILD_DATA, CHILD_LEN, MMF_ACCESS_WRITE) != 0 ||
      mmf_view_map(&whole, m, 0, 0, MMF_ACCESS_WRITE) != 0)
    return 2;
  mmf_map_close(m);
  th_fill(mine, sizeof mine, 77);
  memcpy(mmf_view_data(v), mine, sizeof mine);
  d = mmf_view_data(whole);
  atomic_store_explicit(th_word(d, CHILD_FLAG), 1, memory_order_release);
  if (th_wait_word_at(d, PARENT_FLAG, 2) != 0)
    rc = 3;
  th_fill(want, sizeof want, 78);
  if (rc == 0 && memcmp(d + PARENT_DATA, want, sizeof want) != 0)
    rc = 4;
  if (mmf_view_unmap(v) != 0 || mmf_view_unmap(whole) != 0)
    rc = 5;
  return rc;
}

/* `--child copy PATH`: scribble over a COPY view, then exit. */
static int child_copy(const char *path) {
  mmf_map *m;
  mmf_view *v;
  if (mmf_map_open(&m, path, MMF_PROT_READ, 0, 0) != 0)
    return 1;
  if (mmf_view_map(&v, m, 1, 0, MMF_ACCESS_COPY) != 0)
    return 2;
  memset(mmf_view_data(v), 0xCC, mmf_view_size(v));
  if (mmf_view_flush(v, 0, 0, MMF_FLUSH_DURABLE) != 0)
    return 3;
  mmf_view_unmap(v);
  mmf_map_close(m);
  return 0;
}

/* `--child mapwrite PATH`: write with mmf_map_write, no view at all. */
static int child_mapwrite(const char *path) {
  unsigned char mine[CHILD_LEN];
  mmf_map *m;
  th_fill(mine, sizeof mine, 79);
  if (mmf_map_open(&m, path, MMF_PROT_READWRITE, 0, 0) != 0)
    return 1;
  if (mmf_map_write(m, CHILD_DATA, mine, sizeof mine) != 0)
    return 2;
  return mmf_map_close(m) == 0 ? 0 : 3;
}

/* ---- the parent's side ---------------------------------------------------*/

static const char *make_shared_file(const char *name) {
  const char *p = th_path(name);
  unsigned char zero[FILE_LEN] = {0};
  assert_int_equal(th_write_file(p, zero, sizeof zero), 0);
  return p;
}

static intptr_t spawn(const char *mode, const char *path) {
  const char *args[] = {"--child", mode, path, NULL};
  intptr_t child = th_spawn_self(args);
  assert_true(child > 0);
  return child;
}

static void child_view_stores_are_seen_live_by_parent_view(void **state) {
  const char *p = make_shared_file("live");
  unsigned char want[CHILD_LEN], reply[PARENT_LEN];
  mmf_map *m;
  mmf_view *v;
  unsigned char *d;
  intptr_t child;
  (void)state;
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READWRITE, 0, 0));
  TH_OK(mmf_view_map(&v, m, 0, 0, MMF_ACCESS_WRITE));
  d = mmf_view_data(v);
  child = spawn("live", p);
  /* The child's stores appear in this process's view while it runs. */
  assert_int_equal(th_wait_word_at(d, CHILD_FLAG, 1), 0);
  th_fill(want, sizeof want, 77);
  assert_memory_equal(d + CHILD_DATA, want, sizeof want);
  /* And ours in the child's view. */
  th_fill(reply, sizeof reply, 78);
  memcpy(d + PARENT_DATA, reply, sizeof reply);
  atomic_store_explicit(th_word(d, PARENT_FLAG), 2, memory_order_release);
  assert_int_equal(th_wait_child(child), 0);
  TH_OK(mmf_view_unmap(v));
  TH_OK(mmf_map_close(m));
  {
    size_t n;
    unsigned char *f = th_read_file(p, &n);
    assert_non_null(f);
    assert_int_equal(n, FILE_LEN);
    assert_memory_equal(f + CHILD_DATA, want, sizeof want);
    assert_memory_equal(f + PARENT_DATA, reply, sizeof reply);
    free(f);
  }
}

static void child_copy_view_stores_stay_in_the_child(void **state) {
  const char *p = make_shared_file("copy");
  unsigned char zero[FILE_LEN] = {0};
  mmf_map *m;
  mmf_view *v;
  (void)state;
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READ, 0, 0));
  TH_OK(mmf_view_map(&v, m, 0, 0, MMF_ACCESS_READ));
  assert_int_equal(th_wait_child(spawn("copy", p)), 0);
  assert_memory_equal(mmf_view_data(v), zero, FILE_LEN);
  TH_OK(mmf_view_unmap(v));
  TH_OK(mmf_map_close(m));
  assert_true(th_file_equals(p, zero, FILE_LEN));
}

static void child_map_write_is_seen_by_parent_view(void **state) {
  const char *p = make_shared_file("mapwrite");
  unsigned char want[CHILD_LEN];
  mmf_map *m;
  mmf_view *v;
  (void)state;
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READ, 0, 0));
  TH_OK(mmf_view_map(&v, m, CHILD_DATA, CHILD_LEN, MMF_ACCESS_READ));
  assert_int_equal(th_wait_child(spawn("mapwrite", p)), 0);
  th_fill(want, sizeof want, 79);
  assert_memory_equal(mmf_view_data(v), want, sizeof want);
  TH_OK(mmf_view_unmap(v));
  TH_OK(mmf_map_close(m));
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(child_view_stores_are_seen_live_by_parent_view),
      cmocka_unit_test(child_copy_view_stores_stay_in_the_child),
      cmocka_unit_test(child_map_write_is_seen_by_parent_view),
  };
  if (argc == 4 && strcmp(argv[1], "--child") == 0) {
    if (strcmp(argv[2], "live") == 0)
      return child_live(argv[3]);
    if (strcmp(argv[2], "copy") == 0)
      return child_copy(argv[3]);
    if (strcmp(argv[2], "mapwrite") == 0)
      return child_mapwrite(argv[3]);
    return 100;
  }
  return cmocka_run_group_tests(tests, NULL, NULL);
}
