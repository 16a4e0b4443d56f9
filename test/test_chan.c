/* test_chan.c -- the shared-memory channel between this program and
 * children (`test_chan --child MODE PATH [ARG]`, started with
 * th_spawn_self) over a file mapping: SPSC ordering and integrity across
 * many wrap-arounds, two producer processes, blocking receive and send,
 * garbage in the shared header and records (MMF_ECORRUPT, no crash),
 * message sizes, and every OS call of create/open/close failing in turn. */
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
#include "internal.h" /* struct mmf__chan_hdr, mmf__fault_* */
#include "mmf.h"

#define RING 16384                               /* ring bytes */
#define REGION (MMF_CHAN_HEADER_SIZE + RING)      /* the channel's region */
#define CHAN_OFF 4096                             /* where it lives */
#define FILE_LEN (CHAN_OFF + 2 * REGION)          /* room for a second one */
#define MAX_BODY 3000                             /* messages 16..16+MAX_BODY */
#define N_MSGS 20000

/* A test message: a header that names it, then a body derived from it. */
struct msg_head {
  uint32_t producer;
  uint32_t seq;
  uint32_t len; /* whole message */
  uint32_t sum; /* of the body */
};

static uint32_t xorshift(uint32_t x) {
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return x;
}

static uint32_t body_sum(const unsigned char *b, size_t n) {
  uint32_t s = 2166136261u;
  for (size_t i = 0; i < n; i++)
    s = (s ^ b[i]) * 16777619u;
  return s;
}

/* Message `seq` of `producer` into buf; returns its length. */
static size_t make_msg(unsigned char *buf, uint32_t producer, uint32_t seq) {
  struct msg_head h;
  uint32_t r = xorshift(seq * 2654435761u + producer + 1);
  size_t body = r % (MAX_BODY + 1);
  if (seq % 97 == 0)
    body = 0;
  th_fill(buf + sizeof h, body, r | 1);
  h.producer = producer;
  h.seq = seq;
  h.len = (uint32_t)(sizeof h + body);
  h.sum = body_sum(buf + sizeof h, body);
  memcpy(buf, &h, sizeof h);
  return sizeof h + body;
}

/* 0 when buf[0..n) is message `seq` of `producer`, intact. */
static int check_msg(const unsigned char *buf, size_t n, uint32_t producer,
                     uint32_t seq) {
  unsigned char want[sizeof(struct msg_head) + MAX_BODY];
  size_t wn = make_msg(want, producer, seq);
  if (n != wn) {
    print_error("message %u of %u: %zu bytes, want %zu\n", seq, producer, n,
                wn);
    return -1;
  }
  return memcmp(buf, want, n) == 0 ? 0 : -1;
}

static const char *make_file(const char *name) {
  const char *p = th_path(name);
  static unsigned char zero[FILE_LEN];
  assert_int_equal(th_write_file(p, zero, sizeof zero), 0);
  return p;
}

/* `path` is a file, or "shm:NAME" for a named shared-memory object (the
 * channel lives in any read-write mapping). */
static mmf_map *open_map(const char *path) {
  mmf_map *m = NULL;
  int rc = strncmp(path, "shm:", 4) == 0
               ? mmf_shm_open(&m, path + 4, MMF_PROT_READWRITE, 0)
               : mmf_map_open(&m, path, MMF_PROT_READWRITE, 0, 0);
  if (rc != 0) {
    fprintf(stderr, "open_map %s: %s\n", path, mmf_last_error_message());
    return NULL;
  }
  return m;
}

static intptr_t spawn(const char *mode, const char *path, const char *arg) {
  const char *args[] = {"--child", mode, path, arg, NULL};
  intptr_t child = th_spawn_self(args);
  assert_true(child > 0);
  return child;
}

/* ---- children ----------------------------------------------------------------*/

