/* The heap sampler through the real interposer (this test links
 * libpprofd.a, so its malloc is ours): every allocation at rate 1, then the
 * weighted estimate at rate 4096, for one size and for a mix of sizes under
 * one stack. The test allocates nothing between two readings but what it
 * measures, so differences of the table's totals are its own. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sampler/heap.h"
#include "sampler/stacktab.h"
#include "tests/check.h"
#include "tests/heap_totals.h"

/* What happened since `before`. */
static heap_totals since(heap_totals before)
{
    heap_totals t = read_heap_totals();
    for (int i = 0; i < PPROFD_HEAP_COUNTERS; i++)
        t.c[i] -= before.c[i];
    return t;
}

static void *volatile objects[30000];

__attribute__((noinline)) static void allocate_exactly(int n, size_t size)
{
    for (int i = 0; i < n; i++)
        objects[i] = malloc(size);
}

static const size_t mix[3] = {64, 1000, 16000};

__attribute__((noinline)) static void allocate_mixed(int n)
{
    for (int i = 0; i < n; i++)
        objects[i] = malloc(mix[i % 3]);
}

static double estimate(int64_t weight)
{
    return (double)weight / (double)PPROFD_HEAP_WEIGHT_ONE;
}

int main(void)
{
#ifdef PPROFD_NO_INTERPOSE
    SKIP("built without the malloc interposer (sanitizer build)");
#endif
    /* Rate 1: every allocation is recorded with weight one, every free
     * accounted. */
    pprofd__heap_set_rate(1);
    heap_totals t0 = read_heap_totals();
    allocate_exactly(1000, 1237);
    heap_totals t = since(t0);
    CHECK_MSG(t.c[PPROFD_HEAP_SAMPLES] == 1000, "samples %lld", (long long)t.c[PPROFD_HEAP_SAMPLES]);
    CHECK(t.c[PPROFD_HEAP_ALLOCS] == 1000 * PPROFD_HEAP_WEIGHT_ONE);
    CHECK(t.c[PPROFD_HEAP_ALLOC_BYTES] == 1000 * 1237);
    CHECK(t.c[PPROFD_HEAP_FREED] == 0 && t.c[PPROFD_HEAP_FREES] == 0);
    for (int i = 0; i < 400; i++)
        free(objects[i]);
    t = since(t0);
    CHECK_MSG(t.c[PPROFD_HEAP_FREED] == 400, "frees %lld", (long long)t.c[PPROFD_HEAP_FREED]);
    CHECK(t.c[PPROFD_HEAP_FREES] == 400 * PPROFD_HEAP_WEIGHT_ONE);
    CHECK(t.c[PPROFD_HEAP_FREE_BYTES] == 400 * 1237);

    /* realloc: the old object freed, the new one sampled at its size. */
    objects[400] = realloc(objects[400], 7919);
    t = since(t0);
    CHECK(t.c[PPROFD_HEAP_FREED] == 401 && t.c[PPROFD_HEAP_FREE_BYTES] == 401 * 1237);
    CHECK(t.c[PPROFD_HEAP_SAMPLES] == 1001 && t.c[PPROFD_HEAP_ALLOC_BYTES] == 1000 * 1237 + 7919);
    for (int i = 400; i < 1000; i++)
        free(objects[i]);
    t = since(t0);
    CHECK(t.c[PPROFD_HEAP_FREED] == 1001);
    CHECK(t.c[PPROFD_HEAP_FREE_BYTES] == t.c[PPROFD_HEAP_ALLOC_BYTES]);

    pprofd__heap_stats st;
    pprofd__heap_get_stats(&st);
    CHECK(st.dropped == 0);

    /* Rate 4096, one size: 20000 objects of 1000 bytes are sampled with
     * probability 1 - exp(-1000/4096) each, about 4333 samples (sd ~58);
     * their weights must add up to within 10% of the truth (over 7 sd). */
    pprofd__heap_set_rate(4096);
    t0 = read_heap_totals();
    allocate_exactly(20000, 1000);
    t = since(t0);
    double objs = estimate(t.c[PPROFD_HEAP_ALLOCS]);
    CHECK_MSG(fabs(objs - 20000) < 2000, "estimated %.0f objects of 20000", objs);
    CHECK_MSG(fabs((double)t.c[PPROFD_HEAP_ALLOC_BYTES] - 20e6) < 2e6, "estimated %lld bytes of 20e6",
              (long long)t.c[PPROFD_HEAP_ALLOC_BYTES]);
    for (int i = 0; i < 20000; i++)
        free(objects[i]);
    t = since(t0);
    CHECK(t.c[PPROFD_HEAP_FREED] == t.c[PPROFD_HEAP_SAMPLES]);
    CHECK(t.c[PPROFD_HEAP_FREES] == t.c[PPROFD_HEAP_ALLOCS]);
    CHECK(t.c[PPROFD_HEAP_FREE_BYTES] == t.c[PPROFD_HEAP_ALLOC_BYTES]);

    /* Rate 4096, three sizes 250x apart under one stack. Unsampling the
     * stack from its average sampled size (one bucket per stack, Go's way)
     * would be off by a factor of about 2 in objects; weighing each sample
     * by its own size is not. */
    t0 = read_heap_totals();
    allocate_mixed(30000);
    t = since(t0);
    double true_bytes = 10000.0 * (double)(mix[0] + mix[1] + mix[2]);
    objs = estimate(t.c[PPROFD_HEAP_ALLOCS]);
    double bytes = (double)t.c[PPROFD_HEAP_ALLOC_BYTES];
    CHECK_MSG(fabs(objs - 30000) < 3000, "mixed sizes: estimated %.0f objects of 30000", objs);
    CHECK_MSG(fabs(bytes - true_bytes) < true_bytes / 10, "mixed sizes: estimated %.0f bytes of %.0f",
              bytes, true_bytes);
    for (int i = 0; i < 30000; i++)
        free(objects[i]);
    t = since(t0);
    CHECK(t.c[PPROFD_HEAP_FREE_BYTES] == t.c[PPROFD_HEAP_ALLOC_BYTES]);

    printf("test-heap: ok\n");
    return 0;
}
