/* Labels (sampler/labels.h, the pprofd_labels_* API): sets are interned
 * whatever order they were built in, nest and restore, refuse bad keys,
 * stop at the cap with the [lost] set; new threads inherit their creator's
 * set; and the heap sampler (this test links libpprofd.a, so its malloc is
 * ours) counts each allocation, and its free, under the set it was
 * allocated under: exact at rate 1. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pprofd.h"
#include "sampler/cpu.h"
#include "sampler/heap.h"
#include "sampler/labels.h"
#include "sampler/stacktab.h"
#include "tests/check.h"

static const char *value_of(pprofd_labels id, const char *key)
{
    const pprofd__label_set *s = pprofd__labels_get(id);
    for (int i = 0; s && i < s->npairs; i++)
        if (strcmp(s->pairs[i].key, key) == 0)
            return s->pairs[i].value;
    return NULL;
}

static void *report_labels(void *arg)
{
    *(pprofd_labels *)arg = pprofd_labels_current();
    return NULL;
}

#ifndef PPROFD_NO_INTERPOSE /* the heap part needs our malloc */
typedef struct by_label {
    pprofd_labels a, b;
    int64_t alloc_a, alloc_b, freed_a, freed_b;
} by_label;

static void sum_by_label(pprofd__stack *st, void *arg)
{
    by_label *t = arg;
    int64_t alloc = atomic_load(&st->counters[PPROFD_HEAP_ALLOC_BYTES]);
    int64_t freed = atomic_load(&st->counters[PPROFD_HEAP_FREE_BYTES]);
    if (st->labels == t->a) {
        t->alloc_a += alloc;
        t->freed_a += freed;
    } else if (st->labels == t->b) {
        t->alloc_b += alloc;
        t->freed_b += freed;
    }
}

static void *volatile objects[4000];

__attribute__((noinline)) static void allocate(int from, int n)
{
    for (int i = from; i < from + n; i++)
        objects[i] = malloc(1000);
}
#endif

/* ---- CPU: the same code under two label sets, 1:3 ---- */

/* As test-cpu's attribution bound: TSan defers signals to its own safe
 * points, which blurs the boundary between the two sets. */
#ifdef PPROFD_NO_INTERPOSE
#define SPLIT_POINTS 8
#else
#define SPLIT_POINTS 5
#endif

typedef struct cpu_work {
    pprofd_labels a, b;
    _Atomic int64_t a_nanos, b_nanos; /* measured by the threads' own clocks */
} cpu_work;

static _Atomic uint64_t sink; /* both burning threads write it */

__attribute__((noipa)) static void spin(int units)
{
    uint64_t x = atomic_load_explicit(&sink, memory_order_relaxed);
    for (int i = 0; i < units * 50000; i++)
        x = x * 6364136223846793005ull + 1442695040888963407ull;
    atomic_store_explicit(&sink, x, memory_order_relaxed);
}