/* `send PATH PRODUCER`: send N_MSGS messages with blocking sends. */
static int child_send(const char *path, uint32_t producer) {
  unsigned char buf[sizeof(struct msg_head) + MAX_BODY];
  mmf_map *m = open_map(path);
  mmf_chan *c;
  if (!m || mmf_chan_open(&c, m, CHAN_OFF) != 0)
    return 1;
  for (uint32_t i = 0; i < N_MSGS; i++) {
    size_t n = make_msg(buf, producer, i);
    if (mmf_chan_send(c, buf, n, MMF_CHAN_FOREVER) != 0) {
      fprintf(stderr, "send %u: %s\n", i, mmf_last_error_message());
      return 2;
    }
  }
  mmf_chan_close(c);
  mmf_map_close(m);
  return 0;
}

/* Sleep about `ms` portably: wait for a message that never comes on a
 * second channel of our own. */
static int nap(mmf_map *m, int ms) {
  mmf_chan *idle;
  size_t n;
  int rc;
  if (mmf_chan_create(&idle, m, CHAN_OFF + REGION, REGION, 0) != 0)
    return -1;
  rc = mmf_chan_recv(idle, NULL, 0, &n, ms);
  mmf_chan_close(idle);
  return rc == MMF_ETIMEDOUT ? 0 : -1;
}

/* `late PATH`: wait a while, then send one message. */
static int child_late(const char *path) {
  mmf_map *m = open_map(path);
  mmf_chan *c;
  if (!m || mmf_chan_open(&c, m, CHAN_OFF) != 0)
    return 1;
  if (nap(m, 300) != 0)
    return 2;
  if (mmf_chan_send(c, "wake up", 7, MMF_CHAN_FOREVER) != 0)
    return 3;
  mmf_chan_close(c);
  mmf_map_close(m);
  return 0;
}

/* `drain PATH COUNT`: wait a while, then receive COUNT messages of 100
 * bytes, each filled with its index. */
static int child_drain(const char *path, long count) {
  unsigned char buf[256];
  mmf_map *m = open_map(path);
  mmf_chan *c;
  if (!m || mmf_chan_open(&c, m, CHAN_OFF) != 0)
    return 1;
  if (nap(m, 300) != 0)
    return 2;
  for (long i = 0; i < count; i++) {
    size_t n;
    if (mmf_chan_recv(c, buf, sizeof buf, &n, MMF_CHAN_FOREVER) != 0)
      return 3;
    if (n != 100 || buf[0] != (unsigned char)i || buf[99] != (unsigned char)i)
      return 4;
  }
  mmf_chan_close(c);
  mmf_map_close(m);
  return 0;
}

/* ---- tests: across processes ---------------------------------------------------*/

static void spsc_child_to_parent_keeps_order_and_bytes(void **state) {
  const char *p = make_file("spsc");
  unsigned char buf[sizeof(struct msg_head) + MAX_BODY];
  mmf_map *m = open_map(p);
  mmf_chan *c;
  intptr_t child;
  uint64_t bytes = 0;
  (void)state;
  assert_non_null(m);
  TH_OK(mmf_chan_create(&c, m, CHAN_OFF, REGION, MMF_CHAN_SPSC));
  assert_true(mmf_chan_max_msg(c) >= sizeof buf);
  child = spawn("send", p, "1");
  for (uint32_t i = 0; i < N_MSGS; i++) {
    size_t n;
    TH_OK(mmf_chan_recv(c, buf, sizeof buf, &n, MMF_CHAN_FOREVER));
    assert_int_equal(check_msg(buf, n, 1, i), 0);
    bytes += n;
  }
  assert_int_equal(th_wait_child(child), 0);
  /* Nothing more, and the ring went round many times. */
  {
    size_t n;
    TH_EXPECT_ERR(mmf_chan_try_recv(c, buf, sizeof buf, &n), MMF_EAGAIN,
                  "mmf_chan_try_recv");
  }
  assert_true(bytes > 100 * (uint64_t)RING);
  TH_OK(mmf_chan_close(c));
  TH_OK(mmf_map_close(m));
}

/* Over a named (transient) shared-memory object, as a user would set up a
 * channel between unrelated processes: the producers find it by name. */
