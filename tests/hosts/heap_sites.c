/* A program that knows nothing of pprofd (unless built as
 * host-heap_sites_linked, which starts the server itself): each *_site
 * function keeps SITE_BYTES live through one allocation entry point, and
 * churn_site allocates and frees 100 MiB in 100-byte objects. It checks that
 * malloc_usable_size stays truthful for every object, says "ready" on
 * stdout, and on SIGUSR1 runs delta_site (another SITE_BYTES, kept) and
 * says "delta done". Runs until SIGTERM, then frees everything. */
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef PPROFD_LINKED
#include <pprofd.h>
#endif

#define SITE_BYTES (12u << 20)
#define MAX_OBJECTS 4096

static void *kept[16][MAX_OBJECTS];
static int nkept[16];
static volatile sig_atomic_t stop, delta_wanted;

static void on_signal(int sig)
{
    if (sig == SIGTERM)
        stop = 1;
    else
        delta_wanted = 1;
}

static void keep(int site, void *p, size_t size)
{
    if (!p || malloc_usable_size(p) < size) {
        fprintf(stderr, "site %d: %s\n", site, p ? "malloc_usable_size too small" : "NULL");
        exit(3);
    }
    memset(p, site, size);
    kept[site][nkept[site]++] = p;
}

__attribute__((noinline)) static void malloc_site(void)
{
    static const size_t sizes[] = {64, 512, 3000, 4096, 16384};
    for (size_t total = 0, i = 0; total < SITE_BYTES; i++) {
        size_t s = sizes[i % 5];
        keep(0, malloc(s), s);
        total += s;
    }
}

__attribute__((noinline)) static void calloc_site(void)
{
    for (size_t total = 0; total < SITE_BYTES; total += 4096)
        keep(1, calloc(256, 16), 4096);
}

__attribute__((noinline)) static void realloc_site(void)
{
    /* Each object starts small and grows: the small one is freed (moved) or
     * resized in place; only the final 4096 bytes stay in use. */
    for (size_t total = 0; total < SITE_BYTES; total += 4096) {
        char *p = malloc(100);
        p = realloc(p, 1000);
        keep(2, realloc(p, 4096), 4096);
    }
}

__attribute__((noinline)) static void reallocarray_site(void)
{
    for (size_t total = 0; total < SITE_BYTES; total += 4096)
        keep(3, reallocarray(NULL, 1024, 4), 4096);
}

__attribute__((noinline)) static void memalign_site(void)
{
    for (size_t total = 0; total < SITE_BYTES; total += 4096)
        keep(4, memalign(64, 4096), 4096);
}

__attribute__((noinline)) static void aligned_alloc_site(void)
{
    for (size_t total = 0; total < SITE_BYTES; total += 4096)
        keep(5, aligned_alloc(256, 4096), 4096);
}

__attribute__((noinline)) static void posix_memalign_site(void)
{
    for (size_t total = 0; total < SITE_BYTES; total += 4096) {
        void *p = NULL;
        if (posix_memalign(&p, 32, 4096) != 0)
            p = NULL;
        keep(6, p, 4096);
    }
}

__attribute__((noinline)) static void valloc_site(void)
{
    for (size_t total = 0; total < SITE_BYTES; total += 4096)
        keep(7, valloc(4096), 4096);
}

__attribute__((noinline)) static void pvalloc_site(void)
{
    /* pvalloc rounds up to a page: 4000 asks for 4096. */
    for (size_t total = 0; total < SITE_BYTES; total += 4096)
        keep(8, pvalloc(4000), 4096);
}

__attribute__((noinline)) static void strdup_site(void)
{
    /* libc's own call to malloc, from inside libc. */
    static char text[4096];
    memset(text, 'x', sizeof text - 1);
    for (size_t total = 0; total < SITE_BYTES; total += 4096)
        keep(9, strdup(text), 4096);
}

__attribute__((noinline)) static void churn_site(void)
{
    /* 100 MiB allocated, all freed again, 64 at a time. */
    void *window[64] = {0};
    for (int i = 0; i < (100 << 20) / 100; i++) {
        free(window[i & 63]);
        window[i & 63] = malloc(100);
        memset(window[i & 63], i, 100);
    }
    for (int i = 0; i < 64; i++)
        free(window[i]);
}

__attribute__((noinline)) static void delta_site(void)
{
    for (size_t total = 0; total < SITE_BYTES; total += 8192)
        keep(10, malloc(8192), 8192);
}

int main(void)
{
    signal(SIGTERM, on_signal);
    signal(SIGUSR1, on_signal);
#ifdef PPROFD_LINKED
    pprofd_server *server = pprofd_start(NULL); /* $PPROFD_ADDR */
    if (!server)
        return 1;
#endif
    malloc_site();
    calloc_site();
    realloc_site();
    reallocarray_site();
    memalign_site();
    aligned_alloc_site();
    posix_memalign_site();
    valloc_site();
    pvalloc_site();
    strdup_site();
    churn_site();
    printf("ready\n");
    fflush(stdout);
    while (!stop) {
        if (delta_wanted) {
            delta_wanted = 0;
            delta_site();
            printf("delta done\n");
            fflush(stdout);
        }
        usleep(10000);
    }
    for (int s = 0; s < 16; s++)
        for (int i = 0; i < nkept[s]; i++)
            free(kept[s][i]);
#ifdef PPROFD_LINKED
    pprofd_stop(server);
#endif
    return 0;
}
