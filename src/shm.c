/* shm.c -- memory-backed mappings: anonymous ones, and named ones with ONE
 * lifetime rule on every OS (transient: gone with the last holder, even a
 * killed one; persistent: stays until removed). docs/shm.md describes the
 * protocol; include/mmf.h the contract.
 *
 * Every named object NAME has a file "mmf.NAME" in the runtime directory:
 *   [data: size bytes][trailer: 64 bytes]   (Linux; Windows persistent)
 *   [trailer: 64 bytes]                     (Windows transient: the data is
 *                                            the section "Local\mmf.NAME")
 * and two lock bytes far past its end:
 *   GATE  exclusive while a process creates, opens, last-closes or removes
 *         the object: serialises the stale check against new openers;
 *   HOLD  shared by every holder for as long as it holds the object. The OS
 *         drops a dead holder's lock, so "HOLD can be taken exclusively"
 *         means "nobody holds it": the last closer removes the object, and a
 *         create that finds a transient object nobody holds removes it as
 *         stale.
 * After taking GATE every step re-checks that the name still names the file
 * it opened (someone may have removed it in between). A new object is built
 * whole under a temporary name "mmf.NAME~..." and then published under its
 * own name in one step that fails if the name exists, so nobody ever sees
 * half an object. Its creator holds GATE on the temporary file from the
 * moment it exists and HOLD before letting GATE go, so a temporary file
 * whose GATE and HOLD are both free belongs to a creator that died: create,
 * remove and list sweep those away (they may hold a whole object's memory).
 * */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHM_TRAILER 64
#define SHM_GATE MMF__SHM_GATE
#define SHM_HOLD MMF__SHM_HOLD
#define SHM_MAGIC "MMFSHM01"
#define SHM_CREATE_RETRIES 1000
/* Where an object's data lives (trailer field). */
enum { WHERE_FILE = 0, WHERE_SECTION = 1 };

struct shm_rec {
  uint64_t size;
  unsigned lifetime; /* MMF_SHM_TRANSIENT / MMF_SHM_PERSISTENT */
  unsigned where;
  uint64_t gen; /* WHERE_SECTION: this incarnation's section is
                 * "mmf.NAME.<gen in hex>", so a name removed while some
                 * process still holds the old section is free at once */
};

/* What a named object's mmf_map carries (map->ext). */
struct shm_ext {
  char *path;         /* its file in the runtime directory */
  char *oname;        /* "mmf.NAME" (the Windows section's name too) */
  mmf_os_file lockf;  /* the file holding GATE/HOLD: private, never mapped
                       * nor handed over (map->file is a separate open) */
  int transient;
};

/* ---- names and paths -----------------------------------------------------*/

static int check_name(const char *api, const char *name) {
  size_t i, n = strlen(name);
  if (n == 0)
    return mmf__error(MMF_EINVAL, "%s: the name is empty", api);
  if (n > MMF_SHM_NAME_MAX)
    return mmf__error(MMF_EINVAL,
                      "%s \"%.40s...\": the name is %zu bytes long, the most "
                      "is %d",
                      api, name, n, MMF_SHM_NAME_MAX);
  if (name[0] == '.')
    return mmf__error(MMF_EINVAL, "%s \"%s\": a name may not start with '.'",
                      api, name);
  if (name[n - 1] == '.') /* Windows drops it: "x." would be "x" there */
    return mmf__error(MMF_EINVAL, "%s \"%s\": a name may not end with '.'",
                      api, name);
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)name[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
          (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-')) {
      if (c == '/' || c == '\\')
        return mmf__error(MMF_EINVAL,
                          "%s \"%s\": a name may not contain a path "
                          "separator ('%c')",
                          api, name, c);
      return mmf__error(MMF_EINVAL,
                        "%s \"%s\": byte 0x%02x at %zu is outside the name "
                        "alphabet [A-Za-z0-9._-]",
                        api, name, c, i);
    }
  }
  return 0;
}

/* The opening checks of create and open: *out cleared, both non-NULL, a
 * valid name. */
static int check_out_and_name(const char *api, mmf_map **out,
                              const char *name) {
  if (out)
    *out = NULL;
  if (!out || !name)
    return mmf__error(MMF_EINVAL, "%s: NULL %s", api, out ? "name" : "out");
  return check_name(api, name);
}

/* A new shm_ext for NAME with its file's path in `dir` (the runtime
 * directory; NULL: look it up); NULL when out of memory or the runtime
 * directory is unavailable (*rc says which). */
