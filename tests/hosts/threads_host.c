/* An ordinary multi-threaded program that knows nothing of pprofd: named
 * threads, some busy, some blocked in read on a pipe, in
 * pthread_cond_wait, in nanosleep, one that blocks every signal, and a
 * spawner that starts one more thread each time the process gets SIGUSR1
 * (a handler writes to a pipe the spawner reads: any thread may take a
 * process-directed signal, including ones the host did not create). Prints
 * "ready" once every thread is in place; runs until killed.
 *
 * Threads come from known call sites, for threadcreate: spawn_sleepers()
 * makes 3, spawn_busy() 2, spawn_late() 1 per SIGUSR1. */
#define _GNU_SOURCE /* pthread_setname_np */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

static int pipe_fds[2];
static int spawn_fds[2];
static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t never_signalled = PTHREAD_COND_INITIALIZER;
static atomic_int ready;
static volatile unsigned long sink;

NOINLINE static void spin_forever(void)
{
    for (;;) {
        for (unsigned long i = 0; i < 200000; i++)
            sink += i;
        /* Busy, but leave the (shared) machine and the tests running
         * beside this one some room: a small duty cycle. */
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
}

NOINLINE static void read_pipe_forever(void)
{
    char c;
    for (;;)
        if (read(pipe_fds[0], &c, 1) < 0 && errno != EINTR)
            return;
}

NOINLINE static void wait_on_condition(void)
{
    pthread_mutex_lock(&mutex);
    for (;;)
        pthread_cond_wait(&never_signalled, &mutex);
}

NOINLINE static void sleep_in_nanosleep(void)
{
    for (;;) {
        /* A profiler's signal ends nanosleep early (EINTR): sleep again. */
        struct timespec ts = {3600, 0};
        nanosleep(&ts, NULL);
    }
}

NOINLINE static void block_every_signal(void)
{
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    atomic_fetch_add(&ready, 1);
    for (;;) {
        struct timespec ts = {3600, 0};
        nanosleep(&ts, NULL);
    }
}

NOINLINE static void late_sleeper(void)
{
    for (;;) {
        struct timespec ts = {3600, 0};
        nanosleep(&ts, NULL);
    }
}

static void *run_named(const char *name, void (*fn)(void), int counts_itself)
{
    pthread_setname_np(pthread_self(), name);
    if (!counts_itself)
        atomic_fetch_add(&ready, 1);
    fn();
    return NULL;
}

static void *busy_main(void *arg) { (void)arg; return run_named("busy", spin_forever, 0); }
static void *reader_main(void *arg) { (void)arg; return run_named("pipe-reader", read_pipe_forever, 0); }
static void *waiter_main(void *arg) { (void)arg; return run_named("cond-waiter", wait_on_condition, 0); }
static void *sleeper_main(void *arg) { (void)arg; return run_named("sleeper", sleep_in_nanosleep, 0); }
static void *blocker_main(void *arg) { (void)arg; return run_named("sig-blocker", block_every_signal, 1); }
static void *late_main(void *arg) { (void)arg; return run_named("late-sleeper", late_sleeper, 1); }

NOINLINE static void spawn_sleepers(void)
{
    pthread_t t;
    for (int i = 0; i < 3; i++)
        pthread_create(&t, NULL, sleeper_main, NULL);
}

NOINLINE static void spawn_busy(void)
{
    pthread_t t;
    for (int i = 0; i < 2; i++)
        pthread_create(&t, NULL, busy_main, NULL);
}

NOINLINE static void spawn_late(void)
{
    pthread_t t;
    pthread_create(&t, NULL, late_main, NULL);
}

static void on_usr1(int sig)
{
    (void)sig;
    int saved = errno;
    (void)!write(spawn_fds[1], "s", 1);
    errno = saved;
}

NOINLINE static void wait_for_spawn_requests(void)
{
    char c;
    for (;;)
        if (read(spawn_fds[0], &c, 1) == 1)
            spawn_late();
}

static void *spawner_main(void *arg) { (void)arg; return run_named("spawner", wait_for_spawn_requests, 0); }

int main(void)
{
    if (pipe(pipe_fds) < 0 || pipe(spawn_fds) < 0)
        return 1;
    struct sigaction sa = {.sa_handler = on_usr1, .sa_flags = SA_RESTART};
    sigaction(SIGUSR1, &sa, NULL);

    pthread_t t;
    spawn_sleepers();
    spawn_busy();
    pthread_create(&t, NULL, reader_main, NULL);
    pthread_create(&t, NULL, waiter_main, NULL);
    pthread_create(&t, NULL, blocker_main, NULL);
    pthread_create(&t, NULL, spawner_main, NULL);
    while (atomic_load(&ready) < 9) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    /* Threads announce themselves just before they block: give them a
     * moment to get there. */
    struct timespec settle = {0, 200000000};
    nanosleep(&settle, NULL);
    printf("ready\n");
    fflush(stdout);
    for (;;)
        pause();
}
