/* view.c -- views: map any byte range of a mapping object (aligning to the
 * allocation granularity internally), flush, advise, lock, unmap. */
#include "internal.h"

#include <stdlib.h>

#define ACCESS_KIND (MMF_ACCESS_READ | MMF_ACCESS_WRITE | MMF_ACCESS_COPY)
#define ACCESS_ALL                                                             \
  (ACCESS_KIND | MMF_ACCESS_EXEC | MMF_VIEW_POPULATE | MMF_VIEW_LOCK |         \
   MMF_VIEW_HUGE | MMF_VIEW_SEQUENTIAL | MMF_VIEW_RANDOM | MMF_VIEW_WILLNEED)

/* Check `access` against the mapping; on success *os_prot is what to map. */
int mmf__view_access(const mmf_map *m, unsigned access, unsigned *os_prot) {
  unsigned kind = access & ACCESS_KIND;
  if (access & ~(unsigned)ACCESS_ALL)
    return mmf__error(MMF_EINVAL, "unknown access bits 0x%x",
                      access & ~(unsigned)ACCESS_ALL);
  if (kind != MMF_ACCESS_READ && kind != MMF_ACCESS_WRITE &&
      kind != MMF_ACCESS_COPY)
    return mmf__error(MMF_EINVAL,
                      "access needs exactly one of READ, WRITE or COPY");
  if ((access & MMF_VIEW_SEQUENTIAL) && (access & MMF_VIEW_RANDOM))
    return mmf__error(MMF_EINVAL, "SEQUENTIAL and RANDOM together");
  if (kind == MMF_ACCESS_WRITE && !(m->os_prot & MMF__OS_PROT_WRITE))
    return mmf__error(MMF_EPROT,
                      "a WRITE view needs a MMF_PROT_READWRITE mapping");
  if ((access & MMF_ACCESS_EXEC) && !(m->os_prot & MMF__OS_PROT_EXEC))
    return mmf__error(MMF_EPROT,
                      "an EXEC view needs a mapping opened with MMF_PROT_EXEC");
  *os_prot = kind == MMF_ACCESS_WRITE  ? MMF__OS_PROT_WRITE
             : kind == MMF_ACCESS_COPY ? MMF__OS_PROT_COPY
                                       : MMF__OS_PROT_READ;
  if (access & MMF_ACCESS_EXEC)
    *os_prot |= MMF__OS_PROT_EXEC;
  return 0;
}

/* Apply the map-time options. Advice is advisory and huge pages a request,
 * so only a refused LOCK fails the view; the others are best effort (their
 * failures must not stay in the record of a call that succeeded). */
static int view_options(mmf_view *v, unsigned access) {
  mmf__best_effort_begin();
  if (access & MMF_VIEW_HUGE)
    (void)mmf__os_huge(v->base, v->base_len);
  if (access & MMF_VIEW_SEQUENTIAL)
    (void)mmf__os_advise(v->base, v->base_len, MMF_ADVICE_SEQUENTIAL);
  if (access & MMF_VIEW_RANDOM)
    (void)mmf__os_advise(v->base, v->base_len, MMF_ADVICE_RANDOM);
  if (access & MMF_VIEW_WILLNEED)
    (void)mmf__os_advise(v->base, v->base_len, MMF_ADVICE_WILLNEED);
  mmf__best_effort_end();
  if (access & MMF_VIEW_LOCK)
    return mmf__os_lock(v->base, v->base_len);
  return 0;
}

/* A view's data can start at `at` only where the OS mapping, which begins
 * `delta` = offset mod granularity bytes earlier, starts on a granule: `at`
 * must be congruent to the offset modulo the granularity (and not so low
 * that the mapping would start at address 0). */
static int view_at_check(void *at, uint64_t offset, size_t delta,
                         size_t gran) {
  uintptr_t a = (uintptr_t)at;
  if (a % gran != delta)
    return mmf__error(MMF_EINVAL,
                      "address %p cannot hold offset %llu: it must be "
                      "congruent to the offset modulo the allocation "
                      "granularity %zu (address mod %zu must be %zu, not "
                      "%zu)",
                      at, (unsigned long long)offset, gran, gran, delta,
                      (size_t)(a % gran));
  if (a == delta)
    return mmf__error(MMF_EINVAL, "address %p would put the mapping at "
                                  "address 0", at);
  return 0;
}

