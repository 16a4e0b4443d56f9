/* buffer.c -- I/O buffers for the read path: page-aligned, and from 1 MiB
 * up in a 2 MiB-aligned region asked to be backed by huge pages, so filling
 * one the first time costs a fault per 2 MiB, not per 4 KiB page (see
 * mmf_buffer_alloc in include/mmf.h). */
#include "internal.h"

#include <string.h>

#define BUF_MAGIC 0x6675622d666d6dull /* "mmf-buf" */
#define HUGE_FROM ((size_t)1 << 20)   /* buffers this big get huge pages */
#define HUGE_ALIGN ((size_t)2 << 20)  /* an x86-64 / arm64 huge page */

/* The bookkeeping page in front of a buffer. */
struct buf_hdr {
  uint64_t magic;
  void *base;   /* what mmf__os_mem_alloc gave */
  size_t total; /* and its length */
};

static size_t round_up(size_t n, size_t a) { return (n + a - 1) / a * a; }

int mmf_buffer_alloc(void **out, size_t size) {
  static const char api[] = "mmf_buffer_alloc";
  size_t page = mmf_page_size(), align, region, total;
  struct buf_hdr *h;
  void *base;
  int rc;

  if (out)
    *out = NULL;
  if (!out || size == 0)
    return mmf__error(MMF_EINVAL, "%s: %s", api,
                      out ? "size 0" : "NULL out");
  align = size >= HUGE_FROM ? HUGE_ALIGN : page;
  if (size > SIZE_MAX - 2 * HUGE_ALIGN - page)
    return mmf__error(MMF_ENOMEM, "%s: %zu bytes is more than the address "
                      "space holds", api, size);
  region = round_up(page + size, align);
  /* Room to align the region inside what the OS gives (page-aligned). */
  total = region + (align > page ? align : 0);
  rc = mmf__os_mem_alloc(total, &base);
  if (rc)
    return mmf__error_in(api, NULL, rc);
  h = (struct buf_hdr *)round_up((size_t)(uintptr_t)base, align);
  if (align > page) {
    /* A request only: where huge pages are off, 4 KiB pages serve. */
    mmf__best_effort_begin();
    (void)mmf__os_huge(h, region);
    mmf__best_effort_end();
  }
  h->magic = BUF_MAGIC;
  h->base = base;
  h->total = total;
  *out = (unsigned char *)h + page;
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
