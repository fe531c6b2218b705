/*
 * threaddump — see threaddump.h for the design, what runs in signal context
 * and the lock order.
 *
 * Shared state, who writes it:
 *   dump_signal       set once (init_once), read by everyone.
 *   current_block     the slot block of the capture in progress or NULL;
 *                     written by the capturer (capture_lock held), read by
 *                     handlers. seq_cst, paired with handlers_inside.
 *   handlers_inside   handlers between loading current_block and leaving;
 *                     incremented/decremented by handlers, read by the
 *                     capturer before it unmaps a block.
 *   retired           blocks unpublished while a handler was still inside;
 *                     capturer only (capture_lock).
 *   slot.phase        WAITING -> WRITING (handler, CAS) -> DONE (handler);
 *                     WAITING -> ABANDONED (capturer, CAS, at the deadline).
 *                     Whoever wins the CAS owns the slot: a late handler can
 *                     never write into a slot the capturer has given up on.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "sampler/base.h"
#include "sampler/threaddump.h"
#include "sampler/threads.h"
#include "sampler/unwind.h"

#define DEFAULT_TIMEOUT_MS 1000
/* After the deadline, how long a slot caught mid-unwind may take to finish
 * before it too counts as no answer. */
#define STRAGGLER_GRACE_MS 50
/* Signals in flight at once: a small multiple of the CPUs. Signalling
 * every thread at once would make them all runnable together, queue them
 * for the CPUs and for the loader's lock (libunwind's dl_iterate_phdr), and
 * each thread's interruption would then grow with the number of threads.
 * A window keeps each interruption to about its own unwind. */
#define WINDOW_PER_CPU 2
/* When no answer comes for this long, the window widens by its size, so
 * that threads that will never answer cannot stall the sending. */
#define WINDOW_PATIENCE_MS 5
/* While waiting for the last answers, how often to look for threads that
 * exited or blocked the signal since they were signalled. */
#define RECHECK_MS 20

enum { WAITING, WRITING, DONE, ABANDONED };

typedef struct dump_slot {
    _Atomic int phase;
    pid_t tid;
    int depth;
    int64_t interrupt_ns;
    int64_t interrupt_cpu_ns;
    uintptr_t pcs[PPROFD_MAX_DEPTH];
} dump_slot;

typedef struct slot_block {
    uint32_t generation;
    uint32_t count;
    size_t bytes;                /* for munmap */
    struct slot_block *next;     /* in the retired list */
    _Atomic int answered;        /* handlers done with this block; futex word */
    dump_slot slots[];
} slot_block;

static pthread_once_t init_control = PTHREAD_ONCE_INIT;
static int dump_signal = -EBUSY;
static pthread_mutex_t capture_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic(slot_block *) current_block;
static _Atomic int handlers_inside;
static _Atomic pid_t capturer_pid;
static _Atomic uint64_t stale_answers;
static slot_block *retired;
static uint32_t next_generation = 1;

const char *pprofd__dump_outcome_text(pprofd__dump_outcome o)
{
    switch (o) {
    case PPROFD_DUMP_ANSWERED: return "answered";
    case PPROFD_DUMP_SELF: return "the capturing thread";
    case PPROFD_DUMP_BLOCKED: return "the thread blocks the signal";
    case PPROFD_DUMP_PENDING: return "an earlier signal is still pending";
    case PPROFD_DUMP_TIMEOUT: return "no answer before the deadline";
    case PPROFD_DUMP_GONE: return "the thread exited";
    case PPROFD_DUMP_SEND_FAILED: return "the signal could not be sent";
    }
    return "?";
}

/* async-signal-safe (clock_gettime is; a vDSO call for CLOCK_MONOTONIC, a
 * system call for the thread's CPU clock). */
static int64_t clock_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t monotonic_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

