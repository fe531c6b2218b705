/*
 * heap_live — the table of live sampled objects. See heap.h for the
 * contract and heap_live.h for this file's part of it.
 *
 * The live table maps a sampled object's address to what it added to its
 * stack's counters (heap.h). It is split into shards, each an open-addressed
 * hash table (linear probing, deletion by backward shift, so no tombstones)
 * with its own lock, grown by doubling in mmap'd memory: inserting or
 * removing touches the shard's header line and, nearly always, one line of
 * its table. A static byte filter, one saturating counter per 256-byte
 * granule modulo 256 MiB, lets free() skip the table for the vast majority
 * of pointers, which were never sampled; a filter byte and its shard go
 * together, so each byte is written under one lock only.
 *
 * Memory: shard tables come from mmap and are charged to the heap
 * sampler's cap (pprofd__heap_memory_held) before they are mapped.
 */
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/mman.h>

#include "sampler/heap.h"
#include "sampler/heap_live.h"

#define SHARDS 64                 /* filter index & (SHARDS-1) picks the shard */
#define SHARD_MIN_SLOTS 256       /* a shard's first table: 8 KiB */

unsigned char pprofd__heap_filter[1u << PPROFD_HEAP_FILTER_BITS];

typedef pprofd__heap_object slot; /* ptr == 0: empty */

/* One cache line: the lock, and where the table is. */
typedef struct shard {
    _Atomic int lock;     /* see shard_lock */
    slot *slots;          /* 2^bits of them, mmap'd; NULL until the first insert */
    uint32_t bits;        /* under lock */
    uint32_t live;        /* under lock; read relaxed for stats */
} __attribute__((aligned(64))) shard;

static shard shards[SHARDS];
static _Atomic size_t live_memory; /* shard table bytes mapped */

/* A shard lock is held for a table probe, rarely for a table's growth (an
 * mmap): a test-and-set spinlock, inline, is a third of a mutex's cost
 * here (two calls into libc per sample). A holder preempted by the kernel
 * is waited for with sched_yield, not spun on. */
static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

static void shard_lock(shard *s)
{
    for (int spins = 0; atomic_exchange_explicit(&s->lock, 1, memory_order_acquire);) {
        while (atomic_load_explicit(&s->lock, memory_order_relaxed)) {
            if (++spins < 64)
                cpu_relax();
            else
                sched_yield();
        }
    }
}

static void shard_unlock(shard *s)
{
    atomic_store_explicit(&s->lock, 0, memory_order_release);
}

void pprofd__heap_live_lock_all(void)
{
    for (int i = 0; i < SHARDS; i++)
        shard_lock(&shards[i]);
}

void pprofd__heap_live_unlock_all(void)
{
    for (int i = SHARDS - 1; i >= 0; i--)
        shard_unlock(&shards[i]);
}

static shard *shard_for(size_t filter_index)
{
    return &shards[filter_index & (SHARDS - 1)];
}

/* Home slot of p in a table of 2^bits: a multiplicative hash of the address
 * (its low 4 bits are always zero for malloc'd memory). */
static size_t home_of(uintptr_t p, uint32_t bits)
{
    return (size_t)(((uint64_t)(p >> 4) * 0x9e3779b97f4a7c15ull) >> (64 - bits));
}

static void table_put(slot *slots, uint32_t bits, const pprofd__heap_object *obj)
{
    size_t mask = ((size_t)1 << bits) - 1;
    size_t i = home_of(obj->ptr, bits);
    while (slots[i].ptr)
        i = (i + 1) & mask;
    slots[i] = *obj;
}

/* Called with s->lock held: room for one more object, the table kept at
 * most 3/4 full. A bigger table is charged to the cap before it is mapped;
 * two shards racing may overshoot it by one table each. When the cap
 * refuses, the table may still fill to 7/8 (probes get longer, nothing
 * breaks) before samples are dropped. */
