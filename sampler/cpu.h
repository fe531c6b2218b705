/*
 * cpu — the CPU profiler's sampler: SIGPROF, per-thread CPU timers, and the
 * table the samples are counted in (cpu_timer.c), and the windows readers
 * open on it (cpu_window.c).
 *
 * Every thread gets a POSIX timer on its own CPU-time clock whose signal is
 * directed at that thread (timer_create + SIGEV_THREAD_ID), so a thread is
 * sampled in proportion to the CPU it uses, however many threads run at
 * once. Threads present when a profile starts are found in the thread
 * registry and /proc/self/task; threads created later get their timer from
 * the pthread_create start hook; an exiting thread's timer is deleted by the
 * exit hook, and any left (threads that never went through our
 * pthread_create) at the next poll or when the last reader leaves. A poll
 * arms no timer for a thread that has begun to exit through our hooks,
 * though the kernel lists it for a while yet: nothing would delete that
 * timer (the thread registry tells which are exiting, within the limits
 * pprofd__threads_recent_exits states). Where
 * per-thread timers cannot be had, a process-wide setitimer(ITIMER_PROF)
 * is used instead and the reader is told.
 *
 * Readers: any number of profiles may run at once, at one rate. Each reader
 * snapshots the counters at its start and reports the difference at its
 * end, so each gets exactly its own window. The first reader arms the
 * timers; the last one to leave disarms them, waits for running handlers to
 * finish and unmaps the table.
 *
 * Signal context: only the SIGPROF handler (static in cpu.c). It unwinds
 * into a stack buffer and counts the sample in a lock-free stack table;
 * when the table is full the sample is dropped and counted as lost. It
 * touches nothing else of ours but initial-exec TLS and atomics.
 *
 * Settings (sampler/config.h): PPROFD_CPU_TIMER=setitimer forces the
 * process-wide fallback; PPROFD_CPU_STACKS caps the distinct stacks the
 * table holds (default 32768), mostly for tests.
 *
 * Limits: a thread's timer fires only at a scheduler tick while it runs,
 * so threads that live less than a tick (4 ms at HZ=250) are under-sampled,
 * as in Go. SIGPROF interrupts system calls (SA_RESTART restarts most;
 * nanosleep, poll and friends return EINTR), as with every signal-based
 * profiler. Once installed, our handler stays: a signal still pending from
 * a deleted timer must never meet SIG_DFL, which would kill the process.
 *
 * Locks: two mutexes, normal context only, never taken by the signal
 * handler. The window lock (cpu_window.c: readers and their rate) comes
 * first; the timers' state lock (cpu_timer.c: the timer list), taken by
 * the windows and by the thread start/exit hooks, second. Nothing else is
 * locked while either is held, but the state lock's holder may allocate,
 * and so take a heap shard lock (sampler/heap.h): shard locks come after.
 * docs/design.md has the whole order.
 */
#ifndef PPROFD_CPU_H
#define PPROFD_CPU_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct pprofd__cpu_reader pprofd__cpu_reader;

/* What a reader's window held, beyond the samples. */
typedef struct pprofd__cpu_window {
    const char *mechanism;   /* "timer_create" or "setitimer"; static string */
    int hz;
    int64_t period_nanos;    /* 1e9 / hz */
    int64_t lost_samples;    /* dropped because the table was full */
    int64_t frame_pointer_stacks; /* samples unwound by frame pointers */
    int64_t dwarf_stacks;    /* ... by libunwind */
    int64_t leaf_only_stacks;/* ... neither could walk: the leaf pc only */
    int threads_timed;       /* threads with a timer at the end (timer_create) */
    int timer_failures;      /* threads timer_create refused during the window */
} pprofd__cpu_window;

/* Start a reader at `hz` (1..1000). Returns 0 and *out, or:
 *   -EBUSY  the host owns SIGPROF or ITIMER_PROF, or a profile at another
 *           rate is running; `why` says which (for a 409);
 *   -EINVAL bad hz; -ENOMEM; another -errno with `why` set.
 * Thread-safe; normal context only. */
int pprofd__cpu_open(int hz, pprofd__cpu_reader **out, char *why, size_t why_size);

/* Find threads that appeared without going through pthread_create and drop
 * timers of threads that are gone or exiting. O(threads); call about once a
 * second while a reader waits. Thread-safe. */
void pprofd__cpu_poll(pprofd__cpu_reader *r);

/* Call fn (unless NULL) for every stack with samples in r's window so far,
 * with the label set it was sampled under (sampler/labels.h); fills *w.
 * pcs is valid only during the call. Thread-safe; the window keeps
 * running. */
typedef void (*pprofd__cpu_sample_fn)(const uintptr_t *pcs, int depth, uint32_t labels,
                                      int64_t samples, int64_t nanos, void *arg);
void pprofd__cpu_collect(pprofd__cpu_reader *r, pprofd__cpu_sample_fn fn, void *arg,
                         pprofd__cpu_window *w);

/* End a reader and free what it holds; the last one disarms everything.
 * NULL is a no-op. Thread-safe. */
void pprofd__cpu_close(pprofd__cpu_reader *r);

/* Timers the profiler holds now (0 when no profile runs) and readers open.
 * For tests and the index page. Thread-safe. */
int pprofd__cpu_timers_live(void);
int pprofd__cpu_readers(void);

/* Does the profiler hold a timer for this thread now? For tests.
 * Thread-safe. */
int pprofd__cpu_has_timer(pid_t tid);

/* The profiler's part of fork (sampler/fork.h): hold the state lock across
 * it; in the child, start from nothing (no timers, readers or table). */
void pprofd__cpu_fork_prepare(void);
void pprofd__cpu_fork_parent(void);
void pprofd__cpu_fork_child(void);

/* 1 while SIGPROF's handler is pprofd's; 0 once the host replaced it. */
int pprofd__cpu_handler_intact(void);

#endif
