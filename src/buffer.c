/* buffer.c -- I/O buffers for the read path: page-aligned, and from 1 MiB
 * up, where the OS has huge pages to ask for, 2 MiB-aligned in a region
 * asked to be backed by them, so filling one the first time costs a fault
 * per 2 MiB, not per 4 KiB page (see mmf_buffer_alloc in include/mmf.h).
 *
 * Layout of a block from mmf__os_mem_alloc:
 *   [slack][bookkeeping page][buffer: round_up(size, align)][slack]
 * The buffer starts on an `align` boundary; the bookkeeping page sits just
 * in front of it, in slack that alignment leaves anyway, so a 2 MiB buffer
 * takes exactly one huge page. */
#include "internal.h"

#define BUF_MAGIC 0x6675622d666d6dull /* "mmf-buf" */
#define HUGE_FROM ((size_t)1 << 20)   /* buffers this big get huge pages */

struct buf_hdr {
  uint64_t magic;
  void *base;   /* what mmf__os_mem_alloc gave */
  size_t total; /* and its length */
};

static size_t round_up(size_t n, size_t a) { return (n + a - 1) / a * a; }

int mmf_buffer_alloc(void **out, size_t size) {
  static const char api[] = "mmf_buffer_alloc";
  size_t page = mmf_page_size(), huge = mmf__os_mem_huge_size();
  size_t align = size >= HUGE_FROM && huge > page ? huge : page;
  size_t span, total;
  unsigned char *buf;
  struct buf_hdr *h;
  void *base;
  int rc;

  if (out)
    *out = NULL;
  if (!out || size == 0)
    return mmf__error(MMF_EINVAL, "%s: %s", api,
                      out ? "size 0" : "NULL out");
  if (size > SIZE_MAX / 2 - 2 * align)
    return mmf__error(MMF_ENOMEM, "%s: %zu bytes is more than the address "
                      "space holds", api, size);
  span = round_up(size, align);
  /* base is page-aligned, so the first `align` boundary at or after
   * base + page is at most base + align: room for the page in front. */
  total = span + align;
  rc = mmf__os_mem_alloc(total, &base);
  if (rc)
    return mmf__error_in(api, NULL, rc);
  buf = (unsigned char *)round_up((size_t)(uintptr_t)base + page, align);
  if (align != page) {
    /* A request only: where huge pages are off, 4 KiB pages serve. */
    mmf__best_effort_begin();
    (void)mmf__os_huge(buf, span);
    mmf__best_effort_end();
  }
  h = (struct buf_hdr *)(buf - page);
  h->magic = BUF_MAGIC;
  h->base = base;
  h->total = total;
  *out = buf;
  return 0;
}

int mmf_buffer_free(void *buf) {
  struct buf_hdr *h;
  int rc;
  if (!buf)
    return 0;
  h = (struct buf_hdr *)((unsigned char *)buf - mmf_page_size());
  if ((uintptr_t)buf % mmf_page_size() != 0 || h->magic != BUF_MAGIC)
    return mmf__error(MMF_EINVAL, "mmf_buffer_free: %p is not a buffer "
                      "from mmf_buffer_alloc", buf);
  h->magic = 0;
  rc = mmf__os_mem_free(h->base, h->total);
  if (rc) {
    h->magic = BUF_MAGIC; /* still allocated: a retry may free it */
    return mmf__error_in("mmf_buffer_free", NULL, rc);
  }
  return 0;
}