static int64_t thread_nanos(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *burn_labelled(void *arg)
{
    cpu_work *w = arg;
    int64_t start = thread_nanos();
    while (thread_nanos() - start < 1500000000) {
        pprofd_labels prev = pprofd_labels_set(w->a);
        int64_t t0 = thread_nanos();
        spin(1);
        int64_t t1 = thread_nanos();
        pprofd_labels_set(w->b);
        spin(3);
        int64_t t2 = thread_nanos();
        pprofd_labels_set(prev);
        atomic_fetch_add(&w->a_nanos, t1 - t0);
        atomic_fetch_add(&w->b_nanos, t2 - t1);
    }
    return NULL;
}

typedef struct cpu_tally {
    pprofd_labels a, b;
    int64_t a_samples, b_samples;
} cpu_tally;

static void count_by_label(const uintptr_t *pcs, int depth, uint32_t labels, int64_t samples,
                           int64_t nanos, void *arg)
{
    (void)pcs, (void)depth, (void)nanos;
    cpu_tally *t = arg;
    if (labels == t->a)
        t->a_samples += samples;
    else if (labels == t->b)
        t->b_samples += samples;
}

/* 3 s of CPU at 250 Hz (the kernel checks CPU timers at its tick): some
 * 750 samples, a binomial deviation of 1.6 points. */
static void test_cpu_split(pprofd_labels a, pprofd_labels b)
{
    char why[256] = "";
    pprofd__cpu_reader *r = NULL;
    CHECK_MSG(pprofd__cpu_open(250, &r, why, sizeof why) == 0, "open: %s", why);
    cpu_work w = {.a = a, .b = b};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        CHECK(pthread_create(&t[i], NULL, burn_labelled, &w) == 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    cpu_tally tally = {.a = a, .b = b};
    pprofd__cpu_window win;
    pprofd__cpu_collect(r, count_by_label, &tally, &win);
    pprofd__cpu_close(r);
    double got = 100.0 * (double)tally.b_samples / (double)(tally.a_samples + tally.b_samples);
    double want = 100.0 * (double)w.b_nanos / (double)(w.a_nanos + w.b_nanos);
    printf("cpu: b has %.1f%% of %lld labelled samples, %.1f%% of the CPU time\n", got,
           (long long)(tally.a_samples + tally.b_samples), want);
    CHECK_MSG(tally.a_samples + tally.b_samples > 300, "only %lld samples",
              (long long)(tally.a_samples + tally.b_samples));
    CHECK_MSG(got >= want - SPLIT_POINTS && got <= want + SPLIT_POINTS,
              "b has %.1f%% of the samples, %.1f%% of the CPU time", got, want);
}

int main(void)
{
    /* Interning: the same pairs, built in either order, are one set. */
    pprofd_labels ab = pprofd_labels_with(pprofd_labels_with(PPROFD_NO_LABELS, "a", "1"), "b", "2");
    pprofd_labels ba = pprofd_labels_with(pprofd_labels_with(PPROFD_NO_LABELS, "b", "2"), "a", "1");
    CHECK(ab != PPROFD_NO_LABELS && ab == ba);
    CHECK(strcmp(value_of(ab, "a"), "1") == 0 && strcmp(value_of(ab, "b"), "2") == 0);
    pprofd_labels replaced = pprofd_labels_with(ab, "a", "9");
    CHECK(replaced != ab && strcmp(value_of(replaced, "a"), "9") == 0);
    CHECK(pprofd__labels_get(replaced)->npairs == 2);

    /* Nesting: set returns what to restore. */
    CHECK(pprofd_labels_current() == PPROFD_NO_LABELS);
    pprofd_labels outer = pprofd_labels_set(ab);
    CHECK(outer == PPROFD_NO_LABELS && pprofd_labels_current() == ab);
    pprofd_labels inner = pprofd_labels_set(replaced);
    CHECK(inner == ab && pprofd_labels_current() == replaced);
    pprofd_labels_set(inner);
    CHECK(pprofd_labels_current() == ab);
    pprofd_labels_set(outer);
    CHECK(pprofd_labels_current() == PPROFD_NO_LABELS);

    /* Bad keys and values are refused: base comes back, errno says why. */
    const char *bad[] = {"", "1a", "a-b", "a b", "é", "pprofd.x", NULL};
    for (int i = 0; bad[i]; i++) {
        errno = 0;
        CHECK_MSG(pprofd_labels_with(ab, bad[i], "v") == ab && errno == EINVAL, "key '%s'", bad[i]);
    }
    char long_key[PPROFD_LABEL_KEY_MAX + 2], long_value[PPROFD_LABEL_VALUE_MAX + 2];
    memset(long_key, 'k', sizeof long_key - 1);
    long_key[sizeof long_key - 1] = '\0';
    memset(long_value, 'v', sizeof long_value - 1);
    long_value[sizeof long_value - 1] = '\0';
    errno = 0;
    CHECK(pprofd_labels_with(ab, long_key, "v") == ab && errno == EINVAL);
    errno = 0;
    CHECK(pprofd_labels_with(ab, "k", long_value) == ab && errno == EINVAL);
    errno = 0;
    CHECK(pprofd_labels_with(ab, NULL, "v") == ab && errno == EINVAL);
    errno = 0;
    CHECK(pprofd_labels_with(ab, "k", NULL) == ab && errno == EINVAL);
    pprofd_labels many = PPROFD_NO_LABELS;
    for (int i = 0; i < PPROFD_LABEL_PAIRS; i++) {
        char k[8];
        snprintf(k, sizeof k, "k%d", i);
        many = pprofd_labels_with(many, k, "v");
    }
    CHECK(pprofd__labels_get(many)->npairs == PPROFD_LABEL_PAIRS);
    errno = 0;
    CHECK(pprofd_labels_with(many, "one_more", "v") == many && errno == E2BIG);

    /* A new thread starts with its creator's set. */
    pprofd_labels seen = PPROFD_NO_LABELS;
    pthread_t t;
    pprofd_labels_set(ab);
    CHECK(pthread_create(&t, NULL, report_labels, &seen) == 0);
    pthread_join(t, NULL);
    pprofd_labels_set(PPROFD_NO_LABELS);
#ifndef PPROFD_NO_INTERPOSE
    CHECK_MSG(seen == ab, "the new thread had set %u, its creator %u", seen, ab);
#endif

    /* The heap: every byte under the set it was allocated under, and its
     * free taken off that set, whatever the freeing thread's set. */
#ifndef PPROFD_NO_INTERPOSE
    by_label before = {.a = ab, .b = replaced}, after = before;
    pprofd__heap_set_rate(1);
    pprofd__stacktab_foreach(pprofd__heap_stacks(), sum_by_label, &before);
    pprofd_labels_set(ab);
    allocate(0, 1000);
    pprofd_labels_set(replaced);
    allocate(1000, 3000);
    for (int i = 0; i < 500; i++)
        free(objects[i]); /* ab's, freed under replaced */
    pprofd_labels_set(PPROFD_NO_LABELS);
    pprofd__stacktab_foreach(pprofd__heap_stacks(), sum_by_label, &after);
    pprofd__heap_set_rate(0);
    CHECK_MSG(after.alloc_a - before.alloc_a == 1000 * 1000, "a: %lld bytes",
              (long long)(after.alloc_a - before.alloc_a));
    CHECK_MSG(after.alloc_b - before.alloc_b == 3000 * 1000, "b: %lld bytes",
              (long long)(after.alloc_b - before.alloc_b));
    CHECK_MSG(after.freed_a - before.freed_a == 500 * 1000 && after.freed_b == before.freed_b,
              "frees: a %lld, b %lld", (long long)(after.freed_a - before.freed_a),
              (long long)(after.freed_b - before.freed_b));
#endif

    test_cpu_split(ab, replaced);

    /* The cap: past it, the [lost] set, counted. */
    size_t made = pprofd__labels_sets();
    pprofd_labels last = PPROFD_NO_LABELS;
    for (int i = 0; i < PPROFD_LABEL_SETS + 10; i++) {
        char v[16];
        snprintf(v, sizeof v, "%d", i);
        last = pprofd_labels_with(PPROFD_NO_LABELS, "request", v);
    }
    CHECK(pprofd__labels_sets() <= PPROFD_LABEL_SETS && pprofd__labels_sets() > made);
    CHECK_MSG(value_of(last, "labels") && strcmp(value_of(last, "labels"), "[lost]") == 0,
              "past the cap: set %u", last);
    CHECK(pprofd__labels_refused() >= 10);
    /* Sets made before the cap still work. */
    CHECK(pprofd_labels_with(pprofd_labels_with(PPROFD_NO_LABELS, "b", "2"), "a", "1") == ab);
    printf("ok: labels interned, nested, refused, capped (%zu sets, %llu refused), "
           "inherited, and on the heap's counts\n",
           pprofd__labels_sets(), (unsigned long long)pprofd__labels_refused());
    return 0;
}
