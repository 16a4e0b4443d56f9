/* each.c -- mmf_window_each: one window walk per worker over contiguous
 * shares of a range, on threads of their own, so that copying or faulting
 * the file and the caller's work on it run on several cores at once. */
#include "internal.h"

#include <stdlib.h>

struct each {
  mmf_window_fn fn;
  void *ctx;
  atomic_int stop; /* set by the first share that ends early */
};

struct share {
  struct each *e;
  unsigned worker;
  mmf_window *win;       /* opened by the caller, closed by the walker */
  mmf_os_thread *thread; /* NULL: walked on the calling thread */
  int rc;                /* 0, fn's value, or the walk's MMF_E* code */
  int by_fn;             /* rc is fn's value */
  /* The thread's record when the share ended early: the walk's failure,
   * or what fn left (carried over only when it names fn's value). */
  struct mmf__error_rec err;
};

static void share_walk(void *arg) {
  struct share *s = arg;
  struct each *e = s->e;
  void *data;
  size_t size;
  uint64_t off;
  int rc = 0;

  while (!atomic_load_explicit(&e->stop, memory_order_relaxed)) {
    rc = mmf_window_next(s->win, &data, &size, &off);
    if (rc <= 0)
      break;
    rc = e->fn(e->ctx, s->worker, data, size, off);
    if (rc) {
      s->by_fn = 1;
      break;
    }
  }
  if (rc) { /* the others stop now, not once this walk is closed */
    atomic_store(&e->stop, 1);
    mmf__error_save(&s->err); /* before closing, which may fail too */
  }
  {
    int rc2 = mmf_window_close(s->win);
    if (!rc && rc2) {
      rc = rc2;
      atomic_store(&e->stop, 1);
      mmf__error_save(&s->err);
    }
  }
  s->rc = rc;
}

/* How many shares: see mmf_window_each in mmf.h. */
unsigned mmf_window_each_workers(uint64_t len, unsigned workers) {
  uint64_t most;
  if (workers == 0) {
    most = len / MMF_WINDOW_EACH_MIN_SHARE;
    if (most <= 1) /* one share whatever the CPUs: do not count them */
      return 1;
    workers = mmf__os_cpu_count();
  } else {
    most = len / MMF__MAP_GRID; /* each share then spans >= 1 MiB of cells */
  }
  if (workers > MMF_WINDOW_EACH_MAX)
    workers = MMF_WINDOW_EACH_MAX;
  if (most < workers)
    workers = (unsigned)most;
  return workers ? workers : 1;
}

/* Where share k starts (k = n: the range's end): the point of AUTO's 2 MiB
 * grid (MMF__MAP_GRID; off it, a share edge would send a cell on each side
 * through the read buffer) nearest k/n of the range. With n at most one per
 * 2 MiB of the range, points k/n apart by 2 MiB or more round to distinct
 * grid points strictly inside it: no share overlaps another, and none is
 * empty. */
static uint64_t share_edge(uint64_t start, uint64_t end, unsigned k,
                           unsigned n) {
  uint64_t len = end - start, at;
  if (k == 0 || k == n)
    return k == 0 ? start : end;
  at = start + len / n * k + len % n * k / n;
  at = (at + MMF__MAP_GRID / 2) / MMF__MAP_GRID * MMF__MAP_GRID;
  return at;
}

int mmf_window_each(mmf_map *map, uint64_t start, uint64_t end,
                    size_t window_size, unsigned access, unsigned flags,
                    unsigned workers, mmf_window_fn fn, void *ctx) {
  static const char api[] = "mmf_window_each";
  struct each e;
  struct share *sh;
  unsigned n = 1, k;
  int rc = 0;

  if (!map || !fn)
    return mmf__error(MMF_EINVAL, "%s: NULL %s", api, map ? "fn" : "map");
  if (flags & MMF_WINDOW_BACKWARD)
    return mmf__error(MMF_EINVAL, "%s \"%s\": MMF_WINDOW_BACKWARD: the "
                      "workers' order is not defined", api, map->path);
  if (end == 0)
    end = map->size;
  if (start < end && end <= map->size)
    n = mmf_window_each_workers(end - start, workers);
  sh = calloc(n, sizeof *sh);
  if (!sh)
    return mmf__error(MMF_ENOMEM, "%s \"%s\": out of memory", api,
                      map->path);
  atomic_init(&e.stop, 0);
  e.fn = fn;
  e.ctx = ctx;

  /* Open every walk here, so that bad arguments (a bad range goes to the
   * one walk, whose open names it) and a lack of memory are reported
   * before any thread runs. */
  for (k = 0; k < n && !rc; k++) {
    sh[k].e = &e;
    sh[k].worker = k;
    rc = mmf_window_open(&sh[k].win, map, share_edge(start, end, k, n),
                         share_edge(start, end, k + 1, n), window_size,
                         access, flags);
  }
  if (rc) {
    for (k = 0; k < n; k++)
      mmf_window_close(sh[k].win);
    free(sh);
    return mmf__error_in(api, map->path, rc);
  }

  /* Best effort: a share whose thread cannot start (thread left NULL) is
   * walked here. */
  mmf__best_effort_begin();
  for (k = 1; k < n; k++)
    (void)mmf__os_thread_start(share_walk, &sh[k], &sh[k].thread);
  mmf__best_effort_end();

  share_walk(&sh[0]);
  for (k = 1; k < n; k++)
    if (!sh[k].thread)
      share_walk(&sh[k]);
  for (k = 1; k < n; k++)
    if (sh[k].thread)
      mmf__os_thread_join(sh[k].thread);

  for (k = 0; k < n && !rc; k++) {
    rc = sh[k].rc;
    if (rc && !sh[k].by_fn)
      rc = mmf__error_in(api, map->path, mmf__error_restore(&sh[k].err));
    else if (rc && sh[k].err.code == rc)
      mmf__error_restore(&sh[k].err); /* fn passed on an mmf failure */
  }
  free(sh);
  return rc;
}
