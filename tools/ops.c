/* tools/ops.c -- reverse a file in place and count a byte, a window at a
 * time, through the public API only. */
#include "ops.h"

int mmf_op_reverse(const char *path, size_t window, mmf_progress_fn progress,
                   void *ctx) {
  mmf_map *map = NULL;
  mmf_window *front = NULL, *back = NULL;
  uint64_t n, half, done = 0;
  int rc;

  rc = mmf_map_open(&map, path, MMF_PROT_READWRITE, 0, 0);
  if (rc == MMF_EEMPTY)
    return 0; /* nothing to reverse */
  if (rc)
    return rc;
  n = mmf_map_size(map);
  half = n / 2;
  if (half == 0)
    goto out; /* one byte: already its own reverse */
  /* Two walks of the same length and window size deliver pieces of equal
   * length: piece k of the front half mirrors piece k of the back half. */
  /* Every byte of every window is rewritten: populate windows writable in
   * one call rather than taking a write fault per page. */
  rc = mmf_window_open(&front, map, 0, half, window,
                       MMF_ACCESS_WRITE | MMF_VIEW_POPULATE, 0);
  if (rc)
    goto out;
  rc = mmf_window_open(&back, map, n - half, n, window,
                       MMF_ACCESS_WRITE | MMF_VIEW_POPULATE,
                       MMF_WINDOW_BACKWARD);
  if (rc)
    goto out;
  for (;;) {
    void *a, *b;
    size_t na, nb;
    rc = mmf_window_next(front, &a, &na, NULL);
    if (rc <= 0)
      break;
    rc = mmf_window_next(back, &b, &nb, NULL);
    if (rc <= 0)
      break;
    if (na != nb) { /* cannot happen: both walks tile equal lengths */
      rc = MMF_EIO;
      break;
    }
    mmf_memswap_reversed(a, b, na);
    done += 2 * (uint64_t)na;
    if (progress)
      progress(ctx, done, n);
  }
  if (rc == 0 && progress && done != n)
    progress(ctx, n, n); /* the middle byte of an odd size stays put */
out:
  {
    int rc2 = mmf_window_close(front);
    int rc3 = mmf_window_close(back);
    int rc4 = mmf_map_close(map);
    if (rc == 0)
      rc = rc2 ? rc2 : rc3 ? rc3 : rc4;
  }
  return rc < 0 ? rc : 0;
}

int mmf_op_count(const char *path, unsigned char byte, size_t window,
                 unsigned flags, uint64_t *count, mmf_progress_fn progress,
                 void *ctx) {
  mmf_map *map = NULL;
  mmf_window *win = NULL;
  uint64_t total = 0, done = 0, n;
  void *data;
  size_t len;
  int rc;

  *count = 0;
  rc = mmf_map_open(&map, path, MMF_PROT_READ, 0, 0);
  if (rc == MMF_EEMPTY)
    return 0;
  if (rc)
    return rc;
  n = mmf_map_size(map);
  rc = mmf_window_open(&win, map, 0, 0, window, MMF_ACCESS_READ, flags);
  if (rc)
    goto out;
  while ((rc = mmf_window_next(win, &data, &len, NULL)) == 1) {
    total += mmf_memcount(data, len, byte);
    done += len;
    if (progress)
      progress(ctx, done, n);
  }
  if (rc == 0)
    *count = total;
out:
  {
    int rc2 = mmf_window_close(win);
    int rc3 = mmf_map_close(map);
    if (rc == 0)
      rc = rc2 ? rc2 : rc3;
  }
  return rc;
}
