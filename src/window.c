/* window.c -- sliding windows: walk a mapping of any size a bounded window
 * at a time, forward or backward; with MMF_WINDOW_AUTO, switch a read-only
 * walk to the OS's read path when the kernel maps the file 4 KiB at a time
 * or when reading measures cheaper than mapping on this machine; with
 * MMF_WINDOW_AHEAD, prepare the next window on a background thread while
 * the caller works on the current one. */
#include "internal.h"

#include <stdlib.h>

/* Buffered (read-path) windows are cut to this size and read into a buffer
 * from mmf_buffer_alloc: page-aligned (read() into a buffer 16 bytes past a
 * page boundary, what malloc gives for a block this big, copies at ~6 GB/s
 * here, into an aligned one at ~11 GB/s: docs/BENCHMARKS.md, "scan") and
 * backed by a huge page where the kernel allows (its first fill cost 5 ms
 * in 4 KiB pages on a VM here, 0.1 ms in one huge page). */
#define READ_CHUNK ((size_t)1 << 20)

/* A mapped window that took at least one minor fault per this many bytes
 * was faulted in small pieces: the kernel holds the file in small folios and
 * maps at most a fault-around block (64 KiB) per fault. Large folios are
 * mapped a folio (>= 128 KiB) at a time. */
#define SMALL_FOLIO_BYTES_PER_FAULT ((uint64_t)96 << 10)

/* Windows smaller than this cannot be probed: the kernel places such a
 * mapping at an address that is not 2 MiB-aligned, where even large folios
 * are faulted 64 KiB at a time (and mapped windows are slower than read()
 * on any folio size, measured). AUTO walks with smaller windows take the
 * read path from the start. */
#define PROBE_MIN_WINDOW ((size_t)2 << 20)

/* After the fault probe finds large folios, the walk runs a trial of
 * TRIAL_ROUNDS rounds; each round times one mapped window (PROBE_MIN_WINDOW
 * bytes) and the same number of bytes through the read path. The walk keeps
 * the mapped path unless the read path's best round cost less than
 * TRIAL_READ_WINS_BELOW of the mapped path's best round, per byte. Each
 * piece is timed from one call to mmf_window_next to the next, so the
 * caller's own work on the data (first touches of mapped pages included)
 * and unmapping count. Large folios make mapping the winner on most
 * machines (1.3-1.5x read(), see docs/BENCHMARKS.md) but not where every
 * new page-table entry is expensive (nested virtualisation: ~1 us per 4 KiB
 * page measured), where read() wins by 7x.
 * Neither the probe window (the first mapping of a fresh process pays for
 * new page tables) nor the read path's first piece (fresh buffer pages) is
 * timed, and two rounds, not one: about one timed 2 MiB window in 70 takes
 * 3x its usual time here. Counted in fresh processes on a machine where
 * mapping wins by 1.3x: one round with the probe timed kept the read path
 * for the whole walk (a 25% slower scan) in 7 walks of 140; two rounds with
 * the probe as the first mapped sample, in 7 of 200; this, in none of 700
 * (and in 1 of 60 on a file still being written back). */
#define TRIAL_ROUNDS 2
#define TRIAL_READ_WINS_BELOW 0.9

/* An AUTO walk maps only whole cells of this grid of file offsets: each
 * mapped window starts at a multiple of MAP_GRID and ends at one (or at
 * the range's end), and bytes between the walk's edge and the next multiple
 * go through the read buffer. Linux maps a page-cache folio of 2 MiB -- what
 * a file written 2 MiB at a time, or read cold from disk with 8 MiB of
 * read-ahead, is held in on 6.18 -- with one page-table entry only where a
 * mapping covers all of it at a 2 MiB-aligned file offset; else 64 KiB per
 * fault. Off the grid (as the trial's 1 MiB read pieces left it), a 4 MiB
 * window of such a file took 33 faults instead of 2 and AUTO scanned at
 * 0.75x a plain mapped walk (docs/BENCHMARKS.md, "2 MiB folios"). */
#define MAP_GRID MMF__MAP_GRID

