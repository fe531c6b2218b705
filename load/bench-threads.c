/*
 * bench-threads — what a thread dump costs: the capture's wall time, and
 * how long each thread is interrupted (the time its signal handler runs:
 * its own unwind, nothing else).
 *
 *   bench-threads N [CAPTURES]
 *
 * starts N threads (a third in nanosleep, a third in pthread_cond_wait, a
 * third in read on a pipe, each a few frames deep), takes CAPTURES dumps
 * (default 20, after 2 to warm up) and prints the median, minimum and
 * maximum capture time, and the median, 99th percentile and maximum of
 * the per-thread interruptions over all captures. If every thread were
 * stopped for the whole capture, the interruption would grow with N like
 * the capture does; here it should not.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "sampler/threaddump.h"

#define NOINLINE __attribute__((noinline))

static int pipe_fds[2];
static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static atomic_int started;

NOINLINE static void in_nanosleep(void)
{
    for (;;) {
        struct timespec ts = {3600, 0};
        nanosleep(&ts, NULL);
    }
}

NOINLINE static void in_cond_wait(void)
{
    pthread_mutex_lock(&mutex);
    for (;;)
        pthread_cond_wait(&cond, &mutex);
}

NOINLINE static void in_read(void)
{
    char c;
    for (;;)
        (void)!read(pipe_fds[0], &c, 1);
}

/* A few frames of depth, as real threads have. */
NOINLINE static void nest(int depth, void (*fn)(void))
{
    if (depth > 0)
        nest(depth - 1, fn);
    else
        fn();
    __asm__ volatile("" ::: "memory"); /* not a tail call */
}

static void *worker(void *arg)
{
    void (*fns[])(void) = {in_nanosleep, in_cond_wait, in_read};
    atomic_fetch_add(&started, 1);
    nest(5, fns[(uintptr_t)arg % 3]);
    return NULL;
}

static int compare_int64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int64_t percentile(int64_t *v, size_t n, double p)
{
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s THREADS [CAPTURES]\n", argv[0]);
        return 2;
    }
    int nthreads = atoi(argv[1]);
    int captures = argc > 2 ? atoi(argv[2]) : 20;
    if (nthreads < 1 || captures < 1 || pipe(pipe_fds) < 0)
        return 2;

    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 128 * 1024);
    for (int i = 0; i < nthreads; i++) {
        pthread_t t;
        if (pthread_create(&t, &attr, worker, (void *)(uintptr_t)i) != 0) {
            fprintf(stderr, "pthread_create failed at %d\n", i);
            return 1;
        }
    }
    while (atomic_load(&started) < nthreads)
        usleep(1000);
    usleep(200000);

    int64_t *capture_ns = calloc((size_t)captures, sizeof *capture_ns);
    int64_t *interrupt_ns = calloc((size_t)captures * (size_t)(nthreads + 8), sizeof *interrupt_ns);
    int64_t *interrupt_cpu_ns =
        calloc((size_t)captures * (size_t)(nthreads + 8), sizeof *interrupt_cpu_ns);
    size_t ninterrupts = 0;
    long missing = 0;
    for (int round = -2; round < captures; round++) {
        pprofd__thread_dump d;
        int rc = pprofd__thread_dump_capture(&d, NULL);
        if (rc < 0) {
            fprintf(stderr, "capture failed: %d\n", rc);
            return 1;
        }
        if (round >= 0) {
            capture_ns[round] = d.elapsed_ns;
            for (int i = 0; i < d.count; i++) {
                if (d.threads[i].outcome == PPROFD_DUMP_ANSWERED &&
                    ninterrupts < (size_t)captures * (size_t)(nthreads + 8)) {
                    interrupt_cpu_ns[ninterrupts] = d.threads[i].interrupt_cpu_ns;
                    interrupt_ns[ninterrupts++] = d.threads[i].interrupt_ns;
                }
                else if (d.threads[i].outcome != PPROFD_DUMP_SELF) {
                    missing++;
                    fprintf(stderr, "capture %d: thread %d %s: %s\n", round,
                            (int)d.threads[i].tid, d.threads[i].name,
                            pprofd__dump_outcome_text(d.threads[i].outcome));
                }
            }
        }
        pprofd__thread_dump_free(&d);
    }
    qsort(capture_ns, (size_t)captures, sizeof *capture_ns, compare_int64);
    qsort(interrupt_ns, ninterrupts, sizeof *interrupt_ns, compare_int64);
    qsort(interrupt_cpu_ns, ninterrupts, sizeof *interrupt_cpu_ns, compare_int64);
    if (ninterrupts == 0)
        return 1;
    printf("threads %5d  captures %d  capture ms: median %.2f min %.2f max %.2f  "
           "interruption us wall: median %.1f p99 %.1f max %.1f  cpu: median %.1f p99 %.1f "
           "max %.1f  (%zu answers, %ld without)\n",
           nthreads + 1, captures, (double)percentile(capture_ns, (size_t)captures, 0.5) / 1e6,
           (double)capture_ns[0] / 1e6, (double)capture_ns[captures - 1] / 1e6,
           (double)percentile(interrupt_ns, ninterrupts, 0.5) / 1e3,
           (double)percentile(interrupt_ns, ninterrupts, 0.99) / 1e3,
           (double)interrupt_ns[ninterrupts - 1] / 1e3,
           (double)percentile(interrupt_cpu_ns, ninterrupts, 0.5) / 1e3,
           (double)percentile(interrupt_cpu_ns, ninterrupts, 0.99) / 1e3,
           (double)interrupt_cpu_ns[ninterrupts - 1] / 1e3, ninterrupts, missing);
    free(capture_ns);
    free(interrupt_ns);
    free(interrupt_cpu_ns);
    return 0;
}
