/* test_pointers.c -- pointers in shared memory: fixed-address views
 * (mmf_view_map_at) and offset pointers (mmf_relptr_*), and a linked list
 * built by one process and walked by another (this program run again,
 * `test_pointers --child MODE ...`, started with th_spawn_self) and by
 * examples/linkedlist. Shared data lives in files under th_tmpdir() mapped
 * read-write: shared between processes exactly like memory-backed
 * mappings. Hand-over tokens are in test_token.c. */
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
#define LIST_FILE_LEN (4 * GRAN)
#define NODES 1000

/* ---- the shared linked list ------------------------------------------------
 * A header at offset 0, then NODES records in slots of the file, placed in
 * a scrambled order so the links jump back and forth. Each record carries
 * both an offset pointer (for the relative walk) and a raw pointer (for the
 * walk through a view at the builder's address). */

struct list_header {
  char magic[8];
  uint64_t base; /* address of the builder's view (raw pointers) */
  uint32_t count;
  uint32_t pad;
  mmf_relptr first;
  uint64_t raw_first; /* a pointer stored as an integer */
};

struct node {
  mmf_relptr next;
  uint64_t raw_next;
  uint32_t id;
  uint32_t check;
  char text[40];
};

static size_t slot_of(uint32_t i) { return ((size_t)i * 7919) % NODES; }

static struct node *node_at(unsigned char *base, size_t slot) {
  return (struct node *)(base + sizeof(struct list_header) +
                         slot * sizeof(struct node));
}

static void node_text(uint32_t id, char *buf, size_t n) {
  memset(buf, 0, n);
  snprintf(buf, n, "record %u of %u", (unsigned)id, (unsigned)NODES);
}

/* Build the list in a view whose data starts at `base`. */
static void build_list(unsigned char *base) {
  struct list_header *h = (struct list_header *)base;
  struct node *prev = NULL;
  memset(base, 0, sizeof *h + NODES * sizeof(struct node));
  memcpy(h->magic, "mmflist", 8);
  h->base = (uint64_t)(uintptr_t)base;
  h->count = NODES;
  mmf_relptr_set(&h->first, NULL);
  for (uint32_t i = 0; i < NODES; i++) {
    struct node *n = node_at(base, slot_of(i));
    n->id = i;
    n->check = i * 2654435761u;
    node_text(i, n->text, sizeof n->text);
    mmf_relptr_set(&n->next, NULL);
    n->raw_next = 0;
    if (prev) {
      mmf_relptr_set(&prev->next, n);
      prev->raw_next = (uint64_t)(uintptr_t)n;
    } else {
      mmf_relptr_set(&h->first, n);
      h->raw_first = (uint64_t)(uintptr_t)n;
    }
    prev = n;
  }
}

/* 0 when record `n` is record number `i` intact. */
static int check_node(const struct node *n, uint32_t i) {
  char want[40];
  node_text(i, want, sizeof want);
  if (n->id != i || n->check != i * 2654435761u)
    return -1;
  return memcmp(n->text, want, sizeof want) == 0 ? 0 : -1;
}

/* Walk the offset pointers of the list in [base, base+size): the number of
 * intact records in order, or -1 when a link leaves the view or a record
 * is wrong. Bounded: a corrupt list may be a cycle. */
static long walk_relative(unsigned char *base, size_t size) {
  struct list_header *h = (struct list_header *)base;
  const mmf_relptr *link = &h->first;
  long count = 0;
  if (size < sizeof *h || memcmp(h->magic, "mmflist", 8) != 0)
    return -1;
  while (!mmf_relptr_is_null(link)) {
    struct node *n = MMF_RELPTR_GET(link, struct node, base, size);
    if (!n || count >= NODES || check_node(n, (uint32_t)count) != 0)
      return -1;
    count++;
    link = &n->next;
  }
  return count;
}

/* Walk the raw pointers of a list whose view is at its builder's address:
 * every pointer is checked to lie inside the view before it is used. */
