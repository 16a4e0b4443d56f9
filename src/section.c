/* section.c -- shared sections: a block every running instance of a
 * program maps, and a count of running instances that a killed instance
 * cannot make wrong (the classic #pragma data_seg RWS instance counter,
 * done with per-instance byte-range locks instead of a counter). */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(struct mmf__section_hdr) == MMF__SECTION_HDR,
               "the section header is 64 bytes");

/* Lock bytes, all far past the end of the file (locks there cost nothing
 * and never cover data the OS might refuse to read or write on Windows). */
#define LOCK_REGISTRY (MMF__SECTION_LOCKS + 0) /* join/count/initialise */
#define LOCK_USER (MMF__SECTION_LOCKS + 1)     /* mmf_section_lock() */
#define LOCK_SLOTS (MMF__SECTION_LOCKS + 64)   /* one byte per instance */

struct mmf_section {
  mmf_os_file file;  /* holds this instance's slot (and the locks it takes) */
  mmf_os_file probe; /* a second open that holds nothing: counting through
                      * it sees every slot, this instance's own included */
  mmf_view *view;    /* header + block, read-write */
  unsigned char *block;
  size_t size;
  unsigned slot;
  int first;
  int locked;
  char key[MMF_SECTION_KEY_MAX + 1];
  char *path;
};

/* ---- keys ----------------------------------------------------------------*/

