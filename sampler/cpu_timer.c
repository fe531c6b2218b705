/*
 * cpu_timer — the CPU profiler's timers, signal handler and sample table.
 * See cpu.h for the contract, what runs in signal context and the lock
 * order; cpu_window.c holds the readers' windows.
 *
 * Data flows one way: timer -> SIGPROF handler -> unwind -> count in the
 * stack table (lock-free) -> readers diff the counters (server threads).
 *
 * Shared state and who writes it:
 *   state_lock guards the mechanism, per_thread_armed and the timer list;
 *   it is taken in normal context only (the windows, thread hooks, fork
 *   steps). The handler reads only `collecting`, `tick_code`,
 *   `period_nanos`, the table and the statistics counters, all atomics or
 *   written while `collecting` is 0 and no handler runs.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "sampler/base.h"
#include "sampler/config.h"
#include "sampler/cpu.h"
#include "sampler/cpu_timer.h"
#include "sampler/fork.h"
#include "sampler/stacktab.h"
#include "sampler/threads.h"
#include "sampler/unwind.h"
#include "sampler/labels.h"

/* 32768 distinct stacks in 16 MiB of reserved (not committed) arena: far
 * more than a profile window sees; beyond that samples are lost, counted. */
#define STACK_SLOTS (1u << 15)
#define STACK_ARENA (16u << 20)

/* Bounds the weight one signal may carry (1 + timer overruns). */
#define MAX_OVERRUN 1000

/* sigev_value of our timers: a SIGPROF carrying anything else is not ours. */
#define TIMER_COOKIE 0x70726f66

typedef enum mechanism { MECH_NONE, MECH_PER_THREAD, MECH_ITIMER } mechanism;

typedef struct thread_timer {
    pid_t tid;
    timer_t timer;
} thread_timer;

/* ---- state under state_lock ---- */
static pthread_mutex_t state_lock = PTHREAD_MUTEX_INITIALIZER;
static mechanism armed_mechanism;
static thread_timer timers[PPROFD_MAX_THREADS];
static _Atomic int ntimers;             /* written under state_lock */
static _Atomic int per_thread_armed;    /* read by hooks without the lock first */
static _Atomic int timer_failures;      /* timer_create refusals, ever */

/* ---- shared with the signal handler ---- */
static pprofd__stacktab stacks;         /* (re)initialised while !collecting */
static _Atomic int collecting;          /* the handler may count */
static _Atomic int handlers_running;    /* handlers between entry and exit */
static _Atomic int tick_code;           /* si_code of our ticks */
static _Atomic int64_t period_nanos;
static _Atomic int64_t lost_samples, fp_stacks, dwarf_stacks, leaf_stacks;

/* This thread's stack, for the frame-pointer walk: set in the thread
 * itself (start hook, or the constructor for the thread that loads us). */
static __thread uintptr_t my_stack_lo __attribute__((tls_model("initial-exec")));
static __thread uintptr_t my_stack_hi __attribute__((tls_model("initial-exec")));

/* ---- signal context ---- */

static int is_our_tick(const siginfo_t *info)
{
    int code = atomic_load_explicit(&tick_code, memory_order_relaxed);
    if (info->si_code != code)
        return 0;
    return code != SI_TIMER || info->si_value.sival_int == TIMER_COOKIE;
}

