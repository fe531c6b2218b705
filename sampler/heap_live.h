/*
 * heap_live — the heap sampler's table of live sampled objects
 * (heap_live.c), as the sampling side (heap_sample.c) uses it. Internal to
 * the heap files; the rest of pprofd uses heap.h.
 *
 * Not async-signal-safe: each call takes one shard lock (a spinlock held
 * for a probe; see heap.h for the lock order), except the prefetch hints,
 * which take none. Never allocates with malloc: tables are mmap'd.
 *
 * The whole picture (contexts, lock order, fork): docs/design.md.
 */
#ifndef PPROFD_HEAP_LIVE_H
#define PPROFD_HEAP_LIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sampler/heap.h"

/* Insert a sampled object; false when there is no room within the cap
 * (the caller drops the sample and counts it). */
bool pprofd__heap_live_insert(const pprofd__heap_object *obj);

/* Remove p if it is tracked, copying what it stood for into *out. */
bool pprofd__heap_live_remove(uintptr_t p, pprofd__heap_object *out);

/* Hints for a coming insert of p: the shard's line (before the unwind) and
 * the slot's line (after it), so both arrive while other work runs. */
void pprofd__heap_live_prefetch_shard(uintptr_t p);
void pprofd__heap_live_prefetch_slot(uintptr_t p);

/* Every shard lock, in index order (the fork prepare step), and back. */
void pprofd__heap_live_lock_all(void);
void pprofd__heap_live_unlock_all(void);

/* Bytes of shard tables mapped; sampled objects tracked now. */
size_t pprofd__heap_live_memory(void);
size_t pprofd__heap_live_objects(void);

/* From heap_sample.c, which owns the cap and the stack table: everything
 * the sampler holds as charged to the cap, and the call to make after the
 * live table grew (the stack arena's share of the cap shrinks). */
size_t pprofd__heap_memory_held(void);
void pprofd__heap_memory_changed(void);

#endif