static long walk_raw(unsigned char *base, size_t size) {
  struct list_header *h = (struct list_header *)base;
  uintptr_t b = (uintptr_t)base, p;
  long count = 0;
  if (h->base != (uint64_t)b)
    return -1;
  for (p = (uintptr_t)h->raw_first; p != 0;) {
    struct node *n;
    if (p < b || p - b > size - sizeof *n || p % _Alignof(struct node) != 0 ||
        count >= NODES)
      return -1;
    n = (struct node *)p;
    if (check_node(n, (uint32_t)count) != 0)
      return -1;
    count++;
    p = (uintptr_t)n->raw_next;
  }
  return count;
}

static const char *make_list_file(const char *name) {
  const char *p = th_path(name);
  unsigned char *zero = calloc(1, LIST_FILE_LEN);
  assert_non_null(zero);
  assert_int_equal(th_write_file(p, zero, LIST_FILE_LEN), 0);
  free(zero);
  return p;
}

/* ---- the children's side ---- */

/* `--child walk-rel PATH PARENT_ADDR`: map the list at an address other
 * than the parent's and walk its offset pointers. */
static int child_walk_relative(const char *path, const char *parent_addr) {
  uintptr_t theirs = (uintptr_t)strtoull(parent_addr, NULL, 16);
  mmf_map *m;
  mmf_view *dummy, *v, *again = NULL;
  long n;
  if (mmf_map_open(&m, path, MMF_PROT_READ, 0, 0) != 0)
    return 2;
  /* Something first, so this view does not land where the parent's did. */
  if (mmf_view_map(&dummy, m, 0, GRAN, MMF_ACCESS_READ) != 0 ||
      mmf_view_map(&v, m, 0, 0, MMF_ACCESS_READ) != 0)
    return 3;
  if ((uintptr_t)mmf_view_data(v) == theirs) {
    /* Still the same address: a second view cannot be there too. */
    if (mmf_view_map(&again, m, 0, 0, MMF_ACCESS_READ) != 0)
      return 4;
    mmf_view_unmap(v);
    v = again;
  }
  if ((uintptr_t)mmf_view_data(v) == theirs)
    return 5;
  n = walk_relative(mmf_view_data(v), mmf_view_size(v));
  mmf_view_unmap(v);
  mmf_view_unmap(dummy);
  mmf_map_close(m);
  return n == NODES ? 0 : 6;
}

/* `--child walk-fixed PATH`: map the list at the address its header names
 * and follow the raw pointers. */
static int child_walk_fixed(const char *path) {
  struct list_header h;
  mmf_map *m;
  mmf_view *v;
  long n;
  int rc;
  if (mmf_map_open(&m, path, MMF_PROT_READ, 0, 0) != 0)
    return 2;
  if (mmf_map_read(m, 0, &h, sizeof h, NULL) != 0)
    return 3;
  rc = mmf_view_map_at(&v, m, (void *)(uintptr_t)h.base, 0, 0, MMF_ACCESS_READ);
  if (rc == MMF_EADDRINUSE) {
    fprintf(stderr, "child: %s\n", mmf_last_error_message());
    return 10;
  }
  if (rc != 0 || (uintptr_t)mmf_view_data(v) != (uintptr_t)h.base)
    return 4;
  n = walk_raw(mmf_view_data(v), mmf_view_size(v));
  mmf_view_unmap(v);
  mmf_map_close(m);
  return n == NODES ? 0 : 5;
}

static intptr_t spawn(const char *const *args) {
  intptr_t child = th_spawn_self(args);
  assert_true(child > 0);
  return child;
}

/* ---- fixed-address views ------------------------------------------------- */

static const char *make_pattern_file(const char *name, uint32_t seed) {
  const char *p = th_path(name);
  assert_int_equal(th_make_file(p, LIST_FILE_LEN, seed), 0);
  return p;
}

/* An address where a view of `len` bytes can go: map one, note where, and
 * unmap it. */
static unsigned char *free_address(mmf_map *m, size_t len) {
  mmf_view *v;
  unsigned char *a;
  TH_OK(mmf_view_map(&v, m, 0, len, MMF_ACCESS_READ));
  a = mmf_view_data(v);
  TH_OK(mmf_view_unmap(v));
  return a;
}

