/* bench_channel.c -- `mmf-bench channel`: moving messages between two
 * processes pinned to two different cores, in one run:
 *
 *  - throughput (messages/s, MB/s) at 64 B and 64 KiB: mmf_chan (blocking
 *    send/recv, default spin) vs a pipe vs a Unix stream socket (each
 *    message written whole, read whole);
 *  - round trip of a 64 B message, median and p99: mmf_chan busy-polling
 *    (try_send/try_recv) against a bare shared-memory flag ping-pong (the
 *    machine's limit for polling); mmf_chan's blocking calls (default spin,
 *    then sleep) against a pipe pair and a socket pair, back to back and
 *    with the echoing peer asleep (the parent idles longer than the spin
 *    before each round trip, so the peer has gone to sleep in the kernel);
 *    and mmf_chan with no spin at all (a futex sleep on every wait) against
 *    a bare shared-futex ping-pong (the limit for a round trip in which
 *    both sides sleep) and the pipe.
 *
 * The shared memory is a file in /dev/shm mapped with mmf_map_open (the
 * same pages shm_open would give). Each repetition runs every method once,
 * in an order rotated per repetition; figures are medians over repetitions
 * (round trips: all samples pooled). Every received message is checked
 * (sequence number), so a method cannot win by losing messages. */
#include <mmf.h>

#include "bench.h"

#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define KIB ((size_t)1 << 10)
#define MIB ((size_t)1 << 20)
#define RING_BYTES (4 * MIB)
#define REGION (MMF_CHAN_HEADER_SIZE + RING_BYTES)
#define CTL_BYTES 4096
#define MAP_BYTES (CTL_BYTES + 2 * (uint64_t)REGION)
#define SMALL 64
#define LARGE (64 * KIB)
#define MAX_REP 9

/* Control words in the mapping, each on its own 128 bytes. */
struct ctl {
  _Atomic uint64_t ready;
  unsigned char pad0[120];
  _Atomic uint64_t go;
  unsigned char pad1[120];
  _Atomic uint64_t ping;
  unsigned char pad2[120];
  _Atomic uint64_t pong;
  unsigned char pad3[120];
  _Atomic uint32_t fping; /* futex words of the bare futex ping-pong */
  unsigned char pad4[124];
  _Atomic uint32_t fpong;
  unsigned char pad5[124];
};

static struct {
  mmf_map *map;
  struct ctl *ctl;
  mmf_view *view;
  mmf_chan *up;   /* child -> parent */
  mmf_chan *down; /* parent -> child */
  int cpu[2];
  unsigned char *buf; /* LARGE bytes, touched */
} B;

static inline void relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

static void pin(int cpu) {
  cpu_set_t set;
  if (cpu < 0)
    return;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0)
    die("sched_setaffinity(cpu %d): %s", cpu, strerror(errno));
}

/* The first two CPUs this process may run on; -1 when there is only one. */
static void pick_cpus(void) {
  cpu_set_t set;
  int n = 0;
  B.cpu[0] = B.cpu[1] = -1;
  if (sched_getaffinity(0, sizeof set, &set) != 0)
    die("sched_getaffinity: %s", strerror(errno));
  for (int c = 0; c < CPU_SETSIZE && n < 2; c++)
    if (CPU_ISSET(c, &set))
      B.cpu[n++] = c;
}

static void write_all(int fd, const void *p, size_t n) {
  const char *c = p;
  while (n) {
    ssize_t w = write(fd, c, n);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      die("write: %s", strerror(errno));
    }
    c += w;
    n -= (size_t)w;
  }
}

static void read_all(int fd, void *p, size_t n) {
  char *c = p;
  while (n) {
    ssize_t r = read(fd, c, n);
    if (r <= 0) {
      if (r < 0 && errno == EINTR)
        continue;
      die("read: %s", r ? strerror(errno) : "end of file");
    }
    c += r;
    n -= (size_t)r;
  }
}

static void stamp(unsigned char *p, uint64_t i) { memcpy(p, &i, sizeof i); }
static void expect(const unsigned char *p, uint64_t i) {
  uint64_t got;
  memcpy(&got, p, sizeof got);
  if (got != i)
    die("message %llu arrived as %llu", (unsigned long long)i,
        (unsigned long long)got);
}

/* ---- two processes ---------------------------------------------------------*/

