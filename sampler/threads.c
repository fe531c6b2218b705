/*
 * threads — see threads.h. The pthread_create interposer itself is in
 * sampler/interpose/pthread.c; this file is the registry it feeds, the
 * trampoline new threads run, and the threadcreate table.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "sampler/base.h"
#include "sampler/heap.h"
#include "sampler/threads.h"
#include "sampler/unwind.h"
#include "sampler/labels.h"

#define MAX_HOOKS 8

/* A static link extracts an archive member only for a symbol still
 * undefined when the archive is read: where a sanitizer runtime linked
 * before us already defines pthread_create, the interposer would be left
 * out and the registry never fed. This reference brings it whenever the
 * registry comes. */
extern const char pprofd__interpose_pthread;
__attribute__((used)) static const char *const pull_interposer = &pprofd__interpose_pthread;

static pprofd__thread slots[PPROFD_MAX_THREADS];
static _Atomic int high_water; /* slots[0..high_water) may be in use */
static _Atomic int live;

/* Recently exited threads (pprofd__threads_recent_exits): a ring written
 * by each exiting thread, oldest entries overwritten. An entry is the tid in
 * the low 32 bits and the CLOCK_MONOTONIC_COARSE second of the exit above;
 * 0 = empty. */
static _Atomic uint64_t recent_exits[PPROFD_RECENT_EXITS];
static _Atomic unsigned recent_next;

static pprofd__thread_hook start_hooks[MAX_HOOKS];
static pprofd__thread_hook exit_hooks[MAX_HOOKS];
static _Atomic int nhooks;

static __thread int my_slot __attribute__((tls_model("initial-exec"))) = -1;
/* PPROFD_THREAD_* of the calling thread, inherited by the threads it makes
 * (server marking). */
static __thread int my_flags __attribute__((tls_model("initial-exec")));
static __thread int marking_server __attribute__((tls_model("initial-exec")));

/* threadcreate: about 2048 distinct creating stacks fit; more are dropped
 * and counted in the table's `dropped`. */
static pprofd__stacktab create_stacks;
static pthread_once_t create_stacks_once = PTHREAD_ONCE_INIT;
static _Atomic int create_stacks_ok;
static _Atomic long threads_created;

static void init_create_stacks(void)
{
    if (pprofd__stacktab_init(&create_stacks, 2048, 1u << 20) == 0)
        atomic_store(&create_stacks_ok, 1);
}

pprofd__stacktab *pprofd__threadcreate_stacks(void)
{
    pthread_once(&create_stacks_once, init_create_stacks);
    return atomic_load(&create_stacks_ok) ? &create_stacks : NULL;
}

long pprofd__threadcreate_total(void)
{
    return atomic_load(&threads_created);
}

void pprofd__threads_mark_server(int on)
{
    marking_server = on;
}

int pprofd__threads_is_server(void)
{
    return (my_flags & PPROFD_THREAD_SERVER) != 0;
}

int pprofd__threads_add_hooks(pprofd__thread_hook on_start, pprofd__thread_hook on_exit)
{
    int i = atomic_fetch_add(&nhooks, 1);
    if (i >= MAX_HOOKS) {
        atomic_fetch_sub(&nhooks, 1);
        return -ENOSPC;
    }
    start_hooks[i] = on_start;
    exit_hooks[i] = on_exit;
    return 0;
}

void pprofd__threads_register_self(void)
{
    if (my_slot >= 0)
        return;
    pid_t tid = pprofd__current_tid();
    for (int i = 0; i < PPROFD_MAX_THREADS; i++) {
        pid_t expected = 0;
        if (atomic_compare_exchange_strong(&slots[i].tid, &expected, -1)) {
            slots[i].handle = pthread_self();
            slots[i].flags = my_flags;
            /* Before the tid: see pprofd__thread_exiting. */
            atomic_store(&slots[i].exiting, 0);
            atomic_store(&slots[i].tid, tid);
            my_slot = i;
            int hw = atomic_load(&high_water);
            while (hw < i + 1 && !atomic_compare_exchange_weak(&high_water, &hw, i + 1))
                ;
            atomic_fetch_add(&live, 1);
            return;
        }
    }
    /* Registry full: the thread runs unregistered (consumers fall back to
     * /proc/self/task). */
}

/* The registered thread's `exiting` stays set in its slot until the slot's
 * next owner clears it. */
static void unregister_self(void)
{
    if (my_slot < 0)
        return;
    atomic_store(&slots[my_slot].tid, 0);
    my_slot = -1;
    atomic_fetch_sub(&live, 1);
}

void pprofd__threads_foreach(void (*fn)(const pprofd__thread *t, void *arg), void *arg)
{
    int hw = atomic_load(&high_water);
    for (int i = 0; i < hw; i++) {
        pid_t tid = atomic_load_explicit(&slots[i].tid, memory_order_acquire);
        if (tid > 0)
            fn(&slots[i], arg);
    }
}

