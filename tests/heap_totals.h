/* The heap sampler's counters summed over every stack, for tests: what
 * the books say, whoever wrote them. */
#ifndef PPROFD_TEST_HEAP_TOTALS_H
#define PPROFD_TEST_HEAP_TOTALS_H

#include <stdatomic.h>
#include <stdint.h>

#include "sampler/heap.h"
#include "sampler/stacktab.h"

typedef struct heap_totals {
    int64_t c[PPROFD_HEAP_COUNTERS];
} heap_totals;

static void heap_totals_add(pprofd__stack *st, void *arg)
{
    heap_totals *t = arg;
    for (int i = 0; i < PPROFD_HEAP_COUNTERS; i++)
        t->c[i] += atomic_load(&st->counters[i]);
}

static inline heap_totals read_heap_totals(void)
{
    heap_totals t = {{0}};
    pprofd__stacktab_foreach(pprofd__heap_stacks(), heap_totals_add, &t);
    return t;
}

/* The server's part, on a thread of its own: walk the table and read the
 * stats over and over while *running (an _Atomic int) stays set. */
static inline void *heap_reader(void *running)
{
    while (atomic_load((_Atomic int *)running)) {
        read_heap_totals();
        pprofd__heap_stats st;
        pprofd__heap_get_stats(&st);
    }
    return NULL;
}

#endif
