/* ring.c -- the shared-memory channel: a ring of length-prefixed messages
 * in a region of a shared mapping, single- or multi-producer, with
 * non-blocking and blocking (spin, then sleep) send and receive.
 *
 * Positions (head, tail) count bytes since creation and only grow; a
 * position's place in the ring is `pos & (cap - 1)`. A record is a 16-byte
 * header {commit, len, kind} and the payload rounded up to 16 bytes; it
 * never wraps: a sender that would cross the end first fills the rest with
 * a padding record. A record is complete when its commit word equals its
 * position xor the channel's random key, so the receiver needs no zeroing,
 * and leftovers of an older channel in the same place never look complete.
 *
 * Sender: reserve [pos, pos + size) by moving head (a plain store with one
 * producer, a CAS with several), copy, then store the commit word
 * (release). Receiver: read the commit word at tail (acquire), check the
 * record against the ring's bounds, copy, move tail (release).
 *
 * Sleeping: a side that finds nothing to do counts itself in *_waiters,
 * re-checks, and sleeps on the *_seq word; the other side, after its
 * change, looks at *_waiters (after a full fence) and only if someone may
 * sleep bumps *_seq and makes the wake-up system call. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2 && ATOMIC_LONG_LOCK_FREE == 2,
               "the channel needs lock-free 64-bit atomics");
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "lock-free 32-bit atomics");

#define CHAN_MAGIC 0x6e6168632d666d6dull /* "mmf-chan" */
#define CHAN_VERSION 1u
#define CHAN_MIN_CAP 1024u
#define CHAN_MAX_CAP ((uint64_t)1 << 32) /* len is 32 bits */
#define REC_HDR 16u
#define REC_MSG 1u
#define REC_PAD 2u
#define DEFAULT_SPIN_NS 20000u

struct mmf_chan {
  mmf_view *view;
  struct mmf__chan_hdr *hdr;
  unsigned char *ring;
  uint64_t cap;      /* trusted copies, checked once at create/open */
  uint64_t mask;
  uint64_t key;      /* commit = position ^ key */
  uint64_t max_msg;
  unsigned flags;
  uint32_t spin_ns;
  uint64_t seen_tail; /* sender: a tail read earlier (tail only grows) */
  unsigned empty_polls; /* receiver: empty polls so far (see recv_once) */
  mmf_os_waiter data_w, space_w;
};

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

/* A receiver checks head on every this-many empty polls (see recv_once). */
#define HEAD_CHECK_EVERY 64u

static uint64_t rec_size(uint64_t len) { return REC_HDR + ((len + 15) & ~15ull); }

static struct mmf__chan_rec *rec_at(mmf_chan *c, uint64_t pos) {
  return (struct mmf__chan_rec *)(c->ring + (pos & c->mask));
}

/* A head/tail pair read from shared memory is sane: aligned, tail not
 * ahead of head, at most a ring apart. */
static int positions_ok(const mmf_chan *c, uint64_t head, uint64_t tail) {
  return (head % 16) == 0 && (tail % 16) == 0 && head - tail <= c->cap;
}

static int corrupt(const char *what, uint64_t a, uint64_t b) {
  return mmf__error(MMF_ECORRUPT, "shared channel state is corrupt: %s "
                    "(%llu, %llu)", what, (unsigned long long)a,
                    (unsigned long long)b);
}

/* ---- create / open / close ---------------------------------------------*/

static int open_waiters(mmf_chan *c) {
  int rc = mmf__os_waiter_open(c->hdr->id, "data", &c->data_w);
  if (rc)
    return rc;
  rc = mmf__os_waiter_open(c->hdr->id, "space", &c->space_w);
  if (rc)
    (void)mmf__os_waiter_close(&c->data_w);
  return rc;
}

static mmf_chan *chan_new(void) {
  mmf_chan *c = calloc(1, sizeof *c);
  if (c) {
    c->data_w.handle = -1;
    c->space_w.handle = -1;
    c->spin_ns = DEFAULT_SPIN_NS;
  }
  return c;
}

/* Fill the trusted copies from a validated header. */
static void chan_setup(mmf_chan *c, uint64_t cap, unsigned flags, uint64_t id) {
  c->ring = (unsigned char *)c->hdr + MMF_CHAN_HEADER_SIZE;
  c->cap = cap;
  c->mask = cap - 1;
  c->max_msg = cap / 2 - REC_HDR;
  c->flags = flags;
  c->key = (id ^ 0x9e3779b97f4a7c15ull) | 1; /* never 0: zeroed memory */
}

