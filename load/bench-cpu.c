/*
 * bench-cpu — what the CPU profiler costs its host.
 *
 *   bench-cpu overhead [rounds] [work]
 *       Every core busy with a fixed CPU-bound job (one thread per core,
 *       `work` million steps each, in a call chain ~10 frames deep),
 *       alternately unprofiled and profiled at 100 Hz, `rounds` times each.
 *       Prints the CPU time (getrusage) each run took, the medians, the
 *       overhead of the profiled runs against the unprofiled ones of the
 *       same invocation, and the noise (spread of the unprofiled runs).
 *       CPU time, not wall time: other processes on the machine slow both
 *       kinds alike but do not add to them.
 *
 *   bench-cpu sample [depth] [iterations] [fp]
 *       The user-space cost of one sample as the SIGPROF handler takes it:
 *       unwind from a ucontext captured `depth` frames deep (leaf frames by
 *       libunwind, then frame pointers) and count it in the stack table.
 *       Prints ns per sample; under valgrind --tool=callgrind the
 *       function `one_sample` holds the instructions per call. Also prints
 *       the kernel's signal round trip (raise() to an empty handler) for
 *       scale. With `fp`, frame pointers only (the handler's path on a
 *       thread interrupted inside libunwind).
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "sampler/cpu.h"
#include "sampler/stacktab.h"
#include "sampler/unwind.h"

static volatile uint64_t sink;

static double now_seconds(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double process_cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof v[0], compare_doubles);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ---- overhead ---- */

static long work_steps;

/* A call chain, so samples have a stack worth unwinding. */
__attribute__((noinline)) static uint64_t leaf_work(uint64_t x, long steps)
{
    for (long i = 0; i < steps; i++)
        x = x * 6364136223846793005ull + 1442695040888963407ull;
    return x;
}

__attribute__((noinline)) static uint64_t chain(int depth, uint64_t x, long steps)
{
    if (depth == 0)
        return leaf_work(x, steps);
    uint64_t r = chain(depth - 1, x, steps);
    sink = r;
    return r + 1;
}

static void *busy(void *arg)
{
    (void)arg;
    uint64_t x = 1;
    for (long done = 0; done < work_steps; done += 1000000)
        x = chain(8, x, 1000000);
    sink = x;
    return NULL;
}

static double run_once(int threads, int profiled, long *samples)
{
    pprofd__cpu_reader *r = NULL;
    char why[256];
    double cpu0 = process_cpu_seconds();
    if (profiled && pprofd__cpu_open(100, &r, why, sizeof why) < 0) {
        fprintf(stderr, "bench-cpu: cannot profile: %s\n", why);
        exit(1);
    }
    pthread_t t[256];
    for (int i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, busy, NULL);
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    if (r) {
        pprofd__cpu_window w;
        pprofd__cpu_collect(r, NULL, NULL, &w);
        *samples = w.frame_pointer_stacks + w.dwarf_stacks + w.leaf_only_stacks;
        pprofd__cpu_close(r);
    }
    return process_cpu_seconds() - cpu0;
}

static int overhead(int rounds, long work_millions)
{
    int threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (threads < 1 || threads > 256)
        threads = 2;
    work_steps = work_millions * 1000000;
    double plain[64], prof[64];
    if (rounds > 64)
        rounds = 64;
    long total_samples = 0;
    double prof_cpu = 0;
    printf("%d threads x %ld M steps, %d rounds, 100 Hz\n", threads, work_millions, rounds);
    run_once(threads, 0, NULL); /* warm-up: page in, settle clocks */
    for (int i = 0; i < rounds; i++) {
        long samples = 0;
        /* Alternate which goes first so drift favours neither. */
        if (i % 2) {
            prof[i] = run_once(threads, 1, &samples);
            plain[i] = run_once(threads, 0, NULL);
        } else {
            plain[i] = run_once(threads, 0, NULL);
            prof[i] = run_once(threads, 1, &samples);
        }
        total_samples += samples;
        prof_cpu += prof[i];
        printf("round %d: unprofiled %.3f s CPU, profiled %.3f s CPU (%ld samples)\n", i + 1,
               plain[i], prof[i], samples);
    }
    /* Each round's two runs are neighbours in time: their difference
     * cancels most of the machine's drift. */
    double diff[64];
    for (int i = 0; i < rounds; i++)
        diff[i] = (prof[i] - plain[i]) / plain[i];
    double md = median(diff, rounds);
    double q1 = diff[rounds / 4], q3 = diff[(3 * rounds) / 4]; /* sorted by median() */
    double mp = median(plain, rounds), mq = median(prof, rounds);
    double spread = (plain[rounds - 1] - plain[0]) / mp;
    printf("median CPU: unprofiled %.3f s, profiled %.3f s (%+.2f%%)\n", mp, mq,
           100 * (mq - mp) / mp);
    printf("overhead, median of paired rounds: %+.2f%% (quartiles %+.2f%% .. %+.2f%%)\n",
           100 * md, 100 * q1, 100 * q3);
    printf("noise: unprofiled runs spread %.2f%% min..max\n", 100 * spread);
    printf("samples: %.1f per CPU-second (100 expected)\n", (double)total_samples / prof_cpu);
    return 0;
}

