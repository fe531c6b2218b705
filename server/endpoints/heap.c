/*
 * handlers — one function per endpoint: parameters, errors, and the walk
 * over sampler tables that turns raw counts into a profile.
 */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sampler/heap.h"
#include "sampler/stacktab.h"
#include "sampler/threads.h"
#include "server/text/text.h"
#include "server/endpoints/endpoints.h"
#include "server/http/http.h"

/* ---- heap and allocs ----
 *
 * Both read the same table of sampled stacks (sampler/heap.h); they differ
 * only in the default sample type and the file name. A request copies the
 * counters out once (the sampler keeps writing meanwhile; the copy is
 * consistent per counter, not across the table). The counters are already
 * estimates (the sampler weighs each sample as it takes it), so a profile
 * shows them as they are: no unsampling here, and a delta is a plain
 * difference. O(stacks) time and memory per request, on the server's
 * thread.
 */

/* alloc_objects, alloc_space, inuse_objects, inuse_space of one record. */
static void heap_values(const int64_t c[PPROFD_HEAP_COUNTERS], int64_t v[4])
{
    v[0] = pprofd__heap_objects(c[PPROFD_HEAP_ALLOCS]);
    v[1] = c[PPROFD_HEAP_ALLOC_BYTES];
    v[2] = pprofd__heap_objects(c[PPROFD_HEAP_ALLOCS] - c[PPROFD_HEAP_FREES]);
    v[3] = c[PPROFD_HEAP_ALLOC_BYTES] - c[PPROFD_HEAP_FREE_BYTES];
}

typedef struct heap_snapshot {
    pprofd__heap_record *recs;
    size_t len, cap;
    int failed;
    pprofd__heap_stats stats;
    long long time_nanos;
} heap_snapshot;

static void snapshot_one(pprofd__stack *st, void *arg)
{
    heap_snapshot *h = arg;
    if (h->failed)
        return;
    if (h->len == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 256;
        pprofd__heap_record *r = realloc(h->recs, cap * sizeof *r);
        if (!r) {
            h->failed = 1;
            return;
        }
        h->recs = r;
        h->cap = cap;
    }
    pprofd__heap_record *r = &h->recs[h->len];
    r->stack = st;
    for (int i = 0; i < PPROFD_HEAP_COUNTERS; i++)
        r->c[i] = atomic_load_explicit(&st->counters[i], memory_order_relaxed);
    if (r->c[PPROFD_HEAP_SAMPLES] == 0)
        return; /* interned, its sample then dropped: nothing to show */
    /* Frees are counted after allocs; a racing read may see more frees. */
    static const int pairs[3][2] = {{PPROFD_HEAP_SAMPLES, PPROFD_HEAP_FREED},
                                    {PPROFD_HEAP_ALLOCS, PPROFD_HEAP_FREES},
                                    {PPROFD_HEAP_ALLOC_BYTES, PPROFD_HEAP_FREE_BYTES}};
    for (int i = 0; i < 3; i++)
        if (r->c[pairs[i][1]] > r->c[pairs[i][0]])
            r->c[pairs[i][1]] = r->c[pairs[i][0]];
    h->len++;
}

static int by_stack(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)((const pprofd__heap_record *)a)->stack;
    uintptr_t y = (uintptr_t)((const pprofd__heap_record *)b)->stack;
    return (x > y) - (x < y);
}

/* Copy every stack's counters, sorted by stack address (for deltas). */
static int take_snapshot(heap_snapshot *h)
{
    memset(h, 0, sizeof *h);
    h->time_nanos = pprofd__now_nanos();
    pprofd__stacktab_foreach(pprofd__heap_stacks(), snapshot_one, h);
    pprofd__heap_get_stats(&h->stats);
    if (h->failed) {
        free(h->recs);
        h->recs = NULL;
        return -1;
    }
    if (h->len)
        qsort(h->recs, h->len, sizeof h->recs[0], by_stack);
    return 0;
}

/* after -= before, stack by stack; records with nothing left go. */
static void subtract_snapshot(heap_snapshot *after, const heap_snapshot *before)
{
    size_t out = 0;
    for (size_t i = 0; i < after->len; i++) {
        pprofd__heap_record r = after->recs[i];
        const pprofd__heap_record *b =
            bsearch(&r, before->recs, before->len, sizeof r, by_stack);
        int zero = 1;
        for (int k = 0; k < PPROFD_HEAP_COUNTERS; k++) {
            if (b)
                r.c[k] -= b->c[k];
            zero = zero && r.c[k] == 0;
        }
        if (!zero)
            after->recs[out++] = r;
    }
    after->len = out;
    after->stats.dropped -= before->stats.dropped;
    after->stats.dropped_weight -= before->stats.dropped_weight;
    after->stats.dropped_bytes -= before->stats.dropped_bytes;
}

