/*
 * text/index — the /debug/pprof/ page: Go's layout (a table of counts and
 * links, then the descriptions), and a last paragraph of pprofd's own.
 */
#include "server/text/text.h"

#include "pprofd.h"

void pprofd__text_index(pprofd__strbuf *b, const pprofd__index_view *v)
{
    pprofd__strbuf_printf(b,
              "<html>\n<head>\n<title>/debug/pprof/</title>\n<style>\n"
              ".profile-name{\n\tdisplay:inline-block;\n\twidth:6rem;\n}\n</style>\n</head>\n"
              "<body>\n/debug/pprof/\n<br>\n<p>Set debug=1 as a query parameter to export in "
              "legacy text format</p>\n<br>\nTypes of profiles available:\n<table>\n"
              "<thead><td>Count</td><td>Profile</td></thead>\n");
    for (size_t i = 0; i < v->nrows; i++) {
        const pprofd__index_row *r = &v->rows[i];
        pprofd__strbuf_printf(b, "<tr><td>");
        if (r->has_count)
            pprofd__strbuf_printf(b, "%ld", r->count);
        pprofd__strbuf_printf(b, "</td><td><a href='%s%s'>%s</a></td></tr>\n", r->name,
                              r->has_text ? "?debug=1" : "", r->name);
    }
    pprofd__strbuf_printf(b, "</table>\n<a href=\"threads?debug=2\">full thread stack dump</a>\n<br>\n"
                  "<p>\nProfile Descriptions:\n<ul>\n");
    for (size_t i = 0; i < v->nrows; i++)
        pprofd__strbuf_printf(b, "<li><div class=profile-name>%s: </div> %s</li>\n", v->rows[i].name,
                  v->rows[i].description);
    if (v->heap_unsampled)
        pprofd__strbuf_printf(b, "<p><b>%s</b></p>\n", v->heap_unsampled);
    pprofd__strbuf_printf(b, "<p>Contention profiling does not exist in pprofd yet: mutex and block "
                  "answer valid profiles with no samples.</p>\n");
    const pprofd__heap_stats *hs = &v->heap;
    pprofd__strbuf_printf(b,
              "</ul>\n</p>\n<p>pprofd %s: heap sampling every %ld bytes on average; "
              "%zu sampled objects live; sampler memory %zu bytes of a %zu-byte cap; "
              "%llu samples dropped%s; symbol cache %zu bytes.</p>\n</body>\n</html>\n",
              PPROFD_VERSION, v->heap_rate, hs->live_objects, hs->memory, hs->cap,
              (unsigned long long)hs->dropped,
              hs->dropped ? " (memory cap reached: heap profiles show them as [lost]; raise "
                           "PPROFD_MEM_CAP)"
                         : "",
              v->symbol_memory);
}