/* Map a view anywhere (at == NULL) or with its data exactly at `at`. */
static int view_map(const char *api, mmf_view **out, mmf_map *map, void *at,
                    uint64_t offset, size_t length, unsigned access) {
  size_t gran = mmf_granularity();
  unsigned os_prot = 0;
  uint64_t len64 = length, aligned;
  size_t delta;
  mmf_view *v;
  int rc;

  if (out)
    *out = NULL;
  if (!out || !map)
    return mmf__error(MMF_EINVAL, "%s: NULL %s", api, out ? "map" : "out");
  rc = mmf__view_access(map, access, &os_prot);
  if (rc)
    return mmf__error_in(api, map->path, rc);
  if (offset >= map->size)
    return mmf__error_in(
        api, map->path,
        mmf__error(MMF_ERANGE, "offset %llu is at or past the end (%llu bytes)",
                   (unsigned long long)offset,
                   (unsigned long long)map->size));
  if (len64 == 0)
    len64 = map->size - offset;
  rc = mmf__check_range(offset, len64, map->size);
  if (rc)
    return mmf__error_in(api, map->path, rc);
  aligned = offset - offset % gran;
  delta = (size_t)(offset - aligned);
  if (len64 > SIZE_MAX - delta)
    return mmf__error_in(api, map->path,
                         mmf__error(MMF_ENOMEM, "view larger than the address "
                                                "space"));

  if (at) {
    rc = view_at_check(at, offset, delta, gran);
    if (rc)
      return mmf__error_in(api, map->path, rc);
  }

  v = calloc(1, sizeof *v);
  if (!v)
    return mmf__error(MMF_ENOMEM, "%s \"%s\": out of memory", api, map->path);
  v->base_len = delta + (size_t)len64;
  rc = mmf__os_map(&map->section, aligned, v->base_len, os_prot,
                   (access & MMF_VIEW_POPULATE) ? MMF__OS_MAP_POPULATE : 0,
                   at ? (unsigned char *)at - delta : NULL, &v->base);
  if (rc)
    goto out_free;
  rc = view_options(v, access);
  if (rc)
    goto out_unmap;
  v->map = map;
  v->data = (unsigned char *)v->base + delta;
  v->len = (size_t)len64;
  v->offset = offset;
  v->access = access;
  mmf__map_ref(map);
  *out = v;
  return 0;

out_unmap:
  mmf__os_unmap(v->base, v->base_len);
out_free:
  free(v);
  return mmf__error_in(api, map->path, rc);
}

int mmf_view_map(mmf_view **out, mmf_map *map, uint64_t offset, size_t length,
                 unsigned access) {
  return view_map("mmf_view_map", out, map, NULL, offset, length, access);
}

int mmf_view_map_at(mmf_view **out, mmf_map *map, void *addr, uint64_t offset,
                    size_t length, unsigned access) {
  if (out)
    *out = NULL;
  if (!addr)
    return mmf__error(MMF_EINVAL, "mmf_view_map_at: NULL address (use "
                                  "mmf_view_map to map anywhere)");
  return view_map("mmf_view_map_at", out, map, addr, offset, length, access);
}

void *mmf_view_data(const mmf_view *view) { return view ? view->data : NULL; }
size_t mmf_view_size(const mmf_view *view) { return view ? view->len : 0; }
uint64_t mmf_view_offset(const mmf_view *view) {
  return view ? view->offset : 0;
}

/* Turn [off, off+len) of the view (len 0 = to the end) into a page-aligned
 * address range: the pages that touch it, or with `inner` only the pages
 * wholly inside it (for advice that discards, so bytes outside the range
 * are never lost). */
static int view_span(const mmf_view *v, size_t off, size_t len, int inner,
                     void **addr, size_t *alen) {
  size_t page = mmf_page_size();
  uintptr_t start, end;
  int rc;
  if (len == 0) {
    if (off > v->len)
      return mmf__check_range(off, 0, v->len);
    len = v->len - off;
  }
  rc = mmf__check_range(off, len, v->len);
  if (rc)
    return rc;
  start = (uintptr_t)(v->data + off);
  end = start + len;
  if (inner) {
    start = (start + page - 1) / page * page;
    end -= end % page;
    /* The view's last page is whole for our purposes when the range runs to
     * the end of the view: the mapping covers it. */
    if (off + len == v->len)
      end = (uintptr_t)v->data + v->len;
    if (end < start)
      end = start;
  } else {
    start -= start % page;
  }
  *addr = (void *)start;
  *alen = end - start;
  return 0;
}