int mmf_chan_create(mmf_chan **out, mmf_map *map, uint64_t offset,
                    size_t size, unsigned flags) {
  static const char api[] = "mmf_chan_create";
  struct mmf__chan_hdr *h;
  mmf_chan *c;
  uint64_t cap, id;
  int rc;

  if (out)
    *out = NULL;
  if (!out || !map)
    return mmf__error(MMF_EINVAL, "%s: NULL %s", api, out ? "map" : "out");
  if (flags > MMF_CHAN_MPSC)
    return mmf__error(MMF_EINVAL, "%s: unknown flags 0x%x", api, flags);
  if (offset % 64)
    return mmf__error(MMF_EINVAL, "%s: offset %llu is not a multiple of 64",
                      api, (unsigned long long)offset);
  if (size < MMF_CHAN_MIN_SIZE)
    return mmf__error(MMF_EINVAL, "%s: a region of %zu bytes is smaller than "
                      "MMF_CHAN_MIN_SIZE (%u)", api, size,
                      (unsigned)MMF_CHAN_MIN_SIZE);
  for (cap = CHAN_MIN_CAP; cap * 2 <= size - MMF_CHAN_HEADER_SIZE &&
                           cap < CHAN_MAX_CAP;)
    cap *= 2;
  c = chan_new();
  if (!c)
    return mmf__error(MMF_ENOMEM, "%s: out of memory", api);
  rc = mmf_view_map(&c->view, map, offset, size, MMF_ACCESS_WRITE);
  if (rc)
    goto out_free;
  rc = mmf__os_random(&id, sizeof id);
  if (rc)
    goto out_unmap;
  h = c->hdr = mmf_view_data(c->view);
  atomic_store_explicit(&h->magic, 0, memory_order_relaxed);
  memset((unsigned char *)h + sizeof h->magic, 0,
         sizeof *h - sizeof h->magic);
  h->version = CHAN_VERSION;
  h->flags = flags;
  h->hdr_size = MMF_CHAN_HEADER_SIZE;
  h->capacity = cap;
  h->region_size = size;
  h->id = id;
  chan_setup(c, cap, flags, id);
  rc = open_waiters(c);
  if (rc)
    goto out_unmap;
  /* Openers check the magic first: everything above is visible by then. */
  atomic_store_explicit(&h->magic, CHAN_MAGIC, memory_order_release);
  *out = c;
  return 0;

out_unmap:
  (void)mmf_view_unmap(c->view);
out_free:
  free(c);
  return mmf__error_in(api, NULL, rc);
}

int mmf_chan_open(mmf_chan **out, mmf_map *map, uint64_t offset) {
  static const char api[] = "mmf_chan_open";
  struct mmf__chan_hdr *h;
  mmf_chan *c;
  uint64_t cap, region, avail;
  int rc;

  if (out)
    *out = NULL;
  if (!out || !map)
    return mmf__error(MMF_EINVAL, "%s: NULL %s", api, out ? "map" : "out");
  if (offset % 64)
    return mmf__error(MMF_EINVAL, "%s: offset %llu is not a multiple of 64",
                      api, (unsigned long long)offset);
  c = chan_new();
  if (!c)
    return mmf__error(MMF_ENOMEM, "%s: out of memory", api);
  /* Up to the end of the mapping: the header says how much is ours. */
  rc = mmf_view_map(&c->view, map, offset, 0, MMF_ACCESS_WRITE);
  if (rc)
    goto out_free;
  avail = mmf_view_size(c->view);
  h = c->hdr = mmf_view_data(c->view);
  rc = MMF_ECORRUPT;
  if (avail < MMF_CHAN_HEADER_SIZE) {
    corrupt("region smaller than a channel header", avail,
            MMF_CHAN_HEADER_SIZE);
    goto out_unmap;
  }
  if (atomic_load_explicit(&h->magic, memory_order_acquire) != CHAN_MAGIC) {
    mmf__error(MMF_ECORRUPT, "no channel at offset %llu (bad magic)",
               (unsigned long long)offset);
    goto out_unmap;
  }
  cap = h->capacity;
  region = h->region_size;
  if (h->version != CHAN_VERSION || h->hdr_size != MMF_CHAN_HEADER_SIZE ||
      h->flags > MMF_CHAN_MPSC) {
    corrupt("unknown version, header size or flags", h->version, h->flags);
    goto out_unmap;
  }
  if (cap < CHAN_MIN_CAP || cap > CHAN_MAX_CAP || (cap & (cap - 1)) ||
      region > avail || region < MMF_CHAN_HEADER_SIZE ||
      cap > region - MMF_CHAN_HEADER_SIZE) {
    corrupt("ring size does not fit the region", cap, region);
    goto out_unmap;
  }
  chan_setup(c, cap, h->flags, h->id);
  rc = open_waiters(c);
  if (rc)
    goto out_unmap;
  *out = c;
  return 0;

out_unmap:
  (void)mmf_view_unmap(c->view);
out_free:
  free(c);
  return mmf__error_in(api, NULL, rc);
}