static int key_char(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

static int check_key(const char *api, const char *key) {
  size_t n = strlen(key), i;
  if (n == 0)
    return mmf__error(MMF_EINVAL, "%s: empty key", api);
  if (n > MMF_SECTION_KEY_MAX)
    return mmf__error(MMF_EINVAL, "%s: key of %zu bytes is longer than %d",
                      api, n, MMF_SECTION_KEY_MAX);
  for (i = 0; i < n; i++)
    if (!key_char((unsigned char)key[i]))
      return mmf__error(MMF_EINVAL,
                        "%s: key \"%.*s\": byte %zu (0x%02x) is not one of "
                        "[A-Za-z0-9._-]",
                        api, (int)(n > 64 ? 64 : n), key, i,
                        (unsigned)(unsigned char)key[i]);
  if (key[n - 1] == '.') /* Windows drops it: "k." would be "k" there */
    return mmf__error(MMF_EINVAL, "%s: key \"%.*s\" ends with '.'", api,
                      (int)(n > 64 ? 64 : n), key);
  return 0;
}

int mmf_section_default_key(char *buf, size_t n) {
  static const char api[] = "mmf_section_default_key";
  char exe[4096], key[MMF_SECTION_KEY_MAX + 1];
  const char *base, *p;
  uint64_t h = 0xcbf29ce484222325u; /* FNV-1a 64 */
  size_t k = 0;
  int rc;

  if (!buf)
    return mmf__error(MMF_EINVAL, "%s: NULL buf", api);
  rc = mmf__os_exe_path(exe, sizeof exe);
  if (rc)
    return mmf__error_in(api, NULL, rc);
  base = exe;
  for (p = exe; *p; p++) {
    h = (h ^ (unsigned char)*p) * 0x100000001b3u;
    if (*p == '/' || *p == '\\')
      base = p + 1;
  }
  for (p = base; *p && k < 40; p++)
    key[k++] = key_char((unsigned char)*p) ? *p : '_';
  snprintf(key + k, sizeof key - k, "-%016llx", (unsigned long long)h);
  if (strlen(key) >= n)
    return mmf__error(MMF_ENAMETOOLONG, "%s: key \"%s\" does not fit in %zu "
                      "bytes", api, key, n);
  strcpy(buf, key);
  return 0;
}

/* ---- slots ---------------------------------------------------------------*/

/* Count the held slot bytes in [lo, hi) through `probe`: one lock attempt
 * covers a whole free range, so this costs O(held * log(slots)) calls. */
static int count_held(mmf_os_file probe, uint64_t lo, uint64_t hi,
                      unsigned *n) {
  uint64_t mid;
  int rc;
  if (lo == hi)
    return 0;
  rc = mmf__os_file_lock(probe, lo, hi - lo, MMF__OS_LOCK_QUIET);
  if (rc == 0) {
    rc = mmf__os_file_unlock(probe, lo, hi - lo);
    if (rc) /* never leave the probe holding slots: they would look busy */
      (void)mmf__os_file_unlock(probe, lo, hi - lo);
    return rc;
  }
  if (rc != MMF_EBUSY)
    return rc;
  if (hi - lo == 1) {
    (*n)++;
    return 0;
  }
  mid = lo + (hi - lo) / 2;
  rc = count_held(probe, lo, mid, n);
  return rc ? rc : count_held(probe, mid, hi, n);
}

static atomic_uint *hdr_field(const mmf_section *s, size_t off) {
  return (atomic_uint *)((unsigned char *)mmf_view_data(s->view) + off);
}

#define DIRTY offsetof(struct mmf__section_hdr, dirty)
#define USED offsetof(struct mmf__section_hdr, used)

/* Count every held slot. Instances take the lowest free slot, so the held
 * ones sit below the header's `used` hint: the slots above it are checked
 * with one lock call, and only searched when that finds some (a hint
 * another instance may have spoiled must not spoil the count). */
static int count_all(mmf_section *s, unsigned *n) {
  unsigned used = atomic_load(hdr_field(s, USED)), above = 0;
  int rc;
  *n = 0;
  if (used > MMF_SECTION_MAX_INSTANCES)
    used = MMF_SECTION_MAX_INSTANCES;
  rc = count_held(s->probe, LOCK_SLOTS + used,
                  LOCK_SLOTS + MMF_SECTION_MAX_INSTANCES, &above);
  if (!rc)
    rc = count_held(s->probe, LOCK_SLOTS, LOCK_SLOTS + used, n);
  *n += above;
  return rc;
}

/* 1 in *any when a slot other than this instance's is held. */
static int others_held(mmf_section *s, int *any) {
  unsigned n = 0;
  uint64_t mine = LOCK_SLOTS + s->slot;
  int rc = count_held(s->probe, LOCK_SLOTS, mine, &n);
  if (!rc && n == 0)
    rc = count_held(s->probe, mine + 1,
                    LOCK_SLOTS + MMF_SECTION_MAX_INSTANCES, &n);
  *any = n > 0;
  return rc;
}

/* Take the first free slot through s->file. */
static int claim_slot(mmf_section *s) {
  unsigned i;
  for (i = 0; i < MMF_SECTION_MAX_INSTANCES; i++) {
    int rc =
        mmf__os_file_lock(s->file, LOCK_SLOTS + i, 1, MMF__OS_LOCK_QUIET);
    if (rc == 0) {
      s->slot = i;
      return 0;
    }
    if (rc != MMF_EBUSY)
      return rc;
  }
  return mmf__error(MMF_EBUSY, "all %u instance slots are taken",
                    MMF_SECTION_MAX_INSTANCES);
}

/* ---- the file ------------------------------------------------------------*/

/* Read and check the header of a file other instances are using. 1 in
 * *valid when it is a well-formed section; *why says what is wrong. */
static int read_header(mmf_section *s, struct mmf__section_hdr *h, int *valid,
                       char *why, size_t why_n) {
  uint64_t fsize;
  size_t got;
  int rc = mmf__os_file_size(s->file, &fsize);
  if (!rc)
    rc = mmf__os_read(s->file, 0, h, sizeof *h, &got);
  if (rc)
    return rc;
  *valid = 0;
  if (got < sizeof *h)
    snprintf(why, why_n, "the file is %llu bytes, shorter than its header",
             (unsigned long long)fsize);
  else if (h->magic != MMF__SECTION_MAGIC || h->version != MMF__SECTION_VERSION)
    snprintf(why, why_n, "bad magic 0x%08x / version %u", (unsigned)h->magic,
             (unsigned)h->version);
  else if (h->hdr_size != MMF__SECTION_HDR ||
           h->slots != MMF_SECTION_MAX_INSTANCES)
    snprintf(why, why_n, "bad header size %u / slot count %u",
             (unsigned)h->hdr_size, (unsigned)h->slots);
  else if (h->size > MMF_SECTION_MAX_SIZE ||
           fsize != MMF__SECTION_HDR + h->size)
    snprintf(why, why_n, "the header says %llu bytes of data but the file "
             "is %llu bytes", (unsigned long long)h->size,
             (unsigned long long)fsize);
  else
    *valid = 1;
  return 0;
}

/* The first instance: give the file `size` zero bytes of data (keeping the
 * size of a well-formed earlier file when size is 0 = any) and a fresh
 * header. No instance maps the file now (none holds a slot). */
static int init_file(mmf_section *s, size_t size) {
  struct mmf__section_hdr h;
  char why[160];
  int valid = 0, rc;
  if (size == 0) {
    rc = read_header(s, &h, &valid, why, sizeof why);
    if (rc)
      return rc;
    if (valid)
      size = (size_t)h.size;
  }
  rc = mmf__os_file_truncate(s->file, 0);
  if (!rc)
    rc = mmf__os_file_extend(s->file, 0, MMF__SECTION_HDR + (uint64_t)size);
  if (rc)
    return rc;
  memset(&h, 0, sizeof h);
  h.magic = MMF__SECTION_MAGIC;
  h.version = MMF__SECTION_VERSION;
  h.size = size;
  h.slots = MMF_SECTION_MAX_INSTANCES;
  h.hdr_size = MMF__SECTION_HDR;
  rc = mmf__os_write(s->file, 0, &h, sizeof h);
  if (rc)
    return rc;
  s->size = size;
  s->first = 1;
  return 0;
}

/* A later instance: the running instances' header must be well-formed and
 * agree with the size asked for. */
static int check_file(mmf_section *s, size_t size) {
  struct mmf__section_hdr h;
  char why[160];
  int valid, rc = read_header(s, &h, &valid, why, sizeof why);
  if (rc)
    return rc;
  if (!valid)
    return mmf__error(MMF_ECORRUPT, "the running instances' section is "
                      "corrupt: %s", why);
  if (size != 0 && size != h.size)
    return mmf__error(MMF_EINVAL, "the running instances share %llu bytes, "
                      "this open asked for %zu", (unsigned long long)h.size,
                      size);
  s->size = (size_t)h.size;
  return 0;
}

/* Map header + block read-write through a mapping object of our own (named
 * for the section's path in error messages) on a duplicate of the file. */
static int map_file(mmf_section *s) {
  uint64_t len = MMF__SECTION_HDR + (uint64_t)s->size;
  mmf_map *m = mmf__map_new(s->path, MMF_PROT_READWRITE, 0);
  int writable, rc;
  if (!m)
    return mmf__error(MMF_ENOMEM, "out of memory");
  rc = mmf__os_dup((intptr_t)s->file, &m->file, &writable);
  if (rc) {
    mmf__map_free(m);
    return rc;
  }
  m->size = len;
  rc = mmf__os_section_open(m->file, m->os_prot, len, &m->section);
  if (rc) {
    mmf__os_close(m->file);
    mmf__map_free(m);
    return rc;
  }
  rc = mmf_view_map(&s->view, m, 0, 0, MMF_ACCESS_WRITE);
  mmf_map_close(m); /* the view, if any, keeps the mapping */
  if (rc)
    return rc;
  s->block = (unsigned char *)mmf_view_data(s->view) + MMF__SECTION_HDR;
  return 0;
}

static atomic_uint *dirty_flag(const mmf_section *s) {
  return hdr_field(s, DIRTY);
}

/* Raise the `used` hint to cover this instance's slot (registry held). */
static void note_slot(mmf_section *s) {
  atomic_uint *used = hdr_field(s, USED);
  if (atomic_load(used) < s->slot + 1)
    atomic_store(used, s->slot + 1);
}

/* ---- the API -------------------------------------------------------------*/

static void section_free(mmf_section *s) {
  free(s->path);
  free(s);
}

int mmf_section_open(mmf_section **out, const char *key, size_t size,
                     unsigned flags) {
  static const char api[] = "mmf_section_open";
  char dir[1024], user[16];
  mmf_section *s;
  int created, others = 0, rc;
  size_t n;

  if (out)
    *out = NULL;
  if (!out)
    return mmf__error(MMF_EINVAL, "%s: NULL out", api);
  if (key && (rc = check_key(api, key)) != 0)
    return rc;
  if (flags)
    return mmf__error(MMF_EINVAL, "%s: unknown flags 0x%x", api, flags);
  if (size > MMF_SECTION_MAX_SIZE)
    return mmf__error(MMF_EINVAL, "%s: size %zu is larger than the maximum "
                      "%zu", api, size, MMF_SECTION_MAX_SIZE);
  s = calloc(1, sizeof *s);
  if (!s)
    return mmf__error(MMF_ENOMEM, "%s: out of memory", api);
  s->file = s->probe = MMF_OS_FILE_INVALID;
  if (key)
    strcpy(s->key, key);
  else if ((rc = mmf_section_default_key(s->key, sizeof s->key)) != 0)
    goto out_free;
  rc = mmf__os_runtime_dir(dir, sizeof dir);
  if (rc)
    goto out_free;
  /* Per user: in Linux's /dev/shm, which every user shares, a key taken
   * by one user's file would refuse every other user (owner-only files). */
  mmf__os_user_tag(user, sizeof user);
  n = strlen(dir) + strlen("/mmf-section.") + strlen(user) + strlen(s->key) +
      1;
  s->path = malloc(n);
  if (!s->path) {
    rc = mmf__error(MMF_ENOMEM, "out of memory");
    goto out_free;
  }
  snprintf(s->path, n, "%s/mmf-section.%s%s", dir, user, s->key);

  rc = mmf__os_open(s->path,
                    MMF__OS_READ | MMF__OS_WRITE | MMF__OS_CREATE |
                        MMF__OS_OWNER_ONLY | MMF__OS_NOFOLLOW,
                    &s->file, &created);
  if (rc)
    goto out_free;
  /* A section file another user made (world-writable, squatting a
   * predictable key) would let them read and forge our block and counts. */
  {
    int mine = 0;
    rc = mmf__os_file_is_mine(s->file, &mine);
    if (!rc && !mine)
      rc = mmf__error(MMF_EACCES, "\"%s\" belongs to another user "
                      "(refused)", s->path);
    if (rc)
      goto out_close;
  }
  rc = mmf__os_open(s->path, MMF__OS_READ | MMF__OS_WRITE | MMF__OS_NOFOLLOW,
                    &s->probe, &created);
  if (rc)
    goto out_close;
  /* Everything below happens under the registry lock: no instance joins,
   * counts or reinitialises the file meanwhile. */
  rc = mmf__os_file_lock(s->file, LOCK_REGISTRY, 1, MMF__OS_LOCK_WAIT);
  if (rc)
    goto out_close;
  rc = claim_slot(s);
  if (!rc)
    rc = others_held(s, &others);
  if (!rc)
    rc = others ? check_file(s, size) : init_file(s, size);
  if (!rc)
    rc = map_file(s);
  if (!rc) {
    note_slot(s);
    rc = mmf__os_file_unlock(s->file, LOCK_REGISTRY, 1);
  }
  if (rc)
    goto out_close; /* closing the file drops the slot and the registry */
  *out = s;
  return 0;

out_close:
  if (s->view)
    mmf_view_unmap(s->view); /* before the slot goes: see mmf_section_close */
  if (s->probe != MMF_OS_FILE_INVALID)
    mmf__os_close(s->probe);
  mmf__os_close(s->file);
out_free:
  rc = mmf__error_in(api, s->path ? s->path : s->key[0] ? s->key : NULL, rc);
  section_free(s);
  return rc;
}

void *mmf_section_data(const mmf_section *s) {
  return s && s->size ? s->block : NULL;
}

size_t mmf_section_size(const mmf_section *s) { return s ? s->size : 0; }

const char *mmf_section_key(const mmf_section *s) { return s ? s->key : NULL; }

const char *mmf_section_path(const mmf_section *s) {
  return s ? s->path : NULL;
}

int mmf_section_first(const mmf_section *s) { return s ? s->first : 0; }

int mmf_section_instances(mmf_section *s, unsigned *count) {
  static const char api[] = "mmf_section_instances";
  unsigned n = 0;
  int rc, urc;
  if (count)
    *count = 0;
  if (!s || !count)
    return mmf__error(MMF_EINVAL, "%s: NULL %s", api, s ? "count" : "section");
  rc = mmf__os_file_lock(s->file, LOCK_REGISTRY, 1, MMF__OS_LOCK_WAIT);
  if (rc)
    return mmf__error_in(api, s->path, rc);
  rc = count_all(s, &n);
  urc = mmf__os_file_unlock(s->file, LOCK_REGISTRY, 1);
  if (urc) /* a registry left locked would stop every other instance */
    (void)mmf__os_file_unlock(s->file, LOCK_REGISTRY, 1);
  if (!rc)
    rc = urc;
  if (rc)
    return mmf__error_in(api, s->path, rc);
  *count = n;
  return 0;
}

static int section_lock(mmf_section *s, int wait, const char *api) {
  int rc;
  if (!s)
    return mmf__error(MMF_EINVAL, "%s: NULL section", api);
  if (s->locked)
    return mmf__error(MMF_EINVAL, "%s \"%s\": this section object already "
                      "holds the lock", api, s->path);
  rc = mmf__os_file_lock(s->file, LOCK_USER, 1, wait ? MMF__OS_LOCK_WAIT : 0);
  if (rc)
    return mmf__error_in(api, s->path, rc);
  s->locked = 1;
  /* The flag is 1 exactly while some instance holds the lock; finding it
   * set means its last holder died before unlocking. */
  if (atomic_exchange(dirty_flag(s), 1u) != 0)
    return mmf__error(MMF_EOWNERDEAD, "%s \"%s\": the previous holder died "
                      "holding the lock; the block may be half-updated "
                      "(the lock is held now)", api, s->path);
  return 0;
}

int mmf_section_lock(mmf_section *s) {
  return section_lock(s, 1, "mmf_section_lock");
}

int mmf_section_trylock(mmf_section *s) {
  return section_lock(s, 0, "mmf_section_trylock");
}

int mmf_section_unlock(mmf_section *s) {
  static const char api[] = "mmf_section_unlock";
  int rc;
  if (!s)
    return mmf__error(MMF_EINVAL, "%s: NULL section", api);
  if (!s->locked)
    return mmf__error(MMF_EINVAL, "%s \"%s\": this section object does not "
                      "hold the lock", api, s->path);
  atomic_store(dirty_flag(s), 0u);
  rc = mmf__os_file_unlock(s->file, LOCK_USER, 1);
  if (rc) {
    atomic_store(dirty_flag(s), 1u); /* still held: still ours to clear */
    return mmf__error_in(api, s->path, rc);
  }
  s->locked = 0;
  return 0;
}

int mmf_section_close(mmf_section *s) {
  static const char api[] = "mmf_section_close";
  int rc, r2;
  if (!s)
    return 0;
  if (s->locked)
    atomic_store(dirty_flag(s), 0u); /* leaving is a clean release */
  /* Unmap before the slot goes: once no slot is held, a new first instance
   * may truncate the file, which must not be mapped anywhere then. */
  rc = mmf_view_unmap(s->view);
  r2 = mmf__os_close(s->probe);
  if (!rc)
    rc = r2;
  r2 = mmf__os_close(s->file);
  if (!rc)
    rc = r2;
  if (rc)
    mmf__error_in(api, s->path, rc);
  section_free(s);
  return rc;
}
