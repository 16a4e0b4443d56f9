/*
 * src/internal.h -- what the library's portable files share: the error
 * recorder, fault injection, and the core objects' layouts.
 */
#ifndef MMF_INTERNAL_H
#define MMF_INTERNAL_H

#include "mmf.h"
#include "os.h"

#include <stdatomic.h>

#if defined(__clang__)
#define MMF_PRINTF(f, a) __attribute__((format(printf, f, a)))
#elif defined(__GNUC__) /* gnu_printf: mingw's checks then know %zu, %llu */
#define MMF_PRINTF(f, a) __attribute__((format(gnu_printf, f, a)))
#else
#define MMF_PRINTF(f, a)
#endif

/* ---- errors (error.c) ---------------------------------------------------
 * Every failure is recorded once, where it is found, then callers add their
 * name in front. All return `code` so they can be used as `return ...;`. */

/* Record a failure found by mmf itself (no OS code). */
int mmf__error(int code, const char *fmt, ...) MMF_PRINTF(2, 3);
/* Record a failure of the OS: the backend's call. */
int mmf__error_os(int code, int os_code, const char *fmt, ...)
    MMF_PRINTF(3, 4);
/* Put the public call's name (and the file's path, when given and not
 * already in the message) in front of the recorded message:
 * `mmf_view_map "/data/x": mmap: Cannot allocate memory`. */
int mmf__error_in(const char *api, const char *path, int code);
/* Record the failure just recorded again under `code` (its OS code kept),
 * the message being fmt's followed by ": " and the old one. */
int mmf__error_recode(int code, const char *fmt, ...) MMF_PRINTF(2, 3);

/* The thread's last-failure record as a value: work that mmf does on its
 * own background thread (a window walk's read-ahead) saves its failure
 * there, and the caller's thread restores it when it reports the failure. */
#define MMF__ERROR_MSG_MAX 512
struct mmf__error_rec {
  int code;
  int os_code;
  char msg[MMF__ERROR_MSG_MAX];
};
void mmf__error_save(struct mmf__error_rec *out);
/* Make `rec` the thread's record; returns rec->code. */
int mmf__error_restore(const struct mmf__error_rec *rec);

/* ---- fault injection (fault.c) ------------------------------------------
 * Every OS call in a backend asks mmf__fault_check(name) first; when it says
 * 1 the backend fails that call with the errno a real failure would give.
 * Tests arm it: the nth checked call from now fails (1 = the next one). */
int mmf__fault_check(const char *call);
/* Returns 1 when the fault armed before had fired (so `mmf__fault_arm(0)`
 * disarms and tells, with no gap in which a background thread's call could
 * fire unseen). */
int mmf__fault_arm(unsigned long nth);
/* 1 when the armed fault fired since mmf__fault_arm(). */
int mmf__fault_fired(void);
/* Name of the call the fault hit, or "" if none. */
const char *mmf__fault_call(void);
/* Best-effort work (a sweep of leftovers, a hint to the OS) runs between
 * these: its OS calls may fail without failing the operation around it.
 * The thread's error record is put back as it was at the outermost begin
 * (error.c), so neither its failures nor its expected refusals (a lock
 * that is busy) reach the caller's mmf_last_error(). A fault that fires
 * inside is marked, so a fault-injection test accepts the operation's
 * success instead of calling the failure ignored -- and still checks that
 * nothing leaked. Only calls whose failure the operation really ignores
 * belong inside. Scopes nest; per thread. */
void mmf__best_effort_begin(void);
void mmf__best_effort_end(void);
int mmf__best_effort_active(void);
/* 1 when the armed fault fired, inside a best-effort scope. */
int mmf__fault_fired_optional(void);

/* ---- test hook (window.c) ------------------------------------------------
 * MMF_WINDOW_AUTO decides by measuring (faults in the probe, then the
 * timed trial), so what a walk does after it varies from run to run. A test
 * that checks the windows after the decision sets this before opening the
 * walk: MMF__AUTO_MAP or MMF__AUTO_READ make the probe go on to the trial
 * and the trial end as if that path had won; MMF__AUTO_MEASURE (0, the
 * default) measures. Read by the thread that calls mmf_window_next. */
enum { MMF__AUTO_MEASURE = 0, MMF__AUTO_MAP, MMF__AUTO_READ };
extern int mmf__auto_decision;
/* Longest span a walk cuts its mapped windows from (window.c explains):
 * MMF_WINDOW_SPAN_MAX; tests make it small to see spans replaced. */
extern size_t mmf__window_span_max;
/* Windows of a span walk with MMF_VIEW_POPULATE that were faulted in by
 * touching (window.c, POP_PROBE) rather than MADV_POPULATE. */
uint64_t mmf__window_touch_count(const mmf_window *w);

/* memops.c: fault [p, p + len) of a mapping in by touching a byte of each
 * page, read or (`write`) written with an atomic or of 0 that leaves the
 * bytes as they are. A write fault maps a large page-cache folio whole
 * and writable at once, where MADV_POPULATE_WRITE walks it a page at a
 * time and a read first maps it read-only, leaving a write fault per page
 * (window.c, spans). MMF_ENOTSUP for `write` where that instruction is not
 * known to fault as a write (not x86). Touching a page past the file's
 * end raises SIGBUS / an in-page exception, as any access does. */
int mmf__touch(void *p, size_t len, int write);
/* 1 where mmf__touch can write (x86), 0 where it says MMF_ENOTSUP. */
int mmf__touch_writes(void);
/* Tests only: mmf_memswap_reversed's portable kernel, whatever the CPU. */
void mmf__memswap_reversed_scalar(void *a, void *b, size_t n);