int mmf_chan_close(mmf_chan *c) {
  int rc, r2, r3;
  if (!c)
    return 0;
  rc = mmf__os_waiter_close(&c->data_w);
  r2 = mmf__os_waiter_close(&c->space_w);
  r3 = mmf_view_unmap(c->view);
  free(c);
  if (!rc)
    rc = r2 ? r2 : r3;
  return rc ? mmf__error_in("mmf_chan_close", NULL, rc) : 0;
}

size_t mmf_chan_max_msg(const mmf_chan *c) {
  return c ? (size_t)c->max_msg : 0;
}

void mmf_chan_set_spin(mmf_chan *c, uint32_t spin_ns) {
  if (c)
    c->spin_ns = spin_ns;
}

/* ---- wake-ups -------------------------------------------------------------*/

/* After a change the other side may sleep waiting for: wake it if it
 * counted itself as a sleeper. The count is read with a read-modify-write
 * (adding 0), not a fence and a load: both sides then update the same
 * word, so either our read sees the sleeper's count or the sleeper's
 * increment reads ours and, synchronising with it, its re-check sees our
 * change. A locked add on a line this side owns costs far less than a
 * full fence (mfence), measured: see docs/BENCHMARKS.md. */
/* The change is made either way: a failed wake-up is MMF_EWAKE (mmf.h),
 * whose message says that the message was `done` all the same. */
static int wake(_Atomic uint32_t *seq, _Atomic uint32_t *waiters,
                mmf_os_waiter *w, const char *peer, const char *done) {
  uint32_t n = atomic_fetch_add_explicit(waiters, 0, memory_order_seq_cst);
  if (n == 0)
    return 0;
  atomic_fetch_add_explicit(seq, 1, memory_order_release);
  if (mmf__os_wake(w, (uint32_t *)seq, n) == 0)
    return 0;
  return mmf__error_recode(MMF_EWAKE, "the message was %s, but waking a "
                           "sleeping %s failed", done, peer);
}

/* ---- send -------------------------------------------------------------------*/

/* One attempt; MMF_EAGAIN is returned without recording an error (the
 * blocking loops call this often). */
static int send_once(mmf_chan *c, const void *msg, size_t len) {
  struct mmf__chan_hdr *h = c->hdr;
  uint64_t size, head, pad, need, pos;
  struct mmf__chan_rec *r;

  if (len > c->max_msg)
    return mmf__error(MMF_EMSGSIZE, "a message of %zu bytes is larger than "
                      "the channel's maximum (%llu)", len,
                      (unsigned long long)c->max_msg);
  size = rec_size(len);
  for (;;) {
    uint64_t idx;
    head = atomic_load_explicit(&h->head, memory_order_acquire);
    idx = head & c->mask;
    pad = c->cap - idx < size ? c->cap - idx : 0;
    need = pad + size;
    if (head < c->seen_tail || head - c->seen_tail > c->cap - need) {
      /* head, tail, head again: when head did not move (it only grows),
       * the pair is a consistent snapshot; otherwise another sender moved
       * it and we start over. (Checking a pair read at different moments
       * would see legitimate motion as corruption.) */
      uint64_t tail = atomic_load_explicit(&h->tail, memory_order_acquire);
      uint64_t again = atomic_load_explicit(&h->head, memory_order_acquire);
      if (again != head)
        continue;
      if (!positions_ok(c, head, tail))
        return corrupt("head/tail out of bounds", head, tail);
      c->seen_tail = tail;
      if (head - tail > c->cap - need)
        return MMF_EAGAIN;
    }
    if (head % 16)
      return corrupt("misaligned head", head, 0);
    if (c->flags == MMF_CHAN_SPSC) {
      atomic_store_explicit(&h->head, head + need, memory_order_relaxed);
      break;
    }
    if (atomic_compare_exchange_weak_explicit(&h->head, &head, head + need,
                                              memory_order_acq_rel,
                                              memory_order_relaxed))
      break;
  }
  pos = head;
  if (pad) {
    r = rec_at(c, pos);
    r->len = (uint32_t)(pad - REC_HDR);
    r->kind = REC_PAD;
    atomic_store_explicit(&r->commit, pos ^ c->key, memory_order_release);
    pos += pad;
  }
  r = rec_at(c, pos);
  r->len = (uint32_t)len;
  r->kind = REC_MSG;
  if (len)
    memcpy(r + 1, msg, len);
  atomic_store_explicit(&r->commit, pos ^ c->key, memory_order_release);
  return wake(&h->data_seq, &h->data_waiters, &c->data_w, "receiver", "sent");
}