/*
 * Unwind the calling thread from here, leaving out the caller's `skip`
 * innermost frames (the first one stored is the call site in our caller
 * when skip is 0). Used for the capturing thread itself, and in the handler
 * as the fallback when the ucontext gives nothing: that happens where a
 * signal is not delivered on the interrupted stack's terms (ThreadSanitizer
 * defers signals to a safe point and calls handlers from there).
 * async-signal-safe: unw_getcontext only saves registers, and the cursor API
 * does not use unw_backtrace's per-thread cache, whose thread-exit
 * destructor ThreadSanitizer cannot stand.
 */
__attribute__((noinline)) static int unwind_current(uintptr_t *pcs, int max, int skip)
{
    unw_context_t context;
    unw_cursor_t cursor;
    if (unw_getcontext(&context) < 0 || unw_init_local(&cursor, &context) < 0)
        return 0;
    int n = 0;
    while (n < max && unw_step(&cursor) > 0) {
        unw_word_t ip;
        if (unw_get_reg(&cursor, UNW_REG_IP, &ip) < 0 || ip == 0)
            break;
        if (--skip >= 0)
            continue;
        pcs[n++] = (uintptr_t)ip - 1;
    }
    return n;
}

static void futex_wake_all(_Atomic int *word)
{
    syscall(SYS_futex, (int *)word, FUTEX_WAKE_PRIVATE, 0x7fffffff, NULL, NULL, 0);
}

/*
 * The handler. async-signal-safe: atomics, gettid, clock_gettime, futex
 * and unwind.c's signal unwinders (libunwind only when pprofd__unwind_busy()
 * says the thread was not interrupted inside it); no malloc, no locks, no
 * stdio; errno saved. Signals
 * that are not ours (another sender, a stale generation, a slot already
 * given up) are dropped without touching anything but counters.
 */
static void dump_handler(int sig, siginfo_t *info, void *ucontext)
{
    (void)sig;
    int saved_errno = errno;
    if (info->si_code != SI_QUEUE || info->si_pid != atomic_load(&capturer_pid))
        goto out;
    int64_t start = monotonic_ns(), start_cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    atomic_fetch_add(&handlers_inside, 1);
    slot_block *b = atomic_load(&current_block);
    uint64_t payload = (uint64_t)(uintptr_t)info->si_value.sival_ptr;
    uint32_t generation = (uint32_t)(payload >> 32), index = (uint32_t)payload;
    int expected = WAITING;
    if (!b || b->generation != generation || index >= b->count ||
        b->slots[index].tid != pprofd__current_tid() ||
        !atomic_compare_exchange_strong(&b->slots[index].phase, &expected, WRITING)) {
        atomic_fetch_add_explicit(&stale_answers, 1, memory_order_relaxed);
        goto leave;
    }
    dump_slot *s = &b->slots[index];
    if (pprofd__unwind_busy()) {
        /* Interrupted inside libunwind (the heap sampler's unwind):
         * re-entering it is not safe, so only the interrupted pc. */
        s->depth = pprofd__unwind_signal(ucontext, 0, 0, s->pcs, PPROFD_MAX_DEPTH);
    } else {
        s->depth = pprofd__unwind_signal_dwarf(ucontext, s->pcs, PPROFD_MAX_DEPTH);
        if (s->depth == 0)
            s->depth = unwind_current(s->pcs, PPROFD_MAX_DEPTH, 1); /* past dump_handler */
    }
    s->interrupt_cpu_ns = clock_ns(CLOCK_THREAD_CPUTIME_ID) - start_cpu;
    s->interrupt_ns = monotonic_ns() - start;
    atomic_store_explicit(&s->phase, DONE, memory_order_release);
    atomic_fetch_add(&b->answered, 1);
    futex_wake_all(&b->answered);
leave:
    atomic_fetch_sub(&handlers_inside, 1);
out:
    errno = saved_errno;
}

/* In a child of fork() only the forking thread exists: a capture the parent
 * had in progress (capture_lock held by another thread, a block published,
 * handlers counted inside) will never finish there. Start from clean; the
 * parent's blocks stay mapped in the child, unused (a small leak, once per
 * fork during a capture). */
