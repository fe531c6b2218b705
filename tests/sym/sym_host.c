/* The symbolization test host (test-e2e-symbols.sh). Knows nothing of
 * pprofd: it runs under LD_PRELOAD. Built -g -O1 -rdynamic, PIE and not.
 * Lines marked MARK: are found by the test with grep, so edits here keep
 * the test honest. */
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXPORTED __attribute__((visibility("default"), noinline))

static void *volatile keep_static[64];
static void *volatile keep_exported[64];
static volatile sig_atomic_t stop, load_plugin;

static void on_signal(int sig)
{
    if (sig == SIGUSR1)
        load_plugin = 1;
    else
        stop = 1;
}

/* Inlined into its caller at every call: the profile must still show it as
 * a frame of its own, with the caller's line under it. */
static inline __attribute__((always_inline)) void *inline_helper_alloc(size_t n)
{
    void *p = malloc(n); /* MARK: helper-malloc */
    memset(p, 1, n);
    return p;
}

/* Static: named only from .symtab (or DWARF), never from .dynsym. */
__attribute__((noinline)) static void static_holder(void)
{
    for (int i = 0; i < 64; i++)
        keep_static[i] = inline_helper_alloc(100000); /* MARK: static-call */
}

/* Exported (-rdynamic): a stripped copy still names it from .dynsym. */
EXPORTED void exported_holder(void)
{
    for (int i = 0; i < 64; i++) {
        keep_exported[i] = malloc(100000); /* MARK: exported-malloc */
        memset(keep_exported[i], 2, 100000);
    }
}

int main(int argc, char **argv)
{
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGUSR1, on_signal);
    static_holder();
    exported_holder();
    printf("host-sym: ready\n");
    fflush(stdout);
    while (!stop) {
        if (load_plugin && argc > 1) {
            load_plugin = 0;
            void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
            void (*entry)(void) = h ? (void (*)(void))dlsym(h, "plugin_entry") : NULL;
            if (!entry) {
                fprintf(stderr, "host-sym: cannot load %s: %s\n", argv[1], dlerror());
                return 1;
            }
            entry();
            printf("host-sym: plugin loaded\n");
            fflush(stdout);
        }
        usleep(10000);
    }
    return 0;
}