static void mpsc_two_producer_processes_lose_and_duplicate_nothing(
    void **state) {
  char p[64];
  unsigned char buf[sizeof(struct msg_head) + MAX_BODY];
  uint32_t next[3] = {0, 0, 0};
  mmf_map *m = NULL;
  mmf_chan *c;
  intptr_t a, b;
  (void)state;
  snprintf(p, sizeof p, "shm:test-chan-mpsc-%ld", (long)th_pid());
  TH_OK(mmf_shm_create(&m, p + 4, FILE_LEN, MMF_SHM_TRANSIENT));
  TH_OK(mmf_chan_create(&c, m, CHAN_OFF, REGION, MMF_CHAN_MPSC));
  a = spawn("send", p, "1");
  b = spawn("send", p, "2");
  for (uint32_t i = 0; i < 2 * N_MSGS; i++) {
    struct msg_head h;
    size_t n;
    TH_OK(mmf_chan_recv(c, buf, sizeof buf, &n, MMF_CHAN_FOREVER));
    assert_true(n >= sizeof h);
    memcpy(&h, buf, sizeof h);
    assert_true(h.producer == 1 || h.producer == 2);
    /* Each producer's messages arrive in its order, none missing. */
    assert_int_equal(h.seq, next[h.producer]);
    assert_int_equal(check_msg(buf, n, h.producer, h.seq), 0);
    next[h.producer]++;
  }
  assert_int_equal(th_wait_child(a), 0);
  assert_int_equal(th_wait_child(b), 0);
  assert_int_equal(next[1], N_MSGS);
  assert_int_equal(next[2], N_MSGS);
  TH_OK(mmf_chan_close(c));
  TH_OK(mmf_map_close(m));
  /* Transient: the channel's memory went with its last holder. */
  TH_EXPECT_ERR(mmf_shm_open(&m, p + 4, MMF_PROT_READWRITE, 0), MMF_ENOENT,
                "mmf_shm_open");
}

static void blocking_recv_wakes_when_another_process_sends(void **state) {
  const char *p = make_file("wake");
  char buf[16];
  size_t n = 0;
  mmf_map *m = open_map(p);
  mmf_chan *c;
  intptr_t child;
  (void)state;
  assert_non_null(m);
  TH_OK(mmf_chan_create(&c, m, CHAN_OFF, REGION, MMF_CHAN_SPSC));
  mmf_chan_set_spin(c, 0); /* straight to sleep */
  child = spawn("late", p, NULL);
  TH_OK(mmf_chan_recv(c, buf, sizeof buf, &n, MMF_CHAN_FOREVER));
  assert_int_equal(n, 7);
  assert_memory_equal(buf, "wake up", 7);
  assert_int_equal(th_wait_child(child), 0);
  TH_OK(mmf_chan_close(c));
  TH_OK(mmf_map_close(m));
}

static void full_ring_refuses_then_blocking_send_waits_for_room(void **state) {
  const char *p = make_file("full");
  unsigned char msg[100];
  char count[32];
  long sent = 0;
  mmf_map *m = open_map(p);
  mmf_chan *c;
  intptr_t child;
  int rc;
  (void)state;
  assert_non_null(m);
  TH_OK(mmf_chan_create(&c, m, CHAN_OFF, MMF_CHAN_MIN_SIZE, MMF_CHAN_SPSC));
  for (;;) {
    memset(msg, (int)(unsigned char)sent, sizeof msg);
    rc = mmf_chan_try_send(c, msg, sizeof msg);
    if (rc != 0)
      break;
    sent++;
  }
  TH_EXPECT_ERR(rc, MMF_EAGAIN, "mmf_chan_try_send");
  assert_int_equal(sent, 1024 / (16 + 112)); /* header + padded body */
  TH_EXPECT_ERR(mmf_chan_send(c, msg, sizeof msg, 20), MMF_ETIMEDOUT,
                "mmf_chan_send");
  snprintf(count, sizeof count, "%ld", sent + 1);
  child = spawn("drain", p, count);
  mmf_chan_set_spin(c, 0);
  memset(msg, (int)(unsigned char)sent, sizeof msg);
  TH_OK(mmf_chan_send(c, msg, sizeof msg, MMF_CHAN_FOREVER));
  assert_int_equal(th_wait_child(child), 0);
  TH_OK(mmf_chan_close(c));
  TH_OK(mmf_map_close(m));
}

