/* examples/tour.c -- the API tour from README.md, kept identical to it (the
 * install test builds and runs this file against the installed package). */
#include <mmf.h>
#include <stdio.h>
#include <string.h>

int main(void) {
  mmf_map *map;
  mmf_view *view;

  /* Create data.bin with 1 MiB reserved on disk, read-write. */
  if (mmf_map_open(&map, "data.bin", MMF_PROT_READWRITE, MMF_OPEN_CREATE,
                   1 << 20) != 0) {
    fprintf(stderr, "%s\n", mmf_last_error_message());
    return 1;
  }
  /* A view at an unaligned offset: the pointer is exactly byte 1000. */
  if (mmf_view_map(&view, map, 1000, 5, MMF_ACCESS_WRITE) != 0) {
    fprintf(stderr, "%s\n", mmf_last_error_message());
    mmf_map_close(map);
    return 1;
  }
  mmf_map_close(map); /* allowed: the view keeps the mapping alive */

  memcpy(mmf_view_data(view), "hello", 5);
  if (mmf_view_flush(view, 0, 0, MMF_FLUSH_DURABLE) != 0) /* on the device */
    fprintf(stderr, "%s\n", mmf_last_error_message());
  mmf_view_unmap(view);
  return 0;
}
