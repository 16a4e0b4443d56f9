/* linkedlist.c -- a linked list kept in a mapped file and walked by another
 * process: the seed's sample of pointers in shared memory, done both ways.
 *
 *   linkedlist build FILE [COUNT]        records linked by offset pointers
 *   linkedlist build-fixed FILE [COUNT]  records linked by raw pointers, valid
 *                                        in a view at the builder's address
 *   linkedlist walk FILE                 map the file and print the records
 *
 * Offset pointers (mmf_relptr) hold the distance from the link to its
 * target, so the walk works wherever this process maps the file. Raw
 * pointers need the view at the builder's address: the file's header keeps
 * it and the walk maps there with mmf_view_map_at(), which fails cleanly
 * when that address is taken in this process. The file is input from
 * elsewhere: every link is checked to stay inside the view. */
#include <mmf.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAGIC "mmflist"
enum { KIND_RELATIVE = 1, KIND_FIXED = 2 };

struct header {
  char magic[8];
  uint32_t kind;
  uint32_t count;
  uint64_t base;      /* KIND_FIXED: where the builder's view was */
  mmf_relptr first;   /* KIND_RELATIVE */
  uint64_t raw_first; /* KIND_FIXED: a pointer stored as an integer */
};

struct record {
  mmf_relptr next;
  uint64_t raw_next;
  uint32_t id;
  uint32_t pad;
  char name[48];
};

static int fail(const char *what) {
  fprintf(stderr, "linkedlist: %s: %s\n", what, mmf_last_error_message());
  return 1;
}

/* Records are laid out out of order (0, n-1, 1, n-2, ...) so the links
 * jump back and forth through the file. */
static struct record *slot(struct header *h, uint32_t i, uint32_t n) {
  uint32_t s = (i % 2) ? n - 1 - i / 2 : i / 2;
  return (struct record *)(h + 1) + s;
}

static int build(const char *path, uint32_t n, int fixed) {
  size_t size = sizeof(struct header) + (size_t)n * sizeof(struct record);
  struct record *prev = NULL;
  struct header *h;
  mmf_map *map;
  mmf_view *view;

  if (mmf_map_open(&map, path, MMF_PROT_READWRITE,
                   MMF_OPEN_CREATE | MMF_OPEN_TRUNCATE, size) != 0)
    return fail(path);
  if (mmf_view_map(&view, map, 0, 0, MMF_ACCESS_WRITE) != 0) {
    mmf_map_close(map);
    return fail(path);
  }
  mmf_map_close(map);
  h = mmf_view_data(view);
  memcpy(h->magic, MAGIC, sizeof h->magic);
  h->kind = fixed ? KIND_FIXED : KIND_RELATIVE;
  h->count = n;
  h->base = (uint64_t)(uintptr_t)h;
  mmf_relptr_set(&h->first, NULL);
  for (uint32_t i = 0; i < n; i++) {
    struct record *r = slot(h, i, n);
    r->id = i;
    snprintf(r->name, sizeof r->name, "record %u of %u", (unsigned)i,
             (unsigned)n);
    mmf_relptr_set(&r->next, NULL);
    if (!prev) {
      mmf_relptr_set(&h->first, r);
      h->raw_first = (uint64_t)(uintptr_t)r;
    } else {
      mmf_relptr_set(&prev->next, r);
      prev->raw_next = (uint64_t)(uintptr_t)r;
    }
    prev = r;
  }
  if (mmf_view_flush(view, 0, 0, MMF_FLUSH_SYNC) != 0) {
    mmf_view_unmap(view);
    return fail(path);
  }
  printf("built %u records linked by %s pointers in %s (view at %p)\n",
         (unsigned)n, fixed ? "raw" : "offset", path, (void *)h);
  return mmf_view_unmap(view) == 0 ? 0 : fail(path);
}

/* The next record, or NULL at the end; *bad is set when a link leaves the
 * view (a corrupt or hostile file). */