/* Async-signal-safe: stack buffers, lock-free table, relaxed counters. */
static void record_sample(const siginfo_t *info, const void *ucontext)
{
    int64_t weight = 1;
    /* Expirations the kernel folded into this one signal while it was
     * pending: CPU the thread did use, so it is counted, at this stack. */
    if (info->si_code == SI_TIMER && info->si_overrun > 0)
        weight += info->si_overrun < MAX_OVERRUN ? info->si_overrun : MAX_OVERRUN;

    uintptr_t pcs[PPROFD_MAX_DEPTH];
    int depth, all_dwarf = 0;
    /* Never re-enter libunwind on a thread interrupted inside it: frame
     * pointers alone then (the leaf's caller may be missing). */
    if (pprofd__unwind_busy())
        depth = pprofd__unwind_signal(ucontext, my_stack_lo, my_stack_hi, pcs, PPROFD_MAX_DEPTH);
    else
        depth = pprofd__unwind_signal_mixed(ucontext, my_stack_lo, my_stack_hi, pcs,
                                            PPROFD_MAX_DEPTH, &all_dwarf);
    _Atomic int64_t *how = all_dwarf ? &dwarf_stacks : depth <= 1 ? &leaf_stacks : &fp_stacks;
    atomic_fetch_add_explicit(how, 1, memory_order_relaxed);

    pprofd__stack *st = pprofd__stacktab_intern_labelled(&stacks, pcs, depth,
                                                         pprofd__labels_current());
    if (!st) {
        atomic_fetch_add_explicit(&lost_samples, weight, memory_order_relaxed);
        return;
    }
    int64_t period = atomic_load_explicit(&period_nanos, memory_order_relaxed);
    atomic_fetch_add_explicit(&st->counters[PPROFD_CPU_SAMPLES], weight, memory_order_relaxed);
    atomic_fetch_add_explicit(&st->counters[PPROFD_CPU_NANOS], weight * period, memory_order_relaxed);
}

/* The SIGPROF handler. Async-signal-safe; errno preserved. Entry and exit
 * are counted so that a reader tearing the table down can wait for every
 * handler that might still use it. */
static void on_sigprof(int sig, siginfo_t *info, void *ucontext)
{
    (void)sig;
    int saved_errno = errno;
    atomic_fetch_add(&handlers_running, 1);
    if (atomic_load(&collecting) && is_our_tick(info))
        record_sample(info, ucontext);
    atomic_fetch_sub(&handlers_running, 1);
    errno = saved_errno;
}

/* ---- timers (normal context, state_lock held) ---- */

/* The CPU-time clock of any thread of this process, by tid: what
 * pthread_getcpuclockid computes from a pthread_t, for threads we know only
 * from /proc (the kernel's MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED)). */
static clockid_t thread_cpu_clock(pid_t tid)
{
    return (clockid_t)((~(unsigned)tid << 3) | 6u);
}

/* A uniform first expiry in (0, period] (so a whole second at hz=1:
 * pprofd__cpu_timer_expiry carries it into tv_sec): a thread that uses less CPU than a
 * period is then sampled with probability use/period, not never. */
static long random_phase(long period)
{
    static _Atomic uint64_t seed;
    uint64_t x = atomic_fetch_add(&seed, 0x9e3779b97f4a7c15ull);
    if (x == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        x = (uint64_t)ts.tv_nsec * 0x2545f4914f6cdd1dull + (uint64_t)ts.tv_sec;
        atomic_store(&seed, x);
    }
    x ^= x >> 31;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 29;
    return 1 + (long)(x % (uint64_t)period);
}

struct timespec pprofd__cpu_timer_expiry(long nanos)
{
    return (struct timespec){nanos / 1000000000L, nanos % 1000000000L};
}

static int find_timer(pid_t tid)
{
    int n = atomic_load_explicit(&ntimers, memory_order_relaxed);
    for (int i = 0; i < n; i++)
        if (timers[i].tid == tid)
            return i;
    return -1;
}

static void delete_timer_at(int i)
{
    int n = atomic_load_explicit(&ntimers, memory_order_relaxed);
    timer_delete(timers[i].timer);
    timers[i] = timers[n - 1];
    atomic_store(&ntimers, n - 1);
}

static void delete_timer(pid_t tid)
{
    int i = find_timer(tid);
    if (i >= 0)
        delete_timer_at(i);
}

/* Arm a timer on tid's CPU clock whose signal goes to tid. Replaces any
 * timer we held for that tid (a reused tid's old timer is dead). Returns 0
 * or -errno (-EINVAL or -ESRCH for a thread that is already gone). */
