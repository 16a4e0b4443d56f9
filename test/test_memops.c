/* test_memops.c -- the vectorised byte kernels against scalar references:
 * every byte value, random lengths and alignments, lengths around the
 * vector and unroll boundaries and the 255-round counter limit; and the
 * I/O buffers of mmf_buffer_alloc. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "helpers.h"
#include "internal.h" /* mmf__fault_arm */
#include "mmf.h"

static uint64_t ref_count(const unsigned char *p, size_t n, unsigned char b) {
  uint64_t c = 0;
  for (size_t i = 0; i < n; i++)
    c += p[i] == b;
  return c;
}

static uint32_t rng_state = 12345;
static uint32_t rnd(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 17;
  rng_state ^= rng_state << 5;
  return rng_state;
}

/* Lengths where vector loops change shape: 16/32-byte lanes, 64/128-byte
 * unrolled blocks, 255 rounds of 64 or 128 bytes before counters fold. */
static const size_t edge_lengths[] = {
    0,     1,     2,     7,     8,     15,    16,    17,    31,    32,
    33,    63,    64,    65,    127,   128,   129,   191,   255,   256,
    257,   4095,  4096,  4097,  16319, 16320, 16321, 16383, 16384, 16385,
    32639, 32640, 32641, 32767, 32768, 32769, 65535, 65536, 65537, 100003};

static void memcount_matches_reference_for_every_byte_value(void **state) {
  const size_t n = 100003 + 64;
  unsigned char *buf = malloc(n);
  (void)state;
  assert_non_null(buf);
  th_fill(buf, n, 42);
  for (size_t li = 0; li < sizeof edge_lengths / sizeof edge_lengths[0];
       li++) {
    size_t len = edge_lengths[li];
    for (size_t align = 0; align < 3; align++) {
      const unsigned char *p = buf + align * 17;
      for (int b = 0; b < 256; b++)
        assert_int_equal(mmf_memcount(p, len, (unsigned char)b),
                         ref_count(p, len, (unsigned char)b));
    }
  }
  free(buf);
}

static void memcount_counts_runs_past_the_counter_limit(void **state) {
  /* All bytes equal: each 8-bit lane counter would overflow after 255
   * rounds if not folded in time. */
  const size_t n = (1 << 20) + 77;
  unsigned char *buf = malloc(n);
  (void)state;
  assert_non_null(buf);
  memset(buf, 0xFF, n);
  assert_int_equal(mmf_memcount(buf, n, 0xFF), n);
  assert_int_equal(mmf_memcount(buf, n, 0x00), 0);
  assert_int_equal(mmf_memcount(buf + 1, n - 1, 0xFF), n - 1);
  memset(buf, 0, n);
  assert_int_equal(mmf_memcount(buf, n, 0), n);
  buf[n - 1] = 7;
  buf[0] = 7;
  assert_int_equal(mmf_memcount(buf, n, 7), 2);
  assert_int_equal(mmf_memcount(buf, n, 0), n - 2);
  free(buf);
}

static void memcount_matches_reference_on_random_data(void **state) {
  const size_t cap = 300000;
  unsigned char *buf = malloc(cap + 64);
  (void)state;
  assert_non_null(buf);
  for (int iter = 0; iter < 400; iter++) {
    size_t len = rnd() % cap;
    size_t align = rnd() % 64;
    unsigned char b = (unsigned char)rnd();
    /* Skewed data so some bytes are common and others rare. */
    unsigned mask = (rnd() % 2) ? 0x3 : 0xFF;
    for (size_t i = 0; i < len; i++)
      buf[align + i] = (unsigned char)(rnd() & mask);
    assert_int_equal(mmf_memcount(buf + align, len, b),
                     ref_count(buf + align, len, b));
    assert_int_equal(mmf_memcount(buf + align, len, 0),
                     ref_count(buf + align, len, 0));
  }
  free(buf);
}

static void memcount_of_zero_bytes_is_zero(void **state) {
  (void)state;
  assert_int_equal(mmf_memcount(NULL, 0, 0), 0);
  assert_int_equal(mmf_memcount("abc", 0, 'a'), 0);
}

static void ref_reverse(unsigned char *p, size_t n) {
  for (size_t i = 0; i < n / 2; i++) {
    unsigned char t = p[i];
    p[i] = p[n - 1 - i];
    p[n - 1 - i] = t;
  }
}

