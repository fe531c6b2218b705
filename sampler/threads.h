/*
 * threads — the registry of the host's threads.
 *
 * pthread_create is interposed (sampler/interpose/pthread.c): each new
 * thread runs a trampoline (pprofd__thread_start) that
 * registers it (tid, pthread handle), runs the start hooks, and on exit (by
 * return or pthread_exit) marks itself exiting, runs the exit hooks and
 * unregisters. Threads that existed before pprofd was loaded are not in the
 * registry; consumers that need every thread read /proc/self/task as well.
 *
 * An exiting thread stays listed in /proc/self/task (and its CPU clock stays
 * valid) for a while after its exit hooks ran: through TLS and thread-key
 * destructors, after pthread_join has returned, until the kernel reaps it.
 * Consumers that read /proc/self/task must not take such a thread for one
 * that never went through the interposer: they skip tids that
 * pprofd__thread_exiting or pprofd__threads_recent_exits report.
 *
 * The registry is a fixed array of slots claimed with atomics: registering,
 * unregistering and walking take no lock and never allocate, so walking is
 * async-signal-safe. Hooks run in the thread concerned, in normal (not
 * signal) context.
 *
 * threadcreate: the interposer also records the stack that called
 * pthread_create (libunwind, in the creating thread, normal context) in a
 * stack table whose counters[PPROFD_THREADCREATE_COUNT] counts the threads
 * created from that stack. Entries are never removed: the counts are
 * cumulative, as Go's threadcreate profile is.
 *
 * The whole picture (contexts, lock order, fork): docs/design.md.
 */
#ifndef PPROFD_THREADS_H
#define PPROFD_THREADS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#define PPROFD_MAX_THREADS 8192

#include "sampler/stacktab.h"

/* pprofd__thread.flags */
#define PPROFD_THREAD_SERVER 1 /* one of pprofd's own (HTTP server) threads */

typedef struct pprofd__thread {
    _Atomic pid_t tid;  /* 0 = free slot; written by the thread itself */
    pthread_t handle;
    int flags;          /* PPROFD_THREAD_*; written by the thread before tid */
    _Atomic int exiting; /* set by the thread before its exit hooks run; read
                          * it with pprofd__thread_exiting */
} pprofd__thread;

/* Has the thread of t, whose tid a walk read as `tid`, begun to exit (its
 * exit hooks are running or have run)? Also 1 when the slot no longer holds
 * that tid: the thread has unregistered. Async-signal-safe.
 *
 * Ordering: a thread sets `exiting` before it runs any exit hook and
 * unregisters after the last one, and a slot's next owner clears `exiting`
 * before it publishes its tid; reading tid, exiting, tid in that order
 * (all sequentially consistent) cannot pair a tid with a later owner's
 * flag. A 0 means the thread had not begun to exit (nor run an exit hook)
 * when `exiting` was read, or that the slot's new owner has the same tid
 * (the old thread reaped, its tid reused): a live thread either way. */
static inline int pprofd__thread_exiting(const pprofd__thread *t, pid_t tid)
{
    int exiting = atomic_load(&t->exiting);
    return exiting || atomic_load(&t->tid) != tid;
}

typedef void (*pprofd__thread_hook)(pid_t tid);

/* Add hooks run in each new thread at its start and at its exit. At most 8
 * pairs; returns 0 or -ENOSPC. Either may be NULL. */
int pprofd__threads_add_hooks(pprofd__thread_hook on_start, pprofd__thread_hook on_exit);

/* Call fn for each registered thread. Async-signal-safe. */
void pprofd__threads_foreach(void (*fn)(const pprofd__thread *t, void *arg), void *arg);

/* Every thread of the process, registered or not: the tids in
 * /proc/self/task, into a malloc'd array the caller frees. Returns 0, or
 * -EIO (no /proc) or -ENOMEM. Normal context only (it allocates). O(T). */
int pprofd__threads_list_tasks(pid_t **out, int *count);

/* How many threads the process has now (the kernel's count, from
 * /proc/self/stat), or -1. No allocation; one small read. */
long pprofd__threads_in_process(void);

/* Threads that went through the interposer and began to exit in the last
 * PPROFD_RECENT_EXIT_SECONDS (at most the last PPROFD_RECENT_EXITS of them),
 * registered or not: up to `max` tids into out (unsorted, maybe repeated).
 * Returns how many. A thread is remembered before its first exit hook runs.
 * Async-signal-safe; no allocation.
 *
 * Limits: a thread still listed in /proc/self/task that many seconds after
 * its exit hooks, or after PPROFD_RECENT_EXITS other threads began to exit,
 * is no longer reported; a thread that took over a reported tid (the old one
 * reaped, the tid reused) is reported until the entry ages out. Registered
 * threads are never in doubt: pprofd__thread_exiting tells. */
#define PPROFD_RECENT_EXITS 1024
#define PPROFD_RECENT_EXIT_SECONDS 2
int pprofd__threads_recent_exits(pid_t *out, int max);

/* Registered threads now. */
int pprofd__threads_count(void);

/* Register the calling thread (used for the main thread at load time).
 * Idempotent. */
void pprofd__threads_register_self(void);

/* Threads the calling thread creates from now on, and the threads those
 * create, are marked PPROFD_THREAD_SERVER until it calls this with 0. For
 * pprofd_start() around the server's start, so that thread dumps can tell
 * the server's threads from the host's. */
void pprofd__threads_mark_server(int on);

/* Is the calling thread marked PPROFD_THREAD_SERVER? */
int pprofd__threads_is_server(void);

/* threadcreate: counters[PPROFD_THREADCREATE_COUNT] of each stack that
 * called pthread_create. Created on first use; never NULL after a thread
 * was created through the interposer, NULL before if the mmap failed. */
enum { PPROFD_THREADCREATE_COUNT = 0 };
pprofd__stacktab *pprofd__threadcreate_stacks(void);

/* Threads created through the interposer since load. */
long pprofd__threadcreate_total(void);

/* For the pthread_create interposer: the trampoline's argument for a new
 * thread that is to run fn(arg) (malloc'd; NULL when out of memory: then
 * create the thread unwrapped), the trampoline itself, the argument's
 * release when creation failed, and the count of a created thread under
 * the creator's stack pcs[0..depth). Normal context. */
void *pprofd__thread_start_args(void *(*fn)(void *), void *arg);
void *pprofd__thread_start(void *start_args);
void pprofd__thread_start_args_free(void *start_args);
void pprofd__threadcreate_record(const uintptr_t *pcs, int depth);

#endif
