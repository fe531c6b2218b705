/*
 * cpu_window — the CPU profile's readers. See cpu.h for the contract.
 *
 * Each reader snapshots the table's counters when it opens and subtracts
 * that from a snapshot at its end (sampler/stacktab.h), so that any number
 * of profiles may overlap and each gets exactly its own window. The first
 * reader starts the timers (cpu_timer.c) at its rate, later ones must ask
 * for the same; the last one to leave stops them.
 *
 * Locks: window_lock guards readers and rate_hz; it is taken before the
 * timers' state lock (inside pprofd__cpu_timer_*) and never while holding
 * any other lock of ours. Normal context only.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sampler/cpu.h"
#include "sampler/cpu_timer.h"

struct pprofd__cpu_reader {
    pprofd__stack_snapshot start; /* counters at the window's start */
    pprofd__cpu_counts counts0;
};

static pthread_mutex_t window_lock = PTHREAD_MUTEX_INITIALIZER;
static int readers;
static int rate_hz;

int pprofd__cpu_open(int hz, pprofd__cpu_reader **out, char *why, size_t why_size)
{
    *out = NULL;
    if (hz < 1 || hz > 1000) {
        snprintf(why, why_size, "hz must be in 1..1000");
        return -EINVAL;
    }
    pprofd__cpu_reader *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(why, why_size, "out of memory");
        return -ENOMEM;
    }
    int rc = 0;
    pthread_mutex_lock(&window_lock);
    if (readers > 0 && hz != rate_hz) {
        snprintf(why, why_size,
                 "a CPU profile at %d Hz is running; ask for hz=%d or wait for it to end",
                 rate_hz, rate_hz);
        rc = -EBUSY;
    } else if (readers == 0) {
        rc = pprofd__cpu_timer_start(hz, why, why_size);
        if (rc == 0)
            rate_hz = hz;
    }
    if (rc == 0)
        readers++;
    pthread_mutex_unlock(&window_lock);
    if (rc < 0) {
        free(r);
        return rc;
    }

    /* The table cannot go while we count as a reader. */
    pprofd__cpu_timer_counts(&r->counts0);
    if (pprofd__stacktab_snapshot(pprofd__cpu_timer_table(), &r->start) < 0) {
        snprintf(why, why_size, "out of memory");
        pprofd__cpu_close(r);
        return -ENOMEM;
    }
    *out = r;
    return 0;
}

void pprofd__cpu_poll(pprofd__cpu_reader *r)
{
    if (r)
        pprofd__cpu_timer_sync();
}

void pprofd__cpu_collect(pprofd__cpu_reader *r, pprofd__cpu_sample_fn fn, void *arg,
                         pprofd__cpu_window *w)
{
    pprofd__cpu_counts now;
    pprofd__cpu_timer_counts(&now);
    if (fn) {
        pprofd__stack_snapshot s;
        if (pprofd__stacktab_snapshot(pprofd__cpu_timer_table(), &s) == 0 &&
            pprofd__stack_snapshot_subtract(&s, &r->start) == 0)
            for (size_t i = 0; i < s.len; i++) {
                const pprofd__stack_record *rec = &s.recs[i];
                if (rec->c[PPROFD_CPU_SAMPLES] > 0)
                    fn(rec->pcs, (int)rec->depth, (uint32_t)rec->tag,
                       rec->c[PPROFD_CPU_SAMPLES], rec->c[PPROFD_CPU_NANOS], arg);
            }
        pprofd__stack_snapshot_free(&s);
    }
    memset(w, 0, sizeof *w);
    pthread_mutex_lock(&window_lock);
    w->hz = rate_hz;
    pthread_mutex_unlock(&window_lock);
    w->mechanism = now.mechanism;
    w->threads_timed = now.threads_timed;
    w->period_nanos = now.period_nanos;
    w->lost_samples = now.lost - r->counts0.lost;
    w->frame_pointer_stacks = now.frame_pointer - r->counts0.frame_pointer;
    w->dwarf_stacks = now.dwarf - r->counts0.dwarf;
    w->leaf_only_stacks = now.leaf_only - r->counts0.leaf_only;
    w->timer_failures = now.timer_failures - r->counts0.timer_failures;
}

void pprofd__cpu_close(pprofd__cpu_reader *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&window_lock);
    if (--readers == 0)
        pprofd__cpu_timer_stop();
    pthread_mutex_unlock(&window_lock);
    pprofd__stack_snapshot_free(&r->start);
    free(r);
}

int pprofd__cpu_readers(void)
{
    pthread_mutex_lock(&window_lock);
    int n = readers;
    pthread_mutex_unlock(&window_lock);
    return n;
}

/* ---- fork (sampler/fork.c runs these): the window lock, then the
 * timers' state lock ---- */

void pprofd__cpu_fork_prepare(void)
{
    pthread_mutex_lock(&window_lock);
    pprofd__cpu_timer_fork_prepare();
}

void pprofd__cpu_fork_parent(void)
{
    pprofd__cpu_timer_fork_parent();
    pthread_mutex_unlock(&window_lock);
}

/* The readers' threads stayed in the parent. */
void pprofd__cpu_fork_child(void)
{
    pprofd__cpu_timer_fork_child();
    readers = 0;
    pthread_mutex_unlock(&window_lock);
}