static int add_timer(pid_t tid)
{
    delete_timer(tid);
    if (atomic_load_explicit(&ntimers, memory_order_relaxed) >= PPROFD_MAX_THREADS)
        return -ENOSPC;
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = SIGPROF;
    sev.sigev_value.sival_int = TIMER_COOKIE;
    sev._sigev_un._tid = tid;
    timer_t timer;
    if (timer_create(thread_cpu_clock(tid), &sev, &timer) < 0)
        return -errno;
    long period = (long)atomic_load(&period_nanos);
    struct itimerspec its = {
        .it_interval = {period / 1000000000, period % 1000000000},
        .it_value = pprofd__cpu_timer_expiry(random_phase(period)),
    };
    if (timer_settime(timer, 0, &its, NULL) < 0) {
        int err = -errno;
        timer_delete(timer);
        return err;
    }
    int n = atomic_load_explicit(&ntimers, memory_order_relaxed);
    timers[n] = (thread_timer){tid, timer};
    atomic_store(&ntimers, n + 1);
    return 0;
}

static void count_refusal(int err)
{
    /* A thread that exited between listing and arming is no failure. */
    if (err != -ESRCH && err != -EINVAL)
        atomic_fetch_add(&timer_failures, 1);
}

static int compare_tids(const void *a, const void *b)
{
    pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
    return (x > y) - (x < y);
}

typedef struct tid_list {
    pid_t *tids;
    size_t len, cap;
    int failed; /* a push was dropped: the list is incomplete */
} tid_list;

static void tid_push(tid_list *l, pid_t tid)
{
    if (l->len == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        pid_t *t = realloc(l->tids, cap * sizeof *t);
        if (!t) {
            l->failed = 1;
            return;
        }
        l->tids = t;
        l->cap = cap;
    }
    l->tids[l->len++] = tid;
}

static void tid_sort_unique(tid_list *l)
{
    if (l->len == 0)
        return;
    qsort(l->tids, l->len, sizeof l->tids[0], compare_tids);
    size_t out = 1;
    for (size_t i = 1; i < l->len; i++)
        if (l->tids[i] != l->tids[out - 1])
            l->tids[out++] = l->tids[i];
    l->len = out;
}

static int tid_in(const tid_list *l, pid_t tid)
{
    return l->len && bsearch(&tid, l->tids, l->len, sizeof l->tids[0], compare_tids);
}

/* The threads of /proc/self/task, sorted, and which are struck out. */
typedef struct task_list {
    pid_t *tids;
    char *struck;
    int len;
} task_list;

static void strike_out(task_list *tasks, pid_t tid)
{
    pid_t *found = tasks->len ? bsearch(&tid, tasks->tids, (size_t)tasks->len,
                                        sizeof tasks->tids[0], compare_tids)
                              : NULL;
    if (found)
        tasks->struck[found - tasks->tids] = 1;
}

typedef struct registry_walk {
    tid_list *live;
    task_list *tasks;
} registry_walk;

static void walk_registered(const pprofd__thread *t, void *arg)
{
    registry_walk *w = arg;
    pid_t tid = atomic_load(&t->tid);
    if (tid <= 0)
        return;
    if (pprofd__thread_exiting(t, tid))
        strike_out(w->tasks, tid);
    else
        tid_push(w->live, tid);
}

/* Every thread of the process that should hold a timer now: the registry's
 * threads that have not begun to exit, and the tids in /proc/self/task
 * (threads that did not come through our pthread_create) except those of
 * threads that did and are exiting. Sorted, unique. Returns -1 when the
 * list may lack live threads (/proc could not be read, or out of memory):
 * then no timer is to be deleted for want of its thread. O(T log T + R log
 * T) for T threads and R = PPROFD_RECENT_EXITS.
 *
 * Why the exiting are left out: a thread's exit hook deletes its timer, and
 * nothing in the thread deletes one after that; yet the kernel lists the
 * thread in /proc/self/task, and its CPU clock takes timers, until it reaps
 * it (after the thread's key destructors, after pthread_join returned). A
 * timer armed for it then would outlive it, until a later sweep or the end
 * of the profile. The registry marks a thread exiting, and remembers it
 * among the recent exits, before its first exit hook; it unregisters after
 * the last. With state_lock held (sync_timers), each thread is in one of
 * three states:
 *   - its exit hook (on_thread_exit) has run: it ran under state_lock
 *     before we took it, after the marks, so we see it exiting in its slot
 *     or, once unregistered, among the recent exits: left out;
 *   - it has not begun to exit when the walk reads its slot: listed, and
 *     armed; its exit hook has yet to run, and deletes that timer;
 *   - it has begun, but its exit hook has not run: whether the walk read
 *     it exiting or not, the hook waits for state_lock, so it runs after
 *     this sweep and deletes whatever timer the thread then has.
 * An exit hook that returned at once because no profile was armed read
 * per_thread_armed (without the lock) as 0, so before arm() stored 1 and
 * walked: all sequentially consistent, so that walk sees the marks. */
