/*
 * cpu_timer — what the CPU profiler's windows (cpu_window.c) ask of its
 * timers and signal handler (cpu_timer.c). Internal to the sampler's cpu
 * files; the server uses cpu.h. Normal context only, all of it; the
 * window lock (cpu_window.c) is held around start and stop, and comes
 * before the timers' state lock.
 *
 * The whole picture (contexts, lock order, fork): docs/design.md.
 */
#ifndef PPROFD_CPU_TIMER_H
#define PPROFD_CPU_TIMER_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "sampler/stacktab.h"

/* Counters of each stack in the sample table. */
enum { PPROFD_CPU_SAMPLES = 0, PPROFD_CPU_NANOS = 1 };

/* Take SIGPROF (unless the host owns it), map the sample table and arm a
 * timer on every thread at hz (1..1000). 0, or -errno with why set; on
 * failure nothing stays armed. */
int pprofd__cpu_timer_start(int hz, char *why, size_t why_size);

/* Disarm, wait for handlers still running, unmap the table. */
void pprofd__cpu_timer_stop(void);

/* Arm threads that appeared outside pthread_create; drop timers of threads
 * gone or exiting. O(threads). */
void pprofd__cpu_timer_sync(void);

/* The sample table; valid between start and stop. */
pprofd__stacktab *pprofd__cpu_timer_table(void);

/* Running totals since load (the windows subtract their start's). */
typedef struct pprofd__cpu_counts {
    const char *mechanism; /* "timer_create" or "setitimer" */
    int threads_timed;
    int64_t period_nanos;
    int64_t lost, frame_pointer, dwarf, leaf_only;
    int timer_failures;
} pprofd__cpu_counts;
void pprofd__cpu_timer_counts(pprofd__cpu_counts *out);

/* The timers' part of fork, inside the window's (cpu_window.c). */
void pprofd__cpu_timer_fork_prepare(void);
void pprofd__cpu_timer_fork_parent(void);
void pprofd__cpu_timer_fork_child(void);

/* A timer's expiry of `nanos` (> 0) as a valid timespec: tv_nsec below
 * 1e9 (timer_settime rejects anything else). */
struct timespec pprofd__cpu_timer_expiry(long nanos);

#endif
