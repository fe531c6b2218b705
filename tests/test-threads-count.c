/* How pprofd counts and lists the host's threads, which the index does on
 * every request and every thread profile does once: right (the kernel's
 * count, every tid) and nearly free for the host's heap. The test links
 * libpprofd.a, so its malloc is ours; at rate 1 every byte anyone
 * allocates is in the heap table's totals. */
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "sampler/heap.h"
#include "sampler/threads.h"
#include "tests/check.h"
#include "tests/heap_totals.h"

static pthread_barrier_t started, park;

static void *parked(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&started); /* past pprofd's start hooks, which allocate */
    pthread_barrier_wait(&park);    /* until the counting is done */
    return NULL;
}

static long tasks_in_proc(void)
{
    DIR *d = opendir("/proc/self/task");
    long n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += e->d_name[0] >= '0' && e->d_name[0] <= '9';
    if (d)
        closedir(d);
    return n;
}

int main(void)
{
#ifdef PPROFD_NO_INTERPOSE
    SKIP("built without the malloc interposer (sanitizer build)");
#endif
    enum { THREADS = 5, CALLS = 100 };
    pthread_t t[THREADS];
    pthread_barrier_init(&started, NULL, THREADS + 1);
    pthread_barrier_init(&park, NULL, THREADS + 1);
    for (int i = 0; i < THREADS; i++)
        CHECK(pthread_create(&t[i], NULL, parked, NULL) == 0);
    pthread_barrier_wait(&started);

    long want = tasks_in_proc();
    CHECK_MSG(want == THREADS + 1, "/proc/self/task lists %ld", want);
    CHECK_MSG(pprofd__threads_in_process() == want, "counted %ld, /proc lists %ld",
              pprofd__threads_in_process(), want);
    pid_t *tids = NULL;
    int n = 0;
    CHECK(pprofd__threads_list_tasks(&tids, &n) == 0 && n == want);
    free(tids);

    pprofd__heap_set_rate(1);
    heap_totals before = read_heap_totals();
    long sum = 0;
    for (int i = 0; i < CALLS; i++)
        sum += pprofd__threads_in_process();
    heap_totals after = read_heap_totals();
    long long bytes = after.c[PPROFD_HEAP_ALLOC_BYTES] - before.c[PPROFD_HEAP_ALLOC_BYTES];
    CHECK_MSG(sum == CALLS * want, "counts summed to %ld", sum);
    CHECK_MSG(bytes == 0, "counting the threads %d times allocated %lld bytes", CALLS, bytes);

    before = read_heap_totals();
    for (int i = 0; i < CALLS; i++) {
        CHECK(pprofd__threads_list_tasks(&tids, &n) == 0 && n == want);
        free(tids);
    }
    after = read_heap_totals();
    bytes = after.c[PPROFD_HEAP_ALLOC_BYTES] - before.c[PPROFD_HEAP_ALLOC_BYTES];
    /* The tid array itself, and nothing the size of a DIR (32 KiB). */
    CHECK_MSG(bytes <= CALLS * 1024LL, "listing the threads %d times allocated %lld bytes",
              CALLS, bytes);
    pprofd__heap_set_rate(0);

    pthread_barrier_wait(&park);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    printf("ok: %ld threads counted without allocating, listed with the tid array only\n", want);
    return 0;
}