/* ---- tests: in one process -------------------------------------------------------*/

typedef struct fixture {
  const char *path;
  mmf_map *map;
  mmf_view *view;
  struct mmf__chan_hdr *hdr;
  unsigned char *ring;
} fixture;

static void fixture_open(fixture *f, const char *name, unsigned flags,
                         mmf_chan **c) {
  f->path = make_file(name);
  f->map = open_map(f->path);
  assert_non_null(f->map);
  TH_OK(mmf_chan_create(c, f->map, CHAN_OFF, REGION, flags));
  TH_OK(mmf_view_map(&f->view, f->map, CHAN_OFF, REGION, MMF_ACCESS_WRITE));
  f->hdr = mmf_view_data(f->view);
  f->ring = (unsigned char *)f->hdr + MMF_CHAN_HEADER_SIZE;
}

static void fixture_close(fixture *f) {
  TH_OK(mmf_view_unmap(f->view));
  TH_OK(mmf_map_close(f->map));
}

static void sizes_zero_max_and_too_big(void **state) {
  fixture f;
  mmf_chan *c;
  unsigned char *big, small[8];
  size_t max, n = 0;
  (void)state;
  fixture_open(&f, "sizes", MMF_CHAN_SPSC, &c);
  max = mmf_chan_max_msg(c);
  assert_int_equal(max, RING / 2 - 16);
  big = malloc(max + 1);
  assert_non_null(big);
  th_fill(big, max + 1, 5);
  TH_EXPECT_ERR(mmf_chan_try_send(c, big, max + 1), MMF_EMSGSIZE,
                "mmf_chan_try_send");
  TH_EXPECT_ERR(mmf_chan_send(c, big, max + 1, 0), MMF_EMSGSIZE,
                "mmf_chan_send");
  TH_OK(mmf_chan_try_send(c, NULL, 0));
  TH_OK(mmf_chan_try_send(c, big, max));
  TH_OK(mmf_chan_try_recv(c, small, sizeof small, &n));
  assert_int_equal(n, 0);
  /* Too small a buffer: told the size, the message stays. */
  TH_EXPECT_ERR(mmf_chan_try_recv(c, small, sizeof small, &n), MMF_EMSGSIZE,
                "mmf_chan_try_recv");
  assert_int_equal(n, max);
  {
    unsigned char *got = malloc(max);
    assert_non_null(got);
    TH_OK(mmf_chan_recv(c, got, max, &n, 0));
    assert_int_equal(n, max);
    assert_memory_equal(got, big, max);
    free(got);
  }
  TH_EXPECT_ERR(mmf_chan_recv(c, small, sizeof small, &n, 10), MMF_ETIMEDOUT,
                "mmf_chan_recv");
  /* Wrap-around in one process: sizes that never divide the ring. */
  for (uint32_t i = 0; i < 2000; i++) {
    size_t len = (i * 37u) % 1500u, got_n;
    unsigned char out[1500];
    th_fill(big, len, i + 1);
    TH_OK(mmf_chan_try_send(c, big, len));
    TH_OK(mmf_chan_try_recv(c, out, sizeof out, &got_n));
    assert_int_equal(got_n, len);
    assert_memory_equal(out, big, len);
  }
  free(big);
  TH_OK(mmf_chan_close(c));
  fixture_close(&f);
}

/* The other side counted itself as asleep and waking it fails: the send or
 * receive is done all the same, and says so (MMF_EWAKE, mmf.h); nothing is
 * lost or delivered twice. */
