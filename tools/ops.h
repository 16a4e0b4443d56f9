/* tools/ops.h -- the work behind `mmf reverse` and `mmf count`, shared by
 * the CLI, the examples' tests and mmf-bench. Uses only the public API. */
#ifndef MMF_TOOLS_OPS_H
#define MMF_TOOLS_OPS_H

#include <mmf.h>

/* Called after each window with bytes done so far and the total. */
typedef void (*mmf_progress_fn)(void *ctx, uint64_t done, uint64_t total);

/* Reverse the bytes of the file at `path` in place with two windows of
 * `window` bytes (0 = default) walking in from both ends: memory stays
 * bounded whatever the file's size. An empty file is left as it is.
 * Returns 0 or an MMF_E* code (mmf_last_error_message() says why). */
int mmf_op_reverse(const char *path, size_t window, mmf_progress_fn progress,
                   void *ctx);

/* Count the bytes equal to `byte` in the file at `path` into *count.
 * `flags` are mmf_window_flags (MMF_WINDOW_AUTO lets mmf pick the read path
 * when that is faster). An empty file counts 0. */
int mmf_op_count(const char *path, unsigned char byte, size_t window,
                 unsigned flags, uint64_t *count, mmf_progress_fn progress,
                 void *ctx);

#endif