static struct shm_ext *ext_new_in(const char *dir, const char *name,
                                  int *rc) {
  char own[1024];
  struct shm_ext *e;
  size_t dn, nn = strlen(name);
  *rc = 0;
  if (!dir) {
    *rc = mmf__os_runtime_dir(own, sizeof own);
    if (*rc)
      return NULL;
    dir = own;
  }
  dn = strlen(dir);
  e = calloc(1, sizeof *e);
  if (e) {
    e->path = malloc(dn + nn + 6);
    e->oname = malloc(nn + 5);
  }
  if (!e || !e->path || !e->oname) {
    if (e) {
      free(e->path);
      free(e->oname);
      free(e);
    }
    *rc = mmf__error(MMF_ENOMEM, "out of memory");
    return NULL;
  }
  memcpy(e->oname, "mmf.", 4);
  memcpy(e->oname + 4, name, nn + 1);
  memcpy(e->path, dir, dn);
  e->path[dn] = '/';
  memcpy(e->path + dn + 1, e->oname, nn + 5);
  e->lockf = MMF_OS_FILE_INVALID;
  return e;
}

static void ext_free(struct shm_ext *e) {
  if (!e)
    return;
  free(e->path);
  free(e->oname);
  free(e);
}

/* ---- the trailer -----------------------------------------------------------
 * Little-endian, fixed layout: magic[8] size:u64 lifetime:u32 where:u32,
 * zeros to 64 bytes. It comes from a file other processes write: every
 * field is checked before use. */

static void put_u64(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_u64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--)
    v = v << 8 | p[i];
  return v;
}

static int write_rec(mmf_os_file f, uint64_t at, const struct shm_rec *r) {
  unsigned char b[SHM_TRAILER];
  memset(b, 0, sizeof b);
  memcpy(b, SHM_MAGIC, 8);
  put_u64(b + 8, r->size);
  put_u64(b + 16, (uint64_t)r->lifetime | (uint64_t)r->where << 32);
  put_u64(b + 24, r->gen);
  return mmf__os_write(f, at, b, sizeof b);
}

/* Read and check the trailer. MMF_ECORRUPT (with the reason) when the file
 * is not a whole mmf object. */
static int read_rec(mmf_os_file f, struct shm_rec *r) {
  unsigned char b[SHM_TRAILER];
  uint64_t fsize, w;
  size_t got = 0;
  int rc = mmf__os_file_size(f, &fsize);
  if (rc)
    return rc;
  if (fsize == 0) /* a create between its open and its GATE, or one that
                     died there */
    return mmf__error(MMF_ENOENT, "no such object yet (its creator has not "
                      "finished)");
  if (fsize < SHM_TRAILER)
    return mmf__error(MMF_ECORRUPT, "the object is %llu bytes, too short for "
                      "its trailer (unfinished or not mmf's)",
                      (unsigned long long)fsize);
  rc = mmf__os_read(f, fsize - SHM_TRAILER, b, sizeof b, &got);
  if (rc)
    return rc;
  if (got != sizeof b || memcmp(b, SHM_MAGIC, 8) != 0)
    return mmf__error(MMF_ECORRUPT, "the object's trailer has no mmf magic");
  r->size = get_u64(b + 8);
  w = get_u64(b + 16);
  r->lifetime = (unsigned)(w & 0xffffffffu);
  r->where = (unsigned)(w >> 32);
  r->gen = get_u64(b + 24);
  if (r->lifetime > MMF_SHM_PERSISTENT || r->where > WHERE_SECTION)
    return mmf__error(MMF_ECORRUPT, "the object's trailer has an unknown "
                      "lifetime %u or place %u", r->lifetime, r->where);
  if (r->where == WHERE_FILE && r->size != fsize - SHM_TRAILER)
    return mmf__error(MMF_ECORRUPT,
                      "the trailer says %llu bytes but the object holds "
                      "%llu", (unsigned long long)r->size,
                      (unsigned long long)(fsize - SHM_TRAILER));
  if (r->where == WHERE_SECTION &&
      (fsize != SHM_TRAILER || r->lifetime != MMF_SHM_TRANSIENT ||
       !mmf__os_shm_named_sections()))
    return mmf__error(MMF_ECORRUPT, "the trailer's section place does not "
                      "fit this object");
  return 0;
}

/* The name of an incarnation's section: "mmf.NAME.<gen>". */
static void section_name(const struct shm_ext *e, uint64_t gen, char *buf,
                         size_t n) {
  snprintf(buf, n, "%s.%016llx", e->oname, (unsigned long long)gen);
}

/* ---- locks -----------------------------------------------------------------*/

static int gate_lock(mmf_os_file f) {
  return mmf__os_file_lock(f, SHM_GATE, 1, MMF__OS_LOCK_WAIT);
}

static int gate_unlock(mmf_os_file f) {
  return mmf__os_file_unlock(f, SHM_GATE, 1);
}

