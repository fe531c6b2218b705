/* A program that knows nothing of pprofd: 4 threads allocate and free
 * without pause while the main thread loads a library (libexpat) with
 * dlopen, has it allocate (XML_ParserCreate calls malloc from inside the
 * library), and unloads it with dlclose, 200 times. One parser in ten is
 * kept, so live sampled objects have stacks into a library that is gone.
 * Says "ready" when done (or "skip" without libexpat), then runs until
 * SIGTERM. */
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static _Atomic int churning = 1;

static void on_term(int sig)
{
    (void)sig;
    stop = 1;
}

static void *churn(void *arg)
{
    uint64_t x = (uintptr_t)arg * 0x9e3779b97f4a7c15ull;
    void *window[32] = {0};
    while (atomic_load(&churning)) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        unsigned slot = (unsigned)(x >> 59);
        free(window[slot]);
        window[slot] = malloc(16 + (size_t)(x % 3000));
    }
    for (int i = 0; i < 32; i++)
        free(window[i]);
    return NULL;
}

__attribute__((noinline)) static int dlopen_loop(void)
{
    for (int i = 0; i < 200; i++) {
        void *lib = dlopen("libexpat.so.1", RTLD_NOW | RTLD_LOCAL);
        if (!lib)
            return i == 0 ? 77 : 1;
        void *(*create)(const char *) = (void *(*)(const char *))dlsym(lib, "XML_ParserCreate");
        void (*destroy)(void *) = (void (*)(void *))dlsym(lib, "XML_ParserFree");
        if (!create || !destroy)
            return 1;
        void *parser = create(NULL);
        if (!parser)
            return 1;
        if (i % 10 != 0)
            destroy(parser); /* else kept: its memory outlives the library */
        if (dlclose(lib) != 0)
            return 1;
    }
    return 0;
}

int main(void)
{
    signal(SIGTERM, on_term);
    pthread_t t[4];
    for (long i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, churn, (void *)(i + 1));
    int rc = dlopen_loop();
    atomic_store(&churning, 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    if (rc != 0) {
        printf("%s\n", rc == 77 ? "skip" : "dlopen failed");
        fflush(stdout);
        return rc;
    }
    printf("ready\n");
    fflush(stdout);
    while (!stop)
        usleep(10000);
    return 0;
}
