/* fork() in a multi-threaded host while the heap sampler is busy: 4 threads
 * allocate, reallocate and free without pause (at rate 1 every call is in
 * the sampler's slow path, inside the unwinder or holding a shard lock),
 * while the main thread forks again and again. Each child allocates
 * (sampled, so it takes the sampler's locks), frees, and exits normally
 * through exit(), stdio flush included. A child that hangs (a lock left
 * held across fork) or dies is a failure. Then again at the default rate. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sampler/heap.h"
#include "tests/check.h"

#define THREADS 4
#define FORKS 20

static _Atomic int running;

static void *churn(void *arg)
{
    uint64_t x = (uintptr_t)arg * 0x9e3779b97f4a7c15ull;
    void *window[16] = {0};
    while (atomic_load_explicit(&running, memory_order_relaxed)) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        unsigned slot = (unsigned)(x >> 60);
        size_t size = 16 + (size_t)(x % 2000);
        if (x & 1)
            window[slot] = realloc(window[slot], size);
        else {
            free(window[slot]);
            window[slot] = malloc(size);
        }
        CHECK(window[slot] != NULL);
        memset(window[slot], 1, size);
    }
    for (int i = 0; i < 16; i++)
        free(window[i]);
    return NULL;
}

static void child(void)
{
    void *p[256];
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < 256; i++) {
            p[i] = malloc(32 + (size_t)i * 8);
            CHECK(p[i] != NULL);
        }
        for (int i = 0; i < 256; i++)
            free(p[i]);
    }
    char *s = strdup("the child allocates and exits normally");
    printf("%s\n", s);
    free(s);
    exit(0);
}

/* Wait for pid up to 30 s (a long time on a loaded machine; a deadlock is
 * forever). */
static int wait_child(pid_t pid)
{
    for (int i = 0; i < 3000; i++) {
        int status;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

static void run(long rate)
{
    pprofd__heap_set_rate(rate);
    atomic_store(&running, 1);
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++)
        CHECK(pthread_create(&t[i], NULL, churn, (void *)(i + 1)) == 0);
    for (int f = 0; f < FORKS; f++) {
        fflush(stdout);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0)
            child();
        int rc = wait_child(pid);
        CHECK_MSG(rc == 0, "rate %ld, fork %d: child %s (%d)", rate, f,
                  rc < 0 ? "hung: a lock was left held across fork" : "failed", rc);
    }
    atomic_store(&running, 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
}

int main(void)
{
#ifdef PPROFD_NO_INTERPOSE
    SKIP("built without the malloc interposer (sanitizer build)");
#endif
    run(1);
    run(524288);
    printf("test-heap-fork: ok\n");
    return 0;
}