int pprofd__threads_list_tasks(pid_t **out, int *count)
{
    /* getdents64 into a buffer on the stack: opendir's DIR alone is 32 KiB
     * of the host's heap, on every thread profile and dump. */
    int fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -EIO;
    int n = 0, cap = 64;
    pid_t *tids = malloc((size_t)cap * sizeof *tids);
    char buf[4096] __attribute__((aligned(8)));
    ssize_t got;
    while (tids && (got = getdents64(fd, buf, sizeof buf)) > 0) {
        for (ssize_t at = 0; at < got;) {
            const struct dirent64 *e = (const struct dirent64 *)(buf + at);
            at += e->d_reclen;
            if (e->d_name[0] < '0' || e->d_name[0] > '9')
                continue;
            if (n == cap) {
                pid_t *bigger = realloc(tids, (size_t)(cap *= 2) * sizeof *tids);
                if (!bigger) {
                    free(tids);
                    tids = NULL;
                    break;
                }
                tids = bigger;
            }
            tids[n++] = (pid_t)atoi(e->d_name);
        }
    }
    close(fd);
    if (!tids)
        return -ENOMEM;
    *out = tids;
    *count = n;
    return 0;
}

long pprofd__threads_in_process(void)
{
    int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char buf[1024];
    ssize_t got = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (got <= 0)
        return -1;
    buf[got] = '\0';
    /* The command name may hold anything, ')' too: fields follow the last. */
    const char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    /* num_threads is field 20; field 3 (the state) follows ") ". */
    for (int field = 2; field < 20 && p; field++)
        p = strchr(p + 1, ' ');
    return p ? strtol(p + 1, NULL, 10) : -1;
}

static uint64_t coarse_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec;
}

static void remember_exit(pid_t tid)
{
    unsigned i = atomic_fetch_add(&recent_next, 1) % PPROFD_RECENT_EXITS;
    atomic_store(&recent_exits[i], coarse_seconds() << 32 | (uint32_t)tid);
}

int pprofd__threads_recent_exits(pid_t *out, int max)
{
    uint64_t now = coarse_seconds();
    int n = 0;
    for (int i = 0; i < PPROFD_RECENT_EXITS && n < max; i++) {
        uint64_t e = atomic_load(&recent_exits[i]);
        pid_t tid = (pid_t)(uint32_t)e;
        /* (An entry written after `now` was read may be a second ahead.) */
        if (tid > 0 && (e >> 32) + PPROFD_RECENT_EXIT_SECONDS >= now)
            out[n++] = tid;
    }
    return n;
}

int pprofd__threads_count(void)
{
    return atomic_load(&live);
}

typedef struct start_args {
    void *(*fn)(void *);
    void *arg;
    int flags; /* PPROFD_THREAD_* the new thread inherits */
    uint32_t labels; /* the label set it starts with (sampler/labels.h) */
} start_args;

/* Marked exiting, and remembered as exited, before the first hook: a
 * consumer that looks (after a hook has run) sees one or the other. */
static void run_exit_hooks(void *unused)
{
    (void)unused;
    pid_t tid = pprofd__current_tid();
    remember_exit(tid);
    if (my_slot >= 0)
        atomic_store(&slots[my_slot].exiting, 1);
    int n = atomic_load(&nhooks);
    for (int i = 0; i < n && i < MAX_HOOKS; i++)
        if (exit_hooks[i])
            exit_hooks[i](tid);
    unregister_self();
}

void *pprofd__thread_start_args(void *(*fn)(void *), void *arg)
{
    start_args *a = malloc(sizeof *a);
    if (!a)
        return NULL;
    a->fn = fn;
    a->arg = arg;
    a->flags = my_flags | (marking_server ? PPROFD_THREAD_SERVER : 0);
    /* The creator's labels, as Go's goroutines inherit theirs; pprofd's
     * own threads are pprofd's. */
    a->labels = a->flags & PPROFD_THREAD_SERVER ? pprofd__labels_server()
                                                : pprofd__labels_current();
    return a;
}

void pprofd__thread_start_args_free(void *start_args)
{
    free(start_args);
}

void pprofd__threadcreate_record(const uintptr_t *pcs, int depth)
{
    atomic_fetch_add(&threads_created, 1);
    pprofd__stacktab *tab = pprofd__threadcreate_stacks();
    pprofd__stack *st = tab ? pprofd__stacktab_intern(tab, pcs, depth) : NULL;
    if (st)
        atomic_fetch_add_explicit(&st->counters[PPROFD_THREADCREATE_COUNT], 1,
                                  memory_order_relaxed);
}

/* In the hooks section: pprofd's own frame, left out of every stack. */
PPROFD_HEAP_HOOK void *pprofd__thread_start(void *p)
{
    start_args a = *(start_args *)p;
    free(p);
    my_flags = a.flags;
    pprofd__labels_tls = a.labels;
    pprofd__threads_register_self();
    pid_t tid = pprofd__current_tid();
    int n = atomic_load(&nhooks);
    for (int i = 0; i < n && i < MAX_HOOKS; i++)
        if (start_hooks[i])
            start_hooks[i](tid);
    void *ret;
    pthread_cleanup_push(run_exit_hooks, NULL);
    ret = a.fn(a.arg);
    pthread_cleanup_pop(1);
    return ret;
}
