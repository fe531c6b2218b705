/*
 * bench-symbols — what symbolization costs a heap profile request.
 *
 * The process is the demo's shape: linked with pprofd (so libc, libdw,
 * libelf... are mapped, and libmicrohttpd once it serves), the demo's
 * allocation workload running in two threads, memory retained at start.
 * It serves itself and fetches /debug/pprof/heap over real HTTP:
 *
 *   cold: the first request; the symbolizer loads every object's tables
 *         and resolves every address (the one-off price).
 *   warm: ROUNDS later requests; each address is a cache hit unless the
 *         workload produced a stack never seen before.
 *
 * For each it prints the request's wall time and the part of it spent
 * inside the symbolizer (pprofd__symbolize for addresses and
 * pprofd__symbols_object_info for mapping flags; its own counters), and
 * the cache's memory. Medians and min/max over the warm rounds; the warm share is the
 * number the issue bounds (< 10% of serving a heap profile).
 *
 * usage: bench-symbols [rounds] [mem_rate]   (defaults 30, 524288 as the demo)
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "pprofd.h"
#include "server/symbolize/symbols.h"

static volatile int stop;
static volatile unsigned long long sink;

__attribute__((noinline)) static void churn_small_objects(void)
{
    for (int i = 0; i < 1000; i++) {
        char *p = malloc(64 + (size_t)(i % 512));
        p[0] = (char)i;
        sink += (unsigned char)p[0];
        free(p);
    }
}

__attribute__((noinline)) static void churn_buffers(void)
{
    for (int i = 0; i < 20; i++) {
        char *p = calloc(1, 64 * 1024);
        sink += (unsigned char)p[i];
        free(p);
    }
}

static void *alloc_worker(void *arg)
{
    (void)arg;
    while (!stop) {
        churn_small_objects();
        churn_buffers();
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

__attribute__((noinline)) static void retain(size_t n)
{
    void **kept = calloc(n, sizeof *kept);
    for (size_t i = 0; i < n; i++) {
        kept[i] = malloc(4096);
        memset(kept[i], (int)i, 4096);
    }
    sink += (uintptr_t)kept;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* GET path over HTTP/1.0 and read to the end; returns bytes read or -1. */
static long http_get(int port, const char *path)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0)
        return -1;
    char req[256];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: x\r\n\r\n", path);
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    long total = 0;
    char buf[65536];
    ssize_t r;
    while ((r = read(fd, buf, sizeof buf)) > 0)
        total += r;
    close(fd);
    return total;
}

static int compare(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct measure {
    double request_ms, symbolize_ms;
    uint64_t lookups, misses;
    long bytes;
} measure;

static measure one_request(int port)
{
    pprofd__symbols_stats before, after;
    pprofd__symbols_get_stats(&before);
    double t0 = now_ms();
    long bytes = http_get(port, "/debug/pprof/heap");
    double t1 = now_ms();
    pprofd__symbols_get_stats(&after);
    return (measure){.request_ms = t1 - t0,
                     .symbolize_ms = (double)(after.nanos - before.nanos + after.info_nanos -
                                              before.info_nanos) /
                                     1e6,
                     .lookups = after.lookups - before.lookups,
                     .misses = after.misses - before.misses,
                     .bytes = bytes};
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 30;
    long rate = argc > 2 ? atol(argv[2]) : 524288;
    if (rounds < 3)
        rounds = 3;
    retain(4096);
    pprofd_server *s = pprofd_start(&(pprofd_options){.addr = "127.0.0.1:0", .mem_rate = rate});
    if (!s)
        return 1;
    int port = pprofd_port(s);
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, alloc_worker, NULL);
    sleep(1);

    measure cold = one_request(port);
    pprofd__symbols_stats st;
    pprofd__symbols_get_stats(&st);
    printf("cold: request %.1f ms, symbolize %.1f ms (%llu addresses, %llu resolved), "
           "%ld bytes; cache %zu bytes own + ~%zu bytes libdw\n",
           cold.request_ms, cold.symbolize_ms, (unsigned long long)cold.lookups,
           (unsigned long long)cold.misses, cold.bytes, st.own_bytes, st.libdw_bytes);

    /* Warm requests split two ways: those where every address was already
     * cached (the steady state the < 10% bound is about), and those where the
     * workload (or libdw's own allocations, which the heap profile shows)
     * brought call sites never seen before. */
    double *req = calloc((size_t)rounds, sizeof *req), *sym = calloc((size_t)rounds, sizeof *sym),
           *share = calloc((size_t)rounds, sizeof *share);
    int hits_only = 0, with_misses = 0;
    uint64_t lookups = 0, misses = 0;
    double miss_ms = 0;
    for (int i = 0; i < rounds; i++) {
        usleep(100 * 1000);
        measure m = one_request(port);
        lookups += m.lookups;
        misses += m.misses;
        if (m.misses) {
            with_misses++;
            miss_ms += m.symbolize_ms;
            continue;
        }
        req[hits_only] = m.request_ms;
        sym[hits_only] = m.symbolize_ms;
        share[hits_only] = m.symbolize_ms / (m.request_ms - m.symbolize_ms) * 100;
        hits_only++;
    }
    printf("warm: %d requests, %llu lookups; %d of them met %llu new addresses "
           "(%.1f ms symbolizing in all)\n",
           rounds, (unsigned long long)lookups, with_misses, (unsigned long long)misses, miss_ms);
    if (hits_only) {
        int n = hits_only;
        qsort(req, (size_t)n, sizeof *req, compare);
        qsort(sym, (size_t)n, sizeof *sym, compare);
        qsort(share, (size_t)n, sizeof *share, compare);
        printf("warm, every address cached (%d requests): request median %.2f ms [min %.2f, max "
               "%.2f]; symbolizer median %.3f ms [min %.3f, max %.3f]\n",
               n, req[n / 2], req[0], req[n - 1], sym[n / 2], sym[0], sym[n - 1]);
        printf("warm symbolization adds: median %.1f%% [min %.1f%%, max %.1f%%] to serving the "
               "profile\n",
               share[n / 2], share[0], share[n - 1]);
    }
    pprofd__symbols_get_stats(&st);
    printf("cache: %zu bytes own + ~%zu bytes libdw (index page: %zu)\n", st.own_bytes,
           st.libdw_bytes, pprofd__symbols_memory());
    stop = 1;
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    pprofd_stop(s);
    free(req);
    free(sym);
    free(share);
    return 0;
}