/* Where the OS layer says so (mmf__os_walk_spans: Linux), mapped windows of
 * READ and WRITE walks are cut out of one longer view, the span, of up to
 * MMF_WINDOW_SPAN_MAX bytes (mmf__window_span_max: a test hook), instead of a
 * view each: a window's pages are populated (with MMF_VIEW_POPULATE) when it is
 * handed out and dropped again (DONTNEED) when the walk moves on, so memory
 * stays bounded as before, but the walk maps and unmaps once per span. On Linux
 * mapping and unmapping take the process's address-space lock exclusively,
 * which stalls the populates and page faults of every other thread: two workers
 * reversing a 1 GiB file in 1 MiB folios took 0.148-0.271 s with a view per
 * 4 MiB window and 0.109-0.155 s with spans, one worker about the same either
 * way (docs/BENCHMARKS.md, "Results on 2026-11-26"). Not for COPY walks (a
 * private writable mapping's whole size is charged at once under strict
 * overcommit), nor with MMF_VIEW_LOCK or MMF_VIEW_WILLNEED, which act on a
 * whole view; the probe and trial windows of an AUTO walk are views of
 * their own. */
size_t mmf__window_span_max = MMF_WINDOW_SPAN_MAX;
#define SPAN_NOT_FOR (MMF_ACCESS_COPY | MMF_VIEW_LOCK | MMF_VIEW_WILLNEED)

/* How a span walk with MMF_VIEW_POPULATE faults its windows in. The first
 * window of at least SMALL_FOLIO_BYTES_PER_FAULT goes through
 * MADV_POPULATE_READ/WRITE, and its faults tell the folios apart as in
 * AUTO's probe. Where they are large (and a WRITE walk's touch can write:
 * mmf__touch_writes), the rest is touched a byte per page
 * (mmf__touch): one fault then maps a whole folio, while MADV_POPULATE
 * walks the page tables a page at a time. Two workers reversing 1 GiB in
 * 1 MiB folios (scratch runs): 0.095-0.121 s touching, 0.109-0.155 s
 * populating; in 2 MiB folios 0.08-0.11 against 0.10-0.14 s.
 * In 4 KiB folios, a fault per page either way, touching took 25% longer
 * (0.67-0.75 against 0.53-0.58 s), so populating stays there. */
enum { POP_PROBE = 0, POP_MADVISE, POP_TOUCH };

enum { MODE_MAP = 0, MODE_PROBE, MODE_TRIAL, MODE_READ };

int mmf__auto_decision = MMF__AUTO_MEASURE; /* tests only: internal.h */

/* The read-ahead thread of an MMF_WINDOW_AHEAD walk. It keeps the next
 * AHEAD_DEPTH windows after the caller's current one mapped, every page
 * faulted in, and it unmaps the windows the caller is done with. So the
 * kernel's page-table work -- a fifth to a quarter of a mapped scan's time
 * on a cached file (docs/BENCHMARKS.md) -- overlaps the caller's own work.
 * Two windows ahead, not one: waking a sleeping thread costs tens of
 * microseconds on a VM, and with one the caller often waited for it. At
 * most AHEAD_DEPTH + 2 windows are mapped at once: the caller's, those
 * ahead and the one being unmapped. Only mapped walks use it: on AUTO's
 * read path a hand-over per 1 MiB piece cost more than it saved (a scan of
 * small folios ran at 4.7 GB/s instead of 8.3). */
#define AHEAD_DEPTH 2
/* RETRY: the caller maps it itself -- preparing it failed (the caller's
 * next call retries), or the thread had not started it when the caller
 * needed it; the thread has moved on to the pieces after it. */
enum { PIECE_EMPTY = 0, PIECE_ASKED, PIECE_BUSY, PIECE_READY, PIECE_RETRY };
struct piece {
  int state;
  uint64_t off;
  size_t len;
  int rc;             /* when READY: 0 and `view`, or the failure in `err` */
  int by_thread;      /* the thread prepared it (not the caller) */
  mmf_view *view;
  struct mmf__error_rec err;
};
/* Everything below `mon` is guarded by it. Pieces are asked for, prepared
 * and handed out in order: q[head % AHEAD_DEPTH] is the next to hand out,
 * q[work % ...] the next to prepare, q[tail % ...] the next free. */
struct ahead {
  mmf_os_monitor *mon;
  mmf_os_thread *thread;
  int quit;
  struct piece q[AHEAD_DEPTH];
  unsigned head, work, tail;
  /* A window the caller is done with, to unmap; the first unmap failure,
   * reported by the caller's next call. */
  mmf_view *retired;
  int retire_rc;
  struct mmf__error_rec retire_err;
};
enum { TIMED_NONE = 0, TIMED_MAP, TIMED_READ };