/* With GATE held: *live = 1 when some open file holds HOLD. */
static int hold_probe(mmf_os_file f, int *live) {
  int rc = mmf__os_file_lock(f, SHM_HOLD, 1, MMF__OS_LOCK_QUIET);
  *live = 0;
  if (rc == MMF_EBUSY) {
    *live = 1;
    return 0;
  }
  if (rc)
    return rc;
  return mmf__os_file_unlock(f, SHM_HOLD, 1);
}

/* How long a listing waits for one object's GATE. Creators, openers and
 * last closers hold it for microseconds; a process stopped while holding
 * it (Ctrl-Z, a debugger) would otherwise stop every listing for good. */
#define LIST_GATE_WAIT_MS 2000

/* Open the object's file (read-write, never through a symbolic link) and
 * take GATE, waiting at most `wait_ms` for it (< 0: for ever; MMF_EBUSY
 * after that), making sure the name still names that file. On success
 * GATE is held on *f. MMF_ENOENT when there is no such object (or it was
 * removed meanwhile). */
static int attach_waiting(const char *path, mmf_os_file *f, int wait_ms) {
  int same = 0, created, rc;
  rc = mmf__os_open(path, MMF__OS_READ | MMF__OS_WRITE | MMF__OS_NOFOLLOW, f,
                    &created);
  if (rc)
    return rc;
  if (wait_ms < 0) {
    rc = gate_lock(*f);
  } else {
    uint64_t end = mmf__os_now_ns() + (uint64_t)wait_ms * 1000000u;
    while ((rc = mmf__os_file_lock(*f, SHM_GATE, 1, MMF__OS_LOCK_QUIET)) ==
               MMF_EBUSY &&
           mmf__os_now_ns() < end)
      mmf__os_sleep_ms(1);
    if (rc == MMF_EBUSY)
      rc = mmf__error(MMF_EBUSY, "\"%s\" stays locked by another process "
                      "(over %d ms: a stopped process?)", path, wait_ms);
  }
  if (!rc)
    rc = mmf__os_file_is_at(*f, path, &same);
  if (!rc && !same)
    rc = mmf__error(MMF_ENOENT, "\"%s\" was removed while opening it", path);
  if (rc) {
    mmf__os_close(*f); /* drops GATE */
    *f = MMF_OS_FILE_INVALID;
  }
  return rc;
}

static int attach(const char *path, mmf_os_file *f) {
  return attach_waiting(path, f, -1);
}

/* ---- the release hook: the lifetime rule at the last close ---------------*/

/* GATE held on an object nobody holds any more: remove its file. When it
 * is another user's (an MMF_SHM_ANYONE object in Linux's sticky /dev/shm:
 * unlink says EPERM) it is not ours to remove; nobody holds it, so it is
 * gone by the rule all the same, and its owner's next create, open or list
 * frees it: 0 then, with the error record as it was. */
static int remove_stale(const char *path) {
  struct mmf__error_rec before;
  int rc;
  mmf__error_save(&before);
  rc = mmf__os_remove_open(path);
  if (rc == MMF_EPERM) {
    (void)mmf__error_restore(&before);
    rc = 0;
  }
  return rc;
}

static int shm_release(mmf_map *map) {
  struct shm_ext *e = map->ext;
  int rc, gated, live = 1, same = 0;
  rc = gate_lock(e->lockf);
  gated = rc == 0;
  if (!rc)
    rc = mmf__os_file_unlock(e->lockf, SHM_HOLD, 1);
  if (!rc && e->transient)
    rc = hold_probe(e->lockf, &live);
  if (!rc && !live)
    rc = mmf__os_file_is_at(e->lockf, e->path, &same);
  if (!rc && !live && same) {
    /* The last holder: the memory goes first (a Windows section's name is
     * free once its last handle closes), then the name. */
    mmf__os_section_close(&map->section);
    rc = remove_stale(e->path);
  }
  /* Let GATE go explicitly: closing lockf drops it only when no other
   * descriptor shares its open file (a fork()ed child may). lockf is never
   * the mapped or handed-over file (see become_holder). */
  if (e->lockf != MMF_OS_FILE_INVALID) {
    /* (GATE only if taken: Windows refuses to unlock what is not locked.
     * When several steps fail, the one recorded last is returned, as
     * mmf_window_close does.) */
    int urc = gated ? gate_unlock(e->lockf) : 0;
    int crc = mmf__os_close(e->lockf);
    rc = crc ? crc : urc ? urc : rc;
  }
  ext_free(e);
  map->ext = NULL;
  return rc;
}

/* ---- opening an object under GATE ------------------------------------------*/