static void memreverse_matches_reference(void **state) {
  const size_t cap = 70000;
  unsigned char *a = malloc(cap + 64), *b = malloc(cap + 64);
  (void)state;
  assert_non_null(a);
  assert_non_null(b);
  for (size_t li = 0; li < sizeof edge_lengths / sizeof edge_lengths[0];
       li++) {
    size_t len = edge_lengths[li];
    if (len > cap)
      continue;
    for (size_t align = 0; align < 9; align += 4) {
      th_fill(a, cap + 64, (uint32_t)(len + align + 1));
      memcpy(b, a, cap + 64);
      mmf_memreverse(a + align, len);
      ref_reverse(b + align, len);
      /* Including the bytes around it, which must not be touched. */
      assert_memory_equal(a, b, cap + 64);
    }
  }
  for (int iter = 0; iter < 200; iter++) {
    size_t len = rnd() % cap, align = rnd() % 64;
    th_fill(a, cap + 64, rnd());
    memcpy(b, a, cap + 64);
    mmf_memreverse(a + align, len);
    ref_reverse(b + align, len);
    assert_memory_equal(a, b, cap + 64);
  }
  /* Reversing twice gives the original back. */
  th_fill(a, 12345, 5);
  memcpy(b, a, 12345);
  mmf_memreverse(a, 12345);
  mmf_memreverse(a, 12345);
  assert_memory_equal(a, b, 12345);
  mmf_memreverse(NULL, 0);
  free(a);
  free(b);
}

/* `iters` pairs of blocks at random offsets in one buffer (the first
 * `small` of lengths 0, step, 2*step, ..., then random up to 70000) swapped
 * by `swap` and checked against a byte loop, the bytes around included. */
static void swaps_match_reference(void (*swap)(void *, void *, size_t),
                                  int iters, int small, size_t step) {
  const size_t cap = 70000;
  unsigned char *buf = malloc(2 * cap + 200), *ref = malloc(2 * cap + 200);
  assert_non_null(buf);
  assert_non_null(ref);
  for (int iter = 0; iter < iters; iter++) {
    size_t n = iter < small ? (size_t)iter * step : rnd() % cap;
    size_t a_off = rnd() % 64;
    size_t gap = rnd() % 64;
    size_t b_off = a_off + n + gap;
    size_t total = b_off + n + 64;
    th_fill(buf, total, rnd());
    memcpy(ref, buf, total);
    swap(buf + a_off, buf + b_off, n);
    for (size_t j = 0; j < n; j++) {
      unsigned char t = ref[a_off + j];
      ref[a_off + j] = ref[b_off + n - 1 - j];
      ref[b_off + n - 1 - j] = t;
    }
    assert_memory_equal(buf, ref, total);
  }
  free(buf);
  free(ref);
}

/* The portable kernel, which CPUs without AVX2 run on every byte (with
 * AVX2 it only takes the last 63): long blocks against the reference. */
static void scalar_swap_matches_reference(void **state) {
  (void)state;
  swaps_match_reference(mmf__memswap_reversed_scalar, 100, 20, 13);
}

static void memswap_reversed_matches_reference(void **state) {
  unsigned char *buf = malloc(1000), *ref = malloc(1000);
  (void)state;
  assert_non_null(buf);
  assert_non_null(ref);
  swaps_match_reference(mmf_memswap_reversed, 300, 40, 1);
  /* Two separate buffers; and blocks from both ends reverse the whole. */
  {
    unsigned char x[100], y[100], wx[100], wy[100];
    th_fill(x, 100, 1);
    th_fill(y, 100, 2);
    for (int j = 0; j < 100; j++) {
      wx[j] = y[99 - j];
      wy[99 - j] = x[j];
    }
    mmf_memswap_reversed(x, y, 100);
    assert_memory_equal(x, wx, 100);
    assert_memory_equal(y, wy, 100);
  }
  {
    const size_t n = 1000, k = 200;
    th_fill(buf, n, 3);
    memcpy(ref, buf, n);
    mmf_memswap_reversed(buf, buf + n - k, k);               /* ends */
    mmf_memswap_reversed(buf + k, buf + n - 2 * k, k);       /* next pair */
    mmf_memreverse(buf + 2 * k, n - 4 * k);                  /* middle */
    ref_reverse(ref, n);
    assert_memory_equal(buf, ref, n);
  }
  free(buf);
  free(ref);
}

/* ---- mmf_buffer_alloc / mmf_buffer_free ---------------------------------*/

static const size_t buf_sizes[] = {1,           4095,          4096,
                                   65537,       (1u << 20) - 1, 1u << 20,
                                   (2u << 20) + 1, 5u << 20};

static void buffer_is_aligned_zeroed_and_whole(void **s) {
  size_t page = mmf_page_size();
  (void)s;
  for (size_t i = 0; i < sizeof buf_sizes / sizeof buf_sizes[0]; i++) {
    size_t n = buf_sizes[i];
    unsigned char *b = NULL;
    void *v;
    TH_OK(mmf_buffer_alloc(&v, n));
    b = v;
    assert_non_null(b);
    assert_int_equal((uintptr_t)b % page, 0);
    for (size_t j = 0; j < n; j++)
      if (b[j] != 0)
        fail_msg("%zu-byte buffer: byte %zu is %u, not 0", n, j, b[j]);
    for (size_t j = 0; j < n; j++)
      b[j] = (unsigned char)(j * 7 + 1);
    for (size_t j = 0; j < n; j++)
      assert_int_equal(b[j], (unsigned char)(j * 7 + 1));
    TH_OK(mmf_buffer_free(b));
  }
}

