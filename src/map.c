/* map.c -- mapping objects: open a file (or adopt a caller's), size it,
 * read/write/sync it, and count the references views hold on it. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *mmf_version(void) { return MMF_VERSION_STRING; }

int mmf_args_utf8(int *argc, char ***argv) {
  int rc;
  if (!argc || !argv)
    return mmf__error(MMF_EINVAL, "mmf_args_utf8: NULL argument");
  rc = mmf__os_args_utf8(argc, argv);
  return rc ? mmf__error_in("mmf_args_utf8", NULL, rc) : 0;
}

size_t mmf_page_size(void) {
  size_t page;
  mmf__os_sysinfo(&page, NULL);
  return page;
}

size_t mmf_granularity(void) {
  size_t gran;
  mmf__os_sysinfo(NULL, &gran);
  return gran;
}

int mmf__check_range(uint64_t off, uint64_t len, uint64_t size) {
  if (len > UINT64_MAX - off)
    return mmf__error(MMF_EOVERFLOW,
                      "offset %llu + length %llu overflows a 64-bit offset",
                      (unsigned long long)off, (unsigned long long)len);
  if (off + len > size)
    return mmf__error(MMF_ERANGE,
                      "range [%llu, %llu) is past the end (%llu bytes)",
                      (unsigned long long)off, (unsigned long long)(off + len),
                      (unsigned long long)size);
  return 0;
}

/* Section protection for a public prot. */
static unsigned os_prot_of(int prot) {
  unsigned p = MMF__OS_PROT_READ;
  switch (prot & ~MMF_PROT_EXEC) {
  case MMF_PROT_READWRITE:
    p |= MMF__OS_PROT_WRITE;
    break;
  case MMF_PROT_WRITECOPY:
    p |= MMF__OS_PROT_COPY;
    break;
  default:
    break;
  }
  if (prot & MMF_PROT_EXEC)
    p |= MMF__OS_PROT_EXEC;
  return p;
}

static int prot_valid(int prot) {
  int base = prot & ~MMF_PROT_EXEC;
  return (prot & ~(MMF_PROT_EXEC | 0x3)) == 0 && base >= MMF_PROT_READ &&
         base <= MMF_PROT_WRITECOPY;
}

/* Size the file for the mapping and create the section. On error the file
 * is left as it was found (extend undoes itself). */
static int map_setup(mmf_map *m, uint64_t max_size) {
  uint64_t fsize;
  int rc = mmf__os_file_size(m->file, &fsize);
  if (rc)
    return rc;
  if (max_size == 0) {
    if (fsize == 0) {
      /* A file may say it is empty and not be: those the kernel makes up
       * when read (/proc, /sys) report a size of 0. One byte tells. */
      unsigned char probe;
      size_t got = 0;
      mmf__best_effort_begin();
      rc = mmf__os_read(m->file, 0, &probe, 1, &got);
      mmf__best_effort_end();
      if (rc == 0 && got > 0)
        return mmf__error(MMF_ENOTSUP,
                          "the file reported a size of 0 but holds data (a "
                          "file made up when read, as in /proc, or one "
                          "written to meanwhile): it cannot be mapped as "
                          "it is");
      return mmf__error(MMF_EEMPTY,
                        "the file is empty and no maximum size was given");
    }
    max_size = fsize;
  } else if (max_size > fsize) {
    if (!(m->os_prot & MMF__OS_PROT_WRITE))
      return mmf__error(MMF_ERANGE,
                        "maximum size %llu is larger than the file (%llu "
                        "bytes) and a read-only mapping cannot grow it",
                        (unsigned long long)max_size,
                        (unsigned long long)fsize);
    rc = mmf__os_file_extend(m->file, fsize, max_size);
    if (rc)
      return rc;
  }
  m->size = max_size;
  rc = mmf__os_section_open(m->file, m->os_prot, m->size, &m->section);
  if (rc && max_size > fsize)
    (void)mmf__os_file_truncate(m->file, fsize); /* undo the extension */
  return rc;
}

mmf_map *mmf__map_new(const char *path, int prot, unsigned flags) {
  mmf_map *m = calloc(1, sizeof *m);
  if (!m)
    return NULL;
  m->path = malloc(strlen(path) + 1);
  if (!m->path) {
    free(m);
    return NULL;
  }
  strcpy(m->path, path);
  atomic_init(&m->refs, 1);
  m->user_open = 1;
  m->file = MMF_OS_FILE_INVALID;
  m->prot = prot;
  m->os_prot = os_prot_of(prot);
  m->flags = flags;
  return m;
}

void mmf__map_free(mmf_map *m) {
  free(m->path);
  free(m);
}