/* GATE is held on f (an object with trailer `r`); make `m` a holder of it:
 * its section, HOLD, then let GATE go. On failure f is still open and GATE
 * held; m has no section. */
static int become_holder(mmf_map *m, struct shm_ext *e, mmf_os_file f,
                         const struct shm_rec *r) {
  mmf_os_file mf = MMF_OS_FILE_INVALID;
  int rc;
  if (r->where == WHERE_SECTION) {
    char sname[MMF_SHM_NAME_MAX + 32];
    section_name(e, r->gen, sname, sizeof sname);
    /* A zero-sized object's section has one byte (see publish_new). */
    rc = mmf__os_named_section_open(sname,
                                    (m->os_prot & MMF__OS_PROT_WRITE) != 0,
                                    r->size, &m->section);
  } else {
    /* Map (and hand over) a second open of the file, not f: f's locks
     * must stay this holder's alone (see shm_release). */
    /* (with the holder's access only: a child handed it gets no more) */
    rc = mmf__os_reopen(f, (m->os_prot & MMF__OS_PROT_WRITE) != 0, &mf);
    if (!rc) {
      rc = mmf__os_section_open(mf, m->os_prot, r->size + SHM_TRAILER,
                                &m->section);
      if (rc)
        mmf__os_close(mf);
    }
  }
  if (rc)
    return rc;
  rc = mmf__os_file_lock(f, SHM_HOLD, 1, MMF__OS_LOCK_SHARED);
  if (!rc)
    rc = gate_unlock(f);
  if (rc) {
    mmf__os_section_close(&m->section);
    if (mf != MMF_OS_FILE_INVALID)
      mmf__os_close(mf);
    return rc;
  }
  m->size = r->size;
  e->lockf = f;
  e->transient = r->lifetime == MMF_SHM_TRANSIENT;
  m->file = mf;
  m->ext = e;
  m->release = shm_release;
  return 0;
}

/* GATE held on an existing object's file f: read its trailer and whether
 * anyone holds it. A transient object nobody holds, or one without a whole
 * trailer that nobody holds, is stale (*stale = 1). A bad trailer is
 * MMF_ECORRUPT, an empty file (unfinished create) MMF_ENOENT. */
static int inspect(mmf_os_file f, struct shm_rec *r, int *stale) {
  int live, rc = read_rec(f, r);
  int bad = rc == MMF_ECORRUPT || rc == MMF_ENOENT;
  int prc;
  *stale = 0;
  if (rc && !bad)
    return rc;
  prc = hold_probe(f, &live);
  if (prc)
    return prc;
  if (bad) {
    if (!live)
      *stale = 1;
    return rc;
  }
  if (r->lifetime == MMF_SHM_TRANSIENT && !live)
    *stale = 1;
  return 0;
}

/* ---- temporary files of creators that died ----------------------------------*/

struct sweep_ctx {
  char dir[1024];
  const char *prefix; /* "mmf.NAME~", or "mmf." for every name */
};

/* Remove `entry` (a temporary "mmf.*~*" file) when it is ours and nobody
 * holds GATE or HOLD on it: its creator died before publishing it (see
 * publish_new). A creator that has not taken GATE yet may lose its file
 * here; it notices (its file is no longer at its name) and starts over. */
static int sweep_one(void *arg, const char *entry) {
  struct sweep_ctx *sc = arg;
  char path[1024 + 2 * MMF_SHM_NAME_MAX + 64];
  mmf_os_file f;
  int created, mine = 0, same = 0, live = 1;
  if (strncmp(entry, sc->prefix, strlen(sc->prefix)) != 0 ||
      !strchr(entry + 4, '~') ||
      (size_t)snprintf(path, sizeof path, "%s/%s", sc->dir, entry) >=
          sizeof path)
    return 0;
  if (mmf__os_open(path, MMF__OS_READ | MMF__OS_WRITE | MMF__OS_NOFOLLOW, &f,
                   &created) != 0)
    return 0;
  if (mmf__os_file_is_mine(f, &mine) == 0 && mine &&
      mmf__os_file_lock(f, SHM_GATE, 1, 0) == 0 &&
      mmf__os_file_is_at(f, path, &same) == 0 && same &&
      hold_probe(f, &live) == 0 && !live)
    (void)mmf__os_remove(path); /* a '~' name never needs freeing at once */
  mmf__os_close(f); /* drops GATE */
  return 0;
}

/* Best effort: a failure here never fails the call that sweeps. `name`
 * NULL sweeps the temporary files of every name. */
