/*
 * fork — the one pthread_atfork registration of pprofd, and the order in
 * which every module's part of it runs. docs/design.md ("Fork") tells the
 * why; this is the what.
 *
 * Before fork (prepare), in the forking thread, in this order:
 *   1. cpu:    its window lock, then its timers' state lock (no reader or
 *              timer list half-changed in the child);
 *   2. heap:   close the libunwind gate and wait for walks in flight
 *              (sampler/unwind.h), then every shard lock, in index order.
 * In the parent afterwards, the reverse: heap (shards in reverse, gate
 * open), then cpu.
 * In the child afterwards:
 *   1. heap:   as in the parent: the child's tables are whole and free;
 *   2. cpu:    no timers, no readers, no table: profiling starts afresh;
 *   3. thread dumps: a capture in flight stays in the parent;
 *   4. the server's own steps, in pprofd__fork_slot order: the mappings
 *      cache, then the symbolizer, each re-creating its lock and dropping
 *      state a parent thread may have been changing.
 *
 * Lock order this relies on: cpu's state lock comes before any shard lock
 * (a thread holding it may allocate, and a sampled allocation takes a
 * shard lock), and the gate before the shard locks (a walk runs before
 * its sample takes a shard lock).
 */
#ifndef PPROFD_FORK_H
#define PPROFD_FORK_H

/* Register the handlers, once (later calls return at once). Allocates:
 * the heap sampler calls it with its guard raised. Normal context. */
void pprofd__fork_init(void);

/* Steps of the server's modules in the child, run in this order after
 * the sampler's. The sampler does not call into the server; the server
 * hands its steps in. */
typedef enum pprofd__fork_slot {
    PPROFD_FORK_MAPPINGS,  /* server/encode: the /proc/self/maps cache */
    PPROFD_FORK_SYMBOLS,   /* server/symbolize: the symbolizer */
    PPROFD_FORK_SLOTS
} pprofd__fork_slot;

/* Set the child step of `slot` (idempotent; the last one set wins). Also
 * registers the handlers. Thread-safe. */
void pprofd__fork_on_child(pprofd__fork_slot slot, void (*step)(void));

#endif