static void view_map_at_lands_exactly_at_the_address(void **state) {
  const char *p = make_pattern_file("at", 7);
  size_t n;
  unsigned char *want = th_read_file(p, &n);
  size_t gran = mmf_granularity();
  unsigned char *a;
  mmf_map *m;
  mmf_view *v;
  (void)state;
  assert_non_null(want);
  assert_int_equal(n, LIST_FILE_LEN);
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READWRITE, 0, 0));

  /* Offset 0 at a granularity-aligned address. */
  a = free_address(m, 2 * GRAN);
  TH_OK(mmf_view_map_at(&v, m, a, 0, 2 * GRAN, MMF_ACCESS_WRITE));
  assert_ptr_equal(mmf_view_data(v), a);
  assert_int_equal(mmf_view_size(v), 2 * GRAN);
  assert_memory_equal(a, want, 2 * GRAN);
  a[5] = 0x5a; /* a WRITE view reaches the file */
  TH_OK(mmf_view_unmap(v));
  want[5] = 0x5a;

  /* An unaligned offset: the address carries the same remainder. */
  a = free_address(m, 3 * GRAN);
  TH_OK(mmf_view_map_at(&v, m, a + gran + 100, gran + 100, 5000,
                        MMF_ACCESS_READ));
  assert_ptr_equal(mmf_view_data(v), a + gran + 100);
  assert_int_equal(mmf_view_offset(v), gran + 100);
  assert_memory_equal(mmf_view_data(v), want + gran + 100, 5000);
  TH_OK(mmf_view_unmap(v));
  TH_OK(mmf_map_close(m));
  assert_true(th_file_equals(p, want, LIST_FILE_LEN));
  free(want);
}

static void
view_map_at_a_taken_address_is_addrinuse_and_keeps_what_is_there(void **state) {
  const char *p = make_pattern_file("clash", 8);
  size_t n;
  unsigned char *want = th_read_file(p, &n), *d;
  char addr[32];
  mmf_map *m;
  mmf_view *old, *v = (mmf_view *)&v;
  th_res before;
  (void)state;
  assert_non_null(want);
  assert_int_equal(n, LIST_FILE_LEN);
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READWRITE, 0, 0));
  TH_OK(mmf_view_map(&old, m, 0, 2 * GRAN, MMF_ACCESS_WRITE));
  d = mmf_view_data(old);
  before = th_res_now();

  /* Exactly on it. */
  TH_EXPECT_ERR(mmf_view_map_at(&v, m, d, 0, GRAN, MMF_ACCESS_WRITE),
                MMF_EADDRINUSE, "mmf_view_map_at");
  assert_null(v);
  snprintf(addr, sizeof addr, "%p", (void *)d);
  if (!strstr(mmf_last_error_message(), addr))
    print_error("message \"%s\" does not name %s\n", mmf_last_error_message(),
                addr);
  assert_non_null(strstr(mmf_last_error_message(), addr));
  /* Overlapping its second half from below, with a different file range. */
  TH_EXPECT_ERR(
      mmf_view_map_at(&v, m, d - GRAN, GRAN, 2 * GRAN, MMF_ACCESS_READ),
      MMF_EADDRINUSE, "mmf_view_map_at");
  /* Inside it. */
  TH_EXPECT_ERR(mmf_view_map_at(&v, m, d + GRAN, 0, GRAN, MMF_ACCESS_COPY),
                MMF_EADDRINUSE, "mmf_view_map_at");
  TH_ASSERT_RES_SAME(before);

  /* The existing view is intact: same bytes, still readable and writable,
   * and still the file's. */
  assert_memory_equal(d, want, 2 * GRAN);
  d[GRAN + 1] ^= 0xff;
  want[GRAN + 1] ^= 0xff;
  TH_OK(mmf_view_unmap(old));
  TH_OK(mmf_map_close(m));
  assert_true(th_file_equals(p, want, LIST_FILE_LEN));
  free(want);
}