int mmf_map_open(mmf_map **out, const char *path, int prot, unsigned flags,
                 uint64_t max_size) {
  static const char api[] = "mmf_map_open";
  unsigned osflags = MMF__OS_READ;
  mmf_map *m;
  int created = 0, rc;

  if (out)
    *out = NULL;
  if (!out || !path)
    return mmf__error(MMF_EINVAL, "%s: NULL %s", api, out ? "path" : "out");
  if (!prot_valid(prot))
    return mmf__error(MMF_EINVAL, "%s \"%s\": unknown protection 0x%x", api,
                      path, (unsigned)prot);
  if (flags & ~(unsigned)(MMF_OPEN_CREATE | MMF_OPEN_EXCL | MMF_OPEN_TRUNCATE |
                          MMF_OPEN_WRITE_THROUGH))
    return mmf__error(MMF_EINVAL, "%s \"%s\": unknown flags 0x%x", api, path,
                      flags);
  if ((flags & (MMF_OPEN_CREATE | MMF_OPEN_TRUNCATE)) &&
      (prot & ~MMF_PROT_EXEC) != MMF_PROT_READWRITE)
    return mmf__error(MMF_EINVAL,
                      "%s \"%s\": CREATE and TRUNCATE need MMF_PROT_READWRITE",
                      api, path);
  if ((flags & MMF_OPEN_EXCL) && !(flags & MMF_OPEN_CREATE))
    return mmf__error(MMF_EINVAL, "%s \"%s\": EXCL needs CREATE", api, path);
  if (max_size > (uint64_t)INT64_MAX)
    return mmf__error(MMF_EFBIG,
                      "%s \"%s\": maximum size %llu is larger than any file "
                      "can be", api, path, (unsigned long long)max_size);
  if ((flags & MMF_OPEN_TRUNCATE) && max_size == 0)
    return mmf__error(MMF_EINVAL,
                      "%s \"%s\": TRUNCATE needs a maximum size (an empty "
                      "file cannot be mapped)",
                      api, path);

  m = mmf__map_new(path, prot, flags);
  if (!m)
    return mmf__error(MMF_ENOMEM, "%s \"%s\": out of memory", api, path);
  if (m->os_prot & MMF__OS_PROT_WRITE)
    osflags |= MMF__OS_WRITE;
  if (flags & MMF_OPEN_CREATE)
    osflags |= MMF__OS_CREATE;
  if (flags & MMF_OPEN_EXCL)
    osflags |= MMF__OS_EXCL;
  if (flags & MMF_OPEN_TRUNCATE)
    osflags |= MMF__OS_TRUNC;
  if (flags & MMF_OPEN_WRITE_THROUGH)
    osflags |= MMF__OS_WRITE_THROUGH;
  if (prot & MMF_PROT_EXEC)
    osflags |= MMF__OS_EXEC;

  rc = mmf__os_open(path, osflags, &m->file, &created);
  if (rc)
    goto out_free;
  rc = map_setup(m, max_size);
  if (rc)
    goto out_close;
  *out = m;
  return 0;

out_close:
  mmf__os_close(m->file);
  if (created)
    mmf__os_remove(path);
out_free:
  mmf__map_free(m);
  return mmf__error_in(api, path, rc);
}

int mmf_map_from_native(mmf_map **out, intptr_t native, int prot,
                        uint64_t max_size) {
  static const char api[] = "mmf_map_from_native";
  char name[48];
  mmf_map *m;
  int writable = 0, rc;

  if (out)
    *out = NULL;
  if (!out)
    return mmf__error(MMF_EINVAL, "%s: NULL out", api);
  if (!prot_valid(prot))
    return mmf__error(MMF_EINVAL, "%s: unknown protection 0x%x", api,
                      (unsigned)prot);
  if (max_size > (uint64_t)INT64_MAX)
    return mmf__error(MMF_EFBIG, "%s: maximum size %llu is larger than any "
                                 "file can be", api,
                      (unsigned long long)max_size);
  snprintf(name, sizeof name, "<native file %lld>", (long long)native);
  m = mmf__map_new(name, prot, 0);
  if (!m)
    return mmf__error(MMF_ENOMEM, "%s: out of memory", api);
  rc = mmf__os_dup(native, &m->file, &writable);
  if (rc)
    goto out_free;
  if ((m->os_prot & MMF__OS_PROT_WRITE) && writable <= 0) {
    rc = mmf__error(MMF_EBADF,
                    writable < 0
                        ? "the file is open for appending (O_APPEND), where "
                          "writes at an offset go to its end: "
                          "MMF_PROT_READWRITE needs a plain read-write open"
                        : "the file is not open for writing, which "
                          "MMF_PROT_READWRITE needs");
    goto out_close;
  }
  rc = map_setup(m, max_size);
  if (rc)
    goto out_close;
  *out = m;
  return 0;

out_close:
  mmf__os_close(m->file);
out_free:
  mmf__map_free(m);
  return mmf__error_in(api, name, rc);
}

