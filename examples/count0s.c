/* examples/count0s.c -- Count0s: count the zero bytes of a file of any size
 * through a sequence of views.
 *
 *   count0s FILE [WINDOW_BYTES]
 *
 * The classic sample maps a big file one granularity-aligned piece at a
 * time, so memory use stays the same whether the file is 1 KiB or 1 TiB.
 * mmf's sliding window does the stepping: each mmf_window_next() unmaps the
 * previous view and maps the next one. */
#include <mmf.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
  mmf_map *map;
  mmf_window *win;
  size_t window = 0;
  uint64_t zeros = 0, views = 0;
  void *data;
  size_t len;
  int rc;

  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: count0s FILE [WINDOW_BYTES]\n");
    return 2;
  }
  if (argc > 2) { /* digits only: "junk" or "-5" is a usage error */
    char *end;
    unsigned long long v;
    errno = 0;
    v = strtoull(argv[2], &end, 10);
    if (argv[2][0] < '0' || argv[2][0] > '9' || *end || errno ||
        v == 0 || v > SIZE_MAX) {
      fprintf(stderr, "count0s: bad WINDOW_BYTES '%s': expected a positive "
                      "number of bytes\n", argv[2]);
      return 2;
    }
    window = (size_t)v;
  }

  /* 1. The file, read-only. An empty file has no zeros. */
  rc = mmf_map_open(&map, argv[1], MMF_PROT_READ, 0, 0);
  if (rc == MMF_EEMPTY) {
    printf("0 zero bytes in %s (empty file)\n", argv[1]);
    return 0;
  }
  if (rc) {
    fprintf(stderr, "count0s: %s\n", mmf_last_error_message());
    return 1;
  }

  /* 2. Walk the whole file (0..0 = start to end) a window at a time;
   *    window 0 means MMF_WINDOW_DEFAULT_SIZE. */
  rc = mmf_window_open(&win, map, 0, 0, window, MMF_ACCESS_READ, 0);
  if (rc == 0) {
    /* 3. Each call maps the next view; count the zeros in it. */
    while ((rc = mmf_window_next(win, &data, &len, NULL)) == 1) {
      zeros += mmf_memcount(data, len, 0);
      views++;
    }
    mmf_window_close(win);
  }
  if (rc < 0)
    fprintf(stderr, "count0s: %s\n", mmf_last_error_message());
  else
    printf("%" PRIu64 " zero bytes in %s (%" PRIu64 " bytes, %" PRIu64
           " view%s)\n",
           zeros, argv[1], mmf_map_size(map), views, views == 1 ? "" : "s");
  mmf_map_close(map);
  return rc < 0 ? 1 : 0;
}
