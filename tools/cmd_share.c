/* tools/cmd_share.c -- `mmf share`: publish bytes in a named shared-memory
 * object, read them back byte-exact from any other process, list and
 * remove objects (the seed's MMFShare, as a tool). The object's size is the
 * exact byte count, so `get` returns exactly what `put` stored. */
#include "cli.h"

#include <mmf.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    "Usage: mmf share put [--transient] [--anyone] NAME [FILE]\n"
    "       mmf share get NAME\n"
    "       mmf share rm NAME\n"
    "       mmf share ls [--json]\n"
    "\n"
    "Publish bytes in a named shared-memory object and read them from any\n"
    "other process. NAME: 1..128 characters of [A-Za-z0-9._-], not starting\n"
    "or ending with '.'. Run 'mmf share SUBCOMMAND --help' for each\n"
    "subcommand.\n"
    "\n"
    "Exit status: 0 success, 1 the object could not be made, read or\n"
    "removed, 2 usage error.\n";

static const char usage_put[] =
    "Usage: mmf share put [--transient] [--anyone] NAME [FILE]\n"
    "\n"
    "Store the bytes of FILE (standard input when FILE is absent) in a new\n"
    "shared-memory object NAME of exactly that size. It fails if NAME\n"
    "exists. The bytes are in place before NAME appears: a reader never\n"
    "sees part of them, and a put that fails or is killed leaves nothing.\n"
    "\n"
    "Options:\n"
    "  -t, --transient  make the object transient: it lives only while this\n"
    "                   command runs. After storing the bytes the command\n"
    "                   prints 'holding NAME (N bytes, transient) until\n"
    "                   interrupted' and waits for SIGINT (Ctrl-C) or\n"
    "                   SIGTERM; then the object is gone (also if the\n"
    "                   command is killed). Without it the object is\n"
    "                   persistent and stays until 'mmf share rm NAME'.\n"
    "  -a, --anyone     let every local user open the object (Linux: mode\n"
    "                   0666); by default only you can\n"
    "  -h, --help       show this help and exit\n";

static const char usage_get[] =
    "Usage: mmf share get NAME\n"
    "\n"
    "Write the bytes of shared-memory object NAME to standard output,\n"
    "byte-exact (binary mode on Windows).\n"
    "\n"
    "Options:\n"
    "  -h, --help  show this help and exit\n"
    "\n"
    "Exit status: 0 success, 1 the object could not be read or the\n"
    "output not written, 2 usage error.\n";

static const char usage_rm[] =
    "Usage: mmf share rm NAME\n"
    "\n"
    "Remove shared-memory object NAME (persistent or transient). Processes\n"
    "that hold it keep their copy until they close it.\n"
    "\n"
    "Options:\n"
    "  -h, --help  show this help and exit\n"
    "\n"
    "Exit status: 0 removed, 1 it could not be removed (or does not\n"
    "exist), 2 usage error.\n";

static const char usage_ls[] =
    "Usage: mmf share ls [--json]\n"
    "\n"
    "List the live shared-memory objects you can open, sorted by name:\n"
    "NAME, SIZE (bytes) and LIFETIME (persistent or transient) columns,\n"
    "one object per line after a header line.\n"
    "\n"
    "Options:\n"
    "      --json  one JSON object per line instead, no header:\n"
    "              {\"name\":\"...\",\"size\":N,\"lifetime\":\"persistent\"}\n"
    "  -h, --help  show this help and exit\n";

static volatile sig_atomic_t interrupted;

static void on_signal(int sig) {
  (void)sig;
  interrupted = 1;
}

/* `share get|rm NAME`: only --help and one NAME. Returns -1 with *name set
 * to go on, else the exit code. */
