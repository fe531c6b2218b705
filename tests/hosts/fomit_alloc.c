/* A program built -O2 -fomit-frame-pointer, as distributions build theirs,
 * whose hot path is in the allocator entry points pprofd wraps (calloc,
 * memalign, posix_memalign keep a frame pointer in libpprofd), and which
 * also burns CPU at the bottom of a recursion 200 deep. For
 * test-e2e-stacks: every CPU sample must reach main, or worker_main on the
 * second thread that runs the same loop (whose stacks must not show
 * pprofd's thread trampoline). Runs until SIGTERM; prints "ready" once
 * running. */
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static volatile sig_atomic_t stop;
static volatile uintptr_t sink;

static void on_term(int sig)
{
    (void)sig;
    stop = 1;
}

__attribute__((noipa)) static void alloc_loop(void)
{
    for (int i = 0; i < 2000; i++) {
        void *p = NULL;
        if (posix_memalign(&p, 64, 48 + (i & 63)) == 0)
            sink += (uintptr_t)p;
        free(p);
        p = calloc(1, 40 + (i & 31));
        sink += (uintptr_t)p;
        free(p);
        p = memalign(32, 24 + (i & 15));
        sink += (uintptr_t)p;
        free(p);
    }
}

__attribute__((noipa)) static void spin_at_bottom(void)
{
    uint64_t x = sink;
    for (int i = 0; i < 200000; i++)
        x = x * 6364136223846793005ull + 1442695040888963407ull;
    sink = x;
}

/* Not a tail call: the frame's own array is read after the call returns. */
__attribute__((noipa)) static int deep(int n)
{
    volatile char frame[16];
    frame[0] = (char)n;
    if (n == 0) {
        spin_at_bottom();
        return 0;
    }
    int r = deep(n - 1);
    return r + frame[0];
}

__attribute__((noipa)) static void *worker_main(void *arg)
{
    while (!stop) {
        alloc_loop();
        sink += (uintptr_t)deep(200);
    }
    return arg;
}

int main(void)
{
    signal(SIGTERM, on_term);
    pthread_t worker;
    if (pthread_create(&worker, NULL, worker_main, NULL) != 0)
        return 1;
    printf("ready\n");
    fflush(stdout);
    while (!stop) {
        alloc_loop();
        sink += (uintptr_t)deep(200);
    }
    pthread_join(worker, NULL);
    return 0;
}