static void sweep_dead_creators(const char *name) {
  struct sweep_ctx sc;
  char prefix[MMF_SHM_NAME_MAX + 8];
  snprintf(prefix, sizeof prefix, "mmf.%s%s", name ? name : "",
           name ? "~" : "");
  sc.prefix = prefix;
  mmf__best_effort_begin();
  if (mmf__os_runtime_dir(sc.dir, sizeof sc.dir) == 0)
    (void)mmf__os_dir_list(sc.dir, sweep_one, &sc);
  mmf__best_effort_end();
}

/* ---- public API --------------------------------------------------------------*/

/* The caller's contents for a new object (mmf_shm_create_filled), written
 * through a view while the object still has only its temporary name. */
struct fill {
  mmf_shm_fill_fn fn;
  void *ctx;
};

static int run_fill(mmf_map *m, uint64_t size, const struct fill *fill) {
  mmf_view *v;
  int rc, frc;
  if (size > SIZE_MAX)
    return mmf__error(MMF_EFBIG, "%llu bytes cannot be mapped whole to be "
                      "filled", (unsigned long long)size);
  m->size = size;
  rc = mmf_view_map(&v, m, 0, (size_t)size, MMF_ACCESS_WRITE);
  if (rc)
    return rc;
  frc = fill->fn(fill->ctx, mmf_view_data(v), size);
  if (frc > 0 || (frc < 0 && mmf_last_error() != frc))
    frc = mmf__error(frc < 0 ? frc : MMF_EINVAL,
                     "the fill callback returned %d: the object is not "
                     "made", frc);
  rc = mmf_view_unmap(v);
  return frc ? frc : rc;
}

/* Build a new object complete -- sized, trailer written, HOLD held, on
 * Windows its section made -- under a temporary name nobody looks for, then
 * give it its name in one step that fails if the name exists. So no
 * process ever sees a half-made object. Returns 0 with *lost = 0 when `m`
 * is now the object's first holder; 0 with *lost = 1 when the name (or on
 * Windows the section's name) was taken first -- nothing is left behind
 * then; or an error, also leaving nothing behind. */
static int publish_new(mmf_map *m, struct shm_ext *e, uint64_t size,
                       unsigned flags, const struct fill *fill, int *lost,
                       int *section_taken) {
  static atomic_uint counter;
  struct shm_rec r;
  mmf_os_file f, mf = MMF_OS_FILE_INVALID;
  size_t n = strlen(e->path) + 48;
  char *tmp = malloc(n);
  int rc, created = 0, published = 0;

  *lost = 0;
  *section_taken = 0;
  if (!tmp)
    return mmf__error(MMF_ENOMEM, "out of memory");
  /* '~' is outside the name alphabet: never an object, never listed. */
  snprintf(tmp, n, "%s~%x.%lx", e->path, atomic_fetch_add(&counter, 1),
           (unsigned long)((uintptr_t)e ^ (uintptr_t)&n));
  r.size = size;
  r.lifetime = (flags & MMF_SHM_PERSISTENT) ? MMF_SHM_PERSISTENT
                                            : MMF_SHM_TRANSIENT;
  r.where = (r.lifetime == MMF_SHM_TRANSIENT && mmf__os_shm_named_sections())
                ? WHERE_SECTION
                : WHERE_FILE;
  r.gen = 0;
  if (r.where == WHERE_SECTION) {
    rc = mmf__os_random(&r.gen, sizeof r.gen);
    if (rc) {
      free(tmp);
      return rc;
    }
  }
  rc = mmf__os_open(tmp,
                    MMF__OS_READ | MMF__OS_WRITE | MMF__OS_NOFOLLOW |
                        MMF__OS_CREATE | MMF__OS_EXCL |
                        ((flags & MMF_SHM_ANYONE) ? 0 : MMF__OS_OWNER_ONLY),
                    &f, &created);
  if (rc == MMF_EEXIST) { /* another process's temporary name: try again */
    free(tmp);
    *lost = 1;
    return 0;
  }
  if (rc) {
    free(tmp);
    return rc;
  }
  /* GATE from the first moment: a sweeper (sweep_one) leaves the file of a
   * live creator alone. One that came in between open and lock may have
   * removed it: then start over, and leave the name alone (it may be
   * someone else's by now). */
  {
    int same = 0;
    rc = gate_lock(f);
    if (!rc)
      rc = mmf__os_file_is_at(f, tmp, &same);
    if (!rc && !same) {
      mmf__os_close(f);
      free(tmp);
      *lost = 1;
      return 0;
    }
  }
  if (!rc && (flags & MMF_SHM_ANYONE))
    rc = mmf__os_file_share_all(f);
  if (!rc && r.where == WHERE_FILE && size > 0)
    rc = mmf__os_file_extend(f, 0, size); /* real memory now, or ENOSPC */
  if (!rc)
    rc = write_rec(f, r.where == WHERE_FILE ? size : 0, &r);
  if (!rc && r.where == WHERE_FILE) /* mapped, handed over; f keeps locks */
    rc = mmf__os_reopen(f, (m->os_prot & MMF__OS_PROT_WRITE) != 0, &mf);
  if (!rc && r.where == WHERE_SECTION) {
    char sname[MMF_SHM_NAME_MAX + 32];
    section_name(e, r.gen, sname, sizeof sname);
    /* A zero-sized section cannot exist: give it one byte. */
    rc = mmf__os_named_section_create(sname, size ? size : 1,
                                      !(flags & MMF_SHM_ANYONE),
                                      &m->section);
    if (rc == MMF_EEXIST) {
      rc = 0;
      *lost = 1;
      *section_taken = 1;
    }
  } else if (!rc) {
    rc = mmf__os_section_open(mf, m->os_prot, size + SHM_TRAILER,
                              &m->section);
  }
  /* The contents, while only this process can reach the object (GATE
   * keeps sweepers off; a creator killed here leaves a file they remove). */
  if (!rc && !*lost && fill && size > 0)
    rc = run_fill(m, size, fill);
  if (!rc && !*lost)
    rc = mmf__os_file_lock(f, SHM_HOLD, 1, MMF__OS_LOCK_SHARED);
  /* HOLD now marks the file live; GATE must be free once it has a name. */
  if (!rc && !*lost)
    rc = gate_unlock(f);
  if (!rc && !*lost) {
    rc = mmf__os_publish(tmp, e->path);
    if (rc == MMF_EEXIST) {
      rc = 0;
      *lost = 1;
    } else if (!rc) {
      published = 1;
    }
  }
  if (!published) {
    /* Remove while f still holds GATE or HOLD: a sweeper leaves the file
     * alone until then, so the name is still this file's. Best effort: a
     * file left behind is a dead creator's to the next sweep, and the error
     * to report is the one that got us here. */
    mmf__best_effort_begin();
    (void)mmf__os_remove(tmp);
    mmf__best_effort_end();
    mmf__os_section_close(&m->section);
    if (mf != MMF_OS_FILE_INVALID)
      mmf__os_close(mf);
    mmf__os_close(f);
    free(tmp);
    return rc;
  }
  free(tmp);
  m->size = size;
  e->lockf = f;
  e->transient = r.lifetime == MMF_SHM_TRANSIENT;
  m->file = mf;
  m->ext = e;
  m->release = shm_release;
  return 0;
}