uint64_t mmf_map_size(const mmf_map *map) { return map ? map->size : 0; }

int mmf_map_prot(const mmf_map *map) { return map ? map->prot : 0; }

/* The read/write path needs a file; Windows transient and anonymous shared
 * memory has none (mmf.h): MMF_EBADF that says so. */
static int need_file(const char *api, const mmf_map *map) {
  if (map->file != MMF_OS_FILE_INVALID)
    return 0;
  return mmf__error(MMF_EBADF, "%s \"%s\": a memory-backed object without "
                    "a file has no read/write path: use a view", api,
                    map->path);
}

int mmf_map_read(mmf_map *map, uint64_t offset, void *buf, size_t len,
                 size_t *got) {
  size_t n = 0;
  int rc;
  if (got)
    *got = 0;
  if (!map || (!buf && len))
    return mmf__error(MMF_EINVAL, "mmf_map_read: NULL %s", map ? "buf" : "map");
  if (len > UINT64_MAX - offset)
    return mmf__error_in("mmf_map_read", map->path,
                         mmf__check_range(offset, len, UINT64_MAX));
  if ((rc = need_file("mmf_map_read", map)) != 0)
    return rc;
  /* Not past the mapping's end: the file may hold more (a named shared
   * object's trailer, bytes appended since the open). */
  if (offset >= map->size)
    return 0;
  if (len > map->size - offset)
    len = (size_t)(map->size - offset);
  rc = mmf__os_read(map->file, offset, buf, len, &n);
  if (got)
    *got = n;
  return rc ? mmf__error_in("mmf_map_read", map->path, rc) : 0;
}

int mmf_map_read_exact(mmf_map *map, uint64_t offset, void *buf,
                       size_t len) {
  static const char api[] = "mmf_map_read_exact";
  size_t got = 0;
  int rc;
  if (!map || (!buf && len))
    return mmf__error(MMF_EINVAL, "%s: NULL %s", api, map ? "buf" : "map");
  rc = mmf__check_range(offset, len, map->size);
  if (rc)
    return mmf__error_in(api, map->path, rc);
  rc = mmf_map_read(map, offset, buf, len, &got);
  if (rc)
    return mmf__error_in(api, map->path, rc);
  if (got != len)
    return mmf__error(MMF_EIO, "%s \"%s\": the file ends before the mapping "
                      "does (it shrank?): %zu of %zu bytes read at offset "
                      "%llu", api, map->path, got, len,
                      (unsigned long long)offset);
  return 0;
}

int mmf_map_write(mmf_map *map, uint64_t offset, const void *buf, size_t len) {
  static const char api[] = "mmf_map_write";
  int rc;
  if (!map || (!buf && len))
    return mmf__error(MMF_EINVAL, "%s: NULL %s", api, map ? "buf" : "map");
  if (!(map->os_prot & MMF__OS_PROT_WRITE))
    return mmf__error(MMF_EPROT, "%s \"%s\": the mapping is not read-write",
                      api, map->path);
  if ((rc = need_file(api, map)) != 0)
    return rc;
  rc = mmf__check_range(offset, len, map->size);
  if (!rc)
    rc = mmf__os_write(map->file, offset, buf, len);
  return rc ? mmf__error_in(api, map->path, rc) : 0;
}

int mmf_map_sync(mmf_map *map) {
  int rc;
  if (!map)
    return mmf__error(MMF_EINVAL, "mmf_map_sync: NULL map");
  if ((rc = need_file("mmf_map_sync", map)) != 0)
    return rc;
  rc = mmf__os_file_sync(map->file);
  return rc ? mmf__error_in("mmf_map_sync", map->path, rc) : 0;
}

void mmf__map_ref(mmf_map *map) { atomic_fetch_add(&map->refs, 1); }

int mmf__map_unref(mmf_map *map, const char *api) {
  int rc = 0;
  if (atomic_fetch_sub(&map->refs, 1) != 1)
    return 0;
  if (map->release)
    rc = map->release(map);
  mmf__os_section_close(&map->section);
  /* A memory-backed section on Windows has no file. */
  if (map->file != MMF_OS_FILE_INVALID) {
    int crc = mmf__os_close(map->file);
    if (!rc)
      rc = crc;
  }
  if (rc)
    mmf__error_in(api, map->path, rc);
  mmf__map_free(map);
  return rc;
}

int mmf_map_close(mmf_map *map) {
  if (!map)
    return 0;
  if (!map->user_open)
    return mmf__error(MMF_EINVAL, "mmf_map_close \"%s\": already closed",
                      map->path);
  map->user_open = 0;
  return mmf__map_unref(map, "mmf_map_close");
}