static void view_map_at_a_misaligned_address_is_einval(void **state) {
  const char *p = make_pattern_file("misaligned", 9);
  size_t gran = mmf_granularity();
  unsigned char *a;
  mmf_map *m;
  mmf_view *v = (mmf_view *)&v;
  th_res before;
  (void)state;
  TH_OK(mmf_map_open(&m, p, MMF_PROT_READ, 0, 0));
  a = free_address(m, 2 * GRAN);
  before = th_res_now();
  /* Offset 0 needs an aligned address. */
  TH_EXPECT_ERR(mmf_view_map_at(&v, m, a + 1, 0, GRAN, MMF_ACCESS_READ),
                MMF_EINVAL, "mmf_view_map_at");
  assert_null(v);
  assert_non_null(strstr(mmf_last_error_message(), "granularity"));
  /* Offset 100 needs remainder 100, not 0 or 101. */
  TH_EXPECT_ERR(mmf_view_map_at(&v, m, a, 100, GRAN, MMF_ACCESS_READ),
                MMF_EINVAL, "mmf_view_map_at");
  TH_EXPECT_ERR(mmf_view_map_at(&v, m, a + 101, 100, GRAN, MMF_ACCESS_READ),
                MMF_EINVAL, "mmf_view_map_at");
  /* On Windows a page-aligned address is not enough. */
  if (gran > mmf_page_size())
    TH_EXPECT_ERR(
        mmf_view_map_at(&v, m, a + mmf_page_size(), 0, GRAN, MMF_ACCESS_READ),
        MMF_EINVAL, "mmf_view_map_at");
  TH_EXPECT_ERR(mmf_view_map_at(&v, m, NULL, 0, GRAN, MMF_ACCESS_READ),
                MMF_EINVAL, "mmf_view_map_at");
  /* A mapping that would start at address 0. */
  TH_EXPECT_ERR(mmf_view_map_at(&v, m, (void *)(uintptr_t)100, 100, GRAN,
                                MMF_ACCESS_READ),
                MMF_EINVAL, "mmf_view_map_at");
  /* The usual view checks come first. */
  TH_EXPECT_ERR(mmf_view_map_at(&v, m, a, 0, GRAN, MMF_ACCESS_WRITE), MMF_EPROT,
                "mmf_view_map_at");
  TH_EXPECT_ERR(mmf_view_map_at(&v, m, a, LIST_FILE_LEN, 1, MMF_ACCESS_READ),
                MMF_ERANGE, "mmf_view_map_at");
  TH_ASSERT_RES_SAME(before);
  /* And the right remainder works there. */
  TH_OK(mmf_view_map_at(&v, m, a + 100, 100, GRAN, MMF_ACCESS_READ));
  assert_ptr_equal(mmf_view_data(v), a + 100);
  TH_OK(mmf_view_unmap(v));
  TH_OK(mmf_map_close(m));
}

/* ---- offset pointers ------------------------------------------------------
 */

static void relptr_null_self_and_round_trip(void **state) {
  struct {
    mmf_relptr a, b;
    char bytes[64];
  } s;
  mmf_relptr zero;
  (void)state;
  mmf_relptr_set(&s.a, NULL);
  assert_true(mmf_relptr_is_null(&s.a));
  assert_int_equal(s.a.off, MMF_RELPTR_NULL);
  assert_null(mmf_relptr_get(&s.a));
  /* Offset 0 is a pointer to the field itself, not NULL. */
  mmf_relptr_set(&s.a, &s.a);
  assert_int_equal(s.a.off, 0);
  assert_false(mmf_relptr_is_null(&s.a));
  assert_ptr_equal(mmf_relptr_get(&s.a), &s.a);
  memset(&zero, 0, sizeof zero);
  assert_false(mmf_relptr_is_null(&zero));
  assert_ptr_equal(mmf_relptr_get(&zero), &zero);
  /* Forward and backward. */
  mmf_relptr_set(&s.a, &s.bytes[40]);
  assert_ptr_equal(mmf_relptr_get(&s.a), &s.bytes[40]);
  mmf_relptr_set(&s.b, &s.a);
  assert_true(s.b.off < 0);
  assert_ptr_equal(mmf_relptr_get(&s.b), &s.a);
}

static void relptr_survives_a_move_of_the_whole_block(void **state) {
  unsigned char *one = malloc(4096), *two = malloc(4096);
  (void)state;
  assert_non_null(one);
  assert_non_null(two);
  memset(one, 0, 4096);
  mmf_relptr_set((mmf_relptr *)(one + 8), one + 2000);
  mmf_relptr_set((mmf_relptr *)(one + 3000), one + 16);
  memcpy(two, one, 4096);
  assert_ptr_equal(mmf_relptr_get((mmf_relptr *)(two + 8)), two + 2000);
  assert_ptr_equal(mmf_relptr_get((mmf_relptr *)(two + 3000)), two + 16);
  free(one);
  free(two);
}