void pprofd__thread_dump_fork_child(void)
{
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
    capture_lock = fresh;
    atomic_store(&current_block, NULL);
    atomic_store(&handlers_inside, 0);
    retired = NULL;
}

static void choose_signal(void)
{
    pprofd__unwind_warm_up();
    /* From the top: hosts and libraries that use real-time signals tend to
     * take them from SIGRTMIN up. Never one with a handler already. */
    for (int sig = SIGRTMAX; sig >= SIGRTMIN; sig--) {
        struct sigaction old;
        if (sigaction(sig, NULL, &old) < 0)
            continue;
        if ((old.sa_flags & SA_SIGINFO) || old.sa_handler != SIG_DFL)
            continue;
        struct sigaction sa = {0};
        sa.sa_sigaction = dump_handler;
        sa.sa_flags = SA_SIGINFO | SA_RESTART;
        sigfillset(&sa.sa_mask);
        if (sigaction(sig, &sa, NULL) == 0) {
            dump_signal = sig;
            return;
        }
    }
    dump_signal = -EBUSY;
}

int pprofd__thread_dump_signal(void)
{
    pthread_once(&init_control, choose_signal);
    return dump_signal;
}

uint64_t pprofd__thread_dump_stale_answers(void)
{
    return atomic_load(&stale_answers);
}

/* Is our handler still the one installed? A host may install its own later;
 * then we must not send: the signal would run the host's handler. */
static int still_ours(int sig)
{
    struct sigaction cur;
    return sigaction(sig, NULL, &cur) == 0 && (cur.sa_flags & SA_SIGINFO) &&
           cur.sa_sigaction == dump_handler;
}

/* ---- /proc ---- */

static ssize_t read_small_file(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = 0;
    ssize_t n;
    while (len < size - 1 && (n = read(fd, buf + len, size - 1 - len)) > 0)
        len += (size_t)n;
    close(fd);
    buf[len] = 0;
    return (ssize_t)len;
}

/* Name, state and CPU time from /proc/self/task/TID/stat. The name sits in
 * parentheses and may itself contain ") ", so parse from the last ')'. */
static int read_stat(pprofd__thread_snapshot *t, long ticks_per_second)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)t->tid);
    if (read_small_file(path, buf, sizeof buf) <= 0)
        return -1;
    char *open_paren = strchr(buf, '('), *close_paren = strrchr(buf, ')');
    if (!open_paren || !close_paren || close_paren < open_paren)
        return -1;
    size_t len = (size_t)(close_paren - open_paren - 1);
    if (len >= sizeof t->name)
        len = sizeof t->name - 1;
    memcpy(t->name, open_paren + 1, len);
    t->name[len] = 0;
    /* Fields after the name: 3 state, 4 ppid, ... 14 utime, 15 stime. */
    char state;
    unsigned long long utime = 0, stime = 0;
    if (sscanf(close_paren + 2, "%c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &state,
               &utime, &stime) < 1)
        return -1;
    t->state = state;
    t->user_ns = (int64_t)(utime * (1000000000ull / (unsigned long long)ticks_per_second));
    t->system_ns = (int64_t)(stime * (1000000000ull / (unsigned long long)ticks_per_second));
    return 0;
}

/* Does the thread block `sig`, or has it one of ours pending? From
 * /proc/self/task/TID/status (SigBlk, SigPnd: hex masks, bit sig-1). */
static pprofd__dump_outcome check_mask(pid_t tid, int sig)
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/self/task/%d/status", (int)tid);
    if (read_small_file(path, buf, sizeof buf) <= 0)
        return PPROFD_DUMP_GONE;
    unsigned long long bit = 1ull << (sig - 1);
    const char *blk = strstr(buf, "\nSigBlk:"), *pnd = strstr(buf, "\nSigPnd:");
    if (blk && (strtoull(blk + 8, NULL, 16) & bit))
        return PPROFD_DUMP_BLOCKED;
    if (pnd && (strtoull(pnd + 8, NULL, 16) & bit))
        return PPROFD_DUMP_PENDING;
    return PPROFD_DUMP_ANSWERED;
}

