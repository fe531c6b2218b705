/*
 * heap — Poisson sampling of allocations and the table of live sampled
 * objects.
 *
 * Runs inside the host's malloc and free: nothing here calls malloc. The
 * fast paths (pprofd__heap_should_sample, pprofd__heap_maybe_tracked) are
 * inline, touch only initial-exec TLS or one byte of a static filter, and
 * take no lock. The slow paths take one of PPROFD_HEAP_SHARDS mutexes, never
 * two at once, and never while calling out (the stack is captured before any
 * lock is taken, so the loader's lock, taken by the unwinder, always comes
 * first). pthread_atfork holds every shard lock across fork().
 *
 * Counters per stack (key = object size, as Go keys its buckets):
 *   counters[0] allocs, [1] alloc bytes, [2] frees, [3] free bytes.
 * All counts are raw sampled numbers; the server unsamples them.
 */
#ifndef PPROFD_HEAP_H
#define PPROFD_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sampler/stacktab.h"

enum { PPROFD_HEAP_ALLOCS, PPROFD_HEAP_ALLOC_BYTES, PPROFD_HEAP_FREES, PPROFD_HEAP_FREE_BYTES };

typedef struct pprofd__heap_tls {
    int64_t countdown; /* bytes left before the next sample */
    uint64_t rng;      /* xorshift state; 0 until the thread's first slow path */
    int guard;         /* >0 while inside the sampler: no sampling */
} pprofd__heap_tls;

extern __thread pprofd__heap_tls pprofd__heap_tls_state
    __attribute__((tls_model("initial-exec")));

/* One byte per address bucket: nonzero when a sampled live object may hash
 * there. Written under the owning shard's lock; read without one. */
#define PPROFD_HEAP_FILTER_BITS 20
extern unsigned char pprofd__heap_filter[1u << PPROFD_HEAP_FILTER_BITS];

static inline size_t pprofd__heap_filter_index(const void *p)
{
    uint64_t h = ((uint64_t)(uintptr_t)p >> 4) * 0x9e3779b97f4a7c15ull;
    return (size_t)(h >> (64 - PPROFD_HEAP_FILTER_BITS));
}

bool pprofd__heap_countdown_expired(pprofd__heap_tls *t, size_t size);

/* Fast path of every allocation: one TLS subtraction and a predictable
 * branch. True when this allocation is to be sampled. */
static inline bool pprofd__heap_should_sample(size_t size)
{
    pprofd__heap_tls *t = &pprofd__heap_tls_state;
    t->countdown -= (int64_t)size;
    if (__builtin_expect(t->countdown > 0, 1))
        return false;
    return pprofd__heap_countdown_expired(t, size);
}

/* Fast path of every free: one byte load. False means certainly not
 * sampled. */
static inline bool pprofd__heap_maybe_tracked(const void *p)
{
    return __atomic_load_n(&pprofd__heap_filter[pprofd__heap_filter_index(p)],
                           __ATOMIC_RELAXED) != 0;
}

/* A sampled live object, as the table keeps it. */
typedef struct pprofd__heap_object {
    uintptr_t ptr;
    size_t size;
    pprofd__stack *stack;
} pprofd__heap_object;

/* Record a sampled allocation of `size` bytes at p. `skip` frames of
 * interposer sit between the host's caller and this call. */
void pprofd__heap_record_alloc(void *p, size_t size, int skip);

/* Remove p from the live table if it is there; account it as freed. */
void pprofd__heap_record_free(void *p);

/* For realloc: remove p from the table without accounting, so it can be
 * put back if realloc fails. True if p was tracked. */
bool pprofd__heap_take(void *p, pprofd__heap_object *out);
void pprofd__heap_put_back(const pprofd__heap_object *obj);
void pprofd__heap_account_free(const pprofd__heap_object *obj);

/* Mean bytes between samples; 0 = off. Set from $PPROFD_MEM_RATE at the
 * first allocation, or by pprofd__heap_set_rate(). */
long pprofd__heap_rate(void);
void pprofd__heap_set_rate(long rate);

/* The table of sampled stacks, for the server. */
pprofd__stacktab *pprofd__heap_stacks(void);

typedef struct pprofd__heap_stats {
    uint64_t dropped;       /* samples lost because a table was full */
    size_t memory;          /* bytes the sampler holds */
    size_t live_objects;    /* sampled objects now tracked */
} pprofd__heap_stats;
void pprofd__heap_get_stats(pprofd__heap_stats *out);

/* Initialise tables; idempotent, called by the first slow path. */
void pprofd__heap_init(void);

#endif
