/*
 * heap_sample — the sampling decision and what a sample records. See heap.h
 * for the contract and the lock order; the table of live sampled objects
 * is heap_live.c's.
 *
 * Sampling is a Poisson process over allocated bytes (as gperftools'
 * sampler.h and Go's mallocgc): each thread counts down a distance drawn
 * from an exponential distribution with mean `rate`; the allocation that
 * crosses zero is sampled, so an object of size s is sampled with
 * probability 1 - exp(-s/rate), which the server undoes.
 *
 * Costs (callgrind, load/callgrind-malloc.sh): the fast paths add 7
 * instructions to malloc and 8 to free. A sample costs a walk of the
 * host's stack (by learnt frame rules, libunwind only for frames without
 * one), a stack-table probe, two transcendental functions and a shard
 * lock, once per 512 KiB allocated at the default rate. What it costs in time is
 * mostly cache misses, since the host's own work evicts the sampler's lines
 * between samples; hence one stack entry per call site and one table line
 * per object. Memory: 1.5 MiB of fixed tables, then shard tables and stack
 * entries as needed, all within the cap.
 */
#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "sampler/config.h"
#include "sampler/fork.h"
#include "sampler/heap.h"
#include "sampler/heap_live.h"
#include "sampler/unwind.h"
#include "sampler/labels.h"

__thread pprofd__heap_tls pprofd__heap_tls_state __attribute__((tls_model("initial-exec")));

#define STACK_SLOTS (1u << 16)    /* one entry per allocating call stack */
#define STACK_ARENA (64u << 20)   /* reserved; the memory cap decides how much is used */

/* Tables mapped at init whatever the load: they count against the cap. */
#define FIXED_BYTES (sizeof pprofd__heap_filter + (size_t)STACK_SLOTS * sizeof(void *))


static pprofd__stacktab heap_stacks;
static _Atomic long rate = -1;              /* -1: not taken from the config yet */
static _Atomic size_t memory_cap;           /* 0: not taken from the config yet */
static _Atomic int init_state;              /* 0 none, 1 running, 2 done */
static _Atomic uint64_t dropped_samples;    /* samples lost: cap or full table */
static _Atomic int64_t dropped_weight;      /* what they stood for */
static _Atomic int64_t dropped_bytes;
static int unwind_check;                    /* $PPROFD_UNWIND_CHECK: see check_walk */

/* Start and end of the PPROFD_HEAP_HOOK section, from the linker. */
extern const char __start_pprofd_hooks[] __attribute__((visibility("hidden")));
extern const char __stop_pprofd_hooks[] __attribute__((visibility("hidden")));

long pprofd__heap_rate(void)
{
    long r = atomic_load_explicit(&rate, memory_order_relaxed);
    if (r < 0) {
        r = pprofd__config()->mem_rate;
        long expected = -1;
        if (!atomic_compare_exchange_strong(&rate, &expected, r))
            r = expected;
    }
    return r;
}

void pprofd__heap_set_rate(long r)
{
    atomic_store(&rate, r < 0 ? 0 : r);
    /* Threads pick the new rate up at their next slow path. */
    pprofd__heap_tls_state.countdown = 0;
}

size_t pprofd__heap_memory_cap(void)
{
    size_t c = atomic_load_explicit(&memory_cap, memory_order_relaxed);
    if (c == 0) {
        c = pprofd__config()->mem_cap;
        if (c == 0)
            c = PPROFD_HEAP_DEFAULT_CAP;
        size_t expected = 0;
        if (!atomic_compare_exchange_strong(&memory_cap, &expected, c))
            c = expected;
    }
    return c;
}

size_t pprofd__heap_memory_held(void)
{
    return FIXED_BYTES + pprofd__heap_live_memory() +
           atomic_load_explicit(&heap_stacks.arena_used, memory_order_relaxed);
}

/* What the stack arena may still take: the cap less everything else. */
void pprofd__heap_memory_changed(void)
{
    size_t cap = pprofd__heap_memory_cap();
    size_t other = FIXED_BYTES + pprofd__heap_live_memory();
    pprofd__stacktab_set_limit(&heap_stacks, cap > other ? cap - other : 0);
}

void pprofd__heap_set_memory_cap(size_t bytes)
{
    atomic_store(&memory_cap, bytes ? bytes : PPROFD_HEAP_DEFAULT_CAP);
    if (atomic_load(&init_state) == 2)
        pprofd__heap_memory_changed();
}

/* fork (sampler/fork.c): no walk inside libunwind, and every shard lock
 * held by the forking thread, so the child's tables and libunwind's locks
 * are consistent. */
