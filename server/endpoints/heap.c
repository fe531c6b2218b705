/*
 * heap — /debug/pprof/heap and /debug/pprof/allocs.
 *
 * Both read the same table of sampled stacks (sampler/heap.h); they differ
 * only in the default sample type and the file name. A request copies the
 * counters out once (the sampler keeps writing meanwhile; the copy is
 * consistent per counter, not across the table). The counters are already
 * estimates (the sampler weighs each sample as it takes it), so a profile
 * shows them as they are: no unsampling here, and a delta is a plain
 * difference of two snapshots. O(stacks) time and memory per request, on
 * the server's thread.
 */
#include <stdio.h>
#include <string.h>

#include "sampler/heap.h"
#include "sampler/stacktab.h"
#include "server/endpoints/endpoints.h"
#include "server/text/text.h"

/* alloc_objects, alloc_space, inuse_objects, inuse_space of one record. */
static void heap_values(const int64_t c[PPROFD_HEAP_COUNTERS], int64_t v[4])
{
    v[0] = pprofd__heap_objects(c[PPROFD_HEAP_ALLOCS]);
    v[1] = c[PPROFD_HEAP_ALLOC_BYTES];
    v[2] = pprofd__heap_objects(c[PPROFD_HEAP_ALLOCS] - c[PPROFD_HEAP_FREES]);
    v[3] = c[PPROFD_HEAP_ALLOC_BYTES] - c[PPROFD_HEAP_FREE_BYTES];
}

typedef struct heap_snapshot {
    pprofd__stack_snapshot stacks;
    pprofd__heap_stats stats;
    long long time_nanos;
} heap_snapshot;

/* Every sampled stack's counters and the sampler's figures. Stacks whose
 * one sample was dropped after interning have no counts and are left out
 * by the snapshot; frees are counted after allocs, so a racing read may
 * see more frees than allocs: those are clamped. */
static int take_snapshot(heap_snapshot *h)
{
    memset(h, 0, sizeof *h);
    h->time_nanos = pprofd__now_nanos();
    if (pprofd__stacktab_snapshot(pprofd__heap_stacks(), &h->stacks) < 0)
        return -1;
    pprofd__heap_get_stats(&h->stats);
    static const int pairs[3][2] = {{PPROFD_HEAP_SAMPLES, PPROFD_HEAP_FREED},
                                    {PPROFD_HEAP_ALLOCS, PPROFD_HEAP_FREES},
                                    {PPROFD_HEAP_ALLOC_BYTES, PPROFD_HEAP_FREE_BYTES}};
    for (size_t i = 0; i < h->stacks.len; i++) {
        int64_t *c = h->stacks.recs[i].c;
        for (int k = 0; k < 3; k++)
            if (c[pairs[k][1]] > c[pairs[k][0]])
                c[pairs[k][1]] = c[pairs[k][0]];
    }
    return 0;
}

/* after -= before. */
static int subtract_snapshot(heap_snapshot *after, const heap_snapshot *before)
{
    if (pprofd__stack_snapshot_subtract(&after->stacks, &before->stacks) < 0)
        return -1;
    after->stats.dropped -= before->stats.dropped;
    after->stats.dropped_weight -= before->stats.dropped_weight;
    after->stats.dropped_bytes -= before->stats.dropped_bytes;
    return 0;
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
    const char *unsampled = pprofd__heap_not_sampled_why();
    if (unsampled)
        pprofd__profile_add_comment(p, unsampled);
    int failed = 0;
    for (size_t i = 0; i < h->stacks.len && !failed; i++) {
        const pprofd__stack_record *r = &h->stacks.recs[i];
        int64_t v[4];
        heap_values(r->c, v);
        pprofd__label l[PPROFD_LABEL_PAIRS];
        int nl = pprofd__sample_labels((uint32_t)r->tag, l);
        failed = pprofd__profile_add_sample(p, NULL, r->pcs, (int)r->depth, v, l, nl) < 0;
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
            pprofd__stack_snapshot_free(&before.stacks);
            return MHD_NO;
        }
    }
    if (take_snapshot(&now) < 0)
        goto oom;
    if (debug) {
        pprofd__strbuf b = {0};
        pprofd__text_heap(&b, &now.stacks, rate, &now.stats);
        pprofd__stack_snapshot_free(&now.stacks);
        return pprofd__respond_strbuf(req, "text/plain; charset=utf-8", &b);
    }
    if (delta && subtract_snapshot(&now, &before) < 0)
        goto oom;
    p = heap_profile(&now, rate, default_type, delta ? now.time_nanos - before.time_nanos : 0,
                     delta);
    pprofd__stack_snapshot_free(&before.stacks);
    pprofd__stack_snapshot_free(&now.stacks);
    if (!p)
        return pprofd__respond_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    return pprofd__respond_profile(req, filename, p);
oom:
    pprofd__stack_snapshot_free(&before.stacks);
    pprofd__stack_snapshot_free(&now.stacks);
    return pprofd__respond_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
}

pprofd__profile *pprofd__heap_profile_now(const char *default_type)
{
    heap_snapshot now;
    if (take_snapshot(&now) < 0)
        return NULL;
    pprofd__profile *p = heap_profile(&now, pprofd__heap_rate(), default_type, 0, 0);
    pprofd__stack_snapshot_free(&now.stacks);
    return p;
}

enum MHD_Result pprofd__handle_heap(pprofd__request *req)
{
    return serve_heap(req, "heap", "inuse_space");
}

enum MHD_Result pprofd__handle_allocs(pprofd__request *req)
{
    return serve_heap(req, "allocs", "alloc_space");
}

long pprofd__count_heap(void)
{
    return (long)atomic_load(&pprofd__heap_stacks()->count);
}
