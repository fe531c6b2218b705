/*
 * handlers — one function per endpoint: parameters, errors, and the walk
 * over sampler tables that turns raw counts into a profile.
 */
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sampler/heap.h"
#include "sampler/stacktab.h"
#include "server/dump.h"
#include "server/handlers_cpu.h"
#include "server/server.h"

/* ---- heap and allocs ---- */

typedef struct heap_walk {
    pprofd__profile *p;
    double rate;
    int failed;
} heap_walk;

/* Go's scaleHeapSample: a bucket of objects of one size s was sampled with
 * probability 1 - exp(-s/rate); divide by it. */
static void unsample(int64_t count, int64_t bytes, double rate, int64_t *count_out,
                     int64_t *bytes_out)
{
    if (count == 0 || bytes == 0) {
        *count_out = 0;
        *bytes_out = 0;
        return;
    }
    if (rate <= 1) {
        *count_out = count;
        *bytes_out = bytes;
        return;
    }
    double avg = (double)bytes / (double)count;
    double scale = 1.0 / (1.0 - exp(-avg / rate));
    *count_out = (int64_t)((double)count * scale);
    *bytes_out = (int64_t)((double)bytes * scale);
}

static void add_heap_sample(pprofd__stack *st, void *arg)
{
    heap_walk *w = arg;
    int64_t allocs = atomic_load_explicit(&st->counters[PPROFD_HEAP_ALLOCS], memory_order_relaxed);
    int64_t alloc_bytes =
        atomic_load_explicit(&st->counters[PPROFD_HEAP_ALLOC_BYTES], memory_order_relaxed);
    int64_t frees = atomic_load_explicit(&st->counters[PPROFD_HEAP_FREES], memory_order_relaxed);
    int64_t free_bytes =
        atomic_load_explicit(&st->counters[PPROFD_HEAP_FREE_BYTES], memory_order_relaxed);
    if (allocs == 0)
        return;
    /* Frees are counted after allocs; a racing read may see more frees. */
    if (frees > allocs)
        frees = allocs;
    if (free_bytes > alloc_bytes)
        free_bytes = alloc_bytes;
    int64_t v[4];
    unsample(allocs, alloc_bytes, w->rate, &v[0], &v[1]);
    unsample(allocs - frees, alloc_bytes - free_bytes, w->rate, &v[2], &v[3]);
    pprofd__label label = {.key = "bytes", .num = (int64_t)st->key, .unit = "bytes"};
    if (pprofd__profile_add_sample(w->p, NULL, st->pcs, (int)st->depth, v, &label, 1) < 0)
        w->failed = 1;
}

static enum MHD_Result serve_heap(pprofd__request *req, const char *filename,
                                  const char *default_type)
{
    pprofd__profile *p = pprofd__profile_new();
    if (!p)
        return pprofd__respond_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    long rate = pprofd__heap_rate();
    pprofd__profile_add_sample_type(p, "alloc_objects", "count");
    pprofd__profile_add_sample_type(p, "alloc_space", "bytes");
    pprofd__profile_add_sample_type(p, "inuse_objects", "count");
    pprofd__profile_add_sample_type(p, "inuse_space", "bytes");
    pprofd__profile_set_period(p, "space", "bytes", rate);
    pprofd__profile_set_default_sample_type(p, default_type);
    pprofd__profile_set_time(p, pprofd__now_nanos(), 0);

    heap_walk w = {.p = p, .rate = (double)rate};
    pprofd__stacktab_foreach(pprofd__heap_stacks(), add_heap_sample, &w);
    if (w.failed) {
        pprofd__profile_free(p);
        return pprofd__respond_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    }
    return pprofd__respond_profile(req, filename, p);
}

static enum MHD_Result handle_heap(pprofd__request *req)
{
    return serve_heap(req, "heap", "inuse_space");
}

static enum MHD_Result handle_allocs(pprofd__request *req)
{
    return serve_heap(req, "allocs", "alloc_space");
}

static long count_heap(void)
{
    return (long)atomic_load(&pprofd__heap_stacks()->count);
}

/* ---- cmdline ---- */

static enum MHD_Result handle_cmdline(pprofd__request *req)
{
    /* /proc/self/cmdline is argv with a NUL after each; Go joins with NUL
     * between, so drop the last one. */
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return pprofd__respond_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR,
                                     "cannot read /proc/self/cmdline");
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    ssize_t n;
    while (buf && (n = read(fd, buf + len, cap - len)) > 0) {
        len += (size_t)n;
        if (len == cap) {
            char *b = realloc(buf, cap *= 2);
            if (!b) {
                free(buf);
                buf = NULL;
            }
            buf = b;
        }
    }
    close(fd);
    if (!buf)
        return pprofd__respond_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    if (len > 0 && buf[len - 1] == 0)
        len--;
    enum MHD_Result r = pprofd__respond_text(req, MHD_HTTP_OK, "text/plain; charset=utf-8", buf, len);
    free(buf);
    return r;
}

/* ---- threads (count only, until the threads profile lands) ---- */

static long count_threads(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return 0;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

const pprofd__endpoint pprofd__endpoints[] = {
    {"allocs", "A sampling of all past memory allocations", handle_allocs, count_heap, 0},
    {"block",
     "Stack traces that led to blocking on synchronization primitives (not recorded yet: "
     "always empty)",
     pprofd__handle_block, pprofd__count_contention, 0},
    {"cmdline", "The command line invocation of the current program", handle_cmdline, NULL, 0},
    {"goroutine", "Stack traces of all current threads (Go's name for the threads profile)",
     pprofd__handle_goroutine, count_threads, 0},
    {"heap", "A sampling of memory allocations of live objects. You can specify the gc GET "
             "parameter to run GC before taking the heap sample.",
     handle_heap, count_heap, 0},
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
    {"threads", "Stack traces of all current threads", pprofd__handle_threads, count_threads, 0},
    {0},
};

const pprofd__endpoint *pprofd__endpoint_find(const char *name)
{
    for (const pprofd__endpoint *ep = pprofd__endpoints; ep->name; ep++)
        if (strcmp(ep->name, name) == 0)
            return ep;
    return NULL;
}