enum method {
  M_CHAN,      /* mmf_chan blocking calls, default spin */
  M_CHAN_BUSY, /* try_send / try_recv in a loop */
  M_CHAN_WAIT, /* blocking calls, spin 0: a futex sleep every time */
  M_PIPE,
  M_SOCK,
  M_FLAG, /* bare shared flag (round trips only) */
  M_FUTEX /* bare shared futex, a sleep on every wait (round trips only) */
};

static const char *const method_name[] = {
    "mmf_chan", "mmf_chan busy-poll", "mmf_chan futex (no spin)",
    "pipe", "unix socket", "shared flag", "bare futex"};

/* File descriptors of the pipe / socket baselines: [0] parent's read end,
 * [1] child's write end, [2] child's read end, [3] parent's write end. */
static int fds[4];

static void open_fds(enum method m) {
  int a[2], b[2];
  if (m == M_PIPE) {
    if (pipe(a) != 0 || pipe(b) != 0)
      die("pipe: %s", strerror(errno));
    fds[0] = a[0];
    fds[1] = a[1];
    fds[2] = b[0];
    fds[3] = b[1];
  } else if (m == M_SOCK) {
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, a) != 0)
      die("socketpair: %s", strerror(errno));
    fds[0] = fds[3] = a[0];
    fds[1] = fds[2] = a[1];
  } else {
    fds[0] = fds[1] = fds[2] = fds[3] = -1;
  }
}

static void close_fds(void) {
  for (int i = 0; i < 4; i++)
    if (fds[i] >= 0 && (i < 3 || fds[i] != fds[0]) &&
        !(i == 2 && fds[2] == fds[1]))
      close(fds[i]);
}

static void send_msg(enum method m, mmf_chan *c, const void *p, size_t n,
                     int fd) {
  int rc;
  switch (m) {
  case M_CHAN_BUSY:
    while ((rc = mmf_chan_try_send(c, p, n)) == MMF_EAGAIN)
      relax();
    break;
  case M_CHAN:
  case M_CHAN_WAIT:
    rc = mmf_chan_send(c, p, n, MMF_CHAN_FOREVER);
    break;
  default:
    write_all(fd, p, n);
    return;
  }
  if (rc)
    die_mmf("mmf_chan_send", rc);
}

static void recv_msg(enum method m, mmf_chan *c, void *p, size_t n, int fd) {
  size_t got = 0;
  int rc;
  switch (m) {
  case M_CHAN_BUSY:
    while ((rc = mmf_chan_try_recv(c, p, n, &got)) == MMF_EAGAIN)
      relax();
    break;
  case M_CHAN:
  case M_CHAN_WAIT:
    rc = mmf_chan_recv(c, p, n, &got, MMF_CHAN_FOREVER);
    break;
  default:
    read_all(fd, p, n);
    return;
  }
  if (rc)
    die_mmf("mmf_chan_recv", rc);
  if (got != n)
    die("received %zu bytes, want %zu", got, n);
}

static void set_spin(enum method m) {
  uint32_t spin = m == M_CHAN_WAIT ? 0 : 20000;
  mmf_chan_set_spin(B.up, spin);
  mmf_chan_set_spin(B.down, spin);
}

/* The bare futex ping-pong: publish i in *w and wake its sleeper; wait
 * (sleeping in the kernel) until *w holds i. A shared futex, as the
 * channel's (no FUTEX_PRIVATE_FLAG). */
static void futex_post(_Atomic uint32_t *w, uint32_t i) {
  atomic_store_explicit(w, i, memory_order_release);
  syscall(SYS_futex, (uint32_t *)w, FUTEX_WAKE, 1, NULL, NULL, 0);
}

static void futex_await(_Atomic uint32_t *w, uint32_t i) {
  uint32_t v;
  while ((v = atomic_load_explicit(w, memory_order_acquire)) != i)
    syscall(SYS_futex, (uint32_t *)w, FUTEX_WAIT, v, NULL, NULL, 0);
}

/* Start the child pinned to the second CPU, running `body`. */
static pid_t start_child(void (*body)(enum method, size_t, long),
                         enum method m, size_t size, long n) {
  pid_t pid;
  atomic_store(&B.ctl->ready, 0);
  atomic_store(&B.ctl->go, 0);
  atomic_store(&B.ctl->ping, 0);
  atomic_store(&B.ctl->pong, 0);
  atomic_store(&B.ctl->fping, 0);
  atomic_store(&B.ctl->fpong, 0);
  fflush(NULL);
  pid = fork();
  if (pid < 0)
    die("fork: %s", strerror(errno));
  if (pid == 0) {
    pin(B.cpu[1]);
    set_spin(m);
    body(m, size, n);
    _exit(0);
  }
  return pid;
}

