/*
 * text/heap — heap and allocs, debug=1.
 *
 * The legacy text heap profile, which pprof still parses:
 *
 *   heap profile: <inuse objs>: <inuse bytes> [<alloc objs>: <alloc bytes>] @ heapprofile
 *   <inuse objs>: <inuse bytes> [<alloc objs>: <alloc bytes>] @ 0x<pc> 0x<pc> ...
 *   #	0x<pc>	<function>	<file>:<line>
 *   ...
 *
 * Go writes raw sample counts under "@ heap/<2*rate>" and leaves the reader
 * to unsample each line from its size. Our counts are estimates already
 * (heap.h), so the header is gperftools' "@ heapprofile", which tells
 * pprof to take them as they are; the numbers a person reads with curl are
 * the ones pprof shows. The sampling rate is in the "# pprofd" section.
 * Stacks are sorted by in-use bytes, largest first. Addresses on the "@"
 * line are return addresses, as Go prints them; frames follow by name
 * (function+offset is not known to our symbolizer, so no offset). A
 * "# pprofd" and a "# glibc" section close it, as Go's # runtime.MemStats.
 */
#include <malloc.h>
#include <stdlib.h>

#include "server/symbolize/symbols.h"
#include "server/text/text.h"

static int64_t inuse_bytes(const pprofd__stack_record *r)
{
    return r->c[PPROFD_HEAP_ALLOC_BYTES] - r->c[PPROFD_HEAP_FREE_BYTES];
}

static long long objects(int64_t weight)
{
    return (long long)pprofd__heap_objects(weight);
}

static int by_inuse_bytes(const void *a, const void *b)
{
    int64_t x = inuse_bytes(a), y = inuse_bytes(b);
    return (x < y) - (x > y);
}

static void print_frames(uintptr_t pc, const pprofd__frame *frames, int n, void *arg)
{
    pprofd__strbuf *b = arg;
    if (n == 0) {
        pprofd__strbuf_printf(b, "#\t%#lx\n", (unsigned long)pc);
        return;
    }
    for (int i = 0; i < n; i++) {
        if (frames[i].file[0])
            pprofd__strbuf_printf(b, "#\t%#lx\t%s\t%s:%lld\n", (unsigned long)pc, frames[i].name,
                      frames[i].file, (long long)frames[i].line);
        else
            pprofd__strbuf_printf(b, "#\t%#lx\t%s\n", (unsigned long)pc, frames[i].name);
    }
}

void pprofd__text_heap(pprofd__strbuf *b, pprofd__stack_snapshot *s, long rate,
                       const pprofd__heap_stats *stats)
{
    pprofd__stack_record *recs = s->recs;
    size_t n = s->len;
    if (n)
        qsort(recs, n, sizeof recs[0], by_inuse_bytes);
    int64_t total[PPROFD_HEAP_COUNTERS] = {0};
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < PPROFD_HEAP_COUNTERS; k++)
            total[k] += recs[i].c[k];
    pprofd__strbuf_printf(b, "heap profile: %lld: %lld [%lld: %lld] @ heapprofile\n",
              objects(total[PPROFD_HEAP_ALLOCS] - total[PPROFD_HEAP_FREES]),
              (long long)(total[PPROFD_HEAP_ALLOC_BYTES] - total[PPROFD_HEAP_FREE_BYTES]),
              objects(total[PPROFD_HEAP_ALLOCS]), (long long)total[PPROFD_HEAP_ALLOC_BYTES]);
    for (size_t i = 0; i < n && !b->failed; i++) {
        const pprofd__stack_record *r = &recs[i];
        pprofd__strbuf_printf(b, "%lld: %lld [%lld: %lld] @",
                  objects(r->c[PPROFD_HEAP_ALLOCS] - r->c[PPROFD_HEAP_FREES]),
                  (long long)inuse_bytes(r), objects(r->c[PPROFD_HEAP_ALLOCS]),
                  (long long)r->c[PPROFD_HEAP_ALLOC_BYTES]);
        /* Stored as call sites (return address - 1); shown as Go does. */
        for (uint32_t k = 0; k < r->depth; k++)
            pprofd__strbuf_printf(b, " %#lx", (unsigned long)(r->pcs[k] + 1));
        pprofd__strbuf_printf(b, "\n");
        for (uint32_t k = 0; k < r->depth; k++)
            pprofd__symbolize(r->pcs[k], print_frames, b);
        pprofd__strbuf_printf(b, "\n");
    }
    pprofd__strbuf_printf(b,
              "\n# pprofd\n# SampleRate = %ld\n# SamplerMemory = %zu\n# SamplerMemoryCap = %zu\n"
              "# DroppedSamples = %llu\n# DroppedBytes = %lld\n# LiveSampledObjects = %zu\n",
              rate, stats->memory, stats->cap, (unsigned long long)stats->dropped,
              (long long)stats->dropped_bytes, stats->live_objects);
    s->sorted = 0;
}
