/*
 * text — human-readable forms: the index page, the heap's debug=1 text
 * profile (and, as they land, the other debug=1 / debug=2 forms).
 */
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sampler/heap.h"
#include "server/http/http.h"
#include "server/text/strbuf.h"
#include "server/symbolize/symbols.h"

enum MHD_Result pprofd__handle_index(pprofd__request *req)
{
    pprofd__strbuf b = {0};
    pprofd__strbuf_printf(&b,
              "<html>\n<head>\n<title>/debug/pprof/</title>\n<style>\n"
              ".profile-name{\n\tdisplay:inline-block;\n\twidth:6rem;\n}\n</style>\n</head>\n"
              "<body>\n/debug/pprof/\n<br>\n<p>Set debug=1 as a query parameter to export in "
              "legacy text format</p>\n<br>\nTypes of profiles available:\n<table>\n"
              "<thead><td>Count</td><td>Profile</td></thead>\n");
    for (const pprofd__endpoint *ep = pprofd__endpoints; ep->name; ep++) {
        char count[32] = "";
        if (ep->count)
            snprintf(count, sizeof count, "%ld", ep->count());
        int textual = strcmp(ep->name, "heap") == 0 || strcmp(ep->name, "allocs") == 0 ||
                      strcmp(ep->name, "threads") == 0 || strcmp(ep->name, "goroutine") == 0 ||
                      strcmp(ep->name, "threadcreate") == 0 || strcmp(ep->name, "block") == 0 ||
                      strcmp(ep->name, "mutex") == 0;
        pprofd__strbuf_printf(&b, "<tr><td>%s</td><td><a href='%s%s'>%s</a></td></tr>\n", count, ep->name,
                  textual ? "?debug=1" : "", ep->name);
    }
    pprofd__strbuf_printf(&b, "</table>\n<a href=\"threads?debug=2\">full thread stack dump</a>\n<br>\n"
                  "<p>\nProfile Descriptions:\n<ul>\n");
    for (const pprofd__endpoint *ep = pprofd__endpoints; ep->name; ep++)
        pprofd__strbuf_printf(&b, "<li><div class=profile-name>%s: </div> %s</li>\n", ep->name,
                  ep->description);
    pprofd__strbuf_printf(&b, "<p>Contention profiling does not exist in pprofd yet: mutex and block "
                  "answer valid profiles with no samples.</p>\n");
    pprofd__heap_stats hs;
    pprofd__heap_get_stats(&hs);
    pprofd__strbuf_printf(&b,
              "</ul>\n</p>\n<p>pprofd %s: heap sampling every %ld bytes on average; "
              "%zu sampled objects live; sampler memory %zu bytes of a %zu-byte cap; "
              "%llu samples dropped%s; symbol cache %zu bytes.</p>\n</body>\n</html>\n",
              PPROFD_VERSION, pprofd__heap_rate(), hs.live_objects, hs.memory, hs.cap,
              (unsigned long long)hs.dropped,
              hs.dropped ? " (memory cap reached: heap profiles show them as [lost]; raise "
                           "PPROFD_MEM_CAP)"
                         : "",
              pprofd__symbols_memory());
    return pprofd__respond_strbuf(req, "text/html; charset=utf-8", &b);
}

/* ---- heap, debug=1 ----
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

static int64_t inuse_bytes(const pprofd__heap_record *r)
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

enum MHD_Result pprofd__respond_heap_text(pprofd__request *req, pprofd__heap_record *recs,
                                          size_t n, long rate, const pprofd__heap_stats *stats)
{
    if (n)
        qsort(recs, n, sizeof recs[0], by_inuse_bytes);
    int64_t total[PPROFD_HEAP_COUNTERS] = {0};
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < PPROFD_HEAP_COUNTERS; k++)
            total[k] += recs[i].c[k];
    pprofd__strbuf b = {0};
    pprofd__strbuf_printf(&b, "heap profile: %lld: %lld [%lld: %lld] @ heapprofile\n",
              objects(total[PPROFD_HEAP_ALLOCS] - total[PPROFD_HEAP_FREES]),
              (long long)(total[PPROFD_HEAP_ALLOC_BYTES] - total[PPROFD_HEAP_FREE_BYTES]),
              objects(total[PPROFD_HEAP_ALLOCS]), (long long)total[PPROFD_HEAP_ALLOC_BYTES]);
    for (size_t i = 0; i < n && !b.failed; i++) {
        const pprofd__heap_record *r = &recs[i];
        pprofd__strbuf_printf(&b, "%lld: %lld [%lld: %lld] @",
                  objects(r->c[PPROFD_HEAP_ALLOCS] - r->c[PPROFD_HEAP_FREES]),
                  (long long)inuse_bytes(r), objects(r->c[PPROFD_HEAP_ALLOCS]),
                  (long long)r->c[PPROFD_HEAP_ALLOC_BYTES]);
        /* Stored as call sites (return address - 1); shown as Go does. */
        for (uint32_t k = 0; k < r->stack->depth; k++)
            pprofd__strbuf_printf(&b, " %#lx", (unsigned long)(r->stack->pcs[k] + 1));
        pprofd__strbuf_printf(&b, "\n");
        for (uint32_t k = 0; k < r->stack->depth; k++)
            pprofd__symbolize(r->stack->pcs[k], print_frames, &b);
        pprofd__strbuf_printf(&b, "\n");
    }
    pprofd__strbuf_printf(&b,
              "\n# pprofd\n# SampleRate = %ld\n# SamplerMemory = %zu\n# SamplerMemoryCap = %zu\n"
              "# DroppedSamples = %llu\n# DroppedBytes = %lld\n# LiveSampledObjects = %zu\n",
              rate, stats->memory, stats->cap, (unsigned long long)stats->dropped,
              (long long)stats->dropped_bytes, stats->live_objects);
    struct mallinfo2 mi = mallinfo2();
    pprofd__strbuf_printf(&b,
              "\n# glibc mallinfo2\n# Arena = %zu\n# Mmapped = %zu\n# InUse = %zu\n# Free = %zu\n"
              "# Releasable = %zu\n",
              mi.arena, mi.hblkhd, mi.uordblks, mi.fordblks, mi.keepcost);
    return pprofd__respond_strbuf(req, "text/plain; charset=utf-8", &b);
}