struct mmf_window {
  mmf_map *map;
  uint64_t lo, hi;  /* what is left to deliver: [lo, hi) */
  size_t size;      /* window size (granularity multiple) */
  size_t map_size;  /* mapped windows' size: `size`; in an AUTO walk, */
                    /* rounded down to a multiple of MAP_GRID */
  unsigned access;
  unsigned flags;
  int mode;
  mmf_view *cur;    /* the mapped window, if any, as a view of its own */
  mmf_view *span;   /* or cut out of this view (see SPAN_NOT_FOR), at */
  size_t span_at, span_len; /* [span_at, +span_len) of it; span_len 0: none */
  int pop;          /* how span windows are populated (POP_*) */
  int span_no_room; /* a span could not be mapped: the windows alone */
  uint64_t touched; /* span windows populated by touching */
  uint64_t probe_faults; /* minor faults when the probe window was handed out */
  size_t probe_len;
  /* The trial (MODE_TRIAL): the piece out now if it is timed (TIMED_MAP or
   * TIMED_READ), its length and start; this round's totals per path
   * ([TIMED_MAP - 1], [TIMED_READ - 1]); the best finished round's ns per
   * byte per path; the rounds finished. */
  int timed;
  size_t timed_len;
  uint64_t mark_ns;
  uint64_t trial_ns[2], trial_bytes[2];
  double best_ns_per_byte[2];
  int rounds;
  unsigned char *buf;    /* READ mode buffer (mmf_buffer_alloc) */
  int warm;              /* a whole read piece has been read into `buf` */
  uint64_t buffered;
  /* MMF_WINDOW_AHEAD: the thread once started (NULL before, and for good
   * when it could not start: the walk then goes on without it); windows it
   * prepared. */
  struct ahead *ahead;
  int ahead_tried;
  uint64_t ahead_count;
};

int mmf_window_open(mmf_window **out, mmf_map *map, uint64_t start,
                    uint64_t end, size_t window_size, unsigned access,
                    unsigned flags) {
  static const char api[] = "mmf_window_open";
  size_t gran = mmf_granularity();
  mmf_window *w;
  int rc;

  if (out)
    *out = NULL;
  if (!out || !map)
    return mmf__error(MMF_EINVAL, "%s: NULL %s", api, out ? "map" : "out");
  if (flags & ~(unsigned)(MMF_WINDOW_BACKWARD | MMF_WINDOW_AUTO |
                          MMF_WINDOW_AHEAD))
    return mmf__error(MMF_EINVAL, "%s: unknown flags 0x%x", api, flags);
  if ((flags & (MMF_WINDOW_AUTO | MMF_WINDOW_AHEAD)) &&
      (access & (MMF_ACCESS_WRITE | MMF_ACCESS_COPY | MMF_ACCESS_EXEC)))
    return mmf__error(MMF_EINVAL, "%s \"%s\": MMF_WINDOW_%s is for READ walks "
                      "only", api, map->path,
                      (flags & MMF_WINDOW_AUTO) ? "AUTO" : "AHEAD");
  {
    unsigned os_prot;
    rc = mmf__view_access(map, access, &os_prot);
    if (rc)
      return mmf__error_in(api, map->path, rc);
  }
  if (end == 0)
    end = map->size;
  if (start > end) {
    rc = mmf__error(MMF_ERANGE, "start %llu is after end %llu",
                    (unsigned long long)start, (unsigned long long)end);
    return mmf__error_in(api, map->path, rc);
  }
  rc = mmf__check_range(start, end - start, map->size);
  if (rc)
    return mmf__error_in(api, map->path, rc);
  if (window_size == 0)
    window_size = (flags & MMF_WINDOW_AHEAD) ? MMF_WINDOW_AHEAD_SIZE
                                             : MMF_WINDOW_DEFAULT_SIZE;
  if (window_size > SIZE_MAX - gran)
    return mmf__error(MMF_EINVAL, "%s: window size too large", api);
  window_size = (window_size + gran - 1) / gran * gran;

  w = calloc(1, sizeof *w);
  if (!w)
    return mmf__error(MMF_ENOMEM, "%s: out of memory", api);
  w->map = map;
  w->lo = start;
  w->hi = end;
  w->size = window_size;
  w->map_size = (flags & MMF_WINDOW_AUTO) && window_size >= MAP_GRID
                    ? window_size - (size_t)(window_size % MAP_GRID)
                    : window_size;
  w->access = access;
  w->flags = flags;
  w->mode = !(flags & MMF_WINDOW_AUTO)       ? MODE_MAP
            : window_size < PROBE_MIN_WINDOW ? MODE_READ
                                             : MODE_PROBE;
  mmf__map_ref(map);
  *out = w;
  return 0;
}

/* Take the next `want`-byte piece off the remaining range, from the front or
 * the back. */