/* A WRITE or COPY view: populated writable. */
static int view_writable(const mmf_view *v) {
  return (v->access & (MMF_ACCESS_WRITE | MMF_ACCESS_COPY)) != 0;
}

int mmf_view_advise(mmf_view *view, size_t off, size_t len, int advice) {
  void *addr = NULL;
  size_t alen = 0;
  int rc;
  if (!view)
    return mmf__error(MMF_EINVAL, "mmf_view_advise: NULL view");
  if (advice < MMF_ADVICE_NORMAL || advice > MMF_ADVICE_POPULATE)
    return mmf__error(MMF_EINVAL, "mmf_view_advise: unknown advice %d",
                      advice);
  rc = view_span(view, off, len, advice == MMF_ADVICE_DONTNEED, &addr,
                 &alen);
  if (!rc && alen)
    rc = advice == MMF_ADVICE_POPULATE
             ? mmf__os_populate(addr, alen, view_writable(view))
             : mmf__os_advise(addr, alen, advice);
  return rc ? mmf__error_in("mmf_view_advise", view->map->path, rc) : 0;
}

int mmf_view_flush(mmf_view *view, size_t off, size_t len, int mode) {
  static const char api[] = "mmf_view_flush";
  void *addr = NULL;
  size_t alen = 0;
  int rc, through;
  if (!view)
    return mmf__error(MMF_EINVAL, "%s: NULL view", api);
  if (mode < MMF_FLUSH_ASYNC || mode > MMF_FLUSH_DURABLE)
    return mmf__error(MMF_EINVAL, "%s: unknown mode %d", api, mode);
  rc = view_span(view, off, len, 0, &addr, &alen);
  if (rc)
    return mmf__error_in(api, view->map->path, rc);
  /* Only a WRITE view has anything of the file's to write back. */
  if ((view->access & (MMF_ACCESS_READ | MMF_ACCESS_WRITE | MMF_ACCESS_COPY)) !=
      MMF_ACCESS_WRITE)
    return 0;
  through = (view->map->flags & MMF_OPEN_WRITE_THROUGH) != 0;
  if (alen)
    rc = mmf__os_flush(addr, alen, mode != MMF_FLUSH_ASYNC || through);
  /* (memory-backed mappings have no device; on Windows, no file at all:
   * nothing to sync, where mmf_map_sync says there is no file) */
  if (!rc && (mode == MMF_FLUSH_DURABLE || through) &&
      view->map->file != MMF_OS_FILE_INVALID)
    rc = mmf__os_file_sync(view->map->file);
  return rc ? mmf__error_in(api, view->map->path, rc) : 0;
}

static int view_lock(const char *api, mmf_view *view, size_t off, size_t len,
                     int lock) {
  void *addr = NULL;
  size_t alen = 0;
  int rc;
  if (!view)
    return mmf__error(MMF_EINVAL, "%s: NULL view", api);
  rc = view_span(view, off, len, 0, &addr, &alen);
  if (!rc && alen)
    rc = lock ? mmf__os_lock(addr, alen) : mmf__os_unlock(addr, alen);
  return rc ? mmf__error_in(api, view->map->path, rc) : 0;
}

int mmf_view_lock(mmf_view *view, size_t off, size_t len) {
  return view_lock("mmf_view_lock", view, off, len, 1);
}

int mmf_view_unlock(mmf_view *view, size_t off, size_t len) {
  return view_lock("mmf_view_unlock", view, off, len, 0);
}

int mmf_view_unmap(mmf_view *view) {
  mmf_map *map;
  int rc, rc2;
  if (!view)
    return 0;
  map = view->map;
  rc = mmf__os_unmap(view->base, view->base_len);
  if (rc)
    mmf__error_in("mmf_view_unmap", map->path, rc);
  free(view);
  rc2 = mmf__map_unref(map, "mmf_view_unmap");
  return rc ? rc : rc2;
}
