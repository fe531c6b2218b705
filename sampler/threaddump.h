/*
 * threaddump — every thread's stack at one moment, without stopping the
 * world.
 *
 * How: the requesting (server) thread lists /proc/self/task, reads each
 * thread's stat and status, reserves one result slot per thread (mmap, so
 * the handler never allocates), and sends each thread one real-time signal
 * with rt_tgsigqueueinfo (tgkill plus a payload: slot index and capture
 * generation). Each thread, in our handler, unwinds itself from the
 * interrupted context (libunwind, DWARF, first frame from the ucontext) into
 * its slot and goes back to what it was doing. A thread is interrupted only
 * for its own unwind: nobody waits for anybody else, so there is no pause
 * that grows with the number of threads. Signals go out a few per CPU at a
 * time (a window that moves as answers come in), so that a thousand threads
 * are not all woken at once to queue for the CPUs and the loader's lock.
 *
 * Threads that cannot answer are reported, never waited on forever: a
 * thread that blocks the signal (seen in /proc's SigBlk before sending, and
 * again once the others are signalled: a thread inside a signal handler
 * blocks signals for that long) is not signalled at all; one that exits or
 * blocks the signal after being signalled is noticed while waiting; one that does not answer by the deadline (the
 * timeout after the last signal went out) is marked "timeout". A late answer (a blocked signal delivered after the capture,
 * or a straggler) carries an old generation and is dropped; the slot block
 * it would have written is freed only once no handler can still hold it.
 *
 * Signal context: only dump_handler() and what it calls (libunwind's local
 * unwinder, atomics, clock_gettime, futex) run in a signal handler; they are
 * async-signal-safe and marked so. Everything else runs on server threads,
 * one capture at a time (capture_lock). Lock order: capture_lock, then
 * libunwind's and the loader's own locks (taken inside unw_step by whichever
 * thread unwinds; libunwind blocks signals while it holds its locks, and the
 * loader's dl_iterate_phdr lock is recursive).
 *
 * Effects on the host: SA_RESTART restarts read, write, futex waits (mutex
 * and condition variables) and the like; calls Linux never restarts after a
 * handler (nanosleep, clock_nanosleep, poll, epoll_wait, select, sigtimedwait,
 * ...) return EINTR early, exactly as they do under any profiler's SIGPROF or
 * Go's preemption signal. Correct code loops on EINTR; code that does not
 * sees a short sleep.
 *
 * The whole picture (contexts, lock order, fork): docs/design.md.
 */
#ifndef PPROFD_THREADDUMP_H
#define PPROFD_THREADDUMP_H

#include <stdint.h>
#include <sys/types.h>

#include "sampler/unwind.h"

/* Why a thread has (or has not) got a stack in the dump. */
typedef enum pprofd__dump_outcome {
    PPROFD_DUMP_ANSWERED = 0, /* unwound itself in our handler */
    PPROFD_DUMP_SELF,         /* the capturing thread, unwound in place */
    PPROFD_DUMP_BLOCKED,      /* blocks our signal: not signalled */
    PPROFD_DUMP_PENDING,      /* an earlier signal of ours still pending */
    PPROFD_DUMP_TIMEOUT,      /* signalled, no answer by the deadline */
    PPROFD_DUMP_GONE,         /* exited between listing and signalling */
    PPROFD_DUMP_SEND_FAILED,  /* rt_tgsigqueueinfo failed (e.g. EAGAIN: queue full) */
} pprofd__dump_outcome;

/* What the thread said, or why it said nothing, in a few words. */
const char *pprofd__dump_outcome_text(pprofd__dump_outcome o);

typedef struct pprofd__thread_snapshot {
    pid_t tid;
    pprofd__dump_outcome outcome;
    char name[16];              /* comm, as pthread_setname_np set it */
    char state;                 /* /proc stat state letter, read before signalling */
    int server;                 /* one of pprofd's own threads (threads.h) */
    int64_t user_ns, system_ns; /* CPU time from /proc stat (clock-tick resolution) */
    int64_t interrupt_ns;       /* wall time in our handler (ANSWERED only) */
    int64_t interrupt_cpu_ns;   /* CPU time in our handler (ANSWERED only) */
    int depth;
    uintptr_t pcs[PPROFD_MAX_DEPTH]; /* leaf first; pcs[0] exact, others call sites */
} pprofd__thread_snapshot;

typedef struct pprofd__thread_dump {
    int count;                          /* threads listed */
    pprofd__thread_snapshot *threads;   /* count entries, in /proc order */
    int signal;                         /* the signal used */
    int64_t elapsed_ns;                 /* from listing to the last answer */
    int64_t time_ns;                    /* CLOCK_REALTIME when the capture began */
} pprofd__thread_dump;

typedef struct pprofd__dump_options {
    int timeout_ms; /* 0: the default, 1000 */
    /* Tests only: signal threads even when /proc says they block the
     * signal, and wait for them until the deadline (exercises the timeout
     * and late-answer paths). */
    int skip_blocked_check;
} pprofd__dump_options;

/*
 * Capture every thread of the process. Returns 0 and fills *out (free it
 * with pprofd__thread_dump_free), or a negative errno: -EBUSY when no
 * real-time signal is free for us or the host has since installed its own
 * handler on ours (then nothing is signalled), -ENOMEM, -EIO when
 * /proc/self/task cannot be read. Server threads only: not
 * async-signal-safe, not to be called from a thread the host expects to be
 * quick (it waits up to the timeout). Captures are serialized.
 */
int pprofd__thread_dump_capture(pprofd__thread_dump *out, const pprofd__dump_options *opts);
void pprofd__thread_dump_free(pprofd__thread_dump *d);

/*
 * The signal thread dumps use, choosing and installing it on first call:
 * the highest real-time signal whose disposition is SIG_DFL (a signal the
 * host handles is never taken). Negative errno when none is free.
 */
int pprofd__thread_dump_signal(void);

/* Late answers dropped so far (signals from an earlier capture). */
uint64_t pprofd__thread_dump_stale_answers(void);

/* In the child of fork (sampler/fork.h): forget a capture in flight. */
void pprofd__thread_dump_fork_child(void);

#endif
