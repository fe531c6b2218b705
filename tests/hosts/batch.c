/* A short batch program that knows nothing of pprofd: burns about a second
 * of CPU in burn() (three quarters) and burn_less() (one quarter), keeps
 * 32 MiB through keep() and allocates and frees 64 MiB through churn(),
 * then returns from main. Argument "exit-thread": leaves by exit() from a
 * second thread instead. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MIB (1u << 20)

static volatile uint64_t sink;
static void *kept[8192];

static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

__attribute__((noipa)) static uint64_t spin(uint64_t x, int n)
{
    for (int i = 0; i < n; i++)
        x = x * 6364136223846793005ull + 1442695040888963407ull;
    return x;
}

__attribute__((noipa)) void burn(void)
{
    sink = spin(sink, 3 * 200000);
}

__attribute__((noipa)) void burn_less(void)
{
    sink = spin(sink, 200000);
}

__attribute__((noipa)) void keep(void)
{
    for (int i = 0; i < 4096; i++) {
        kept[i] = malloc(8192);
        memset(kept[i], 1, 8192);
    }
}

__attribute__((noipa)) void churn(void)
{
    for (size_t total = 0; total < 64 * MIB; total += 16384) {
        char *volatile p = malloc(16384); /* volatile: kept, not elided */
        p[0] = 1;
        free(p);
    }
}

static void *leave(void *arg)
{
    (void)arg;
    exit(0);
}

int main(int argc, char **argv)
{
    keep();
    churn();
    double until = cpu_seconds() + 1.0;
    while (cpu_seconds() < until) {
        burn();
        burn_less();
    }
    printf("done %llu\n", (unsigned long long)(sink & 1));
    fflush(stdout);
    if (argc > 1 && strcmp(argv[1], "exit-thread") == 0) {
        pthread_t t;
        pthread_create(&t, NULL, leave, NULL);
        pthread_join(t, NULL);
    }
    return 0;
}
