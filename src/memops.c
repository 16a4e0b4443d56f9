/* memops.c -- the byte kernels the CLI and benchmarks share: counting a
 * byte and reversing, vectorised so memory, not the loop, is the limit;
 * and touching pages to fault them in. */
#include "internal.h"

#include <stdatomic.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define MMF_X86 1
#else
#define MMF_X86 0
#endif

static uint64_t count_scalar(const unsigned char *p, size_t n,
                             unsigned char b) {
  uint64_t c = 0;
  for (size_t i = 0; i < n; i++)
    c += p[i] == b;
  return c;
}

#if MMF_X86
/* SSE2 is part of x86-64: compare 16 bytes at a time, subtract the 0xFF
 * masks from byte counters (at most 255 rounds), then fold them with
 * psadbw. */
static uint64_t count_sse2(const unsigned char *p, size_t n, unsigned char b) {
  const __m128i needle = _mm_set1_epi8((char)b);
  const __m128i zero = _mm_setzero_si128();
  __m128i total = zero;
  size_t i = 0;
  while (n - i >= 64) {
    __m128i a0 = zero, a1 = zero, a2 = zero, a3 = zero;
    size_t rounds = (n - i) / 64;
    if (rounds > 255)
      rounds = 255;
    for (size_t r = 0; r < rounds; r++, i += 64) {
      const __m128i *q = (const __m128i *)(p + i);
      a0 = _mm_sub_epi8(a0, _mm_cmpeq_epi8(_mm_loadu_si128(q), needle));
      a1 = _mm_sub_epi8(a1, _mm_cmpeq_epi8(_mm_loadu_si128(q + 1), needle));
      a2 = _mm_sub_epi8(a2, _mm_cmpeq_epi8(_mm_loadu_si128(q + 2), needle));
      a3 = _mm_sub_epi8(a3, _mm_cmpeq_epi8(_mm_loadu_si128(q + 3), needle));
    }
    total = _mm_add_epi64(total, _mm_sad_epu8(a0, zero));
    total = _mm_add_epi64(total, _mm_sad_epu8(a1, zero));
    total = _mm_add_epi64(total, _mm_sad_epu8(a2, zero));
    total = _mm_add_epi64(total, _mm_sad_epu8(a3, zero));
  }
  return (uint64_t)_mm_cvtsi128_si64(total) +
         (uint64_t)_mm_cvtsi128_si64(_mm_unpackhi_epi64(total, total)) +
         count_scalar(p + i, n - i, b);
}

__attribute__((target("avx2"))) static uint64_t
count_avx2(const unsigned char *p, size_t n, unsigned char b) {
  const __m256i needle = _mm256_set1_epi8((char)b);
  const __m256i zero = _mm256_setzero_si256();
  __m256i total = zero;
  size_t i = 0;
  while (n - i >= 128) {
    __m256i a0 = zero, a1 = zero, a2 = zero, a3 = zero;
    size_t rounds = (n - i) / 128;
    if (rounds > 255)
      rounds = 255;
    for (size_t r = 0; r < rounds; r++, i += 128) {
      const __m256i *q = (const __m256i *)(p + i);
      a0 = _mm256_sub_epi8(a0,
                           _mm256_cmpeq_epi8(_mm256_loadu_si256(q), needle));
      a1 = _mm256_sub_epi8(
          a1, _mm256_cmpeq_epi8(_mm256_loadu_si256(q + 1), needle));
      a2 = _mm256_sub_epi8(
          a2, _mm256_cmpeq_epi8(_mm256_loadu_si256(q + 2), needle));
      a3 = _mm256_sub_epi8(
          a3, _mm256_cmpeq_epi8(_mm256_loadu_si256(q + 3), needle));
    }
    total = _mm256_add_epi64(total, _mm256_sad_epu8(a0, zero));
    total = _mm256_add_epi64(total, _mm256_sad_epu8(a1, zero));
    total = _mm256_add_epi64(total, _mm256_sad_epu8(a2, zero));
    total = _mm256_add_epi64(total, _mm256_sad_epu8(a3, zero));
  }
  {
    uint64_t lanes[4];
    _mm256_storeu_si256((__m256i *)lanes, total);
    return lanes[0] + lanes[1] + lanes[2] + lanes[3] +
           count_sse2(p + i, n - i, b);
  }
}

static uint64_t (*pick_count(void))(const unsigned char *, size_t,
                                    unsigned char) {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") ? count_avx2 : count_sse2;
}
#else
static uint64_t (*pick_count(void))(const unsigned char *, size_t,
                                    unsigned char) {
  return count_scalar;
}
#endif

typedef uint64_t (*count_fn)(const unsigned char *, size_t, unsigned char);

uint64_t mmf_memcount(const void *p, size_t n, unsigned char byte) {
  /* Picked on first use; threads that race store the same pointer (atomic:
   * the workers of one walk call this at once). */
  static _Atomic(count_fn) kernel;
  count_fn k = atomic_load_explicit(&kernel, memory_order_relaxed);
  if (!k) {
    k = pick_count();
    atomic_store_explicit(&kernel, k, memory_order_relaxed);
  }
  return n ? k((const unsigned char *)p, n, byte) : 0;
}

