/*
 * text — every human-readable answer: the index page (index.c), the
 * debug=1 forms (heap.c for heap and allocs, threads.c for the count
 * profiles) and the debug=2 thread dump (threads.c). Each writer appends to
 * a strbuf and knows nothing of HTTP: the endpoint answers what was
 * written (pprofd__respond_strbuf), so writers can be tested and fuzzed on
 * their own. Server threads only; frames are named through the shared
 * symbolizer (server/symbolize), which takes its own lock per address.
 *
 * The whole picture (contexts, lock order, fork): docs/design.md.
 */
#ifndef PPROFD_TEXT_H
#define PPROFD_TEXT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sampler/heap.h"
#include "sampler/stacktab.h"
#include "sampler/threaddump.h"
#include "server/text/strbuf.h"

/* Synthetic leaf frame of a thread that gave no stack. */
#define PPROFD_NO_ANSWER_FRAME "[no answer]"

/*
 * Count profiles (threads, goroutine, threadcreate) are snapshots
 * (sampler/stacktab.h) whose records mean: c[0] the count; name the thread
 * name (label "thread"), or NULL; note, for a thread that gave no stack,
 * why (it then sits under PPROFD_NO_ANSWER_FRAME with labels "tid" and
 * "reason"); tag, which keeps threads without an answer apart and pprofd's
 * own threads apart from the host's, made by pprofd__count_tag.
 */
static inline int64_t pprofd__count_tag(pid_t no_answer_tid, int server)
{
    return (int64_t)no_answer_tid * 2 + (server ? 1 : 0);
}
static inline pid_t pprofd__count_tag_tid(int64_t tag)
{
    return (pid_t)(tag / 2);
}
static inline int pprofd__count_tag_server(int64_t tag)
{
    return (int)(tag & 1);
}

/* debug=1 of a count profile: "<name> profile: total N", then one block
 * per record, biggest count first (s is reordered), frames with function
 * and file:line. */
void pprofd__text_counts(pprofd__strbuf *b, const char *name, pprofd__stack_snapshot *s);

/* debug=2: every thread of the dump: tid, name, state, CPU time, frames. */
void pprofd__text_thread_dump(pprofd__strbuf *b, const pprofd__thread_dump *dump);

/* heap and allocs, debug=1: the legacy text heap profile of the heap
 * snapshot s (records reordered), estimated counts under gperftools'
 * "@ heapprofile" header, which tells readers there is nothing to unsample. */
void pprofd__text_heap(pprofd__strbuf *b, pprofd__stack_snapshot *s, long rate,
                       const pprofd__heap_stats *stats);

/* The index page. */
typedef struct pprofd__index_row {
    const char *name, *description;
    int has_count;
    long count;
    int has_text; /* a debug=1 form exists: link to it */
} pprofd__index_row;

typedef struct pprofd__index_view {
    const pprofd__index_row *rows;
    size_t nrows;
    long heap_rate;
    pprofd__heap_stats heap;
    size_t symbol_memory;
    const char *heap_unsampled; /* why no allocation is sampled, or NULL */
} pprofd__index_view;

void pprofd__text_index(pprofd__strbuf *b, const pprofd__index_view *v);

#endif
