/*
 * pprofd-demo — the C counterpart of a small Go service that imports
 * net/http/pprof: threads burning CPU in named functions, allocation churn,
 * memory retained for good, and the /debug/pprof/ endpoints on
 * 127.0.0.1:1234.
 */
#include <getopt.h>
#include <stdint.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pprofd.h"

static volatile sig_atomic_t stop;
static volatile unsigned long long sink;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

/* Two CPU burners of different weight so the profile has a shape. */
__attribute__((noinline)) static unsigned long long burn_hashing(unsigned long long x)
{
    for (int i = 0; i < 200000; i++)
        x = x * 6364136223846793005ull + 1442695040888963407ull;
    return x;
}

__attribute__((noinline)) static unsigned long long burn_sqrt_loop(unsigned long long x)
{
    double d = (double)(x | 1);
    for (int i = 0; i < 50000; i++)
        d = d / 1.0000001 + 0.5;
    return x + (unsigned long long)d;
}

static void *cpu_worker(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "demo-cpu");
    unsigned long long x = (unsigned long long)(uintptr_t)&x;
    while (!stop) {
        x = burn_hashing(x);
        x = burn_sqrt_loop(x);
        sink = x;
        /* Leave the machine some room: about half a core per worker. */
        struct timespec ts = {0, 2 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

/* Short-lived allocations: the allocs profile. */
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
    pthread_setname_np(pthread_self(), "demo-alloc");
    while (!stop) {
        churn_small_objects();
        churn_buffers();
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

/* Memory kept for the life of the program: the heap profile. */
static void **retained;
static size_t retained_count;

__attribute__((noinline)) static void retain_cache_entries(size_t n)
{
    retained = calloc(n, sizeof *retained);
    for (size_t i = 0; i < n; i++) {
        retained[i] = malloc(4096);
        memset(retained[i], (int)i, 4096);
    }
    retained_count = n;
}

__attribute__((noinline)) static void *retain_big_table(size_t bytes)
{
    char *p = malloc(bytes);
    memset(p, 1, bytes);
    return p;
}

static void usage(FILE *f, const char *argv0)
{
    fprintf(f,
            "usage: %s [--addr host:port]\n"
            "Runs a small workload (CPU burners, allocation churn, retained memory)\n"
            "and serves its profiles on http://ADDR/debug/pprof/.\n"
            "  --addr host:port  where to listen (default $PPROFD_ADDR or 127.0.0.1:1234)\n"
            "  --help            this text\n",
            argv0);
}

int main(int argc, char **argv)
{
    const char *addr = getenv("PPROFD_ADDR");
    static const struct option longopts[] = {
        {"addr", required_argument, NULL, 'a'}, {"help", no_argument, NULL, 'h'}, {0}};
    int c;
    while ((c = getopt_long(argc, argv, "a:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'a':
            addr = optarg;
            break;
        case 'h':
            usage(stdout, argv[0]);
            return 0;
        default:
            usage(stderr, argv[0]);
            return 2;
        }
    }
    if (!addr || !*addr)
        addr = "127.0.0.1:1234";

    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    retain_cache_entries(4096);                 /* 16 MiB in 4 KiB objects */
    void *table = retain_big_table(32u << 20);  /* 32 MiB in one */

    pprofd_server *server = pprofd_start(&(pprofd_options){.addr = addr});
    if (!server)
        return 1;
    printf("pprofd-demo: serving http://%s:%d/debug/pprof/ (Ctrl-C to stop)\n",
           strncmp(addr, "0.0.0.0", 7) == 0 ? "0.0.0.0" : "127.0.0.1", pprofd_port(server));
    fflush(stdout);

    pthread_t threads[4];
    pthread_create(&threads[0], NULL, cpu_worker, NULL);
    pthread_create(&threads[1], NULL, cpu_worker, NULL);
    pthread_create(&threads[2], NULL, alloc_worker, NULL);
    pthread_create(&threads[3], NULL, alloc_worker, NULL);

    while (!stop)
        pause();
    for (int i = 0; i < 4; i++)
        pthread_join(threads[i], NULL);
    pprofd_stop(server);
    free(table);
    for (size_t i = 0; i < retained_count; i++)
        free(retained[i]);
    free(retained);
    return 0;
}
