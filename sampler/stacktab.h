/*
 * stacktab — a lock-free table that interns stacks and keeps counters per
 * stack.
 *
 * Memory is reserved with mmap at init and never freed; nothing here calls
 * malloc, takes a lock or makes a system call after init, so
 * pprofd__stacktab_intern() and the counters are async-signal-safe. Entries
 * are never removed: a stack, once seen, stays (as Go's profile buckets do).
 * When the table or its arena is full the sample is dropped and counted in
 * `dropped`, never waited for.
 *
 * Readers (the server) walk the table with pprofd__stacktab_foreach while
 * writers insert; an entry is published with a release store after it is
 * complete, so a reader sees either nothing or a whole entry.
 */
#ifndef PPROFD_STACKTAB_H
#define PPROFD_STACKTAB_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define PPROFD_STACK_COUNTERS 6

/* Entries start on a cache line: the header and the counters fill the
 * first, so a sample that finds its stack and counts touches that line and
 * the pcs it compares. */
typedef struct pprofd__stack {
    uint64_t hash;
    uint32_t depth;
    uint32_t reserved;
    /* Meaning set by the table's owner; updated with relaxed atomics. */
    _Atomic int64_t counters[PPROFD_STACK_COUNTERS];
    uintptr_t pcs[]; /* leaf first, call sites (see unwind.h) */
} pprofd__stack;

typedef struct pprofd__stacktab {
    size_t nslots; /* power of two, fixed at init */
    _Atomic(pprofd__stack *) *slots;
    char *arena; /* bump-allocated entries */
    size_t arena_size;
    _Atomic size_t arena_used;
    /* Bytes of arena entries may use, <= arena_size; lowered by the owner to
     * enforce a memory cap. Entries past it are dropped. */
    _Atomic size_t arena_limit;
    _Atomic size_t count;     /* entries inserted */
    _Atomic uint64_t dropped; /* interns refused because full */
} pprofd__stacktab;

/* Reserve room for about `nslots` stacks and `arena_bytes` of entries.
 * Returns 0 or -errno. Pages are touched only as entries are added. */
int pprofd__stacktab_init(pprofd__stacktab *tab, size_t nslots, size_t arena_bytes);

/* Find or insert (pcs, depth). Returns NULL, and counts a drop, when the
 * table is full. Async-signal-safe, lock-free. */
pprofd__stack *pprofd__stacktab_intern(pprofd__stacktab *tab, const uintptr_t *pcs,
                                       int depth);

/* Call fn for every entry present when the walk reaches its slot. O(nslots). */
void pprofd__stacktab_foreach(pprofd__stacktab *tab,
                              void (*fn)(pprofd__stack *stack, void *arg), void *arg);

/* Allow entries to use at most `bytes` of the arena (clamped to its size). */
void pprofd__stacktab_set_limit(pprofd__stacktab *tab, size_t bytes);

/* Bytes of arena in use plus the slot array, for reporting. */
size_t pprofd__stacktab_memory(const pprofd__stacktab *tab);

#endif