static void end_child(pid_t pid) {
  int st;
  if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
    die("child of the channel benchmark failed");
}

static void child_ready_then_wait_go(void) {
  atomic_store(&B.ctl->ready, 1);
  while (!atomic_load(&B.ctl->go))
    relax();
}

static void parent_wait_ready(void) {
  while (!atomic_load(&B.ctl->ready))
    relax();
}

/* Throughput: the child sends n messages of `size` bytes. */
static void tp_child(enum method m, size_t size, long n) {
  child_ready_then_wait_go();
  for (long i = 0; i < n; i++) {
    stamp(B.buf, (uint64_t)i);
    send_msg(m, B.up, B.buf, size, fds[1]);
  }
}

/* Seconds for n messages, from "go" to the last one received. */
static double throughput(enum method m, size_t size, long n) {
  pid_t pid;
  double t0, t1;
  open_fds(m);
  pid = start_child(tp_child, m, size, n);
  set_spin(m);
  parent_wait_ready();
  t0 = now();
  atomic_store(&B.ctl->go, 1);
  for (long i = 0; i < n; i++) {
    recv_msg(m, B.up, B.buf, size, fds[0]);
    expect(B.buf, (uint64_t)i);
  }
  t1 = now();
  end_child(pid);
  close_fds();
  return t1 - t0;
}

/* Round trips: the child echoes n + warm messages of SMALL bytes. */
static void rt_child(enum method m, size_t size, long n) {
  unsigned char msg[SMALL];
  (void)size;
  child_ready_then_wait_go();
  for (long i = 1; i <= n; i++) {
    if (m == M_FLAG) {
      while (atomic_load_explicit(&B.ctl->ping, memory_order_acquire) !=
             (uint64_t)i)
        relax();
      atomic_store_explicit(&B.ctl->pong, (uint64_t)i, memory_order_release);
      continue;
    }
    if (m == M_FUTEX) {
      futex_await(&B.ctl->fping, (uint32_t)i);
      futex_post(&B.ctl->fpong, (uint32_t)i);
      continue;
    }
    recv_msg(m, B.down, msg, SMALL, fds[2]);
    send_msg(m, B.up, msg, SMALL, fds[1]);
  }
}

/* Appends n round-trip times (ns) to samples after `warm` unrecorded ones.
 * With gap_ns, the parent first idles that long (busy, untimed) before
 * each round trip, so a peer that spins less than that is asleep when the
 * message arrives. */
static void round_trips(enum method m, long n, long warm, double gap_ns,
                        double *samples) {
  unsigned char msg[SMALL];
  pid_t pid;
  open_fds(m);
  pid = start_child(rt_child, m, SMALL, n + warm);
  set_spin(m);
  parent_wait_ready();
  atomic_store(&B.ctl->go, 1);
  memset(msg, 0, sizeof msg);
  for (long i = 1; i <= n + warm; i++) {
    double t0, t1;
    if (gap_ns > 0) {
      double until = now() + gap_ns * 1e-9;
      while (now() < until)
        relax();
    }
    t0 = now();
    if (m == M_FLAG) {
      atomic_store_explicit(&B.ctl->ping, (uint64_t)i, memory_order_release);
      while (atomic_load_explicit(&B.ctl->pong, memory_order_acquire) !=
             (uint64_t)i)
        relax();
    } else if (m == M_FUTEX) {
      futex_post(&B.ctl->fping, (uint32_t)i);
      futex_await(&B.ctl->fpong, (uint32_t)i);
    } else {
      stamp(msg, (uint64_t)i);
      send_msg(m, B.down, msg, SMALL, fds[3]);
      recv_msg(m, B.up, msg, SMALL, fds[0]);
      expect(msg, (uint64_t)i);
    }
    t1 = now();
    if (i > warm)
      samples[i - warm - 1] = (t1 - t0) * 1e9;
  }
  end_child(pid);
  close_fds();
}

/* ---- statistics --------------------------------------------------------------*/

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double pct(double *v, long n, double p) {
  long i;
  qsort(v, (size_t)n, sizeof *v, cmp_d);
  i = (long)(p * (double)(n - 1) + 0.5);
  return v[i];
}

static double med(double *v, int n) { return pct(v, n, 0.5); }

/* ---- the benchmark -----------------------------------------------------------*/

