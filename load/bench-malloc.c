/*
 * bench-malloc — what the heap sampler costs a malloc-heavy program.
 *
 * The workload (--worker): 2 threads, each doing PAIRS/2 malloc/free pairs
 * of 16..4096 bytes (uniform) over a window of 64 live objects per thread,
 * touching one byte of each object. Nothing else: the worst case for an
 * allocator wrapper.
 *
 * The driver (default) runs the workload RUNS times under glibc alone and
 * RUNS times with libpprofd.so preloaded (default rate, no server),
 * alternating, and compares the CPU time (user + sys from wait4) of each
 * pair: the median of the two sides, their ratio, and the spread of the
 * per-pair ratios, which is the noise of this machine at that moment.
 *
 *   build/load/bench-malloc [--runs 7] [--pairs 40000000] [--lib build/libpprofd.so]
 *   build/load/bench-malloc --worker 40000000     # the workload alone
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#define THREADS 2
#define WINDOW 64

static long pairs_per_thread;

static void *churn(void *arg)
{
    uint64_t x = 0x9e3779b97f4a7c15ull ^ (uintptr_t)arg;
    void *live[WINDOW] = {0};
    for (long i = 0; i < pairs_per_thread; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        unsigned slot = (unsigned)(x >> 58) & (WINDOW - 1);
        size_t size = 16 + (size_t)((x >> 20) % 4081);
        free(live[slot]);
        char *p = malloc(size);
        p[0] = (char)i;
        live[slot] = p;
    }
    for (int i = 0; i < WINDOW; i++)
        free(live[i]);
    return NULL;
}

static int worker(long pairs)
{
    pairs_per_thread = pairs / THREADS;
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++)
        if (pthread_create(&t[i], NULL, churn, (void *)(i + 1)) != 0)
            return 1;
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    return 0;
}

/* Run the workload in a child; its CPU seconds (user + sys). */
static double run_child(const char *self, long pairs, const char *preload)
{
    char arg[32];
    snprintf(arg, sizeof arg, "%ld", pairs);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(1);
    }
    if (pid == 0) {
        if (preload)
            setenv("LD_PRELOAD", preload, 1);
        else
            unsetenv("LD_PRELOAD");
        unsetenv("PPROFD_ADDR");
        execl(self, self, "--worker", arg, (char *)NULL);
        _exit(127);
    }
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "bench-malloc: worker failed\n");
        exit(1);
    }
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof v[0], by_value);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
    long pairs = 40000000;
    int runs = 7;
    char lib[PATH_MAX] = "";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--worker") == 0 && i + 1 < argc)
            return worker(atol(argv[i + 1]));
        else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (strcmp(argv[i], "--pairs") == 0 && i + 1 < argc)
            pairs = atol(argv[++i]);
        else if (strcmp(argv[i], "--lib") == 0 && i + 1 < argc)
            snprintf(lib, sizeof lib, "%s", argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--runs N] [--pairs N] [--lib libpprofd.so]\n", argv[0]);
            return 2;
        }
    }
    char self[PATH_MAX - 32];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n < 0)
        return 1;
    self[n] = 0;
    if (!lib[0]) {
        /* build/load/bench-malloc -> build/libpprofd.so */
        char *slash = strrchr(self, '/');
        *slash = 0;
        snprintf(lib, sizeof lib, "%s/../libpprofd.so", self);
        *slash = '/';
    }
    if (access(lib, R_OK) != 0) {
        fprintf(stderr, "bench-malloc: %s: %s\n", lib, strerror(errno));
        return 1;
    }
    if (runs < 1 || runs > 99)
        runs = 7;
    double plain[99], with[99], ratio[99];
    printf("%d threads, %ld malloc/free pairs of 16..4096 bytes, %d runs each, alternating\n",
           THREADS, pairs, runs);
    for (int r = 0; r < runs; r++) {
        /* Alternate which side goes first, so drift hits both. */
        if (r % 2 == 0) {
            plain[r] = run_child(self, pairs, NULL);
            with[r] = run_child(self, pairs, lib);
        } else {
            with[r] = run_child(self, pairs, lib);
            plain[r] = run_child(self, pairs, NULL);
        }
        ratio[r] = with[r] / plain[r];
        printf("run %d: glibc %.3fs cpu, glibc+pprofd %.3fs cpu, ratio %.4f\n", r + 1, plain[r],
               with[r], ratio[r]);
        fflush(stdout);
    }
    double mp = median(plain, runs), mw = median(with, runs);
    double mr = median(ratio, runs);
    printf("median cpu: glibc %.3fs, glibc+pprofd %.3fs: %+.2f%% (median of pair ratios %+.2f%%, "
           "pairs from %+.2f%% to %+.2f%%)\n",
           mp, mw, (mw / mp - 1) * 100, (mr - 1) * 100, (ratio[0] - 1) * 100,
           (ratio[runs - 1] - 1) * 100);
    return 0;
}