static int shm_create(const char *api, mmf_map **out, const char *name,
                      uint64_t size, unsigned flags, const struct fill *fill) {
  struct shm_ext *e;
  mmf_map *m;
  int rc;

  rc = check_out_and_name(api, out, name);
  if (rc)
    return rc;
  if (flags & ~(unsigned)(MMF_SHM_PERSISTENT | MMF_SHM_OPEN_EXISTING |
                          MMF_SHM_ANYONE))
    return mmf__error(MMF_EINVAL, "%s \"%s\": unknown flags 0x%x", api, name,
                      flags);
  if (size > (uint64_t)INT64_MAX - SHM_TRAILER)
    return mmf__error(MMF_EFBIG, "%s \"%s\": size %llu is too large", api,
                      name, (unsigned long long)size);
  e = ext_new_in(NULL, name, &rc);
  if (!e)
    return mmf__error_in(api, name, rc);
  m = mmf__map_new(e->oname, MMF_PROT_READWRITE, 0);
  if (!m) {
    ext_free(e);
    return mmf__error(MMF_ENOMEM, "%s \"%s\": out of memory", api, name);
  }
  int section_taken = 0, swept = 0;
  for (int tries = 0;; tries++) {
    mmf_os_file f;
    int lost = 0, stale = 0, mine = 0;
    struct shm_rec r;
    if (tries == SHM_CREATE_RETRIES) {
      rc = section_taken
               ? mmf__error(MMF_EEXIST, "the section \"%s\" is still held "
                            "by processes that removed its name", e->oname)
               : mmf__error(MMF_EBUSY, "\"%s\" keeps being removed and "
                            "created by other processes", e->path);
      break;
    }
    if (tries > 0)
      mmf__os_yield();
    rc = attach(e->path, &f);
    if (rc == MMF_ENOENT) {
      /* Before making an object (not on every open of an existing one:
       * the sweep reads the runtime directory). */
      if (!swept) {
        sweep_dead_creators(name);
        swept = 1;
      }
      rc = publish_new(m, e, size, flags, fill, &lost, &section_taken);
      if (rc || !lost)
        break;
      continue; /* someone else's name now: look at it */
    }
    if (rc)
      break;
    /* The name exists: someone else's file is a squatter; a dead transient
     * object is removed and the create starts over. */
    rc = mmf__os_file_is_mine(f, &mine);
    if (!rc && !mine)
      rc = mmf__error(MMF_EACCES, "\"%s\" exists and belongs to another "
                      "user (refused)", e->path);
    if (!rc)
      rc = inspect(f, &r, &stale);
    if (stale) {
      rc = mmf__os_remove_open(e->path);
      mmf__os_close(f);
      if (rc)
        break;
      continue;
    }
    if (!rc && !(flags & MMF_SHM_OPEN_EXISTING))
      rc = mmf__error(MMF_EEXIST, "\"%s\" already exists (%s)", e->path,
                      r.lifetime == MMF_SHM_PERSISTENT ? "persistent"
                                                       : "transient, held");
    if (!rc)
      rc = become_holder(m, e, f, &r);
    if (rc)
      mmf__os_close(f);
    break;
  }
  if (rc) {
    ext_free(e);
    mmf__map_free(m);
    return mmf__error_in(api, name, rc);
  }
  *out = m;
  return 0;
}