static void buffer_bad_arguments_are_errors(void **s) {
  void *v = (void *)&v;
  unsigned char *b;
  (void)s;
  TH_EXPECT_ERR(mmf_buffer_alloc(NULL, 10), MMF_EINVAL, "mmf_buffer_alloc");
  TH_EXPECT_ERR(mmf_buffer_alloc(&v, 0), MMF_EINVAL, "mmf_buffer_alloc");
  assert_null(v);
  v = (void *)&v;
  TH_EXPECT_ERR(mmf_buffer_alloc(&v, SIZE_MAX), MMF_ENOMEM,
                "mmf_buffer_alloc");
  assert_null(v);
  TH_OK(mmf_buffer_free(NULL));
  /* Pointers mmf_buffer_alloc did not return: not page-aligned, or no
   * bookkeeping page in front (here: the second page of a buffer). */
  TH_OK(mmf_buffer_alloc(&v, 3 * mmf_page_size()));
  b = v;
  TH_EXPECT_ERR(mmf_buffer_free(b + 1), MMF_EINVAL, "mmf_buffer_free");
  TH_EXPECT_ERR(mmf_buffer_free(b + mmf_page_size()), MMF_EINVAL,
                "mmf_buffer_free");
  TH_OK(mmf_buffer_free(b));
}

/* From 1 MiB up a buffer sits in a mapping the kernel may back with huge
 * pages; smaller ones do not ask for them (they would hold 2 MiB). */
static void big_buffers_ask_for_huge_pages(void **s) {
  void *big, *small;
  int e;
  (void)s;
  TH_OK(mmf_buffer_alloc(&big, 1u << 20));
  TH_OK(mmf_buffer_alloc(&small, 64u << 10));
  e = th_thp_eligible(big);
  if (e == TH_NOT_APPLICABLE) {
    TH_OK(mmf_buffer_free(big));
    TH_OK(mmf_buffer_free(small));
    skip();
  }
  assert_int_equal(e, 1);
  /* On a huge-page boundary, so a 2 MiB buffer takes one huge page. */
  assert_int_equal((uintptr_t)big % ((uintptr_t)2 << 20), 0);
  /* With THP "always" every anonymous mapping is eligible; with "madvise"
   * (the default) only the ones that asked. */
  if (th_thp_eligible(small) == 1) {
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    char mode[128] = "";
    if (f) {
      if (!fgets(mode, sizeof mode, f))
        mode[0] = '\0';
      fclose(f);
    }
    assert_non_null(strstr(mode, "[always]"));
  }
  TH_OK(mmf_buffer_free(big));
  TH_OK(mmf_buffer_free(small));
}

static void *fault_buf;
static int buffer_run(void) { return mmf_buffer_alloc(&fault_buf, 3u << 20); }
static void buffer_undo(void) {
  TH_OK(mmf_buffer_free(fault_buf));
  fault_buf = NULL;
}

/* Allocation: the mmap / VirtualAlloc fails (the huge-page request is a
 * request: its failure is absorbed); freeing: the munmap / VirtualFree
 * fails, is reported, and a second free works. */
static void buffer_fails_cleanly(void **s) {
  static const int codes[] = {MMF_ENOMEM, MMF_EOS, 0};
  void *v;
  int rc;
  (void)s;
  assert_true(th_fault_loop("mmf_buffer_alloc", "", codes, buffer_run,
                            buffer_undo) >= 1);
  /* A failed huge-page request (the second OS call) neither fails the
   * allocation nor touches the error detail of an earlier failure. */
  TH_EXPECT_ERR(mmf_buffer_free((char *)&v + 1), MMF_EINVAL,
                "mmf_buffer_free");
  {
    char before[600];
    snprintf(before, sizeof before, "%s", mmf_last_error_message());
    mmf__fault_arm(2);
    TH_OK(mmf_buffer_alloc(&v, 2u << 20));
    mmf__fault_arm(0);
    assert_int_equal(mmf_last_error(), MMF_EINVAL);
    assert_string_equal(mmf_last_error_message(), before);
    TH_OK(mmf_buffer_free(v));
  }
  TH_OK(mmf_buffer_alloc(&v, 100));
  mmf__fault_arm(1);
  rc = mmf_buffer_free(v);
  assert_true(mmf__fault_fired());
  mmf__fault_arm(0);
  assert_true(rc < 0);
  assert_int_equal(mmf_last_error(), rc);
  assert_non_null(strstr(mmf_last_error_message(), "mmf_buffer_free"));
  TH_OK(mmf_buffer_free(v));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(memcount_matches_reference_for_every_byte_value),
      cmocka_unit_test(memcount_counts_runs_past_the_counter_limit),
      cmocka_unit_test(memcount_matches_reference_on_random_data),
      cmocka_unit_test(memcount_of_zero_bytes_is_zero),
      cmocka_unit_test(memreverse_matches_reference),
      cmocka_unit_test(memswap_reversed_matches_reference),
      cmocka_unit_test(scalar_swap_matches_reference),
      cmocka_unit_test(buffer_is_aligned_zeroed_and_whole),
      cmocka_unit_test(buffer_bad_arguments_are_errors),
      cmocka_unit_test(big_buffers_ask_for_huge_pages),
      cmocka_unit_test(buffer_fails_cleanly),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