static bool make_room(shard *s)
{
    size_t cap = s->slots ? (size_t)1 << s->bits : 0;
    if ((size_t)s->live + 1 <= cap / 4 * 3)
        return true;
    uint32_t bits = s->slots ? s->bits + 1 : 0;
    while (((size_t)1 << bits) < SHARD_MIN_SLOTS)
        bits++;
    size_t bytes = ((size_t)1 << bits) * sizeof(slot);
    size_t held = pprofd__heap_memory_held();
    slot *grown = MAP_FAILED;
    if (held + bytes <= pprofd__heap_memory_cap())
        grown = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (grown == MAP_FAILED)
        return (size_t)s->live + 1 <= cap / 8 * 7;
    size_t old_bytes = cap * sizeof(slot);
    for (size_t i = 0; i < cap; i++)
        if (s->slots[i].ptr)
            table_put(grown, bits, &s->slots[i]);
    if (s->slots)
        munmap(s->slots, old_bytes);
    /* Atomic stores only for prefetch_slot's unlocked peek. */
    __atomic_store_n(&s->slots, grown, __ATOMIC_RELAXED);
    __atomic_store_n(&s->bits, bits, __ATOMIC_RELAXED);
    atomic_fetch_add_explicit(&live_memory, bytes - old_bytes, memory_order_relaxed);
    pprofd__heap_memory_changed();
    return true;
}

/* Hints for a coming insert of p. Between two samples the host's own work
 * evicts the sampler's lines, and each was a miss: the shard's line in the
 * lock, then its table's line. Asking for the shard's line before the
 * unwind and the slot's line after it lets both arrive while other work
 * runs. The unlocked peek at the table may see it mid-growth: a prefetch of
 * a stale or wrong address is harmless, it never faults. */
void pprofd__heap_live_prefetch_shard(uintptr_t p)
{
    __builtin_prefetch(shard_for(pprofd__heap_filter_index((void *)p)), 1);
}

void pprofd__heap_live_prefetch_slot(uintptr_t p)
{
    shard *s = shard_for(pprofd__heap_filter_index((void *)p));
    slot *slots = __atomic_load_n(&s->slots, __ATOMIC_RELAXED);
    uint32_t bits = __atomic_load_n(&s->bits, __ATOMIC_RELAXED);
    if (slots && bits)
        __builtin_prefetch(&slots[home_of(p, bits)], 1);
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
bool pprofd__heap_live_insert(const pprofd__heap_object *obj)
{
    size_t fi = pprofd__heap_filter_index((void *)obj->ptr);
    shard *s = shard_for(fi);
    shard_lock(s);
    bool ok = make_room(s);
    if (ok) {
        table_put(s->slots, s->bits, obj);
        __atomic_store_n(&s->live, s->live + 1, __ATOMIC_RELAXED);
        filter_add(fi);
    }
    shard_unlock(s);
    return ok;
}

bool pprofd__heap_live_remove(uintptr_t p, pprofd__heap_object *out)
{
    size_t fi = pprofd__heap_filter_index((void *)p);
    shard *s = shard_for(fi);
    bool found = false;
    shard_lock(s);
    if (s->slots) {
        size_t mask = ((size_t)1 << s->bits) - 1;
        size_t i = home_of(p, s->bits);
        for (; s->slots[i].ptr; i = (i + 1) & mask)
            if (s->slots[i].ptr == p) {
                found = true;
                break;
            }
        if (found) {
            *out = s->slots[i];
            /* Backward shift: pull later entries of the run into the hole
             * unless their home lies cyclically in (hole, j]. */
            for (size_t j = (i + 1) & mask; s->slots[j].ptr; j = (j + 1) & mask) {
                size_t home = home_of(s->slots[j].ptr, s->bits);
                if (((j - home) & mask) >= ((j - i) & mask)) {
                    s->slots[i] = s->slots[j];
                    i = j;
                }
            }
            s->slots[i].ptr = 0;
            __atomic_store_n(&s->live, s->live - 1, __ATOMIC_RELAXED);
            filter_remove(fi);
        }
    }
    shard_unlock(s);
    return found;
}

size_t pprofd__heap_live_memory(void)
{
    return atomic_load_explicit(&live_memory, memory_order_relaxed);
}

size_t pprofd__heap_live_objects(void)
{
    size_t n = 0;
    for (int i = 0; i < SHARDS; i++)
        n += __atomic_load_n(&shards[i].live, __ATOMIC_RELAXED);
    return n;
}
