/* The sampler's small defects from issue 12, one assertion each:
 * - the first sampled malloc of the process keeps errno;
 * - at hz=1 the timer's first expiry is a valid timespec even when the
 *   random phase is a whole period (1e9 ns);
 * - SIGPROF's handler runs with every signal masked (so the dump signal
 *   cannot land inside its unw_step), and so does the dump signal's;
 * - when put_back finds no room, the object is counted once: freed on its
 *   own stack, not also allocated again as [lost]. */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sampler/cpu.h"
#include "sampler/cpu_timer.h"
#include "sampler/heap.h"
#include "sampler/heap_live.h"
#include "sampler/stacktab.h"
#include "sampler/threaddump.h"
#include "tests/check.h"

/* Before anything else of the program's allocates: the process's first
 * sampled malloc (rate 1 from the environment is not needed, the first
 * allocation of a thread always takes the slow path that initialises). */
static int errno_after_first_malloc = -1;
static void *first_object;

__attribute__((constructor(101))) static void first_malloc(void)
{
    errno = ENOTTY;
    first_object = malloc(100);
    errno_after_first_malloc = errno;
}

static void check_errno_kept(void)
{
    CHECK_MSG(errno_after_first_malloc == ENOTTY, "errno %d after the first malloc",
              errno_after_first_malloc);
    free(first_object);
    /* Every sampled one too. */
    pprofd__heap_set_rate(1);
    for (int i = 0; i < 1000; i++) {
        errno = ENOTTY;
        void *volatile p = malloc(64 + (size_t)i);
        CHECK_MSG(errno == ENOTTY, "errno %d after a sampled malloc", errno);
        free(p);
    }
}

static void check_expiry(void)
{
    struct timespec ts = pprofd__cpu_timer_expiry(1000000000L);
    CHECK_MSG(ts.tv_nsec >= 0 && ts.tv_nsec < 1000000000L, "tv_nsec %ld", ts.tv_nsec);
    CHECK(ts.tv_sec == 1 && ts.tv_nsec == 0);
    ts = pprofd__cpu_timer_expiry(2500000001L);
    CHECK(ts.tv_sec == 2 && ts.tv_nsec == 500000001L);
    ts = pprofd__cpu_timer_expiry(1);
    CHECK(ts.tv_sec == 0 && ts.tv_nsec == 1);
}

static void check_masks(void)
{
    char why[256];
    pprofd__cpu_reader *r;
    if (pprofd__cpu_open(100, &r, why, sizeof why) != 0) {
        fprintf(stderr, "cpu_open: %s\n", why);
        CHECK(0);
    }
    struct sigaction sa;
    CHECK(sigaction(SIGPROF, NULL, &sa) == 0);
    for (int sig = SIGRTMIN; sig <= SIGRTMAX; sig++)
        CHECK_MSG(sigismember(&sa.sa_mask, sig) == 1, "SIGPROF's handler lets signal %d in", sig);
    CHECK(sigismember(&sa.sa_mask, SIGSEGV) == 1);
    pprofd__cpu_close(r);
}

/* A shard that is full: one object taken out, its hole refilled, then put
 * back. */
static void *volatile objects[200000];

__attribute__((noinline)) static void fill(int n)
{
    for (int i = 0; i < n; i++)
        objects[i] = malloc(64);
}

static void check_put_back(void)
{
    pprofd__heap_set_rate(1);
    pprofd__heap_stats s;
    pprofd__heap_get_stats(&s);
    /* Room for each shard's first table and a few growths, then no more. */
    pprofd__heap_set_memory_cap(s.memory + (640u << 10));
    int n = (int)(sizeof objects / sizeof objects[0]);
    fill(n);
    pprofd__heap_stats full;
    pprofd__heap_get_stats(&full);
    CHECK_MSG(full.dropped > s.dropped + 10000, "only %llu dropped: the table is not full",
              (unsigned long long)(full.dropped - s.dropped));
    pprofd__heap_object x;
    int i = n - 1;
    while (i >= 0 && !pprofd__heap_take(objects[i], &x))
        i--;
    CHECK(i >= 0);
    /* Another thread's sample takes the hole (same 256-byte granule, so
     * the same shard; inside x's chunk, so never a real object). */
    pprofd__heap_object other = {.ptr = x.ptr + 16, .stack = x.stack, .weight = 0, .bytes = 0};
    CHECK(pprofd__heap_live_insert(&other));
    int64_t frees = atomic_load(&x.stack->counters[PPROFD_HEAP_FREES]);
    pprofd__heap_stats before;
    pprofd__heap_get_stats(&before);
    pprofd__heap_put_back(&x);
    pprofd__heap_stats after;
    pprofd__heap_get_stats(&after);
    pprofd__heap_object back;
    int was_back = pprofd__heap_take(objects[i], &back);
    CHECK_MSG(!was_back, "the shard had room: the test did not fill it");
    /* In use stays honest: counted freed on its stack... */
    CHECK(atomic_load(&x.stack->counters[PPROFD_HEAP_FREES]) == frees + x.weight);
    /* ...and its allocation is not counted a second time under [lost]. */
    CHECK_MSG(after.dropped_weight == before.dropped_weight &&
                  after.dropped_bytes == before.dropped_bytes,
              "[lost] grew by %lld bytes", (long long)(after.dropped_bytes - before.dropped_bytes));
    CHECK(pprofd__heap_take((void *)other.ptr, &back));
    pprofd__heap_set_rate(0);
    for (int j = 0; j < n; j++)
        free(objects[j]);
}

int main(void)
{
#ifdef PPROFD_NO_INTERPOSE
    SKIP("built without the malloc interposer (sanitizer build)");
#endif
    check_errno_kept();
    puts("errno: ok");
    check_expiry();
    puts("expiry: ok");
    check_masks();
    puts("masks: ok");
    check_put_back();
    puts("put_back: ok");
    return 0;
}