int mmf_shm_create(mmf_map **out, const char *name, uint64_t size,
                   unsigned flags) {
  return shm_create("mmf_shm_create", out, name, size, flags, NULL);
}

int mmf_shm_create_filled(mmf_map **out, const char *name, uint64_t size,
                          unsigned flags, mmf_shm_fill_fn fill, void *ctx) {
  struct fill f;
  if (!fill) {
    if (out)
      *out = NULL;
    return mmf__error(MMF_EINVAL, "mmf_shm_create_filled: NULL fill");
  }
  f.fn = fill;
  f.ctx = ctx;
  return shm_create("mmf_shm_create_filled", out, name, size, flags, &f);
}

int mmf_shm_open(mmf_map **out, const char *name, int prot, unsigned flags) {
  static const char api[] = "mmf_shm_open";
  struct shm_ext *e;
  struct shm_rec r;
  mmf_map *m;
  mmf_os_file f;
  int rc, stale = 0;

  rc = check_out_and_name(api, out, name);
  if (rc)
    return rc;
  if (prot != MMF_PROT_READ && prot != MMF_PROT_READWRITE)
    return mmf__error(MMF_EINVAL, "%s \"%s\": protection 0x%x is neither "
                      "MMF_PROT_READ nor MMF_PROT_READWRITE", api, name,
                      (unsigned)prot);
  if (flags)
    return mmf__error(MMF_EINVAL, "%s \"%s\": unknown flags 0x%x", api, name,
                      flags);
  e = ext_new_in(NULL, name, &rc);
  if (!e)
    return mmf__error_in(api, name, rc);
  m = mmf__map_new(e->oname, prot, 0);
  if (!m) {
    ext_free(e);
    return mmf__error(MMF_ENOMEM, "%s \"%s\": out of memory", api, name);
  }
  rc = attach(e->path, &f);
  if (rc)
    goto out_free;
  rc = inspect(f, &r, &stale);
  if (!rc && stale) {
    /* A transient object whose holders all died: it is gone by the rule;
     * take its name away while GATE is ours. */
    rc = remove_stale(e->path);
    if (!rc)
      rc = mmf__error(MMF_ENOENT, "\"%s\": no such object (a transient "
                      "object whose holders are all gone)", e->path);
  }
  if (!rc)
    rc = become_holder(m, e, f, &r);
  if (rc) {
    mmf__os_close(f);
    goto out_free;
  }
  *out = m;
  return 0;

out_free:
  ext_free(e);
  mmf__map_free(m);
  return mmf__error_in(api, name, rc);
}

int mmf_shm_anonymous(mmf_map **out, uint64_t size) {
  static const char api[] = "mmf_shm_anonymous";
  mmf_map *m;
  int rc;
  if (out)
    *out = NULL;
  if (!out)
    return mmf__error(MMF_EINVAL, "%s: NULL out", api);
  if (size == 0)
    return mmf__error(MMF_EINVAL, "%s: size 0 (an empty mapping cannot be "
                      "mapped)", api);
  if (size > (uint64_t)INT64_MAX)
    return mmf__error(MMF_EFBIG, "%s: size %llu is too large", api,
                      (unsigned long long)size);
  m = mmf__map_new("<anonymous>", MMF_PROT_READWRITE, 0);
  if (!m)
    return mmf__error(MMF_ENOMEM, "%s: out of memory", api);
  rc = mmf__os_shm_anonymous(size, &m->file, &m->section);
  if (rc) {
    mmf__map_free(m);
    return mmf__error_in(api, "<anonymous>", rc);
  }
  m->size = size;
  *out = m;
  return 0;
}

