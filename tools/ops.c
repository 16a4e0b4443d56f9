/* tools/ops.c -- reverse a file in place and count a byte, a window at a
 * time, through the public API only. */
#include "ops.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#if MMF_HAVE_TIMESPEC_GET
double mmf_op_now(void) {
  struct timespec ts;
  if (timespec_get(&ts, TIME_UTC) != TIME_UTC)
    return 0.0;
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
#else
double mmf_op_now(void) { return (double)clock() / CLOCKS_PER_SEC; }
#endif

/* Reverse: piece k of the front half, [k*w, k*w+len), mirrors piece k of
 * the back half, [n-k*w-len, n-k*w); swapping them mirrored (a[j] with
 * b[len-1-j]) and moving on reverses the file with two pieces in memory. */
struct rev {
  mmf_map *map;
  uint64_t n;
  unsigned char *buf; /* buffered mode: 2 x REV_BUFFER bytes at most */
};

/* Through two views, populated writable in one call (every byte is
 * rewritten, so a write fault per page or folio would be wasted); or with
 * the front piece already in memory at `front`, through one. */
static int rev_mapped(struct rev *r, uint64_t lo, uint64_t hi, size_t len,
                      void *front) {
  mmf_view *a = NULL, *b = NULL;
  int rc = front ? 0
                 : mmf_view_map(&a, r->map, lo, len,
                                MMF_ACCESS_WRITE | MMF_VIEW_POPULATE);
  if (!rc)
    rc = mmf_view_map(&b, r->map, hi - len, len,
                      MMF_ACCESS_WRITE | MMF_VIEW_POPULATE);
  if (!rc)
    mmf_memswap_reversed(front ? front : mmf_view_data(a), mmf_view_data(b),
                         len);
  {
    int rc2 = b ? mmf_view_unmap(b) : 0;
    int rc3 = a ? mmf_view_unmap(a) : 0;
    if (!rc)
      rc = rc2 ? rc2 : rc3;
  }
  return rc;
}

/* `a` holds the front piece [lo, lo+len): read its mirror [hi-len, hi)
 * into `b`, swap them mirrored and write both back. */
static int rev_swap_buffers(struct rev *r, unsigned char *a, unsigned char *b,
                            uint64_t lo, uint64_t hi, size_t len) {
  int rc = mmf_map_read_exact(r->map, hi - len, b, len);
  if (rc)
    return rc;
  mmf_memswap_reversed(a, b, len);
  rc = mmf_map_write(r->map, lo, a, len);
  return rc ? rc : mmf_map_write(r->map, hi - len, b, len);
}

/* Through the read/write path, for machines where new page-table entries
 * cost more than copying (see mmf_op_reverse). */
static int rev_buffered(struct rev *r, uint64_t lo, uint64_t hi, size_t len,
                        size_t piece) {
  unsigned char *a = r->buf;
  int rc = mmf_map_read_exact(r->map, lo, a, len);
  return rc ? rc : rev_swap_buffers(r, a, r->buf + piece, lo, hi, len);
}

/* Which path costs less per byte on this machine: the mapped one for the
 * first piece, then (after one untimed piece that warms the buffer up) the
 * buffered one for the next; buffered wins only when clearly cheaper. */
#define REV_BUFFERED_WINS_BELOW 0.9
/* Buffered pieces are at most this long (two such buffers): 1 MiB copies
 * stay in cache, 4 MiB ones ran 1.2x slower (measured with mmf-bench). */
#define REV_BUFFER ((size_t)1 << 20)
/* The mapped trial pieces are at most this long: where mapping loses they
 * are the costliest part of deciding (two 4 MiB views populated writable
 * took ~14 ms of a 1 GiB reverse on a VM where every new page-table entry
 * is expensive), but views under 2 MiB are placed off a 2 MiB boundary,
 * where even large folios are mapped 64 KiB at a time (window.c's
 * PROBE_MIN_WINDOW): a smaller trial would favour the buffers unfairly. */
#define REV_TRIAL ((size_t)2 << 20)

/* Bytes done by every worker of an mmf_window_each walk; only worker 0,
 * the calling thread, draws the progress bar. */
struct shared_progress {
  atomic_uint_fast64_t done;
  uint64_t total;
  mmf_progress_fn fn;
  void *ctx;
};

static void shared_progress_init(struct shared_progress *p, uint64_t done,
                                 uint64_t total, mmf_progress_fn fn,
                                 void *ctx) {
  atomic_init(&p->done, done);
  p->total = total;
  p->fn = fn;
  p->ctx = ctx;
}

static void shared_progress_add(struct shared_progress *p, unsigned worker,
                                uint64_t n) {
  uint64_t done =
      atomic_fetch_add_explicit(&p->done, n, memory_order_relaxed) + n;
  if (worker == 0 && p->fn)
    p->fn(p->ctx, done, p->total);
}

/* The mapped pieces after the trial, on `workers` threads: a walk of WRITE
 * windows, populated writable, over the front half's rest [lo, half); each
 * window swaps with its mirror in the back half, which each worker takes from a
 * walk of its own going backward from the mirror of its share's start, window
 * for window. On Linux both walks cut their windows out of one long view each
 * (mmf.h, "Sliding windows"): a view per window -- an mmap and a munmap each,
 * which take the address-space lock exclusively -- stalled the other worker's
 * populates (1 GiB in 1 MiB folios on two workers: 0.168 s that way in run R,
 * 0.101-0.118 s in runs T-W with the walks' touching too; docs/BENCHMARKS.md,
 * "Results on 2026-11-26"). A share's last window may be shorter than the
 * back walk's: its mirror gets a view of its own. Pieces of different workers
 * never overlap, so the workers need no lock. Worker 0 (the calling thread)
 * draws the progress bar. */
struct rev_job {
  struct rev *r;
  struct shared_progress progress;
  size_t window;                        /* of both walks */
  uint64_t back_lo;                     /* the lowest mirror byte: n - half */
  mmf_window *back[MMF_WINDOW_EACH_MAX]; /* per worker, its mirrors' walk */
};

/* The worker's next mirror [at, at + len) from its back walk, opened on
 * its first window. */
static int rev_back_next(struct rev_job *j, unsigned worker, uint64_t at,
                         size_t len, void **b) {
  uint64_t got_at = 0;
  size_t got = 0;
  int rc;
  if (!j->back[worker]) {
    rc = mmf_window_open(&j->back[worker], j->r->map, j->back_lo, at + len,
                         j->window, MMF_ACCESS_WRITE | MMF_VIEW_POPULATE,
                         MMF_WINDOW_BACKWARD);
    if (rc)
      return rc;
  }
  rc = mmf_window_next(j->back[worker], b, &got, &got_at);
  if (rc < 0)
    return rc;
  /* Both walks tile by the same window from mirrored starts (mmf.h). */
  return rc == 1 && got_at == at && got == len ? 0 : MMF_EINVAL;
}

static int rev_window(void *arg, unsigned worker, void *front, size_t len,
                      uint64_t lo) {
  struct rev_job *j = arg;
  void *b = NULL;
  int rc;
  if (len < j->window) { /* the share's last window */
    rc = rev_mapped(j->r, lo, j->r->n - lo, len, front);
  } else {
    rc = rev_back_next(j, worker, j->r->n - lo - len, len, &b);
    if (!rc)
      mmf_memswap_reversed(front, b, len);
  }
  if (rc)
    return rc;
  shared_progress_add(&j->progress, worker, 2 * (uint64_t)len);
  return 0;
}

/* The buffered pieces on `workers` threads: an AUTO walk of `piece`-byte
 * windows (at most REV_BUFFER: under 2 MiB, so through the read path from
 * the start) delivers each front piece in the walk's own buffer, which is
 * ours to write (mmf.h); its mirror is read into the worker's buffer, and
 * both are swapped and written back. */
struct rev_buf_job {
  struct rev *r;
  struct shared_progress progress;
  size_t piece;
  unsigned char *buf[MMF_WINDOW_EACH_MAX]; /* per worker, one piece */
};

static int rev_buf_window(void *arg, unsigned worker, void *front,
                          size_t len, uint64_t lo) {
  struct rev_buf_job *j = arg;
  int rc;
  if (!j->buf[worker]) {
    void *p;
    rc = mmf_buffer_alloc(&p, j->piece);
    if (rc)
      return rc;
    j->buf[worker] = p;
  }
  rc = rev_swap_buffers(j->r, front, j->buf[worker], lo, j->r->n - lo, len);
  if (rc)
    return rc;
  shared_progress_add(&j->progress, worker, 2 * (uint64_t)len);
  return 0;
}

/* [lo, hi) of the front half through views (mapped) or buffers, on
 * `workers` threads; `done` bytes are done before it. */
static int rev_parallel(struct rev *r, int mapped, uint64_t lo, uint64_t hi,
                        size_t window, unsigned workers, uint64_t done,
                        mmf_progress_fn progress, void *ctx) {
  if (mapped) {
    struct rev_job j = {0};
    unsigned k;
    int rc, rc2;
    j.r = r;
    j.window = window;
    j.back_lo = r->n - hi;
    shared_progress_init(&j.progress, done, r->n, progress, ctx);
    rc = mmf_window_each(r->map, lo, hi, window,
                         MMF_ACCESS_WRITE | MMF_VIEW_POPULATE, 0, workers,
                         rev_window, &j);
    for (k = 0; k < MMF_WINDOW_EACH_MAX; k++) {
      rc2 = mmf_window_close(j.back[k]);
      if (!rc)
        rc = rc2;
    }
    return rc;
  } else {
    struct rev_buf_job j = {0};
    unsigned k;
    int rc, rc2;
    j.r = r;
    j.piece = window < REV_BUFFER ? window : REV_BUFFER;
    j.buf[0] = r->buf; /* the trial's, already filled once: big enough */
    shared_progress_init(&j.progress, done, r->n, progress, ctx);
    rc = mmf_window_each(r->map, lo, hi, j.piece, MMF_ACCESS_READ,
                         MMF_WINDOW_AUTO, workers, rev_buf_window, &j);
    for (k = 1; k < MMF_WINDOW_EACH_MAX; k++) {
      rc2 = mmf_buffer_free(j.buf[k]);
      if (!rc)
        rc = rc2;
    }
    r->buf = j.buf[0]; /* freed with the rest of `r` (allocated if NULL) */
    return rc;
  }
}

/* The window for a half of `half` bytes: 0 means the default; no larger
 * than the half (no piece is), then rounded up to the granularity -- down
 * where up would wrap past SIZE_MAX (a window near 2^64 once became 0). */
static size_t rev_window_size(size_t window, uint64_t half) {
  size_t g = mmf_granularity(), rest;
  if (window == 0)
    window = MMF_WINDOW_DEFAULT_SIZE;
  if (half > 0 && window > half)
    window = (size_t)half;
  rest = window % g;
  if (rest)
    window = window <= SIZE_MAX - g ? window - rest + g : window - rest;
  return window;
}

int mmf_op_reverse(const char *path, size_t window, unsigned flags,
                   unsigned workers, mmf_progress_fn progress, void *ctx) {
  struct rev r = {NULL, 0, NULL};
  uint64_t half, done = 0, k;
  double t_map = 0, t_buf = 0, t0;
  int mode = (flags & MMF_OP_REVERSE_BUFFERED) ? 2
             : (flags & MMF_OP_REVERSE_MAPPED) ? 1
                                               : 0; /* 0: still deciding */
  int rc;

  rc = mmf_map_open(&r.map, path, MMF_PROT_READWRITE, 0, 0);
  if (rc == MMF_EEMPTY)
    return 0; /* nothing to reverse */
  if (rc)
    return rc;
  r.n = mmf_map_size(r.map);
  half = r.n / 2; /* an odd size's middle byte stays put */
  window = rev_window_size(window, half);
  /* The trial, on this thread: piece 0 mapped, 1 (untimed) and 2 through
   * the buffers. */
  for (k = 0; mode == 0 && done < 2 * half; k++) {
    uint64_t lo = done / 2, hi = r.n - done / 2;
    int buffered = k >= 1;
    size_t cap = buffered ? REV_BUFFER : REV_TRIAL;
    size_t piece = window < cap ? window : cap;
    size_t len = half - lo < piece ? (size_t)(half - lo) : piece;
    if (buffered && !r.buf) {
      /* Page-aligned (copies into malloc's 16-byte offset ran the whole
       * reverse 8% slower) and on a huge page where possible (a fresh
       * 2 MiB of 4 KiB pages took 10 ms to fill on a VM here). */
      void *b;
      rc = mmf_buffer_alloc(&b, 2 * piece);
      if (rc)
        break;
      r.buf = b;
    }
    t0 = mmf_op_now();
    rc = buffered ? rev_buffered(&r, lo, hi, len, piece)
                  : rev_mapped(&r, lo, hi, len, NULL);
    if (rc)
      break;
    if (k == 0)
      t_map = (mmf_op_now() - t0) / (double)len;
    else if (k == 2) {
      t_buf = (mmf_op_now() - t0) / (double)len;
      mode = t_buf < REV_BUFFERED_WINS_BELOW * t_map ? 2 : 1;
    }
    done += 2 * (uint64_t)len;
    if (progress)
      progress(ctx, done, r.n);
  }
  /* The rest on every worker, the way that was chosen. */
  if (rc == 0 && done < 2 * half)
    rc = rev_parallel(&r, mode == 1, done / 2, half, window, workers, done,
                      progress, ctx);
  if (rc == 0 && progress)
    progress(ctx, r.n, r.n); /* worker 0 may have ended first */
  {
    int rc1 = mmf_buffer_free(r.buf);
    if (rc == 0)
      rc = rc1;
  }
  {
    int rc2 = mmf_map_close(r.map);
    if (rc == 0)
      rc = rc2;
  }
  return rc < 0 ? rc : 0;
}

/* Each worker counts into its own slot, a cache line apart so that the
 * workers' additions do not contend; `done` feeds the progress bar, which
 * only worker 0 (the calling thread) draws. */
struct count_job {
  unsigned char byte;
  struct {
    uint64_t n;
    char pad[64 - sizeof(uint64_t)];
  } slot[MMF_WINDOW_EACH_MAX];
  struct shared_progress progress;
};

static int count_window(void *arg, unsigned worker, void *data, size_t len,
                        uint64_t offset) {
  struct count_job *j = arg;
  (void)offset;
  j->slot[worker].n += mmf_memcount(data, len, j->byte);
  shared_progress_add(&j->progress, worker, len);
  return 0;
}

int mmf_op_count(const char *path, unsigned char byte, size_t window,
                 unsigned flags, unsigned workers, uint64_t *count,
                 mmf_progress_fn progress, void *ctx) {
  mmf_map *map = NULL;
  struct count_job job = {0}, *j = &job;
  int rc;

  *count = 0;
  rc = mmf_map_open(&map, path, MMF_PROT_READ, 0, 0);
  if (rc == MMF_EEMPTY)
    return 0;
  if (rc)
    return rc;
  j->byte = byte;
  shared_progress_init(&j->progress, 0, mmf_map_size(map), progress, ctx);
  rc = mmf_window_each(map, 0, 0, window, MMF_ACCESS_READ, flags, workers,
                       count_window, j);
  if (rc == 0) {
    unsigned k;
    for (k = 0; k < MMF_WINDOW_EACH_MAX; k++)
      *count += j->slot[k].n;
    /* Worker 0 may have ended first: the bar ends full. */
    if (progress)
      progress(ctx, j->progress.total, j->progress.total);
  }
  {
    int rc2 = mmf_map_close(map);
    if (rc == 0)
      rc = rc2;
  }
  return rc;
}
