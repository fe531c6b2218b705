/* Stress through the real interposer (this test links libpprofd.a): 8
 * threads make millions of malloc, calloc, realloc, memalign,
 * posix_memalign, aligned_alloc and free calls, handing objects to each
 * other through mailboxes so that a third of frees happen on another thread
 * than the allocation, while a reader walks the stack table as the server
 * does. Once at rate 1 (every allocation sampled, every free a table hit)
 * and once at the default rate.
 *
 * It fails on a crash, on corruption (every object carries a tag pattern,
 * checked before it is freed or reallocated), on a hang (alarm), and when
 * the sampler's books disagree: at quiescence the in-use count summed over
 * stacks must equal the live table's size, and at rate 1 every allocation
 * must have been recorded. */
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sampler/heap.h"
#include "sampler/stacktab.h"
#include "tests/check.h"
#include "tests/heap_totals.h"

#define THREADS 8
#define WINDOW 32
#define MAILBOXES 64

typedef struct header {
    size_t size;
    uint64_t tag;
} header;

static _Atomic(header *) mailbox[MAILBOXES];
static _Atomic int running;
static _Atomic long allocations;
static long ops_per_thread;

static header *make(header *h, size_t size, uint64_t tag)
{
    CHECK(h != NULL);
    h->size = size;
    h->tag = tag;
    size_t n = size < 256 ? size : 256;
    memset((char *)h + sizeof *h, (int)(tag & 0xff), n - sizeof *h);
    return h;
}

static void verify(const header *h)
{
    size_t n = h->size < 256 ? h->size : 256;
    const unsigned char *b = (const unsigned char *)h + sizeof *h;
    for (size_t i = 0; i < n - sizeof *h; i++)
        CHECK_MSG(b[i] == (h->tag & 0xff), "object %p of %zu bytes corrupted at %zu", (void *)h,
                  h->size, i);
}

static void drop(header *h)
{
    if (h) {
        verify(h);
        free(h);
    }
}

static void *worker(void *arg)
{
    uint64_t x = 0x9e3779b97f4a7c15ull * (uintptr_t)arg;
    header *window[WINDOW] = {0};
    long allocs = 0;
    for (long i = 0; i < ops_per_thread; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        unsigned slot = (unsigned)(x >> 40) % WINDOW;
        size_t size = sizeof(header) + (size_t)((x >> 8) % 4000);
        uint64_t tag = x;
        header *h = NULL;
        switch ((x >> 32) % 10) {
        case 0:
        case 1:
        case 2:
            h = make(malloc(size), size, tag);
            break;
        case 3: {
            h = calloc(1, size);
            CHECK(h != NULL);
            for (size_t k = 0; k < size; k++)
                CHECK(((unsigned char *)h)[k] == 0);
            make(h, size, tag);
            break;
        }
        case 4:
            if (window[slot]) {
                /* Grow or shrink: the prefix must survive the move. */
                header *old = window[slot];
                verify(old);
                window[slot] = NULL;
                h = realloc(old, size);
                CHECK(h != NULL);
                size_t keep = size < h->size ? size : h->size;
                h->size = keep;
                verify(h);
                make(h, size, tag);
            } else {
                h = make(realloc(NULL, size), size, tag);
            }
            break;
        case 5:
            h = make(memalign(64, size), size, tag);
            CHECK(((uintptr_t)h & 63) == 0);
            break;
        case 6: {
            void *p = NULL;
            CHECK(posix_memalign(&p, 128, size) == 0);
            CHECK(((uintptr_t)p & 127) == 0);
            h = make(p, size, tag);
            break;
        }
        case 7:
            h = make(aligned_alloc(32, (size + 31) & ~(size_t)31), size, tag);
            CHECK(((uintptr_t)h & 31) == 0);
            break;
        default: {
            /* Hand an object to whichever thread next visits the mailbox,
             * and free what was waiting there: a cross-thread free. */
            unsigned box = (unsigned)(x >> 16) % MAILBOXES;
            header *mine = window[slot];
            window[slot] = NULL;
            drop(atomic_exchange(&mailbox[box], mine));
            continue;
        }
        }
        allocs++;
        drop(window[slot]);
        window[slot] = h;
    }
    for (int i = 0; i < WINDOW; i++)
        drop(window[i]);
    atomic_fetch_add(&allocations, allocs);
    return NULL;
}

typedef struct books {
    int64_t allocs, inuse;
} books;

static books read_books(void)
{
    heap_totals t = read_heap_totals();
    return (books){t.c[PPROFD_HEAP_SAMPLES], t.c[PPROFD_HEAP_SAMPLES] - t.c[PPROFD_HEAP_FREED]};
}

static void run(long rate, long ops)
{
    pprofd__heap_set_rate(rate);
    ops_per_thread = ops;
    atomic_store(&allocations, 0);
    books before = read_books();
    atomic_store(&running, 1);
    pthread_t r, t[THREADS];
    CHECK(pthread_create(&r, NULL, heap_reader, &running) == 0);
    for (long i = 0; i < THREADS; i++)
        CHECK(pthread_create(&t[i], NULL, worker, (void *)(i + 1)) == 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    atomic_store(&running, 0);
    pthread_join(r, NULL);
    for (int i = 0; i < MAILBOXES; i++)
        drop(atomic_exchange(&mailbox[i], NULL));

    books after = read_books();
    pprofd__heap_stats st;
    pprofd__heap_get_stats(&st);
    CHECK_MSG(st.dropped == 0, "%llu samples dropped", (unsigned long long)st.dropped);
    CHECK_MSG(after.inuse == (int64_t)st.live_objects,
              "stacks say %lld sampled objects in use, the live table holds %zu",
              (long long)after.inuse, st.live_objects);
    long made = atomic_load(&allocations);
    if (rate == 1)
        CHECK_MSG(after.allocs - before.allocs >= made,
                  "rate 1: %lld allocations recorded, the workers made %ld",
                  (long long)(after.allocs - before.allocs), made);
    printf("rate %ld: %ld allocations, %lld sampled, %zu sampled objects live\n", rate, made,
           (long long)(after.allocs - before.allocs), st.live_objects);
}

int main(void)
{
#ifdef PPROFD_NO_INTERPOSE
    SKIP("built without the malloc interposer (sanitizer build)");
#endif
    alarm(110); /* a deadlock is a failure, not a ctest timeout */
    run(1, 60000);       /* 8 x 60k ops, every allocation unwound */
    run(524288, 600000); /* 8 x 600k ops at the default rate */
    printf("test-heap-stress: ok\n");
    return 0;
}