static int list_threads(tid_list *l)
{
    task_list tasks = {NULL, NULL, 0};
    int rc = 0;
    if (pprofd__threads_list_tasks(&tasks.tids, &tasks.len) == 0 &&
        (tasks.struck = calloc((size_t)tasks.len + 1, 1))) {
        qsort(tasks.tids, (size_t)tasks.len, sizeof tasks.tids[0], compare_tids);
    } else {
        /* Threads outside the registry wait for the next sweep. */
        free(tasks.tids);
        tasks = (task_list){NULL, NULL, 0};
        rc = -1;
    }
    pprofd__threads_foreach(walk_registered, &(registry_walk){l, &tasks});
    static pid_t recent[PPROFD_RECENT_EXITS]; /* state_lock */
    int nrecent = pprofd__threads_recent_exits(recent, PPROFD_RECENT_EXITS);
    for (int i = 0; i < nrecent; i++)
        strike_out(&tasks, recent[i]);
    for (int i = 0; i < tasks.len; i++)
        if (!tasks.struck[i])
            tid_push(l, tasks.tids[i]);
    free(tasks.tids);
    free(tasks.struck);
    if (l->failed)
        rc = -1;
    tid_sort_unique(l);
    return rc;
}

/* Bring the timer list in line with the threads that exist: arm the
 * missing, delete those of threads gone or exiting. O(T log T). Holds
 * state_lock: see list_threads for why that and the registry's marks keep
 * it from arming a timer that outlives its thread. */
static void sync_timers(void)
{
    tid_list l = {0};
    int complete = list_threads(&l) == 0;
    if (complete) {
        for (int i = atomic_load(&ntimers) - 1; i >= 0; i--)
            if (!tid_in(&l, timers[i].tid))
                delete_timer_at(i);
    }
    int n = atomic_load(&ntimers);
    pid_t *have = malloc(((size_t)n + 1) * sizeof *have);
    for (int i = 0; have && i < n; i++)
        have[i] = timers[i].tid;
    if (have)
        qsort(have, (size_t)n, sizeof have[0], compare_tids);
    for (size_t i = 0; i < l.len; i++) {
        if (have && bsearch(&l.tids[i], have, (size_t)n, sizeof have[0], compare_tids))
            continue;
        if (!have && find_timer(l.tids[i]) >= 0)
            continue;
        int rc = add_timer(l.tids[i]);
        if (rc < 0)
            count_refusal(rc);
    }
    free(have);
    free(l.tids);
}

static void delete_all_timers(void)
{
    while (atomic_load(&ntimers) > 0)
        delete_timer_at(atomic_load(&ntimers) - 1);
}

/* ---- thread hooks (normal context, in the thread concerned) ---- */

static void remember_stack_bounds(void)
{
    pthread_attr_t attr;
    if (pthread_getattr_np(pthread_self(), &attr) != 0)
        return;
    void *addr;
    size_t size;
    if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
        my_stack_lo = (uintptr_t)addr;
        my_stack_hi = (uintptr_t)addr + size;
    }
    pthread_attr_destroy(&attr);
}

static void on_thread_start(pid_t tid)
{
    remember_stack_bounds();
    if (!atomic_load(&per_thread_armed))
        return;
    pthread_mutex_lock(&state_lock);
    if (atomic_load(&per_thread_armed)) {
        int rc = add_timer(tid);
        if (rc < 0)
            count_refusal(rc);
    }
    pthread_mutex_unlock(&state_lock);
}

static void on_thread_exit(pid_t tid)
{
    if (!atomic_load(&per_thread_armed))
        return;
    pthread_mutex_lock(&state_lock);
    delete_timer(tid);
    pthread_mutex_unlock(&state_lock);
}

/* ---- arming (normal context, state_lock held) ---- */