int mmf_shm_remove(const char *name) {
  static const char api[] = "mmf_shm_remove";
  struct shm_ext *e;
  struct shm_rec r;
  mmf_os_file f;
  int rc, stale = 0;
  if (!name)
    return mmf__error(MMF_EINVAL, "%s: NULL name", api);
  rc = check_name(api, name);
  if (rc)
    return rc;
  e = ext_new_in(NULL, name, &rc);
  if (!e)
    return mmf__error_in(api, name, rc);
  rc = attach(e->path, &f);
  if (!rc) {
    /* A bad trailer is no reason to keep it: remove it all the same. */
    rc = inspect(f, &r, &stale);
    if (rc == MMF_ECORRUPT || rc == MMF_ENOENT) {
      rc = 0;
      stale = 0;
    }
    if (!rc)
      rc = mmf__os_remove_open(e->path);
    if (!rc && stale)
      rc = mmf__error(MMF_ENOENT, "\"%s\": no such object (a transient "
                      "object whose holders are all gone)", e->path);
    mmf__os_close(f);
  }
  if (!rc || rc == MMF_ENOENT)
    sweep_dead_creators(name); /* `rm` leaves nothing of the name */
  if (rc)
    mmf__error_in(api, name, rc);
  ext_free(e);
  return rc;
}

struct list_ctx {
  mmf_shm_list_fn fn;
  void *ctx;
  const char *dir;
};

/* Failures that mean "not an object this user can list", not a failed
 * listing: removed meanwhile, another user's, not a regular file, a bad
 * or unfinished trailer. */
static int not_listed(int rc) {
  return rc == MMF_ENOENT || rc == MMF_EACCES || rc == MMF_EPERM ||
         rc == MMF_ENOTSUP || rc == MMF_EISDIR || rc == MMF_ECORRUPT;
}

static int list_one(void *arg, const char *entry) {
  struct list_ctx *lc = arg;
  mmf_shm_info info;
  struct shm_rec r;
  struct shm_ext *e;
  mmf_os_file f;
  const char *name = entry + 4;
  int rc, stale = 0;
  /* (what a skipped entry records is dropped by mmf_shm_list) */
  if (strncmp(entry, "mmf.", 4) != 0 || strlen(name) > MMF_SHM_NAME_MAX ||
      check_name("mmf_shm_list", name) != 0)
    return 0; /* not one of ours (a creator's temporary file, say) */
  e = ext_new_in(lc->dir, name, &rc);
  if (!e)
    return mmf__error_in("mmf_shm_list", name, rc);
  rc = attach_waiting(e->path, &f, LIST_GATE_WAIT_MS);
  if (!rc) {
    rc = inspect(f, &r, &stale);
    /* A transient object whose holders are all gone is gone by the rule:
     * free its memory now (the next create of its name would). */
    if (!rc && stale)
      rc = remove_stale(e->path);
    mmf__os_close(f);
  }
  ext_free(e);
  if (rc && not_listed(rc))
    return 0;
  if (rc)
    return mmf__error_in("mmf_shm_list", name, rc);
  if (stale)
    return 0;
  memset(&info, 0, sizeof info);
  strcpy(info.name, name);
  info.size = r.size;
  info.lifetime = r.lifetime;
  return lc->fn(lc->ctx, &info);
}

int mmf_shm_list(mmf_shm_list_fn fn, void *ctx) {
  static const char api[] = "mmf_shm_list";
  char dir[1024];
  struct list_ctx lc;
  struct mmf__error_rec before;
  int rc;
  if (!fn)
    return mmf__error(MMF_EINVAL, "%s: NULL fn", api);
  mmf__error_save(&before);
  rc = mmf__os_runtime_dir(dir, sizeof dir);
  if (rc)
    return mmf__error_in(api, NULL, rc);
  sweep_dead_creators(NULL);
  lc.fn = fn;
  lc.ctx = ctx;
  lc.dir = dir;
  rc = mmf__os_dir_list(dir, list_one, &lc);
  if (rc < 0 && mmf_last_error() == rc)
    mmf__error_in(api, dir, rc);
  else if (rc == 0) /* entries skipped on the way leave no trace */
    (void)mmf__error_restore(&before);
  return rc;
}

int mmf_stdio_binary(int fd) {
  int rc;
  if (fd < 0 || fd > 2)
    return mmf__error(MMF_EINVAL, "mmf_stdio_binary: %d is not 0, 1 or 2",
                      fd);
  rc = mmf__os_stdio_binary(fd);
  return rc ? mmf__error_in("mmf_stdio_binary", NULL, rc) : 0;
}