static uint64_t take(mmf_window *w, size_t want, size_t *n) {
  uint64_t left = w->hi - w->lo;
  uint64_t off;
  *n = left < want ? (size_t)left : want;
  if (w->flags & MMF_WINDOW_BACKWARD) {
    w->hi -= *n;
    off = w->hi;
  } else {
    off = w->lo;
    w->lo += *n;
  }
  return off;
}

/* Bytes from the walk's edge (its start going forward, its end going
 * backward) to the next multiple of MAP_GRID in its direction: 0 on the
 * grid. */
static uint64_t to_grid(const mmf_window *w) {
  if (w->flags & MMF_WINDOW_BACKWARD)
    return w->hi % MAP_GRID;
  return (MAP_GRID - w->lo % MAP_GRID) % MAP_GRID;
}

/* Undo take() after a failure, so a retry delivers the same piece. */
static void put_back(mmf_window *w, size_t n) {
  if (w->flags & MMF_WINDOW_BACKWARD)
    w->hi += n;
  else
    w->lo -= n;
}

/* Decide, after the caller processed the first mapped window, whether the
 * rest of the walk should go through the read path (small folios), or the
 * two paths should be timed against each other first. */
static void probe_decide(mmf_window *w) {
  uint64_t faults = mmf__os_minor_faults() - w->probe_faults;
  uint64_t pieces = w->probe_len / SMALL_FOLIO_BYTES_PER_FAULT;
  w->mode = mmf__auto_decision == MMF__AUTO_MEASURE && pieces > 0 &&
                    faults >= pieces
                ? MODE_READ
                : MODE_TRIAL;
}

/* At a call after a timed trial piece: add it to its path's round totals;
 * when both paths have had a probe window's worth, close the round; after
 * TRIAL_ROUNDS rounds, keep whichever path's best round cost less per byte
 * (the mapped one unless reading was clearly cheaper). */
static void trial_account(mmf_window *w) {
  int i = w->timed - 1;
  w->trial_ns[i] += mmf__os_now_ns() - w->mark_ns;
  w->trial_bytes[i] += w->timed_len;
  w->timed = TIMED_NONE;
  if (w->trial_bytes[0] < PROBE_MIN_WINDOW ||
      w->trial_bytes[1] < PROBE_MIN_WINDOW)
    return;
  for (i = 0; i < 2; i++) {
    double per_byte = (double)w->trial_ns[i] / (double)w->trial_bytes[i];
    if (w->rounds == 0 || per_byte < w->best_ns_per_byte[i])
      w->best_ns_per_byte[i] = per_byte;
    w->trial_ns[i] = w->trial_bytes[i] = 0;
  }
  if (++w->rounds < TRIAL_ROUNDS)
    return;
  if (mmf__auto_decision != MMF__AUTO_MEASURE)
    w->mode = mmf__auto_decision == MMF__AUTO_READ ? MODE_READ : MODE_MAP;
  else
    w->mode = w->best_ns_per_byte[1] <
                      TRIAL_READ_WINS_BELOW * w->best_ns_per_byte[0]
                  ? MODE_READ
                  : MODE_MAP;
}

/* Bytes per read-path piece. */
static size_t read_chunk(const mmf_window *w) {
  return w->size < READ_CHUNK ? w->size : READ_CHUNK;
}

/* The read path's buffer, allocated on first use. */
static int ensure_buffer(mmf_window *w, size_t chunk) {
  void *b;
  int rc;
  if (w->buf)
    return 0;
  rc = mmf_buffer_alloc(&b, chunk);
  if (rc)
    return mmf__error_in("mmf_window_next", w->map->path, rc);
  w->buf = b;
  return 0;
}

/* The next read-path piece: a whole chunk, or less if `grid` (bytes to the
 * grid, while the walk may map again) is shorter and not 0. */
static int next_buffered(mmf_window *w, uint64_t grid, void **data,
                         size_t *size, uint64_t *offset) {
  size_t n, got = 0;
  uint64_t off;
  size_t chunk = read_chunk(w);
  int rc = ensure_buffer(w, chunk);
  if (rc)
    return rc;
  off = take(w, grid && grid < chunk ? (size_t)grid : chunk, &n);
  rc = mmf__os_read(w->map->file, off, w->buf, n, &got);
  if (rc == 0 && got != n)
    rc = mmf__error(MMF_EIO, "the file shrank under the walk (read %zu of "
                             "%zu bytes at offset %llu)",
                    got, n, (unsigned long long)off);
  if (rc) {
    put_back(w, n);
    return mmf__error_in("mmf_window_next", w->map->path, rc);
  }
  w->buffered++;
  if (n == chunk)
    w->warm = 1;
  *data = w->buf;
  *size = n;
  if (offset)
    *offset = off;
  return 1;
}