static int is_our_handler(const struct sigaction *sa)
{
    return (sa->sa_flags & SA_SIGINFO) && sa->sa_sigaction == on_sigprof;
}

/* Install the handler unless the host has one. Ours stays installed once
 * there, doing nothing between profiles: a SIGPROF still pending from a
 * deleted timer must never meet SIG_DFL, which kills the process. */
static int take_sigprof(char *why, size_t why_size)
{
    struct sigaction old;
    if (sigaction(SIGPROF, NULL, &old) < 0) {
        snprintf(why, why_size, "cannot read the SIGPROF disposition: %s", strerror(errno));
        return -errno;
    }
    if (is_our_handler(&old))
        return 0;
    if (!(old.sa_flags & SA_SIGINFO) && (old.sa_handler == SIG_DFL || old.sa_handler == SIG_IGN)) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_sigprof;
        sa.sa_flags = SA_RESTART | SA_SIGINFO;
        /* Every signal masked while it runs: the dump signal (threaddump.c,
         * masked the same way) must not land inside this handler's walk,
         * since libunwind is not re-entrant (unwind.h). */
        sigfillset(&sa.sa_mask);
        if (sigaction(SIGPROF, &sa, NULL) < 0) {
            snprintf(why, why_size, "cannot install the SIGPROF handler: %s", strerror(errno));
            return -errno;
        }
        return 0;
    }
    snprintf(why, why_size,
             "the program has its own SIGPROF handler; pprofd does not take the signal from it");
    return -EBUSY;
}

static void release_table(void)
{
    if (stacks.slots)
        munmap(stacks.slots, stacks.nslots * sizeof stacks.slots[0]);
    if (stacks.arena)
        munmap(stacks.arena, stacks.arena_size);
    memset(&stacks, 0, sizeof stacks);
}

/* PPROFD_CPU_STACKS: distinct stacks the table may hold (default 32768;
 * small values let tests fill it). The arena is sized to match, so that
 * even below the slot array's minimum the limit holds. */
static int init_table(void)
{
    long n = pprofd__config()->cpu_stacks;
    if (!n)
        return pprofd__stacktab_init(&stacks, STACK_SLOTS, STACK_ARENA);
    size_t entry = sizeof(pprofd__stack) + PPROFD_MAX_DEPTH * sizeof(uintptr_t);
    /* The table keeps a quarter of its slots free. */
    return pprofd__stacktab_init(&stacks, (size_t)n / 3 * 4 + 1, (size_t)n * entry);
}

static int arm_itimer(char *why, size_t why_size)
{
    struct itimerval cur;
    if (getitimer(ITIMER_PROF, &cur) == 0 &&
        (cur.it_value.tv_sec || cur.it_value.tv_usec || cur.it_interval.tv_sec ||
         cur.it_interval.tv_usec)) {
        snprintf(why, why_size, "the program runs its own ITIMER_PROF timer");
        return -EBUSY;
    }
    atomic_store(&tick_code, SI_KERNEL);
    long usec = (long)(atomic_load(&period_nanos) / 1000);
    struct itimerval it = {{usec / 1000000, usec % 1000000}, {usec / 1000000, usec % 1000000}};
    if (setitimer(ITIMER_PROF, &it, NULL) < 0) {
        snprintf(why, why_size, "setitimer(ITIMER_PROF): %s", strerror(errno));
        return -errno;
    }
    armed_mechanism = MECH_ITIMER;
    return 0;
}

/* Per-thread timers where the kernel gives them; the process-wide timer
 * only where it does not (or when PPROFD_CPU_TIMER=setitimer asks). */
static int arm(char *why, size_t why_size)
{
    if (!pprofd__config()->cpu_setitimer) {
        atomic_store(&tick_code, SI_TIMER);
        int rc = add_timer(pprofd__current_tid());
        if (rc == 0) {
            armed_mechanism = MECH_PER_THREAD;
            atomic_store(&per_thread_armed, 1);
            sync_timers();
            return 0;
        }
        /* Refused for this very thread: the kernel lacks them (or a
         * sandbox forbids them); fall back. */
    }
    return arm_itimer(why, why_size);
}