static int name_only_opts(const char *sub, const char *help, int argc,
                          char **argv, const char **name) {
  static const struct option longopts[] = {{"help", no_argument, NULL, 'h'},
                                           {NULL, 0, NULL, 0}};
  int c;
  opterr = 0;
  optind = 1;
  while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
    if (c == 'h') {
      fputs(help, stdout);
      return cli_finish_stdout(sub);
    }
    return cli_bad_option(sub, c, argv, longopts);
  }
  if (optind == argc)
    return cli_usage(sub, "missing NAME");
  if (argc - optind > 1)
    return cli_usage(sub, "too many arguments");
  *name = argv[optind];
  return -1;
}

/* Read all of `f` into a malloc'ed buffer. 0, or -1 (errno says why; 0
 * when out of memory). */
static int slurp(FILE *f, unsigned char **out, size_t *n) {
  size_t cap = 65536, len = 0;
  unsigned char *buf = malloc(cap);
  if (!buf)
    return -1;
  for (;;) {
    size_t got;
    if (len == cap) {
      unsigned char *nb = cap > SIZE_MAX / 2 ? NULL : realloc(buf, cap * 2);
      if (!nb) {
        free(buf);
        return -1;
      }
      buf = nb;
      cap *= 2;
    }
    got = fread(buf + len, 1, cap - len, f);
    len += got;
    if (got == 0)
      break;
  }
  if (ferror(f)) {
    free(buf);
    return -1;
  }
  *out = buf;
  *n = len;
  return 0;
}

/* What `put` writes into the new object before it is published: the bytes
 * read from stdin, or those of FILE. */
struct put_src {
  const unsigned char *data; /* stdin's bytes, or NULL */
  mmf_map *file;             /* FILE, or NULL */
  int file_failed;           /* FILE could not be read whole */
  size_t got;                /* bytes read from FILE */
};

static int put_fill(void *ctx, void *dst, uint64_t size) {
  struct put_src *ps = ctx;
  int rc;
  if (ps->data) {
    memcpy(dst, ps->data, (size_t)size);
    return 0;
  }
  rc = mmf_map_read(ps->file, 0, dst, (size_t)size, &ps->got);
  if (rc == 0 && ps->got != size)
    rc = MMF_EIO; /* the file shrank meanwhile */
  ps->file_failed = rc != 0;
  return rc;
}

