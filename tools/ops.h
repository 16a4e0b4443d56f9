/* tools/ops.h -- the work behind `mmf reverse` and `mmf count`, shared by
 * the CLI, the examples' tests and mmf-bench. Uses only the public API. */
#ifndef MMF_TOOLS_OPS_H
#define MMF_TOOLS_OPS_H

#include <mmf.h>

/* Called after each window with bytes done so far and the total. */
typedef void (*mmf_progress_fn)(void *ctx, uint64_t done, uint64_t total);

/* mmf_op_reverse flags: force one path (0 = measure both on the first
 * pieces and keep the cheaper). */
enum { MMF_OP_REVERSE_MAPPED = 0x1, MMF_OP_REVERSE_BUFFERED = 0x2 };

/* Reverse the bytes of the file at `path` in place, a piece of `window`
 * bytes (0 = default) from each end at a time: memory stays bounded
 * whatever the file's size. Pieces go through two writable views; unless
 * `flags` says otherwise, the second and third pieces go through the
 * read/write path with two `window`-byte buffers instead, and the rest
 * follows whichever cost less per byte (on most machines the views: ~0.9x
 * the time of pread/pwrite; on VMs where every new page-table entry costs
 * ~1 us, the buffers, 10x faster). Once the path is chosen, the rest of
 * the front half is cut into `workers` parts (0 = one per CPU, at most one
 * per 32 MiB: mmf_window_each), each swapped with its mirror on a thread of
 * its own (with buffers of its own). `progress`, if any, is called on
 * the calling thread only. An empty file is left as it is. Returns 0 or an
 * MMF_E* code (mmf_last_error_message() says why). */
int mmf_op_reverse(const char *path, size_t window, unsigned flags,
                   unsigned workers, mmf_progress_fn progress, void *ctx);

/* Seconds from an arbitrary start (wall clock where the C library has
 * timespec_get, else clock()). */
double mmf_op_now(void);

/* Count the bytes equal to `byte` in the file at `path` into *count, with
 * `workers` threads each counting its own share of the file (0 = one per
 * CPU, at most one per 32 MiB of the file: mmf_window_each). `flags` are
 * mmf_window_flags (MMF_WINDOW_AUTO lets mmf pick the read path when that
 * is faster; MMF_WINDOW_AHEAD maps each worker's next windows on a thread
 * of its own). `progress`, if any, is called on the calling thread only.
 * An empty file counts 0. */
int mmf_op_count(const char *path, unsigned char byte, size_t window,
                 unsigned flags, unsigned workers, uint64_t *count,
                 mmf_progress_fn progress, void *ctx);

#endif