static void setup(void) {
  char path[128];
  unsigned char *base;
  int rc;
  snprintf(path, sizeof path, "/dev/shm/mmf-bench-chan-%ld", (long)getpid());
  rc = mmf_map_open(&B.map, path, MMF_PROT_READWRITE,
                    MMF_OPEN_CREATE | MMF_OPEN_TRUNCATE, MAP_BYTES);
  unlink(path); /* the open mapping keeps it; nothing is left behind */
  if (rc)
    die_mmf("mmf_map_open", rc);
  if ((rc = mmf_view_map(&B.view, B.map, 0, CTL_BYTES, MMF_ACCESS_WRITE)))
    die_mmf("mmf_view_map", rc);
  base = mmf_view_data(B.view);
  B.ctl = (struct ctl *)base;
  if ((rc = mmf_chan_create(&B.up, B.map, CTL_BYTES, REGION, MMF_CHAN_SPSC)))
    die_mmf("mmf_chan_create", rc);
  if ((rc = mmf_chan_create(&B.down, B.map, CTL_BYTES + REGION, REGION,
                            MMF_CHAN_SPSC)))
    die_mmf("mmf_chan_create", rc);
  if (posix_memalign((void **)&B.buf, 4096, LARGE) != 0)
    die("out of memory");
  memset(B.buf, 1, LARGE);
}

static void teardown(void) {
  mmf_chan_close(B.up);
  mmf_chan_close(B.down);
  mmf_view_unmap(B.view);
  mmf_map_close(B.map);
  free(B.buf);
}

/* Throughput methods, and how many messages each sends per repetition
 * (about 0.2-0.7 s each here). */
static const enum method tp_methods[3] = {M_CHAN, M_PIPE, M_SOCK};
static const long tp_small[3] = {4000000, 1000000, 500000};
static const long tp_large[3] = {40000, 20000, 20000};

/* Round-trip cases: method, round trips per repetition, idle gap before
 * each (0: back to back). The gap is five times the default spin. */
#define GAP_NS 100000.0
static const struct rt_case {
  enum method m;
  long n;
  double gap_ns;
} rt_cases[] = {
    {M_FLAG, 100000, 0},     {M_CHAN_BUSY, 100000, 0}, {M_CHAN, 100000, 0},
    {M_CHAN_WAIT, 5000, 0},  {M_FUTEX, 5000, 0},       {M_PIPE, 5000, 0},
    {M_SOCK, 5000, 0},       {M_CHAN, 2500, GAP_NS},   {M_PIPE, 2500, GAP_NS},
    {M_SOCK, 2500, GAP_NS},
};
enum { RT_FLAG, RT_BUSY, RT_CHAN, RT_WAIT, RT_FUTEX, RT_PIPE, RT_SOCK,
       RT_CHAN_GAP, RT_PIPE_GAP, RT_SOCK_GAP, RT_CASES };
_Static_assert(sizeof rt_cases / sizeof rt_cases[0] == RT_CASES,
               "one entry per round-trip case");
/* What is compared with what (medians, and p99 where marked):
 *  - polling: busy-poll against the bare flag;
 *  - the blocking calls as shipped (spin, then sleep) against a pipe and a
 *    socket, back to back and with the peer asleep;
 *  - sleeping on every wait (spin 0) against the bare futex (what the
 *    channel adds) and the pipe; and the bare futex against the pipe (what
 *    any futex design can reach here). */
static const struct rt_cmp {
  int a, b;
  enum target_kind tk;
  double target;
  int p99;
} rt_cmps[] = {
    {RT_BUSY, RT_FLAG, T_RATIO_LE, 2, 1},
    {RT_CHAN, RT_PIPE, T_RATIO_LE, 1, 1},
    {RT_CHAN, RT_SOCK, T_NONE, 0, 0},
    {RT_CHAN_GAP, RT_PIPE_GAP, T_RATIO_LE, 1, 1},
    {RT_CHAN_GAP, RT_SOCK_GAP, T_NONE, 0, 0},
    {RT_WAIT, RT_FUTEX, T_NONE, 0, 1},
    {RT_WAIT, RT_PIPE, T_NONE, 0, 1},
    {RT_FUTEX, RT_PIPE, T_NONE, 0, 0},
};

static const char *rt_name(int k) {
  return rt_cases[k].m == M_CHAN ? "mmf_chan blocking"
                                 : method_name[rt_cases[k].m];
}

#define RT_WARM 200

