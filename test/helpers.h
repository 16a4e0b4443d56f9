/* test/helpers.h -- small utilities shared by the test programs. */
#ifndef MMF_TEST_HELPERS_H
#define MMF_TEST_HELPERS_H

#include <stddef.h>
#include <stdint.h>

/* A fresh private temporary directory for this test program (created on
 * first use, removed with everything in it at exit). */
const char *th_tmpdir(void);

/* th_tmpdir()/name in a static rotating buffer (8 slots). */
const char *th_path(const char *name);

/* Write n bytes to path (create/truncate). Returns 0 or -1. */
int th_write_file(const char *path, const void *data, size_t n);

/* Read the whole file into a malloc'ed buffer; *n gets its size. NULL on
 * error. */
unsigned char *th_read_file(const char *path, size_t *n);

/* Fill buf with a deterministic pseudo-random pattern from seed. */
void th_fill(void *buf, size_t n, uint32_t seed);

#endif
