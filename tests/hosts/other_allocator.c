/* A program linked with another allocator (built twice: -ljemalloc and
 * -ltcmalloc) that knows nothing of pprofd. It asks its allocator about
 * every block (malloc_usable_size, the allocator's own), so a block from
 * any other allocator crashes it. c_site keeps 16 MiB live through malloc,
 * aligned_site 8 MiB through posix_memalign and realloc_site 8 MiB grown by
 * realloc; churn_site allocates and frees 64 MiB. Prints "ready", runs
 * until SIGTERM, then frees everything and exits 0. */
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MIB (1u << 20)

static volatile sig_atomic_t stop;
static void *kept[8192];
static int nkept;
static size_t usable;

static void keep(void *p, size_t size)
{
    if (!p || malloc_usable_size(p) < size) {
        fprintf(stderr, "bad block %p of %zu\n", p, size);
        exit(1);
    }
    usable += malloc_usable_size(p);
    memset(p, 1, size);
    kept[nkept++] = p;
}

__attribute__((noinline)) void c_site(void)
{
    for (size_t total = 0; total < 16 * MIB; total += 8192)
        keep(malloc(8192), 8192);
}

__attribute__((noinline)) void aligned_site(void)
{
    for (size_t total = 0; total < 8 * MIB; total += 4096) {
        void *p = NULL;
        if (posix_memalign(&p, 64, 4096) != 0)
            exit(1);
        keep(p, 4096);
    }
}

__attribute__((noinline)) void realloc_site(void)
{
    for (size_t total = 0; total < 8 * MIB; total += 16384) {
        void *p = malloc(100);
        keep(p = realloc(p, 16384), 16384);
        nkept--; /* keep() counted the grown block once */
        kept[nkept++] = p;
    }
}

__attribute__((noinline)) void churn_site(void)
{
    for (size_t total = 0; total < 64 * MIB; total += 4096) {
        char *p = calloc(1, 4096);
        if (!p || malloc_usable_size(p) < 4096)
            exit(1);
        free(p);
    }
}

static void on_term(int sig)
{
    (void)sig;
    stop = 1;
}

int main(void)
{
    signal(SIGTERM, on_term);
    c_site();
    aligned_site();
    realloc_site();
    churn_site();
    char *s = strdup("libc's own allocations come here too");
    free(s);
    printf("ready\n");
    fflush(stdout);
    while (!stop)
        pause();
    for (int i = 0; i < nkept; i++)
        free(kept[i]);
    printf("usable %zu\n", usable);
    return 0;
}