static void
relptr_get_checked_rejects_targets_outside_the_region(void **state) {
  /* A region of 256 bytes in the middle of a buffer; the field at 16. */
  _Alignas(16) unsigned char buf[512] = {0}; /* gcc -O0 thinks the field
                                                * is read before set */
  unsigned char *base = buf + 128;
  mmf_relptr *p = (mmf_relptr *)(base + 16);
  const size_t size = 256;
  (void)state;
  mmf_relptr_set(p, base + 64);
  assert_ptr_equal(mmf_relptr_get_checked(p, base, size, 8, 8), base + 64);
  assert_ptr_equal(MMF_RELPTR_GET(p, uint64_t, base, size), base + 64);
  /* The whole object must fit: the last 8 bytes fit, one more does not. */
  mmf_relptr_set(p, base + size - 8);
  assert_non_null(mmf_relptr_get_checked(p, base, size, 8, 1));
  assert_null(mmf_relptr_get_checked(p, base, size, 9, 1));
  mmf_relptr_set(p, base + size);
  assert_null(mmf_relptr_get_checked(p, base, size, 1, 1));
  assert_null(mmf_relptr_get_checked(p, base, size, 0, 1) == base + size
                  ? NULL
                  : (void *)1);
  /* Before the region; an object larger than the region. */
  mmf_relptr_set(p, base - 1);
  assert_null(mmf_relptr_get_checked(p, base, size, 1, 1));
  mmf_relptr_set(p, base);
  assert_non_null(mmf_relptr_get_checked(p, base, size, size, 1));
  assert_null(mmf_relptr_get_checked(p, base, size, size + 1, 1));
  /* Misaligned for the type. */
  mmf_relptr_set(p, base + 66);
  assert_null(MMF_RELPTR_GET(p, uint64_t, base, size));
  assert_non_null(mmf_relptr_get_checked(p, base, size, 8, 2));
  /* NULL is NULL; garbage offsets never wrap into the region. */
  mmf_relptr_set(p, NULL);
  assert_null(mmf_relptr_get_checked(p, base, size, 1, 1));
  p->off = INT64_MAX;
  assert_null(mmf_relptr_get_checked(p, base, size, 1, 1));
  p->off = INT64_MIN;
  assert_null(mmf_relptr_get_checked(p, base, size, 1, 1));
  p->off = -(int64_t)(uintptr_t)p; /* address 0 */
  assert_null(mmf_relptr_get_checked(p, base, size, 1, 1));
}

static void walk_rejects_a_corrupt_list(void **state) {
  size_t len = sizeof(struct list_header) + NODES * sizeof(struct node);
  unsigned char *mem = malloc(len);
  struct node *mid;
  (void)state;
  assert_non_null(mem);
  build_list(mem);
  assert_int_equal(walk_relative(mem, len), NODES);
  /* A link that points past the region. */
  mid = node_at(mem, slot_of(500));
  mmf_relptr_set(&mid->next, mem + len);
  assert_int_equal(walk_relative(mem, len), -1);
  /* A cycle: bounded, not an endless walk. */
  mmf_relptr_set(&mid->next, node_at(mem, slot_of(0)));
  assert_int_equal(walk_relative(mem, len), -1);
  free(mem);
}

/* ---- the list across processes ---- */

/* A new list file `name`, mapped writable whole, the list built in it. */
static const char *map_new_list(const char *name, mmf_map **m, mmf_view **v) {
  const char *p = make_list_file(name);
  TH_OK(mmf_map_open(m, p, MMF_PROT_READWRITE, 0, 0));
  TH_OK(mmf_view_map(v, *m, 0, 0, MMF_ACCESS_WRITE));
  build_list(mmf_view_data(*v));
  return p;
}