typedef struct server_marking {
    pprofd__thread_snapshot *snaps;
    int count;
} server_marking;

static void mark_if_server(const pprofd__thread *t, void *arg)
{
    server_marking *m = arg;
    if (!(t->flags & PPROFD_THREAD_SERVER))
        return;
    pid_t tid = atomic_load(&t->tid);
    for (int i = 0; i < m->count; i++)
        if (m->snaps[i].tid == tid)
            m->snaps[i].server = 1;
}

/* ---- slot blocks ---- */

static slot_block *block_new(uint32_t count)
{
    size_t bytes = sizeof(slot_block) + (size_t)count * sizeof(dump_slot);
    slot_block *b = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (b == MAP_FAILED)
        return NULL;
    b->bytes = bytes;
    b->count = count;
    return b;
}

/* Free every retired block if no handler can still be using one. Handlers
 * load current_block only after incrementing handlers_inside, and retired
 * blocks are no longer current, so zero here means nobody holds them. */
static void reap_retired(void)
{
    if (!retired || atomic_load(&handlers_inside) != 0)
        return;
    while (retired) {
        slot_block *next = retired->next;
        munmap(retired, retired->bytes);
        retired = next;
    }
}

static void block_retire(slot_block *b)
{
    atomic_store(&current_block, NULL);
    b->next = retired;
    retired = b;
    reap_retired();
}

/* ---- the capture ---- */

/* Wait until b->answered differs from `seen` or `ns` pass; 1 if it did. */
static int wait_for_answer(slot_block *b, int seen, int64_t ns)
{
    int64_t until = monotonic_ns() + ns;
    for (;;) {
        if (atomic_load(&b->answered) != seen)
            return 1;
        int64_t now = monotonic_ns();
        if (now >= until)
            return 0;
        struct timespec ts = {(time_t)((until - now) / 1000000000),
                              (long)((until - now) % 1000000000)};
        syscall(SYS_futex, (int *)&b->answered, FUTEX_WAIT_PRIVATE, seen, &ts, NULL, 0);
    }
}

/* Claim a slot that has not answered, or take the answer if it came. */
static pprofd__dump_outcome settle_slot(dump_slot *s)
{
    int expected = WAITING;
    if (atomic_compare_exchange_strong(&s->phase, &expected, ABANDONED))
        return PPROFD_DUMP_TIMEOUT;
    int64_t grace = monotonic_ns() + STRAGGLER_GRACE_MS * 1000000ll;
    while (atomic_load_explicit(&s->phase, memory_order_acquire) == WRITING &&
           monotonic_ns() < grace)
        sched_yield();
    return atomic_load_explicit(&s->phase, memory_order_acquire) == DONE ? PPROFD_DUMP_ANSWERED
                                                                         : PPROFD_DUMP_TIMEOUT;
}

static int send_dump_signal(pid_t pid, pid_t tid, int sig, uint32_t generation, uint32_t index)
{
    siginfo_t si;
    memset(&si, 0, sizeof si);
    si.si_signo = sig;
    si.si_code = SI_QUEUE;
    si.si_pid = pid;
    si.si_uid = getuid();
    si.si_value.sival_ptr = (void *)(uintptr_t)(((uint64_t)generation << 32) | index);
    return (int)syscall(SYS_rt_tgsigqueueinfo, pid, tid, sig, &si);
}

/* Give up on signalled threads that cannot answer: gone from /proc, or now
 * blocking the signal (unless told to wait for those too). Returns how many
 * were given up. O(unanswered) /proc reads. */
