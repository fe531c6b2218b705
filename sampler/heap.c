/*
 * heap — see heap.h for the contract and the lock order.
 *
 * Sampling is a Poisson process over allocated bytes (as gperftools'
 * sampler.h and Go's mallocgc): each thread counts down a distance drawn
 * from an exponential distribution with mean `rate`; the allocation that
 * crosses zero is sampled, so an object of size s is sampled with
 * probability 1 - exp(-s/rate), which the server undoes.
 *
 * The live table maps a sampled object's address to its size and stack. It
 * is split into shards, each a chained hash with its own mutex, its nodes
 * (32 bytes each) from 64 KiB mmap'd slabs. A static byte filter, one
 * saturating counter per 256-byte granule modulo 256 MiB, lets free() skip
 * the table for the vast majority of pointers, which were never sampled; a
 * filter byte and its shard go together, so each byte is written under one
 * lock only.
 *
 * Costs (callgrind, load/callgrind-malloc.sh): the fast paths add 7
 * instructions to malloc and 8 to free. A sample costs an unwind, a
 * stack-table probe and a shard lock: about 1.4k instructions, a fraction
 * of a microsecond, once per 512 KiB allocated at the default rate. Memory:
 * 4 MiB of fixed tables, then slabs and stack entries as needed, all
 * within the cap.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "sampler/heap.h"
#include "sampler/unwind.h"

__thread pprofd__heap_tls pprofd__heap_tls_state __attribute__((tls_model("initial-exec")));
unsigned char pprofd__heap_filter[1u << PPROFD_HEAP_FILTER_BITS];

#define DEFAULT_RATE 524288
#define SHARDS 64                 /* filter index & (SHARDS-1) picks the shard */
#define BUCKETS_PER_SHARD 4096    /* 256 Ki chains in all: short up to ~1M live samples */
#define SLAB_BYTES (64 * 1024)    /* live-table nodes are mapped this much at a time */
#define STACK_SLOTS (1u << 17)
#define STACK_ARENA (64u << 20)   /* reserved; the memory cap decides how much is used */

/* Tables mapped at init whatever the load: they count against the cap. */
#define FIXED_BYTES                                                                 \
    (sizeof pprofd__heap_filter + (size_t)SHARDS * BUCKETS_PER_SHARD * sizeof(void *) + \
     (size_t)STACK_SLOTS * sizeof(void *))

typedef struct node {
    pprofd__heap_object obj;
    struct node *next;
} node;

typedef struct shard {
    pthread_mutex_t lock;
    node **buckets;       /* mmap'd at init; chains under lock */
    node *free_nodes;     /* nodes given back; under lock */
    char *slab_next;      /* never-used nodes of the newest slab; under lock */
    char *slab_end;
    size_t live;          /* under lock; read relaxed for stats */
} shard;

static shard shards[SHARDS];
static pprofd__stacktab heap_stacks;
static _Atomic long rate = -1;              /* -1: not read from env yet */
static _Atomic size_t memory_cap;           /* 0: not read from env yet */
static _Atomic int init_state;              /* 0 none, 1 running, 2 done */
static _Atomic size_t live_memory;          /* slab bytes mapped */
static _Atomic uint64_t dropped_samples;    /* samples lost: cap or full table */
static _Atomic uint64_t dropped_bytes;      /* their sampled sizes */

/* Start and end of the PPROFD_HEAP_HOOK section, from the linker. */
extern const char __start_pprofd_hooks[] __attribute__((visibility("hidden")));
extern const char __stop_pprofd_hooks[] __attribute__((visibility("hidden")));

extern char **__environ;

/* getenv without locks or allocation: safe at the first malloc. */
static const char *raw_getenv(const char *name)
{
    size_t len = strlen(name);
    for (char **e = __environ; e && *e; e++)
        if (strncmp(*e, name, len) == 0 && (*e)[len] == '=')
            return *e + len + 1;
    return NULL;
}

/* A non-negative decimal from the environment, or dflt when unset or bad.
 * strtol neither allocates nor locks. */
static long env_number(const char *name, long dflt)
{
    const char *s = raw_getenv(name);
    if (!s || !*s)
        return dflt;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < 0)
        return dflt;
    return v;
}

long pprofd__heap_rate(void)
{
    long r = atomic_load_explicit(&rate, memory_order_relaxed);
    if (r < 0) {
        r = env_number("PPROFD_MEM_RATE", DEFAULT_RATE);
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
        long v = env_number("PPROFD_MEM_CAP", 0);
        c = v > 0 ? (size_t)v : PPROFD_HEAP_DEFAULT_CAP;
        size_t expected = 0;
        if (!atomic_compare_exchange_strong(&memory_cap, &expected, c))
            c = expected;
    }
    return c;
}