/* ---- spans (see SPAN_NOT_FOR) -----------------------------------------*/

static int span_use(const mmf_window *w) {
  return w->mode == MODE_MAP && !(w->access & SPAN_NOT_FOR) &&
         mmf__os_walk_spans();
}

/* Drop the pages of the window handed out last: the data stays the file's
 * (READ and WRITE views only); pages it shares with the next window are
 * faulted back in by that one. */
static int span_release(mmf_window *w) {
  size_t page = mmf_page_size();
  unsigned char *d = mmf_view_data(w->span);
  uintptr_t a = (uintptr_t)(d + w->span_at), e = a + w->span_len;
  int rc;
  w->span_len = 0;
  a -= a % page;
  rc = mmf__os_advise((void *)a, (size_t)(e - a), MMF_ADVICE_DONTNEED);
  return rc ? mmf__error_in("mmf_window_next", w->map->path, rc) : 0;
}

static int span_close(mmf_window *w) {
  int rc = mmf_view_unmap(w->span);
  w->span = NULL;
  return rc;
}

/* Fault the window [at, at + n) of the span, file bytes [off, off + n) at
 * `d`, in (see POP_PROBE). Touching a page that cannot be had -- past the
 * file's end, a block that a full disk cannot give -- raises SIGBUS, where
 * MADV_POPULATE fails with EFAULT: a window is touched only when the OS
 * layer, asked just before, finds the file holding it and (for a write)
 * room on the disk (mmf__os_touch_safe: what changes in between is SIGBUS,
 * as in the caller's own accesses); otherwise the OS call says what
 * happened. A quota, or a read error on a page not in memory, is SIGBUS
 * when touching, as for the caller. */
static int span_populate(mmf_window *w, unsigned char *d, uint64_t off,
                         size_t at, size_t n) {
  int write = (w->access & MMF_ACCESS_WRITE) != 0;
  struct mmf__error_rec before;
  uint64_t f0 = 0;
  int rc;
  if (w->pop == POP_TOUCH) {
    int held;
    mmf__best_effort_begin(); /* if it cannot tell, the OS call */
    held = mmf__os_touch_safe(w->map->file, off, n, write);
    mmf__best_effort_end();
    if (held) {
      (void)mmf__touch(d, n, write); /* it can (POP_PROBE) */
      w->touched++;
      return 0;
    }
  }
  if (w->pop == POP_PROBE) /* (getrusage: only while the faults decide) */
    f0 = mmf__os_minor_faults();
  mmf__error_save(&before);
  rc = mmf_view_advise(w->span, at, n, MMF_ADVICE_POPULATE);
  if (rc == MMF_ENOTSUP) /* a request, as for a view of its own */
    (void)mmf__error_restore(&before);
  else if (rc)
    return mmf__error_in("mmf_window_next", NULL, rc);
  if (w->pop == POP_PROBE && n >= SMALL_FOLIO_BYTES_PER_FAULT)
    w->pop = mmf__os_minor_faults() - f0 < n / SMALL_FOLIO_BYTES_PER_FAULT &&
                     (!write || mmf__touch_writes())
                 ? POP_TOUCH
                 : POP_MADVISE;
  return 0;
}

/* Hand out [off, off + n) from the span, mapping a new span first when the
 * current one does not hold it: from the window on, as far as the range
 * left goes in the walk's direction, at most mmf__window_span_max bytes
 * (or the window; the window alone when the address space has no room for
 * more). */
static int span_window(mmf_window *w, uint64_t off, size_t n, void **data) {
  uint64_t s0 = w->span ? mmf_view_offset(w->span) : 0;
  unsigned char *d;
  int rc;
  if (!w->span || off < s0 || off + n > s0 + mmf_view_size(w->span)) {
    /* (populated window by window, below) */
    unsigned access = w->access & ~(unsigned)MMF_VIEW_POPULATE;
    size_t max = mmf__window_span_max > n ? mmf__window_span_max : n;
    uint64_t lo = off, hi = off + n;
    if (w->span && (rc = span_close(w)) != 0)
      return mmf__error_in("mmf_window_next", NULL, rc);
    if (w->flags & MMF_WINDOW_BACKWARD) /* take() moved hi down to off */
      lo = off + n - w->lo > max ? off + n - max : w->lo;
    else
      hi = w->hi - off > max ? off + max : w->hi;
    rc = 1;
    if (hi - lo > n && !w->span_no_room) {
      /* No room for a span (a 32-bit process, RLIMIT_AS): the window
       * alone below, as a walk without spans maps it (and any other
       * failure is that mapping's to report). */
      mmf__best_effort_begin();
      rc = mmf_view_map(&w->span, w->map, lo, (size_t)(hi - lo), access);
      mmf__best_effort_end();
    }
    if (rc) {
      w->span_no_room = hi - lo > n; /* (not asked again: an exclusive lock) */
      lo = off;
      hi = off + n;
      rc = mmf_view_map(&w->span, w->map, lo, n, access);
    }
    if (rc)
      return mmf__error_in("mmf_window_next", NULL, rc);
    s0 = lo;
  }
  d = (unsigned char *)mmf_view_data(w->span) + (off - s0);
  if ((w->access & MMF_VIEW_POPULATE) &&
      (rc = span_populate(w, d, off, (size_t)(off - s0), n)) != 0)
    return rc;
  w->span_at = (size_t)(off - s0);
  w->span_len = n;
  *data = d;
  return 0;
}

