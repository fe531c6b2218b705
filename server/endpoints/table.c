/*
 * table — the endpoints, in the index page's order (alphabetical, as Go
 * lists its profiles). See endpoints.h.
 */
#include <string.h>

#include "server/endpoints/endpoints.h"

/* Bring files.c (profiles written at exit) into every static link that has
 * a server: nothing calls it, its constructor and destructor do the work. */
__attribute__((used)) static const char *const pull_files = &pprofd__files_linked;

const pprofd__endpoint pprofd__endpoints[] = {
    {"allocs", "A sampling of all past memory allocations", pprofd__handle_allocs,
     pprofd__count_heap, 0},
    {"block",
     "Stack traces that led to blocking on synchronization primitives (not recorded yet: "
     "always empty)",
     pprofd__handle_block, pprofd__count_contention, 0},
    {"cmdline", "The command line invocation of the current program", pprofd__handle_cmdline,
     NULL, 0},
    {"goroutine", "Stack traces of all current threads (Go's name for the threads profile)",
     pprofd__handle_goroutine, pprofd__count_threads, 0},
    {"heap", "A sampling of memory allocations of live objects. You can specify the gc GET "
             "parameter to run GC before taking the heap sample.",
     pprofd__handle_heap, pprofd__count_heap, 0},
    {"mutex", "Stack traces of holders of contended mutexes (not recorded yet: always empty)",
     pprofd__handle_mutex, pprofd__count_contention, 0},
    {"profile", "CPU profile. You can specify the duration in the seconds GET parameter. After "
                "you get the profile file, use the go tool pprof command to investigate the "
                "profile.",
     pprofd__handle_cpu_profile, NULL, 0},
    {"symbol", "Maps program counters to function names (pprof's remote symbolization)",
     pprofd__handle_symbol, NULL, 1},
    {"threadcreate", "Stack traces that led to the creation of new OS threads",
     pprofd__handle_threadcreate, pprofd__count_threadcreate, 0},
    {"threads", "Stack traces of all current threads", pprofd__handle_threads,
     pprofd__count_threads, 0},
    {0},
};

const pprofd__endpoint *pprofd__endpoint_find(const char *name)
{
    for (const pprofd__endpoint *ep = pprofd__endpoints; ep->name; ep++)
        if (strcmp(ep->name, name) == 0)
            return ep;
    return NULL;
}