static int resolve_silent(slot_block *b, pprofd__thread_snapshot *snaps, int n, int sig,
                          int wait_for_blocked)
{
    int resolved = 0;
    for (int i = 0; i < n; i++) {
        if (snaps[i].outcome != PPROFD_DUMP_ANSWERED || atomic_load(&b->slots[i].phase) != WAITING)
            continue;
        pprofd__dump_outcome o = check_mask(snaps[i].tid, sig);
        if (o != PPROFD_DUMP_GONE && (o != PPROFD_DUMP_BLOCKED || wait_for_blocked))
            continue;
        int expected = WAITING;
        if (atomic_compare_exchange_strong(&b->slots[i].phase, &expected, ABANDONED)) {
            snaps[i].outcome = o;
            resolved++;
        }
    }
    return resolved;
}

typedef struct sending_state {
    slot_block *b;
    pid_t pid;
    int sig;
    int window, allowed; /* signals that may be unanswered at once */
    int sent;            /* signals the kernel accepted */
} sending_state;

/* Send thread i its signal once fewer than `allowed` are unanswered. */
static void send_within_window(sending_state *st, pprofd__thread_snapshot *t, int i)
{
    slot_block *b = st->b;
    int seen;
    while (st->sent - (seen = atomic_load(&b->answered)) >= st->allowed)
        if (!wait_for_answer(b, seen, WINDOW_PATIENCE_MS * 1000000ll))
            st->allowed += st->window;
    if (send_dump_signal(st->pid, t->tid, st->sig, b->generation, (uint32_t)i) < 0) {
        t->outcome = errno == ESRCH ? PPROFD_DUMP_GONE : PPROFD_DUMP_SEND_FAILED;
        atomic_store(&b->slots[i].phase, ABANDONED);
    } else {
        st->sent++;
    }
}

