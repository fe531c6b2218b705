/*
 * text/threads — debug=1 of the count profiles (threads, goroutine,
 * threadcreate: one block per distinct stack with its count, as Go's count
 * profiles print) and debug=2 of threads (every thread with its tid, name,
 * state, CPU time and frames, as Go's goroutine dump). See text.h.
 */
#include <stdlib.h>

#include "server/symbolize/symbols.h"
#include "server/text/text.h"

/* A JSON-ish string for labels and names: names come from the host and may
 * hold quotes or control bytes. */
static void tb_quoted(pprofd__strbuf *b, const char *s)
{
    pprofd__strbuf_printf(b, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            pprofd__strbuf_printf(b, "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            pprofd__strbuf_printf(b, "\\x%02x", c);
        else
            pprofd__strbuf_printf(b, "%c", c);
    }
    pprofd__strbuf_printf(b, "\"");
}

/* ---- debug=1 ---- */

/* One "#\t0xPC\tfunction\tfile:line" per frame, inlined ones included. */
static void print_count_frame(uintptr_t pc, const pprofd__frame *frames, int n, void *arg)
{
    pprofd__strbuf *b = arg;
    if (n == 0) {
        pprofd__strbuf_printf(b, "#\t%#lx\t?\n", (unsigned long)pc);
        return;
    }
    for (int i = 0; i < n; i++) {
        pprofd__strbuf_printf(b, "#\t%#lx\t%s", (unsigned long)pc, frames[i].name);
        if (frames[i].file[0])
            pprofd__strbuf_printf(b, "\t%s:%lld", frames[i].file, (long long)frames[i].line);
        pprofd__strbuf_printf(b, "\n");
    }
}

static int by_count_descending(const void *a, const void *b)
{
    const pprofd__stack_record *x = a, *y = b;
    return x->c[0] < y->c[0] ? 1 : x->c[0] > y->c[0] ? -1 : 0;
}

void pprofd__text_counts(pprofd__strbuf *b, const char *name, pprofd__stack_snapshot *s)
{
    int64_t total = 0;
    for (size_t i = 0; i < s->len; i++)
        total += s->recs[i].c[0];
    if (s->len > 1)
        qsort(s->recs, s->len, sizeof *s->recs, by_count_descending);
    s->sorted = 0;
    pprofd__strbuf_printf(b, "%s profile: total %lld\n", name, (long long)total);
    for (size_t i = 0; i < s->len && !b->failed; i++) {
        const pprofd__stack_record *e = &s->recs[i];
        int server = pprofd__count_tag_server(e->tag);
        pid_t no_answer_tid = pprofd__count_tag_tid(e->tag);
        pprofd__strbuf_printf(b, "%lld @", (long long)e->c[0]);
        for (uint32_t j = 0; j < e->depth; j++)
            pprofd__strbuf_printf(b, " %#lx", (unsigned long)e->pcs[j]);
        pprofd__strbuf_printf(b, "\n");
        if (e->name || server || e->note) {
            const char *sep = "";
            pprofd__strbuf_printf(b, "# labels: {");
            if (e->name) {
                pprofd__strbuf_printf(b, "\"thread\":");
                tb_quoted(b, e->name);
                sep = ", ";
            }
            if (server) {
                pprofd__strbuf_printf(b, "%s\"pprofd\":\"server\"", sep);
                sep = ", ";
            }
            if (e->note) {
                pprofd__strbuf_printf(b, "%s\"tid\":%d, \"reason\":", sep, (int)no_answer_tid);
                tb_quoted(b, e->note);
            }
            pprofd__strbuf_printf(b, "}\n");
        }
        if (e->note)
            pprofd__strbuf_printf(b, "#\t%s\tthread %d: %s\n", PPROFD_NO_ANSWER_FRAME,
                      (int)no_answer_tid, e->note);
        for (uint32_t j = 0; j < e->depth; j++)
            pprofd__symbolize(e->pcs[j], print_count_frame, b);
        pprofd__strbuf_printf(b, "\n");
    }
}

/* ---- debug=2 ---- */

static const char *state_name(char state)
{
    switch (state) {
    case 'R': return "R (running)";
    case 'S': return "S (sleeping)";
    case 'D': return "D (disk sleep)";
    case 'T': return "T (stopped)";
    case 't': return "t (tracing stop)";
    case 'Z': return "Z (zombie)";
    case 'X': return "X (dead)";
    case 'I': return "I (idle)";
    default: return "? (unknown)";
    }
}

/* Go prints "function(...)\n\tfile:line +0xoff"; we have no arguments and
 * print the address instead of the offset. */
static void print_dump_frame(uintptr_t pc, const pprofd__frame *frames, int n, void *arg)
{
    pprofd__strbuf *b = arg;
    if (n == 0) {
        pprofd__strbuf_printf(b, "?()\n\t? pc=%#lx\n", (unsigned long)pc);
        return;
    }
    for (int i = 0; i < n; i++) {
        pprofd__strbuf_printf(b, "%s()%s\n\t", frames[i].name, i + 1 < n ? " (inlined)" : "");
        if (frames[i].file[0])
            pprofd__strbuf_printf(b, "%s:%lld", frames[i].file, (long long)frames[i].line);
        else
            pprofd__strbuf_printf(b, "?");
        pprofd__strbuf_printf(b, " pc=%#lx\n", (unsigned long)pc);
    }
}

void pprofd__text_thread_dump(pprofd__strbuf *b, const pprofd__thread_dump *dump)
{
    int silent = 0;
    for (int i = 0; i < dump->count; i++) {
        pprofd__dump_outcome o = dump->threads[i].outcome;
        silent += o != PPROFD_DUMP_ANSWERED && o != PPROFD_DUMP_SELF;
    }
    pprofd__strbuf_printf(b, "thread dump: %d threads, %d without an answer, captured in %.3f ms "
                  "(signal %d)\n\n",
              dump->count, silent, (double)dump->elapsed_ns / 1e6, dump->signal);
    for (int i = 0; i < dump->count && !b->failed; i++) {
        const pprofd__thread_snapshot *t = &dump->threads[i];
        pprofd__strbuf_printf(b, "thread %d ", (int)t->tid);
        tb_quoted(b, t->name);
        pprofd__strbuf_printf(b, "%s [%s, user %.2fs, system %.2fs]:\n", t->server ? " (pprofd server)" : "",
                  state_name(t->state), (double)t->user_ns / 1e9, (double)t->system_ns / 1e9);
        if (t->outcome != PPROFD_DUMP_ANSWERED && t->outcome != PPROFD_DUMP_SELF)
            pprofd__strbuf_printf(b, "%s: %s\n", PPROFD_NO_ANSWER_FRAME,
                      pprofd__dump_outcome_text(t->outcome));
        for (int j = 0; j < t->depth; j++)
            pprofd__symbolize(t->pcs[j], print_dump_frame, b);
        pprofd__strbuf_printf(b, "\n");
    }
}
