/* An ordinary program that knows nothing of pprofd, for the CPU profile's
 * end-to-end tests. Runs one workload until SIGTERM:
 *   ratio       the main thread spends 3/4 of its work in three_quarters()
 *               and 1/4 in one_quarter(): identical loops, run 3:1
 *   ratio-nofp  the same, built without frame pointers (libunwind's path)
 *   busy N      N threads spinning
 *   churn       threads created and exiting all the time, each busy ~5 ms
 *   sigprof     installs its own SIGPROF handler, then idles
 *   sigprof-late spins, and installs its own SIGPROF handler at SIGUSR1
 *   many        spins at the end of call chains of 1..50 frames: fifty
 *               distinct stacks */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static volatile uint64_t sink;

static void on_term(int sig)
{
    (void)sig;
    stop = 1;
}

/* One unit of work: a fixed instruction sequence (an LCG), ~10 us. */
#define UNIT_STEPS 20000
#define SPIN(x, n)                                                                    \
    for (int i_ = 0; i_ < (n); i_++)                                                  \
        x = x * 6364136223846793005ull + 1442695040888963407ull;

/* noipa: the identical loops must stay two functions (no ICF, no inlining). */
__attribute__((noipa)) static uint64_t three_quarters(uint64_t x)
{
    SPIN(x, 3 * UNIT_STEPS)
    return x;
}

__attribute__((noipa)) static uint64_t one_quarter(uint64_t x)
{
    SPIN(x, UNIT_STEPS)
    return x ^ 1;
}

__attribute__((noipa)) static void ratio_loop(void)
{
    uint64_t x = 1;
    while (!stop) {
        x = three_quarters(x);
        x = one_quarter(x);
        sink = x;
    }
}

/* The same again in code without frame pointers: rbp is a general register
 * there, so only the DWARF unwinder can name the callers. */
#define NOFP __attribute__((noipa, optimize("omit-frame-pointer")))
NOFP static uint64_t three_quarters_nofp(uint64_t x)
{
    SPIN(x, 3 * UNIT_STEPS)
    return x + (x >> 7);
}

NOFP static uint64_t one_quarter_nofp(uint64_t x)
{
    SPIN(x, UNIT_STEPS)
    return x + (x >> 9);
}

NOFP static void ratio_loop_nofp(void)
{
    uint64_t x = 1;
    while (!stop) {
        x = three_quarters_nofp(x);
        x = one_quarter_nofp(x);
        sink = x;
    }
}

__attribute__((noipa)) static void *spin_forever(void *arg)
{
    (void)arg;
    uint64_t x = 1;
    while (!stop) {
        SPIN(x, UNIT_STEPS)
        sink = x;
    }
    return NULL;
}

__attribute__((noipa)) static void *short_lived(void *arg)
{
    (void)arg;
    struct timespec t0, t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
    uint64_t x = 1;
    do {
        SPIN(x, 1000)
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    } while ((t.tv_sec - t0.tv_sec) * 1000000000l + t.tv_nsec - t0.tv_nsec < 5000000);
    sink = x;
    return NULL;
}

static void churn(void)
{
    while (!stop) {
        pthread_t t[4];
        for (int i = 0; i < 4; i++)
            pthread_create(&t[i], NULL, short_lived, NULL);
        for (int i = 0; i < 4; i++)
            pthread_join(t[i], NULL);
    }
}

static uint64_t nested(int depth, uint64_t x);
/* Called through a volatile pointer: the compiler cannot fold the
 * recursion into a loop, so each level is a real frame. */
static uint64_t (*volatile nested_call)(int, uint64_t) = nested;

__attribute__((noipa)) static uint64_t nested(int depth, uint64_t x)
{
    if (depth > 0)
        return nested_call(depth - 1, x) + 1;
    SPIN(x, UNIT_STEPS)
    return x;
}

static void many_stacks(void)
{
    uint64_t x = 1;
    for (int depth = 0; !stop; depth = (depth + 1) % 50)
        x = nested(depth, x);
    sink = x;
}

static volatile sig_atomic_t usr1;

static void on_usr1(int sig)
{
    (void)sig;
    usr1 = 1;
}

static void host_sigprof(int sig)
{
    (void)sig;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "ratio";
    signal(SIGTERM, on_term);
    if (strcmp(mode, "ratio") == 0) {
        ratio_loop();
    } else if (strcmp(mode, "ratio-nofp") == 0) {
        ratio_loop_nofp();
    } else if (strcmp(mode, "busy") == 0) {
        int n = argc > 2 ? atoi(argv[2]) : 2;
        pthread_t t[64];
        for (int i = 0; i < n && i < 64; i++)
            pthread_create(&t[i], NULL, spin_forever, NULL);
        for (int i = 0; i < n && i < 64; i++)
            pthread_join(t[i], NULL);
    } else if (strcmp(mode, "churn") == 0) {
        churn();
    } else if (strcmp(mode, "many") == 0) {
        many_stacks();
    } else if (strcmp(mode, "sigprof-late") == 0) {
        signal(SIGUSR1, on_usr1);
        uint64_t x = 1;
        int installed = 0;
        while (!stop) {
            SPIN(x, 1000)
            sink = x;
            if (!installed && usr1) {
                signal(SIGPROF, host_sigprof);
                installed = 1;
                printf("installed\n");
                fflush(stdout);
            }
        }
    } else if (strcmp(mode, "sigprof") == 0) {
        signal(SIGPROF, host_sigprof);
        while (!stop)
            pause();
    } else {
        fprintf(stderr, "unknown mode %s\n", mode);
        return 2;
    }
    return 0;
}