/* ---- one sample ---- */

static pprofd__stacktab table;
static int frame_pointers_only; /* the path taken when libunwind is busy */
static uintptr_t stack_lo, stack_hi;

/* The handler's work for one tick, minus the kernel's delivery. Kept out
 * of line so callgrind reports it as one function. */
__attribute__((noinline)) static int one_sample(const ucontext_t *uc)
{
    uintptr_t pcs[PPROFD_MAX_DEPTH];
    int all_dwarf, depth;
    if (frame_pointers_only)
        depth = pprofd__unwind_signal(uc, stack_lo, stack_hi, pcs, PPROFD_MAX_DEPTH);
    else
        depth = pprofd__unwind_signal_mixed(uc, stack_lo, stack_hi, pcs, PPROFD_MAX_DEPTH,
                                            &all_dwarf);
    pprofd__stack *st = pprofd__stacktab_intern(&table, pcs, depth);
    if (st) {
        atomic_fetch_add_explicit(&st->counters[0], 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&st->counters[1], 10000000, memory_order_relaxed);
    }
    return depth;
}

static long iterations;

__attribute__((noinline)) static int sample_at_depth(int depth)
{
    if (depth > 1) {
        int d = sample_at_depth(depth - 1);
        sink = (uint64_t)d;
        return d;
    }
    ucontext_t uc;
    getcontext(&uc);
    int got = one_sample(&uc); /* first call fills libunwind's caches */
    double t0 = now_seconds(CLOCK_MONOTONIC);
    for (long i = 0; i < iterations; i++)
        got = one_sample(&uc);
    double t1 = now_seconds(CLOCK_MONOTONIC);
    printf("one sample: %.0f ns at an unwound depth of %d frames (%ld iterations)\n",
           (t1 - t0) * 1e9 / (double)iterations, got, iterations);
    return got;
}

static void empty_handler(int sig)
{
    (void)sig;
}

static int sample_cost(int depth, long n)
{
    iterations = n;
    pthread_attr_t attr;
    void *addr;
    size_t size;
    if (pthread_getattr_np(pthread_self(), &attr) == 0 &&
        pthread_attr_getstack(&attr, &addr, &size) == 0) {
        stack_lo = (uintptr_t)addr;
        stack_hi = (uintptr_t)addr + size;
    }
    pprofd__unwind_warm_up();
    if (pprofd__stacktab_init(&table, 1 << 12, 1 << 20) < 0)
        return 1;
    sample_at_depth(depth);

    signal(SIGUSR1, empty_handler);
    double t0 = now_seconds(CLOCK_MONOTONIC);
    for (long i = 0; i < n; i++)
        raise(SIGUSR1);
    double t1 = now_seconds(CLOCK_MONOTONIC);
    printf("signal round trip (raise to an empty handler): %.0f ns\n",
           (t1 - t0) * 1e9 / (double)n);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "overhead") == 0)
        return overhead(argc > 2 ? atoi(argv[2]) : 7, argc > 3 ? atol(argv[3]) : 2000);
    if (argc >= 2 && strcmp(argv[1], "sample") == 0) {
        frame_pointers_only = argc > 4 && strcmp(argv[4], "fp") == 0;
        return sample_cost(argc > 2 ? atoi(argv[2]) : 10, argc > 3 ? atol(argv[3]) : 100000);
    }
    fprintf(stderr, "usage: %s overhead [rounds] [million-steps] | sample [depth] [iterations] [fp]\n",
            argv[0]);
    return 2;
}