void pprofd__heap_fork_prepare(void)
{
    pprofd__unwind_fork_prepare();
    pprofd__heap_live_lock_all();
}

void pprofd__heap_fork_release(void)
{
    pprofd__heap_live_unlock_all();
    pprofd__unwind_fork_done();
}

/* Called with this thread's guard raised: registering the fork handlers
 * allocates. */
void pprofd__heap_init(void)
{
    int expected = 0;
    if (!atomic_compare_exchange_strong(&init_state, &expected, 1)) {
        /* Another thread is initialising: it holds no lock we need, and
         * takes microseconds. */
        while (atomic_load(&init_state) != 2)
            sched_yield();
        return;
    }
    pprofd__stacktab_init(&heap_stacks, STACK_SLOTS, STACK_ARENA);
    unwind_check = pprofd__config()->unwind_check;
    pprofd__heap_memory_changed();
    pprofd__fork_init();
    atomic_store(&init_state, 2);
}

static uint64_t next_random(pprofd__heap_tls *t)
{
    if (t->rng == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        t->rng = ((uint64_t)(uintptr_t)t * 0x9e3779b97f4a7c15ull) ^
                 (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32);
        if (t->rng == 0)
            t->rng = 1;
    }
    /* xorshift64* */
    t->rng ^= t->rng >> 12;
    t->rng ^= t->rng << 25;
    t->rng ^= t->rng >> 27;
    return t->rng * 2685821657736338717ull;
}

/* Exponentially distributed distance with mean `mean` bytes. */
static int64_t draw_distance(pprofd__heap_tls *t, long mean)
{
    /* 53 random bits -> u in (0, 1]. */
    double u = (double)((next_random(t) >> 11) + 1) * (1.0 / 9007199254740992.0);
    double d = -log(u) * (double)mean;
    if (d > 4e18)
        d = 4e18;
    return (int64_t)d + 1;
}

/* The thread's countdown ran out. Out of line and in the hook section: the
 * fast path stays a subtraction and a branch, and this frame is trimmed off
 * the recorded stack. Re-entrant through the guard (the first call of the
 * process initialises the tables, which allocates). */
PPROFD_HEAP_HOOK __attribute__((noinline)) void *pprofd__heap_sample_slow(void *p, size_t size)
{
    pprofd__heap_tls *t = &pprofd__heap_tls_state;
    if (t->guard)
        return p; /* the countdown stays spent: every sampler allocation comes here */
    if (__builtin_expect(atomic_load_explicit(&init_state, memory_order_acquire) != 2, 0)) {
        int saved_errno = errno; /* the config's parsing, mmap: the host's errno stays */
        t->guard++;
        pprofd__heap_init();
        t->guard--;
        errno = saved_errno;
    }
    long r = pprofd__heap_rate();
    if (r == 0) {
        /* Off: come back now and then in case it is switched on. */
        t->countdown = (int64_t)1 << 30;
        return p;
    }
    if (r == 1) {
        t->countdown = 0; /* every allocation, malloc(0) included, comes here */
    } else if (t->rng == 0) {
        /* The thread's first allocation: start its countdown as if it had
         * been drawn before this allocation, so this one too is sampled with
         * probability 1 - exp(-size/rate). */
        t->countdown = draw_distance(t, r) - (int64_t)size;
        if (t->countdown > 0)
            return p;
        t->countdown = draw_distance(t, r);
    } else {
        /* Memoryless: the overshoot is dropped, not carried, so each object
         * is sampled with probability 1 - exp(-size/rate) exactly. */
        t->countdown = draw_distance(t, r);
    }
    if (p)
        pprofd__heap_record_alloc(p, size);
    return p;
}

static void count_drop(const pprofd__heap_object *obj)
{
    atomic_fetch_add_explicit(&dropped_samples, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&dropped_weight, obj->weight, memory_order_relaxed);
    atomic_fetch_add_explicit(&dropped_bytes, obj->bytes, memory_order_relaxed);
}

void pprofd__heap_weigh(size_t size, long rate, int64_t *weight, int64_t *bytes)
{
    if (rate <= 1 || size == 0) {
        /* Every allocation is seen (rate 1), or one that had no chance to
         * be (size 0, countdown reset by a rate change) counts as itself. */
        *weight = PPROFD_HEAP_WEIGHT_ONE;
        *bytes = (int64_t)size;
        return;
    }
    double objects = -1.0 / expm1(-(double)size / (double)rate);
    if (objects > 1e12) /* an absurd rate: keep the fixed point in range */
        objects = 1e12;
    /* Positive and far below 2^63: rounding by adding a half (llround is
     * a call into libm). */
    *weight = (int64_t)(objects * (double)PPROFD_HEAP_WEIGHT_ONE + 0.5);
    *bytes = (int64_t)(objects * (double)size + 0.5);
}

