/* The sampler's tables under contention, without the interposer, so that
 * the sanitizer builds (ASan, TSan) check them too: 8 threads record
 * allocations of made-up addresses straight into pprofd__heap_record_alloc,
 * free half of them on other threads through mailboxes, move some the way
 * realloc does (take, then put back or account freed), while a reader walks
 * the stack table. Then the memory cap is lowered below what is held: new
 * samples must be dropped and counted, never block, and the books must
 * still balance. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sampler/heap.h"
#include "sampler/stacktab.h"
#include "tests/check.h"
#include "tests/heap_totals.h"

#define THREADS 8
#define OPS 40000
#define MAILBOXES 64

static _Atomic uintptr_t mailbox[MAILBOXES];
static _Atomic int running;
static int capped_phase; /* the second run: its allocations come from a new call site */

typedef struct books {
    int64_t allocs, inuse, inuse_weight, inuse_bytes;
} books;

static books read_books(void)
{
    heap_totals t = read_heap_totals();
    return (books){t.c[PPROFD_HEAP_SAMPLES], t.c[PPROFD_HEAP_SAMPLES] - t.c[PPROFD_HEAP_FREED],
                   t.c[PPROFD_HEAP_ALLOCS] - t.c[PPROFD_HEAP_FREES],
                   t.c[PPROFD_HEAP_ALLOC_BYTES] - t.c[PPROFD_HEAP_FREE_BYTES]};
}

/* Distinct call sites, so there are several stacks per size. */
__attribute__((noinline)) static void site_a(uintptr_t p, size_t n)
{
    pprofd__heap_record_alloc((void *)p, n);
}
__attribute__((noinline)) static void site_b(uintptr_t p, size_t n)
{
    pprofd__heap_record_alloc((void *)p, n);
}
__attribute__((noinline)) static void site_c(uintptr_t p, size_t n)
{
    pprofd__heap_record_alloc((void *)p, n);
}

static void work(void *arg)
{
    uintptr_t base = (uintptr_t)arg << 40;
    uintptr_t live[16] = {0};
    size_t live_size[16] = {0};
    uint64_t x = 0x243f6a8885a308d3ull ^ (uintptr_t)arg;
    for (long i = 0; i < OPS; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        unsigned slot = (unsigned)(x >> 50) & 15;
        if (live[slot]) {
            switch ((x >> 20) % 3) {
            case 0: /* freed here */
                pprofd__heap_record_free((void *)live[slot]);
                break;
            case 1: { /* freed by another thread */
                uintptr_t other = atomic_exchange(&mailbox[(x >> 8) % MAILBOXES], live[slot]);
                if (other)
                    pprofd__heap_record_free((void *)other);
                break;
            }
            default: { /* realloc: moved, or failed and put back */
                pprofd__heap_object obj;
                if (pprofd__heap_take((void *)live[slot], &obj)) {
                    if (x & 1) {
                        pprofd__heap_put_back(&obj);
                        pprofd__heap_record_free((void *)live[slot]);
                    } else {
                        pprofd__heap_account_free(&obj);
                    }
                }
                break;
            }
            }
            live[slot] = 0;
        }
        uintptr_t p = base + ((uintptr_t)i << 4);
        size_t n = 16 + (size_t)(x % 64) * 16;
        if (capped_phase)
            site_c(p, n);
        else if (x & 2)
            site_a(p, n);
        else
            site_b(p, n);
        live[slot] = p;
        live_size[slot] = n;
    }
    for (int i = 0; i < 16; i++)
        if (live[i])
            pprofd__heap_record_free((void *)live[i]);
    (void)live_size;
}

/* The workers live to the end of the process, running one phase per
 * barrier round: a thread that unwound and then exits runs libunwind's
 * thread-specific destructor, which TSan (an uninstrumented library taking
 * a mutex in a TSD destructor) crashes on. Not ours to fix, so avoided. */
static pthread_barrier_t start_phase, end_phase;