static void failed_wake_ups_still_deliver_the_message(void **state) {
  fixture f;
  mmf_chan *c;
  unsigned char out[64];
  size_t n = 0;
  (void)state;
  fixture_open(&f, "wakefail", MMF_CHAN_SPSC, &c);
  TH_OK(mmf_chan_try_send(c, "first", 5));
  /* A sender asleep waiting for room; the receive's wake-up fails. */
  atomic_store(&f.hdr->space_waiters, 1);
  mmf__fault_arm(1);
  TH_EXPECT_ERR(mmf_chan_try_recv(c, out, sizeof out, &n), MMF_EWAKE,
                "the message was received");
  assert_true(mmf__fault_arm(0));
  assert_int_equal(n, 5);
  assert_memory_equal(out, "first", 5);
  atomic_store(&f.hdr->space_waiters, 0);
  TH_EXPECT_ERR(mmf_chan_try_recv(c, out, sizeof out, &n), MMF_EAGAIN,
                "mmf_chan_try_recv");
  /* A receiver asleep; the send's wake-up fails; the message is queued. */
  atomic_store(&f.hdr->data_waiters, 1);
  mmf__fault_arm(1);
  TH_EXPECT_ERR(mmf_chan_send(c, "second", 6, 0), MMF_EWAKE,
                "the message was sent");
  assert_true(mmf__fault_arm(0));
  atomic_store(&f.hdr->data_waiters, 0);
  TH_OK(mmf_chan_try_recv(c, out, sizeof out, &n));
  assert_int_equal(n, 6);
  assert_memory_equal(out, "second", 6);
  TH_EXPECT_ERR(mmf_chan_try_recv(c, out, sizeof out, &n), MMF_EAGAIN,
                "mmf_chan_try_recv");
  TH_OK(mmf_chan_close(c));
  fixture_close(&f);
}

/* The OS's wait fails (fault injection): a blocking send or receive says
 * MMF_EOS, and counts itself no longer as a sleeper. */
static void failed_waits_are_eos_and_leave_no_sleeper(void **state) {
  fixture f;
  mmf_chan *c;
  unsigned char out[64];
  size_t n = 0;
  unsigned faults = 0;
  (void)state;
  fixture_open(&f, "waitfail", MMF_CHAN_SPSC, &c);
  mmf_chan_set_spin(c, 0);
  for (unsigned long k = 1; k < 20; k++) {
    int rc;
    mmf__fault_arm(k);
    rc = mmf_chan_recv(c, out, sizeof out, &n, 20); /* empty: it waits */
    if (!mmf__fault_arm(0)) {
      TH_EXPECT_ERR(rc, MMF_ETIMEDOUT, "mmf_chan_recv");
      break;
    }
    faults++;
    TH_EXPECT_ERR(rc, MMF_EOS, "mmf_chan_recv");
    assert_int_equal(atomic_load(&f.hdr->data_waiters), 0);
  }
  assert_true(faults >= 1);
  /* Full ring: the send waits for room. */
  while (mmf_chan_try_send(c, out, sizeof out) == 0)
    ;
  mmf__fault_arm(1);
  TH_EXPECT_ERR(mmf_chan_send(c, out, sizeof out, 20), MMF_EOS,
                "mmf_chan_send");
  assert_true(mmf__fault_arm(0));
  assert_int_equal(atomic_load(&f.hdr->space_waiters), 0);
  TH_OK(mmf_chan_close(c));
  fixture_close(&f);
}