void bench_channel(int repeat) {
  double rate[2][3][MAX_REP]; /* [size][method][rep], messages/s */
  double *rt[RT_CASES];
  double rt_med[RT_CASES], rt_p99[RT_CASES];
  cpu_set_t saved;
  int reps = repeat < MAX_REP ? repeat : MAX_REP;

  pick_cpus();
  if (B.cpu[1] < 0)
    note("mmf-bench channel: only one CPU available; the two processes "
         "share it and busy-polling figures mean little\n");
  sched_getaffinity(0, sizeof saved, &saved);
  setup();
  pin(B.cpu[0]);
  for (int k = 0; k < RT_CASES; k++) {
    rt[k] = malloc(sizeof(double) * (size_t)rt_cases[k].n * (size_t)reps);
    if (!rt[k])
      die("out of memory");
  }
  note("channel: %d repetitions, CPUs %d and %d\n", reps, B.cpu[0], B.cpu[1]);
  for (int r = 0; r < reps; r++) {
    for (int j = 0; j < 3; j++) {
      int k = (j + r) % 3;
      rate[0][k][r] = (double)tp_small[k] /
                      throughput(tp_methods[k], SMALL, tp_small[k]);
      rate[1][k][r] = (double)tp_large[k] /
                      throughput(tp_methods[k], LARGE, tp_large[k]);
    }
    for (int j = 0; j < RT_CASES; j++) {
      int k = (r % 2) ? RT_CASES - 1 - j : j;
      round_trips(rt_cases[k].m, rt_cases[k].n, RT_WARM, rt_cases[k].gap_ns,
                  rt[k] + r * rt_cases[k].n);
    }
    note("  repetition %d done\n", r + 1);
  }
  teardown();
  sched_setaffinity(0, sizeof saved, &saved);

  {
    double m[2][3];
    for (int s = 0; s < 2; s++)
      for (int k = 0; k < 3; k++)
        m[s][k] = med(rate[s][k], reps);
    report("channel", "64B-msgs", "M/s", "mmf_chan", m[0][0] / 1e6, "pipe",
           m[0][1] / 1e6, T_RATIO_GE, 10);
    report("channel", "64B-msgs", "M/s", "mmf_chan", m[0][0] / 1e6,
           "unix socket", m[0][2] / 1e6, T_NONE, 0);
    report("channel", "64B-MB/s", "MB/s", "mmf_chan", m[0][0] * SMALL / 1e6,
           "pipe", m[0][1] * SMALL / 1e6, T_NONE, 0);
    report("channel", "64KiB-MB/s", "MB/s", "mmf_chan",
           m[1][0] * LARGE / 1e6, "unix socket", m[1][2] * LARGE / 1e6,
           T_RATIO_GE, 2);
    report("channel", "64KiB-MB/s", "MB/s", "mmf_chan",
           m[1][0] * LARGE / 1e6, "pipe", m[1][1] * LARGE / 1e6, T_NONE, 0);
    report("channel", "64KiB-msgs", "k/s", "mmf_chan", m[1][0] / 1e3,
           "unix socket", m[1][2] / 1e3, T_NONE, 0);
  }
  for (int k = 0; k < RT_CASES; k++) {
    long n = rt_cases[k].n * reps;
    rt_p99[k] = pct(rt[k], n, 0.99);
    rt_med[k] = pct(rt[k], n, 0.5);
    free(rt[k]);
  }
  for (int p99 = 0; p99 < 2; p99++)
    for (size_t i = 0; i < sizeof rt_cmps / sizeof rt_cmps[0]; i++) {
      const struct rt_cmp *c = &rt_cmps[i];
      const double *v = p99 ? rt_p99 : rt_med;
      int asleep = rt_cases[c->a].gap_ns > 0;
      if (p99 && !c->p99)
        continue;
      report("channel",
             p99 ? (asleep ? "rtt-64B-p99-asleep" : "rtt-64B-p99")
                 : (asleep ? "rtt-64B-median-asleep" : "rtt-64B-median"),
             "us", rt_name(c->a), v[c->a] / 1e3, rt_name(c->b),
             v[c->b] / 1e3, p99 ? T_NONE : c->tk, p99 ? 0 : c->target);
    }
  {
    /* What timing each round trip costs: two clock reads. */
    double t0 = now(), t1;
    for (int i = 0; i < 100000; i++)
      (void)now();
    t1 = now();
    info("channel", "clock", "clock_gettime per call (in every rtt)",
         (t1 - t0) / 100000 * 1e9, "ns");
  }
}
