/*
 * text — human-readable forms: the index page (and, as they land, the
 * debug=1 / debug=2 text profiles).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sampler/heap.h"
#include "server/server.h"
#include "server/symbols.h"

/* A growable string for building pages. */
typedef struct strbuf {
    char *data;
    size_t len, cap;
    int failed;
} strbuf;

static void sb_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(strbuf *b, const char *fmt, ...)
{
    if (b->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->data ? b->data + b->len : NULL, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap - b->len <= (size_t)n)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d) {
            b->failed = 1;
            return;
        }
        b->data = d;
        b->cap = cap;
    }
}

enum MHD_Result pprofd__handle_index(pprofd__request *req)
{
    strbuf b = {0};
    sb_printf(&b,
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
        sb_printf(&b, "<tr><td>%s</td><td><a href='%s%s'>%s</a></td></tr>\n", count, ep->name,
                  textual ? "?debug=1" : "", ep->name);
    }
    sb_printf(&b, "</table>\n<a href=\"threads?debug=2\">full thread stack dump</a>\n<br>\n"
                  "<p>\nProfile Descriptions:\n<ul>\n");
    for (const pprofd__endpoint *ep = pprofd__endpoints; ep->name; ep++)
        sb_printf(&b, "<li><div class=profile-name>%s: </div> %s</li>\n", ep->name,
                  ep->description);
    sb_printf(&b, "<p>Contention profiling does not exist in pprofd yet: mutex and block "
                  "answer valid profiles with no samples.</p>\n");
    pprofd__heap_stats hs;
    pprofd__heap_get_stats(&hs);
    sb_printf(&b,
              "</ul>\n</p>\n<p>pprofd %s: heap sampling every %ld bytes on average; "
              "%zu sampled objects live; sampler memory %zu bytes; %llu samples dropped; "
              "symbol cache %zu bytes.</p>\n</body>\n</html>\n",
              PPROFD_VERSION, pprofd__heap_rate(), hs.live_objects, hs.memory,
              (unsigned long long)hs.dropped, pprofd__symbols_memory());
    if (b.failed) {
        free(b.data);
        return pprofd__respond_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    }
    enum MHD_Result r =
        pprofd__respond_text(req, MHD_HTTP_OK, "text/html; charset=utf-8", b.data, b.len);
    free(b.data);
    return r;
}