int pprofd__thread_dump_capture(pprofd__thread_dump *out, const pprofd__dump_options *opts)
{
    memset(out, 0, sizeof *out);
    int sig = pprofd__thread_dump_signal();
    if (sig < 0)
        return sig;
    int timeout_ms = opts && opts->timeout_ms > 0 ? opts->timeout_ms : DEFAULT_TIMEOUT_MS;
    int skip_blocked_check = opts && opts->skip_blocked_check;
    long ticks = sysconf(_SC_CLK_TCK);
    if (ticks <= 0)
        ticks = 100;

    pthread_mutex_lock(&capture_lock);
    int rc = 0;
    pid_t *tids = NULL;
    slot_block *b = NULL;
    pprofd__thread_snapshot *snaps = NULL;
    int n = 0;

    /* Threads still inside our handler from the capture before have every
     * signal blocked, and would look like threads that block ours: let them
     * leave first (they are a few microseconds from it, unless preempted;
     * bounded). */
    for (int i = 0; i < 100 && atomic_load(&handlers_inside) != 0; i++)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    reap_retired();
    if (!still_ours(sig)) {
        rc = -EBUSY;
        goto fail;
    }
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    int64_t started = monotonic_ns();
    if ((rc = pprofd__threads_list_tasks(&tids, &n)) < 0)
        goto fail;
    snaps = calloc((size_t)(n ? n : 1), sizeof *snaps);
    b = block_new((uint32_t)n);
    if (!snaps || !b) {
        rc = -ENOMEM;
        goto fail;
    }

    /* Outcomes start as ANSWERED (0), meaning "to be signalled"; the
     * checks below and the sending loop change them. */
    pid_t pid = getpid(), self = pprofd__current_tid();
    for (int i = 0; i < n; i++) {
        pprofd__thread_snapshot *t = &snaps[i];
        t->tid = tids[i];
        b->slots[i].tid = tids[i];
        /* State first: the signal itself will wake the thread. */
        if (read_stat(t, ticks) < 0)
            t->outcome = PPROFD_DUMP_GONE;
        else if (t->tid == self)
            t->outcome = PPROFD_DUMP_SELF;
        else if (!skip_blocked_check)
            t->outcome = check_mask(t->tid, sig);
        if (t->outcome != PPROFD_DUMP_ANSWERED)
            atomic_store(&b->slots[i].phase, ABANDONED);
    }

    b->generation = next_generation++;
    if (next_generation == 0)
        next_generation = 1;
    atomic_store(&capturer_pid, pid);
    atomic_store(&current_block, b);

    for (int i = 0; i < n; i++)
        if (snaps[i].outcome == PPROFD_DUMP_SELF)
            snaps[i].depth = unwind_current(snaps[i].pcs, PPROFD_MAX_DEPTH, 0);

    /* Send within the window (see WINDOW_PER_CPU). O(N) sends and futex
     * waits. */
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    sending_state st = {.b = b, .pid = pid, .sig = sig,
                        .window = (int)(cpus > 0 ? cpus : 1) * WINDOW_PER_CPU};
    st.allowed = st.window;
    for (int i = 0; i < n; i++)
        if (snaps[i].outcome == PPROFD_DUMP_ANSWERED) /* i.e. "to be signalled" */
            send_within_window(&st, &snaps[i], i);
    /* A thread seen blocking the signal may have been inside a signal
     * handler (ours from a previous capture, or the host's) for a few
     * microseconds: look again now; signal those that no longer block it. A
     * thread that still does is reported, not signalled, so it never holds
     * more than one of our signals pending and never costs a timeout. */
    for (int i = 0; i < n; i++) {
        if (snaps[i].outcome != PPROFD_DUMP_BLOCKED && snaps[i].outcome != PPROFD_DUMP_PENDING)
            continue;
        pprofd__dump_outcome again = check_mask(snaps[i].tid, sig);
        snaps[i].outcome = again;
        if (again == PPROFD_DUMP_ANSWERED) {
            atomic_store(&b->slots[i].phase, WAITING);
            send_within_window(&st, &snaps[i], i);
        }
    }
    int sent = st.sent;
    /* The deadline counts from the last signal sent. While answers are
     * missing, look every RECHECK_MS for threads that will not answer: a
     * thread that exited (its pending signal died with it) or that has
     * blocked the signal since. Without this, any thread exiting during a
     * capture would cost the whole timeout. */
    int64_t deadline = monotonic_ns() + (int64_t)timeout_ms * 1000000;
    int seen, resolved = 0;
    while ((seen = atomic_load(&b->answered)) + resolved < sent) {
        int64_t left = deadline - monotonic_ns();
        if (left <= 0)
            break;
        if (!wait_for_answer(b, seen, left < RECHECK_MS * 1000000ll ? left : RECHECK_MS * 1000000ll))
            resolved += resolve_silent(b, snaps, n, sig, skip_blocked_check);
    }

    for (int i = 0; i < n; i++) {
        pprofd__thread_snapshot *t = &snaps[i];
        if (t->outcome != PPROFD_DUMP_ANSWERED)
            continue;
        dump_slot *s = &b->slots[i];
        t->outcome = settle_slot(s);
        if (t->outcome == PPROFD_DUMP_ANSWERED) {
            t->depth = s->depth;
            t->interrupt_ns = s->interrupt_ns;
            t->interrupt_cpu_ns = s->interrupt_cpu_ns;
            memcpy(t->pcs, s->pcs, (size_t)s->depth * sizeof s->pcs[0]);
        }
    }
    /* Which threads are pprofd's own, asked once they have answered: a
     * thread the server started just before the listing may register only
     * after it (its trampoline runs after clone). O(server threads x
     * threads): the server has a handful. */
    pprofd__threads_foreach(mark_if_server, &(server_marking){snaps, n});
    out->elapsed_ns = monotonic_ns() - started;
    out->time_ns = (int64_t)wall.tv_sec * 1000000000 + wall.tv_nsec;
    out->count = n;
    out->threads = snaps;
    out->signal = sig;
    snaps = NULL;

fail:
    if (b)
        block_retire(b);
    free(snaps);
    free(tids);
    pthread_mutex_unlock(&capture_lock);
    return rc;
}

void pprofd__thread_dump_free(pprofd__thread_dump *d)
{
    free(d->threads);
    d->threads = NULL;
    d->count = 0;
}
