/*
 * heap — Poisson sampling of allocations and the table of live sampled
 * objects.
 *
 * Runs inside the host's malloc and free: nothing here calls malloc. The
 * fast paths (pprofd__heap_countdown_take, pprofd__heap_maybe_tracked) are
 * inline, touch only initial-exec TLS or one byte of a static filter, take
 * no lock and are async-signal-safe. The slow paths
 * (pprofd__heap_sample_slow, pprofd__heap_record_*) are re-entrant per
 * thread through a TLS guard (the sampler's own allocations, and any made by
 * the unwinder, are never sampled) but not async-signal-safe: they take one
 * of PPROFD_HEAP_SHARDS mutexes.
 *
 * Lock order: the loader's lock (taken by the unwinder, inside
 * dl_iterate_phdr) comes before any shard lock: the stack is captured before
 * a shard lock is taken, and no shard lock is held while calling out. Shard
 * locks are never nested, except by the fork prepare step (fork.h),
 * which takes all of them in index order and releases them in reverse in
 * the parent and the child, so the child's tables are consistent.
 *
 * Unsampling happens when a sample is taken, not when a profile is read: an
 * object of size s, sampled with probability p = 1 - exp(-s/rate), stands
 * for 1/p objects and s/p bytes. Its weight goes into its stack's counters
 * and stays with it in the live table, so its free takes off exactly what
 * its allocation put on, whatever the rate is by then. Stacks are therefore
 * keyed by the call stack alone (Go keys them by stack and size, and
 * unsamples each bucket from its size): one entry per call site, which stays
 * in cache, and an estimate that is exact in expectation for any mix of
 * sizes under one stack.
 *
 * Counters per stack, see enum below: raw sample counts (for tests and
 * sanity), and the estimates the profiles show. Weights are fixed point,
 * PPROFD_HEAP_WEIGHT_ONE per object.
 *
 * Memory: everything the sampler holds comes from mmap and is bounded by a
 * cap (pprofd__heap_set_memory_cap, $PPROFD_MEM_CAP). Past the cap, samples
 * are dropped and counted (count and sampled bytes), never waited for.
 *
 * The whole picture (contexts, lock order, fork): docs/design.md.
 */
#ifndef PPROFD_HEAP_H
#define PPROFD_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sampler/stacktab.h"

enum {
    PPROFD_HEAP_SAMPLES,      /* sampled allocations, raw */
    PPROFD_HEAP_FREED,        /* of those, freed */
    PPROFD_HEAP_ALLOCS,       /* estimated objects allocated, x PPROFD_HEAP_WEIGHT_ONE */
    PPROFD_HEAP_ALLOC_BYTES,  /* estimated bytes allocated */
    PPROFD_HEAP_FREES,        /* estimated objects freed, x PPROFD_HEAP_WEIGHT_ONE */
    PPROFD_HEAP_FREE_BYTES,   /* estimated bytes freed */
    PPROFD_HEAP_COUNTERS
};
#define PPROFD_HEAP_WEIGHT_ONE ((int64_t)1 << 16)

/* A weight (or a difference of weights) as a whole number of objects,
 * rounded to the nearest. */
static inline int64_t pprofd__heap_objects(int64_t weight)
{
    return (weight + (weight < 0 ? -1 : 1) * PPROFD_HEAP_WEIGHT_ONE / 2) / PPROFD_HEAP_WEIGHT_ONE;
}

typedef struct pprofd__heap_tls {
    int64_t countdown;  /* bytes left before the next sample */
    uint64_t rng;       /* xorshift state; 0 until the thread's first slow path */
    int guard;          /* >0 while inside the sampler: no sampling */
    int learn_debt;     /* paces libunwind learning walks (heap.c) */
    uintptr_t stack_hi; /* top of this thread's stack as learning walks saw it */
} pprofd__heap_tls;

/* initial-exec: one %fs-relative access, no __tls_get_addr call. The
 * library must therefore be loaded at start-up (linked or LD_PRELOAD), not
 * dlopen'd late, which the interposer needs anyway. */
extern __thread pprofd__heap_tls pprofd__heap_tls_state
    __attribute__((tls_model("initial-exec")));

/* One byte per address bucket: nonzero when a sampled live object may hash
 * there. Written under the owning shard's lock; read without one. */
#define PPROFD_HEAP_FILTER_BITS 20
extern unsigned char pprofd__heap_filter[1u << PPROFD_HEAP_FILTER_BITS];

/* The address's 256-byte granule, modulo 256 MiB: not a hash, on purpose.
 * Neighbouring objects share filter cache lines, so a program's working set
 * of addresses touches a filter working set 1/256 its size, which stays in
 * L1 (a multiplicative hash spread them over the whole megabyte: an L2 miss
 * on most frees, measured as +15% CPU on bench-malloc; 16-byte granules
 * still cost 3% of its cycles in free). Objects sharing a granule share a
 * counter; addresses 256 MiB apart share one too. Either way a false
 * positive costs one locked table probe, never a wrong answer; at the
 * default rate about one free in two thousand. */
#define PPROFD_HEAP_GRANULE_SHIFT 8
static inline size_t pprofd__heap_filter_index(const void *p)
{
    return (size_t)((uintptr_t)p >> PPROFD_HEAP_GRANULE_SHIFT) &
           ((1u << PPROFD_HEAP_FILTER_BITS) - 1);
}