static void disarm(void)
{
    if (armed_mechanism == MECH_PER_THREAD) {
        atomic_store(&per_thread_armed, 0);
        delete_all_timers();
    } else if (armed_mechanism == MECH_ITIMER) {
        struct itimerval off = {{0, 0}, {0, 0}};
        setitimer(ITIMER_PROF, &off, NULL);
    }
    armed_mechanism = MECH_NONE;
    /* Pending signals may still arrive; they find collecting == 0. Wait for
     * those already past the check before the table goes. */
    atomic_store(&collecting, 0);
    while (atomic_load(&handlers_running) > 0) {
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
    }
    release_table();
}

/* ---- for the profile windows (cpu_window.c), normal context ---- */

int pprofd__cpu_timer_start(int hz, char *why, size_t why_size)
{
    pthread_mutex_lock(&state_lock);
    int rc = take_sigprof(why, why_size);
    if (rc < 0)
        goto out;
    /* libunwind's first use takes locks: never let that be in a handler. */
    pprofd__unwind_warm_up();
    rc = init_table();
    if (rc < 0) {
        snprintf(why, why_size, "cannot reserve the sample table: %s", strerror(-rc));
        goto out;
    }
    atomic_store(&period_nanos, 1000000000 / hz);
    atomic_store(&collecting, 1);
    rc = arm(why, why_size);
    if (rc < 0)
        disarm();
out:
    pthread_mutex_unlock(&state_lock);
    return rc;
}

void pprofd__cpu_timer_stop(void)
{
    pthread_mutex_lock(&state_lock);
    disarm();
    pthread_mutex_unlock(&state_lock);
}

void pprofd__cpu_timer_sync(void)
{
    pthread_mutex_lock(&state_lock);
    if (armed_mechanism == MECH_PER_THREAD)
        sync_timers();
    pthread_mutex_unlock(&state_lock);
}

pprofd__stacktab *pprofd__cpu_timer_table(void)
{
    return &stacks;
}

void pprofd__cpu_timer_counts(pprofd__cpu_counts *out)
{
    pthread_mutex_lock(&state_lock);
    out->mechanism = armed_mechanism == MECH_ITIMER ? "setitimer" : "timer_create";
    out->threads_timed = atomic_load(&ntimers);
    pthread_mutex_unlock(&state_lock);
    out->period_nanos = atomic_load(&period_nanos);
    out->lost = atomic_load(&lost_samples);
    out->frame_pointer = atomic_load(&fp_stacks);
    out->dwarf = atomic_load(&dwarf_stacks);
    out->leaf_only = atomic_load(&leaf_stacks);
    out->timer_failures = atomic_load(&timer_failures);
}

int pprofd__cpu_timers_live(void)
{
    return atomic_load(&ntimers);
}

int pprofd__cpu_has_timer(pid_t tid)
{
    pthread_mutex_lock(&state_lock);
    int found = find_timer(tid) >= 0;
    pthread_mutex_unlock(&state_lock);
    return found;
}

/* ---- fork (cpu_window.c's steps call these) and load time ---- */

void pprofd__cpu_timer_fork_prepare(void)
{
    pthread_mutex_lock(&state_lock);
}

void pprofd__cpu_timer_fork_parent(void)
{
    pthread_mutex_unlock(&state_lock);
}

/* The child inherits neither timers nor an interval timer, and none of the
 * readers (their threads stayed in the parent): start from nothing. */
void pprofd__cpu_timer_fork_child(void)
{
    atomic_store(&collecting, 0);
    atomic_store(&per_thread_armed, 0);
    atomic_store(&ntimers, 0);
    atomic_store(&handlers_running, 0);
    armed_mechanism = MECH_NONE;
    release_table();
    pthread_mutex_unlock(&state_lock);
}

__attribute__((constructor)) static void cpu_load(void)
{
    remember_stack_bounds();
    pprofd__threads_add_hooks(on_thread_start, on_thread_exit);
    pprofd__fork_init();
}

/* Whether SIGPROF still reaches pprofd's handler: a host that installs its
 * own while a profile runs takes every later tick, and the profile would
 * end silently short. */
int pprofd__cpu_handler_intact(void)
{
    struct sigaction cur;
    return sigaction(SIGPROF, NULL, &cur) == 0 && is_our_handler(&cur);
}
