/*
 * stacktab — a lock-free table that interns stacks and keeps counters per
 * stack.
 *
 * Memory is reserved with mmap at init and never freed; the table itself
 * calls no malloc, takes no lock and makes no system call after init, so
 * pprofd__stacktab_intern() and the counters are async-signal-safe (the
 * snapshots below are not: they allocate). Entries
 * are never removed: a stack, once seen, stays (as Go's profile buckets do).
 * When the table or its arena is full the sample is dropped and counted in
 * `dropped`, never waited for.
 *
 * Readers (the server) walk the table with pprofd__stacktab_foreach while
 * writers insert; an entry is published with a release store after it is
 * complete, so a reader sees either nothing or a whole entry.
 *
 * Deltas: every `seconds=` answer and every CPU profile window is the
 * difference of two snapshots (pprofd__stacktab_snapshot, then
 * pprofd__stack_snapshot_subtract). A snapshot is a sorted array of
 * records, one per key; a key is a stack plus, where the owner needs it, a
 * tag and a name (the thread profile's thread name, say), so snapshots of
 * things that are not in a table (a thread dump) subtract the same way.
 * Snapshots allocate: server threads only, O(N log N).
 *
 * The whole picture (contexts, lock order, fork): docs/design.md.
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
    uint32_t labels; /* the label set counted under (sampler/labels.h); 0: none */
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

/* The same, for a stack counted under a label set: (pcs, depth, labels) is
 * the key, so one stack under two label sets is two entries. */
pprofd__stack *pprofd__stacktab_intern_labelled(pprofd__stacktab *tab, const uintptr_t *pcs,
                                                int depth, uint32_t labels);

/* Call fn for every entry present when the walk reaches its slot. O(nslots). */
void pprofd__stacktab_foreach(pprofd__stacktab *tab,
                              void (*fn)(pprofd__stack *stack, void *arg), void *arg);

/* Allow entries to use at most `bytes` of the arena (clamped to its size). */
void pprofd__stacktab_set_limit(pprofd__stacktab *tab, size_t bytes);

/* Bytes of arena in use plus the slot array, for reporting. */
size_t pprofd__stacktab_memory(const pprofd__stacktab *tab);

/* The hash the table keys stacks by. Async-signal-safe. */
uint64_t pprofd__stack_hash(const uintptr_t *pcs, int depth);

/* One key's counters, copied out of a table or built by the caller. The
 * key is (hash, tag, name, depth, pcs). */
typedef struct pprofd__stack_record {
    uint64_t hash;               /* pprofd__stack_hash(pcs, depth) */
    int64_t tag;                 /* the owner's part of the key (a table's entries: their
                                  * label set); 0 when unused */
    const char *name;            /* the owner's part of the key; NULL when unused */
    const uintptr_t *pcs;        /* leaf first; not owned (a table entry's pcs live forever) */
    uint32_t depth;
    const pprofd__stack *stack;  /* the entry it was copied from, or NULL */
    const char *note;            /* carried along, not part of the key; NULL when unused */
    int64_t c[PPROFD_STACK_COUNTERS];
} pprofd__stack_record;

typedef struct pprofd__stack_snapshot {
    pprofd__stack_record *recs;
    size_t len, cap;
    int failed; /* an allocation failed: the snapshot is incomplete */
    int sorted;
} pprofd__stack_snapshot;

/* Every entry of tab with a nonzero counter, its counters read once each
 * (relaxed: consistent per counter, not across the table), into a fresh
 * sorted snapshot. Returns 0, or -1 out of memory (s is then empty). */
int pprofd__stacktab_snapshot(pprofd__stacktab *tab, pprofd__stack_snapshot *s);

/* A zeroed record at the end of s, for the caller to fill (the hash too:
 * pprofd__stack_hash); NULL and s->failed set when out of memory. Then
 * pprofd__stack_snapshot_sort. */
pprofd__stack_record *pprofd__stack_snapshot_push(pprofd__stack_snapshot *s);

/* Sort s by key and merge records with equal keys (counters summed; the
 * first one's note kept). */
void pprofd__stack_snapshot_sort(pprofd__stack_snapshot *s);

/* after -= before, key by key, both sorted: keys only in before appear
 * with their counters negated (a thread that went away), keys whose
 * counters all come to zero go. Returns 0, or -1 out of memory (after is
 * then unchanged). */
int pprofd__stack_snapshot_subtract(pprofd__stack_snapshot *after,
                                    const pprofd__stack_snapshot *before);

void pprofd__stack_snapshot_free(pprofd__stack_snapshot *s);

#endif