static void child_walks_relative_list_at_a_different_address(void **state) {
  const char *p;
  char addr[32];
  mmf_map *m;
  mmf_view *v;
  (void)state;
  p = map_new_list("list-rel", &m, &v);
  assert_int_equal(walk_relative(mmf_view_data(v), mmf_view_size(v)), NODES);
  snprintf(addr, sizeof addr, "%llx",
           (unsigned long long)(uintptr_t)mmf_view_data(v));
  {
    const char *args[] = {"--child", "walk-rel", p, addr, NULL};
    assert_int_equal(th_wait_child(spawn(args)), 0);
  }
  TH_OK(mmf_view_unmap(v));
  TH_OK(mmf_map_close(m));
}

static void
child_walks_raw_list_through_a_view_at_the_same_address(void **state) {
  const char *p;
  mmf_map *m;
  mmf_view *v;
  (void)state;
  p = map_new_list("list-fixed", &m, &v);
  assert_int_equal(walk_raw(mmf_view_data(v), mmf_view_size(v)), NODES);
  /* Nothing is flushed: the child sees the same pages. */
  {
    const char *args[] = {"--child", "walk-fixed", p, NULL};
    assert_int_equal(th_wait_child(spawn(args)), 0);
  }
  TH_OK(mmf_view_unmap(v));
  TH_OK(mmf_map_close(m));
}

/* ---- fault injection --------------------------------------------------------
 * Every OS call of each operation fails in turn (test_fault.c's method):
 * a documented code, a message naming the call, nothing left open or
 * mapped, and the operation works once no fault fires. */

static const int map_at_codes[] = {MMF_EINVAL, MMF_ERANGE,     MMF_EOVERFLOW,
                                   MMF_EPROT,  MMF_ENOMEM,     MMF_EACCES,
                                   MMF_EPERM,  MMF_EOS,        MMF_ENOSPC,
                                   MMF_EIO,    MMF_EADDRINUSE, 0};

static struct {
  char path[1024];
  mmf_map *map;
  mmf_view *view;
  unsigned char *addr;
} g;


static int run_map_at(void) {
  g.view = (mmf_view *)&g;
  int rc =
      mmf_view_map_at(&g.view, g.map, g.addr + 4097, 4097, 3 * GRAN,
                      MMF_ACCESS_WRITE | MMF_VIEW_POPULATE | MMF_VIEW_LOCK);
  if (rc)
    assert_null(g.view);
  return rc;
}

static void undo_map_at(void) {
  assert_ptr_equal(mmf_view_data(g.view), g.addr + 4097);
  TH_OK(mmf_view_unmap(g.view));
}

static void view_map_at_fails_cleanly_under_fault_injection(void **state) {
  unsigned faults;
  (void)state;
  snprintf(g.path, sizeof g.path, "%s", make_list_file("fault"));
  TH_OK(mmf_map_open(&g.map, g.path, MMF_PROT_READWRITE, 0, 0));
  g.addr = free_address(g.map, 4 * GRAN);
  /* mmap(FIXED_NOREPLACE), madvise(POPULATE_WRITE), mlock / MapViewOfFileEx,
   * PrefetchVirtualMemory (a request: its failure is absorbed),
   * VirtualLock */
  faults = th_fault_loop("mmf_view_map_at", g.path, map_at_codes, run_map_at,
                      undo_map_at);
  print_message("mmf_view_map_at: %u faults\n", faults);
  assert_true(faults >= 2);
  TH_OK(mmf_map_close(g.map));
}

/* ---- examples/linkedlist.c ------------------------------------------------
 */

/* examples/linkedlist beside tools/mmf ($MMF_CLI) in the build tree. */
static const char *example_path(void) {
  static char path[4096];
  const char *cli = getenv("MMF_CLI"), *tools = NULL;
  for (const char *q = cli ? strstr(cli, "tools") : NULL; q;
       q = strstr(q + 1, "tools"))
    tools = q;
  if (!tools || (size_t)(tools - cli) + 32 > sizeof path) {
    print_message("MMF_CLI is not set: skipping the example\n");
    skip();
    return "";
  }
  snprintf(path, sizeof path, "%.*sexamples/linkedlist%s", (int)(tools - cli),
           cli, th_is_windows() ? ".exe" : "");
  return path;
}