static bool in_hooks(uintptr_t pc)
{
    return pc >= (uintptr_t)__start_pprofd_hooks && pc < (uintptr_t)__stop_pprofd_hooks;
}

/* The host's frame that called into the allocator: the first frame up our
 * own frame-pointer chain (everything in PPROFD_HEAP_HOOK keeps frame
 * pointers, and every function between the interposer and here is in it,
 * whether the compiler inlines it or not) whose return address leads out
 * of the hooks. pc is that
 * return address; sp and fp are what the host's frame has once it returns.
 * 0 if the chain looks wrong. */
PPROFD_HEAP_HOOK static int host_frame(uintptr_t *pc, uintptr_t *sp, uintptr_t *fp)
{
    const uintptr_t *f = __builtin_frame_address(0);
    for (int i = 0; i < 8; i++) {
        if (!in_hooks(f[1])) {
            *pc = f[1];
            *sp = (uintptr_t)(f + 2);
            *fp = f[0];
            return *pc != 0;
        }
        const uintptr_t *up = (const uintptr_t *)f[0];
        if (up <= f || (uintptr_t)up % sizeof(uintptr_t) != 0)
            return 0;
        f = up;
    }
    return 0;
}

/* A learning walk costs microseconds a frame: at most one per this many
 * samples of a thread, after a first few. */
#define LEARN_COST 16
#define LEARN_BURST 48

/* libunwind's walk, less the sampler's own frames. */
PPROFD_HEAP_HOOK static int libunwind_stack(uintptr_t *pcs, int max)
{
    int n = pprofd__unwind_here(pcs, max, 0);
    int first = 0;
    while (first < n && in_hooks(pcs[first]))
        first++;
    memmove(pcs, pcs + first, (size_t)(n - first) * sizeof pcs[0]);
    return n - first;
}

/* PPROFD_UNWIND_CHECK=1, for tests: every walk by rules is done again by
 * libunwind, and the first difference is reported on stderr. */
PPROFD_HEAP_HOOK static void check_walk(const uintptr_t *pcs, int n, int max)
{
    static _Atomic int reported;
    uintptr_t lib[PPROFD_MAX_DEPTH + 8];
    int m = libunwind_stack(lib, max < PPROFD_MAX_DEPTH + 8 ? max : PPROFD_MAX_DEPTH + 8);
    /* Stacks are kept to PPROFD_MAX_DEPTH frames: compare that much. */
    if (n > PPROFD_MAX_DEPTH)
        n = PPROFD_MAX_DEPTH;
    if (m > PPROFD_MAX_DEPTH)
        m = PPROFD_MAX_DEPTH;
    int i = 0;
    while (i < n && i < m && pcs[i] == lib[i])
        i++;
    if ((i == n && i == m) || atomic_exchange(&reported, 1))
        return;
    Dl_info a = {0}, b = {0};
    if (i < n)
        dladdr((void *)pcs[i], &a);
    if (i < m)
        dladdr((void *)lib[i], &b);
    char line[512];
    int len = snprintf(line, sizeof line,
                       "pprofd: unwind check: frame %d of %d/%d: rules %#lx (%s), libunwind %#lx "
                       "(%s)\n",
                       i, n, m, i < n ? (unsigned long)pcs[i] : 0ul,
                       a.dli_sname ? a.dli_sname : "?", i < m ? (unsigned long)lib[i] : 0ul,
                       b.dli_sname ? b.dli_sname : "?");
    if (len > 0 && write(2, line, (size_t)len) < 0)
        return;
}

/* The host's stack from its frame that called the allocator, leaf first.
 * By frame rules when every frame has one (a few instructions a frame, no
 * libunwind context to build), learning the rules when some are missing,
 * and by libunwind's own walk when a frame has none. */
PPROFD_HEAP_HOOK static int host_stack(pprofd__heap_tls *t, uintptr_t *pcs, int max)
{
    if (t->learn_debt > 0)
        t->learn_debt--;
    uintptr_t pc, sp, fp;
    if (host_frame(&pc, &sp, &fp)) {
        int unknown = 1, n = 0;
        if (sp < t->stack_hi)
            n = pprofd__unwind_by_rules(pc, sp, fp, t->stack_hi, pcs, max, &unknown);
        if (n == 0 && unknown && t->learn_debt <= LEARN_BURST) {
            t->learn_debt += LEARN_COST;
            uintptr_t hi = pprofd__unwind_learn();
            if (hi > t->stack_hi)
                t->stack_hi = hi;
            if (sp < t->stack_hi)
                n = pprofd__unwind_by_rules(pc, sp, fp, t->stack_hi, pcs, max, &unknown);
        }
        if (n > 0) {
            if (__builtin_expect(unwind_check, 0))
                check_walk(pcs, n, max);
            return n;
        }
    }
    return libunwind_stack(pcs, max);
}