/* The 2 MiB grid of file offsets on which AUTO walks map whole cells and
 * mmf_window_each cuts its shares (window.c explains why). */
#define MMF__MAP_GRID ((uint64_t)2 << 20)

/* ---- core objects --------------------------------------------------------*/

struct mmf_map {
  atomic_int refs;     /* 1 for the user's handle + 1 per live view */
  int user_open;       /* 1 until mmf_map_close() */
  mmf_os_file file;
  mmf_os_section section;
  uint64_t size;       /* bytes the mapping covers */
  int prot;            /* public MMF_PROT_* value as opened */
  unsigned os_prot;    /* MMF__OS_PROT_* the section allows */
  unsigned flags;      /* MMF_OPEN_* */
  char *path;          /* for error messages; "<fd N>" for native files */
  /* Optional: called by the last unref before the section and file close
   * (shm.c uses it to apply an object's lifetime rule); `ext` is its data.
   * It returns 0 or an MMF_E* code and must free what `ext` owns. */
  int (*release)(mmf_map *map);
  void *ext;
};

struct mmf_view {
  mmf_map *map;
  void *base;          /* page/granularity-aligned start of the OS mapping */
  size_t base_len;     /* its length */
  unsigned char *data; /* the exact first byte the user asked for */
  size_t len;
  uint64_t offset;     /* file offset of data */
  unsigned access;
};

/* map.c: a new mapping object with one reference (the user's), no file and
 * no section yet, named `name` in error messages; NULL when out of memory.
 * For code that builds mapping objects from other sources (shm.c, the
 * hand-over tokens). mmf__map_free releases one that never got that far. */
mmf_map *mmf__map_new(const char *name, int prot, unsigned flags);
void mmf__map_free(mmf_map *map);

/* map.c: reference counting shared by views. */
void mmf__map_ref(mmf_map *map);
/* Drop a reference; the last one closes the file. A close error is named
 * for `api` (the public call that dropped it). */
int mmf__map_unref(mmf_map *map, const char *api);

/* view.c: check view access bits against a mapping's protection; on success
 * *os_prot is the MMF__OS_PROT_* to map with. */
int mmf__view_access(const mmf_map *m, unsigned access, unsigned *os_prot);

/* Range check: [off, off+len) inside [0, size). len 0 is not special here. */
int mmf__check_range(uint64_t off, uint64_t len, uint64_t size);

/* @@SHM */
/* shm.c: the lock bytes of a named object's file (and of its temporary
 * file while it is built), far past any object's end; shared with the
 * tests that play a creator. */
#define MMF__SHM_GATE ((uint64_t)1 << 62)
#define MMF__SHM_HOLD (MMF__SHM_GATE + 1)
/* @@END SHM */

/* @@POINTERS */
/* @@END POINTERS */

/* @@LOCK-CHANNEL */
/* ring.c: the channel's layout in shared memory (tests write garbage into
 * it to check the receiver's bounds checks). */
/* The shared header. Each group written by a different side has its own
 * 128 bytes (two cache lines: adjacent-line prefetch shares pairs). */
struct mmf__chan_hdr {
  /* written once by the creator; `magic` last */
  _Atomic uint64_t magic;
  uint32_t version;
  uint32_t flags;
  uint64_t hdr_size;
  uint64_t capacity;
  uint64_t region_size;
  uint64_t id;
  unsigned char pad0[128 - 48];
  _Atomic uint64_t head; /* senders: end of the reserved space */
  unsigned char pad1[120];
  _Atomic uint64_t tail; /* receiver: start of the unread records */
  unsigned char pad2[120];
  _Atomic uint32_t data_seq; /* bumped when a sleeping receiver is woken */
  _Atomic uint32_t data_waiters;
  unsigned char pad3[120];
  _Atomic uint32_t space_seq; /* bumped when sleeping senders are woken */
  _Atomic uint32_t space_waiters;
  unsigned char pad4[120];
};
_Static_assert(sizeof(struct mmf__chan_hdr) == MMF_CHAN_HEADER_SIZE,
               "MMF_CHAN_HEADER_SIZE is the header's size");

struct mmf__chan_rec {
  _Atomic uint64_t commit;
  uint32_t len;
  uint32_t kind;
};
_Static_assert(sizeof(struct mmf__chan_rec) == 16, "record header size");
/* @@END LOCK-CHANNEL */

/* @@SECTION */
/* section.c: the file layout, shared with the tests that corrupt it.
 * Bytes [0, 64): the header; [64, 64 + size): the user's block. Lock bytes
 * lie at MMF__SECTION_LOCKS and above, far past any section's end. */
#define MMF__SECTION_MAGIC 0x53464d4du /* "MMFS" little-endian */
#define MMF__SECTION_VERSION 1u
#define MMF__SECTION_HDR 64u
#define MMF__SECTION_LOCKS ((uint64_t)1 << 40)
struct mmf__section_hdr {
  uint32_t magic;
  uint32_t version;
  uint64_t size;      /* bytes of the user's block */
  uint32_t slots;     /* MMF_SECTION_MAX_INSTANCES */
  uint32_t hdr_size;  /* MMF__SECTION_HDR */
  uint32_t dirty;     /* 1 while the section lock is held (owner-died flag) */
  uint32_t used;      /* 1 + the highest slot claimed since the block began:
                       * where counting looks first (a hint, never trusted) */
  uint32_t reserved[8];
};
/* @@END SECTION */

#endif /* MMF_INTERNAL_H */