/* Fast path of every allocation: one TLS subtraction and a predictable
 * branch. True while the countdown has not run out, i.e. almost always:
 * the allocation is not sampled. False: call pprofd__heap_sample_slow.
 * Async-signal-safe. */
static inline bool pprofd__heap_countdown_take(size_t size)
{
    pprofd__heap_tls *t = &pprofd__heap_tls_state;
    t->countdown -= (int64_t)size;
    return __builtin_expect(t->countdown > 0, 1);
}

/* Fast path of every free: one byte load. False means certainly not
 * sampled. Async-signal-safe. */
static inline bool pprofd__heap_maybe_tracked(const void *p)
{
    return __atomic_load_n(&pprofd__heap_filter[pprofd__heap_filter_index(p)],
                           __ATOMIC_RELAXED) != 0;
}

/* Functions placed in this section are the sampler's own frames: the stack
 * recorded for an allocation starts at the first frame outside it, however
 * the compiler inlined or tail-called the interposer. */
#define PPROFD_HEAP_HOOK __attribute__((section("pprofd_hooks")))

/* The countdown of this thread ran out at an allocation of `size` bytes that
 * returned p (NULL: failed, nothing recorded): draw the next distance and,
 * unless the sampler is off, re-entered or just starting this thread,
 * record p. Returns p, so an entry point can end in a tail call. */
void *pprofd__heap_sample_slow(void *p, size_t size);

/* A sampled live object, as the table keeps it: what it added to its
 * stack's counters, to be taken off again when it is freed. */
typedef struct pprofd__heap_object {
    uintptr_t ptr;
    pprofd__stack *stack;
    int64_t weight; /* objects it stands for, x PPROFD_HEAP_WEIGHT_ONE */
    int64_t bytes;  /* bytes it stands for */
} pprofd__heap_object;

/* The weight of an object of `size` bytes sampled at `rate`: 1/p objects and
 * size/p bytes, p = 1 - exp(-size/rate). Exact (1, size) at rate <= 1. */
void pprofd__heap_weigh(size_t size, long rate, int64_t *weight, int64_t *bytes);

/* Whether the program's malloc is pprofd's interposer (sampler/interpose/
 * malloc.c; weak: builds without the interposer have none, and the caller
 * must check that it exists). 0 when libpprofd was loaded with dlopen. */
int pprofd__malloc_is_the_programs(void) __attribute__((weak));

/* What the index and heap profiles say when it is not, or NULL. */
static inline const char *pprofd__heap_not_sampled_why(void)
{
    if (pprofd__malloc_is_the_programs && !pprofd__malloc_is_the_programs())
        return "pprofd: the program's malloc is not pprofd's (libpprofd was loaded with dlopen, "
               "not LD_PRELOAD or linking): no allocation is sampled and heap profiles are empty";
    return NULL;
}

/* Record a sampled allocation of `size` bytes at p. The stack starts at
 * the first frame outside PPROFD_HEAP_HOOK functions. */
void pprofd__heap_record_alloc(void *p, size_t size);

/* Remove p from the live table if it is there; account it as freed. */
void pprofd__heap_record_free(void *p);

/* For realloc: remove p from the table without accounting, so it can be
 * put back if realloc fails. True if p was tracked. */
bool pprofd__heap_take(void *p, pprofd__heap_object *out);
void pprofd__heap_put_back(const pprofd__heap_object *obj);
void pprofd__heap_account_free(const pprofd__heap_object *obj);

/* Mean bytes between samples; 0 = off. Set from $PPROFD_MEM_RATE at the
 * first allocation, or by pprofd__heap_set_rate(). A new rate reaches each
 * thread at its next slow path (the calling thread's at once). */
long pprofd__heap_rate(void);
void pprofd__heap_set_rate(long rate);

/* Cap on the sampler's own memory in bytes: $PPROFD_MEM_CAP, else
 * PPROFD_HEAP_DEFAULT_CAP. 0 restores the default. The fixed tables (about
 * 1.5 MiB) always count against it. Lowering it below what is held drops new
 * samples; nothing held is released. */
#define PPROFD_HEAP_DEFAULT_CAP ((size_t)64 << 20)
size_t pprofd__heap_memory_cap(void);
void pprofd__heap_set_memory_cap(size_t bytes);

/* The table of sampled stacks, for the server. */
pprofd__stacktab *pprofd__heap_stacks(void);

typedef struct pprofd__heap_stats {
    uint64_t dropped;        /* samples lost (memory cap, table full) */
    int64_t dropped_weight;  /* the objects they stood for, x PPROFD_HEAP_WEIGHT_ONE */
    int64_t dropped_bytes;   /* the bytes they stood for */
    size_t memory;          /* bytes the sampler holds */
    size_t cap;             /* its cap */
    size_t live_objects;    /* sampled objects now tracked */
} pprofd__heap_stats;
void pprofd__heap_get_stats(pprofd__heap_stats *out);

/* Initialise tables; idempotent, called by the first slow path. */
void pprofd__heap_init(void);

/* The sampler's part of fork (sampler/fork.h): no libunwind walk in flight
 * and every shard lock held across it; released alike in parent and child. */
void pprofd__heap_fork_prepare(void);
void pprofd__heap_fork_release(void);

#endif