static void bad_arguments_are_einval(void **state) {
  fixture f;
  mmf_chan *c, *d = (mmf_chan *)1;
  mmf_map *ro;
  size_t n;
  (void)state;
  fixture_open(&f, "args", MMF_CHAN_SPSC, &c);
  TH_EXPECT_ERR(mmf_chan_create(NULL, f.map, 0, REGION, 0), MMF_EINVAL,
                "mmf_chan_create");
  TH_EXPECT_ERR(mmf_chan_create(&d, f.map, 8, REGION, 0), MMF_EINVAL,
                "mmf_chan_create");
  assert_null(d);
  TH_EXPECT_ERR(mmf_chan_create(&d, f.map, 0, 100, 0), MMF_EINVAL,
                "mmf_chan_create");
  TH_EXPECT_ERR(mmf_chan_create(&d, f.map, 0, REGION, 7), MMF_EINVAL,
                "mmf_chan_create");
  TH_EXPECT_ERR(mmf_chan_create(&d, f.map, FILE_LEN - 4096, REGION, 0),
                MMF_ERANGE, "mmf_chan_create");
  TH_EXPECT_ERR(mmf_chan_open(&d, NULL, 0), MMF_EINVAL, "mmf_chan_open");
  TH_EXPECT_ERR(mmf_chan_try_send(NULL, "x", 1), MMF_EINVAL,
                "mmf_chan_try_send");
  TH_EXPECT_ERR(mmf_chan_try_recv(c, NULL, 1, &n), MMF_EINVAL,
                "mmf_chan_try_recv");
  TH_OK(mmf_map_open(&ro, f.path, MMF_PROT_READ, 0, 0));
  TH_EXPECT_ERR(mmf_chan_open(&d, ro, CHAN_OFF), MMF_EPROT, "mmf_chan_open");
  TH_OK(mmf_map_close(ro));
  assert_int_equal(mmf_chan_close(NULL), 0);
  TH_OK(mmf_chan_close(c));
  fixture_close(&f);
}

/* Open must refuse a header that does not describe a channel in the
 * region; each case is put back afterwards. */
static void corrupt_header_is_refused_by_open(void **state) {
  fixture f;
  mmf_chan *c, *d;
  struct mmf__chan_hdr saved;
  (void)state;
  fixture_open(&f, "corrupt-open", MMF_CHAN_MPSC, &c);
  saved = *f.hdr;
  TH_OK(mmf_chan_open(&d, f.map, CHAN_OFF));
  TH_OK(mmf_chan_close(d));
#define REFUSED(field, value)                                                  \
  do {                                                                         \
    f.hdr->field = (value);                                                    \
    d = (mmf_chan *)1;                                                         \
    TH_EXPECT_ERR(mmf_chan_open(&d, f.map, CHAN_OFF), MMF_ECORRUPT,           \
                  "mmf_chan_open");                                            \
    assert_null(d);                                                            \
    memcpy(f.hdr, &saved, sizeof saved);                                       \
  } while (0)
  REFUSED(magic, 0x1234);
  REFUSED(version, 99);
  REFUSED(hdr_size, 64);
  REFUSED(flags, 0xff);
  REFUSED(capacity, RING + 16);           /* not a power of two */
  REFUSED(capacity, (uint64_t)RING * 2);  /* larger than the region */
  REFUSED(capacity, 1ull << 62);
  REFUSED(capacity, 0);
  REFUSED(region_size, FILE_LEN);          /* past the mapping */
  REFUSED(region_size, 100);
#undef REFUSED
  /* An empty region (no channel ever made there). */
  TH_EXPECT_ERR(mmf_chan_open(&d, f.map, 0), MMF_ECORRUPT, "mmf_chan_open");
  TH_OK(mmf_chan_close(c));
  fixture_close(&f);
}

/* Garbage in the moving parts: the receiver and the sender say
 * MMF_ECORRUPT and never touch memory outside the ring (ASan checks the
 * heap side; the ring's neighbours here are the file's other bytes, which
 * must stay as they were). */
/* A receiver polling an empty ring checks head on its first empty poll and
 * then every 64th (mmf.h): a garbage head is reported within 65 polls,
 * and every poll before that says only "empty". */
static void expect_corrupt_soon(mmf_chan *c, unsigned char *buf, size_t cap) {
  size_t n;
  for (int i = 0; i <= 64; i++) {
    int rc = mmf_chan_try_recv(c, buf, cap, &n);
    if (rc == MMF_ECORRUPT) {
      assert_non_null(strstr(mmf_last_error_message(), "mmf_chan_try_recv"));
      return;
    }
    assert_int_equal(rc, MMF_EAGAIN);
  }
  fail_msg("a corrupt head went unreported for 65 empty polls");
}