/* What the stack arena may still take: the cap less everything else. */
static void update_stack_limit(void)
{
    size_t cap = pprofd__heap_memory_cap();
    size_t other = FIXED_BYTES + atomic_load_explicit(&live_memory, memory_order_relaxed);
    pprofd__stacktab_set_limit(&heap_stacks, cap > other ? cap - other : 0);
}

void pprofd__heap_set_memory_cap(size_t bytes)
{
    atomic_store(&memory_cap, bytes ? bytes : PPROFD_HEAP_DEFAULT_CAP);
    if (atomic_load(&init_state) == 2)
        update_stack_limit();
}

static void atfork_prepare(void)
{
    for (int i = 0; i < SHARDS; i++)
        pthread_mutex_lock(&shards[i].lock);
}

static void atfork_release(void)
{
    for (int i = SHARDS - 1; i >= 0; i--)
        pthread_mutex_unlock(&shards[i].lock);
}

/* Called with this thread's guard raised: pthread_atfork allocates. */
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
    for (int i = 0; i < SHARDS; i++) {
        pthread_mutex_init(&shards[i].lock, NULL);
        void *b = mmap(NULL, BUCKETS_PER_SHARD * sizeof(node *), PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        shards[i].buckets = b == MAP_FAILED ? NULL : b;
    }
    update_stack_limit();
    pthread_atfork(atfork_prepare, atfork_release, atfork_release);
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
        t->guard++;
        pprofd__heap_init();
        t->guard--;
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
        pprofd__heap_record_alloc(p, size, 0);
    return p;
}

static shard *shard_for(size_t filter_index)
{
    return &shards[filter_index & (SHARDS - 1)];
}

/* Within a shard (chosen by the low 6 bits of the filter granule), the
 * next bits: as with the filter, neighbouring objects share bucket pages,
 * so a program touches as few pages of the bucket arrays as it has heap
 * (page faults are what a first sample costs most on a VM). */
static size_t bucket_for(uintptr_t p)
{
    return (size_t)(p >> (PPROFD_HEAP_GRANULE_SHIFT + 6)) & (BUCKETS_PER_SHARD - 1);
}

/* Called with s->lock held. A new slab is charged to the cap before it is
 * mapped; two shards racing may overshoot it by one slab each, no more.
 * Slabs are never unmapped: a shard keeps its free nodes for later. Nodes
 * are carved from the slab one at a time, so its pages are touched only as
 * they are needed (threading a free list through it would fault in every
 * page of every shard's first slab at the first sample: ~1000 faults). */
