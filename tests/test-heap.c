/* The heap sampler through the real interposer (this test links
 * libpprofd.a, so its malloc is ours): every allocation at rate 1, then the
 * Poisson estimate at rate 4096. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sampler/heap.h"
#include "sampler/stacktab.h"
#include "tests/check.h"

typedef struct totals {
    uint64_t key;
    int64_t c[PPROFD_STACK_COUNTERS];
} totals;

static void sum_key(pprofd__stack *st, void *arg)
{
    totals *t = arg;
    if (st->key != t->key)
        return;
    for (int i = 0; i < PPROFD_STACK_COUNTERS; i++)
        t->c[i] += atomic_load(&st->counters[i]);
}

static totals totals_for_size(uint64_t size)
{
    totals t = {.key = size};
    pprofd__stacktab_foreach(pprofd__heap_stacks(), sum_key, &t);
    return t;
}

static void *volatile objects[20000];

__attribute__((noinline)) static void allocate_exactly(int n, size_t size)
{
    for (int i = 0; i < n; i++)
        objects[i] = malloc(size);
}

int main(void)
{
#ifdef PPROFD_NO_INTERPOSE
    SKIP("built without the malloc interposer (sanitizer build)");
#endif
    /* Rate 1: every allocation is recorded, every free accounted. */
    pprofd__heap_set_rate(1);
    allocate_exactly(1000, 1237);
    totals t = totals_for_size(1237);
    CHECK_MSG(t.c[PPROFD_HEAP_ALLOCS] == 1000, "allocs %lld", (long long)t.c[PPROFD_HEAP_ALLOCS]);
    CHECK(t.c[PPROFD_HEAP_ALLOC_BYTES] == 1000 * 1237);
    CHECK(t.c[PPROFD_HEAP_FREES] == 0);
    for (int i = 0; i < 400; i++)
        free(objects[i]);
    t = totals_for_size(1237);
    CHECK_MSG(t.c[PPROFD_HEAP_FREES] == 400, "frees %lld", (long long)t.c[PPROFD_HEAP_FREES]);
    CHECK(t.c[PPROFD_HEAP_FREE_BYTES] == 400 * 1237);

    /* realloc: the old object freed, the new one sampled at its size. */
    objects[400] = realloc(objects[400], 7919);
    CHECK(totals_for_size(1237).c[PPROFD_HEAP_FREES] == 401);
    CHECK(totals_for_size(7919).c[PPROFD_HEAP_ALLOCS] == 1);
    for (int i = 400; i < 1000; i++)
        free(objects[i]);
    t = totals_for_size(1237);
    CHECK(t.c[PPROFD_HEAP_FREES] == 1000);
    CHECK(totals_for_size(7919).c[PPROFD_HEAP_FREES] == 1);

    /* The stack names this test's function as the allocating frame. */
    pprofd__heap_stats st;
    pprofd__heap_get_stats(&st);
    CHECK(st.dropped == 0);

    /* Rate 4096: 20000 objects of 1000 bytes are sampled with probability
     * 1 - exp(-1000/4096) each, about 4333 samples (sd ~58); unsampling
     * must land within 10% of the truth (over 7 sd). */
    pprofd__heap_set_rate(4096);
    allocate_exactly(20000, 1000);
    t = totals_for_size(1000);
    double p = 1.0 - exp(-1000.0 / 4096.0);
    double est_objects = (double)t.c[PPROFD_HEAP_ALLOCS] / p;
    CHECK_MSG(fabs(est_objects - 20000) < 2000, "estimated %.0f objects of 20000", est_objects);
    for (int i = 0; i < 20000; i++)
        free(objects[i]);
    t = totals_for_size(1000);
    CHECK(t.c[PPROFD_HEAP_FREES] == t.c[PPROFD_HEAP_ALLOCS]);

    printf("test-heap: ok\n");
    return 0;
}