static struct record *next_of(const void *base, size_t size, uint32_t kind,
                              const mmf_relptr *rel, uint64_t raw, int *bad) {
  uintptr_t b = (uintptr_t)base;
  if (kind == KIND_RELATIVE) {
    struct record *r;
    if (mmf_relptr_is_null(rel))
      return NULL;
    r = MMF_RELPTR_GET(rel, struct record, base, size);
    *bad = r == NULL;
    return r;
  }
  if (raw == 0)
    return NULL;
  if (raw < b || size < sizeof(struct record) ||
      raw - b > size - sizeof(struct record) ||
      raw % _Alignof(struct record) != 0) {
    *bad = 1;
    return NULL;
  }
  return (struct record *)(uintptr_t)raw;
}

static int walk(const char *path) {
  struct header head;
  const struct header *h;
  const struct record *r;
  mmf_map *map;
  mmf_view *view, *other = NULL;
  size_t size;
  uint32_t seen = 0;
  int bad = 0, rc;

  if (mmf_map_open(&map, path, MMF_PROT_READ, 0, 0) != 0)
    return fail(path);
  if (mmf_map_read(map, 0, &head, sizeof head, &size) != 0 ||
      size != sizeof head || memcmp(head.magic, MAGIC, 8) != 0 ||
      (head.kind != KIND_RELATIVE && head.kind != KIND_FIXED)) {
    fprintf(stderr, "linkedlist: %s: not a list file\n", path);
    mmf_map_close(map);
    return 1;
  }
  if (head.kind == KIND_FIXED) {
    rc = mmf_view_map_at(&view, map, (void *)(uintptr_t)head.base, 0, 0,
                         MMF_ACCESS_READ);
    if (rc == MMF_EADDRINUSE)
      fprintf(stderr,
              "linkedlist: the list's address %p is taken in this "
              "process; rebuild it with offset pointers "
              "(linkedlist build)\n",
              (void *)(uintptr_t)head.base);
  } else {
    /* Take some address space first, so the list does not land where the
     * builder had it and the offset pointers show their worth. */
    rc = mmf_view_map(&other, map, 0, 1, MMF_ACCESS_READ);
    if (rc == 0)
      rc = mmf_view_map(&view, map, 0, 0, MMF_ACCESS_READ);
  }
  mmf_map_close(map);
  if (rc != 0) {
    mmf_view_unmap(other);
    return fail(path);
  }
  h = mmf_view_data(view);
  size = mmf_view_size(view);
  /* Trust only the header read and checked above, not the live copy. */
  printf("%s: %u records linked by %s pointers, view at %p (built at %p)\n",
         path, (unsigned)head.count,
         head.kind == KIND_RELATIVE ? "offset" : "raw", (void *)h,
         (void *)(uintptr_t)head.base);
  for (r = next_of(h, size, head.kind, &h->first, h->raw_first, &bad);
       r && !bad;
       r = next_of(h, size, head.kind, &r->next, r->raw_next, &bad)) {
    if (++seen > head.count) { /* a cycle */
      bad = 1;
      break;
    }
    printf("%6u  %.*s\n", (unsigned)r->id, (int)sizeof r->name, r->name);
  }
  if (!bad && seen != head.count)
    bad = 1;
  if (bad)
    fprintf(stderr, "linkedlist: %s: corrupt list after %u records\n", path,
            (unsigned)seen);
  mmf_view_unmap(view);
  mmf_view_unmap(other);
  return bad;
}

int main(int argc, char **argv) {
  unsigned long n = 10;
  if (mmf_args_utf8(&argc, &argv) != 0)
    return fail("command line");
  if (argc == 4)
    n = strtoul(argv[3], NULL, 10);
  if (argc >= 3 && argc <= 4 && n > 0 && n <= 1000000) {
    if (strcmp(argv[1], "build") == 0)
      return build(argv[2], (uint32_t)n, 0);
    if (strcmp(argv[1], "build-fixed") == 0)
      return build(argv[2], (uint32_t)n, 1);
    if (strcmp(argv[1], "walk") == 0 && argc == 3)
      return walk(argv[2]);
  }
  fprintf(stderr, "usage: linkedlist build FILE [COUNT]\n"
                  "       linkedlist build-fixed FILE [COUNT]\n"
                  "       linkedlist walk FILE\n");
  return 2;
}