/* Samples the cap made us drop: their allocations under a [lost] frame, and
 * a comment saying why. Their frees were never seen, so in-use is 0. */
static int add_lost(pprofd__profile *p, const pprofd__heap_stats *st, int delta)
{
    if (st->dropped == 0)
        return 0;
    char comment[256];
    snprintf(comment, sizeof comment,
             "pprofd: %llu heap samples (about %lld bytes of allocations) dropped %s: the "
             "sampler's memory reached its cap of %zu bytes (PPROFD_MEM_CAP); [lost] holds "
             "their allocations, their in-use share is unknown",
             (unsigned long long)st->dropped, (long long)st->dropped_bytes,
             delta ? "during this interval" : "since the start", st->cap);
    pprofd__profile_add_comment(p, comment);
    int64_t v[4] = {pprofd__heap_objects(st->dropped_weight), st->dropped_bytes, 0, 0};
    return pprofd__profile_add_sample(p, "[lost]", NULL, 0, v, NULL, 0);
}

static pprofd__profile *heap_profile(const heap_snapshot *h, long rate, const char *default_type,
                                     long long duration_nanos, int delta)
{
    pprofd__profile *p = pprofd__profile_new();
    if (!p)
        return NULL;
    pprofd__profile_add_sample_type(p, "alloc_objects", "count");
    pprofd__profile_add_sample_type(p, "alloc_space", "bytes");
    pprofd__profile_add_sample_type(p, "inuse_objects", "count");
    pprofd__profile_add_sample_type(p, "inuse_space", "bytes");
    pprofd__profile_set_period(p, "space", "bytes", rate);
    pprofd__profile_set_default_sample_type(p, default_type);
    /* C++: the allocating frame is new's caller, not libstdc++'s operator
     * (pprof drops the same frames from legacy heap profiles). */
    pprofd__profile_set_drop_frames(p, "operator new(\\[\\])?");
    pprofd__profile_set_time(p, h->time_nanos - duration_nanos, duration_nanos);
    int failed = 0;
    for (size_t i = 0; i < h->len && !failed; i++) {
        const pprofd__heap_record *r = &h->recs[i];
        int64_t v[4];
        heap_values(r->c, v);
        failed = pprofd__profile_add_sample(p, NULL, r->stack->pcs, (int)r->stack->depth, v,
                                            NULL, 0) < 0;
    }
    if (failed || add_lost(p, &h->stats, delta) < 0) {
        pprofd__profile_free(p);
        return NULL;
    }
    return p;
}

static enum MHD_Result serve_heap(pprofd__request *req, const char *name,
                                  const char *default_type)
{
    enum MHD_Result result;
    long seconds = 0, debug = 0;
    int delta = pprofd__query_seconds(req, &seconds, &result);
    if (delta < 0)
        return result;
    if (pprofd__query_long(req, "debug", 0, 1000000, &debug, &result) < 0)
        return result;
    /* ?gc=N is Go's "collect garbage first": nothing to collect in C, so it
     * is accepted, whatever its value, and ignored. */
    if (delta && debug)
        return pprofd__respond_error(req, MHD_HTTP_BAD_REQUEST,
                                     "seconds and debug params are incompatible");
    long rate = pprofd__heap_rate();

    heap_snapshot before = {0}, now = {0};
    pprofd__profile *p = NULL;
    char filename[64];
    snprintf(filename, sizeof filename, "%s%s", name, delta ? "-delta" : "");
    if (delta) {
        if (take_snapshot(&before) < 0)
            goto oom;
        if (pprofd__wait(req, seconds * 1000)) {
            /* Hung up or shutting down: nobody to answer. */
            free(before.recs);
            return MHD_NO;
        }
    }
    if (take_snapshot(&now) < 0)
        goto oom;
    if (debug) {
        result = pprofd__respond_heap_text(req, now.recs, now.len, rate, &now.stats);
        free(now.recs);
        return result;
    }
    if (delta)
        subtract_snapshot(&now, &before);
    p = heap_profile(&now, rate, default_type, delta ? now.time_nanos - before.time_nanos : 0,
                     delta);
    free(before.recs);
    free(now.recs);
    if (!p)
        return pprofd__respond_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    return pprofd__respond_profile(req, filename, p);
oom:
    free(before.recs);
    free(now.recs);
    return pprofd__respond_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
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

/* ---- threads: the index page's count ---- */

static long count_threads(void)
{
    pid_t *tids = NULL;
    int n = 0;
    if (pprofd__threads_list_tasks(&tids, &n) < 0)
        return 0;
    free(tids);
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
