/* An ordinary program that knows nothing of pprofd: it keeps some memory,
 * churns more, and runs until killed. Built with the default flags (no
 * frame pointers forced, no -rdynamic): pprofd must cope under LD_PRELOAD. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *volatile keep[2048];
static volatile sig_atomic_t stop;

static void on_term(int sig)
{
    (void)sig;
    stop = 1;
}

__attribute__((noinline)) static void hold_records(void)
{
    for (int i = 0; i < 2048; i++) {
        keep[i] = malloc(8192);
        memset(keep[i], i, 8192);
    }
}

__attribute__((noinline)) static void churn_strings(void)
{
    for (int i = 0; i < 500; i++) {
        char *s = strdup("a string the host makes and drops again, over and over");
        free(s);
        void *p = malloc(1000 + (size_t)i);
        free(p);
    }
}

static void *worker(void *arg)
{
    (void)arg;
    while (!stop) {
        churn_strings();
        usleep(1000);
    }
    return NULL;
}

int main(void)
{
    signal(SIGTERM, on_term);
    hold_records();
    /* Tests wait for this line: the server (started by the constructor,
     * before main) may be asked before the memory above is all there. */
    printf("host: ready\n");
    fflush(stdout);
    pthread_t t;
    pthread_create(&t, NULL, worker, NULL);
    while (!stop)
        pause();
    pthread_join(t, NULL);
    for (int i = 0; i < 2048; i++)
        free(keep[i]);
    return 0;
}