/* Run the example; its exit status, stdout in *out (malloc'ed). */
static int run_example(const char *mode, const char *file, const char *count,
                       char **out) {
  const char *argv[] = {example_path(), mode, file, count, NULL};
  const char *o = th_path("example.out"), *e = th_path("example.err");
  th_run_result res;
  size_t n;
  assert_int_equal(th_run(argv, o, e, NULL, NULL, &res), 0);
  *out = (char *)th_read_file(o, &n);
  assert_non_null(*out);
  *out = realloc(*out, n + 1);
  assert_non_null(*out);
  (*out)[n] = '\0';
  if (res.status != 0) {
    char *err = (char *)th_read_file(e, &n);
    print_message("linkedlist %s: status %d, stderr: %.*s\n", mode, res.status,
                  (int)n, err ? err : "");
    free(err);
  }
  return res.status;
}

static void
linkedlist_example_walks_lists_built_by_another_process(void **state) {
  char rel[1024], fix[1024], *out;
  mmf_map *m;
  mmf_view *v;
  (void)state;
  /* th_path's buffers rotate: keep copies */
  snprintf(rel, sizeof rel, "%s", th_path("example-rel.bin"));
  snprintf(fix, sizeof fix, "%s", th_path("example-fixed.bin"));
  assert_int_equal(run_example("build", rel, "10", &out), 0);
  free(out);
  assert_int_equal(run_example("walk", rel, NULL, &out), 0);
  assert_non_null(strstr(out, "10 records linked by offset pointers"));
  assert_non_null(strstr(out, "     0  record 0 of 10"));
  assert_non_null(strstr(out, "     9  record 9 of 10"));
  free(out);

  assert_int_equal(run_example("build-fixed", fix, "7", &out), 0);
  free(out);
  assert_int_equal(run_example("walk", fix, NULL, &out), 0);
  assert_non_null(strstr(out, "7 records linked by raw pointers"));
  assert_non_null(strstr(out, "     6  record 6 of 7"));
  free(out);

  /* A link out of the file: refused, not followed. */
  TH_OK(mmf_map_open(&m, rel, MMF_PROT_READWRITE, 0, 0));
  TH_OK(mmf_view_map(&v, m, 0, 0, MMF_ACCESS_WRITE));
  {
    /* The header's link to the first record is at byte 24 (magic, kind,
     * count, base); the record's own link is its first field. */
    unsigned char *d = mmf_view_data(v);
    mmf_relptr *first = (mmf_relptr *)(d + 24);
    mmf_relptr *link =
        mmf_relptr_get_checked(first, d, mmf_view_size(v), sizeof *link, 8);
    assert_non_null(link);
    link->off = 1 << 20;
  }
  TH_OK(mmf_view_unmap(v));
  TH_OK(mmf_map_close(m));
  assert_int_equal(run_example("walk", rel, NULL, &out), 1);
  assert_non_null(strstr(out, "     0  record 0 of 10"));
  assert_null(strstr(out, "record 1 of 10"));
  free(out);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(view_map_at_lands_exactly_at_the_address),
      cmocka_unit_test(
          view_map_at_a_taken_address_is_addrinuse_and_keeps_what_is_there),
      cmocka_unit_test(view_map_at_a_misaligned_address_is_einval),
      cmocka_unit_test(relptr_null_self_and_round_trip),
      cmocka_unit_test(relptr_survives_a_move_of_the_whole_block),
      cmocka_unit_test(relptr_get_checked_rejects_targets_outside_the_region),
      cmocka_unit_test(walk_rejects_a_corrupt_list),
      cmocka_unit_test(child_walks_relative_list_at_a_different_address),
      cmocka_unit_test(child_walks_raw_list_through_a_view_at_the_same_address),
      cmocka_unit_test(view_map_at_fails_cleanly_under_fault_injection),
      cmocka_unit_test(linkedlist_example_walks_lists_built_by_another_process),
  };
  if (argc >= 3 && strcmp(argv[1], "--child") == 0) {
    if (argc == 5 && strcmp(argv[2], "walk-rel") == 0)
      return child_walk_relative(argv[3], argv[4]);
    if (argc == 4 && strcmp(argv[2], "walk-fixed") == 0)
      return child_walk_fixed(argv[3]);
    return 100;
  }
  return cmocka_run_group_tests(tests, NULL, NULL);
}