static void *worker(void *arg)
{
    for (;;) {
        pthread_barrier_wait(&start_phase);
        work(arg);
        pthread_barrier_wait(&end_phase);
    }
    return NULL;
}

static void run(void)
{
    static int started;
    if (!started) {
        started = 1;
        CHECK(pthread_barrier_init(&start_phase, NULL, THREADS + 1) == 0);
        CHECK(pthread_barrier_init(&end_phase, NULL, THREADS + 1) == 0);
        for (long i = 0; i < THREADS; i++) {
            pthread_t t;
            CHECK(pthread_create(&t, NULL, worker, (void *)(i + 1)) == 0);
            pthread_detach(t);
        }
    }
    atomic_store(&running, 1);
    pthread_t r;
    CHECK(pthread_create(&r, NULL, heap_reader, &running) == 0);
    pthread_barrier_wait(&start_phase);
    pthread_barrier_wait(&end_phase);
    atomic_store(&running, 0);
    pthread_join(r, NULL);
    for (int i = 0; i < MAILBOXES; i++) {
        uintptr_t p = atomic_exchange(&mailbox[i], 0);
        if (p)
            pprofd__heap_record_free((void *)p);
    }
}

int main(void)
{
    /* The interposer, where present, stays out of the way. */
    pprofd__heap_set_rate(0);
    pprofd__heap_stats st0, st;
    pprofd__heap_get_stats(&st0);
    books b0 = read_books();

    run();
    books b = read_books();
    pprofd__heap_get_stats(&st);
    CHECK_MSG(st.dropped == st0.dropped, "%llu dropped under the default cap",
              (unsigned long long)(st.dropped - st0.dropped));
    CHECK_MSG(b.allocs - b0.allocs == THREADS * OPS, "%lld of %d allocations recorded",
              (long long)(b.allocs - b0.allocs), THREADS * OPS);
    CHECK_MSG(b.inuse == b0.inuse && st.live_objects == st0.live_objects,
              "after every free: %lld in use by the stacks, %zu live objects",
              (long long)(b.inuse - b0.inuse), st.live_objects);
    CHECK(b.inuse_bytes == b0.inuse_bytes && b.inuse_weight == b0.inuse_weight);

    /* A cap below what is held: every new sample is dropped and counted,
     * and nothing blocks. The stacks already interned keep counting. */
    pprofd__heap_set_memory_cap(st.memory / 2);
    pprofd__heap_stats capped;
    pprofd__heap_get_stats(&capped);
    CHECK(capped.cap == st.memory / 2);
    books bc0 = read_books();
    capped_phase = 1;
    run();
    books bc = read_books();
    pprofd__heap_stats after;
    pprofd__heap_get_stats(&after);
    uint64_t dropped = after.dropped - capped.dropped;
    CHECK_MSG(dropped > 0, "nothing dropped over the cap");
    CHECK_MSG((int64_t)dropped + (bc.allocs - bc0.allocs) >= THREADS * OPS,
              "%llu dropped + %lld recorded < %d made", (unsigned long long)dropped,
              (long long)(bc.allocs - bc0.allocs), THREADS * OPS);
    CHECK(after.dropped_bytes > capped.dropped_bytes);
    CHECK(bc.inuse_bytes == bc0.inuse_bytes && bc.inuse_weight == bc0.inuse_weight);
    CHECK_MSG(bc.inuse == bc0.inuse && after.live_objects == st0.live_objects,
              "capped: %lld in use by the stacks, %zu live objects", (long long)(bc.inuse - bc0.inuse),
              after.live_objects);
    CHECK(after.memory <= st.memory + 64 * 1024);

    pprofd__heap_set_memory_cap(0);
    CHECK(pprofd__heap_memory_cap() == PPROFD_HEAP_DEFAULT_CAP);
    printf("test-heap-tables: ok (%llu dropped over the cap)\n", (unsigned long long)dropped);
    return 0;
}