/* ---- MMF_WINDOW_AHEAD ----------------------------------------------------*/

/* Map a piece; on the thread (`touch`), also fault every page in by
 * reading one byte of each: the kernel then installs its page-table entries
 * (a whole large folio per fault) there, not in the caller's loop. Not
 * mmf__os_populate: MADV_POPULATE_READ took 50 ms per GiB where these
 * faults take 20 (docs/BENCHMARKS.md). The caller, mapping a piece itself,
 * leaves the faults to its own first reads. */
static int ahead_prepare(mmf_window *w, struct piece *p, int touch) {
  int rc = mmf_view_map(&p->view, w->map, p->off, p->len, w->access);
  if (rc)
    return mmf__error_in("mmf_window_next", NULL, rc);
  if (touch)
    (void)mmf__touch(mmf_view_data(p->view), p->len, 0);
  return 0;
}

/* The read-ahead thread: prepare the pieces asked for, in order, and unmap
 * what the caller retired, until told to quit. */
static void ahead_main(void *arg) {
  mmf_window *w = arg;
  struct ahead *a = w->ahead;
  mmf__os_monitor_enter(a->mon);
  for (;;) {
    struct piece *p = &a->q[a->work % AHEAD_DEPTH];
    if (p->state == PIECE_ASKED) {
      int rc;
      p->state = PIECE_BUSY;
      mmf__os_monitor_leave(a->mon);
      rc = ahead_prepare(w, p, 1); /* the caller leaves a BUSY piece be */
      mmf__os_monitor_enter(a->mon);
      p->rc = rc;
      p->by_thread = 1;
      if (rc)
        mmf__error_save(&p->err);
      p->state = PIECE_READY;
      a->work++;
      mmf__os_monitor_wake(a->mon);
    } else if (a->retired) {
      mmf_view *v = a->retired;
      int rc;
      mmf__os_monitor_leave(a->mon);
      rc = mmf_view_unmap(v);
      mmf__os_monitor_enter(a->mon);
      a->retired = NULL;
      if (rc && !a->retire_rc) {
        a->retire_rc = rc;
        mmf__error_save(&a->retire_err);
      }
      /* (no wake: the caller never waits for an unmap) */
    } else if (a->quit) {
      break;
    } else {
      mmf__os_monitor_wait(a->mon);
    }
  }
  mmf__os_monitor_leave(a->mon);
}

/* Start the read-ahead thread for a mapped walk. Best effort: when it
 * cannot start (no memory, no threads), the walk goes on the caller's
 * thread and the caller is not told. */
static void ahead_start(mmf_window *w) {
  struct ahead *a;
  w->ahead_tried = 1;
  mmf__best_effort_begin();
  a = calloc(1, sizeof *a);
  if (a && mmf__os_monitor_new(&a->mon) == 0) {
    w->ahead = a; /* the thread reads it */
    if (mmf__os_thread_start(ahead_main, w, &a->thread) != 0) {
      w->ahead = NULL;
      mmf__os_monitor_free(a->mon);
      free(a);
    }
  } else {
    free(a);
  }
  mmf__best_effort_end();
}

/* Stop the thread and unmap what it holds: pieces prepared that nobody
 * took (the thread unmapped the retired window before it ended). Returns
 * an unmap failure not yet reported -- the thread's if it had one, else the
 * last one here -- with the thread's error record describing it; or 0. */