static node *node_alloc(shard *s)
{
    if (s->free_nodes) {
        node *n = s->free_nodes;
        s->free_nodes = n->next;
        return n;
    }
    if ((size_t)(s->slab_end - s->slab_next) < sizeof(node)) {
        size_t held = FIXED_BYTES + atomic_load_explicit(&live_memory, memory_order_relaxed) +
                      atomic_load_explicit(&heap_stacks.arena_used, memory_order_relaxed);
        if (held + SLAB_BYTES > pprofd__heap_memory_cap())
            return NULL;
        char *slab = mmap(NULL, SLAB_BYTES, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (slab == MAP_FAILED)
            return NULL;
        atomic_fetch_add_explicit(&live_memory, SLAB_BYTES, memory_order_relaxed);
        update_stack_limit();
        s->slab_next = slab;
        s->slab_end = slab + SLAB_BYTES;
    }
    node *n = (node *)s->slab_next;
    s->slab_next += sizeof(node);
    return n;
}

static void filter_add(size_t fi)
{
    unsigned char v = pprofd__heap_filter[fi];
    if (v != 255) /* saturated counters stay set: a false positive, never a miss */
        __atomic_store_n(&pprofd__heap_filter[fi], (unsigned char)(v + 1), __ATOMIC_RELAXED);
}

static void filter_remove(size_t fi)
{
    unsigned char v = pprofd__heap_filter[fi];
    if (v != 255 && v != 0)
        __atomic_store_n(&pprofd__heap_filter[fi], (unsigned char)(v - 1), __ATOMIC_RELAXED);
}

/* Insert; false when there is no room (the caller drops the sample). */
static bool live_insert(const pprofd__heap_object *obj)
{
    size_t fi = pprofd__heap_filter_index((void *)obj->ptr);
    shard *s = shard_for(fi);
    if (!s->buckets)
        return false;
    pthread_mutex_lock(&s->lock);
    node *n = node_alloc(s);
    if (n) {
        n->obj = *obj;
        size_t b = bucket_for(obj->ptr);
        n->next = s->buckets[b];
        s->buckets[b] = n;
        __atomic_store_n(&s->live, s->live + 1, __ATOMIC_RELAXED);
        filter_add(fi);
    }
    pthread_mutex_unlock(&s->lock);
    return n != NULL;
}

static bool live_remove(uintptr_t p, pprofd__heap_object *out)
{
    size_t fi = pprofd__heap_filter_index((void *)p);
    shard *s = shard_for(fi);
    if (!s->buckets)
        return false;
    bool found = false;
    pthread_mutex_lock(&s->lock);
    for (node **pp = &s->buckets[bucket_for(p)]; *pp; pp = &(*pp)->next) {
        node *n = *pp;
        if (n->obj.ptr == p) {
            *out = n->obj;
            *pp = n->next;
            n->next = s->free_nodes;
            s->free_nodes = n;
            __atomic_store_n(&s->live, s->live - 1, __ATOMIC_RELAXED);
            filter_remove(fi);
            found = true;
            break;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return found;
}

static void count_drop(size_t size)
{
    atomic_fetch_add_explicit(&dropped_samples, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&dropped_bytes, size, memory_order_relaxed);
}

static bool in_hooks(uintptr_t pc)
{
    return pc >= (uintptr_t)__start_pprofd_hooks && pc < (uintptr_t)__stop_pprofd_hooks;
}

/* Not async-signal-safe (the unwinder, a shard lock). Costs one unwind
 * (libunwind's cached fast trace: a few hundred ns for a short stack), one
 * stack-table probe and one shard lock. */
PPROFD_HEAP_HOOK __attribute__((noinline)) void pprofd__heap_record_alloc(void *p, size_t size,
                                                                          int skip)
{
    pprofd__heap_tls *t = &pprofd__heap_tls_state;
    if (t->guard)
        return;
    t->guard++;
    if (atomic_load_explicit(&init_state, memory_order_acquire) != 2)
        pprofd__heap_init();
    uintptr_t pcs[PPROFD_MAX_DEPTH + 8];
    int n = pprofd__unwind_here(pcs, PPROFD_MAX_DEPTH + 8, 0);
    /* Drop the sampler's own frames, however many the compiler left. */
    int first = 0;
    while (first < n && in_hooks(pcs[first]))
        first++;
    first += skip;
    int depth = n - first;
    if (depth < 0)
        depth = 0;
    if (depth > PPROFD_MAX_DEPTH)
        depth = PPROFD_MAX_DEPTH;
    pprofd__stack *st = pprofd__stacktab_intern(&heap_stacks, pcs + first, depth, size);
    pprofd__heap_object obj = {.ptr = (uintptr_t)p, .size = size, .stack = st};
    if (st && live_insert(&obj)) {
        atomic_fetch_add_explicit(&st->counters[PPROFD_HEAP_ALLOCS], 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&st->counters[PPROFD_HEAP_ALLOC_BYTES], (int64_t)size,
                                  memory_order_relaxed);
    } else {
        count_drop(size);
    }
    t->guard--;
}

void pprofd__heap_account_free(const pprofd__heap_object *obj)
{
    atomic_fetch_add_explicit(&obj->stack->counters[PPROFD_HEAP_FREES], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&obj->stack->counters[PPROFD_HEAP_FREE_BYTES], (int64_t)obj->size,
                              memory_order_relaxed);
}

void pprofd__heap_record_free(void *p)
{
    pprofd__heap_object obj;
    if (live_remove((uintptr_t)p, &obj))
        pprofd__heap_account_free(&obj);
}

bool pprofd__heap_take(void *p, pprofd__heap_object *out)
{
    return live_remove((uintptr_t)p, out);
}

void pprofd__heap_put_back(const pprofd__heap_object *obj)
{
    if (!live_insert(obj)) {
        /* No room to keep tracking it: count it freed so in-use stays honest. */
        pprofd__heap_account_free(obj);
        count_drop(obj->size);
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
    out->dropped_bytes = atomic_load(&dropped_bytes);
    out->cap = pprofd__heap_memory_cap();
    if (atomic_load(&init_state) != 2)
        return;
    out->memory = FIXED_BYTES + atomic_load(&live_memory) + atomic_load(&heap_stacks.arena_used);
    for (int i = 0; i < SHARDS; i++)
        out->live_objects += __atomic_load_n(&shards[i].live, __ATOMIC_RELAXED);
}