static void corrupt_positions_and_records_give_ecorrupt(void **state) {
  static const unsigned flags[2] = {MMF_CHAN_SPSC, MMF_CHAN_MPSC};
  for (int k = 0; k < 2; k++) {
    fixture f;
    mmf_chan *c;
    unsigned char buf[RING];
    struct mmf__chan_rec *r;
    size_t n;
    uint64_t head, tail;
    (void)state;
    fixture_open(&f, k ? "corrupt-mp" : "corrupt-sp", flags[k], &c);
    /* A few messages so tail is not at 0. */
    for (int i = 0; i < 5; i++) {
      TH_OK(mmf_chan_try_send(c, "hello, world", 12));
      TH_OK(mmf_chan_try_recv(c, buf, sizeof buf, &n));
    }
    /* Garbage head while the ring is empty: both sides notice. */
    head = atomic_load(&f.hdr->head);
    tail = atomic_load(&f.hdr->tail);
    atomic_store(&f.hdr->head, tail + 4 * RING);     /* beyond capacity */
    TH_EXPECT_ERR(mmf_chan_try_send(c, "x", 1), MMF_ECORRUPT,
                  "mmf_chan_try_send");
    expect_corrupt_soon(c, buf, sizeof buf);
    /* Behind the tail: the receiver notices; a sender only compares with
     * the tail it last read (reading it on every send would cost a cache
     * miss per message) and stays inside the ring either way. */
    atomic_store(&f.hdr->head, tail - 16);
    expect_corrupt_soon(c, buf, sizeof buf);
    atomic_store(&f.hdr->head, head);
    atomic_store(&f.hdr->tail, tail + 8);            /* misaligned */
    TH_EXPECT_ERR(mmf_chan_try_recv(c, buf, sizeof buf, &n), MMF_ECORRUPT,
                  "mmf_chan_try_recv");
    atomic_store(&f.hdr->tail, tail);

    /* Garbage in a complete record. */
    TH_OK(mmf_chan_try_send(c, "0123456789", 10));
    r = (struct mmf__chan_rec *)(f.ring + (tail % RING));
    r->len = 0xFFFFFFF0u;                             /* larger than the ring */
    TH_EXPECT_ERR(mmf_chan_try_recv(c, buf, sizeof buf, &n), MMF_ECORRUPT,
                  "mmf_chan_try_recv");
    r->len = RING / 2 - 8;                   /* over the limit, by a little */
    TH_EXPECT_ERR(mmf_chan_try_recv(c, buf, sizeof buf, &n), MMF_ECORRUPT,
                  "mmf_chan_try_recv");
    r->len = 10;
    r->kind = 77;                                     /* unknown kind */
    TH_EXPECT_ERR(mmf_chan_try_recv(c, buf, sizeof buf, &n), MMF_ECORRUPT,
                  "mmf_chan_try_recv");
    r->kind = 2;                                      /* a bad padding */
    TH_EXPECT_ERR(mmf_chan_try_recv(c, buf, sizeof buf, &n), MMF_ECORRUPT,
                  "mmf_chan_try_recv");
    r->kind = 1;
    atomic_store(&f.hdr->tail, tail + 3);            /* misaligned */
    TH_EXPECT_ERR(mmf_chan_try_recv(c, buf, sizeof buf, &n), MMF_ECORRUPT,
                  "mmf_chan_try_recv");
    atomic_store(&f.hdr->tail, tail);
    /* Put back, it works again. */
    TH_OK(mmf_chan_try_recv(c, buf, sizeof buf, &n));
    assert_int_equal(n, 10);
    assert_memory_equal(buf, "0123456789", 10);
    /* A length inside the limit but past what was sent: the receiver takes
     * that many bytes of the ring (never outside it); tail then lies past
     * head, which the receiver's next head check reports (a sender, when it
     * next reads tail). */
    TH_OK(mmf_chan_try_send(c, "abc", 3));
    tail = atomic_load(&f.hdr->tail);
    r = (struct mmf__chan_rec *)(f.ring + (tail % RING));
    r->len = 4000;
    TH_OK(mmf_chan_try_recv(c, buf, sizeof buf, &n));
    assert_int_equal(n, 4000);
    expect_corrupt_soon(c, buf, sizeof buf);
    atomic_store(&f.hdr->tail, atomic_load(&f.hdr->head)); /* repair */
    /* A record whose commit word is garbage just looks not yet sent. */
    TH_OK(mmf_chan_try_send(c, "abc", 3));
    tail = atomic_load(&f.hdr->tail);
    r = (struct mmf__chan_rec *)(f.ring + (tail % RING));
    atomic_store(&r->commit, 12345);
    TH_EXPECT_ERR(mmf_chan_try_recv(c, buf, sizeof buf, &n), MMF_EAGAIN,
                  "mmf_chan_try_recv");
    TH_OK(mmf_chan_close(c));
    fixture_close(&f);
  }
}