static int ahead_stop(mmf_window *w) {
  struct ahead *a = w->ahead;
  int rc;
  unsigned i;
  mmf__os_monitor_enter(a->mon);
  for (i = 0; i < AHEAD_DEPTH; i++) /* not needed any more */
    if (a->q[i].state == PIECE_ASKED)
      a->q[i].state = PIECE_EMPTY;
  a->quit = 1;
  mmf__os_monitor_wake(a->mon);
  mmf__os_monitor_leave(a->mon);
  mmf__os_thread_join(a->thread);
  mmf__os_monitor_free(a->mon);
  rc = 0;
  for (i = 0; i < AHEAD_DEPTH; i++) {
    struct piece *p = &a->q[i];
    if (p->state == PIECE_READY && p->rc == 0) {
      int rc2 = mmf_view_unmap(p->view);
      if (rc2)
        rc = rc2;
    }
  }
  /* (after the unmaps: each failure overwrites the record) */
  if (a->retire_rc)
    rc = mmf__error_restore(&a->retire_err);
  free(a);
  w->ahead = NULL;
  return rc;
}

/* mmf_window_next for a walk whose read-ahead thread runs: hand the
 * caller's finished window to the thread, keep AHEAD_DEPTH pieces asked
 * for, and take the next one when it is ready. */
static int next_ahead(mmf_window *w, void **data, size_t *size,
                      uint64_t *offset) {
  struct ahead *a = w->ahead;
  mmf_view *done = w->cur;
  struct piece *p;
  int rc;
  w->cur = NULL;
  mmf__os_monitor_enter(a->mon);
  if (done && !a->retired) { /* the thread holds at most one to unmap */
    a->retired = done;
    done = NULL;
  }
  /* Keep the queue full: the pieces are taken off the range in order
   * (and stay queued whatever this call returns). */
  while (a->tail - a->head < AHEAD_DEPTH && w->lo < w->hi) {
    p = &a->q[a->tail++ % AHEAD_DEPTH];
    p->off = take(w, w->map_size, &p->len);
    p->state = PIECE_ASKED;
  }
  mmf__os_monitor_wake(a->mon); /* for a retired window or new pieces */
  if (done) {
    /* The thread has not got to the last one yet (its CPU may be busy
     * elsewhere): unmap this one here rather than wait. */
    mmf__os_monitor_leave(a->mon);
    rc = mmf_view_unmap(done);
    if (rc)
      return mmf__error_in("mmf_window_next", NULL, rc);
    mmf__os_monitor_enter(a->mon);
  }
  if (a->retire_rc) {
    /* Copied under the monitor: once retire_rc is 0, the thread may record
     * the failure of the window handed to it above in retire_err. */
    rc = mmf__error_restore(&a->retire_err);
    a->retire_rc = 0;
    mmf__os_monitor_leave(a->mon);
    return mmf__error_in("mmf_window_next", NULL, rc);
  }
  if (a->head == a->tail) { /* the range is done */
    mmf__os_monitor_leave(a->mon);
    return 0;
  }
  p = &a->q[a->head % AHEAD_DEPTH];
  if (p->state == PIECE_ASKED) {
    /* The thread has not started it (its CPU may be busy elsewhere): map
     * it here rather than wait. The thread moves on to the next. */
    a->work++;
    p->state = PIECE_RETRY;
  }
  if (p->state == PIECE_RETRY) {
    /* The thread never touches a RETRY piece: map it unlocked. */
    mmf__os_monitor_leave(a->mon);
    rc = ahead_prepare(w, p, 0);
    mmf__os_monitor_enter(a->mon);
    if (rc) {
      mmf__os_monitor_leave(a->mon);
      return rc;
    }
    p->rc = 0;
    p->by_thread = 0;
    p->state = PIECE_READY;
  }
  while (p->state != PIECE_READY)
    mmf__os_monitor_wait(a->mon);
  if (p->rc) { /* the walk stays here: the next call retries this piece */
    rc = p->rc;
    p->state = PIECE_RETRY;
    mmf__os_monitor_leave(a->mon);
    mmf__error_restore(&p->err);
    return rc;
  }
  a->head++;
  p->state = PIECE_EMPTY;
  w->ahead_count += (uint64_t)p->by_thread;
  w->cur = p->view;
  *data = mmf_view_data(p->view);
  *size = p->len;
  if (offset)
    *offset = p->off;
  mmf__os_monitor_leave(a->mon);
  return 1;
}

