/* examples/mmfshare.c -- MMFShare: two processes share data through a named
 * memory-backed mapping.
 *
 *   mmfshare write NAME TEXT    keep NAME holding TEXT until Enter / EOF
 *   mmfshare read NAME          print what NAME holds
 *
 * The classic sample: one instance creates the mapping (transient: it lives
 * as long as the writer holds it, on every OS) and writes into a view; any
 * other instance opens it by name and reads the same pages. When the
 * writer ends, the object is gone and `read` says so. */
#include <mmf.h>

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
  mmf_map *map;
  mmf_view *view;

  if (argc == 4 && strcmp(argv[1], "write") == 0) {
    size_t len = strlen(argv[3]);
    /* One byte more than the text: a NUL, so the reader sees a string. */
    if (mmf_shm_create(&map, argv[2], len + 1, MMF_SHM_TRANSIENT) != 0 ||
        mmf_view_map(&view, map, 0, 0, MMF_ACCESS_WRITE) != 0) {
      fprintf(stderr, "mmfshare: %s\n", mmf_last_error_message());
      return 1;
    }
    memcpy(mmf_view_data(view), argv[3], len + 1);
    printf("sharing \"%s\" as %s; press Enter to stop\n", argv[3], argv[2]);
    fflush(stdout);
    while (getchar() != '\n' && !feof(stdin))
      ;
    mmf_view_unmap(view);
    return mmf_map_close(map) == 0 ? 0 : 1;
  }
  if (argc == 3 && strcmp(argv[1], "read") == 0) {
    const char *text;
    size_t size;
    if (mmf_shm_open(&map, argv[2], MMF_PROT_READ, 0) != 0 ||
        mmf_view_map(&view, map, 0, 0, MMF_ACCESS_READ) != 0) {
      fprintf(stderr, "mmfshare: %s\n", mmf_last_error_message());
      return 1;
    }
    mmf_map_close(map); /* the view keeps the object open */
    /* Another process wrote it: print at most the mapping's size, even if
     * the writer left no NUL. */
    text = mmf_view_data(view);
    size = mmf_view_size(view);
    {
      const char *nul = memchr(text, '\0', size);
      printf("%.*s\n", (int)(nul ? (size_t)(nul - text) : size), text);
    }
    mmf_view_unmap(view);
    return 0;
  }
  fprintf(stderr, "usage: mmfshare write NAME TEXT | mmfshare read NAME\n");
  return 2;
}