static int share_put(int argc, char **argv) {
  static const struct option longopts[] = {
      {"transient", no_argument, NULL, 't'},
      {"anyone", no_argument, NULL, 'a'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  const char *sub = "share put", *name, *file;
  unsigned flags = MMF_SHM_PERSISTENT;
  unsigned char *data = NULL;
  size_t len = 0;
  mmf_map *map, *src = NULL;
  int c, rc, transient = 0;

  opterr = 0;
  optind = 1;
  while ((c = getopt_long(argc, argv, ":tah", longopts, NULL)) != -1) {
    switch (c) {
    case 't':
      transient = 1;
      flags &= ~(unsigned)MMF_SHM_PERSISTENT;
      break;
    case 'a':
      flags |= MMF_SHM_ANYONE;
      break;
    case 'h':
      fputs(usage_put, stdout);
      return cli_finish_stdout(sub);
    default:
      return cli_bad_option(sub, c, argv, longopts);
    }
  }
  if (optind == argc)
    return cli_usage(sub, "missing NAME");
  if (argc - optind > 2)
    return cli_usage(sub, "too many arguments");
  name = argv[optind];
  file = argc - optind == 2 ? argv[optind + 1] : NULL;

  if (file) {
    /* A file is read straight into the object (any size, UTF-8 path, the
     * library's own error message); stdin, whose size is unknown, through
     * a buffer. */
    rc = mmf_map_open(&src, file, MMF_PROT_READ, 0, 0);
    if (rc == MMF_EEMPTY)
      rc = 0; /* an empty object */
    else if (!rc && mmf_map_size(src) > SIZE_MAX)
      rc = MMF_EFBIG;
    if (rc) {
      cli_fail(sub, file, rc);
      return CLI_FAIL;
    }
    len = src ? (size_t)mmf_map_size(src) : 0;
  } else {
    if (mmf_stdio_binary(0) != 0) {
      cli_fail(sub, "<stdin>", mmf_last_error());
      return CLI_FAIL;
    }
    errno = 0;
    if (slurp(stdin, &data, &len) != 0) {
      cli_error(sub, "<stdin>: cannot read: %s",
                errno ? strerror(errno) : "out of memory");
      return CLI_FAIL;
    }
  }
  {
    /* Written before it is published: nobody ever sees a half-written
     * object, and a put killed midway leaves nothing under NAME. */
    struct put_src ps = {NULL, NULL, 0, 0};
    ps.data = src ? NULL : data;
    ps.file = src;
    rc = mmf_shm_create_filled(&map, name, len, flags, put_fill, &ps);
    if (rc && ps.file_failed && rc == MMF_EIO && ps.got != len)
      cli_error(sub, "%s: the file shrank while it was read (%llu of %llu "
                "bytes); nothing was stored", file,
                (unsigned long long)ps.got, (unsigned long long)len);
    else if (rc && ps.file_failed)
      cli_fail(sub, file, rc);
    else if (rc)
      cli_fail(sub, name, rc);
  }
  free(data);
  if (src)
    mmf_map_close(src);
  if (rc)
    return CLI_FAIL;
  if (transient) {
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    printf("holding %s (%zu byte%s, transient) until interrupted\n", name,
           len, len == 1 ? "" : "s");
    fflush(stdout);
    while (!interrupted)
      sleep(1); /* a signal cuts the sleep short on POSIX */
  }
  rc = mmf_map_close(map);
  if (rc) {
    cli_fail(sub, name, rc);
    return CLI_FAIL;
  }
  return CLI_OK;
}

static int share_get(int argc, char **argv) {
  const char *sub = "share get", *name;
  mmf_map *map;
  uint64_t size;
  int rc = name_only_opts(sub, usage_get, argc, argv, &name);
  if (rc >= 0)
    return rc;
  rc = mmf_shm_open(&map, name, MMF_PROT_READ, 0);
  if (rc) {
    cli_fail(sub, name, rc);
    return CLI_FAIL;
  }
  size = mmf_map_size(map);
  if (size > SIZE_MAX) {
    cli_error(sub, "%s: %" PRIu64 " bytes do not fit in memory", name, size);
    mmf_map_close(map);
    return CLI_FAIL;
  }
  rc = mmf_stdio_binary(1);
  if (!rc && size > 0) {
    mmf_view *view;
    rc = mmf_view_map(&view, map, 0, (size_t)size, MMF_ACCESS_READ);
    if (!rc) {
      fwrite(mmf_view_data(view), 1, (size_t)size, stdout);
      cli_flush_stdout(); /* while errno says why a write failed */
      rc = mmf_view_unmap(view);
    }
  }
  if (rc) {
    cli_fail(sub, name, rc);
    mmf_map_close(map);
    return CLI_FAIL;
  }
  mmf_map_close(map);
  return cli_finish_stdout(sub);
}

static int share_rm(int argc, char **argv) {
  const char *sub = "share rm", *name;
  int rc = name_only_opts(sub, usage_rm, argc, argv, &name);
  if (rc >= 0)
    return rc;
  rc = mmf_shm_remove(name);
  if (rc) {
    cli_fail(sub, name, rc);
    return CLI_FAIL;
  }
  return CLI_OK;
}

/* The objects mmf_shm_list() reports, collected to be sorted. */
struct listing {
  mmf_shm_info *items;
  size_t n, cap;
};

static int collect_one(void *ctx, const mmf_shm_info *info) {
  struct listing *l = ctx;
  if (l->n == l->cap) {
    size_t cap = l->cap ? 2 * l->cap : 64;
    mmf_shm_info *items = cap > SIZE_MAX / sizeof *items
                              ? NULL
                              : realloc(l->items, cap * sizeof *items);
    if (!items)
      return MMF_ENOMEM; /* stops the listing */
    l->items = items;
    l->cap = cap;
  }
  l->items[l->n++] = *info;
  return 0;
}

static int by_name(const void *a, const void *b) {
  return strcmp(((const mmf_shm_info *)a)->name,
                ((const mmf_shm_info *)b)->name);
}

static const char *lifetime_name(const mmf_shm_info *info) {
  return info->lifetime == MMF_SHM_PERSISTENT ? "persistent" : "transient";
}

/* The listing sorted by name (byte order), as a table whose columns are as
 * wide as their widest entry (names go up to MMF_SHM_NAME_MAX), or as one
 * JSON object per line. */
static void print_listing(struct listing *l, int json) {
  int name_w = (int)strlen("NAME"), size_w = (int)strlen("SIZE");
  size_t i;
  if (l->n)
    qsort(l->items, l->n, sizeof *l->items, by_name);
  if (json) {
    /* Names are [A-Za-z0-9._-]: nothing to escape in JSON. */
    for (i = 0; i < l->n; i++)
      printf("{\"name\":\"%s\",\"size\":%" PRIu64 ",\"lifetime\":\"%s\"}\n",
             l->items[i].name, l->items[i].size, lifetime_name(&l->items[i]));
    return;
  }
  for (i = 0; i < l->n; i++) {
    char digits[24];
    int len = (int)strlen(l->items[i].name);
    int sz = snprintf(digits, sizeof digits, "%" PRIu64, l->items[i].size);
    if (len > name_w)
      name_w = len;
    if (sz > size_w)
      size_w = sz;
  }
  printf("%-*s %*s %s\n", name_w, "NAME", size_w, "SIZE", "LIFETIME");
  for (i = 0; i < l->n; i++)
    printf("%-*s %*" PRIu64 " %s\n", name_w, l->items[i].name, size_w,
           l->items[i].size, lifetime_name(&l->items[i]));
}

static int share_ls(int argc, char **argv) {
  enum { OPT_JSON = 256 };
  static const struct option longopts[] = {
      {"json", no_argument, NULL, OPT_JSON},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  const char *sub = "share ls";
  struct listing l = {NULL, 0, 0};
  int c, rc, json = 0;
  opterr = 0;
  optind = 1;
  while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
    switch (c) {
    case OPT_JSON:
      json = 1;
      break;
    case 'h':
      fputs(usage_ls, stdout);
      return cli_finish_stdout(sub);
    default:
      return cli_bad_option(sub, c, argv, longopts);
    }
  }
  if (optind != argc)
    return cli_usage(sub, "unexpected argument '%s'", argv[optind]);
  rc = mmf_shm_list(collect_one, &l);
  if (rc) {
    cli_fail(sub, "shared memory", rc);
    free(l.items);
    return CLI_FAIL;
  }
  print_listing(&l, json);
  free(l.items);
  return cli_finish_stdout(sub);
}

int cli_share(int argc, char **argv) {
  const char *sub = "share";
  const char *what = argc > 1 ? argv[1] : NULL;
  if (!what)
    return cli_usage(sub, "missing SUBCOMMAND (put, get, rm or ls)");
  if (strcmp(what, "--help") == 0 || strcmp(what, "-h") == 0) {
    fputs(usage, stdout);
    return cli_finish_stdout(sub);
  }
  if (strcmp(what, "put") == 0)
    return share_put(argc - 1, argv + 1);
  if (strcmp(what, "get") == 0)
    return share_get(argc - 1, argv + 1);
  if (strcmp(what, "rm") == 0)
    return share_rm(argc - 1, argv + 1);
  if (strcmp(what, "ls") == 0)
    return share_ls(argc - 1, argv + 1);
  return cli_usage(sub, "unknown subcommand '%s' (put, get, rm or ls)", what);
}
