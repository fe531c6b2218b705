/* A host whose main arena holds about a million free chunks (every other
 * block of two million freed), for test-e2e-malloc-stall. Its main thread
 * then times its own malloc/free of a size past the tcache (so each call
 * takes the main arena's lock) in a loop. SIGUSR1: print "worst N", the
 * longest call in microseconds since the previous SIGUSR1, and start over.
 * Prints "ready" once the heap is shaped. */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define BLOCKS 2000000

static volatile sig_atomic_t report, stop;

static void on_usr1(int sig)
{
    (void)sig;
    report = 1;
}

static void on_term(int sig)
{
    (void)sig;
    stop = 1;
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int main(void)
{
    static void *blocks[BLOCKS];
    for (int i = 0; i < BLOCKS; i++)
        blocks[i] = malloc(200);
    for (int i = 0; i < BLOCKS; i += 2) {
        free(blocks[i]);
        blocks[i] = NULL;
    }
    signal(SIGUSR1, on_usr1);
    signal(SIGTERM, on_term);
    printf("ready\n");
    fflush(stdout);
    int64_t worst = 0;
    volatile uintptr_t sink = 0;
    while (!stop) {
        int64_t a = now_us();
        void *p = malloc(4000);
        sink += (uintptr_t)p;
        free(p);
        int64_t d = now_us() - a;
        if (d > worst)
            worst = d;
        if (report) {
            report = 0;
            printf("worst %lld\n", (long long)worst);
            fflush(stdout);
            worst = 0;
        }
    }
    for (int i = 1; i < BLOCKS; i += 2)
        free(blocks[i]);
    return 0;
}
