/* The cost of labels as a server would pay it per request, through the
 * shared library's PLT as a program linking -lpprofd does:
 *   set+restore   pprofd_labels_set(req) ... pprofd_labels_set(prev)
 *   with (found)  pprofd_labels_with(base, "endpoint", path) of a set that
 *                 exists (the lock-free lookup: hash, probe, compare)
 *   scope         both: what wrapping one request in labels costs
 * Each is timed over N iterations (CLOCK_MONOTONIC), RUNS times; prints
 * every run's ns per operation and the median.
 *
 *   build/load/bench-labels [runs] [iterations]   (default 7 runs, 20000000) */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "pprofd.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static const char *const paths[4] = {"/api/users", "/api/orders", "/healthz", "/metrics"};

int main(int argc, char **argv)
{
    int runs = argc > 1 ? atoi(argv[1]) : 7;
    long n = argc > 2 ? atol(argv[2]) : 20000000;
    if (runs < 1 || runs > 99 || n < 1)
        return 2;
    pprofd_labels base = pprofd_labels_with(PPROFD_NO_LABELS, "service", "bench");
    pprofd_labels req[4];
    for (int i = 0; i < 4; i++)
        req[i] = pprofd_labels_with(base, "endpoint", paths[i]);
    const char *names[3] = {"set+restore", "with (found)", "scope (with+set+restore)"};
    double ns[3][99];
    volatile pprofd_labels sink = 0;
    for (int r = 0; r < runs; r++) {
        double t0 = now();
        for (long i = 0; i < n; i++) {
            pprofd_labels prev = pprofd_labels_set(req[i & 3]);
            pprofd_labels_set(prev);
        }
        double t1 = now();
        for (long i = 0; i < n / 10; i++)
            sink = pprofd_labels_with(base, "endpoint", paths[i & 3]);
        double t2 = now();
        for (long i = 0; i < n / 10; i++) {
            pprofd_labels l = pprofd_labels_with(pprofd_labels_current(), "endpoint", paths[i & 3]);
            pprofd_labels prev = pprofd_labels_set(l);
            sink = prev;
            pprofd_labels_set(prev);
        }
        double t3 = now();
        ns[0][r] = (t1 - t0) / (double)n;
        ns[1][r] = (t2 - t1) / (double)(n / 10);
        ns[2][r] = (t3 - t2) / (double)(n / 10);
    }
    for (int k = 0; k < 3; k++) {
        printf("%-26s", names[k]);
        for (int r = 0; r < runs; r++)
            printf(" %6.1f", ns[k][r]);
        qsort(ns[k], (size_t)runs, sizeof ns[k][0], cmp);
        printf("   median %.1f ns\n", ns[k][runs / 2]);
    }
    (void)sink;
    return 0;
}
