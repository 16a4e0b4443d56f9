/* examples/filerev.c -- FileRev: reverse a file in place through one mapped
 * view of the whole file.
 *
 *   filerev FILE
 *
 * The classic sample, kept short: open the file as a read-write mapping
 * object, map one view of all of it, close the mapping object at once (the
 * view keeps it alive), reverse the bytes through the pointer, flush, unmap.
 * It maps the whole file, so it needs address space for it; `mmf reverse`
 * does the same job for files of any size with two sliding windows. */
#include <mmf.h>

#include <stdio.h>

int main(int argc, char **argv) {
  mmf_map *map;
  mmf_view *view;
  int rc;

  if (argc != 2) {
    fprintf(stderr, "usage: filerev FILE\n");
    return 2;
  }

  /* 1. The file, as a mapping object the size of the file. */
  rc = mmf_map_open(&map, argv[1], MMF_PROT_READWRITE, 0, 0);
  if (rc == MMF_EEMPTY) {
    printf("%s is empty: nothing to reverse\n", argv[1]);
    return 0;
  }
  if (rc) {
    fprintf(stderr, "filerev: %s\n", mmf_last_error_message());
    return 1;
  }

  /* 2. One view of the whole file (offset 0, length 0 = to the end). */
  rc = mmf_view_map(&view, map, 0, 0, MMF_ACCESS_WRITE);

  /* 3. The view holds its own reference: the mapping object can go now. */
  mmf_map_close(map);
  if (rc) {
    fprintf(stderr, "filerev: %s\n", mmf_last_error_message());
    return 1;
  }

  /* 4. The file is now plain memory. */
  mmf_memreverse(mmf_view_data(view), mmf_view_size(view));

  /* 5. Write the pages back and let the view go. */
  rc = mmf_view_flush(view, 0, 0, MMF_FLUSH_SYNC);
  if (rc)
    fprintf(stderr, "filerev: %s\n", mmf_last_error_message());
  printf("reversed %zu bytes of %s\n", mmf_view_size(view), argv[1]);
  mmf_view_unmap(view);
  return rc ? 1 : 0;
}