int mmf_window_next(mmf_window *w, void **data, size_t *size,
                    uint64_t *offset) {
  size_t n;
  uint64_t off;
  int rc;

  if (!w || !data || !size)
    return mmf__error(MMF_EINVAL, "mmf_window_next: NULL argument");
  *data = NULL;
  *size = 0;
  if (w->ahead)
    return next_ahead(w, data, size, offset);
  if (w->cur) {
    rc = mmf_view_unmap(w->cur);
    w->cur = NULL;
    /* Decide even when the unmap failed: the retry must deliver the window
     * this call would have (not probe again). */
    if (w->mode == MODE_PROBE)
      probe_decide(w);
    if (rc)
      return mmf__error_in("mmf_window_next", NULL, rc);
  }
  if (w->span_len && (rc = span_release(w)) != 0)
    return rc;
  if (w->timed)
    trial_account(w);
  if (w->lo >= w->hi)
    return 0;
  /* An AUTO walk reads when it has chosen the read path, and while it may
   * map again, up to the grid when off it (see MAP_GRID). In the trial, the read path's first whole piece warms the
   * buffer up and is not timed (nor are shorter ones before it): the first
   * stores into fresh pages cost far more than the steady state (1.3 ms for
   * the first 1 MiB read, 0.04 ms after, on a VM here). Then whichever path
   * is behind in bytes goes next. */
  if (w->flags & MMF_WINDOW_AUTO) {
    uint64_t grid = w->mode == MODE_READ ? 0 : to_grid(w);
    int read = w->mode == MODE_READ || grid != 0, timed = TIMED_NONE;
    if (w->mode == MODE_TRIAL && w->warm)
      timed = grid || w->trial_bytes[0] > w->trial_bytes[1] ? TIMED_READ
                                                            : TIMED_MAP;
    if (w->mode == MODE_TRIAL && timed != TIMED_MAP)
      read = 1;
    if (read) {
      if (timed)
        w->mark_ns = mmf__os_now_ns(); /* the read itself counts */
      rc = next_buffered(w, grid, data, size, offset);
      if (rc == 1 && timed) {
        w->timed = timed;
        w->timed_len = *size;
      }
      return rc;
    }
  }
  /* The read-ahead thread starts when there is a window to get ahead to:
   * not for the last one. */
  if ((w->flags & MMF_WINDOW_AHEAD) && !w->ahead_tried &&
      w->mode == MODE_MAP && w->hi - w->lo > w->map_size) {
    ahead_start(w);
    if (w->ahead)
      return next_ahead(w, data, size, offset);
  }

  /* Probe and trial windows need only to be big enough to be placed 2
   * MiB-aligned (see PROBE_MIN_WINDOW): where mapping loses, every byte of
   * them costs. A timed window's clock starts before it is mapped. */
  off = take(w, w->mode == MODE_MAP ? w->map_size : PROBE_MIN_WINDOW, &n);
  if (span_use(w)) {
    rc = span_window(w, off, n, data);
    if (rc) {
      put_back(w, n);
      return rc;
    }
    *size = n;
    if (offset)
      *offset = off;
    return 1;
  }
  if (w->mode == MODE_TRIAL)
    w->mark_ns = mmf__os_now_ns();
  rc = mmf_view_map(&w->cur, w->map, off, n, w->access);
  if (rc) {
    put_back(w, n);
    return mmf__error_in("mmf_window_next", NULL, rc);
  }
  if (w->mode == MODE_PROBE) {
    w->probe_len = n;
    w->probe_faults = mmf__os_minor_faults();
  }
  if (w->mode == MODE_TRIAL) {
    w->timed = TIMED_MAP;
    w->timed_len = n;
  }
  *data = mmf_view_data(w->cur);
  *size = n;
  if (offset)
    *offset = off;
  return 1;
}

uint64_t mmf_window_buffered_count(const mmf_window *w) {
  return w ? w->buffered : 0;
}

uint64_t mmf_window_ahead_count(const mmf_window *w) {
  return w ? w->ahead_count : 0;
}

uint64_t mmf__window_touch_count(const mmf_window *w) { return w->touched; }

int mmf_window_close(mmf_window *w) {
  int rc = 0, rc2;
  if (!w)
    return 0;
  /* The read-ahead thread first (it may be unmapping a window), then the
   * buffer, then the window: when several fail, the error recorded last is
   * the one returned. */
  if (w->ahead && (rc = ahead_stop(w)) != 0)
    mmf__error_in("mmf_window_close", w->map->path, rc);
  if (w->buf && (rc2 = mmf_buffer_free(w->buf)) != 0)
    rc = mmf__error_in("mmf_window_close", w->map->path, rc2);
  if (w->cur) {
    rc2 = mmf_view_unmap(w->cur);
    if (rc2)
      rc = mmf__error_in("mmf_window_close", NULL, rc2);
  }
  if (w->span && (rc2 = span_close(w)) != 0)
    rc = mmf__error_in("mmf_window_close", NULL, rc2);
  rc2 = mmf__map_unref(w->map, "mmf_window_close");
  free(w);
  return rc2 ? rc2 : rc; /* the one recorded last, as above */
}