/* ---- fault injection ---------------------------------------------------------------*/

static const int chan_codes[] = {MMF_EINVAL, MMF_ERANGE, MMF_EOVERFLOW,
                                 MMF_EPROT,  MMF_ENOMEM, MMF_EACCES,
                                 MMF_EOS,    MMF_EIO,    MMF_EPERM,
                                 MMF_ENOTSUP, 0};

/* create, open a second handle, close both, with the nth OS call failing. */
static int chan_cycle(mmf_map *m) {
  mmf_chan *a, *b;
  int rc = mmf_chan_create(&a, m, CHAN_OFF, REGION, MMF_CHAN_MPSC), rc2;
  if (rc)
    return rc;
  rc = mmf_chan_open(&b, m, CHAN_OFF);
  if (rc) {
    mmf_chan_close(a);
    return rc;
  }
  rc = mmf_chan_close(b);
  rc2 = mmf_chan_close(a);
  return rc ? rc : rc2;
}

static mmf_map *fault_map;
static int fault_run(void) { return chan_cycle(fault_map); }
static void fault_undo(void) {} /* a whole cycle leaves nothing behind */

static void every_os_call_of_create_open_close_fails_cleanly(void **state) {
  const char *p = make_file("fault");
  unsigned faults;
  (void)state;
  fault_map = open_map(p);
  assert_non_null(fault_map);
  faults = th_fault_loop("mmf_chan_", "mmf_chan_", chan_codes, fault_run,
                         fault_undo);
  assert_true(faults >= 3);
  TH_OK(mmf_map_close(fault_map));
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(spsc_child_to_parent_keeps_order_and_bytes),
      cmocka_unit_test(mpsc_two_producer_processes_lose_and_duplicate_nothing),
      cmocka_unit_test(blocking_recv_wakes_when_another_process_sends),
      cmocka_unit_test(full_ring_refuses_then_blocking_send_waits_for_room),
      cmocka_unit_test(sizes_zero_max_and_too_big),
      cmocka_unit_test(failed_wake_ups_still_deliver_the_message),
      cmocka_unit_test(failed_waits_are_eos_and_leave_no_sleeper),
      cmocka_unit_test(bad_arguments_are_einval),
      cmocka_unit_test(corrupt_header_is_refused_by_open),
      cmocka_unit_test(corrupt_positions_and_records_give_ecorrupt),
      cmocka_unit_test(every_os_call_of_create_open_close_fails_cleanly),
  };
  if (argc >= 4 && strcmp(argv[1], "--child") == 0) {
    long n = argc >= 5 ? strtol(argv[4], NULL, 10) : 0;
    if (strcmp(argv[2], "send") == 0)
      return child_send(argv[3], (uint32_t)n);
    if (strcmp(argv[2], "late") == 0)
      return child_late(argv[3]);
    if (strcmp(argv[2], "drain") == 0)
      return child_drain(argv[3], n);
    return 100;
  }
  return cmocka_run_group_tests(tests, NULL, NULL);
}