/* Not async-signal-safe (the unwinder, a shard lock). Costs one walk of
 * the host's stack, one stack-table probe, the weight and one shard lock. */
PPROFD_HEAP_HOOK __attribute__((noinline)) void pprofd__heap_record_alloc(void *p, size_t size)
{
    pprofd__heap_tls *t = &pprofd__heap_tls_state;
    if (t->guard)
        return;
    /* The walk (libunwind, the learning walk), mmaps of tables: a malloc
     * that succeeded leaves the host's errno as it was. */
    int saved_errno = errno;
    t->guard++;
    if (atomic_load_explicit(&init_state, memory_order_acquire) != 2)
        pprofd__heap_init();
    pprofd__heap_live_prefetch_shard((uintptr_t)p);
    uintptr_t pcs[PPROFD_MAX_DEPTH + 8];
    int n = host_stack(t, pcs, PPROFD_MAX_DEPTH + 8);
    pprofd__heap_live_prefetch_slot((uintptr_t)p);
    int depth = n < PPROFD_MAX_DEPTH ? n : PPROFD_MAX_DEPTH;
    pprofd__stack *st = pprofd__stacktab_intern_labelled(&heap_stacks, pcs, depth,
                                                         pprofd__labels_current());
    pprofd__heap_object obj = {.ptr = (uintptr_t)p, .stack = st};
    pprofd__heap_weigh(size, pprofd__heap_rate(), &obj.weight, &obj.bytes);
    if (st && pprofd__heap_live_insert(&obj)) {
        atomic_fetch_add_explicit(&st->counters[PPROFD_HEAP_SAMPLES], 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&st->counters[PPROFD_HEAP_ALLOCS], obj.weight,
                                  memory_order_relaxed);
        atomic_fetch_add_explicit(&st->counters[PPROFD_HEAP_ALLOC_BYTES], obj.bytes,
                                  memory_order_relaxed);
    } else {
        count_drop(&obj);
    }
    t->guard--;
    errno = saved_errno;
}

void pprofd__heap_account_free(const pprofd__heap_object *obj)
{
    _Atomic int64_t *c = obj->stack->counters;
    atomic_fetch_add_explicit(&c[PPROFD_HEAP_FREED], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&c[PPROFD_HEAP_FREES], obj->weight, memory_order_relaxed);
    atomic_fetch_add_explicit(&c[PPROFD_HEAP_FREE_BYTES], obj->bytes, memory_order_relaxed);
}

void pprofd__heap_record_free(void *p)
{
    pprofd__heap_object obj;
    if (pprofd__heap_live_remove((uintptr_t)p, &obj))
        pprofd__heap_account_free(&obj);
}

bool pprofd__heap_take(void *p, pprofd__heap_object *out)
{
    return pprofd__heap_live_remove((uintptr_t)p, out);
}

void pprofd__heap_put_back(const pprofd__heap_object *obj)
{
    if (!pprofd__heap_live_insert(obj)) {
        /* No room to keep tracking it: count it freed so in-use stays
         * honest. Its allocation is already on its stack, so only the
         * sample is counted lost, not its weight (that would show it twice,
         * once more under [lost]). */
        pprofd__heap_account_free(obj);
        atomic_fetch_add_explicit(&dropped_samples, 1, memory_order_relaxed);
    }
}

pprofd__stacktab *pprofd__heap_stacks(void)
{
    if (atomic_load(&init_state) != 2) {
        pprofd__heap_tls_state.guard++;
        pprofd__heap_init();
        pprofd__heap_tls_state.guard--;
    }
    return &heap_stacks;
}

void pprofd__heap_get_stats(pprofd__heap_stats *out)
{
    memset(out, 0, sizeof *out);
    out->dropped = atomic_load(&dropped_samples);
    out->dropped_weight = atomic_load(&dropped_weight);
    out->dropped_bytes = atomic_load(&dropped_bytes);
    out->cap = pprofd__heap_memory_cap();
    if (atomic_load(&init_state) != 2)
        return;
    out->memory = pprofd__heap_memory_held();
    out->live_objects = pprofd__heap_live_objects();
}