/* MMF_EAGAIN from try_send / try_recv, recorded as any failure; but busy
 * pollers call these in a loop, and formatting the message each time
 * (vsnprintf) would cost more than the poll: when this thread's last error
 * is already exactly this one, it is left as it is. */
static int again(const char *msg) {
  if (mmf_last_error() != MMF_EAGAIN ||
      strcmp(mmf_last_error_message(), msg) != 0)
    mmf__error(MMF_EAGAIN, "%s", msg);
  return MMF_EAGAIN;
}

int mmf_chan_try_send(mmf_chan *c, const void *msg, size_t len) {
  int rc;
  if (!c || (!msg && len))
    return mmf__error(MMF_EINVAL, "mmf_chan_try_send: NULL %s",
                      c ? "msg" : "chan");
  rc = send_once(c, msg, len);
  if (rc == MMF_EAGAIN)
    return again("mmf_chan_try_send: the channel is full");
  return rc ? mmf__error_in("mmf_chan_try_send", NULL, rc) : 0;
}

/* Spin for c->spin_ns, then sleep on `seq` until `attempt` stops giving
 * MMF_EAGAIN or the timeout passes. */
static int wait_until(mmf_chan *c, int (*attempt)(mmf_chan *, void *),
                      void *arg, _Atomic uint32_t *seq,
                      _Atomic uint32_t *waiters, mmf_os_waiter *w,
                      int timeout_ms) {
  uint64_t start = 0, deadline = 0;
  int rc = attempt(c, arg);
  if (rc != MMF_EAGAIN)
    return rc;
  if (timeout_ms >= 0 || c->spin_ns) {
    start = mmf__os_now_ns();
    deadline = start + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms) * 1000000u;
  }
  if (c->spin_ns) {
    uint64_t spin_end = start + c->spin_ns;
    unsigned i = 0;
    if (timeout_ms >= 0 && deadline < spin_end)
      spin_end = deadline; /* never spin past the caller's limit */
    do {
      cpu_relax();
      rc = attempt(c, arg);
      if (rc != MMF_EAGAIN)
        return rc;
    } while ((++i & 63) || mmf__os_now_ns() < spin_end);
  }
  for (;;) {
    uint32_t s;
    int64_t left = -1;
    if (timeout_ms >= 0) {
      uint64_t t = mmf__os_now_ns();
      if (t >= deadline)
        return mmf__error(MMF_ETIMEDOUT, "timed out after %d ms", timeout_ms);
      left = (int64_t)((deadline - t + 999999) / 1000000);
    }
    atomic_fetch_add_explicit(waiters, 1, memory_order_seq_cst);
    atomic_thread_fence(memory_order_seq_cst);
    s = atomic_load_explicit(seq, memory_order_acquire);
    rc = attempt(c, arg);
    if (rc != MMF_EAGAIN) {
      atomic_fetch_sub_explicit(waiters, 1, memory_order_relaxed);
      return rc;
    }
    rc = mmf__os_wait(w, (uint32_t *)seq, s, left);
    atomic_fetch_sub_explicit(waiters, 1, memory_order_relaxed);
    if (rc != 0 && rc != MMF_ETIMEDOUT) /* the OS's wait failed */
      return mmf__error_recode(MMF_EOS, "waiting for the other side failed");
    /* woken, spuriously or not, or timed out: the loop re-checks */
    rc = attempt(c, arg);
    if (rc != MMF_EAGAIN)
      return rc;
  }
}

struct send_args {
  const void *msg;
  size_t len;
};

static int send_attempt(mmf_chan *c, void *arg) {
  struct send_args *a = arg;
  return send_once(c, a->msg, a->len);
}

int mmf_chan_send(mmf_chan *c, const void *msg, size_t len, int timeout_ms) {
  struct send_args a;
  int rc;
  if (!c || (!msg && len))
    return mmf__error(MMF_EINVAL, "mmf_chan_send: NULL %s",
                      c ? "msg" : "chan");
  a.msg = msg;
  a.len = len;
  rc = wait_until(c, send_attempt, &a, &c->hdr->space_seq,
                  &c->hdr->space_waiters, &c->space_w, timeout_ms);
  return rc ? mmf__error_in("mmf_chan_send", NULL, rc) : 0;
}

/* ---- receive ----------------------------------------------------------------*/