/* Reversing works on 8-byte words with a byte swap: a[j] <-> b[n-1-j] for a
 * whole word at a time. */
static uint64_t load64(const unsigned char *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

static void store64(unsigned char *p, uint64_t v) { memcpy(p, &v, 8); }

typedef void (*swap_fn)(unsigned char *, unsigned char *, size_t);

static void swap_scalar(unsigned char *a, unsigned char *b, size_t n) {
  size_t i = 0;
  for (; n - i >= 8; i += 8) {
    uint64_t x = load64(a + i);
    uint64_t y = load64(b + n - i - 8);
    store64(a + i, __builtin_bswap64(y));
    store64(b + n - i - 8, __builtin_bswap64(x));
  }
  for (; i < n; i++) {
    unsigned char t = a[i];
    a[i] = b[n - 1 - i];
    b[n - 1 - i] = t;
  }
}

#if MMF_X86
/* 64 bytes from each end a step: vpshufb reverses the bytes of each 16-byte
 * lane, vpermq swaps the two lanes. In RAM, 1 GiB: 10-15% faster than the
 * 8-byte loop here (docs/BENCHMARKS.md, session 11); the rest is memory. */
__attribute__((target("avx2"))) static __m256i rev32(__m256i v) {
  const __m256i lanes = _mm256_setr_epi8(
      15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 15, 14, 13, 12, 11,
      10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
  return _mm256_permute4x64_epi64(_mm256_shuffle_epi8(v, lanes), 0x4e);
}

__attribute__((target("avx2"))) static void
swap_avx2(unsigned char *a, unsigned char *b, size_t n) {
  size_t i = 0;
  for (; n - i >= 64; i += 64) {
    __m256i x0 = _mm256_loadu_si256((const __m256i *)(a + i));
    __m256i x1 = _mm256_loadu_si256((const __m256i *)(a + i + 32));
    __m256i y0 = _mm256_loadu_si256((const __m256i *)(b + n - i - 32));
    __m256i y1 = _mm256_loadu_si256((const __m256i *)(b + n - i - 64));
    _mm256_storeu_si256((__m256i *)(a + i), rev32(y0));
    _mm256_storeu_si256((__m256i *)(a + i + 32), rev32(y1));
    _mm256_storeu_si256((__m256i *)(b + n - i - 32), rev32(x0));
    _mm256_storeu_si256((__m256i *)(b + n - i - 64), rev32(x1));
  }
  /* The middle that is left: a[i..n) pairs with b[0..n-i). */
  swap_scalar(a + i, b, n - i);
}

static swap_fn pick_swap(void) {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") ? swap_avx2 : swap_scalar;
}
#else
static swap_fn pick_swap(void) { return swap_scalar; }
#endif

void mmf_memswap_reversed(void *a, void *b, size_t n) {
  static _Atomic(swap_fn) kernel; /* as mmf_memcount's */
  swap_fn k = atomic_load_explicit(&kernel, memory_order_relaxed);
  if (!k) {
    k = pick_swap();
    atomic_store_explicit(&kernel, k, memory_order_relaxed);
  }
  if (n)
    k((unsigned char *)a, (unsigned char *)b, n);
}

void mmf__memswap_reversed_scalar(void *a, void *b, size_t n) {
  swap_scalar((unsigned char *)a, (unsigned char *)b, n);
}

void mmf_memreverse(void *p_, size_t n) {
  unsigned char *p = p_;
  size_t half = n / 2;
  if (half == 0)
    return; /* nothing to move; p may be NULL */
  /* The two halves do not overlap: [0, half) and [n - half, n). */
  mmf_memswap_reversed(p, p + n - half, half);
}

#if MMF_X86 && defined(__GNUC__)
#define TOUCH_WRITES 1
#else
#define TOUCH_WRITES 0
#endif

int mmf__touch_writes(void) { return TOUCH_WRITES; }

int mmf__touch(void *p_, size_t len, int write) {
  volatile unsigned char *p = p_;
  size_t page = mmf_page_size(), i;
  unsigned char sink = 0;
  if (len == 0)
    return 0;
  if (write) {
#if TOUCH_WRITES
    /* One locked instruction that reads and writes: its fault is a write
     * fault (a plain read would come first and map the page read-only). */
    for (i = 0; i < len; i += page)
      __asm__ __volatile__("lock; orb $0, %0" : "+m"(p[i])::"memory");
    __asm__ __volatile__("lock; orb $0, %0" : "+m"(p[len - 1])::"memory");
    return 0;
#else
    return MMF_ENOTSUP;
#endif
  }
  for (i = 0; i < len; i += page)
    sink ^= p[i];
  sink ^= p[len - 1];
  (void)sink;
  return 0;
}
