/* bench/bench.h -- what mmf_bench.c shares with the benchmarks kept in
 * their own files (bench_channel.c): output in mmf-bench's one format
 * (text or --json lines), errors, time. */
#ifndef MMF_BENCH_H
#define MMF_BENCH_H

enum target_kind { T_NONE, T_RATIO_GE, T_RATIO_LE, T_ABS_LE };

/* One comparison line: mmf's figure, a baseline's, their ratio and the
 * target if any (see mmf_bench.c). */
void report(const char *bench, const char *kase, const char *unit,
            const char *mmf_name, double mmf_value, const char *base_name,
            double base_value, enum target_kind tk, double target);
/* A figure with nothing to compare it with. */
void info(const char *bench, const char *kase, const char *key, double value,
          const char *unit);
/* Progress on stderr; fatal errors (exit 1). */
void note(const char *fmt, ...);
void die(const char *fmt, ...);
void die_mmf(const char *what, int rc);
/* CLOCK_MONOTONIC in seconds. */
double now(void);

/* bench_channel.c: `mmf-bench channel`, `repeat` repetitions. */
void bench_channel(int repeat);

#endif