static int recv_once(mmf_chan *c, void *buf, size_t cap, size_t *len) {
  struct mmf__chan_hdr *h = c->hdr;
  int skipped = 0;
  for (;;) {
    uint64_t tail = atomic_load_explicit(&h->tail, memory_order_relaxed);
    uint64_t idx = tail & c->mask, size, n;
    struct mmf__chan_rec *r = (struct mmf__chan_rec *)(c->ring + idx);
    uint32_t kind;

    if (tail % 16)
      return corrupt("misaligned tail", tail, 0);
    if (atomic_load_explicit(&r->commit, memory_order_acquire) !=
        (tail ^ c->key)) {
      /* Empty, or the next record is not complete yet. head is not needed
       * to know that, and nothing is read through it; it is checked for
       * corruption on the first empty poll and then every
       * HEAD_CHECK_EVERY-th: reading it on each poll pulls the line the
       * senders write into this core every time (busy-poll round trip
       * 2.0x -> 1.25x the bare flag, measured). */
      if (c->empty_polls++ % HEAD_CHECK_EVERY == 0) {
        uint64_t head = atomic_load_explicit(&h->head, memory_order_acquire);
        if (!positions_ok(c, head, tail))
          return corrupt("head/tail out of bounds", head, tail);
      }
      return MMF_EAGAIN;
    }
    /* Read once: the shared copy may change under us. */
    n = ((volatile struct mmf__chan_rec *)r)->len;
    kind = ((volatile struct mmf__chan_rec *)r)->kind;
    if (kind == REC_PAD) {
      if (n != c->cap - idx - REC_HDR || skipped)
        return corrupt("bad padding record", n, idx);
      size = c->cap - idx;
    } else if (kind == REC_MSG) {
      if (n > c->max_msg)
        return corrupt("record length larger than the ring allows", n,
                       c->max_msg);
      size = rec_size(n);
      if (idx + size > c->cap)
        return corrupt("record crosses the end of the ring", idx, n);
    } else {
      return corrupt("unknown record kind", kind, idx);
    }
    /* The record is inside the ring: nothing here can read out of
     * bounds. Whether it also lies inside what senders reserved is not
     * checked here: that would read head, a second cache miss per message
     * (the round trip's largest cost after the record itself). A length
     * that lies about it moves tail past head, which the next call finds
     * (head/tail out of bounds). */
    if (kind == REC_PAD) {
      atomic_store_explicit(&h->tail, tail + size, memory_order_release);
      skipped = 1;
      continue;
    }
    *len = (size_t)n;
    if (n > cap)
      return mmf__error(MMF_EMSGSIZE, "the next message has %llu bytes, the "
                        "buffer %zu", (unsigned long long)n, cap);
    if (n)
      memcpy(buf, r + 1, (size_t)n);
    atomic_store_explicit(&h->tail, tail + size, memory_order_release);
    return wake(&h->space_seq, &h->space_waiters, &c->space_w, "sender",
                "received");
  }
}

int mmf_chan_try_recv(mmf_chan *c, void *buf, size_t cap, size_t *len) {
  size_t got = 0;
  int rc;
  if (len)
    *len = 0;
  if (!c || !len || (!buf && cap))
    return mmf__error(MMF_EINVAL, "mmf_chan_try_recv: NULL %s",
                      !c ? "chan" : !len ? "len" : "buf");
  rc = recv_once(c, buf, cap, &got);
  *len = got;
  if (rc == MMF_EAGAIN)
    return again("mmf_chan_try_recv: the channel is empty");
  return rc ? mmf__error_in("mmf_chan_try_recv", NULL, rc) : 0;
}

struct recv_args {
  void *buf;
  size_t cap;
  size_t got;
};

static int recv_attempt(mmf_chan *c, void *arg) {
  struct recv_args *a = arg;
  return recv_once(c, a->buf, a->cap, &a->got);
}

int mmf_chan_recv(mmf_chan *c, void *buf, size_t cap, size_t *len,
                  int timeout_ms) {
  struct recv_args a;
  int rc;
  if (len)
    *len = 0;
  if (!c || !len || (!buf && cap))
    return mmf__error(MMF_EINVAL, "mmf_chan_recv: NULL %s",
                      !c ? "chan" : !len ? "len" : "buf");
  a.buf = buf;
  a.cap = cap;
  a.got = 0;
  rc = wait_until(c, recv_attempt, &a, &c->hdr->data_seq,
                  &c->hdr->data_waiters, &c->data_w, timeout_ms);
  *len = a.got;
  return rc ? mmf__error_in("mmf_chan_recv", NULL, rc) : 0;
}
