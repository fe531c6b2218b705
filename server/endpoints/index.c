/*
 * index — /debug/pprof/: every endpoint of the table with its count, and
 * the sampler's figures; the page itself is text/index.c's.
 */
#include <string.h>

#include "server/endpoints/endpoints.h"
#include "server/symbolize/symbols.h"
#include "server/text/text.h"

/* Profiles whose debug=1 text form the index links to. */
static int has_text_form(const char *name)
{
    static const char *const textual[] = {"heap", "allocs", "threads", "goroutine",
                                          "threadcreate", "block", "mutex", NULL};
    for (int i = 0; textual[i]; i++)
        if (strcmp(name, textual[i]) == 0)
            return 1;
    return 0;
}

enum MHD_Result pprofd__handle_index(pprofd__request *req)
{
    pprofd__index_row rows[32];
    pprofd__index_view v = {.rows = rows};
    for (const pprofd__endpoint *ep = pprofd__endpoints;
         ep->name && v.nrows < sizeof rows / sizeof rows[0]; ep++) {
        rows[v.nrows++] = (pprofd__index_row){
            .name = ep->name,
            .description = ep->description,
            .has_count = ep->count != NULL,
            .count = ep->count ? ep->count() : 0,
            .has_text = has_text_form(ep->name),
        };
    }
    v.heap_rate = pprofd__heap_rate();
    pprofd__heap_get_stats(&v.heap);
    v.symbol_memory = pprofd__symbols_memory();
    v.heap_unsampled = pprofd__heap_not_sampled_why();
    pprofd__strbuf b = {0};
    pprofd__text_index(&b, &v);
    return pprofd__respond_strbuf(req, "text/html; charset=utf-8", &b);
}
